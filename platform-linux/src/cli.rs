//! Command line: argument parsing and the commands.
//!
//! Exit status: 0 all well, 1 anything unexpected (for `run` and
//! `ptt-off`: a GPIO line that cannot be had; for `import-tones`, a config
//! that cannot be rewritten), 2 bad configuration (including an unreadable
//! file), an unusable input recording or a tones.cfg with errors.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use echostream::config::{self, Channel, Config, Device, LoadError, Loaded, Problem};
use echostream::detect::DetectError;
use echostream::runtime::{Node, signals};
use echostream::tone_plan::{self, ChannelPlan};

/// Everything went as asked.
pub const EXIT_OK: u8 = 0;
/// Something unexpected (an I/O error on standard output, a bug).
pub const EXIT_OTHER: u8 = 1;
/// The configuration file is unreadable or has errors.
pub const EXIT_CONFIG: u8 = 2;
/// The input file (a recording to analyse) cannot be used.
pub const EXIT_INPUT: u8 = 2;

/// EchoStream edge node: radio audio over IP, paging-tone detection,
/// recording and events.
#[derive(Debug, Parser)]
#[command(name = "echostream", version)]
pub struct Cli {
    /// Configuration file (default: config.json; `detect` without it runs
    /// as a tone finder).
    #[arg(long, short = 'c', global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// What to do; `run` when left out.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Load the configuration and run the node (the default).
    Run,
    /// Check a configuration file without touching any hardware: prints
    /// `ok` and one line per channel, or every problem (exit status 2).
    CheckConfig {
        /// The file to check (default: the --config file).
        file: Option<PathBuf>,
    },
    /// Run the live tone detectors over WAV recordings (mono or stereo,
    /// 8 to 48 kHz, integer or float samples): per file, one JSON line per
    /// event and a summary line (with the CPU seconds the file took).
    /// With --config, the file's tone definitions and DTMF settings;
    /// without, a tone finder reporting every stable two-tone pair, long
    /// tone, hi-low warble, pulsed tone and DTMF digit with measured
    /// frequencies (and, for warbles and pulses, the cadence). A file that cannot
    /// be used is named on standard error and the others still run (exit
    /// status 2).
    Detect {
        /// The recordings, analysed one after another, each afresh.
        #[arg(required = true, num_args = 1..)]
        files: Vec<PathBuf>,
        /// Only the definitions of this channel (default: every definition
        /// in the config file).
        #[arg(long, value_name = "ID")]
        channel: Option<String>,
    },
    /// List the sound cards: capture and playback devices with card id,
    /// name and USB path, which configured channel uses which, and how to
    /// name USB cards so channels do not swap after a reboot.
    Devices,
    /// Drive every configured PTT line unkeyed and exit: after the node
    /// was killed (SIGKILL runs no code, and a released line may revert to
    /// whatever the chip defaults to). Exits 1 naming each line it could
    /// not drive (one another process holds stays as that process keeps
    /// it).
    PttOff,
    /// Bring-up of a radio's wiring: lists each channel's COR and PTT
    /// lines with their state, then prints COR edges live with their
    /// times (until Ctrl-C, or --seconds), or with --key keys each PTT for
    /// one second after a countdown.
    GpioCheck {
        /// Only this channel.
        #[arg(long, value_name = "ID")]
        channel: Option<String>,
        /// Key PTT for one second (after a 3 s countdown) instead of
        /// watching COR.
        #[arg(long)]
        key: bool,
        /// Stop watching COR after this many seconds.
        #[arg(long, value_name = "S")]
        seconds: Option<u64>,
    },
    /// Show a running node's status (its `/status` endpoint) as a table:
    /// the relay link, each channel's state, COR, PTT, jitter, losses,
    /// xruns and last alert, the outbox and the disk. Exits 0 when all is
    /// well, 1 when the node cannot be reached, 3 when the relay link is
    /// down or a channel is locked out. A password protected endpoint
    /// takes the password from ECHOSTREAM_HTTP_PASSWORD.
    Status {
        /// The node's endpoint (default: http:// and the config's
        /// http.listen, or http://127.0.0.1:9310).
        #[arg(long, value_name = "URL")]
        url: Option<String>,
    },
    /// Make the hash for http.password: reads the password from standard
    /// input (one line) and prints the line to put in the config.
    HashPassword,
    /// Bring TwoToneDetect's tone sets over: each set of tones.cfg becomes
    /// a two-tone page (atone/btone) and/or a long tone (longtone), its
    /// tolerance fraction ± Hz, its seconds ms, its description the
    /// tone_id. Without --into the definitions are printed as JSON to
    /// paste into a config; with it they are added to that config, which
    /// is rewritten (atomically, its other text unchanged) only if the
    /// result passes check-config. Standard error says what became of
    /// each set and what to use instead of e-mail, Pushover and commands.
    /// Malformed values are all listed with their set and key (exit
    /// status 2, nothing written).
    ImportTones {
        /// TwoToneDetect's tones.cfg.
        file: PathBuf,
        /// The channel the definitions listen on (with --into, default:
        /// the config's only channel).
        #[arg(long, value_name = "ID")]
        channel: Option<String>,
        /// Add the definitions to this config file.
        #[arg(long, value_name = "CONFIG")]
        into: Option<PathBuf>,
    },
}

/// The config file when none is named.
const DEFAULT_CONFIG: &str = "config.json";

/// Runs the command `cli` asks for and returns the exit status.
///
/// # Errors
///
/// Only for failures outside the configuration (writing to standard
/// output); those exit with [`EXIT_OTHER`].
pub fn run(cli: &Cli) -> anyhow::Result<ExitCode> {
    let config = cli.config.as_deref().unwrap_or(Path::new(DEFAULT_CONFIG));
    match &cli.command {
        Some(Command::CheckConfig { file }) => check_config(file.as_deref().unwrap_or(config)),
        Some(Command::Detect { files, channel }) => {
            detect(files, cli.config.as_deref(), channel.as_deref())
        }
        Some(Command::Devices) => devices(config),
        Some(Command::PttOff) => ptt_off(config),
        Some(Command::GpioCheck {
            channel,
            key,
            seconds,
        }) => gpio_check(config, channel.as_deref(), *key, *seconds),
        Some(Command::Status { url }) => status(config, url.as_deref()),
        Some(Command::HashPassword) => hash_password(),
        Some(Command::ImportTones {
            file,
            channel,
            into,
        }) => import_tones(file, channel.as_deref(), into.as_deref()),
        Some(Command::Run) | None => run_node(config),
    }
}

fn status(config: &Path, url: Option<&str>) -> anyhow::Result<ExitCode> {
    use echostream::status::client;
    let base = match url {
        Some(url) => url.to_owned(),
        None => {
            // The config's address when it loads; the default otherwise.
            let listen = config::load_file(config)
                .ok()
                .and_then(|loaded| loaded.config.http.listen)
                .unwrap_or_else(|| config::defaults::HTTP_LISTEN.to_owned());
            let listen = listen
                .replace("0.0.0.0:", "127.0.0.1:")
                .replace("[::]:", "[::1]:");
            format!("http://{listen}")
        }
    };
    let password = std::env::var("ECHOSTREAM_HTTP_PASSWORD").ok();
    match client::fetch(&base, password.as_deref()) {
        Ok(value) => {
            let (table, problems) = client::render(&value);
            print!("{table}");
            Ok(ExitCode::from(if problems.is_empty() {
                client::EXIT_HEALTHY
            } else {
                client::EXIT_PROBLEM
            }))
        }
        Err(error) => {
            eprintln!("error: {error}");
            Ok(ExitCode::from(client::EXIT_UNREACHABLE))
        }
    }
}

fn hash_password() -> anyhow::Result<ExitCode> {
    use std::io::{BufRead, IsTerminal};
    if std::io::stdin().is_terminal() {
        eprint!("password (shown as typed): ");
    }
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("reading the password from standard input")?;
    let password = line.trim_end_matches(['\r', '\n']);
    if password.len() < echostream_relay::http::PASSWORD_LEN_MIN {
        eprintln!(
            "error: the password is shorter than {} characters; choose a longer one",
            echostream_relay::http::PASSWORD_LEN_MIN
        );
        return Ok(ExitCode::from(EXIT_INPUT));
    }
    let hash = echostream_relay::http::PasswordHash::new(password)
        .map_err(|error| anyhow::anyhow!("the system's random source failed: {error}"))?;
    println!("{hash}");
    eprintln!("put it in the config as \"http\": {{ \"password\": \"{hash}\", … }}");
    Ok(ExitCode::from(EXIT_OK))
}

fn ptt_off(path: &Path) -> anyhow::Result<ExitCode> {
    use echostream::gpio::{BackendSpec, OutputConfig};
    let Some(loaded) = load(path) else {
        return Ok(ExitCode::from(EXIT_CONFIG));
    };
    let config = &loaded.config;
    let backend = match config.gpio_backend.parse::<BackendSpec>() {
        Ok(spec) => spec.open(),
        Err(error) => {
            eprintln!("error: gpio_backend: {error}");
            return Ok(ExitCode::from(EXIT_CONFIG));
        }
    };
    let mut failed = false;
    for ch in &config.channels {
        let Some(ptt) = &ch.ptt else { continue };
        let request = OutputConfig::from_config(ptt, "echostream-ptt-off");
        // Requested at its inactive level: the line is unkeyed now; it is
        // released (and, dropped, driven inactive once more) at once.
        match backend.request_ptt(&request) {
            Ok(line) => {
                println!("{}: PTT {} unkeyed", ch.id, line.id());
            }
            Err(error) => {
                eprintln!("error: {}: PTT {error}", ch.id);
                failed = true;
            }
        }
    }
    Ok(ExitCode::from(if failed { EXIT_OTHER } else { EXIT_OK }))
}

fn gpio_check(
    path: &Path,
    only: Option<&str>,
    key: bool,
    seconds: Option<u64>,
) -> anyhow::Result<ExitCode> {
    use echostream::gpio::{BackendSpec, LineId, OutputConfig};
    let Some(loaded) = load(path) else {
        return Ok(ExitCode::from(EXIT_CONFIG));
    };
    let config = &loaded.config;
    let backend = match config.gpio_backend.parse::<BackendSpec>() {
        Ok(spec) => spec.open(),
        Err(error) => {
            eprintln!("error: gpio_backend: {error}");
            return Ok(ExitCode::from(EXIT_CONFIG));
        }
    };
    let channels: Vec<&Channel> = config
        .channels
        .iter()
        .filter(|c| only.is_none_or(|id| c.id == id))
        .collect();
    if channels.is_empty() {
        eprintln!(
            "error: `{}` has no channel `{}`",
            path.display(),
            only.unwrap_or("")
        );
        return Ok(ExitCode::from(EXIT_CONFIG));
    }
    let mut failed = false;
    let mut out = std::io::stdout().lock();
    for ch in &channels {
        let cor = match &ch.cor {
            config::Cor::Gpio(gpio) => {
                Some((LineId::new(gpio.chip.clone(), gpio.line), gpio.polarity))
            }
            _ => None,
        };
        let ptt = ch
            .ptt
            .as_ref()
            .map(|p| (LineId::new(p.chip.clone(), p.line), p.polarity));
        for (what, line) in [("COR", cor), ("PTT", ptt)] {
            let Some((id, polarity)) = line else {
                writeln!(out, "{}: {what}: no GPIO line", ch.id)?;
                continue;
            };
            match backend.read_level(&id) {
                Ok(level) => {
                    let active = level.is_active(polarity);
                    let state = match (what, active) {
                        ("COR", true) => "active (receiver busy)",
                        ("COR", false) => "idle",
                        (_, true) => "KEYED",
                        (_, false) => "unkeyed",
                    };
                    writeln!(out, "{}: {what} {id} ({polarity:?}): {state}", ch.id)?;
                }
                Err(error) => {
                    writeln!(out, "{}: {what} {error}", ch.id)?;
                    failed = true;
                }
            }
        }
    }
    out.flush()?;
    drop(out);
    if failed {
        return Ok(ExitCode::from(EXIT_OTHER));
    }
    signals::install().context("installing the SIGINT/SIGTERM handlers")?;
    if key {
        for ch in &channels {
            let Some(ptt) = &ch.ptt else { continue };
            let mut line = match backend
                .request_ptt(&OutputConfig::from_config(ptt, "echostream-gpio-check"))
            {
                Ok(line) => line,
                Err(error) => {
                    eprintln!("error: {}: PTT {error}", ch.id);
                    return Ok(ExitCode::from(EXIT_OTHER));
                }
            };
            for n in (1..=3).rev() {
                println!("{}: keying PTT {} in {n}…", ch.id, line.id());
                std::thread::sleep(std::time::Duration::from_secs(1));
                if signals::stop_requested() {
                    return Ok(ExitCode::from(EXIT_OK));
                }
            }
            line.set_active(true)?;
            println!("{}: PTT KEYED", ch.id);
            std::thread::sleep(std::time::Duration::from_secs(1));
            line.set_active(false)?;
            println!("{}: PTT released", ch.id);
        }
        return Ok(ExitCode::from(EXIT_OK));
    }
    watch_cor(backend.as_ref(), &channels, seconds)
}

/// Prints COR edges as they come, until Ctrl-C or `seconds`.
fn watch_cor(
    backend: &dyn echostream::gpio::GpioBackend,
    channels: &[&Channel],
    seconds: Option<u64>,
) -> anyhow::Result<ExitCode> {
    use echostream::gpio::{CorEdge, InputConfig};
    let mut poll = mio::Poll::new()?;
    let mut lines = Vec::new();
    for ch in channels {
        let config::Cor::Gpio(gpio) = &ch.cor else {
            continue;
        };
        let input = InputConfig::from_config(gpio, 5, "echostream-gpio-check");
        let mut line = match backend.request_cor(&input) {
            Ok(line) => line,
            Err(error) => {
                eprintln!("error: {}: COR {error}", ch.id);
                return Ok(ExitCode::from(EXIT_OTHER));
            }
        };
        poll.registry()
            .register(&mut line, mio::Token(lines.len()), mio::Interest::READABLE)?;
        lines.push((ch.id.clone(), line));
    }
    if lines.is_empty() {
        println!("no COR lines to watch");
        return Ok(ExitCode::from(EXIT_OK));
    }
    println!("watching COR (Ctrl-C stops)");
    let started = std::time::Instant::now();
    let start_ns = echostream::gpio::monotonic_now_ns();
    let mut events = mio::Events::with_capacity(16);
    let mut edges = [CorEdge::default(); 16];
    while !signals::stop_requested() && seconds.is_none_or(|s| started.elapsed().as_secs() < s) {
        let _ = poll.poll(&mut events, Some(std::time::Duration::from_millis(100)));
        for (id, line) in &mut lines {
            loop {
                let count = line.read_edges(&mut edges)?;
                for edge in &edges[..count] {
                    let ms = edge.time_ns.saturating_sub(start_ns) as f64 / 1e6;
                    println!(
                        "{ms:10.1} ms  {id}: COR {}",
                        if edge.active { "active" } else { "idle" }
                    );
                }
                if count < edges.len() {
                    break;
                }
            }
        }
    }
    Ok(ExitCode::from(EXIT_OK))
}

fn detect(
    files: &[PathBuf],
    config: Option<&Path>,
    channel: Option<&str>,
) -> anyhow::Result<ExitCode> {
    let plan = match config {
        None => {
            if channel.is_some() {
                eprintln!("error: --channel needs --config: it picks one channel's definitions");
                return Ok(ExitCode::from(EXIT_CONFIG));
            }
            ChannelPlan::finder()
        }
        Some(path) => {
            let Some(loaded) = load(path) else {
                return Ok(ExitCode::from(EXIT_CONFIG));
            };
            print_problems(&loaded.warnings);
            if let Some(id) = channel
                && !loaded.config.channels.iter().any(|c| c.id == id)
            {
                eprintln!("error: `{}` has no channel `{id}`", path.display());
                return Ok(ExitCode::from(EXIT_CONFIG));
            }
            match tone_plan::plan(&loaded.config, channel) {
                Ok(plan) => plan,
                Err(errors) => {
                    for (path, reason) in errors {
                        eprintln!("error: {path}: {reason}");
                    }
                    return Ok(ExitCode::from(EXIT_CONFIG));
                }
            }
        }
    };
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let mut status = EXIT_OK;
    for file in files {
        match echostream::detect::detect_file(file, &plan, &mut out) {
            Ok(_) => {}
            Err(err @ (DetectError::Wav { .. } | DetectError::Rate { .. })) => {
                // Whatever it printed first goes out before the error.
                out.flush()?;
                eprintln!("error: {err}");
                status = EXIT_INPUT;
            }
            Err(err) => return Err(err.into()),
        }
    }
    Ok(ExitCode::from(status))
}

/// `echostream devices`: the listing, with channel usage when the config
/// loads (a missing or broken config only drops that part).
fn devices(config: &Path) -> anyhow::Result<ExitCode> {
    use echostream::audio::devices;
    let cards = devices::scan(Path::new("/proc/asound"), Path::new("/sys/class/sound"));
    let loaded = match config::load_file(config) {
        Ok(loaded) => Some(loaded),
        Err(err) => {
            let reason = match err {
                LoadError::Read { source, .. } => source.to_string(),
                LoadError::Invalid { .. } => {
                    "it has errors (see `echostream check-config`)".to_owned()
                }
            };
            eprintln!(
                "note: channel usage not shown: config `{}` not loaded: {reason}",
                config.display()
            );
            None
        }
    };
    let channels = loaded.as_ref().map(|l| l.config.channels.as_slice());
    let mut out = std::io::stdout().lock();
    devices::write_report(&mut out, &cards, channels).context("writing to standard output")?;
    out.flush().context("writing to standard output")?;
    Ok(ExitCode::from(EXIT_OK))
}

fn check_config(path: &Path) -> anyhow::Result<ExitCode> {
    let Some(loaded) = load(path) else {
        return Ok(ExitCode::from(EXIT_CONFIG));
    };
    let mut out = std::io::stdout().lock();
    writeln!(out, "ok").context("writing to standard output")?;
    for channel in &loaded.config.channels {
        writeln!(out, "{}", summary(&loaded.config, channel))
            .context("writing to standard output")?;
    }
    out.flush().context("writing to standard output")?;
    print_problems(&loaded.warnings);
    Ok(ExitCode::from(EXIT_OK))
}

/// `echostream import-tones`: see [`echostream::import_tones`].
fn import_tones(
    file: &Path,
    channel: Option<&str>,
    into: Option<&Path>,
) -> anyhow::Result<ExitCode> {
    use echostream::import_tones::{self as import, Existing, report};
    let text = match read_tones(file) {
        Ok(text) => text,
        Err(error) => {
            eprintln!("error: cannot read `{}`: {error}", file.display());
            return Ok(ExitCode::from(EXIT_INPUT));
        }
    };
    let config_text = match into.map(std::fs::read_to_string).transpose() {
        Ok(text) => text,
        Err(error) => {
            let path = into.expect("only a file read can fail").display();
            eprintln!("error: cannot read config file `{path}`: {error}");
            return Ok(ExitCode::from(EXIT_CONFIG));
        }
    };
    let existing = config_text
        .as_deref()
        .map(Existing::read)
        .unwrap_or_default();
    let Some(channel) = import_channel(channel, into, &existing) else {
        return Ok(ExitCode::from(EXIT_CONFIG));
    };
    let tones_name = file.display().to_string();
    let config_name = into.map(|p| p.display().to_string());
    let conversion = match import::convert(&text, &channel, &existing) {
        Ok(conversion) => conversion,
        Err(problems) => {
            for problem in &problems {
                eprintln!(
                    "{}",
                    import_problem(problem, &tones_name, config_name.as_deref())
                );
            }
            eprintln!("note: nothing imported");
            return Ok(ExitCode::from(EXIT_INPUT));
        }
    };
    let scratch = config_text.is_none();
    let base = config_text.unwrap_or_else(|| import::scratch_config(&channel));
    let existing = if scratch {
        Existing::read(&base)
    } else {
        existing
    };
    let merged = match import::merge(&base, &conversion) {
        Ok(merged) => merged,
        Err(error) => {
            eprintln!("error: {}: {error}", config_name.as_deref().unwrap_or(""));
            return Ok(ExitCode::from(EXIT_CONFIG));
        }
    };
    let checked = import::check(&merged, &existing, &conversion, scratch);
    if !checked.errors.is_empty() {
        for problem in &checked.errors {
            eprintln!(
                "{}",
                import_problem(problem, &tones_name, config_name.as_deref())
            );
        }
        eprintln!("note: the result would not pass check-config; nothing imported");
        return Ok(ExitCode::from(EXIT_CONFIG));
    }
    let destination = match into {
        None => {
            let mut out = std::io::stdout().lock();
            writeln!(out, "{}", import::definitions_json(&conversion))
                .and_then(|()| out.flush())
                .context("writing to standard output")?;
            report::Destination::Printed
        }
        Some(path) => {
            if let Err(error) = import::replace::replace_file(path, &merged) {
                eprintln!("error: {error}");
                return Ok(ExitCode::from(EXIT_OTHER));
            }
            report::Destination::Into(config_name.as_deref().unwrap_or_default())
        }
    };
    report::write(
        &mut std::io::stderr().lock(),
        &tones_name,
        &conversion,
        &channel,
        destination,
        &checked.warnings,
    )
    .context("writing to standard error")?;
    Ok(ExitCode::from(EXIT_OK))
}

/// A tones.cfg as text: at most `MAX_FILE_LEN` bytes, and bytes that are
/// not UTF-8 (a description saved in a Windows code page) replaced.
fn read_tones(file: &Path) -> std::io::Result<String> {
    use echostream::import_tones::MAX_FILE_LEN;
    use std::io::Read as _;
    let mut bytes = Vec::new();
    std::fs::File::open(file)?
        .take(MAX_FILE_LEN + 1)
        .read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_FILE_LEN {
        return Err(std::io::Error::other(format!(
            "it is larger than {} KiB; a tones.cfg is a few",
            MAX_FILE_LEN / 1024
        )));
    }
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// The channel the imported definitions listen on: `--channel`, or the
/// only channel of the config imported into; `None` (said why) otherwise.
fn import_channel(
    channel: Option<&str>,
    into: Option<&Path>,
    existing: &echostream::import_tones::Existing,
) -> Option<String> {
    let known = if existing.channel_ids.is_empty() {
        "it has none".to_owned()
    } else {
        format!("channels: {}", existing.channel_ids.join(", "))
    };
    match (channel, into) {
        (Some(id), Some(path)) if !existing.channel_ids.iter().any(|c| c == id) => {
            eprintln!(
                "error: `{}` has no channel `{id}` ({known})",
                path.display()
            );
            None
        }
        (Some(id), _) => Some(id.to_owned()),
        (None, Some(path)) => match existing.channel_ids.as_slice() {
            [only] => Some(only.clone()),
            _ => {
                eprintln!(
                    "error: --channel ID is needed: which channel of `{}` hears the pages? ({known})",
                    path.display()
                );
                None
            }
        },
        (None, None) => {
            eprintln!("error: --channel ID is needed: the id of the channel that hears the pages");
            None
        }
    }
}

/// `error: tones.cfg:14: [Station 9] atone: `35O.5` is not a number`
fn import_problem(
    problem: &echostream::import_tones::Problem,
    tones: &str,
    config: Option<&str>,
) -> String {
    use echostream::import_tones::Origin;
    let file = match problem.origin {
        Origin::Tones => Some(tones),
        Origin::Config => config,
    };
    match (file, problem.line) {
        (Some(file), Some(line)) => format!("error: {file}:{line}: {problem}"),
        (Some(file), None) => format!("error: {file}: {problem}"),
        (None, _) => format!("error: {problem}"),
    }
}

fn run_node(path: &Path) -> anyhow::Result<ExitCode> {
    echostream::logger::init();
    let Some(loaded) = load(path) else {
        return Ok(ExitCode::from(EXIT_CONFIG));
    };
    print_problems(&loaded.warnings);
    signals::install().context("installing the SIGINT/SIGTERM handlers")?;
    // A panic releases every transmitter before anything else happens.
    echostream::gpio::failsafe::install();
    log::info!(
        "echostream {} starting: node `{}`, {} channel(s), config `{}`",
        env!("CARGO_PKG_VERSION"),
        loaded.config.node_id,
        loaded.config.channels.len(),
        path.display()
    );
    let node = match Node::start(&loaded.config) {
        Ok(node) => node,
        Err(err) => {
            log::error!("cannot start: {err}");
            return Ok(ExitCode::from(EXIT_OTHER));
        }
    };
    match node.run(signals::stop_requested) {
        Ok(()) => {
            log::info!("stopped");
            Ok(ExitCode::from(EXIT_OK))
        }
        Err(reason) => {
            log::error!("stopped after a failure: {reason}");
            Ok(ExitCode::from(EXIT_OTHER))
        }
    }
}

/// Loads `path`, printing every problem to standard error when it fails.
fn load(path: &Path) -> Option<Loaded> {
    match config::load_file(path) {
        Ok(loaded) => Some(loaded),
        Err(err @ LoadError::Read { .. }) => {
            eprintln!("error: {err}");
            None
        }
        Err(LoadError::Invalid {
            path,
            problems,
            complete,
        }) => {
            print_problems(&problems);
            if !complete {
                eprintln!(
                    "note: some checks of `{}` did not run; they will once the errors above are fixed",
                    path.display()
                );
            }
            None
        }
    }
}

fn print_problems(problems: &[Problem]) {
    for problem in problems {
        eprintln!("{problem}");
    }
}

/// `channel pages: file:samples/pages.wav (loop) → null, COR vox -40 dBFS,
/// PTT none, 3 tone definitions, DTMF on`.
fn summary(config: &Config, channel: &Channel) -> String {
    let looped = match channel.input() {
        Device::File(_) if channel.input_loop => " (loop)",
        _ => "",
    };
    let output = channel.output_device.as_deref().unwrap_or("none");
    let ptt = channel
        .ptt
        .as_ref()
        .map_or_else(|| "none".to_owned(), ToString::to_string);
    let definitions = config
        .tones
        .iter()
        .filter(|d| d.channel == channel.id)
        .count()
        + config
            .long_tones
            .iter()
            .filter(|d| d.channel == channel.id)
            .count()
        + config
            .hi_low
            .iter()
            .filter(|d| d.channel == channel.id)
            .count()
        + config
            .pulsed
            .iter()
            .filter(|d| d.channel == channel.id)
            .count();
    let plural = if definitions == 1 { "" } else { "s" };
    let dtmf = if channel.dtmf.as_ref().is_some_and(|d| d.enabled) {
        "on"
    } else {
        "off"
    };
    format!(
        "channel {}: {}{looped} → {output}, COR {}, PTT {ptt}, {definitions} tone definition{plural}, DTMF {dtmf}",
        channel.id, channel.input_device, channel.cor
    )
}
