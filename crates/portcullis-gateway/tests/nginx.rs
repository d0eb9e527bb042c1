//! A real nginx with `auth_request` in front of a test upstream, Portcullis deciding,
//! configured by the recipe in `docs/decision/nginx.conf` exactly as written (only its
//! `{{...}}` placeholders filled in): every route requirement, the challenges reaching
//! the client, the claims reaching the upstream, spoofed claim headers never reaching it,
//! and 503 with `Retry-After` when the issuer cannot be reached.
//!
//! `.ci/run` installs nginx and sets `PORTCULLIS_REQUIRE_NGINX`; without nginx on the
//! machine the test says so loudly and passes vacuously.

#![allow(clippy::unwrap_used, clippy::print_stderr)]

mod common;

use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Http, ProxyInFront, ROUTES, World, proxy_available, token_for, write_recipe};
use http::StatusCode;
use portcullis_testkit::fixture::free_loopback_port;
use portcullis_testkit::{Endpoint, Fault};

const NGINX: &str = "/usr/sbin/nginx";

/// The decision listener nginx asks (with nginx's headers), and the shared routes.
fn gateway_config() -> String {
    format!("[decision]\nlisten = [\"127.0.0.1:0\"]\nsource = \"original\"\n{ROUTES}")
}

/// nginx with the recipe, deciding at `decision` and proxying to `upstream`.
fn start_nginx(decision: SocketAddr, upstream: SocketAddr) -> ProxyInFront {
    let dir = tempfile::tempdir().unwrap();
    let port = free_loopback_port();
    let path = write_recipe("nginx.conf", dir.path(), port, decision, upstream);
    let child = Command::new(NGINX)
        .args(["-p", dir.path().to_str().unwrap(), "-c"])
        .arg(&path)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("nginx runs");
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    // nginx says nothing when it is ready: poll its port, for at most 10 s.
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(addr).is_err() {
        assert!(
            Instant::now() < deadline,
            "nginx did not start: {}",
            log(dir.path())
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    ProxyInFront { child, addr, dir }
}

fn log(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("error.log")).unwrap_or_default()
}

fn nginx_available() -> bool {
    proxy_available(
        NGINX,
        "PORTCULLIS_REQUIRE_NGINX",
        "!! SKIPPED: nginx auth_request. Install nginx (apt-get install nginx-light). !!",
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn nginx_auth_request_with_portcullis_deciding() {
    if !nginx_available() {
        return;
    }
    let World {
        gateway,
        issuer,
        upstream,
    } = World::start(&gateway_config()).await;
    let nginx =
        tokio::task::block_in_place(|| start_nginx(gateway.decision.unwrap(), upstream.addr()));
    let url = |path: &str| format!("http://{}{path}", nginx.addr);
    let http = Http::http1();
    let read = token_for(&issuer, "read", &[]);

    // Allowed: the upstream gets the claims, not the client's spoofed copies.
    let allowed = http
        .get(
            &url("/items/7?full=1"),
            Some(&read),
            &[("x-auth-subject", "admin"), ("x_auth_subject", "admin")],
        )
        .await;
    assert_eq!(allowed.status, StatusCode::OK);
    let seen = allowed.json();
    assert_eq!(seen["path"], "/items/7?full=1");
    assert_eq!(seen["headers"]["x-auth-subject"], "test-subject");
    assert_eq!(seen["headers"]["x-auth-scope"], "read");
    assert!(seen["headers"]["x_auth_subject"].is_null(), "{seen}");

    // An anonymous route: no claim headers, and the client's copies gone.
    let public = http
        .get(&url("/public/x"), None, &[("x-auth-subject", "admin")])
        .await;
    assert_eq!(public.status, StatusCode::OK);
    assert!(
        public.json()["headers"]["x-auth-subject"].is_null(),
        "{:?}",
        public.json()
    );

    // Refusals reach the client with the decision's challenge.
    let missing = http.get(&url("/items/7"), None, &[]).await;
    assert_eq!(missing.status, StatusCode::UNAUTHORIZED);
    assert_eq!(missing.header("www-authenticate"), r#"Bearer realm="test""#);
    let denied = http.call("PUT", &url("/items/7"), Some(&read), &[]).await;
    denied.assert_challenge_contains(StatusCode::FORBIDDEN, r#"error="insufficient_scope""#);
    let unrouted = http.get(&url("/admin"), Some(&read), &[]).await;
    assert_eq!(unrouted.status, StatusCode::FORBIDDEN);

    // The issuer is down and a new token's key is unknown: 503 with Retry-After, never
    // a pass and never nginx's bare 500.
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
