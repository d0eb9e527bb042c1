//! The keyed hash of a token that replicas share: what a shared store (Redis) is keyed
//! by, and what a revocation "by token hash" names.
//!
//! The in-process caches key tokens under a random key made per process
//! ([`TokenCache::key`](crate::TokenCache::key)), which no other replica can compute.
//! A store shared by replicas needs a key every replica computes alike, and that no one
//! without the secret can compute: HMAC-SHA256 under a secret the replicas share,
//! [`SharedKeys`]. The token itself never leaves the process.
//!
//! HMAC-SHA256 rather than the caches' AES-256-GCM-SIV tag: the construction is one
//! everybody can reproduce (an authorization server's revocation hook computes
//! `HMAC-SHA256(secret, "portcullis token\0" || token)` in any language), and it runs
//! only on a miss of the in-process tier or for a revocation, never on a hit.
//!
//! # Rotating the secret
//!
//! [`SharedKeys::with_previous`] keeps the old secret for reading: lookups try the
//! current secret's hash, then the previous one's; writes use the current one only.
//! Roll every replica to `(new, previous = old)`, wait one cache lifetime (the longest a
//! record written under the old secret lives), then drop the previous secret.

use std::fmt;

use aws_lc_rs::hmac;

use crate::error::ConfigError;

/// The shortest secret accepted: 32 bytes (256 bits).
pub const MIN_SHARED_SECRET_LEN: usize = 32;

const TOKEN_CONTEXT: &[u8] = b"portcullis token\0";
const RECORD_CONTEXT: &[u8] = b"portcullis record\0";

/// A token's keyed hash under one shared secret: 32 bytes, never the token.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TokenHash([u8; 32]);

impl TokenHash {
    /// Wraps 32 bytes computed elsewhere (a revocation naming a token by its hash).
    pub const fn from_bytes(bytes: [u8; 32]) -> TokenHash {
        TokenHash(bytes)
    }

    /// Reads the 64 lowercase or uppercase hexadecimal digits of [`TokenHash::to_hex`].
    pub fn from_hex(text: &str) -> Option<TokenHash> {
        let text = text.as_bytes();
        if text.len() != 64 {
            return None;
        }
        let mut bytes = [0u8; 32];
        for (byte, pair) in bytes.iter_mut().zip(text.chunks_exact(2)) {
            let digit = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
            *byte = digit(pair[0])? << 4 | digit(pair[1])?;
        }
        Some(TokenHash(bytes))
    }

    /// The hash's bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The hash in lowercase hexadecimal (64 characters), as stores and revocations
    /// spell it.
    pub fn to_hex(&self) -> String {
        let mut out = String::with_capacity(64);
        for byte in self.0 {
            out.push(char::from_digit(u32::from(byte >> 4), 16).unwrap_or('0'));
            out.push(char::from_digit(u32::from(byte & 0xf), 16).unwrap_or('0'));
        }
        out
    }
}

impl fmt::Debug for TokenHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TokenHash({}..)", &self.to_hex()[..8])
    }
}

/// The secrets replicas share to key tokens: the current one, and during a rotation the
/// previous one (read only). Cheap to clone. `Debug` never shows a secret.
#[derive(Clone)]
pub struct SharedKeys {
    current: hmac::Key,
    previous: Option<hmac::Key>,
}

impl SharedKeys {
    /// Keys from the current secret.
    ///
    /// # Errors
    /// A secret shorter than [`MIN_SHARED_SECRET_LEN`] bytes (setting `key_secret`).
    pub fn new(secret: &[u8]) -> Result<SharedKeys, ConfigError> {
        Ok(SharedKeys {
            current: key(secret, "key_secret")?,
            previous: None,
        })
    }

    /// The same keys, also reading what was written under `previous` (a rotation).
    ///
    /// # Errors
    /// A secret shorter than [`MIN_SHARED_SECRET_LEN`] bytes (setting
    /// `previous_key_secret`).
    pub fn with_previous(mut self, previous: &[u8]) -> Result<SharedKeys, ConfigError> {
        self.previous = Some(key(previous, "previous_key_secret")?);
        Ok(self)
    }

    /// `token`'s hash under the current secret: what is written.
    pub fn hash(&self, token: &str) -> TokenHash {
        hash_with(&self.current, token)
    }

    /// `token`'s hashes to look up: under the current secret, then the previous one.
    pub fn lookup_hashes(&self, token: &str) -> Vec<TokenHash> {
        let mut hashes = Vec::with_capacity(2);
        hashes.push(self.hash(token));
        if let Some(previous) = &self.previous {
            hashes.push(hash_with(previous, token));
        }
        hashes
    }

    /// The tag that authenticates a record stored under `hash`: only a holder of the
    /// secret can write a record a replica accepts. `hash` must come from
    /// [`SharedKeys::lookup_hashes`]; its position says which secret made it.
    pub(crate) fn record_tag(&self, previous: bool, hash: &TokenHash, body: &[u8]) -> [u8; 32] {
        let key = match (previous, &self.previous) {
            (true, Some(previous)) => previous,
            _ => &self.current,
        };
        let mut context = hmac::Context::with_key(key);
        context.update(RECORD_CONTEXT);
        context.update(hash.as_bytes());
        context.update(body);
        let mut tag = [0u8; 32];
        tag.copy_from_slice(context.sign().as_ref());
        tag
    }
}

fn key(secret: &[u8], setting: &'static str) -> Result<hmac::Key, ConfigError> {
    if secret.len() < MIN_SHARED_SECRET_LEN {
        return Err(ConfigError::for_setting(
            setting,
            format!(
                "a shared keying secret needs at least {MIN_SHARED_SECRET_LEN} bytes, got {}",
                secret.len()
            ),
        ));
    }
    Ok(hmac::Key::new(hmac::HMAC_SHA256, secret))
}

fn hash_with(key: &hmac::Key, token: &str) -> TokenHash {
    let mut context = hmac::Context::with_key(key);
    context.update(TOKEN_CONTEXT);
    context.update(token.as_bytes());
    let mut hash = [0u8; 32];
    hash.copy_from_slice(context.sign().as_ref());
    TokenHash(hash)
}

impl fmt::Debug for SharedKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedKeys")
            .field("current", &"***")
            .field("previous", &self.previous.as_ref().map(|_| "***"))
            .finish()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const A: &[u8] = b"0123456789abcdef0123456789abcdef";
    const B: &[u8] = b"fedcba9876543210fedcba9876543210";

    #[test]
    fn the_hash_is_the_documented_hmac() {
        let keys = SharedKeys::new(A).unwrap();
        let expected = hmac::sign(
            &hmac::Key::new(hmac::HMAC_SHA256, A),
            b"portcullis token\0opaque-token",
        );
        assert_eq!(keys.hash("opaque-token").as_bytes(), expected.as_ref());
        assert_ne!(keys.hash("opaque-token"), keys.hash("opaque-token2"));
    }

    #[test]
    fn rotation_reads_both_writes_current() {
        let old = SharedKeys::new(A).unwrap();
        let rotated = SharedKeys::new(B).unwrap().with_previous(A).unwrap();
        let hashes = rotated.lookup_hashes("t");
        assert_eq!(hashes.len(), 2);
        assert_eq!(hashes[1], old.hash("t"));
        assert_eq!(rotated.hash("t"), hashes[0]);
        assert_ne!(hashes[0], hashes[1]);
        // A record tagged by the old replica verifies on the rotated one.
        assert_eq!(
            old.record_tag(false, &hashes[1], b"body"),
            rotated.record_tag(true, &hashes[1], b"body")
        );
    }

    #[test]
    fn short_secrets_are_refused_and_never_printed() {
        assert_eq!(
            SharedKeys::new(b"short").unwrap_err().setting(),
            Some("key_secret")
        );
        assert_eq!(
            SharedKeys::new(A)
                .unwrap()
                .with_previous(b"x")
                .unwrap_err()
                .setting(),
            Some("previous_key_secret")
        );
        let debug = format!("{:?}", SharedKeys::new(A).unwrap());
        assert!(!debug.contains("0123"), "{debug}");
    }

    #[test]
    fn hex_round_trips() {
        let hash = SharedKeys::new(A).unwrap().hash("t");
        assert_eq!(TokenHash::from_hex(&hash.to_hex()), Some(hash));
        assert_eq!(
            TokenHash::from_hex(&hash.to_hex().to_uppercase()),
            Some(hash)
        );
        assert_eq!(TokenHash::from_hex("00"), None);
        assert_eq!(TokenHash::from_hex(&"g".repeat(64)), None);
    }
}
