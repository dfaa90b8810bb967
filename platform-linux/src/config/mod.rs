//! The configuration file: schema, defaults, loading and validation.
//!
//! One JSON file sets up a node (DESIGN.md "Configuration"). Unknown fields
//! are errors; every problem names its field path
//! (`channels[1].cor.gpio.line`) and the reason, and all of them are
//! reported at once. A node with any error exits with status 2 before it
//! touches hardware.
//!
//! - [`schema`], [`channel`], [`tones`]: the types, whose doc comments are
//!   the manual for each field;
//! - [`defaults`]: what a left-out field means;
//! - [`validate`]: the checks serde cannot express;
//! - [`refusal`]: core's refusals of config values, in the file's words;
//! - [`load_file`] / [`check`]: from a file or text to a checked config.

pub mod channel;
pub mod defaults;
mod load;
pub(crate) mod problem;
pub mod refusal;
mod repair;
pub mod schema;
pub mod tones;
pub mod validate;

#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};

pub use channel::{
    Bias, Channel, Cor, Device, Drive, Dtmf, GpioInput, GpioOutput, Polarity, Timers, Vox,
};
pub use load::{Report, check};
pub use problem::{Problem, Severity};
pub use schema::{
    AlertCommand, Audio, Config, LogFormat, LogLevel, Logging, Mqtt, Opus, OpusApplication, Outbox,
    Port, RecordingFormat, Recordings, Relay, RemoteRelay, S3, Webhook,
};
pub use tones::{HiLow, LongTone, Pulsed, ToneDefinition, TwoTone, Window};

/// A config that passed every check, with the warnings it drew.
#[derive(Debug)]
pub struct Loaded {
    /// The configuration.
    pub config: Config,
    /// Warnings: the node runs, but these are probably not what was meant.
    pub warnings: Vec<Problem>,
}

/// Why a config file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file could not be read at all.
    #[error("cannot read config file `{}`: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// The file was read and has at least one error.
    #[error("config file `{}` has {} error(s)", path.display(), problems.iter().filter(|p| p.is_error()).count())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// Every error and warning found.
        problems: Vec<Problem>,
        /// False when some checks could not run until the errors listed are
        /// fixed.
        complete: bool,
    },
}

/// Reads, parses and validates the config file at `path`.
///
/// # Errors
///
/// [`LoadError::Read`] if the file cannot be read (missing, unreadable, not
/// UTF-8); [`LoadError::Invalid`] with every problem if it has any error.
pub fn load_file(path: &Path) -> Result<Loaded, LoadError> {
    let text = std::fs::read_to_string(path).map_err(|source| LoadError::Read {
        path: path.to_owned(),
        source,
    })?;
    let report = check(&text);
    match report.config {
        Some(config) => Ok(Loaded {
            config,
            warnings: report.problems,
        }),
        None => Err(LoadError::Invalid {
            path: path.to_owned(),
            problems: report.problems,
            complete: report.complete,
        }),
    }
}
