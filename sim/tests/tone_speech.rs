//! Q9: no false alerts on speech or noise.
//!
//! Speech: over 30 minutes synthesized with espeak-ng at test time (many
//! voices, pitches, speeds and texts; cached under target/test-audio/,
//! keyed by a hash of the commands and the espeak-ng version), fed at its
//! native 22.05 kHz through the 16-bit path to the whole 40-station table
//! (with the shortest realistic minimums, A 600 ms and B 1.5 s) and the
//! tone finder. Noise: 30 minutes of 300–3000 Hz noise at levels from −45
//! to −6 dBFS. Nothing may alert, and the finder may report nothing.
//!
//! espeak-ng is required: without it this test fails (install it with
//! `apt-get install espeak-ng`); it is never skipped.

mod tone_support;

use std::path::{Path, PathBuf};
use std::process::Command;

use echostream_core::tone::{Definition, FinderConfig, TwoToneDef};
use echostream_sim::Rng;
use echostream_sim::audio::{Signal, dbfs_to_amplitude};
use tone_support::*;

const SPEECH_MIN_S: f64 = 30.0 * 60.0;
const SPEECH_RATE_HZ: u32 = 22_050;

/// English voices shipped with espeak-ng, and voice variants.
const VOICES: [&str; 8] = [
    "en-us",
    "en-gb",
    "en-gb-scotland",
    "en-gb-x-rp",
    "en-gb-x-gbclan",
    "en-gb-x-gbcwmd",
    "en-029",
    "en-us",
];
const VARIANTS: [&str; 16] = [
    "", "+m1", "+m2", "+m3", "+m4", "+m5", "+m7", "+f1", "+f2", "+f3", "+f4", "+f5", "+klatt",
    "+klatt3", "+croak", "+Annie",
];
const SENTENCES: [&str; 24] = [
    "Engine twelve, respond to a structure fire at four thirty two Maple Street, cross street Elm.",
    "Medic three, priority one, unconscious person, two one five five Harbor Drive, apartment six B.",
    "All units be advised, the fire is knocked down, we are checking for extension.",
    "Copy that, dispatch, we are on scene and establishing command.",
    "Ladder seven is available in quarters.",
    "Ten four. Show me en route, estimated time of arrival six minutes.",
    "Please repeat the address, you were broken and unreadable.",
    "The patient is a sixty eight year old male, conscious and breathing, complaining of chest pain.",
    "Hello? Hello, can anybody hear me? This is a test of the emergency channel.",
    "Ooooh no, wait, hold on, the road is closed at the bridge, take the bypass.",
    "Battalion chief, we need a second alarm, and a water tender to the north side.",
    "Mayday, mayday, mayday, firefighter down on the second floor, bravo side.",
    "Weather update: winds from the southwest at fifteen, gusting to thirty, humidity eleven percent.",
    "Roger, returning to station, available on the radio.",
    "One, two, three, four, five, six, seven, eight, nine, ten. Radio check, how do you copy?",
    "Loud and clear. Five by five.",
    "Dispatch, can you contact the power company and request a crew for a wire down?",
    "We have smoke showing from a two story residential, heavy fire on the alpha side.",
    "Aaaaaah, okay, okay, understood, we will stage at the corner until law enforcement arrives.",
    "Units clear, the call is cancelled, the caller reports a false alarm from cooking.",
    "Good morning everybody, this is the daily test of the county fire paging system.",
    "Mmmmm, let me check that. Stand by. Yes, that is correct, nine one one call at oh three hundred.",
    "Rescue two, vehicle accident with entrapment, highway forty at mile marker one hundred twelve.",
    "Eeeeeasy, easy, lift on three. One, two, three. Good.",
];

fn espeak_version() -> String {
    match Command::new("espeak-ng").arg("--version").output() {
        Ok(out) if out.status.success() => String::from_utf8_lossy(&out.stdout).trim().to_string(),
        _ => panic!(
            "espeak-ng is missing: the speech false-alert test synthesizes its speech with it. \
             Install it (apt-get install espeak-ng) and run again."
        ),
    }
}

/// The espeak-ng argument lists, deterministic from the seed.
fn commands() -> Vec<Vec<String>> {
    let mut rng = Rng::new(0x0009_5bee);
    let mut cmds = Vec::new();
    // About 45 s of speech each; enough for 30 minutes with margin.
    for i in 0..48 {
        let voice = format!(
            "{}{}",
            VOICES[i % VOICES.len()],
            VARIANTS[rng.below(VARIANTS.len() as u64) as usize]
        );
        let pitch = 5 + rng.below(90);
        let speed = 120 + rng.below(110);
        // Pitch range through SSML; "x-low" is nearly monotone, the
        // hardest case (long steady harmonics).
        let range = ["x-low", "low", "medium", "high", "x-high"][i % 5];
        let mut text = format!("<speak><prosody range=\"{range}\">");
        for _ in 0..9 {
            text.push_str(SENTENCES[rng.below(SENTENCES.len() as u64) as usize]);
            text.push(' ');
        }
        text.push_str("</prosody></speak>");
        cmds.push(vec![
            "-m".into(),
            "-v".into(),
            voice,
            "-p".into(),
            pitch.to_string(),
            "-s".into(),
            speed.to_string(),
            "-a".into(),
            (80 + rng.below(100)).to_string(),
            "-g".into(),
            rng.below(4).to_string(),
            text,
        ]);
    }
    cmds
}

/// FNV-1a, 64 bits: a stable cache key without a hashing crate.
fn fnv(bytes: &[u8], mut h: u64) -> u64 {
    for &b in bytes {
        h ^= b as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

fn read_wav(path: &Path) -> (u32, Vec<i16>) {
    let mut r = hound::WavReader::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let spec = r.spec();
    assert_eq!(
        (spec.channels, spec.bits_per_sample),
        (1, 16),
        "{}",
        path.display()
    );
    let samples = r
        .samples::<i16>()
        .collect::<Result<Vec<_>, _>>()
        .expect("readable WAV");
    (spec.sample_rate, samples)
}

/// Over 30 minutes of speech at 22.05 kHz, synthesized or from the cache.
fn speech() -> Vec<f32> {
    let version = espeak_version();
    let cmds = commands();
    let mut key = fnv(version.as_bytes(), 0xcbf2_9ce4_8422_2325);
    for c in &cmds {
        for arg in c {
            key = fnv(arg.as_bytes(), key);
            key = fnv(&[0], key);
        }
    }
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("target dir")
        .join("test-audio");
    let cached = dir.join(format!("tone-speech-{key:016x}.wav"));
    if !cached.exists() {
        std::fs::create_dir_all(&dir).expect("create target/test-audio");
        let mut all: Vec<f32> = Vec::new();
        let mut rng = Rng::new(0x0009_9a95);
        for (i, c) in cmds.iter().enumerate() {
            let part: PathBuf = dir.join(format!("tone-part-{key:016x}-{i}.wav"));
            let status = Command::new("espeak-ng")
                .args(c)
                .arg("-w")
                .arg(&part)
                .status()
                .expect("run espeak-ng");
            assert!(status.success() && part.exists(), "espeak-ng {c:?} failed");
            let (rate, samples) = read_wav(&part);
            assert_eq!(rate, SPEECH_RATE_HZ, "espeak-ng's output rate");
            all.extend(samples.iter().map(|&s| s as f32 / 32_768.0));
            let pause = (SPEECH_RATE_HZ as f64 * (0.2 + 0.8 * rng.unit())) as usize;
            all.extend(std::iter::repeat_n(0.0, pause));
            std::fs::remove_file(&part).ok();
        }
        let tmp = dir.join(format!("tone-speech-{key:016x}.wav.tmp"));
        echostream_sim::audio::write_wav_i16(&tmp, SPEECH_RATE_HZ, 1, &all)
            .expect("write speech cache");
        std::fs::rename(&tmp, &cached).expect("publish speech cache");
    }
    let (rate, samples) = read_wav(&cached);
    assert_eq!(rate, SPEECH_RATE_HZ);
    samples.iter().map(|&s| s as f32 / 32_768.0).collect()
}

/// The table as the strictest realistic dispatcher would set it up.
fn strict_table() -> Vec<Definition> {
    stations()
        .iter()
        .map(|&(a, b)| {
            TwoToneDef {
                a_length_ms: 600,
                b_length_ms: 1_500,
                ..station_def(a, b)
            }
            .into()
        })
        .collect()
}

#[test]
fn q9_half_an_hour_of_speech_alerts_nothing() {
    let mut speech = speech();
    let seconds = speech.len() as f64 / SPEECH_RATE_HZ as f64;
    assert!(seconds >= SPEECH_MIN_S, "only {seconds:.0} s of speech");
    // Radio hiss under the voice, 35 dB down.
    let mut hiss = Signal::new(SPEECH_RATE_HZ);
    hiss.samples = vec![0.0; speech.len()];
    hiss.add_band_noise(dbfs_to_amplitude(-50.0).powi(2) / 2.0, 9);
    for (s, n) in speech.iter_mut().zip(&hiss.samples) {
        *s += n;
    }
    let mut bank = Bank::new(
        SPEECH_RATE_HZ,
        &strict_table(),
        Some(FinderConfig::default()),
    );
    let hits = bank.run_i16(&speech);
    println!(
        "{:.1} minutes of speech: {} alerts",
        seconds / 60.0,
        hits.len()
    );
    for h in &hits {
        println!("  {h:?}");
    }
    assert!(
        hits.is_empty(),
        "{} alerts or finder reports on speech",
        hits.len()
    );
}

#[test]
fn q9_half_an_hour_of_band_noise_alerts_nothing() {
    let mut bank = Bank::new(8_000, &strict_table(), Some(FinderConfig::default()));
    let mut rng = Rng::new(0x0009_0015);
    let mut at = 0u64;
    let mut hits = Vec::new();
    // 30 one-minute stretches at levels from −45 to −6 dBFS.
    for minute in 0..30 {
        let level_dbfs = -45.0 + 39.0 * (minute as f64 / 29.0);
        let mut sig = Signal::new(8_000);
        sig.samples = vec![0.0; 60 * 8_000];
        sig.add_band_noise(dbfs_to_amplitude(level_dbfs).powi(2) / 2.0, rng.next_u64());
        hits.extend(bank.feed(at, &sig.samples, 80));
        at += sig.samples.len() as u64;
    }
    for h in &hits {
        println!("  {h:?}");
    }
    assert!(
        hits.is_empty(),
        "{} alerts or finder reports on noise",
        hits.len()
    );
}
