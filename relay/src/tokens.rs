//! The tokens file: which `hello.token`s open a session, for which node,
//! on which channels.
//!
//! One token per line, as its SHA-256 digest and what it allows:
//!
//! ```text
//! # station-a: pages and the county fire channel
//! sha256:4f1c…(64 hex)… node=station-a listen=county-fire,pages-* talk=county-fire
//! sha256:9a0b…(64 hex)… node=engine-* sessions=6 listen=* talk=fireground channels=12
//! ```
//!
//! - `node=` the node id the token may say `hello` as (required); with a
//!   `*` (any run of characters) a set of nodes, which then needs
//!   `sessions=`.
//! - `listen=` and `talk=`: comma-separated channel ids or patterns; at
//!   least one of the two. A node may `register` a channel it may listen
//!   to or talk on; it hears the channel only with `listen`, and its audio
//!   and pages go out only with `talk`.
//! - `sessions=N`: sessions open at once with the token (default 1; a
//!   node that reconnects replaces its own session).
//! - `channels=N`: channel memberships held at once by all of them
//!   (default 8 per session, the most a node has).
//!
//! Blank lines, `#` comments, and anything after a `#` field are ignored.
//! The file holds no token, only digests: `echostream-relay token new`
//! makes a token and its line. A line holding a bare token (the format
//! before node binding) still works, for any node on every channel with no
//! limit of its own, and is reported so it can be replaced. Tokens under
//! 128 bits (22 base64 characters) are refused.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use echostream_core::wire::signal::Token;

use crate::engine::STREAMS_PER_SESSION_MAX;
use crate::engine::grants::{Grant, Pattern, TokenDigest, digest};

/// The shortest token accepted: 22 base64 characters carry 132 bits.
pub const TOKEN_LEN_MIN: usize = 22;

/// The most sessions one line may allow.
pub const SESSIONS_MAX: u32 = 4096;

/// The most channel memberships one line may allow.
pub const CHANNELS_MAX: u32 = 65_536;

/// The longest node or channel pattern.
const PATTERN_LEN_MAX: usize = 128;

/// A tokens file as read.
#[derive(Debug, Clone)]
pub struct TokensFile {
    /// One grant per token, in file order.
    pub grants: Vec<Arc<Grant>>,
    /// What the operator should fix, though the file was accepted: bare
    /// tokens, a file others can read. One line each, naming the file.
    pub warnings: Vec<String>,
}

/// Reads the tokens file at `path`. With `strict`, a file readable or
/// writable by group or others is refused; without, it is a warning.
///
/// # Errors
/// The file cannot be read, a line is not valid, a token is weak or
/// listed twice, or the file holds no token; the error names the file and
/// the line.
pub fn load_tokens(path: &Path, strict: bool) -> Result<TokensFile, TokenFileError> {
    let error = |problem| TokenFileError {
        path: path.to_owned(),
        problem,
    };
    let text =
        std::fs::read_to_string(path).map_err(|e| error(Problem::Unreadable(e.to_string())))?;
    let mut file = parse_tokens(&text, &path.display().to_string()).map_err(error)?;
    if let Some(mode) = loose_mode(path) {
        if strict {
            return Err(error(Problem::Loose { mode }));
        }
        file.warnings
            .push(error(Problem::Loose { mode }).to_string());
    }
    Ok(file)
}

/// The file's permission bits when group or others may read or write it.
fn loose_mode(path: &Path) -> Option<u32> {
    use std::os::unix::fs::PermissionsExt as _;
    let mode = std::fs::metadata(path).ok()?.permissions().mode() & 0o777;
    (mode & 0o066 != 0).then_some(mode)
}

fn parse_tokens(text: &str, name: &str) -> Result<TokensFile, Problem> {
    let mut grants: Vec<Arc<Grant>> = Vec::new();
    let mut lines_of: Vec<usize> = Vec::new();
    let mut bare = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let number = index + 1;
        let fields: Vec<&str> = line
            .split_whitespace()
            .take_while(|f| !f.starts_with('#'))
            .collect();
        let Some(&first) = fields.first() else {
            continue;
        };
        let source = format!("{name} line {number}");
        let grant = if first.starts_with("sha256:") {
            parse_line(&fields, source).map_err(|what| Problem::Line { line: number, what })?
        } else if fields.len() == 1 {
            bare.push(number);
            parse_bare(first, source).map_err(|what| Problem::Line { line: number, what })?
        } else {
            return Err(Problem::Line {
                line: number,
                what: What::Shape,
            });
        };
        if let Some(i) = grants.iter().position(|g| g.digest == grant.digest) {
            return Err(Problem::Duplicate {
                line: number,
                first: lines_of[i],
            });
        }
        grants.push(Arc::new(grant));
        lines_of.push(number);
    }
    if grants.is_empty() {
        return Err(Problem::Empty {
            lines: text.lines().count(),
        });
    }
    let warnings = if bare.is_empty() {
        Vec::new()
    } else {
        let lines: Vec<String> = bare.iter().map(ToString::to_string).collect();
        vec![format!(
            "tokens file {name} line(s) {}: a bare token (the old format) opens a session \
             as any node, on every channel, with no limit of its own; replace each with a \
             line from `echostream-relay token new --node ID --listen CHANNELS --talk CHANNELS`",
            lines.join(", ")
        )]
    };
    Ok(TokensFile { grants, warnings })
}

fn parse_bare(token: &str, source: String) -> Result<Grant, What> {
    if Token::new(token).is_err() {
        return Err(What::BadToken);
    }
    if token.len() < TOKEN_LEN_MIN {
        return Err(What::WeakToken { len: token.len() });
    }
    Ok(Grant::unbound(token, source))
}

fn parse_line(fields: &[&str], source: String) -> Result<Grant, What> {
    let hex = fields[0]
        .strip_prefix("sha256:")
        .expect("checked by the caller");
    let digest = parse_digest(hex).ok_or(What::BadDigest)?;
    let mut node = None;
    let mut listen = None;
    let mut talk = None;
    let mut sessions = None;
    let mut channels = None;
    for field in &fields[1..] {
        let Some((key, value)) = field.split_once('=') else {
            return Err(What::NotKeyValue((*field).to_owned()));
        };
        let repeated = match key {
            "node" => node.replace(parse_pattern(key, value)?).is_some(),
            "listen" => listen.replace(parse_patterns(key, value)?).is_some(),
            "talk" => talk.replace(parse_patterns(key, value)?).is_some(),
            "sessions" => sessions
                .replace(parse_count(key, value, SESSIONS_MAX)?)
                .is_some(),
            "channels" => channels
                .replace(parse_count(key, value, CHANNELS_MAX)?)
                .is_some(),
            _ => return Err(What::UnknownKey(key.to_owned())),
        };
        if repeated {
            return Err(What::Repeated(key.to_owned()));
        }
    }
    let node: Pattern = node.ok_or(What::NoNode)?;
    if listen.is_none() && talk.is_none() {
        return Err(What::NoChannels);
    }
    if node.is_wildcard() && sessions.is_none() {
        return Err(What::WildcardNeedsSessions);
    }
    let sessions_max = sessions.unwrap_or(1);
    let per_session = u32::try_from(STREAMS_PER_SESSION_MAX).expect("a small constant");
    Ok(Grant {
        digest,
        node,
        listen: listen.unwrap_or_default(),
        talk: talk.unwrap_or_default(),
        sessions_max: Some(sessions_max),
        channels_max: Some(channels.unwrap_or(sessions_max.saturating_mul(per_session))),
        source,
    })
}

fn parse_digest(hex: &str) -> Option<TokenDigest> {
    if hex.len() != 64 {
        return None;
    }
    let mut digest = [0u8; 32];
    for (i, byte) in digest.iter_mut().enumerate() {
        *byte = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(digest)
}

/// A node or channel pattern: id characters (letters, digits, `-`, `_`,
/// `.`) and `*`.
fn parse_pattern(key: &str, value: &str) -> Result<Pattern, What> {
    let valid = !value.is_empty()
        && value.len() <= PATTERN_LEN_MAX
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'*'));
    if valid {
        Ok(Pattern::new(value))
    } else {
        Err(What::BadPattern {
            key: key.to_owned(),
            value: value.to_owned(),
        })
    }
}

fn parse_patterns(key: &str, value: &str) -> Result<Vec<Pattern>, What> {
    value.split(',').map(|v| parse_pattern(key, v)).collect()
}

fn parse_count(key: &str, value: &str, max: u32) -> Result<u32, What> {
    value
        .parse::<u32>()
        .ok()
        .filter(|n| (1..=max).contains(n))
        .ok_or_else(|| What::BadCount {
            key: key.to_owned(),
            max,
        })
}

/// A fresh token: 32 random bytes (256 bits) in unpadded base64url, 43
/// characters.
///
/// # Errors
/// The operating system's random source failed.
pub fn new_token() -> Result<String, getrandom::Error> {
    use base64::Engine as _;
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

/// The tokens file line for `token`: its digest and rights. Patterns are
/// checked as the reader checks them.
///
/// # Errors
/// A node or channel pattern, or a count, the reader would refuse (named).
pub fn token_line(
    token: &str,
    node: &str,
    listen: &[String],
    talk: &[String],
    sessions: Option<u32>,
    channels: Option<u32>,
) -> Result<String, String> {
    use std::fmt::Write as _;
    parse_pattern("node", node).map_err(|what| what.to_string())?;
    for (key, patterns) in [("listen", listen), ("talk", talk)] {
        for pattern in patterns {
            parse_pattern(key, pattern).map_err(|what| what.to_string())?;
        }
    }
    let mut line = String::from("sha256:");
    for b in digest(token) {
        write!(line, "{b:02x}").expect("writing to a String");
    }
    write!(line, " node={node}").expect("writing to a String");
    if !listen.is_empty() {
        write!(line, " listen={}", listen.join(",")).expect("writing to a String");
    }
    if !talk.is_empty() {
        write!(line, " talk={}", talk.join(",")).expect("writing to a String");
    }
    if let Some(n) = sessions {
        write!(line, " sessions={n}").expect("writing to a String");
    }
    if let Some(n) = channels {
        write!(line, " channels={n}").expect("writing to a String");
    }
    let fields: Vec<&str> = line.split_whitespace().collect();
    parse_line(&fields, String::new()).map_err(|what| what.to_string())?;
    Ok(line)
}

/// Why a tokens file was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenFileError {
    /// The file.
    pub path: PathBuf,
    problem: Problem,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Problem {
    Unreadable(String),
    Line { line: usize, what: What },
    Duplicate { line: usize, first: usize },
    Empty { lines: usize },
    Loose { mode: u32 },
}

/// What is wrong with one line.
#[derive(Debug, Clone, PartialEq, Eq)]
enum What {
    Shape,
    BadToken,
    WeakToken { len: usize },
    BadDigest,
    NotKeyValue(String),
    UnknownKey(String),
    Repeated(String),
    BadPattern { key: String, value: String },
    BadCount { key: String, max: u32 },
    NoNode,
    NoChannels,
    WildcardNeedsSessions,
}

impl fmt::Display for What {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            What::Shape => f.write_str(
                "expected `sha256:DIGEST node=ID listen=CHANNELS talk=CHANNELS` \
                 (or a bare token alone on its line)",
            ),
            What::BadToken => f.write_str(
                "not a valid token (1 to 1024 of A-Z a-z 0-9 - . _ ~ + /, then optional \
                 '=' padding)",
            ),
            What::WeakToken { len } => write!(
                f,
                "token too short to be safe ({len} characters; at least {TOKEN_LEN_MIN}, \
                 128 bits): make one with `echostream-relay token new`"
            ),
            What::BadDigest => f.write_str("sha256: must be followed by 64 hex digits"),
            What::NotKeyValue(field) => write!(f, "`{field}` is not KEY=VALUE"),
            What::UnknownKey(key) => write!(
                f,
                "unknown key `{key}` (node, listen, talk, sessions, channels)"
            ),
            What::Repeated(key) => write!(f, "`{key}=` is given twice"),
            What::BadPattern { key, value } => write!(
                f,
                "{key}={value}: ids are 1 to {PATTERN_LEN_MAX} of A-Z a-z 0-9 - _ . with * \
                 for any run of characters, comma-separated for listen and talk"
            ),
            What::BadCount { key, max } => write!(f, "{key}= must be 1 to {max}"),
            What::NoNode => f.write_str("no node= (the node id this token is for)"),
            What::NoChannels => {
                f.write_str("no listen= or talk= (the channels this token may use)")
            }
            What::WildcardNeedsSessions => f.write_str(
                "a node= pattern with * needs sessions=N (how many of those nodes at once)",
            ),
        }
    }
}

impl TokenFileError {
    /// The 1-based line at fault, if one is.
    pub fn line(&self) -> Option<usize> {
        match self.problem {
            Problem::Line { line, .. } | Problem::Duplicate { line, .. } => Some(line),
            Problem::Unreadable(_) | Problem::Empty { .. } | Problem::Loose { .. } => None,
        }
    }
}

impl fmt::Display for TokenFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = self.path.display();
        match &self.problem {
            Problem::Unreadable(error) => write!(f, "tokens file {path}: cannot read it: {error}"),
            Problem::Line { line, what } => write!(f, "tokens file {path} line {line}: {what}"),
            Problem::Duplicate { line, first } => write!(
                f,
                "tokens file {path} line {line}: the same token as line {first} \
                 (one line per token)"
            ),
            Problem::Empty { lines } => write!(
                f,
                "tokens file {path}: no token in its {lines} line(s) (one token per line; \
                 blank lines and # comments are ignored; `echostream-relay token new` \
                 makes one)"
            ),
            Problem::Loose { mode } => write!(
                f,
                "tokens file {path}: group or others may read or write it (mode {mode:03o}); \
                 run `chmod 600 {path}`"
            ),
        }
    }
}

impl std::error::Error for TokenFileError {}

#[cfg(test)]
mod tests {
    use super::*;

    const STRONG: &str = "strong-token-0123456789abcdef";

    fn line_for(token: &str, rest: &str) -> String {
        let mut hex = String::new();
        for b in digest(token) {
            hex.push_str(&format!("{b:02x}"));
        }
        format!("sha256:{hex} {rest}")
    }

    fn parse(text: &str) -> Result<TokensFile, Problem> {
        parse_tokens(text, "tokens")
    }

    #[test]
    fn a_line_binds_a_token_to_a_node_and_channels() {
        let text = format!(
            "# station a\n\n{}  # its radio\n",
            line_for(STRONG, "node=station-a listen=fire,pages-* talk=fire")
        );
        let file = parse(&text).unwrap();
        assert!(file.warnings.is_empty());
        let grant = &file.grants[0];
        assert_eq!(grant.digest, digest(STRONG));
        assert!(grant.node.matches("station-a") && !grant.node.matches("station-b"));
        assert!(grant.may_listen("pages-north") && grant.may_listen("fire"));
        assert!(grant.may_talk("fire") && !grant.may_talk("pages-north"));
        assert_eq!(grant.sessions_max, Some(1));
        assert_eq!(grant.channels_max, Some(8));
        assert_eq!(grant.source, "tokens line 3");
    }

    #[test]
    fn limits_are_read_and_a_node_pattern_needs_sessions() {
        let file = parse(&line_for(
            STRONG,
            "node=engine-* sessions=6 channels=12 listen=*",
        ))
        .unwrap();
        assert_eq!(file.grants[0].sessions_max, Some(6));
        assert_eq!(file.grants[0].channels_max, Some(12));
        assert!(file.grants[0].talk.is_empty());
        let problem = parse(&line_for(STRONG, "node=engine-* listen=*")).unwrap_err();
        assert_eq!(
            problem,
            Problem::Line {
                line: 1,
                what: What::WildcardNeedsSessions
            }
        );
    }

    #[test]
    fn bad_lines_are_named_with_what_is_wrong() {
        let cases = [
            ("sha256:abc node=a talk=b", What::BadDigest),
            (&line_for(STRONG, "listen=b") as &str, What::NoNode),
            (&line_for(STRONG, "node=a"), What::NoChannels),
            (
                &line_for(STRONG, "node=a talk=b mood=calm"),
                What::UnknownKey("mood".into()),
            ),
            (
                &line_for(STRONG, "node=a talk=b talk=c"),
                What::Repeated("talk".into()),
            ),
            (
                &line_for(STRONG, "node=a talk=b sessions=0"),
                What::BadCount {
                    key: "sessions".into(),
                    max: SESSIONS_MAX,
                },
            ),
            (
                &line_for(STRONG, "node=a talk=b,"),
                What::BadPattern {
                    key: "talk".into(),
                    value: String::new(),
                },
            ),
            (
                &line_for(STRONG, "node=a/b talk=b"),
                What::BadPattern {
                    key: "node".into(),
                    value: "a/b".into(),
                },
            ),
            (
                &line_for(STRONG, "node=a talk"),
                What::NotKeyValue("talk".into()),
            ),
            ("two bare-tokens", What::Shape),
            ("short-token", What::WeakToken { len: 11 }),
            ("\"quoted-token-xxxxxxxxxxxxxx\"", What::BadToken),
        ];
        for (line, what) in cases {
            let text = format!("# header\n{line}\n");
            assert_eq!(
                parse(&text).unwrap_err(),
                Problem::Line { line: 2, what },
                "{line}"
            );
        }
    }

    #[test]
    fn bare_tokens_still_work_and_are_reported() {
        let text = format!(
            "{STRONG}\n{}\nanother-strong-token-xyz==\n",
            line_for("second-strong-token-abcdefgh", "node=b talk=c")
        );
        let file = parse(&text).unwrap();
        assert_eq!(file.grants.len(), 3);
        assert!(file.grants[0].node.matches("anything"));
        assert!(file.grants[0].may_talk("any-channel"));
        assert_eq!(file.grants[0].sessions_max, None);
        assert_eq!(file.warnings.len(), 1);
        assert!(
            file.warnings[0].contains("line(s) 1, 3"),
            "{:?}",
            file.warnings
        );
        assert!(
            file.warnings[0].contains("token new"),
            "{:?}",
            file.warnings
        );
    }

    #[test]
    fn a_token_listed_twice_is_refused() {
        let text = format!("{STRONG}\n{}\n", line_for(STRONG, "node=a talk=b"));
        assert_eq!(
            parse(&text).unwrap_err(),
            Problem::Duplicate { line: 2, first: 1 }
        );
    }

    #[test]
    fn a_file_without_tokens_is_refused() {
        assert_eq!(
            parse("# nothing\n\n").unwrap_err(),
            Problem::Empty { lines: 2 }
        );
        assert_eq!(parse("").unwrap_err(), Problem::Empty { lines: 0 });
    }

    #[test]
    fn new_tokens_are_strong_and_their_lines_read_back() {
        let token = new_token().unwrap();
        assert_eq!(token.len(), 43);
        assert_ne!(token, new_token().unwrap());
        assert!(Token::new(&token).is_ok());
        let line = token_line(
            &token,
            "station-a",
            &["fire".into(), "pages-*".into()],
            &["fire".into()],
            None,
            None,
        )
        .unwrap();
        let file = parse(&line).unwrap();
        assert_eq!(file.grants[0].digest, digest(&token));
        assert!(file.grants[0].may_listen("pages-2"));
        assert!(!line.contains(&token));
        let bad = token_line(&token, "a b", &[], &["x".into()], None, None).unwrap_err();
        assert!(bad.contains("node=a"), "{bad}");
    }

    #[test]
    fn loose_permissions_warn_or_refuse_with_strict() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokens");
        std::fs::write(&path, format!("{}\n", line_for(STRONG, "node=a talk=b"))).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let file = load_tokens(&path, false).unwrap();
        assert!(file.warnings[0].contains("mode 644"), "{:?}", file.warnings);
        assert!(
            file.warnings[0].contains("chmod 600"),
            "{:?}",
            file.warnings
        );
        let error = load_tokens(&path, true).unwrap_err();
        assert!(error.to_string().contains("mode 644"), "{error}");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert!(load_tokens(&path, true).unwrap().warnings.is_empty());
    }

    #[test]
    fn errors_name_the_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokens.txt");
        std::fs::write(&path, "# ok\n\"quoted\"\n").unwrap();
        let error = load_tokens(&path, false).unwrap_err();
        assert_eq!(error.line(), Some(2));
        let text = error.to_string();
        assert!(text.contains("tokens.txt line 2"), "{text}");
        let missing = load_tokens(&dir.path().join("missing"), false).unwrap_err();
        assert!(missing.to_string().contains("missing: cannot read it"));
    }
}
