//! Shared by the integration tests: a testkit key, tokens, a verifier on a manual clock,
//! servers on 127.0.0.1:0 and a raw HTTP/1.1 client that can send what real clients
//! would not (repeated headers, non-ASCII bytes).
#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

use std::future::Ready;
use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::Duration;

use portcullis::{Claims, JwtVerifier, KeySet, Validation, Verification, Verifier, VerifyError};
use portcullis_jwt::ManualClock;
use portcullis_testkit::{SigningAlgorithm, SigningKey, jwks};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

pub const ISSUER: &str = "https://issuer.test";
pub const AUDIENCE: &str = "https://api.test";
pub const NOW: u64 = 1_700_000_000;

pub fn key() -> &'static SigningKey {
    static KEY: OnceLock<SigningKey> = OnceLock::new();
    KEY.get_or_init(|| SigningKey::generate(SigningAlgorithm::ES256))
}

/// A verifier for [`key`], with time frozen at [`NOW`].
pub fn verifier() -> JwtVerifier {
    let validation = Validation::builder()
        .issuer(ISSUER)
        .audience(AUDIENCE)
        .build()
        .unwrap();
    let keys = KeySet::from_jwks(&serde_json::to_vec(&jwks([key()])).unwrap()).unwrap();
    JwtVerifier::with_static_keys(validation, keys).with_clock(ManualClock::at_unix(NOW))
}

/// A valid token granting `scope`.
pub fn token(scope: &str) -> String {
    key()
        .token()
        .standard_claims(ISSUER, AUDIENCE, NOW)
        .claim("scope", scope)
        .sign()
}

/// A verifier whose issuer is down.
#[derive(Clone, Debug)]
pub struct Down;

impl Verifier for Down {
    type Future = Ready<Result<Claims, VerifyError>>;

    fn verify(&self, _token: &str) -> Verification<Self::Future> {
        Verification::Done(Err(VerifyError::unavailable(
            "issuer unreachable",
            Duration::from_secs(7),
        )))
    }
}

pub async fn serve_axum(router: axum::Router) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    addr
}

#[derive(Debug)]
pub struct RawResponse {
    pub status: u16,
    pub headers: Vec<(String, Vec<u8>)>,
    pub body: String,
}

impl RawResponse {
    /// The single value of header `name` (lower-case), as text.
    pub fn header(&self, name: &str) -> Option<String> {
        let mut values = self.headers.iter().filter(|(n, _)| n == name);
        let value = values.next()?;
        assert!(values.next().is_none(), "{name} repeated");
        Some(String::from_utf8(value.1.clone()).unwrap())
    }

    pub fn challenge(&self) -> String {
        self.header("www-authenticate").expect("a challenge")
    }
}

/// Sends `GET path` with `extra` header lines (each without CRLF) and reads the response.
pub async fn request(addr: SocketAddr, path: &str, extra: &[&[u8]]) -> RawResponse {
    let mut request =
        format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n").into_bytes();
    for line in extra {
        request.extend_from_slice(line);
        request.extend_from_slice(b"\r\n");
    }
    request.extend_from_slice(b"\r\n");
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(&request).await.unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.unwrap();
    parse(&raw)
}

/// `GET path` with `Authorization: Bearer <token>`.
pub async fn get_with_token(addr: SocketAddr, path: &str, token: &str) -> RawResponse {
    request(
        addr,
        path,
        &[format!("Authorization: Bearer {token}").as_bytes()],
    )
    .await
}

pub fn parse(raw: &[u8]) -> RawResponse {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a complete response head");
    let head = &raw[..end];
    let body = String::from_utf8_lossy(&raw[end + 4..]).into_owned();
    let mut lines = head.split(|&b| b == b'\n');
    let status_line = String::from_utf8_lossy(lines.next().unwrap()).into_owned();
    let status = status_line.split(' ').nth(1).unwrap().parse().unwrap();
    let headers = lines
        .map(|line| {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            let colon = line.iter().position(|&b| b == b':').unwrap();
            let name = String::from_utf8_lossy(&line[..colon]).to_ascii_lowercase();
            (name, line[colon + 1..].trim_ascii().to_vec())
        })
        .collect();
    RawResponse {
        status,
        headers,
        body,
    }
}
