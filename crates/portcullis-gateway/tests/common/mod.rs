//! Test fixtures: a JWKS issuer that can be switched off, an upstream that echoes what it
//! received (HTTP/1.1, h2c and gRPC) and can hold a request, and the gateway binary.

#![allow(
    dead_code,
    unreachable_pub,
    missing_debug_implementations,
    clippy::unwrap_used
)]

use std::convert::Infallible;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::{HeaderMap, Request, Response, StatusCode};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use portcullis_testkit::{SigningAlgorithm, SigningKey, jwks};
use tokio::net::TcpListener;
use tokio::sync::{Notify, Semaphore};

pub const ISSUER: &str = "https://issuer.test";
pub const AUDIENCE: &str = "https://api.test";

pub type TestBody = BoxBody<Bytes, Infallible>;

pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn full(bytes: impl Into<Bytes>) -> TestBody {
    Full::new(bytes.into()).boxed()
}

async fn serve<F, Fut>(handler: F) -> SocketAddr
where
    F: Fn(Request<Incoming>) -> Fut + Clone + Send + Sync + 'static,
    Fut: std::future::Future<Output = Response<TestBody>> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let handler = handler.clone();
            tokio::spawn(async move {
                let service = service_fn(move |req| {
                    let handler = handler.clone();
                    async move { Ok::<_, Infallible>(handler(req).await) }
                });
                let _ = auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    addr
}

/// A JWKS endpoint at `/jwks`, answering 503 while down.
pub struct Issuer {
    pub key: SigningKey,
    pub addr: SocketAddr,
    up: Arc<AtomicBool>,
    pub fetches: Arc<AtomicUsize>,
    pub name: &'static str,
}

impl Issuer {
    pub async fn start(up: bool) -> Issuer {
        Issuer::start_as(up, ISSUER).await
    }

    pub async fn start_as(up: bool, name: &'static str) -> Issuer {
        let key = SigningKey::generate(SigningAlgorithm::ES256);
        let document = Bytes::from(jwks([&key]).to_string());
        let up = Arc::new(AtomicBool::new(up));
        let fetches = Arc::new(AtomicUsize::new(0));
        let (flag, count) = (up.clone(), fetches.clone());
        let addr = serve(move |_req| {
            let (flag, count, document) = (flag.clone(), count.clone(), document.clone());
            async move {
                count.fetch_add(1, Ordering::SeqCst);
                if flag.load(Ordering::SeqCst) {
                    Response::builder()
                        .header("content-type", "application/json")
                        .body(full(document))
                        .unwrap()
                } else {
                    Response::builder()
                        .status(StatusCode::SERVICE_UNAVAILABLE)
                        .body(full("down"))
                        .unwrap()
                }
            }
        })
        .await;
        Issuer {
            key,
            addr,
            up,
            fetches,
            name,
        }
    }

    pub fn set_up(&self, up: bool) {
        self.up.store(up, Ordering::SeqCst);
    }

    pub fn jwks_uri(&self) -> String {
        format!("http://{}/jwks", self.addr)
    }

    /// A valid token with `scope`, plus extra claims.
    pub fn token(&self, scope: &str, extra: &[(&str, serde_json::Value)]) -> String {
        let mut builder = self
            .key
            .token()
            .standard_claims(self.name, AUDIENCE, now())
            .claim("scope", scope);
        for (name, value) in extra {
            builder = builder.claim(name, value.clone());
        }
        builder.sign()
    }
}

/// Echoes the request as JSON (`method`, `path`, `version`, `headers`); gRPC requests get
/// a gRPC answer with `grpc-status: 0` in the trailers. `/hold` waits for [`Upstream::release`].
pub struct Upstream {
    pub addr: SocketAddr,
    pub held: Arc<Notify>,
    release: Arc<Semaphore>,
}

pub fn headers_json(headers: &HeaderMap) -> serde_json::Value {
    let mut map = serde_json::Map::new();
    for name in headers.keys() {
        let values: Vec<String> = headers
            .get_all(name)
            .iter()
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .collect();
        map.insert(name.to_string(), values.join(" | ").into());
    }
    serde_json::Value::Object(map)
}

impl Upstream {
    pub async fn start() -> Upstream {
        let held = Arc::new(Notify::new());
        let release = Arc::new(Semaphore::new(0));
        let (h, r) = (held.clone(), release.clone());
        let addr = serve(move |req: Request<Incoming>| {
            let (held, release) = (h.clone(), r.clone());
            async move {
                if req.uri().path() == "/hold" {
                    held.notify_one();
                    release.acquire().await.unwrap().forget();
                }
                let echo = serde_json::json!({
                    "method": req.method().as_str(),
                    "path": req.uri().path_and_query().map(|p| p.as_str()),
                    "version": format!("{:?}", req.version()),
                    "headers": headers_json(req.headers()),
                });
                let grpc = req
                    .headers()
                    .get("content-type")
                    .is_some_and(|v| v.as_bytes().starts_with(b"application/grpc"));
                let version = format!("{:?}", req.version());
                let body = req.into_body().collect().await.unwrap().to_bytes();
                if grpc {
                    let mut trailers = HeaderMap::new();
                    trailers.insert("grpc-status", "0".parse().unwrap());
                    trailers.insert("x-echo-len", body.len().to_string().parse().unwrap());
                    trailers.insert("x-echo-version", version.parse().unwrap());
                    Response::builder()
                        .header("content-type", "application/grpc")
                        .body(
                            Full::new(body)
                                .with_trailers(async move { Some(Ok(trailers)) })
                                .boxed(),
                        )
                        .unwrap()
                } else {
                    Response::builder()
                        .header("content-type", "application/json")
                        .body(full(echo.to_string()))
                        .unwrap()
                }
            }
        })
        .await;
        Upstream {
            addr,
            held,
            release,
        }
    }

    pub fn release(&self) {
        self.release.add_permits(1);
    }
}

/// The gateway binary, started on `127.0.0.1:0` with a config in a temp dir.
pub struct Gateway {
    pub child: Child,
    pub addr: SocketAddr,
    pub operations: Option<SocketAddr>,
    stdout: BufReader<ChildStdout>,
    _dir: tempfile::TempDir,
}

pub fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_portcullis-gateway")
}

impl Gateway {
    pub fn start(config: &str) -> Gateway {
        Gateway::start_with_env(config, &[])
    }

    pub fn start_with_env(config: &str, env: &[(&str, &str)]) -> Gateway {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gateway.toml");
        std::fs::write(&path, config).unwrap();
        let mut child = Command::new(binary())
            .args(["run", "--config"])
            .arg(&path)
            .envs(env.iter().copied())
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        let event: serde_json::Value = serde_json::from_str(&line)
            .unwrap_or_else(|_| panic!("the first line is the listening event: {line:?}"));
        assert_eq!(event["event"], "listening");
        let addr = event["listeners"][0].as_str().unwrap().parse().unwrap();
        let operations = event["operations"].as_str().map(|a| a.parse().unwrap());
        Gateway {
            child,
            addr,
            operations,
            stdout,
            _dir: dir,
        }
    }

    /// Blocks until the next stdout event line.
    pub fn next_event(&mut self) -> serde_json::Value {
        let mut line = String::new();
        self.stdout.read_line(&mut line).unwrap();
        serde_json::from_str(&line).unwrap_or_else(|_| panic!("an event line: {line:?}"))
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A config with the given issuer and the standard test routes appended to `extra`.
pub fn config(issuer: &Issuer, upstream: &Upstream, extra: &str) -> String {
    format!(
        r#"
[server]
listen = ["127.0.0.1:0"]
realm = "test"
shutdown_grace = "20s"

[upstream]
url = "http://{upstream}"

[limits]
max_request_body_bytes = 1024
request_timeout = "20s"

[[issuers]]
issuer = "{ISSUER}"
audiences = ["{AUDIENCE}"]
jwks_uri = "{jwks}"
algorithms = ["ES256"]
jwks_retry = "50ms"

{extra}
"#,
        upstream = upstream.addr,
        jwks = issuer.jwks_uri(),
    )
}

pub struct Http {
    client: Client<HttpConnector, TestBody>,
}

pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
    pub trailers: Option<HeaderMap>,
}

impl Answer {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap()
    }

    pub fn header(&self, name: &str) -> &str {
        self.headers.get(name).map_or("", |v| v.to_str().unwrap())
    }
}

impl Http {
    pub fn http1() -> Http {
        Http {
            client: Client::builder(TokioExecutor::new()).build_http(),
        }
    }

    pub fn http2() -> Http {
        Http {
            client: Client::builder(TokioExecutor::new())
                .http2_only(true)
                .build_http(),
        }
    }

    pub async fn send(&self, request: Request<TestBody>) -> Answer {
        let response = tokio::time::timeout(Duration::from_secs(30), self.client.request(request))
            .await
            .expect("the gateway answers")
            .expect("a response");
        let (parts, body) = response.into_parts();
        let collected = body.collect().await.unwrap();
        let trailers = collected.trailers().cloned();
        Answer {
            status: parts.status,
            headers: parts.headers,
            body: collected.to_bytes(),
            trailers,
        }
    }

    pub async fn get(&self, url: &str, token: Option<&str>, headers: &[(&str, &str)]) -> Answer {
        self.call("GET", url, token, headers).await
    }

    pub async fn call(
        &self,
        method: &str,
        url: &str,
        token: Option<&str>,
        headers: &[(&str, &str)],
    ) -> Answer {
        let mut builder = Request::builder().method(method).uri(url);
        if let Some(token) = token {
            builder = builder.header("authorization", format!("Bearer {token}"));
        }
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        self.send(builder.body(Empty::new().boxed()).unwrap()).await
    }
}
