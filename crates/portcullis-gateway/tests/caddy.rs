//! A real Caddy with `forward_auth` in front of a test upstream, Portcullis deciding,
//! configured by the recipe in `docs/decision/Caddyfile` exactly as written (only its
//! `{{...}}` placeholders filled in): every route requirement, the challenges reaching
//! the client, the claims reaching the upstream, spoofed claim headers (and their
//! underscore look-alikes) never reaching it, and 503 with `Retry-After` when the
//! issuer cannot be reached.
//!
//! `.ci/run` installs Caddy (Debian's package) and sets `PORTCULLIS_REQUIRE_CADDY`;
//! without Caddy on the machine the test says so loudly and passes vacuously.

#![allow(clippy::unwrap_used, clippy::print_stderr)]

mod common;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use common::{Http, ProxyInFront, ROUTES, World, proxy_available, token_for, write_recipe};
use http::StatusCode;
use portcullis_testkit::fixture::free_loopback_port;
use portcullis_testkit::{Endpoint, Fault};

const CADDY: &str = "/usr/bin/caddy";

/// What Caddy logs once it serves (a JSON log line's `msg`).
const SERVING: &str = "serving initial configuration";

/// The decision listener Caddy asks (with its `X-Forwarded-*` headers), and the
/// shared routes.
fn gateway_config() -> String {
    format!("[decision]\nlisten = [\"127.0.0.1:0\"]\nsource = \"forwarded\"\n{ROUTES}")
}

/// Caddy with the recipe, deciding at `decision` and proxying to `upstream`; returns
/// once Caddy says it serves.
fn start_caddy(decision: SocketAddr, upstream: SocketAddr) -> ProxyInFront {
    let dir = tempfile::tempdir().unwrap();
    let port = free_loopback_port();
    let path = write_recipe("Caddyfile", dir.path(), port, decision, upstream);
    let mut child = Command::new(CADDY)
        .args(["run", "--adapter", "caddyfile", "--config"])
        .arg(&path)
        // Caddy's data and autosaved configuration stay in the test's directory.
        .env("XDG_DATA_HOME", dir.path())
        .env("XDG_CONFIG_HOME", dir.path())
        .env("HOME", dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("caddy runs");
    let stderr = child.stderr.take().unwrap();
    let (ready_tx, ready_rx) = mpsc::channel();
    // Reads Caddy's log to the end (a full pipe would stop it), saying when it serves.
    std::thread::spawn(move || {
        let mut log = Vec::new();
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if line.contains(SERVING) {
                let _ = ready_tx.send(Ok(()));
            }
            log.push(line);
        }
        let _ = ready_tx.send(Err(log.join("\n")));
    });
    match ready_rx.recv_timeout(Duration::from_secs(20)) {
        Ok(Ok(())) => {}
        Ok(Err(log)) => panic!("caddy stopped before serving:\n{log}"),
        Err(_) => panic!("caddy did not say it serves within 20 s"),
    }
    ProxyInFront {
        child,
        addr: ([127, 0, 0, 1], port).into(),
        dir,
    }
}

fn caddy_available() -> bool {
    proxy_available(
        CADDY,
        "PORTCULLIS_REQUIRE_CADDY",
        "!! SKIPPED: Caddy forward_auth. Install Caddy (apt-get install caddy). !!",
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn caddy_forward_auth_with_portcullis_deciding() {
    if !caddy_available() {
        return;
    }
    let World {
        gateway,
        issuer,
        upstream,
    } = World::start(&gateway_config()).await;
    let caddy =
        tokio::task::block_in_place(|| start_caddy(gateway.decision.unwrap(), upstream.addr()));
    let url = |path: &str| format!("http://{}{path}", caddy.addr);
    let http = Http::http1();
    let read = token_for(&issuer, "read", &[]);
    let spoofed = [
        ("x-auth-subject", "admin"),
        ("x_auth_subject", "admin"),
        ("x-auth_subject", "admin"),
        ("X_AUTH-SCOPE", "admin"),
    ];

    // Allowed: the upstream gets the claims, not the client's spoofed copies.
    let allowed = http
        .get(&url("/items/7?full=1"), Some(&read), &spoofed)
        .await;
    assert_eq!(allowed.status, StatusCode::OK);
    let seen = allowed.json();
    assert_eq!(seen["path"], "/items/7?full=1");
    assert_eq!(seen["headers"]["x-auth-subject"], "test-subject");
    assert_eq!(seen["headers"]["x-auth-scope"], "read");
    for name in ["x_auth_subject", "x-auth_subject", "x_auth-scope"] {
        assert!(seen["headers"][name].is_null(), "{name}: {seen}");
    }

    // An anonymous route: no claim headers, and the client's copies gone.
    let public = http.get(&url("/public/x"), None, &spoofed).await;
    assert_eq!(public.status, StatusCode::OK);
    let seen = public.json();
    for (name, _) in spoofed {
        let name = name.to_ascii_lowercase();
        assert!(seen["headers"][name.as_str()].is_null(), "{name}: {seen}");
    }

    // Refusals reach the client as Portcullis gave them.
    let missing = http.get(&url("/items/7"), None, &[]).await;
    assert_eq!(missing.status, StatusCode::UNAUTHORIZED);
    assert_eq!(missing.header("www-authenticate"), r#"Bearer realm="test""#);
    let denied = http.call("PUT", &url("/items/7"), Some(&read), &[]).await;
    denied.assert_challenge_contains(StatusCode::FORBIDDEN, r#"error="insufficient_scope""#);
    let unrouted = http.get(&url("/admin"), Some(&read), &[]).await;
    assert_eq!(unrouted.status, StatusCode::FORBIDDEN);
    let dotted = http
        .get(&url("/items/%2e%2e/admin"), Some(&read), &[])
        .await;
    assert_eq!(dotted.status, StatusCode::BAD_REQUEST);

    // The issuer is down and a new token's key is unknown: 503 with Retry-After.
    issuer.set_fault(Endpoint::Jwks, Fault::Status(503));
    issuer.rotate();
    let fresh = token_for(&issuer, "read", &[]);
    let outage = http.get(&url("/items/7"), Some(&fresh), &[]).await;
    assert_eq!(
        outage.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{:?}",
        outage.headers
    );
    assert!(!outage.header("retry-after").is_empty());
}
