//! Printing results: a readable table, and JSON for keeping. Each mode's report says
//! its own title and rows; `publish` prints any of them the same way.

use serde::Serialize;

/// What every mode returns.
pub trait Report: Serialize {
    /// One line: what was measured, in what world.
    fn title(&self) -> String;
    /// `name  value` lines for the table.
    fn rows(&self) -> Vec<(String, String)>;
    /// Why the run failed its own checks, if it did (a soak's leak bounds).
    fn failure(&self) -> Option<String> {
        None
    }
}

/// Prints `report` as a table, writes it as JSON to `json` if given, and fails if the
/// report failed its checks.
pub fn publish(report: &impl Report, json: Option<&std::path::Path>) -> anyhow::Result<()> {
    let rows = report.rows();
    println!("\n{}", report.title());
    let width = rows
        .iter()
        .map(|(k, _)| k.chars().count())
        .max()
        .unwrap_or(0);
    for (key, value) in &rows {
        println!("  {key:<width$}  {value}");
    }
    if let Some(path) = json {
        std::fs::write(path, serde_json::to_string_pretty(report)?)?;
        println!("\nsaved {}", path.display());
    }
    match report.failure() {
        Some(why) => anyhow::bail!(why),
        None => Ok(()),
    }
}

/// A table row.
pub fn row(name: impl Into<String>, value: impl Into<String>) -> (String, String) {
    (name.into(), value.into())
}

pub fn ms(value: f64) -> String {
    format!("{value:.2} ms")
}

/// The verdict for a check, for the table.
pub fn verdict(ok: bool) -> &'static str {
    if ok { "ok" } else { "FAIL" }
}
