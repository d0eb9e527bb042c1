//! The file as written: the serde model of the TOML, strict (`deny_unknown_fields`
//! everywhere). Every value is checked on its own as it is read (`value`); the rules
//! that relate several keys are `validate`'s. A key left out is `None` (or its
//! `Default`).

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;

use super::value::{
    self, AcrValue, Addr, Alg, Audience, AudienceClaimName, CertificateFormatName, ClaimHeader,
    ClaimKey, ClaimName, ClaimText, ClaimValue, ClientCertificateModeName, CorsOrigin, Count,
    DecisionSourceName, DpopModeName, FetchUrl, HostName, List, MaxAge, MethodName, Network,
    NonEmpty, PresetName, RequestHeader, ResourceUrl, Role, RouteName, Scope, Separator, Span,
    TlsVersionName, UpgradeProtocol, UpstreamName, UpstreamUrl,
};
use super::{ClientAuthMethod, UpstreamProtocol};
use crate::router::PathMatch;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct File {
    #[serde(default)]
    pub(super) server: ServerSection,
    /// The default upstream. Absent when every route names one of `upstreams`, or for
    /// a decision-only gateway (`[decision]` without proxying).
    pub(super) upstream: Option<UpstreamSection>,
    /// `[upstreams.NAME]`: upstreams routes pick by name.
    #[serde(default)]
    pub(super) upstreams: BTreeMap<UpstreamName, UpstreamSection>,
    #[serde(default)]
    pub(super) limits: LimitsSection,
    #[serde(default)]
    pub(super) operations: OperationsSection,
    #[serde(default)]
    pub(super) issuers: Vec<IssuerSection>,
    #[serde(default)]
    pub(super) routes: Vec<RouteSection>,
    #[serde(default)]
    pub(super) forward: ForwardSection,
    pub(super) protected_resource: Option<ProtectedResourceSection>,
    pub(super) dpop: Option<DpopSection>,
    pub(super) mtls: Option<MtlsSection>,
    pub(super) decision: Option<DecisionSection>,
    /// `[store]`: state shared by replicas (`super::store`).
    pub(super) store: Option<super::store::StoreSection>,
    #[serde(default)]
    pub(super) log: LogSection,
    pub(super) tracing: Option<TracingSection>,
}

/// `[tracing]`: W3C Trace Context, with traces started for requests that carry none.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(super) struct TracingSection {
    pub(super) sampled: Option<bool>,
    pub(super) otlp: Option<OtlpSection>,
}

/// `[tracing.otlp]`: an OpenTelemetry collector taking OTLP/HTTP JSON.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct OtlpSection {
    pub(super) endpoint: String,
    pub(super) service_name: Option<NonEmpty>,
}

/// `[decision]`: authorization decisions for a proxy in front (nginx `auth_request`,
/// Traefik ForwardAuth, Caddy `forward_auth`, Envoy ext_authz over HTTP with `listen`;
/// Envoy ext_authz over gRPC with `grpc_listen`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct DecisionSection {
    pub(super) listen: Option<List<Addr>>,
    pub(super) source: Option<DecisionSourceName>,
    pub(super) grpc_listen: Option<List<Addr>>,
    pub(super) path_prefix: Option<String>,
    pub(super) method_header: Option<RequestHeader>,
    pub(super) uri_header: Option<RequestHeader>,
    pub(super) host_header: Option<RequestHeader>,
    #[serde(default)]
    pub(super) allow_non_loopback: bool,
}

/// `[mtls]`: the client certificate from a TLS-terminating proxy, for certificate-bound
/// tokens (RFC 8705).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct MtlsSection {
    pub(super) certificate_header: RequestHeader,
    pub(super) format: CertificateFormatName,
    pub(super) trusted_proxies: List<Network>,
}

/// `[dpop]`: DPoP-bound tokens (RFC 9449), checked by the library's policy.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct DpopSection {
    /// The origin clients address the gateway at; proofs' `htu` are compared with it
    /// and the request path (checked by the library).
    pub(super) origin: String,
    pub(super) mode: Option<DpopModeName>,
    pub(super) algorithms: Option<List<Alg>>,
    pub(super) max_age: Option<Span<1000, 600>>,
    pub(super) leeway: Option<Span<0, 300>>,
    pub(super) replay_capacity: Option<Count<usize, 1, 10_000_000>>,
    /// Require server-issued nonces in proofs (RFC 9449 §9).
    pub(super) nonces: Option<bool>,
    pub(super) nonce_window: Option<Span<1000, 3600>>,
    /// Where the nonce secret shared by replicas is read from; without either, a random
    /// secret of this process.
    pub(super) nonce_secret_env: Option<String>,
    pub(super) nonce_secret_file: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(super) struct LogSection {
    pub(super) access: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ProtectedResourceSection {
    pub(super) resource: ResourceUrl,
    pub(super) authorization_servers: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ServerSection {
    /// The proxy's cleartext listeners; optional when `tls` has some, refused for a
    /// decision-only gateway.
    pub(super) listen: Option<List<Addr>>,
    pub(super) realm: Option<String>,
    pub(super) shutdown_grace: Option<Span<1, 3600>>,
    /// `[[server.tls]]`: TLS listeners.
    #[serde(default)]
    pub(super) tls: Vec<TlsSection>,
}

/// `[[server.tls]]`: listeners that terminate TLS, their certificates, and the client
/// certificates they ask for.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct TlsSection {
    pub(super) listen: List<Addr>,
    pub(super) certificates: List<CertificateSection>,
    pub(super) client_ca_file: Option<PathBuf>,
    pub(super) client_certificate: Option<ClientCertificateModeName>,
    pub(super) min_version: Option<TlsVersionName>,
    /// How often the files are compared with what is served; `0s`: on SIGHUP only.
    pub(super) watch_interval: Option<Span<0, 3600>>,
}

/// `[[server.tls.certificates]]`: a certificate chain and its key, PEM files.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct CertificateSection {
    pub(super) chain_file: PathBuf,
    pub(super) key_file: PathBuf,
}

impl value::Listed for CertificateSection {
    const EMPTY: &str = "at least one certificate is needed";
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct UpstreamSection {
    pub(super) url: UpstreamUrl,
    pub(super) protocol: Option<UpstreamProtocol>,
    pub(super) connect_timeout: Option<Span<1, 600>>,
    /// `https://` only: the CA the upstream's certificate is verified against.
    pub(super) ca_file: Option<PathBuf>,
    /// `https://` only: the certificate the gateway presents to the upstream.
    pub(super) client_chain_file: Option<PathBuf>,
    pub(super) client_key_file: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(super) struct LimitsSection {
    pub(super) max_request_body_bytes: Option<Count<u64, 1>>,
    pub(super) request_timeout: Option<Span<1, { 24 * 3600 }>>,
    pub(super) header_read_timeout: Option<Span<1, 600>>,
    pub(super) max_token_bytes: Option<Count<usize, 256, 65536>>,
    /// The longest an upgraded connection (a WebSocket) stays open, unless its route
    /// says otherwise.
    pub(super) upgrade_max_lifetime: Option<Span<1000, { 7 * 24 * 3600 }>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(super) struct OperationsSection {
    pub(super) listen: Option<Addr>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct IssuerSection {
    pub(super) issuer: String,
    pub(super) audiences: Vec<String>,
    /// The library preset the token rules start from; the keys below override it.
    pub(super) preset: Option<PresetName>,
    pub(super) roles_claim: Option<ClaimKey>,
    pub(super) scope_claim: Option<NonEmpty>,
    pub(super) audience_claim: Option<AudienceClaimName>,
    #[serde(default)]
    pub(super) discovery: bool,
    pub(super) jwks_uri: Option<FetchUrl>,
    pub(super) jwks_file: Option<PathBuf>,
    pub(super) introspection: Option<IntrospectionSection>,
    pub(super) algorithms: Option<List<Alg>>,
    /// Bounded by the library.
    pub(super) leeway: Option<Span>,
    pub(super) require_access_token_type: Option<bool>,
    #[serde(default)]
    pub(super) required_claims: Vec<NonEmpty>,
    /// Top-level claims that must be a string equal to one of the listed values; each
    /// replaces the preset's values for that claim.
    #[serde(default)]
    pub(super) required_claim_values: BTreeMap<ClaimName, List<ClaimText>>,
    pub(super) allow_scope_array: Option<bool>,
    pub(super) jwks_refresh: Option<Span<1, { 24 * 3600 }>>,
    pub(super) jwks_retry: Option<Span<1, 3600>>,
    /// Below a second, a key set would be fetched again and again.
    pub(super) jwks_min_lifetime: Option<Span<1000, { 24 * 3600 }>>,
    pub(super) jwks_max_lifetime: Option<Span<1, { 24 * 3600 }>>,
    pub(super) jwks_max_staleness: Option<Span<0, { 24 * 3600 }>>,
    /// At least a second: each unknown kid may cost a fetch.
    pub(super) unknown_kid_cooldown: Option<Span<1000, 3600>>,
    pub(super) http_timeout: Option<Span<1, 60>>,
    pub(super) http_connect_timeout: Option<Span<1, 60>>,
    pub(super) token_cache: Option<bool>,
    pub(super) token_cache_capacity: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct IntrospectionSection {
    pub(super) endpoint: FetchUrl,
    pub(super) client_id: NonEmpty,
    pub(super) client_secret_env: Option<String>,
    pub(super) client_secret_file: Option<PathBuf>,
    pub(super) auth_method: Option<ClientAuthMethod>,
    pub(super) cache: Option<bool>,
    pub(super) cache_ttl: Option<Span<1, 3600>>,
    pub(super) negative_cache_ttl: Option<Span<1, 600>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RouteSection {
    pub(super) name: Option<RouteName>,
    pub(super) methods: Option<List<MethodName>>,
    #[serde(default, deserialize_with = "value::path")]
    pub(super) path: Option<PathMatch>,
    #[serde(default, deserialize_with = "value::path_prefix")]
    pub(super) path_prefix: Option<PathMatch>,
    #[serde(default, deserialize_with = "value::path_pattern")]
    pub(super) path_pattern: Option<PathMatch>,
    #[serde(default, rename = "require", deserialize_with = "value::anonymous")]
    pub(super) anonymous: bool,
    /// Only requests for this host (`Host`, or `:authority` over HTTP/2).
    pub(super) host: Option<HostName>,
    /// The `[upstreams.NAME]` the route goes to (default: `[upstream]`).
    pub(super) upstream: Option<UpstreamName>,
    /// Leading segments removed from the path sent upstream.
    #[serde(default, deserialize_with = "value::strip_prefix")]
    pub(super) strip_prefix: Option<PathMatch>,
    pub(super) scopes_all: Option<List<Scope>>,
    pub(super) scopes_any: Option<List<Scope>>,
    pub(super) roles_all: Option<List<Role>>,
    pub(super) roles_any: Option<List<Role>>,
    pub(super) audiences: Option<List<Audience>>,
    /// Step-up (RFC 9470): the `acr` values one of which the token must carry, in
    /// order of preference, and how long ago the user may have authenticated.
    pub(super) acr_values: Option<List<AcrValue>>,
    pub(super) max_age: Option<MaxAge>,
    #[serde(default)]
    pub(super) claim_equals: BTreeMap<ClaimKey, ClaimValue>,
    #[serde(default)]
    pub(super) claim_contains: BTreeMap<ClaimKey, ClaimValue>,
    /// The protocols a client may switch to on this route (`Upgrade`, RFC 9110 §7.8).
    pub(super) upgrades: Option<List<UpgradeProtocol>>,
    pub(super) upgrade_max_lifetime: Option<Span<1000, { 7 * 24 * 3600 }>>,
    pub(super) upgrade_close_at_token_expiry: Option<bool>,
    /// Cross-origin requests from browsers (`[routes.cors]`).
    pub(super) cors: Option<CorsSection>,
}

/// `[routes.cors]`: which browser origins may call the route, and how.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct CorsSection {
    pub(super) allow_origins: List<CorsOrigin>,
    pub(super) allow_methods: Option<List<MethodName>>,
    pub(super) allow_headers: Option<Vec<RequestHeader>>,
    pub(super) expose_headers: Option<Vec<RequestHeader>>,
    #[serde(default)]
    pub(super) allow_credentials: bool,
    pub(super) max_age: Option<Span<0, { 24 * 3600 }>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(super) struct ForwardSection {
    #[serde(rename = "authorization", deserialize_with = "value::forward")]
    pub(super) forward_authorization: bool,
    pub(super) claims: BTreeMap<ClaimKey, ClaimHeader>,
    pub(super) array_separator: Option<Separator>,
    pub(super) payload_header: Option<ClaimHeader>,
}
