//! The cache key of a token: the AES-256-GCM-SIV tag of the token under the cache's
//! own random key (never the token), and the table hash that reads it.

use std::fmt;
use std::hash::{BuildHasher, Hash, Hasher};

/// The nonce of every [`TokenCache::key`]: GCM-SIV under one nonce is a deterministic
/// function of its input, which is what a cache key must be.
pub(super) const KEY_NONCE: [u8; 12] = [0; 12];

/// The cache key of a token: a keyed hash, not the token.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct TokenKey(pub(super) [u8; 16]);

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

/// Hashes a [`TokenKey`] to its first eight bytes. They are a keyed PRF's output under a key
/// nobody outside the process knows, so no one can aim keys at one bucket: a second,
/// keyed hash (SipHash, moka's default) would buy nothing.
#[derive(Clone, Copy, Default)]
pub(super) struct KeyHashBuilder;

#[derive(Default)]
pub(super) struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }

    fn write(&mut self, bytes: &[u8]) {
        // Not reached through TokenKey's Hash; kept total for any other caller.
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
        }
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

impl BuildHasher for KeyHashBuilder {
    type Hasher = KeyHasher;

    fn build_hasher(&self) -> KeyHasher {
        KeyHasher(0)
    }
}
