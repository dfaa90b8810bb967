//! Adds definitions to a config file's text, leaving every other byte of
//! it as it was.
//!
//! The workspace's serde_json keeps objects in sorted maps (its
//! `preserve_order` feature is off, and turning it on would change the
//! order the config loader reports problems in), so a parse-and-rewrite
//! would reorder every key of the operator's file and reflow its
//! formatting. Instead the top-level object is scanned for where its
//! `tones` and `long_tones` arrays end, and the new entries are inserted
//! there as text, indented like the entries before them. A missing array is
//! added after `channels` (or `tones`). The caller checks the result with
//! the config loader, so a mistake here can only refuse an import, never
//! write a broken file.

use std::fmt::Write as _;

/// Why the text could not be extended.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpliceError {
    /// The text is not one JSON object (the loader says more).
    #[error("the config is not one JSON object")]
    NotAnObject,
    /// `tones` or `long_tones` holds something other than a list.
    #[error("`{key}` is not a list, so nothing can be added to it")]
    NotAList {
        /// The key.
        key: &'static str,
    },
}

/// One `"key": value` of the top-level object, as byte offsets.
#[derive(Debug)]
struct Member {
    key: String,
    key_start: usize,
    value_start: usize,
    value_end: usize,
}

/// `text` with `tones` appended to its `tones` array and `long_tones` to
/// its `long_tones` array. Each entry is pretty-printed JSON (two-space
/// levels) starting at column 0; it is written in the file's own
/// indentation.
///
/// # Errors
///
/// [`SpliceError`] when `text` is not a JSON object or an array to extend
/// is something else.
pub fn splice(text: &str, tones: &[String], long_tones: &[String]) -> Result<String, SpliceError> {
    let (open, close, members) = top_level(text).ok_or(SpliceError::NotAnObject)?;
    let newline = if text.contains("\r\n") { "\r\n" } else { "\n" };
    let member_indent = members
        .first()
        .map_or("  ", |m| indent_before(text, m.key_start).unwrap_or("  "));
    let find = |key: &str| members.iter().find(|m| m.key == key);
    let mut edits: Vec<Edit> = Vec::new();
    let mut missing: Vec<(&'static str, &[String])> = Vec::new();
    for (key, items) in [("tones", tones), ("long_tones", long_tones)] {
        if items.is_empty() {
            continue;
        }
        match find(key) {
            Some(member) => edits.push(append(text, member, key, items, member_indent, newline)?),
            None => missing.push((key, items)),
        }
    }
    for (order, (key, items)) in missing.into_iter().enumerate() {
        let anchor = match key {
            "long_tones" => find("tones").or_else(|| find("channels")),
            _ => find("channels"),
        }
        .or(members.last());
        let block = array_block(key, items, member_indent, newline);
        let order = u8::try_from(order).expect("two keys at most");
        match anchor {
            Some(member) => edits.push(Edit::insert(
                member.value_end,
                order,
                format!(",{newline}{block}"),
            )),
            None => {
                // `{}`: the new members are the only ones.
                let separator = if order == 0 { "" } else { "," };
                edits.push(Edit::insert(
                    close,
                    order,
                    format!("{separator}{newline}{block}"),
                ));
            }
        }
    }
    if members.is_empty() && !edits.is_empty() {
        edits.push(Edit::insert(close, u8::MAX, newline.to_owned()));
    }
    debug_assert!(open < close, "the object opens before it closes");
    // Later positions first, so earlier offsets stay valid; at one position
    // the higher order first, so the lower ends up in front.
    edits.sort_by_key(|edit| std::cmp::Reverse((edit.at, edit.order)));
    let mut out = text.to_owned();
    for edit in edits {
        out.replace_range(edit.at..edit.at + edit.replaced_len, &edit.text);
    }
    Ok(out)
}

/// Replace `replaced_len` bytes at `at` with `text`.
struct Edit {
    at: usize,
    replaced_len: usize,
    /// Among edits at one position, the lower comes first in the result.
    order: u8,
    text: String,
}

impl Edit {
    fn insert(at: usize, order: u8, text: String) -> Edit {
        Edit {
            at,
            replaced_len: 0,
            order,
            text,
        }
    }
}

/// The edit that appends `items` to the array `member` holds.
fn append(
    text: &str,
    member: &Member,
    key: &'static str,
    items: &[String],
    member_indent: &str,
    newline: &str,
) -> Result<Edit, SpliceError> {
    let value = &text[member.value_start..member.value_end];
    let inner = value
        .strip_prefix('[')
        .and_then(|v| v.strip_suffix(']'))
        .ok_or(SpliceError::NotAList { key })?;
    let inner_start = member.value_start + 1;
    if inner.trim().is_empty() {
        // `[]`: replaced whole, as a new array would be written.
        let mut block = array_block(key, items, member_indent, newline);
        let value_at = block.find('[').expect("array_block writes a `[`");
        block.replace_range(..value_at, "");
        return Ok(Edit {
            at: member.value_start,
            replaced_len: value.len(),
            order: 0,
            text: block,
        });
    }
    let first = inner_start + (inner.len() - inner.trim_start().len());
    let last_end = inner_start + inner.trim_end().len();
    let element_indent = indent_before(text, first).map_or_else(
        || format!("{member_indent}{}", unit(member_indent)),
        str::to_owned,
    );
    let mut insert = String::new();
    for item in items {
        insert.push(',');
        insert.push_str(newline);
        insert.push_str(&indented(
            item,
            &element_indent,
            unit(member_indent),
            newline,
        ));
    }
    Ok(Edit::insert(last_end, 0, insert))
}

/// `"key": [ items ]` at `member_indent`, its items one level deeper.
fn array_block(key: &str, items: &[String], member_indent: &str, newline: &str) -> String {
    let element_indent = format!("{member_indent}{}", unit(member_indent));
    let mut block = format!("{member_indent}\"{key}\": [{newline}");
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            block.push(',');
            block.push_str(newline);
        }
        block.push_str(&indented(
            item,
            &element_indent,
            unit(member_indent),
            newline,
        ));
    }
    let _ = write!(block, "{newline}{member_indent}]");
    block
}

/// One level of indentation in the file's own style.
fn unit(member_indent: &str) -> &str {
    if member_indent.is_empty() {
        "  "
    } else {
        member_indent
    }
}

/// `item`'s lines, each after `indent`, its own two-space levels
/// (serde_json's pretty printing) redone in the file's `unit`.
fn indented(item: &str, indent: &str, unit: &str, newline: &str) -> String {
    item.lines()
        .map(|line| {
            let rest = line.trim_start_matches(' ');
            let levels = (line.len() - rest.len()) / 2;
            format!("{indent}{}{rest}", unit.repeat(levels))
        })
        .collect::<Vec<_>>()
        .join(newline)
}

/// The white space between the start of `at`'s line and `at`, when
/// nothing else is there.
fn indent_before(text: &str, at: usize) -> Option<&str> {
    let line_start = text[..at].rfind('\n').map_or(0, |i| i + 1);
    let before = &text[line_start..at];
    (text[..at].contains('\n') && before.chars().all(|c| c == ' ' || c == '\t')).then_some(before)
}

/// The top-level object's `{` and `}` offsets and its members, or `None`
/// when `text` is not one JSON object.
fn top_level(text: &str) -> Option<(usize, usize, Vec<Member>)> {
    let mut c = Cursor {
        bytes: text.as_bytes(),
        at: 0,
    };
    c.white();
    let open = c.at;
    c.expect(b'{')?;
    let mut members = Vec::new();
    loop {
        c.white();
        if c.peek()? == b'}' {
            return Some((open, c.at, members));
        }
        let key_start = c.at;
        c.string()?;
        let key: String = serde_json::from_str(&text[key_start..c.at]).ok()?;
        c.white();
        c.expect(b':')?;
        c.white();
        let value_start = c.at;
        c.value()?;
        members.push(Member {
            key,
            key_start,
            value_start,
            value_end: c.at,
        });
        c.white();
        match c.peek()? {
            b',' => c.at += 1,
            b'}' => return Some((open, c.at, members)),
            _ => return None,
        }
    }
}

/// A position in JSON text. Structural characters are ASCII, and no byte
/// of a multi-byte UTF-8 character is, so scanning bytes is safe.
struct Cursor<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    fn expect(&mut self, byte: u8) -> Option<()> {
        (self.peek()? == byte).then(|| self.at += 1)
    }

    fn white(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.at += 1;
        }
    }

    /// Past a string that starts here.
    fn string(&mut self) -> Option<()> {
        self.expect(b'"')?;
        loop {
            match self.peek()? {
                b'\\' => self.at += 2,
                b'"' => {
                    self.at += 1;
                    return Some(());
                }
                _ => self.at += 1,
            }
        }
    }

    /// Past the value that starts here.
    fn value(&mut self) -> Option<()> {
        match self.peek()? {
            b'"' => self.string(),
            b'{' | b'[' => {
                // Depth is bounded by the text's length.
                let mut depth = 0usize;
                loop {
                    match self.peek()? {
                        b'"' => {
                            self.string()?;
                            continue;
                        }
                        b'{' | b'[' => depth += 1,
                        b'}' | b']' => {
                            depth -= 1;
                            if depth == 0 {
                                self.at += 1;
                                return Some(());
                            }
                        }
                        _ => {}
                    }
                    self.at += 1;
                }
            }
            _ => {
                let start = self.at;
                while !matches!(
                    self.peek(),
                    None | Some(b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r')
                ) {
                    self.at += 1;
                }
                (self.at > start).then_some(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(id: &str) -> String {
        serde_json::to_string_pretty(&serde_json::json!({ "tone_id": id })).unwrap()
    }

    #[test]
    fn entries_go_after_the_last_one_indented_alike_and_nothing_else_moves() {
        let text = "{\n  \"node_id\": \"n\",\n  \"tones\": [\n    {\n      \"tone_id\": \"Old\"\n    }\n  ],\n  \"zeta\": 1\n}\n";
        let out = splice(text, &[item("New")], &[]).unwrap();
        assert_eq!(
            out,
            "{\n  \"node_id\": \"n\",\n  \"tones\": [\n    {\n      \"tone_id\": \"Old\"\n    },\n    {\n      \"tone_id\": \"New\"\n    }\n  ],\n  \"zeta\": 1\n}\n"
        );
    }

    #[test]
    fn missing_arrays_are_added_after_channels_in_order() {
        let text = "{\n  \"channels\": [ {\"id\": \"a\"} ],\n  \"logging\": {}\n}";
        let out = splice(text, &[item("T")], &[item("L")]).unwrap();
        let value: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(value["tones"][0]["tone_id"], "T");
        assert_eq!(value["long_tones"][0]["tone_id"], "L");
        let t = out.find("\"tones\"").unwrap();
        let l = out.find("\"long_tones\"").unwrap();
        let logging = out.find("\"logging\"").unwrap();
        assert!(t < l && l < logging, "{out}");
        assert!(
            out.contains("\n  \"tones\": [\n    {\n      \"tone_id\": \"T\"\n    }\n  ],"),
            "{out}"
        );
    }

    #[test]
    fn long_tones_go_after_an_existing_tones_array() {
        let text = "{\"channels\": [], \"tones\": [{\"tone_id\": \"A\"}], \"x\": 1}";
        let out = splice(text, &[], &[item("L")]).unwrap();
        let tones = out.find("\"tones\"").unwrap();
        let long = out.find("\"long_tones\"").unwrap();
        assert!(tones < long && long < out.find("\"x\"").unwrap(), "{out}");
        serde_json::from_str::<serde_json::Value>(&out).unwrap();
    }

    #[test]
    fn empty_arrays_and_empty_objects_and_crlf_files() {
        let out = splice(
            "{\r\n  \"tones\": [],\r\n  \"a\": 1\r\n}\r\n",
            &[item("T")],
            &[],
        )
        .unwrap();
        assert!(out.contains("\"tones\": [\r\n    {\r\n"), "{out:?}");
        assert!(!out.replace("\r\n", "").contains('\n'), "{out:?}");
        let value: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(value["tones"][0]["tone_id"], "T");
        assert_eq!(value["a"], 1);

        let out = splice("{}", &[item("T")], &[item("L")]).unwrap();
        let value: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(value["long_tones"][0]["tone_id"], "L");
    }

    #[test]
    fn strings_with_brackets_and_escapes_do_not_confuse_the_scan() {
        let text =
            r#"{"node_id": "a]}\"[{", "tones": [{"tone_id": "x]\\"}], "b": [[1], {"c": "]"}]}"#;
        let out = splice(text, &[item("New")], &[]).unwrap();
        let value: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(value["tones"][1]["tone_id"], "New");
        assert_eq!(value["node_id"], "a]}\"[{");
    }

    #[test]
    fn a_tones_value_that_is_not_a_list_is_refused() {
        assert_eq!(
            splice("{\"tones\": null}", &[item("T")], &[]),
            Err(SpliceError::NotAList { key: "tones" })
        );
        assert_eq!(
            splice("[1]", &[item("T")], &[]),
            Err(SpliceError::NotAnObject)
        );
        assert_eq!(
            splice("{\"a\" 1}", &[item("T")], &[]),
            Err(SpliceError::NotAnObject)
        );
    }
}
