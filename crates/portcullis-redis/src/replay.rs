//! [`RedisProofReplayStore`]: DPoP proofs remembered in Redis, so a proof replayed to
//! any replica is refused.

use std::fmt;
use std::time::SystemTime;

use portcullis_issuer::{
    ProofId, ProofReplayStore, ProofReplayStoreError, ProofUse, ProofUseCheck,
};

use crate::store::RedisStore;

/// A [`ProofReplayStore`] on Redis: one `SET key 1 NX PX ttl` per proof, atomic on the
/// server, so of any number of replicas that see the same proof exactly one sees it
/// first. The key is `{prefix}dpop:` and the hexadecimal [`ProofId`] (a SHA-256 of the
/// key thumbprint and the `jti`, never the proof); it expires when the proof's window
/// ends.
///
/// Fails closed: when the store cannot answer (not connected, or slower than its
/// response timeout), the answer is [`ProofReplayStoreError`] and the request gets 503
/// with `Retry-After`, never a pass.
#[derive(Clone)]
pub struct RedisProofReplayStore {
    store: RedisStore,
}

impl RedisProofReplayStore {
    /// Proofs remembered in `store`.
    pub fn new(store: RedisStore) -> RedisProofReplayStore {
        RedisProofReplayStore { store }
    }
}

impl ProofReplayStore for RedisProofReplayStore {
    fn check_and_remember(&self, id: ProofId, until: SystemTime, now: SystemTime) -> ProofUseCheck {
        // A proof whose window has already ended cannot pass the stateless checks
        // again: nothing to remember (as the in-memory store).
        let Some(ttl) = until.duration_since(now).ok().filter(|ttl| !ttl.is_zero()) else {
            return ProofUseCheck::Done(Ok(ProofUse::First));
        };
        let state = self.store.state().clone();
        let mut command = redis::cmd("SET");
        command
            .arg(state.key(&format!("dpop:{}", hex(id.as_bytes()))))
            .arg(1)
            .arg("NX")
            .arg("PX")
            // Rounded up, so the key never expires before the window ends.
            .arg(ttl.as_millis().saturating_add(1).min(u128::from(u64::MAX)) as u64);
        ProofUseCheck::Pending(Box::pin(async move {
            match state.query::<Option<String>>(&command).await {
                Ok(Some(_)) => Ok(ProofUse::First),
                Ok(None) => Ok(ProofUse::Replayed),
                Err(error) => {
                    tracing::debug!(%error, "DPoP replay store unavailable: refusing (503)");
                    Err(ProofReplayStoreError::new("DPoP replay store unavailable"))
                }
            }
        }))
    }
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        out.push(DIGITS[usize::from(byte >> 4)] as char);
        out.push(DIGITS[usize::from(byte & 0xf)] as char);
    }
    out
}

impl fmt::Debug for RedisProofReplayStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisProofReplayStore")
            .field("store", &self.store)
            .finish()
    }
}
