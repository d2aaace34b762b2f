//! Encoding and decoding a bus event: every send encodes one per topic, and every
//! receiver decodes each once.

use std::sync::Arc;

use chat_types::{BusEvent, Event, Message};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use uuid::Uuid;

fn message_added() -> BusEvent {
    BusEvent::new(Event::MessageAdded(Arc::new(Message {
        id: Uuid::from_u128(1).into(),
        chat_id: Uuid::from_u128(2).into(),
        seq: 123_456,
        sender_id: Uuid::from_u128(3).into(),
        content: "Hello there! This is a message of ordinary length, about a line.".into(),
        client_id: Some(Uuid::from_u128(4).to_string()),
        created_at: chrono::DateTime::from_timestamp(1_790_000_000, 0).expect("in range"),
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

fn bench(c: &mut Criterion) {
    let event = message_added();
    let bytes = event.encode();
    let mut group = c.benchmark_group("bus_event");
    group.throughput(Throughput::Elements(1));
    group.bench_function("encode message_added", |b| b.iter(|| event.encode()));
    group.bench_function("decode message_added", |b| {
        b.iter(|| BusEvent::decode(&bytes).expect("decodes"))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
