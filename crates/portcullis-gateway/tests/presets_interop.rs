//! Every preset against a real OAuth 2.0 server: axa-group's oauth2-mock-server
//! (`tests/interop/mock-server.mjs`), one issuer per provider under its documented
//! issuer path, minting tokens in the provider's documented shape, signed with RS256
//! and ES256. One gateway serves all eight issuers, each with its `preset`, its keys
//! found by OpenID discovery on the live server, and routes requiring each provider's
//! scope and role. Per preset: the right scope and role → 200 (with either key), a
//! missing role or scope → 403, another audience (Cognito: another app client) → 401;
//! a Keycloak token without an audience mapper → 401, and `explain --fetch` says why
//! in plain words.
//!
//! Without `npm ci` in `tests/interop` the test prints a loud notice and passes,
//! unless `PORTCULLIS_REQUIRE_INTEROP` is set (`.ci/run` sets it).

#![allow(clippy::unwrap_used)] // Test setup panics on purpose.

mod common;

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::Bytes;
use common::{Answer, Gateway, Http, binary, serving};
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Full};
use portcullis_testkit::{EchoUpstream, NodePeer, Provider};
use serde_json::{Value, json};

/// The audience each provider's tokens are minted for, as the provider writes it: an
/// API identifier, Entra's application (client) id, Okta's authorization server
/// audience, Cognito's app client id (in `client_id`: its access tokens have no
/// `aud`), ZITADEL's project id.
fn audience(provider: Provider) -> &'static str {
    match provider {
        Provider::Entra => "8a5f4b3e-1c2d-4e6f-9a0b-1c2d3e4f5a6b",
        Provider::Auth0 => "https://orders.example.com",
        Provider::Okta => "api://orders",
        Provider::Cognito => "1example23456789",
        Provider::Zitadel => "164849683489734566",
        _ => "orders-api",
    }
}

/// What a token request asks the mock server for.
#[derive(Clone)]
struct Ask {
    provider: Provider,
    /// `None`: no audience asked for (Keycloak without an audience mapper).
    audience: Option<&'static str>,
    scope: Option<&'static str>,
    roles: Vec<&'static str>,
    alg: &'static str,
}

impl Ask {
    /// The provider's scope and role, for its audience, signed with RS256.
    fn granted(provider: Provider) -> Ask {
        Ask {
            provider,
            audience: Some(audience(provider)),
            scope: provider.scope(),
            roles: provider.role().into_iter().collect(),
            alg: "RS256",
        }
    }

    fn body(&self) -> Value {
        let scope = match self.scope {
            Some(scope) => format!("openid {scope}"),
            None => "openid".to_owned(),
        };
        let mut body = json!({
            "grant_type": "client_credentials",
            "scope": scope,
            "roles": self.roles,
            "alg": self.alg,
        });
        if let Some(audience) = self.audience {
            // Cognito names the audience by the app client: `client_id`, never `aud`.
            let key = if self.provider == Provider::Cognito {
                "client_id"
            } else {
                "aud"
            };
            body[key] = json!(audience);
        }
        body
    }
}

struct MockServer {
    _peer: NodePeer,
    issuers: BTreeMap<String, String>,
    http: Http,
}

impl MockServer {
    async fn start() -> Option<MockServer> {
        let peer = NodePeer::start("mock-server.mjs", "oauth2-mock-server")?;
        let http = Http::http1();
        let answer = http
            .get(&format!("{}/issuers", peer.origin()), None, &[])
            .await;
        assert_eq!(answer.status, StatusCode::OK);
        let issuers = serde_json::from_slice(&answer.body).unwrap();
        Some(MockServer {
            _peer: peer,
            issuers,
            http,
        })
    }

    fn issuer(&self, provider: Provider) -> &str {
        &self.issuers[provider.name()]
    }

    /// An access token from the provider's token endpoint.
    async fn token(&self, ask: &Ask) -> String {
        let endpoint = format!("{}/token", self.issuer(ask.provider).trim_end_matches('/'));
        let request = Request::post(endpoint)
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(ask.body().to_string())).boxed())
            .unwrap();
        let answer = self.http.send(request).await;
        let name = ask.provider.name();
        assert_eq!(answer.status, StatusCode::OK, "{name}: {:?}", answer.body);
        let json = answer.json();
        assert_eq!(json["token_type"], "Bearer", "{name}");
        json["access_token"].as_str().unwrap().to_owned()
    }

    /// The gateway configuration: every provider's issuer with its preset and keys by
    /// discovery, and per provider `/NAME/read` requiring its scope and `/NAME/admin`
    /// its role.
    fn config(&self, upstream: &EchoUpstream) -> String {
        let mut text = serving(upstream);
        for provider in Provider::ALL {
            let name = provider.name();
            text.push_str(&format!(
                "[[issuers]]\nissuer = \"{}\"\naudiences = [\"{}\"]\ndiscovery = true\n\
                 preset = \"{name}\"\nalgorithms = [\"RS256\", \"ES256\"]\n",
                self.issuer(provider),
                audience(provider),
            ));
        }
        for provider in Provider::ALL {
            let name = provider.name();
            text.push_str(&format!(
                "[[routes]]\nname = \"{name}-read\"\npath = \"/{name}/read\"\n"
            ));
            if let Some(scope) = provider.scope() {
                text.push_str(&format!("scopes_all = [\"{scope}\"]\n"));
            }
            if let Some(role) = provider.role() {
                text.push_str(&format!(
                    "[[routes]]\nname = \"{name}-admin\"\npath = \"/{name}/admin\"\n\
                     roles_any = [\"{role}\"]\n"
                ));
            }
        }
        text
    }
}

/// The token's decoded payload (unverified: for checking what the server minted).
fn payload(token: &str) -> Value {
    segment(token, 1)
}

/// Segment `index` of a compact JWS, decoded as JSON.
fn segment(token: &str, index: usize) -> Value {
    let segment = token.split('.').nth(index).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(segment).unwrap()).unwrap()
}

/// The header `typ` each provider documents: RFC 9068's, `JWT`, or none at all.
fn documented_typ(provider: Provider) -> Option<&'static str> {
    match provider {
        Provider::Rfc9068 => Some("at+jwt"),
        Provider::Keycloak | Provider::Entra | Provider::Auth0 => Some("JWT"),
        _ => None,
    }
}

fn assert_status(answer: &Answer, status: StatusCode, what: &str) {
    assert_eq!(
        answer.status,
        status,
        "{what}: {}",
        answer.header("www-authenticate")
    );
}

#[tokio::test]
async fn every_preset_against_oauth2_mock_server() {
    let Some(server) = MockServer::start().await else {
        return;
    };
    let upstream = EchoUpstream::start().await;
    let config = server.config(&upstream);
    let gateway = Gateway::start(&config);
    let http = Http::http1();
    let get = |path: String, token: String| {
        let url = gateway.url(&path);
        let http = &http;
        async move { http.get(&url, Some(&token), &[]).await }
    };

    for provider in Provider::ALL {
        let name = provider.name();
        let read = format!("/{name}/read");
        let admin = format!("/{name}/admin");
        let granted = Ask::granted(provider);

        for alg in ["RS256", "ES256"] {
            let ask = Ask {
                alg,
                ..granted.clone()
            };
            let token = server.token(&ask).await;
            let header = segment(&token, 0);
            assert_eq!(header["alg"], alg, "{name}");
            assert_eq!(
                header.get("typ").and_then(Value::as_str),
                documented_typ(provider),
                "{name}"
            );
            let answer = get(read.clone(), token.clone()).await;
            assert_status(&answer, StatusCode::OK, &format!("{name} {alg}"));
            if provider.role().is_some() {
                let answer = get(admin.clone(), token).await;
                assert_status(&answer, StatusCode::OK, &format!("{name} {alg} admin"));
            }
        }

        if provider.role().is_some() {
            let ask = Ask {
                roles: Vec::new(),
                ..granted.clone()
            };
            let answer = get(admin.clone(), server.token(&ask).await).await;
            assert_status(&answer, StatusCode::FORBIDDEN, &format!("{name} no role"));
            answer.assert_challenge_contains(StatusCode::FORBIDDEN, "insufficient_scope");
        }
        if provider.scope().is_some() {
            let ask = Ask {
                scope: None,
                ..granted.clone()
            };
            let answer = get(read.clone(), server.token(&ask).await).await;
            assert_status(&answer, StatusCode::FORBIDDEN, &format!("{name} no scope"));
            answer.assert_challenge_contains(StatusCode::FORBIDDEN, "insufficient_scope");
        }

        let elsewhere = Ask {
            audience: Some("other-api"),
            ..granted.clone()
        };
        let token = server.token(&elsewhere).await;
        if provider == Provider::Cognito {
            let claims = payload(&token);
            assert_eq!(claims["client_id"], "other-api");
            assert!(claims.get("aud").is_none(), "{claims}");
        }
        let answer = get(read.clone(), token).await;
        assert_status(
            &answer,
            StatusCode::UNAUTHORIZED,
            &format!("{name} other audience"),
        );
        answer.assert_challenge_contains(StatusCode::UNAUTHORIZED, r#"error="invalid_token""#);
    }

    // Keycloak without an audience mapper: aud "account" only, refused, and explained.
    let no_mapper = Ask {
        audience: None,
        ..Ask::granted(Provider::Keycloak)
    };
    let token = server.token(&no_mapper).await;
    assert_eq!(payload(&token)["aud"], "account");
    let answer = get("/keycloak/read".to_owned(), token.clone()).await;
    assert_status(
        &answer,
        StatusCode::UNAUTHORIZED,
        "keycloak without a mapper",
    );

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gateway.toml");
    std::fs::write(&path, &config).unwrap();
    let refused = explain_fetch(&path, &token).await;
    assert_eq!(refused.0, Some(1), "{}", refused.1);
    let out = &refused.1;
    assert!(out.contains("(preset keycloak)"), "{out}");
    assert!(out.contains("keys: fetched (2 keys)"), "{out}");
    assert!(out.contains("pass        signature"), "{out}");
    assert!(out.contains("refused by audience"), "{out}");
    assert!(
        out.contains(r#"aud is ["account"]; this issuer accepts ["orders-api"]"#),
        "{out}"
    );
    assert!(out.contains("Audience mapper"), "{out}");
    assert!(!out.contains(token.rsplit('.').next().unwrap()), "{out}");

    let accepted =
        explain_fetch(&path, &server.token(&Ask::granted(Provider::Cognito)).await).await;
    assert_eq!(accepted.0, Some(0), "{}", accepted.1);
    assert!(accepted.1.contains("\naccepted\n"), "{}", accepted.1);
    assert!(
        accepted.1.contains(r#"client_id "1example23456789""#),
        "{}",
        accepted.1
    );
}

/// `portcullis-gateway explain --fetch --config PATH` with `token` on stdin: the exit
/// code and stdout.
async fn explain_fetch(config: &Path, token: &str) -> (Option<i32>, String) {
    let config = config.to_owned();
    let token = token.to_owned();
    tokio::task::spawn_blocking(move || {
        let mut child = Command::new(binary())
            .args(["explain", "--fetch", "--config"])
            .arg(&config)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(format!("{token}\n").as_bytes())
            .unwrap();
        let output = child.wait_with_output().unwrap();
        (
            output.status.code(),
            String::from_utf8(output.stdout).unwrap(),
        )
    })
    .await
    .unwrap()
}
