//! A raw HTTP/1.1 client over a `TcpStream`, for requests real clients would not send
//! (repeated headers, non-ASCII bytes, malformed lines) and for reading responses as
//! they are on the wire.

use std::net::SocketAddr;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

/// A response as read off the wire: status, headers in order (names lower-cased,
/// values as bytes, repeats kept) and the body as text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawResponse {
    /// The status code.
    pub status: u16,
    /// Every header line in order: the name lower-cased, the value trimmed, as bytes.
    pub headers: Vec<(String, Vec<u8>)>,
    /// The body, with invalid UTF-8 replaced.
    pub body: String,
}

impl RawResponse {
    /// Parses a complete HTTP/1.1 response (head and body, as read to the end of a
    /// `Connection: close` exchange). Chunked bodies are left as they are.
    ///
    /// # Panics
    /// If `raw` has no complete head, no status code or a header line without a colon.
    pub fn parse(raw: &[u8]) -> RawResponse {
        let end = raw
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .expect("a complete response head");
        let head = &raw[..end];
        let body = String::from_utf8_lossy(&raw[end + 4..]).into_owned();
        let mut lines = head.split(|&b| b == b'\n');
        let status_line = String::from_utf8_lossy(lines.next().unwrap_or_default()).into_owned();
        let status = status_line
            .split(' ')
            .nth(1)
            .and_then(|code| code.parse().ok())
            .unwrap_or_else(|| panic!("a status code in {status_line:?}"));
        let headers = lines
            .map(|line| {
                let line = line.strip_suffix(b"\r").unwrap_or(line);
                let colon = line
                    .iter()
                    .position(|&b| b == b':')
                    .expect("a colon in every header line");
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

    /// The single value of header `name` (lower-case), as text; `None` if absent.
    ///
    /// # Panics
    /// If the header is repeated or its value is not UTF-8.
    pub fn header(&self, name: &str) -> Option<String> {
        let mut values = self.headers.iter().filter(|(n, _)| n == name);
        let value = values.next()?;
        assert!(values.next().is_none(), "{name} repeated");
        Some(String::from_utf8(value.1.clone()).expect("a UTF-8 header value"))
    }

    /// The single `WWW-Authenticate` value.
    ///
    /// # Panics
    /// If there is none, or more than one.
    pub fn challenge(&self) -> String {
        self.header("www-authenticate").expect("a challenge")
    }
}

/// Sends `GET path` to `addr` with `extra` header lines (each without its CRLF, any
/// bytes at all) and reads the whole response (`Connection: close`).
///
/// # Panics
/// If the connection fails or the response cannot be parsed (see [`RawResponse::parse`]).
pub async fn raw_get(addr: SocketAddr, path: &str, extra: &[&[u8]]) -> RawResponse {
    let mut request =
        format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n").into_bytes();
    for line in extra {
        request.extend_from_slice(line);
        request.extend_from_slice(b"\r\n");
    }
    request.extend_from_slice(b"\r\n");
    raw_exchange(addr, &request).await
}

/// Sends `request` to `addr` exactly as given (the whole message: request line, headers,
/// blank line and any body) and reads the response until the server closes the
/// connection, so `request` should say `Connection: close`.
///
/// # Panics
/// If the connection fails or the response cannot be parsed (see [`RawResponse::parse`]).
pub async fn raw_exchange(addr: SocketAddr, request: &[u8]) -> RawResponse {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    stream.write_all(request).await.expect("send the request");
    let mut raw = Vec::new();
    stream
        .read_to_end(&mut raw)
        .await
        .expect("read the response");
    RawResponse::parse(&raw)
}

/// `GET path` with `Authorization: Bearer <token>` (see [`raw_get`]).
///
/// # Panics
/// As [`raw_get`].
pub async fn raw_get_with_token(addr: SocketAddr, path: &str, token: &str) -> RawResponse {
    raw_get(
        addr,
        path,
        &[format!("Authorization: Bearer {token}").as_bytes()],
    )
    .await
}
