//! DPoP at the authentication layer (RFC 9449 §7): sender-constrained access tokens.
//!
//! With a [`DpopPolicy`] on [`AuthenticationLayerBuilder::dpop`], the layer accepts
//! `Authorization: DPoP <token>` with a `DPoP: <proof>` header, beside bearer tokens
//! ([`DpopMode::Allowed`]) or instead of them ([`DpopMode::Required`]). For a DPoP
//! request it verifies the token as usual, then the proof
//! ([`DpopValidation::verify`]: signature, `htm`, `htu`, `iat`, `ath`), the token's
//! binding to the proof's key (`cnf.jkt`), and that the proof was not used before
//! ([`ProofReplayStore`]). Whatever the policy, a token bound to a DPoP key and
//! presented as a bearer token is refused (RFC 9449 §7.2): without the proof, the
//! binding would protect nothing.
//!
//! The URI a proof's `htu` must match is the policy's configured external origin
//! followed by the request's path, never the `Host` header as sent: place the layer
//! where the request's path is the one the client addressed (not inside a router that
//! strips a prefix), or include that prefix in the origin.
//!
//! With [`DpopPolicyBuilder::nonces`], proofs must also carry a nonce the layer issued
//! (RFC 9449 §9): a proof without one, or with a stale one, is answered `401
//! use_dpop_nonce` with a fresh nonce in `DPoP-Nonce`, and the client retries.
//!
//! [`AuthenticationLayerBuilder::dpop`]: crate::AuthenticationLayerBuilder::dpop

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use http::header::HeaderName;
use http::{HeaderMap, Method, Uri};
use portcullis_issuer::{
    InMemoryProofReplayStore, ProofId, ProofReplayStore, ProofUse, ProofUseCheck, ProofUseFuture,
};
use portcullis_jwt::dpop::{DpopError, DpopErrorKind, DpopNonces, DpopRequest, DpopValidation};
use portcullis_jwt::{Claims, Clock, Confirmation, SystemClock};

use crate::ConfigError;
use crate::rejection::{ChallengeConfig, DpopChallenge, Rejection, RejectionKind};

/// The `DPoP` request header that carries the proof.
pub static DPOP: HeaderName = HeaderName::from_static("dpop");

/// Whether bearer tokens are still accepted beside DPoP.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum DpopMode {
    /// DPoP and bearer tokens both accepted (a DPoP-bound token only with its proof).
    /// The default.
    #[default]
    Allowed,
    /// Only DPoP: a bearer token is refused, and the RFC 9728 metadata says
    /// `dpop_bound_access_tokens_required`.
    Required,
}

/// How the authentication layer treats DPoP: see the [module docs](self).
#[derive(Clone)]
pub struct DpopPolicy {
    inner: Arc<PolicyInner>,
}

struct PolicyInner {
    mode: DpopMode,
    validation: DpopValidation,
    origin: Box<str>,
    replay: Arc<dyn ProofReplayStore>,
    nonces: Option<DpopNonces>,
    clock: Arc<dyn Clock>,
    /// The allowed algorithms, space-separated, for the challenge's `algs`.
    algs: Box<str>,
}

/// Configures a [`DpopPolicy`].
#[must_use]
pub struct DpopPolicyBuilder {
    origin: String,
    mode: DpopMode,
    validation: Option<DpopValidation>,
    replay: Option<Arc<dyn ProofReplayStore>>,
    nonces: Option<DpopNonces>,
    clock: Arc<dyn Clock>,
}

impl DpopPolicy {
    /// Starts a policy for the resource reached at `origin` (`https://api.example`, or
    /// `https://api.example/base` when the layer sees paths without that prefix), as
    /// clients address it: proofs' `htu` are compared with it, never with the `Host`
    /// header.
    pub fn builder(origin: impl Into<String>) -> DpopPolicyBuilder {
        DpopPolicyBuilder {
            origin: origin.into(),
            mode: DpopMode::Allowed,
            validation: None,
            replay: None,
            nonces: None,
            clock: Arc::new(SystemClock),
        }
    }

    /// Allowed or required.
    pub fn mode(&self) -> DpopMode {
        self.inner.mode
    }

    /// The proof rules.
    pub fn validation(&self) -> &DpopValidation {
        &self.inner.validation
    }

    /// The `DPoP` challenge this policy offers.
    pub(crate) fn challenge(&self) -> DpopChallenge {
        DpopChallenge {
            algs: self.inner.algs.clone(),
            required: self.inner.mode == DpopMode::Required,
        }
    }
}

impl DpopPolicyBuilder {
    /// Allowed (the default) or required.
    pub fn mode(mut self, mode: DpopMode) -> Self {
        self.mode = mode;
        self
    }

    /// Shorthand for `.mode(DpopMode::Required)`.
    pub fn required(self) -> Self {
        self.mode(DpopMode::Required)
    }

    /// The proof rules. Defaults to [`DpopValidation::builder`]'s defaults.
    pub fn validation(mut self, validation: DpopValidation) -> Self {
        self.validation = Some(validation);
        self
    }

    /// Where used proofs are remembered. Defaults to an [`InMemoryProofReplayStore`]
    /// of default capacity: per process, so with several replicas a proof replayed to
    /// another one passes there unless the store is shared.
    pub fn replay_store(mut self, store: impl ProofReplayStore) -> Self {
        self.replay = Some(Arc::new(store));
        self
    }

    /// Require proofs to carry a nonce the layer issued (RFC 9449 §9), so that no proof
    /// can be made in advance. Defaults to none. Replicas need [`DpopNonces::new`] with
    /// a shared secret.
    pub fn nonces(mut self, nonces: DpopNonces) -> Self {
        self.nonces = Some(nonces);
        self
    }

    /// Where "now" comes from. Defaults to the system clock.
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Checks the configuration.
    ///
    /// # Errors
    /// An origin that is not an absolute `http`/`https` URI without query or fragment
    /// (setting `origin`).
    pub fn build(self) -> Result<DpopPolicy, ConfigError> {
        let origin = self.origin.trim_end_matches('/');
        let parsed: Uri = origin.parse().map_err(|_| bad_origin(origin))?;
        let scheme_ok = matches!(parsed.scheme_str(), Some("http" | "https"));
        let path = parsed.path_and_query().map_or("", |p| p.as_str());
        if !scheme_ok
            || parsed.authority().is_none()
            || path.contains(['?', '#'])
            || origin.contains('#')
        {
            return Err(bad_origin(origin));
        }
        let validation = match self.validation {
            Some(validation) => validation,
            None => DpopValidation::builder().build()?,
        };
        let algs = validation
            .algorithms()
            .iter()
            .map(|alg| alg.name())
            .collect::<Vec<_>>()
            .join(" ");
        Ok(DpopPolicy {
            inner: Arc::new(PolicyInner {
                mode: self.mode,
                validation,
                origin: origin.into(),
                replay: self
                    .replay
                    .unwrap_or_else(|| Arc::new(InMemoryProofReplayStore::default())),
                nonces: self.nonces,
                clock: self.clock,
                algs: algs.into_boxed_str(),
            }),
        })
    }
}

fn bad_origin(origin: &str) -> ConfigError {
    ConfigError::for_setting(
        "origin",
        format!(
            "the DPoP origin must be an absolute http or https URI without query or \
             fragment, got {origin:?}"
        ),
    )
}

/// Why a sender-constrained request (DPoP, or a certificate-bound token) was refused,
/// before it becomes a [`Rejection`](crate::Rejection).
#[derive(Debug)]
pub(crate) enum BindingRefusal {
    /// The proof (or its absence, or its replay) is wrong: 401 `invalid_dpop_proof`, or
    /// `invalid_token` for a key binding that does not hold.
    Proof(DpopError),
    /// A bearer token where DPoP is required, or a DPoP-bound token sent as a bearer
    /// token: 401 `invalid_token`.
    Token(&'static str),
    /// The proof lacks the current nonce: 401 `use_dpop_nonce` with this fresh one.
    Nonce(String),
    /// The replay store could not answer: 503, never a pass.
    StoreUnavailable,
}

impl BindingRefusal {
    /// The refusal the client gets.
    pub(crate) fn into_rejection(self, challenge: Arc<ChallengeConfig>, grpc: bool) -> Rejection {
        match self {
            BindingRefusal::Proof(error) => {
                let kind = match error.kind() {
                    DpopErrorKind::KeyBindingMismatch => RejectionKind::InvalidToken,
                    _ => RejectionKind::InvalidDpopProof,
                };
                Rejection::new(kind, error.description(), challenge, grpc).sent_with_dpop(true)
            }
            BindingRefusal::Nonce(nonce) => Rejection::new(
                RejectionKind::UseDpopNonce,
                DpopErrorKind::UseNonce.description(),
                challenge,
                grpc,
            )
            .sent_with_dpop(true)
            .with_dpop_nonce(nonce),
            BindingRefusal::Token(description) => {
                Rejection::new(RejectionKind::InvalidToken, description, challenge, grpc)
            }
            BindingRefusal::StoreUnavailable => Rejection::new(
                RejectionKind::Unavailable,
                "DPoP replay store unavailable",
                challenge,
                grpc,
            )
            .with_retry_after(STORE_RETRY_AFTER),
        }
    }
}

/// The DPoP checks of one request whose token verified.
pub(crate) enum DpopCheck {
    /// Nothing (more) to check: admit.
    Pass,
    /// The replay store answers later.
    Pending(ProofUseFuture),
}

/// A bearer token where DPoP is required: refused before the token is verified (no
/// issuer is asked about a token that cannot pass).
pub(crate) fn refuse_bearer(policy: Option<&DpopPolicy>) -> Option<BindingRefusal> {
    policy
        .filter(|p| p.inner.mode == DpopMode::Required)
        .map(|_| BindingRefusal::Token("this resource requires DPoP"))
}

/// The check for a verified token sent as a bearer token: refused if it is bound to a
/// DPoP key (RFC 9449 §7.2).
pub(crate) fn check_bearer(claims: &Claims) -> Result<(), BindingRefusal> {
    if matches!(claims.confirmation(), Some(Confirmation::DpopKey(_))) {
        return Err(BindingRefusal::Token(
            "DPoP-bound token sent as a bearer token",
        ));
    }
    Ok(())
}

/// The checks for a token sent with the DPoP scheme: one proof, valid for this request
/// and this token, of the key the token is bound to, not seen before.
pub(crate) fn check_proof(
    policy: &DpopPolicy,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    token: &str,
    claims: &Claims,
) -> Result<DpopCheck, BindingRefusal> {
    let refuse = |kind, member| BindingRefusal::Proof(DpopError::about(kind, member));
    let mut proofs = headers.get_all(&DPOP).iter();
    let (Some(proof), None) = (proofs.next(), proofs.next()) else {
        // None, or several (RFC 9449 §4.3 check 1).
        return Err(refuse(DpopErrorKind::Malformed, "DPoP"));
    };
    let proof = proof
        .to_str()
        .map_err(|_| refuse(DpopErrorKind::Malformed, "DPoP"))?;
    let inner = &*policy.inner;
    let target = format!("{}{}", inner.origin, uri.path());
    let now = inner.clock.now();
    let request = DpopRequest::new(method.as_str(), &target).access_token(token);
    let verified = inner
        .validation
        .verify(proof, &request, now)
        .map_err(BindingRefusal::Proof)?;
    if let Some(nonces) = &inner.nonces
        && nonces.check(verified.nonce(), now).is_err()
    {
        return Err(BindingRefusal::Nonce(nonces.issue(now)));
    }
    verified
        .check_binding(claims)
        .map_err(BindingRefusal::Proof)?;
    let (thumbprint, jti) = verified.replay_key();
    let id = ProofId::new(&thumbprint, jti);
    match inner
        .replay
        .check_and_remember(id, verified.replay_window_end(), now)
    {
        ProofUseCheck::Done(answer) => first_use(&answer).map(|()| DpopCheck::Pass),
        ProofUseCheck::Pending(future) => Ok(DpopCheck::Pending(future)),
    }
}

/// A replay store's answer as a pass or a refusal.
pub(crate) fn first_use(
    answer: &Result<ProofUse, portcullis_issuer::ProofReplayStoreError>,
) -> Result<(), BindingRefusal> {
    match answer {
        Ok(ProofUse::First) => Ok(()),
        Ok(ProofUse::Replayed) => Err(BindingRefusal::Proof(DpopError::about(
            DpopErrorKind::Replayed,
            "jti",
        ))),
        Err(_) => Err(BindingRefusal::StoreUnavailable),
    }
}

/// How long a client is told to wait when the replay store cannot answer.
pub(crate) const STORE_RETRY_AFTER: Duration = Duration::from_secs(1);

impl fmt::Debug for DpopPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DpopPolicy")
            .field("mode", &self.inner.mode)
            .field("origin", &self.inner.origin)
            .field("algs", &self.inner.algs)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for DpopPolicyBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DpopPolicyBuilder")
            .field("origin", &self.origin)
            .field("mode", &self.mode)
            .finish_non_exhaustive()
    }
}
