//! The one error type of the recording files.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use super::Format;
use crate::opus::OpusError;

/// The file-system step that failed, named in [`RecordingError::Io`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FileOp {
    /// Creating the temporary file.
    Create,
    /// Writing samples, a header or a page (includes flushing a buffer).
    Write,
    /// Reading a leftover file back.
    Read,
    /// `fsync` of the file or of its folder.
    Fsync,
    /// Renaming the temporary file to its final name.
    Rename,
    /// Removing a temporary file.
    Remove,
    /// Listing the folder for leftovers.
    List,
}

impl FileOp {
    /// The step as a word, for logs and events.
    pub fn name(self) -> &'static str {
        match self {
            FileOp::Create => "create",
            FileOp::Write => "write",
            FileOp::Read => "read",
            FileOp::Fsync => "fsync",
            FileOp::Rename => "rename",
            FileOp::Remove => "remove",
            FileOp::List => "list",
        }
    }
}

impl fmt::Display for FileOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a recording file could not be created, written, finished or
/// recovered. Each names the file (or folder) at fault.
#[derive(Debug, thiserror::Error)]
pub enum RecordingError {
    /// The file system refused a step.
    #[error("{op} `{}`: {source}", path.display())]
    Io {
        /// The step.
        op: FileOp,
        /// The file or folder it was applied to (for a rename, the
        /// temporary file).
        path: PathBuf,
        /// What the OS said.
        source: io::Error,
    },
    /// The name cannot be a file name in the folder.
    #[error("recording name `{name}`: {reason}")]
    Name {
        /// The name given.
        name: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The format cannot be written at this rate.
    #[error("{format} recording at {rate_hz} Hz: {}", match format {
        Format::Opus => "Opus takes 8000, 12000, 16000, 24000 or 48000 Hz",
        Format::Wav => "WAV takes 1 to 384000 Hz",
    })]
    SampleRate {
        /// The format asked for.
        format: Format,
        /// The rate asked for.
        rate_hz: u32,
    },
    /// The Opus encoder refused its settings or a frame.
    #[error("Opus encoder for `{}`: {source}", path.display())]
    Opus {
        /// The temporary file being written.
        path: PathBuf,
        /// What libopus (or the wrapper) said.
        source: OpusError,
    },
    /// A WAV file's 32-bit sizes cannot count more samples (about 12 hours
    /// at 48 kHz).
    #[error("`{}`: a WAV file holds at most {max_samples} samples", path.display())]
    TooLong {
        /// The temporary file being written.
        path: PathBuf,
        /// The most samples the file can hold.
        max_samples: u64,
    },
}

impl RecordingError {
    /// The step that failed, for an I/O error.
    pub fn op(&self) -> Option<FileOp> {
        match self {
            RecordingError::Io { op, .. } => Some(*op),
            _ => None,
        }
    }

    /// Whether the disk (or the user's quota) is full: `ENOSPC` or
    /// `EDQUOT`. Such a recording is lost, and the next will be too until
    /// space is freed.
    pub fn is_disk_full(&self) -> bool {
        match self {
            RecordingError::Io { source, .. } => {
                matches!(source.raw_os_error(), Some(libc::ENOSPC | libc::EDQUOT))
                    || source.kind() == io::ErrorKind::StorageFull
            }
            _ => false,
        }
    }
}

/// A `map_err` adapter: the I/O error of `op` on `path`.
pub(super) fn io_err(op: FileOp, path: &Path) -> impl FnOnce(io::Error) -> RecordingError + '_ {
    move |source| RecordingError::Io {
        op,
        path: path.to_owned(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disk_full_is_enospc_or_edquot_only() {
        let at = |errno| RecordingError::Io {
            op: FileOp::Write,
            path: PathBuf::from("/rec/.a.wav.part"),
            source: io::Error::from_raw_os_error(errno),
        };
        assert!(at(libc::ENOSPC).is_disk_full());
        assert!(at(libc::EDQUOT).is_disk_full());
        assert!(!at(libc::EIO).is_disk_full());
        assert!(!at(libc::EACCES).is_disk_full());
        let rate = RecordingError::SampleRate {
            format: Format::Opus,
            rate_hz: 44_100,
        };
        assert!(!rate.is_disk_full());
    }

    #[test]
    fn messages_name_the_step_and_the_file() {
        let err = RecordingError::Io {
            op: FileOp::Fsync,
            path: PathBuf::from("/rec/.a.opus.part"),
            source: io::Error::from_raw_os_error(libc::EIO),
        };
        let text = err.to_string();
        assert!(text.starts_with("fsync `/rec/.a.opus.part`: "), "{text}");
        assert_eq!(err.op(), Some(FileOp::Fsync));
        let rate = RecordingError::SampleRate {
            format: Format::Opus,
            rate_hz: 44_100,
        };
        assert_eq!(
            rate.to_string(),
            "opus recording at 44100 Hz: Opus takes 8000, 12000, 16000, 24000 or 48000 Hz"
        );
    }
}
