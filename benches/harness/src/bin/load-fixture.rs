//! Load-test fixture for the `scripts/load-*` runs: a minimal upstream and an issuer on
//! loopback, serving until killed.
//!
//! - `load-fixture`: a JWKS endpoint and an ES256 token for it. Prints one shell-readable
//!   line, `UPSTREAM JWKS ISSUER AUDIENCE TOKEN`.
//! - `load-fixture opaque COUNT DIR` (`scripts/load-replicas`): an RFC 7662 issuer (the
//!   testkit's `TestIssuer`) that knows COUNT opaque tokens, active for an hour with scope
//!   `read`. Writes them to `DIR/tokens` (one a line) and the introspection client secret
//!   to `DIR/client-secret`, then prints `UPSTREAM ISSUER INTROSPECTION_URL AUDIENCE
//!   CLIENT_ID`. Every token needs the introspection path: none is a JWT.

use std::convert::Infallible;
use std::io::Write as _;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::Response;
use http_body_util::Full;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use portcullis_testkit::{
    INTROSPECTION_CLIENT_SECRET, IntrospectionClient, SigningAlgorithm, SigningKey, TestIssuer,
    jwks,
};
use tokio::net::TcpListener;

const ISSUER: &str = "https://load-issuer.test";
const AUDIENCE: &str = "https://load-api.test";
/// The introspection client id of the `opaque` mode.
const CLIENT_ID: &str = "load-gateway";
/// At most this many opaque tokens (about 4 MB of tokens and introspection answers).
const MAX_OPAQUE_TOKENS: usize = 100_000;

async fn serve(listener: TcpListener, body: Bytes) {
    while let Ok((stream, _)) = listener.accept().await {
        let _ = stream.set_nodelay(true);
        let body = body.clone();
        tokio::spawn(async move {
            let service = service_fn(move |_request| {
                let body = body.clone();
                async move {
                    let mut response = Response::new(Full::new(body));
                    response.headers_mut().insert(
                        http::header::CONTENT_TYPE,
                        http::HeaderValue::from_static("application/json"),
                    );
                    Ok::<_, Infallible>(response)
                }
            });
            let _ = auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

fn print_line(line: &str) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}")?;
    out.flush()
}

/// The `opaque COUNT DIR` mode: an introspecting issuer and COUNT opaque tokens.
async fn opaque(count: usize, dir: &Path) -> Result<(), Box<dyn std::error::Error>> {
    if count == 0 || count > MAX_OPAQUE_TOKENS {
        return Err(format!("COUNT must be 1..={MAX_OPAQUE_TOKENS}").into());
    }
    let issuer = TestIssuer::builder()
        .introspection_client(IntrospectionClient::Basic {
            client_id: CLIENT_ID.to_owned(),
            client_secret: INTROSPECTION_CLIENT_SECRET.to_owned(),
        })
        .start()
        .await;
    let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
    let mut tokens = String::with_capacity(count * 24);
    for i in 0..count {
        let token = issuer.mint_opaque_with(serde_json::json!({
            "active": true,
            "iss": issuer.url(),
            "aud": AUDIENCE,
            "sub": format!("load-subject-{i}"),
            "client_id": "load-client",
            "scope": "read",
            "iat": now,
            "exp": now + 3600,
            "token_type": "Bearer",
        }));
        tokens.push_str(&token);
        tokens.push('\n');
    }
    std::fs::write(dir.join("tokens"), tokens)?;
    std::fs::write(dir.join("client-secret"), INTROSPECTION_CLIENT_SECRET)?;
    let upstream = TcpListener::bind("127.0.0.1:0").await?;
    print_line(&format!(
        "{} {} {} {AUDIENCE} {CLIENT_ID}",
        upstream.local_addr()?,
        issuer.url(),
        issuer.introspection_url()
    ))?;
    serve(upstream, Bytes::from_static(b"{\"ok\":true}\n")).await;
    drop(issuer);
    Ok(())
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.as_slice() {
        [] => {}
        [mode, count, dir] if mode == "opaque" => {
            return opaque(count.parse()?, Path::new(dir)).await;
        }
        _ => return Err("usage: load-fixture [opaque COUNT DIR]".into()),
    }
    let key = SigningKey::generate(SigningAlgorithm::ES256);
    let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
    let token = key
        .token()
        .standard_claims(ISSUER, AUDIENCE, now)
        .claim("scope", "read")
        .claim("exp", now + 3600)
        .sign();
    let upstream = TcpListener::bind("127.0.0.1:0").await?;
    let jwks_listener = TcpListener::bind("127.0.0.1:0").await?;
    let line = format!(
        "{} {} {ISSUER} {AUDIENCE} {token}",
        upstream.local_addr()?,
        jwks_listener.local_addr()?
    );
    print_line(&line)?;
    tokio::spawn(serve(jwks_listener, Bytes::from(jwks([&key]).to_string())));
    serve(upstream, Bytes::from_static(b"{\"ok\":true}\n")).await;
    Ok(())
}
