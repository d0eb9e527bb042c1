//! Parses arbitrary bytes as a fetched JWK Set (`KeySet::from_jwks`). The document is
//! refused whole or every key is accounted for, and each loaded key's RFC 7638
//! thumbprint matches one recomputed from its JWK: see `properties/jwks.rs`.

#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../properties/json.rs"]
mod json;
#[path = "../properties/jwks.rs"]
mod property;

fuzz_target!(|data: &[u8]| property::check(data));
