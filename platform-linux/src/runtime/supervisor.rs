//! The node's side of the service watchdog: reads how far each capture,
//! playback and network thread has got, hands that to
//! [`echostream_core::watchdog::Watchdog`], and carries out what it says
//! (readiness, keep-alives, stall reports) through the service manager's
//! notify socket, the log and the event stream.
//!
//! Runs on the main thread's loop ([`Node::run`](super::Node::run)): a
//! main thread that hangs sends no pings either.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use echostream_core::time::{Duration as CoreDuration, Instant as CoreInstant};
use echostream_core::watchdog::{Output, Watchdog};

use crate::audio::Counters;
use crate::events::Events;
use crate::net::NetCounters;
use crate::systemd::Notifier;

/// Without a service manager's watchdog, a thread standing still this long
/// is still reported (log and `error` event).
pub const STALL_WITHOUT_MANAGER: Duration = Duration::from_secs(5);

/// Where a watched thread's progress count is read.
#[derive(Debug, Clone)]
pub enum Progress {
    /// An audio thread: periods moved.
    Audio(Arc<Counters>),
    /// The network thread: loop turns.
    Net(Arc<NetCounters>),
}

impl Progress {
    fn count(&self) -> u64 {
        let counter: &AtomicU64 = match self {
            Progress::Audio(counters) => &counters.periods,
            Progress::Net(counters) => &counters.turns,
        };
        counter.load(Ordering::Relaxed)
    }
}

/// One watched thread.
#[derive(Debug)]
pub struct Watched {
    /// Its name (`capture-<channel>`, `playback-<channel>`, `net`).
    pub name: String,
    /// Where its progress is read.
    pub progress: Progress,
}

/// The watchdog of a running node. See the [module docs](self).
#[derive(Debug)]
pub struct Supervisor {
    watchdog: Watchdog,
    threads: Vec<Watched>,
    notifier: Option<Notifier>,
    journal: Option<Events>,
    epoch: Instant,
    channel_count: usize,
}

impl Supervisor {
    /// Watches `threads`, talking to the service manager `NOTIFY_SOCKET`
    /// names (if any) with its `WATCHDOG_USEC` interval.
    pub fn from_env(threads: Vec<Watched>, channel_count: usize, journal: Option<Events>) -> Self {
        let notifier = match Notifier::from_env() {
            Ok(notifier) => notifier,
            Err(error) => {
                log::warn!("{error}: the service manager will not hear from the node");
                None
            }
        };
        let interval = crate::systemd::watchdog_interval().filter(|_| notifier.is_some());
        Supervisor::new(threads, channel_count, journal, notifier, interval)
    }

    /// As [`from_env`](Supervisor::from_env), with the notifier and
    /// interval given.
    pub fn new(
        threads: Vec<Watched>,
        channel_count: usize,
        journal: Option<Events>,
        notifier: Option<Notifier>,
        interval: Option<Duration>,
    ) -> Self {
        let epoch = Instant::now();
        let core = |d: Duration| CoreDuration::from_micros(d.as_micros() as u64);
        let watchdog = Watchdog::new(
            CoreInstant::ZERO,
            threads.len(),
            interval.map(core),
            core(STALL_WITHOUT_MANAGER),
        );
        let watchdog = match watchdog {
            Ok(watchdog) => watchdog,
            Err(error) => {
                // Only an interval under half a second gets here: use the
                // shortest taken rather than run unwatched.
                log::warn!("service watchdog: {error}; pinging as if it were 500 ms");
                Watchdog::new(
                    CoreInstant::ZERO,
                    threads.len(),
                    Some(echostream_core::watchdog::INTERVAL_MIN),
                    core(STALL_WITHOUT_MANAGER),
                )
                .expect("at most MAX_WATCHED threads: 2 per channel and the network")
            }
        };
        if let Some(interval) = interval {
            log::info!(
                "service watchdog: {} ms; a thread still for {} ms stops the pings",
                interval.as_millis(),
                watchdog.stall_after().as_millis()
            );
        }
        Supervisor {
            watchdog,
            threads,
            notifier,
            journal,
            epoch,
            channel_count,
        }
    }

    fn now(&self) -> CoreInstant {
        CoreInstant::from_micros(self.epoch.elapsed().as_micros() as u64)
    }

    /// Thread `name` ended on purpose (an input file without `input_loop`).
    pub fn retire(&mut self, name: &str) {
        if let Some(index) = self.threads.iter().position(|t| t.name == name) {
            self.watchdog.handle_retired(index);
        }
    }

    /// Reads every thread's progress and acts on what the watchdog says.
    /// Call at least every [`TICK_MAX`](echostream_core::watchdog::TICK_MAX).
    pub fn tick(&mut self) {
        let now = self.now();
        for (index, thread) in self.threads.iter().enumerate() {
            self.watchdog
                .handle_progress(now, index, thread.progress.count());
        }
        self.watchdog.handle_tick(now);
        while let Some(output) = self.watchdog.poll() {
            self.act(output);
        }
    }

    fn act(&mut self, output: Output) {
        match output {
            Output::Ready => {
                let status = format!(
                    "running: {} channel(s), {} threads moving",
                    self.channel_count,
                    self.threads.len()
                );
                log::info!("ready: {status}");
                self.notify(&format!("READY=1\nSTATUS={status}"));
            }
            Output::Ping => self.notify("WATCHDOG=1"),
            Output::Stalled { thread, stalled_ms } => {
                let name = &self.threads[thread].name;
                let message = format!(
                    "{name} has not moved for {stalled_ms} ms (a wedged sound card or \
                     driver?): no more watchdog pings, so a service manager restarts the node"
                );
                log::error!("{message}");
                if let Some(journal) = &self.journal {
                    journal.emit(
                        "error",
                        None,
                        crate::fields! { "component" => "watchdog", "thread" => name.clone(), "message" => message },
                    );
                }
                let status = format!("STATUS={name} stalled");
                self.notify(&status);
            }
            Output::Resumed { thread } => {
                let name = self.threads[thread].name.clone();
                log::warn!("{name} moves again");
                self.notify(&format!("STATUS={name} moves again"));
            }
        }
    }

    /// Tells the service manager the node is stopping, and lets go of the
    /// event stream (its writer is joined on the way down).
    pub fn stopping(mut self) {
        self.notify("STOPPING=1\nSTATUS=stopping");
    }

    fn notify(&mut self, message: &str) {
        if let Some(notifier) = &mut self.notifier {
            notifier.send(message);
        }
    }
}
