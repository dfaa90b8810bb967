//! DTMF talk-off per hour: hours of espeak-ng speech (many voices,
//! variants, rates and pitches, dispatch-style texts full of numbers),
//! heard clean, band-limited to a voice radio's 300–3000 Hz, band-limited
//! and hard-clipped, and band-limited in noise, through the decoder at the
//! product defaults, at the radio setting (8/8 twist, 40 ms on / 20 ms
//! off) and with fast timing (8/8 twist, 20 ms on / 20 ms off: one window
//! decides a digit). Prints false digits per hour of audio and every
//! false digit's measurements.
//!
//! `cargo run -p echostream-sim --release --example dtmf_talkoff -- --hours 4`
//!
//! `--deviation P` tries another deviation limit (percent) in all three.
//!
//! Needs espeak-ng and sox. Deterministic for a given `--hours` and
//! `--seed` (and espeak-ng and sox versions).

use std::path::PathBuf;
use std::process::{Command, Stdio};

use echostream_core::tone::dtmf::{DtmfConfig, DtmfDetector, DtmfEvent};
use echostream_sim::Rng;
use echostream_sim::audio::{band_noise, dbfs_to_amplitude};
use echostream_sim::dispatch::{SPOKEN_DIGITS, UNITS, pick};

const RATE_HZ: u32 = 8_000;
/// Detector blocks, as the capture thread lends them (20 ms).
const BLOCK_SAMPLES: usize = 160;

const VOICES: [&str; 9] = [
    "en-us",
    "en-gb",
    "en-gb-scotland",
    "en-gb-x-rp",
    "en-029",
    "en-us-nyc",
    "en-gb-x-gbclan",
    "en-gb-x-gbcwmd",
    "en-uk",
];
const VARIANTS: [&str; 40] = [
    "m1", "m2", "m3", "m4", "m5", "m6", "m7", "m8", "f1", "f2", "f3", "f4", "f5", "klatt",
    "klatt2", "klatt3", "klatt4", "klatt5", "klatt6", "croak", "Annie", "edward", "Andy", "Alicia",
    "Belinda", "Benjamin", "Caleb", "David", "Gene", "Jacky", "Lee", "Linda", "Max", "Michael",
    "Mike", "Paul", "Rob", "Steph", "grandma", "grandpa",
];
const INCIDENTS: [&str; 10] = [
    "a structure fire",
    "a medical call, difficulty breathing",
    "a motor vehicle accident with injuries",
    "an alarm activation",
    "a fall, elderly patient",
    "a gas leak inside the residence",
    "a chest pain call",
    "smoke in the building",
    "a water rescue",
    "an unresponsive person",
];
const STREETS: [&str; 10] = [
    "Main Street",
    "Oak Avenue",
    "Highway Nine",
    "Elm Court",
    "Mill Road",
    "Lakeview Drive",
    "Church Street",
    "Route Sixty",
    "Harbor Boulevard",
    "County Road Twelve",
];
const FILLER: [&str; 14] = [
    "copy that, we are en route",
    "show us on scene, we have smoke showing from the second floor",
    "requesting an additional ambulance to the scene",
    "command is established on the alpha side",
    "all units be advised the hydrant is out of service",
    "we are clear and available, returning to quarters",
    "dispatch, can you repeat that address",
    "patient is conscious and breathing, we will be transporting",
    "the weather service has issued a severe thunderstorm warning for the county",
    "this is a test of the paging system, this is only a test",
    "please remember to check your breathing apparatus at the start of each shift",
    "she sells sea shells by the sea shore, and the shells she sells are surely sea shells",
    "we need a tow truck and traffic control at the intersection",
    "eee ooo aaah mmm, hello hello, testing one two, testing",
];

/// About 60 words of dispatch traffic.
fn text(rng: &mut Rng) -> String {
    let mut text = String::new();
    while text.split_whitespace().count() < 60 {
        let sentence = match rng.below(4) {
            0 => format!(
                "{} {}, respond to {} at {} {} {} {}. ",
                pick(rng, &UNITS),
                rng.below(40) + 1,
                pick(rng, &INCIDENTS),
                pick(rng, &SPOKEN_DIGITS),
                pick(rng, &SPOKEN_DIGITS),
                pick(rng, &SPOKEN_DIGITS),
                pick(rng, &STREETS),
            ),
            1 => format!(
                "Time out {}{}{}{} hours. ",
                rng.below(3),
                rng.below(10),
                rng.below(6),
                rng.below(10)
            ),
            2 => format!("{}. ", pick(rng, &FILLER)),
            _ => {
                let digits: Vec<String> = (0..7).map(|_| pick(rng, &SPOKEN_DIGITS)).collect();
                format!("Call back number {}. ", digits.join(" "))
            }
        };
        text.push_str(&sentence);
    }
    text
}

/// One utterance at 8 kHz (sox's resampler), peak at -3 dBFS.
fn synthesize(voice: &str, speed_wpm: u64, pitch: u64, text: &str) -> Vec<f32> {
    let out = Command::new("sh")
        .args([
            "-c",
            "espeak-ng -v \"$1\" -s \"$2\" -p \"$3\" --stdout \"$4\" | sox -t wav - -r 8000 -t raw -e signed -b 16 -c 1 -",
            "sh",
            voice,
            &speed_wpm.to_string(),
            &pitch.to_string(),
            text,
        ])
        .stderr(Stdio::null())
        .output()
        .expect("run espeak-ng and sox");
    let mut speech: Vec<f32> = out
        .stdout
        .chunks_exact(2)
        .map(|b| f32::from(i16::from_le_bytes([b[0], b[1]])) / 32_768.0)
        .collect();
    let peak = speech.iter().fold(0.0f32, |m, &x| m.max(x.abs()));
    if peak > 0.0 {
        let gain = dbfs_to_amplitude(-3.0) as f32 / peak;
        speech.iter_mut().for_each(|x| *x *= gain);
    }
    speech
}

/// `samples` through sox's 300–3000 Hz band-pass (a voice radio's
/// passband), by way of two scratch files.
fn band_limit(samples: &[f32]) -> Vec<f32> {
    let dir = PathBuf::from(std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| "target".into()))
        .join("test-audio");
    std::fs::create_dir_all(&dir).expect("create the scratch directory");
    let input = dir.join(format!("talkoff-{}.in.raw", std::process::id()));
    let output = dir.join(format!("talkoff-{}.out.raw", std::process::id()));
    let bytes: Vec<u8> = samples
        .iter()
        .flat_map(|&x| ((x.clamp(-1.0, 1.0) * 32_767.0).round() as i16).to_le_bytes())
        .collect();
    std::fs::write(&input, bytes).expect("write the scratch input");
    let raw = [
        "-t", "raw", "-r", "8000", "-e", "signed", "-b", "16", "-c", "1",
    ];
    let status = Command::new("sox")
        .args(raw)
        .arg(&input)
        .args(raw)
        .arg(&output)
        .args(["sinc", "300-3000"])
        .status()
        .expect("run sox");
    assert!(status.success(), "sox band-pass failed");
    let filtered = std::fs::read(&output).expect("read the scratch output");
    let _ = std::fs::remove_file(&input);
    let _ = std::fs::remove_file(&output);
    filtered
        .chunks_exact(2)
        .map(|b| f32::from(i16::from_le_bytes([b[0], b[1]])) / 32_768.0)
        .collect()
}

fn detect(config: &DtmfConfig, samples: &[f32]) -> Vec<DtmfEvent> {
    let mut detector = DtmfDetector::new(config).expect("valid config");
    let mut events = Vec::new();
    let mut index = 0u64;
    for chunk in samples.chunks(BLOCK_SAMPLES) {
        detector.process(index, chunk);
        index += chunk.len() as u64;
        while let Some(event) = detector.poll_event() {
            events.push(event);
        }
    }
    events
}

fn main() {
    let mut hours = 1.0f64;
    let mut seed = 0x7a1c_0ff5u64;
    let mut deviation_percent_max = DtmfConfig::default().deviation_percent_max;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let value = args.next().expect("every option takes a value");
        match arg.as_str() {
            "--hours" => hours = value.parse().expect("--hours is a number"),
            "--seed" => seed = value.parse().expect("--seed is an integer"),
            "--deviation" => {
                deviation_percent_max = value.parse().expect("--deviation is a number")
            }
            other => panic!("unknown option {other}; use --hours H --seed N --deviation P"),
        }
    }
    let mut rng = Rng::new(seed);
    let target_len = (hours * 3_600.0 * f64::from(RATE_HZ)) as usize;
    let mut clean = Vec::with_capacity(target_len + RATE_HZ as usize * 60);
    let mut utterances = 0usize;
    // (first sample, voice, speed, pitch) of each utterance, to say whose
    // speech a false digit came from.
    let mut starts: Vec<(usize, String, u64, u64)> = Vec::new();
    while clean.len() < target_len {
        let voice = format!(
            "{}+{}",
            VOICES[utterances % VOICES.len()],
            pick(&mut rng, &VARIANTS)
        );
        let speed_wpm = 90 + rng.below(261);
        let pitch = rng.below(100);
        let words = text(&mut rng);
        starts.push((clean.len(), voice.clone(), speed_wpm, pitch));
        clean.extend(synthesize(&voice, speed_wpm, pitch, &words));
        clean.extend(std::iter::repeat_n(0.0, RATE_HZ as usize / 5));
        utterances += 1;
    }
    let band = band_limit(&clean);
    // Band noise 15 dB under the speech's mean power (pauses included).
    let band_power = band.iter().map(|&x| f64::from(x).powi(2)).sum::<f64>() / band.len() as f64;
    let audio_hours = clean.len() as f64 / f64::from(RATE_HZ) / 3_600.0;
    println!(
        "{utterances} utterances, {audio_hours:.2} h of audio per condition, {:.2} h in all",
        4.0 * audio_hours
    );

    let defaults = DtmfConfig {
        deviation_percent_max,
        ..DtmfConfig::default()
    };
    defaults.validate().expect("a valid config");
    println!("deviation limit {deviation_percent_max} %");
    let radio = DtmfConfig {
        twist_normal_db_max: 8.0,
        twist_reverse_db_max: 8.0,
        off_ms_min: 20,
        ..defaults
    };
    let fast = DtmfConfig {
        on_ms_min: 20,
        ..radio
    };
    let configs = [
        ("defaults", defaults),
        ("radio: 8/8, 40/20 ms", radio),
        ("fast: 8/8, 20/20 ms", fast),
    ];
    let conditions = [
        "clean",
        "300-3000 Hz",
        "300-3000 Hz, clipped +12 dB",
        "300-3000 Hz, noise -15 dB",
    ];
    println!("| audio | hours | {} |", configs.map(|c| c.0).join(" | "));
    println!("|---|---:|{}", "---:|".repeat(configs.len()));
    let mut totals = [0usize; 3];
    let mut found = Vec::new();
    for (i, name) in conditions.into_iter().enumerate() {
        // One impaired copy at a time: hours of audio are gigabytes.
        let impaired: Vec<f32> = match i {
            0 | 1 => Vec::new(),
            // Hard clipping: 12 dB of overdrive into a stage that clips
            // at -3 dBFS.
            2 => {
                let clip = dbfs_to_amplitude(-3.0) as f32;
                band.iter().map(|&x| (x * 4.0).clamp(-clip, clip)).collect()
            }
            _ => {
                let noise_power = band_power / 10f64.powf(1.5);
                let noise = band_noise(band.len(), RATE_HZ, noise_power, seed ^ 0x9e37);
                band.iter().zip(&noise).map(|(&x, &n)| x + n).collect()
            }
        };
        let samples: &[f32] = match i {
            0 => &clean,
            1 => &band,
            _ => &impaired,
        };
        let mut row = format!("| {name} | {audio_hours:.2} |");
        for (c, (config_name, config)) in configs.iter().enumerate() {
            let events = detect(config, samples);
            totals[c] += events.len();
            row.push_str(&format!(" {} |", events.len()));
            for e in events {
                let at = starts.partition_point(|u| u.0 as u64 <= e.start) - 1;
                let (first, voice, speed_wpm, pitch) = &starts[at];
                found.push(format!(
                    "{config_name}, {name}: '{}' at {:.2} s (utterance {at}, {voice} {speed_wpm} wpm pitch {pitch}, +{:.2} s), {:.1} + {:.1} Hz ({:+.2} % / {:+.2} %), twist {:+.1} dB, {:.1} / {:.1} dBFS, validated over {:.0} ms",
                    e.digit_char(),
                    e.start as f64 / f64::from(RATE_HZ),
                    (e.start as usize - first) as f64 / f64::from(RATE_HZ),
                    e.low_hz,
                    e.high_hz,
                    deviation_percent(e.digit, e.low_hz, true),
                    deviation_percent(e.digit, e.high_hz, false),
                    e.twist_db,
                    e.low_dbfs,
                    e.high_dbfs,
                    (e.end - e.start) as f64 * 1_000.0 / f64::from(RATE_HZ),
                ));
            }
        }
        println!("{row}");
    }
    let all_hours = 4.0 * audio_hours;
    println!(
        "| all | {all_hours:.2} | {} |",
        totals
            .iter()
            .map(|&n| format!("{n} ({:.2}/h)", n as f64 / all_hours))
            .collect::<Vec<_>>()
            .join(" | ")
    );
    for line in found {
        println!("false digit: {line}");
    }
}

/// How far `measured_hz` is from the digit's nominal row (`low`) or column
/// frequency, percent.
fn deviation_percent(digit: u8, measured_hz: f32, low: bool) -> f32 {
    let (row, column) =
        echostream_sim::audio::dtmf_pair_hz(char::from(digit)).expect("the decoder's digit");
    let nominal = if low { row } else { column };
    (measured_hz / nominal - 1.0) * 100.0
}
