//! The delay estimator: where the fastest packet would be, and how late the
//! others come relative to it.
//!
//! Two parts, both after NetEq (WebRTC's audio jitter buffer):
//!
//! - [`ArrivalReference`] tracks the *fastest path*: the smallest
//!   `offset = arrival − media time` seen, the arrival time a packet would
//!   have with no queueing at all. NetEq takes the minimum over a 2 s window
//!   (`PacketArrivalHistory`); here it is a *leaky minimum*: the reference
//!   rises by [`REFERENCE_LEAK_PPM`] of elapsed time and any packet below it
//!   pulls it down at once. It costs two words, forgets a stale minimum
//!   (sender clock drift, a route change, a long pause) at 1 ms per second,
//!   and survives the gap between talk-spurts, so the first packet of a
//!   talk-spurt is measured against the path and not against itself.
//! - [`DelayHistogram`] is NetEq's forgetting histogram (`Histogram` with
//!   `forget_factor` and `start_forget_weight`): each sample multiplies every
//!   bucket by `1 − w` and adds `w` to its own, with `w = 1/n` for the first
//!   samples (a plain average) and then a fixed weight that gives a memory of
//!   [`HISTORY_US`] of packets. Probabilities are Q30 integers; a quantile is
//!   one walk over the buckets.
//!
//! The relative delay `offset − reference` cancels the clock offset between
//! sender and receiver; sender drift appears as a slow slope that the leak
//! (up to 1000 ppm) or the minimum (any speed) follows.

/// How fast the reference forgets its minimum: 1000 ppm = 1 ms per second.
/// Ten times the ±100 ppm a sound card's clock may drift, so drift never
/// inflates the relative delays; small enough that between two near-minimum
/// packets (every second or two on a jittery path) the reference creeps up
/// by only a millisecond or two.
pub const REFERENCE_LEAK_PPM: i64 = 1_000;

/// Width of one histogram bucket. A sample lands in the nearest bucket, a
/// quantile is a bucket's centre: ±1 ms.
pub const BUCKET_US: i64 = 2_000;

/// Buckets in the histogram: 0 to 510 ms; longer delays count as 510 ms.
pub const BUCKETS: usize = 256;

/// The histogram's memory: a sample's weight falls to 1/e after this much
/// audio has arrived (1000 packets at 20 ms frames). Long enough that a 3 %
/// tail is estimated from ~30 packets, short enough to follow a network
/// that changes within a minute.
pub const HISTORY_US: i64 = 20_000_000;

/// Q30 fixed point: 1.0.
const ONE: u32 = 1 << 30;

/// The leaky minimum of `arrival − media time` (µs): the fastest path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArrivalReference {
    /// The reference at `at_us`; `None` before the first packet.
    base: Option<(i64, i64)>,
}

impl ArrivalReference {
    /// No packet seen yet.
    pub const fn new() -> ArrivalReference {
        ArrivalReference { base: None }
    }

    /// The reference at `now_us` (leaked since the last update), if any.
    pub fn at(&self, now_us: i64) -> Option<i64> {
        self.base.map(|(base_us, at_us)| {
            let elapsed_us = now_us.saturating_sub(at_us).max(0);
            base_us.saturating_add(elapsed_us.saturating_mul(REFERENCE_LEAK_PPM) / 1_000_000)
        })
    }

    /// Takes `offset_us` (arrival − media time) measured at `now_us` and
    /// returns its relative delay (≥ 0): how much later than the fastest
    /// path it came.
    pub fn observe(&mut self, now_us: i64, offset_us: i64) -> i64 {
        let reference_us = match self.at(now_us) {
            Some(r) if r <= offset_us => r,
            _ => offset_us,
        };
        self.base = Some((reference_us, now_us));
        offset_us.saturating_sub(reference_us)
    }

    /// Forgets the path: the next packet becomes the reference (a timestamp
    /// discontinuity, a new sender).
    pub fn restart(&mut self, now_us: i64, offset_us: i64) {
        self.base = Some((offset_us, now_us));
    }
}

impl Default for ArrivalReference {
    fn default() -> ArrivalReference {
        ArrivalReference::new()
    }
}

/// A forgetting histogram of relative arrival delays with quantiles.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DelayHistogram {
    /// Q30 probability mass per bucket; sums to about [`ONE`] once sampled.
    buckets: [u32; BUCKETS],
    /// Samples taken, saturating; drives the start-up weights.
    samples: u32,
    /// The steady-state weight of one sample (Q30).
    weight_min: u32,
}

impl DelayHistogram {
    /// An empty histogram whose memory is [`HISTORY_US`] of packets of
    /// `frame_us` each.
    pub fn new(frame_us: i64) -> DelayHistogram {
        let frame_us = frame_us.clamp(1, HISTORY_US);
        let weight_min = (i64::from(ONE) * frame_us / HISTORY_US).max(1);
        DelayHistogram {
            buckets: [0; BUCKETS],
            samples: 0,
            weight_min: u32::try_from(weight_min).unwrap_or(ONE),
        }
    }

    /// Samples taken so far (saturating).
    pub fn samples(&self) -> u32 {
        self.samples
    }

    /// Adds one relative delay (µs; negative counts as zero).
    pub fn add(&mut self, delay_us: i64) {
        self.samples = self.samples.saturating_add(1);
        // 1/n while that is heavier than the steady weight: the first
        // samples are an exact average instead of a slow fade-in from zero.
        let weight = (ONE / self.samples).max(self.weight_min);
        for bucket in &mut self.buckets {
            let decay = (u64::from(*bucket) * u64::from(weight)) >> 30;
            *bucket -= decay as u32;
        }
        let index = (delay_us.max(0).saturating_add(BUCKET_US / 2) / BUCKET_US)
            .min(BUCKETS as i64 - 1) as usize;
        self.buckets[index] = self.buckets[index].saturating_add(weight);
    }

    /// The delay (µs) below which `permille`/1000 of the remembered
    /// samples fall, or `None` before the first sample.
    pub fn quantile_us(&self, permille: u16) -> Option<i64> {
        let total: u64 = self.buckets.iter().map(|&b| u64::from(b)).sum();
        if total == 0 {
            return None;
        }
        let wanted = total * u64::from(permille.min(1_000)) / 1_000;
        let mut cumulative = 0u64;
        for (index, &bucket) in self.buckets.iter().enumerate() {
            cumulative += u64::from(bucket);
            if cumulative >= wanted && bucket > 0 {
                return Some(index as i64 * BUCKET_US);
            }
        }
        Some((BUCKETS as i64 - 1) * BUCKET_US)
    }

    /// Forgets every sample.
    pub fn clear(&mut self) {
        self.buckets = [0; BUCKETS];
        self.samples = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_takes_minimum_and_leaks_upwards() {
        let mut r = ArrivalReference::new();
        assert_eq!(r.at(0), None);
        assert_eq!(r.observe(0, 50_000), 0);
        // 20 ms later the reference has leaked up by 20 µs.
        assert_eq!(r.observe(20_000, 70_000), 19_980);
        assert_eq!(
            r.observe(40_000, 45_000),
            0,
            "a faster packet is the new path"
        );
        // One second later the reference has leaked up by 1 ms.
        assert_eq!(r.at(1_040_000), Some(46_000));
        assert_eq!(r.observe(1_040_000, 60_000), 14_000);
        // A clock that steps back does not leak backwards.
        assert_eq!(r.at(0), Some(46_000));
    }

    #[test]
    fn reference_follows_a_slow_sender_within_the_leak() {
        // The sender runs 100 ppm slow: offsets grow 2 µs per 20 ms frame.
        let mut r = ArrivalReference::new();
        let mut worst = 0;
        for i in 0..30_000i64 {
            let now = i * 20_000;
            worst = worst.max(r.observe(now, 10_000 + 2 * i));
        }
        assert!(worst <= 2, "relative delay stayed {worst} µs");
    }

    #[test]
    fn first_samples_are_an_exact_average() {
        let mut h = DelayHistogram::new(20_000);
        assert_eq!(h.quantile_us(970), None);
        h.add(0);
        h.add(10_000);
        assert_eq!(h.quantile_us(500), Some(0));
        assert_eq!(h.quantile_us(510), Some(10_000));
        h.add(-5);
        h.add(10_000_000);
        assert_eq!(h.quantile_us(999), Some((BUCKETS as i64 - 1) * BUCKET_US));
        assert_eq!(h.samples(), 4);
    }

    #[test]
    fn quantile_of_uniform_delays() {
        let mut h = DelayHistogram::new(20_000);
        // 0..60 ms evenly, many times over: q97 is about 58 ms.
        for i in 0..5_000i64 {
            h.add((i * 7_919) % 60_000);
        }
        let q = h.quantile_us(970).unwrap();
        assert!((56_000..=60_000).contains(&q), "{q}");
        let q50 = h.quantile_us(500).unwrap();
        assert!((28_000..=32_000).contains(&q50), "{q50}");
    }

    #[test]
    fn old_samples_are_forgotten() {
        let mut h = DelayHistogram::new(20_000);
        for _ in 0..2_000 {
            h.add(100_000);
        }
        assert_eq!(h.quantile_us(970), Some(100_000));
        // Five memories (100 s) of a calm path later, the storm is gone.
        for _ in 0..5_000 {
            h.add(4_000);
        }
        assert_eq!(h.quantile_us(970), Some(4_000));
        h.clear();
        assert_eq!(h.quantile_us(970), None);
    }
}
