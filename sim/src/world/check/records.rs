//! `recording_length`: every alert whose definition records joins exactly
//! one recording, and every recording is as long as the longest of its
//! alerts asks for, unless its stop says it was cut short (shutdown, the
//! length limit) or stopped on silence after its minimum.
//!
//! Judged on the engine's recording effects, as the driver's recorder
//! would write them: samples `from..at` of the channel's audio.

use std::collections::HashMap;

use echostream_core::record::{Effect, RECORDING_MAX_MS, StopReason, TONES_END_WAIT_MS};
use echostream_core::time::{Duration, Instant};

use super::{Checker, NodeFacts, Observation, place};

#[derive(Debug)]
struct Recording {
    from: u64,
    /// The longest length its alerts ask for, ms.
    length_ms: u32,
    stopped: bool,
}

#[derive(Debug)]
struct Pending {
    at: Instant,
    length_ms: u32,
    joined: bool,
}

/// See the [module docs](self).
#[derive(Debug)]
pub struct RecordingLength {
    nodes: Vec<NodeFacts>,
    /// Alerts by (node, channel, alert id).
    alerts: HashMap<(usize, usize, u32), Pending>,
    recordings: HashMap<(usize, usize, u32), Recording>,
}

/// How long after its alert a recording must have named it (the tones may
/// sound for [`TONES_END_WAIT_MS`]; then its delay; then a little).
const JOIN_WAIT: Duration = Duration::from_millis(TONES_END_WAIT_MS as u64 + 60_000);

impl RecordingLength {
    /// For `nodes`' channels.
    pub fn new(nodes: &[NodeFacts]) -> RecordingLength {
        RecordingLength {
            nodes: nodes.to_vec(),
            alerts: HashMap::new(),
            recordings: HashMap::new(),
        }
    }

    fn unjoined(&mut self, now: Instant, all: bool, found: &mut Vec<String>) {
        let mut late: Vec<(usize, usize, u32)> = self
            .alerts
            .iter()
            .filter(|(_, p)| !p.joined && p.length_ms > 0)
            .filter(|(_, p)| all || now.saturating_duration_since(p.at) > JOIN_WAIT)
            .map(|(&k, _)| k)
            .collect();
        late.sort_unstable();
        for key in late {
            let pending = self.alerts.remove(&key).expect("listed from the map");
            if all && now.saturating_duration_since(pending.at) <= JOIN_WAIT {
                continue;
            }
            found.push(format!(
                "{}: alert {} asks for {} ms of recording and joined none",
                place(&self.nodes, key.0, key.1),
                key.2,
                pending.length_ms
            ));
        }
    }
}

impl Checker for RecordingLength {
    fn name(&self) -> &'static str {
        "recording_length"
    }

    fn observe(&mut self, now: Instant, observation: &Observation<'_>, found: &mut Vec<String>) {
        match *observation {
            Observation::Alert {
                node,
                channel,
                event,
                alert,
            } => {
                let length_ms = self
                    .nodes
                    .get(node)
                    .and_then(|n| n.channels.get(channel))
                    .filter(|c| c.record.is_some())
                    .and_then(|c| event.definition.and_then(|d| c.alerts.get(d.get())))
                    .map_or(0, |(_, length)| *length);
                self.alerts.insert(
                    (node, channel, alert.0),
                    Pending {
                        at: now,
                        length_ms,
                        joined: false,
                    },
                );
            }
            Observation::Record {
                node,
                channel,
                effect,
            } => self.effect(node, channel, effect, found),
            _ => {}
        }
        self.unjoined(now, false, found);
    }

    fn finish(&mut self, now: Instant, found: &mut Vec<String>) {
        self.unjoined(now, true, found);
    }
}

impl RecordingLength {
    fn effect(&mut self, node: usize, channel: usize, effect: Effect, found: &mut Vec<String>) {
        let here = place(&self.nodes, node, channel);
        let rate_hz = self
            .nodes
            .get(node)
            .and_then(|n| n.channels.get(channel))
            .map_or(48_000, |c| c.rate_hz);
        match effect {
            Effect::Start { recording, from } => {
                let key = (node, channel, recording.0);
                if self.recordings.contains_key(&key) {
                    found.push(format!("{here}: recording {} started twice", recording.0));
                }
                self.recordings.insert(
                    key,
                    Recording {
                        from: from.0,
                        length_ms: 0,
                        stopped: false,
                    },
                );
            }
            Effect::Joined { recording, alert } => {
                let length_ms = match self.alerts.get_mut(&(node, channel, alert.0)) {
                    Some(p) if p.joined => {
                        found.push(format!(
                            "{here}: alert {} joined a second recording ({})",
                            alert.0, recording.0
                        ));
                        p.length_ms
                    }
                    Some(p) => {
                        p.joined = true;
                        p.length_ms
                    }
                    None => {
                        found.push(format!(
                            "{here}: recording {} names alert {}, never raised",
                            recording.0, alert.0
                        ));
                        0
                    }
                };
                match self.recordings.get_mut(&(node, channel, recording.0)) {
                    Some(r) if !r.stopped => r.length_ms = r.length_ms.max(length_ms),
                    _ => found.push(format!(
                        "{here}: alert {} joined recording {}, which is not running",
                        alert.0, recording.0
                    )),
                }
            }
            Effect::Stop {
                recording,
                at,
                reason,
            } => {
                let Some(r) = self.recordings.get_mut(&(node, channel, recording.0)) else {
                    found.push(format!(
                        "{here}: recording {} stopped, never started",
                        recording.0
                    ));
                    return;
                };
                if r.stopped {
                    found.push(format!("{here}: recording {} stopped twice", recording.0));
                    return;
                }
                r.stopped = true;
                let samples = at.0.saturating_sub(r.from);
                let ms = samples * 1_000 / u64::from(rate_hz);
                let wanted = u64::from(r.length_ms);
                let too_short = match reason {
                    StopReason::Length => ms + 1 < wanted,
                    StopReason::Silence | StopReason::Limit | StopReason::Shutdown => false,
                };
                if too_short {
                    found.push(format!(
                        "{here}: recording {} is {ms} ms, its alerts ask for {wanted} ms, and \
                         its stop ({}) does not say it was cut short",
                        recording.0,
                        reason.name()
                    ));
                }
                if ms > u64::from(RECORDING_MAX_MS) + 1 {
                    found.push(format!(
                        "{here}: recording {} is {ms} ms, past the {RECORDING_MAX_MS} ms limit",
                        recording.0
                    ));
                }
            }
        }
    }
}
