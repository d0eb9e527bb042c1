//! Live reload: on SIGHUP and when the file changes, a new configuration checked as
//! `check-config` checks it replaces the running one; one that does not check leaves it
//! serving; unchanged issuers keep their key sets; and requests keep being answered
//! while the configuration is replaced again and again.

#![allow(clippy::unwrap_used)]

mod common;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use common::{Gateway, Http, es256_issuer, token_for};
use http::StatusCode;
use portcullis_testkit::{EchoUpstream, Endpoint, RedisServer, TestIssuer};

/// The config file of a running gateway, to rewrite.
fn config_path(gateway: &Gateway) -> PathBuf {
    gateway.config_path()
}

/// The standard config with one authenticated route at `path` and `extra` keys on the
/// issuer.
fn with_route(issuer: &TestIssuer, upstream: &EchoUpstream, path: &str, extra: &str) -> String {
    common::config(
        issuer,
        upstream,
        &format!("{extra}\n[[routes]]\npath_prefix = \"{path}\"\n"),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn a_valid_configuration_replaces_the_running_one_and_issuers_stay_warm() {
    let issuer = es256_issuer().await;
    let upstream = EchoUpstream::start().await;
    let mut gateway = Gateway::start_watching(&with_route(&issuer, &upstream, "/old", ""), 0);
    let http = Http::http1();
    let token = token_for(&issuer, "read", &[]);
    let base = gateway.url("");
    let get = async |path: &str| {
        http.get(&format!("{base}{path}"), Some(&token), &[])
            .await
            .status
    };
    assert_eq!(get("/old/x").await, StatusCode::OK);
    assert_eq!(issuer.requests(Endpoint::Jwks), 1);

    std::fs::write(
        config_path(&gateway),
        with_route(&issuer, &upstream, "/new", ""),
    )
    .unwrap();
    gateway.hangup();
    let event = gateway.wait_for_event("config_reloaded");
    assert!(event["config"].as_str().unwrap().ends_with("gateway.toml"));
    assert_eq!(get("/new/x").await, StatusCode::OK);
    assert_eq!(get("/old/x").await, StatusCode::NOT_FOUND);
    // The issuer's table is unchanged: the same key set, not fetched again.
    assert_eq!(issuer.requests(Endpoint::Jwks), 1);

    // A changed issuer is a new one, with its own fetch.
    std::fs::write(
        config_path(&gateway),
        with_route(&issuer, &upstream, "/new", "leeway = \"5s\""),
    )
    .unwrap();
    gateway.hangup();
    gateway.wait_for_event("config_reloaded");
    assert_eq!(get("/new/x").await, StatusCode::OK);
    assert_eq!(issuer.requests(Endpoint::Jwks), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_invalid_configuration_is_refused_and_the_old_one_keeps_serving() {
    let issuer = es256_issuer().await;
    let upstream = EchoUpstream::start().await;
    let mut gateway = Gateway::start_watching(&with_route(&issuer, &upstream, "/old", ""), 0);
    let http = Http::http1();
    let token = token_for(&issuer, "read", &[]);

    for (text, at) in [
        (
            with_route(&issuer, &upstream, "/new", "").replace("path_prefix", "path_prefx"),
            "routes[0].path_prefx",
        ),
        // What check-config reads too: a key file that is not there.
        (
            with_route(&issuer, &upstream, "/new", "")
                .replace("jwks_uri", "jwks_file = \"/nonexistent/keys.json\"\n#"),
            "issuers[0].jwks_file",
        ),
        // Listeners are bound once.
        (
            with_route(&issuer, &upstream, "/new", "").replace("127.0.0.1:0", "127.0.0.1:1"),
            "server.listen",
        ),
    ] {
        std::fs::write(config_path(&gateway), text).unwrap();
        gateway.hangup();
        let event = gateway.wait_for_event("config_refused");
        let error = event["error"].as_str().unwrap();
        assert!(error.contains(at), "{error}");
        let answer = http.get(&gateway.url("/old/x"), Some(&token), &[]).await;
        assert_eq!(answer.status, StatusCode::OK);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_changed_file_is_reloaded_without_a_signal() {
    let issuer = es256_issuer().await;
    let upstream = EchoUpstream::start().await;
    let mut gateway = Gateway::start_watching(&with_route(&issuer, &upstream, "/old", ""), 1);
    std::fs::write(
        config_path(&gateway),
        with_route(&issuer, &upstream, "/new", ""),
    )
    .unwrap();
    gateway.wait_for_event("config_reloaded");
    let token = token_for(&issuer, "read", &[]);
    let answer = Http::http1()
        .get(&gateway.url("/new/x"), Some(&token), &[])
        .await;
    assert_eq!(answer.status, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_hundred_reloads_under_load_fail_no_request() {
    const RELOADS: usize = 100;
    let issuer = es256_issuer().await;
    let upstream = EchoUpstream::start().await;
    let mut gateway = Gateway::start_watching(&with_route(&issuer, &upstream, "/api", ""), 0);
    let url = gateway.url("/api/x");
    let token = token_for(&issuer, "read", &[]);
    let done = Arc::new(AtomicBool::new(false));
    let (sent, failed) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let mut clients = Vec::new();
    for _ in 0..4 {
        let (done, sent, failed) = (done.clone(), sent.clone(), failed.clone());
        let (url, token) = (url.clone(), token.clone());
        clients.push(tokio::spawn(async move {
            let http = Http::http1();
            while !done.load(Ordering::Relaxed) {
                let answer = http.get(&url, Some(&token), &[]).await;
                sent.fetch_add(1, Ordering::Relaxed);
                if answer.status != StatusCode::OK {
                    failed.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    for i in 0..RELOADS {
        // Each version differs (a route name), so each is a real swap.
        let text = with_route(&issuer, &upstream, "/api", "")
            .replace("[[routes]]\n", &format!("[[routes]]\nname = \"api-{i}\"\n"));
        std::fs::write(config_path(&gateway), text).unwrap();
        gateway.hangup();
        gateway.wait_for_event("config_reloaded");
    }
    done.store(true, Ordering::Relaxed);
    for client in clients {
        client.await.unwrap();
    }
    assert!(sent.load(Ordering::Relaxed) > 0);
    assert_eq!(failed.load(Ordering::Relaxed), 0);
    // One key set throughout.
    assert_eq!(issuer.requests(Endpoint::Jwks), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reload_reads_key_files_again() {
    use portcullis_testkit::fixture::{AUDIENCE, ISSUER, unix_now};
    use portcullis_testkit::{SigningAlgorithm, SigningKey};

    let upstream = EchoUpstream::start().await;
    let keys = tempfile::tempdir().unwrap();
    let (old, new) = (
        SigningKey::generate(SigningAlgorithm::ES256),
        SigningKey::generate(SigningAlgorithm::ES256),
    );
    let jwks = common::write_jwks(keys.path(), [&old]);
    let config = format!(
        "[server]\nlisten = [\"127.0.0.1:0\"]\n[upstream]\nurl = \"{}\"\n\
         [[issuers]]\nissuer = \"{ISSUER}\"\naudiences = [\"{AUDIENCE}\"]\njwks_file = {jwks:?}\n\
         algorithms = [\"ES256\"]\n[[routes]]\npath_prefix = \"/\"\n",
        upstream.url()
    );
    let mut gateway = Gateway::start_watching(&config, 0);
    let signed_by = |key: &SigningKey| {
        key.token()
            .standard_claims(ISSUER, AUDIENCE, unix_now())
            .sign()
    };
    let http = Http::http1();
    let url = gateway.url("/x");
    let status = async |token: &str| http.get(&url, Some(token), &[]).await.status;
    assert_eq!(status(&signed_by(&old)).await, StatusCode::OK);
    assert_eq!(status(&signed_by(&new)).await, StatusCode::UNAUTHORIZED);

    // The same configuration text, a rotated key file: the issuer is built again.
    common::write_jwks(keys.path(), [&new]);
    gateway.hangup();
    gateway.wait_for_event("config_reloaded");
    assert_eq!(status(&signed_by(&new)).await, StatusCode::OK);
    assert_eq!(status(&signed_by(&old)).await, StatusCode::UNAUTHORIZED);
}

/// A gateway sharing state on a store (`[store]`) is restarted to change its
/// configuration: a reload is refused, naming `store`, and the running configuration
/// keeps serving.
#[tokio::test(flavor = "multi_thread")]
async fn a_gateway_with_a_store_refuses_a_reload_and_keeps_serving() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let issuer = es256_issuer().await;
    let upstream = EchoUpstream::start().await;
    let store = format!(
        "[store]\nurl = \"{}\"\nkey_secret_env = \"GATEWAY_TEST_STORE_KEY\"\n",
        redis.url()
    );
    let env = [(
        "GATEWAY_TEST_STORE_KEY",
        "the replicas' keying secret, 32+ bytes",
    )];
    let mut gateway =
        Gateway::start_watching_with_env(&with_route(&issuer, &upstream, "/old", &store), 0, &env);
    let http = Http::http1();
    let token = token_for(&issuer, "read", &[]);
    let base = gateway.url("");
    let status = async |path: &str| {
        http.get(&format!("{base}{path}"), Some(&token), &[])
            .await
            .status
    };
    assert_eq!(status("/old/x").await, StatusCode::OK);

    std::fs::write(
        config_path(&gateway),
        with_route(&issuer, &upstream, "/new", &store),
    )
    .unwrap();
    gateway.hangup();
    let event = gateway.wait_for_event("config_refused");
    let error = event["error"].as_str().unwrap();
    assert!(error.contains("store"), "{error}");
    assert!(error.contains("restart"), "{error}");
    assert_eq!(status("/old/x").await, StatusCode::OK);
    assert_eq!(status("/new/x").await, StatusCode::NOT_FOUND);
}
