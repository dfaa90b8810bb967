//! The thin pin driver: the machines' verdicts onto embedded-hal 1.0 pins.
//! The same core keys a transmitter through gpiocdev on Linux, the
//! simulated chip in tests, or any other HAL.
//!
//! A pin error is returned (with its `kind()`, per embedded-hal) and
//! counted; it never panics, and the next call tries again.

use embedded_hal::digital::{InputPin, OutputPin, PinState};

use crate::time::Instant;

use super::{Cor, Ptt};

/// Which electrical level means "asserted" (COR: receiver busy; PTT:
/// transmitter keyed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Polarity {
    /// High means asserted.
    ActiveHigh,
    /// Low means asserted.
    ActiveLow,
}

impl Polarity {
    /// The level that says `asserted`.
    pub const fn level(self, asserted: bool) -> PinState {
        match (self, asserted) {
            (Polarity::ActiveHigh, true) | (Polarity::ActiveLow, false) => PinState::High,
            (Polarity::ActiveHigh, false) | (Polarity::ActiveLow, true) => PinState::Low,
        }
    }

    /// Whether `level` means asserted.
    pub const fn is_asserted(self, level: PinState) -> bool {
        matches!(
            (self, level),
            (Polarity::ActiveHigh, PinState::High) | (Polarity::ActiveLow, PinState::Low)
        )
    }
}

/// A PTT output line, driven from a [`Ptt`].
///
/// Made without touching the pin: call [`release`](PttPin::release) first
/// of all (at start every PTT line is driven inactive before anything
/// else), then [`apply`](PttPin::apply) after draining the machine, and
/// [`shutdown`](PttPin::shutdown) on the way out.
#[derive(Debug)]
pub struct PttPin<P> {
    pin: P,
    polarity: Polarity,
    /// What the pin was last driven to (keyed or not), if that write
    /// succeeded; `None` before the first write or after a failed one.
    driven: Option<bool>,
    errors: u32,
}

impl<P: OutputPin> PttPin<P> {
    /// Wraps `pin`, keyed when at `polarity`'s asserted level. Does not
    /// write it.
    pub fn new(pin: P, polarity: Polarity) -> PttPin<P> {
        PttPin {
            pin,
            polarity,
            driven: None,
            errors: 0,
        }
    }

    /// Drives the line inactive (unkeyed), whatever it was thought to be.
    ///
    /// # Errors
    ///
    /// The pin's, counted in [`errors`](PttPin::errors).
    pub fn release(&mut self) -> Result<(), P::Error> {
        self.drive(false)
    }

    /// Drives the line to `ptt`'s verdict ([`Ptt::is_keyed`]). Writes only
    /// on a change, or when the last write failed.
    ///
    /// # Errors
    ///
    /// The pin's, counted in [`errors`](PttPin::errors); the next call
    /// writes again.
    pub fn apply(&mut self, ptt: &Ptt) -> Result<(), P::Error> {
        let keyed = ptt.is_keyed();
        if self.driven == Some(keyed) {
            return Ok(());
        }
        self.drive(keyed)
    }

    /// Shuts `ptt` down at `now` and drives the line inactive, whatever it
    /// was thought to be. Drain `ptt`'s events afterwards for the log.
    ///
    /// # Errors
    ///
    /// The pin's, counted in [`errors`](PttPin::errors). The machine is
    /// shut down either way.
    pub fn shutdown(&mut self, now: Instant, ptt: &mut Ptt) -> Result<(), P::Error> {
        ptt.shutdown(now);
        self.release()
    }

    /// Whether the line was last driven keyed; `None` if unknown (never
    /// written, or the last write failed).
    pub fn driven_keyed(&self) -> Option<bool> {
        self.driven
    }

    /// Writes that failed.
    pub fn errors(&self) -> u32 {
        self.errors
    }

    /// The pin, for another owner.
    pub fn into_inner(self) -> P {
        self.pin
    }

    fn drive(&mut self, keyed: bool) -> Result<(), P::Error> {
        match self.pin.set_state(self.polarity.level(keyed)) {
            Ok(()) => {
                self.driven = Some(keyed);
                Ok(())
            }
            Err(e) => {
                self.driven = None;
                self.errors = self.errors.saturating_add(1);
                Err(e)
            }
        }
    }
}

/// A COR input line, read into a [`Cor`] (made with
/// [`CorSource::Line`](super::CorSource::Line)).
///
/// For HALs that are polled, and for bring-up. A driver with edge events
/// (gpiocdev) may instead feed each edge's level and timestamp to
/// [`Cor::handle_level`] directly, through [`Polarity::is_asserted`].
#[derive(Debug)]
pub struct CorPin<P> {
    pin: P,
    polarity: Polarity,
    errors: u32,
}

impl<P: InputPin> CorPin<P> {
    /// Wraps `pin`, busy when at `polarity`'s asserted level.
    pub fn new(pin: P, polarity: Polarity) -> CorPin<P> {
        CorPin {
            pin,
            polarity,
            errors: 0,
        }
    }

    /// Whether the line is asserted now.
    ///
    /// # Errors
    ///
    /// The pin's, counted in [`errors`](CorPin::errors).
    pub fn read(&mut self) -> Result<bool, P::Error> {
        match self.pin.is_high() {
            Ok(high) => Ok(self.polarity.is_asserted(PinState::from(high))),
            Err(e) => {
                self.errors = self.errors.saturating_add(1);
                Err(e)
            }
        }
    }

    /// Reads the line and feeds it to `cor` at `now`; returns the level
    /// read. Drain `cor`'s events afterwards.
    ///
    /// # Errors
    ///
    /// The pin's, counted in [`errors`](CorPin::errors). `cor` is not fed
    /// then: it keeps the last level read (a line that cannot be read
    /// neither opens nor closes the channel), but its timers still run.
    pub fn update(&mut self, now: Instant, cor: &mut Cor) -> Result<bool, P::Error> {
        match self.read() {
            Ok(active) => {
                cor.handle_level(now, active);
                Ok(active)
            }
            Err(e) => {
                cor.handle_timeout(now);
                Err(e)
            }
        }
    }

    /// Reads that failed.
    pub fn errors(&self) -> u32 {
        self.errors
    }

    /// The pin, for another owner.
    pub fn into_inner(self) -> P {
        self.pin
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use std::vec::Vec;

    use embedded_hal::digital::{Error, ErrorKind, ErrorType};

    use super::*;
    use crate::ptt::{CorEdge, CorSource, PttState, Timers, TxSource};

    /// An output pin that records every level written, and fails the
    /// writes whose number (from 0) is in `fail`.
    #[derive(Debug, Default)]
    struct MockOutput {
        levels: Vec<PinState>,
        writes: usize,
        fail: Vec<usize>,
    }

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    struct PinFault;

    impl Error for PinFault {
        fn kind(&self) -> ErrorKind {
            ErrorKind::Other
        }
    }

    impl ErrorType for MockOutput {
        type Error = PinFault;
    }

    impl OutputPin for MockOutput {
        fn set_low(&mut self) -> Result<(), PinFault> {
            self.write(PinState::Low)
        }
        fn set_high(&mut self) -> Result<(), PinFault> {
            self.write(PinState::High)
        }
    }

    impl MockOutput {
        fn write(&mut self, level: PinState) -> Result<(), PinFault> {
            let n = self.writes;
            self.writes += 1;
            if self.fail.contains(&n) {
                return Err(PinFault);
            }
            self.levels.push(level);
            Ok(())
        }
    }

    /// An input pin at `high`, or failing while `broken`.
    #[derive(Debug, Default)]
    struct MockInput {
        high: bool,
        broken: bool,
    }

    impl ErrorType for MockInput {
        type Error = PinFault;
    }

    impl InputPin for MockInput {
        fn is_high(&mut self) -> Result<bool, PinFault> {
            if self.broken {
                Err(PinFault)
            } else {
                Ok(self.high)
            }
        }
        fn is_low(&mut self) -> Result<bool, PinFault> {
            self.is_high().map(|high| !high)
        }
    }

    fn ms(millis: u64) -> Instant {
        Instant::from_millis(millis)
    }

    fn ptt() -> Ptt {
        Ptt::new(&Timers::DEFAULT).expect("the defaults are valid")
    }

    #[test]
    fn polarity_maps_both_ways() {
        for polarity in [Polarity::ActiveHigh, Polarity::ActiveLow] {
            for asserted in [false, true] {
                assert_eq!(polarity.is_asserted(polarity.level(asserted)), asserted);
            }
        }
        assert_eq!(Polarity::ActiveLow.level(true), PinState::Low);
        assert_eq!(Polarity::ActiveHigh.level(true), PinState::High);
    }

    #[test]
    fn an_active_low_line_follows_the_machine_and_writes_only_changes() {
        let mut ptt = ptt();
        let mut pin = PttPin::new(MockOutput::default(), Polarity::ActiveLow);
        assert_eq!(pin.driven_keyed(), None);
        pin.release().expect("the mock works");
        pin.apply(&ptt).expect("the mock works");
        ptt.handle_audio(ms(0), TxSource::Remote, true);
        pin.apply(&ptt).expect("the mock works");
        ptt.handle_timeout(ms(150));
        pin.apply(&ptt).expect("the mock works");
        ptt.handle_audio(ms(1_000), TxSource::Remote, false);
        ptt.handle_timeout(ms(1_500));
        pin.apply(&ptt).expect("the mock works");
        assert_eq!(ptt.state(), PttState::Unkeyed);
        let levels = pin.into_inner().levels;
        // Released (high), keyed (low), unkeyed (high): nothing repeated.
        assert_eq!(levels, [PinState::High, PinState::Low, PinState::High]);
    }

    #[test]
    fn shutdown_drives_inactive_even_when_thought_inactive() {
        let mut ptt = ptt();
        let mut pin = PttPin::new(MockOutput::default(), Polarity::ActiveHigh);
        pin.release().expect("the mock works");
        ptt.handle_audio(ms(0), TxSource::Passthrough, true);
        pin.apply(&ptt).expect("the mock works");
        pin.shutdown(ms(10), &mut ptt).expect("the mock works");
        assert_eq!(ptt.state(), PttState::Shutdown);
        // Later inputs change nothing on the line.
        ptt.handle_audio(ms(20), TxSource::Remote, true);
        pin.apply(&ptt).expect("the mock works");
        pin.shutdown(ms(30), &mut ptt).expect("the mock works");
        assert_eq!(
            pin.into_inner().levels,
            [PinState::Low, PinState::High, PinState::Low, PinState::Low]
        );
    }

    #[test]
    fn a_failing_pin_is_counted_and_written_again() {
        let mut ptt = ptt();
        let mock = MockOutput {
            // The keying write and the first unkeying write fail.
            fail: std::vec![1, 2],
            ..MockOutput::default()
        };
        let mut pin = PttPin::new(mock, Polarity::ActiveHigh);
        pin.release().expect("the first write works");
        ptt.handle_audio(ms(0), TxSource::Remote, true);
        let error = pin.apply(&ptt).unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Other);
        assert_eq!(pin.driven_keyed(), None);
        // The machine moves on regardless; the shutdown's write fails,
        // the next one goes through.
        assert!(pin.shutdown(ms(5), &mut ptt).is_err());
        assert_eq!(pin.errors(), 2);
        assert_eq!(pin.driven_keyed(), None);
        pin.apply(&ptt).expect("the third write works");
        assert_eq!(pin.driven_keyed(), Some(false));
        assert_eq!(pin.errors(), 2);
        let mock = pin.into_inner();
        assert_eq!(mock.levels, [PinState::Low, PinState::Low]);
        assert_eq!(mock.writes, 4);
    }

    #[test]
    fn a_cor_line_is_read_through_its_polarity() {
        let mut cor = Cor::new(&Timers::DEFAULT, CorSource::Line);
        let mut pin = CorPin::new(MockInput::default(), Polarity::ActiveLow);
        // Low = busy on an active-low line.
        assert_eq!(pin.update(ms(0), &mut cor), Ok(true));
        assert_eq!(pin.update(ms(20), &mut cor), Ok(true));
        assert_eq!(cor.poll_event(), Some(CorEdge::Opened));
        // A read error feeds nothing but the timers still run.
        let mut pin = CorPin::new(
            MockInput {
                high: true,
                broken: true,
            },
            Polarity::ActiveLow,
        );
        assert_eq!(pin.update(ms(30), &mut cor), Err(PinFault));
        assert_eq!(pin.errors(), 1);
        assert!(cor.is_open());
        let mut input = pin.into_inner();
        input.broken = false;
        let mut pin = CorPin::new(input, Polarity::ActiveLow);
        assert_eq!(pin.update(ms(40), &mut cor), Ok(false));
        assert_eq!(pin.update(ms(290), &mut cor), Ok(false));
        assert_eq!(cor.poll_event(), Some(CorEdge::Closed));
        assert_eq!(pin.errors(), 0);
    }
}
