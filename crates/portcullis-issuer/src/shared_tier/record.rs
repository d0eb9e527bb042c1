//! The bytes of a shared introspection record:
//! `tag (32) || version (1) || kind (1) || until, ms since the epoch (8, big-endian) || payload`.
//!
//! The tag is [`SharedKeys::record_tag`] over the hash the record is stored under and
//! everything after the tag, so a record cannot be forged, altered, or moved to another
//! token's key by anyone without the secret.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::shared_key::{SharedKeys, TokenHash};

const VERSION: u8 = 1;
const HEADER: usize = 32 + 1 + 1 + 8;
/// The longest record read: far over any introspection response the HTTP client
/// accepts, so a larger one is not ours.
const MAX_RECORD: usize = 1024 * 1024;

/// What a record says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Answer {
    /// The active response object, as the authorization server sent it.
    Active(String),
    /// Inactive.
    Inactive,
    /// Refused by an RFC 6749 §5.2 error about the token (one of `codes`).
    Refused(&'static str),
}

/// The error codes a refusal may carry (those `oauth_refusal` recognises).
const CODES: [&str; 3] = ["unsupported_token_type", "invalid_request", "invalid_token"];

/// A record written under `hash` with `keys`' current secret.
pub(crate) fn encode(
    keys: &SharedKeys,
    hash: &TokenHash,
    answer: &Answer,
    until: SystemTime,
) -> Vec<u8> {
    let (kind, payload): (u8, &[u8]) = match answer {
        Answer::Inactive => (0, b""),
        Answer::Active(json) => (1, json.as_bytes()),
        Answer::Refused(code) => (2, code.as_bytes()),
    };
    let until_ms = until
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    let mut record = Vec::with_capacity(HEADER + payload.len());
    record.extend_from_slice(&[0; 32]);
    record.push(VERSION);
    record.push(kind);
    record.extend_from_slice(&until_ms.to_be_bytes());
    record.extend_from_slice(payload);
    let tag = keys.record_tag(false, hash, &record[32..]);
    record[..32].copy_from_slice(&tag);
    record
}

/// The answer of a record read under `hash` (`previous`: the hash is the previous
/// secret's), and until when it may be used; `None` if the record is not one a holder
/// of the secret wrote for this hash.
pub(crate) fn decode(
    keys: &SharedKeys,
    previous: bool,
    hash: &TokenHash,
    record: &[u8],
) -> Option<(Answer, SystemTime)> {
    if record.len() < HEADER || record.len() > MAX_RECORD {
        return None;
    }
    let (tag, body) = record.split_at(32);
    let expected = keys.record_tag(previous, hash, body);
    aws_lc_rs::constant_time::verify_slices_are_equal(tag, &expected).ok()?;
    if body[0] != VERSION {
        return None;
    }
    let mut until = [0u8; 8];
    until.copy_from_slice(&body[2..10]);
    let until = UNIX_EPOCH.checked_add(Duration::from_millis(u64::from_be_bytes(until)))?;
    let payload = &body[10..];
    let answer = match body[1] {
        0 if payload.is_empty() => Answer::Inactive,
        1 => Answer::Active(String::from_utf8(payload.to_vec()).ok()?),
        2 => Answer::Refused(CODES.into_iter().find(|code| code.as_bytes() == payload)?),
        _ => return None,
    };
    Some((answer, until))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn keys() -> SharedKeys {
        SharedKeys::new(&[7; 32]).unwrap()
    }

    #[test]
    fn round_trips_every_answer() {
        let keys = keys();
        let hash = keys.hash("t");
        let until = UNIX_EPOCH + Duration::from_millis(1_700_000_000_123);
        for answer in [
            Answer::Active(r#"{"active":true}"#.into()),
            Answer::Inactive,
            Answer::Refused("invalid_token"),
        ] {
            let record = encode(&keys, &hash, &answer, until);
            assert_eq!(decode(&keys, false, &hash, &record), Some((answer, until)));
        }
    }

    #[test]
    fn forged_altered_or_moved_records_are_ignored() {
        let keys = keys();
        let hash = keys.hash("t");
        let until = UNIX_EPOCH + Duration::from_secs(2_000_000_000);
        let record = encode(&keys, &keys.hash("inactive"), &Answer::Inactive, until);
        // Moved from another token's key.
        assert_eq!(decode(&keys, false, &hash, &record), None);
        let mut record = encode(&keys, &hash, &Answer::Inactive, until);
        // Written by someone with another secret.
        let other = SharedKeys::new(&[8; 32]).unwrap();
        assert_eq!(decode(&other, false, &hash, &record), None);
        // Altered: inactive turned active.
        record[33] = 1;
        record.extend_from_slice(b"{}");
        assert_eq!(decode(&keys, false, &hash, &record), None);
        assert_eq!(decode(&keys, false, &hash, b"short"), None);
        assert_eq!(decode(&keys, false, &hash, &[0; 64]), None);
    }
}
