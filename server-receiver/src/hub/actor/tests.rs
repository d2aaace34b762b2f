//! The actor driven by hand, on a SQLite store in a temporary directory: the test plays
//! its helper tasks' reports itself. The ordering rules alone are tested without a
//! database in `order/tests.rs`; these test what the actor adds: generations, the
//! log-tail check across chats, registrations ending.

use super::*;
use crate::kinds::{self, Kind};
use chat_store::PoolSize;
use chat_types::ChatEventKind;
use uuid::Uuid;

fn stored(chat: ChatId, seq: i64) -> Message {
    Message {
        id: Uuid::now_v7().into(),
        chat_id: chat,
        seq,
        sender_id: Uuid::now_v7().into(),
        content: format!("message {seq}"),
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
    }
}

fn added(chat: ChatId, seq: i64) -> Arc<Event> {
    Arc::new(Event::MessageAdded(Arc::new(stored(chat, seq))))
}

/// The commands registrations send the actor (the test keeps the channel open, as
/// the hub's handle does).
struct Commands {
    rx: mpsc::UnboundedReceiver<Command>,
    _tx: mpsc::UnboundedSender<Command>,
}

impl Commands {
    async fn recv(&mut self) -> Option<Command> {
        self.rx.recv().await
    }
}

/// An actor driven by hand: the test plays its helper tasks' reports itself.
async fn actor(dir: &tempfile::TempDir) -> (Actor, Commands) {
    let url = format!("sqlite://{}", dir.path().join("hub.db").display());
    let store = Store::connect(&url, PoolSize::default())
        .await
        .expect("store");
    let (subscription, _events) = Bus::memory().subscribe();
    let (commands, command_rx) = mpsc::unbounded_channel();
    let actor = Actor {
        store,
        subscription,
        topics: HashMap::default(),
        next_id: 0,
        generations: 0,
        checking_tails: false,
        commands: commands.downgrade(),
        reports: mpsc::unbounded_channel().0,
        metrics: Arc::default(),
    };
    let commands = Commands {
        rx: command_rx,
        _tx: commands,
    };
    (actor, commands)
}

/// Registers someone on the chat's topic and reports it ready at `watermark`.
async fn join(actor: &mut Actor, chat: ChatId, watermark: i64) -> Registration {
    let user = Uuid::now_v7().into();
    join_as::<kinds::MessageAdded>(actor, chat, user, watermark).await
}

/// Registers `user` for kind `K` on the chat's topic; reports it ready at
/// `watermark`, with no logged change yet.
async fn join_as<K: Kind>(
    actor: &mut Actor,
    chat: ChatId,
    user: UserId,
    watermark: i64,
) -> Registration {
    let (reply, answer) = oneshot::channel();
    actor.on_command(Command::Register {
        topic: Topic::Chat(chat),
        user,
        filter: kinds::filter::<K>(),
        reply,
    });
    let generation = actor.topics[&Topic::Chat(chat)].generation;
    actor.on_report(Report::Ready {
        topic: Topic::Chat(chat),
        generation,
        ends: Ok(ends(watermark)),
    });
    answer.await.expect("answered").expect("registered")
}

fn ends(last_seq: i64) -> LogEnds {
    LogEnds {
        last_seq,
        last_event_seq: 0,
    }
}

fn next_seq(registration: &mut Registration) -> Option<i64> {
    match &*registration.events.try_recv().ok()? {
        Event::MessageAdded(message) => Some(message.seq),
        _ => None,
    }
}

#[tokio::test]
async fn a_catch_up_of_an_earlier_opening_of_the_topic_changes_nothing() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (mut actor, mut commands) = actor(&dir).await;
    let chat: ChatId = Uuid::now_v7().into();
    let topic = Topic::Chat(chat);
    let first = join(&mut actor, chat, 5).await;
    // Seq 8 after 5: a catch-up of 6 and 7 starts for this opening.
    actor.on_event(&topic, added(chat, 8));
    let earlier = actor.topics[&topic].generation;
    assert!(actor.topics[&topic].order.is_backfilling());
    // Its only subscriber leaves, and the topic is opened again.
    drop(first);
    let unregister = commands.recv().await.expect("unregistered");
    actor.on_command(unregister);
    assert!(!actor.topics.contains_key(&topic));
    let mut second = join(&mut actor, chat, 5).await;
    assert_ne!(actor.topics[&topic].generation, earlier);

    // The earlier catch-up reports late, with more than it was asked for.
    actor.on_report(Report::Backfilled {
        chat,
        generation: earlier,
        messages: Ok((6..=20).map(|seq| stored(chat, seq)).collect()),
    });
    assert_eq!(actor.topics[&topic].order.watermark(), 5);
    assert_eq!(next_seq(&mut second), None);
    // The next message is delivered, not taken for one already sent.
    actor.on_event(&topic, added(chat, 6));
    assert_eq!(next_seq(&mut second), Some(6));
}

#[tokio::test]
async fn a_readiness_report_of_an_earlier_opening_is_ignored() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (mut actor, _commands) = actor(&dir).await;
    let chat: ChatId = Uuid::now_v7().into();
    let topic = Topic::Chat(chat);
    let _registration = join(&mut actor, chat, 3).await;
    let current = actor.topics[&topic].generation;
    actor.on_report(Report::Ready {
        topic: topic.clone(),
        generation: current - 1,
        ends: Ok(ends(40)),
    });
    assert_eq!(actor.topics[&topic].order.watermark(), 3);
}

#[tokio::test]
async fn only_a_chat_still_behind_the_previous_check_is_caught_up() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (mut actor, _commands) = actor(&dir).await;
    let (quiet, lost): (ChatId, ChatId) = (Uuid::now_v7().into(), Uuid::now_v7().into());
    let _on_quiet = join(&mut actor, quiet, 5).await;
    let _on_lost = join(&mut actor, lost, 5).await;
    // Both are at 7 in the database: the events may still be on their way.
    actor.on_tails(vec![(quiet, ends(7)), (lost, ends(7))]);
    assert!(!actor.topics[&Topic::Chat(quiet)].order.is_backfilling());
    assert!(!actor.topics[&Topic::Chat(lost)].order.is_backfilling());
    // One chat's events came; the other's did not, a check later.
    actor.on_event(&Topic::Chat(quiet), added(quiet, 6));
    actor.on_event(&Topic::Chat(quiet), added(quiet, 7));
    actor.on_tails(vec![(quiet, ends(7)), (lost, ends(7))]);
    assert!(!actor.topics[&Topic::Chat(quiet)].order.is_backfilling());
    assert!(actor.topics[&Topic::Chat(lost)].order.is_backfilling());
}

#[tokio::test]
async fn a_chat_whose_events_arrive_late_but_arrive_is_not_read_again() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (mut actor, _commands) = actor(&dir).await;
    let busy: ChatId = Uuid::now_v7().into();
    let _on_busy = join(&mut actor, busy, 5).await;
    actor.on_tails(vec![(busy, ends(10))]);
    // Under load the bus runs more than a check behind: by the next check only 6
    // to 8 have come, and the chat has reached 15.
    for seq in 6..=8 {
        actor.on_event(&Topic::Chat(busy), added(busy, seq));
    }
    actor.on_tails(vec![(busy, ends(15))]);
    assert!(
        !actor.topics[&Topic::Chat(busy)].order.is_backfilling(),
        "the bus is bringing them: reading them too only adds load"
    );
    // Nothing more comes for a whole check: now it is caught up.
    actor.on_tails(vec![(busy, ends(15))]);
    assert!(actor.topics[&Topic::Chat(busy)].order.is_backfilling());
}

fn change(chat: ChatId, event_seq: i64, kind: ChatEventKind, subject: UserId) -> Arc<Event> {
    Arc::new(Event::ChatChanged(Arc::new(logged(
        chat, event_seq, kind, subject,
    ))))
}

fn logged(chat: ChatId, event_seq: i64, kind: ChatEventKind, subject: UserId) -> ChatEvent {
    let person = |id: UserId| chat_types::UserSummary {
        id,
        username: "someone".into(),
        display_name: "Someone".into(),
    };
    ChatEvent {
        chat_id: chat,
        event_seq,
        kind,
        actor: person(Uuid::now_v7().into()),
        subject: Some(person(subject)),
        name: None,
        emoji: None,
        after_seq: 0,
        at: chrono::Utc::now(),
        message: None,
    }
}

#[tokio::test]
async fn a_change_past_a_gap_waits_for_the_log_and_a_removal_ends_the_removed_views() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (mut actor, _commands) = actor(&dir).await;
    let chat: ChatId = Uuid::now_v7().into();
    let topic = Topic::Chat(chat);
    let (stays, goes): (UserId, UserId) = (Uuid::now_v7().into(), Uuid::now_v7().into());
    let mut staying = join_as::<kinds::ChatChanged>(&mut actor, chat, stays, 0).await;
    let mut going = join_as::<kinds::MessageAdded>(&mut actor, chat, goes, 0).await;

    // Change 2 before change 1: it is not passed on; the log is read instead.
    actor.on_event(&topic, change(chat, 2, ChatEventKind::Renamed, stays));
    assert!(staying.events.try_recv().is_err());
    assert!(actor.topics[&topic].order.is_reading_log());
    assert_eq!(actor.topics[&topic].order.event_watermark(), 0);

    // Change 1 removes someone: their views end, the others get it.
    actor.on_event(&topic, change(chat, 1, ChatEventKind::Removed, goes));
    assert_eq!(going.end(), End::Removed);
    assert!(going.events.recv().await.is_none());
    assert!(
        matches!(&*staying.events.try_recv().unwrap(), Event::ChatChanged(c) if c.event_seq == 1)
    );
    // And once more, the same: a duplicate.
    actor.on_event(&topic, change(chat, 1, ChatEventKind::Removed, goes));
    assert!(staying.events.try_recv().is_err());
}

#[tokio::test]
async fn a_message_written_after_an_unapplied_change_waits_for_the_log() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (mut actor, _commands) = actor(&dir).await;
    let chat: ChatId = Uuid::now_v7().into();
    let topic = Topic::Chat(chat);
    let (stays, goes): (UserId, UserId) = (Uuid::now_v7().into(), Uuid::now_v7().into());
    let mut staying = join_as::<kinds::MessageAdded>(&mut actor, chat, stays, 0).await;
    let mut going = join_as::<kinds::MessageAdded>(&mut actor, chat, goes, 0).await;

    // Message 1 was written after change 1, which has not come: it waits.
    let mut message = stored(chat, 1);
    message.after_event_seq = 1;
    actor.on_event(&topic, Arc::new(Event::MessageAdded(Arc::new(message))));
    assert_eq!(next_seq(&mut staying), None);
    assert_eq!(next_seq(&mut going), None);
    assert!(actor.topics[&topic].order.awaits_log());

    // The log says change 1 removed someone: they are gone before the message.
    let removal = logged(chat, 1, ChatEventKind::Removed, goes);
    actor.on_report(Report::EventsRead {
        chat,
        generation: actor.topics[&topic].generation,
        events: Ok(vec![removal]),
    });
    assert_eq!(going.end(), End::Removed);
    assert_eq!(next_seq(&mut going), None);
    assert_eq!(next_seq(&mut staying), Some(1));
    assert!(!actor.topics[&topic].order.awaits_log());
}

#[tokio::test]
async fn a_registration_joins_where_the_hub_has_delivered_to() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (mut actor, _commands) = actor(&dir).await;
    let chat: ChatId = Uuid::now_v7().into();
    let topic = Topic::Chat(chat);
    let register = |actor: &mut Actor| {
        let (reply, answer) = oneshot::channel();
        actor.on_command(Command::Register {
            topic: topic.clone(),
            user: Uuid::now_v7().into(),
            filter: kinds::filter::<kinds::ChatChanged>(),
            reply,
        });
        answer
    };
    // The first joins as the topic opens: where the logs end.
    let first = register(&mut actor);
    actor.on_report(Report::Ready {
        topic: topic.clone(),
        generation: actor.topics[&topic].generation,
        ends: Ok(LogEnds {
            last_seq: 3,
            last_event_seq: 2,
        }),
    });
    let first = first.await.expect("answered").expect("registered");
    assert_eq!((first.watermark, first.event_watermark), (3, 2));

    // A later one joins where delivery has got to since.
    actor.on_event(&topic, added(chat, 4));
    let someone = Uuid::now_v7().into();
    actor.on_event(&topic, change(chat, 3, ChatEventKind::Renamed, someone));
    let second = register(&mut actor).await.expect("answered");
    let second = second.expect("registered");
    assert_eq!((second.watermark, second.event_watermark), (4, 3));
}
