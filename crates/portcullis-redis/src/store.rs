//! [`RedisStore`]: one multiplexed connection, kept alive by a supervisor task, and
//! every command bounded by the response timeout.
//!
//! A request never waits for a reconnection: while the store is disconnected, every
//! command fails at once ("not connected"), and each caller does what its docs say
//! (a DPoP proof is refused with 503, introspection asks the authorization server).
//! The supervisor reconnects in the background, backing off from 50 ms to
//! `max_backoff`, and checks an idle connection every `health_interval` (`PING`), so
//! a server that went away is noticed without a request paying for it.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::task::BackgroundTask;
use arc_swap::ArcSwapOption;
use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, Client, FromRedisValue};
use tokio::sync::Notify;

use crate::health::{Counters, StoreHealth};
use crate::settings::RedisStoreBuilder;

const MIN_BACKOFF: Duration = Duration::from_millis(50);

/// Why the store could not answer (no token material, no server reply text).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StoreError {
    reason: &'static str,
}

impl StoreError {
    pub(crate) const NOT_CONNECTED: StoreError = StoreError {
        reason: "store not connected",
    };
    pub(crate) const TIMEOUT: StoreError = StoreError {
        reason: "store did not answer in time",
    };
    pub(crate) const FAILED: StoreError = StoreError {
        reason: "store command failed",
    };

    /// Why.
    pub const fn reason(&self) -> &'static str {
        self.reason
    }
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.reason)
    }
}

impl std::error::Error for StoreError {}

/// A connection to Redis (or Valkey) shared by the stores of this crate. Cheap to
/// clone; the supervisor stops when the last clone is dropped.
#[derive(Clone)]
pub struct RedisStore {
    handle: Arc<Handle>,
}

/// What the public handle owns: the state, and the supervisor to stop with it.
struct Handle {
    state: Arc<State>,
    supervisor: BackgroundTask,
}

/// What the supervisor and the commands share.
pub(crate) struct State {
    pub(crate) client: Client,
    pub(crate) prefix: String,
    pub(crate) connect_timeout: Duration,
    pub(crate) response_timeout: Duration,
    health_interval: Duration,
    max_backoff: Duration,
    connection: ArcSwapOption<MultiplexedConnection>,
    /// Told by a command whose connection failed: check it now.
    broken: Notify,
    pub(crate) counters: Counters,
}

impl RedisStore {
    /// Starts a configuration for the server at `url` (`redis://host:port/db`, or
    /// `rediss://` for TLS).
    pub fn builder(url: impl Into<String>) -> RedisStoreBuilder {
        RedisStoreBuilder::new(url.into())
    }

    pub(crate) fn from_settings(
        settings: RedisStoreBuilder,
    ) -> Result<RedisStore, portcullis_issuer::ConfigError> {
        let bad_url = |e: redis::RedisError| {
            portcullis_issuer::ConfigError::for_setting(
                "url",
                format!("not a Redis URL: {:?}", e.kind()),
            )
        };
        let mut info = redis::IntoConnectionInfo::into_connection_info(settings.url.as_str())
            .map_err(bad_url)?;
        let mut redis_settings = info.redis_settings().clone();
        if let Some(username) = &settings.username {
            redis_settings = redis_settings.set_username(username.clone());
        }
        if let Some(password) = &settings.password {
            redis_settings = redis_settings.set_password(password.expose());
        }
        info = info.set_redis_settings(redis_settings);
        let client = match settings.ca_certificate {
            None => Client::open(info).map_err(bad_url)?,
            #[cfg(feature = "tls")]
            Some(pem) => Client::build_with_tls(
                info,
                redis::TlsCertificates {
                    client_tls: None,
                    root_cert: Some(pem),
                },
            )
            .map_err(|e| {
                portcullis_issuer::ConfigError::for_setting(
                    "ca_certificate",
                    format!("not a usable PEM certificate: {:?}", e.kind()),
                )
            })?,
            // `build` refuses rediss:// without the feature, and a CA without rediss://.
            #[cfg(not(feature = "tls"))]
            Some(_) => Client::open(info).map_err(bad_url)?,
        };
        Ok(RedisStore {
            handle: Arc::new(Handle {
                state: Arc::new(State {
                    client,
                    prefix: settings.key_prefix,
                    connect_timeout: settings.connect_timeout,
                    response_timeout: settings.response_timeout,
                    health_interval: settings.health_interval,
                    max_backoff: settings.max_backoff,
                    connection: ArcSwapOption::empty(),
                    broken: Notify::new(),
                    counters: Counters::default(),
                }),
                supervisor: BackgroundTask::default(),
            }),
        })
    }

    /// Starts connecting (in the background, on `runtime`): commands fail until the
    /// first connection is made. Calling it again does nothing.
    pub fn start(&self, runtime: &tokio::runtime::Handle) {
        let state = &self.handle.state;
        self.handle
            .supervisor
            .start_once(runtime, || supervise(Arc::clone(state)));
    }

    /// Whether a connection is established now.
    pub fn is_connected(&self) -> bool {
        self.handle.state.connection.load().is_some()
    }

    /// Connection state, latency and error counts, for `/readyz` and `/metrics`.
    pub fn health(&self) -> StoreHealth {
        let state = &self.handle.state;
        state.counters.snapshot(self.is_connected())
    }

    /// Waits until connected, for at most `timeout`; whether it is. For start-up
    /// checks and tests (requests never wait for a connection).
    pub async fn connected_within(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut connected = self.handle.state.counters.subscribe_connected();
        loop {
            if self.is_connected() {
                return true;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero()
                || tokio::time::timeout(left, connected.changed())
                    .await
                    .is_err()
            {
                return self.is_connected();
            }
        }
    }

    pub(crate) fn state(&self) -> &Arc<State> {
        &self.handle.state
    }
}

impl State {
    /// `key` with the prefix.
    pub(crate) fn key(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }

    /// Runs `command`, bounded by the response timeout; counts it, and on a
    /// connection failure tells the supervisor.
    pub(crate) async fn query<T: FromRedisValue>(
        &self,
        command: &redis::Cmd,
    ) -> Result<T, StoreError> {
        let mut connection = self.published()?;
        self.timed(command.query_async(&mut connection)).await
    }

    /// [`State::query`] for a pipeline (atomic if the pipeline says so).
    pub(crate) async fn query_pipeline<T: FromRedisValue>(
        &self,
        pipeline: &redis::Pipeline,
    ) -> Result<T, StoreError> {
        let mut connection = self.published()?;
        self.timed(pipeline.query_async(&mut connection)).await
    }

    /// The published connection (a cheap handle to the multiplexed one).
    fn published(&self) -> Result<MultiplexedConnection, StoreError> {
        match self.connection.load_full() {
            Some(connection) => Ok((*connection).clone()),
            None => {
                self.counters.error();
                Err(StoreError::NOT_CONNECTED)
            }
        }
    }

    /// Awaits `answer` for at most the response timeout; counts it, and on a
    /// connection failure tells the supervisor.
    async fn timed<T>(
        &self,
        answer: impl Future<Output = redis::RedisResult<T>>,
    ) -> Result<T, StoreError> {
        let started = Instant::now();
        match tokio::time::timeout(self.response_timeout, answer).await {
            Ok(Ok(value)) => {
                self.counters.success(started.elapsed());
                Ok(value)
            }
            Ok(Err(error)) => {
                self.counters.error();
                if error.is_io_error() || error.is_connection_dropped() {
                    self.broken.notify_one();
                }
                tracing::debug!(kind = ?error.kind(), "store command failed");
                Err(StoreError::FAILED)
            }
            Err(_) => {
                self.counters.error();
                self.broken.notify_one();
                Err(StoreError::TIMEOUT)
            }
        }
    }

    async fn connect(&self) -> Result<MultiplexedConnection, StoreError> {
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(self.connect_timeout))
            .set_response_timeout(Some(self.response_timeout));
        match tokio::time::timeout(
            self.connect_timeout,
            self.client
                .get_multiplexed_async_connection_with_config(&config),
        )
        .await
        {
            Ok(Ok(connection)) => Ok(connection),
            Ok(Err(error)) => {
                tracing::debug!(kind = ?error.kind(), "store connection failed");
                Err(StoreError::FAILED)
            }
            Err(_) => Err(StoreError::TIMEOUT),
        }
    }

    async fn ping(&self) -> bool {
        self.query::<String>(&redis::cmd("PING"))
            .await
            .is_ok_and(|pong| pong == "PONG")
    }

    /// `PING` on a connection not yet published: a server that refuses it (a wrong
    /// password, a replica still loading) never makes the store look connected.
    async fn answers(&self, connection: &MultiplexedConnection) -> bool {
        let mut connection = connection.clone();
        self.timed(redis::cmd("PING").query_async::<String>(&mut connection))
            .await
            .is_ok_and(|pong| pong == "PONG")
    }
}

/// Keeps a connection: connects with backoff, checks it while idle or when a command
/// reports it broken, and reconnects when the check fails.
async fn supervise(state: Arc<State>) {
    let mut backoff = MIN_BACKOFF;
    let mut reported_down = false;
    loop {
        match state.connect().await {
            Ok(connection) => {
                if !state.answers(&connection).await {
                    state.counters.set_connected(false);
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(state.max_backoff);
                    continue;
                }
                // Counted before it is published: whoever sees the store connected
                // sees this connection counted too.
                state.counters.reconnected();
                state.connection.store(Some(Arc::new(connection)));
                state.counters.set_connected(true);
                tracing::info!("store connected");
                reported_down = false;
                backoff = MIN_BACKOFF;
                loop {
                    tokio::select! {
                        () = tokio::time::sleep(state.health_interval) => {}
                        () = state.broken.notified() => {}
                    }
                    if !state.ping().await {
                        break;
                    }
                }
                state.connection.store(None);
                state.counters.set_connected(false);
                tracing::warn!(
                    "store connection lost: DPoP requests fail (503) and introspection \
                     asks the issuer until it is back"
                );
            }
            Err(error) => {
                state.counters.error();
                if !reported_down {
                    tracing::warn!(%error, "store unreachable; retrying in the background");
                    reported_down = true;
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(state.max_backoff);
            }
        }
    }
}

impl fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = &self.handle.state;
        f.debug_struct("RedisStore")
            .field("prefix", &state.prefix)
            .field("connected", &self.is_connected())
            .field("response_timeout", &state.response_timeout)
            .finish_non_exhaustive()
    }
}
