//! The hub's fan-out: one chat event handed to every local subscriber of the chat.
//! Measures the hub alone (decode once, filter, queue per subscriber), not the
//! GraphQL and WebSocket work each delivery then costs.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chat_bus::Bus;
use chat_store::{PoolSize, Store};
use chat_types::{BusEvent, ChatId, Event, Message, Topic, UserId};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use server_receiver::hub::{Hub, Registration};
use server_receiver::kinds;
use uuid::Uuid;

fn message(chat: ChatId, seq: i64) -> BusEvent {
    BusEvent::new(Event::MessageAdded(Arc::new(Message {
        id: Uuid::now_v7().into(),
        chat_id: chat,
        seq,
        sender_id: Uuid::now_v7().into(),
        content: "Hello there! This is a message of ordinary length, about a line.".into(),
        client_id: None,
        created_at: chrono::Utc::now(),
        edited_at: None,
        deleted_at: None,
        after_event_seq: 0,
        reply_to: None,
        reactions: Vec::new(),
        pinned_at: None,
        mentions: Vec::new(),
        mentions_all: false,
        attachments: Vec::new(),
    })))
}

struct World {
    bus: Bus,
    chat: ChatId,
    subscribers: Vec<Registration>,
    seq: i64,
    _dir: tempfile::TempDir,
    _hub: Hub,
}

async fn world(subscribers: usize) -> World {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("bench.db").display());
    let store = Store::connect(&url, PoolSize::default())
        .await
        .expect("store");
    let bus = Bus::memory();
    let hub = Hub::start(store, &bus);
    let chat: ChatId = Uuid::now_v7().into();
    let mut registrations = Vec::with_capacity(subscribers);
    for _ in 0..subscribers {
        let user: UserId = Uuid::now_v7().into();
        let registration = hub
            .register(
                Topic::Chat(chat),
                user,
                kinds::filter::<kinds::MessageAdded>(),
            )
            .await
            .expect("register");
        registrations.push(registration);
    }
    World {
        bus,
        chat,
        subscribers: registrations,
        seq: 0,
        _dir: dir,
        _hub: hub,
    }
}

impl World {
    /// Publishes the chat's next message and waits until every subscriber has it.
    async fn one_event(&mut self) {
        self.seq += 1;
        self.bus
            .publish(&Topic::Chat(self.chat), &message(self.chat, self.seq));
        for subscriber in &mut self.subscribers {
            subscriber.events.recv().await.expect("delivered");
        }
    }
}

fn bench(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let mut group = c.benchmark_group("hub_fanout");
    group.measurement_time(Duration::from_secs(5));
    for subscribers in [1, 100, 1000] {
        let mut world = runtime.block_on(world(subscribers));
        group.throughput(Throughput::Elements(subscribers as u64));
        group.bench_function(BenchmarkId::new("message_added", subscribers), |b| {
            b.iter_custom(|iterations| {
                runtime.block_on(async {
                    let start = Instant::now();
                    for _ in 0..iterations {
                        world.one_event().await;
                    }
                    start.elapsed()
                })
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
