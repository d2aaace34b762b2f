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

    /// PostgreSQL streaming replicas for the receivers' heavy reads (pages, replays,
    /// catch-ups, searches), repeatable; writes and every check of who may see what
    /// stay on `--database-url`. A read that must include a chat up to some point goes
    /// to a replica only once it has caught up that far (else, after a moment, to the
    /// primary: counted in `chat_db_read_fallbacks_total`); a replica lagging over 5 s
    /// is skipped (reads around it counted the same).
    #[arg(
        long = "database-read-url",
        env = "CHAT_DATABASE_READ_URLS",
        value_delimiter = ','
    )]
    pub database_read_urls: Vec<String>,

    /// A PEM file with the CA that signed PostgreSQL's certificate, when the system
    /// does not trust it. TLS itself is the URL's `sslmode` (`require`, `verify-ca`,
    /// `verify-full`).
    #[arg(long, env = "CHAT_DATABASE_CA")]
    pub database_ca: Option<PathBuf>,

    /// Database connections per instance (each replica gets as many). By default 20 for
    /// receivers (they do most reads), 8 for senders (writes are batched, few at a
    /// time) and 5 for the user service; 20 for everything in one process.
    #[arg(long, env = "CHAT_DB_POOL_SIZE")]
    pub db_pool_size: Option<u32>,

    /// Redis for the event bus between processes, e.g. `redis://127.0.0.1:6379`.
    /// Without it, events stay inside this process (fine when all services run in one
    /// process, as `chat up` does).
    #[arg(long, env = "REDIS_URL")]
    pub redis_url: Option<String>,

    /// A Redis Cluster for the event bus instead of one Redis: some of its nodes,
    /// comma-separated (any one is enough to find the rest), e.g.
    /// `redis://10.0.0.1:7000,redis://10.0.0.2:7000`; `rediss://` for TLS. Uses
    /// sharded pub/sub (Redis or Valkey 7 and later), topics spread over
    /// `--bus-partitions` hash tags.
    #[arg(
        long,
        env = "CHAT_REDIS_CLUSTER",
        value_delimiter = ',',
        conflicts_with = "redis_url"
    )]
    pub redis_cluster: Vec<String>,

    /// On a Redis Cluster, how many partitions (hash tags) topics are spread over.
    /// Every instance of a deployment must use the same number.
    #[arg(long, env = "CHAT_BUS_PARTITIONS", default_value_t = chat_bus::DEFAULT_PARTITIONS)]
    pub bus_partitions: u16,

    /// A PEM file with the CA that signed Redis's certificate (`rediss://`), when it
    /// is not one the system trusts.
    #[arg(long, env = "CHAT_REDIS_CA")]
    pub redis_ca: Option<PathBuf>,

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

    /// These settings as environment variables, for instances started as processes of
    /// their own (`chat up --processes`): every setting passed on, the secret given.
    pub fn as_env(&self, secret: &Secret) -> Vec<(&'static str, String)> {
        let mut env = vec![
            ("DATABASE_URL", self.database_url.clone()),
            ("CHAT_JWT_SECRET", secret.expose().to_string()),
            ("CHAT_BUS_PREFIX", self.bus_prefix.clone()),
            ("CHAT_BUS_PARTITIONS", self.bus_partitions.to_string()),
            ("CHAT_ALLOWED_ORIGINS", self.allowed_origins.join(",")),
            ("CHAT_HOST", self.host.to_string()),
            ("CHAT_DATA_DIR", self.data_dir.display().to_string()),
            ("CHAT_RATE_LIMITS", self.rate_limits.as_str().to_string()),
            ("CHAT_GRAPHIQL", self.graphiql.as_str().to_string()),
            (
                "CHAT_LOG_FORMAT",
                match self.log_format {
                    LogFormat::Text => "text",
                    LogFormat::Json => "json",
                }
                .to_string(),
            ),
        ];
        if let Some(url) = &self.redis_url {
            env.push(("REDIS_URL", url.clone()));
        }
        if !self.database_read_urls.is_empty() {
            env.push(("CHAT_DATABASE_READ_URLS", self.database_read_urls.join(",")));
        }
        if let Some(path) = &self.database_ca {
            env.push(("CHAT_DATABASE_CA", path.display().to_string()));
        }
        if let Some(size) = self.db_pool_size {
            env.push(("CHAT_DB_POOL_SIZE", size.to_string()));
        }
        if !self.redis_cluster.is_empty() {
            env.push(("CHAT_REDIS_CLUSTER", self.redis_cluster.join(",")));
        }
        if let Some(path) = &self.redis_ca {
            env.push(("CHAT_REDIS_CA", path.display().to_string()));
        }
        if let Some(url) = &self.file_store {
            env.push(("CHAT_FILE_STORE", url.clone()));
        }
        if self.cookie_secure {
            env.push(("CHAT_COOKIE_SECURE", "true".to_string()));
        }
        env
    }

    /// How `service` (or every service, in one process) reaches the database: its pool
    /// size, and the replicas when it reads from them (receivers).
    pub fn store_config(
        &self,
        service: Option<chat_types::instances::Service>,
    ) -> chat_store::StoreConfig {
        use chat_types::instances::Service;
        let default = match service {
            Some(Service::User) => 5,
            Some(Service::Sender) => 8,
            Some(Service::Receiver) | None => 20,
        };
        let reads = matches!(service, Some(Service::Receiver) | None);
        chat_store::StoreConfig {
            url: self.database_url.clone(),
            size: chat_store::PoolSize {
                max_connections: self.db_pool_size.unwrap_or(default),
            },
            read_urls: if reads {
                self.database_read_urls.clone()
            } else {
                Vec::new()
            },
            ca: self.database_ca.clone(),
        }
    }

    /// Whether the bus reaches beyond this process (Redis or a Redis Cluster).
    pub fn has_shared_bus(&self) -> bool {
        self.redis_url.is_some() || !self.redis_cluster.is_empty()
    }

    /// The bus this configuration names: a Redis Cluster, one Redis, or the
    /// in-process bus.
    pub async fn bus(&self) -> Result<chat_bus::Bus, crate::error::StartError> {
        let ca = match &self.redis_ca {
            Some(path) => Some(std::fs::read(path).map_err(|e| {
                crate::error::StartError::Config(format!("--redis-ca {}: {e}", path.display()))
            })?),
            None => None,
        };
        let bus = if !self.redis_cluster.is_empty() {
            let target = chat_bus::ClusterTarget {
                nodes: self.redis_cluster.clone(),
                ca,
                partitions: self.bus_partitions,
            };
            chat_bus::Bus::cluster(&target, &self.bus_prefix).await?
        } else if let Some(url) = &self.redis_url {
            chat_bus::Bus::redis_with_ca(url, ca, &self.bus_prefix).await?
        } else {
            chat_bus::Bus::memory()
        };
        Ok(bus)
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
