//! What the GraphQL API returns, as the browser reads it.
//!
//! Field names follow GraphQL (camelCase on the wire). Under the `graphql` feature the
//! types derive their GraphQL objects, so the services expose exactly these shapes.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::{ChatId, MessageId, UserId};

/// A user as other people see it (`email` only when it is yourself).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "graphql", derive(async_graphql::SimpleObject))]
pub struct User {
    pub id: UserId,
    pub username: String,
    pub display_name: String,
    #[serde(default)]
    pub email: Option<String>,
    pub is_active: bool,
    pub created_at: DateTime<Utc>,
    /// They hid their presence (only on yourself; `false` for others).
    #[serde(default)]
    pub presence_hidden: bool,
}

/// What `register` and `login` return. The web app never asks for `token`: it relies
/// on the HttpOnly cookie set alongside.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "graphql", derive(async_graphql::SimpleObject))]
pub struct AuthPayload {
    #[serde(default)]
    pub token: String,
    pub user: User,
}

/// Direct chats have exactly two participants; groups have names and owners.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[cfg_attr(feature = "graphql", derive(async_graphql::Enum))]
pub enum ChatKind {
    Direct,
    Group,
}

impl ChatKind {
    /// The value stored in the database.
    pub fn as_db(self) -> &'static str {
        match self {
            ChatKind::Direct => "direct",
            ChatKind::Group => "group",
        }
    }

    /// Reads the value stored in the database.
    pub fn from_db(s: &str) -> Option<Self> {
        match s {
            "direct" => Some(ChatKind::Direct),
            "group" => Some(ChatKind::Group),
            _ => None,
        }
    }
}

/// A participant's role: the owner renames the group and removes others.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[cfg_attr(feature = "graphql", derive(async_graphql::Enum))]
pub enum Role {
    Owner,
    Member,
}

impl Role {
    /// The value stored in the database.
    pub fn as_db(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Member => "member",
        }
    }

    /// Reads the value stored in the database.
    pub fn from_db(s: &str) -> Option<Self> {
        match s {
            "owner" => Some(Role::Owner),
            "member" => Some(Role::Member),
            _ => None,
        }
    }
}

/// Where a participant stands with a chat. Someone put in a chat by a person they have
/// never talked with (no chat both of them accepted) gets it as a request: until they
/// accept, neither side sees the other's presence or typing, and their reading is not
/// shown. A direct request they decline is hidden from them, and the other person is
/// not told.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Standing {
    Accepted,
    Requested,
    Declined,
}

impl Standing {
    /// The value stored in the database.
    pub fn as_db(self) -> &'static str {
        match self {
            Standing::Accepted => "accepted",
            Standing::Requested => "requested",
            Standing::Declined => "declined",
        }
    }

    /// Reads the value stored in the database.
    pub fn from_db(s: &str) -> Option<Self> {
        match s {
            "accepted" => Some(Standing::Accepted),
            "requested" => Some(Standing::Requested),
            "declined" => Some(Standing::Declined),
            _ => None,
        }
    }
}

/// The public part of a user, as shown next to their messages.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "graphql", derive(async_graphql::SimpleObject))]
#[cfg_attr(feature = "graphql", graphql(name = "ParticipantUser"))]
pub struct UserSummary {
    pub id: UserId,
    pub username: String,
    pub display_name: String,
}

/// A chat member, their role, and how far they have read (for read receipts).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "graphql", derive(async_graphql::SimpleObject))]
pub struct Participant {
    pub user: UserSummary,
    pub role: Role,
    /// Their read watermark: they have read every message up to this seq (0 to others
    /// while they have not accepted the chat).
    #[serde(default)]
    pub last_read_seq: i64,
    /// When the watermark last moved.
    #[serde(default)]
    pub read_at: Option<DateTime<Utc>>,
    /// They accepted the chat; `false` while it is a request to them ([`Standing`]).
    #[serde(default = "accepted")]
    pub accepted: bool,
}

fn accepted() -> bool {
    true
}

/// A chat as one participant sees it (`unreadCount` is theirs).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "graphql", derive(async_graphql::SimpleObject))]
#[cfg_attr(feature = "graphql", graphql(complex))]
pub struct Chat {
    pub id: ChatId,
    pub kind: ChatKind,
    pub name: Option<String>,
    pub description: Option<String>,
    pub participants: Vec<Participant>,
    pub last_seq: i64,
    /// The newest [`ChatEvent`]'s `eventSeq` (0 before any).
    #[serde(default)]
    pub last_event_seq: i64,
    #[serde(default)]
    pub last_message: Option<Message>,
    #[serde(default)]
    pub unread_count: i64,
    /// How many of the unread messages name the viewer.
    #[serde(default)]
    pub unread_mentions: i64,
    /// The viewer muted it: no notifications, its unread count shown without emphasis.
    #[serde(default)]
    pub muted: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Chat {
    /// Everyone in the chat.
    pub fn participant_ids(&self) -> Vec<UserId> {
        self.participants.iter().map(|p| p.user.id).collect()
    }

    /// `user` as a participant of the chat, if they are one.
    pub fn participant(&self, user: UserId) -> Option<&Participant> {
        self.participants.iter().find(|p| p.user.id == user)
    }

    /// Whether the chat is a request to `viewer`: someone they had not talked with put
    /// them in it, and they have not accepted it.
    pub fn is_request_for(&self, viewer: UserId) -> bool {
        self.participant(viewer).is_some_and(|p| !p.accepted)
    }

    /// Whether the user takes part in this chat.
    pub fn has_participant(&self, user: UserId) -> bool {
        self.participants.iter().any(|p| p.user.id == user)
    }

    /// The name to show: the group's name, or the other person's for a direct chat.
    pub fn title_for(&self, viewer: UserId) -> String {
        if let Some(name) = self.name.as_deref().filter(|n| !n.is_empty()) {
            return name.to_string();
        }
        self.participants
            .iter()
            .filter(|p| p.user.id != viewer)
            .map(|p| p.user.display_name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

#[cfg(feature = "graphql")]
#[async_graphql::ComplexObject]
impl Chat {
    /// The participants' ids, for clients that need only those.
    #[graphql(name = "participantIds")]
    async fn graphql_participant_ids(&self) -> Vec<UserId> {
        self.participant_ids()
    }
}

/// A message. A deleted message stays as a tombstone: same id and seq, no content.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "graphql", derive(async_graphql::SimpleObject))]
#[cfg_attr(feature = "graphql", graphql(complex))]
pub struct Message {
    pub id: MessageId,
    pub chat_id: ChatId,
    /// The message's place in its chat: 1, 2, 3… with no gaps.
    pub seq: i64,
    pub sender_id: UserId,
    pub content: String,
    pub client_id: Option<String>,
    pub created_at: DateTime<Utc>,
    pub edited_at: Option<DateTime<Utc>>,
    pub deleted_at: Option<DateTime<Utc>>,
    /// The chat's last `eventSeq` when the message was written: it comes after that
    /// change and before the next. Receivers deliver it only once they have applied
    /// every change up to there (someone removed before it never gets it).
    #[serde(default)]
    pub after_event_seq: i64,
    /// The message this one answers, as it is now.
    #[serde(default)]
    pub reply_to: Option<Quote>,
    /// Its reactions, each emoji once, in the order they were first added.
    #[serde(default)]
    pub reactions: Vec<Reaction>,
    /// When it was pinned to its chat, if it is.
    #[serde(default)]
    pub pinned_at: Option<DateTime<Utc>>,
    /// The members it names with `@username`, as it was sent.
    #[serde(default)]
    pub mentions: Vec<Mention>,
    /// Whether it mentions everyone in the chat but its author (`@all`, from a group's
    /// owner).
    #[serde(default)]
    pub mentions_all: bool,
    /// Its files, in the order they were attached.
    #[serde(default)]
    pub attachments: Vec<crate::files::Attachment>,
}

impl Message {
    /// The message in plain words: its text without formatting, or for files sent
    /// alone, what they are ("📎 report.pdf", "📎 3 files").
    pub fn plain_text(&self) -> String {
        let text = crate::format::plain(&self.content);
        if !text.trim().is_empty() {
            return text;
        }
        match self.attachments.as_slice() {
            [] => text,
            [one] => format!("📎 {}", one.name),
            many => format!("📎 {} files", many.len()),
        }
    }

    /// Whether the content was changed after sending.
    pub fn is_edited(&self) -> bool {
        self.edited_at.is_some()
    }

    /// Whether the message was deleted (its content is gone).
    pub fn is_deleted(&self) -> bool {
        self.deleted_at.is_some()
    }

    /// Whether the message mentions `user` (by name, or with `@all`); never its author.
    pub fn is_mention_of(&self, user: UserId) -> bool {
        self.sender_id != user
            && (self.mentions_all || self.mentions.iter().any(|m| m.user_id == user))
    }

    /// Whether `user` reacted with `emoji`.
    pub fn reacted(&self, user: UserId, emoji: &str) -> bool {
        self.reactions
            .iter()
            .any(|r| r.emoji == emoji && r.user_ids.contains(&user))
    }
}

/// One version of an edited message: its content from `at` on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "graphql", derive(async_graphql::SimpleObject))]
pub struct MessageVersion {
    pub content: String,
    pub at: DateTime<Utc>,
}

/// A member a message names (`@username`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "graphql", derive(async_graphql::SimpleObject))]
pub struct Mention {
    pub user_id: UserId,
    pub username: String,
}

/// How much of a message a reply quotes: its first line, up to this many characters.
pub const QUOTE_CHARS: usize = 120;

/// The message a reply answers, as the reply shows it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "graphql", derive(async_graphql::SimpleObject))]
pub struct Quote {
    pub message_id: MessageId,
    pub seq: i64,
    pub sender_id: UserId,
    /// Its first line as plain text, shortened to [`QUOTE_CHARS`] (with "…"); empty
    /// once deleted.
    pub excerpt: String,
    pub is_deleted: bool,
}

impl Quote {
    pub fn of(message: &Message) -> Self {
        let text = message.plain_text();
        let line = text.lines().next().unwrap_or_default().trim();
        let mut excerpt: String = line.chars().take(QUOTE_CHARS).collect();
        if excerpt.len() < line.len() || text.trim().lines().nth(1).is_some() {
            excerpt.push('…');
        }
        Quote {
            message_id: message.id,
            seq: message.seq,
            sender_id: message.sender_id,
            excerpt: if message.is_deleted() {
                String::new()
            } else {
                excerpt
            },
            is_deleted: message.is_deleted(),
        }
    }
}

/// One emoji on a message and who put it there.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "graphql", derive(async_graphql::SimpleObject))]
pub struct Reaction {
    pub emoji: String,
    pub count: i64,
    /// Who reacted, first to last.
    pub user_ids: Vec<UserId>,
}

#[cfg(feature = "graphql")]
#[async_graphql::ComplexObject]
impl Message {
    #[graphql(name = "isEdited")]
    async fn graphql_is_edited(&self) -> bool {
        self.is_edited()
    }

    #[graphql(name = "isDeleted")]
    async fn graphql_is_deleted(&self) -> bool {
        self.is_deleted()
    }
}

/// A page of messages in ascending seq order, with what a timeline shows around them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "graphql", derive(async_graphql::SimpleObject))]
pub struct MessagePage {
    pub messages: Vec<Message>,
    /// More messages exist beyond this page in the direction asked for (older ones for
    /// `beforeSeq`, `aroundSeq` and the newest page; newer ones for `afterSeq`).
    pub has_more: bool,
    /// Newer messages exist after this page (for `aroundSeq`; otherwise whether the
    /// page ends before the chat's newest message).
    #[serde(default)]
    pub has_newer: bool,
    /// The authors of these messages, including people who have since left the chat.
    #[serde(default)]
    pub authors: Vec<UserSummary>,
    /// The chat's changes that sit among these messages (from just before the first to
    /// just after the last; from the chat's start when no older messages exist; up to
    /// now when no newer ones do), in `eventSeq` order.
    #[serde(default)]
    pub events: Vec<ChatEvent>,
    /// The chat's newest `eventSeq` just before this page was read: `chatEvents` after
    /// it brings every change the page may not show yet.
    #[serde(default)]
    pub last_event_seq: i64,
}

/// What changed in a chat, apart from its messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[cfg_attr(feature = "graphql", derive(async_graphql::Enum))]
pub enum ChatEventKind {
    /// The group was started.
    Created,
    /// The group got a new name (`name`).
    Renamed,
    /// The group's description changed.
    Described,
    /// `subject` was added by `actor`.
    Added,
    /// `actor` left.
    Left,
    /// `subject` was removed by `actor`.
    Removed,
    /// `actor` edited `message`.
    Edited,
    /// `actor` deleted `message`.
    Deleted,
    /// `actor` reacted to `message` with `emoji`.
    Reacted,
    /// `actor` took back their `emoji` on `message`.
    Unreacted,
    /// `actor` pinned `message` to the chat.
    Pinned,
    /// `actor` unpinned `message`.
    Unpinned,
}

impl ChatEventKind {
    /// Whether it changes a message (shown on the message) rather than standing as a
    /// line of its own in the timeline.
    pub fn changes_a_message(self) -> bool {
        matches!(
            self,
            ChatEventKind::Edited
                | ChatEventKind::Deleted
                | ChatEventKind::Reacted
                | ChatEventKind::Unreacted
                | ChatEventKind::Pinned
                | ChatEventKind::Unpinned
        )
    }

    /// The value stored in the database.
    pub fn as_db(self) -> &'static str {
        match self {
            ChatEventKind::Created => "created",
            ChatEventKind::Renamed => "renamed",
            ChatEventKind::Described => "described",
            ChatEventKind::Added => "added",
            ChatEventKind::Left => "left",
            ChatEventKind::Removed => "removed",
            ChatEventKind::Edited => "edited",
            ChatEventKind::Deleted => "deleted",
            ChatEventKind::Reacted => "reacted",
            ChatEventKind::Unreacted => "unreacted",
            ChatEventKind::Pinned => "pinned",
            ChatEventKind::Unpinned => "unpinned",
        }
    }

    /// Reads the value stored in the database.
    pub fn from_db(s: &str) -> Option<Self> {
        Some(match s {
            "created" => ChatEventKind::Created,
            "renamed" => ChatEventKind::Renamed,
            "described" => ChatEventKind::Described,
            "added" => ChatEventKind::Added,
            "left" => ChatEventKind::Left,
            "removed" => ChatEventKind::Removed,
            "edited" => ChatEventKind::Edited,
            "deleted" => ChatEventKind::Deleted,
            "reacted" => ChatEventKind::Reacted,
            "unreacted" => ChatEventKind::Unreacted,
            "pinned" => ChatEventKind::Pinned,
            "unpinned" => ChatEventKind::Unpinned,
            _ => return None,
        })
    }
}

/// One change to a chat, numbered per chat by `eventSeq` (1, 2, 3… without gaps).
/// `afterSeq` places it among the messages: after message `afterSeq`, before the next.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "graphql", derive(async_graphql::SimpleObject))]
pub struct ChatEvent {
    pub chat_id: ChatId,
    pub event_seq: i64,
    pub kind: ChatEventKind,
    /// Who made the change.
    pub actor: UserSummary,
    /// Who was added or removed.
    pub subject: Option<UserSummary>,
    /// The new name, for a rename.
    pub name: Option<String>,
    /// The emoji of a reaction added or taken back.
    #[serde(default)]
    pub emoji: Option<String>,
    pub after_seq: i64,
    pub at: DateTime<Utc>,
    /// The message edited or deleted, as it is now (a later edit shows here too).
    #[serde(default)]
    pub message: Option<Message>,
}

impl ChatEvent {
    /// Who left the chat or was removed by it, if anyone.
    pub fn departed(&self) -> Option<UserId> {
        match self.kind {
            ChatEventKind::Left => Some(self.actor.id),
            ChatEventKind::Removed => self.subject.as_ref().map(|s| s.id),
            _ => None,
        }
    }

    /// The line a timeline shows for it, from `viewer`'s point of view.
    pub fn describe(&self, viewer: UserId) -> String {
        let who = |user: &UserSummary| {
            if user.id == viewer {
                "You".to_string()
            } else {
                user.display_name.clone()
            }
        };
        let whom = |user: &Option<UserSummary>| match user {
            Some(u) if u.id == viewer => "you".to_string(),
            Some(u) => u.display_name.clone(),
            None => "someone".to_string(),
        };
        let actor = who(&self.actor);
        match self.kind {
            ChatEventKind::Created => format!("{actor} created the group"),
            ChatEventKind::Renamed => format!(
                "{actor} renamed the group to “{}”",
                self.name.as_deref().unwrap_or_default()
            ),
            ChatEventKind::Described => format!("{actor} changed the description"),
            ChatEventKind::Added => format!("{actor} added {}", whom(&self.subject)),
            ChatEventKind::Left => format!("{actor} left"),
            ChatEventKind::Removed => format!("{actor} removed {}", whom(&self.subject)),
            ChatEventKind::Edited => format!("{actor} edited a message"),
            ChatEventKind::Deleted => format!("{actor} deleted a message"),
            ChatEventKind::Reacted => format!(
                "{actor} reacted {}",
                self.emoji.as_deref().unwrap_or_default()
            ),
            ChatEventKind::Unreacted => format!(
                "{actor} took back {}",
                self.emoji.as_deref().unwrap_or_default()
            ),
            ChatEventKind::Pinned => format!("{actor} pinned a message"),
            ChatEventKind::Unpinned => format!("{actor} unpinned a message"),
        }
    }
}

/// How many messages in a chat a user has not read yet.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "graphql", derive(async_graphql::SimpleObject))]
pub struct UnreadCount {
    pub chat_id: ChatId,
    pub user_id: UserId,
    pub unread_count: i64,
    pub last_read_seq: i64,
}

/// A participant's read watermark moved.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "graphql", derive(async_graphql::SimpleObject))]
pub struct ReadUpdate {
    pub chat_id: ChatId,
    pub user_id: UserId,
    pub last_read_seq: i64,
    pub read_at: DateTime<Utc>,
}

/// Someone is typing in a chat.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "graphql", derive(async_graphql::SimpleObject))]
pub struct TypingEvent {
    pub chat_id: ChatId,
    pub user_id: UserId,
    pub display_name: String,
    pub at: DateTime<Utc>,
}

/// Who has read one message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "graphql", derive(async_graphql::SimpleObject))]
pub struct MessageReadStatus {
    pub message_id: MessageId,
    pub total_participants: i64,
    pub read_by_count: i64,
    pub is_fully_read: bool,
    pub read_by: Vec<ReadBy>,
}

/// One reader of a message and when they read up to it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "graphql", derive(async_graphql::SimpleObject))]
pub struct ReadBy {
    pub user_id: UserId,
    pub read_at: DateTime<Utc>,
}
