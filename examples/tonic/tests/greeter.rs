//! The example's own greeter, served behind Portcullis on 127.0.0.1:0 and called by a
//! real tonic client: trailers-only UNAUTHENTICATED / PERMISSION_DENIED / UNAVAILABLE
//! with the RFC 6750 challenge as metadata, and claims read by the handler through the
//! request's extensions.
#![allow(clippy::unwrap_used, missing_docs)]

use std::net::SocketAddr;
use std::time::Duration;

use example_tonic::{AUDIENCE, ISSUER, say_hello, serve};
use portcullis::{Claims, JwtVerifier, KeySet, Validation, Verification, Verifier, VerifyError};
use portcullis_jwt::ManualClock;
use portcullis_testkit::fixture::NOW;
use portcullis_testkit::{SigningAlgorithm, SigningKey, jwks};
use tonic::{Code, Status};

fn key() -> &'static SigningKey {
    SigningKey::shared(SigningAlgorithm::ES256)
}

fn verifier() -> JwtVerifier {
    let validation = Validation::builder()
        .issuer(ISSUER)
        .audience(AUDIENCE)
        .build()
        .unwrap();
    let keys = KeySet::from_jwks(&serde_json::to_vec(&jwks([key()])).unwrap()).unwrap();
    JwtVerifier::with_static_keys(validation, keys).with_clock(ManualClock::at_unix(NOW))
}

fn token(scope: &str, issued: u64) -> String {
    key()
        .token()
        .standard_claims(ISSUER, AUDIENCE, issued)
        .claim("scope", scope)
        .sign()
}

/// A verifier whose issuer is down.
#[derive(Clone)]
struct Down;

impl Verifier for Down {
    type Future = std::future::Ready<Result<Claims, VerifyError>>;

    fn verify(&self, _token: &str) -> Verification<Self::Future> {
        Verification::Done(Err(VerifyError::unavailable(
            "issuer unreachable",
            Duration::from_secs(7),
        )))
    }
}

async fn start<V: Verifier + Clone>(verifier: V) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(serve(listener, verifier).unwrap());
    addr
}

fn challenge(status: &Status) -> &str {
    status
        .metadata()
        .get("www-authenticate")
        .expect("www-authenticate metadata")
        .to_str()
        .unwrap()
}

#[tokio::test]
async fn grpc_statuses() {
    let addr = start(verifier()).await;

    let ok = say_hello(addr, Some(&token("greet", NOW))).await.unwrap();
    assert_eq!(ok, "hello example, you are test-subject");

    let missing = say_hello(addr, None).await.unwrap_err();
    assert_eq!(missing.code(), Code::Unauthenticated);
    assert_eq!(challenge(&missing), r#"Bearer realm="greeter""#);

    let bad = say_hello(addr, Some(&token("greet", NOW - 1000)))
        .await
        .unwrap_err();
    assert_eq!(bad.code(), Code::Unauthenticated);
    assert_eq!(bad.message(), "token expired");
    assert!(
        challenge(&bad).contains(r#"error="invalid_token", error_description="token expired""#)
    );

    let denied = say_hello(addr, Some(&token("read", NOW)))
        .await
        .unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied);
    assert!(challenge(&denied).contains(r#"error="insufficient_scope""#));
    assert!(challenge(&denied).contains(r#"scope="greet""#));
}

#[tokio::test]
async fn grpc_unavailable() {
    let addr = start(Down).await;
    let status = say_hello(addr, Some(&token("greet", NOW)))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unavailable);
    assert_eq!(status.message(), "issuer unreachable");
}
