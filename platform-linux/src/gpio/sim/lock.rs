//! One holder per simulated line, across processes: an exclusive `flock`
//! on `<line>.lock`, which the kernel drops when the holder's file closes
//! (the handle is dropped or the process dies, even by SIGKILL).

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::fd::AsRawFd;
use std::path::PathBuf;

use crate::gpio::{GpioError, GpioOp, LineId};

/// A held simulated line. Released when dropped.
#[derive(Debug)]
pub(super) struct LineLock {
    _file: File,
}

impl LineLock {
    /// Takes the line for `holder` (written into the lock file, so that a
    /// second requester's error can name it).
    ///
    /// # Errors
    ///
    /// [`GpioError::Busy`] if any open file description holds the lock,
    /// in this process or another; what opening the lock file says
    /// otherwise.
    pub(super) fn take(line: &LineId, path: PathBuf, holder: &str) -> Result<Self, GpioError> {
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|error| GpioError::from_os(line, path.clone(), GpioOp::Request, error))?;
        // SAFETY: flock only reads the fd, which `file` keeps open for the
        // duration of the call.
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if rc != 0 {
            let error = io::Error::last_os_error();
            if error.raw_os_error() == Some(libc::EWOULDBLOCK) {
                // Empty while the holder is between taking the lock and
                // writing its name: then it is "another user".
                let holder = fs::read_to_string(&path)
                    .ok()
                    .map(|text| text.trim().to_owned())
                    .filter(|text| !text.is_empty());
                return Err(GpioError::Busy {
                    line: line.clone(),
                    holder,
                });
            }
            return Err(GpioError::from_os(line, path, GpioOp::Request, error));
        }
        let named = file
            .set_len(0)
            .and_then(|()| writeln!(file, "{holder} (pid {})", std::process::id()));
        if let Err(error) = named {
            return Err(GpioError::from_os(line, path, GpioOp::Request, error));
        }
        Ok(Self { _file: file })
    }
}
