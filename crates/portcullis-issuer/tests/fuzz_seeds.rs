//! The committed seeds of the `introspection`, `freshness` and `discovery` fuzz
//! targets, run through the properties the targets assert (`fuzz/properties/*.rs`,
//! compiled here too).

#[path = "../../../fuzz/properties/discovery.rs"]
mod discovery;
#[path = "../../../fuzz/properties/freshness.rs"]
mod freshness;
#[path = "../../../fuzz/properties/introspection.rs"]
mod introspection;
#[path = "../../../fuzz/properties/json.rs"]
mod json;
#[path = "../../../fuzz/properties/seeds.rs"]
mod seeds;

const DIR: &str = env!("CARGO_MANIFEST_DIR");

#[test]
fn introspection_seeds_hold_the_property() {
    seeds::check_all(DIR, "introspection", introspection::check);
}

#[test]
fn freshness_seeds_hold_the_property() {
    seeds::check_all(DIR, "freshness", freshness::check);
}

#[test]
fn discovery_seeds_hold_the_property() {
    seeds::check_all(DIR, "discovery", discovery::check);
}
