//! Several issuers, each with its own keys, introspection endpoint and rules.

use std::fmt;
use std::sync::Arc;

use portcullis_jwt::{ErrorKind, UnverifiedToken, read_unverified_issuer};

use crate::error::ConfigError;
use crate::hybrid::is_jws_shaped;
use crate::verifier::{Verification, Verifier, VerifyFuture};
use crate::verify_error::VerifyError;

/// The longest token whose payload is decoded to read its `iss`: 64 KiB. Each
/// issuer's own verifier applies its own (smaller, by default) limit afterwards.
const MAX_ROUTED_TOKEN: usize = 64 * 1024;

type Erased = Arc<dyn ErasedVerifier>;

/// Routes each token to the verifier of the issuer that issued it.
///
/// A JWT is routed by its unverified `iss`, and only among the configured issuers: an
/// unknown or missing `iss` is refused at once, with no network traffic, and the chosen
/// verifier then checks the token fully, `iss` included, under that issuer's rules.
/// Opaque tokens carry no `iss`; they go to the one issuer named with
/// [`MultiIssuerVerifierBuilder::opaque_tokens`], or are refused. The verified claims
/// name their issuer ([`Claims::issuer`](portcullis_jwt::Claims::issuer)).
#[derive(Clone)]
pub struct MultiIssuerVerifier {
    inner: Arc<Inner>,
}

struct Inner {
    issuers: Vec<(Box<str>, Erased)>,
    opaque: Option<usize>,
}

/// Configures a [`MultiIssuerVerifier`].
#[must_use]
#[derive(Default)]
pub struct MultiIssuerVerifierBuilder {
    issuers: Vec<(Box<str>, Erased)>,
    opaque: Option<Box<str>>,
}

/// A verifier of any type behind one pointer type: its pending future boxed (only a
/// verification that waits allocates it; an answer at hand is returned as it is).
trait ErasedVerifier: Send + Sync + 'static {
    fn verify_erased(&self, token: &str) -> Verification<VerifyFuture>;
}

impl<V: Verifier> ErasedVerifier for V {
    fn verify_erased(&self, token: &str) -> Verification<VerifyFuture> {
        self.verify(token).map_pending(VerifyFuture::waiting)
    }
}

impl MultiIssuerVerifier {
    /// Starts a configuration.
    pub fn builder() -> MultiIssuerVerifierBuilder {
        MultiIssuerVerifierBuilder::default()
    }

    /// The configured issuers.
    pub fn issuers(&self) -> impl Iterator<Item = &str> {
        self.inner.issuers.iter().map(|(iss, _)| &**iss)
    }
}

impl MultiIssuerVerifierBuilder {
    /// Tokens whose `iss` is exactly `issuer` go to `verifier` (a [`JwtVerifier`]
    /// with that issuer's keys and rules, a [`HybridVerifier`], ...).
    ///
    /// [`JwtVerifier`]: crate::JwtVerifier
    /// [`HybridVerifier`]: crate::HybridVerifier
    pub fn issuer(mut self, issuer: impl Into<String>, verifier: impl Verifier) -> Self {
        self.issuers
            .push((issuer.into().into_boxed_str(), Arc::new(verifier)));
        self
    }

    /// Opaque (non-JWT) tokens go to the verifier of `issuer`, which must be one of the
    /// configured issuers. Without this, opaque tokens are refused.
    pub fn opaque_tokens(mut self, issuer: impl Into<String>) -> Self {
        self.opaque = Some(issuer.into().into_boxed_str());
        self
    }

    /// Checks the configuration.
    ///
    /// # Errors
    /// No issuer, an issuer configured twice, or opaque tokens sent to an issuer that is
    /// not configured.
    pub fn build(self) -> Result<MultiIssuerVerifier, ConfigError> {
        if self.issuers.is_empty() {
            return Err(ConfigError::for_setting(
                "issuer",
                "a multi-issuer verifier needs an issuer",
            ));
        }
        for (i, (issuer, _)) in self.issuers.iter().enumerate() {
            if self.issuers[..i].iter().any(|(other, _)| other == issuer) {
                return Err(ConfigError::for_setting(
                    "issuer",
                    format!("issuer {issuer:?} is configured twice"),
                ));
            }
        }
        let opaque = match &self.opaque {
            None => None,
            Some(name) => Some(
                self.issuers
                    .iter()
                    .position(|(issuer, _)| issuer == name)
                    .ok_or_else(|| {
                        ConfigError::for_setting(
                            "opaque_tokens",
                            format!(
                                "opaque tokens go to {name:?}, which is not a configured issuer"
                            ),
                        )
                    })?,
            ),
        };
        Ok(MultiIssuerVerifier {
            inner: Arc::new(Inner {
                issuers: self.issuers,
                opaque,
            }),
        })
    }
}

fn refuse(kind: ErrorKind) -> Verification<VerifyFuture> {
    Verification::Done(Err(VerifyError::token(portcullis_jwt::Error::from_kind(
        kind,
    ))))
}

/// Applies `route` to the `iss` of a JWS-shaped token, unverified (borrowed, not
/// copied), or says why the token has none worth routing on. Only the payload is read
/// ([`read_unverified_issuer`]): the issuer's own verifier parses the whole token
/// strictly right after. A token whose `iss` cannot be read is parsed strictly here, so
/// it is refused with the reason that verifier would have given (`InvalidIssuer` if the
/// token is otherwise sound), and no network traffic.
fn route_by_issuer<T>(
    token: &str,
    route: impl FnOnce(&str) -> T,
) -> Result<T, portcullis_jwt::Error> {
    match read_unverified_issuer(token, MAX_ROUTED_TOKEN, route) {
        Ok(Some(routed)) => Ok(routed),
        Ok(None) | Err(_) => Err(UnverifiedToken::parse(token, MAX_ROUTED_TOKEN)
            .err()
            .unwrap_or_else(|| portcullis_jwt::Error::from_kind(ErrorKind::InvalidIssuer))),
    }
}

impl Verifier for MultiIssuerVerifier {
    type Future = VerifyFuture;

    fn verify(&self, token: &str) -> Verification<VerifyFuture> {
        let inner = &*self.inner;
        if !is_jws_shaped(token) {
            return match inner.opaque {
                Some(i) => inner.issuers[i].1.verify_erased(token),
                None => refuse(ErrorKind::Malformed),
            };
        }
        let chosen = route_by_issuer(token, |issuer| {
            inner.issuers.iter().find(|(iss, _)| **iss == *issuer)
        });
        match chosen {
            Ok(Some((_, verifier))) => verifier.verify_erased(token),
            Ok(None) => refuse(ErrorKind::InvalidIssuer),
            Err(error) => Verification::Done(Err(VerifyError::token(error))),
        }
    }
}

impl fmt::Debug for MultiIssuerVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let opaque = self.inner.opaque.map(|i| &*self.inner.issuers[i].0);
        f.debug_struct("MultiIssuerVerifier")
            .field("issuers", &self.issuers().collect::<Vec<_>>())
            .field("opaque_tokens", &opaque)
            .finish()
    }
}

impl fmt::Debug for MultiIssuerVerifierBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MultiIssuerVerifierBuilder")
            .field(
                "issuers",
                &self.issuers.iter().map(|(i, _)| i).collect::<Vec<_>>(),
            )
            .field("opaque_tokens", &self.opaque)
            .finish()
    }
}
