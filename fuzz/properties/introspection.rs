//! What the `introspection` fuzz target asserts of
//! `portcullis_issuer::introspection::parse_response`, shared with the seed test in
//! `crates/portcullis-issuer/tests/fuzz_seeds.rs` so the two cannot drift.
//!
//! The input is the body of an RFC 7662 introspection response. What must hold: an
//! answer is active only when the body is a JSON object whose `active` member is the
//! JSON `true` and whose `token_type` is not a refresh token; the active answer carries
//! the body unchanged (its claims are checked from it); an inactive answer is a JSON
//! object whose `active` is `false` or absent (or a refresh token). `serde_json`'s
//! generic reader (`json.rs`), not the crate's typed one, is the judge here.

use portcullis_issuer::introspection::{IntrospectionResponse, parse_response};
use serde_json::Value;

// `json.rs`, declared beside this file by whoever includes it.
use super::json;

pub(crate) fn check(body: &[u8]) {
    let Ok(response) = parse_response(body) else {
        return;
    };
    let object = json::members(body, &["active", "token_type"])
        .expect("answered from what is not a JSON object");
    let refresh = object
        .get("token_type")
        .and_then(Value::as_str)
        .is_some_and(|t| t.eq_ignore_ascii_case("refresh_token"));
    match response {
        IntrospectionResponse::Active(text) => {
            assert_eq!(
                object.get("active"),
                Some(&Value::Bool(true)),
                "active without `true`"
            );
            assert!(!refresh, "a refresh token is active");
            assert_eq!(text.as_bytes(), body, "the claims are not the body");
        }
        IntrospectionResponse::Inactive => assert!(
            matches!(object.get("active"), None | Some(Value::Bool(false))) || refresh,
            "inactive with `active` {:?}",
            object.get("active")
        ),
    }
}
