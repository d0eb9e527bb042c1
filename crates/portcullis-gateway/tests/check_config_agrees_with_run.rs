//! `check-config` and `run` agree: a configuration the check accepts starts, and one
//! it refuses does not. Configurations are drawn from a valid one with one field
//! changed to a value from a pool of plausible and hostile ones.

#![allow(clippy::unwrap_used)] // Test setup panics on purpose.

mod common;

use std::path::Path;

use common::write_jwks;
use portcullis_gateway::{Config, Gateway, StartError};
use portcullis_testkit::tls::TestCa;
use portcullis_testkit::{SigningAlgorithm, SigningKey, TestIssuer};
use proptest::prelude::*;

/// One `key = value` line of the base configuration, under its table header.
#[derive(Clone, Debug)]
struct Line {
    table: &'static str,
    key: &'static str,
    value: String,
}

fn quoted(text: &str) -> String {
    serde_json::Value::from(text).to_string()
}

/// A configuration every field of which is valid, touching every section the gateway
/// reads and both kinds of local source (a key file, a secret file).
fn base(issuer: &TestIssuer, dir: &Path) -> Vec<Line> {
    let key = SigningKey::generate(SigningAlgorithm::ES256);
    let jwks_file = write_jwks(dir, [&key]);
    let secret_file = dir.join("secret");
    std::fs::write(&secret_file, "s3cret").unwrap();
    let ca = TestCa::new("check CA");
    let (chain, tls_key) = ca.server(&["localhost"]).write(dir, "server");
    let ca_file = ca.write(dir, "ca.crt");
    let (client_chain, client_key) = ca.client("gateway").write(dir, "client");
    let path = |p: &Path| quoted(p.to_str().unwrap());
    let store_key = dir.join("store-key");
    std::fs::write(&store_key, "a keying secret of at least 32 bytes").unwrap();
    let line = |table, key, value: String| Line { table, key, value };
    vec![
        line("[server]", "listen", r#"["127.0.0.1:0"]"#.into()),
        line("[server]", "realm", quoted("api")),
        line("[server]", "shutdown_grace", quoted("5s")),
        line("[[server.tls]]", "listen", r#"["127.0.0.1:0"]"#.into()),
        line("[[server.tls]]", "min_version", quoted("1.2")),
        line("[[server.tls]]", "client_ca_file", path(&ca_file)),
        line("[[server.tls]]", "client_certificate", quoted("optional")),
        line("[[server.tls]]", "watch_interval", quoted("10s")),
        line("[[server.tls.certificates]]", "chain_file", path(&chain)),
        line("[[server.tls.certificates]]", "key_file", path(&tls_key)),
        line("[upstream]", "url", quoted("http://127.0.0.1:9")),
        line("[upstream]", "protocol", quoted("auto")),
        line("[upstream]", "connect_timeout", quoted("1s")),
        line(
            "[upstreams.secure]",
            "url",
            quoted("https://localhost:9/base"),
        ),
        line("[upstreams.secure]", "ca_file", path(&ca_file)),
        line(
            "[upstreams.secure]",
            "client_chain_file",
            path(&client_chain),
        ),
        line("[upstreams.secure]", "client_key_file", path(&client_key)),
        line("[limits]", "max_request_body_bytes", "1024".into()),
        line("[limits]", "request_timeout", quoted("5s")),
        line("[limits]", "header_read_timeout", quoted("5s")),
        line("[limits]", "max_token_bytes", "8192".into()),
        line("[limits]", "upgrade_max_lifetime", quoted("30m")),
        line("[log]", "access", "true".into()),
        line("[[issuers]]", "issuer", quoted(&issuer.url())),
        line("[[issuers]]", "audiences", r#"["https://api.test"]"#.into()),
        line("[[issuers]]", "jwks_uri", quoted(&issuer.jwks_url())),
        line("[[issuers]]", "algorithms", r#"["ES256", "RS256"]"#.into()),
        line("[[issuers]]", "leeway", quoted("30s")),
        line("[[issuers]]", "jwks_refresh", quoted("5m")),
        line("[[issuers]]", "jwks_retry", quoted("1s")),
        line("[[issuers]]", "jwks_min_lifetime", quoted("1m")),
        line("[[issuers]]", "jwks_max_lifetime", quoted("1h")),
        line("[[issuers]]", "jwks_max_staleness", quoted("1h")),
        line("[[issuers]]", "unknown_kid_cooldown", quoted("30s")),
        line("[[issuers]]", "http_timeout", quoted("5s")),
        line("[[issuers]]", "http_connect_timeout", quoted("2s")),
        line("[[issuers]]", "token_cache_capacity", "100".into()),
        line("[[issuers]]", "preset", quoted("keycloak")),
        line("[[issuers]]", "roles_claim", quoted("/realm_access/roles")),
        line("[[issuers]]", "scope_claim", quoted("scope")),
        line("[[issuers]]", "audience_claim", quoted("aud")),
        line("[[issuers]]", "allow_scope_array", "false".into()),
        line(
            "[[issuers]]",
            "required_claim_values",
            r#"{ typ = ["Bearer", "DPoP"] }"#.into(),
        ),
        line("[[issuers]] ", "issuer", quoted("https://static.test")),
        line(
            "[[issuers]] ",
            "audiences",
            r#"["https://api.test"]"#.into(),
        ),
        line(
            "[[issuers]] ",
            "jwks_file",
            quoted(jwks_file.to_str().unwrap()),
        ),
        line(
            "[issuers.introspection]",
            "endpoint",
            quoted("https://static.test/introspect"),
        ),
        line("[issuers.introspection]", "client_id", quoted("gateway")),
        line(
            "[issuers.introspection]",
            "client_secret_file",
            quoted(secret_file.to_str().unwrap()),
        ),
        line("[issuers.introspection]", "cache_ttl", quoted("30s")),
        line("[[routes]]", "name", quoted("api")),
        line("[[routes]]", "path_prefix", quoted("/api")),
        line("[[routes]]", "scopes_all", r#"["read"]"#.into()),
        line("[[routes]]", "roles_any", r#"["orders-reader"]"#.into()),
        line("[[routes]]", "audiences", r#"["https://api.test"]"#.into()),
        line("[[routes]]", "acr_values", r#"["urn:example:mfa"]"#.into()),
        line("[[routes]]", "max_age", quoted("5m")),
        line("[[routes]]", "host", quoted("*.example.test")),
        line("[[routes]]", "upstream", quoted("secure")),
        line("[[routes]]", "strip_prefix", quoted("/api")),
        line(
            "[[routes]]",
            "claim_equals",
            r#"{ "/realm_access/roles/0" = "x" }"#.into(),
        ),
        line("[[routes]]", "upgrades", r#"["websocket"]"#.into()),
        line("[[routes]]", "upgrade_max_lifetime", quoted("10m")),
        line(
            "[routes.cors]",
            "allow_origins",
            r#"["https://app.test"]"#.into(),
        ),
        line("[routes.cors]", "allow_credentials", "true".into()),
        line("[routes.cors]", "max_age", quoted("10m")),
        line("[forward]", "claims", r#"{ sub = "x-sub" }"#.into()),
        line("[forward]", "payload_header", quoted("x-claims")),
        line(
            "[protected_resource]",
            "resource",
            quoted("https://api.test/v1"),
        ),
        // Nothing listens there: the store connects in the background, never at start.
        line("[store]", "url", quoted("redis://127.0.0.1:9")),
        line(
            "[store]",
            "key_secret_file",
            quoted(store_key.to_str().unwrap()),
        ),
        line("[store]", "response_timeout", quoted("250ms")),
        line("[store]", "revocation_ttl", quoted("1h")),
        line("[tracing]", "sampled", "true".into()),
    ]
}

fn render(lines: &[Line]) -> String {
    let mut text = String::new();
    let mut table = "";
    for line in lines {
        if line.table != table {
            table = line.table;
            text.push_str(&format!("\n{}\n", table.trim()));
        }
        text.push_str(&format!("{} = {}\n", line.key, line.value));
    }
    text
}

/// Values that are valid somewhere and wrong elsewhere, and some that are wrong
/// everywhere.
fn values() -> impl Strategy<Value = String> {
    let pool: Vec<String> = [
        r#""""#,
        r#""café""#,
        r#""a\"b""#,
        r#""tab\there""#,
        r#""0s""#,
        r#""1ms""#,
        r#""999ms""#,
        r#""1s""#,
        r#""30s""#,
        r#""59s""#,
        r#""10m""#,
        r#""2h""#,
        r#""25h""#,
        r#""soon""#,
        "0",
        "1",
        "255",
        "256",
        "65536",
        "65537",
        "-1",
        "true",
        "false",
        "[]",
        r#"["HS256"]"#,
        r#"["none"]"#,
        r#"["ES256"]"#,
        r#""http://example.com/jwks""#,
        r#""https://x.test/""#,
        r#""https://api.test/v1?x=1""#,
        r#""/nonexistent/file""#,
        r#""x-auth-subject""#,
        r#""authorization""#,
        r#""localhost""#,
        r#""127.0.0.1:0""#,
        r#"["127.0.0.1:0", "127.0.0.1:0"]"#,
        r#"{ sub = "x_sub" }"#,
        r#"{ sub = "x-claims" }"#,
        r#""client_secret_post""#,
        r#""http2""#,
        r#""anonymous""#,
        r#""keycloak""#,
        r#""cognito""#,
        r#""azure""#,
        r#""client_id""#,
        r#""/realm_access/roles""#,
        r#""/a~2""#,
        r#""/""#,
        r#"["https://api.test", "other"]"#,
        r#"["orders reader", ""]"#,
        r#"{ "/a~" = "x" }"#,
        r#"{ "/cognito:groups" = "x-groups" }"#,
        r#"["urn:example:mfa", "two words"]"#,
        r#"["a\"b"]"#,
        r#""1500ms""#,
        r#"{ ver = ["1.0"] }"#,
        r#"{ "/ver" = ["1.0"] }"#,
        r#"{ ver = [] }"#,
        r#"{ ver = [1] }"#,
        r#"{ "" = ["x"] }"#,
        r#""1.1""#,
        r#""1.3""#,
        r#""optional""#,
        r#""secure""#,
        r#""*.example.test""#,
        r#""a.*.test""#,
        r#""/ap""#,
        r#""https://localhost:9""#,
        r#""ftp://localhost:9""#,
        r#"["*"]"#,
        r#"["websocket"]"#,
        r#"["h2c"]"#,
        r#""https://app.test/""#,
    ]
    .into_iter()
    .map(str::to_owned)
    .collect();
    prop_oneof![
        4 => prop::sample::select(pool),
        1 => "[ -~]{0,12}".prop_map(|s| quoted(&s)),
        1 => any::<u32>().prop_map(|n| n.to_string()),
    ]
}

/// What `check-config` runs.
fn check(text: &str) -> Result<Config, String> {
    let config = Config::from_toml(text, "gateway.toml").map_err(|e| e.to_string())?;
    config.check_sources().map_err(|e| e.to_string())?;
    Ok(config)
}

/// What `run` runs, up to serving.
async fn start(text: &str) -> Result<Gateway, String> {
    let config = Config::from_toml(text, "gateway.toml").map_err(|e| e.to_string())?;
    Gateway::bind(config).await.map_err(|e| match e {
        StartError::Config(e) => format!("config: {e}"),
        other => format!("other: {other}"),
    })
}

#[test]
fn check_config_accepts_exactly_what_run_starts() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let issuer = runtime.block_on(TestIssuer::start());
    let dir = tempfile::tempdir().unwrap();
    let base = base(&issuer, dir.path());
    assert!(check(&render(&base)).is_ok(), "{}", render(&base));
    assert!(runtime.block_on(start(&render(&base))).is_ok());

    // The case that once passed the check and stopped the start.
    let mut cafe = base.clone();
    cafe[1].value = quoted("café");
    let refused = check(&render(&cafe)).unwrap_err();
    assert!(refused.contains("server.realm"), "{refused}");

    assert_agreement(&runtime, &base, 256);
}

/// The same for a decision-only gateway: the base without the proxy (`[upstream]` and
/// `server.listen`), with both decision front doors.
#[test]
fn check_config_accepts_exactly_what_run_starts_without_an_upstream() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let issuer = runtime.block_on(TestIssuer::start());
    let dir = tempfile::tempdir().unwrap();
    let mut base: Vec<Line> = base(&issuer, dir.path())
        .into_iter()
        .filter(|line| {
            line.table != "[upstream]" && !(line.table == "[server]" && line.key == "listen")
        })
        .collect();
    let decision = |key, value: &str| Line {
        table: "[decision]",
        key,
        value: value.to_owned(),
    };
    base.extend([
        decision("listen", r#"["127.0.0.1:0"]"#),
        decision("source", &quoted("request-line")),
        decision("path_prefix", &quoted("/authz")),
        decision("grpc_listen", r#"["127.0.0.1:0"]"#),
        decision("allow_non_loopback", "false"),
    ]);
    assert!(check(&render(&base)).is_ok(), "{}", render(&base));
    assert!(runtime.block_on(start(&render(&base))).is_ok());
    assert_agreement(&runtime, &base, 128);
}

/// `cases` configurations drawn from `base` with one value changed: each is accepted by
/// the check exactly when it starts.
fn assert_agreement(runtime: &tokio::runtime::Runtime, base: &[Line], cases: u32) {
    let config = ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    proptest!(config, |(field in 0..base.len(), value in values())| {
        let mut lines = base.to_vec();
        lines[field].value = value;
        let text = render(&lines);
        let checked = check(&text);
        let started = runtime.block_on(start(&text));
        prop_assert_eq!(
            checked.is_ok(),
            started.is_ok(),
            "{}\ncheck: {:?}\nrun: {:?}",
            text,
            checked.err(),
            started.err()
        );
    });
}
