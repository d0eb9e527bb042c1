//! Proof keys already parsed: a client signs every proof with the same key, and parsing
//! its `jwk` (JSON, then the public key and its curve checks) was half of what a DPoP
//! request added to the proof's signature check (see `docs/benchmarks.md`).
//!
//! Parsing a `jwk` is a pure function of its text, so serving the parsed key for the
//! same text is exact. Only keys whose proof verified are remembered, at most
//! [`KNOWN_KEYS`], the oldest forgotten first: bounded, whatever clients send.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use crate::key::Key;

/// How many proof keys are remembered.
const KNOWN_KEYS: usize = 1024;

/// The keys of proofs that verified, by the text of their `jwk`.
#[derive(Clone, Default)]
pub(super) struct KnownKeys {
    inner: Arc<Mutex<Remembered>>,
}

#[derive(Default)]
struct Remembered {
    by_text: HashMap<Box<str>, Key>,
    /// Insertion order, to forget the oldest.
    order: VecDeque<Box<str>>,
}

impl KnownKeys {
    /// The key parsed from this `jwk` text before, if it is remembered.
    pub(super) fn get(&self, jwk: &str) -> Option<Key> {
        self.inner.lock().ok()?.by_text.get(jwk).cloned()
    }

    /// Remembers `key` as the parse of `jwk` (call only once its proof verified).
    pub(super) fn remember(&self, jwk: &str, key: &Key) {
        let Ok(mut known) = self.inner.lock() else {
            return;
        };
        if known.by_text.contains_key(jwk) {
            return;
        }
        if known.order.len() >= KNOWN_KEYS
            && let Some(oldest) = known.order.pop_front()
        {
            known.by_text.remove(&oldest);
        }
        known.by_text.insert(jwk.into(), key.clone());
        known.order.push_back(jwk.into());
    }
}

impl std::fmt::Debug for KnownKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let count = self.inner.lock().map_or(0, |known| known.by_text.len());
        f.debug_struct("KnownKeys").field("count", &count).finish()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn key(x: &str) -> Key {
        let jwk = serde_json::json!({"kty": "OKP", "crv": "Ed25519", "x": x});
        Key::from_jwk(&jwk).unwrap()
    }

    #[test]
    fn remembers_at_most_the_newest_keys() {
        let known = KnownKeys::default();
        let first = key("11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo");
        known.remember("first", &first);
        assert_eq!(known.get("first").unwrap().thumbprint(), first.thumbprint());
        assert!(known.get("other").is_none());
        for i in 0..KNOWN_KEYS {
            known.remember(&format!("k{i}"), &first);
        }
        assert!(known.get("first").is_none(), "the oldest is forgotten");
        assert!(known.get(&format!("k{}", KNOWN_KEYS - 1)).is_some());
        assert_eq!(known.inner.lock().unwrap().by_text.len(), KNOWN_KEYS);
    }
}
