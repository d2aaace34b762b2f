//! Presence for one viewer: the people who share a chat with them, as the presence
//! book has them, and each change as it comes (`chat_types::presence`).

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use chat_types::presence::Presence;
use chat_types::{Event, UserId};
use futures::Stream;
use server_core::{ApiError, ServiceState};
use tokio::time::Instant;

use crate::hub::Registration;
use crate::kinds::{self, Kind};

/// How long a viewer's list of people is trusted before it is read again (people
/// hiding their presence; chats whose change was not heard).
const CONTACTS_FRESH: Duration = Duration::from_secs(60);
/// After a failed re-read, how long until the next try.
const RETRY_READ: Duration = Duration::from_secs(10);
/// A chat of the viewer's changed: the list is read again within this, spread per
/// viewer (adding one person to a group of thousands must not make thousands of reads
/// at once).
const AFTER_CHATS_CHANGED: Duration = Duration::from_secs(3);
/// Changes of people not (yet) in the list, kept for a re-read to pass on: a change
/// can overtake the news of the chat that makes its person a contact.
const KEPT_UNKNOWN: usize = 32;
const KEPT_FOR: Duration = Duration::from_secs(10);

/// What is known now of everyone `me` shares a chat with (who has not hidden it).
pub(crate) async fn around(state: &ServiceState, me: UserId) -> Result<Vec<Presence>, ApiError> {
    let contacts = state.store.presence_contacts(me).await?;
    state.bus.presence_of(&contacts).await.map_err(|e| {
        tracing::warn!(error = %chat_types::describe(&e), "presence not read");
        ApiError::Unavailable
    })
}

/// The changes of the presence topic that concern `me`: of people who share a chat
/// with them. Whether they hide their presence does not matter here: the services
/// publish nothing of someone hidden but the one change that says they left.
///
/// Who they are is read as the subscription starts, soon after a chat of theirs
/// changes (`my_chats`: one started, people added or removed) and otherwise now and
/// then ([`CONTACTS_FRESH`], spread per viewer) — never per event: one change reaches
/// thousands of subscribers at once, and a read each would swamp the database (the
/// presence benchmark saw every subscription fail that way). A failed re-read keeps
/// the list it had.
pub(crate) async fn changes(
    state: ServiceState,
    me: UserId,
    mut registration: Registration,
    mut my_chats: Registration,
) -> Result<impl Stream<Item = Result<Presence, ApiError>>, ApiError> {
    let mut contacts = Contacts::read(&state, me).await?;
    Ok(async_stream::stream! {
        loop {
            let read_by = contacts.read_by;
            let next = tokio::select! {
                event = registration.events.recv() => Next::Event(event),
                changed = my_chats.events.recv() => Next::ChatsChanged(changed.is_some()),
                () = tokio::time::sleep_until(read_by.unwrap_or_else(Instant::now)),
                    if read_by.is_some() => Next::ReadDue,
            };
            match next {
                Next::Event(None) | Next::ChatsChanged(false) => break,
                Next::ChatsChanged(true) => contacts.chats_changed(),
                Next::ReadDue => {
                    for presence in contacts.read_again(&state).await {
                        yield Ok(presence);
                    }
                }
                Next::Event(Some(event)) => {
                    let Some(presence) = kinds::PresenceChanged::pick(&event, me) else {
                        continue;
                    };
                    if contacts.needs_reading_for(presence.user_id) {
                        for presence in contacts.read_again(&state).await {
                            yield Ok(presence);
                        }
                    }
                    if let Some(presence) = contacts.pass(presence) {
                        yield Ok(presence);
                    }
                }
            }
        }
        if let Some(error) = registration.end().error().or_else(|| my_chats.end().error()) {
            yield Err(error);
        }
    })
}

enum Next {
    Event(Option<Arc<Event>>),
    /// `false`: that stream ended.
    ChatsChanged(bool),
    ReadDue,
}

/// Whom one viewer shares a chat with, as last read.
struct Contacts {
    me: UserId,
    people: HashSet<UserId>,
    /// When the list is old enough to read again at the next change.
    fresh_until: Instant,
    /// A chat of the viewer's changed: the list is read at this time.
    read_by: Option<Instant>,
    /// Recent changes of people not in the list, oldest first.
    unknown: VecDeque<(Instant, Presence)>,
}

impl Contacts {
    async fn read(state: &ServiceState, me: UserId) -> Result<Self, ApiError> {
        let people = state.store.chat_contacts(me).await?.into_iter().collect();
        Ok(Self {
            me,
            people,
            // Viewers who subscribed together do not all read again together.
            fresh_until: Instant::now() + CONTACTS_FRESH + spread(me, Duration::from_secs(30)),
            read_by: None,
            unknown: VecDeque::new(),
        })
    }

    /// Whether to read the list before judging a change of `user`'s: it is old, or a
    /// chat changed and `user` may be who joined (a read that was coming anyway, only
    /// sooner).
    fn needs_reading_for(&self, user: UserId) -> bool {
        Instant::now() >= self.fresh_until
            || (self.read_by.is_some() && !self.people.contains(&user))
    }

    fn chats_changed(&mut self) {
        let by = Instant::now() + spread(self.me, AFTER_CHATS_CHANGED);
        self.read_by = Some(self.read_by.map_or(by, |earlier| earlier.min(by)));
    }

    /// `presence` if its person is in the list; else kept a while, in case they join.
    fn pass(&mut self, presence: Presence) -> Option<Presence> {
        self.pass_heard(Instant::now(), presence)
    }

    fn pass_heard(&mut self, heard: Instant, presence: Presence) -> Option<Presence> {
        if self.people.contains(&presence.user_id) {
            return Some(presence);
        }
        if self.unknown.len() == KEPT_UNKNOWN {
            self.unknown.pop_front();
        }
        self.unknown.push_back((heard, presence));
        None
    }

    /// Reads the list again; the kept changes of people now in it, to pass on.
    async fn read_again(&mut self, state: &ServiceState) -> Vec<Presence> {
        self.read_by = None;
        match state.store.chat_contacts(self.me).await {
            Ok(list) => {
                self.people = list.into_iter().collect();
                self.fresh_until = Instant::now() + CONTACTS_FRESH;
            }
            Err(e) => {
                tracing::debug!(error = %chat_types::describe(&e), "presence contacts kept");
                self.fresh_until = Instant::now() + RETRY_READ;
            }
        }
        let kept = std::mem::take(&mut self.unknown);
        kept.into_iter()
            .filter(|(heard, _)| heard.elapsed() <= KEPT_FOR)
            .filter_map(|(heard, presence)| self.pass_heard(heard, presence))
            .collect()
    }
}

/// A share of `up_to` that is the same for a viewer each time.
fn spread(me: UserId, up_to: Duration) -> Duration {
    let ms = up_to.as_millis().max(1) as u64;
    Duration::from_millis(u64::from(me.as_uuid().as_u128() as u16) % ms)
}
