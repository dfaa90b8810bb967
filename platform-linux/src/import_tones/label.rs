//! A tone set's `tone_id`: its description (else its section name) as a
//! label the signaling accepts, unique among the imported definitions.

use std::collections::HashSet;

use echostream_core::wire::signal::MAX_ID_LEN;

use super::ini::Section;

/// Appended to the `tone_id` of a set's long tone when the set also has a
/// two-tone page.
pub const LONG_SUFFIX: &str = " long";

/// The set's name as written (its description, else the section name) and
/// as a valid label.
pub(super) fn base_label(section: &Section) -> (String, String) {
    let original = section
        .entry("description")
        .map(|e| e.value.replace('\n', " "))
        .filter(|d| !d.trim().is_empty())
        .unwrap_or_else(|| section.name.clone());
    let mut label = to_label(&original);
    if label.is_empty() {
        label = to_label(&section.name);
    }
    if label.is_empty() {
        label = format!("Tone set {}", section.line);
    }
    (original, label)
}

/// `text` within the signaling label rules: printable ASCII, a letter or
/// digit first, no `"`, `\` or `/`, no trailing space, at most
/// [`MAX_ID_LEN`] bytes. Slashes become `-`, double quotes `'`, runs of
/// white space one space; other characters are dropped.
pub fn to_label(text: &str) -> String {
    let mut out = String::new();
    let mut space = false;
    for c in text.chars() {
        let c = match c {
            '/' | '\\' => '-',
            '"' => '\'',
            c if c.is_whitespace() => ' ',
            c => c,
        };
        if !(' '..='~').contains(&c) {
            continue;
        }
        if c == ' ' {
            space = !out.is_empty();
            continue;
        }
        if out.is_empty() && !c.is_ascii_alphanumeric() {
            continue;
        }
        if space {
            out.push(' ');
            space = false;
        }
        out.push(c);
    }
    truncate(&out, MAX_ID_LEN)
}

/// The first `max_len` bytes of an ASCII label, without trailing spaces.
fn truncate(label: &str, max_len: usize) -> String {
    debug_assert!(label.is_ascii(), "labels are ASCII by construction");
    label[..label.len().min(max_len)].trim_end().to_owned()
}

/// `base` with `suffix`, `base` shortened to keep the whole within a label.
pub(super) fn with_suffix(base: &str, suffix: &str) -> String {
    format!("{}{suffix}", truncate(base, MAX_ID_LEN - suffix.len()))
}

/// `wanted`, or `wanted 2`, `wanted 3`, … : the first not in `used`, which
/// it is added to.
pub(super) fn unique(wanted: &str, used: &mut HashSet<String>) -> String {
    if used.insert(wanted.to_owned()) {
        return wanted.to_owned();
    }
    // Each of the `used.len()` labels blocks one number at most, so one of
    // these is free.
    for n in 2..=used.len() + 2 {
        let candidate = with_suffix(wanted, &format!(" {n}"));
        if used.insert(candidate.clone()) {
            return candidate;
        }
    }
    unreachable!(
        "{} labels cannot block {} numbers",
        used.len(),
        used.len() + 1
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_follow_the_signaling_rules() {
        assert_eq!(to_label("  Fire/EMS \"North\"  "), "Fire-EMS 'North'");
        assert_eq!(to_label("#12 Station\tOne"), "12 Station One");
        assert_eq!(to_label("Pompiers Saint-Lô"), "Pompiers Saint-L");
        assert_eq!(to_label("***"), "");
        let long = to_label(&"Engine ".repeat(20));
        assert!(long.len() <= MAX_ID_LEN && !long.ends_with(' '), "{long:?}");
        for label in ["Fire-EMS 'North'", "12 Station One", long.as_str()] {
            assert!(
                echostream_core::wire::signal::ToneId::new(label).is_ok(),
                "{label:?}"
            );
        }
    }

    #[test]
    fn a_taken_label_gets_the_first_free_number_within_the_length_limit() {
        let mut used = HashSet::new();
        assert_eq!(unique("Engine 4", &mut used), "Engine 4");
        assert_eq!(unique("Engine 4", &mut used), "Engine 4 2");
        assert_eq!(unique("Engine 4", &mut used), "Engine 4 3");
        let long = "E".repeat(MAX_ID_LEN);
        assert_eq!(unique(&long, &mut used), long);
        let second = unique(&long, &mut used);
        assert_eq!(second.len(), MAX_ID_LEN);
        assert!(second.ends_with("E 2"), "{second}");
    }
}
