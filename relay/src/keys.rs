//! Key issuance: every `welcome` and `rekey` carries a fresh 32-byte secret
//! from the operating system's CSPRNG, under the session's next key id.
//!
//! Nodes never persist their packet counters, so a secret is never reused:
//! a node that restarts registers again and is issued a new one.

use echostream_core::wire::KeyId;

/// Bytes in a relay-issued secret.
pub const SECRET_LEN: usize = 32;

/// A secret as issued, with its id.
#[derive(Clone, PartialEq, Eq)]
pub struct IssuedKey {
    /// The id datagrams under this secret carry.
    pub key_id: KeyId,
    /// The secret both sides derive their keys from.
    pub secret: [u8; SECRET_LEN],
}

impl core::fmt::Debug for IssuedKey {
    // Never print a secret, not even in a debug log.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("IssuedKey")
            .field("key_id", &self.key_id)
            .field("secret", &"<redacted>")
            .finish()
    }
}

impl IssuedKey {
    /// The secret as the base64 text the signaling messages carry.
    pub fn secret_base64(&self) -> String {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(self.secret)
    }
}

/// Why no key could be issued.
#[derive(Debug)]
pub struct IssueError(getrandom::Error);

impl core::fmt::Display for IssueError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "the operating system's random source failed: {}", self.0)
    }
}

impl std::error::Error for IssueError {}

/// Issues one session's keys, each under the next key id.
///
/// Key ids wrap after 255; a receiver keeps at most the current and the
/// previous key, so ids only need to differ from their neighbour.
#[derive(Debug, Default)]
pub struct KeyIssuer {
    next_key_id: u8,
}

impl KeyIssuer {
    /// An issuer whose first key has id 0.
    pub fn new() -> KeyIssuer {
        KeyIssuer::default()
    }

    /// A fresh secret under the next key id.
    ///
    /// # Errors
    /// When the operating system's random source fails; the caller must not
    /// fall back to anything weaker.
    pub fn issue(&mut self) -> Result<IssuedKey, IssueError> {
        let mut secret = [0u8; SECRET_LEN];
        getrandom::fill(&mut secret).map_err(IssueError)?;
        let key_id = KeyId(self.next_key_id);
        self.next_key_id = self.next_key_id.wrapping_add(1);
        Ok(IssuedKey { key_id, secret })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_is_fresh_and_ids_advance() {
        let mut issuer = KeyIssuer::new();
        let a = issuer.issue().unwrap();
        let b = issuer.issue().unwrap();
        assert_eq!(a.key_id, KeyId(0));
        assert_eq!(b.key_id, KeyId(1));
        assert_ne!(a.secret, b.secret);
        assert_ne!(a.secret, [0u8; SECRET_LEN]);
        assert_eq!(a.secret_base64().len(), 44);
    }

    #[test]
    fn key_ids_differ_from_their_neighbour_across_the_wrap() {
        let mut issuer = KeyIssuer::new();
        let mut previous = issuer.issue().unwrap().key_id;
        for _ in 0..600 {
            let next = issuer.issue().unwrap().key_id;
            assert_ne!(next, previous);
            previous = next;
        }
    }

    #[test]
    fn debug_output_never_shows_the_secret() {
        let key = KeyIssuer::new().issue().unwrap();
        let text = format!("{key:?}");
        assert!(text.contains("redacted"));
        assert!(!text.contains(&key.secret_base64()));
        assert!(!text.contains(&format!("{:?}", key.secret)));
    }
}
