//! The committed seeds of the `jwks` and `dpop` fuzz targets, run through the property the target
//! asserts (`fuzz/properties/jwks.rs`, compiled here too). The `verify` target's seeds
//! are checked by `fuzz_seeds_are_what_their_names_say` in `properties.rs`.

#[path = "../../../fuzz/properties/dpop.rs"]
mod dpop;
#[path = "../../../fuzz/properties/json.rs"]
mod json;
#[path = "../../../fuzz/properties/jwks.rs"]
mod jwks;
#[path = "../../../fuzz/properties/seeds.rs"]
mod seeds;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use portcullis_jwt::KeySet;

#[test]
fn dpop_seeds_hold_the_property() {
    seeds::check_all(env!("CARGO_MANIFEST_DIR"), "dpop", dpop::check);
}

#[test]
fn jwks_seeds_hold_the_property() {
    seeds::check_all(env!("CARGO_MANIFEST_DIR"), "jwks", jwks::check);
}

/// The property's own thumbprint, against RFC 7638 §3.1's published answer, so the
/// property cannot agree with the crate on a wrong canonical form.
#[test]
fn the_rfc_7638_seed_has_the_published_thumbprint() {
    let seed = seeds::read(env!("CARGO_MANIFEST_DIR"), "jwks")
        .into_iter()
        .find(|(name, _)| name == "rfc7638-example")
        .expect("the rfc7638-example seed");
    let set = KeySet::from_jwks(&seed.1).expect("a JWK Set");
    assert_eq!(set.len(), 1);
    assert_eq!(
        URL_SAFE_NO_PAD.encode(set.keys()[0].thumbprint()),
        "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
    );
}

/// Seeds that load keys, and seeds that skip them, are both in the corpus: a corpus of
/// refusals alone would never reach the thumbprint check.
#[test]
fn jwks_seeds_reach_both_outcomes() {
    let seeds = seeds::read(env!("CARGO_MANIFEST_DIR"), "jwks");
    let sets: Vec<KeySet> = seeds
        .iter()
        .filter_map(|(_, bytes)| KeySet::from_jwks(bytes).ok())
        .collect();
    assert!(sets.iter().map(KeySet::len).sum::<usize>() >= 8);
    assert!(sets.iter().map(|s| s.skipped().len()).sum::<usize>() >= 8);
    assert!(
        sets.len() < seeds.len(),
        "no refused document among the seeds"
    );
}
