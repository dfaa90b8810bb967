//! The one error type of the outbox.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use super::{ConsumerId, MAX_PAYLOAD_LEN};

/// The file-system step that failed, named in [`OutboxError::Io`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FileOp {
    /// Creating the folder.
    CreateFolder,
    /// Opening or listing the folder.
    ListFolder,
    /// `fsync` of the folder after a file was created, renamed or removed.
    SyncFolder,
    /// Opening or taking the lock file.
    Lock,
    /// Creating a file.
    Create,
    /// Opening a file.
    Open,
    /// Reading a file.
    Read,
    /// Writing a file.
    Write,
    /// `fsync` / `fdatasync` of a file.
    Sync,
    /// Cutting a file back to its last whole record.
    Truncate,
    /// Renaming a rewritten file to its name.
    Rename,
    /// Removing a file.
    Remove,
}

impl FileOp {
    /// The step as a verb, for messages: "cannot {verb} it".
    pub fn verb(self) -> &'static str {
        match self {
            FileOp::CreateFolder | FileOp::Create => "create",
            FileOp::ListFolder => "list",
            FileOp::SyncFolder | FileOp::Sync => "fsync",
            FileOp::Lock => "lock",
            FileOp::Open => "open",
            FileOp::Read => "read",
            FileOp::Write => "write",
            FileOp::Truncate => "truncate",
            FileOp::Rename => "rename",
            FileOp::Remove => "remove",
        }
    }

    /// Whether the path is the folder rather than a file in it.
    fn is_folder(self) -> bool {
        matches!(
            self,
            FileOp::CreateFolder | FileOp::ListFolder | FileOp::SyncFolder
        )
    }

    /// What the user should look at.
    fn advice(self) -> &'static str {
        match self {
            FileOp::CreateFolder | FileOp::ListFolder | FileOp::Lock | FileOp::Create => {
                "check that the folder exists and is writable by this user"
            }
            FileOp::Open | FileOp::Read => "check the file's permissions and the disk",
            FileOp::Write | FileOp::Sync | FileOp::SyncFolder | FileOp::Truncate => {
                "check that the disk has space and is not failing"
            }
            FileOp::Rename | FileOp::Remove => "check that the folder is writable by this user",
        }
    }
}

impl fmt::Display for FileOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.verb())
    }
}

/// Why the outbox could not open, take an entry or move a cursor.
#[derive(Debug, thiserror::Error)]
pub enum OutboxError {
    /// The file system refused a step.
    #[error(
        "outbox {} {}: cannot {op} it: {source}; {}",
        if op.is_folder() { "folder" } else { "file" },
        path.display(),
        op.advice()
    )]
    Io {
        /// The step.
        op: FileOp,
        /// The folder or file.
        path: PathBuf,
        /// What the OS said.
        source: io::Error,
    },
    /// Another process (or another `Outbox` in this one) has the folder.
    #[error(
        "outbox folder {}: another process is using it; stop it, or give each its own folder",
        path.display()
    )]
    Busy {
        /// The folder.
        path: PathBuf,
    },
    /// A number of [`OutboxConfig`](super::OutboxConfig) is out of range.
    #[error("outbox {field} {value}: {reason}")]
    Config {
        /// The field.
        field: &'static str,
        /// Its value.
        value: u64,
        /// The range it must be in.
        reason: &'static str,
    },
    /// A consumer cannot be registered.
    #[error("outbox consumer `{name}`: {reason}")]
    Consumer {
        /// The name given.
        name: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// The payload is over [`MAX_PAYLOAD_LEN`].
    #[error("outbox entry of {len} bytes: one entry holds at most {MAX_PAYLOAD_LEN} bytes")]
    TooLong {
        /// The payload's length.
        len: usize,
    },
    /// The kind is not one this version writes.
    #[error("outbox entry kind {0}: not a kind this version writes")]
    UnknownKind(u8),
    /// The consumer id is not one of this outbox's.
    #[error("outbox consumer #{}: not one of this outbox's consumers", .0.0)]
    NoConsumer(ConsumerId),
}

impl OutboxError {
    /// The step that failed, for an I/O error.
    pub fn op(&self) -> Option<FileOp> {
        match self {
            OutboxError::Io { op, .. } => Some(*op),
            _ => None,
        }
    }

    /// Whether the disk (or the user's quota) is full: `ENOSPC` or
    /// `EDQUOT`.
    pub fn is_disk_full(&self) -> bool {
        match self {
            OutboxError::Io { source, .. } => {
                matches!(source.raw_os_error(), Some(libc::ENOSPC | libc::EDQUOT))
                    || source.kind() == io::ErrorKind::StorageFull
            }
            _ => false,
        }
    }
}

/// A `map_err` adapter: the I/O error of `op` on `path`.
pub(super) fn io_err(op: FileOp, path: &Path) -> impl FnOnce(io::Error) -> OutboxError + '_ {
    move |source| OutboxError::Io {
        op,
        path: path.to_owned(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_folder_the_step_and_what_to_check() {
        let err = OutboxError::Io {
            op: FileOp::CreateFolder,
            path: PathBuf::from("/var/lib/echostream/outbox"),
            source: io::Error::from_raw_os_error(libc::EACCES),
        };
        let text = err.to_string();
        assert!(
            text.starts_with("outbox folder /var/lib/echostream/outbox: cannot create it: "),
            "{text}"
        );
        assert!(text.ends_with("check that the folder exists and is writable by this user"));
        let full = OutboxError::Io {
            op: FileOp::Write,
            path: PathBuf::from("/o/00000000000000000001.seg"),
            source: io::Error::from_raw_os_error(libc::ENOSPC),
        };
        assert!(full.is_disk_full());
        assert!(
            full.to_string()
                .starts_with("outbox file /o/00000000000000000001.seg: cannot write it: ")
        );
        assert!(!err.is_disk_full());
        assert_eq!(full.op(), Some(FileOp::Write));
    }
}
