//! Setting up logs ([`init_tracing`]), and what no log may contain, whatever
//! `RUST_LOG` asks for: passwords, session tokens,
//! password hashes, the token secret (`stack/tests/secrets_in_logs.rs` checks it at
//! TRACE).
//!
//! Our own log calls never carry them. One dependency does: tungstenite logs every
//! WebSocket message it receives at TRACE, payload included (and every frame, as hex),
//! and a client's `connection_init` carries its session token. Its `log` records reach
//! our subscriber through the `log` bridge that `tracing-subscriber` installs.

use tracing_subscriber::EnvFilter;
use tracing_subscriber::filter::LevelFilter;

/// Log targets that would write secrets at TRACE; they are held at DEBUG.
pub const TRACE_WOULD_LEAK: [&str; 1] = ["tungstenite"];

/// `filter`, with [`TRACE_WOULD_LEAK`] held at DEBUG when it would let TRACE through.
/// (Only then: a quieter filter is left as it is.)
pub fn without_secrets(filter: EnvFilter) -> EnvFilter {
    if filter.max_level_hint() != Some(LevelFilter::TRACE) {
        return filter;
    }
    TRACE_WOULD_LEAK.iter().fold(filter, |filter, target| {
        filter.add_directive(
            format!("{target}=debug")
                .parse()
                .expect("a valid log directive"),
        )
    })
}

/// Sets up logging: `RUST_LOG` (default `info`), as text or JSON lines.
pub fn init_tracing(format: crate::config::LogFormat) {
    use tracing_subscriber::EnvFilter;
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn"));
    let builder =
        tracing_subscriber::fmt().with_env_filter(crate::logging::without_secrets(filter));
    let _ = match format {
        crate::config::LogFormat::Text => builder.try_init(),
        crate::config::LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trace_is_held_back_only_where_it_would_leak() {
        for asked in ["trace", "tungstenite=trace", "info,tungstenite=trace"] {
            let filter = without_secrets(EnvFilter::new(asked)).to_string();
            assert!(filter.contains("tungstenite=debug"), "{asked}: {filter}");
            assert!(!filter.contains("tungstenite=trace"), "{asked}: {filter}");
        }
        let quiet = without_secrets(EnvFilter::new("info,sqlx=warn")).to_string();
        assert!(!quiet.contains("tungstenite"), "{quiet}");
    }
}
