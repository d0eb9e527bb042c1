//! RFC 9728 OAuth 2.0 Protected Resource Metadata.
//!
//! A client that receives a challenge with `resource_metadata="..."` fetches this
//! document to learn which authorization servers issue tokens for the resource and
//! which scopes it understands.
//!
//! ```
//! use portcullis::{AuthenticationLayer, JwtVerifier, KeySet, ScopeRequirement, Validation};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let validation = Validation::builder().issuer("https://issuer.example").audience("https://api.example").build()?;
//! # let verifier = JwtVerifier::with_static_keys(validation, KeySet::from_jwks(br#"{"keys":[]}"#)?);
//! let authn = AuthenticationLayer::builder(verifier)
//!     .resource_metadata("https://api.example/.well-known/oauth-protected-resource")
//!     .build()?;
//! let _read = authn.require(ScopeRequirement::all_of(["read"])?);
//! let _write = authn.require(ScopeRequirement::any_of(["write", "admin"])?);
//! let metadata = authn
//!     .metadata("https://api.example")
//!     .authorization_server("https://issuer.example");
//! let json: serde_json::Value = serde_json::from_str(&metadata.to_json())?;
//! assert_eq!(json["scopes_supported"], serde_json::json!(["admin", "read", "write"]));
//! assert_eq!(json["bearer_methods_supported"], serde_json::json!(["header"]));
//! // Serve it with `metadata.into_service()` at `WELL_KNOWN_PATH`.
//! # Ok(()) }
//! ```

use std::collections::BTreeSet;
use std::convert::Infallible;
use std::fmt;
use std::future::{Ready, ready};
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::header::{CACHE_CONTROL, CONTENT_TYPE};
use http::{HeaderValue, Request, Response};
use http_body_util::Full;
use tower_service::Service;

use crate::layer_shared::LayerShared;
use crate::token::TokenSource;

/// Where RFC 9728 §3 puts the document (for a resource without a path component).
pub const WELL_KNOWN_PATH: &str = "/.well-known/oauth-protected-resource";

/// Reads the layer's route scopes when the document is rendered.
#[derive(Clone)]
struct ScopeSource(Arc<dyn Fn() -> Vec<Box<str>> + Send + Sync + 'static>);

impl fmt::Debug for ScopeSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ScopeSource(..)")
    }
}

/// An RFC 9728 metadata document. Build it with
/// [`AuthenticationLayer::metadata`](crate::AuthenticationLayer::metadata) (scopes and
/// bearer methods follow the layer) or [`ProtectedResourceMetadata::new`].
#[derive(Clone, Debug)]
#[must_use]
pub struct ProtectedResourceMetadata {
    resource: String,
    authorization_servers: Vec<String>,
    scopes: BTreeSet<String>,
    bearer_methods: Vec<&'static str>,
    /// `dpop_signing_alg_values_supported` and `dpop_bound_access_tokens_required`.
    dpop: Option<(Vec<Box<str>>, bool)>,
    route_scopes: Option<ScopeSource>,
}

impl ProtectedResourceMetadata {
    /// A document for `resource` (the resource identifier, an HTTPS URL) with
    /// `bearer_methods_supported: ["header"]` and nothing else.
    pub fn new(resource: impl Into<String>) -> Self {
        ProtectedResourceMetadata {
            resource: resource.into(),
            authorization_servers: Vec::new(),
            scopes: BTreeSet::new(),
            bearer_methods: vec!["header"],
            dpop: None,
            route_scopes: None,
        }
    }

    pub(crate) fn from_shared<R: Send + Sync + 'static>(
        resource: String,
        shared: Arc<LayerShared<R>>,
    ) -> Self {
        let mut bearer_methods = Vec::new();
        for source in &shared.sources {
            let method = match source {
                TokenSource::Query(_) => "query",
                _ => "header",
            };
            if !bearer_methods.contains(&method) {
                bearer_methods.push(method);
            }
        }
        ProtectedResourceMetadata {
            resource,
            authorization_servers: Vec::new(),
            scopes: BTreeSet::new(),
            bearer_methods,
            dpop: shared
                .challenge
                .dpop
                .as_ref()
                .map(|dpop| (dpop.algs.split(' ').map(Box::from).collect(), dpop.required)),
            route_scopes: Some(ScopeSource(Arc::new(move || {
                shared
                    .route_scopes
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .iter()
                    .cloned()
                    .collect()
            }))),
        }
    }

    /// Adds an issuer identifier to `authorization_servers`.
    pub fn authorization_server(mut self, issuer: impl Into<String>) -> Self {
        self.authorization_servers.push(issuer.into());
        self
    }

    /// Adds a scope to `scopes_supported` (beyond those the routes require).
    pub fn scope(mut self, scope: impl Into<String>) -> Self {
        self.scopes.insert(scope.into());
        self
    }

    /// The document.
    pub fn to_json(&self) -> String {
        let mut scopes = self.scopes.clone();
        if let Some(route_scopes) = &self.route_scopes {
            scopes.extend((route_scopes.0)().into_iter().map(String::from));
        }
        let mut document = serde_json::Map::new();
        document.insert("resource".into(), self.resource.clone().into());
        if !self.authorization_servers.is_empty() {
            document.insert(
                "authorization_servers".into(),
                self.authorization_servers.clone().into(),
            );
        }
        if !scopes.is_empty() {
            document.insert(
                "scopes_supported".into(),
                scopes.into_iter().collect::<Vec<_>>().into(),
            );
        }
        document.insert(
            "bearer_methods_supported".into(),
            self.bearer_methods.clone().into(),
        );
        if let Some((algs, required)) = &self.dpop {
            let algs: Vec<&str> = algs.iter().map(|alg| &**alg).collect();
            document.insert("dpop_signing_alg_values_supported".into(), algs.into());
            if *required {
                document.insert("dpop_bound_access_tokens_required".into(), true.into());
            }
        }
        serde_json::Value::Object(document).to_string()
    }

    /// A service answering every request with the document (mount it at
    /// [`WELL_KNOWN_PATH`]).
    pub fn into_service(self) -> MetadataService {
        MetadataService {
            metadata: Arc::new(self),
        }
    }
}

/// Serves a [`ProtectedResourceMetadata`] document as `application/json`.
#[derive(Clone, Debug)]
pub struct MetadataService {
    metadata: Arc<ProtectedResourceMetadata>,
}

impl<B> Service<Request<B>> for MetadataService {
    type Response = Response<Full<Bytes>>;
    type Error = Infallible;
    type Future = Ready<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _request: Request<B>) -> Self::Future {
        let mut response = Response::new(Full::new(Bytes::from(self.metadata.to_json())));
        let headers = response.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("max-age=300"));
        ready(Ok(response))
    }
}
