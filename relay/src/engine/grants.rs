//! What a token lets its holder do: be one node (or a named set of
//! nodes), listen to and talk on some channels, and hold at most so many
//! sessions and channel memberships.
//!
//! Tokens are never kept: a [`Grant`] holds the SHA-256 digest of its
//! token, and [`find`] compares a presented token's digest with every
//! grant's in full, so neither a token's length nor where it first
//! differs shows in the time `hello` takes. Logs name a token by its
//! [`Fingerprint`]: the first four bytes of the digest, which say which
//! line of the tokens file was used and nothing about the token.

use std::fmt;
use std::sync::Arc;

use sha2::{Digest, Sha256};

/// The SHA-256 digest of a token.
pub type TokenDigest = [u8; 32];

/// The digest a token is stored and looked up by.
pub fn digest(token: &str) -> TokenDigest {
    Sha256::digest(token.as_bytes()).into()
}

/// A pattern for node and channel ids: `*` matches any run of characters
/// (none included), everything else itself. Ids cannot hold `*`, so a
/// pattern without one names exactly one id.
#[derive(Clone, PartialEq, Eq)]
pub struct Pattern(String);

impl Pattern {
    /// The pattern `text` (validated by the tokens file's reader).
    pub fn new(text: impl Into<String>) -> Pattern {
        Pattern(text.into())
    }

    /// The pattern that matches everything.
    pub fn any() -> Pattern {
        Pattern("*".to_owned())
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether the pattern has a wildcard (names more than one id).
    pub fn is_wildcard(&self) -> bool {
        self.0.contains('*')
    }

    /// Whether `text` matches: the pieces between `*`s appear in order,
    /// the first at the start and the last at the end (unless the pattern
    /// starts or ends with `*`). Linear in the lengths: each piece is
    /// found at its leftmost place, which never loses a match.
    pub fn matches(&self, text: &str) -> bool {
        let mut pieces = self.0.split('*');
        let first = pieces.next().unwrap_or("");
        let Some(mut rest) = text.strip_prefix(first) else {
            return false;
        };
        let Some(last) = pieces.next_back() else {
            // No `*`: the whole text must be the pattern.
            return rest.is_empty();
        };
        for piece in pieces {
            match rest.find(piece) {
                Some(at) => rest = &rest[at + piece.len()..],
                None => return false,
            }
        }
        rest.len() >= last.len() && rest.ends_with(last)
    }
}

impl fmt::Debug for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.0)
    }
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Whether any of `patterns` matches `text`.
pub fn any_matches(patterns: &[Pattern], text: &str) -> bool {
    patterns.iter().any(|p| p.matches(text))
}

/// A short, stable name for a token in logs: the first 4 bytes of its
/// digest in hex.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Fingerprint([u8; 4]);

impl Fingerprint {
    /// The fingerprint of the token with `digest`.
    pub fn of(digest: &TokenDigest) -> Fingerprint {
        Fingerprint([digest[0], digest[1], digest[2], digest[3]])
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// One token's rights.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// The token's SHA-256 digest.
    pub digest: TokenDigest,
    /// The node ids the token may say `hello` as.
    pub node: Pattern,
    /// Channels whose audio and pages reach the token's sessions.
    pub listen: Vec<Pattern>,
    /// Channels the token's sessions may send audio and pages on.
    pub talk: Vec<Pattern>,
    /// Sessions open at once with this token; `None`: only the relay's
    /// own limit.
    pub sessions_max: Option<u32>,
    /// Channel memberships held at once by all of the token's sessions;
    /// `None`: only the relay's own limits.
    pub channels_max: Option<u32>,
    /// Where the grant was written (e.g. `tokens line 4`), for logs.
    pub source: String,
}

impl Grant {
    /// A grant for any node on every channel without limits: how a bare
    /// token of the old one-token-per-line format is read.
    pub fn unbound(token: &str, source: impl Into<String>) -> Grant {
        Grant {
            digest: digest(token),
            node: Pattern::any(),
            listen: vec![Pattern::any()],
            talk: vec![Pattern::any()],
            sessions_max: None,
            channels_max: None,
            source: source.into(),
        }
    }

    /// Whether `other` is the same token with the same node, channels
    /// and limits (wherever each was written).
    pub fn same_rights(&self, other: &Grant) -> bool {
        self.digest == other.digest
            && self.node == other.node
            && self.listen == other.listen
            && self.talk == other.talk
            && self.sessions_max == other.sessions_max
            && self.channels_max == other.channels_max
    }

    /// The token's fingerprint.
    pub fn fingerprint(&self) -> Fingerprint {
        Fingerprint::of(&self.digest)
    }

    /// Whether the token may listen to `channel_id`.
    pub fn may_listen(&self, channel_id: &str) -> bool {
        any_matches(&self.listen, channel_id)
    }

    /// Whether the token may talk on `channel_id`.
    pub fn may_talk(&self, channel_id: &str) -> bool {
        any_matches(&self.talk, channel_id)
    }
}

/// What a session may do: its token's grant, or everything (a relay
/// accepting any token, on loopback only).
#[derive(Debug, Clone)]
pub enum Rights {
    /// Any token: no binding, no limit beyond the relay's.
    Any,
    /// The session's token's grant.
    Granted(Arc<Grant>),
}

impl Rights {
    /// Whether the session may listen to `channel_id`.
    pub fn may_listen(&self, channel_id: &str) -> bool {
        match self {
            Rights::Any => true,
            Rights::Granted(grant) => grant.may_listen(channel_id),
        }
    }

    /// Whether the session may talk on `channel_id`.
    pub fn may_talk(&self, channel_id: &str) -> bool {
        match self {
            Rights::Any => true,
            Rights::Granted(grant) => grant.may_talk(channel_id),
        }
    }

    /// The grant's digest, if the session holds one.
    pub fn digest(&self) -> Option<&TokenDigest> {
        match self {
            Rights::Any => None,
            Rights::Granted(grant) => Some(&grant.digest),
        }
    }

    /// The token's fingerprint, if the session holds a grant.
    pub fn fingerprint(&self) -> Option<Fingerprint> {
        self.digest().map(Fingerprint::of)
    }
}

/// The grant whose digest is `token`'s, comparing with every grant in
/// full (no early exit, no length-dependent branch on secret bytes).
pub fn find<'g>(grants: &'g [Arc<Grant>], token: &str) -> Option<&'g Arc<Grant>> {
    let wanted = digest(token);
    let mut found = None;
    for grant in grants {
        let diff = grant
            .digest
            .iter()
            .zip(&wanted)
            .fold(0u8, |diff, (a, b)| diff | (a ^ b));
        // Digests in one file are distinct (the reader refuses
        // duplicates), so at most one grant matches.
        if diff == 0 {
            found = Some(grant);
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_like_shell_globs_with_star_only() {
        let p = |s: &str| Pattern::new(s);
        assert!(p("county-fire").matches("county-fire"));
        assert!(!p("county-fire").matches("county-fire2"));
        assert!(!p("county-fire").matches("county"));
        assert!(p("*").matches(""));
        assert!(p("*").matches("anything"));
        assert!(p("fire-*").matches("fire-"));
        assert!(p("fire-*").matches("fire-dispatch"));
        assert!(!p("fire-*").matches("ems-dispatch"));
        assert!(p("*-dispatch").matches("fire-dispatch"));
        assert!(!p("*-dispatch").matches("fire-dispatch-2"));
        assert!(p("a*b*c").matches("abc"));
        assert!(p("a*b*c").matches("a-b-b-c"));
        assert!(!p("a*b*c").matches("a-c-b"));
        assert!(!p("ab*ba").matches("aba"), "pieces must not overlap");
        assert!(p("ab*ba").matches("abba"));
        assert!(p("**").matches("x"));
    }

    #[test]
    fn find_matches_the_digest_and_nothing_else() {
        let grants = vec![
            Arc::new(Grant::unbound("first-token-aaaaaaaaaaaa", "line 1")),
            Arc::new(Grant::unbound("second-token-bbbbbbbbbbb", "line 2")),
        ];
        let found = find(&grants, "second-token-bbbbbbbbbbb").expect("found");
        assert_eq!(found.source, "line 2");
        assert!(find(&grants, "second-token-bbbbbbbbbb").is_none());
        assert!(find(&grants, "").is_none());
        assert!(find(&[], "first-token-aaaaaaaaaaaa").is_none());
    }

    #[test]
    fn fingerprints_are_the_digest_head_in_hex() {
        // SHA-256("abc") = ba7816bf 8f01cfea …
        let d = digest("abc");
        assert_eq!(Fingerprint::of(&d).to_string(), "ba7816bf");
    }

    #[test]
    fn the_same_rights_ignore_where_they_were_written() {
        let a = Grant::unbound("t", "line 1");
        let mut b = Grant::unbound("t", "line 7");
        assert!(a.same_rights(&b));
        b.talk = vec![Pattern::new("fire")];
        assert!(!a.same_rights(&b));
        assert!(!a.same_rights(&Grant::unbound("u", "line 1")));
    }

    #[test]
    fn rights_follow_the_grant() {
        let mut grant = Grant::unbound("t", "line 1");
        grant.listen = vec![Pattern::new("fire-*")];
        grant.talk = vec![Pattern::new("fire-main")];
        let rights = Rights::Granted(Arc::new(grant));
        assert!(rights.may_listen("fire-north"));
        assert!(!rights.may_talk("fire-north"));
        assert!(rights.may_talk("fire-main"));
        assert!(!rights.may_listen("ems"));
        assert!(Rights::Any.may_talk("ems"));
    }
}
