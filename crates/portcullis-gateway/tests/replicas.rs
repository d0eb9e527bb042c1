//! Several gateway processes sharing one real `redis-server` (`[store]`): a DPoP proof
//! replayed to another replica is refused, one introspection call serves them all, a
//! revocation on one is enforced on every one within a second; with the store killed,
//! DPoP fails closed (503), introspection asks the issuer, nothing wrongly passes; with
//! it restarted, every replica recovers without a restart of its own.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::Bytes;
use common::{AUDIENCE, Gateway, Http, config};
use http::{Request, StatusCode};
use http_body_util::{BodyExt as _, Full};
use portcullis_jwt::Key;
use portcullis_testkit::fixture::unix_now;
use portcullis_testkit::{
    EchoUpstream, Endpoint, INTROSPECTION_CLIENT_ID, INTROSPECTION_CLIENT_SECRET, RedisServer,
    SigningAlgorithm, SigningKey, TestIssuer, access_token_hash,
};
use serde_json::json;

const ORIGIN: &str = "https://api.test";
const ADMIN_TOKEN: &str = "an admin bearer secret of 32+ characters";

fn env() -> [(&'static str, &'static str); 3] {
    [
        (
            "GATEWAY_TEST_STORE_KEY",
            "the replicas' keying secret, 32+ bytes",
        ),
        ("GATEWAY_TEST_ADMIN_TOKEN", ADMIN_TOKEN),
        (
            "GATEWAY_TEST_INTROSPECTION_SECRET",
            INTROSPECTION_CLIENT_SECRET,
        ),
    ]
}

/// Replicas of one configuration: the standard test issuer (JWTs) also introspecting
/// opaque tokens, `[store]` on `redis`, an operations listener with the admin endpoint,
/// and `extra`.
fn replicas(
    count: usize,
    issuer: &TestIssuer,
    upstream: &EchoUpstream,
    redis: &RedisServer,
    extra: &str,
) -> Vec<Gateway> {
    let text = config(
        issuer,
        upstream,
        &format!(
            r#"[issuers.introspection]
endpoint = "{introspect}"
client_id = "{INTROSPECTION_CLIENT_ID}"
client_secret_env = "GATEWAY_TEST_INTROSPECTION_SECRET"
cache_ttl = "60s"

[store]
url = "{url}"
key_secret_env = "GATEWAY_TEST_STORE_KEY"
admin_token_env = "GATEWAY_TEST_ADMIN_TOKEN"
response_timeout = "200ms"

[operations]
listen = "127.0.0.1:0"

{extra}
[[routes]]
name = "orders"
path_prefix = "/orders"
"#,
            introspect = issuer.introspection_url(),
            url = redis.url(),
        ),
    );
    (0..count)
        .map(|_| Gateway::start_with_env(&text, &env()))
        .collect()
}

/// Waits until `condition` holds, checking it every few milliseconds, for at most
/// `within`; panics with `what` otherwise.
async fn eventually<F: Future<Output = bool>>(
    within: Duration,
    what: &str,
    mut condition: impl FnMut() -> F,
) {
    let deadline = Instant::now() + within;
    while !condition().await {
        assert!(Instant::now() < deadline, "not within {within:?}: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn readyz(http: &Http, gateway: &Gateway) -> String {
    let operations = gateway.operations.unwrap();
    let answer = http
        .get(&format!("http://{operations}/readyz"), None, &[])
        .await;
    String::from_utf8_lossy(&answer.body).into_owned()
}

/// Waits until every replica says its store is `state` ("connected", "unreachable").
async fn store_is(http: &Http, gateways: &[Gateway], state: &str) {
    for gateway in gateways {
        eventually(Duration::from_secs(10), state, || async {
            readyz(http, gateway)
                .await
                .contains(&format!("store: {state}"))
        })
        .await;
    }
}

async fn admin(
    http: &Http,
    gateway: &Gateway,
    secret: &str,
    body: serde_json::Value,
) -> (StatusCode, serde_json::Value) {
    let operations = gateway.operations.unwrap();
    let request = Request::post(format!("http://{operations}/admin/revocations"))
        .header("authorization", format!("Bearer {secret}"))
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.to_string())).boxed())
        .unwrap();
    let answer = http.send(request).await;
    let json = serde_json::from_slice(&answer.body).unwrap_or(serde_json::Value::Null);
    (answer.status, json)
}

async fn status(http: &Http, gateway: &Gateway, token: &str) -> StatusCode {
    http.get(&gateway.url("/orders/1"), Some(token), &[])
        .await
        .status
}

#[tokio::test(flavor = "multi_thread")]
async fn a_dpop_proof_replayed_to_another_replica_is_refused_and_an_outage_fails_closed() {
    let Some(mut redis) = RedisServer::start() else {
        return;
    };
    let issuer = common::es256_issuer().await;
    let upstream = EchoUpstream::start().await;
    let gateways = replicas(
        2,
        &issuer,
        &upstream,
        &redis,
        &format!("[dpop]\norigin = \"{ORIGIN}\"\nmode = \"required\"\n"),
    );
    let http = Http::http1();
    store_is(&http, &gateways, "connected").await;

    let client = SigningKey::generate(SigningAlgorithm::ES256);
    let jkt = URL_SAFE_NO_PAD.encode(Key::from_jwk(&client.public_jwk()).unwrap().thumbprint());
    let token = issuer.mint_with(AUDIENCE, unix_now(), |token| {
        token.claim("cnf", json!({ "jkt": jkt }))
    });
    let authorization = format!("DPoP {token}");
    let send = |gateway: &Gateway, proof: String| {
        let url = gateway.url("/orders/7");
        let http = &http;
        let authorization = authorization.clone();
        async move {
            http.get(
                &url,
                None,
                &[("authorization", &authorization), ("dpop", &proof)],
            )
            .await
        }
    };
    let proof = || {
        client
            .dpop_proof("GET", &format!("{ORIGIN}/orders/7"), unix_now())
            .claim("ath", access_token_hash(&token))
            .sign()
    };

    let first = proof();
    assert_eq!(
        send(&gateways[0], first.clone()).await.status,
        StatusCode::OK
    );
    send(&gateways[1], first.clone())
        .await
        .assert_challenge_starts(
            StatusCode::UNAUTHORIZED,
            r#"DPoP realm="test", error="invalid_dpop_proof""#,
        );

    // The store killed: fail closed, a fresh proof is refused with 503 on every replica
    // (at once once the replica knows; within the response timeout before).
    redis.kill();
    for gateway in &gateways {
        let answer = send(gateway, proof()).await;
        assert_eq!(answer.status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(answer.header("retry-after"), "1");
    }
    // The replayed proof too: never accepted.
    assert_ne!(
        send(&gateways[0], first.clone()).await.status,
        StatusCode::OK
    );
    store_is(&http, &gateways, "unreachable").await;

    // Restarted (empty): every replica reconnects by itself.
    redis.restart();
    store_is(&http, &gateways, "connected").await;
    let after = proof();
    assert_eq!(
        send(&gateways[1], after.clone()).await.status,
        StatusCode::OK
    );
    assert_eq!(
        send(&gateways[0], after).await.status,
        StatusCode::UNAUTHORIZED
    );
    let metrics = gateways[0].metrics(&http).await;
    assert!(
        metrics.contains("portcullis_gateway_store_up 1"),
        "{metrics}"
    );
    assert!(
        !metrics.contains("portcullis_gateway_store_errors_total 0\n"),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn one_introspection_serves_every_replica_and_a_revocation_reaches_all_within_a_second() {
    let Some(mut redis) = RedisServer::start() else {
        return;
    };
    let issuer = TestIssuer::builder()
        .algorithm(SigningAlgorithm::ES256)
        .start()
        .await;
    let upstream = EchoUpstream::start().await;
    let gateways = replicas(3, &issuer, &upstream, &redis, "");
    let http = Http::http1();
    store_is(&http, &gateways, "connected").await;
    // Every replica listens for revocations before one is sent.
    for gateway in &gateways {
        eventually(Duration::from_secs(10), "subscribed", || async {
            gateway
                .metrics(&http)
                .await
                .contains("portcullis_gateway_store_revocations_subscribed 1")
        })
        .await;
    }

    let opaque = issuer.mint_opaque(AUDIENCE, unix_now(), "read");
    for gateway in &gateways {
        assert_eq!(status(&http, gateway, &opaque).await, StatusCode::OK);
    }
    assert_eq!(issuer.requests(Endpoint::Introspection), 1);

    // The admin endpoint: authenticated, and on the operations listener only.
    let (refused, _) = admin(&http, &gateways[0], "wrong secret", json!({"jti": "x"})).await;
    assert_eq!(refused, StatusCode::UNAUTHORIZED);
    let on_main = http
        .call("POST", &gateways[0].url("/admin/revocations"), None, &[])
        .await;
    assert_ne!(on_main.status, StatusCode::OK);
    let (bad, _) = admin(
        &http,
        &gateways[0],
        ADMIN_TOKEN,
        json!({"jti": "x", "sub": "y"}),
    )
    .await;
    assert_eq!(bad, StatusCode::BAD_REQUEST);

    // Revoked on one replica (by the token itself): refused on all within a second,
    // though every one holds it in its cache.
    let (revoked, body) = admin(&http, &gateways[0], ADMIN_TOKEN, json!({"token": opaque})).await;
    assert_eq!(
        (revoked, body["shared"].as_bool()),
        (StatusCode::OK, Some(true))
    );
    let sent = Instant::now();
    for gateway in &gateways {
        eventually(
            Duration::from_secs(1).saturating_sub(sent.elapsed()),
            "revoked token refused",
            || async { status(&http, gateway, &opaque).await == StatusCode::UNAUTHORIZED },
        )
        .await;
    }

    // By subject, on another replica, for JWTs too.
    let alice = common::token_for(&issuer, "read", &[("sub", json!("alice"))]);
    let bob = common::token_for(&issuer, "read", &[("sub", json!("bob"))]);
    for gateway in &gateways {
        assert_eq!(status(&http, gateway, &alice).await, StatusCode::OK);
    }
    let (revoked, _) = admin(&http, &gateways[2], ADMIN_TOKEN, json!({"sub": "alice"})).await;
    assert_eq!(revoked, StatusCode::OK);
    let sent = Instant::now();
    for gateway in &gateways {
        eventually(
            Duration::from_secs(1).saturating_sub(sent.elapsed()),
            "alice refused",
            || async { status(&http, gateway, &alice).await == StatusCode::UNAUTHORIZED },
        )
        .await;
        assert_eq!(status(&http, gateway, &bob).await, StatusCode::OK);
    }

    // The store killed: introspection asks the issuer (the source of truth); what was
    // revoked stays refused; a revocation now is applied here only, and says so.
    redis.kill();
    let fresh = issuer.mint_opaque(AUDIENCE, unix_now(), "read");
    let asked = issuer.requests(Endpoint::Introspection);
    assert_eq!(status(&http, &gateways[1], &fresh).await, StatusCode::OK);
    assert_eq!(issuer.requests(Endpoint::Introspection), asked + 1);
    let inactive = issuer.mint_opaque(AUDIENCE, unix_now(), "read");
    issuer.revoke(&inactive);
    assert_eq!(
        status(&http, &gateways[1], &inactive).await,
        StatusCode::UNAUTHORIZED
    );
    for gateway in &gateways {
        assert_eq!(
            status(&http, gateway, &opaque).await,
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            status(&http, gateway, &alice).await,
            StatusCode::UNAUTHORIZED
        );
    }
    let (here_only, body) = admin(&http, &gateways[0], ADMIN_TOKEN, json!({"sub": "bob"})).await;
    assert_eq!(
        (here_only, body["shared"].as_bool()),
        (StatusCode::SERVICE_UNAVAILABLE, Some(false))
    );
    assert_eq!(
        status(&http, &gateways[0], &bob).await,
        StatusCode::UNAUTHORIZED
    );

    // Restarted: shared again, without restarting a replica.
    redis.restart();
    store_is(&http, &gateways, "connected").await;
    let later = issuer.mint_opaque(AUDIENCE, unix_now(), "read");
    let asked = issuer.requests(Endpoint::Introspection);
    for gateway in &gateways {
        assert_eq!(status(&http, gateway, &later).await, StatusCode::OK);
    }
    assert_eq!(issuer.requests(Endpoint::Introspection), asked + 1);
}

#[test]
fn the_store_section_is_checked_at_its_key_paths() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("key");
    std::fs::write(&key, "a keying secret of at least 32 bytes").unwrap();
    let short = dir.path().join("short");
    std::fs::write(&short, "too short").unwrap();
    let store = |extra: &str| {
        format!(
            "[store]\nurl = \"redis://127.0.0.1:6379\"\nkey_secret_file = {:?}\n{extra}",
            key.to_str().unwrap()
        )
    };
    assert_eq!(common::refused("[store]\nurl = \"redis://h\"\n").0, "store");
    assert_eq!(
        common::refused(&format!(
            "[store]\nurl = \"redis://h\"\nkey_secret_file = {:?}\n",
            short.to_str().unwrap()
        ))
        .0,
        "store.key_secret_env"
    );
    assert_eq!(
        common::refused(&store("").replace("redis://", "http://")).0,
        "store.url"
    );
    assert_eq!(
        common::refused(&store("").replace("127.0.0.1", "u:secret@127.0.0.1")).0,
        "store.url"
    );
    assert_eq!(
        common::refused(&store("admin_token_file = \"/nonexistent\"\n")).0,
        "store.admin_token_file"
    );
    assert_eq!(
        common::refused(&store(&format!(
            "admin_token_file = {:?}\n",
            key.to_str().unwrap()
        )))
        .0,
        "store.admin_token_env",
        "the admin endpoint needs an operations listener of its own"
    );
    assert_eq!(
        common::refused(&store("dpop_replay = \"sometimes\"\n")).0,
        "store.dpop_replay"
    );
    assert_eq!(
        common::refused(&store("tls_ca_file = \"/nonexistent/ca.pem\"\n")).0,
        "store.tls_ca_file"
    );
    assert_eq!(
        common::refused(&store(&format!(
            "tls_ca_file = {:?}\n",
            key.to_str().unwrap()
        )))
        .0,
        "store.tls_ca_file",
        "a CA is for rediss:// only"
    );
    assert_eq!(
        common::refused(&format!(
            "{}[dpop]\norigin = \"{ORIGIN}\"\nreplay_capacity = 10\n",
            store("")
        ))
        .0,
        "dpop.replay_capacity"
    );
    // In process: the capacity is the in-process store's again.
    assert!(
        portcullis_gateway::Config::from_toml(
            &format!(
                "{}{}dpop_replay = \"in_process\"\n[dpop]\norigin = \"{ORIGIN}\"\nreplay_capacity = 10\n",
                common::MINIMAL,
                store("")
            ),
            "gateway.toml"
        )
        .is_ok()
    );
}
