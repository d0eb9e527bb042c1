//! Why a token was not accepted: a bad token (401) or an unreachable issuer (503).

use std::fmt;
use std::time::Duration;

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
