//! Test fixtures: the testkit's issuer (fault injection, request counts) and echo
//! upstream, the gateway binary, and an HTTP/1.1 and h2c client.

#![allow(
    dead_code,
    unreachable_pub,
    missing_debug_implementations,
    clippy::unwrap_used,
    clippy::print_stderr
)]

use std::convert::Infallible;
use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Request, StatusCode};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
pub use portcullis_testkit::fixture::AUDIENCE;
use portcullis_testkit::fixture::unix_now;
use portcullis_testkit::{EchoUpstream, SigningAlgorithm, SigningKey, TestIssuer, jwks};

pub type TestBody = BoxBody<Bytes, Infallible>;

/// The JWK Set of `keys`, written to `keys.json` in `dir`, for a `jwks_file` setting.
pub fn write_jwks<'k>(dir: &Path, keys: impl IntoIterator<Item = &'k SigningKey>) -> PathBuf {
    let path = dir.join("keys.json");
    std::fs::write(&path, jwks(keys).to_string()).unwrap();
    path
}

/// A test issuer signing with ES256, the algorithm the standard config allows.
pub async fn es256_issuer() -> TestIssuer {
    TestIssuer::builder()
        .algorithm(SigningAlgorithm::ES256)
        .start()
        .await
}

/// A valid token from `issuer` for [`AUDIENCE`], issued now, with `scope` and `extra`
/// claims.
pub fn token_for(issuer: &TestIssuer, scope: &str, extra: &[(&str, serde_json::Value)]) -> String {
    issuer.mint_with(AUDIENCE, unix_now(), |mut token| {
        token = token.claim("scope", scope);
        for (name, value) in extra {
            token = token.claim(name, value.clone());
        }
        token
    })
}

/// The gateway binary, started on `127.0.0.1:0` with a config in a temp dir.
pub struct Gateway {
    pub child: Child,
    /// The first proxy listener (unspecified, port 0, when there is none).
    pub addr: SocketAddr,
    /// The TLS listeners (`[[server.tls]]`).
    pub tls: Vec<SocketAddr>,
    pub operations: Option<SocketAddr>,
    /// The first decision listener, with `[decision] listen`.
    pub decision: Option<SocketAddr>,
    /// The first Envoy ext_authz gRPC listener, with `[decision] grpc_listen`.
    pub decision_grpc: Option<SocketAddr>,
    /// Stdout lines, read by a thread so that waiting for one can time out.
    stdout: std::sync::mpsc::Receiver<String>,
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
        Gateway::start_with(config, |command| command.envs(env.iter().copied()))
    }

    /// The binary logging at warn to the test's stderr, unless `options` says otherwise;
    /// `options` may also add global options (they come before `run`).
    pub fn start_with(config: &str, options: impl FnOnce(&mut Command) -> &mut Command) -> Gateway {
        Gateway::start_running(config, options, &[])
    }

    /// The binary comparing its config file with what it loaded every `seconds` (0:
    /// only on SIGHUP), so a test's own reloads are the only ones.
    pub fn start_watching(config: &str, seconds: u64) -> Gateway {
        Gateway::start_watching_with_env(config, seconds, &[])
    }

    /// [`Gateway::start_watching`] with environment variables (secrets named by `_env`
    /// keys).
    pub fn start_watching_with_env(config: &str, seconds: u64, env: &[(&str, &str)]) -> Gateway {
        let seconds = seconds.to_string();
        Gateway::start_running(
            config,
            |command| command.envs(env.iter().copied()),
            &["--watch-config", &seconds],
        )
    }

    fn start_running(
        config: &str,
        options: impl FnOnce(&mut Command) -> &mut Command,
        run_options: &[&str],
    ) -> Gateway {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gateway.toml");
        std::fs::write(&path, config).unwrap();
        let mut command = Command::new(binary());
        command.env("RUST_LOG", "warn").stderr(Stdio::inherit());
        let mut child = options(&mut command)
            .args(["run", "--config"])
            .arg(&path)
            .args(run_options)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut reader = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        let (lines, stdout) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in reader.lines() {
                let Ok(line) = line else { return };
                if lines.send(line).is_err() {
                    return;
                }
            }
        });
        let event: serde_json::Value = serde_json::from_str(&line)
            .unwrap_or_else(|_| panic!("the first line is the listening event: {line:?}"));
        assert_eq!(event["event"], "listening");
        // Unspecified (port 0) for a decision-only gateway, which has no proxy listener.
        let addr = event["listeners"][0]
            .as_str()
            .map_or(SocketAddr::from(([0, 0, 0, 0], 0)), |a| a.parse().unwrap());
        let operations = event["operations"].as_str().map(|a| a.parse().unwrap());
        let decision = event["decision"][0].as_str().map(|a| a.parse().unwrap());
        let tls = event["tls"]
            .as_array()
            .map(|list| {
                list.iter()
                    .map(|a| a.as_str().unwrap().parse().unwrap())
                    .collect()
            })
            .unwrap_or_default();
        let decision_grpc = event["decision_grpc"][0]
            .as_str()
            .map(|a| a.parse().unwrap());
        Gateway {
            child,
            addr,
            tls,
            operations,
            decision,
            decision_grpc,
            stdout,
            _dir: dir,
        }
    }

    /// Blocks until the next stdout event line.
    pub fn next_event(&mut self) -> serde_json::Value {
        // A bound on a wait for an event, not a delay: events come in milliseconds.
        let line = self
            .stdout
            .recv_timeout(Duration::from_secs(60))
            .expect("an event line within a minute");
        serde_json::from_str(&line).unwrap_or_else(|_| panic!("an event line: {line:?}"))
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// `path` on the first decision listener (the config needs `[decision]`).
    pub fn decision_url(&self, path: &str) -> String {
        format!(
            "http://{}{path}",
            self.decision.expect("a [decision] listener")
        )
    }

    /// The Prometheus text the operations listener serves (the config needs
    /// `[operations]`).
    pub async fn metrics(&self, http: &Http) -> String {
        let operations = self.operations.expect("an [operations] listener");
        let answer = http
            .get(&format!("http://{operations}/metrics"), None, &[])
            .await;
        String::from_utf8_lossy(&answer.body).into_owned()
    }

    /// Skips stdout events until one named `name` (`{"event": name, ...}`) and returns it.
    pub fn wait_for_event(&mut self, name: &str) -> serde_json::Value {
        loop {
            let event = self.next_event();
            if event["event"] == name {
                return event;
            }
        }
    }

    /// The configuration file the gateway runs (rewrite it, then [`Gateway::hangup`]).
    pub fn config_path(&self) -> PathBuf {
        self._dir.path().join("gateway.toml")
    }

    /// Sends SIGHUP: the gateway reloads its files.
    pub fn hangup(&self) {
        let status = Command::new("kill")
            .args(["-HUP", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    pub fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Terminates the gateway, asserts a clean exit, and returns what it wrote to its
    /// stderr (which `options` piped, see [`Gateway::start_with`]).
    pub fn stop_for_stderr(&mut self) -> String {
        self.terminate();
        let mut stderr = String::new();
        self.child
            .stderr
            .take()
            .expect("stderr piped")
            .read_to_string(&mut stderr)
            .unwrap();
        assert!(self.child.wait().unwrap().success());
        stderr
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A config with the given issuer and the standard test routes appended to `extra`.
pub fn config(issuer: &TestIssuer, upstream: &EchoUpstream, extra: &str) -> String {
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
issuer = "{issuer}"
audiences = ["{AUDIENCE}"]
jwks_uri = "{jwks}"
algorithms = ["ES256"]
jwks_retry = "50ms"

{extra}
"#,
        upstream = upstream.addr(),
        issuer = issuer.url(),
        jwks = issuer.jwks_url(),
    )
}

/// A gateway running the standard [`config`] plus `extra`, and the ES256 issuer and echo
/// upstream it points at; they stop when the world is dropped.
pub struct World {
    pub gateway: Gateway,
    pub issuer: TestIssuer,
    pub upstream: EchoUpstream,
}

impl World {
    pub async fn start(extra: &str) -> World {
        let issuer = es256_issuer().await;
        let upstream = EchoUpstream::start().await;
        let gateway = Gateway::start(&config(&issuer, &upstream, extra));
        World {
            gateway,
            issuer,
            upstream,
        }
    }
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

    /// Asserts the status, and that the `WWW-Authenticate` challenge starts with
    /// `prefix` (the challenge is shown when it does not).
    pub fn assert_challenge_starts(&self, status: StatusCode, prefix: &str) {
        assert_eq!(self.status, status);
        let challenge = self.header("www-authenticate");
        assert!(challenge.starts_with(prefix), "{challenge}");
    }

    /// Asserts the status, and that the `WWW-Authenticate` challenge contains `text`.
    pub fn assert_challenge_contains(&self, status: StatusCode, text: &str) {
        assert_eq!(self.status, status);
        let challenge = self.header("www-authenticate");
        assert!(challenge.contains(text), "{challenge}");
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

/// The head of a config a test writes out in full: `[server]` on `127.0.0.1:0` and
/// `[upstream]` at `upstream`.
pub fn serving(upstream: &EchoUpstream) -> String {
    format!(
        "[server]\nlisten = [\"127.0.0.1:0\"]\n[upstream]\nurl = \"http://{}\"\n",
        upstream.addr()
    )
}

/// The smallest configuration that runs, for tests that add one section and expect it
/// refused (see [`refused`]).
pub const MINIMAL: &str =
    "[server]\nlisten = [\"127.0.0.1:0\"]\n[upstream]\nurl = \"http://127.0.0.1:9\"\n";

/// The key path and message at which `text`, after [`MINIMAL`], is refused.
pub fn refused(text: &str) -> (String, String) {
    let error = portcullis_gateway::Config::from_toml(&format!("{MINIMAL}{text}"), "gateway.toml")
        .unwrap_err();
    (error.path().to_owned(), error.message().to_owned())
}

/// The standard routes: public, a subject route, items to read and write, reports by
/// any of two scopes, claim conditions, gRPC, a slow anonymous route; and the claim
/// headers forwarded for them. The proxy and the decision service are tested on them.
pub const ROUTES: &str = r#"
[[routes]]
name = "public"
path_prefix = "/public"
require = "anonymous"

[[routes]]
name = "me"
methods = ["GET"]
path = "/me"

[[routes]]
name = "items-read"
methods = ["GET", "HEAD"]
path_pattern = "/items/{id}"
scopes_all = ["read"]

[[routes]]
name = "items-write"
methods = ["PUT", "DELETE"]
path_pattern = "/items/{id}"
scopes_all = ["read", "write"]

[[routes]]
name = "reports"
path_prefix = "/reports/"
scopes_any = ["admin", "auditor"]

[[routes]]
name = "tenant"
path = "/tenant"
claim_equals = { tenant = "acme" }

[[routes]]
name = "group"
path = "/group"
claim_contains = { groups = "ops" }

[[routes]]
name = "grpc"
path_prefix = "/echo.Echo/"
scopes_all = ["read"]

[[routes]]
name = "slow"
path = "/hold"
require = "anonymous"

[forward]
claims = { sub = "x-auth-subject", groups = "x-auth-groups", scope = "x-auth-scope" }
payload_header = "x-auth-claims"
"#;

/// A gateway served in-process on the test's runtime, so it shares the test's clock
/// (paused Tokio time included), with static keys: `[server]`, `[upstream]` at
/// `upstream`, one issuer ([`portcullis_testkit::fixture::ISSUER`], [`AUDIENCE`],
/// ES256, `jwks_file` holding [`InProcess::key`]) with `issuer_extra` keys, then `rest`.
/// Stops when [`InProcess::stop`] is awaited or when dropped.
pub struct InProcess {
    pub addr: SocketAddr,
    pub key: SigningKey,
    /// The configuration it runs, and what reloads it.
    text: String,
    reloader: portcullis_gateway::Reloader,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    served: Option<tokio::task::JoinHandle<()>>,
    _dir: tempfile::TempDir,
}

impl InProcess {
    pub async fn start(upstream: SocketAddr, issuer_extra: &str, rest: &str) -> InProcess {
        let dir = tempfile::tempdir().unwrap();
        let key = SigningKey::generate(SigningAlgorithm::ES256);
        let jwks = write_jwks(dir.path(), [&key]);
        let text = format!(
            r#"
[server]
listen = ["127.0.0.1:0"]
realm = "test"
shutdown_grace = "5s"
[upstream]
url = "http://{upstream}"
[[issuers]]
issuer = "{issuer}"
audiences = ["{AUDIENCE}"]
jwks_file = "{jwks}"
algorithms = ["ES256"]
{issuer_extra}
{rest}
"#,
            issuer = portcullis_testkit::fixture::ISSUER,
            jwks = jwks.display(),
        );
        InProcess::serve(&text, key, dir).await
    }

    /// The gateway running `text` as it is (its [`InProcess::key`] is then unused).
    pub async fn from_config(text: &str) -> InProcess {
        let dir = tempfile::tempdir().unwrap();
        let key = SigningKey::generate(SigningAlgorithm::ES256);
        InProcess::serve(text, key, dir).await
    }

    async fn serve(text: &str, key: SigningKey, dir: tempfile::TempDir) -> InProcess {
        let config = portcullis_gateway::Config::from_toml(text, "gateway.toml").unwrap();
        let gateway = portcullis_gateway::Gateway::bind(config).await.unwrap();
        let addr = gateway.local_addrs()[0];
        let reloader = gateway.reloader();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let served = tokio::spawn(async move {
            gateway
                .serve(async {
                    let _ = stopped.await;
                })
                .await
                .unwrap();
        });
        InProcess {
            addr,
            key,
            text: text.to_owned(),
            reloader,
            stop: Some(stop),
            served: Some(served),
            _dir: dir,
        }
    }

    /// Reloads the configuration it runs, unchanged (as a SIGHUP with the same file).
    pub async fn reload(&self) {
        let config = portcullis_gateway::Config::from_toml(&self.text, "gateway.toml").unwrap();
        let reloader = self.reloader.clone();
        tokio::task::spawn_blocking(move || reloader.reload(config))
            .await
            .unwrap()
            .unwrap();
    }

    /// A token from the issuer for [`AUDIENCE`], issued now, with `scope`, valid until
    /// `exp` (Unix seconds).
    pub fn token(&self, scope: &str, exp: u64) -> String {
        self.key
            .token()
            .standard_claims(portcullis_testkit::fixture::ISSUER, AUDIENCE, unix_now())
            .claim("scope", scope)
            .claim("exp", exp)
            .sign()
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Stops serving (upgraded connections are closed) and waits until it has.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(served) = self.served.take() {
            served.await.unwrap();
        }
    }
}

/// A proxy in front of the gateway (nginx, Caddy) run from its recipe in
/// `docs/decision/`; killed when dropped.
pub struct ProxyInFront {
    pub child: Child,
    pub addr: SocketAddr,
    pub dir: tempfile::TempDir,
}

impl Drop for ProxyInFront {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The recipe `docs/decision/{recipe}` exactly as written, only its placeholders
/// filled (`{{dir}}`, `{{port}}`, `{{decision_port}}`, `{{upstream_port}}`), written
/// into `dir`; returns its path.
pub fn write_recipe(
    recipe: &str,
    dir: &Path,
    port: u16,
    decision: SocketAddr,
    upstream: SocketAddr,
) -> PathBuf {
    let source = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../docs/decision")
        .join(recipe);
    let conf = std::fs::read_to_string(source)
        .unwrap()
        .replace("{{dir}}", dir.to_str().unwrap())
        .replace("{{port}}", &port.to_string())
        .replace("{{decision_port}}", &decision.port().to_string())
        .replace("{{upstream_port}}", &upstream.port().to_string());
    let path = dir.join(recipe);
    std::fs::write(&path, conf).unwrap();
    path
}

/// Whether the proxy's `binary` is installed; a test without it is skipped, loudly,
/// unless `require` is set in the environment (then it fails). `banner` is the
/// middle line of the skip notice.
pub fn proxy_available(binary: &str, require: &str, banner: &str) -> bool {
    if Path::new(binary).exists() {
        return true;
    }
    assert!(
        std::env::var_os(require).is_none(),
        "{require} is set but {binary} is missing"
    );
    let rule = "!".repeat(69);
    eprintln!("\n{rule}\n{banner}\n{rule}\n");
    false
}

/// A gateway configuration whose `read` route accepts both the issuer's JWTs and its
/// opaque tokens (discovery, and introspection with the testkit's client, its secret
/// written in `dir`), with `sections` after `[upstream]`.
pub fn introspecting_config(
    issuer: &TestIssuer,
    upstream: &EchoUpstream,
    dir: &Path,
    sections: &str,
) -> String {
    let secret_file = dir.join("secret");
    std::fs::write(
        &secret_file,
        portcullis_testkit::INTROSPECTION_CLIENT_SECRET,
    )
    .unwrap();
    format!(
        r#"
[server]
listen = ["127.0.0.1:0"]
[upstream]
url = "http://{upstream}"
{sections}
[[issuers]]
issuer = "{url}"
audiences = ["{AUDIENCE}"]
discovery = true
[issuers.introspection]
endpoint = "{introspect}"
client_id = "{client_id}"
client_secret_file = "{secret}"
cache = false
[[routes]]
name = "read"
path = "/read"
scopes_all = ["read"]
"#,
        upstream = upstream.addr(),
        url = issuer.url(),
        introspect = issuer.introspection_url(),
        client_id = portcullis_testkit::INTROSPECTION_CLIENT_ID,
        secret = secret_file.display(),
    )
}
