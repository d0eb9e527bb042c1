//! WebSocket round trips, direct and through the gateway: one upgraded connection to
//! `portcullis_testkit::UpgradeEcho`, and one through an in-process `portcullis-gateway`
//! (an authenticated route with `upgrades = ["websocket"]`, an ES256 token) in front of
//! the same echo. Rounds alternate a batch of round trips on each, so both sides see the
//! same machine load; prints p50 and p99 of each and the ratio of the p50s. If nginx
//! is installed (`/usr/sbin/nginx`, or `NGINX=path`), the same echo through nginx as a
//! WebSocket proxy (no authentication) is a third side: the reference proxy.
//!
//! Usage: `cargo run --release -p portcullis-bench-harness --bin ws-echo -- [ROUNDS] [BATCH] [BYTES]`
//! (defaults 200 rounds of 50 round trips, 32-byte messages). The echo, the gateway and
//! the client each run on a runtime of their own (one worker thread each).

#![allow(clippy::unwrap_used, clippy::print_stdout)] // A benchmark binary.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use portcullis_gateway::{Config, Gateway};
use portcullis_testkit::fixture::unix_now;
use portcullis_testkit::{
    SigningAlgorithm, SigningKey, UpgradeEcho, jwks, raw_websocket_handshake,
};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

const ISSUER: &str = "https://ws-issuer.bench";
const AUDIENCE: &str = "https://ws-api.bench";

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap()
}

async fn round_trips(
    socket: &mut TcpStream,
    message: &[u8],
    count: usize,
    into: &mut Vec<Duration>,
) {
    let mut back = vec![0; message.len()];
    for _ in 0..count {
        let start = Instant::now();
        socket.write_all(message).await.unwrap();
        socket.read_exact(&mut back).await.unwrap();
        into.push(start.elapsed());
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss
    )]
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index]
}

/// nginx proxying WebSockets to `echo`, killed when dropped.
struct Nginx {
    child: std::process::Child,
    addr: SocketAddr,
    dir: std::path::PathBuf,
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn nginx(echo: SocketAddr) -> Option<Nginx> {
    let binary = std::env::var("NGINX").unwrap_or_else(|_| "/usr/sbin/nginx".to_owned());
    if !std::path::Path::new(&binary).exists() {
        println!("(no nginx at {binary}: the reference side is skipped)");
        return None;
    }
    let dir = std::env::temp_dir().join(format!("ws-echo-nginx-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let d = dir.display();
    let conf = format!(
        r#"worker_processes 1;
daemon off;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {d}/client_body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://{echo};
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection "upgrade";
            proxy_read_timeout 1h;
        }}
    }}
}}
"#
    );
    let path = dir.join("nginx.conf");
    std::fs::write(&path, conf).unwrap();
    let child = std::process::Command::new(&binary)
        .args(["-p", dir.to_str().unwrap(), "-c", path.to_str().unwrap()])
        .spawn()
        .unwrap();
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    // nginx says nothing when it is ready: its port answering is the signal.
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(addr).is_err() {
        assert!(Instant::now() < deadline, "nginx did not start");
        std::thread::sleep(Duration::from_millis(10));
    }
    Some(Nginx { child, addr, dir })
}

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse().unwrap())
        .collect();
    let rounds = args.first().copied().unwrap_or(200);
    let batch = args.get(1).copied().unwrap_or(50);
    let bytes = args.get(2).copied().unwrap_or(32);

    let echo_runtime = runtime();
    let echo = echo_runtime.block_on(UpgradeEcho::start());

    let dir = std::env::temp_dir().join(format!("ws-echo-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let key = SigningKey::generate(SigningAlgorithm::ES256);
    let jwks_path = dir.join("keys.json");
    std::fs::write(&jwks_path, jwks([&key]).to_string()).unwrap();
    let config = format!(
        r#"
[server]
listen = ["127.0.0.1:0"]
[upstream]
url = "http://{echo}"
[[issuers]]
issuer = "{ISSUER}"
audiences = ["{AUDIENCE}"]
jwks_file = "{jwks}"
algorithms = ["ES256"]
[[routes]]
path = "/ws"
upgrades = ["websocket"]
"#,
        echo = echo.addr(),
        jwks = jwks_path.display(),
    );
    let gateway_runtime = runtime();
    let gateway: SocketAddr = gateway_runtime.block_on(async {
        let gateway = Gateway::bind(Config::from_toml(&config, "ws-echo.toml").unwrap())
            .await
            .unwrap();
        let addr = gateway.local_addrs()[0];
        tokio::spawn(gateway.serve(std::future::pending()));
        addr
    });
    let token = key
        .token()
        .standard_claims(ISSUER, AUDIENCE, unix_now())
        .claim("exp", unix_now() + 3600)
        .sign();

    let client = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let reference = nginx(echo.addr());
    client.block_on(async {
        let authorization = format!("Authorization: Bearer {token}");
        let mut sides = vec![("direct", echo.addr(), None)];
        sides.push(("gateway", gateway, Some(authorization.as_bytes())));
        if let Some(nginx) = &reference {
            sides.push(("nginx", nginx.addr, None));
        }
        let mut sockets = Vec::new();
        for (name, addr, authorization) in &sides {
            let extra: Vec<&[u8]> = authorization.iter().copied().collect();
            let (answer, socket) = raw_websocket_handshake(*addr, "/ws", &extra).await;
            assert_eq!(answer.status, 101, "{name}: {answer:?}");
            socket.set_nodelay(true).unwrap();
            sockets.push(socket);
        }
        let message = vec![0x42; bytes];
        // Warm-up.
        for socket in &mut sockets {
            round_trips(socket, &message, batch, &mut Vec::new()).await;
        }
        let mut times: Vec<Vec<Duration>> = vec![Vec::new(); sides.len()];
        let mut ratios: Vec<Vec<f64>> = vec![Vec::new(); sides.len()];
        for _ in 0..rounds {
            let mut p50s = Vec::with_capacity(sides.len());
            for (socket, all) in sockets.iter_mut().zip(&mut times) {
                let mut round = Vec::with_capacity(batch);
                round_trips(socket, &message, batch, &mut round).await;
                round.sort_unstable();
                p50s.push(percentile(&round, 0.5).as_secs_f64());
                all.extend(round);
            }
            for (side, ratio) in ratios.iter_mut().enumerate() {
                ratio.push(p50s[side] / p50s[0]);
            }
        }
        let us = |d: Duration| d.as_secs_f64() * 1e6;
        println!("{rounds} rounds x {batch} round trips of {bytes} bytes, one connection per side");
        let direct_p50 = {
            let mut direct = times[0].clone();
            direct.sort_unstable();
            percentile(&direct, 0.5)
        };
        for (((name, _, _), all), ratio) in sides.iter().zip(&mut times).zip(&mut ratios) {
            all.sort_unstable();
            ratio.sort_unstable_by(f64::total_cmp);
            let p50 = percentile(all, 0.5);
            println!(
                "{name:8} p50 {:6.1} us  p99 {:6.1} us  p50/direct {:.3} (median of per-round ratios {:.3})",
                us(p50),
                us(percentile(all, 0.99)),
                p50.as_secs_f64() / direct_p50.as_secs_f64(),
                ratio[ratio.len() / 2]
            );
        }
    });
    drop(reference);
    let _ = std::fs::remove_dir_all(&dir);
}
