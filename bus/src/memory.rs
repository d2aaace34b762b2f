//! The in-process bus: topics routed to subscriptions inside one process.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use chat_types::Topic;
use tokio::sync::mpsc;

use crate::{BusMessage, BusMetrics, Subscription};

type Subscribers = HashMap<Topic, Vec<(u64, mpsc::UnboundedSender<BusMessage>)>>;

#[derive(Clone, Debug)]
pub struct MemoryBus {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    subscribers: Mutex<Subscribers>,
    next_id: std::sync::atomic::AtomicU64,
    metrics: Arc<BusMetrics>,
    presence: Mutex<crate::presence::Book>,
}

impl Default for MemoryBus {
    fn default() -> Self {
        Self {
            inner: Arc::new(Inner {
                subscribers: Mutex::default(),
                next_id: Default::default(),
                metrics: Arc::default(),
                presence: Mutex::default(),
            }),
        }
    }
}

impl MemoryBus {
    /// The presence book of this process (see [`crate::presence`]).
    pub(crate) fn presence(&self) -> std::sync::MutexGuard<'_, crate::presence::Book> {
        self.inner.presence.lock().expect("presence lock")
    }

    pub(super) fn publish(&self, topic: &Topic, payload: Bytes) {
        let subscribers = self.inner.subscribers.lock().expect("bus lock");
        if let Some(list) = subscribers.get(topic) {
            for (_, tx) in list {
                let _ = tx.send(BusMessage::Event {
                    topic: topic.clone(),
                    payload: payload.clone(),
                });
            }
        }
        BusMetrics::add(&self.inner.metrics.published, 1);
    }

    pub(super) fn subscribe(&self) -> (Subscription, mpsc::UnboundedReceiver<BusMessage>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let id = self
            .inner
            .next_id
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let subscription = MemorySubscription {
            bus: self.inner.clone(),
            id,
            tx,
        };
        (Subscription::Memory(subscription), rx)
    }

    pub(super) fn metrics(&self) -> &Arc<BusMetrics> {
        &self.inner.metrics
    }
}

#[derive(Debug)]
pub struct MemorySubscription {
    bus: Arc<Inner>,
    id: u64,
    tx: mpsc::UnboundedSender<BusMessage>,
}

impl MemorySubscription {
    pub(super) fn add(&self, topic: &Topic) {
        let mut subscribers = self.bus.subscribers.lock().expect("bus lock");
        let list = subscribers.entry(topic.clone()).or_default();
        if !list.iter().any(|(id, _)| *id == self.id) {
            list.push((self.id, self.tx.clone()));
        }
    }

    pub(super) fn remove(&self, topic: &Topic) {
        let mut subscribers = self.bus.subscribers.lock().expect("bus lock");
        if let Some(list) = subscribers.get_mut(topic) {
            list.retain(|(id, _)| *id != self.id);
            if list.is_empty() {
                subscribers.remove(topic);
            }
        }
    }
}

impl Drop for MemorySubscription {
    fn drop(&mut self) {
        let mut subscribers = self.bus.subscribers.lock().expect("bus lock");
        subscribers.retain(|_, list| {
            list.retain(|(id, _)| *id != self.id);
            !list.is_empty()
        });
    }
}
