//! What a runtime asks for and gets back: line names, request settings,
//! COR edges, and the COR and PTT line handles every backend returns.

use std::fmt;
use std::io;
use std::os::fd::{AsRawFd, RawFd};

use mio::unix::SourceFd;
use mio::{Interest, Registry, Token};

use super::GpioError;
use crate::config::{Bias, Drive, GpioInput, GpioOutput, Polarity};

/// The longest consumer label the kernel keeps (`GPIO_MAX_NAME_SIZE` is
/// 32 bytes with the terminating NUL); longer ones are cut here, on a
/// character boundary, rather than by the kernel.
pub const CONSUMER_LEN_MAX: usize = 31;

/// A line on a chip, as the config names it: `gpiochip0 line 20`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LineId {
    /// The chip as configured: `gpiochip0` or `/dev/gpiochip0`.
    pub chip: String,
    /// The line's offset on the chip.
    pub line: u32,
}

/// An electrical level, before polarity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// Low.
    Low,
    /// High.
    High,
}

/// What to request for a COR input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputConfig {
    /// The line.
    pub id: LineId,
    /// Which level means "receiver busy".
    pub polarity: Polarity,
    /// Pull resistor.
    pub bias: Bias,
    /// Kernel debounce: an edge is reported once the new level has held
    /// this long (0: none). The simulated chip does not debounce.
    pub debounce_us: u32,
    /// Who holds the line, as `gpioinfo` shows it (cut to
    /// [`CONSUMER_LEN_MAX`] bytes).
    pub consumer: String,
}

/// What to request for a PTT output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputConfig {
    /// The line.
    pub id: LineId,
    /// Which level keys the transmitter. The line is requested driving
    /// the other one.
    pub polarity: Polarity,
    /// Push-pull or open drain.
    pub drive: Drive,
    /// Who holds the line (cut to [`CONSUMER_LEN_MAX`] bytes).
    pub consumer: String,
}

/// One COR level change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CorEdge {
    /// The line is now asserted (receiver busy), polarity applied.
    pub active: bool,
    /// When, on `CLOCK_MONOTONIC` (see [`monotonic_now_ns`](super::monotonic_now_ns)):
    /// the kernel's timestamp of the edge for `gpiocdev`, the moment the
    /// change was read for the simulated chip.
    pub time_ns: u64,
}

/// A backend's COR input. Reached through [`CorLine`].
pub trait CorSource: AsRawFd + fmt::Debug + Send {
    /// See [`CorLine::read_edges`].
    ///
    /// # Errors
    ///
    /// A failed read.
    fn read_edges(&mut self, out: &mut [CorEdge]) -> Result<usize, GpioError>;

    /// See [`CorLine::is_active`].
    ///
    /// # Errors
    ///
    /// A failed read.
    fn is_active(&mut self) -> Result<bool, GpioError>;

    /// See [`CorLine::lost_edges`].
    fn lost_edges(&self) -> u64;
}

/// A backend's PTT output. Reached through [`PttLine`].
pub trait PttSink: fmt::Debug + Send {
    /// Drives the line asserted (`true`, transmitter keyed) or not.
    ///
    /// # Errors
    ///
    /// A failed write.
    fn set_active(&mut self, active: bool) -> Result<(), GpioError>;

    /// Something that drives the line unkeyed from any thread, at any
    /// moment, without this sink: for the panic hook
    /// ([`failsafe`](super::failsafe)). Best effort: it cannot report.
    fn release_handle(&self) -> Box<dyn Fn() + Send + Sync>;
}

/// A requested COR input: edge events on a pollable fd.
///
/// Register it in a mio loop (it is a [`mio::event::Source`], readable
/// interest); when it is readable, call [`read_edges`](Self::read_edges)
/// until it returns less than the buffer it was lent (mio is
/// edge-triggered). Read [`is_active`](Self::is_active) once after the
/// request for the level the edges start from. Released when dropped.
#[derive(Debug)]
pub struct CorLine {
    id: LineId,
    source: Box<dyn CorSource>,
}

/// A requested PTT output, driving its inactive level from the moment it
/// was requested. Released when dropped; the kernel may then let the line
/// revert, so drive it inactive before (DESIGN.md "PTT and COR").
#[derive(Debug)]
pub struct PttLine {
    id: LineId,
    sink: Box<dyn PttSink>,
    active: bool,
}

impl LineId {
    /// `chip`'s `line`.
    pub fn new(chip: impl Into<String>, line: u32) -> Self {
        Self {
            chip: chip.into(),
            line,
        }
    }

    /// The chip's name without a `/dev/` prefix: `/dev/gpiochip0` and
    /// `gpiochip0` are one chip.
    pub fn chip_name(&self) -> &str {
        self.chip.strip_prefix("/dev/").unwrap_or(&self.chip)
    }
}

impl Level {
    /// Whether this level asserts a line of `polarity`.
    pub fn is_active(self, polarity: Polarity) -> bool {
        (self == Level::High) == (polarity == Polarity::ActiveHigh)
    }

    /// The level that asserts (`active`) or releases a line of `polarity`.
    pub fn of(active: bool, polarity: Polarity) -> Self {
        if active == (polarity == Polarity::ActiveHigh) {
            Level::High
        } else {
            Level::Low
        }
    }

    /// `'0'` or `'1'`, as the simulated chip's files hold it.
    pub fn digit(self) -> char {
        match self {
            Level::Low => '0',
            Level::High => '1',
        }
    }
}

impl InputConfig {
    /// A channel's `cor.gpio` section, debounced by `debounce_ms` (the
    /// channel's `timers.cor_debounce_ms`, or 0 to leave debouncing to
    /// core).
    pub fn from_config(gpio: &GpioInput, debounce_ms: u32, consumer: &str) -> Self {
        Self {
            id: LineId::new(gpio.chip.clone(), gpio.line),
            polarity: gpio.polarity,
            bias: gpio.bias,
            debounce_us: debounce_ms.saturating_mul(1_000),
            consumer: consumer_label(consumer),
        }
    }
}

impl OutputConfig {
    /// A channel's `ptt` section.
    pub fn from_config(gpio: &GpioOutput, consumer: &str) -> Self {
        Self {
            id: LineId::new(gpio.chip.clone(), gpio.line),
            polarity: gpio.polarity,
            drive: gpio.drive,
            consumer: consumer_label(consumer),
        }
    }

    /// The level that leaves the transmitter unkeyed.
    pub fn inactive_level(&self) -> Level {
        Level::of(false, self.polarity)
    }
}

/// `consumer` cut to what the kernel keeps.
pub fn consumer_label(consumer: &str) -> String {
    let mut end = consumer.len().min(CONSUMER_LEN_MAX);
    while !consumer.is_char_boundary(end) {
        end -= 1;
    }
    consumer[..end].to_owned()
}

impl CorLine {
    /// Wraps a backend's input; called by backends.
    pub fn new(id: LineId, source: Box<dyn CorSource>) -> Self {
        Self { id, source }
    }

    /// The line.
    pub fn id(&self) -> &LineId {
        &self.id
    }

    /// Moves pending level changes into `out`, oldest first, without
    /// blocking; returns how many. A return of `out.len()` may leave more
    /// pending: call again until it returns less.
    ///
    /// # Errors
    ///
    /// A failed read of the line's fd.
    pub fn read_edges(&mut self, out: &mut [CorEdge]) -> Result<usize, GpioError> {
        let count = self.source.read_edges(out)?;
        assert!(count <= out.len(), "a backend wrote past the lent buffer");
        Ok(count)
    }

    /// Whether the line is asserted now (polarity applied).
    ///
    /// # Errors
    ///
    /// A failed read.
    pub fn is_active(&mut self) -> Result<bool, GpioError> {
        self.source.is_active()
    }

    /// Edges the backend knows it dropped since the request: the kernel's
    /// event buffer overflowed (gaps in its sequence numbers) or the
    /// simulated chip's inotify queue did. The level read next is still
    /// right; a count above zero is worth an event.
    pub fn lost_edges(&self) -> u64 {
        self.source.lost_edges()
    }
}

impl AsRawFd for CorLine {
    fn as_raw_fd(&self) -> RawFd {
        self.source.as_raw_fd()
    }
}

impl mio::event::Source for CorLine {
    fn register(
        &mut self,
        registry: &Registry,
        token: Token,
        interests: Interest,
    ) -> io::Result<()> {
        SourceFd(&self.as_raw_fd()).register(registry, token, interests)
    }

    fn reregister(
        &mut self,
        registry: &Registry,
        token: Token,
        interests: Interest,
    ) -> io::Result<()> {
        SourceFd(&self.as_raw_fd()).reregister(registry, token, interests)
    }

    fn deregister(&mut self, registry: &Registry) -> io::Result<()> {
        SourceFd(&self.as_raw_fd()).deregister(registry)
    }
}

impl PttLine {
    /// Wraps a backend's output, which the backend has requested driving
    /// its inactive level; called by backends.
    pub fn new(id: LineId, sink: Box<dyn PttSink>) -> Self {
        Self {
            id,
            sink,
            active: false,
        }
    }

    /// The line.
    pub fn id(&self) -> &LineId {
        &self.id
    }

    /// Keys (`true`) or releases the transmitter.
    ///
    /// # Errors
    ///
    /// A failed write; the line's state is then unknown, and
    /// [`is_active`](Self::is_active) still says what was last driven.
    pub fn set_active(&mut self, active: bool) -> Result<(), GpioError> {
        self.sink.set_active(active)?;
        self.active = active;
        Ok(())
    }

    /// Whether the line was last driven keyed.
    pub fn is_active(&self) -> bool {
        self.active
    }

    /// See [`PttSink::release_handle`].
    pub fn release_handle(&self) -> Box<dyn Fn() + Send + Sync> {
        self.sink.release_handle()
    }
}

impl Drop for PttLine {
    /// A line dropped is released first: whatever ends the node, short of
    /// SIGKILL, leaves the transmitter unkeyed.
    fn drop(&mut self) {
        if let Err(error) = self.sink.set_active(false) {
            log::error!("{}: PTT release on exit failed: {error}", self.id);
        }
    }
}

impl fmt::Display for LineId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} line {}", self.chip, self.line)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_follow_polarity() {
        assert!(Level::High.is_active(Polarity::ActiveHigh));
        assert!(!Level::High.is_active(Polarity::ActiveLow));
        assert!(Level::Low.is_active(Polarity::ActiveLow));
        assert_eq!(Level::of(false, Polarity::ActiveLow), Level::High);
        assert_eq!(Level::of(true, Polarity::ActiveLow), Level::Low);
        assert_eq!(Level::of(false, Polarity::ActiveHigh), Level::Low);
    }

    #[test]
    fn consumer_labels_fit_the_kernel() {
        assert_eq!(consumer_label("echostream"), "echostream");
        let long = "echostream:a-very-long-channel-name:ptt";
        assert_eq!(consumer_label(long).len(), CONSUMER_LEN_MAX);
        // Never cut inside a character.
        let wide = "ééééééééééééééééééééé";
        assert_eq!(consumer_label(wide).len(), 30);
    }

    #[test]
    fn a_line_names_its_chip_and_offset() {
        let id = LineId::new("/dev/gpiochip0", 20);
        assert_eq!(id.to_string(), "/dev/gpiochip0 line 20");
        assert_eq!(id.chip_name(), "gpiochip0");
    }
}
