"""Command line and the run: install, generate, run every tool, score,
write the BENCHMARKS.md section. See scripts/compare-tones --help."""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import shlex
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
WORK = ROOT / "target" / "compare-tones"
VENV = WORK / "venv"


def parser(doc: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="scripts/compare-tones",
        description=doc,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--quick", action="store_true", help="smoke run: 20 pages per SNR point, 16 digits per DTMF step, 60 s each of noise and speech; prints the section, writes no file unless --benchmarks is given")
    p.add_argument("--pages", type=int, metavar="N", help="pages per SNR point (default 200; --quick: 20)")
    p.add_argument("--passes", type=int, metavar="N", help="passes of each tool over every file, interleaved; CPU figures are per-file medians (default 3; --quick: 1)")
    p.add_argument("--seed", type=int, default=1, help="seed of the test set (default 1)")
    p.add_argument("--benchmarks", type=Path, metavar="FILE", help="file whose section is replaced (default BENCHMARKS.md at the project root; --quick: none)")
    p.add_argument("--echostream", type=Path, metavar="BINARY", help="use this echostream binary instead of building the release one (for testing the script)")
    p.add_argument("--only", choices=["dtmf-fast", "pulsed"], help="run one test set alone and replace only its part of BENCHMARKS.md (unless --quick): dtmf-fast, the fast-DTMF sequences (40 ms on / 20 ms off; seconds, not minutes); pulsed, the pulsed and tone-finder set (pulsed alerts, hi-low and pulsed discovery, false reports on the main set's speech and noise)")
    p.add_argument("--upgrade", action="store_true", help="upgrade icad_tone_detection (and numpy, scipy) in the virtualenv to the latest release first")
    return p


def log(msg: str) -> None:
    print(f"==> {msg}", file=sys.stderr, flush=True)


def die(msg: str) -> None:
    print(f"error: {msg}", file=sys.stderr, flush=True)
    sys.exit(1)


def bootstrap(doc: str, script: Path) -> None:
    """Run under any Python 3.11+: parses the arguments (so --help needs
    nothing installed), makes the virtualenv, then re-runs the script
    inside it."""
    args = parser(doc).parse_args()
    from . import install

    if Path(sys.prefix).resolve() != VENV.resolve():
        try:
            install.python_env(VENV, args.upgrade)
        except install.SetupError as err:
            die(str(err))
        py = install.venv_python(VENV)
        argv = [a for a in sys.argv[1:] if a != "--upgrade"]
        os.execv(str(py), [str(py), str(script), *argv])
    run(args, doc)


def machine() -> dict:
    cpu = "?"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"nproc": os.cpu_count(), "cpu": cpu, "kernel": f"Linux {platform.release()}"}


def _version(cmd: list[str], pick=lambda s: s.strip().splitlines()[0]) -> str:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True)
        return pick(out.stdout or out.stderr)
    except Exception:  # noqa: BLE001 - a version string is best effort
        return "?"


def run(args: argparse.Namespace, doc: str) -> None:
    from . import fast_dtmf, install, peers, report, score, testset

    started = time.monotonic()
    command = "scripts/compare-tones" + "".join(" " + shlex.quote(a) for a in sys.argv[1:])
    if args.quick:
        params = testset.Params(seed=args.seed, pages_per_snr=args.pages or 20, dtmf_rounds=1, noise_s=60.0, speech_s=60.0)
    else:
        params = testset.Params(seed=args.seed, pages_per_snr=args.pages or 200, dtmf_rounds=3, noise_s=600.0, speech_s=600.0)
    benchmarks = args.benchmarks if args.benchmarks else (None if args.quick else ROOT / "BENCHMARKS.md")

    # 1. Everything installed and built, before the long part.
    try:
        # The pulsed set needs no DTMF peer: only icad's ffmpeg and the speech.
        install.debian_packages(("ffmpeg", "espeak-ng") if args.only == "pulsed" else None)
        binary = args.echostream.resolve() if args.echostream else install.echostream_binary(ROOT)
        if args.echostream:
            log(f"using {binary} instead of the release build")
        install.check_detect(binary)
    except install.SetupError as err:
        die(str(err))

    if args.only == "dtmf-fast":
        run_fast_dtmf(args, binary, command, benchmarks, started)
        return

    meta = machine()
    meta["command"] = command
    meta["date"] = datetime.date.today().isoformat()
    meta["passes"] = passes = args.passes or (1 if args.quick else 3)
    if passes < 1:
        die("--passes must be at least 1")
    if args.only == "pulsed":
        run_pulsed(args, params, binary, meta, benchmarks)
        log(f"done in {time.monotonic() - started:.0f} s")
        return

    # 2. The test set and EchoStream's config for it.
    manifest = testset.build(WORK / "sets", params)
    folder = Path(manifest["dir"])
    for f in manifest["files"]:
        f["abspath"] = str(folder / f["path"])
    config = folder / "compare-tones.json"
    peers.echostream_config(manifest["stations"], manifest["sample_rate_hz"], config)
    try:
        peers.check_config(binary, config)
    except RuntimeError as err:
        die(str(err))
    files = [f["abspath"] for f in manifest["files"]]
    audio_s = sum(f["duration_s"] for f in manifest["files"])
    log(f"{len(files)} files, {audio_s:,.0f} s of audio; running the three tools in turn")
    # Every tool should read the files from the page cache: read them all
    # once first, so that the first tool to run does not pay for the disk.
    for path in files:
        with open(path, "rb") as f:
            while f.read(1 << 20):
                pass

    # 3. The tools, one after another on the same files, the whole round
    # repeated so that each tool's CPU is a median over passes spread
    # through the run (a burst of load elsewhere hits one pass, not one
    # tool).
    rounds: dict[str, list] = {"EchoStream": [], "icad_tone_detection": [], "multimon-ng": []}
    for n in range(1, passes + 1):
        if passes > 1:
            log(f"pass {n} of {passes}")
        rounds["EchoStream"].append(peers.run_echostream(files, binary, config))
        rounds["icad_tone_detection"].append(peers.run_icad(files, WORK, peers.ICAD_DEFAULTS))
        rounds["multimon-ng"].append(peers.run_multimon(files))
    tools = {name: peers.median_of_passes(results) for name, results in rounds.items()}
    # icad once more on the page and tone-free files with its frame gate
    # off, to show what its one SNR knob buys (and costs in false alerts).
    tone_files = [f["abspath"] for f in manifest["files"] if f["kind"] in ("qc", "none")]
    tools[report.ICAD_GATE_OFF] = peers.run_icad(tone_files, WORK, peers.ICAD_GATE_OFF, report.ICAD_GATE_OFF)

    # 4. Report.
    meta["versions"] = versions(tools["EchoStream"].version, binary, args, tools["icad_tone_detection"].version, tools["multimon-ng"].version)
    body = report.section(manifest, tools, meta)
    print(body)

    failures = []
    for tool in tools.values():
        if tool.failed:
            failures.append(f"{tool.name} could not run: {tool.failed}")
        errs = tool.errors()
        if errs:
            failures.append(f"{tool.name} failed on {len(errs)} file(s), e.g. {errs[0]}")
        if tool.name == "EchoStream" and tool.differing:
            failures.append(
                f"EchoStream reported other detections in a later pass on {len(tool.differing)} file(s), "
                f"e.g. {Path(tool.differing[0]).name}: its detectors must be deterministic"
            )
    if failures:
        for f in failures:
            print(f"error: {f}", file=sys.stderr)
        die(
            "not every tool ran on every file, so BENCHMARKS.md was left as it was; "
            "fix the failure above and run this again"
        )
    fast_cases, fast_tools = fast_dtmf.run(WORK / "sets", args.seed, binary, WORK)
    fast_body = fast_dtmf.subsection(fast_cases, fast_tools, command)
    print(fast_body)
    if benchmarks:
        report.replace_section(benchmarks, body)
        fast_dtmf.replace_subsection(benchmarks, fast_dtmf.SUBHEADING, fast_body)
        log(f"wrote the section \"{report.HEADING[3:]}\" in {benchmarks}")
    else:
        log("quick run: no file written (pass --benchmarks FILE to write one)")
    run_pulsed(args, params, binary, meta, benchmarks)
    log(f"done in {time.monotonic() - started:.0f} s")


def run_fast_dtmf(args: argparse.Namespace, binary: Path, command: str, benchmarks: Path | None, started: float) -> None:
    """`--only dtmf-fast`: the fast-DTMF set alone, its subsection only."""
    from . import fast_dtmf

    try:
        cases, tools = fast_dtmf.run(WORK / "sets", args.seed, binary, WORK)
    except RuntimeError as err:
        die(str(err))
    body = fast_dtmf.subsection(cases, tools, command)
    print(body)
    failures = [f"{t.name} could not run: {t.failed}" for t in tools.values() if t.failed]
    failures += [f"{t.name} failed on {e}" for t in tools.values() for e in t.errors()]
    if failures:
        for f in failures:
            print(f"error: {f}", file=sys.stderr)
        die("not every tool ran on every file, so BENCHMARKS.md was left as it was")
    if benchmarks:
        fast_dtmf.replace_subsection(benchmarks, fast_dtmf.SUBHEADING, body)
        log(f"wrote the subsection \"{fast_dtmf.SUBHEADING[4:]}\" in {benchmarks}")
    log(f"done in {time.monotonic() - started:.0f} s")


def versions(echostream: str, binary: Path, args: argparse.Namespace, icad: str, multimon: str | None) -> list[str]:
    import numpy

    commit = _version(["git", "-C", str(ROOT), "describe", "--always", "--dirty"])
    out = [
        f"EchoStream {echostream.removeprefix('echostream ')} (git {commit}, "
        + ("release build)" if not args.echostream else f"{binary})"),
        f"icad_tone_detection {icad} (ffmpeg {_version(['ffmpeg', '-version'], lambda s: s.split()[2])})",
    ]
    if multimon:
        out.append(f"multimon-ng {multimon} (Debian), sox {_version(['sox', '--version'], lambda s: s.strip().split('v')[-1])}")
    out += [
        f"{_version(['rustc', '--version'], lambda s: ' '.join(s.split()[:2]))}",
        f"Python {platform.python_version()}, numpy {numpy.__version__}",
        f"espeak-ng {_version(['espeak-ng', '--version'], lambda s: s.split(':')[1].split()[0])}",
    ]
    return out


def run_pulsed(args: argparse.Namespace, params, binary: Path, meta: dict, benchmarks: Path | None) -> None:
    """The pulsed and tone-finder set: EchoStream with pulsed
    definitions, EchoStream's finder and icad on the same files; writes
    its own section after the main one."""
    from . import peers, pulsed, report

    pparams = pulsed.Params(seed=params.seed, noise_s=params.noise_s, speech_s=params.speech_s)
    manifest = pulsed.build(WORK / "sets", pparams)
    folder = Path(manifest["dir"])
    for f in manifest["files"]:
        f["abspath"] = str(folder / f["path"])
    config = folder / "compare-tones-pulsed.json"
    pulsed.echostream_config(manifest["alerts"], config)
    try:
        peers.check_config(binary, config)
    except RuntimeError as err:
        die(str(err))
    files = [f["abspath"] for f in manifest["files"]]
    audio_s = sum(f["duration_s"] for f in manifest["files"])
    log(f"pulsed set: {len(files)} files, {audio_s:,.0f} s of audio")
    for path in files:
        with open(path, "rb") as fh:
            while fh.read(1 << 20):
                pass
    rounds: dict[str, list] = {pulsed.ES_DEFS: [], pulsed.ES_FINDER: [], pulsed.ICAD: []}
    for n in range(1, meta["passes"] + 1):
        if meta["passes"] > 1:
            log(f"pulsed set: pass {n} of {meta['passes']}")
        rounds[pulsed.ES_DEFS].append(peers.run_echostream(files, binary, config, pulsed.ES_DEFS))
        rounds[pulsed.ES_FINDER].append(
            peers.run_echostream(files, binary, None, pulsed.ES_FINDER, scratch=folder / "echostream-cwd")
        )
        rounds[pulsed.ICAD].append(peers.run_icad(files, WORK, peers.ICAD_DEFAULTS))
    tools = {name: peers.median_of_passes(results) for name, results in rounds.items()}
    meta = dict(meta)
    meta["versions"] = versions(tools[pulsed.ES_DEFS].version, binary, args, tools[pulsed.ICAD].version, None)
    body = pulsed.section(manifest, tools, meta)
    print(body)
    failures = [f"{t.name} could not run: {t.failed}" for t in tools.values() if t.failed]
    failures += [f"{t.name} failed on {len(t.errors())} file(s), e.g. {t.errors()[0]}" for t in tools.values() if t.errors()]
    failures += [
        f"{t.name} reported other detections in a later pass on {len(t.differing)} file(s): its detectors must be deterministic"
        for t in tools.values()
        if t.name.startswith("EchoStream") and t.differing
    ]
    if failures:
        for f in failures:
            print(f"error: {f}", file=sys.stderr)
        die("not every tool ran on every file of the pulsed set, so BENCHMARKS.md was left as it was")
    if benchmarks:
        report.replace_section(benchmarks, body, pulsed.HEADING, after=report.HEADING)
        log(f"wrote the section \"{pulsed.HEADING[3:]}\" in {benchmarks}")
    else:
        log("quick run: pulsed section not written (pass --benchmarks FILE to write one)")
