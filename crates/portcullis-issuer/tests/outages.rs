//! Fault injection, outages, backoff, readiness and discovery against a real local
//! issuer.

#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use common::*;
use http_body_util::Full;
use portcullis_issuer::{
    DiscoveryMode, FetchErrorKind, HttpClient, IssuerMetadata, RemoteKeySet, Startup,
    VerifyErrorKind,
};
use portcullis_jwt::{ErrorKind, ManualClock};
use portcullis_testkit::{Endpoint, Fault, SigningAlgorithm, SigningKey, TestIssuer, jwks};

/// An issuer whose first `fetches` JWK Set requests are answered 503.
async fn failing_first(fetches: u32) -> TestIssuer {
    let issuer = TestIssuer::start().await;
    issuer.set_fault(
        Endpoint::Jwks,
        Fault::FailFirst(fetches, Box::new(Fault::Status(503))),
    );
    issuer
}

fn short_timeout() -> HttpClient {
    HttpClient::builder()
        .timeout(Duration::from_millis(500))
        .connect_timeout(Duration::from_millis(500))
        .build()
        .unwrap()
}

/// Every fault mode of the JWK Set endpoint: no acceptance, no panic, a 503-kind error,
/// the fetch error named, and recovery once the fault clears (after the backoff).
#[tokio::test]
async fn every_fault_mode_fails_closed_as_unavailable() {
    let faults = [
        (Fault::Status(500), FetchErrorKind::Status),
        (Fault::Status(404), FetchErrorKind::Status),
        (Fault::Status(401), FetchErrorKind::Status),
        (Fault::Hang, FetchErrorKind::Timeout),
        (
            Fault::Delay(Duration::from_secs(3)),
            FetchErrorKind::Timeout,
        ),
        (Fault::Garbage, FetchErrorKind::InvalidDocument),
        (Fault::Oversized(2 * 1024 * 1024), FetchErrorKind::TooLarge),
        (
            Fault::ContentType("text/html".into()),
            FetchErrorKind::ContentType,
        ),
        (Fault::Redirect("/jwks".into()), FetchErrorKind::Redirect),
        (Fault::CloseConnection, FetchErrorKind::Transport),
    ];
    for (fault, expected) in faults {
        let issuer = TestIssuer::start().await;
        issuer.set_fault(Endpoint::Jwks, fault.clone());
        let clock = ManualClock::at_unix(T0);
        let keys = keys_for(&issuer, &clock)
            .http_client(short_timeout())
            .build()
            .unwrap();
        let verifier = verifier(&issuer, keys.clone(), &clock);
        let token = issuer.mint(AUDIENCE, T0);

        let result = bounded("a failing fetch", verifier.verify(&token)).await;
        assert_unavailable(&result);
        assert!(!keys.is_ready(), "{fault:?}");
        // The same failure seen directly, with its kind.
        clock.advance(Duration::from_secs(1));
        let error = bounded("refresh", keys.refresh()).await.unwrap_err();
        assert_eq!(error.kind(), expected, "{fault:?}: {error}");

        // Within the backoff, requests are answered at once without a fetch.
        let before = issuer.requests(Endpoint::Jwks);
        assert_unavailable(&verifier.verify(&token).await);
        assert_eq!(issuer.requests(Endpoint::Jwks), before, "{fault:?}");

        issuer.release(Endpoint::Jwks);
        clock.advance(Duration::from_secs(60));
        let token = issuer.mint(AUDIENCE, unix(&clock));
        bounded("recovery", verifier.verify(&token))
            .await
            .unwrap_or_else(|e| panic!("{fault:?}: no recovery: {e:?}"));
        assert_eq!(keys.stats().failures, 2, "{fault:?}");
    }
}

/// Known-kid tokens keep verifying through an outage until the maximum staleness past
/// expiry, then verification fails closed, and it comes back with the issuer.
#[tokio::test]
async fn outage_serves_stale_until_max_staleness_then_fails_closed() {
    let issuer = TestIssuer::start().await; // max-age=300
    let clock = ManualClock::at_unix(T0);
    let keys = keys_for(&issuer, &clock)
        .max_staleness(Duration::from_secs(600))
        .build()
        .unwrap();
    let verifier = verifier(&issuer, keys.clone(), &clock);
    bounded("first fetch", keys.ready()).await;

    issuer.set_fault(Endpoint::Jwks, Fault::Status(503));
    // Expiry at 300 s, usable until 900 s.
    for at in [100, 230, 299, 300, 301, 600, 899] {
        clock.set(std::time::UNIX_EPOCH + Duration::from_secs(T0 + at));
        let token = issuer.mint(AUDIENCE, unix(&clock));
        bounded("a stale verification", verifier.verify(&token))
            .await
            .unwrap_or_else(|e| panic!("refused at {at} s: {e:?}"));
        assert!(keys.is_ready());
    }
    // The background refreshes were tried (and failed) meanwhile.
    bounded(
        "a refresh attempt",
        issuer.wait_for_requests(Endpoint::Jwks, 2),
    )
    .await;

    clock.set(std::time::UNIX_EPOCH + Duration::from_secs(T0 + 900));
    let token = issuer.mint(AUDIENCE, unix(&clock));
    assert_unavailable(&bounded("fail closed", verifier.verify(&token)).await);
    assert!(!keys.is_ready());

    issuer.clear_fault(Endpoint::Jwks);
    clock.advance(Duration::from_secs(61));
    let token = issuer.mint(AUDIENCE, unix(&clock));
    bounded("recovery", verifier.verify(&token)).await.unwrap();
    assert!(keys.is_ready());
    assert_eq!(keys.stats().consecutive_failures, 0);
}

/// Failed fetches are retried after 1 s, 2 s, 4 s, ...: no request causes a fetch
/// inside the backoff window.
#[tokio::test]
async fn failed_fetches_back_off_exponentially() {
    let issuer = failing_first(3).await;
    let World {
        issuer,
        clock,
        keys,
        verifier,
    } = World::new(issuer);
    let token = issuer.mint(AUDIENCE, T0);

    let error = bounded("a failing fetch", verifier.verify(&token))
        .await
        .unwrap_err();
    assert_eq!(error.retry_after(), Some(Duration::from_secs(1)));
    assert_eq!(issuer.requests(Endpoint::Jwks), 1);
    let mut expected_requests = 1;
    for (backoff, next_backoff) in [(1, 2), (2, 4)] {
        // Just before the retry is due: answered at once, no fetch.
        clock.advance(Duration::from_millis(backoff * 1000 - 1));
        assert_unavailable(&verifier.verify(&token).await);
        assert_eq!(issuer.requests(Endpoint::Jwks), expected_requests);
        // Due: one fetch, which fails again and doubles the backoff.
        clock.advance(Duration::from_millis(1));
        let error = bounded("a failing fetch", verifier.verify(&token))
            .await
            .unwrap_err();
        expected_requests += 1;
        assert_eq!(error.kind(), VerifyErrorKind::Unavailable);
        assert_eq!(error.retry_after(), Some(Duration::from_secs(next_backoff)));
        assert_eq!(issuer.requests(Endpoint::Jwks), expected_requests);
    }
    clock.advance(Duration::from_secs(4));
    bounded("recovery", verifier.verify(&token)).await.unwrap();
    assert_eq!(issuer.requests(Endpoint::Jwks), 4);
    assert_eq!(keys.stats().consecutive_failures, 0);
}

/// An unusable key is skipped on its own; the rest of the set verifies.
#[tokio::test]
async fn unusable_keys_are_skipped_individually() {
    let issuer = TestIssuer::start().await;
    issuer.add_raw_jwk(serde_json::json!({"kty": "oct", "kid": "secret", "k": "c2VjcmV0"}));
    let other = SigningKey::generate(SigningAlgorithm::RS256);
    let mut encryption = other.bare_public_jwk();
    encryption.insert("kid".into(), "enc".into());
    encryption.insert("use".into(), "enc".into());
    issuer.add_raw_jwk(serde_json::Value::Object(encryption));
    let World {
        issuer,
        keys,
        verifier,
        ..
    } = World::new(issuer);
    verifier.verify(&issuer.mint(AUDIENCE, T0)).await.unwrap();
    let set = keys.current().unwrap();
    assert_eq!(set.len(), 1);
    assert_eq!(set.skipped().len(), 2);
}

/// A set where no key is usable does not replace the last good one.
#[tokio::test]
async fn a_set_with_no_usable_key_is_a_failed_fetch() {
    let issuer = TestIssuer::start().await;
    let clock = ManualClock::at_unix(T0);
    let keys = keys_for(&issuer, &clock).build().unwrap();
    bounded("first fetch", keys.ready()).await;
    let only = issuer.signing_key();
    issuer.remove_key(only.kid());
    let error = bounded("refresh", keys.refresh()).await.unwrap_err();
    assert_eq!(error.kind(), FetchErrorKind::NoUsableKeys);
    assert!(keys.current().unwrap().contains_kid(only.kid()));
}

/// Readiness: pollable and awaitable; eager startup fetches without any request.
#[tokio::test]
async fn readiness_signal() {
    let issuer = TestIssuer::start().await;
    let clock = ManualClock::at_unix(T0);
    let lazy = keys_for(&issuer, &clock).build().unwrap();
    assert!(!lazy.is_ready());
    assert_eq!(issuer.requests(Endpoint::Jwks), 0);
    bounded("ready", lazy.ready()).await;
    assert!(lazy.is_ready());
    assert_eq!(issuer.requests(Endpoint::Jwks), 1);

    let eager = RemoteKeySet::from_jwks_url(&issuer.jwks_url())
        .clock(clock.clone())
        .build()
        .unwrap();
    bounded("eager fetch", issuer.wait_for_requests(Endpoint::Jwks, 2)).await;
    bounded("ready", eager.ready()).await;
    assert!(eager.is_ready());
    assert_eq!(eager.stats().fetches, 1);
    assert_eq!(eager.stats().keys, 1);
}

/// `ready()` on its own (lazy startup, no background task) gets past a failed first
/// fetch: it waits out the backoff and fetches again, rather than waiting for a request
/// or a task that will never come. (Real time here: the backoff is 20 ms.)
#[tokio::test]
async fn ready_retries_after_a_failed_first_fetch_without_a_background_task() {
    let issuer = failing_first(2).await;
    let keys = RemoteKeySet::from_jwks_url(&issuer.jwks_url())
        .startup(Startup::Lazy)
        .background_refresh(false)
        .retry_backoff(Duration::from_millis(20), Duration::from_millis(40))
        .build()
        .unwrap();
    bounded("ready after two failed fetches", keys.ready()).await;
    assert!(keys.is_ready());
    assert_eq!(issuer.requests(Endpoint::Jwks), 3);
}

/// Discovery through both well-known documents, with the RFC 8414 path-insertion rule.
#[tokio::test]
async fn discovery_openid_then_rfc8414_with_path() {
    let issuer = TestIssuer::builder().path("/realms/test").start().await;
    let http = HttpClient::new();
    let metadata = IssuerMetadata::discover(&http, &issuer.url(), DiscoveryMode::OpenId)
        .await
        .unwrap();
    assert_eq!(metadata.jwks_uri(), Some(issuer.jwks_url().as_str()));
    assert_eq!(metadata.signing_algorithms(), ["RS256"]);

    issuer.set_fault(Endpoint::OpenIdConfiguration, Fault::Status(404));
    issuer.set_metadata(
        "introspection_endpoint",
        format!("{}/introspect", issuer.url()),
    );
    let clock = ManualClock::at_unix(T0);
    let keys = discovered_keys_for(&issuer, &clock).build().unwrap();
    let verifier = verifier(&issuer, keys.clone(), &clock);
    bounded("verify", verifier.verify(&issuer.mint(AUDIENCE, T0)))
        .await
        .unwrap();
    assert_eq!(issuer.requests(Endpoint::OpenIdConfiguration), 2);
    assert_eq!(issuer.requests(Endpoint::OAuthMetadata), 1);
    let metadata = keys.metadata().unwrap();
    assert_eq!(
        metadata.introspection_endpoint(),
        Some(format!("{}/introspect", issuer.url()).as_str())
    );
    // Discovery is not repeated for later fetches.
    bounded("refresh", keys.refresh()).await.unwrap();
    assert_eq!(issuer.requests(Endpoint::OAuthMetadata), 1);
    assert_eq!(issuer.requests(Endpoint::Jwks), 2);
}

/// A discovery document naming another issuer is refused, with no fallback and no key
/// fetched from the `jwks_uri` it names.
#[tokio::test]
async fn mismatched_discovery_issuer_is_refused() {
    let issuer = TestIssuer::start().await;
    issuer.set_metadata("issuer", "https://evil.example");
    let http = HttpClient::new();
    let error = IssuerMetadata::discover(&http, &issuer.url(), DiscoveryMode::default())
        .await
        .unwrap_err();
    assert_eq!(error.kind(), FetchErrorKind::IssuerMismatch);
    assert_eq!(issuer.requests(Endpoint::OAuthMetadata), 0);

    let clock = ManualClock::at_unix(T0);
    let keys = discovered_keys_for(&issuer, &clock).build().unwrap();
    let verifier = verifier(&issuer, keys.clone(), &clock);
    assert_unavailable(&bounded("verify", verifier.verify(&issuer.mint(AUDIENCE, T0))).await);
    assert_eq!(issuer.requests(Endpoint::Jwks), 0);
    // A trailing slash is a different issuer too (RFC 8414 §3.3: exact match).
    let error = IssuerMetadata::from_json(&issuer.url(), br#"{"issuer":"x/"}"#).unwrap_err();
    assert_eq!(error.kind(), FetchErrorKind::IssuerMismatch);
}

/// A `jwks_uri` from discovery must be https too.
#[tokio::test]
async fn discovered_plain_http_jwks_uri_is_refused() {
    let issuer = TestIssuer::start().await;
    issuer.set_metadata("jwks_uri", "http://keys.example/jwks");
    let clock = ManualClock::at_unix(T0);
    let keys = discovered_keys_for(&issuer, &clock).build().unwrap();
    let error = bounded("refresh", keys.refresh()).await.unwrap_err();
    assert_eq!(error.kind(), FetchErrorKind::InsecureUrl);
}

/// The pluggable transport: any tower service, here one answering from memory over an
/// `https` URL. The client's rules still apply to what it returns.
#[tokio::test]
async fn custom_transport_is_used() {
    #[derive(Clone)]
    struct Canned {
        body: Bytes,
        content_type: &'static str,
        calls: Arc<AtomicUsize>,
    }
    impl tower_service::Service<http::Request<Full<Bytes>>> for Canned {
        type Response = http::Response<Full<Bytes>>;
        type Error = std::convert::Infallible;
        type Future = std::future::Ready<Result<Self::Response, Self::Error>>;
        fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
            Poll::Ready(Ok(()))
        }
        fn call(&mut self, request: http::Request<Full<Bytes>>) -> Self::Future {
            assert_eq!(request.uri(), "https://issuer.example/jwks");
            self.calls.fetch_add(1, Ordering::SeqCst);
            let mut response = http::Response::new(Full::new(self.body.clone()));
            response.headers_mut().insert(
                http::header::CONTENT_TYPE,
                self.content_type.parse().unwrap(),
            );
            std::future::ready(Ok(response))
        }
    }

    let key = SigningKey::generate(SigningAlgorithm::RS256);
    let calls = Arc::new(AtomicUsize::new(0));
    let transport = Canned {
        body: Bytes::from(jwks([&key]).to_string()),
        content_type: "application/json; charset=utf-8",
        calls: calls.clone(),
    };
    let keys_over = |transport: Canned| {
        let http = HttpClient::builder().transport(transport).build().unwrap();
        RemoteKeySet::from_jwks_url("https://issuer.example/jwks")
            .http_client(http)
            .startup(Startup::Lazy)
            .build()
            .unwrap()
    };
    let keys = keys_over(transport.clone());
    keys.refresh().await.unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert!(keys.current().unwrap().contains_kid(key.kid()));

    let keys = keys_over(Canned {
        content_type: "text/plain",
        ..transport
    });
    assert_eq!(
        keys.refresh().await.unwrap_err().kind(),
        FetchErrorKind::ContentType
    );
}

/// Tokens refused for reasons that need no key never cause a fetch.
#[tokio::test]
async fn bad_tokens_cause_no_fetch() {
    let World {
        issuer, verifier, ..
    } = World::new(TestIssuer::start().await);
    for token in ["", "not a token", "e30.e30.e30"] {
        let result = verifier.verify(token).await;
        assert!(matches!(&result, Err(e) if e.kind() == VerifyErrorKind::InvalidToken));
    }
    let es256 = SigningKey::generate(SigningAlgorithm::ES256);
    let result = verifier
        .verify(
            &es256
                .token()
                .standard_claims(&issuer.url(), AUDIENCE, T0)
                .sign(),
        )
        .await;
    assert_invalid(&result, ErrorKind::AlgorithmNotAllowed);
    assert_eq!(issuer.requests(Endpoint::Jwks), 0);
}
