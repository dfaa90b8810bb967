//! Where the DTMF decoder's acceptance ends: each of the eight tones moved
//! off nominal by 1.5 % to 3.5 % (0.25 % steps, both ways) against every
//! tone of the other group, at four sample alignments, with no twist and
//! at the twist limits, 60 ms tones at -20 dBFS per tone (the stronger
//! one), clean. Prints the accepted fraction per step.
//!
//! `cargo run -p echostream-sim --release --example dtmf_acceptance`
//!
//! Pass `--radio` for 8/8 twist (the reverse-twist column then uses 8 dB),
//! `--deviation P` to try another deviation limit (percent), `--snr DB` to
//! add 300–3000 Hz band noise at DB per-tone SNR (of the stronger tone).

use echostream_core::tone::dtmf::{DtmfConfig, DtmfDetector};
use echostream_sim::audio::{DTMF_COLUMNS_HZ, DTMF_ROWS_HZ, Signal, noise_power_for_snr};

const RATE_HZ: u32 = 8_000;
const AMPLITUDE: f64 = 0.1;
const ALIGNMENTS: usize = 4;

/// Accepted cases (exactly one event, the intended digit) out of all.
fn accepted(
    config: &DtmfConfig,
    percent: f64,
    twist_db: f64,
    snr_db: Option<f64>,
) -> (usize, usize) {
    let (mut ok, mut cases) = (0, 0);
    // twist_db > 0: high tone stronger (reverse), < 0: weaker (normal).
    let (low_amp, high_amp) = if twist_db >= 0.0 {
        (AMPLITUDE * 10f64.powf(-twist_db / 20.0), AMPLITUDE)
    } else {
        (AMPLITUDE, AMPLITUDE * 10f64.powf(twist_db / 20.0))
    };
    for group in 0..2 {
        for (row, &row_hz) in DTMF_ROWS_HZ.iter().enumerate() {
            for (column, &column_hz) in DTMF_COLUMNS_HZ.iter().enumerate() {
                for alignment in 0..ALIGNMENTS {
                    let mut low = f64::from(row_hz);
                    let mut high = f64::from(column_hz);
                    if group == 0 {
                        low *= 1.0 + percent / 100.0;
                    } else {
                        high *= 1.0 + percent / 100.0;
                    }
                    let mut s = Signal::new(RATE_HZ);
                    s.silence(20.0 + 1.7 * alignment as f64);
                    s.dual_tone(low, high, 60.0, low_amp, high_amp);
                    s.silence(60.0);
                    if let Some(snr_db) = snr_db {
                        let seed = (group * 64 + row * 16 + column * 4 + alignment) as u64;
                        s.add_band_noise(noise_power_for_snr(AMPLITUDE, snr_db), seed);
                    }
                    let mut detector = DtmfDetector::new(config).expect("valid config");
                    let mut events = Vec::new();
                    let mut index = 0u64;
                    for chunk in s.samples.chunks(160) {
                        detector.process(index, chunk);
                        index += chunk.len() as u64;
                        while let Some(event) = detector.poll_event() {
                            events.push(event);
                        }
                    }
                    let digit = echostream_sim::audio::DTMF_DIGITS[row * 4 + column];
                    cases += 1;
                    if let [event] = events.as_slice()
                        && event.digit_char() == digit
                    {
                        ok += 1;
                    }
                }
            }
        }
    }
    (ok, cases)
}

fn main() {
    let mut config = DtmfConfig::default();
    let mut snr_db = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--radio" => config.twist_reverse_db_max = 8.0,
            "--deviation" => {
                let value = args.next().expect("--deviation takes a percentage");
                config.deviation_percent_max = value.parse().expect("--deviation is a number");
            }
            "--snr" => {
                let value = args.next().expect("--snr takes dB");
                snr_db = Some(value.parse().expect("--snr is a number"));
            }
            other => panic!("unknown option {other}; use --radio, --deviation P, --snr DB"),
        }
    }
    config.validate().expect("a valid config");
    let reverse = f64::from(config.twist_reverse_db_max);
    let normal = f64::from(config.twist_normal_db_max);
    println!(
        "deviation limit {} %, twist {normal}/{reverse} dB, band noise {snr_db:?} dB per-tone SNR; accepted of 128 per cell (8 tones x 4 partners x 4 alignments)",
        config.deviation_percent_max
    );
    println!("| deviation | no twist | normal twist {normal} dB | reverse twist {reverse} dB |");
    println!("|---:|---:|---:|---:|");
    for step in (-14..=-6).chain(6..=14) {
        let percent = f64::from(step) * 0.25;
        let cells: Vec<String> = [0.0, -normal, reverse]
            .iter()
            .map(|&twist| {
                let (ok, cases) = accepted(&config, percent, twist, snr_db);
                format!("{ok}/{cases}")
            })
            .collect();
        println!("| {percent:+.2} % | {} |", cells.join(" | "));
    }
}
