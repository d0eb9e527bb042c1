//! The ratios of issue #7 measured in alternation instead of criterion's long runs of one
//! configuration at a time: on a shared machine the raw RSA check alone drifts ±5% from
//! one run to the next, more than the margins being read.
//!
//! Per round, 64 calls of each, one batch after the other: the raw aws-lc-rs signature
//! check; `portcullis-jwt` verify and jsonwebtoken decode; one request through the
//! unguarded axum router, and through it with a do-nothing layer added by `Router::layer`
//! (axum's own cost of wrapping a route in a layer); through the router guarded by
//! portcullis with full verification (`Router::layer`, and the layer around the router
//! as a whole) and with a token-cache hit; and through the router guarded by
//! tower-oauth2-resource-server (the fastest peer in every criterion run).
//! Requests are built inside the timed batch for every router alike, as the criterion
//! benchmark does. Prints the medians per call and the medians of the per-round ratios.
//!
//! `cargo run --release --bin paired -- [ROUNDS] [ALG ...]` (default 2000 rounds, RS256 ES256)
#![allow(missing_docs, clippy::unwrap_used, clippy::print_stdout)]

use portcullis_bench_peers::pairing::{load, median, timed, timed_requests, verify};
use portcullis_bench_peers::*;

const COLUMNS: [&str; 20] = [
    "raw (µs)",
    "portcullis-jwt",
    "jsonwebtoken",
    "no-auth router",
    "identity Router::layer",
    "layer full",
    "layer around router",
    "cache hit",
    "tower-oauth2-rs",
    "layer full / raw",
    "layer around router / raw",
    "(layer full − no-auth) / raw",
    "(layer full − identity) / raw",
    "cache hit − no-auth (µs)",
    "tower-oauth2-rs / cache hit",
    "tower-oauth2-rs / layer full",
    "jsonwebtoken / portcullis-jwt",
    "portcullis-jwt / raw",
    "axum's Router::layer (µs)",
    "rounds",
];

fn main() {
    let mut args = std::env::args().skip(1);
    let rounds: usize = args.next().map_or(2000, |r| r.parse().unwrap());
    let mut wanted: Vec<String> = args.collect();
    if wanted.is_empty() {
        wanted = vec!["RS256".into(), "ES256".into()];
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    println!(
        "# {} cores, load before: {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        load()
    );
    println!("\n| alg | {} |", COLUMNS.join(" | "));
    println!("|---|{}", "---:|".repeat(COLUMNS.len()));
    for fixture in Fixture::all()
        .into_iter()
        .filter(|f| wanted.iter().any(|w| w == f.name))
    {
        let raw = RawVerify::new(&fixture, &fixture.token);
        let raw_tampered = RawVerify::new(&fixture, &fixture.tampered);
        let jwt = JsonWebToken::new(&fixture);
        assert_decoders(&fixture, &raw, &raw_tampered, &jwt);
        let (validation, keys) = (fixture.validation(), fixture.key_set());
        let unguarded = unprotected();
        let full = portcullis(fixture.verifier());
        let cached = portcullis(fixture.cached_verifier());
        let peer = rt.block_on(async {
            assert_guards("portcullis", &fixture, &full).await;
            assert_guards("portcullis cached", &fixture, &cached).await;
            let peer = tower_oauth2(&fixture).await;
            assert_guards("tower-oauth2-resource-server", &fixture, &peer).await;
            peer
        });
        let header = bearer(&fixture.token);
        let around = portcullis_around(fixture.verifier());
        rt.block_on(assert_guards(
            "portcullis around the router",
            &fixture,
            &around,
        ));
        let identity = unprotected_identity_layer();
        let mut columns: [Vec<f64>; 19] = Default::default();
        for _ in 0..rounds {
            let r = timed(|| assert!(std::hint::black_box(&raw).verify()));
            let ours = timed(|| verify(&validation, &keys, &fixture.token));
            let theirs = timed(|| {
                jwt.decode(std::hint::black_box(&fixture.token)).unwrap();
            });
            let base = timed_requests(&rt, &unguarded, &header);
            let noop = timed_requests(&rt, &identity, &header);
            let layer = timed_requests(&rt, &full, &header);
            let wrapping = timed_requests(&rt, &around, &header);
            let hit = timed_requests(&rt, &cached, &header);
            let other = timed_requests(&rt, &peer, &header);
            let values = [
                r,
                ours,
                theirs,
                base,
                noop,
                layer,
                wrapping,
                hit,
                other,
                layer / r,
                wrapping / r,
                (layer - base) / r,
                (layer - noop) / r,
                hit - base,
                other / hit,
                other / layer,
                theirs / ours,
                ours / r,
                noop - base,
            ];
            for (column, value) in columns.iter_mut().zip(values) {
                column.push(value);
            }
        }
        let medians = columns.map(|mut column| median(&mut column));
        let cells: Vec<String> = medians
            .iter()
            .enumerate()
            .map(|(i, m)| match i {
                14 => format!("{m:.1}"),
                3 | 4 | 7 | 9..=13 | 15..=18 => format!("{m:.3}"),
                _ => format!("{m:.2}"),
            })
            .collect();
        println!("| {} | {} | {rounds} |", fixture.name, cells.join(" | "));
    }
    println!("\n# load after: {}", load());
}
