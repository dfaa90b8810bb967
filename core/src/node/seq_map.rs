//! Media sequence numbers for the frames a channel receives.
//!
//! The relay seals every datagram to this node on one of the node's
//! streams with that stream's own counter (DESIGN.md "Wire format v1": a
//! seq never repeats under one key). Two things make that counter unfit
//! for the jitter buffer, which plays one frame per sequence number:
//!
//! - heartbeat echoes to this node take numbers from the same counter, so
//!   the audio around an echo has a hole that would be concealed as a
//!   lost frame once a heartbeat period;
//! - the counter restarts at 0 under every new key (`rekey`, or a new
//!   session after a reconnect), which would look like old packets.
//!
//! - the relay numbers what it forwards in the order it *received* it:
//!   frames the network reordered on the way from the talker to the relay
//!   keep that order in the relay's numbering, and lost ones leave no
//!   hole, so the jitter buffer would play them out of order.
//!
//! [`SeqMap`] turns wire numbers into a media sequence that continues
//! across keys and skips the echoes this node received, and puts audio
//! frames back in the talker's order by their media timestamps: a frame
//! whose timestamp is a few frame steps from the previous frame's is
//! numbered by that distance (the talker's order, with a hole for each
//! frame lost before the relay); anything else (a pause, a new talker, an
//! end of transmission, whose timestamp is not trusted) continues by the
//! wire distance. The frame step is learnt from the timestamps (the
//! smallest distance between two frames that is a whole number of 5 ms
//! at 48 kHz, up to 60 ms). An end of transmission is numbered after every
//! frame handed out, whatever order it arrived in; after it, a frame
//! later than the last one starts the next talk-spurt. An echo that is lost still leaves a
//! one-frame hole only until the step is known, and an echo that arrives
//! after later audio (reordering across it) no longer shifts anything.

use crate::wire::{KeyId, MediaTimestamp, Seq};

/// A timestamp at most this many frame steps from the previous frame's
/// places a frame (reordering, loss before the relay); a larger jump is a
/// pause or another talker.
pub const REORDER_FRAMES_MAX: i32 = 32;

/// Media timestamps tick at 48 kHz: a frame step is a whole number of
/// 5 ms (240 ticks), at most 60 ms.
const STEP_UNIT: i32 = 240;
const STEP_MAX: i32 = 2_880;
/// The step assumed before one is seen: 20 ms, the default frame.
const DEFAULT_STEP: i32 = 960;

/// Echo sequence numbers remembered per key; older ones are folded into a
/// count. 16 heartbeat periods is far beyond any reordering the jitter
/// buffer would still accept.
const ECHOES_REMEMBERED: usize = 16;

/// The relay's numbering under one key on one stream.
#[derive(Debug, Clone)]
struct Epoch {
    key_id: KeyId,
    /// The media seq wire seq 0 maps to (before echoes are skipped).
    origin: u32,
    /// Wire seqs spent on echoes, ascending; `echoes[..echoes_len]`.
    echoes: [u32; ECHOES_REMEMBERED],
    echoes_len: usize,
    /// Echoes older than every remembered one.
    echoes_retired: u32,
}

impl Epoch {
    fn new(key_id: KeyId, origin: u32) -> Epoch {
        Epoch {
            key_id,
            origin,
            echoes: [0; ECHOES_REMEMBERED],
            echoes_len: 0,
            echoes_retired: 0,
        }
    }

    fn media(&self, wire: u32) -> u32 {
        let below = self.echoes[..self.echoes_len]
            .iter()
            .filter(|&&e| e < wire)
            .count() as u32;
        self.origin
            .wrapping_add(wire)
            .wrapping_sub(self.echoes_retired)
            .wrapping_sub(below)
    }

    fn add_echo(&mut self, wire: u32) {
        let known = &self.echoes[..self.echoes_len];
        if known.contains(&wire) {
            return;
        }
        if self.echoes_len == ECHOES_REMEMBERED {
            // Forget the oldest; it still counts for every later seq.
            self.echoes.copy_within(1.., 0);
            self.echoes_len -= 1;
            self.echoes_retired = self.echoes_retired.wrapping_add(1);
        }
        let at = self.echoes[..self.echoes_len].partition_point(|&e| e < wire);
        self.echoes.copy_within(at..self.echoes_len, at + 1);
        self.echoes[at] = wire;
        self.echoes_len += 1;
    }
}

/// Wire-to-media sequence numbers for one channel; see the module docs.
///
/// Holds the current and the previous key's numbering (datagrams sealed
/// under the old key still arrive during the receiver's grace period).
#[derive(Debug, Clone)]
pub struct SeqMap {
    current: Option<Epoch>,
    previous: Option<Epoch>,
    /// One past the highest media seq handed out.
    next: u32,
    /// The last datagram mapped: its wire-derived media seq, the media seq
    /// it was given, and its timestamp (audio only).
    last: Option<Last>,
    /// The talker's frame step in timestamp ticks, once seen.
    step: Option<i32>,
    /// The newest wire-derived number seen.
    newest_by_wire: u32,
    /// The last datagram mapped was an end of transmission, or audio of a
    /// talk-spurt that ended (stragglers).
    ended: bool,
}

#[derive(Debug, Clone, Copy)]
struct Last {
    by_wire: u32,
    media: u32,
    timestamp: Option<u32>,
}

impl Default for SeqMap {
    fn default() -> SeqMap {
        SeqMap::new()
    }
}

impl SeqMap {
    /// A map whose first media seq is 0.
    pub fn new() -> SeqMap {
        SeqMap {
            current: None,
            previous: None,
            next: 0,
            last: None,
            step: None,
            newest_by_wire: 0,
            ended: false,
        }
    }

    /// The media seq of an audio datagram (`timestamp` its media
    /// timestamp) or an end of transmission (`None`).
    pub fn media_seq(
        &mut self,
        key_id: KeyId,
        wire: Seq,
        timestamp: Option<MediaTimestamp>,
    ) -> Seq {
        let by_wire = self.epoch(key_id).media(wire.0);
        let media = match self.last {
            None => by_wire,
            Some(last) => {
                let by_time = match (timestamp, last.timestamp) {
                    (Some(now), Some(before)) => {
                        let ticks = now.0.wrapping_sub(before) as i32;
                        self.learn_step(ticks);
                        // Until a step is seen, the default 20 ms frame.
                        let step = self.step.unwrap_or(DEFAULT_STEP);
                        let frames = ticks / step;
                        (ticks % step == 0 && frames.abs() <= REORDER_FRAMES_MAX).then_some(frames)
                    }
                    _ => None,
                };
                // After an end of transmission, a frame later than the
                // last one starts the next talk-spurt: after the end.
                let new_spurt = self.ended
                    && matches!((timestamp, last.timestamp),
                        (Some(now), Some(before)) if (now.0.wrapping_sub(before) as i32) > 0);
                match by_time {
                    Some(_) if new_spurt => {
                        let media = last.media.wrapping_add(by_wire.wrapping_sub(last.by_wire));
                        if (media.wrapping_sub(self.next) as i32) < 0 {
                            self.next
                        } else {
                            media
                        }
                    }
                    Some(frames) => last.media.wrapping_add(frames as u32),
                    None => {
                        let media = last.media.wrapping_add(by_wire.wrapping_sub(last.by_wire));
                        // The newest datagram yet starts after everything
                        // handed out (a copy placed by time may have moved
                        // the chain back).
                        // An end of transmission ends what came before it,
                        // whatever the network did to the order: after
                        // every frame handed out.
                        let newest = by_wire.wrapping_sub(self.newest_by_wire) as i32 > 0;
                        if (newest || timestamp.is_none())
                            && (media.wrapping_sub(self.next) as i32) < 0
                        {
                            self.next
                        } else {
                            media
                        }
                    }
                }
            }
        };
        if self.last.is_none() || by_wire.wrapping_sub(self.newest_by_wire) as i32 > 0 {
            self.newest_by_wire = by_wire;
        }
        // An end of transmission does not move the chain: a copy of the
        // last frame that turns up after it must get that frame's number
        // again (and be refused as a duplicate), not the end's.
        match timestamp {
            None => self.ended = true,
            Some(now) => {
                // A frame later than the last one is a new talk-spurt's
                // (the end is behind it); an earlier one a straggler.
                let later = self
                    .last
                    .and_then(|l| l.timestamp)
                    .is_none_or(|before| (now.0.wrapping_sub(before) as i32) > 0);
                if later {
                    self.ended = false;
                }
            }
        }
        if let Some(timestamp) = timestamp {
            self.last = Some(Last {
                by_wire,
                media,
                timestamp: Some(timestamp.0),
            });
        } else if self.last.is_none() {
            self.last = Some(Last {
                by_wire,
                media,
                timestamp: None,
            });
        }
        // Serial-number comparison (RFC 1982): is `media` at or past `next`?
        if media.wrapping_sub(self.next) < 1 << 31 {
            self.next = media.wrapping_add(1);
        }
        Seq(media)
    }

    /// A heartbeat echo took `wire`: later audio closes the hole.
    pub fn skip_echo(&mut self, key_id: KeyId, wire: Seq) {
        self.epoch(key_id).add_echo(wire.0);
    }

    /// A new session (a reconnect): its key ids may repeat old ones, so
    /// the next datagram starts a fresh numbering after what was handed out.
    pub fn new_session(&mut self) {
        self.current = None;
        self.previous = None;
        self.last = None;
    }

    fn learn_step(&mut self, ticks: i32) {
        // Two frames out of order tell the step as well as two in order.
        let ticks = ticks.saturating_abs();
        if ticks > 0
            && ticks <= STEP_MAX
            && ticks % STEP_UNIT == 0
            && self.step.is_none_or(|step| ticks < step)
        {
            self.step = Some(ticks);
        }
    }

    fn epoch(&mut self, key_id: KeyId) -> &mut Epoch {
        let in_current = self.current.as_ref().is_some_and(|e| e.key_id == key_id);
        let in_previous = self.previous.as_ref().is_some_and(|e| e.key_id == key_id);
        if in_previous && !in_current {
            return self.previous.as_mut().expect("checked just above");
        }
        if !in_current {
            // A key not seen yet: the relay's counter restarted at 0.
            self.previous = self.current.take();
            self.current = Some(Epoch::new(key_id, self.next));
        }
        self.current.as_mut().expect("present or just made")
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use std::vec::Vec;

    use super::*;

    const K1: KeyId = KeyId(1);
    const K2: KeyId = KeyId(2);

    fn media(map: &mut SeqMap, key: KeyId, wires: &[u32]) -> Vec<u32> {
        wires
            .iter()
            // Timestamps too far apart to place anything: by wire alone.
            .map(|&w| {
                map.media_seq(key, Seq(w), Some(MediaTimestamp(w * 100_000)))
                    .0
            })
            .collect()
    }

    #[test]
    fn without_echoes_numbers_pass_through() {
        let mut map = SeqMap::new();
        assert_eq!(media(&mut map, K1, &[0, 1, 2, 3]), [0, 1, 2, 3]);
    }

    #[test]
    fn echoes_leave_no_hole() {
        let mut map = SeqMap::new();
        assert_eq!(media(&mut map, K1, &[0, 1]), [0, 1]);
        map.skip_echo(K1, Seq(2));
        assert_eq!(media(&mut map, K1, &[3, 4]), [2, 3]);
        map.skip_echo(K1, Seq(5));
        map.skip_echo(K1, Seq(6));
        assert_eq!(media(&mut map, K1, &[7]), [4]);
    }

    #[test]
    fn a_lost_frame_still_leaves_a_hole() {
        let mut map = SeqMap::new();
        map.skip_echo(K1, Seq(1));
        assert_eq!(media(&mut map, K1, &[0, 3]), [0, 2]);
    }

    #[test]
    fn reordered_audio_keeps_its_place() {
        let mut map = SeqMap::new();
        map.skip_echo(K1, Seq(2));
        assert_eq!(media(&mut map, K1, &[0, 3, 1, 4]), [0, 2, 1, 3]);
    }

    #[test]
    fn many_echoes_are_folded_without_shifting_anything() {
        let mut map = SeqMap::new();
        let mut wire = 0;
        let mut got = Vec::new();
        for _ in 0..100 {
            for _ in 0..5 {
                got.push(
                    map.media_seq(K1, Seq(wire), Some(MediaTimestamp(wire * 100_000)))
                        .0,
                );
                wire += 1;
            }
            map.skip_echo(K1, Seq(wire));
            wire += 1;
        }
        assert_eq!(got, (0..500).collect::<Vec<u32>>());
    }

    #[test]
    fn a_new_key_continues_the_numbering_and_the_old_key_still_maps() {
        let mut map = SeqMap::new();
        map.skip_echo(K1, Seq(0));
        assert_eq!(media(&mut map, K1, &[1, 2, 3]), [0, 1, 2]);
        // The relay's counter restarts under the new key.
        assert_eq!(media(&mut map, K2, &[0, 1]), [3, 4]);
        // A straggler sealed under the old key keeps its old number.
        assert_eq!(media(&mut map, K1, &[4]), [3]);
        assert_eq!(media(&mut map, K2, &[2]), [5]);
    }

    #[test]
    fn a_new_session_continues_even_with_a_repeated_key_id() {
        let mut map = SeqMap::new();
        assert_eq!(media(&mut map, K1, &[0, 1, 2]), [0, 1, 2]);
        map.new_session();
        assert_eq!(media(&mut map, K1, &[0, 1]), [3, 4]);
    }

    #[test]
    fn numbering_wraps() {
        let mut map = SeqMap::new();
        map.next = u32::MAX - 1;
        assert_eq!(media(&mut map, K1, &[0, 1, 2]), [u32::MAX - 1, u32::MAX, 0]);
        assert_eq!(media(&mut map, K2, &[0]), [1]);
    }

    /// Audio datagrams `(wire, frame index)` of 20 ms frames from a talker
    /// whose media clock starts at `origin`.
    fn timed(map: &mut SeqMap, key: KeyId, origin: u32, frames: &[(u32, u32)]) -> Vec<u32> {
        frames
            .iter()
            .map(|&(w, n)| {
                let ts = MediaTimestamp(origin.wrapping_add(n * 960));
                map.media_seq(key, Seq(w), Some(ts)).0
            })
            .collect()
    }

    #[test]
    fn frames_reordered_before_the_relay_are_put_back_in_the_talkers_order() {
        let mut map = SeqMap::new();
        // The relay numbered them as they came: frame 3 before 2, 6 before 4 and 5.
        let got = timed(
            &mut map,
            K1,
            7_000,
            &[
                (0, 0),
                (1, 1),
                (2, 3),
                (3, 2),
                (4, 6),
                (5, 4),
                (6, 5),
                (7, 7),
            ],
        );
        assert_eq!(got, [0, 1, 3, 2, 6, 4, 5, 7]);
    }

    #[test]
    fn a_frame_lost_before_the_relay_leaves_a_hole() {
        let mut map = SeqMap::new();
        let got = timed(&mut map, K1, 0, &[(0, 0), (1, 1), (2, 3), (3, 4)]);
        assert_eq!(got, [0, 1, 3, 4]);
    }

    #[test]
    fn a_pause_or_a_new_talker_continues_by_the_wire_distance() {
        let mut map = SeqMap::new();
        assert_eq!(timed(&mut map, K1, 0, &[(0, 0), (1, 1), (2, 2)]), [0, 1, 2]);
        // An end of transmission, then the same talker 5 s later.
        assert_eq!(map.media_seq(K1, Seq(3), None).0, 3);
        assert_eq!(timed(&mut map, K1, 0, &[(4, 252), (5, 253)]), [4, 5]);
        // Another talker's clock.
        assert_eq!(
            timed(&mut map, K1, 0x4000_0000, &[(6, 0), (7, 2), (8, 1)]),
            [6, 8, 7]
        );
    }

    #[test]
    fn echoes_reordered_across_audio_shift_nothing_once_the_step_is_known() {
        let mut map = SeqMap::new();
        assert_eq!(timed(&mut map, K1, 0, &[(0, 0), (1, 1)]), [0, 1]);
        // Wire 2 was an echo, but it is only heard of after wire 3.
        assert_eq!(timed(&mut map, K1, 0, &[(3, 2)]), [2]);
        map.skip_echo(K1, Seq(2));
        assert_eq!(timed(&mut map, K1, 0, &[(4, 3), (5, 4)]), [3, 4]);
    }

    #[test]
    fn the_step_is_the_smallest_whole_number_of_5_ms_seen() {
        let mut map = SeqMap::new();
        // 10 ms frames (480 ticks), the first pair two frames apart.
        let ts = |n: u32| Some(MediaTimestamp(n * 480));
        assert_eq!(map.media_seq(K1, Seq(0), ts(0)).0, 0);
        assert_eq!(map.media_seq(K1, Seq(1), ts(2)).0, 1);
        assert_eq!(map.media_seq(K1, Seq(2), ts(3)).0, 2);
        assert_eq!(map.step, Some(480));
        assert_eq!(map.media_seq(K1, Seq(3), ts(5)).0, 4);
        // A stray small step is not a frame step.
        assert_eq!(
            map.media_seq(K1, Seq(4), Some(MediaTimestamp(5 * 480 + 17)))
                .0,
            5
        );
        assert_eq!(map.step, Some(480));
    }

    #[test]
    fn a_copy_of_the_last_frame_after_the_end_gets_the_frames_number() {
        let mut map = SeqMap::new();
        assert_eq!(timed(&mut map, K1, 0, &[(0, 0), (1, 1), (2, 2)]), [0, 1, 2]);
        assert_eq!(map.media_seq(K1, Seq(3), None).0, 3);
        // Frame 2 again, sealed anew by the relay.
        assert_eq!(timed(&mut map, K1, 0, &[(4, 2)]), [2]);
        // The next talk-spurt still starts after the end.
        assert_eq!(timed(&mut map, K1, 0, &[(5, 300)]), [4]);
    }

    #[test]
    fn an_end_that_overtook_the_last_frame_still_ends_after_it() {
        let mut map = SeqMap::new();
        assert_eq!(timed(&mut map, K1, 0, &[(0, 0), (1, 1)]), [0, 1]);
        // The relay sealed the end (wire 2) before the last frame (wire 3),
        // which reached it late.
        assert_eq!(map.media_seq(K1, Seq(2), None).0, 2);
        // A frame later than every one before the end cannot be told from
        // the next talk-spurt's first: it goes after the end (played as a
        // talk-spurt of its own, never out of order).
        assert_eq!(timed(&mut map, K1, 0, &[(3, 2)]), [3]);
        // An earlier one is a straggler of the spurt that ended.
        assert_eq!(timed(&mut map, K1, 0, &[(4, 0)]), [1]);
    }
}
