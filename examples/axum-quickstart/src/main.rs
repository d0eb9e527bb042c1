//! An axum API protected by Portcullis: a public route, a read route and a write route.
//!
//! `cargo run -p example-axum-quickstart` starts it on 127.0.0.1 and prints curl
//! commands, with tokens, for allowed and refused requests.
#![allow(clippy::print_stdout, reason = "an example talks to its user")]

use std::error::Error;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::routing::get;
use portcullis::extract::Authenticated;
use portcullis::{
    AuthenticationLayer, JwtVerifier, KeySet, ScopeRequirement, Validation, WELL_KNOWN_PATH,
};
use portcullis_testkit::{SigningAlgorithm, SigningKey, jwks};

const ISSUER: &str = "https://issuer.local";
const AUDIENCE: &str = "https://api.local";

/// The embedded issuer: a fresh key and its JWK Set. In production the verifier gets
/// the issuer's keys over HTTPS instead (a remote key set with discovery); only
/// `verifier()` changes.
fn local_issuer() -> Result<(SigningKey, KeySet), Box<dyn Error>> {
    let key = SigningKey::generate(SigningAlgorithm::ES256);
    let keys = KeySet::from_jwks(&serde_json::to_vec(&jwks([&key]))?)?;
    Ok((key, keys))
}

fn verifier(keys: KeySet) -> Result<JwtVerifier, Box<dyn Error>> {
    let validation = Validation::builder()
        .issuer(ISSUER)
        .audience(AUDIENCE)
        .build()?;
    Ok(JwtVerifier::with_static_keys(validation, keys))
}

async fn public() -> &'static str {
    "public: no token needed\n"
}

async fn read(Authenticated(claims): Authenticated) -> String {
    format!(
        "read: hello {} (client {})\n",
        claims.subject().unwrap_or("?"),
        claims.client_id().unwrap_or("?")
    )
}

async fn write(Authenticated(claims): Authenticated) -> String {
    format!("write: accepted from {}\n", claims.subject().unwrap_or("?"))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let (key, keys) = local_issuer()?;

    let listener = match tokio::net::TcpListener::bind("127.0.0.1:3000").await {
        Ok(listener) => listener,
        Err(_) => tokio::net::TcpListener::bind("127.0.0.1:0").await?,
    };
    let base = format!("http://{}", listener.local_addr()?);

    let authn = AuthenticationLayer::builder(verifier(keys)?)
        .realm("quickstart")
        .resource_metadata(format!("{base}{WELL_KNOWN_PATH}"))
        .build()?;
    let metadata = authn.metadata(AUDIENCE).authorization_server(ISSUER);
    let app = Router::new()
        .route(
            "/read",
            get(read).route_layer(authn.require(ScopeRequirement::all_of(["read"])?)),
        )
        .route(
            "/write",
            get(write).route_layer(authn.require(ScopeRequirement::all_of(["write"])?)),
        )
        .layer(authn)
        .route("/public", get(public))
        .route_service(WELL_KNOWN_PATH, metadata.into_service());

    let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
    let mint = |scope: &str, issued_at: u64| {
        key.token()
            .standard_claims(ISSUER, AUDIENCE, issued_at)
            .claim("scope", scope)
            .sign()
    };
    let reader = mint("read", now);
    let writer = mint("read write", now);
    let expired = mint("read", now - 3600);

    println!("Listening on {base}. Tokens are valid for 5 minutes. Try:\n");
    println!("# 200: public\ncurl -i {base}/public\n");
    println!("# 401, challenge without error: no token\ncurl -i {base}/read\n");
    println!(
        "# 200: read token on the read route\ncurl -i -H 'Authorization: Bearer {reader}' {base}/read\n"
    );
    println!(
        "# 403 insufficient_scope: read token on the write route\ncurl -i -H 'Authorization: Bearer {reader}' {base}/write\n"
    );
    println!(
        "# 200: write token on the write route\ncurl -i -H 'Authorization: Bearer {writer}' {base}/write\n"
    );
    println!(
        "# 401 invalid_token: expired\ncurl -i -H 'Authorization: Bearer {expired}' {base}/read\n"
    );
    println!(
        "# 400 invalid_request: malformed header\ncurl -i -H 'Authorization: Bearer a b' {base}/read\n"
    );
    println!("# RFC 9728 metadata\ncurl -i {base}{WELL_KNOWN_PATH}\n");

    axum::serve(listener, app).await?;
    Ok(())
}
