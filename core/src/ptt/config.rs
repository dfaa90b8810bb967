//! A channel's radio timers: the `timers` section of config.json, checked
//! once, before any machine is made from it.

use core::fmt;

/// COR and PTT timing (DESIGN.md "PTT and COR"). The field names are the
/// ones in config.json's `timers` section, and [`Timers::DEFAULT`] holds
/// the defaults the node's config file documents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timers {
    /// A COR line must stay asserted this long before the channel opens
    /// (contact bounce, noise bursts).
    pub cor_debounce_ms: u32,
    /// Then the channel waits this much longer before it opens (a
    /// repeater's squelch tail, kerchunks); 0 in the usual case, and not a
    /// config.json field yet.
    pub cor_open_delay_ms: u32,
    /// The channel stays open this long after the COR line drops, bridging
    /// squelch flutter.
    pub cor_hang_ms: u32,
    /// PTT is keyed this long before audio plays, while the transmitter
    /// comes up. The audio waits; it is not lost.
    pub tx_delay_ms: u32,
    /// PTT stays keyed this long after the last audio.
    pub ptt_hang_ms: u32,
    /// Transmit time-out: PTT is released after this long keyed, whatever
    /// arrives. Never 0.
    pub timeout_s: u32,
    /// After a time-out, PTT stays locked out until the far side has sent
    /// nothing for this long.
    pub lockout_s: u32,
}

impl Timers {
    /// The defaults: 20 ms debounce, no open delay, 250 ms COR hang,
    /// 150 ms TX delay, 500 ms PTT hang, 180 s time-out, 5 s lock-out.
    pub const DEFAULT: Timers = Timers {
        cor_debounce_ms: 20,
        cor_open_delay_ms: 0,
        cor_hang_ms: 250,
        tx_delay_ms: 150,
        ptt_hang_ms: 500,
        timeout_s: 180,
        lockout_s: 5,
    };

    /// Whether a [`Ptt`](super::Ptt) can run on these timers. The refusals
    /// are the node config's errors for the same fields; what it only warns
    /// about (a time-out over 10 minutes, a debounce over 500 ms) is
    /// accepted. Every COR timer is accepted: any value is safe.
    ///
    /// # Errors
    ///
    /// A zero time-out, or a TX delay not shorter than the time-out.
    pub const fn check(&self) -> Result<(), TimersError> {
        if self.timeout_s == 0 {
            return Err(TimersError::TimeoutZero);
        }
        // u32 ms against u32 s × 1000 in u64: no overflow.
        if self.tx_delay_ms as u64 >= self.timeout_s as u64 * 1_000 {
            return Err(TimersError::TxDelayNotShorterThanTimeout {
                tx_delay_ms: self.tx_delay_ms,
                timeout_s: self.timeout_s,
            });
        }
        Ok(())
    }
}

impl Default for Timers {
    fn default() -> Timers {
        Timers::DEFAULT
    }
}

const _: () = assert!(Timers::DEFAULT.check().is_ok());

/// Why [`Timers`] were refused. [`TimersError::field`] names the
/// config.json field; `Display` starts with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimersError {
    /// `timeout_s` is 0, which would switch the time-out off.
    TimeoutZero,
    /// `tx_delay_ms` is not shorter than the time-out: the transmitter
    /// would time out before any audio played.
    TxDelayNotShorterThanTimeout {
        /// The TX delay.
        tx_delay_ms: u32,
        /// The time-out.
        timeout_s: u32,
    },
}

impl TimersError {
    /// The config.json field at fault, within `timers`.
    pub const fn field(&self) -> &'static str {
        match self {
            TimersError::TimeoutZero => "timeout_s",
            TimersError::TxDelayNotShorterThanTimeout { .. } => "tx_delay_ms",
        }
    }
}

impl fmt::Display for TimersError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ", self.field())?;
        match self {
            TimersError::TimeoutZero => f.write_str(
                "is 0, which would switch off the time-out timer; a stuck stream must never \
                 hold the transmitter keyed",
            ),
            TimersError::TxDelayNotShorterThanTimeout {
                tx_delay_ms,
                timeout_s,
            } => write!(
                f,
                "{tx_delay_ms} ms is not shorter than the {timeout_s} s time-out; the \
                 transmitter would time out before any audio"
            ),
        }
    }
}

impl core::error::Error for TimersError {}

#[cfg(test)]
mod tests {
    extern crate std;

    use std::string::ToString;

    use super::*;

    #[test]
    fn the_defaults_are_the_config_files() {
        let t = Timers::default();
        assert_eq!(t, Timers::DEFAULT);
        assert_eq!(
            (
                t.cor_debounce_ms,
                t.cor_hang_ms,
                t.tx_delay_ms,
                t.ptt_hang_ms
            ),
            (20, 250, 150, 500)
        );
        assert_eq!((t.timeout_s, t.lockout_s, t.cor_open_delay_ms), (180, 5, 0));
        assert_eq!(t.check(), Ok(()));
    }

    #[test]
    fn refusals_name_the_field() {
        let zero = Timers {
            timeout_s: 0,
            ..Timers::DEFAULT
        };
        assert_eq!(zero.check(), Err(TimersError::TimeoutZero));
        assert!(
            zero.check()
                .unwrap_err()
                .to_string()
                .starts_with("timeout_s: is 0")
        );
        let slow = Timers {
            tx_delay_ms: 5_000,
            timeout_s: 5,
            ..Timers::DEFAULT
        };
        let error = slow.check().unwrap_err();
        assert_eq!(error.field(), "tx_delay_ms");
        assert_eq!(
            error.to_string(),
            "tx_delay_ms: 5000 ms is not shorter than the 5 s time-out; the transmitter would \
             time out before any audio"
        );
        // One millisecond shorter is fine; so is anything the node config
        // only warns about.
        let ok = Timers {
            tx_delay_ms: 4_999,
            ..slow
        };
        assert_eq!(ok.check(), Ok(()));
        let extreme = Timers {
            cor_debounce_ms: u32::MAX,
            cor_open_delay_ms: u32::MAX,
            cor_hang_ms: u32::MAX,
            tx_delay_ms: u32::MAX,
            ptt_hang_ms: u32::MAX,
            timeout_s: u32::MAX,
            lockout_s: u32::MAX,
        };
        assert_eq!(extreme.check(), Ok(()));
    }
}
