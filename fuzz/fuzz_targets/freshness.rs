//! Reads the lifetime of a fetched document from response headers (RFC 9111), within
//! bounds the input also chooses.
//! See `properties/freshness.rs` for the input format and what must hold; the seed test in
//! `crates/portcullis-issuer/tests/fuzz_seeds.rs` runs the committed seeds through the same file.

#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../properties/freshness.rs"]
mod property;

fuzz_target!(|data: &[u8]| property::check(data));
