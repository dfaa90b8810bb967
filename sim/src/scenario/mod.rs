//! Scenarios: a run of the [world](crate::world) described as data (a JSON
//! file, or generated from a seed by [`random`]), checked, built, run and
//! reported; and [`sweep`]s of many generated runs.
//!
//! # The file
//!
//! ```json
//! {
//!   "duration_s": 40,
//!   "seed": 7,
//!   "nodes": [
//!     { "id": "station-a",
//!       "link": { "latency_ms": 20, "jitter_ms": 10, "burst": { "rate": 0.03, "mean_burst": 3 } },
//!       "channels": [
//!         { "id": "fire",
//!           "tones": [ { "tone_id": "Station-1", "a_hz": 600.9, "b_hz": 928.1,
//!                        "record_length_ms": 5000 } ],
//!           "source": { "noise_dbfs": -60,
//!                       "clips": [ { "sound": "page", "at_s": 2, "tone_id": "Station-1" },
//!                                  { "sound": "speech", "at_s": 6.5, "ms": 5000 } ] } } ] },
//!     { "id": "station-b",
//!       "channels": [ { "id": "fire", "ptt": true, "timers": { "timeout_s": 60 },
//!                       "output": {} } ] }
//!   ],
//!   "actions": [ { "do": "relay_restart", "at_s": 20, "down_for_ms": 2000 } ]
//! }
//! ```
//!
//! - Top level: `duration_s` (required), `seed` (1 unless set; `--seed`
//!   overrides it), `nodes`, `actions`.
//! - A node: `id`, `channels`, and its path to the relay: `link` (both
//!   ways), `up`, `down` (each over `link`). A link: `latency_ms` (10),
//!   `jitter_ms`, `loss` (independent, 0–1) or `burst` (`rate`,
//!   `mean_burst`: Gilbert–Elliott), `reorder` + `reorder_delay_ms`,
//!   `duplicate`, `bit_flip`, `replay` + `replay_depth` (64).
//! - A channel: `id` (equal ids on different nodes hear each other),
//!   `gate` (`vox` at `vox_threshold_dbfs` −40, `always`, `cor_line`),
//!   `preroll_frames`, `tones`, `ptt` (a transmitter keyed by remote
//!   audio), `timers` (`cor_debounce_ms`, `cor_hang_ms`, `tx_delay_ms`,
//!   `ptt_hang_ms`, `timeout_s`, `lockout_s`; each defaults to the
//!   product's), `full_duplex`, `busy_lockout`, `source` (its receiver's
//!   audio) and `output` (its output device: `drift_ppm`,
//!   `period_jitter_us`).
//! - A tone: `tone_id`, `alert_type` (`fire`), `kind` (`quick_call`: A
//!   ≥ 800 ms then B ≥ 2 s; `long`: `a_hz` ≥ `length_ms` 2000; `hi_low`:
//!   `min_tone_ms` 250, `alternations` 4; `pulsed`: `a_hz` keyed `on_ms`
//!   300 on, `off_ms` 200 off, `pulses` 4), `a_hz`, `b_hz`,
//!   `record_delay_ms`, `record_length_ms`, `passthrough` (a channel id of
//!   the same node).
//! - A source: `noise_dbfs` (band noise under everything), `drift_ppm`,
//!   `period_jitter_us`, `ends_at_s`, and `clips`, each with `sound` and
//!   `at_s`: `page` (`tone_id`; it must alert exactly once), `speech`
//!   (`ms`), `noise` (`ms`), `tone` (`hz`, `ms`), `dtmf` (`digits`,
//!   `on_ms`, `off_ms`), `wav` (`path`, relative to the scenario file: mono
//!   16-bit 48 kHz); `level_dbfs` on each.
//! - An action, by `do`: `cor_pulses` (`node`, `channel`, `pulses_s`:
//!   `[[from, to], …]`), `cor_chatter` (`from_s`, `duration_s`,
//!   `period_ms`), `cor_stuck` (`at_s`), `outage` (`at_s`, `duration_s`,
//!   `node` or all, `direction` `up`/`down`/`both`, `path`
//!   `signaling`/`media`/`both`), `partition` (`at_s`, `duration_s`,
//!   `nodes`: cut from the relay entirely), `set_link` (`at_s`, `node`,
//!   `direction`, `link`), `relay_restart` (`at_s`, `down_for_ms`),
//!   `rekey` (`at_s`, `node` or all), `shutdown` (`at_s`, `node`).
//!
//! Unknown fields are refused. A file that cannot be run is reported with
//! the JSON path of what is wrong ([`ScenarioError`]).

pub mod build;
pub mod cli;
pub mod format;
pub mod random;
pub mod report;
pub mod sweep;

use std::path::Path;

pub use build::{BuildOptions, Prepared, ScenarioError, prepare};
pub use format::Scenario;

use crate::world::{Violation, World};

/// Reads a scenario from JSON text.
///
/// # Errors
/// Text that is not JSON or not a scenario, with the JSON path of the
/// first thing wrong.
pub fn parse(text: &str) -> Result<Scenario, ScenarioError> {
    let mut de = serde_json::Deserializer::from_str(text);
    serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        ScenarioError::new(path, inner.to_string())
    })
}

/// Reads a scenario file.
///
/// # Errors
/// It cannot be read, or [`parse`] refuses it.
pub fn load(file: &Path) -> Result<Scenario, ScenarioError> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| ScenarioError::new("", format!("cannot read `{}`: {e}", file.display())))?;
    parse(&text)
}

/// A finished run.
#[derive(Debug)]
pub struct Outcome {
    /// The world as it ended (timeline, nodes, outputs).
    pub world: World,
    /// Every broken invariant, in order.
    pub violations: Vec<Violation>,
}

impl Outcome {
    /// The first broken invariant, if any.
    pub fn first(&self) -> Option<&Violation> {
        self.violations.first()
    }
}

/// Builds and runs `prepared` to its end and judges it.
///
/// # Errors
/// A world the engines refuse (named, without a JSON path: the node's
/// channel).
pub fn run(prepared: Prepared) -> Result<Outcome, ScenarioError> {
    let mut world = prepared
        .builder
        .build()
        .map_err(|e| ScenarioError::new("nodes", e.to_string()))?;
    world.run_for(prepared.duration);
    let violations = world.finish().to_vec();
    Ok(Outcome { world, violations })
}
