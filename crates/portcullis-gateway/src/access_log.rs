//! The optional access log: one line per request, with the verified identity when
//! there is one. Never the token, the query string or any other header.
//!
//! The identity is recorded by [`RecordIdentity`], a service between authentication and
//! the route's requirements, into a slot the request carries only when the access log is
//! on; so a request refused for its scopes still says whose token it was.

use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};

use http::Request;
use portcullis_jwt::Claims;
use tower_service::Service;

/// Where [`RecordIdentity`] leaves the verified claims of one request.
#[derive(Debug, Clone, Default)]
pub(crate) struct IdentitySlot(Arc<OnceLock<Claims>>);

impl IdentitySlot {
    /// The verified claims, once authentication has passed.
    pub(crate) fn claims(&self) -> Option<&Claims> {
        self.0.get()
    }
}

/// Copies the verified claims into the request's [`IdentitySlot`], if it has one.
#[derive(Debug, Clone)]
pub(crate) struct RecordIdentity<S> {
    inner: S,
}

impl<S> RecordIdentity<S> {
    pub(crate) fn new(inner: S) -> RecordIdentity<S> {
        RecordIdentity { inner }
    }
}

impl<S, B> Service<Request<B>> for RecordIdentity<S>
where
    S: Service<Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> S::Future {
        let extensions = request.extensions();
        if let (Some(slot), Some(claims)) =
            (extensions.get::<IdentitySlot>(), extensions.get::<Claims>())
        {
            let _ = slot.0.set(claims.clone());
        }
        self.inner.call(request)
    }
}

/// One access-log line (target `portcullis_gateway::access`, level INFO).
pub(crate) struct AccessRecord<'a> {
    pub(crate) method: &'a http::Method,
    pub(crate) path: &'a str,
    pub(crate) client: std::net::IpAddr,
    pub(crate) route: &'a str,
    pub(crate) decision: &'static str,
    pub(crate) reason: &'static str,
    pub(crate) status: u16,
    pub(crate) elapsed_us: u64,
    pub(crate) identity: Option<&'a Claims>,
    /// The W3C trace id, with `[tracing]` ("" without).
    pub(crate) trace_id: &'a str,
}

impl AccessRecord<'_> {
    pub(crate) fn log(&self) {
        let claims = self.identity;
        tracing::info!(
            target: "portcullis_gateway::access",
            method = self.method.as_str(),
            path = self.path,
            client = %self.client,
            route = self.route,
            decision = self.decision,
            reason = self.reason,
            status = self.status,
            elapsed_us = self.elapsed_us,
            issuer = claims.and_then(Claims::issuer).unwrap_or(""),
            subject = claims.and_then(Claims::subject).unwrap_or(""),
            client_id = claims.and_then(Claims::client_id).unwrap_or(""),
            trace_id = self.trace_id,
            "access"
        );
    }
}
