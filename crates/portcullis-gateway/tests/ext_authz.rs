//! Envoy's ext_authz over gRPC: a client generated from Envoy's published protos
//! (`envoy-types`, not the gateway's code) asks a running gateway
//! `envoy.service.auth.v3.Authorization/Check`, and every outcome of the route table
//! and the layers comes back as Envoy reads it: `OK` with the claim headers and the
//! headers to remove, or a denial with the exact HTTP status, challenge and
//! `Retry-After`, and the claims in the dynamic metadata.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::HashMap;
use std::net::SocketAddr;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::{AUDIENCE, Http, ROUTES, World, token_for};
use envoy_types::pb::envoy::config::core::v3::header_value_option::HeaderAppendAction;
use envoy_types::pb::envoy::config::core::v3::{
    Address, HeaderValueOption, SocketAddress, address,
};
use envoy_types::pb::envoy::service::auth::v3::attribute_context::{HttpRequest, Peer, Request};
use envoy_types::pb::envoy::service::auth::v3::authorization_client::AuthorizationClient;
use envoy_types::pb::envoy::service::auth::v3::check_response::HttpResponse;
use envoy_types::pb::envoy::service::auth::v3::{
    AttributeContext, CheckRequest, CheckResponse, DeniedHttpResponse, OkHttpResponse,
};
use envoy_types::pb::google::protobuf::value::Kind;
use envoy_types::pb::google::protobuf::{Struct, Value};
use portcullis_jwt::Key;
use portcullis_testkit::fixture::unix_now;
use portcullis_testkit::{Endpoint, Fault, SigningAlgorithm, SigningKey, access_token_hash};
use serde_json::json;
use tonic::transport::Channel;

/// The `google.rpc.Code` values Envoy reads.
const OK: i32 = 0;
const INVALID_ARGUMENT: i32 = 3;
const PERMISSION_DENIED: i32 = 7;
const UNAVAILABLE: i32 = 14;
const UNAUTHENTICATED: i32 = 16;

/// What Envoy would send for one request, and what it gets back.
struct Envoy {
    client: AuthorizationClient<Channel>,
}

impl Envoy {
    async fn connect(addr: SocketAddr) -> Envoy {
        Envoy {
            client: AuthorizationClient::connect(format!("http://{addr}"))
                .await
                .unwrap(),
        }
    }

    /// Checks `method path` with `headers` (and the pseudo-headers Envoy lists too).
    async fn check(&mut self, method: &str, path: &str, headers: &[(&str, &str)]) -> Checked {
        let mut map: HashMap<String, String> = headers
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect();
        map.insert(":method".to_owned(), method.to_owned());
        map.insert(":path".to_owned(), path.to_owned());
        map.insert(":authority".to_owned(), "api.example".to_owned());
        self.send(CheckRequest {
            attributes: Some(AttributeContext {
                request: Some(Request {
                    http: Some(HttpRequest {
                        method: method.to_owned(),
                        path: path.to_owned(),
                        host: "api.example".to_owned(),
                        scheme: "https".to_owned(),
                        protocol: "HTTP/1.1".to_owned(),
                        headers: map,
                        ..HttpRequest::default()
                    }),
                    ..Request::default()
                }),
                ..AttributeContext::default()
            }),
        })
        .await
    }

    async fn send(&mut self, request: CheckRequest) -> Checked {
        Checked(self.client.check(request).await.unwrap().into_inner())
    }
}

/// A `CheckResponse`, read as Envoy reads it.
struct Checked(CheckResponse);

impl Checked {
    fn code(&self) -> i32 {
        self.0.status.as_ref().unwrap().code
    }

    fn allowed(&self) -> &OkHttpResponse {
        assert_eq!(self.code(), OK, "{:?}", self.0);
        match &self.0.http_response {
            Some(HttpResponse::OkResponse(ok)) => ok,
            other => panic!("an OkHttpResponse: {other:?}"),
        }
    }

    /// Asserts a denial with this gRPC code and HTTP status.
    fn denied(&self, code: i32, status: u16) -> &DeniedHttpResponse {
        assert_eq!(self.code(), code, "{:?}", self.0);
        match &self.0.http_response {
            Some(HttpResponse::DeniedResponse(denied)) => {
                assert_eq!(denied.status.as_ref().unwrap().code, i32::from(status));
                denied
            }
            other => panic!("a DeniedHttpResponse: {other:?}"),
        }
    }

    /// The string at `path` in the dynamic metadata.
    fn metadata(&self, path: &[&str]) -> Option<&str> {
        let mut fields: &Struct = self.0.dynamic_metadata.as_ref()?;
        let (last, parents) = path.split_last()?;
        for key in parents {
            match &fields.fields.get(*key)?.kind {
                Some(Kind::StructValue(inner)) => fields = inner,
                _ => return None,
            }
        }
        match fields.fields.get(*last) {
            Some(Value {
                kind: Some(Kind::StringValue(text)),
            }) => Some(text),
            _ => None,
        }
    }
}

/// The values of `name` among Envoy header options.
fn values<'a>(headers: &'a [HeaderValueOption], name: &str) -> Vec<&'a str> {
    headers
        .iter()
        .filter_map(|option| option.header.as_ref())
        .filter(|header| header.key == name)
        .map(|header| header.value.as_str())
        .collect()
}

/// A gateway serving ext_authz over gRPC (beside its proxy) on the standard routes.
async fn world(extra: &str) -> (World, Envoy) {
    let world = World::start(&format!(
        "[decision]\ngrpc_listen = [\"127.0.0.1:0\"]\n{extra}\n{ROUTES}"
    ))
    .await;
    let envoy = Envoy::connect(world.gateway.decision_grpc.unwrap()).await;
    (world, envoy)
}

#[tokio::test(flavor = "multi_thread")]
async fn allowed_checks_set_the_claim_headers_and_remove_spoofed_ones() {
    let (w, mut envoy) = world("[operations]\nlisten = \"127.0.0.1:0\"").await;
    let read = token_for(&w.issuer, "read", &[]);
    let bearer = format!("Bearer {read}");
    let checked = envoy
        .check(
            "GET",
            "/items/7?full=1",
            &[
                ("authorization", &bearer),
                ("x-auth-subject", "admin"),
                ("x_auth_subject", "admin"),
                ("x-auth-groups", "ops"),
            ],
        )
        .await;
    let ok = checked.allowed();
    assert_eq!(values(&ok.headers, "x-auth-subject"), ["test-subject"]);
    assert_eq!(values(&ok.headers, "x-auth-scope"), ["read"]);
    assert_eq!(values(&ok.headers, "x-auth-claims").len(), 1);
    // Set, not appended, however Envoy reads it (its ext_authz client reads `append`).
    #[allow(deprecated)]
    for option in &ok.headers {
        assert_eq!(
            option.append_action,
            i32::from(HeaderAppendAction::OverwriteIfExistsOrAdd)
        );
        assert!(option.append.is_none_or(|append| !append.value));
    }
    // The look-alike, the claim header this token has no claim for, and the token
    // (not forwarded by default); never a header being set.
    let mut removed = ok.headers_to_remove.clone();
    removed.sort();
    assert_eq!(
        removed,
        ["authorization", "x-auth-groups", "x_auth_subject"]
    );
    assert_eq!(checked.metadata(&["decision"]), Some("allow"));
    assert_eq!(checked.metadata(&["reason"]), Some("authorized"));
    assert_eq!(checked.metadata(&["route"]), Some("items-read"));
    assert_eq!(checked.metadata(&["claims", "sub"]), Some("test-subject"));
    assert_eq!(checked.metadata(&["claims", "scope"]), Some("read"));

    // An anonymous route: allowed without claim headers, spoofed copies removed.
    let public = envoy
        .check("GET", "/public/x", &[("x-auth-subject", "admin")])
        .await;
    let ok = public.allowed();
    assert!(ok.headers.is_empty(), "{ok:?}");
    assert_eq!(ok.headers_to_remove, ["x-auth-subject"]);
    assert_eq!(public.metadata(&["reason"]), Some("anonymous"));
    assert_eq!(public.metadata(&["claims", "sub"]), None);

    // Counted as the proxy counts requests.
    let metrics = w.gateway.metrics(&Http::http1()).await;
    for line in [
        r#"portcullis_gateway_requests_total{route="items-read",decision="allow",reason="authorized"} 1"#,
        r#"portcullis_gateway_requests_total{route="public",decision="allow",reason="anonymous"} 1"#,
    ] {
        assert!(metrics.lines().any(|l| l == line), "{line}\n{metrics}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn refusals_carry_the_exact_status_and_challenge() {
    let (w, mut envoy) = world("").await;
    let read = token_for(&w.issuer, "read", &[]);
    let bearer = format!("Bearer {read}");

    let missing = envoy.check("GET", "/items/7", &[]).await;
    let denied = missing.denied(UNAUTHENTICATED, 401);
    assert_eq!(
        values(&denied.headers, "www-authenticate"),
        [r#"Bearer realm="test""#]
    );
    assert_eq!(missing.metadata(&["reason"]), Some("missing_token"));

    let forged = envoy
        .check(
            "GET",
            "/items/7",
            &[("authorization", "Bearer not.a.token")],
        )
        .await;
    let challenge = values(
        &forged.denied(UNAUTHENTICATED, 401).headers,
        "www-authenticate",
    );
    assert!(
        challenge[0].starts_with(r#"Bearer realm="test", error="invalid_token""#),
        "{challenge:?}"
    );

    let scope = envoy
        .check("PUT", "/items/7", &[("authorization", &bearer)])
        .await;
    let denied = scope.denied(PERMISSION_DENIED, 403);
    let challenge = values(&denied.headers, "www-authenticate");
    assert!(
        challenge[0].starts_with(r#"Bearer realm="test", error="insufficient_scope""#),
        "{challenge:?}"
    );
    assert!(denied.body.starts_with("insufficient_scope"), "{denied:?}");
    assert_eq!(scope.metadata(&["route"]), Some("items-write"));

    // Unmatched: denied as 403 (Envoy's callers read other codes as its own error).
    let unrouted = envoy
        .check("GET", "/admin", &[("authorization", &bearer)])
        .await;
    unrouted.denied(PERMISSION_DENIED, 403);
    assert_eq!(unrouted.metadata(&["reason"]), Some("no_route"));

    // Ambiguous paths are refused as the proxy refuses them.
    for path in [
        "/items/../admin",
        "/items/%2e%2e/admin",
        "/public%2f..%2fadmin",
    ] {
        let ambiguous = envoy
            .check("GET", path, &[("authorization", &bearer)])
            .await;
        ambiguous.denied(INVALID_ARGUMENT, 400);
    }

    // A gRPC original is refused with an HTTP status (Envoy makes it a gRPC status).
    let grpc = envoy
        .check(
            "POST",
            "/echo.Echo/Say",
            &[("content-type", "application/grpc")],
        )
        .await;
    grpc.denied(UNAUTHENTICATED, 401);
}

#[tokio::test(flavor = "multi_thread")]
async fn malformed_and_oversized_checks_are_denied() {
    let (_w, mut envoy) = world("").await;
    envoy
        .send(CheckRequest { attributes: None })
        .await
        .denied(INVALID_ARGUMENT, 400);
    let big = "x".repeat(8 * 1024);
    let headers: Vec<(String, String)> = (0..12)
        .map(|i| (format!("x-big-{i}"), big.clone()))
        .collect();
    let headers: Vec<(&str, &str)> = headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    envoy
        .check("GET", "/public/x", &headers)
        .await
        .denied(INVALID_ARGUMENT, 431);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_issuer_outage_is_unavailable_with_retry_after() {
    let (w, mut envoy) = world("").await;
    w.issuer.set_fault(Endpoint::Jwks, Fault::Status(503));
    w.issuer.rotate();
    let fresh = format!("Bearer {}", token_for(&w.issuer, "read", &[]));
    let outage = envoy
        .check("GET", "/items/7", &[("authorization", &fresh)])
        .await;
    let denied = outage.denied(UNAVAILABLE, 503);
    let retry_after = values(&denied.headers, "retry-after");
    assert_eq!(retry_after.len(), 1);
    assert!(retry_after[0].parse::<u64>().unwrap() >= 1);
    assert_eq!(outage.metadata(&["reason"]), Some("issuer_unavailable"));
}

/// The origin clients address (through Envoy); proofs name it, not the host Envoy
/// reports.
const ORIGIN: &str = "https://api.test";

#[tokio::test(flavor = "multi_thread")]
async fn dpop_proofs_are_checked_against_the_configured_origin() {
    let w = World::start(&format!(
        "[decision]\ngrpc_listen = [\"127.0.0.1:0\"]\n\n\
         [dpop]\norigin = \"{ORIGIN}\"\nmode = \"required\"\n\n\
         [[routes]]\nname = \"orders\"\npath_prefix = \"/orders\"\n"
    ))
    .await;
    let mut envoy = Envoy::connect(w.gateway.decision_grpc.unwrap()).await;
    let client = SigningKey::generate(SigningAlgorithm::ES256);
    let jkt = URL_SAFE_NO_PAD.encode(Key::from_jwk(&client.public_jwk()).unwrap().thumbprint());
    let token = w.issuer.mint_with(AUDIENCE, unix_now(), |token| {
        token.claim("cnf", json!({ "jkt": jkt }))
    });
    let proof_for = |uri: &str| {
        client
            .dpop_proof("GET", uri, unix_now())
            .claim("ath", access_token_hash(&token))
            .sign()
    };
    let dpop = format!("DPoP {token}");

    let proof = proof_for(&format!("{ORIGIN}/orders/7"));
    let with = [("authorization", dpop.as_str()), ("dpop", proof.as_str())];
    envoy.check("GET", "/orders/7?x=1", &with).await.allowed();

    // A replayed proof, a proof for another resource, and no proof: refused.
    let replayed = envoy.check("GET", "/orders/7?x=1", &with).await;
    let challenge = values(
        &replayed.denied(UNAUTHENTICATED, 401).headers,
        "www-authenticate",
    );
    assert!(
        challenge[0].starts_with(r#"DPoP realm="test", error="invalid_dpop_proof""#),
        "{challenge:?}"
    );
    let elsewhere = proof_for(&format!("{ORIGIN}/orders/8"));
    envoy
        .check(
            "GET",
            "/orders/7",
            &[("authorization", &dpop), ("dpop", &elsewhere)],
        )
        .await
        .denied(UNAUTHENTICATED, 401);
    let bearer = format!("Bearer {token}");
    let refused = envoy
        .check("GET", "/orders/7", &[("authorization", &bearer)])
        .await;
    let challenge = values(
        &refused.denied(UNAUTHENTICATED, 401).headers,
        "www-authenticate",
    );
    assert_eq!(challenge.len(), 1);
    assert!(challenge[0].starts_with("DPoP "), "{challenge:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn step_up_is_asked_for_as_the_proxy_asks() {
    let w = World::start(
        "[decision]\ngrpc_listen = [\"127.0.0.1:0\"]\n\n\
         [[routes]]\nname = \"transfers\"\npath_prefix = \"/transfers\"\n\
         acr_values = [\"urn:example:mfa\"]\n",
    )
    .await;
    let mut envoy = Envoy::connect(w.gateway.decision_grpc.unwrap()).await;
    let weak = format!(
        "Bearer {}",
        token_for(&w.issuer, "", &[("acr", json!("urn:example:pwd"))])
    );
    let refused = envoy
        .check("POST", "/transfers/1", &[("authorization", &weak)])
        .await;
    assert_eq!(
        values(
            &refused.denied(UNAUTHENTICATED, 401).headers,
            "www-authenticate"
        ),
        [
            r#"Bearer realm="test", error="insufficient_user_authentication", error_description="a different authentication level is required", acr_values="urn:example:mfa""#
        ]
    );
    assert_eq!(
        refused.metadata(&["reason"]),
        Some("insufficient_user_authentication")
    );
    let strong = format!(
        "Bearer {}",
        token_for(&w.issuer, "", &[("acr", json!("urn:example:mfa"))])
    );
    envoy
        .check("POST", "/transfers/1", &[("authorization", &strong)])
        .await
        .allowed();
}

#[tokio::test(flavor = "multi_thread")]
async fn decisions_are_in_the_access_log_as_requests_are() {
    let issuer = common::es256_issuer().await;
    let upstream = portcullis_testkit::EchoUpstream::start().await;
    let extra = format!(
        "[decision]\nlisten = [\"127.0.0.1:0\"]\nsource = \"forwarded\"\n\
         grpc_listen = [\"127.0.0.1:0\"]\n\n[log]\naccess = true\n{ROUTES}"
    );
    let mut gateway =
        common::Gateway::start_with(&common::config(&issuer, &upstream, &extra), |command| {
            command
                .env("RUST_LOG", "info")
                .stderr(std::process::Stdio::piped())
        });
    let mut envoy = Envoy::connect(gateway.decision_grpc.unwrap()).await;
    let read = token_for(&issuer, "read", &[]);
    let bearer = format!("Bearer {read}");
    let check = |path: &str| {
        let mut map = HashMap::new();
        map.insert("authorization".to_owned(), bearer.clone());
        CheckRequest {
            attributes: Some(AttributeContext {
                source: Some(Peer {
                    address: Some(Address {
                        address: Some(address::Address::SocketAddress(SocketAddress {
                            address: "203.0.113.7".to_owned(),
                            ..SocketAddress::default()
                        })),
                    }),
                    ..Peer::default()
                }),
                request: Some(Request {
                    http: Some(HttpRequest {
                        method: "GET".to_owned(),
                        path: path.to_owned(),
                        headers: map,
                        ..HttpRequest::default()
                    }),
                    ..Request::default()
                }),
                ..AttributeContext::default()
            }),
        }
    };
    envoy.send(check("/items/7?secret=q")).await.allowed();
    envoy
        .send(check("/admin"))
        .await
        .denied(PERMISSION_DENIED, 403);
    let http = Http::http1();
    let over_http = http
        .get(
            &gateway.decision_url("/"),
            Some(&read),
            &[
                ("x-forwarded-method", "PUT"),
                ("x-forwarded-uri", "/items/7"),
            ],
        )
        .await;
    assert_eq!(over_http.status, http::StatusCode::FORBIDDEN);

    let stderr = tokio::task::block_in_place(|| gateway.stop_for_stderr());
    assert!(!stderr.contains(&read), "the token was logged:\n{stderr}");
    assert!(
        !stderr.contains("secret=q"),
        "the query was logged:\n{stderr}"
    );
    let access: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("portcullis_gateway::access"))
        .collect();
    assert_eq!(access.len(), 3, "{stderr}");
    let allowed = access.iter().find(|l| l.contains("status=200")).unwrap();
    for field in [
        "client=203.0.113.7",
        "route=\"items-read\"",
        "path=\"/items/7\"",
        "subject=\"test-subject\"",
        "decision=\"allow\"",
    ] {
        assert!(allowed.contains(field), "{field} missing in {allowed}");
    }
    assert!(
        access
            .iter()
            .any(|l| l.contains("reason=\"no_route\"") && l.contains("client=203.0.113.7")),
        "{stderr}"
    );
    // Over HTTP the caller is the proxy in front; the identity is the token's.
    let scope = access
        .iter()
        .find(|l| l.contains("reason=\"insufficient_scope\""))
        .unwrap();
    assert!(scope.contains("client=127.0.0.1"), "{scope}");
    assert!(scope.contains("subject=\"test-subject\""), "{scope}");
    assert!(
        stderr
            .lines()
            .any(|l| l.contains("decision refused") && l.contains("front_door=\"ext_authz_grpc\"")),
        "{stderr}"
    );
}

/// Envoy switches protocols itself when the check allows the handshake (its HTTP/2
/// extended CONNECT arrives as an HTTP/1.1 `Upgrade`): a route that does not allow the
/// protocol (`upgrades`) denies it.
#[tokio::test(flavor = "multi_thread")]
async fn an_upgrade_the_route_does_not_allow_is_denied() {
    let (w, mut envoy) = world("").await;
    let bearer = format!("Bearer {}", token_for(&w.issuer, "read", &[]));
    let plain = [("authorization", bearer.as_str())];
    envoy.check("GET", "/items/7", &plain).await.allowed();
    let upgrade = [
        ("authorization", bearer.as_str()),
        ("connection", "upgrade"),
        ("upgrade", "websocket"),
    ];
    let checked = envoy.check("GET", "/items/7", &upgrade).await;
    checked.denied(PERMISSION_DENIED, 403);
    assert_eq!(checked.metadata(&["reason"]), Some("upgrade_not_allowed"));
}
