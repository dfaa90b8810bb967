//! Object keys and metadata values: pure text, no I/O.
//!
//! A key is fixed by the recording alone, so an upload repeated after a
//! crash or a lost answer writes the same object with the same bytes.

use std::time::SystemTime;

use crate::logger::rfc3339_ms;
use crate::recording::Format;

/// Longest object key S3 takes, in bytes (AWS "Naming Amazon S3 objects").
pub const KEY_LEN_MAX: usize = 1_024;

/// Longest piece of a key taken from a node id, channel or recording id;
/// the rest is cut so that a key never passes [`KEY_LEN_MAX`].
const PIECE_LEN_MAX: usize = 200;

/// Longest metadata value sent; AWS allows 2 KiB for all user metadata.
const META_VALUE_LEN_MAX: usize = 256;

const _: () = assert!(4 * PIECE_LEN_MAX + "/YYYY-MM-DD/.opus".len() < KEY_LEN_MAX);

/// The object key of a recording:
/// `{prefix}{node_id}/{channel}/{YYYY-MM-DD}/{recording_id}.{ext}`, the
/// date in UTC from `time` (when the recording started).
///
/// Each piece keeps only `A-Z a-z 0-9 . _ -` (anything else becomes `_`),
/// is at most 200 bytes, and is never empty, `.` or `..`, so no piece can
/// climb out of its folder or need URL escaping. The prefix keeps its
/// folders (`station-12/`) but loses a leading `/`, empty, `.` and `..`
/// segments; it is prepended as it is, so it normally ends with `/`.
pub fn object_key(
    prefix: &str,
    node_id: &str,
    channel: &str,
    time: SystemTime,
    recording_id: &str,
    format: Format,
) -> String {
    let stamp = rfc3339_ms(time);
    let date = &stamp[..stamp.find('T').expect("rfc3339_ms writes a T")];
    let key = format!(
        "{}{}/{}/{date}/{}.{}",
        clean_prefix(prefix),
        clean_piece(node_id),
        clean_piece(channel),
        clean_piece(recording_id),
        format.extension()
    );
    // A prefix is config, checked there for sense but not for length.
    if key.len() > KEY_LEN_MAX {
        let cut = key.len() - KEY_LEN_MAX;
        return key[cut..].trim_start_matches('/').to_owned();
    }
    key
}

/// The `Content-Type` of a recording file.
pub fn content_type(format: Format) -> &'static str {
    match format {
        Format::Wav => "audio/wav",
        // RFC 7845 section 9: Ogg Opus files are `audio/ogg`.
        Format::Opus => "audio/ogg",
    }
}

/// `piece` made safe as one folder or file name of a key.
fn clean_piece(piece: &str) -> String {
    let mut out: String = piece
        .chars()
        .map(|c| match c {
            'A'..='Z' | 'a'..='z' | '0'..='9' | '.' | '_' | '-' => c,
            _ => '_',
        })
        .take(PIECE_LEN_MAX)
        .collect();
    if out.is_empty() || out.chars().all(|c| c == '.') {
        out = out.replace('.', "_");
        if out.is_empty() {
            out.push('_');
        }
    }
    out
}

/// The prefix without a leading `/` nor empty, `.` or `..` segments; a
/// trailing `/` stays.
fn clean_prefix(prefix: &str) -> String {
    let mut out = String::with_capacity(prefix.len());
    let mut segments = prefix.split('/').peekable();
    while let Some(segment) = segments.next() {
        let last = segments.peek().is_none();
        if segment.is_empty() || segment == "." || segment == ".." {
            continue;
        }
        out.push_str(&clean_piece(segment));
        if !last {
            out.push('/');
        }
    }
    out
}

/// `value` as an `x-amz-meta-*` header value that signs the same on both
/// sides: printable ASCII with single spaces, trimmed (SigV4 trims values
/// but rust-s3 does not collapse inner spaces, so `a  b` would fail the
/// signature); other bytes are percent-encoded (UTF-8), and so is `%`.
pub fn meta_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut space = false;
    for c in value.trim().chars() {
        if c.is_whitespace() {
            space = true;
            continue;
        }
        if space {
            out.push(' ');
            space = false;
        }
        if c.is_ascii_graphic() && c != '%' {
            out.push(c);
        } else {
            let mut utf8 = [0u8; 4];
            for byte in c.encode_utf8(&mut utf8).bytes() {
                out.push_str(&format!("%{byte:02X}"));
            }
        }
        if out.len() >= META_VALUE_LEN_MAX {
            break;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;

    /// 2026-11-24T23:59:59Z.
    fn late_evening() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(20_781 * 86_400 + 86_399)
    }

    #[test]
    fn key_has_node_channel_utc_date_and_id() {
        let key = object_key(
            "station-12/",
            "engine-7",
            "fire.dispatch",
            late_evening(),
            "20261124T235959Z-3",
            Format::Wav,
        );
        assert_eq!(
            key,
            "station-12/engine-7/fire.dispatch/2026-11-24/20261124T235959Z-3.wav"
        );
    }

    #[test]
    fn same_recording_same_key() {
        let make = || object_key("", "n", "c", late_evening(), "r1", Format::Opus);
        assert_eq!(make(), make());
        assert_eq!(make(), "n/c/2026-11-24/r1.opus");
    }

    #[test]
    fn pieces_cannot_climb_or_nest() {
        let key = object_key(
            "/../a/./b//",
            "..",
            "../x",
            late_evening(),
            "/etc/passwd",
            Format::Wav,
        );
        assert_eq!(key, "a/b/__/.._x/2026-11-24/_etc_passwd.wav");
        assert!(!key.starts_with('/'));
        assert!(
            key.split('/')
                .all(|segment| segment != ".." && segment != ".")
        );
    }

    #[test]
    fn odd_characters_become_underscores() {
        let key = object_key("p/", "nöde 1", "", late_evening(), "a?b#c", Format::Wav);
        assert_eq!(key, "p/n_de_1/_/2026-11-24/a_b_c.wav");
    }

    #[test]
    fn prefix_without_slash_is_prepended_as_is() {
        let key = object_key("rec-", "n", "c", late_evening(), "r", Format::Wav);
        assert_eq!(key, "rec-n/c/2026-11-24/r.wav");
    }

    #[test]
    fn long_pieces_keep_the_key_under_the_limit() {
        let long = "x".repeat(5_000);
        let key = object_key(&long, &long, &long, late_evening(), &long, Format::Opus);
        assert!(key.len() <= KEY_LEN_MAX, "{}", key.len());
        assert!(key.ends_with(".opus"));
        assert!(!key.starts_with('/'));
    }

    #[test]
    fn content_types() {
        assert_eq!(content_type(Format::Wav), "audio/wav");
        assert_eq!(content_type(Format::Opus), "audio/ogg");
    }

    #[test]
    fn meta_values_are_signable_ascii() {
        assert_eq!(meta_value("  two   tone\tA "), "two tone A");
        assert_eq!(meta_value("Zürich 100%"), "Z%C3%BCrich 100%25");
        assert_eq!(meta_value("a\r\nb"), "a b");
        assert!(meta_value(&"é".repeat(1_000)).len() <= META_VALUE_LEN_MAX + 12);
    }
}
