//! The authentication layer: token → [`Verifier`] → [`Claims`] in the request's
//! extensions → inner service.
//!
//! ```
//! # use portcullis_testkit::{SigningAlgorithm, SigningKey, jwks};
//! use std::convert::Infallible;
//! use http::{Request, Response, StatusCode, header};
//! use portcullis::{AuthenticationLayer, Claims, JwtVerifier, KeySet, Rejection, Validation};
//! use tower::{ServiceBuilder, ServiceExt, service_fn};
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! # let key = SigningKey::generate(SigningAlgorithm::ES256);
//! # let jwks_bytes = serde_json::to_vec(&jwks([&key])).unwrap();
//! let validation = Validation::builder()
//!     .issuer("https://issuer.example")
//!     .audience("https://api.example")
//!     .build()?;
//! let verifier = JwtVerifier::with_static_keys(validation, KeySet::from_jwks(&jwks_bytes)?);
//! let layer = AuthenticationLayer::builder(verifier).realm("example").build()?;
//!
//! let service = ServiceBuilder::new().layer(layer).service(service_fn(
//!     |request: Request<String>| async move {
//!         let claims = request.extensions().get::<Claims>().expect("the layer put it there");
//!         Ok::<_, Infallible>(Response::new(format!("hello {:?}", claims.subject())))
//!     },
//! ));
//!
//! // No token: 401 with a challenge and no error code.
//! let response = service.clone().oneshot(Request::new(String::new())).await?;
//! assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
//! assert_eq!(response.headers()[header::WWW_AUTHENTICATE], r#"Bearer realm="example""#);
//!
//! // A forged token: 401 invalid_token, and the reason in the extensions.
//! let request = Request::builder()
//!     .header(header::AUTHORIZATION, "Bearer not.a.jwt")
//!     .body(String::new())?;
//! let response = service.clone().oneshot(request).await?;
//! assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
//! let rejection = response.extensions().get::<Rejection>().unwrap();
//! assert_eq!(rejection.bearer_error().unwrap().code(), "invalid_token");
//!
//! // A good token reaches the service.
//! # let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs();
//! # let token = key.token().standard_claims("https://issuer.example", "https://api.example", now).sign();
//! let request = Request::builder()
//!     .header(header::AUTHORIZATION, format!("Bearer {token}"))
//!     .body(String::new())?;
//! let response = service.oneshot(request).await?;
//! assert_eq!(response.status(), StatusCode::OK);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```

use std::collections::BTreeSet;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, ready};

use http::{HeaderName, Request, Response};
use pin_project_lite::pin_project;
use portcullis_jwt::{Claims, ScopeRequirement};
use tower_layer::Layer;
use tower_service::Service;
use tracing::Span;

use crate::authorization::RequireScopesLayer;
use crate::certificate_binding::{self, ClientCertificate};
use crate::dpop::{
    BindingRefusal, DpopCheck, DpopPolicy, check_bearer, check_proof, first_use, refuse_bearer,
};
use crate::grpc::is_grpc;
use crate::layer_shared::{Anonymous, LayerShared, record_rejection, reject};
use crate::rejection::{ChallengeConfig, DefaultRejection, Reject, Rejection, RejectionKind};
use crate::token::{Extracted, TokenSource, extract};
use crate::{ConfigError, Verification, Verifier};

/// Whether a request without a token may pass.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Mode {
    /// A token is required: no token → 401. The default.
    #[default]
    Required,
    /// No token → the request passes, anonymous (no [`Claims`] in its extensions).
    /// A token that is present but bad is still refused.
    Optional,
}

struct Config<V, R> {
    verifier: V,
    mode: Mode,
    dpop: Option<DpopPolicy>,
    shared: Arc<LayerShared<R>>,
}

impl<V, R> Config<V, R> {
    /// The sender-constraint checks of a request whose token verified: `dpop_token` is
    /// the token if it came with the `DPoP` scheme.
    fn sender_checks<B>(
        &self,
        request: &Request<B>,
        dpop_token: Option<&str>,
        claims: &Claims,
    ) -> Result<DpopCheck, BindingRefusal> {
        certificate_binding::check(request.extensions().get::<ClientCertificate>(), claims)
            .map_err(BindingRefusal::Token)?;
        match (dpop_token, &self.dpop) {
            (None, _) => check_bearer(claims).map(|()| DpopCheck::Pass),
            (Some(token), Some(policy)) => check_proof(
                policy,
                request.method(),
                request.uri(),
                request.headers(),
                token,
                claims,
            ),
            // The DPoP scheme is only taken out of a request when a policy is set.
            (Some(_), None) => Err(BindingRefusal::Token("DPoP is not accepted here")),
        }
    }

    fn refuse<B>(&self, request: &Request<B>, refusal: BindingRefusal) -> Rejection {
        refusal.into_rejection(self.shared.challenge.clone(), is_grpc(request.headers()))
    }
}

/// Builds an [`AuthenticationLayer`].
#[must_use]
pub struct AuthenticationLayerBuilder<V, R = DefaultRejection> {
    verifier: V,
    mode: Mode,
    realm: Option<Box<str>>,
    resource_metadata: Option<Box<str>>,
    sources: Vec<TokenSource>,
    dpop: Option<DpopPolicy>,
    reject: R,
}

impl<V: Verifier> AuthenticationLayerBuilder<V> {
    fn new(verifier: V) -> Self {
        AuthenticationLayerBuilder {
            verifier,
            dpop: None,
            mode: Mode::Required,
            realm: Some(crate::DEFAULT_REALM.into()),
            resource_metadata: None,
            sources: vec![TokenSource::AuthorizationHeader],
            reject: DefaultRejection,
        }
    }
}

impl<V: Verifier, R> AuthenticationLayerBuilder<V, R> {
    /// Required or optional. Defaults to [`Mode::Required`].
    pub fn mode(mut self, mode: Mode) -> Self {
        self.mode = mode;
        self
    }

    /// Shorthand for `.mode(Mode::Optional)`.
    pub fn optional(self) -> Self {
        self.mode(Mode::Optional)
    }

    /// The `realm` of challenges. Printable ASCII. Defaults to `"api"`.
    pub fn realm(mut self, realm: impl Into<String>) -> Self {
        self.realm = Some(realm.into().into_boxed_str());
        self
    }

    /// Challenges without a `realm`. Defaults to having one (see [`Self::realm`]).
    pub fn without_realm(mut self) -> Self {
        self.realm = None;
        self
    }

    /// The URL of this resource's RFC 9728 metadata, sent as `resource_metadata` in
    /// every challenge. Defaults to none.
    pub fn resource_metadata(mut self, url: impl Into<String>) -> Self {
        self.resource_metadata = Some(url.into().into_boxed_str());
        self
    }

    /// Also accept the token as the whole value of header `name`.
    /// Defaults to the `Authorization` header only.
    pub fn token_header(mut self, name: HeaderName) -> Self {
        self.sources.push(TokenSource::Header(name));
        self
    }

    /// Also accept the token from the cookie `name`. Defaults to off.
    pub fn token_cookie(mut self, name: impl Into<String>) -> Self {
        self.sources
            .push(TokenSource::Cookie(name.into().into_boxed_str()));
        self
    }

    /// Also accept the token from the URI query parameter `name` (RFC 6750 §2.3 uses
    /// `access_token`). **Discouraged**: tokens in URLs leak into logs, history and
    /// `Referer` (RFC 9700 §4.3.2). Defaults to off.
    pub fn token_query_param(mut self, name: impl Into<String>) -> Self {
        self.sources
            .push(TokenSource::Query(name.into().into_boxed_str()));
        self
    }

    /// Stop accepting `Authorization: Bearer`. Defaults to accepting it.
    pub fn without_authorization_header(mut self) -> Self {
        self.sources
            .retain(|s| *s != TokenSource::AuthorizationHeader);
        self
    }

    /// Accept DPoP-bound tokens with their proofs (RFC 9449): see [`crate::dpop`].
    /// Defaults to none: `Authorization: DPoP` is then another scheme, and a token
    /// bound to a DPoP key is refused whatever scheme it comes with.
    pub fn dpop(mut self, policy: DpopPolicy) -> Self {
        self.dpop = Some(policy);
        self
    }

    /// How refusals are answered. Defaults to [`DefaultRejection`].
    pub fn on_rejection<R2>(self, reject: R2) -> AuthenticationLayerBuilder<V, R2> {
        AuthenticationLayerBuilder {
            verifier: self.verifier,
            dpop: self.dpop,
            mode: self.mode,
            realm: self.realm,
            resource_metadata: self.resource_metadata,
            sources: self.sources,
            reject,
        }
    }

    /// Checks the configuration.
    ///
    /// # Errors
    /// If the realm or metadata URL is not printable ASCII, no token source is left,
    /// or a cookie or parameter name is empty.
    pub fn build(self) -> Result<AuthenticationLayer<V, R>, ConfigError> {
        let challenge = ChallengeConfig::new(self.realm, self.resource_metadata)?
            .with_dpop(self.dpop.as_ref().map(DpopPolicy::challenge));
        if self.sources.is_empty() {
            return Err(ConfigError::for_setting(
                "token_sources",
                "no token source is enabled",
            ));
        }
        for source in &self.sources {
            if let TokenSource::Cookie(name) | TokenSource::Query(name) = source
                && (name.is_empty() || !name.bytes().all(|b| b.is_ascii_graphic()))
            {
                return Err(ConfigError::for_setting(
                    "token_sources",
                    format!("invalid token name {name:?}"),
                ));
            }
        }
        let mut sources = self.sources;
        sources.dedup();
        Ok(AuthenticationLayer {
            config: Arc::new(Config {
                verifier: self.verifier,
                mode: self.mode,
                dpop: self.dpop,
                shared: Arc::new(LayerShared {
                    challenge: Arc::new(challenge),
                    reject: self.reject,
                    sources: sources.into_boxed_slice(),
                    route_scopes: Mutex::new(BTreeSet::new()),
                }),
            }),
        })
    }
}

impl<V, R> fmt::Debug for AuthenticationLayerBuilder<V, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthenticationLayerBuilder")
            .field("mode", &self.mode)
            .field("realm", &self.realm)
            .field("resource_metadata", &self.resource_metadata)
            .field("sources", &self.sources)
            .finish_non_exhaustive()
    }
}

/// Authenticates every request with a bearer token: see the [module docs](self).
///
/// Configuration only; cloning is one reference-count increment.
pub struct AuthenticationLayer<V, R = DefaultRejection> {
    config: Arc<Config<V, R>>,
}

impl<V: Verifier> AuthenticationLayer<V> {
    /// Tokens required, from `Authorization: Bearer`, realm `"api"`, default rejection.
    pub fn new(verifier: V) -> Self {
        match AuthenticationLayerBuilder::new(verifier).build() {
            Ok(layer) => layer,
            Err(_) => unreachable!("the default configuration is valid"),
        }
    }

    /// Starts a configuration.
    pub fn builder(verifier: V) -> AuthenticationLayerBuilder<V> {
        AuthenticationLayerBuilder::new(verifier)
    }
}

impl<V: Verifier, R> AuthenticationLayer<V, R> {
    /// The verifier.
    pub fn verifier(&self) -> &V {
        &self.config.verifier
    }

    /// A [`RequireScopesLayer`] answering with this layer's challenge and rejection, and
    /// recording `requirement`'s scopes for [`Self::metadata`]'s `scopes_supported`.
    pub fn require(&self, requirement: ScopeRequirement) -> RequireScopesLayer<R> {
        self.config.shared.register_scopes(requirement.scopes());
        RequireScopesLayer::from_shared(Some(requirement), self.config.shared.clone())
    }

    /// An RFC 9728 metadata document for `resource`, whose `scopes_supported` lists the
    /// scopes of every [`Self::require`] (read when the document is served) and whose
    /// `bearer_methods_supported` follows the token sources.
    pub fn metadata(
        &self,
        resource: impl Into<String>,
    ) -> crate::metadata::ProtectedResourceMetadata
    where
        R: Send + Sync + 'static,
    {
        crate::metadata::ProtectedResourceMetadata::from_shared(
            resource.into(),
            self.config.shared.clone(),
        )
    }
}

impl<V, R> Clone for AuthenticationLayer<V, R> {
    fn clone(&self) -> Self {
        AuthenticationLayer {
            config: self.config.clone(),
        }
    }
}

impl<V, R> fmt::Debug for AuthenticationLayer<V, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthenticationLayer")
            .field("mode", &self.config.mode)
            .field("challenge", &self.config.shared.challenge)
            .field("sources", &self.config.shared.sources)
            .finish_non_exhaustive()
    }
}

impl<S, V, R> Layer<S> for AuthenticationLayer<V, R> {
    type Service = Authentication<S, V, R>;

    fn layer(&self, inner: S) -> Self::Service {
        Authentication {
            inner,
            config: self.config.clone(),
        }
    }
}

/// The service [`AuthenticationLayer`] makes.
pub struct Authentication<S, V, R = DefaultRejection> {
    inner: S,
    config: Arc<Config<V, R>>,
}

impl<S: Clone, V, R> Clone for Authentication<S, V, R> {
    fn clone(&self) -> Self {
        Authentication {
            inner: self.inner.clone(),
            config: self.config.clone(),
        }
    }
}

impl<S: fmt::Debug, V, R> fmt::Debug for Authentication<S, V, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Authentication")
            .field("inner", &self.inner)
            .field("mode", &self.config.mode)
            .finish_non_exhaustive()
    }
}

pub(crate) fn new_span() -> Span {
    tracing::info_span!(
        "portcullis",
        issuer = tracing::field::Empty,
        subject = tracing::field::Empty,
        client_id = tracing::field::Empty,
        decision = tracing::field::Empty,
        reason = tracing::field::Empty,
    )
}

pub(crate) fn record_claims(span: &Span, claims: &Claims) {
    if span.is_disabled() {
        return;
    }
    if let Some(issuer) = claims.issuer() {
        span.record("issuer", issuer);
    }
    if let Some(subject) = claims.subject() {
        span.record("subject", subject);
    }
    if let Some(client_id) = claims.client_id() {
        span.record("client_id", client_id);
    }
}

/// Lets `request` through with `claims`: in its extensions, and on the span.
fn admit<B>(span: &Span, request: &mut Request<B>, claims: Claims) {
    record_claims(span, &claims);
    span.record("decision", "allow");
    request.extensions_mut().insert(claims);
}

impl<S, V, R> Authentication<S, V, R> {
    /// 400 `invalid_request` for `request`, with `reason`.
    fn invalid_request<ReqB, ResB>(
        &self,
        span: Span,
        request: &Request<ReqB>,
        reason: &'static str,
    ) -> ResponseFuture<S, ReqB, V, R>
    where
        S: Service<Request<ReqB>, Response = Response<ResB>>,
        V: Verifier,
        R: Reject<ResB>,
    {
        let shared = &*self.config.shared;
        let rejection = Rejection::new(
            RejectionKind::InvalidRequest,
            reason,
            shared.challenge.clone(),
            is_grpc(request.headers()),
        );
        ResponseFuture::rejected(span, &shared.reject, rejection)
    }
}

impl<S, V, R, ReqB, ResB> Service<Request<ReqB>> for Authentication<S, V, R>
where
    S: Service<Request<ReqB>, Response = Response<ResB>> + Clone,
    V: Verifier,
    R: Reject<ResB>,
{
    type Response = Response<ResB>;
    type Error = S::Error;
    type Future = ResponseFuture<S, ReqB, V, R>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<ReqB>) -> Self::Future {
        let span = new_span();
        let config = &*self.config;
        let shared = &*config.shared;
        // The token's syntax is checked as it is taken out (RFC 6750 §2.1: a malformed
        // one is `invalid_request`), so the verifier only ever sees a `b64token`.
        let extracted = extract(
            &shared.sources,
            request.headers(),
            request.uri(),
            config.dpop.is_some(),
        );
        let (token, dpop_scheme) = match extracted {
            Extracted::Token(token) => (token, false),
            Extracted::DpopToken(token) => (token, true),
            Extracted::None if config.mode == Mode::Optional => {
                span.record("decision", "anonymous");
                request
                    .extensions_mut()
                    .insert(Anonymous(shared.challenge.clone()));
                return ResponseFuture::calling(span, &mut self.inner, request);
            }
            Extracted::None => {
                let rejection = Rejection::new(
                    RejectionKind::MissingToken,
                    "no bearer token",
                    shared.challenge.clone(),
                    is_grpc(request.headers()),
                );
                return ResponseFuture::rejected(span, &shared.reject, rejection);
            }
            Extracted::Malformed(reason) => {
                return self.invalid_request(span, &request, reason);
            }
        };
        if !dpop_scheme && let Some(refusal) = refuse_bearer(config.dpop.as_ref()) {
            drop(token);
            let rejection = config.refuse(&request, refusal);
            return ResponseFuture::rejected(span, &shared.reject, rejection);
        }
        let verify = match config.verifier.verify(&token) {
            Verification::Pending(verify) => verify,
            // Answered at once (keys at hand, a cached result): the inner service,
            // ready since `poll_ready`, is called from here, with no clone of it
            // for a later poll.
            Verification::Done(Ok(claims)) => {
                let checked =
                    config.sender_checks(&request, dpop_scheme.then_some(&*token), &claims);
                drop(token);
                return match checked {
                    Ok(DpopCheck::Pass) => {
                        admit(&span, &mut request, claims);
                        ResponseFuture::calling(span, &mut self.inner, request)
                    }
                    Ok(DpopCheck::Pending(future)) => {
                        let clone = self.inner.clone();
                        let inner = std::mem::replace(&mut self.inner, clone);
                        ResponseFuture {
                            state: State::CheckingProof {
                                future,
                                call: Some((request, inner, self.config.clone(), claims)),
                            },
                            span,
                        }
                    }
                    Err(refusal) => {
                        let rejection = config.refuse(&request, refusal);
                        ResponseFuture::rejected(span, &shared.reject, rejection)
                    }
                };
            }
            Verification::Done(Err(error)) => {
                drop(token);
                let rejection = Rejection::from_verify_error(
                    &error,
                    shared.challenge.clone(),
                    is_grpc(request.headers()),
                )
                .sent_with_dpop(dpop_scheme);
                return ResponseFuture::rejected(span, &shared.reject, rejection);
            }
        };
        // Waiting: the proof, if any, is checked once the token is; it needs the token.
        let dpop_token = dpop_scheme.then(|| Box::<str>::from(&*token));
        drop(token);
        let clone = self.inner.clone();
        let inner = std::mem::replace(&mut self.inner, clone);
        ResponseFuture {
            state: State::Verifying {
                verify,
                call: Some((request, inner, self.config.clone(), dpop_token)),
            },
            span,
        }
    }
}

pin_project! {
    /// The response future of [`Authentication`]: verifying, then the inner service's
    /// future, or a ready refusal. No boxing.
    pub struct ResponseFuture<S, ReqB, V, R>
    where
        S: Service<Request<ReqB>>,
        V: Verifier,
    {
        #[pin]
        state: State<S, ReqB, V, R>,
        span: Span,
    }
}

/// What a waiting verification needs to go on: the request, the inner service, the
/// configuration, and the token if it came with the `DPoP` scheme (for the proof).
type PendingCall<S, ReqB, V, R> = Option<(Request<ReqB>, S, Arc<Config<V, R>>, Option<Box<str>>)>;

/// What a waiting replay check needs to go on: the verified claims besides.
type CheckedCall<S, ReqB, V, R> = Option<(Request<ReqB>, S, Arc<Config<V, R>>, Claims)>;

pin_project! {
    #[project = StateProj]
    enum State<S, ReqB, V, R>
    where
        S: Service<Request<ReqB>>,
        V: Verifier,
    {
        Verifying {
            #[pin]
            verify: V::Future,
            call: PendingCall<S, ReqB, V, R>,
        },
        CheckingProof {
            future: portcullis_issuer::ProofUseFuture,
            call: CheckedCall<S, ReqB, V, R>,
        },
        Inner {
            #[pin]
            future: S::Future,
        },
        Rejected {
            response: Option<S::Response>,
        },
    }
}

impl<S, ReqB, V, R, ResB> ResponseFuture<S, ReqB, V, R>
where
    S: Service<Request<ReqB>, Response = Response<ResB>>,
    V: Verifier,
    R: Reject<ResB>,
{
    /// The inner service's future for `request`, called inside `span`.
    fn calling(span: Span, inner: &mut S, request: Request<ReqB>) -> Self {
        let future = {
            let _entered = span.enter();
            inner.call(request)
        };
        ResponseFuture {
            state: State::Inner { future },
            span,
        }
    }

    fn rejected(span: Span, reject_with: &R, rejection: Rejection) -> Self {
        record_rejection(&span, &rejection);
        ResponseFuture {
            state: State::Rejected {
                response: Some(reject(reject_with, rejection)),
            },
            span,
        }
    }
}

impl<S, ReqB, V, R, ResB> Future for ResponseFuture<S, ReqB, V, R>
where
    S: Service<Request<ReqB>, Response = Response<ResB>>,
    V: Verifier,
    R: Reject<ResB>,
{
    type Output = Result<Response<ResB>, S::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let _entered = this.span.enter();
        loop {
            match this.state.as_mut().project() {
                StateProj::Verifying { verify, call } => {
                    let result = ready!(verify.poll(cx));
                    let Some((mut request, mut inner, config, dpop_token)) = call.take() else {
                        unreachable!("ResponseFuture polled after completion")
                    };
                    let claims = match result {
                        Ok(claims) => claims,
                        Err(error) => {
                            let rejection = Rejection::from_verify_error(
                                &error,
                                config.shared.challenge.clone(),
                                is_grpc(request.headers()),
                            )
                            .sent_with_dpop(dpop_token.is_some());
                            record_rejection(this.span, &rejection);
                            return Poll::Ready(Ok(reject(&config.shared.reject, rejection)));
                        }
                    };
                    match config.sender_checks(&request, dpop_token.as_deref(), &claims) {
                        Ok(DpopCheck::Pass) => {
                            admit(this.span, &mut request, claims);
                            let future = inner.call(request);
                            this.state.set(State::Inner { future });
                        }
                        Ok(DpopCheck::Pending(future)) => {
                            this.state.set(State::CheckingProof {
                                future,
                                call: Some((request, inner, config, claims)),
                            });
                        }
                        Err(refusal) => {
                            let rejection = config.refuse(&request, refusal);
                            record_rejection(this.span, &rejection);
                            return Poll::Ready(Ok(reject(&config.shared.reject, rejection)));
                        }
                    }
                }
                StateProj::CheckingProof { future, call } => {
                    let answer = ready!(future.as_mut().poll(cx));
                    let Some((mut request, mut inner, config, claims)) = call.take() else {
                        unreachable!("ResponseFuture polled after completion")
                    };
                    if let Err(refusal) = first_use(&answer) {
                        let rejection = config.refuse(&request, refusal);
                        record_rejection(this.span, &rejection);
                        return Poll::Ready(Ok(reject(&config.shared.reject, rejection)));
                    }
                    admit(this.span, &mut request, claims);
                    let future = inner.call(request);
                    this.state.set(State::Inner { future });
                }
                StateProj::Inner { future } => return future.poll(cx),
                StateProj::Rejected { response } => {
                    let Some(response) = response.take() else {
                        unreachable!("ResponseFuture polled after completion")
                    };
                    return Poll::Ready(Ok(response));
                }
            }
        }
    }
}

impl<S, ReqB, V, R> fmt::Debug for ResponseFuture<S, ReqB, V, R>
where
    S: Service<Request<ReqB>>,
    V: Verifier,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match self.state {
            State::Verifying { .. } => "verifying",
            State::CheckingProof { .. } => "checking proof",
            State::Inner { .. } => "inner",
            State::Rejected { .. } => "rejected",
        };
        f.debug_struct("ResponseFuture")
            .field("state", &state)
            .finish()
    }
}
