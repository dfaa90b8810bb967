//! Invariant checkers: each watches what the world reports as it happens
//! ([`Observation`]s, in step order) and names every broken invariant at
//! once, with the step, the virtual time and the seed that reproduce it.
//!
//! The world feeds every checker every observation; a checker keeps only
//! what its invariant needs. Checkers judge what a user would see (the
//! PTT line, the frames played, the alerts raised, the recordings cut),
//! and take the node engine's own reports only where nothing outside it
//! can say (its PTT machine's lock-out state).
//!
//! | checker | invariant |
//! |---|---|
//! | `ptt_timeout` | a PTT line is never keyed longer than its channel's time-out |
//! | `ptt_lockout` | never keyed while the PTT machine is locked out, nor within `lockout_s` of a time-out release |
//! | `ptt_after_shutdown` | released at shutdown, never keyed after it |
//! | `packet_authentic` | every audio frame a node delivers is one some node captured (media time and payload) |
//! | `packet_once` | no captured frame is delivered twice to a node's channel |
//! | `playout_monotonic` | within a talk-spurt, played frames' sequence numbers and media times only go up |
//! | `jitter_bounds` | the jitter buffer's target delay stays within its configured bounds, its delay near them |
//! | `page_alerted_once` | every page placed in a source alerts exactly once at that channel with its `tone_id`; nothing else alerts |
//! | `recording_length` | every recording of an alert is its configured length, or marked truncated by its stop |
//! | `no_panic` | no step panics (reported by the world, which catches the unwind) |

mod packets;
mod pages;
mod playout;
mod ptt;
mod records;

#[cfg(test)]
mod tests;

use std::fmt;

use echostream_core::jitter::{JitterConfig, Stats as JitterStats};
use echostream_core::node::Received;
use echostream_core::ptt::{PttEvent, Timers};
use echostream_core::record::{AlertId, Effect as RecordEffect, RecordConfig};
use echostream_core::time::Instant;
use echostream_core::tone::ToneEvent;
use echostream_core::wire::{MediaTimestamp, Seq};

use super::source::PageTruth;

pub use packets::{PacketAuthentic, PacketOnce};
pub use pages::PageAlertedOnce;
pub use playout::{JitterBounds, PlayoutMonotonic};
pub use ptt::{PttAfterShutdown, PttLockout, PttTimeout};
pub use records::RecordingLength;

/// A broken invariant: which checker, where in the run, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// The checker's name (see the [module docs](self)).
    pub checker: &'static str,
    /// The step of the run (the world counts them from 1).
    pub step: u64,
    /// Virtual time.
    pub at: Instant,
    /// The run's seed: `run` again with it to see the same step.
    pub seed: u64,
    /// What happened, naming node and channel.
    pub detail: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} at step {} ({:.3} s, seed {}): {}",
            self.checker,
            self.step,
            self.at.as_micros() as f64 / 1e6,
            self.seed,
            self.detail
        )
    }
}

/// What a checker needs to know about one channel.
#[derive(Debug, Clone, PartialEq)]
pub struct ChannelFacts {
    /// Its id.
    pub id: String,
    /// Its device rate.
    pub rate_hz: u32,
    /// Its transmitter's timers, if it has one.
    pub ptt: Option<Timers>,
    /// Its playback's jitter buffer, if it plays.
    pub jitter: Option<JitterConfig>,
    /// How it records, if it does.
    pub record: Option<RecordConfig>,
    /// Its definitions' `tone_id` and `record_length_ms`, by definition
    /// index.
    pub alerts: Vec<(String, u32)>,
    /// Whether its pages are known (it has a source): only then are its
    /// alerts held to them.
    pub pages_known: bool,
}

/// What a checker needs to know about one node.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeFacts {
    /// Its id.
    pub id: String,
    /// Its channels, by index.
    pub channels: Vec<ChannelFacts>,
}

/// A frame a channel's playback played (or did not).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Played {
    /// A frame: its sequence number and media time.
    Frame {
        /// Its sequence number.
        seq: Seq,
        /// Its media time.
        timestamp: MediaTimestamp,
    },
    /// A missing frame concealed.
    Conceal,
    /// Silence.
    Silence,
    /// The talk-spurt ended.
    End,
}

/// Something that happened, as the checkers see it. `node` and `channel`
/// are indices.
#[derive(Debug, Clone, Copy)]
pub enum Observation<'a> {
    /// A node's capture side handed a frame to its engine.
    Captured {
        /// The node.
        node: usize,
        /// The channel.
        channel: usize,
        /// Its media time.
        timestamp: MediaTimestamp,
        /// Its payload.
        payload: &'a [u8],
    },
    /// A node's engine delivered a frame to a channel's playback.
    Delivered {
        /// The node.
        node: usize,
        /// The channel.
        channel: usize,
        /// The frame.
        frame: Received,
        /// Its payload.
        payload: &'a [u8],
    },
    /// A channel's playback played a frame period.
    Played {
        /// The node.
        node: usize,
        /// The channel.
        channel: usize,
        /// What.
        played: Played,
    },
    /// A channel's jitter buffer after a pop.
    Jitter {
        /// The node.
        node: usize,
        /// The channel.
        channel: usize,
        /// Its counters and delays.
        stats: JitterStats,
    },
    /// A PTT line was set.
    PttLine {
        /// The node.
        node: usize,
        /// The channel.
        channel: usize,
        /// Keyed.
        keyed: bool,
    },
    /// A node's PTT machine moved (its own report).
    PttMachine {
        /// The node.
        node: usize,
        /// The channel.
        channel: usize,
        /// The move.
        event: PttEvent,
    },
    /// A node was told to stop.
    Shutdown {
        /// The node.
        node: usize,
    },
    /// A page is in a channel's source.
    Page {
        /// The node.
        node: usize,
        /// The channel.
        channel: usize,
        /// Where.
        page: &'a PageTruth,
    },
    /// A channel's capture has heard its source up to this sample.
    Reached {
        /// The node.
        node: usize,
        /// The channel.
        channel: usize,
        /// One past the last sample.
        sample: u64,
    },
    /// A node alerted on a page.
    Alert {
        /// The node.
        node: usize,
        /// The channel.
        channel: usize,
        /// The detection.
        event: ToneEvent,
        /// The alert's id.
        alert: AlertId,
    },
    /// A node's engine handed out a recording effect.
    Record {
        /// The node.
        node: usize,
        /// The channel.
        channel: usize,
        /// The effect.
        effect: RecordEffect,
    },
}

/// One invariant. See the [module docs](self).
pub trait Checker: fmt::Debug {
    /// Its name, as violations carry it.
    fn name(&self) -> &'static str;
    /// Takes one observation at `now`; pushes a line per broken invariant.
    fn observe(&mut self, now: Instant, observation: &Observation<'_>, found: &mut Vec<String>);
    /// The run is over at `now`: what is still owed is broken.
    fn finish(&mut self, _now: Instant, _found: &mut Vec<String>) {}
}

/// Violations kept; more are counted only.
pub const VIOLATIONS_KEPT_MAX: usize = 1_000;

/// Every checker of a world, and what they found.
#[derive(Debug)]
pub struct Checks {
    seed: u64,
    checkers: Vec<Box<dyn Checker>>,
    violations: Vec<Violation>,
    /// Violations past [`VIOLATIONS_KEPT_MAX`].
    pub dropped: u64,
    found: Vec<String>,
}

impl Checks {
    /// Every checker of the [module docs](self), for `nodes`.
    pub fn standard(seed: u64, nodes: &[NodeFacts]) -> Checks {
        let checkers: Vec<Box<dyn Checker>> = vec![
            Box::new(PttTimeout::new(nodes)),
            Box::new(PttLockout::new(nodes)),
            Box::new(PttAfterShutdown::new(nodes)),
            Box::new(PacketAuthentic::default()),
            Box::new(PacketOnce::default()),
            Box::new(PlayoutMonotonic::default()),
            Box::new(JitterBounds::new(nodes)),
            Box::new(PageAlertedOnce::new(nodes)),
            Box::new(RecordingLength::new(nodes)),
        ];
        Checks::with(seed, checkers)
    }

    /// Only `checkers`.
    pub fn with(seed: u64, checkers: Vec<Box<dyn Checker>>) -> Checks {
        Checks {
            seed,
            checkers,
            violations: Vec::new(),
            dropped: 0,
            found: Vec::new(),
        }
    }

    /// Feeds every checker.
    pub fn observe(&mut self, step: u64, now: Instant, observation: &Observation<'_>) {
        for index in 0..self.checkers.len() {
            self.checkers[index].observe(now, observation, &mut self.found);
            self.collect(index, step, now);
        }
    }

    /// Ends the run for every checker.
    pub fn finish(&mut self, step: u64, now: Instant) {
        for index in 0..self.checkers.len() {
            self.checkers[index].finish(now, &mut self.found);
            self.collect(index, step, now);
        }
    }

    /// Records a violation found outside the checkers (`no_panic`).
    pub fn report(&mut self, checker: &'static str, step: u64, at: Instant, detail: String) {
        self.push(Violation {
            checker,
            step,
            at,
            seed: self.seed,
            detail,
        });
    }

    /// What was found so far (at most [`VIOLATIONS_KEPT_MAX`]).
    pub fn violations(&self) -> &[Violation] {
        &self.violations
    }

    fn collect(&mut self, index: usize, step: u64, at: Instant) {
        if self.found.is_empty() {
            return;
        }
        let checker = self.checkers[index].name();
        let found = std::mem::take(&mut self.found);
        for detail in found {
            self.push(Violation {
                checker,
                step,
                at,
                seed: self.seed,
                detail,
            });
        }
    }

    fn push(&mut self, violation: Violation) {
        if self.violations.len() < VIOLATIONS_KEPT_MAX {
            self.violations.push(violation);
        } else {
            self.dropped += 1;
        }
    }
}

/// Names a node's channel in a violation.
pub(crate) fn place(nodes: &[NodeFacts], node: usize, channel: usize) -> String {
    match nodes.get(node) {
        Some(n) => match n.channels.get(channel) {
            Some(c) => format!("{} `{}`", n.id, c.id),
            None => format!("{} channels[{channel}]", n.id),
        },
        None => format!("node {node} channels[{channel}]"),
    }
}

/// A stable 64-bit hash of bytes (FNV-1a): names a payload.
pub fn payload_hash(bytes: &[u8]) -> u64 {
    let mut hash = 0xcbf2_9ce4_8422_2325u64;
    for &b in bytes {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}
