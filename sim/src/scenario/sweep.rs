//! Seed sweeps: the [random](super::random) scenario of every seed in a
//! range, run on several threads (each world is independent and
//! single-threaded), judged, and every failing seed named with its first
//! broken invariant and the command that replays it.

use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::report::{replay_random, violation_line};
use super::{BuildOptions, prepare, random, run};

/// A seed whose scenario broke an invariant (or could not be built: a
/// generator bug).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The seed.
    pub seed: u64,
    /// Its first violation, in words (checker, step, time, seed, detail).
    pub first: String,
    /// How many invariants it broke.
    pub violations: usize,
}

impl Failure {
    /// The command that replays it.
    pub fn replay(&self) -> String {
        replay_random(self.seed)
    }
}

/// Where a sweep is.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Progress {
    /// Seeds finished.
    pub done: u64,
    /// Of these.
    pub total: u64,
    /// Seeds that failed so far.
    pub failed: u64,
    /// Since the sweep started.
    pub elapsed: Duration,
}

impl Progress {
    /// Seeds finished per second of wall time.
    pub fn seeds_per_s(&self) -> f64 {
        self.done as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// How often `progress` is told, at most.
const PROGRESS_EVERY: Duration = Duration::from_millis(200);

/// Runs the random scenario of each seed `from..from + count` on `jobs`
/// threads (at least 1); calls `progress` from the calling thread now and
/// then and once at the end. Returns the failures by seed.
pub fn sweep(
    from: u64,
    count: u64,
    jobs: usize,
    mut progress: impl FnMut(Progress),
) -> Vec<Failure> {
    let next = AtomicU64::new(0);
    let done = AtomicU64::new(0);
    let failures = Mutex::new(Vec::new());
    let started = Instant::now();
    let jobs = jobs.clamp(1, count.max(1) as usize);
    let report = |failures: &Mutex<Vec<Failure>>| Progress {
        done: done.load(Ordering::Relaxed),
        total: count,
        failed: failures.lock().map_or(0, |f| f.len() as u64),
        elapsed: started.elapsed(),
    };
    std::thread::scope(|scope| {
        for _ in 0..jobs {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= count {
                        break;
                    }
                    if let Some(failure) = run_seed(from + i) {
                        failures
                            .lock()
                            .expect("no thread panics holding it")
                            .push(failure);
                    }
                    done.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
        while done.load(Ordering::Relaxed) < count {
            std::thread::sleep(PROGRESS_EVERY);
            if done.load(Ordering::Relaxed) < count {
                progress(report(&failures));
            }
        }
    });
    progress(report(&failures));
    let mut failures = failures.into_inner().expect("no thread panics holding it");
    failures.sort_by_key(|f| f.seed);
    failures
}

/// Runs the random scenario of `seed`; `None`: it passed.
pub fn run_seed(seed: u64) -> Option<Failure> {
    let scenario = random::generate(seed);
    let options = BuildOptions {
        seed: None,
        keep_samples: false,
    };
    let outcome = prepare(&scenario, Path::new("."), options).and_then(run);
    match outcome {
        Ok(outcome) => outcome.first().map(|v| Failure {
            seed,
            first: violation_line(v),
            violations: outcome.violations.len(),
        }),
        Err(e) => Some(Failure {
            seed,
            first: format!("the generated scenario is refused: {e}"),
            violations: 1,
        }),
    }
}
