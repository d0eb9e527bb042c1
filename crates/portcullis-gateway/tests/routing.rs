//! Several upstreams and hosts: named upstreams that routes pick, routes for a host
//! (exact or `*.suffix`), a prefix stripped before the request goes upstream, and the
//! configurations refused because a route could never be chosen or names nothing.

#![allow(clippy::unwrap_used)]

mod common;

use common::{Gateway, Http, refused};
use http::StatusCode;
use portcullis_testkit::EchoUpstream;

/// Which upstream answered (each echo upstream has its own port) and the path it saw.
struct Seen {
    port: u16,
    path: String,
    host: String,
}

async fn get(gateway: &Gateway, host: &str, path: &str) -> Result<Seen, StatusCode> {
    let answer = Http::http1()
        .get(&gateway.url(path), None, &[("host", host)])
        .await;
    if answer.status != StatusCode::OK {
        return Err(answer.status);
    }
    let echoed = answer.json();
    Ok(Seen {
        port: echoed["headers"]["host"]
            .as_str()
            .unwrap()
            .rsplit(':')
            .next()
            .unwrap()
            .parse()
            .unwrap(),
        path: echoed["path"].as_str().unwrap().to_owned(),
        host: echoed["headers"]["x-forwarded-host"]
            .as_str()
            .unwrap()
            .to_owned(),
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn routes_pick_upstreams_by_host_and_strip_their_prefix() {
    let default = EchoUpstream::start().await;
    let billing = EchoUpstream::start().await;
    let apps = EchoUpstream::start().await;
    let gateway = Gateway::start(&format!(
        r#"
[server]
listen = ["127.0.0.1:0"]

[upstream]
url = "{default}"

[upstreams.billing]
url = "{billing}/v2"

[upstreams.apps]
url = "{apps}"

[[routes]]
name = "billing-api"
host = "api.example.test"
path_prefix = "/billing"
strip_prefix = "/billing"
upstream = "billing"
require = "anonymous"

[[routes]]
name = "apps"
host = "*.apps.example.test"
path_prefix = "/"
upstream = "apps"
require = "anonymous"

[[routes]]
name = "everything-else"
path_prefix = "/public"
require = "anonymous"
"#,
        default = default.url(),
        billing = billing.url(),
        apps = apps.url(),
    ));

    // The host's route, to its upstream, the prefix replaced by the upstream's base path.
    let seen = get(&gateway, "api.example.test", "/billing/invoices?page=2")
        .await
        .unwrap();
    assert_eq!(seen.port, billing.addr().port());
    assert_eq!(seen.path, "/v2/invoices?page=2");
    assert_eq!(seen.host, "api.example.test");
    let seen = get(&gateway, "API.example.test:8080", "/billing")
        .await
        .unwrap();
    assert_eq!(
        (seen.port, seen.path.as_str()),
        (billing.addr().port(), "/v2/")
    );
    // Normalised as the router reads it: `/%62illing` is `/billing`, and is stripped.
    let seen = get(&gateway, "api.example.test", "/%62illing/x")
        .await
        .unwrap();
    assert_eq!(seen.path, "/v2/x");

    // Any subdomain of the wildcard; the upstream sees the path as sent.
    let seen = get(&gateway, "shop.apps.example.test", "/cart")
        .await
        .unwrap();
    assert_eq!(
        (seen.port, seen.path.as_str()),
        (apps.addr().port(), "/cart")
    );
    assert_eq!(
        get(&gateway, "a.b.apps.example.test", "/x")
            .await
            .unwrap()
            .port,
        apps.addr().port()
    );

    // Other hosts fall to the routes for any host, and are denied where there is none.
    let seen = get(&gateway, "apps.example.test", "/public/x")
        .await
        .unwrap();
    assert_eq!(seen.port, default.addr().port());
    assert_eq!(
        get(&gateway, "other.test", "/billing/invoices").await.err(),
        Some(StatusCode::NOT_FOUND)
    );
    // The billing host's other paths fall through to the routes for any host.
    let seen = get(&gateway, "api.example.test", "/public/y")
        .await
        .unwrap();
    assert_eq!(seen.port, default.addr().port());
    assert_eq!(
        get(&gateway, "api.example.test", "/admin").await.err(),
        Some(StatusCode::NOT_FOUND)
    );
}

#[test]
fn routes_that_could_never_be_chosen_or_name_nothing_are_refused() {
    let upstreams = "[upstreams.billing]\nurl = \"http://127.0.0.1:9\"\n";
    let route =
        |keys: &str| format!("[[routes]]\npath_prefix = \"/a\"\nrequire = \"anonymous\"\n{keys}\n");
    for (text, path) in [
        (route("upstream = \"nope\""), "routes[0].upstream"),
        (route("upstream = \"bad name\""), "routes[0].upstream"),
        (route("host = \"https://a.test\""), "routes[0].host"),
        (route("host = \"a.*.test\""), "routes[0].host"),
        (route("host = \"a.test:443\""), "routes[0].host"),
        (route("strip_prefix = \"/b\""), "routes[0].strip_prefix"),
        (route("strip_prefix = \"/a/\""), "routes[0].strip_prefix"),
        (route("strip_prefix = \"/\""), "routes[0].strip_prefix"),
        // Same host, path and (any) methods as the route before it.
        (
            format!(
                "{}{}",
                route("host = \"a.test\""),
                route("host = \"A.test\"")
            ),
            "routes[1]",
        ),
        (
            format!("{}{}", route(""), route("methods = [\"GET\"]")),
            "routes[1]",
        ),
        (
            "[upstreams.\"bad name\"]\nurl = \"http://127.0.0.1:9\"\n".to_owned(),
            "upstreams.bad name",
        ),
    ] {
        assert_eq!(refused(&format!("{upstreams}{text}")).0, path, "{text}");
    }
    // The same path for different hosts or methods is no ambiguity.
    for text in [
        format!(
            "{}{}",
            route("host = \"a.test\""),
            route("host = \"*.a.test\"")
        ),
        format!(
            "{}{}",
            route("methods = [\"GET\"]"),
            route("methods = [\"POST\"]")
        ),
        route("strip_prefix = \"/a\"\nupstream = \"billing\""),
    ] {
        assert!(
            portcullis_gateway::Config::from_toml(
                &format!("{}{upstreams}{text}", common::MINIMAL),
                "t"
            )
            .is_ok(),
            "{text}"
        );
    }
    // Without [upstream], every route names one.
    let without_default = "[server]\nlisten = [\"127.0.0.1:0\"]\n[upstreams.a]\nurl = \"http://127.0.0.1:9\"\n\
                           [[routes]]\npath = \"/x\"\nrequire = \"anonymous\"\n";
    let error = portcullis_gateway::Config::from_toml(without_default, "t").unwrap_err();
    assert_eq!(error.path(), "routes[0].upstream");
    let error =
        portcullis_gateway::Config::from_toml("[server]\nlisten = [\"127.0.0.1:0\"]\n", "t")
            .unwrap_err();
    assert_eq!(error.path(), "upstream");
}
