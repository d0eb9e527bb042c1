//! Who the caller is: the bearer token, its verification, and the route's requirement.
//!
//! Verification sits behind [`Authenticate`], a small internal seam, implemented by
//! [`IssuerSet`]: one `portcullis_issuer::JwtVerifier` per issuer, over a
//! `RemoteKeySet` (discovery or `jwks_uri`) or a static set (`jwks_file`). When the
//! `portcullis` layers and the introspection client are merged, their verifiers slot in
//! behind the same seam.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use http::{HeaderMap, header};
use portcullis_issuer::{
    HttpClient, JwtVerifier, RemoteKeySet, RemoteKeySetBuilder, VerifyError, VerifyErrorKind,
};
use portcullis_jwt::{Claims, ErrorKind, KeySet, UnverifiedToken, Validation};

use crate::config::{IssuerConfig, KeySourceConfig, Requirement};

/// A boxed future, for the object-safe seam.
pub(crate) type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The verification seam: a token in, verified claims or a [`VerifyError`] out.
pub(crate) trait Authenticate: Send + Sync + fmt::Debug {
    fn authenticate<'a>(&'a self, token: &'a str) -> BoxFuture<'a, Result<Claims, VerifyError>>;

    /// The issuers whose keys are not loaded yet (empty: ready).
    fn not_ready(&self) -> Vec<String>;

    /// Per-issuer counters for `/metrics`.
    fn counters(&self) -> Vec<IssuerCounters>;
}

/// What the request presented.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Credentials<'a> {
    /// No `Authorization` header, or one with another scheme.
    None,
    Bearer(&'a str),
    /// Malformed: RFC 6750 `invalid_request`.
    Invalid(&'static str),
}

/// Reads `Authorization: Bearer <b64token>` (scheme case-insensitive, exactly one header).
pub(crate) fn bearer(headers: &HeaderMap) -> Credentials<'_> {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return Credentials::None;
    };
    if values.next().is_some() {
        return Credentials::Invalid("more than one Authorization header");
    }
    let Ok(value) = value.to_str() else {
        return Credentials::Invalid("the Authorization header is not ASCII");
    };
    let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Credentials::None;
    }
    let token = rest.trim_start_matches(' ');
    if token.is_empty() {
        return Credentials::Invalid("the bearer token is empty");
    }
    let body = token.trim_end_matches('=');
    let valid = !body.is_empty()
        && body.bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'+' | b'/')
        });
    if !valid {
        return Credentials::Invalid("the bearer token is not a b64token");
    }
    Credentials::Bearer(token)
}

/// Why a verified token does not satisfy the route.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Shortfall {
    /// The scopes the route needs, space-separated, for `scope="..."`.
    Scope(String),
    Claim,
}

/// Checks an authenticated route's conditions against verified claims.
pub(crate) fn check(requirement: &Requirement, claims: &Claims) -> Result<(), Shortfall> {
    let Requirement::Authenticated {
        scopes_all,
        scopes_any,
        claim_equals,
        claim_contains,
    } = requirement
    else {
        return Ok(());
    };
    for scopes in [scopes_all, scopes_any].into_iter().flatten() {
        if !scopes.is_satisfied_by(claims.scopes()) {
            return Err(Shortfall::Scope(scopes.to_scope_string()));
        }
    }
    for (name, expected) in claim_equals {
        if claims.get(name) != Some(expected) {
            return Err(Shortfall::Claim);
        }
    }
    for (name, expected) in claim_contains {
        let found = match claims.get(name) {
            Some(serde_json::Value::Array(items)) => items.contains(expected),
            Some(serde_json::Value::String(text)) => expected
                .as_str()
                .is_some_and(|wanted| text.split(' ').any(|t| t == wanted)),
            _ => false,
        };
        if !found {
            return Err(Shortfall::Claim);
        }
    }
    Ok(())
}

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
    /// Verifications that found their key set and key.
    pub(crate) cache_hits: u64,
    /// Verifications with no usable key set, or an unknown `kid`.
    pub(crate) cache_misses: u64,
    /// Usable keys in the current set.
    pub(crate) keys: u64,
}

/// The configured issuers, each with its own rules and keys.
#[derive(Debug)]
pub(crate) struct IssuerSet {
    issuers: Vec<Issuer>,
    max_token_bytes: usize,
}

#[derive(Debug)]
struct Issuer {
    name: String,
    verifier: JwtVerifier,
    /// Static sets count their keys once.
    static_keys: u64,
    cache_hits: AtomicU64,
    cache_misses: AtomicU64,
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

impl IssuerSet {
    /// Loads static key sets and starts fetching remote ones (in the background, with
    /// backoff: a down issuer does not stop the gateway from starting, it keeps
    /// `/readyz` false). Must run inside a tokio runtime.
    pub(crate) fn start(
        configs: &[IssuerConfig],
        max_token_bytes: usize,
    ) -> Result<IssuerSet, IssuerStartError> {
        let http = HttpClient::new();
        let mut issuers = Vec::with_capacity(configs.len());
        for config in configs {
            let fail = |what: String| IssuerStartError(format!("issuer {}: {what}", config.issuer));
            if config.introspection.is_some() {
                return Err(fail(
                    "introspection is configured, but this build has no introspection \
                     client yet (it arrives with portcullis-issuer's RFC 7662 support); \
                     refusing to start rather than refuse every opaque token"
                        .to_owned(),
                ));
            }
            let validation = validation(config, max_token_bytes)?;
            let remote = |builder: RemoteKeySetBuilder| {
                builder
                    .http_client(http.clone())
                    .default_ttl(config.jwks_refresh)
                    .retry_backoff(config.jwks_retry, config.jwks_retry.max(MAX_RETRY))
                    .build()
                    .map_err(|e| fail(e.to_string()))
            };
            let (verifier, static_keys) = match &config.keys {
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
                    (JwtVerifier::with_static_keys(validation, keys), count)
                }
                KeySourceConfig::JwksUri(uri) => {
                    let keys = remote(RemoteKeySet::from_jwks_url(&uri.to_string()))?;
                    (JwtVerifier::with_remote_keys(validation, keys), 0)
                }
                KeySourceConfig::Discovery => {
                    let keys = remote(RemoteKeySet::from_issuer(&config.issuer))?;
                    (JwtVerifier::with_remote_keys(validation, keys), 0)
                }
                KeySourceConfig::None => return Err(fail("no key source".to_owned())),
            };
            issuers.push(Issuer {
                name: config.issuer.clone(),
                verifier,
                static_keys,
                cache_hits: AtomicU64::new(0),
                cache_misses: AtomicU64::new(0),
            });
        }
        Ok(IssuerSet {
            issuers,
            max_token_bytes,
        })
    }

    /// The issuer a token claims, among the configured ones. With one issuer no parsing
    /// is needed: its own rules check `iss`.
    fn select(&self, token: &str) -> Result<&Issuer, VerifyError> {
        if let [only] = self.issuers.as_slice() {
            return Ok(only);
        }
        #[derive(serde::Deserialize)]
        struct Iss {
            iss: Option<String>,
        }
        let parsed = UnverifiedToken::parse(token, self.max_token_bytes)?;
        let payload = parsed.unverified_payload()?;
        let iss = serde_json::from_str::<Iss>(&payload)
            .ok()
            .and_then(|p| p.iss)
            .ok_or_else(|| {
                portcullis_jwt::Error::with_reason(ErrorKind::InvalidIssuer, "no issuer")
            })?;
        self.issuers.iter().find(|i| i.name == iss).ok_or_else(|| {
            VerifyError::token(portcullis_jwt::Error::with_reason(
                ErrorKind::InvalidIssuer,
                "unknown issuer",
            ))
        })
    }
}

impl Authenticate for IssuerSet {
    fn authenticate<'a>(&'a self, token: &'a str) -> BoxFuture<'a, Result<Claims, VerifyError>> {
        Box::pin(async move {
            let issuer = self.select(token)?;
            let result = issuer.verifier.verify(token).await;
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

    fn not_ready(&self) -> Vec<String> {
        self.issuers
            .iter()
            .filter(|issuer| {
                issuer
                    .verifier
                    .remote_keys()
                    .is_some_and(|keys| !keys.is_ready())
            })
            .map(|issuer| issuer.name.clone())
            .collect()
    }

    fn counters(&self) -> Vec<IssuerCounters> {
        self.issuers
            .iter()
            .map(|issuer| {
                let mut counters = IssuerCounters {
                    issuer: issuer.name.clone(),
                    cache_hits: issuer.cache_hits.load(Ordering::Relaxed),
                    cache_misses: issuer.cache_misses.load(Ordering::Relaxed),
                    keys: issuer.static_keys,
                    ..IssuerCounters::default()
                };
                if let Some(keys) = issuer.verifier.remote_keys() {
                    let stats = keys.stats();
                    counters.fetches = stats.fetches;
                    counters.fetch_failures = stats.failures;
                    counters.unknown_kid_refetches = stats.unknown_kid_refetches;
                    counters.negative_cache_hits = stats.negative_cache_hits;
                    counters.keys = stats.keys as u64;
                }
                counters
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(values: &[&str]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for v in values {
            map.append(header::AUTHORIZATION, HeaderValue::from_str(v).unwrap());
        }
        map
    }

    #[test]
    fn bearer_extraction() {
        assert_eq!(bearer(&headers(&[])), Credentials::None);
        assert_eq!(bearer(&headers(&["Basic abc"])), Credentials::None);
        assert_eq!(
            bearer(&headers(&["bearer  a.b.c"])),
            Credentials::Bearer("a.b.c")
        );
        assert_eq!(
            bearer(&headers(&["Bearer abc=="])),
            Credentials::Bearer("abc==")
        );
        assert!(matches!(
            bearer(&headers(&["Bearer "])),
            Credentials::Invalid(_)
        ));
        assert!(matches!(
            bearer(&headers(&["Bearer a b"])),
            Credentials::Invalid(_)
        ));
        assert!(matches!(
            bearer(&headers(&["Bearer ="])),
            Credentials::Invalid(_)
        ));
        assert!(matches!(
            bearer(&headers(&["Bearer a", "Bearer b"])),
            Credentials::Invalid(_)
        ));
    }
}
