//! Routes a request line through a routing table, both written as text, and checks
//! that a path the gateway's safety check passes routes identically after any
//! percent-encoding of its unreserved characters.
//! See `properties/router.rs` for the input format and what must hold; the seed test in
//! `crates/portcullis-gateway/tests/fuzz_seeds.rs` runs the committed seeds through the
//! same file.

#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../properties/router.rs"]
mod property;

fuzz_target!(|data: &[u8]| property::check(data));
