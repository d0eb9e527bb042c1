//! A JWK Set fetched from the issuer, kept fresh, and verified against without locks.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime};

use http::Uri;
use portcullis_jwt::{Claims, Clock, ErrorKind, KeySet, Validation};

use crate::discovery::{DiscoveryMode, IssuerMetadata, well_known_urls};
use crate::error::{ConfigError, FetchError, FetchErrorKind};
use crate::verify_error::VerifyError;

mod builder;
mod refresh;

pub use builder::RemoteKeySetBuilder;
use refresh::{KeySetState, Reason};

/// Defaults to 5 minutes: the lifetime of a set whose response names none.
pub const DEFAULT_TTL: Duration = Duration::from_secs(5 * 60);
/// Defaults to 1 minute: the shortest lifetime honoured, whatever the issuer says.
pub const DEFAULT_MIN_TTL: Duration = Duration::from_secs(60);
/// Defaults to 1 hour: the longest lifetime honoured, so a removed key stops verifying
/// within the hour even if the issuer asked for a day of caching.
pub const DEFAULT_MAX_TTL: Duration = Duration::from_secs(60 * 60);
/// Defaults to 30 seconds: at most one unknown-`kid` refetch per this period.
pub const DEFAULT_UNKNOWN_KID_COOLDOWN: Duration = Duration::from_secs(30);
/// Defaults to 1 hour: how long past its expiry a set keeps serving while refreshes
/// fail, before verification fails closed.
pub const DEFAULT_MAX_STALENESS: Duration = Duration::from_secs(60 * 60);
/// Defaults to 1 second: the first retry delay after a failed fetch (doubling).
pub const DEFAULT_RETRY_MIN: Duration = Duration::from_secs(1);
/// Defaults to 1 minute: the longest retry delay after failed fetches.
pub const DEFAULT_RETRY_MAX: Duration = Duration::from_secs(60);

/// The most `kid`s remembered as unknown between two fetches.
const NEGATIVE_CACHE_CAPACITY: usize = 4096;

/// Whether the first fetch happens when the set is built or on first use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Startup {
    /// Fetch as soon as the set is built (on the current Tokio runtime), and retry with
    /// backoff until it succeeds. The default.
    #[default]
    Eager,
    /// Fetch when the first token needs a key, or [`RemoteKeySet::ready`] is awaited.
    Lazy,
}

#[derive(Debug)]
enum Source {
    Jwks(Uri),
    Issuer { issuer: String, mode: DiscoveryMode },
}

/// For spans and logs: the issuer, or the key set URL without its query (where a
/// deployment might have put a credential).
impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::Issuer { issuer, .. } => f.write_str(issuer),
            Source::Jwks(uri) => {
                if let (Some(scheme), Some(authority)) = (uri.scheme_str(), uri.authority()) {
                    write!(f, "{scheme}://{authority}")?;
                }
                f.write_str(uri.path())
            }
        }
    }
}

/// A JWK Set fetched from the issuer and kept fresh.
///
/// - **Hot path**: a token whose `kid` is known is verified against the current set
///   read through an `ArcSwap`: no lock, no waiting, ever.
/// - **Freshness**: the set lives for the response's `Cache-Control: max-age` (minus
///   `Age`) or `Expires`, clamped to `[min_ttl, max_ttl]`, [`DEFAULT_TTL`] when absent.
///   Once three quarters of that lifetime have passed, the next request (or the
///   background task) starts a refresh and carries on with the current set
///   (stale-while-revalidate).
/// - **Unknown `kid`**: one fetch for every concurrent request (single flight); those
///   requests wait for it (bounded by the HTTP timeout) and are verified against the
///   new set, so a rotation costs no failed request. At most one such refetch per
///   cooldown. A `kid` still unknown after a fetch is answered at once (negative cache)
///   until the next fetch or the end of the cooldown, when it may cause a refetch like
///   any unknown `kid`.
/// - **Outages**: failed fetches retry with exponential backoff; the last good set keeps
///   serving until `max_staleness` past its expiry, then verification fails closed
///   with [`VerifyErrorKind::Unavailable`](crate::VerifyErrorKind::Unavailable).
/// - **Time**: every rule reads the injected [`Clock`].
///
/// Cheap to clone; clones share everything.
#[derive(Clone)]
pub struct RemoteKeySet {
    shared: Arc<KeySetState>,
}

/// Counters and gauges of a [`RemoteKeySet`], for metrics and health pages.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RemoteKeySetStats {
    /// Fetches started (discovery included in the same fetch).
    pub fetches: u64,
    /// Fetches that failed.
    pub failures: u64,
    /// Fetches started because a token named an unknown `kid`.
    pub unknown_kid_refetches: u64,
    /// Tokens refused at once, within the cooldown, because their `kid` was already
    /// unknown after the last fetch.
    pub negative_cache_hits: u64,
    /// Requests currently waiting for a fetch.
    pub waiting: usize,
    /// Usable keys in the current set (0 before the first successful fetch).
    pub keys: usize,
    /// Time since the current set was fetched, on the set's clock.
    pub age: Option<Duration>,
    /// Consecutive failed fetches (0 after a success).
    pub consecutive_failures: u32,
}

impl RemoteKeySet {
    /// A set fetched from a JWK Set URL.
    pub fn from_jwks_url(url: &str) -> RemoteKeySetBuilder {
        let source = url
            .parse::<Uri>()
            .map(Source::Jwks)
            .map_err(|_| ConfigError::custom("the JWK Set URL is not a valid URL"));
        RemoteKeySetBuilder::new(source)
    }

    /// A set found through the issuer's discovery document (OpenID Connect, then
    /// RFC 8414), whose `issuer` must equal `issuer` exactly.
    pub fn from_issuer(issuer: &str) -> RemoteKeySetBuilder {
        let source = well_known_urls(issuer).map(|_| Source::Issuer {
            issuer: issuer.to_owned(),
            mode: DiscoveryMode::default(),
        });
        RemoteKeySetBuilder::new(source)
    }

    /// Verifies `token` with `validation`, at time `now` for its claims, fetching keys
    /// as the rules above say.
    ///
    /// # Errors
    /// [`VerifyErrorKind::InvalidToken`](crate::VerifyErrorKind::InvalidToken) with the
    /// reason, or [`VerifyErrorKind::Unavailable`](crate::VerifyErrorKind::Unavailable)
    /// when no usable key set could be had.
    pub async fn verify(
        &self,
        validation: &Validation,
        token: &str,
        now: SystemTime,
    ) -> Result<Claims, VerifyError> {
        match self.verify_now(validation, token, now) {
            Some(result) => result,
            None => self.verify_after_fetch(validation, token, now).await,
        }
    }

    /// The synchronous part of [`Self::verify`]: the answer when the keys at hand
    /// settle it (the hot path: no lock, no waiting, no allocation), `None` when a fetch
    /// must be waited for or started ([`Self::verify_after_fetch`]).
    pub(crate) fn verify_now(
        &self,
        validation: &Validation,
        token: &str,
        now: SystemTime,
    ) -> Option<Result<Claims, VerifyError>> {
        let parsed = match validation.parse(token) {
            Ok(parsed) => parsed,
            Err(error) => return Some(Err(error.into())),
        };
        // Rules that need no key come first: a token with a refused algorithm never
        // causes a fetch.
        if let Err(error) = validation.check_header(&parsed) {
            return Some(Err(error.into()));
        }
        let shared = &self.shared;
        let cache_now = shared.clock.now();
        let current = shared.current.load();
        let snapshot = current
            .as_ref()
            .filter(|snapshot| cache_now < snapshot.usable_until)?;
        if cache_now >= snapshot.refresh_at {
            shared.refresh_in_background(cache_now);
        }
        match validation.verify_parsed(&parsed, &snapshot.keys, now) {
            Err(e) if e.kind() == ErrorKind::UnknownKeyId => {
                shared.unknown_kid_now(validation, &parsed, now, snapshot.generation)
            }
            other => Some(other.map_err(VerifyError::from)),
        }
    }

    /// [`Self::verify`] once [`Self::verify_now`] found it must wait: for a fetch of an
    /// unknown `kid`, or for a first (or expired) set.
    pub(crate) async fn verify_after_fetch(
        &self,
        validation: &Validation,
        token: &str,
        now: SystemTime,
    ) -> Result<Claims, VerifyError> {
        let parsed = validation.parse(token)?;
        validation.check_header(&parsed)?;
        let shared = &self.shared;
        let cache_now = shared.clock.now();
        let generation = {
            let current = shared.current.load();
            match &*current {
                Some(snapshot) if cache_now < snapshot.usable_until => {
                    match validation.verify_parsed(&parsed, &snapshot.keys, now) {
                        Err(e) if e.kind() == ErrorKind::UnknownKeyId => Some(snapshot.generation),
                        other => return other.map_err(VerifyError::from),
                    }
                }
                _ => None,
            }
        };
        match generation {
            Some(generation) => {
                shared
                    .unknown_kid(validation, &parsed, now, generation)
                    .await
            }
            None => shared.cold(validation, &parsed, now).await,
        }
    }

    /// Whether a usable key set is in place now (for `/readyz`).
    pub fn is_ready(&self) -> bool {
        let now = self.shared.clock.now();
        self.shared
            .current
            .load()
            .as_ref()
            .is_some_and(|s| now < s.usable_until)
    }

    /// Waits until a key set has been loaded, starting a fetch if none is under way
    /// (retrying failures after the backoff). Wrap it in a timeout.
    pub async fn ready(&self) {
        let mut completed = self.shared.completed.subscribe();
        loop {
            if self.is_ready() {
                return;
            }
            let (flight, backoff) = {
                let now = self.shared.clock.now();
                let mut state = self.shared.lock();
                match state.in_flight {
                    Some(flight) => (Some(flight), None),
                    None => match state.retry_at {
                        Some(at) if now < at => {
                            (None, Some(at.duration_since(now).unwrap_or_default()))
                        }
                        _ => (
                            Some(self.shared.begin(&mut state, now, Reason::Startup)),
                            None,
                        ),
                    },
                }
            };
            match flight {
                Some(flight) => {
                    self.shared.wait_for(flight).await;
                }
                None => {
                    // Backing off: wait for whoever fetches next (the background task,
                    // or a request), or for the end of the backoff, when this call
                    // fetches itself, so that `ready` needs no background task.
                    completed.borrow_and_update();
                    let backoff = backoff.unwrap_or_default().max(Duration::from_millis(1));
                    if let Ok(Err(_)) = tokio::time::timeout(backoff, completed.changed()).await {
                        return;
                    }
                }
            }
        }
    }

    /// Fetches the set now, whatever its age, joining a fetch already under way.
    ///
    /// # Errors
    /// Why the fetch failed; the previous set stays in place.
    pub async fn refresh(&self) -> Result<(), FetchError> {
        let flight = {
            let now = self.shared.clock.now();
            let mut state = self.shared.lock();
            match state.in_flight {
                Some(flight) => flight,
                None => self.shared.begin(&mut state, now, Reason::Requested),
            }
        };
        self.shared
            .wait_for(flight)
            .await
            .unwrap_or_else(|| Err(FetchError::new(FetchErrorKind::Timeout)))
    }

    /// The current key set, if one has been loaded (even a stale one).
    pub fn current(&self) -> Option<KeySet> {
        self.shared.current.load().as_ref().map(|s| s.keys.clone())
    }

    /// Whether the key with this RFC 7638 thumbprint is in the current set and the set
    /// is still usable (within its maximum staleness). Lock-free.
    pub fn has_usable_key(&self, thumbprint: &[u8; 32]) -> bool {
        let now = self.shared.clock.now();
        self.shared
            .current
            .load()
            .as_ref()
            .is_some_and(|s| now < s.usable_until && s.keys.contains_thumbprint(thumbprint))
    }

    /// The issuer's metadata, once discovery has succeeded (sets built with
    /// [`RemoteKeySet::from_issuer`] only).
    pub fn metadata(&self) -> Option<Arc<IssuerMetadata>> {
        self.shared.metadata.load_full()
    }

    /// Counters and gauges.
    pub fn stats(&self) -> RemoteKeySetStats {
        let shared = &*self.shared;
        let current = shared.current.load();
        let now = shared.clock.now();
        RemoteKeySetStats {
            fetches: shared.counters.fetches.load(Ordering::Relaxed),
            failures: shared.counters.failures.load(Ordering::Relaxed),
            unknown_kid_refetches: shared
                .counters
                .unknown_kid_refetches
                .load(Ordering::Relaxed),
            negative_cache_hits: shared.counters.negative_cache_hits.load(Ordering::Relaxed),
            waiting: shared.counters.waiting.load(Ordering::Relaxed),
            keys: current.as_ref().map_or(0, |s| s.keys.len()),
            age: current
                .as_ref()
                .map(|s| now.duration_since(s.fetched_at).unwrap_or_default()),
            consecutive_failures: shared.lock().failures,
        }
    }
}

impl fmt::Debug for RemoteKeySet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let source = match &self.shared.source {
            Source::Jwks(uri) => uri.to_string(),
            Source::Issuer { issuer, .. } => format!("discovery of {issuer}"),
        };
        f.debug_struct("RemoteKeySet")
            .field("source", &source)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}
