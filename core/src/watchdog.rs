//! The service watchdog's decision: tell the supervisor (systemd) that the
//! node is ready once every watched thread has started moving, and keep
//! pinging it only while every one of them still moves.
//!
//! The node's audio threads block in the sound card and its network thread
//! turns at least every [`IDLE_MAX`](crate::node::IDLE_MAX); a thread that
//! stops (a wedged USB card, a driver that never returns, a deadlock) must
//! get the node restarted, not hidden behind a main thread that is still
//! alive. So a ping is the statement "every thread made progress within
//! the last [`stall_after`](Watchdog::stall_after)", where that is half the
//! supervisor's interval: a thread that stops is reported within half an
//! interval, and the supervisor, missing its pings, kills the node within
//! one and a half.
//!
//! Sans-IO like the rest of core. Drain contract: after
//! [`handle_tick`](Watchdog::handle_tick) (call it at least every
//! [`TICK_MAX`], and at [`poll_timeout`](Watchdog::poll_timeout)), drain
//! [`poll`](Watchdog::poll) until `None`. Progress counts arrive through
//! [`handle_progress`](Watchdog::handle_progress) (any monotonic count the
//! thread bumps as it works: periods moved, loop turns), before the tick.

use crate::MAX_CHANNELS;
use crate::time::{Duration, Instant};

/// The most threads one watchdog watches: a capture and a playback thread
/// per channel, the network thread, and one spare.
pub const MAX_WATCHED: usize = 2 * MAX_CHANNELS + 2;

/// The longest the caller may wait between two ticks: a finer tick would
/// not make a stall seen sooner than the stall time allows for.
pub const TICK_MAX: Duration = Duration::from_millis(100);

/// The shortest supervisor interval taken: below it, the node's own tick
/// and a loaded machine's scheduling would look like stalls.
pub const INTERVAL_MIN: Duration = Duration::from_millis(500);

const _: () = assert!(TICK_MAX.as_micros() * 2 < INTERVAL_MIN.as_micros());

/// What the watchdog tells its caller to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    /// Every watched thread has started: tell the supervisor the service
    /// is up (`READY=1`). Once per watchdog.
    Ready,
    /// Every watched thread is moving: send a keep-alive (`WATCHDOG=1`).
    Ping,
    /// Thread `thread` made no progress for `stalled_ms`: report it. No
    /// pings go out until it moves again.
    Stalled {
        /// Its index, as given to [`Watchdog::new`]'s count.
        thread: usize,
        /// How long it has not moved.
        stalled_ms: u64,
    },
    /// Thread `thread`, reported stalled, moves again.
    Resumed {
        /// Its index.
        thread: usize,
    },
}

/// Why a watchdog cannot be made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WatchdogError {
    /// More threads than [`MAX_WATCHED`].
    TooManyThreads,
    /// An interval shorter than [`INTERVAL_MIN`].
    IntervalTooShort,
}

impl core::fmt::Display for WatchdogError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            WatchdogError::TooManyThreads => {
                write!(f, "more than {MAX_WATCHED} threads to watch")
            }
            WatchdogError::IntervalTooShort => write!(
                f,
                "a watchdog interval under {} ms",
                INTERVAL_MIN.as_millis()
            ),
        }
    }
}

impl core::error::Error for WatchdogError {}

/// One watched thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Watched {
    /// Not seen moving yet.
    Starting,
    /// Last seen moving at `at`, its count then `count`.
    Moving { count: u64, at: Instant },
    /// Reported stalled; its count when it stopped.
    Stalled { count: u64 },
    /// Ended on purpose (an input file that ran out): not watched.
    Retired,
}

/// Readiness and keep-alives for a supervisor. See the [module docs](self).
#[derive(Debug, Clone)]
pub struct Watchdog {
    threads: [Watched; MAX_WATCHED],
    thread_count: usize,
    /// Half the supervisor's interval.
    stall_after: Duration,
    /// Pings go out this often while healthy.
    ping_every: Duration,
    /// Whether pings are wanted at all (a supervisor with a watchdog).
    pinging: bool,
    ready: bool,
    next_ping: Instant,
    outputs: Queue,
}

impl Watchdog {
    /// Watches `thread_count` threads from `now`. With `interval` (the
    /// supervisor's watchdog interval, systemd's `WATCHDOG_USEC`) it pings
    /// every quarter interval while healthy; without, it only reports
    /// readiness and stalls, taking a stall after `stall_without_ms`.
    ///
    /// # Errors
    ///
    /// Too many threads, or an interval under [`INTERVAL_MIN`].
    pub fn new(
        now: Instant,
        thread_count: usize,
        interval: Option<Duration>,
        stall_without: Duration,
    ) -> Result<Watchdog, WatchdogError> {
        if thread_count > MAX_WATCHED {
            return Err(WatchdogError::TooManyThreads);
        }
        let full = interval.unwrap_or(stall_without.saturating_add(stall_without));
        if full.as_micros() < INTERVAL_MIN.as_micros() {
            return Err(WatchdogError::IntervalTooShort);
        }
        let stall_after = Duration::from_micros(full.as_micros() / 2);
        Ok(Watchdog {
            threads: [Watched::Starting; MAX_WATCHED],
            thread_count,
            stall_after,
            ping_every: Duration::from_micros(full.as_micros() / 4),
            pinging: interval.is_some(),
            ready: false,
            next_ping: now,
            outputs: Queue::new(),
        })
    }

    /// How long a thread may stand still before it is reported.
    pub fn stall_after(&self) -> Duration {
        self.stall_after
    }

    /// Whether [`Output::Ready`] has gone out.
    pub fn is_ready(&self) -> bool {
        self.ready
    }

    /// Thread `thread`'s progress count is `count` at `now`.
    ///
    /// # Panics
    ///
    /// When `thread` is not below the count given to [`Watchdog::new`]
    /// (a bug in the caller).
    pub fn handle_progress(&mut self, now: Instant, thread: usize, count: u64) {
        assert!(thread < self.thread_count, "thread {thread} is not watched");
        let slot = &mut self.threads[thread];
        *slot = match *slot {
            Watched::Starting if count == 0 => Watched::Starting,
            Watched::Moving { count: seen, at } if count == seen => Watched::Moving { count, at },
            Watched::Stalled { count: seen } if count == seen => Watched::Stalled { count },
            Watched::Stalled { .. } => {
                self.outputs.push(Output::Resumed { thread });
                Watched::Moving { count, at: now }
            }
            Watched::Retired => Watched::Retired,
            _ => Watched::Moving { count, at: now },
        };
    }

    /// Thread `thread` ended on purpose: stop watching it.
    ///
    /// # Panics
    ///
    /// As [`handle_progress`](Watchdog::handle_progress).
    pub fn handle_retired(&mut self, thread: usize) {
        assert!(thread < self.thread_count, "thread {thread} is not watched");
        self.threads[thread] = Watched::Retired;
    }

    /// Looks at every thread at `now`: reports new stalls, readiness once
    /// every thread has moved, and a ping when one is due and nothing is
    /// stalled. Drain [`poll`](Watchdog::poll) after it.
    pub fn handle_tick(&mut self, now: Instant) {
        let mut healthy = true;
        let mut started = true;
        for thread in 0..self.thread_count {
            match self.threads[thread] {
                // A thread that never starts keeps readiness back: the
                // supervisor's start time-out acts on it.
                Watched::Starting => started = false,
                Watched::Moving { count, at } => {
                    let still = now.saturating_duration_since(at);
                    if still >= self.stall_after {
                        self.threads[thread] = Watched::Stalled { count };
                        self.outputs.push(Output::Stalled {
                            thread,
                            stalled_ms: still.as_millis(),
                        });
                        healthy = false;
                    }
                }
                Watched::Stalled { .. } => healthy = false,
                Watched::Retired => {}
            }
        }
        if !self.ready {
            if !started {
                return;
            }
            self.ready = true;
            self.outputs.push(Output::Ready);
        }
        if healthy && self.pinging && now >= self.next_ping {
            self.outputs.push(Output::Ping);
            self.next_ping = now + self.ping_every;
        }
    }

    /// The next output, until `None`.
    pub fn poll(&mut self) -> Option<Output> {
        self.outputs.pop()
    }

    /// When to tick next at the latest: the next ping, within [`TICK_MAX`].
    pub fn poll_timeout(&self, now: Instant) -> Instant {
        let tick = now + TICK_MAX;
        if self.pinging && self.next_ping < tick {
            self.next_ping.max(now)
        } else {
            tick
        }
    }
}

/// The outputs of one tick: at most one per thread, readiness and a ping.
const QUEUE_LEN: usize = MAX_WATCHED + 2;

#[derive(Debug, Clone)]
struct Queue {
    items: [Option<Output>; QUEUE_LEN],
    head: usize,
    len: usize,
}

impl Queue {
    fn new() -> Queue {
        Queue {
            items: [None; QUEUE_LEN],
            head: 0,
            len: 0,
        }
    }

    fn push(&mut self, output: Output) {
        // A tick adds at most one output per thread plus two, and the
        // caller drains after each: a full queue is a caller that does not.
        assert!(self.len < QUEUE_LEN, "watchdog outputs not drained");
        self.items[(self.head + self.len) % QUEUE_LEN] = Some(output);
        self.len += 1;
    }

    fn pop(&mut self) -> Option<Output> {
        if self.len == 0 {
            return None;
        }
        let output = self.items[self.head].take();
        self.head = (self.head + 1) % QUEUE_LEN;
        self.len -= 1;
        output
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const INTERVAL: Duration = Duration::from_secs(10);

    fn at(ms: u64) -> Instant {
        Instant::from_millis(ms)
    }

    fn drain(w: &mut Watchdog) -> ([Option<Output>; QUEUE_LEN], usize) {
        let mut out = [None; QUEUE_LEN];
        let mut n = 0;
        while let Some(o) = w.poll() {
            out[n] = Some(o);
            n += 1;
        }
        (out, n)
    }

    /// Ticks every 100 ms from `from_ms` to `to_ms`, every thread but
    /// `stuck` moving, counting pings and collecting other outputs.
    fn run(
        w: &mut Watchdog,
        counts: &mut [u64],
        stuck: Option<usize>,
        from_ms: u64,
        to_ms: u64,
    ) -> (u32, [Option<(u64, Output)>; 8]) {
        let mut pings = 0;
        let mut others = [None; 8];
        let mut n = 0;
        let mut t = from_ms;
        while t < to_ms {
            for (i, c) in counts.iter_mut().enumerate() {
                if Some(i) != stuck {
                    *c += 20;
                }
                w.handle_progress(at(t), i, *c);
            }
            w.handle_tick(at(t));
            while let Some(o) = w.poll() {
                if o == Output::Ping {
                    pings += 1;
                } else {
                    others[n] = Some((t, o));
                    n += 1;
                }
            }
            t += 100;
        }
        (pings, others)
    }

    #[test]
    fn ready_only_once_every_thread_has_moved() {
        let mut w = Watchdog::new(at(0), 3, Some(INTERVAL), Duration::ZERO).unwrap();
        w.handle_progress(at(10), 0, 5);
        w.handle_progress(at(10), 1, 5);
        w.handle_tick(at(10));
        assert_eq!(
            drain(&mut w).1,
            0,
            "thread 2 has not moved: no ready, no ping"
        );
        w.handle_progress(at(20), 2, 1);
        w.handle_tick(at(20));
        let (out, n) = drain(&mut w);
        assert_eq!(&out[..n], &[Some(Output::Ready), Some(Output::Ping)]);
        assert!(w.is_ready());
    }

    #[test]
    fn pings_every_quarter_interval_while_all_move() {
        let mut w = Watchdog::new(at(0), 2, Some(INTERVAL), Duration::ZERO).unwrap();
        let mut counts = [0, 0];
        let (pings, others) = run(&mut w, &mut counts, None, 0, 60_000);
        // 60 s at one ping per 2.5 s.
        assert_eq!(pings, 24);
        assert_eq!(others[0], Some((0, Output::Ready)));
        assert_eq!(others[1], None);
    }

    #[test]
    fn a_stalled_thread_stops_the_pings_within_half_an_interval() {
        let mut w = Watchdog::new(at(0), 3, Some(INTERVAL), Duration::ZERO).unwrap();
        let mut counts = [0, 0, 0];
        run(&mut w, &mut counts, None, 0, 10_000);
        // Thread 1 last moves at 9.9 s.
        let (pings, others) = run(&mut w, &mut counts, Some(1), 10_000, 40_000);
        // Pings at 10, 12.5 (the stall is seen at 14.9 s), none after.
        assert_eq!(pings, 2);
        assert_eq!(
            others[0],
            Some((
                14_900,
                Output::Stalled {
                    thread: 1,
                    stalled_ms: 5_000
                }
            ))
        );
        assert_eq!(others[1], None, "reported once");
        // The supervisor's last ping was at 12.5 s: it kills at 22.5 s,
        // 12.6 s after the thread stopped, within 1.5 intervals.
    }

    #[test]
    fn a_thread_that_moves_again_resumes_the_pings() {
        let mut w = Watchdog::new(at(0), 2, Some(INTERVAL), Duration::ZERO).unwrap();
        let mut counts = [0, 0];
        run(&mut w, &mut counts, None, 0, 1_000);
        run(&mut w, &mut counts, Some(0), 1_000, 8_000);
        let (pings, others) = run(&mut w, &mut counts, None, 8_000, 9_000);
        assert_eq!(others[0], Some((8_000, Output::Resumed { thread: 0 })));
        assert_eq!(
            pings, 1,
            "a ping at once: the last went out before the stall"
        );
    }

    #[test]
    fn a_retired_thread_is_not_watched() {
        let mut w = Watchdog::new(at(0), 2, Some(INTERVAL), Duration::ZERO).unwrap();
        let mut counts = [0, 0];
        run(&mut w, &mut counts, None, 0, 1_000);
        w.handle_retired(1);
        let (pings, others) = run(&mut w, &mut counts, Some(1), 1_000, 21_000);
        assert_eq!(pings, 8);
        assert_eq!(others[0], None);
    }

    #[test]
    fn a_thread_retired_before_it_moved_does_not_hold_readiness_back() {
        let mut w = Watchdog::new(at(0), 2, Some(INTERVAL), Duration::ZERO).unwrap();
        w.handle_retired(1);
        w.handle_progress(at(0), 0, 1);
        w.handle_tick(at(0));
        assert_eq!(w.poll(), Some(Output::Ready));
    }

    #[test]
    fn without_a_supervisor_it_reports_but_never_pings() {
        let mut w = Watchdog::new(at(0), 1, None, Duration::from_secs(2)).unwrap();
        let mut counts = [0];
        let (pings, others) = run(&mut w, &mut counts, None, 0, 1_000);
        assert_eq!((pings, others[0]), (0, Some((0, Output::Ready))));
        let (pings, others) = run(&mut w, &mut counts, Some(0), 1_000, 5_000);
        assert_eq!(pings, 0);
        assert_eq!(
            others[0],
            Some((
                2_900,
                Output::Stalled {
                    thread: 0,
                    stalled_ms: 2_000
                }
            ))
        );
    }

    #[test]
    fn refuses_what_it_cannot_watch() {
        assert_eq!(
            Watchdog::new(at(0), MAX_WATCHED + 1, Some(INTERVAL), Duration::ZERO).unwrap_err(),
            WatchdogError::TooManyThreads
        );
        assert_eq!(
            Watchdog::new(at(0), 1, Some(Duration::from_millis(100)), Duration::ZERO).unwrap_err(),
            WatchdogError::IntervalTooShort
        );
    }

    #[test]
    fn poll_timeout_is_the_next_ping_within_a_tick() {
        let mut w = Watchdog::new(at(0), 1, Some(INTERVAL), Duration::ZERO).unwrap();
        assert_eq!(
            w.poll_timeout(at(0)),
            at(0),
            "the first ping is due at once"
        );
        w.handle_progress(at(0), 0, 1);
        w.handle_tick(at(0));
        drain(&mut w);
        assert_eq!(w.poll_timeout(at(0)), at(100));
        assert_eq!(w.poll_timeout(at(2_450)), at(2_500));
    }
}
