//! Reads arbitrary bytes as an issuer's discovery document (`IssuerMetadata::from_json`)
//! against an expected issuer the input also chooses.
//! See `properties/discovery.rs` for the input format and what must hold; the seed test in
//! `crates/portcullis-issuer/tests/fuzz_seeds.rs` runs the committed seeds through the same file.

#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../properties/json.rs"]
mod json;
#[path = "../properties/discovery.rs"]
mod property;

fuzz_target!(|data: &[u8]| property::check(data));
