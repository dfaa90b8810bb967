//! Reconnect delays: exponential backoff with full jitter.
//!
//! Attempt `n` (from 0) waits a uniformly random time in
//! `[0, min(cap, BACKOFF_START × 2ⁿ)]` ("full jitter", from Brooker's
//! "Exponential Backoff And Jitter"): nodes that lost the relay together
//! (a relay restart) spread their reconnects out instead of arriving in
//! waves. A welcome resets the attempt count. The randomness comes from a
//! seed the driver passes in (the operating system's random source on
//! Linux, the simulation's seed in the simulator), so a run replays.

use crate::time::Duration;

/// The ceiling of the first attempt's delay.
pub const BACKOFF_START: Duration = Duration::from_millis(250);

/// The most doublings applied; 2^16 × 250 ms is far past any sensible cap.
const DOUBLINGS_MAX: u32 = 16;

/// Reconnect delays for one link.
#[derive(Debug, Clone)]
pub struct Backoff {
    cap: Duration,
    attempt: u32,
    rng: u64,
}

impl Backoff {
    /// Delays up to `cap` (at least [`BACKOFF_START`]), jittered from `seed`.
    pub fn new(cap: Duration, seed: u64) -> Backoff {
        Backoff {
            cap: if cap < BACKOFF_START {
                BACKOFF_START
            } else {
                cap
            },
            attempt: 0,
            // xorshift must not start at zero.
            rng: seed | 1,
        }
    }

    /// The delay before the next attempt; each call doubles the ceiling
    /// until it reaches the cap.
    pub fn next_delay(&mut self) -> Duration {
        let ceiling_us = self.ceiling().as_micros();
        self.attempt = self.attempt.saturating_add(1);
        Duration::from_micros(self.next_random() % (ceiling_us + 1))
    }

    /// The ceiling of the next delay.
    pub fn ceiling(&self) -> Duration {
        let doublings = self.attempt.min(DOUBLINGS_MAX);
        let ceiling_us = BACKOFF_START.as_micros().saturating_mul(1u64 << doublings);
        Duration::from_micros(ceiling_us.min(self.cap.as_micros()))
    }

    /// Back to the first attempt's ceiling (after a welcome).
    pub fn reset(&mut self) {
        self.attempt = 0;
    }

    /// xorshift64* (Vigna): plenty for spreading retries.
    fn next_random(&mut self) -> u64 {
        let mut x = self.rng;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use std::vec::Vec;

    use super::*;

    #[test]
    fn ceilings_double_up_to_the_cap_and_reset() {
        let mut backoff = Backoff::new(Duration::from_secs(30), 7);
        let mut ceilings = Vec::new();
        for _ in 0..10 {
            let ceiling = backoff.ceiling();
            ceilings.push(ceiling.as_millis());
            assert!(backoff.next_delay() <= ceiling);
        }
        assert_eq!(
            ceilings,
            [250, 500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000]
        );
        backoff.reset();
        assert_eq!(backoff.ceiling(), BACKOFF_START);
    }

    #[test]
    fn delays_are_spread_over_the_whole_range() {
        let mut backoff = Backoff::new(Duration::from_millis(250), 42);
        let delays: Vec<u64> = (0..1000)
            .map(|_| backoff.next_delay().as_millis())
            .collect();
        assert!(delays.iter().all(|&d| d <= 250));
        let low = delays.iter().filter(|&&d| d < 125).count();
        assert!((400..600).contains(&low), "{low} of 1000 below half");
    }

    #[test]
    fn a_cap_below_the_start_is_raised_to_it() {
        let backoff = Backoff::new(Duration::from_millis(1), 1);
        assert_eq!(backoff.ceiling(), BACKOFF_START);
    }

    #[test]
    fn two_seeds_give_different_delays() {
        let mut a = Backoff::new(Duration::from_secs(30), 1);
        let mut b = Backoff::new(Duration::from_secs(30), 2);
        let a: Vec<_> = (0..5).map(|_| a.next_delay()).collect();
        let b: Vec<_> = (0..5).map(|_| b.next_delay()).collect();
        assert_ne!(a, b);
    }
}
