//! Reads arbitrary text as a DPoP proof's `htu` (normalized to a fixed point or refused)
//! and as a proof for a fixed request (refused, never a panic): see `properties/dpop.rs`.

#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../properties/dpop.rs"]
mod property;

fuzz_target!(|data: &[u8]| property::check(data));
