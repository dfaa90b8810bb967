//! A simulated GPIO chip in a folder, usable across processes: a node
//! reads COR and drives PTT through it while a test or a demo drives COR
//! and watches PTT with nothing but files.
//!
//! ```text
//! sim-gpio/                 the backend's root (`sim:./sim-gpio`)
//!   gpiochip0/              a chip: a folder named as the config names it
//!     ngpio                 its line count (optional; default 64)
//!     20                    line 20's physical level: `0` or `1`
//!     21
//!     21.log                every drive of an output: `<monotonic_ns> <0|1>`
//!     20.lock  21.lock      held lines (flock), with the holder's name
//! ```
//!
//! Levels are physical: an `active_low` PTT writes `1` when released.
//! Inputs: the chip folder is watched with inotify, whose fd goes in the
//! mio loop like a real line's; a missing line file floats to its bias
//! (high with `pull_up`, else low). Any process may write an input, with
//! `echo 1 > sim-gpio/gpiochip0/20` or [`SimGpio::set_level`]. Outputs
//! are replaced atomically (temp file, rename) and every drive is
//! appended to `<line>.log` with a `CLOCK_MONOTONIC` timestamp (the clock
//! of [`monotonic_now_ns`](super::monotonic_now_ns) and of the kernel's
//! edge events, shared by every process), so a test can measure when PTT
//! went active. The log is never truncated: it spans restarts of the node.
//! A line has one holder at a time, across processes: a second request
//! fails with [`GpioError::Busy`] naming the holder.
//!
//! Not simulated: kernel debounce (writes between two reads collapse to
//! the last one), open drain, and permissions beyond those of the files.

mod lines;
mod lock;
#[cfg(test)]
mod tests;

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use self::lines::{SimCor, SimPtt, read_line_file};
use self::lock::LineLock;
use super::{
    CorLine, GpioBackend, GpioError, GpioOp, InputConfig, Level, LineId, OutputConfig, PttLine,
};
use crate::config::{Bias, Polarity};

/// Lines on a simulated chip without an `ngpio` file: enough for a
/// Raspberry Pi header's 54.
pub const SIM_LINES_DEFAULT: u32 = 64;

/// The simulated chip backend over a root folder (see the module docs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimGpio {
    root: PathBuf,
}

/// One line of an output's `<line>.log`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SimDrive {
    /// When the level became visible, on `CLOCK_MONOTONIC`.
    pub time_ns: u64,
    /// The physical level driven.
    pub level: Level,
}

impl SimGpio {
    /// The chips under `root`. Touches nothing: chips are looked for at
    /// each request.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// The root folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Creates chip `chip` with `lines` lines (for tests and demos; an
    /// existing chip keeps its line files).
    ///
    /// # Errors
    ///
    /// What creating the folder or writing `ngpio` says.
    pub fn create_chip(&self, chip: &str, lines: u32) -> io::Result<PathBuf> {
        let folder = self.root.join(chip_file_name(chip));
        fs::create_dir_all(&folder)?;
        fs::write(folder.join("ngpio"), format!("{lines}\n"))?;
        Ok(folder)
    }

    /// Sets a line's level the way another process would: written to a
    /// temp file and renamed into place. For driving a COR input.
    ///
    /// # Errors
    ///
    /// What writing or renaming says (the chip folder must exist).
    pub fn set_level(&self, line: &LineId, level: Level) -> io::Result<()> {
        let path = self.line_path(line);
        let temp = path.with_file_name(format!(".{}.set.{}", line.line, std::process::id()));
        fs::write(&temp, [level.digit() as u8, b'\n'])?;
        fs::rename(&temp, &path)
    }

    /// The level in a line's file, `None` if it has none (yet), without
    /// taking the line: for watching a PTT another process drives.
    ///
    /// # Errors
    ///
    /// The file cannot be read or holds neither `0` nor `1`.
    pub fn level(&self, line: &LineId) -> io::Result<Option<Level>> {
        match fs::read(self.line_path(line)) {
            Ok(text) => match text.trim_ascii() {
                b"0" => Ok(Some(Level::Low)),
                b"1" => Ok(Some(Level::High)),
                b"" => Ok(None),
                _ => Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("{line} holds neither 0 nor 1"),
                )),
            },
            Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(error) => Err(error),
        }
    }

    /// Every drive of an output so far, oldest first (empty if it was
    /// never requested).
    ///
    /// # Errors
    ///
    /// The log cannot be read, or a line of it is not `<ns> <0|1>`.
    pub fn drives(&self, line: &LineId) -> io::Result<Vec<SimDrive>> {
        let text = match fs::read_to_string(self.log_path(line)) {
            Ok(text) => text,
            Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(error) => return Err(error),
        };
        text.lines().map(|entry| parse_drive(line, entry)).collect()
    }

    /// Watches a line without taking it: a COR-like handle whose edges
    /// are the drives of a PTT another process (a node under test) holds.
    /// Edges are the line's levels read as `polarity`; the file floats
    /// low while it does not exist.
    ///
    /// # Errors
    ///
    /// The chip is missing or not a folder, the line out of range, or
    /// inotify refused.
    pub fn watch(&self, line: &LineId, polarity: Polarity) -> Result<CorLine, GpioError> {
        self.check(line)?;
        let cor = SimCor::new(line, self.line_path(line), polarity, Bias::AsIs, None)?;
        Ok(CorLine::new(line.clone(), Box::new(cor)))
    }

    /// The file holding a line's level.
    pub fn line_path(&self, line: &LineId) -> PathBuf {
        self.chip_folder(line).join(line.line.to_string())
    }

    /// The log of an output line's drives.
    pub fn log_path(&self, line: &LineId) -> PathBuf {
        self.chip_folder(line).join(format!("{}.log", line.line))
    }

    fn lock_path(&self, line: &LineId) -> PathBuf {
        self.chip_folder(line).join(format!("{}.lock", line.line))
    }

    fn chip_folder(&self, line: &LineId) -> PathBuf {
        self.root.join(chip_file_name(&line.chip))
    }

    /// Checks the chip folder and the offset, then takes the line.
    fn take(&self, line: &LineId, consumer: &str) -> Result<LineLock, GpioError> {
        self.check(line)?;
        LineLock::take(line, self.lock_path(line), consumer)
    }

    /// Checks that the chip folder exists and has the line.
    fn check(&self, line: &LineId) -> Result<(), GpioError> {
        let folder = self.chip_folder(line);
        match fs::metadata(&folder) {
            Ok(meta) if meta.is_dir() => {}
            Ok(_) => {
                return Err(GpioError::NotAChip {
                    line: line.clone(),
                    path: folder,
                });
            }
            Err(error) => return Err(GpioError::from_os(line, folder, GpioOp::OpenChip, error)),
        }
        let lines = chip_lines(line, &folder.join("ngpio"))?;
        if line.line >= lines {
            return Err(GpioError::LineOutOfRange {
                line: line.clone(),
                lines,
            });
        }
        Ok(())
    }
}

impl GpioBackend for SimGpio {
    fn request_cor(&self, config: &InputConfig) -> Result<CorLine, GpioError> {
        let lock = self.take(&config.id, &config.consumer)?;
        let cor = SimCor::new(
            &config.id,
            self.line_path(&config.id),
            config.polarity,
            config.bias,
            Some(lock),
        )?;
        Ok(CorLine::new(config.id.clone(), Box::new(cor)))
    }

    fn request_ptt(&self, config: &OutputConfig) -> Result<PttLine, GpioError> {
        let lock = self.take(&config.id, &config.consumer)?;
        let ptt = SimPtt::new(
            &config.id,
            self.line_path(&config.id),
            self.log_path(&config.id),
            config.polarity,
            lock,
        )?;
        Ok(PttLine::new(config.id.clone(), Box::new(ptt)))
    }

    /// Takes the line for the read, as the kernel would: a held line is
    /// busy. A line with no file reads low.
    fn read_level(&self, line: &LineId) -> Result<Level, GpioError> {
        let _lock = self.take(line, "echostream-read")?;
        Ok(read_line_file(line, &self.line_path(line), Bias::AsIs)?.unwrap_or(Level::Low))
    }
}

/// `gpiochip0` and `/dev/gpiochip0` are folder `gpiochip0`; nothing a
/// config says leaves the root.
fn chip_file_name(chip: &str) -> &Path {
    Path::new(chip)
        .file_name()
        .map_or(Path::new("invalid-chip-name"), Path::new)
}

/// The chip's `ngpio`, or [`SIM_LINES_DEFAULT`] without one.
fn chip_lines(line: &LineId, path: &Path) -> Result<u32, GpioError> {
    let text = match fs::read_to_string(path) {
        Ok(text) => text,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(SIM_LINES_DEFAULT),
        Err(error) => {
            return Err(GpioError::from_os(
                line,
                path.to_path_buf(),
                GpioOp::OpenChip,
                error,
            ));
        }
    };
    text.trim().parse().map_err(|_| GpioError::Io {
        line: line.clone(),
        op: GpioOp::OpenChip,
        source: io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{} is not a line count", path.display()),
        ),
    })
}

fn parse_drive(line: &LineId, entry: &str) -> io::Result<SimDrive> {
    let bad = || {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{line} log: `{entry}` is not `<ns> <0|1>`"),
        )
    };
    let (time, level) = entry.split_once(' ').ok_or_else(bad)?;
    Ok(SimDrive {
        time_ns: time.parse().map_err(|_| bad())?,
        level: match level {
            "0" => Level::Low,
            "1" => Level::High,
            _ => return Err(bad()),
        },
    })
}
