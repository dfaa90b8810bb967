//! Real processes on loopback for the end-to-end tests: the
//! `echostream-relay` binary, `echostream` nodes with `file:` devices,
//! and the signal analysis that says whether B heard what A said.

#![allow(dead_code)] // each test file uses a different part

use std::io::{BufRead, BufReader, Read};
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub use echostream_sim::audio::correlation;

pub const RATE_HZ: u32 = 48_000;

/// The `echostream` binary under test.
pub fn node_binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_echostream"))
}

/// The `echostream-relay` binary of the same build. `cargo test
/// --workspace` builds it; a narrower run builds it here.
pub fn relay_binary() -> PathBuf {
    let path = node_binary()
        .parent()
        .expect("the binary is in a directory")
        .join("echostream-relay");
    if !path.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
        let mut cmd = Command::new(cargo);
        cmd.args([
            "build",
            "-p",
            "echostream-relay",
            "--bin",
            "echostream-relay",
        ]);
        if !cfg!(debug_assertions) {
            cmd.arg("--release");
        }
        let status = cmd.status().expect("run cargo to build echostream-relay");
        assert!(status.success(), "cargo build -p echostream-relay failed");
    }
    assert!(path.exists(), "no relay binary at {}", path.display());
    path
}

/// A free TCP port and a free UDP port on loopback (bound and released,
/// so a restarted relay can take the same ones).
pub fn free_ports() -> (u16, u16) {
    let tcp = TcpListener::bind("127.0.0.1:0").expect("bind tcp");
    let udp = UdpSocket::bind("127.0.0.1:0").expect("bind udp");
    (
        tcp.local_addr().expect("addr").port(),
        udp.local_addr().expect("addr").port(),
    )
}

/// A child process whose stderr is collected (and echoed with a prefix,
/// so a failing test shows what the process said).
pub struct Proc {
    pub name: String,
    child: Option<Child>,
    log: Arc<Mutex<Vec<String>>>,
}

impl Proc {
    fn spawn(name: &str, mut cmd: Command) -> (Proc, Option<std::process::ChildStdout>) {
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap_or_else(|e| panic!("start {name}: {e}"));
        let stderr = child.stderr.take().expect("piped stderr");
        let stdout = child.stdout.take();
        let log = Arc::new(Mutex::new(Vec::new()));
        let sink = log.clone();
        let prefix = name.to_owned();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                eprintln!("[{prefix}] {line}");
                sink.lock().expect("log lock").push(line);
            }
        });
        (
            Proc {
                name: name.to_owned(),
                child: Some(child),
                log,
            },
            stdout,
        )
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("a running process").id()
    }

    /// The stderr lines so far.
    pub fn log(&self) -> Vec<String> {
        self.log.lock().expect("log lock").clone()
    }

    /// Waits until a stderr line contains `needle`; panics after `within`.
    pub fn wait_for_log(&self, needle: &str, within: Duration) -> String {
        let deadline = Instant::now() + within;
        loop {
            if let Some(line) = self.log().into_iter().find(|l| l.contains(needle)) {
                return line;
            }
            assert!(
                Instant::now() < deadline,
                "{}: no log line with `{needle}` within {within:?}",
                self.name
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits until one stderr line contains every one of `needles`.
    pub fn wait_for_line_with(&self, needles: &[&str], within: Duration) -> String {
        let deadline = Instant::now() + within;
        loop {
            if let Some(line) = self
                .log()
                .into_iter()
                .find(|l| needles.iter().all(|n| l.contains(n)))
            {
                return line;
            }
            assert!(
                Instant::now() < deadline,
                "{}: no log line with all of {needles:?} within {within:?}",
                self.name
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Counts stderr lines containing every one of `needles`.
    pub fn count_lines_with(&self, needles: &[&str]) -> usize {
        self.log()
            .iter()
            .filter(|l| needles.iter().all(|n| l.contains(n)))
            .count()
    }

    /// Counts stderr lines containing `needle`.
    pub fn count_log(&self, needle: &str) -> usize {
        self.log().iter().filter(|l| l.contains(needle)).count()
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut() {
            Some(child) => child.try_wait().expect("try_wait").is_none(),
            None => false,
        }
    }

    /// SIGTERM, then waits (up to 10 s) and returns the exit code.
    pub fn terminate(&mut self) -> Option<i32> {
        let mut child = self.child.take()?;
        // SAFETY: kill(2) with a pid we own and a valid signal number.
        unsafe {
            libc::kill(child.id() as libc::pid_t, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = child.try_wait().expect("try_wait") {
                return status.code();
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("{} did not stop within 10 s of SIGTERM", self.name);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits (up to `within`) for the process to end on its own; its
    /// exit code (`None` if a signal ended it).
    pub fn wait_exit(&mut self, within: Duration) -> Option<i32> {
        let mut child = self.child.take().expect("a running process");
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = child.try_wait().expect("try_wait") {
                return status.code();
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("{} did not end within {within:?}", self.name);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGKILL: the process dies without cleaning up.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A running relay and where it listens.
pub struct Relay {
    pub proc: Proc,
    pub ws: SocketAddr,
    pub udp: SocketAddr,
}

/// Starts `echostream-relay` on the given loopback ports (0 = any) with
/// extra arguments, and waits for its `listening` line.
pub fn start_relay(ws_port: u16, udp_port: u16, extra: &[&str]) -> Relay {
    let mut cmd = Command::new(relay_binary());
    cmd.args([
        "--listen",
        &format!("127.0.0.1:{ws_port}"),
        "--udp",
        &format!("127.0.0.1:{udp_port}"),
        // Not the default port: tests run relays side by side.
        "--http",
        "127.0.0.1:0",
    ]);
    cmd.args(extra);
    cmd.env("ECHOSTREAM_LOG", "info");
    let (proc, stdout) = Proc::spawn("relay", cmd);
    let (tx, rx) = mpsc::channel();
    let mut stdout = stdout.expect("piped stdout");
    std::thread::spawn(move || {
        let mut reader = BufReader::new(&mut stdout);
        let mut line = String::new();
        let _ = reader.read_line(&mut line);
        let _ = tx.send(line);
        // Keep draining so the relay never blocks on a full pipe.
        let mut sink = Vec::new();
        let _ = reader.read_to_end(&mut sink);
    });
    let line = rx
        .recv_timeout(Duration::from_secs(20))
        .expect("the relay prints its `listening` line");
    let addr = |key: &str| -> SocketAddr {
        line.split_whitespace()
            .find_map(|w| w.strip_prefix(key))
            .unwrap_or_else(|| panic!("`{key}` in the relay's line `{line}`"))
            .parse()
            .expect("a socket address")
    };
    Relay {
        ws: addr("ws="),
        udp: addr("udp="),
        proc,
    }
}

/// One node's config: channel `fire` reading `input` (looped or not) with
/// COR always on, writing what it hears to `output` (if any), connected
/// to the relay at `ws`.
pub fn node_config(
    dir: &Path,
    node_id: &str,
    ws: SocketAddr,
    input: &Path,
    input_loop: bool,
    output: Option<&Path>,
    cor: &str,
) -> PathBuf {
    let output = match output {
        Some(path) => format!("\"output_device\": \"file:{}\",", path.display()),
        None => String::new(),
    };
    let text = format!(
        r#"{{
  "node_id": "{node_id}",
  "http": {{ "listen": null }},
  "relay": {{ "url": "ws://{ws}", "token": "test-token", "connect_timeout_ms": 2000, "reconnect_max_ms": 2000 }},
  "audio": {{
    "sample_rate_hz": 48000, "frame_ms": 20, "period_ms": 5, "buffer_periods": 3,
    "preroll_ms": 0, "jitter_min_ms": 20, "jitter_max_ms": 200, "rt_priority": 0,
    "opus": {{ "bitrate_bps": 32000, "complexity": 5, "fec": true, "expected_loss_pct": 20, "dtx": false, "application": "audio" }}
  }},
  "channels": [
    {{ "id": "fire", "input_device": "file:{input}", "input_loop": {input_loop}, {output}
       "cor": {cor} }}
  ],
  "recordings": {{ "dir": "{rec}", "spool_dir": "{rec}/spool" }},
  "events_file": "{events}"
}}
"#,
        input = input.display(),
        rec = dir.join(format!("rec-{node_id}")).display(),
        events = dir.join(format!("events-{node_id}.jsonl")).display(),
    );
    let path = dir.join(format!("{node_id}.json"));
    std::fs::write(&path, text).expect("write node config");
    path
}

/// Starts `echostream run --config CONFIG` with extra environment.
pub fn start_node_with_env(name: &str, config: &Path, env: &[(&str, &str)]) -> Proc {
    let mut cmd = Command::new(node_binary());
    cmd.args(["run", "--config"]).arg(config);
    cmd.env("ECHOSTREAM_LOG", "info");
    cmd.envs(env.iter().copied());
    Proc::spawn(name, cmd).0
}

/// Starts `echostream run --config CONFIG`.
pub fn start_node(name: &str, config: &Path) -> Proc {
    let mut cmd = Command::new(node_binary());
    cmd.args(["run", "--config"]).arg(config);
    cmd.env("ECHOSTREAM_LOG", "info");
    Proc::spawn(name, cmd).0
}

/// Speech-like audio whose loudness changes every 50 ms at random
/// (seeded), so that any window of it matches only one place.
pub fn marked_speech(secs: f64, seed: u64) -> Vec<i16> {
    let len = (secs * f64::from(RATE_HZ)) as usize;
    let speech = echostream_sim::audio::voiced_speech_i16(RATE_HZ, len);
    let mut rng = echostream_sim::Rng::new(seed);
    let segment = RATE_HZ as usize / 20;
    let mut gain = 1.0;
    speech
        .iter()
        .enumerate()
        .map(|(i, &s)| {
            if i % segment == 0 {
                gain = 0.3 + 0.7 * rng.unit();
            }
            (f64::from(s) * gain) as i16
        })
        .collect()
}

pub fn write_wav(path: &Path, samples: &[i16]) {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: RATE_HZ,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec).expect("create wav");
    for &s in samples {
        w.write_sample(s).expect("write sample");
    }
    w.finalize().expect("finalize wav");
}

const ENVELOPE_LEN: usize = 240; // 5 ms

fn envelope(samples: &[i16]) -> Vec<f64> {
    samples
        .chunks_exact(ENVELOPE_LEN)
        .map(|c| (c.iter().map(|&s| f64::from(s).powi(2)).sum::<f64>() / c.len() as f64).sqrt())
        .collect()
}

/// Where in the (looped) `source` the output sample at `at` came from:
/// the 2 s of output from `at` are matched against every position of the
/// source by their 5 ms loudness envelope, then refined sample by sample.
/// Returns the source index, or None when the output there is silent.
pub fn locate(source: &[i16], output: &[i16], at: usize) -> Option<usize> {
    let window = 2 * RATE_HZ as usize;
    let out = output.get(at..at + window)?;
    let out_env = envelope(out);
    if out_env.iter().sum::<f64>() / (out_env.len() as f64) < 30.0 {
        return None;
    }
    // The source, looped once, so a window may wrap.
    let doubled: Vec<i16> = source.iter().chain(source.iter()).copied().collect();
    let src_env = envelope(&doubled);
    let frames = source.len() / ENVELOPE_LEN;
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let out_mean = mean(&out_env);
    let coarse = (0..frames)
        .max_by(|&a, &b| {
            let score = |p: usize| {
                let s = &src_env[p..p + out_env.len()];
                let s_mean = mean(s);
                let (mut num, mut ss, mut oo) = (0.0, 0.0, 0.0);
                for (x, y) in s.iter().zip(&out_env) {
                    num += (x - s_mean) * (y - out_mean);
                    ss += (x - s_mean).powi(2);
                    oo += (y - out_mean).powi(2);
                }
                num / (ss * oo).sqrt().max(1e-9)
            };
            score(a).total_cmp(&score(b))
        })
        .expect("a position");
    // Refine within ±10 ms on a 200 ms window.
    let fine_window = &out[..RATE_HZ as usize / 5];
    Some(best_match(
        source,
        fine_window,
        coarse * ENVELOPE_LEN,
        RATE_HZ as usize / 100,
    ))
}

/// Where in the (looped) `source`, within `reach` samples of `near`, the
/// output samples `out` match best (largest raw cross-correlation): every
/// second position, then the neighbours of the best. Returns the source
/// index.
pub fn best_match(source: &[i16], out: &[i16], near: usize, reach: usize) -> usize {
    let n = source.len();
    let raw = |p: usize| -> i64 {
        out.iter()
            .enumerate()
            .map(|(i, &y)| i64::from(source[(p + i) % n]) * i64::from(y))
            .sum()
    };
    // Positions offset by n, so that `near - reach` does not go below 0.
    let centre = near % n + n;
    let coarse = (centre - reach..=centre + reach)
        .step_by(2)
        .max_by_key(|&p| raw(p))
        .expect("a position");
    (coarse - 1..=coarse + 1)
        .max_by_key(|&p| raw(p))
        .expect("a position")
        % n
}

/// Correlation of `len` output samples from `at` with the source samples
/// they came from (`from`, wrapping around the looped source).
pub fn correlation_at(source: &[i16], output: &[i16], at: usize, from: usize, len: usize) -> f64 {
    let src: Vec<i16> = (0..len)
        .map(|i| source[(from + i) % source.len()])
        .collect();
    correlation(&src, &output[at..at + len])
}

/// RMS of 20 ms blocks: true where the output is playing something.
pub fn loud_blocks(output: &[i16]) -> Vec<bool> {
    output
        .chunks(960)
        .map(|c| {
            let rms =
                (c.iter().map(|&s| f64::from(s).powi(2)).sum::<f64>() / c.len() as f64).sqrt();
            rms > 100.0
        })
        .collect()
}

/// A UDP proxy that drops a share of the datagrams nodes send (seeded),
/// standing between the nodes and the relay's UDP socket: nodes send to
/// `addr`; each node gets its own upstream socket, so the relay answers
/// through the proxy too (those answers pass untouched).
pub struct LossyProxy {
    pub addr: SocketAddr,
    stop: Arc<std::sync::atomic::AtomicBool>,
    pub stats: Arc<Mutex<(u64, u64)>>, // (forwarded, dropped)
    thread: Option<std::thread::JoinHandle<()>>,
}

impl LossyProxy {
    /// Starts a proxy to `upstream` dropping `loss` (0..1) of datagrams.
    pub fn start(upstream: SocketAddr, loss: f64, seed: u64) -> LossyProxy {
        use std::sync::atomic::{AtomicBool, Ordering};
        let front = UdpSocket::bind("127.0.0.1:0").expect("bind proxy");
        front
            .set_read_timeout(Some(Duration::from_millis(1)))
            .expect("timeout");
        let addr = front.local_addr().expect("addr");
        let stop = Arc::new(AtomicBool::new(false));
        let stats = Arc::new(Mutex::new((0u64, 0u64)));
        let thread_stop = stop.clone();
        let thread_stats = stats.clone();
        let thread = std::thread::spawn(move || {
            let mut rng = echostream_sim::Rng::new(seed);
            // client address → its upstream socket
            let mut clients: Vec<(SocketAddr, UdpSocket)> = Vec::new();
            let mut buf = [0u8; 2048];
            while !thread_stop.load(Ordering::Relaxed) {
                if let Ok((len, from)) = front.recv_from(&mut buf) {
                    let i = match clients.iter().position(|(a, _)| *a == from) {
                        Some(i) => i,
                        None => {
                            let up = UdpSocket::bind("127.0.0.1:0").expect("bind upstream");
                            up.set_nonblocking(true).expect("nonblocking");
                            clients.push((from, up));
                            clients.len() - 1
                        }
                    };
                    forward(&mut rng, loss, &thread_stats, || {
                        let _ = clients[i].1.send_to(&buf[..len], upstream);
                    });
                }
                for (client, up) in &clients {
                    while let Ok((len, _)) = up.recv_from(&mut buf) {
                        let _ = front.send_to(&buf[..len], client);
                    }
                }
            }
        });
        LossyProxy {
            addr,
            stop,
            stats,
            thread: Some(thread),
        }
    }
}

fn forward(
    rng: &mut echostream_sim::Rng,
    loss: f64,
    stats: &Mutex<(u64, u64)>,
    send: impl FnOnce(),
) {
    let mut s = stats.lock().expect("stats lock");
    if rng.chance(loss) {
        s.1 += 1;
    } else {
        s.0 += 1;
        send();
    }
}

impl Drop for LossyProxy {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The samples of a 16-bit WAV file.
pub fn read_wav(path: &Path) -> Vec<i16> {
    echostream_sim::audio::read_wav_i16(path)
        .unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}
