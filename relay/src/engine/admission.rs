//! Who may take one of the slots for connections that have not said
//! `hello` yet: the pending pool, the per-IP cap, and an accept rate.
//! One set of rules for the engine ([`Relay::handle_connect`](super::Relay::handle_connect))
//! and the server, which applies them at accept, before any TLS work.
//! Sans-IO: the rate's bucket runs on the [`Instant`] it is handed.

use core::net::IpAddr;

use echostream_core::time::Instant;

use super::config::Limits;

/// Why a connection was refused a pending slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// `limits.pending_max` connections wait for `hello` already.
    PoolFull,
    /// `limits.pending_per_ip_max` of them come from its IP.
    PerIp,
    /// More connections than the accept rate allows.
    Rate,
}

/// Checks the pool and the per-IP cap for a connection from `peer`,
/// given the IPs of the connections still waiting for `hello`. The
/// per-IP cap is reported before a full pool (the more specific reason).
///
/// # Errors
/// [`Refusal::PoolFull`] or [`Refusal::PerIp`].
pub fn check_pool(
    limits: &Limits,
    peer: IpAddr,
    pending: impl Iterator<Item = IpAddr>,
) -> Result<(), Refusal> {
    let peer = peer.to_canonical();
    let (all, same_ip) = pending.fold((0, 0), |(all, same_ip), ip| {
        (all + 1, same_ip + usize::from(ip.to_canonical() == peer))
    });
    if same_ip >= limits.pending_per_ip_max {
        Err(Refusal::PerIp)
    } else if all >= limits.pending_max {
        Err(Refusal::PoolFull)
    } else {
        Ok(())
    }
}

/// The accept rate: a token bucket of `rate_per_s` a second, holding at
/// most one second's worth.
#[derive(Debug, Clone)]
pub struct AcceptRate {
    rate_per_s: u32,
    /// Tokens, in millionths.
    micro_tokens: u64,
    refilled: Instant,
}

impl AcceptRate {
    /// A full bucket at `now`.
    pub fn new(rate_per_s: u32, now: Instant) -> AcceptRate {
        AcceptRate {
            rate_per_s,
            micro_tokens: u64::from(rate_per_s) * 1_000_000,
            refilled: now,
        }
    }

    /// Takes a token at `now`.
    ///
    /// # Errors
    /// [`Refusal::Rate`] when the bucket is empty.
    pub fn take(&mut self, now: Instant) -> Result<(), Refusal> {
        let elapsed_us = now.saturating_duration_since(self.refilled).as_micros();
        let burst = u64::from(self.rate_per_s) * 1_000_000;
        self.micro_tokens = self
            .micro_tokens
            .saturating_add(elapsed_us.saturating_mul(u64::from(self.rate_per_s)))
            .min(burst);
        self.refilled = now;
        if self.micro_tokens < 1_000_000 {
            return Err(Refusal::Rate);
        }
        self.micro_tokens -= 1_000_000;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pool_then_the_ip_cap_then_the_rate() {
        let limits = Limits {
            pending_max: 3,
            pending_per_ip_max: 2,
            ..Limits::default()
        };
        let a = IpAddr::from([10, 0, 0, 1]);
        let b = IpAddr::from([10, 0, 0, 2]);
        assert_eq!(check_pool(&limits, a, [b].into_iter()), Ok(()));
        assert_eq!(
            check_pool(&limits, a, [a, a].into_iter()),
            Err(Refusal::PerIp)
        );
        assert_eq!(
            check_pool(&limits, b, [a, a, b].into_iter()),
            Err(Refusal::PoolFull)
        );
        let mapped: IpAddr = "::ffff:10.0.0.1".parse().unwrap();
        assert_eq!(
            check_pool(&limits, mapped, [a, a].into_iter()),
            Err(Refusal::PerIp)
        );

        let mut rate = AcceptRate::new(2, Instant::ZERO);
        assert_eq!(rate.take(Instant::ZERO), Ok(()));
        assert_eq!(rate.take(Instant::ZERO), Ok(()));
        assert_eq!(rate.take(Instant::ZERO), Err(Refusal::Rate));
        assert_eq!(rate.take(Instant::from_millis(500)), Ok(()));
        assert_eq!(rate.take(Instant::from_millis(500)), Err(Refusal::Rate));
        // Never more than a second's worth.
        let later = Instant::from_millis(60_000);
        for _ in 0..2 {
            assert_eq!(rate.take(later), Ok(()));
        }
        assert_eq!(rate.take(later), Err(Refusal::Rate));
    }
}
