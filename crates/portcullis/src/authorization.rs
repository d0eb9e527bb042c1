//! Per-route authorization: required scopes (all-of, any-of), roles, audiences, step-up
//! (RFC 9470) and claim predicates.
//!
//! Put it behind an [`AuthenticationLayer`](crate::AuthenticationLayer), for example
//! with axum's `route_layer`, or anywhere in a tower stack. A request without
//! [`Claims`] (anonymous in optional mode, or no authentication layer at all) gets 401;
//! a token that does not satisfy the requirement gets 403 `insufficient_scope` with
//! `scope="..."` naming what the route needs; a token whose user authentication is too
//! weak or too old for the route gets 401 `insufficient_user_authentication` with
//! `acr_values="..."` and/or `max_age="..."` (see the guide's step-up section).
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
use portcullis_jwt::{Claims, Clock, ScopeRequirement, SystemClock, Unmet};
use tower_layer::Layer;
use tower_service::Service;
use tracing::Span;

use crate::ConfigError;
use crate::grpc::is_grpc;
use crate::layer_shared::{Anonymous, LayerShared, record_rejection, reject};
use crate::rejection::{
    ChallengeConfig, DefaultRejection, Reject, Rejection, RejectionKind, StepUpChallenge,
};
use crate::token::{Extracted, TokenSource, extract};

type Predicate = Arc<dyn Fn(&Claims) -> bool + Send + Sync + 'static>;

struct Policy<R> {
    requirement: Option<ScopeRequirement>,
    scope_param: Option<Arc<str>>,
    step_up: Option<Arc<StepUpChallenge>>,
    predicates: Vec<Predicate>,
    /// "Now" for the requirement's `max_age`; read only when it has one.
    clock: Arc<dyn Clock>,
    shared: Arc<LayerShared<R>>,
}

impl<R> Clone for Policy<R> {
    fn clone(&self) -> Self {
        Policy {
            requirement: self.requirement.clone(),
            scope_param: self.scope_param.clone(),
            step_up: self.step_up.clone(),
            predicates: self.predicates.clone(),
            clock: self.clock.clone(),
            shared: self.shared.clone(),
        }
    }
}

impl<R> Policy<R> {
    /// The refusal of `claims` that fall short of the policy, if they do, in the order
    /// of [`ScopeRequirement::unmet_at`]: the route's audiences first (a token minted
    /// for another resource is `invalid_token`, RFC 9068 §4, whatever else it holds);
    /// then step-up (401: the client must come back with a token from a new user
    /// authentication, which may carry other scopes and roles, so a 403 for them first
    /// would cost it a second trip to the authorization server); then scopes and roles
    /// (403), and the claim conditions.
    fn refusal<B>(&self, claims: &Claims, request: &Request<B>) -> Option<Rejection> {
        let unmet = self.requirement.as_ref().and_then(|r| match r.max_age() {
            Some(_) => r.unmet_at(claims, self.clock.now()),
            None => r.unmet(claims),
        });
        let refused = |kind, description| {
            Rejection::new(
                kind,
                description,
                self.shared.challenge.clone(),
                is_grpc(request.headers()),
            )
            .sent_with_dpop(self.sent_with_dpop(request))
        };
        match unmet {
            Some(Unmet::Audience) => Some(refused(RejectionKind::InvalidToken, "invalid audience")),
            Some(Unmet::UserAuthentication) => Some(match &self.step_up {
                Some(step_up) => refused(
                    RejectionKind::InsufficientUserAuthentication,
                    step_up.description(),
                )
                .with_step_up(step_up.clone()),
                // Not reached: a requirement that can be unmet so has a challenge.
                None => refused(
                    RejectionKind::InsufficientUserAuthentication,
                    "insufficient user authentication",
                ),
            }),
            Some(Unmet::Scope) => Some(
                refused(RejectionKind::InsufficientScope, "insufficient scope")
                    .with_required_scope(self.scope_param.clone()),
            ),
            Some(_) => Some(refused(
                RejectionKind::InsufficientRole,
                "insufficient role",
            )),
            None if !self.predicates.iter().all(|p| p(claims)) => Some(refused(
                RejectionKind::InsufficientClaims,
                "claim condition not met",
            )),
            None => None,
        }
    }

    /// Whether the refused request brought its token with the `DPoP` scheme, so the
    /// refusal's error goes in the `DPoP` challenge. Only refusals pay for the look.
    fn sent_with_dpop<B>(&self, request: &Request<B>) -> bool {
        self.shared.challenge.dpop.is_some()
            && matches!(
                extract(&self.shared.sources, request.headers(), request.uri(), true),
                Extracted::DpopToken(_)
            )
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
        let step_up = requirement
            .as_ref()
            .and_then(StepUpChallenge::of)
            .map(Arc::new);
        RequireScopesLayer {
            policy: Arc::new(Policy {
                requirement,
                scope_param,
                step_up,
                predicates: Vec::new(),
                clock: Arc::new(SystemClock),
                shared,
            }),
        }
    }

    /// Also requires `predicate` to hold for the claims (a tenant, a group).
    /// A failing predicate is answered 403 `insufficient_scope` (RFC 6750 has no closer
    /// code) without a `scope` parameter, as [`RejectionKind::InsufficientClaims`].
    /// For the user's authentication (`acr`, `auth_time`), use the requirement's
    /// [`ScopeRequirement::and_acr_values`] and [`ScopeRequirement::and_max_age`]
    /// instead: RFC 9470 answers those with a 401 that tells the client what to do.
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

    /// Where "now" comes from for the requirement's
    /// [`max_age`](ScopeRequirement::and_max_age). Defaults to [`SystemClock`].
    #[must_use]
    pub fn clock(self, clock: impl Clock) -> Self {
        let mut policy = Arc::unwrap_or_clone(self.policy);
        policy.clock = Arc::new(clock);
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
            Some(claims) => match policy.refusal(claims, &request) {
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
