//! Interop peers: the node scripts of the workspace's `tests/interop/` (real
//! authorization servers and clients from npm), run on loopback for a test.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, ChildStdout, Command, Stdio};

/// The environment variable that turns a missing interop install into a failure
/// (`.ci/run` sets it after `npm ci`): there, a skip would be a pass that checked
/// nothing.
pub const REQUIRE_INTEROP: &str = "PORTCULLIS_REQUIRE_INTEROP";

/// A node script from `tests/interop/` serving on `127.0.0.1`, stopped when dropped.
///
/// The script listens on a free port and prints `PORT <n>` as its first line once it
/// serves, and exits when its standard input closes (so it also goes when the test
/// process dies).
#[derive(Debug)]
pub struct NodePeer {
    child: Child,
    port: u16,
    /// Kept open: a script writing more would otherwise fail on a closed pipe.
    _stdout: BufReader<ChildStdout>,
}

impl NodePeer {
    /// The workspace's `tests/interop` directory.
    pub fn dir() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/interop")
    }

    /// Starts `node <script>` in [`NodePeer::dir`] and waits for its `PORT` line.
    ///
    /// When the npm `package` the script needs is not installed, prints a loud notice
    /// and returns `None` (the test passes vacuously) — unless [`REQUIRE_INTEROP`] is
    /// set, which makes it panic.
    ///
    /// # Panics
    /// The package is missing and [`REQUIRE_INTEROP`] is set; node cannot be run; the
    /// script's first line is not `PORT <n>`.
    pub fn start(script: &str, package: &str) -> Option<NodePeer> {
        let dir = NodePeer::dir();
        if !dir.join("node_modules").join(package).is_dir() {
            assert!(
                std::env::var_os(REQUIRE_INTEROP).is_none(),
                "{REQUIRE_INTEROP} is set but tests/interop/node_modules has no {package}"
            );
            #[allow(clippy::print_stderr)] // The notice is the point.
            {
                eprintln!(
                    "\n!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n\
                     !! SKIPPED: {package} interop ({script}).\n\
                     !! Run `npm ci` in tests/interop/ to run it.\n\
                     !!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n"
                );
            }
            return None;
        }
        let mut child = Command::new("node")
            .arg(script)
            .current_dir(&dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|error| panic!("node {script}: {error}"));
        let Some(stdout) = child.stdout.take() else {
            unreachable!("stdout is piped")
        };
        let mut stdout = BufReader::new(stdout);
        let mut line = String::new();
        let read = stdout.read_line(&mut line);
        let port = read
            .ok()
            .and_then(|_| line.trim().strip_prefix("PORT ")?.parse().ok());
        let Some(port) = port else {
            let _ = child.kill();
            let _ = child.wait();
            panic!("node {script}: expected `PORT <n>` first, got {line:?}");
        };
        Some(NodePeer {
            child,
            port,
            _stdout: stdout,
        })
    }

    /// The port it listens on, on `127.0.0.1`.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://127.0.0.1:PORT`.
    pub fn origin(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for NodePeer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
