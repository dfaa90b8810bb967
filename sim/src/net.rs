//! A seeded fault injector for datagrams, in the spirit of smoltcp's
//! `phy::FaultInjector` and str0m's netem: every datagram handed to
//! [`FaultInjector::send`] comes out zero or more times, possibly late,
//! possibly damaged, and each delivery says what was done to it.

use std::collections::VecDeque;

use crate::rng::Rng;

/// How often each fault happens, as probabilities per sent datagram.
#[derive(Debug, Clone, PartialEq)]
pub struct FaultConfig {
    /// The original is lost.
    pub drop: f64,
    /// The original is delivered again right after itself.
    pub duplicate: f64,
    /// The original is held back and delivered after up to
    /// `reorder_depth_max` later datagrams.
    pub reorder: f64,
    /// The most later datagrams a reordered one waits behind.
    pub reorder_depth_max: usize,
    /// A copy with one random bit flipped is delivered as well.
    pub bit_flip: f64,
    /// A copy cut to a random shorter length is delivered as well.
    pub truncate: f64,
    /// A copy of an earlier datagram (up to `history_len` back) is
    /// delivered as well.
    pub replay: f64,
    /// How far back replays reach.
    pub history_len: usize,
}

impl FaultConfig {
    /// A perfect network.
    pub fn clean() -> FaultConfig {
        FaultConfig {
            drop: 0.0,
            duplicate: 0.0,
            reorder: 0.0,
            reorder_depth_max: 0,
            bit_flip: 0.0,
            truncate: 0.0,
            replay: 0.0,
            history_len: 0,
        }
    }
}

/// What happened to one delivered datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mutation {
    /// The datagram as sent, on time.
    Original,
    /// The datagram as sent, after later ones.
    Reordered,
    /// A second copy of the datagram just sent.
    Duplicate,
    /// A copy of an earlier datagram, sent again.
    Replayed,
    /// A copy with bit `bit` (0 = MSB of byte 0) flipped.
    BitFlip {
        /// The flipped bit's index.
        bit: usize,
    },
    /// A copy cut to `len` bytes.
    Truncated {
        /// The copy's length.
        len: usize,
    },
}

impl Mutation {
    /// Whether this delivery is the sender's datagram itself (on time or
    /// late), as opposed to a copy or a damaged one.
    pub fn is_original(self) -> bool {
        matches!(self, Mutation::Original | Mutation::Reordered)
    }
}

/// One datagram coming out of the network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// The bytes the receiver sees.
    pub bytes: Vec<u8>,
    /// What the network did.
    pub mutation: Mutation,
}

/// A deterministic lossy, duplicating, reordering, corrupting network.
#[derive(Debug)]
pub struct FaultInjector {
    rng: Rng,
    config: FaultConfig,
    held: VecDeque<Held>,
    history: VecDeque<Vec<u8>>,
}

impl FaultInjector {
    /// A network whose every decision comes from `seed`.
    pub fn new(seed: u64, config: FaultConfig) -> FaultInjector {
        FaultInjector {
            rng: Rng::new(seed),
            config,
            held: VecDeque::new(),
            history: VecDeque::new(),
        }
    }

    /// Sends one datagram; appends what the receiver gets now to `out`.
    ///
    /// A copy (duplicate or replay) never arrives before its original: the
    /// duplicate of a held-back datagram is held with it, and replays come
    /// only from datagrams already delivered.
    pub fn send(&mut self, datagram: &[u8], out: &mut Vec<Delivery>) {
        let cfg = self.config.clone();
        if !self.rng.chance(cfg.drop) {
            let duplicate = self.rng.chance(cfg.duplicate);
            if cfg.reorder_depth_max > 0 && self.rng.chance(cfg.reorder) {
                let wait = 1 + self.rng.below(cfg.reorder_depth_max as u64) as usize;
                self.held.push_back(Held {
                    wait,
                    bytes: datagram.to_vec(),
                    duplicate,
                });
            } else {
                self.deliver(datagram.to_vec(), Mutation::Original, duplicate, out);
            }
        }
        if !datagram.is_empty() && self.rng.chance(cfg.bit_flip) {
            let bit = self.rng.below(datagram.len() as u64 * 8) as usize;
            let mut bytes = datagram.to_vec();
            bytes[bit / 8] ^= 0x80 >> (bit % 8);
            out.push(Delivery {
                bytes,
                mutation: Mutation::BitFlip { bit },
            });
        }
        if !datagram.is_empty() && self.rng.chance(cfg.truncate) {
            let len = self.rng.below(datagram.len() as u64) as usize;
            out.push(Delivery {
                bytes: datagram[..len].to_vec(),
                mutation: Mutation::Truncated { len },
            });
        }
        if !self.history.is_empty() && self.rng.chance(cfg.replay) {
            let back = self.rng.below(self.history.len() as u64) as usize;
            let bytes = self.history[self.history.len() - 1 - back].clone();
            out.push(Delivery {
                bytes,
                mutation: Mutation::Replayed,
            });
        }
        self.release_held(out, false);
    }

    fn deliver(
        &mut self,
        bytes: Vec<u8>,
        mutation: Mutation,
        duplicate: bool,
        out: &mut Vec<Delivery>,
    ) {
        if self.config.history_len > 0 {
            if self.history.len() == self.config.history_len {
                self.history.pop_front();
            }
            self.history.push_back(bytes.clone());
        }
        if duplicate {
            out.push(Delivery {
                bytes: bytes.clone(),
                mutation,
            });
            out.push(Delivery {
                bytes,
                mutation: Mutation::Duplicate,
            });
        } else {
            out.push(Delivery { bytes, mutation });
        }
    }

    /// Delivers everything still held back.
    pub fn flush(&mut self, out: &mut Vec<Delivery>) {
        self.release_held(out, true);
    }

    fn release_held(&mut self, out: &mut Vec<Delivery>, all: bool) {
        let mut kept = VecDeque::with_capacity(self.held.len());
        while let Some(held) = self.held.pop_front() {
            if all || held.wait <= 1 {
                self.deliver(held.bytes, Mutation::Reordered, held.duplicate, out);
            } else {
                kept.push_back(Held {
                    wait: held.wait - 1,
                    ..held
                });
            }
        }
        self.held = kept;
    }
}

/// An original held back to arrive late.
#[derive(Debug)]
struct Held {
    /// How many more sends it waits for.
    wait: usize,
    bytes: Vec<u8>,
    /// Whether a duplicate follows it when it arrives.
    duplicate: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(seed: u64, config: FaultConfig, n: u32) -> Vec<Delivery> {
        let mut net = FaultInjector::new(seed, config);
        let mut out = Vec::new();
        for i in 0..n {
            net.send(&i.to_be_bytes(), &mut out);
        }
        net.flush(&mut out);
        out
    }

    #[test]
    fn a_clean_network_delivers_everything_once_in_order() {
        let out = run(1, FaultConfig::clean(), 100);
        let seqs: Vec<u32> = out
            .iter()
            .map(|d| u32::from_be_bytes(d.bytes[..].try_into().unwrap()))
            .collect();
        assert_eq!(seqs, (0..100).collect::<Vec<_>>());
    }

    #[test]
    fn faults_are_reproducible_from_the_seed() {
        let cfg = FaultConfig {
            drop: 0.1,
            duplicate: 0.1,
            reorder: 0.2,
            reorder_depth_max: 5,
            bit_flip: 0.1,
            truncate: 0.1,
            replay: 0.1,
            history_len: 50,
        };
        assert_eq!(run(9, cfg.clone(), 1000), run(9, cfg.clone(), 1000));
        assert_ne!(run(9, cfg.clone(), 1000), run(10, cfg, 1000));
    }

    #[test]
    fn reordered_originals_are_all_delivered_and_late() {
        let cfg = FaultConfig {
            reorder: 0.5,
            reorder_depth_max: 4,
            ..FaultConfig::clean()
        };
        let out = run(3, cfg, 1000);
        let mut seen: Vec<u32> = out
            .iter()
            .map(|d| u32::from_be_bytes(d.bytes[..].try_into().unwrap()))
            .collect();
        assert!(out.iter().any(|d| d.mutation == Mutation::Reordered));
        assert!(
            seen.windows(2).any(|w| w[0] > w[1]),
            "something arrived out of order"
        );
        seen.sort_unstable();
        assert_eq!(seen, (0..1000).collect::<Vec<_>>());
    }
}
