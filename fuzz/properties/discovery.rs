//! What the `discovery` fuzz target asserts of `IssuerMetadata::from_json`, shared with
//! the seed test in `crates/portcullis-issuer/tests/fuzz_seeds.rs` so the two cannot
//! drift.
//!
//! The input is the issuer the application expects, on the first line, then the
//! discovery document the server sent. What must hold: a document is accepted only if
//! it is a JSON object whose `issuer` is exactly the expected one, and then every
//! accessor returns what the document says (as `serde_json`'s generic reader reads
//! it, `json.rs`); a refusal is `InvalidDocument`, or `IssuerMismatch` for a document that names
//! another issuer.

use portcullis_issuer::{FetchErrorKind, IssuerMetadata};
use serde_json::Value;

// `json.rs`, declared beside this file by whoever includes it.
use super::json;

pub(crate) fn check(data: &[u8]) {
    let split = data.iter().position(|&b| b == b'\n').unwrap_or(data.len());
    let Ok(expected) = std::str::from_utf8(&data[..split]) else {
        return;
    };
    let document = data.get(split + 1..).unwrap_or_default();
    let members = json::members(
        document,
        &[
            "issuer",
            "jwks_uri",
            "introspection_endpoint",
            "introspection_endpoint_auth_methods_supported",
            "id_token_signing_alg_values_supported",
        ],
    );
    match IssuerMetadata::from_json(expected, document) {
        Ok(metadata) => {
            let object = members
                .as_ref()
                .expect("accepted what is not a JSON object");
            assert_eq!(metadata.issuer(), expected);
            assert_eq!(object.get("issuer").and_then(Value::as_str), Some(expected));
            let text = |name: &str| object.get(name).and_then(Value::as_str);
            assert_eq!(metadata.jwks_uri(), text("jwks_uri"));
            assert_eq!(
                metadata.introspection_endpoint(),
                text("introspection_endpoint")
            );
            let list = |name: &str| -> Vec<&str> {
                object
                    .get(name)
                    .and_then(Value::as_array)
                    .map(|items| items.iter().filter_map(Value::as_str).collect())
                    .unwrap_or_default()
            };
            assert_eq!(
                metadata.introspection_auth_methods(),
                list("introspection_endpoint_auth_methods_supported")
            );
            assert_eq!(
                metadata.signing_algorithms(),
                list("id_token_signing_alg_values_supported")
            );
        }
        Err(error) => match error.kind() {
            FetchErrorKind::InvalidDocument => {}
            FetchErrorKind::IssuerMismatch => {
                let named = members.as_ref().and_then(|m| m.get("issuer")?.as_str());
                assert!(
                    named.is_some_and(|named| named != expected),
                    "a mismatch without another issuer: {named:?}"
                );
            }
            other => panic!("refused as {other:?}"),
        },
    }
}
