//! `s3s-fs` on loopback: an S3 server that checks SigV4 header and
//! presigned-URL signatures, storing each bucket as a folder of a
//! temporary root. Started per test, stopped and restarted on the same
//! port on demand, killed on drop.
//!
//! The binary must be installed (CI does it):
//! `cargo install s3s-fs --version 0.14.1 --features binary --locked`.
//! A missing binary fails the test; it never skips.

use std::fs::File;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tempfile::TempDir;

/// The keys the server accepts.
pub const ACCESS_KEY: &str = "echostream-test";
/// The secret matching [`ACCESS_KEY`].
pub const SECRET_KEY: &str = "echostream-test-secret-0123456789";

/// How long a starting server may take to accept connections.
const START_TIMEOUT: Duration = Duration::from_secs(15);
/// Free ports tried before giving up (another process may take the one
/// found free before the server binds it).
const START_ATTEMPTS: u32 = 5;

const INSTALL: &str = "cargo install s3s-fs --version 0.14.1 --features binary --locked";

/// A running (or stopped) `s3s-fs`.
#[derive(Debug)]
pub struct S3sFs {
    binary: PathBuf,
    child: Option<Child>,
    port: u16,
    /// Holds `data/` (the server's root: one folder per bucket) and
    /// `s3s-fs.log`.
    dir: TempDir,
}

impl S3sFs {
    /// Starts a server on a free loopback port with an empty root, and
    /// waits until it accepts connections.
    ///
    /// # Panics
    ///
    /// If `s3s-fs` is not installed (the message says how to install
    /// it), or it does not start.
    pub fn start() -> S3sFs {
        let dir = tempfile::tempdir().expect("a temporary folder");
        std::fs::create_dir(dir.path().join("data")).expect("the server's root");
        let mut server = S3sFs {
            binary: find_binary(),
            child: None,
            port: 0,
            dir,
        };
        let mut last_log = String::new();
        for _ in 0..START_ATTEMPTS {
            server.port = free_port();
            match server.spawn() {
                Ok(()) => return server,
                Err(log) => last_log = log,
            }
        }
        panic!("s3s-fs did not start in {START_ATTEMPTS} attempts; its log:\n{last_log}");
    }

    /// `http://127.0.0.1:{port}`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The server's port (kept across [`stop`](Self::stop) and
    /// [`restart`](Self::restart)).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The folder holding the server's buckets.
    pub fn root(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// Makes bucket `name`. s3s-fs keeps a bucket as a folder of its root
    /// (its `CreateBucket` is a `mkdir` too), so this needs no request and
    /// no bucket-creation code in the node.
    pub fn create_bucket(&self, name: &str) {
        std::fs::create_dir(self.root().join(name)).expect("a new bucket folder");
    }

    /// Whether bucket `name` exists.
    pub fn has_bucket(&self, name: &str) -> bool {
        self.root().join(name).is_dir()
    }

    /// The stored bytes of `key` in `bucket`, read from the root.
    pub fn object_bytes(&self, bucket: &str, key: &str) -> Vec<u8> {
        std::fs::read(self.root().join(bucket).join(key)).expect("the object's file")
    }

    /// An `s3` config section for `bucket` on this server, path style.
    pub fn config(&self, bucket: &str) -> echostream::config::S3 {
        config_for(&self.endpoint(), bucket)
    }

    /// Kills the server and waits for it to exit; the port stays closed
    /// until [`restart`](Self::restart).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port and root.
    ///
    /// # Panics
    ///
    /// If it does not start (with its log).
    pub fn restart(&mut self) {
        self.stop();
        if let Err(log) = self.spawn() {
            panic!(
                "s3s-fs did not restart on port {}; its log:\n{log}",
                self.port
            );
        }
    }

    /// Runs the binary on `self.port` and waits until it accepts; on
    /// failure returns its log.
    fn spawn(&mut self) -> Result<(), String> {
        let log_path = self.dir.path().join("s3s-fs.log");
        let log = File::create(&log_path).expect("the server's log file");
        let child = Command::new(&self.binary)
            .args(["--host", "127.0.0.1", "--port", &self.port.to_string()])
            .args(["--access-key", ACCESS_KEY, "--secret-key", SECRET_KEY])
            .arg(self.root())
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("a second handle on the log"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", self.binary.display()));
        self.child = Some(child);
        let address = SocketAddr::from(([127, 0, 0, 1], self.port));
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            let child = self.child.as_mut().expect("spawned above");
            if let Some(status) = child.try_wait().expect("the child's status") {
                self.child = None;
                let log = std::fs::read_to_string(&log_path).unwrap_or_default();
                return Err(format!("exited with {status}\n{log}"));
            }
            if TcpStream::connect_timeout(&address, Duration::from_millis(200)).is_ok() {
                return Ok(());
            }
            if Instant::now() > deadline {
                self.stop();
                let log = std::fs::read_to_string(&log_path).unwrap_or_default();
                return Err(format!("not listening after {START_TIMEOUT:?}\n{log}"));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for S3sFs {
    fn drop(&mut self) {
        self.stop();
    }
}

/// An `s3` config section for `bucket` at `endpoint`, path style, with
/// the test keys.
pub fn config_for(endpoint: &str, bucket: &str) -> echostream::config::S3 {
    echostream::config::S3 {
        endpoint: Some(endpoint.to_owned()),
        region: "us-east-1".to_owned(),
        bucket: bucket.to_owned(),
        access_key: ACCESS_KEY.to_owned(),
        secret_key: SECRET_KEY.to_owned(),
        path_style: true,
        prefix: String::new(),
        presign_expiry_s: 3_600,
        backoff_max_s: 300,
    }
}

/// A port no one listens on now.
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a loopback port");
    listener.local_addr().expect("its address").port()
}

/// `s3s-fs` from `PATH`, else from `$CARGO_HOME/bin` or `~/.cargo/bin`.
fn find_binary() -> PathBuf {
    let mut places: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).collect())
        .unwrap_or_default();
    if let Some(cargo_home) = std::env::var_os("CARGO_HOME") {
        places.push(Path::new(&cargo_home).join("bin"));
    }
    if let Some(home) = std::env::var_os("HOME") {
        places.push(Path::new(&home).join(".cargo").join("bin"));
    }
    places
        .iter()
        .map(|dir| dir.join("s3s-fs"))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| {
            panic!(
                "the S3 tests need s3s-fs 0.14.1, which is not in PATH, $CARGO_HOME/bin nor \
                 ~/.cargo/bin; install it with `{INSTALL}`"
            )
        })
}

/// A loopback TCP proxy in front of a server that can drop requests: a
/// request whose head contains the armed text has its connection closed
/// unanswered, as a dying link would. attohttpc opens one connection per
/// request, so each connection carries one request.
#[derive(Debug)]
pub struct FaultProxy {
    port: u16,
    state: Arc<ProxyState>,
}

#[derive(Debug, Default)]
struct ProxyState {
    armed: Mutex<Option<String>>,
    dropped: AtomicU64,
    stall: Mutex<Option<String>>,
    stalled: AtomicU64,
    stop: AtomicBool,
}

/// Longest request head the proxy reads before deciding.
const HEAD_LEN_MAX: usize = 64 * 1024;

impl FaultProxy {
    /// A proxy on a free loopback port forwarding to `upstream_port`.
    pub fn start(upstream_port: u16) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a loopback port");
        let port = listener.local_addr().expect("its address").port();
        let state = Arc::new(ProxyState::default());
        let shared = Arc::clone(&state);
        std::thread::spawn(move || {
            for client in listener.incoming() {
                if shared.stop.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(client) = client else { continue };
                let shared = Arc::clone(&shared);
                std::thread::spawn(move || forward(client, upstream_port, &shared));
            }
        });
        FaultProxy { port, state }
    }

    /// `http://127.0.0.1:{port}`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// From now on, drop every request whose head contains `text`
    /// (`None`: forward all).
    pub fn drop_requests_containing(&self, text: Option<&str>) {
        *self.state.armed.lock().expect("not poisoned") = text.map(str::to_owned);
    }

    /// Requests dropped so far.
    pub fn dropped(&self) -> u64 {
        self.state.dropped.load(Ordering::SeqCst)
    }

    /// From now on, a request whose head contains `text` has its head and
    /// the first part of its body passed on, and then nothing more either
    /// way: the server holds a request cut off mid-body, the client waits
    /// for its answer (`None`: forward all).
    pub fn stall_requests_containing(&self, text: Option<&str>) {
        *self.state.stall.lock().expect("not poisoned") = text.map(str::to_owned);
    }

    /// Requests stalled so far.
    pub fn stalled(&self) -> u64 {
        self.state.stalled.load(Ordering::SeqCst)
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.state.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so that it sees `stop`.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

/// Reads the request head from `client`, then drops it or pipes both ways.
fn forward(mut client: TcpStream, upstream_port: u16, state: &ProxyState) {
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < HEAD_LEN_MAX {
        match client.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    let armed = state.armed.lock().expect("not poisoned").clone();
    if armed.is_some_and(|text| String::from_utf8_lossy(&head).contains(&text)) {
        state.dropped.fetch_add(1, Ordering::SeqCst);
        let _ = client.shutdown(Shutdown::Both);
        return;
    }
    let Ok(mut upstream) = TcpStream::connect(("127.0.0.1", upstream_port)) else {
        return;
    };
    if upstream.write_all(&head).is_err() {
        return;
    }
    let stall = state.stall.lock().expect("not poisoned").clone();
    if stall.is_some_and(|text| String::from_utf8_lossy(&head).contains(&text)) {
        // One more read of the body goes through, then the connection
        // hangs until the client goes away.
        if let Ok(n) = client.read(&mut buf) {
            let _ = upstream.write_all(&buf[..n]);
        }
        state.stalled.fetch_add(1, Ordering::SeqCst);
        while !state.stop.load(Ordering::SeqCst) {
            match client.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
        return;
    }
    let (Ok(mut client_in), Ok(mut upstream_out)) = (client.try_clone(), upstream.try_clone())
    else {
        return;
    };
    let up = std::thread::spawn(move || {
        let _ = io::copy(&mut client_in, &mut upstream_out);
        let _ = upstream_out.shutdown(Shutdown::Write);
    });
    let _ = io::copy(&mut upstream, &mut client);
    let _ = client.shutdown(Shutdown::Both);
    let _ = up.join();
}
