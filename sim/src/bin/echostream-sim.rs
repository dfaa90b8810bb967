//! `echostream-sim`: the simulator's command line.
//!
//! `echostream-sim samples [--config FILE] [--out DIR]` writes the sample
//! recordings the default `config.json` plays: `station-pages.wav` (every
//! two-tone and long-tone page of the config, each followed by a spoken
//! dispatch stand-in, then a DTMF code as a siren controller sends it) and
//! `speech.wav` (talk with pauses, for the VOX channel), both 48 kHz mono
//! 16-bit, generated deterministically.
//!
//! `echostream-sim pages --out FILE.wav --pair A/B [--pair A/B ...]
//! [--count N] [--snr-db X] [--a-ms MS] [--b-ms MS] [--speech-ms MS]
//! [--seed N] [--rate HZ]` writes a page set (`echostream_sim::page_set`):
//! Quick Call II pages in band noise at one SNR with speech between them,
//! mono 16-bit, and beside it `FILE.json`, where every page and stretch of
//! speech is in frames of the file (what `scripts/alert-latency` scores
//! the running node against).
//!
//! `echostream-sim try --config FILE --audio FILE.wav [--channel ID]`
//! runs a config's node offline on a recording and prints what it would
//! have done (`echostream_sim::try_config`).
//!
//! `echostream-sim run SCENARIO.json [--seed N] [--out DIR]`,
//! `echostream-sim run --random --seed N [--dump]` and `echostream-sim
//! sweep --seeds N [--from S] [--jobs J]` run scenarios in the simulated
//! world and judge them (`echostream_sim::scenario::cli`).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use echostream_sim::audio::{Signal, dtmf_pair_hz, voiced_speech_i16, write_wav_i16};
use echostream_sim::page_set::{self, PageSetConfig};
use echostream_sim::scenario::cli;

const RATE_HZ: u32 = 48_000;
/// Tone level: −10 dBFS peak, a typical dispatch console level.
const TONE_AMPLITUDE: f64 = 0.316;

/// The DTMF code at the end of the pages sample.
const SIREN_CODE: &str = "4711#";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("samples") => samples(&args[1..]),
        Some("pages") => pages(&args[1..]),
        Some("try") => echostream_sim::try_config::command::main(&args[1..]),
        Some("run") => ExitCode::from(cli::run_command(&args[1..])),
        Some("sweep") => ExitCode::from(cli::sweep_command(&args[1..])),
        _ => {
            eprintln!(
                "usage: echostream-sim samples [--config FILE] [--out DIR]\n\
                 \x20 writes station-pages.wav and speech.wav for the tones of FILE \
                 (default config.json) into DIR (default samples)\n\
                 usage: echostream-sim pages --out FILE.wav --pair A/B [--pair A/B ...] \
                 [--count N] [--snr-db X] [--a-ms MS] [--b-ms MS] [--speech-ms MS] \
                 [--seed N] [--rate HZ]\n\
                 \x20 writes Quick Call II pages in band noise with speech between them \
                 to FILE.wav and where they are to FILE.json\n{}\n{}",
                echostream_sim::try_config::command::USAGE,
                cli::USAGE
            );
            ExitCode::from(2)
        }
    }
}

fn samples(args: &[String]) -> ExitCode {
    let mut config = PathBuf::from("config.json");
    let mut out = PathBuf::from("samples");
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let value = it.next();
        match (arg.as_str(), value) {
            ("--config", Some(v)) => config = PathBuf::from(v),
            ("--out", Some(v)) => out = PathBuf::from(v),
            _ => {
                eprintln!(
                    "error: unexpected argument `{arg}` (samples [--config FILE] [--out DIR])"
                );
                return ExitCode::from(2);
            }
        }
    }
    match write_samples(&config, &out) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::from(1)
        }
    }
}

/// A page to play: A and B (B = 0 for a long tone) and their lengths.
struct Page {
    a_hz: f64,
    b_hz: f64,
    a_ms: f64,
    b_ms: f64,
}

fn write_samples(config: &Path, out: &Path) -> Result<(), String> {
    let text = std::fs::read_to_string(config)
        .map_err(|err| format!("cannot read `{}`: {err}", config.display()))?;
    let json: serde_json::Value = serde_json::from_str(&text).map_err(|err| {
        format!(
            "`{}` is not JSON: {err} (check it with `echostream check-config`)",
            config.display()
        )
    })?;
    let pages = pages_of(&json);
    std::fs::create_dir_all(out)
        .map_err(|err| format!("cannot create `{}`: {err}", out.display()))?;

    let mut signal = Signal::new(RATE_HZ);
    signal.silence(2_000.0);
    for page in &pages {
        // A little longer than the minimums, as a real encoder sends.
        if page.b_hz > 0.0 {
            signal.page(
                page.a_hz,
                page.b_hz,
                page.a_ms + 200.0,
                0.0,
                page.b_ms + 500.0,
                TONE_AMPLITUDE,
            );
        } else {
            signal.tone(page.a_hz, page.a_ms + 500.0, TONE_AMPLITUDE);
        }
        signal.silence(700.0);
        append_speech(&mut signal, 4_000.0);
        signal.silence(3_000.0);
    }
    // A siren controller's activation code: 100 ms digits, 100 ms apart.
    for digit in SIREN_CODE.chars() {
        let (low, high) = dtmf_pair_hz(digit).expect("a DTMF digit");
        let amplitude = TONE_AMPLITUDE / 2.0;
        signal.dual_tone(f64::from(low), f64::from(high), 100.0, amplitude, amplitude);
        signal.silence(100.0);
    }
    signal.silence(3_000.0);
    let pages_path = out.join("station-pages.wav");
    write(&pages_path, &signal)?;

    let mut talk = Signal::new(RATE_HZ);
    for (talk_ms, pause_ms) in [(3_000.0, 1_500.0), (5_000.0, 3_000.0), (2_000.0, 4_000.0)] {
        append_speech(&mut talk, talk_ms);
        talk.silence(pause_ms);
    }
    let speech_path = out.join("speech.wav");
    write(&speech_path, &talk)?;
    println!(
        "wrote {} ({} pages and the DTMF code {SIREN_CODE}, {:.0} s) and {} ({:.0} s)",
        pages_path.display(),
        pages.len(),
        signal.duration_ms() / 1_000.0,
        speech_path.display(),
        talk.duration_ms() / 1_000.0
    );
    Ok(())
}

fn pages_of(json: &serde_json::Value) -> Vec<Page> {
    let num = |v: &serde_json::Value, k: &str| v.get(k).and_then(serde_json::Value::as_f64);
    let mut pages = Vec::new();
    for t in json
        .get("tones")
        .and_then(|v| v.as_array())
        .into_iter()
        .flatten()
    {
        if let (Some(a_hz), Some(b_hz), Some(a_ms), Some(b_ms)) = (
            num(t, "tone_a_freq"),
            num(t, "tone_b_freq"),
            num(t, "tone_a_length_ms"),
            num(t, "tone_b_length_ms"),
        ) {
            pages.push(Page {
                a_hz,
                b_hz,
                a_ms,
                b_ms,
            });
        }
    }
    for t in json
        .get("long_tones")
        .and_then(|v| v.as_array())
        .into_iter()
        .flatten()
    {
        if let (Some(a_hz), Some(a_ms)) = (num(t, "freq_hz"), num(t, "length_ms")) {
            pages.push(Page {
                a_hz,
                b_hz: 0.0,
                a_ms,
                b_ms: 0.0,
            });
        }
    }
    pages
}

fn append_speech(signal: &mut Signal, ms: f64) {
    let len = (ms * f64::from(RATE_HZ) / 1_000.0) as usize;
    let mut speech = Signal::new(RATE_HZ);
    speech.samples.extend(
        voiced_speech_i16(RATE_HZ, len)
            .iter()
            .map(|&s| f32::from(s) / 32_768.0),
    );
    signal.append(&speech);
}

fn write(path: &Path, signal: &Signal) -> Result<(), String> {
    write_wav_i16(path, RATE_HZ, 1, &signal.samples)
        .map_err(|err| format!("cannot write `{}`: {err}", path.display()))
}

fn pages(args: &[String]) -> ExitCode {
    match parse_pages(args).and_then(|(config, out)| write_page_set(&config, &out)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(PagesError::Usage(msg)) => {
            eprintln!("error: {msg} (run `echostream-sim` for the usage)");
            ExitCode::from(2)
        }
        Err(PagesError::Io(msg)) => {
            eprintln!("error: {msg}");
            ExitCode::from(1)
        }
    }
}

/// Why `pages` stopped: a bad command line (exit 2) or a file (exit 1).
enum PagesError {
    Usage(String),
    Io(String),
}

fn parse_pages(args: &[String]) -> Result<(PageSetConfig, PathBuf), PagesError> {
    let mut config = PageSetConfig {
        rate_hz: RATE_HZ,
        pairs: Vec::new(),
        count: 0,
        snr_db: 20.0,
        a_ms: 1_000.0,
        b_ms: 3_000.0,
        speech_ms: 3_000.0,
        seed: 1,
    };
    let mut count = None;
    let mut out = None;
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let value = it
            .next()
            .ok_or_else(|| PagesError::Usage(format!("`{arg}` needs a value")))?;
        let number = |what: &str| {
            value
                .parse::<f64>()
                .ok()
                .filter(|v| v.is_finite())
                .ok_or_else(|| PagesError::Usage(format!("{what} `{value}` is not a number")))
        };
        match arg.as_str() {
            "--out" => out = Some(PathBuf::from(value)),
            "--pair" => config.pairs.push(parse_pair(value)?),
            "--count" => {
                count =
                    Some(value.parse::<usize>().map_err(|_| {
                        PagesError::Usage(format!("--count `{value}` is not a count"))
                    })?);
            }
            "--snr-db" => config.snr_db = number("--snr-db")?,
            "--a-ms" => config.a_ms = number("--a-ms")?.max(0.0),
            "--b-ms" => config.b_ms = number("--b-ms")?.max(0.0),
            "--speech-ms" => config.speech_ms = number("--speech-ms")?.max(0.0),
            "--seed" => {
                config.seed = value.parse().map_err(|_| {
                    PagesError::Usage(format!("--seed `{value}` is not an unsigned integer"))
                })?;
            }
            "--rate" => {
                config.rate_hz = value
                    .parse()
                    .ok()
                    .filter(|&r: &u32| (8_000..=192_000).contains(&r))
                    .ok_or_else(|| {
                        PagesError::Usage(format!("--rate `{value}` is not 8000..=192000 Hz"))
                    })?;
            }
            _ => return Err(PagesError::Usage(format!("unexpected argument `{arg}`"))),
        }
    }
    let out = out.ok_or_else(|| PagesError::Usage("--out FILE.wav is missing".into()))?;
    if config.pairs.is_empty() {
        return Err(PagesError::Usage("no --pair A/B given".into()));
    }
    let nyquist_hz = f64::from(config.rate_hz) / 2.0;
    if let Some(&(a, b)) = config.pairs.iter().find(|&&(a, b)| a.max(b) >= nyquist_hz) {
        return Err(PagesError::Usage(format!(
            "pair {a}/{b} Hz does not fit under {nyquist_hz} Hz (--rate)"
        )));
    }
    config.count = count.unwrap_or(config.pairs.len());
    Ok((config, out))
}

fn parse_pair(text: &str) -> Result<(f64, f64), PagesError> {
    let hz = |t: &str| t.trim().parse::<f64>().ok().filter(|v| *v > 0.0);
    text.split_once('/')
        .and_then(|(a, b)| Some((hz(a)?, hz(b)?)))
        .ok_or_else(|| PagesError::Usage(format!("--pair `{text}` is not A/B in Hz (349.0/707.3)")))
}

fn write_page_set(config: &PageSetConfig, out: &Path) -> Result<(), PagesError> {
    let set = page_set::generate(config);
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|err| PagesError::Io(format!("cannot create `{}`: {err}", dir.display())))?;
    }
    // At the set's own rate (`write` is for the samples' fixed rate).
    set.signal
        .write_wav(out)
        .map_err(|err| PagesError::Io(format!("cannot write `{}`: {err}", out.display())))?;
    let pages: Vec<serde_json::Value> = set
        .pages
        .iter()
        .map(|p| {
            serde_json::json!({
                "a_hz": p.a_hz,
                "b_hz": p.b_hz,
                "start_sample": p.start_frame,
                "b_start_sample": p.b_start_frame,
                "end_sample": p.end_frame,
            })
        })
        .collect();
    let speech: Vec<serde_json::Value> = set
        .speech
        .iter()
        .map(|&(from, to)| serde_json::json!({ "start_sample": from, "end_sample": to }))
        .collect();
    let truth = serde_json::json!({
        "wav": out.file_name().map(|n| n.to_string_lossy().into_owned()),
        "rate_hz": config.rate_hz,
        "samples": set.signal.samples.len(),
        "snr_db": config.snr_db,
        "a_ms": config.a_ms,
        "b_ms": config.b_ms,
        "speech_ms": config.speech_ms,
        "seed": config.seed,
        "tone_amplitude": set.tone_amplitude,
        "noise_rms": set.noise_rms,
        "pages": pages,
        "speech": speech,
    });
    let truth_path = out.with_extension("json");
    let text = serde_json::to_string_pretty(&truth).expect("a JSON value always serializes");
    std::fs::write(&truth_path, text + "\n")
        .map_err(|err| PagesError::Io(format!("cannot write `{}`: {err}", truth_path.display())))?;
    println!(
        "wrote {} ({} pages at {:+} dB SNR, {:.1} s) and {}",
        out.display(),
        set.pages.len(),
        config.snr_db,
        set.signal.duration_ms() / 1_000.0,
        truth_path.display()
    );
    Ok(())
}
