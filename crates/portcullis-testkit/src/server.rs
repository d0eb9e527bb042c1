//! An HTTP server on `127.0.0.1` for tests: the accept loop every local server shares.

use std::error::Error as StdError;
use std::fmt;
use std::net::SocketAddr;

use http::{Request, Response};
use hyper::body::{Body, Incoming};
use hyper::service::Service;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// Serves a hyper [`Service`] on `127.0.0.1` (a free port), HTTP/1.1 and h2c on the same
/// port, until dropped: dropping it stops the accept loop and closes every connection.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use std::convert::Infallible;
///
/// use bytes::Bytes;
/// use http::Response;
/// use http_body_util::Full;
/// use hyper::service::service_fn;
/// use portcullis_testkit::{TestServer, raw_get};
///
/// let server = TestServer::start(service_fn(|_request| async {
///     Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"hello"))))
/// }))
/// .await;
/// let response = raw_get(server.addr(), "/", &[]).await;
/// assert_eq!((response.status, response.body.as_str()), (200, "hello"));
/// # }
/// ```
pub struct TestServer {
    addr: SocketAddr,
    task: JoinHandle<()>,
}

impl TestServer {
    /// Binds `127.0.0.1:0` and serves `service` on the current Tokio runtime. A service
    /// error closes that connection without an answer (how to inject a dropped
    /// connection).
    ///
    /// # Panics
    /// Outside a Tokio runtime, or if the loopback address cannot be bound.
    pub async fn start<S, B>(service: S) -> TestServer
    where
        S: Service<Request<Incoming>, Response = Response<B>> + Clone + Send + 'static,
        S::Future: Send + 'static,
        S::Error: Into<Box<dyn StdError + Send + Sync>>,
        B: Body + Send + 'static,
        B::Data: Send,
        B::Error: Into<Box<dyn StdError + Send + Sync>>,
    {
        TestServer::serve(service, None).await
    }

    /// As [`TestServer::start`], over TLS with `config` (its ALPN list decides whether
    /// HTTP/2 is offered); [`TestServer::url`] is then still `http://`: use
    /// [`TestServer::addr`] with `https://`.
    ///
    /// # Panics
    /// As [`TestServer::start`].
    pub async fn start_tls<S, B>(service: S, config: rustls::ServerConfig) -> TestServer
    where
        S: Service<Request<Incoming>, Response = Response<B>> + Clone + Send + 'static,
        S::Future: Send + 'static,
        S::Error: Into<Box<dyn StdError + Send + Sync>>,
        B: Body + Send + 'static,
        B::Data: Send,
        B::Error: Into<Box<dyn StdError + Send + Sync>>,
    {
        let acceptor = tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config));
        TestServer::serve(service, Some(acceptor)).await
    }

    async fn serve<S, B>(service: S, tls: Option<tokio_rustls::TlsAcceptor>) -> TestServer
    where
        S: Service<Request<Incoming>, Response = Response<B>> + Clone + Send + 'static,
        S::Future: Send + 'static,
        S::Error: Into<Box<dyn StdError + Send + Sync>>,
        B: Body + Send + 'static,
        B::Data: Send,
        B::Error: Into<Box<dyn StdError + Send + Sync>>,
    {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let addr = listener
            .local_addr()
            .expect("a bound socket has an address");
        // Connections live in the set, so aborting the accept loop closes them all.
        let task = tokio::spawn(async move {
            let mut connections = tokio::task::JoinSet::new();
            loop {
                tokio::select! {
                    accepted = listener.accept() => {
                        let Ok((stream, _)) = accepted else { continue };
                        let service = service.clone();
                        let tls = tls.clone();
                        connections.spawn(async move {
                            let builder = auto::Builder::new(TokioExecutor::new());
                            // Errors are closed connections, injected or not.
                            match tls {
                                None => {
                                    let _ = builder
                                        .serve_connection_with_upgrades(TokioIo::new(stream), service)
                                        .await;
                                }
                                Some(tls) => {
                                    let Ok(stream) = tls.accept(stream).await else { return };
                                    let _ = builder
                                        .serve_connection_with_upgrades(TokioIo::new(stream), service)
                                        .await;
                                }
                            }
                        });
                    }
                    Some(_) = connections.join_next(), if !connections.is_empty() => {}
                }
            }
        });
        TestServer { addr, task }
    }

    /// The socket address served.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://` and the socket address, with no trailing slash.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl fmt::Debug for TestServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestServer")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}
