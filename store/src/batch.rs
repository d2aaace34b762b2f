//! Sending: a batch of messages in one transaction, with a fixed number of statements
//! however many chats it touches.
//!
//! The writer groups concurrent sends into a batch so the database commits once per
//! burst. Within a chat, seqs are taken in arrival order under the chat's row lock, so
//! chats stay ordered and independent; chats are locked in id order, so concurrent
//! batches cannot deadlock. The statements read what the batch needs, a pure
//! [`plan`] decides everything, and set-based statements write it.
//!
//! Unread counts are not stored: a participant's count is the chat's `last_seq` minus
//! their read watermark (`message_reads.last_read_seq`). That holds because sending
//! moves the sender's watermark to their newest message, newcomers start at the chat's
//! end and watermarks only move forward: everything after a watermark is someone
//! else's. So a message writes one row per sender, not one per participant.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use chat_types::files::Attachment;
use chat_types::{ChatId, FileId, Mention, Message, Quote, ReadUpdate, UnreadCount, UserId};
use chrono::{DateTime, SubsecRound, Utc};
use sqlx::QueryBuilder;
use uuid::Uuid;

use super::rows::{MessageRow, message_columns};
use super::{Db, Store, StoreResult};

/// A validated `createMessage`.
#[derive(Clone, Debug)]
pub struct NewMessage {
    pub chat_id: ChatId,
    pub sender_id: UserId,
    pub content: String,
    pub client_id: Option<String>,
    /// The message it answers, in the same chat (checked by the caller: seqs never
    /// change, so a quote read before the batch still names the right message).
    pub reply_to: Option<Quote>,
    /// The members it names (members of its chat, found by the caller).
    pub mentions: Vec<Mention>,
    /// `@all` from a group's owner (checked by the caller).
    pub mentions_all: bool,
    /// Its files: the sender's uploads to this chat, not sent yet (checked by the
    /// caller; that no other message took them meanwhile is checked here).
    pub attachments: Vec<Attachment>,
}

/// What became of one message of a batch.
#[derive(Clone, Debug, PartialEq)]
pub enum StoredMessage {
    /// Written now, with the next seq of its chat.
    Created(Arc<Message>),
    /// A retry: the message with this `clientId` was written before.
    Existing(Arc<Message>),
    /// The `clientId` was used before for other text: not a retry.
    ClientIdReused,
    /// The sender does not take part in the chat (or left it).
    NotParticipant,
    /// A file it names went with another message first.
    FilesTaken,
    ChatNotFound,
}

/// The outcome of a batch, with what its events need.
#[derive(Debug, Default)]
pub struct WrittenBatch {
    /// One outcome per message, in the order given.
    pub outcomes: Vec<StoredMessage>,
    /// The unread counts after the batch, for everyone in a chat that got messages
    /// (but those who declined it, who hear nothing of it).
    pub unread: Vec<UnreadCount>,
    /// Senders' read watermarks, moved to their newest message.
    pub reads: Vec<ReadUpdate>,
}

/// What the database says before the batch is written.
#[derive(Default)]
struct Before {
    last_seq: HashMap<ChatId, i64>,
    /// Each chat's last logged change: the new messages come after it.
    last_event_seq: HashMap<ChatId, i64>,
    members: HashMap<ChatId, HashSet<UserId>>,
    /// Messages already written, by (sender, clientId).
    existing: HashMap<(ChatId, UserId, String), Arc<Message>>,
    /// Of the files the batch names, those already part of a message.
    taken: HashSet<FileId>,
}

impl Before {
    /// Records messages already written with the batch's client ids.
    fn add_existing(&mut self, rows: Vec<MessageRow>) {
        for row in rows {
            let message = Message::from(row);
            let key = (
                message.chat_id,
                message.sender_id,
                message.client_id.clone().unwrap_or_default(),
            );
            self.existing.insert(key, Arc::new(message));
        }
    }
}

/// Plans the batch over what the database said: the plan, and the batch's result so
/// far (its outcomes).
fn start(batch: &[NewMessage], before: Before, now: DateTime<Utc>) -> (Plan, WrittenBatch) {
    let mut plan = plan(batch, before, now, Uuid::now_v7);
    let written = WrittenBatch {
        outcomes: std::mem::take(&mut plan.outcomes),
        ..WrittenBatch::default()
    };
    (plan, written)
}

/// Everything the batch writes.
#[derive(Debug, Default, PartialEq)]
struct Plan {
    outcomes: Vec<StoredMessage>,
    fresh: Vec<Arc<Message>>,
    /// Each chat that got messages, with its new last seq.
    chats: Vec<(ChatId, i64)>,
    /// (chat, sender, their newest seq): where the sender's read watermark moves.
    senders: Vec<(ChatId, UserId, i64)>,
}

impl Plan {
    /// (file, message, position) for each file of the new messages.
    fn files(&self) -> Vec<(Uuid, Uuid, i32)> {
        self.fresh
            .iter()
            .flat_map(|m| {
                m.attachments
                    .iter()
                    .zip(0..)
                    .map(|(f, position)| (f.id.as_uuid(), m.id.as_uuid(), position))
            })
            .collect()
    }

    /// (chat, member, seq) for each member each new message names.
    fn mentions(&self) -> Vec<(Uuid, Uuid, i64)> {
        self.fresh
            .iter()
            .flat_map(|m| {
                m.mentions
                    .iter()
                    .map(|n| (m.chat_id.as_uuid(), n.user_id.as_uuid(), m.seq))
            })
            .collect()
    }
}

/// Decides seqs and outcomes: messages in batch order within each chat, a clientId
/// seen before (in the database or earlier in the batch) returns that message.
fn plan(
    batch: &[NewMessage],
    before: Before,
    now: DateTime<Utc>,
    mut new_id: impl FnMut() -> Uuid,
) -> Plan {
    let mut last_seq = before.last_seq;
    let mut known = before.existing;
    let mut taken = before.taken;
    let mut outcomes = Vec::with_capacity(batch.len());
    let mut fresh: Vec<Arc<Message>> = Vec::new();
    for new in batch {
        let Some(seq) = last_seq.get_mut(&new.chat_id) else {
            outcomes.push(StoredMessage::ChatNotFound);
            continue;
        };
        if !before
            .members
            .get(&new.chat_id)
            .is_some_and(|m| m.contains(&new.sender_id))
        {
            outcomes.push(StoredMessage::NotParticipant);
            continue;
        }
        let key = new
            .client_id
            .as_ref()
            .map(|c| (new.chat_id, new.sender_id, c.clone()));
        if let Some(existing) = key.as_ref().and_then(|k| known.get(k)) {
            // An edited or deleted message no longer shows the text it was sent with;
            // a late retry of it is still a retry.
            let untouched = existing.edited_at.is_none() && existing.deleted_at.is_none();
            if untouched && existing.content != new.content {
                outcomes.push(StoredMessage::ClientIdReused);
            } else {
                outcomes.push(StoredMessage::Existing(existing.clone()));
            }
            continue;
        }
        if new.attachments.iter().any(|f| taken.contains(&f.id)) {
            outcomes.push(StoredMessage::FilesTaken);
            continue;
        }
        taken.extend(new.attachments.iter().map(|f| f.id));
        *seq += 1;
        let message = Arc::new(Message {
            id: new_id().into(),
            chat_id: new.chat_id,
            seq: *seq,
            sender_id: new.sender_id,
            content: new.content.clone(),
            client_id: new.client_id.clone(),
            created_at: now,
            edited_at: None,
            deleted_at: None,
            after_event_seq: before
                .last_event_seq
                .get(&new.chat_id)
                .copied()
                .unwrap_or(0),
            reply_to: new.reply_to.clone(),
            reactions: Vec::new(),
            pinned_at: None,
            mentions: new.mentions.clone(),
            mentions_all: new.mentions_all,
            attachments: new.attachments.clone(),
        });
        if let Some(key) = key {
            known.insert(key, message.clone());
        }
        outcomes.push(StoredMessage::Created(message.clone()));
        fresh.push(message);
    }

    let mut chats: Vec<(ChatId, i64)> = Vec::new();
    let mut senders: Vec<(ChatId, UserId, i64)> = Vec::new();
    let touched: BTreeSet<ChatId> = fresh.iter().map(|m| m.chat_id).collect();
    for chat in touched {
        chats.push((chat, last_seq[&chat]));
        let mut newest: BTreeMap<UserId, i64> = BTreeMap::new();
        for m in fresh.iter().filter(|m| m.chat_id == chat) {
            let seq = newest.entry(m.sender_id).or_default();
            *seq = (*seq).max(m.seq);
        }
        senders.extend(newest.into_iter().map(|(author, seq)| (chat, author, seq)));
    }
    Plan {
        outcomes,
        fresh,
        chats,
        senders,
    }
}

/// Everything [`plan`] and the events need from a batch's chats.
struct Touched {
    chat_ids: Vec<Uuid>,
    /// (chat, sender, clientId) of every message that has a clientId: the keys of the
    /// unique index, so looking them up costs the same however long a chat grows.
    keys: Vec<(Uuid, Uuid, String)>,
    /// The files the batch's messages name.
    files: Vec<Uuid>,
}

impl Touched {
    fn of(batch: &[NewMessage]) -> Self {
        Self {
            chat_ids: batch
                .iter()
                .map(|m| m.chat_id.as_uuid())
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect(),
            keys: batch
                .iter()
                .filter_map(|m| {
                    Some((
                        m.chat_id.as_uuid(),
                        m.sender_id.as_uuid(),
                        m.client_id.clone()?,
                    ))
                })
                .collect(),
            files: batch
                .iter()
                .flat_map(|m| m.attachments.iter().map(|f| f.id.as_uuid()))
                .collect(),
        }
    }
}

/// Read watermarks as they were before the batch: (participant, last_read_seq) by chat.
type Watermarks = HashMap<ChatId, Vec<(UserId, i64)>>;

/// Fills `written` with what the events need, from the plan and the watermarks the
/// touched chats had before the batch: senders' move to their newest message, and
/// everyone's unread count is the chat's new last seq minus their watermark.
fn finish(
    mut written: WrittenBatch,
    plan: &Plan,
    watermarks: &Watermarks,
    now: DateTime<Utc>,
) -> WrittenBatch {
    let newest: HashMap<(ChatId, UserId), i64> = plan
        .senders
        .iter()
        .map(|(chat, user, seq)| ((*chat, *user), *seq))
        .collect();
    for (chat, last_seq) in &plan.chats {
        for (user, read) in watermarks.get(chat).into_iter().flatten() {
            let read = newest
                .get(&(*chat, *user))
                .map_or(*read, |seq| (*seq).max(*read));
            written.unread.push(UnreadCount {
                chat_id: *chat,
                user_id: *user,
                unread_count: (last_seq - read).max(0),
                last_read_seq: read,
            });
        }
    }
    written.reads = plan
        .senders
        .iter()
        .map(|(chat, user, newest)| ReadUpdate {
            chat_id: *chat,
            user_id: *user,
            last_read_seq: *newest,
            read_at: now,
        })
        .collect();
    written
}

/// The time a batch's messages are stored with, to the microsecond: what PostgreSQL
/// keeps, so a message's `createdAt` reads the same in the answer, on the bus and
/// from the database.
fn sent_at() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

impl Store {
    /// Writes a batch of messages in one transaction.
    pub async fn write_messages(&self, batch: &[NewMessage]) -> StoreResult<WrittenBatch> {
        match &self.db {
            Db::Postgres { write, .. } => postgres::write(write, batch).await,
            Db::Sqlite { write, .. } => sqlite::write(write, batch).await,
        }
    }
}

/// PostgreSQL: arrays and `UNNEST`, so every statement has one text and stays prepared.
mod postgres {
    use super::*;
    use sqlx::PgPool;

    pub(super) async fn write(pool: &PgPool, batch: &[NewMessage]) -> StoreResult<WrittenBatch> {
        let now = sent_at();
        let touched = Touched::of(batch);
        let mut tx = pool.begin().await?;
        let mut before = Before::default();

        // Lock the chats, in id order. Membership changes take the same lock, so the
        // members are read after it, by a statement of their own: its snapshot is
        // taken once the lock is held and sees a removal that committed while this
        // batch waited (the locking statement's snapshot predates its wait).
        let locked: Vec<(Uuid, i64, i64)> = sqlx::query_as(
            "SELECT c.id, c.last_seq, c.last_event_seq FROM chats c WHERE c.id = ANY($1) \
             ORDER BY c.id FOR UPDATE",
        )
        .bind(&touched.chat_ids)
        .fetch_all(&mut *tx)
        .await?;
        for (chat, last_seq, last_event_seq) in locked {
            before.last_seq.insert(chat.into(), last_seq);
            before.last_event_seq.insert(chat.into(), last_event_seq);
        }
        // A correlated subquery: always an index probe, whatever plan the statement was
        // prepared with.
        let members: Vec<(Uuid, Vec<Uuid>)> = sqlx::query_as(
            "SELECT c.id, ARRAY(SELECT p.user_id FROM chat_participants p WHERE p.chat_id = c.id) \
             FROM chats c WHERE c.id = ANY($1)",
        )
        .bind(&touched.chat_ids)
        .fetch_all(&mut *tx)
        .await?;
        for (chat, members) in members {
            if !members.is_empty() {
                let members = members.into_iter().map(UserId::from).collect();
                before.members.insert(chat.into(), members);
            }
        }
        if !touched.keys.is_empty() {
            // One index lookup per key, whatever plan the statement was prepared with
            // (a plan made while the table was small would otherwise scan it whole).
            let rows: Vec<MessageRow> = sqlx::query_as(
                "SELECT m.id, m.chat_id, m.seq, m.sender_id, m.content, m.client_id, m.created_at, m.edited_at, m.deleted_at, m.after_event_seq, m.reply_to_seq, m.pinned_at, m.mentions_all \
                 FROM UNNEST($1::uuid[], $2::uuid[], $3::text[]) AS k(chat_id, sender_id, client_id) \
                 CROSS JOIN LATERAL (SELECT * FROM messages WHERE chat_id = k.chat_id AND sender_id = k.sender_id \
                 AND client_id = k.client_id LIMIT 1) AS m",
            )
            .bind(touched.keys.iter().map(|k| k.0).collect::<Vec<_>>())
            .bind(touched.keys.iter().map(|k| k.1).collect::<Vec<_>>())
            .bind(touched.keys.iter().map(|k| k.2.as_str()).collect::<Vec<_>>())
            .fetch_all(&mut *tx)
            .await?;
            before.add_existing(rows);
        }
        if !touched.files.is_empty() {
            let taken: Vec<(Uuid,)> = sqlx::query_as(
                "SELECT id FROM files WHERE id = ANY($1) AND message_id IS NOT NULL",
            )
            .bind(&touched.files)
            .fetch_all(&mut *tx)
            .await?;
            before.taken = taken.into_iter().map(|(id,)| id.into()).collect();
        }

        let (plan, written) = start(batch, before, now);
        if plan.fresh.is_empty() {
            tx.commit().await?;
            return Ok(written);
        }
        let column =
            |f: fn(&Message) -> Uuid| plan.fresh.iter().map(|m| f(m)).collect::<Vec<Uuid>>();
        let chats: Vec<Uuid> = plan.chats.iter().map(|(c, _)| c.as_uuid()).collect();
        let senders = &plan.senders;
        let mentions = plan.mentions();
        // Every write of the batch in one statement (one round trip): the messages, the
        // chats' last seq and the senders' read watermarks. Nothing per participant:
        // unread counts are derived from the watermarks, which the statement returns as
        // they were before it (its snapshot is taken after the chats were locked, so no
        // other batch or markAsRead on these chats can have moved them since; the lock
        // statement's own snapshot predates its lock waits and can be stale).
        //
        // Rows are found with `= ANY` and correlated lookups, never by joining an
        // `UNNEST`: the prepared statement's generic plan cannot know the arrays' sizes
        // and would hash-join them against whole-table scans (measured: three
        // sequential scans per batch, most of the database's CPU under load).
        let rows: Vec<(Uuid, Vec<Uuid>, Vec<i64>)> = sqlx::query_as(
            "WITH inserted AS ( \
                 INSERT INTO messages (id, chat_id, seq, sender_id, content, client_id, created_at, after_event_seq, reply_to_seq, mentions_all) \
                 SELECT id, chat_id, seq, sender_id, content, client_id, $7, after_event_seq, reply_to_seq, mentions_all \
                 FROM UNNEST($1::uuid[], $2::uuid[], $3::int8[], $4::uuid[], $5::text[], $6::text[], $13::int8[], $14::int8[], $18::bool[]) \
                     AS m(id, chat_id, seq, sender_id, content, client_id, after_event_seq, reply_to_seq, mentions_all) \
                 RETURNING 1 \
             ), mentions_added AS ( \
                 INSERT INTO message_mentions (chat_id, user_id, message_seq) \
                 SELECT * FROM UNNEST($15::uuid[], $16::uuid[], $17::int8[]) \
                 RETURNING 1 \
             ), batch_chats AS ( \
                 SELECT * FROM UNNEST($8::uuid[], $9::int8[]) AS v(chat_id, seq) \
             ), batch_senders AS ( \
                 SELECT * FROM UNNEST($10::uuid[], $11::uuid[], $12::int8[]) \
                     AS s(chat_id, user_id, newest) \
             ), chats_moved AS ( \
                 UPDATE chats c SET last_message_at = $7, \
                     last_seq = (SELECT v.seq FROM batch_chats v WHERE v.chat_id = c.id) \
                 WHERE c.id = ANY($8) \
                 RETURNING 1 \
             ), reads_moved AS ( \
                 UPDATE message_reads r SET read_at = $7, \
                     last_read_seq = (SELECT s.newest FROM batch_senders s \
                                      WHERE s.chat_id = r.chat_id AND s.user_id = r.user_id) \
                 WHERE r.chat_id = ANY($10) AND r.user_id = ANY($11) \
                   AND r.last_read_seq < (SELECT s.newest FROM batch_senders s \
                                          WHERE s.chat_id = r.chat_id AND s.user_id = r.user_id) \
                 RETURNING 1 \
             ) \
             SELECT v.chat_id, \
                 ARRAY(SELECT r.user_id FROM message_reads r JOIN chat_participants p \
                       ON p.chat_id = r.chat_id AND p.user_id = r.user_id \
                       WHERE r.chat_id = v.chat_id AND p.standing <> 'declined' ORDER BY r.user_id), \
                 ARRAY(SELECT r.last_read_seq FROM message_reads r JOIN chat_participants p \
                       ON p.chat_id = r.chat_id AND p.user_id = r.user_id \
                       WHERE r.chat_id = v.chat_id AND p.standing <> 'declined' ORDER BY r.user_id) \
             FROM UNNEST($8::uuid[]) AS v(chat_id)",
        )
        .bind(column(|m| m.id.as_uuid()))
        .bind(column(|m| m.chat_id.as_uuid()))
        .bind(plan.fresh.iter().map(|m| m.seq).collect::<Vec<i64>>())
        .bind(column(|m| m.sender_id.as_uuid()))
        .bind(plan.fresh.iter().map(|m| m.content.as_str()).collect::<Vec<&str>>())
        .bind(plan.fresh.iter().map(|m| m.client_id.as_deref()).collect::<Vec<Option<&str>>>())
        .bind(now)
        .bind(&chats)
        .bind(plan.chats.iter().map(|(_, seq)| *seq).collect::<Vec<i64>>())
        .bind(senders.iter().map(|(c, _, _)| c.as_uuid()).collect::<Vec<Uuid>>())
        .bind(senders.iter().map(|(_, u, _)| u.as_uuid()).collect::<Vec<Uuid>>())
        .bind(senders.iter().map(|(_, _, newest)| *newest).collect::<Vec<i64>>())
        .bind(plan.fresh.iter().map(|m| m.after_event_seq).collect::<Vec<i64>>())
        .bind(plan.fresh.iter().map(|m| m.reply_to.as_ref().map(|q| q.seq)).collect::<Vec<Option<i64>>>())
        .bind(mentions.iter().map(|(chat, _, _)| *chat).collect::<Vec<Uuid>>())
        .bind(mentions.iter().map(|(_, user, _)| *user).collect::<Vec<Uuid>>())
        .bind(mentions.iter().map(|(_, _, seq)| *seq).collect::<Vec<i64>>())
        .bind(plan.fresh.iter().map(|m| m.mentions_all).collect::<Vec<bool>>())
        .fetch_all(&mut *tx)
        .await?;
        let files = plan.files();
        if !files.is_empty() {
            sqlx::query(
                "UPDATE files f SET message_id = v.message_id, position = v.position                  FROM UNNEST($1::uuid[], $2::uuid[], $3::int4[]) AS v(id, message_id, position)                  WHERE f.id = v.id",
            )
            .bind(files.iter().map(|f| f.0).collect::<Vec<Uuid>>())
            .bind(files.iter().map(|f| f.1).collect::<Vec<Uuid>>())
            .bind(files.iter().map(|f| f.2).collect::<Vec<i32>>())
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        let watermarks: Watermarks = rows
            .into_iter()
            .map(|(chat, users, seqs)| {
                let reads = users.into_iter().map(UserId::from).zip(seqs).collect();
                (chat.into(), reads)
            })
            .collect();
        Ok(finish(written, &plan, &watermarks, now))
    }
}

/// SQLite: lists and `VALUES` built per batch (statements are prepared in-process,
/// cheaply; there is one writer, so no locks to take).
mod sqlite {
    use super::*;
    use sqlx::SqlitePool;

    pub(super) async fn write(
        pool: &SqlitePool,
        batch: &[NewMessage],
    ) -> StoreResult<WrittenBatch> {
        let now = sent_at();
        let touched = Touched::of(batch);
        // IMMEDIATE: this reads, then writes (see `begin_write!`).
        let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
        let mut before = Before::default();

        // The chats, their members and the members' read watermarks.
        let mut query = QueryBuilder::new(
            "SELECT c.id, c.last_seq, c.last_event_seq, p.user_id, \
             CASE WHEN p.standing <> 'declined' THEN r.last_read_seq END FROM chats c \
             LEFT JOIN chat_participants p ON p.chat_id = c.id \
             LEFT JOIN message_reads r ON r.chat_id = p.chat_id AND r.user_id = p.user_id \
             WHERE c.id IN ",
        );
        crate::push_list(&mut query, touched.chat_ids.iter().copied());
        /// A chat's last seq and event seq, one member and their read watermark (none
        /// for someone who declined the chat: they are told nothing of it).
        type ChatMemberRow = (Uuid, i64, i64, Option<Uuid>, Option<i64>);
        let rows: Vec<ChatMemberRow> = query.build_query_as().fetch_all(&mut *tx).await?;
        let mut watermarks = Watermarks::new();
        for (chat, last_seq, last_event_seq, member, read) in rows {
            before.last_seq.insert(chat.into(), last_seq);
            before.last_event_seq.insert(chat.into(), last_event_seq);
            if let Some(member) = member {
                before
                    .members
                    .entry(chat.into())
                    .or_default()
                    .insert(member.into());
                if let Some(read) = read {
                    watermarks
                        .entry(chat.into())
                        .or_default()
                        .push((member.into(), read));
                }
            }
        }

        if !touched.keys.is_empty() {
            let mut query = QueryBuilder::new(concat!(
                "SELECT ",
                message_columns!(),
                " FROM messages WHERE (chat_id, sender_id, client_id) IN (VALUES "
            ));
            let mut keys = query.separated(", ");
            for (chat, sender, client) in &touched.keys {
                keys.push("(")
                    .push_bind_unseparated(*chat)
                    .push_unseparated(", ")
                    .push_bind_unseparated(*sender)
                    .push_unseparated(", ")
                    .push_bind_unseparated(client.as_str())
                    .push_unseparated(")");
            }
            query.push(")");
            let rows: Vec<MessageRow> = query.build_query_as().fetch_all(&mut *tx).await?;
            before.add_existing(rows);
        }
        if !touched.files.is_empty() {
            let mut query =
                QueryBuilder::new("SELECT id FROM files WHERE message_id IS NOT NULL AND id IN ");
            crate::push_list(&mut query, touched.files.iter().copied());
            let taken: Vec<(Uuid,)> = query.build_query_as().fetch_all(&mut *tx).await?;
            before.taken = taken.into_iter().map(|(id,)| id.into()).collect();
        }

        let (plan, written) = start(batch, before, now);
        if plan.fresh.is_empty() {
            tx.commit().await?;
            return Ok(written);
        }
        let mut insert = QueryBuilder::new(
            "INSERT INTO messages (id, chat_id, seq, sender_id, content, client_id, created_at, after_event_seq, reply_to_seq, mentions_all) ",
        );
        insert.push_values(&plan.fresh, |mut row, m| {
            row.push_bind(m.id.as_uuid())
                .push_bind(m.chat_id.as_uuid())
                .push_bind(m.seq)
                .push_bind(m.sender_id.as_uuid())
                .push_bind(m.content.as_str())
                .push_bind(m.client_id.as_deref())
                .push_bind(now)
                .push_bind(m.after_event_seq)
                .push_bind(m.reply_to.as_ref().map(|q| q.seq))
                .push_bind(m.mentions_all);
        });
        insert.build().execute(&mut *tx).await?;
        let mentions = plan.mentions();
        if !mentions.is_empty() {
            let mut insert =
                QueryBuilder::new("INSERT INTO message_mentions (chat_id, user_id, message_seq) ");
            insert.push_values(&mentions, |mut row, (chat, user, seq)| {
                row.push_bind(*chat).push_bind(*user).push_bind(*seq);
            });
            insert.build().execute(&mut *tx).await?;
        }
        for (file, message, position) in plan.files() {
            sqlx::query("UPDATE files SET message_id = $2, position = $3 WHERE id = $1")
                .bind(file)
                .bind(message)
                .bind(position)
                .execute(&mut *tx)
                .await?;
        }

        let mut update =
            QueryBuilder::new("UPDATE chats SET last_seq = v.column2, last_message_at = ");
        update.push_bind(now).push(" FROM (");
        update.push_values(&plan.chats, |mut row, (chat, seq)| {
            row.push_bind(chat.as_uuid()).push_bind(*seq);
        });
        update.push(") AS v WHERE chats.id = v.column1");
        update.build().execute(&mut *tx).await?;

        let mut reads =
            QueryBuilder::new("UPDATE message_reads SET last_read_seq = v.column3, read_at = ");
        reads.push_bind(now).push(" FROM (");
        reads.push_values(&plan.senders, |mut row, (chat, user, newest)| {
            row.push_bind(chat.as_uuid())
                .push_bind(user.as_uuid())
                .push_bind(*newest);
        });
        reads.push(
            ") AS v WHERE message_reads.chat_id = v.column1 AND message_reads.user_id = v.column2 \
             AND message_reads.last_read_seq < v.column3",
        );
        reads.build().execute(&mut *tx).await?;

        tx.commit().await?;
        Ok(finish(written, &plan, &watermarks, now))
    }
}

#[cfg(test)]
mod tests;
