//! Why a request was refused, and the response that says so (RFC 6750 §3, gRPC).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{CONTENT_TYPE, RETRY_AFTER, WWW_AUTHENTICATE};
use http::{HeaderMap, HeaderName, HeaderValue, Response, StatusCode};
use http_body_util::BodyExt;
use portcullis_issuer::{VerifyError, VerifyErrorKind};
use portcullis_jwt::{BearerError, ScopeRequirement};

use crate::ConfigError;

/// What kind of refusal. Matches need a wildcard arm: new kinds may be added.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RejectionKind {
    /// No bearer token at all: 401 with a challenge and no error code (RFC 6750 §3.1).
    MissingToken,
    /// The request is malformed (repeated `Authorization` header, bad token syntax, a
    /// token sent in two ways): 400 `invalid_request`.
    InvalidRequest,
    /// The token did not verify: 401 `invalid_token`.
    InvalidToken,
    /// The token is good but does not grant the scopes the route requires: 403
    /// `insufficient_scope` with `scope="..."`.
    InsufficientScope,
    /// The token is good and has the scopes, but a claim condition of the route (a
    /// tenant, a group; [`RequireScopesLayer::and_claims`](crate::RequireScopesLayer::and_claims))
    /// does not hold: 403 `insufficient_scope`, as RFC 6750 has no closer code, without
    /// a `scope` parameter. Its own kind so logs and metrics can tell the two apart.
    InsufficientClaims,
    /// The token is good and has the scopes, but not the roles the route requires
    /// ([`ScopeRequirement::and_roles_all_of`](portcullis_jwt::ScopeRequirement::and_roles_all_of),
    /// read where the issuer's roles claim says): 403 `insufficient_scope`, as RFC 6750
    /// has no closer code, without a `scope` parameter.
    InsufficientRole,
    /// The issuer could not be consulted and nothing usable is cached: 503 with
    /// `Retry-After`. Never a 401, since the client did nothing wrong.
    Unavailable,
    /// The DPoP proof is missing, invalid or replayed (RFC 9449 §7.1): 401 with the
    /// `DPoP` challenge's `invalid_dpop_proof`.
    InvalidDpopProof,
    /// The DPoP proof lacks the server's current nonce (RFC 9449 §9): 401 with the
    /// `DPoP` challenge's `use_dpop_nonce` and a fresh nonce in `DPoP-Nonce`.
    UseDpopNonce,
    /// The token is good, but the user's authentication behind it falls short of the
    /// route's step-up requirement
    /// ([`ScopeRequirement::and_acr_values`](portcullis_jwt::ScopeRequirement::and_acr_values),
    /// [`ScopeRequirement::and_max_age`](portcullis_jwt::ScopeRequirement::and_max_age)):
    /// 401 `insufficient_user_authentication` (RFC 9470 §3) with `acr_values="..."`
    /// and/or `max_age="..."`, so the client can ask the authorization server for a
    /// token from a stronger or fresher authentication.
    InsufficientUserAuthentication,
}

impl RejectionKind {
    /// The HTTP status.
    pub const fn status(self) -> StatusCode {
        match self {
            RejectionKind::MissingToken
            | RejectionKind::InvalidToken
            | RejectionKind::InvalidDpopProof
            | RejectionKind::UseDpopNonce
            | RejectionKind::InsufficientUserAuthentication => StatusCode::UNAUTHORIZED,
            RejectionKind::InvalidRequest => StatusCode::BAD_REQUEST,
            RejectionKind::InsufficientScope
            | RejectionKind::InsufficientClaims
            | RejectionKind::InsufficientRole => StatusCode::FORBIDDEN,
            RejectionKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// The RFC 6750 error code, if the challenge carries one (`None` for the codes of
    /// other RFCs: see [`Self::error_code`]).
    pub const fn bearer_error(self) -> Option<BearerError> {
        match self {
            RejectionKind::InvalidRequest => Some(BearerError::InvalidRequest),
            RejectionKind::InvalidToken => Some(BearerError::InvalidToken),
            RejectionKind::InsufficientScope
            | RejectionKind::InsufficientClaims
            | RejectionKind::InsufficientRole => Some(BearerError::InsufficientScope),
            RejectionKind::MissingToken
            | RejectionKind::Unavailable
            | RejectionKind::InvalidDpopProof
            | RejectionKind::UseDpopNonce
            | RejectionKind::InsufficientUserAuthentication => None,
        }
    }

    /// The challenge's `error` code, if it carries one: the RFC 6750 code, RFC 9449's
    /// `invalid_dpop_proof` or RFC 9470's `insufficient_user_authentication`.
    pub const fn error_code(self) -> Option<&'static str> {
        match self {
            RejectionKind::InvalidDpopProof => Some("invalid_dpop_proof"),
            RejectionKind::UseDpopNonce => Some("use_dpop_nonce"),
            RejectionKind::InsufficientUserAuthentication => {
                Some("insufficient_user_authentication")
            }
            _ => match self.bearer_error() {
                Some(error) => Some(error.code()),
                None => None,
            },
        }
    }

    /// The gRPC status code for a gRPC request: 16 `UNAUTHENTICATED`,
    /// 7 `PERMISSION_DENIED` or 14 `UNAVAILABLE`.
    pub const fn grpc_status(self) -> u8 {
        match self {
            RejectionKind::MissingToken
            | RejectionKind::InvalidRequest
            | RejectionKind::InvalidToken
            | RejectionKind::InvalidDpopProof
            | RejectionKind::UseDpopNonce
            | RejectionKind::InsufficientUserAuthentication => 16,
            RejectionKind::InsufficientScope
            | RejectionKind::InsufficientClaims
            | RejectionKind::InsufficientRole => 7,
            RejectionKind::Unavailable => 14,
        }
    }
}

/// The `WWW-Authenticate` parameters fixed by configuration.
#[derive(Debug)]
pub(crate) struct ChallengeConfig {
    pub(crate) realm: Option<Box<str>>,
    pub(crate) resource_metadata: Option<Box<str>>,
    pub(crate) dpop: Option<DpopChallenge>,
}

/// The `DPoP` challenge a layer with a DPoP policy offers (RFC 9449 §7.1).
#[derive(Debug)]
pub(crate) struct DpopChallenge {
    /// The allowed proof algorithms, space-separated.
    pub(crate) algs: Box<str>,
    /// Bearer tokens are not accepted: no `Bearer` challenge.
    pub(crate) required: bool,
}

/// What a route's step-up requirement tells a client that falls short of it (RFC 9470
/// §3): built once per route, shared by its refusals.
#[derive(Debug)]
pub(crate) struct StepUpChallenge {
    /// The `acr` values, space-separated in order of preference.
    acr_values: Option<Box<str>>,
    /// The `max_age`, and its whole seconds as the challenge writes them.
    max_age: Option<(Duration, Box<str>)>,
    /// Says which part the route asks for (`acr` values, a recent authentication or
    /// both), as RFC 9470's examples do.
    description: &'static str,
}

impl StepUpChallenge {
    /// The challenge of `requirement`'s step-up part, if it has one. Its values were
    /// checked when it was built (`acr` values printable ASCII, `max_age` whole seconds).
    pub(crate) fn of(requirement: &ScopeRequirement) -> Option<StepUpChallenge> {
        let acr_values = Some(requirement.to_acr_values_string())
            .filter(|values| !values.is_empty())
            .map(String::into_boxed_str);
        let max_age = requirement
            .max_age()
            .map(|age| (age, age.as_secs().to_string().into_boxed_str()));
        let description = match (&acr_values, &max_age) {
            (None, None) => return None,
            (Some(_), None) => "a different authentication level is required",
            (None, Some(_)) => "a more recent authentication is required",
            (Some(_), Some(_)) => "a different or more recent authentication is required",
        };
        Some(StepUpChallenge {
            acr_values,
            max_age,
            description,
        })
    }

    /// The `error_description` of its refusals.
    pub(crate) fn description(&self) -> &'static str {
        self.description
    }
}

impl ChallengeConfig {
    pub(crate) fn new(
        realm: Option<Box<str>>,
        resource_metadata: Option<Box<str>>,
    ) -> Result<ChallengeConfig, ConfigError> {
        for (name, value) in [("realm", &realm), ("resource_metadata", &resource_metadata)] {
            if let Some(value) = value
                && !value.bytes().all(|b| (0x20..0x7f).contains(&b))
            {
                return Err(ConfigError::for_setting(
                    name,
                    format!("{name} must be printable ASCII, got {value:?}"),
                ));
            }
        }
        Ok(ChallengeConfig {
            realm,
            resource_metadata,
            dpop: None,
        })
    }

    pub(crate) fn with_dpop(mut self, dpop: Option<DpopChallenge>) -> ChallengeConfig {
        self.dpop = dpop;
        self
    }

    pub(crate) fn default_shared() -> Arc<ChallengeConfig> {
        Arc::new(ChallengeConfig {
            realm: Some(crate::DEFAULT_REALM.into()),
            resource_metadata: None,
            dpop: None,
        })
    }
}

/// Why a request was refused.
///
/// The layers put a clone into the refusal response's extensions, so outer layers and
/// logs can see the reason without parsing headers. Nothing in it comes from the token.
#[derive(Clone)]
pub struct Rejection {
    kind: RejectionKind,
    description: &'static str,
    token_error: Option<portcullis_jwt::ErrorKind>,
    retry_after: Option<Duration>,
    required_scope: Option<Arc<str>>,
    step_up: Option<Arc<StepUpChallenge>>,
    grpc: bool,
    /// The token came with the `DPoP` scheme: the error goes in the `DPoP` challenge.
    dpop_scheme: bool,
    /// A fresh DPoP nonce for the client (`DPoP-Nonce`, RFC 9449 §9).
    dpop_nonce: Option<Box<str>>,
    challenge: Arc<ChallengeConfig>,
}

impl Rejection {
    pub(crate) fn new(
        kind: RejectionKind,
        description: &'static str,
        challenge: Arc<ChallengeConfig>,
        grpc: bool,
    ) -> Rejection {
        Rejection {
            kind,
            description,
            token_error: None,
            retry_after: None,
            required_scope: None,
            step_up: None,
            grpc,
            dpop_scheme: false,
            dpop_nonce: None,
            challenge,
        }
    }

    /// Sends the client this DPoP nonce (`DPoP-Nonce`).
    pub(crate) fn with_dpop_nonce(mut self, nonce: String) -> Rejection {
        self.dpop_nonce = Some(nonce.into_boxed_str());
        self
    }

    /// The DPoP nonce sent with the refusal, for [`RejectionKind::UseDpopNonce`].
    pub fn dpop_nonce(&self) -> Option<&str> {
        self.dpop_nonce.as_deref()
    }

    /// Says the token came with the `DPoP` scheme, so the challenge that carries the
    /// error is the `DPoP` one.
    pub(crate) fn sent_with_dpop(mut self, dpop: bool) -> Rejection {
        self.dpop_scheme = dpop;
        self
    }

    pub(crate) fn from_verify_error(
        error: &VerifyError,
        challenge: Arc<ChallengeConfig>,
        grpc: bool,
    ) -> Rejection {
        let kind = match error.kind() {
            VerifyErrorKind::Unavailable => RejectionKind::Unavailable,
            _ => RejectionKind::InvalidToken,
        };
        let mut rejection = Rejection::new(kind, error.description(), challenge, grpc);
        rejection.token_error = error.token_error().map(portcullis_jwt::Error::kind);
        if kind == RejectionKind::Unavailable {
            rejection.retry_after = Some(error.retry_after().unwrap_or(Duration::from_secs(5)));
        }
        rejection
    }

    pub(crate) fn with_retry_after(mut self, retry_after: Duration) -> Rejection {
        self.retry_after = Some(retry_after);
        self
    }

    pub(crate) fn with_required_scope(mut self, scope: Option<Arc<str>>) -> Rejection {
        self.required_scope = scope;
        self
    }

    pub(crate) fn with_step_up(mut self, step_up: Arc<StepUpChallenge>) -> Rejection {
        self.step_up = Some(step_up);
        self
    }

    /// The kind of refusal.
    pub fn kind(&self) -> RejectionKind {
        self.kind
    }

    /// The HTTP status (for a gRPC request, the status the gRPC code stands for).
    pub fn status(&self) -> StatusCode {
        self.kind.status()
    }

    /// The RFC 6750 error code, if any.
    pub fn bearer_error(&self) -> Option<BearerError> {
        self.kind.bearer_error()
    }

    /// A short description safe to send to the client (the `error_description`).
    pub fn description(&self) -> &'static str {
        self.description
    }

    /// Which verification check failed, for [`RejectionKind::InvalidToken`] from a JWT.
    pub fn token_error(&self) -> Option<portcullis_jwt::ErrorKind> {
        self.token_error
    }

    /// How long the client should wait, for [`RejectionKind::Unavailable`].
    pub fn retry_after(&self) -> Option<Duration> {
        self.retry_after
    }

    /// The scopes the route needs (space-delimited), for
    /// [`RejectionKind::InsufficientScope`] when the route requires scopes.
    pub fn required_scope(&self) -> Option<&str> {
        self.required_scope.as_deref()
    }

    /// The `acr` values the route accepts (space-separated, in order of preference), for
    /// [`RejectionKind::InsufficientUserAuthentication`] when the route requires some.
    pub fn required_acr_values(&self) -> Option<&str> {
        self.step_up.as_ref()?.acr_values.as_deref()
    }

    /// The longest time since the user's authentication the route accepts, for
    /// [`RejectionKind::InsufficientUserAuthentication`] when the route sets one.
    pub fn required_max_age(&self) -> Option<Duration> {
        self.step_up.as_ref()?.max_age.as_ref().map(|(age, _)| *age)
    }

    /// Whether the request was a gRPC request (`content-type: application/grpc*`).
    pub fn is_grpc(&self) -> bool {
        self.grpc
    }

    /// The `WWW-Authenticate` challenge that carries the error, or `None` for
    /// [`RejectionKind::Unavailable`] (an outage is not an authentication problem):
    /// the first of [`Self::challenges`].
    ///
    /// For example `Bearer realm="api", error="invalid_token", error_description="token
    /// expired"`: auth-params separated by `", "`, values quoted, `"` and `\` escaped.
    pub fn www_authenticate(&self) -> Option<HeaderValue> {
        self.challenges().into_iter().next()
    }

    /// Every `WWW-Authenticate` challenge, one header value each: `Bearer` (unless the
    /// layer requires DPoP) and `DPoP algs="..."` (when it accepts DPoP), the one for
    /// the scheme the request used first, with the error. Empty for
    /// [`RejectionKind::Unavailable`].
    pub fn challenges(&self) -> Vec<HeaderValue> {
        if self.kind == RejectionKind::Unavailable {
            return Vec::new();
        }
        let dpop = self.challenge.dpop.as_ref();
        let bearer_offered = dpop.is_none_or(|d| !d.required);
        let error_on_dpop = dpop.is_some()
            && (self.dpop_scheme
                || !bearer_offered
                || matches!(
                    self.kind,
                    RejectionKind::InvalidDpopProof | RejectionKind::UseDpopNonce
                ));
        let mut out = Vec::with_capacity(2);
        if let Some(dpop) = dpop.filter(|_| error_on_dpop) {
            out.extend(self.challenge_for("DPoP", true, Some(&dpop.algs)));
        }
        if bearer_offered {
            out.extend(self.challenge_for("Bearer", !error_on_dpop, None));
        }
        if let Some(dpop) = dpop.filter(|_| !error_on_dpop) {
            out.extend(self.challenge_for("DPoP", false, Some(&dpop.algs)));
        }
        out
    }

    /// One challenge of `scheme`, with the error's parameters if `with_error`.
    fn challenge_for(
        &self,
        scheme: &str,
        with_error: bool,
        algs: Option<&str>,
    ) -> Option<HeaderValue> {
        let mut out = String::with_capacity(128);
        out.push_str(scheme);
        let mut params: [Option<(&str, &str)>; 8] = [None; 8];
        params[0] = self.challenge.realm.as_deref().map(|v| ("realm", v));
        if with_error && let Some(code) = self.kind.error_code() {
            params[1] = Some(("error", code));
            params[2] = Some(("error_description", self.description));
            if self.kind == RejectionKind::InsufficientScope {
                params[3] = self.required_scope.as_deref().map(|v| ("scope", v));
            }
            if self.kind == RejectionKind::InsufficientUserAuthentication
                && let Some(step_up) = &self.step_up
            {
                params[4] = step_up.acr_values.as_deref().map(|v| ("acr_values", v));
                params[5] = step_up.max_age.as_ref().map(|(_, v)| ("max_age", &**v));
            }
        }
        params[6] = algs.map(|v| ("algs", v));
        params[7] = self
            .challenge
            .resource_metadata
            .as_deref()
            .map(|v| ("resource_metadata", v));
        let mut first = true;
        for (name, value) in params.into_iter().flatten() {
            out.push_str(if first { " " } else { ", " });
            first = false;
            out.push_str(name);
            out.push_str("=\"");
            for c in value.chars() {
                // quoted-string (RFC 9110 §5.6.4); control characters cannot occur:
                // every value is checked printable ASCII when configured or is static.
                if c == '"' || c == '\\' {
                    out.push('\\');
                }
                out.push(c);
            }
            out.push('"');
        }
        HeaderValue::from_str(&out).ok()
    }

    /// The default HTTP response: status, `WWW-Authenticate` (or `Retry-After` for
    /// 503), and a one-line `text/plain` body; for gRPC requests, a trailers-only
    /// response (HTTP 200 with `grpc-status`, `grpc-message`, `www-authenticate`).
    pub fn to_response<B: ResponseBody>(&self) -> Response<B> {
        if self.grpc {
            return self.to_grpc_response();
        }
        let body = match self.kind {
            RejectionKind::MissingToken => "bearer token required\n".to_owned(),
            _ => {
                let code = self.kind.error_code().unwrap_or("unavailable");
                format!("{code}: {}\n", self.description)
            }
        };
        let mut response = Response::new(B::from_bytes(Bytes::from(body)));
        *response.status_mut() = self.kind.status();
        let headers = response.headers_mut();
        headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        self.insert_common_headers(headers);
        response
    }

    /// The gRPC trailers-only response, whatever the request's content type.
    pub fn to_grpc_response<B: ResponseBody>(&self) -> Response<B> {
        let mut response = crate::grpc::trailers_only(self.kind.grpc_status(), self.grpc_message());
        self.insert_common_headers(response.headers_mut());
        response
    }

    fn grpc_message(&self) -> &'static str {
        match self.kind {
            RejectionKind::MissingToken => "bearer token required",
            _ => self.description,
        }
    }

    fn insert_common_headers(&self, headers: &mut HeaderMap) {
        for challenge in self.challenges() {
            headers.append(WWW_AUTHENTICATE, challenge);
        }
        if let Some(nonce) = self
            .dpop_nonce
            .as_deref()
            .and_then(|nonce| HeaderValue::from_str(nonce).ok())
        {
            headers.insert(HeaderName::from_static("dpop-nonce"), nonce);
        }
        if let Some(retry_after) = self.retry_after {
            // Whole seconds, rounded up, at least one.
            let secs = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
            headers.insert(RETRY_AFTER, HeaderValue::from(secs.max(1)));
        }
    }
}

impl fmt::Debug for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Rejection")
            .field("kind", &self.kind)
            .field("description", &self.description)
            .field("token_error", &self.token_error)
            .field("retry_after", &self.retry_after)
            .field("required_scope", &self.required_scope)
            .field("step_up", &self.step_up)
            .field("grpc", &self.grpc)
            .finish()
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.description)
    }
}

impl std::error::Error for Rejection {}

/// Turns a [`Rejection`] into the response sent instead of calling the service.
///
/// Implemented by [`DefaultRejection`] and by every
/// `Fn(&Rejection) -> Response<B> + Send + Sync + 'static` closure, for custom bodies
/// (problem+json, say). The layer adds the [`Rejection`] to the response's extensions
/// afterwards, so a custom rejection need not.
///
/// ```
/// use http::{Response, header};
/// use portcullis::Rejection;
///
/// let problem_json = |rejection: &Rejection| -> Response<String> {
///     let mut response = rejection.to_response::<String>();
///     *response.body_mut() = format!(
///         r#"{{"type":"about:blank","status":{},"detail":"{}"}}"#,
///         rejection.status().as_u16(),
///         rejection.description(),
///     );
///     response.headers_mut().insert(
///         header::CONTENT_TYPE,
///         "application/problem+json".parse().unwrap(),
///     );
///     response
/// };
/// # let _ = problem_json;
/// ```
pub trait Reject<B>: Send + Sync + 'static {
    /// The response for `rejection`.
    fn reject(&self, rejection: &Rejection) -> Response<B>;
}

impl<B, F> Reject<B> for F
where
    F: Fn(&Rejection) -> Response<B> + Send + Sync + 'static,
{
    fn reject(&self, rejection: &Rejection) -> Response<B> {
        self(rejection)
    }
}

/// RFC 6750 responses for HTTP requests, trailers-only responses for gRPC requests:
/// [`Rejection::to_response`].
#[derive(Clone, Copy, Debug, Default)]
pub struct DefaultRejection;

impl<B: ResponseBody> Reject<B> for DefaultRejection {
    fn reject(&self, rejection: &Rejection) -> Response<B> {
        rejection.to_response()
    }
}

/// A response body type the default rejection can build (the inner service's body
/// type, which the layers never change).
///
/// Implemented for the common body types; implement it for your own.
pub trait ResponseBody: Sized {
    /// An empty body (gRPC trailers-only responses).
    fn empty() -> Self;
    /// A body holding `bytes`.
    fn from_bytes(bytes: Bytes) -> Self;
}

impl ResponseBody for String {
    fn empty() -> Self {
        String::new()
    }
    fn from_bytes(bytes: Bytes) -> Self {
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

impl ResponseBody for Bytes {
    fn empty() -> Self {
        Bytes::new()
    }
    fn from_bytes(bytes: Bytes) -> Self {
        bytes
    }
}

impl ResponseBody for Vec<u8> {
    fn empty() -> Self {
        Vec::new()
    }
    fn from_bytes(bytes: Bytes) -> Self {
        bytes.into()
    }
}

impl ResponseBody for http_body_util::Full<Bytes> {
    fn empty() -> Self {
        http_body_util::Full::default()
    }
    fn from_bytes(bytes: Bytes) -> Self {
        http_body_util::Full::new(bytes)
    }
}

impl ResponseBody for http_body_util::Empty<Bytes> {
    fn empty() -> Self {
        http_body_util::Empty::new()
    }
    fn from_bytes(_: Bytes) -> Self {
        http_body_util::Empty::new()
    }
}

impl<E> ResponseBody for http_body_util::combinators::BoxBody<Bytes, E>
where
    E: 'static,
{
    fn empty() -> Self {
        http_body_util::combinators::BoxBody::new(
            http_body_util::Empty::new().map_err(|never| match never {}),
        )
    }
    fn from_bytes(bytes: Bytes) -> Self {
        http_body_util::combinators::BoxBody::new(
            http_body_util::Full::new(bytes).map_err(|never| match never {}),
        )
    }
}

impl<E> ResponseBody for http_body_util::combinators::UnsyncBoxBody<Bytes, E>
where
    E: 'static,
{
    fn empty() -> Self {
        http_body_util::combinators::UnsyncBoxBody::new(
            http_body_util::Empty::new().map_err(|never| match never {}),
        )
    }
    fn from_bytes(bytes: Bytes) -> Self {
        http_body_util::combinators::UnsyncBoxBody::new(
            http_body_util::Full::new(bytes).map_err(|never| match never {}),
        )
    }
}

#[cfg(feature = "axum")]
impl ResponseBody for axum::body::Body {
    fn empty() -> Self {
        axum::body::Body::empty()
    }
    fn from_bytes(bytes: Bytes) -> Self {
        axum::body::Body::from(bytes)
    }
}

#[cfg(feature = "tonic")]
impl ResponseBody for tonic::body::Body {
    fn empty() -> Self {
        tonic::body::Body::empty()
    }
    fn from_bytes(bytes: Bytes) -> Self {
        tonic::body::Body::new(http_body_util::Full::new(bytes))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn rejection(kind: RejectionKind) -> Rejection {
        let challenge = Arc::new(
            ChallengeConfig::new(
                Some("my \"api\"".into()),
                Some("https://api.example/.well-known/oauth-protected-resource".into()),
            )
            .unwrap(),
        );
        Rejection::new(kind, "token expired", challenge, false)
    }

    #[test]
    fn challenges_are_quoted_and_comma_separated() {
        let missing = rejection(RejectionKind::MissingToken);
        assert_eq!(
            missing.www_authenticate().unwrap(),
            r#"Bearer realm="my \"api\"", resource_metadata="https://api.example/.well-known/oauth-protected-resource""#
        );
        let invalid = rejection(RejectionKind::InvalidToken);
        assert_eq!(
            invalid.www_authenticate().unwrap(),
            r#"Bearer realm="my \"api\"", error="invalid_token", error_description="token expired", resource_metadata="https://api.example/.well-known/oauth-protected-resource""#
        );
        let scope = rejection(RejectionKind::InsufficientScope)
            .with_required_scope(Some("read write".into()));
        assert!(
            scope
                .www_authenticate()
                .unwrap()
                .to_str()
                .unwrap()
                .contains(r#"error="insufficient_scope", error_description="token expired", scope="read write""#)
        );
        assert!(
            rejection(RejectionKind::Unavailable)
                .www_authenticate()
                .is_none()
        );
    }

    #[test]
    fn config_refuses_control_characters() {
        assert!(ChallengeConfig::new(Some("a\nb".into()), None).is_err());
        assert!(ChallengeConfig::new(None, Some("é".into())).is_err());
    }

    #[test]
    fn grpc_response_is_trailers_only() {
        let mut r = rejection(RejectionKind::InsufficientScope);
        r.grpc = true;
        let response: Response<String> = r.to_response();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()["grpc-status"], "7");
        assert_eq!(response.headers()["grpc-message"], "token expired");
        assert!(response.headers().contains_key(WWW_AUTHENTICATE));
        assert!(response.body().is_empty());
    }
}
