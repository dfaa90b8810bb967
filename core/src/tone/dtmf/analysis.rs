//! The per-window stage: is there exactly one DTMF digit in these 25 ms,
//! and at which frequencies and levels?
//!
//! A window is [`WINDOW_SUBS`] consecutive 5 ms sub-blocks
//! ([`SubBlock`]s) from the detector's ring. Guards cheapest first; the
//! first that fails names the [`Reject`] reason:
//!
//! - [`energies`]: window level and presence, from the sub-blocks'
//!   energies alone (no DFT values needed yet).
//! - [`strongest_in`]: the strongest probe of a group and its margin,
//!   rows first (on noise most windows fail there, before the columns'
//!   DFT values are even computed), each followed by [`share`] while no
//!   digit is down: can that probe alone hold the part of the window a
//!   digit's tone must (a lone paging tone or speech near a row fails
//!   here, before the columns' DFT values or any measurement);
//! - [`screen`]: an upper bound on the tones' share of the energy. Cheap;
//!   with the two above it is all a window needs while a validated digit
//!   stays down.
//! - [`confirm`]: the frequencies (see [`measure`]), each
//!   tone's level, twist, the tones' share of the energy, second
//!   harmonics, and the harmonic series (see [`series`]).

use super::bank::{self, FUNDAMENTALS, Group, SubBlock};
use super::complex::Complex;
use super::measure::{self, Tone};
use super::series;
use super::{HIGH, LOW, PROBES_HZ, WINDOW_LEN, WINDOW_SUBS};

const _: () = assert!(LOW.end - LOW.start == 4 && HIGH.end - HIGH.start == 4);

/// A sub-block holding less than this fraction of the window's mean
/// sub-block energy means the signal did not fill the window (it started,
/// stopped or dropped out inside it). 0.5 passes an edge sub-block that
/// is at least 44 % covered.
const PRESENCE_MIN: f32 = 0.5;

/// The strongest probe of a group must beat every other probe of its group
/// by this power ratio (6 dB) in the nominal 200-point DFT. A genuine tone
/// at ±1.5 % beats its neighbours by 13 dB or more.
const GROUP_MARGIN: f32 = 3.981_071_7;

/// Each tone's second harmonic, after allowing for what the detected tones
/// themselves leak into the harmonic probe, must be at least 12 dB (this
/// amplitude ratio) below the fundamental.
const HARMONIC_AMPLITUDE_MAX: f32 = 0.251_188_64;

/// The largest power correction for the sub-block's scalloping that a
/// tone passing the frequency test can get (5 % off 1633 Hz, the most the
/// config allows, needs 1.79); the cheap bound in [`screen`] uses it so
/// that it never rejects what [`confirm`] would pass.
const SCALLOP_POWER_BOUND: f32 = 2.0;

/// Thresholds in the units the analysis works in, from the config.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Limits {
    /// Least window energy (`Σx²` over [`WINDOW_LEN`] samples) of each tone.
    pub(super) tone_energy_min: f32,
    /// Largest low/high power ratio (normal twist).
    pub(super) normal_twist_max: f32,
    /// Largest high/low power ratio (reverse twist).
    pub(super) reverse_twist_max: f32,
    /// Largest |measured − nominal| / nominal.
    pub(super) deviation_max: f32,
    /// Least fraction of the window's energy the two tones must hold.
    pub(super) tone_ratio_min: f32,
}

/// Why a window holds no digit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Reject {
    /// Too quiet (the whole window, or one of the tones).
    Level,
    /// The signal does not fill the window.
    Presence,
    /// A group's strongest probe does not stand out from its neighbours.
    Margin,
    /// A tone is too far from its nominal frequency.
    Frequency,
    /// The tones' levels differ by more than the twist limits.
    Twist,
    /// The two tones hold too little of the window's energy.
    Ratio,
    /// A tone has a strong second harmonic, or the pair is two members of
    /// a harmonic series (speech, music).
    Harmonic,
}

/// A window that passed [`screen`]: the candidate pair.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Screened {
    /// Row (low group) probe, `0..4`.
    pub(super) row: usize,
    /// Column (high group) probe, `4..8`.
    pub(super) column: usize,
    /// The window's energy, each sub-block's mean removed.
    total: f32,
    /// How much of the first sub-block the signal covers, `0..=1`.
    lead_coverage: f32,
    /// Mean energy of the other sub-blocks.
    sub_mean: f32,
    /// Mean energy of the three middle sub-blocks: what one the signal
    /// fills holds (either edge may be partly covered).
    pub(super) level: f32,
}

/// A window holding one digit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Hit {
    /// Row (low group) index, `0..4`.
    pub(super) row: usize,
    /// Column (high group) index, `0..4`.
    pub(super) column: usize,
    /// Measured frequencies.
    pub(super) low_hz: f32,
    pub(super) high_hz: f32,
    /// Each tone's energy over the window (`Σx²` of that tone alone).
    pub(super) low_energy: f32,
    pub(super) high_energy: f32,
    /// How much of the first sub-block the signal covers, `0..=1`.
    pub(super) lead_coverage: f32,
    /// Mean energy of the other sub-blocks (what a covered one holds).
    pub(super) sub_mean: f32,
    /// Mean energy of the three middle sub-blocks ([`Screened::level`]).
    pub(super) level: f32,
    /// The part of the window's energy the two tones hold, `0..=1`
    /// (at least [`Limits::tone_ratio_min`]): the evidence the timing
    /// stage weighs (see [`timing`](super::timing)).
    pub(super) share: f32,
    /// The larger of the two tones' |measured − nominal| / nominal.
    pub(super) deviation: f32,
}

/// A window's energies, once it passed the level and presence guards.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Energies {
    /// Each sub-block's energy, its mean removed, oldest first.
    sub: [f32; WINDOW_SUBS],
    /// Their sum.
    total: f32,
}

/// The guards on energy alone, on the window's sub-blocks' energies
/// (each with its mean removed, [`SubBlock::ac_energy`]), oldest first.
#[inline]
pub(super) fn energies(sub: [f32; WINDOW_SUBS], limits: &Limits) -> Result<Energies, Reject> {
    // Level: the whole window, each sub-block's mean removed: that drops
    // DC and most sub-audible energy (a 67 Hz CTCSS tone loses 5 dB, 100 Hz
    // 2 dB), and costs a DTMF tone under 2 %.
    let total: f32 = sub.iter().sum();
    if total < 2.0 * limits.tone_energy_min {
        return Err(Reject::Level);
    }

    // Presence: no sub-block much weaker than the rest.
    let sub_min = sub.iter().copied().fold(f32::MAX, f32::min);
    if sub_min * (WINDOW_SUBS as f32) < PRESENCE_MIN * total {
        return Err(Reject::Presence);
    }
    Ok(Energies { sub, total })
}

/// A group's strongest probe in the window's nominal 200-point DFT, if
/// it beats every other probe of the group by [`GROUP_MARGIN`]; the
/// window's sub-blocks (oldest first) must be
/// [`analyse`](SubBlock::analyse)d for `group`.
///
/// # Errors
/// [`Reject::Margin`] when no probe stands out.
#[inline]
pub(super) fn strongest_in(
    window: &[&SubBlock; WINDOW_SUBS],
    group: Group,
) -> Result<usize, Reject> {
    debug_assert!(window.iter().all(|b| b.is_analysed(group)));
    let first = group as usize * 4;
    let (mut re, mut im) = ([0.0f32; 4], [0.0f32; 4]);
    for block in window {
        let (block_re, block_im) = block.dft_parts();
        for lane in 0..4 {
            re[lane] += block_re[first + lane];
        }
        for lane in 0..4 {
            im[lane] += block_im[first + lane];
        }
    }
    let power: [f32; 4] = core::array::from_fn(|l| re[l] * re[l] + im[l] * im[l]);
    // The strongest probe must beat every other one of its group by
    // GROUP_MARGIN: equivalently, only the strongest itself reaches
    // 1/GROUP_MARGIN of it (a tie counts twice and fails, as it should).
    // Counted over all probes, no branch per probe: on noise the winner
    // is random and such branches would be mispredicted half the time.
    let max = max4(&power);
    let reaching: u32 = power
        .iter()
        .map(|&p| u32::from(GROUP_MARGIN * p > max))
        .sum();
    if reaching > 1 {
        return Err(Reject::Margin);
    }
    Ok(first + strongest(&power, max))
}

/// An upper bound on the energy [`confirm`] can measure for a tone at
/// probe `p` (Cauchy–Schwarz over the sub-blocks, and the largest
/// scalloping correction): it weeds out most non-tonal windows before any
/// square root or arctangent.
#[inline]
fn tone_bound(window: &[&SubBlock; WINDOW_SUBS], p: usize) -> f32 {
    let incoherent: f32 = window.iter().map(|b| b.dft(p).norm_sqr()).sum();
    2.0 * SCALLOP_POWER_BOUND * WINDOW_SUBS as f32 * incoherent / WINDOW_LEN as f32
}

/// Whether the strongest row (`Group::Rows`) or column can be one tone
/// of a digit, each on its own, before the other group's DFT values are
/// needed: [`confirm`] needs `low + high ≥ tone_ratio_min·total` with
/// `high ≤ reverse_twist_max·low` and `low ≤ normal_twist_max·high`, so
/// the low tone alone holds at least `tone_ratio_min / (1 +
/// reverse_twist_max)` of the window (a fifth with the defaults) and the
/// high one `tone_ratio_min / (1 + normal_twist_max)` (a tenth), and
/// [`tone_bound`] never falls below what `confirm` measures. So this
/// never fails a window that `confirm` would pass. Band noise, speech and
/// a lone paging tone fail it far more often than the margins alone: the
/// rows' share spares most such windows the columns' DFT values, the
/// columns' share the measurement.
///
/// # Errors
/// [`Reject::Ratio`] when the tone at `probe` cannot hold its share.
#[inline]
pub(super) fn share(
    window: &[&SubBlock; WINDOW_SUBS],
    limits: &Limits,
    energies: &Energies,
    group: Group,
    probe: usize,
) -> Result<(), Reject> {
    let other_max = match group {
        Group::Rows => limits.reverse_twist_max,
        Group::Columns => limits.normal_twist_max,
    };
    if tone_bound(window, probe) * (1.0 + other_max) < limits.tone_ratio_min * energies.total {
        return Err(Reject::Ratio);
    }
    Ok(())
}

/// The cheap guards on a window that passed [`energies`] and whose
/// strongest probes of each group, `row` and `column`, passed
/// [`strongest_in`].
#[inline]
pub(super) fn screen(
    window: &[&SubBlock; WINDOW_SUBS],
    limits: &Limits,
    energies: &Energies,
    (row, column): (usize, usize),
) -> Result<Screened, Reject> {
    let Energies {
        sub: sub_energy,
        total,
    } = *energies;

    let (low_bound, high_bound) = (tone_bound(window, row), tone_bound(window, column));
    if low_bound < limits.tone_energy_min || high_bound < limits.tone_energy_min {
        return Err(Reject::Level);
    }
    if low_bound + high_bound < limits.tone_ratio_min * total {
        return Err(Reject::Ratio);
    }

    let sub_mean = (total - sub_energy[0]) / (WINDOW_SUBS - 1) as f32;
    let lead_coverage = if sub_mean > 0.0 {
        (sub_energy[0] / sub_mean).min(1.0)
    } else {
        1.0
    };
    const _: () = assert!(WINDOW_SUBS == 5);
    let level = (sub_energy[1] + sub_energy[2] + sub_energy[3]) / 3.0;
    Ok(Screened {
        row,
        column,
        total,
        lead_coverage,
        sub_mean,
        level,
    })
}

/// The full guards on a window that passed [`screen`]; `origin` is the
/// phase origin of its first sub-block.
pub(super) fn confirm(
    window: &[&SubBlock; WINDOW_SUBS],
    limits: &Limits,
    screened: &Screened,
) -> Result<Hit, Reject> {
    let Screened {
        row,
        column,
        total,
        lead_coverage,
        sub_mean,
        level,
    } = *screened;
    let values =
        |p: usize| -> [Complex; WINDOW_SUBS] { core::array::from_fn(|k| window[k].dft(p)) };

    // Frequencies.
    let (low, high) =
        measure::measure_pair(&values(row), &values(column), row, column, window[0].origin)
            .ok_or(Reject::Frequency)?;
    let (low_nominal, high_nominal) = (PROBES_HZ[row] as f32, PROBES_HZ[column] as f32);
    // Written so that a NaN offset (none is expected) fails too.
    let within =
        |offset_hz: f32, nominal_hz: f32| offset_hz.abs() <= limits.deviation_max * nominal_hz;
    if !within(low.offset_hz, low_nominal) || !within(high.offset_hz, high_nominal) {
        return Err(Reject::Frequency);
    }

    // Levels, twist, share of the window.
    let energy = |t: &Tone| {
        let a = t.amplitude();
        2.0 * a * a / WINDOW_LEN as f32
    };
    let (low_energy, high_energy) = (energy(&low), energy(&high));
    if low_energy < limits.tone_energy_min || high_energy < limits.tone_energy_min {
        return Err(Reject::Level);
    }
    if low_energy > limits.normal_twist_max * high_energy
        || high_energy > limits.reverse_twist_max * low_energy
    {
        return Err(Reject::Twist);
    }
    if low_energy + high_energy < limits.tone_ratio_min * total {
        return Err(Reject::Ratio);
    }

    // Second harmonics, then the harmonic series.
    let tones = [(row, low), (column, high)];
    for &(probe, tone) in &tones {
        let harmonic = bank::window_probe_dfts(window, probe + FUNDAMENTALS);
        if measure::harmonic_amplitude(&harmonic, probe, &tone, &tones)
            > HARMONIC_AMPLITUDE_MAX * tone.amplitude()
        {
            return Err(Reject::Harmonic);
        }
    }
    let (low_hz, high_hz) = (low_nominal + low.offset_hz, high_nominal + high.offset_hz);
    if series::is_harmonic_series(window, low_hz, high_hz) {
        return Err(Reject::Harmonic);
    }

    Ok(Hit {
        row,
        column: column - LOW.end,
        low_hz,
        high_hz,
        low_energy,
        high_energy,
        lead_coverage,
        sub_mean,
        level,
        share: ((low_energy + high_energy) / total).min(1.0),
        deviation: (low.offset_hz / low_nominal)
            .abs()
            .max((high.offset_hz / high_nominal).abs()),
    })
}

/// The largest of four powers.
#[inline]
fn max4(group: &[f32]) -> f32 {
    let a = if group[0] > group[1] {
        group[0]
    } else {
        group[1]
    };
    let b = if group[2] > group[3] {
        group[2]
    } else {
        group[3]
    };
    if a > b { a } else { b }
}

/// The index of the first of `group` equal to `max`, its largest value.
#[inline]
fn strongest(group: &[f32], max: f32) -> usize {
    group
        .iter()
        .position(|&p| p == max)
        .expect("the maximum is one of the values")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constants_match_their_db() {
        assert!((GROUP_MARGIN - libm::powf(10.0, 0.6)).abs() < 1e-5);
        assert!((HARMONIC_AMPLITUDE_MAX - libm::powf(10.0, -12.0 / 20.0)).abs() < 1e-6);
        // The bound covers the largest scalloping correction the config
        // allows.
        let worst = 1.0 / measure::sub_block_gain(0.05 * 1633.0);
        assert!(worst * worst < SCALLOP_POWER_BOUND, "{worst}");
    }
}
