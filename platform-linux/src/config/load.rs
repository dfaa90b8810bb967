//! From text to a checked [`Config`], reporting every problem at once.
//!
//! serde stops at the first unknown field or wrong type. To go on, the
//! loader works on a JSON tree:
//!
//! 1. Parse the text into a tree, noting keys that appear twice in one
//!    object (plain serde_json would silently keep the last).
//! 2. Deserialize the tree with `serde_path_to_error`. On an error, record
//!    it with its path, repair the tree (see [`super::repair`]) and try
//!    again: near-miss names are renamed (`lnie` → `line`), plain type slips
//!    read as meant (`"20"` → 20), other bad values removed, missing
//!    required fields given placeholders.
//! 3. Once the tree deserializes, run [`validate`] on the result, hiding
//!    what it finds about placeholders.
//!
//! When placeholders were needed, [`Report::complete`] is false: checks
//! that depend on the missing values did not run.

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

use super::problem::Problem;
use super::repair::{Outcome, Repairer, Step, render};
use super::schema::Config;
use super::validate::validate;

/// Each repair changes one value of the tree (a placeholder takes up to
/// three), so this bounds the loop with room to spare for any hand-written
/// file.
const MAX_REPAIRS: usize = 256;

/// What checking a config text found.
#[derive(Debug)]
pub struct Report {
    /// The configuration, when there is no error (warnings allowed).
    pub config: Option<Config>,
    /// Every error and warning: those found while parsing first (keys of
    /// one object in alphabetical order), then validation's, in schema order.
    pub problems: Vec<Problem>,
    /// False when some checks could not run because of the errors listed
    /// (invalid JSON, or a required field missing or of the wrong type).
    pub complete: bool,
}

impl Report {
    /// Whether any problem is an error.
    pub fn has_errors(&self) -> bool {
        self.problems.iter().any(Problem::is_error)
    }
}

/// Parses and validates a config file's text. Never panics on any input.
pub fn check(text: &str) -> Report {
    let mut problems = Vec::new();
    let mut tree = match scan(text, &mut problems) {
        Ok(tree) => tree,
        Err(err) => {
            problems.push(Problem::error("", format!("not valid JSON: {err}")));
            return Report {
                config: None,
                problems,
                complete: false,
            };
        }
    };

    if !tree.is_object() {
        problems.push(Problem::error(
            "",
            "the file must hold one JSON object, `{ \"node_id\": …, \"relay\": …, \"channels\": [ … ] }`",
        ));
        return Report {
            config: None,
            problems,
            complete: false,
        };
    }
    let mut repairer = Repairer::default();
    for _ in 0..MAX_REPAIRS {
        let err = match serde_path_to_error::deserialize::<_, Config>(&tree) {
            Ok(config) => {
                let complete = !repairer.used_placeholders();
                problems.extend(
                    validate(&config)
                        .into_iter()
                        .filter(|problem| !repairer.hides(problem)),
                );
                let config = if problems.iter().any(Problem::is_error) {
                    None
                } else {
                    Some(config)
                };
                return Report {
                    config,
                    problems,
                    complete,
                };
            }
            Err(err) => err,
        };
        let path: Vec<Step> = err.path().iter().map(Step::from).collect();
        let message = err.inner().to_string();
        match repairer.repair(&mut tree, &path, &message) {
            Outcome::Report { path, message } => problems.push(Problem::error(path, message)),
            Outcome::Silent => {}
            Outcome::Stuck { report } => {
                if report {
                    problems.push(Problem::error(render(&path), message));
                }
                break;
            }
        }
    }
    Report {
        config: None,
        problems,
        complete: false,
    }
}

/// Parses JSON text into a tree, reporting keys that appear twice in one
/// object.
fn scan(text: &str, problems: &mut Vec<Problem>) -> Result<Value, serde_json::Error> {
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let tree = Scan {
        path: String::new(),
        problems,
    }
    .deserialize(&mut deserializer)?;
    deserializer.end()?;
    Ok(tree)
}

/// Builds a [`Value`] like serde_json does, tracking the path so that a
/// duplicated key can be named.
struct Scan<'p> {
    path: String,
    problems: &'p mut Vec<Problem>,
}

impl<'de> DeserializeSeed<'de> for Scan<'_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Scan<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        Ok(Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        self.deserialize(deserializer)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        loop {
            let seed = Scan {
                path: format!("{}[{}]", self.path, items.len()),
                problems: &mut *self.problems,
            };
            match seq.next_element_seed(seed)? {
                Some(item) => items.push(item),
                None => return Ok(Value::Array(items)),
            }
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut object = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let path = if self.path.is_empty() {
                key.clone()
            } else {
                format!("{}.{key}", self.path)
            };
            let value = map.next_value_seed(Scan {
                path: path.clone(),
                problems: &mut *self.problems,
            })?;
            if object.insert(key, value).is_some() {
                self.problems.push(Problem::error(
                    path,
                    "appears twice in the same object; remove one (which one wins depends on the reader)",
                ));
            }
        }
        Ok(Value::Object(object))
    }
}
