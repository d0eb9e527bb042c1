//! The cost of verifying a known-`kid` token through a [`RemoteKeySet`], alone and
//! while other threads verify against the same set, next to the static-key baseline.
//!
//! `cargo bench -p portcullis-issuer --bench remote_keys`

use std::hint::black_box;
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use criterion::{Criterion, criterion_main};
use portcullis_issuer::{JwtVerifier, RemoteKeySet, Startup, Validation};
use portcullis_jwt::{Algorithm, KeySet};
use portcullis_testkit::{SigningAlgorithm, TestIssuer};

const AUDIENCE: &str = "https://api.bench";

/// Polls a verification once: with a known `kid` it never waits, so it is ready at
/// once, and no executor's cost is measured.
fn verify_now(verifier: &JwtVerifier, token: &str) -> bool {
    let mut future = pin!(verifier.verify(token));
    match future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        Poll::Ready(result) => result.is_ok(),
        Poll::Pending => panic!("a known-kid verification waited"),
    }
}

fn bench(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("a runtime");
    let (issuer, keys) = runtime.block_on(async {
        let issuer = TestIssuer::builder()
            .algorithm(SigningAlgorithm::ES256)
            .jwks_cache_control(Some("max-age=3600"))
            .start()
            .await;
        let keys = RemoteKeySet::from_jwks_url(&issuer.jwks_url())
            .startup(Startup::Lazy)
            .background_refresh(false)
            .build()
            .expect("a key set");
        keys.ready().await;
        (issuer, keys)
    });
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let token = issuer.mint(AUDIENCE, now);
    let validation = Validation::builder()
        .issuer(issuer.url())
        .audience(AUDIENCE)
        .algorithms([Algorithm::ES256])
        .build()
        .expect("a validation");
    let remote = JwtVerifier::with_remote_keys(validation.clone(), keys.clone());
    let static_set: KeySet = keys.current().expect("loaded");
    let fixed = JwtVerifier::with_static_keys(validation, static_set);
    assert!(verify_now(&remote, &token) && verify_now(&fixed, &token));

    let mut group = c.benchmark_group("known_kid_es256");
    group.measurement_time(Duration::from_secs(5));
    group.bench_function("static_keys", |b| {
        b.iter(|| verify_now(&fixed, black_box(&token)));
    });
    group.bench_function("remote_keys", |b| {
        b.iter(|| verify_now(&remote, black_box(&token)));
    });

    // The other threads: one fewer than the cores, so contention on the set is
    // measured rather than the scheduler sharing a core.
    let hammers = std::thread::available_parallelism()
        .map_or(1, |n| n.get().saturating_sub(1))
        .max(1);
    let stop = Arc::new(AtomicBool::new(false));
    let threads: Vec<_> = (0..hammers)
        .map(|_| {
            let (remote, token, stop) = (remote.clone(), token.clone(), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    assert!(verify_now(&remote, &token));
                }
            })
        })
        .collect();
    group.bench_function(format!("remote_keys_with_{hammers}_other_threads"), |b| {
        b.iter(|| verify_now(&remote, black_box(&token)));
    });
    stop.store(true, Ordering::Relaxed);
    for thread in threads {
        thread.join().expect("a hammer thread");
    }
    group.finish();
    drop(issuer);
    drop(runtime);
}

// The macro's generated function has no doc comment.
#[allow(missing_docs)]
mod group {
    criterion::criterion_group!(benches, super::bench);
}
use group::benches;
criterion_main!(benches);
