//! Opaque tokens through the layer: introspection (cached, revoked, down), hybrid
//! routing of JWT and opaque tokens, and several issuers, against testkit issuers on
//! 127.0.0.1.
#![allow(clippy::unwrap_used)]

mod common;

use std::convert::Infallible;
use std::time::Duration;

use http::{Request, Response, StatusCode, header};
use portcullis::{
    AuthenticationLayer, Claims, HybridVerifier, IntrospectionVerifier, JwtVerifier,
    MultiIssuerVerifier, Routing, ScopeRequirement, Verifier,
};
use portcullis_issuer::{ClientAuth, HttpClient, RemoteKeySet, Secret};
use portcullis_jwt::{ManualClock, Validation, VerifiedBy};
use portcullis_testkit::fixture::{AUDIENCE, NOW};
use portcullis_testkit::{
    Endpoint, Fault, INTROSPECTION_CLIENT_ID, INTROSPECTION_CLIENT_SECRET, TestIssuer,
};
use tower::{ServiceBuilder, ServiceExt, service_fn};

use common::challenge;

fn validation(issuer: &TestIssuer) -> Validation {
    Validation::builder()
        .issuer(issuer.url())
        .audience(AUDIENCE)
        .build()
        .unwrap()
}

fn introspection(issuer: &TestIssuer, clock: &ManualClock) -> IntrospectionVerifier {
    IntrospectionVerifier::builder(
        issuer.introspection_url(),
        ClientAuth::ClientSecretBasic {
            client_id: INTROSPECTION_CLIENT_ID.into(),
            client_secret: Secret::new(INTROSPECTION_CLIENT_SECRET),
        },
        validation(issuer),
    )
    .http_client(
        HttpClient::builder()
            .timeout(Duration::from_millis(500))
            .connect_timeout(Duration::from_millis(500))
            .build()
            .unwrap(),
    )
    .clock(clock.clone())
    .build()
    .unwrap()
}

fn jwt(issuer: &TestIssuer, clock: &ManualClock) -> JwtVerifier {
    let keys = RemoteKeySet::from_jwks_url(&issuer.jwks_url())
        .clock(clock.clone())
        .build()
        .unwrap();
    JwtVerifier::with_remote_keys(validation(issuer), keys).with_clock(clock.clone())
}

/// An API whose `/read` needs `read` and `/write` needs `write`.
async fn call<V: Verifier + Clone>(verifier: V, path: &str, token: &str) -> Response<String> {
    let authn = AuthenticationLayer::builder(verifier).build().unwrap();
    let scope = if path == "/write" { "write" } else { "read" };
    let required = authn.require(ScopeRequirement::all_of([scope]).unwrap());
    let api = ServiceBuilder::new()
        .layer(authn)
        .layer(required)
        .service(service_fn(|request: Request<String>| async move {
            let claims = request.extensions().get::<Claims>().unwrap();
            let how = match claims.verified_by() {
                VerifiedBy::Introspection => "introspection",
                _ => "jwt",
            };
            Ok::<_, Infallible>(Response::new(format!(
                "{} {how}",
                claims.issuer().unwrap_or("-")
            )))
        }));
    let request = Request::builder()
        .uri(path)
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .body(String::new())
        .unwrap();
    api.oneshot(request).await.unwrap()
}

#[tokio::test]
async fn opaque_tokens_pass_and_scopes_are_checked_on_every_cached_hit() {
    let issuer = TestIssuer::start().await;
    let clock = ManualClock::at_unix(NOW);
    let verifier = introspection(&issuer, &clock);
    let token = issuer.mint_opaque(AUDIENCE, NOW, "read");
    for _ in 0..3 {
        let response = call(verifier.clone(), "/read", &token).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert!(response.body().ends_with("introspection"));
        let response = call(verifier.clone(), "/write", &token).await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
        let challenge = challenge(&response);
        assert!(
            challenge.contains(r#"error="insufficient_scope""#),
            "{challenge}"
        );
    }
    assert_eq!(issuer.requests(Endpoint::Introspection), 1);
    // One lookup per request: the first request's miss is counted once, not again when
    // it goes on to ask the issuer.
    let stats = verifier.cache_stats().unwrap();
    assert_eq!((stats.misses, stats.hits), (1, 5), "{stats:?}");
}

#[tokio::test]
async fn inactive_is_401_and_an_unreachable_endpoint_is_503() {
    let issuer = TestIssuer::start().await;
    let clock = ManualClock::at_unix(NOW);
    let verifier = introspection(&issuer, &clock);
    let response = call(verifier.clone(), "/read", "not-a-real-token").await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let challenge = challenge(&response);
    assert!(
        challenge.contains(r#"error="invalid_token""#),
        "{challenge}"
    );

    issuer.set_fault(Endpoint::Introspection, Fault::Status(500));
    let token = issuer.mint_opaque(AUDIENCE, NOW, "read");
    let response = call(verifier, "/read", &token).await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(response.headers()[header::RETRY_AFTER], "5");
}

#[tokio::test]
async fn hybrid_sends_jwts_to_the_key_set_and_the_rest_to_introspection() {
    let issuer = TestIssuer::start().await;
    let clock = ManualClock::at_unix(NOW);
    let hybrid = HybridVerifier::new(jwt(&issuer, &clock), introspection(&issuer, &clock));
    let jwt_token = issuer.mint_with(AUDIENCE, NOW, |t| t.claim("scope", "read"));
    let response = call(hybrid.clone(), "/read", &jwt_token).await;
    assert_eq!(response.status(), StatusCode::OK, "{}", response.body());
    assert!(response.body().ends_with(" jwt"));
    assert_eq!(issuer.requests(Endpoint::Introspection), 0);

    let opaque = issuer.mint_opaque(AUDIENCE, NOW, "read");
    let response = call(hybrid.clone(), "/read", &opaque).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.body().ends_with("introspection"));
    assert_eq!(issuer.requests(Endpoint::Introspection), 1);

    // Introspect everything: the JWT goes to the endpoint too, which does not know it.
    let all = hybrid.routing(Routing::IntrospectAll);
    let response = call(all, "/read", &jwt_token).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(issuer.requests(Endpoint::Introspection), 2);
}

#[tokio::test]
async fn several_issuers_each_with_its_own_keys_and_rules() {
    let a = TestIssuer::builder().path("/a").start().await;
    let b = TestIssuer::builder().path("/b").start().await;
    let stranger = TestIssuer::builder().path("/c").start().await;
    let clock = ManualClock::at_unix(NOW);
    let verifier = MultiIssuerVerifier::builder()
        .issuer(a.url(), jwt(&a, &clock))
        .issuer(
            b.url(),
            HybridVerifier::new(jwt(&b, &clock), introspection(&b, &clock)),
        )
        .opaque_tokens(b.url())
        .build()
        .unwrap();

    for issuer in [&a, &b] {
        let token = issuer.mint_with(AUDIENCE, NOW, |t| t.claim("scope", "read"));
        let response = call(verifier.clone(), "/read", &token).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(*response.body(), format!("{} jwt", issuer.url()));
    }
    let opaque = b.mint_opaque(AUDIENCE, NOW, "read");
    let response = call(verifier.clone(), "/read", &opaque).await;
    assert_eq!(*response.body(), format!("{} introspection", b.url()));

    // A token from an issuer nobody configured: refused, and no issuer is asked.
    let before = [&a, &b, &stranger].map(|i| i.requests(Endpoint::Jwks));
    let token = stranger.mint_with(AUDIENCE, NOW, |t| t.claim("scope", "read"));
    let response = call(verifier.clone(), "/read", &token).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        [&a, &b, &stranger].map(|i| i.requests(Endpoint::Jwks)),
        before
    );

    // A's key claiming to be B: routed to B, whose keys do not include A's.
    let forged = a.mint_with(AUDIENCE, NOW, |t| {
        t.claim("iss", b.url()).claim("scope", "read")
    });
    let response = call(verifier.clone(), "/read", &forged).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);

    // No iss at all.
    let anonymous = a.mint_with(AUDIENCE, NOW, |t| t.without_claim("iss"));
    let response = call(verifier, "/read", &anonymous).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

#[test]
fn multi_issuer_configuration_errors() {
    assert!(MultiIssuerVerifier::builder().build().is_err());
    let v = portcullis::JwtVerifier::with_static_keys(
        Validation::builder()
            .issuer("https://a.test")
            .audience(AUDIENCE)
            .build()
            .unwrap(),
        portcullis::KeySet::empty(),
    );
    assert!(
        MultiIssuerVerifier::builder()
            .issuer("https://a.test", v.clone())
            .issuer("https://a.test", v.clone())
            .build()
            .is_err()
    );
    assert!(
        MultiIssuerVerifier::builder()
            .issuer("https://a.test", v)
            .opaque_tokens("https://b.test")
            .build()
            .is_err()
    );
}
