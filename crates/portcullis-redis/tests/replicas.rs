//! Two replicas (two stores, two verifiers) sharing one real `redis-server` on a free
//! loopback port: a replayed proof is refused by the other, one introspection call
//! serves both, a revocation on one reaches the other within a second; with the server
//! killed, nothing is accepted that should not be; restarted, everything recovers.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use portcullis_issuer::{
    ClientAuth, HttpClient, IntrospectionVerifier, ProofId, ProofReplayStore, ProofUse,
    ProofUseCheck, Revocations, Revoked, Secret, SharedKeys, VerifyErrorKind,
};
use portcullis_jwt::{ManualClock, Validation};
use portcullis_redis::{
    RedisProofReplayStore, RedisRevocations, RedisSharedTier, RedisStore, RevokeError,
};
use portcullis_testkit::fixture::{AUDIENCE, NOW};
use portcullis_testkit::{
    Endpoint, INTROSPECTION_CLIENT_ID, INTROSPECTION_CLIENT_SECRET, RedisServer, TestIssuer,
};
use tokio::sync::watch;

const SECRET: &[u8] = b"a secret the replicas share, 32+ bytes";
const WAIT: Duration = Duration::from_secs(5);

fn store(redis: &RedisServer) -> RedisStore {
    let store = RedisStore::builder(redis.url())
        .health_interval(Duration::from_millis(100))
        .max_backoff(Duration::from_millis(100))
        .build()
        .unwrap();
    store.start(&tokio::runtime::Handle::current());
    store
}

async fn connected(stores: &[&RedisStore]) {
    for store in stores {
        assert!(store.connected_within(WAIT).await, "{store:?}");
    }
}

async fn check(store: &impl ProofReplayStore, id: ProofId) -> Result<ProofUse, String> {
    let now = SystemTime::now();
    match store.check_and_remember(id, now + Duration::from_secs(60), now) {
        ProofUseCheck::Done(answer) => answer.map_err(|e| e.to_string()),
        ProofUseCheck::Pending(future) => future.await.map_err(|e| e.to_string()),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_proof_replayed_to_another_replica_is_refused_and_an_outage_fails_closed() {
    let Some(mut redis) = RedisServer::start() else {
        return;
    };
    let (a, b) = (store(&redis), store(&redis));
    connected(&[&a, &b]).await;
    let (a_replay, b_replay) = (
        RedisProofReplayStore::new(a.clone()),
        RedisProofReplayStore::new(b.clone()),
    );
    let id = ProofId::new(&[1; 32], "jti-1");
    assert_eq!(check(&a_replay, id).await, Ok(ProofUse::First));
    assert_eq!(check(&b_replay, id).await, Ok(ProofUse::Replayed));
    assert_eq!(check(&a_replay, id).await, Ok(ProofUse::Replayed));

    // Of concurrent uses on both replicas, exactly one is first.
    let raced = ProofId::new(&[2; 32], "raced");
    let mut tasks = Vec::new();
    for i in 0..16 {
        let replay = if i % 2 == 0 {
            a_replay.clone()
        } else {
            b_replay.clone()
        };
        tasks.push(tokio::spawn(async move { check(&replay, raced).await }));
    }
    let mut firsts = 0;
    for task in tasks {
        if task.await.unwrap() == Ok(ProofUse::First) {
            firsts += 1;
        }
    }
    assert_eq!(firsts, 1);

    // Down: every answer is an error (the layer's 503), never a pass.
    redis.kill();
    for i in 0..5u8 {
        let fresh = ProofId::new(&[10 + i; 32], "during the outage");
        assert!(check(&a_replay, fresh).await.is_err());
    }
    assert!(check(&b_replay, id).await.is_err());

    // Back (empty): both replicas reconnect by themselves.
    redis.restart();
    connected(&[&a, &b]).await;
    let after = ProofId::new(&[3; 32], "after");
    assert_eq!(check(&b_replay, after).await, Ok(ProofUse::First));
    assert_eq!(check(&a_replay, after).await, Ok(ProofUse::Replayed));
    assert!(a.health().connections >= 2, "{:?}", a.health());
    assert!(a.health().errors > 0);
}

fn verifier(issuer: &TestIssuer, store: &RedisStore, keys: SharedKeys) -> IntrospectionVerifier {
    verifier_at(issuer, store, keys, &ManualClock::at_unix(NOW))
}

fn verifier_at(
    issuer: &TestIssuer,
    store: &RedisStore,
    keys: SharedKeys,
    clock: &ManualClock,
) -> IntrospectionVerifier {
    let auth = ClientAuth::ClientSecretBasic {
        client_id: INTROSPECTION_CLIENT_ID.into(),
        client_secret: Secret::new(INTROSPECTION_CLIENT_SECRET),
    };
    let validation = Validation::builder()
        .issuer(issuer.url())
        .audience(AUDIENCE)
        .build()
        .unwrap();
    IntrospectionVerifier::builder(issuer.introspection_url(), auth, validation)
        .http_client(HttpClient::builder().build().unwrap())
        .clock(clock.clone())
        .cache_ttl(Duration::from_secs(60))
        .shared_tier(RedisSharedTier::new(store.clone()), keys)
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn one_introspection_serves_both_replicas_and_an_outage_asks_the_issuer() {
    let Some(mut redis) = RedisServer::start() else {
        return;
    };
    let issuer = TestIssuer::start().await;
    let (sa, sb) = (store(&redis), store(&redis));
    connected(&[&sa, &sb]).await;
    let keys = SharedKeys::new(SECRET).unwrap();
    let (a, b) = (
        verifier(&issuer, &sa, keys.clone()),
        verifier(&issuer, &sb, keys.clone()),
    );

    let token = issuer.mint_opaque(AUDIENCE, NOW, "read");
    a.verify(&token).await.unwrap();
    b.verify(&token).await.unwrap();
    assert_eq!(issuer.requests(Endpoint::Introspection), 1);
    assert_eq!(b.shared_tier_stats().unwrap().hits, 1);

    // A refusal is shared too, and never turns into an acceptance.
    let unknown = "not-a-token-the-issuer-made";
    let refused = a.verify(unknown).await.unwrap_err();
    assert_eq!(refused.kind(), VerifyErrorKind::InvalidToken);
    assert_eq!(
        b.verify(unknown).await.unwrap_err().kind(),
        VerifyErrorKind::InvalidToken
    );
    assert_eq!(issuer.requests(Endpoint::Introspection), 2);

    // A replica with another secret cannot read (nor forge) the records: it asks.
    let other = verifier(&issuer, &sb, SharedKeys::new(&[5; 40]).unwrap());
    other.verify(&token).await.unwrap();
    assert_eq!(issuer.requests(Endpoint::Introspection), 3);

    // A rotation: the new secret, the old one kept for reading.
    let rotated = verifier(
        &issuer,
        &sb,
        SharedKeys::new(&[6; 40])
            .unwrap()
            .with_previous(SECRET)
            .unwrap(),
    );
    rotated.verify(&token).await.unwrap();
    assert_eq!(issuer.requests(Endpoint::Introspection), 3);

    // Down: the issuer, the source of truth, is asked; a revoked token is refused.
    redis.kill();
    let fresh = issuer.mint_opaque(AUDIENCE, NOW, "read");
    b.verify(&fresh).await.unwrap();
    assert_eq!(issuer.requests(Endpoint::Introspection), 4);
    let revoked = issuer.mint_opaque(AUDIENCE, NOW, "read");
    issuer.revoke(&revoked);
    assert_eq!(
        a.verify(&revoked).await.unwrap_err().kind(),
        VerifyErrorKind::InvalidToken
    );
    assert!(b.shared_tier_stats().unwrap().errors > 0);

    // Back: shared again, without a restart of either replica.
    redis.restart();
    connected(&[&sa, &sb]).await;
    let later = issuer.mint_opaque(AUDIENCE, NOW, "read");
    let asked = issuer.requests(Endpoint::Introspection);
    a.verify(&later).await.unwrap();
    b.verify(&later).await.unwrap();
    assert_eq!(issuer.requests(Endpoint::Introspection), asked + 1);
}

/// Revocations heard by `revocations`, counted on a channel to wait on.
fn heard(revocations: &Revocations) -> watch::Receiver<usize> {
    let (sender, receiver) = watch::channel(0);
    let sender = Arc::new(sender);
    revocations.on_revoke(move |_| {
        sender.send_modify(|count| *count += 1);
    });
    receiver
}

async fn subscribed(revocations: &[&RedisRevocations]) {
    for r in revocations {
        assert!(r.subscribed_within(WAIT).await, "never subscribed");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_revocation_on_one_replica_reaches_the_other_within_a_second() {
    let Some(mut redis) = RedisServer::start() else {
        return;
    };
    let (sa, sb) = (store(&redis), store(&redis));
    connected(&[&sa, &sb]).await;
    let keys = SharedKeys::new(SECRET).unwrap();
    let a = RedisRevocations::new(sa.clone(), Revocations::new(keys.clone()));
    let b = RedisRevocations::new(sb.clone(), Revocations::new(keys.clone()));
    let runtime = tokio::runtime::Handle::current();
    a.start(&runtime);
    b.start(&runtime);
    subscribed(&[&a, &b]).await;
    let mut b_heard = heard(b.revocations());

    let until = SystemTime::now() + Duration::from_secs(600);
    a.revoke(Revoked::Token(keys.hash("opaque-1")), until)
        .await
        .unwrap();
    tokio::time::timeout(Duration::from_secs(1), b_heard.wait_for(|n| *n >= 1))
        .await
        .expect("heard within a second")
        .unwrap();
    assert!(b.revocations().token_revoked("opaque-1"));
    assert!(!b.revocations().token_revoked("opaque-2"));
    // Kept in the store with the revocation's lifetime, never the token.
    let mut raw = redis::Client::open(redis.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let members: Vec<String> = redis::cmd("ZRANGE")
        .arg("portcullis:revocations")
        .arg(0)
        .arg(-1)
        .query_async(&mut raw)
        .await
        .unwrap();
    assert_eq!(
        members,
        [format!("token {}", keys.hash("opaque-1").to_hex())]
    );
    let ttl: i64 = redis::cmd("PTTL")
        .arg("portcullis:revocations")
        .query_async(&mut raw)
        .await
        .unwrap();
    assert!((590_000..=600_000).contains(&ttl), "{ttl}");
    drop(raw);

    // Down: applied here, reported as not shared.
    redis.kill();
    let error = a
        .revoke(Revoked::Subject("mallory".into()), until)
        .await
        .unwrap_err();
    assert!(matches!(error, RevokeError::NotShared(_)), "{error:?}");

    // Back, empty: a replica starting now loads what is revoked from the set; one
    // already running hears new revocations again.
    redis.restart();
    connected(&[&sa, &sb]).await;
    subscribed(&[&a, &b]).await;
    let c = RedisRevocations::new(store(&redis), Revocations::new(keys.clone()));
    a.revoke(Revoked::ClientId("app".into()), until)
        .await
        .unwrap();
    tokio::time::timeout(Duration::from_secs(1), b_heard.wait_for(|n| *n >= 2))
        .await
        .expect("heard within a second after the restart")
        .unwrap();
    c.start(&runtime);
    subscribed(&[&c]).await;
    let d_until = c.revocations().len();
    assert_eq!(d_until, 1, "the set written after the restart is loaded");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_password_protected_server_needs_the_password() {
    let Some(redis) = RedisServer::start_with(&["--requirepass", "redis-password-1"]) else {
        return;
    };
    let with = RedisStore::builder(redis.url())
        .password(Secret::new("redis-password-1"))
        .build()
        .unwrap();
    let without = RedisStore::builder(redis.url())
        .max_backoff(Duration::from_millis(50))
        .build()
        .unwrap();
    let runtime = tokio::runtime::Handle::current();
    with.start(&runtime);
    without.start(&runtime);
    connected(&[&with]).await;
    let replay = RedisProofReplayStore::new(with.clone());
    assert_eq!(
        check(&replay, ProofId::new(&[4; 32], "p")).await,
        Ok(ProofUse::First)
    );
    // Refused by the server: never connected, every answer an error.
    assert!(!without.connected_within(Duration::from_millis(300)).await);
    let refused = RedisProofReplayStore::new(without.clone());
    assert!(check(&refused, ProofId::new(&[5; 32], "p")).await.is_err());
    assert!(without.health().errors > 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_shared_answer_is_never_used_past_its_writers_cache_lifetime() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let issuer = TestIssuer::start().await;
    let (sa, sb) = (store(&redis), store(&redis));
    connected(&[&sa, &sb]).await;
    let keys = SharedKeys::new(SECRET).unwrap();
    let (a_clock, b_clock) = (ManualClock::at_unix(NOW), ManualClock::at_unix(NOW));
    let a = verifier_at(&issuer, &sa, keys.clone(), &a_clock);
    let b = verifier_at(&issuer, &sb, keys.clone(), &b_clock);
    // Valid for an hour; cached (and shared) for 60 s from the issuer's answer.
    let token = issuer.mint_opaque(AUDIENCE, NOW, "read");
    a.verify(&token).await.unwrap();
    b_clock.advance(Duration::from_secs(59));
    b.verify(&token).await.unwrap();
    assert_eq!(issuer.requests(Endpoint::Introspection), 1, "shared");
    // Past the 60 s on B's clock: B's own copy has gone, and the record (still in Redis,
    // whose clock has not moved) is not used: the issuer is asked, and says inactive.
    issuer.revoke(&token);
    b_clock.advance(Duration::from_secs(2));
    assert_eq!(
        b.verify(&token).await.unwrap_err().kind(),
        VerifyErrorKind::InvalidToken
    );
    assert_eq!(issuer.requests(Endpoint::Introspection), 2);
}

/// A private CA and a certificate it signed for 127.0.0.1 (with its key), made by the
/// `openssl` command: `(ca, certificate, key)`, or `None` without the command.
fn private_ca(dir: &std::path::Path) -> Option<[std::path::PathBuf; 3]> {
    let path = |name: &str| dir.join(name);
    std::fs::write(
        path("ext.cnf"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n",
    )
    .unwrap();
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    let steps: [Vec<std::ffi::OsString>; 3] = [
        [
            "req",
            "-x509",
            "-days",
            "1",
            "-subj",
            "/CN=portcullis test CA",
        ]
        .iter()
        .chain(&ec)
        .map(Into::into)
        .chain([
            "-keyout".into(),
            path("ca.key").into(),
            "-out".into(),
            path("ca.pem").into(),
        ])
        .collect(),
        ["req", "-subj", "/CN=127.0.0.1"]
            .iter()
            .chain(&ec)
            .map(Into::into)
            .chain([
                "-keyout".into(),
                path("key.pem").into(),
                "-out".into(),
                path("req.csr").into(),
            ])
            .collect(),
        ["x509", "-req", "-days", "1", "-CAcreateserial"]
            .iter()
            .map(Into::into)
            .chain([
                "-in".into(),
                path("req.csr").into(),
                "-CA".into(),
                path("ca.pem").into(),
                "-CAkey".into(),
                path("ca.key").into(),
                "-extfile".into(),
                path("ext.cnf").into(),
                "-out".into(),
                path("cert.pem").into(),
            ])
            .collect(),
    ];
    for args in steps {
        let made = std::process::Command::new("openssl")
            .args(args)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|status| status.success());
        if !made {
            return None;
        }
    }
    Some([path("ca.pem"), path("cert.pem"), path("key.pem")])
}

#[tokio::test(flavor = "multi_thread")]
async fn rediss_with_a_private_ca() {
    let dir = std::env::temp_dir().join(format!("portcullis-redis-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let Some([ca, certificate, key]) = private_ca(&dir) else {
        assert!(
            std::env::var_os(portcullis_testkit::REQUIRE_REDIS).is_none(),
            "the openssl command is needed to make the test's certificates"
        );
        eprintln!("skipped: no openssl command to make a certificate");
        return;
    };
    let Some(redis) = RedisServer::start_tls(&certificate, &key) else {
        return;
    };
    assert!(redis.url().starts_with("rediss://"));
    let trusted = RedisStore::builder(redis.url())
        .ca_certificate(std::fs::read(&ca).unwrap())
        .build()
        .unwrap();
    // The public roots do not know this CA: never connected.
    let untrusted = RedisStore::builder(redis.url()).build().unwrap();
    let runtime = tokio::runtime::Handle::current();
    trusted.start(&runtime);
    untrusted.start(&runtime);
    connected(&[&trusted]).await;
    let replay = RedisProofReplayStore::new(trusted.clone());
    let id = ProofId::new(&[6; 32], "over tls");
    assert_eq!(check(&replay, id).await, Ok(ProofUse::First));
    assert_eq!(check(&replay, id).await, Ok(ProofUse::Replayed));
    assert!(!untrusted.connected_within(Duration::from_millis(300)).await);
    assert_eq!(
        RedisStore::builder("redis://127.0.0.1")
            .ca_certificate(b"pem".to_vec())
            .build()
            .unwrap_err()
            .setting(),
        Some("ca_certificate")
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
