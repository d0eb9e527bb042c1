//! Presets in the gateway: `preset = "..."` on an issuer, roles and audiences per
//! route, claims named by JSON Pointer in conditions and forwarded headers; each
//! refused key at its key path; and, for every provider's token shape, every claim
//! (and every member of an object claim) removed in turn is answered 200, 401 or 403,
//! never a 500, on a route reading scopes and roles and one reading nested claims.

#![allow(clippy::unwrap_used)]

mod common;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::OnceLock;

use common::{Http, MINIMAL, refused, serving, write_jwks};
use http::StatusCode;
use portcullis_gateway::{Config, StartError};
use portcullis_testkit::EchoUpstream;
use portcullis_testkit::fixture::unix_now;
use portcullis_testkit::{Provider, SigningAlgorithm, SigningKey};
use serde_json::Value;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

const ISS: &str = "https://issuer.test/";
const AUD: &str = "orders-api";

fn key() -> &'static SigningKey {
    static KEY: OnceLock<SigningKey> = OnceLock::new();
    KEY.get_or_init(|| SigningKey::generate(SigningAlgorithm::ES256))
}

fn issuer(extra: &str) -> String {
    format!(
        "[[issuers]]\nissuer = \"{ISS}\"\naudiences = [\"{AUD}\", \"billing-api\"]\n\
         jwks_uri = \"https://issuer.test/jwks\"\n{extra}\n"
    )
}

#[test]
fn new_keys_are_checked_as_read_at_their_key_paths() {
    let (path, message) = refused(&issuer("preset = \"azure\""));
    assert_eq!(path, "issuers[0].preset");
    assert!(
        message.contains("keycloak") && message.contains("spring-authorization-server"),
        "{message}"
    );
    for (keys, path) in [
        ("roles_claim = \"/a~2\"", "issuers[0].roles_claim"),
        ("roles_claim = \"\"", "issuers[0].roles_claim"),
        ("audience_claim = \"azp\"", "issuers[0].audience_claim"),
        ("scope_claim = \"\"", "issuers[0].scope_claim"),
    ] {
        assert_eq!(refused(&issuer(keys)).0, path, "{keys}");
    }
    let route = |keys: &str| {
        format!(
            "{}[[routes]]\npath = \"/a\"\n{keys}\n",
            issuer("preset = \"keycloak\"")
        )
    };
    for (keys, path) in [
        ("roles_all = [\"\"]", "routes[0].roles_all[0]"),
        ("roles_any = []", "routes[0].roles_any"),
        ("audiences = [\"other-api\"]", "routes[0].audiences[0]"),
        (
            "audiences = [\"billing-api\", \"x\"]",
            "routes[0].audiences[1]",
        ),
        (
            "roles_any = [\"admin\"]\nrequire = \"anonymous\"",
            "routes[0].roles_any",
        ),
    ] {
        assert_eq!(refused(&route(keys)).0, path, "{keys}");
    }
    for (keys, path) in [
        (
            "required_claim_values = { ver = [] }",
            "issuers[0].required_claim_values.ver",
        ),
        (
            "required_claim_values = { ver = [1] }",
            "issuers[0].required_claim_values.ver[0]",
        ),
        (
            "required_claim_values = { \"/ver\" = [\"1.0\"] }",
            "issuers[0].required_claim_values./ver",
        ),
    ] {
        assert_eq!(refused(&issuer(keys)).0, path, "{keys}");
    }
    let (path, _) = refused(&route("claim_equals = { \"/a~\" = \"x\" }"));
    assert!(path.starts_with("routes[0].claim_equals"), "{path}");
    // Roles with no issuer reading any could never be met.
    let no_roles = format!(
        "{}[[routes]]\npath = \"/a\"\nroles_any = [\"admin\"]\n",
        issuer("")
    );
    let (path, message) = refused(&no_roles);
    assert_eq!(path, "routes[0].roles_any");
    assert!(message.contains("roles_claim"), "{message}");
    // A preset's relaxed profile can be put back key by key; it is accepted as written.
    Config::from_toml(
        &format!(
            "{MINIMAL}{}[[routes]]\npath = \"/a\"\nroles_any = [\"admin\"]\naudiences = [\"billing-api\"]\n\
             claim_equals = {{ \"/realm_access/roles/0\" = \"x\", azp = \"web\" }}\n\
             [forward]\nclaims = {{ \"/realm_access/roles\" = \"x-roles\", sub = \"x-sub\" }}\n",
            issuer("preset = \"keycloak\"\nrequire_access_token_type = true\nallow_scope_array = true")
        ),
        "gateway.toml",
    )
    .unwrap();
}

/// One gateway per provider, with its preset, a route requiring its scope and role, a
/// route narrowed to another audience, and its roles forwarded by pointer.
#[tokio::test]
async fn each_provider_through_the_gateway() {
    let upstream = EchoUpstream::start().await;
    let http = Http::http1();
    let (_dir, keys) = key_file();
    for provider in Provider::ALL {
        let name = provider.name();
        let roles_claim = match provider {
            Provider::Rfc9068 | Provider::SpringAuthorizationServer => "roles_claim = \"/roles\"",
            _ => "",
        };
        let scopes = provider
            .scope()
            .map_or(String::new(), |s| format!("scopes_all = [\"{s}\"]"));
        let roles = provider
            .role()
            .map_or(String::new(), |r| format!("roles_any = [\"{r}\"]"));
        let text = format!(
            r#"{serving}
[[issuers]]
issuer = "{ISS}"
audiences = ["{AUD}", "billing-api"]
jwks_file = "{keys}"
preset = "{name}"
{roles_claim}
[[routes]]
path = "/orders"
{scopes}
{roles}
[[routes]]
path = "/billing"
audiences = ["billing-api"]
[[routes]]
path = "/conditions"
claim_equals = {{ "/realm_access/roles/2" = "orders-reader" }}
claim_contains = {{ "/cognito:groups" = "orders-reader", scope = "openid" }}
[forward]
claims = {{ sub = "x-sub", "/iss" = "x-iss", "/realm_access/roles" = "x-roles", "/urn:zitadel:iam:org:project:roles" = "x-zitadel-roles" }}
"#,
            serving = serving(&upstream),
            keys = keys.display(),
        );
        let gateway = InProcess::start(&text).await;
        let url = |path: &str| gateway.url(path);

        let token = provider.access_token(key(), ISS, AUD, unix_now()).sign();
        let answer = http.get(&url("/orders"), Some(&token), &[]).await;
        assert_eq!(answer.status, StatusCode::OK, "{name}");
        assert_eq!(answer.json()["headers"]["x-iss"], ISS, "{name}");
        let answer = http.get(&url("/billing"), Some(&token), &[]).await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{name}");

        let claims: serde_json::Map<String, Value> = serde_json::from_str(
            &provider
                .access_token(key(), ISS, AUD, unix_now())
                .claims_json(),
        )
        .unwrap();
        // Every claim removed in turn, and every member of an object claim (nested
        // claims read by pointer: roles, conditions, forwarded headers).
        let mut variants = Vec::new();
        for (claim, value) in &claims {
            variants.push((
                claim.clone(),
                provider
                    .access_token(key(), ISS, AUD, unix_now())
                    .without_claim(claim),
            ));
            if let Value::Object(members) = value {
                for member in members.keys() {
                    let mut fewer = members.clone();
                    fewer.remove(member);
                    variants.push((
                        format!("{claim}/{member}"),
                        provider
                            .access_token(key(), ISS, AUD, unix_now())
                            .claim(claim, Value::Object(fewer)),
                    ));
                }
            }
        }
        for (removed, token) in variants {
            let token = token.sign();
            for path in ["/orders", "/conditions"] {
                let status = http.get(&url(path), Some(&token), &[]).await.status;
                assert!(
                    [
                        StatusCode::OK,
                        StatusCode::UNAUTHORIZED,
                        StatusCode::FORBIDDEN
                    ]
                    .contains(&status),
                    "{name} without {removed} on {path}: {status}"
                );
            }
        }
        // A role the token lacks: 403.
        if let Some(role) = provider.role() {
            let token = provider
                .access_token(key(), ISS, AUD, unix_now())
                .claim(role_claim(provider), Value::Array(Vec::new()))
                .sign();
            let status = http.get(&url("/orders"), Some(&token), &[]).await.status;
            assert_eq!(status, StatusCode::FORBIDDEN, "{name} without {role}");
        }
        gateway.stop().await;
    }
}

/// A temp dir holding [`key`]'s JWK Set, and the file's path; the file goes with the dir.
fn key_file() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let keys = write_jwks(dir.path(), [key()]);
    (dir, keys)
}

/// A gateway configured by `text`, its sources checked, serving in this process until
/// [`InProcess::stop`].
struct InProcess {
    addr: SocketAddr,
    stop: oneshot::Sender<()>,
    serving: JoinHandle<Result<(), StartError>>,
}

impl InProcess {
    async fn start(text: &str) -> InProcess {
        let config = Config::from_toml(text, "gateway.toml").unwrap();
        config.check_sources().unwrap();
        let gateway = portcullis_gateway::Gateway::bind(config).await.unwrap();
        let addr = gateway.local_addrs()[0];
        let (stop, stopped) = oneshot::channel::<()>();
        let serving = tokio::spawn(gateway.serve(async {
            let _ = stopped.await;
        }));
        InProcess {
            addr,
            stop,
            serving,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Stops the gateway and asserts that it served to the end without an error.
    async fn stop(self) {
        self.stop.send(()).unwrap();
        self.serving.await.unwrap().unwrap();
    }
}

/// The top-level claim holding each provider's roles.
fn role_claim(provider: Provider) -> &'static str {
    match provider {
        Provider::Keycloak => "realm_access",
        Provider::Entra => "roles",
        Provider::Auth0 => "permissions",
        Provider::Okta => "groups",
        Provider::Cognito => "cognito:groups",
        Provider::Zitadel => "urn:zitadel:iam:org:project:roles",
        _ => "roles",
    }
}

/// Entra v1.0 tokens through the gateway, configured as `docs/providers.md` shows:
/// `ver` must be `1.0` (`required_claim_values`), the client is `appid`.
#[tokio::test]
async fn entra_v1_through_the_gateway() {
    let upstream = EchoUpstream::start().await;
    let http = Http::http1();
    let (_dir, keys) = key_file();
    let v1_issuer = "https://sts.windows.net/72f988bf-0000-0000-0000-000000000000/";
    let text = format!(
        r#"{serving}
[[issuers]]
issuer = "{v1_issuer}"
audiences = ["api://orders"]
jwks_file = "{keys}"
require_access_token_type = false
scope_claim = "scp"
roles_claim = "/roles"
required_claims = ["appid", "tid", "oid"]
required_claim_values = {{ ver = ["1.0"] }}
[[routes]]
path = "/orders"
scopes_all = ["orders.read"]
"#,
        serving = serving(&upstream),
        keys = keys.display(),
    );
    let gateway = InProcess::start(&text).await;
    let url = gateway.url("/orders");
    let now = unix_now();
    let v1 = |ver: &str| {
        key()
            .token()
            .header("typ", "JWT")
            .claim("iss", v1_issuer)
            .claim("aud", "api://orders")
            .claim("iat", now)
            .claim("exp", now + 300)
            .claim("ver", ver)
            .claim("appid", "6e74172b-be56-4843-9ff4-e66a39bb12e3")
            .claim("oid", "690222be-ff1a-4d56-abd1-7e4f7d38e474")
            .claim("tid", "72f988bf-0000-0000-0000-000000000000")
            .claim("sub", "alice")
            .claim("scp", "orders.read")
    };
    let answer = http.get(&url, Some(&v1("1.0").sign()), &[]).await;
    assert_eq!(answer.status, StatusCode::OK);
    for token in [
        v1("2.0").sign(),
        v1("1.0").without_claim("ver").sign(),
        v1("1.0").claim("ver", 1.0).sign(),
        v1("1.0").without_claim("appid").sign(),
    ] {
        let answer = http.get(&url, Some(&token), &[]).await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    }
    gateway.stop().await;
}

/// A value written for a claim replaces the preset's values for it, not adds to them.
#[test]
fn written_claim_values_replace_the_presets() {
    let config = Config::from_toml(
        &format!(
            "{MINIMAL}{}",
            issuer("preset = \"entra\"\nrequired_claim_values = { ver = [\"1.0\"] }")
        ),
        "gateway.toml",
    )
    .unwrap();
    let debug = format!("{config:?}");
    assert!(debug.contains(r#"("ver", ["1.0"])"#), "{debug}");
    assert!(!debug.contains(r#""2.0""#), "{debug}");
}
