//! Runs one request through the authentication layer many times, for a profiler
//! (`valgrind --tool=callgrind`): the layer's own cost, with a verifier that hands back
//! claims already verified.
#![allow(clippy::unwrap_used, clippy::print_stdout)]

use std::convert::Infallible;
use std::hint::black_box;
use std::time::SystemTime;

use http::{Request, Response};
use portcullis::{AuthenticationLayer, Claims};
use portcullis_testkit::{SigningAlgorithm, SigningKey};
use tower::{Layer, Service, service_fn};

#[path = "../fixture.rs"]
mod fixture;
use fixture::{Fixed, now_or_never};

fn main() {
    let iterations: usize = std::env::args()
        .nth(1)
        .map_or(100_000, |n| n.parse().unwrap());
    let key = SigningKey::generate(SigningAlgorithm::ES256);
    let token = fixture::token(&key).sign();
    let keys = fixture::key_set(&key);
    let validation = fixture::rules().build().unwrap();
    let claims = validation.verify(&token, &keys, SystemTime::now()).unwrap();
    let mut service = AuthenticationLayer::new(Fixed(claims)).layer(service_fn(
        |request: Request<()>| async move {
            black_box(request.extensions().get::<Claims>().map(Claims::subject));
            Ok::<_, Infallible>(Response::new(String::new()))
        },
    ));
    let bearer = fixture::bearer(&token);
    let started = std::time::Instant::now();
    for _ in 0..iterations {
        let response = now_or_never(service.call(fixture::request(&bearer)));
        black_box(response.unwrap());
    }
    println!("{:?} per request", started.elapsed() / iterations as u32);
}
