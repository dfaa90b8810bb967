//! The transmitter's invariants: never keyed past its time-out, never
//! while locked out, never after shutdown. Judged on the PTT line the
//! driver set (what keys the radio), with the time-out and lock-out taken
//! from the channel's configured timers.

use std::collections::HashMap;

use echostream_core::ptt::{PttReason, PttState, Timers};
use echostream_core::time::{Duration, Instant};

use super::{Checker, NodeFacts, Observation, place};

type Key = (usize, usize);

fn timers(nodes: &[NodeFacts]) -> HashMap<Key, Timers> {
    let mut map = HashMap::new();
    for (n, node) in nodes.iter().enumerate() {
        for (c, channel) in node.channels.iter().enumerate() {
            if let Some(t) = channel.ptt {
                map.insert((n, c), t);
            }
        }
    }
    map
}

/// `ptt_timeout`: a line keyed longer than the channel's `timeout_s`.
#[derive(Debug)]
pub struct PttTimeout {
    nodes: Vec<NodeFacts>,
    timers: HashMap<Key, Timers>,
    /// Since when each keyed line is keyed, and whether it was reported.
    keyed: HashMap<Key, (Instant, bool)>,
}

impl PttTimeout {
    /// For `nodes`' transmitters.
    pub fn new(nodes: &[NodeFacts]) -> PttTimeout {
        PttTimeout {
            nodes: nodes.to_vec(),
            timers: timers(nodes),
            keyed: HashMap::new(),
        }
    }

    fn limit(&self, key: Key) -> Duration {
        let timeout_s = self
            .timers
            .get(&key)
            .map_or(Timers::DEFAULT.timeout_s, |t| t.timeout_s);
        Duration::from_secs(u64::from(timeout_s))
    }

    fn overdue(&mut self, now: Instant, found: &mut Vec<String>) {
        let mut late: Vec<Key> = Vec::new();
        for (&key, &(since, reported)) in &self.keyed {
            if !reported && now.saturating_duration_since(since) > self.limit(key) {
                late.push(key);
            }
        }
        late.sort_unstable();
        for key in late {
            let since = self.keyed[&key].0;
            found.push(format!(
                "{}: keyed since {:.3} s, past its {} s time-out",
                place(&self.nodes, key.0, key.1),
                since.as_micros() as f64 / 1e6,
                self.limit(key).as_millis() / 1_000
            ));
            self.keyed.insert(key, (since, true));
        }
    }
}

impl Checker for PttTimeout {
    fn name(&self) -> &'static str {
        "ptt_timeout"
    }

    fn observe(&mut self, now: Instant, observation: &Observation<'_>, found: &mut Vec<String>) {
        if let Observation::PttLine {
            node,
            channel,
            keyed,
        } = *observation
        {
            let key = (node, channel);
            if keyed {
                self.keyed.entry(key).or_insert((now, false));
            } else if let Some((since, reported)) = self.keyed.remove(&key) {
                let held = now.saturating_duration_since(since);
                if !reported && held > self.limit(key) {
                    found.push(format!(
                        "{}: keyed for {} ms, past its {} s time-out",
                        place(&self.nodes, node, channel),
                        held.as_millis(),
                        self.limit(key).as_millis() / 1_000
                    ));
                }
            }
        }
        self.overdue(now, found);
    }

    fn finish(&mut self, now: Instant, found: &mut Vec<String>) {
        self.overdue(now, found);
    }
}

/// `ptt_lockout`: keyed while the PTT machine says it is locked out (or
/// shut down), or within `lockout_s` of a release by the time-out.
#[derive(Debug)]
pub struct PttLockout {
    nodes: Vec<NodeFacts>,
    timers: HashMap<Key, Timers>,
    /// The machine's state as it last reported it.
    state: HashMap<Key, PttState>,
    /// When each line was keyed.
    keyed_at: HashMap<Key, Instant>,
    /// When a line was last released by its time-out.
    timed_out_at: HashMap<Key, Instant>,
}

impl PttLockout {
    /// For `nodes`' transmitters.
    pub fn new(nodes: &[NodeFacts]) -> PttLockout {
        PttLockout {
            nodes: nodes.to_vec(),
            timers: timers(nodes),
            state: HashMap::new(),
            keyed_at: HashMap::new(),
            timed_out_at: HashMap::new(),
        }
    }
}

impl Checker for PttLockout {
    fn name(&self) -> &'static str {
        "ptt_lockout"
    }

    fn observe(&mut self, now: Instant, observation: &Observation<'_>, found: &mut Vec<String>) {
        match *observation {
            Observation::PttMachine {
                node,
                channel,
                event,
            } => {
                self.state.insert((node, channel), event.to);
                if event.reason == PttReason::Timeout {
                    self.timed_out_at.insert((node, channel), now);
                }
            }
            Observation::PttLine {
                node,
                channel,
                keyed,
            } => {
                let key = (node, channel);
                let timers = self.timers.get(&key).copied().unwrap_or(Timers::DEFAULT);
                if !keyed {
                    // A release the time-out's length after keying is the
                    // time-out's, whatever the machine said.
                    if let Some(at) = self.keyed_at.remove(&key) {
                        let held = now.saturating_duration_since(at);
                        if held >= Duration::from_secs(u64::from(timers.timeout_s)) {
                            self.timed_out_at.insert(key, now);
                        }
                    }
                    return;
                }
                self.keyed_at.insert(key, now);
                let here = place(&self.nodes, node, channel);
                if let Some(state @ (PttState::LockedOut | PttState::Shutdown)) =
                    self.state.get(&key).copied()
                {
                    found.push(format!("{here}: keyed while its PTT machine is {state}"));
                }
                if let Some(&at) = self.timed_out_at.get(&key) {
                    let lockout = Duration::from_secs(u64::from(timers.lockout_s));
                    let after = now.saturating_duration_since(at);
                    if after < lockout {
                        found.push(format!(
                            "{here}: keyed {} ms after a time-out, within its {} s lock-out",
                            after.as_millis(),
                            timers.lockout_s
                        ));
                    }
                }
            }
            _ => {}
        }
    }
}

/// `ptt_after_shutdown`: a line still keyed once its node was told to stop
/// (its release must come in the same step), or keyed afterwards.
#[derive(Debug)]
pub struct PttAfterShutdown {
    nodes: Vec<NodeFacts>,
    keyed: HashMap<Key, bool>,
    /// Nodes told to stop, and when; whether each was checked.
    stopped: HashMap<usize, (Instant, bool)>,
}

impl PttAfterShutdown {
    /// For `nodes`' transmitters.
    pub fn new(nodes: &[NodeFacts]) -> PttAfterShutdown {
        PttAfterShutdown {
            nodes: nodes.to_vec(),
            keyed: HashMap::new(),
            stopped: HashMap::new(),
        }
    }

    fn still_keyed(&mut self, now: Instant, all: bool, found: &mut Vec<String>) {
        let mut due: Vec<usize> = self
            .stopped
            .iter()
            .filter(|(_, (at, checked))| !checked && (all || now > *at))
            .map(|(&n, _)| n)
            .collect();
        due.sort_unstable();
        for node in due {
            let mut keyed: Vec<usize> = self
                .keyed
                .iter()
                .filter(|((n, _), k)| *n == node && **k)
                .map(|((_, c), _)| *c)
                .collect();
            keyed.sort_unstable();
            for channel in keyed {
                found.push(format!(
                    "{}: still keyed after its node was told to stop",
                    place(&self.nodes, node, channel)
                ));
            }
            if let Some(entry) = self.stopped.get_mut(&node) {
                entry.1 = true;
            }
        }
    }
}

impl Checker for PttAfterShutdown {
    fn name(&self) -> &'static str {
        "ptt_after_shutdown"
    }

    fn observe(&mut self, now: Instant, observation: &Observation<'_>, found: &mut Vec<String>) {
        self.still_keyed(now, false, found);
        match *observation {
            Observation::Shutdown { node } => {
                self.stopped.entry(node).or_insert((now, false));
            }
            Observation::PttLine {
                node,
                channel,
                keyed,
            } => {
                self.keyed.insert((node, channel), keyed);
                if keyed && self.stopped.contains_key(&node) {
                    found.push(format!(
                        "{}: keyed after its node was told to stop",
                        place(&self.nodes, node, channel)
                    ));
                }
            }
            _ => {}
        }
    }

    fn finish(&mut self, now: Instant, found: &mut Vec<String>) {
        self.still_keyed(now, true, found);
    }
}
