//! Who the caller is: one [`portcullis::Verifier`] over every configured issuer.
//!
//! [`IssuerSet`] holds, per issuer, a `portcullis_issuer::JwtVerifier` (keys from a
//! `RemoteKeySet` through discovery or `jwks_uri`, or a static `jwks_file`) and/or an
//! `IntrospectionVerifier` (RFC 7662). The `portcullis` authentication layer calls it;
//! token extraction, RFC 6750 answers and gRPC statuses are the library's.
//!
//! Routing a token (hybrid verification): a JWS-shaped token goes to the issuer its
//! unverified `iss` names, among the configured ones only (an unknown issuer is refused
//! with no network traffic), and is verified with that issuer's keys, or introspected
//! if that issuer has no keys. Anything else is an opaque token and goes to the one
//! issuer that introspects, if any.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use portcullis_issuer::introspection::{ClientAuth, IntrospectionVerifier, Secret};
use portcullis_issuer::{
    HttpClient, JwtVerifier, RemoteKeySet, RemoteKeySetBuilder, VerifyError, VerifyErrorKind,
};
use portcullis_jwt::{Claims, ErrorKind, KeySet, UnverifiedToken, Validation};

use crate::config::{
    ClientAuthMethod, IntrospectionConfig, IssuerConfig, KeySourceConfig, SecretSource,
};

/// A boxed verification future.
pub(crate) type BoxFuture = Pin<Box<dyn Future<Output = Result<Claims, VerifyError>> + Send>>;

/// Why the issuers could not be started.
#[derive(Debug)]
pub(crate) struct IssuerStartError(pub(crate) String);

impl fmt::Display for IssuerStartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for IssuerStartError {}

/// One issuer's counters, as `/metrics` reads them.
#[derive(Debug, Clone, Default)]
pub(crate) struct IssuerCounters {
    pub(crate) issuer: String,
    /// Key set fetches started (discovery included).
    pub(crate) fetches: u64,
    pub(crate) fetch_failures: u64,
    /// Fetches caused by a token with an unknown `kid`.
    pub(crate) unknown_kid_refetches: u64,
    /// Tokens refused at once because their `kid` was unknown after the last fetch.
    pub(crate) negative_cache_hits: u64,
    /// JWT verifications that found their key set and key.
    pub(crate) cache_hits: u64,
    /// JWT verifications with no usable key set, or an unknown `kid`.
    pub(crate) cache_misses: u64,
    /// Usable keys in the current set.
    pub(crate) keys: u64,
    /// Introspection requests sent, and those that failed.
    pub(crate) introspections: u64,
    pub(crate) introspection_failures: u64,
    /// Introspection results served from the cache, and looked up in vain.
    pub(crate) introspection_cache_hits: u64,
    pub(crate) introspection_cache_misses: u64,
}

/// The configured issuers, each with its own rules, keys and introspection endpoint.
/// Cheap to clone.
#[derive(Clone)]
pub(crate) struct IssuerSet {
    inner: Arc<Inner>,
}

struct Inner {
    issuers: Vec<Issuer>,
    /// The issuer opaque tokens go to.
    introspector: Option<usize>,
    max_token_bytes: usize,
}

struct Issuer {
    name: String,
    jwt: Option<JwtVerifier>,
    introspection: Option<IntrospectionVerifier>,
    /// Static sets count their keys once.
    static_keys: u64,
    cache_hits: AtomicU64,
    cache_misses: AtomicU64,
}

impl fmt::Debug for IssuerSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.inner.issuers.iter().map(|i| &i.name))
            .finish()
    }
}

/// The largest backoff between failed key set fetches.
const MAX_RETRY: Duration = Duration::from_secs(60);

fn validation(
    config: &IssuerConfig,
    max_token_bytes: usize,
) -> Result<Validation, IssuerStartError> {
    let mut builder = Validation::builder()
        .issuer(config.issuer.clone())
        .algorithms(config.algorithms)
        .leeway(config.leeway)
        .require_access_token_type(config.require_access_token_type)
        .max_token_size(max_token_bytes);
    for audience in &config.audiences {
        builder = builder.audience(audience.clone());
    }
    builder
        .build()
        .map_err(|e| IssuerStartError(format!("issuer {}: {}", config.issuer, e.message())))
}

fn introspection_verifier(
    config: &IntrospectionConfig,
    validation: Validation,
    http: &HttpClient,
) -> Result<IntrospectionVerifier, String> {
    let secret = match &config.secret {
        SecretSource::Env(variable) => Secret::from_env(variable)?,
        SecretSource::File(path) => Secret::from_file(path)?,
    };
    let auth = match config.auth_method {
        ClientAuthMethod::Basic => ClientAuth::ClientSecretBasic {
            client_id: config.client_id.clone(),
            client_secret: secret,
        },
        ClientAuthMethod::Post => ClientAuth::ClientSecretPost {
            client_id: config.client_id.clone(),
            client_secret: secret,
        },
    };
    let mut builder = IntrospectionVerifier::builder(config.endpoint.to_string(), auth, validation)
        .http_client(http.clone());
    builder = match config.cache_ttl {
        Some(ttl) => builder.cache_ttl(ttl),
        None => builder.no_cache(),
    };
    if let Some(ttl) = config.negative_cache_ttl {
        builder = builder.negative_ttl(ttl);
    }
    builder.build().map_err(|e| e.to_string())
}

impl IssuerSet {
    /// Loads static key sets, reads client secrets, and starts fetching remote key sets
    /// (in the background, with backoff: a down issuer does not stop the gateway from
    /// starting, it keeps `/readyz` false). Must run inside a tokio runtime.
    pub(crate) fn start(
        configs: &[IssuerConfig],
        max_token_bytes: usize,
    ) -> Result<IssuerSet, IssuerStartError> {
        let http = HttpClient::new();
        let mut issuers = Vec::with_capacity(configs.len());
        for config in configs {
            let fail = |what: String| IssuerStartError(format!("issuer {}: {what}", config.issuer));
            let validation = validation(config, max_token_bytes)?;
            let introspection = config
                .introspection
                .as_ref()
                .map(|c| introspection_verifier(c, validation.clone(), &http).map_err(fail))
                .transpose()?;
            let remote = |builder: RemoteKeySetBuilder| {
                builder
                    .http_client(http.clone())
                    .default_ttl(config.jwks_refresh)
                    .retry_backoff(config.jwks_retry, config.jwks_retry.max(MAX_RETRY))
                    .build()
                    .map_err(|e| fail(e.to_string()))
            };
            let (jwt, static_keys) = match &config.keys {
                KeySourceConfig::JwksFile(path) => {
                    let bytes = std::fs::read(path)
                        .map_err(|e| fail(format!("{}: {e}", path.display())))?;
                    let keys = KeySet::from_jwks(&bytes)
                        .map_err(|e| fail(format!("{}: {e}", path.display())))?;
                    if keys.is_empty() {
                        return Err(fail(format!(
                            "{}: the JWK Set has no usable signing key",
                            path.display()
                        )));
                    }
                    let count = keys.len() as u64;
                    (Some(JwtVerifier::with_static_keys(validation, keys)), count)
                }
                KeySourceConfig::JwksUri(uri) => {
                    let keys = remote(RemoteKeySet::from_jwks_url(&uri.to_string()))?;
                    (Some(JwtVerifier::with_remote_keys(validation, keys)), 0)
                }
                KeySourceConfig::Discovery => {
                    let keys = remote(RemoteKeySet::from_issuer(&config.issuer))?;
                    (Some(JwtVerifier::with_remote_keys(validation, keys)), 0)
                }
                KeySourceConfig::None => (None, 0),
            };
            issuers.push(Issuer {
                name: config.issuer.clone(),
                jwt,
                introspection,
                static_keys,
                cache_hits: AtomicU64::new(0),
                cache_misses: AtomicU64::new(0),
            });
        }
        let introspector = issuers.iter().position(|i| i.introspection.is_some());
        Ok(IssuerSet {
            inner: Arc::new(Inner {
                issuers,
                introspector,
                max_token_bytes,
            }),
        })
    }

    /// Which issuer handles `token` (its index), and whether as a JWT.
    fn select(&self, token: &str) -> Result<(usize, bool), VerifyError> {
        let inner = &*self.inner;
        let Ok(parsed) = UnverifiedToken::parse(token, inner.max_token_bytes) else {
            // Not a JWS: an opaque token, for the issuer that introspects.
            return match inner.introspector {
                Some(index) => Ok((index, false)),
                None => Err(VerifyError::token(portcullis_jwt::Error::from_kind(
                    ErrorKind::Malformed,
                ))),
            };
        };
        let index = if inner.issuers.len() == 1 {
            // Its own rules check `iss`: no need to read it here.
            0
        } else {
            #[derive(serde::Deserialize)]
            struct Iss {
                iss: Option<String>,
            }
            let payload = parsed.unverified_payload()?;
            let iss = serde_json::from_str::<Iss>(&payload)
                .ok()
                .and_then(|p| p.iss)
                .ok_or_else(|| {
                    portcullis_jwt::Error::with_reason(ErrorKind::InvalidIssuer, "no issuer")
                })?;
            inner
                .issuers
                .iter()
                .position(|i| i.name == iss)
                .ok_or_else(|| {
                    VerifyError::token(portcullis_jwt::Error::with_reason(
                        ErrorKind::InvalidIssuer,
                        "unknown issuer",
                    ))
                })?
        };
        Ok((index, inner.issuers[index].jwt.is_some()))
    }

    /// The issuers whose keys are not loaded yet (empty: ready).
    pub(crate) fn not_ready(&self) -> Vec<String> {
        self.inner
            .issuers
            .iter()
            .filter(|issuer| {
                issuer
                    .jwt
                    .as_ref()
                    .and_then(JwtVerifier::remote_keys)
                    .is_some_and(|keys| !keys.is_ready())
            })
            .map(|issuer| issuer.name.clone())
            .collect()
    }

    /// Per-issuer counters for `/metrics`.
    pub(crate) fn counters(&self) -> Vec<IssuerCounters> {
        self.inner
            .issuers
            .iter()
            .map(|issuer| {
                let mut counters = IssuerCounters {
                    issuer: issuer.name.clone(),
                    cache_hits: issuer.cache_hits.load(Ordering::Relaxed),
                    cache_misses: issuer.cache_misses.load(Ordering::Relaxed),
                    keys: issuer.static_keys,
                    ..IssuerCounters::default()
                };
                if let Some(keys) = issuer.jwt.as_ref().and_then(JwtVerifier::remote_keys) {
                    let stats = keys.stats();
                    counters.fetches = stats.fetches;
                    counters.fetch_failures = stats.failures;
                    counters.unknown_kid_refetches = stats.unknown_kid_refetches;
                    counters.negative_cache_hits = stats.negative_cache_hits;
                    counters.keys = stats.keys as u64;
                }
                if let Some(introspection) = &issuer.introspection {
                    counters.introspections = introspection.calls();
                    counters.introspection_failures = introspection.failures();
                    if let Some(stats) = introspection.cache_stats() {
                        counters.introspection_cache_hits = stats.hits;
                        counters.introspection_cache_misses = stats.misses;
                    }
                }
                counters
            })
            .collect()
    }
}

impl portcullis::Verifier for IssuerSet {
    type Future = BoxFuture;

    fn verify(&self, token: &str) -> BoxFuture {
        let (index, as_jwt) = match self.select(token) {
            Ok(selected) => selected,
            Err(error) => return Box::pin(std::future::ready(Err(error))),
        };
        let set = self.clone();
        let token = token.to_owned();
        Box::pin(async move {
            let issuer = &set.inner.issuers[index];
            let verifier = match (&issuer.jwt, as_jwt) {
                (Some(verifier), true) => verifier,
                _ => {
                    return match &issuer.introspection {
                        Some(introspection) => introspection.verify(&token).await,
                        None => Err(VerifyError::token(portcullis_jwt::Error::from_kind(
                            ErrorKind::Malformed,
                        ))),
                    };
                }
            };
            let result = verifier.verify(&token).await;
            let miss = match &result {
                Ok(_) => false,
                Err(e) => {
                    e.kind() == VerifyErrorKind::Unavailable
                        || e.token_error()
                            .is_some_and(|t| t.kind() == ErrorKind::UnknownKeyId)
                }
            };
            let counter = if miss {
                &issuer.cache_misses
            } else {
                &issuer.cache_hits
            };
            counter.fetch_add(1, Ordering::Relaxed);
            result
        })
    }
}
