//! Verifies arbitrary bytes, taken as a token, against a fixed key set and fixed rules,
//! and reads their unverified `iss` as multi-issuer routing does.
//! Nothing may panic; every outcome is either verified claims or an error.
//!
//! The key set (`keys/jwks.json`) and the seed corpus (`corpus/verify/`) are written
//! together by `cargo test -p portcullis-jwt --test properties -- --ignored write_fuzz_seeds`,
//! so the valid seeds carry real signatures and the fuzzer starts past the signature
//! check.

#![no_main]

use std::sync::LazyLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use libfuzzer_sys::fuzz_target;
use portcullis_jwt::{
    Algorithm, AlgorithmSet, Claims, ErrorKind, Key, KeySet, UnverifiedToken, Validation,
    VerifiedBy, read_unverified_issuer,
};

/// Must match `FUZZ_*` in `crates/portcullis-jwt/tests/properties.rs`.
const ISSUER: &str = "https://issuer.fuzz";
const AUDIENCE: &str = "https://api.fuzz";
const IAT: u64 = 1_700_000_000;
const HMAC_KID: &str = "hs256";
const HMAC_SECRET: &[u8] = b"portcullis-fuzz-hmac-secret-32-bytes-at-least";

struct Target {
    keys: KeySet,
    validation: Validation,
    now: SystemTime,
}

static TARGET: LazyLock<Target> = LazyLock::new(|| {
    let jwks = KeySet::from_jwks(include_bytes!("../keys/jwks.json")).expect("a JWK Set");
    let hmac = Key::hmac_secret(Some(HMAC_KID), Algorithm::HS256, HMAC_SECRET).expect("HMAC");
    let keys = KeySet::from_keys(jwks.keys().iter().cloned().chain([hmac]));
    let validation = Validation::builder()
        .issuer(ISSUER)
        .audience(AUDIENCE)
        .algorithms(AlgorithmSet::ASYMMETRIC.union(AlgorithmSet::HMAC))
        .require_claim("sub")
        .check(|claims| match claims.get("tenant") {
            Some(serde_json::Value::String(_)) | None => Ok(()),
            Some(_) => Err("tenant".into()),
        })
        .build()
        .expect("valid rules");
    Target {
        keys,
        validation,
        now: UNIX_EPOCH + Duration::from_secs(IAT + 60),
    }
});

/// Reads everything a caller might read, so a panic in an accessor is found too.
fn touch(claims: &Claims) {
    let _ = (
        claims.issuer(),
        claims.subject(),
        claims.jwt_id(),
        claims.client_id(),
    );
    let _ = claims.audiences().count();
    let _ = (claims.expires_at(), claims.not_before(), claims.issued_at());
    if let Some(exp) = claims.expires_at() {
        let _ = (exp.as_seconds(), exp.to_system_time());
    }
    let _ = claims.scopes().to_string();
    let _ = claims.get("scope");
    let _ = claims.deserialize::<serde_json::Value>();
    let _ = format!("{claims:?}");
}

fuzz_target!(|data: &[u8]| {
    let Ok(token) = std::str::from_utf8(data) else {
        return;
    };
    let target = &*TARGET;
    if let Ok(claims) = target.validation.verify(token, &target.keys, target.now) {
        touch(&claims);
    }
    // Routing reads the unverified `iss` from the payload alone.
    let _ = read_unverified_issuer(token, usize::MAX, str::len);
    // The claim rules sit behind the signature check; reach them directly through the
    // introspection entry point with the unverified payload.
    if let Ok(parsed) = UnverifiedToken::parse(token, usize::MAX) {
        let _ = format!("{parsed:?}");
        if let Ok(payload) = parsed.unverified_payload() {
            // Whatever the strict reader accepts, serde_json reads again (`Claims::get`,
            // `Claims::deserialize`): the two JSON readers agree on what is JSON.
            let json = payload.clone();
            let checked =
                target
                    .validation
                    .check_claims_json(payload, VerifiedBy::Introspection, target.now);
            // `Malformed` is the reader's refusal; any other outcome (claims, or a claim
            // rule's refusal) means the reader accepted the payload.
            if !matches!(&checked, Err(error) if error.kind() == ErrorKind::Malformed) {
                assert!(
                    serde_json::from_str::<serde_json::Value>(&json).is_ok(),
                    "accepted what serde_json refuses: {json:?}"
                );
            }
            if let Ok(claims) = checked {
                touch(&claims);
            }
        }
    }
});
