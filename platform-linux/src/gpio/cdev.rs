//! Lines through the GPIO character device, uAPI v2 only (`gpiocdev`;
//! DESIGN.md "PTT and COR" says why not the v1 `gpio-cdev`).
//!
//! COR lines are edge-event requests with kernel debounce and bias; the
//! request's fd goes into the mio loop. Edges are timestamped by the
//! kernel on `CLOCK_MONOTONIC` (the uAPI's default event clock). PTT lines
//! are output requests whose initial value is the inactive one, so the
//! kernel never drives the keyed level at request time. Polarity is the
//! kernel's `ACTIVE_LOW` flag: values read and written are logical.

use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::path::{Path, PathBuf};
use std::time::Duration;

use gpiocdev::line::{EdgeDetection, EdgeKind, Value};
use gpiocdev::request::Builder;
use gpiocdev::{Chip, Request};

use super::{
    CorEdge, CorLine, CorSource, GpioBackend, GpioError, GpioOp, InputConfig, Level, LineId,
    OutputConfig, PttLine, PttSink,
};
use crate::config::{Bias, Drive, Polarity};

/// Edges taken from the kernel per `read(2)`; the buffer is allocated
/// with the request.
const EDGE_BATCH: usize = 16;

/// Edges the kernel keeps per COR line until they are read: a quarter of
/// a second of 1000 edges/s chatter on a loop that wakes on the first
/// (the kernel allows up to 1024).
const KERNEL_EDGES_MAX: u32 = 256;

/// The GPIO character device backend. Stateless: each request opens its
/// chip.
#[derive(Debug, Clone, Copy, Default)]
pub struct Gpiocdev;

#[derive(Debug)]
struct CdevCor {
    id: LineId,
    request: Request,
    /// Raw events as the kernel writes them, `EDGE_BATCH` at a time.
    words: Box<[u64]>,
    /// Words per event.
    event_words: usize,
    /// The kernel's sequence number of the last edge read on the line.
    last_seqno: u32,
    lost: u64,
}

#[derive(Debug)]
struct CdevPtt {
    id: LineId,
    /// Shared with the panic hook's release handle.
    request: std::sync::Arc<Request>,
}

impl GpioBackend for Gpiocdev {
    fn request_cor(&self, config: &InputConfig) -> Result<CorLine, GpioError> {
        let mut builder = cor_builder(config);
        let request = request(&config.id, &mut builder)?;
        let event_words = request.edge_event_u64_size();
        Ok(CorLine::new(
            config.id.clone(),
            Box::new(CdevCor {
                id: config.id.clone(),
                words: vec![0; event_words * EDGE_BATCH].into_boxed_slice(),
                event_words,
                request,
                last_seqno: 0,
                lost: 0,
            }),
        ))
    }

    fn request_ptt(&self, config: &OutputConfig) -> Result<PttLine, GpioError> {
        let mut builder = ptt_builder(config);
        let request = request(&config.id, &mut builder)?;
        Ok(PttLine::new(
            config.id.clone(),
            Box::new(CdevPtt {
                id: config.id.clone(),
                request: std::sync::Arc::new(request),
            }),
        ))
    }

    fn read_level(&self, line: &LineId) -> Result<Level, GpioError> {
        let mut builder = Request::builder();
        // Neither input nor output: the kernel leaves the direction (and
        // an output's level) alone.
        builder
            .with_consumer("echostream-read")
            .with_line(line.line)
            .as_is();
        let request = request(line, &mut builder)?;
        let value = request
            .lone_value()
            .map_err(|error| cdev_error(line, &request.chip_path(), GpioOp::ReadValue, error))?;
        Ok(match value {
            Value::Active => Level::High,
            Value::Inactive => Level::Low,
        })
    }
}

impl CorSource for CdevCor {
    fn read_edges(&mut self, out: &mut [CorEdge]) -> Result<usize, GpioError> {
        let mut count = 0;
        // Each pass reads at least one edge, so this ends within
        // `out.len()` passes.
        while count < out.len() {
            let pending = self.request.has_edge_event().map_err(|e| self.error(e))?;
            if !pending {
                break;
            }
            let want_words = (out.len() - count).min(EDGE_BATCH) * self.event_words;
            let words = self
                .request
                .read_edge_events_into_slice(&mut self.words[..want_words])
                .map_err(|e| self.error(e))?;
            if words == 0 {
                break;
            }
            for index in 0..words / self.event_words {
                let raw = &self.words[index * self.event_words..][..self.event_words];
                let event = self
                    .request
                    .edge_event_from_slice(raw)
                    .map_err(|e| self.error(e))?;
                // The kernel numbers each line's edges from 1; a gap is an
                // overflow of its event buffer.
                let expected = self.last_seqno.wrapping_add(1);
                self.lost += u64::from(event.line_seqno.wrapping_sub(expected));
                self.last_seqno = event.line_seqno;
                out[count] = CorEdge {
                    active: event.kind == EdgeKind::Rising,
                    time_ns: event.timestamp_ns,
                };
                count += 1;
            }
        }
        Ok(count)
    }

    fn is_active(&mut self) -> Result<bool, GpioError> {
        let value = self.request.lone_value().map_err(|error| {
            cdev_error(
                &self.id,
                &self.request.chip_path(),
                GpioOp::ReadValue,
                error,
            )
        })?;
        Ok(value == Value::Active)
    }

    fn lost_edges(&self) -> u64 {
        self.lost
    }
}

impl CdevCor {
    fn error(&self, error: gpiocdev::Error) -> GpioError {
        cdev_error(
            &self.id,
            &self.request.chip_path(),
            GpioOp::ReadEvents,
            error,
        )
    }
}

impl AsRawFd for CdevCor {
    fn as_raw_fd(&self) -> RawFd {
        self.request.as_raw_fd()
    }
}

impl PttSink for CdevPtt {
    fn set_active(&mut self, active: bool) -> Result<(), GpioError> {
        let value = if active {
            Value::Active
        } else {
            Value::Inactive
        };
        self.request.set_lone_value(value).map_err(|error| {
            cdev_error(&self.id, &self.request.chip_path(), GpioOp::SetValue, error)
        })
    }

    fn release_handle(&self) -> Box<dyn Fn() + Send + Sync> {
        let request = std::sync::Arc::clone(&self.request);
        Box::new(move || {
            let _ = request.set_lone_value(Value::Inactive);
        })
    }
}

/// A COR request: input, both edges, debounce, bias, polarity.
fn cor_builder(config: &InputConfig) -> Builder {
    let mut builder = Request::builder();
    builder
        .with_consumer(config.consumer.as_str())
        .with_kernel_event_buffer_size(KERNEL_EDGES_MAX)
        .with_line(config.id.line)
        .as_input()
        .with_edge_detection(EdgeDetection::BothEdges)
        .with_debounce_period(Duration::from_micros(u64::from(config.debounce_us)))
        .with_bias(bias(config.bias));
    if config.polarity == Polarity::ActiveLow {
        builder.as_active_low();
    }
    builder
}

/// A PTT request: output, drive, polarity, and the logical inactive value
/// as the initial one (with `ACTIVE_LOW` the kernel drives it high).
fn ptt_builder(config: &OutputConfig) -> Builder {
    let mut builder = Request::builder();
    builder
        .with_consumer(config.consumer.as_str())
        .with_line(config.id.line)
        .with_drive(match config.drive {
            Drive::PushPull => gpiocdev::line::Drive::PushPull,
            Drive::OpenDrain => gpiocdev::line::Drive::OpenDrain,
        });
    if config.polarity == Polarity::ActiveLow {
        builder.as_active_low();
    }
    // Last: the drive above makes the line an output with no value yet.
    builder.as_output(Value::Inactive);
    builder
}

/// `gpiochip0` is `/dev/gpiochip0`; an absolute path is taken as is.
pub(crate) fn chip_path(line: &LineId) -> PathBuf {
    if line.chip.starts_with('/') {
        PathBuf::from(&line.chip)
    } else {
        Path::new("/dev").join(&line.chip)
    }
}

/// Opens the chip, checks the offset against its size, then requests.
/// A busy line is named with its holder's consumer label.
fn request(line: &LineId, builder: &mut Builder) -> Result<Request, GpioError> {
    let path = chip_path(line);
    let chip =
        Chip::from_path(&path).map_err(|error| cdev_error(line, &path, GpioOp::OpenChip, error))?;
    let lines = chip
        .info()
        .map_err(|error| cdev_error(line, &path, GpioOp::OpenChip, error))?
        .num_lines;
    if line.line >= lines {
        return Err(GpioError::LineOutOfRange {
            line: line.clone(),
            lines,
        });
    }
    builder.on_chip(chip.path()).request().map_err(|error| {
        match cdev_error(line, &path, GpioOp::Request, error) {
            GpioError::Busy { line: id, .. } => GpioError::Busy {
                holder: chip
                    .line_info(line.line)
                    .ok()
                    .map(|info| info.consumer)
                    .filter(|consumer| !consumer.is_empty()),
                line: id,
            },
            other => other,
        }
    })
}

/// Sorts a `gpiocdev` error by its errno (see [`GpioError::from_os`]).
fn cdev_error(line: &LineId, path: &Path, op: GpioOp, error: gpiocdev::Error) -> GpioError {
    let source = match error {
        gpiocdev::Error::GpioChip(..) => {
            return GpioError::NotAChip {
                line: line.clone(),
                path: path.to_path_buf(),
            };
        }
        gpiocdev::Error::Os(errno) | gpiocdev::Error::Uapi(_, gpiocdev_uapi::Error::Os(errno)) => {
            io::Error::from_raw_os_error(errno.0)
        }
        other => io::Error::other(other),
    };
    GpioError::from_os(line, path.to_path_buf(), op, source)
}

fn bias(bias: Bias) -> Option<gpiocdev::line::Bias> {
    match bias {
        Bias::AsIs => None,
        Bias::PullUp => Some(gpiocdev::line::Bias::PullUp),
        Bias::PullDown => Some(gpiocdev::line::Bias::PullDown),
        Bias::Disabled => Some(gpiocdev::line::Bias::Disabled),
    }
}

#[cfg(test)]
mod tests {
    //! No GPIO chip on these machines: what can be checked is the errors.

    use super::*;
    use crate::gpio::GpioErrorKind;

    fn cor(chip: &str, line: u32) -> InputConfig {
        InputConfig {
            id: LineId::new(chip, line),
            polarity: Polarity::ActiveLow,
            bias: Bias::PullUp,
            debounce_us: 20_000,
            consumer: "echostream-test".into(),
        }
    }

    fn ptt(chip: &str, line: u32) -> OutputConfig {
        OutputConfig {
            id: LineId::new(chip, line),
            polarity: Polarity::ActiveHigh,
            drive: Drive::OpenDrain,
            consumer: "echostream-test".into(),
        }
    }

    #[test]
    fn a_missing_chip_is_named_with_its_line_and_path() {
        let cor = Gpiocdev
            .request_cor(&cor("gpiochip99", 20))
            .expect_err("no chip");
        assert_eq!(cor.kind(), GpioErrorKind::ChipMissing);
        assert_eq!(
            cor.to_string(),
            "gpiochip99 line 20: no GPIO chip at /dev/gpiochip99"
        );
        let ptt = Gpiocdev
            .request_ptt(&ptt("/dev/gpiochip99", 21))
            .expect_err("no chip");
        assert_eq!(ptt.kind(), GpioErrorKind::ChipMissing);
        assert_eq!(
            ptt.to_string(),
            "/dev/gpiochip99 line 21: no GPIO chip at /dev/gpiochip99"
        );
        let read = Gpiocdev
            .read_level(&LineId::new("gpiochip99", 3))
            .expect_err("no chip");
        assert_eq!(read.kind(), GpioErrorKind::ChipMissing);
        assert_eq!(read.line(), &LineId::new("gpiochip99", 3));
    }

    #[test]
    fn a_file_that_is_not_a_chip_says_so() {
        let error = Gpiocdev
            .request_cor(&cor("/dev/null", 0))
            .expect_err("not a chip");
        assert_eq!(error.kind(), GpioErrorKind::NotAChip);
        assert_eq!(
            error.to_string(),
            "/dev/null line 0: /dev/null is not a GPIO chip"
        );
        let file = tempfile::NamedTempFile::new().expect("temp file");
        let chip = file.path().to_str().expect("utf-8 temp path");
        let error = Gpiocdev.request_ptt(&ptt(chip, 0)).expect_err("not a chip");
        assert_eq!(error.kind(), GpioErrorKind::NotAChip);
    }

    #[test]
    fn errnos_become_kinds() {
        let line = LineId::new("gpiochip0", 20);
        let path = Path::new("/dev/gpiochip0");
        let os = |errno| gpiocdev::Error::Os(gpiocdev_uapi::Errno(errno));
        let uapi = |errno| {
            gpiocdev::Error::Uapi(
                gpiocdev::UapiCall::GetLine,
                gpiocdev_uapi::Error::Os(gpiocdev_uapi::Errno(errno)),
            )
        };
        let kind = |op, error| cdev_error(&line, path, op, error).kind();
        assert_eq!(
            kind(GpioOp::OpenChip, os(libc::ENOENT)),
            GpioErrorKind::ChipMissing
        );
        assert_eq!(
            kind(GpioOp::OpenChip, os(libc::EACCES)),
            GpioErrorKind::PermissionDenied
        );
        assert_eq!(
            kind(GpioOp::Request, uapi(libc::EBUSY)),
            GpioErrorKind::Busy
        );
        assert_eq!(
            kind(GpioOp::Request, uapi(libc::EPERM)),
            GpioErrorKind::PermissionDenied
        );
        // A request the chip cannot honour (bias, debounce) is not a
        // missing chip.
        let error = cdev_error(&line, path, GpioOp::Request, uapi(libc::EOPNOTSUPP));
        assert_eq!(error.kind(), GpioErrorKind::Io);
        assert!(
            error
                .to_string()
                .starts_with("gpiochip0 line 20: requesting the line: "),
            "{error}"
        );
        let busy = cdev_error(&line, path, GpioOp::Request, uapi(libc::EBUSY));
        assert_eq!(
            busy.to_string(),
            "gpiochip0 line 20: busy, held by another user"
        );
        let denied = cdev_error(&line, path, GpioOp::OpenChip, os(libc::EACCES));
        assert_eq!(
            denied.to_string(),
            "gpiochip0 line 20: permission denied on /dev/gpiochip0"
        );
    }

    #[test]
    fn ptt_is_requested_as_an_output_at_its_inactive_value() {
        let config = OutputConfig {
            polarity: Polarity::ActiveLow,
            ..ptt("gpiochip0", 21)
        };
        let built = ptt_builder(&config).config();
        let line = built.line_config(21).expect("line 21 requested");
        assert_eq!(line.direction, Some(gpiocdev::line::Direction::Output));
        assert_eq!(line.value, Some(Value::Inactive));
        assert!(line.active_low);
        assert_eq!(line.drive, Some(gpiocdev::line::Drive::OpenDrain));
        assert_eq!(line.edge_detection, None);
        let high = ptt_builder(&OutputConfig {
            drive: Drive::PushPull,
            ..ptt("gpiochip0", 21)
        })
        .config();
        let line = high.line_config(21).expect("line 21 requested");
        assert!(!line.active_low);
        assert_eq!(line.value, Some(Value::Inactive));
        assert_eq!(line.drive, Some(gpiocdev::line::Drive::PushPull));
    }

    #[test]
    fn cor_is_requested_with_both_edges_debounce_and_bias() {
        let built = cor_builder(&cor("gpiochip0", 20)).config();
        assert_eq!(built.lines(), &[20]);
        let line = built.line_config(20).expect("line 20 requested");
        assert_eq!(line.direction, Some(gpiocdev::line::Direction::Input));
        assert_eq!(line.edge_detection, Some(EdgeDetection::BothEdges));
        assert_eq!(line.debounce_period, Some(Duration::from_millis(20)));
        assert_eq!(line.bias, Some(gpiocdev::line::Bias::PullUp));
        assert!(line.active_low);
        assert_eq!(line.value, None);
        // No debounce and no bias asked: none set.
        let plain = cor_builder(&InputConfig {
            debounce_us: 0,
            bias: Bias::AsIs,
            polarity: Polarity::ActiveHigh,
            ..cor("gpiochip0", 20)
        })
        .config();
        let line = plain.line_config(20).expect("line 20 requested");
        assert_eq!(line.debounce_period, None);
        assert_eq!(line.bias, None);
        assert!(!line.active_low);
    }

    #[test]
    fn chips_are_found_under_dev_unless_given_a_path() {
        assert_eq!(
            chip_path(&LineId::new("gpiochip4", 1)),
            Path::new("/dev/gpiochip4")
        );
        assert_eq!(
            chip_path(&LineId::new("/dev/gpiochip0", 1)),
            Path::new("/dev/gpiochip0")
        );
    }
}
