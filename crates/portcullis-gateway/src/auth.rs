//! Who the caller is: one [`portcullis::Verifier`] over every configured issuer.
//!
//! Per issuer: a `portcullis_issuer::JwtVerifier` (keys from a `RemoteKeySet` through
//! discovery or `jwks_uri`, or a static `jwks_file`; verified tokens cached), an
//! `IntrospectionVerifier` (RFC 7662), or both joined by `portcullis::HybridVerifier`
//! (JWS-shaped tokens to the keys, the rest to introspection). The issuers are joined
//! by `portcullis::MultiIssuerVerifier`: a JWT goes to the issuer its unverified `iss`
//! names, among the configured ones only; an opaque token to the one issuer that
//! introspects. [`IssuerSet`] adds readiness and counters for the operations endpoints.

use std::fmt;
use std::sync::Arc;

use portcullis::{HybridVerifier, MultiIssuerVerifier, VerifyFuture};
use portcullis_issuer::introspection::{ClientAuth, IntrospectionVerifier, Secret};
use portcullis_issuer::{
    HttpClient, JwtVerifier, RemoteKeySet, RemoteKeySetBuilder, TokenCache, TokenCacheStats,
};
use portcullis_jwt::{Claims, KeySet, Validation};

use crate::config::{
    ClientAuthMethod, IntrospectionConfig, IssuerConfig, KeySourceConfig, SecretSource,
};

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
    /// Verified-token cache: JWTs answered without verifying again, and lookups that
    /// found nothing.
    pub(crate) token_cache_hits: u64,
    pub(crate) token_cache_misses: u64,
    /// Verified-token cache lookups that found an entry past its lifetime.
    pub(crate) token_cache_expired: u64,
    /// Usable keys in the current set.
    pub(crate) keys: u64,
    /// Introspection requests sent, and those that failed.
    pub(crate) introspections: u64,
    pub(crate) introspection_failures: u64,
    /// Introspection results served from the cache, and looked up in vain.
    pub(crate) introspection_cache_hits: u64,
    pub(crate) introspection_cache_misses: u64,
    /// Introspection cache lookups that found an entry past its lifetime: neither a hit
    /// nor a miss, so without this the hit rate reads higher than it is.
    pub(crate) introspection_cache_expired: u64,
}

/// The configured issuers. Cheap to clone.
#[derive(Clone)]
pub(crate) struct IssuerSet {
    verifier: MultiIssuerVerifier,
    issuers: Arc<[Issuer]>,
}

/// What `/readyz` and `/metrics` read of one issuer.
struct Issuer {
    name: String,
    jwt: Option<JwtVerifier>,
    introspection: Option<IntrospectionVerifier>,
    /// Static sets count their keys once.
    static_keys: u64,
}

impl fmt::Debug for IssuerSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.verifier, f)
    }
}

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
        if configs.is_empty() {
            // Only anonymous routes: nothing is ever verified.
            return Ok(IssuerSet {
                verifier: MultiIssuerVerifier::builder()
                    .issuer("", Refuse)
                    .build()
                    .map_err(|e| IssuerStartError(e.message().to_owned()))?,
                issuers: Arc::new([]),
            });
        }
        let http = HttpClient::new();
        let mut issuers = Vec::with_capacity(configs.len());
        let mut builder = MultiIssuerVerifier::builder();
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
                    .retry_backoff(
                        config.jwks_retry,
                        config.jwks_retry.max(portcullis_issuer::DEFAULT_RETRY_MAX),
                    )
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
            let jwt = match (jwt, config.token_cache) {
                (Some(jwt), Some(capacity)) => Some(
                    jwt.with_token_cache(
                        TokenCache::<Claims>::builder()
                            .capacity(capacity)
                            .build()
                            .map_err(|e| fail(e.to_string()))?,
                    ),
                ),
                (jwt, _) => jwt,
            };
            builder = match (&jwt, &introspection) {
                (Some(jwt), Some(introspection)) => builder.issuer(
                    config.issuer.clone(),
                    HybridVerifier::new(jwt.clone(), introspection.clone()),
                ),
                (Some(jwt), None) => builder.issuer(config.issuer.clone(), jwt.clone()),
                (None, Some(introspection)) => {
                    builder.issuer(config.issuer.clone(), introspection.clone())
                }
                (None, None) => return Err(fail("no way to verify tokens".to_owned())),
            };
            if introspection.is_some() {
                builder = builder.opaque_tokens(config.issuer.clone());
            }
            issuers.push(Issuer {
                name: config.issuer.clone(),
                jwt,
                introspection,
                static_keys,
            });
        }
        let verifier = builder
            .build()
            .map_err(|e| IssuerStartError(e.message().to_owned()))?;
        Ok(IssuerSet {
            verifier,
            issuers: issuers.into(),
        })
    }

    /// The issuers whose keys are not loaded yet (empty: ready).
    pub(crate) fn not_ready(&self) -> Vec<String> {
        self.issuers
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
        self.issuers
            .iter()
            .map(|issuer| {
                let tokens = issuer
                    .jwt
                    .as_ref()
                    .and_then(JwtVerifier::token_cache_stats)
                    .unwrap_or_default();
                let mut counters = IssuerCounters {
                    issuer: issuer.name.clone(),
                    token_cache_hits: tokens.hits,
                    token_cache_misses: tokens.misses,
                    token_cache_expired: tokens.expired,
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
                    let stats: TokenCacheStats = introspection.cache_stats().unwrap_or_default();
                    counters.introspection_cache_hits = stats.hits;
                    counters.introspection_cache_misses = stats.misses;
                    counters.introspection_cache_expired = stats.expired;
                }
                counters
            })
            .collect()
    }
}

impl portcullis::Verifier for IssuerSet {
    type Future = VerifyFuture;

    fn verify(&self, token: &str) -> VerifyFuture {
        portcullis::Verifier::verify(&self.verifier, token)
    }

    fn start(&self, token: &str) -> portcullis::Verification<VerifyFuture> {
        portcullis::Verifier::start(&self.verifier, token)
    }

    fn accepts_only_b64tokens(&self) -> bool {
        portcullis::Verifier::accepts_only_b64tokens(&self.verifier)
    }
}

/// The verifier of a gateway with no issuers (only anonymous routes): never called.
struct Refuse;

impl portcullis::Verifier for Refuse {
    type Future = VerifyFuture;

    fn verify(&self, _token: &str) -> VerifyFuture {
        VerifyFuture::ready(Err(portcullis_issuer::VerifyError::token(
            portcullis_jwt::Error::from_kind(portcullis_jwt::ErrorKind::InvalidIssuer),
        )))
    }
}
