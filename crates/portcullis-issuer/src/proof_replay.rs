//! Remembering DPoP proofs already used, so a replayed proof is refused (RFC 9449 §11.1).
//!
//! A proof passes the stateless checks for as long as its `iat` stays within the
//! window ([`DpopProof::replay_window_end`](portcullis_jwt::dpop::DpopProof::replay_window_end)),
//! so its `(key, jti)` must be remembered until then and no longer. [`ProofReplayStore`]
//! is the seam: [`InMemoryProofReplayStore`] is the bounded, per-process default; a
//! store shared by replicas (Redis) implements the same trait, so a proof replayed to
//! another replica is refused too.

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use std::time::SystemTime;

use aws_lc_rs::digest;
use portcullis_jwt::dpop::MAX_JTI_LEN;

use crate::error::ConfigError;

/// The identity of one proof: a SHA-256 over the key's thumbprint and the `jti`, so
/// every entry has the same small size whatever the `jti`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ProofId([u8; 32]);

impl ProofId {
    /// The identity of the proof with this key thumbprint and this `jti`
    /// ([`DpopProof::replay_key`](portcullis_jwt::dpop::DpopProof::replay_key)).
    pub fn new(thumbprint: &[u8; 32], jti: &str) -> ProofId {
        // One-shot hashing of a stack buffer: an incremental digest context costs more
        // than the hash itself at this size. A `jti` longer than the buffer (over
        // `MAX_JTI_LEN`, which a verified proof never has) is hashed incrementally.
        let mut input = [0; 32 + MAX_JTI_LEN];
        let digest = match input.get_mut(32..32 + jti.len()) {
            Some(tail) => {
                tail.copy_from_slice(jti.as_bytes());
                input[..32].copy_from_slice(thumbprint);
                digest::digest(&digest::SHA256, &input[..32 + jti.len()])
            }
            None => {
                let mut context = digest::Context::new(&digest::SHA256);
                context.update(thumbprint);
                context.update(jti.as_bytes());
                context.finish()
            }
        };
        let mut id = [0; 32];
        id.copy_from_slice(digest.as_ref());
        ProofId(id)
    }

    /// The identity's bytes (for a store's own key format).
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Debug for ProofId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ProofId(..)")
    }
}

/// What a store says of a proof.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProofUse {
    /// Not seen before; now remembered until the given time.
    First,
    /// Seen before, and still remembered: a replay.
    Replayed,
}

/// The store could not answer; the request must fail closed (503), never pass.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProofReplayStoreError {
    reason: &'static str,
}

impl ProofReplayStoreError {
    /// An error saying why (without any proof material).
    pub const fn new(reason: &'static str) -> ProofReplayStoreError {
        ProofReplayStoreError { reason }
    }

    /// Why the store could not answer.
    pub const fn reason(&self) -> &'static str {
        self.reason
    }
}

impl fmt::Display for ProofReplayStoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.reason)
    }
}

impl std::error::Error for ProofReplayStoreError {}

/// A store's answer that had to wait (a network round trip).
pub type ProofUseFuture =
    Pin<Box<dyn Future<Output = Result<ProofUse, ProofReplayStoreError>> + Send + 'static>>;

/// A store's answer: at once, or to be awaited.
pub enum ProofUseCheck {
    /// Answered without waiting (an in-process store).
    Done(Result<ProofUse, ProofReplayStoreError>),
    /// The answer comes later.
    Pending(ProofUseFuture),
}

impl fmt::Debug for ProofUseCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProofUseCheck::Done(answer) => f.debug_tuple("Done").field(answer).finish(),
            ProofUseCheck::Pending(_) => f.write_str("Pending"),
        }
    }
}

/// Where used proofs are remembered.
///
/// `check_and_remember` must be atomic: of two concurrent calls with the same `id`,
/// exactly one may see [`ProofUse::First`].
pub trait ProofReplayStore: Send + Sync + 'static {
    /// Remembers `id` until `until`, saying whether it was already remembered. `now` is
    /// the caller's clock, so entries past their time can be forgotten.
    fn check_and_remember(&self, id: ProofId, until: SystemTime, now: SystemTime) -> ProofUseCheck;
}

/// How many proofs an [`InMemoryProofReplayStore`] remembers by default: 100,000, about
/// 1,500 DPoP requests a second sustained over a 65-second window, in about 10 MB.
pub const DEFAULT_REPLAY_CAPACITY: usize = 100_000;

/// The per-process replay store: bounded, forgetting each proof once its window ends.
///
/// It never forgets a proof early to make room: when it is full of proofs still inside
/// their windows, it answers [`ProofReplayStoreError`] (the request gets a 503), since
/// forgetting would let a replay through. Only proofs whose token and key binding
/// verified reach it, so only holders of valid tokens can fill it.
pub struct InMemoryProofReplayStore {
    capacity: usize,
    state: Mutex<Remembered>,
}

#[derive(Default)]
struct Remembered {
    until: HashMap<ProofId, SystemTime>,
    /// The same entries ordered by the end of their window, to forget them in order.
    by_end: BTreeSet<(SystemTime, ProofId)>,
}

impl Remembered {
    fn forget_ended(&mut self, now: SystemTime) {
        while let Some(&(end, id)) = self.by_end.first() {
            if end > now {
                break;
            }
            self.by_end.pop_first();
            self.until.remove(&id);
        }
    }
}

impl InMemoryProofReplayStore {
    /// A store remembering at most `capacity` proofs at a time.
    ///
    /// # Errors
    /// A capacity of zero.
    pub fn new(capacity: usize) -> Result<InMemoryProofReplayStore, ConfigError> {
        if capacity == 0 {
            return Err(ConfigError::for_setting(
                "replay_capacity",
                "a replay store must be able to remember at least one proof",
            ));
        }
        Ok(InMemoryProofReplayStore {
            capacity,
            state: Mutex::new(Remembered::default()),
        })
    }

    /// How many proofs are remembered now.
    pub fn len(&self) -> usize {
        self.state.lock().map_or(0, |state| state.until.len())
    }

    /// Whether no proof is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Default for InMemoryProofReplayStore {
    fn default() -> Self {
        InMemoryProofReplayStore {
            capacity: DEFAULT_REPLAY_CAPACITY,
            state: Mutex::new(Remembered::default()),
        }
    }
}

impl ProofReplayStore for InMemoryProofReplayStore {
    fn check_and_remember(&self, id: ProofId, until: SystemTime, now: SystemTime) -> ProofUseCheck {
        let Ok(mut state) = self.state.lock() else {
            return ProofUseCheck::Done(Err(ProofReplayStoreError::new(
                "replay store unusable after a panic",
            )));
        };
        state.forget_ended(now);
        if state.until.get(&id).is_some_and(|&end| end > now) {
            return ProofUseCheck::Done(Ok(ProofUse::Replayed));
        }
        if state.until.len() >= self.capacity {
            return ProofUseCheck::Done(Err(ProofReplayStoreError::new("replay store full")));
        }
        // A proof whose window has already ended cannot pass again: nothing to keep.
        if until > now {
            state.until.insert(id, until);
            state.by_end.insert((until, id));
        }
        ProofUseCheck::Done(Ok(ProofUse::First))
    }
}

impl fmt::Debug for InMemoryProofReplayStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InMemoryProofReplayStore")
            .field("capacity", &self.capacity)
            .field("remembered", &self.len())
            .finish()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::sync::Arc;
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    fn answer(check: ProofUseCheck) -> Result<ProofUse, ProofReplayStoreError> {
        match check {
            ProofUseCheck::Done(answer) => answer,
            ProofUseCheck::Pending(_) => panic!("the in-memory store never waits"),
        }
    }

    #[test]
    fn a_proof_is_first_once_until_its_window_ends() {
        let store = InMemoryProofReplayStore::new(10).unwrap();
        let id = ProofId::new(&[1; 32], "jti-1");
        assert_eq!(
            answer(store.check_and_remember(id, at(165), at(100))),
            Ok(ProofUse::First)
        );
        assert_eq!(
            answer(store.check_and_remember(id, at(165), at(164))),
            Ok(ProofUse::Replayed)
        );
        // The window has ended: the stateless checks refuse it now, the store forgets.
        assert_eq!(
            answer(store.check_and_remember(ProofId::new(&[9; 32], "x"), at(300), at(165))),
            Ok(ProofUse::First)
        );
        assert_eq!(store.len(), 1);
    }

    #[test]
    fn the_same_jti_under_another_key_is_another_proof() {
        let store = InMemoryProofReplayStore::default();
        let first = ProofId::new(&[1; 32], "same");
        let second = ProofId::new(&[2; 32], "same");
        assert_ne!(first, second);
        assert_eq!(
            answer(store.check_and_remember(first, at(165), at(100))),
            Ok(ProofUse::First)
        );
        assert_eq!(
            answer(store.check_and_remember(second, at(165), at(100))),
            Ok(ProofUse::First)
        );
    }

    #[test]
    fn a_full_store_fails_closed_and_recovers_as_windows_end() {
        let store = InMemoryProofReplayStore::new(2).unwrap();
        for (i, end) in [(0u8, 150), (1, 160)] {
            let id = ProofId::new(&[i; 32], "j");
            assert_eq!(
                answer(store.check_and_remember(id, at(end), at(100))),
                Ok(ProofUse::First)
            );
        }
        let third = ProofId::new(&[3; 32], "j");
        assert!(answer(store.check_and_remember(third, at(170), at(100))).is_err());
        // Nothing was forgotten early: the first proof is still a replay.
        assert_eq!(
            answer(store.check_and_remember(ProofId::new(&[0; 32], "j"), at(150), at(120))),
            Ok(ProofUse::Replayed)
        );
        assert_eq!(
            answer(store.check_and_remember(third, at(170), at(150))),
            Ok(ProofUse::First)
        );
    }

    #[test]
    fn of_concurrent_uses_exactly_one_is_first() {
        let store = Arc::new(InMemoryProofReplayStore::default());
        let id = ProofId::new(&[7; 32], "raced");
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let store = Arc::clone(&store);
                std::thread::spawn(move || answer(store.check_and_remember(id, at(165), at(100))))
            })
            .collect();
        let firsts = threads
            .into_iter()
            .map(|t| t.join().unwrap())
            .filter(|a| *a == Ok(ProofUse::First))
            .count();
        assert_eq!(firsts, 1);
    }

    #[test]
    fn zero_capacity_is_refused() {
        assert_eq!(
            InMemoryProofReplayStore::new(0).unwrap_err().setting(),
            Some("replay_capacity")
        );
    }
}
