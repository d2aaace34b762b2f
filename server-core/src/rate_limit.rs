//! Rate limits per client IP and per user: a keyed GCRA token bucket in memory, one
//! per instance.
//!
//! GCRA keeps one number per key, its "theoretical arrival time" (TAT): when the key's
//! allowance would be back to full. A request passes if that time is at most
//! `burst - 1` intervals ahead of now, and pushes it one interval further. A refused
//! request changes nothing, so hammering does not lengthen the wait.
//!
//! Keys are digested with a randomly keyed SipHash into 64 bits, so an entry costs the
//! same whatever the key (a login name can be 64 KiB long) and nobody can aim
//! collisions at someone else's key. Each limit holds at most [`MAX_KEYS`] keys: a key
//! whose allowance is full again carries no information and is dropped first; if the
//! map is still full, the keys nearest to full allowance go. A flood of distinct keys
//! therefore costs bounded memory and cannot push out a key that is being hammered.

use std::hash::{BuildHasher, Hash, RandomState};
use std::net::{IpAddr, Ipv6Addr};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use chat_types::UserId;

use crate::error::ApiError;
use crate::metrics::{Counter, Family, Registry};
use prometheus_client::encoding::EncodeLabelSet;

/// How many requests a key may make: `count` per `period` on average, up to `burst`
/// at once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Quota {
    pub count: u32,
    pub period: Duration,
    pub burst: u32,
}

impl Quota {
    pub const fn per_second(count: u32, burst: u32) -> Self {
        Self {
            count,
            period: Duration::from_secs(1),
            burst,
        }
    }

    pub const fn per_minute(count: u32, burst: u32) -> Self {
        Self {
            count,
            period: Duration::from_secs(60),
            burst,
        }
    }

    pub const fn per_hour(count: u32, burst: u32) -> Self {
        Self {
            count,
            period: Duration::from_secs(3600),
            burst,
        }
    }

    /// The time one request uses up, in nanoseconds.
    fn interval(&self) -> u64 {
        let nanos = self.period.as_nanos() / u128::from(self.count.max(1));
        u64::try_from(nanos).unwrap_or(u64::MAX).max(1)
    }
}

/// What is limited, each with its own buckets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// `login`, per client IP: spraying guesses over many accounts.
    Login,
    /// `login`, per client IP and login name: guessing one account's password.
    LoginAccount,
    /// `register`, per client IP.
    Register,
    /// `createMessage`, per user.
    CreateMessage,
    /// `sendTyping`, per user.
    SendTyping,
    /// `changePassword` and `deactivateAccount`, per user: each checks a password, so
    /// a stolen token would otherwise be a guessing machine (and fill the hashing pool).
    PasswordCheck,
    /// `updateProfile`, per user: an email change answers whether the address is taken.
    ProfileChange,
    /// `createChat`, `updateChat`, `addParticipant(s)`, `removeParticipant`, per user:
    /// each tells every member, so looping one is a flood of events.
    ChatChange,
    /// `searchMessages`, per user: each reads a full-text index, the heaviest read there
    /// is (a search box asks as the person types, a few times a second at most).
    Search,
    /// `reportPresence` and hiding it, per user: a client reports once a minute, and
    /// when its tab is hidden or shown.
    Presence,
    /// Uploading a file, per user: each may be 25 MB to keep and to make thumbnails of.
    Upload,
    /// The bytes uploaded, per user, in KiB: the count of uploads alone lets an account
    /// store terabytes a day.
    UploadKib,
}

impl Action {
    pub const ALL: [Action; 12] = [
        Action::Login,
        Action::LoginAccount,
        Action::Register,
        Action::CreateMessage,
        Action::SendTyping,
        Action::PasswordCheck,
        Action::ProfileChange,
        Action::ChatChange,
        Action::Search,
        Action::Presence,
        Action::Upload,
        Action::UploadKib,
    ];

    /// Its label in `/metrics`.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Login => "login_ip",
            Action::LoginAccount => "login_account",
            Action::Register => "register_ip",
            Action::CreateMessage => "create_message",
            Action::SendTyping => "send_typing",
            Action::PasswordCheck => "password_check",
            Action::ProfileChange => "profile_change",
            Action::ChatChange => "chat_change",
            Action::Search => "search",
            Action::Presence => "presence",
            Action::Upload => "upload",
            Action::UploadKib => "upload_kib",
        }
    }
}

/// The quotas, one per [`Action`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimits {
    pub login: Quota,
    pub login_account: Quota,
    pub register: Quota,
    pub create_message: Quota,
    pub send_typing: Quota,
    pub password_check: Quota,
    pub profile_change: Quota,
    pub chat_change: Quota,
    pub search: Quota,
    pub presence: Quota,
    pub upload: Quota,
    pub upload_kib: Quota,
}

impl Default for RateLimits {
    /// Generous for a person, tight for a script: a household or office behind one
    /// address still fits under the per-IP limits.
    fn default() -> Self {
        Self {
            login: Quota::per_minute(30, 20),
            login_account: Quota::per_minute(10, 5),
            register: Quota::per_minute(5, 10),
            create_message: Quota::per_second(20, 50),
            send_typing: Quota::per_second(5, 10),
            password_check: Quota::per_minute(5, 5),
            profile_change: Quota::per_minute(5, 10),
            chat_change: Quota::per_minute(60, 30),
            search: Quota::per_second(5, 20),
            presence: Quota::per_minute(20, 10),
            upload: Quota::per_minute(30, 20),
            // A gibibyte an hour, 100 MiB at once (four full-size files).
            upload_kib: Quota::per_hour(1024 * 1024, 100 * 1024),
        }
    }
}

impl RateLimits {
    fn quota(&self, action: Action) -> Quota {
        match action {
            Action::Login => self.login,
            Action::LoginAccount => self.login_account,
            Action::Register => self.register,
            Action::CreateMessage => self.create_message,
            Action::SendTyping => self.send_typing,
            Action::PasswordCheck => self.password_check,
            Action::ProfileChange => self.profile_change,
            Action::ChatChange => self.chat_change,
            Action::Search => self.search,
            Action::Presence => self.presence,
            Action::Upload => self.upload,
            Action::UploadKib => self.upload_kib,
        }
    }
}

/// The most keys one action's buckets hold.
pub const MAX_KEYS: usize = 65_536;
/// Buckets are split over this many locks, so concurrent requests rarely wait.
const SHARDS: usize = 16;
/// When a shard is full of keys still in use, this fraction of it is dropped at once,
/// so the sweep is paid for by many inserts.
const EVICT_DIVISOR: usize = 10;

/// The rate limits of one instance; cheap to clone. Built off, it allows everything.
#[derive(Clone, Debug)]
pub struct RateLimiter {
    limiter: Option<Arc<Limiter>>,
    /// Refusals per action, for `/metrics`.
    refused: Family<ActionLabel, Counter>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ActionLabel {
    action: &'static str,
}

#[derive(Debug)]
struct Limiter {
    buckets: [Buckets; Action::ALL.len()],
    digest: RandomState,
    started: Instant,
}

impl Limiter {
    /// Now, in nanoseconds since the limiter started, and `key`'s digest.
    fn at(&self, key: &impl Hash) -> (u64, u64) {
        let now = u64::try_from(self.started.elapsed().as_nanos()).unwrap_or(u64::MAX);
        (now, self.digest.hash_one(key))
    }
}

impl RateLimiter {
    /// Limits as given; `None` turns them off.
    pub fn new(limits: Option<RateLimits>) -> Self {
        let refused = Family::default();
        for action in Action::ALL {
            drop(refused.get_or_create(&ActionLabel {
                action: action.as_str(),
            }));
        }
        let limiter = limits.map(|limits| {
            Arc::new(Limiter {
                buckets: Action::ALL.map(|action| Buckets::new(limits.quota(action), MAX_KEYS)),
                digest: RandomState::new(),
                started: Instant::now(),
            })
        });
        Self { limiter, refused }
    }

    /// Counts a request of `action` by `key`; `RATE_LIMITED` with the seconds to wait
    /// when it is one too many.
    pub fn check(&self, action: Action, key: &impl Hash) -> Result<(), ApiError> {
        self.check_cost(action, key, 1)
    }

    /// Counts a request of `action` by `key` that uses up `cost` requests' worth of the
    /// allowance (at most the whole burst); refused, it uses up nothing.
    pub fn check_cost(&self, action: Action, key: &impl Hash, cost: u64) -> Result<(), ApiError> {
        let Some(limiter) = &self.limiter else {
            return Ok(());
        };
        let (now, digest) = limiter.at(key);
        limiter.buckets[action as usize]
            .check(digest, now, cost)
            .map_err(|wait| {
                tracing::debug!(action = action.as_str(), "rate limited");
                self.refused
                    .get_or_create(&ActionLabel {
                        action: action.as_str(),
                    })
                    .inc();
                ApiError::RateLimited {
                    retry_after_secs: wait.div_ceil(1_000_000_000).max(1),
                }
            })
    }

    /// Uses up `cost` more of `key`'s allowance for `action`, whether or not it has
    /// that much left: for costs known only once the work is done (the bytes of an
    /// upload sent without a length, the time a search took). Later requests wait.
    pub fn charge(&self, action: Action, key: &impl Hash, cost: u64) {
        if let Some(limiter) = &self.limiter
            && cost > 0
        {
            let (now, digest) = limiter.at(key);
            limiter.buckets[action as usize].charge(digest, now, cost);
        }
    }

    /// [`RateLimiter::check_cost`] for a user.
    pub fn check_user_cost(&self, action: Action, user: UserId, cost: u64) -> Result<(), ApiError> {
        self.check_cost(action, &user, cost)
    }

    /// [`RateLimiter::charge`] for a user.
    pub fn charge_user(&self, action: Action, user: UserId, cost: u64) {
        self.charge(action, &user, cost)
    }

    /// [`RateLimiter::check`] for a client address (see [`ip_key`]).
    pub fn check_ip(&self, action: Action, ip: IpAddr) -> Result<(), ApiError> {
        self.check(action, &ip_key(ip))
    }

    /// [`RateLimiter::check`] for a user.
    pub fn check_user(&self, action: Action, user: UserId) -> Result<(), ApiError> {
        self.check(action, &user)
    }

    /// A login attempt from `ip` for `login` (a username or email): first the
    /// address's own limit, then the one for this account from this address. Nothing
    /// about the account is looked up, so the answer is the same whether it exists.
    pub fn check_login(&self, ip: IpAddr, login: &str) -> Result<(), ApiError> {
        let ip = ip_key(ip);
        self.check(Action::Login, &ip)?;
        self.check(Action::LoginAccount, &(ip, login.trim().to_lowercase()))
    }

    /// Adds `chat_rate_limited_total{action}` to `registry`.
    pub fn register_metrics(&self, registry: &mut Registry) {
        registry.register(
            "chat_rate_limited",
            "Requests refused by a rate limit, by action",
            self.refused.clone(),
        );
    }
}

/// The address a per-IP limit counts: IPv4 as is (an IPv4-mapped IPv6 address as its
/// IPv4), IPv6 by its /64 prefix, which one host or home network usually gets whole.
pub fn ip_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => {
            let prefix = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(Ipv6Addr::from(prefix))
        }
        v4 => v4,
    }
}

/// One action's buckets: key digest → TAT in nanoseconds since the limiter started.
#[derive(Debug)]
struct Buckets {
    interval: u64,
    /// How far ahead of now the TAT may be for a request to pass.
    tolerance: u64,
    /// The most requests at once.
    burst: u64,
    shards: [Mutex<rustc_hash::FxHashMap<u64, u64>>; SHARDS],
    shard_capacity: usize,
}

impl Buckets {
    fn new(quota: Quota, max_keys: usize) -> Self {
        let interval = quota.interval();
        Self {
            interval,
            tolerance: interval.saturating_mul(u64::from(quota.burst.max(1) - 1)),
            burst: u64::from(quota.burst.max(1)),
            shards: Default::default(),
            shard_capacity: (max_keys / SHARDS).max(1),
        }
    }

    /// Passes a request costing `cost` at `now`, or says how many nanoseconds until it
    /// would pass. A cost over the burst counts as the whole burst.
    fn check(&self, digest: u64, now: u64, cost: u64) -> Result<(), u64> {
        let cost = cost.clamp(1, self.burst);
        let shard = self.shard(digest);
        let mut tats = shard.lock().unwrap_or_else(PoisonError::into_inner);
        let tat = tats.get(&digest).map_or(now, |tat| (*tat).max(now));
        let allowed_at = tat
            .saturating_add(self.interval.saturating_mul(cost - 1))
            .saturating_sub(self.tolerance);
        if allowed_at > now {
            drop(tats);
            return Err(allowed_at - now);
        }
        if tats.len() >= self.shard_capacity && !tats.contains_key(&digest) {
            make_room(&mut tats, now, self.shard_capacity);
        }
        tats.insert(
            digest,
            tat.saturating_add(self.interval.saturating_mul(cost)),
        );
        Ok(())
    }

    /// Uses up `cost` at `now` unconditionally (never more than a burst ahead of now).
    fn charge(&self, digest: u64, now: u64, cost: u64) {
        let shard = self.shard(digest);
        let mut tats = shard.lock().unwrap_or_else(PoisonError::into_inner);
        if tats.len() >= self.shard_capacity && !tats.contains_key(&digest) {
            make_room(&mut tats, now, self.shard_capacity);
        }
        let tat = tats.get(&digest).map_or(now, |tat| (*tat).max(now));
        let most = now
            .saturating_add(self.tolerance)
            .saturating_add(self.interval.saturating_mul(self.burst));
        let charged = tat
            .saturating_add(self.interval.saturating_mul(cost))
            .min(most);
        tats.insert(digest, charged);
    }

    fn shard(&self, digest: u64) -> &Mutex<rustc_hash::FxHashMap<u64, u64>> {
        &self.shards[(digest >> 60) as usize % SHARDS]
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().unwrap_or_else(PoisonError::into_inner).len())
            .sum()
    }
}

/// Drops keys whose allowance is full again; if that frees too little, also the tenth
/// of the keys nearest to full allowance (the least used, so the least to forget).
fn make_room(tats: &mut rustc_hash::FxHashMap<u64, u64>, now: u64, capacity: usize) {
    tats.retain(|_, tat| *tat > now);
    if tats.len() + capacity / EVICT_DIVISOR <= capacity {
        return;
    }
    let mut times: Vec<u64> = tats.values().copied().collect();
    let cut = (capacity / EVICT_DIVISOR).clamp(1, times.len());
    let (_, cutoff, _) = times.select_nth_unstable(cut - 1);
    let cutoff = *cutoff;
    tats.retain(|_, tat| *tat > cutoff);
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: u64 = 1_000_000_000;

    #[test]
    fn a_burst_passes_then_requests_pass_at_the_rate() {
        let buckets = Buckets::new(Quota::per_second(2, 3), 1000);
        for _ in 0..3 {
            assert_eq!(buckets.check(1, 0, 1), Ok(()));
        }
        // One interval (half a second) until the next.
        assert_eq!(buckets.check(1, 0, 1), Err(SECOND / 2));
        // A refusal does not push the wait further.
        assert_eq!(buckets.check(1, SECOND / 4, 1), Err(SECOND / 4));
        assert_eq!(buckets.check(1, SECOND / 2, 1), Ok(()));
        assert!(buckets.check(1, SECOND / 2, 1).is_err());
        // Other keys have their own allowance.
        assert_eq!(buckets.check(2, SECOND / 2, 1), Ok(()));
        // After a long pause the whole burst is back, not more.
        for _ in 0..3 {
            assert_eq!(buckets.check(1, 100 * SECOND, 1), Ok(()));
        }
        assert!(buckets.check(1, 100 * SECOND, 1).is_err());
    }

    #[test]
    fn a_flood_of_distinct_keys_stays_bounded_and_keeps_busy_keys() {
        let buckets = Buckets::new(Quota::per_minute(1, 5), 1600);
        // Key 7 used up its allowance: it must stay refused through the flood.
        for _ in 0..5 {
            assert_eq!(buckets.check(7 << 60, 0, 1), Ok(()));
        }
        assert_eq!(buckets.check(7 << 60, 0, 1), Err(60 * SECOND));
        for key in 0..100_000u64 {
            let digest = key.wrapping_mul(0x9E37_79B9_7F4A_7C15);
            let _ = buckets.check(digest, SECOND, 1);
            assert!(buckets.len() <= 1600);
        }
        assert!(buckets.check(7 << 60, 2 * SECOND, 1).is_err());
    }

    #[test]
    fn stale_keys_are_swept_before_busy_ones() {
        let buckets = Buckets::new(Quota::per_second(1, 1), SHARDS * 4);
        // Fill one shard, then let its keys go stale.
        for i in 0..4 {
            buckets.check(i, 0, 1).unwrap();
        }
        buckets.check(99, 10 * SECOND, 1).unwrap();
        assert_eq!(buckets.len(), 1);
    }

    #[test]
    fn an_off_limiter_allows_everything() {
        let limiter = RateLimiter::new(None);
        for _ in 0..1000 {
            limiter.check(Action::CreateMessage, &1).unwrap();
        }
    }

    #[test]
    fn refusals_say_when_to_retry_and_are_counted() {
        let limiter = RateLimiter::new(Some(RateLimits::default()));
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        for _ in 0..5 {
            limiter.check_login(ip, "Alice").unwrap();
        }
        // The same account in another spelling counts against the same bucket.
        match limiter.check_login(ip, " alice ") {
            Err(ApiError::RateLimited { retry_after_secs }) => {
                assert!((1..=6).contains(&retry_after_secs))
            }
            other => panic!("expected RATE_LIMITED, got {other:?}"),
        }
        // Another account from the same address is still fine.
        limiter.check_login(ip, "bob").unwrap();
        let mut registry = Registry::default();
        limiter.register_metrics(&mut registry);
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
        assert!(text.contains("chat_rate_limited_total{action=\"login_account\"} 1"));
        assert!(text.contains("chat_rate_limited_total{action=\"login_ip\"} 0"));
    }

    #[test]
    fn ipv6_counts_by_its_64_prefix_and_mapped_ipv4_as_ipv4() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::2".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(ip_key(a), ip_key(b));
        assert_ne!(ip_key(a), ip_key(c));
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().unwrap();
        assert_eq!(ip_key(mapped), "192.0.2.7".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn a_costly_request_uses_up_its_cost_and_a_charge_delays_the_next() {
        // 10 a second, 20 at once.
        let buckets = Buckets::new(Quota::per_second(10, 20), 1000);
        assert_eq!(buckets.check(1, 0, 15), Ok(()));
        // 5 left: a request costing 6 waits for one more to come back.
        assert_eq!(buckets.check(1, 0, 6), Err(SECOND / 10));
        assert_eq!(buckets.check(1, 0, 5), Ok(()));
        assert!(buckets.check(1, 0, 1).is_err());
        // A cost over the burst counts as the burst: after a full refill it passes.
        assert_eq!(buckets.check(2, 0, 1000), Ok(()));
        assert!(buckets.check(2, 0, 1).is_err());
        // A charge after the fact pushes the next request back, but never more than
        // a burst's worth.
        buckets.check(3, 0, 1).unwrap();
        buckets.charge(3, 0, 1_000_000);
        assert_eq!(buckets.check(3, 0, 1), Err(2 * SECOND));
        assert_eq!(buckets.check(3, 2 * SECOND, 1), Ok(()));
    }
}
