//! Verification of JWT access tokens against a key source.

use std::fmt;
use std::sync::Arc;
use std::time::SystemTime;

use portcullis_jwt::{Claims, Clock, ErrorKind, KeySet, SystemClock, Validation, VerifiedBy};

use crate::remote::RemoteKeySet;
use crate::token_cache::{Cached, TokenCache, TokenCacheStats, TokenKey};
use crate::verify_error::VerifyError;
#[cfg(doc)]
use crate::verify_error::VerifyErrorKind;

/// Verifies JWT access tokens: a [`Validation`] and where its keys come from.
///
/// Cheap to clone (one `Arc`).
#[derive(Clone)]
pub struct JwtVerifier {
    inner: Arc<Inner>,
}

#[derive(Clone)]
struct Inner {
    validation: Validation,
    keys: Keys,
    clock: Arc<dyn Clock>,
    cache: Option<TokenCache<Claims>>,
}

#[derive(Clone)]
enum Keys {
    Static(KeySet),
    Remote(RemoteKeySet),
}

impl JwtVerifier {
    /// Verifies against a fixed key set (keys the application holds, an HMAC secret, or
    /// a JWK Set shipped with it).
    pub fn with_static_keys(validation: Validation, keys: KeySet) -> JwtVerifier {
        JwtVerifier {
            inner: Arc::new(Inner {
                validation,
                keys: Keys::Static(keys),
                clock: Arc::new(SystemClock),
                cache: None,
            }),
        }
    }

    /// Verifies against a key set fetched from the issuer and kept fresh: rotation,
    /// unknown `kid`s and outages are handled as [`RemoteKeySet`] describes. Token
    /// claims (`exp`, `nbf`, ...) are checked on this verifier's clock; the key set's
    /// cache rules run on the set's own clock ([`RemoteKeySetBuilder::clock`]).
    ///
    /// [`RemoteKeySetBuilder::clock`]: crate::RemoteKeySetBuilder::clock
    pub fn with_remote_keys(validation: Validation, keys: RemoteKeySet) -> JwtVerifier {
        JwtVerifier {
            inner: Arc::new(Inner {
                validation,
                keys: Keys::Remote(keys),
                clock: Arc::new(SystemClock),
                cache: None,
            }),
        }
    }

    /// The remote key set, for readiness, stats and metadata.
    pub fn remote_keys(&self) -> Option<&RemoteKeySet> {
        match &self.inner.keys {
            Keys::Static(_) => None,
            Keys::Remote(keys) => Some(keys),
        }
    }

    /// Replaces the clock token claims are checked on. For tests.
    #[must_use]
    pub fn with_clock(self, clock: impl Clock) -> JwtVerifier {
        let inner = self.into_inner();
        JwtVerifier {
            inner: Arc::new(Inner {
                clock: Arc::new(clock),
                ..inner
            }),
        }
    }

    /// Keeps the claims of verified tokens in `cache`, so a token seen again skips
    /// parsing and signature verification.
    ///
    /// An entry is keyed by a keyed hash of the token (never the token), lives until
    /// the token's `exp` plus the leeway (never beyond the cache's maximum lifetime),
    /// and is never served once the key that verified it has left the key set (or the
    /// set has gone stale past its maximum): that is checked on every hit, and the entry
    /// dropped. Time rules (`exp`, `nbf`, maximum age), issuer and audience are
    /// re-checked on every hit ([`Validation::recheck`]); scopes are the route's
    /// business, on every request. The cache's expiry is decided on this verifier's
    /// clock (read once per request and handed to the cache); build the cache on the
    /// same clock, for its other callers.
    #[must_use]
    pub fn with_token_cache(self, cache: TokenCache<Claims>) -> JwtVerifier {
        let inner = self.into_inner();
        JwtVerifier {
            inner: Arc::new(Inner {
                cache: Some(cache),
                ..inner
            }),
        }
    }

    /// The verified-token cache's counters, if there is a cache.
    pub fn token_cache_stats(&self) -> Option<TokenCacheStats> {
        self.inner.cache.as_ref().map(TokenCache::stats)
    }

    fn into_inner(self) -> Inner {
        Arc::unwrap_or_clone(self.inner)
    }

    /// The rules tokens are checked against.
    pub fn validation(&self) -> &Validation {
        &self.inner.validation
    }

    /// Verifies `token`.
    ///
    /// # Errors
    /// [`VerifyErrorKind::InvalidToken`] with the reason, or
    /// [`VerifyErrorKind::Unavailable`] when keys could not be obtained.
    pub async fn verify(&self, token: &str) -> Result<Claims, VerifyError> {
        match self.verify_now(token) {
            Some(result) => result,
            None => self.verify_after_fetch(token).await,
        }
    }

    /// The synchronous part of [`Self::verify`]: a cached result, or the keys at hand
    /// (static keys always are). `None` when a key set fetch must be waited for.
    pub(crate) fn verify_now(&self, token: &str) -> Option<Result<Claims, VerifyError>> {
        let inner = &*self.inner;
        // One clock reading serves the cache's expiry and the re-checked time rules.
        let now = inner.clock.now();
        let Some(cache) = &inner.cache else {
            return self.verify_uncached_now(token, now);
        };
        if token.len() > inner.validation.max_token_size() {
            return Some(Err(
                portcullis_jwt::Error::from_kind(ErrorKind::TooLarge).into()
            ));
        }
        let key = cache.key(token);
        if let Some(claims) = cache.get_at(&key, now) {
            if self.key_still_usable(&claims) {
                return Some(match inner.validation.recheck(&claims, now) {
                    Ok(()) => Ok(claims),
                    Err(error) => Err(error.into()),
                });
            }
            cache.invalidate(&key);
        }
        let result = self.verify_uncached_now(token, now)?;
        Some(result.inspect(|claims| self.remember(cache, key, claims, now)))
    }

    /// [`Self::verify`] after [`Self::verify_now`] found it must wait for keys. The
    /// cache was looked up already; a verified token is stored in it.
    pub(crate) async fn verify_after_fetch(&self, token: &str) -> Result<Claims, VerifyError> {
        let inner = &*self.inner;
        let now = inner.clock.now();
        let claims = match &inner.keys {
            Keys::Static(keys) => inner.validation.verify(token, keys, now)?,
            Keys::Remote(keys) => {
                keys.verify_after_fetch(&inner.validation, token, now)
                    .await?
            }
        };
        if let Some(cache) = &inner.cache {
            self.remember(cache, cache.key(token), &claims, now);
        }
        Ok(claims)
    }

    fn verify_uncached_now(
        &self,
        token: &str,
        now: SystemTime,
    ) -> Option<Result<Claims, VerifyError>> {
        let inner = &*self.inner;
        match &inner.keys {
            Keys::Static(keys) => Some(
                inner
                    .validation
                    .verify(token, keys, now)
                    .map_err(VerifyError::from),
            ),
            Keys::Remote(keys) => keys.verify_now(&inner.validation, token, now),
        }
    }

    /// Keeps verified `claims` until the token's `exp` plus the leeway.
    fn remember(
        &self,
        cache: &TokenCache<Claims>,
        key: TokenKey,
        claims: &Claims,
        now: SystemTime,
    ) {
        if let Some(exp) = claims.expires_at() {
            let exp = exp.to_system_time();
            let expires_at = exp
                .checked_add(self.inner.validation.leeway())
                .unwrap_or(exp);
            cache.insert_at(
                key,
                Cached {
                    value: claims.clone(),
                    expires_at,
                },
                now,
            );
        }
    }

    /// Whether the key that verified cached `claims` still verifies.
    fn key_still_usable(&self, claims: &Claims) -> bool {
        let VerifiedBy::Jwt { key_thumbprint, .. } = claims.verified_by() else {
            return false;
        };
        match &self.inner.keys {
            Keys::Static(keys) => keys.contains_thumbprint(key_thumbprint),
            Keys::Remote(keys) => keys.has_usable_key(key_thumbprint),
        }
    }
}

impl fmt::Debug for JwtVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let keys = match &self.inner.keys {
            Keys::Static(keys) => format!("static({} keys)", keys.len()),
            Keys::Remote(keys) => format!("{keys:?}"),
        };
        f.debug_struct("JwtVerifier")
            .field("validation", &self.inner.validation)
            .field("keys", &keys)
            .field("clock", &self.inner.clock)
            .field("cache", &self.inner.cache)
            .finish()
    }
}
