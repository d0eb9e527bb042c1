//! The in-process cost of one request through the authentication layer (token
//! extraction → JWT verification → claims into extensions → handler), next to the
//! JWT verification alone (`Validation::verify`: signature and claims), for RS256 and
//! ES256.
//!
//! Then cache hits (introspection and verified-token caches, the latter also behind a
//! `MultiIssuerVerifier`) next to the no-auth baseline.
//!
//! With `PORTCULLIS_BENCH_PAIRED=<rounds>`, the paired timings instead, and DPoP: the
//! same token (a cache hit) sent as a bearer token and with the DPoP scheme and a fresh
//! ES256 proof each time (in-memory replay store), next to the proof's bare signature
//! check.
//!
//! `cargo bench -p portcullis --bench layer`
#![allow(missing_docs, clippy::unwrap_used)]

use std::convert::Infallible;
use std::hint::black_box;
use std::time::{Duration, SystemTime};

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use http::{HeaderValue, Request, Response};
use portcullis::{
    AuthenticationLayer, Claims, IntrospectionVerifier, JwtVerifier, MultiIssuerVerifier,
    Validation,
};
use portcullis_issuer::{ClientAuth, Secret, TokenCache};
use portcullis_jwt::Algorithm;
use portcullis_testkit::fixture::unix_now;
use portcullis_testkit::{INTROSPECTION_CLIENT_ID, INTROSPECTION_CLIENT_SECRET};
use portcullis_testkit::{SigningAlgorithm, SigningKey};
use tower::{Layer, Service, service_fn};

#[path = "../../../benches/harness/src/fixture.rs"]
mod fixture;
use fixture::{AUDIENCE, Fixed, now_or_never};

fn bench_algorithm(c: &mut Criterion, name: &str, alg: SigningAlgorithm, algorithm: Algorithm) {
    let key = SigningKey::generate(alg);
    let token = fixture::token(&key).claim("scope", "read write").sign();
    let keys = fixture::key_set(&key);
    let validation = fixture::rules().algorithms([algorithm]).build().unwrap();

    // Raw signature verification: the key's pre-parsed aws-lc-rs public key over the
    // signing input and the already-decoded signature (what every verifier must pay).
    let (signing_input, signature) = token.rsplit_once('.').unwrap();
    let signature = {
        use base64::Engine as _;
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(signature)
            .unwrap()
    };
    let raw_key = keys.keys()[0].clone();
    assert!(raw_key.verify(algorithm, signing_input.as_bytes(), &signature));
    let verifier = JwtVerifier::with_static_keys(validation.clone(), keys.clone());
    let mut service =
        AuthenticationLayer::new(verifier).layer(service_fn(|request: Request<()>| async move {
            let claims = request.extensions().get::<Claims>().unwrap();
            black_box(claims.subject());
            Ok::<_, Infallible>(Response::new(String::new()))
        }));
    let bearer = fixture::bearer(&token);
    if let Some(rounds) = paired_rounds() {
        paired(
            name,
            rounds,
            |kind| match kind {
                Kind::Raw => {
                    assert!(raw_key.verify(
                        algorithm,
                        black_box(signing_input.as_bytes()),
                        black_box(&signature)
                    ));
                }
                Kind::Verify => {
                    black_box(
                        validation
                            .verify(black_box(&token), &keys, SystemTime::now())
                            .unwrap(),
                    );
                }
                Kind::Layer(request) => {
                    let response = now_or_never(service.call(request)).unwrap();
                    assert_eq!(response.status(), 200);
                    black_box(response);
                }
            },
            &bearer,
        );
        return;
    }
    let mut group = c.benchmark_group(name);
    group.bench_function("raw", |b| {
        b.iter(|| {
            assert!(raw_key.verify(
                algorithm,
                black_box(signing_input.as_bytes()),
                black_box(&signature)
            ))
        })
    });
    group.bench_function("verify", |b| {
        b.iter(|| {
            validation
                .verify(black_box(&token), &keys, SystemTime::now())
                .unwrap()
        })
    });

    group.bench_function("layer", |b| {
        b.iter_batched(
            || fixture::request(&bearer),
            |request| {
                let response = now_or_never(service.call(request)).unwrap();
                assert_eq!(response.status(), 200);
                response
            },
            BatchSize::SmallInput,
        )
    });

    // The layer alone: a verifier that hands back claims already verified, so what is
    // measured is extraction, the span, the extensions insert and the handler.
    let claims = validation.verify(&token, &keys, SystemTime::now()).unwrap();
    let mut overhead = AuthenticationLayer::new(Fixed(claims)).layer(service_fn(
        |request: Request<()>| async move {
            let claims = request.extensions().get::<Claims>().unwrap();
            black_box(claims.subject());
            Ok::<_, Infallible>(Response::new(String::new()))
        },
    ));
    group.bench_function("layer_without_verification", |b| {
        b.iter_batched(
            || fixture::request(&bearer),
            |request| now_or_never(overhead.call(request)).unwrap(),
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

/// `PORTCULLIS_BENCH_PAIRED=<rounds>`: time raw, verify and layer in alternation instead
/// of criterion's long runs of one at a time.
fn paired_rounds() -> Option<usize> {
    std::env::var("PORTCULLIS_BENCH_PAIRED")
        .ok()
        .map(|rounds| rounds.parse().expect("PORTCULLIS_BENCH_PAIRED is a number"))
}

// Built and consumed in place, never stored: the size difference does not matter.
#[allow(clippy::large_enum_variant)]
enum Kind {
    Raw,
    Verify,
    Layer(Request<()>),
}

/// Times `run` for raw verification, `Validation::verify` and one request through the
/// layer in alternation, `rounds` batches of each, and prints the medians and the median
/// of the per-round ratios: drift on a shared machine moves both sides of a ratio taken
/// milliseconds apart alike. Requests are built before their batch is timed (as
/// criterion's `iter_batched` does) and dropped inside it.
#[allow(clippy::print_stdout)]
fn paired(name: &str, rounds: usize, mut run: impl FnMut(Kind), bearer: &HeaderValue) {
    use std::time::Instant;
    const BATCH: usize = 64;
    fn median(values: &mut [f64]) -> f64 {
        values.sort_by(f64::total_cmp);
        values[values.len() / 2]
    }
    let per_call = |started: Instant| started.elapsed().as_secs_f64() * 1e6 / BATCH as f64;
    let (mut raw, mut verify, mut layer, mut verify_ratio, mut layer_ratio) =
        (vec![], vec![], vec![], vec![], vec![]);
    for _ in 0..rounds {
        let started = Instant::now();
        for _ in 0..BATCH {
            run(Kind::Raw);
        }
        let r = per_call(started);
        let started = Instant::now();
        for _ in 0..BATCH {
            run(Kind::Verify);
        }
        let v = per_call(started);
        let requests: Vec<Request<()>> = (0..BATCH).map(|_| fixture::request(bearer)).collect();
        let started = Instant::now();
        for request in requests {
            run(Kind::Layer(request));
        }
        let l = per_call(started);
        raw.push(r);
        verify.push(v);
        layer.push(l);
        verify_ratio.push(v / r);
        layer_ratio.push(l / r);
    }
    println!(
        "| {name} | {:.2} | {:.2} | {:.3} | {:.2} | {:.3} |",
        median(&mut raw),
        median(&mut verify),
        median(&mut verify_ratio),
        median(&mut layer),
        median(&mut layer_ratio),
    );
}

/// Times `service` answering 200 to requests built by `make` (each a cache hit).
fn hits<S>(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    name: &str,
    mut service: S,
    make: impl Fn() -> Request<()>,
) where
    S: Service<Request<()>, Response = Response<String>, Error = Infallible>,
{
    group.bench_function(name, |b| {
        b.iter_batched(
            &make,
            |request| {
                let response = now_or_never(service.call(request)).unwrap();
                assert_eq!(response.status(), 200);
                response
            },
            BatchSize::SmallInput,
        )
    });
}

/// Cache hits through the layer next to the no-auth baseline: the handler alone, the
/// layer with an introspection result held in its cache, the layer with a verified JWT
/// held in the token cache.
fn cached(c: &mut Criterion) {
    if paired_rounds().is_some() {
        return;
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let issuer = runtime.block_on(portcullis_testkit::TestIssuer::start());
    let now = unix_now();
    let validation = Validation::builder()
        .issuer(issuer.url())
        .audience(AUDIENCE)
        .build()
        .unwrap();
    let handler = || {
        service_fn(|request: Request<()>| async move {
            black_box(request.extensions().get::<Claims>().map(Claims::subject));
            Ok::<_, Infallible>(Response::new(String::new()))
        })
    };
    let request_with = |token: &str| {
        let bearer = fixture::bearer(token);
        move || fixture::request(&bearer)
    };
    let mut group = c.benchmark_group("cached");

    let opaque = issuer.mint_opaque(AUDIENCE, now, "read write");
    let mut baseline = handler();
    let make = request_with(&opaque);
    group.bench_function("no_auth_baseline", |b| {
        b.iter_batched(
            &make,
            |request| now_or_never(baseline.call(request)).unwrap(),
            BatchSize::SmallInput,
        )
    });

    let introspection = IntrospectionVerifier::builder(
        issuer.introspection_url(),
        ClientAuth::ClientSecretBasic {
            client_id: INTROSPECTION_CLIENT_ID.into(),
            client_secret: Secret::new(INTROSPECTION_CLIENT_SECRET),
        },
        validation.clone(),
    )
    .cache_ttl(Duration::from_secs(3_600))
    .build()
    .unwrap();
    runtime
        .block_on(IntrospectionVerifier::verify(&introspection, &opaque))
        .unwrap();
    let service = AuthenticationLayer::new(introspection).layer(handler());
    hits(&mut group, "introspection_cache_hit", service, &make);

    let key = SigningKey::generate(SigningAlgorithm::ES256);
    let jwt = key
        .token()
        .standard_claims(&issuer.url(), AUDIENCE, now)
        .claim("scope", "read write")
        .sign();
    let keys = fixture::key_set(&key);
    let cache = TokenCache::<Claims>::builder().build().unwrap();
    let verifier = JwtVerifier::with_static_keys(validation, keys).with_token_cache(cache);
    runtime
        .block_on(JwtVerifier::verify(&verifier, &jwt))
        .unwrap();
    // The same verifier behind a multi-issuer router (the gateway's setup): the
    // difference is routing on the unverified `iss`.
    let routed = MultiIssuerVerifier::builder()
        .issuer("https://elsewhere.bench", verifier.clone())
        .issuer(issuer.url(), verifier.clone())
        .build()
        .unwrap();
    let make = request_with(&jwt);
    let direct = AuthenticationLayer::new(verifier).layer(handler());
    hits(&mut group, "jwt_cache_hit", direct, &make);
    let routed = AuthenticationLayer::new(routed).layer(handler());
    hits(&mut group, "multi_issuer_jwt_cache_hit", routed, &make);
    group.finish();
}

#[allow(clippy::print_stdout)]
fn layer(c: &mut Criterion) {
    if paired_rounds().is_some() {
        println!(
            "| algorithm | raw (µs) | verify (µs) | verify / raw | layer (µs) | layer / raw |"
        );
        println!("|---|---:|---:|---:|---:|---:|");
    }
    bench_algorithm(c, "ES256", SigningAlgorithm::ES256, Algorithm::ES256);
    bench_algorithm(c, "RS256", SigningAlgorithm::RS256, Algorithm::RS256);
    if let Some(rounds) = paired_rounds() {
        dpop_paired(rounds);
    }
}

/// What a DPoP request costs over the same request with a bearer token: `rounds`
/// alternations of 64 bearer requests, 64 DPoP requests (each with its own proof,
/// made beforehand) and 64 bare signature checks of a proof; prints the medians and
/// the median per-round `dpop − bearer − proof signature`, the part the issue bounds.
#[allow(clippy::print_stdout)]
fn dpop_paired(rounds: usize) {
    use std::time::Instant;

    use http::header;
    use portcullis::{DpopPolicy, KeySet};
    use portcullis_jwt::{Key, ManualClock};
    use portcullis_testkit::{access_token_hash, jwks};
    use serde_json::json;

    const BATCH: usize = 64;
    const ORIGIN: &str = "https://api.bench";
    fn median(values: &mut [f64]) -> f64 {
        values.sort_by(f64::total_cmp);
        values[values.len() / 2]
    }
    let now = unix_now();
    let issuer = SigningKey::generate(SigningAlgorithm::ES256);
    let client = SigningKey::generate(SigningAlgorithm::ES256);
    let client_key = Key::from_jwk(&client.public_jwk()).unwrap();
    let jkt = base64_url(client_key.thumbprint());
    let token = issuer
        .token()
        .standard_claims("https://issuer.bench", "https://api.bench", now)
        .claim("cnf", json!({ "jkt": jkt }))
        .sign();
    // The bearer side: the same claims without the binding (a bound token sent as a
    // bearer token is refused), padded to the same length.
    let unbound = issuer
        .token()
        .standard_claims("https://issuer.bench", "https://api.bench", now)
        .claim("pad", json!({ "jkt": jkt }))
        .sign();
    let keys = KeySet::from_jwks(&serde_json::to_vec(&jwks([&issuer])).unwrap()).unwrap();
    let validation = Validation::builder()
        .issuer("https://issuer.bench")
        .audience("https://api.bench")
        .build()
        .unwrap();
    let clock = ManualClock::at_unix(now);
    let verifier = JwtVerifier::with_static_keys(validation, keys)
        .with_clock(clock.clone())
        .with_token_cache(TokenCache::<Claims>::builder().build().unwrap());
    let handler = service_fn(|request: Request<()>| async move {
        black_box(request.extensions().get::<Claims>().map(Claims::subject));
        Ok::<_, Infallible>(Response::new(String::new()))
    });
    let policy = DpopPolicy::builder(ORIGIN).clock(clock).build().unwrap();
    let mut service = AuthenticationLayer::builder(verifier)
        .dpop(policy)
        .build()
        .unwrap()
        .layer(handler);
    let bearer = HeaderValue::from_str(&format!("Bearer {unbound}")).unwrap();
    let dpop = HeaderValue::from_str(&format!("DPoP {token}")).unwrap();
    let ath = access_token_hash(&token);
    let proofs: Vec<HeaderValue> = (0..rounds * BATCH + 2)
        .map(|_| {
            let proof = client
                .dpop_proof("GET", &format!("{ORIGIN}/orders"), now)
                .claim("ath", ath.clone())
                .sign();
            HeaderValue::from_str(&proof).unwrap()
        })
        .collect();
    let mut proofs = proofs.into_iter();
    let sample = proofs.next().unwrap();
    let (signing_input, signature) = sample.to_str().unwrap().rsplit_once('.').unwrap();
    let signature = base64_decode(signature);
    let request = |authorization: &HeaderValue, proof: Option<HeaderValue>| {
        let mut request = Request::builder().uri("/orders").body(()).unwrap();
        request
            .headers_mut()
            .insert(header::AUTHORIZATION, authorization.clone());
        if let Some(proof) = proof {
            request.headers_mut().insert("dpop", proof);
        }
        request
    };
    // Warm: the first requests fill the token cache with both tokens.
    let first = now_or_never(service.call(request(&bearer, None))).unwrap();
    assert_eq!(first.status(), 200);
    let first = now_or_never(service.call(request(&dpop, proofs.next()))).unwrap();
    assert_eq!(first.status(), 200);
    let per_call = |started: Instant| started.elapsed().as_secs_f64() * 1e6 / BATCH as f64;
    let (mut bearer_us, mut dpop_us, mut sig_us, mut extra) = (vec![], vec![], vec![], vec![]);
    for _ in 0..rounds {
        let requests: Vec<_> = (0..BATCH).map(|_| request(&bearer, None)).collect();
        let started = Instant::now();
        for request in requests {
            let response = now_or_never(service.call(request)).unwrap();
            assert_eq!(response.status(), 200);
        }
        let b = per_call(started);
        let requests: Vec<_> = (0..BATCH).map(|_| request(&dpop, proofs.next())).collect();
        let started = Instant::now();
        for request in requests {
            let response = now_or_never(service.call(request)).unwrap();
            assert_eq!(response.status(), 200);
        }
        let d = per_call(started);
        let started = Instant::now();
        for _ in 0..BATCH {
            assert!(client_key.verify(
                Algorithm::ES256,
                black_box(signing_input.as_bytes()),
                black_box(&signature)
            ));
        }
        let s = per_call(started);
        bearer_us.push(b);
        dpop_us.push(d);
        sig_us.push(s);
        extra.push(d - b - s);
    }
    println!();
    println!(
        "| DPoP (ES256 proof) | bearer (µs) | DPoP (µs) | proof signature (µs) | DPoP − bearer − signature (µs) |"
    );
    println!("|---|---:|---:|---:|---:|");
    println!(
        "| cache hit | {:.2} | {:.2} | {:.2} | {:.2} |",
        median(&mut bearer_us),
        median(&mut dpop_us),
        median(&mut sig_us),
        median(&mut extra),
    );
}

fn base64_url(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn base64_decode(text: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(text)
        .unwrap()
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(2))
        .measurement_time(Duration::from_secs(5));
    targets = layer, cached
}
criterion_main!(benches);
