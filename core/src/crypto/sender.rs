//! Sealing one stream's datagrams: header, ciphertext and tag in place.

use core::fmt;

use super::keys::{Direction, DirectionKey, SessionKeys};
use crate::wire::{
    self, Flags, HEADER_LEN, KeyId, Kind, MAX_PAYLOAD_LEN, MediaTimestamp, Packet, Repr, Seq,
    StreamId, TAG_LEN,
};

/// Sequence numbers one key can give a stream: `0..=u32::MAX`.
const SEQ_SPACE: u64 = 1 << 32;

/// When [`Sender::needs_rekey`] turns true: this many sequence numbers
/// left. 2^20 datagrams is about 5.8 hours of 20 ms audio frames, time
/// enough for the relay to issue a `rekey` and for it to arrive.
pub const REKEY_MARGIN_SEQS: u64 = 1 << 20;

const _: () = assert!(REKEY_MARGIN_SEQS < SEQ_SPACE);

/// Why [`Sender::seal`] refused. On any error the sequence counter did not
/// advance and the payload bytes are untouched (the header bytes may have
/// been written).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SealError {
    /// Every sequence number under this key has been used. Sealing again
    /// would reuse a nonce, so the stream must move to a new key (a new
    /// `key_id` from the relay, then a new [`Sender`]).
    SequenceExhausted,
    /// `payload_len` is over [`MAX_PAYLOAD_LEN`].
    PayloadTooLong {
        /// The payload length asked for, in bytes.
        payload_len: usize,
    },
    /// `buf` cannot hold header, payload and tag.
    BufferTooSmall {
        /// The buffer's length in bytes.
        buf_len: usize,
        /// The datagram's length in bytes.
        needed_len: usize,
    },
    /// The header would be refused by every receiver: an unknown kind or a
    /// payload length the kind does not allow (see [`wire::Repr::parse`]).
    Malformed(wire::Error),
}

impl SealError {
    /// A short fixed name for counters and logs.
    pub const fn reason(&self) -> &'static str {
        match self {
            SealError::SequenceExhausted => "sequence_exhausted",
            SealError::PayloadTooLong { .. } => "payload_too_long",
            SealError::BufferTooSmall { .. } => "buffer_too_small",
            SealError::Malformed(_) => "malformed",
        }
    }
}

impl fmt::Display for SealError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SealError::SequenceExhausted => {
                f.write_str("sequence numbers under this key are used up; rekey")
            }
            SealError::PayloadTooLong { payload_len } => write!(
                f,
                "payload of {payload_len} bytes is over the {MAX_PAYLOAD_LEN}-byte maximum"
            ),
            SealError::BufferTooSmall {
                buf_len,
                needed_len,
            } => write!(
                f,
                "buffer of {buf_len} bytes cannot hold a {needed_len}-byte datagram"
            ),
            SealError::Malformed(e) => write!(f, "datagram would be malformed: {e}"),
        }
    }
}

impl core::error::Error for SealError {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        match self {
            SealError::Malformed(e) => Some(e),
            _ => None,
        }
    }
}

/// Seals the datagrams of one stream in one direction under one key.
///
/// It owns the stream's sequence counter, starting at 0, and hands each
/// number out once; there is no way to set it. When the counter is spent
/// [`seal`](Self::seal) returns [`SealError::SequenceExhausted`] instead of
/// wrapping, so a nonce cannot repeat through this type.
///
/// # Contract
/// Create exactly one `Sender` per (`keys`, `direction`, `stream_id`): a
/// second one would start again at seq 0 and reuse nonces. After a
/// restart or a `rekey`, derive new [`SessionKeys`] and create new
/// senders. Watch [`needs_rekey`](Self::needs_rekey) to ask for a new key
/// before the counter runs out.
#[derive(Debug, Clone)]
pub struct Sender {
    key: DirectionKey,
    key_id: KeyId,
    stream_id: StreamId,
    /// The next sequence number to use; `SEQ_SPACE` once all are used.
    next_seq: u64,
}

impl Sender {
    /// A sender for `stream_id` in `direction` under `keys`, at seq 0.
    pub fn new(keys: &SessionKeys, direction: Direction, stream_id: StreamId) -> Sender {
        Sender {
            key: keys.direction(direction).clone(),
            key_id: keys.key_id(),
            stream_id,
            next_seq: 0,
        }
    }

    /// A sender whose next sequence number is `next_seq`, for tests of the
    /// end of the counter. Not public: it could reuse nonces.
    #[cfg(test)]
    pub(crate) fn with_next_seq(
        keys: &SessionKeys,
        direction: Direction,
        stream_id: StreamId,
        next_seq: u64,
    ) -> Sender {
        assert!(next_seq <= SEQ_SPACE);
        Sender {
            next_seq,
            ..Sender::new(keys, direction, stream_id)
        }
    }

    /// The id of the key this sender seals under.
    pub const fn key_id(&self) -> KeyId {
        self.key_id
    }

    /// The stream this sender seals for.
    pub const fn stream_id(&self) -> StreamId {
        self.stream_id
    }

    /// How many more datagrams this sender can seal (at most 2^32).
    pub const fn remaining(&self) -> u64 {
        SEQ_SPACE - self.next_seq
    }

    /// Whether fewer than [`REKEY_MARGIN_SEQS`] sequence numbers are left:
    /// time to get a new key before [`SealError::SequenceExhausted`].
    pub const fn needs_rekey(&self) -> bool {
        self.remaining() < REKEY_MARGIN_SEQS
    }

    /// Seals one datagram in place and returns its length.
    ///
    /// Before the call the plaintext payload sits at
    /// `buf[HEADER_LEN..HEADER_LEN + payload_len]`. After it,
    /// `buf[..len]` is the datagram to send: the header (with this sender's
    /// `key_id`, `stream_id` and the next `seq`), the ciphertext and the tag.
    /// Bytes of `buf` past `len` are untouched.
    ///
    /// # Errors
    /// See [`SealError`]. On error nothing was consumed: the counter did not
    /// advance and the payload is still plaintext.
    pub fn seal(
        &mut self,
        kind: Kind,
        flags: Flags,
        timestamp: MediaTimestamp,
        payload_len: usize,
        buf: &mut [u8],
    ) -> Result<usize, SealError> {
        let seq = match u32::try_from(self.next_seq) {
            Ok(seq) => Seq(seq),
            Err(_) => return Err(SealError::SequenceExhausted),
        };
        if payload_len > MAX_PAYLOAD_LEN {
            return Err(SealError::PayloadTooLong { payload_len });
        }
        let repr = Repr {
            kind,
            flags,
            key_id: self.key_id,
            stream_id: self.stream_id,
            seq,
            timestamp,
            payload_len,
        };
        let len = repr.buffer_len();
        let Some(datagram) = buf.get_mut(..len) else {
            return Err(SealError::BufferTooSmall {
                buf_len: buf.len(),
                needed_len: len,
            });
        };
        repr.emit(&mut Packet::new_unchecked(&mut *datagram));
        // Refuse what every receiver would refuse, by the receiver's own rule.
        Repr::parse(&Packet::new_unchecked(&*datagram)).map_err(SealError::Malformed)?;

        let mut packet = Packet::new_unchecked(datagram);
        let (header, payload, tag) = packet.split_mut();
        self.key
            .seal_detached(self.stream_id, seq, header, payload, tag);
        self.next_seq += 1;
        Ok(len)
    }
}

const _: () = assert!(HEADER_LEN + MAX_PAYLOAD_LEN + TAG_LEN == wire::MAX_DATAGRAM_LEN);

#[cfg(test)]
mod tests {
    extern crate std;

    use super::*;
    use crate::crypto::keys::tests::kat_secret;
    use crate::wire::MAX_DATAGRAM_LEN;
    use std::collections::HashSet;

    fn keys() -> SessionKeys {
        SessionKeys::derive(&kat_secret(), KeyId(7))
    }

    fn seal_audio(sender: &mut Sender, buf: &mut [u8]) -> Result<usize, SealError> {
        buf[HEADER_LEN..HEADER_LEN + 60].fill(0x5a);
        sender.seal(Kind::Audio, Flags::NONE, MediaTimestamp(960), 60, buf)
    }

    #[test]
    fn seal_writes_header_ciphertext_and_tag() {
        let mut sender = Sender::new(&keys(), Direction::NodeToRelay, StreamId(42));
        let mut buf = [0u8; MAX_DATAGRAM_LEN];
        let len = seal_audio(&mut sender, &mut buf).unwrap();
        assert_eq!(len, HEADER_LEN + 60 + TAG_LEN);
        let packet = Packet::new_checked(&buf[..len]).unwrap();
        let repr = Repr::parse(&packet).unwrap();
        assert_eq!(repr.key_id, KeyId(7));
        assert_eq!(repr.stream_id, StreamId(42));
        assert_eq!(repr.seq, Seq(0));
        assert_eq!(repr.timestamp, MediaTimestamp(960));
        assert!(packet.payload() != [0x5a; 60], "payload is encrypted");
        assert!(
            buf[len..].iter().all(|&b| b == 0),
            "nothing written past the datagram"
        );
    }

    #[test]
    fn sequence_numbers_count_up_from_zero() {
        let mut sender = Sender::new(&keys(), Direction::NodeToRelay, StreamId(1));
        let mut buf = [0u8; 128];
        for expected in 0..5 {
            let len = seal_audio(&mut sender, &mut buf).unwrap();
            let packet = Packet::new_checked(&buf[..len]).unwrap();
            assert_eq!(packet.seq(), Seq(expected));
        }
        assert_eq!(sender.remaining(), (1 << 32) - 5);
    }

    #[test]
    fn sender_refuses_to_wrap_its_counter() {
        let mut sender = Sender::with_next_seq(
            &keys(),
            Direction::NodeToRelay,
            StreamId(1),
            u64::from(u32::MAX) - 1,
        );
        let mut buf = [0u8; 128];
        assert!(sender.needs_rekey());
        assert_eq!(sender.remaining(), 2);
        let len = seal_audio(&mut sender, &mut buf).unwrap();
        assert_eq!(
            Packet::new_checked(&buf[..len]).unwrap().seq(),
            Seq(u32::MAX - 1)
        );
        let len = seal_audio(&mut sender, &mut buf).unwrap();
        assert_eq!(
            Packet::new_checked(&buf[..len]).unwrap().seq(),
            Seq(u32::MAX)
        );
        assert_eq!(sender.remaining(), 0);
        for _ in 0..3 {
            buf.fill(0xee);
            assert_eq!(
                seal_audio(&mut sender, &mut buf),
                Err(SealError::SequenceExhausted)
            );
            assert!(buf[HEADER_LEN..HEADER_LEN + 60].iter().all(|&b| b == 0x5a));
        }
    }

    #[test]
    fn needs_rekey_turns_on_at_the_margin() {
        let at = (1u64 << 32) - REKEY_MARGIN_SEQS;
        let sender = Sender::with_next_seq(&keys(), Direction::NodeToRelay, StreamId(1), at - 1);
        assert!(!sender.needs_rekey());
        let sender = Sender::with_next_seq(&keys(), Direction::NodeToRelay, StreamId(1), at + 1);
        assert!(sender.needs_rekey());
        assert!(!Sender::new(&keys(), Direction::NodeToRelay, StreamId(1)).needs_rekey());
    }

    #[test]
    fn oversized_payload_and_short_buffer_are_refused_without_using_a_seq() {
        let mut sender = Sender::new(&keys(), Direction::NodeToRelay, StreamId(1));
        let mut buf = [0u8; MAX_DATAGRAM_LEN + 10];
        assert_eq!(
            sender.seal(
                Kind::Audio,
                Flags::NONE,
                MediaTimestamp(0),
                MAX_PAYLOAD_LEN + 1,
                &mut buf
            ),
            Err(SealError::PayloadTooLong {
                payload_len: MAX_PAYLOAD_LEN + 1
            })
        );
        assert_eq!(
            sender.seal(
                Kind::Audio,
                Flags::NONE,
                MediaTimestamp(0),
                60,
                &mut buf[..91]
            ),
            Err(SealError::BufferTooSmall {
                buf_len: 91,
                needed_len: 92
            })
        );
        assert_eq!(
            sender.seal(Kind::Audio, Flags::NONE, MediaTimestamp(0), 60, &mut []),
            Err(SealError::BufferTooSmall {
                buf_len: 0,
                needed_len: 92
            })
        );
        assert_eq!(sender.remaining(), 1 << 32);
        let len = sender
            .seal(
                Kind::Audio,
                Flags::NONE,
                MediaTimestamp(0),
                MAX_PAYLOAD_LEN,
                &mut buf,
            )
            .unwrap();
        assert_eq!(len, MAX_DATAGRAM_LEN);
        assert_eq!(Packet::new_checked(&buf[..len]).unwrap().seq(), Seq(0));
    }

    #[test]
    fn headers_no_receiver_accepts_are_refused() {
        let mut sender = Sender::new(&keys(), Direction::NodeToRelay, StreamId(1));
        let mut buf = [0u8; 128];
        let cases = [
            (Kind::Unknown(9), 10, wire::Error::UnknownKind(9)),
            (
                Kind::Audio,
                0,
                wire::Error::BadPayloadLen {
                    kind: Kind::Audio,
                    payload_len: 0,
                },
            ),
            (
                Kind::Heartbeat,
                4,
                wire::Error::BadPayloadLen {
                    kind: Kind::Heartbeat,
                    payload_len: 4,
                },
            ),
            (
                Kind::EndOfTransmission,
                1,
                wire::Error::BadPayloadLen {
                    kind: Kind::EndOfTransmission,
                    payload_len: 1,
                },
            ),
        ];
        for (kind, payload_len, error) in cases {
            assert_eq!(
                sender.seal(kind, Flags::NONE, MediaTimestamp(0), payload_len, &mut buf),
                Err(SealError::Malformed(error))
            );
        }
        assert_eq!(sender.remaining(), 1 << 32);
    }

    /// The first datagram of a stream, end to end, pinned. Computed once with
    /// Python `cryptography` (HKDF + AESGCM) from the key-schedule vector:
    /// secret 00 01 … 1f, key_id 7, node-to-relay, stream 0x01020304, seq 0,
    /// audio, start of talk-spurt, timestamp 960, payload "echostream".
    #[test]
    fn sealed_datagram_known_answer() {
        const EXPECTED: &str = "010101070102030400000000000003c0\
                                349e4b0f0cb427aea5cf\
                                e9903e09c4e218a4cd1615391d04c4cb";
        let mut sender = Sender::new(&keys(), Direction::NodeToRelay, StreamId(0x0102_0304));
        let mut buf = [0u8; 64];
        buf[HEADER_LEN..HEADER_LEN + 10].copy_from_slice(b"echostream");
        let len = sender
            .seal(
                Kind::Audio,
                Flags::START_OF_TALKSPURT,
                MediaTimestamp(960),
                10,
                &mut buf,
            )
            .unwrap();
        let hex: std::string::String = buf[..len].iter().map(|b| std::format!("{b:02x}")).collect();
        assert_eq!(hex, EXPECTED);
    }

    /// 2^20 datagrams from one sender: every nonce differs. The nonce is
    /// rebuilt from each emitted header, and the datagram is opened under
    /// it, which proves it is the nonce the sender actually used.
    #[test]
    fn nonces_are_unique_across_2_pow_20_packets() {
        let keys = keys();
        let key = keys.direction(Direction::NodeToRelay);
        let mut sender = Sender::new(&keys, Direction::NodeToRelay, StreamId(0xdead_beef));
        let mut nonces = HashSet::with_capacity(1 << 20);
        let mut buf = [0u8; 64];
        for _ in 0..1u32 << 20 {
            buf[HEADER_LEN..HEADER_LEN + 8].copy_from_slice(&[1, 2, 3, 4, 5, 6, 7, 8]);
            let len = sender
                .seal(Kind::Heartbeat, Flags::NONE, MediaTimestamp(0), 8, &mut buf)
                .unwrap();
            let mut packet = Packet::new_checked(&mut buf[..len]).unwrap();
            let (stream_id, seq) = (packet.stream_id(), packet.seq());
            let (header, payload, tag) = packet.split_mut();
            key.open_detached(stream_id, seq, header, payload, tag)
                .unwrap();
            let nonce = crate::crypto::protect::nonce(key.salt, stream_id, seq);
            assert!(nonces.insert(nonce), "nonce reused at {seq}");
        }
        assert_eq!(nonces.len(), 1 << 20);
    }
}
