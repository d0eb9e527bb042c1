//! Shared set-up for the integration tests: a testkit issuer on 127.0.0.1:0 and a
//! verifier on a manual clock.
#![allow(dead_code, unreachable_pub)]

use std::future::Future;
use std::time::{Duration, UNIX_EPOCH};

use portcullis_issuer::{
    JwtVerifier, RemoteKeySet, RemoteKeySetBuilder, Startup, Validation, VerifyError,
    VerifyErrorKind,
};
use portcullis_jwt::{Algorithm, Clock, ErrorKind, ManualClock};
use portcullis_testkit::TestIssuer;

pub use portcullis_testkit::fixture::AUDIENCE;
/// Where the manual clocks start: the testkit's fixed now.
pub const T0: u64 = portcullis_testkit::fixture::NOW;

/// Fails the test instead of hanging it.
pub async fn bounded<T>(what: &str, future: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(30), future)
        .await
        .unwrap_or_else(|_| panic!("{what} took more than 30 s"))
}

pub fn validation(issuer: &TestIssuer) -> Validation {
    Validation::builder()
        .issuer(issuer.url())
        .audience(AUDIENCE)
        .algorithms([Algorithm::RS256])
        .build()
        .expect("valid validation")
}

pub fn unix(clock: &ManualClock) -> u64 {
    clock
        .now()
        .duration_since(UNIX_EPOCH)
        .expect("after the epoch")
        .as_secs()
}

/// A lazy set with no background task: every fetch in these tests is caused by what
/// the test does, so fetch counts are exact.
pub fn keys_for(issuer: &TestIssuer, clock: &ManualClock) -> RemoteKeySetBuilder {
    lazy(RemoteKeySet::from_jwks_url(&issuer.jwks_url()), clock)
}

/// As [`keys_for`], the JWK Set found by discovery from the issuer's URL.
pub fn discovered_keys_for(issuer: &TestIssuer, clock: &ManualClock) -> RemoteKeySetBuilder {
    lazy(RemoteKeySet::from_issuer(&issuer.url()), clock)
}

fn lazy(keys: RemoteKeySetBuilder, clock: &ManualClock) -> RemoteKeySetBuilder {
    keys.clock(clock.clone())
        .startup(Startup::Lazy)
        .background_refresh(false)
}

pub fn verifier(issuer: &TestIssuer, keys: RemoteKeySet, clock: &ManualClock) -> JwtVerifier {
    JwtVerifier::with_remote_keys(validation(issuer), keys).with_clock(clock.clone())
}

/// A testkit issuer, a manual clock at [`T0`], a lazy key set for the issuer (see
/// [`keys_for`]) and a verifier on both.
pub struct World {
    pub issuer: TestIssuer,
    pub clock: ManualClock,
    pub keys: RemoteKeySet,
    pub verifier: JwtVerifier,
}

impl World {
    /// Around `issuer`; nothing fetched yet.
    pub fn new(issuer: TestIssuer) -> World {
        let clock = ManualClock::at_unix(T0);
        let keys = keys_for(&issuer, &clock).build().expect("a valid key set");
        let verifier = verifier(&issuer, keys.clone(), &clock);
        World {
            issuer,
            clock,
            keys,
            verifier,
        }
    }

    /// Around `issuer`, its key set fetched once.
    pub async fn ready(issuer: TestIssuer) -> World {
        let world = World::new(issuer);
        bounded("first fetch", world.keys.ready()).await;
        world
    }
}

pub fn assert_invalid(result: &Result<portcullis_jwt::Claims, VerifyError>, kind: ErrorKind) {
    match result {
        Err(e) => {
            assert_eq!(e.kind(), VerifyErrorKind::InvalidToken, "{e:?}");
            assert_eq!(
                e.token_error().map(portcullis_jwt::Error::kind),
                Some(kind),
                "{e:?}"
            );
        }
        Ok(_) => panic!("accepted, expected {kind:?}"),
    }
}

pub fn assert_unavailable(result: &Result<portcullis_jwt::Claims, VerifyError>) {
    match result {
        Err(e) => {
            assert_eq!(e.kind(), VerifyErrorKind::Unavailable, "{e:?}");
            let retry_after = e.retry_after().expect("a Retry-After");
            assert!(retry_after >= Duration::from_secs(1), "{retry_after:?}");
        }
        Ok(_) => panic!("accepted, expected Unavailable"),
    }
}
