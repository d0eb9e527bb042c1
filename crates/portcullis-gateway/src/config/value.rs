//! Single values as the file writes them. Each type checks its value's syntax and bounds
//! as it is read, so `serde_path_to_error` names the key path of a refusal
//! (`routes[2].scopes_all[0]`): no check about one value builds a path by hand.

use std::net::SocketAddr;
use std::time::Duration;

use http::{HeaderName, Method, Uri};
use portcullis_jwt::{
    Algorithm, AlgorithmSet, AudienceClaim, ClaimPath, Preset, ScopeRequirement, is_scope_token,
};
use serde::{Deserialize, Deserializer, de::Error as _};

use super::{ClientAuthMethod, UpstreamProtocol};
use crate::ip_network::IpNetwork;
use crate::router::PathMatch;

/// Reads a string and converts it with `parse`; its refusal is the value's error.
fn parsed<'de, D: Deserializer<'de>, T>(
    deserializer: D,
    parse: impl FnOnce(&str) -> Result<T, String>,
) -> Result<T, D::Error> {
    parse(&String::deserialize(deserializer)?).map_err(D::Error::custom)
}

/// One of `names`, refused as `"x": expected "a", "b" or "c"`.
fn one_of<T: Copy>(text: &str, names: &[(&str, T)]) -> Result<T, String> {
    if let Some((_, value)) = names.iter().find(|(name, _)| *name == text) {
        return Ok(*value);
    }
    let quoted: Vec<String> = names.iter().map(|(name, _)| format!("{name:?}")).collect();
    let (last, rest) = quoted
        .split_last()
        .map_or(("", &[][..]), |(l, r)| (l.as_str(), r));
    Err(format!("{text:?}: expected {} or {last}", rest.join(", ")))
}

/// Parses `500ms`, `30s`, `5m`, `1h`.
pub(super) fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(|| format!("{text:?} has no unit (use ms, s, m or h)"))?;
    let (number, unit) = text.split_at(split);
    let number: u64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a duration like 500ms, 30s, 5m or 1h"))?;
    match unit {
        "ms" => Ok(Duration::from_millis(number)),
        "s" => Ok(Duration::from_secs(number)),
        "m" => Ok(Duration::from_secs(number.saturating_mul(60))),
        "h" => Ok(Duration::from_secs(number.saturating_mul(3600))),
        _ => Err(format!(
            "{text:?}: unknown unit {unit:?} (use ms, s, m or h)"
        )),
    }
}

/// A duration of at least `MIN_MS` milliseconds and at most `MAX_SECS` seconds.
#[derive(Debug, Clone, Copy)]
pub(super) struct Span<const MIN_MS: u64 = 0, const MAX_SECS: u64 = { u64::MAX }>(
    pub(super) Duration,
);

impl<'de, const MIN_MS: u64, const MAX_SECS: u64> Deserialize<'de> for Span<MIN_MS, MAX_SECS> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let (min, max) = (Duration::from_millis(MIN_MS), Duration::from_secs(MAX_SECS));
        parsed(deserializer, |text| match parse_duration(text)? {
            d if d.is_zero() && MIN_MS > 0 => Err("must be more than zero".to_owned()),
            d if d < min => Err(format!("must be at least {min:?}")),
            d if d > max => Err(format!("must be at most {max:?}")),
            d => Ok(Span(d)),
        })
    }
}

impl<const MIN_MS: u64, const MAX_SECS: u64> Span<MIN_MS, MAX_SECS> {
    /// The value of a key that may be left out.
    pub(super) fn or(value: Option<Self>, default: Duration) -> Duration {
        value.map_or(default, |span| span.0)
    }
}

/// A count of type `T` (`u64`, `usize`) between `MIN` and `MAX`.
#[derive(Debug, Clone, Copy)]
pub(super) struct Count<T, const MIN: u64, const MAX: u64 = { u64::MAX }>(pub(super) T);

impl<'de, T, const MIN: u64, const MAX: u64> Deserialize<'de> for Count<T, MIN, MAX>
where
    T: Deserialize<'de> + Copy,
    u64: TryFrom<T>,
{
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let n = T::deserialize(deserializer)?;
        match u64::try_from(n).unwrap_or(u64::MAX) {
            0 if MIN == 1 && MAX == u64::MAX => Err(D::Error::custom("must be more than zero")),
            m if m < MIN || m > MAX => {
                Err(D::Error::custom(format!("must be between {MIN} and {MAX}")))
            }
            _ => Ok(Count(n)),
        }
    }
}

/// A list of one value or more; `T::EMPTY` says why an empty one is refused.
#[derive(Debug)]
pub(super) struct List<T>(pub(super) Vec<T>);

/// What an empty list of these means.
pub(super) trait Listed {
    const EMPTY: &'static str;
}

impl<'de, T: Deserialize<'de> + Listed> Deserialize<'de> for List<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let list = Vec::deserialize(deserializer)?;
        if list.is_empty() {
            return Err(D::Error::custom(T::EMPTY));
        }
        Ok(List(list))
    }
}

impl Listed for Addr {
    const EMPTY: &str = "at least one address is needed";
}

/// An IP address and port.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(try_from = "String")]
pub(super) struct Addr(pub(super) SocketAddr);

impl TryFrom<String> for Addr {
    type Error = String;
    fn try_from(text: String) -> Result<Addr, String> {
        text.parse().map(Addr).map_err(|_| {
            format!("{text:?} is not an IP address and port such as \"127.0.0.1:8080\"")
        })
    }
}

/// `upstream.url`: `http://` or `https://` with a host and no query; the path is kept
/// as a base.
#[derive(Debug, Deserialize)]
#[serde(try_from = "String")]
pub(super) struct UpstreamUrl {
    pub(super) scheme: http::uri::Scheme,
    pub(super) authority: http::uri::Authority,
    /// The path without its trailing slash ("" for the root).
    pub(super) base_path: String,
}

impl TryFrom<String> for UpstreamUrl {
    type Error = String;
    fn try_from(text: String) -> Result<UpstreamUrl, String> {
        let uri: Uri = text
            .parse()
            .map_err(|_| format!("{text:?} is not a URL such as \"http://127.0.0.1:9000\""))?;
        let scheme = match uri.scheme_str() {
            Some("http") => http::uri::Scheme::HTTP,
            Some("https") => http::uri::Scheme::HTTPS,
            _ => return Err(format!("{text:?}: only http:// and https:// upstreams")),
        };
        let authority = uri.authority().cloned().ok_or("the URL has no host")?;
        if uri.query().is_some() {
            return Err("must not carry a query string".to_owned());
        }
        let base_path = uri.path().trim_end_matches('/').to_owned();
        Ok(UpstreamUrl {
            scheme,
            authority,
            base_path,
        })
    }
}

impl TryFrom<String> for UpstreamProtocol {
    type Error = String;
    fn try_from(text: String) -> Result<UpstreamProtocol, String> {
        use UpstreamProtocol::{Auto, Http1, Http2};
        one_of(&text, &[("auto", Auto), ("http1", Http1), ("http2", Http2)])
    }
}

/// A protocol a route lets clients switch to (`routes[].upgrades`): an RFC 9110 token,
/// compared without regard to case, as `Upgrade` protocol names are.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub(super) struct UpgradeProtocol(pub(super) String);

impl Listed for UpgradeProtocol {
    const EMPTY: &str = "an empty list allows no upgrade; leave it out instead";
}

impl TryFrom<String> for UpgradeProtocol {
    type Error = String;
    fn try_from(text: String) -> Result<UpgradeProtocol, String> {
        let token = |s: &str| {
            !s.is_empty()
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
        };
        let (name, version) = text
            .split_once('/')
            .map_or((&*text, None), |(n, v)| (n, Some(v)));
        if !token(name) || version.is_some_and(|v| !token(v)) {
            return Err(format!(
                "{text:?} is not a protocol name such as \"websocket\" (RFC 9110 §7.8)"
            ));
        }
        let lower = text.to_ascii_lowercase();
        if lower == "h2c" || lower.starts_with("h2c/") {
            return Err(
                "h2c is a hop-by-hop upgrade between a client and the gateway, never proxied; \
                 the gateway speaks h2c itself (prior knowledge)"
                    .to_owned(),
            );
        }
        Ok(UpgradeProtocol(lower))
    }
}

/// One origin a route's CORS policy allows (`routes[].cors.allow_origins`): `*`, or a
/// serialized origin as browsers send it in `Origin` (`https://app.example.com`,
/// `http://localhost:3000`): a scheme, a host, an optional port, nothing else.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub(super) enum CorsOrigin {
    Any,
    Exact(http::HeaderValue),
}

impl Listed for CorsOrigin {
    const EMPTY: &str = "list the origins allowed, or \"*\" for any";
}

impl TryFrom<String> for CorsOrigin {
    type Error = String;
    fn try_from(text: String) -> Result<CorsOrigin, String> {
        if text == "*" {
            return Ok(CorsOrigin::Any);
        }
        let refused = || {
            format!(
                "{text:?} is not an origin such as \"https://app.example.com\" (a scheme, a \
                 host and an optional port, in lower case, without a path or a trailing \
                 slash, as browsers send it), nor \"*\""
            )
        };
        let uri: Uri = text.parse().map_err(|_| refused())?;
        let serialized = match (uri.scheme_str(), uri.authority()) {
            (Some(scheme @ ("http" | "https")), Some(authority))
                if !authority.as_str().contains('@') =>
            {
                format!("{scheme}://{authority}")
            }
            _ => return Err(refused()),
        };
        // Browsers send the origin in lower case, without a path; `null` (sandboxed
        // frames, files) is anyone's and never allowed by name.
        if serialized != text || text.bytes().any(|b| b.is_ascii_uppercase()) {
            return Err(refused());
        }
        http::HeaderValue::from_str(&text)
            .map(CorsOrigin::Exact)
            .map_err(|_| refused())
    }
}

/// An IP network in `[mtls] trusted_proxies`.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(try_from = "String")]
pub(super) struct Network(pub(super) IpNetwork);

impl TryFrom<String> for Network {
    type Error = String;
    fn try_from(text: String) -> Result<Network, String> {
        IpNetwork::parse(&text).map(Network)
    }
}

impl Listed for Network {
    const EMPTY: &'static str = "list at least one proxy address or network";
}

/// The name of a request header the gateway reads (`[mtls] certificate_header`).
#[derive(Debug, Clone, Deserialize)]
#[serde(try_from = "String")]
pub(super) struct RequestHeader(pub(super) HeaderName);

impl TryFrom<String> for RequestHeader {
    type Error = String;
    fn try_from(text: String) -> Result<RequestHeader, String> {
        HeaderName::from_bytes(text.as_bytes())
            .map(RequestHeader)
            .map_err(|_| format!("{text:?} is not a valid header name"))
    }
}

/// `[decision] source`: where a decision request says what the original request was.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(try_from = "String")]
pub(super) struct DecisionSourceName(pub(super) super::DecisionSource);

impl TryFrom<String> for DecisionSourceName {
    type Error = String;
    fn try_from(text: String) -> Result<DecisionSourceName, String> {
        use super::DecisionSource::{Forwarded, Original, RequestLine};
        one_of(
            &text,
            &[
                ("forwarded", Forwarded),
                ("original", Original),
                ("request-line", RequestLine),
            ],
        )
        .map(DecisionSourceName)
    }
}

/// `[mtls] format`: how the proxy writes the certificate.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(try_from = "String")]
pub(super) struct CertificateFormatName(pub(super) portcullis::CertificateHeaderFormat);

impl TryFrom<String> for CertificateFormatName {
    type Error = String;
    fn try_from(text: String) -> Result<CertificateFormatName, String> {
        use portcullis::CertificateHeaderFormat::{Base64Der, EnvoyXfcc, UrlEncodedPem};
        one_of(
            &text,
            &[
                ("envoy-xfcc", EnvoyXfcc),
                ("url-encoded-pem", UrlEncodedPem),
                ("base64-der", Base64Der),
            ],
        )
        .map(CertificateFormatName)
    }
}

/// `[dpop] mode`: whether bearer tokens are still accepted beside DPoP.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(try_from = "String")]
pub(super) struct DpopModeName(pub(super) portcullis::DpopMode);

impl TryFrom<String> for DpopModeName {
    type Error = String;
    fn try_from(text: String) -> Result<DpopModeName, String> {
        use portcullis::DpopMode::{Allowed, Required};
        one_of(&text, &[("allowed", Allowed), ("required", Required)]).map(DpopModeName)
    }
}

impl TryFrom<String> for ClientAuthMethod {
    type Error = String;
    fn try_from(text: String) -> Result<ClientAuthMethod, String> {
        use ClientAuthMethod::{Basic, Post};
        one_of(
            &text,
            &[("client_secret_basic", Basic), ("client_secret_post", Post)],
        )
    }
}

/// `routes[].require`: whether the route is anonymous.
pub(super) fn anonymous<'de, D: Deserializer<'de>>(deserializer: D) -> Result<bool, D::Error> {
    parsed(deserializer, |text| {
        one_of(text, &[("authenticated", false), ("anonymous", true)])
    })
}

/// `forward.authorization`: whether the `Authorization` header goes upstream.
pub(super) fn forward<'de, D: Deserializer<'de>>(deserializer: D) -> Result<bool, D::Error> {
    parsed(deserializer, |text| {
        one_of(text, &[("strip", false), ("forward", true)])
    })
}

/// An `https` URL, or `http` to a loopback host (tests, sidecars): the issuer crate's
/// own rule, so configuration and fetches never disagree.
#[derive(Debug, Clone, Deserialize)]
#[serde(try_from = "String")]
pub(super) struct FetchUrl(pub(super) Uri);

impl TryFrom<String> for FetchUrl {
    type Error = String;
    fn try_from(text: String) -> Result<FetchUrl, String> {
        portcullis_issuer::check_fetch_url(&text)
            .map(FetchUrl)
            .map_err(|e| e.to_string())
    }
}

/// A string that must not be empty.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub(super) struct NonEmpty(pub(super) String);

impl TryFrom<String> for NonEmpty {
    type Error = &'static str;
    fn try_from(text: String) -> Result<NonEmpty, &'static str> {
        if text.is_empty() {
            return Err("must not be empty");
        }
        Ok(NonEmpty(text))
    }
}

/// An asymmetric JWS algorithm.
#[derive(Debug, Deserialize)]
#[serde(try_from = "String")]
pub(super) struct Alg(pub(super) Algorithm);

impl Listed for Alg {
    const EMPTY: &str = "at least one algorithm is needed";
}

impl TryFrom<String> for Alg {
    type Error = String;
    fn try_from(name: String) -> Result<Alg, String> {
        let alg = Algorithm::from_name(&name)
            .ok_or_else(|| format!("{name:?} is not a supported JWS algorithm"))?;
        if !AlgorithmSet::ASYMMETRIC.contains(alg) {
            return Err(
                "HMAC algorithms need a shared secret, which the gateway does not take".to_owned(),
            );
        }
        Ok(Alg(alg))
    }
}

/// `routes[].name`: printable ASCII without spaces.
#[derive(Debug, Deserialize)]
#[serde(try_from = "String")]
pub(super) struct RouteName(pub(super) String);

impl TryFrom<String> for RouteName {
    type Error = &'static str;
    fn try_from(name: String) -> Result<RouteName, &'static str> {
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_graphic()) {
            return Err("must be non-empty printable ASCII without spaces");
        }
        Ok(RouteName(name))
    }
}

/// An upper-case HTTP method.
#[derive(Debug, Deserialize)]
#[serde(try_from = "String")]
pub(super) struct MethodName(pub(super) Method);

impl Listed for MethodName {
    const EMPTY: &str = "an empty list matches nothing; leave it out to match any method";
}

impl TryFrom<String> for MethodName {
    type Error = String;
    fn try_from(name: String) -> Result<MethodName, String> {
        if !name.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(format!("{name:?} is not an upper-case HTTP method"));
        }
        Method::from_bytes(name.as_bytes())
            .map(MethodName)
            .map_err(|_| "not an HTTP method".to_owned())
    }
}

/// `routes[].path`, `path_prefix` and `path_pattern`, each checked by the router.
pub(super) fn path<'de, D: Deserializer<'de>>(d: D) -> Result<Option<PathMatch>, D::Error> {
    parsed(d, PathMatch::exact).map(Some)
}

pub(super) fn path_prefix<'de, D: Deserializer<'de>>(d: D) -> Result<Option<PathMatch>, D::Error> {
    parsed(d, PathMatch::prefix).map(Some)
}

pub(super) fn path_pattern<'de, D: Deserializer<'de>>(d: D) -> Result<Option<PathMatch>, D::Error> {
    parsed(d, PathMatch::pattern).map(Some)
}

/// One scope token. The library refuses a bad one too, but cannot say which.
#[derive(Debug, Deserialize)]
#[serde(try_from = "String")]
pub(super) struct Scope(pub(super) String);

impl Listed for Scope {
    const EMPTY: &str = "an empty scope list; leave it out instead";
}

impl TryFrom<String> for Scope {
    type Error = String;
    fn try_from(scope: String) -> Result<Scope, String> {
        if !is_scope_token(&scope) {
            return Err(format!(
                "{scope:?} is not a valid scope token (RFC 6749 §3.3)"
            ));
        }
        Ok(Scope(scope))
    }
}

/// `issuers[].preset`: a library preset, by name.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(try_from = "String")]
pub(super) struct PresetName(pub(super) Preset);

impl TryFrom<String> for PresetName {
    type Error = String;
    fn try_from(name: String) -> Result<PresetName, String> {
        name.parse()
            .map(PresetName)
            .map_err(|e: portcullis_jwt::ConfigError| e.message().to_owned())
    }
}

/// `issuers[].audience_claim`: which claim holds the audience.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(try_from = "String")]
pub(super) struct AudienceClaimName(pub(super) AudienceClaim);

impl TryFrom<String> for AudienceClaimName {
    type Error = String;
    fn try_from(text: String) -> Result<AudienceClaimName, String> {
        one_of(
            &text,
            &[
                ("aud", AudienceClaim::Aud),
                ("client_id", AudienceClaim::ClientId),
            ],
        )
        .map(AudienceClaimName)
    }
}

/// A claim a key names: a top-level name, or a JSON Pointer with a leading `/`
/// (`/realm_access/roles`). The library's rule ([`ClaimPath::parse`]).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub(super) struct ClaimKey(pub(super) ClaimPath);

impl TryFrom<String> for ClaimKey {
    type Error = String;
    fn try_from(text: String) -> Result<ClaimKey, String> {
        ClaimPath::parse(&text)
            .map(ClaimKey)
            .map_err(|e| e.message().to_owned())
    }
}

impl PartialOrd for ClaimKey {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for ClaimKey {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.as_str().cmp(other.0.as_str())
    }
}

/// A top-level claim name whose value an issuer requires (`required_claim_values`):
/// not empty, and not a JSON Pointer (the library's rule compares top-level claims).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(try_from = "String")]
pub(super) struct ClaimName(pub(super) String);

impl TryFrom<String> for ClaimName {
    type Error = &'static str;
    fn try_from(name: String) -> Result<ClaimName, &'static str> {
        if name.is_empty() {
            return Err("an empty claim name");
        }
        if name.starts_with('/') {
            return Err("a top-level claim name: JSON Pointers are not read here");
        }
        Ok(ClaimName(name))
    }
}

/// One accepted value of a required claim (any string, compared exactly).
#[derive(Debug, Deserialize)]
pub(super) struct ClaimText(pub(super) String);

impl Listed for ClaimText {
    const EMPTY: &str = "an empty list of values would refuse every token; leave the claim out";
}

/// One role name a route requires, checked by the library's own rule.
#[derive(Debug, Deserialize)]
#[serde(try_from = "String")]
pub(super) struct Role(pub(super) String);

impl Listed for Role {
    const EMPTY: &str = "an empty role list; leave it out instead";
}

impl TryFrom<String> for Role {
    type Error = String;
    fn try_from(role: String) -> Result<Role, String> {
        ScopeRequirement::all_of(Vec::<&str>::new())
            .and_then(|r| r.and_roles_all_of([&role]))
            .map(|_| Role(role))
            .map_err(|e| e.message().to_owned())
    }
}

/// One audience a route narrows to.
#[derive(Debug, Deserialize)]
#[serde(try_from = "String")]
pub(super) struct Audience(pub(super) String);

impl Listed for Audience {
    const EMPTY: &str = "an empty audience list; leave it out to accept the issuer's audiences";
}

impl TryFrom<String> for Audience {
    type Error = String;
    fn try_from(audience: String) -> Result<Audience, String> {
        ScopeRequirement::all_of(Vec::<&str>::new())
            .and_then(|r| r.and_audience_any_of([&audience]))
            .map(|_| Audience(audience))
            .map_err(|e| e.message().to_owned())
    }
}

/// One `acr` value a route accepts (`routes[].acr_values`), checked by the library's
/// own rule.
#[derive(Debug, Deserialize)]
#[serde(try_from = "String")]
pub(super) struct AcrValue(pub(super) String);

impl Listed for AcrValue {
    const EMPTY: &str = "an empty acr_values list; leave it out to accept any authentication";
}

impl TryFrom<String> for AcrValue {
    type Error = String;
    fn try_from(value: String) -> Result<AcrValue, String> {
        ScopeRequirement::all_of(Vec::<&str>::new())
            .and_then(|r| r.and_acr_values([&value]))
            .map(|_| AcrValue(value))
            .map_err(|e| e.message().to_owned())
    }
}

/// `routes[].max_age`: how long ago the user may have authenticated, a duration the
/// library takes (whole seconds, as the challenge states it).
#[derive(Debug, Clone, Copy)]
pub(super) struct MaxAge(pub(super) Duration);

impl<'de> Deserialize<'de> for MaxAge {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        parsed(deserializer, |text| {
            let max_age = parse_duration(text)?;
            ScopeRequirement::all_of(Vec::<&str>::new())
                .and_then(|r| r.and_max_age(max_age))
                .map(|_| MaxAge(max_age))
                .map_err(|e| e.message().to_owned())
        })
    }
}

/// A claim value a route compares with: a string, an integer or a boolean.
#[derive(Debug, Deserialize)]
#[serde(try_from = "toml::Value")]
pub(super) struct ClaimValue(pub(super) serde_json::Value);

impl TryFrom<toml::Value> for ClaimValue {
    type Error = &'static str;
    fn try_from(value: toml::Value) -> Result<ClaimValue, &'static str> {
        Ok(ClaimValue(match value {
            toml::Value::String(s) => s.into(),
            toml::Value::Integer(n) => n.into(),
            toml::Value::Boolean(b) => b.into(),
            _ => return Err("must be a string, an integer or a boolean"),
        }))
    }
}

/// Header names the gateway must never take over.
const RESERVED_HEADERS: &[&str] = &[
    "authorization",
    "host",
    "content-length",
    "content-type",
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authorization",
    "proxy-authenticate",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "cookie",
    "x-forwarded-for",
    "x-forwarded-proto",
    "x-forwarded-host",
];

/// A header the gateway sets from verified claims: one it may take over.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub(super) struct ClaimHeader(pub(super) HeaderName);

impl TryFrom<String> for ClaimHeader {
    type Error = String;
    fn try_from(text: String) -> Result<ClaimHeader, String> {
        let name = HeaderName::from_bytes(text.as_bytes())
            .map_err(|_| format!("{text:?} is not a valid header name"))?;
        if name.as_str().starts_with(':') || RESERVED_HEADERS.contains(&name.as_str()) {
            return Err(format!("{text:?} is a header the gateway cannot take over"));
        }
        if name.as_str().starts_with("grpc-") {
            return Err("grpc-* headers are reserved by gRPC".to_owned());
        }
        Ok(ClaimHeader(name))
    }
}

/// `forward.array_separator`: non-empty visible ASCII, valid in a header value.
#[derive(Debug, Deserialize)]
#[serde(try_from = "String")]
pub(super) struct Separator(pub(super) String);

impl TryFrom<String> for Separator {
    type Error = &'static str;
    fn try_from(text: String) -> Result<Separator, &'static str> {
        if text.is_empty() || http::HeaderValue::from_str(&text).is_err() {
            return Err("must be non-empty visible ASCII");
        }
        Ok(Separator(text))
    }
}

/// `protected_resource.resource`: an `https` URL with a host and neither query nor
/// fragment (RFC 9728 §2).
#[derive(Debug, Deserialize)]
#[serde(try_from = "String")]
pub(super) struct ResourceUrl {
    pub(super) text: String,
    pub(super) uri: Uri,
}

impl TryFrom<String> for ResourceUrl {
    type Error = &'static str;
    fn try_from(text: String) -> Result<ResourceUrl, &'static str> {
        let uri: Uri = text.parse().map_err(|_| "not a URL")?;
        if uri.scheme_str() != Some("https") || uri.host().is_none() {
            return Err("must be an https URL (RFC 9728 §2)");
        }
        if uri.query().is_some() || text.contains('#') {
            return Err("must not have a query or fragment");
        }
        Ok(ResourceUrl { text, uri })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert!(parse_duration("2").is_err());
        assert!(parse_duration("2d").is_err());
        assert!(parse_duration("s").is_err());
    }

    #[test]
    fn upgrade_protocols() {
        let parse = |s: &str| UpgradeProtocol::try_from(s.to_owned());
        assert_eq!(parse("WebSocket").unwrap().0, "websocket");
        assert_eq!(parse("foo/2").unwrap().0, "foo/2");
        assert!(parse("h2c").is_err());
        assert!(parse("").is_err());
        assert!(parse("web socket").is_err());
        assert!(parse("a/").is_err());
    }

    #[test]
    fn cors_origins() {
        let parse = |s: &str| CorsOrigin::try_from(s.to_owned());
        assert_eq!(parse("*").unwrap(), CorsOrigin::Any);
        assert!(matches!(
            parse("https://app.example.com"),
            Ok(CorsOrigin::Exact(_))
        ));
        assert!(matches!(
            parse("http://localhost:3000"),
            Ok(CorsOrigin::Exact(_))
        ));
        for bad in [
            "https://app.example.com/",
            "https://app.example.com/path",
            "https://App.example.com",
            "app.example.com",
            "ftp://app.example.com",
            "null",
            "https://user@app.example.com",
            "https://a.example.com?x",
            "",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn one_of_names_every_choice() {
        let choices = [("a", 1), ("b", 2), ("c", 3)];
        assert_eq!(one_of("b", &choices), Ok(2));
        assert_eq!(
            one_of("x", &choices).unwrap_err(),
            r#""x": expected "a", "b" or "c""#
        );
        assert_eq!(
            one_of("x", &choices[..2]).unwrap_err(),
            r#""x": expected "a" or "b""#
        );
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn duration_parsing_never_panics(text in "\\PC{0,12}") {
                let _ = parse_duration(&text);
            }

            #[test]
            fn durations_round_trip(n in 0u64..1_000_000, unit in prop::sample::select(vec!["ms", "s", "m", "h"])) {
                let expected = match unit {
                    "ms" => Duration::from_millis(n),
                    "s" => Duration::from_secs(n),
                    "m" => Duration::from_secs(n * 60),
                    _ => Duration::from_secs(n * 3600),
                };
                prop_assert_eq!(parse_duration(&format!("{n}{unit}")), Ok(expected));
            }
        }
    }
}

/// `server.tls[].min_version`: the oldest TLS version a listener accepts.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(try_from = "String")]
pub(super) struct TlsVersionName(pub(super) super::TlsVersion);

impl TryFrom<String> for TlsVersionName {
    type Error = String;
    fn try_from(text: String) -> Result<TlsVersionName, String> {
        use super::TlsVersion::{Tls12, Tls13};
        one_of(&text, &[("1.2", Tls12), ("1.3", Tls13)]).map(TlsVersionName)
    }
}

/// `server.tls[].client_certificate`: whether a client certificate is required.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(try_from = "String")]
pub(super) struct ClientCertificateModeName(pub(super) super::ClientCertificateMode);

impl TryFrom<String> for ClientCertificateModeName {
    type Error = String;
    fn try_from(text: String) -> Result<ClientCertificateModeName, String> {
        use super::ClientCertificateMode::{Optional, Required};
        one_of(&text, &[("required", Required), ("optional", Optional)])
            .map(ClientCertificateModeName)
    }
}

/// `[upstreams.NAME]`: the name routes pick it by; letters, digits, `-` and `_`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(try_from = "String")]
pub(super) struct UpstreamName(pub(super) String);

impl TryFrom<String> for UpstreamName {
    type Error = String;
    fn try_from(name: String) -> Result<UpstreamName, String> {
        if name.is_empty()
            || name.len() > 64
            || !name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(format!(
                "{name:?}: an upstream name is 1 to 64 letters, digits, '-' or '_'"
            ));
        }
        Ok(UpstreamName(name))
    }
}

/// `routes[].host`: a host name (`api.example.com`) or every name under a domain
/// (`*.example.com`), compared without case and without the port.
#[derive(Debug, Clone, Deserialize)]
#[serde(try_from = "String")]
pub(super) struct HostName(pub(super) super::HostMatch);

impl TryFrom<String> for HostName {
    type Error = String;
    fn try_from(text: String) -> Result<HostName, String> {
        let lower = text.to_ascii_lowercase();
        let (wildcard, name) = match lower.strip_prefix("*.") {
            Some(rest) => (true, rest),
            None => (false, lower.as_str()),
        };
        let label_ok = |label: &str| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        };
        if name.is_empty() || name.len() > 253 || !name.split('.').all(label_ok) {
            return Err(format!(
                "{text:?} is not a host name such as \"api.example.com\" or \"*.example.com\" \
                 (no port, no scheme; '*' only as the whole first label)"
            ));
        }
        Ok(HostName(if wildcard {
            super::HostMatch::Suffix(format!(".{name}"))
        } else {
            super::HostMatch::Exact(name.to_owned())
        }))
    }
}

/// `routes[].strip_prefix`: leading path segments removed before the request goes
/// upstream; checked against the route's path in `validate`.
pub(super) fn strip_prefix<'de, D: Deserializer<'de>>(d: D) -> Result<Option<PathMatch>, D::Error> {
    parsed(d, |text| {
        if text == "/" || text.ends_with('/') {
            return Err(format!(
                "{text:?}: name whole segments without a trailing '/', such as \"/api\""
            ));
        }
        PathMatch::prefix(text)
    })
    .map(Some)
}
