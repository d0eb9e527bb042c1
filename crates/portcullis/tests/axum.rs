//! A real axum 0.8 server on 127.0.0.1:0 behind the layers, called over TCP.
#![allow(clippy::unwrap_used)]

mod common;

use axum::routing::get;
use axum::{Router, middleware};
use common::*;
use portcullis::extract::{Authenticated, VerifiedClaims};
use portcullis::{AuthenticationLayer, ScopeRequirement, WELL_KNOWN_PATH};
use portcullis_testkit::{raw_get, raw_get_with_token};

const METADATA: &str = "https://api.test/.well-known/oauth-protected-resource";

#[derive(serde::Deserialize)]
struct MyClaims {
    sub: String,
    tenant: String,
}

async fn app() -> std::net::SocketAddr {
    let authn = AuthenticationLayer::builder(verifier())
        .realm("test")
        .resource_metadata(METADATA)
        .build()
        .unwrap();
    let read = authn.require(ScopeRequirement::all_of(["read"]).unwrap());
    let write = authn.require(ScopeRequirement::all_of(["write", "read"]).unwrap());
    let admin = authn.require(ScopeRequirement::any_of(["admin", "root"]).unwrap());
    let tenant_a = authn
        .require(ScopeRequirement::all_of(["read"]).unwrap())
        .and_claims(|claims| claims.get("tenant").and_then(|t| t.as_str()) == Some("a"));
    let metadata = authn
        .metadata("https://api.test")
        .authorization_server(ISSUER);

    let protected = Router::new()
        .route(
            "/read",
            get(|Authenticated(claims): Authenticated| async move {
                format!("read by {}", claims.subject().unwrap())
            })
            .route_layer(read),
        )
        .route("/write", get(|| async { "written" }).route_layer(write))
        .route("/admin", get(|| async { "admin" }).route_layer(admin))
        .route(
            "/tenant",
            get(
                |VerifiedClaims(mine): VerifiedClaims<MyClaims>| async move {
                    format!("{} of {}", mine.sub, mine.tenant)
                },
            )
            .route_layer(tenant_a),
        )
        .layer(authn);
    let router = Router::new()
        .route("/public", get(|| async { "public" }))
        .route_service(WELL_KNOWN_PATH, metadata.into_service())
        .merge(protected);
    serve_axum(router).await
}

#[tokio::test]
async fn statuses_and_challenges() {
    let addr = app().await;

    let public = raw_get(addr, "/public", &[]).await;
    assert_eq!((public.status, public.body.as_str()), (200, "public"));

    // No credentials: 401, realm and resource_metadata, no error code.
    let none = raw_get(addr, "/read", &[]).await;
    assert_eq!(none.status, 401);
    assert_eq!(
        none.challenge(),
        format!(r#"Bearer realm="test", resource_metadata="{METADATA}""#)
    );

    // Valid token, claims visible in the handler.
    let ok = raw_get_with_token(addr, "/read", &token("read")).await;
    assert_eq!((ok.status, ok.body.as_str()), (200, "read by test-subject"));
    assert!(ok.header("www-authenticate").is_none());

    // Insufficient scope: 403 naming what the route needs.
    let denied = raw_get_with_token(addr, "/write", &token("read")).await;
    assert_eq!(denied.status, 403);
    assert_eq!(
        denied.challenge(),
        format!(
            r#"Bearer realm="test", error="insufficient_scope", error_description="insufficient scope", scope="write read", resource_metadata="{METADATA}""#
        )
    );
    assert_eq!(
        raw_get_with_token(addr, "/write", &token("read write"))
            .await
            .status,
        200
    );

    // any-of.
    assert_eq!(
        raw_get_with_token(addr, "/admin", &token("read"))
            .await
            .status,
        403
    );
    assert_eq!(
        raw_get_with_token(addr, "/admin", &token("root"))
            .await
            .status,
        200
    );
    let admin = raw_get_with_token(addr, "/admin", &token("read")).await;
    assert!(admin.challenge().contains(r#"scope="admin root""#));

    // Bad tokens: 401 invalid_token with a short description, never the token.
    let expired = key()
        .token()
        .standard_claims(ISSUER, AUDIENCE, NOW - 1000)
        .claim("scope", "read")
        .sign();
    let response = raw_get_with_token(addr, "/read", &expired).await;
    assert_eq!(response.status, 401);
    assert_eq!(
        response.challenge(),
        format!(
            r#"Bearer realm="test", error="invalid_token", error_description="token expired", resource_metadata="{METADATA}""#
        )
    );
    assert!(!response.body.contains(&expired[..20]));
    assert!(
        response.body.len() < 100,
        "a small body: {:?}",
        response.body
    );

    let wrong_audience = key()
        .token()
        .standard_claims(ISSUER, "https://other.test", NOW)
        .sign();
    let response = raw_get_with_token(addr, "/read", &wrong_audience).await;
    assert_unauthorized(&response, "invalid audience", "another audience");

    let other_key =
        portcullis_testkit::SigningKey::generate(portcullis_testkit::SigningAlgorithm::ES256);
    let forged = other_key
        .token()
        .standard_claims(ISSUER, AUDIENCE, NOW)
        .sign();
    let response = raw_get_with_token(addr, "/read", &forged).await;
    assert_eq!(response.status, 401);
    assert!(response.challenge().contains(r#"error="invalid_token""#));
    assert!(!response.challenge().contains(&forged[..20]));
}

#[tokio::test]
async fn authorization_header_edge_cases() {
    let addr = app().await;
    let token = token("read");
    let with = |line: String| async move { raw_get(addr, "/read", &[line.as_bytes()]).await };

    assert_eq!(
        with(format!("authorization: bearer {token}")).await.status,
        200
    );
    assert_eq!(
        with(format!("Authorization: BEARER {token}")).await.status,
        200
    );
    assert_eq!(
        with(format!("Authorization: Bearer     {token}"))
            .await
            .status,
        200
    );

    // Two Authorization headers: 400 invalid_request.
    let line = format!("Authorization: Bearer {token}");
    let two = raw_get(addr, "/read", &[line.as_bytes(), line.as_bytes()]).await;
    assert_eq!(two.status, 400);
    assert!(two.challenge().contains(r#"error="invalid_request""#));

    // Another scheme: no bearer credentials, so no error code.
    let basic = with("Authorization: Basic dXNlcjpwYXNz".into()).await;
    assert_eq!(basic.status, 401);
    assert!(!basic.challenge().contains("error="));

    // Empty token, bad syntax: 400 invalid_request.
    for line in [
        "Authorization: Bearer",
        "Authorization: Bearer ",
        "Authorization: Bearer a b",
        "Authorization: Bearer a=b",
    ] {
        let response = with(line.into()).await;
        assert_eq!(response.status, 400, "{line:?}");
        assert!(response.challenge().contains(r#"error="invalid_request""#));
    }

    // Non-ASCII bytes.
    let response = raw_get(addr, "/read", &[b"Authorization: Bearer ab\xc3\xa9cd"]).await;
    assert_eq!(response.status, 400);
    assert!(response.challenge().contains(r#"error="invalid_request""#));

    // A 70 KB token: refused as too large before any decoding.
    let huge = "a".repeat(70 * 1024);
    let response = with(format!("Authorization: Bearer {huge}")).await;
    assert_unauthorized(&response, "token too large", "a 70 KB token");
    assert!(response.body.len() < 100);
}

#[tokio::test]
async fn metadata_document() {
    let addr = app().await;
    let response = raw_get(addr, WELL_KNOWN_PATH, &[]).await;
    assert_eq!(response.status, 200);
    assert_eq!(response.header("content-type").unwrap(), "application/json");
    let json: serde_json::Value = serde_json::from_str(&response.body).unwrap();
    assert_eq!(
        json,
        serde_json::json!({
            "resource": "https://api.test",
            "authorization_servers": [ISSUER],
            "scopes_supported": ["admin", "read", "root", "write"],
            "bearer_methods_supported": ["header"],
        })
    );
}

#[tokio::test]
async fn claim_predicates_and_own_claims_type() {
    let addr = app().await;
    let tenant = |t: &str| {
        key()
            .token()
            .standard_claims(ISSUER, AUDIENCE, NOW)
            .claim("scope", "read")
            .claim("tenant", t)
            .sign()
    };
    let ok = raw_get_with_token(addr, "/tenant", &tenant("a")).await;
    assert_eq!((ok.status, ok.body.as_str()), (200, "test-subject of a"));
    let other = raw_get_with_token(addr, "/tenant", &tenant("b")).await;
    assert_eq!(other.status, 403);
    assert!(other.challenge().contains(r#"error="insufficient_scope""#));
}

#[tokio::test]
async fn optional_mode() {
    let authn = AuthenticationLayer::builder(verifier())
        .optional()
        .realm("opt")
        .build()
        .unwrap();
    let read = authn.require(ScopeRequirement::all_of(["read"]).unwrap());
    let router = Router::new()
        .route(
            "/hello",
            get(|user: Option<Authenticated>| async move {
                match user {
                    Some(claims) => format!("hello {}", claims.subject().unwrap()),
                    None => "hello stranger".to_owned(),
                }
            }),
        )
        .route(
            "/strict",
            get(|Authenticated(_): Authenticated| async { "strict" }),
        )
        .route("/read", get(|| async { "read" }).route_layer(read))
        .layer(authn);
    let addr = serve_axum(router).await;

    let anonymous = raw_get(addr, "/hello", &[]).await;
    assert_eq!(
        (anonymous.status, anonymous.body.as_str()),
        (200, "hello stranger")
    );
    let user = raw_get_with_token(addr, "/hello", &token("")).await;
    assert_eq!(
        (user.status, user.body.as_str()),
        (200, "hello test-subject")
    );
    // A present but bad token is still refused.
    let bad = raw_get_with_token(addr, "/hello", "abc.def.ghi").await;
    assert_eq!(bad.status, 401);
    assert!(bad.challenge().contains(r#"error="invalid_token""#));
    // Anonymous requests on routes that need a user: 401 with the layer's challenge.
    let strict = raw_get(addr, "/strict", &[]).await;
    assert_eq!(
        (strict.status, strict.challenge().as_str()),
        (401, r#"Bearer realm="opt""#)
    );
    let read = raw_get(addr, "/read", &[]).await;
    assert_eq!(
        (read.status, read.challenge().as_str()),
        (401, r#"Bearer realm="opt""#)
    );
}

#[tokio::test]
async fn issuer_unavailable_is_503_with_retry_after() {
    let router = Router::new()
        .route("/read", get(|| async { "read" }))
        .layer(AuthenticationLayer::new(Down));
    let addr = serve_axum(router).await;
    let response = raw_get_with_token(addr, "/read", &token("read")).await;
    assert_eq!(response.status, 503);
    assert_eq!(response.header("retry-after").unwrap(), "7");
    assert!(response.header("www-authenticate").is_none());
    // Requests without a token are still told to authenticate.
    assert_eq!(raw_get(addr, "/read", &[]).await.status, 401);
}

#[tokio::test]
async fn rejection_reason_reaches_outer_layers() {
    let router = Router::new()
        .route("/read", get(|| async { "read" }))
        .layer(AuthenticationLayer::new(verifier()))
        .layer(middleware::map_response(
            |mut response: axum::response::Response| async move {
                if let Some(rejection) = response.extensions().get::<portcullis::Rejection>() {
                    let kind = format!("{:?}", rejection.kind());
                    response
                        .headers_mut()
                        .insert("x-rejection", kind.parse().unwrap());
                }
                response
            },
        ));
    let addr = serve_axum(router).await;
    let response = raw_get_with_token(addr, "/read", "abc").await;
    assert_eq!(response.header("x-rejection").unwrap(), "InvalidToken");
}
