//! Verification of JWT access tokens against a key source.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use portcullis_jwt::{Claims, Clock, KeySet, SystemClock, Validation};

use crate::remote::RemoteKeySet;

/// Why a token was not accepted: either the token is bad (answer 401) or the issuer
/// could not be consulted (answer 503, never 401, never acceptance).
#[derive(Clone)]
pub struct VerifyError {
    repr: Repr,
}

#[derive(Clone)]
enum Repr {
    Token(portcullis_jwt::Error),
    Unavailable {
        reason: &'static str,
        retry_after: Duration,
    },
}

/// The two kinds of [`VerifyError`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum VerifyErrorKind {
    /// The token itself is not acceptable (RFC 6750 `invalid_token`).
    InvalidToken,
    /// The issuer's keys or introspection endpoint could not be reached and nothing
    /// usable is cached: the request should be retried later (HTTP 503).
    Unavailable,
}

impl VerifyError {
    /// A token failure.
    pub fn token(error: portcullis_jwt::Error) -> VerifyError {
        VerifyError {
            repr: Repr::Token(error),
        }
    }

    /// An outage: `reason` is a short static text safe for clients and logs.
    pub fn unavailable(reason: &'static str, retry_after: Duration) -> VerifyError {
        VerifyError {
            repr: Repr::Unavailable {
                reason,
                retry_after,
            },
        }
    }

    /// Which kind of failure.
    pub fn kind(&self) -> VerifyErrorKind {
        match self.repr {
            Repr::Token(_) => VerifyErrorKind::InvalidToken,
            Repr::Unavailable { .. } => VerifyErrorKind::Unavailable,
        }
    }

    /// The token error, for [`VerifyErrorKind::InvalidToken`].
    pub fn token_error(&self) -> Option<&portcullis_jwt::Error> {
        match &self.repr {
            Repr::Token(error) => Some(error),
            Repr::Unavailable { .. } => None,
        }
    }

    /// How long a client should wait, for [`VerifyErrorKind::Unavailable`].
    pub fn retry_after(&self) -> Option<Duration> {
        match self.repr {
            Repr::Token(_) => None,
            Repr::Unavailable { retry_after, .. } => Some(retry_after),
        }
    }

    /// A short description safe to send to a client.
    pub fn description(&self) -> &'static str {
        match &self.repr {
            Repr::Token(error) => error.description(),
            Repr::Unavailable { reason, .. } => reason,
        }
    }
}

impl From<portcullis_jwt::Error> for VerifyError {
    fn from(error: portcullis_jwt::Error) -> Self {
        VerifyError::token(error)
    }
}

impl fmt::Debug for VerifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.repr {
            Repr::Token(error) => f.debug_tuple("InvalidToken").field(error).finish(),
            Repr::Unavailable {
                reason,
                retry_after,
            } => f
                .debug_struct("Unavailable")
                .field("reason", reason)
                .field("retry_after", retry_after)
                .finish(),
        }
    }
}

impl fmt::Display for VerifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.repr {
            Repr::Token(error) => write!(f, "invalid token: {error}"),
            Repr::Unavailable { reason, .. } => write!(f, "issuer unavailable: {reason}"),
        }
    }
}

impl std::error::Error for VerifyError {}

/// Verifies JWT access tokens: a [`Validation`] and where its keys come from.
///
/// Cheap to clone (one `Arc`).
#[derive(Clone)]
pub struct JwtVerifier {
    inner: Arc<Inner>,
}

struct Inner {
    validation: Validation,
    keys: Keys,
    clock: Arc<dyn Clock>,
}

enum Keys {
    Static(KeySet),
    Remote(RemoteKeySet),
}

impl JwtVerifier {
    /// Verifies against a fixed key set (keys the application holds, an HMAC secret, or
    /// a JWK Set shipped with it).
    pub fn with_static_keys(validation: Validation, keys: KeySet) -> JwtVerifier {
        JwtVerifier {
            inner: Arc::new(Inner {
                validation,
                keys: Keys::Static(keys),
                clock: Arc::new(SystemClock),
            }),
        }
    }

    /// Verifies against a key set fetched from the issuer and kept fresh: rotation,
    /// unknown `kid`s and outages are handled as [`RemoteKeySet`] describes. Token
    /// claims (`exp`, `nbf`, ...) are checked on this verifier's clock; the key set's
    /// cache rules run on the set's own clock ([`RemoteKeySetBuilder::clock`]).
    ///
    /// [`RemoteKeySetBuilder::clock`]: crate::RemoteKeySetBuilder::clock
    pub fn with_remote_keys(validation: Validation, keys: RemoteKeySet) -> JwtVerifier {
        JwtVerifier {
            inner: Arc::new(Inner {
                validation,
                keys: Keys::Remote(keys),
                clock: Arc::new(SystemClock),
            }),
        }
    }

    /// The remote key set, for readiness, stats and metadata.
    pub fn remote_keys(&self) -> Option<&RemoteKeySet> {
        match &self.inner.keys {
            Keys::Static(_) => None,
            Keys::Remote(keys) => Some(keys),
        }
    }

    /// Replaces the clock token claims are checked on. For tests.
    #[must_use]
    pub fn with_clock(self, clock: impl Clock) -> JwtVerifier {
        let inner = Arc::try_unwrap(self.inner).unwrap_or_else(|shared| Inner {
            validation: shared.validation.clone(),
            keys: match &shared.keys {
                Keys::Static(keys) => Keys::Static(keys.clone()),
                Keys::Remote(keys) => Keys::Remote(keys.clone()),
            },
            clock: shared.clock.clone(),
        });
        JwtVerifier {
            inner: Arc::new(Inner {
                clock: Arc::new(clock),
                ..inner
            }),
        }
    }

    /// The rules tokens are checked against.
    pub fn validation(&self) -> &Validation {
        &self.inner.validation
    }

    /// Verifies `token`.
    ///
    /// # Errors
    /// [`VerifyErrorKind::InvalidToken`] with the reason, or
    /// [`VerifyErrorKind::Unavailable`] when keys could not be obtained.
    pub async fn verify(&self, token: &str) -> Result<Claims, VerifyError> {
        let inner = &*self.inner;
        let now = inner.clock.now();
        match &inner.keys {
            Keys::Static(keys) => Ok(inner.validation.verify(token, keys, now)?),
            Keys::Remote(keys) => keys.verify(&inner.validation, token, now).await,
        }
    }
}

impl fmt::Debug for JwtVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let keys = match &self.inner.keys {
            Keys::Static(keys) => format!("static({} keys)", keys.len()),
            Keys::Remote(keys) => format!("{keys:?}"),
        };
        f.debug_struct("JwtVerifier")
            .field("validation", &self.inner.validation)
            .field("keys", &keys)
            .field("clock", &self.inner.clock)
            .finish()
    }
}
