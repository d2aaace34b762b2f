//! Presence: who is around, for the people you share a chat with.
//!
//! Built not to load the servers (presence is where other chat systems spend the most
//! steady work): a connected client reports at most once a minute ([`REPORT_EVERY`]);
//! the servers keep each person's last-heard time and status, and push a change only
//! when someone comes online, goes away, or leaves (their last connection closed, or
//! they hid their presence). Going quiet pushes nothing: each client judges a
//! last-heard time older than [`OFFLINE_AFTER`] as offline, by itself.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::UserId;

/// How often a connected, active client says so.
pub const REPORT_EVERY: Duration = Duration::from_secs(60);
/// Not heard from for longer than this: offline (two reports missed, and some slack).
pub const OFFLINE_AFTER: Duration = Duration::from_secs(150);

/// What a person last said of themselves.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[cfg_attr(feature = "graphql", derive(async_graphql::Enum))]
pub enum PresenceStatus {
    /// Using the app.
    Active,
    /// The app is open but they stepped away (its tab hidden, or idle for a while).
    Away,
    /// Their last connection closed, or they hid their presence.
    Offline,
}

impl PresenceStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            PresenceStatus::Active => "active",
            PresenceStatus::Away => "away",
            PresenceStatus::Offline => "offline",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "active" => Some(PresenceStatus::Active),
            "away" => Some(PresenceStatus::Away),
            "offline" => Some(PresenceStatus::Offline),
            _ => None,
        }
    }
}

/// A person's presence as the servers know it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "graphql", derive(async_graphql::SimpleObject))]
pub struct Presence {
    pub user_id: UserId,
    pub status: PresenceStatus,
    pub last_heard_at: DateTime<Utc>,
}

/// How someone shows, judged by a client at `now`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Seen {
    Online,
    Away,
    /// Offline, last heard from then.
    LastSeen(DateTime<Utc>),
}

impl Presence {
    /// How this presence shows at `now`: quiet for longer than [`OFFLINE_AFTER`] is
    /// offline, whatever was last said.
    pub fn seen_at(&self, now: DateTime<Utc>) -> Seen {
        let quiet = (now - self.last_heard_at)
            .to_std()
            .unwrap_or(Duration::ZERO);
        match self.status {
            _ if quiet > OFFLINE_AFTER => Seen::LastSeen(self.last_heard_at),
            PresenceStatus::Active => Seen::Online,
            PresenceStatus::Away => Seen::Away,
            PresenceStatus::Offline => Seen::LastSeen(self.last_heard_at),
        }
    }

    /// Whether `now` hearing `status` from someone whose presence was `self` is news to
    /// the people around them: they come online, go away or leave. Reports that only
    /// say "still here" are not.
    pub fn is_news(
        previous: Option<&Presence>,
        status: PresenceStatus,
        now: DateTime<Utc>,
    ) -> bool {
        match previous {
            None => status != PresenceStatus::Offline,
            Some(p) => {
                let was = p.seen_at(now);
                let is = Presence {
                    user_id: p.user_id,
                    status,
                    last_heard_at: now,
                }
                .seen_at(now);
                !matches!(
                    (was, is),
                    (Seen::Online, Seen::Online)
                        | (Seen::Away, Seen::Away)
                        | (Seen::LastSeen(_), Seen::LastSeen(_))
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    fn heard(status: PresenceStatus, secs_ago: i64, now: DateTime<Utc>) -> Presence {
        Presence {
            user_id: UserId(Uuid::from_u128(1)),
            status,
            last_heard_at: now - chrono::Duration::seconds(secs_ago),
        }
    }

    #[test]
    fn quiet_for_longer_than_the_threshold_is_offline_whatever_was_said() {
        let now = Utc::now();
        assert_eq!(
            heard(PresenceStatus::Active, 30, now).seen_at(now),
            Seen::Online
        );
        assert_eq!(
            heard(PresenceStatus::Away, 149, now).seen_at(now),
            Seen::Away
        );
        let quiet = heard(PresenceStatus::Active, 151, now);
        assert_eq!(quiet.seen_at(now), Seen::LastSeen(quiet.last_heard_at));
        let left = heard(PresenceStatus::Offline, 1, now);
        assert_eq!(left.seen_at(now), Seen::LastSeen(left.last_heard_at));
    }

    #[test]
    fn only_coming_online_going_away_or_leaving_is_news() {
        use PresenceStatus::*;
        let now = Utc::now();
        let cases = [
            (None, Active, true),
            (None, Offline, false),
            // A regular report: nothing to tell.
            (Some(heard(Active, 60, now)), Active, false),
            (Some(heard(Away, 60, now)), Away, false),
            // Back after going quiet: online again.
            (Some(heard(Active, 200, now)), Active, true),
            (Some(heard(Active, 60, now)), Away, true),
            (Some(heard(Away, 60, now)), Active, true),
            (Some(heard(Active, 60, now)), Offline, true),
            // Already seen as offline (quiet): closing the last tab changes nothing.
            (Some(heard(Active, 200, now)), Offline, false),
        ];
        for (previous, status, news) in cases {
            assert_eq!(
                Presence::is_news(previous.as_ref(), status, now),
                news,
                "{previous:?} then {status:?}"
            );
        }
    }
}
