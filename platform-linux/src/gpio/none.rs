//! No GPIO at all: PTT changes are only logged, COR never changes. For a
//! node on a machine without lines that still runs a GPIO config (a demo,
//! a dry run of `config.pi.json`).

use std::io::{PipeReader, PipeWriter};
use std::os::fd::{AsRawFd, RawFd};

use super::{
    CorEdge, CorLine, CorSource, GpioBackend, GpioError, GpioOp, InputConfig, Level, LineId,
    OutputConfig, PttLine, PttSink,
};

/// The backend with no lines. Every request succeeds.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoGpio;

/// A COR that never changes: its fd is the read end of a pipe nobody
/// writes, so a poll never wakes for it.
#[derive(Debug)]
struct QuietCor {
    reader: PipeReader,
    /// Held so that the reader never sees end-of-file (which would be
    /// readable).
    _writer: PipeWriter,
}

/// A PTT that only logs.
#[derive(Debug)]
struct LoggedPtt {
    id: LineId,
}

impl GpioBackend for NoGpio {
    fn request_cor(&self, config: &InputConfig) -> Result<CorLine, GpioError> {
        let (reader, writer) = std::io::pipe().map_err(|source| GpioError::Io {
            line: config.id.clone(),
            op: GpioOp::Request,
            source,
        })?;
        log::info!("{}: no GPIO backend, COR stays inactive", config.id);
        Ok(CorLine::new(
            config.id.clone(),
            Box::new(QuietCor {
                reader,
                _writer: writer,
            }),
        ))
    }

    fn request_ptt(&self, config: &OutputConfig) -> Result<PttLine, GpioError> {
        log::info!("{}: no GPIO backend, PTT inactive", config.id);
        Ok(PttLine::new(
            config.id.clone(),
            Box::new(LoggedPtt {
                id: config.id.clone(),
            }),
        ))
    }

    /// Always low: there is no line to read.
    fn read_level(&self, _line: &LineId) -> Result<Level, GpioError> {
        Ok(Level::Low)
    }
}

impl CorSource for QuietCor {
    fn read_edges(&mut self, _out: &mut [CorEdge]) -> Result<usize, GpioError> {
        Ok(0)
    }

    fn is_active(&mut self) -> Result<bool, GpioError> {
        Ok(false)
    }

    fn lost_edges(&self) -> u64 {
        0
    }
}

impl AsRawFd for QuietCor {
    fn as_raw_fd(&self) -> RawFd {
        self.reader.as_raw_fd()
    }
}

impl PttSink for LoggedPtt {
    fn set_active(&mut self, active: bool) -> Result<(), GpioError> {
        log::info!(
            "{}: PTT {} (no GPIO backend)",
            self.id,
            if active { "keyed" } else { "released" }
        );
        Ok(())
    }

    fn release_handle(&self) -> Box<dyn Fn() + Send + Sync> {
        Box::new(|| {})
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use mio::{Events, Interest, Poll, Token};

    use super::*;
    use crate::config::{Bias, Drive, Polarity};

    #[test]
    fn cor_never_wakes_the_loop_and_ptt_always_succeeds() {
        let mut cor = NoGpio
            .request_cor(&InputConfig {
                id: LineId::new("gpiochip0", 20),
                polarity: Polarity::ActiveLow,
                bias: Bias::PullUp,
                debounce_us: 0,
                consumer: "test".into(),
            })
            .expect("none always grants");
        let mut poll = Poll::new().expect("poll");
        poll.registry()
            .register(&mut cor, Token(7), Interest::READABLE)
            .expect("a pipe registers");
        let mut events = Events::with_capacity(4);
        poll.poll(&mut events, Some(Duration::from_millis(20)))
            .expect("poll");
        assert!(events.is_empty());
        let mut edges = [CorEdge {
            active: false,
            time_ns: 0,
        }; 4];
        assert_eq!(cor.read_edges(&mut edges).expect("read"), 0);
        assert!(!cor.is_active().expect("level"));

        let mut ptt = NoGpio
            .request_ptt(&OutputConfig {
                id: LineId::new("gpiochip0", 21),
                polarity: Polarity::ActiveHigh,
                drive: Drive::PushPull,
                consumer: "test".into(),
            })
            .expect("none always grants");
        assert!(!ptt.is_active());
        ptt.set_active(true).expect("logged");
        assert!(ptt.is_active());
    }
}
