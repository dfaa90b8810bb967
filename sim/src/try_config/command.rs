//! `echostream-sim try --config FILE --audio FILE.wav [--channel ID]`:
//! the command line around [`super::run`].

use std::path::PathBuf;
use std::process::ExitCode;

use super::{TryRequest, run};

/// The usage line.
pub const USAGE: &str = "usage: echostream-sim try --config FILE --audio FILE.wav [--channel ID]\n\
     \x20 runs FILE's node offline on FILE.wav (heard on channel ID, default: the channel \
     reading that file, else the first with tones) and prints its alerts, DTMF, \
     recordings and passthroughs";

/// Runs the command with the arguments after `try`; prints the report
/// on standard output, problems on standard error. Exit status 0, 2 for
/// a bad command line, config or audio file, 1 for anything else.
pub fn main(args: &[String]) -> ExitCode {
    let request = match parse(args) {
        Ok(request) => request,
        Err(why) => {
            eprintln!("error: {why}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(&request) {
        Ok(report) => {
            print!("{report}");
            ExitCode::SUCCESS
        }
        Err(error) => {
            for line in error.lines() {
                eprintln!("{line}");
            }
            ExitCode::from(if error.is_input() { 2 } else { 1 })
        }
    }
}

fn parse(args: &[String]) -> Result<TryRequest, String> {
    let mut config = None;
    let mut audio = None;
    let mut channel = None;
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let value = it.next().ok_or_else(|| format!("`{arg}` needs a value"))?;
        match arg.as_str() {
            "--config" => config = Some(PathBuf::from(value)),
            "--audio" => audio = Some(PathBuf::from(value)),
            "--channel" => channel = Some(value.clone()),
            _ => return Err(format!("unexpected argument `{arg}`")),
        }
    }
    Ok(TryRequest {
        config: config.unwrap_or_else(|| PathBuf::from("config.json")),
        audio: audio.ok_or("--audio FILE.wav is missing")?,
        channel,
    })
}
