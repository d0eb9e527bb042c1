//! Strict, fast, I/O-free verification of JWT access tokens.
//!
//! `portcullis-jwt` decides whether a compact JWS access token (RFC 7515, RFC 7519,
//! profiled by RFC 9068) is genuine and acceptable, and returns what it says. It does no
//! I/O: key sets come in as bytes or keys, time comes in as a value. Fetching key sets
//! is `portcullis-issuer`'s job; HTTP is `portcullis`'s.
//!
//! ```
//! use std::time::{Duration, UNIX_EPOCH};
//! use portcullis_jwt::{Algorithm, ErrorKind, KeySet, Validation};
//!
//! // The JWK Set of the issuer (fetched and cached by portcullis-issuer in real use).
//! let jwks = br#"{"keys":[{"kty":"OKP","crv":"Ed25519","kid":"k1","alg":"EdDSA",
//!     "x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}"#;
//! let keys = KeySet::from_jwks(jwks)?;
//!
//! let validation = Validation::builder()
//!     .issuer("https://issuer.example")
//!     .audience("https://api.example")
//!     .algorithms([Algorithm::EdDSA])
//!     .build()?;
//!
//! // Signed by the RFC 8037 example key.
//! let token = "eyJhbGciOiJFZERTQSIsImtpZCI6ImsxIiwidHlwIjoiYXQrand0In0.\
//!     eyJpc3MiOiJodHRwczovL2lzc3Vlci5leGFtcGxlIiwiYXVkIjoiaHR0cHM6Ly9hcGkuZXhhbXBsZSIsInN1YiI6ImFsaWNlIiwiY2xpZW50X2lkIjoiYXBwIiwic2NvcGUiOiJyZWFkIHdyaXRlIiwiZXhwIjoyMDAwMDAwMDAwLCJpYXQiOjE3MDAwMDAwMDAsImp0aSI6IjEifQ.\
//!     54wm4z2f9gufIEGLOYhmbF9Pg5MyW0-8HCpEYkj1PCS-rCaXnhGcCPHuOKaRH726lPQi7cotI50NrYlBP-4wDQ";
//!
//! let now = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
//! let claims = validation.verify(token, &keys, now)?;
//! assert_eq!(claims.subject(), Some("alice"));
//! assert!(claims.scopes().contains("write"));
//!
//! // A day after `exp`, the same token is refused.
//! let later = UNIX_EPOCH + Duration::from_secs(2_000_086_400);
//! let error = validation.verify(token, &keys, later).unwrap_err();
//! assert_eq!(error.kind(), ErrorKind::Expired);
//! assert_eq!(error.bearer_error().code(), "invalid_token");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # What is checked
//!
//! - **Shape**, before anything else: at most 8 KiB by default; exactly three non-empty
//!   base64url segments, no padding, canonical encoding; header and payload JSON
//!   objects with no duplicate member names at any depth; no `crit`, no `b64`; JWE and
//!   the JSON serialization refused.
//! - **Algorithm**: in the configured allow-list (asymmetric by default), and supported
//!   by the key. `none` is not representable. HMAC keys only come from the application
//!   ([`Key::hmac_secret`]), never from a JWK Set, so RS256→HS256 confusion cannot
//!   happen.
//! - **Key**: by `kid`; without a `kid`, only when exactly one key can verify. `jwk`,
//!   `jku`, `x5u` and `x5c` in the header are ignored.
//! - **Claims**: `exp` required, and under the RFC 9068 profile (unless relaxed) `sub`,
//!   `client_id`, `iat` and `jti` too; `nbf`, `iat` honoured with leeway (30 s by
//!   default); `iss` exact match; `aud` string or array; `scope` a string (`scp` a
//!   string or an array); `typ` `at+jwt` unless relaxed, ID tokens refused; required
//!   claims; custom checks.
//!
//! # Why was this token refused?
//!
//! [`Validation::explain`] applies every rule, in `verify`'s order, and reports each
//! (passed, failed or not checked) with what the token says and what the rule wants in
//! plain words, and a provider's usual cause under a [`Preset`]: an [`Explanation`]. Its
//! first failure is the error `verify` returns.
//!
//! See [`docs/architecture.md`](https://github.com/portcullis-rs/portcullis/blob/main/docs/architecture.md)
//! in the repository for how this crate fits the rest.

mod algorithm;
mod claim_match;
mod claim_path;
mod claims;
pub mod clock;
mod confirmation;
pub mod dangerous;
pub mod dpop;
mod error;
mod explain;
mod key;
mod preset;
mod scope;
mod strict_json;
mod token;
mod validation;

pub use algorithm::{Algorithm, AlgorithmSet, UnknownAlgorithm};
pub use claim_match::ClaimMatch;
pub use claim_path::{ClaimPath, MAX_CLAIM_PATH, MAX_CLAIM_PATH_DEPTH};
pub use claims::{Claims, NumericDate, VerifiedBy};
pub use clock::{Clock, ManualClock, SystemClock};
pub use confirmation::Confirmation;
pub use error::{BearerError, ConfigError, Error, ErrorKind};
pub use explain::{Explanation, Outcome, Rule, Step};
pub use key::{
    JwksError, Key, KeySet, MAX_KEYS, MAX_RSA_BITS, MIN_HMAC_SECRET, MIN_RSA_BITS, SkipReason,
    SkippedKey,
};
pub use preset::Preset;
pub use scope::{
    MAX_ACR_VALUE_LENGTH, MAX_ROLE_LENGTH, ScopeRequirement, Scopes, Unmet, is_scope_token,
};
pub use token::{
    DEFAULT_MAX_TOKEN_SIZE, Header, TokenType, UnverifiedToken, read_unverified_issuer,
};
pub use validation::{
    AudienceClaim, DEFAULT_LEEWAY, MAX_LEEWAY, MAX_REQUIRED_CLAIMS, ScopeClaim, Validation,
    ValidationBuilder,
};
