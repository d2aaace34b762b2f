//! Configuration shared by every service: flags with environment fallbacks.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use clap::{Args, ValueEnum};

/// A secret that never prints: `Debug` and `Display` show `[redacted]`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: String) -> Self {
        Self(value)
    }

    /// The secret itself; call only where it is used.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// A fresh random secret (256 bits, hex).
    pub fn generate() -> Self {
        let bytes: [u8; 32] = rand::random();
        Self(bytes.iter().map(|b| format!("{b:02x}")).collect())
    }

    /// The secret kept in `dir/jwt-secret`, created on first use (readable by the
    /// owner only), so every instance started from this data folder shares it. Safe
    /// when several processes start at once: the file appears whole, once (written
    /// aside, then linked into place, which fails if another process got there first),
    /// and everyone reads the one that won.
    pub fn load_or_create(dir: &Path) -> std::io::Result<Self> {
        let path = dir.join("jwt-secret");
        loop {
            match std::fs::read_to_string(&path) {
                Ok(text) if !text.trim().is_empty() => return Ok(Self(text.trim().to_string())),
                // Left empty by a crash before this scheme: replaced below.
                Ok(_) => std::fs::remove_file(&path)?,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
            chat_store::files::private_dir(dir)?;
            let secret = Self::generate();
            let aside = dir.join(format!(".jwt-secret.{}", uuid::Uuid::new_v4()));
            std::io::Write::write_all(
                &mut chat_store::files::create_private(&aside)?,
                secret.0.as_bytes(),
            )?;
            let placed = std::fs::hard_link(&aside, &path);
            std::fs::remove_file(&aside)?;
            match placed {
                Ok(()) => return Ok(secret),
                // Another process placed its secret first: read that one.
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e),
            }
        }
    }
}

impl FromStr for Secret {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.len() < 16 {
            return Err("the secret must be at least 16 characters".into());
        }
        Ok(Self(s.to_string()))
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// How logs are written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

/// A setting that is on or off.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum Switch {
    #[default]
    On,
    Off,
}

impl Switch {
    /// As written on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Switch::On => "on",
            Switch::Off => "off",
        }
    }
}

/// What every service needs besides its port.
#[derive(Args, Clone, Debug)]
pub struct CommonConfig {
    /// The address to listen on; `0.0.0.0` to accept connections from other machines.
    #[arg(long, env = "CHAT_HOST", default_value = "127.0.0.1")]
    pub host: std::net::IpAddr,

    /// The database: `postgres://user@host/db`, or `sqlite://path/to/file.db` (created
    /// if missing). Migrations run at start-up.
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "sqlite://.chat-data/chat.db"
    )]
    pub database_url: String,

    /// Redis for the event bus between processes, e.g. `redis://127.0.0.1:6379`.
    /// Without it, events stay inside this process (fine when all services run in one
    /// process, as `chat up` does).
    #[arg(long, env = "REDIS_URL")]
    pub redis_url: Option<String>,

    /// The secret that signs session tokens; every service must share it. Without it,
    /// one is generated and kept in the data folder.
    #[arg(long = "jwt-secret", env = "CHAT_JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<Secret>,

    /// Browser origins allowed to call the services (CORS, cookies, WebSockets),
    /// comma-separated.
    #[arg(
        long,
        env = "CHAT_ALLOWED_ORIGINS",
        value_delimiter = ',',
        default_value = "http://localhost:3000,http://127.0.0.1:3000"
    )]
    pub allowed_origins: Vec<String>,

    /// Prefix of every bus topic, so several deployments can share one Redis.
    #[arg(long, env = "CHAT_BUS_PREFIX", default_value = "chat")]
    pub bus_prefix: String,

    /// Where the embedded default keeps its files (the generated secret).
    #[arg(long, env = "CHAT_DATA_DIR", default_value = ".chat-data")]
    pub data_dir: PathBuf,

    /// Mark the session cookie `Secure` (set this when serving over HTTPS).
    #[arg(long, env = "CHAT_COOKIE_SECURE")]
    pub cookie_secure: bool,

    /// Log format; the level comes from `RUST_LOG` (default `info`).
    #[arg(long, env = "CHAT_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// Limits per client IP and per user: login (per IP, and per IP and account),
    /// register (per IP), createMessage and sendTyping (per user), and WebSocket
    /// connections per user. Over a limit, requests fail with RATE_LIMITED and
    /// `extensions.retryAfter`. Each instance counts on its own. Turn them off only for
    /// load tests: chat-bench acts as thousands of users from one loopback address.
    #[arg(long, env = "CHAT_RATE_LIMITS", value_enum, default_value_t = Switch::On)]
    pub rate_limits: Switch,

    /// Serve `/metrics` here instead of on the services' own ports (which then answer
    /// 404 for it): one listener for the process, each instance's figures at
    /// `/metrics/<its port>`, so the public and the monitoring stay apart.
    #[arg(long, env = "CHAT_METRICS_ADDR")]
    pub metrics_addr: Option<std::net::SocketAddr>,

    /// GraphiQL on `GET /graphql` and schema introspection. Handy while developing;
    /// turn it off in production (the schema is no secret, but need not be handed out).
    #[arg(long, env = "CHAT_GRAPHIQL", value_enum, default_value_t = Switch::On)]
    pub graphiql: Switch,
}

impl CommonConfig {
    /// The configured secret, or the one kept in the data folder.
    pub fn secret(&self) -> std::io::Result<Secret> {
        match &self.jwt_secret {
            Some(secret) => Ok(secret.clone()),
            None => Secret::load_or_create(&self.data_dir),
        }
    }

    /// How this process serves connections: the per-address cap goes with the rate
    /// limits (load tests are thousands of clients on one address).
    pub fn serve_limits(&self) -> crate::serve::ServeLimits {
        crate::serve::ServeLimits::process(self.rate_limits == Switch::On)
    }

    /// What the services show besides their API.
    pub fn exposure(&self) -> crate::state::Exposure {
        crate::state::Exposure {
            graphiql: self.graphiql == Switch::On,
            public_metrics: self.metrics_addr.is_none(),
        }
    }

    /// The abuse limits this configuration asks for.
    pub fn limits(&self) -> crate::state::Limits {
        match self.rate_limits {
            Switch::On => crate::state::Limits::on(),
            Switch::Off => crate::state::Limits::off(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_print() {
        let secret: Secret = "a-very-secret-value".parse().unwrap();
        assert_eq!(format!("{secret:?} {secret}"), "[redacted] [redacted]");
    }

    #[test]
    fn processes_starting_at_once_agree_on_one_secret_only_the_owner_reads() {
        for _ in 0..20 {
            let dir = tempfile::tempdir().unwrap();
            let secrets: Vec<Secret> = std::thread::scope(|scope| {
                let starts: Vec<_> = (0..8)
                    .map(|_| scope.spawn(|| Secret::load_or_create(dir.path()).unwrap()))
                    .collect();
                starts.into_iter().map(|s| s.join().unwrap()).collect()
            });
            assert!(secrets.windows(2).all(|w| w[0] == w[1]), "two secrets");
            assert_eq!(Secret::load_or_create(dir.path()).unwrap(), secrets[0]);
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
                assert_eq!(mode(&dir.path().join("jwt-secret")), 0o600);
            }
            let leftovers = std::fs::read_dir(dir.path()).unwrap().count();
            assert_eq!(leftovers, 1, "nothing left aside");
        }
    }

    #[test]
    fn the_generated_secret_is_kept_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let first = Secret::load_or_create(dir.path()).unwrap();
        let second = Secret::load_or_create(dir.path()).unwrap();
        assert_eq!(first, second);
        assert_eq!(first.expose().len(), 64);
    }
}
