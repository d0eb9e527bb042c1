//! DPoP proofs (RFC 9449): checking that the client presenting a sender-constrained
//! access token holds the key the token is bound to.
//!
//! A DPoP request carries the access token (`Authorization: DPoP <token>`) and a proof
//! (`DPoP: <jwt>`): a JWT the client signs, for this one request, with the private key
//! whose public half is in the proof's header. [`DpopValidation::verify`] makes every
//! check of RFC 9449 §4.3 that needs no state; [`DpopProof::check_binding`] then ties
//! the proof's key to the token's `cnf.jkt` (§6). What needs state is the caller's:
//! refusing a proof seen before (remember [`DpopProof::replay_key`] until
//! [`DpopProof::replay_window_end`]) and, if it issues nonces, checking
//! [`DpopProof::nonce`] with [`DpopNonces`].
//!
//! ```
//! use std::time::{Duration, UNIX_EPOCH};
//! use portcullis_jwt::dpop::{DpopErrorKind, DpopRequest, DpopValidation};
//!
//! let validation = DpopValidation::builder()
//!     .max_age(Duration::from_secs(60))
//!     .build()?;
//! let request = DpopRequest::new("GET", "https://api.example/orders?page=2")
//!     .access_token("an.access.token");
//! // A proof for `GET https://api.example/orders` with that access token, signed with
//! // the RFC 8037 Ed25519 example key.
//! let proof = "eyJ0eXAiOiJkcG9wK2p3dCIsImFsZyI6IkVkRFNBIiwiandrIjp7Imt0eSI6Ik9LUCIsImNydiI6\
//!     IkVkMjU1MTkiLCJ4IjoiMTFxWUFZS3hDcmZWU183VHlXUUhPZzdoY3ZQYXBpTWxyd0lhYVBjSFVSbyJ9fQ.\
//!     eyJqdGkiOiJlOWM1IiwiaHRtIjoiR0VUIiwiaHR1IjoiaHR0cHM6Ly9hcGkuZXhhbXBsZS9vcmRlcnMiLCJpYXQ\
//!     iOjE4MDAwMDAwMDAsImF0aCI6IlVrTTJiNDJFNTR1NGhXenVLVl9CM3p5dWxVQTZ2dE5ZakpVdl9ydTJRY2sifQ.\
//!     nfLh9RbB2C0ZH_3kJ8-EYyRsAbp7xxNVtqtOCQV7hiX77un4sYvR5Z-QqZe1gVgR5yav-Oruk6W0Q6rjv2boAg";
//! let now = UNIX_EPOCH + Duration::from_secs(1_800_000_010);
//! let verified = validation.verify(proof, &request, now)?;
//! assert_eq!(verified.jti(), "e9c5");
//!
//! // The same proof sent with a POST is refused.
//! let post = DpopRequest::new("POST", "https://api.example/orders").access_token("an.access.token");
//! let error = validation.verify(proof, &post, now).unwrap_err();
//! assert_eq!(error.kind(), DpopErrorKind::MethodMismatch);
//! assert_eq!(error.code(), "invalid_dpop_proof");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod error;
mod htu;
mod known_keys;
mod nonce;
mod proof;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lc_rs::digest;
use base64_simd::{AsOut, URL_SAFE_NO_PAD};

use crate::algorithm::AlgorithmSet;
use crate::claims::Claims;
use crate::confirmation::Confirmation;
use crate::error::ConfigError;
use known_keys::KnownKeys;

pub use error::{DpopError, DpopErrorKind};
pub use nonce::{DEFAULT_NONCE_WINDOW, DpopNonces, MIN_NONCE_SECRET};

/// How old a proof may be by default: 60 seconds. A proof is made for one request,
/// right before it is sent.
pub const DEFAULT_PROOF_MAX_AGE: Duration = Duration::from_secs(60);

/// How far the client's clock may run ahead of ours by default: 5 seconds. A client
/// whose clock is further off should be sent a server nonce (RFC 9449 §8), which does
/// not depend on its clock.
pub const DEFAULT_PROOF_LEEWAY: Duration = Duration::from_secs(5);

/// The longest proof read by default: 8 KiB, room for an RSA-4096 key in the header.
pub const DEFAULT_MAX_PROOF_SIZE: usize = 8 * 1024;

/// The longest `jti` accepted: 256 bytes. A replay store holds one per proof, so its
/// size is bounded; RFC 9449 asks for 96 bits of randomness, 16 characters in base64url.
pub const MAX_JTI_LEN: usize = 256;

/// The rules for DPoP proofs at one resource.
///
/// Defaults: every asymmetric algorithm, proofs at most [`DEFAULT_PROOF_MAX_AGE`] old
/// and [`DEFAULT_PROOF_LEEWAY`] ahead, at most [`DEFAULT_MAX_PROOF_SIZE`] long.
#[derive(Clone, Debug)]
pub struct DpopValidation {
    algorithms: AlgorithmSet,
    max_age: Duration,
    leeway: Duration,
    max_size: usize,
    /// Parsed keys of proofs that verified, shared by clones.
    known_keys: KnownKeys,
}

/// Configures a [`DpopValidation`].
#[must_use]
#[derive(Clone, Debug)]
pub struct DpopValidationBuilder {
    algorithms: AlgorithmSet,
    max_age: Duration,
    leeway: Duration,
    max_size: usize,
}

impl DpopValidationBuilder {
    /// The algorithms a proof may be signed with (the `algs` of the challenge).
    /// Defaults to every asymmetric algorithm; HMAC algorithms are refused at build.
    pub fn algorithms(mut self, algorithms: impl IntoIterator<Item = crate::Algorithm>) -> Self {
        self.algorithms = algorithms.into_iter().collect();
        self
    }

    /// How old a proof's `iat` may be. Defaults to [`DEFAULT_PROOF_MAX_AGE`]; at most
    /// 10 minutes (a replay store remembers each proof this long).
    pub fn max_age(mut self, max_age: Duration) -> Self {
        self.max_age = max_age;
        self
    }

    /// How far in the future a proof's `iat` may be. Defaults to
    /// [`DEFAULT_PROOF_LEEWAY`]; at most 5 minutes.
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway;
        self
    }

    /// The longest proof read, in bytes. Defaults to [`DEFAULT_MAX_PROOF_SIZE`].
    pub fn max_size(mut self, bytes: usize) -> Self {
        self.max_size = bytes;
        self
    }

    /// Checks the configuration.
    ///
    /// # Errors
    /// No algorithm, an HMAC algorithm, a maximum age of zero or over 10 minutes, a
    /// leeway over 5 minutes, or a maximum size under 256 bytes.
    pub fn build(self) -> Result<DpopValidation, ConfigError> {
        if self.algorithms.is_empty() {
            return Err(ConfigError::for_setting(
                "algorithms",
                "DPoP proofs need at least one algorithm",
            ));
        }
        if !self.algorithms.intersection(AlgorithmSet::HMAC).is_empty() {
            return Err(ConfigError::for_setting(
                "algorithms",
                "DPoP proofs are signed with asymmetric keys; HMAC is not allowed",
            ));
        }
        if self.max_age.is_zero() || self.max_age > Duration::from_secs(600) {
            return Err(ConfigError::for_setting(
                "max_age",
                "a DPoP proof's maximum age must be between 1 second and 10 minutes",
            ));
        }
        if self.leeway > Duration::from_secs(300) {
            return Err(ConfigError::for_setting(
                "leeway",
                "a DPoP proof's leeway must be at most 5 minutes",
            ));
        }
        if self.max_size < 256 {
            return Err(ConfigError::for_setting(
                "max_size",
                "a DPoP proof's maximum size must be at least 256 bytes",
            ));
        }
        Ok(DpopValidation {
            algorithms: self.algorithms,
            max_age: self.max_age,
            leeway: self.leeway,
            max_size: self.max_size,
            known_keys: KnownKeys::default(),
        })
    }
}

/// The request a proof is checked against.
#[derive(Clone, Copy, Debug)]
pub struct DpopRequest<'a> {
    method: &'a str,
    uri: &'a str,
    access_token: Option<&'a str>,
}

impl<'a> DpopRequest<'a> {
    /// A request with this method and this absolute URI, as the client addressed it:
    /// the resource's configured external origin and the request's path, never the
    /// `Host` header as sent (a client chooses that). The query, if any, is ignored.
    pub fn new(method: &'a str, uri: &'a str) -> DpopRequest<'a> {
        DpopRequest {
            method,
            uri,
            access_token: None,
        }
    }

    /// The access token presented with the proof: its hash must be the proof's `ath`.
    pub fn access_token(mut self, token: &'a str) -> Self {
        self.access_token = Some(token);
        self
    }
}

/// A proof that passed every stateless check.
#[derive(Clone, PartialEq, Eq)]
pub struct DpopProof {
    thumbprint: [u8; 32],
    jti: Box<str>,
    issued_at: SystemTime,
    replay_window_end: SystemTime,
    nonce: Option<Box<str>>,
}

impl DpopProof {
    /// The RFC 7638 SHA-256 thumbprint of the proof's public key.
    pub fn thumbprint(&self) -> &[u8; 32] {
        &self.thumbprint
    }

    /// The thumbprint in base64url, as a token's `cnf.jkt` carries it.
    pub fn jkt(&self) -> String {
        URL_SAFE_NO_PAD.encode_to_string(self.thumbprint)
    }

    /// The proof's `jti`.
    pub fn jti(&self) -> &str {
        &self.jti
    }

    /// When the client made the proof (`iat`).
    pub fn issued_at(&self) -> SystemTime {
        self.issued_at
    }

    /// The server nonce the proof carries, if any: the caller checks it against the
    /// nonces it issues.
    pub fn nonce(&self) -> Option<&str> {
        self.nonce.as_deref()
    }

    /// What identifies this proof for replay detection: the key and the `jti` (two
    /// clients may well pick the same `jti`).
    pub fn replay_key(&self) -> ([u8; 32], &str) {
        (self.thumbprint, &self.jti)
    }

    /// Until when a replay of this proof would still pass [`DpopValidation::verify`]:
    /// how long a replay store must remember [`DpopProof::replay_key`].
    pub fn replay_window_end(&self) -> SystemTime {
        self.replay_window_end
    }

    /// Checks that `claims` (of the access token presented with this proof) are bound
    /// to this proof's key: `cnf.jkt` is its thumbprint (RFC 9449 §6.1).
    ///
    /// # Errors
    /// [`DpopErrorKind::KeyBindingMismatch`] if the token has no `cnf.jkt`, or another.
    pub fn check_binding(&self, claims: &Claims) -> Result<(), DpopError> {
        match bound_thumbprint(claims) {
            Some(bound) if bound == self.thumbprint => Ok(()),
            _ => Err(DpopError::about(DpopErrorKind::KeyBindingMismatch, "cnf")),
        }
    }
}

impl std::fmt::Debug for DpopProof {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DpopProof")
            .field("jkt", &self.jkt())
            .field("issued_at", &self.issued_at)
            .finish_non_exhaustive()
    }
}

/// The key thumbprint an access token is bound to by DPoP (`cnf.jkt`, RFC 9449 §6),
/// or `None` if it is not bound to a DPoP key.
pub fn bound_thumbprint(claims: &Claims) -> Option<[u8; 32]> {
    match claims.confirmation()? {
        Confirmation::DpopKey(thumbprint) => Some(*thumbprint),
        _ => None,
    }
}

impl DpopValidation {
    /// Starts a configuration with the defaults.
    pub fn builder() -> DpopValidationBuilder {
        DpopValidationBuilder {
            algorithms: AlgorithmSet::ASYMMETRIC,
            max_age: DEFAULT_PROOF_MAX_AGE,
            leeway: DEFAULT_PROOF_LEEWAY,
            max_size: DEFAULT_MAX_PROOF_SIZE,
        }
    }

    /// The algorithms proofs may use, for the challenge's `algs` and RFC 9728's
    /// `dpop_signing_alg_values_supported`.
    pub fn algorithms(&self) -> AlgorithmSet {
        self.algorithms
    }

    /// Makes every stateless check of RFC 9449 §4.3 on `proof` for `request` at `now`:
    /// size; shape; `typ`; `alg` allowed; a public `jwk` that verifies the signature;
    /// `jti`, `htm`, `htu` and `iat` present; `htm` the method; `htu` the URI after
    /// normalization; `iat` within the window; `ath` the access token's hash when a
    /// token is presented.
    ///
    /// # Errors
    /// The first check that failed, in that order.
    pub fn verify(
        &self,
        proof: &str,
        request: &DpopRequest<'_>,
        now: SystemTime,
    ) -> Result<DpopProof, DpopError> {
        if proof.len() > self.max_size {
            return Err(DpopErrorKind::TooLarge.into());
        }
        let read = proof::read(proof, &self.known_keys)?;
        if !self.algorithms.contains(read.alg) || !read.key.supports(read.alg) {
            return Err(DpopError::about(DpopErrorKind::AlgorithmNotAllowed, "alg"));
        }
        if !read
            .key
            .verify(read.alg, read.signing_input, &read.signature)
        {
            return Err(DpopErrorKind::InvalidSignature.into());
        }
        if let Some(jwk) = &read.new_jwk {
            self.known_keys.remember(jwk, &read.key);
        }
        let claims = read.claims;
        if let Some(member) = claims.wrong_type {
            return Err(DpopError::about(DpopErrorKind::InvalidClaim, member));
        }
        let missing = |member| DpopError::about(DpopErrorKind::MissingClaim, member);
        let jti = claims.jti.ok_or_else(|| missing("jti"))?;
        let htm = claims.htm.ok_or_else(|| missing("htm"))?;
        let htu = claims.htu.ok_or_else(|| missing("htu"))?;
        let iat = claims.iat.ok_or_else(|| missing("iat"))?;
        if jti.is_empty() || jti.len() > MAX_JTI_LEN {
            return Err(DpopError::about(DpopErrorKind::InvalidClaim, "jti"));
        }
        if *htm != *request.method {
            return Err(DpopError::about(DpopErrorKind::MethodMismatch, "htm"));
        }
        match (htu::normalize(&htu), htu::normalize(request.uri)) {
            (Some(claimed), Some(actual)) if claimed == actual => {}
            _ => return Err(DpopError::about(DpopErrorKind::UriMismatch, "htu")),
        }
        let issued_at = self.check_issued_at(iat, now)?;
        if let Some(token) = request.access_token {
            let ath = claims.ath.ok_or_else(|| missing("ath"))?;
            let hash = digest::digest(&digest::SHA256, token.as_bytes());
            let mut expected = [0; 43];
            let expected = URL_SAFE_NO_PAD.encode_as_str(hash.as_ref(), expected.as_mut().as_out());
            if *ath != *expected {
                return Err(DpopError::about(
                    DpopErrorKind::AccessTokenHashMismatch,
                    "ath",
                ));
            }
        }
        Ok(DpopProof {
            thumbprint: *read.key.thumbprint(),
            jti,
            issued_at,
            replay_window_end: issued_at + self.max_age + self.leeway,
            nonce: claims.nonce,
        })
    }

    /// `iat` as a time, if it is within `[now - max_age - leeway, now + leeway]`.
    fn check_issued_at(&self, iat: f64, now: SystemTime) -> Result<SystemTime, DpopError> {
        let invalid = DpopError::about(DpopErrorKind::InvalidClaim, "iat");
        if !iat.is_finite() || !(0.0..=1e13).contains(&iat) {
            return Err(invalid);
        }
        let issued_at = UNIX_EPOCH + Duration::from_secs_f64(iat);
        if issued_at > now + self.leeway {
            return Err(DpopError::about(DpopErrorKind::IssuedInFuture, "iat"));
        }
        if issued_at + self.max_age + self.leeway < now {
            return Err(DpopError::about(DpopErrorKind::TooOld, "iat"));
        }
        Ok(issued_at)
    }
}

/// Not public API: the `htu` normalization, reachable for the `dpop` fuzz target and its
/// seed test (`fuzz/properties/dpop.rs`). May change in any release.
#[doc(hidden)]
pub mod fuzzing {
    /// The comparison form of an `http`/`https` URI, or `None`.
    pub fn normalize_htu(uri: &str) -> Option<String> {
        super::htu::normalize(uri)
    }
}
