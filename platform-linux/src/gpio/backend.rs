//! The one trait every GPIO backend implements, and how a runtime names
//! and opens one.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use super::{CorLine, GpioError, InputConfig, Level, LineId, OutputConfig, PttLine};
use super::{Gpiocdev, NoGpio, SimGpio};

/// Where COR and PTT lines come from: the GPIO character device, nothing,
/// or a simulated chip in a folder.
///
/// Requests are made at start, before any audio; a line is released when
/// its handle is dropped. Every error names the chip and the line.
pub trait GpioBackend: fmt::Debug + Send + Sync {
    /// Requests a COR input: both edges, `config.debounce_us` kernel
    /// debounce, `config.bias`, `config.polarity` applied by the backend
    /// (edges and levels read from the handle are "asserted or not").
    ///
    /// # Errors
    ///
    /// The chip is missing or not a chip, the line is out of range, held
    /// by another request (this process's or another's), or not ours to
    /// open.
    fn request_cor(&self, config: &InputConfig) -> Result<CorLine, GpioError>;

    /// Requests a PTT output, driving its inactive level (polarity
    /// applied) from the request on, with `config.drive`.
    ///
    /// # Errors
    ///
    /// As for [`request_cor`](Self::request_cor).
    fn request_ptt(&self, config: &OutputConfig) -> Result<PttLine, GpioError>;

    /// The line's level now, without changing its direction (for a
    /// bring-up tool). The line must not be held, by this process either:
    /// read a held COR line through its [`CorLine`].
    ///
    /// # Errors
    ///
    /// As for [`request_cor`](Self::request_cor).
    fn read_level(&self, line: &LineId) -> Result<Level, GpioError>;
}

/// Which backend, as a config or command line spells it: `gpiocdev`,
/// `none`, or `sim:FOLDER`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BackendSpec {
    /// The GPIO character device, uAPI v2 ([`Gpiocdev`]).
    Gpiocdev,
    /// No lines: PTT changes are logged, COR never changes ([`NoGpio`]).
    None,
    /// The simulated chip under this folder ([`SimGpio`]).
    Sim(PathBuf),
}

/// A backend spec that is none of the known ones.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a GPIO backend: use gpiocdev, none or sim:FOLDER")]
pub struct UnknownBackend(pub String);

impl BackendSpec {
    /// The backend, ready for requests. Opens nothing: a missing chip or
    /// folder shows at the first request, naming the line.
    pub fn open(&self) -> Box<dyn GpioBackend> {
        match self {
            BackendSpec::Gpiocdev => Box::new(Gpiocdev),
            BackendSpec::None => Box::new(NoGpio),
            BackendSpec::Sim(root) => Box::new(SimGpio::new(root.clone())),
        }
    }
}

impl FromStr for BackendSpec {
    type Err = UnknownBackend;

    fn from_str(spec: &str) -> Result<Self, Self::Err> {
        match spec {
            "gpiocdev" => Ok(BackendSpec::Gpiocdev),
            "none" => Ok(BackendSpec::None),
            _ => match spec.strip_prefix("sim:") {
                Some(root) if !root.is_empty() => Ok(BackendSpec::Sim(PathBuf::from(root))),
                _ => Err(UnknownBackend(spec.to_owned())),
            },
        }
    }
}

impl fmt::Display for BackendSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BackendSpec::Gpiocdev => f.write_str("gpiocdev"),
            BackendSpec::None => f.write_str("none"),
            BackendSpec::Sim(root) => write!(f, "sim:{}", root.display()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_parse_and_print_back() {
        for text in ["gpiocdev", "none", "sim:./sim-gpio", "sim:/tmp/x y"] {
            let spec: BackendSpec = text.parse().expect(text);
            assert_eq!(spec.to_string(), text);
        }
        assert_eq!(
            "sim:./sim-gpio".parse(),
            Ok(BackendSpec::Sim(PathBuf::from("./sim-gpio")))
        );
    }

    #[test]
    fn unknown_specs_say_what_is_known() {
        for text in ["", "sim:", "gpio-cdev", "sysfs"] {
            let error = text.parse::<BackendSpec>().expect_err(text);
            assert_eq!(
                error.to_string(),
                format!("`{text}` is not a GPIO backend: use gpiocdev, none or sim:FOLDER")
            );
        }
    }
}
