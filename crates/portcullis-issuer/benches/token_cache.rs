//! Where a verified-token cache hit spends its time: the keyed hash of the token, the
//! cache lookup, and a whole `JwtVerifier::verify` answered from the cache; and the
//! cache key next to HMAC-SHA256 for tokens of 43 to 2,048 bytes.
//!
//! `cargo bench -p portcullis-issuer --bench token_cache`
#![allow(missing_docs, clippy::unwrap_used)]

use std::hint::black_box;
use std::time::{Duration, SystemTime};

use criterion::{Criterion, criterion_group, criterion_main};
use portcullis_issuer::{JwtVerifier, TokenCache};
use portcullis_jwt::Claims;
use portcullis_testkit::{SigningAlgorithm, SigningKey};

#[path = "../../../benches/harness/src/fixture.rs"]
mod fixture;
use fixture::now_or_never;

fn token_cache(c: &mut Criterion) {
    let key = SigningKey::generate(SigningAlgorithm::ES256);
    let token = fixture::token(&key).claim("scope", "read write").sign();
    let keys = fixture::key_set(&key);
    let validation = fixture::rules().build().unwrap();
    let cache = TokenCache::<Claims>::builder().build().unwrap();
    let verifier = JwtVerifier::with_static_keys(validation, keys).with_token_cache(cache.clone());
    now_or_never(verifier.verify(&token)).unwrap();

    let mut group = c.benchmark_group("token_cache");
    group.bench_function(format!("key_of_{}_byte_token", token.len()), |b| {
        b.iter(|| cache.key(black_box(&token)))
    });
    let k = cache.key(&token);
    group.bench_function("get_hit", |b| b.iter(|| cache.get(black_box(&k)).unwrap()));
    let at = SystemTime::now();
    group.bench_function("get_at_hit", |b| {
        b.iter(|| cache.get_at(black_box(&k), black_box(at)).unwrap())
    });
    group.bench_function("verify_hit", |b| {
        b.iter(|| now_or_never(verifier.verify(black_box(&token))).unwrap())
    });
    group.finish();

    // The cache key against the HMAC-SHA256 it replaced, side by side, from an opaque
    // token's length to a large JWT's.
    let mut group = c.benchmark_group("cache_key");
    let rng = aws_lc_rs::rand::SystemRandom::new();
    let hmac_key = aws_lc_rs::hmac::Key::generate(aws_lc_rs::hmac::HMAC_SHA256, &rng).unwrap();
    for len in [43, 445, 701, 2048] {
        let input: String = token.chars().cycle().take(len).collect();
        group.bench_function(format!("aes256_gcm_siv/{len}B"), |b| {
            b.iter(|| cache.key(black_box(&input)))
        });
        group.bench_function(format!("hmac_sha256/{len}B"), |b| {
            b.iter(|| aws_lc_rs::hmac::sign(&hmac_key, black_box(input.as_bytes())))
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = token_cache
}
criterion_main!(benches);
