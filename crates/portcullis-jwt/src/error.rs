//! Why a token was refused, and why a configuration was.

use std::borrow::Cow;
use std::fmt;

/// What went wrong with a token. Matches on this enum must have a wildcard arm: new
/// checks add new kinds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The token is longer than the configured maximum; nothing was decoded.
    TooLarge,
    /// The token is not a compact JWS of three base64url segments with JSON object
    /// header and payload, or has duplicate members.
    Malformed,
    /// The token is a JWE (five segments); only signed tokens are accepted.
    Encrypted,
    /// The header names an algorithm Portcullis does not implement (including `none`).
    UnsupportedAlgorithm,
    /// The header's algorithm is not in the configured allow-list.
    AlgorithmNotAllowed,
    /// The header carries `crit` or `b64`, extensions Portcullis does not understand.
    UnsupportedHeader,
    /// The header `typ` is not an access token type (RFC 9068 §2.1).
    InvalidType,
    /// The token looks like an OpenID Connect ID token, which is never an access token.
    IdToken,
    /// The header's `kid` names no key in the key set. A remote key set may refetch.
    UnknownKeyId,
    /// No key in the set can verify this token (wrong type, wrong algorithm, or several
    /// candidates and no `kid` to choose between them).
    NoMatchingKey,
    /// The signature does not verify.
    InvalidSignature,
    /// `exp` is in the past (beyond the leeway).
    Expired,
    /// `nbf` is in the future (beyond the leeway).
    NotYetValid,
    /// `iat` is in the future (beyond the leeway).
    IssuedInFuture,
    /// `iat` is older than the configured maximum token age.
    TooOld,
    /// `iss` is missing or not one of the configured issuers.
    InvalidIssuer,
    /// `aud` is missing or names none of the configured audiences.
    InvalidAudience,
    /// A required claim is absent.
    MissingClaim,
    /// A registered claim has the wrong JSON type or an impossible value.
    InvalidClaim,
    /// A custom check configured by the application refused the token.
    Rejected,
    /// The token was inactive according to the issuer (introspection), or the issuer
    /// refused to introspect it with an OAuth error such as `unsupported_token_type`
    /// (then [`Error::detail`] is that error code).
    Inactive,
}

impl ErrorKind {
    /// A short description that is safe to send to the client, for example as the
    /// RFC 6750 `error_description`. It never contains token or key material.
    pub const fn description(self) -> &'static str {
        match self {
            ErrorKind::TooLarge => "token too large",
            ErrorKind::Malformed => "malformed token",
            ErrorKind::Encrypted => "encrypted tokens are not accepted",
            ErrorKind::UnsupportedAlgorithm => "unsupported algorithm",
            ErrorKind::AlgorithmNotAllowed => "algorithm not allowed",
            ErrorKind::UnsupportedHeader => "unsupported header parameter",
            ErrorKind::InvalidType => "not an access token",
            ErrorKind::IdToken => "ID tokens are not access tokens",
            ErrorKind::UnknownKeyId => "unknown key",
            ErrorKind::NoMatchingKey => "no matching key",
            ErrorKind::InvalidSignature => "invalid signature",
            ErrorKind::Expired => "token expired",
            ErrorKind::NotYetValid => "token not yet valid",
            ErrorKind::IssuedInFuture => "token issued in the future",
            ErrorKind::TooOld => "token too old",
            ErrorKind::InvalidIssuer => "invalid issuer",
            ErrorKind::InvalidAudience => "invalid audience",
            ErrorKind::MissingClaim => "missing required claim",
            ErrorKind::InvalidClaim => "invalid claim",
            ErrorKind::Rejected => "token rejected",
            ErrorKind::Inactive => "token inactive",
        }
    }

    /// The RFC 6750 §3.1 error code for this failure. Every failure of a token itself
    /// is `invalid_token`; `invalid_request` is for malformed HTTP requests, which the
    /// layer decides before a token reaches this crate.
    pub const fn bearer_error(self) -> BearerError {
        BearerError::InvalidToken
    }
}

/// The error codes of RFC 6750 §3.1.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum BearerError {
    /// `invalid_request`: missing or repeated parameter, malformed request (HTTP 400).
    InvalidRequest,
    /// `invalid_token`: expired, revoked, malformed or otherwise invalid token (HTTP 401).
    InvalidToken,
    /// `insufficient_scope`: the token lacks the scope the resource needs (HTTP 403).
    InsufficientScope,
}

impl BearerError {
    /// The code as it appears in the `error` auth-param.
    pub const fn code(self) -> &'static str {
        match self {
            BearerError::InvalidRequest => "invalid_request",
            BearerError::InvalidToken => "invalid_token",
            BearerError::InsufficientScope => "insufficient_scope",
        }
    }

    /// The HTTP status RFC 6750 §3.1 assigns to the code.
    pub const fn status(self) -> u16 {
        match self {
            BearerError::InvalidRequest => 400,
            BearerError::InvalidToken => 401,
            BearerError::InsufficientScope => 403,
        }
    }
}

/// A token was refused.
///
/// Opaque on purpose: match on [`Error::kind`]. The `Display` text is for logs and may
/// change; [`Error::description`] is the part meant for clients.
#[derive(Clone, PartialEq, Eq)]
pub struct Error {
    kind: ErrorKind,
    /// The claim or header member the failure is about, or a short note.
    detail: Option<Cow<'static, str>>,
}

impl Error {
    pub(crate) const fn new(kind: ErrorKind) -> Error {
        Error { kind, detail: None }
    }

    pub(crate) const fn with_detail(kind: ErrorKind, detail: &'static str) -> Error {
        Error {
            kind,
            detail: Some(Cow::Borrowed(detail)),
        }
    }

    /// An error of `kind` about something named at run time (a configured claim, a
    /// custom check's reason).
    pub fn with_reason(kind: ErrorKind, reason: impl Into<Cow<'static, str>>) -> Error {
        Error {
            kind,
            detail: Some(reason.into()),
        }
    }

    /// What went wrong.
    pub const fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// A short description safe to send to a client.
    pub const fn description(&self) -> &'static str {
        self.kind.description()
    }

    /// The claim or header member the failure concerns, when there is one
    /// (`"exp"`, `"aud"`, ...).
    pub fn detail(&self) -> Option<&str> {
        self.detail.as_deref()
    }

    /// The RFC 6750 error code for this failure.
    pub const fn bearer_error(&self) -> BearerError {
        self.kind.bearer_error()
    }
}

impl Error {
    /// An error of `kind` with no detail. For the layers above this crate, which refuse
    /// tokens for their own reasons (an inactive introspection result, say).
    pub const fn from_kind(kind: ErrorKind) -> Error {
        Error::new(kind)
    }
}

impl From<ErrorKind> for Error {
    fn from(kind: ErrorKind) -> Self {
        Error::new(kind)
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = f.debug_struct("Error");
        s.field("kind", &self.kind);
        if let Some(detail) = &self.detail {
            s.field("detail", detail);
        }
        s.finish()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.kind.description())?;
        if let Some(detail) = &self.detail {
            write!(f, " ({detail})")?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {}

/// A configuration was refused when it was built.
///
/// [`ConfigError::setting`] names the builder setting at fault, so a program that reads
/// its own configuration file (the gateway) can point at its own key instead of
/// checking the value a second time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    setting: Option<&'static str>,
    message: String,
}

impl ConfigError {
    pub(crate) fn new(message: impl Into<String>) -> ConfigError {
        ConfigError {
            setting: None,
            message: message.into(),
        }
    }

    /// A configuration error with the given message, for the crates built on this one.
    pub fn custom(message: impl Into<String>) -> ConfigError {
        ConfigError::new(message)
    }

    /// A configuration error about one setting: `setting` is the name of the builder
    /// method that took the value (`"leeway"`, `"audience"`, `"ttl_bounds"`).
    pub fn for_setting(setting: &'static str, message: impl Into<String>) -> ConfigError {
        ConfigError {
            setting: Some(setting),
            message: message.into(),
        }
    }

    /// The builder setting whose value is wrong (the name of its builder method), or
    /// `None` when the error is about the configuration as a whole.
    pub fn setting(&self) -> Option<&'static str> {
        self.setting
    }

    /// What is wrong with the configuration.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.setting {
            Some(setting) => write!(f, "invalid configuration: {setting}: {}", self.message),
            None => write!(f, "invalid configuration: {}", self.message),
        }
    }
}

impl std::error::Error for ConfigError {}
