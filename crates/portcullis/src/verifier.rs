//! The one abstraction every way of verifying a token goes through.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use portcullis_issuer::{JwtVerifier, VerifyError};
use portcullis_jwt::Claims;

/// Decides whether a bearer token is acceptable and, if so, what it says.
///
/// The returned future owns what it needs (`'static`), so the layer can name it in its
/// own [`ResponseFuture`](crate::authentication::ResponseFuture) without boxing. A
/// verifier that can answer without I/O returns a future that is ready on its first
/// poll (for example [`std::future::Ready`]); one that must wait for the issuer copies
/// the token into its future.
///
/// Errors say *why*: [`VerifyErrorKind::InvalidToken`](portcullis_issuer::VerifyErrorKind)
/// becomes 401 `invalid_token`, [`VerifyErrorKind::Unavailable`](portcullis_issuer::VerifyErrorKind)
/// becomes 503 with `Retry-After`; never the other way round.
///
/// ```
/// use std::future::{Ready, ready};
/// use std::time::Duration;
/// use portcullis::{Claims, Verifier, VerifyError};
///
/// /// A verifier for an issuer that is down.
/// struct Down;
///
/// impl Verifier for Down {
///     type Future = Ready<Result<Claims, VerifyError>>;
///     fn verify(&self, _token: &str) -> Self::Future {
///         ready(Err(VerifyError::unavailable("issuer unreachable", Duration::from_secs(5))))
///     }
/// }
/// ```
pub trait Verifier: Send + Sync + 'static {
    /// The verification in progress.
    type Future: Future<Output = Result<Claims, VerifyError>> + Send + 'static;

    /// Starts verifying `token` (the credential exactly as the client sent it).
    fn verify(&self, token: &str) -> Self::Future;
}

impl<V: Verifier + ?Sized> Verifier for Arc<V> {
    type Future = V::Future;

    fn verify(&self, token: &str) -> Self::Future {
        (**self).verify(token)
    }
}

impl<V: Verifier + ?Sized> Verifier for Box<V> {
    type Future = V::Future;

    fn verify(&self, token: &str) -> Self::Future {
        (**self).verify(token)
    }
}

type BoxVerify = Pin<Box<dyn Future<Output = Result<Claims, VerifyError>> + Send + 'static>>;

/// [`JwtVerifier`]'s verification as a [`Verifier`] future.
///
/// Whenever the keys are at hand, JWT verification needs no I/O: it is run to completion
/// inside [`Verifier::verify`] and this future is merely its result, with no allocation.
/// Only when the verifier really has to wait (a key set being fetched) is the token
/// copied into a boxed future that waits.
pub struct JwtVerifyFuture {
    state: JwtState,
}

enum JwtState {
    Ready(Option<Result<Claims, VerifyError>>),
    Waiting(BoxVerify),
}

impl Future for JwtVerifyFuture {
    type Output = Result<Claims, VerifyError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match &mut self.state {
            JwtState::Ready(result) => Poll::Ready(
                result
                    .take()
                    .expect("JwtVerifyFuture polled after completion"),
            ),
            JwtState::Waiting(future) => future.as_mut().poll(cx),
        }
    }
}

impl fmt::Debug for JwtVerifyFuture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match self.state {
            JwtState::Ready(_) => "ready",
            JwtState::Waiting(_) => "waiting",
        };
        f.debug_struct("JwtVerifyFuture")
            .field("state", &state)
            .finish()
    }
}

impl Verifier for JwtVerifier {
    type Future = JwtVerifyFuture;

    fn verify(&self, token: &str) -> JwtVerifyFuture {
        // One poll with a no-op waker: with keys at hand this completes. If it does not,
        // the attempt is dropped (verification futures are cancel-safe: a key fetch in
        // progress is shared, not owned by one caller) and restarted with owned data.
        let mut attempt = std::pin::pin!(JwtVerifier::verify(self, token));
        if let Poll::Ready(result) = attempt
            .as_mut()
            .poll(&mut Context::from_waker(Waker::noop()))
        {
            return JwtVerifyFuture {
                state: JwtState::Ready(Some(result)),
            };
        }
        let verifier = self.clone();
        let token: Box<str> = token.into();
        JwtVerifyFuture {
            state: JwtState::Waiting(Box::pin(async move { verifier.verify(&token).await })),
        }
    }
}
