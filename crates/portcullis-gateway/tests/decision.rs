//! The decision service: the same routes and layers as the proxy, answering a proxy
//! in front (nginx `auth_request`, Traefik/Caddy forward auth, Envoy HTTP ext_authz)
//! with 200 and the claim headers, or the library's refusal, never a 2xx for one.

#![allow(clippy::unwrap_used)]

mod common;

use common::{AUDIENCE, Gateway, Http, ROUTES, World, es256_issuer, refused, token_for};
use http::StatusCode;
use portcullis_testkit::fixture::unix_now;
use portcullis_testkit::{SigningAlgorithm, SigningKey, access_token_hash};

/// A gateway with a decision listener configured by `decision`, and the decision routes.
async fn world(decision: &str) -> World {
    World::start(&format!(
        "[decision]\nlisten = [\"127.0.0.1:0\"]\n{decision}\n{ROUTES}"
    ))
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn forwarded_decisions_follow_the_route_table() {
    let w = world("source = \"forwarded\"").await;
    let http = Http::http1();
    let read = token_for(&w.issuer, "read", &[]);
    let url = w.gateway.decision_url("/");
    let ask = |method: &'static str, uri: &'static str| {
        [
            ("x-forwarded-method", method),
            ("x-forwarded-uri", uri),
            ("x-forwarded-host", "api.example"),
        ]
    };
    let allowed = http
        .get(&url, Some(&read), &ask("GET", "/items/7?full=1"))
        .await;
    assert_eq!(allowed.status, StatusCode::OK);
    assert_eq!(allowed.header("x-auth-subject"), "test-subject");

    let denied = http.get(&url, Some(&read), &ask("PUT", "/items/7")).await;
    denied.assert_challenge_starts(
        StatusCode::FORBIDDEN,
        r#"Bearer realm="test", error="insufficient_scope""#,
    );

    let missing = http.get(&url, None, &ask("GET", "/items/7")).await;
    assert_eq!(missing.status, StatusCode::UNAUTHORIZED);
    assert_eq!(missing.header("www-authenticate"), r#"Bearer realm="test""#);

    let public = http.get(&url, None, &ask("GET", "/public/x")).await;
    assert_eq!(public.status, StatusCode::OK);
    assert_eq!(public.header("x-auth-subject"), "");

    // Unmatched: denied, and as 403 (a proxy in front reads other codes as its error).
    let unmatched = http.get(&url, Some(&read), &ask("GET", "/admin")).await;
    assert_eq!(unmatched.status, StatusCode::FORBIDDEN);

    // Ambiguous or encoded paths are refused as the proxy refuses them.
    let dotted = http
        .get(&url, Some(&read), &ask("GET", "/items/../admin"))
        .await;
    assert_eq!(dotted.status, StatusCode::BAD_REQUEST);

    // No original method: nothing to decide on.
    let bare = http.get(&url, Some(&read), &[]).await;
    assert_eq!(bare.status, StatusCode::BAD_REQUEST);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_grpc_refusal_is_never_a_2xx() {
    let w = world("source = \"forwarded\"").await;
    let http = Http::http1();
    let answer = http
        .get(
            &w.gateway.decision_url("/"),
            None,
            &[
                ("x-forwarded-method", "POST"),
                ("x-forwarded-uri", "/items/7"),
                ("content-type", "application/grpc"),
            ],
        )
        .await;
    assert!(!answer.status.is_success(), "{}", answer.status);
}

#[tokio::test(flavor = "multi_thread")]
async fn nginx_headers_and_request_lines_say_the_original_too() {
    let w = world("source = \"original\"\nmethod_header = \"x-original-method\"").await;
    let http = Http::http1();
    let read = token_for(&w.issuer, "read", &[]);
    let ok = http
        .get(
            &w.gateway.decision_url("/auth"),
            Some(&read),
            &[("x-original-method", "GET"), ("x-original-uri", "/items/1")],
        )
        .await;
    assert_eq!(ok.status, StatusCode::OK);

    let w = world("source = \"request-line\"\npath_prefix = \"/authz\"").await;
    let read = token_for(&w.issuer, "read", &[]);
    assert_eq!(
        http.get(&w.gateway.decision_url("/authz/items/1"), Some(&read), &[])
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        http.get(
            &w.gateway.decision_url("/elsewhere/items/1"),
            Some(&read),
            &[]
        )
        .await
        .status,
        StatusCode::BAD_REQUEST
    );
}

#[test]
fn the_decision_port_stays_on_loopback_unless_told() {
    let (path, message) =
        refused("[decision]\nlisten = [\"0.0.0.0:9191\"]\nsource = \"forwarded\"\n");
    assert_eq!(path, "decision.listen[0]");
    assert!(message.contains("allow_non_loopback"), "{message}");
    assert_eq!(
        refused(
            "[decision]\nlisten = [\"127.0.0.1:0\"]\nsource = \"forwarded\"\npath_prefix = \"/a\"\n"
        )
        .0,
        "decision.path_prefix"
    );
    assert_eq!(
        refused("[decision]\nlisten = [\"127.0.0.1:0\"]\nsource = \"sideways\"\n").0,
        "decision.source"
    );
    // The gRPC listener (Envoy ext_authz) is held to the same rule.
    let (path, message) = refused("[decision]\ngrpc_listen = [\"127.0.0.1:1\", \"[::]:9192\"]\n");
    assert_eq!(path, "decision.grpc_listen[1]");
    assert!(message.contains("allow_non_loopback"), "{message}");
}

#[test]
fn a_decision_section_listens_somewhere_and_each_key_has_its_listener() {
    let (path, message) = refused("[decision]\n");
    assert_eq!(path, "decision");
    assert!(message.contains("grpc_listen"), "{message}");
    assert_eq!(
        refused("[decision]\nlisten = [\"127.0.0.1:0\"]\n").0,
        "decision.source"
    );
    for (key, value) in [
        ("source", "\"forwarded\""),
        ("path_prefix", "\"/authz\""),
        ("uri_header", "\"x-uri\""),
    ] {
        assert_eq!(
            refused(&format!(
                "[decision]\ngrpc_listen = [\"127.0.0.1:0\"]\n{key} = {value}\n"
            ))
            .0,
            format!("decision.{key}")
        );
    }
}

/// A decision-only configuration: no `[upstream]`, no proxy listener, both decision
/// front doors, the standard routes.
fn decision_only(issuer: &portcullis_testkit::TestIssuer) -> String {
    format!(
        "[server]\nrealm = \"test\"\n\n\
         [decision]\nlisten = [\"127.0.0.1:0\"]\ngrpc_listen = [\"127.0.0.1:0\"]\n\
         source = \"forwarded\"\n\n\
         [[issuers]]\nissuer = \"{}\"\naudiences = [\"{AUDIENCE}\"]\njwks_uri = \"{}\"\n\
         algorithms = [\"ES256\"]\n{ROUTES}",
        issuer.url(),
        issuer.jwks_url()
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn a_decision_only_gateway_checks_and_runs_without_an_upstream() {
    let issuer = es256_issuer().await;
    let config = decision_only(&issuer);

    // check-config accepts what run starts, and says what listens.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gateway.toml");
    std::fs::write(&path, &config).unwrap();
    let checked = std::process::Command::new(common::binary())
        .arg("check-config")
        .arg(&path)
        .output()
        .unwrap();
    assert!(checked.status.success(), "{checked:?}");
    let said = String::from_utf8_lossy(&checked.stdout);
    assert!(
        said.contains("ok (0 listeners, 2 decision listeners"),
        "{said}"
    );

    let gateway = Gateway::start(&config);
    assert!(gateway.decision_grpc.is_some());
    let read = token_for(&issuer, "read", &[]);
    let allowed = Http::http1()
        .get(
            &gateway.decision_url("/"),
            Some(&read),
            &[
                ("x-forwarded-method", "GET"),
                ("x-forwarded-uri", "/items/7"),
            ],
        )
        .await;
    assert_eq!(allowed.status, StatusCode::OK);
    assert_eq!(allowed.header("x-auth-subject"), "test-subject");
}

#[test]
fn a_gateway_proxies_decides_or_both() {
    let refused = |text: &str| {
        let error = portcullis_gateway::Config::from_toml(text, "gateway.toml").unwrap_err();
        (error.path().to_owned(), error.message().to_owned())
    };
    let decision = "[decision]\ngrpc_listen = [\"127.0.0.1:0\"]\n";
    let (path, message) = refused("[server]\nrealm = \"x\"\n");
    assert_eq!(path, "upstream");
    assert!(message.contains("[decision]"), "{message}");
    // A proxy listener with nothing to proxy to, and an upstream with no listener.
    assert_eq!(
        refused(&format!("[server]\nlisten = [\"127.0.0.1:0\"]\n{decision}")).0,
        "server.listen"
    );
    assert_eq!(
        refused("[upstream]\nurl = \"http://127.0.0.1:9\"\n").0,
        "server.listen"
    );
    assert!(portcullis_gateway::Config::from_toml(decision, "gateway.toml").is_ok());
}

#[tokio::test(flavor = "multi_thread")]
async fn envoy_over_http_is_told_which_inbound_headers_to_remove() {
    let w = world("source = \"request-line\"\npath_prefix = \"/authz\"").await;
    let http = Http::http1();
    let read = token_for(&w.issuer, "read", &[]);
    let allowed = http
        .get(
            &w.gateway.decision_url("/authz/items/1"),
            Some(&read),
            &[("x-auth-subject", "admin"), ("x_auth_subject", "admin")],
        )
        .await;
    assert_eq!(allowed.status, StatusCode::OK);
    assert_eq!(allowed.header("x-auth-subject"), "test-subject");
    // The look-alike and the token go; the header being set is not named.
    let mut removed: Vec<&str> = allowed
        .header("x-envoy-auth-headers-to-remove")
        .split(", ")
        .collect();
    removed.sort_unstable();
    assert_eq!(removed, ["authorization", "x_auth_subject"]);

    // The other sources' proxies have settings of their own: nothing is named.
    let w = world("source = \"forwarded\"").await;
    let read = token_for(&w.issuer, "read", &[]);
    let allowed = http
        .get(
            &w.gateway.decision_url("/"),
            Some(&read),
            &[
                ("x-forwarded-method", "GET"),
                ("x-forwarded-uri", "/items/1"),
                ("x_auth_subject", "admin"),
            ],
        )
        .await;
    assert_eq!(allowed.status, StatusCode::OK);
    assert_eq!(allowed.header("x-envoy-auth-headers-to-remove"), "");
}

/// The origin clients address (through the proxy in front); proofs name it.
const ORIGIN: &str = "https://api.test";

#[tokio::test(flavor = "multi_thread")]
async fn dpop_over_http_decisions_is_checked_as_in_the_proxy() {
    use base64::Engine as _;
    let w = world(&format!(
        "source = \"forwarded\"\n\n[dpop]\norigin = \"{ORIGIN}\"\n\n\
         [[routes]]\nname = \"orders\"\npath_prefix = \"/orders\"\n"
    ))
    .await;
    let client = SigningKey::generate(SigningAlgorithm::ES256);
    let jkt = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(
        portcullis_jwt::Key::from_jwk(&client.public_jwk())
            .unwrap()
            .thumbprint(),
    );
    let token = w.issuer.mint_with(AUDIENCE, unix_now(), |token| {
        token.claim("cnf", serde_json::json!({ "jkt": jkt }))
    });
    let proof = client
        .dpop_proof("GET", &format!("{ORIGIN}/orders/7"), unix_now())
        .claim("ath", access_token_hash(&token))
        .sign();
    let dpop = format!("DPoP {token}");
    let headers = [
        ("x-forwarded-method", "GET"),
        ("x-forwarded-uri", "/orders/7?page=2"),
        ("authorization", dpop.as_str()),
        ("dpop", proof.as_str()),
    ];
    let http = Http::http1();
    let url = w.gateway.decision_url("/");
    assert_eq!(http.get(&url, None, &headers).await.status, StatusCode::OK);
    http.get(&url, None, &headers)
        .await
        .assert_challenge_starts(
            StatusCode::UNAUTHORIZED,
            r#"DPoP realm="test", error="invalid_dpop_proof""#,
        );
    // Bound to a key: as a bearer token it is refused.
    let bearer = http
        .get(
            &url,
            Some(&token),
            &[
                ("x-forwarded-method", "GET"),
                ("x-forwarded-uri", "/orders/7"),
            ],
        )
        .await;
    assert_eq!(bearer.status, StatusCode::UNAUTHORIZED);
}

/// The proxy in front opens the WebSocket when the decision allows the handshake: a
/// route that does not allow the protocol (`upgrades`) refuses it, as 403 (a proxy in
/// front reads other codes as its own error), rather than letting the front proxy
/// switch where the gateway's own proxy never would.
#[tokio::test(flavor = "multi_thread")]
async fn an_upgrade_the_route_does_not_allow_is_refused() {
    let w = world("source = \"forwarded\"").await;
    let http = Http::http1();
    let read = token_for(&w.issuer, "read", &[]);
    let url = w.gateway.decision_url("/");
    let original = [
        ("x-forwarded-method", "GET"),
        ("x-forwarded-uri", "/items/7"),
        ("x-forwarded-host", "api.example"),
    ];
    let plain = http.get(&url, Some(&read), &original).await;
    assert_eq!(plain.status, StatusCode::OK);
    let mut upgrade = original.to_vec();
    upgrade.push(("upgrade", "websocket"));
    let refused = http.get(&url, Some(&read), &upgrade).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(refused.header("x-auth-subject"), "");
    // Authentication first, as the proxy: no token is still a 401.
    let anonymous = http.get(&url, None, &upgrade).await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
}
