//! The `run` and `sweep` subcommands of `echostream-sim`, as functions of
//! their arguments returning the exit code: 0 nothing broken, 1 an
//! invariant broken (or a seed of a sweep failed), 2 a bad scenario file
//! or bad arguments.
//!
//! ```text
//! echostream-sim run SCENARIO.json [--seed N] [--out DIR] [--quiet]
//! echostream-sim run --random --seed N [--out DIR] [--quiet]
//! echostream-sim run --random --seed N --dump      (prints the scenario as JSON)
//! echostream-sim sweep --seeds N [--from S] [--jobs J]
//! ```
//!
//! `run` prints the timeline and each node's link counts, writes one WAV
//! per output device and one `<node>.events.jsonl` per node into DIR
//! (`sim-out/<scenario stem>` unless set; `random-<seed>` for a random
//! one). The release profile aborts on a panic, so a step that panics
//! ends a release build with the abort, not a `no_panic` report; the
//! debug and test builds report it.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

use super::report::{replay_file, replay_random, summary, violation_line, write_outputs};
use super::sweep::{Progress, sweep};
use super::{BuildOptions, Scenario, load, prepare, random, run};

/// Exit code: nothing broken.
pub const EXIT_OK: u8 = 0;
/// Exit code: an invariant broken.
pub const EXIT_VIOLATION: u8 = 1;
/// Exit code: a bad scenario or bad arguments.
pub const EXIT_BAD_INPUT: u8 = 2;

/// Usage of both subcommands.
pub const USAGE: &str = "usage: echostream-sim run SCENARIO.json [--seed N] [--out DIR] [--quiet]\n\
     \x20      echostream-sim run --random --seed N [--out DIR] [--quiet] [--dump]\n\
     \x20 runs a scenario (a file, or the random one of seed N; --dump prints it as JSON\n\
     \x20 instead), prints its timeline, writes WAVs and events.jsonl into DIR\n\
     \x20 (default sim-out/<stem>); exit 1 when an invariant breaks, 2 on a bad file\n\
     usage: echostream-sim sweep --seeds N [--from S] [--jobs J]\n\
     \x20 runs the random scenarios of seeds S..S+N (S = 1) on J threads";

struct RunArgs {
    file: Option<PathBuf>,
    seed: Option<u64>,
    out: Option<PathBuf>,
    dump: bool,
    quiet: bool,
}

fn parse_run(args: &[String]) -> Result<RunArgs, String> {
    let mut parsed = RunArgs {
        file: None,
        seed: None,
        out: None,
        dump: false,
        quiet: false,
    };
    let mut random = false;
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--random" => random = true,
            "--dump" => parsed.dump = true,
            "--quiet" => parsed.quiet = true,
            "--seed" => parsed.seed = Some(number(it.next(), "--seed")?),
            "--out" => {
                let dir = it.next().ok_or("--out needs a directory")?;
                parsed.out = Some(PathBuf::from(dir));
            }
            other if other.starts_with('-') => return Err(format!("unknown option `{other}`")),
            file if parsed.file.is_none() => parsed.file = Some(PathBuf::from(file)),
            extra => return Err(format!("unexpected argument `{extra}`")),
        }
    }
    match (random, &parsed.file) {
        (true, Some(_)) => Err("give a scenario file or --random, not both".to_owned()),
        (true, None) if parsed.seed.is_none() => Err("--random needs --seed N".to_owned()),
        (false, None) => Err("give a scenario file or --random --seed N".to_owned()),
        _ => Ok(parsed),
    }
}

fn number(value: Option<&String>, option: &str) -> Result<u64, String> {
    let value = value.ok_or_else(|| format!("{option} needs a number"))?;
    value
        .parse()
        .map_err(|_| format!("{option}: `{value}` is not a whole number"))
}

/// `echostream-sim run …`; returns the exit code.
pub fn run_command(args: &[String]) -> u8 {
    let args = match parse_run(args) {
        Ok(args) => args,
        Err(e) => {
            eprintln!("error: {e}\n{USAGE}");
            return EXIT_BAD_INPUT;
        }
    };
    let (scenario, base, stem): (Scenario, PathBuf, String) = match &args.file {
        Some(file) => match load(file) {
            Ok(s) => {
                let base = file.parent().map_or_else(PathBuf::new, Path::to_path_buf);
                let stem = file
                    .file_stem()
                    .map_or("scenario".into(), |s| s.to_string_lossy().into_owned());
                (s, base, stem)
            }
            Err(e) => {
                eprintln!("error: {}: {e}", file.display());
                return EXIT_BAD_INPUT;
            }
        },
        None => {
            let seed = args.seed.expect("parse_run requires it with --random");
            (
                random::generate(seed),
                PathBuf::from("."),
                format!("random-{seed}"),
            )
        }
    };
    if args.dump {
        let json = serde_json::to_string_pretty(&scenario).expect("a scenario serializes");
        println!("{json}");
        return EXIT_OK;
    }
    let options = BuildOptions {
        seed: args.seed,
        keep_samples: true,
    };
    let outcome = match prepare(&scenario, &base, options).and_then(|p| {
        let seed = p.seed;
        run(p).map(|o| (o, seed))
    }) {
        Ok(outcome) => outcome,
        Err(e) => {
            let name = args.file.as_deref().unwrap_or(Path::new("(random)"));
            eprintln!("error: {}: {e}", name.display());
            return EXIT_BAD_INPUT;
        }
    };
    let (outcome, seed) = outcome;
    if !args.quiet {
        print!("{}", summary(&outcome.world));
    }
    let dir = args
        .out
        .unwrap_or_else(|| PathBuf::from("sim-out").join(&stem));
    match write_outputs(&outcome.world, &dir) {
        Ok(files) => println!("wrote {} files into {}", files.len(), dir.display()),
        Err(e) => {
            eprintln!("error: cannot write into {}: {e}", dir.display());
            return EXIT_VIOLATION;
        }
    }
    let replay = match &args.file {
        Some(file) => replay_file(file, seed),
        None => replay_random(seed),
    };
    match outcome.first() {
        None => {
            println!(
                "ok: {} nodes, {:.1} s virtual, {} steps, no invariant broken",
                outcome.world.nodes.len(),
                outcome.world.now.as_micros() as f64 / 1e6,
                outcome.world.steps()
            );
            EXIT_OK
        }
        Some(first) => {
            eprintln!(
                "FAILED: {} invariant(s) broken; the first: {}\nreplay: {replay}",
                outcome.violations.len(),
                violation_line(first)
            );
            EXIT_VIOLATION
        }
    }
}

/// `echostream-sim sweep …`; returns the exit code.
pub fn sweep_command(args: &[String]) -> u8 {
    let mut seeds = None;
    let mut from = 1;
    let mut jobs = std::thread::available_parallelism().map_or(1, usize::from);
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let parsed = match arg.as_str() {
            "--seeds" => number(it.next(), arg).map(|n| seeds = Some(n)),
            "--from" => number(it.next(), arg).map(|n| from = n),
            "--jobs" => number(it.next(), arg).map(|n| jobs = n.max(1) as usize),
            other => Err(format!("unexpected argument `{other}`")),
        };
        if let Err(e) = parsed {
            eprintln!("error: {e}\n{USAGE}");
            return EXIT_BAD_INPUT;
        }
    }
    let Some(count) = seeds else {
        eprintln!("error: sweep needs --seeds N\n{USAGE}");
        return EXIT_BAD_INPUT;
    };
    // One line redrawn on a terminal; a line every 10 s in a log.
    let terminal = std::io::stderr().is_terminal();
    let mut logged_s = 0;
    let show = |p: Progress| {
        let line = format!(
            "{}/{} seeds, {} failed, {:.1} seeds/s, {:.0} s",
            p.done,
            p.total,
            p.failed,
            p.seeds_per_s(),
            p.elapsed.as_secs_f64()
        );
        if terminal {
            eprint!("\r{line}   ");
            let _ = std::io::stderr().flush();
        } else if p.elapsed.as_secs() >= logged_s + 10 || p.done == p.total {
            logged_s = p.elapsed.as_secs();
            eprintln!("{line}");
        }
    };
    let failures = sweep(from, count, jobs, show);
    if terminal {
        eprintln!();
    }
    for f in &failures {
        println!("seed {}: {}\n  replay: {}", f.seed, f.first, f.replay());
    }
    if failures.is_empty() {
        println!(
            "ok: seeds {from}..={} passed",
            from + count.saturating_sub(1)
        );
        EXIT_OK
    } else {
        println!("{} of {count} seeds failed", failures.len());
        EXIT_VIOLATION
    }
}
