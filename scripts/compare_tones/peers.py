"""Runs each detector over the test files and turns what it prints into
one shape: per file, the alerts (two-tone, long, hi-low, pulsed) and the
DTMF digits it reported, and the CPU it used.

Whole-run CPU is measured from outside: resource.getrusage(RUSAGE_CHILDREN)
deltas around each child process (which include the child's own
children). The runs are sequential, so a delta belongs to exactly one run.
Per-file CPU: EchoStream and icad run every file in one process and report
each file's CPU from inside it (start-up and imports left out, counted in
the whole-run figure); multimon-ng and sox run a process per file, so
theirs is the getrusage delta around it.
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

FILE_TIMEOUT_S = 900


def log(msg: str) -> None:
    print(f"==> {msg}", file=sys.stderr, flush=True)


def children_cpu_s() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


@dataclass
class FileResult:
    cpu_s: float = 0.0
    error: str | None = None
    # {"kind", "start_s", "end_s", "a_hz", "b_hz", "hz", "station", "latency_ms"}
    alerts: list[dict] = field(default_factory=list)
    # [(digits, start_s or None)] in the order reported
    dtmf: list[tuple[str, float | None]] = field(default_factory=list)


@dataclass
class ToolResult:
    name: str
    version: str = "?"
    files: dict[str, FileResult] = field(default_factory=dict)
    total_cpu_s: float = 0.0  # everything, start-up included
    wall_s: float = 0.0
    # multimon-ng: the sox conversion, measured apart from the decoder
    conversion_cpu_s: dict[str, float] = field(default_factory=dict)
    failed: str | None = None  # the tool could not run at all
    cpu_parts: dict[str, float] = field(default_factory=dict)  # where the CPU went
    counters: dict[str, int] = field(default_factory=dict)  # from the tool's own summary
    # With several passes (median_of_passes): each pass's per-file CPU sum,
    # and the files on which a later pass reported other detections.
    pass_cpu_s: list[float] = field(default_factory=list)
    differing: list[str] = field(default_factory=list)

    def errors(self) -> list[str]:
        return [f"{Path(p).name}: {r.error}" for p, r in self.files.items() if r.error]


def median_of_passes(passes: list[ToolResult]) -> ToolResult:
    """One result from several passes of a tool over the same files: the
    first pass's detections (later passes are checked to report the same;
    files where they do not are listed in `differing`), and per file the
    median CPU over the passes, so that a burst of load from elsewhere on
    the machine during one pass does not move the figures."""
    first = passes[0]
    if len(passes) == 1:
        first.pass_cpu_s = [sum(fr.cpu_s for fr in first.files.values())]
        return first
    for later in passes[1:]:
        first.failed = first.failed or later.failed
        for path, fr in first.files.items():
            other = later.files.get(path)
            if other is None or other.error:
                fr.error = fr.error or (other.error if other else "missing from a later pass")
            elif (other.alerts, other.dtmf) != (fr.alerts, fr.dtmf) and path not in first.differing:
                first.differing.append(path)
    first.pass_cpu_s = [sum(fr.cpu_s for fr in p.files.values()) for p in passes]
    for path, fr in first.files.items():
        fr.cpu_s = statistics.median(p.files[path].cpu_s for p in passes if path in p.files)
    for path in first.conversion_cpu_s:
        first.conversion_cpu_s[path] = statistics.median(
            p.conversion_cpu_s[path] for p in passes if path in p.conversion_cpu_s
        )
    for key in first.cpu_parts:
        first.cpu_parts[key] = statistics.median(p.cpu_parts.get(key, 0.0) for p in passes)
    first.total_cpu_s = statistics.median(p.total_cpu_s for p in passes)
    first.wall_s = statistics.median(p.wall_s for p in passes)
    if first.differing:
        log(
            f"warning: {first.name} reported other detections in a later pass on "
            f"{len(first.differing)} file(s), e.g. {Path(first.differing[0]).name}"
        )
    return first


class Progress:
    def __init__(self, name: str, total: int) -> None:
        self.name, self.total, self.done = name, total, 0
        self.started = time.monotonic()

    def step(self) -> None:
        self.done += 1
        if self.done % 10 == 0 or self.done == self.total:
            elapsed = time.monotonic() - self.started
            eta = elapsed / self.done * (self.total - self.done)
            print(
                f"    {self.name}: {self.done}/{self.total} files, {elapsed:.0f} s elapsed, ~{eta:.0f} s left",
                file=sys.stderr,
                flush=True,
            )


def _run_timed(cmd: list[str], **kw) -> tuple[subprocess.CompletedProcess, float]:
    before = children_cpu_s()
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=FILE_TIMEOUT_S, **kw)
    except subprocess.TimeoutExpired:
        out = subprocess.CompletedProcess(cmd, -1, "", f"timed out after {FILE_TIMEOUT_S} s")
    except OSError as err:
        out = subprocess.CompletedProcess(cmd, -1, "", f"cannot run {cmd[0]}: {err.strerror}")
    return out, children_cpu_s() - before


def _first_line(text: str) -> str:
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    return lines[0] if lines else ""


# ---------------------------------------------------------------- icad


# icad's defaults, but MDC1200 off (EchoStream has none).
ICAD_DEFAULTS = {"detect_mdc": False}
# The knob behind icad's SNR cliff: a frame only counts as a tone when its
# peak is fe_snr_above_noise_db (6 dB by default) over the noise floor.
ICAD_GATE_OFF = {"detect_mdc": False, "detect_dtmf": False, "fe_snr_above_noise_db": 0.0}


def run_icad(files: list[str], work: Path, kwargs: dict, name: str = "icad_tone_detection") -> ToolResult:
    """All files in one Python process (compare_tones.icad_worker), with
    these tone_detect keyword arguments."""
    tool = ToolResult(name)
    tag = "".join(c if c.isalnum() else "-" for c in name)
    files_json = work / f"{tag}-files.json"
    out_json = work / f"{tag}-out.json"
    kwargs_json = work / f"{tag}-kwargs.json"
    files_json.write_text(json.dumps(files))
    kwargs_json.write_text(json.dumps(kwargs))
    out_json.unlink(missing_ok=True)
    env = dict(os.environ)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env["PYTHONPATH"] = str(Path(__file__).resolve().parent.parent) + os.pathsep + env.get("PYTHONPATH", "")
    log(f"{name}: {len(files)} files in one Python process, tone_detect(path, **{kwargs!r})")
    t0, c0 = time.monotonic(), children_cpu_s()
    proc = subprocess.run(
        [sys.executable, "-m", "compare_tones.icad_worker", str(files_json), str(out_json), str(kwargs_json)], env=env
    )
    tool.wall_s = time.monotonic() - t0
    tool.total_cpu_s = children_cpu_s() - c0
    if proc.returncode != 0 or not out_json.exists():
        tool.failed = (
            f"icad worker exited with status {proc.returncode} (its traceback is above); "
            "check that ffmpeg is installed and that `import icad_tone_detection` works in the virtualenv"
        )
        return tool
    raw = json.loads(out_json.read_text())
    tool.version = raw["version"]
    for path, entry in raw["files"].items():
        fr = FileResult(cpu_s=entry["cpu_self_s"] + entry["cpu_children_s"], error=entry["error"])
        res = entry["result"] or {}
        for hit in res.get("two_tone_result", []):
            fa, fb = hit["detected"]
            fr.alerts.append(
                {"kind": "two_tone", "start_s": float(hit["start"]), "end_s": float(hit["end"]), "a_hz": fa, "b_hz": fb}
            )
        for hit in res.get("long_result", []):
            fr.alerts.append({"kind": "long", "start_s": float(hit["start"]), "end_s": float(hit["end"]), "hz": hit["detected"]})
        for hit in res.get("hi_low_result", []):
            fr.alerts.append({"kind": "hi_low", "start_s": float(hit["start"]), "end_s": float(hit["end"]), "hz": hit["detected"]})
        for hit in res.get("pulsed_result", []):
            fr.alerts.append(
                {
                    "kind": "pulsed",
                    "start_s": float(hit["start"]),
                    "end_s": float(hit["end"]),
                    "hz": hit["detected"],
                    "on_ms": hit.get("on_ms_median"),
                    "off_ms": hit.get("off_ms_median"),
                }
            )
        for seq in res.get("dtmf_result", []):
            fr.dtmf.append((str(seq.get("digit") or ""), float(seq["start"])))
        tool.files[path] = fr
        parts = tool.cpu_parts
        parts["Python"] = parts.get("Python", 0.0) + entry["cpu_self_s"]
        parts["ffmpeg and icad_decode"] = parts.get("ffmpeg and icad_decode", 0.0) + entry["cpu_children_s"]
    return tool


# ---------------------------------------------------------------- multimon-ng


def run_multimon(files: list[str]) -> ToolResult:
    """multimon-ng reads 16-bit raw mono at 22050 Hz (its -t wav only pipes
    the file through sox to make that), so each file is converted with sox
    first, timed apart, then decoded with `multimon-ng -c -a DTMF -t raw`."""
    tool = ToolResult("multimon-ng")
    tool.version = _dpkg_version("multimon-ng")
    log(f"multimon-ng: {len(files)} files (sox to 22050 Hz raw, then DTMF)")
    progress = Progress("multimon-ng", len(files))
    t0, c0 = time.monotonic(), children_cpu_s()
    with tempfile.TemporaryDirectory(prefix="compare-tones-raw-") as tmp:
        raw = Path(tmp) / "in.raw"
        for path in files:
            fr = FileResult()
            conv, conv_cpu = _run_timed(
                ["sox", "-D", "-V1", path, "-t", "raw", "-e", "signed-integer", "-b", "16", "-c", "1", "-r", "22050", str(raw)]
            )
            tool.conversion_cpu_s[path] = conv_cpu
            if conv.returncode != 0:
                fr.error = f"sox failed: {_first_line(conv.stderr)}"
            else:
                out, cpu = _run_timed(["multimon-ng", "-c", "-a", "DTMF", "-t", "raw", str(raw)])
                fr.cpu_s = cpu
                if out.returncode != 0:
                    fr.error = f"multimon-ng exited with status {out.returncode}: {_first_line(out.stderr)}"
                for line in out.stdout.splitlines():
                    if line.startswith("DTMF: "):
                        fr.dtmf.append((line[6:].strip(), None))
            tool.files[path] = fr
            progress.step()
    tool.wall_s = time.monotonic() - t0
    tool.total_cpu_s = children_cpu_s() - c0
    return tool


def _dpkg_version(pkg: str) -> str:
    try:
        out = subprocess.run(["dpkg-query", "-W", "-f=${Version}", pkg], capture_output=True, text=True)
    except OSError:
        return "?"
    return out.stdout.strip() or "?"


# ---------------------------------------------------------------- echostream


# Bytes of file names per `echostream detect` command line: far under
# Linux's limits (ARG_MAX, 2 MiB; one argument, 128 KiB).
ARGS_BYTES_MAX = 64 * 1024


def _batches(files: list[str]) -> list[list[str]]:
    batches: list[list[str]] = []
    size = ARGS_BYTES_MAX
    for path in files:
        if size + len(path) + 1 > ARGS_BYTES_MAX:
            batches.append([])
            size = 0
        batches[-1].append(path)
        size += len(path) + 1
    return batches


def run_echostream(files: list[str], binary: Path, config: Path | None, name: str = "EchoStream", scratch: Path | None = None) -> ToolResult:
    """`echostream detect FILE... --config CONFIG` (without a config: the
    tone finder; then `scratch` is its working directory): every file in one
    process (in batches if the command line would get long), as icad runs
    every file in one Python process. Per-file CPU is what the process
    reports in each file's summary line (its CPU clock around reading,
    detecting and printing that file); the whole process's CPU, start-up
    included, comes from getrusage around it."""
    tool = ToolResult(name)
    ver = subprocess.run([str(binary), "--version"], capture_output=True, text=True)
    tool.version = ver.stdout.strip() or "?"
    batches = _batches(files)
    log(f"echostream detect: {len(files)} files in {len(batches)} process(es)")
    progress = Progress("echostream", len(files))
    t0, c0 = time.monotonic(), children_cpu_s()
    # A scratch working directory, so nothing the binary might write with a
    # relative path (events.jsonl, recordings) lands in the project.
    scratch = scratch or config.parent / "echostream-cwd"
    scratch.mkdir(exist_ok=True)
    with_config = ["--config", str(config)] if config else []
    for batch in batches:
        out, _ = _run_timed([str(binary), "detect", *batch, *with_config], cwd=scratch)
        wanted = set(batch)
        pending = FileResult()  # events of the file whose summary is next
        for n, line in enumerate(out.stdout.splitlines(), 1):
            if not line.strip():
                continue
            try:
                ev = json.loads(line)
            except json.JSONDecodeError:
                pending.error = pending.error or f"stdout line {n} is not JSON: {line[:80]!r}"
                continue
            kind = ev.get("type")
            if kind == "summary":
                path = ev.get("file")
                if path not in wanted:
                    log(f"warning: echostream detect summarized a file it was not given: {path!r}")
                    pending = FileResult()
                    continue
                pending.cpu_s = float(ev.get("cpu_s", 0.0))
                for key in ("events_dropped", "duplicates_suppressed"):
                    if isinstance(ev.get(key), int):
                        tool.counters[key] = tool.counters.get(key, 0) + ev[key]
                tool.files[path] = pending
                pending = FileResult()
                progress.step()
            else:
                _add_event(pending, ev)
        for path in batch:
            if path not in tool.files:
                why = f"exit status {out.returncode}: {_first_line(out.stderr)}" if out.returncode != 0 else "no summary line"
                tool.files[path] = FileResult(error=why)
                progress.step()
    tool.wall_s = time.monotonic() - t0
    tool.total_cpu_s = children_cpu_s() - c0
    if tool.counters.get("events_dropped"):
        log(f"warning: echostream detect dropped {tool.counters['events_dropped']} events (its summary lines say so)")
    return tool


def _add_event(fr: FileResult, ev: dict) -> None:
    """One event line of `echostream detect` into `fr`."""
    kind = ev.get("type")
    if kind == "two_tone":
        fr.alerts.append(
            {
                "kind": "two_tone",
                "start_s": float(ev["start_s"]),
                "end_s": float(ev["end_s"]),
                "a_hz": ev.get("a_hz"),
                "b_hz": ev.get("b_hz"),
                "station": ev.get("tone_id"),
                "latency_ms": ev.get("latency_ms"),
            }
        )
    elif kind in ("long_tone", "hi_low", "pulsed"):
        fr.alerts.append(
            {
                "kind": "long" if kind == "long_tone" else kind,
                "start_s": float(ev["start_s"]),
                "end_s": float(ev["end_s"]),
                "hz": ev.get("hz"),
                "a_hz": ev.get("a_hz"),
                "b_hz": ev.get("b_hz"),
                "tone_ms": ev.get("tone_ms"),
                "on_ms": ev.get("on_ms"),
                "off_ms": ev.get("off_ms"),
                "station": ev.get("tone_id"),
            }
        )
    elif kind == "dtmf":
        fr.dtmf.append((str(ev.get("digit", "")), float(ev["start_s"])))


# The product's DTMF defaults (platform-linux/src/config/defaults.rs),
# written out so the tables say what they were measured with.
ECHOSTREAM_DTMF = {"enabled": True, "twist_normal_db": 8, "twist_reverse_db": 4, "min_on_ms": 40, "min_off_ms": 40}


def echostream_config(stations: list[dict], sample_rate_hz: int, path: Path) -> dict:
    """EchoStream's JSON config for the comparison: one channel, every
    station a two-tone definition, DTMF on with the product's defaults.
    Timing matches icad_tone_detection's defaults (A >= 850 ms, B >= 2600
    ms, gap <= 350 ms); windows are +-1.2 % (testset.WINDOW_PCT)."""
    config = {
        "node_id": "compare-tones",
        "relay": "embedded",
        "audio": {"sample_rate_hz": sample_rate_hz},
        "channels": [
            {
                "id": "bench",
                "input_device": "null",
                "cor": "always",
                "dtmf": dict(ECHOSTREAM_DTMF),
            }
        ],
        "tones": [
            {
                "tone_id": st["id"],
                "tone_a_freq": st["a_hz"],
                "tone_b_freq": st["b_hz"],
                "tone_a_length_ms": 850,
                "tone_b_length_ms": 2600,
                "tone_a_range_hz": st["a_range_hz"],
                "tone_b_range_hz": st["b_range_hz"],
                "max_gap_ms": 350,
                "record_length_ms": 0,
                # Pages are >= 7 s apart start to start; one page, one alert.
                "ignore_after_ms": 5000,
                "alert_type": "fire",
                "channel": "bench",
            }
            for st in stations
        ],
    }
    path.write_text(json.dumps(config, indent=2) + "\n")
    return config


def check_config(binary: Path, config: Path) -> None:
    out = subprocess.run([str(binary), "check-config", str(config)], capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(
            f"`echostream check-config {config}` refused the generated config "
            f"(exit {out.returncode}):\n{out.stderr.strip()}\n"
            "make echostream_config() in scripts/compare_tones/peers.py write what the config now asks for"
        )
    if out.stderr.strip():
        log(f"check-config warnings:\n{out.stderr.strip()}")
