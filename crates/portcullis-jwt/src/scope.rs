//! OAuth 2.0 scopes (RFC 6749 §3.3) and requirements on them.

use std::fmt;
use std::time::{Duration, SystemTime};

use crate::ConfigError;
use crate::claims::{Claims, NumericDate};
use crate::clock::unix_seconds;

/// The scopes a token grants: a set of scope tokens.
///
/// Built from the `scope` claim (a space-delimited string) or `scp` (an array of
/// strings, or a string). A malformed value grants nothing at all: a scope list with a
/// tab, a comma, an empty token (two spaces, a leading or trailing space), a quote, a
/// backslash or a non-ASCII character is treated as empty, never partly honoured.
///
/// It keeps the validated list as the token gave it (one allocation, built on every
/// verification); [`Scopes::iter`], [`Scopes::len`], equality and hashing see it as a set,
/// sorted and without repeats.
#[derive(Clone, Default)]
pub struct Scopes {
    /// Valid scope tokens joined by single spaces, in the token's order (repeats
    /// possible); empty for no scopes.
    listed: Box<str>,
}

impl Scopes {
    /// No scopes.
    pub fn empty() -> Scopes {
        Scopes::default()
    }

    /// Parses a space-delimited scope string. Malformed input yields the empty set.
    pub fn parse(scope: &str) -> Scopes {
        if is_scope_list(scope) {
            Scopes {
                listed: scope.into(),
            }
        } else {
            Scopes::empty()
        }
    }

    /// Builds the set from individual scope tokens (an `scp` array). If any token is
    /// not a valid scope token, the result is empty.
    pub fn from_tokens<I, S>(tokens: I) -> Scopes
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut listed = String::new();
        for token in tokens {
            let token = token.as_ref();
            if !is_scope_token(token) {
                return Scopes::empty();
            }
            if !listed.is_empty() {
                listed.push(' ');
            }
            listed.push_str(token);
        }
        Scopes {
            listed: listed.into_boxed_str(),
        }
    }

    /// The tokens as listed (repeats possible).
    fn listed(&self) -> impl Iterator<Item = &str> {
        self.listed.split(' ').filter(|token| !token.is_empty())
    }

    /// Whether the set holds `scope`.
    pub fn contains(&self, scope: &str) -> bool {
        self.listed().any(|held| held == scope)
    }

    /// The scopes, in sorted order, each once. The set keeps the list as the token gave
    /// it, so this sorts a list of borrowed slices on every call; membership alone is
    /// [`Scopes::contains`], which does not.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        let mut sorted: Vec<&str> = self.listed().collect();
        sorted.sort_unstable();
        sorted.dedup();
        sorted.into_iter()
    }

    /// The number of distinct scopes (counted through [`Scopes::iter`]).
    pub fn len(&self) -> usize {
        self.iter().count()
    }

    /// Whether no scope is granted.
    pub fn is_empty(&self) -> bool {
        self.listed.is_empty()
    }
}

impl PartialEq for Scopes {
    fn eq(&self, other: &Scopes) -> bool {
        self.listed == other.listed || self.iter().eq(other.iter())
    }
}

impl Eq for Scopes {}

impl std::hash::Hash for Scopes {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        for scope in self.iter() {
            scope.hash(state);
        }
    }
}

impl fmt::Debug for Scopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

impl fmt::Display for Scopes {
    /// The space-delimited form, sorted.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, scope) in self.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            f.write_str(scope)?;
        }
        Ok(())
    }
}

/// Whether `scope` is one or more scope tokens separated by single spaces. One pass,
/// no allocation: it runs on every verification.
fn is_scope_list(scope: &str) -> bool {
    let bytes = scope.as_bytes();
    let mut previous_space = true; // a leading space is an empty first token
    let mut ok = !bytes.is_empty();
    for &b in bytes {
        let space = b == b' ';
        ok &= (is_scope_byte(b) | space) & !(space & previous_space);
        previous_space = space;
    }
    ok & !previous_space
}

/// RFC 6749 §3.3: `scope-token = 1*( %x21 / %x23-5B / %x5D-7E )`, narrowed by one
/// character: a comma is refused, because `"read,write"` is a misconfigured list far more
/// often than a scope name, and guessing would grant the wrong thing.
pub fn is_scope_token(token: &str) -> bool {
    !token.is_empty() && token.bytes().all(is_scope_byte)
}

/// `%x21 / %x23-2B / %x2D-5B / %x5D-7E`: printable ASCII but space, `"`, `,` and `\`.
fn is_scope_byte(b: u8) -> bool {
    (b.wrapping_sub(0x21) < 0x5E) & (b != b'"') & (b != b',') & (b != b'\\')
}

/// What a route requires of a token: its scopes (every scope of an all-of list, and
/// at least one of an any-of list, or both: `all_of(..)?.and_any_of(..)?`), and
/// optionally its roles ([`ScopeRequirement::and_roles_all_of`],
/// [`ScopeRequirement::and_roles_any_of`]), one of a narrower set of audiences
/// ([`ScopeRequirement::and_audience_any_of`]) and how the user authenticated (RFC 9470
/// step-up: [`ScopeRequirement::and_acr_values`], [`ScopeRequirement::and_max_age`]).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct ScopeRequirement {
    all: Box<[Box<str>]>,
    any: Box<[Box<str>]>,
    roles_all: Box<[Box<str>]>,
    roles_any: Box<[Box<str>]>,
    audiences: Box<[Box<str>]>,
    acr_values: Box<[Box<str>]>,
    max_age: Option<Duration>,
}

/// The longest role name a requirement may list, in bytes.
pub const MAX_ROLE_LENGTH: usize = 256;

/// The longest `acr` value a requirement may list, in bytes.
pub const MAX_ACR_VALUE_LENGTH: usize = 256;

/// The first part of a [`ScopeRequirement`] a token does not meet, in the order they
/// are checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Unmet {
    /// The token's accepted audiences ([`Claims::accepted_audiences`]) hold none of
    /// the requirement's: the token was not minted for this resource (RFC 9068 §4:
    /// `invalid_token`).
    Audience,
    /// The user's authentication falls short (RFC 9470 §3:
    /// `insufficient_user_authentication`): the token's `acr` is not one of
    /// [`ScopeRequirement::and_acr_values`], or its `auth_time` is older than
    /// [`ScopeRequirement::and_max_age`] allows (or either claim is missing or not of
    /// its type).
    UserAuthentication,
    /// A scope is missing (`insufficient_scope`).
    Scope,
    /// A role is missing ([`Claims::roles`]).
    Role,
}

impl Unmet {
    /// The order in which the parts are checked.
    const ORDER: [Unmet; 4] = [
        Unmet::Audience,
        Unmet::UserAuthentication,
        Unmet::Scope,
        Unmet::Role,
    ];
}

impl ScopeRequirement {
    /// Every listed scope must be granted. An empty list is always satisfied.
    ///
    /// # Errors
    /// If a listed scope is not a valid scope token.
    pub fn all_of<I, S>(scopes: I) -> Result<ScopeRequirement, crate::ConfigError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        Ok(ScopeRequirement {
            all: scope_list(scopes)?,
            any: Box::default(),
            roles_all: Box::default(),
            roles_any: Box::default(),
            audiences: Box::default(),
            acr_values: Box::default(),
            max_age: None,
        })
    }

    /// At least one listed scope must be granted.
    ///
    /// # Errors
    /// If the list is empty (nothing could satisfy it) or a scope is not a valid token.
    pub fn any_of<I, S>(scopes: I) -> Result<ScopeRequirement, crate::ConfigError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        ScopeRequirement::all_of(Vec::<&str>::new())?.and_any_of(scopes)
    }

    /// Also requires at least one of `scopes`, beside this requirement's all-of list:
    /// `all_of(["orders"])?.and_any_of(["read", "admin"])?`.
    ///
    /// # Errors
    /// If the list is empty, a scope is not a valid token, or the requirement already
    /// has an any-of list.
    pub fn and_any_of<I, S>(mut self, scopes: I) -> Result<ScopeRequirement, crate::ConfigError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        if !self.any.is_empty() {
            return Err(crate::ConfigError::new(
                "the requirement already has an any-of list",
            ));
        }
        let any = scope_list(scopes)?;
        if any.is_empty() {
            return Err(crate::ConfigError::new(
                "an any-of scope requirement needs at least one scope",
            ));
        }
        self.any = any;
        Ok(self)
    }

    /// Also requires every role of `roles` ([`Claims::roles`], read where the
    /// validation's roles claim says). An empty list is always satisfied.
    ///
    /// # Errors
    /// A role that is empty, longer than [`MAX_ROLE_LENGTH`] or has a control
    /// character, or a requirement that already has a roles all-of list.
    pub fn and_roles_all_of<I, S>(mut self, roles: I) -> Result<ScopeRequirement, ConfigError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        if !self.roles_all.is_empty() {
            return Err(ConfigError::for_setting(
                "and_roles_all_of",
                "the requirement already has a roles all-of list",
            ));
        }
        self.roles_all = name_list(roles, "and_roles_all_of")?;
        Ok(self)
    }

    /// Also requires at least one role of `roles`.
    ///
    /// # Errors
    /// An empty list, a role as [`ScopeRequirement::and_roles_all_of`] refuses it, or a
    /// requirement that already has a roles any-of list.
    pub fn and_roles_any_of<I, S>(mut self, roles: I) -> Result<ScopeRequirement, ConfigError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        if !self.roles_any.is_empty() {
            return Err(ConfigError::for_setting(
                "and_roles_any_of",
                "the requirement already has a roles any-of list",
            ));
        }
        let roles = name_list(roles, "and_roles_any_of")?;
        if roles.is_empty() {
            return Err(ConfigError::for_setting(
                "and_roles_any_of",
                "an any-of role requirement needs at least one role",
            ));
        }
        self.roles_any = roles;
        Ok(self)
    }

    /// Also requires the token to have been accepted for one of `audiences`
    /// ([`Claims::accepted_audiences`]): a route narrower than its issuer's audiences.
    ///
    /// # Errors
    /// An empty list, an empty audience, or a requirement that already has audiences.
    pub fn and_audience_any_of<I, S>(
        mut self,
        audiences: I,
    ) -> Result<ScopeRequirement, ConfigError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        if !self.audiences.is_empty() {
            return Err(ConfigError::for_setting(
                "and_audience_any_of",
                "the requirement already has audiences",
            ));
        }
        let audiences = name_list(audiences, "and_audience_any_of")?;
        if audiences.is_empty() {
            return Err(ConfigError::for_setting(
                "and_audience_any_of",
                "an audience requirement needs at least one audience",
            ));
        }
        self.audiences = audiences;
        Ok(self)
    }

    /// Also requires the token's `acr` claim (the authentication context class the
    /// user authenticated with, OpenID Connect Core §2) to be one of `values`, listed in
    /// order of preference as RFC 9470 §3's `acr_values` challenge parameter sends them
    /// to the client. A token without `acr`, or with one that is not a string, falls
    /// short.
    ///
    /// # Errors
    /// An empty list, a value that is empty, longer than [`MAX_ACR_VALUE_LENGTH`] or
    /// not printable ASCII without space, `"` or `\` (the challenge lists them
    /// space-separated in a quoted string), or a requirement that already has `acr`
    /// values.
    pub fn and_acr_values<I, S>(mut self, values: I) -> Result<ScopeRequirement, ConfigError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        const SETTING: &str = "and_acr_values";
        if !self.acr_values.is_empty() {
            return Err(ConfigError::for_setting(
                SETTING,
                "the requirement already has acr values",
            ));
        }
        let mut list: Vec<Box<str>> = Vec::new();
        for value in values {
            let value = value.as_ref();
            if !is_acr_value(value) {
                return Err(ConfigError::for_setting(
                    SETTING,
                    format!(
                        "{value:?}: must be non-empty, at most {MAX_ACR_VALUE_LENGTH} bytes of \
                         printable ASCII without space, '\"' or '\\'"
                    ),
                ));
            }
            if !list.iter().any(|v| v.as_ref() == value) {
                list.push(value.into());
            }
        }
        if list.is_empty() {
            return Err(ConfigError::for_setting(
                SETTING,
                "an acr requirement needs at least one value",
            ));
        }
        self.acr_values = list.into_boxed_slice();
        Ok(self)
    }

    /// Also requires the user to have authenticated at most `max_age` ago: the token's
    /// `auth_time` (OpenID Connect Core §2), with the leeway of the validation that
    /// accepted the token, at the time [`ScopeRequirement::unmet_at`] is given. A token
    /// without `auth_time`, with one that is not a number, or with one further in the
    /// future than the leeway, falls short. Zero asks for an authentication within the
    /// leeway.
    ///
    /// # Errors
    /// A `max_age` that is not a whole number of seconds (RFC 9470 §3's `max_age`
    /// challenge parameter counts seconds, and the rule checked must be the one the
    /// client is told), or a requirement that already has one.
    pub fn and_max_age(mut self, max_age: Duration) -> Result<ScopeRequirement, ConfigError> {
        const SETTING: &str = "and_max_age";
        if self.max_age.is_some() {
            return Err(ConfigError::for_setting(
                SETTING,
                "the requirement already has a max_age",
            ));
        }
        if max_age.subsec_nanos() != 0 {
            return Err(ConfigError::for_setting(
                SETTING,
                format!("{max_age:?} is not a whole number of seconds"),
            ));
        }
        self.max_age = Some(max_age);
        Ok(self)
    }

    /// Whether `granted` satisfies the scope part of the requirement.
    pub fn is_satisfied_by(&self, granted: &Scopes) -> bool {
        self.all.iter().all(|s| granted.contains(s))
            && (self.any.is_empty() || self.any.iter().any(|s| granted.contains(s)))
    }

    /// The first part of the requirement `claims` do not meet at `now` (audience, then
    /// user authentication, then scopes, then roles), or `None` when they meet all of it.
    ///
    /// The order is the order of the answers: a token minted for another resource is
    /// refused outright (401 `invalid_token`); a token whose user authentication falls
    /// short must be replaced after the user authenticates again (401), and the new
    /// token may carry other scopes and roles, so asking for scopes first (403) would
    /// send the client to the authorization server twice.
    pub fn unmet_at(&self, claims: &Claims, now: SystemTime) -> Option<Unmet> {
        self.first_unmet(claims, Some(now))
    }

    /// [`ScopeRequirement::unmet_at`] without a time: the same answer for a requirement
    /// without [`ScopeRequirement::and_max_age`]; with one, which it cannot check,
    /// never `None` (it fails closed: [`Unmet::UserAuthentication`] unless the audience
    /// is unmet).
    pub fn unmet(&self, claims: &Claims) -> Option<Unmet> {
        self.first_unmet(claims, None)
    }

    /// Every part of the requirement `claims` do not meet at `now`, in
    /// [`ScopeRequirement::unmet_at`]'s order (its first is `unmet_at`'s answer): for
    /// explaining, where the whole story helps more than the answer.
    pub fn every_unmet_at<'s>(
        &'s self,
        claims: &'s Claims,
        now: SystemTime,
    ) -> impl Iterator<Item = Unmet> + 's {
        Unmet::ORDER
            .into_iter()
            .filter(move |part| !self.meets(*part, claims, Some(now)))
    }

    /// The first unmet part, at `now` if known (a `max_age` is unmet when it is not).
    fn first_unmet(&self, claims: &Claims, now: Option<SystemTime>) -> Option<Unmet> {
        Unmet::ORDER
            .into_iter()
            .find(|part| !self.meets(*part, claims, now))
    }

    /// Whether `claims` meet one part of the requirement, at `now` if known.
    fn meets(&self, part: Unmet, claims: &Claims, now: Option<SystemTime>) -> bool {
        match part {
            Unmet::Audience => {
                self.audiences.is_empty()
                    || claims
                        .accepted_audiences()
                        .any(|held| self.audiences.iter().any(|a| **a == *held))
            }
            Unmet::UserAuthentication => self.user_authentication_met(claims, now),
            Unmet::Scope => self.is_satisfied_by(claims.scopes()),
            Unmet::Role => {
                let held = |role: &str| claims.has_role(role);
                self.roles_all.iter().all(|r| held(r))
                    && (self.roles_any.is_empty() || self.roles_any.iter().any(|r| held(r)))
            }
        }
    }

    /// Whether `claims` meet the `acr` and `max_age` parts at `now` (`None`: unknown,
    /// so a `max_age` is not met).
    fn user_authentication_met(&self, claims: &Claims, now: Option<SystemTime>) -> bool {
        if !self.acr_values.is_empty() {
            let acr = match claims.get("acr") {
                Some(serde_json::Value::String(acr)) => acr.as_str(),
                _ => return false,
            };
            if !self.acr_values.iter().any(|v| **v == *acr) {
                return false;
            }
        }
        if let Some(max_age) = self.max_age {
            let Some(now) = now else { return false };
            let auth_time = match claims.get("auth_time") {
                Some(serde_json::Value::Number(n)) => {
                    n.as_f64().and_then(NumericDate::from_seconds)
                }
                _ => None,
            };
            let Some(auth_time) = auth_time else {
                return false;
            };
            let (now, leeway) = (unix_seconds(now), claims.leeway_secs());
            let age = now - auth_time.as_seconds_f64();
            if age > max_age.as_secs_f64() + leeway || -age > leeway {
                return false;
            }
        }
        true
    }

    /// The roles all-of list.
    pub fn roles_all(&self) -> impl Iterator<Item = &str> {
        self.roles_all.iter().map(AsRef::as_ref)
    }

    /// The roles any-of list.
    pub fn roles_any(&self) -> impl Iterator<Item = &str> {
        self.roles_any.iter().map(AsRef::as_ref)
    }

    /// The audiences the requirement narrows to (empty: the issuer's).
    pub fn audiences(&self) -> impl Iterator<Item = &str> {
        self.audiences.iter().map(AsRef::as_ref)
    }

    /// The `acr` values one of which the token must carry, in order of preference
    /// (empty: any, or none).
    pub fn acr_values(&self) -> impl Iterator<Item = &str> {
        self.acr_values.iter().map(AsRef::as_ref)
    }

    /// The longest time since the user authenticated, if the requirement has one.
    pub fn max_age(&self) -> Option<Duration> {
        self.max_age
    }

    /// Whether the requirement says how the user must have authenticated (`acr`
    /// values or a `max_age`): whether it can be unmet as
    /// [`Unmet::UserAuthentication`].
    pub fn requires_user_authentication(&self) -> bool {
        !self.acr_values.is_empty() || self.max_age.is_some()
    }

    /// The space-separated `acr` values, in order of preference, as the `acr_values`
    /// auth-param of an RFC 9470 `insufficient_user_authentication` challenge expects
    /// them (empty when there are none).
    pub fn to_acr_values_string(&self) -> String {
        self.acr_values.join(" ")
    }

    /// Whether every listed scope is needed (no scope any-of list).
    pub fn requires_all(&self) -> bool {
        self.any.is_empty()
    }

    /// The listed scopes, the all-of list first, each in the order given.
    pub fn scopes(&self) -> impl Iterator<Item = &str> {
        self.all.iter().chain(self.any.iter()).map(AsRef::as_ref)
    }

    /// The all-of list.
    pub fn all(&self) -> impl Iterator<Item = &str> {
        self.all.iter().map(AsRef::as_ref)
    }

    /// The any-of list (empty when there is none).
    pub fn any(&self) -> impl Iterator<Item = &str> {
        self.any.iter().map(AsRef::as_ref)
    }

    /// The space-delimited list of every listed scope, as the `scope` auth-param of an
    /// RFC 6750 `insufficient_scope` challenge expects it.
    pub fn to_scope_string(&self) -> String {
        self.scopes().collect::<Vec<&str>>().join(" ")
    }
}

/// Checks and de-duplicates a list of scope tokens.
fn scope_list<I, S>(scopes: I) -> Result<Box<[Box<str>]>, crate::ConfigError>
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    let mut list: Vec<Box<str>> = Vec::new();
    for scope in scopes {
        let scope = scope.as_ref();
        if !is_scope_token(scope) {
            return Err(crate::ConfigError::new(format!(
                "{scope:?} is not a valid scope token (RFC 6749 §3.3)"
            )));
        }
        if !list.iter().any(|s| s.as_ref() == scope) {
            list.push(scope.into());
        }
    }
    Ok(list.into_boxed_slice())
}

/// An `acr` value the requirement may list: non-empty, bounded, and printable ASCII
/// without space, `"` or `\`, so it is one item of a space-separated list in a
/// quoted-string without escapes.
fn is_acr_value(value: &str) -> bool {
    !value.is_empty()
        && value.len() <= MAX_ACR_VALUE_LENGTH
        && value
            .bytes()
            .all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\\')
}

/// Checks and de-duplicates role names or audiences: non-empty, bounded, no control
/// characters (role names may hold spaces: Okta group names do).
fn name_list<I, S>(names: I, setting: &'static str) -> Result<Box<[Box<str>]>, ConfigError>
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    let mut list: Vec<Box<str>> = Vec::new();
    for name in names {
        let name = name.as_ref();
        if name.is_empty() || name.len() > MAX_ROLE_LENGTH || name.chars().any(char::is_control) {
            return Err(ConfigError::for_setting(
                setting,
                format!(
                    "{name:?}: must be non-empty, at most {MAX_ROLE_LENGTH} bytes, without control characters"
                ),
            ));
        }
        if !list.iter().any(|n| n.as_ref() == name) {
            list.push(name.into());
        }
    }
    Ok(list.into_boxed_slice())
}

impl fmt::Debug for ScopeRequirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.roles_all.is_empty()
            || !self.roles_any.is_empty()
            || !self.audiences.is_empty()
            || self.requires_user_authentication()
        {
            return f
                .debug_struct("ScopeRequirement")
                .field("all_of", &self.all)
                .field("any_of", &self.any)
                .field("roles_all_of", &self.roles_all)
                .field("roles_any_of", &self.roles_any)
                .field("audiences", &self.audiences)
                .field("acr_values", &self.acr_values)
                .field("max_age", &self.max_age)
                .finish();
        }
        match (self.all.is_empty(), self.any.is_empty()) {
            (_, true) => f.debug_tuple("AllOf").field(&self.all).finish(),
            (true, false) => f.debug_tuple("AnyOf").field(&self.any).finish(),
            (false, false) => f
                .debug_struct("ScopeRequirement")
                .field("all_of", &self.all)
                .field("any_of", &self.any)
                .finish(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_space_delimited_scopes() {
        let scopes = Scopes::parse("write read  ".trim_end());
        assert_eq!(scopes.iter().collect::<Vec<_>>(), ["read", "write"]);
        assert!(scopes.contains("read"));
        assert!(!scopes.contains("rea"));
        assert_eq!(Scopes::parse("a a b").len(), 2);
        assert_eq!(Scopes::parse("api:read https://x/y!").len(), 2);
        // Sorted already, or not; duplicates anywhere.
        for (text, expected) in [
            ("a b c", vec!["a", "b", "c"]),
            ("c b a", vec!["a", "b", "c"]),
            ("b a b", vec!["a", "b"]),
            ("a a", vec!["a"]),
            ("a", vec!["a"]),
            ("", vec![]),
        ] {
            let scopes = Scopes::parse(text);
            assert_eq!(scopes.iter().collect::<Vec<_>>(), expected, "{text:?}");
            assert_eq!(scopes.len(), expected.len());
            assert_eq!(scopes.to_string(), expected.join(" "));
            assert_eq!(scopes, Scopes::from_tokens(&expected));
            for scope in &expected {
                assert!(scopes.contains(scope));
            }
            assert!(!scopes.contains("") && !scopes.contains("a b") && !scopes.contains("0"));
        }
        // The byte test is the RFC's grammar, less the comma.
        for b in 0..=255u8 {
            let rfc = matches!(b, 0x21 | 0x23..=0x5B | 0x5D..=0x7E) && b != b',';
            assert_eq!(is_scope_byte(b), rfc, "{b:#x}");
            let text = format!("a {}", char::from(b));
            let expected = match (rfc, b == b'a') {
                (false, _) => 0,
                (true, true) => 1,
                (true, false) => 2,
            };
            assert_eq!(Scopes::parse(&text).len(), expected, "{b:#x}");
        }
        // A hundred scopes, listed in reverse: sorted and counted on demand.
        let many: Vec<String> = (0..100).rev().map(|i| format!("s{i:03}")).collect();
        let scopes = Scopes::parse(&many.join(" "));
        assert_eq!(scopes.len(), 100);
        assert_eq!(scopes.iter().next(), Some("s000"));
        assert!(scopes.contains("s057") && !scopes.contains("s100"));
        assert_eq!(Scopes::from_tokens(&many), scopes);
    }

    #[test]
    fn malformed_scope_strings_grant_nothing() {
        for bad in [
            "read\twrite",
            "read,write",
            "read  write",
            " read",
            "read ",
            "réad",
            "read \"write\"",
            "a\\b",
            "read\nwrite",
            "\u{0}",
        ] {
            assert!(Scopes::parse(bad).is_empty(), "{bad:?}");
        }
        assert!(Scopes::from_tokens(["read", "wri te"]).is_empty());
        assert!(Scopes::from_tokens(["read", ""]).is_empty());
        assert_eq!(Scopes::from_tokens(["read", "write"]).len(), 2);
    }

    #[test]
    fn requirements() {
        let granted = Scopes::parse("read write");
        let all = ScopeRequirement::all_of(["read", "write"]).unwrap();
        let all_admin = ScopeRequirement::all_of(["read", "admin"]).unwrap();
        let any = ScopeRequirement::any_of(["admin", "write"]).unwrap();
        assert!(all.is_satisfied_by(&granted));
        assert!(!all_admin.is_satisfied_by(&granted));
        assert!(any.is_satisfied_by(&granted));
        assert!(!any.is_satisfied_by(&Scopes::empty()));
        assert!(
            ScopeRequirement::all_of::<[&str; 0], &str>([])
                .unwrap()
                .is_satisfied_by(&Scopes::empty())
        );
        assert!(ScopeRequirement::any_of::<[&str; 0], &str>([]).is_err());
        assert!(ScopeRequirement::all_of(["a b"]).is_err());
        assert_eq!(all_admin.to_scope_string(), "read admin");
    }

    #[test]
    fn all_of_and_any_of_in_one_requirement() {
        let both = ScopeRequirement::all_of(["orders"])
            .unwrap()
            .and_any_of(["read", "admin"])
            .unwrap();
        assert!(both.is_satisfied_by(&Scopes::parse("orders read")));
        assert!(both.is_satisfied_by(&Scopes::parse("admin orders")));
        assert!(!both.is_satisfied_by(&Scopes::parse("orders")));
        assert!(!both.is_satisfied_by(&Scopes::parse("read admin")));
        assert!(!both.requires_all());
        assert_eq!(both.to_scope_string(), "orders read admin");
        assert_eq!(both.all().collect::<Vec<_>>(), ["orders"]);
        assert_eq!(both.any().collect::<Vec<_>>(), ["read", "admin"]);
        // One any-of list per requirement, never empty.
        assert!(both.clone().and_any_of(["x"]).is_err());
        assert!(
            ScopeRequirement::all_of(["a"])
                .unwrap()
                .and_any_of(Vec::<&str>::new())
                .is_err()
        );
        assert_eq!(
            ScopeRequirement::any_of(["a"]).unwrap(),
            ScopeRequirement::all_of(Vec::<&str>::new())
                .unwrap()
                .and_any_of(["a"])
                .unwrap()
        );
    }
}
