//! What is wrong with a config file, one finding at a time.

use std::fmt;

/// How bad a [`Problem`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// The node refuses to start.
    Error,
    /// The node starts, but the setting is probably not what was meant.
    Warning,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        })
    }
}

/// One finding: where in the file, and why.
///
/// `path` names the field as `channels[1].cor.gpio.line`; it is empty for
/// problems with the whole file (not JSON at all).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Error or warning.
    pub severity: Severity,
    /// Field path, e.g. `tones[0].passthrough`.
    pub path: String,
    /// The reason, in words a radio tech can act on.
    pub message: String,
}

impl Problem {
    /// An error at `path`.
    pub fn error(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            severity: Severity::Error,
            path: path.into(),
            message: message.into(),
        }
    }

    /// A warning at `path`.
    pub fn warning(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            severity: Severity::Warning,
            path: path.into(),
            message: message.into(),
        }
    }

    /// Whether this stops the node from starting.
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

impl fmt::Display for Problem {
    /// `error: channels[1].cor.gpio.line: line 20 on gpiochip0 is already used by …`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            write!(f, "{}: {}", self.severity, self.message)
        } else {
            write!(f, "{}: {}: {}", self.severity, self.path, self.message)
        }
    }
}

/// Collects problems during validation.
#[derive(Debug, Default)]
pub(crate) struct Problems {
    list: Vec<Problem>,
}

impl Problems {
    pub(crate) fn error(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.list.push(Problem::error(path, message));
    }

    pub(crate) fn warning(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.list.push(Problem::warning(path, message));
    }

    /// Whether an error was already reported at `path` or inside it.
    pub(crate) fn has_error_at(&self, path: &str) -> bool {
        self.list.iter().any(|p| {
            p.is_error()
                && (p.path == path
                    || p.path
                        .strip_prefix(path)
                        .is_some_and(|rest| rest.starts_with('.')))
        })
    }

    pub(crate) fn into_vec(self) -> Vec<Problem> {
        self.list
    }
}
