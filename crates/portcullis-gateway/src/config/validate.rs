//! Checking the file as written into the configuration the gateway runs: every value
//! parsed, every rule the library owns asked of the library, every error at its key
//! path.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use http::{HeaderName, Method, Uri};
use portcullis::AuthenticationLayer;
use portcullis_jwt::{ScopeRequirement, is_scope_token};

use super::file::{File, ForwardSection, ProtectedResourceSection, RouteSection, UpstreamSection};
use super::issuer::issuer;
use super::{
    Config, ConfigFileError, ForwardConfig, IssuerConfig, Limits, ProtectedResource, Requirement,
    RouteConfig, UpstreamConfig, UpstreamProtocol,
};
use crate::auth::Refuse;
use crate::router::PathMatch;

pub(super) fn parse(text: &str) -> Result<File, ConfigFileError> {
    let deserializer = toml::de::Deserializer::parse(text).map_err(|e| syntax_error(text, &e))?;
    serde_path_to_error::deserialize(deserializer).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let path = if path == "." { String::new() } else { path };
        let mut error = ConfigFileError::new(path, inner.message().to_owned());
        if error.path.is_empty()
            && let Some(span) = inner.span()
        {
            error.message = format!("{} (line {})", error.message, line_of(text, span.start));
        }
        error
    })
}

fn syntax_error(text: &str, error: &toml::de::Error) -> ConfigFileError {
    let message = match error.span() {
        Some(span) => format!(
            "TOML syntax error at line {}: {}",
            line_of(text, span.start),
            error.message()
        ),
        None => format!("TOML syntax error: {}", error.message()),
    };
    ConfigFileError::new("", message)
}

fn line_of(text: &str, offset: usize) -> usize {
    text.get(..offset)
        .map_or(0, |before| before.bytes().filter(|b| *b == b'\n').count())
        + 1
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

pub(super) fn duration(
    value: Option<&String>,
    path: &str,
    default: Duration,
    max: Duration,
) -> Result<Duration, ConfigFileError> {
    let Some(value) = value else {
        return Ok(default);
    };
    let parsed = parse_duration(value).map_err(|m| ConfigFileError::new(path, m))?;
    if parsed.is_zero() {
        return Err(ConfigFileError::new(path, "must be more than zero"));
    }
    if parsed > max {
        return Err(ConfigFileError::new(
            path,
            format!("must be at most {max:?}"),
        ));
    }
    Ok(parsed)
}

fn socket_addr(value: &str, path: &str) -> Result<SocketAddr, ConfigFileError> {
    value.parse().map_err(|_| {
        ConfigFileError::new(
            path,
            format!("{value:?} is not an IP address and port such as \"127.0.0.1:8080\""),
        )
    })
}

/// An `https` URL, or `http` to a loopback host (tests, sidecars): the issuer crate's
/// own rule, so configuration and fetches never disagree.
pub(super) fn fetch_url(value: &str, path: &str) -> Result<Uri, ConfigFileError> {
    portcullis_issuer::check_fetch_url(value).map_err(|e| ConfigFileError::new(path, e.to_string()))
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

fn header_name(value: &str, path: &str) -> Result<HeaderName, ConfigFileError> {
    let name = HeaderName::from_bytes(value.as_bytes())
        .map_err(|_| ConfigFileError::new(path, format!("{value:?} is not a valid header name")))?;
    if name.as_str().starts_with(':') || RESERVED_HEADERS.contains(&name.as_str()) {
        return Err(ConfigFileError::new(
            path,
            format!("{value:?} is a header the gateway cannot take over"),
        ));
    }
    if name.as_str().starts_with("grpc-") {
        return Err(ConfigFileError::new(
            path,
            "grpc-* headers are reserved by gRPC",
        ));
    }
    Ok(name)
}

pub(super) fn validate(file: File, origin: &str) -> Result<Config, ConfigFileError> {
    // server
    if file.server.listen.is_empty() {
        return Err(ConfigFileError::new(
            "server.listen",
            "at least one address is needed",
        ));
    }
    let listen = file
        .server
        .listen
        .iter()
        .enumerate()
        .map(|(i, a)| socket_addr(a, &format!("server.listen[{i}]")))
        .collect::<Result<Vec<_>, _>>()?;
    let realm = file.server.realm.unwrap_or_else(|| "portcullis".to_owned());
    let shutdown_grace = duration(
        file.server.shutdown_grace.as_ref(),
        "server.shutdown_grace",
        Duration::from_secs(30),
        Duration::from_secs(3600),
    )?;

    // operations
    let operations_listen = file
        .operations
        .listen
        .as_deref()
        .map(|a| socket_addr(a, "operations.listen"))
        .transpose()?;

    // upstream
    let upstream = upstream(&file.upstream)?;

    // limits
    let limits = Limits {
        max_request_body: match file.limits.max_request_body_bytes {
            Some(0) => {
                return Err(ConfigFileError::new(
                    "limits.max_request_body_bytes",
                    "must be more than zero",
                ));
            }
            Some(n) => n,
            None => 10 * 1024 * 1024,
        },
        request_timeout: duration(
            file.limits.request_timeout.as_ref(),
            "limits.request_timeout",
            Duration::from_secs(30),
            Duration::from_secs(24 * 3600),
        )?,
        header_read_timeout: duration(
            file.limits.header_read_timeout.as_ref(),
            "limits.header_read_timeout",
            Duration::from_secs(10),
            Duration::from_secs(600),
        )?,
        max_token_bytes: match file.limits.max_token_bytes {
            Some(n) if !(256..=65536).contains(&n) => {
                return Err(ConfigFileError::new(
                    "limits.max_token_bytes",
                    "must be between 256 and 65536",
                ));
            }
            Some(n) => n,
            None => portcullis_jwt::DEFAULT_MAX_TOKEN_SIZE,
        },
    };

    // issuers
    let mut issuers = Vec::with_capacity(file.issuers.len());
    for (i, section) in file.issuers.iter().enumerate() {
        let issuer = issuer(
            section,
            &format!("issuers[{i}]"),
            origin,
            limits.max_token_bytes,
        )?;
        if issuers
            .iter()
            .any(|other: &IssuerConfig| other.issuer == issuer.issuer)
        {
            return Err(ConfigFileError::new(
                format!("issuers[{i}].issuer"),
                "the same issuer is configured twice",
            ));
        }
        issuers.push(issuer);
    }

    let introspecting: Vec<usize> = issuers
        .iter()
        .enumerate()
        .filter(|(_, i)| i.introspection.is_some())
        .map(|(index, _)| index)
        .collect();
    if let [_, second, ..] = introspecting.as_slice() {
        return Err(ConfigFileError::new(
            format!("issuers[{second}].introspection"),
            "only one issuer may introspect: an opaque token does not say which issuer \
             made it, and sending it to several would leak it",
        ));
    }

    // routes
    let mut routes = Vec::with_capacity(file.routes.len());
    for (i, section) in file.routes.iter().enumerate() {
        let route = route(section, i)?;
        if routes
            .iter()
            .any(|other: &RouteConfig| other.name == route.name)
        {
            return Err(ConfigFileError::new(
                format!("routes[{i}].name"),
                format!("the name {:?} is used by an earlier route", route.name),
            ));
        }
        if !matches!(route.requirement, Requirement::Anonymous) && issuers.is_empty() {
            return Err(ConfigFileError::new(
                format!("routes[{i}].require"),
                "the route needs a token but no [[issuers]] are configured",
            ));
        }
        routes.push(route);
    }

    // forward
    let forward = forward(&file.forward)?;

    let protected_resource = file
        .protected_resource
        .as_ref()
        .map(|section| protected_resource(section, &issuers))
        .transpose()?;

    challenge(&realm, protected_resource.as_ref())?;

    Ok(Config {
        source: origin.to_owned(),
        listen,
        operations_listen,
        realm,
        shutdown_grace,
        upstream,
        limits,
        issuers,
        routes,
        forward,
        protected_resource,
        access_log: file.log.access,
    })
}

/// Asks the library whether it takes the realm and the metadata URL for its challenges,
/// as the gateway's authentication layer will at start.
fn challenge(realm: &str, metadata: Option<&ProtectedResource>) -> Result<(), ConfigFileError> {
    let layer = || AuthenticationLayer::builder(Refuse).realm(realm);
    layer()
        .build()
        .map_err(|e| ConfigFileError::new("server.realm", e.message()))?;
    if let Some(metadata) = metadata {
        layer()
            .resource_metadata(metadata.url.clone())
            .build()
            .map_err(|e| ConfigFileError::new("protected_resource.resource", e.message()))?;
    }
    Ok(())
}

fn protected_resource(
    section: &ProtectedResourceSection,
    issuers: &[IssuerConfig],
) -> Result<ProtectedResource, ConfigFileError> {
    let at = "protected_resource.resource";
    let uri: Uri = section
        .resource
        .parse()
        .map_err(|_| ConfigFileError::new(at, "not a URL"))?;
    if uri.scheme_str() != Some("https") || uri.host().is_none() {
        return Err(ConfigFileError::new(
            at,
            "must be an https URL (RFC 9728 §2)",
        ));
    }
    if uri.query().is_some() || section.resource.contains('#') {
        return Err(ConfigFileError::new(
            at,
            "must not have a query or fragment",
        ));
    }
    let authorization_servers = match &section.authorization_servers {
        Some(list) => list.clone(),
        None => issuers.iter().map(|i| i.issuer.clone()).collect(),
    };
    // RFC 9728 §3.1: the well-known segment goes between the host and any path.
    let resource_path = uri.path().trim_end_matches('/');
    let path = format!("/.well-known/oauth-protected-resource{resource_path}");
    let url = format!(
        "https://{}{path}",
        uri.authority().map_or("", http::uri::Authority::as_str)
    );
    Ok(ProtectedResource {
        path,
        url,
        resource: section.resource.clone(),
        authorization_servers,
    })
}

fn upstream(section: &UpstreamSection) -> Result<UpstreamConfig, ConfigFileError> {
    let uri: Uri = section.url.parse().map_err(|_| {
        ConfigFileError::new(
            "upstream.url",
            format!(
                "{:?} is not a URL such as \"http://127.0.0.1:9000\"",
                section.url
            ),
        )
    })?;
    if uri.scheme_str() != Some("http") {
        return Err(ConfigFileError::new(
            "upstream.url",
            "only http:// upstreams are supported (cleartext HTTP/1.1 and h2c); terminate TLS in front",
        ));
    }
    let authority = uri
        .authority()
        .cloned()
        .ok_or_else(|| ConfigFileError::new("upstream.url", "the URL has no host"))?;
    if uri.query().is_some() {
        return Err(ConfigFileError::new(
            "upstream.url",
            "must not carry a query string",
        ));
    }
    let base_path = uri.path().trim_end_matches('/').to_owned();
    let protocol = match section.protocol.as_deref() {
        None | Some("auto") => UpstreamProtocol::Auto,
        Some("http1") => UpstreamProtocol::Http1,
        Some("http2") => UpstreamProtocol::Http2,
        Some(other) => {
            return Err(ConfigFileError::new(
                "upstream.protocol",
                format!("{other:?}: expected \"auto\", \"http1\" or \"http2\""),
            ));
        }
    };
    Ok(UpstreamConfig {
        scheme: http::uri::Scheme::HTTP,
        authority,
        base_path,
        protocol,
        connect_timeout: duration(
            section.connect_timeout.as_ref(),
            "upstream.connect_timeout",
            Duration::from_secs(5),
            Duration::from_secs(600),
        )?,
    })
}

fn route(section: &RouteSection, i: usize) -> Result<RouteConfig, ConfigFileError> {
    let at = format!("routes[{i}]");
    let name = match &section.name {
        Some(name) if name.is_empty() || !name.chars().all(|c| c.is_ascii_graphic()) => {
            return Err(ConfigFileError::new(
                format!("{at}.name"),
                "must be non-empty printable ASCII without spaces",
            ));
        }
        Some(name) => name.clone(),
        None => at.clone(),
    };
    let methods = match &section.methods {
        None => None,
        Some(list) if list.is_empty() => {
            return Err(ConfigFileError::new(
                format!("{at}.methods"),
                "an empty list matches nothing; leave it out to match any method",
            ));
        }
        Some(list) => Some(
            list.iter()
                .enumerate()
                .map(|(j, m)| {
                    if !m.bytes().all(|b| b.is_ascii_uppercase()) {
                        return Err(ConfigFileError::new(
                            format!("{at}.methods[{j}]"),
                            format!("{m:?} is not an upper-case HTTP method"),
                        ));
                    }
                    Method::from_bytes(m.as_bytes()).map_err(|_| {
                        ConfigFileError::new(format!("{at}.methods[{j}]"), "not an HTTP method")
                    })
                })
                .collect::<Result<Vec<_>, _>>()?,
        ),
    };
    let path = match (&section.path, &section.path_prefix, &section.path_pattern) {
        (Some(p), None, None) => {
            PathMatch::exact(p).map_err(|m| ConfigFileError::new(format!("{at}.path"), m))?
        }
        (None, Some(p), None) => PathMatch::prefix(p)
            .map_err(|m| ConfigFileError::new(format!("{at}.path_prefix"), m))?,
        (None, None, Some(p)) => PathMatch::pattern(p)
            .map_err(|m| ConfigFileError::new(format!("{at}.path_pattern"), m))?,
        _ => {
            return Err(ConfigFileError::new(
                at,
                "set exactly one of path, path_prefix or path_pattern",
            ));
        }
    };
    let anonymous = match section.require.as_deref() {
        None | Some("authenticated") => false,
        Some("anonymous") => true,
        Some(other) => {
            return Err(ConfigFileError::new(
                format!("{at}.require"),
                format!("{other:?}: expected \"authenticated\" or \"anonymous\""),
            ));
        }
    };
    let has_conditions = section.scopes_all.is_some()
        || section.scopes_any.is_some()
        || !section.claim_equals.is_empty()
        || !section.claim_contains.is_empty();
    if anonymous && has_conditions {
        let key = if section.scopes_all.is_some() {
            "scopes_all"
        } else if section.scopes_any.is_some() {
            "scopes_any"
        } else if !section.claim_equals.is_empty() {
            "claim_equals"
        } else {
            "claim_contains"
        };
        return Err(ConfigFileError::new(
            format!("{at}.{key}"),
            "an anonymous route cannot require scopes or claims",
        ));
    }
    let requirement = if anonymous {
        Requirement::Anonymous
    } else {
        Requirement::Authenticated {
            scopes: scopes(
                section.scopes_all.as_deref(),
                section.scopes_any.as_deref(),
                &at,
            )?,
            claim_equals: claim_values(&section.claim_equals, &format!("{at}.claim_equals"))?,
            claim_contains: claim_values(&section.claim_contains, &format!("{at}.claim_contains"))?,
        }
    };
    Ok(RouteConfig {
        name,
        methods,
        path,
        requirement,
    })
}

/// A route's `scopes_all` and `scopes_any` as one library requirement.
fn scopes(
    all: Option<&[String]>,
    any: Option<&[String]>,
    at: &str,
) -> Result<ScopeRequirement, ConfigFileError> {
    for (key, list) in [("scopes_all", all), ("scopes_any", any)] {
        let Some(list) = list else { continue };
        if list.is_empty() {
            return Err(ConfigFileError::new(
                format!("{at}.{key}"),
                "an empty scope list; leave it out instead",
            ));
        }
        // The library refuses a bad token too, but cannot say which one.
        for (j, scope) in list.iter().enumerate() {
            if !is_scope_token(scope) {
                return Err(ConfigFileError::new(
                    format!("{at}.{key}[{j}]"),
                    format!("{scope:?} is not a valid scope token (RFC 6749 §3.3)"),
                ));
            }
        }
    }
    let requirement = ScopeRequirement::all_of(all.unwrap_or_default())
        .map_err(|e| ConfigFileError::new(format!("{at}.scopes_all"), e.message()))?;
    match any {
        None => Ok(requirement),
        Some(any) => requirement
            .and_any_of(any)
            .map_err(|e| ConfigFileError::new(format!("{at}.scopes_any"), e.message())),
    }
}

fn claim_values(
    map: &BTreeMap<String, toml::Value>,
    at: &str,
) -> Result<Vec<(String, serde_json::Value)>, ConfigFileError> {
    map.iter()
        .map(|(claim, value)| {
            let json = match value {
                toml::Value::String(s) => serde_json::Value::from(s.clone()),
                toml::Value::Integer(n) => serde_json::Value::from(*n),
                toml::Value::Boolean(b) => serde_json::Value::from(*b),
                _ => {
                    return Err(ConfigFileError::new(
                        format!("{at}.{claim}"),
                        "must be a string, an integer or a boolean",
                    ));
                }
            };
            Ok((claim.clone(), json))
        })
        .collect()
}

fn forward(section: &ForwardSection) -> Result<ForwardConfig, ConfigFileError> {
    let forward_authorization = match section.authorization.as_deref() {
        None | Some("strip") => false,
        Some("forward") => true,
        Some(other) => {
            return Err(ConfigFileError::new(
                "forward.authorization",
                format!("{other:?}: expected \"strip\" or \"forward\""),
            ));
        }
    };
    let mut claims = Vec::with_capacity(section.claims.len());
    for (claim, header) in &section.claims {
        let name = header_name(header, &format!("forward.claims.{claim}"))?;
        if claims.iter().any(|(_, h)| *h == name) {
            return Err(ConfigFileError::new(
                format!("forward.claims.{claim}"),
                format!("header {header:?} is already used for another claim"),
            ));
        }
        claims.push((claim.clone(), name));
    }
    let payload_header = section
        .payload_header
        .as_deref()
        .map(|h| header_name(h, "forward.payload_header"))
        .transpose()?;
    if let Some(payload) = &payload_header
        && claims.iter().any(|(_, h)| h == payload)
    {
        return Err(ConfigFileError::new(
            "forward.payload_header",
            "is already used for a claim",
        ));
    }
    let array_separator = section
        .array_separator
        .clone()
        .unwrap_or_else(|| ",".to_owned());
    if array_separator.is_empty() || http::HeaderValue::from_str(&array_separator).is_err() {
        return Err(ConfigFileError::new(
            "forward.array_separator",
            "must be non-empty visible ASCII",
        ));
    }
    Ok(ForwardConfig {
        forward_authorization,
        claims,
        array_separator,
        payload_header,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
        [server]
        listen = ["127.0.0.1:0"]
        [upstream]
        url = "http://127.0.0.1:9000"
    "#;

    fn error(text: &str) -> ConfigFileError {
        Config::from_toml(text, "test.toml").unwrap_err()
    }

    #[test]
    fn minimal_config_is_accepted() {
        let config = Config::from_toml(MINIMAL, "test.toml").unwrap();
        assert_eq!(config.route_count(), 0);
        assert!(!config.forward.forward_authorization);
    }

    #[test]
    fn unknown_key_names_its_path() {
        let e = error(&format!("{MINIMAL}\n[limits]\nmax_body = 3\n"));
        assert_eq!(e.path(), "limits.max_body");
        assert!(e.message().contains("max_body"), "{e}");
        assert_eq!(e.file(), "test.toml");
    }

    #[test]
    fn bad_scope_names_index() {
        let text = format!(
            "{MINIMAL}\n[[issuers]]\nissuer=\"https://i\"\naudiences=[\"a\"]\njwks_uri=\"https://i/jwks\"\n\
             [[routes]]\npath=\"/a\"\n[[routes]]\npath=\"/b\"\n[[routes]]\npath=\"/c\"\nscopes_all=[\"bad scope\"]\n"
        );
        let e = error(&text);
        assert_eq!(e.path(), "routes[2].scopes_all[0]");
        assert!(
            e.to_string()
                .starts_with("test.toml: routes[2].scopes_all[0]: ")
        );
    }

    #[test]
    fn type_error_names_path() {
        let e = error(&format!(
            "{MINIMAL}\n[[routes]]\npath=\"/a\"\nmethods=\"GET\"\n"
        ));
        assert_eq!(e.path(), "routes[0].methods");
    }

    #[test]
    fn inline_secret_is_refused() {
        let text = format!(
            "{MINIMAL}\n[[issuers]]\nissuer=\"https://i\"\naudiences=[\"a\"]\n\
             [issuers.introspection]\nendpoint=\"https://i/introspect\"\nclient_id=\"c\"\nclient_secret=\"s\"\n"
        );
        let e = error(&text);
        assert_eq!(e.path(), "issuers[0].introspection.client_secret");
        assert!(e.message().contains("client_secret"));
    }

    #[test]
    fn plain_http_key_source_only_on_loopback() {
        let text = format!(
            "{MINIMAL}\n[[issuers]]\nissuer=\"https://i\"\naudiences=[\"a\"]\njwks_uri=\"http://example.com/jwks\"\n"
        );
        assert_eq!(error(&text).path(), "issuers[0].jwks_uri");
    }

    #[test]
    fn the_library_refuses_and_the_gateway_points_at_the_key() {
        let issuer = |extra: &str| {
            format!(
                "{MINIMAL}\n[[issuers]]\nissuer=\"https://i\"\njwks_uri=\"https://i/jwks\"\n{extra}\n"
            )
        };
        let refused = |extra: &str| error(&issuer(extra)).path().to_owned();
        assert_eq!(
            refused("audiences=[\"a\"]\nleeway=\"10m\""),
            "issuers[0].leeway"
        );
        assert_eq!(refused("audiences=[]"), "issuers[0].audiences");
        assert_eq!(refused("audiences=[\"a\", \"\"]"), "issuers[0].audiences");
        let many: Vec<String> = (0..65).map(|i| format!("\"c{i}\"")).collect();
        assert_eq!(
            refused(&format!(
                "audiences=[\"a\"]\nrequired_claims=[{}]",
                many.join(",")
            )),
            "issuers[0].required_claims"
        );
        assert_eq!(
            refused("audiences=[\"a\"]\nrequired_claims=[\"x\", \"x\"]"),
            "issuers[0].required_claims[1]"
        );
    }

    #[test]
    fn key_set_settings_are_bounded_not_clamped() {
        let issuer = |extra: &str| {
            format!(
                "{MINIMAL}\n[[issuers]]\nissuer=\"https://i\"\naudiences=[\"a\"]\njwks_uri=\"https://i/jwks\"\n{extra}\n"
            )
        };
        let refused = |extra: &str| error(&issuer(extra)).path().to_owned();
        // Below the minimum lifetime the library would clamp it: refused instead.
        assert_eq!(refused("jwks_refresh=\"30s\""), "issuers[0].jwks_refresh");
        assert_eq!(refused("jwks_refresh=\"2h\""), "issuers[0].jwks_refresh");
        assert_eq!(
            refused("jwks_min_lifetime=\"2h\""),
            "issuers[0].jwks_min_lifetime"
        );
        assert_eq!(
            refused("unknown_kid_cooldown=\"500ms\""),
            "issuers[0].unknown_kid_cooldown"
        );
        assert_eq!(
            refused("http_timeout=\"2s\"\nhttp_connect_timeout=\"3s\""),
            "issuers[0].http_connect_timeout"
        );
        assert_eq!(
            refused("jwks_max_staleness=\"2d\""),
            "issuers[0].jwks_max_staleness"
        );
        let config = Config::from_toml(
            &issuer(
                "jwks_refresh=\"30s\"\njwks_min_lifetime=\"10s\"\njwks_max_staleness=\"0s\"\n\
                 unknown_kid_cooldown=\"5s\"\nhttp_timeout=\"2s\"",
            ),
            "test.toml",
        )
        .unwrap();
        let issuer = &config.issuers[0];
        assert_eq!(issuer.jwks_refresh, Duration::from_secs(30));
        assert_eq!(issuer.jwks_min_lifetime, Duration::from_secs(10));
        assert_eq!(issuer.jwks_max_lifetime, portcullis_issuer::DEFAULT_MAX_TTL);
        assert_eq!(issuer.jwks_max_staleness, Duration::ZERO);
        assert_eq!(issuer.unknown_kid_cooldown, Duration::from_secs(5));
        assert_eq!(issuer.http_timeout, Duration::from_secs(2));
        // The connect timeout's default never exceeds the whole exchange's.
        assert_eq!(issuer.http_connect_timeout, Duration::from_secs(2));
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert!(parse_duration("2").is_err());
        assert!(parse_duration("2d").is_err());
        assert!(parse_duration("s").is_err());
    }

    #[test]
    fn syntax_error_names_line() {
        let e = error("[server]\nlisten = [\n");
        assert!(e.message().contains("line"), "{e}");
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

            #[test]
            fn arbitrary_files_never_panic(text in "\\PC{0,200}") {
                let _ = Config::from_toml(&text, "fuzz.toml");
            }
        }
    }
}
