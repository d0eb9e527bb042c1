//! Configuring a [`RemoteKeySet`]: every setting with its default, checked when built.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use arc_swap::ArcSwapOption;
use portcullis_jwt::{Clock, SystemClock};
use tokio::sync::watch;

use super::refresh::{Completion, Counters, FetchState, KeySetState, Reason, Timing, drive};
use super::{
    DEFAULT_MAX_STALENESS, DEFAULT_MAX_TTL, DEFAULT_MIN_TTL, DEFAULT_RETRY_MAX, DEFAULT_RETRY_MIN,
    DEFAULT_TTL, DEFAULT_UNKNOWN_KID_COOLDOWN, RemoteKeySet, Source, Startup,
};
use crate::discovery::DiscoveryMode;
use crate::error::ConfigError;
use crate::http::HttpClient;

/// Configures a [`RemoteKeySet`]. Start with [`RemoteKeySet::from_jwks_url`] or
/// [`RemoteKeySet::from_issuer`].
#[derive(Debug)]
#[must_use]
pub struct RemoteKeySetBuilder {
    source: Result<Source, ConfigError>,
    http: Option<HttpClient>,
    clock: Arc<dyn Clock>,
    default_ttl: Duration,
    min_ttl: Duration,
    max_ttl: Duration,
    unknown_kid_cooldown: Duration,
    max_staleness: Duration,
    retry_min: Duration,
    retry_max: Duration,
    max_wait: Option<Duration>,
    startup: Startup,
    background_refresh: bool,
}

impl RemoteKeySetBuilder {
    pub(super) fn new(source: Result<Source, ConfigError>) -> RemoteKeySetBuilder {
        RemoteKeySetBuilder {
            source,
            http: None,
            clock: Arc::new(SystemClock),
            default_ttl: DEFAULT_TTL,
            min_ttl: DEFAULT_MIN_TTL,
            max_ttl: DEFAULT_MAX_TTL,
            unknown_kid_cooldown: DEFAULT_UNKNOWN_KID_COOLDOWN,
            max_staleness: DEFAULT_MAX_STALENESS,
            retry_min: DEFAULT_RETRY_MIN,
            retry_max: DEFAULT_RETRY_MAX,
            max_wait: None,
            startup: Startup::default(),
            background_refresh: true,
        }
    }

    /// The HTTP client. Defaults to [`HttpClient::new`] (built-in hyper + rustls client,
    /// 3 s connect / 5 s total timeouts, 1 MiB body cap).
    pub fn http_client(mut self, http: HttpClient) -> Self {
        self.http = Some(http);
        self
    }

    /// The clock every time rule reads. Defaults to [`SystemClock`].
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Which discovery documents to read. Defaults to
    /// [`DiscoveryMode::OpenIdThenOAuth`]. Only for [`RemoteKeySet::from_issuer`]: on a
    /// set built from a JWK Set URL, which discovers nothing, [`Self::build`] refuses it
    /// rather than ignore it.
    pub fn discovery_mode(mut self, mode: DiscoveryMode) -> Self {
        self.source = self.source.and_then(|source| match source {
            Source::Issuer { issuer, .. } => Ok(Source::Issuer { issuer, mode }),
            Source::Jwks(_) => Err(ConfigError::for_setting(
                "discovery_mode",
                "a key set from a JWK Set URL discovers nothing; use RemoteKeySet::from_issuer",
            )),
        });
        self
    }

    /// The lifetime of a set whose response gives none. Defaults to [`DEFAULT_TTL`]
    /// (5 minutes).
    pub fn default_ttl(mut self, ttl: Duration) -> Self {
        self.default_ttl = ttl;
        self
    }

    /// The bounds the response's lifetime is clamped to. Defaults to
    /// [`DEFAULT_MIN_TTL`] (1 minute) and [`DEFAULT_MAX_TTL`] (1 hour).
    pub fn ttl_bounds(mut self, min: Duration, max: Duration) -> Self {
        self.min_ttl = min;
        self.max_ttl = max;
        self
    }

    /// The least time between two refetches caused by unknown `kid`s. Defaults to
    /// [`DEFAULT_UNKNOWN_KID_COOLDOWN`] (30 seconds).
    pub fn unknown_kid_cooldown(mut self, cooldown: Duration) -> Self {
        self.unknown_kid_cooldown = cooldown;
        self
    }

    /// How long past its expiry a set keeps verifying while refreshes fail. Defaults to
    /// [`DEFAULT_MAX_STALENESS`] (1 hour). Zero fails closed at expiry.
    pub fn max_staleness(mut self, staleness: Duration) -> Self {
        self.max_staleness = staleness;
        self
    }

    /// The retry delays after failed fetches: `min`, doubling up to `max`. Defaults to
    /// [`DEFAULT_RETRY_MIN`] (1 s) and [`DEFAULT_RETRY_MAX`] (1 minute).
    pub fn retry_backoff(mut self, min: Duration, max: Duration) -> Self {
        self.retry_min = min;
        self.retry_max = max;
        self
    }

    /// How long a request waits for a fetch under way. Defaults to the HTTP client's
    /// total timeout plus one second (the fetch times out first).
    pub fn max_wait(mut self, wait: Duration) -> Self {
        self.max_wait = Some(wait);
        self
    }

    /// Eager or lazy first fetch. Defaults to [`Startup::Eager`].
    pub fn startup(mut self, startup: Startup) -> Self {
        self.startup = startup;
        self
    }

    /// Whether a background task keeps the set fresh while no request comes (and
    /// retries a failed startup). Requests refresh it ahead of expiry either way.
    /// Defaults to true (when built on a Tokio runtime).
    pub fn background_refresh(mut self, enabled: bool) -> Self {
        self.background_refresh = enabled;
        self
    }

    /// Builds the set; with [`Startup::Eager`], starts the first fetch.
    ///
    /// # Errors
    /// A malformed or non-`https` URL (plain `http` is allowed to loopback addresses or
    /// with [`crate::dangerous::allow_plain_http`]), inconsistent bounds, or
    /// [`Startup::Eager`] / background refresh outside a Tokio runtime.
    pub fn build(self) -> Result<RemoteKeySet, ConfigError> {
        let source = self.source?;
        let http = self.http.unwrap_or_default();
        let url = match &source {
            Source::Jwks(uri) => uri.to_string(),
            Source::Issuer { issuer, .. } => issuer.clone(),
        };
        http.check_url(&url)
            .map_err(|e| ConfigError::for_setting("url", format!("{url}: {e}")))?;
        if self.min_ttl.is_zero() || self.min_ttl > self.max_ttl {
            return Err(ConfigError::for_setting(
                "ttl_bounds",
                "the TTL bounds must be positive with min <= max",
            ));
        }
        // Every lifetime is clamped to the bounds: a default outside them would silently
        // be another value.
        if self.default_ttl < self.min_ttl || self.default_ttl > self.max_ttl {
            return Err(ConfigError::for_setting(
                "default_ttl",
                format!(
                    "the default TTL ({:?}) must lie within the TTL bounds ({:?} to {:?})",
                    self.default_ttl, self.min_ttl, self.max_ttl
                ),
            ));
        }
        if self.retry_min.is_zero() || self.retry_min > self.retry_max {
            return Err(ConfigError::for_setting(
                "retry_backoff",
                "the retry backoff must be positive with min <= max",
            ));
        }
        if self.unknown_kid_cooldown.is_zero() {
            return Err(ConfigError::for_setting(
                "unknown_kid_cooldown",
                "the unknown-kid cooldown must be positive (or every bad kid is a fetch)",
            ));
        }
        let runtime = tokio::runtime::Handle::try_current().ok();
        if self.startup == Startup::Eager && runtime.is_none() {
            return Err(ConfigError::for_setting(
                "startup",
                "eager startup needs a Tokio runtime; build inside one or use Startup::Lazy",
            ));
        }
        let max_wait = self
            .max_wait
            .unwrap_or_else(|| http.timeout() + Duration::from_secs(1));
        let (completed, _) = watch::channel(Completion {
            flight: 0,
            outcome: None,
        });
        let shared = Arc::new(KeySetState {
            source,
            http,
            clock: self.clock,
            timing: Timing {
                default_ttl: self.default_ttl,
                min_ttl: self.min_ttl,
                max_ttl: self.max_ttl,
                cooldown: self.unknown_kid_cooldown,
                max_staleness: self.max_staleness,
                retry_min: self.retry_min,
                retry_max: self.retry_max,
            },
            max_wait,
            current: ArcSwapOption::empty(),
            metadata: ArcSwapOption::empty(),
            state: Mutex::new(FetchState::default()),
            completed,
            counters: Counters::default(),
            driver: Mutex::new(None),
        });
        if self.startup == Startup::Eager {
            let now = shared.clock.now();
            let mut state = shared.lock();
            shared.begin(&mut state, now, Reason::Startup);
        }
        if self.background_refresh
            && let Some(runtime) = runtime
        {
            let task = runtime.spawn(drive(Arc::downgrade(&shared)));
            *shared
                .driver
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(task.abort_handle());
        }
        Ok(RemoteKeySet { shared })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn bad_configuration_is_refused() {
        let lazy = || RemoteKeySet::from_jwks_url("https://as.example/jwks").startup(Startup::Lazy);
        assert!(lazy().background_refresh(false).build().is_ok());
        assert!(
            RemoteKeySet::from_jwks_url("http://as.example/jwks")
                .startup(Startup::Lazy)
                .build()
                .is_err()
        );
        assert!(RemoteKeySet::from_jwks_url("not a url").build().is_err());
        assert!(
            RemoteKeySet::from_issuer("https://as.example/?q")
                .build()
                .is_err()
        );
        assert!(
            lazy()
                .ttl_bounds(Duration::from_secs(600), Duration::from_secs(60))
                .build()
                .is_err()
        );
        assert!(lazy().unknown_kid_cooldown(Duration::ZERO).build().is_err());
        // A default lifetime the bounds would clamp is refused, naming its setting.
        let setting = |builder: RemoteKeySetBuilder| builder.build().unwrap_err().setting();
        assert_eq!(
            setting(lazy().default_ttl(Duration::from_secs(30))),
            Some("default_ttl")
        );
        assert_eq!(
            setting(lazy().default_ttl(Duration::from_secs(7200))),
            Some("default_ttl")
        );
        assert!(
            lazy()
                .default_ttl(Duration::from_secs(30))
                .ttl_bounds(Duration::from_secs(10), Duration::from_secs(3600))
                .build()
                .is_ok()
        );
        assert_eq!(
            setting(lazy().unknown_kid_cooldown(Duration::ZERO)),
            Some("unknown_kid_cooldown")
        );
        assert_eq!(
            setting(lazy().discovery_mode(DiscoveryMode::default())),
            Some("discovery_mode")
        );
        assert!(
            lazy()
                .retry_backoff(Duration::ZERO, Duration::from_secs(1))
                .build()
                .is_err()
        );
        // Eager startup outside a runtime is a configuration error, not a panic.
        assert!(
            RemoteKeySet::from_jwks_url("https://as.example/jwks")
                .build()
                .is_err()
        );
    }
}
