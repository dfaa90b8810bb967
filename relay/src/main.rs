//! `echostream-relay`: the relay server edge nodes register with.
//!
//! Exit codes: 0 stopped by SIGTERM/SIGINT, 1 runtime failure, 2 bad
//! arguments (including the tokens file and TLS files). SIGHUP reads the
//! tokens file again.

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, OnceLock};

use clap::Parser;
use echostream_relay::TokenPolicy;
use echostream_relay::http::{HttpServer, PASSWORD_LEN_MIN, PasswordHash, PasswordHashError};
use echostream_relay::server::{Reload, Server, ServerConfig, TlsFiles};
use echostream_relay::tokens::load_tokens;

/// The EchoStream relay: signaling, key issuance and audio fan-out between
/// edge nodes.
#[derive(Debug, Parser)]
#[command(
    name = "echostream-relay",
    version,
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true
)]
struct Args {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    serve: Serve,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Node tokens: make one, check a tokens file.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Read a password from standard input and print its hash for
    /// --http-password-hash (PBKDF2-SHA256; `echostream hash-password`
    /// makes the same).
    HashPassword,
}

#[derive(Debug, clap::Subcommand)]
enum TokenCommand {
    /// Make a fresh token (256 bits) for one node and print it with its
    /// line for the tokens file (which holds only its digest).
    New {
        /// The node id the token is for (`*` for any run of characters,
        /// then --sessions is required).
        #[arg(long, value_name = "ID")]
        node: String,
        /// Channels the node may listen to (comma-separated; `*` wildcards).
        #[arg(long, value_name = "CHANNELS", value_delimiter = ',')]
        listen: Vec<String>,
        /// Channels the node may talk on (comma-separated; `*` wildcards).
        #[arg(long, value_name = "CHANNELS", value_delimiter = ',')]
        talk: Vec<String>,
        /// Sessions open at once with this token (default 1).
        #[arg(long, value_name = "N")]
        sessions: Option<u32>,
        /// Channel memberships held at once by all of them (default 8 per
        /// session).
        #[arg(long, value_name = "N")]
        channels: Option<u32>,
        /// Append the line to this tokens file (created with mode 600)
        /// instead of printing it; then reload the relay with SIGHUP.
        #[arg(long, value_name = "FILE")]
        append: Option<PathBuf>,
    },
    /// Read a tokens file as the relay would and list its tokens by
    /// fingerprint; exit 2 if it would be refused.
    Check {
        /// The tokens file.
        file: PathBuf,
        /// Refuse a file group or others may read or write, as
        /// `--strict` does.
        #[arg(long)]
        strict: bool,
    },
}

/// Serving: the default when no subcommand is given.
#[derive(Debug, clap::Args)]
struct Serve {
    /// Address of the WebSocket listener (port 0: any free port).
    #[arg(long, value_name = "ADDR", required = true)]
    listen: Option<SocketAddr>,
    /// Address of the UDP audio socket (port 0: any free port).
    #[arg(long, value_name = "ADDR", required = true)]
    udp: Option<SocketAddr>,
    /// Host nodes send UDP to (default: the --udp address; required when
    /// that is 0.0.0.0 or ::).
    #[arg(long, value_name = "HOST")]
    udp_host: Option<String>,
    /// UDP port nodes send to (default: the --udp port); set it when a NAT
    /// or firewall forwards another public port to --udp.
    #[arg(long, value_name = "PORT", value_parser = clap::value_parser!(u16).range(1..))]
    udp_port: Option<u16>,
    /// The tokens file: one line per node token, with the node it is for
    /// and its channels (`echostream-relay token new` makes them). Required
    /// unless both listeners are on loopback. SIGHUP reads it again.
    #[arg(long, value_name = "FILE")]
    tokens: Option<PathBuf>,
    /// Refuse to start (or to reload) with a tokens file that group or
    /// others may read or write, rather than warn.
    #[arg(long)]
    strict: bool,
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
    /// How often nodes send a heartbeat, in ms (20 to 60000, what nodes
    /// accept); a ping goes with every fourth. The relay closes a node
    /// silent for two periods, and a node whose echo is late probes every
    /// fifth of a period and reports its UDP path lost 1.2 periods after
    /// the first unanswered heartbeat: a longer period costs the relay
    /// less CPU per idle node and finds a dead node or path later.
    #[arg(long, value_name = "MS", default_value_t = echostream_relay::engine::HEARTBEAT_MS_DEFAULT,
          value_parser = clap::value_parser!(u32).range(20..=60_000))]
    heartbeat_ms: u32,
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
    /// The status endpoint: `/metrics` (Prometheus), `/status` (JSON) and
    /// a status page at `/`, on ADDR, or `off`. Beyond loopback it needs
    /// --http-password-hash.
    #[arg(long, value_name = "ADDR|off", default_value = "127.0.0.1:9311", value_parser = parse_http)]
    http: HttpListen,
    /// The status endpoint's password, as `echostream-relay hash-password`
    /// prints its hash: every request then needs HTTP basic auth with it
    /// (any user name).
    #[arg(long, value_name = "HASH", value_parser = parse_password_hash)]
    http_password_hash: Option<PasswordHash>,
    /// Log the counters every N seconds (0: only at shutdown).
    #[arg(long, value_name = "N", default_value_t = 60)]
    stats_interval_s: u32,
    /// More logging (-v debug, -vv trace); ECHOSTREAM_LOG=LEVEL also works.
    #[arg(short, long, action = clap::ArgAction::Count)]
    verbose: u8,
}

/// Where the status endpoint listens, if anywhere.
#[derive(Debug, Clone, Copy)]
struct HttpListen(Option<SocketAddr>);

/// An `--http` value that is neither an address nor `off`.
#[derive(Debug)]
struct BadHttpListen(String);

impl std::fmt::Display for BadHttpListen {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "`{}` is neither an address with a port (127.0.0.1:9311) nor `off`",
            self.0
        )
    }
}

impl std::error::Error for BadHttpListen {}

fn parse_http(text: &str) -> Result<HttpListen, BadHttpListen> {
    if text == "off" {
        return Ok(HttpListen(None));
    }
    text.parse()
        .map(|addr| HttpListen(Some(addr)))
        .map_err(|_| BadHttpListen(text.to_owned()))
}

/// An `--http-password-hash` that is not a hash, with what to do.
#[derive(Debug)]
struct BadPasswordHash(PasswordHashError);

impl std::fmt::Display for BadPasswordHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: pass the line `echostream-relay hash-password` prints",
            self.0
        )
    }
}

impl std::error::Error for BadPasswordHash {}

fn parse_password_hash(text: &str) -> Result<PasswordHash, BadPasswordHash> {
    PasswordHash::parse(text).map_err(BadPasswordHash)
}

/// Set from the signal handler, which then wakes the loop through
/// [`WAKER`].
static STOP: AtomicBool = AtomicBool::new(false);

/// Set on SIGHUP: read the tokens file again.
static RELOAD: AtomicBool = AtomicBool::new(false);

/// The server's waker: the loop sleeps until its next deadline, so a
/// signal must wake it to be seen.
static WAKER: OnceLock<Arc<mio::Waker>> = OnceLock::new();

fn main() -> ExitCode {
    let args = Args::parse();
    match args.command {
        Some(Command::Token(command)) => token_command(command),
        Some(Command::HashPassword) => hash_password(),
        None => serve(&args.serve),
    }
}

fn serve(args: &Serve) -> ExitCode {
    logger::init(args.verbose);
    let config = match config(args) {
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
    let http = start_http(args, &server);
    // Before announcing: whoever reads the line may signal at once.
    WAKER.set(server.waker()).expect("one server per process");
    if let Err(error) = signals::install() {
        eprintln!("echostream-relay: cannot install signal handlers: {error}");
        return ExitCode::from(1);
    }
    let scheme = if args.tls_cert.is_some() { "wss" } else { "ws" };
    let http_addr = http
        .as_ref()
        .map_or_else(|| "off".to_owned(), |h| h.addr().to_string());
    let mut stdout = std::io::stdout().lock();
    let announced = writeln!(
        stdout,
        "listening {scheme}={} udp={} http={http_addr}",
        server.ws_addr(),
        server.udp_addr()
    )
    .and_then(|()| stdout.flush());
    drop(stdout);
    if let Err(error) = announced {
        eprintln!("echostream-relay: cannot write to stdout: {error}");
        return ExitCode::from(1);
    }
    let load = || match &args.tokens {
        Some(path) => read_tokens(path, args.strict),
        None => Err("no --tokens file to read again: the relay accepts any token".to_owned()),
    };
    let reload = Reload {
        requested: &RELOAD,
        load: &load,
    };
    match server.run_reloading(&STOP, Some(&reload)) {
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
/// Starts the status endpoint. One that cannot be bound is logged and
/// left off: the relay's nodes matter more than its status page.
fn start_http(args: &Serve, server: &Server) -> Option<HttpServer> {
    let HttpListen(Some(addr)) = args.http else {
        return None;
    };
    let handler = echostream_relay::status::handler(server.status_source());
    match HttpServer::start("relay-http", addr, args.http_password_hash.clone(), handler) {
        Ok(http) => {
            log::info!("status endpoint on http://{}/", http.addr());
            Some(http)
        }
        Err(error) => {
            log::error!(
                "status endpoint not started: --http {addr}: {error}; the relay runs without \
                 it (choose another address, or pass --http off)"
            );
            None
        }
    }
}

/// Reads a password from standard input and prints its hash.
fn hash_password() -> ExitCode {
    use std::io::{BufRead as _, IsTerminal as _};
    if std::io::stdin().is_terminal() {
        eprint!("password (shown as typed): ");
    }
    let mut line = String::new();
    if let Err(error) = std::io::stdin().lock().read_line(&mut line) {
        eprintln!("echostream-relay: reading the password from standard input: {error}");
        return ExitCode::from(1);
    }
    let password = line.trim_end_matches(['\r', '\n']);
    if password.len() < PASSWORD_LEN_MIN {
        eprintln!(
            "echostream-relay: the password is shorter than {PASSWORD_LEN_MIN} characters; \
             choose a longer one"
        );
        return ExitCode::from(2);
    }
    match PasswordHash::new(password) {
        Ok(hash) => {
            println!("{hash}");
            eprintln!("pass it as --http-password-hash '{hash}'");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("echostream-relay: the system's random source failed: {error}");
            ExitCode::from(1)
        }
    }
}

fn config(args: &Serve) -> Result<ServerConfig, String> {
    let listen = args.listen.expect("clap requires --listen when serving");
    let udp = args.udp.expect("clap requires --udp when serving");
    if let HttpListen(Some(addr)) = args.http
        && !addr.ip().is_loopback()
        && args.http_password_hash.is_none()
    {
        return Err(format!(
            "--http {addr} listens beyond loopback without --http-password-hash: anyone who \
             reaches it would read which nodes are connected and where from. Pass \
             --http-password-hash HASH (from `echostream-relay hash-password`), or listen on \
             127.0.0.1."
        ));
    }
    let tokens = match &args.tokens {
        Some(path) => read_tokens(path, args.strict).map_err(|e| format!("--tokens: {e}"))?,
        None if listen.ip().is_loopback() && udp.ip().is_loopback() => {
            log::warn!("no --tokens: accepting any token (both listeners are on loopback)");
            TokenPolicy::AnyToken
        }
        None => {
            return Err(format!(
                "--tokens FILE is required: the relay listens beyond loopback (--listen {}, \
                 --udp {}), and without a tokens file anyone could join its channels. Pass \
                 --tokens FILE, with a line per node from `echostream-relay token new`.",
                listen, udp
            ));
        }
    };
    let mut config = ServerConfig::new(listen, udp, tokens);
    config.udp_host.clone_from(&args.udp_host);
    config.udp_port = args.udp_port;
    config.stats_interval_s = args.stats_interval_s;
    config.max_talk_s = args.max_talk_s;
    config.heartbeat_ms = args.heartbeat_ms;
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
            listen
        ),
        other => other.to_string(),
    })?;
    Ok(config)
}

/// The tokens file as a policy, its warnings logged.
fn read_tokens(path: &std::path::Path, strict: bool) -> Result<TokenPolicy, String> {
    let file = load_tokens(path, strict).map_err(|e| e.to_string())?;
    for warning in &file.warnings {
        log::warn!("{warning}");
    }
    log::info!(
        "tokens file {} read: {} token(s)",
        path.display(),
        file.grants.len()
    );
    Ok(TokenPolicy::Grants(file.grants))
}

/// `echostream-relay token …`: exit 0, or 2 for a bad argument or file,
/// 1 when the file cannot be written.
fn token_command(command: TokenCommand) -> ExitCode {
    match command {
        TokenCommand::New {
            node,
            listen,
            talk,
            sessions,
            channels,
            append,
        } => {
            let token = match echostream_relay::tokens::new_token() {
                Ok(token) => token,
                Err(error) => {
                    eprintln!("echostream-relay: the random source failed: {error}");
                    return ExitCode::from(1);
                }
            };
            let line = match echostream_relay::tokens::token_line(
                &token, &node, &listen, &talk, sessions, channels,
            ) {
                Ok(line) => line,
                Err(error) => {
                    eprintln!("echostream-relay: token new: {error}");
                    return ExitCode::from(2);
                }
            };
            let fingerprint = echostream_relay::engine::grants::Fingerprint::of(
                &echostream_relay::engine::grants::digest(&token),
            );
            match append {
                None => {
                    println!(
                        "# The token for {node} (fingerprint {fingerprint}): put it in the \
                         node's config.json, \"relay\": {{\"token\": …}}. It is shown only \
                         once."
                    );
                    println!("{token}");
                    println!(
                        "# Its line for the relay's tokens file; append it, then reload the \
                         relay (kill -HUP)."
                    );
                    println!("{line}");
                }
                Some(path) => {
                    if let Err(error) = append_line(&path, &line) {
                        eprintln!(
                            "echostream-relay: cannot append to tokens file {}: {error}",
                            path.display()
                        );
                        return ExitCode::from(1);
                    }
                    println!(
                        "# The token for {node} (fingerprint {fingerprint}), its line added \
                         to {}: put it in the node's config.json, \"relay\": {{\"token\": …}}, \
                         then reload the relay (kill -HUP). It is shown only once.",
                        path.display()
                    );
                    println!("{token}");
                }
            }
            ExitCode::SUCCESS
        }
        TokenCommand::Check { file, strict } => match load_tokens(&file, strict) {
            Ok(tokens) => {
                for warning in &tokens.warnings {
                    eprintln!("warning: {warning}");
                }
                for grant in &tokens.grants {
                    let list = |p: &[echostream_relay::engine::grants::Pattern]| {
                        let names: Vec<&str> = p.iter().map(|p| p.as_str()).collect();
                        if names.is_empty() {
                            "-".to_owned()
                        } else {
                            names.join(",")
                        }
                    };
                    let limit =
                        |n: Option<u32>| n.map_or_else(|| "-".to_owned(), |n| n.to_string());
                    println!(
                        "{} {}: node={} listen={} talk={} sessions={} channels={}",
                        grant.fingerprint(),
                        grant.source,
                        grant.node,
                        list(&grant.listen),
                        list(&grant.talk),
                        limit(grant.sessions_max),
                        limit(grant.channels_max),
                    );
                }
                ExitCode::SUCCESS
            }
            Err(error) => {
                eprintln!("echostream-relay: {error}");
                ExitCode::from(2)
            }
        },
    }
}

/// Appends `line` to the tokens file at `path`, creating it readable by
/// its owner only.
fn append_line(path: &std::path::Path, line: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(format!("{line}\n").as_bytes())?;
    file.sync_data()
}

mod signals {
    use std::sync::atomic::Ordering;

    extern "C" fn on_signal(signal: libc::c_int) {
        // Atomic stores, an atomic load and one write(2) to the waker's
        // eventfd: all async-signal-safe (no lock, no allocation).
        if signal == libc::SIGHUP {
            super::RELOAD.store(true, Ordering::Relaxed);
        } else {
            super::STOP.store(true, Ordering::Relaxed);
        }
        if let Some(waker) = super::WAKER.get() {
            // Failing, the loop still sees the flag within its longest
            // wait.
            let _ = waker.wake();
        }
    }

    /// Routes SIGTERM and SIGINT to [`super::STOP`], SIGHUP to
    /// [`super::RELOAD`], each waking the loop through [`super::WAKER`].
    pub(super) fn install() -> std::io::Result<()> {
        for signal in [libc::SIGTERM, libc::SIGINT, libc::SIGHUP] {
            // SAFETY: a zeroed sigaction is a valid "no flags, empty mask"
            // value; the handler only touches atomics and writes to an
            // eventfd, which is async-signal-safe; sigemptyset and sigaction get valid
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
