//! DTMF digits gathered into sequences: a siren controller's code, a
//! paging encoder's station number. Digits join the sequence until
//! [`SequenceConfig::timeout_ms`] of audio passes after the last one
//! (DESIGN.md "Tone detection": until `sequence_timeout_ms` of silence).
//!
//! Sans-IO on the audio clock: digits come in as the detector's
//! [`ToneEvent`]s with their [`SampleIndex`]es, and [`DtmfSequencer::poll`]
//! is asked with the device frame the audio has reached, so the timeout is
//! exact in audio time however the blocks are cut.

use core::fmt;

use heapless::String;

use crate::time::SampleIndex;
use crate::tone::{Measured, ToneEvent};

/// The most digits one sequence holds; more are counted as cut off.
pub const SEQUENCE_DIGITS_MAX: usize = 32;

/// How sequences are told apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SequenceConfig {
    /// Device frames per second.
    pub rate_hz: u32,
    /// Audio after the last digit that ends the sequence, in ms.
    pub timeout_ms: u32,
}

impl SequenceConfig {
    /// The shortest timeout accepted: shorter than a digit's own pause it
    /// would split every code into single digits.
    pub const TIMEOUT_MS_MIN: u32 = 200;
    /// The longest timeout accepted.
    pub const TIMEOUT_MS_MAX: u32 = 60_000;
    /// The usual timeout: 2 s.
    pub const TIMEOUT_MS_DEFAULT: u32 = 2_000;

    /// Checks the values.
    ///
    /// # Errors
    /// A timeout outside [`Self::TIMEOUT_MS_MIN`] to [`Self::TIMEOUT_MS_MAX`],
    /// or a rate of zero.
    pub fn validate(&self) -> Result<(), SequenceConfigError> {
        if self.rate_hz == 0 {
            return Err(SequenceConfigError::ZeroRate);
        }
        Self::check_timeout_ms(self.timeout_ms)
    }

    /// Checks a timeout alone (what a config file sets).
    ///
    /// # Errors
    /// A timeout outside [`Self::TIMEOUT_MS_MIN`] to [`Self::TIMEOUT_MS_MAX`].
    pub fn check_timeout_ms(timeout_ms: u32) -> Result<(), SequenceConfigError> {
        if (Self::TIMEOUT_MS_MIN..=Self::TIMEOUT_MS_MAX).contains(&timeout_ms) {
            Ok(())
        } else {
            Err(SequenceConfigError::Timeout { timeout_ms })
        }
    }
}

/// Why a [`SequenceConfig`] was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SequenceConfigError {
    /// The timeout is out of range.
    Timeout {
        /// The value given.
        timeout_ms: u32,
    },
    /// A device rate of zero.
    ZeroRate,
}

impl fmt::Display for SequenceConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SequenceConfigError::Timeout { timeout_ms } => write!(
                f,
                "{timeout_ms} ms is not between {} and {} ms",
                SequenceConfig::TIMEOUT_MS_MIN,
                SequenceConfig::TIMEOUT_MS_MAX
            ),
            SequenceConfigError::ZeroRate => f.write_str("the device rate is zero"),
        }
    }
}

impl core::error::Error for SequenceConfigError {}

/// A finished sequence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DtmfSequence {
    /// The digits, in order (`0`–`9`, `*`, `#`, `A`–`D`).
    pub digits: String<SEQUENCE_DIGITS_MAX>,
    /// Where the first digit began.
    pub start: SampleIndex,
    /// Where the last digit had reached when it was reported.
    pub end: SampleIndex,
    /// Digits past [`SEQUENCE_DIGITS_MAX`] that were cut off.
    pub cut_off: u32,
}

/// Gathers one channel's digits; see the module docs.
#[derive(Debug, Clone)]
pub struct DtmfSequencer {
    timeout_frames: u64,
    current: Option<DtmfSequence>,
}

impl DtmfSequencer {
    /// A sequencer for `config`.
    ///
    /// # Errors
    /// See [`SequenceConfig::validate`].
    pub fn new(config: SequenceConfig) -> Result<DtmfSequencer, SequenceConfigError> {
        config.validate()?;
        Ok(DtmfSequencer {
            timeout_frames: u64::from(config.timeout_ms) * u64::from(config.rate_hz) / 1_000,
            current: None,
        })
    }

    /// Takes a detection; DTMF digits join the sequence, anything else is
    /// ignored.
    pub fn push(&mut self, event: &ToneEvent) {
        let Measured::Dtmf { digit, .. } = event.measured else {
            return;
        };
        let sequence = self.current.get_or_insert_with(|| DtmfSequence {
            digits: String::new(),
            start: event.start,
            end: event.end,
            cut_off: 0,
        });
        if sequence.digits.push(char::from(digit)).is_err() {
            sequence.cut_off = sequence.cut_off.saturating_add(1);
        }
        sequence.end = event.end;
    }

    /// The sequence, once the audio has reached `now` (the device frame
    /// after the last one processed) and the timeout has passed since its
    /// last digit.
    pub fn poll(&mut self, now: SampleIndex) -> Option<DtmfSequence> {
        let ended = self
            .current
            .as_ref()
            .is_some_and(|s| now.0 >= s.end.0.saturating_add(self.timeout_frames));
        if ended { self.current.take() } else { None }
    }

    /// The sequence so far, whatever the time (the audio ended).
    pub fn flush(&mut self) -> Option<DtmfSequence> {
        self.current.take()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RATE_HZ: u32 = 8_000;

    fn digit(d: u8, start: u64, end: u64) -> ToneEvent {
        ToneEvent {
            definition: None,
            measured: Measured::Dtmf {
                digit: d,
                low_hz: 697.0,
                high_hz: 1209.0,
                twist_db: 0.0,
            },
            start: SampleIndex(start),
            end: SampleIndex(end),
            detected_at: SampleIndex(end),
            latency_ms: 0,
        }
    }

    fn sequencer(timeout_ms: u32) -> DtmfSequencer {
        DtmfSequencer::new(SequenceConfig {
            rate_hz: RATE_HZ,
            timeout_ms,
        })
        .unwrap()
    }

    #[test]
    fn digits_gather_until_the_timeout_of_audio_after_the_last() {
        let mut s = sequencer(2_000);
        for (i, d) in b"4711#".iter().enumerate() {
            let at = i as u64 * 1_600;
            s.push(&digit(*d, at, at + 800));
            assert_eq!(s.poll(SampleIndex(at + 800)), None);
        }
        let last_end = 4 * 1_600 + 800;
        assert_eq!(
            s.poll(SampleIndex(last_end + 15_999)),
            None,
            "one frame early"
        );
        let seq = s
            .poll(SampleIndex(last_end + 16_000))
            .expect("2 s after the last");
        assert_eq!(seq.digits.as_str(), "4711#");
        assert_eq!(
            (seq.start, seq.end),
            (SampleIndex(0), SampleIndex(last_end))
        );
        assert_eq!(seq.cut_off, 0);
        assert_eq!(s.poll(SampleIndex(u64::MAX)), None, "reported once");
    }

    #[test]
    fn a_pause_longer_than_the_timeout_starts_a_new_sequence() {
        let mut s = sequencer(500);
        s.push(&digit(b'1', 0, 400));
        assert!(s.poll(SampleIndex(400 + 4_000)).is_some());
        s.push(&digit(b'2', 10_000, 10_400));
        assert_eq!(s.flush().unwrap().digits.as_str(), "2");
        assert_eq!(s.flush(), None);
    }

    #[test]
    fn a_runaway_sequence_is_cut_off_and_counted() {
        let mut s = sequencer(2_000);
        for i in 0..40u64 {
            s.push(&digit(b'0' + (i % 10) as u8, i * 1_000, i * 1_000 + 500));
        }
        let seq = s.flush().unwrap();
        assert_eq!(seq.digits.len(), SEQUENCE_DIGITS_MAX);
        assert_eq!(seq.cut_off, 8);
    }

    #[test]
    fn tones_that_are_not_digits_are_ignored_and_bad_configs_refused() {
        let mut s = sequencer(2_000);
        let mut page = digit(b'1', 0, 10);
        page.measured = Measured::LongTone { hz: 1_000.0 };
        s.push(&page);
        assert_eq!(s.flush(), None);
        for timeout_ms in [0, 199, 60_001] {
            assert!(
                DtmfSequencer::new(SequenceConfig {
                    rate_hz: RATE_HZ,
                    timeout_ms
                })
                .is_err()
            );
        }
    }
}
