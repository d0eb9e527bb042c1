//! The verified contents of a token.

use std::fmt;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::de::DeserializeOwned;

use crate::algorithm::Algorithm;
use crate::claim_path::ClaimPath;
use crate::scope::Scopes;
use crate::validation::AudienceClaim;

/// A JWT NumericDate (RFC 7519 §2): seconds since the Unix epoch, possibly fractional.
#[derive(Clone, Copy, Debug, PartialEq, PartialOrd)]
pub struct NumericDate(f64);

impl NumericDate {
    /// Builds a date from seconds since the epoch. `None` unless finite and within
    /// ±10^13 seconds (about 300,000 years), so arithmetic on it cannot overflow.
    pub fn from_seconds(secs: f64) -> Option<NumericDate> {
        (secs.is_finite() && secs.abs() <= 1e13).then_some(NumericDate(secs))
    }

    /// Seconds since the epoch, as given.
    pub fn as_seconds_f64(self) -> f64 {
        self.0
    }

    /// Whole seconds since the epoch (rounded down).
    pub fn as_seconds(self) -> i64 {
        self.0.floor() as i64
    }

    /// As a `SystemTime`, clamped to ±10^11 seconds (about 3,000 years) of the epoch:
    /// a token may name dates (up to 10^13 s) that some platforms' `SystemTime` cannot
    /// hold, and arithmetic past its range panics.
    pub fn to_system_time(self) -> SystemTime {
        const REPRESENTABLE: f64 = 1e11;
        let magnitude = Duration::from_secs_f64(self.0.abs().min(REPRESENTABLE));
        if self.0 >= 0.0 {
            UNIX_EPOCH + magnitude
        } else {
            UNIX_EPOCH - magnitude
        }
    }
}

/// How a token was verified.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum VerifiedBy {
    /// A JWS signature, checked with a key of the key set.
    Jwt {
        /// The signature algorithm.
        algorithm: Algorithm,
        /// The `kid` of the key, if it had one.
        key_id: Option<Box<str>>,
        /// The RFC 7638 thumbprint of the key, its identity even without a `kid`.
        key_thumbprint: [u8; 32],
    },
    /// An RFC 7662 introspection response saying `"active": true`.
    Introspection,
}

/// The claims of a verified token.
///
/// Registered claims are typed; scopes are a set; everything else is available raw
/// ([`Claims::get`], parsed on first use) or as the application's own type
/// ([`Claims::deserialize`]). Cloning is a reference-count increment.
#[derive(Clone)]
pub struct Claims {
    inner: Arc<ClaimsInner>,
}

pub(crate) struct ClaimsInner {
    pub(crate) payload: Box<str>,
    pub(crate) issuer: Option<Text>,
    pub(crate) subject: Option<Text>,
    pub(crate) audiences: Audiences,
    pub(crate) expires_at: Option<NumericDate>,
    pub(crate) not_before: Option<NumericDate>,
    pub(crate) issued_at: Option<NumericDate>,
    pub(crate) jwt_id: Option<Text>,
    pub(crate) client_id: Option<Text>,
    pub(crate) scopes: Scopes,
    pub(crate) confirmation: Option<crate::confirmation::Confirmation>,
    pub(crate) verified_by: VerifiedBy,
    /// Where the roles are, as the validation that accepted the token says. A copy,
    /// not a shared `Arc`, for the reason `VerifiedBy::Jwt`'s key id is one.
    pub(crate) roles_claim: Option<ClaimPath>,
    /// Which claim the audience rule read.
    pub(crate) audience_claim: AudienceClaim,
    /// The clock-skew allowance of the validation that accepted the token, in seconds,
    /// for the time rules checked after verification (a route's `max_age`).
    pub(crate) leeway: f64,
    pub(crate) members: OnceLock<serde_json::Map<String, serde_json::Value>>,
}

/// A string claim: where it sits in the payload when it was written without escapes
/// (nearly always), its own unescaped copy otherwise. Spans spare an allocation per
/// claim on every verification.
#[derive(Clone, Debug)]
pub(crate) enum Text {
    Span { start: usize, end: usize },
    Owned(Box<str>),
}

impl Text {
    /// The claim `value` of `payload`: a span if `value` is a slice of `payload`.
    pub(crate) fn of(value: std::borrow::Cow<'_, str>, payload: &str) -> Text {
        let start = (value.as_ptr() as usize).wrapping_sub(payload.as_ptr() as usize);
        let end = start.wrapping_add(value.len());
        match payload.get(start..end) {
            Some(slice) if std::ptr::eq(slice, &*value) => Text::Span { start, end },
            _ => Text::Owned(value.into()),
        }
    }

    pub(crate) fn resolve<'a>(&'a self, payload: &'a str) -> &'a str {
        match self {
            Text::Span { start, end } => payload.get(*start..*end).unwrap_or_default(),
            Text::Owned(text) => text,
        }
    }
}

/// `aud`: a string or an array of strings. The first lives inline, so the usual single
/// audience costs no allocation.
#[derive(Clone, Debug, Default)]
pub(crate) struct Audiences {
    first: Option<Text>,
    rest: Box<[Text]>,
}

impl Audiences {
    pub(crate) fn one(audience: Text) -> Audiences {
        Audiences {
            first: Some(audience),
            rest: Box::default(),
        }
    }

    /// The audiences of an array, in order: the first inline, the others in one
    /// allocation of their exact size (none for a one-element array).
    pub(crate) fn list(audiences: impl IntoIterator<Item = Text>) -> Audiences {
        let mut audiences = audiences.into_iter();
        Audiences {
            first: audiences.next(),
            rest: audiences.collect(),
        }
    }

    pub(crate) fn iter<'a>(&'a self, payload: &'a str) -> impl Iterator<Item = &'a str> {
        self.first
            .iter()
            .chain(self.rest.iter())
            .map(move |text| text.resolve(payload))
    }
}

impl Claims {
    pub(crate) fn new(inner: ClaimsInner) -> Claims {
        Claims {
            inner: Arc::new(inner),
        }
    }

    pub(crate) fn inner(&self) -> &ClaimsInner {
        &self.inner
    }

    /// The leeway of the validation that accepted the token, in seconds.
    pub(crate) fn leeway_secs(&self) -> f64 {
        self.inner.leeway
    }

    fn text<'a>(&'a self, text: Option<&'a Text>) -> Option<&'a str> {
        text.map(|text| text.resolve(&self.inner.payload))
    }

    /// `iss`.
    pub fn issuer(&self) -> Option<&str> {
        self.text(self.inner.issuer.as_ref())
    }

    /// `sub`.
    pub fn subject(&self) -> Option<&str> {
        self.text(self.inner.subject.as_ref())
    }

    /// `aud`, as a list whether the token carried a string or an array.
    pub fn audiences(&self) -> impl Iterator<Item = &str> {
        self.inner.audiences.iter(&self.inner.payload)
    }

    /// `exp`.
    pub fn expires_at(&self) -> Option<NumericDate> {
        self.inner.expires_at
    }

    /// The instant from which the time rules refuse this token: `exp` plus the leeway
    /// of the validation that accepted it (a token is refused once `now >= exp +
    /// leeway`). `None` without `exp`, which an introspection answer may leave out.
    ///
    /// What a holder of the claims reads to end whatever the token opened when the
    /// token no longer would be accepted: a proxied WebSocket, a stream, a session.
    pub fn valid_until(&self) -> Option<SystemTime> {
        let exp = self.inner.expires_at?.to_system_time();
        let leeway = Duration::try_from_secs_f64(self.inner.leeway).unwrap_or(Duration::ZERO);
        Some(exp.checked_add(leeway).unwrap_or(exp))
    }

    /// `nbf`.
    pub fn not_before(&self) -> Option<NumericDate> {
        self.inner.not_before
    }

    /// `iat`.
    pub fn issued_at(&self) -> Option<NumericDate> {
        self.inner.issued_at
    }

    /// `jti`.
    pub fn jwt_id(&self) -> Option<&str> {
        self.text(self.inner.jwt_id.as_ref())
    }

    /// `client_id` (RFC 9068 §2.2, RFC 8693 §4.3).
    pub fn client_id(&self) -> Option<&str> {
        self.text(self.inner.client_id.as_ref())
    }

    /// The granted scopes.
    pub fn scopes(&self) -> &Scopes {
        &self.inner.scopes
    }

    /// How the token was verified.
    pub fn verified_by(&self) -> &VerifiedBy {
        &self.inner.verified_by
    }

    /// The key the token is bound to (`cnf`), if it is sender-constrained.
    pub fn confirmation(&self) -> Option<&crate::confirmation::Confirmation> {
        self.inner.confirmation.as_ref()
    }

    /// The payload JSON, exactly as the issuer sent it.
    pub fn payload_json(&self) -> &str {
        &self.inner.payload
    }

    /// Any top-level claim, as JSON. The payload is parsed into a map the first time this
    /// (or [`Claims::pointer`], [`Claims::lookup`], [`Claims::roles`]) is called and kept.
    pub fn get(&self, name: &str) -> Option<&serde_json::Value> {
        self.members().get(name)
    }

    fn members(&self) -> &serde_json::Map<String, serde_json::Value> {
        self.inner
            .members
            .get_or_init(|| serde_json::from_str(&self.inner.payload).unwrap_or_default())
    }

    /// The claim a JSON Pointer (RFC 6901) names, such as `/realm_access/roles`; `None`
    /// if there is none, or if `pointer` is not a pointer (it must start with `/`;
    /// [`Claims::get`] takes a name). Array elements are reached by index
    /// (`/groups/0`).
    pub fn pointer(&self, pointer: &str) -> Option<&serde_json::Value> {
        if !pointer.starts_with('/') {
            return None;
        }
        self.lookup(&ClaimPath::parse(pointer).ok()?)
    }

    /// The claim `path` names: a top-level member, or the value a JSON Pointer reaches.
    pub fn lookup(&self, path: &ClaimPath) -> Option<&serde_json::Value> {
        let (first, rest) = path.split_first();
        let top = self.members().get(first.as_ref())?;
        if rest.is_empty() {
            Some(top)
        } else {
            top.pointer(rest)
        }
    }

    /// Where this token's roles are read from (the roles claim of the validation that
    /// accepted it), if anywhere.
    pub fn roles_claim(&self) -> Option<&ClaimPath> {
        self.inner.roles_claim.as_ref()
    }

    /// The roles (or groups, or permissions) the token grants, read at the roles claim:
    /// the strings of an array of strings, the member names of an object (ZITADEL's
    /// `urn:zitadel:iam:org:project:roles`), or one string as one role.
    ///
    /// Anything else grants no role at all: an array with one non-string element, a
    /// number, `null`, a missing claim, no roles claim configured. Never partly
    /// honoured, as for scopes.
    pub fn roles(&self) -> impl Iterator<Item = &str> {
        let value = self
            .inner
            .roles_claim
            .as_ref()
            .and_then(|path| self.lookup(path));
        let (list, object, single): (&[serde_json::Value], _, _) = match value {
            Some(serde_json::Value::Array(items))
                if items.iter().all(serde_json::Value::is_string) =>
            {
                (items, None, None)
            }
            Some(serde_json::Value::Object(map)) => (&[], Some(map), None),
            Some(serde_json::Value::String(role)) => (&[], None, Some(role.as_str())),
            _ => (&[], None, None),
        };
        list.iter()
            .filter_map(serde_json::Value::as_str)
            .chain(
                object
                    .into_iter()
                    .flat_map(|map| map.keys().map(String::as_str)),
            )
            .chain(single)
    }

    /// Whether the token grants `role` ([`Claims::roles`]).
    pub fn has_role(&self, role: &str) -> bool {
        self.roles().any(|held| held == role)
    }

    /// The values the audience rule accepted the token on: `aud`, or `client_id` when
    /// the validation read the audience there ([`AudienceClaim::ClientId`]).
    pub fn accepted_audiences(&self) -> impl Iterator<Item = &str> {
        let client_id = match self.inner.audience_claim {
            AudienceClaim::ClientId => self.client_id(),
            AudienceClaim::Aud => None,
        };
        let aud = match self.inner.audience_claim {
            AudienceClaim::Aud => Some(self.audiences()),
            AudienceClaim::ClientId => None,
        };
        aud.into_iter().flatten().chain(client_id)
    }

    /// The payload as the application's own type.
    ///
    /// # Errors
    /// If the payload does not fit `T`.
    pub fn deserialize<T: DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        serde_json::from_str(&self.inner.payload)
    }
}

impl fmt::Debug for Claims {
    /// Registered claims only: custom claims may hold personal data.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &self.inner;
        f.debug_struct("Claims")
            .field("iss", &self.issuer())
            .field("sub", &self.subject())
            .field("aud", &self.audiences().collect::<Vec<_>>())
            .field("exp", &c.expires_at.map(NumericDate::as_seconds))
            .field("client_id", &self.client_id())
            .field("scopes", &c.scopes)
            .field("cnf", &c.confirmation)
            .field("verified_by", &c.verified_by)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::NumericDate;

    #[test]
    fn dates_beyond_any_system_time_are_clamped_not_a_panic() {
        let far = NumericDate::from_seconds(1e13).unwrap().to_system_time();
        assert_eq!(far, UNIX_EPOCH + Duration::from_secs(100_000_000_000));
        let past = NumericDate::from_seconds(-1e13).unwrap().to_system_time();
        assert_eq!(past, UNIX_EPOCH - Duration::from_secs(100_000_000_000));
        let now = NumericDate::from_seconds(1_700_000_000.5)
            .unwrap()
            .to_system_time();
        assert_eq!(now, UNIX_EPOCH + Duration::from_millis(1_700_000_000_500));
    }
}
