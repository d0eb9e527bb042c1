//! Tower middleware for OAuth 2.0 resource servers.
//!
//! Portcullis authenticates requests with bearer access tokens (RFC 6750), verifies
//! them through one [`Verifier`] abstraction (JWTs with [`JwtVerifier`], opaque tokens
//! with [`IntrospectionVerifier`], both with [`HybridVerifier`], several issuers with
//! [`MultiIssuerVerifier`]), puts the verified [`Claims`] in the request's extensions,
//! and answers refusals exactly as RFC 6750 §3 says: 401 with a challenge, 400
//! `invalid_request`, 401 `invalid_token`, 403 `insufficient_scope`, or 503 with
//! `Retry-After` when the issuer cannot be reached.
//! gRPC requests get trailers-only gRPC responses instead.
//!
//! - [`AuthenticationLayer`]: token → [`Verifier`] → [`Claims`] → inner service.
//! - [`RequireScopesLayer`]: per-route scopes (all-of / any-of) and claim predicates.
//! - [`ProtectedResourceMetadata`]: RFC 9728 `/.well-known/oauth-protected-resource`.
//! - Feature `axum`: extractors in [`extract`]. Feature `tonic`: [`grpc::RequestExt`].
//!
//! The layers never change the inner service's error type (an `Infallible` axum
//! router stays `Infallible`) nor its body type.
//!
//! ```
//! # use portcullis_testkit::{SigningAlgorithm, SigningKey, jwks};
//! use std::convert::Infallible;
//! use http::{Request, Response, StatusCode, header};
//! use portcullis::{AuthenticationLayer, Claims, JwtVerifier, KeySet, ScopeRequirement, Validation};
//! use tower::{ServiceBuilder, ServiceExt, service_fn};
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! # let key = SigningKey::generate(SigningAlgorithm::ES256);
//! # let jwks_bytes = serde_json::to_vec(&jwks([&key])).unwrap();
//! # let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs();
//! // The issuer's keys: a JWK Set (fetched from the issuer in production).
//! let keys = KeySet::from_jwks(&jwks_bytes)?;
//! let validation = Validation::builder()
//!     .issuer("https://issuer.example")
//!     .audience("https://api.example")
//!     .build()?;
//! let authn = AuthenticationLayer::builder(JwtVerifier::with_static_keys(validation, keys))
//!     .realm("example")
//!     .build()?;
//! let read = authn.require(ScopeRequirement::all_of(["read"])?);
//!
//! let api = ServiceBuilder::new().layer(authn).layer(read).service(service_fn(
//!     |request: Request<String>| async move {
//!         let claims = request.extensions().get::<Claims>().unwrap();
//!         Ok::<_, Infallible>(Response::new(format!("hello, {}", claims.subject().unwrap())))
//!     },
//! ));
//!
//! let token_with = |scope: &str| {
//!     key.token()
//!         .standard_claims("https://issuer.example", "https://api.example", now)
//!         .claim("scope", scope)
//!         .sign()
//! };
//! let call = |token: Option<String>| {
//!     let mut request = Request::builder();
//!     if let Some(token) = token {
//!         request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
//!     }
//!     api.clone().oneshot(request.body(String::new()).unwrap())
//! };
//!
//! assert_eq!(call(None).await?.status(), StatusCode::UNAUTHORIZED);
//! assert_eq!(call(Some("forged".into())).await?.status(), StatusCode::UNAUTHORIZED);
//! assert_eq!(call(Some(token_with("write"))).await?.status(), StatusCode::FORBIDDEN);
//! let response = call(Some(token_with("read"))).await?;
//! assert_eq!(response.status(), StatusCode::OK);
//! assert_eq!(response.body(), "hello, test-subject");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```
//!
//! The [layers guide](guide::layers) covers token sources, responses, observability and
//! deployment caveats (proxies, clock skew, key rotation).

pub mod authentication;
pub mod authorization;
pub mod certificate_binding;
pub mod dpop;
mod error;
#[cfg(feature = "axum")]
pub mod extract;
pub mod grpc;
pub mod guide;
mod layer_shared;
pub mod metadata;
mod rejection;
pub mod token;

pub use authentication::{Authentication, AuthenticationLayer, AuthenticationLayerBuilder, Mode};
pub use authorization::{RequireScopes, RequireScopesLayer};
pub use certificate_binding::{CertificateHeaderFormat, ClientCertificate};
pub use dpop::{DpopMode, DpopPolicy, DpopPolicyBuilder};
pub use error::ConfigError;
pub use metadata::{MetadataService, ProtectedResourceMetadata, WELL_KNOWN_PATH};
/// Hybrid JWT-and-introspection verification (`portcullis_issuer::hybrid`).
pub use portcullis_issuer::hybrid;
/// The verifier seam and the verifiers the layers take, from `portcullis_issuer`, where
/// they are implemented.
pub use portcullis_issuer::{
    HybridVerifier, MultiIssuerVerifier, MultiIssuerVerifierBuilder, Routing, Verification,
    VerificationFuture, Verifier, VerifyFuture,
};
pub use rejection::{DefaultRejection, Reject, Rejection, RejectionKind, ResponseBody};
pub use token::TokenSource;

#[doc(no_inline)]
pub use portcullis_issuer::{IntrospectionVerifier, JwtVerifier, VerifyError, VerifyErrorKind};
#[doc(no_inline)]
pub use portcullis_jwt::{
    ClaimPath, Claims, KeySet, Preset, ScopeRequirement, Scopes, Unmet, Validation,
};

/// The `realm` of challenges unless configured otherwise.
pub const DEFAULT_REALM: &str = "api";
