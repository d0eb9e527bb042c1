//! The in-process cost of one request through the authentication layer (token
//! extraction → JWT verification → claims into extensions → handler), next to the
//! JWT verification alone (`Validation::verify`: signature and claims), for RS256 and
//! ES256.
//!
//! `cargo bench -p portcullis --bench layer`
#![allow(missing_docs, clippy::unwrap_used)]

use std::convert::Infallible;
use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use http::{HeaderValue, Request, Response, header};
use portcullis::{
    AuthenticationLayer, Claims, JwtVerifier, KeySet, Validation, Verifier, VerifyError,
};
use portcullis_jwt::Algorithm;
use portcullis_testkit::{SigningAlgorithm, SigningKey, jwks};
use tower::{Layer, Service, service_fn};

fn now_or_never<F: Future>(future: F) -> F::Output {
    match pin!(future).poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(output) => output,
        Poll::Pending => panic!("the layer waited"),
    }
}

fn bench_algorithm(c: &mut Criterion, name: &str, alg: SigningAlgorithm, algorithm: Algorithm) {
    let key = SigningKey::generate(alg);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let token = key
        .token()
        .standard_claims("https://issuer.bench", "https://api.bench", now)
        .claim("scope", "read write")
        .sign();
    let keys = KeySet::from_jwks(&serde_json::to_vec(&jwks([&key])).unwrap()).unwrap();
    let validation = Validation::builder()
        .issuer("https://issuer.bench")
        .audience("https://api.bench")
        .algorithms([algorithm])
        .build()
        .unwrap();

    let mut group = c.benchmark_group(name);
    group.bench_function("verify", |b| {
        b.iter(|| {
            validation
                .verify(black_box(&token), &keys, SystemTime::now())
                .unwrap()
        })
    });

    let verifier = JwtVerifier::with_static_keys(validation.clone(), keys.clone());
    let mut service =
        AuthenticationLayer::new(verifier).layer(service_fn(|request: Request<()>| async move {
            let claims = request.extensions().get::<Claims>().unwrap();
            black_box(claims.subject());
            Ok::<_, Infallible>(Response::new(String::new()))
        }));
    let bearer = HeaderValue::from_str(&format!("Bearer {token}")).unwrap();
    group.bench_function("layer", |b| {
        b.iter_batched(
            || {
                let mut request = Request::new(());
                request
                    .headers_mut()
                    .insert(header::AUTHORIZATION, bearer.clone());
                request
            },
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
            || {
                let mut request = Request::new(());
                request
                    .headers_mut()
                    .insert(header::AUTHORIZATION, bearer.clone());
                request
            },
            |request| now_or_never(overhead.call(request)).unwrap(),
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

struct Fixed(Claims);

impl Verifier for Fixed {
    type Future = std::future::Ready<Result<Claims, VerifyError>>;

    fn verify(&self, token: &str) -> Self::Future {
        black_box(token);
        std::future::ready(Ok(self.0.clone()))
    }
}

fn layer(c: &mut Criterion) {
    bench_algorithm(c, "ES256", SigningAlgorithm::ES256, Algorithm::ES256);
    bench_algorithm(c, "RS256", SigningAlgorithm::RS256, Algorithm::RS256);
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(2))
        .measurement_time(Duration::from_secs(5));
    targets = layer
}
criterion_main!(benches);
