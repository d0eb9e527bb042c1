//! The file as written: the serde model of the TOML, strict (`deny_unknown_fields`
//! everywhere), before any rule is checked.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct File {
    pub(super) server: ServerSection,
    pub(super) upstream: UpstreamSection,
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
    #[serde(default)]
    pub(super) protected_resource: Option<ProtectedResourceSection>,
    #[serde(default)]
    pub(super) log: LogSection,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct LogSection {
    #[serde(default)]
    pub(super) access: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ProtectedResourceSection {
    pub(super) resource: String,
    #[serde(default)]
    pub(super) authorization_servers: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ServerSection {
    pub(super) listen: Vec<String>,
    #[serde(default)]
    pub(super) realm: Option<String>,
    #[serde(default)]
    pub(super) shutdown_grace: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct UpstreamSection {
    pub(super) url: String,
    #[serde(default)]
    pub(super) protocol: Option<String>,
    #[serde(default)]
    pub(super) connect_timeout: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct LimitsSection {
    #[serde(default)]
    pub(super) max_request_body_bytes: Option<u64>,
    #[serde(default)]
    pub(super) request_timeout: Option<String>,
    #[serde(default)]
    pub(super) header_read_timeout: Option<String>,
    #[serde(default)]
    pub(super) max_token_bytes: Option<usize>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct OperationsSection {
    #[serde(default)]
    pub(super) listen: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct IssuerSection {
    pub(super) issuer: String,
    pub(super) audiences: Vec<String>,
    #[serde(default)]
    pub(super) discovery: bool,
    #[serde(default)]
    pub(super) jwks_uri: Option<String>,
    #[serde(default)]
    pub(super) jwks_file: Option<PathBuf>,
    #[serde(default)]
    pub(super) introspection: Option<IntrospectionSection>,
    #[serde(default)]
    pub(super) algorithms: Option<Vec<String>>,
    #[serde(default)]
    pub(super) leeway: Option<String>,
    #[serde(default)]
    pub(super) require_access_token_type: Option<bool>,
    #[serde(default)]
    pub(super) required_claims: Vec<String>,
    #[serde(default)]
    pub(super) allow_scope_array: bool,
    #[serde(default)]
    pub(super) jwks_refresh: Option<String>,
    #[serde(default)]
    pub(super) jwks_retry: Option<String>,
    #[serde(default)]
    pub(super) jwks_min_lifetime: Option<String>,
    #[serde(default)]
    pub(super) jwks_max_lifetime: Option<String>,
    #[serde(default)]
    pub(super) jwks_max_staleness: Option<String>,
    #[serde(default)]
    pub(super) unknown_kid_cooldown: Option<String>,
    #[serde(default)]
    pub(super) http_timeout: Option<String>,
    #[serde(default)]
    pub(super) http_connect_timeout: Option<String>,
    #[serde(default)]
    pub(super) token_cache: Option<bool>,
    #[serde(default)]
    pub(super) token_cache_capacity: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct IntrospectionSection {
    pub(super) endpoint: String,
    pub(super) client_id: String,
    #[serde(default)]
    pub(super) client_secret_env: Option<String>,
    #[serde(default)]
    pub(super) client_secret_file: Option<PathBuf>,
    #[serde(default)]
    pub(super) auth_method: Option<String>,
    #[serde(default)]
    pub(super) cache: Option<bool>,
    #[serde(default)]
    pub(super) cache_ttl: Option<String>,
    #[serde(default)]
    pub(super) negative_cache_ttl: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RouteSection {
    #[serde(default)]
    pub(super) name: Option<String>,
    #[serde(default)]
    pub(super) methods: Option<Vec<String>>,
    #[serde(default)]
    pub(super) path: Option<String>,
    #[serde(default)]
    pub(super) path_prefix: Option<String>,
    #[serde(default)]
    pub(super) path_pattern: Option<String>,
    #[serde(default)]
    pub(super) require: Option<String>,
    #[serde(default)]
    pub(super) scopes_all: Option<Vec<String>>,
    #[serde(default)]
    pub(super) scopes_any: Option<Vec<String>>,
    #[serde(default)]
    pub(super) claim_equals: BTreeMap<String, toml::Value>,
    #[serde(default)]
    pub(super) claim_contains: BTreeMap<String, toml::Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ForwardSection {
    #[serde(default)]
    pub(super) authorization: Option<String>,
    #[serde(default)]
    pub(super) claims: BTreeMap<String, String>,
    #[serde(default)]
    pub(super) array_separator: Option<String>,
    #[serde(default)]
    pub(super) payload_header: Option<String>,
}
