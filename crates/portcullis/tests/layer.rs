//! Layer behaviour through `tower::ServiceExt::oneshot`: token sources, custom
//! rejections, gRPC detection, error and readiness contracts, slow verifiers.
#![allow(clippy::unwrap_used)]

mod common;

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use common::*;
use http::{HeaderName, Request, Response, StatusCode, header};
use portcullis::{
    AuthenticationLayer, Claims, Rejection, RejectionKind, RequireScopesLayer, Verification,
    Verifier, VerifyError,
};
use tower::{Layer, Service, ServiceBuilder, ServiceExt, service_fn};

fn echo_subject()
-> impl Service<Request<String>, Response = Response<String>, Error = Infallible, Future = impl Send>
+ Clone {
    service_fn(|request: Request<String>| async move {
        let subject = request
            .extensions()
            .get::<Claims>()
            .map_or("anonymous".to_owned(), |c| c.subject().unwrap().to_owned());
        Ok::<_, Infallible>(Response::new(subject))
    })
}

fn request(headers: &[(&str, &str)], uri: &str) -> Request<String> {
    let mut builder = Request::builder().uri(uri);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    builder.body(String::new()).unwrap()
}

#[tokio::test]
async fn error_type_stays_infallible() {
    let service = AuthenticationLayer::new(verifier()).layer(echo_subject());
    // Compile-time: the error type is the inner one.
    fn assert_infallible<S: Service<Request<String>, Error = Infallible>>(_: &S) {}
    assert_infallible(&service);
    let scoped = RequireScopesLayer::all_of(["read"])
        .unwrap()
        .layer(echo_subject());
    assert_infallible(&scoped);
}

#[tokio::test]
async fn token_sources() {
    let token = token("read");
    let layer = AuthenticationLayer::builder(verifier())
        .token_header(HeaderName::from_static("x-access-token"))
        .token_cookie("at")
        .token_query_param("access_token")
        .build()
        .unwrap();
    let service = layer.layer(echo_subject());
    let call = |request: Request<String>| service.clone().oneshot(request);

    let header_request = request(&[("x-access-token", &token)], "/");
    assert_eq!(call(header_request).await.unwrap().body(), "test-subject");
    let cookie = format!("theme=dark; at={token}");
    let cookie_request = request(&[("cookie", &cookie)], "/");
    assert_eq!(call(cookie_request).await.unwrap().body(), "test-subject");
    let query_request = request(&[], &format!("/x?access_token={token}"));
    assert_eq!(call(query_request).await.unwrap().body(), "test-subject");

    // Two methods at once: 400 invalid_request (RFC 6750 §3.1).
    let bearer = format!("Bearer {token}");
    let both = request(
        &[("authorization", &bearer), ("x-access-token", &token)],
        "/",
    );
    let response = call(both).await.unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        response.extensions().get::<Rejection>().unwrap().kind(),
        RejectionKind::InvalidRequest
    );

    // Off by default.
    let default = AuthenticationLayer::new(verifier()).layer(echo_subject());
    let cookie_only = request(&[("cookie", &cookie)], "/");
    let response = default.oneshot(cookie_only).await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn custom_rejection() {
    let layer = AuthenticationLayer::builder(verifier())
        .on_rejection(|rejection: &Rejection| {
            let mut response = Response::new(format!(
                r#"{{"status":{},"detail":"{}"}}"#,
                rejection.status().as_u16(),
                rejection.description()
            ));
            *response.status_mut() = rejection.status();
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                "application/problem+json".parse().unwrap(),
            );
            response
        })
        .build()
        .unwrap();
    let response = layer
        .layer(echo_subject())
        .oneshot(request(&[("authorization", "Bearer x.y.z")], "/"))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        response.body(),
        r#"{"status":401,"detail":"malformed token"}"#
    );
    // The layer attaches the reason even to custom responses.
    let rejection = response.extensions().get::<Rejection>().unwrap();
    assert_eq!(
        rejection.token_error(),
        Some(portcullis_jwt::ErrorKind::Malformed)
    );
}

#[tokio::test]
async fn grpc_requests_get_trailers_only_responses() {
    let service = AuthenticationLayer::new(verifier()).layer(echo_subject());
    let response = service
        .oneshot(request(
            &[("content-type", "application/grpc+proto")],
            "/svc/Method",
        ))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["grpc-status"], "16");
    assert_eq!(response.headers()["content-type"], "application/grpc");
    assert_eq!(
        response.headers()["www-authenticate"],
        r#"Bearer realm="api""#
    );
    assert!(response.body().is_empty());
}

/// A service that must be polled ready before every call.
#[derive(Clone)]
struct ReadyOnce {
    ready: bool,
}

impl Service<Request<String>> for ReadyOnce {
    type Response = Response<String>;
    type Error = Infallible;
    type Future = std::future::Ready<Result<Response<String>, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.ready = true;
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: Request<String>) -> Self::Future {
        assert!(self.ready, "called without poll_ready");
        self.ready = false;
        std::future::ready(Ok(Response::new("ok".into())))
    }
}

/// A verifier that must wait (like a key fetch), counting its calls.
#[derive(Clone)]
struct Slow(Arc<AtomicUsize>);

impl Verifier for Slow {
    type Future =
        std::pin::Pin<Box<dyn std::future::Future<Output = Result<Claims, VerifyError>> + Send>>;

    fn verify(&self, token: &str) -> Verification<Self::Future> {
        self.0.fetch_add(1, Ordering::SeqCst);
        let token = token.to_owned();
        Verification::Pending(Box::pin(async move {
            tokio::time::sleep(Duration::from_millis(5)).await;
            verifier().verify(&token).await
        }))
    }
}

#[tokio::test]
async fn readiness_is_respected_across_a_waiting_verifier() {
    let calls = Arc::new(AtomicUsize::new(0));
    let mut service = ServiceBuilder::new()
        .layer(AuthenticationLayer::new(Slow(calls.clone())))
        .service(ReadyOnce { ready: false });
    let bearer = format!("Bearer {}", token("read"));
    let first = service
        .ready()
        .await
        .unwrap()
        .call(request(&[("authorization", &bearer)], "/"));
    let second = service
        .ready()
        .await
        .unwrap()
        .call(request(&[("authorization", &bearer)], "/"));
    let (first, second) = tokio::join!(first, second);
    assert_eq!(first.unwrap().body(), "ok");
    assert_eq!(second.unwrap().body(), "ok");
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

/// An always-ready inner service that counts how often it is cloned.
struct CountsClones(Arc<AtomicUsize>);

impl Clone for CountsClones {
    fn clone(&self) -> Self {
        self.0.fetch_add(1, Ordering::SeqCst);
        CountsClones(self.0.clone())
    }
}

impl Service<Request<String>> for CountsClones {
    type Response = Response<String>;
    type Error = Infallible;
    type Future = std::future::Ready<Result<Response<String>, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: Request<String>) -> Self::Future {
        std::future::ready(Ok(Response::new("ok".into())))
    }
}

#[tokio::test]
async fn an_answer_at_hand_calls_the_inner_service_without_cloning_it() {
    let clones = Arc::new(AtomicUsize::new(0));
    let mut at_once = AuthenticationLayer::new(verifier()).layer(CountsClones(clones.clone()));
    let mut waiting = AuthenticationLayer::new(Slow(Arc::new(AtomicUsize::new(0))))
        .layer(CountsClones(clones.clone()));
    let bearer = format!("Bearer {}", token("read"));
    let forged = format!("{bearer}x");
    async fn send<S>(
        service: &mut S,
        authorization: &str,
        clones: &AtomicUsize,
    ) -> (StatusCode, usize)
    where
        S: Service<Request<String>, Response = Response<String>, Error = Infallible>,
    {
        let before = clones.load(Ordering::SeqCst);
        let response = service
            .ready()
            .await
            .unwrap()
            .call(request(&[("authorization", authorization)], "/"))
            .await
            .unwrap();
        (response.status(), clones.load(Ordering::SeqCst) - before)
    }
    // Verified (or refused) inside `call`: no clone.
    assert_eq!(
        send(&mut at_once, &bearer, &clones).await,
        (StatusCode::OK, 0)
    );
    assert_eq!(
        send(&mut at_once, &forged, &clones).await,
        (StatusCode::UNAUTHORIZED, 0)
    );
    // A verifier that must wait: the inner service is cloned for the future to call.
    assert_eq!(
        send(&mut waiting, &bearer, &clones).await,
        (StatusCode::OK, 1)
    );
}

#[tokio::test]
async fn verifiers_compose_through_arc() {
    let shared: Arc<dyn Verifier<Future = portcullis::VerifyFuture>> = Arc::new(verifier());
    let service = AuthenticationLayer::new(shared).layer(echo_subject());
    let bearer = format!("Bearer {}", token(""));
    let response = service
        .oneshot(request(&[("authorization", &bearer)], "/"))
        .await
        .unwrap();
    assert_eq!(response.body(), "test-subject");
}

#[tokio::test]
async fn bad_configuration_fails_at_build() {
    assert!(
        AuthenticationLayer::builder(verifier())
            .realm("a\"\nb")
            .build()
            .is_err()
    );
    assert!(
        AuthenticationLayer::builder(verifier())
            .without_authorization_header()
            .build()
            .is_err()
    );
    assert!(
        AuthenticationLayer::builder(verifier())
            .token_cookie("")
            .build()
            .is_err()
    );
    assert!(RequireScopesLayer::all_of(["a b"]).is_err());
    assert!(RequireScopesLayer::any_of(Vec::<String>::new()).is_err());
}

#[tokio::test]
async fn metadata_follows_the_token_sources() {
    let layer = AuthenticationLayer::builder(verifier())
        .token_query_param("access_token")
        .build()
        .unwrap();
    let _ = layer.require(portcullis::ScopeRequirement::any_of(["b", "a"]).unwrap());
    let response = layer
        .metadata("https://api.test")
        .scope("c")
        .into_service()
        .oneshot(Request::new(()))
        .await
        .unwrap();
    let body = http_body_util::BodyExt::collect(response.into_body())
        .await
        .unwrap()
        .to_bytes();
    let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(json["scopes_supported"], serde_json::json!(["a", "b", "c"]));
    assert_eq!(
        json["bearer_methods_supported"],
        serde_json::json!(["header", "query"])
    );
    assert!(json.get("authorization_servers").is_none());
}

/// A verifier that accepts every token and counts the calls.
#[derive(Clone, Default)]
struct AcceptsAnything(Arc<AtomicUsize>);

impl Verifier for AcceptsAnything {
    type Future = std::future::Ready<Result<Claims, VerifyError>>;

    fn verify(&self, token: &str) -> Verification<Self::Future> {
        self.0.fetch_add(1, Ordering::SeqCst);
        let claims = verifier()
            .validation()
            .verify(&common::token("read"), &keys(), now())
            .unwrap();
        let _ = token;
        Verification::Done(Ok(claims))
    }
}

fn keys() -> portcullis::KeySet {
    portcullis::KeySet::from_jwks(&serde_json::to_vec(&portcullis_testkit::jwks([key()])).unwrap())
        .unwrap()
}

fn now() -> std::time::SystemTime {
    std::time::UNIX_EPOCH + Duration::from_secs(NOW)
}

/// The status and challenge of a request carrying `Bearer {value}` through `layer`.
async fn status<V: Verifier + Clone>(
    layer: &AuthenticationLayer<V>,
    value: &str,
) -> (StatusCode, String) {
    let service = layer.layer(echo_subject());
    let request = request(&[("authorization", &format!("Bearer {value}"))], "/");
    let response = service.oneshot(request).await.unwrap();
    (response.status(), challenge(&response))
}

/// The character check runs when the token is taken from the request, before any
/// verifier (RFC 6750's order): whatever verifier is behind the layer (a JWT verifier,
/// with and without its cache, several issuers, a hybrid, one that would accept
/// anything), a malformed token is 400 `invalid_request`, and the verifier never sees
/// it.
#[tokio::test]
async fn malformed_tokens_are_invalid_requests_whoever_checks_them() {
    let token = token("read");
    let cache: portcullis_issuer::TokenCache<Claims> =
        portcullis_issuer::TokenCache::<Claims>::builder()
            .capacity(100)
            .clock(portcullis_jwt::ManualClock::at_unix(NOW))
            .build()
            .unwrap();
    let cached = verifier().with_token_cache(cache);
    let anything = AcceptsAnything::default();
    let malformed = [
        format!("{token} x"),
        format!("{token},"),
        format!("{}%{}", &token[..20], &token[21..]),
        format!("{token}=x"),
        "a\"b".to_owned(),
    ];
    let issuers = portcullis::MultiIssuerVerifier::builder()
        .issuer("https://elsewhere.test", verifier())
        .issuer(ISSUER, verifier())
        .build()
        .unwrap();
    // A hybrid sends opaque tokens to its other verifier, which may accept anything.
    let hybrid = portcullis::HybridVerifier::new(verifier(), anything.clone());
    let with_hybrid = AuthenticationLayer::new(
        portcullis::MultiIssuerVerifier::builder()
            .issuer(ISSUER, hybrid)
            .opaque_tokens(ISSUER)
            .build()
            .unwrap(),
    );
    for value in &malformed {
        let (code, challenge) = status(&with_hybrid, value).await;
        assert_eq!(code, StatusCode::BAD_REQUEST, "{value}");
        assert!(challenge.contains(r#"error="invalid_request""#));
    }
    let plain = AuthenticationLayer::new(verifier());
    let with_cache = AuthenticationLayer::new(cached);
    let routed = AuthenticationLayer::new(issuers);
    for value in &malformed {
        let (code, challenge) = status(&routed, value).await;
        assert_eq!(code, StatusCode::BAD_REQUEST, "{value}");
        assert!(challenge.contains(r#"error="invalid_request""#));
    }
    assert_eq!(status(&routed, &token).await.0, StatusCode::OK);
    assert_eq!(status(&routed, "abc~def").await.0, StatusCode::UNAUTHORIZED);
    for layer in [&plain, &with_cache] {
        // Twice: the second valid request is the cache hit.
        for _ in 0..2 {
            assert_eq!(status(layer, &token).await.0, StatusCode::OK);
        }
        for value in &malformed {
            let (code, challenge) = status(layer, value).await;
            assert_eq!(code, StatusCode::BAD_REQUEST, "{value}");
            assert!(
                challenge.contains(r#"error="invalid_request""#),
                "{challenge}"
            );
        }
        // A b64token that is no JWT is the verifier's to refuse: 401.
        for value in ["abc~def", "abc.def.ghi", &format!("{token}a")] {
            let (code, challenge) = status(layer, value).await;
            assert_eq!(code, StatusCode::UNAUTHORIZED, "{value}");
            assert!(
                challenge.contains(r#"error="invalid_token""#),
                "{challenge}"
            );
        }
    }
    let trusting = AuthenticationLayer::new(anything.clone());
    for value in &malformed {
        assert_eq!(status(&trusting, value).await.0, StatusCode::BAD_REQUEST);
    }
    assert_eq!(
        anything.0.load(Ordering::SeqCst),
        0,
        "never asked about a malformed token"
    );
    assert_eq!(status(&trusting, "abc~def").await.0, StatusCode::OK);
    assert_eq!(anything.0.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn scopes_and_claim_conditions_are_refused_each_for_its_own_reason() {
    let authn = AuthenticationLayer::builder(verifier()).build().unwrap();
    let requirement = portcullis::ScopeRequirement::all_of(["read"])
        .unwrap()
        .and_any_of(["write", "admin"])
        .unwrap();
    let service = ServiceBuilder::new()
        .layer(authn.clone())
        .layer(
            authn
                .require(requirement)
                .and_claims(|claims| claims.get("tenant").and_then(|t| t.as_str()) == Some("acme")),
        )
        .service(echo_subject());
    let token_with = |scope: &str, tenant: &str| {
        key()
            .token()
            .standard_claims(ISSUER, AUDIENCE, NOW)
            .claim("scope", scope)
            .claim("tenant", tenant)
            .sign()
    };
    let call = |token: String| {
        let bearer = format!("Bearer {token}");
        service
            .clone()
            .oneshot(request(&[("authorization", &bearer)], "/"))
    };
    let response = call(token_with("read admin", "acme")).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);

    for (scope, tenant, kind, challenge) in [
        // The any-of part is missing: a scope refusal, naming what the route needs.
        (
            "read",
            "acme",
            RejectionKind::InsufficientScope,
            r#"Bearer realm="api", error="insufficient_scope", error_description="insufficient scope", scope="read write admin""#,
        ),
        // Scopes held, the claim condition not: its own kind, no scope parameter (the
        // scopes are not what is missing).
        (
            "read write",
            "other",
            RejectionKind::InsufficientClaims,
            r#"Bearer realm="api", error="insufficient_scope", error_description="claim condition not met""#,
        ),
    ] {
        let response = call(token_with(scope, tenant)).await.unwrap();
        assert_eq!(
            response.status(),
            StatusCode::FORBIDDEN,
            "{scope}, {tenant}"
        );
        let rejection = response.extensions().get::<Rejection>().unwrap();
        assert_eq!(rejection.kind(), kind);
        assert_eq!(response.headers()[header::WWW_AUTHENTICATE], challenge);
    }
}

/// Several issuers route a token on its first `iss`, read no further; the routed
/// issuer's strict parse then refuses a second one, whichever issuer it names. A signed
/// token is never accepted on an `iss` its verifier did not read.
#[tokio::test]
async fn a_second_iss_is_refused_after_routing() {
    let routed = AuthenticationLayer::new(
        portcullis::MultiIssuerVerifier::builder()
            .issuer("https://elsewhere.test", verifier())
            .issuer(ISSUER, verifier())
            .build()
            .unwrap(),
    );
    let valid = key().token().standard_claims(ISSUER, AUDIENCE, NOW);
    let header = valid.header_json();
    // A valid payload whose last `iss` is `second`, with `first` put before everything.
    let claims = |first: &str, second: &str| {
        let payload = key()
            .token()
            .standard_claims(second, AUDIENCE, NOW)
            .claims_json();
        format!(r#"{{"iss":"{first}",{}"#, &payload[1..])
    };
    for (first, second) in [
        (ISSUER, ISSUER),
        (ISSUER, "https://elsewhere.test"),
        ("https://elsewhere.test", ISSUER),
    ] {
        let token = portcullis_testkit::encode_compact(key(), &header, &claims(first, second));
        let (code, challenge) = status(&routed, &token).await;
        assert_eq!(code, StatusCode::UNAUTHORIZED, "{first} then {second}");
        assert!(
            challenge.contains(r#"error="invalid_token""#),
            "{challenge}"
        );
    }
    // The same payload with one `iss` passes: the refusal is the duplicate's.
    let token = portcullis_testkit::encode_compact(key(), &header, &valid.claims_json());
    assert_eq!(status(&routed, &token).await.0, StatusCode::OK);
}
