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
    HttpClient, JwtVerifier, RemoteKeySet, RemoteKeySetBuilder, RevocationCheck, Revocations,
    Startup, TokenCache, TokenCacheStats,
};
use portcullis_jwt::{Claims, KeySet, Validation};

use crate::config::{
    ClientAuthMethod, ConfigFileError, IntrospectionConfig, IssuerConfig, KeySourceConfig,
    SecretSource, StoreConfig, library_error,
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
    /// `None` with no issuers (only anonymous routes): every token is refused.
    verifier: Option<IssuerVerifier>,
    issuers: Arc<[Issuer]>,
}

/// The issuers' verifier, with pushed revocations refused when a store is configured.
#[derive(Clone, Debug)]
enum IssuerVerifier {
    Plain(MultiIssuerVerifier),
    Revocable(RevocationCheck<MultiIssuerVerifier>),
}

/// What `/readyz` and `/metrics` read of one issuer, and what a reload compares to
/// reuse it (its key set and caches warm).
struct Issuer {
    name: String,
    jwt: Option<JwtVerifier>,
    introspection: Option<IntrospectionVerifier>,
    /// Static sets count their keys once.
    static_keys: u64,
    /// The issuer's table as written, and what its local files and secret held.
    written: toml::Value,
    sources: LocalSources,
}

/// What an issuer read from files and the environment: a reload reuses an issuer only
/// if these are unchanged too. Never printed.
#[derive(Clone, PartialEq, Eq, Default)]
struct LocalSources {
    jwks_file: Option<Vec<u8>>,
    secret: Option<Secret>,
}

impl fmt::Debug for LocalSources {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalSources").finish_non_exhaustive()
    }
}

impl fmt::Debug for IssuerSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.verifier, f)
    }
}

/// The issuers, checked by the library's own builders and loaded from their local
/// sources (key files, client secrets), with nothing fetched and no task started: what
/// `check-config` runs, and what `run` starts. So the two cannot disagree about anything
/// short of the network and the listeners.
#[derive(Debug)]
pub(crate) struct PreparedIssuers {
    issuers: Vec<PreparedIssuer>,
}

#[derive(Debug)]
struct PreparedIssuer {
    config: IssuerConfig,
    sources: LocalSources,
    http: HttpClient,
    validation: Validation,
    introspection: Option<IntrospectionVerifier>,
    static_keys: Option<KeySet>,
    token_cache: Option<TokenCache<Claims>>,
}

fn introspection_verifier(
    config: &IntrospectionConfig,
    validation: Validation,
    http: &HttpClient,
    at: &str,
    sources: &mut LocalSources,
    store: Option<&StoreConfig>,
) -> Result<IntrospectionVerifier, ConfigFileError> {
    let secret = match &config.secret {
        SecretSource::Env(variable) => Secret::from_env(variable)
            .map_err(|m| ConfigFileError::new(format!("{at}.client_secret_env"), m))?,
        SecretSource::File(path) => Secret::from_file(path)
            .map_err(|m| ConfigFileError::new(format!("{at}.client_secret_file"), m))?,
    };
    sources.secret = Some(secret.clone());
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
    if let Some((tier, keys)) = store.and_then(StoreConfig::shared_tier) {
        builder = builder.shared_tier(tier, keys);
    }
    builder.build().map_err(|e| {
        library_error(
            at,
            &e,
            &[("endpoint", "endpoint"), ("shared_tier", "cache")],
        )
    })
}

/// The one description of a fetched key set, for the dry build and the real one.
pub(crate) fn key_set_builder(
    config: &IssuerConfig,
    http: &HttpClient,
) -> Option<RemoteKeySetBuilder> {
    let builder = match &config.keys {
        KeySourceConfig::JwksUri(uri) => RemoteKeySet::from_jwks_url(&uri.to_string()),
        KeySourceConfig::Discovery => RemoteKeySet::from_issuer(&config.issuer),
        KeySourceConfig::JwksFile(_) | KeySourceConfig::None => return None,
    };
    Some(
        builder
            .http_client(http.clone())
            .default_ttl(config.jwks_refresh)
            .ttl_bounds(config.jwks_min_lifetime, config.jwks_max_lifetime)
            .max_staleness(config.jwks_max_staleness)
            .unknown_kid_cooldown(config.unknown_kid_cooldown)
            .retry_backoff(
                config.jwks_retry,
                config.jwks_retry.max(portcullis_issuer::DEFAULT_RETRY_MAX),
            ),
    )
}

pub(crate) fn static_keys(path: &std::path::Path, at: &str) -> Result<KeySet, ConfigFileError> {
    static_keys_and_bytes(path, at).map(|(keys, _)| keys)
}

fn static_keys_and_bytes(
    path: &std::path::Path,
    at: &str,
) -> Result<(KeySet, Vec<u8>), ConfigFileError> {
    let at = format!("{at}.jwks_file");
    let bytes = std::fs::read(path)
        .map_err(|e| ConfigFileError::new(&at, format!("{}: {e}", path.display())))?;
    let keys = KeySet::from_jwks(&bytes)
        .map_err(|e| ConfigFileError::new(&at, format!("{}: {e}", path.display())))?;
    if keys.is_empty() {
        return Err(ConfigFileError::new(
            at,
            format!("{}: the JWK Set has no usable signing key", path.display()),
        ));
    }
    Ok((keys, bytes))
}

fn prepare_one(
    config: &IssuerConfig,
    at: &str,
    store: Option<&StoreConfig>,
) -> Result<PreparedIssuer, ConfigFileError> {
    let http = HttpClient::builder()
        .timeout(config.http_timeout)
        .connect_timeout(config.http_connect_timeout)
        .build()
        .map_err(|e| {
            library_error(
                at,
                &e,
                &[
                    ("timeout", "http_timeout"),
                    ("connect_timeout", "http_connect_timeout"),
                ],
            )
        })?;
    let validation = config.validation.clone();
    let mut sources = LocalSources::default();
    let introspection = config
        .introspection
        .as_ref()
        .map(|c| {
            introspection_verifier(
                c,
                validation.clone(),
                &http,
                &format!("{at}.introspection"),
                &mut sources,
                store,
            )
        })
        .transpose()?;
    let static_keys = match &config.keys {
        KeySourceConfig::JwksFile(path) => {
            let (keys, bytes) = static_keys_and_bytes(path, at)?;
            sources.jwks_file = Some(bytes);
            Some(keys)
        }
        _ => None,
    };
    // A dry build: lazy, no background task, so nothing is fetched or spawned; the
    // library refuses here whatever it would refuse at start.
    if let Some(builder) = key_set_builder(config, &http) {
        builder
            .startup(Startup::Lazy)
            .background_refresh(false)
            .build()
            .map_err(|e| {
                let url = match config.keys {
                    KeySourceConfig::Discovery => "issuer",
                    _ => "jwks_uri",
                };
                library_error(
                    at,
                    &e,
                    &[
                        ("url", url),
                        ("default_ttl", "jwks_refresh"),
                        ("ttl_bounds", "jwks_min_lifetime"),
                        ("retry_backoff", "jwks_retry"),
                        ("unknown_kid_cooldown", "unknown_kid_cooldown"),
                    ],
                )
            })?;
    }
    let token_cache = match (&config.keys, config.token_cache) {
        (KeySourceConfig::None, _) | (_, None) => None,
        (_, Some(capacity)) => Some(
            TokenCache::<Claims>::builder()
                .capacity(capacity)
                .build()
                .map_err(|e| library_error(at, &e, &[("capacity", "token_cache_capacity")]))?,
        ),
    };
    Ok(PreparedIssuer {
        config: config.clone(),
        sources,
        http,
        validation,
        introspection,
        static_keys,
        token_cache,
    })
}

impl PreparedIssuers {
    /// Checks every issuer with the library's builders, reads key files and client
    /// secrets. No network, no runtime needed.
    pub(crate) fn prepare(
        configs: &[IssuerConfig],
        store: Option<&StoreConfig>,
    ) -> Result<PreparedIssuers, ConfigFileError> {
        let issuers = configs
            .iter()
            .enumerate()
            .map(|(i, config)| prepare_one(config, &format!("issuers[{i}]"), store))
            .collect::<Result<_, _>>()?;
        Ok(PreparedIssuers { issuers })
    }
}

impl IssuerSet {
    /// Starts fetching remote key sets (in the background, with backoff: a down issuer
    /// does not stop the gateway from starting, it keeps `/readyz` false). Must run
    /// inside a tokio runtime.
    pub(crate) fn start(
        prepared: PreparedIssuers,
        revocations: Option<&Revocations>,
    ) -> Result<IssuerSet, IssuerStartError> {
        IssuerSet::start_reusing(prepared, None, revocations)
    }

    /// As [`IssuerSet::start`], reusing the issuers of `previous` whose table is written
    /// the same and whose key file and secret read the same: their key sets, verified
    /// tokens and introspection results stay warm across a reload.
    pub(crate) fn start_reusing(
        prepared: PreparedIssuers,
        previous: Option<&IssuerSet>,
        revocations: Option<&Revocations>,
    ) -> Result<IssuerSet, IssuerStartError> {
        if prepared.issuers.is_empty() {
            // Only anonymous routes: nothing is ever verified.
            return Ok(IssuerSet {
                verifier: None,
                issuers: Arc::new([]),
            });
        }
        let mut issuers = Vec::with_capacity(prepared.issuers.len());
        let mut builder = MultiIssuerVerifier::builder();
        for issuer in prepared.issuers {
            let reusable = previous.and_then(|previous| {
                previous.issuers.iter().find(|old| {
                    old.name == issuer.config.issuer
                        && old.written == issuer.config.written
                        && old.sources == issuer.sources
                })
            });
            let PreparedIssuer {
                config,
                sources,
                http,
                validation,
                introspection,
                static_keys,
                token_cache,
            } = issuer;
            let fail = |what: String| IssuerStartError(format!("issuer {}: {what}", config.issuer));
            let static_count = static_keys.as_ref().map_or(0, |keys| keys.len() as u64);
            let (jwt, introspection) = match reusable {
                Some(old) => (old.jwt.clone(), old.introspection.clone()),
                None => {
                    let jwt = match (static_keys, key_set_builder(&config, &http)) {
                        (Some(keys), _) => Some(JwtVerifier::with_static_keys(validation, keys)),
                        (None, Some(remote)) => Some(JwtVerifier::with_remote_keys(
                            validation,
                            remote.build().map_err(|e| fail(e.to_string()))?,
                        )),
                        (None, None) => None,
                    };
                    let jwt = match (jwt, token_cache) {
                        (Some(jwt), Some(cache)) => Some(jwt.with_token_cache(cache)),
                        (jwt, _) => jwt,
                    };
                    (jwt, introspection)
                }
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
                static_keys: static_count,
                written: config.written,
                sources,
            });
        }
        let verifier = builder
            .build()
            .map_err(|e| IssuerStartError(e.message().to_owned()))?;
        let issuers: Arc<[Issuer]> = issuers.into();
        let verifier = match revocations {
            None => IssuerVerifier::Plain(verifier),
            Some(revocations) => {
                // A revocation drops the matching cached results at once (memory is not
                // held for tokens that can no longer pass); the check refuses them anyway.
                // Weak: a configuration replaced by a reload is not kept alive by it.
                let cached = Arc::downgrade(&issuers);
                revocations.on_revoke(move |revoked| {
                    let Some(cached) = cached.upgrade() else {
                        return;
                    };
                    for introspection in cached.iter().filter_map(|i| i.introspection.as_ref()) {
                        introspection.forget_matching(|claims| revoked.matches(claims));
                    }
                });
                IssuerVerifier::Revocable(RevocationCheck::new(verifier, revocations.clone()))
            }
        };
        Ok(IssuerSet {
            verifier: Some(verifier),
            issuers,
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

impl IssuerSet {
    /// The introspection shared tier's counters per issuer, for `/metrics`.
    pub(crate) fn render_shared_tier(&self, out: &mut String) {
        use std::fmt::Write as _;
        out.push_str(
            "# HELP portcullis_gateway_introspection_shared_total In-process introspection cache misses by what the shared tier did.\n\
             # TYPE portcullis_gateway_introspection_shared_total counter\n",
        );
        for issuer in self.issuers.iter() {
            let Some(stats) = issuer
                .introspection
                .as_ref()
                .and_then(IntrospectionVerifier::shared_tier_stats)
            else {
                continue;
            };
            let name = crate::metrics::escape(&issuer.name);
            for (result, count) in [
                ("hit", stats.hits),
                ("miss", stats.misses),
                ("error", stats.errors),
                ("rejected", stats.rejected),
            ] {
                let _ = writeln!(
                    out,
                    "portcullis_gateway_introspection_shared_total{{issuer=\"{name}\",result=\"{result}\"}} {count}"
                );
            }
        }
    }
}

impl portcullis::Verifier for IssuerSet {
    type Future = VerifyFuture;

    fn verify(&self, token: &str) -> portcullis::Verification<VerifyFuture> {
        match &self.verifier {
            Some(IssuerVerifier::Plain(verifier)) => portcullis::Verifier::verify(verifier, token),
            // The check's future boxed once more, on the pending path only.
            Some(IssuerVerifier::Revocable(verifier)) => {
                portcullis::Verifier::verify(verifier, token).map_pending(VerifyFuture::waiting)
            }
            None => portcullis::Verifier::verify(&Refuse, token),
        }
    }
}

/// The verifier of a gateway with no issuers (only anonymous routes): never called.
/// Also what the configuration check builds a layer around to ask the library about
/// the realm.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Refuse;

impl portcullis::Verifier for Refuse {
    type Future = VerifyFuture;

    fn verify(&self, _token: &str) -> portcullis::Verification<VerifyFuture> {
        portcullis::Verification::Done(Err(portcullis_issuer::VerifyError::token(
            portcullis_jwt::Error::from_kind(portcullis_jwt::ErrorKind::InvalidIssuer),
        )))
    }
}
