//! The hub's figures, for `/metrics`: counted by the actor, registered by the handle.

use server_core::metrics::{Counter, Gauge, Registry};

#[derive(Default)]
pub(super) struct HubMetrics {
    pub(super) topics: Gauge,
    pub(super) topics_opened: Counter,
    pub(super) subscribers: Gauge,
    pub(super) events: Counter,
    pub(super) deliveries: Counter,
    pub(super) duplicates: Counter,
    pub(super) backfills: Counter,
    pub(super) lagged: Counter,
}

impl HubMetrics {
    pub(super) fn register(&self, registry: &mut Registry) {
        let gauges = [
            (
                "chat_hub_topics",
                "Bus topics this receiver holds",
                &self.topics,
            ),
            (
                "chat_hub_subscribers",
                "Local subscribers of those topics",
                &self.subscribers,
            ),
        ];
        for (name, help, gauge) in gauges {
            registry.register(name, help, gauge.clone());
        }
        let counters = [
            (
                "chat_hub_topics_opened",
                "Bus topics subscribed to (each a SUBSCRIBE, and an UNSUBSCRIBE later)",
                &self.topics_opened,
            ),
            (
                "chat_hub_events",
                "Events received from the bus (decoded once each)",
                &self.events,
            ),
            (
                "chat_hub_deliveries",
                "Events handed to local subscribers",
                &self.deliveries,
            ),
            (
                "chat_hub_duplicates",
                "Messages dropped as already delivered",
                &self.duplicates,
            ),
            (
                "chat_hub_backfills",
                "Catch-ups read from the database (gaps, reconnects, log-tail checks)",
                &self.backfills,
            ),
            (
                "chat_hub_lagged",
                "Subscribers cut off for not keeping up",
                &self.lagged,
            ),
        ];
        for (name, help, counter) in counters {
            registry.register(name, help, counter.clone());
        }
    }
}
