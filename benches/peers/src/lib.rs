//! Shared set-up for the side-by-side benchmarks: one signing key and token per
//! algorithm, and every configuration (ours and the peers') built from it, each checked
//! to accept the valid token and refuse a tampered one before anything is timed.
#![allow(missing_docs, clippy::unwrap_used, clippy::missing_panics_doc)]

use std::time::{Duration, SystemTime};

use aws_lc_rs::signature::{self, ParsedPublicKey, RsaPublicKeyComponents};
use axum::routing::get;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use portcullis::{AuthenticationLayer, JwtVerifier, KeySet, Validation};
use portcullis_issuer::TokenCache;
use portcullis_jwt::Algorithm;
use portcullis_testkit::{SigningAlgorithm, SigningKey, jwks};
use serde::Deserialize;
use serde_json::Value;
use tower::ServiceExt;

pub const ISSUER: &str = "https://issuer.bench";
pub const AUDIENCE: &str = "https://api.bench";

/// The algorithms compared, in table order.
pub const ALGORITHMS: [SigningAlgorithm; 5] = [
    SigningAlgorithm::RS256,
    SigningAlgorithm::PS256,
    SigningAlgorithm::ES256,
    SigningAlgorithm::ES384,
    SigningAlgorithm::EdDSA,
];

/// What the peers deserialise claims into: the registered claims a resource server
/// reads, and the scope.
#[derive(Clone, Debug, Deserialize)]
pub struct PeerClaims {
    pub iss: String,
    pub sub: String,
    pub aud: Value,
    pub exp: u64,
    pub scope: Option<String>,
}

pub use portcullis_testkit::fixture::unix_now;

/// One algorithm's key, JWKS and tokens.
pub struct Fixture {
    pub name: &'static str,
    pub key: SigningKey,
    pub jwks: Value,
    pub token: String,
    /// `token` with one bit of its signature flipped.
    pub tampered: String,
    pub algorithm: Algorithm,
    pub jwt_alg: jsonwebtoken::Algorithm,
}

impl Fixture {
    /// The fixture of `alg`, named as in the `alg` header by every library.
    pub fn new(alg: SigningAlgorithm) -> Fixture {
        let name = alg.name();
        let algorithm = Algorithm::from_name(name).unwrap();
        let jwt_alg = name.parse().unwrap();
        let key = SigningKey::generate(alg);
        let token = mint(&key, unix_now(), "read write");
        let tampered = tamper(&token);
        let jwks = jwks([&key]);
        Fixture {
            name,
            key,
            jwks,
            token,
            tampered,
            algorithm,
            jwt_alg,
        }
    }

    pub fn all() -> Vec<Fixture> {
        ALGORITHMS.into_iter().map(Fixture::new).collect()
    }

    /// The fixture of the compared algorithm called `name`.
    pub fn named(name: &str) -> Fixture {
        let alg = ALGORITHMS.into_iter().find(|a| a.name() == name);
        Fixture::new(alg.unwrap_or_else(|| panic!("{name} is not compared")))
    }

    pub fn jwks_text(&self) -> String {
        serde_json::to_string(&self.jwks).unwrap()
    }

    pub fn validation(&self) -> Validation {
        Validation::builder()
            .issuer(ISSUER)
            .audience(AUDIENCE)
            .algorithms([self.algorithm])
            .build()
            .unwrap()
    }

    pub fn key_set(&self) -> KeySet {
        KeySet::from_jwks(self.jwks_text().as_bytes()).unwrap()
    }

    pub fn verifier(&self) -> JwtVerifier {
        JwtVerifier::with_static_keys(self.validation(), self.key_set())
    }

    pub fn cached_verifier(&self) -> JwtVerifier {
        self.verifier().with_token_cache(bench_cache(10_000))
    }
}

/// A token cache as a deployment would configure it, living longer than a bench run.
pub fn bench_cache(capacity: u64) -> TokenCache<portcullis::Claims> {
    TokenCache::<portcullis::Claims>::builder()
        .capacity(capacity)
        .max_ttl(Duration::from_secs(3600))
        .build()
        .unwrap()
}

/// A token valid for an hour (longer than any run here).
pub fn mint(key: &SigningKey, now: u64, scope: &str) -> String {
    mint_for(key, ISSUER, AUDIENCE, now, scope)
}

/// With `nbf`, which tower-oauth2-resource-server's recommended checks require (every
/// configuration here checks it).
pub fn mint_for(key: &SigningKey, issuer: &str, audience: &str, now: u64, scope: &str) -> String {
    key.token()
        .standard_claims(issuer, audience, now)
        .claim("nbf", now)
        .claim("exp", now + 3600)
        .claim("scope", scope)
        .sign()
}

/// Flips one bit in the middle of the signature (decoded, so no base64 slack bit).
pub fn tamper(token: &str) -> String {
    let (input, sig) = token.rsplit_once('.').unwrap();
    let mut sig = URL_SAFE_NO_PAD.decode(sig).unwrap();
    let middle = sig.len() / 2;
    sig[middle] ^= 0x01;
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig))
}

/// The bare signature check: the public key parsed once, the signature decoded once;
/// what is timed is aws-lc-rs verifying the signing input.
pub struct RawVerify {
    key: ParsedPublicKey,
    pub message: Vec<u8>,
    pub signature: Vec<u8>,
}

impl RawVerify {
    pub fn new(fixture: &Fixture, token: &str) -> RawVerify {
        let jwk = &fixture.key.public_jwk();
        let field = |name: &str| URL_SAFE_NO_PAD.decode(jwk[name].as_str().unwrap()).unwrap();
        let key = match fixture.algorithm {
            Algorithm::RS256 | Algorithm::PS256 => {
                let params = if fixture.algorithm == Algorithm::RS256 {
                    &signature::RSA_PKCS1_2048_8192_SHA256
                } else {
                    &signature::RSA_PSS_2048_8192_SHA256
                };
                RsaPublicKeyComponents {
                    n: field("n"),
                    e: field("e"),
                }
                .to_parsed_public_key(params)
                .unwrap()
            }
            Algorithm::ES256 | Algorithm::ES384 => {
                let alg = if fixture.algorithm == Algorithm::ES256 {
                    &signature::ECDSA_P256_SHA256_FIXED
                } else {
                    &signature::ECDSA_P384_SHA384_FIXED
                };
                let mut point = vec![0x04];
                point.extend(field("x"));
                point.extend(field("y"));
                ParsedPublicKey::new(alg, point).unwrap()
            }
            Algorithm::EdDSA => ParsedPublicKey::new(&signature::ED25519, field("x")).unwrap(),
            other => panic!("no raw baseline for {other:?}"),
        };
        let (input, sig) = token.rsplit_once('.').unwrap();
        RawVerify {
            key,
            message: input.as_bytes().to_vec(),
            signature: URL_SAFE_NO_PAD.decode(sig).unwrap(),
        }
    }

    pub fn verify(&self) -> bool {
        self.key.verify_sig(&self.message, &self.signature).is_ok()
    }
}

/// jsonwebtoken's decode with the public key pre-built as a `DecodingKey`.
pub struct JsonWebToken {
    key: jsonwebtoken::DecodingKey,
    validation: jsonwebtoken::Validation,
}

impl JsonWebToken {
    pub fn new(fixture: &Fixture) -> JsonWebToken {
        let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_value(fixture.key.public_jwk()).unwrap();
        let key = jsonwebtoken::DecodingKey::from_jwk(&jwk).unwrap();
        let mut validation = jsonwebtoken::Validation::new(fixture.jwt_alg);
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[AUDIENCE]);
        JsonWebToken { key, validation }
    }

    pub fn decode(&self, token: &str) -> Result<PeerClaims, jsonwebtoken::errors::Error> {
        jsonwebtoken::decode::<PeerClaims>(token, &self.key, &self.validation)
            .map(|data| data.claims)
    }
}

async fn hello() -> &'static str {
    "hello"
}

/// The route every configuration serves.
///
/// Every router here is finished with `with_state(())`, as `axum::serve` does
/// (`Router::into_make_service`): its handlers become routes, and its layers wrap them,
/// once. Called directly, a `Router<()>` does that for every request (axum's own
/// comment: "such that everything is turned into `Route` eagerly rather than doing that
/// per request"), which times axum rebuilding each layer per request, not the layer.
pub fn unprotected() -> axum::Router {
    axum::Router::new().route("/", get(hello)).with_state(())
}

/// The same route on axum 0.7, the version jwt-authorizer 0.15 is built for.
pub fn unprotected_axum07() -> axum07::Router {
    axum07::Router::new()
        .route("/", axum07::routing::get(hello))
        .with_state(())
}

pub fn portcullis(verifier: JwtVerifier) -> axum::Router {
    unprotected()
        .layer(AuthenticationLayer::builder(verifier).build().unwrap())
        .with_state(())
}

/// The layer around the router as a whole (`Layer::layer(router)`, as with
/// `ServiceBuilder` or `axum::serve(listener, layer.layer(router).into_make_service())`):
/// no per-route wrapping by axum.
pub fn portcullis_around(
    verifier: JwtVerifier,
) -> portcullis::Authentication<axum::Router, JwtVerifier> {
    use tower::Layer;
    AuthenticationLayer::builder(verifier)
        .build()
        .unwrap()
        .layer(unprotected())
}

/// A verifier that hands back claims verified once, up front: through a layer it times
/// the layer's own work (token extraction, the span, the extensions, the futures)
/// without any verification.
#[derive(Clone)]
pub struct Fixed(pub portcullis::Claims);

impl portcullis::Verifier for Fixed {
    type Future = std::future::Ready<Result<portcullis::Claims, portcullis::VerifyError>>;

    /// At once, so the layer takes its no-waiting path, as with a `JwtVerifier`.
    fn verify(&self, token: &str) -> portcullis::Verification<Self::Future> {
        std::hint::black_box(token);
        portcullis::Verification::Done(Ok(self.0.clone()))
    }
}

impl Fixture {
    /// The fixture's token, verified once.
    pub fn claims(&self) -> portcullis::Claims {
        self.validation()
            .verify(&self.token, &self.key_set(), SystemTime::now())
            .unwrap()
    }
}

/// The layer with [`Fixed`] claims, by `Router::layer`.
pub fn portcullis_fixed(fixture: &Fixture) -> axum::Router {
    unprotected()
        .layer(
            AuthenticationLayer::builder(Fixed(fixture.claims()))
                .build()
                .unwrap(),
        )
        .with_state(())
}

/// The unguarded route behind a layer that does nothing, added with `Router::layer`:
/// what axum's own wrapping of a route in a layer costs, whatever the layer.
pub fn unprotected_identity_layer() -> axum::Router {
    unprotected()
        .layer(tower::layer::util::Identity::new())
        .with_state(())
}

/// jwt-authorizer with the JWKS given as text (no fetching), issuer, audience, `exp`
/// (its default) and `nbf` (off by default, on here like everywhere else) checked,
/// algorithms those of the JWK.
pub async fn jwt_authorizer(fixture: &Fixture) -> axum07::Router {
    use jwt_authorizer::IntoLayer;
    let authorizer: jwt_authorizer::Authorizer<PeerClaims> =
        jwt_authorizer::JwtAuthorizer::from_jwks_text(&fixture.jwks_text())
            .validation(
                jwt_authorizer::Validation::new()
                    .iss(&[ISSUER])
                    .aud(&[AUDIENCE])
                    .nbf(true),
            )
            .build()
            .await
            .unwrap();
    unprotected_axum07()
        .layer(authorizer.into_layer())
        .with_state(())
}

/// tower-oauth2-resource-server with a static JWKS (no discovery, no fetching),
/// issuer, audience, `exp` and `nbf` checked, the one algorithm allowed.
pub async fn tower_oauth2(fixture: &Fixture) -> axum::Router {
    use tower_oauth2_resource_server::server::OAuth2ResourceServer;
    use tower_oauth2_resource_server::tenant::TenantConfiguration;
    use tower_oauth2_resource_server::validation::ClaimsValidationSpec;
    let audiences = vec![AUDIENCE.to_owned()];
    let tenant = TenantConfiguration::static_builder(fixture.jwks_text())
        .audiences(&audiences)
        .claims_validation(ClaimsValidationSpec::recommended(ISSUER, &audiences))
        .allowed_algorithms(&[fixture.jwt_alg])
        .build()
        .unwrap();
    let server = OAuth2ResourceServer::<PeerClaims>::builder()
        .add_tenant(tenant)
        .build()
        .await
        .unwrap();
    unprotected().layer(server.into_layer()).with_state(())
}

/// The `Authorization` value for `token`, built once so timed requests only clone it.
pub fn bearer(token: &str) -> http::HeaderValue {
    http::HeaderValue::from_str(&format!("Bearer {token}")).unwrap()
}

/// A request carrying `authorization` (every timed configuration, the unprotected one
/// included, gets the same header, so the difference is the guard).
pub fn request_with(authorization: &http::HeaderValue) -> http::Request<axum::body::Body> {
    let mut request = http::Request::new(axum::body::Body::empty());
    request
        .headers_mut()
        .insert(http::header::AUTHORIZATION, authorization.clone());
    request
}

pub fn request07_with(authorization: &http::HeaderValue) -> http::Request<axum07::body::Body> {
    let mut request = http::Request::new(axum07::body::Body::empty());
    request
        .headers_mut()
        .insert(http::header::AUTHORIZATION, authorization.clone());
    request
}

pub fn request(token: Option<&str>) -> http::Request<axum::body::Body> {
    let mut builder = http::Request::get("/");
    if let Some(token) = token {
        builder = builder.header(http::header::AUTHORIZATION, format!("Bearer {token}"));
    }
    builder.body(axum::body::Body::empty()).unwrap()
}

pub fn request07(token: Option<&str>) -> http::Request<axum07::body::Body> {
    let mut builder = http::Request::get("/");
    if let Some(token) = token {
        builder = builder.header(http::header::AUTHORIZATION, format!("Bearer {token}"));
    }
    builder.body(axum07::body::Body::empty()).unwrap()
}

/// A service that answers requests as a router does: the routers here, and a router
/// wrapped by a layer as a whole.
pub trait RequestService:
    tower::Service<
        http::Request<axum::body::Body>,
        Response = http::Response<axum::body::Body>,
        Error = std::convert::Infallible,
        Future: Send,
    > + Clone
    + Send
{
}

impl<S> RequestService for S where
    S: tower::Service<
            http::Request<axum::body::Body>,
            Response = http::Response<axum::body::Body>,
            Error = std::convert::Infallible,
            Future: Send,
        > + Clone
        + Send
{
}

pub async fn status(router: &impl RequestService, token: Option<&str>) -> u16 {
    router
        .clone()
        .oneshot(request(token))
        .await
        .unwrap()
        .status()
        .as_u16()
}

pub async fn status07(router: &axum07::Router, token: Option<&str>) -> u16 {
    router
        .clone()
        .oneshot(request07(token))
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// Panics unless `router` answers 200 to the valid token and 401 to the tampered one
/// and to none: a peer misconfigured into accepting everything must not be timed.
pub async fn assert_guards(label: &str, fixture: &Fixture, router: &impl RequestService) {
    for (token, expected, what) in guard_checks(fixture, true) {
        let answer = status(router, token.as_deref()).await;
        assert_eq!(answer, expected, "{label} {}: {what}", fixture.name);
    }
}

pub async fn assert_guards07(label: &str, fixture: &Fixture, router: &axum07::Router) {
    for (token, expected, what) in guard_checks(fixture, false) {
        let answer = status07(router, token.as_deref()).await;
        assert_eq!(answer, expected, "{label} {}: {what}", fixture.name);
    }
}

/// The requests a guard is checked with (token, status expected, what it is): the valid
/// token, the tampered one, none, and tokens for another issuer or audience. With
/// `twice`, the valid and tampered ones again: the second valid request is the cache hit
/// where there is a cache, and the tampered one after it must still fail.
fn guard_checks(fixture: &Fixture, twice: bool) -> Vec<(Option<String>, u16, &'static str)> {
    let valid = Some(fixture.token.clone());
    let tampered = Some(fixture.tampered.clone());
    let mut checks = vec![
        (valid.clone(), 200, "valid"),
        (tampered.clone(), 401, "tampered"),
        (None, 401, "no token"),
    ];
    if twice {
        checks.push((valid, 200, "valid again"));
        checks.push((tampered, 401, "tampered again"));
    }
    checks.extend(wrong_claims_tokens(fixture).map(|token| (Some(token), 401, "iss/aud")));
    checks
}

/// The non-layer configurations: raw, portcullis-jwt and jsonwebtoken.
pub fn assert_decoders(
    fixture: &Fixture,
    raw: &RawVerify,
    raw_tampered: &RawVerify,
    jwt: &JsonWebToken,
) {
    let name = fixture.name;
    assert!(raw.verify(), "raw {name}: valid");
    assert!(!raw_tampered.verify(), "raw {name}: tampered");
    let (validation, keys) = (fixture.validation(), fixture.key_set());
    validation
        .verify(&fixture.token, &keys, SystemTime::now())
        .unwrap();
    assert!(
        validation
            .verify(&fixture.tampered, &keys, SystemTime::now())
            .is_err(),
        "portcullis-jwt {name}: tampered"
    );
    let claims = jwt.decode(&fixture.token).unwrap();
    assert_eq!(claims.iss, ISSUER);
    assert!(
        jwt.decode(&fixture.tampered).is_err(),
        "jsonwebtoken {name}: tampered"
    );
    // And the claim checks are on: a token for another audience / issuer is refused.
    let [other_aud, other_iss] = wrong_claims_tokens(fixture);
    assert!(
        jwt.decode(&other_aud).is_err(),
        "jsonwebtoken {name}: audience"
    );
    assert!(
        jwt.decode(&other_iss).is_err(),
        "jsonwebtoken {name}: issuer"
    );
    assert!(
        validation
            .verify(&other_aud, &keys, SystemTime::now())
            .is_err()
    );
    assert!(
        validation
            .verify(&other_iss, &keys, SystemTime::now())
            .is_err()
    );
}

/// Tokens for another audience and another issuer, signed by the right key: the layers
/// must refuse them too (proves iss/aud checks are configured, not just signatures).
pub fn wrong_claims_tokens(fixture: &Fixture) -> [String; 2] {
    let now = unix_now();
    [
        mint_for(&fixture.key, ISSUER, "https://other.bench", now, "read"),
        mint_for(&fixture.key, "https://other.issuer", AUDIENCE, now, "read"),
    ]
}

/// Diagnostics for the cache-hit path: `portcullis::token`'s bearer-token character
/// check in its three forms so far (copied; it is crate-private): the first (`current`,
/// early exits), a branch-free fold with eight tests per byte (`branchless`), and the
/// one on main, the same fold with five tests (`ranges`). Same answers, asserted first.
pub mod token_scan {
    pub fn current(token: &[u8]) -> bool {
        let body_len = token.iter().position(|&b| b == b'=').unwrap_or(token.len());
        body_len > 0
            && token[..body_len].iter().all(|&b| {
                b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'+' | b'/')
            })
            && token[body_len..].iter().all(|&b| b == b'=')
    }

    #[inline]
    fn is_token_char(b: u8) -> bool {
        let lower = b | 0x20;
        (lower.wrapping_sub(b'a') < 26)
            | (b.wrapping_sub(b'0') < 10)
            | (b == b'-')
            | (b == b'.')
            | (b == b'_')
            | (b == b'~')
            | (b == b'+')
            | (b == b'/')
    }

    /// Five tests instead of eight: `-`, `.`, `/` and the digits are one range.
    #[inline]
    fn is_token_char_ranges(b: u8) -> bool {
        (b.wrapping_sub(b'-') < 13)
            | ((b | 0x20).wrapping_sub(b'a') < 26)
            | (b == b'+')
            | (b == b'_')
            | (b == b'~')
    }

    /// `branchless` with the five-test class (main's form).
    pub fn ranges(token: &[u8]) -> bool {
        let body_len = token.iter().rposition(|&b| b != b'=').map_or(0, |i| i + 1);
        body_len > 0
            && token[..body_len]
                .iter()
                .fold(0u8, |bad, &b| bad | u8::from(!is_token_char_ranges(b)))
                == 0
    }

    /// A JWS's three segments checked by base64-simd (SIMD, run-time detected), the
    /// five-range fold only for anything else: a JWS in canonical base64url is a
    /// `b64token` (its alphabet and the dots all are token characters).
    pub fn jws_segments(token: &[u8]) -> bool {
        let mut segments = token.splitn(4, |&b| b == b'.');
        if let (Some(header), Some(payload), Some(signature), None) = (
            segments.next(),
            segments.next(),
            segments.next(),
            segments.next(),
        ) && [header, payload, signature]
            .iter()
            .all(|segment| base64_simd::URL_SAFE_NO_PAD.check(segment).is_ok())
            && !header.is_empty()
        {
            return true;
        }
        ranges(token)
    }

    pub fn branchless(token: &[u8]) -> bool {
        // Trailing '=' padding off; what is left must be token characters only ('='
        // is not one), checked without early exit so it vectorises.
        let body_len = token.iter().rposition(|&b| b != b'=').map_or(0, |i| i + 1);
        body_len > 0
            && token[..body_len]
                .iter()
                .fold(0u8, |bad, &b| bad | u8::from(!is_token_char(b)))
                == 0
    }
}

/// Timing in alternation, for the `paired` and `interplay` binaries: short batches of
/// each configuration in turn, medians over rounds.
pub mod pairing {
    use std::time::{Instant, SystemTime};

    use portcullis::{KeySet, Validation};
    use tower::ServiceExt;

    use super::{RequestService, request_with};

    /// Calls per batch.
    pub const BATCH: u32 = 64;

    /// The median of `values` (which it sorts).
    pub fn median(values: &mut [f64]) -> f64 {
        values.sort_by(f64::total_cmp);
        values[values.len() / 2]
    }

    /// Microseconds per call of `call`, over one batch.
    pub fn timed(mut call: impl FnMut()) -> f64 {
        let started = Instant::now();
        for _ in 0..BATCH {
            call();
        }
        started.elapsed().as_secs_f64() * 1e6 / f64::from(BATCH)
    }

    /// Microseconds per request through `service`, over one batch.
    pub fn timed_requests(
        rt: &tokio::runtime::Runtime,
        service: &impl RequestService,
        header: &http::HeaderValue,
    ) -> f64 {
        rt.block_on(async {
            let started = Instant::now();
            for _ in 0..BATCH {
                let response = service.clone().oneshot(request_with(header)).await.unwrap();
                debug_assert_eq!(response.status(), 200);
            }
            started.elapsed().as_secs_f64() * 1e6 / f64::from(BATCH)
        })
    }

    /// One full `portcullis-jwt` verification of `token`, which must verify.
    pub fn verify(validation: &Validation, keys: &KeySet, token: &str) {
        validation
            .verify(std::hint::black_box(token), keys, SystemTime::now())
            .unwrap();
    }

    /// `/proc/loadavg`, for the record.
    pub fn load() -> String {
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .trim()
            .to_owned()
    }
}
