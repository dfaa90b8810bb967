//! The lines as embedded-hal 1.0 pins, for core's pin drivers.
//!
//! Levels here are logical, with the line's polarity already applied (as
//! libgpiod and the kernel's `ACTIVE_LOW` flag do): `is_high()` on a
//! [`CorLine`] means "receiver busy", `set_high()` on a [`PttLine`] keys
//! the transmitter, whatever the wiring. A driver generic over these
//! traits therefore needs no polarity of its own.

use embedded_hal::digital::{ErrorType, InputPin, OutputPin, StatefulOutputPin};

use super::{CorLine, GpioError, PttLine};

impl ErrorType for CorLine {
    type Error = GpioError;
}

impl InputPin for CorLine {
    /// Whether the receiver is busy now (reads the line).
    fn is_high(&mut self) -> Result<bool, GpioError> {
        self.is_active()
    }

    fn is_low(&mut self) -> Result<bool, GpioError> {
        self.is_active().map(|active| !active)
    }
}

impl ErrorType for PttLine {
    type Error = GpioError;
}

impl OutputPin for PttLine {
    /// Releases the transmitter.
    fn set_low(&mut self) -> Result<(), GpioError> {
        self.set_active(false)
    }

    /// Keys the transmitter.
    fn set_high(&mut self) -> Result<(), GpioError> {
        self.set_active(true)
    }
}

impl StatefulOutputPin for PttLine {
    /// Whether the transmitter was last keyed (no read of the line).
    fn is_set_high(&mut self) -> Result<bool, GpioError> {
        Ok(self.is_active())
    }

    fn is_set_low(&mut self) -> Result<bool, GpioError> {
        Ok(!self.is_active())
    }
}

#[cfg(test)]
mod tests {
    use embedded_hal::digital::{InputPin, OutputPin, StatefulOutputPin};

    use crate::config::{Bias, Drive, Polarity};
    use crate::gpio::{GpioBackend, InputConfig, Level, LineId, OutputConfig, SimGpio};

    /// What core's driver sees: asserted is high, whatever the wiring.
    #[test]
    fn pins_are_logical_on_active_low_lines() {
        let root = tempfile::tempdir().expect("temp dir");
        let sim = SimGpio::new(root.path());
        sim.create_chip("gpiochip0", 8).expect("chip");
        let ptt_id = LineId::new("gpiochip0", 1);
        let mut ptt = sim
            .request_ptt(&OutputConfig {
                id: ptt_id.clone(),
                polarity: Polarity::ActiveLow,
                drive: Drive::PushPull,
                consumer: "hal-test".into(),
            })
            .expect("ptt");
        assert!(ptt.is_set_low().expect("state"));
        ptt.set_high().expect("key");
        assert_eq!(sim.level(&ptt_id).expect("read"), Some(Level::Low));
        assert!(ptt.is_set_high().expect("state"));

        let cor_id = LineId::new("gpiochip0", 2);
        sim.set_level(&cor_id, Level::Low).expect("write");
        let mut cor = sim
            .request_cor(&InputConfig {
                id: cor_id,
                polarity: Polarity::ActiveLow,
                bias: Bias::PullUp,
                debounce_us: 0,
                consumer: "hal-test".into(),
            })
            .expect("cor");
        assert!(cor.is_high().expect("read"));
        assert!(!cor.is_low().expect("read"));
    }
}
