//! `echostream-sim run` on every example scenario in `sim/scenarios`: it
//! passes, and leaves what each radio played and what each node reported;
//! a scenario with a mistake is refused with exit 2, naming the field.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn sim(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_echostream-sim"))
        .args(args)
        .output()
        .expect("the simulator runs")
}

fn scratch(name: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("echostream-sim-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn examples() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("sim/scenarios exists")
        .map(|e| e.expect("a directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    files
}

#[test]
fn every_example_scenario_passes_and_writes_wavs_and_events() {
    let files = examples();
    assert!(files.len() >= 4, "the examples: {files:?}");
    for file in files {
        let stem = file
            .file_stem()
            .expect("a name")
            .to_string_lossy()
            .into_owned();
        let out = scratch(&stem);
        let run = sim(&[
            "run",
            file.to_str().expect("utf-8"),
            "--out",
            out.to_str().expect("utf-8"),
        ]);
        let stdout = String::from_utf8_lossy(&run.stdout);
        let stderr = String::from_utf8_lossy(&run.stderr);
        assert_eq!(run.status.code(), Some(0), "{stem}: {stdout}\n{stderr}");
        assert!(stdout.contains("no invariant broken"), "{stem}: {stdout}");
        let written: Vec<String> = std::fs::read_dir(&out)
            .expect("the output directory")
            .map(|e| {
                e.expect("an entry")
                    .file_name()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        let wavs: Vec<&String> = written.iter().filter(|f| f.ends_with(".wav")).collect();
        assert!(!wavs.is_empty(), "{stem}: no WAV in {written:?}");
        for wav in wavs {
            let reader = hound::WavReader::open(out.join(wav)).expect("a WAV file");
            assert_eq!(reader.spec().sample_rate, 48_000);
            assert!(
                reader.len() > 48_000,
                "{stem}/{wav}: what the radio played is there"
            );
        }
        let events: Vec<&String> = written
            .iter()
            .filter(|f| f.ends_with(".events.jsonl"))
            .collect();
        assert!(
            events.len() >= 2,
            "{stem}: one events.jsonl per node: {written:?}"
        );
        for name in events {
            let text = std::fs::read_to_string(out.join(name)).expect("readable");
            let first = text.lines().next().expect("the node reported something");
            let event: serde_json::Value = serde_json::from_str(first).expect("a JSON object");
            assert!(
                event["t_s"].is_number() && event["kind"].is_string(),
                "{first}"
            );
        }
        let _ = std::fs::remove_dir_all(&out);
    }
}

#[test]
fn a_scenario_with_a_mistake_is_refused_naming_the_field() {
    let dir = scratch("bad");
    std::fs::create_dir_all(&dir).expect("a scratch directory");
    let cases = [
        (
            r#"{"duration_s": 10, "nodes": [{"id": "a", "channels": [{"id": "fire", "tones": [{"tone_id": "S1", "a_hz": 600.9, "b_hz": 928.1, "passthrough": "nowhere"}]}]}]}"#,
            "nodes[0].channels[0].tones[0].passthrough",
        ),
        (
            r#"{"duration_s": 10, "nodes": [{"id": "a", "channels": [{"id": "fire", "gate": "sometimes"}]}]}"#,
            "nodes[0].channels[0].gate",
        ),
        (
            r#"{"duration_s": 10, "nodes": [{"id": "a", "link": {"loss": 1.5}, "channels": [{"id": "fire"}]}]}"#,
            "nodes[0].link.loss",
        ),
    ];
    for (k, (text, field)) in cases.iter().enumerate() {
        let file = dir.join(format!("bad-{k}.json"));
        std::fs::write(&file, text).expect("writable");
        let run = sim(&[
            "run",
            file.to_str().expect("utf-8"),
            "--out",
            dir.to_str().expect("utf-8"),
        ]);
        let stderr = String::from_utf8_lossy(&run.stderr);
        assert_eq!(run.status.code(), Some(2), "{field}: {stderr}");
        assert!(stderr.contains(field), "names `{field}`: {stderr}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_random_scenario_dumps_as_json_and_replays_the_same() {
    let dump = sim(&["run", "--random", "--seed", "7", "--dump"]);
    assert_eq!(dump.status.code(), Some(0));
    let dir = scratch("dump");
    std::fs::create_dir_all(&dir).expect("a scratch directory");
    let file = dir.join("seed-7.json");
    std::fs::write(&file, &dump.stdout).expect("writable");
    let from_seed = sim(&[
        "run",
        "--random",
        "--seed",
        "7",
        "--out",
        dir.join("a").to_str().expect("utf-8"),
    ]);
    let from_file = sim(&[
        "run",
        file.to_str().expect("utf-8"),
        "--out",
        dir.join("b").to_str().expect("utf-8"),
    ]);
    assert_eq!(from_seed.status.code(), from_file.status.code());
    // The same timeline, line for line, up to where the output names its directory.
    let timeline = |o: &Output| {
        String::from_utf8_lossy(&o.stdout)
            .lines()
            .take_while(|l| !l.starts_with("wrote "))
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    assert_eq!(timeline(&from_seed), timeline(&from_file));
    let _ = std::fs::remove_dir_all(&dir);
}
