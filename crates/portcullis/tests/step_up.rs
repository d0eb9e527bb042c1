//! Step-up authentication (RFC 9470) through the layers: a route's `acr` values and
//! `max_age` refused with 401 `insufficient_user_authentication` and the challenge's
//! parameters, in the order audience, step-up, scopes, roles; time from a manual clock.
#![allow(clippy::unwrap_used)]

mod common;

use std::convert::Infallible;
use std::time::Duration;

use common::*;
use http::{Request, Response, StatusCode, header};
use portcullis::dpop::DPOP;
use portcullis::{
    AuthenticationLayer, DpopPolicy, Rejection, RejectionKind, RequireScopesLayer, ScopeRequirement,
};
use portcullis_jwt::ManualClock;
use portcullis_testkit::{SigningAlgorithm, SigningKey, TokenBuilder, access_token_hash};
use serde_json::json;
use tower::{Layer, ServiceExt, service_fn};

const GOLD: &str = "urn:example:gold";
const SILVER: &str = "urn:example:silver";
const ORIGIN: &str = "https://api.test";
const PATH: &str = "/transfers";

/// A token for the test audience at `NOW`, changed by `customize`.
fn token_with(customize: impl FnOnce(TokenBuilder<'_>) -> TokenBuilder<'_>) -> String {
    customize(key().token().standard_claims(ISSUER, AUDIENCE, NOW)).sign()
}

/// A DPoP request for `token`, with a proof by `client` for GET on `ORIGIN` + `PATH`.
fn dpop_request(client: &SigningKey, token: &str) -> Request<String> {
    let proof = client
        .dpop_proof("GET", &format!("{ORIGIN}{PATH}"), NOW)
        .claim("ath", access_token_hash(token))
        .sign();
    Request::builder()
        .uri(PATH)
        .header(header::AUTHORIZATION, format!("DPoP {token}"))
        .header(&DPOP, proof)
        .body(String::new())
        .unwrap()
}

/// The authentication layer (a verifier at `NOW`, leeway 30 s) and `requirement`, whose
/// own clock is `clock`, in front of a service that answers 200.
async fn call_with(
    authn: &AuthenticationLayer<portcullis::JwtVerifier>,
    requirement: ScopeRequirement,
    clock: &ManualClock,
    request: Request<String>,
) -> Response<String> {
    let inner = service_fn(|_: Request<String>| async {
        Ok::<_, Infallible>(Response::new("ok".to_owned()))
    });
    let service = authn.layer(authn.require(requirement).clock(clock.clone()).layer(inner));
    service.oneshot(request).await.unwrap()
}

async fn call(
    requirement: ScopeRequirement,
    clock: &ManualClock,
    request: Request<String>,
) -> Response<String> {
    let authn = AuthenticationLayer::builder(verifier())
        .realm("api")
        .build()
        .unwrap();
    call_with(&authn, requirement, clock, request).await
}

fn acr_route() -> ScopeRequirement {
    ScopeRequirement::all_of(Vec::<&str>::new())
        .unwrap()
        .and_acr_values([GOLD, SILVER])
        .unwrap()
}

fn max_age_route(secs: u64) -> ScopeRequirement {
    ScopeRequirement::all_of(Vec::<&str>::new())
        .unwrap()
        .and_max_age(Duration::from_secs(secs))
        .unwrap()
}

fn rejection_of(response: &Response<String>) -> &Rejection {
    response.extensions().get::<Rejection>().unwrap()
}

#[tokio::test]
async fn an_acr_in_the_list_passes_and_one_outside_it_is_told_the_list() {
    let clock = ManualClock::at_unix(NOW);
    for acr in [GOLD, SILVER] {
        let response = call(
            acr_route(),
            &clock,
            bearer_request(PATH, &token_with(|t| t.claim("acr", acr))),
        )
        .await;
        assert_eq!(response.status(), StatusCode::OK, "{acr}");
    }
    let expected = r#"Bearer realm="api", error="insufficient_user_authentication", error_description="a different authentication level is required", acr_values="urn:example:gold urn:example:silver""#;
    for token in [
        token_with(|t| t.claim("acr", "urn:example:bronze")),
        token_with(|t| t),
        token_with(|t| t.claim("acr", json!([GOLD]))),
    ] {
        let response = call(acr_route(), &clock, bearer_request(PATH, &token)).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(challenges(&response), [expected]);
        let rejection = rejection_of(&response);
        assert_eq!(
            rejection.kind(),
            RejectionKind::InsufficientUserAuthentication
        );
        assert_eq!(rejection.bearer_error(), None);
        assert_eq!(
            rejection.kind().error_code(),
            Some("insufficient_user_authentication")
        );
        assert_eq!(
            rejection.required_acr_values(),
            Some("urn:example:gold urn:example:silver")
        );
        assert_eq!(rejection.required_max_age(), None);
        assert_eq!(
            response.body(),
            "insufficient_user_authentication: a different authentication level is required\n"
        );
    }
}

#[tokio::test]
async fn auth_time_is_checked_on_the_layers_clock_with_the_leeway() {
    // Authenticated at NOW; max_age 300 s and the verifier's 30 s leeway: fresh until
    // NOW + 330 by the requirement's clock, whatever time the verifier has.
    let clock = ManualClock::at_unix(NOW);
    let token = token_with(|t| t.claim("auth_time", NOW));
    clock.advance(Duration::from_secs(330));
    let response = call(max_age_route(300), &clock, bearer_request(PATH, &token)).await;
    assert_eq!(response.status(), StatusCode::OK);

    clock.advance(Duration::from_millis(1));
    let response = call(max_age_route(300), &clock, bearer_request(PATH, &token)).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        challenges(&response),
        [
            r#"Bearer realm="api", error="insufficient_user_authentication", error_description="a more recent authentication is required", max_age="300""#
        ]
    );
    let rejection = rejection_of(&response);
    assert_eq!(rejection.required_max_age(), Some(Duration::from_secs(300)));
    assert_eq!(rejection.required_acr_values(), None);

    // No auth_time at all: refused even at once.
    let clock = ManualClock::at_unix(NOW);
    let response = call(
        max_age_route(300),
        &clock,
        bearer_request(PATH, &token_with(|t| t)),
    )
    .await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        rejection_of(&response).kind(),
        RejectionKind::InsufficientUserAuthentication
    );
}

#[tokio::test]
async fn both_parameters_when_the_route_sets_both() {
    let clock = ManualClock::at_unix(NOW);
    let route = || acr_route().and_max_age(Duration::from_secs(60)).unwrap();
    let good = token_with(|t| t.claim("acr", GOLD).claim("auth_time", NOW));
    assert_eq!(
        call(route(), &clock, bearer_request(PATH, &good))
            .await
            .status(),
        StatusCode::OK
    );
    // Only the age falls short; the challenge still names everything the new token
    // must satisfy.
    let stale = token_with(|t| t.claim("acr", GOLD).claim("auth_time", NOW - 600));
    let response = call(route(), &clock, bearer_request(PATH, &stale)).await;
    assert_eq!(
        challenges(&response),
        [
            r#"Bearer realm="api", error="insufficient_user_authentication", error_description="a different or more recent authentication is required", acr_values="urn:example:gold urn:example:silver", max_age="60""#
        ]
    );
}

#[tokio::test]
async fn resource_metadata_follows_the_step_up_parameters() {
    let clock = ManualClock::at_unix(NOW);
    let authn = AuthenticationLayer::builder(verifier())
        .realm("api")
        .resource_metadata("https://api.test/.well-known/oauth-protected-resource")
        .build()
        .unwrap();
    let response = call_with(
        &authn,
        acr_route(),
        &clock,
        bearer_request(PATH, &token_with(|t| t.claim("acr", "weak"))),
    )
    .await;
    assert_eq!(
        challenges(&response),
        [
            r#"Bearer realm="api", error="insufficient_user_authentication", error_description="a different authentication level is required", acr_values="urn:example:gold urn:example:silver", resource_metadata="https://api.test/.well-known/oauth-protected-resource""#
        ]
    );
}

#[tokio::test]
async fn audience_then_step_up_then_scopes() {
    let clock = ManualClock::at_unix(NOW);
    let route = || {
        ScopeRequirement::all_of(["transfer"])
            .unwrap()
            .and_acr_values([GOLD])
            .unwrap()
    };
    // Neither the acr nor the scope: the step-up 401 comes first.
    let weak = token_with(|t| t.claim("acr", "weak").claim("scope", "read"));
    let response = call(route(), &clock, bearer_request(PATH, &weak)).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        rejection_of(&response).kind(),
        RejectionKind::InsufficientUserAuthentication
    );
    // A token for another audience of the issuer: invalid_token before anything else.
    let narrowed = route().and_audience_any_of(["https://other.test"]).unwrap();
    let response = call(narrowed, &clock, bearer_request(PATH, &weak)).await;
    assert_eq!(rejection_of(&response).kind(), RejectionKind::InvalidToken);
    // The acr, not the scope: 403 with the scope, and no step-up parameter.
    let strong = token_with(|t| t.claim("acr", GOLD).claim("scope", "read"));
    let response = call(route(), &clock, bearer_request(PATH, &strong)).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        challenges(&response),
        [
            r#"Bearer realm="api", error="insufficient_scope", error_description="insufficient scope", scope="transfer""#
        ]
    );
    // Both: through.
    let enough = token_with(|t| t.claim("acr", GOLD).claim("scope", "transfer"));
    assert_eq!(
        call(route(), &clock, bearer_request(PATH, &enough))
            .await
            .status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn grpc_callers_get_unauthenticated() {
    let clock = ManualClock::at_unix(NOW);
    let mut grpc = bearer_request(PATH, &token_with(|t| t.claim("acr", "weak")));
    grpc.headers_mut()
        .insert(header::CONTENT_TYPE, "application/grpc".parse().unwrap());
    let response = call(acr_route(), &clock, grpc).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["grpc-status"], "16");
    assert_eq!(
        response.headers()["grpc-message"],
        "a different authentication level is required"
    );
    assert_eq!(
        response.headers()[header::WWW_AUTHENTICATE],
        r#"Bearer realm="api", error="insufficient_user_authentication", error_description="a different authentication level is required", acr_values="urn:example:gold urn:example:silver""#
    );
    assert_eq!(
        RejectionKind::InsufficientUserAuthentication.grpc_status(),
        16
    );
    assert_eq!(
        RejectionKind::InsufficientUserAuthentication.status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn a_standalone_layer_answers_with_the_default_realm() {
    let clock = ManualClock::at_unix(NOW);
    let authn = AuthenticationLayer::new(verifier());
    let inner = service_fn(|_: Request<String>| async {
        Ok::<_, Infallible>(Response::new(String::new()))
    });
    let service = authn.layer(
        RequireScopesLayer::new(max_age_route(0))
            .clock(clock.clone())
            .layer(inner),
    );
    let token = token_with(|t| t.claim("auth_time", NOW - 31));
    let response = service.oneshot(bearer_request(PATH, &token)).await.unwrap();
    assert_eq!(
        challenges(&response),
        [
            r#"Bearer realm="api", error="insufficient_user_authentication", error_description="a more recent authentication is required", max_age="0""#
        ]
    );
}

/// The step-up error goes on the challenge of the scheme the request used.
#[tokio::test]
async fn the_error_is_on_the_challenge_of_the_scheme_used() {
    let clock = ManualClock::at_unix(NOW);
    let client = SigningKey::shared(SigningAlgorithm::EdDSA);
    let jkt = jkt(client);
    let authn = AuthenticationLayer::builder(verifier())
        .realm("api")
        .dpop(
            DpopPolicy::builder(ORIGIN)
                .clock(ManualClock::at_unix(NOW))
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();

    let bound = token_with(|t| t.claim("acr", "weak").claim("cnf", json!({ "jkt": jkt })));
    let dpop = dpop_request(client, &bound);
    let response = call_with(&authn, acr_route(), &clock, dpop).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let sent = challenges(&response);
    assert_eq!(sent.len(), 2, "{sent:?}");
    assert!(
        sent[0].starts_with(
            r#"DPoP realm="api", error="insufficient_user_authentication", error_description="a different authentication level is required", acr_values="urn:example:gold urn:example:silver", algs=""#
        ),
        "{sent:?}"
    );
    assert_eq!(sent[1], r#"Bearer realm="api""#);

    // Every refusal of the route follows the scheme: a scope refusal too.
    let scoped = ScopeRequirement::all_of(["transfer"])
        .unwrap()
        .and_acr_values([GOLD])
        .unwrap();
    let strong = token_with(|t| t.claim("acr", GOLD).claim("cnf", json!({ "jkt": jkt })));
    let dpop = dpop_request(client, &strong);
    let response = call_with(&authn, scoped, &clock, dpop).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let sent = challenges(&response);
    assert!(
        sent[0].starts_with(r#"DPoP realm="api", error="insufficient_scope""#),
        "{sent:?}"
    );

    // The same route, a bearer token: the error on the Bearer challenge.
    let bearer = token_with(|t| t.claim("acr", "weak"));
    let response = call_with(&authn, acr_route(), &clock, bearer_request(PATH, &bearer)).await;
    let sent = challenges(&response);
    assert_eq!(
        sent[0],
        r#"Bearer realm="api", error="insufficient_user_authentication", error_description="a different authentication level is required", acr_values="urn:example:gold urn:example:silver""#
    );
    assert!(
        sent[1].starts_with(r#"DPoP realm="api", algs=""#),
        "{sent:?}"
    );
}
