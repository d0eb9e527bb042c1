//! A gRPC service behind Portcullis, and a client showing OK, UNAUTHENTICATED and
//! PERMISSION_DENIED.
//!
//! `cargo run -p example-tonic`. The service, the server and the client are in the
//! example's library (`src/lib.rs`), which its tests use too.
#![allow(clippy::print_stdout, reason = "an example talks to its user")]

use std::error::Error;
use std::net::SocketAddr;
use std::time::{SystemTime, UNIX_EPOCH};

use example_tonic::{AUDIENCE, ISSUER, say_hello, serve};
use portcullis::{JwtVerifier, KeySet, Validation};
use portcullis_testkit::{SigningAlgorithm, SigningKey, jwks};

/// One call, told as the client sees it.
async fn show(addr: SocketAddr, token: Option<&str>) -> String {
    match say_hello(addr, token).await {
        Ok(message) => format!("OK: {message}"),
        Err(status) => format!(
            "{:?}: {:?} (www-authenticate: {:?})",
            status.code(),
            status.message(),
            status.metadata().get("www-authenticate"),
        ),
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    // The embedded issuer: a fresh key and its JWK Set (a remote key set in production).
    let key = SigningKey::generate(SigningAlgorithm::ES256);
    let keys = KeySet::from_jwks(&serde_json::to_vec(&jwks([&key]))?)?;
    let validation = Validation::builder()
        .issuer(ISSUER)
        .audience(AUDIENCE)
        .build()?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(serve(
        listener,
        JwtVerifier::with_static_keys(validation, keys),
    )?);
    println!("gRPC server on {addr}\n");

    let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
    let mint = |scope: &str| {
        key.token()
            .standard_claims(ISSUER, AUDIENCE, now)
            .claim("scope", scope)
            .sign()
    };
    println!(
        "token with `greet`:  {}",
        show(addr, Some(&mint("greet"))).await
    );
    println!("no token:            {}", show(addr, None).await);
    println!(
        "token with `read`:   {}",
        show(addr, Some(&mint("read"))).await
    );
    println!(
        "forged token:        {}",
        show(addr, Some("e30.e30.c2ln")).await
    );
    Ok(())
}
