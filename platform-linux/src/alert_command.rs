//! `alert_command`: a program run for each alert, what TwoToneDetect and
//! iCAD users wire to sirens, station printers and paging gateways.
//!
//! The program is run directly (no shell, no `PATH` search) with the
//! configured arguments, the event's JSON line on standard input and its
//! main fields in `ECHOSTREAM_*` environment variables. At most
//! [`RUNNING_MAX`] run at once; more wait in a queue of [`QUEUE_LEN`]
//! (beyond it they are dropped, counted and logged: a command that never
//! ends must not hold up the node). Each is killed after `timeout_ms`.
//! Its exit status and the first [`STDERR_KEPT`] bytes of its standard
//! error are logged; its standard output is discarded.
//!
//! Commands are side effects of the moment: they are not replayed after a
//! restart (a siren sounded for a page an hour old would be worse than
//! none). Durable delivery is the outbox's job (MQTT, webhooks).

use std::io::{Read as _, Write as _};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::config::AlertCommand;

/// Commands running at once.
pub const RUNNING_MAX: usize = 4;
/// Events waiting for a free place.
pub const QUEUE_LEN: usize = 64;
/// Standard error kept for the log, in bytes.
pub const STDERR_KEPT: usize = 2048;
/// How often running commands are looked at.
const POLL: Duration = Duration::from_millis(20);

/// The event types a command runs for when `events` is empty.
pub const DEFAULT_EVENTS: [&str; 5] =
    ["two_tone", "long_tone", "hi_low", "pulsed", "dtmf_sequence"];

/// Figures of the runner, shared with its thread.
#[derive(Debug, Default)]
pub struct Counts {
    /// Commands started.
    pub started: AtomicU64,
    /// Commands that exited 0.
    pub succeeded: AtomicU64,
    /// Commands that exited otherwise, were killed, or could not start.
    pub failed: AtomicU64,
    /// Events dropped because the queue was full.
    pub dropped: AtomicU64,
}

/// Runs the alert command for the events it wants. Dropping it waits for
/// the commands running (each at most its time limit).
#[derive(Debug)]
pub struct AlertCommands {
    events: Vec<String>,
    queue: Option<SyncSender<String>>,
    counts: Arc<Counts>,
    thread: Option<JoinHandle<()>>,
}

impl AlertCommands {
    /// Starts the runner thread for `config`.
    ///
    /// # Errors
    /// No thread could be started.
    pub fn start(config: &AlertCommand) -> std::io::Result<AlertCommands> {
        let (queue, jobs) = mpsc::sync_channel(QUEUE_LEN);
        let counts = Arc::new(Counts::default());
        let thread = std::thread::Builder::new()
            .name("alert-command".into())
            .spawn({
                let (config, counts) = (config.clone(), Arc::clone(&counts));
                move || run(&config, &jobs, &counts)
            })?;
        let events = if config.events.is_empty() {
            DEFAULT_EVENTS.iter().map(|&e| e.to_owned()).collect()
        } else {
            config.events.clone()
        };
        Ok(AlertCommands {
            events,
            queue: Some(queue),
            counts,
            thread: Some(thread),
        })
    }

    /// Whether events of `event_type` run the command.
    pub fn wants(&self, event_type: &str) -> bool {
        self.events.iter().any(|e| e == event_type)
    }

    /// Runs the command for `line` (one event's JSON) if it wants its
    /// type. Never blocks: a full queue drops it, counted and logged.
    pub fn submit(&self, event_type: &str, line: &str) {
        if !self.wants(event_type) {
            return;
        }
        let Some(queue) = &self.queue else { return };
        match queue.try_send(line.to_owned()) {
            Ok(()) => {}
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                let n = self.counts.dropped.fetch_add(1, Ordering::Relaxed) + 1;
                log::error!(
                    "alert_command: {QUEUE_LEN} events already wait for it; this {event_type} \
                     event was not run ({n} dropped so far): the command takes too long"
                );
            }
        }
    }

    /// The runner's figures.
    pub fn counts(&self) -> &Counts {
        &self.counts
    }
}

impl crate::events::EventSink for AlertCommands {
    fn accept(&mut self, kind: &str, line: &str) -> bool {
        self.submit(kind, line.strip_suffix('\n').unwrap_or(line));
        // A command is a side effect of the moment, not a place events are
        // kept: it never holds an event back.
        true
    }
}

impl Drop for AlertCommands {
    fn drop(&mut self) {
        self.queue = None;
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            log::error!("the alert-command thread panicked");
        }
    }
}

/// One command running.
struct Running {
    child: Child,
    started: Instant,
    what: String,
    stderr: Option<JoinHandle<Vec<u8>>>,
}

fn run(config: &AlertCommand, jobs: &Receiver<String>, counts: &Counts) {
    let timeout = Duration::from_millis(u64::from(config.timeout_ms));
    let mut running: Vec<Running> = Vec::with_capacity(RUNNING_MAX);
    let mut open = true;
    while open || !running.is_empty() {
        if open && running.len() < RUNNING_MAX {
            match jobs.recv_timeout(POLL) {
                Ok(line) => {
                    if let Some(r) = spawn(config, &line, counts) {
                        running.push(r);
                    }
                    continue;
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => open = false,
            }
        } else {
            std::thread::sleep(POLL);
        }
        running.retain_mut(|r| !finished(r, timeout, counts));
    }
}

fn spawn(config: &AlertCommand, line: &str, counts: &Counts) -> Option<Running> {
    let event: Value = serde_json::from_str(line).unwrap_or(Value::Null);
    let text = |key: &str| event.get(key).and_then(Value::as_str).unwrap_or("");
    let what = format!(
        "{} for {} {}",
        config.program.display(),
        text("type"),
        text("event_id")
    );
    let mut command = Command::new(&config.program);
    command
        .args(&config.args)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    for (name, value) in environment(&event) {
        command.env(name, value);
    }
    counts.started.fetch_add(1, Ordering::Relaxed);
    let mut child = match command.spawn() {
        Ok(child) => child,
        Err(error) => {
            counts.failed.fetch_add(1, Ordering::Relaxed);
            log::error!(
                "alert_command: cannot run {what}: {error}; check alert_command.program \
                 (an absolute path to an executable file)"
            );
            return None;
        }
    };
    if let Some(mut stdin) = child.stdin.take() {
        // A line is far smaller than a pipe's buffer; a program that does
        // not read it (EPIPE once it exits) is its own business.
        let _ = stdin.write_all(line.as_bytes());
    }
    let mut stderr = child.stderr.take().expect("piped above");
    let stderr = std::thread::spawn(move || {
        let mut kept = Vec::new();
        let mut buf = [0u8; 1024];
        // Read to the end so the program never blocks on a full pipe;
        // keep only the start.
        while let Ok(n) = stderr.read(&mut buf) {
            if n == 0 {
                break;
            }
            let room = STDERR_KEPT.saturating_sub(kept.len());
            kept.extend_from_slice(&buf[..n.min(room)]);
        }
        kept
    });
    Some(Running {
        child,
        started: Instant::now(),
        what,
        stderr: Some(stderr),
    })
}

/// Whether `r` is done (then logged and counted); kills it at `timeout`.
fn finished(r: &mut Running, timeout: Duration, counts: &Counts) -> bool {
    let status = match r.child.try_wait() {
        Ok(Some(status)) => status,
        Ok(None) if r.started.elapsed() < timeout => return false,
        Ok(None) | Err(_) => {
            let _ = r.child.kill();
            let status = r.child.wait();
            counts.failed.fetch_add(1, Ordering::Relaxed);
            log::error!(
                "alert_command: {} killed after {} ms (alert_command.timeout_ms){}",
                r.what,
                timeout.as_millis(),
                status.map(|s| format!(", {s}")).unwrap_or_default()
            );
            return true;
        }
    };
    let took_ms = r.started.elapsed().as_millis();
    let stderr = r
        .stderr
        .take()
        .and_then(|reader| reader.join().ok())
        .unwrap_or_default();
    let stderr = String::from_utf8_lossy(&stderr);
    let stderr = stderr.trim();
    if status.success() {
        counts.succeeded.fetch_add(1, Ordering::Relaxed);
        if stderr.is_empty() {
            log::info!("alert_command: {} done in {took_ms} ms", r.what);
        } else {
            log::info!(
                "alert_command: {} done in {took_ms} ms; stderr: {stderr}",
                r.what
            );
        }
    } else {
        counts.failed.fetch_add(1, Ordering::Relaxed);
        log::error!(
            "alert_command: {} failed ({status}) after {took_ms} ms; stderr: {}",
            r.what,
            if stderr.is_empty() { "(none)" } else { stderr }
        );
    }
    true
}

/// The `ECHOSTREAM_*` variables for `event`.
pub fn environment(event: &Value) -> Vec<(&'static str, String)> {
    let text = |key: &str| match event.get(key) {
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Array(items)) => Some(
            items
                .iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(","),
        ),
        Some(Value::Null) | None => None,
        Some(other) => Some(other.to_string()),
    };
    let mut vars = Vec::new();
    for (name, key) in [
        ("ECHOSTREAM_EVENT_ID", "event_id"),
        ("ECHOSTREAM_EVENT_TYPE", "type"),
        ("ECHOSTREAM_TIME", "time"),
        ("ECHOSTREAM_NODE_ID", "node_id"),
        ("ECHOSTREAM_CHANNEL", "channel"),
        ("ECHOSTREAM_TONE_ID", "tone_id"),
        ("ECHOSTREAM_TONE_IDS", "tone_ids"),
        ("ECHOSTREAM_ALERT_TYPE", "alert_type"),
        ("ECHOSTREAM_DIGITS", "digits"),
        ("ECHOSTREAM_RECORDING_PATH", "path"),
        ("ECHOSTREAM_RECORDING_KEY", "s3_key"),
        ("ECHOSTREAM_RECORDING_URL", "url"),
    ] {
        if let Some(value) = text(key) {
            vars.push((name, value));
        }
    }
    vars
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_environment_names_the_event() {
        let event: Value = serde_json::from_str(
            r#"{"event_id":"p-000001","type":"recording","time":"2026-12-07T03:19:35.120Z",
                "node_id":"station-12","channel":"pages","tone_ids":["Station 1","Station 2"],
                "path":"/var/lib/echostream/recordings/a.wav","url":"https://s3/x?sig"}"#,
        )
        .unwrap();
        let vars = environment(&event);
        let get = |name: &str| {
            vars.iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(get("ECHOSTREAM_EVENT_TYPE"), Some("recording"));
        assert_eq!(get("ECHOSTREAM_TONE_IDS"), Some("Station 1,Station 2"));
        assert_eq!(
            get("ECHOSTREAM_RECORDING_PATH"),
            Some("/var/lib/echostream/recordings/a.wav")
        );
        assert_eq!(get("ECHOSTREAM_RECORDING_URL"), Some("https://s3/x?sig"));
        assert_eq!(get("ECHOSTREAM_TONE_ID"), None);
    }
}
