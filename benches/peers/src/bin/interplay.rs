//! How much of "layer full / raw" is the layer, and how much is merely doing something
//! between two signature checks: per round, 64 calls each of the raw RS256 check; an
//! unguarded router request; the two one after the other; `portcullis-jwt` verify; it
//! followed by an unguarded request; the layer with claims verified up front (its own
//! work, no verification); and the layer with full verification. Medians of 64-call
//! batches, all in one run.
//!
//! `cargo run --release --bin interplay -- [ROUNDS] [ALG]` (default 600 rounds, RS256)
#![allow(missing_docs, clippy::unwrap_used, clippy::print_stdout)]

use portcullis_bench_peers::pairing::{BATCH, median, timed, verify};
use portcullis_bench_peers::*;
use tower::ServiceExt;

/// One request through `router`, on its own `block_on`.
fn one_request(rt: &tokio::runtime::Runtime, router: &axum::Router, header: &http::HeaderValue) {
    let response = rt
        .block_on(router.clone().oneshot(request_with(header)))
        .unwrap();
    debug_assert_eq!(response.status(), 200);
}

fn main() {
    let mut args = std::env::args().skip(1);
    let rounds: usize = args.next().map_or(600, |r| r.parse().unwrap());
    let alg = args.next().unwrap_or_else(|| "RS256".into());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let fixture = Fixture::all().into_iter().find(|f| f.name == alg).unwrap();
    let raw = RawVerify::new(&fixture, &fixture.token);
    let (validation, keys) = (fixture.validation(), fixture.key_set());
    let unguarded = unprotected();
    let full = portcullis(fixture.verifier());
    let fixed = portcullis_fixed(&fixture);
    let header = bearer(&fixture.token);
    // One `block_on` per request in every column, so the columns add up.
    let request = |router: &axum::Router| one_request(&rt, router, &header);
    let verify = || verify(&validation, &keys, &fixture.token);
    let check = || assert!(std::hint::black_box(&raw).verify());
    let mut columns: [Vec<f64>; 7] = Default::default();
    for _ in 0..rounds {
        let values = [
            timed(check),
            timed(|| request(&unguarded)),
            timed(|| {
                check();
                request(&unguarded);
            }),
            timed(verify),
            timed(|| {
                verify();
                request(&unguarded);
            }),
            timed(|| request(&fixed)),
            timed(|| request(&full)),
        ];
        for (column, value) in columns.iter_mut().zip(values) {
            column.push(value);
        }
    }
    let [raw, router, raw_router, jwt, jwt_router, fixed, layer] =
        columns.map(|mut column| median(&mut column));
    println!("# {alg}, {rounds} rounds of {BATCH} calls; µs per call (medians)");
    println!(
        "| raw | router | raw, then router | portcullis-jwt | portcullis-jwt, then router | layer, claims at hand | layer full |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|");
    println!(
        "| {raw:.2} | {router:.3} | {raw_router:.2} | {jwt:.2} | {jwt_router:.2} | {fixed:.3} | {layer:.2} |"
    );
    println!();
    println!(
        "| (raw, then router) / raw | its cost beyond the two alone (µs) | (portcullis-jwt, then router) / raw | layer full / raw | layer's own work over the router (µs) | layer full − (portcullis-jwt, then router) (µs) |"
    );
    println!("|---:|---:|---:|---:|---:|---:|");
    println!(
        "| {:.3} | {:.3} | {:.3} | {:.3} | {:.3} | {:.3} |",
        raw_router / raw,
        raw_router - raw - router,
        jwt_router / raw,
        layer / raw,
        fixed - router,
        layer - jwt_router
    );
}
