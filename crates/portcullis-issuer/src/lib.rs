//! Talking to the issuer: discovery, remote key sets, and introspection.
//!
//! The entry point for resource servers is [`JwtVerifier`]: a [`Validation`] plus a
//! source of keys, answering "is this token acceptable?" asynchronously, because the
//! answer may need a key set fetched from the issuer. Its errors tell a bad token
//! ([`VerifyErrorKind::InvalidToken`], answer 401) from an issuer that cannot be
//! reached ([`VerifyErrorKind::Unavailable`], answer 503 with `Retry-After`).
//!
//! Keys come from one of:
//! - [`RemoteKeySet::from_issuer`]: discovery (OpenID Connect, then RFC 8414), with an
//!   exact `issuer` match, then the advertised `jwks_uri`;
//! - [`RemoteKeySet::from_jwks_url`]: a JWK Set URL;
//! - [`JwtVerifier::with_static_keys`]: keys the application holds.
//!
//! A [`RemoteKeySet`] survives what breaks resource servers in production: rotations
//! (an unknown `kid` is one fetch for all concurrent requests, which then succeed),
//! floods of made-up `kid`s (one refetch per cooldown, negative cache), and outages
//! (the last good set serves up to a maximum staleness, then verification fails
//! closed). Every request to the issuer goes through [`HttpClient`]: `https` only,
//! timeouts, a body cap, no redirects, and a pluggable transport.
//!
//! ```
//! use portcullis_issuer::{JwtVerifier, RemoteKeySet, Validation, VerifyErrorKind};
//! use portcullis_jwt::Algorithm;
//! use portcullis_testkit::TestIssuer;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // A local issuer on 127.0.0.1 stands in for the real one.
//! let issuer = TestIssuer::start().await;
//!
//! let keys = RemoteKeySet::from_issuer(&issuer.url()).build()?;
//! let validation = Validation::builder()
//!     .issuer(issuer.url())
//!     .audience("https://api.example")
//!     .algorithms([Algorithm::RS256])
//!     .build()?;
//! let verifier = JwtVerifier::with_remote_keys(validation, keys.clone());
//!
//! keys.ready().await; // or poll `keys.is_ready()` from `/readyz`
//! let claims = verifier.verify(&issuer.mint_now("https://api.example")).await?;
//! assert_eq!(claims.subject(), Some("test-subject"));
//!
//! // The issuer rotates its key: the first token with the new `kid` triggers one
//! // refetch and is accepted.
//! issuer.rotate();
//! verifier.verify(&issuer.mint_now("https://api.example")).await?;
//! assert_eq!(keys.stats().fetches, 2);
//!
//! // A forged token is a 401, never a 503.
//! let error = verifier.verify("e30.e30.e30").await.unwrap_err();
//! assert_eq!(error.kind(), VerifyErrorKind::InvalidToken);
//! # Ok(())
//! # }
//! ```
//!
//! Defaults, the rotation and outage behaviour, and deployment caveats are described in
//! the [issuer guide](guide::issuer); opaque tokens in the
//! [introspection guide](guide::introspection).

pub mod dangerous;
mod discovery;
mod error;
pub mod freshness;
pub mod guide;
mod http;
pub mod hybrid;
pub mod introspection;
mod jwt_verifier;
mod multi_issuer;
pub mod proof_replay;
mod remote;
pub mod revocation;
mod shared_key;
pub mod shared_tier;
pub mod token_cache;
mod verifier;
mod verify_error;

pub use discovery::{DiscoveryMode, IssuerMetadata};
pub use error::{BoxError, ConfigError, FetchError, FetchErrorKind};
pub use http::{
    DEFAULT_CONNECT_TIMEOUT, DEFAULT_MAX_BODY_SIZE, DEFAULT_TIMEOUT, HttpClient, HttpClientBuilder,
    TransportBody, check_fetch_url,
};
pub use hybrid::{HybridVerifier, Routing};
pub use introspection::{ClientAuth, IntrospectionVerifier, IntrospectionVerifierBuilder, Secret};
pub use jwt_verifier::JwtVerifier;
pub use multi_issuer::{MultiIssuerVerifier, MultiIssuerVerifierBuilder};
pub use proof_replay::{
    InMemoryProofReplayStore, ProofId, ProofReplayStore, ProofReplayStoreError, ProofUse,
    ProofUseCheck, ProofUseFuture,
};
pub use remote::{
    DEFAULT_MAX_STALENESS, DEFAULT_MAX_TTL, DEFAULT_MIN_TTL, DEFAULT_RETRY_MAX, DEFAULT_RETRY_MIN,
    DEFAULT_TTL, DEFAULT_UNKNOWN_KID_COOLDOWN, RemoteKeySet, RemoteKeySetBuilder,
    RemoteKeySetStats, Startup,
};
pub use revocation::{
    RevocationCheck, RevocationCheckFuture, Revocations, RevocationsFull, Revoked,
};
pub use shared_key::{MIN_SHARED_SECRET_LEN, SharedKeys, TokenHash};
pub use shared_tier::{SharedTier, SharedTierError, SharedTierFuture, SharedTierStats};
pub use token_cache::{Cached, TokenCache, TokenCacheBuilder, TokenCacheStats, TokenKey};
pub use verifier::{Verification, VerificationFuture, Verifier, VerifyFuture};
pub use verify_error::{VerifyError, VerifyErrorKind};

#[doc(no_inline)]
pub use portcullis_jwt::{Claims, Validation};
