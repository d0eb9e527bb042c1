//! Runs one request through the authentication layer many times, for a profiler
//! (`valgrind --tool=callgrind`): the layer's own cost, with a verifier that hands back
//! claims already verified.
#![allow(clippy::unwrap_used, clippy::print_stdout)]

use std::convert::Infallible;
use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::{SystemTime, UNIX_EPOCH};

use http::{HeaderValue, Request, Response, header};
use portcullis::{AuthenticationLayer, Claims, KeySet, Validation, Verifier, VerifyError};
use portcullis_testkit::{SigningAlgorithm, SigningKey, jwks};
use tower::{Layer, Service, service_fn};

struct Fixed(Claims);

impl Verifier for Fixed {
    type Future = std::future::Ready<Result<Claims, VerifyError>>;
    fn verify(&self, token: &str) -> portcullis::Verification<Self::Future> {
        black_box(token);
        portcullis::Verification::Done(Ok(self.0.clone()))
    }
}

fn main() {
    let iterations: usize = std::env::args()
        .nth(1)
        .map_or(100_000, |n| n.parse().unwrap());
    let key = SigningKey::generate(SigningAlgorithm::ES256);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let token = key
        .token()
        .standard_claims("https://issuer.bench", "https://api.bench", now)
        .sign();
    let keys = KeySet::from_jwks(&serde_json::to_vec(&jwks([&key])).unwrap()).unwrap();
    let validation = Validation::builder()
        .issuer("https://issuer.bench")
        .audience("https://api.bench")
        .build()
        .unwrap();
    let claims = validation.verify(&token, &keys, SystemTime::now()).unwrap();
    let mut service = AuthenticationLayer::new(Fixed(claims)).layer(service_fn(
        |request: Request<()>| async move {
            black_box(request.extensions().get::<Claims>().map(Claims::subject));
            Ok::<_, Infallible>(Response::new(String::new()))
        },
    ));
    let bearer = HeaderValue::from_str(&format!("Bearer {token}")).unwrap();
    let started = std::time::Instant::now();
    for _ in 0..iterations {
        let mut request = Request::new(());
        request
            .headers_mut()
            .insert(header::AUTHORIZATION, bearer.clone());
        let future = pin!(service.call(request));
        match future.poll(&mut Context::from_waker(Waker::noop())) {
            Poll::Ready(response) => {
                black_box(response.unwrap());
            }
            Poll::Pending => unreachable!(),
        }
    }
    println!("{:?} per request", started.elapsed() / iterations as u32);
}
