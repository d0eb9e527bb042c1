//! Shared by the integration tests: a testkit key, tokens, a verifier on a manual clock
//! and axum servers on 127.0.0.1:0. The raw HTTP/1.1 client and the fixture names come
//! from the testkit.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

use std::future::Ready;
use std::net::SocketAddr;
use std::time::Duration;

use portcullis::{Claims, JwtVerifier, KeySet, Validation, Verification, Verifier, VerifyError};
use portcullis_jwt::ManualClock;
pub use portcullis_testkit::fixture::{AUDIENCE, ISSUER, NOW};
use portcullis_testkit::{RawResponse, SigningAlgorithm, SigningKey, jwks};
use tokio::net::TcpListener;

pub fn key() -> &'static SigningKey {
    SigningKey::shared(SigningAlgorithm::ES256)
}

/// A verifier for [`key`], with time frozen at [`NOW`].
pub fn verifier() -> JwtVerifier {
    let validation = Validation::builder()
        .issuer(ISSUER)
        .audience(AUDIENCE)
        .build()
        .unwrap();
    let keys = KeySet::from_jwks(&serde_json::to_vec(&jwks([key()])).unwrap()).unwrap();
    JwtVerifier::with_static_keys(validation, keys).with_clock(ManualClock::at_unix(NOW))
}

/// A valid token granting `scope`.
pub fn token(scope: &str) -> String {
    key()
        .token()
        .standard_claims(ISSUER, AUDIENCE, NOW)
        .claim("scope", scope)
        .sign()
}

/// A verifier whose issuer is down.
#[derive(Clone, Debug)]
pub struct Down;

impl Verifier for Down {
    type Future = Ready<Result<Claims, VerifyError>>;

    fn verify(&self, _token: &str) -> Verification<Self::Future> {
        Verification::Done(Err(VerifyError::unavailable(
            "issuer unreachable",
            Duration::from_secs(7),
        )))
    }
}

pub async fn serve_axum(router: axum::Router) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    addr
}

/// The `WWW-Authenticate` header of `response`, or `""` when it has none.
pub fn challenge<B>(response: &http::Response<B>) -> String {
    response
        .headers()
        .get(http::header::WWW_AUTHENTICATE)
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default()
}

/// Asserts that `response` is a 401 whose challenge gives `description` as its
/// `error_description`; `context` names the case in a failure.
#[track_caller]
pub fn assert_unauthorized(response: &RawResponse, description: &str, context: &str) {
    assert_eq!(response.status, 401, "{context}");
    let challenge = response.challenge();
    assert!(
        challenge.contains(&format!("error_description=\"{description}\"")),
        "{context}: {challenge}"
    );
}

/// A GET of `path` with `token` as a bearer token.
pub fn bearer_request(path: &str, token: &str) -> http::Request<String> {
    http::Request::builder()
        .uri(path)
        .header(http::header::AUTHORIZATION, format!("Bearer {token}"))
        .body(String::new())
        .unwrap()
}

/// Every `WWW-Authenticate` header of `response`, in order.
pub fn challenges<B>(response: &http::Response<B>) -> Vec<String> {
    response
        .headers()
        .get_all(http::header::WWW_AUTHENTICATE)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect()
}

/// The RFC 7638 thumbprint of `key`'s public JWK, as a `cnf.jkt` carries it.
pub fn jkt(key: &SigningKey) -> String {
    use base64::Engine as _;
    let public = portcullis_jwt::Key::from_jwk(&key.public_jwk()).unwrap();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(public.thumbprint())
}
