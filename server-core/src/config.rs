//! Configuration shared by every service: flags with environment fallbacks.

use std::path::PathBuf;

use clap::{Args, ValueEnum};

use crate::secret::Secret;

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

    /// Where attached files' bytes are kept. By default in the database: PostgreSQL's
    /// `blobs` table, or for SQLite a folder beside its file. Or an S3-compatible
    /// bucket, `s3://bucket/optional/prefix`, with credentials, region and endpoint
    /// from the usual `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`,
    /// `AWS_ENDPOINT` (for a store other than AWS) and `AWS_ALLOW_HTTP=true` (for one
    /// served over plain HTTP). Every instance must name the same store.
    #[arg(long, env = "CHAT_FILE_STORE")]
    pub file_store: Option<String>,

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
    pub fn exposure(&self) -> Exposure {
        Exposure {
            graphiql: self.graphiql == Switch::On,
            public_metrics: self.metrics_addr.is_none(),
        }
    }

    /// The abuse limits this configuration asks for.
    pub fn limits(&self) -> crate::limits::Limits {
        match self.rate_limits {
            Switch::On => crate::limits::Limits::on(),
            Switch::Off => crate::limits::Limits::off(),
        }
    }
}

/// What an instance shows besides its API.
#[derive(Clone, Copy, Debug)]
pub struct Exposure {
    /// GraphiQL on `GET /graphql`, and schema introspection.
    pub graphiql: bool,
    /// `/metrics` on the service's own port (else on `--metrics-addr`).
    pub public_metrics: bool,
}

impl Default for Exposure {
    fn default() -> Self {
        Self {
            graphiql: true,
            public_metrics: true,
        }
    }
}
