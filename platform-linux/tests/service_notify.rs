//! The node under a service manager: `echostream run` as a real process
//! with `NOTIFY_SOCKET` naming a Unix datagram socket this test binds, as
//! systemd does for the packaged unit (`Type=notify`, `WatchdogSec=`).
//!
//! The stalled capture thread is real too: the channel captures from ALSA's
//! `file` plugin over `null`, whose `infile` is a FIFO this test feeds in
//! real time and then stops feeding (keeping it open), so the capture
//! thread blocks in its read like a wedged sound card. alsa-lib reads
//! `$HOME/.asoundrc`, so the node runs with `HOME` set to a temp folder.

use std::io::Write;
use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::json;

/// 1 s: pings every 250 ms, a thread still for 500 ms stops them.
const WATCHDOG_USEC: u64 = 1_000_000;

/// A message from the node, with when it arrived.
struct Message {
    at: Instant,
    text: String,
}

/// The service manager's end: every datagram the node sends.
struct Manager {
    messages: mpsc::Receiver<Message>,
    seen: Vec<Message>,
}

impl Manager {
    fn bind(path: &Path) -> Manager {
        let socket = UnixDatagram::bind(path).expect("bind the notify socket");
        let (tx, messages) = mpsc::channel();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = socket.recv(&mut buf) {
                let text = String::from_utf8_lossy(&buf[..n]).into_owned();
                if tx
                    .send(Message {
                        at: Instant::now(),
                        text,
                    })
                    .is_err()
                {
                    break;
                }
            }
        });
        Manager {
            messages,
            seen: Vec::new(),
        }
    }

    /// Waits up to `timeout` for a message containing `line`; when it came.
    fn wait_for(&mut self, line: &str, timeout: Duration) -> Instant {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(m) = self.seen.iter().find(|m| m.text.lines().any(|l| l == line)) {
                return m.at;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match self.messages.recv_timeout(left) {
                Ok(m) => self.seen.push(m),
                Err(_) => panic!(
                    "no `{line}` within {timeout:?}; the node sent: {:?}",
                    self.texts()
                ),
            }
        }
    }

    /// Takes in what arrived so far.
    fn collect(&mut self) {
        while let Ok(m) = self.messages.try_recv() {
            self.seen.push(m);
        }
    }

    /// The pings that arrived in `[from, to)`.
    fn pings_between(&self, from: Instant, to: Instant) -> usize {
        self.seen
            .iter()
            .filter(|m| m.text == "WATCHDOG=1" && m.at >= from && m.at < to)
            .count()
    }

    fn texts(&self) -> Vec<&str> {
        self.seen.iter().map(|m| m.text.as_str()).collect()
    }
}

/// A node config with one channel capturing from `input` into ALSA's
/// `null`, always open, with the embedded relay.
fn config(dir: &Path, input: &str) -> std::path::PathBuf {
    let config = json!({
        "node_id": "watchdog-test",
        "relay": "embedded",
        "http": { "listen": null },
        "audio": { "rt_priority": 0 },
        "channels": [{
            "id": "radio",
            "input_device": input,
            "input_loop": true,
            "output_device": "null",
            "cor": "always"
        }],
        "events_file": dir.join("events.jsonl"),
        "recordings": { "dir": dir.join("recordings") }
    });
    let path = dir.join("config.json");
    std::fs::write(&path, serde_json::to_vec_pretty(&config).unwrap()).unwrap();
    path
}

/// `echostream run` under the test's manager, its log collected.
fn start(dir: &Path, config: &Path, socket: &Path) -> (Child, mpsc::Receiver<String>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_echostream"))
        .args(["run", "--config"])
        .arg(config)
        .current_dir(dir)
        .env("HOME", dir)
        .env("NOTIFY_SOCKET", socket)
        .env("WATCHDOG_USEC", WATCHDOG_USEC.to_string())
        .env_remove("WATCHDOG_PID")
        .stderr(Stdio::piped())
        .spawn()
        .expect("start echostream");
    let stderr = child.stderr.take().expect("stderr");
    let (tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            let _ = tx.send(line);
        }
    });
    (child, lines)
}

/// The child's exit status; a node that does not stop within `timeout`
/// is killed and the test fails (a stop that hangs holds up a service
/// manager's restart).
fn wait_exit(child: &mut Child, timeout: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            return status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the node did not stop within {timeout:?} of SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn log_of(lines: &mpsc::Receiver<String>) -> Vec<String> {
    lines.try_iter().collect()
}

#[test]
fn ready_once_running_pings_while_healthy_and_stopping_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let wav = dir.path().join("speech.wav");
    let speech = echostream_sim::audio::voiced_speech_i16(48_000, 48_000);
    let speech: Vec<f32> = speech.iter().map(|&s| f32::from(s) / 32_768.0).collect();
    echostream_sim::audio::write_wav_i16(&wav, 48_000, 1, &speech).unwrap();
    let socket = dir.path().join("notify");
    let mut manager = Manager::bind(&socket);
    let config = config(dir.path(), &format!("file:{}", wav.display()));
    let (mut child, lines) = start(dir.path(), &config, &socket);

    let ready = manager.wait_for("READY=1", Duration::from_secs(20));
    std::thread::sleep(Duration::from_secs(3));
    manager.collect();
    // Every 250 ms for 3 s: 12, give or take the edges and a busy machine.
    let pings = manager.pings_between(ready, ready + Duration::from_secs(3));
    assert!(
        (9..=13).contains(&pings),
        "{pings} pings in 3 s at a 1 s watchdog: {:?}",
        manager.texts()
    );
    assert!(
        manager
            .seen
            .iter()
            .any(|m| m.text.contains("STATUS=running")),
        "{:?}",
        manager.texts()
    );

    // SAFETY: kill(2) on our own child with a valid signal.
    unsafe {
        libc::kill(child.id() as libc::pid_t, libc::SIGTERM);
    }
    manager.wait_for("STOPPING=1", Duration::from_secs(10));
    let status = wait_exit(&mut child, Duration::from_secs(20));
    assert_eq!(status.code(), Some(0), "log: {:#?}", log_of(&lines));
}

#[test]
fn a_stalled_capture_thread_stops_the_pings_and_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("radio.pcm");
    let c_path = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: mkfifo(3) with a NUL-terminated path and a plain mode.
    assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0, "mkfifo");
    std::fs::write(
        dir.path().join(".asoundrc"),
        format!(
            "pcm.wedged {{\n  type file\n  slave.pcm \"null\"\n  file \"/dev/null\"\n  \
             infile \"{}\"\n  format \"raw\"\n}}\n",
            fifo.display()
        ),
    )
    .unwrap();
    let socket = dir.path().join("notify");
    let mut manager = Manager::bind(&socket);
    let config = config(dir.path(), "wedged");
    let (mut child, lines) = start(dir.path(), &config, &socket);

    // The card: 20 ms of a quiet tone every 20 ms, in real time.
    let (stop_feeding, feeding) = mpsc::channel::<()>();
    let fifo_path = fifo.clone();
    let feeder = std::thread::spawn(move || {
        let mut card = std::fs::OpenOptions::new()
            .write(true)
            .open(&fifo_path)
            .expect("open the FIFO (the node opens it for reading)");
        let period: Vec<u8> = (0..960)
            .flat_map(|n| {
                let s = (1_000.0 * (n as f64 * 0.13).sin()) as i16;
                s.to_le_bytes()
            })
            .collect();
        let start = Instant::now();
        let mut sent = 0u32;
        while feeding.try_recv().is_err() {
            card.write_all(&period).expect("the node reads the FIFO");
            sent += 1;
            let next = start + Duration::from_millis(20) * sent;
            std::thread::sleep(next.saturating_duration_since(Instant::now()));
        }
        // Held open: the reader blocks instead of seeing the end.
        card
    });

    let ready = manager.wait_for("READY=1", Duration::from_secs(20));
    std::thread::sleep(Duration::from_secs(2));
    manager.collect();
    let healthy = manager.pings_between(ready, ready + Duration::from_secs(2));
    assert!(healthy >= 6, "pings while fed: {:?}", manager.texts());

    stop_feeding.send(()).unwrap();
    let card = feeder.join().unwrap();
    let stalled_at = Instant::now();
    manager.wait_for("STATUS=capture-radio stalled", Duration::from_secs(5));
    std::thread::sleep(Duration::from_secs(3));
    manager.collect();
    // The thread is reported within the 500 ms stall time (plus the ring
    // the capture had read ahead), and from then on nothing: systemd
    // would kill the node one interval after the last ping.
    let last_ping = manager
        .seen
        .iter()
        .filter(|m| m.text == "WATCHDOG=1")
        .map(|m| m.at)
        .max()
        .expect("pings before the stall");
    assert!(
        last_ping < stalled_at + Duration::from_millis(800),
        "a ping {:?} after the feed stopped: {:?}",
        last_ping.saturating_duration_since(stalled_at),
        manager.texts()
    );
    let after = manager.pings_between(stalled_at + Duration::from_secs(1), Instant::now());
    assert_eq!(after, 0, "{:?}", manager.texts());

    child.kill().unwrap();
    child.wait().unwrap();
    drop(card);
    let log = log_of(&lines);
    assert!(
        log.iter()
            .any(|l| l.contains("capture-radio has not moved for")),
        "{log:#?}"
    );
    let events = std::fs::read_to_string(dir.path().join("events.jsonl")).unwrap();
    assert!(
        events
            .lines()
            .any(|l| l.contains("\"component\":\"watchdog\"") && l.contains("capture-radio")),
        "{events}"
    );
}
