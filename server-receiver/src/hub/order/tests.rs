//! [`ChatOrder`] driven by hand: events and reports in, effects out. No runtime, no
//! database, no clock (time is an `Instant` the test moves on).

use super::*;
use chat_types::{ChatEventKind, ChatId, TypingEvent, UserSummary};
use uuid::Uuid;

/// An effect, told briefly.
#[derive(Debug, PartialEq, Eq)]
enum Did {
    /// A message delivered, by seq.
    Message(i64),
    /// A logged change delivered, by eventSeq.
    Change(i64),
    /// A typing event delivered, by whose.
    Typing(UserId),
    Ended(UserId),
    Backfill {
        after: i64,
        up_to: i64,
        pause: Duration,
    },
    ReadLog {
        after: i64,
        pause: Duration,
    },
    Duplicate,
    Skipped {
        watermark: i64,
        next: i64,
    },
}

use Did::{Change, Duplicate, Ended, Message as Msg};

const NOW: Duration = Duration::ZERO;
const END: i64 = i64::MAX;

/// Everything the machine asks for, in order.
fn effects(order: &mut ChatOrder) -> Vec<Did> {
    std::iter::from_fn(|| order.poll_effect())
        .map(|effect| match effect {
            Effect::Deliver(event) => match &*event {
                Event::MessageAdded(m) => Did::Message(m.seq),
                Event::ChatChanged(c) => Did::Change(c.event_seq),
                Event::Typing(t) => Did::Typing(t.user_id),
                other => panic!("unexpected delivery {other:?}"),
            },
            Effect::EndStreams(user) => Did::Ended(user),
            Effect::Backfill {
                after,
                up_to,
                pause,
            } => Did::Backfill {
                after,
                up_to,
                pause,
            },
            Effect::ReadLog { after, pause } => Did::ReadLog { after, pause },
            Effect::Duplicate => Did::Duplicate,
            Effect::SkippedGap { watermark, next } => Did::Skipped { watermark, next },
        })
        .collect()
}

fn user() -> UserId {
    Uuid::now_v7().into()
}

fn stored(seq: i64, after_event_seq: i64) -> Message {
    Message {
        id: Uuid::now_v7().into(),
        chat_id: ChatId::from(Uuid::nil()),
        seq,
        sender_id: user(),
        content: format!("message {seq}"),
        client_id: None,
        created_at: chrono::Utc::now(),
        edited_at: None,
        deleted_at: None,
        after_event_seq,
        reply_to: None,
        reactions: Vec::new(),
        pinned_at: None,
        mentions: Vec::new(),
        mentions_all: false,
        attachments: Vec::new(),
    }
}

/// Message `seq`, written after no change.
fn message(seq: i64) -> Arc<Event> {
    message_after(seq, 0)
}

/// Message `seq`, written after change `after_event_seq`.
fn message_after(seq: i64, after_event_seq: i64) -> Arc<Event> {
    Arc::new(Event::MessageAdded(Arc::new(stored(seq, after_event_seq))))
}

fn logged(event_seq: i64, kind: ChatEventKind, subject: UserId) -> ChatEvent {
    let person = |id: UserId| UserSummary {
        id,
        username: "someone".into(),
        display_name: "Someone".into(),
    };
    ChatEvent {
        chat_id: ChatId::from(Uuid::nil()),
        event_seq,
        kind,
        actor: person(user()),
        subject: Some(person(subject)),
        name: None,
        emoji: None,
        after_seq: 0,
        at: chrono::Utc::now(),
        message: None,
    }
}

/// A rename (nobody leaves), logged as change `event_seq`.
fn renamed(event_seq: i64) -> ChatEvent {
    logged(event_seq, ChatEventKind::Renamed, user())
}

fn change(event: ChatEvent) -> Arc<Event> {
    Arc::new(Event::ChatChanged(Arc::new(event)))
}

fn typing(who: UserId) -> Arc<Event> {
    Arc::new(Event::Typing(TypingEvent {
        chat_id: ChatId::from(Uuid::nil()),
        user_id: who,
        display_name: "Someone".into(),
        at: chrono::Utc::now(),
    }))
}

fn ends(last_seq: i64, last_event_seq: i64) -> LogEnds {
    LogEnds {
        last_seq,
        last_event_seq,
    }
}

/// A topic the bus has confirmed, its logs ending at message `seq` and change
/// `event_seq`; with `at`, the clock's origin.
fn opened(seq: i64, event_seq: i64) -> (ChatOrder, Instant) {
    let at = Instant::now();
    let mut order = ChatOrder::default();
    order.on_open(ends(seq, event_seq), at);
    assert_eq!(effects(&mut order), []);
    (order, at)
}

fn read(messages: impl IntoIterator<Item = Message>) -> Result<Vec<Message>, ()> {
    Ok(messages.into_iter().collect())
}

#[test]
fn messages_in_order_go_straight_out() {
    let (mut order, now) = opened(5, 0);
    for seq in 6..=8 {
        order.on_event(message(seq), now);
    }
    assert_eq!(effects(&mut order), [Msg(6), Msg(7), Msg(8)]);
    assert_eq!(order.watermark(), 8);
}

#[test]
fn events_wait_until_the_bus_confirms_the_topic() {
    let now = Instant::now();
    let mut order = ChatOrder::default();
    order.on_event(message(4), now);
    order.on_event(change(renamed(3)), now);
    order.on_event(message(5), now);
    order.on_event(message(6), now);
    assert_eq!(effects(&mut order), []);
    assert!(!order.is_open());

    // The chat had reached message 4 and change 2 when it was confirmed.
    order.on_open(ends(4, 2), now);
    assert_eq!(effects(&mut order), [Duplicate, Change(3), Msg(5), Msg(6)]);
}

#[test]
fn a_gap_is_read_from_the_database_and_what_follows_it_waits() {
    let (mut order, now) = opened(5, 0);
    order.on_event(message(8), now);
    assert_eq!(
        effects(&mut order),
        [Did::Backfill {
            after: 5,
            up_to: 7,
            pause: NOW
        }]
    );
    assert!(order.is_backfilling());
    // Later messages wait behind the gap, in their order.
    order.on_event(message(9), now);
    assert_eq!(effects(&mut order), []);

    order.on_backfilled(read([stored(6, 0), stored(7, 0)]), now);
    assert_eq!(effects(&mut order), [Msg(6), Msg(7), Msg(8), Msg(9)]);
    assert!(!order.is_backfilling());
    assert_eq!(order.watermark(), 9);
}

#[test]
fn duplicates_are_dropped() {
    let (mut order, now) = opened(5, 2);
    order.on_event(message(5), now);
    order.on_event(message(6), now);
    order.on_event(message(6), now);
    order.on_event(change(renamed(2)), now);
    order.on_event(change(renamed(3)), now);
    order.on_event(change(renamed(3)), now);
    assert_eq!(
        effects(&mut order),
        [
            Duplicate,
            Msg(6),
            Duplicate,
            Duplicate,
            Change(3),
            Duplicate
        ]
    );

    // A backfill that reads more than the gap, or what came meanwhile, delivers each
    // message once.
    order.on_event(message(8), now);
    order.on_event(message(8), now);
    effects(&mut order);
    order.on_backfilled(read((6..=9).map(|seq| stored(seq, 0))), now);
    assert_eq!(
        effects(&mut order),
        [Msg(7), Msg(8), Msg(9), Duplicate, Duplicate]
    );
}

#[test]
fn a_message_written_after_a_change_not_yet_applied_waits_for_the_log() {
    let (mut order, now) = opened(0, 0);
    let goes = user();
    // Message 1 was written after change 1, which has not come: it waits, and so does
    // what follows it.
    order.on_event(message_after(1, 1), now);
    order.on_event(message_after(2, 1), now);
    assert_eq!(
        effects(&mut order),
        [Did::ReadLog {
            after: 0,
            pause: NOW
        }]
    );
    assert!(order.awaits_log());

    // The log says change 1 removed someone: they are gone before the message.
    order.on_log_read(Ok(vec![logged(1, ChatEventKind::Removed, goes)]), now);
    assert_eq!(
        effects(&mut order),
        [Ended(goes), Change(1), Msg(1), Msg(2)]
    );
    assert!(!order.awaits_log());
    assert!(!order.is_reading_log());
}

#[test]
fn changes_go_out_at_once_while_messages_wait() {
    let (mut order, now) = opened(5, 0);
    order.on_event(message(7), now);
    effects(&mut order);
    order.on_event(change(renamed(1)), now);
    assert_eq!(effects(&mut order), [Change(1)]);
    assert_eq!(order.event_watermark(), 1);
}

#[test]
fn a_change_past_a_gap_is_read_from_the_log_in_order() {
    let (mut order, now) = opened(0, 0);
    order.on_event(change(renamed(3)), now);
    assert_eq!(
        effects(&mut order),
        [Did::ReadLog {
            after: 0,
            pause: NOW
        }]
    );
    assert_eq!(order.event_watermark(), 0);
    // Another comes while the log is read: read again after it.
    order.on_event(change(renamed(4)), now);
    assert_eq!(effects(&mut order), []);

    order.on_log_read(Ok(vec![renamed(1), renamed(2), renamed(3)]), now);
    assert_eq!(
        effects(&mut order),
        [
            Change(1),
            Change(2),
            Change(3),
            Did::ReadLog {
                after: 3,
                pause: NOW
            }
        ]
    );
    order.on_log_read(Ok(vec![renamed(4)]), now);
    assert_eq!(effects(&mut order), [Change(4)]);
    assert!(!order.is_reading_log());
}

#[test]
fn a_departure_ends_the_streams_of_who_left_before_later_events() {
    let (mut order, now) = opened(3, 0);
    let (left, removed) = (user(), user());
    let mut leaving = logged(1, ChatEventKind::Left, left);
    leaving.actor.id = left;
    order.on_event(change(leaving), now);
    assert_eq!(effects(&mut order), [Ended(left), Change(1)]);

    order.on_event(change(logged(2, ChatEventKind::Removed, removed)), now);
    order.on_event(message_after(4, 2), now);
    assert_eq!(effects(&mut order), [Ended(removed), Change(2), Msg(4)]);
}

#[test]
fn a_lost_change_is_found_by_the_log_tail_check() {
    let (mut order, now) = opened(0, 2);
    // The log ends at 3; change 3 may still be on its way.
    assert_eq!(order.on_tail(ends(0, 3)), CatchUp::default());
    assert_eq!(effects(&mut order), []);
    // A check later it has not come: the log is read.
    let found = order.on_tail(ends(0, 3));
    assert!(found.changes && !found.messages);
    assert_eq!(
        effects(&mut order),
        [Did::ReadLog {
            after: 2,
            pause: NOW
        }]
    );
    order.on_log_read(Ok(vec![renamed(3)]), now);
    assert_eq!(effects(&mut order), [Change(3)]);
}

#[test]
fn a_lost_message_is_found_by_the_log_tail_check_and_read_to_the_end() {
    let (mut order, now) = opened(5, 0);
    order.on_tail(ends(7, 0));
    assert_eq!(effects(&mut order), []);
    let found = order.on_tail(ends(7, 0));
    assert!(found.messages && !found.changes);
    assert_eq!(
        effects(&mut order),
        [Did::Backfill {
            after: 5,
            up_to: END,
            pause: NOW
        }]
    );
    order.on_backfilled(read([stored(6, 0), stored(7, 0)]), now);
    assert_eq!(effects(&mut order), [Msg(6), Msg(7)]);
}

#[test]
fn a_chat_whose_events_keep_coming_late_is_left_to_the_bus() {
    let (mut order, now) = opened(5, 0);
    order.on_tail(ends(10, 0));
    for seq in 6..=8 {
        order.on_event(message(seq), now);
    }
    effects(&mut order);
    assert_eq!(order.on_tail(ends(15, 0)), CatchUp::default());
    assert_eq!(effects(&mut order), []);
    // Nothing more comes for a whole check: now it is read.
    assert!(order.on_tail(ends(15, 0)).messages);
    assert!(order.is_backfilling());
}

#[test]
fn a_failed_backfill_is_tried_again_after_a_pause() {
    let (mut order, now) = opened(5, 0);
    order.on_event(message(8), now);
    effects(&mut order);
    order.on_backfilled(Err(()), now);
    assert_eq!(
        effects(&mut order),
        [Did::Backfill {
            after: 5,
            up_to: 7,
            pause: RETRY_PAUSE
        }]
    );
    assert!(order.is_backfilling());
    order.on_backfilled(read([stored(6, 0), stored(7, 0)]), now);
    assert_eq!(effects(&mut order), [Msg(6), Msg(7), Msg(8)]);
}

#[test]
fn a_failed_log_read_is_tried_again_only_while_messages_wait_for_it() {
    let (mut order, now) = opened(0, 0);
    // Nothing waits for this read: a failure is left to the next log-tail check.
    order.on_event(change(renamed(2)), now);
    effects(&mut order);
    order.on_log_read(Err(()), now);
    assert_eq!(effects(&mut order), []);
    assert!(!order.is_reading_log());

    // A message waits for this one: it is tried again after a pause.
    order.on_event(message_after(1, 1), now);
    effects(&mut order);
    order.on_log_read(Err(()), now);
    assert_eq!(
        effects(&mut order),
        [Did::ReadLog {
            after: 0,
            pause: RETRY_PAUSE
        }]
    );
    assert!(order.awaits_log());
    order.on_log_read(Ok(vec![renamed(1)]), now);
    assert_eq!(effects(&mut order), [Change(1), Msg(1)]);
}

#[test]
fn a_reconnect_during_a_backfill_reads_to_the_end_after_it() {
    let (mut order, now) = opened(5, 1);
    order.on_event(message(8), now);
    effects(&mut order);
    order.on_reconnect();
    // The log is read again at once; the messages after the running backfill.
    assert_eq!(
        effects(&mut order),
        [Did::ReadLog {
            after: 1,
            pause: NOW
        }]
    );
    order.on_log_read(Ok(Vec::new()), now);
    order.on_backfilled(read([stored(6, 0), stored(7, 0)]), now);
    assert_eq!(
        effects(&mut order),
        [
            Msg(6),
            Msg(7),
            Did::Backfill {
                after: 7,
                up_to: END,
                pause: NOW
            }
        ]
    );
    // Message 8 still waits: the catch-up to the end brings it (and what the bus lost).
    order.on_backfilled(read((8..=10).map(|seq| stored(seq, 0))), now);
    assert_eq!(effects(&mut order), [Msg(8), Msg(9), Msg(10), Duplicate]);
}

#[test]
fn a_reconnect_reads_messages_and_log_to_the_end() {
    let (mut order, _) = opened(5, 1);
    order.on_reconnect();
    assert_eq!(
        effects(&mut order),
        [
            Did::Backfill {
                after: 5,
                up_to: END,
                pause: NOW
            },
            Did::ReadLog {
                after: 1,
                pause: NOW
            }
        ]
    );
}

#[test]
fn a_gap_the_database_cannot_fill_is_skipped_not_waited_on() {
    let (mut order, now) = opened(5, 0);
    order.on_event(message(9), now);
    effects(&mut order);
    // The database has 6 only: 7 and 8 were never written.
    order.on_backfilled(read([stored(6, 0)]), now);
    assert_eq!(
        effects(&mut order),
        [
            Msg(6),
            Did::Skipped {
                watermark: 6,
                next: 9
            },
            Msg(9)
        ]
    );
    assert!(!order.is_backfilling());
}

#[test]
fn a_backfilled_message_written_after_an_unapplied_change_waits_for_the_log() {
    let (mut order, now) = opened(5, 0);
    order.on_event(message_after(9, 1), now);
    effects(&mut order);
    // 6 and 7 are before the change; 8 is after it, and holds up 9 too.
    order.on_backfilled(read([stored(6, 0), stored(7, 0), stored(8, 1)]), now);
    assert_eq!(
        effects(&mut order),
        [
            Msg(6),
            Msg(7),
            Did::ReadLog {
                after: 0,
                pause: NOW
            }
        ]
    );
    assert!(order.awaits_log() && !order.is_backfilling());
    order.on_log_read(Ok(vec![renamed(1)]), now);
    assert_eq!(effects(&mut order), [Change(1), Msg(8), Msg(9)]);
}

#[test]
fn typing_passes_once_per_interval_per_person() {
    let (mut order, start) = opened(0, 0);
    let (ann, bob) = (user(), user());
    order.on_event(typing(ann), start);
    order.on_event(typing(bob), start);
    order.on_event(typing(ann), start + TYPING_INTERVAL / 2);
    order.on_event(typing(ann), start + TYPING_INTERVAL);
    assert_eq!(
        effects(&mut order),
        [Did::Typing(ann), Did::Typing(bob), Did::Typing(ann)]
    );
}
