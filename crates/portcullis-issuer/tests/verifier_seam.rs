//! The verifier seam: what `Verifier::verify` answers at once and what it makes the
//! caller wait for. An answer at hand (keys loaded, a cached result, a known-unknown
//! `kid` within the cooldown) must be `Done`, so the layer calls its inner service
//! without a clone and nothing is boxed; only a fetch to wait for is `Pending`.

#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use portcullis_issuer::{Claims, TokenCache, Verification, Verifier, VerifyError, VerifyFuture};
use portcullis_jwt::{ErrorKind, ManualClock};
use portcullis_testkit::{Endpoint, SigningKey, TestIssuer};

fn done(verification: Verification<VerifyFuture>) -> Result<Claims, VerifyError> {
    match verification {
        Verification::Done(result) => result,
        Verification::Pending(_) => panic!("pending where the answer was at hand"),
    }
}

#[tokio::test]
async fn answers_at_hand_are_done_and_only_fetches_wait() {
    let World {
        issuer,
        clock,
        verifier,
        ..
    } = World::ready(TestIssuer::start().await).await;

    // Keys at hand: answered at once, accepted or refused.
    let token = issuer.mint(AUDIENCE, T0);
    assert!(done(Verifier::verify(&verifier, &token)).is_ok());
    let at = token.len() - 10;
    let flipped = if &token[at..=at] == "A" { "B" } else { "A" };
    let tampered = format!("{}{flipped}{}", &token[..at], &token[at + 1..]);
    assert!(done(Verifier::verify(&verifier, &tampered)).is_err());

    // A kid the set does not have: a fetch to wait for, then refused.
    let stranger = SigningKey::generate(issuer.signing_key().algorithm());
    let unknown = stranger
        .token()
        .standard_claims(&issuer.url(), AUDIENCE, T0)
        .sign();
    let fetch = match Verifier::verify(&verifier, &unknown) {
        Verification::Pending(fetch) => fetch,
        Verification::Done(result) => {
            panic!("an unknown kid past the cooldown must wait for a fetch: {result:?}")
        }
    };
    assert_invalid(
        &bounded("the refetch", fetch).await,
        ErrorKind::UnknownKeyId,
    );
    assert_eq!(issuer.requests(Endpoint::Jwks), 2);
    // Within the cooldown it is known to be unknown: refused at once, no fetch.
    assert_invalid(
        &done(Verifier::verify(&verifier, &unknown)),
        ErrorKind::UnknownKeyId,
    );
    assert_eq!(issuer.requests(Endpoint::Jwks), 2);

    // The same through the verified-token cache: a hit is answered at once too.
    let cached = verifier.clone().with_token_cache(
        TokenCache::<Claims>::builder()
            .clock(clock.clone())
            .build()
            .unwrap(),
    );
    assert!(done(Verifier::verify(&cached, &token)).is_ok());
    assert!(done(Verifier::verify(&cached, &token)).is_ok());
    assert_eq!(cached.token_cache_stats().unwrap().hits, 1);

    // Awaiting a verification gives the answer whichever it is.
    assert!(Verifier::verify(&verifier, &token).await.is_ok());
}

#[tokio::test]
async fn a_cold_key_set_waits_for_its_first_fetch() {
    let issuer = TestIssuer::start().await;
    let clock = ManualClock::at_unix(T0);
    let keys = keys_for(&issuer, &clock)
        .startup(portcullis_issuer::Startup::Lazy)
        .build()
        .unwrap();
    let verifier = verifier(&issuer, keys, &clock);
    let token = issuer.mint(AUDIENCE, T0);
    let Verification::Pending(first) = Verifier::verify(&verifier, &token) else {
        panic!("no keys yet: the first token must wait for them")
    };
    assert!(bounded("the first fetch", first).await.is_ok());
    assert!(done(Verifier::verify(&verifier, &token)).is_ok());
}
