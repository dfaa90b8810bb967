//! Shared by the tests that run `echostream` as a real process: the
//! binary, a scratch folder with the default config, a running node whose
//! log is read as it comes, sample recordings with pages in them, and the
//! events it wrote.

#![allow(dead_code, reason = "each test file uses a different subset")]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("platform-linux sits in the workspace")
        .to_owned()
}

pub fn echostream(args: &[&str], dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_echostream"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("echostream runs")
}

/// A scratch folder holding the default config (its status endpoint on a
/// free port) and an empty `samples/`.
pub fn default_config_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::copy(
        workspace_root().join("config.json"),
        dir.path().join("config.json"),
    )
    .expect("copy config.json");
    std::fs::create_dir(dir.path().join("samples")).expect("samples folder");
    // Tests run side by side: each status endpoint on a port of its own.
    edit_config(dir.path(), |c| {
        c["http"] = serde_json::json!({"listen": "127.0.0.1:0"});
    });
    dir
}

/// `echostream run --config config.json` in a folder, its log read line
/// by line as it comes.
pub struct Running {
    child: std::process::Child,
    lines: std::sync::mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Running {
    pub fn start(dir: &Path) -> Running {
        Running::start_with(dir, "config.json")
    }

    pub fn start_with(dir: &Path, config: &str) -> Running {
        let mut child = Command::new(env!("CARGO_BIN_EXE_echostream"))
            .args(["run", "--config", config])
            .current_dir(dir)
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("start echostream");
        let stderr_pipe = child.stderr.take().expect("stderr");
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(stderr_pipe)
                .lines()
                .map_while(Result::ok)
            {
                let _ = tx.send(line);
            }
        });
        Running {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// Reads the log until `done` holds of what it said; panics naming
    /// `what` after 40 s.
    pub fn wait_for(&mut self, what: &str, done: impl Fn(&[String]) -> bool) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(40);
        while !done(&self.seen) {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => self.seen.push(line),
                Err(_) => panic!("{what} within 40 s; log: {:#?}", self.seen),
            }
        }
    }

    /// The log lines read so far.
    pub fn seen_lines(&self) -> &[String] {
        &self.seen
    }

    /// SIGKILL (no chance to clean up), then the whole log.
    pub fn kill(mut self) -> Vec<String> {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("wait");
        self.seen.extend(self.lines.iter());
        self.seen
    }

    /// SIGTERM, then the exit status and the whole log.
    pub fn stop(mut self) -> (std::process::ExitStatus, Vec<String>) {
        // SAFETY: kill(2) on our own child with a valid signal.
        unsafe {
            libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM);
        }
        let status = self.child.wait().expect("wait");
        // The reader ends with the pipe; take everything it read.
        self.seen.extend(self.lines.iter());
        (status, self.seen)
    }
}

pub fn write_samples(
    dir: &Path,
    build: impl FnOnce(&mut echostream_sim::audio::Signal),
) -> PathBuf {
    let mut pages = echostream_sim::audio::Signal::new(48_000);
    build(&mut pages);
    let source = dir.join("samples/station-pages.wav");
    pages.write_wav(&source).expect("write pages");
    let quiet = vec![0.0f32; 48_000];
    echostream_sim::audio::write_wav_i16(&dir.join("samples/speech.wav"), 48_000, 1, &quiet)
        .expect("write speech");
    source
}

/// Voice-like audio: 150 ms two-tone syllables no detector takes for a
/// page or a digit.
pub fn syllables(pages: &mut echostream_sim::audio::Signal, ms: f64) {
    let pairs = [
        (310.0, 470.0),
        (530.0, 620.0),
        (280.0, 590.0),
        (500.0, 650.0),
    ];
    for i in 0..(ms / 150.0) as usize {
        let (low, high) = pairs[i % pairs.len()];
        pages.dual_tone(low, high, 150.0, 0.2, 0.1);
    }
}

/// Station 1's page from 0.3 s (its tones end at 3.8 s), `talk_ms` of
/// voice-like audio, then 3 s of quiet: the pages channel's sample.
pub fn station_1_then_talk(dir: &Path, talk_ms: f64) {
    write_samples(dir, |pages| {
        pages
            .silence(300.0)
            .page(349.0, 707.3, 1_000.0, 0.0, 2_500.0, 0.3);
        syllables(pages, talk_ms);
        pages.silence(3_000.0);
    });
}

/// The events the node wrote, each checked for the common fields.
pub fn events_of(dir: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(dir.join("events.jsonl")).expect("events.jsonl");
    text.lines()
        .map(|l| {
            let event: Value = serde_json::from_str(l).expect("each line is one JSON object");
            for field in ["event_id", "type", "time", "node_id", "channel"] {
                assert!(event.get(field).is_some(), "{field} missing in {event}");
            }
            event
        })
        .collect()
}

pub fn of_type<'a>(events: &'a [Value], kind: &str) -> Vec<&'a Value> {
    events.iter().filter(|e| e["type"] == kind).collect()
}

/// Changes the folder's config.json.
pub fn edit_config(dir: &Path, edit: impl FnOnce(&mut Value)) {
    let path = dir.join("config.json");
    let mut config: Value =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("read")).expect("JSON");
    edit(&mut config);
    std::fs::write(&path, config.to_string()).expect("write config");
}
