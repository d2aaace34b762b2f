//! Passwords, session tokens, and where a request's token comes from.
//!
//! Tokens are HS256 JWTs signed with a secret every service shares, carrying the user
//! id, an expiry and the user's token version; any instance verifies them on its own.
//! Logout, password change and deactivation bump the version, so older tokens stop
//! working everywhere at once.

use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant};

use argon2::Argon2;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use chat_types::UserId;
use http::HeaderMap;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::secret::Secret;
use chat_store::{Store, StoreError};

/// The session cookie the web app relies on (HttpOnly: page scripts never see it).
pub const SESSION_COOKIE: &str = "chat_session";

/// How long a session lasts.
pub const SESSION_TTL: Duration = Duration::from_secs(7 * 24 * 3600);

/// Why a request is not authenticated.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("no session")]
    Missing,
    #[error("invalid or expired session")]
    Invalid,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Hashes a password with argon2id and a fresh salt.
pub async fn hash_password(password: String) -> String {
    on_hashing_thread(move || {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .expect("argon2 accepts any password of at most 128 characters")
            .to_string()
    })
    .await
}

/// Checks a password against a stored hash. With no hash (unknown user) it checks a
/// dummy one, so the answer takes as long either way.
pub async fn verify_password(password: String, hash: Option<String>) -> bool {
    on_hashing_thread(move || {
        let known = hash.is_some();
        let hash = hash.unwrap_or_else(|| DUMMY_HASH.clone());
        let Ok(parsed) = PasswordHash::new(&hash) else {
            return false;
        };
        let matches = Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok();
        known && matches
    })
    .await
}

/// Threads that hash passwords, one per core. Each hash takes 19 MiB and tens of
/// milliseconds: a fixed pool bounds both the memory (the allocator keeps what a
/// thread used, so a thread per request would keep growing) and the CPU a flood of
/// logins or registrations can take.
static HASHING: LazyLock<Mutex<std::sync::mpsc::Sender<HashingJob>>> = LazyLock::new(|| {
    let (jobs, queue) = std::sync::mpsc::channel::<HashingJob>();
    let queue = Arc::new(Mutex::new(queue));
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    for i in 0..threads {
        let queue = queue.clone();
        std::thread::Builder::new()
            .name(format!("password-{i}"))
            .spawn(move || {
                loop {
                    let job = queue.lock().expect("hashing queue").recv();
                    match job {
                        Ok(job) => job(),
                        Err(_) => return,
                    }
                }
            })
            .expect("start a password hashing thread");
    }
    Mutex::new(jobs)
});

type HashingJob = Box<dyn FnOnce() + Send>;

async fn on_hashing_thread<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> T {
    let (reply, answer) = tokio::sync::oneshot::channel();
    let job: HashingJob = Box::new(move || {
        let _ = reply.send(work());
    });
    HASHING
        .lock()
        .expect("hashing queue")
        .send(job)
        .expect("hashing threads run");
    answer.await.expect("password hashing does not panic")
}

/// A hash of a random password, checked when the user is unknown.
static DUMMY_HASH: LazyLock<String> = LazyLock::new(|| {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(salt.as_str().as_bytes(), &salt)
        .expect("argon2 hashes a salt")
        .to_string()
});

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: Uuid,
    /// The user's token version when the token was issued.
    ver: i64,
    iat: i64,
    exp: i64,
}

/// Issues and verifies session tokens. Cheap to clone (every request's state holds one).
#[derive(Clone)]
pub struct TokenKeys(Arc<Keys>);

struct Keys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
}

impl std::fmt::Debug for TokenKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenKeys([redacted])")
    }
}

/// What a valid token says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TokenClaims {
    pub user_id: UserId,
    pub version: i64,
    /// When the token stops being valid, in seconds since the Unix epoch.
    pub expires_at: i64,
}

impl TokenKeys {
    pub fn new(secret: &Secret) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 5;
        validation.set_required_spec_claims(&["exp", "sub"]);
        Self(Arc::new(Keys {
            encoding: EncodingKey::from_secret(secret.expose().as_bytes()),
            decoding: DecodingKey::from_secret(secret.expose().as_bytes()),
            validation,
        }))
    }

    pub fn issue(&self, user_id: UserId, version: i64) -> String {
        self.issue_with_ttl(user_id, version, SESSION_TTL.as_secs() as i64)
    }

    /// A token expiring `ttl_secs` from now (negative: already expired; for tests).
    pub fn issue_with_ttl(&self, user_id: UserId, version: i64, ttl_secs: i64) -> String {
        let now = chrono::Utc::now().timestamp();
        let claims = Claims {
            sub: user_id.as_uuid(),
            ver: version,
            iat: now,
            exp: now + ttl_secs,
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.0.encoding)
            .expect("HS256 signing does not fail")
    }

    /// Checks the signature, the algorithm and the expiry. Does not check the version.
    pub fn verify(&self, token: &str) -> Result<TokenClaims, AuthError> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.0.decoding, &self.0.validation)
            .map_err(|_| AuthError::Invalid)?;
        Ok(TokenClaims {
            user_id: data.claims.sub.into(),
            version: data.claims.ver,
            expires_at: data.claims.exp,
        })
    }
}

/// Verifies tokens fully: signature and expiry, then the user's current token version.
#[derive(Clone, Debug)]
pub struct Authenticator {
    keys: TokenKeys,
    store: Store,
    versions: Arc<Mutex<VersionCache>>,
    revoked: tokio::sync::broadcast::Sender<Revoked>,
}

/// Whose sessions were revoked, for what holds a session open (WebSockets).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Revoked {
    User(UserId),
    /// Revocations may have been missed (the bus reconnected): check every session.
    Anyone,
}

/// Revocations waiting for a slow listener; one that falls further behind checks
/// every session as if it had heard [`Revoked::Anyone`].
const REVOCATION_BACKLOG: usize = 256;

/// A user's token version (`None`: gone or deactivated) and when it was read.
type CachedVersion = (Option<i64>, Instant);

/// Token versions read recently. A read that started before a revocation is never
/// cached after it (it may have read the version the revocation replaced), and a known
/// version is never lowered: so a revoked token cannot work again for a moment, and an
/// open socket checking itself after a revocation sees it.
#[derive(Debug, Default)]
struct VersionCache {
    known: rustc_hash::FxHashMap<UserId, CachedVersion>,
    /// When each user's sessions were last revoked here.
    forgotten: rustc_hash::FxHashMap<UserId, Instant>,
    /// When every session was last in doubt (the bus reconnected).
    all_forgotten: Option<Instant>,
}

/// Orders versions: a deactivated account (`None`) is past every version.
fn newer(a: Option<i64>, b: Option<i64>) -> bool {
    match (a, b) {
        (None, Some(_)) => true,
        (Some(a), Some(b)) => a > b,
        _ => false,
    }
}

impl VersionCache {
    fn fresh(&self, user: UserId) -> Option<Option<i64>> {
        self.known
            .get(&user)
            .filter(|(_, at)| at.elapsed() < VERSION_TTL)
            .map(|(version, _)| *version)
    }

    /// Keeps what a read that started at `started` found, unless a revocation came
    /// since it started. Returns whether it was kept.
    fn record(&mut self, user: UserId, version: Option<i64>, started: Instant) -> bool {
        let revoked_since = self.forgotten.get(&user).is_some_and(|at| *at >= started)
            || self.all_forgotten.is_some_and(|at| at >= started);
        if revoked_since {
            return false;
        }
        if self.known.len() > VERSION_SWEEP_AT {
            self.known.retain(|_, (_, at)| at.elapsed() < VERSION_TTL);
            self.forgotten.retain(|_, at| at.elapsed() < VERSION_TTL);
        }
        let kept = match self.known.get(&user) {
            Some((known, _)) if newer(*known, version) => *known,
            _ => version,
        };
        self.known.insert(user, (kept, Instant::now()));
        true
    }

    fn forget(&mut self, user: UserId) {
        self.known.remove(&user);
        self.forgotten.insert(user, Instant::now());
    }

    fn forget_all(&mut self) {
        self.known.clear();
        self.forgotten.clear();
        self.all_forgotten = Some(Instant::now());
    }
}

/// How long a user's token version is trusted without asking the database again.
/// Revocations are also announced on the bus (see [`Authenticator::forget`]), so this
/// bounds staleness only when an announcement is lost.
const VERSION_TTL: Duration = Duration::from_secs(2);
/// Past this many cached users, expired ones are swept out.
const VERSION_SWEEP_AT: usize = 100_000;

impl Authenticator {
    pub fn new(keys: TokenKeys, store: Store) -> Self {
        Self {
            keys,
            store,
            versions: Arc::default(),
            revoked: tokio::sync::broadcast::channel(REVOCATION_BACKLOG).0,
        }
    }

    pub fn keys(&self) -> &TokenKeys {
        &self.keys
    }

    /// The user a token belongs to, if it is valid now: signature and expiry, then the
    /// user's current token version (cached briefly; one database read per user, not
    /// per request).
    pub async fn authenticate(&self, token: &str) -> Result<UserId, AuthError> {
        Ok(self.authenticate_claims(token).await?.user_id)
    }

    /// As [`Authenticator::authenticate`], with what the token says.
    pub async fn authenticate_claims(&self, token: &str) -> Result<TokenClaims, AuthError> {
        let claims = self.keys.verify(token)?;
        match self.token_version(claims.user_id).await? {
            Some(version) if version == claims.version => Ok(claims),
            _ => Err(AuthError::Invalid),
        }
    }

    /// The user's token version, `None` if the account is gone or deactivated.
    async fn token_version(&self, user: UserId) -> Result<Option<i64>, AuthError> {
        if let Some(version) = self.versions.lock().expect("versions lock").fresh(user) {
            return Ok(version);
        }
        let started = Instant::now();
        let version = self.store.active_token_version(user).await?;
        let kept = self
            .versions
            .lock()
            .expect("versions lock")
            .record(user, version, started);
        if kept {
            return Ok(version);
        }
        // Revoked while reading: what was read may predate the revocation.
        Ok(self.store.active_token_version(user).await?)
    }

    /// Drops what is cached about the user: their sessions were just revoked.
    pub fn forget(&self, user: UserId) {
        self.versions.lock().expect("versions lock").forget(user);
        let _ = self.revoked.send(Revoked::User(user));
    }

    /// Drops everything cached (revocations may have been missed).
    pub fn forget_all(&self) {
        self.versions.lock().expect("versions lock").forget_all();
        let _ = self.revoked.send(Revoked::Anyone);
    }

    /// Hears of every revocation from now on, so open sessions can check themselves.
    pub fn revocations(&self) -> tokio::sync::broadcast::Receiver<Revoked> {
        self.revoked.subscribe()
    }
}

/// Where a request's token came from. A cookie is sent by the browser on its own, so
/// it is trusted only from an allowed origin (see [`crate::state::WebPolicy::origin_allowed`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Credential {
    Bearer(String),
    Cookie(String),
}

impl Credential {
    pub fn token(&self) -> &str {
        match self {
            Credential::Bearer(t) | Credential::Cookie(t) => t,
        }
    }

    /// The `Authorization: Bearer` header, or else the session cookie.
    pub fn from_headers(headers: &HeaderMap) -> Option<Self> {
        if let Some(token) = headers
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(bearer_token)
        {
            return Some(Credential::Bearer(token.to_string()));
        }
        session_cookie(headers).map(Credential::Cookie)
    }
}

/// The token of `Bearer <token>`.
pub fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// The session cookie's value, if the request carries one.
pub fn session_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, value)| *name == SESSION_COOKIE && !value.is_empty())
        .map(|(_, value)| value.to_string())
}

/// A `Set-Cookie` value that stores the session token.
pub fn session_cookie_header(token: &str, secure: bool) -> String {
    format!(
        "{SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}{}",
        SESSION_TTL.as_secs(),
        if secure { "; Secure" } else { "" }
    )
}

/// A `Set-Cookie` value that removes the session cookie.
pub fn clear_session_cookie_header(secure: bool) -> String {
    format!(
        "{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0{}",
        if secure { "; Secure" } else { "" }
    )
}

impl From<AuthError> for crate::error::ApiError {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::Store(e) => e.into(),
            AuthError::Missing | AuthError::Invalid => crate::error::ApiError::Unauthenticated,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_version_read_before_a_revocation_is_not_cached_after_it() {
        let user = UserId::from(uuid::Uuid::from_u128(7));
        let mut cache = VersionCache::default();
        let started = Instant::now();
        // The read is slow; meanwhile the user logs out and this instance hears it.
        cache.forget(user);
        assert!(
            !cache.record(user, Some(1), started),
            "the stale read is dropped"
        );
        assert_eq!(cache.fresh(user), None);
        // A read that starts after the revocation is kept.
        assert!(cache.record(user, Some(2), Instant::now()));
        assert_eq!(cache.fresh(user), Some(Some(2)));
        // The same after a reconnect, when any revocation may have been missed.
        let started = Instant::now();
        cache.forget_all();
        assert!(!cache.record(user, Some(2), started));
    }

    #[test]
    fn a_known_version_never_goes_back() {
        let user = UserId::from(uuid::Uuid::from_u128(8));
        let mut cache = VersionCache::default();
        cache.record(user, Some(3), Instant::now());
        cache.record(user, Some(2), Instant::now());
        assert_eq!(cache.fresh(user), Some(Some(3)));
        cache.record(user, None, Instant::now());
        cache.record(user, Some(4), Instant::now());
        assert_eq!(
            cache.fresh(user),
            Some(None),
            "a deactivated account stays so"
        );
    }

    fn keys() -> TokenKeys {
        TokenKeys::new(&Secret::new("test-secret-of-some-length".into()))
    }

    #[test]
    fn issued_tokens_verify_with_their_claims() {
        let user = UserId(Uuid::now_v7());
        let token = keys().issue_with_ttl(user, 3, 60);
        let claims = keys().verify(&token).unwrap();
        let expires_at = claims.expires_at;
        assert_eq!(
            claims,
            TokenClaims {
                user_id: user,
                version: 3,
                expires_at,
            }
        );
        let left = expires_at - chrono::Utc::now().timestamp();
        assert!((58..=60).contains(&left), "{left}");
    }

    #[test]
    fn expired_tampered_foreign_and_unsigned_tokens_are_rejected() {
        let user = UserId(Uuid::now_v7());
        let expired = keys().issue_with_ttl(user, 0, -60);
        assert!(keys().verify(&expired).is_err());

        let token = keys().issue(user, 0);
        let mut tampered = token.clone().into_bytes();
        let mid = tampered.len() / 2;
        tampered[mid] = if tampered[mid] == b'A' { b'B' } else { b'A' };
        assert!(
            keys()
                .verify(std::str::from_utf8(&tampered).unwrap())
                .is_err()
        );

        let foreign = TokenKeys::new(&Secret::new("another-secret".into())).issue(user, 0);
        assert!(keys().verify(&foreign).is_err());

        let payload = token.split('.').nth(1).unwrap();
        // {"alg":"none","typ":"JWT"}
        let unsigned = format!("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{payload}.");
        assert!(keys().verify(&unsigned).is_err());
    }

    #[test]
    fn bearer_header_wins_over_the_cookie() {
        let mut headers = HeaderMap::new();
        headers.insert("cookie", "a=b; chat_session=from-cookie".parse().unwrap());
        assert_eq!(
            Credential::from_headers(&headers),
            Some(Credential::Cookie("from-cookie".into()))
        );
        headers.insert("authorization", "Bearer from-header".parse().unwrap());
        assert_eq!(
            Credential::from_headers(&headers),
            Some(Credential::Bearer("from-header".into()))
        );
    }

    #[tokio::test]
    async fn passwords_verify_only_against_their_own_hash() {
        let hash = hash_password("correct horse".into()).await;
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_password("correct horse".into(), Some(hash.clone())).await);
        assert!(!verify_password("wrong horse".into(), Some(hash)).await);
        assert!(!verify_password("correct horse".into(), None).await);
    }
}
