//! Portcullis and its peers side by side, per algorithm, in one run.
//!
//! Per algorithm: the raw aws-lc-rs signature check, `portcullis-jwt` verify,
//! jsonwebtoken decode, and one request through an axum router guarded by portcullis
//! (full verification, and a token-cache hit), jwt-authorizer and
//! tower-oauth2-resource-server; and once, the unguarded routers. Every configuration is
//! asserted to accept the valid token and refuse a tampered one first.
//!
//! `scripts/bench-peers` (runs this with the settings the published figures used).
#![allow(missing_docs, clippy::unwrap_used)]

use std::hint::black_box;
use std::time::SystemTime;

use criterion::{Criterion, criterion_group, criterion_main};
use portcullis_bench_peers::*;
use tower::ServiceExt;

fn peers(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let fixtures = Fixture::all();

    // The unguarded routes, carrying the RS256 bearer header like the guarded ones.
    {
        let header = bearer(&fixtures[0].token);
        let (axum08, axum07) = (unprotected(), unprotected_axum07());
        rt.block_on(async {
            assert_eq!(status(&axum08, None).await, 200);
            assert_eq!(status07(&axum07, None).await, 200);
        });
        let mut group = c.benchmark_group("baseline");
        group.bench_function("axum08_no_auth", |b| {
            b.to_async(&rt).iter(|| {
                let (svc, req) = (axum08.clone(), request_with(&header));
                async move { svc.oneshot(req).await.unwrap() }
            })
        });
        group.bench_function("axum07_no_auth", |b| {
            b.to_async(&rt).iter(|| {
                let (svc, req) = (axum07.clone(), request07_with(&header));
                async move { svc.oneshot(req).await.unwrap() }
            })
        });
        group.finish();
    }

    for fixture in &fixtures {
        let raw = RawVerify::new(fixture, &fixture.token);
        let raw_tampered = RawVerify::new(fixture, &fixture.tampered);
        let jwt = JsonWebToken::new(fixture);
        assert_decoders(fixture, &raw, &raw_tampered, &jwt);
        let (validation, keys) = (fixture.validation(), fixture.key_set());

        let full = portcullis(fixture.verifier());
        let cached = portcullis(fixture.cached_verifier());
        let (jwt_authorizer, tower_oauth2) = rt.block_on(async {
            assert_guards("portcullis", fixture, &full).await;
            assert_guards("portcullis cached", fixture, &cached).await;
            let jwt_authorizer = jwt_authorizer(fixture).await;
            assert_guards07("jwt-authorizer", fixture, &jwt_authorizer).await;
            let tower_oauth2 = tower_oauth2(fixture).await;
            assert_guards("tower-oauth2-resource-server", fixture, &tower_oauth2).await;
            (jwt_authorizer, tower_oauth2)
        });
        let header = bearer(&fixture.token);

        let mut group = c.benchmark_group(fixture.name);
        group.bench_function("raw_aws_lc_rs", |b| {
            b.iter(|| assert!(black_box(&raw).verify()))
        });
        group.bench_function("portcullis_jwt_verify", |b| {
            b.iter(|| {
                validation
                    .verify(black_box(&fixture.token), &keys, SystemTime::now())
                    .unwrap()
            })
        });
        group.bench_function("jsonwebtoken_decode", |b| {
            b.iter(|| jwt.decode(black_box(&fixture.token)).unwrap())
        });
        for (name, router) in [
            ("portcullis_layer", &full),
            ("portcullis_layer_cache_hit", &cached),
            ("tower_oauth2_rs_layer", &tower_oauth2),
        ] {
            group.bench_function(name, |b| {
                b.to_async(&rt).iter(|| {
                    let (svc, req) = (router.clone(), request_with(&header));
                    async move {
                        let response = svc.oneshot(req).await.unwrap();
                        debug_assert_eq!(response.status(), 200);
                        response
                    }
                })
            });
        }
        group.bench_function("jwt_authorizer_layer", |b| {
            b.to_async(&rt).iter(|| {
                let (svc, req) = (jwt_authorizer.clone(), request07_with(&header));
                async move { svc.oneshot(req).await.unwrap() }
            })
        });
        group.finish();
    }
}

/// Where a cache hit's time goes, part one: the bearer-token character check
/// (`portcullis::token`), current and branchless, on each algorithm's token.
fn token_scan(c: &mut Criterion) {
    let mut group = c.benchmark_group("token_scan");
    for fixture in Fixture::all()
        .iter()
        .filter(|f| matches!(f.name, "RS256" | "ES256"))
    {
        let token = fixture.token.as_bytes();
        for bad in [&b"abc=d"[..], b"", b"==", b"a b", b"ab=="] {
            assert_eq!(
                token_scan::current(bad),
                token_scan::branchless(bad),
                "{bad:?}"
            );
        }
        for bad in [
            &b"abc=d"[..],
            b"",
            b"==",
            b"a b",
            b"ab==",
            b"a,b",
            b"a@b",
            b"a`b",
            b"a[b",
            b"a{b",
            b"a\x7fb",
            b"a\xadb",
            b"a:b",
            b"a*b",
        ] {
            let expected = token_scan::current(bad);
            assert_eq!(token_scan::ranges(bad), expected, "{bad:?}");
        }
        for b in 0..=255u8 {
            for at in [0usize, 5, 17, 40] {
                let mut probe = token[..48].to_vec();
                probe[at] = b;
                let expected = token_scan::current(&probe);
                assert_eq!(token_scan::ranges(&probe), expected, "{b} at {at}");
            }
        }
        assert!(token_scan::current(token) && token_scan::branchless(token));
        assert!(token_scan::jws_segments(token));
        group.bench_function(
            format!("jws_segments_{}_{}B", fixture.name, token.len()),
            |b| b.iter(|| token_scan::jws_segments(black_box(token))),
        );
        group.bench_function(format!("simdutf8_{}_{}B", fixture.name, token.len()), |b| {
            b.iter(|| simdutf8::basic::from_utf8(black_box(token)).is_ok())
        });
        group.bench_function(format!("ranges_{}_{}B", fixture.name, token.len()), |b| {
            b.iter(|| token_scan::ranges(black_box(token)))
        });
        group.bench_function(
            format!("from_utf8_{}_{}B", fixture.name, token.len()),
            |b| b.iter(|| std::str::from_utf8(black_box(token)).is_ok()),
        );
        group.bench_function(format!("current_{}_{}B", fixture.name, token.len()), |b| {
            b.iter(|| token_scan::current(black_box(token)))
        });
        group.bench_function(
            format!("branchless_{}_{}B", fixture.name, token.len()),
            |b| b.iter(|| token_scan::branchless(black_box(token))),
        );
    }
    group.finish();

    // Part two: the cache's own steps on a hit, on the RS256 token.
    let fixture = Fixture::new(
        "RS256",
        portcullis_testkit::SigningAlgorithm::RS256,
        portcullis_jwt::Algorithm::RS256,
        jsonwebtoken::Algorithm::RS256,
    );
    let cache = bench_cache(10_000);
    let claims = fixture
        .validation()
        .verify(&fixture.token, &fixture.key_set(), SystemTime::now())
        .unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let key = cache.key(&fixture.token);
    cache.insert(
        key,
        portcullis_issuer::Cached {
            value: claims.clone(),
            expires_at: SystemTime::now() + std::time::Duration::from_secs(3600),
        },
    );
    let mut group = c.benchmark_group("hit_parts");
    let len = fixture.token.len();
    // The cache key (AES-256-GCM-SIV's tag, `TokenCache::key`) and the constructions
    // weighed against it: HMAC-SHA256 in aws-lc-rs (the key before) and in RustCrypto
    // (`hmac` + `sha2`, SHA-NI detected at run time, keyed once and cloned per token), a
    // secret-prefix SHA-256 (the 64-byte key absorbed once, the state cloned per token;
    // aws-lc-rs's `digest::Context` and RustCrypto's `sha2`),
    // one plain SHA-256 pass (the floor of any SHA-256 construction), and the tag of
    // AES-128-GCM-SIV. docs/dependencies.md says why the key is what it is.
    group.bench_function(format!("token_cache_key_{len}B"), |b| {
        b.iter(|| cache.key(black_box(&fixture.token)))
    });
    let token = fixture.token.as_bytes();
    {
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let keyed = aws_lc_rs::hmac::Key::generate(aws_lc_rs::hmac::HMAC_SHA256, &rng).unwrap();
        group.bench_function(format!("aws_lc_hmac_sha256_{len}B"), |b| {
            b.iter(|| aws_lc_rs::hmac::sign(&keyed, black_box(token)))
        });
    }
    {
        use hmac::Mac as _;
        let keyed = hmac::Hmac::<sha2::Sha256>::new_from_slice(&[7u8; 32]).unwrap();
        group.bench_function(format!("rustcrypto_hmac_sha256_{len}B"), |b| {
            b.iter(|| {
                let mut mac = keyed.clone();
                mac.update(black_box(token));
                mac.finalize().into_bytes()
            })
        });
    }
    {
        let mut prefixed = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
        prefixed.update(&[7u8; 64]);
        group.bench_function(format!("aws_lc_prefix_sha256_{len}B"), |b| {
            b.iter(|| {
                let mut context = prefixed.clone();
                context.update(black_box(token));
                context.finish()
            })
        });
    }
    {
        use sha2::Digest as _;
        let mut prefixed = sha2::Sha256::new();
        prefixed.update([7u8; 64]);
        group.bench_function(format!("sha2_prefix_sha256_{len}B"), |b| {
            b.iter(|| {
                let mut context = prefixed.clone();
                context.update(black_box(token));
                context.finalize()
            })
        });
    }
    group.bench_function(format!("aws_lc_sha256_{len}B"), |b| {
        b.iter(|| aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, black_box(token)))
    });
    {
        use aws_lc_rs::aead::{AES_128_GCM_SIV, Aad, LessSafeKey, Nonce, UnboundKey};
        let key = LessSafeKey::new(UnboundKey::new(&AES_128_GCM_SIV, &[7u8; 16]).unwrap());
        group.bench_function(format!("aes128_gcm_siv_tag_{len}B"), |b| {
            b.iter(|| {
                key.seal_in_place_separate_tag(
                    Nonce::assume_unique_for_key([0u8; 12]),
                    Aad::from(black_box(token)),
                    &mut [],
                )
                .unwrap()
            })
        });
    }
    group.bench_function("token_cache_get", |b| {
        b.iter(|| cache.get(black_box(&key)).unwrap())
    });
    let at = SystemTime::now();
    group.bench_function("token_cache_get_at", |b| {
        b.iter(|| cache.get_at(black_box(&key), black_box(at)).unwrap())
    });
    group.bench_function("clock_read", |b| b.iter(SystemTime::now));
    group.bench_function("recheck", |b| {
        let validation = fixture.validation();
        b.iter(|| {
            validation
                .recheck(black_box(&claims), SystemTime::now())
                .unwrap()
        })
    });
    group.finish();

    // Part three: moka itself, configured as TokenCache does (per-entry expiry) and
    // without it (one time-to-live for all), keyed by 16 random bytes, value an Arc.
    let mut group = c.benchmark_group("moka_variants");
    let key = [7u8; 16];
    let per_entry: moka::future::Cache<[u8; 16], std::sync::Arc<u64>> =
        moka::future::Cache::builder()
            .max_capacity(10_000)
            .expire_after(FixedExpiry)
            .build();
    let global_ttl: moka::future::Cache<[u8; 16], std::sync::Arc<u64>> =
        moka::future::Cache::builder()
            .max_capacity(10_000)
            .time_to_live(std::time::Duration::from_secs(3600))
            .build();
    let no_expiry: moka::future::Cache<[u8; 16], std::sync::Arc<u64>> =
        moka::future::Cache::builder().max_capacity(10_000).build();
    for (name, cache) in [
        ("per_entry_expiry", &per_entry),
        ("global_ttl", &global_ttl),
        ("no_expiry", &no_expiry),
    ] {
        rt.block_on(cache.insert(key, std::sync::Arc::new(1)));
        group.bench_function(name, |b| {
            b.to_async(&rt)
                .iter(|| async { cache.get(black_box(&key)).await.unwrap() })
        });
    }
    // The same lookup in moka's sync::Cache (per-entry expiry, as TokenCache had it)
    // and in quick_cache (what TokenCache uses now; no expiry of its own), both with
    // SipHash, their default. TokenCache itself (quick_cache, identity hash of the
    // HMAC key, expiry check, counter) is `hit_parts/token_cache_get_at`.
    let sync_cache: moka::sync::Cache<[u8; 16], std::sync::Arc<u64>> = moka::sync::Cache::builder()
        .max_capacity(10_000)
        .expire_after(FixedExpiry)
        .build();
    sync_cache.insert(key, std::sync::Arc::new(1));
    group.bench_function("moka_sync_per_entry_expiry", |b| {
        b.iter(|| sync_cache.get(black_box(&key)).unwrap())
    });
    let quick: quick_cache::sync::Cache<[u8; 16], std::sync::Arc<u64>> =
        quick_cache::sync::Cache::new(10_000);
    quick.insert(key, std::sync::Arc::new(1));
    group.bench_function("quick_cache_siphash", |b| {
        b.iter(|| quick.get(black_box(&key)).unwrap())
    });
    group.finish();
}

struct FixedExpiry;

impl moka::Expiry<[u8; 16], std::sync::Arc<u64>> for FixedExpiry {
    fn expire_after_create(
        &self,
        _key: &[u8; 16],
        _value: &std::sync::Arc<u64>,
        _created_at: std::time::Instant,
    ) -> Option<std::time::Duration> {
        Some(std::time::Duration::from_secs(3600))
    }
}

criterion_group!(benches, peers, token_scan);
criterion_main!(benches);
