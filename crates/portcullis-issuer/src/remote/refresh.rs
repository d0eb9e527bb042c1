//! The refresh state machine behind a [`RemoteKeySet`](super::RemoteKeySet): the current
//! snapshot, one fetch at a time (startup, expiry, refresh ahead, unknown `kid`),
//! backoff after failures, the negative cache, and the background task.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant, SystemTime};

use arc_swap::ArcSwapOption;
use http::HeaderMap;
use portcullis_jwt::{Claims, Clock, ErrorKind, KeySet, UnverifiedToken, Validation};
use tokio::sync::watch;
use tracing::Instrument as _;

use super::{NEGATIVE_CACHE_CAPACITY, Source};
use crate::discovery::IssuerMetadata;
use crate::error::{FetchError, FetchErrorKind};
use crate::freshness;
use crate::http::HttpClient;
use crate::verify_error::VerifyError;

pub(super) struct KeySetState {
    pub(super) source: Source,
    pub(super) http: HttpClient,
    pub(super) clock: Arc<dyn Clock>,
    pub(super) timing: Timing,
    pub(super) max_wait: Duration,
    pub(super) current: ArcSwapOption<Snapshot>,
    pub(super) metadata: ArcSwapOption<IssuerMetadata>,
    pub(super) state: Mutex<FetchState>,
    pub(super) completed: watch::Sender<Completion>,
    pub(super) counters: Counters,
    pub(super) driver: Mutex<Option<tokio::task::AbortHandle>>,
}

pub(super) struct Timing {
    pub(super) default_ttl: Duration,
    pub(super) min_ttl: Duration,
    pub(super) max_ttl: Duration,
    pub(super) cooldown: Duration,
    pub(super) max_staleness: Duration,
    pub(super) retry_min: Duration,
    pub(super) retry_max: Duration,
}

pub(super) struct Snapshot {
    pub(super) keys: KeySet,
    pub(super) generation: u64,
    pub(super) fetched_at: SystemTime,
    pub(super) refresh_at: SystemTime,
    pub(super) expires_at: SystemTime,
    pub(super) usable_until: SystemTime,
}

#[derive(Default)]
pub(super) struct FetchState {
    pub(super) in_flight: Option<u64>,
    pub(super) next_flight: u64,
    pub(super) last_unknown_kid_fetch: Option<SystemTime>,
    pub(super) failures: u32,
    pub(super) retry_at: Option<SystemTime>,
    /// Whether the last completed fetch succeeded; `None` before any.
    pub(super) last_ok: Option<bool>,
    pub(super) negative_generation: u64,
    pub(super) negative: HashSet<Box<str>>,
}

#[derive(Clone)]
pub(super) struct Completion {
    pub(super) flight: u64,
    pub(super) outcome: Option<Result<(), FetchError>>,
}

#[derive(Default)]
pub(super) struct Counters {
    pub(super) fetches: AtomicU64,
    pub(super) failures: AtomicU64,
    pub(super) unknown_kid_refetches: AtomicU64,
    pub(super) negative_cache_hits: AtomicU64,
    pub(super) waiting: AtomicUsize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Reason {
    Startup,
    Refresh,
    UnknownKid,
    Expired,
    Requested,
}

impl Reason {
    pub(super) fn as_str(self) -> &'static str {
        match self {
            Reason::Startup => "startup",
            Reason::Refresh => "refresh",
            Reason::UnknownKid => "unknown kid",
            Reason::Expired => "no usable set",
            Reason::Requested => "requested",
        }
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
pub(super) enum Next {
    Reverify,
    Wait(u64),
    /// A fetch is due, and the caller may not start one (the synchronous path).
    Fetch,
    NegativeHit,
    Refuse {
        authoritative: bool,
        retry_at: Option<SystemTime>,
    },
}

impl KeySetState {
    pub(super) fn lock(&self) -> MutexGuard<'_, FetchState> {
        // The state is consistent at every unlock; a panic elsewhere must not take
        // verification down with it.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(super) fn generation(&self) -> Option<u64> {
        self.current.load().as_ref().map(|s| s.generation)
    }

    /// Starts a fetch; the caller holds the state lock and has checked none is under
    /// way. Runs on the Tokio runtime when there is one, so a request that gives up
    /// waiting does not cancel the fetch for the others.
    pub(super) fn begin(
        self: &Arc<Self>,
        state: &mut FetchState,
        now: SystemTime,
        reason: Reason,
    ) -> u64 {
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
                // A span of its own, no request's: the fetch serves every waiter.
                let span = tracing::debug_span!(
                    parent: None,
                    "jwks_fetch",
                    source = %self.source,
                    reason = reason.as_str(),
                    outcome = tracing::field::Empty,
                    keys = tracing::field::Empty,
                );
                handle.spawn(async move { shared.run(flight, reason).await }.instrument(span));
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
    pub(super) fn refresh_in_background(self: &Arc<Self>, now: SystemTime) {
        // try_lock: if another request holds the lock it is deciding the same thing.
        let Ok(mut state) = self.state.try_lock() else {
            return;
        };
        if state.in_flight.is_none() && state.retry_at.is_none_or(|at| now >= at) {
            self.begin(&mut state, now, Reason::Refresh);
        }
    }

    pub(super) async fn run(self: Arc<Self>, flight: u64, reason: Reason) {
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
        let span = tracing::Span::current();
        if !span.is_disabled() {
            match &result {
                Ok((keys, _)) => {
                    span.record("outcome", "ok");
                    span.record("keys", keys.len());
                }
                Err(error) => {
                    span.record("outcome", error.kind().description());
                }
            }
        }
        guard.armed = false;
        self.finish(flight, reason, started, result);
    }

    pub(super) async fn fetch(&self) -> Result<(KeySet, Duration), FetchError> {
        let jwks_uri = match &self.source {
            Source::Jwks(uri) => {
                self.http.check_url(&uri.to_string())?;
                uri.clone()
            }
            Source::Issuer { issuer, mode } => {
                let metadata = match self.metadata.load_full() {
                    Some(metadata) => metadata,
                    None => {
                        let discovery = tracing::debug_span!("discovery", issuer = %issuer);
                        let metadata = Arc::new(
                            IssuerMetadata::discover(&self.http, issuer, *mode)
                                .instrument(discovery)
                                .await?,
                        );
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

    pub(super) fn ttl(&self, headers: &HeaderMap) -> Duration {
        let t = &self.timing;
        freshness::bounded_lifetime(
            headers,
            self.clock.now(),
            t.default_ttl,
            t.min_ttl..=t.max_ttl,
        )
    }

    pub(super) fn finish(
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

    pub(super) fn backoff(&self, failures: u32) -> Duration {
        let t = &self.timing;
        let factor = 2u32.saturating_pow(failures.saturating_sub(1).min(20));
        t.retry_min.saturating_mul(factor).min(t.retry_max)
    }

    /// Waits for fetch `flight` (or a later one) to finish, at most `max_wait`.
    /// `None` on timeout.
    pub(super) async fn wait_for(&self, flight: u64) -> Option<Result<(), FetchError>> {
        let _waiting = WaitingGuard::new(&self.counters.waiting);
        let mut completed = self.completed.subscribe();
        let wait = completed.wait_for(|c| c.flight >= flight);
        match tokio::time::timeout(self.max_wait, wait).await {
            Ok(Ok(completion)) => completion.outcome.clone(),
            // The sender lives in `self`: it cannot be gone while we borrow it.
            Ok(Err(_)) | Err(_) => None,
        }
    }

    pub(super) fn unavailable(
        &self,
        retry_at: Option<SystemTime>,
        reason: &'static str,
    ) -> VerifyError {
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
    pub(super) async fn unknown_kid(
        self: &Arc<Self>,
        validation: &Validation,
        token: &UnverifiedToken<'_>,
        now: SystemTime,
        seen: u64,
    ) -> Result<Claims, VerifyError> {
        let Some(kid) = token.header().kid() else {
            return Err(portcullis_jwt::Error::from(ErrorKind::UnknownKeyId).into());
        };
        match self.next_for_unknown_kid(kid, seen, true) {
            Next::Wait(flight) => match self.wait_for(flight).await {
                Some(Ok(())) => self.verify_current(validation, token, now, true),
                Some(Err(_)) => {
                    let retry_at = self.lock().retry_at;
                    Err(self.unavailable(retry_at, "issuer keys unavailable"))
                }
                None => Err(self.unavailable(None, "issuer keys fetch timed out")),
            },
            next => self.answer_unknown_kid(&next, validation, token, now),
        }
    }

    /// [`Self::unknown_kid`] when the answer needs no waiting (a new set to try, a
    /// known-unknown `kid`, the cooldown): `None` when a fetch must be waited for or
    /// started, which only the waiting path does.
    pub(super) fn unknown_kid_now(
        self: &Arc<Self>,
        validation: &Validation,
        token: &UnverifiedToken<'_>,
        now: SystemTime,
        seen: u64,
    ) -> Option<Result<Claims, VerifyError>> {
        let Some(kid) = token.header().kid() else {
            return Some(Err(
                portcullis_jwt::Error::from(ErrorKind::UnknownKeyId).into()
            ));
        };
        match self.next_for_unknown_kid(kid, seen, false) {
            Next::Wait(_) | Next::Fetch => None,
            next => Some(self.answer_unknown_kid(&next, validation, token, now)),
        }
    }

    /// What a token whose `kid` is not in generation `seen` does. With `start` false a
    /// fetch is never started: [`Next::Fetch`] says one is due.
    fn next_for_unknown_kid(self: &Arc<Self>, kid: &str, seen: u64, start: bool) -> Next {
        let cache_now = self.clock.now();
        let mut state = self.lock();
        let cooled_down = state
            .last_unknown_kid_fetch
            .is_none_or(|at| cache_now >= at + self.timing.cooldown);
        if self.generation() != Some(seen) {
            // A fetch finished since we looked: try the new set.
            Next::Reverify
        } else if !cooled_down && state.negative_generation == seen && state.negative.contains(kid)
        {
            // Past the cooldown a known-unknown kid may be asked about again like any
            // other: an issuer may sign with a key a moment before it publishes it, and
            // the set's TTL is far too long to wait for.
            Next::NegativeHit
        } else if let Some(flight) = state.in_flight {
            Next::Wait(flight)
        } else if cooled_down && start {
            Next::Wait(self.begin(&mut state, cache_now, Reason::UnknownKid))
        } else if cooled_down {
            Next::Fetch
        } else {
            Next::Refuse {
                authoritative: state.last_ok != Some(false),
                retry_at: state
                    .last_unknown_kid_fetch
                    .map(|at| at + self.timing.cooldown),
            }
        }
    }

    /// The answer for an unknown `kid` that waits for nothing.
    fn answer_unknown_kid(
        &self,
        next: &Next,
        validation: &Validation,
        token: &UnverifiedToken<'_>,
        now: SystemTime,
    ) -> Result<Claims, VerifyError> {
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
                Err(self.unavailable(*retry_at, "issuer keys unavailable"))
            }
            Next::Wait(_) | Next::Fetch => {
                unreachable!("waiting is the caller's business")
            }
        }
    }

    /// No usable set: wait for a fetch (starting one if the backoff allows).
    pub(super) async fn cold(
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
            Next::NegativeHit | Next::Refuse { .. } | Next::Fetch => {
                let retry_at = self.lock().retry_at;
                Err(self.unavailable(retry_at, "issuer keys unavailable"))
            }
        }
    }

    /// Verifies against the set in place now, without fetching. A `kid` still unknown
    /// is remembered until the next fetch.
    pub(super) fn verify_current(
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

pub(super) struct FinishGuard<'a> {
    pub(super) shared: &'a KeySetState,
    pub(super) flight: u64,
    pub(super) reason: Reason,
    pub(super) started: Instant,
    pub(super) armed: bool,
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

pub(super) struct WaitingGuard<'a>(&'a AtomicUsize);

impl<'a> WaitingGuard<'a> {
    pub(super) fn new(gauge: &'a AtomicUsize) -> Self {
        gauge.fetch_add(1, Ordering::Relaxed);
        WaitingGuard(gauge)
    }
}

impl Drop for WaitingGuard<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The background task: refreshes when due (and retries failures) while the set is
/// idle. Decisions read the set's clock; sleeping uses the runtime's timer, at most
/// a minute at a time so a clock that jumps is noticed.
pub(super) async fn drive(shared: Weak<KeySetState>) {
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
