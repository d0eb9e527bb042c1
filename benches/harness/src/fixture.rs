//! What the benchmarks and profiles share: the issuer and audience, a token signed now,
//! the key set and rules that accept it, a request carrying it, and a verifier that
//! hands back claims already verified. Included with `#[path]` by
//! `crates/portcullis/benches/layer.rs`, `crates/portcullis-issuer/benches/token_cache.rs`
//! and `layer-profile`; none of them uses all of it.
#![allow(dead_code)]

use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use http::{HeaderValue, Request, header};
use portcullis_issuer::{Verification, Verifier, VerifyError};
use portcullis_jwt::{Claims, KeySet, Validation, ValidationBuilder};
use portcullis_testkit::fixture::unix_now;
use portcullis_testkit::{SigningKey, TokenBuilder, jwks};

pub(crate) const ISSUER: &str = "https://issuer.bench";
pub(crate) const AUDIENCE: &str = "https://api.bench";

/// A token signed by `key` for [`ISSUER`] and [`AUDIENCE`], issued now.
pub(crate) fn token(key: &SigningKey) -> TokenBuilder<'_> {
    key.token().standard_claims(ISSUER, AUDIENCE, unix_now())
}

/// The key set publishing `key`.
pub(crate) fn key_set(key: &SigningKey) -> KeySet {
    KeySet::from_jwks(&serde_json::to_vec(&jwks([key])).unwrap()).unwrap()
}

/// Rules accepting [`token`]s.
pub(crate) fn rules() -> ValidationBuilder {
    Validation::builder().issuer(ISSUER).audience(AUDIENCE)
}

/// `Authorization: Bearer <token>`.
pub(crate) fn bearer(token: &str) -> HeaderValue {
    HeaderValue::from_str(&format!("Bearer {token}")).unwrap()
}

/// A request carrying `authorization`.
pub(crate) fn request(authorization: &HeaderValue) -> Request<()> {
    let mut request = Request::new(());
    request
        .headers_mut()
        .insert(header::AUTHORIZATION, authorization.clone());
    request
}

/// Polls `future` once: what is measured never waits.
pub(crate) fn now_or_never<F: Future>(future: F) -> F::Output {
    match pin!(future).poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(output) => output,
        Poll::Pending => panic!("waited"),
    }
}

/// A verifier that hands back claims already verified: what is left is the layer.
pub(crate) struct Fixed(pub(crate) Claims);

impl Verifier for Fixed {
    type Future = std::future::Ready<Result<Claims, VerifyError>>;

    fn verify(&self, token: &str) -> Verification<Self::Future> {
        black_box(token);
        Verification::Done(Ok(self.0.clone()))
    }
}
