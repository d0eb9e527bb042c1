//! Per-route authorization: required scopes (all-of, any-of) and claim predicates.
//!
//! Put it behind an [`AuthenticationLayer`](crate::AuthenticationLayer), for example
//! with axum's `route_layer`, or anywhere in a tower stack. A request without
//! [`Claims`] (anonymous in optional mode, or no authentication layer at all) gets 401;
//! a token that does not satisfy the requirement gets 403 `insufficient_scope` with
//! `scope="..."` naming what the route needs.
//!
//! ```
//! # use portcullis_testkit::{SigningAlgorithm, SigningKey, jwks};
//! use std::convert::Infallible;
//! use http::{Request, Response, StatusCode, header};
//! use portcullis::{AuthenticationLayer, JwtVerifier, KeySet, ScopeRequirement, Validation};
//! use tower::{ServiceBuilder, ServiceExt, service_fn};
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! # let key = SigningKey::generate(SigningAlgorithm::ES256);
//! # let jwks_bytes = serde_json::to_vec(&jwks([&key])).unwrap();
//! # let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs();
//! let validation = Validation::builder()
//!     .issuer("https://issuer.example")
//!     .audience("https://api.example")
//!     .build()?;
//! let verifier = JwtVerifier::with_static_keys(validation, KeySet::from_jwks(&jwks_bytes)?);
//! let authn = AuthenticationLayer::builder(verifier).realm("example").build()?;
//! let write = authn.require(ScopeRequirement::all_of(["write"])?);
//!
//! let service = ServiceBuilder::new().layer(authn).layer(write).service(service_fn(
//!     |_: Request<String>| async { Ok::<_, Infallible>(Response::new(String::new())) },
//! ));
//!
//! // A valid token with only `read`: 403, naming the scope the route needs.
//! let token = key
//!     .token()
//!     .standard_claims("https://issuer.example", "https://api.example", now)
//!     .claim("scope", "read")
//!     .sign();
//! let request = Request::builder()
//!     .header(header::AUTHORIZATION, format!("Bearer {token}"))
//!     .body(String::new())?;
//! let response = service.oneshot(request).await?;
//! assert_eq!(response.status(), StatusCode::FORBIDDEN);
//! assert_eq!(
//!     response.headers()[header::WWW_AUTHENTICATE],
//!     r#"Bearer realm="example", error="insufficient_scope", error_description="insufficient scope", scope="write""#,
//! );
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```

use std::collections::BTreeSet;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use http::{Request, Response};
use pin_project_lite::pin_project;
use portcullis_jwt::{Claims, ScopeRequirement, Unmet};
use tower_layer::Layer;
use tower_service::Service;
use tracing::Span;

use crate::ConfigError;
use crate::grpc::is_grpc;
use crate::layer_shared::{Anonymous, LayerShared, record_rejection, reject};
use crate::rejection::{ChallengeConfig, DefaultRejection, Reject, Rejection, RejectionKind};
use crate::token::TokenSource;

type Predicate = Arc<dyn Fn(&Claims) -> bool + Send + Sync + 'static>;

struct Policy<R> {
    requirement: Option<ScopeRequirement>,
    scope_param: Option<Arc<str>>,
    predicates: Vec<Predicate>,
    shared: Arc<LayerShared<R>>,
}

impl<R> Clone for Policy<R> {
    fn clone(&self) -> Self {
        Policy {
            requirement: self.requirement.clone(),
            scope_param: self.scope_param.clone(),
            predicates: self.predicates.clone(),
            shared: self.shared.clone(),
        }
    }
}

impl<R> Policy<R> {
    /// The refusal of `claims` that fall short of the policy, if they do: the route's
    /// audiences first (a token minted for another resource is `invalid_token`, RFC 9068
    /// §4), then scopes, roles, and the claim conditions.
    /// (`headers` are read only for a refusal, to answer a gRPC caller in kind.)
    fn refusal(&self, claims: &Claims, headers: &http::HeaderMap) -> Option<Rejection> {
        let challenge = || self.shared.challenge.clone();
        let unmet = self.requirement.as_ref().and_then(|r| r.unmet(claims));
        if unmet == Some(Unmet::Audience) {
            Some(Rejection::new(
                RejectionKind::InvalidToken,
                "invalid audience",
                challenge(),
                is_grpc(headers),
            ))
        } else if unmet == Some(Unmet::Scope) {
            Some(
                Rejection::new(
                    RejectionKind::InsufficientScope,
                    "insufficient scope",
                    challenge(),
                    is_grpc(headers),
                )
                .with_required_scope(self.scope_param.clone()),
            )
        } else if unmet.is_some() {
            Some(Rejection::new(
                RejectionKind::InsufficientRole,
                "insufficient role",
                challenge(),
                is_grpc(headers),
            ))
        } else if !self.predicates.iter().all(|p| p(claims)) {
            Some(Rejection::new(
                RejectionKind::InsufficientClaims,
                "claim condition not met",
                challenge(),
                is_grpc(headers),
            ))
        } else {
            None
        }
    }
}

/// Requires scopes or claims of the authenticated token: see the [module docs](self).
///
/// Build it with [`AuthenticationLayer::require`](crate::AuthenticationLayer::require)
/// to share that layer's challenge and rejection, or standalone.
pub struct RequireScopesLayer<R = DefaultRejection> {
    policy: Arc<Policy<R>>,
}

impl RequireScopesLayer {
    /// Requires `requirement`, answering with the default challenge (realm `"api"`).
    pub fn new(requirement: ScopeRequirement) -> Self {
        Self::from_shared(
            Some(requirement),
            Arc::new(LayerShared {
                challenge: ChallengeConfig::default_shared(),
                reject: DefaultRejection,
                sources: Box::new([TokenSource::AuthorizationHeader]),
                route_scopes: Mutex::new(BTreeSet::new()),
            }),
        )
    }

    /// Every scope in `scopes`.
    ///
    /// # Errors
    /// If a scope is not a valid RFC 6749 scope token.
    pub fn all_of<I, S>(scopes: I) -> Result<Self, ConfigError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        Ok(Self::new(ScopeRequirement::all_of(scopes)?))
    }

    /// At least one scope in `scopes`.
    ///
    /// # Errors
    /// If the list is empty or a scope is not a valid RFC 6749 scope token.
    pub fn any_of<I, S>(scopes: I) -> Result<Self, ConfigError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        Ok(Self::new(ScopeRequirement::any_of(scopes)?))
    }
}

impl<R> RequireScopesLayer<R> {
    pub(crate) fn from_shared(
        requirement: Option<ScopeRequirement>,
        shared: Arc<LayerShared<R>>,
    ) -> Self {
        let scope_param = requirement
            .as_ref()
            .map(ScopeRequirement::to_scope_string)
            .filter(|s| !s.is_empty())
            .map(Arc::from);
        RequireScopesLayer {
            policy: Arc::new(Policy {
                requirement,
                scope_param,
                predicates: Vec::new(),
                shared,
            }),
        }
    }

    /// Also requires `predicate` to hold for the claims (a tenant, an `acr`, a group).
    /// A failing predicate is answered 403 `insufficient_scope` (RFC 6750 has no closer
    /// code) without a `scope` parameter, as [`RejectionKind::InsufficientClaims`].
    #[must_use]
    pub fn and_claims<F>(self, predicate: F) -> Self
    where
        F: Fn(&Claims) -> bool + Send + Sync + 'static,
    {
        let mut policy = Arc::unwrap_or_clone(self.policy);
        policy.predicates.push(Arc::new(predicate));
        RequireScopesLayer {
            policy: Arc::new(policy),
        }
    }

    /// The scope requirement, if any.
    pub fn requirement(&self) -> Option<&ScopeRequirement> {
        self.policy.requirement.as_ref()
    }
}

impl<R> Clone for RequireScopesLayer<R> {
    fn clone(&self) -> Self {
        RequireScopesLayer {
            policy: self.policy.clone(),
        }
    }
}

impl<R> fmt::Debug for RequireScopesLayer<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequireScopesLayer")
            .field("requirement", &self.policy.requirement)
            .field("predicates", &self.policy.predicates.len())
            .finish_non_exhaustive()
    }
}

impl<S, R> Layer<S> for RequireScopesLayer<R> {
    type Service = RequireScopes<S, R>;

    fn layer(&self, inner: S) -> Self::Service {
        RequireScopes {
            inner,
            policy: self.policy.clone(),
        }
    }
}

/// The service [`RequireScopesLayer`] makes.
pub struct RequireScopes<S, R = DefaultRejection> {
    inner: S,
    policy: Arc<Policy<R>>,
}

impl<S: Clone, R> Clone for RequireScopes<S, R> {
    fn clone(&self) -> Self {
        RequireScopes {
            inner: self.inner.clone(),
            policy: self.policy.clone(),
        }
    }
}

impl<S: fmt::Debug, R> fmt::Debug for RequireScopes<S, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequireScopes")
            .field("inner", &self.inner)
            .field("requirement", &self.policy.requirement)
            .finish_non_exhaustive()
    }
}

impl<S, R, ReqB, ResB> Service<Request<ReqB>> for RequireScopes<S, R>
where
    S: Service<Request<ReqB>, Response = Response<ResB>>,
    R: Reject<ResB>,
{
    type Response = Response<ResB>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, ResB>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqB>) -> Self::Future {
        let policy = &*self.policy;
        let rejection = match request.extensions().get::<Claims>() {
            Some(claims) => match policy.refusal(claims, request.headers()) {
                None => {
                    return ResponseFuture {
                        state: State::Inner {
                            future: self.inner.call(request),
                        },
                    };
                }
                Some(rejection) => rejection,
            },
            None => {
                let challenge = request
                    .extensions()
                    .get::<Anonymous>()
                    .map_or_else(|| policy.shared.challenge.clone(), |a| a.0.clone());
                Rejection::new(
                    RejectionKind::MissingToken,
                    "no bearer token",
                    challenge,
                    is_grpc(request.headers()),
                )
            }
        };
        let span = Span::current();
        if span.metadata().is_some_and(|m| m.name() == "portcullis") {
            record_rejection(&span, &rejection);
        }
        ResponseFuture {
            state: State::Rejected {
                response: Some(reject(&policy.shared.reject, rejection)),
            },
        }
    }
}

pin_project! {
    /// The response future of [`RequireScopes`].
    pub struct ResponseFuture<F, B> {
        #[pin]
        state: State<F, B>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F, B> {
        Inner { #[pin] future: F },
        Rejected { response: Option<Response<B>> },
    }
}

impl<F, B, E> Future for ResponseFuture<F, B>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<B>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().state.project() {
            StateProj::Inner { future } => future.poll(cx),
            StateProj::Rejected { response } => match response.take() {
                Some(response) => Poll::Ready(Ok(response)),
                None => unreachable!("ResponseFuture polled after completion"),
            },
        }
    }
}

impl<F, B> fmt::Debug for ResponseFuture<F, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match self.state {
            State::Inner { .. } => "inner",
            State::Rejected { .. } => "rejected",
        };
        f.debug_struct("ResponseFuture")
            .field("state", &state)
            .finish()
    }
}
