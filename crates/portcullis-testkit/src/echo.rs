//! An upstream that echoes what it received, for testing what a proxy forwards.

use std::convert::Infallible;
use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Request, Response};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt as _, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use serde_json::Value;
use tokio::sync::{Notify, Semaphore};

use crate::server::TestServer;

/// An upstream on `127.0.0.1` (a free port, HTTP/1.1 and h2c) that answers every request
/// with what it received, until dropped.
///
/// - Plain requests get `application/json`: `method`, `path` (with the query),
///   `version` (`"HTTP/1.1"`, `"HTTP/2.0"`) and `headers` (see [`headers_json`]).
/// - gRPC requests (`content-type: application/grpc...`) get their body back as a gRPC
///   answer, with trailers `grpc-status: 0`, `x-echo-len` (the body's length) and
///   `x-echo-version`.
/// - `/hold` announces itself on [`EchoUpstream::held`] and waits for
///   [`EchoUpstream::release`] before answering, to keep a request in flight.
pub struct EchoUpstream {
    server: TestServer,
    held: Arc<Notify>,
    release: Arc<Semaphore>,
}

impl EchoUpstream {
    /// Starts the upstream on the current Tokio runtime.
    ///
    /// # Panics
    /// As [`TestServer::start`].
    pub async fn start() -> EchoUpstream {
        EchoUpstream::serve(None).await
    }

    /// As [`EchoUpstream::start`], over TLS with `config` (see
    /// [`TestCertificate::server_config`](crate::tls::TestCertificate::server_config)).
    ///
    /// # Panics
    /// As [`TestServer::start`].
    pub async fn start_tls(config: rustls::ServerConfig) -> EchoUpstream {
        EchoUpstream::serve(Some(config)).await
    }

    async fn serve(tls: Option<rustls::ServerConfig>) -> EchoUpstream {
        let held = Arc::new(Notify::new());
        let release = Arc::new(Semaphore::new(0));
        let (h, r) = (held.clone(), release.clone());
        let service = service_fn(move |request| {
            let (held, release) = (h.clone(), r.clone());
            async move { Ok::<_, Infallible>(echo(request, &held, &release).await) }
        });
        let server = match tls {
            None => TestServer::start(service).await,
            Some(config) => TestServer::start_tls(service, config).await,
        };
        EchoUpstream {
            server,
            held,
            release,
        }
    }

    /// The socket address served.
    pub fn addr(&self) -> SocketAddr {
        self.server.addr()
    }

    /// `http://` and the socket address.
    pub fn url(&self) -> String {
        self.server.url()
    }

    /// Notified when a `/hold` request arrives (a stored permit if nobody waits yet).
    pub fn held(&self) -> &Notify {
        &self.held
    }

    /// Lets one `/hold` request (waiting now or arriving later) answer.
    pub fn release(&self) {
        self.release.add_permits(1);
    }
}

impl fmt::Debug for EchoUpstream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EchoUpstream")
            .field("addr", &self.addr())
            .finish_non_exhaustive()
    }
}

/// Headers as a JSON object: each name once, its values joined with `" | "`.
pub fn headers_json(headers: &HeaderMap) -> Value {
    let mut map = serde_json::Map::new();
    for name in headers.keys() {
        let values: Vec<String> = headers
            .get_all(name)
            .iter()
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .collect();
        map.insert(name.to_string(), values.join(" | ").into());
    }
    Value::Object(map)
}

async fn echo(
    request: Request<Incoming>,
    held: &Notify,
    release: &Semaphore,
) -> Response<BoxBody<Bytes, Infallible>> {
    if request.uri().path() == "/hold" {
        held.notify_one();
        // The semaphore is never closed: it lives as long as the server.
        if let Ok(permit) = release.acquire().await {
            permit.forget();
        }
    }
    let version = format!("{:?}", request.version());
    let described = serde_json::json!({
        "method": request.method().as_str(),
        "path": request.uri().path_and_query().map(|p| p.as_str()),
        "version": version,
        "headers": headers_json(request.headers()),
    });
    let grpc = request
        .headers()
        .get(http::header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/grpc"));
    // A body cut short is echoed as far as it came.
    let body = request
        .into_body()
        .collect()
        .await
        .map(|collected| collected.to_bytes())
        .unwrap_or_default();
    if grpc {
        let mut trailers = HeaderMap::new();
        trailers.insert("grpc-status", HeaderValue::from_static("0"));
        trailers.insert("x-echo-len", HeaderValue::from(body.len()));
        if let Ok(value) = HeaderValue::from_str(&version) {
            trailers.insert("x-echo-version", value);
        }
        let mut response = Response::new(
            Full::new(body)
                .with_trailers(async move { Some(Ok(trailers)) })
                .boxed(),
        );
        response.headers_mut().insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/grpc"),
        );
        response
    } else {
        let mut response = Response::new(Full::new(Bytes::from(described.to_string())).boxed());
        response.headers_mut().insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        response
    }
}
