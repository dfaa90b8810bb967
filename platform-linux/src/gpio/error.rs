//! Why a GPIO line could not be had or used: typed, and each naming the
//! chip and the line, so that a start-up failure tells a radio tech which
//! wire to look at.

use std::fmt;
use std::io;
use std::path::PathBuf;

use super::LineId;

/// A GPIO line request, read or write that failed.
///
/// Every variant names the line (`gpiochip0 line 20`); the runtime adds
/// the channel (`channels[0].ptt: gpiochip0 line 21: busy, held by …`).
#[derive(Debug, thiserror::Error)]
pub enum GpioError {
    /// No chip at that path (`/dev/gpiochip99`, or the simulated chip's
    /// folder).
    #[error("{line}: no GPIO chip at {}", path.display())]
    ChipMissing {
        /// The line asked for.
        line: LineId,
        /// Where the chip was looked for.
        path: PathBuf,
    },
    /// Something is at that path, but it is not a GPIO chip.
    #[error("{line}: {} is not a GPIO chip", path.display())]
    NotAChip {
        /// The line asked for.
        line: LineId,
        /// What was opened.
        path: PathBuf,
    },
    /// The chip has fewer lines than the offset asked for.
    #[error("{line}: no such line, the chip has {lines} lines")]
    LineOutOfRange {
        /// The line asked for.
        line: LineId,
        /// How many lines the chip has (offsets `0..lines`).
        lines: u32,
    },
    /// Another process, or another request of this one, holds the line
    /// (the kernel's `EBUSY`).
    #[error("{line}: busy, held by {}", holder.as_deref().unwrap_or("another user"))]
    Busy {
        /// The line asked for.
        line: LineId,
        /// The holder's consumer label, when the chip tells it.
        holder: Option<String>,
    },
    /// The chip (or the simulated chip's files) may not be opened by this
    /// user (`EACCES`/`EPERM`; on a Pi, add the user to the `gpio` group).
    #[error("{line}: permission denied on {}", path.display())]
    PermissionDenied {
        /// The line asked for.
        line: LineId,
        /// What could not be opened.
        path: PathBuf,
    },
    /// Any other failure of the system call behind `op`.
    #[error("{line}: {op}: {source}")]
    Io {
        /// The line concerned.
        line: LineId,
        /// What was being done.
        op: GpioOp,
        /// What the system said.
        #[source]
        source: io::Error,
    },
}

/// [`GpioError`] without its data: for matching, tests and counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GpioErrorKind {
    /// [`GpioError::ChipMissing`].
    ChipMissing,
    /// [`GpioError::NotAChip`].
    NotAChip,
    /// [`GpioError::LineOutOfRange`].
    LineOutOfRange,
    /// [`GpioError::Busy`].
    Busy,
    /// [`GpioError::PermissionDenied`].
    PermissionDenied,
    /// [`GpioError::Io`].
    Io,
}

/// What a GPIO backend was doing when a system call failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GpioOp {
    /// Opening the chip.
    OpenChip,
    /// Requesting the line from the chip.
    Request,
    /// Reading edge events (or their wake-ups).
    ReadEvents,
    /// Reading the line's level.
    ReadValue,
    /// Driving the line.
    SetValue,
}

impl GpioError {
    /// The line the error is about.
    pub fn line(&self) -> &LineId {
        match self {
            GpioError::ChipMissing { line, .. }
            | GpioError::NotAChip { line, .. }
            | GpioError::LineOutOfRange { line, .. }
            | GpioError::Busy { line, .. }
            | GpioError::PermissionDenied { line, .. }
            | GpioError::Io { line, .. } => line,
        }
    }

    /// The error's kind.
    pub fn kind(&self) -> GpioErrorKind {
        match self {
            GpioError::ChipMissing { .. } => GpioErrorKind::ChipMissing,
            GpioError::NotAChip { .. } => GpioErrorKind::NotAChip,
            GpioError::LineOutOfRange { .. } => GpioErrorKind::LineOutOfRange,
            GpioError::Busy { .. } => GpioErrorKind::Busy,
            GpioError::PermissionDenied { .. } => GpioErrorKind::PermissionDenied,
            GpioError::Io { .. } => GpioErrorKind::Io,
        }
    }

    /// Sorts a failed system call on `path` by its errno: `ENOENT` (and
    /// `ENODEV`/`ENXIO`, a chip whose driver went away) is a missing chip,
    /// `EACCES`/`EPERM` a refused one, `EBUSY` a held line; the rest stay
    /// [`GpioError::Io`].
    pub(crate) fn from_os(line: &LineId, path: PathBuf, op: GpioOp, source: io::Error) -> Self {
        let line = line.clone();
        match source.raw_os_error() {
            Some(libc::ENOENT | libc::ENODEV | libc::ENXIO) if op == GpioOp::OpenChip => {
                GpioError::ChipMissing { line, path }
            }
            Some(libc::EACCES | libc::EPERM) => GpioError::PermissionDenied { line, path },
            Some(libc::EBUSY) => GpioError::Busy { line, holder: None },
            _ => GpioError::Io { line, op, source },
        }
    }
}

impl fmt::Display for GpioOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            GpioOp::OpenChip => "opening the chip",
            GpioOp::Request => "requesting the line",
            GpioOp::ReadEvents => "reading edge events",
            GpioOp::ReadValue => "reading the level",
            GpioOp::SetValue => "driving the line",
        })
    }
}

/// Lets core's pin drivers take these lines: every GPIO failure is
/// `Other` to embedded-hal, which has no finer kinds for digital pins.
impl embedded_hal::digital::Error for GpioError {
    fn kind(&self) -> embedded_hal::digital::ErrorKind {
        embedded_hal::digital::ErrorKind::Other
    }
}
