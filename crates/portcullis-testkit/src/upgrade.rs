//! Protocol upgrades for tests: an upstream that accepts WebSocket handshakes and then
//! echoes bytes, and a raw client that performs the handshake and hands back the socket.

use std::convert::Infallible;
use std::fmt;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Request, Response, StatusCode, header};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

use crate::raw_client::RawResponse;
use crate::server::TestServer;

/// RFC 6455 §1.3: what a server appends to the key before hashing it.
const WEBSOCKET_GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// The `Sec-WebSocket-Accept` answering `key` (RFC 6455 §4.2.2).
pub fn websocket_accept(key: &[u8]) -> String {
    let mut input = key.to_vec();
    input.extend_from_slice(WEBSOCKET_GUID.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(openssl::sha::sha1(&input))
}

/// An upstream on `127.0.0.1` (a free port) that switches every WebSocket handshake
/// (`Upgrade: websocket` with a `Sec-WebSocket-Key`) to an echo of raw bytes: whatever
/// the client sends after the `101` comes back unchanged, until the client closes its
/// side. Anything else gets `426 Upgrade Required`. Stops when dropped.
///
/// The headers of the last handshake are kept ([`UpgradeEcho::last_handshake`]), to
/// check what a proxy sent on.
pub struct UpgradeEcho {
    server: TestServer,
    last: Arc<Mutex<Option<HeaderMap>>>,
}

impl UpgradeEcho {
    /// Starts the upstream on the current Tokio runtime.
    ///
    /// # Panics
    /// As [`TestServer::start`].
    pub async fn start() -> UpgradeEcho {
        let last = Arc::new(Mutex::new(None));
        let seen = last.clone();
        let server = TestServer::start(service_fn(move |request| {
            let seen = seen.clone();
            async move { Ok::<_, Infallible>(switch(request, &seen)) }
        }))
        .await;
        UpgradeEcho { server, last }
    }

    /// The socket address served.
    pub fn addr(&self) -> SocketAddr {
        self.server.addr()
    }

    /// The headers of the last WebSocket handshake received, if any.
    ///
    /// # Panics
    /// If a handshake panicked while recording.
    pub fn last_handshake(&self) -> Option<HeaderMap> {
        self.last.lock().expect("not poisoned").clone()
    }
}

impl fmt::Debug for UpgradeEcho {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UpgradeEcho")
            .field("addr", &self.addr())
            .finish_non_exhaustive()
    }
}

fn switch(
    mut request: Request<Incoming>,
    seen: &Mutex<Option<HeaderMap>>,
) -> Response<Full<Bytes>> {
    let websocket = request
        .headers()
        .get(header::UPGRADE)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"websocket"));
    let key = request.headers().get(header::SEC_WEBSOCKET_KEY).cloned();
    let (true, Some(key)) = (websocket, key) else {
        let mut response = Response::new(Full::new(Bytes::from_static(b"upgrade required\n")));
        *response.status_mut() = StatusCode::UPGRADE_REQUIRED;
        return response;
    };
    if let Ok(mut last) = seen.lock() {
        *last = Some(request.headers().clone());
    }
    let upgrade = hyper::upgrade::on(&mut request);
    tokio::spawn(async move {
        let Ok(upgraded) = upgrade.await else { return };
        let (mut reader, mut writer) = tokio::io::split(TokioIo::new(upgraded));
        let _ = tokio::io::copy(&mut reader, &mut writer).await;
        let _ = writer.shutdown().await;
    });
    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let headers = response.headers_mut();
    headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    if let Ok(accept) = HeaderValue::try_from(websocket_accept(key.as_bytes())) {
        headers.insert(header::SEC_WEBSOCKET_ACCEPT, accept);
    }
    response
}

/// Sends a WebSocket handshake for `path` to `addr`, with `extra` header lines (each
/// without its CRLF), and reads the response head and any body its `Content-Length`
/// announces. Returns the response and the socket: after a `101`, the switched
/// connection.
///
/// # Panics
/// If the connection fails or the response cannot be parsed (see [`RawResponse::parse`]).
pub async fn raw_websocket_handshake(
    addr: SocketAddr,
    path: &str,
    extra: &[&[u8]],
) -> (RawResponse, TcpStream) {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    let mut request = format!(
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    )
    .into_bytes();
    for line in extra {
        request.extend_from_slice(line);
        request.extend_from_slice(b"\r\n");
    }
    request.extend_from_slice(b"\r\n");
    stream
        .write_all(&request)
        .await
        .expect("send the handshake");
    // Byte by byte up to the blank line, so nothing after the head is consumed.
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let byte = stream.read_u8().await.expect("a complete response head");
        head.push(byte);
    }
    let mut response = RawResponse::parse(&head);
    let length = response
        .header("content-length")
        .and_then(|l| l.parse::<usize>().ok())
        .unwrap_or(0);
    if response.status != 101 && length > 0 {
        let mut body = vec![0; length];
        stream.read_exact(&mut body).await.expect("the body");
        response.body = String::from_utf8_lossy(&body).into_owned();
    }
    (response, stream)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rfc_6455_example_key() {
        assert_eq!(
            websocket_accept(b"dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }

    #[tokio::test]
    async fn handshakes_then_echoes() {
        let echo = UpgradeEcho::start().await;
        let (response, mut socket) = raw_websocket_handshake(echo.addr(), "/ws", &[]).await;
        assert_eq!(response.status, 101);
        assert_eq!(
            response.header("sec-websocket-accept").as_deref(),
            Some("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
        );
        socket.write_all(b"ping").await.unwrap();
        let mut back = [0; 4];
        socket.read_exact(&mut back).await.unwrap();
        assert_eq!(&back, b"ping");
        socket.shutdown().await.unwrap();
        assert_eq!(socket.read(&mut back).await.unwrap(), 0);
        assert!(echo.last_handshake().is_some());
    }
}
