//! "Why was this token refused?": every rule of a [`Validation`], in the order
//! [`Validation::verify`] applies them, with what the token says and what the rule
//! wants, in plain words.
//!
//! Each rule is the one `verify` runs (the same code, called one rule at a time), so
//! an explanation's first failure is the error `verify` returns. An explanation is for
//! people (an operator facing a 401); a decision is `verify`'s.

use std::fmt::{self, Write as _};
use std::time::SystemTime;

use crate::claim_match::ClaimMatch;
use crate::claim_path::ClaimPath;
use crate::claims::{Claims, NumericDate, VerifiedBy};
use crate::clock::unix_seconds;
use crate::error::{Error, ErrorKind};
use crate::key::KeySet;
use crate::preset::Preset;
use crate::scope::{ScopeRequirement, Unmet};
use crate::token::{Header, TokenType, UnverifiedToken, decode_segment};
use crate::validation::{AudienceClaim, ReadClaims, RegisteredRule, ScopeClaim, Validation};

/// The most items of a list (audiences, scopes, roles, keys) a note names.
const MAX_LISTED: usize = 8;
/// The most characters of one value a note quotes.
const MAX_QUOTED: usize = 120;

/// One rule of a [`Validation`], as an [`Explanation`] lists them: in the order
/// [`Validation::verify`] applies them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Rule {
    /// The token's length against the size limit, before any decoding.
    Size,
    /// The compact serialization: three base64url segments, a JSON object header
    /// without duplicate members, a supported `alg`, no `crit` or `b64`.
    Format,
    /// The header `alg` in the configured allow-list.
    Algorithm,
    /// The header `typ` rule (`at+jwt`, or with the profile relaxed `JWT` or none).
    TokenType,
    /// A key of the key set for the token's `kid` and `alg`.
    Key,
    /// The signature, with that key.
    Signature,
    /// The payload: base64url-encoded UTF-8, a JSON object without duplicate members.
    Payload,
    /// The registered claims' JSON types (`iss` a string, `exp` a number, `scope` a
    /// string unless arrays are allowed, ...).
    ClaimTypes,
    /// No ID-token claim (`nonce`, `at_hash`, `c_hash`, `s_hash`) without `typ: at+jwt`.
    IdToken,
    /// `exp`: present and not past (with the leeway).
    Expiry,
    /// `nbf`: not in the future (with the leeway).
    NotBefore,
    /// `iat`: not in the future (with the leeway).
    IssuedAt,
    /// `iat` within the configured maximum token age.
    MaxAge,
    /// `iss`: one of the configured issuers.
    Issuer,
    /// `aud` (or `client_id`, under [`AudienceClaim::ClientId`]): one of the configured
    /// audiences.
    Audience,
    /// RFC 9068 §2.2's claims of a JWT access token: `sub`, `client_id`, `iat`, `jti`.
    ProfileClaims,
    /// The configured required claims.
    RequiredClaims,
    /// The configured required claim values.
    ClaimValues,
    /// Where the scopes come from, and what they are (never refuses by itself).
    Scopes,
    /// Where the roles come from, and what they are (never refuses by itself).
    Roles,
    /// A custom check ([`crate::ValidationBuilder::check`]), by its position (0 the
    /// first added).
    Check {
        /// The check's position among the custom checks.
        index: usize,
    },
    /// A route's [`ScopeRequirement`] ([`Explanation::requirement`]).
    Requirement,
    /// A route's condition on one claim ([`Explanation::claim_condition`]).
    ClaimCondition {
        /// How the claim is compared.
        matching: ClaimMatch,
    },
}

impl Rule {
    /// A short name for the rule: `size`, `format`, `alg`, `typ`, `key`, `signature`,
    /// `payload`, `claim types`, `ID-token claims`, `exp`, `nbf`, `iat`, `max age`,
    /// `iss`, `audience`, `RFC 9068 claims`, `required claims`, `claim values`,
    /// `scopes`, `roles`, `check`, `requirement`, and for a claim condition its name in
    /// configuration (`claim_equals`, `claim_contains`).
    pub const fn name(self) -> &'static str {
        match self {
            Rule::Size => "size",
            Rule::Format => "format",
            Rule::Algorithm => "alg",
            Rule::TokenType => "typ",
            Rule::Key => "key",
            Rule::Signature => "signature",
            Rule::Payload => "payload",
            Rule::ClaimTypes => "claim types",
            Rule::IdToken => "ID-token claims",
            Rule::Expiry => "exp",
            Rule::NotBefore => "nbf",
            Rule::IssuedAt => "iat",
            Rule::MaxAge => "max age",
            Rule::Issuer => "iss",
            Rule::Audience => "audience",
            Rule::ProfileClaims => "RFC 9068 claims",
            Rule::RequiredClaims => "required claims",
            Rule::ClaimValues => "claim values",
            Rule::Scopes => "scopes",
            Rule::Roles => "roles",
            Rule::Check { .. } => "check",
            Rule::Requirement => "requirement",
            Rule::ClaimCondition { matching } => matching.name(),
        }
    }
}

/// What became of one rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Outcome {
    /// The token meets the rule.
    Passed,
    /// The token does not meet the rule; [`Step::error`] is what `verify` would say.
    Failed,
    /// The rule could not be checked ([`Step::note`] says why: no key set, an
    /// unreadable payload, nothing configured).
    NotChecked,
}

impl Outcome {
    /// `pass`, `FAIL` or `not checked`.
    pub const fn label(self) -> &'static str {
        match self {
            Outcome::Passed => "pass",
            Outcome::Failed => "FAIL",
            Outcome::NotChecked => "not checked",
        }
    }
}

/// One rule of an [`Explanation`] and what became of it.
#[derive(Clone, Debug)]
pub struct Step {
    rule: Rule,
    outcome: Outcome,
    error: Option<Error>,
    note: String,
    hint: Option<&'static str>,
    unmet: Option<Unmet>,
    check_name: Option<Box<str>>,
}

impl Step {
    fn passed(rule: Rule, note: impl Into<String>) -> Step {
        Step {
            rule,
            outcome: Outcome::Passed,
            error: None,
            note: note.into(),
            hint: None,
            unmet: None,
            check_name: None,
        }
    }

    fn failed(rule: Rule, error: Error, note: impl Into<String>) -> Step {
        Step {
            rule,
            outcome: Outcome::Failed,
            error: Some(error),
            note: note.into(),
            hint: None,
            unmet: None,
            check_name: None,
        }
    }

    fn not_checked(rule: Rule, note: impl Into<String>) -> Step {
        Step {
            rule,
            outcome: Outcome::NotChecked,
            error: None,
            note: note.into(),
            hint: None,
            unmet: None,
            check_name: None,
        }
    }

    /// The rule.
    pub fn rule(&self) -> Rule {
        self.rule
    }

    /// Whether the token met it.
    pub fn outcome(&self) -> Outcome {
        self.outcome
    }

    /// For a failure of a token rule, the error [`Validation::verify`] returns for it
    /// (`None` for a [`Rule::Requirement`] failure: see [`Step::unmet`]).
    pub fn error(&self) -> Option<&Error> {
        self.error.as_ref()
    }

    /// What the token says and what the rule wants, in plain words (for a failure:
    /// `aud is ["account"]; this issuer accepts ["https://orders.example.com"]`). Values
    /// from the token are quoted and cut short; never the signature.
    pub fn note(&self) -> &str {
        &self.note
    }

    /// For a failure under a [`Preset`], the provider's usual cause, where
    /// `docs/providers.md` names one (Keycloak's audience mapper, Auth0's trailing
    /// slash, ...).
    pub fn hint(&self) -> Option<&str> {
        self.hint
    }

    /// For a failed [`Rule::Requirement`], the part of the requirement that is unmet.
    pub fn unmet(&self) -> Option<Unmet> {
        self.unmet
    }

    /// For a [`Rule::Check`] added with
    /// [`ValidationBuilder::named_check`](crate::ValidationBuilder::named_check), its
    /// name.
    pub fn check_name(&self) -> Option<&str> {
        self.check_name.as_deref()
    }

    fn named(mut self, name: Option<&str>) -> Step {
        self.check_name = name.map(Box::from);
        self
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let label = match (self.rule, &self.check_name) {
            (Rule::Check { .. }, Some(name)) => format!("check {}", quote_text(name)),
            (Rule::Check { index }, None) => format!("check #{}", index + 1),
            (rule, _) => rule.name().to_owned(),
        };
        write!(f, "{:<12}{label}: {}", self.outcome.label(), self.note)?;
        if let Some(hint) = self.hint {
            write!(f, "\n{:<12}hint: {hint}", "")?;
        }
        Ok(())
    }
}

/// Every rule of a [`Validation`] applied to one token, in the order
/// [`Validation::verify`] applies them, from [`Validation::explain`].
///
/// Rules after a failure are still checked where they can be, so one report names
/// every problem; [`Explanation::first_failure`] is the one `verify` reports. Holds
/// neither the token nor its signature; the payload only through
/// [`Explanation::unverified_payload`], which `Display` never prints.
pub struct Explanation {
    steps: Vec<Step>,
    preset: Preset,
    signature_checked: bool,
    /// The payload's claims, when they could be read (for a route's requirement).
    claims: Option<Claims>,
}

impl Explanation {
    /// Every rule, in order.
    pub fn steps(&self) -> &[Step] {
        &self.steps
    }

    /// The first rule the token fails: the one whose error [`Validation::verify`]
    /// returns (with the same key set and time).
    pub fn first_failure(&self) -> Option<&Step> {
        self.steps.iter().find(|s| s.outcome == Outcome::Failed)
    }

    /// Whether the signature was checked (a key set was given and a key found).
    pub fn signature_checked(&self) -> bool {
        self.signature_checked
    }

    /// Whether [`Validation::verify`] would accept the token: no rule fails and the
    /// signature was checked.
    pub fn is_accepted(&self) -> bool {
        self.signature_checked && self.first_failure().is_none()
    }

    /// The preset the rules start from.
    pub fn preset(&self) -> Preset {
        self.preset
    }

    /// The token's payload, decoded but **unverified** unless
    /// [`Explanation::is_accepted`]: for showing to whoever asked for it, never for a
    /// decision. `None` when it could not be decoded.
    pub fn unverified_payload(&self) -> Option<&str> {
        self.claims.as_ref().map(Claims::payload_json)
    }

    /// The claim at `path` (a top-level name or a JSON Pointer, as [`Claims::lookup`]
    /// reads it) of the **unverified** payload unless [`Explanation::is_accepted`]:
    /// for explaining a route's claim conditions, never for a decision.
    pub fn unverified_lookup(&self, path: &ClaimPath) -> Option<&serde_json::Value> {
        self.claims.as_ref().and_then(|claims| claims.lookup(path))
    }

    /// Whether the token's claims meet `requirement` at `now`
    /// ([`ScopeRequirement::unmet_at`]), as a [`Rule::Requirement`] step saying which
    /// parts fall short (every one, [`Step::unmet`] the first). Not checked when the payload could not be read; checked even
    /// when a token rule failed, for the record (the token is refused either way).
    pub fn requirement(&self, requirement: &ScopeRequirement, now: SystemTime) -> Step {
        let rule = Rule::Requirement;
        let Some(claims) = &self.claims else {
            return Step::not_checked(rule, "the payload could not be read");
        };
        // Every part that falls short, the first (the one the answer names) first.
        let unmet: Vec<Unmet> = requirement.every_unmet_at(claims, now).collect();
        match unmet.first() {
            None => Step::passed(rule, describe_requirement(requirement)),
            Some(&first) => Step {
                rule,
                outcome: Outcome::Failed,
                error: None,
                note: unmet
                    .iter()
                    .map(|part| unmet_note(requirement, claims, *part, now))
                    .collect::<Vec<_>>()
                    .join(". "),
                hint: None,
                unmet: Some(first),
                check_name: None,
            },
        }
    }

    /// Whether the claim at `path` meets a route's condition (`matching` it with
    /// `wanted`, as [`ClaimMatch::holds`] decides), as a [`Rule::ClaimCondition`] step
    /// saying what the claim is and what the route wants. Not checked when the payload
    /// could not be read; checked even when a token rule failed, for the record.
    ///
    /// ```
    /// use std::time::{Duration, UNIX_EPOCH};
    /// use portcullis_jwt::{ClaimMatch, ClaimPath, Outcome, Validation};
    /// use serde_json::json;
    ///
    /// let validation = Validation::builder()
    ///     .issuer("https://issuer.example")
    ///     .audience("https://orders.example.com")
    ///     .build()?;
    /// // {"alg":"EdDSA","typ":"at+jwt"}.{"iss":"https://issuer.example",
    /// // "aud":"https://orders.example.com","exp":2000000000,"tenant":"globex"}.signature
    /// let token = "eyJhbGciOiJFZERTQSIsInR5cCI6ImF0K2p3dCJ9.\
    ///     eyJpc3MiOiJodHRwczovL2lzc3Vlci5leGFtcGxlIiwiYXVkIjoiaHR0cHM6Ly9vcmRlcnMuZXhhbXBsZS5jb20iLCJleHAiOjIwMDAwMDAwMDAsInRlbmFudCI6Imdsb2JleCJ9.\
    ///     c2lnbmF0dXJl";
    /// let now = UNIX_EPOCH + Duration::from_secs(1_900_000_000);
    /// let explanation = validation.explain(token, None, now);
    /// let tenant = ClaimPath::parse("tenant")?;
    /// let step = explanation.claim_condition(ClaimMatch::Equals, &tenant, &json!("acme"));
    /// assert_eq!(step.outcome(), Outcome::Failed);
    /// assert_eq!(
    ///     step.note(),
    ///     r#"tenant is "globex"; this route requires it to equal "acme""#
    /// );
    /// # Ok::<(), portcullis_jwt::ConfigError>(())
    /// ```
    pub fn claim_condition(
        &self,
        matching: ClaimMatch,
        path: &ClaimPath,
        wanted: &serde_json::Value,
    ) -> Step {
        let rule = Rule::ClaimCondition { matching };
        let Some(claims) = &self.claims else {
            return Step::not_checked(rule, "the payload could not be read");
        };
        let found = claims.lookup(path);
        let name = plain_text(path.as_str());
        let verb = match matching {
            ClaimMatch::Equals => "equal",
            ClaimMatch::Contains => "contain",
        };
        if matching.matches(found, wanted) {
            Step::passed(rule, format!("{name} {verb}s {}", quote_json(wanted)))
        } else {
            let is = found.map_or_else(
                || format!("no {name}"),
                |value| format!("{name} is {}", quote_json(value)),
            );
            Step {
                rule,
                outcome: Outcome::Failed,
                error: None,
                note: format!(
                    "{is}; this route requires it to {verb} {}",
                    quote_json(wanted)
                ),
                hint: None,
                unmet: None,
                check_name: None,
            }
        }
    }
}

impl fmt::Debug for Explanation {
    /// The steps, never the payload.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Explanation")
            .field("steps", &self.steps)
            .field("preset", &self.preset)
            .field("signature_checked", &self.signature_checked)
            .finish_non_exhaustive()
    }
}

impl fmt::Display for Explanation {
    /// A verdict line, then one line per rule (and a hint line under a failure with
    /// one). Never the payload, never the signature.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.first_failure() {
            Some(step) => {
                let error = step
                    .error
                    .as_ref()
                    .map_or_else(String::new, |e| format!(" ({})", e));
                writeln!(f, "refused by {}{error}", step.rule.name())?;
            }
            None if self.signature_checked => writeln!(f, "accepted")?,
            None => writeln!(f, "no rule refuses it, but the signature was not checked")?,
        }
        for step in &self.steps {
            writeln!(f, "  {}", step.to_string().replace('\n', "\n  "))?;
        }
        Ok(())
    }
}

impl Validation {
    /// Explains what [`Validation::verify`] makes of `token` with `keys` at `now`: every
    /// rule, in the order `verify` applies them, passed, failed or not checked, with
    /// what the token says and what the rule wants in plain words, and, under a
    /// [`Preset`], the provider's usual cause of a failure.
    ///
    /// `keys: None` explains without a key set: the key and the signature are "not
    /// checked" and every other rule is checked on the unverified claims. With a key
    /// set, the first failure ([`Explanation::first_failure`]) is the error `verify`
    /// returns, and no failure means `verify` accepts. The token is bounded by the
    /// same size limit as `verify`'s.
    ///
    /// ```
    /// use std::time::{Duration, UNIX_EPOCH};
    /// use portcullis_jwt::{ErrorKind, Outcome, Rule, Validation};
    ///
    /// let validation = Validation::builder()
    ///     .issuer("https://issuer.example")
    ///     .audience("https://orders.example.com")
    ///     .build()?;
    /// // Header {"alg":"EdDSA","typ":"at+jwt"}; payload {"iss":"https://issuer.example",
    /// // "aud":"account","exp":2000000000}; a made-up signature.
    /// let token = "eyJhbGciOiJFZERTQSIsInR5cCI6ImF0K2p3dCJ9.\
    ///     eyJpc3MiOiJodHRwczovL2lzc3Vlci5leGFtcGxlIiwiYXVkIjoiYWNjb3VudCIsImV4cCI6MjAwMDAwMDAwMH0.\
    ///     c2lnbmF0dXJl";
    /// let now = UNIX_EPOCH + Duration::from_secs(1_900_000_000);
    /// let explanation = validation.explain(token, None, now);
    /// let failure = explanation.first_failure().unwrap();
    /// assert_eq!(failure.rule(), Rule::Audience);
    /// assert_eq!(failure.error().unwrap().kind(), ErrorKind::InvalidAudience);
    /// assert_eq!(
    ///     failure.note(),
    ///     r#"aud is ["account"]; this issuer accepts ["https://orders.example.com"]"#
    /// );
    /// let signature = explanation.steps().iter().find(|s| s.rule() == Rule::Signature);
    /// assert_eq!(signature.unwrap().outcome(), Outcome::NotChecked);
    /// # Ok::<(), portcullis_jwt::ConfigError>(())
    /// ```
    pub fn explain(&self, token: &str, keys: Option<&KeySet>, now: SystemTime) -> Explanation {
        let mut explainer = Explainer {
            validation: self,
            steps: Vec::new(),
            signature_checked: false,
        };
        let claims = explainer.run(token, keys, now);
        let preset = self.preset();
        let mut steps = explainer.steps;
        for step in &mut steps {
            if step.outcome == Outcome::Failed {
                step.hint = hint(preset, step);
            }
        }
        Explanation {
            steps,
            preset,
            signature_checked: explainer.signature_checked,
            claims,
        }
    }
}

struct Explainer<'v> {
    validation: &'v Validation,
    steps: Vec<Step>,
    signature_checked: bool,
}

/// The rules from `from` on, not checked for `why`.
const AFTER_FORMAT: [Rule; 5] = [
    Rule::Algorithm,
    Rule::TokenType,
    Rule::Key,
    Rule::Signature,
    Rule::Payload,
];

impl Explainer<'_> {
    fn push(&mut self, step: Step) {
        self.steps.push(step);
    }

    fn not_checked(&mut self, rules: &[Rule], why: &str) {
        for rule in rules {
            self.push(Step::not_checked(*rule, why));
        }
    }

    fn claim_rules_not_checked(&mut self, why: &str) {
        self.not_checked(
            &[
                Rule::ClaimTypes,
                Rule::IdToken,
                Rule::Expiry,
                Rule::NotBefore,
                Rule::IssuedAt,
                Rule::MaxAge,
                Rule::Issuer,
                Rule::Audience,
                Rule::ProfileClaims,
                Rule::RequiredClaims,
                Rule::ClaimValues,
                Rule::Scopes,
                Rule::Roles,
            ],
            why,
        );
        let validation = self.validation;
        for (index, custom) in validation.checks().enumerate() {
            self.push(Step::not_checked(Rule::Check { index }, why).named(custom.name.as_deref()));
        }
    }

    fn run(&mut self, token: &str, keys: Option<&KeySet>, now: SystemTime) -> Option<Claims> {
        let v = self.validation;
        let max = v.max_token_size();
        if token.len() > max {
            self.push(Step::failed(
                Rule::Size,
                Error::new(ErrorKind::TooLarge),
                format!("{} bytes; this issuer accepts at most {max}", token.len()),
            ));
            self.not_checked(&[Rule::Format], "too large to decode");
            self.not_checked(&AFTER_FORMAT, "too large to decode");
            self.claim_rules_not_checked("too large to decode");
            return None;
        }
        self.push(Step::passed(
            Rule::Size,
            format!("{} bytes (at most {max})", token.len()),
        ));
        let parsed = match UnverifiedToken::parse(token, max) {
            Ok(parsed) => parsed,
            Err(error) => {
                let note = format_note(&error);
                self.push(Step::failed(Rule::Format, error, note));
                self.not_checked(&AFTER_FORMAT, "the token could not be parsed");
                self.claim_rules_not_checked("the token could not be parsed");
                return None;
            }
        };
        let header = parsed.header();
        self.push(Step::passed(Rule::Format, header_note(header)));
        self.push(match v.check_algorithm(header) {
            Ok(()) => Step::passed(
                Rule::Algorithm,
                format!("{} is allowed", header.algorithm()),
            ),
            Err(error) => Step::failed(
                Rule::Algorithm,
                error,
                format!(
                    "alg is {}; this issuer accepts {}",
                    header.algorithm(),
                    list(v.algorithms().iter().map(|a| a.name().to_owned()), false)
                ),
            ),
        });
        self.push(match v.check_type(header) {
            Ok(()) => Step::passed(
                Rule::TokenType,
                format!("{} is accepted", typ_words(header)),
            ),
            Err(error) => {
                let wants = if v.requires_access_token_type() {
                    "this issuer requires at+jwt (RFC 9068 §2.1)"
                } else {
                    "this issuer accepts at+jwt, JWT or none"
                };
                Step::failed(
                    Rule::TokenType,
                    error,
                    format!("{}; {wants}", typ_words(header)),
                )
            }
        });
        let key = match keys {
            None => {
                self.not_checked(&[Rule::Key, Rule::Signature], "no key set given");
                None
            }
            Some(keys) => self.key_and_signature(&parsed, keys),
        };
        let payload = match decode_segment(parsed.payload_b64())
            .and_then(|bytes| {
                String::from_utf8(bytes)
                    .map_err(|_| Error::with_detail(ErrorKind::Malformed, "payload"))
            })
            .and_then(|payload| v.read_payload(&payload).map(|read| (payload, read)))
        {
            Ok(read) => read,
            Err(error) => {
                self.push(Step::failed(
                    Rule::Payload,
                    error,
                    "not a base64url-encoded JSON object without duplicate members",
                ));
                self.claim_rules_not_checked("the payload could not be read");
                return None;
            }
        };
        let (payload, read) = payload;
        self.push(Step::passed(
            Rule::Payload,
            format!("a JSON object of {} bytes", payload.len()),
        ));
        let verified_by = VerifiedBy::Jwt {
            algorithm: header.algorithm(),
            key_id: key.as_ref().and_then(|(kid, _)| kid.clone()),
            key_thumbprint: key.map_or([0; 32], |(_, thumbprint)| thumbprint),
        };
        // The payload again as a tree, to say what the token holds (bounded by the size
        // limit, and already read strictly above).
        let members = serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(&payload)
            .unwrap_or_default();
        self.claim_rules(
            &read,
            &members,
            &payload,
            &verified_by,
            header.token_type(),
            now,
        );
        let claims = v.claims(read, verified_by, payload);
        self.claim_values(&claims, &members);
        self.scopes_and_roles(&claims);
        for (index, custom) in v.checks().enumerate() {
            let rule = Rule::Check { index };
            let step = match (custom.check)(&claims) {
                Ok(()) => Step::passed(rule, "accepted"),
                Err(reason) => {
                    let note = format!("refused: {}", quote_text(&reason));
                    Step::failed(rule, Error::with_reason(ErrorKind::Rejected, reason), note)
                }
            };
            self.push(step.named(custom.name.as_deref()));
        }
        Some(claims)
    }

    /// The key and signature steps; the chosen key's `kid` and thumbprint.
    fn key_and_signature(
        &mut self,
        parsed: &UnverifiedToken<'_>,
        keys: &KeySet,
    ) -> Option<(Option<Box<str>>, [u8; 32])> {
        let header = parsed.header();
        let alg = header.algorithm();
        match self.validation.verify_signature(parsed, keys) {
            Ok(key) => {
                self.signature_checked = true;
                let which = match key.kid() {
                    Some(kid) => format!("kid {}", quote_text(kid)),
                    None => format!("the only key for {alg}"),
                };
                self.push(Step::passed(Rule::Key, which));
                self.push(Step::passed(Rule::Signature, format!("verifies ({alg})")));
                Some((key.kid().map(Box::from), *key.thumbprint()))
            }
            Err(error) if error.kind() == ErrorKind::InvalidSignature => {
                self.push(Step::passed(
                    Rule::Key,
                    match header.kid() {
                        Some(kid) => format!("kid {}", quote_text(kid)),
                        None => format!("the only key for {alg}"),
                    },
                ));
                self.push(Step::failed(
                    Rule::Signature,
                    error,
                    format!(
                        "does not verify with the key set's key for {alg}: signed by \
                         another key, or altered"
                    ),
                ));
                None
            }
            Err(error) => {
                let kids = list(
                    keys.keys()
                        .iter()
                        .map(|k| k.kid().unwrap_or("(no kid)").to_owned()),
                    true,
                );
                let note = match (error.kind(), header.kid()) {
                    (ErrorKind::UnknownKeyId, Some(kid)) => format!(
                        "kid {} is not in the key set (kids {kids})",
                        quote_text(kid)
                    ),
                    (_, Some(kid)) => format!(
                        "no key with kid {} can verify {alg} (kids {kids})",
                        quote_text(kid)
                    ),
                    (_, None) => match error.detail() {
                        Some("kid required") => "no kid; this issuer requires one".to_owned(),
                        Some("several keys and no kid") => format!(
                            "no kid, and several keys can verify {alg}: the token must name one"
                        ),
                        _ => format!("no kid, and no key in the set can verify {alg}"),
                    },
                };
                self.push(Step::failed(Rule::Key, error, note));
                self.push(Step::not_checked(
                    Rule::Signature,
                    "no key to check it with",
                ));
                None
            }
        }
    }

    #[allow(clippy::too_many_lines)]
    fn claim_rules(
        &mut self,
        read: &ReadClaims,
        members: &serde_json::Map<String, serde_json::Value>,
        payload: &str,
        verified_by: &VerifiedBy,
        typ: TokenType,
        now: SystemTime,
    ) {
        let v = self.validation;
        self.push(match v.check_types(read) {
            Ok(()) => Step::passed(Rule::ClaimTypes, "registered claims have their types"),
            Err(error) => {
                let claim = error.detail().unwrap_or_default().to_owned();
                let note = type_note(v, &claim, members.get(&claim));
                Step::failed(Rule::ClaimTypes, error, note)
            }
        });
        self.push(match v.check_id_token(read, typ) {
            Ok(()) if read.id_token_marker => {
                Step::passed(Rule::IdToken, "ID-token claims, but typed at+jwt")
            }
            Ok(()) => Step::passed(Rule::IdToken, "none"),
            Err(error) => {
                let markers: Vec<String> = ["nonce", "at_hash", "c_hash", "s_hash"]
                    .into_iter()
                    .filter(|m| members.contains_key(*m))
                    .map(str::to_owned)
                    .collect();
                Step::failed(
                    Rule::IdToken,
                    error,
                    format!(
                        "carries {} and is not typed at+jwt: an ID token, which is never an \
                         access token",
                        markers.join(", ")
                    ),
                )
            }
        });
        let registered = read.registered(payload, verified_by);
        let now_secs = unix_seconds(now);
        let leeway = v.leeway().as_secs_f64();
        for rule in RegisteredRule::ALL {
            let result = v.check_registered_rule(rule, &registered, now_secs);
            let step = match rule {
                RegisteredRule::Expiry => {
                    let note = match read.exp {
                        None => "no exp; it is always required".to_owned(),
                        Some(exp) => time_note("exp", exp, now_secs, leeway),
                    };
                    step_of(Rule::Expiry, result, note)
                }
                RegisteredRule::NotBefore => {
                    let note = match read.nbf {
                        None => "no nbf".to_owned(),
                        Some(nbf) => time_note("nbf", nbf, now_secs, leeway),
                    };
                    step_of(Rule::NotBefore, result, note)
                }
                RegisteredRule::IssuedAt => {
                    let note = match read.iat {
                        None => "no iat".to_owned(),
                        Some(iat) => time_note("iat", iat, now_secs, leeway),
                    };
                    step_of(Rule::IssuedAt, result, note)
                }
                RegisteredRule::MaxAge => match (v.config_max_age(), read.iat) {
                    (None, _) => Step::not_checked(Rule::MaxAge, "no maximum age configured"),
                    (Some(max), None) => step_of(
                        Rule::MaxAge,
                        result,
                        format!("no iat; a maximum age of {max} s requires it"),
                    ),
                    (Some(max), Some(iat)) => step_of(
                        Rule::MaxAge,
                        result,
                        format!(
                            "issued {} s ago; this issuer accepts at most {max} s (leeway \
                             {leeway} s)",
                            seconds(now_secs - iat.as_seconds_f64())
                        ),
                    ),
                },
                RegisteredRule::Issuer => {
                    if v.waives_issuer() {
                        Step::not_checked(Rule::Issuer, "waived (dangerous)")
                    } else {
                        let accepts = list(v.issuers().map(str::to_owned), true);
                        let note = match (&result, registered.iss) {
                            (Ok(()), Some(iss)) => format!("iss {}", quote_text(iss)),
                            (_, Some(iss)) => {
                                format!("iss is {}; this issuer accepts {accepts}", quote_text(iss))
                            }
                            (_, None) => format!("no iss; this issuer accepts {accepts}"),
                        };
                        step_of(Rule::Issuer, result, note)
                    }
                }
                RegisteredRule::Audience => {
                    if v.waives_audience() {
                        Step::not_checked(Rule::Audience, "waived (dangerous)")
                    } else {
                        let accepts = list(v.audiences().map(str::to_owned), true);
                        let note = match v.audience_claim() {
                            AudienceClaim::Aud => {
                                let aud: Vec<String> =
                                    registered.aud.iter(payload).map(str::to_owned).collect();
                                match (&result, aud.is_empty()) {
                                    (Ok(()), _) => format!("aud {}", list(aud, true)),
                                    (_, true) => format!("no aud; this issuer accepts {accepts}"),
                                    (_, false) => format!(
                                        "aud is {}; this issuer accepts {accepts}",
                                        list(aud, true)
                                    ),
                                }
                            }
                            _ => match (&result, registered.client_id) {
                                (Ok(()), Some(id)) => format!("client_id {}", quote_text(id)),
                                (_, Some(id)) => format!(
                                    "client_id is {}; this issuer accepts the clients {accepts} \
                                     (its audience rule reads client_id)",
                                    quote_text(id)
                                ),
                                (_, None) => format!(
                                    "no client_id; this issuer's audience rule reads client_id \
                                     and accepts {accepts}"
                                ),
                            },
                        };
                        step_of(Rule::Audience, result, note)
                    }
                }
            };
            self.push(step);
        }
        self.push(if v.requires_access_token_type() {
            let result = v.check_profile(read, verified_by);
            let note = match &result {
                Ok(()) => "sub, client_id, iat and jti present".to_owned(),
                Err(error) => format!(
                    "no {}; RFC 9068 §2.2 requires sub, client_id, iat and jti of a JWT \
                     access token (a preset relaxes the profile for providers that do not \
                     follow it)",
                    error.detail().unwrap_or_default()
                ),
            };
            step_of(Rule::ProfileClaims, result, note)
        } else {
            Step::not_checked(Rule::ProfileClaims, "the RFC 9068 profile is relaxed")
        });
        let required: Vec<String> = v.required_claims().map(str::to_owned).collect();
        let result = v.check_required(read);
        let note = match (&result, required.is_empty()) {
            (Ok(()), true) => "none configured".to_owned(),
            (Ok(()), false) => format!("present: {}", list(required, false)),
            (Err(error), _) => format!(
                "no {}; this issuer requires {}",
                quote_text(error.detail().unwrap_or_default()),
                list(required, false)
            ),
        };
        self.push(step_of(Rule::RequiredClaims, result, note));
    }

    fn claim_values(
        &mut self,
        claims: &Claims,
        members: &serde_json::Map<String, serde_json::Value>,
    ) {
        let v = self.validation;
        let result = v.check_claim_values(claims);
        let wanted: Vec<(&str, &[Box<str>])> = v.required_claim_values().collect();
        let describe = |name: &str, values: &[Box<str>]| {
            format!(
                "{name} one of {}",
                list(values.iter().map(|s| s.to_string()), true)
            )
        };
        let note = match &result {
            Ok(()) if wanted.is_empty() => "none configured".to_owned(),
            Ok(()) => wanted
                .iter()
                .map(|(name, values)| match members.get(*name) {
                    Some(value) => format!(
                        "{name} is {} (one of {})",
                        quote_json(value),
                        list(values.iter().map(|s| s.to_string()), true)
                    ),
                    None => describe(name, values),
                })
                .collect::<Vec<_>>()
                .join("; "),
            Err(error) => {
                let name = error.detail().unwrap_or_default();
                let wants = wanted
                    .iter()
                    .find(|(n, _)| *n == name)
                    .map(|(n, values)| describe(n, values))
                    .unwrap_or_default();
                match members.get(name) {
                    None => format!("no {name}; this issuer requires {wants}"),
                    Some(value) => format!(
                        "{name} is {}; this issuer requires {wants}",
                        quote_json(value)
                    ),
                }
            }
        };
        self.push(step_of(Rule::ClaimValues, result, note));
    }

    fn scopes_and_roles(&mut self, claims: &Claims) {
        let (scope_claim, arrays) = self.validation.scope_claim_rule();
        let source = match scope_claim {
            ScopeClaim::Named(name) => format!("read from {}", quote_text(name)),
            _ if arrays => "read from scope as a string or an array, else scp".to_owned(),
            _ => "read from scope as a string, else scp".to_owned(),
        };
        let scopes = claims.scopes();
        self.push(Step::passed(
            Rule::Scopes,
            if scopes.is_empty() {
                format!("none granted; {source}")
            } else {
                format!(
                    "{}; {source}",
                    list(scopes.iter().map(str::to_owned), false)
                )
            },
        ));
        self.push(match claims.roles_claim() {
            None => Step::not_checked(Rule::Roles, "no roles claim configured"),
            Some(path) => {
                let roles: Vec<String> = claims.roles().map(str::to_owned).collect();
                if roles.is_empty() {
                    Step::passed(
                        Rule::Roles,
                        format!("none granted at {}", quote_text(path.as_str())),
                    )
                } else {
                    Step::passed(
                        Rule::Roles,
                        format!("{} at {}", list(roles, false), quote_text(path.as_str())),
                    )
                }
            }
        });
    }
}

fn step_of(rule: Rule, result: Result<(), Error>, note: String) -> Step {
    match result {
        Ok(()) => Step::passed(rule, note),
        Err(error) => Step::failed(rule, error, note),
    }
}

fn header_note(header: &Header) -> String {
    let kid = header.kid().map_or_else(
        || "no kid".to_owned(),
        |kid| format!("kid {}", quote_text(kid)),
    );
    format!(
        "a signed JWT; alg {}, {kid}, {}",
        header.algorithm(),
        typ_words(header)
    )
}

fn typ_words(header: &Header) -> &'static str {
    match header.token_type() {
        TokenType::AccessToken => "typ at+jwt",
        TokenType::Jwt => "typ JWT",
        TokenType::Absent => "no typ",
        _ => "typ neither at+jwt nor JWT",
    }
}

fn format_note(error: &Error) -> String {
    match error.kind() {
        ErrorKind::Encrypted => {
            "five segments: an encrypted token (JWE); only signed tokens are accepted".to_owned()
        }
        ErrorKind::UnsupportedAlgorithm => {
            "the header's alg is not one Portcullis implements (none included)".to_owned()
        }
        ErrorKind::UnsupportedHeader => {
            "the header carries crit or b64, extensions Portcullis does not understand".to_owned()
        }
        _ => match error.detail() {
            Some(detail) => format!(
                "not a compact JWS ({detail}): three base64url segments, a JSON object header \
                 without duplicate members"
            ),
            None => "not a compact JWS: three base64url segments, a JSON object header \
                     without duplicate members"
                .to_owned(),
        },
    }
}

fn type_note(validation: &Validation, claim: &str, value: Option<&serde_json::Value>) -> String {
    let is = value.map_or("not of its type", json_type);
    let wants = match claim {
        "iss" | "sub" | "jti" | "client_id" => "a string",
        "aud" => "a string or an array of strings",
        "exp" | "nbf" | "iat" => "a number of seconds since 1970",
        "scope" => {
            let (rule, arrays) = validation.scope_claim_rule();
            match rule {
                ScopeClaim::ScopeOrScp if !arrays => {
                    "a space-delimited string (RFC 9068 §2.2.3); an array needs \
                     allow_scope_array"
                }
                _ => "a string or an array of strings",
            }
        }
        "scp" => "a string or an array of strings",
        "cnf" => "a confirmation object (RFC 7800)",
        _ => "its registered type",
    };
    format!("{claim} is {is}; it must be {wants}")
}

fn json_type(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number (or out of range)",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(items) if items.iter().all(serde_json::Value::is_string) => {
            "an array of strings"
        }
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

fn time_note(name: &str, at: NumericDate, now: f64, leeway: f64) -> String {
    let delta = at.as_seconds_f64() - now;
    let when = if delta >= 0.0 {
        format!("in {} s", seconds(delta))
    } else {
        format!("{} s ago", seconds(-delta))
    };
    format!(
        "{name} {} ({when}; leeway {} s)",
        at.as_seconds(),
        seconds(leeway)
    )
}

/// Whole seconds, for notes.
fn seconds(secs: f64) -> i64 {
    // Saturating: the note of an absurd date must not panic.
    secs.round().clamp(i64::MIN as f64, i64::MAX as f64) as i64
}

/// `["a", "b"]` (quoted) or `[a, b]`, at most [`MAX_LISTED`] items.
fn list(items: impl IntoIterator<Item = String>, quoted: bool) -> String {
    let mut out = String::from("[");
    let mut count = 0;
    let mut more = 0;
    for item in items {
        if count == MAX_LISTED {
            more += 1;
            continue;
        }
        if count > 0 {
            out.push_str(", ");
        }
        if quoted {
            out.push_str(&quote_text(&item));
        } else {
            out.push_str(&plain_text(&item));
        }
        count += 1;
    }
    if more > 0 {
        let _ = write!(out, ", and {more} more");
    }
    out.push(']');
    out
}

/// `text`, cut to [`MAX_QUOTED`] characters.
fn cut(text: &str) -> (&str, bool) {
    match text.char_indices().nth(MAX_QUOTED) {
        Some((at, _)) => (&text[..at], true),
        None => (text, false),
    }
}

/// A value from the token, quoted with escapes (no control character reaches a
/// terminal), cut short.
fn quote_text(text: &str) -> String {
    let (text, cut_short) = cut(text);
    let mut quoted = format!("{text:?}");
    if cut_short {
        quoted.push('…');
    }
    quoted
}

/// A scope or role, unquoted unless it needs escapes.
fn plain_text(text: &str) -> String {
    let (short, cut_short) = cut(text);
    if short.chars().all(|c| c.is_ascii_graphic()) {
        let mut out = short.to_owned();
        if cut_short {
            out.push('…');
        }
        out
    } else {
        quote_text(text)
    }
}

fn quote_json(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(text) => quote_text(text),
        other => {
            // JSON escapes quotes and C0 controls in strings already; what it leaves
            // (C1 controls) is escaped here, so no control character reaches a terminal.
            let text = other.to_string();
            let (short, cut_short) = cut(&text);
            let mut escaped = String::with_capacity(short.len());
            for c in short.chars() {
                if c.is_control() {
                    escaped.extend(c.escape_debug());
                } else {
                    escaped.push(c);
                }
            }
            if cut_short { escaped + "…" } else { escaped }
        }
    }
}

fn describe_requirement(requirement: &ScopeRequirement) -> String {
    let mut parts = Vec::new();
    let all: Vec<String> = requirement.all().map(str::to_owned).collect();
    let any: Vec<String> = requirement.any().map(str::to_owned).collect();
    let roles_all: Vec<String> = requirement.roles_all().map(str::to_owned).collect();
    let roles_any: Vec<String> = requirement.roles_any().map(str::to_owned).collect();
    let audiences: Vec<String> = requirement.audiences().map(str::to_owned).collect();
    let acr: Vec<String> = requirement.acr_values().map(str::to_owned).collect();
    if !audiences.is_empty() {
        parts.push(format!("audience one of {}", list(audiences, true)));
    }
    if !acr.is_empty() {
        parts.push(format!("acr one of {}", list(acr, true)));
    }
    if let Some(max_age) = requirement.max_age() {
        parts.push(format!("authenticated within {} s", max_age.as_secs()));
    }
    if !all.is_empty() {
        parts.push(format!("scopes all of {}", list(all, false)));
    }
    if !any.is_empty() {
        parts.push(format!("scopes any of {}", list(any, false)));
    }
    if !roles_all.is_empty() {
        parts.push(format!("roles all of {}", list(roles_all, false)));
    }
    if !roles_any.is_empty() {
        parts.push(format!("roles any of {}", list(roles_any, false)));
    }
    if parts.is_empty() {
        "any token the issuer accepts".to_owned()
    } else {
        format!("met: {}", parts.join("; "))
    }
}

fn unmet_note(
    requirement: &ScopeRequirement,
    claims: &Claims,
    unmet: Unmet,
    now: SystemTime,
) -> String {
    match unmet {
        Unmet::Audience => format!(
            "audience: the token was accepted for {}; this route requires one of {}",
            list(claims.accepted_audiences().map(str::to_owned), true),
            list(requirement.audiences().map(str::to_owned), true)
        ),
        Unmet::UserAuthentication => {
            let mut why = Vec::new();
            let acr_values: Vec<String> = requirement.acr_values().map(str::to_owned).collect();
            if !acr_values.is_empty() {
                let acr = match claims.get("acr") {
                    Some(value) => format!("acr is {}", quote_json(value)),
                    None => "no acr".to_owned(),
                };
                why.push(format!(
                    "{acr}; this route requires one of {}",
                    list(acr_values, true)
                ));
            }
            if let Some(max_age) = requirement.max_age() {
                let auth_time = match claims.get("auth_time") {
                    Some(serde_json::Value::Number(n)) => match n.as_f64() {
                        Some(at) => format!(
                            "the user authenticated {} s ago",
                            seconds(unix_seconds(now) - at)
                        ),
                        None => "auth_time is not a time".to_owned(),
                    },
                    Some(value) => format!("auth_time is {}", quote_json(value)),
                    None => "no auth_time".to_owned(),
                };
                why.push(format!(
                    "{auth_time}; this route requires authentication within {} s",
                    max_age.as_secs()
                ));
            }
            format!("user authentication: {}", why.join("; "))
        }
        Unmet::Scope => {
            let granted = list(claims.scopes().iter().map(str::to_owned), false);
            let missing: Vec<String> = requirement
                .all()
                .filter(|s| !claims.scopes().contains(s))
                .map(str::to_owned)
                .collect();
            let any: Vec<String> = requirement.any().map(str::to_owned).collect();
            let mut wants = Vec::new();
            if !missing.is_empty() {
                wants.push(format!("{} missing", list(missing, false)));
            }
            if !any.is_empty() && !any.iter().any(|s| claims.scopes().contains(s)) {
                wants.push(format!("none of {}", list(any, false)));
            }
            format!("scopes: granted {granted}; {}", wants.join(", "))
        }
        _ => {
            let held = list(claims.roles().map(str::to_owned), false);
            let path = claims
                .roles_claim()
                .map_or_else(|| "no roles claim".to_owned(), |p| p.as_str().to_owned());
            let missing: Vec<String> = requirement
                .roles_all()
                .filter(|r| !claims.has_role(r))
                .map(str::to_owned)
                .collect();
            let any: Vec<String> = requirement.roles_any().map(str::to_owned).collect();
            let mut wants = Vec::new();
            if !missing.is_empty() {
                wants.push(format!("{} missing", list(missing, false)));
            }
            if !any.is_empty() && !any.iter().any(|r| claims.has_role(r)) {
                wants.push(format!("none of {}", list(any, false)));
            }
            format!(
                "roles: granted {held} (at {}); {}",
                quote_text(&path),
                wants.join(", ")
            )
        }
    }
}

/// The provider's usual cause of a failure, from `docs/providers.md`.
fn hint(preset: Preset, step: &Step) -> Option<&'static str> {
    let detail = step.error.as_ref().and_then(Error::detail);
    match (preset, step.rule, detail) {
        (Preset::Keycloak, Rule::Audience, _) => Some(
            "Keycloak puts your API's client id in aud only with an Audience mapper (on a \
             client scope of the calling client); aud \"account\" alone is a token for \
             Keycloak's account console",
        ),
        (Preset::Keycloak, Rule::ClaimValues, Some("typ")) => Some(
            "Keycloak's ID tokens say typ \"ID\" and its refresh tokens \"Refresh\": send the \
             access token",
        ),
        (Preset::Keycloak, Rule::Issuer, _) => Some(
            "Keycloak's issuer is https://HOST/realms/REALM exactly (no trailing slash; /auth \
             before /realms on older versions)",
        ),
        (Preset::Entra, Rule::ClaimValues, Some("ver")) => Some(
            "a v1.0 token: set accessTokenAcceptedVersion to 2 in the API's app registration \
             manifest, or configure v1.0 tokens as docs/providers.md shows",
        ),
        (Preset::Entra, Rule::Issuer, _) => Some(
            "Entra v2.0 issuers are https://login.microsoftonline.com/TENANT_ID/v2.0, v1.0 \
             ones https://sts.windows.net/TENANT_ID/; configure one issuer per tenant",
        ),
        (Preset::Entra, Rule::Audience, _) => Some(
            "aud 00000003-0000-0000-c000-000000000000 is Microsoft Graph's: request a token \
             for your API's scope; v2.0 tokens carry the API's client id, v1.0 its \
             Application ID URI",
        ),
        (Preset::Entra, Rule::Signature, _) => Some(
            "tokens for Microsoft Graph carry a header nonce and cannot be verified by \
             design: they are not for your API",
        ),
        (Preset::Entra, Rule::RequiredClaims, Some("azp")) => {
            Some("no azp: a v1.0 token (appid instead) or an ID token")
        }
        (Preset::Auth0, Rule::Issuer, _) => {
            Some("Auth0's issuer ends with a slash: https://TENANT.REGION.auth0.com/")
        }
        (Preset::Auth0, Rule::Audience, _) => Some(
            "the client must request your API's identifier as audience, or Auth0 issues a \
             token for /userinfo",
        ),
        (Preset::Okta, Rule::Issuer | Rule::Key, _) => Some(
            "use a custom authorization server (https://DOMAIN/oauth2/AUTH_SERVER_ID): the \
             org authorization server's tokens are for Okta's own APIs",
        ),
        (Preset::Cognito, Rule::Audience, _) => Some(
            "Cognito access tokens carry no aud: the audiences are the app client ids, \
             compared with client_id",
        ),
        (Preset::Cognito, Rule::ClaimValues, Some("token_use")) => {
            Some("token_use \"id\" is a Cognito ID token: send the access token")
        }
        (Preset::SpringAuthorizationServer, Rule::Audience, _) => Some(
            "Spring Authorization Server sets aud to the client id unless an \
             OAuth2TokenCustomizer sets your API's audience",
        ),
        (Preset::Zitadel, Rule::Format | Rule::Size, _) => Some(
            "ZITADEL issues opaque access tokens unless the application's access token type \
             is JWT: use introspection for opaque ones",
        ),
        (Preset::Rfc9068, Rule::TokenType | Rule::ProfileClaims, _) => Some(
            "many providers do not follow RFC 9068: a preset for yours relaxes the typ rule \
             (docs/providers.md)",
        ),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_escapes_and_cuts() {
        assert_eq!(quote_text("a\u{1b}[31m"), r#""a\u{1b}[31m""#);
        let long = "x".repeat(MAX_QUOTED + 5);
        assert!(quote_text(&long).ends_with("x\"…"));
        assert_eq!(plain_text("read"), "read");
        assert_eq!(plain_text("two words"), r#""two words""#);
        let many = list((0..20).map(|i| i.to_string()), false);
        assert!(many.ends_with(", and 12 more]"), "{many}");
    }

    #[test]
    fn json_values_are_shown_as_json_without_control_characters() {
        let value = serde_json::json!(["a\u{1b}", "b\u{9b}", {"c": 1}]);
        assert_eq!(quote_json(&value), r#"["a\u001b","b\u{9b}",{"c":1}]"#);
    }

    #[test]
    fn absurd_times_do_not_panic() {
        assert_eq!(seconds(f64::MAX), i64::MAX);
        assert_eq!(seconds(f64::MIN), i64::MIN);
    }
}
