//! The tour: a local issuer, an echo upstream and the gateway, on loopback, and the
//! requests that show what the gateway answers.

use std::convert::Infallible;
use std::io::Write as _;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use portcullis_testkit::fixture::unix_now;
use portcullis_testkit::{
    INTROSPECTION_CLIENT_ID, INTROSPECTION_CLIENT_SECRET, TestIssuer, TestServer,
};

use portcullis_gateway::{Config, Gateway};

type DemoError = Box<dyn std::error::Error + Send + Sync>;

const AUDIENCE: &str = "https://demo-api.portcullis.test";

fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

fn demo_config(issuer: &TestIssuer, secret_file: &std::path::Path, upstream: SocketAddr) -> String {
    let url = issuer.url();
    let introspection = issuer.introspection_url();
    let secret_file = secret_file.display();
    format!(
        r#"
[server]
listen = ["127.0.0.1:0"]
realm = "demo"
shutdown_grace = "5s"

[upstream]
url = "http://{upstream}"

[[issuers]]
issuer = "{url}"
audiences = ["{AUDIENCE}"]
discovery = true
jwks_retry = "200ms"

[issuers.introspection]
endpoint = "{introspection}"
client_id = "{INTROSPECTION_CLIENT_ID}"
client_secret_file = "{secret_file}"

[[routes]]
name = "public"
path_prefix = "/public"
require = "anonymous"

[[routes]]
name = "items-read"
methods = ["GET", "HEAD"]
path_pattern = "/api/items/{{id}}"
scopes_all = ["read"]

[[routes]]
name = "items-write"
methods = ["PUT", "POST", "DELETE"]
path_pattern = "/api/items/{{id}}"
scopes_all = ["write"]

[forward]
claims = {{ sub = "x-auth-subject", scope = "x-auth-scope" }}
"#
    )
}

/// Runs the demo; with `once`, exits after the tour.
///
/// # Errors
/// Something on loopback could not be started, or the tour did not get the answers it
/// expected.
pub(crate) async fn run(once: bool) -> Result<(), DemoError> {
    let issuer = TestIssuer::start().await;
    // The introspection client secret comes from a file, as it would in production.
    let secret_file = std::env::temp_dir().join(format!(
        "portcullis-demo-secret-{}",
        portcullis_testkit::random_id()
    ));
    std::fs::write(&secret_file, INTROSPECTION_CLIENT_SECRET)?;
    let result = tour(&issuer, &secret_file, once).await;
    let _ = std::fs::remove_file(&secret_file);
    result
}

async fn tour(
    issuer: &TestIssuer,
    secret_file: &std::path::Path,
    once: bool,
) -> Result<(), DemoError> {
    // The echo upstream serves until `echo` is dropped at the end of the tour.
    let echo = TestServer::start(service_fn(|request: Request<Incoming>| async move {
        let header = |name: &str| {
            request
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("-")
                .to_owned()
        };
        let body = serde_json::json!({
            "upstream": "echo",
            "method": request.method().as_str(),
            "path": request.uri().path(),
            "x-auth-subject": header("x-auth-subject"),
            "x-auth-scope": header("x-auth-scope"),
            "authorization": header("authorization"),
        });
        Ok::<_, Infallible>(
            Response::builder()
                .header("content-type", "application/json")
                .body(Full::new(Bytes::from(body.to_string())))
                .unwrap_or_default(),
        )
    }))
    .await;
    let upstream = echo.addr();

    let config = Config::from_toml(
        &demo_config(issuer, secret_file, upstream),
        "demo configuration",
    )?;
    let gateway = Gateway::bind(config).await?;
    let addr = *gateway.local_addrs().first().ok_or("no listener")?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(gateway.serve(async {
        let _ = stopped.await;
    }));

    say("Portcullis gateway demo, all on loopback:");
    say(&format!(
        "  issuer        {}   (testkit: discovery, JWKS, introspection)",
        issuer.url()
    ));
    say(&format!("  echo upstream http://{upstream}"));
    say(&format!("  gateway       http://{addr}   -> upstream"));
    say("  routes: /public/** anonymous; GET /api/items/{id} needs scope read;");
    say("          PUT|POST|DELETE /api/items/{id} need scope write; anything else: 404");
    say("");

    let client: Client<_, Empty<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    wait_ready(&client, addr).await?;

    let mint = |scope: &str, issued: u64| {
        issuer.mint_with(AUDIENCE, issued, |token| {
            token
                .claim("sub", "demo-user")
                .claim("scope", scope.to_owned())
                .claim("exp", issued + 3600)
        })
    };
    let reader = mint("read", unix_now());
    let expired = mint("read", unix_now() - 7200);
    let opaque = issuer.mint_opaque(AUDIENCE, unix_now(), "read");
    // The reader's token with one signature character changed.
    let forged = {
        let mut bytes = reader.clone().into_bytes();
        let at = reader.rfind('.').map_or(0, |dot| dot + 10);
        if let Some(b) = bytes.get_mut(at) {
            *b = if *b == b'A' { b'B' } else { b'A' };
        }
        String::from_utf8(bytes).unwrap_or_default()
    };

    say("Tour:");
    let steps: [(&str, &str, &str, Option<&str>, StatusCode); 8] = [
        (
            "an anonymous route",
            "GET",
            "/public/hello",
            None,
            StatusCode::OK,
        ),
        (
            "an allowed read (scope read)",
            "GET",
            "/api/items/42",
            Some(&reader),
            StatusCode::OK,
        ),
        (
            "a denied write (scope read only)",
            "PUT",
            "/api/items/42",
            Some(&reader),
            StatusCode::FORBIDDEN,
        ),
        (
            "a missing token",
            "GET",
            "/api/items/42",
            None,
            StatusCode::UNAUTHORIZED,
        ),
        (
            "an expired token",
            "GET",
            "/api/items/42",
            Some(&expired),
            StatusCode::UNAUTHORIZED,
        ),
        (
            "a forged signature",
            "GET",
            "/api/items/42",
            Some(&forged),
            StatusCode::UNAUTHORIZED,
        ),
        (
            "a malformed token (not an RFC 6750 b64token)",
            "GET",
            "/api/items/42",
            Some("not,a,token"),
            StatusCode::BAD_REQUEST,
        ),
        (
            "an opaque token, through introspection",
            "GET",
            "/api/items/42",
            Some(&opaque),
            StatusCode::OK,
        ),
    ];
    let mut surprises = 0;
    for (what, method, path, token, expected) in steps {
        let mut builder = Request::builder()
            .method(method)
            .uri(format!("http://{addr}{path}"));
        if let Some(token) = token {
            builder = builder.header("authorization", format!("Bearer {token}"));
        }
        let response = client.request(builder.body(Empty::new())?).await?;
        let status = response.status();
        let challenge = response
            .headers()
            .get("www-authenticate")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = response.into_body().collect().await?.to_bytes();
        let mark = if status == expected {
            "ok"
        } else {
            "UNEXPECTED"
        };
        say(&format!("  [{mark}] {what}: {method} {path} -> {status}"));
        if let Some(challenge) = challenge {
            say(&format!("         WWW-Authenticate: {challenge}"));
        } else if status.is_success() {
            say(&format!(
                "         upstream saw: {}",
                String::from_utf8_lossy(&body)
            ));
        }
        if status != expected {
            surprises += 1;
        }
    }
    say("");

    if surprises > 0 {
        let _ = stop.send(());
        let _ = serving.await;
        return Err(format!("{surprises} tour step(s) got an unexpected status").into());
    }

    if !once {
        let writer = mint("read write", unix_now());
        let opaque = issuer.mint_opaque(AUDIENCE, unix_now(), "read");
        say("Try it yourself (JWTs valid for one hour, the opaque token for five minutes):");
        say(&format!("  curl -i http://{addr}/public/hello"));
        say(&format!(
            "  curl -i -H 'Authorization: Bearer {reader}' http://{addr}/api/items/42"
        ));
        say(&format!(
            "  curl -i -X PUT -H 'Authorization: Bearer {reader}' http://{addr}/api/items/42"
        ));
        say(&format!(
            "  curl -i -X PUT -H 'Authorization: Bearer {writer}' http://{addr}/api/items/42"
        ));
        say(&format!(
            "  curl -i -H 'Authorization: Bearer {opaque}' http://{addr}/api/items/42   # opaque: introspected"
        ));
        say(&format!(
            "  curl -s http://{addr}/metrics | grep portcullis_gateway_requests_total"
        ));
        say("");
        say("Press Ctrl-C to stop.");
        let _ = tokio::signal::ctrl_c().await;
    }
    let _ = stop.send(());
    serving.await??;
    Ok(())
}

async fn wait_ready(
    client: &Client<hyper_util::client::legacy::connect::HttpConnector, Empty<Bytes>>,
    addr: SocketAddr,
) -> Result<(), DemoError> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let request = Request::get(format!("http://{addr}/readyz")).body(Empty::new())?;
        if client.request(request).await?.status() == StatusCode::OK {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err("the gateway did not become ready".into());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
