//! The simulated chip's COR inputs (a file watched with inotify) and PTT
//! outputs (a file replaced atomically, every drive logged).

use std::ffi::OsString;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::fd::{AsRawFd, RawFd};
use std::path::PathBuf;

use inotify::{EventMask, Inotify, WatchMask};

use super::lock::LineLock;
use crate::config::{Bias, Polarity};
use crate::gpio::{
    CorEdge, CorSource, GpioError, GpioOp, Level, LineId, PttSink, monotonic_now_ns,
};

/// Bytes of inotify events taken per `read(2)`: a few dozen events.
const INOTIFY_BUFFER_LEN: usize = 4096;

/// `read(2)`s of the inotify fd per [`CorSource::read_edges`] call. The
/// kernel's queue (16384 events by default) fits in about 130 of them;
/// a writer faster than that is left for the next wake-up, which its
/// next write brings.
const INOTIFY_READS_MAX: usize = 256;

/// What on a chip folder means a line file may have changed: written and
/// closed (`echo 1 > 20`), renamed into place, or removed (the line
/// floats).
const WATCH: WatchMask = WatchMask::CLOSE_WRITE
    .union(WatchMask::MOVED_TO)
    .union(WatchMask::MOVED_FROM)
    .union(WatchMask::DELETE);

/// A simulated COR input.
#[derive(Debug)]
pub(super) struct SimCor {
    id: LineId,
    /// The line's file.
    path: PathBuf,
    /// Its name in the chip folder, to pick its events out.
    name: OsString,
    polarity: Polarity,
    bias: Bias,
    inotify: Inotify,
    buffer: Box<[u8; INOTIFY_BUFFER_LEN]>,
    /// The level last reported.
    level: Level,
    lost: u64,
    /// `None` for a watch, which does not hold the line.
    _lock: Option<LineLock>,
}

/// A simulated PTT output.
#[derive(Debug)]
pub(super) struct SimPtt {
    id: LineId,
    /// The line's file.
    path: PathBuf,
    /// Written, then renamed over `path`.
    temp: PathBuf,
    /// `<line>.log`, opened for appending.
    log: File,
    polarity: Polarity,
    _lock: LineLock,
}

impl SimCor {
    /// Watches the chip folder, then reads the level edges start from
    /// (in that order, so that no change falls between the two).
    pub(super) fn new(
        id: &LineId,
        path: PathBuf,
        polarity: Polarity,
        bias: Bias,
        lock: Option<LineLock>,
    ) -> Result<Self, GpioError> {
        let request_error = |error| GpioError::from_os(id, path.clone(), GpioOp::Request, error);
        let folder = path
            .parent()
            .expect("a line file is inside its chip folder");
        let name = path.file_name().expect("a line file has a name").to_owned();
        let inotify = Inotify::init().map_err(request_error)?;
        inotify
            .watches()
            .add(folder, WATCH)
            .map_err(request_error)?;
        let level = read_line_file(id, &path, bias)?.unwrap_or(Level::Low);
        Ok(Self {
            id: id.clone(),
            name,
            path,
            polarity,
            bias,
            inotify,
            buffer: Box::new([0; INOTIFY_BUFFER_LEN]),
            level,
            lost: 0,
            _lock: lock,
        })
    }

    /// Drains the inotify fd; whether any event was about this line's
    /// file (or the queue overflowed, which may have hidden one).
    fn drain(&mut self) -> Result<bool, GpioError> {
        let mut touched = false;
        for _ in 0..INOTIFY_READS_MAX {
            let events = match self.inotify.read_events(&mut self.buffer[..]) {
                Ok(events) => events,
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => break,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
                Err(source) => {
                    return Err(GpioError::Io {
                        line: self.id.clone(),
                        op: GpioOp::ReadEvents,
                        source,
                    });
                }
            };
            for event in events {
                if event.mask.contains(EventMask::Q_OVERFLOW) {
                    self.lost += 1;
                    touched = true;
                } else if event.name == Some(self.name.as_os_str()) {
                    touched = true;
                }
            }
        }
        Ok(touched)
    }
}

impl CorSource for SimCor {
    /// At most one edge per call: the file holds a level, not a history,
    /// so writes between two reads collapse into the last one (as a
    /// debounce would).
    fn read_edges(&mut self, out: &mut [CorEdge]) -> Result<usize, GpioError> {
        let Some(slot) = out.first_mut() else {
            return Ok(0);
        };
        if !self.drain()? {
            return Ok(0);
        }
        // A file caught mid-write (`echo` truncates, then writes) keeps
        // the last level; its close brings another event.
        let Some(level) = read_line_file(&self.id, &self.path, self.bias)? else {
            return Ok(0);
        };
        if level == self.level {
            return Ok(0);
        }
        self.level = level;
        *slot = CorEdge {
            active: level.is_active(self.polarity),
            time_ns: monotonic_now_ns(),
        };
        Ok(1)
    }

    fn is_active(&mut self) -> Result<bool, GpioError> {
        let level = read_line_file(&self.id, &self.path, self.bias)?.unwrap_or(self.level);
        Ok(level.is_active(self.polarity))
    }

    fn lost_edges(&self) -> u64 {
        self.lost
    }
}

impl AsRawFd for SimCor {
    fn as_raw_fd(&self) -> RawFd {
        self.inotify.as_raw_fd()
    }
}

impl SimPtt {
    /// Opens the log and drives the inactive level.
    pub(super) fn new(
        id: &LineId,
        path: PathBuf,
        log_path: PathBuf,
        polarity: Polarity,
        lock: LineLock,
    ) -> Result<Self, GpioError> {
        let log = OpenOptions::new()
            .append(true)
            .create(true)
            .open(&log_path)
            .map_err(|error| GpioError::from_os(id, log_path.clone(), GpioOp::Request, error))?;
        let mut temp_name = OsString::from(".");
        temp_name.push(path.file_name().expect("a line file has a name"));
        temp_name.push(".tmp");
        let mut ptt = Self {
            id: id.clone(),
            temp: path.with_file_name(temp_name),
            path,
            log,
            polarity,
            _lock: lock,
        };
        ptt.set_active(false)?;
        Ok(ptt)
    }
}

impl PttSink for SimPtt {
    /// Replaces the line's file (temp file, then rename: a reader sees
    /// the old level or the new one, never an empty file), then appends
    /// `<monotonic_ns> <0|1>` to the log, stamped once the new level is
    /// visible.
    fn set_active(&mut self, active: bool) -> Result<(), GpioError> {
        let digit = Level::of(active, self.polarity).digit();
        let set_error = |path: &PathBuf, error| {
            GpioError::from_os(&self.id, path.clone(), GpioOp::SetValue, error)
        };
        fs::write(&self.temp, [digit as u8, b'\n']).map_err(|e| set_error(&self.temp, e))?;
        fs::rename(&self.temp, &self.path).map_err(|e| set_error(&self.path, e))?;
        let time_ns = monotonic_now_ns();
        // One write(2) on an O_APPEND file: lines from a later holder
        // never interleave with it.
        let mut line = [0u8; 32];
        let mut cursor = io::Cursor::new(&mut line[..]);
        writeln!(cursor, "{time_ns} {digit}").expect("a u64 and a digit fit in 32 bytes");
        let len = cursor.position() as usize;
        self.log
            .write_all(&line[..len])
            .map_err(|e| set_error(&self.path, e))
    }

    fn release_handle(&self) -> Box<dyn Fn() + Send + Sync> {
        let digit = Level::of(false, self.polarity).digit();
        let (path, log) = (self.path.clone(), self.log.try_clone().ok());
        Box::new(move || {
            let _ = fs::write(&path, [digit as u8, b'\n']);
            if let Some(mut log) = log.as_ref() {
                let _ = writeln!(log, "{} {digit}", monotonic_now_ns());
            }
        })
    }
}

/// The level in a line's file: `None` while it is empty (being written);
/// the bias's level when it does not exist (a floating line: high with a
/// pull-up, low otherwise).
pub(super) fn read_line_file(
    id: &LineId,
    path: &PathBuf,
    bias: Bias,
) -> Result<Option<Level>, GpioError> {
    let text = match fs::read(path) {
        Ok(text) => text,
        Err(error) if error.kind() == io::ErrorKind::NotFound => {
            return Ok(Some(if bias == Bias::PullUp {
                Level::High
            } else {
                Level::Low
            }));
        }
        Err(error) => {
            return Err(GpioError::from_os(
                id,
                path.clone(),
                GpioOp::ReadValue,
                error,
            ));
        }
    };
    match text.trim_ascii() {
        b"" => Ok(None),
        b"0" => Ok(Some(Level::Low)),
        b"1" => Ok(Some(Level::High)),
        _ => Err(GpioError::Io {
            line: id.clone(),
            op: GpioOp::ReadValue,
            source: io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{} holds neither 0 nor 1", path.display()),
            ),
        }),
    }
}
