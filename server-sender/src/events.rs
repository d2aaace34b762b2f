//! The events of each write, published after its transaction commits.

use std::collections::HashMap;
use std::sync::Arc;

use chat_bus::Bus;
use chat_store::{Store, StoredMessage, WrittenBatch};
use chat_types::{BusEvent, ChatId, Event, Message, Topic, UserId};
use server_core::ApiError;

fn publish(bus: &Bus, topic: Topic, event: Event) {
    bus.publish(&topic, &BusEvent::new(event));
}

/// A batch of sends: each new message on its chat; per participant, the newest message
/// of each chat with their unread count after it; the senders' moved watermarks. A
/// retry publishes its message again (receivers drop what they have seen), in case the
/// first attempt's events were lost with the instance that wrote it.
pub(crate) fn messages_written(bus: &Bus, written: &WrittenBatch) {
    let mut newest: HashMap<ChatId, &Arc<Message>> = HashMap::new();
    for outcome in &written.outcomes {
        match outcome {
            StoredMessage::Created(message) => {
                publish(
                    bus,
                    Topic::Chat(message.chat_id),
                    Event::MessageAdded(message.clone()),
                );
                newest
                    .entry(message.chat_id)
                    .and_modify(|m| {
                        if message.seq > m.seq {
                            *m = message;
                        }
                    })
                    .or_insert(message);
            }
            StoredMessage::Existing(message) => {
                publish(
                    bus,
                    Topic::Chat(message.chat_id),
                    Event::MessageAdded(message.clone()),
                );
            }
            StoredMessage::NotParticipant
            | StoredMessage::ChatNotFound
            | StoredMessage::ClientIdReused
            | StoredMessage::FilesTaken => {}
        }
    }
    for read in &written.reads {
        publish(
            bus,
            Topic::Chat(read.chat_id),
            Event::ReadUpdated(read.clone()),
        );
    }
    for (user, message) in mentioned(written) {
        publish(bus, Topic::User(user), Event::Mentioned(message.clone()));
    }
    for unread in &written.unread {
        if let Some(message) = newest.get(&unread.chat_id) {
            publish(
                bus,
                Topic::User(unread.user_id),
                Event::ChatMessageNotification {
                    message: Arc::clone(message),
                    unread: unread.clone(),
                },
            );
        }
    }
}

/// Who each new message of the batch mentions: the members it names, and with `@all`
/// everyone else in the chat (the batch's unread counts list them); each once.
fn mentioned(written: &WrittenBatch) -> Vec<(UserId, &Arc<Message>)> {
    let mut to = Vec::new();
    for outcome in &written.outcomes {
        let StoredMessage::Created(message) = outcome else {
            continue;
        };
        let mut users: Vec<UserId> = message.mentions.iter().map(|m| m.user_id).collect();
        if message.mentions_all {
            users.extend(
                written
                    .unread
                    .iter()
                    .filter(|u| u.chat_id == message.chat_id && u.user_id != message.sender_id)
                    .map(|u| u.user_id),
            );
        }
        users.sort();
        users.dedup();
        to.extend(users.into_iter().map(|user| (user, message)));
    }
    to
}

/// How a chat changed for the people it is sent to.
#[derive(Clone, Copy)]
pub(crate) enum ChatChange {
    Added,
    Updated,
}

/// Tells each of `to`, on their user topic, that the chat changed for them. The event
/// names the chat only: a group of a thousand once sent its whole member list to each
/// of them; the receivers read the chat for whoever is connected.
pub(crate) fn chat_to_users(bus: &Bus, chat: ChatId, to: &[UserId], change: ChatChange) {
    for user in to {
        let event = match change {
            ChatChange::Added => Event::ChatAdded { chat_id: chat },
            ChatChange::Updated => Event::ChatUpdated { chat_id: chat },
        };
        publish(bus, Topic::User(*user), event);
    }
}

/// Changes logged in the chat (`event_seqs`, as the write returned them), to its topic,
/// read back from the log: what subscribers get is what a replay gives them.
pub(crate) async fn chat_changed(
    bus: &Bus,
    store: &Store,
    chat: ChatId,
    event_seqs: &[i64],
) -> Result<(), ApiError> {
    let (Some(first), Some(last)) = (event_seqs.iter().min(), event_seqs.iter().max()) else {
        return Ok(());
    };
    for event in store
        .chat_events_after(chat, first - 1, last - first + 1)
        .await?
    {
        publish(bus, Topic::Chat(chat), Event::ChatChanged(Arc::new(event)));
    }
    Ok(())
}

/// Publishes on a chat's topic.
pub(crate) fn on_chat(bus: &Bus, chat: ChatId, event: Event) {
    publish(bus, Topic::Chat(chat), event);
}

/// Publishes on a user's topic.
pub(crate) fn on_user(bus: &Bus, user: UserId, event: Event) {
    publish(bus, Topic::User(user), event);
}
