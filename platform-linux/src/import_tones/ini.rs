//! The INI dialect of TwoToneDetect's `tones.cfg`: one `[section]` per
//! tone set, `key = value` lines under it.
//!
//! Read the way Python's `configparser` reads a file with its default
//! settings, since files that TwoToneDetect loads are the ones to accept:
//! keys are case-insensitive (stored lowercased), `=` or `:` separates key
//! and value, both are trimmed, a value may be empty, whole-line comments
//! start with `#` or `;` (there are no inline comments: `atone = 349 ; x`
//! has the value `349 ; x`), a line indented deeper than its key continues
//! that key's value, and the keys of a `[DEFAULT]` section apply to every
//! set that does not set them itself. A key twice in one section, a
//! section twice, a key before any section and a line that is neither
//! comment, section nor `key = value` are errors, as they are there.
//!
//! Windows editors' byte-order mark and CRLF line ends are accepted.

use std::fmt;

/// The most sections read from one file: far more than any department has
/// tone sets, few enough that a runaway file is refused.
pub const MAX_SECTIONS: usize = 1_000;

/// `[DEFAULT]`: its keys apply to every section (case-sensitive, as in
/// `configparser`).
const DEFAULT_SECTION: &str = "DEFAULT";

/// One `key = value` line (with its continuation lines).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The key, lowercased.
    pub key: String,
    /// The value, trimmed; continuation lines joined with `\n`.
    pub value: String,
    /// 1-based line of the key.
    pub line: usize,
}

/// One `[section]` and its entries, in file order, with the `[DEFAULT]`
/// entries it does not override appended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    /// The name between the brackets, trimmed.
    pub name: String,
    /// 1-based line of the header.
    pub line: usize,
    /// The entries.
    pub entries: Vec<Entry>,
}

impl Section {
    /// The entry for `key` (lowercase), if the section has it.
    pub fn entry(&self, key: &str) -> Option<&Entry> {
        self.entries.iter().find(|e| e.key == key)
    }
}

/// Why a line cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IniError {
    /// A key before the first `[section]`.
    #[error("`{text}` comes before any [section]; every setting belongs to a tone set")]
    OutsideSection {
        /// The line.
        line: usize,
        /// What it says.
        text: String,
    },
    /// Neither a comment, a section header nor `key = value`.
    #[error("`{text}` is not `key = value`, a [section] or a comment")]
    NotAnEntry {
        /// The line.
        line: usize,
        /// The section it is in, if any.
        section: Option<String>,
        /// What it says.
        text: String,
    },
    /// `[]`.
    #[error("a section needs a name between the brackets")]
    EmptySectionName {
        /// The line.
        line: usize,
    },
    /// The same `[section]` twice.
    #[error("[{name}] appears twice (first on line {first_line}); rename one")]
    DuplicateSection {
        /// The second header's line.
        line: usize,
        /// The section.
        name: String,
        /// The first header's line.
        first_line: usize,
    },
    /// The same key twice in one section.
    #[error("`{key}` appears twice in [{section}] (first on line {first_line}); remove one")]
    DuplicateKey {
        /// The second occurrence.
        line: usize,
        /// The section.
        section: String,
        /// The key, lowercased.
        key: String,
        /// The first occurrence.
        first_line: usize,
    },
    /// More than [`MAX_SECTIONS`] sections.
    #[error("more than {MAX_SECTIONS} sections; this is not a tones.cfg")]
    TooManySections {
        /// The header that went past the limit.
        line: usize,
    },
}

impl IniError {
    /// The 1-based line the error is on.
    pub fn line(&self) -> usize {
        match *self {
            IniError::OutsideSection { line, .. }
            | IniError::NotAnEntry { line, .. }
            | IniError::EmptySectionName { line }
            | IniError::DuplicateSection { line, .. }
            | IniError::DuplicateKey { line, .. }
            | IniError::TooManySections { line } => line,
        }
    }

    /// The section the error is in, when there is one.
    pub fn section(&self) -> Option<&str> {
        match self {
            IniError::DuplicateSection { name, .. } => Some(name),
            IniError::DuplicateKey { section, .. } => Some(section),
            IniError::NotAnEntry { section, .. } => section.as_deref(),
            _ => None,
        }
    }
}

/// What [`parse`] read: the sections, and every line it could not read.
#[derive(Debug, Default)]
pub struct Document {
    /// The sections in file order, without `[DEFAULT]` (whose entries are
    /// merged into each).
    pub sections: Vec<Section>,
    /// Every unreadable line, in file order.
    pub errors: Vec<IniError>,
}

/// Reads `text`. Never panics; every line it cannot read is in
/// [`Document::errors`], and reading goes on after it.
pub fn parse(text: &str) -> Document {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut reader = Reader::default();
    for (index, raw) in text.lines().enumerate() {
        if reader.too_many {
            break;
        }
        reader.line(index + 1, raw);
    }
    reader.finish()
}

#[derive(Default)]
struct Reader {
    sections: Vec<Section>,
    defaults: Option<Section>,
    errors: Vec<IniError>,
    /// Where entries go: `Some(true)` the `[DEFAULT]` section, `Some(false)`
    /// the last of `sections`, `None` before any header (or after a
    /// duplicate one, whose entries are dropped).
    current: Option<bool>,
    /// The indentation of the last key's line, while continuation lines may
    /// follow it.
    key_indent: Option<usize>,
    too_many: bool,
}

impl Reader {
    fn line(&mut self, number: usize, raw: &str) {
        let trimmed = raw.trim();
        let indent = raw.len() - raw.trim_start().len();
        if trimmed.is_empty() {
            // configparser keeps a continuation going over blank lines only
            // when it is told to; by default a blank line ends it.
            self.key_indent = None;
            return;
        }
        if trimmed.starts_with('#') || trimmed.starts_with(';') {
            return;
        }
        if let Some(key_indent) = self.key_indent
            && indent > key_indent
        {
            if let Some(entry) = self.current_entries().and_then(|e| e.last_mut()) {
                entry.value.push('\n');
                entry.value.push_str(trimmed);
            }
            return;
        }
        if let Some(rest) = trimmed.strip_prefix('[')
            && let Some(close) = rest.rfind(']')
        {
            self.header(number, rest[..close].trim());
            return;
        }
        self.entry(number, indent, trimmed);
    }

    fn header(&mut self, number: usize, name: &str) {
        self.key_indent = None;
        if name.is_empty() {
            self.errors
                .push(IniError::EmptySectionName { line: number });
            self.current = None;
            return;
        }
        if name == DEFAULT_SECTION {
            if let Some(first) = &self.defaults {
                self.errors.push(IniError::DuplicateSection {
                    line: number,
                    name: name.to_owned(),
                    first_line: first.line,
                });
                self.current = None;
            } else {
                self.defaults = Some(Section {
                    name: name.to_owned(),
                    line: number,
                    entries: Vec::new(),
                });
                self.current = Some(true);
            }
            return;
        }
        if let Some(first) = self.sections.iter().find(|s| s.name == name) {
            self.errors.push(IniError::DuplicateSection {
                line: number,
                name: name.to_owned(),
                first_line: first.line,
            });
            self.current = None;
            return;
        }
        if self.sections.len() == MAX_SECTIONS {
            self.errors.push(IniError::TooManySections { line: number });
            self.too_many = true;
            return;
        }
        self.sections.push(Section {
            name: name.to_owned(),
            line: number,
            entries: Vec::new(),
        });
        self.current = Some(false);
    }

    fn entry(&mut self, number: usize, indent: usize, trimmed: &str) {
        let Some(split) = trimmed.find(['=', ':']) else {
            self.not_an_entry(number, trimmed);
            return;
        };
        let key = trimmed[..split].trim().to_lowercase();
        let value = trimmed[split + 1..].trim().to_owned();
        if key.is_empty() {
            self.not_an_entry(number, trimmed);
            return;
        }
        let Some(in_default) = self.current else {
            self.key_indent = None;
            // After a duplicate or nameless header the section's own error
            // says it all; only keys before any header are reported.
            if self.sections.is_empty() && self.defaults.is_none() {
                self.errors.push(IniError::OutsideSection {
                    line: number,
                    text: trimmed.to_owned(),
                });
            }
            return;
        };
        let section = if in_default {
            self.defaults.as_mut()
        } else {
            self.sections.last_mut()
        }
        .expect("`current` points at a section that exists");
        if let Some(first) = section.entry(&key) {
            self.errors.push(IniError::DuplicateKey {
                line: number,
                section: section.name.clone(),
                key,
                first_line: first.line,
            });
            self.key_indent = None;
            return;
        }
        section.entries.push(Entry {
            key,
            value,
            line: number,
        });
        self.key_indent = Some(indent);
    }

    fn not_an_entry(&mut self, number: usize, trimmed: &str) {
        self.key_indent = None;
        let section = match self.current {
            Some(true) => Some(DEFAULT_SECTION.to_owned()),
            Some(false) => self.sections.last().map(|s| s.name.clone()),
            None => None,
        };
        self.errors.push(IniError::NotAnEntry {
            line: number,
            section,
            text: trimmed.to_owned(),
        });
    }

    fn current_entries(&mut self) -> Option<&mut Vec<Entry>> {
        match self.current? {
            true => self.defaults.as_mut().map(|s| &mut s.entries),
            false => self.sections.last_mut().map(|s| &mut s.entries),
        }
    }

    fn finish(mut self) -> Document {
        if let Some(defaults) = &self.defaults {
            for section in &mut self.sections {
                for entry in &defaults.entries {
                    if section.entry(&entry.key).is_none() {
                        section.entries.push(entry.clone());
                    }
                }
            }
        }
        Document {
            sections: self.sections,
            errors: self.errors,
        }
    }
}

impl fmt::Display for Section {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}]", self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value<'a>(section: &'a Section, key: &str) -> Option<&'a str> {
        section.entry(key).map(|e| e.value.as_str())
    }

    #[test]
    fn keys_are_case_insensitive_and_values_trimmed_or_empty() {
        let doc = parse("[Maple Grove FD]\nATone = 569.1 \nBTONE=1217.8\nmp3_Emails =\n");
        assert!(doc.errors.is_empty(), "{:?}", doc.errors);
        let s = &doc.sections[0];
        assert_eq!(s.name, "Maple Grove FD");
        assert_eq!(value(s, "atone"), Some("569.1"));
        assert_eq!(value(s, "btone"), Some("1217.8"));
        assert_eq!(value(s, "mp3_emails"), Some(""));
        assert_eq!(s.entry("atone").unwrap().line, 2);
    }

    #[test]
    fn colon_separates_too_and_the_first_delimiter_wins() {
        let doc = parse("[A]\ndescription: Engine 4: north\nalert_command = run.sh a=b\n");
        let s = &doc.sections[0];
        assert_eq!(value(s, "description"), Some("Engine 4: north"));
        assert_eq!(value(s, "alert_command"), Some("run.sh a=b"));
    }

    #[test]
    fn comments_are_whole_lines_only() {
        let doc = parse("# top\n[A]\n; note\n  # indented note\natone = 349 ; old\n");
        assert!(doc.errors.is_empty(), "{:?}", doc.errors);
        assert_eq!(value(&doc.sections[0], "atone"), Some("349 ; old"));
    }

    #[test]
    fn bom_and_crlf_from_windows_editors_are_read() {
        let doc = parse("\u{feff}[A]\r\natone = 349.0\r\nbtone = 707.3\r\n");
        assert!(doc.errors.is_empty(), "{:?}", doc.errors);
        assert_eq!(value(&doc.sections[0], "btone"), Some("707.3"));
    }

    #[test]
    fn deeper_indented_lines_continue_a_value_until_a_blank_line() {
        let doc = parse("[A]\nalert_emails = one@example.org,\n    two@example.org\n\natone = 1\n");
        assert!(doc.errors.is_empty(), "{:?}", doc.errors);
        let s = &doc.sections[0];
        assert_eq!(
            value(s, "alert_emails"),
            Some("one@example.org,\ntwo@example.org")
        );
        assert_eq!(value(s, "atone"), Some("1"));
    }

    #[test]
    fn evenly_indented_keys_are_keys() {
        let doc = parse("[A]\n   atone = 1\n   btone = 2\n");
        assert!(doc.errors.is_empty(), "{:?}", doc.errors);
        assert_eq!(value(&doc.sections[0], "btone"), Some("2"));
    }

    #[test]
    fn default_section_fills_what_a_set_leaves_out() {
        let doc = parse(
            "[DEFAULT]\ntone_tolerance = 0.015\nrecord_seconds = 45\n[A]\nrecord_seconds = 20\n[B]\n",
        );
        assert!(doc.errors.is_empty(), "{:?}", doc.errors);
        assert_eq!(doc.sections.len(), 2);
        assert_eq!(value(&doc.sections[0], "record_seconds"), Some("20"));
        assert_eq!(value(&doc.sections[0], "tone_tolerance"), Some("0.015"));
        assert_eq!(value(&doc.sections[1], "record_seconds"), Some("45"));
    }

    #[test]
    fn every_unreadable_line_is_reported_with_its_number() {
        let doc = parse(
            "atone = 1\n[A]\njust words\natone = 1\nATONE = 2\n[A]\nbtone = 3\n[]\n[B]\nbtone = 4\n",
        );
        let lines: Vec<usize> = doc.errors.iter().map(IniError::line).collect();
        assert_eq!(lines, [1, 3, 5, 6, 8], "{:?}", doc.errors);
        assert!(matches!(
            &doc.errors[2],
            IniError::DuplicateKey { key, first_line: 4, .. } if key == "atone"
        ));
        assert!(matches!(
            &doc.errors[3],
            IniError::DuplicateSection { first_line: 2, .. }
        ));
        // The duplicate section's keys are dropped, the next section read.
        assert_eq!(doc.sections.len(), 2);
        assert_eq!(value(&doc.sections[0], "btone"), None);
        assert_eq!(value(&doc.sections[1], "btone"), Some("4"));
    }

    #[test]
    fn a_runaway_file_stops_at_the_section_limit() {
        let text: String = (0..=MAX_SECTIONS).map(|i| format!("[S{i}]\n")).collect();
        let doc = parse(&text);
        assert_eq!(doc.sections.len(), MAX_SECTIONS);
        assert_eq!(
            doc.errors,
            [IniError::TooManySections {
                line: MAX_SECTIONS + 1
            }]
        );
    }

    #[test]
    fn nothing_panics_on_odd_bytes() {
        for text in [
            "[",
            "]",
            "[]]",
            "=",
            ":",
            "[a]\n=\n",
            "[a]\n \u{0}=\u{7f}",
            "\u{feff}",
        ] {
            let _ = parse(text);
        }
    }
}
