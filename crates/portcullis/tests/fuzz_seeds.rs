//! The committed seeds of the `token_extraction` fuzz target, run through the property
//! the target asserts (`fuzz/properties/token_extraction.rs`, compiled here too).

#[path = "../../../fuzz/properties/seeds.rs"]
mod seeds;
#[path = "../../../fuzz/properties/token_extraction.rs"]
mod token_extraction;

#[test]
fn token_extraction_seeds_hold_the_property() {
    seeds::check_all(
        env!("CARGO_MANIFEST_DIR"),
        "token_extraction",
        token_extraction::check,
    );
}
