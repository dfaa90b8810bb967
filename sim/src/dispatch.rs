//! Words of dispatch radio traffic, for the synthesized speech (espeak-ng)
//! that DTMF talk-off is measured on: the DTMF suite's corpus and the
//! talk-off-per-hour example draw their unit names and read-out digits
//! from here (their other word lists differ on purpose: two corpora).

use crate::Rng;

/// Apparatus and unit names, as dispatchers say them.
pub const UNITS: [&str; 12] = [
    "Engine",
    "Medic",
    "Ladder",
    "Rescue",
    "Squad",
    "Battalion",
    "Tanker",
    "Brush",
    "Truck",
    "Ambulance",
    "Car",
    "Unit",
];

/// Digits as read out one by one (house numbers, call-back numbers).
pub const SPOKEN_DIGITS: [&str; 10] = [
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
];

/// One of `list`, drawn from `rng`.
pub fn pick(rng: &mut Rng, list: &[&str]) -> String {
    list[rng.below(list.len() as u64) as usize].to_string()
}
