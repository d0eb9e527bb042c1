//! The verified-token cache: entries expire with the token, are dropped when their key
//! leaves the set, re-run time rules on every hit, and never mix tokens up.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use portcullis_issuer::{JwtVerifier, RemoteKeySet, TokenCache, VerifyErrorKind};
use portcullis_jwt::{
    Algorithm, Claims, ErrorKind, Key, KeySet, ManualClock, Validation, ValidationBuilder,
    VerifiedBy,
};
use portcullis_testkit::fixture::{AUDIENCE, ISSUER, NOW};
use portcullis_testkit::{SigningAlgorithm, SigningKey, TestIssuer, jwks};

use common::assert_invalid;

fn cache(clock: &ManualClock, capacity: u64) -> TokenCache<Claims> {
    TokenCache::<Claims>::builder()
        .clock(clock.clone())
        .capacity(capacity)
        .max_ttl(Duration::from_secs(3_600))
        .build()
        .unwrap()
}

fn static_verifier(key: &SigningKey, clock: &ManualClock, validation: Validation) -> JwtVerifier {
    let keys = KeySet::from_jwks(jwks([key]).to_string().as_bytes()).unwrap();
    JwtVerifier::with_static_keys(validation, keys)
        .with_clock(clock.clone())
        .with_token_cache(cache(clock, 1_000))
}

/// A new ES256 key, a clock at [`NOW`], and a caching verifier with `validation` that
/// trusts that key alone.
fn es256_verifier(validation: Validation) -> (SigningKey, ManualClock, JwtVerifier) {
    let key = SigningKey::generate(SigningAlgorithm::ES256);
    let clock = ManualClock::at_unix(NOW);
    let verifier = static_verifier(&key, &clock, validation);
    (key, clock, verifier)
}

/// The fixture's issuer and audience; a test adds the rule it is about.
fn rules() -> ValidationBuilder {
    Validation::builder().issuer(ISSUER).audience(AUDIENCE)
}

fn validation() -> Validation {
    rules().build().unwrap()
}

#[tokio::test]
async fn hits_skip_verification_and_expire_with_the_token() {
    let (key, clock, verifier) = es256_verifier(validation());
    let token = key.token().standard_claims(ISSUER, AUDIENCE, NOW).sign(); // exp NOW+300
    verifier.verify(&token).await.unwrap();
    for _ in 0..5 {
        verifier.verify(&token).await.unwrap();
    }
    assert_eq!(verifier.token_cache_stats().unwrap().hits, 5);
    // exp + 30 s leeway: still accepted, from the cache.
    clock.advance(Duration::from_secs(329));
    verifier.verify(&token).await.unwrap();
    assert_eq!(verifier.token_cache_stats().unwrap().hits, 6);
    clock.advance(Duration::from_secs(1));
    assert_invalid(&verifier.verify(&token).await, ErrorKind::Expired);
    assert_eq!(verifier.token_cache_stats().unwrap().hits, 6);
}

#[tokio::test]
async fn time_rules_run_on_every_hit() {
    let v = rules()
        .leeway(Duration::ZERO)
        .max_token_age(Duration::from_secs(60))
        .build()
        .unwrap();
    let (key, clock, verifier) = es256_verifier(v);
    let token = key.token().standard_claims(ISSUER, AUDIENCE, NOW).sign();
    verifier.verify(&token).await.unwrap();
    clock.advance(Duration::from_secs(60));
    verifier.verify(&token).await.unwrap();
    clock.advance(Duration::from_secs(1));
    assert_invalid(&verifier.verify(&token).await, ErrorKind::TooOld);
    // That refusal came from the cached entry (a hit), not a fresh verification.
    assert_eq!(verifier.token_cache_stats().unwrap().hits, 2);
}

#[tokio::test]
async fn no_cross_token_confusion() {
    let (key, _clock, verifier) = es256_verifier(validation());
    let alice = key
        .token()
        .standard_claims(ISSUER, AUDIENCE, NOW)
        .claim("sub", "alice")
        .sign();
    let bob = key
        .token()
        .standard_claims(ISSUER, AUDIENCE, NOW)
        .claim("sub", "bob")
        .sign();
    for _ in 0..3 {
        assert_eq!(
            verifier.verify(&alice).await.unwrap().subject(),
            Some("alice")
        );
        assert_eq!(verifier.verify(&bob).await.unwrap().subject(), Some("bob"));
    }
    // A cached token with its signature altered is a different token: verified, refused.
    let mut tampered = alice.clone().into_bytes();
    let last = tampered.len() - 2;
    tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).unwrap();
    assert_invalid(
        &verifier.verify(&tampered).await,
        ErrorKind::InvalidSignature,
    );
    // A refused token is not cached.
    assert_invalid(
        &verifier.verify(&tampered).await,
        ErrorKind::InvalidSignature,
    );
}

#[tokio::test]
async fn entries_are_dropped_when_their_key_leaves_the_set() {
    let issuer = TestIssuer::builder()
        .algorithm(SigningAlgorithm::ES256)
        .start()
        .await;
    let clock = ManualClock::at_unix(NOW);
    let keys = RemoteKeySet::from_jwks_url(&issuer.jwks_url())
        .clock(clock.clone())
        .build()
        .unwrap();
    keys.ready().await;
    let validation = Validation::builder()
        .issuer(issuer.url())
        .audience(AUDIENCE)
        .build()
        .unwrap();
    let verifier = JwtVerifier::with_remote_keys(validation, keys.clone())
        .with_clock(clock.clone())
        .with_token_cache(cache(&clock, 1_000));
    let old = issuer.signing_key();
    let token = issuer.mint(AUDIENCE, NOW);
    verifier.verify(&token).await.unwrap();
    verifier.verify(&token).await.unwrap();
    assert_eq!(verifier.token_cache_stats().unwrap().hits, 1);

    issuer.rotate();
    issuer.remove_key(old.kid());
    keys.refresh().await.unwrap();
    // The entry is found once more, its key is gone: refused, and the entry dropped.
    let error = verifier.verify(&token).await.unwrap_err();
    assert_eq!(error.kind(), VerifyErrorKind::InvalidToken);
    let hits = verifier.token_cache_stats().unwrap().hits;
    verifier.verify(&token).await.unwrap_err();
    assert_eq!(verifier.token_cache_stats().unwrap().hits, hits, "dropped");
    // Tokens of the new key are cached as usual.
    let fresh = issuer.mint(AUDIENCE, NOW);
    verifier.verify(&fresh).await.unwrap();
    verifier.verify(&fresh).await.unwrap();
    assert_eq!(verifier.token_cache_stats().unwrap().hits, hits + 1);
}

#[tokio::test]
async fn hits_fail_closed_once_the_key_set_is_past_its_maximum_staleness() {
    let issuer = TestIssuer::builder()
        .algorithm(SigningAlgorithm::ES256)
        .jwks_cache_control(Some("max-age=300"))
        .start()
        .await;
    let clock = ManualClock::at_unix(NOW);
    let keys = RemoteKeySet::from_jwks_url(&issuer.jwks_url())
        .clock(clock.clone())
        .max_staleness(Duration::from_secs(600))
        .background_refresh(false)
        .build()
        .unwrap();
    keys.ready().await;
    let validation = Validation::builder()
        .issuer(issuer.url())
        .audience(AUDIENCE)
        .build()
        .unwrap();
    let verifier = JwtVerifier::with_remote_keys(validation, keys)
        .with_clock(ManualClock::at_unix(NOW))
        .with_token_cache(cache(&clock, 1_000));
    let token = issuer.mint_with(AUDIENCE, NOW, |t| t.claim("exp", NOW + 10_000));
    verifier.verify(&token).await.unwrap();
    issuer.set_fault(
        portcullis_testkit::Endpoint::Jwks,
        portcullis_testkit::Fault::Status(503),
    );
    clock.advance(Duration::from_secs(899));
    verifier.verify(&token).await.unwrap();
    clock.advance(Duration::from_secs(1));
    let error = verifier.verify(&token).await.unwrap_err();
    assert_eq!(error.kind(), VerifyErrorKind::Unavailable);
}

#[tokio::test]
async fn capacity_bounds_the_cache() {
    let secret = [7u8; 32];
    let key = SigningKey::hmac(SigningAlgorithm::HS256, &secret).unwrap();
    let clock = ManualClock::at_unix(NOW);
    let keys =
        KeySet::from_keys([Key::hmac_secret(Some(key.kid()), Algorithm::HS256, &secret).unwrap()]);
    let validation = rules().algorithms([Algorithm::HS256]).build().unwrap();
    let cache = cache(&clock, 500);
    let verifier = JwtVerifier::with_static_keys(validation, keys)
        .with_clock(clock.clone())
        .with_token_cache(cache.clone());
    for i in 0..10_000 {
        let token = key
            .token()
            .standard_claims(ISSUER, AUDIENCE, NOW)
            .claim("jti", format!("{i}"))
            .sign();
        let claims = verifier.verify(&token).await.unwrap();
        assert!(matches!(claims.verified_by(), VerifiedBy::Jwt { .. }));
    }
    cache.drop_expired();
    assert!(cache.entry_count() <= 500, "{}", cache.entry_count());
}
