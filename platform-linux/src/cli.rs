//! Command line: argument parsing and the commands.
//!
//! Exit status: 0 all well, 1 anything unexpected (for `run` and
//! `ptt-off`: a GPIO line that cannot be had), 2 bad configuration
//! (including an unreadable file) or an unusable input recording.

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
    /// tone and DTMF digit with measured frequencies. A file that cannot
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
        Some(Command::Run) | None => run_node(config),
    }
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
