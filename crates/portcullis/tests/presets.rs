//! Presets through the layers: each provider's token, shaped as the provider documents
//! it, against a route requiring its scope and role; refusals each with its own kind;
//! and no claim removed ever turns into anything but an answer (200, 401 or 403).

#![allow(clippy::unwrap_used)]

mod common;

use std::convert::Infallible;
use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

use http::{Request, Response, StatusCode, header};
use portcullis::{
    AuthenticationLayer, JwtVerifier, KeySet, Preset, Rejection, RejectionKind, ScopeRequirement,
};
use portcullis_testkit::{Provider, SigningAlgorithm, SigningKey, TokenBuilder, jwks};
use serde_json::Value;
use tower::{ServiceBuilder, ServiceExt, service_fn};

const ISS: &str = "https://issuer.test/";
const AUD: &str = "orders-api";

fn key() -> &'static SigningKey {
    static KEY: OnceLock<SigningKey> = OnceLock::new();
    KEY.get_or_init(|| SigningKey::generate(SigningAlgorithm::ES256))
}

/// The layers' verifier reads the system clock; the fixtures are issued now and live
/// five minutes.
fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn fixture(provider: Provider) -> TokenBuilder<'static> {
    provider.access_token(key(), ISS, AUD, now())
}

/// The status and rejection kind of `token` on a route requiring `requirement`, with
/// `provider`'s preset.
async fn answer(
    provider: Provider,
    requirement: ScopeRequirement,
    token: &str,
) -> (StatusCode, Option<RejectionKind>, String) {
    let validation = Preset::from_name(provider.name())
        .unwrap()
        .builder()
        .issuer(ISS)
        .audience(AUD)
        .audience("billing-api")
        .build()
        .unwrap();
    let keys = KeySet::from_jwks(jwks([key()]).to_string().as_bytes()).unwrap();
    let authn = AuthenticationLayer::builder(JwtVerifier::with_static_keys(validation, keys))
        .build()
        .unwrap();
    let service = ServiceBuilder::new()
        .layer(authn.clone())
        .layer(authn.require(requirement))
        .service(service_fn(|_: Request<String>| async {
            Ok::<_, Infallible>(Response::new(String::new()))
        }));
    let request = Request::builder()
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .body(String::new())
        .unwrap();
    let response = service.oneshot(request).await.unwrap();
    let challenge = common::challenge(&response);
    let kind = response
        .extensions()
        .get::<Rejection>()
        .map(Rejection::kind);
    (response.status(), kind, challenge)
}

/// Asserts that `answer` is a refusal with `status`, `kind` and `error` in its
/// challenge, and hands it back for further checks.
#[track_caller]
fn assert_refused(
    answer: (StatusCode, Option<RejectionKind>, String),
    status: StatusCode,
    kind: RejectionKind,
    error: &str,
    name: &str,
) -> (StatusCode, Option<RejectionKind>, String) {
    assert_eq!(answer.0, status, "{name}");
    assert_eq!(answer.1, Some(kind), "{name}");
    assert!(
        answer.2.contains(&format!("error=\"{error}\"")),
        "{}",
        answer.2
    );
    answer
}

/// The route every fixture satisfies: its provider's scope and role.
fn route(provider: Provider) -> ScopeRequirement {
    let requirement = ScopeRequirement::all_of(provider.scope()).unwrap();
    match provider.role() {
        Some(role) => requirement.and_roles_any_of([role]).unwrap(),
        None => requirement,
    }
}

#[tokio::test]
async fn each_providers_token_on_a_route_requiring_its_scope_and_role() {
    for provider in Provider::ALL {
        let name = provider.name();
        let token = fixture(provider).sign();
        let (status, _, _) = answer(provider, route(provider), &token).await;
        assert_eq!(status, StatusCode::OK, "{name}");

        // A role the token lacks: 403, its own kind, no scope parameter.
        if provider.role().is_some() {
            let admin = route(provider).and_roles_all_of(["admin"]).unwrap();
            let (_, _, challenge) = assert_refused(
                answer(provider, admin, &token).await,
                StatusCode::FORBIDDEN,
                RejectionKind::InsufficientRole,
                "insufficient_scope",
                name,
            );
            assert!(!challenge.contains("scope=\""), "{challenge}");
        }

        // A route narrower than the issuer: its own audience, which this token lacks.
        let billing = route(provider)
            .and_audience_any_of(["billing-api"])
            .unwrap();
        assert_refused(
            answer(provider, billing, &token).await,
            StatusCode::UNAUTHORIZED,
            RejectionKind::InvalidToken,
            "invalid_token",
            name,
        );
        let orders = route(provider).and_audience_any_of([AUD]).unwrap();
        assert_eq!(
            answer(provider, orders, &token).await.0,
            StatusCode::OK,
            "{name}"
        );
    }
}

/// No 500 on a missing optional claim: every claim of every fixture removed in turn is
/// answered 200, 401 or 403, on a route requiring the provider's scope and role.
#[tokio::test]
async fn every_claim_removed_in_turn_is_an_answer() {
    for provider in Provider::ALL {
        let names: serde_json::Map<String, Value> =
            serde_json::from_str(&fixture(provider).claims_json()).unwrap();
        for claim in names.keys() {
            let token = fixture(provider).without_claim(claim).sign();
            let (status, kind, _) = answer(provider, route(provider), &token).await;
            assert!(
                [
                    StatusCode::OK,
                    StatusCode::UNAUTHORIZED,
                    StatusCode::FORBIDDEN
                ]
                .contains(&status),
                "{}: without {claim}: {status}",
                provider.name()
            );
            // A removed claim that the route reads is a 403, never a 401 that would
            // send the client to fetch a new token in vain, and vice versa.
            if status == StatusCode::FORBIDDEN {
                assert!(
                    matches!(
                        kind,
                        Some(RejectionKind::InsufficientScope | RejectionKind::InsufficientRole)
                    ),
                    "{}: without {claim}: {kind:?}",
                    provider.name()
                );
            }
        }
    }
}
