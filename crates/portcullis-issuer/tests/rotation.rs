//! Key rotation, unknown-`kid` floods and removed keys, against a real local issuer.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use common::*;
use portcullis_issuer::DEFAULT_UNKNOWN_KID_COOLDOWN;
use portcullis_jwt::ErrorKind;
use portcullis_testkit::{Endpoint, Fault, SigningAlgorithm, SigningKey, TestIssuer, random_id};

/// The proof that a rotation costs no failed request: 1,000 concurrent requests carry a
/// `kid` published a moment ago. The JWK Set endpoint is held until all 1,000 are
/// waiting, so they really are concurrent; then exactly one fetch serves them all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_under_load_is_one_fetch_and_no_failure() {
    let World {
        issuer,
        keys,
        verifier,
        ..
    } = World::ready(TestIssuer::start().await).await;
    assert_eq!(issuer.requests(Endpoint::Jwks), 1);
    let old = issuer.mint(AUDIENCE, T0);
    verifier.verify(&old).await.unwrap();

    issuer.rotate();
    issuer.set_fault(Endpoint::Jwks, Fault::Hang);
    let tokens: Vec<String> = (0..8).map(|_| issuer.mint(AUDIENCE, T0)).collect();
    let mut tasks = Vec::new();
    for i in 0..1_000 {
        let verifier = verifier.clone();
        let token = tokens[i % tokens.len()].clone();
        tasks.push(tokio::spawn(async move { verifier.verify(&token).await }));
    }

    bounded("the refetch", issuer.wait_for_requests(Endpoint::Jwks, 2)).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while keys.stats().waiting < 1_000 {
        assert!(Instant::now() < deadline, "waiting: {:?}", keys.stats());
        tokio::task::yield_now().await;
    }
    // Tokens with the old key never wait, even now.
    verifier.verify(&old).await.unwrap();
    issuer.release(Endpoint::Jwks);

    for task in tasks {
        let claims = bounded("a verification", task).await.unwrap().unwrap();
        assert_eq!(claims.subject(), Some("test-subject"));
    }
    assert_eq!(issuer.requests(Endpoint::Jwks), 2);
    let stats = keys.stats();
    assert_eq!(stats.fetches, 2);
    assert_eq!(stats.unknown_kid_refetches, 1);
    assert_eq!(stats.failures, 0);
    assert_eq!(stats.waiting, 0);
    assert_eq!(stats.keys, 2);
}

/// A world whose issuer lets its JWK Set be cached for an hour, the set fetched once.
async fn cached_for_an_hour() -> World {
    let issuer = TestIssuer::builder()
        .jwks_cache_control(Some("max-age=3600"))
        .start()
        .await;
    World::ready(issuer).await
}

/// Made-up `kid`s every simulated second for five minutes cost one refetch per 30 s
/// cooldown at most, and tokens with the real `kid` keep verifying throughout.
#[tokio::test]
async fn random_kid_flood_is_one_fetch_per_cooldown() {
    let World {
        issuer,
        clock,
        keys,
        verifier,
    } = cached_for_an_hour().await;
    let key = issuer.signing_key();

    for _second in 0..300 {
        let now = unix(&clock);
        // One attacker repeats the same kid: once a fetch has confirmed it unknown,
        // it is a negative-cache hit until the cooldown has passed (then it is one
        // more unknown kid, competing for the same one refetch per cooldown).
        let repeated = key
            .token()
            .standard_claims(&issuer.url(), AUDIENCE, now)
            .header("kid", "always-the-same")
            .sign();
        let result = bounded("a repeated kid", verifier.verify(&repeated)).await;
        assert_invalid(&result, ErrorKind::UnknownKeyId);

        for _ in 0..3 {
            let forged = key
                .token()
                .standard_claims(&issuer.url(), AUDIENCE, now)
                .header("kid", random_id())
                .sign();
            let result = bounded("a flood request", verifier.verify(&forged)).await;
            assert_invalid(&result, ErrorKind::UnknownKeyId);
        }
        let genuine = issuer.mint(AUDIENCE, now);
        bounded("a genuine request", verifier.verify(&genuine))
            .await
            .expect("known-kid tokens are unaffected by the flood");
        clock.advance(Duration::from_secs(1));
    }

    let stats = keys.stats();
    let fetches = issuer.requests(Endpoint::Jwks);
    assert_eq!(fetches, stats.fetches);
    assert!(fetches <= 11, "{fetches} fetches: {stats:?}");
    // 0 s, 30 s, ..., 270 s: exactly one refetch per cooldown.
    assert_eq!(stats.unknown_kid_refetches, 10, "{stats:?}");
    assert!(stats.negative_cache_hits > 0, "{stats:?}");
    assert_eq!(stats.failures, 0);
}

/// A key removed from the set stops verifying once the refreshed set is in place, and
/// asking again for it costs no further fetch.
#[tokio::test]
async fn removed_key_stops_verifying_after_refresh() {
    let issuer = TestIssuer::start().await; // max-age=300
    let World {
        issuer,
        clock,
        keys,
        verifier,
    } = World::ready(issuer).await;

    let old_key = issuer.signing_key();
    issuer.rotate();
    issuer.remove_key(old_key.kid());
    // Until the set is refreshed, the old key still verifies (it was valid when fetched).
    let sign_old = |now| {
        old_key
            .token()
            .standard_claims(&issuer.url(), AUDIENCE, now)
            .sign()
    };
    verifier.verify(&sign_old(T0)).await.unwrap();

    // Three quarters into the 300 s lifetime, a request starts a background refresh
    // and is itself answered from the current set without waiting.
    clock.advance(Duration::from_secs(230));
    verifier.verify(&sign_old(unix(&clock))).await.unwrap();
    bounded(
        "the background refresh",
        issuer.wait_for_requests(Endpoint::Jwks, 2),
    )
    .await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while keys
        .current()
        .is_some_and(|set| set.contains_kid(old_key.kid()))
    {
        assert!(Instant::now() < deadline, "the refreshed set never arrived");
        tokio::task::yield_now().await;
    }

    // The old kid is unknown now: one unknown-kid refetch confirms it, then the
    // negative cache answers.
    let result = verifier.verify(&sign_old(unix(&clock))).await;
    assert_invalid(&result, ErrorKind::UnknownKeyId);
    assert_eq!(issuer.requests(Endpoint::Jwks), 3);
    let result = verifier.verify(&sign_old(unix(&clock))).await;
    assert_invalid(&result, ErrorKind::UnknownKeyId);
    assert_eq!(issuer.requests(Endpoint::Jwks), 3);
    assert_eq!(keys.stats().negative_cache_hits, 1);
    // The new key works.
    verifier
        .verify(&issuer.mint(AUDIENCE, unix(&clock)))
        .await
        .unwrap();
}

/// A token whose `kid` is unknown while the issuer is down is a 503 (the key may exist),
/// not a 401; a `kid` unknown after a successful fetch is a 401.
#[tokio::test]
async fn unknown_kid_during_outage_is_unavailable() {
    let World {
        issuer,
        clock,
        verifier,
        ..
    } = World::ready(TestIssuer::start().await).await;
    let known = issuer.mint(AUDIENCE, T0);

    issuer.rotate();
    issuer.set_fault(Endpoint::Jwks, Fault::Status(503));
    let rotated = issuer.mint(AUDIENCE, T0);
    assert_unavailable(&bounded("refetch", verifier.verify(&rotated)).await);
    // Within the cooldown no fetch, and still no 401: the last fetch failed.
    assert_unavailable(&verifier.verify(&rotated).await);
    assert_eq!(issuer.requests(Endpoint::Jwks), 2);
    verifier.verify(&known).await.unwrap();

    issuer.clear_fault(Endpoint::Jwks);
    clock.advance(Duration::from_secs(30));
    verifier
        .verify(&issuer.mint(AUDIENCE, unix(&clock)))
        .await
        .unwrap();
    assert_eq!(issuer.requests(Endpoint::Jwks), 3);
}

/// An issuer that signs with a new key a moment before its JWK Set shows it: the first
/// token puts the `kid` in the negative cache, but once the unknown-`kid` cooldown has
/// passed the same `kid` is worth one more fetch (well before the set's TTL runs out),
/// and still no more than one per cooldown for any number of unknown `kid`s.
#[tokio::test]
async fn a_kid_refused_once_is_fetched_again_after_the_cooldown() {
    let World {
        issuer,
        clock,
        keys,
        verifier,
    } = cached_for_an_hour().await;
    assert_eq!(issuer.requests(Endpoint::Jwks), 1);

    let early = SigningKey::generate(SigningAlgorithm::RS256);
    let token = early
        .token()
        .standard_claims(&issuer.url(), AUDIENCE, T0)
        .sign();
    let result = bounded("the unknown kid", verifier.verify(&token)).await;
    assert_invalid(&result, ErrorKind::UnknownKeyId);
    assert_eq!(issuer.requests(Endpoint::Jwks), 2);
    // Within the cooldown it is a negative-cache hit: no fetch.
    assert_invalid(&verifier.verify(&token).await, ErrorKind::UnknownKeyId);
    assert_eq!(issuer.requests(Endpoint::Jwks), 2);
    assert_eq!(keys.stats().negative_cache_hits, 1);

    issuer.add_key(early);
    clock.advance(DEFAULT_UNKNOWN_KID_COOLDOWN + Duration::from_secs(1));
    bounded("the published kid", verifier.verify(&token))
        .await
        .expect("a kid published since it was refused verifies after the cooldown");
    assert_eq!(issuer.requests(Endpoint::Jwks), 3);

    // Another unknown kid within the new cooldown costs no fetch.
    let other = SigningKey::generate(SigningAlgorithm::RS256)
        .token()
        .standard_claims(&issuer.url(), AUDIENCE, unix(&clock))
        .sign();
    assert_invalid(&verifier.verify(&other).await, ErrorKind::UnknownKeyId);
    assert_eq!(issuer.requests(Endpoint::Jwks), 3);
    let stats = keys.stats();
    assert_eq!(stats.unknown_kid_refetches, 2, "{stats:?}");
    assert_eq!(stats.failures, 0);
}
