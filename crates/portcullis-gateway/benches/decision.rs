//! Server-side decision latency: the median, 90th and 99th percentiles of one decision
//! through each front door, called in-process on a bound gateway (from the request as
//! hyper hands it over to the response it writes; no socket, no client), with the
//! verified-token cache hit and with full verification (`token_cache = false`). ES256
//! tokens, one route with a scope, two claim headers.
//!
//! `cargo bench -p portcullis-gateway --bench decision` (`DECISIONS=N` per case,
//! default 20,000, after 2,000 to warm up). Figures: docs/benchmarks.md. Without
//! `--bench` (`cargo test`, nextest listing the workspace's targets) it does nothing.

#![allow(clippy::unwrap_used, clippy::print_stdout)]

use std::time::{Duration, Instant};

use bytes::{BufMut, Bytes, BytesMut};
use envoy_types::pb::envoy::service::auth::v3::attribute_context::{HttpRequest, Request as Req};
use envoy_types::pb::envoy::service::auth::v3::{AttributeContext, CheckRequest, CheckResponse};
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Full};
use portcullis_gateway::benching::Decisions;
use portcullis_gateway::{Config, Gateway};
use portcullis_testkit::fixture::{AUDIENCE, ISSUER, unix_now};
use portcullis_testkit::{SigningAlgorithm, SigningKey, jwks};
use prost::Message;

const ROUTES: &str = r#"
[[routes]]
name = "items-read"
methods = ["GET"]
path_pattern = "/items/{id}"
scopes_all = ["read"]

[forward]
claims = { sub = "x-auth-subject", scope = "x-auth-scope" }
"#;

/// A gateway with both decision front doors and the key set in `jwks_file`.
async fn decisions(jwks_file: &std::path::Path, token_cache: bool) -> Decisions {
    let config = format!(
        "[decision]\nlisten = [\"127.0.0.1:0\"]\ngrpc_listen = [\"127.0.0.1:0\"]\n\
         source = \"forwarded\"\n\n\
         [[issuers]]\nissuer = \"{ISSUER}\"\naudiences = [\"{AUDIENCE}\"]\n\
         jwks_file = \"{}\"\nalgorithms = [\"ES256\"]\ntoken_cache = {token_cache}\n{ROUTES}",
        jwks_file.display()
    );
    let config = Config::from_toml(&config, "bench.toml").unwrap();
    Decisions::of(&Gateway::bind(config).await.unwrap())
}

fn http_request(token: &str) -> Request<Full<Bytes>> {
    Request::get("/")
        .header("x-forwarded-method", "GET")
        .header("x-forwarded-uri", "/items/7?full=1")
        .header("x-forwarded-host", "api.example")
        .header("authorization", format!("Bearer {token}"))
        .header("user-agent", "bench/1.0")
        .header("accept", "*/*")
        .body(Full::new(Bytes::new()))
        .unwrap()
}

/// The gRPC message Envoy sends: a length-prefixed `CheckRequest`.
fn grpc_body(token: &str) -> Bytes {
    let headers = [
        (":method", "GET"),
        (":path", "/items/7?full=1"),
        (":authority", "api.example"),
        (":scheme", "https"),
        ("authorization", &format!("Bearer {token}")),
        ("user-agent", "bench/1.0"),
        ("accept", "*/*"),
        ("x-request-id", "4f9b1c7e-8d2a-4e4b-9a51-0c6f3e2d1b7a"),
    ];
    let check = CheckRequest {
        attributes: Some(AttributeContext {
            request: Some(Req {
                http: Some(HttpRequest {
                    id: "1".to_owned(),
                    method: "GET".to_owned(),
                    path: "/items/7?full=1".to_owned(),
                    host: "api.example".to_owned(),
                    scheme: "https".to_owned(),
                    protocol: "HTTP/1.1".to_owned(),
                    headers: headers
                        .iter()
                        .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
                        .collect(),
                    ..HttpRequest::default()
                }),
                ..Req::default()
            }),
            ..AttributeContext::default()
        }),
    };
    let message = check.encode_to_vec();
    let mut framed = BytesMut::with_capacity(5 + message.len());
    framed.put_u8(0);
    framed.put_u32(u32::try_from(message.len()).unwrap());
    framed.put_slice(&message);
    framed.freeze()
}

fn grpc_request(body: &Bytes) -> Request<Full<Bytes>> {
    Request::post("/envoy.service.auth.v3.Authorization/Check")
        .version(http::Version::HTTP_2)
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(Full::new(body.clone()))
        .unwrap()
}

/// The `google.rpc.Code` of a gRPC decision's answer.
async fn grpc_code<B>(response: http::Response<B>) -> i32
where
    B: http_body::Body,
    B::Error: std::fmt::Debug,
{
    let body = response.into_body().collect().await.unwrap().to_bytes();
    CheckResponse::decode(&body[5..])
        .unwrap()
        .status
        .unwrap()
        .code
}

/// The median, 90th and 99th percentiles of `samples`, as a table row's cells.
fn quantiles(samples: &mut [Duration]) -> String {
    samples.sort_unstable();
    let at = |q: f64| {
        let index = ((samples.len() as f64 - 1.0) * q).round() as usize;
        samples[index]
    };
    format!("{:>10.2?} {:>10.2?} {:>10.2?}", at(0.5), at(0.9), at(0.99))
}

fn main() {
    if !std::env::args().any(|arg| arg == "--bench") {
        return;
    }
    let count: usize = std::env::var("DECISIONS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(20_000);
    let warm_up = 2_000;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let key = SigningKey::generate(SigningAlgorithm::ES256);
    let jwks_file = dir.path().join("keys.json");
    std::fs::write(&jwks_file, jwks([&key]).to_string()).unwrap();
    let token = key
        .token()
        .standard_claims(ISSUER, AUDIENCE, unix_now())
        .claim("scope", "read")
        .sign();
    let grpc = grpc_body(&token);

    println!(
        "{:<34} {:>10} {:>10} {:>10}   ({count} decisions each)",
        "case", "median", "p90", "p99"
    );
    runtime.block_on(async {
        for (cache, label) in [(true, "cache hit"), (false, "full verification")] {
            let doors = decisions(&jwks_file, cache).await;
            // Both answer "allow" before anything is timed.
            let allowed = doors.http(http_request(&token)).await;
            assert_eq!(allowed.status(), StatusCode::OK);
            assert_eq!(allowed.headers()["x-auth-subject"], "test-subject");
            assert_eq!(grpc_code(doors.grpc(grpc_request(&grpc)).await).await, 0);

            let mut samples = Vec::with_capacity(count);
            for i in 0..warm_up + count {
                let request = http_request(&token);
                let start = Instant::now();
                let response = doors.http(request).await;
                let elapsed = start.elapsed();
                assert_eq!(response.status(), StatusCode::OK);
                if i >= warm_up {
                    samples.push(elapsed);
                }
            }
            let row = quantiles(&mut samples);
            println!("{:<34} {row}", format!("HTTP, {label}"));

            samples.clear();
            for i in 0..warm_up + count {
                let request = grpc_request(&grpc);
                let start = Instant::now();
                let response = doors.grpc(request).await;
                let elapsed = start.elapsed();
                assert_eq!(response.status(), StatusCode::OK);
                if i >= warm_up {
                    samples.push(elapsed);
                }
            }
            let row = quantiles(&mut samples);
            println!("{:<34} {row}", format!("gRPC ext_authz, {label}"));
        }
    });
}
