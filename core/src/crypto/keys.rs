//! The key schedule: one relay-issued secret becomes two directional
//! AES-256-GCM keys and two nonce salts. The specification is on
//! [`SessionKeys`].

use aes_gcm::{Aes256Gcm, Key, KeyInit};
use core::fmt;
use hkdf::Hkdf;
use sha2::Sha256;

use crate::wire::KeyId;

/// Length of the relay-issued secret in bytes.
pub const SECRET_LEN: usize = 32;
/// Length of a directional AES-256-GCM key in bytes.
pub const KEY_LEN: usize = 32;
/// Length of a directional nonce salt in bytes.
pub const SALT_LEN: usize = 4;

/// HKDF-Extract salt (RFC 5869 §2.2): fixed domain separation for v1.
const EXTRACT_SALT: &[u8] = b"echostream v1 key schedule";
const LABEL_NODE_TO_RELAY_KEY: &[u8] = b"echostream v1 node-to-relay key";
const LABEL_NODE_TO_RELAY_SALT: &[u8] = b"echostream v1 node-to-relay salt";
const LABEL_RELAY_TO_NODE_KEY: &[u8] = b"echostream v1 relay-to-node key";
const LABEL_RELAY_TO_NODE_SALT: &[u8] = b"echostream v1 relay-to-node salt";

/// The relay-issued 32-byte secret from `welcome` or `rekey`.
///
/// Its `Debug` output never shows the bytes.
#[derive(Clone)]
pub struct Secret([u8; SECRET_LEN]);

impl Secret {
    /// Wraps the decoded bytes of the signaling `key` field.
    pub const fn from_bytes(bytes: [u8; SECRET_LEN]) -> Secret {
        Secret(bytes)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(..)")
    }
}

/// Which way a datagram travels; each way has its own key and salt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// From a node to the relay: nodes seal, the relay opens.
    NodeToRelay,
    /// From the relay to a node: the relay seals, nodes open.
    RelayToNode,
}

impl Direction {
    fn labels(self) -> (&'static [u8], &'static [u8]) {
        match self {
            Direction::NodeToRelay => (LABEL_NODE_TO_RELAY_KEY, LABEL_NODE_TO_RELAY_SALT),
            Direction::RelayToNode => (LABEL_RELAY_TO_NODE_KEY, LABEL_RELAY_TO_NODE_SALT),
        }
    }
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Direction::NodeToRelay => "node-to-relay",
            Direction::RelayToNode => "relay-to-node",
        })
    }
}

/// One direction's cipher (key already expanded) and nonce salt.
///
/// Crate-private so that the only way to seal is through
/// [`super::Sender`], which owns the sequence counter.
#[derive(Clone)]
pub(crate) struct DirectionKey {
    pub(crate) cipher: Aes256Gcm,
    pub(crate) salt: [u8; SALT_LEN],
}

impl fmt::Debug for DirectionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DirectionKey(..)")
    }
}

/// Both directions' keys derived from one secret, tagged with its `key_id`.
///
/// Derive once per `welcome` / `rekey`, then hand to [`super::Sender::new`]
/// (one per stream) and [`super::Receiver::new`] / [`super::Receiver::rekey`].
/// `Debug` never shows key material.
///
/// # Key schedule (v1)
///
/// Inputs: the 32-byte `secret` the relay sends in `welcome` / `rekey`
/// (base64 in the JSON, raw bytes here) and the one-byte `key_id` sent beside
/// it. HKDF is RFC 5869 with SHA-256.
///
/// ```text
/// PRK = HKDF-Extract(salt = "echostream v1 key schedule", IKM = secret)
///
/// node_to_relay_key  = HKDF-Expand(PRK, "echostream v1 node-to-relay key"  || key_id, 32)
/// node_to_relay_salt = HKDF-Expand(PRK, "echostream v1 node-to-relay salt" || key_id,  4)
/// relay_to_node_key  = HKDF-Expand(PRK, "echostream v1 relay-to-node key"  || key_id, 32)
/// relay_to_node_salt = HKDF-Expand(PRK, "echostream v1 relay-to-node salt" || key_id,  4)
/// ```
///
/// The labels are ASCII without a terminator; `|| key_id` appends the single
/// byte. Binding `key_id` into every label means a secret reissued under a
/// different id still yields unrelated keys.
///
/// A datagram travelling in direction `d` is sealed with `d`'s key under
/// the 12-byte nonce `d_salt || stream_id (u32 BE) || seq (u32 BE)`, with
/// the 16-byte header as associated data. Separate keys per direction mean
/// a datagram reflected back to its sender never authenticates, and the two
/// sides never share a nonce space even when stream ids and sequence
/// numbers coincide.
///
/// Known answer (pinned in this module's tests, cross-checked against
/// Python `cryptography`): secret = bytes `00 01 02 … 1f`, key_id = 7 gives
///
/// ```text
/// node_to_relay_key  = 82d6e9b045aa6503cf59186e74255d723fade214cdc47c9032da7e3f635e7bca
/// node_to_relay_salt = 3418edc3
/// relay_to_node_key  = d9380d046f471bf71b6b7536a30bf165719bd40b5c4ea58e1fb172f24281041c
/// relay_to_node_salt = 21431772
/// ```
///
/// and the first node-to-relay datagram of stream `0x01020304` (audio,
/// start of talk-spurt, timestamp 960, payload `"echostream"`) is
///
/// ```text
/// header     010101070102030400000000000003c0
/// ciphertext 349e4b0f0cb427aea5cf
/// tag        e9903e09c4e218a4cd1615391d04c4cb
/// ```
#[derive(Clone)]
pub struct SessionKeys {
    key_id: KeyId,
    node_to_relay: DirectionKey,
    relay_to_node: DirectionKey,
}

impl SessionKeys {
    /// Runs the v1 key schedule (see the [type docs](SessionKeys)).
    ///
    /// Costs four HMAC-SHA256 expansions and two AES key expansions; call it
    /// on `welcome` / `rekey`, not per packet.
    pub fn derive(secret: &Secret, key_id: KeyId) -> SessionKeys {
        let hkdf = Hkdf::<Sha256>::new(Some(EXTRACT_SALT), &secret.0);
        let direction_key = |direction: Direction| {
            let (key, salt) = expand(&hkdf, key_id, direction);
            DirectionKey {
                cipher: Aes256Gcm::new(&Key::<Aes256Gcm>::from(key)),
                salt,
            }
        };
        SessionKeys {
            key_id,
            node_to_relay: direction_key(Direction::NodeToRelay),
            relay_to_node: direction_key(Direction::RelayToNode),
        }
    }

    /// The relay's id for the secret these keys came from.
    pub const fn key_id(&self) -> KeyId {
        self.key_id
    }

    pub(crate) const fn direction(&self, direction: Direction) -> &DirectionKey {
        match direction {
            Direction::NodeToRelay => &self.node_to_relay,
            Direction::RelayToNode => &self.relay_to_node,
        }
    }
}

impl fmt::Debug for SessionKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionKeys")
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

/// HKDF-Expand for one direction: `(key, salt)`.
fn expand(
    hkdf: &Hkdf<Sha256>,
    key_id: KeyId,
    direction: Direction,
) -> ([u8; KEY_LEN], [u8; SALT_LEN]) {
    let (key_label, salt_label) = direction.labels();
    let mut key = [0u8; KEY_LEN];
    let mut salt = [0u8; SALT_LEN];
    // RFC 5869 allows up to 255 * 32 bytes of output; we ask for 32 and 4.
    hkdf.expand_multi_info(&[key_label, &[key_id.0]], &mut key)
        .expect("32 bytes is within HKDF-SHA256's 8160-byte output limit");
    hkdf.expand_multi_info(&[salt_label, &[key_id.0]], &mut salt)
        .expect("4 bytes is within HKDF-SHA256's 8160-byte output limit");
    (key, salt)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// The secret used by the known-answer tests: bytes 0x00, 0x01, …, 0x1f.
    pub(crate) fn kat_secret() -> Secret {
        let mut bytes = [0u8; SECRET_LEN];
        for (i, b) in bytes.iter_mut().enumerate() {
            *b = i as u8;
        }
        Secret::from_bytes(bytes)
    }

    fn hex<const N: usize>(s: &str) -> [u8; N] {
        let mut out = [0u8; N];
        assert_eq!(s.len(), 2 * N, "fixture length");
        for (i, b) in out.iter_mut().enumerate() {
            *b = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).expect("fixture is hex");
        }
        out
    }

    /// Known answer for secret = 00 01 … 1f, key_id = 7. Cross-checked
    /// against Python `cryptography`'s HKDF (SHA-256) when first pinned.
    #[test]
    fn key_schedule_known_answer() {
        let secret = kat_secret();
        let hkdf = Hkdf::<Sha256>::new(Some(EXTRACT_SALT), &secret.0);

        let (key, salt) = expand(&hkdf, KeyId(7), Direction::NodeToRelay);
        assert_eq!(key, hex::<32>(N2R_KEY));
        assert_eq!(salt, hex::<4>(N2R_SALT));

        let (key, salt) = expand(&hkdf, KeyId(7), Direction::RelayToNode);
        assert_eq!(key, hex::<32>(R2N_KEY));
        assert_eq!(salt, hex::<4>(R2N_SALT));
    }

    const N2R_KEY: &str = "82d6e9b045aa6503cf59186e74255d723fade214cdc47c9032da7e3f635e7bca";
    const N2R_SALT: &str = "3418edc3";
    const R2N_KEY: &str = "d9380d046f471bf71b6b7536a30bf165719bd40b5c4ea58e1fb172f24281041c";
    const R2N_SALT: &str = "21431772";

    #[test]
    fn directions_and_key_ids_derive_unrelated_material() {
        let secret = kat_secret();
        let hkdf = Hkdf::<Sha256>::new(Some(EXTRACT_SALT), &secret.0);
        let a = expand(&hkdf, KeyId(7), Direction::NodeToRelay);
        let b = expand(&hkdf, KeyId(7), Direction::RelayToNode);
        let c = expand(&hkdf, KeyId(8), Direction::NodeToRelay);
        assert_ne!(a.0, b.0);
        assert_ne!(a.1, b.1);
        assert_ne!(a.0, c.0);
        assert_ne!(a.1, c.1);
    }

    #[test]
    fn debug_output_hides_key_material() {
        extern crate std;
        use std::format;
        let keys = SessionKeys::derive(&kat_secret(), KeyId(7));
        let shown = format!(
            "{keys:?} {:?} {:?}",
            kat_secret(),
            keys.direction(Direction::NodeToRelay)
        );
        assert_eq!(
            shown,
            "SessionKeys { key_id: KeyId(7), .. } Secret(..) DirectionKey(..)"
        );
    }
}
