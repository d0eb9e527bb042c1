//! A second tier for introspection results, shared by replicas (Redis), under each
//! replica's in-process cache.
//!
//! [`IntrospectionVerifierBuilder::shared_tier`](crate::IntrospectionVerifierBuilder::shared_tier)
//! plugs a [`SharedTier`] in: on a miss of the in-process cache, the replica's single
//! flight first reads the shared tier, and only if it holds nothing usable asks the
//! authorization server, then writes the answer there for the other replicas. So one
//! replica's introspection call serves all of them.
//!
//! What the tier holds is a record this crate writes and reads: the
//! answer (the active response object, or inactive), the instant after which no replica
//! may use it, and an HMAC under the replicas' shared secret, so a record nobody with
//! the secret wrote is ignored. A record is keyed by the token's [`TokenHash`], never
//! by the token. An active answer is held to the verifier's rules again when it is read
//! (issuer, audience, expiry), and is never used past its writer's cache lifetime: the
//! revocation window stays the cache lifetime, counted from the authorization server's
//! answer, whichever replica serves it.
//!
//! When the tier cannot answer (down, slow past its timeout, a record that does not
//! verify), the replica asks the authorization server: the tier can cost a round trip,
//! never an acceptance.
//!
//! [`TokenHash`]: crate::TokenHash

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use crate::shared_key::TokenHash;

pub(crate) mod record;

/// The tier could not answer (without any token material).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SharedTierError {
    reason: &'static str,
}

impl SharedTierError {
    /// An error saying why.
    pub const fn new(reason: &'static str) -> SharedTierError {
        SharedTierError { reason }
    }

    /// Why the tier could not answer.
    pub const fn reason(&self) -> &'static str {
        self.reason
    }
}

impl fmt::Display for SharedTierError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.reason)
    }
}

impl std::error::Error for SharedTierError {}

/// A tier's answer, to be awaited.
pub type SharedTierFuture<T> =
    Pin<Box<dyn Future<Output = Result<T, SharedTierError>> + Send + 'static>>;

/// Where replicas share introspection results: opaque records under token hashes.
///
/// Two methods, both bounded by the implementation's own timeout. Records are written
/// and read by this crate only; an implementation stores bytes and forgets them when
/// their lifetime ends.
pub trait SharedTier: fmt::Debug + Send + Sync + 'static {
    /// The records stored under `hashes` (the current secret's hash first, then during
    /// a rotation the previous one's), in the same order, `None` where there is none.
    fn get(&self, hashes: &[TokenHash]) -> SharedTierFuture<Vec<Option<Vec<u8>>>>;

    /// Stores `record` under `hash` for `ttl` (above zero), replacing what was there.
    fn put(&self, hash: TokenHash, record: Vec<u8>, ttl: Duration) -> SharedTierFuture<()>;
}

/// Counters of the shared tier of one verifier.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SharedTierStats {
    /// In-process misses answered by a record another replica (or this one) wrote.
    pub hits: u64,
    /// Lookups that found no usable record.
    pub misses: u64,
    /// Reads or writes that failed (the authorization server was asked instead).
    pub errors: u64,
    /// Records found but refused: a tag that does not verify, or an unreadable body.
    pub rejected: u64,
}
