//! Load-test fixture for `scripts/load-gateway`: a minimal upstream and a JWKS endpoint
//! on loopback, and a token for them. Prints one shell-readable line
//! (`UPSTREAM JWKS ISSUER AUDIENCE TOKEN`), then serves until killed.

use std::convert::Infallible;
use std::io::Write as _;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::Response;
use http_body_util::Full;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use portcullis_testkit::{SigningAlgorithm, SigningKey, jwks};
use tokio::net::TcpListener;

const ISSUER: &str = "https://load-issuer.test";
const AUDIENCE: &str = "https://load-api.test";

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

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
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
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "{line}")?;
        out.flush()?;
    }
    tokio::spawn(serve(jwks_listener, Bytes::from(jwks([&key]).to_string())));
    serve(upstream, Bytes::from_static(b"{\"ok\":true}\n")).await;
    Ok(())
}
