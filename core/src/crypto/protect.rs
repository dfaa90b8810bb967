//! AES-256-GCM over one datagram, in place, with a detached tag.
//!
//! - Nonce (12 bytes) = direction salt (4) ‖ `stream_id` (u32 BE) ‖ `seq`
//!   (u32 BE). Under one key, a (`stream_id`, `seq`) pair therefore names
//!   exactly one nonce; [`super::Sender`] makes sure it is used once.
//! - Associated data = the whole 16-byte header, so no header bit can change
//!   without the tag failing.
//! - The ciphertext replaces the plaintext in the caller's buffer and the
//!   tag goes into the 16 bytes after it; nothing is copied elsewhere.
//!
//! These are crate-private: sealing with a caller-chosen `seq` would let a
//! caller reuse a nonce, so the public way in is [`super::Sender`] (and
//! [`super::Receiver`] for opening, which needs the replay window anyway).

use aes_gcm::{AeadInOut, Nonce, Tag};

use super::keys::{DirectionKey, SALT_LEN};
use crate::wire::{HEADER_LEN, MAX_PAYLOAD_LEN, Seq, StreamId, TAG_LEN};

/// Length of an AES-GCM nonce in bytes.
pub(crate) const NONCE_LEN: usize = 12;

const _: () = assert!(SALT_LEN + 4 + 4 == NONCE_LEN);
// GCM's plaintext limit is 2^36 - 32 bytes; a datagram is nowhere near it,
// so the AEAD calls below cannot fail on length.
const _: () = assert!((MAX_PAYLOAD_LEN as u64) < (1u64 << 36) - 32);

/// The nonce for (`stream_id`, `seq`) under `salt`.
pub(crate) fn nonce(salt: [u8; SALT_LEN], stream_id: StreamId, seq: Seq) -> [u8; NONCE_LEN] {
    let mut nonce = [0u8; NONCE_LEN];
    nonce[..SALT_LEN].copy_from_slice(&salt);
    nonce[SALT_LEN..SALT_LEN + 4].copy_from_slice(&stream_id.0.to_be_bytes());
    nonce[SALT_LEN + 4..].copy_from_slice(&seq.0.to_be_bytes());
    nonce
}

/// The tag did not verify: the datagram was forged, corrupted, or sealed
/// under another key or direction. The payload is left as it was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TagMismatch;

impl DirectionKey {
    /// Encrypts `payload` in place and writes the tag into `tag`.
    ///
    /// # Panics
    /// If `header` is not [`HEADER_LEN`] or `tag` not [`TAG_LEN`] bytes, or
    /// `payload` is longer than [`MAX_PAYLOAD_LEN`] (caller bugs; the wire
    /// view's `split_mut` hands out exactly these shapes).
    pub(crate) fn seal_detached(
        &self,
        stream_id: StreamId,
        seq: Seq,
        header: &[u8],
        payload: &mut [u8],
        tag: &mut [u8],
    ) {
        assert_eq!(header.len(), HEADER_LEN, "AAD is the whole header");
        assert!(
            payload.len() <= MAX_PAYLOAD_LEN,
            "payload bounded by the wire"
        );
        let nonce = Nonce::from(nonce(self.salt, stream_id, seq));
        let computed = self
            .cipher
            .encrypt_inout_detached(&nonce, header, payload.into())
            .expect("payload and AAD are far below GCM's length limits");
        tag.copy_from_slice(&computed);
    }

    /// Verifies `tag` over `header` and `payload`, then decrypts `payload`
    /// in place. GCM checks the tag before touching the payload, so on
    /// [`TagMismatch`] the buffer still holds the ciphertext.
    ///
    /// # Errors
    /// [`TagMismatch`] if the tag does not verify.
    ///
    /// # Panics
    /// If `header` is not [`HEADER_LEN`] bytes or `tag` not [`TAG_LEN`].
    pub(crate) fn open_detached(
        &self,
        stream_id: StreamId,
        seq: Seq,
        header: &[u8],
        payload: &mut [u8],
        tag: &[u8],
    ) -> Result<(), TagMismatch> {
        assert_eq!(header.len(), HEADER_LEN, "AAD is the whole header");
        let tag = Tag::try_from(tag).expect("the wire view's tag is TAG_LEN bytes");
        let nonce = Nonce::from(nonce(self.salt, stream_id, seq));
        self.cipher
            .decrypt_inout_detached(&nonce, header, payload.into(), &tag)
            .map_err(|_| TagMismatch)
    }
}

const _: () = assert!(TAG_LEN == 16, "Aes256Gcm's tag is 16 bytes");

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::keys::tests::kat_secret;
    use crate::crypto::{Direction, SessionKeys};
    use crate::wire::KeyId;

    #[test]
    fn nonce_is_salt_then_stream_then_seq_big_endian() {
        let n = nonce(
            [0xaa, 0xbb, 0xcc, 0xdd],
            StreamId(0x0102_0304),
            Seq(0x0a0b_0c0d),
        );
        assert_eq!(
            n,
            [0xaa, 0xbb, 0xcc, 0xdd, 1, 2, 3, 4, 0x0a, 0x0b, 0x0c, 0x0d]
        );
    }

    #[test]
    fn seal_then_open_restores_the_plaintext() {
        let keys = SessionKeys::derive(&kat_secret(), KeyId(7));
        let key = keys.direction(Direction::NodeToRelay);
        let header = [1u8; HEADER_LEN];
        let mut payload = *b"hello, relay";
        let mut tag = [0u8; TAG_LEN];
        key.seal_detached(StreamId(3), Seq(9), &header, &mut payload, &mut tag);
        assert_ne!(&payload, b"hello, relay");
        key.open_detached(StreamId(3), Seq(9), &header, &mut payload, &tag)
            .unwrap();
        assert_eq!(&payload, b"hello, relay");
    }

    #[test]
    fn a_failed_open_leaves_the_ciphertext_in_place() {
        let keys = SessionKeys::derive(&kat_secret(), KeyId(7));
        let key = keys.direction(Direction::NodeToRelay);
        let header = [1u8; HEADER_LEN];
        let mut payload = *b"hello, relay";
        let mut tag = [0u8; TAG_LEN];
        key.seal_detached(StreamId(3), Seq(9), &header, &mut payload, &mut tag);
        let sealed = payload;
        // Wrong seq means wrong nonce.
        let result = key.open_detached(StreamId(3), Seq(10), &header, &mut payload, &tag);
        assert_eq!(result, Err(TagMismatch));
        assert_eq!(payload, sealed);
    }
}
