//! A `redis-server` on a free loopback port, for tests of what replicas share.

use std::fmt;
use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};

/// The environment variable that makes a missing `redis-server` a failure rather than a
/// skip (CI sets it after installing the package).
pub const REQUIRE_REDIS: &str = "PORTCULLIS_REQUIRE_REDIS";

/// A `redis-server` process on `127.0.0.1`, nothing persisted, killed on drop.
///
/// Started only when ready: [`RedisServer::start`] returns once the server has logged
/// that it accepts connections. [`RedisServer::kill`] and [`RedisServer::restart`]
/// (same port, empty data) stage outages.
pub struct RedisServer {
    child: Option<Child>,
    port: u16,
    args: Vec<String>,
    /// TLS only (`rediss://`), with the certificate and key in `args`.
    tls: bool,
    dir: tempfile_dir::Dir,
}

/// The binary: `PORTCULLIS_REDIS_SERVER`, else `redis-server` on the `PATH`.
fn binary() -> String {
    std::env::var("PORTCULLIS_REDIS_SERVER").unwrap_or_else(|_| "redis-server".to_owned())
}

impl RedisServer {
    /// Starts a server, or `None` when `redis-server` is not installed (then the caller
    /// skips its test) unless [`REQUIRE_REDIS`] is set.
    ///
    /// # Panics
    /// `redis-server` is missing and required, or it does not start.
    pub fn start() -> Option<RedisServer> {
        RedisServer::start_with(&[])
    }

    /// [`RedisServer::start`] with extra command-line arguments (`--requirepass x`).
    ///
    /// # Panics
    /// As [`RedisServer::start`].
    pub fn start_with(args: &[&str]) -> Option<RedisServer> {
        RedisServer::launch(args, false)
    }

    /// A server speaking TLS only (`rediss://127.0.0.1:PORT`), with this certificate
    /// (for `127.0.0.1`) and key, PEM files; clients are not asked for certificates.
    ///
    /// # Panics
    /// As [`RedisServer::start`].
    pub fn start_tls(certificate: &std::path::Path, key: &std::path::Path) -> Option<RedisServer> {
        let (certificate, key) = (certificate.to_string_lossy(), key.to_string_lossy());
        RedisServer::launch(
            &[
                "--tls-cert-file",
                &certificate,
                "--tls-key-file",
                &key,
                "--tls-auth-clients",
                "no",
            ],
            true,
        )
    }

    fn launch(args: &[&str], tls: bool) -> Option<RedisServer> {
        let installed = Command::new(binary())
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|status| status.success());
        if !installed {
            assert!(
                std::env::var_os(REQUIRE_REDIS).is_none(),
                "{REQUIRE_REDIS} is set but {} cannot run",
                binary()
            );
            // For the person running the tests: nothing else says it skipped.
            eprintln!("skipped: redis-server is not installed (set {REQUIRE_REDIS}=1 to fail)");
            return None;
        }
        let dir = tempfile_dir::Dir::new();
        let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
        // A port found free may be taken before the server binds it: try a few.
        for _ in 0..5 {
            let port = free_port();
            let mut server = RedisServer {
                child: None,
                port,
                args: args.clone(),
                tls,
                dir: dir.clone(),
            };
            if server.spawn() {
                return Some(server);
            }
        }
        panic!("redis-server did not start on any of five free ports");
    }

    /// Starts the process on `self.port`; false if it exited before being ready.
    fn spawn(&mut self) -> bool {
        let port = self.port.to_string();
        let listen: &[&str] = if self.tls {
            &["--port", "0", "--tls-port", &port]
        } else {
            &["--port", &port]
        };
        let mut child = Command::new(binary())
            .args(listen)
            .args(["--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .args(["--dir", self.dir.path()])
            .args(["--logfile", ""])
            .args(&self.args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", binary()));
        let Some(stdout) = child.stdout.take() else {
            panic!("redis-server's stdout is piped");
        };
        let mut lines = BufReader::new(stdout).lines();
        let mut log = Vec::new();
        let ready = loop {
            match lines.next() {
                Some(Ok(line)) => {
                    let ready = line.contains("Ready to accept connections");
                    log.push(line);
                    if ready {
                        break true;
                    }
                }
                // Exited (port taken, bad argument).
                _ => break false,
            }
        };
        if !ready {
            let _ = child.kill();
            let _ = child.wait();
            return false;
        }
        // Keep draining the log so the server never blocks writing it.
        std::thread::spawn(move || for _ in lines.map_while(Result::ok) {});
        self.child = Some(child);
        true
    }

    /// The URL clients connect with: `redis://127.0.0.1:PORT` (`rediss://` with TLS).
    pub fn url(&self) -> String {
        let scheme = if self.tls { "rediss" } else { "redis" };
        format!("{scheme}://127.0.0.1:{}", self.port)
    }

    /// The port served.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Whether the process is running (not killed).
    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    /// Kills the server at once (SIGKILL, as a crash), and waits for it to be gone.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port, empty (nothing was persisted).
    ///
    /// # Panics
    /// It does not start (the port was taken meanwhile).
    pub fn restart(&mut self) {
        self.kill();
        assert!(
            self.spawn(),
            "redis-server did not restart on port {}",
            self.port
        );
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .unwrap_or_else(|e| panic!("no free loopback port: {e}"))
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

impl fmt::Debug for RedisServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisServer")
            .field("port", &self.port)
            .field("running", &self.is_running())
            .finish()
    }
}

/// The server's working directory: a fresh one under the system's temporary directory,
/// removed when the last handle goes (nothing is written there with persistence off,
/// but `--dir` must name somewhere the server may write).
mod tempfile_dir {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};

    #[derive(Clone)]
    pub(super) struct Dir(Arc<String>);

    impl Dir {
        pub(super) fn new() -> Dir {
            static NEXT: AtomicU64 = AtomicU64::new(0);
            let path = std::env::temp_dir().join(format!(
                "portcullis-redis-{}-{}",
                std::process::id(),
                NEXT.fetch_add(1, Ordering::Relaxed)
            ));
            std::fs::create_dir_all(&path)
                .unwrap_or_else(|e| panic!("cannot create {}: {e}", path.display()));
            Dir(Arc::new(path.to_string_lossy().into_owned()))
        }

        pub(super) fn path(&self) -> &str {
            &self.0
        }
    }

    impl Drop for Dir {
        fn drop(&mut self) {
            if Arc::strong_count(&self.0) == 1 {
                let _ = std::fs::remove_dir_all(self.0.as_str());
            }
        }
    }
}
