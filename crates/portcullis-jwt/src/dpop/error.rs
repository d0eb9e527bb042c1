//! Why a DPoP proof was refused.

use std::fmt;

/// What is wrong with a DPoP proof (RFC 9449 §4.3), or with its binding to the access
/// token. Matches on this enum must have a wildcard arm: new checks add new kinds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DpopErrorKind {
    /// The proof is longer than the configured maximum; nothing was decoded.
    TooLarge,
    /// Not a compact JWS of three base64url segments with JSON object header and
    /// payload, duplicate members, or a `crit`/`b64` header.
    Malformed,
    /// The header `typ` is not `dpop+jwt`.
    InvalidType,
    /// The `alg` is not an asymmetric algorithm in the allow-list (`none` and HMAC are
    /// never accepted), or the key cannot use it.
    AlgorithmNotAllowed,
    /// The header's `jwk` is missing, not a usable public key, or holds private key
    /// material.
    InvalidKey,
    /// The signature does not verify with the header's `jwk`.
    InvalidSignature,
    /// A claim the proof must carry is absent ([`DpopError::detail`] names it).
    MissingClaim,
    /// A claim has the wrong JSON type or an impossible value.
    InvalidClaim,
    /// `htm` is not the request's method.
    MethodMismatch,
    /// `htu` is not the request's URI (compared after normalization, without query and
    /// fragment).
    UriMismatch,
    /// `iat` is in the future, beyond the leeway.
    IssuedInFuture,
    /// `iat` is older than the configured maximum age.
    TooOld,
    /// `ath` is not the hash of the access token presented with the proof.
    AccessTokenHashMismatch,
    /// The proof was used before (its key and `jti` are remembered by a replay store).
    Replayed,
    /// The server requires a nonce it issued, and the proof has none, or a stale one
    /// (RFC 9449 §9): the client is to retry with the nonce in `DPoP-Nonce`.
    UseNonce,
    /// The access token is bound to another key (`cnf.jkt` differs from the proof key's
    /// thumbprint), or is not bound to a key at all.
    KeyBindingMismatch,
}

impl DpopErrorKind {
    /// A short description that is safe to send to the client as the
    /// `error_description`. It never contains token or key material.
    pub const fn description(self) -> &'static str {
        match self {
            DpopErrorKind::TooLarge => "DPoP proof too large",
            DpopErrorKind::Malformed => "malformed DPoP proof",
            DpopErrorKind::InvalidType => "not a DPoP proof",
            DpopErrorKind::AlgorithmNotAllowed => "DPoP proof algorithm not allowed",
            DpopErrorKind::InvalidKey => "invalid DPoP proof key",
            DpopErrorKind::InvalidSignature => "invalid DPoP proof signature",
            DpopErrorKind::MissingClaim => "DPoP proof lacks a required claim",
            DpopErrorKind::InvalidClaim => "invalid DPoP proof claim",
            DpopErrorKind::MethodMismatch => "DPoP proof is for another method",
            DpopErrorKind::UriMismatch => "DPoP proof is for another URI",
            DpopErrorKind::IssuedInFuture => "DPoP proof issued in the future",
            DpopErrorKind::TooOld => "DPoP proof too old",
            DpopErrorKind::AccessTokenHashMismatch => "DPoP proof is for another access token",
            DpopErrorKind::Replayed => "DPoP proof already used",
            DpopErrorKind::UseNonce => "DPoP proof needs the server's nonce",
            DpopErrorKind::KeyBindingMismatch => "invalid DPoP key binding",
        }
    }

    /// The error code of the `WWW-Authenticate: DPoP` challenge (RFC 9449 §7.1, §9,
    /// §12.2): `invalid_token` when the access token is not bound to the proof's key
    /// (the token, not the proof, is wrong for this request), `use_dpop_nonce` when a
    /// nonce is needed, `invalid_dpop_proof` otherwise.
    pub const fn code(self) -> &'static str {
        match self {
            DpopErrorKind::KeyBindingMismatch => "invalid_token",
            DpopErrorKind::UseNonce => "use_dpop_nonce",
            _ => "invalid_dpop_proof",
        }
    }
}

/// A DPoP proof was refused.
///
/// Match on [`DpopError::kind`]; the `Display` text is for logs and may change.
#[derive(Clone, PartialEq, Eq)]
pub struct DpopError {
    kind: DpopErrorKind,
    /// The claim or header member the failure is about.
    detail: Option<&'static str>,
}

impl DpopError {
    /// An error of `kind`.
    pub const fn new(kind: DpopErrorKind) -> DpopError {
        DpopError { kind, detail: None }
    }

    /// An error of `kind` about `member` (a claim, a header member, or the `DPoP`
    /// request header itself).
    pub const fn about(kind: DpopErrorKind, member: &'static str) -> DpopError {
        DpopError {
            kind,
            detail: Some(member),
        }
    }

    /// What went wrong.
    pub const fn kind(&self) -> DpopErrorKind {
        self.kind
    }

    /// The claim or header member the failure concerns, when there is one.
    pub const fn detail(&self) -> Option<&'static str> {
        self.detail
    }

    /// A short description safe to send to a client.
    pub const fn description(&self) -> &'static str {
        self.kind.description()
    }

    /// The challenge's error code: see [`DpopErrorKind::code`].
    pub const fn code(&self) -> &'static str {
        self.kind.code()
    }
}

impl From<DpopErrorKind> for DpopError {
    fn from(kind: DpopErrorKind) -> Self {
        DpopError::new(kind)
    }
}

impl fmt::Debug for DpopError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = f.debug_struct("DpopError");
        s.field("kind", &self.kind);
        if let Some(detail) = self.detail {
            s.field("detail", &detail);
        }
        s.finish()
    }
}

impl fmt::Display for DpopError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.kind.description())?;
        if let Some(detail) = self.detail {
            write!(f, " ({detail})")?;
        }
        Ok(())
    }
}

impl std::error::Error for DpopError {}
