//! Checking an `[[issuers]]` table: its token rules built by the library (refusals at
//! the key path of the setting the library names), its key source, the key set's
//! timing, the issuer HTTP client's timeouts, and introspection.

use std::path::{Path, PathBuf};
use std::time::Duration;

use portcullis_jwt::{Algorithm, AlgorithmSet, Validation};

use super::file::{IntrospectionSection, IssuerSection};
use super::validate::{duration, fetch_url, parse_duration};
use super::{
    ClientAuthMethod, ConfigFileError, IntrospectionConfig, IssuerConfig, KeySourceConfig,
    SecretSource,
};

/// A library refusal at the key path of the setting it names (`at` when it names none
/// this table knows): the library owns the rule, the gateway only says where it is.
pub(crate) fn library_error(
    at: &str,
    error: &portcullis_jwt::ConfigError,
    keys: &[(&str, &str)],
) -> ConfigFileError {
    let key = error
        .setting()
        .and_then(|setting| keys.iter().find(|(name, _)| *name == setting))
        .map(|(_, key)| *key);
    match key {
        Some(key) if key.contains('.') => ConfigFileError::new(key, error.message()),
        Some(key) => ConfigFileError::new(format!("{at}.{key}"), error.message()),
        None => ConfigFileError::new(at, error.message()),
    }
}

/// The issuer's token rules, built by the library, which refuses what it must (an
/// empty issuer or audience, a leeway over its maximum, too many required claims).
fn issuer_validation(
    section: &IssuerSection,
    algorithms: AlgorithmSet,
    leeway: Duration,
    max_token_bytes: usize,
    at: &str,
) -> Result<Validation, ConfigFileError> {
    let mut builder = Validation::builder()
        .issuer(section.issuer.clone())
        .algorithms(algorithms)
        .leeway(leeway)
        .require_access_token_type(section.require_access_token_type.unwrap_or(true))
        .allow_scope_array(section.allow_scope_array)
        .max_token_size(max_token_bytes);
    for audience in &section.audiences {
        builder = builder.audience(audience.clone());
    }
    for claim in &section.required_claims {
        builder = builder.require_claim(claim.clone());
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
                ("max_token_size", "limits.max_token_bytes"),
            ],
        )
    })
}

pub(super) fn issuer(
    section: &IssuerSection,
    at: &str,
    origin: &str,
    max_token_bytes: usize,
) -> Result<IssuerConfig, ConfigFileError> {
    let sources = usize::from(section.discovery)
        + usize::from(section.jwks_uri.is_some())
        + usize::from(section.jwks_file.is_some());
    if sources > 1 {
        return Err(ConfigFileError::new(
            at,
            "choose one key source: discovery = true, jwks_uri or jwks_file",
        ));
    }
    let keys = if section.discovery {
        fetch_url(&section.issuer, &format!("{at}.issuer"))?;
        KeySourceConfig::Discovery
    } else if let Some(uri) = &section.jwks_uri {
        KeySourceConfig::JwksUri(fetch_url(uri, &format!("{at}.jwks_uri"))?)
    } else if let Some(path) = &section.jwks_file {
        KeySourceConfig::JwksFile(resolve(origin, path))
    } else {
        KeySourceConfig::None
    };
    let introspection = section
        .introspection
        .as_ref()
        .map(|s| introspection(s, &format!("{at}.introspection"), origin))
        .transpose()?;
    if matches!(keys, KeySourceConfig::None) && introspection.is_none() {
        return Err(ConfigFileError::new(
            at,
            "no way to verify tokens: set discovery = true, jwks_uri, jwks_file or [introspection]",
        ));
    }
    let algorithms = match &section.algorithms {
        None => AlgorithmSet::ASYMMETRIC,
        Some(names) if names.is_empty() => {
            return Err(ConfigFileError::new(
                format!("{at}.algorithms"),
                "at least one algorithm is needed",
            ));
        }
        Some(names) => {
            let mut set = AlgorithmSet::default();
            for (j, name) in names.iter().enumerate() {
                let alg = Algorithm::from_name(name).ok_or_else(|| {
                    ConfigFileError::new(
                        format!("{at}.algorithms[{j}]"),
                        format!("{name:?} is not a supported JWS algorithm"),
                    )
                })?;
                if !AlgorithmSet::ASYMMETRIC.contains(alg) {
                    return Err(ConfigFileError::new(
                        format!("{at}.algorithms[{j}]"),
                        "HMAC algorithms need a shared secret, which the gateway does not take",
                    ));
                }
                set.insert(alg);
            }
            set
        }
    };
    let leeway = match &section.leeway {
        None => portcullis_jwt::DEFAULT_LEEWAY,
        Some(text) => {
            parse_duration(text).map_err(|m| ConfigFileError::new(format!("{at}.leeway"), m))?
        }
    };
    required_claims(&section.required_claims, at)?;
    let validation = issuer_validation(section, algorithms, leeway, max_token_bytes, at)?;
    let token_cache = match (section.token_cache, section.token_cache_capacity) {
        (Some(false), Some(_)) => {
            return Err(ConfigFileError::new(
                format!("{at}.token_cache_capacity"),
                "the token cache is off (token_cache = false)",
            ));
        }
        (Some(false), None) => None,
        (_, Some(0)) => {
            return Err(ConfigFileError::new(
                format!("{at}.token_cache_capacity"),
                "must be more than zero; set token_cache = false to turn the cache off",
            ));
        }
        (_, capacity) => Some(capacity.unwrap_or(10_000)),
    };
    let key_set = key_set_timing(section, at)?;
    let http_timeout = duration(
        section.http_timeout.as_ref(),
        &format!("{at}.http_timeout"),
        portcullis_issuer::DEFAULT_TIMEOUT,
        MAX_HTTP_TIMEOUT,
    )?;
    let http_connect_timeout = duration(
        section.http_connect_timeout.as_ref(),
        &format!("{at}.http_connect_timeout"),
        portcullis_issuer::DEFAULT_CONNECT_TIMEOUT.min(http_timeout),
        MAX_HTTP_TIMEOUT,
    )?;
    if http_connect_timeout > http_timeout {
        return Err(ConfigFileError::new(
            format!("{at}.http_connect_timeout"),
            format!("must not exceed http_timeout ({http_timeout:?})"),
        ));
    }
    Ok(IssuerConfig {
        issuer: section.issuer.clone(),
        token_cache,
        validation,
        keys,
        introspection,
        jwks_refresh: key_set.refresh,
        jwks_retry: key_set.retry,
        jwks_min_lifetime: key_set.min_lifetime,
        jwks_max_lifetime: key_set.max_lifetime,
        jwks_max_staleness: key_set.max_staleness,
        unknown_kid_cooldown: key_set.cooldown,
        http_timeout,
        http_connect_timeout,
    })
}

/// The names the library cannot point at: an empty one, one listed twice.
fn required_claims(names: &[String], at: &str) -> Result<(), ConfigFileError> {
    for (j, name) in names.iter().enumerate() {
        if name.is_empty() {
            return Err(ConfigFileError::new(
                format!("{at}.required_claims[{j}]"),
                "must not be empty",
            ));
        }
        if names[..j].contains(name) {
            return Err(ConfigFileError::new(
                format!("{at}.required_claims[{j}]"),
                format!("{name:?} is listed twice"),
            ));
        }
    }
    Ok(())
}

/// The longest issuer HTTP timeout: a request waits at most this long for a key set.
const MAX_HTTP_TIMEOUT: Duration = Duration::from_secs(60);

/// How a fetched key set is kept: the settings of `portcullis_issuer::RemoteKeySet`.
struct KeySetTiming {
    refresh: Duration,
    retry: Duration,
    min_lifetime: Duration,
    max_lifetime: Duration,
    max_staleness: Duration,
    cooldown: Duration,
}

fn key_set_timing(section: &IssuerSection, at: &str) -> Result<KeySetTiming, ConfigFileError> {
    let day = Duration::from_secs(24 * 3600);
    let min_lifetime = duration(
        section.jwks_min_lifetime.as_ref(),
        &format!("{at}.jwks_min_lifetime"),
        portcullis_issuer::DEFAULT_MIN_TTL,
        day,
    )?;
    let max_lifetime = duration(
        section.jwks_max_lifetime.as_ref(),
        &format!("{at}.jwks_max_lifetime"),
        portcullis_issuer::DEFAULT_MAX_TTL,
        day,
    )?;
    if min_lifetime > max_lifetime {
        return Err(ConfigFileError::new(
            format!("{at}.jwks_min_lifetime"),
            format!("must not exceed jwks_max_lifetime ({max_lifetime:?})"),
        ));
    }
    let refresh = duration(
        section.jwks_refresh.as_ref(),
        &format!("{at}.jwks_refresh"),
        portcullis_issuer::DEFAULT_TTL.clamp(min_lifetime, max_lifetime),
        day,
    )?;
    // The library clamps every lifetime to these bounds; a refresh outside them would
    // silently be another value, so it is refused instead.
    if refresh < min_lifetime || refresh > max_lifetime {
        return Err(ConfigFileError::new(
            format!("{at}.jwks_refresh"),
            format!(
                "must be between jwks_min_lifetime ({min_lifetime:?}) and jwks_max_lifetime \
                 ({max_lifetime:?}); lower jwks_min_lifetime for a shorter refresh"
            ),
        ));
    }
    let max_staleness = match &section.jwks_max_staleness {
        None => portcullis_issuer::DEFAULT_MAX_STALENESS,
        Some(text) => {
            let at = format!("{at}.jwks_max_staleness");
            let staleness = parse_duration(text).map_err(|m| ConfigFileError::new(&at, m))?;
            if staleness > day {
                return Err(ConfigFileError::new(at, "must be at most 24h"));
            }
            staleness
        }
    };
    let cooldown = duration(
        section.unknown_kid_cooldown.as_ref(),
        &format!("{at}.unknown_kid_cooldown"),
        portcullis_issuer::DEFAULT_UNKNOWN_KID_COOLDOWN,
        Duration::from_secs(3600),
    )?;
    if cooldown < Duration::from_secs(1) {
        return Err(ConfigFileError::new(
            format!("{at}.unknown_kid_cooldown"),
            "must be at least 1s: each unknown kid may cost a fetch",
        ));
    }
    if min_lifetime < Duration::from_secs(1) {
        return Err(ConfigFileError::new(
            format!("{at}.jwks_min_lifetime"),
            "must be at least 1s",
        ));
    }
    Ok(KeySetTiming {
        refresh,
        retry: duration(
            section.jwks_retry.as_ref(),
            &format!("{at}.jwks_retry"),
            Duration::from_secs(5),
            Duration::from_secs(3600),
        )?,
        min_lifetime,
        max_lifetime,
        max_staleness,
        cooldown,
    })
}

/// A relative path in the file is relative to the file's directory.
fn resolve(origin: &str, path: &Path) -> PathBuf {
    if path.is_absolute() {
        return path.to_owned();
    }
    Path::new(origin)
        .parent()
        .map_or_else(|| path.to_owned(), |dir| dir.join(path))
}

fn introspection(
    section: &IntrospectionSection,
    at: &str,
    origin: &str,
) -> Result<IntrospectionConfig, ConfigFileError> {
    let endpoint = fetch_url(&section.endpoint, &format!("{at}.endpoint"))?;
    if section.client_id.is_empty() {
        return Err(ConfigFileError::new(
            format!("{at}.client_id"),
            "must not be empty",
        ));
    }
    let secret = match (&section.client_secret_env, &section.client_secret_file) {
        (Some(var), None) if !var.is_empty() => SecretSource::Env(var.clone()),
        (None, Some(path)) => SecretSource::File(resolve(origin, path)),
        _ => {
            return Err(ConfigFileError::new(
                at,
                "set exactly one of client_secret_env (a variable name) or client_secret_file; \
                 secrets are never written in the file",
            ));
        }
    };
    let auth_method = match section.auth_method.as_deref() {
        None | Some("client_secret_basic") => ClientAuthMethod::Basic,
        Some("client_secret_post") => ClientAuthMethod::Post,
        Some(other) => {
            return Err(ConfigFileError::new(
                format!("{at}.auth_method"),
                format!("{other:?}: expected \"client_secret_basic\" or \"client_secret_post\""),
            ));
        }
    };
    let cache_ttl = match section.cache {
        Some(false) => {
            if section.cache_ttl.is_some() {
                return Err(ConfigFileError::new(
                    format!("{at}.cache_ttl"),
                    "the cache is off (cache = false)",
                ));
            }
            None
        }
        _ => Some(duration(
            section.cache_ttl.as_ref(),
            &format!("{at}.cache_ttl"),
            portcullis_issuer::introspection::DEFAULT_INTROSPECTION_CACHE_TTL,
            Duration::from_secs(3600),
        )?),
    };
    let negative_cache_ttl = section
        .negative_cache_ttl
        .as_ref()
        .map(|text| {
            duration(
                Some(text),
                &format!("{at}.negative_cache_ttl"),
                Duration::ZERO,
                Duration::from_secs(600),
            )
        })
        .transpose()?;
    Ok(IntrospectionConfig {
        endpoint,
        client_id: section.client_id.clone(),
        secret,
        auth_method,
        cache_ttl,
        negative_cache_ttl,
    })
}
