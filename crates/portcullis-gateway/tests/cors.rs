//! CORS per route: preflights answered before authentication (a preflight carries no
//! token), actual requests still authenticated, and every answer on a CORS route, the
//! refusals too, readable by the browser application that asked.

#![allow(clippy::unwrap_used)] // Test setup panics on purpose.

mod common;

use common::{Http, InProcess, refused};
use http::StatusCode;
use portcullis_testkit::EchoUpstream;
use portcullis_testkit::fixture::unix_now;

const APP: &str = "https://app.example.com";

const ROUTES: &str = r#"
[[routes]]
name = "api"
path_prefix = "/api/"
methods = ["GET", "PUT"]
scopes_all = ["read"]
[routes.cors]
allow_origins = ["https://app.example.com", "http://localhost:3000"]
allow_credentials = true
max_age = "10m"
expose_headers = ["www-authenticate", "x-request-id"]

[[routes]]
name = "open"
path = "/open"
require = "anonymous"
[routes.cors]
allow_origins = ["*"]

[[routes]]
name = "plain"
path = "/plain"
"#;

struct World {
    gateway: InProcess,
    _upstream: EchoUpstream,
    http: Http,
}

impl World {
    async fn start() -> World {
        let upstream = EchoUpstream::start().await;
        let gateway = InProcess::start(upstream.addr(), "", ROUTES).await;
        World {
            gateway,
            _upstream: upstream,
            http: Http::http1(),
        }
    }

    async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        headers: &[(&str, &str)],
    ) -> common::Answer {
        self.http
            .call(method, &self.gateway.url(path), token, headers)
            .await
    }
}

fn preflight<'a>(origin: &'a str, method: &'a str) -> [(&'a str, &'a str); 3] {
    [
        ("origin", origin),
        ("access-control-request-method", method),
        ("access-control-request-headers", "authorization"),
    ]
}

fn varies_on_origin(answer: &common::Answer) -> bool {
    answer
        .headers
        .get_all("vary")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|name| name.trim().eq_ignore_ascii_case("origin"))
}

#[tokio::test]
async fn a_preflight_is_answered_before_authentication() {
    let world = World::start().await;
    let answer = world
        .call("OPTIONS", "/api/items", None, &preflight(APP, "PUT"))
        .await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.header("access-control-allow-origin"), APP);
    assert_eq!(answer.header("access-control-allow-credentials"), "true");
    let methods = answer.header("access-control-allow-methods");
    assert!(
        methods.contains("PUT") && methods.contains("GET"),
        "{methods}"
    );
    assert!(
        answer
            .header("access-control-allow-headers")
            .contains("authorization")
    );
    assert_eq!(answer.header("access-control-max-age"), "600");
    assert!(varies_on_origin(&answer));
    assert!(answer.header("www-authenticate").is_empty());
    // Answered by the gateway: the echo upstream would have said what it received.
    assert!(answer.body.is_empty());

    // An origin the route does not list gets no permission, and nothing else either.
    let answer = world
        .call(
            "OPTIONS",
            "/api/items",
            None,
            &preflight("https://evil.example", "PUT"),
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK);
    assert!(answer.header("access-control-allow-origin").is_empty());
    assert!(varies_on_origin(&answer));
    world.gateway.stop().await;
}

#[tokio::test]
async fn actual_requests_are_authenticated_and_their_refusals_readable() {
    let world = World::start().await;
    let origin = [("origin", APP)];
    let answer = world.call("GET", "/api/items", None, &origin).await;
    answer.assert_challenge_starts(StatusCode::UNAUTHORIZED, "Bearer realm=\"test\"");
    assert_eq!(answer.header("access-control-allow-origin"), APP);
    assert_eq!(answer.header("access-control-allow-credentials"), "true");
    let exposed = answer.header("access-control-expose-headers");
    assert!(exposed.contains("www-authenticate"), "{exposed}");
    assert!(varies_on_origin(&answer));

    let token = world.gateway.token("other", unix_now() + 300);
    let answer = world.call("PUT", "/api/items", Some(&token), &origin).await;
    answer.assert_challenge_contains(StatusCode::FORBIDDEN, "insufficient_scope");
    assert_eq!(answer.header("access-control-allow-origin"), APP);

    let token = world.gateway.token("read", unix_now() + 300);
    let answer = world.call("GET", "/api/items", Some(&token), &origin).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.json()["method"], "GET");
    assert_eq!(answer.header("access-control-allow-origin"), APP);
    world.gateway.stop().await;
}

#[tokio::test]
async fn any_origin_and_routes_without_cors() {
    let world = World::start().await;
    let answer = world
        .call("OPTIONS", "/open", None, &preflight(APP, "POST"))
        .await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.header("access-control-allow-origin"), "*");
    assert!(answer.header("access-control-allow-credentials").is_empty());
    // A route for any method allows the method asked for.
    assert_eq!(answer.header("access-control-allow-methods"), "POST");

    // An OPTIONS that is no preflight goes on to the upstream, like any request.
    let answer = world
        .call("OPTIONS", "/open", None, &[("origin", APP)])
        .await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.json()["method"], "OPTIONS");

    // Without a CORS policy a preflight is an OPTIONS like any other: a token is needed.
    let answer = world
        .call("OPTIONS", "/plain", None, &preflight(APP, "GET"))
        .await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert!(answer.header("access-control-allow-origin").is_empty());
    // A preflight for a method no CORS route serves finds no route.
    let answer = world
        .call("OPTIONS", "/api/items", None, &preflight(APP, "DELETE"))
        .await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND);
    world.gateway.stop().await;
}

#[test]
fn cors_settings_are_checked_as_read() {
    let route = |cors: &str| {
        format!("[[routes]]\npath = \"/a\"\nrequire = \"anonymous\"\n[routes.cors]\n{cors}")
    };
    let (path, message) = refused(&route("allow_origins = [\"*\"]\nallow_credentials = true"));
    assert_eq!(path, "routes[0].cors.allow_credentials");
    assert!(message.contains("credentials"), "{message}");
    let (path, _) = refused(&route("allow_origins = [\"https://a.example/\"]"));
    assert_eq!(path, "routes[0].cors.allow_origins[0]");
    let (path, _) = refused(&route("allow_origins = [\"*\", \"https://a.example\"]"));
    assert_eq!(path, "routes[0].cors.allow_origins");
    let (path, _) = refused(&route("allow_origins = []"));
    assert_eq!(path, "routes[0].cors.allow_origins");
    let (path, _) = refused(&route(
        "allow_origins = [\"https://a.example\"]\nmax_age = \"2d\"",
    ));
    assert_eq!(path, "routes[0].cors.max_age");
    let (path, _) = refused(&route("allow_origin = [\"https://a.example\"]"));
    assert_eq!(path, "routes[0].cors.allow_origin");
    let methods = "[[routes]]\npath = \"/a\"\nrequire = \"anonymous\"\nmethods = [\"GET\"]\n\
                   [routes.cors]\nallow_origins = [\"*\"]\nallow_methods = [\"GET\", \"PUT\"]";
    let (path, _) = refused(methods);
    assert_eq!(path, "routes[0].cors.allow_methods[1]");
    // `*` is the wildcard in these lists too, which credentials rule out: refused
    // here, not by the panic of the layer (at start, or in a reload).
    for key in ["allow_headers", "expose_headers"] {
        let (path, message) = refused(&route(&format!(
            "allow_origins = [\"https://a.example\"]\nallow_credentials = true\n\
             {key} = [\"*\"]"
        )));
        assert_eq!(path, format!("routes[0].cors.{key}[0]"));
        assert!(message.contains("credentials"), "{message}");
    }
}

#[test]
fn upgrade_settings_are_checked_as_read() {
    let route = |keys: &str| format!("[[routes]]\npath = \"/a\"\nrequire = \"anonymous\"\n{keys}");
    let (path, _) = refused(&route("upgrades = [\"h2c\"]"));
    assert_eq!(path, "routes[0].upgrades[0]");
    let (path, _) = refused(&route("upgrades = []"));
    assert_eq!(path, "routes[0].upgrades");
    let (path, _) = refused(&route("upgrade_max_lifetime = \"1h\""));
    assert_eq!(path, "routes[0].upgrade_max_lifetime");
    let (path, _) = refused(&route(
        "upgrades = [\"websocket\"]\nupgrade_close_at_token_expiry = false",
    ));
    assert_eq!(path, "routes[0].upgrade_close_at_token_expiry");
    let (path, _) = refused(&route("upgrades = [\"websocket\"]\nmethods = [\"POST\"]"));
    assert_eq!(path, "routes[0].upgrades");
    let (path, _) = refused("[limits]\nupgrade_max_lifetime = \"8d\"\n");
    assert_eq!(path, "limits.upgrade_max_lifetime");
}

/// A preflight the route's policy answered is counted as what it is, not as a refused
/// request: dashboards of refusals would otherwise count every browser preflight.
#[tokio::test]
async fn a_preflight_is_counted_as_a_preflight() {
    let world = World::start().await;
    let answer = world
        .call("OPTIONS", "/api/items", None, &preflight(APP, "PUT"))
        .await;
    assert_eq!(answer.status, StatusCode::OK);
    // A real refusal on the same route, for contrast.
    let refused_answer = world
        .call("GET", "/api/items", None, &[("origin", APP)])
        .await;
    assert_eq!(refused_answer.status, StatusCode::UNAUTHORIZED);
    let metrics = world.call("GET", "/metrics", None, &[]).await;
    let metrics = String::from_utf8_lossy(&metrics.body);
    let count = |labels: &str| {
        metrics
            .lines()
            .find(|line| {
                line.starts_with(&format!("portcullis_gateway_requests_total{{{labels}}}"))
            })
            .and_then(|line| line.rsplit(' ').next())
            .map(|n| n.to_owned())
    };
    assert_eq!(
        count(r#"route="api",decision="preflight",reason="cors_preflight""#).as_deref(),
        Some("1"),
        "{metrics}"
    );
    assert_eq!(
        count(r#"route="api",decision="deny",reason="missing_token""#).as_deref(),
        Some("1"),
        "{metrics}"
    );
    assert_eq!(
        count(r#"route="api",decision="deny",reason="invalid_request""#),
        None,
        "{metrics}"
    );
}
