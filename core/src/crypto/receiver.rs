//! Opening datagrams: key lookup, replay window, tag check, in place.

use core::ops::Range;

use heapless::Vec;

use super::keys::{Direction, DirectionKey, SessionKeys};
use super::open_error::{OpenError, RekeyError};
use super::replay::ReplayWindow;
use crate::time::{Duration, Instant};
use crate::wire::{HEADER_LEN, KeyId, Packet, Repr, StreamId};

/// A datagram that authenticated and was not a replay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Opened {
    /// Its parsed header.
    pub repr: Repr,
    /// Where its plaintext payload now sits in the buffer passed to
    /// [`Receiver::open`] (`HEADER_LEN..HEADER_LEN + repr.payload_len`).
    pub payload: Range<usize>,
}

/// One key and the replay windows of the streams seen under it.
#[derive(Debug)]
struct Epoch<const STREAMS: usize> {
    key_id: KeyId,
    key: DirectionKey,
    windows: Vec<(StreamId, ReplayWindow), STREAMS>,
}

impl<const STREAMS: usize> Epoch<STREAMS> {
    fn new(keys: &SessionKeys, direction: Direction) -> Epoch<STREAMS> {
        Epoch {
            key_id: keys.key_id(),
            key: keys.direction(direction).clone(),
            windows: Vec::new(),
        }
    }
}

/// Opens the datagrams arriving in one direction from one peer (one
/// session's secret), for up to `STREAMS` streams per key.
///
/// Holds the current key and, for a grace period after
/// [`rekey`](Self::rekey), the previous one, so datagrams sealed before the
/// peer switched still open. Each key has its own replay window per stream
/// (senders restart at seq 0 under a new key). Storage is fixed: about
/// `2 × (1.1 KiB + STREAMS × 48 B)` on x86-64; stream lookup is a linear scan.
///
/// Sans-IO: it never reads a clock. The previous key is dropped by the
/// first [`open`](Self::open) or [`rekey`](Self::rekey) whose `now` is at or
/// past its deadline; [`previous_key_deadline`](Self::previous_key_deadline)
/// says when that is.
#[derive(Debug)]
pub struct Receiver<const STREAMS: usize> {
    direction: Direction,
    current: Epoch<STREAMS>,
    /// The key before the current one and when it stops being accepted.
    previous: Option<(Epoch<STREAMS>, Instant)>,
}

impl<const STREAMS: usize> Receiver<STREAMS> {
    const CAPACITY_IS_NONZERO: () = assert!(STREAMS > 0, "a receiver needs a stream slot");

    /// A receiver for datagrams travelling in `direction` under `keys`
    /// (a relay opens [`Direction::NodeToRelay`], a node
    /// [`Direction::RelayToNode`]).
    pub fn new(keys: &SessionKeys, direction: Direction) -> Receiver<STREAMS> {
        let () = Self::CAPACITY_IS_NONZERO;
        Receiver {
            direction,
            current: Epoch::new(keys, direction),
            previous: None,
        }
    }

    /// The direction this receiver opens.
    pub const fn direction(&self) -> Direction {
        self.direction
    }

    /// The current key's id.
    pub const fn key_id(&self) -> KeyId {
        self.current.key_id
    }

    /// The previous key's id while it is still held.
    pub fn previous_key_id(&self) -> Option<KeyId> {
        self.previous.as_ref().map(|(epoch, _)| epoch.key_id)
    }

    /// When the previous key stops being accepted, if one is held.
    pub fn previous_key_deadline(&self) -> Option<Instant> {
        self.previous.as_ref().map(|&(_, deadline)| deadline)
    }

    /// Switches to `keys`. The current key becomes the previous one and is
    /// accepted while `now < now_at_call + grace`; any older previous key is
    /// dropped at once. Streams start with fresh windows under the new key.
    ///
    /// # Errors
    /// [`RekeyError::KeyIdInUse`] if `keys.key_id()` is the current key's
    /// or the still-held previous key's; nothing changes.
    pub fn rekey(
        &mut self,
        now: Instant,
        keys: &SessionKeys,
        grace: Duration,
    ) -> Result<(), RekeyError> {
        self.expire(now);
        let key_id = keys.key_id();
        if key_id == self.current.key_id || self.previous_key_id() == Some(key_id) {
            return Err(RekeyError::KeyIdInUse(key_id));
        }
        let old = core::mem::replace(&mut self.current, Epoch::new(keys, self.direction));
        self.previous = Some((old, now + grace));
        Ok(())
    }

    /// Opens the datagram in `buf` (exactly the bytes received) in place.
    ///
    /// In order: drop the previous key if `now` is past its deadline; parse
    /// the header through [`Packet::new_checked`] and [`Repr::parse`]; find
    /// the key by `key_id`; check the stream's replay window (cheap, no
    /// change); verify the tag and decrypt; only then record the sequence
    /// number. On success `buf[opened.payload]` is the plaintext.
    ///
    /// # Errors
    /// See [`OpenError`]. On any error the replay state is unchanged and
    /// `buf` still holds what was received.
    pub fn open(&mut self, now: Instant, buf: &mut [u8]) -> Result<Opened, OpenError> {
        self.expire(now);
        let repr = Packet::new_checked(&*buf)
            .and_then(|packet| Repr::parse(&packet))
            .map_err(OpenError::Malformed)?;
        let epoch = self
            .epoch_mut(repr.key_id)
            .ok_or(OpenError::UnknownKey(repr.key_id))?;

        let slot = epoch
            .windows
            .iter()
            .position(|(id, _)| *id == repr.stream_id);
        match slot {
            Some(i) => epoch.windows[i]
                .1
                .check(repr.seq)
                .map_err(OpenError::Replay)?,
            None if epoch.windows.is_full() => {
                return Err(OpenError::StreamTableFull(repr.stream_id));
            }
            None => {}
        }

        let mut packet = Packet::new_unchecked(&mut *buf);
        let (header, payload, tag) = packet.split_mut();
        epoch
            .key
            .open_detached(repr.stream_id, repr.seq, header, payload, tag)
            .map_err(|_| OpenError::Forged)?;

        match slot {
            Some(i) => epoch.windows[i]
                .1
                .commit(repr.seq)
                .expect("checked above with nothing in between"),
            None => {
                let mut window = ReplayWindow::new();
                window
                    .commit(repr.seq)
                    .expect("an empty window accepts any seq");
                epoch
                    .windows
                    .push((repr.stream_id, window))
                    .expect("capacity checked above with nothing in between");
            }
        }
        Ok(Opened {
            repr,
            payload: HEADER_LEN..HEADER_LEN + repr.payload_len,
        })
    }

    fn expire(&mut self, now: Instant) {
        if let Some((_, deadline)) = self.previous
            && now >= deadline
        {
            self.previous = None;
        }
    }

    fn epoch_mut(&mut self, key_id: KeyId) -> Option<&mut Epoch<STREAMS>> {
        if self.current.key_id == key_id {
            return Some(&mut self.current);
        }
        match &mut self.previous {
            Some((epoch, _)) if epoch.key_id == key_id => Some(epoch),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use super::*;
    use crate::crypto::ReplayError;
    use crate::crypto::keys::tests::kat_secret;
    use crate::crypto::{Secret, Sender};
    use crate::wire;
    use crate::wire::{Flags, Kind, MAX_DATAGRAM_LEN, MediaTimestamp, Seq, TAG_LEN};
    use proptest::prelude::*;
    use std::vec::Vec;

    const T0: Instant = Instant::from_millis(1_000);

    fn keys(key_id: u8) -> SessionKeys {
        SessionKeys::derive(&kat_secret(), KeyId(key_id))
    }

    fn other_keys(key_id: u8) -> SessionKeys {
        SessionKeys::derive(&Secret::from_bytes([0x77; 32]), KeyId(key_id))
    }

    /// An audio datagram whose payload is `payload_len` bytes of `seq`'s
    /// low byte, so each plaintext is recognisable.
    fn audio(sender: &mut Sender, payload_len: usize) -> Vec<u8> {
        let mut buf = [0u8; MAX_DATAGRAM_LEN];
        let fill = (sender.remaining() & 0xff) as u8;
        buf[HEADER_LEN..HEADER_LEN + payload_len].fill(fill);
        let len = sender
            .seal(
                Kind::Audio,
                Flags::START_OF_TALKSPURT,
                MediaTimestamp(48),
                payload_len,
                &mut buf,
            )
            .unwrap();
        buf[..len].to_vec()
    }

    fn stream(keys: &SessionKeys, stream_id: u32, count: usize) -> Vec<Vec<u8>> {
        let mut sender = Sender::new(keys, Direction::NodeToRelay, StreamId(stream_id));
        (0..count).map(|_| audio(&mut sender, 60)).collect()
    }

    fn relay(keys: &SessionKeys) -> Receiver<4> {
        Receiver::new(keys, Direction::NodeToRelay)
    }

    fn open(rx: &mut Receiver<4>, now: Instant, datagram: &[u8]) -> Result<Opened, OpenError> {
        let mut buf = datagram.to_vec();
        rx.open(now, &mut buf)
    }

    #[test]
    fn every_kind_round_trips() {
        let keys = keys(7);
        let mut tx = Sender::new(&keys, Direction::RelayToNode, StreamId(9));
        let mut rx: Receiver<2> = Receiver::new(&keys, Direction::RelayToNode);
        let cases: [(Kind, Flags, &[u8]); 4] = [
            (
                Kind::Audio,
                Flags::START_OF_TALKSPURT.union(Flags::FEC),
                b"an opus packet",
            ),
            (Kind::Heartbeat, Flags::NONE, &123_456_789u64.to_be_bytes()),
            (
                Kind::HeartbeatEcho,
                Flags::NONE,
                &987_654_321u64.to_be_bytes(),
            ),
            (Kind::EndOfTransmission, Flags::NONE, b""),
        ];
        for (i, (kind, flags, plaintext)) in cases.into_iter().enumerate() {
            let mut buf = [0u8; 100];
            buf[HEADER_LEN..HEADER_LEN + plaintext.len()].copy_from_slice(plaintext);
            let len = tx
                .seal(
                    kind,
                    flags,
                    MediaTimestamp(960 * i as u32),
                    plaintext.len(),
                    &mut buf,
                )
                .unwrap();
            assert_eq!(len, HEADER_LEN + plaintext.len() + TAG_LEN);
            let opened = rx.open(T0, &mut buf[..len]).unwrap();
            assert_eq!(&buf[opened.payload.clone()], plaintext);
            assert_eq!(opened.repr.kind, kind);
            assert_eq!(opened.repr.flags, flags);
            assert_eq!(opened.repr.key_id, KeyId(7));
            assert_eq!(opened.repr.stream_id, StreamId(9));
            assert_eq!(opened.repr.seq, Seq(i as u32));
            assert_eq!(opened.repr.timestamp, MediaTimestamp(960 * i as u32));
        }
    }

    #[test]
    fn duplicates_rejected_reorders_accepted_too_old_rejected() {
        let keys = keys(7);
        let datagrams = stream(&keys, 1, 200);
        let mut rx = relay(&keys);
        for i in [0, 2, 1, 5, 3] {
            open(&mut rx, T0, &datagrams[i]).unwrap();
        }
        assert_eq!(
            open(&mut rx, T0, &datagrams[2]),
            Err(OpenError::Replay(ReplayError::Duplicate))
        );
        assert_eq!(open(&mut rx, T0, &datagrams[4]).unwrap().repr.seq, Seq(4));
        open(&mut rx, T0, &datagrams[199]).unwrap();
        assert_eq!(
            open(&mut rx, T0, &datagrams[71]),
            Err(OpenError::Replay(ReplayError::TooOld))
        );
        assert_eq!(open(&mut rx, T0, &datagrams[72]).unwrap().repr.seq, Seq(72));
        assert_eq!(
            open(&mut rx, T0, &datagrams[199]),
            Err(OpenError::Replay(ReplayError::Duplicate))
        );
    }

    #[test]
    fn a_forged_packet_never_moves_the_window() {
        let keys = keys(7);
        let datagrams = stream(&keys, 1, 10);
        let mut rx = relay(&keys);
        open(&mut rx, T0, &datagrams[0]).unwrap();
        // Same key id and stream, far-ahead seq, wrong secret: the cheap
        // check passes and the tag fails.
        let mut forger = Sender::with_next_seq(
            &other_keys(7),
            Direction::NodeToRelay,
            StreamId(1),
            1_000_000,
        );
        let forged = audio(&mut forger, 60);
        assert_eq!(open(&mut rx, T0, &forged), Err(OpenError::Forged));
        // Had it been committed, everything below 1_000_000 - 127 would be too old.
        for datagram in &datagrams[1..] {
            open(&mut rx, T0, datagram).unwrap();
        }
    }

    #[test]
    fn a_reflected_packet_does_not_authenticate() {
        let keys = keys(7);
        let datagram = stream(&keys, 1, 1).remove(0);
        let mut node: Receiver<4> = Receiver::new(&keys, Direction::RelayToNode);
        assert_eq!(open(&mut node, T0, &datagram), Err(OpenError::Forged));
    }

    #[test]
    fn unknown_keys_and_malformed_datagrams_are_typed() {
        let mut rx = relay(&keys(7));
        let datagram = stream(&keys(8), 1, 1).remove(0);
        assert_eq!(
            open(&mut rx, T0, &datagram),
            Err(OpenError::UnknownKey(KeyId(8)))
        );
        assert_eq!(
            open(&mut rx, T0, &datagram[..20]),
            Err(OpenError::Malformed(wire::Error::Truncated { len: 20 }))
        );
        assert_eq!(
            open(&mut rx, T0, &[]),
            Err(OpenError::Malformed(wire::Error::Truncated { len: 0 }))
        );
    }

    #[test]
    fn old_key_accepted_until_the_grace_deadline_then_rejected() {
        let grace = Duration::from_secs(5);
        let old = stream(&keys(7), 1, 4);
        let new = stream(&keys(8), 1, 2);
        let mut rx = relay(&keys(7));
        open(&mut rx, T0, &old[0]).unwrap();

        rx.rekey(T0, &keys(8), grace).unwrap();
        assert_eq!(rx.key_id(), KeyId(8));
        assert_eq!(rx.previous_key_id(), Some(KeyId(7)));
        assert_eq!(rx.previous_key_deadline(), Some(T0 + grace));

        // Both keys open during the grace period; the old key's window
        // survived the rekey.
        open(&mut rx, T0, &new[0]).unwrap();
        open(&mut rx, T0 + Duration::from_secs(1), &old[1]).unwrap();
        assert_eq!(
            open(&mut rx, T0 + Duration::from_secs(1), &old[0]),
            Err(OpenError::Replay(ReplayError::Duplicate))
        );
        let last_moment = Instant::from_micros((T0 + grace).as_micros() - 1);
        open(&mut rx, last_moment, &old[2]).unwrap();

        // At the deadline the old key is gone.
        assert_eq!(
            open(&mut rx, T0 + grace, &old[3]),
            Err(OpenError::UnknownKey(KeyId(7)))
        );
        assert_eq!(rx.previous_key_id(), None);
        open(&mut rx, T0 + grace, &new[1]).unwrap();
    }

    #[test]
    fn a_third_key_drops_the_first_at_once() {
        let first = stream(&keys(1), 1, 1);
        let mut rx = relay(&keys(1));
        rx.rekey(T0, &keys(2), Duration::from_secs(60)).unwrap();
        rx.rekey(T0, &keys(3), Duration::from_secs(60)).unwrap();
        assert_eq!(
            open(&mut rx, T0, &first[0]),
            Err(OpenError::UnknownKey(KeyId(1)))
        );
        assert_eq!(rx.previous_key_id(), Some(KeyId(2)));
    }

    #[test]
    fn rekey_to_a_key_id_in_use_is_refused() {
        let mut rx = relay(&keys(1));
        assert_eq!(
            rx.rekey(T0, &keys(1), Duration::ZERO),
            Err(RekeyError::KeyIdInUse(KeyId(1)))
        );
        rx.rekey(T0, &keys(2), Duration::from_secs(5)).unwrap();
        assert_eq!(
            rx.rekey(T0, &keys(1), Duration::ZERO),
            Err(RekeyError::KeyIdInUse(KeyId(1)))
        );
        assert_eq!(rx.key_id(), KeyId(2));
        // Once the old key has expired its id may be issued again.
        rx.rekey(T0 + Duration::from_secs(5), &other_keys(1), Duration::ZERO)
            .unwrap();
        assert_eq!(rx.key_id(), KeyId(1));
    }

    #[test]
    fn stream_table_full_and_forgeries_take_no_slot() {
        let keys = keys(7);
        let mut rx: Receiver<2> = Receiver::new(&keys, Direction::NodeToRelay);
        // Forged datagrams for many new streams must not fill the table.
        for stream_id in 100..110 {
            let mut forger =
                Sender::new(&other_keys(7), Direction::NodeToRelay, StreamId(stream_id));
            let mut buf = audio(&mut forger, 60);
            assert_eq!(rx.open(T0, &mut buf), Err(OpenError::Forged));
        }
        let a = stream(&keys, 1, 2);
        let b = stream(&keys, 2, 1);
        let c = stream(&keys, 3, 1);
        let mut buf = a[0].clone();
        rx.open(T0, &mut buf).unwrap();
        let mut buf = b[0].clone();
        rx.open(T0, &mut buf).unwrap();
        let mut buf = c[0].clone();
        assert_eq!(
            rx.open(T0, &mut buf),
            Err(OpenError::StreamTableFull(StreamId(3)))
        );
        let mut buf = a[1].clone();
        rx.open(T0, &mut buf).unwrap();
    }

    proptest! {
        /// Flip any one bit of a datagram (header, ciphertext or tag): it is
        /// refused, the buffer's replay state is untouched, and the
        /// untouched original still opens afterwards.
        #[test]
        fn any_single_bit_flip_is_rejected(payload_len in 1usize..200, bit in any::<prop::sample::Index>()) {
            let keys = keys(7);
            let mut sender = Sender::with_next_seq(&keys, Direction::NodeToRelay, StreamId(5), 1_000);
            let earlier = audio(&mut sender, payload_len);
            let original = audio(&mut sender, payload_len);
            let mut rx = relay(&keys);
            open(&mut rx, T0, &earlier).unwrap();

            let bit = bit.index(original.len() * 8);
            let mut flipped = original.clone();
            flipped[bit / 8] ^= 1 << (bit % 8);
            let mut buf = flipped.clone();
            let result = rx.open(T0, &mut buf);
            prop_assert!(result.is_err(), "bit {} accepted: {:?}", bit, result);
            prop_assert_eq!(&buf, &flipped, "a refused datagram is left as received");

            let opened = open(&mut rx, T0, &original).unwrap();
            prop_assert_eq!(opened.repr.seq, Seq(1_001));
        }
    }
}
