//! What the `jwks` fuzz target asserts of `KeySet::from_jwks`, shared with the seed test
//! in `crates/portcullis-jwt/tests/fuzz_seeds.rs` so the two cannot drift.
//!
//! A document is either refused whole with an error, or every entry of its `keys` array
//! is accounted for, in order: loaded as a key whose RFC 7638 thumbprint is the one
//! recomputed here from the JWK's own members (written with `serde_json`, not with the
//! crate's formatter), or skipped with a reason. Nothing is half-loaded. The document is
//! judged by `serde_json`'s generic reader (`json.rs`).

use aws_lc_rs::digest;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use portcullis_jwt::{KeySet, MAX_KEYS, SkipReason};
use serde_json::{Map, Value};

// `json.rs`, declared beside this file by whoever includes it.
use super::json;

pub(crate) fn check(document: &[u8]) {
    let Ok(set) = KeySet::from_jwks(document) else {
        return;
    };
    let members = json::members(document, &["keys"]).expect("accepted what is not a JSON object");
    let entries = members
        .get("keys")
        .and_then(Value::as_array)
        .expect("accepted a document without a \"keys\" array");
    assert_eq!(
        set.len() + set.skipped().len(),
        entries.len(),
        "every JWK is either loaded or skipped"
    );
    assert!(set.len() <= MAX_KEYS);
    let mut keys = set.keys().iter();
    let mut skipped = set.skipped().iter().peekable();
    let mut loaded = 0;
    for (index, jwk) in entries.iter().enumerate() {
        let kid = jwk.get("kid").and_then(Value::as_str);
        if let Some(skip) = skipped.next_if(|skip| skip.index == index) {
            assert_eq!(skip.kid.as_deref(), kid, "entry {index}");
            assert_eq!(
                skip.reason == SkipReason::TooManyKeys,
                loaded == MAX_KEYS,
                "entry {index}: {:?} after {loaded} keys",
                skip.reason
            );
            continue;
        }
        let key = keys.next().expect("a key for every entry not skipped");
        loaded += 1;
        assert_eq!(key.kid(), kid, "entry {index}");
        assert!(!key.algorithms().is_empty(), "entry {index}");
        assert_eq!(
            key.thumbprint(),
            &thumbprint(jwk),
            "entry {index}: the thumbprint does not round-trip"
        );
        assert!(set.contains_thumbprint(key.thumbprint()));
    }
    assert!(keys.next().is_none(), "more keys than entries");
    assert!(skipped.next().is_none(), "skipped entries out of order");
}

/// RFC 7638 §3: the required members only, in lexicographic order, no whitespace,
/// SHA-256. RFC 7518 §6.3.1 wants `n` and `e` without leading zero octets; a key that
/// has them is loaded as the minimal key, so its thumbprint is the minimal key's.
fn thumbprint(jwk: &Value) -> [u8; 32] {
    let member = |name: &str| {
        jwk.get(name)
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("a loaded key without {name:?}"))
            .to_owned()
    };
    let minimal = |name: &str| {
        let bytes = URL_SAFE_NO_PAD
            .decode(member(name))
            .expect("a loaded key with bad base64url");
        let first = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len());
        URL_SAFE_NO_PAD.encode(&bytes[first..])
    };
    let kty = member("kty");
    // Inserted in lexicographic order, so the output is canonical whether `Map` sorts
    // (the default) or keeps insertion order (serde_json's `preserve_order`).
    let members: Vec<(&str, String)> = match kty.as_str() {
        "RSA" => vec![
            ("e", minimal("e")),
            ("kty", kty.clone()),
            ("n", minimal("n")),
        ],
        "EC" => vec![
            ("crv", member("crv")),
            ("kty", kty.clone()),
            ("x", member("x")),
            ("y", member("y")),
        ],
        "OKP" => vec![
            ("crv", member("crv")),
            ("kty", kty.clone()),
            ("x", member("x")),
        ],
        other => panic!("loaded a key of type {other:?}"),
    };
    let mut canonical = Map::new();
    for (name, value) in members {
        canonical.insert(name.to_owned(), Value::String(value));
    }
    let json = serde_json::to_string(&Value::Object(canonical)).expect("JSON");
    let digest = digest::digest(&digest::SHA256, json.as_bytes());
    digest.as_ref().try_into().expect("32 bytes")
}
