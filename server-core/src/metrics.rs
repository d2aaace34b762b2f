//! Figures for `/metrics`, in the Prometheus text format.
//!
//! Plain atomics, no registry: each service keeps one [`Metrics`] and may add its own
//! figures through a [`MetricsSource`].

use std::fmt::Write;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use chat_types::ErrorCode;

/// Something that adds its own lines to `/metrics`.
pub trait MetricsSource: Send + Sync {
    fn render(&self, out: &mut String);
}

/// The figures every service keeps.
#[derive(Default)]
pub struct Metrics {
    /// HTTP responses by status class: 1xx … 5xx.
    http_responses: [AtomicU64; 5],
    operations: [AtomicU64; 3],
    errors: [AtomicU64; ErrorCode::ALL.len()],
    pub ws_connections: AtomicI64,
    pub subscriptions: AtomicI64,
    /// Checks of the database and the bus made for `/readyz`.
    pub readiness_checks: AtomicU64,
    sources: Mutex<Vec<Arc<dyn MetricsSource>>>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

/// The kinds of GraphQL operation, for counting.
#[derive(Clone, Copy, Debug)]
pub enum OperationKind {
    Query = 0,
    Mutation = 1,
    Subscription = 2,
}

impl Metrics {
    pub fn add_source(&self, source: Arc<dyn MetricsSource>) {
        self.sources.lock().expect("metrics lock").push(source);
    }

    pub fn count_response(&self, status: u16) {
        let class = (status / 100).clamp(1, 5) as usize - 1;
        self.http_responses[class].fetch_add(1, Ordering::Relaxed);
    }

    pub fn count_operation(&self, kind: OperationKind) {
        self.operations[kind as usize].fetch_add(1, Ordering::Relaxed);
    }

    pub fn count_error(&self, code: ErrorCode) {
        if let Some(i) = ErrorCode::ALL.iter().position(|c| *c == code) {
            self.errors[i].fetch_add(1, Ordering::Relaxed);
        }
    }

    pub fn render(&self) -> String {
        let mut out = String::with_capacity(4096);
        header(
            &mut out,
            "chat_http_responses_total",
            "HTTP responses by status class.",
            "counter",
        );
        for (i, n) in self.http_responses.iter().enumerate() {
            let _ = writeln!(
                out,
                "chat_http_responses_total{{class=\"{}xx\"}} {}",
                i + 1,
                n.load(Ordering::Relaxed)
            );
        }
        header(
            &mut out,
            "chat_graphql_operations_total",
            "GraphQL operations by kind.",
            "counter",
        );
        for (kind, n) in ["query", "mutation", "subscription"]
            .iter()
            .zip(&self.operations)
        {
            let _ = writeln!(
                out,
                "chat_graphql_operations_total{{kind=\"{kind}\"}} {}",
                n.load(Ordering::Relaxed)
            );
        }
        header(
            &mut out,
            "chat_graphql_errors_total",
            "GraphQL errors by code.",
            "counter",
        );
        for (code, n) in ErrorCode::ALL.iter().zip(&self.errors) {
            let _ = writeln!(
                out,
                "chat_graphql_errors_total{{code=\"{code}\"}} {}",
                n.load(Ordering::Relaxed)
            );
        }
        gauge(
            &mut out,
            "chat_ws_connections",
            "Open WebSocket connections.",
            self.ws_connections.load(Ordering::Relaxed),
        );
        gauge(
            &mut out,
            "chat_subscriptions",
            "Active GraphQL subscriptions.",
            self.subscriptions.load(Ordering::Relaxed),
        );
        counter(
            &mut out,
            "chat_readiness_checks_total",
            "Database and bus checks made for /readyz (at most about one a second).",
            self.readiness_checks.load(Ordering::Relaxed),
        );
        // Stable in tokio (no `tokio_unstable` needed): a task leak shows here long before
        // it shows in memory. It counts the whole process (every instance of `chat up`).
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            gauge(
                &mut out,
                "chat_tokio_tasks",
                "Tokio tasks alive in this process.",
                runtime.metrics().num_alive_tasks(),
            );
        }
        let sources = self.sources.lock().expect("metrics lock").clone();
        for source in sources {
            source.render(&mut out);
        }
        out
    }
}

fn header(out: &mut String, name: &str, help: &str, kind: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

/// Writes one counter.
pub fn counter(out: &mut String, name: &str, help: &str, value: u64) {
    header(out, name, help, "counter");
    let _ = writeln!(out, "{name} {value}");
}

/// Writes one gauge.
pub fn gauge(out: &mut String, name: &str, help: &str, value: impl std::fmt::Display) {
    header(out, name, help, "gauge");
    let _ = writeln!(out, "{name} {value}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_prometheus_text() {
        let metrics = Metrics::default();
        metrics.count_response(200);
        metrics.count_response(413);
        metrics.count_error(ErrorCode::Forbidden);
        let text = metrics.render();
        assert!(text.contains("chat_http_responses_total{class=\"2xx\"} 1"));
        assert!(text.contains("chat_http_responses_total{class=\"4xx\"} 1"));
        assert!(text.contains("chat_graphql_errors_total{code=\"FORBIDDEN\"} 1"));
        assert!(text.contains("# TYPE chat_ws_connections gauge"));
    }

    #[tokio::test]
    async fn counts_the_runtime_tasks() {
        let _task = tokio::spawn(std::future::pending::<()>());
        let text = Metrics::default().render();
        let tasks: usize = text
            .lines()
            .find_map(|l| l.strip_prefix("chat_tokio_tasks "))
            .expect("a chat_tokio_tasks line")
            .parse()
            .unwrap();
        assert!(tasks >= 1, "{text}");
    }
}
