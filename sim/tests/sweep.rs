//! The seed sweep CI runs: the random scenario of every seed 1..=500
//! (2–8 nodes, pages and talk, radios, faulty links, relay restarts,
//! rekeys, outages, partitions, COR chatter and stuck lines, shutdowns),
//! each run to its end with every invariant checked. A failing seed is
//! printed with its first violation and the command that replays it.

use std::time::Instant;

use echostream_sim::scenario::sweep::sweep;

/// Seeds 1..=SEEDS.
const SEEDS: u64 = 500;

#[test]
fn every_random_scenario_of_seeds_1_to_500_keeps_every_invariant() {
    let jobs = std::thread::available_parallelism().map_or(2, usize::from);
    let started = Instant::now();
    let failures = sweep(1, SEEDS, jobs, |_| {});
    let wall = started.elapsed();
    println!(
        "{SEEDS} seeds on {jobs} threads in {:.1} s ({:.1} seeds/s)",
        wall.as_secs_f64(),
        SEEDS as f64 / wall.as_secs_f64()
    );
    for f in &failures {
        println!("seed {}: {}\n  replay: {}", f.seed, f.first, f.replay());
    }
    assert!(
        failures.is_empty(),
        "{} of {SEEDS} seeds broke an invariant (listed above)",
        failures.len()
    );
}
