//! The TOML configuration file: parsing, validation, and the checked form the gateway runs.
//!
//! Parsing is strict (`deny_unknown_fields` everywhere) and every error names the file,
//! the key path (`routes[2].scopes_all[0]`) and what is wrong. A configuration that does
//! not validate never starts. The format is documented field by field in the
//! [gateway guide](crate::guide::gateway).
//!
//! `file` is the TOML as written, its values checked one by one as they are read
//! (`value`), so their key paths come from `serde_path_to_error`; `validate` checks
//! the rules that relate several keys or belong to the library, and this module holds
//! the checked configuration the gateway runs.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use http::{HeaderName, Method, Uri};
use portcullis_jwt::{ClaimPath, ScopeRequirement, Validation};

use crate::router::PathMatch;

mod cors;
mod dpop;
mod error;
mod file;
mod issuer;
mod store;
mod tls;
mod validate;
mod value;

pub use error::ConfigFileError;
pub(crate) use issuer::library_error;
pub(crate) use store::{DpopReplay, StoreConfig};
pub(crate) use tls::{CertificateFiles, ClientCertificateMode, TlsListenerConfig, TlsVersion};

/// A validated configuration, ready to run.
///
/// Built only by [`Config::from_file`] or [`Config::from_toml`], which refuse anything
/// that would not run as written.
#[derive(Debug, Clone)]
pub struct Config {
    pub(crate) source: String,
    /// The cleartext listeners.
    pub(crate) listen: Vec<SocketAddr>,
    /// The TLS listeners (`[[server.tls]]`).
    pub(crate) tls: Vec<TlsListenerConfig>,
    pub(crate) operations_listen: Option<SocketAddr>,
    pub(crate) realm: String,
    pub(crate) shutdown_grace: Duration,
    /// `[upstream]` first (the default), then `[upstreams.NAME]` by name; routes name
    /// theirs by index. Empty for a decision-only gateway (then no proxy listens).
    pub(crate) upstreams: Vec<UpstreamConfig>,
    pub(crate) limits: Limits,
    pub(crate) issuers: Vec<IssuerConfig>,
    pub(crate) routes: Vec<RouteConfig>,
    pub(crate) forward: ForwardConfig,
    pub(crate) protected_resource: Option<ProtectedResource>,
    /// DPoP-bound tokens (`[dpop]`), checked by the library's policy.
    pub(crate) dpop: Option<portcullis::DpopPolicy>,
    /// The client certificate from a trusted proxy (`[mtls]`).
    pub(crate) mtls: Option<MtlsConfig>,
    /// Authorization decisions for a proxy in front (`[decision]`).
    pub(crate) decision: Option<DecisionConfig>,
    /// One log line per request (target `portcullis_gateway::access`).
    pub(crate) access_log: bool,
    /// State shared by replicas (`[store]`).
    pub(crate) store: Option<StoreConfig>,
    /// W3C Trace Context: start a trace for requests without one (`[tracing]`).
    pub(crate) tracing: Option<TracingConfig>,
}

/// `[tracing]`: the gateway takes part in W3C Trace Context.
#[derive(Debug, Clone)]
pub(crate) struct TracingConfig {
    /// The `sampled` flag of the traces the gateway starts.
    pub(crate) sampled: bool,
    /// Where spans are exported (`[tracing.otlp]`, cargo feature `otlp`).
    #[cfg_attr(not(feature = "otlp"), allow(dead_code))]
    pub(crate) otlp: Option<OtlpConfig>,
}

/// `[tracing.otlp]`: an OTLP/HTTP collector.
#[derive(Debug, Clone)]
#[cfg_attr(not(feature = "otlp"), allow(dead_code))]
pub(crate) struct OtlpConfig {
    /// The full URL spans are posted to (`http://127.0.0.1:4318/v1/traces`).
    pub(crate) endpoint: Uri,
    pub(crate) service_name: String,
}

/// Where a decision request says what the original request was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DecisionSource {
    /// `X-Forwarded-Method`, `X-Forwarded-Uri`, `X-Forwarded-Host` (Traefik, Caddy).
    Forwarded,
    /// `X-Original-Method`, `X-Original-URI` (nginx `auth_request`, set in its config).
    Original,
    /// The decision request's own method and path, after `path_prefix` (Envoy's HTTP
    /// ext_authz with `path_prefix`).
    RequestLine,
}

/// The decision listeners: HTTP, and Envoy's ext_authz over gRPC.
#[derive(Debug, Clone)]
pub(crate) struct DecisionConfig {
    /// The HTTP decision endpoint, if `listen` is set.
    pub(crate) http: Option<HttpDecisionConfig>,
    /// The `envoy.service.auth.v3.Authorization` listeners (empty: none).
    pub(crate) grpc_listen: Vec<SocketAddr>,
}

/// The HTTP decision listener and how it reads the original request.
#[derive(Debug, Clone)]
pub(crate) struct HttpDecisionConfig {
    pub(crate) listen: Vec<SocketAddr>,
    pub(crate) source: DecisionSource,
    /// Removed from the path under [`DecisionSource::RequestLine`] ("" for none).
    pub(crate) path_prefix: String,
    /// The headers that say the original method, URI and host (`None` under
    /// [`DecisionSource::RequestLine`], and for a host the source does not send).
    pub(crate) method_header: Option<HeaderName>,
    pub(crate) uri_header: Option<HeaderName>,
    pub(crate) host_header: Option<HeaderName>,
}

/// Where a TLS-terminating proxy puts the client certificate, and which peers are
/// that proxy.
#[derive(Debug, Clone)]
pub(crate) struct MtlsConfig {
    pub(crate) header: HeaderName,
    pub(crate) format: portcullis::CertificateHeaderFormat,
    pub(crate) trusted_proxies: Vec<crate::ip_network::IpNetwork>,
}

/// RFC 9728 protected resource metadata.
#[derive(Debug, Clone)]
pub(crate) struct ProtectedResource {
    /// Where the document is served on the gateway.
    pub(crate) path: String,
    /// The absolute URL of the document, for `resource_metadata="..."` in challenges.
    pub(crate) url: String,
    /// The resource identifier, and the issuers the document names. The library's
    /// `ProtectedResourceMetadata` renders the document (scopes from the routes).
    pub(crate) resource: String,
    pub(crate) authorization_servers: Vec<String>,
}

#[derive(Debug, Clone)]
pub(crate) struct UpstreamConfig {
    /// `None` for `[upstream]`.
    pub(crate) name: Option<String>,
    /// Its key path (`upstream`, `upstreams.billing`), for errors about its files.
    pub(crate) at: String,
    pub(crate) scheme: http::uri::Scheme,
    pub(crate) authority: http::uri::Authority,
    /// The upstream URL's path without its trailing slash ("" for the root).
    pub(crate) base_path: String,
    pub(crate) protocol: UpstreamProtocol,
    pub(crate) connect_timeout: Duration,
    /// For `https://` upstreams.
    pub(crate) tls: Option<UpstreamTls>,
}

/// How an `https://` upstream is verified, and what the gateway presents to it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct UpstreamTls {
    /// `None`: the Mozilla roots (`webpki-roots`).
    pub(crate) ca_file: Option<PathBuf>,
    pub(crate) client_certificate: Option<CertificateFiles>,
}

/// Which HTTP version the gateway speaks to the upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(try_from = "String")]
pub(crate) enum UpstreamProtocol {
    /// gRPC (`content-type: application/grpc*`) over HTTP/2 cleartext, the rest HTTP/1.1.
    Auto,
    Http1,
    Http2,
}

#[derive(Debug, Clone)]
pub(crate) struct Limits {
    pub(crate) max_request_body: u64,
    pub(crate) request_timeout: Duration,
    pub(crate) header_read_timeout: Duration,
    pub(crate) max_token_bytes: usize,
    /// The default cap on an upgraded connection's lifetime.
    pub(crate) upgrade_max_lifetime: Duration,
}

impl Limits {
    /// The request header block the server reads before answering 431 itself, the same
    /// over HTTP/1.1 and HTTP/2: 64 KiB (Envoy's default), and room for four times the
    /// longest token. Below it the `portcullis` layers see every token, so one too long
    /// gets the RFC 6750 (or gRPC) answer over every protocol; hyper's own HTTP/2
    /// default (16 KiB) would answer a bare 431 to valid tokens over 16 KiB.
    pub(crate) fn header_block_bytes(&self) -> usize {
        (64 * 1024).max(self.max_token_bytes * 4 + 16 * 1024)
    }
}

#[derive(Debug, Clone)]
pub(crate) struct IssuerConfig {
    pub(crate) issuer: String,
    /// The issuer's table as written, and the token size limit it was built with: a
    /// reload reuses the running issuer when these are unchanged.
    pub(crate) written: toml::Value,
    /// The token rules (issuer, audiences, algorithms, leeway, profile, required
    /// claims), built by the library when the file is checked.
    pub(crate) validation: Validation,
    pub(crate) keys: KeySourceConfig,
    pub(crate) introspection: Option<IntrospectionConfig>,
    pub(crate) jwks_refresh: Duration,
    pub(crate) jwks_retry: Duration,
    /// The bounds an issuer's own caching headers are clamped to.
    pub(crate) jwks_min_lifetime: Duration,
    pub(crate) jwks_max_lifetime: Duration,
    /// How long past its lifetime a key set keeps verifying while refreshes fail.
    pub(crate) jwks_max_staleness: Duration,
    pub(crate) unknown_kid_cooldown: Duration,
    /// The issuer HTTP client's whole-exchange and connect timeouts.
    pub(crate) http_timeout: Duration,
    pub(crate) http_connect_timeout: Duration,
    /// The verified-token cache's capacity; `None`: no cache.
    pub(crate) token_cache: Option<u64>,
}

#[derive(Debug, Clone)]
pub(crate) enum KeySourceConfig {
    Discovery,
    JwksUri(Uri),
    JwksFile(PathBuf),
    /// Introspection only: no JWT keys.
    None,
}

#[derive(Debug, Clone)]
pub(crate) struct IntrospectionConfig {
    pub(crate) endpoint: Uri,
    pub(crate) client_id: String,
    pub(crate) secret: SecretSource,
    pub(crate) auth_method: ClientAuthMethod,
    /// `None`: no cache, ask on every request.
    pub(crate) cache_ttl: Option<Duration>,
    pub(crate) negative_cache_ttl: Option<Duration>,
}

/// Where a client secret is read from at start-up; never the file itself.
#[derive(Debug, Clone)]
pub(crate) enum SecretSource {
    Env(String),
    File(PathBuf),
}

#[derive(Debug, Clone, Copy, serde::Deserialize)]
#[serde(try_from = "String")]
pub(crate) enum ClientAuthMethod {
    Basic,
    Post,
}

#[derive(Debug, Clone)]
pub(crate) struct RouteConfig {
    pub(crate) name: String,
    /// `None`: any method.
    pub(crate) methods: Option<Vec<Method>>,
    pub(crate) path: PathMatch,
    /// `None`: any host.
    pub(crate) host: Option<HostMatch>,
    /// Index into [`Config::upstreams`] (0, and never read, for a decision-only gateway,
    /// which has none).
    pub(crate) upstream: usize,
    /// How many leading path segments are removed before the request goes upstream.
    pub(crate) strip_segments: usize,
    pub(crate) requirement: Requirement,
    /// `None`: an `Upgrade` is ignored (RFC 9110 §7.8), the request goes on without it.
    pub(crate) upgrade: Option<UpgradePolicy>,
    /// Cross-origin requests from browsers: the `tower-http` layer, built (and so
    /// checked) when the file is read.
    pub(crate) cors: Option<tower_http::cors::CorsLayer>,
}

/// Which protocol switches a route allows, and how long the switched connection lasts.
#[derive(Debug, Clone)]
pub(crate) struct UpgradePolicy {
    /// Protocol names in lower case (`websocket`).
    pub(crate) protocols: Vec<String>,
    /// The longest the connection stays open, whatever the token.
    pub(crate) max_lifetime: Duration,
    /// Close the connection when the token that opened it stops being valid (`exp`
    /// plus the issuer's leeway): a socket must not outlive its credentials.
    pub(crate) close_at_token_expiry: bool,
}

impl UpgradePolicy {
    /// Whether `protocol` (a name from an `Upgrade` header, any case, with or without
    /// a version) is one the route allows: listed with its version, or listed bare.
    pub(crate) fn allows(&self, protocol: &str) -> bool {
        let name = protocol.split_once('/').map_or(protocol, |(name, _)| name);
        self.protocols
            .iter()
            .any(|p| p.eq_ignore_ascii_case(protocol) || p.eq_ignore_ascii_case(name))
    }
}

/// The hosts a route is for, compared with the request's host lower-cased, without its
/// port or a trailing dot.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum HostMatch {
    /// This host only.
    Exact(String),
    /// Any host ending with this suffix (`.example.com`, from `*.example.com`): any
    /// depth of subdomain, never the domain itself.
    Suffix(String),
}

/// What a route demands of the request.
#[derive(Debug, Clone)]
pub(crate) enum Requirement {
    Anonymous,
    Authenticated {
        /// All-of and any-of scopes, roles and the route's audiences in one library
        /// requirement (empty: any token of a configured issuer).
        scopes: ScopeRequirement,
        claim_equals: Vec<(ClaimPath, serde_json::Value)>,
        claim_contains: Vec<(ClaimPath, serde_json::Value)>,
    },
}

#[derive(Debug, Clone)]
pub(crate) struct ForwardConfig {
    pub(crate) forward_authorization: bool,
    pub(crate) claims: Vec<(ClaimPath, HeaderName)>,
    pub(crate) array_separator: String,
    pub(crate) payload_header: Option<HeaderName>,
}

impl ForwardConfig {
    /// Every header the gateway itself sets from verified claims: removed from every
    /// inbound request, whatever the route.
    pub(crate) fn owned_headers(&self) -> impl Iterator<Item = &HeaderName> {
        self.claims
            .iter()
            .map(|(_, header)| header)
            .chain(self.payload_header.as_ref())
    }

    /// Whether an inbound header must be removed because an upstream could read it as
    /// one the gateway sets: a claim header, the payload header or an `X-Forwarded-*`
    /// header the gateway writes, spelled with `_` for `-`. CGI, WSGI, PHP and Rack map
    /// `x_auth_subject` and `x-auth-subject` alike to `HTTP_X_AUTH_SUBJECT`, so a client
    /// could otherwise choose the identity the upstream sees.
    pub(crate) fn is_spoofed(&self, name: &HeaderName) -> bool {
        let name = name.as_str();
        self.owned_headers()
            .any(|owned| same_after_cgi_mapping(name, owned.as_str()))
            || SET_BY_GATEWAY
                .iter()
                .any(|set| name != *set && same_after_cgi_mapping(name, set))
    }
}

/// The forwarding headers the gateway writes itself. Their exact spellings are the
/// proxy's to rewrite (`X-Forwarded-For` is appended to), so only look-alikes go.
const SET_BY_GATEWAY: [&str; 3] = ["x-forwarded-for", "x-forwarded-proto", "x-forwarded-host"];

/// Whether two header names meet once `_` is read as `-` and case is ignored (header
/// names arrive lower-cased), as CGI-style stacks read them.
fn same_after_cgi_mapping(a: &str, b: &str) -> bool {
    let fold = |c: u8| {
        if c == b'_' {
            b'-'
        } else {
            c.to_ascii_lowercase()
        }
    };
    a.len() == b.len() && a.bytes().zip(b.bytes()).all(|(x, y)| fold(x) == fold(y))
}

impl Config {
    /// Reads and validates a configuration file.
    ///
    /// # Errors
    /// The file cannot be read, is not valid TOML, has an unknown or mistyped key, or
    /// asks for something the gateway refuses; the error names the key path.
    pub fn from_file(path: &Path) -> Result<Config, ConfigFileError> {
        let display = path.display().to_string();
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigFileError::new("", format!("cannot read: {e}")).in_file(&display))?;
        Config::from_toml(&text, &display)
    }

    /// Parses and validates configuration text; `origin` names it in errors.
    ///
    /// # Errors
    /// As [`Config::from_file`].
    pub fn from_toml(text: &str, origin: &str) -> Result<Config, ConfigFileError> {
        let file = validate::parse(text).map_err(|e| e.in_file(origin))?;
        let mut config = validate::validate(file, origin).map_err(|e| e.in_file(origin))?;
        // The text parsed above; read again as plain TOML for the tables as written.
        if let Ok(toml::Value::Table(mut table)) = toml::from_str::<toml::Value>(text)
            && let Some(toml::Value::Array(written)) = table.remove("issuers")
        {
            let limit = i64::try_from(config.limits.max_token_bytes).unwrap_or(i64::MAX);
            for (issuer, mut written) in config.issuers.iter_mut().zip(written) {
                if let toml::Value::Table(table) = &mut written {
                    table.insert("max_token_bytes".to_owned(), toml::Value::Integer(limit));
                }
                issuer.written = written;
            }
        }
        Ok(config)
    }

    /// Does, short of the network and the listeners, everything `run` does before it
    /// serves: builds every issuer with the library, reads key files and client secrets.
    /// `check-config` runs it, so a configuration it accepts starts.
    ///
    /// # Errors
    /// What would stop the start, with the key path: an unreadable or empty key file, a
    /// missing client secret, a setting the library refuses.
    pub fn check_sources(&self) -> Result<(), ConfigFileError> {
        crate::auth::PreparedIssuers::prepare(&self.issuers, self.store.as_ref())
            .map(drop)
            .map_err(|e| e.in_file(&self.source))?;
        for listener in &self.tls {
            crate::tls::server_config(listener).map_err(|e| e.in_file(&self.source))?;
        }
        for upstream in &self.upstreams {
            if let Some(tls) = &upstream.tls {
                crate::tls::client_config(tls, &upstream.at)
                    .map_err(|e| e.in_file(&self.source))?;
            }
        }
        Ok(())
    }

    /// The proxy's listener addresses as configured, cleartext then TLS (port 0 means
    /// "any free port"); empty for a decision-only gateway.
    pub fn listen_addrs(&self) -> Vec<SocketAddr> {
        self.listen
            .iter()
            .chain(self.tls.iter().flat_map(|t| &t.listen))
            .copied()
            .collect()
    }

    /// The decision listener addresses as configured, HTTP and gRPC (`[decision]`).
    pub fn decision_addrs(&self) -> Vec<SocketAddr> {
        let Some(decision) = &self.decision else {
            return Vec::new();
        };
        (decision.http.iter())
            .flat_map(|http| &http.listen)
            .chain(&decision.grpc_listen)
            .copied()
            .collect()
    }

    /// Where the configuration came from (the `origin` given to [`Config::from_toml`]).
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The number of routes.
    pub fn route_count(&self) -> usize {
        self.routes.len()
    }

    /// The number of issuers.
    pub fn issuer_count(&self) -> usize {
        self.issuers.len()
    }
}
