//! A message's way out, in one place: it shows at once as pending; while the sender
//! cannot be reached it waits and goes out by itself when the connection is back;
//! if it is refused it shows why, with a retry button. Every attempt carries the same
//! clientId, so however often it is tried, it is stored once; and messages go out one
//! after another, in the order they were written.

use std::collections::VecDeque;
use std::time::Duration;

use chat_types::backoff::Backoff;
use chat_types::files::Attachment;
use chat_types::{ChatId, ErrorCode, Message, MessageId, Quote, UserId, ops};
use serde_json::json;

use crate::api::{ApiError, Client};
use crate::browser;
use crate::config::Service;
use crate::live::Live;
use crate::state::{ChatsStore, Delivery, Entry, LogState, edit_log};
use leptos::prelude::*;

/// Pauses between attempts: from half a second up to 8 s.
fn retry_backoff() -> Backoff {
    Backoff::new(Duration::from_millis(500), Duration::from_secs(8))
}
/// How often a waiting message checks whether the connection came back.
const TICK_MS: u32 = 200;

/// What sending needs from the page, and the open chat's messages waiting to go out.
#[derive(Clone)]
pub struct Outbox {
    pub client: Client,
    pub store: ChatsStore,
    pub live: Live,
    pub log: LogState,
    queue: StoredValue<VecDeque<Message>>,
    sending: StoredValue<bool>,
}

impl Outbox {
    pub fn new(client: Client, store: ChatsStore, live: Live, log: LogState) -> Self {
        Self {
            client,
            store,
            live,
            log,
            queue: StoredValue::new(VecDeque::new()),
            sending: StoredValue::new(false),
        }
    }

    /// Shows `content` (answering `reply_to`, if given, with `attachments`, uploaded
    /// already) as a pending message of `me` in `chat` and sends it.
    pub fn send(
        &self,
        chat: ChatId,
        me: UserId,
        content: String,
        reply_to: Option<Quote>,
        attachments: Vec<Attachment>,
    ) {
        let client_id = browser::new_client_id();
        let pending = Message {
            id: MessageId(uuid::Uuid::nil()),
            chat_id: chat,
            seq: 0,
            sender_id: me,
            content,
            client_id: Some(client_id),
            created_at: chrono::DateTime::from_timestamp_millis(browser::now_ms() as i64)
                .unwrap_or_default(),
            edited_at: None,
            deleted_at: None,
            after_event_seq: 0,
            reply_to,
            reactions: Vec::new(),
            pinned_at: None,
            mentions: Vec::new(),
            mentions_all: false,
            attachments,
        };
        edit_log(self.log, |log| {
            log.entries.push(Entry {
                message: pending.clone(),
                delivery: Delivery::Pending,
            });
        });
        self.enqueue(pending);
    }

    /// Sends a refused message again, with its clientId.
    pub fn retry(&self, message: Message) {
        if let Some(client_id) = &message.client_id {
            edit_log(self.log, |log| {
                log.set_delivery(client_id, Delivery::Pending)
            });
            self.enqueue(message);
        }
    }

    /// Puts a message at the end of the queue, and starts sending if nothing is.
    fn enqueue(&self, message: Message) {
        self.queue.update_value(|q| q.push_back(message));
        if self.sending.get_value() {
            return;
        }
        self.sending.set_value(true);
        let outbox = self.clone();
        leptos::task::spawn_local(async move {
            while let Some(message) = outbox.queue.try_update_value(VecDeque::pop_front).flatten() {
                outbox.deliver(message).await;
            }
            outbox.sending.try_set_value(false);
        });
    }

    /// Sends one message until it is stored or refused.
    async fn deliver(&self, message: Message) {
        let Some(client_id) = message.client_id.clone() else {
            return;
        };
        let variables = json!({ "input": {
            "chatId": message.chat_id,
            "content": message.content,
            "clientId": client_id,
            "replyTo": message.reply_to.as_ref().map(|q| q.message_id),
            "files": message.attachments.iter().map(|f| f.id).collect::<Vec<_>>(),
        }});
        let mut backoff = retry_backoff();
        loop {
            let call = self.client.call::<Message>(
                Service::Sender,
                ops::CREATE_MESSAGE,
                variables.clone(),
                "createMessage",
            );
            match call.await {
                Ok(stored) => {
                    self.store.message_arrived(&stored);
                    edit_log(self.log, |log| {
                        log.add_stored(stored);
                    });
                    return;
                }
                Err(e) if e.is_retriable() => {
                    // This one and everything queued behind it wait for the connection.
                    let queued: Vec<String> = self
                        .queue
                        .with_value(|q| q.iter().filter_map(|m| m.client_id.clone()).collect());
                    edit_log(self.log, |log| {
                        for id in queued.iter().chain([&client_id]) {
                            log.set_delivery(id, Delivery::Waiting);
                        }
                    });
                    let pause = backoff.next_pause().as_millis() as u32;
                    self.wait_for_connection(pause).await;
                }
                Err(e) => {
                    edit_log(self.log, |log| {
                        log.set_delivery(&client_id, Delivery::Failed(reason(&e)))
                    });
                    return;
                }
            }
        }
    }

    /// Waits `ms`, or less if the live connection comes back meanwhile.
    async fn wait_for_connection(&self, ms: u32) {
        let connections = self.live.connections();
        let mut waited = 0;
        while waited < ms && self.live.connections() == connections {
            browser::pause(TICK_MS).await;
            waited += TICK_MS;
        }
    }
}

/// Why a message was refused, in plain words.
pub fn reason(error: &ApiError) -> String {
    match error.code {
        None => "no connection to the server".to_string(),
        Some(ErrorCode::Forbidden) => "you are no longer in this chat".to_string(),
        Some(ErrorCode::Unauthenticated) => "you are signed out; sign in again".to_string(),
        Some(ErrorCode::RateLimited) => "too many messages at once; wait a moment".to_string(),
        Some(_) => error.message.clone(),
    }
}
