//! Printing results: a readable table, and JSON for keeping.

use serde::Serialize;

/// Prints `rows` as aligned `name  value` lines under a title.
pub fn table(title: &str, rows: &[(&str, String)]) {
    println!("\n{title}");
    let width = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    for (key, value) in rows {
        println!("  {key:<width$}  {value}");
    }
}

/// Writes the report as JSON to `path` (and says so).
pub fn save_json(path: Option<&std::path::Path>, report: &impl Serialize) -> anyhow::Result<()> {
    if let Some(path) = path {
        std::fs::write(path, serde_json::to_string_pretty(report)?)?;
        println!("\nsaved {}", path.display());
    }
    Ok(())
}

pub fn ms(value: f64) -> String {
    format!("{value:.2} ms")
}
