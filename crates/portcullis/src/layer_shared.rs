//! What the layers built from one [`AuthenticationLayer`](crate::AuthenticationLayer)
//! builder share, and how any of them refuses a request: so authentication,
//! authorization and the RFC 9728 metadata depend on this, not on each other.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use http::Response;
use tracing::Span;

use crate::rejection::{ChallengeConfig, Reject, Rejection, RejectionKind};
use crate::token::TokenSource;

/// What the authentication and authorization layers built from one builder share:
/// the challenge parameters, the rejection, and the scopes routes require (for RFC
/// 9728 metadata).
pub(crate) struct LayerShared<R> {
    pub(crate) challenge: Arc<ChallengeConfig>,
    pub(crate) reject: R,
    pub(crate) sources: Box<[TokenSource]>,
    pub(crate) route_scopes: Mutex<BTreeSet<Box<str>>>,
}

impl<R> LayerShared<R> {
    pub(crate) fn register_scopes<'a>(&self, scopes: impl Iterator<Item = &'a str>) {
        let mut set = self
            .route_scopes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        set.extend(scopes.map(Box::from));
    }
}

/// Marks an anonymous request that passed an optional [`Authentication`](crate::Authentication), so
/// extractors and [`RequireScopes`](crate::RequireScopes) downstream answer with the
/// same challenge.
#[derive(Clone)]
pub(crate) struct Anonymous(pub(crate) Arc<ChallengeConfig>);

pub(crate) fn record_rejection(span: &Span, rejection: &Rejection) {
    span.record("decision", "deny");
    span.record("reason", rejection.description());
    if rejection.kind() == RejectionKind::Unavailable {
        tracing::warn!(parent: span, reason = rejection.description(), "issuer unavailable");
    } else {
        tracing::debug!(parent: span, kind = ?rejection.kind(), reason = rejection.description(), "request refused");
    }
}

pub(crate) fn reject<B, R: Reject<B>>(reject: &R, rejection: Rejection) -> Response<B> {
    let mut response = reject.reject(&rejection);
    response.extensions_mut().insert(rejection);
    response
}
