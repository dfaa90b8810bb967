//! The pause before the next connection attempt.
//!
//! rumqttc's blocking iterator reconnects as soon as it is polled again
//! (DESIGN.md "Events and uploads"), so a refused or unreachable broker
//! would be hammered in a tight loop. Pure: the caller sleeps.

/// First pause after a failure.
pub const BACKOFF_MIN_MS: u64 = 500;
/// Longest pause: a broker back from an outage is found within this.
pub const BACKOFF_MAX_MS: u64 = 30_000;
/// A session that lasted this long counts as a success and resets the
/// pauses. Shorter ones (a broker that accepts and drops at once, or a
/// second node with the same client id knocking this one off) keep
/// backing off instead of reconnecting twice a second for ever.
pub const STABLE_SESSION_MS: u64 = 10_000;

const _: () = assert!(BACKOFF_MIN_MS > 0 && BACKOFF_MIN_MS <= BACKOFF_MAX_MS);

/// Exponential backoff: [`BACKOFF_MIN_MS`] doubling to [`BACKOFF_MAX_MS`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backoff {
    next_ms: u64,
}

impl Default for Backoff {
    fn default() -> Self {
        Self::new()
    }
}

impl Backoff {
    /// No failure yet: the next pause is [`BACKOFF_MIN_MS`].
    pub fn new() -> Backoff {
        Backoff {
            next_ms: BACKOFF_MIN_MS,
        }
    }

    /// Records a failure; returns how long to wait before the next attempt.
    pub fn fail(&mut self) -> u64 {
        let pause_ms = self.next_ms;
        self.next_ms = (self.next_ms * 2).min(BACKOFF_MAX_MS);
        pause_ms
    }

    /// A session ended after `session_ms`: a stable one starts the pauses
    /// over.
    pub fn session_ended(&mut self, session_ms: u64) {
        if session_ms >= STABLE_SESSION_MS {
            *self = Backoff::new();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pauses_double_up_to_the_ceiling() {
        let mut backoff = Backoff::new();
        let pauses: Vec<u64> = (0..9).map(|_| backoff.fail()).collect();
        assert_eq!(
            pauses,
            [
                500, 1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000, 30_000
            ]
        );
    }

    #[test]
    fn a_stable_session_starts_over_and_a_short_one_does_not() {
        let mut backoff = Backoff::new();
        backoff.fail();
        backoff.fail();
        backoff.session_ended(STABLE_SESSION_MS - 1);
        assert_eq!(backoff.fail(), 2_000);
        backoff.session_ended(STABLE_SESSION_MS);
        assert_eq!(backoff.fail(), BACKOFF_MIN_MS);
    }
}
