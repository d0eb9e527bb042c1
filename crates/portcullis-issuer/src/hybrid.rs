//! Both kinds of access token: JWTs verified locally, opaque tokens introspected.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use pin_project_lite::pin_project;
use portcullis_jwt::Claims;

use crate::verifier::{Verification, Verifier};
use crate::verify_error::VerifyError;

/// The longest header segment [`is_jws_shaped`] decodes.
const MAX_HEADER_SEGMENT: usize = 4 * 1024;

/// Whether `token` looks like a compact JWS: three dot-separated base64url segments
/// whose first decodes to a JSON object. A shape test for routing only; it proves
/// nothing about the token.
pub fn is_jws_shaped(token: &str) -> bool {
    // Exactly two dots (found with memchr, which `split_once` and `contains` use).
    let Some((header, rest)) = token.split_once('.') else {
        return false;
    };
    match rest.split_once('.') {
        Some((_, signature)) if !signature.contains('.') => {}
        _ => return false,
    }
    if header.is_empty() || header.len() > MAX_HEADER_SEGMENT {
        return false;
    }
    // The first quantum (4 characters, 3 bytes) nearly always settles it, on the stack;
    // only a header starting with whitespace needs the rest decoded.
    if let Some(quantum) = header.get(..4) {
        let mut first = [0u8; 3];
        if URL_SAFE_NO_PAD.decode_slice(quantum, &mut first).is_err() {
            return false;
        }
        if let Some(b) = first.iter().find(|b| !b.is_ascii_whitespace()) {
            return *b == b'{';
        }
    }
    URL_SAFE_NO_PAD
        .decode(header)
        .ok()
        .and_then(|json| json.into_iter().find(|b| !b.is_ascii_whitespace()))
        == Some(b'{')
}

/// Which tokens go where.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Routing {
    /// JWS-shaped tokens to JWT verification, everything else to introspection. The
    /// default.
    #[default]
    ByShape,
    /// Every token to introspection (for issuers whose JWTs are meant to be
    /// introspected, so revocation is seen).
    IntrospectAll,
}

/// A verifier for issuers that hand out both JWT and opaque access tokens.
///
/// ```
/// # use portcullis_issuer::{HybridVerifier, Verification, Verifier, VerifyFuture, VerifyError};
/// # use std::time::Duration;
/// # struct Jwt; struct Introspect;
/// # impl Verifier for Jwt { type Future = VerifyFuture;
/// #   fn verify(&self, _: &str) -> Verification<VerifyFuture> { Verification::Done(Err(VerifyError::unavailable("jwt", Duration::ZERO))) } }
/// # impl Verifier for Introspect { type Future = VerifyFuture;
/// #   fn verify(&self, _: &str) -> Verification<VerifyFuture> { Verification::Done(Err(VerifyError::unavailable("opaque", Duration::ZERO))) } }
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let hybrid = HybridVerifier::new(Jwt, Introspect);
/// let jwt = hybrid.verify("eyJhbGciOiJFUzI1NiJ9.e30.c2ln").await.unwrap_err();
/// assert_eq!(jwt.description(), "jwt");
/// let opaque = hybrid.verify("2YotnFZFEjr1zCsicMWpAA").await.unwrap_err();
/// assert_eq!(opaque.description(), "opaque");
/// # });
/// ```
#[derive(Clone, Debug)]
pub struct HybridVerifier<J, I> {
    jwt: J,
    introspection: I,
    routing: Routing,
}

impl<J, I> HybridVerifier<J, I> {
    /// JWS-shaped tokens to `jwt`, the rest to `introspection`.
    pub fn new(jwt: J, introspection: I) -> Self {
        HybridVerifier {
            jwt,
            introspection,
            routing: Routing::ByShape,
        }
    }

    /// Changes the routing.
    #[must_use]
    pub fn routing(mut self, routing: Routing) -> Self {
        self.routing = routing;
        self
    }
}

impl<J: Verifier, I: Verifier> Verifier for HybridVerifier<J, I> {
    type Future = EitherFuture<J::Future, I::Future>;

    fn verify(&self, token: &str) -> Verification<Self::Future> {
        if self.routing == Routing::ByShape && is_jws_shaped(token) {
            self.jwt
                .verify(token)
                .map_pending(|future| EitherFuture::Jwt { future })
        } else {
            self.introspection
                .verify(token)
                .map_pending(|future| EitherFuture::Introspection { future })
        }
    }
}

pin_project! {
    /// The future of a [`HybridVerifier`]: one of its two verifiers' futures.
    #[project = EitherProjection]
    #[derive(Debug)]
    #[allow(missing_docs)]
    pub enum EitherFuture<A, B> {
        /// JWT verification.
        Jwt { #[pin] future: A },
        /// Introspection.
        Introspection { #[pin] future: B },
    }
}

impl<A, B> Future for EitherFuture<A, B>
where
    A: Future<Output = Result<Claims, VerifyError>>,
    B: Future<Output = Result<Claims, VerifyError>>,
{
    type Output = Result<Claims, VerifyError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project() {
            EitherProjection::Jwt { future } => future.poll(cx),
            EitherProjection::Introspection { future } => future.poll(cx),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes() {
        let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"RS256"}"#);
        assert!(is_jws_shaped(&format!("{header}.e30.c2ln")));
        assert!(is_jws_shaped(&format!(
            "{}.e30.c2ln",
            URL_SAFE_NO_PAD.encode(" {}")
        )));
        for opaque in [
            "2YotnFZFEjr1zCsicMWpAA",
            "a.b",
            "a.b.c",
            "a.b.c.d.e",
            "",
            "..",
            &format!("{header}.e30"),
            &format!("{}.e30.c2ln", URL_SAFE_NO_PAD.encode("[]")),
            "ory_at_abc.def.ghi",
        ] {
            assert!(!is_jws_shaped(opaque), "{opaque}");
        }
    }
}
