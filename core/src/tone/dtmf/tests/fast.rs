//! Fast DTMF from radio encoders: 40 ms tones, 15–20 ms gaps, repeated
//! digits, at ±1.5 % and with 8 dB of twist either way, with the radio
//! setting (`on_ms_min` 20, `off_ms_min` 15 or 20, twist 8/8); and what
//! the Q.24 defaults make of the same audio.

use std::string::String;
use std::vec::Vec;

use super::*;

/// The radio encoders' setting.
fn radio(off_ms_min: u32) -> DtmfConfig {
    DtmfConfig {
        twist_normal_db_max: 8.0,
        twist_reverse_db_max: 8.0,
        on_ms_min: 20,
        off_ms_min,
        ..DtmfConfig::DEFAULT
    }
}

/// How the test tones are off: both frequencies scaled by `1 + deviation`;
/// the high tone `twist_db` louder than the low one (negative: weaker),
/// the louder at 0.1 peak.
#[derive(Debug, Clone, Copy)]
struct Off {
    deviation: f64,
    twist_db: f64,
}

const CLEAN: Off = Off {
    deviation: 0.0,
    twist_db: 0.0,
};

/// Every combination the suite asserts: nominal and ±1.5 %, flat and
/// 8 dB either way.
fn impairments() -> Vec<Off> {
    let mut out = Vec::new();
    for deviation in [-0.015, 0.0, 0.015] {
        for twist_db in [-8.0, 0.0, 8.0] {
            out.push(Off {
                deviation,
                twist_db,
            });
        }
    }
    out
}

impl Audio {
    fn digit_off(&mut self, digit: u8, ms: f64, off: Off) -> &mut Audio {
        let (low, high) = pair(digit);
        let weaker = 0.1 * 10f64.powf(-off.twist_db.abs() / 20.0);
        let (low_amp, high_amp) = if off.twist_db >= 0.0 {
            (weaker, 0.1)
        } else {
            (0.1, weaker)
        };
        let scale = 1.0 + off.deviation;
        self.tones(ms, &[(low_amp, low * scale), (high_amp, high * scale)])
    }
}

/// `text` at `on_ms`/`off_ms` after `lead_ms` of silence.
fn sequence(text: &str, on_ms: f64, off_ms: f64, lead_ms: f64, off: Off) -> Vec<f32> {
    let mut a = Audio::default();
    a.silence(lead_ms);
    for d in text.bytes() {
        a.digit_off(d, on_ms, off).silence(off_ms);
    }
    a.silence(50.0);
    a.0
}

fn decoded(config: &DtmfConfig, audio: &[f32]) -> String {
    run_with(config, audio)
        .0
        .iter()
        .map(DtmfEvent::digit_char)
        .collect()
}

/// Leads that put the tones' edges at every part of a 5 ms sub-block.
fn leads() -> impl Iterator<Item = f64> {
    (0..9).map(|i| 10.0 + f64::from(i) * 0.6)
}

const TEXTS: [&str; 4] = ["1122", "5555", "9#9#00*", "1234567890"];

#[test]
fn fast_sequences_with_repeats_are_decoded_at_the_radio_setting() {
    for off_ms_min in [15, 20] {
        let config = radio(off_ms_min);
        for off in impairments() {
            for text in TEXTS {
                for lead in leads() {
                    let audio = sequence(text, 40.0, 20.0, lead, off);
                    assert_eq!(
                        decoded(&config, &audio),
                        text,
                        "off_ms_min {off_ms_min}, {off:?}, lead {lead} ms"
                    );
                }
            }
        }
    }
}

#[test]
fn a_15_ms_gap_separates_repeats_at_min_off_15() {
    for off in impairments() {
        for lead in leads() {
            let audio = sequence("7777", 40.0, 15.0, lead, off);
            assert_eq!(decoded(&radio(15), &audio), "7777", "{off:?}, lead {lead}");
        }
    }
}

#[test]
fn a_10_ms_dropout_inside_a_digit_is_never_a_second_digit() {
    // Dropouts anywhere in a sub-block, in fast and default settings,
    // with the tones off and twisted; and two dropouts 30 ms apart (the
    // silences do not add up).
    for config in [radio(15), radio(20), DtmfConfig::default()] {
        for off in impairments() {
            // The default's reverse twist limit is 4 dB.
            if config.twist_reverse_db_max < 8.0 && off.twist_db > 0.0 {
                continue;
            }
            for lead in leads() {
                let mut a = Audio::default();
                a.silence(lead)
                    .digit_off(b'8', 40.0, off)
                    .silence(10.0)
                    .digit_off(b'8', 40.0, off)
                    .silence(50.0);
                let (events, stats) = run_with(&config, &a.0);
                assert_eq!(digits(&events), [b'8'], "{config:?} {off:?} lead {lead}");
                // The dropout was seen: windows without the digit.
                assert!(stats.rejected_presence > 0);

                let mut a = Audio::default();
                a.silence(lead)
                    .digit_off(b'8', 40.0, off)
                    .silence(10.0)
                    .digit_off(b'8', 30.0, off)
                    .silence(10.0)
                    .digit_off(b'8', 40.0, off)
                    .silence(50.0);
                assert_eq!(
                    digits(&run_with(&config, &a.0).0),
                    [b'8'],
                    "two dropouts: {config:?} {off:?} lead {lead}"
                );
            }
        }
    }
}

#[test]
fn a_sudden_drop_in_level_is_not_a_gap() {
    // A digit whose level falls by 3 to 20 dB at once (a fade, a level
    // step in the encoder) stays one digit at the fastest setting.
    for drop_db in [3.0, 6.0, 10.0, 20.0] {
        for lead in leads() {
            let mut a = Audio::default();
            let (low, high) = pair(b'3');
            let after = 0.1 * 10f64.powf(-drop_db / 20.0);
            a.silence(lead).tones(60.0, &[(0.1, low), (0.1, high)]);
            // Continue the same sines at the lower level, phase intact.
            let start = a.0.len();
            for i in 0..samples(60.0) {
                let t = (start + i) as f64 / f64::from(RATE_HZ);
                let x = after * (core::f64::consts::TAU * low * t).sin()
                    + after * (core::f64::consts::TAU * high * t).sin();
                a.0.push(x as f32);
            }
            a.silence(50.0);
            assert_eq!(
                digits(&run_with(&radio(15), &a.0).0),
                [b'3'],
                "drop {drop_db} dB, lead {lead}"
            );
        }
    }
}

#[test]
fn the_defaults_keep_a_20_ms_gap_inside_one_digit_and_decode_new_digits() {
    // Q.24's 40 ms pause is the default: a repeat after 20 ms is not a new
    // digit there (that is what the radio setting is for), but every
    // change of digit is.
    let defaults = DtmfConfig::default();
    for lead in leads() {
        let audio = sequence("1122", 40.0, 20.0, lead, CLEAN);
        assert_eq!(decoded(&defaults, &audio), "12", "lead {lead}");
        let audio = sequence("1234567890", 40.0, 20.0, lead, CLEAN);
        assert_eq!(decoded(&defaults, &audio), "1234567890", "lead {lead}");
    }
}

#[test]
fn the_defaults_still_reject_short_tones_that_the_radio_setting_accepts() {
    // 20 ms tones: never a digit with the defaults (Q.24 rejects 23 ms);
    // 25 ms tones fill the radio setting's single window wherever they
    // start.
    for lead in leads() {
        let mut a = Audio::default();
        a.silence(lead).digit(b'5', 20.0).silence(50.0);
        assert!(run(&a.0).0.is_empty(), "lead {lead}");
        let mut a = Audio::default();
        a.silence(lead).digit(b'5', 23.0).silence(50.0);
        assert!(run(&a.0).0.is_empty(), "lead {lead}");
        let mut a = Audio::default();
        a.silence(lead).digit(b'5', 25.0).silence(50.0);
        assert_eq!(digits(&run_with(&radio(15), &a.0).0), [b'5'], "lead {lead}");
        // Under 18 ms never fills a window, whatever the setting.
        let mut a = Audio::default();
        a.silence(lead).digit(b'5', 17.0).silence(50.0);
        assert!(run_with(&radio(15), &a.0).0.is_empty(), "lead {lead}");
    }
}
