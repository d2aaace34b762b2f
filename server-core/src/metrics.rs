//! Figures for `/metrics`, in the OpenMetrics text format (which Prometheus reads).
//!
//! One [`Metrics`] per instance, each with its own registry: six instances share a
//! process in the embedded default, and each answers for itself. Figures an instance
//! counts live in the library's counters and gauges; figures owned by something shared
//! (the bus, the database pool, the runtime) are read when scraped, by a [`Scraped`].

use std::sync::Mutex;

use chat_types::ErrorCode;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
pub use prometheus_client::metrics::counter::Counter;
pub use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
pub use prometheus_client::metrics::gauge::Gauge;
pub use prometheus_client::registry::Registry;

/// The content type of [`Metrics::render`]'s text.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Class {
    class: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Kind {
    kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Code {
    code: &'static str,
}

/// The figures every service keeps, and the registry services add their own to.
#[derive(Debug)]
pub struct Metrics {
    registry: Mutex<Registry>,
    http_responses: Family<Class, Counter>,
    operations: Family<Kind, Counter>,
    errors: Family<Code, Counter>,
    pub ws_connections: Gauge,
    pub subscriptions: Gauge,
    /// Checks of the database and the bus made for `/readyz`.
    pub readiness_checks: Counter,
}

/// The kinds of GraphQL operation, for counting.
#[derive(Clone, Copy, Debug)]
pub enum OperationKind {
    Query,
    Mutation,
    Subscription,
}

impl OperationKind {
    const ALL: [Self; 3] = [Self::Query, Self::Mutation, Self::Subscription];

    fn as_str(self) -> &'static str {
        match self {
            Self::Query => "query",
            Self::Mutation => "mutation",
            Self::Subscription => "subscription",
        }
    }
}

const HTTP_CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

impl Default for Metrics {
    fn default() -> Self {
        let metrics = Self {
            registry: Mutex::default(),
            http_responses: Family::default(),
            operations: Family::default(),
            errors: Family::default(),
            ws_connections: Gauge::default(),
            subscriptions: Gauge::default(),
            readiness_checks: Counter::default(),
        };
        // Every label appears from the start, at 0: a dashboard sees the series before
        // the first error of its kind.
        for class in HTTP_CLASSES {
            drop(metrics.http_responses.get_or_create(&Class { class }));
        }
        for kind in OperationKind::ALL {
            drop(metrics.operations.get_or_create(&Kind {
                kind: kind.as_str(),
            }));
        }
        for code in ErrorCode::ALL {
            drop(metrics.errors.get_or_create(&Code {
                code: code.as_str(),
            }));
        }
        metrics.register(|r| {
            r.register(
                "chat_http_responses",
                "HTTP responses by status class",
                metrics.http_responses.clone(),
            );
            r.register(
                "chat_graphql_operations",
                "GraphQL operations by kind",
                metrics.operations.clone(),
            );
            r.register(
                "chat_graphql_errors",
                "GraphQL errors by code",
                metrics.errors.clone(),
            );
            r.register(
                "chat_ws_connections",
                "Open WebSocket connections",
                metrics.ws_connections.clone(),
            );
            r.register(
                "chat_subscriptions",
                "Active GraphQL subscriptions",
                metrics.subscriptions.clone(),
            );
            r.register(
                "chat_readiness_checks",
                "Database and bus checks made for /readyz (at most about one a second)",
                metrics.readiness_checks.clone(),
            );
            // Stable in tokio (no `tokio_unstable` needed): a task leak shows here long
            // before it shows in memory. It counts the whole process (every instance of
            // `chat up`).
            r.register_collector(Box::new(Scraped::gauge(
                "chat_tokio_tasks",
                "Tokio tasks alive in this process",
                || {
                    tokio::runtime::Handle::try_current()
                        .map_or(0, |runtime| runtime.metrics().num_alive_tasks() as i64)
                },
            )));
        });
        metrics
    }
}

impl Metrics {
    /// Adds a service's own figures.
    pub fn register(&self, add: impl FnOnce(&mut Registry)) {
        add(&mut self.registry.lock().unwrap_or_else(|p| p.into_inner()));
    }

    pub fn count_response(&self, status: u16) {
        let class = HTTP_CLASSES[(status / 100).clamp(1, 5) as usize - 1];
        self.http_responses.get_or_create(&Class { class }).inc();
    }

    pub fn count_operation(&self, kind: OperationKind) {
        self.operations
            .get_or_create(&Kind {
                kind: kind.as_str(),
            })
            .inc();
    }

    pub fn count_error(&self, code: ErrorCode) {
        self.errors
            .get_or_create(&Code {
                code: code.as_str(),
            })
            .inc();
    }

    pub fn render(&self) -> String {
        let mut out = String::with_capacity(8192);
        let registry = self.registry.lock().unwrap_or_else(|p| p.into_inner());
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &registry);
        out
    }
}

/// A figure owned elsewhere, read at each scrape.
pub struct Scraped {
    name: &'static str,
    help: &'static str,
    read: Box<dyn Fn() -> i64 + Send + Sync>,
    counter: bool,
}

impl Scraped {
    /// A gauge: `read` gives its value now.
    pub fn gauge(
        name: &'static str,
        help: &'static str,
        read: impl Fn() -> i64 + Send + Sync + 'static,
    ) -> Self {
        let read = Box::new(read);
        Self {
            name,
            help,
            read,
            counter: false,
        }
    }

    /// A counter (`name` without `_total`): `read` gives its total so far.
    pub fn counter(
        name: &'static str,
        help: &'static str,
        read: impl Fn() -> u64 + Send + Sync + 'static,
    ) -> Self {
        Self {
            name,
            help,
            read: Box::new(move || read() as i64),
            counter: true,
        }
    }
}

impl std::fmt::Debug for Scraped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scraped").field("name", &self.name).finish()
    }
}

impl Collector for Scraped {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let value = (self.read)();
        if self.counter {
            let counter = ConstCounter::new(value.max(0) as u64);
            let metric =
                encoder.encode_descriptor(self.name, self.help, None, counter.metric_type())?;
            counter.encode(metric)
        } else {
            let gauge = ConstGauge::new(value);
            let metric =
                encoder.encode_descriptor(self.name, self.help, None, gauge.metric_type())?;
            gauge.encode(metric)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_openmetrics_text() {
        let metrics = Metrics::default();
        metrics.count_response(200);
        metrics.count_response(413);
        metrics.count_error(ErrorCode::Forbidden);
        let text = metrics.render();
        assert!(
            text.contains("chat_http_responses_total{class=\"2xx\"} 1"),
            "{text}"
        );
        assert!(text.contains("chat_http_responses_total{class=\"4xx\"} 1"));
        assert!(text.contains("chat_http_responses_total{class=\"5xx\"} 0"));
        assert!(text.contains("chat_graphql_errors_total{code=\"FORBIDDEN\"} 1"));
        assert!(text.contains("# TYPE chat_ws_connections gauge"));
        assert!(text.ends_with("# EOF\n"));
    }

    #[test]
    fn services_add_their_own_figures() {
        let metrics = Metrics::default();
        let written = Counter::<u64>::default();
        metrics.register(|r| r.register("chat_things_written", "Things", written.clone()));
        metrics.register(|r| {
            r.register_collector(Box::new(Scraped::counter("chat_read", "Read", || 7)))
        });
        written.inc_by(3);
        let text = metrics.render();
        assert!(
            text.contains("# TYPE chat_things_written counter"),
            "{text}"
        );
        assert!(text.contains("chat_things_written_total 3"), "{text}");
        assert!(text.contains("chat_read_total 7"), "{text}");
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
