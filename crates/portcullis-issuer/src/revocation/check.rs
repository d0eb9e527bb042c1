//! [`RevocationCheck`]: any verifier, with pushed revocations refused.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;
use portcullis_jwt::{Claims, ErrorKind};

use super::Revocations;
use crate::verifier::{Verification, Verifier};
use crate::verify_error::VerifyError;

/// Wraps a verifier so tokens a [`Revocations`] set names are refused (401
/// `invalid_token`, reason `revoked`), however they verify: from a cache, a key set or
/// the authorization server. With nothing revoked, a verification costs one atomic load
/// more.
#[derive(Clone, Debug)]
pub struct RevocationCheck<V> {
    inner: V,
    revocations: Revocations,
}

impl<V> RevocationCheck<V> {
    /// `inner`, refusing what `revocations` names.
    pub fn new(inner: V, revocations: Revocations) -> RevocationCheck<V> {
        RevocationCheck { inner, revocations }
    }

    /// The wrapped verifier.
    pub fn inner(&self) -> &V {
        &self.inner
    }

    /// The revocations in force.
    pub fn revocations(&self) -> &Revocations {
        &self.revocations
    }
}

fn revoked() -> VerifyError {
    VerifyError::token(portcullis_jwt::Error::with_reason(
        ErrorKind::Inactive,
        "revoked",
    ))
}

fn checked(
    revocations: &Revocations,
    result: Result<Claims, VerifyError>,
) -> Result<Claims, VerifyError> {
    match result {
        Ok(claims) if revocations.claims_revoked(&claims) => Err(revoked()),
        result => result,
    }
}

impl<V: Verifier> Verifier for RevocationCheck<V> {
    type Future = RevocationCheckFuture<V::Future>;

    fn verify(&self, token: &str) -> Verification<Self::Future> {
        if self.revocations.token_revoked(token) {
            return Verification::Done(Err(revoked()));
        }
        match self.inner.verify(token) {
            Verification::Done(result) => Verification::Done(checked(&self.revocations, result)),
            // A pending verification allocates anyway; the clone is one reference count.
            Verification::Pending(future) => Verification::Pending(RevocationCheckFuture {
                future,
                revocations: self.revocations.clone(),
            }),
        }
    }
}

pin_project! {
    /// A [`RevocationCheck`] verification waiting on its verifier.
    #[derive(Debug)]
    pub struct RevocationCheckFuture<F> {
        #[pin]
        future: F,
        revocations: Revocations,
    }
}

impl<F: Future<Output = Result<Claims, VerifyError>>> Future for RevocationCheckFuture<F> {
    type Output = Result<Claims, VerifyError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        // Read when the answer comes: a revocation made while it was awaited counts.
        match this.future.poll(cx) {
            Poll::Ready(result) => Poll::Ready(checked(this.revocations, result)),
            Poll::Pending => Poll::Pending,
        }
    }
}
