//! The committed seeds of the `router` fuzz target, run through the property the target
//! asserts (`fuzz/properties/router.rs`, compiled here too).

#[path = "../../../fuzz/properties/router.rs"]
mod router;
#[path = "../../../fuzz/properties/seeds.rs"]
mod seeds;

#[test]
fn router_seeds_hold_the_property() {
    seeds::check_all(env!("CARGO_MANIFEST_DIR"), "router", router::check);
}
