//! Server-issued DPoP nonces (RFC 9449 §9), without storage.
//!
//! A nonce says "a proof made after this time": with nonces, a client cannot make proofs
//! in advance, whatever its clock says. Each nonce is the index of a time window and a
//! MAC of it under the server's secret, so checking one needs no state: a nonce from the
//! current window or the one before is accepted, so it lives between one and two
//! windows. Replicas that share the secret accept each other's nonces.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lc_rs::hmac;
use aws_lc_rs::rand::SecureRandom as _;
use base64_simd::URL_SAFE_NO_PAD;

use crate::error::ConfigError;

use super::error::{DpopError, DpopErrorKind};

/// How long a window lasts by default: 60 seconds (a nonce lives 60 to 120 seconds).
pub const DEFAULT_NONCE_WINDOW: Duration = Duration::from_secs(60);

/// The shortest secret accepted: 32 bytes.
pub const MIN_NONCE_SECRET: usize = 32;

/// Bytes of MAC kept in a nonce: 128 bits.
const MAC_BYTES: usize = 16;

/// Issues and checks DPoP nonces (RFC 9449 §9) without storage: each nonce is the index
/// of a time window and an HMAC of it under the secret; a nonce from the current window
/// or the one before is accepted.
#[derive(Clone)]
pub struct DpopNonces {
    key: hmac::Key,
    window_secs: u64,
}

impl DpopNonces {
    /// Nonces under `secret` (at least [`MIN_NONCE_SECRET`] bytes, the same on every
    /// replica), in windows of `window`.
    ///
    /// # Errors
    /// A secret too short (setting `nonce_secret`), or a window under a second or over
    /// an hour (setting `nonce_window`).
    pub fn new(secret: &[u8], window: Duration) -> Result<DpopNonces, ConfigError> {
        if secret.len() < MIN_NONCE_SECRET {
            return Err(ConfigError::for_setting(
                "nonce_secret",
                format!("a DPoP nonce secret needs at least {MIN_NONCE_SECRET} bytes"),
            ));
        }
        if window < Duration::from_secs(1) || window > Duration::from_secs(3600) {
            return Err(ConfigError::for_setting(
                "nonce_window",
                "a DPoP nonce window must be between 1 second and 1 hour",
            ));
        }
        Ok(DpopNonces {
            key: hmac::Key::new(hmac::HMAC_SHA256, secret),
            window_secs: window.as_secs(),
        })
    }

    /// Nonces under a random secret of this process, in windows of `window`: right for
    /// one process; replicas behind one load balancer need [`DpopNonces::new`] with a
    /// shared secret, or a client would be sent back for a nonce at every other request.
    ///
    /// # Errors
    /// As [`DpopNonces::new`] for the window; or if the system has no randomness.
    pub fn random(window: Duration) -> Result<DpopNonces, ConfigError> {
        let mut secret = [0u8; 32];
        aws_lc_rs::rand::SystemRandom::new()
            .fill(&mut secret)
            .map_err(|_| ConfigError::for_setting("nonce_secret", "no system randomness"))?;
        DpopNonces::new(&secret, window)
    }

    fn window_at(&self, now: SystemTime) -> u64 {
        let secs = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        secs / self.window_secs
    }

    fn nonce_for(&self, window: u64) -> String {
        let index = window.to_be_bytes();
        let tag = hmac::sign(&self.key, &index);
        let mut bytes = [0u8; 8 + MAC_BYTES];
        bytes[..8].copy_from_slice(&index);
        bytes[8..].copy_from_slice(&tag.as_ref()[..MAC_BYTES]);
        URL_SAFE_NO_PAD.encode_to_string(bytes)
    }

    /// The nonce to send now (`DPoP-Nonce`).
    pub fn issue(&self, now: SystemTime) -> String {
        self.nonce_for(self.window_at(now))
    }

    /// Checks a proof's `nonce` at `now`: one of ours, from this window or the one
    /// before.
    ///
    /// # Errors
    /// [`DpopErrorKind::UseNonce`]: no nonce, a stale one, or not one of ours. The
    /// client is to retry with [`DpopNonces::issue`]'s nonce.
    pub fn check(&self, nonce: Option<&str>, now: SystemTime) -> Result<(), DpopError> {
        let use_nonce = DpopError::about(DpopErrorKind::UseNonce, "nonce");
        let Some(nonce) = nonce else {
            return Err(use_nonce);
        };
        let mut bytes = [0u8; 8 + MAC_BYTES];
        let decoded = nonce.len() == 32
            && URL_SAFE_NO_PAD
                .decode(nonce.as_bytes(), base64_simd::Out::from_slice(&mut bytes))
                .is_ok();
        if !decoded {
            return Err(use_nonce);
        }
        let mut index = [0u8; 8];
        index.copy_from_slice(&bytes[..8]);
        let window = u64::from_be_bytes(index);
        let current = self.window_at(now);
        if window != current && window.checked_add(1) != Some(current) {
            return Err(use_nonce);
        }
        // The full tag is recomputed and compared in constant time on its first bytes.
        let tag = hmac::sign(&self.key, &index);
        let expected = &tag.as_ref()[..MAC_BYTES];
        if aws_lc_rs::constant_time::verify_slices_are_equal(expected, &bytes[8..]).is_err() {
            return Err(use_nonce);
        }
        Ok(())
    }
}

impl fmt::Debug for DpopNonces {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DpopNonces")
            .field("window_secs", &self.window_secs)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    fn nonces() -> DpopNonces {
        DpopNonces::new(&[7; 32], Duration::from_secs(60)).unwrap()
    }

    #[test]
    fn a_nonce_lives_from_its_window_to_the_end_of_the_next() {
        let nonces = nonces();
        let nonce = nonces.issue(at(6_000));
        assert_eq!(nonce.len(), 32);
        for now in [6_000, 6_059, 6_060, 6_119] {
            assert!(nonces.check(Some(&nonce), at(now)).is_ok(), "{now}");
        }
        for now in [5_999, 6_120] {
            assert_eq!(
                nonces.check(Some(&nonce), at(now)).unwrap_err().kind(),
                DpopErrorKind::UseNonce,
                "{now}"
            );
        }
    }

    #[test]
    fn only_our_nonces_pass() {
        let nonces = nonces();
        let other = DpopNonces::new(&[8; 32], Duration::from_secs(60)).unwrap();
        let theirs = other.issue(at(6_000));
        assert!(nonces.check(Some(&theirs), at(6_000)).is_err());
        assert!(nonces.check(None, at(6_000)).is_err());
        let mut forged = nonces.issue(at(6_000)).into_bytes();
        forged[31] = if forged[31] == b'A' { b'B' } else { b'A' };
        let forged = String::from_utf8(forged).unwrap();
        assert!(nonces.check(Some(&forged), at(6_000)).is_err());
        for junk in [
            "",
            "x",
            &"A".repeat(32),
            &"A".repeat(33),
            "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!",
        ] {
            assert!(nonces.check(Some(junk), at(6_000)).is_err(), "{junk:?}");
        }
        // Replicas sharing the secret accept each other's nonces.
        let replica = DpopNonces::new(&[7; 32], Duration::from_secs(60)).unwrap();
        assert!(
            replica
                .check(Some(&nonces.issue(at(6_000))), at(6_010))
                .is_ok()
        );
    }

    #[test]
    fn weak_settings_are_refused() {
        assert_eq!(
            DpopNonces::new(&[7; 31], DEFAULT_NONCE_WINDOW)
                .unwrap_err()
                .setting(),
            Some("nonce_secret")
        );
        for window in [Duration::from_millis(999), Duration::from_secs(3601)] {
            assert_eq!(
                DpopNonces::new(&[7; 32], window).unwrap_err().setting(),
                Some("nonce_window")
            );
        }
        assert!(DpopNonces::random(DEFAULT_NONCE_WINDOW).is_ok());
    }
}
