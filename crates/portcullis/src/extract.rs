//! axum 0.8 extractors (feature `axum`).
//!
//! - [`Authenticated`]: the verified [`Claims`]; 401 when the request is anonymous.
//!   `Option<Authenticated>` is `None` for anonymous requests (optional mode).
//! - [`VerifiedClaims<T>`]: the claims as the application's own type.
//!
//! Their rejection is [`Rejection`], which implements `IntoResponse`. (`Claims` comes
//! from `portcullis-jwt`, so the extractor is a newtype: Rust's orphan rule forbids
//! implementing axum's traits on it here.)
//!
//! ```
//! use axum::{Router, routing::get};
//! use portcullis::extract::{Authenticated, VerifiedClaims};
//!
//! #[derive(serde::Deserialize)]
//! struct MyClaims { sub: String, tenant: String }
//!
//! async fn me(Authenticated(claims): Authenticated) -> String {
//!     format!("{:?}", claims.subject())
//! }
//! async fn tenant(VerifiedClaims(mine): VerifiedClaims<MyClaims>) -> String {
//!     format!("{} in {}", mine.sub, mine.tenant)
//! }
//! async fn maybe(user: Option<Authenticated>) -> &'static str {
//!     if user.is_some() { "hello, user" } else { "hello, stranger" }
//! }
//! let app: Router = Router::new()
//!     .route("/me", get(me))
//!     .route("/tenant", get(tenant))
//!     .route("/maybe", get(maybe));
//! ```

use std::convert::Infallible;
use std::ops::Deref;
use std::sync::Arc;

use axum::extract::{FromRequestParts, OptionalFromRequestParts};
use axum::response::{IntoResponse, Response};
use http::request::Parts;
use portcullis_jwt::Claims;
use serde::de::DeserializeOwned;

use crate::grpc::is_grpc;
use crate::layer_shared::Anonymous;
use crate::rejection::{ChallengeConfig, Rejection, RejectionKind};

/// The verified claims of the request's token.
#[derive(Clone, Debug)]
pub struct Authenticated(pub Claims);

impl Deref for Authenticated {
    type Target = Claims;

    fn deref(&self) -> &Claims {
        &self.0
    }
}

/// The verified claims, deserialized into `T`. A token whose payload does not fit `T`
/// is refused with 401 `invalid_token`.
#[derive(Clone, Debug)]
pub struct VerifiedClaims<T>(pub T);

fn challenge(parts: &Parts) -> Arc<ChallengeConfig> {
    match parts.extensions.get::<Anonymous>() {
        Some(anonymous) => anonymous.0.clone(),
        None => {
            tracing::error!("no portcullis AuthenticationLayer in front of this handler");
            ChallengeConfig::default_shared()
        }
    }
}

fn missing(parts: &Parts) -> Rejection {
    Rejection::new(
        RejectionKind::MissingToken,
        "no bearer token",
        challenge(parts),
        is_grpc(&parts.headers),
    )
}

impl<S: Send + Sync> FromRequestParts<S> for Authenticated {
    type Rejection = Rejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Rejection> {
        match parts.extensions.get::<Claims>() {
            Some(claims) => Ok(Authenticated(claims.clone())),
            None => Err(missing(parts)),
        }
    }
}

impl<S: Send + Sync> OptionalFromRequestParts<S> for Authenticated {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Option<Self>, Infallible> {
        Ok(parts.extensions.get::<Claims>().cloned().map(Authenticated))
    }
}

fn deserialize<T: DeserializeOwned>(parts: &Parts, claims: &Claims) -> Result<T, Rejection> {
    claims.deserialize().map_err(|_| {
        Rejection::new(
            RejectionKind::InvalidToken,
            "unexpected claims",
            challenge(parts),
            is_grpc(&parts.headers),
        )
    })
}

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for VerifiedClaims<T> {
    type Rejection = Rejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Rejection> {
        match parts.extensions.get::<Claims>() {
            Some(claims) => deserialize(parts, claims).map(VerifiedClaims),
            None => Err(missing(parts)),
        }
    }
}

impl<S: Send + Sync, T: DeserializeOwned> OptionalFromRequestParts<S> for VerifiedClaims<T> {
    type Rejection = Rejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Option<Self>, Rejection> {
        match parts.extensions.get::<Claims>() {
            Some(claims) => deserialize(parts, claims).map(|t| Some(VerifiedClaims(t))),
            None => Ok(None),
        }
    }
}

impl IntoResponse for Rejection {
    fn into_response(self) -> Response {
        let mut response = self.to_response::<axum::body::Body>();
        response.extensions_mut().insert(self);
        response
    }
}
