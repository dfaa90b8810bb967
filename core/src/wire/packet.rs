//! The v1 UDP datagram: a checked zero-copy view and its parsed `Repr`.
//!
//! ```text
//! 0        1        2        3        4                8                12               16
//! | ver=1  | kind   | flags  | key_id | stream_id u32  | seq u32        | timestamp u32  | ciphertext … | tag (16) |
//! ```
//!
//! All multi-byte fields are network byte order. The whole 16-byte header is
//! authenticated as AES-GCM associated data; the payload is ciphertext and
//! the last 16 bytes are the GCM tag. This module never decrypts: it only
//! says where things are and whether the header is one we speak.

use core::fmt;

use super::{KeyId, MediaTimestamp, Seq, StreamId};

/// The wire format version this code speaks.
pub const VERSION: u8 = 1;
/// Bytes of header before the ciphertext.
pub const HEADER_LEN: usize = 16;
/// Bytes of AES-GCM tag after the ciphertext.
pub const TAG_LEN: usize = 16;
/// The largest payload: one Opus packet is at most 1275 bytes (RFC 6716 §3.2.1).
pub const MAX_PAYLOAD_LEN: usize = 1275;
/// The smallest datagram: a header and a tag around an empty payload.
pub const MIN_DATAGRAM_LEN: usize = HEADER_LEN + TAG_LEN;
/// The largest datagram.
pub const MAX_DATAGRAM_LEN: usize = HEADER_LEN + MAX_PAYLOAD_LEN + TAG_LEN;
/// Payload bytes of a heartbeat and its echo: the sender's clock in µs.
pub const HEARTBEAT_PAYLOAD_LEN: usize = 8;

// The largest datagram must fit one unfragmented IPv6 packet on a 1500-byte
// link (1500 − 40 IPv6 − 8 UDP).
const _: () = assert!(MAX_DATAGRAM_LEN <= 1452);

mod field {
    use core::ops::Range;

    pub const VERSION: usize = 0;
    pub const KIND: usize = 1;
    pub const FLAGS: usize = 2;
    pub const KEY_ID: usize = 3;
    pub const STREAM_ID: Range<usize> = 4..8;
    pub const SEQ: Range<usize> = 8..12;
    pub const TIMESTAMP: Range<usize> = 12..16;
}

const _: () = assert!(field::TIMESTAMP.end == HEADER_LEN);

/// What a datagram carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// One Opus packet.
    Audio,
    /// The sender's send time in µs (u64, big-endian), to be echoed.
    Heartbeat,
    /// The talker let go; empty payload.
    EndOfTransmission,
    /// A heartbeat's payload sent back unchanged.
    HeartbeatEcho,
    /// A kind this version does not know. Never produced by [`Repr::parse`].
    Unknown(u8),
}

impl From<u8> for Kind {
    fn from(value: u8) -> Kind {
        match value {
            1 => Kind::Audio,
            2 => Kind::Heartbeat,
            3 => Kind::EndOfTransmission,
            4 => Kind::HeartbeatEcho,
            other => Kind::Unknown(other),
        }
    }
}

impl From<Kind> for u8 {
    fn from(kind: Kind) -> u8 {
        match kind {
            Kind::Audio => 1,
            Kind::Heartbeat => 2,
            Kind::EndOfTransmission => 3,
            Kind::HeartbeatEcho => 4,
            Kind::Unknown(other) => other,
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Kind::Audio => f.write_str("audio"),
            Kind::Heartbeat => f.write_str("heartbeat"),
            Kind::EndOfTransmission => f.write_str("end-of-transmission"),
            Kind::HeartbeatEcho => f.write_str("heartbeat echo"),
            Kind::Unknown(k) => write!(f, "unknown kind {k}"),
        }
    }
}

/// The flags byte. Bits other than [`Flags::KNOWN`] must be zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Flags(u8);

impl Flags {
    /// No flags.
    pub const NONE: Flags = Flags(0);
    /// The first packet of a talk-spurt (the jitter buffer re-targets here).
    pub const START_OF_TALKSPURT: Flags = Flags(0b01);
    /// The Opus packet carries in-band FEC for the previous frame.
    pub const FEC: Flags = Flags(0b10);
    /// Every bit v1 defines.
    pub const KNOWN: Flags = Flags(0b11);

    /// Flags from raw bits, or the offending bits if any is unknown.
    pub const fn from_bits(bits: u8) -> Result<Flags, u8> {
        let unknown = bits & !Flags::KNOWN.0;
        if unknown != 0 {
            Err(unknown)
        } else {
            Ok(Flags(bits))
        }
    }

    /// The raw bits.
    pub const fn bits(self) -> u8 {
        self.0
    }

    /// Whether every bit of `other` is set in `self`.
    pub const fn contains(self, other: Flags) -> bool {
        self.0 & other.0 == other.0
    }

    /// `self` with the bits of `other` added.
    pub const fn union(self, other: Flags) -> Flags {
        Flags(self.0 | other.0)
    }
}

/// Why a datagram is not one we speak. Callers count these and drop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// Shorter than a header and a tag.
    Truncated {
        /// The datagram's length in bytes.
        len: usize,
    },
    /// Longer than the largest datagram.
    Oversized {
        /// The datagram's length in bytes.
        len: usize,
    },
    /// A version other than [`VERSION`].
    UnknownVersion(u8),
    /// A kind this version does not define.
    UnknownKind(u8),
    /// Flag bits this version does not define (the unknown bits).
    UnknownFlags(u8),
    /// A payload length the kind does not allow (heartbeat ≠ 8, end ≠ 0).
    BadPayloadLen {
        /// The datagram's kind.
        kind: Kind,
        /// Its payload length in bytes.
        payload_len: usize,
    },
}

impl Error {
    /// A short fixed name for counters and logs.
    pub const fn reason(&self) -> &'static str {
        match self {
            Error::Truncated { .. } => "truncated",
            Error::Oversized { .. } => "oversized",
            Error::UnknownVersion(_) => "unknown_version",
            Error::UnknownKind(_) => "unknown_kind",
            Error::UnknownFlags(_) => "unknown_flags",
            Error::BadPayloadLen { .. } => "bad_payload_len",
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Truncated { len } => {
                write!(
                    f,
                    "datagram of {len} bytes is shorter than the {MIN_DATAGRAM_LEN}-byte minimum"
                )
            }
            Error::Oversized { len } => {
                write!(
                    f,
                    "datagram of {len} bytes is longer than the {MAX_DATAGRAM_LEN}-byte maximum"
                )
            }
            Error::UnknownVersion(v) => write!(f, "wire version {v} is not {VERSION}"),
            Error::UnknownKind(k) => write!(f, "packet kind {k} is not defined in v{VERSION}"),
            Error::UnknownFlags(bits) => {
                write!(f, "flag bits {bits:#04x} are not defined in v{VERSION}")
            }
            Error::BadPayloadLen { kind, payload_len } => {
                write!(f, "{kind} packet with a {payload_len}-byte payload")
            }
        }
    }
}

impl core::error::Error for Error {}

/// A read/write view of a v1 datagram in a byte buffer.
///
/// Build it over untrusted bytes with [`Packet::new_checked`]; once that has
/// passed, no accessor panics. [`Packet::new_unchecked`] is for buffers the
/// caller sized itself (emitting), whose accessors may panic if it is short.
#[derive(Debug, Clone)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps a buffer without checking it.
    pub const fn new_unchecked(buffer: T) -> Packet<T> {
        Packet { buffer }
    }

    /// Wraps a buffer after [`Packet::check_len`] and [`Packet::check_header`].
    ///
    /// # Errors
    /// Any [`Error`]: too short or long, unknown version, kind or flag bits.
    pub fn new_checked(buffer: T) -> Result<Packet<T>, Error> {
        let packet = Packet::new_unchecked(buffer);
        packet.check_len()?;
        packet.check_header()?;
        Ok(packet)
    }

    /// Checks that the buffer holds a header and a tag and is not oversized.
    ///
    /// # Errors
    /// [`Error::Truncated`] or [`Error::Oversized`].
    pub fn check_len(&self) -> Result<(), Error> {
        let len = self.buffer.as_ref().len();
        if len < MIN_DATAGRAM_LEN {
            Err(Error::Truncated { len })
        } else if len > MAX_DATAGRAM_LEN {
            Err(Error::Oversized { len })
        } else {
            Ok(())
        }
    }

    /// Checks version, kind and flags. Call after [`Packet::check_len`].
    ///
    /// # Errors
    /// [`Error::UnknownVersion`], [`Error::UnknownKind`], [`Error::UnknownFlags`].
    ///
    /// # Panics
    /// If the buffer is shorter than a header.
    pub fn check_header(&self) -> Result<(), Error> {
        if self.version() != VERSION {
            return Err(Error::UnknownVersion(self.version()));
        }
        if let Kind::Unknown(k) = self.kind() {
            return Err(Error::UnknownKind(k));
        }
        Flags::from_bits(self.buffer.as_ref()[field::FLAGS]).map_err(Error::UnknownFlags)?;
        Ok(())
    }

    /// The buffer, unwrapped.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// The version byte.
    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[field::VERSION]
    }

    /// The packet kind.
    pub fn kind(&self) -> Kind {
        Kind::from(self.buffer.as_ref()[field::KIND])
    }

    /// The flags, with unknown bits cleared (checked views have none).
    pub fn flags(&self) -> Flags {
        Flags(self.buffer.as_ref()[field::FLAGS] & Flags::KNOWN.0)
    }

    /// Which key protects the packet.
    pub fn key_id(&self) -> KeyId {
        KeyId(self.buffer.as_ref()[field::KEY_ID])
    }

    /// The stream the packet belongs to.
    pub fn stream_id(&self) -> StreamId {
        StreamId(read_u32(&self.buffer.as_ref()[field::STREAM_ID]))
    }

    /// The packet's sequence number in its stream.
    pub fn seq(&self) -> Seq {
        Seq(read_u32(&self.buffer.as_ref()[field::SEQ]))
    }

    /// The media timestamp (48 kHz units).
    pub fn timestamp(&self) -> MediaTimestamp {
        MediaTimestamp(read_u32(&self.buffer.as_ref()[field::TIMESTAMP]))
    }

    /// The 16 header bytes (the AEAD associated data).
    pub fn header(&self) -> &[u8] {
        &self.buffer.as_ref()[..HEADER_LEN]
    }

    /// The payload bytes between header and tag (ciphertext on the wire).
    pub fn payload(&self) -> &[u8] {
        let data = self.buffer.as_ref();
        &data[HEADER_LEN..data.len() - TAG_LEN]
    }

    /// The payload length in bytes.
    pub fn payload_len(&self) -> usize {
        self.buffer.as_ref().len() - MIN_DATAGRAM_LEN
    }

    /// The 16-byte authentication tag.
    pub fn tag(&self) -> &[u8] {
        let data = self.buffer.as_ref();
        &data[data.len() - TAG_LEN..]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Sets the version byte.
    pub fn set_version(&mut self, version: u8) {
        self.buffer.as_mut()[field::VERSION] = version;
    }

    /// Sets the kind.
    pub fn set_kind(&mut self, kind: Kind) {
        self.buffer.as_mut()[field::KIND] = kind.into();
    }

    /// Sets the flags.
    pub fn set_flags(&mut self, flags: Flags) {
        self.buffer.as_mut()[field::FLAGS] = flags.bits();
    }

    /// Sets the key id.
    pub fn set_key_id(&mut self, key_id: KeyId) {
        self.buffer.as_mut()[field::KEY_ID] = key_id.0;
    }

    /// Sets the stream id.
    pub fn set_stream_id(&mut self, stream_id: StreamId) {
        self.buffer.as_mut()[field::STREAM_ID].copy_from_slice(&stream_id.0.to_be_bytes());
    }

    /// Sets the sequence number.
    pub fn set_seq(&mut self, seq: Seq) {
        self.buffer.as_mut()[field::SEQ].copy_from_slice(&seq.0.to_be_bytes());
    }

    /// Sets the media timestamp.
    pub fn set_timestamp(&mut self, timestamp: MediaTimestamp) {
        self.buffer.as_mut()[field::TIMESTAMP].copy_from_slice(&timestamp.0.to_be_bytes());
    }

    /// The payload, writable (plaintext before sealing, then ciphertext).
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let data = self.buffer.as_mut();
        let end = data.len() - TAG_LEN;
        &mut data[HEADER_LEN..end]
    }

    /// Header (read-only), payload and tag at once, for sealing or opening
    /// in place: the header is the associated data of the payload.
    pub fn split_mut(&mut self) -> (&[u8], &mut [u8], &mut [u8]) {
        let data = self.buffer.as_mut();
        let tag_at = data.len() - TAG_LEN;
        let (header, rest) = data.split_at_mut(HEADER_LEN);
        let (payload, tag) = rest.split_at_mut(tag_at - HEADER_LEN);
        (header, payload, tag)
    }
}

fn read_u32(bytes: &[u8]) -> u32 {
    let mut word = [0u8; 4];
    word.copy_from_slice(bytes);
    u32::from_be_bytes(word)
}

/// A datagram's header, validated: what the rest of the system works with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repr {
    /// What the datagram carries.
    pub kind: Kind,
    /// Its flags.
    pub flags: Flags,
    /// Which key protects it.
    pub key_id: KeyId,
    /// Its stream.
    pub stream_id: StreamId,
    /// Its sequence number in the stream.
    pub seq: Seq,
    /// Its media timestamp (48 kHz units).
    pub timestamp: MediaTimestamp,
    /// Bytes of payload between header and tag.
    pub payload_len: usize,
}

impl Repr {
    /// Parses a checked packet's header.
    ///
    /// # Errors
    /// [`Error::UnknownKind`] for [`Kind::Unknown`] (only reachable through
    /// an unchecked view) and [`Error::BadPayloadLen`] for a heartbeat whose
    /// payload is not 8 bytes or an end-of-transmission that is not empty.
    pub fn parse<T: AsRef<[u8]> + ?Sized>(packet: &Packet<&T>) -> Result<Repr, Error> {
        packet.check_len()?;
        packet.check_header()?;
        let kind = packet.kind();
        let payload_len = packet.payload_len();
        let allowed = match kind {
            Kind::Audio => payload_len > 0,
            Kind::Heartbeat | Kind::HeartbeatEcho => payload_len == HEARTBEAT_PAYLOAD_LEN,
            Kind::EndOfTransmission => payload_len == 0,
            Kind::Unknown(k) => return Err(Error::UnknownKind(k)),
        };
        if !allowed {
            return Err(Error::BadPayloadLen { kind, payload_len });
        }
        Ok(Repr {
            kind,
            flags: packet.flags(),
            key_id: packet.key_id(),
            stream_id: packet.stream_id(),
            seq: packet.seq(),
            timestamp: packet.timestamp(),
            payload_len,
        })
    }

    /// The whole datagram's length: header, payload and tag.
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN + self.payload_len + TAG_LEN
    }

    /// Writes the 16-byte header; payload and tag are left untouched.
    ///
    /// # Panics
    /// If the buffer is shorter than [`Repr::buffer_len`] (a caller bug:
    /// size the buffer from `buffer_len`).
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]> + ?Sized>(&self, packet: &mut Packet<&mut T>) {
        assert!(
            packet.buffer.as_ref().len() >= self.buffer_len(),
            "emit buffer shorter than Repr::buffer_len"
        );
        packet.set_version(VERSION);
        packet.set_kind(self.kind);
        packet.set_flags(self.flags);
        packet.set_key_id(self.key_id);
        packet.set_stream_id(self.stream_id);
        packet.set_seq(self.seq);
        packet.set_timestamp(self.timestamp);
    }
}

impl fmt::Display for Repr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "v{VERSION} {} {} {} {} ts={} flags={:#04x} len={}",
            self.kind,
            self.stream_id,
            self.seq,
            self.key_id,
            self.timestamp.0,
            self.flags.bits(),
            self.payload_len
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // An audio datagram: start of talk-spurt + FEC, key 7, stream 0x01020304,
    // seq 0x0a0b0c0d, timestamp 0x00003c00 (15360), 4 payload bytes, tag.
    static AUDIO_BYTES: [u8; 36] = [
        0x01, 0x01, 0x03, 0x07, // ver, kind, flags, key_id
        0x01, 0x02, 0x03, 0x04, // stream_id
        0x0a, 0x0b, 0x0c, 0x0d, // seq
        0x00, 0x00, 0x3c, 0x00, // timestamp
        0xde, 0xad, 0xbe, 0xef, // payload
        0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, // tag
        0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f,
    ];

    fn audio_repr() -> Repr {
        Repr {
            kind: Kind::Audio,
            flags: Flags::START_OF_TALKSPURT.union(Flags::FEC),
            key_id: KeyId(7),
            stream_id: StreamId(0x0102_0304),
            seq: Seq(0x0a0b_0c0d),
            timestamp: MediaTimestamp(15_360),
            payload_len: 4,
        }
    }

    #[test]
    fn deconstruct() {
        let packet = Packet::new_checked(&AUDIO_BYTES[..]).unwrap();
        assert_eq!(packet.version(), 1);
        assert_eq!(packet.kind(), Kind::Audio);
        assert_eq!(packet.flags(), Flags::START_OF_TALKSPURT.union(Flags::FEC));
        assert_eq!(packet.key_id(), KeyId(7));
        assert_eq!(packet.stream_id(), StreamId(0x0102_0304));
        assert_eq!(packet.seq(), Seq(0x0a0b_0c0d));
        assert_eq!(packet.timestamp(), MediaTimestamp(15_360));
        assert_eq!(packet.header(), &AUDIO_BYTES[..16]);
        assert_eq!(packet.payload(), &[0xde, 0xad, 0xbe, 0xef]);
        assert_eq!(packet.tag(), &AUDIO_BYTES[20..]);
    }

    #[test]
    fn construct() {
        let mut bytes = [0xa5u8; 36];
        let mut packet = Packet::new_unchecked(&mut bytes[..]);
        packet.set_version(1);
        packet.set_kind(Kind::Audio);
        packet.set_flags(Flags::START_OF_TALKSPURT.union(Flags::FEC));
        packet.set_key_id(KeyId(7));
        packet.set_stream_id(StreamId(0x0102_0304));
        packet.set_seq(Seq(0x0a0b_0c0d));
        packet.set_timestamp(MediaTimestamp(15_360));
        packet
            .payload_mut()
            .copy_from_slice(&[0xde, 0xad, 0xbe, 0xef]);
        let (_, _, tag) = packet.split_mut();
        tag.copy_from_slice(&AUDIO_BYTES[20..]);
        assert_eq!(bytes, AUDIO_BYTES);
    }

    #[test]
    fn parse() {
        let packet = Packet::new_checked(&AUDIO_BYTES[..]).unwrap();
        assert_eq!(Repr::parse(&packet), Ok(audio_repr()));
    }

    #[test]
    fn emit_writes_the_header_only() {
        let repr = audio_repr();
        let mut bytes = [0xa5u8; 36];
        assert_eq!(repr.buffer_len(), bytes.len());
        repr.emit(&mut Packet::new_unchecked(&mut bytes[..]));
        assert_eq!(bytes[..HEADER_LEN], AUDIO_BYTES[..HEADER_LEN]);
        assert!(
            bytes[HEADER_LEN..].iter().all(|&b| b == 0xa5),
            "payload and tag untouched"
        );
    }

    #[test]
    fn heartbeat_and_end_of_transmission() {
        let mut bytes = [0u8; HEADER_LEN + HEARTBEAT_PAYLOAD_LEN + TAG_LEN];
        let repr = Repr {
            kind: Kind::Heartbeat,
            flags: Flags::NONE,
            payload_len: 8,
            ..audio_repr()
        };
        repr.emit(&mut Packet::new_unchecked(&mut bytes[..]));
        assert_eq!(
            Repr::parse(&Packet::new_checked(&bytes[..]).unwrap()),
            Ok(repr)
        );

        let mut eot = [0u8; MIN_DATAGRAM_LEN];
        let repr = Repr {
            kind: Kind::EndOfTransmission,
            flags: Flags::NONE,
            payload_len: 0,
            ..audio_repr()
        };
        repr.emit(&mut Packet::new_unchecked(&mut eot[..]));
        assert_eq!(
            Repr::parse(&Packet::new_checked(&eot[..]).unwrap()),
            Ok(repr)
        );
    }

    #[test]
    fn impossible_lengths() {
        for len in 0..MIN_DATAGRAM_LEN {
            assert_eq!(
                Packet::new_checked(&AUDIO_BYTES[..len]).unwrap_err(),
                Error::Truncated { len }
            );
        }
        let big = [0u8; MAX_DATAGRAM_LEN + 1];
        assert_eq!(
            Packet::new_checked(&big[..]).unwrap_err(),
            Error::Oversized {
                len: MAX_DATAGRAM_LEN + 1
            }
        );
        // An audio packet with an empty payload, a heartbeat of 4 bytes and
        // a non-empty end-of-transmission are all structurally wrong.
        let mut bytes = AUDIO_BYTES;
        assert!(matches!(
            Repr::parse(&Packet::new_checked(&bytes[..MIN_DATAGRAM_LEN]).unwrap()),
            Err(Error::BadPayloadLen {
                kind: Kind::Audio,
                payload_len: 0
            })
        ));
        bytes[1] = 2;
        assert!(matches!(
            Repr::parse(&Packet::new_checked(&bytes[..]).unwrap()),
            Err(Error::BadPayloadLen {
                kind: Kind::Heartbeat,
                payload_len: 4
            })
        ));
        bytes[1] = 3;
        assert!(matches!(
            Repr::parse(&Packet::new_checked(&bytes[..]).unwrap()),
            Err(Error::BadPayloadLen {
                kind: Kind::EndOfTransmission,
                payload_len: 4
            })
        ));
    }

    #[test]
    fn unknown_version_kind_and_flags_are_typed_errors() {
        let mut bytes = AUDIO_BYTES;
        bytes[0] = 2;
        assert_eq!(
            Packet::new_checked(&bytes[..]).unwrap_err(),
            Error::UnknownVersion(2)
        );
        bytes[0] = 1;
        for kind in [0u8, 5, 255] {
            bytes[1] = kind;
            assert_eq!(
                Packet::new_checked(&bytes[..]).unwrap_err(),
                Error::UnknownKind(kind)
            );
            let unchecked = Packet::new_unchecked(&bytes[..]);
            assert_eq!(Repr::parse(&unchecked), Err(Error::UnknownKind(kind)));
        }
        bytes[1] = 1;
        for bit in 2..8 {
            bytes[2] = 1 << bit;
            assert_eq!(
                Packet::new_checked(&bytes[..]).unwrap_err(),
                Error::UnknownFlags(1 << bit)
            );
        }
    }

    #[test]
    fn every_error_has_a_reason_and_message() {
        let errors = [
            Error::Truncated { len: 3 },
            Error::Oversized { len: 2000 },
            Error::UnknownVersion(9),
            Error::UnknownKind(9),
            Error::UnknownFlags(0x80),
            Error::BadPayloadLen {
                kind: Kind::Heartbeat,
                payload_len: 3,
            },
        ];
        for e in errors {
            assert!(!e.reason().is_empty());
            let mut text = heapless::String::<128>::new();
            core::fmt::write(&mut text, format_args!("{e}")).unwrap();
            assert!(text.len() > 10, "{text}");
        }
    }
}
