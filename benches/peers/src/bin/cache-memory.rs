//! Pushes N distinct valid tokens (HS256, minted in the loop and dropped) through a
//! `JwtVerifier` with a token cache of a configured capacity, then reports the entry
//! count and the resident-memory growth per entry.
//!
//! `cache-memory [tokens=1000000] [capacity=100000]`
#![allow(missing_docs, clippy::unwrap_used, clippy::print_stdout)]

use std::time::Instant;

use aws_lc_rs::hmac;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use portcullis::{JwtVerifier, KeySet, Validation};
use portcullis_bench_peers::{AUDIENCE, ISSUER, bench_cache, unix_now};
use portcullis_jwt::{Algorithm, Key};
use portcullis_testkit::{SigningAlgorithm, SigningKey};

fn vm_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

fn main() {
    let mut args = std::env::args().skip(1).map(|a| a.parse::<u64>().unwrap());
    let tokens = args.next().unwrap_or(1_000_000);
    let capacity = args.next().unwrap_or(100_000);

    let secret = [7u8; 32];
    let kid = "bench-hs256";
    let keys = KeySet::from_keys([Key::hmac_secret(Some(kid), Algorithm::HS256, &secret).unwrap()]);
    let validation = Validation::builder()
        .issuer(ISSUER)
        .audience(AUDIENCE)
        .algorithms([Algorithm::HS256])
        .build()
        .unwrap();
    // The header the testkit would write, so the token is one portcullis accepts as is.
    let testkit = SigningKey::hmac(SigningAlgorithm::HS256, &secret)
        .unwrap()
        .with_kid(kid);
    let header = URL_SAFE_NO_PAD.encode(testkit.token().header_json());
    let mac = hmac::Key::new(hmac::HMAC_SHA256, &secret);
    let now = unix_now();
    let mint = |i: u64| {
        let payload = format!(
            r#"{{"iss":"{ISSUER}","aud":"{AUDIENCE}","sub":"user-{i}","client_id":"bench","iat":{now},"exp":{},"jti":"{i:016x}","scope":"read write"}}"#,
            now + 3600
        );
        let input = format!("{header}.{}", URL_SAFE_NO_PAD.encode(payload));
        let tag = hmac::sign(&mac, input.as_bytes());
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(tag))
    };
    let sample = mint(0);

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let cache = bench_cache(capacity);
    let verifier = JwtVerifier::with_static_keys(validation, keys).with_token_cache(cache.clone());
    rt.block_on(async {
        // Warm up allocator and code paths outside the measurement, then drop it all.
        verifier.verify(&sample).await.unwrap();
        verifier.verify(&tamper(&sample)).await.unwrap_err();
        cache.invalidate(&cache.key(&sample));
        cache.drop_expired();
    });
    let rss_before = vm_rss_kib();
    let started = Instant::now();
    let mut peak_entries = 0;
    rt.block_on(async {
        for i in 1..=tokens {
            let token = mint(i);
            verifier.verify(&token).await.unwrap();
            if i % 100_000 == 0 {
                cache.drop_expired();
                peak_entries = peak_entries.max(cache.entry_count());
            }
        }
        cache.drop_expired();
    });
    let elapsed = started.elapsed();
    let entries = cache.entry_count();
    peak_entries = peak_entries.max(entries);
    let rss_after = vm_rss_kib();
    let grown = (rss_after.saturating_sub(rss_before)) * 1024;
    let stats = verifier.token_cache_stats().unwrap();
    println!(
        "tokens pushed:      {tokens} distinct, {:.1} s ({:.2} µs/token incl. minting)",
        elapsed.as_secs_f64(),
        elapsed.as_secs_f64() * 1e6 / tokens as f64
    );
    println!("capacity:           {capacity}");
    println!("entry_count:        {entries} after drop_expired (highest seen {peak_entries})");
    println!("token length:       {} bytes", sample.len());
    println!("misses / hits:      {} / {}", stats.misses, stats.hits);
    println!(
        "VmRSS:              {rss_before} KiB -> {rss_after} KiB (+{} KiB)",
        grown / 1024
    );
    println!(
        "bytes per entry:    {} (RSS growth / entry_count)",
        grown / entries.max(1)
    );
    assert!(peak_entries <= capacity, "the cache grew past its capacity");
}

use portcullis_bench_peers::tamper;
