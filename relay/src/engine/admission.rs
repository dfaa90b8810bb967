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

/// Room for a new connection in the pending pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admit<K> {
    /// A free slot.
    Room,
    /// The pool is full: close this pending connection (the oldest of the
    /// IP holding the most) to make room.
    Evict(K),
}

/// Checks the pool and the per-IP cap for a connection from `peer`,
/// given the connections still waiting for `hello` as `(key, IP, since)`
/// (`since` orders them by age: the smallest is the oldest). The per-IP
/// cap is reported before a full pool (the more specific reason).
///
/// A full pool makes room when some IP holds more of it than the new
/// connection's IP would: that IP's oldest connection is evicted. So a
/// few attacking hosts filling the pool cannot keep a node out; it takes
/// as many hosts as the pool has slots, each reconnecting within the
/// `hello` time-out. Quadratic in the pending count, which `pending_max`
/// bounds.
///
/// # Errors
/// [`Refusal::PerIp`], or [`Refusal::PoolFull`] when no IP holds more
/// than the newcomer's would.
pub fn check_pool<K, S, I>(limits: &Limits, peer: IpAddr, pending: I) -> Result<Admit<K>, Refusal>
where
    K: Copy,
    S: Ord + Copy,
    I: Iterator<Item = (K, IpAddr, S)> + Clone,
{
    let peer = peer.to_canonical();
    let count = |ip: IpAddr| {
        pending
            .clone()
            .filter(|&(_, other, _)| other.to_canonical() == ip)
            .count()
    };
    let all = pending.clone().count();
    let same_ip = count(peer);
    if same_ip >= limits.pending_per_ip_max {
        return Err(Refusal::PerIp);
    }
    if all < limits.pending_max {
        return Ok(Admit::Room);
    }
    let mut victim: Option<(usize, S, K)> = None;
    for (key, ip, since) in pending.clone() {
        let held = count(ip.to_canonical());
        let worse =
            victim.is_none_or(|(most, oldest, _)| held > most || (held == most && since < oldest));
        if worse {
            victim = Some((held, since, key));
        }
    }
    match victim {
        Some((held, _, key)) if held > same_ip + 1 => Ok(Admit::Evict(key)),
        _ => Err(Refusal::PoolFull),
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
        let c = IpAddr::from([10, 0, 0, 3]);
        let pool = |ips: &[IpAddr]| -> Vec<(usize, IpAddr, usize)> {
            ips.iter().enumerate().map(|(i, &ip)| (i, ip, i)).collect()
        };
        let check = |peer, ips: &[IpAddr]| check_pool(&limits, peer, pool(ips).into_iter());
        assert_eq!(check(a, &[b]), Ok(Admit::Room));
        assert_eq!(check(a, &[a, a]), Err(Refusal::PerIp));
        let mapped: IpAddr = "::ffff:10.0.0.1".parse().unwrap();
        assert_eq!(check(mapped, &[a, a]), Err(Refusal::PerIp));
        // Full: the IP holding the most gives up its oldest, if it holds
        // more than the newcomer's IP would.
        assert_eq!(check(c, &[b, a, a]), Ok(Admit::Evict(1)));
        assert_eq!(check(b, &[a, b, a]), Err(Refusal::PoolFull));
        assert_eq!(check(c, &[a, b, c]), Err(Refusal::PoolFull));
        assert_eq!(check(a, &[b, c, a]), Err(Refusal::PoolFull));

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
