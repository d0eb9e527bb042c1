//! `portcullis-gateway explain`: why the gateway would refuse (or accept) a token, rule
//! by rule, as the library's
//! [`Validation::explain`](portcullis_jwt::Validation::explain) says, for the issuer
//! the token names, and optionally whether it meets a route's requirement.
//!
//! Nothing is contacted unless asked ([`ExplainOptions::fetch`]): keys come from the
//! issuer's `jwks_file`, or the signature is reported as not checked. The signature is
//! never printed; the payload only with [`ExplainOptions::show_claims`].

use std::fmt::{self, Write as _};
use std::time::{Duration, SystemTime};

use http::Method;
use portcullis_issuer::{HttpClient, Startup};
use portcullis_jwt::{KeySet, Outcome, read_unverified_issuer};

use crate::auth::{key_set_builder, static_keys};
use crate::auth_rules::conditions;
use crate::config::{Config, IssuerConfig, KeySourceConfig, Requirement};
use crate::host_router::HostRouter;

/// What to explain besides the token rules. Built with [`ExplainOptions::new`].
#[derive(Debug, Clone, Default)]
pub struct ExplainOptions {
    route: Option<(Method, String)>,
    host: Option<String>,
    show_claims: bool,
    fetch: bool,
    now: Option<SystemTime>,
}

impl ExplainOptions {
    /// No route, no claims shown, nothing fetched, the system clock.
    pub fn new() -> ExplainOptions {
        ExplainOptions::default()
    }

    /// Also explains the requirement of the route a `method` request for `path` takes.
    #[must_use]
    pub fn route(mut self, method: Method, path: impl Into<String>) -> ExplainOptions {
        self.route = Some((method, path.into()));
        self
    }

    /// The host the `route` request is for (`Host`), for routes that name hosts.
    /// Defaults to none: only routes for any host match.
    #[must_use]
    pub fn host(mut self, host: impl Into<String>) -> ExplainOptions {
        self.host = Some(host.into());
        self
    }

    /// Prints the token's payload (decoded, unverified unless accepted). Defaults to
    /// `false`: the payload may carry personal data.
    #[must_use]
    pub fn show_claims(mut self, show: bool) -> ExplainOptions {
        self.show_claims = show;
        self
    }

    /// Fetches the issuer's key set (discovery or `jwks_uri`) to check the signature,
    /// within the issuer's `http_timeout`. Defaults to `false`: nothing is contacted.
    #[must_use]
    pub fn fetch(mut self, fetch: bool) -> ExplainOptions {
        self.fetch = fetch;
        self
    }

    /// The time the token is judged at. Defaults to now; a testing aid.
    #[must_use]
    pub fn now(mut self, now: SystemTime) -> ExplainOptions {
        self.now = Some(now);
        self
    }
}

/// What [`explain`] found: printable, and whether the gateway would let the token
/// through.
#[derive(Debug)]
pub struct ExplainReport {
    text: String,
    accepted: bool,
}

impl ExplainReport {
    /// No rule refuses the token (nor the route's requirement, when a route was given).
    /// Without a key set the signature is not checked, and this says nothing about it:
    /// the report's first line says so.
    pub fn accepted(&self) -> bool {
        self.accepted
    }
}

impl fmt::Display for ExplainReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// Why a token could not be explained at all: the key file or the key set fetch
/// failed, or the route or input is unusable. (A refused token is a report.)
#[derive(Debug)]
pub struct ExplainError(String);

impl fmt::Display for ExplainError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ExplainError {}

/// Explains `token` under `config`: the issuer its (unverified) `iss` names, every
/// rule of that issuer in the order the gateway applies them, and with
/// [`ExplainOptions::route`] the route's requirement. Must run inside a tokio runtime
/// when [`ExplainOptions::fetch`] is set.
///
/// # Errors
/// The issuer's `jwks_file` cannot be read, the key set cannot be fetched, or the
/// route's path is not a path.
pub async fn explain(
    config: &Config,
    token: &str,
    options: &ExplainOptions,
) -> Result<ExplainReport, ExplainError> {
    // A pasted `Authorization` value: its scheme read as the layer reads it
    // (case-insensitive `Bearer`, or `DPoP`), then the token alone.
    let token = token.trim();
    let token = match token.split_once(' ') {
        Some((scheme, rest))
            if scheme.eq_ignore_ascii_case("bearer") || scheme.eq_ignore_ascii_case("dpop") =>
        {
            rest.trim()
        }
        _ => token,
    };
    if let Some((_, path)) = &options.route
        && !path.starts_with('/')
    {
        return Err(ExplainError(format!(
            "--route: {:?} is not a path (it starts with /)",
            cut(path)
        )));
    }
    let now = options.now.unwrap_or_else(SystemTime::now);
    let mut out = String::new();
    let Some(issuer) = choose_issuer(config, token, &mut out) else {
        return Ok(ExplainReport {
            text: out,
            accepted: false,
        });
    };
    let validation = &issuer.validation;
    let _ = writeln!(
        out,
        "issuer: {:?} (preset {})",
        issuer.issuer,
        validation.preset()
    );
    let keys = keys(issuer, options.fetch, &mut out).await?;
    let explanation = validation.explain(token, keys.as_ref(), now);
    let _ = write!(out, "{explanation}");
    let mut accepted = explanation.first_failure().is_none();
    if let Some((method, path)) = &options.route {
        // Routed as the gateway routes: by host (when given), then method and path.
        let router = HostRouter::new(&config.routes);
        let mut headers = http::HeaderMap::new();
        if let Some(host) = options
            .host
            .as_deref()
            .and_then(|h| http::HeaderValue::from_str(h).ok())
        {
            headers.insert(http::header::HOST, host);
        }
        let found = router
            .find(&http::Uri::from_static("/"), &headers, method, path)
            .unwrap_or_default();
        match found {
            None => {
                accepted = false;
                let _ = writeln!(
                    out,
                    "route: no route takes {method} {:?}: the gateway answers 404",
                    cut(path)
                );
            }
            Some(index) => {
                let route = &config.routes[index];
                let _ = writeln!(
                    out,
                    "route: {:?} takes {method} {:?}",
                    route.name,
                    cut(path)
                );
                match &route.requirement {
                    Requirement::Anonymous => {
                        let _ = writeln!(
                            out,
                            "  {:<12}requirement: anonymous: the route needs no token",
                            Outcome::Passed.label()
                        );
                    }
                    Requirement::Authenticated {
                        scopes,
                        claim_equals,
                        claim_contains,
                    } => {
                        let step = explanation.requirement(scopes, now);
                        accepted &= step.outcome() == Outcome::Passed;
                        let _ = writeln!(out, "  {step}");
                        // Each condition on its own line, as the library words it.
                        for (matching, path, wanted) in conditions(claim_equals, claim_contains) {
                            let step = explanation.claim_condition(matching, path, wanted);
                            accepted &= step.outcome() == Outcome::Passed;
                            let _ = writeln!(out, "  {step}");
                        }
                    }
                }
            }
        }
    }
    if options.show_claims {
        match explanation.unverified_payload() {
            Some(payload) => {
                let pretty = serde_json::from_str::<serde_json::Value>(payload)
                    .and_then(|value| serde_json::to_string_pretty(&value))
                    .unwrap_or_else(|_| payload.escape_debug().collect());
                let verified = if explanation.is_accepted() {
                    "verified"
                } else {
                    "unverified"
                };
                let _ = writeln!(out, "claims ({verified}):\n{pretty}");
            }
            None => {
                let _ = writeln!(out, "claims: the payload could not be decoded");
            }
        }
    }
    Ok(ExplainReport {
        text: out,
        accepted,
    })
}

/// The issuer the token's unverified `iss` names, as the gateway routes tokens (the
/// only issuer when `iss` cannot be read and there is one); `None`, with why in `out`,
/// when no configured issuer would take it.
fn choose_issuer<'c>(
    config: &'c Config,
    token: &str,
    out: &mut String,
) -> Option<&'c IssuerConfig> {
    let names = || {
        config
            .issuers
            .iter()
            .map(|i| format!("{:?}", cut(&i.issuer)))
            .collect::<Vec<_>>()
            .join(", ")
    };
    if config.issuers.is_empty() {
        let _ = writeln!(
            out,
            "refused: no issuer is configured (only anonymous routes)"
        );
        return None;
    }
    match read_unverified_issuer(token, config.limits.max_token_bytes, str::to_owned) {
        Ok(Some(iss)) => {
            let found = config
                .issuers
                .iter()
                .find(|issuer| issuer.validation.issuers().any(|known| known == iss));
            if found.is_none() {
                let _ = writeln!(
                    out,
                    "refused: iss is {:?}; the configured issuers are [{}] (compared exactly: \
                     a trailing slash matters)",
                    cut(&iss),
                    names()
                );
            }
            found
        }
        // What the gateway does with a token whose `iss` it cannot read: only a single
        // issuer can take it, and that issuer's rules say why it is refused.
        _ if config.issuers.len() == 1 => config.issuers.first(),
        Ok(None) => {
            let _ = writeln!(
                out,
                "refused: the token has no string iss, so no issuer among [{}] takes it",
                names()
            );
            None
        }
        Err(error) => {
            let _ = writeln!(
                out,
                "refused: {error}; no issuer among [{}] can be chosen",
                names()
            );
            None
        }
    }
}

/// The issuer's key set: its `jwks_file`, or fetched with `fetch`, or none.
async fn keys(
    issuer: &IssuerConfig,
    fetch: bool,
    out: &mut String,
) -> Result<Option<KeySet>, ExplainError> {
    match &issuer.keys {
        KeySourceConfig::JwksFile(path) => {
            let keys = static_keys(path, "jwks_file").map_err(|e| ExplainError(e.to_string()))?;
            let _ = writeln!(
                out,
                "keys: jwks_file {} ({} keys)",
                path.display(),
                keys.len()
            );
            Ok(Some(keys))
        }
        KeySourceConfig::None => {
            let _ = writeln!(
                out,
                "keys: none (this issuer only introspects; explain never introspects): \
                 signature not checked"
            );
            Ok(None)
        }
        _ if !fetch => {
            let _ = writeln!(out, "keys: signature not checked (no --fetch)");
            Ok(None)
        }
        _ => {
            let http = HttpClient::builder()
                .timeout(issuer.http_timeout)
                .connect_timeout(issuer.http_connect_timeout)
                .build()
                .map_err(|e| ExplainError(format!("the issuer's HTTP client: {e}")))?;
            let Some(builder) = key_set_builder(issuer, &http) else {
                return Ok(None);
            };
            let remote = builder
                .startup(Startup::Lazy)
                .background_refresh(false)
                .build()
                .map_err(|e| ExplainError(format!("the issuer's key set: {e}")))?;
            // Discovery then the key set: two exchanges, each within `http_timeout`.
            let limit = issuer.http_timeout * 2 + Duration::from_secs(1);
            match tokio::time::timeout(limit, remote.refresh()).await {
                Ok(Ok(())) => {}
                Ok(Err(error)) => {
                    return Err(ExplainError(format!("fetching the key set: {error}")));
                }
                Err(_) => {
                    return Err(ExplainError(format!(
                        "fetching the key set: no answer within {limit:?}"
                    )));
                }
            }
            let keys = remote.current().ok_or_else(|| {
                ExplainError("fetching the key set: no key set after the fetch".to_owned())
            })?;
            let _ = writeln!(out, "keys: fetched ({} keys)", keys.len());
            Ok(Some(keys))
        }
    }
}

/// At most 200 characters of a value from the input, for messages.
fn cut(text: &str) -> &str {
    match text.char_indices().nth(200) {
        Some((at, _)) => &text[..at],
        None => text,
    }
}
