//! Takes a bearer token out of a request written as text (sources, target, headers):
//! `Authorization`, a custom header, cookies, the query string with percent-decoding.
//! See `properties/token_extraction.rs` for the input format and what must hold; the seed test in
//! `crates/portcullis/tests/fuzz_seeds.rs` runs the committed seeds through the same file.

#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../properties/token_extraction.rs"]
mod property;

fuzz_target!(|data: &[u8]| property::check(data));
