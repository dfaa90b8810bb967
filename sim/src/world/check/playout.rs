//! The playback side's invariants: frames play in order within a
//! talk-spurt, and the jitter buffer's delay stays within its bounds.

use std::collections::HashMap;

use echostream_core::jitter::JitterConfig;
use echostream_core::time::Instant;

use super::{Checker, NodeFacts, Observation, Played, place};

/// `playout_monotonic`: within a talk-spurt (up to its end), each frame
/// played has a higher sequence number and a later media time than the
/// one before.
#[derive(Debug, Default)]
pub struct PlayoutMonotonic {
    last: HashMap<(usize, usize), (u32, u32)>,
}

impl Checker for PlayoutMonotonic {
    fn name(&self) -> &'static str {
        "playout_monotonic"
    }

    fn observe(&mut self, _now: Instant, observation: &Observation<'_>, found: &mut Vec<String>) {
        let Observation::Played {
            node,
            channel,
            played,
        } = *observation
        else {
            return;
        };
        let key = (node, channel);
        match played {
            Played::Frame { seq, timestamp } => {
                if let Some((last_seq, last_ts)) = self.last.get(&key).copied() {
                    let seq_step = seq.0.wrapping_sub(last_seq) as i32;
                    let ts_step = timestamp.0.wrapping_sub(last_ts) as i32;
                    if seq_step <= 0 || ts_step <= 0 {
                        found.push(format!(
                            "node {node} channels[{channel}]: played seq {} (media time {}) \
                             after seq {last_seq} (media time {last_ts}) in one talk-spurt",
                            seq.0, timestamp.0
                        ));
                    }
                }
                self.last.insert(key, (seq.0, timestamp.0));
            }
            Played::End => {
                self.last.remove(&key);
            }
            Played::Conceal | Played::Silence => {}
        }
    }
}

/// `jitter_bounds`: the target delay within `jitter_min_ms..=jitter_max_ms`
/// at every pop, and the delay of what plays at most `jitter_max_ms` plus
/// [`DELAY_SLACK_FRAMES`] frames (an underrun holds the position until the
/// delay would pass the maximum, then a frame arriving in that pop's turn
/// still plays; the pop grid adds up to one more), plus, on a channel with
/// a transmitter, its `tx_delay_ms`: the engine holds remote audio that
/// long while the transmitter comes up ("the audio waits; it is not
/// lost"), so every frame of a talk-spurt reaches the jitter buffer that
/// much later by design.
#[derive(Debug)]
pub struct JitterBounds {
    nodes: Vec<NodeFacts>,
    /// Per playing channel: its jitter buffer and its TX delay, ms.
    configs: HashMap<(usize, usize), (JitterConfig, u32)>,
}

/// Frames a played frame's delay may exceed `jitter_max_ms` by.
pub const DELAY_SLACK_FRAMES: u32 = 2;

impl JitterBounds {
    /// For `nodes`' playback sides.
    pub fn new(nodes: &[NodeFacts]) -> JitterBounds {
        let mut configs = HashMap::new();
        for (n, node) in nodes.iter().enumerate() {
            for (c, channel) in node.channels.iter().enumerate() {
                if let Some(j) = channel.jitter {
                    let tx_delay_ms = channel.ptt.map_or(0, |t| t.tx_delay_ms);
                    configs.insert((n, c), (j, tx_delay_ms));
                }
            }
        }
        JitterBounds {
            nodes: nodes.to_vec(),
            configs,
        }
    }
}

impl Checker for JitterBounds {
    fn name(&self) -> &'static str {
        "jitter_bounds"
    }

    fn observe(&mut self, _now: Instant, observation: &Observation<'_>, found: &mut Vec<String>) {
        let Observation::Jitter {
            node,
            channel,
            stats,
        } = *observation
        else {
            return;
        };
        let Some((config, tx_delay_ms)) = self.configs.get(&(node, channel)) else {
            return;
        };
        let (min, max) = (config.jitter_min_ms, config.jitter_max_ms);
        if !(min..=max).contains(&stats.delay_target_ms) {
            found.push(format!(
                "{}: target delay {} ms outside {min}..={max} ms",
                place(&self.nodes, node, channel),
                stats.delay_target_ms
            ));
        }
        let frame_ms = (config.frame_us() / 1_000) as u32;
        let ceiling = max + DELAY_SLACK_FRAMES * frame_ms + tx_delay_ms;
        if stats.delay_current_ms > ceiling {
            found.push(format!(
                "{}: a frame played {} ms late, past {ceiling} ms",
                place(&self.nodes, node, channel),
                stats.delay_current_ms
            ));
        }
    }
}
