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
//! [`SeqMap`] turns wire numbers into a media sequence that continues
//! across keys and skips the echoes this node received. An echo that is
//! lost still leaves a one-frame hole (concealed; rare), and an echo that
//! arrives after later audio (reordering across it) shifts that audio by
//! one; both only cost a concealed or refused frame, never a stall.

use crate::wire::{KeyId, Seq};

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
        }
    }

    /// The media seq of an audio or end-of-transmission datagram.
    pub fn media_seq(&mut self, key_id: KeyId, wire: Seq) -> Seq {
        let media = self.epoch(key_id).media(wire.0);
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
            .map(|&w| map.media_seq(key, Seq(w)).0)
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
                got.push(map.media_seq(K1, Seq(wire)).0);
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
}
