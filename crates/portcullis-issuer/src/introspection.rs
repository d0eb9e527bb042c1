//! RFC 7662 token introspection: opaque access tokens checked by asking the issuer,
//! with a cache.
//!
//! [`IntrospectionVerifier`] POSTs the token to the introspection endpoint (found by
//! discovery or configured), authenticated as the resource server, under the same HTTP
//! rules as every other request to the issuer. An `active` answer is then held to the
//! same rules as a JWT (issuer, audience, expiry with leeway) and becomes the same
//! [`Claims`], marked [`VerifiedBy::Introspection`]. A failure to ask (timeout, 5xx, a
//! 401 or 403 from the endpoint, an unreadable answer) is
//! [`crate::VerifyErrorKind::Unavailable`] (503), never acceptance; an inactive token is
//! `invalid_token` (401), and so is one the endpoint refuses with a `400` RFC 6749 §5.2
//! error (`unsupported_token_type`, `invalid_request` or `invalid_token`).
//!
//! # The cache, and revocation
//!
//! Results are cached under a keyed hash of the token (never the token itself), bounded
//! in size, with one introspection call for any number of concurrent requests carrying
//! the same uncached token. An active result is kept at most
//! [`DEFAULT_INTROSPECTION_CACHE_TTL`] (configurable) and never accepted past the token's
//! `exp`: time, issuer and audience rules run on every hit, and scopes are checked per
//! route by the layer on every request. An inactive or refused result is kept for
//! [`DEFAULT_NEGATIVE_TTL`], so a flood of bad tokens costs one call each per window.
//!
//! The trade-off: **a revoked token keeps working for at most the cache lifetime.**
//! Lower the lifetime for a shorter revocation window, or turn the cache off
//! ([`IntrospectionVerifierBuilder::no_cache`]) to ask the issuer on every request, or
//! push revocations ([`crate::revocation`]).
//!
//! # Replicas
//!
//! With [`IntrospectionVerifierBuilder::shared_tier`], a miss of the in-process cache
//! reads a second tier shared by replicas (Redis, in `portcullis-redis`) before asking
//! the issuer, and writes the issuer's answer there: one call serves every replica,
//! under the same lifetime rules ([`crate::shared_tier`]).

use std::fmt;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use http::Uri;
use portcullis_jwt::{Claims, Clock, ErrorKind, SystemClock, Validation, VerifiedBy};
use tracing::Instrument as _;

use crate::discovery::IssuerMetadata;
use crate::error::ConfigError;
use crate::http::HttpClient;
use crate::shared_key::SharedKeys;
use crate::shared_tier::record::{self, Answer};
use crate::shared_tier::{SharedTier, SharedTierStats};
use crate::token_cache::{Cached, TokenCache, TokenCacheStats};
use crate::verify_error::VerifyError;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;

/// A client secret. Never printed: `Debug` shows `Secret(***)`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret held in memory.
    pub fn new(secret: impl Into<String>) -> Secret {
        Secret(secret.into())
    }

    /// Reads a secret from an environment variable.
    ///
    /// # Errors
    /// If the variable is unset, empty or not UTF-8 (the message names the variable,
    /// never the value).
    pub fn from_env(variable: &str) -> Result<Secret, String> {
        match std::env::var(variable) {
            Ok(value) if !value.is_empty() => Ok(Secret(value)),
            Ok(_) => Err(format!("environment variable {variable} is empty")),
            Err(_) => Err(format!("environment variable {variable} is not set")),
        }
    }

    /// Reads a secret from a file (Kubernetes and Docker secrets), dropping one trailing
    /// line break.
    ///
    /// # Errors
    /// If the file cannot be read or is empty.
    pub fn from_file(path: &Path) -> Result<Secret, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read secret file {}: {e}", path.display()))?;
        let text = text
            .strip_suffix("\r\n")
            .or_else(|| text.strip_suffix('\n'))
            .unwrap_or(&text);
        if text.is_empty() {
            return Err(format!("secret file {} is empty", path.display()));
        }
        Ok(Secret(text.to_owned()))
    }

    /// The secret itself. Handle with care.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// How the resource server authenticates to the introspection endpoint.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum ClientAuth {
    /// HTTP Basic (RFC 6749 §2.3.1): client id and secret each
    /// `application/x-www-form-urlencoded`, then joined by `:` and base64-encoded.
    ClientSecretBasic {
        /// The client identifier.
        client_id: String,
        /// The client secret.
        client_secret: Secret,
    },
    /// `client_id` and `client_secret` in the form body (RFC 6749 §2.3.1).
    ClientSecretPost {
        /// The client identifier.
        client_id: String,
        /// The client secret.
        client_secret: Secret,
    },
    /// `Authorization: Bearer <token>`, a credential issued for introspection.
    Bearer(Secret),
}

impl ClientAuth {
    /// The `Authorization` header value, if this method uses one.
    pub fn authorization_header(&self) -> Option<String> {
        match self {
            ClientAuth::ClientSecretBasic {
                client_id,
                client_secret,
            } => {
                let pair = format!(
                    "{}:{}",
                    form_urlencode(client_id),
                    form_urlencode(client_secret.expose())
                );
                Some(format!("Basic {}", STANDARD.encode(pair)))
            }
            ClientAuth::Bearer(token) => Some(format!("Bearer {}", token.expose())),
            ClientAuth::ClientSecretPost { .. } => None,
        }
    }

    /// The body of an introspection request for `token`:
    /// `token=...&token_type_hint=access_token`, plus the client credentials for
    /// `client_secret_post`.
    pub fn request_body(&self, token: &str) -> String {
        let mut body = format!(
            "token={}&token_type_hint=access_token",
            form_urlencode(token)
        );
        if let ClientAuth::ClientSecretPost {
            client_id,
            client_secret,
        } = self
        {
            body.push_str("&client_id=");
            body.push_str(&form_urlencode(client_id));
            body.push_str("&client_secret=");
            body.push_str(&form_urlencode(client_secret.expose()));
        }
        body
    }
}

/// `application/x-www-form-urlencoded` encoding (WHATWG URL §5.2): alphanumerics and
/// `*-._` as they are, space as `+`, every other byte of the UTF-8 as `%XX`.
pub fn form_urlencode(input: &str) -> String {
    let mut out = String::with_capacity(input.len());
    for byte in input.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'*' | b'-' | b'.' | b'_' => {
                out.push(byte as char);
            }
            b' ' => out.push('+'),
            _ => {
                const HEX: &[u8; 16] = b"0123456789ABCDEF";
                out.push('%');
                out.push(HEX[usize::from(byte >> 4)] as char);
                out.push(HEX[usize::from(byte & 0xf)] as char);
            }
        }
    }
    out
}

/// What the introspection endpoint said.
#[derive(Clone, PartialEq, Eq)]
pub enum IntrospectionResponse {
    /// `"active": true`, with the whole response object as JSON, to be checked like JWT
    /// claims.
    Active(String),
    /// Anything else: `"active": false`, or `active` missing.
    Inactive,
}

impl fmt::Debug for IntrospectionResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IntrospectionResponse::Active(_) => f.write_str("Active(..)"),
            IntrospectionResponse::Inactive => f.write_str("Inactive"),
        }
    }
}

/// The response body was not an RFC 7662 response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MalformedResponse(&'static str);

impl fmt::Display for MalformedResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "malformed introspection response: {}", self.0)
    }
}

impl std::error::Error for MalformedResponse {}

/// Reads an introspection response strictly.
///
/// The token is active only if `active` is the JSON boolean `true`. `"true"`, `1` or a
/// missing member are not. Members RFC 7662 §2.2 defines as strings must be strings;
/// registered claims (`exp`, `iss`, `aud`, `scope`, ...) are checked by the same rules
/// as JWT claims afterwards. A token the server calls a refresh token is inactive here.
///
/// # Errors
/// If the body is not a JSON object, `active` is not a boolean, or a typed member has
/// the wrong type: the server is misbehaving, which the caller treats as an outage
/// (503), never as acceptance.
pub fn parse_response(body: &[u8]) -> Result<IntrospectionResponse, MalformedResponse> {
    /// A member that may be absent; `null` is present (and wrong).
    #[derive(Default)]
    enum Member {
        #[default]
        Absent,
        Present(serde_json::Value),
    }
    impl<'de> Deserialize<'de> for Member {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            serde_json::Value::deserialize(d).map(Member::Present)
        }
    }
    impl Member {
        fn as_ref(&self) -> Option<&serde_json::Value> {
            match self {
                Member::Absent => None,
                Member::Present(value) => Some(value),
            }
        }
    }
    #[derive(Deserialize)]
    struct Shape {
        #[serde(default)]
        active: Member,
        #[serde(default)]
        token_type: Member,
        #[serde(default)]
        username: Member,
    }
    let text = std::str::from_utf8(body).map_err(|_| MalformedResponse("not UTF-8"))?;
    // serde's derived structs also accept arrays (`[true]`): insist on an object.
    if !text.trim_start().starts_with('{') {
        return Err(MalformedResponse("not a JSON object"));
    }
    let shape: Shape =
        serde_json::from_str(text).map_err(|_| MalformedResponse("not a JSON object"))?;
    for member in [&shape.token_type, &shape.username] {
        if member.as_ref().is_some_and(|v| !v.is_string()) {
            return Err(MalformedResponse("a string member of another type"));
        }
    }
    let active = match shape.active {
        Member::Present(serde_json::Value::Bool(active)) => active,
        Member::Absent => false,
        Member::Present(_) => return Err(MalformedResponse("active is not a boolean")),
    };
    let refresh = shape
        .token_type
        .as_ref()
        .and_then(|v| v.as_str())
        .is_some_and(|t| t.eq_ignore_ascii_case("refresh_token"));
    Ok(if active && !refresh {
        IntrospectionResponse::Active(text.to_owned())
    } else {
        IntrospectionResponse::Inactive
    })
}

/// The `error` of an RFC 6749 §5.2 error object that refuses the token itself, as a
/// `400 Bad Request` from an introspection endpoint carries it: `unsupported_token_type`
/// (a certified provider's answer for a JWT-shaped string), `invalid_request` or
/// `invalid_token`. `None` for any other body, `invalid_client` included: that one is
/// about our credentials.
fn oauth_refusal(body: &[u8]) -> Option<&'static str> {
    const CODES: [&str; 3] = ["unsupported_token_type", "invalid_request", "invalid_token"];
    let object: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(body).ok()?;
    let error = object.get("error")?.as_str()?;
    CODES.into_iter().find(|code| *code == error)
}

/// The default longest time an active introspection result is reused: 60 seconds. It
/// is also the longest a revoked token keeps working.
pub const DEFAULT_INTROSPECTION_CACHE_TTL: Duration = Duration::from_secs(60);
/// The default time an inactive or refused result is reused: 10 seconds.
pub const DEFAULT_NEGATIVE_TTL: Duration = Duration::from_secs(10);
/// The default number of cached results: 100,000.
pub const DEFAULT_INTROSPECTION_CACHE_CAPACITY: u64 = 100_000;
/// The `Retry-After` given to clients when the endpoint cannot be asked: 5 seconds.
pub const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(5);

#[derive(Clone)]
enum Outcome {
    Active(Claims),
    Refused(portcullis_jwt::Error),
}

/// Verifies opaque access tokens through RFC 7662 introspection. Cheap to clone.
#[derive(Clone)]
pub struct IntrospectionVerifier {
    inner: Arc<Inner>,
}

struct Inner {
    endpoint: Uri,
    auth: ClientAuth,
    /// `auth`'s `Authorization` header, computed once.
    authorization: Option<String>,
    http: HttpClient,
    validation: Validation,
    cache: Option<TokenCache<Outcome>>,
    negative_ttl: Duration,
    retry_after: Duration,
    clock: Arc<dyn Clock>,
    calls: AtomicU64,
    failures: AtomicU64,
    shared: Option<Shared>,
}

/// The second tier shared by replicas, and its counters.
struct Shared {
    tier: Arc<dyn SharedTier>,
    keys: SharedKeys,
    /// The in-process cache's lifetime: no record outlives it either.
    ttl: Duration,
    hits: AtomicU64,
    misses: AtomicU64,
    errors: AtomicU64,
    rejected: AtomicU64,
}

/// Configures an [`IntrospectionVerifier`].
#[derive(Debug)]
#[must_use]
pub struct IntrospectionVerifierBuilder {
    endpoint: String,
    auth: ClientAuth,
    validation: Validation,
    http: Option<HttpClient>,
    cache_ttl: Option<Duration>,
    cache_capacity: u64,
    negative_ttl: Duration,
    retry_after: Duration,
    clock: Arc<dyn Clock>,
    shared: Option<(Arc<dyn SharedTier>, SharedKeys)>,
}

impl IntrospectionVerifier {
    /// Starts a configuration for the endpoint at `endpoint`, authenticating with `auth`,
    /// and holding active results to `validation` (issuer, audience, leeway; the
    /// signature rules do not apply).
    pub fn builder(
        endpoint: impl Into<String>,
        auth: ClientAuth,
        validation: Validation,
    ) -> IntrospectionVerifierBuilder {
        IntrospectionVerifierBuilder {
            endpoint: endpoint.into(),
            auth,
            validation,
            http: None,
            cache_ttl: Some(DEFAULT_INTROSPECTION_CACHE_TTL),
            cache_capacity: DEFAULT_INTROSPECTION_CACHE_CAPACITY,
            negative_ttl: DEFAULT_NEGATIVE_TTL,
            retry_after: DEFAULT_RETRY_AFTER,
            clock: Arc::new(SystemClock),
            shared: None,
        }
    }

    /// Starts a configuration with the endpoint the issuer advertises
    /// (`introspection_endpoint`).
    ///
    /// # Errors
    /// If the metadata advertises no introspection endpoint.
    pub fn from_metadata(
        metadata: &IssuerMetadata,
        auth: ClientAuth,
        validation: Validation,
    ) -> Result<IntrospectionVerifierBuilder, ConfigError> {
        let endpoint = metadata.introspection_endpoint().ok_or_else(|| {
            ConfigError::custom(format!(
                "{} advertises no introspection_endpoint",
                metadata.issuer()
            ))
        })?;
        Ok(IntrospectionVerifier::builder(endpoint, auth, validation))
    }

    /// The rules active results are held to.
    pub fn validation(&self) -> &Validation {
        &self.inner.validation
    }

    /// How many introspection requests were sent.
    pub fn calls(&self) -> u64 {
        self.inner.calls.load(Ordering::Relaxed)
    }

    /// How many introspection requests failed (no usable answer).
    pub fn failures(&self) -> u64 {
        self.inner.failures.load(Ordering::Relaxed)
    }

    /// The cache's counters, if there is a cache.
    pub fn cache_stats(&self) -> Option<TokenCacheStats> {
        self.inner.cache.as_ref().map(TokenCache::stats)
    }

    /// The shared tier's counters, if there is one.
    pub fn shared_tier_stats(&self) -> Option<SharedTierStats> {
        self.inner.shared.as_ref().map(|shared| SharedTierStats {
            hits: shared.hits.load(Ordering::Relaxed),
            misses: shared.misses.load(Ordering::Relaxed),
            errors: shared.errors.load(Ordering::Relaxed),
            rejected: shared.rejected.load(Ordering::Relaxed),
        })
    }

    /// Drops every cached active result whose claims match `revoked` (a revocation by
    /// `jti`, `sub` or `client_id`), so the next request for those tokens is answered
    /// afresh. Results shared with other replicas stay in the shared tier: a
    /// [`RevocationCheck`](crate::RevocationCheck) refuses them there.
    pub fn forget_matching(&self, revoked: impl Fn(&Claims) -> bool) {
        if let Some(cache) = &self.inner.cache {
            cache.invalidate_if(|outcome| match outcome {
                Outcome::Active(claims) => revoked(claims),
                Outcome::Refused(_) => false,
            });
        }
    }

    /// Verifies `token`: from the cache when a result is held, by asking the issuer
    /// otherwise.
    ///
    /// # Errors
    /// [`crate::VerifyErrorKind::InvalidToken`] for an inactive or refused token,
    /// [`crate::VerifyErrorKind::Unavailable`] when the issuer could not be asked.
    pub async fn verify(&self, token: &str) -> Result<Claims, VerifyError> {
        self.verify_with(token, true).await
    }

    /// [`IntrospectionVerifier::verify`] after [`IntrospectionVerifier::cached`] found
    /// nothing: asks the issuer (one request for concurrent callers) without looking the
    /// token up again, so the cache counts one miss, not two.
    ///
    /// # Errors
    /// As [`IntrospectionVerifier::verify`].
    pub async fn verify_missed(&self, token: &str) -> Result<Claims, VerifyError> {
        self.verify_with(token, false).await
    }

    /// Why `token` is refused on sight (empty, or over the size limit), before it is
    /// hashed, looked up, copied or sent anywhere.
    fn refused_on_sight(&self, token: &str) -> Option<VerifyError> {
        let kind = if token.is_empty() {
            ErrorKind::Malformed
        } else if token.len() > self.inner.validation.max_token_size() {
            ErrorKind::TooLarge
        } else {
            return None;
        };
        Some(VerifyError::token(portcullis_jwt::Error::from_kind(kind)))
    }

    async fn verify_with(&self, token: &str, look_up: bool) -> Result<Claims, VerifyError> {
        let inner = &*self.inner;
        if let Some(error) = self.refused_on_sight(token) {
            return Err(error);
        }
        let outcome = match &inner.cache {
            None => {
                let answer = self.introspect(token).await?;
                self.outcome_of(answer, inner.clock.now()).value
            }
            Some(cache) => {
                let key = cache.key(token);
                let outcome = if look_up {
                    cache.get_or_try_insert_with(key, self.resolve(token)).await
                } else {
                    cache.try_insert_with(key, self.resolve(token)).await
                };
                outcome.map_err(|shared| (*shared).clone())?
            }
        };
        self.answer(outcome, self.inner.clock.now())
    }

    /// Answers from the cache alone: `None` when no result is held for `token` (then
    /// [`IntrospectionVerifier::verify`] asks the issuer). Never waits on the network.
    /// An empty or oversized token is refused here, without hashing it.
    pub fn cached(&self, token: &str) -> Option<Result<Claims, VerifyError>> {
        if let Some(error) = self.refused_on_sight(token) {
            return Some(Err(error));
        }
        let cache = self.inner.cache.as_ref()?;
        // One clock reading for the cache's expiry and the re-checked time rules.
        let now = self.inner.clock.now();
        let outcome = cache.get_at(&cache.key(token), now)?;
        Some(self.answer(outcome, now))
    }

    fn answer(&self, outcome: Outcome, now: SystemTime) -> Result<Claims, VerifyError> {
        match outcome {
            Outcome::Active(claims) => {
                self.inner
                    .validation
                    .recheck(&claims, now)
                    .map_err(VerifyError::token)?;
                Ok(claims)
            }
            Outcome::Refused(error) => Err(VerifyError::token(error)),
        }
    }

    /// The answer for `token` on a miss of the in-process cache: from the shared tier
    /// when it holds one, else from the authorization server (then written to the tier
    /// for the other replicas).
    async fn resolve(&self, token: &str) -> Result<Cached<Outcome>, VerifyError> {
        let inner = &*self.inner;
        let Some(shared) = &inner.shared else {
            let answer = self.introspect(token).await?;
            return Ok(self.outcome_of(answer, inner.clock.now()));
        };
        let hashes = shared.keys.lookup_hashes(token);
        match shared.tier.get(&hashes).await {
            Ok(records) => {
                for (position, (hash, record)) in hashes.iter().zip(records).enumerate() {
                    let Some(record) = record else { continue };
                    match record::decode(&shared.keys, position > 0, hash, &record) {
                        // Past its writer's lifetime on this replica's clock (the store
                        // has not dropped it yet): as good as absent.
                        Some((_, until)) if until <= inner.clock.now() => {}
                        Some((answer, until)) => {
                            shared.hits.fetch_add(1, Ordering::Relaxed);
                            let mut cached = self.outcome_of(answer, inner.clock.now());
                            cached.expires_at = cached.expires_at.min(until);
                            return Ok(cached);
                        }
                        None => {
                            shared.rejected.fetch_add(1, Ordering::Relaxed);
                            tracing::warn!(
                                "shared introspection record refused: its tag does not verify"
                            );
                        }
                    }
                }
                shared.misses.fetch_add(1, Ordering::Relaxed);
            }
            Err(error) => {
                shared.errors.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(error = %error, "shared introspection tier unavailable: asking the issuer");
            }
        }
        let answer = self.introspect(token).await?;
        let now = inner.clock.now();
        let kept = answer.clone();
        let cached = self.outcome_of(answer, now);
        let until = cached.expires_at.min(now + shared.ttl);
        if let Some(ttl) = until.duration_since(now).ok().filter(|ttl| !ttl.is_zero()) {
            let record = record::encode(&shared.keys, &hashes[0], &kept, until);
            if let Err(error) = shared.tier.put(hashes[0], record, ttl).await {
                shared.errors.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(error = %error, "shared introspection tier: write failed");
            }
        }
        Ok(cached)
    }

    /// What an answer of the authorization server means here, and until when it may be
    /// reused: an active answer is held to the rules now.
    fn outcome_of(&self, answer: Answer, now: SystemTime) -> Cached<Outcome> {
        let inner = &*self.inner;
        let refused = |error| Cached {
            value: Outcome::Refused(error),
            expires_at: now + inner.negative_ttl,
        };
        match answer {
            Answer::Refused(code) => refused(portcullis_jwt::Error::with_reason(
                ErrorKind::Inactive,
                code,
            )),
            Answer::Inactive => refused(portcullis_jwt::Error::from_kind(ErrorKind::Inactive)),
            Answer::Active(json) => {
                match inner
                    .validation
                    .check_claims_json(json, VerifiedBy::Introspection, now)
                {
                    Ok(claims) => {
                        // Kept past `exp` for the negative lifetime, so an expired token is
                        // refused from the cache (`recheck`) rather than asked about again.
                        // Without `exp`, as long as the cache's maximum lifetime allows.
                        let expires_at = match claims.expires_at() {
                            Some(exp) => {
                                exp.to_system_time()
                                    + inner.validation.leeway()
                                    + inner.negative_ttl
                            }
                            None => now + Duration::from_secs(u32::MAX.into()),
                        };
                        Cached {
                            value: Outcome::Active(claims),
                            expires_at,
                        }
                    }
                    Err(error) => refused(error),
                }
            }
        }
    }

    /// Asks the authorization server about `token`.
    async fn introspect(&self, token: &str) -> Result<Answer, VerifyError> {
        let inner = &*self.inner;
        inner.calls.fetch_add(1, Ordering::Relaxed);
        let started = std::time::Instant::now();
        // The endpoint and the answer's gist; never the token or the client's secret.
        let span = tracing::debug_span!(
            "introspection",
            issuer = inner.validation.issuers().next().unwrap_or(""),
            active = tracing::field::Empty,
        );
        let fetched = inner
            .http
            .post_form(
                &inner.endpoint,
                inner.authorization.as_deref(),
                inner.auth.request_body(token),
                &["application/json"],
            )
            .instrument(span.clone())
            .await;
        let fetched = match fetched {
            Ok(fetched) => fetched,
            Err(error) => {
                inner.failures.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(
                    error = %error,
                    elapsed_ms = started.elapsed().as_millis() as u64,
                    "introspection failed"
                );
                return Err(VerifyError::unavailable(
                    "introspection endpoint unavailable",
                    inner.retry_after,
                ));
            }
        };
        if fetched.status == http::StatusCode::BAD_REQUEST {
            // A 400 can only be about the request, and so about the token, when it says
            // so in an RFC 6749 §5.2 error object; anything else is no answer.
            return match oauth_refusal(&fetched.body) {
                Some(code) => {
                    // The code is one of three constants: never the token, never the body.
                    tracing::debug!(
                        error = code,
                        elapsed_ms = started.elapsed().as_millis() as u64,
                        "introspection refused the token"
                    );
                    Ok(Answer::Refused(code))
                }
                None => {
                    inner.failures.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(
                        status = 400,
                        "introspection answer unusable: 400 without an OAuth error about the token"
                    );
                    Err(VerifyError::unavailable(
                        "introspection answer unusable",
                        inner.retry_after,
                    ))
                }
            };
        }
        let response = match parse_response(&fetched.body) {
            Ok(response) => response,
            Err(error) => {
                inner.failures.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(error = %error, "introspection answer unusable");
                return Err(VerifyError::unavailable(
                    "introspection answer unusable",
                    inner.retry_after,
                ));
            }
        };
        let active = matches!(response, IntrospectionResponse::Active(_));
        span.record("active", active);
        tracing::debug!(
            active,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "introspected"
        );
        Ok(match response {
            IntrospectionResponse::Inactive => Answer::Inactive,
            IntrospectionResponse::Active(json) => Answer::Active(json),
        })
    }
}

impl IntrospectionVerifierBuilder {
    /// The HTTP client (and its rules, timeouts, transport). Defaults to
    /// [`HttpClient::new`].
    pub fn http_client(mut self, http: HttpClient) -> Self {
        self.http = Some(http);
        self
    }

    /// The longest an active result is reused, which is also the longest a revoked
    /// token keeps working. Defaults to 60 seconds.
    pub fn cache_ttl(mut self, ttl: Duration) -> Self {
        self.cache_ttl = Some(ttl);
        self
    }

    /// Asks the issuer on every request: revocation takes effect at once, at the cost
    /// of one round trip per request.
    pub fn no_cache(mut self) -> Self {
        self.cache_ttl = None;
        self
    }

    /// The most results cached. Defaults to 100,000.
    pub fn cache_capacity(mut self, entries: u64) -> Self {
        self.cache_capacity = entries;
        self
    }

    /// How long an inactive or refused result is reused. Defaults to 10 seconds.
    pub fn negative_ttl(mut self, ttl: Duration) -> Self {
        self.negative_ttl = ttl;
        self
    }

    /// The `Retry-After` when the endpoint cannot be asked. Defaults to 5 seconds.
    pub fn retry_after(mut self, retry_after: Duration) -> Self {
        self.retry_after = retry_after;
        self
    }

    /// The clock every time rule reads. Defaults to the system clock.
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// A second tier under the in-process cache, shared by replicas (see
    /// [`crate::shared_tier`]), its records keyed and authenticated with `keys`.
    /// Defaults to none: each replica asks the issuer on its own.
    pub fn shared_tier(mut self, tier: impl SharedTier, keys: SharedKeys) -> Self {
        self.shared = Some((Arc::new(tier), keys));
        self
    }

    /// Checks the configuration and builds the verifier.
    ///
    /// # Errors
    /// An endpoint the HTTP rules refuse (not `https`, and not loopback), a zero cache
    /// capacity or lifetime, or a shared tier without an in-process cache
    /// (`shared_tier`: its records live as long as the cache's, so it needs one).
    pub fn build(self) -> Result<IntrospectionVerifier, ConfigError> {
        let http = match self.http {
            Some(http) => http,
            None => HttpClient::builder().build()?,
        };
        let endpoint = http.check_url(&self.endpoint).map_err(|e| {
            ConfigError::for_setting(
                "endpoint",
                format!("introspection endpoint {}: {e}", self.endpoint),
            )
        })?;
        let cache = match self.cache_ttl {
            None => None,
            Some(ttl) => Some(
                TokenCache::<Outcome>::builder()
                    .capacity(self.cache_capacity)
                    .max_ttl(ttl)
                    .clock(self.clock.clone())
                    .build()?,
            ),
        };
        let shared = match (self.shared, self.cache_ttl) {
            (None, _) => None,
            (Some(_), None) => {
                return Err(ConfigError::for_setting(
                    "shared_tier",
                    "a shared introspection tier needs the in-process cache (a cache lifetime)",
                ));
            }
            (Some((tier, keys)), Some(ttl)) => Some(Shared {
                tier,
                keys,
                ttl,
                hits: AtomicU64::new(0),
                misses: AtomicU64::new(0),
                errors: AtomicU64::new(0),
                rejected: AtomicU64::new(0),
            }),
        };
        Ok(IntrospectionVerifier {
            inner: Arc::new(Inner {
                endpoint,
                authorization: self.auth.authorization_header(),
                auth: self.auth,
                http,
                validation: self.validation,
                cache,
                negative_ttl: self.negative_ttl,
                retry_after: self.retry_after,
                clock: self.clock,
                calls: AtomicU64::new(0),
                failures: AtomicU64::new(0),
                shared,
            }),
        })
    }
}

impl fmt::Debug for IntrospectionVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = &*self.inner;
        f.debug_struct("IntrospectionVerifier")
            .field("endpoint", &inner.endpoint)
            .field("auth", &inner.auth)
            .field("cache", &inner.cache)
            .field("negative_ttl", &inner.negative_ttl)
            .field("calls", &self.calls())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_auth_form_encodes_before_base64() {
        let auth = ClientAuth::ClientSecretBasic {
            client_id: "my client:1".into(),
            client_secret: Secret::new("p@ss:w/rd+%é ="),
        };
        let header = auth.authorization_header().unwrap();
        let encoded = header.strip_prefix("Basic ").unwrap();
        let decoded = String::from_utf8(STANDARD.decode(encoded).unwrap()).unwrap();
        assert_eq!(decoded, "my+client%3A1:p%40ss%3Aw%2Frd%2B%25%C3%A9+%3D");
        // Exactly one unencoded colon separates id and secret.
        assert_eq!(decoded.matches(':').count(), 1);
    }

    #[test]
    fn debug_never_shows_the_client_secret() {
        let validation = Validation::builder()
            .issuer("https://issuer.test")
            .audience("https://api.test")
            .build()
            .unwrap();
        let auth = ClientAuth::Bearer(Secret::new("very-secret"));
        let builder =
            IntrospectionVerifier::builder("https://issuer.test/introspect", auth, validation);
        let debug = format!("{builder:?}");
        assert!(debug.contains("Secret(***)"), "{debug}");
        assert!(!debug.contains("very-secret"), "{debug}");
    }

    #[test]
    fn post_auth_goes_in_the_body_and_the_token_is_encoded() {
        let auth = ClientAuth::ClientSecretPost {
            client_id: "rs".into(),
            client_secret: Secret::new("s&t=u"),
        };
        assert!(auth.authorization_header().is_none());
        assert_eq!(
            auth.request_body("a+b/c="),
            "token=a%2Bb%2Fc%3D&token_type_hint=access_token&client_id=rs&client_secret=s%26t%3Du"
        );
        let bearer = ClientAuth::Bearer(Secret::new("xyz"));
        assert_eq!(bearer.authorization_header().unwrap(), "Bearer xyz");
        assert_eq!(
            bearer.request_body("t"),
            "token=t&token_type_hint=access_token"
        );
    }

    #[test]
    fn only_oauth_errors_about_the_token_are_refusals() {
        for (body, code) in [
            (
                r#"{"error":"unsupported_token_type"}"#,
                "unsupported_token_type",
            ),
            (
                r#"{"error":"invalid_request","error_description":"x"}"#,
                "invalid_request",
            ),
            (
                r#" {"error_uri":"https://x","error":"invalid_token"}"#,
                "invalid_token",
            ),
        ] {
            assert_eq!(oauth_refusal(body.as_bytes()), Some(code), "{body}");
        }
        for body in [
            r#"{"error":"invalid_client"}"#,
            r#"{"error":"Invalid_Token"}"#,
            r#"{"error":["invalid_token"]}"#,
            r#"{"error":null}"#,
            r#"{"message":"invalid_token"}"#,
            r#"[{"error":"invalid_token"}]"#,
            r#""invalid_token""#,
            r#"{"error":"invalid_token""#,
            "<html>invalid_token</html>",
            "",
        ] {
            assert_eq!(oauth_refusal(body.as_bytes()), None, "{body}");
        }
    }

    #[test]
    fn secrets_never_print() {
        let auth = ClientAuth::ClientSecretBasic {
            client_id: "id".into(),
            client_secret: Secret::new("hunter2"),
        };
        assert!(!format!("{auth:?}").contains("hunter2"));
        assert!(
            !format!(
                "{:?}",
                IntrospectionResponse::Active("{\"sub\":\"x\"}".into())
            )
            .contains("sub")
        );
    }

    #[test]
    fn secret_from_file_drops_one_line_break() {
        let dir = std::env::temp_dir().join(format!("portcullis-secret-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("secret");
        std::fs::write(&path, "s3cret\n").unwrap();
        assert_eq!(Secret::from_file(&path).unwrap().expose(), "s3cret");
        std::fs::write(&path, "\n").unwrap();
        assert!(Secret::from_file(&path).is_err());
        assert!(Secret::from_file(&dir.join("missing")).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn active_must_be_the_boolean_true() {
        let active = parse_response(br#"{"active":true,"sub":"a","scope":"read"}"#).unwrap();
        assert!(matches!(active, IntrospectionResponse::Active(json) if json.contains("read")));
        for inactive in [
            r#"{"active":false}"#,
            r#"{}"#,
            r#"{"active":true,"token_type":"refresh_token"}"#,
        ] {
            assert_eq!(
                parse_response(inactive.as_bytes()).unwrap(),
                IntrospectionResponse::Inactive,
                "{inactive}"
            );
        }
        for malformed in [
            r#"{"active":"true"}"#,
            r#"{"active":1}"#,
            r#"{"active":null}"#,
            r#"{"active":true,"active":true}"#,
            r#"{"active":true,"username":7}"#,
            r#"{"active":true,"token_type":["bearer"]}"#,
            "[true]",
            "true",
            "",
            "<html>",
        ] {
            assert!(parse_response(malformed.as_bytes()).is_err(), "{malformed}");
        }
        assert!(parse_response(&[0xff, 0xfe]).is_err());
    }
}
