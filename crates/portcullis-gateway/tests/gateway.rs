//! The gateway binary end to end: a JWKS issuer, an echo upstream, real HTTP/1.1 and h2c.

#![allow(clippy::unwrap_used)] // Helpers outside #[test] fns panic on purpose.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use bytes::Bytes;
use common::{AUDIENCE, Gateway, Http, ROUTES, binary, config, es256_issuer, serving, token_for};
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Full};
use portcullis_testkit::fixture::unix_now;
use portcullis_testkit::{EchoUpstream, Endpoint, Fault, TestIssuer};
use serde_json::json;

/// One route, `/me`, forwarding the token's issuer as `x-auth-issuer`.
const ME_FORWARDING_ISSUER: &str =
    "[[routes]]\npath = \"/me\"\n[forward]\nclaims = { iss = \"x-auth-issuer\" }\n";

struct World {
    issuer: TestIssuer,
    upstream: EchoUpstream,
    gateway: Gateway,
    http: Http,
}

async fn world(extra: &str) -> World {
    world_edited(extra, |text| text).await
}

/// A world whose configuration (the standard one with `extra`) is first passed through
/// `edit`, for the tests that change a standard setting.
async fn world_edited(extra: &str, edit: impl FnOnce(String) -> String) -> World {
    let issuer = es256_issuer().await;
    let upstream = EchoUpstream::start().await;
    let gateway = Gateway::start(&edit(config(&issuer, &upstream, extra)));
    World::ready(issuer, upstream, gateway).await
}

impl World {
    /// The world around `gateway`, once it is ready.
    async fn ready(issuer: TestIssuer, upstream: EchoUpstream, gateway: Gateway) -> World {
        let world = World {
            issuer,
            upstream,
            gateway,
            http: Http::http1(),
        };
        world.wait_ready().await;
        world
    }

    /// Polls `/readyz` against a deadline: readiness is what is being waited for.
    async fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let answer = self.http.get(&self.gateway.url("/readyz"), None, &[]).await;
            if answer.status == StatusCode::OK {
                return;
            }
            assert!(Instant::now() < deadline, "the gateway never became ready");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn status(&self, method: &str, path: &str, token: Option<&str>) -> StatusCode {
        self.http
            .call(method, &self.gateway.url(path), token, &[])
            .await
            .status
    }

    /// `GET path` without a token or extra headers.
    async fn get(&self, path: &str) -> common::Answer {
        self.http.get(&self.gateway.url(path), None, &[]).await
    }

    /// Sends each `(method, path, token)` in order and asserts its status.
    async fn assert_statuses(&self, cases: &[(&str, &str, Option<&str>, StatusCode)]) {
        for &(method, path, token, expected) in cases {
            let status = self.status(method, path, token).await;
            assert_eq!(status, expected, "{method} {path} with {token:?}");
        }
    }
}

#[tokio::test]
async fn every_route_requirement() {
    let w = world(ROUTES).await;
    let reader = token_for(&w.issuer, "read", &[]);
    let writer = token_for(&w.issuer, "read write", &[]);
    let auditor = token_for(&w.issuer, "auditor", &[]);
    let acme = token_for(
        &w.issuer,
        "",
        &[("tenant", json!("acme")), ("groups", json!(["dev", "ops"]))],
    );
    let other = token_for(
        &w.issuer,
        "",
        &[("tenant", json!("globex")), ("groups", json!("dev"))],
    );

    w.assert_statuses(&[
        // Anonymous, and unmatched (denied by default).
        ("GET", "/public/x", None, StatusCode::OK),
        ("GET", "/nowhere", Some(&writer), StatusCode::NOT_FOUND),
        ("POST", "/me", Some(&writer), StatusCode::NOT_FOUND),
        // Authenticated.
        ("GET", "/me", Some(&reader), StatusCode::OK),
    ])
    .await;
    let missing = w.get("/me").await;
    assert_eq!(missing.status, StatusCode::UNAUTHORIZED);
    assert_eq!(missing.header("www-authenticate"), "Bearer realm=\"test\"");
    // Scopes all-of.
    w.assert_statuses(&[("GET", "/items/1", Some(&reader), StatusCode::OK)])
        .await;
    let denied = w
        .http
        .call("PUT", &w.gateway.url("/items/1"), Some(&reader), &[])
        .await;
    assert_eq!(denied.status, StatusCode::FORBIDDEN);
    assert!(
        denied
            .header("www-authenticate")
            .contains("error=\"insufficient_scope\"")
    );
    assert!(
        denied
            .header("www-authenticate")
            .contains("scope=\"read write\"")
    );
    w.assert_statuses(&[
        ("PUT", "/items/1", Some(&writer), StatusCode::OK),
        // Scopes any-of.
        ("GET", "/reports/q3", Some(&auditor), StatusCode::OK),
        ("GET", "/reports/q3", Some(&reader), StatusCode::FORBIDDEN),
        // Claim equals / contains.
        ("GET", "/tenant", Some(&acme), StatusCode::OK),
        ("GET", "/tenant", Some(&other), StatusCode::FORBIDDEN),
        ("GET", "/group", Some(&acme), StatusCode::OK),
        ("GET", "/group", Some(&other), StatusCode::FORBIDDEN),
    ])
    .await;

    // Bad tokens: expired, wrong audience, garbage; malformed requests.
    let expired = w
        .issuer
        .mint_with(AUDIENCE, unix_now() - 3600, |t| t.claim("scope", "read"));
    let answer = w.http.get(&w.gateway.url("/me"), Some(&expired), &[]).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert!(
        answer
            .header("www-authenticate")
            .contains("error=\"invalid_token\"")
    );
    let foreign = w.issuer.mint("https://other.test", unix_now());
    // Not a b64token: 400 invalid_request, whether the layer or the verifier saw it
    // first (the gateway's JWT-only issuers leave the character check to the verifier).
    let (comma, equals) = (format!("{reader},"), format!("{reader}=x"));
    w.assert_statuses(&[
        ("GET", "/me", Some(&foreign), StatusCode::UNAUTHORIZED),
        ("GET", "/me", Some("a.b.c"), StatusCode::UNAUTHORIZED),
        ("GET", "/me", Some(&comma), StatusCode::BAD_REQUEST),
        ("GET", "/me", Some(&equals), StatusCode::BAD_REQUEST),
        ("GET", "/me", Some("a\"b"), StatusCode::BAD_REQUEST),
    ])
    .await;
    let two = Request::get(w.gateway.url("/me"))
        .header("authorization", format!("Bearer {reader}"))
        .header("authorization", format!("Bearer {reader}"))
        .body(common::TestBody::default())
        .unwrap();
    let answer = w.http.send(two).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert!(
        answer
            .header("www-authenticate")
            .contains("invalid_request")
    );
    w.assert_statuses(&[
        // Paths the upstream might normalise differently are refused outright.
        ("GET", "/public/../me", None, StatusCode::BAD_REQUEST),
        ("GET", "/public/%2e%2e/me", None, StatusCode::BAD_REQUEST),
        // An encoded unreserved character is the character, as the upstream reads it:
        // `/%6De` is `/me` and gets `/me`'s rule (found by the `router` fuzz target).
        ("GET", "/%6De", None, StatusCode::UNAUTHORIZED),
        ("GET", "/%6de", Some(&reader), StatusCode::OK),
        ("GET", "/publi%63/x", None, StatusCode::OK),
    ])
    .await;
}

#[tokio::test]
async fn claims_arrive_as_headers_and_spoofs_are_removed() {
    let w = world(ROUTES).await;
    let token = token_for(&w.issuer, "read", &[("groups", json!(["dev", "ops"]))]);
    let spoof = [
        ("x-auth-subject", "admin"),
        ("x-auth-groups", "root"),
        ("x-auth-claims", "e30"),
        // Look-alikes a CGI-style upstream reads as the same header.
        ("x_auth_subject", "admin"),
        ("X_Auth_Groups", "root"),
        ("x-auth_claims", "e30"),
        ("x_forwarded_host", "evil.example"),
        ("x-other", "kept"),
        ("x_other", "kept too"),
    ];
    let assert_no_spoofed = |headers: &serde_json::Value| {
        for spoofed in [
            "x_auth_subject",
            "x_auth_groups",
            "x-auth_claims",
            "x_forwarded_host",
        ] {
            assert!(
                headers.get(spoofed).is_none(),
                "{spoofed} reached the upstream"
            );
        }
    };
    let answer = w
        .http
        .get(&w.gateway.url("/me?q=1"), Some(&token), &spoof)
        .await;
    assert_eq!(answer.status, StatusCode::OK);
    let echo = answer.json();
    let headers = &echo["headers"];
    assert_eq!(echo["path"], "/me?q=1");
    assert_eq!(headers["x-auth-subject"], "test-subject");
    assert_eq!(headers["x-auth-groups"], "dev,ops");
    assert_eq!(headers["x-auth-scope"], "read");
    assert_eq!(headers["x-other"], "kept");
    assert_eq!(headers["x_other"], "kept too");
    assert_no_spoofed(headers);
    let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(headers["x-auth-claims"].as_str().unwrap())
        .unwrap();
    let payload: serde_json::Value = serde_json::from_slice(&payload).unwrap();
    assert_eq!(payload["sub"], "test-subject");
    assert_eq!(payload["aud"], AUDIENCE);
    // Stripped by default.
    assert!(headers.get("authorization").is_none());
    assert!(
        headers["x-forwarded-for"]
            .as_str()
            .unwrap()
            .contains("127.0.0.1")
    );

    // On an anonymous route the spoofed headers go too, and nothing is added.
    let answer = w
        .http
        .get(&w.gateway.url("/public/a"), Some(&token), &spoof)
        .await;
    let headers = &answer.json()["headers"];
    assert!(headers.get("x-auth-subject").is_none());
    assert!(headers.get("x-auth-groups").is_none());
    assert!(headers.get("x-auth-claims").is_none());
    assert_no_spoofed(headers);
    assert_eq!(headers["x-other"], "kept");
}

#[tokio::test]
async fn authorization_forwarded_when_configured() {
    let routes = r#"
[[routes]]
path = "/me"
[forward]
authorization = "forward"
claims = { sub = "x-auth-subject" }
"#;
    let w = world(routes).await;
    let token = token_for(&w.issuer, "read", &[]);
    let answer = w.http.get(&w.gateway.url("/me"), Some(&token), &[]).await;
    let headers = &answer.json()["headers"];
    assert_eq!(headers["authorization"], format!("Bearer {token}"));
    assert_eq!(headers["x-auth-subject"], "test-subject");
}

#[tokio::test]
async fn body_limit_and_hop_by_hop() {
    let w = world(ROUTES).await;
    let token = token_for(&w.issuer, "read write", &[]);
    let big = Request::put(w.gateway.url("/items/1"))
        .header("authorization", format!("Bearer {token}"))
        .body(Full::new(Bytes::from(vec![b'x'; 2048])).boxed())
        .unwrap();
    assert_eq!(w.http.send(big).await.status, StatusCode::PAYLOAD_TOO_LARGE);
    let answer = w
        .http
        .get(
            &w.gateway.url("/public/x"),
            None,
            &[
                ("connection", "x-secret"),
                ("x-secret", "1"),
                ("keep-alive", "5"),
            ],
        )
        .await;
    let headers = &answer.json()["headers"];
    assert!(headers.get("x-secret").is_none());
    assert!(headers.get("keep-alive").is_none());
}

async fn grpc_call(gateway: &Gateway, path: &str, token: Option<&str>) -> common::Answer {
    let mut builder = Request::post(gateway.url(path))
        .header("content-type", "application/grpc")
        .header("te", "trailers");
    if let Some(token) = token {
        builder = builder.header("authorization", format!("Bearer {token}"));
    }
    // A gRPC frame: uncompressed, 3 bytes.
    let body = Full::new(Bytes::from_static(b"\0\0\0\0\x03abc")).boxed();
    Http::http2().send(builder.body(body).unwrap()).await
}

#[tokio::test]
async fn long_tokens_get_the_same_answer_over_every_protocol() {
    // Without the payload header: forwarded, a long payload would meet the test
    // upstream's own HTTP/2 header limit, which is not what this test is about.
    let w = world_edited(ROUTES, |text| {
        text.replace(
            "max_request_body_bytes = 1024",
            "max_request_body_bytes = 1024\nmax_token_bytes = 32768",
        )
        .replace("payload_header = \"x-auth-claims\"", "")
    })
    .await;
    // Valid, and over hyper's 16 KiB HTTP/2 default for the whole header list.
    let long = token_for(&w.issuer, "read", &[("pad", json!("x".repeat(20_000)))]);
    assert!(
        long.len() > 24 * 1024 && long.len() < 32768,
        "{}",
        long.len()
    );
    // Over max_token_bytes.
    let too_long = token_for(&w.issuer, "read", &[("pad", json!("x".repeat(30_000)))]);
    assert!(too_long.len() > 32768, "{}", too_long.len());
    let url = w.gateway.url("/items/1");
    for http in [Http::http1(), Http::http2()] {
        let ok = http.get(&url, Some(&long), &[]).await;
        assert_eq!(ok.status, StatusCode::OK);
        let refused = http.get(&url, Some(&too_long), &[]).await;
        assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
        let challenge = refused.header("www-authenticate");
        assert!(
            challenge.starts_with("Bearer ") && challenge.contains(r#"error="invalid_token""#),
            "{challenge}"
        );
    }
    let ok = grpc_call(&w.gateway, "/echo.Echo/Say", Some(&long)).await;
    assert_eq!(
        ok.trailers.expect("the upstream's trailers")["grpc-status"],
        "0"
    );
    let refused = grpc_call(&w.gateway, "/echo.Echo/Say", Some(&too_long)).await;
    assert_eq!(refused.status, StatusCode::OK);
    assert_eq!(refused.header("grpc-status"), "16");
    assert!(refused.header("www-authenticate").contains("invalid_token"));
}

#[tokio::test]
async fn required_claims_are_required() {
    let w = world_edited(ROUTES, |text| {
        text.replace(
            "jwks_retry = \"50ms\"",
            "jwks_retry = \"50ms\"\nrequired_claims = [\"tenant\", \"acr\"]",
        )
    })
    .await;
    let both = token_for(
        &w.issuer,
        "",
        &[("tenant", json!("acme")), ("acr", json!("1"))],
    );
    assert_eq!(w.status("GET", "/me", Some(&both)).await, StatusCode::OK);
    let no_acr = token_for(&w.issuer, "", &[("tenant", json!("acme"))]);
    let answer = w.http.get(&w.gateway.url("/me"), Some(&no_acr), &[]).await;
    answer.assert_challenge_contains(StatusCode::UNAUTHORIZED, r#"error="invalid_token""#);
}

#[tokio::test]
async fn scope_arrays_only_when_allowed() {
    let array = |w: &World| token_for(&w.issuer, "", &[("scope", json!(["read"]))]);
    let w = world(ROUTES).await;
    let token = array(&w);
    assert_eq!(
        w.status("GET", "/items/1", Some(&token)).await,
        StatusCode::UNAUTHORIZED
    );
    let w = world_edited(ROUTES, |text| {
        text.replace(
            "jwks_retry = \"50ms\"",
            "jwks_retry = \"50ms\"\nallow_scope_array = true",
        )
    })
    .await;
    let token = array(&w);
    assert_eq!(
        w.status("GET", "/items/1", Some(&token)).await,
        StatusCode::OK
    );
    let writer = token_for(&w.issuer, "", &[("scope", json!(["write"]))]);
    assert_eq!(
        w.status("GET", "/items/1", Some(&writer)).await,
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn grpc_through_the_gateway() {
    let w = world(ROUTES).await;
    let ok = grpc_call(
        &w.gateway,
        "/echo.Echo/Say",
        Some(&token_for(&w.issuer, "read", &[])),
    )
    .await;
    assert_eq!(ok.status, StatusCode::OK);
    let trailers = ok.trailers.expect("trailers from the upstream");
    assert_eq!(trailers["grpc-status"], "0");
    assert_eq!(trailers["x-echo-len"], "8");
    assert_eq!(trailers["x-echo-version"], "HTTP/2.0");
    assert_eq!(&ok.body[..], b"\0\0\0\0\x03abc");

    let missing = grpc_call(&w.gateway, "/echo.Echo/Say", None).await;
    assert_eq!(missing.status, StatusCode::OK);
    assert_eq!(missing.header("grpc-status"), "16");
    assert!(missing.header("www-authenticate").starts_with("Bearer"));
    let bad = grpc_call(&w.gateway, "/echo.Echo/Say", Some("a.b.c")).await;
    assert_eq!(bad.header("grpc-status"), "16");
    let denied = grpc_call(
        &w.gateway,
        "/echo.Echo/Say",
        Some(&token_for(&w.issuer, "other", &[])),
    )
    .await;
    assert_eq!(denied.header("grpc-status"), "7");
    let unrouted = grpc_call(&w.gateway, "/other.Svc/Do", None).await;
    assert_eq!(unrouted.header("grpc-status"), "12");

    // The upstream saw gRPC over HTTP/2, and plain requests (even from an HTTP/2
    // client) over HTTP/1.1, in the default "auto" protocol.
    let plain = Http::http2()
        .get(&w.gateway.url("/public/x"), None, &[])
        .await;
    assert_eq!(plain.status, StatusCode::OK);
    assert_eq!(plain.json()["version"], "HTTP/1.1");
}

#[tokio::test]
async fn readiness_follows_the_issuer() {
    let issuer = es256_issuer().await;
    issuer.set_fault(Endpoint::Jwks, Fault::Status(503));
    let upstream = EchoUpstream::start().await;
    let gateway = Gateway::start(&config(&issuer, &upstream, ROUTES));
    let http = Http::http1();
    let token = token_for(&issuer, "read", &[]);

    let answer = http.get(&gateway.url("/readyz"), None, &[]).await;
    assert_eq!(answer.status, StatusCode::SERVICE_UNAVAILABLE);
    // Never a 401 for an outage.
    let answer = http.get(&gateway.url("/me"), Some(&token), &[]).await;
    assert_eq!(answer.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(!answer.header("retry-after").is_empty());
    let grpc = World {
        issuer,
        upstream,
        gateway,
        http,
    };
    let unavailable = grpc_call(&grpc.gateway, "/echo.Echo/Say", Some(&token)).await;
    assert_eq!(unavailable.header("grpc-status"), "14");
    // The anonymous route works meanwhile, and /healthz is up.
    assert_eq!(grpc.status("GET", "/public/x", None).await, StatusCode::OK);
    assert_eq!(grpc.status("GET", "/healthz", None).await, StatusCode::OK);

    grpc.issuer.clear_fault(Endpoint::Jwks);
    grpc.wait_ready().await;
    assert_eq!(
        grpc.status("GET", "/me", Some(&token)).await,
        StatusCode::OK
    );
    let metrics = grpc.get("/metrics").await;
    let text = String::from_utf8(metrics.body.to_vec()).unwrap();
    assert!(text.contains("portcullis_gateway_ready 1"));
    let failures = metric(
        &text,
        &format!(
            "portcullis_gateway_jwks_fetch_failures_total{{issuer=\"{}\"}}",
            grpc.issuer.url()
        ),
    );
    assert!(failures >= 1.0, "{text}");
}

fn metric(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(series))
        .map_or(0.0, |value| value.trim().parse().unwrap())
}

#[tokio::test]
async fn metrics_counters_move() {
    let w = world(ROUTES).await;
    let read = |text: &str, route: &str, decision: &str, reason: &str| {
        metric(
            text,
            &format!(
                "portcullis_gateway_requests_total{{route=\"{route}\",decision=\"{decision}\",reason=\"{reason}\"}}"
            ),
        )
    };
    let before = w.get("/metrics").await;
    let before = String::from_utf8(before.body.to_vec()).unwrap();
    let token = token_for(&w.issuer, "read", &[]);
    w.status("GET", "/items/1", Some(&token)).await;
    w.status("GET", "/items/2", Some(&token)).await;
    w.status("PUT", "/items/2", Some(&token)).await;
    w.status("GET", "/me", None).await;
    w.status("GET", "/nope", None).await;
    let after = w.get("/metrics").await;
    assert_eq!(
        after.header("content-type"),
        "text/plain; version=0.0.4; charset=utf-8"
    );
    let after = String::from_utf8(after.body.to_vec()).unwrap();
    let delta = |route, decision, reason| {
        read(&after, route, decision, reason) - read(&before, route, decision, reason)
    };
    assert_eq!(delta("items-read", "allow", "authorized"), 2.0, "{after}");
    assert_eq!(delta("items-write", "deny", "insufficient_scope"), 1.0);
    assert_eq!(delta("me", "deny", "missing_token"), 1.0);
    assert_eq!(delta("", "deny", "no_route"), 1.0);
    assert!(
        metric(
            &after,
            "portcullis_gateway_request_duration_seconds_count{route=\"items-read\"}"
        ) >= 2.0
    );
    let issuer = w.issuer.url();
    assert!(
        metric(
            &after,
            &format!("portcullis_gateway_jwks_fetches_total{{issuer=\"{issuer}\"}}")
        ) >= 1.0
    );
    // One token, three requests: verified once, then served from the token cache.
    let cache = |kind: &str| {
        metric(
            &after,
            &format!("portcullis_gateway_token_cache_{kind}_total{{issuer=\"{issuer}\"}}"),
        ) - metric(
            &before,
            &format!("portcullis_gateway_token_cache_{kind}_total{{issuer=\"{issuer}\"}}"),
        )
    };
    assert_eq!(cache("misses"), 1.0, "{after}");
    assert_eq!(cache("hits"), 2.0, "{after}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_in_flight_requests() {
    let mut w = world(ROUTES).await;
    let url = w.gateway.url("/hold");
    let in_flight = tokio::spawn(async move { Http::http1().get(&url, None, &[]).await });
    // The upstream has the request: it is in flight through the gateway.
    w.upstream.held().notified().await;
    w.gateway.terminate();
    let event = tokio::task::block_in_place(|| w.gateway.next_event());
    assert_eq!(event["event"], "draining");
    w.upstream.release();
    let answer = in_flight.await.unwrap();
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.json()["path"], "/hold");
    let event = tokio::task::block_in_place(|| w.gateway.next_event());
    assert_eq!(event["event"], "stopped");
    let status = tokio::task::block_in_place(|| w.gateway.child.wait()).unwrap();
    assert!(status.success());
}

fn check_config(text: &str) -> (bool, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    std::fs::write(&path, text).unwrap();
    let output = Command::new(binary())
        .arg("check-config")
        .arg(&path)
        .output()
        .unwrap();
    (
        output.status.success(),
        String::from_utf8(output.stderr).unwrap(),
    )
}

#[test]
fn config_errors_name_the_key_path() {
    let base = "[server]\nlisten = [\"127.0.0.1:0\"]\n[upstream]\nurl = \"http://127.0.0.1:1\"\n\
                [[issuers]]\nissuer = \"https://i.test\"\naudiences = [\"a\"]\njwks_uri = \"https://i.test/jwks\"\n";
    let cases = [
        (
            format!(
                "{base}[[routes]]\npath = \"/a\"\n[[routes]]\npath = \"/b\"\nscopes_all = [\"ok\", \"bad\\\"scope\"]\n"
            ),
            "routes[1].scopes_all[1]",
        ),
        (
            format!("{base}[[routes]]\npath = \"/a\"\nmethod = [\"GET\"]\n"),
            "routes[0].method",
        ),
        (
            format!("{base}[[routes]]\npath = \"a\"\n"),
            "routes[0].path",
        ),
        (
            format!(
                "{base}[[routes]]\npath = \"/a\"\nrequire = \"anonymous\"\nscopes_any = [\"x\"]\n"
            ),
            "routes[0].scopes_any",
        ),
        (
            format!("{base}[forward]\nclaims = {{ sub = \"authorization\" }}\n"),
            "forward.claims.sub",
        ),
        (
            base.replace("audiences = [\"a\"]", "audiences = []"),
            "issuers[0].audiences",
        ),
        (base.replace("127.0.0.1:0", "localhost"), "server.listen[0]"),
    ];
    for (text, path) in cases {
        let (ok, stderr) = check_config(&text);
        assert!(!ok, "{path} should be refused");
        assert!(stderr.contains("bad.toml: "), "{stderr}");
        assert!(
            stderr.contains(&format!(": {path}: ")),
            "expected {path} in {stderr}"
        );
    }
}

#[test]
fn a_bad_config_never_starts() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    std::fs::write(&path, "[server]\nlisten = [\"127.0.0.1:0\"]\n").unwrap();
    let output = Command::new(binary())
        .args(["run", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(
        output.stdout.is_empty(),
        "nothing was announced as listening"
    );
    assert!(String::from_utf8_lossy(&output.stderr).contains("upstream"));
}

#[test]
fn the_example_config_checks() {
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/gateway.toml");
    // check-config reads client secrets as run would: the example's must be there.
    let output = Command::new(binary())
        .arg("check-config")
        .arg(example)
        .env("ORDERS_GATEWAY_CLIENT_SECRET", "example-secret")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[tokio::test]
async fn protected_resource_metadata() {
    let extra = format!("{ROUTES}\n[protected_resource]\nresource = \"https://api.test/v1\"\n");
    let w = world(&extra).await;
    let answer = w.get("/.well-known/oauth-protected-resource/v1").await;
    assert_eq!(answer.status, StatusCode::OK);
    let document = answer.json();
    assert_eq!(document["resource"], "https://api.test/v1");
    assert_eq!(document["authorization_servers"], json!([w.issuer.url()]));
    assert_eq!(
        document["scopes_supported"],
        json!(["admin", "auditor", "read", "write"])
    );
    assert_eq!(answer.header("content-type"), "application/json");
    // The library's document: cacheable, like a service using the library serves it.
    assert_eq!(answer.header("cache-control"), "max-age=300");
    let missing = w.get("/me").await;
    assert_eq!(
        missing.header("www-authenticate"),
        "Bearer realm=\"test\", resource_metadata=\"https://api.test/.well-known/oauth-protected-resource/v1\""
    );
}

#[tokio::test]
async fn protected_resource_metadata_omits_empty_members() {
    // No route requires a scope, and no authorization server is named: RFC 9728 §2
    // members are OPTIONAL, so they are left out rather than sent empty.
    let extra = "[[routes]]\npath = \"/me\"\n\
                 [protected_resource]\nresource = \"https://api.test\"\nauthorization_servers = []\n";
    let w = world(extra).await;
    let answer = w.get("/.well-known/oauth-protected-resource").await;
    assert_eq!(answer.status, StatusCode::OK);
    let document = answer.json();
    assert_eq!(
        document,
        json!({"resource": "https://api.test", "bearer_methods_supported": ["header"]})
    );
}

#[tokio::test]
async fn discovery_and_key_rotation() {
    let issuer = TestIssuer::start().await;
    let upstream = EchoUpstream::start().await;
    let config = format!(
        "{}[[issuers]]\nissuer = \"{}\"\naudiences = [\"{AUDIENCE}\"]\ndiscovery = true\n\
         {ME_FORWARDING_ISSUER}",
        serving(&upstream),
        issuer.url()
    );
    let gateway = Gateway::start(&config);
    let w = World::ready(issuer, upstream, gateway).await;
    let issuer = &w.issuer;
    let answer = w
        .http
        .get(&w.gateway.url("/me"), Some(&issuer.mint_now(AUDIENCE)), &[])
        .await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.json()["headers"]["x-auth-issuer"], issuer.url());
    // A rotation: the first token with the new kid refetches and passes.
    issuer.rotate();
    let token = issuer.mint_now(AUDIENCE);
    assert_eq!(w.status("GET", "/me", Some(&token)).await, StatusCode::OK);
    let metrics = w.get("/metrics").await;
    let text = String::from_utf8(metrics.body.to_vec()).unwrap();
    let series = format!(
        "portcullis_gateway_jwks_unknown_kid_refetches_total{{issuer=\"{}\"}}",
        issuer.url()
    );
    assert_eq!(metric(&text, &series), 1.0, "{text}");
}

fn introspection_config(issuer: &TestIssuer, upstream: &EchoUpstream) -> String {
    format!(
        r#"{serving}
[[issuers]]
issuer = "{url}"
audiences = ["{AUDIENCE}"]
discovery = true
[issuers.introspection]
endpoint = "{introspect}"
client_id = "{client_id}"
client_secret_env = "GATEWAY_TEST_INTROSPECTION_SECRET"
cache = false
[[routes]]
path = "/read"
scopes_all = ["read"]
[forward]
claims = {{ sub = "x-auth-subject", scope = "x-auth-scope" }}
"#,
        serving = serving(upstream),
        url = issuer.url(),
        introspect = issuer.introspection_url(),
        client_id = portcullis_testkit::INTROSPECTION_CLIENT_ID,
    )
}

/// A gateway whose issuer introspects through its `TestIssuer` (its configuration first
/// passed through `edit`).
async fn introspecting_world(edit: impl FnOnce(String) -> String) -> World {
    let issuer = TestIssuer::start().await;
    let upstream = EchoUpstream::start().await;
    let gateway = Gateway::start_with_env(
        &edit(introspection_config(&issuer, &upstream)),
        &[(
            "GATEWAY_TEST_INTROSPECTION_SECRET",
            portcullis_testkit::INTROSPECTION_CLIENT_SECRET,
        )],
    );
    World::ready(issuer, upstream, gateway).await
}

#[tokio::test]
async fn opaque_tokens_through_introspection() {
    let w = introspecting_world(|text| text).await;
    let issuer = &w.issuer;
    let opaque = issuer.mint_opaque(AUDIENCE, unix_now(), "read");
    let answer = w
        .http
        .get(&w.gateway.url("/read"), Some(&opaque), &[])
        .await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.json()["headers"]["x-auth-subject"], "test-subject");
    assert_eq!(answer.json()["headers"]["x-auth-scope"], "read");
    // JWTs of the same issuer still go to its keys (hybrid).
    assert_eq!(
        w.status(
            "GET",
            "/read",
            Some(&issuer.mint_with(AUDIENCE, unix_now(), |t| t.claim("scope", "read")))
        )
        .await,
        StatusCode::OK
    );
    let writer_only = issuer.mint_opaque(AUDIENCE, unix_now(), "write");
    assert_eq!(
        w.status("GET", "/read", Some(&writer_only)).await,
        StatusCode::FORBIDDEN
    );
    let foreign = issuer.mint_opaque("https://other.test", unix_now(), "read");
    assert_eq!(
        w.status("GET", "/read", Some(&foreign)).await,
        StatusCode::UNAUTHORIZED
    );
    // With the cache off, revocation takes effect at once.
    issuer.revoke(&opaque);
    assert_eq!(
        w.status("GET", "/read", Some(&opaque)).await,
        StatusCode::UNAUTHORIZED
    );
    let metrics = w.get("/metrics").await;
    let text = String::from_utf8(metrics.body.to_vec()).unwrap();
    let series = format!(
        "portcullis_gateway_introspections_total{{issuer=\"{}\"}}",
        issuer.url()
    );
    assert!(metric(&text, &series) >= 4.0, "{text}");
}

#[tokio::test]
async fn expired_introspection_cache_entries_are_counted() {
    let w = introspecting_world(|text| text.replace("cache = false", "cache_ttl = \"1ms\"")).await;
    let issuer = &w.issuer;
    let opaque = issuer.mint_opaque(AUDIENCE, unix_now(), "read");
    let series = |kind: &str| {
        format!(
            "portcullis_gateway_introspection_cache_{kind}_total{{issuer=\"{}\"}}",
            issuer.url()
        )
    };
    // Each request after the first finds the entry its predecessor stored, expired after
    // a millisecond: the expired count must move (a deadline, not a sleep, bounds it).
    let deadline = Instant::now() + Duration::from_secs(10);
    let text = loop {
        assert_eq!(
            w.status("GET", "/read", Some(&opaque)).await,
            StatusCode::OK
        );
        let metrics = w.get("/metrics").await;
        let text = String::from_utf8(metrics.body.to_vec()).unwrap();
        if metric(&text, &series("expired")) >= 1.0 {
            break text;
        }
        assert!(
            Instant::now() < deadline,
            "no expired lookup counted:\n{text}"
        );
    };
    assert!(text.contains("# TYPE portcullis_gateway_introspection_cache_expired_total counter"));
    assert!(text.contains("# TYPE portcullis_gateway_token_cache_expired_total counter"));
}

#[test]
fn a_missing_client_secret_stops_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gateway.toml");
    let config = "[server]\nlisten = [\"127.0.0.1:0\"]\n[upstream]\nurl = \"http://127.0.0.1:1\"\n\
        [[issuers]]\nissuer = \"https://as.test\"\naudiences = [\"a\"]\n\
        [issuers.introspection]\nendpoint = \"https://as.test/introspect\"\nclient_id = \"c\"\n\
        client_secret_env = \"GATEWAY_TEST_UNSET_SECRET\"\n";
    std::fs::write(&path, config).unwrap();
    let output = Command::new(binary())
        .args(["run", "--config"])
        .arg(&path)
        .env_remove("GATEWAY_TEST_UNSET_SECRET")
        .output()
        .unwrap();
    // A configuration error like any other: exit 2, the key path named, and
    // check-config says so first.
    assert_eq!(output.status.code(), Some(2));
    assert!(output.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("GATEWAY_TEST_UNSET_SECRET"), "{stderr}");
    assert!(
        stderr.contains("issuers[0].introspection.client_secret_env: "),
        "{stderr}"
    );
    let checked = Command::new(binary())
        .arg("check-config")
        .arg(&path)
        .env_remove("GATEWAY_TEST_UNSET_SECRET")
        .output()
        .unwrap();
    assert_eq!(checked.status.code(), Some(2));
    let refusal = String::from_utf8_lossy(&checked.stderr);
    assert!(refusal.starts_with("error: "), "{refusal}");
    assert!(stderr.contains(refusal.as_ref()), "{refusal} vs {stderr}");
}

#[tokio::test]
async fn upstream_failures_and_timeouts() {
    let w = world_edited(ROUTES, |text| {
        text.replace("request_timeout = \"20s\"", "request_timeout = \"300ms\"")
    })
    .await;
    // The upstream holds /hold past the gateway's request timeout: 504.
    assert_eq!(
        w.status("GET", "/hold", None).await,
        StatusCode::GATEWAY_TIMEOUT
    );
    w.upstream.release();

    // An upstream nobody listens on: 502 (and UNAVAILABLE for gRPC).
    let dead = es256_issuer().await;
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let text = config(&dead, &w.upstream, ROUTES)
        .replace(&w.upstream.addr().to_string(), &closed.to_string());
    let gateway = Gateway::start(&text);
    let answer = Http::http1()
        .get(&gateway.url("/public/x"), None, &[])
        .await;
    assert_eq!(answer.status, StatusCode::BAD_GATEWAY);
    let grpc = grpc_call(
        &gateway,
        "/echo.Echo/Say",
        Some(&token_for(&dead, "read", &[])),
    )
    .await;
    assert_eq!(grpc.status, StatusCode::OK);
    assert_eq!(grpc.header("grpc-status"), "14");
}

#[tokio::test]
async fn several_issuers_each_with_their_keys() {
    let first = es256_issuer().await;
    let second = es256_issuer().await;
    let stranger = es256_issuer().await;
    let upstream = EchoUpstream::start().await;
    let with_jwks = |issuer: &TestIssuer| {
        format!(
            "[[issuers]]\nissuer = \"{}\"\naudiences = [\"{AUDIENCE}\"]\njwks_uri = \"{}\"\n",
            issuer.url(),
            issuer.jwks_url()
        )
    };
    let text = format!(
        "{}{}{}{ME_FORWARDING_ISSUER}",
        serving(&upstream),
        with_jwks(&first),
        with_jwks(&second)
    );
    let w = World::ready(stranger, upstream, Gateway::start(&text)).await;
    for issuer in [&first, &second] {
        let answer = w
            .http
            .get(
                &w.gateway.url("/me"),
                Some(&token_for(issuer, "", &[])),
                &[],
            )
            .await;
        assert_eq!(answer.status, StatusCode::OK);
        assert_eq!(answer.json()["headers"]["x-auth-issuer"], issuer.url());
    }
    // A token from an issuer that is not configured, and one claiming the first issuer
    // but signed with the second's key.
    assert_eq!(
        w.status("GET", "/me", Some(&token_for(&w.issuer, "", &[])))
            .await,
        StatusCode::UNAUTHORIZED
    );
    let forged = second
        .signing_key()
        .token()
        .standard_claims(&first.url(), AUDIENCE, unix_now())
        .sign();
    assert_eq!(
        w.status("GET", "/me", Some(&forged)).await,
        StatusCode::UNAUTHORIZED
    );
    let fetches = || first.requests(Endpoint::Jwks) + second.requests(Endpoint::Jwks);
    let before = fetches();
    w.status("GET", "/me", Some(&token_for(&w.issuer, "", &[])))
        .await;
    assert_eq!(fetches(), before, "an unknown issuer costs no fetch");
}

#[tokio::test]
async fn operations_on_their_own_listener() {
    let issuer = es256_issuer().await;
    let upstream = EchoUpstream::start().await;
    let text = config(&issuer, &upstream, ROUTES).replace(
        "[limits]",
        "[operations]\nlisten = \"127.0.0.1:0\"\n\n[limits]",
    );
    let gateway = Gateway::start(&text);
    let operations = gateway.operations.expect("an operations address");
    let http = Http::http1();
    let deadline = Instant::now() + Duration::from_secs(20);
    while http
        .get(&format!("http://{operations}/readyz"), None, &[])
        .await
        .status
        != StatusCode::OK
    {
        assert!(Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let metrics = http
        .get(&format!("http://{operations}/metrics"), None, &[])
        .await;
    assert_eq!(metrics.status, StatusCode::OK);
    // The main listener no longer serves them: they are routed (here: no route).
    assert_eq!(
        http.get(&gateway.url("/metrics"), None, &[]).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        http.get(&gateway.url("/healthz"), None, &[]).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        http.get(&format!("http://{operations}/public/x"), None, &[])
            .await
            .status,
        StatusCode::NOT_FOUND
    );
}

/// The gateway binary logging at info to a piped stderr, for the tests that read its
/// logs; `options` adds global options or environment.
fn logging(config: &str, options: impl FnOnce(&mut Command) -> &mut Command) -> Gateway {
    Gateway::start_with(config, |command| {
        options(command.env("RUST_LOG", "info").stderr(Stdio::piped()))
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_on_stderr() {
    let issuer = es256_issuer().await;
    let upstream = EchoUpstream::start().await;
    let mut gateway = logging(&config(&issuer, &upstream, ROUTES), |command| {
        command.args(["--log-format", "json"])
    });
    let addr = gateway.addr;
    // A refused request logs at info.
    let answer = Http::http1()
        .get(&format!("http://{addr}/nowhere"), None, &[])
        .await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND);
    let stderr = tokio::task::block_in_place(|| gateway.stop_for_stderr());
    let lines: Vec<serde_json::Value> = stderr
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|_| panic!("not JSON: {l}")))
        .collect();
    assert!(
        lines
            .iter()
            .any(|l| l["fields"]["reason"] == "no_route" && l["level"] == "INFO"),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_logs_are_plain_and_the_access_log_names_the_caller() {
    let issuer = es256_issuer().await;
    let upstream = EchoUpstream::start().await;
    let extra = format!("{ROUTES}\n[log]\naccess = true\n");
    let mut gateway = logging(&config(&issuer, &upstream, &extra), |command| {
        command.env_remove("NO_COLOR")
    });
    let addr = gateway.addr;
    let http = Http::http1();
    let reader = token_for(&issuer, "read", &[("client_id", json!("reader-app"))]);
    let url = |path: &str| format!("http://{addr}{path}");
    let deadline = Instant::now() + Duration::from_secs(20);
    while http.get(&url("/readyz"), None, &[]).await.status != StatusCode::OK {
        assert!(Instant::now() < deadline, "never ready");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let allowed = http
        .get(&url("/items/7?secret=q"), Some(&reader), &[])
        .await;
    assert_eq!(allowed.status, StatusCode::OK);
    let denied = http.call("PUT", &url("/items/7"), Some(&reader), &[]).await;
    assert_eq!(denied.status, StatusCode::FORBIDDEN);
    assert_eq!(
        http.get(&url("/me"), None, &[]).await.status,
        StatusCode::UNAUTHORIZED
    );
    let stderr = tokio::task::block_in_place(|| gateway.stop_for_stderr());
    assert!(
        !stderr.contains('\u{1b}'),
        "colour codes in a pipe:\n{stderr:?}"
    );
    assert!(!stderr.contains(&reader), "the token was logged:\n{stderr}");
    assert!(
        !stderr.contains("secret=q"),
        "the query was logged:\n{stderr}"
    );
    let access: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("portcullis_gateway::access"))
        .collect();
    assert_eq!(access.len(), 3, "{stderr}"); // /readyz polls are operations, not logged
    let find = |needle: &str| {
        access
            .iter()
            .find(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("no access line with {needle}:\n{stderr}"))
    };
    let ok = find("status=200");
    let issuer_field = format!("issuer=\"{}\"", issuer.url());
    for field in [
        "route=\"items-read\"",
        "decision=\"allow\"",
        "reason=\"authorized\"",
        &issuer_field,
        "subject=\"test-subject\"",
        "client_id=\"reader-app\"",
        "path=\"/items/7\"",
    ] {
        assert!(ok.contains(field), "{field} missing in {ok}");
    }
    let forbidden = find("status=403");
    for field in [
        "reason=\"insufficient_scope\"",
        "decision=\"deny\"",
        "subject=\"test-subject\"",
    ] {
        assert!(forbidden.contains(field), "{field} missing in {forbidden}");
    }
    let missing = find("status=401");
    assert!(missing.contains("subject=\"\""), "{missing}");
}
