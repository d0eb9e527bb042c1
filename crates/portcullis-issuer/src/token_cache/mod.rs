//! A bounded cache of verification results, keyed by a keyed hash of the token.
//!
//! Used for introspection results and for verified JWTs. The token itself is never a key
//! and never stored: a key is the 128-bit tag AES-256-GCM-SIV (RFC 8452) computes over
//! the token under a random key made when the cache is built, so a memory dump does not
//! yield usable tokens and an attacker cannot aim collisions (why this construction and
//! not HMAC-SHA256: `docs/dependencies.md`). Expiry is decided on the injected
//! [`Clock`] (or on the time the caller read from it and passes in, so a request reads
//! the clock once): a result is never served past the time the caller gave it, nor past
//! the maximum lifetime.
//!
//! Storage is a [`quick_cache`] map bounded in entries (see `docs/dependencies.md` for
//! why not moka): a hit is one shard read lock, no clock read of its own and no
//! allocation. Expired entries are dropped when looked up, swept at most once per
//! maximum lifetime by the insert path, and, whatever happens, evicted beyond the
//! capacity, so memory stays bounded.

use std::any::Any;
use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lc_rs::aead::{AES_256_GCM_SIV, Aad, LessSafeKey, Nonce, UnboundKey};
use aws_lc_rs::rand::SecureRandom as _;
use portcullis_jwt::{Clock, ConfigError, SystemClock};
use quick_cache::sync::{Cache, DefaultLifecycle};
use quick_cache::{OptionsBuilder, UnitWeighter};
use tokio::sync::watch;

mod key;
mod single_flight;

pub use key::TokenKey;
use key::{KEY_NONCE, KeyHashBuilder};

/// The default capacity, in entries: 100,000.
pub const DEFAULT_CAPACITY: u64 = 100_000;
/// The default longest lifetime of an entry: 5 minutes.
pub const DEFAULT_MAX_TTL: Duration = Duration::from_secs(300);

/// A value to cache and until when it may be served.
#[derive(Clone, Debug)]
pub struct Cached<V> {
    /// The value.
    pub value: V,
    /// The instant after which it must not be served (for a token, at most its `exp`).
    pub expires_at: SystemTime,
}

#[derive(Clone)]
struct Entry<V> {
    value: V,
    /// The value's own expiry, capped by the maximum lifetime from when it was stored.
    expires_at: SystemTime,
}

/// Counters of a [`TokenCache`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TokenCacheStats {
    /// Lookups answered from the cache.
    pub hits: u64,
    /// Lookups that found nothing.
    pub misses: u64,
    /// Entries found but past their expiry on the clock, and dropped.
    pub expired: u64,
}

/// A bounded, single-flight cache of per-token results. Cheap to clone.
pub struct TokenCache<V> {
    inner: Arc<Inner<V>>,
}

type Map<V> = Cache<TokenKey, Entry<V>, UnitWeighter, KeyHashBuilder>;

/// What waiters on a single flight receive: the value, or the leader's error (its
/// type erased; it is the `E` of the caller that started the flight).
type Outcome<V> = Option<Result<V, Arc<dyn Any + Send + Sync>>>;

struct Inner<V> {
    map: Map<V>,
    /// Misses being computed, one per key; waiters subscribe.
    flights: Mutex<HashMap<TokenKey, watch::Receiver<Outcome<V>>, KeyHashBuilder>>,
    /// Keys the tokens: see [`TokenCache::key`].
    hash_key: LessSafeKey,
    clock: Arc<dyn Clock>,
    max_ttl: Duration,
    /// When (seconds since the epoch, on the clock) the insert path next sweeps expired
    /// entries out.
    next_sweep: AtomicU64,
    hits: AtomicU64,
    misses: AtomicU64,
    expired: AtomicU64,
}

impl<V> Clone for TokenCache<V> {
    fn clone(&self) -> Self {
        TokenCache {
            inner: self.inner.clone(),
        }
    }
}

/// Builds a [`TokenCache`].
#[derive(Debug)]
#[must_use]
pub struct TokenCacheBuilder {
    capacity: u64,
    max_ttl: Duration,
    clock: Arc<dyn Clock>,
}

impl TokenCacheBuilder {
    /// The most entries kept; beyond it the least useful are evicted (quick_cache's
    /// S3-FIFO policy: entries seen once go first). Defaults to 100,000.
    pub fn capacity(mut self, entries: u64) -> Self {
        self.capacity = entries;
        self
    }

    /// The longest an entry lives, whatever the caller asks. Defaults to 5 minutes.
    pub fn max_ttl(mut self, ttl: Duration) -> Self {
        self.max_ttl = ttl;
        self
    }

    /// The clock expiry is decided on. Defaults to the system clock.
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Builds the cache with a fresh random hashing key.
    ///
    /// # Errors
    /// A zero capacity or a zero maximum lifetime, or no randomness available.
    pub fn build<V: Clone + Send + Sync + 'static>(self) -> Result<TokenCache<V>, ConfigError> {
        if self.capacity == 0 {
            return Err(ConfigError::for_setting(
                "capacity",
                "a token cache needs a capacity above zero",
            ));
        }
        if self.max_ttl.is_zero() {
            return Err(ConfigError::for_setting(
                "max_ttl",
                "a token cache needs a maximum lifetime above zero",
            ));
        }
        let mut key_bytes = [0u8; 32];
        aws_lc_rs::rand::SystemRandom::new()
            .fill(&mut key_bytes)
            .map_err(|_| ConfigError::custom("no randomness for the token cache key"))?;
        let hash_key = UnboundKey::new(&AES_256_GCM_SIV, &key_bytes)
            .map(LessSafeKey::new)
            .map_err(|_| ConfigError::custom("the token cache key was refused"))?;
        let now = unix_seconds(self.clock.now());
        Ok(TokenCache {
            inner: Arc::new(Inner {
                map: bounded_map(self.capacity)?,
                flights: Mutex::new(HashMap::with_hasher(KeyHashBuilder)),
                hash_key,
                clock: self.clock,
                max_ttl: self.max_ttl,
                next_sweep: AtomicU64::new(now.saturating_add(self.max_ttl.as_secs().max(1))),
                hits: AtomicU64::new(0),
                misses: AtomicU64::new(0),
                expired: AtomicU64::new(0),
            }),
        })
    }
}

/// A map that never holds more than `capacity` entries.
///
/// quick_cache splits the capacity over its shards rounding up, so a capacity that the
/// shard count does not divide could be exceeded by a few entries: the shard count is
/// chosen here (a power of two, each shard at least 32 entries, so quick_cache keeps it)
/// and the capacity rounded down to a multiple of it.
fn bounded_map<V: Clone>(capacity: u64) -> Result<Map<V>, ConfigError> {
    let parallelism = std::thread::available_parallelism().map_or(1, usize::from) as u64;
    let mut shards = (parallelism * 4).next_power_of_two();
    while shards > 1 && capacity / shards < 32 {
        shards /= 2;
    }
    let capacity = capacity - capacity % shards;
    let items = usize::try_from(capacity)
        .map_err(|_| ConfigError::custom("the token cache capacity does not fit in memory"))?;
    let options = OptionsBuilder::new()
        .shards(shards as usize)
        .estimated_items_capacity(items)
        .weight_capacity(capacity)
        .build()
        .map_err(|_| ConfigError::custom("invalid token cache options"))?;
    Ok(Cache::with_options(
        options,
        UnitWeighter,
        KeyHashBuilder,
        DefaultLifecycle::default(),
    ))
}

fn unix_seconds(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

enum Lookup<V> {
    Hit(V),
    Miss,
    Expired,
}

impl<V: Clone + Send + Sync + 'static> TokenCache<V> {
    /// Starts a configuration.
    pub fn builder() -> TokenCacheBuilder {
        TokenCacheBuilder {
            capacity: DEFAULT_CAPACITY,
            max_ttl: DEFAULT_MAX_TTL,
            clock: Arc::new(SystemClock),
        }
    }

    /// The cache key of `token`: the tag AES-256-GCM-SIV computes with the cache's key,
    /// a fixed nonce, `token` as associated data and nothing to encrypt.
    ///
    /// GCM-SIV is built for repeated nonces: under one nonce it is deterministic, and its
    /// tag (POLYVAL of the input, then AES) is a pseudorandom function of the input, so
    /// equal tokens get equal keys and no one without the key can find two tokens that
    /// share one, or learn anything from seeing a key. With AES-NI and carry-less
    /// multiplication it costs a fraction of HMAC-SHA256 (`docs/dependencies.md` has
    /// the figures and their command).
    pub fn key(&self, token: &str) -> TokenKey {
        let tagged = self.inner.hash_key.seal_in_place_separate_tag(
            Nonce::assume_unique_for_key(KEY_NONCE),
            Aad::from(token.as_bytes()),
            &mut [],
        );
        match tagged {
            Ok(tag) => {
                let mut key = [0u8; 16];
                key.copy_from_slice(&tag.as_ref()[..16]);
                TokenKey(key)
            }
            // RFC 8452 takes associated data below 2^61 bytes, more than any address
            // space holds, so this is not reached. Were it reached, the token gets a key
            // no other call gets: it is never served from the cache.
            Err(_) => {
                static UNKEYABLE: AtomicU64 = AtomicU64::new(0);
                let mut key = [0xff; 16];
                key[8..].copy_from_slice(&UNKEYABLE.fetch_add(1, Ordering::Relaxed).to_le_bytes());
                TokenKey(key)
            }
        }
    }

    /// The cached value for `key`, if there is one that has not expired on the clock.
    pub fn get(&self, key: &TokenKey) -> Option<V> {
        self.get_at(key, self.inner.clock.now())
    }

    /// The cached value for `key`, if there is one that has not expired at `now`: the
    /// caller's reading of the cache's clock, so a request reads the clock once.
    pub fn get_at(&self, key: &TokenKey, now: SystemTime) -> Option<V> {
        let inner = &*self.inner;
        match self.lookup(key, now) {
            Lookup::Hit(value) => {
                inner.hits.fetch_add(1, Ordering::Relaxed);
                Some(value)
            }
            Lookup::Miss => {
                inner.misses.fetch_add(1, Ordering::Relaxed);
                None
            }
            Lookup::Expired => {
                inner.expired.fetch_add(1, Ordering::Relaxed);
                None
            }
        }
    }

    fn lookup(&self, key: &TokenKey, now: SystemTime) -> Lookup<V> {
        let map = &self.inner.map;
        let Some(entry) = map.get(key) else {
            return Lookup::Miss;
        };
        if entry.expires_at > now {
            return Lookup::Hit(entry.value);
        }
        // Only if it is still the expired one: a fresh value may have replaced it.
        map.remove_if(key, |entry| entry.expires_at <= now);
        Lookup::Expired
    }

    /// Stores `cached` under `key` (replacing what was there), until its expiry capped
    /// by the maximum lifetime. Values already expired are not stored.
    pub fn insert(&self, key: TokenKey, cached: Cached<V>) {
        self.insert_at(key, cached, self.inner.clock.now());
    }

    /// [`TokenCache::insert`] with the caller's reading of the clock.
    pub fn insert_at(&self, key: TokenKey, cached: Cached<V>, now: SystemTime) {
        let inner = &*self.inner;
        let ttl = cached
            .expires_at
            .duration_since(now)
            .unwrap_or(Duration::ZERO)
            .min(inner.max_ttl);
        if ttl.is_zero() {
            return;
        }
        self.sweep_if_due(now);
        inner.map.insert(
            key,
            Entry {
                value: cached.value,
                expires_at: now + ttl,
            },
        );
    }

    /// At most once per maximum lifetime, drops every expired entry. Called on the
    /// insert path (a miss, which has just paid for a verification or a round trip),
    /// so memory held by tokens nobody presents again is given back even while the
    /// cache is below its capacity.
    fn sweep_if_due(&self, now: SystemTime) {
        let inner = &*self.inner;
        let seconds = unix_seconds(now);
        let due = inner.next_sweep.load(Ordering::Relaxed);
        if seconds < due {
            return;
        }
        let next = seconds.saturating_add(inner.max_ttl.as_secs().max(1));
        // One caller sweeps; the others go on.
        if inner
            .next_sweep
            .compare_exchange(due, next, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
        {
            inner.map.retain(|_, entry| entry.expires_at > now);
        }
    }

    /// Drops the entry for `key`.
    pub fn invalidate(&self, key: &TokenKey) {
        self.inner.map.remove(key);
    }

    /// Drops every entry whose value matches `predicate`, now.
    pub fn invalidate_if<F>(&self, predicate: F)
    where
        F: Fn(&V) -> bool,
    {
        self.inner.map.retain(|_, entry| !predicate(&entry.value));
    }

    /// Drops every entry expired on the clock now, rather than when it is next looked
    /// up or swept. For tests and for exact entry counts.
    pub fn drop_expired(&self) {
        let now = self.inner.clock.now();
        self.inner.map.retain(|_, entry| entry.expires_at > now);
    }

    /// The number of entries (expired ones not yet dropped included).
    pub fn entry_count(&self) -> u64 {
        self.inner.map.len() as u64
    }

    /// The counters.
    pub fn stats(&self) -> TokenCacheStats {
        let inner = &*self.inner;
        TokenCacheStats {
            hits: inner.hits.load(Ordering::Relaxed),
            misses: inner.misses.load(Ordering::Relaxed),
            expired: inner.expired.load(Ordering::Relaxed),
        }
    }

    /// The maximum lifetime of an entry.
    pub fn max_ttl(&self) -> Duration {
        self.inner.max_ttl
    }
}

impl<V: Clone> fmt::Debug for TokenCache<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenCache")
            .field("entries", &self.inner.map.len())
            .field("max_ttl", &self.inner.max_ttl)
            .field("clock", &self.inner.clock)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use portcullis_jwt::ManualClock;
    use std::sync::atomic::AtomicUsize;

    fn cache(clock: &ManualClock) -> TokenCache<u32> {
        TokenCache::<u32>::builder()
            .clock(clock.clone())
            .max_ttl(Duration::from_secs(60))
            .build()
            .unwrap()
    }

    fn fresh(value: u32, expires_at: SystemTime) -> Result<Cached<u32>, &'static str> {
        Ok(Cached { value, expires_at })
    }

    /// A task that looks `key` up and, on a miss, stores `value` until `until`.
    fn spawn_fill(
        cache: &TokenCache<u32>,
        key: TokenKey,
        value: u32,
        until: SystemTime,
    ) -> tokio::task::JoinHandle<Result<u32, impl fmt::Debug + Send + 'static>> {
        let cache = cache.clone();
        tokio::spawn(async move {
            cache
                .get_or_try_insert_with(key, async { fresh(value, until) })
                .await
        })
    }

    #[test]
    fn keys_are_keyed_hashes() {
        let clock = ManualClock::at_unix(1_000);
        let a = cache(&clock);
        let b = cache(&clock);
        assert_eq!(a.key("token-1"), a.key("token-1"));
        assert_ne!(a.key("token-1"), a.key("token-2"));
        // A different cache has a different hashing key.
        assert_ne!(a.key("token-1"), b.key("token-1"));
        assert!(!format!("{:?}", a.key("token-1")).contains("token"));
        // The whole token is hashed: a change in its last byte is another key.
        assert_ne!(a.key("aaaaaaaa.bbbbbbbb.c"), a.key("aaaaaaaa.bbbbbbbb.d"));
    }

    #[tokio::test]
    async fn entries_expire_on_the_clock_not_later() {
        let clock = ManualClock::at_unix(1_000);
        let cache = cache(&clock);
        let key = cache.key("t");
        let until = clock.now() + Duration::from_secs(10);
        assert_eq!(
            cache
                .get_or_try_insert_with(key, async { fresh(1, until) })
                .await
                .unwrap(),
            1
        );
        clock.advance(Duration::from_secs(9));
        assert_eq!(cache.get(&key), Some(1));
        clock.advance(Duration::from_secs(1));
        assert_eq!(cache.get(&key), None);
        let value = cache
            .get_or_try_insert_with(key, async {
                fresh(2, clock.now() + Duration::from_secs(5))
            })
            .await
            .unwrap();
        assert_eq!(value, 2);
        assert_eq!(cache.stats().misses, 2);
        assert_eq!(cache.stats().expired, 1);
    }

    #[test]
    fn the_callers_time_decides_not_the_clock() {
        let clock = ManualClock::at_unix(1_000);
        let cache = cache(&clock);
        let key = cache.key("t");
        let start = clock.now();
        cache.insert_at(
            key,
            Cached {
                value: 1,
                expires_at: start + Duration::from_secs(10),
            },
            start,
        );
        // The clock has not moved, but the caller's time is past the expiry.
        assert_eq!(cache.get_at(&key, start + Duration::from_secs(9)), Some(1));
        assert_eq!(cache.get_at(&key, start + Duration::from_secs(10)), None);
        assert_eq!(cache.stats().expired, 1);
        // The maximum lifetime counts from the caller's time of insertion.
        let later = start + Duration::from_secs(100);
        cache.insert_at(
            key,
            Cached {
                value: 2,
                expires_at: later + Duration::from_secs(3_600),
            },
            later,
        );
        assert_eq!(cache.get_at(&key, later + Duration::from_secs(59)), Some(2));
        assert_eq!(cache.get_at(&key, later + Duration::from_secs(60)), None);
        // Already expired at the caller's time: not stored.
        cache.insert_at(
            key,
            Cached {
                value: 3,
                expires_at: later,
            },
            later,
        );
        assert_eq!(cache.entry_count(), 0);
    }

    #[tokio::test]
    async fn lifetime_is_capped_and_past_expiry_is_not_kept() {
        let clock = ManualClock::at_unix(1_000);
        let cache = cache(&clock);
        let key = cache.key("t");
        let far = clock.now() + Duration::from_secs(3_600);
        cache
            .get_or_try_insert_with(key, async { fresh(1, far) })
            .await
            .unwrap();
        clock.advance(Duration::from_secs(60));
        assert_eq!(cache.get(&key), None, "capped at max_ttl");

        let past = clock.now() - Duration::from_secs(1);
        let other = cache.key("u");
        assert_eq!(
            cache
                .get_or_try_insert_with(other, async { fresh(7, past) })
                .await
                .unwrap(),
            7
        );
        assert_eq!(cache.get(&other), None);
    }

    #[tokio::test]
    async fn errors_are_shared_not_cached() {
        let clock = ManualClock::at_unix(1_000);
        let cache = cache(&clock);
        let key = cache.key("t");
        let err = cache
            .get_or_try_insert_with(key, async { Err::<Cached<u32>, _>("down") })
            .await
            .unwrap_err();
        assert_eq!(*err, "down");
        let until = clock.now() + Duration::from_secs(10);
        assert_eq!(
            cache
                .get_or_try_insert_with(key, async { fresh(3, until) })
                .await
                .unwrap(),
            3
        );
    }

    #[tokio::test(flavor = "current_thread")]
    async fn concurrent_misses_are_one_call() {
        let clock = ManualClock::at_unix(1_000);
        let cache = cache(&clock);
        let calls = Arc::new(AtomicUsize::new(0));
        let gate = Arc::new(tokio::sync::Notify::new());
        let until = clock.now() + Duration::from_secs(10);
        let mut tasks = Vec::new();
        for _ in 0..1_000 {
            let (cache, calls, gate) = (cache.clone(), calls.clone(), gate.clone());
            tasks.push(tokio::spawn(async move {
                let key = cache.key("same token");
                cache
                    .get_or_try_insert_with(key, async {
                        calls.fetch_add(1, Ordering::SeqCst);
                        gate.notified().await;
                        fresh(42, until)
                    })
                    .await
            }));
        }
        // On a current-thread runtime, one yield lets every task run up to the point
        // where it waits: the first inside `init`, the rest on the single flight.
        tokio::task::yield_now().await;
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        gate.notify_one();
        for task in tasks {
            assert_eq!(task.await.unwrap().unwrap(), 42);
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn concurrent_misses_share_one_error() {
        let clock = ManualClock::at_unix(1_000);
        let cache = cache(&clock);
        let calls = Arc::new(AtomicUsize::new(0));
        // Stays open once opened: were the flight not shared, later calls would run
        // `init` too and be counted rather than hang.
        let (open, gate) = watch::channel(false);
        let mut tasks = Vec::new();
        for _ in 0..100 {
            let (cache, calls, mut gate) = (cache.clone(), calls.clone(), gate.clone());
            tasks.push(tokio::spawn(async move {
                let key = cache.key("same token");
                cache
                    .get_or_try_insert_with(key, async {
                        calls.fetch_add(1, Ordering::SeqCst);
                        gate.wait_for(|open| *open).await.unwrap();
                        Err::<Cached<u32>, _>("down")
                    })
                    .await
            }));
        }
        tokio::task::yield_now().await;
        open.send_replace(true);
        for task in tasks {
            assert_eq!(*task.await.unwrap().unwrap_err(), "down");
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert_eq!(cache.entry_count(), 0, "errors are not cached");
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_waiter_takes_over_when_the_leader_gives_up() {
        let clock = ManualClock::at_unix(1_000);
        let cache = cache(&clock);
        let key = cache.key("same token");
        let until = clock.now() + Duration::from_secs(10);
        let leader = tokio::spawn({
            let cache = cache.clone();
            async move {
                cache
                    .get_or_try_insert_with(key, std::future::pending::<Result<Cached<u32>, ()>>())
                    .await
            }
        });
        tokio::task::yield_now().await;
        let waiter = spawn_fill(&cache, key, 5, until);
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished(), "waits on the leader");
        leader.abort();
        assert!(leader.await.unwrap_err().is_cancelled());
        assert_eq!(waiter.await.unwrap().unwrap(), 5);
        assert_eq!(cache.get(&key), Some(5));
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_waiter_with_another_error_type_answers_for_itself() {
        let clock = ManualClock::at_unix(1_000);
        let cache = cache(&clock);
        let key = cache.key("same token");
        let until = clock.now() + Duration::from_secs(10);
        let (open, mut gate) = watch::channel(false);
        let leader = tokio::spawn({
            let cache = cache.clone();
            async move {
                cache
                    .get_or_try_insert_with(key, async {
                        gate.wait_for(|open| *open).await.unwrap();
                        Err::<Cached<u32>, u8>(7)
                    })
                    .await
            }
        });
        tokio::task::yield_now().await;
        let waiter = spawn_fill(&cache, key, 5, until);
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished(), "waits on the leader");
        open.send_replace(true);
        assert_eq!(*leader.await.unwrap().unwrap_err(), 7);
        // The leader's error is not of the waiter's type: it ran its own `init`.
        assert_eq!(waiter.await.unwrap().unwrap(), 5);
        assert_eq!(cache.get(&key), Some(5));
    }

    #[tokio::test]
    async fn invalidation_by_predicate() {
        let clock = ManualClock::at_unix(1_000);
        let cache = cache(&clock);
        let until = clock.now() + Duration::from_secs(10);
        for (token, value) in [("a", 1), ("b", 2), ("c", 1)] {
            let key = cache.key(token);
            cache
                .get_or_try_insert_with(key, async { fresh(value, until) })
                .await
                .unwrap();
        }
        cache.invalidate_if(|v| *v == 1);
        assert_eq!(cache.get(&cache.key("a")), None);
        assert_eq!(cache.get(&cache.key("b")), Some(2));
        assert_eq!(cache.get(&cache.key("c")), None);
    }

    #[tokio::test]
    async fn capacity_is_bounded() {
        let clock = ManualClock::at_unix(1_000);
        for capacity in [1, 3, 100, 500, 1_000] {
            let cache: TokenCache<u32> = TokenCache::<u32>::builder()
                .clock(clock.clone())
                .capacity(capacity)
                .build()
                .unwrap();
            let until = clock.now() + Duration::from_secs(10);
            for i in 0..10_000u32 {
                let key = cache.key(&format!("token-{i}"));
                cache
                    .get_or_try_insert_with(key, async { fresh(i, until) })
                    .await
                    .unwrap();
                assert!(cache.entry_count() <= capacity, "{capacity}");
            }
            assert!(cache.entry_count() > 0);
        }
    }

    #[test]
    fn expired_entries_are_swept_by_later_inserts() {
        let clock = ManualClock::at_unix(1_000);
        let cache = cache(&clock); // max_ttl 60 s
        for i in 0..100 {
            let key = cache.key(&format!("short-{i}"));
            cache.insert(
                key,
                Cached {
                    value: i,
                    expires_at: clock.now() + Duration::from_secs(5),
                },
            );
        }
        assert_eq!(cache.entry_count(), 100);
        let long = Cached {
            value: 0,
            expires_at: clock.now() + Duration::from_secs(3_600),
        };
        // Expired, but no sweep is due yet: only the capacity bounds them.
        clock.advance(Duration::from_secs(30));
        cache.insert(cache.key("a"), long.clone());
        assert_eq!(cache.entry_count(), 101);
        // One maximum lifetime after the cache was built, the next insert sweeps.
        clock.advance(Duration::from_secs(30));
        cache.insert(cache.key("b"), long.clone());
        assert_eq!(cache.entry_count(), 2);
        assert_eq!(cache.get(&cache.key("a")), Some(0));
        // And not again before another maximum lifetime has passed.
        cache.insert(
            cache.key("c"),
            Cached {
                value: 0,
                expires_at: clock.now() + Duration::from_secs(1),
            },
        );
        clock.advance(Duration::from_secs(2));
        cache.insert(cache.key("d"), long.clone());
        assert_eq!(cache.entry_count(), 4);
        cache.drop_expired();
        assert_eq!(cache.entry_count(), 3, "drop_expired drops expired entries");
    }
}
