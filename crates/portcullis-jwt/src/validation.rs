//! The rules a token must meet, and verification against them.

use std::fmt;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime};

use crate::algorithm::AlgorithmSet;
use crate::claim_path::ClaimPath;
use crate::claims::{Audiences, Claims, ClaimsInner, NumericDate, Text, VerifiedBy};
use crate::clock::unix_seconds;
use crate::confirmation::{Confirmation, confirmation_of};
use crate::error::{ConfigError, Error, ErrorKind};
use crate::key::{Key, KeySet};
use crate::preset::Preset;
use crate::scope::Scopes;
use crate::strict_json::{self, Malformed, Member, ObjectSink, Value};
use crate::token::{DEFAULT_MAX_TOKEN_SIZE, Header, TokenType, UnverifiedToken, decode_segment};

/// The default clock-skew allowance for `exp`, `nbf` and `iat`: 30 seconds.
pub const DEFAULT_LEEWAY: Duration = Duration::from_secs(30);
/// The largest leeway a configuration may set: 5 minutes.
pub const MAX_LEEWAY: Duration = Duration::from_secs(300);
/// The most required claims one configuration may list.
pub const MAX_REQUIRED_CLAIMS: usize = 64;

/// Where the scopes of a token are read from.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ScopeClaim {
    /// `scope` (a space-delimited string, RFC 9068 §2.2.3, RFC 8693 §4.2); if absent,
    /// `scp` (an array of strings or a string, as Okta and Azure AD send it). The
    /// default.
    ///
    /// A `scope` that is not a string refuses the token ([`ErrorKind::InvalidClaim`]),
    /// unless [`ValidationBuilder::allow_scope_array`] admits an array of strings; so
    /// does an `scp` that is neither a string nor an array of strings. A string that is
    /// not a well-formed scope list is no error: it grants nothing.
    #[default]
    ScopeOrScp,
    /// Only the named claim, as a string or an array of strings: naming the claim is
    /// the opt-in to arrays, whatever [`ValidationBuilder::allow_scope_array`] says.
    Named(Box<str>),
}

/// Which claim the audience rule reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum AudienceClaim {
    /// `aud` (a string or an array of strings) must contain one of the configured
    /// audiences (RFC 7519 §4.1.3, RFC 9068 §4). The default.
    #[default]
    Aud,
    /// `client_id` must equal one of the configured audiences, which are then the
    /// accepted client ids; `aud` is not read. For issuers whose access tokens carry no
    /// `aud` at all, as Amazon Cognito's: the rule is moved, never dropped, so a token
    /// without `client_id` is refused ([`ErrorKind::InvalidAudience`], detail
    /// `client_id`).
    ClientId,
}

pub(crate) type Check = dyn Fn(&Claims) -> Result<(), String> + Send + Sync;

/// A custom check and, when it was added with [`ValidationBuilder::named_check`], the
/// name an explanation gives it.
#[derive(Clone)]
pub(crate) struct CustomCheck {
    pub(crate) name: Option<Box<str>>,
    pub(crate) check: Arc<Check>,
}

/// The rules an access token must meet. Built with [`Validation::builder`]; cheap to
/// clone and shareable across threads.
///
/// Secure by default: an issuer and an audience must be configured (or explicitly
/// waived in [`crate::dangerous`]), `exp` is required, the header `typ` must be
/// `at+jwt` and a JWT must carry the other claims RFC 9068 §2.2 requires (`sub`,
/// `client_id`, `iat`, `jti`), and only asymmetric algorithms are accepted.
#[derive(Clone)]
pub struct Validation {
    inner: Arc<Config>,
}

struct Config {
    issuers: Vec<Box<str>>,
    any_issuer: bool,
    audiences: Vec<Box<str>>,
    any_audience: bool,
    algorithms: AlgorithmSet,
    leeway: f64,
    max_age: Option<f64>,
    require_access_token_type: bool,
    require_kid: bool,
    max_token_size: usize,
    scope_claim: ScopeClaim,
    allow_scope_array: bool,
    required: Vec<Box<str>>,
    claim_values: Vec<(Box<str>, Vec<Box<str>>)>,
    roles_claim: Option<ClaimPath>,
    audience_claim: AudienceClaim,
    preset: Preset,
    checks: Vec<CustomCheck>,
}

/// Builds a [`Validation`].
#[must_use]
pub struct ValidationBuilder {
    issuers: Vec<Box<str>>,
    any_issuer: bool,
    audiences: Vec<Box<str>>,
    any_audience: bool,
    algorithms: AlgorithmSet,
    leeway: Duration,
    max_age: Option<Duration>,
    require_access_token_type: bool,
    require_kid: bool,
    max_token_size: usize,
    scope_claim: ScopeClaim,
    allow_scope_array: bool,
    required: Vec<Box<str>>,
    claim_values: Vec<(Box<str>, Vec<Box<str>>)>,
    roles_claim: Option<String>,
    audience_claim: AudienceClaim,
    preset: Preset,
    checks: Vec<CustomCheck>,
}

impl Validation {
    /// Starts a configuration with the secure defaults.
    pub fn builder() -> ValidationBuilder {
        ValidationBuilder {
            issuers: Vec::new(),
            any_issuer: false,
            audiences: Vec::new(),
            any_audience: false,
            algorithms: AlgorithmSet::ASYMMETRIC,
            leeway: DEFAULT_LEEWAY,
            max_age: None,
            require_access_token_type: true,
            require_kid: false,
            max_token_size: DEFAULT_MAX_TOKEN_SIZE,
            scope_claim: ScopeClaim::default(),
            allow_scope_array: false,
            required: Vec::new(),
            claim_values: Vec::new(),
            roles_claim: None,
            audience_claim: AudienceClaim::Aud,
            preset: Preset::Rfc9068,
            checks: Vec::new(),
        }
    }
}

impl ValidationBuilder {
    /// Accepts tokens whose `iss` equals `issuer` exactly (no normalisation: a trailing
    /// slash matters). Call again to accept several issuers. Required unless waived in
    /// [`crate::dangerous`].
    pub fn issuer(mut self, issuer: impl Into<String>) -> Self {
        self.issuers.push(issuer.into().into_boxed_str());
        self
    }

    /// Accepts tokens whose `aud` (a string or an array) contains `audience`. Call again
    /// to accept several. Required unless waived in [`crate::dangerous`].
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audiences.push(audience.into().into_boxed_str());
        self
    }

    /// The algorithms accepted. Defaults to [`AlgorithmSet::ASYMMETRIC`]. The token's
    /// `alg` never widens this; a key's own `alg` narrows it further.
    pub fn algorithms(mut self, algorithms: impl Into<AlgorithmSet>) -> Self {
        self.algorithms = algorithms.into();
        self
    }

    /// Clock-skew allowance for `exp`, `nbf` and `iat`. Defaults to 30 seconds; at most
    /// 5 minutes.
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway;
        self
    }

    /// Refuses tokens issued (`iat`) longer ago than `max_age`, and then requires `iat`.
    /// Defaults to no limit.
    pub fn max_token_age(mut self, max_age: Duration) -> Self {
        self.max_age = Some(max_age);
        self
    }

    /// Whether tokens must follow the RFC 9068 profile. Defaults to `true`: the header
    /// `typ` must be `at+jwt` (§2.1), and a JWT must carry `sub`, `client_id`, `iat` and
    /// `jti` (§2.2) besides `iss`, `aud` and `exp`; a missing one is
    /// [`ErrorKind::MissingClaim`] with the claim's name as detail. Introspection
    /// results ([`VerifiedBy::Introspection`]) need none of the four: RFC 7662 makes them
    /// optional.
    ///
    /// Set `false` for issuers that do not follow the profile (many do not). Tokens
    /// typed `JWT` or untyped are then accepted, and only `exp` is required (plus any
    /// [`ValidationBuilder::require_claim`]); but a token typed as anything else is
    /// still refused, and so is one that carries an ID-token claim (`nonce`, `at_hash`,
    /// `c_hash`, `s_hash`) without `typ: at+jwt`.
    pub fn require_access_token_type(mut self, require: bool) -> Self {
        self.require_access_token_type = require;
        self
    }

    /// Whether a token must carry a `kid`. Defaults to `false`: a token without `kid`
    /// is accepted when exactly one key of the set can verify its algorithm.
    pub fn require_kid(mut self, require: bool) -> Self {
        self.require_kid = require;
        self
    }

    /// The longest token accepted, in bytes, checked before any decoding. Defaults to
    /// 8 KiB.
    pub fn max_token_size(mut self, bytes: usize) -> Self {
        self.max_token_size = bytes;
        self
    }

    /// Where scopes are read from. Defaults to [`ScopeClaim::ScopeOrScp`].
    pub fn scope_claim(mut self, claim: ScopeClaim) -> Self {
        self.scope_claim = claim;
        self
    }

    /// Whether `scope` may be a JSON array of strings, as Spring Authorization Server
    /// sends it. Defaults to `false`: RFC 9068 §2.2.3 and RFC 8693 §4.2 define `scope`
    /// as a space-delimited string, and any other shape refuses the token
    /// ([`ErrorKind::InvalidClaim`]). Applies to [`ScopeClaim::ScopeOrScp`] only.
    pub fn allow_scope_array(mut self, allow: bool) -> Self {
        self.allow_scope_array = allow;
        self
    }

    /// A claim that must be present (any value). `exp` always is.
    pub fn require_claim(mut self, name: impl Into<String>) -> Self {
        self.required.push(name.into().into_boxed_str());
        self
    }

    /// A top-level claim that must be a string equal to `value`; call again with the
    /// same name to accept several values (Keycloak's `typ`: `Bearer` or `DPoP`). A
    /// token without the claim is refused ([`ErrorKind::MissingClaim`]), one with
    /// another value or type too ([`ErrorKind::InvalidClaim`]), the claim's name as
    /// detail. Defaults to none.
    pub fn require_claim_value(
        mut self,
        name: impl Into<String>,
        value: impl Into<String>,
    ) -> Self {
        let name = name.into().into_boxed_str();
        let value = value.into().into_boxed_str();
        match self.claim_values.iter_mut().find(|(n, _)| *n == name) {
            Some((_, values)) => values.push(value),
            None => self.claim_values.push((name, vec![value])),
        }
        self
    }

    /// Forgets the values required of claim `name` so far (by
    /// [`ValidationBuilder::require_claim_value`] or a [`Preset`]), so that values
    /// required next replace them rather than add to them.
    pub fn without_claim_value(mut self, name: &str) -> Self {
        self.claim_values.retain(|(n, _)| **n != *name);
        self
    }

    /// Forgets every required claim and required claim value set so far (by
    /// [`ValidationBuilder::require_claim`], [`ValidationBuilder::require_claim_value`] or
    /// a [`Preset`]); `exp` and, under the RFC 9068 profile, its claims stay required.
    pub fn clear_required_claims(mut self) -> Self {
        self.required.clear();
        self.claim_values.clear();
        self
    }

    /// Where the token's roles (or groups, or permissions) are: a top-level claim name,
    /// or a JSON Pointer (RFC 6901) such as `/realm_access/roles`. Read by
    /// [`Claims::roles`] and the role requirements of
    /// [`ScopeRequirement`](crate::ScopeRequirement). Defaults to none (no token grants a
    /// role); a [`Preset`] sets its provider's.
    pub fn roles_claim(mut self, path: impl Into<String>) -> Self {
        self.roles_claim = Some(path.into());
        self
    }

    /// Reads no roles at all (undoes a preset's roles claim).
    pub fn without_roles_claim(mut self) -> Self {
        self.roles_claim = None;
        self
    }

    /// Which claim the audience rule reads. Defaults to [`AudienceClaim::Aud`]; the
    /// configured audiences are the values it must hold either way, and the rule is
    /// never skipped.
    pub fn audience_claim(mut self, claim: AudienceClaim) -> Self {
        self.audience_claim = claim;
        self
    }

    /// Starts from a provider's token shape: the `typ` rule, where scopes and roles are
    /// read, which claims are required, and (Cognito) which claim holds the audience.
    /// See [`Preset`] for what each sets. Call it first: every later setting overrides
    /// the preset's, one by one. A preset never touches the issuer, the audiences, the
    /// algorithms, the leeway or the key rules, so it never weakens them. Defaults to
    /// [`Preset::Rfc9068`], which is the builder's own defaults.
    pub fn preset(mut self, preset: Preset) -> Self {
        self.preset = preset;
        preset.apply(self)
    }

    /// A custom check run after every built-in one. `Err(reason)` refuses the token with
    /// [`ErrorKind::Rejected`]; the reason goes into [`Error::detail`] and, through the
    /// layers, to the client, so keep it short and free of secrets. An explanation
    /// calls it by its position (`check #1`); [`ValidationBuilder::named_check`] names
    /// it.
    pub fn check<F>(mut self, check: F) -> Self
    where
        F: Fn(&Claims) -> Result<(), String> + Send + Sync + 'static,
    {
        self.checks.push(CustomCheck {
            name: None,
            check: Arc::new(check),
        });
        self
    }

    /// [`ValidationBuilder::check`], named `name` for people: [`Validation::explain`]
    /// reports it as `check "tenant is acme"`, with its reason when it refuses. The name
    /// is never sent to clients.
    ///
    /// ```
    /// use std::time::{Duration, UNIX_EPOCH};
    /// use portcullis_jwt::{Outcome, Rule, Validation};
    ///
    /// let validation = Validation::builder()
    ///     .issuer("https://issuer.example")
    ///     .audience("https://orders.example.com")
    ///     .named_check("tenant is acme", |claims| match claims.get("tenant") {
    ///         Some(tenant) if tenant == "acme" => Ok(()),
    ///         _ => Err("another tenant".to_owned()),
    ///     })
    ///     .build()?;
    /// // {"alg":"EdDSA","typ":"at+jwt"}.{"iss":"https://issuer.example",
    /// // "aud":"https://orders.example.com","exp":2000000000,"tenant":"globex"}.signature
    /// let token = "eyJhbGciOiJFZERTQSIsInR5cCI6ImF0K2p3dCJ9.\
    ///     eyJpc3MiOiJodHRwczovL2lzc3Vlci5leGFtcGxlIiwiYXVkIjoiaHR0cHM6Ly9vcmRlcnMuZXhhbXBsZS5jb20iLCJleHAiOjIwMDAwMDAwMDAsInRlbmFudCI6Imdsb2JleCJ9.\
    ///     c2lnbmF0dXJl";
    /// let now = UNIX_EPOCH + Duration::from_secs(1_900_000_000);
    /// let explanation = validation.explain(token, None, now);
    /// let check = explanation
    ///     .steps()
    ///     .iter()
    ///     .find(|step| step.rule() == Rule::Check { index: 0 })
    ///     .unwrap();
    /// assert_eq!(check.outcome(), Outcome::Failed);
    /// assert_eq!(check.check_name(), Some("tenant is acme"));
    /// assert_eq!(
    ///     check.to_string(),
    ///     r#"FAIL        check "tenant is acme": refused: "another tenant""#
    /// );
    /// # Ok::<(), portcullis_jwt::ConfigError>(())
    /// ```
    pub fn named_check<F>(mut self, name: impl Into<String>, check: F) -> Self
    where
        F: Fn(&Claims) -> Result<(), String> + Send + Sync + 'static,
    {
        self.checks.push(CustomCheck {
            name: Some(name.into().into_boxed_str()),
            check: Arc::new(check),
        });
        self
    }

    pub(crate) fn accept_any_issuer(mut self) -> Self {
        self.any_issuer = true;
        self
    }

    pub(crate) fn accept_any_audience(mut self) -> Self {
        self.any_audience = true;
        self
    }

    /// Checks the configuration and builds it.
    ///
    /// # Errors
    /// No issuer or no audience (and not waived), an empty algorithm set, a leeway over
    /// 5 minutes, a zero size limit, or too many required claims.
    pub fn build(self) -> Result<Validation, ConfigError> {
        if self.issuers.is_empty() && !self.any_issuer {
            return Err(ConfigError::for_setting(
                "issuer",
                "no issuer configured; tokens must be checked against their issuer",
            ));
        }
        if self.audiences.is_empty() && !self.any_audience {
            return Err(ConfigError::for_setting(
                "audience",
                "no audience configured; tokens minted for other services would be accepted",
            ));
        }
        if self.issuers.iter().any(|i| i.is_empty()) {
            return Err(ConfigError::for_setting("issuer", "an empty issuer"));
        }
        if self.audiences.iter().any(|a| a.is_empty()) {
            return Err(ConfigError::for_setting("audience", "an empty audience"));
        }
        if self.algorithms.is_empty() {
            return Err(ConfigError::for_setting(
                "algorithms",
                "no algorithm allowed",
            ));
        }
        if self.leeway > MAX_LEEWAY {
            return Err(ConfigError::for_setting(
                "leeway",
                format!(
                    "a leeway of {:?} is over the {MAX_LEEWAY:?} maximum",
                    self.leeway
                ),
            ));
        }
        if self.max_token_size == 0 {
            return Err(ConfigError::for_setting(
                "max_token_size",
                "a maximum token size of zero",
            ));
        }
        if self.required.len() > MAX_REQUIRED_CLAIMS {
            return Err(ConfigError::for_setting(
                "require_claim",
                format!("more than {MAX_REQUIRED_CLAIMS} required claims"),
            ));
        }
        if let ScopeClaim::Named(name) = &self.scope_claim
            && name.is_empty()
        {
            return Err(ConfigError::for_setting(
                "scope_claim",
                "an empty scope claim name",
            ));
        }
        if self.claim_values.len() > MAX_REQUIRED_CLAIMS {
            return Err(ConfigError::for_setting(
                "require_claim_value",
                format!("more than {MAX_REQUIRED_CLAIMS} required claim values"),
            ));
        }
        if self.claim_values.iter().any(|(name, _)| name.is_empty()) {
            return Err(ConfigError::for_setting(
                "require_claim_value",
                "an empty claim name",
            ));
        }
        let roles_claim = self
            .roles_claim
            .as_deref()
            .map(ClaimPath::parse)
            .transpose()
            .map_err(|e| ConfigError::for_setting("roles_claim", e.message()))?;
        Ok(Validation {
            inner: Arc::new(Config {
                issuers: self.issuers,
                any_issuer: self.any_issuer,
                audiences: self.audiences,
                any_audience: self.any_audience,
                algorithms: self.algorithms,
                leeway: self.leeway.as_secs_f64(),
                max_age: self.max_age.map(|d| d.as_secs_f64()),
                require_access_token_type: self.require_access_token_type,
                require_kid: self.require_kid,
                max_token_size: self.max_token_size,
                scope_claim: self.scope_claim,
                allow_scope_array: self.allow_scope_array,
                required: self.required,
                claim_values: self.claim_values,
                roles_claim,
                audience_claim: self.audience_claim,
                preset: self.preset,
                checks: self.checks,
            }),
        })
    }
}

impl Validation {
    /// Parses and verifies `token` against `keys` at time `now`.
    ///
    /// # Errors
    /// Why the token is refused.
    pub fn verify(&self, token: &str, keys: &KeySet, now: SystemTime) -> Result<Claims, Error> {
        let parsed = self.parse(token)?;
        self.verify_parsed(&parsed, keys, now)
    }

    /// Parses `token` without verifying it, so a caller can look at the `kid` first.
    ///
    /// # Errors
    /// Why the token cannot even be parsed.
    pub fn parse<'a>(&self, token: &'a str) -> Result<UnverifiedToken<'a>, Error> {
        UnverifiedToken::parse(token, self.inner.max_token_size)
    }

    /// Checks the header of a parsed token against the rules that need no key:
    /// the algorithm allow-list and `typ`. [`Validation::verify_parsed`] runs it too.
    ///
    /// # Errors
    /// [`ErrorKind::AlgorithmNotAllowed`] or [`ErrorKind::InvalidType`].
    pub fn check_header(&self, token: &UnverifiedToken<'_>) -> Result<(), Error> {
        let header = token.header();
        self.check_algorithm(header)?;
        self.check_type(header)
    }

    pub(crate) fn check_algorithm(&self, header: &Header) -> Result<(), Error> {
        if self.inner.algorithms.contains(header.algorithm()) {
            Ok(())
        } else {
            Err(Error::new(ErrorKind::AlgorithmNotAllowed))
        }
    }

    pub(crate) fn check_type(&self, header: &Header) -> Result<(), Error> {
        match header.token_type() {
            TokenType::AccessToken => Ok(()),
            TokenType::Absent | TokenType::Jwt if !self.inner.require_access_token_type => Ok(()),
            _ => Err(Error::with_detail(ErrorKind::InvalidType, "typ")),
        }
    }

    /// Verifies a parsed token: header rules, key selection and signature, then claims.
    ///
    /// # Errors
    /// Why the token is refused. [`ErrorKind::UnknownKeyId`] means the `kid` is not in
    /// `keys`: a remote key set may refetch and call again.
    pub fn verify_parsed(
        &self,
        token: &UnverifiedToken<'_>,
        keys: &KeySet,
        now: SystemTime,
    ) -> Result<Claims, Error> {
        self.check_header(token)?;
        let key = self.verify_signature(token, keys)?;
        token.remember_header();
        let payload = decode_segment(token.payload_b64())?;
        let payload = String::from_utf8(payload)
            .map_err(|_| Error::with_detail(ErrorKind::Malformed, "payload"))?;
        let header = token.header();
        let verified_by = VerifiedBy::Jwt {
            algorithm: header.algorithm(),
            // A copy, not a shared `Arc`: a reference count that every request on every
            // core touches would bounce one cache line between cores.
            key_id: key.kid().map(Box::from),
            key_thumbprint: *key.thumbprint(),
        };
        self.check_payload(payload, verified_by, header.token_type(), now)
    }

    /// Finds the key for `token` and checks the signature with it.
    pub(crate) fn verify_signature<'k>(
        &self,
        token: &UnverifiedToken<'_>,
        keys: &'k KeySet,
    ) -> Result<&'k Key, Error> {
        let header = token.header();
        let alg = header.algorithm();
        let message = token.signing_input();
        let signature = token.signature();
        match header.kid() {
            Some(kid) => {
                let mut named = false;
                let mut usable = false;
                for key in keys.keys().iter().filter(|k| k.kid() == Some(kid)) {
                    named = true;
                    if key.supports(alg) {
                        usable = true;
                        if key.verify(alg, message, signature) {
                            return Ok(key);
                        }
                    }
                }
                Err(Error::new(if !named {
                    ErrorKind::UnknownKeyId
                } else if !usable {
                    ErrorKind::NoMatchingKey
                } else {
                    ErrorKind::InvalidSignature
                }))
            }
            None if self.inner.require_kid => {
                Err(Error::with_detail(ErrorKind::NoMatchingKey, "kid required"))
            }
            None => {
                let mut candidates = keys.keys().iter().filter(|k| k.supports(alg));
                match (candidates.next(), candidates.next()) {
                    (Some(key), None) => {
                        if key.verify(alg, message, signature) {
                            Ok(key)
                        } else {
                            Err(Error::new(ErrorKind::InvalidSignature))
                        }
                    }
                    (None, _) => Err(Error::new(ErrorKind::NoMatchingKey)),
                    (Some(_), Some(_)) => Err(Error::with_detail(
                        ErrorKind::NoMatchingKey,
                        "several keys and no kid",
                    )),
                }
            }
        }
    }

    /// Checks a claims object that was authenticated some other way: an RFC 7662
    /// introspection response, for example. Runs every claim rule; `exp` is required
    /// only for [`VerifiedBy::Jwt`].
    ///
    /// # Errors
    /// Why the claims are refused.
    pub fn check_claims_json(
        &self,
        payload: String,
        verified_by: VerifiedBy,
        now: SystemTime,
    ) -> Result<Claims, Error> {
        self.check_payload(payload, verified_by, TokenType::AccessToken, now)
    }

    fn check_payload(
        &self,
        payload: String,
        verified_by: VerifiedBy,
        typ: TokenType,
        now: SystemTime,
    ) -> Result<Claims, Error> {
        let read = self.read_payload(&payload)?;
        self.check_types(&read)?;
        self.check_id_token(&read, typ)?;
        let registered = read.registered(&payload, &verified_by);
        self.check_registered(&registered, now)?;
        self.check_profile(&read, &verified_by)?;
        self.check_required(&read)?;
        let claims = self.claims(read, verified_by, payload);
        self.check_claim_values(&claims)?;
        for custom in &self.inner.checks {
            (custom.check)(&claims)
                .map_err(|reason| Error::with_reason(ErrorKind::Rejected, reason))?;
        }
        Ok(claims)
    }

    /// Streams the payload into its typed registered claims.
    pub(crate) fn read_payload(&self, payload: &str) -> Result<ReadClaims, Error> {
        let mut sink = PayloadSink::new(&self.inner, payload);
        if !strict_json::read_object(payload, &mut sink) {
            return Err(Error::with_detail(ErrorKind::Malformed, "payload"));
        }
        Ok(sink.read)
    }

    /// A registered claim of the wrong JSON type (the first met).
    pub(crate) fn check_types(&self, read: &ReadClaims) -> Result<(), Error> {
        match read.invalid {
            Some(claim) => Err(Error::with_detail(ErrorKind::InvalidClaim, claim)),
            None => Ok(()),
        }
    }

    /// An ID-token claim without `typ: at+jwt`.
    pub(crate) fn check_id_token(&self, read: &ReadClaims, typ: TokenType) -> Result<(), Error> {
        if read.id_token_marker && typ != TokenType::AccessToken {
            Err(Error::new(ErrorKind::IdToken))
        } else {
            Ok(())
        }
    }

    /// RFC 9068 §2.2's claims of a JWT, in its order (`iss`, `exp` and `aud` are the
    /// registered rules').
    pub(crate) fn check_profile(
        &self,
        read: &ReadClaims,
        verified_by: &VerifiedBy,
    ) -> Result<(), Error> {
        if self.inner.require_access_token_type && matches!(verified_by, VerifiedBy::Jwt { .. }) {
            let profile = [
                ("sub", read.sub.is_some()),
                ("client_id", read.client_id.is_some()),
                ("iat", read.iat.is_some()),
                ("jti", read.jti.is_some()),
            ];
            if let Some((missing, _)) = profile.into_iter().find(|(_, present)| !present) {
                return Err(Error::with_detail(ErrorKind::MissingClaim, missing));
            }
        }
        Ok(())
    }

    /// The configured required claims, in their order.
    pub(crate) fn check_required(&self, read: &ReadClaims) -> Result<(), Error> {
        match self
            .inner
            .required
            .iter()
            .enumerate()
            .find(|(i, _)| read.required_seen & (1u64 << i) == 0)
        {
            Some((_, missing)) => Err(Error::with_reason(
                ErrorKind::MissingClaim,
                missing.to_string(),
            )),
            None => Ok(()),
        }
    }

    /// The configured required claim values, in their order.
    pub(crate) fn check_claim_values(&self, claims: &Claims) -> Result<(), Error> {
        let wanted = &self.inner.claim_values;
        if wanted.is_empty() {
            return Ok(());
        }
        // Only the wanted members are read, streaming: no map of the whole payload per
        // request (three presets want a claim value). The payload was read strictly
        // already, so it reads again.
        let Some(found) =
            strict_json::parse_object(claims.payload_json(), ClaimValueSink::new(wanted))
        else {
            return Err(Error::new(ErrorKind::Malformed));
        };
        for ((name, values), seen) in wanted.iter().zip(&found.seen) {
            match seen {
                ClaimValue::Absent => {
                    return Err(Error::with_reason(
                        ErrorKind::MissingClaim,
                        name.to_string(),
                    ));
                }
                ClaimValue::Text(value) if values.iter().any(|v| **v == **value) => {}
                ClaimValue::Text(_) | ClaimValue::Other => {
                    return Err(Error::with_reason(
                        ErrorKind::InvalidClaim,
                        name.to_string(),
                    ));
                }
            }
        }
        Ok(())
    }

    /// The claims object the rules accepted (or, for an explanation, read).
    pub(crate) fn claims(
        &self,
        read: ReadClaims,
        verified_by: VerifiedBy,
        payload: String,
    ) -> Claims {
        let config = &*self.inner;
        let scopes = match config.scope_claim {
            ScopeClaim::ScopeOrScp => read.scope.or(read.scp),
            ScopeClaim::Named(_) => read.scope,
        }
        .unwrap_or_default();
        Claims::new(ClaimsInner {
            issuer: read.iss,
            subject: read.sub,
            audiences: read.aud,
            expires_at: read.exp,
            not_before: read.nbf,
            issued_at: read.iat,
            jwt_id: read.jti,
            client_id: read.client_id,
            scopes,
            confirmation: read.cnf,
            verified_by,
            roles_claim: config.roles_claim.clone(),
            audience_claim: config.audience_claim,
            leeway: config.leeway,
            members: OnceLock::new(),
            payload: payload.into_boxed_str(),
        })
    }

    /// The custom checks, for an explanation.
    pub(crate) fn checks(&self) -> impl Iterator<Item = &CustomCheck> {
        self.inner.checks.iter()
    }

    pub(crate) fn config_max_age(&self) -> Option<f64> {
        self.inner.max_age
    }

    pub(crate) fn requires_access_token_type(&self) -> bool {
        self.inner.require_access_token_type
    }

    pub(crate) fn required_claims(&self) -> impl Iterator<Item = &str> {
        self.inner.required.iter().map(AsRef::as_ref)
    }

    pub(crate) fn required_claim_values(&self) -> impl Iterator<Item = (&str, &[Box<str>])> {
        self.inner
            .claim_values
            .iter()
            .map(|(name, values)| (&**name, values.as_slice()))
    }

    pub(crate) fn scope_claim_rule(&self) -> (&ScopeClaim, bool) {
        (&self.inner.scope_claim, self.inner.allow_scope_array)
    }

    pub(crate) fn waives_issuer(&self) -> bool {
        self.inner.any_issuer
    }

    pub(crate) fn waives_audience(&self) -> bool {
        self.inner.any_audience
    }

    /// Re-checks a verified token's time, issuer and audience rules at `now`, on its typed
    /// claims (no parsing): for results served from a cache, where `exp` may have passed
    /// since they were stored.
    ///
    /// # Errors
    /// [`ErrorKind::Expired`], [`ErrorKind::NotYetValid`], [`ErrorKind::TooOld`],
    /// [`ErrorKind::InvalidIssuer`] or [`ErrorKind::InvalidAudience`].
    pub fn recheck(&self, claims: &Claims, now: SystemTime) -> Result<(), Error> {
        let inner = claims.inner();
        self.check_registered(
            &Registered {
                exp: inner.expires_at,
                nbf: inner.not_before,
                iat: inner.issued_at,
                iss: claims.issuer(),
                aud: &inner.audiences,
                client_id: claims.client_id(),
                payload: &inner.payload,
                require_exp: matches!(claims.verified_by(), VerifiedBy::Jwt { .. }),
            },
            now,
        )
    }

    fn check_registered(&self, claims: &Registered<'_>, now: SystemTime) -> Result<(), Error> {
        // Read the clock's value once: this runs on every cache hit.
        let now = unix_seconds(now);
        for rule in RegisteredRule::ALL {
            self.check_registered_rule(rule, claims, now)?;
        }
        Ok(())
    }

    /// One of the time, issuer and audience rules, at `now` (Unix seconds).
    pub(crate) fn check_registered_rule(
        &self,
        rule: RegisteredRule,
        claims: &Registered<'_>,
        now: f64,
    ) -> Result<(), Error> {
        let config = &*self.inner;
        let leeway = config.leeway;
        match rule {
            RegisteredRule::Expiry => match claims.exp {
                Some(exp) if now >= exp.as_seconds_f64() + leeway => {
                    return Err(Error::with_detail(ErrorKind::Expired, "exp"));
                }
                Some(_) => {}
                None if claims.require_exp => {
                    return Err(Error::with_detail(ErrorKind::MissingClaim, "exp"));
                }
                None => {}
            },
            RegisteredRule::NotBefore => {
                if let Some(nbf) = claims.nbf
                    && now + leeway < nbf.as_seconds_f64()
                {
                    return Err(Error::with_detail(ErrorKind::NotYetValid, "nbf"));
                }
            }
            RegisteredRule::IssuedAt => {
                if let Some(iat) = claims.iat
                    && iat.as_seconds_f64() > now + leeway
                {
                    return Err(Error::with_detail(ErrorKind::IssuedInFuture, "iat"));
                }
            }
            RegisteredRule::MaxAge => {
                if let Some(max_age) = config.max_age {
                    match claims.iat {
                        None => return Err(Error::with_detail(ErrorKind::MissingClaim, "iat")),
                        Some(iat) if now - iat.as_seconds_f64() > max_age + leeway => {
                            return Err(Error::with_detail(ErrorKind::TooOld, "iat"));
                        }
                        Some(_) => {}
                    }
                }
            }
            RegisteredRule::Issuer => {
                if !config.any_issuer {
                    let known = claims
                        .iss
                        .is_some_and(|iss| config.issuers.iter().any(|i| **i == *iss));
                    if !known {
                        return Err(Error::with_detail(ErrorKind::InvalidIssuer, "iss"));
                    }
                }
            }
            RegisteredRule::Audience => {
                if !config.any_audience {
                    let known = |value: &str| config.audiences.iter().any(|a| **a == *value);
                    match config.audience_claim {
                        AudienceClaim::Aud => {
                            if !claims.aud.iter(claims.payload).any(known) {
                                return Err(Error::with_detail(ErrorKind::InvalidAudience, "aud"));
                            }
                        }
                        AudienceClaim::ClientId => {
                            if !claims.client_id.is_some_and(known) {
                                return Err(Error::with_detail(
                                    ErrorKind::InvalidAudience,
                                    "client_id",
                                ));
                            }
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// The algorithms this configuration accepts.
    pub fn algorithms(&self) -> AlgorithmSet {
        self.inner.algorithms
    }

    /// The issuers this configuration accepts (empty if waived).
    pub fn issuers(&self) -> impl Iterator<Item = &str> {
        self.inner.issuers.iter().map(AsRef::as_ref)
    }

    /// The audiences this configuration accepts (empty if waived).
    pub fn audiences(&self) -> impl Iterator<Item = &str> {
        self.inner.audiences.iter().map(AsRef::as_ref)
    }

    /// The configured maximum token size.
    pub fn max_token_size(&self) -> usize {
        self.inner.max_token_size
    }

    /// The configured leeway.
    pub fn leeway(&self) -> Duration {
        Duration::from_secs_f64(self.inner.leeway)
    }

    /// Where roles are read from, if anywhere.
    pub fn roles_claim(&self) -> Option<&ClaimPath> {
        self.inner.roles_claim.as_ref()
    }

    /// Which claim the audience rule reads.
    pub fn audience_claim(&self) -> AudienceClaim {
        self.inner.audience_claim
    }

    /// The preset the configuration started from ([`Preset::Rfc9068`] if none).
    pub fn preset(&self) -> Preset {
        self.inner.preset
    }
}

impl fmt::Debug for Validation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &self.inner;
        f.debug_struct("Validation")
            .field("issuers", &c.issuers)
            .field("any_issuer", &c.any_issuer)
            .field("audiences", &c.audiences)
            .field("any_audience", &c.any_audience)
            .field("algorithms", &c.algorithms)
            .field("leeway_secs", &c.leeway)
            .field("max_age_secs", &c.max_age)
            .field("require_access_token_type", &c.require_access_token_type)
            .field("require_kid", &c.require_kid)
            .field("max_token_size", &c.max_token_size)
            .field("scope_claim", &c.scope_claim)
            .field("allow_scope_array", &c.allow_scope_array)
            .field("required", &c.required)
            .field("claim_values", &c.claim_values)
            .field("roles_claim", &c.roles_claim)
            .field("audience_claim", &c.audience_claim)
            .field("preset", &c.preset)
            .field("checks", &c.checks.len())
            .finish()
    }
}

impl fmt::Debug for ValidationBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ValidationBuilder")
            .field("issuers", &self.issuers)
            .field("audiences", &self.audiences)
            .field("algorithms", &self.algorithms)
            .finish_non_exhaustive()
    }
}

/// The time, issuer and audience rules, in the order they are applied.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RegisteredRule {
    Expiry,
    NotBefore,
    IssuedAt,
    MaxAge,
    Issuer,
    Audience,
}

impl RegisteredRule {
    pub(crate) const ALL: [RegisteredRule; 6] = [
        RegisteredRule::Expiry,
        RegisteredRule::NotBefore,
        RegisteredRule::IssuedAt,
        RegisteredRule::MaxAge,
        RegisteredRule::Issuer,
        RegisteredRule::Audience,
    ];
}

/// The registered claims the time, issuer and audience rules read.
pub(crate) struct Registered<'a> {
    pub(crate) exp: Option<NumericDate>,
    pub(crate) nbf: Option<NumericDate>,
    pub(crate) iat: Option<NumericDate>,
    pub(crate) iss: Option<&'a str>,
    pub(crate) aud: &'a Audiences,
    pub(crate) client_id: Option<&'a str>,
    /// What `aud`'s spans point into.
    pub(crate) payload: &'a str,
    pub(crate) require_exp: bool,
}

/// What the payload's registered claims said, as read (string claims as spans of the
/// payload).
#[derive(Default)]
pub(crate) struct ReadClaims {
    pub(crate) iss: Option<Text>,
    pub(crate) sub: Option<Text>,
    pub(crate) aud: Audiences,
    pub(crate) exp: Option<NumericDate>,
    pub(crate) nbf: Option<NumericDate>,
    pub(crate) iat: Option<NumericDate>,
    pub(crate) jti: Option<Text>,
    pub(crate) client_id: Option<Text>,
    pub(crate) scope: Option<Scopes>,
    pub(crate) scp: Option<Scopes>,
    pub(crate) cnf: Option<Confirmation>,
    pub(crate) id_token_marker: bool,
    pub(crate) required_seen: u64,
    /// The first registered claim of the wrong type.
    pub(crate) invalid: Option<&'static str>,
}

impl ReadClaims {
    /// The claims the registered rules read, from `payload` (the one read).
    pub(crate) fn registered<'a>(
        &'a self,
        payload: &'a str,
        verified_by: &VerifiedBy,
    ) -> Registered<'a> {
        Registered {
            exp: self.exp,
            nbf: self.nbf,
            iat: self.iat,
            iss: self.iss.as_ref().map(|iss| iss.resolve(payload)),
            aud: &self.aud,
            client_id: self.client_id.as_ref().map(|c| c.resolve(payload)),
            payload,
            require_exp: matches!(verified_by, VerifiedBy::Jwt { .. }),
        }
    }
}

/// Collects the registered claims while the payload streams past.
struct PayloadSink<'c> {
    config: &'c Config,
    /// The payload being read: string claims are kept as spans of it.
    payload: &'c str,
    read: ReadClaims,
}

impl<'c> PayloadSink<'c> {
    fn new(config: &'c Config, payload: &'c str) -> Self {
        PayloadSink {
            config,
            payload,
            read: ReadClaims::default(),
        }
    }

    fn invalid(&mut self, claim: &'static str) {
        self.read.invalid.get_or_insert(claim);
    }

    fn string(&mut self, claim: &'static str, value: Member<'_>) -> Option<Text> {
        match value {
            Member::Str(s) => Some(Text::of(s, self.payload)),
            _ => {
                self.invalid(claim);
                None
            }
        }
    }

    fn date(&mut self, claim: &'static str, value: &Member<'_>) -> Option<NumericDate> {
        match *value {
            Member::Number(n) => NumericDate::from_seconds(n).or_else(|| {
                self.invalid(claim);
                None
            }),
            _ => {
                self.invalid(claim);
                None
            }
        }
    }
}

/// The scopes of a string or an array of strings; `None` for any other JSON value.
/// Which shapes a claim may take is the caller's rule.
fn scopes_of(value: Member<'_>) -> Option<Scopes> {
    match value {
        Member::Str(s) => Some(Scopes::parse(&s)),
        Member::Strings(list) => Some(Scopes::from_tokens(list)),
        _ => None,
    }
}

impl<'de> ObjectSink<'de> for PayloadSink<'_> {
    fn member(&mut self, name: &str, value: Value<'_, 'de>) -> Result<(), Malformed> {
        if let Some(i) = self.config.required.iter().position(|r| **r == *name) {
            self.read.required_seen |= 1 << i;
        }
        if let ScopeClaim::Named(scope_name) = &self.config.scope_claim
            && **scope_name == *name
        {
            self.read.scope = Some(scopes_of(value.read()?).unwrap_or_default());
            return Ok(());
        }
        match name {
            "iss" => self.read.iss = self.string("iss", value.read()?),
            "sub" => self.read.sub = self.string("sub", value.read()?),
            "jti" => self.read.jti = self.string("jti", value.read()?),
            "client_id" => self.read.client_id = self.string("client_id", value.read()?),
            "aud" => match value.read()? {
                Member::Str(s) => self.read.aud = Audiences::one(Text::of(s, self.payload)),
                Member::Strings(list) => {
                    let payload = self.payload;
                    self.read.aud = Audiences::list(list.into_iter().map(|s| Text::of(s, payload)));
                }
                _ => self.invalid("aud"),
            },
            "exp" => self.read.exp = self.date("exp", &value.read()?),
            "nbf" => self.read.nbf = self.date("nbf", &value.read()?),
            "iat" => self.read.iat = self.date("iat", &value.read()?),
            "scope" if self.config.scope_claim == ScopeClaim::ScopeOrScp => {
                match value.read()? {
                    member @ Member::Str(_) => self.read.scope = scopes_of(member),
                    member @ Member::Strings(_) if self.config.allow_scope_array => {
                        self.read.scope = scopes_of(member);
                    }
                    // Read as a scope list, an array (or a number) would be a guess at
                    // what the issuer meant: refuse rather than grant on a guess.
                    _ => self.invalid("scope"),
                }
            }
            "scp" if self.config.scope_claim == ScopeClaim::ScopeOrScp => {
                match scopes_of(value.read()?) {
                    Some(scopes) => self.read.scp = Some(scopes),
                    None => self.invalid("scp"),
                }
            }
            "cnf" => match confirmation_of(value.raw()?) {
                Some(cnf) => self.read.cnf = Some(cnf),
                None => self.invalid("cnf"),
            },
            "nonce" | "at_hash" | "c_hash" | "s_hash" => {
                value.skip()?;
                self.read.id_token_marker = true;
            }
            _ => value.skip()?,
        }
        Ok(())
    }
}

/// What the payload holds under a claim whose value is required.
enum ClaimValue<'de> {
    Absent,
    Text(std::borrow::Cow<'de, str>),
    Other,
}

/// Reads the members named by `ValidationBuilder::require_claim_value`, and only them.
struct ClaimValueSink<'c, 'de> {
    wanted: &'c [(Box<str>, Vec<Box<str>>)],
    seen: Vec<ClaimValue<'de>>,
}

impl<'c> ClaimValueSink<'c, '_> {
    fn new(wanted: &'c [(Box<str>, Vec<Box<str>>)]) -> Self {
        ClaimValueSink {
            wanted,
            seen: wanted.iter().map(|_| ClaimValue::Absent).collect(),
        }
    }
}

impl<'de> ObjectSink<'de> for ClaimValueSink<'_, 'de> {
    fn member(&mut self, name: &str, value: Value<'_, 'de>) -> Result<(), Malformed> {
        let Some(i) = self.wanted.iter().position(|(wanted, _)| **wanted == *name) else {
            return value.skip();
        };
        let read = match value.read()? {
            Member::Str(text) => ClaimValue::Text(text),
            _ => ClaimValue::Other,
        };
        if let Some(slot) = self.seen.get_mut(i) {
            *slot = read;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::algorithm::Algorithm;

    const NOW: u64 = 1_700_000_000;

    fn now() -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(NOW)
    }

    fn builder() -> ValidationBuilder {
        Validation::builder().issuer("https://iss").audience("api")
    }

    fn jwt() -> VerifiedBy {
        VerifiedBy::Jwt {
            algorithm: Algorithm::RS256,
            key_id: None,
            key_thumbprint: [0; 32],
        }
    }

    /// A payload with every claim RFC 9068 §2.2 requires, plus `extra` members.
    fn payload(extra: &str) -> String {
        format!(
            r#"{{"jti":"j1","sub":"alice","client_id":"app","iat":{NOW},"exp":{exp},"iss":"https://iss","aud":"api"{extra}}}"#,
            exp = NOW + 300
        )
    }

    fn check(validation: &Validation, payload: String) -> Result<Claims, Error> {
        validation.check_payload(payload, jwt(), TokenType::AccessToken, now())
    }

    fn scopes(claims: &Claims) -> Vec<&str> {
        claims.scopes().iter().collect()
    }

    #[test]
    fn a_refused_configuration_names_its_setting() {
        let setting = |builder: ValidationBuilder| builder.build().unwrap_err().setting();
        assert_eq!(
            setting(Validation::builder().audience("api")),
            Some("issuer")
        );
        assert_eq!(setting(Validation::builder().issuer("i")), Some("audience"));
        assert_eq!(setting(builder().audience("")), Some("audience"));
        assert_eq!(setting(builder().issuer("")), Some("issuer"));
        assert_eq!(
            setting(builder().leeway(Duration::from_secs(301))),
            Some("leeway")
        );
        assert_eq!(
            setting(builder().algorithms(AlgorithmSet::default())),
            Some("algorithms")
        );
        assert_eq!(setting(builder().max_token_size(0)), Some("max_token_size"));
        let many =
            (0..=MAX_REQUIRED_CLAIMS).fold(builder(), |b, i| b.require_claim(format!("c{i}")));
        assert_eq!(setting(many), Some("require_claim"));
        let error = builder()
            .leeway(Duration::from_secs(301))
            .build()
            .unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("invalid configuration: leeway: "),
            "{error}"
        );
    }

    #[test]
    fn rfc_9068_claims_are_required_of_jwts() {
        let v = builder().build().unwrap();
        check(&v, payload("")).unwrap();
        for claim in ["sub", "client_id", "iat", "jti"] {
            let without = remove(&payload(""), claim);
            let err = check(&v, without).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::MissingClaim, "{claim}");
            assert_eq!(err.detail(), Some(claim));
        }
        // Present but of the wrong type is another matter.
        let err = check(&v, payload("").replace(r#""jti":"j1""#, r#""jti":1"#)).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidClaim);
    }

    #[test]
    fn rfc_9068_claims_are_optional_elsewhere() {
        let mut bare = payload("");
        for claim in ["sub", "client_id", "iat", "jti"] {
            bare = remove(&bare, claim);
        }
        // RFC 7662 makes them optional in an introspection answer.
        let v = builder().build().unwrap();
        v.check_claims_json(bare.clone(), VerifiedBy::Introspection, now())
            .unwrap();
        // The relaxed profile requires only `exp` and what is asked for.
        let relaxed = builder().require_access_token_type(false).build().unwrap();
        check(&relaxed, bare.clone()).unwrap();
        let err = check(&relaxed, remove(&bare, "exp")).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::MissingClaim);
        assert_eq!(err.detail(), Some("exp"));
        let asked = builder()
            .require_access_token_type(false)
            .require_claim("jti")
            .build()
            .unwrap();
        let err = check(&asked, bare).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::MissingClaim);
        assert_eq!(err.detail(), Some("jti"));
    }

    /// `payload` without the member `claim` (a string or a number, not `aud`, the last).
    fn remove(payload: &str, claim: &str) -> String {
        let start = payload.find(&format!(r#""{claim}":"#)).unwrap();
        let end = start + payload[start..].find(',').unwrap() + 1;
        format!("{}{}", &payload[..start], &payload[end..])
    }

    #[test]
    fn scope_must_be_a_string_by_default() {
        let v = builder().build().unwrap();
        let ok = check(&v, payload(r#","scope":"read write""#)).unwrap();
        assert_eq!(scopes(&ok), ["read", "write"]);
        for bad in [
            r#"["read","write"]"#,
            "[]",
            "7",
            "true",
            "null",
            r#"{"a":1}"#,
        ] {
            let err = check(&v, payload(&format!(r#","scope":{bad}"#))).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidClaim, "{bad}");
            assert_eq!(err.detail(), Some("scope"), "{bad}");
        }
    }

    #[test]
    fn scope_arrays_when_allowed() {
        let v = builder().allow_scope_array(true).build().unwrap();
        let ok = check(&v, payload(r#","scope":["read","write"]"#)).unwrap();
        assert_eq!(scopes(&ok), ["read", "write"]);
        let ok = check(&v, payload(r#","scope":"read""#)).unwrap();
        assert_eq!(scopes(&ok), ["read"]);
        // An array of anything but strings is still no scope list.
        for bad in [r#"["read",1]"#, "7"] {
            let err = check(&v, payload(&format!(r#","scope":{bad}"#))).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidClaim, "{bad}");
            assert_eq!(err.detail(), Some("scope"), "{bad}");
        }
        assert!(format!("{v:?}").contains("allow_scope_array: true"));
    }

    #[test]
    fn scp_must_be_a_string_or_strings() {
        let v = builder().build().unwrap();
        let ok = check(&v, payload(r#","scp":["a","b"]"#)).unwrap();
        assert_eq!(scopes(&ok), ["a", "b"]);
        let ok = check(&v, payload(r#","scp":"a b""#)).unwrap();
        assert_eq!(scopes(&ok), ["a", "b"]);
        for bad in [r#"["a",1]"#, "7", "null", r#"{"a":"b"}"#] {
            let err = check(&v, payload(&format!(r#","scp":{bad}"#))).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidClaim, "{bad}");
            assert_eq!(err.detail(), Some("scp"), "{bad}");
        }
    }

    #[test]
    fn a_named_scope_claim_takes_a_string_or_an_array() {
        let v = builder()
            .scope_claim(ScopeClaim::Named("permissions".into()))
            .build()
            .unwrap();
        let ok = check(&v, payload(r#","permissions":["a","b"]"#)).unwrap();
        assert_eq!(scopes(&ok), ["a", "b"]);
        let ok = check(&v, payload(r#","permissions":"a b""#)).unwrap();
        assert_eq!(scopes(&ok), ["a", "b"]);
        // `scope` is not read at all then, whatever its shape.
        let ok = check(&v, payload(r#","scope":["x"],"permissions":"a""#)).unwrap();
        assert_eq!(scopes(&ok), ["a"]);
    }
}
