//! Rows as the database returns them, and their conversion to domain types.

use chat_types::{
    Chat, ChatKind, Message, Participant, Role, Standing, UnreadCount, UserId, UserSummary,
};
use chrono::{DateTime, Utc};
use uuid::Uuid;

/// What `#[derive(sqlx::FromRow)]` writes, without sqlx's proc-macro crate (which would
/// build a second copy of sqlx and of SQLite for the compiler): a struct whose fields are
/// read from the row's columns of the same names, on either backend.
macro_rules! from_row {
    ($(#[$meta:meta])* $vis:vis struct $name:ident { $($field_vis:vis $field:ident: $ty:ty),* $(,)? }) => {
        $(#[$meta])*
        $vis struct $name {
            $($field_vis $field: $ty),*
        }

        impl<'r, R: sqlx::Row> sqlx::FromRow<'r, R> for $name
        where
            &'static str: sqlx::ColumnIndex<R>,
            $($ty: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,)*
        {
            fn from_row(row: &'r R) -> Result<Self, sqlx::Error> {
                Ok(Self {
                    $($field: row.try_get(stringify!($field))?),*
                })
            }
        }
    };
}
pub(super) use from_row;

from_row! {
    pub(super) struct MessageRow {
        pub id: Uuid,
        pub chat_id: Uuid,
        pub seq: i64,
        pub sender_id: Uuid,
        pub content: String,
        pub client_id: Option<String>,
        pub created_at: DateTime<Utc>,
        pub edited_at: Option<DateTime<Utc>>,
        pub deleted_at: Option<DateTime<Utc>>,
        pub after_event_seq: i64,
        pub reply_to_seq: Option<i64>,
        pub pinned_at: Option<DateTime<Utc>>,
        pub mentions_all: bool,
    }
}

/// A message as stored, without what is read around it (the quote of the message it
/// answers, its reactions): [`crate::Store`] adds those where a client sees it.
impl From<MessageRow> for Message {
    fn from(r: MessageRow) -> Self {
        Message {
            id: r.id.into(),
            chat_id: r.chat_id.into(),
            seq: r.seq,
            sender_id: r.sender_id.into(),
            content: r.content,
            client_id: r.client_id,
            created_at: r.created_at,
            edited_at: r.edited_at,
            deleted_at: r.deleted_at,
            after_event_seq: r.after_event_seq,
            reply_to: None,
            reactions: Vec::new(),
            pinned_at: r.pinned_at,
            mentions: Vec::new(),
            mentions_all: r.mentions_all,
            attachments: Vec::new(),
        }
    }
}

/// The columns of [`MessageRow`], for `SELECT`s (a macro, so `concat!` can use it).
macro_rules! message_columns {
    () => {
        "id, chat_id, seq, sender_id, content, client_id, created_at, edited_at, deleted_at, after_event_seq, reply_to_seq, pinned_at, mentions_all"
    };
}
pub(super) use message_columns;

from_row! {
    /// A chat with the caller's unread count and the latest message, from one joined query.
    pub(super) struct ChatRow {
        pub id: Uuid,
        pub kind: String,
        pub name: Option<String>,
        pub description: Option<String>,
        pub last_seq: i64,
        pub last_event_seq: i64,
        pub created_at: DateTime<Utc>,
        pub updated_at: DateTime<Utc>,
        pub unread_count: Option<i64>,
        pub unread_mentions: i64,
        pub muted: bool,
        pub m_id: Option<Uuid>,
        pub m_sender_id: Option<Uuid>,
        pub m_content: Option<String>,
        pub m_client_id: Option<String>,
        pub m_created_at: Option<DateTime<Utc>>,
        pub m_edited_at: Option<DateTime<Utc>>,
        pub m_deleted_at: Option<DateTime<Utc>>,
        pub m_after_event_seq: Option<i64>,
    }
}

impl ChatRow {
    pub(super) fn into_chat(self, participants: Vec<Participant>) -> Chat {
        let last_message = match (self.m_id, self.m_sender_id, self.m_created_at) {
            (Some(id), Some(sender_id), Some(created_at)) => Some(Message {
                id: id.into(),
                chat_id: self.id.into(),
                seq: self.last_seq,
                sender_id: sender_id.into(),
                content: self.m_content.unwrap_or_default(),
                client_id: self.m_client_id,
                created_at,
                edited_at: self.m_edited_at,
                deleted_at: self.m_deleted_at,
                after_event_seq: self.m_after_event_seq.unwrap_or(0),
                reply_to: None,
                reactions: Vec::new(),
                pinned_at: None,
                mentions: Vec::new(),
                mentions_all: false,
                attachments: Vec::new(),
            }),
            _ => None,
        };
        Chat {
            id: self.id.into(),
            kind: ChatKind::from_db(&self.kind).unwrap_or(ChatKind::Group),
            name: self.name,
            description: self.description,
            participants,
            last_seq: self.last_seq,
            last_event_seq: self.last_event_seq,
            last_message,
            unread_count: self.unread_count.unwrap_or(0),
            unread_mentions: self.unread_mentions,
            muted: self.muted,
            created_at: self.created_at,
            updated_at: self.updated_at,
        }
    }
}

/// A participant's unread count, derived from chat `c` and their read watermark `r`:
/// everything after the watermark (never negative; 0 without a watermark). Exact
/// because a sender's watermark moves to their own message, newcomers start at the
/// chat's end and watermarks only move forward.
macro_rules! unread_count {
    () => {
        "CASE WHEN c.last_seq > r.last_read_seq THEN c.last_seq - r.last_read_seq ELSE 0 END"
    };
}
pub(super) use unread_count;

/// The columns of a [`ChatRow`]: chat `c`, the viewer's read watermark `r` (for the
/// unread count), last message `m`.
macro_rules! chat_columns {
    () => {
        concat!(
            "SELECT c.id, c.kind, c.name, c.description, c.last_seq, c.last_event_seq, c.created_at, c.updated_at, ",
            $crate::rows::unread_count!(),
            " AS unread_count, \
           (SELECT COUNT(*) FROM message_mentions mm WHERE mm.chat_id = c.id \
            AND mm.user_id = r.user_id AND mm.message_seq > r.last_read_seq) \
         + (SELECT COUNT(*) FROM messages ma WHERE ma.chat_id = c.id AND ma.mentions_all \
            AND ma.seq > r.last_read_seq AND ma.sender_id <> r.user_id) AS unread_mentions, \
           COALESCE((SELECT mp.muted FROM chat_participants mp WHERE mp.chat_id = c.id \
            AND mp.user_id = r.user_id), false) AS muted, \
           m.id AS m_id, m.sender_id AS m_sender_id, m.content AS m_content, m.client_id AS m_client_id, \
           m.created_at AS m_created_at, m.edited_at AS m_edited_at, m.deleted_at AS m_deleted_at, \
           m.after_event_seq AS m_after_event_seq "
        )
    };
}
pub(super) use chat_columns;

from_row! {
    pub(super) struct ParticipantRow {
        pub chat_id: Uuid,
        pub user_id: Uuid,
        pub username: String,
        pub display_name: String,
        pub role: String,
        pub standing: String,
        pub last_read_seq: Option<i64>,
        pub read_at: Option<DateTime<Utc>>,
    }
}

impl From<ParticipantRow> for Participant {
    fn from(r: ParticipantRow) -> Self {
        Participant {
            user: UserSummary {
                id: r.user_id.into(),
                username: r.username,
                display_name: r.display_name,
            },
            role: Role::from_db(&r.role).unwrap_or(Role::Member),
            last_read_seq: r.last_read_seq.unwrap_or(0),
            read_at: r.read_at,
            accepted: Standing::from_db(&r.standing) == Some(Standing::Accepted),
        }
    }
}

/// The participants as `viewer` sees them: how far someone has read is not shown to
/// others while they have not accepted the chat (a stranger's request learns nothing of
/// its reading).
pub(super) fn seen_by(
    mut participants: Vec<Participant>,
    viewer: Option<UserId>,
) -> Vec<Participant> {
    for p in &mut participants {
        if !p.accepted && Some(p.user.id) != viewer {
            p.last_read_seq = 0;
            p.read_at = None;
        }
    }
    participants
}

/// Selects a [`ParticipantRow`]; append a `WHERE` on `p.chat_id`.
macro_rules! participant_select {
    () => {
        "SELECT p.chat_id, p.user_id, u.username, u.display_name, p.role, p.standing, r.last_read_seq, r.read_at \
         FROM chat_participants p JOIN users u ON u.id = p.user_id \
         LEFT JOIN message_reads r ON r.chat_id = p.chat_id AND r.user_id = p.user_id"
    };
}
pub(super) use participant_select;

from_row! {
    pub(super) struct UnreadRow {
        pub chat_id: Uuid,
        pub user_id: Uuid,
        pub unread_count: i64,
        pub last_read_seq: i64,
    }
}

impl From<UnreadRow> for UnreadCount {
    fn from(r: UnreadRow) -> Self {
        UnreadCount {
            chat_id: r.chat_id.into(),
            user_id: r.user_id.into(),
            unread_count: r.unread_count,
            last_read_seq: r.last_read_seq,
        }
    }
}
