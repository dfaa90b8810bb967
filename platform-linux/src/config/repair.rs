//! Repairs a JSON tree after a serde error so that deserialization can go
//! on and every problem in a file is found in one run.
//!
//! Each repair either keeps the user's intent (a near-miss field name or
//! enum value renamed, `"20"` read as the number 20) or gets the bad value
//! out of the way (removed, so the field's default applies). A required
//! field that is missing gets a placeholder; anything found at or below a
//! placeholder, or that mentions it, is hidden, since it would be about the
//! placeholder and not about the file.

use std::collections::HashMap;

use serde_json::{Map, Number, Value};
use serde_path_to_error::Segment;

use super::problem::Problem;

/// How often one path may be repaired before the loader gives up on it:
/// a placeholder takes at most three steps (null, type, variant).
const MAX_ATTEMPTS_PER_PATH: u8 = 6;

/// One step of a field path.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) enum Step {
    Key(String),
    Index(usize),
    /// An externally tagged enum's variant: the key of a one-key object, or
    /// the string itself for a unit variant.
    Variant(String),
    Unknown,
}

impl From<&Segment> for Step {
    fn from(segment: &Segment) -> Self {
        match segment {
            Segment::Map { key } => Step::Key(key.clone()),
            Segment::Seq { index } => Step::Index(*index),
            Segment::Enum { variant } => Step::Variant(variant.clone()),
            Segment::Unknown => Step::Unknown,
        }
    }
}

/// `channels[1].cor.gpio.line`.
pub(super) fn render(path: &[Step]) -> String {
    let mut out = String::new();
    for step in path {
        match step {
            Step::Key(name) | Step::Variant(name) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(name);
            }
            Step::Index(index) => out.push_str(&format!("[{index}]")),
            Step::Unknown => out.push_str(".?"),
        }
    }
    out
}

/// What a repair did.
#[derive(Debug)]
pub(super) enum Outcome {
    /// The tree was changed; report this error.
    Report { path: String, message: String },
    /// The tree was changed; nothing new to report.
    Silent,
    /// Nothing sensible to change.
    Stuck { report: bool },
}

/// Repairs made so far, to tell consequences from new problems.
#[derive(Debug, Default)]
pub(super) struct Repairer {
    /// Required fields that were missing and got a placeholder.
    placeholders: Vec<Vec<Step>>,
    /// Fields whose value was removed (and reported).
    removed: Vec<Vec<Step>>,
    attempts: HashMap<Vec<Step>, u8>,
}

impl Repairer {
    /// Whether some field holds a placeholder, so some checks were skipped.
    pub(super) fn used_placeholders(&self) -> bool {
        !self.placeholders.is_empty()
    }

    /// Whether `problem` may be about a placeholder rather than the file.
    ///
    /// An object with a placeholder is not checked further: checks that
    /// compare its fields (a range against its frequency) would compare
    /// against the placeholder. Channel ids are the only values other
    /// fields refer to, so when one is a placeholder, references to
    /// channels are not checked either.
    pub(super) fn hides(&self, problem: &Problem) -> bool {
        self.placeholders.iter().any(|placeholder| {
            let scope = match placeholder.split_last() {
                Some((_, parent)) if !parent.is_empty() => render(parent),
                _ => render(placeholder),
            };
            let channel_id = matches!(
                placeholder.as_slice(),
                [Step::Key(list), Step::Index(_), Step::Key(field)] if list == "channels" && field == "id"
            );
            within(&problem.path, &scope)
                || mentions(&problem.message, &scope)
                || (channel_id && problem.message.starts_with("no channel has id"))
        })
    }

    /// Repairs `tree` after serde reported `message` at `path`.
    pub(super) fn repair(&mut self, tree: &mut Value, path: &[Step], message: &str) -> Outcome {
        let attempts = self.attempts.entry(path.to_vec()).or_default();
        *attempts += 1;
        if *attempts > MAX_ATTEMPTS_PER_PATH {
            return Outcome::Stuck { report: false };
        }
        if self.placeholders.iter().any(|p| path.starts_with(p)) {
            return fill_placeholder(tree, path, message);
        }
        if let Some(name) = quoted_after(message, "unknown field `") {
            return rename_or_drop_field(tree, path, name, message);
        }
        if let Some(name) = quoted_after(message, "unknown variant `") {
            return self.fix_variant(tree, path, name, message);
        }
        if let Some(field) = quoted_after(message, "missing field `") {
            let mut missing = path.to_vec();
            missing.push(Step::Key(field.to_owned()));
            let Some(parent) = node_mut(tree, path).and_then(Value::as_object_mut) else {
                return Outcome::Stuck { report: true };
            };
            parent.insert(field.to_owned(), Value::Null);
            let outcome = if self.removed.contains(&missing) {
                Outcome::Silent
            } else {
                Outcome::Report {
                    path: render(&missing),
                    message: "is missing, and this field has no default".to_owned(),
                }
            };
            self.placeholders.push(missing);
            return outcome;
        }
        if let Some((found, expected)) = invalid_type(message) {
            if let Some(fixed) = node_mut(tree, path).and_then(|node| coerce(node, expected)) {
                return Outcome::Report {
                    path: render(path),
                    message: fixed,
                };
            }
            if let Some(Step::Variant(variant)) = path.last()
                && found == "unit variant"
            {
                let message =
                    format!("`{variant}` needs its settings: write {{\"{variant}\": {{…}}}}");
                return self.remove(tree, path, message);
            }
        }
        self.remove(tree, path, message.to_owned())
    }

    fn fix_variant(
        &mut self,
        tree: &mut Value,
        path: &[Step],
        name: &str,
        message: &str,
    ) -> Outcome {
        let expected = expected_names(message);
        let listed = expected
            .iter()
            .map(|e| format!("`{e}`"))
            .collect::<Vec<_>>()
            .join(", ");
        if let Some(known) = closest(name, &expected)
            && set_variant(node_mut(tree, path), name, known)
        {
            return Outcome::Report {
                path: render(path),
                message: format!("`{name}` is not one of {listed}; did you mean `{known}`?"),
            };
        }
        self.remove(tree, path, format!("`{name}` is not one of {listed}"))
    }

    /// Removes the value at `path` (the whole enum for a variant path) so
    /// that the field's default applies.
    fn remove(&mut self, tree: &mut Value, path: &[Step], message: String) -> Outcome {
        let report_path = render(path);
        let mut path = path;
        while let Some((Step::Variant(_), rest)) = path.split_last() {
            path = rest;
        }
        let Some((Step::Key(key), parent_path)) = path.split_last() else {
            return Outcome::Stuck { report: true };
        };
        let gone = node_mut(tree, parent_path)
            .and_then(Value::as_object_mut)
            .and_then(|parent| parent.remove(key));
        match gone {
            Some(_) => {
                self.removed.push(path.to_vec());
                Outcome::Report {
                    path: report_path,
                    message,
                }
            }
            None => Outcome::Stuck { report: true },
        }
    }
}

/// Whether `path` is `scope` or lies below it.
fn within(path: &str, scope: &str) -> bool {
    path.strip_prefix(scope)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with(['.', '[']))
}

/// Whether `message` names `scope` or something below it (`tones[1]` but
/// not `tones[10]`).
fn mentions(message: &str, scope: &str) -> bool {
    message.match_indices(scope).any(|(at, _)| {
        !message[at + scope.len()..].starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_')
    })
}

fn rename_or_drop_field(tree: &mut Value, path: &[Step], name: &str, message: &str) -> Outcome {
    let suggestion = closest(name, &expected_names(message));
    let Some((Step::Key(_), parent_path)) = path.split_last() else {
        return Outcome::Stuck { report: true };
    };
    let Some(parent) = node_mut(tree, parent_path).and_then(Value::as_object_mut) else {
        return Outcome::Stuck { report: true };
    };
    let Some(value) = parent.remove(name) else {
        return Outcome::Stuck { report: true };
    };
    let message = match suggestion {
        // The value is kept under the name meant, so it is still checked.
        Some(known) if !parent.contains_key(known) => {
            parent.insert(known.to_owned(), value);
            format!("unknown field `{name}`; did you mean `{known}`?")
        }
        _ => message.to_owned(),
    };
    Outcome::Report {
        path: render(path),
        message,
    }
}

/// Gives a placeholder a value of the type serde asks for, one step at a
/// time (null → the type → for enums, a variant), without reporting.
fn fill_placeholder(tree: &mut Value, path: &[Step], message: &str) -> Outcome {
    if let Some(field) = quoted_after(message, "missing field `") {
        let Some(parent) = node_mut(tree, path).and_then(Value::as_object_mut) else {
            return Outcome::Stuck { report: false };
        };
        parent.insert(field.to_owned(), Value::Null);
        return Outcome::Silent;
    }
    let Some(node) = node_mut(tree, path) else {
        return Outcome::Stuck { report: false };
    };
    if quoted_after(message, "unknown variant `").is_some() {
        // The last listed variant: in this schema that is the one needing
        // no settings (`always`, `embedded`) where there is one.
        let Some(variant) = expected_names(message).last().copied() else {
            return Outcome::Stuck { report: false };
        };
        *node = Value::String(variant.to_owned());
        return Outcome::Silent;
    }
    let Some((found, expected)) = invalid_type(message) else {
        return Outcome::Stuck { report: false };
    };
    if found == "unit variant"
        && let Some(Step::Variant(variant)) = path.last()
    {
        let mut map = Map::new();
        map.insert(variant.clone(), Value::Object(Map::new()));
        *node = Value::Object(map);
        return Outcome::Silent;
    }
    *node = placeholder_for(expected);
    Outcome::Silent
}

/// A harmless value of the type serde's "expected …" names.
fn placeholder_for(expected: &str) -> Value {
    let integer = |s: &str| {
        (s.starts_with('u') || s.starts_with('i'))
            && s.len() > 1
            && s[1..].bytes().all(|b| b.is_ascii_digit())
    };
    match expected {
        e if integer(e) => Value::Number(0u8.into()),
        "f64" | "f32" => Number::from_f64(0.0).map_or(Value::Null, Value::Number),
        "a boolean" => Value::Bool(false),
        "a sequence" => Value::Array(Vec::new()),
        e if e.starts_with("struct ") || e == "a map" => Value::Object(Map::new()),
        // Enums and custom types: an empty string draws "unknown variant
        // ``, expected …", which names the choices.
        _ => Value::String(String::new()),
    }
}

/// Rewrites a value of the wrong type that plainly means one of the right
/// type (`"20"` for 20, `20.0` for 20, `1` for `"1"`). Returns the message
/// to report, or `None` (and leaves `node` alone) if the intent is unclear.
fn coerce(node: &mut Value, expected: &str) -> Option<String> {
    let integer = (expected.starts_with('u') || expected.starts_with('i'))
        && expected.len() > 1
        && expected[1..].bytes().all(|b| b.is_ascii_digit());
    let (fixed, message) = match (&*node, expected) {
        (Value::String(text), _) if integer => {
            let number: u64 = text.trim().parse().ok()?;
            (
                Value::Number(number.into()),
                format!("\"{text}\" is text; write the number without quotes: {number}"),
            )
        }
        (Value::Number(number), _) if integer => {
            let float = number.as_f64()?;
            if float.fract() != 0.0 || !(0.0..=4_294_967_295.0).contains(&float) {
                return None;
            }
            // Exact: a whole number within u32's range.
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            let whole = float as u64;
            (
                Value::Number(whole.into()),
                format!("{number} must be a whole number without a decimal point: {whole}"),
            )
        }
        (Value::String(text), "f64" | "f32") => {
            let number = text.trim().parse::<f64>().ok().and_then(Number::from_f64)?;
            (
                Value::Number(number.clone()),
                format!("\"{text}\" is text; write the number without quotes: {number}"),
            )
        }
        (Value::String(text), "a boolean") => {
            let flag = match text.trim() {
                "true" => true,
                "false" => false,
                _ => return None,
            };
            (
                Value::Bool(flag),
                format!("\"{text}\" is text; write {flag} without quotes"),
            )
        }
        (Value::Number(number), "a string") => {
            let text = number.to_string();
            (
                Value::String(text.clone()),
                format!("is a number; write it in quotes: \"{text}\""),
            )
        }
        _ => return None,
    };
    *node = fixed;
    Some(message)
}

/// Splits serde's "invalid type: X, expected Y" into X (without its
/// quoted value) and Y.
fn invalid_type(message: &str) -> Option<(&str, &str)> {
    let rest = message.strip_prefix("invalid type: ")?;
    let (found, expected) = rest.rsplit_once(", expected ")?;
    let found = found.split([' ', '`']).next().unwrap_or(found);
    let found = if found == "unit" && rest.starts_with("unit variant") {
        "unit variant"
    } else {
        found
    };
    Some((found, expected))
}

/// Replaces the enum value `from` with `to`, in either of its JSON forms.
fn set_variant(node: Option<&mut Value>, from: &str, to: &str) -> bool {
    match node {
        Some(Value::String(text)) if text == from => {
            *text = to.to_owned();
            true
        }
        Some(Value::Object(map)) if map.len() == 1 && map.contains_key(from) => {
            let inner = map.remove(from).unwrap_or(Value::Null);
            map.insert(to.to_owned(), inner);
            true
        }
        _ => false,
    }
}

pub(super) fn node_mut<'v>(tree: &'v mut Value, path: &[Step]) -> Option<&'v mut Value> {
    let mut node = tree;
    for step in path {
        node = match step {
            Step::Key(key) => node.as_object_mut()?.get_mut(key)?,
            Step::Index(index) => node.as_array_mut()?.get_mut(*index)?,
            // A unit variant is the string itself; nothing lies below it.
            Step::Variant(variant) if node.is_string() => {
                if node.as_str() != Some(variant.as_str()) {
                    return None;
                }
                node
            }
            Step::Variant(variant) => {
                let map = node.as_object_mut()?;
                if map.len() != 1 {
                    return None;
                }
                map.get_mut(variant)?
            }
            Step::Unknown => return None,
        };
    }
    Some(node)
}

/// The text between `prefix` and the next backtick.
fn quoted_after<'m>(message: &'m str, prefix: &str) -> Option<&'m str> {
    let rest = message.strip_prefix(prefix)?;
    rest.split('`').next()
}

/// The names serde lists after "expected": "`a`", "`a` or `b`",
/// "one of `a`, `b`, `c`".
fn expected_names(message: &str) -> Vec<&str> {
    match message.split_once(", expected ") {
        Some((_, list)) => list.split('`').skip(1).step_by(2).collect(),
        None => Vec::new(),
    }
}

/// The known name `name` is most likely a slip for: a forgotten unit
/// suffix (`cor_hang` → `cor_hang_ms`) or a few letters off.
pub(super) fn closest<'k>(name: &str, known: &[&'k str]) -> Option<&'k str> {
    if let Some(with_unit) = known.iter().find(|k| {
        k.strip_prefix(name)
            .is_some_and(|rest| rest.starts_with('_'))
    }) {
        return Some(with_unit);
    }
    let allowed = (name.chars().count() / 3).max(1);
    known
        .iter()
        .map(|k| (edit_distance(name, k), *k))
        .filter(|(distance, _)| *distance <= allowed)
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, k)| k)
}

/// Optimal string alignment distance: insertions, deletions, substitutions
/// and swaps of neighbours each cost one.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let width = b.len() + 1;
    let mut d = vec![0usize; (a.len() + 1) * width];
    for i in 0..=a.len() {
        d[i * width] = i;
    }
    for (j, cell) in d.iter_mut().enumerate().take(width) {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[(i - 1) * width + j] + 1)
                .min(d[i * width + j - 1] + 1)
                .min(d[(i - 1) * width + j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[(i - 2) * width + j - 2] + 1);
            }
            d[i * width + j] = best;
        }
    }
    d[a.len() * width + b.len()]
}
