//! Who the caller is: the bearer token, its verification, and the route's requirement.
//!
//! Verification sits behind [`Authenticate`], a small internal seam. Today it is
//! implemented with `portcullis_issuer::JwtVerifier` over key sets this module loads
//! itself (a file, a `jwks_uri`, or discovery); when the `portcullis` layers and
//! `portcullis-issuer`'s remote key set and introspection client are merged, they
//! replace [`IssuerSet`] behind the same seam.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderMap, Uri, header};
use http_body_util::{BodyExt, Empty, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use portcullis_issuer::{JwtVerifier, VerifyError};
use portcullis_jwt::{Claims, ErrorKind, KeySet, UnverifiedToken, Validation};
use tokio::sync::Notify;

use crate::config::{IssuerConfig, KeySourceConfig, Requirement};

/// A boxed future, for the object-safe seam.
pub(crate) type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The verification seam: a token in, verified claims or a [`VerifyError`] out.
pub(crate) trait Authenticate: Send + Sync + fmt::Debug {
    fn authenticate<'a>(&'a self, token: &'a str) -> BoxFuture<'a, Result<Claims, VerifyError>>;

    /// The issuers whose keys are not loaded yet (empty: ready).
    fn not_ready(&self) -> Vec<String>;
}

/// Counters one key source keeps, read by `/metrics`. The hook the remote key set of
/// `portcullis-issuer` reports into once it is wired in.
#[derive(Debug, Default)]
pub struct KeySourceStats {
    /// Key set fetches attempted.
    pub fetches: AtomicU64,
    /// Key set fetches that failed (network, status, body, or an unusable set).
    pub fetch_failures: AtomicU64,
    /// Verifications that found their key in the cached set.
    pub cache_hits: AtomicU64,
    /// Verifications that found no cached set or an unknown `kid`.
    pub cache_misses: AtomicU64,
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

/// The configured issuers, each with its own rules and keys.
#[derive(Debug)]
pub(crate) struct IssuerSet {
    issuers: Vec<Issuer>,
    max_token_bytes: usize,
}

#[derive(Debug)]
pub(crate) struct Issuer {
    pub(crate) name: String,
    source: Source,
    pub(crate) stats: Arc<KeySourceStats>,
}

#[derive(Debug)]
enum Source {
    Static(JwtVerifier),
    Remote(Arc<RemoteKeys>),
}

#[derive(Debug)]
struct RemoteKeys {
    validation: Validation,
    current: RwLock<Option<JwtVerifier>>,
    /// Woken on an unknown `kid`: the issuer may have rotated.
    refresh: Notify,
}

/// How long a client is told to wait while an issuer's keys are missing.
const RETRY_AFTER: Duration = Duration::from_secs(5);
/// Key sets larger than this are refused.
const MAX_JWKS_BYTES: usize = 1024 * 1024;
/// An unknown `kid` triggers a refetch at most this often.
const MIN_KID_REFRESH: Duration = Duration::from_secs(30);
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);

type FetchClient = Client<HttpConnector, Empty<Bytes>>;

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
    /// Loads static key sets and starts a refresher task per remote one. Must run inside
    /// a tokio runtime.
    pub(crate) fn start(
        configs: &[IssuerConfig],
        max_token_bytes: usize,
    ) -> Result<IssuerSet, IssuerStartError> {
        let client: FetchClient = Client::builder(TokioExecutor::new()).build_http();
        let mut issuers = Vec::with_capacity(configs.len());
        for config in configs {
            if config.introspection.is_some() {
                return Err(IssuerStartError(format!(
                    "issuer {}: introspection is configured, but this build has no \
                     introspection client yet (it arrives with portcullis-issuer's RFC 7662 \
                     support); refusing to start rather than refuse every opaque token",
                    config.issuer
                )));
            }
            let validation = validation(config, max_token_bytes)?;
            let stats = Arc::new(KeySourceStats::default());
            let source = match &config.keys {
                KeySourceConfig::JwksFile(path) => {
                    let bytes = std::fs::read(path).map_err(|e| {
                        IssuerStartError(format!(
                            "issuer {}: {}: {e}",
                            config.issuer,
                            path.display()
                        ))
                    })?;
                    let keys = usable_key_set(&bytes).map_err(|e| {
                        IssuerStartError(format!(
                            "issuer {}: {}: {e}",
                            config.issuer,
                            path.display()
                        ))
                    })?;
                    Source::Static(JwtVerifier::with_static_keys(validation, keys))
                }
                KeySourceConfig::JwksUri(_) | KeySourceConfig::Discovery => {
                    let uri = match &config.keys {
                        KeySourceConfig::JwksUri(uri) => Some(uri.clone()),
                        _ => None,
                    };
                    if uri
                        .as_ref()
                        .map_or(config.issuer.starts_with("https:"), |u| {
                            u.scheme_str() == Some("https")
                        })
                    {
                        return Err(IssuerStartError(format!(
                            "issuer {}: https key sources need portcullis-issuer's remote key \
                             set, not merged into this build yet; use jwks_file, or an http \
                             loopback jwks_uri behind a local fetcher",
                            config.issuer
                        )));
                    }
                    let remote = Arc::new(RemoteKeys {
                        validation,
                        current: RwLock::new(None),
                        refresh: Notify::new(),
                    });
                    tokio::spawn(refresher(
                        client.clone(),
                        config.clone(),
                        uri,
                        remote.clone(),
                        stats.clone(),
                    ));
                    Source::Remote(remote)
                }
                KeySourceConfig::None => {
                    return Err(IssuerStartError(format!(
                        "issuer {}: no key source",
                        config.issuer
                    )));
                }
            };
            issuers.push(Issuer {
                name: config.issuer.clone(),
                source,
                stats,
            });
        }
        Ok(IssuerSet {
            issuers,
            max_token_bytes,
        })
    }

    pub(crate) fn issuers(&self) -> &[Issuer] {
        &self.issuers
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
            let verifier = match &issuer.source {
                Source::Static(verifier) => verifier.clone(),
                Source::Remote(remote) => {
                    let current = remote
                        .current
                        .read()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .clone();
                    let Some(verifier) = current else {
                        issuer.stats.cache_misses.fetch_add(1, Ordering::Relaxed);
                        remote.refresh.notify_one();
                        return Err(VerifyError::unavailable(
                            "the issuer's keys are not available",
                            RETRY_AFTER,
                        ));
                    };
                    verifier
                }
            };
            let result = verifier.verify(token).await;
            match &result {
                Err(e)
                    if e.token_error()
                        .is_some_and(|t| t.kind() == ErrorKind::UnknownKeyId) =>
                {
                    issuer.stats.cache_misses.fetch_add(1, Ordering::Relaxed);
                    if let Source::Remote(remote) = &issuer.source {
                        remote.refresh.notify_one();
                    }
                }
                _ => {
                    issuer.stats.cache_hits.fetch_add(1, Ordering::Relaxed);
                }
            }
            result
        })
    }

    fn not_ready(&self) -> Vec<String> {
        self.issuers
            .iter()
            .filter(|issuer| match &issuer.source {
                Source::Static(_) => false,
                Source::Remote(remote) => remote
                    .current
                    .read()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .is_none(),
            })
            .map(|issuer| issuer.name.clone())
            .collect()
    }
}

fn usable_key_set(bytes: &[u8]) -> Result<KeySet, String> {
    let keys = KeySet::from_jwks(bytes).map_err(|e| e.to_string())?;
    if keys.is_empty() {
        return Err("the JWK Set has no usable signing key".to_owned());
    }
    Ok(keys)
}

/// Keeps one issuer's key set fresh: fetch, then wait for the refresh interval (or an
/// unknown-`kid` nudge, at most every [`MIN_KID_REFRESH`]); on failure retry sooner and
/// keep the last good set.
async fn refresher(
    client: FetchClient,
    config: IssuerConfig,
    jwks_uri: Option<Uri>,
    remote: Arc<RemoteKeys>,
    stats: Arc<KeySourceStats>,
) {
    let mut last_fetch: Option<Instant> = None;
    loop {
        stats.fetches.fetch_add(1, Ordering::Relaxed);
        last_fetch.replace(Instant::now());
        let outcome = fetch_keys(&client, &config, jwks_uri.as_ref()).await;
        let wait = match outcome {
            Ok(keys) => {
                tracing::info!(issuer = %config.issuer, keys = keys.len(), "key set loaded");
                let verifier = JwtVerifier::with_static_keys(remote.validation.clone(), keys);
                *remote
                    .current
                    .write()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(verifier);
                config.jwks_refresh
            }
            Err(reason) => {
                stats.fetch_failures.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(issuer = %config.issuer, %reason, "key set fetch failed");
                config.jwks_retry
            }
        };
        let have_keys = remote
            .current
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .is_some();
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = remote.refresh.notified() => {
                // Without keys, a nudge means a request is waiting: retry on the retry
                // schedule. With keys, rate-limit kid-driven refetches.
                let min = if have_keys { MIN_KID_REFRESH } else { config.jwks_retry };
                if let Some(at) = last_fetch {
                    let elapsed = at.elapsed();
                    if elapsed < min {
                        tokio::time::sleep(min - elapsed).await;
                    }
                }
            }
        }
    }
}

async fn get(client: &FetchClient, uri: &Uri) -> Result<Bytes, String> {
    let request = http::Request::get(uri.clone())
        .header(header::ACCEPT, "application/json")
        .body(Empty::new())
        .map_err(|e| e.to_string())?;
    let response = tokio::time::timeout(FETCH_TIMEOUT, client.request(request))
        .await
        .map_err(|_| "timed out".to_owned())?
        .map_err(|e| format!("request failed: {e}"))?;
    if !response.status().is_success() {
        return Err(format!("status {}", response.status()));
    }
    let body = tokio::time::timeout(
        FETCH_TIMEOUT,
        Limited::new(response.into_body(), MAX_JWKS_BYTES).collect(),
    )
    .await
    .map_err(|_| "timed out reading the body".to_owned())?
    .map_err(|e| format!("reading the body: {e}"))?;
    Ok(body.to_bytes())
}

async fn fetch_keys(
    client: &FetchClient,
    config: &IssuerConfig,
    jwks_uri: Option<&Uri>,
) -> Result<KeySet, String> {
    let uri = match jwks_uri {
        Some(uri) => uri.clone(),
        None => discover(client, config).await?,
    };
    let body = get(client, &uri).await?;
    usable_key_set(&body)
}

/// OpenID Connect discovery: the metadata must name the configured issuer exactly.
async fn discover(client: &FetchClient, config: &IssuerConfig) -> Result<Uri, String> {
    #[derive(serde::Deserialize)]
    struct Metadata {
        issuer: String,
        jwks_uri: String,
    }
    let url = format!(
        "{}/.well-known/openid-configuration",
        config.issuer.trim_end_matches('/')
    );
    let uri: Uri = url.parse().map_err(|_| "bad discovery URL".to_owned())?;
    let body = get(client, &uri).await?;
    let metadata: Metadata =
        serde_json::from_slice(&body).map_err(|e| format!("discovery document: {e}"))?;
    if metadata.issuer != config.issuer {
        return Err("the discovery document names another issuer".to_owned());
    }
    let jwks: Uri = metadata
        .jwks_uri
        .parse()
        .map_err(|_| "the discovery document's jwks_uri is not a URL".to_owned())?;
    if jwks.scheme_str() != uri.scheme_str() {
        return Err("the discovery document's jwks_uri changes scheme".to_owned());
    }
    Ok(jwks)
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
