//! `echostream-relay`: the relay server edge nodes register with.
//!
//! Exit codes: 0 stopped by SIGTERM/SIGINT, 1 runtime failure, 2 bad
//! arguments (including the tokens file and TLS files).

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;

use clap::Parser;
use echostream_relay::TokenPolicy;
use echostream_relay::server::{Server, ServerConfig, TlsFiles};
use echostream_relay::tokens::load_tokens;

/// The EchoStream relay: signaling, key issuance and audio fan-out between
/// edge nodes.
#[derive(Debug, Parser)]
#[command(name = "echostream-relay", version)]
struct Args {
    /// Address of the WebSocket listener (port 0: any free port).
    #[arg(long, value_name = "ADDR")]
    listen: SocketAddr,
    /// Address of the UDP audio socket (port 0: any free port).
    #[arg(long, value_name = "ADDR")]
    udp: SocketAddr,
    /// Host nodes send UDP to (default: the --udp address; required when
    /// that is 0.0.0.0 or ::).
    #[arg(long, value_name = "HOST")]
    udp_host: Option<String>,
    /// UDP port nodes send to (default: the --udp port); set it when a NAT
    /// or firewall forwards another public port to --udp.
    #[arg(long, value_name = "PORT", value_parser = clap::value_parser!(u16).range(1..))]
    udp_port: Option<u16>,
    /// Accepted node tokens: one per line, blank lines and # comments
    /// ignored. Required unless both listeners are on loopback.
    #[arg(long, value_name = "FILE")]
    tokens: Option<PathBuf>,
    /// TLS certificate chain (PEM): serve wss:// instead of ws://.
    #[arg(long, value_name = "PEM", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// TLS private key (PEM) for --tls-cert.
    #[arg(long, value_name = "PEM", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// The longest a node may hold a channel, in seconds (1 to 3600): its
    /// listeners then get an end-of-transmission, and its audio is refused
    /// until it ends its transmission or is silent for 3 s.
    #[arg(long, value_name = "S", default_value_t = echostream_relay::engine::MAX_TALK_S_DEFAULT)]
    max_talk_s: u32,
    /// Let a node's UDP streams move to an IP other than its WebSocket's
    /// (multi-homed nodes, carrier NATs). Without it a stream's return
    /// address changes only within the IP the node connected from.
    #[arg(long)]
    allow_roaming: bool,
    /// Serve plain ws:// on a non-loopback --listen address. Without TLS
    /// anyone on the path reads each node's token (in hello) and media key
    /// (in welcome): only behind a TLS-terminating proxy or on a trusted
    /// network.
    #[arg(long)]
    insecure_plaintext: bool,
    /// Log the counters every N seconds (0: only at shutdown).
    #[arg(long, value_name = "N", default_value_t = 60)]
    stats_interval_s: u32,
    /// More logging (-v debug, -vv trace); ECHOSTREAM_LOG=LEVEL also works.
    #[arg(short, long, action = clap::ArgAction::Count)]
    verbose: u8,
}

/// Set from the signal handler; the loop polls it at least every 100 ms.
static STOP: AtomicBool = AtomicBool::new(false);

fn main() -> ExitCode {
    let args = Args::parse();
    logger::init(args.verbose);
    let config = match config(&args) {
        Ok(config) => config,
        Err(message) => {
            eprintln!("echostream-relay: {message}");
            return ExitCode::from(2);
        }
    };
    let mut server = match Server::bind(config) {
        Ok(server) => server,
        Err(error) => {
            eprintln!("echostream-relay: {error}");
            return ExitCode::from(if error.is_config() { 2 } else { 1 });
        }
    };
    // Before announcing: whoever reads the line may signal at once.
    if let Err(error) = signals::install() {
        eprintln!("echostream-relay: cannot install signal handlers: {error}");
        return ExitCode::from(1);
    }
    let scheme = if args.tls_cert.is_some() { "wss" } else { "ws" };
    let mut stdout = std::io::stdout().lock();
    let announced = writeln!(
        stdout,
        "listening {scheme}={} udp={}",
        server.ws_addr(),
        server.udp_addr()
    )
    .and_then(|()| stdout.flush());
    drop(stdout);
    if let Err(error) = announced {
        eprintln!("echostream-relay: cannot write to stdout: {error}");
        return ExitCode::from(1);
    }
    match server.run(&STOP) {
        Ok(()) => {
            log::info!("relay stopped");
            ExitCode::SUCCESS
        }
        Err(error) => {
            log::error!("relay failed: {error}");
            ExitCode::from(1)
        }
    }
}

/// The server configuration from the arguments, or a message naming the
/// argument at fault.
fn config(args: &Args) -> Result<ServerConfig, String> {
    let tokens = match &args.tokens {
        Some(path) => TokenPolicy::Tokens(load_tokens(path).map_err(|e| format!("--tokens: {e}"))?),
        None if args.listen.ip().is_loopback() && args.udp.ip().is_loopback() => {
            log::warn!("no --tokens: accepting any token (both listeners are on loopback)");
            TokenPolicy::AnyToken
        }
        None => {
            return Err(format!(
                "--tokens FILE is required: the relay listens beyond loopback (--listen {}, \
                 --udp {}), and without a tokens file anyone could join its channels. Pass \
                 --tokens FILE with one token per line.",
                args.listen, args.udp
            ));
        }
    };
    let mut config = ServerConfig::new(args.listen, args.udp, tokens);
    config.udp_host.clone_from(&args.udp_host);
    config.udp_port = args.udp_port;
    config.stats_interval_s = args.stats_interval_s;
    config.max_talk_s = args.max_talk_s;
    config.allow_roaming = args.allow_roaming;
    config.insecure_plaintext = args.insecure_plaintext;
    if let (Some(cert), Some(key)) = (&args.tls_cert, &args.tls_key) {
        config.tls = Some(TlsFiles {
            cert: cert.clone(),
            key: key.clone(),
        });
    }
    config.validate().map_err(|e| match e {
        echostream_relay::server::ServerError::Config {
            field: "udp_host", ..
        } => format!("--udp-host HOST is required: {e}"),
        echostream_relay::server::ServerError::Config {
            field: "insecure_plaintext",
            ..
        } => format!(
            "refusing plain ws:// on {}, beyond loopback: every node's token (in hello) \
             and media key (in welcome) would cross the network in the clear. Serve wss:// \
             with --tls-cert PEM --tls-key PEM, or pass --insecure-plaintext if a TLS proxy \
             or a trusted network protects it.",
            args.listen
        ),
        other => other.to_string(),
    })?;
    Ok(config)
}

mod signals {
    use std::sync::atomic::Ordering;

    extern "C" fn on_signal(_: libc::c_int) {
        // Only an atomic store: async-signal-safe.
        super::STOP.store(true, Ordering::Relaxed);
    }

    /// Routes SIGTERM and SIGINT to [`super::STOP`].
    pub(super) fn install() -> std::io::Result<()> {
        for signal in [libc::SIGTERM, libc::SIGINT] {
            // SAFETY: a zeroed sigaction is a valid "no flags, empty mask"
            // value; the handler only stores to an atomic, which is
            // async-signal-safe; sigemptyset and sigaction get valid
            // pointers to locals.
            let result = unsafe {
                let mut action: libc::sigaction = std::mem::zeroed();
                action.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as usize;
                libc::sigemptyset(&mut action.sa_mask);
                libc::sigaction(signal, &action, std::ptr::null_mut())
            };
            if result != 0 {
                return Err(std::io::Error::last_os_error());
            }
        }
        Ok(())
    }
}

mod logger {
    use std::io::Write as _;
    use std::time::{SystemTime, UNIX_EPOCH};

    use log::{Level, LevelFilter, Log, Metadata, Record};

    /// Writes `2026-11-24T10:11:12.345Z INFO message` lines to stderr.
    struct Stderr;

    impl Log for Stderr {
        fn enabled(&self, metadata: &Metadata<'_>) -> bool {
            metadata.level() <= log::max_level()
        }

        fn log(&self, record: &Record<'_>) {
            if !self.enabled(record.metadata()) {
                return;
            }
            let mut line = timestamp();
            line.push(' ');
            line.push_str(record.level().as_str());
            line.push(' ');
            // Other crates' lines say where they come from.
            if !record.target().starts_with("echostream_relay") {
                line.push_str(record.target());
                line.push_str(": ");
            }
            line.push_str(&record.args().to_string());
            line.push('\n');
            // One write per line keeps lines whole; a closed stderr is not
            // worth dying for.
            let _ = std::io::stderr().lock().write_all(line.as_bytes());
        }

        fn flush(&self) {}
    }

    /// Level from `-v` (debug, -vv trace), else `ECHOSTREAM_LOG`, else info.
    pub(super) fn init(verbose: u8) {
        let from_env = std::env::var("ECHOSTREAM_LOG")
            .ok()
            .and_then(|v| v.parse::<LevelFilter>().ok());
        let level = match verbose {
            0 => from_env.unwrap_or(LevelFilter::Info),
            1 => LevelFilter::Debug,
            _ => LevelFilter::Trace,
        };
        if log::set_logger(&Stderr).is_ok() {
            log::set_max_level(level);
        }
        if level >= Level::Debug {
            log::debug!("log level {level}");
        }
    }

    /// UTC wall time, ISO 8601 with milliseconds.
    fn timestamp() -> String {
        let since = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let secs = since.as_secs();
        let (year, month, day) = civil_from_days(secs / 86_400);
        let rem = secs % 86_400;
        format!(
            "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
            rem / 3600,
            rem % 3600 / 60,
            rem % 60,
            since.subsec_millis()
        )
    }

    /// Days since 1970-01-01 to (year, month, day), after Howard
    /// Hinnant's `civil_from_days` (proleptic Gregorian calendar).
    fn civil_from_days(days: u64) -> (u64, u64, u64) {
        let z = days + 719_468;
        let era = z / 146_097;
        let doe = z % 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = doy - (153 * mp + 2) / 5 + 1;
        let month = if mp < 10 { mp + 3 } else { mp - 9 };
        let year = yoe + era * 400 + u64::from(month <= 2);
        (year, month, day)
    }

    #[cfg(test)]
    mod tests {
        #[test]
        fn dates_convert() {
            assert_eq!(super::civil_from_days(0), (1970, 1, 1));
            assert_eq!(super::civil_from_days(19_723), (2024, 1, 1));
            assert_eq!(super::civil_from_days(20_513), (2026, 3, 1));
        }
    }
}
