//! Step-up (RFC 9470) in the gateway: a route's `acr_values` and `max_age` are checked
//! as read, at their key paths, and a running gateway refuses a token from a weaker or
//! older authentication with 401 `insufficient_user_authentication` and the challenge
//! parameters, lets the right one through, and counts the refusals.

#![allow(clippy::unwrap_used)]

mod common;

use common::{Http, World, token_for};
use http::StatusCode;
use portcullis_gateway::Config;
use portcullis_testkit::fixture::unix_now;
use serde_json::json;

const BASE: &str = r#"
[server]
listen = ["127.0.0.1:0"]
[upstream]
url = "http://127.0.0.1:9"
[[issuers]]
issuer = "https://issuer.test"
audiences = ["https://api.test"]
jwks_uri = "https://issuer.test/jwks"
"#;

/// The key path and message at which one route with `keys` is refused.
fn refused(keys: &str) -> (String, String) {
    let text = format!("{BASE}[[routes]]\npath = \"/a\"\n{keys}\n");
    let error = Config::from_toml(&text, "gateway.toml").unwrap_err();
    (error.path().to_owned(), error.message().to_owned())
}

fn accepted(keys: &str) -> bool {
    Config::from_toml(
        &format!("{BASE}[[routes]]\npath = \"/a\"\n{keys}\n"),
        "gateway.toml",
    )
    .is_ok()
}

#[test]
fn step_up_keys_are_checked_at_their_key_paths() {
    assert!(accepted(
        "acr_values = [\"urn:example:mfa\", \"phr\"]\nmax_age = \"5m\""
    ));
    assert!(accepted("max_age = \"0s\""));
    let long = "a".repeat(257);
    for (keys, path) in [
        ("acr_values = []", "routes[0].acr_values"),
        (
            "acr_values = [\"mfa\", \"two words\"]",
            "routes[0].acr_values[1]",
        ),
        ("acr_values = [\"\"]", "routes[0].acr_values[0]"),
        ("acr_values = [\"caf\u{e9}\"]", "routes[0].acr_values[0]"),
        ("acr_values = [\"a\\\"b\"]", "routes[0].acr_values[0]"),
        (
            &format!("acr_values = [\"{long}\"]"),
            "routes[0].acr_values[0]",
        ),
        ("acr_values = \"mfa\"", "routes[0].acr_values"),
        ("max_age = \"1500ms\"", "routes[0].max_age"),
        ("max_age = \"soon\"", "routes[0].max_age"),
        ("max_age = 300", "routes[0].max_age"),
        (
            "require = \"anonymous\"\nacr_values = [\"mfa\"]",
            "routes[0].acr_values",
        ),
        (
            "require = \"anonymous\"\nmax_age = \"5m\"",
            "routes[0].max_age",
        ),
    ] {
        assert_eq!(refused(keys).0, path, "{keys}");
    }
    // The library's reason, not a paraphrase.
    assert!(
        refused("max_age = \"1500ms\"")
            .1
            .contains("whole number of seconds"),
        "{:?}",
        refused("max_age = \"1500ms\"")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_running_gateway_asks_for_a_step_up() {
    let World {
        gateway,
        issuer,
        upstream: _upstream,
    } = World::start(
        "[operations]\nlisten = \"127.0.0.1:0\"\n\n\
         [[routes]]\nname = \"transfers\"\npath_prefix = \"/transfers\"\n\
         scopes_all = [\"transfer\"]\nacr_values = [\"urn:example:mfa\", \"urn:example:hwk\"]\n\n\
         [[routes]]\nname = \"settings\"\npath_prefix = \"/settings\"\nmax_age = \"5m\"\n",
    )
    .await;
    let http = Http::http1();
    let transfers = gateway.url("/transfers/1");

    let mfa = token_for(&issuer, "transfer", &[("acr", json!("urn:example:mfa"))]);
    let ok = http.get(&transfers, Some(&mfa), &[]).await;
    assert_eq!(ok.status, StatusCode::OK);
    assert_eq!(ok.json()["path"], "/transfers/1");

    let acr_challenge = r#"Bearer realm="test", error="insufficient_user_authentication", error_description="a different authentication level is required", acr_values="urn:example:mfa urn:example:hwk""#;
    for weak in [
        token_for(&issuer, "transfer", &[("acr", json!("urn:example:pwd"))]),
        token_for(&issuer, "transfer", &[]),
    ] {
        let refused = http.get(&transfers, Some(&weak), &[]).await;
        assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
        let challenges: Vec<_> = refused.headers.get_all("www-authenticate").iter().collect();
        assert_eq!(challenges, [acr_challenge]);
    }
    // Step-up before scopes: a weak token without the scope is still told to step up.
    let weak_unscoped = token_for(&issuer, "read", &[("acr", json!("urn:example:pwd"))]);
    let refused = http.get(&transfers, Some(&weak_unscoped), &[]).await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    assert_eq!(refused.header("www-authenticate"), acr_challenge);
    // The right acr without the scope: 403.
    let strong_unscoped = token_for(&issuer, "read", &[("acr", json!("urn:example:hwk"))]);
    let refused = http.get(&transfers, Some(&strong_unscoped), &[]).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);

    // gRPC callers get 16 and the same challenge.
    let grpc = Http::http2()
        .call(
            "POST",
            &gateway.url("/transfers/echo.Echo/Say"),
            Some(&weak_unscoped),
            &[("content-type", "application/grpc")],
        )
        .await;
    assert_eq!(grpc.status, StatusCode::OK);
    assert_eq!(grpc.header("grpc-status"), "16");
    assert_eq!(grpc.header("www-authenticate"), acr_challenge);

    // max_age: against the gateway's own clock, so a margin far from the boundary.
    let settings = gateway.url("/settings");
    let now = unix_now();
    let fresh = token_for(&issuer, "", &[("auth_time", json!(now - 10))]);
    assert_eq!(
        http.get(&settings, Some(&fresh), &[]).await.status,
        StatusCode::OK
    );
    let stale = token_for(&issuer, "", &[("auth_time", json!(now - 3600))]);
    let refused = http.get(&settings, Some(&stale), &[]).await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        refused.header("www-authenticate"),
        r#"Bearer realm="test", error="insufficient_user_authentication", error_description="a more recent authentication is required", max_age="300""#
    );

    let metrics = gateway.metrics(&http).await;
    let count = |route: &str| {
        metrics
            .lines()
            .find(|l| {
                l.starts_with("portcullis_gateway_requests_total{")
                    && l.contains(&format!(r#"route="{route}""#))
                    && l.contains(r#"reason="insufficient_user_authentication""#)
            })
            .and_then(|l| l.rsplit(' ').next())
            .map(str::to_owned)
    };
    assert_eq!(count("transfers").as_deref(), Some("4"), "{metrics}");
    assert_eq!(count("settings").as_deref(), Some("1"), "{metrics}");
}
