//! A JWK Set fetched from the issuer, kept fresh, and verified against without locks.

use std::collections::HashSet;
use std::fmt;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant, SystemTime};

use arc_swap::ArcSwapOption;
use http::{HeaderMap, Uri};
use portcullis_jwt::{Claims, Clock, ErrorKind, KeySet, SystemClock, UnverifiedToken, Validation};
use tokio::sync::watch;

use crate::discovery::{DiscoveryMode, IssuerMetadata, well_known_urls};
use crate::error::{ConfigError, FetchError, FetchErrorKind};
use crate::freshness;
use crate::http::HttpClient;
use crate::verify_error::VerifyError;

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

enum Source {
    Jwks(Uri),
    Issuer { issuer: String, mode: DiscoveryMode },
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

/// Configures a [`RemoteKeySet`]. Start with [`RemoteKeySet::from_jwks_url`] or
/// [`RemoteKeySet::from_issuer`].
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

struct KeySetState {
    source: Source,
    http: HttpClient,
    clock: Arc<dyn Clock>,
    timing: Timing,
    max_wait: Duration,
    current: ArcSwapOption<Snapshot>,
    metadata: ArcSwapOption<IssuerMetadata>,
    state: Mutex<FetchState>,
    completed: watch::Sender<Completion>,
    counters: Counters,
    driver: Mutex<Option<tokio::task::AbortHandle>>,
}

struct Timing {
    default_ttl: Duration,
    min_ttl: Duration,
    max_ttl: Duration,
    cooldown: Duration,
    max_staleness: Duration,
    retry_min: Duration,
    retry_max: Duration,
}

struct Snapshot {
    keys: KeySet,
    generation: u64,
    fetched_at: SystemTime,
    refresh_at: SystemTime,
    expires_at: SystemTime,
    usable_until: SystemTime,
}

#[derive(Default)]
struct FetchState {
    in_flight: Option<u64>,
    next_flight: u64,
    last_unknown_kid_fetch: Option<SystemTime>,
    failures: u32,
    retry_at: Option<SystemTime>,
    /// Whether the last completed fetch succeeded; `None` before any.
    last_ok: Option<bool>,
    negative_generation: u64,
    negative: HashSet<Box<str>>,
}

#[derive(Clone)]
struct Completion {
    flight: u64,
    outcome: Option<Result<(), FetchError>>,
}

#[derive(Default)]
struct Counters {
    fetches: AtomicU64,
    failures: AtomicU64,
    unknown_kid_refetches: AtomicU64,
    negative_cache_hits: AtomicU64,
    waiting: AtomicUsize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Reason {
    Startup,
    Refresh,
    UnknownKid,
    Expired,
    Requested,
}

impl Reason {
    fn as_str(self) -> &'static str {
        match self {
            Reason::Startup => "startup",
            Reason::Refresh => "refresh",
            Reason::UnknownKid => "unknown kid",
            Reason::Expired => "no usable set",
            Reason::Requested => "requested",
        }
    }
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
        let parsed = validation.parse(token)?;
        // Rules that need no key come first: a token with a refused algorithm never
        // causes a fetch.
        validation.check_header(&parsed)?;
        let shared = &self.shared;
        let cache_now = shared.clock.now();
        let generation = {
            let current = shared.current.load();
            match &*current {
                Some(snapshot) if cache_now < snapshot.usable_until => {
                    if cache_now >= snapshot.refresh_at {
                        shared.refresh_in_background(cache_now);
                    }
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

impl Drop for KeySetState {
    fn drop(&mut self) {
        if let Some(driver) = self.driver.get_mut().ok().and_then(Option::take) {
            driver.abort();
        }
    }
}

/// What an unknown-`kid` or cold request does once it has looked at the state.
enum Next {
    Reverify,
    Wait(u64),
    NegativeHit,
    Refuse {
        authoritative: bool,
        retry_at: Option<SystemTime>,
    },
}

impl KeySetState {
    fn lock(&self) -> MutexGuard<'_, FetchState> {
        // The state is consistent at every unlock; a panic elsewhere must not take
        // verification down with it.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn generation(&self) -> Option<u64> {
        self.current.load().as_ref().map(|s| s.generation)
    }

    /// Starts a fetch; the caller holds the state lock and has checked none is under
    /// way. Runs on the Tokio runtime when there is one, so a request that gives up
    /// waiting does not cancel the fetch for the others.
    fn begin(self: &Arc<Self>, state: &mut FetchState, now: SystemTime, reason: Reason) -> u64 {
        state.next_flight += 1;
        let flight = state.next_flight;
        state.in_flight = Some(flight);
        if reason == Reason::UnknownKid {
            state.last_unknown_kid_fetch = Some(now);
            self.counters
                .unknown_kid_refetches
                .fetch_add(1, Ordering::Relaxed);
        }
        self.counters.fetches.fetch_add(1, Ordering::Relaxed);
        let shared = self.clone();
        match tokio::runtime::Handle::try_current() {
            Ok(handle) => {
                handle.spawn(async move { shared.run(flight, reason).await });
            }
            Err(_) => {
                // No runtime: nothing can run the fetch, so it fails at once rather than
                // leaving waiters hanging. (The lock is held: no `finish` here.)
                state.in_flight = None;
                state.last_ok = Some(false);
                self.counters.failures.fetch_add(1, Ordering::Relaxed);
                let error = FetchError::new(FetchErrorKind::Cancelled)
                    .with_detail("no Tokio runtime to fetch on");
                tracing::warn!(reason = reason.as_str(), error = %error, "JWK Set fetch failed");
                drop(shared);
                self.completed.send_replace(Completion {
                    flight,
                    outcome: Some(Err(error)),
                });
            }
        }
        flight
    }

    /// Starts a refresh if none is under way and the backoff allows; never waits.
    fn refresh_in_background(self: &Arc<Self>, now: SystemTime) {
        // try_lock: if another request holds the lock it is deciding the same thing.
        let Ok(mut state) = self.state.try_lock() else {
            return;
        };
        if state.in_flight.is_none() && state.retry_at.is_none_or(|at| now >= at) {
            self.begin(&mut state, now, Reason::Refresh);
        }
    }

    async fn run(self: Arc<Self>, flight: u64, reason: Reason) {
        let started = Instant::now();
        // If this task is dropped (runtime shutdown), waiters still hear of it.
        let mut guard = FinishGuard {
            shared: &self,
            flight,
            reason,
            started,
            armed: true,
        };
        let result = self.fetch().await;
        guard.armed = false;
        self.finish(flight, reason, started, result);
    }

    async fn fetch(&self) -> Result<(KeySet, Duration), FetchError> {
        let jwks_uri = match &self.source {
            Source::Jwks(uri) => {
                self.http.check_url(&uri.to_string())?;
                uri.clone()
            }
            Source::Issuer { issuer, mode } => {
                let metadata = match self.metadata.load_full() {
                    Some(metadata) => metadata,
                    None => {
                        let metadata =
                            Arc::new(IssuerMetadata::discover(&self.http, issuer, *mode).await?);
                        self.metadata.store(Some(metadata.clone()));
                        metadata
                    }
                };
                let uri = metadata.jwks_uri().ok_or_else(|| {
                    FetchError::new(FetchErrorKind::InvalidDocument)
                        .with_detail("the issuer metadata has no jwks_uri")
                })?;
                self.http.check_url(uri)?
            }
        };
        let fetched = self
            .http
            .get(
                &jwks_uri,
                "application/jwk-set+json, application/json",
                &["application/json", "application/jwk-set+json"],
            )
            .await?;
        let keys = KeySet::from_jwks(&fetched.body).map_err(|e| {
            FetchError::new(FetchErrorKind::InvalidDocument)
                .with_detail(e.to_string())
                .with_url(&jwks_uri)
        })?;
        for skipped in keys.skipped() {
            tracing::warn!(
                url = %jwks_uri,
                kid = skipped.kid.as_deref().unwrap_or(""),
                index = skipped.index,
                reason = %skipped.reason,
                "JWK skipped"
            );
        }
        if keys.is_empty() {
            // Keep the last good set rather than install one that verifies nothing.
            return Err(FetchError::new(FetchErrorKind::NoUsableKeys)
                .with_detail(format!("{} keys skipped", keys.skipped().len()))
                .with_url(&jwks_uri));
        }
        let ttl = self.ttl(&fetched.headers);
        Ok((keys, ttl))
    }

    fn ttl(&self, headers: &HeaderMap) -> Duration {
        let t = &self.timing;
        freshness::bounded_lifetime(
            headers,
            self.clock.now(),
            t.default_ttl,
            t.min_ttl..=t.max_ttl,
        )
    }

    fn finish(
        &self,
        flight: u64,
        reason: Reason,
        started: Instant,
        result: Result<(KeySet, Duration), FetchError>,
    ) {
        let now = self.clock.now();
        let elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        let outcome = match result {
            Ok((keys, ttl)) => {
                let generation = self.generation().unwrap_or(0) + 1;
                tracing::info!(
                    outcome = "ok",
                    reason = reason.as_str(),
                    duration_ms = elapsed_ms,
                    keys = keys.len(),
                    skipped = keys.skipped().len(),
                    ttl_s = ttl.as_secs(),
                    generation,
                    "JWK Set fetched"
                );
                let expires_at = now + ttl;
                self.current.store(Some(Arc::new(Snapshot {
                    keys,
                    generation,
                    fetched_at: now,
                    refresh_at: now + ttl.mul_f64(0.75),
                    expires_at,
                    usable_until: expires_at + self.timing.max_staleness,
                })));
                let mut state = self.lock();
                state.failures = 0;
                state.retry_at = None;
                state.last_ok = Some(true);
                state.negative.clear();
                state.negative_generation = generation;
                if state.in_flight == Some(flight) {
                    state.in_flight = None;
                }
                Ok(())
            }
            Err(error) => {
                self.counters.failures.fetch_add(1, Ordering::Relaxed);
                let mut state = self.lock();
                state.failures = state.failures.saturating_add(1);
                let backoff = self.backoff(state.failures);
                state.retry_at = Some(now + backoff);
                state.last_ok = Some(false);
                if state.in_flight == Some(flight) {
                    state.in_flight = None;
                }
                let stale_for = self.current.load().as_ref().map(|s| {
                    now.duration_since(s.expires_at)
                        .unwrap_or_default()
                        .as_secs()
                });
                tracing::warn!(
                    outcome = "error",
                    reason = reason.as_str(),
                    duration_ms = elapsed_ms,
                    error = %error,
                    error_kind = ?error.kind(),
                    consecutive_failures = state.failures,
                    retry_in_s = backoff.as_secs(),
                    stale_for_s = stale_for,
                    "JWK Set fetch failed"
                );
                Err(error)
            }
        };
        self.completed.send_replace(Completion {
            flight,
            outcome: Some(outcome),
        });
    }

    fn backoff(&self, failures: u32) -> Duration {
        let t = &self.timing;
        let factor = 2u32.saturating_pow(failures.saturating_sub(1).min(20));
        t.retry_min.saturating_mul(factor).min(t.retry_max)
    }

    /// Waits for fetch `flight` (or a later one) to finish, at most `max_wait`.
    /// `None` on timeout.
    async fn wait_for(&self, flight: u64) -> Option<Result<(), FetchError>> {
        let _waiting = WaitingGuard::new(&self.counters.waiting);
        let mut completed = self.completed.subscribe();
        let wait = completed.wait_for(|c| c.flight >= flight);
        match tokio::time::timeout(self.max_wait, wait).await {
            Ok(Ok(completion)) => completion.outcome.clone(),
            // The sender lives in `self`: it cannot be gone while we borrow it.
            Ok(Err(_)) | Err(_) => None,
        }
    }

    fn unavailable(&self, retry_at: Option<SystemTime>, reason: &'static str) -> VerifyError {
        let now = self.clock.now();
        let retry_after = retry_at
            .and_then(|at| at.duration_since(now).ok())
            .unwrap_or(self.timing.retry_min)
            .clamp(
                Duration::from_secs(1),
                self.timing.retry_max.max(Duration::from_secs(1)),
            );
        VerifyError::unavailable(reason, retry_after)
    }

    /// The token's `kid` is not in the current set (generation `seen`).
    async fn unknown_kid(
        self: &Arc<Self>,
        validation: &Validation,
        token: &UnverifiedToken<'_>,
        now: SystemTime,
        seen: u64,
    ) -> Result<Claims, VerifyError> {
        let Some(kid) = token.header().kid() else {
            return Err(portcullis_jwt::Error::from(ErrorKind::UnknownKeyId).into());
        };
        let next = {
            let cache_now = self.clock.now();
            let mut state = self.lock();
            let cooled_down = state
                .last_unknown_kid_fetch
                .is_none_or(|at| cache_now >= at + self.timing.cooldown);
            if self.generation() != Some(seen) {
                // A fetch finished since we looked: try the new set.
                Next::Reverify
            } else if !cooled_down
                && state.negative_generation == seen
                && state.negative.contains(kid)
            {
                // Past the cooldown a known-unknown kid may be asked about again like
                // any other: an issuer may sign with a key a moment before it publishes
                // it, and the set's TTL is far too long to wait for.
                Next::NegativeHit
            } else if let Some(flight) = state.in_flight {
                Next::Wait(flight)
            } else if cooled_down {
                Next::Wait(self.begin(&mut state, cache_now, Reason::UnknownKid))
            } else {
                Next::Refuse {
                    authoritative: state.last_ok != Some(false),
                    retry_at: state
                        .last_unknown_kid_fetch
                        .map(|at| at + self.timing.cooldown),
                }
            }
        };
        match next {
            Next::Reverify => self.verify_current(validation, token, now, true),
            Next::NegativeHit => {
                self.counters
                    .negative_cache_hits
                    .fetch_add(1, Ordering::Relaxed);
                Err(portcullis_jwt::Error::from(ErrorKind::UnknownKeyId).into())
            }
            Next::Refuse {
                authoritative: true,
                ..
            } => Err(portcullis_jwt::Error::from(ErrorKind::UnknownKeyId).into()),
            // The last fetch failed: the key may exist and we could not learn of it.
            Next::Refuse { retry_at, .. } => {
                Err(self.unavailable(retry_at, "issuer keys unavailable"))
            }
            Next::Wait(flight) => match self.wait_for(flight).await {
                Some(Ok(())) => self.verify_current(validation, token, now, true),
                Some(Err(_)) => {
                    let retry_at = self.lock().retry_at;
                    Err(self.unavailable(retry_at, "issuer keys unavailable"))
                }
                None => Err(self.unavailable(None, "issuer keys fetch timed out")),
            },
        }
    }

    /// No usable set: wait for a fetch (starting one if the backoff allows).
    async fn cold(
        self: &Arc<Self>,
        validation: &Validation,
        token: &UnverifiedToken<'_>,
        now: SystemTime,
    ) -> Result<Claims, VerifyError> {
        let next = {
            let cache_now = self.clock.now();
            let mut state = self.lock();
            let usable = self
                .current
                .load()
                .as_ref()
                .is_some_and(|s| cache_now < s.usable_until);
            if usable {
                Next::Reverify
            } else if let Some(flight) = state.in_flight {
                Next::Wait(flight)
            } else if state.retry_at.is_none_or(|at| cache_now >= at) {
                let reason = if self.current.load().is_some() {
                    Reason::Expired
                } else {
                    Reason::Startup
                };
                Next::Wait(self.begin(&mut state, cache_now, reason))
            } else {
                Next::Refuse {
                    authoritative: false,
                    retry_at: state.retry_at,
                }
            }
        };
        match next {
            Next::Reverify => self.verify_current(validation, token, now, false),
            Next::Wait(flight) => match self.wait_for(flight).await {
                Some(Ok(())) => self.verify_current(validation, token, now, false),
                Some(Err(_)) => {
                    let retry_at = self.lock().retry_at;
                    Err(self.unavailable(retry_at, "issuer keys unavailable"))
                }
                None => Err(self.unavailable(None, "issuer keys fetch timed out")),
            },
            Next::NegativeHit | Next::Refuse { .. } => {
                let retry_at = self.lock().retry_at;
                Err(self.unavailable(retry_at, "issuer keys unavailable"))
            }
        }
    }

    /// Verifies against the set in place now, without fetching. A `kid` still unknown
    /// is remembered until the next fetch.
    fn verify_current(
        &self,
        validation: &Validation,
        token: &UnverifiedToken<'_>,
        now: SystemTime,
        remember_unknown: bool,
    ) -> Result<Claims, VerifyError> {
        let cache_now = self.clock.now();
        let current = self.current.load();
        let Some(snapshot) = current.as_ref().filter(|s| cache_now < s.usable_until) else {
            let retry_at = self.lock().retry_at;
            return Err(self.unavailable(retry_at, "issuer keys unavailable"));
        };
        let result = validation.verify_parsed(token, &snapshot.keys, now);
        if let Err(e) = &result
            && e.kind() == ErrorKind::UnknownKeyId
            && remember_unknown
            && let Some(kid) = token.header().kid()
        {
            let mut state = self.lock();
            if state.negative_generation == snapshot.generation
                && state.negative.len() < NEGATIVE_CACHE_CAPACITY
            {
                state.negative.insert(kid.into());
            }
        }
        result.map_err(VerifyError::from)
    }
}

struct FinishGuard<'a> {
    shared: &'a KeySetState,
    flight: u64,
    reason: Reason,
    started: Instant,
    armed: bool,
}

impl Drop for FinishGuard<'_> {
    fn drop(&mut self) {
        if self.armed {
            self.shared.finish(
                self.flight,
                self.reason,
                self.started,
                Err(FetchError::new(FetchErrorKind::Cancelled)),
            );
        }
    }
}

struct WaitingGuard<'a>(&'a AtomicUsize);

impl<'a> WaitingGuard<'a> {
    fn new(gauge: &'a AtomicUsize) -> Self {
        gauge.fetch_add(1, Ordering::Relaxed);
        WaitingGuard(gauge)
    }
}

impl Drop for WaitingGuard<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl RemoteKeySetBuilder {
    fn new(source: Result<Source, ConfigError>) -> RemoteKeySetBuilder {
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

impl fmt::Debug for RemoteKeySetBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoteKeySetBuilder")
            .field("default_ttl", &self.default_ttl)
            .field("min_ttl", &self.min_ttl)
            .field("max_ttl", &self.max_ttl)
            .field("unknown_kid_cooldown", &self.unknown_kid_cooldown)
            .field("max_staleness", &self.max_staleness)
            .field("startup", &self.startup)
            .finish_non_exhaustive()
    }
}

/// The background task: refreshes when due (and retries failures) while the set is
/// idle. Decisions read the set's clock; sleeping uses the runtime's timer, at most
/// a minute at a time so a clock that jumps is noticed.
async fn drive(shared: Weak<KeySetState>) {
    loop {
        let pause = {
            let Some(shared) = shared.upgrade() else {
                return;
            };
            let now = shared.clock.now();
            let due = {
                let state = shared.lock();
                match (&*shared.current.load(), state.retry_at) {
                    (_, Some(retry_at)) => retry_at,
                    (Some(snapshot), None) => snapshot.refresh_at,
                    (None, None) => now,
                }
            };
            if now >= due {
                let mut state = shared.lock();
                if state.in_flight.is_none() && state.retry_at.is_none_or(|at| now >= at) {
                    let reason = if shared.current.load().is_some() {
                        Reason::Refresh
                    } else {
                        Reason::Startup
                    };
                    shared.begin(&mut state, now, reason);
                }
                Duration::from_secs(1)
            } else {
                due.duration_since(now)
                    .unwrap_or_default()
                    .clamp(Duration::from_secs(1), Duration::from_secs(60))
            }
        };
        tokio::time::sleep(pause).await;
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
