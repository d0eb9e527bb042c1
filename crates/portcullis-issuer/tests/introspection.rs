//! RFC 7662 introspection against the testkit issuer on 127.0.0.1: call counts under
//! concurrency, cache lifetimes on the injected clock, revocation, negative caching,
//! client authentication, and every fault mode.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use portcullis_issuer::{
    ClientAuth, DiscoveryMode, HttpClient, IntrospectionVerifier, IntrospectionVerifierBuilder,
    IssuerMetadata, Secret, VerifyErrorKind,
};
use portcullis_jwt::{Clock, ErrorKind, ManualClock, Validation, VerifiedBy};
use portcullis_testkit::fixture::{AUDIENCE, NOW};
use portcullis_testkit::{
    Endpoint, Fault, INTROSPECTION_CLIENT_ID, INTROSPECTION_CLIENT_SECRET, IntrospectionClient,
    TestIssuer,
};
use serde_json::json;

use common::assert_invalid;

fn basic() -> ClientAuth {
    ClientAuth::ClientSecretBasic {
        client_id: INTROSPECTION_CLIENT_ID.into(),
        client_secret: Secret::new(INTROSPECTION_CLIENT_SECRET),
    }
}

fn validation(issuer: &TestIssuer) -> Validation {
    Validation::builder()
        .issuer(issuer.url())
        .audience(AUDIENCE)
        .build()
        .unwrap()
}

fn builder(issuer: &TestIssuer, clock: &ManualClock) -> IntrospectionVerifierBuilder {
    IntrospectionVerifier::builder(issuer.introspection_url(), basic(), validation(issuer))
        .http_client(
            HttpClient::builder()
                .timeout(Duration::from_millis(500))
                .connect_timeout(Duration::from_millis(500))
                .build()
                .unwrap(),
        )
        .clock(clock.clone())
}

/// A testkit issuer, a clock at [`NOW`], and an introspection verifier asking the issuer.
struct World {
    issuer: TestIssuer,
    clock: ManualClock,
    verifier: IntrospectionVerifier,
}

impl World {
    /// With the verifier as [`builder`] makes it.
    async fn start() -> World {
        World::with(|builder| builder).await
    }

    /// With the verifier `configure` makes of [`builder`].
    async fn with(
        configure: impl FnOnce(IntrospectionVerifierBuilder) -> IntrospectionVerifierBuilder,
    ) -> World {
        let issuer = TestIssuer::start().await;
        let clock = ManualClock::at_unix(NOW);
        let verifier = configure(builder(&issuer, &clock)).build().unwrap();
        World {
            issuer,
            clock,
            verifier,
        }
    }

    /// Asserts that the answer about `token` (`active` or not), cached when the issuer
    /// had been asked `asked` times, is reused until `lifetime` has passed and asked for
    /// again once it has.
    async fn assert_cached_for(&self, token: &str, lifetime: Duration, active: bool, asked: u64) {
        self.clock.advance(lifetime - Duration::from_secs(1));
        assert_eq!(self.verifier.verify(token).await.is_ok(), active);
        assert_eq!(self.issuer.requests(Endpoint::Introspection), asked);
        self.clock.advance(Duration::from_secs(1));
        assert_eq!(self.verifier.verify(token).await.is_ok(), active);
        assert_eq!(self.issuer.requests(Endpoint::Introspection), asked + 1);
    }
}

fn now(clock: &ManualClock) -> u64 {
    clock
        .now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[tokio::test]
async fn an_active_opaque_token_becomes_claims() {
    let w = World::start().await;
    let token = w.issuer.mint_opaque(AUDIENCE, NOW, "read write");
    let claims = w.verifier.verify(&token).await.unwrap();
    assert_eq!(claims.subject(), Some("test-subject"));
    assert_eq!(claims.issuer(), Some(w.issuer.url().as_str()));
    assert!(claims.scopes().contains("write"));
    assert_eq!(*claims.verified_by(), VerifiedBy::Introspection);
    assert_eq!(w.issuer.requests(Endpoint::Introspection), 1);
}

#[tokio::test(flavor = "current_thread")]
async fn a_thousand_concurrent_requests_make_one_call() {
    let w = World::with(|builder| builder.http_client(HttpClient::new())).await;
    let token = w.issuer.mint_opaque(AUDIENCE, NOW, "read");
    w.issuer.set_fault(Endpoint::Introspection, Fault::Hang);
    let tasks: Vec<_> = (0..1_000)
        .map(|_| {
            let (verifier, token) = (w.verifier.clone(), token.clone());
            tokio::spawn(async move { verifier.verify(&token).await })
        })
        .collect();
    // On this one-thread runtime every task has run up to its first wait by the time
    // the issuer has seen the first request: one inside the call, the rest waiting on it.
    w.issuer.wait_for_requests(Endpoint::Introspection, 1).await;
    w.issuer.release(Endpoint::Introspection);
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    assert_eq!(w.issuer.requests(Endpoint::Introspection), 1);
    assert_eq!(w.verifier.calls(), 1);
}

#[tokio::test]
async fn cached_within_the_lifetime_then_asked_again() {
    let w = World::with(|builder| builder.cache_ttl(Duration::from_secs(60))).await;
    let token = w.issuer.mint_opaque(AUDIENCE, NOW, "read");
    for _ in 0..10 {
        w.verifier.verify(&token).await.unwrap();
    }
    assert_eq!(w.issuer.requests(Endpoint::Introspection), 1);
    w.assert_cached_for(&token, Duration::from_secs(60), true, 1)
        .await;
}

#[tokio::test]
async fn revocation_takes_effect_within_the_cache_lifetime() {
    let w = World::with(|builder| {
        builder
            .cache_ttl(Duration::from_secs(60))
            .negative_ttl(Duration::from_secs(10))
    })
    .await;
    let token = w.issuer.mint_opaque(AUDIENCE, NOW, "read");
    w.verifier.verify(&token).await.unwrap();
    w.issuer.revoke(&token);
    // The documented window: still accepted from the cache.
    w.clock.advance(Duration::from_secs(30));
    w.verifier.verify(&token).await.unwrap();
    // After the lifetime, the issuer is asked and says inactive.
    w.clock.advance(Duration::from_secs(30));
    assert_invalid(&w.verifier.verify(&token).await, ErrorKind::Inactive);
    assert_eq!(w.issuer.requests(Endpoint::Introspection), 2);
    // The negative result is reused for its lifetime, then asked again.
    w.assert_cached_for(&token, Duration::from_secs(10), false, 2)
        .await;
}

#[tokio::test]
async fn without_a_cache_every_request_asks() {
    let w = World::with(|builder| builder.no_cache()).await;
    let token = w.issuer.mint_opaque(AUDIENCE, NOW, "read");
    w.verifier.verify(&token).await.unwrap();
    w.issuer.revoke(&token);
    assert_eq!(
        w.verifier
            .verify(&token)
            .await
            .unwrap_err()
            .token_error()
            .unwrap()
            .kind(),
        ErrorKind::Inactive
    );
    assert_eq!(w.issuer.requests(Endpoint::Introspection), 2);
}

#[tokio::test]
async fn after_exp_refused_without_a_call() {
    let w = World::with(|builder| builder.cache_ttl(Duration::from_secs(3_600))).await;
    let token = w.issuer.mint_opaque(AUDIENCE, NOW, "read"); // exp = NOW + 300
    w.verifier.verify(&token).await.unwrap();
    // exp + 30 s leeway
    w.clock.advance(Duration::from_secs(329));
    w.verifier.verify(&token).await.unwrap();
    w.clock.advance(Duration::from_secs(1));
    assert_invalid(&w.verifier.verify(&token).await, ErrorKind::Expired);
    assert_eq!(w.issuer.requests(Endpoint::Introspection), 1);
}

#[tokio::test]
async fn an_expired_active_answer_is_refused_and_never_cached_as_valid() {
    let w = World::start().await;
    let token = w.issuer.mint_opaque(AUDIENCE, NOW - 1_000, "read");
    assert_invalid(&w.verifier.verify(&token).await, ErrorKind::Expired);
}

#[tokio::test]
async fn unknown_tokens_are_negatively_cached() {
    let w = World::with(|builder| builder.negative_ttl(Duration::from_secs(10))).await;
    for _ in 0..5 {
        let error = w.verifier.verify("no-such-token").await.unwrap_err();
        assert_eq!(error.kind(), VerifyErrorKind::InvalidToken);
    }
    assert_eq!(w.issuer.requests(Endpoint::Introspection), 1);
    w.clock.advance(Duration::from_secs(10));
    w.verifier.verify("no-such-token").await.unwrap_err();
    assert_eq!(w.issuer.requests(Endpoint::Introspection), 2);
}

#[tokio::test]
async fn audience_issuer_and_time_rules_apply_to_active_answers() {
    let w = World::start().await;
    let base = json!({"active": true, "iss": w.issuer.url(), "aud": AUDIENCE, "exp": NOW + 300,
                      "sub": "s", "scope": "read"});
    let with = |name: &str, value: serde_json::Value| {
        let mut response = base.clone();
        response[name] = value;
        response
    };
    for (response, expected) in [
        (
            with("aud", json!("https://other.test")),
            ErrorKind::InvalidAudience,
        ),
        (
            with("aud", json!(["https://other.test"])),
            ErrorKind::InvalidAudience,
        ),
        (
            with("iss", json!("https://evil.test")),
            ErrorKind::InvalidIssuer,
        ),
        (with("nbf", json!(NOW + 1_000)), ErrorKind::NotYetValid),
        (with("exp", json!("soon")), ErrorKind::InvalidClaim),
        (with("active", json!(false)), ErrorKind::Inactive),
        (
            with("token_type", json!("refresh_token")),
            ErrorKind::Inactive,
        ),
    ] {
        let token = w.issuer.mint_opaque_with(response.clone());
        let error = w.verifier.verify(&token).await.unwrap_err();
        assert_eq!(error.kind(), VerifyErrorKind::InvalidToken, "{response}");
        assert_eq!(error.token_error().unwrap().kind(), expected, "{response}");
    }
    // Without exp, an active answer is accepted (RFC 7662 makes it optional).
    let mut no_exp = base.clone();
    no_exp.as_object_mut().unwrap().remove("exp");
    w.verifier
        .verify(&w.issuer.mint_opaque_with(no_exp))
        .await
        .unwrap();
}

#[tokio::test]
async fn malformed_answers_are_outages_not_acceptance() {
    let w = World::start().await;
    for response in [
        json!({"active": "true", "iss": w.issuer.url(), "aud": AUDIENCE}),
        json!({"active": 1}),
        json!([true]),
        json!("active"),
    ] {
        let token = w.issuer.mint_opaque_with(response.clone());
        let error = w.verifier.verify(&token).await.unwrap_err();
        assert_eq!(error.kind(), VerifyErrorKind::Unavailable, "{response}");
        assert!(error.retry_after().is_some());
    }
}

#[tokio::test]
async fn every_fault_mode_is_a_503_and_nothing_is_accepted() {
    let w = World::start().await;
    let token = w.issuer.mint_opaque(AUDIENCE, NOW, "read");
    let faults = [
        Fault::Status(500),
        Fault::Status(503),
        Fault::Status(401),
        Fault::Status(404),
        Fault::Garbage,
        Fault::Oversized(2 * 1024 * 1024),
        Fault::ContentType("text/html".into()),
        Fault::Redirect("https://evil.test/introspect".into()),
        Fault::CloseConnection,
        Fault::Hang,
    ];
    for fault in faults {
        w.issuer.set_fault(Endpoint::Introspection, fault.clone());
        let error = w.verifier.verify(&token).await.unwrap_err();
        assert_eq!(error.kind(), VerifyErrorKind::Unavailable, "{fault:?}");
        assert_eq!(error.retry_after(), Some(Duration::from_secs(5)));
        w.issuer.release(Endpoint::Introspection);
    }
    // Failures are not cached: the issuer recovers, so does verification.
    w.verifier.verify(&token).await.unwrap();
    assert!(w.verifier.failures() >= 10);
}

/// What a certified provider answers when asked to introspect a JWT-shaped string.
const JWT_SHAPED: &str = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl";

/// A 400 with an RFC 6749 §5.2 error object about the token is the endpoint's answer,
/// not an outage: 401 `invalid_token`, and kept for the negative lifetime.
#[tokio::test]
async fn a_400_oauth_error_about_the_token_is_a_refusal() {
    let w = World::with(|builder| builder.negative_ttl(Duration::from_secs(10))).await;
    w.issuer.set_fault(
        Endpoint::Introspection,
        Fault::Respond(400, r#"{"error":"unsupported_token_type"}"#.into()),
    );
    for _ in 0..2 {
        let error = w.verifier.verify(JWT_SHAPED).await.unwrap_err();
        assert_eq!(error.kind(), VerifyErrorKind::InvalidToken, "{error:?}");
        assert_eq!(error.retry_after(), None);
        let refusal = error.token_error().unwrap();
        assert_eq!(refusal.kind(), ErrorKind::Inactive);
        assert_eq!(refusal.bearer_error().code(), "invalid_token");
    }
    // The second answer came from the cache.
    assert_eq!(w.issuer.requests(Endpoint::Introspection), 1);
    assert_eq!(w.verifier.failures(), 0);
    w.clock.advance(Duration::from_secs(10));
    w.verifier.verify(JWT_SHAPED).await.unwrap_err();
    assert_eq!(w.issuer.requests(Endpoint::Introspection), 2);

    for (i, code) in ["invalid_request", "invalid_token"].into_iter().enumerate() {
        w.issuer.set_fault(
            Endpoint::Introspection,
            Fault::Respond(
                400,
                format!(r#"{{"error":"{code}","error_description":"no such token"}}"#),
            ),
        );
        let token = format!("{JWT_SHAPED}{i}");
        let error = w.verifier.verify(&token).await.unwrap_err();
        assert_eq!(error.kind(), VerifyErrorKind::InvalidToken, "{code}");
        w.verifier.verify(&token).await.unwrap_err();
    }
    assert_eq!(w.issuer.requests(Endpoint::Introspection), 4);
    assert_eq!(w.verifier.failures(), 0);
}

/// A 400 whose body is not an OAuth error object about the token says nothing about
/// the token: 503, and not cached.
#[tokio::test]
async fn a_400_without_an_oauth_error_about_the_token_is_an_outage() {
    let w = World::start().await;
    let bodies = [
        "<html>Bad Request</html>",
        "",
        r#"{"error":"invalid_client"}"#,
        r#"{"error":"server_error"}"#,
        r#"{"error":["invalid_token"]}"#,
        r#"{"message":"invalid_token"}"#,
        r#"["invalid_token"]"#,
        r#""invalid_token""#,
    ];
    for body in bodies {
        w.issuer
            .set_fault(Endpoint::Introspection, Fault::Respond(400, body.into()));
        let error = w.verifier.verify(JWT_SHAPED).await.unwrap_err();
        assert_eq!(error.kind(), VerifyErrorKind::Unavailable, "{body}");
        assert_eq!(error.retry_after(), Some(Duration::from_secs(5)), "{body}");
    }
    // Nothing was cached: every answer was asked for.
    assert_eq!(
        w.issuer.requests(Endpoint::Introspection),
        bodies.len() as u64
    );
    assert_eq!(w.verifier.failures(), bodies.len() as u64);
}

/// A 401 or 403 refuses our client credentials, not the token; other statuses are no
/// answer at all. Whatever the body says, they are outages.
#[tokio::test]
async fn a_refusal_of_our_credentials_is_an_outage() {
    let w = World::start().await;
    for (status, body) in [
        (401, r#"{"error":"invalid_client"}"#),
        // A bearer-authenticated endpoint refusing the resource server's own token.
        (401, r#"{"error":"invalid_token"}"#),
        (403, r#"{"error":"unsupported_token_type"}"#),
        (500, r#"{"error":"invalid_request"}"#),
        (503, r#"{"error":"invalid_token"}"#),
    ] {
        w.issuer
            .set_fault(Endpoint::Introspection, Fault::Respond(status, body.into()));
        let error = w.verifier.verify(JWT_SHAPED).await.unwrap_err();
        assert_eq!(
            error.kind(),
            VerifyErrorKind::Unavailable,
            "{status} {body}"
        );
        assert_eq!(error.retry_after(), Some(Duration::from_secs(5)));
    }
    assert_eq!(w.issuer.requests(Endpoint::Introspection), 5);
}

#[tokio::test]
async fn client_authentication_methods() {
    // Basic with reserved characters in id and secret: accepted only if encoded right.
    let issuer = TestIssuer::start().await;
    let clock = ManualClock::at_unix(NOW);
    let token = issuer.mint_opaque(AUDIENCE, NOW, "read");
    builder(&issuer, &clock)
        .build()
        .unwrap()
        .verify(&token)
        .await
        .unwrap();

    // Wrong secret: the endpoint answers 401, which is an outage (503), not a 401.
    let wrong = IntrospectionVerifier::builder(
        issuer.introspection_url(),
        ClientAuth::ClientSecretBasic {
            client_id: INTROSPECTION_CLIENT_ID.into(),
            client_secret: Secret::new("wrong"),
        },
        validation(&issuer),
    )
    .clock(clock.clone())
    .build()
    .unwrap();
    assert_eq!(
        wrong.verify(&token).await.unwrap_err().kind(),
        VerifyErrorKind::Unavailable
    );

    let post = TestIssuer::builder()
        .introspection_client(IntrospectionClient::Post {
            client_id: "rs".into(),
            client_secret: "p&ss=word".into(),
        })
        .start()
        .await;
    let auth = ClientAuth::ClientSecretPost {
        client_id: "rs".into(),
        client_secret: Secret::new("p&ss=word"),
    };
    assert_accepted_with(&post, auth, &clock).await;

    let bearer = TestIssuer::builder()
        .introspection_client(IntrospectionClient::Bearer(
            "introspection-credential".into(),
        ))
        .start()
        .await;
    let auth = ClientAuth::Bearer(Secret::new("introspection-credential"));
    assert_accepted_with(&bearer, auth, &clock).await;
}

/// Asserts that a verifier authenticating to `issuer` with `auth` has a token accepted.
async fn assert_accepted_with(issuer: &TestIssuer, auth: ClientAuth, clock: &ManualClock) {
    let token = issuer.mint_opaque(AUDIENCE, NOW, "read");
    IntrospectionVerifier::builder(issuer.introspection_url(), auth, validation(issuer))
        .clock(clock.clone())
        .build()
        .unwrap()
        .verify(&token)
        .await
        .unwrap();
}

#[tokio::test]
async fn the_endpoint_comes_from_discovery() {
    let issuer = TestIssuer::start().await;
    let clock = ManualClock::at_unix(NOW);
    let metadata = IssuerMetadata::discover(
        &HttpClient::new(),
        &issuer.url(),
        DiscoveryMode::OpenIdThenOAuth,
    )
    .await
    .unwrap();
    let verifier = IntrospectionVerifier::from_metadata(&metadata, basic(), validation(&issuer))
        .unwrap()
        .clock(clock.clone())
        .build()
        .unwrap();
    let token = issuer.mint_opaque(AUDIENCE, now(&clock), "read");
    verifier.verify(&token).await.unwrap();
}

#[tokio::test]
async fn oversized_and_empty_tokens_never_reach_the_issuer() {
    let w = World::start().await;
    for token in [String::new(), "x".repeat(9_000)] {
        let error = w.verifier.verify(&token).await.unwrap_err();
        assert_eq!(error.kind(), VerifyErrorKind::InvalidToken);
        // Refused on sight by the cache-only path too, which is what the layer calls.
        let error = w.verifier.cached(&token).expect("an answer").unwrap_err();
        assert_eq!(error.kind(), VerifyErrorKind::InvalidToken);
    }
    assert_eq!(w.issuer.requests(Endpoint::Introspection), 0);
    // Never hashed, never looked up: not even a miss is counted.
    assert_eq!(w.verifier.cache_stats().unwrap().misses, 0);
}

#[test]
fn plain_http_endpoints_are_refused_unless_loopback() {
    let v = Validation::builder()
        .issuer("https://issuer.test")
        .audience(AUDIENCE)
        .build()
        .unwrap();
    assert!(
        IntrospectionVerifier::builder("http://issuer.test/introspect", basic(), v.clone())
            .build()
            .is_err()
    );
    assert!(
        IntrospectionVerifier::builder("https://issuer.test/introspect", basic(), v)
            .build()
            .is_ok()
    );
}
