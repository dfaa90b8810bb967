//! GPIO lines for COR inputs and PTT outputs (DESIGN.md "PTT and COR"),
//! behind one trait, [`GpioBackend`], with three backends:
//!
//! | spec         | backend        | for                                        |
//! |--------------|----------------|--------------------------------------------|
//! | `gpiocdev`   | [`Gpiocdev`]   | real lines, GPIO character device uAPI v2 |
//! | `none`       | [`NoGpio`]     | no lines: PTT logged, COR never changes    |
//! | `sim:FOLDER` | [`SimGpio`]    | a chip in files, shared across processes   |
//!
//! A runtime parses the spec ([`BackendSpec`], `"gpiocdev".parse()`),
//! [`open`](BackendSpec::open)s it, and at start, before any audio:
//! requests each channel's PTT ([`GpioBackend::request_ptt`], which
//! drives it inactive at once) and COR ([`GpioBackend::request_cor`]),
//! turning the first error into a refusal that names the channel (every
//! [`GpioError`] already names chip and line). COR lines are
//! [`mio::event::Source`]s for the network loop; on readiness it drains
//! [`CorLine::read_edges`] into a buffer it owns. [`PttLine`] and
//! [`CorLine`] are also embedded-hal 1.0 pins (see [`hal`]).
//!
//! Timestamps are `CLOCK_MONOTONIC` nanoseconds, the kernel's edge clock;
//! [`monotonic_now_ns`] reads the same clock to relate them to `now`.
//!
//! The config is not yet told which backend to use; the cleanest shape is
//! one node-wide field beside `channels`, `"gpio_backend": "gpiocdev" |
//! "none" | "sim:FOLDER"` (default `gpiocdev`), so that the same channel
//! sections (`"chip": "gpiochip0"`) run on a Pi or against the simulated
//! chip by changing one word. A relative `sim:` folder is taken from the
//! working directory, like `file:` devices.

mod backend;
mod cdev;
mod error;
pub mod failsafe;
pub mod hal;
mod line;
mod none;
mod sim;

pub use backend::{BackendSpec, GpioBackend, UnknownBackend};
pub use cdev::Gpiocdev;
pub use error::{GpioError, GpioErrorKind, GpioOp};
pub use line::{
    CONSUMER_LEN_MAX, CorEdge, CorLine, CorSource, InputConfig, Level, LineId, OutputConfig,
    PttLine, PttSink, consumer_label,
};
pub use none::NoGpio;
pub use sim::{SIM_LINES_DEFAULT, SimDrive, SimGpio};

pub use crate::clock::monotonic_now_ns;
