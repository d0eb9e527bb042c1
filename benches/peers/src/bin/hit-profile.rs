//! For callgrind: N requests through one router, inside `run` (collect only there).
//!
//! `valgrind --tool=callgrind --toggle-collect='*hit_profile::run*' hit-profile <baseline|hit|full|fixed> [N]`
//! (`fixed`: the layer with claims verified once, up front: its own cost)`
#![allow(missing_docs, clippy::unwrap_used, clippy::print_stdout)]

use portcullis_bench_peers::*;
use tower::ServiceExt;

#[inline(never)]
async fn run(router: &axum::Router, header: &http::HeaderValue, n: u64) {
    for _ in 0..n {
        let response = router.clone().oneshot(request_with(header)).await.unwrap();
        assert_eq!(response.status(), 200);
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let mode = args.next().unwrap_or_else(|| "hit".into());
    let n: u64 = args.next().map_or(10_000, |n| n.parse().unwrap());
    let alg = std::env::var("PEERS_ALG").unwrap_or_else(|_| "RS256".into());
    let fixture = Fixture::named(&alg);
    let name = fixture.name;
    let router = match mode.as_str() {
        "baseline" => unprotected(),
        "hit" => portcullis(fixture.cached_verifier()),
        "full" => portcullis(fixture.verifier()),
        "fixed" => portcullis_fixed(&fixture),
        other => panic!("unknown mode {other}"),
    };
    let header = bearer(&fixture.token);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        // Warm: the first request fills the cache.
        run(&router, &header, 10).await;
        run(&router, &header, n).await;
    });
    println!(
        "{mode} {name}: {n} requests, token {} bytes",
        fixture.token.len()
    );
}
