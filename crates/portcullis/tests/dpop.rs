//! DPoP through the authentication layer (RFC 9449 §7): proofs checked per request,
//! bound tokens refused without them, replays refused, the challenges and metadata.
#![allow(clippy::unwrap_used)]

mod common;

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::SystemTime;

use common::*;
use http::{Request, Response, StatusCode, header};
use portcullis::dpop::DPOP;
use portcullis::{AuthenticationLayer, Claims, DpopPolicy, Rejection, RejectionKind};
use portcullis_issuer::{
    InMemoryProofReplayStore, ProofId, ProofReplayStore, ProofReplayStoreError, ProofUseCheck,
};
use portcullis_jwt::ManualClock;
use portcullis_jwt::dpop::DpopNonces;
use portcullis_testkit::{SigningAlgorithm, SigningKey, access_token_hash};
use serde_json::json;
use tower::{Layer, Service, ServiceExt, service_fn};

const ORIGIN: &str = "https://api.test";
const PATH: &str = "/orders/7";

fn client_key() -> &'static SigningKey {
    SigningKey::shared(SigningAlgorithm::EdDSA)
}

/// An access token bound to `client`'s key.
fn bound_token(client: &SigningKey) -> String {
    key()
        .token()
        .standard_claims(ISSUER, AUDIENCE, NOW)
        .claim("cnf", json!({ "jkt": jkt(client) }))
        .sign()
}

/// A proof by `client` for `method` on `ORIGIN` + `PATH`, with `token`'s hash.
fn proof_for(client: &SigningKey, method: &str, token: &str) -> String {
    client
        .dpop_proof(method, &format!("{ORIGIN}{PATH}"), NOW)
        .claim("ath", access_token_hash(token))
        .sign()
}

fn policy() -> portcullis::DpopPolicyBuilder {
    DpopPolicy::builder(ORIGIN).clock(ManualClock::at_unix(NOW))
}

fn guarded(
    policy: Option<DpopPolicy>,
) -> impl Service<
    Request<String>,
    Response = Response<String>,
    Error = Infallible,
    Future = impl Send + 'static,
> + Clone
+ Send
+ 'static {
    let mut builder = AuthenticationLayer::builder(verifier()).realm("api");
    if let Some(policy) = policy {
        builder = builder.dpop(policy);
    }
    builder
        .build()
        .unwrap()
        .layer(service_fn(|request: Request<String>| async move {
            let subject = request
                .extensions()
                .get::<Claims>()
                .and_then(|c| c.subject().map(str::to_owned))
                .unwrap_or_default();
            Ok::<_, Infallible>(Response::new(subject))
        }))
}

/// A guarded service the tests can clone into spawned tasks.
trait Guarded:
    Service<Request<String>, Response = Response<String>, Error = Infallible, Future: Send>
    + Clone
    + Send
    + 'static
{
}

impl<S> Guarded for S where
    S: Service<Request<String>, Response = Response<String>, Error = Infallible, Future: Send>
        + Clone
        + Send
        + 'static
{
}

/// `GET PATH` with `token` under the DPoP scheme and a fresh proof of [`client_key`].
async fn with_a_fresh_proof<S: Guarded>(service: &S, token: &str) -> Response<String> {
    let proof = proof_for(client_key(), "GET", token);
    call(service, dpop_request("GET", token, &[&proof])).await
}

fn dpop_request(method: &str, token: &str, proofs: &[&str]) -> Request<String> {
    let mut builder = Request::builder()
        .method(method)
        .uri(PATH)
        .header(header::AUTHORIZATION, format!("DPoP {token}"));
    for proof in proofs {
        builder = builder.header(&DPOP, *proof);
    }
    builder.body(String::new()).unwrap()
}

fn call<S: Guarded>(
    service: &S,
    request: Request<String>,
) -> impl std::future::Future<Output = Response<String>> + Send + use<S> {
    let service = service.clone();
    async move { service.oneshot(request).await.unwrap() }
}

#[tokio::test]
async fn a_bound_token_with_its_proof_passes_once() {
    let service = guarded(Some(policy().build().unwrap()));
    let token = bound_token(client_key());
    let proof = proof_for(client_key(), "GET", &token);
    let response = call(&service, dpop_request("GET", &token, &[&proof])).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.body(), "test-subject");

    // The same proof again: a replay.
    let replayed = call(&service, dpop_request("GET", &token, &[&proof])).await;
    assert_eq!(replayed.status(), StatusCode::UNAUTHORIZED);
    let rejection = replayed.extensions().get::<Rejection>().unwrap();
    assert_eq!(rejection.kind(), RejectionKind::InvalidDpopProof);
    let challenges = challenges(&replayed);
    assert!(
        challenges[0].starts_with(
            r#"DPoP realm="api", error="invalid_dpop_proof", error_description="DPoP proof already used", algs=""#
        ),
        "{challenges:?}"
    );
    assert_eq!(challenges[1], r#"Bearer realm="api""#);
}

#[tokio::test]
async fn every_proof_fault_is_invalid_dpop_proof() {
    let service = guarded(Some(policy().build().unwrap()));
    let token = bound_token(client_key());
    let good = proof_for(client_key(), "GET", &token);
    let other_token = bound_token(client_key());
    let faults: Vec<(&str, Request<String>)> = vec![
        ("no proof", dpop_request("GET", &token, &[])),
        ("two proofs", dpop_request("GET", &token, &[&good, &good])),
        (
            "another method",
            dpop_request("GET", &token, &[&proof_for(client_key(), "POST", &token)]),
        ),
        (
            "another token",
            dpop_request(
                "GET",
                &token,
                &[&proof_for(client_key(), "GET", &other_token)],
            ),
        ),
        ("not a JWT", dpop_request("GET", &token, &["not-a-proof"])),
        (
            "another URI",
            dpop_request(
                "GET",
                &token,
                &[&client_key()
                    .dpop_proof("GET", "https://api.test/orders/8", NOW)
                    .claim("ath", access_token_hash(&token))
                    .sign()],
            ),
        ),
    ];
    for (fault, request) in faults {
        let response = call(&service, request).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{fault}");
        let rejection = response.extensions().get::<Rejection>().unwrap();
        assert_eq!(rejection.kind(), RejectionKind::InvalidDpopProof, "{fault}");
        assert!(
            challenges(&response)[0].contains(r#"error="invalid_dpop_proof""#),
            "{fault}"
        );
    }
}

#[tokio::test]
async fn the_proof_uri_is_the_configured_origin_never_the_host_header() {
    let service = guarded(Some(policy().build().unwrap()));
    let token = bound_token(client_key());
    let for_evil = client_key()
        .dpop_proof("GET", &format!("https://evil.example{PATH}"), NOW)
        .claim("ath", access_token_hash(&token))
        .sign();
    let mut request = dpop_request("GET", &token, &[&for_evil]);
    request
        .headers_mut()
        .insert(header::HOST, "evil.example".parse().unwrap());
    let response = call(&service, request).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    // Refused for the URI itself, not for anything else about the proof.
    let rejection = response.extensions().get::<Rejection>().unwrap();
    assert_eq!(rejection.kind(), RejectionKind::InvalidDpopProof);
    assert_eq!(rejection.description(), "DPoP proof is for another URI");
}

#[tokio::test]
async fn a_proof_by_another_key_breaks_the_binding() {
    let service = guarded(Some(policy().build().unwrap()));
    let token = bound_token(client_key());
    let thief = SigningKey::shared(SigningAlgorithm::ES256);
    let response = call(
        &service,
        dpop_request("GET", &token, &[&proof_for(thief, "GET", &token)]),
    )
    .await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let rejection = response.extensions().get::<Rejection>().unwrap();
    assert_eq!(rejection.kind(), RejectionKind::InvalidToken);
    assert!(
        challenges(&response)[0].starts_with(
            r#"DPoP realm="api", error="invalid_token", error_description="invalid DPoP key binding""#
        ),
        "{:?}",
        challenges(&response)
    );
    // An unbound token with a proof: no binding to check against, refused alike.
    let unbound = common::token("read");
    let response = call(
        &service,
        dpop_request(
            "GET",
            &unbound,
            &[&proof_for(client_key(), "GET", &unbound)],
        ),
    )
    .await;
    assert_eq!(
        response.extensions().get::<Rejection>().unwrap().kind(),
        RejectionKind::InvalidToken
    );
}

#[tokio::test]
async fn a_bound_token_sent_as_bearer_is_refused_with_or_without_a_policy() {
    let token = bound_token(client_key());
    for policy in [None, Some(policy().build().unwrap())] {
        let has_policy = policy.is_some();
        let response = call(&guarded(policy), bearer_request(PATH, &token)).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{has_policy}");
        let challenges = challenges(&response);
        assert!(
            challenges[0].starts_with(
                r#"Bearer realm="api", error="invalid_token", error_description="DPoP-bound token sent as a bearer token""#
            ),
            "{challenges:?}"
        );
        assert_eq!(challenges.len(), if has_policy { 2 } else { 1 });
    }
}

#[tokio::test]
async fn allowed_mode_keeps_bearer_tokens_and_offers_both_schemes() {
    let service = guarded(Some(policy().build().unwrap()));
    let response = call(&service, bearer_request(PATH, &common::token("read"))).await;
    assert_eq!(response.status(), StatusCode::OK);
    let anonymous = Request::builder().uri(PATH).body(String::new()).unwrap();
    let response = call(&service, anonymous).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let challenges = challenges(&response);
    assert_eq!(challenges[0], r#"Bearer realm="api""#);
    assert!(
        challenges[1].starts_with(r#"DPoP realm="api", algs="RS256 "#),
        "{challenges:?}"
    );
}

#[tokio::test]
async fn without_a_policy_the_dpop_scheme_is_another_scheme() {
    let service = guarded(None);
    let token = bound_token(client_key());
    let response = with_a_fresh_proof(&service, &token).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(challenges(&response), [r#"Bearer realm="api""#]);
}

#[tokio::test]
async fn required_mode_refuses_bearer_tokens_and_says_so_in_metadata() {
    let policy = policy().required().build().unwrap();
    let layer = AuthenticationLayer::builder(verifier())
        .dpop(policy.clone())
        .build()
        .unwrap();
    let metadata: serde_json::Value =
        serde_json::from_str(&layer.metadata("https://api.test").to_json()).unwrap();
    assert_eq!(metadata["dpop_bound_access_tokens_required"], true);
    assert!(
        metadata["dpop_signing_alg_values_supported"]
            .as_array()
            .unwrap()
            .contains(&json!("ES256"))
    );

    let service = guarded(Some(policy));
    let response = call(&service, bearer_request(PATH, &common::token("read"))).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let challenges = challenges(&response);
    assert_eq!(challenges.len(), 1, "{challenges:?}");
    assert!(
        challenges[0].starts_with(
            r#"DPoP realm="api", error="invalid_token", error_description="this resource requires DPoP""#
        ),
        "{challenges:?}"
    );
    let token = bound_token(client_key());
    let response = with_a_fresh_proof(&service, &token).await;
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn of_concurrent_requests_with_one_proof_exactly_one_passes() {
    let service = guarded(Some(policy().build().unwrap()));
    let token = bound_token(client_key());
    let proof = proof_for(client_key(), "GET", &token);
    let calls: Vec<_> = (0..16)
        .map(|_| call(&service, dpop_request("GET", &token, &[&proof])))
        .collect();
    let statuses: Vec<StatusCode> = futures_statuses(calls.into_iter()).await;
    assert_eq!(
        statuses.iter().filter(|s| **s == StatusCode::OK).count(),
        1,
        "{statuses:?}"
    );
}

async fn futures_statuses(
    calls: impl Iterator<Item = impl std::future::Future<Output = Response<String>> + Send + 'static>,
) -> Vec<StatusCode> {
    let handles: Vec<_> = calls.map(tokio::spawn).collect();
    let mut statuses = Vec::new();
    for handle in handles {
        statuses.push(handle.await.unwrap().status());
    }
    statuses
}

/// A store that answers later (as a shared store would), or cannot answer at all.
#[derive(Debug)]
struct RemoteStore {
    down: bool,
    inner: Arc<InMemoryProofReplayStore>,
    asked: Arc<AtomicUsize>,
}

impl ProofReplayStore for RemoteStore {
    fn check_and_remember(&self, id: ProofId, until: SystemTime, now: SystemTime) -> ProofUseCheck {
        self.asked.fetch_add(1, Ordering::SeqCst);
        if self.down {
            return ProofUseCheck::Pending(Box::pin(async {
                Err(ProofReplayStoreError::new("connection refused"))
            }));
        }
        let answer = match self.inner.check_and_remember(id, until, now) {
            ProofUseCheck::Done(answer) => answer,
            ProofUseCheck::Pending(_) => unreachable!(),
        };
        ProofUseCheck::Pending(Box::pin(async move {
            tokio::task::yield_now().await;
            answer
        }))
    }
}

#[tokio::test]
async fn a_store_that_answers_later_is_awaited_and_one_that_fails_gives_503() {
    let asked = Arc::new(AtomicUsize::new(0));
    let store = RemoteStore {
        down: false,
        inner: Arc::new(InMemoryProofReplayStore::default()),
        asked: asked.clone(),
    };
    let service = guarded(Some(policy().replay_store(store).build().unwrap()));
    let token = bound_token(client_key());
    let proof = proof_for(client_key(), "GET", &token);
    assert_eq!(
        call(&service, dpop_request("GET", &token, &[&proof]))
            .await
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        call(&service, dpop_request("GET", &token, &[&proof]))
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(asked.load(Ordering::SeqCst), 2);

    let down = RemoteStore {
        down: true,
        inner: Arc::new(InMemoryProofReplayStore::default()),
        asked: Arc::new(AtomicUsize::new(0)),
    };
    let service = guarded(Some(policy().replay_store(down).build().unwrap()));
    // A new proof (a new jti): the store, not the proof, is the problem.
    let fresh = proof_for(client_key(), "GET", &token);
    let response = call(&service, dpop_request("GET", &token, &[&fresh])).await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(response.headers()[header::RETRY_AFTER], "1");
    assert!(challenges(&response).is_empty());
}

#[tokio::test]
async fn grpc_callers_get_unauthenticated() {
    let service = guarded(Some(policy().build().unwrap()));
    let token = bound_token(client_key());
    let mut request = dpop_request("POST", &token, &["not-a-proof"]);
    request
        .headers_mut()
        .insert(header::CONTENT_TYPE, "application/grpc".parse().unwrap());
    let response = call(&service, request).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["grpc-status"], "16");
    assert!(
        challenges(&response)[0].contains("invalid_dpop_proof"),
        "{:?}",
        challenges(&response)
    );
}

#[test]
fn origins_must_be_absolute_http_uris() {
    for origin in [
        "api.test",
        "ftp://api.test",
        "/orders",
        "https://api.test/?q=1",
        "",
    ] {
        let error = DpopPolicy::builder(origin).build().unwrap_err();
        assert_eq!(error.setting(), Some("origin"), "{origin}");
    }
    for origin in [
        "https://api.test",
        "https://api.test/",
        "http://127.0.0.1:8080/base",
    ] {
        assert!(DpopPolicy::builder(origin).build().is_ok(), "{origin}");
    }
}

#[tokio::test]
async fn with_nonces_a_proof_without_the_current_nonce_is_sent_back_for_it() {
    let clock = ManualClock::at_unix(NOW);
    let nonces = DpopNonces::new(&[9; 32], std::time::Duration::from_secs(60)).unwrap();
    let service = guarded(Some(
        DpopPolicy::builder(ORIGIN)
            .clock(clock.clone())
            .nonces(nonces)
            .build()
            .unwrap(),
    ));
    let token = bound_token(client_key());
    let without = with_a_fresh_proof(&service, &token).await;
    assert_eq!(without.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        without.extensions().get::<Rejection>().unwrap().kind(),
        RejectionKind::UseDpopNonce
    );
    assert!(
        challenges(&without)[0].starts_with(r#"DPoP realm="api", error="use_dpop_nonce""#),
        "{:?}",
        challenges(&without)
    );
    let nonce = without.headers()["dpop-nonce"].to_str().unwrap().to_owned();

    let with_nonce = |nonce: &str| {
        client_key()
            .dpop_proof("GET", &format!("{ORIGIN}{PATH}"), NOW)
            .claim("ath", access_token_hash(&token))
            .claim("nonce", nonce)
            .sign()
    };
    let retried = call(
        &service,
        dpop_request("GET", &token, &[&with_nonce(&nonce)]),
    )
    .await;
    assert_eq!(retried.status(), StatusCode::OK);

    // Two windows later the nonce is stale, even in a proof made at the new time.
    clock.advance(std::time::Duration::from_secs(120));
    let later = client_key()
        .dpop_proof("GET", &format!("{ORIGIN}{PATH}"), NOW + 120)
        .claim("ath", access_token_hash(&token))
        .claim("nonce", nonce.as_str())
        .sign();
    let stale = call(&service, dpop_request("GET", &token, &[&later])).await;
    assert_eq!(
        stale.extensions().get::<Rejection>().unwrap().kind(),
        RejectionKind::UseDpopNonce
    );
    assert_ne!(stale.headers()["dpop-nonce"], nonce.as_str());
}

#[tokio::test]
async fn required_mode_refuses_a_bearer_token_without_asking_the_issuer() {
    // The issuer is down: had the token been verified, the answer would be 503.
    let service = AuthenticationLayer::builder(Down)
        .dpop(policy().required().build().unwrap())
        .build()
        .unwrap()
        .layer(service_fn(|_: Request<String>| async {
            Ok::<_, Infallible>(Response::new(String::new()))
        }));
    let response = service
        .oneshot(bearer_request(PATH, &common::token("read")))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}
