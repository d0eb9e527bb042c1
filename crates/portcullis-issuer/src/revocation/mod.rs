//! Revocations pushed to the resource server: tokens refused before they expire, by the
//! token's hash, its `jti`, its `sub` or its `client_id`.
//!
//! [`Revocations`] is the set every replica holds (fed by an operator's admin request or
//! a shared store's channel); [`RevocationCheck`] wraps any [`Verifier`](crate::Verifier)
//! and refuses (401 `invalid_token`, reason `revoked`) whatever the set names, cached
//! results included. Listeners registered with [`Revocations::on_revoke`] drop matching
//! cache entries, so memory is not held for tokens that can no longer pass.
//!
//! An entry lives until the time it is given (the longest the revoked tokens could
//! still be presented), then is forgotten. The set is bounded: when full of live
//! entries, a new revocation is refused ([`RevocationsFull`]) rather than an old one
//! dropped, so the operator knows.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::SystemTime;

use arc_swap::ArcSwap;
use portcullis_jwt::{Claims, Clock, SystemClock};

use crate::shared_key::{SharedKeys, TokenHash};

mod check;

pub use check::{RevocationCheck, RevocationCheckFuture};

/// The default most entries a [`Revocations`] set holds: 100,000.
pub const DEFAULT_MAX_REVOCATIONS: usize = 100_000;

/// What a revocation names.
#[derive(Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Revoked {
    /// One token, by its [`SharedKeys`] hash.
    Token(TokenHash),
    /// Every token with this `jti`.
    JwtId(String),
    /// Every token with this `sub`.
    Subject(String),
    /// Every token with this `client_id`.
    ClientId(String),
}

impl Revoked {
    /// Whether `claims` are of a token this revocation names (a [`Revoked::Token`]
    /// names a token, not claims: never).
    pub fn matches(&self, claims: &Claims) -> bool {
        match self {
            Revoked::Token(_) => false,
            Revoked::JwtId(jti) => claims.jwt_id() == Some(jti),
            Revoked::Subject(sub) => claims.subject() == Some(sub),
            Revoked::ClientId(client_id) => claims.client_id() == Some(client_id),
        }
    }
}

impl fmt::Debug for Revoked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Revoked::Token(hash) => f.debug_tuple("Token").field(hash).finish(),
            Revoked::JwtId(jti) => f.debug_tuple("JwtId").field(jti).finish(),
            Revoked::Subject(sub) => f.debug_tuple("Subject").field(sub).finish(),
            Revoked::ClientId(id) => f.debug_tuple("ClientId").field(id).finish(),
        }
    }
}

/// A revocation was refused: the set is full of entries still live.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RevocationsFull;

impl fmt::Display for RevocationsFull {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the revocation set is full")
    }
}

impl std::error::Error for RevocationsFull {}

type Listener = Arc<dyn Fn(&Revoked) + Send + Sync>;

/// The entries, and the same indexed by kind (built once per revocation): a lookup
/// builds no [`Revoked`] (no allocation), and a set without token entries costs a
/// verification no hashing.
#[derive(Default)]
struct Set {
    entries: HashMap<Revoked, SystemTime>,
    tokens: HashMap<TokenHash, SystemTime>,
    jti: HashMap<String, SystemTime>,
    sub: HashMap<String, SystemTime>,
    client_id: HashMap<String, SystemTime>,
}

impl Set {
    fn new(entries: HashMap<Revoked, SystemTime>) -> Set {
        let mut set = Set::default();
        for (entry, end) in &entries {
            match entry {
                Revoked::Token(hash) => set.tokens.insert(*hash, *end),
                Revoked::JwtId(jti) => set.jti.insert(jti.clone(), *end),
                Revoked::Subject(sub) => set.sub.insert(sub.clone(), *end),
                Revoked::ClientId(client_id) => set.client_id.insert(client_id.clone(), *end),
            };
        }
        set.entries = entries;
        set
    }
}

/// The revocations in force. Cheap to clone; clones share the set.
#[derive(Clone)]
pub struct Revocations {
    inner: Arc<Inner>,
}

struct Inner {
    /// Read on every verification; replaced whole on a revocation (rare).
    set: ArcSwap<Set>,
    /// The set's size, read first: an empty set costs one atomic load.
    len: AtomicUsize,
    /// Serialises writers.
    write: Mutex<Vec<Listener>>,
    keys: SharedKeys,
    clock: Arc<dyn Clock>,
    max_entries: usize,
}

impl Revocations {
    /// An empty set; presented tokens are hashed with `keys` to match revocations by
    /// token hash.
    pub fn new(keys: SharedKeys) -> Revocations {
        Revocations::with_clock(keys, SystemClock, DEFAULT_MAX_REVOCATIONS)
    }

    /// An empty set on `clock`, holding at most `max_entries` live entries.
    pub fn with_clock(keys: SharedKeys, clock: impl Clock, max_entries: usize) -> Revocations {
        Revocations {
            inner: Arc::new(Inner {
                set: ArcSwap::from_pointee(Set::default()),
                len: AtomicUsize::new(0),
                write: Mutex::new(Vec::new()),
                keys,
                clock: Arc::new(clock),
                max_entries,
            }),
        }
    }

    /// Refuses what `revoked` names until `until`, and tells the listeners. Revoking
    /// again extends an entry, never shortens it.
    ///
    /// # Errors
    /// [`RevocationsFull`] when the set holds its maximum of live entries.
    pub fn revoke(&self, revoked: &Revoked, until: SystemTime) -> Result<(), RevocationsFull> {
        let now = self.inner.clock.now();
        let listeners = {
            let listeners = self
                .inner
                .write
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            let current = self.inner.set.load();
            let mut set: HashMap<Revoked, SystemTime> = current
                .entries
                .iter()
                .filter(|(_, end)| **end > now)
                .map(|(entry, end)| (entry.clone(), *end))
                .collect();
            if until > now {
                let end = set.get(revoked).map_or(until, |end| (*end).max(until));
                if !set.contains_key(revoked) && set.len() >= self.inner.max_entries {
                    return Err(RevocationsFull);
                }
                set.insert(revoked.clone(), end);
            }
            self.inner.len.store(set.len(), Ordering::Release);
            self.inner.set.store(Arc::new(Set::new(set)));
            listeners.clone()
        };
        for listener in listeners {
            listener(revoked);
        }
        Ok(())
    }

    /// Calls `listener` after every revocation (to drop matching cache entries).
    pub fn on_revoke(&self, listener: impl Fn(&Revoked) + Send + Sync + 'static) {
        self.inner
            .write
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Arc::new(listener));
    }

    /// The keys presented tokens are hashed with.
    pub fn keys(&self) -> &SharedKeys {
        &self.inner.keys
    }

    /// The number of entries (some perhaps past their time, until the next revocation).
    pub fn len(&self) -> usize {
        self.inner.len.load(Ordering::Acquire)
    }

    /// Whether nothing is revoked.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether `token`, presented now, is revoked by its hash.
    pub fn token_revoked(&self, token: &str) -> bool {
        if self.is_empty() {
            return false;
        }
        let set = self.inner.set.load();
        if set.tokens.is_empty() {
            return false;
        }
        let now = self.inner.clock.now();
        self.inner
            .keys
            .lookup_hashes(token)
            .into_iter()
            .any(|hash| set.tokens.get(&hash).is_some_and(|end| *end > now))
    }

    /// Whether `claims` are of a token revoked by its `jti`, `sub` or `client_id`.
    pub fn claims_revoked(&self, claims: &Claims) -> bool {
        if self.is_empty() {
            return false;
        }
        let set = self.inner.set.load();
        let now = self.inner.clock.now();
        let live = |by: &HashMap<String, SystemTime>, value: Option<&str>| {
            value
                .and_then(|value| by.get(value))
                .is_some_and(|end| *end > now)
        };
        live(&set.jti, claims.jwt_id())
            || live(&set.sub, claims.subject())
            || live(&set.client_id, claims.client_id())
    }
}

impl fmt::Debug for Revocations {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Revocations")
            .field("len", &self.len())
            .field("max_entries", &self.inner.max_entries)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::sync::atomic::AtomicUsize;
    use std::time::Duration;

    use portcullis_jwt::{ManualClock, Validation, VerifiedBy};

    use super::*;

    fn claims(json: &str) -> Claims {
        Validation::builder()
            .issuer("https://issuer.test")
            .audience("https://api.test")
            .build()
            .unwrap()
            .check_claims_json(
                json.to_owned(),
                VerifiedBy::Introspection,
                SystemTime::UNIX_EPOCH + Duration::from_secs(1_000),
            )
            .unwrap()
    }

    fn revocations(clock: &ManualClock, max: usize) -> Revocations {
        Revocations::with_clock(SharedKeys::new(&[3; 32]).unwrap(), clock.clone(), max)
    }

    #[test]
    fn each_kind_matches_what_it_names_until_its_time() {
        let clock = ManualClock::at_unix(1_000);
        let set = revocations(&clock, 10);
        let token = claims(
            r#"{"iss":"https://issuer.test","aud":"https://api.test","exp":2000,
                "jti":"j1","sub":"alice","client_id":"app"}"#,
        );
        assert!(!set.claims_revoked(&token));
        let until = clock.now() + Duration::from_secs(60);
        for revoked in [
            Revoked::JwtId("j1".into()),
            Revoked::Subject("alice".into()),
            Revoked::ClientId("app".into()),
        ] {
            let set = revocations(&clock, 10);
            set.revoke(&revoked, until).unwrap();
            assert!(revoked.matches(&token));
            assert!(set.claims_revoked(&token), "{revoked:?}");
            assert!(!set.token_revoked("some token"));
        }
        set.revoke(&Revoked::Subject("bob".into()), until).unwrap();
        assert!(!set.claims_revoked(&token));
        set.revoke(&Revoked::Token(set.keys().hash("opaque")), until)
            .unwrap();
        assert!(set.token_revoked("opaque"));
        assert!(!set.token_revoked("opaque2"));
        clock.advance(Duration::from_secs(60));
        assert!(!set.token_revoked("opaque"), "forgotten at its time");
    }

    #[test]
    fn a_full_set_refuses_new_entries_but_forgets_ended_ones() {
        let clock = ManualClock::at_unix(1_000);
        let set = revocations(&clock, 1);
        let soon = clock.now() + Duration::from_secs(5);
        set.revoke(&Revoked::JwtId("a".into()), soon).unwrap();
        assert_eq!(
            set.revoke(&Revoked::JwtId("b".into()), soon),
            Err(RevocationsFull)
        );
        // The same entry again only extends it.
        set.revoke(&Revoked::JwtId("a".into()), soon + Duration::from_secs(5))
            .unwrap();
        clock.advance(Duration::from_secs(10));
        set.revoke(
            &Revoked::JwtId("b".into()),
            clock.now() + Duration::from_secs(5),
        )
        .unwrap();
        assert_eq!(set.len(), 1);
    }

    #[test]
    fn listeners_hear_every_revocation() {
        let clock = ManualClock::at_unix(1_000);
        let set = revocations(&clock, 10);
        let heard = Arc::new(AtomicUsize::new(0));
        let counter = heard.clone();
        set.on_revoke(move |_| {
            counter.fetch_add(1, Ordering::SeqCst);
        });
        set.revoke(
            &Revoked::Subject("x".into()),
            clock.now() + Duration::from_secs(1),
        )
        .unwrap();
        assert_eq!(heard.load(Ordering::SeqCst), 1);
    }
}
