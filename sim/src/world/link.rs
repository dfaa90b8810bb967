//! One direction of one node's path to the relay: its signaling (a TCP
//! stream: late, never lost or reordered; held through an outage and
//! delivered after it, as TCP retransmits) and its datagrams (late,
//! jittered, lost in bursts, reordered, duplicated, damaged, replayed,
//! lost in an outage). Every decision comes from the link's own seeded
//! stream, so adding a fault to one link changes nothing on another.

use std::collections::VecDeque;

use echostream_core::time::{Duration, Instant};

use crate::net::Mutation;
use crate::rng::Rng;

/// Gilbert–Elliott burst loss: a good and a bad state, each with its own
/// loss probability, and the chances per datagram of switching.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BurstLoss {
    /// Chance per datagram of going from good to bad.
    pub enter_bad: f64,
    /// Chance per datagram of going from bad back to good.
    pub leave_bad: f64,
    /// Loss probability while good.
    pub loss_good: f64,
    /// Loss probability while bad.
    pub loss_bad: f64,
}

impl BurstLoss {
    /// No loss.
    pub const NONE: BurstLoss = BurstLoss {
        enter_bad: 0.0,
        leave_bad: 1.0,
        loss_good: 0.0,
        loss_bad: 0.0,
    };

    /// Independent loss with probability `p`.
    pub fn uniform(p: f64) -> BurstLoss {
        BurstLoss {
            loss_good: p,
            ..BurstLoss::NONE
        }
    }

    /// Bursts: about `mean_burst` datagrams lost in a row, `rate` of all
    /// datagrams lost in the long run.
    pub fn bursts(rate: f64, mean_burst: f64) -> BurstLoss {
        let leave_bad = 1.0 / mean_burst.max(1.0);
        // Stationary share of bad = enter / (enter + leave) = rate.
        let rate = rate.clamp(0.0, 0.99);
        BurstLoss {
            enter_bad: leave_bad * rate / (1.0 - rate),
            leave_bad,
            loss_good: 0.0,
            loss_bad: 1.0,
        }
    }
}

/// How one direction of a path behaves.
#[derive(Debug, Clone, PartialEq)]
pub struct LinkModel {
    /// Base one-way latency (both signaling and datagrams).
    pub latency: Duration,
    /// Extra latency, uniform in `0..=jitter` (datagrams may overtake each
    /// other; signaling stays in order).
    pub jitter: Duration,
    /// Datagram loss.
    pub loss: BurstLoss,
    /// Chance a datagram is held back by `reorder_delay` more.
    pub reorder: f64,
    /// How much longer a reordered datagram takes.
    pub reorder_delay: Duration,
    /// Chance a datagram arrives twice.
    pub duplicate: f64,
    /// Chance a copy with one bit flipped arrives as well.
    pub bit_flip: f64,
    /// Chance an earlier datagram (up to `replay_depth` back) arrives
    /// again as well.
    pub replay: f64,
    /// How far back replays reach.
    pub replay_depth: usize,
}

impl LinkModel {
    /// A clean path with `latency_ms` one way.
    pub fn clean(latency_ms: u64) -> LinkModel {
        LinkModel {
            latency: Duration::from_millis(latency_ms),
            jitter: Duration::ZERO,
            loss: BurstLoss::NONE,
            reorder: 0.0,
            reorder_delay: Duration::ZERO,
            duplicate: 0.0,
            bit_flip: 0.0,
            replay: 0.0,
            replay_depth: 0,
        }
    }

    /// A bad mobile path: 40 ms ± 30 ms, 3 % loss in bursts of 3, 1 %
    /// reordered by 40 ms, 0.5 % duplicated, 0.2 % bit flips, 0.5 % replays.
    pub fn hostile() -> LinkModel {
        LinkModel {
            latency: Duration::from_millis(40),
            jitter: Duration::from_millis(30),
            loss: BurstLoss::bursts(0.03, 3.0),
            reorder: 0.01,
            reorder_delay: Duration::from_millis(40),
            duplicate: 0.005,
            bit_flip: 0.002,
            replay: 0.005,
            replay_depth: 64,
        }
    }
}

/// What a link did, counted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LinkStats {
    /// Datagrams handed to it.
    pub datagrams: u64,
    /// Lost to the loss model.
    pub lost: u64,
    /// Lost in an outage.
    pub outage_lost: u64,
    /// Held back (reordered).
    pub reordered: u64,
    /// Delivered twice.
    pub duplicated: u64,
    /// Damaged copies delivered.
    pub flipped: u64,
    /// Earlier datagrams delivered again.
    pub replayed: u64,
    /// Signaling messages.
    pub texts: u64,
    /// Signaling messages held through an outage.
    pub texts_held: u64,
}

/// One direction of a node's path. See the [module docs](self).
#[derive(Debug)]
pub struct Link {
    /// How it behaves (may be changed while running).
    pub model: LinkModel,
    rng: Rng,
    bad: bool,
    history: VecDeque<Vec<u8>>,
    /// Outages in force on datagrams and on signaling (they nest).
    media_down: u32,
    signal_down: u32,
    /// When the last signaling message arrives (they stay in order).
    last_text_at: Instant,
    /// What it did.
    pub stats: LinkStats,
}

/// Which traffic an outage takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Path {
    /// Signaling only.
    Signaling,
    /// Datagrams only.
    Media,
    /// Both.
    Both,
}

impl Link {
    /// A link whose every decision comes from `seed`.
    pub fn new(model: LinkModel, seed: u64) -> Link {
        Link {
            model,
            rng: Rng::new(seed),
            bad: false,
            history: VecDeque::new(),
            media_down: 0,
            signal_down: 0,
            last_text_at: Instant::ZERO,
            stats: LinkStats::default(),
        }
    }

    /// An outage of `path` starts (`down`) or ends.
    pub fn set_outage(&mut self, path: Path, down: bool) {
        let step = |n: &mut u32| *n = if down { *n + 1 } else { n.saturating_sub(1) };
        if matches!(path, Path::Media | Path::Both) {
            step(&mut self.media_down);
        }
        if matches!(path, Path::Signaling | Path::Both) {
            step(&mut self.signal_down);
        }
    }

    /// Whether signaling is cut now (messages wait for the outage's end).
    pub fn signaling_down(&self) -> bool {
        self.signal_down > 0
    }

    /// When a signaling message sent at `now` arrives (after those before
    /// it). Call only while signaling is up.
    pub fn text_at(&mut self, now: Instant) -> Instant {
        self.stats.texts += 1;
        let at = now + self.model.latency + self.jitter();
        let at = at.max(self.last_text_at);
        self.last_text_at = at;
        at
    }

    /// A signaling message waits for an outage's end (counted).
    pub fn note_text_held(&mut self) {
        self.stats.texts_held += 1;
    }

    /// Sends one datagram at `now`: appends each copy that arrives, with
    /// when and what was done to it, to `out`.
    pub fn datagram(
        &mut self,
        now: Instant,
        datagram: &[u8],
        out: &mut Vec<(Instant, Vec<u8>, Mutation)>,
    ) {
        self.stats.datagrams += 1;
        if self.media_down > 0 {
            self.stats.outage_lost += 1;
            return;
        }
        let m = &self.model;
        let (loss, reorder, duplicate) = (m.loss, m.reorder, m.duplicate);
        let (bit_flip, replay, replay_depth) = (m.bit_flip, m.replay, m.replay_depth);
        // Gilbert–Elliott: move the state, then lose by the state's rate.
        self.bad = if self.bad {
            !self.rng.chance(loss.leave_bad)
        } else {
            self.rng.chance(loss.enter_bad)
        };
        let lost = self.rng.chance(if self.bad {
            loss.loss_bad
        } else {
            loss.loss_good
        });
        if lost {
            self.stats.lost += 1;
        } else {
            let mut at = now + self.model.latency + self.jitter();
            let mut mutation = Mutation::Original;
            if self.rng.chance(reorder) {
                at += self.model.reorder_delay;
                mutation = Mutation::Reordered;
                self.stats.reordered += 1;
            }
            out.push((at, datagram.to_vec(), mutation));
            if self.rng.chance(duplicate) {
                self.stats.duplicated += 1;
                let later = at + self.jitter();
                out.push((later, datagram.to_vec(), Mutation::Duplicate));
            }
            if replay_depth > 0 {
                if self.history.len() == replay_depth {
                    self.history.pop_front();
                }
                self.history.push_back(datagram.to_vec());
            }
        }
        if !datagram.is_empty() && self.rng.chance(bit_flip) {
            self.stats.flipped += 1;
            let bit = self.rng.below(datagram.len() as u64 * 8) as usize;
            let mut bytes = datagram.to_vec();
            bytes[bit / 8] ^= 0x80 >> (bit % 8);
            let at = now + self.model.latency + self.jitter();
            out.push((at, bytes, Mutation::BitFlip { bit }));
        }
        if !self.history.is_empty() && self.rng.chance(replay) {
            self.stats.replayed += 1;
            let back = self.rng.below(self.history.len() as u64) as usize;
            let bytes = self.history[self.history.len() - 1 - back].clone();
            let at = now + self.model.latency + self.jitter();
            out.push((at, bytes, Mutation::Replayed));
        }
    }

    fn jitter(&mut self) -> Duration {
        let jitter = self.model.jitter.as_micros();
        if jitter == 0 {
            Duration::ZERO
        } else {
            Duration::from_micros(self.rng.below(jitter + 1))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn send(link: &mut Link, n: u32) -> Vec<(Instant, Vec<u8>, Mutation)> {
        let mut out = Vec::new();
        for i in 0..n {
            let now = Instant::from_millis(u64::from(i) * 20);
            link.datagram(now, &i.to_be_bytes(), &mut out);
        }
        out
    }

    #[test]
    fn burst_loss_loses_its_share_in_runs() {
        let model = LinkModel {
            loss: BurstLoss::bursts(0.1, 4.0),
            ..LinkModel::clean(10)
        };
        let mut link = Link::new(model, 5);
        let out = send(&mut link, 20_000);
        let lost = 20_000 - out.len();
        assert!((1_500..2_500).contains(&lost), "{lost}");
        // Runs: the mean gap between consecutive survivors is long.
        let seqs: Vec<u32> = out
            .iter()
            .map(|(_, b, _)| u32::from_be_bytes(b[..].try_into().unwrap()))
            .collect();
        let gaps: Vec<u32> = seqs
            .windows(2)
            .map(|w| w[1] - w[0] - 1)
            .filter(|&g| g > 0)
            .collect();
        let mean = f64::from(gaps.iter().sum::<u32>()) / gaps.len() as f64;
        assert!(mean > 2.5, "mean burst {mean}");
    }

    #[test]
    fn an_outage_loses_datagrams_and_the_same_seed_gives_the_same_link() {
        let mut a = Link::new(LinkModel::hostile(), 9);
        let mut b = Link::new(LinkModel::hostile(), 9);
        assert_eq!(send(&mut a, 500), send(&mut b, 500));
        a.set_outage(Path::Media, true);
        assert!(send(&mut a, 10).is_empty());
        a.set_outage(Path::Media, false);
        assert!(!send(&mut a, 10).is_empty());
        assert_eq!(a.stats.outage_lost, 10);
    }

    #[test]
    fn signaling_stays_in_order_under_jitter() {
        let mut link = Link::new(
            LinkModel {
                jitter: Duration::from_millis(50),
                ..LinkModel::clean(10)
            },
            3,
        );
        let mut last = Instant::ZERO;
        for i in 0..1_000 {
            let at = link.text_at(Instant::from_millis(i));
            assert!(at >= last);
            last = at;
        }
    }
}
