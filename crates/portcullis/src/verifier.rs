//! The one abstraction every way of verifying a token goes through.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use portcullis_issuer::{IntrospectionVerifier, JwtVerifier, VerifyError};
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

    /// The same verification as a [`VerifyFuture`], for holders of verifiers of several
    /// types ([`MultiIssuerVerifier`](crate::MultiIssuerVerifier)). The default boxes
    /// [`Verifier::verify`]'s future; the built-in verifiers return theirs as is.
    fn verify_erased(&self, token: &str) -> VerifyFuture {
        VerifyFuture::waiting(self.verify(token))
    }

    /// Starts verifying `token` and answers at once when no waiting is needed. The
    /// layer calls this: with [`Verification::Done`] it calls the inner service
    /// straight from `call`, instead of cloning it to call it from its future. The
    /// default is [`Verifier::verify`]'s future, pending; the built-in verifiers answer
    /// at once whenever they can (keys at hand, a cached result).
    fn start(&self, token: &str) -> Verification<Self::Future> {
        Verification::Pending(self.verify(token))
    }

    /// Whether this verifier accepts only RFC 6750 `b64token`s, and asks no one about a
    /// token before refusing one that is not (no introspection request, no key fetch).
    /// When it does, the layer skips its own character check of every token and runs
    /// it only on a token that was refused or must be waited for, so that a malformed
    /// token is still answered `invalid_request`, never `invalid_token`. The default,
    /// `false`, has the layer check first: right for a verifier that might accept, or
    /// send to an issuer, whatever it is handed. [`JwtVerifier`] says `true`: a compact
    /// JWS is base64url segments and two dots, all `b64token` characters, and its
    /// cache holds only tokens that verified.
    fn accepts_only_b64tokens(&self) -> bool {
        false
    }
}

/// What [`Verifier::start`] found: the answer, or a future to wait on.
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

impl<V: Verifier + ?Sized> Verifier for Arc<V> {
    type Future = V::Future;

    fn verify(&self, token: &str) -> Self::Future {
        (**self).verify(token)
    }

    fn verify_erased(&self, token: &str) -> VerifyFuture {
        (**self).verify_erased(token)
    }

    fn start(&self, token: &str) -> Verification<Self::Future> {
        (**self).start(token)
    }

    fn accepts_only_b64tokens(&self) -> bool {
        (**self).accepts_only_b64tokens()
    }
}

impl<V: Verifier + ?Sized> Verifier for Box<V> {
    type Future = V::Future;

    fn verify(&self, token: &str) -> Self::Future {
        (**self).verify(token)
    }

    fn verify_erased(&self, token: &str) -> VerifyFuture {
        (**self).verify_erased(token)
    }

    fn start(&self, token: &str) -> Verification<Self::Future> {
        (**self).start(token)
    }

    fn accepts_only_b64tokens(&self) -> bool {
        (**self).accepts_only_b64tokens()
    }
}

type BoxVerify = Pin<Box<dyn Future<Output = Result<Claims, VerifyError>> + Send + 'static>>;

/// The [`Verifier`] future of the built-in verifiers.
///
/// Whenever the answer is at hand (keys loaded, an introspection result cached), it is
/// computed inside [`Verifier::verify`] and this future is merely its result, with no
/// allocation. Only when the verifier really has to wait (a key set being fetched, the
/// issuer being asked) is the token copied into a boxed future that waits.
pub struct VerifyFuture {
    state: FutureState,
}

enum FutureState {
    Ready(Option<Result<Claims, VerifyError>>),
    Waiting(BoxVerify),
}

impl VerifyFuture {
    /// A future that is already complete.
    pub fn ready(result: Result<Claims, VerifyError>) -> VerifyFuture {
        VerifyFuture {
            state: FutureState::Ready(Some(result)),
        }
    }

    /// The answer if it is at hand, otherwise this future.
    pub fn into_verification(self) -> Verification<VerifyFuture> {
        match self.state {
            FutureState::Ready(Some(result)) => Verification::Done(result),
            state => Verification::Pending(VerifyFuture { state }),
        }
    }

    /// A future that waits for `future`.
    pub fn waiting(
        future: impl Future<Output = Result<Claims, VerifyError>> + Send + 'static,
    ) -> VerifyFuture {
        VerifyFuture {
            state: FutureState::Waiting(Box::pin(future)),
        }
    }
}

impl Future for VerifyFuture {
    type Output = Result<Claims, VerifyError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match &mut self.state {
            FutureState::Ready(result) => {
                Poll::Ready(result.take().expect("VerifyFuture polled after completion"))
            }
            FutureState::Waiting(future) => future.as_mut().poll(cx),
        }
    }
}

impl fmt::Debug for VerifyFuture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match self.state {
            FutureState::Ready(_) => "ready",
            FutureState::Waiting(_) => "waiting",
        };
        f.debug_struct("VerifyFuture")
            .field("state", &state)
            .finish()
    }
}

impl Verifier for JwtVerifier {
    type Future = VerifyFuture;

    fn verify_erased(&self, token: &str) -> VerifyFuture {
        Verifier::verify(self, token)
    }

    fn start(&self, token: &str) -> Verification<VerifyFuture> {
        Verifier::verify(self, token).into_verification()
    }

    fn accepts_only_b64tokens(&self) -> bool {
        // Parsing admits base64url segments and exactly two dots; a cache hit is a
        // token that verified before; the key set is consulted only after the token
        // parsed. So a token that is not a `b64token` is refused at once.
        true
    }

    fn verify(&self, token: &str) -> VerifyFuture {
        // One poll with a no-op waker: with keys at hand this completes. If it does not,
        // the attempt is dropped (verification futures are cancel-safe: a key fetch in
        // progress is shared, not owned by one caller) and restarted with owned data.
        let mut attempt = std::pin::pin!(JwtVerifier::verify(self, token));
        if let Poll::Ready(result) = attempt
            .as_mut()
            .poll(&mut Context::from_waker(Waker::noop()))
        {
            return VerifyFuture {
                state: FutureState::Ready(Some(result)),
            };
        }
        let verifier = self.clone();
        let token: Box<str> = token.into();
        VerifyFuture {
            state: FutureState::Waiting(Box::pin(async move { verifier.verify(&token).await })),
        }
    }
}

impl Verifier for IntrospectionVerifier {
    type Future = VerifyFuture;

    fn verify_erased(&self, token: &str) -> VerifyFuture {
        Verifier::verify(self, token)
    }

    fn start(&self, token: &str) -> Verification<VerifyFuture> {
        Verifier::verify(self, token).into_verification()
    }

    fn verify(&self, token: &str) -> VerifyFuture {
        // A cache lookup never waits: cached tokens are answered here, without
        // allocating. Anything else asks the issuer in a future that owns its data, so
        // the single flight is never cancelled halfway.
        if let Some(result) = self.cached(token) {
            return VerifyFuture::ready(result);
        }
        let verifier = self.clone();
        let token: Box<str> = token.into();
        VerifyFuture::waiting(async move { verifier.verify_missed(&token).await })
    }
}
