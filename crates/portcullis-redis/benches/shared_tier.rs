//! What a second-tier hit costs: an introspected token answered from Redis on loopback
//! (another replica asked the issuer), against an in-process hit and against asking the
//! issuer. Prints the median and the 99th percentile of each, per call.
//!
//! `cargo bench -p portcullis-redis --bench shared_tier [-- TOKENS]` (default 2,000; a run
//! without `--bench`, as `cargo test --all-targets` makes, verifies 20).

#![allow(clippy::unwrap_used, clippy::print_stdout)]

use std::time::{Duration, Instant};

use portcullis_issuer::{ClientAuth, HttpClient, IntrospectionVerifier, Secret, SharedKeys};
use portcullis_jwt::Validation;
use portcullis_redis::{RedisSharedTier, RedisStore};
use portcullis_testkit::fixture::{AUDIENCE, unix_now};
use portcullis_testkit::{
    INTROSPECTION_CLIENT_ID, INTROSPECTION_CLIENT_SECRET, RedisServer, TestIssuer,
};

fn verifier(issuer: &TestIssuer, store: &RedisStore, keys: SharedKeys) -> IntrospectionVerifier {
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
        .shared_tier(RedisSharedTier::new(store.clone()), keys)
        .build()
        .unwrap()
}

fn report(what: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
    println!(
        "{what:<28} n={:<6} median {:>8.1} µs   p99 {:>8.1} µs",
        samples.len(),
        at(0.5).as_secs_f64() * 1e6,
        at(0.99).as_secs_f64() * 1e6
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // A test runner listing tests (nextest: `--list`): this binary has none to list.
    if args.iter().any(|a| a == "--list") {
        return;
    }
    // `cargo bench` passes `--bench`; `cargo test --all-targets` does not: a smoke run.
    let default = if args.iter().any(|a| a == "--bench") {
        2_000
    } else {
        20
    };
    let tokens: usize = args.iter().find_map(|a| a.parse().ok()).unwrap_or(default);
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let issuer = TestIssuer::start().await;
    let runtime = tokio::runtime::Handle::current();
    let keys = SharedKeys::new(b"a secret the replicas share, 32+ bytes").unwrap();
    let (sa, sb) = (
        RedisStore::builder(redis.url()).build().unwrap(),
        RedisStore::builder(redis.url()).build().unwrap(),
    );
    sa.start(&runtime);
    sb.start(&runtime);
    assert!(sa.connected_within(Duration::from_secs(5)).await);
    assert!(sb.connected_within(Duration::from_secs(5)).await);
    let (a, b) = (
        verifier(&issuer, &sa, keys.clone()),
        verifier(&issuer, &sb, keys),
    );
    let minted: Vec<String> = (0..tokens)
        .map(|_| issuer.mint_opaque(AUDIENCE, unix_now(), "read"))
        .collect();

    let mut asked = Vec::with_capacity(tokens);
    for token in &minted {
        let started = Instant::now();
        a.verify(token).await.unwrap();
        asked.push(started.elapsed());
    }
    let mut second_tier = Vec::with_capacity(tokens);
    for token in &minted {
        let started = Instant::now();
        b.verify(token).await.unwrap();
        second_tier.push(started.elapsed());
    }
    let mut in_process = Vec::with_capacity(tokens);
    for token in &minted {
        let started = Instant::now();
        b.verify(token).await.unwrap();
        in_process.push(started.elapsed());
    }
    assert_eq!(b.shared_tier_stats().unwrap().hits, tokens as u64);
    report("issuer asked (+ tier write)", asked);
    report("second-tier hit (Redis)", second_tier);
    report("in-process hit", in_process);
}
