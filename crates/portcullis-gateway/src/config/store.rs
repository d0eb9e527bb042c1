//! The `[store]` section: state shared by replicas on Redis or Valkey (DPoP replay,
//! introspection results, revocations), built by `portcullis-redis` while the file is
//! checked, so `check-config` refuses what the gateway could not start with. Nothing is
//! connected here: the gateway starts the store when it binds.

use std::path::PathBuf;
use std::time::Duration;

use portcullis_issuer::{Secret, SharedKeys};
use serde::Deserialize;

use super::error::{ConfigFileError, KeyPath};
#[cfg(feature = "redis")]
use super::issuer::resolve;
use super::value::{NonEmpty, Span};

/// `[store]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(not(feature = "redis"), allow(dead_code))]
pub(super) struct StoreSection {
    url: String,
    username: Option<NonEmpty>,
    password_env: Option<String>,
    password_file: Option<PathBuf>,
    key_secret_env: Option<String>,
    key_secret_file: Option<PathBuf>,
    previous_key_secret_env: Option<String>,
    previous_key_secret_file: Option<PathBuf>,
    key_prefix: Option<String>,
    tls_ca_file: Option<PathBuf>,
    connect_timeout: Option<Span<1, 60>>,
    response_timeout: Option<Span<1, 60>>,
    dpop_replay: Option<DpopReplay>,
    introspection: Option<bool>,
    revocation_ttl: Option<Span<1000, { 30 * 24 * 3600 }>>,
    admin_token_env: Option<String>,
    admin_token_file: Option<PathBuf>,
}

/// Where DPoP proofs are remembered when a store is configured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum DpopReplay {
    /// In the store, shared by replicas; the store down: DPoP requests get 503.
    FailClosed,
    /// In each replica's memory: a proof replayed to another replica passes there.
    InProcess,
}

/// The default lifetime of a pushed revocation: 24 hours (past any access token's).
#[cfg(feature = "redis")]
const DEFAULT_REVOCATION_TTL: Duration = Duration::from_secs(24 * 3600);

/// The store, checked and ready to start.
#[derive(Debug, Clone)]
#[cfg_attr(not(feature = "redis"), allow(dead_code))]
pub(crate) struct StoreConfig {
    #[cfg(feature = "redis")]
    pub(crate) store: portcullis_redis::RedisStore,
    /// Keys tokens for the store and for revocations by token hash.
    pub(crate) keys: SharedKeys,
    pub(crate) dpop_replay: DpopReplay,
    /// Introspection results shared (a second tier under each replica's cache).
    pub(crate) introspection: bool,
    /// How long a revocation without its own lifetime lasts.
    pub(crate) revocation_ttl: Duration,
    /// The bearer secret of `POST /admin/revocations` on the operations listener.
    pub(crate) admin_token: Option<Secret>,
}

#[cfg(feature = "redis")]
fn secret(
    at: &KeyPath,
    origin: &str,
    (env_key, env): (&str, &Option<String>),
    (file_key, file): (&str, &Option<PathBuf>),
) -> Result<Option<Secret>, ConfigFileError> {
    match (env, file) {
        (None, None) => Ok(None),
        (Some(variable), None) => Secret::from_env(variable)
            .map(Some)
            .map_err(|m| at.key(env_key).error(m)),
        (None, Some(path)) => Secret::from_file(&resolve(origin, path))
            .map(Some)
            .map_err(|m| at.key(file_key).error(m)),
        (Some(_), Some(_)) => Err(at.error(format!("set at most one of {env_key} and {file_key}"))),
    }
}

/// Without the `redis` feature, a `[store]` section is refused.
#[cfg(not(feature = "redis"))]
pub(super) fn store(_: StoreSection, _: &str, _: bool) -> Result<StoreConfig, ConfigFileError> {
    Err(KeyPath::new("store").error("this build has no store support (the `redis` feature)"))
}

/// The store `section` describes (`origin`: where the file is, for relative paths;
/// `operations`: whether the operations endpoints have a listener of their own).
#[cfg(feature = "redis")]
pub(super) fn store(
    section: StoreSection,
    origin: &str,
    operations: bool,
) -> Result<StoreConfig, ConfigFileError> {
    let at = KeyPath::new("store");
    let key_secret = secret(
        &at,
        origin,
        ("key_secret_env", &section.key_secret_env),
        ("key_secret_file", &section.key_secret_file),
    )?
    .ok_or_else(|| {
        at.error(
            "the replicas' shared keying secret is required: key_secret_env or key_secret_file",
        )
    })?;
    let previous = secret(
        &at,
        origin,
        ("previous_key_secret_env", &section.previous_key_secret_env),
        (
            "previous_key_secret_file",
            &section.previous_key_secret_file,
        ),
    )?;
    let key_error = |e: &portcullis_jwt::ConfigError| {
        super::library_error(
            &at,
            e,
            &[
                ("key_secret", "key_secret_env"),
                ("previous_key_secret", "previous_key_secret_env"),
            ],
        )
    };
    let mut keys = SharedKeys::new(key_secret.expose().as_bytes()).map_err(|e| key_error(&e))?;
    if let Some(previous) = &previous {
        keys = keys
            .with_previous(previous.expose().as_bytes())
            .map_err(|e| key_error(&e))?;
    }
    let password = secret(
        &at,
        origin,
        ("password_env", &section.password_env),
        ("password_file", &section.password_file),
    )?;
    let admin_token = secret(
        &at,
        origin,
        ("admin_token_env", &section.admin_token_env),
        ("admin_token_file", &section.admin_token_file),
    )?;
    if admin_token.is_some() && !operations {
        return Err(at.key("admin_token_env").error(
            "the admin endpoint is served only on a listener of its own: set [operations] listen",
        ));
    }
    if let Some(token) = &admin_token
        && token.expose().len() < 32
    {
        return Err(at
            .key("admin_token_env")
            .error("the admin token needs at least 32 characters"));
    }
    let store = {
        let mut builder = portcullis_redis::RedisStore::builder(section.url);
        if let Some(username) = section.username {
            builder = builder.username(username.0);
        }
        if let Some(password) = password {
            builder = builder.password(password);
        }
        if let Some(prefix) = section.key_prefix {
            builder = builder.key_prefix(prefix);
        }
        if let Some(path) = &section.tls_ca_file {
            let path = resolve(origin, path);
            let pem = std::fs::read(&path).map_err(|e| {
                at.key("tls_ca_file")
                    .error(format!("cannot read {}: {e}", path.display()))
            })?;
            builder = builder.ca_certificate(pem);
        }
        if let Some(timeout) = section.connect_timeout {
            builder = builder.connect_timeout(timeout.0);
        }
        if let Some(timeout) = section.response_timeout {
            builder = builder.response_timeout(timeout.0);
        }
        builder.build().map_err(|e| {
            super::library_error(
                &at,
                &e,
                &[
                    ("url", "url"),
                    ("ca_certificate", "tls_ca_file"),
                    ("key_prefix", "key_prefix"),
                    ("connect_timeout", "connect_timeout"),
                    ("response_timeout", "response_timeout"),
                ],
            )
        })?
    };
    Ok(StoreConfig {
        store,
        keys,
        dpop_replay: section.dpop_replay.unwrap_or(DpopReplay::FailClosed),
        introspection: section.introspection.unwrap_or(true),
        revocation_ttl: Span::or(section.revocation_ttl, DEFAULT_REVOCATION_TTL),
        admin_token,
    })
}

/// The DPoP replay store on `store`.
#[cfg(feature = "redis")]
pub(super) fn replay_store(store: &StoreConfig) -> portcullis_redis::RedisProofReplayStore {
    portcullis_redis::RedisProofReplayStore::new(store.store.clone())
}

/// Not reached: without the feature, no [`StoreConfig`] is ever built.
#[cfg(not(feature = "redis"))]
pub(super) fn replay_store(_: &StoreConfig) -> portcullis_issuer::InMemoryProofReplayStore {
    portcullis_issuer::InMemoryProofReplayStore::default()
}

impl StoreConfig {
    /// The introspection second tier and its keys, unless `introspection = false`.
    #[cfg(feature = "redis")]
    pub(crate) fn shared_tier(&self) -> Option<(portcullis_redis::RedisSharedTier, SharedKeys)> {
        self.introspection.then(|| {
            (
                portcullis_redis::RedisSharedTier::new(self.store.clone()),
                self.keys.clone(),
            )
        })
    }

    /// Not reached: without the feature, no [`StoreConfig`] is ever built.
    #[cfg(not(feature = "redis"))]
    pub(crate) fn shared_tier(&self) -> Option<(NoTier, SharedKeys)> {
        None
    }
}

/// The tier of a build without the `redis` feature: never built.
#[cfg(not(feature = "redis"))]
#[derive(Debug)]
pub(crate) struct NoTier;

#[cfg(not(feature = "redis"))]
impl portcullis_issuer::SharedTier for NoTier {
    fn get(
        &self,
        _: &[portcullis_issuer::TokenHash],
    ) -> portcullis_issuer::SharedTierFuture<Vec<Option<Vec<u8>>>> {
        Box::pin(std::future::ready(Err(
            portcullis_issuer::SharedTierError::new("no store"),
        )))
    }

    fn put(
        &self,
        _: portcullis_issuer::TokenHash,
        _: Vec<u8>,
        _: Duration,
    ) -> portcullis_issuer::SharedTierFuture<()> {
        Box::pin(std::future::ready(Err(
            portcullis_issuer::SharedTierError::new("no store"),
        )))
    }
}
