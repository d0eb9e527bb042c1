//! Checking an `[[issuers]]` table: its token rules built by the library (refusals at
//! the key path of the setting the library names), its key source, the key set's
//! timing, the issuer HTTP client's timeouts, and introspection.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use portcullis_issuer::{
    DEFAULT_CONNECT_TIMEOUT, DEFAULT_MAX_STALENESS, DEFAULT_MAX_TTL, DEFAULT_MIN_TTL,
    DEFAULT_TIMEOUT, DEFAULT_TTL, DEFAULT_UNKNOWN_KID_COOLDOWN,
};
use portcullis_jwt::{AlgorithmSet, ScopeClaim, Validation};

use super::error::KeyPath;
use super::file::{IntrospectionSection, IssuerSection};
use super::value::{FetchUrl, Span};
use super::{
    ClientAuthMethod, ConfigFileError, IntrospectionConfig, IssuerConfig, KeySourceConfig,
    SecretSource,
};

/// A library refusal at the key path of the setting it names (`at` when it names none
/// this table knows; a key with a dot is a path from the root): the library owns the
/// rule, the gateway only says where it is.
pub(crate) fn library_error(
    at: impl fmt::Display,
    error: &portcullis_jwt::ConfigError,
    keys: &[(&str, &str)],
) -> ConfigFileError {
    let at = KeyPath::new(at.to_string());
    let key = error
        .setting()
        .and_then(|setting| keys.iter().find(|(name, _)| *name == setting));
    match key {
        Some((_, key)) if key.contains('.') => KeyPath::new(*key),
        Some((_, key)) => at.key(key),
        None => at,
    }
    .error(error.message())
}

/// The issuer's token rules, built by the library, which refuses what it must (an
/// empty issuer or audience, a leeway over its maximum, too many required claims).
fn issuer_validation(
    section: &IssuerSection,
    max_token_bytes: usize,
    at: &KeyPath,
) -> Result<Validation, ConfigFileError> {
    let algorithms = match &section.algorithms {
        Some(list) => list.0.iter().map(|alg| alg.0).collect(),
        None => AlgorithmSet::ASYMMETRIC,
    };
    // The preset first: every key written after it overrides what it sets, one by one.
    let mut builder = match section.preset {
        Some(preset) => preset.0.builder(),
        None => Validation::builder(),
    }
    .issuer(section.issuer.clone())
    .algorithms(algorithms)
    .leeway(Span::or(section.leeway, portcullis_jwt::DEFAULT_LEEWAY))
    .max_token_size(max_token_bytes);
    if let Some(require) = section.require_access_token_type {
        builder = builder.require_access_token_type(require);
    }
    if let Some(allow) = section.allow_scope_array {
        builder = builder.allow_scope_array(allow);
    }
    if let Some(claim) = &section.scope_claim {
        builder = builder.scope_claim(ScopeClaim::Named(claim.0.clone().into_boxed_str()));
    }
    if let Some(path) = &section.roles_claim {
        builder = builder.roles_claim(path.0.as_str());
    }
    if let Some(claim) = section.audience_claim {
        builder = builder.audience_claim(claim.0);
    }
    for audience in &section.audiences {
        builder = builder.audience(audience.clone());
    }
    for claim in &section.required_claims {
        builder = builder.require_claim(claim.0.clone());
    }
    // Written values replace the preset's for that claim (Entra v1: `ver = ["1.0"]`).
    for (name, values) in &section.required_claim_values {
        builder = builder.without_claim_value(&name.0);
        for value in &values.0 {
            builder = builder.require_claim_value(name.0.clone(), value.0.clone());
        }
    }
    builder.build().map_err(|e| {
        library_error(
            at,
            &e,
            &[
                ("issuer", "issuer"),
                ("audience", "audiences"),
                ("algorithms", "algorithms"),
                ("leeway", "leeway"),
                ("require_claim", "required_claims"),
                ("require_claim_value", "required_claim_values"),
                ("roles_claim", "roles_claim"),
                ("scope_claim", "scope_claim"),
                ("max_token_size", "limits.max_token_bytes"),
            ],
        )
    })
}

pub(super) fn issuer(
    section: &IssuerSection,
    at: &KeyPath,
    origin: &str,
    max_token_bytes: usize,
) -> Result<IssuerConfig, ConfigFileError> {
    let keys = match (section.discovery, &section.jwks_uri, &section.jwks_file) {
        (true, None, None) => {
            FetchUrl::try_from(section.issuer.clone()).map_err(|m| at.key("issuer").error(m))?;
            KeySourceConfig::Discovery
        }
        (false, Some(uri), None) => KeySourceConfig::JwksUri(uri.0.clone()),
        (false, None, Some(path)) => KeySourceConfig::JwksFile(resolve(origin, path)),
        (false, None, None) => KeySourceConfig::None,
        _ => {
            return Err(at.error("choose one key source: discovery = true, jwks_uri or jwks_file"));
        }
    };
    let introspection = section
        .introspection
        .as_ref()
        .map(|s| introspection(s, &at.key("introspection"), origin))
        .transpose()?;
    if matches!(keys, KeySourceConfig::None) && introspection.is_none() {
        return Err(at.error(
            "no way to verify tokens: set discovery = true, jwks_uri, jwks_file or [introspection]",
        ));
    }
    // The names the library cannot point at: one listed twice.
    let claims = &section.required_claims;
    if let Some(j) = (1..claims.len()).find(|&j| claims[..j].contains(&claims[j])) {
        return Err(at
            .key("required_claims")
            .index(j)
            .error(format!("{:?} is listed twice", claims[j].0)));
    }
    let validation = issuer_validation(section, max_token_bytes, at)?;
    let token_cache = match (section.token_cache, section.token_cache_capacity) {
        (Some(false), Some(_)) => {
            return Err(at
                .key("token_cache_capacity")
                .error("the token cache is off (token_cache = false)"));
        }
        (Some(false), None) => None,
        (_, Some(0)) => {
            return Err(at
                .key("token_cache_capacity")
                .error("must be more than zero; set token_cache = false to turn the cache off"));
        }
        (_, capacity) => Some(capacity.unwrap_or(10_000)),
    };
    let http_timeout = Span::or(section.http_timeout, DEFAULT_TIMEOUT);
    let http_connect_timeout = Span::or(
        section.http_connect_timeout,
        DEFAULT_CONNECT_TIMEOUT.min(http_timeout),
    );
    if http_connect_timeout > http_timeout {
        return Err(at
            .key("http_connect_timeout")
            .error(format!("must not exceed http_timeout ({http_timeout:?})")));
    }
    let key_set = key_set_timing(section, at)?;
    Ok(IssuerConfig {
        issuer: section.issuer.clone(),
        written: toml::Value::Table(toml::Table::new()),
        token_cache,
        validation,
        keys,
        introspection,
        jwks_refresh: key_set.refresh,
        jwks_retry: Span::or(section.jwks_retry, Duration::from_secs(5)),
        jwks_min_lifetime: key_set.min_lifetime,
        jwks_max_lifetime: key_set.max_lifetime,
        jwks_max_staleness: Span::or(section.jwks_max_staleness, DEFAULT_MAX_STALENESS),
        unknown_kid_cooldown: Span::or(section.unknown_kid_cooldown, DEFAULT_UNKNOWN_KID_COOLDOWN),
        http_timeout,
        http_connect_timeout,
    })
}

/// The lifetimes of a fetched key set, and its refresh between them.
struct KeySetTiming {
    refresh: Duration,
    min_lifetime: Duration,
    max_lifetime: Duration,
}

fn key_set_timing(section: &IssuerSection, at: &KeyPath) -> Result<KeySetTiming, ConfigFileError> {
    let min_lifetime = Span::or(section.jwks_min_lifetime, DEFAULT_MIN_TTL);
    let max_lifetime = Span::or(section.jwks_max_lifetime, DEFAULT_MAX_TTL);
    if min_lifetime > max_lifetime {
        return Err(at.key("jwks_min_lifetime").error(format!(
            "must not exceed jwks_max_lifetime ({max_lifetime:?})"
        )));
    }
    let refresh = Span::or(
        section.jwks_refresh,
        DEFAULT_TTL.clamp(min_lifetime, max_lifetime),
    );
    // The library clamps every lifetime to these bounds; a refresh outside them would
    // silently be another value, so it is refused instead.
    if refresh < min_lifetime || refresh > max_lifetime {
        return Err(at.key("jwks_refresh").error(format!(
            "must be between jwks_min_lifetime ({min_lifetime:?}) and jwks_max_lifetime \
             ({max_lifetime:?}); lower jwks_min_lifetime for a shorter refresh"
        )));
    }
    Ok(KeySetTiming {
        refresh,
        min_lifetime,
        max_lifetime,
    })
}

/// A relative path in the file is relative to the file's directory.
pub(super) fn resolve(origin: &str, path: &Path) -> PathBuf {
    if path.is_absolute() {
        return path.to_owned();
    }
    Path::new(origin)
        .parent()
        .map_or_else(|| path.to_owned(), |dir| dir.join(path))
}

fn introspection(
    section: &IntrospectionSection,
    at: &KeyPath,
    origin: &str,
) -> Result<IntrospectionConfig, ConfigFileError> {
    let secret = match (&section.client_secret_env, &section.client_secret_file) {
        (Some(var), None) if !var.is_empty() => SecretSource::Env(var.clone()),
        (None, Some(path)) => SecretSource::File(resolve(origin, path)),
        _ => {
            return Err(at.error(
                "set exactly one of client_secret_env (a variable name) or client_secret_file; \
                 secrets are never written in the file",
            ));
        }
    };
    let cache_ttl = match (section.cache, section.cache_ttl) {
        (Some(false), Some(_)) => {
            return Err(at
                .key("cache_ttl")
                .error("the cache is off (cache = false)"));
        }
        (Some(false), None) => None,
        (_, ttl) => Some(ttl.map_or(
            portcullis_issuer::introspection::DEFAULT_INTROSPECTION_CACHE_TTL,
            |d| d.0,
        )),
    };
    Ok(IntrospectionConfig {
        endpoint: section.endpoint.0.clone(),
        client_id: section.client_id.0.clone(),
        secret,
        auth_method: section.auth_method.unwrap_or(ClientAuthMethod::Basic),
        cache_ttl,
        negative_cache_ttl: section.negative_cache_ttl.map(|d| d.0),
    })
}
