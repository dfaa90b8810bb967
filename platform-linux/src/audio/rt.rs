//! Realtime setup of an audio thread (SCHED_FIFO, `mlockall`) and pacing
//! to absolute deadlines on `CLOCK_MONOTONIC`.

use std::sync::OnceLock;

/// How the audio threads ask to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtSettings {
    /// SCHED_FIFO priority, 1 to 99; 0 leaves the thread at normal
    /// priority (config `audio.rt_priority`).
    pub priority: u32,
    /// Lock all current and future memory (`mlockall`) so the loop never
    /// waits for a page fault. Done once per process.
    pub lock_memory: bool,
}

impl RtSettings {
    /// The settings the `audio` section of a config asks for.
    pub fn from_config(audio: &crate::config::Audio) -> RtSettings {
        RtSettings {
            priority: audio.rt_priority,
            lock_memory: audio.rt_priority > 0,
        }
    }

    /// Normal priority, no memory locking (tests, tools).
    pub const NORMAL: RtSettings = RtSettings {
        priority: 0,
        lock_memory: false,
    };
}

/// What the realtime setup achieved. Refusals are warnings: the thread runs
/// anyway, at normal priority or with unlocked memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtStatus {
    /// The thread runs under SCHED_FIFO at the asked priority.
    pub realtime: bool,
    /// Memory is locked (by this or an earlier thread).
    pub memory_locked: bool,
    /// One line per refusal, for the log: what was refused, the errno, and
    /// how to allow it.
    pub warnings: Vec<String>,
}

/// Promotes the calling thread as `settings` ask. Call at thread start,
/// before the loop: it allocates (the warnings) and may log nothing itself.
pub fn promote_current_thread(settings: RtSettings) -> RtStatus {
    let mut warnings = Vec::new();
    let realtime = if settings.priority == 0 {
        false
    } else {
        let priority = settings.priority.min(99) as libc::c_int;
        let param = libc::sched_param {
            sched_priority: priority,
        };
        // SAFETY: `pthread_self()` is the calling thread, alive for the
        // call; `param` is a valid sched_param that outlives the call.
        let err =
            unsafe { libc::pthread_setschedparam(libc::pthread_self(), libc::SCHED_FIFO, &param) };
        if err == 0 {
            true
        } else {
            warnings.push(format!(
                "SCHED_FIFO priority {priority} refused ({}); the audio thread runs at normal \
                 priority and may glitch under load. Allow it with `LimitRTPRIO=99` in the \
                 systemd unit, `@audio - rtprio 99` in /etc/security/limits.conf, or \
                 CAP_SYS_NICE",
                std::io::Error::from_raw_os_error(err)
            ));
            false
        }
    };
    let memory_locked = if settings.lock_memory {
        match lock_memory() {
            Ok(()) => true,
            Err(err) => {
                warnings.push(format!(
                    "mlockall refused ({err}); audio memory may be paged out. Allow it with \
                     `LimitMEMLOCK=infinity` in the systemd unit or CAP_IPC_LOCK"
                ));
                false
            }
        }
    } else {
        false
    };
    RtStatus {
        realtime,
        memory_locked,
        warnings,
    }
}

/// `mlockall(MCL_CURRENT | MCL_FUTURE)`, once per process: the first
/// caller's result is every caller's.
fn lock_memory() -> Result<(), std::io::Error> {
    static RESULT: OnceLock<Result<(), i32>> = OnceLock::new();
    let result = RESULT.get_or_init(|| {
        // SAFETY: mlockall takes flags only and touches no Rust memory.
        let rc = unsafe { libc::mlockall(libc::MCL_CURRENT | libc::MCL_FUTURE) };
        if rc == 0 {
            Ok(())
        } else {
            Err(std::io::Error::last_os_error().raw_os_error().unwrap_or(0))
        }
    });
    result.map_err(std::io::Error::from_raw_os_error)
}

/// Holds a stream to real time: frame `n` is due `n / rate` seconds after
/// the pacer started, on `CLOCK_MONOTONIC`. Sleeping to absolute deadlines
/// (`clock_nanosleep` with `TIMER_ABSTIME`) never accumulates drift.
#[derive(Debug, Clone)]
pub struct Pacer {
    start_ns: u128,
    rate_hz: u32,
    frames: u64,
}

impl Pacer {
    /// A pacer starting now.
    pub fn new(rate_hz: u32) -> Pacer {
        assert!(rate_hz > 0, "a pacer needs a rate");
        Pacer {
            start_ns: u128::from(crate::clock::monotonic_now_ns()),
            rate_hz,
            frames: 0,
        }
    }

    /// Counts `frames` more and sleeps until the last of them is due, less
    /// `slack_frames` (a device with a buffer may run that far ahead).
    /// Returns at once when late: lateness is not made up by sleeping less
    /// later, nor skipped.
    pub fn advance(&mut self, frames: u64, slack_frames: u64) {
        self.frames += frames;
        let due_frames = self.frames.saturating_sub(slack_frames);
        let due_ns =
            self.start_ns + u128::from(due_frames) * 1_000_000_000 / u128::from(self.rate_hz);
        sleep_until_ns(due_ns);
    }
}

fn sleep_until_ns(due_ns: u128) {
    let due = libc::timespec {
        tv_sec: (due_ns / 1_000_000_000) as libc::time_t,
        tv_nsec: (due_ns % 1_000_000_000) as libc::c_long,
    };
    loop {
        // SAFETY: `due` is a valid timespec; a null remainder is allowed
        // with TIMER_ABSTIME.
        let rc = unsafe {
            libc::clock_nanosleep(
                libc::CLOCK_MONOTONIC,
                libc::TIMER_ABSTIME,
                &due,
                std::ptr::null_mut(),
            )
        };
        // EINTR: a signal woke us early; the deadline is absolute, so
        // sleeping again is exact.
        if rc != libc::EINTR {
            return;
        }
    }
}
