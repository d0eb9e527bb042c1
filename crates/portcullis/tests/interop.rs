//! Interop with a real authorization server: panva's oidc-provider (see
//! `tests/interop/`), issuing RFC 9068 JWT access tokens through client-credentials
//! grants with resource indicators, signed with RS256, PS256, ES256 and EdDSA.
//!
//! The test discovers the provider (OpenID Connect discovery), keeps its JWK Set in a
//! `RemoteKeySet`, puts a real axum server behind the layers, and checks: valid → 200,
//! insufficient scope → 403, wrong audience → 401, expired (the verifier's clock moved
//! past the 60 s lifetime, no sleeping) → 401.
//!
//! Opaque tokens from a second client go through RFC 7662 introspection at the
//! discovered endpoint, authenticated with `client_secret_basic` (a secret full of
//! reserved characters): active → 200, insufficient scope → 403, wrong audience → 401,
//! and a revoked token keeps working for the documented cache lifetime, then → 401.
#![allow(clippy::unwrap_used, clippy::print_stderr)]

mod common;

use std::time::{Duration, SystemTime};

use axum::Router;
use axum::routing::get;
use common::*;
use portcullis::{
    AuthenticationLayer, DpopPolicy, HybridVerifier, IntrospectionVerifier, JwtVerifier,
    ScopeRequirement, Validation,
};
use portcullis_issuer::{
    ClientAuth, DiscoveryMode, HttpClient, IssuerMetadata, RemoteKeySet, Secret,
};
use portcullis_jwt::{Algorithm, ManualClock};
use portcullis_testkit::{NodePeer, raw_exchange, raw_get_with_token};

const RESOURCE: &str = "https://api.test";
/// The resource server's introspection secret in `tests/interop/provider.mjs`.
const RESOURCE_SERVER_SECRET: &str = "intro:spect/+%&= ~";

/// panva's oidc-provider on loopback (`tests/interop/provider.mjs`); `None` (after a
/// loud notice) when it is not installed, unless `PORTCULLIS_REQUIRE_INTEROP` is set.
fn start_provider() -> Option<NodePeer> {
    NodePeer::start("provider.mjs", "oidc-provider")
}

/// One HTTP/1.1 exchange with the provider; returns status and body.
async fn http(port: u16, method: &str, path: &str, form: &str) -> (u16, String) {
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{form}",
        form.len()
    );
    let response = raw_exchange(([127, 0, 0, 1], port).into(), request.as_bytes()).await;
    assert!(
        response.header("transfer-encoding").is_none(),
        "the provider answers with Content-Length"
    );
    (response.status, response.body)
}

async fn fetch_token(port: u16, client: &str, scope: &str, resource: &str) -> String {
    let form = format!(
        "grant_type=client_credentials&client_id={client}&client_secret=secret&scope={scope}&resource={}",
        resource.replace(':', "%3A").replace('/', "%2F")
    );
    let (status, body) = http(port, "POST", "/token", &form).await;
    assert_eq!(status, 200, "{body}");
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(json["token_type"], "Bearer");
    json["access_token"].as_str().unwrap().to_owned()
}

/// JWTs checked against the provider's key set, opaque tokens introspected, on `clock`.
async fn hybrid_verifier(
    issuer: &str,
    clock: &ManualClock,
) -> HybridVerifier<JwtVerifier, IntrospectionVerifier> {
    let keys = RemoteKeySet::from_issuer(issuer).build().unwrap();
    keys.ready().await;
    let metadata = IssuerMetadata::discover(&HttpClient::new(), issuer, DiscoveryMode::OpenId)
        .await
        .unwrap();
    let validation = Validation::builder()
        .issuer(issuer)
        .audience(RESOURCE)
        .algorithms([
            Algorithm::RS256,
            Algorithm::PS256,
            Algorithm::ES256,
            Algorithm::EdDSA,
        ])
        .build()
        .unwrap();
    let introspection = IntrospectionVerifier::from_metadata(
        &metadata,
        ClientAuth::ClientSecretBasic {
            client_id: "resource-server".into(),
            client_secret: Secret::new(RESOURCE_SERVER_SECRET),
        },
        validation.clone(),
    )
    .unwrap()
    .cache_ttl(Duration::from_secs(30))
    .clock(clock.clone())
    .build()
    .unwrap();
    HybridVerifier::new(
        JwtVerifier::with_remote_keys(validation, keys).with_clock(clock.clone()),
        introspection,
    )
}

#[tokio::test]
async fn oidc_provider_tokens() {
    let Some(provider) = start_provider() else {
        return;
    };
    let port = provider.port();
    let issuer = format!("http://127.0.0.1:{port}");

    let clock = ManualClock::new(SystemTime::now());
    let verifier = hybrid_verifier(&issuer, &clock).await;
    let authn = AuthenticationLayer::builder(verifier)
        .realm("interop")
        .build()
        .unwrap();
    let write = authn.require(ScopeRequirement::all_of(["write"]).unwrap());
    let router = Router::new()
        .route("/read", get(|| async { "read" }))
        .route("/write", get(|| async { "write" }).route_layer(write))
        .layer(authn);
    let addr = serve_axum(router).await;

    for client in ["rs256", "ps256", "es256", "eddsa"] {
        let read = fetch_token(port, client, "read", RESOURCE).await;
        let unverified = portcullis_jwt::UnverifiedToken::parse(&read, 8192).unwrap();
        assert_eq!(
            unverified.header().token_type(),
            portcullis_jwt::TokenType::AccessToken,
            "{client}"
        );

        let ok = raw_get_with_token(addr, "/read", &read).await;
        assert_eq!(ok.status, 200, "{client}: {ok:?}");

        let denied = raw_get_with_token(addr, "/write", &read).await;
        assert_eq!(denied.status, 403, "{client}");
        assert!(denied.challenge().contains(r#"error="insufficient_scope""#));
        let both = fetch_token(port, client, "read write", RESOURCE).await;
        assert_eq!(
            raw_get_with_token(addr, "/write", &both).await.status,
            200,
            "{client}"
        );

        let other = fetch_token(port, client, "read", "https://other.test").await;
        let wrong_audience = raw_get_with_token(addr, "/read", &other).await;
        assert_unauthorized(&wrong_audience, "invalid audience", client);
    }

    // Expiry: the tokens live 60 s; move the verifier's clock past that and the leeway.
    let token = fetch_token(port, "es256", "read", RESOURCE).await;
    assert_eq!(raw_get_with_token(addr, "/read", &token).await.status, 200);
    clock.advance(Duration::from_secs(60 + 31));
    let expired = raw_get_with_token(addr, "/read", &token).await;
    assert_unauthorized(&expired, "token expired", "es256");

    // Opaque tokens, checked by introspection.
    let opaque = fetch_token(port, "opaque", "read", RESOURCE).await;
    assert!(!opaque.contains('.'), "an opaque token: {opaque}");
    assert_eq!(raw_get_with_token(addr, "/read", &opaque).await.status, 200);
    let denied = raw_get_with_token(addr, "/write", &opaque).await;
    assert_eq!(denied.status, 403);
    let other = fetch_token(port, "opaque", "read", "https://other.test").await;
    let wrong_audience = raw_get_with_token(addr, "/read", &other).await;
    assert_unauthorized(&wrong_audience, "invalid audience", "opaque");

    // Revocation (RFC 7009): the cached result serves for its lifetime (30 s here),
    // then the provider is asked again and says inactive.
    let revoked = fetch_token(port, "opaque", "read", RESOURCE).await;
    assert_eq!(
        raw_get_with_token(addr, "/read", &revoked).await.status,
        200
    );
    let (status, body) = http(
        port,
        "POST",
        "/token/revocation",
        &format!("token={revoked}&client_id=opaque&client_secret=secret"),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        raw_get_with_token(addr, "/read", &revoked).await.status,
        200
    );
    clock.advance(Duration::from_secs(31));
    let refused = raw_get_with_token(addr, "/read", &revoked).await;
    assert_unauthorized(&refused, "token inactive", "revoked");
}

/// DPoP with a real client library (panva's oauth4webapi, `tests/interop/dpop-client.mjs`)
/// building the proofs, against DPoP-bound tokens from the provider: a JWT (client
/// `es256`) and an opaque token checked by introspection (client `opaque`, whose
/// introspection response carries `cnf.jkt`).
#[tokio::test]
async fn oidc_provider_dpop() {
    let Some(provider) = start_provider() else {
        return;
    };
    let issuer = provider.origin();
    let clock = ManualClock::new(SystemTime::now());
    let verifier = hybrid_verifier(&issuer, &clock).await;

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let origin = format!("http://{addr}");
    let authn = AuthenticationLayer::builder(verifier)
        .realm("interop")
        .dpop(DpopPolicy::builder(&origin).build().unwrap())
        .build()
        .unwrap();
    let router = Router::new()
        .route("/read", get(|| async { "read" }))
        .layer(authn);
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });

    let dir = NodePeer::dir();
    for client in ["es256", "opaque"] {
        let output = tokio::process::Command::new("node")
            .arg("dpop-client.mjs")
            .args([&issuer, client, RESOURCE, &format!("{origin}/read")])
            .current_dir(&dir)
            .output()
            .await
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "{client}: {stdout}{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let cases: Vec<(&str, &str, &str)> = stdout
            .lines()
            .filter_map(|line| {
                let mut parts = line.splitn(3, ' ');
                Some((parts.next()?, parts.next()?, parts.next()?))
            })
            .collect();
        let expected = [
            ("valid", "200", None),
            ("replayed", "401", Some(r#"error="invalid_dpop_proof""#)),
            ("other-method", "401", Some(r#"error="invalid_dpop_proof""#)),
            ("other-key", "401", Some(r#"error="invalid_token""#)),
            ("bearer", "401", Some(r#"error="invalid_token""#)),
            ("no-proof", "401", Some(r#"error="invalid_dpop_proof""#)),
        ];
        assert_eq!(cases.len(), expected.len(), "{client}: {stdout}");
        for ((case, status, challenge), (name, want, error)) in cases.into_iter().zip(expected) {
            assert_eq!((case, status), (name, want), "{client}: {challenge}");
            if let Some(error) = error {
                assert!(challenge.contains(error), "{client} {case}: {challenge}");
            }
        }
    }
}
