//! The HTTP load target: one route served five ways on 127.0.0.1, for `scripts/load-peers`.
//!
//! `load-server <base-port> <token-file>`: port+0 unprotected, +1 portcullis with the token
//! cache, +2 portcullis without it, +3 jwt-authorizer (axum 0.7), +4 unprotected on axum
//! 0.7 (jwt-authorizer's own baseline). Each guard is first checked to accept the token
//! and refuse a tampered one; then the token is written to `token-file`. Worker threads:
//! `PEERS_WORKERS` (default 1).
#![allow(missing_docs, clippy::unwrap_used, clippy::print_stdout)]

use portcullis_bench_peers::*;

fn main() {
    let mut args = std::env::args().skip(1);
    let base: u16 = args.next().map_or(18080, |p| p.parse().unwrap());
    let token_file = args
        .next()
        .unwrap_or_else(|| "/tmp/portcullis-load-token".into());
    let alg = std::env::var("PEERS_ALG").unwrap_or_else(|_| "RS256".into());
    let workers = std::env::var("PEERS_WORKERS").map_or(1, |w| w.parse().unwrap());
    let fixture = Fixture::named(&alg);
    let name = fixture.name;

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let cached = portcullis(fixture.cached_verifier());
        let full = portcullis(fixture.verifier());
        let jwt_authorizer = jwt_authorizer(&fixture).await;
        assert_guards("portcullis cached", &fixture, &cached).await;
        assert_guards("portcullis", &fixture, &full).await;
        assert_guards07("jwt-authorizer", &fixture, &jwt_authorizer).await;

        let listen = |offset: u16| async move {
            tokio::net::TcpListener::bind(("127.0.0.1", base + offset))
                .await
                .unwrap()
        };
        let mut servers = tokio::task::JoinSet::new();
        for (offset, router) in [(0, unprotected()), (1, cached), (2, full)] {
            let listener = listen(offset).await;
            servers.spawn(async move { axum::serve(listener, router).await.unwrap() });
        }
        for (offset, router) in [(3, jwt_authorizer), (4, unprotected_axum07())] {
            let listener = listen(offset).await;
            servers.spawn(async move { axum07::serve(listener, router).await.unwrap() });
        }
        std::fs::write(&token_file, &fixture.token).unwrap();
        println!(
            "ready: {name}, ports {base}..{}, {workers} worker(s)",
            base + 4
        );
        servers.join_next().await;
    });
}
