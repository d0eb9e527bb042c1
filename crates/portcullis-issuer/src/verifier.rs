//! The one abstraction every way of verifying a token goes through, and its
//! implementations for the verifiers of this crate.

use std::fmt;
use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;
use portcullis_jwt::Claims;

use crate::introspection::IntrospectionVerifier;
use crate::jwt_verifier::JwtVerifier;
use crate::verify_error::VerifyError;

/// Decides whether a bearer token is acceptable and, if so, what it says.
///
/// One method: [`Verifier::verify`] answers at once when it can ([`Verification::Done`]:
/// keys at hand, a cached result, a token refused on sight), or hands back a future to
/// wait on ([`Verification::Pending`]: a key set being fetched, the issuer being asked).
/// The future owns what it needs (`'static`), so a tower layer can name it in its own
/// response future without boxing; a verifier that must wait copies the token into it.
///
/// Errors say *why*: [`VerifyErrorKind::InvalidToken`](crate::VerifyErrorKind) becomes
/// 401 `invalid_token`, [`VerifyErrorKind::Unavailable`](crate::VerifyErrorKind) becomes
/// 503 with `Retry-After`; never the other way round. The token handed over is an RFC
/// 6750 `b64token` when it comes from the `portcullis` layers: they check its characters
/// when they take it from the request, before asking any verifier.
///
/// ```
/// use std::future::Ready;
/// use std::time::Duration;
/// use portcullis_issuer::{Verification, Verifier, VerifyError};
///
/// /// A verifier for an issuer that is down.
/// struct Down;
///
/// impl Verifier for Down {
///     type Future = Ready<Result<portcullis_jwt::Claims, VerifyError>>;
///     fn verify(&self, _token: &str) -> Verification<Self::Future> {
///         Verification::Done(Err(VerifyError::unavailable("issuer unreachable", Duration::from_secs(5))))
///     }
/// }
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// // A `Verification` can be awaited, whichever it is.
/// assert!(Down.verify("token").await.is_err());
/// # });
/// ```
pub trait Verifier: Send + Sync + 'static {
    /// The verification in progress, when it has to wait.
    type Future: Future<Output = Result<Claims, VerifyError>> + Send + 'static;

    /// Verifies `token` (the credential exactly as the client sent it): the answer, or
    /// a future to wait on for it.
    fn verify(&self, token: &str) -> Verification<Self::Future>;
}

/// What [`Verifier::verify`] found: the answer, or a future to wait on. Awaiting it
/// gives the answer either way.
#[derive(Debug)]
pub enum Verification<F> {
    /// Accepted or refused without waiting.
    Done(Result<Claims, VerifyError>),
    /// The answer needs waiting for: poll the future.
    Pending(F),
}

impl<F> Verification<F> {
    /// The same verification with its pending future mapped by `f`.
    pub fn map_pending<G>(self, f: impl FnOnce(F) -> G) -> Verification<G> {
        match self {
            Verification::Done(result) => Verification::Done(result),
            Verification::Pending(future) => Verification::Pending(f(future)),
        }
    }
}

impl<F: Future<Output = Result<Claims, VerifyError>>> IntoFuture for Verification<F> {
    type Output = Result<Claims, VerifyError>;
    type IntoFuture = VerificationFuture<F>;

    fn into_future(self) -> VerificationFuture<F> {
        match self {
            Verification::Done(result) => VerificationFuture::Done {
                result: Some(result),
            },
            Verification::Pending(future) => VerificationFuture::Pending { future },
        }
    }
}

pin_project! {
    /// A [`Verification`] being awaited.
    #[project = VerificationProjection]
    #[derive(Debug)]
    #[allow(missing_docs)]
    pub enum VerificationFuture<F> {
        /// The answer, until it is taken.
        Done { result: Option<Result<Claims, VerifyError>> },
        /// The verifier's future.
        Pending { #[pin] future: F },
    }
}

impl<F: Future<Output = Result<Claims, VerifyError>>> Future for VerificationFuture<F> {
    type Output = Result<Claims, VerifyError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project() {
            VerificationProjection::Done { result } => Poll::Ready(
                result
                    .take()
                    .unwrap_or_else(|| unreachable!("VerificationFuture polled after completion")),
            ),
            VerificationProjection::Pending { future } => future.poll(cx),
        }
    }
}

impl<V: Verifier + ?Sized> Verifier for Arc<V> {
    type Future = V::Future;

    fn verify(&self, token: &str) -> Verification<Self::Future> {
        (**self).verify(token)
    }
}

impl<V: Verifier + ?Sized> Verifier for Box<V> {
    type Future = V::Future;

    fn verify(&self, token: &str) -> Verification<Self::Future> {
        (**self).verify(token)
    }
}

/// The pending future of the built-in verifiers: a boxed future that owns a copy of the
/// token. Only a verification that really waits (a key set being fetched, the issuer
/// being asked) allocates it; answers at hand are [`Verification::Done`].
pub struct VerifyFuture {
    future: Pin<Box<dyn Future<Output = Result<Claims, VerifyError>> + Send + 'static>>,
}

impl VerifyFuture {
    /// A future that waits for `future`.
    pub fn waiting(
        future: impl Future<Output = Result<Claims, VerifyError>> + Send + 'static,
    ) -> VerifyFuture {
        VerifyFuture {
            future: Box::pin(future),
        }
    }
}

impl Future for VerifyFuture {
    type Output = Result<Claims, VerifyError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.future.as_mut().poll(cx)
    }
}

impl fmt::Debug for VerifyFuture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifyFuture").finish_non_exhaustive()
    }
}

impl Verifier for JwtVerifier {
    type Future = VerifyFuture;

    fn verify(&self, token: &str) -> Verification<VerifyFuture> {
        // Keys at hand (or a cached result, or a refusal on sight): answered here,
        // without allocating. Otherwise a future that owns its data waits for the fetch,
        // so a fetch in progress is shared, never cancelled halfway by one caller.
        if let Some(result) = self.verify_now(token) {
            return Verification::Done(result);
        }
        let verifier = self.clone();
        let token: Box<str> = token.into();
        Verification::Pending(VerifyFuture::waiting(async move {
            verifier.verify_after_fetch(&token).await
        }))
    }
}

impl Verifier for IntrospectionVerifier {
    type Future = VerifyFuture;

    fn verify(&self, token: &str) -> Verification<VerifyFuture> {
        // A cache lookup never waits: cached tokens are answered here, without
        // allocating. Anything else asks the issuer in a future that owns its data, so
        // the single flight is never cancelled halfway.
        if let Some(result) = self.cached(token) {
            return Verification::Done(result);
        }
        let verifier = self.clone();
        let token: Box<str> = token.into();
        Verification::Pending(VerifyFuture::waiting(async move {
            verifier.verify_missed(&token).await
        }))
    }
}
