//! A bounded cache of verification results, keyed by a keyed hash of the token.
//!
//! Used for introspection results and for verified JWTs. The token itself is never a key
//! and never stored: keys are HMAC-SHA256 (truncated to 128 bits) under a random key made
//! when the cache is built, so a memory dump does not yield usable tokens and an attacker
//! cannot aim collisions. Expiry is decided on the injected [`Clock`], so a result is
//! never served past the time the caller gave it, whatever moka's own timers do; moka's
//! per-entry expiry only reclaims memory.

use std::fmt;
use std::future::Future;
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use aws_lc_rs::hmac;
use moka::Expiry;
use moka::future::Cache;
use portcullis_jwt::{Clock, ConfigError, SystemClock};

/// The default capacity, in entries: 100,000.
pub const DEFAULT_CAPACITY: u64 = 100_000;
/// The default longest lifetime of an entry: 5 minutes.
pub const DEFAULT_MAX_TTL: Duration = Duration::from_secs(300);

/// The cache key of a token: a keyed hash, not the token.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct TokenKey([u8; 16]);

impl Hash for TokenKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        // Already uniformly random: eight bytes are plenty for the table.
        state.write_u64(u64::from_le_bytes([
            self.0[0], self.0[1], self.0[2], self.0[3], self.0[4], self.0[5], self.0[6], self.0[7],
        ]));
    }
}

impl fmt::Debug for TokenKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TokenKey(")?;
        for b in &self.0[..4] {
            write!(f, "{b:02x}")?;
        }
        write!(f, "..)")
    }
}

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
    expires_at: SystemTime,
    ttl: Duration,
}

struct EntryExpiry;

impl<V> Expiry<TokenKey, Entry<V>> for EntryExpiry {
    fn expire_after_create(
        &self,
        _key: &TokenKey,
        value: &Entry<V>,
        _created_at: Instant,
    ) -> Option<Duration> {
        Some(value.ttl)
    }
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

struct Inner<V> {
    cache: Cache<TokenKey, Entry<V>>,
    hash_key: hmac::Key,
    clock: Arc<dyn Clock>,
    max_ttl: Duration,
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
    invalidation: bool,
}

impl TokenCacheBuilder {
    /// The most entries kept; the least useful are evicted beyond it (TinyLFU).
    /// Defaults to 100,000.
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

    /// Enables [`TokenCache::invalidate_if`]. Defaults to off (it costs a little on
    /// every read).
    pub fn with_invalidation(mut self) -> Self {
        self.invalidation = true;
        self
    }

    /// Builds the cache with a fresh random hashing key.
    ///
    /// # Errors
    /// A zero capacity or a zero maximum lifetime, or no randomness available.
    pub fn build<V: Clone + Send + Sync + 'static>(self) -> Result<TokenCache<V>, ConfigError> {
        if self.capacity == 0 || self.max_ttl.is_zero() {
            return Err(config_error(
                "a token cache needs a capacity and a maximum lifetime above zero",
            ));
        }
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let hash_key = hmac::Key::generate(hmac::HMAC_SHA256, &rng)
            .map_err(|_| config_error("no randomness for the token cache key"))?;
        let mut builder = Cache::builder()
            .max_capacity(self.capacity)
            .expire_after(EntryExpiry);
        if self.invalidation {
            builder = builder.support_invalidation_closures();
        }
        Ok(TokenCache {
            inner: Arc::new(Inner {
                cache: builder.build(),
                hash_key,
                clock: self.clock,
                max_ttl: self.max_ttl,
                hits: AtomicU64::new(0),
                misses: AtomicU64::new(0),
                expired: AtomicU64::new(0),
            }),
        })
    }
}

fn config_error(message: &str) -> ConfigError {
    // ConfigError's constructor is private to portcullis-jwt; a Validation build error
    // is the one public way to make one, so we say it ourselves.
    ConfigError::custom(message)
}

impl<V: Clone + Send + Sync + 'static> TokenCache<V> {
    /// Starts a configuration.
    pub fn builder() -> TokenCacheBuilder {
        TokenCacheBuilder {
            capacity: DEFAULT_CAPACITY,
            max_ttl: DEFAULT_MAX_TTL,
            clock: Arc::new(SystemClock),
            invalidation: false,
        }
    }

    /// The cache key of `token`.
    pub fn key(&self, token: &str) -> TokenKey {
        let tag = hmac::sign(&self.inner.hash_key, token.as_bytes());
        let mut key = [0u8; 16];
        key.copy_from_slice(&tag.as_ref()[..16]);
        TokenKey(key)
    }

    /// The cached value for `key`, if there is one that has not expired on the clock.
    pub async fn get(&self, key: &TokenKey) -> Option<V> {
        let inner = &*self.inner;
        let Some(entry) = inner.cache.get(key).await else {
            inner.misses.fetch_add(1, Ordering::Relaxed);
            return None;
        };
        if entry.expires_at > inner.clock.now() {
            inner.hits.fetch_add(1, Ordering::Relaxed);
            Some(entry.value)
        } else {
            inner.expired.fetch_add(1, Ordering::Relaxed);
            inner.cache.invalidate(key).await;
            None
        }
    }

    /// The cached value for `key`, or the result of `init`, cached until the time it
    /// gives (capped by the maximum lifetime). Concurrent calls for the same key while
    /// `init` runs wait for that one call (single flight) and share its result; errors
    /// are shared too, as `Arc<E>`, and never cached.
    ///
    /// # Errors
    /// The error of `init`.
    pub async fn get_or_try_insert_with<F, E>(&self, key: TokenKey, init: F) -> Result<V, Arc<E>>
    where
        F: Future<Output = Result<Cached<V>, E>>,
        E: Send + Sync + 'static,
    {
        if let Some(value) = self.get(&key).await {
            return Ok(value);
        }
        let inner = &*self.inner;
        let entry = inner
            .cache
            .try_get_with(key, async {
                let cached = init.await?;
                let now = inner.clock.now();
                let ttl = cached
                    .expires_at
                    .duration_since(now)
                    .unwrap_or(Duration::ZERO)
                    .min(inner.max_ttl);
                Ok(Entry {
                    value: cached.value,
                    expires_at: now + ttl,
                    ttl,
                })
            })
            .await?;
        if entry.ttl.is_zero() {
            // Already expired when computed: answer this request, keep nothing.
            inner.cache.invalidate(&key).await;
        }
        Ok(entry.value)
    }

    /// Stores `cached` under `key` (replacing what was there), until its expiry capped
    /// by the maximum lifetime. Values already expired are not stored.
    pub async fn insert(&self, key: TokenKey, cached: Cached<V>) {
        let inner = &*self.inner;
        let now = inner.clock.now();
        let ttl = cached
            .expires_at
            .duration_since(now)
            .unwrap_or(Duration::ZERO)
            .min(inner.max_ttl);
        if ttl.is_zero() {
            return;
        }
        inner
            .cache
            .insert(
                key,
                Entry {
                    value: cached.value,
                    expires_at: now + ttl,
                    ttl,
                },
            )
            .await;
    }

    /// Drops the entry for `key`.
    pub async fn invalidate(&self, key: &TokenKey) {
        self.inner.cache.invalidate(key).await;
    }

    /// Drops every entry whose value matches `predicate` (lazily, on the next access or
    /// maintenance). Needs [`TokenCacheBuilder::with_invalidation`].
    ///
    /// # Errors
    /// If the cache was built without invalidation support.
    pub fn invalidate_if<F>(&self, predicate: F) -> Result<(), ConfigError>
    where
        F: Fn(&V) -> bool + Send + Sync + 'static,
    {
        self.inner
            .cache
            .invalidate_entries_if(move |_, entry| predicate(&entry.value))
            .map(|_| ())
            .map_err(|_| config_error("the token cache was built without invalidation"))
    }

    /// Runs moka's pending maintenance (eviction, invalidation) now. For tests and for
    /// exact entry counts.
    pub async fn run_pending_tasks(&self) {
        self.inner.cache.run_pending_tasks().await;
    }

    /// The approximate number of entries.
    pub fn entry_count(&self) -> u64 {
        self.inner.cache.entry_count()
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

impl<V> fmt::Debug for TokenCache<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenCache")
            .field("entries", &self.inner.cache.entry_count())
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
            .with_invalidation()
            .build()
            .unwrap()
    }

    fn fresh(value: u32, expires_at: SystemTime) -> Result<Cached<u32>, &'static str> {
        Ok(Cached { value, expires_at })
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
        assert_eq!(cache.get(&key).await, Some(1));
        clock.advance(Duration::from_secs(1));
        assert_eq!(cache.get(&key).await, None);
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
        assert_eq!(cache.get(&key).await, None, "capped at max_ttl");

        let past = clock.now() - Duration::from_secs(1);
        let other = cache.key("u");
        assert_eq!(
            cache
                .get_or_try_insert_with(other, async { fresh(7, past) })
                .await
                .unwrap(),
            7
        );
        assert_eq!(cache.get(&other).await, None);
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
        cache.invalidate_if(|v| *v == 1).unwrap();
        assert_eq!(cache.get(&cache.key("a")).await, None);
        assert_eq!(cache.get(&cache.key("b")).await, Some(2));
        assert_eq!(cache.get(&cache.key("c")).await, None);
    }

    #[tokio::test]
    async fn capacity_is_bounded() {
        let clock = ManualClock::at_unix(1_000);
        let cache: TokenCache<u32> = TokenCache::<u32>::builder()
            .clock(clock.clone())
            .capacity(100)
            .build()
            .unwrap();
        let until = clock.now() + Duration::from_secs(10);
        for i in 0..10_000u32 {
            let key = cache.key(&format!("token-{i}"));
            cache
                .get_or_try_insert_with(key, async { fresh(i, until) })
                .await
                .unwrap();
        }
        cache.run_pending_tasks().await;
        assert!(cache.entry_count() <= 100, "{}", cache.entry_count());
    }
}
