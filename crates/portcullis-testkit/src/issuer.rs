//! A real OAuth 2.0 issuer served on `127.0.0.1`, for integration tests.

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode, header};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use serde_json::{Map, Value};
use tokio::sync::watch;

use crate::key::{SigningAlgorithm, SigningKey};
use crate::server::TestServer;
use crate::token::TokenBuilder;

/// The endpoints of a [`TestIssuer`], for fault injection and request counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Endpoint {
    /// OpenID Connect discovery: `{issuer}/.well-known/openid-configuration`.
    OpenIdConfiguration,
    /// RFC 8414 metadata: `{origin}/.well-known/oauth-authorization-server{path}`.
    OAuthMetadata,
    /// The JWK Set: `{issuer}/jwks`.
    Jwks,
    /// RFC 7662 token introspection: `POST {issuer}/introspect`.
    Introspection,
}

impl Endpoint {
    const ALL: [Endpoint; 4] = [
        Endpoint::OpenIdConfiguration,
        Endpoint::OAuthMetadata,
        Endpoint::Jwks,
        Endpoint::Introspection,
    ];

    fn index(self) -> usize {
        match self {
            Endpoint::OpenIdConfiguration => 0,
            Endpoint::OAuthMetadata => 1,
            Endpoint::Jwks => 2,
            Endpoint::Introspection => 3,
        }
    }
}

/// A failure a [`TestIssuer`] endpoint can be told to produce.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Fault {
    /// Answer with this status code and a small JSON error body.
    Status(u16),
    /// Answer with this status code and exactly this body, as `application/json`
    /// (an RFC 6749 §5.2 error object, say, or something that only claims to be one).
    Respond(u16, String),
    /// Wait this long (real time), then answer normally.
    Delay(Duration),
    /// Wait until [`TestIssuer::release`] is called for the endpoint, then answer
    /// normally. Without a release, the request hangs until the client gives up.
    Hang,
    /// Answer 200 with the right content type and a body that is not JSON.
    Garbage,
    /// Answer 200 with the normal document padded to at least this many bytes.
    Oversized(usize),
    /// Answer normally, but with this `Content-Type`.
    ContentType(String),
    /// Answer `302 Found` with this `Location` (a client must not follow it).
    Redirect(String),
    /// Close the connection without answering.
    CloseConnection,
    /// Produce the inner fault for the next `n` requests, then answer normally.
    FailFirst(u32, Box<Fault>),
}

/// Configures a [`TestIssuer`]. Start with [`TestIssuer::builder`].
#[derive(Clone, Debug)]
#[must_use]
pub struct TestIssuerBuilder {
    path: String,
    algorithm: SigningAlgorithm,
    cache_control: Option<String>,
    introspection_client: IntrospectionClient,
}

/// How the introspection endpoint authenticates its callers.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum IntrospectionClient {
    /// HTTP Basic with these credentials, each form-urlencoded before base64
    /// (RFC 6749 §2.3.1), as a conforming server decodes them.
    Basic {
        /// The client identifier.
        client_id: String,
        /// The client secret.
        client_secret: String,
    },
    /// `client_id` and `client_secret` in the form body.
    Post {
        /// The client identifier.
        client_id: String,
        /// The client secret.
        client_secret: String,
    },
    /// `Authorization: Bearer` with this token.
    Bearer(String),
    /// No authentication at all.
    Anyone,
}

/// The introspection client id a [`TestIssuer`] expects by default.
pub const INTROSPECTION_CLIENT_ID: &str = "resource server";
/// The introspection client secret a [`TestIssuer`] expects by default: reserved
/// characters included, so encoding mistakes show.
pub const INTROSPECTION_CLIENT_SECRET: &str = "s3cr:t/+%&= ~";

impl TestIssuerBuilder {
    /// A path for the issuer identifier, such as `/realms/test` (for testing the RFC 8414
    /// path-insertion rule). Defaults to none: the issuer is `http://127.0.0.1:PORT`.
    pub fn path(mut self, path: impl Into<String>) -> Self {
        let path = path.into();
        self.path = path.trim_end_matches('/').to_owned();
        if !self.path.is_empty() && !self.path.starts_with('/') {
            self.path.insert(0, '/');
        }
        self
    }

    /// The algorithm of the initial signing key and of keys made by
    /// [`TestIssuer::rotate`]. Defaults to RS256.
    pub fn algorithm(mut self, algorithm: SigningAlgorithm) -> Self {
        self.algorithm = algorithm;
        self
    }

    /// The `Cache-Control` header of JWK Set responses, or `None` for no header.
    /// Defaults to `max-age=300`.
    pub fn jwks_cache_control(mut self, value: Option<&str>) -> Self {
        self.cache_control = value.map(str::to_owned);
        self
    }

    /// How the introspection endpoint authenticates callers. Defaults to HTTP Basic with
    /// [`INTROSPECTION_CLIENT_ID`] and [`INTROSPECTION_CLIENT_SECRET`].
    pub fn introspection_client(mut self, client: IntrospectionClient) -> Self {
        self.introspection_client = client;
        self
    }

    /// Binds `127.0.0.1:0` and starts serving on the current Tokio runtime.
    ///
    /// # Panics
    /// Outside a Tokio runtime, or if the loopback address cannot be bound.
    pub async fn start(self) -> TestIssuer {
        let signing = Arc::new(SigningKey::generate(self.algorithm));
        let (counted, _) = watch::channel(());
        let state = Arc::new(State {
            origin: OnceLock::new(),
            path: self.path,
            algorithm: self.algorithm,
            mutable: Mutex::new(Mutable {
                published: vec![signing.clone()],
                raw_jwks: Vec::new(),
                signing,
                cache_control: self.cache_control,
                metadata: Map::new(),
                faults: HashMap::new(),
                opaque: HashMap::new(),
                introspection_client: self.introspection_client,
            }),
            counters: [
                AtomicU64::new(0),
                AtomicU64::new(0),
                AtomicU64::new(0),
                AtomicU64::new(0),
            ],
            counted,
            releases: Endpoint::ALL.map(|_| watch::channel(0u64).0),
        });
        let serving = state.clone();
        let server = TestServer::start(service_fn(move |request| {
            let state = serving.clone();
            async move { handle(&state, request).await }
        }))
        .await;
        let _ = state.origin.set(server.url());
        TestIssuer { state, server }
    }
}

/// A local OAuth 2.0 authorization server for tests: discovery documents on both
/// well-known paths, a JWK Set, key rotation, token minting, fault injection and
/// request counts, served over plain HTTP on `127.0.0.1` (port 0).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use portcullis_testkit::{Endpoint, Fault, TestIssuer};
///
/// let issuer = TestIssuer::start().await;
/// let token = issuer.mint("https://api.test", 1_700_000_000);
/// assert_eq!(token.split('.').count(), 3);
///
/// // Keys rotate like a real issuer's: the old key stays published.
/// let old = issuer.signing_key();
/// let new = issuer.rotate();
/// assert!(issuer.published_kids().contains(&old.kid().to_owned()));
/// assert_eq!(issuer.signing_key().kid(), new.kid());
///
/// // Faults per endpoint: here the JWK Set answers 503 twice, then recovers.
/// issuer.set_fault(Endpoint::Jwks, Fault::FailFirst(2, Box::new(Fault::Status(503))));
/// assert_eq!(issuer.requests(Endpoint::Jwks), 0);
/// # }
/// ```
///
/// Dropping it stops the server and closes its connections.
pub struct TestIssuer {
    state: Arc<State>,
    server: TestServer,
}

struct State {
    /// `http://127.0.0.1:PORT`, set once the port is bound, before any request can be
    /// addressed to it.
    origin: OnceLock<String>,
    path: String,
    algorithm: SigningAlgorithm,
    mutable: Mutex<Mutable>,
    counters: [AtomicU64; 4],
    counted: watch::Sender<()>,
    releases: [watch::Sender<u64>; 4],
}

struct Mutable {
    published: Vec<Arc<SigningKey>>,
    raw_jwks: Vec<Value>,
    signing: Arc<SigningKey>,
    cache_control: Option<String>,
    metadata: Map<String, Value>,
    faults: HashMap<Endpoint, Fault>,
    /// Opaque tokens and the introspection response each gets.
    opaque: HashMap<String, Value>,
    introspection_client: IntrospectionClient,
}

impl State {
    fn lock(&self) -> MutexGuard<'_, Mutable> {
        // A panicking test thread must not wedge the server for the others.
        self.mutable
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn issuer(&self) -> String {
        let origin = self.origin.get().map_or("", String::as_str);
        format!("{origin}{}", self.path)
    }
}

impl TestIssuer {
    /// Starts an issuer with the defaults (see [`TestIssuerBuilder`]).
    ///
    /// # Panics
    /// Outside a Tokio runtime.
    pub async fn start() -> TestIssuer {
        TestIssuer::builder().start().await
    }

    /// Configures an issuer.
    pub fn builder() -> TestIssuerBuilder {
        TestIssuerBuilder {
            path: String::new(),
            algorithm: SigningAlgorithm::RS256,
            cache_control: Some("max-age=300".to_owned()),
            introspection_client: IntrospectionClient::Basic {
                client_id: INTROSPECTION_CLIENT_ID.to_owned(),
                client_secret: INTROSPECTION_CLIENT_SECRET.to_owned(),
            },
        }
    }

    /// The socket address served.
    pub fn addr(&self) -> SocketAddr {
        self.server.addr()
    }

    /// The issuer identifier (`iss`), such as `http://127.0.0.1:41234/realms/test`.
    pub fn url(&self) -> String {
        self.state.issuer()
    }

    /// The JWK Set URL.
    pub fn jwks_url(&self) -> String {
        format!("{}/jwks", self.state.issuer())
    }

    /// The OpenID Connect discovery URL.
    pub fn openid_configuration_url(&self) -> String {
        format!("{}/.well-known/openid-configuration", self.state.issuer())
    }

    /// The RFC 8414 metadata URL (with the path-insertion rule).
    pub fn oauth_metadata_url(&self) -> String {
        format!(
            "{}/.well-known/oauth-authorization-server{}",
            self.server.url(),
            self.state.path
        )
    }

    /// The RFC 7662 introspection endpoint.
    pub fn introspection_url(&self) -> String {
        format!("{}/introspect", self.state.issuer())
    }

    /// Issues an opaque (random, non-JWT) access token for `audience` at `now` (Unix
    /// seconds): introspection answers it `active` with the standard claims (`iss`,
    /// `aud`, `sub`, `client_id`, `iat`, `exp = now + 300`, `token_type`), plus `scope`.
    pub fn mint_opaque(&self, audience: &str, now: u64, scope: &str) -> String {
        self.mint_opaque_with(serde_json::json!({
            "active": true,
            "iss": self.url(),
            "aud": audience,
            "sub": "test-subject",
            "client_id": "test-client",
            "scope": scope,
            "iat": now,
            "exp": now + 300,
            "token_type": "Bearer",
        }))
    }

    /// Issues an opaque token whose introspection response is exactly `response`
    /// (any JSON, malformed ones included).
    pub fn mint_opaque_with(&self, response: Value) -> String {
        let token = crate::key::random_id();
        self.state.lock().opaque.insert(token.clone(), response);
        token
    }

    /// Replaces the introspection response of an opaque token.
    pub fn set_introspection_response(&self, token: &str, response: Value) {
        self.state.lock().opaque.insert(token.to_owned(), response);
    }

    /// Revokes an opaque token: introspection answers `{"active": false}` from now on.
    pub fn revoke(&self, token: &str) {
        self.set_introspection_response(token, serde_json::json!({ "active": false }));
    }

    /// The key tokens are currently signed with.
    pub fn signing_key(&self) -> Arc<SigningKey> {
        self.state.lock().signing.clone()
    }

    /// The `kid`s of the published keys, in publication order.
    pub fn published_kids(&self) -> Vec<String> {
        self.state
            .lock()
            .published
            .iter()
            .map(|k| k.kid().to_owned())
            .collect()
    }

    /// Mints a valid access token for `audience` issued at `now` (Unix seconds), signed
    /// with the current signing key (see [`TokenBuilder::standard_claims`]).
    pub fn mint(&self, audience: &str, now: u64) -> String {
        self.mint_with(audience, now, |token| token)
    }

    /// Mints a token like [`TestIssuer::mint`], letting `customize` change it first.
    pub fn mint_with(
        &self,
        audience: &str,
        now: u64,
        customize: impl for<'k> FnOnce(TokenBuilder<'k>) -> TokenBuilder<'k>,
    ) -> String {
        let key = self.signing_key();
        customize(key.token().standard_claims(&self.url(), audience, now)).sign()
    }

    /// Mints a valid token for `audience` issued now (the system clock).
    pub fn mint_now(&self, audience: &str) -> String {
        self.mint(audience, crate::fixture::unix_now())
    }

    /// Generates a key with the issuer's algorithm, publishes it and signs with it from
    /// now on. The previous key stays published, as during a real rotation.
    pub fn rotate(&self) -> Arc<SigningKey> {
        let key = Arc::new(SigningKey::generate(self.state.algorithm));
        let mut state = self.state.lock();
        state.published.push(key.clone());
        state.signing = key.clone();
        key
    }

    /// Publishes `key` in the JWK Set without signing with it.
    pub fn add_key(&self, key: SigningKey) -> Arc<SigningKey> {
        let key = Arc::new(key);
        self.state.lock().published.push(key.clone());
        key
    }

    /// Publishes a raw JWK as is (an unusable key, say).
    pub fn add_raw_jwk(&self, jwk: Value) {
        self.state.lock().raw_jwks.push(jwk);
    }

    /// Signs with the published key `kid` from now on (retiring the current signing key
    /// from signing; it stays published). Returns false if no published key has `kid`.
    pub fn sign_with(&self, kid: &str) -> bool {
        let mut state = self.state.lock();
        let Some(key) = state.published.iter().find(|k| k.kid() == kid).cloned() else {
            return false;
        };
        state.signing = key;
        true
    }

    /// Removes the key `kid` from the JWK Set. If it is the signing key, tokens are still
    /// signed with it (which is how to mint tokens with a removed key). Returns false if
    /// no published key has `kid`.
    pub fn remove_key(&self, kid: &str) -> bool {
        let mut state = self.state.lock();
        let before = state.published.len();
        state.published.retain(|k| k.kid() != kid);
        state.published.len() != before
    }

    /// Sets the `Cache-Control` header of JWK Set responses (`None` removes it).
    pub fn set_jwks_cache_control(&self, value: Option<&str>) {
        self.state.lock().cache_control = value.map(str::to_owned);
    }

    /// Sets a member of both discovery documents, overriding the generated one
    /// (`"issuer"` to test a mismatch, `"introspection_endpoint"`, ...).
    pub fn set_metadata(&self, name: &str, value: impl Into<Value>) {
        self.state
            .lock()
            .metadata
            .insert(name.to_owned(), value.into());
    }

    /// Makes `endpoint` produce `fault` until [`TestIssuer::clear_fault`] (or, for
    /// [`Fault::FailFirst`], for its count).
    pub fn set_fault(&self, endpoint: Endpoint, fault: Fault) {
        self.state.lock().faults.insert(endpoint, fault);
    }

    /// Makes `endpoint` answer normally again. Requests already hanging stay hung until
    /// [`TestIssuer::release`].
    pub fn clear_fault(&self, endpoint: Endpoint) {
        self.state.lock().faults.remove(&endpoint);
    }

    /// Clears the fault of `endpoint` and lets the requests hanging on it
    /// ([`Fault::Hang`]) proceed with a normal answer.
    pub fn release(&self, endpoint: Endpoint) {
        self.clear_fault(endpoint);
        self.state.releases[endpoint.index()].send_modify(|n| *n += 1);
    }

    /// How many requests `endpoint` has received (counted on arrival, before any fault).
    pub fn requests(&self, endpoint: Endpoint) -> u64 {
        self.state.counters[endpoint.index()].load(Ordering::SeqCst)
    }

    /// Waits until `endpoint` has received at least `n` requests.
    pub async fn wait_for_requests(&self, endpoint: Endpoint, n: u64) {
        let mut changes = self.state.counted.subscribe();
        while self.requests(endpoint) < n {
            if changes.changed().await.is_err() {
                return;
            }
        }
    }
}

impl fmt::Debug for TestIssuer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestIssuer")
            .field("issuer", &self.url())
            .field("published", &self.published_kids())
            .finish_non_exhaustive()
    }
}

/// The error that makes hyper drop the connection without an answer.
#[derive(Debug)]
struct Close;

impl fmt::Display for Close {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("injected connection close")
    }
}

impl std::error::Error for Close {}

async fn handle(state: &State, request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Close> {
    let path = request.uri().path();
    let endpoint = if path == format!("{}/.well-known/openid-configuration", state.path) {
        Endpoint::OpenIdConfiguration
    } else if path == format!("/.well-known/oauth-authorization-server{}", state.path) {
        Endpoint::OAuthMetadata
    } else if path == format!("{}/jwks", state.path) {
        Endpoint::Jwks
    } else if path == format!("{}/introspect", state.path) {
        Endpoint::Introspection
    } else {
        return Ok(respond(
            StatusCode::NOT_FOUND,
            "application/json",
            None,
            b"{}".to_vec(),
        ));
    };
    state.counters[endpoint.index()].fetch_add(1, Ordering::SeqCst);
    state.counted.send_replace(());
    let fault = take_fault(state, endpoint);
    if endpoint == Endpoint::Introspection {
        return introspect(state, request, fault).await;
    }
    let Some(fault) = fault else {
        return Ok(normal(state, endpoint, 0, None));
    };
    Ok(match fault {
        Fault::Status(code) => respond(
            StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            "application/json",
            None,
            br#"{"error":"injected"}"#.to_vec(),
        ),
        Fault::Respond(code, body) => respond(
            StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            "application/json",
            None,
            body.into_bytes(),
        ),
        Fault::Delay(delay) => {
            tokio::time::sleep(delay).await;
            normal(state, endpoint, 0, None)
        }
        Fault::Hang => {
            let mut release = state.releases[endpoint.index()].subscribe();
            release.borrow_and_update();
            // A dropped sender means the issuer is gone; answer anyway.
            let _ = release.changed().await;
            normal(state, endpoint, 0, None)
        }
        Fault::Garbage => {
            let content_type = content_type(endpoint);
            respond(
                StatusCode::OK,
                content_type,
                None,
                b"<html>not JSON {{{".to_vec(),
            )
        }
        Fault::Oversized(size) => normal(state, endpoint, size, None),
        Fault::ContentType(value) => normal(state, endpoint, 0, Some(value)),
        Fault::Redirect(location) => {
            let mut response = respond(StatusCode::FOUND, "text/plain", None, Vec::new());
            if let Ok(value) = header::HeaderValue::from_str(&location) {
                response.headers_mut().insert(header::LOCATION, value);
            }
            response
        }
        Fault::CloseConnection => return Err(Close),
        Fault::FailFirst(..) => unreachable_fault(),
    })
}

/// The introspection endpoint: faults first, then client authentication, then the
/// token's registered response (`{"active": false}` for unknown tokens).
async fn introspect(
    state: &State,
    request: Request<Incoming>,
    fault: Option<Fault>,
) -> Result<Response<Full<Bytes>>, Close> {
    use http_body_util::BodyExt as _;
    let json = |status: StatusCode, body: String| {
        respond(status, "application/json", None, body.into_bytes())
    };
    if let Some(fault) = fault {
        match fault {
            Fault::Status(code) => {
                return Ok(json(
                    StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
                    r#"{"error":"injected"}"#.into(),
                ));
            }
            Fault::Respond(code, body) => {
                return Ok(json(
                    StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
                    body,
                ));
            }
            Fault::Delay(delay) => tokio::time::sleep(delay).await,
            Fault::Hang => {
                let mut release = state.releases[Endpoint::Introspection.index()].subscribe();
                release.borrow_and_update();
                let _ = release.changed().await;
            }
            Fault::Garbage => {
                return Ok(json(StatusCode::OK, "<html>not JSON {{{".into()));
            }
            Fault::Oversized(size) => {
                let padding = "x".repeat(size);
                return Ok(json(
                    StatusCode::OK,
                    format!(r#"{{"active":false,"padding":"{padding}"}}"#),
                ));
            }
            Fault::ContentType(value) => {
                return Ok(respond(
                    StatusCode::OK,
                    &value,
                    None,
                    br#"{"active":false}"#.to_vec(),
                ));
            }
            Fault::Redirect(location) => {
                let mut response = respond(StatusCode::FOUND, "text/plain", None, Vec::new());
                if let Ok(value) = header::HeaderValue::from_str(&location) {
                    response.headers_mut().insert(header::LOCATION, value);
                }
                return Ok(response);
            }
            Fault::CloseConnection => return Err(Close),
            Fault::FailFirst(..) => return Ok(unreachable_fault()),
        }
    }
    if request.method() != http::Method::POST {
        return Ok(json(
            StatusCode::METHOD_NOT_ALLOWED,
            r#"{"error":"invalid_request"}"#.into(),
        ));
    }
    let authorization = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = request
        .into_body()
        .collect()
        .await
        .map_err(|_| Close)?
        .to_bytes();
    let form = form_decode(&body);
    let param = |name: &str| {
        form.iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    };
    let client = state.lock().introspection_client.clone();
    let authenticated = match &client {
        IntrospectionClient::Anyone => true,
        IntrospectionClient::Bearer(token) => {
            authorization.as_deref() == Some(format!("Bearer {token}").as_str())
        }
        IntrospectionClient::Post {
            client_id,
            client_secret,
        } => {
            param("client_id") == Some(client_id.as_str())
                && param("client_secret") == Some(client_secret.as_str())
        }
        IntrospectionClient::Basic {
            client_id,
            client_secret,
        } => authorization
            .as_deref()
            .and_then(|value| value.strip_prefix("Basic "))
            .and_then(|encoded| {
                use base64::Engine as _;
                base64::engine::general_purpose::STANDARD
                    .decode(encoded)
                    .ok()
            })
            .and_then(|decoded| String::from_utf8(decoded).ok())
            .and_then(|pair| {
                let (id, secret) = pair.split_once(':')?;
                Some((form_decode_value(id)?, form_decode_value(secret)?))
            })
            .is_some_and(|(id, secret)| id == *client_id && secret == *client_secret),
    };
    if !authenticated {
        let mut response = json(
            StatusCode::UNAUTHORIZED,
            r#"{"error":"invalid_client"}"#.into(),
        );
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            header::HeaderValue::from_static("Basic realm=\"introspection\""),
        );
        return Ok(response);
    }
    let Some(token) = param("token") else {
        return Ok(json(
            StatusCode::BAD_REQUEST,
            r#"{"error":"invalid_request"}"#.into(),
        ));
    };
    let answer = state
        .lock()
        .opaque
        .get(token)
        .cloned()
        .unwrap_or_else(|| serde_json::json!({ "active": false }));
    Ok(json(StatusCode::OK, answer.to_string()))
}

/// Decodes an `application/x-www-form-urlencoded` body; malformed pairs are dropped.
fn form_decode(body: &[u8]) -> Vec<(String, String)> {
    let Ok(text) = std::str::from_utf8(body) else {
        return Vec::new();
    };
    text.split('&')
        .filter(|pair| !pair.is_empty())
        .filter_map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            Some((form_decode_value(key)?, form_decode_value(value)?))
        })
        .collect()
}

fn form_decode_value(encoded: &str) -> Option<String> {
    let bytes = encoded.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = encoded.get(i + 1..i + 3)?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

fn unreachable_fault() -> Response<Full<Bytes>> {
    // Never reached: `take_fault` flattens nested `FailFirst`s to the fault inside. The
    // arm exists because `Fault` has the variant; should it ever be reached, a 500.
    respond(
        StatusCode::INTERNAL_SERVER_ERROR,
        "application/json",
        None,
        Vec::new(),
    )
}

fn take_fault(state: &State, endpoint: Endpoint) -> Option<Fault> {
    let mut state = state.lock();
    let fault = state.faults.get_mut(&endpoint)?;
    if let Fault::FailFirst(remaining, inner) = fault {
        let mut inner = (**inner).clone();
        while let Fault::FailFirst(_, nested) = inner {
            inner = *nested;
        }
        if *remaining <= 1 {
            state.faults.remove(&endpoint);
        } else {
            *remaining -= 1;
        }
        return Some(inner);
    }
    Some(fault.clone())
}

fn content_type(endpoint: Endpoint) -> &'static str {
    match endpoint {
        Endpoint::Jwks => "application/jwk-set+json",
        _ => "application/json",
    }
}

fn normal(
    state: &State,
    endpoint: Endpoint,
    pad_to: usize,
    content_type_override: Option<String>,
) -> Response<Full<Bytes>> {
    let mutable = state.lock();
    let (mut document, cache_control) = match endpoint {
        Endpoint::Jwks => {
            let mut keys: Vec<Value> = mutable.published.iter().map(|k| k.public_jwk()).collect();
            keys.extend(mutable.raw_jwks.iter().cloned());
            let mut document = Map::new();
            document.insert("keys".into(), keys.into());
            (document, mutable.cache_control.clone())
        }
        Endpoint::OpenIdConfiguration | Endpoint::OAuthMetadata | Endpoint::Introspection => {
            let issuer = state.issuer();
            let mut document = Map::new();
            document.insert("issuer".into(), issuer.clone().into());
            document.insert("jwks_uri".into(), format!("{issuer}/jwks").into());
            document.insert("token_endpoint".into(), format!("{issuer}/token").into());
            document.insert(
                "introspection_endpoint".into(),
                format!("{issuer}/introspect").into(),
            );
            document.insert("response_types_supported".into(), vec!["code"].into());
            document.insert("subject_types_supported".into(), vec!["public"].into());
            document.insert(
                "id_token_signing_alg_values_supported".into(),
                vec![state.algorithm.name()].into(),
            );
            for (name, value) in &mutable.metadata {
                document.insert(name.clone(), value.clone());
            }
            (document, None)
        }
    };
    drop(mutable);
    let mut body = Value::Object(document.clone()).to_string().into_bytes();
    if body.len() < pad_to {
        document.insert("padding".into(), "x".repeat(pad_to - body.len()).into());
        body = Value::Object(document).to_string().into_bytes();
    }
    let content_type = content_type_override.unwrap_or_else(|| content_type(endpoint).to_owned());
    respond(
        StatusCode::OK,
        &content_type,
        cache_control.as_deref(),
        body,
    )
}

fn respond(
    status: StatusCode,
    content_type: &str,
    cache_control: Option<&str>,
    body: Vec<u8>,
) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    if let Ok(value) = header::HeaderValue::from_str(content_type) {
        response.headers_mut().insert(header::CONTENT_TYPE, value);
    }
    if let Some(value) = cache_control.and_then(|v| header::HeaderValue::from_str(v).ok()) {
        response.headers_mut().insert(header::CACHE_CONTROL, value);
    }
    response
}
