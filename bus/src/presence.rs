//! Who is around (`chat_types::presence`), kept beside the bus: in Redis when the
//! instances are separate processes, in memory when they share one.
//!
//! For each person: what they last said of themselves and when (a Redis key each, kept
//! a day), and how many connections they have open (a counter each). Every write says
//! whether it is news — someone came online, went away or left — which is all that is
//! ever published; a report that only says "still here" costs one key write.

use std::collections::HashMap;

use chat_types::UserId;
use chat_types::presence::{Presence, PresenceStatus};
use chrono::{DateTime, Utc};

use crate::{Bus, BusError};

/// How long Redis keeps a presence no one refreshes (a day: older is "last seen" long
/// ago, and the database does not need to remember it).
const KEEP_SECS: u64 = 24 * 3600;

/// The in-process book.
#[derive(Debug, Default)]
pub(crate) struct Book {
    heard: HashMap<UserId, Presence>,
    connections: HashMap<UserId, u32>,
}

impl Bus {
    /// Records that `user` said `status` at `now`; the new presence if it is news.
    pub async fn presence_heard(
        &self,
        user: UserId,
        status: PresenceStatus,
        now: DateTime<Utc>,
    ) -> Result<Option<Presence>, BusError> {
        let presence = Presence {
            user_id: user,
            status,
            last_heard_at: now,
        };
        let set = |key: String| {
            let mut set = redis::cmd("SET");
            set.arg(key)
                .arg(encode(&presence))
                .arg("GET")
                .arg("EX")
                .arg(KEEP_SECS);
            set
        };
        let old: Option<String> = match self {
            Bus::Memory(bus) => {
                let old = bus.presence().heard.insert(user, presence.clone());
                return Ok(Presence::is_news(old.as_ref(), status, now).then_some(presence));
            }
            Bus::Redis(bus) => {
                set(heard_key(self, user))
                    .query_async(&mut bus.commands().await?)
                    .await?
            }
            Bus::Cluster(bus) => {
                set(heard_key(self, user))
                    .query_async(&mut bus.commands().await?)
                    .await?
            }
        };
        let previous = old.and_then(|old| decode(user, &old));
        Ok(Presence::is_news(previous.as_ref(), status, now).then_some(presence))
    }

    /// What is known of `users` (those never heard from, or forgotten, are missing).
    pub async fn presence_of(&self, users: &[UserId]) -> Result<Vec<Presence>, BusError> {
        if users.is_empty() {
            return Ok(Vec::new());
        }
        match self {
            Bus::Memory(bus) => {
                let book = bus.presence();
                Ok(users
                    .iter()
                    .filter_map(|u| book.heard.get(u).cloned())
                    .collect())
            }
            Bus::Redis(bus) => {
                let keys: Vec<String> = users.iter().map(|u| heard_key(self, *u)).collect();
                let values: Vec<Option<String>> = redis::cmd("MGET")
                    .arg(keys)
                    .query_async(&mut bus.commands().await?)
                    .await?;
                Ok(users
                    .iter()
                    .zip(values)
                    .filter_map(|(u, v)| decode(*u, &v?))
                    .collect())
            }
            Bus::Cluster(bus) => {
                // One MGET per slot: a command may not cross slots on a cluster.
                let mut by_slot: HashMap<u16, Vec<(UserId, String)>> = HashMap::new();
                for user in users {
                    let key = heard_key(self, *user);
                    by_slot
                        .entry(crate::cluster::partition::slot(&key))
                        .or_default()
                        .push((*user, key));
                }
                let connection = bus.commands().await?;
                let reads = by_slot.into_values().map(|group| {
                    let mut connection = connection.clone();
                    async move {
                        let keys: Vec<&String> = group.iter().map(|(_, k)| k).collect();
                        let values: Vec<Option<String>> = redis::cmd("MGET")
                            .arg(keys)
                            .query_async(&mut connection)
                            .await?;
                        Ok::<_, BusError>(
                            group
                                .iter()
                                .zip(values)
                                .filter_map(|((u, _), v)| decode(*u, &v?))
                                .collect::<Vec<_>>(),
                        )
                    }
                });
                let mut found = Vec::new();
                for read in futures::future::join_all(reads).await {
                    found.extend(read?);
                }
                Ok(found)
            }
        }
    }

    /// A connection of `user` opened.
    pub async fn presence_connected(&self, user: UserId) -> Result<(), BusError> {
        match self {
            Bus::Memory(bus) => {
                *bus.presence().connections.entry(user).or_default() += 1;
            }
            Bus::Redis(_) | Bus::Cluster(_) => {
                let key = connections_key(self, user);
                let mut count = redis::pipe();
                count
                    .cmd("INCR")
                    .arg(&key)
                    .ignore()
                    .cmd("EXPIRE")
                    .arg(&key)
                    .arg(KEEP_SECS)
                    .ignore();
                match self {
                    Bus::Redis(bus) => count.query_async::<()>(&mut bus.commands().await?).await?,
                    Bus::Cluster(bus) => {
                        count.query_async::<()>(&mut bus.commands().await?).await?
                    }
                    Bus::Memory(_) => {}
                }
            }
        }
        Ok(())
    }

    /// A connection of `user` closed: how many they still have open. Nothing else is
    /// recorded here (whether their leaving is recorded depends on whether they hide).
    pub async fn presence_disconnected(&self, user: UserId) -> Result<u32, BusError> {
        match self {
            Bus::Memory(bus) => {
                let mut book = bus.presence();
                let count = book.connections.entry(user).or_default();
                *count = count.saturating_sub(1);
                let left = *count;
                if left == 0 {
                    book.connections.remove(&user);
                }
                Ok(left)
            }
            Bus::Redis(bus) => {
                count_down(&mut bus.commands().await?, connections_key(self, user)).await
            }
            Bus::Cluster(bus) => {
                count_down(&mut bus.commands().await?, connections_key(self, user)).await
            }
        }
    }

    /// Forgets `user`'s presence (they hid it).
    pub async fn presence_forget(&self, user: UserId) -> Result<(), BusError> {
        match self {
            Bus::Memory(bus) => {
                bus.presence().heard.remove(&user);
            }
            Bus::Redis(bus) => {
                redis::cmd("DEL")
                    .arg(heard_key(self, user))
                    .query_async::<()>(&mut bus.commands().await?)
                    .await?;
            }
            Bus::Cluster(bus) => {
                redis::cmd("DEL")
                    .arg(heard_key(self, user))
                    .query_async::<()>(&mut bus.commands().await?)
                    .await?;
            }
        }
        Ok(())
    }
}

/// Counts one connection off `key`, clearing it at zero; how many are left.
async fn count_down(
    redis: &mut impl redis::aio::ConnectionLike,
    key: String,
) -> Result<u32, BusError> {
    let left: i64 = redis::cmd("DECR").arg(&key).query_async(redis).await?;
    if left <= 0 {
        redis::cmd("DEL").arg(&key).query_async::<()>(redis).await?;
    }
    Ok(left.max(0) as u32)
}

/// Where `user`'s last-heard presence is kept (on a cluster, in their user topic's
/// partition, so a viewer's contacts are read with one `MGET` per slot).
fn heard_key(bus: &Bus, user: UserId) -> String {
    key(bus, user, &format!("presence:{user}"))
}

/// Where `user`'s count of open connections is kept.
fn connections_key(bus: &Bus, user: UserId) -> String {
    key(bus, user, &format!("presence:connections:{user}"))
}

fn key(bus: &Bus, user: UserId, name: &str) -> String {
    match bus {
        Bus::Cluster(bus) => bus.key(&chat_types::Topic::User(user), name),
        Bus::Redis(bus) => bus.key(name),
        Bus::Memory(_) => name.to_string(),
    }
}

/// `status:millis`, as a presence is kept in Redis.
fn encode(presence: &Presence) -> String {
    format!(
        "{}:{}",
        presence.status.as_str(),
        presence.last_heard_at.timestamp_millis()
    )
}

fn decode(user: UserId, value: &str) -> Option<Presence> {
    let (status, millis) = value.split_once(':')?;
    Some(Presence {
        user_id: user,
        status: PresenceStatus::parse(status)?,
        last_heard_at: DateTime::from_timestamp_millis(millis.parse().ok()?)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_presence_reads_back_as_it_was_kept_to_the_millisecond() {
        let presence = Presence {
            user_id: UserId(uuid::Uuid::from_u128(3)),
            status: PresenceStatus::Away,
            last_heard_at: DateTime::from_timestamp_millis(1_765_000_000_123).unwrap(),
        };
        assert_eq!(decode(presence.user_id, &encode(&presence)), Some(presence));
        assert_eq!(decode(UserId(uuid::Uuid::nil()), "lost:12"), None);
    }
}
