//! Checking the file as written into the configuration the gateway runs: the rules that
//! relate several keys, and every rule the library owns asked of the library, each
//! refusal at its key path. Single values were checked as they were read (`value`).

use std::net::SocketAddr;
use std::time::Duration;

use http::HeaderName;
use portcullis::AuthenticationLayer;
use portcullis_jwt::ScopeRequirement;

use super::error::KeyPath;
use super::file::{
    DecisionSection, File, ForwardSection, ProtectedResourceSection, RouteSection, UpstreamSection,
};
use super::issuer::issuer;
use super::value::{
    AcrValue, Addr, Audience, ClaimKey, ClaimValue, List, MaxAge, RequestHeader, Role, Scope, Span,
    UpgradeProtocol, UpstreamName,
};
use super::{
    CertificateFiles, Config, ConfigFileError, DecisionConfig, DecisionSource, ForwardConfig,
    HttpDecisionConfig, IssuerConfig, Limits, MtlsConfig, ProtectedResource, Requirement,
    RouteConfig, UpgradePolicy, UpstreamConfig, UpstreamProtocol, UpstreamTls,
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

pub(super) fn validate(file: File, origin: &str) -> Result<Config, ConfigFileError> {
    let realm = file.server.realm.unwrap_or_else(|| "portcullis".to_owned());
    let limits = Limits {
        max_request_body: file
            .limits
            .max_request_body_bytes
            .map_or(10 * 1024 * 1024, |n| n.0),
        request_timeout: Span::or(file.limits.request_timeout, Duration::from_secs(30)),
        header_read_timeout: Span::or(file.limits.header_read_timeout, Duration::from_secs(10)),
        max_token_bytes: file
            .limits
            .max_token_bytes
            .map_or(portcullis_jwt::DEFAULT_MAX_TOKEN_SIZE, |n| n.0),
        upgrade_max_lifetime: Span::or(file.limits.upgrade_max_lifetime, Duration::from_secs(3600)),
    };

    let issuers_at = KeyPath::new("issuers");
    let mut issuers = Vec::with_capacity(file.issuers.len());
    for (i, section) in file.issuers.iter().enumerate() {
        let at = issuers_at.index(i);
        let issuer = issuer(section, &at, origin, limits.max_token_bytes)?;
        if issuers
            .iter()
            .any(|other: &IssuerConfig| other.issuer == issuer.issuer)
        {
            return Err(at
                .key("issuer")
                .error("the same issuer is configured twice"));
        }
        issuers.push(issuer);
    }
    let mut introspecting = (0..issuers.len()).filter(|&i| issuers[i].introspection.is_some());
    if let Some(second) = introspecting.nth(1) {
        return Err(issuers_at.index(second).key("introspection").error(
            "only one issuer may introspect: an opaque token does not say which issuer \
             made it, and sending it to several would leak it",
        ));
    }

    let decision = file.decision.map(decision).transpose()?;
    let upstreams = upstreams(file.upstream, file.upstreams, decision.is_some())?;
    let routes_at = KeyPath::new("routes");
    let mut routes = Vec::with_capacity(file.routes.len());
    let edge = RouteEdge {
        upgrade_max_lifetime: limits.upgrade_max_lifetime,
        dpop: file.dpop.is_some(),
    };
    for (i, section) in file.routes.into_iter().enumerate() {
        let at = routes_at.index(i);
        let route = route(section, &at, &issuers, &upstreams, &edge)?;
        if let Some(earlier) = routes.iter().position(|other: &RouteConfig| {
            other.host == route.host
                && other.path == route.path
                && methods_overlap(other.methods.as_deref(), route.methods.as_deref())
        }) {
            return Err(at.error(format!(
                "matches the same host, path and methods as routes[{earlier}] ({:?}), which                  comes first: it could never be chosen",
                routes[earlier].name
            )));
        }
        if routes
            .iter()
            .any(|other: &RouteConfig| other.name == route.name)
        {
            return Err(at.key("name").error(format!(
                "the name {:?} is used by an earlier route",
                route.name
            )));
        }
        if !matches!(route.requirement, Requirement::Anonymous) && issuers.is_empty() {
            return Err(at
                .key("require")
                .error("the route needs a token but no [[issuers]] are configured"));
        }
        routes.push(route);
    }

    let forward = forward(file.forward)?;
    let protected_resource = file
        .protected_resource
        .map(|section| protected_resource(section, &issuers));
    challenge(&realm, protected_resource.as_ref())?;
    let store = file
        .store
        .map(|section| super::store::store(section, origin, file.operations.listen.is_some()))
        .transpose()?;
    let dpop = file
        .dpop
        .map(|section| super::dpop::policy(section, origin, store.as_ref()))
        .transpose()?;

    let tls_at = KeyPath::new("server.tls");
    let tls = file
        .server
        .tls
        .into_iter()
        .enumerate()
        .map(|(i, section)| super::tls::listener(section, &tls_at.index(i)))
        .collect::<Result<Vec<_>, _>>()?;
    let listen: Vec<SocketAddr> = file
        .server
        .listen
        .map(|list| list.0.into_iter().map(|a| a.0).collect())
        .unwrap_or_default();
    if upstreams.is_empty() {
        if !listen.is_empty() || !tls.is_empty() {
            let at = if listen.is_empty() {
                "server.tls"
            } else {
                "server.listen"
            };
            return Err(KeyPath::new(at).error(
                "there is no [upstream] to proxy to: a decision-only gateway listens in \
                 [decision]; add [upstream] to proxy too",
            ));
        }
    } else if listen.is_empty() && tls.is_empty() {
        return Err(KeyPath::new("server.listen")
            .error("no listener: set server.listen (cleartext) or add a [[server.tls]] listener"));
    }
    listeners_are_distinct(&listen, &tls)?;

    Ok(Config {
        source: origin.to_owned(),
        listen,
        tls,
        operations_listen: file.operations.listen.map(|a| a.0),
        realm,
        shutdown_grace: Span::or(file.server.shutdown_grace, Duration::from_secs(30)),
        upstreams,
        limits,
        issuers,
        routes,
        forward,
        protected_resource,
        dpop,
        mtls: file.mtls.map(|section| MtlsConfig {
            header: section.certificate_header.0,
            format: section.format.0,
            trusted_proxies: section.trusted_proxies.0.into_iter().map(|n| n.0).collect(),
        }),
        decision,
        access_log: file.log.access,
        store,
        tracing: file.tracing.map(tracing).transpose()?,
    })
}

/// `[tracing]`, and its exporter if this build has one.
fn tracing(section: super::file::TracingSection) -> Result<super::TracingConfig, ConfigFileError> {
    let at = KeyPath::new("tracing").key("otlp");
    let otlp = match section.otlp {
        None => None,
        Some(_) if !cfg!(feature = "otlp") => {
            return Err(at.error(
                "this build has no OTLP exporter: build portcullis-gateway with the cargo \
                 feature `otlp`",
            ));
        }
        Some(otlp) => {
            let endpoint: http::Uri = otlp
                .endpoint
                .parse()
                .ok()
                .filter(|uri: &http::Uri| uri.scheme_str() == Some("http") && uri.host().is_some())
                .ok_or_else(|| {
                    at.key("endpoint").error(
                        "an http:// URL such as \"http://127.0.0.1:4318/v1/traces\": the \
                         exporter speaks cleartext OTLP/HTTP to a collector on a loopback or \
                         private hop (an OpenTelemetry Collector sidecar)",
                    )
                })?;
            Some(super::OtlpConfig {
                endpoint,
                service_name: otlp
                    .service_name
                    .map_or_else(|| "portcullis-gateway".to_owned(), |n| n.0),
            })
        }
    };
    Ok(super::TracingConfig {
        sampled: section.sampled.unwrap_or(true),
        otlp,
    })
}

/// An `[upstream]` (or `[upstreams.NAME]`) table, checked: TLS settings only for an
/// `https://` URL, a client key only with its chain.
fn upstream(
    section: UpstreamSection,
    at: &KeyPath,
    name: Option<String>,
) -> Result<UpstreamConfig, ConfigFileError> {
    let https = section.url.scheme == http::uri::Scheme::HTTPS;
    let tls = if https {
        let client_certificate = match (section.client_chain_file, section.client_key_file) {
            (Some(chain_file), Some(key_file)) => Some(CertificateFiles {
                chain_file,
                key_file,
            }),
            (None, None) => None,
            (Some(_), None) => {
                return Err(at
                    .key("client_key_file")
                    .error("needs client_chain_file's key"));
            }
            (None, Some(_)) => {
                return Err(at
                    .key("client_chain_file")
                    .error("needs the chain of client_key_file"));
            }
        };
        Some(UpstreamTls {
            ca_file: section.ca_file,
            client_certificate,
        })
    } else {
        let set = [
            ("ca_file", section.ca_file.is_some()),
            ("client_chain_file", section.client_chain_file.is_some()),
            ("client_key_file", section.client_key_file.is_some()),
        ];
        if let Some((key, _)) = set.iter().find(|(_, set)| *set) {
            return Err(at
                .key(key)
                .error("a TLS setting for an http:// upstream; use an https:// url"));
        }
        None
    };
    Ok(UpstreamConfig {
        name,
        at: at.to_string(),
        scheme: section.url.scheme,
        authority: section.url.authority,
        base_path: section.url.base_path,
        protocol: section.protocol.unwrap_or(UpstreamProtocol::Auto),
        connect_timeout: Span::or(section.connect_timeout, Duration::from_secs(5)),
        tls,
    })
}

/// `[upstream]` (the default, first) and `[upstreams.NAME]`: at least one, unless the
/// gateway only decides (`[decision]`).
fn upstreams(
    default: Option<UpstreamSection>,
    named: std::collections::BTreeMap<UpstreamName, UpstreamSection>,
    deciding: bool,
) -> Result<Vec<UpstreamConfig>, ConfigFileError> {
    let mut upstreams = Vec::with_capacity(named.len() + 1);
    if let Some(section) = default {
        upstreams.push(upstream(section, &KeyPath::new("upstream"), None)?);
    }
    let at = KeyPath::new("upstreams");
    for (name, section) in named {
        upstreams.push(upstream(section, &at.key(&name.0), Some(name.0))?);
    }
    if upstreams.is_empty() && !deciding {
        return Err(KeyPath::new("upstream").error(
            "missing: a gateway proxies to an [upstream] (or [upstreams.NAME] tables that \
             routes name), decides for the proxy in front of one ([decision]), or both",
        ));
    }
    Ok(upstreams)
}

/// Whether two routes' method lists (`None`: any) share a method.
fn methods_overlap(a: Option<&[http::Method]>, b: Option<&[http::Method]>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => a.iter().any(|m| b.contains(m)),
        _ => true,
    }
}

/// The index of the upstream a route names, or of `[upstream]` when it names none.
fn route_upstream(
    name: Option<UpstreamName>,
    at: &KeyPath,
    upstreams: &[UpstreamConfig],
) -> Result<usize, ConfigFileError> {
    let at = at.key("upstream");
    if upstreams.is_empty() {
        // A decision-only gateway: routes decide, nothing is proxied.
        return match name {
            None => Ok(0),
            Some(_) => Err(at.error("a decision-only gateway has no upstreams to name")),
        };
    }
    match name {
        None => upstreams
            .iter()
            .position(|u| u.name.is_none())
            .ok_or_else(|| {
                at.error("required: there is no [upstream] to default to; name one of [upstreams]")
            }),
        Some(name) => upstreams
            .iter()
            .position(|u| u.name.as_deref() == Some(name.0.as_str()))
            .ok_or_else(|| {
                let known: Vec<&str> = upstreams.iter().filter_map(|u| u.name.as_deref()).collect();
                at.error(format!(
                    "no [upstreams.{}]; the named upstreams are {known:?}",
                    name.0
                ))
            }),
    }
}

/// The path segments every request a route matches starts with.
fn literal_head(path: &PathMatch) -> Vec<&str> {
    match path {
        PathMatch::Exact(p) | PathMatch::Prefix(p) => p
            .trim_start_matches('/')
            .split('/')
            .filter(|s| !s.is_empty())
            .collect(),
        PathMatch::Pattern(parts) => parts
            .iter()
            .map_while(|segment| match segment {
                crate::router::Segment::Literal(text) => Some(text.as_str()),
                crate::router::Segment::Param => None,
            })
            .collect(),
    }
}

/// How many segments `strip_prefix` removes; refused unless every request the route
/// matches starts with them, so what reaches the upstream is never a guess.
fn strip_segments(
    strip: Option<&PathMatch>,
    path: &PathMatch,
    at: &KeyPath,
) -> Result<usize, ConfigFileError> {
    let Some(strip) = strip else {
        return Ok(0);
    };
    let strip = literal_head(strip);
    let head = literal_head(path);
    if !head.starts_with(&strip) {
        return Err(at.key("strip_prefix").error(format!(
            "\"/{}\" is not a leading part of every path the route matches",
            strip.join("/")
        )));
    }
    Ok(strip.len())
}

/// The same address twice would fail at bind time; say which key instead (port 0,
/// "any free port", may repeat).
fn listeners_are_distinct(
    listen: &[SocketAddr],
    tls: &[super::TlsListenerConfig],
) -> Result<(), ConfigFileError> {
    let mut seen: Vec<SocketAddr> = Vec::new();
    let cleartext = listen
        .iter()
        .enumerate()
        .map(|(i, addr)| (KeyPath::new("server.listen").index(i), addr));
    let encrypted = tls.iter().flat_map(|t| {
        let at = KeyPath::new(t.at.clone()).key("listen");
        t.listen
            .iter()
            .enumerate()
            .map(move |(i, addr)| (at.index(i), addr))
    });
    for (at, addr) in cleartext.chain(encrypted) {
        if addr.port() != 0 && seen.contains(addr) {
            return Err(at.error(format!("{addr} is already a listener")));
        }
        seen.push(*addr);
    }
    Ok(())
}

/// `[decision]`: its listeners only on loopback unless the operator says otherwise
/// (whoever reaches the port can claim any original request), at least one of them,
/// and the headers of the HTTP endpoint's source.
fn decision(section: DecisionSection) -> Result<DecisionConfig, ConfigFileError> {
    let at = KeyPath::new("decision");
    let addrs = |list: Option<List<Addr>>| -> Vec<SocketAddr> {
        list.map(|l| l.0.into_iter().map(|a| a.0).collect())
            .unwrap_or_default()
    };
    let listen = addrs(section.listen);
    let grpc_listen = addrs(section.grpc_listen);
    if !section.allow_non_loopback {
        for (key, addrs) in [("listen", &listen), ("grpc_listen", &grpc_listen)] {
            if let Some(i) = addrs.iter().position(|addr| !addr.ip().is_loopback()) {
                return Err(at.key(key).index(i).error(
                    "the decision port trusts the original method, URI and headers it is \
                     told, so only the proxy in front may reach it: listen on loopback, or \
                     set allow_non_loopback = true and keep clients off the port",
                ));
            }
        }
    }
    let http = match (listen.is_empty(), section.source) {
        (true, None) => {
            for (key, set) in [
                ("path_prefix", section.path_prefix.is_some()),
                ("method_header", section.method_header.is_some()),
                ("uri_header", section.uri_header.is_some()),
                ("host_header", section.host_header.is_some()),
            ] {
                if set {
                    return Err(at
                        .key(key)
                        .error(format!("{key} is for the HTTP decision listener (listen)")));
                }
            }
            None
        }
        (true, Some(_)) => {
            return Err(at
                .key("source")
                .error("source is for the HTTP decision listener: set listen too"));
        }
        (false, None) => {
            return Err(at.key("source").error(
                "missing: say where the HTTP decision listener reads the original request \
                 (\"forwarded\", \"original\" or \"request-line\")",
            ));
        }
        (false, Some(source)) => Some(http_decision(
            &at,
            listen,
            source.0,
            section.path_prefix,
            [
                section.method_header,
                section.uri_header,
                section.host_header,
            ],
        )?),
    };
    if http.is_none() && grpc_listen.is_empty() {
        return Err(at.error(
            "no decision listener: set listen (HTTP: nginx, Traefik, Caddy, Envoy over \
             HTTP) or grpc_listen (Envoy ext_authz over gRPC), or both",
        ));
    }
    Ok(DecisionConfig { http, grpc_listen })
}

/// The HTTP decision endpoint: the path prefix and the headers of its source.
fn http_decision(
    at: &KeyPath,
    listen: Vec<SocketAddr>,
    source: DecisionSource,
    path_prefix: Option<String>,
    [method_header, uri_header, host_header]: [Option<RequestHeader>; 3],
) -> Result<HttpDecisionConfig, ConfigFileError> {
    let path_prefix = match (source, path_prefix) {
        (DecisionSource::RequestLine, Some(prefix)) => {
            if !prefix.starts_with('/') || prefix.ends_with('/') {
                return Err(at
                    .key("path_prefix")
                    .error("a path prefix starts with '/' and does not end with one"));
            }
            prefix
        }
        (DecisionSource::RequestLine, None) => String::new(),
        (_, Some(_)) => {
            return Err(at
                .key("path_prefix")
                .error("path_prefix is for source = \"request-line\""));
        }
        (_, None) => String::new(),
    };
    let (method, uri, host) = match source {
        DecisionSource::Forwarded => (
            Some("x-forwarded-method"),
            Some("x-forwarded-uri"),
            Some("x-forwarded-host"),
        ),
        DecisionSource::Original => (Some("x-original-method"), Some("x-original-uri"), None),
        DecisionSource::RequestLine => (None, None, None),
    };
    let named = |header: Option<RequestHeader>, default: Option<&'static str>| {
        header
            .map(|h| h.0)
            .or_else(|| default.map(HeaderName::from_static))
    };
    Ok(HttpDecisionConfig {
        listen,
        source,
        path_prefix,
        method_header: named(method_header, method),
        uri_header: named(uri_header, uri),
        host_header: named(host_header, host),
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
    section: ProtectedResourceSection,
    issuers: &[IssuerConfig],
) -> ProtectedResource {
    let uri = &section.resource.uri;
    // RFC 9728 §3.1: the well-known segment goes between the host and any path.
    let path = format!(
        "/.well-known/oauth-protected-resource{}",
        uri.path().trim_end_matches('/')
    );
    let url = format!(
        "https://{}{path}",
        uri.authority().map_or("", http::uri::Authority::as_str)
    );
    ProtectedResource {
        path,
        url,
        authorization_servers: section
            .authorization_servers
            .unwrap_or_else(|| issuers.iter().map(|i| i.issuer.clone()).collect()),
        resource: section.resource.text,
    }
}

/// What a route's upgrade and CORS settings default to, from the rest of the file.
struct RouteEdge {
    upgrade_max_lifetime: Duration,
    /// `[dpop]` is configured: its headers join the CORS defaults.
    dpop: bool,
}

fn route(
    section: RouteSection,
    at: &KeyPath,
    issuers: &[IssuerConfig],
    upstreams: &[UpstreamConfig],
    edge: &RouteEdge,
) -> Result<RouteConfig, ConfigFileError> {
    let path = match (section.path, section.path_prefix, section.path_pattern) {
        (Some(path), None, None) | (None, Some(path), None) | (None, None, Some(path)) => path,
        _ => return Err(at.error("set exactly one of path, path_prefix or path_pattern")),
    };
    let condition = [
        ("scopes_all", section.scopes_all.is_some()),
        ("scopes_any", section.scopes_any.is_some()),
        ("roles_all", section.roles_all.is_some()),
        ("roles_any", section.roles_any.is_some()),
        ("audiences", section.audiences.is_some()),
        ("acr_values", section.acr_values.is_some()),
        ("max_age", section.max_age.is_some()),
        ("claim_equals", !section.claim_equals.is_empty()),
        ("claim_contains", !section.claim_contains.is_empty()),
    ]
    .into_iter()
    .find_map(|(key, set)| set.then_some(key));
    let requirement = match (section.anonymous, condition) {
        (true, Some(key)) => {
            return Err(at
                .key(key)
                .error("an anonymous route cannot require scopes or claims"));
        }
        (true, None) => Requirement::Anonymous,
        (false, _) => {
            let claims = |map: std::collections::BTreeMap<ClaimKey, ClaimValue>| {
                map.into_iter()
                    .map(|(claim, value)| (claim.0, value.0))
                    .collect()
            };
            let requirement = scopes(section.scopes_all, section.scopes_any, at)?;
            let requirement = roles(
                requirement,
                section.roles_all,
                section.roles_any,
                at,
                issuers,
            )?;
            let requirement = audiences(requirement, section.audiences, at, issuers)?;
            let requirement = step_up(requirement, section.acr_values, section.max_age, at)?;
            Requirement::Authenticated {
                scopes: requirement,
                claim_equals: claims(section.claim_equals),
                claim_contains: claims(section.claim_contains),
            }
        }
    };
    let upstream = route_upstream(section.upstream, at, upstreams)?;
    let strip_segments = strip_segments(section.strip_prefix.as_ref(), &path, at)?;
    if section.anonymous && section.upgrade_close_at_token_expiry.is_some() {
        return Err(at
            .key("upgrade_close_at_token_expiry")
            .error("an anonymous route has no token to expire; upgrade_max_lifetime bounds it"));
    }
    let methods: Option<Vec<http::Method>> = section
        .methods
        .map(|methods| methods.0.into_iter().map(|m| m.0).collect());
    let upgrade = upgrade(
        section.upgrades,
        section.upgrade_max_lifetime,
        section.upgrade_close_at_token_expiry,
        at,
        edge,
    )?;
    if let (Some(_), Some(methods)) = (&upgrade, &methods)
        && !methods.contains(&http::Method::GET)
    {
        return Err(at.key("upgrades").error(
            "an upgrade (and a WebSocket over HTTP/2, RFC 8441) arrives as a GET: add \"GET\" \
             to the route's methods",
        ));
    }
    let cors = section
        .cors
        .map(|cors| super::cors::layer(cors, at, methods.as_deref(), edge.dpop))
        .transpose()?;
    Ok(RouteConfig {
        name: section.name.map_or_else(|| at.to_string(), |name| name.0),
        methods,
        path,
        host: section.host.map(|h| h.0),
        upstream,
        strip_segments,
        requirement,
        upgrade,
        cors,
    })
}

/// A route's `upgrades` and the settings that only mean something with them.
fn upgrade(
    protocols: Option<List<UpgradeProtocol>>,
    max_lifetime: Option<Span<1000, { 7 * 24 * 3600 }>>,
    close_at_token_expiry: Option<bool>,
    at: &KeyPath,
    edge: &RouteEdge,
) -> Result<Option<UpgradePolicy>, ConfigFileError> {
    let Some(protocols) = protocols else {
        let stray = [
            ("upgrade_max_lifetime", max_lifetime.is_some()),
            (
                "upgrade_close_at_token_expiry",
                close_at_token_expiry.is_some(),
            ),
        ]
        .into_iter()
        .find_map(|(key, set)| set.then_some(key));
        return match stray {
            Some(key) => Err(at
                .key(key)
                .error("the route allows no upgrade: set `upgrades` too, or leave this out")),
            None => Ok(None),
        };
    };
    Ok(Some(UpgradePolicy {
        protocols: protocols.0.into_iter().map(|p| p.0).collect(),
        max_lifetime: Span::or(max_lifetime, edge.upgrade_max_lifetime),
        close_at_token_expiry: close_at_token_expiry.unwrap_or(true),
    }))
}

/// A route's `scopes_all` and `scopes_any` as one library requirement.
fn scopes(
    all: Option<List<Scope>>,
    any: Option<List<Scope>>,
    at: &KeyPath,
) -> Result<ScopeRequirement, ConfigFileError> {
    let strings = |scopes: List<Scope>| scopes.0.into_iter().map(|s| s.0).collect::<Vec<_>>();
    let requirement = ScopeRequirement::all_of(all.map(strings).unwrap_or_default())
        .map_err(|e| at.key("scopes_all").error(e.message()))?;
    match any {
        None => Ok(requirement),
        Some(any) => requirement
            .and_any_of(strings(any))
            .map_err(|e| at.key("scopes_any").error(e.message())),
    }
}

/// A route's `roles_all` and `roles_any`, added to its requirement. Roles are read where
/// the token's issuer says (`preset` or `roles_claim`); a route requiring roles when no
/// issuer reads any could never be satisfied, so it is refused.
fn roles(
    requirement: ScopeRequirement,
    all: Option<List<Role>>,
    any: Option<List<Role>>,
    at: &KeyPath,
    issuers: &[IssuerConfig],
) -> Result<ScopeRequirement, ConfigFileError> {
    let key = match (&all, &any) {
        (None, None) => return Ok(requirement),
        (Some(_), _) => "roles_all",
        (None, Some(_)) => "roles_any",
    };
    if !issuers.iter().any(|i| i.validation.roles_claim().is_some()) {
        return Err(at.key(key).error(
            "no issuer reads roles: set a preset or roles_claim on the [[issuers]] whose tokens carry them",
        ));
    }
    let names = |roles: List<Role>| roles.0.into_iter().map(|r| r.0).collect::<Vec<_>>();
    let requirement = match all {
        None => requirement,
        Some(all) => requirement
            .and_roles_all_of(names(all))
            .map_err(|e| at.key("roles_all").error(e.message()))?,
    };
    match any {
        None => Ok(requirement),
        Some(any) => requirement
            .and_roles_any_of(names(any))
            .map_err(|e| at.key("roles_any").error(e.message())),
    }
}

/// A route's `audiences`: each must be one an issuer accepts, since the issuer's rule
/// runs first (a route narrows, never widens).
fn audiences(
    requirement: ScopeRequirement,
    audiences: Option<List<Audience>>,
    at: &KeyPath,
    issuers: &[IssuerConfig],
) -> Result<ScopeRequirement, ConfigFileError> {
    let Some(audiences) = audiences else {
        return Ok(requirement);
    };
    let at = at.key("audiences");
    for (i, audience) in audiences.0.iter().enumerate() {
        if !issuers
            .iter()
            .any(|issuer| issuer.validation.audiences().any(|a| a == audience.0))
        {
            return Err(at.index(i).error(format!(
                "{:?} is not among any issuer's audiences; a route narrows its issuer's \
                 audiences, it cannot add one",
                audience.0
            )));
        }
    }
    requirement
        .and_audience_any_of(audiences.0.into_iter().map(|a| a.0))
        .map_err(|e| at.error(e.message()))
}

/// A route's `acr_values` and `max_age` (RFC 9470 step-up), added to its requirement.
fn step_up(
    requirement: ScopeRequirement,
    acr_values: Option<List<AcrValue>>,
    max_age: Option<MaxAge>,
    at: &KeyPath,
) -> Result<ScopeRequirement, ConfigFileError> {
    let requirement = match acr_values {
        None => requirement,
        Some(values) => requirement
            .and_acr_values(values.0.into_iter().map(|v| v.0))
            .map_err(|e| at.key("acr_values").error(e.message()))?,
    };
    match max_age {
        None => Ok(requirement),
        Some(max_age) => requirement
            .and_max_age(max_age.0)
            .map_err(|e| at.key("max_age").error(e.message())),
    }
}

fn forward(section: ForwardSection) -> Result<ForwardConfig, ConfigFileError> {
    let at = KeyPath::new("forward");
    let mut claims = Vec::with_capacity(section.claims.len());
    for (claim, header) in section.claims {
        if claims.iter().any(|(_, h)| *h == header.0) {
            return Err(at.key("claims").key(claim.0.as_str()).error(format!(
                "header {:?} is already used for another claim",
                header.0.as_str()
            )));
        }
        claims.push((claim.0, header.0));
    }
    let payload_header = section.payload_header.map(|h| h.0);
    if let Some(payload) = &payload_header
        && claims.iter().any(|(_, h)| h == payload)
    {
        return Err(at
            .key("payload_header")
            .error("is already used for a claim"));
    }
    Ok(ForwardConfig {
        forward_authorization: section.forward_authorization,
        claims,
        array_separator: section
            .array_separator
            .map_or_else(|| ",".to_owned(), |s| s.0),
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

    /// One issuer with a key set and `extra` keys.
    fn issuer(extra: &str) -> String {
        format!(
            "{MINIMAL}\n[[issuers]]\nissuer=\"https://i\"\njwks_uri=\"https://i/jwks\"\n{extra}\n"
        )
    }

    /// The key path at which one issuer with `extra` keys is refused.
    fn refused(extra: &str) -> String {
        error(&issuer(extra)).path().to_owned()
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
        let issuer = |extra: &str| issuer(&format!("audiences=[\"a\"]\n{extra}"));
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
    fn syntax_error_names_line() {
        let e = error("[server]\nlisten = [\n");
        assert!(e.message().contains("line"), "{e}");
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn arbitrary_files_never_panic(text in "\\PC{0,200}") {
                let _ = Config::from_toml(&text, "fuzz.toml");
            }
        }
    }
}
