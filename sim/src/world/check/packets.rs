//! Packet protection, judged end to end: whatever the network did (bit
//! flips, replays, duplicates, stale datagrams after a rekey or a relay
//! restart), a node plays only frames some node really captured, and each
//! at most once.
//!
//! A frame is named by its media timestamp and payload: the world gives
//! every capture side its own timestamp origin (see the world's docs), so
//! no two captured frames share a timestamp within a run of a day.

use std::collections::{HashMap, HashSet};

use echostream_core::time::Instant;

use super::{Checker, Observation, payload_hash};

/// `packet_authentic`: every audio frame delivered is one some node's
/// capture side made (same media time, same payload).
#[derive(Debug, Default)]
pub struct PacketAuthentic {
    captured: HashSet<(u32, u64)>,
}

impl Checker for PacketAuthentic {
    fn name(&self) -> &'static str {
        "packet_authentic"
    }

    fn observe(&mut self, _now: Instant, observation: &Observation<'_>, found: &mut Vec<String>) {
        match *observation {
            Observation::Captured {
                timestamp, payload, ..
            } => {
                self.captured.insert((timestamp.0, payload_hash(payload)));
            }
            Observation::Delivered {
                node,
                channel,
                frame,
                payload,
            } => {
                if frame.end {
                    return;
                }
                if !self
                    .captured
                    .contains(&(frame.timestamp.0, payload_hash(payload)))
                {
                    found.push(format!(
                        "node {node} channels[{channel}]: delivered a frame no node captured \
                         (seq {}, media time {}, {} bytes)",
                        frame.seq.0, frame.timestamp.0, frame.len
                    ));
                }
            }
            _ => {}
        }
    }
}

/// `packet_once`: no captured frame delivered twice to one channel.
#[derive(Debug, Default)]
pub struct PacketOnce {
    delivered: HashMap<(usize, usize), HashSet<(u32, u64)>>,
}

impl Checker for PacketOnce {
    fn name(&self) -> &'static str {
        "packet_once"
    }

    fn observe(&mut self, _now: Instant, observation: &Observation<'_>, found: &mut Vec<String>) {
        if let Observation::Delivered {
            node,
            channel,
            frame,
            payload,
        } = *observation
        {
            if frame.end {
                return;
            }
            let seen = self.delivered.entry((node, channel)).or_default();
            if !seen.insert((frame.timestamp.0, payload_hash(payload))) {
                found.push(format!(
                    "node {node} channels[{channel}]: delivered the frame of media time {} \
                     again (seq {})",
                    frame.timestamp.0, frame.seq.0
                ));
            }
        }
    }
}
