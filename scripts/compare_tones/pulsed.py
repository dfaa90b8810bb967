"""The pulsed and discovery sets: pulsed single-tone alerts at several
cadences and SNRs, hi-low warbles, two-tone pages and the main set's
tone-free audio; EchoStream with pulsed definitions, EchoStream's tone
finder (no config) and icad_tone_detection (which finds pulsed tones and
warbles without being told) on the same files; and their BENCHMARKS.md
section.

Generated from the same seed as the main set; the tone-free files are the
main set's (same generator, same seeds), so the false-report counts here
are on the same speech and noise.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import statistics
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from . import testset
from .peers import ToolResult

GENERATOR_VERSION = 1
HEADING = "## Tone detection: pulsed alerts and the tone finder, EchoStream vs icad_tone_detection"

SAMPLE_RATE_HZ = testset.SAMPLE_RATE_HZ
SNR_POINTS_DB = (20, 10, 6, 3, 0, -3, -6, -10)
# (on ms, off ms, Hz or None for one drawn from the seed): the recording's
# 1010.6 Hz 0.3/0.2 s first, then faster and slower ones inside icad's
# defaults (on 120-900 ms, off 25-350 ms).
CADENCES = ((300, 200, 1010.6), (200, 200, None), (500, 300, None), (700, 350, None))
PULSES = 8
BURSTS_PER_FILE = 6
# The recording's warbles: ~950/1270 Hz with 0.2 s steps, ~807/1506 Hz
# with 0.25 s steps; each sent WARBLE_S long.
WARBLES = ((950.0, 1270.0, 200), (807.0, 1506.0, 250))
WARBLE_S = 4.0
WARBLES_PER_FILE = 6
PAGES_PER_FILE = 6
SPACING_S = (3.0, 5.0)
LEAD_S = 2.0
TAIL_S = 3.0
# A report matches a sent tone within this (icad's grouping tolerance).
MATCH_PCT = 2.5
SLACK_BEFORE_S = 0.5
SLACK_AFTER_S = 1.5

ES_DEFS = "EchoStream, pulsed definitions"
ES_FINDER = "EchoStream, tone finder"
ICAD = "icad_tone_detection"


@dataclass(frozen=True)
class Params:
    seed: int
    noise_s: float
    speech_s: float

    def digest(self) -> str:
        text = json.dumps({"v": GENERATOR_VERSION, "main": testset.GENERATOR_VERSION, **asdict(self)}, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def cadences(seed: int) -> list[dict]:
    """The pulsed alerts: each cadence with its tone."""
    rng = np.random.default_rng([seed, 20])
    out = []
    for i, (on_ms, off_ms, hz) in enumerate(CADENCES):
        if hz is None:
            hz = round(float(rng.uniform(400.0, 2400.0)), 1)
        out.append({"id": f"pulsed-{i + 1}", "hz": hz, "on_ms": on_ms, "off_ms": off_ms})
    return out


def _tone(freqs: np.ndarray) -> np.ndarray:
    """Phase-continuous sine through per-sample frequencies."""
    return np.sin(2.0 * np.pi * np.cumsum(freqs) / SAMPLE_RATE_HZ)


def _burst(hz: float, on_ms: int, off_ms: int) -> np.ndarray:
    on = round(on_ms * SAMPLE_RATE_HZ / 1000)
    off = round(off_ms * SAMPLE_RATE_HZ / 1000)
    pulse = _tone(np.full(on, hz)) * testset.ramp_envelope(on)
    return np.concatenate([np.concatenate([pulse, np.zeros(off)]) for _ in range(PULSES)])


def _warble(a: float, b: float, step_ms: int) -> np.ndarray:
    step = round(step_ms * SAMPLE_RATE_HZ / 1000)
    steps = round(WARBLE_S * 1000 / step_ms)
    freqs = np.concatenate([np.full(step, a if i % 2 == 0 else b) for i in range(steps)])
    return _tone(freqs) * testset.ramp_envelope(len(freqs))


def _file(rng: np.random.Generator, snr_db: float, patterns: list[tuple[np.ndarray, dict]]) -> tuple[np.ndarray, list[dict]]:
    """Patterns one after another in band noise; SNR = amplitude^2/2 over
    the in-band noise power, as the main set."""
    starts = []
    t = round(LEAD_S * SAMPLE_RATE_HZ)
    for x, _ in patterns:
        starts.append(t)
        t += len(x) + round(rng.uniform(*SPACING_S) * SAMPLE_RATE_HZ)
    n = starts[-1] + len(patterns[-1][0]) + round(TAIL_S * SAMPLE_RATE_HZ)
    amplitude = np.sqrt(2.0 * 10.0 ** (snr_db / 10.0))
    out = testset.band_noise(rng, n)
    truth = []
    for start, (x, info) in zip(starts, patterns):
        out[start : start + len(x)] += amplitude * x
        truth.append({**info, "start_s": start / SAMPLE_RATE_HZ, "end_s": (start + len(x)) / SAMPLE_RATE_HZ})
    return out * (0.5 / (amplitude + 4.0)), truth


def build(root: Path, params: Params) -> dict:
    folder = root / f"pulsed-{params.digest()}"
    manifest_path = folder / "manifest.json"
    if manifest_path.exists():
        manifest = json.loads(manifest_path.read_text())
        if all((folder / f["path"]).exists() for f in manifest["files"]):
            testset.log(f"pulsed set: reusing {folder} ({len(manifest['files'])} files)")
            manifest["dir"] = str(folder)
            return manifest
    shutil.rmtree(folder, ignore_errors=True)
    for old in root.glob("pulsed-*"):
        shutil.rmtree(old, ignore_errors=True)
    folder.mkdir(parents=True)
    testset.log(f"pulsed set: generating into {folder}")
    alerts = cadences(params.seed)
    stations = testset.stations(params.seed)
    files: list[dict] = []

    def add(name: str, x: np.ndarray, **info) -> None:
        testset.write_wav(folder / name, x)
        files.append({"path": name, "duration_s": len(x) / SAMPLE_RATE_HZ, **info})

    for si, snr in enumerate(SNR_POINTS_DB):
        for ci, c in enumerate(alerts):
            rng = np.random.default_rng([params.seed, 21, si, ci])
            burst = _burst(c["hz"], c["on_ms"], c["off_ms"])
            x, truth = _file(rng, snr, [(burst, {"alert": c["id"], "hz": c["hz"]}) for _ in range(BURSTS_PER_FILE)])
            add(f"pulsed-{c['id']}-snr{snr:+03d}.wav", x, kind="pulsed", snr_db=snr, alert=c["id"], patterns=truth)
        rng = np.random.default_rng([params.seed, 22, si])
        warbles = [(_warble(a, b, step), {"a_hz": a, "b_hz": b, "step_ms": step}) for a, b, step in WARBLES]
        x, truth = _file(rng, snr, [warbles[i % len(warbles)] for i in range(WARBLES_PER_FILE)])
        add(f"warble-snr{snr:+03d}.wav", x, kind="warble", snr_db=snr, patterns=truth)
        rng = np.random.default_rng([params.seed, 23, si])
        schedule = testset.page_schedule(rng, stations, PAGES_PER_FILE)
        pages = [(testset.two_tone(st["a_hz"], st["b_hz"]), {"a_hz": st["a_hz"], "b_hz": st["b_hz"]}) for st in schedule]
        x, truth = _file(rng, snr, pages)
        add(f"pages-snr{snr:+03d}.wav", x, kind="pages", snr_db=snr, patterns=truth)
    testset.log(f"pulsed set: {len(SNR_POINTS_DB)} SNR points, {len(alerts)} cadences, warbles and pages")

    # The main set's tone-free audio, made the same way from the same seeds.
    rng = np.random.default_rng([params.seed, 5])
    add("none-noise.wav", testset.band_noise(rng, round(params.noise_s * SAMPLE_RATE_HZ)) * 0.1, kind="none", what="band noise")
    espeak = shutil.which("espeak-ng")
    if espeak:
        rng = np.random.default_rng([params.seed, 6])
        x, _ = testset.speech(rng, params.speech_s, espeak)
        add("none-speech.wav", x, kind="none", what="speech (espeak-ng)")
    else:
        testset.log("warning: espeak-ng not found: no speech file in the pulsed set")

    manifest = {
        "generator_version": GENERATOR_VERSION,
        "params": asdict(params),
        "sample_rate_hz": SAMPLE_RATE_HZ,
        "alerts": alerts,
        "files": files,
    }
    tmp = manifest_path.with_suffix(".tmp")
    tmp.write_text(json.dumps(manifest, indent=1))
    os.replace(tmp, manifest_path)
    manifest["dir"] = str(folder)
    return manifest


def echostream_config(alerts: list[dict], path: Path) -> None:
    """One channel, one pulsed definition per alert: its tone ±1 %, its
    cadence with the product's default tolerance (±50 ms), 6 pulses (as
    icad's default 6 cycles), repeats ignored for 2 s (bursts are 3 s or
    more apart)."""
    config = {
        "node_id": "compare-tones",
        "relay": "embedded",
        "audio": {"sample_rate_hz": SAMPLE_RATE_HZ},
        "channels": [{"id": "bench", "input_device": "null", "cor": "always"}],
        "pulsed": [
            {
                "tone_id": a["id"],
                "freq_hz": a["hz"],
                "range_hz": round(a["hz"] * 0.01, 1),
                "on_ms": a["on_ms"],
                "off_ms": a["off_ms"],
                "min_pulses": 6,
                "ignore_after_ms": 2000,
                "record_length_ms": 0,
                "channel": "bench",
            }
            for a in alerts
        ],
    }
    path.write_text(json.dumps(config, indent=2) + "\n")


# ---------------------------------------------------------------- scoring


def _close(x, want: float) -> bool:
    return x is not None and abs(float(x) - want) <= want * MATCH_PCT / 100.0


def _overlaps(alert: dict, p: dict) -> bool:
    return alert["end_s"] >= p["start_s"] - SLACK_BEFORE_S and alert["start_s"] <= p["end_s"] + SLACK_AFTER_S


def _hi_low_hz(alert: dict) -> tuple[float | None, float | None]:
    if isinstance(alert.get("hz"), list):
        a, b = alert["hz"]
        return float(a), float(b)
    return alert.get("a_hz"), alert.get("b_hz")


def _matches(alert: dict, p: dict, kind: str) -> bool:
    if alert["kind"] != kind or not _overlaps(alert, p):
        return False
    if kind == "pulsed":
        return _close(alert.get("hz"), p["hz"])
    a, b = _hi_low_hz(alert)
    if a is None or b is None:
        return False
    lo, hi = sorted((float(a), float(b)))
    want_lo, want_hi = sorted((p["a_hz"], p["b_hz"]))
    return _close(lo, want_lo) and _close(hi, want_hi)


@dataclass
class Found:
    sent: int = 0
    found: int = 0
    on_err_ms: list[float] | None = None
    off_err_ms: list[float] | None = None
    step_err_ms: list[float] | None = None


def found(tool: ToolResult, manifest: dict, kind: str, pattern: str) -> dict:
    """Per (SNR, alert id or 'warble'): sent and found patterns of `kind`
    ('pulsed' in the pulsed files, 'hi_low' in the warble files), and
    the reported cadence's errors."""
    out: dict = {}
    alerts = {a["id"]: a for a in manifest["alerts"]}
    for f in manifest["files"]:
        if f["kind"] != pattern:
            continue
        key = (f["snr_db"], f.get("alert", "warble"))
        c = out.setdefault(key, Found(on_err_ms=[], off_err_ms=[], step_err_ms=[]))
        res = tool.files.get(f["abspath"])
        for p in f["patterns"]:
            c.sent += 1
            hit = next((a for a in (res.alerts if res else []) if _matches(a, p, kind)), None)
            if hit is None:
                continue
            c.found += 1
            if kind == "pulsed":
                a = alerts[f["alert"]]
                if hit.get("on_ms") is not None:
                    c.on_err_ms.append(abs(hit["on_ms"] - a["on_ms"]))
                    c.off_err_ms.append(abs(hit["off_ms"] - a["off_ms"]))
            elif hit.get("tone_ms") is not None:
                c.step_err_ms.append(abs(hit["tone_ms"] - p["step_ms"]))
    return out


def stray(tool: ToolResult, manifest: dict, kinds: tuple[str, ...]) -> dict[str, int]:
    """Reports of `kinds` that match nothing sent, per file kind: in the
    pulsed files (beside the bursts), warble files, page files and each
    tone-free file."""
    out: dict[str, int] = {}
    for f in manifest["files"]:
        res = tool.files.get(f["abspath"])
        label = f["what"] if f["kind"] == "none" else f"{f['kind']} files"
        n = out.setdefault(label, 0)
        for a in res.alerts if res else []:
            if a["kind"] not in kinds:
                continue
            wanted = {"pulsed": "pulsed", "warble": "hi_low"}.get(f["kind"])
            if a["kind"] == wanted and any(_overlaps(a, p) for p in f.get("patterns", [])):
                continue  # a (perhaps second or mis-measured) report of a sent pattern
            n += 1
        out[label] = n
    return out


# ---------------------------------------------------------------- report


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|---|" + "---:|" * (len(header) - 1)]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows])


def _median(xs) -> str:
    return f"{statistics.median(xs):.0f}" if xs else "—"


def section(manifest: dict, tools: dict[str, ToolResult], meta: dict) -> str:
    from .report import _wrap

    p = manifest["params"]
    alerts = manifest["alerts"]
    total = sum(f["duration_s"] for f in manifest["files"])
    out = [HEADING, ""]
    out.append(
        f"A second generated set (seed {p['seed']}, {SAMPLE_RATE_HZ} Hz mono 16-bit WAV, {total:,.0f} s): "
        f"pulsed single-tone alerts, {PULSES} pulses a burst, {BURSTS_PER_FILE} bursts a file 3–5 s apart, "
        "one file per cadence and SNR point; hi-low warbles ("
        + ", ".join(f"{a:.0f}/{b:.0f} Hz with {s} ms steps" for a, b, s in WARBLES)
        + f", {WARBLE_S:.0f} s each, {WARBLES_PER_FILE} a file); {PAGES_PER_FILE} Quick Call II pages a file "
        "(which no finder should take for a warble or a pulsed tone); and the main set's tone-free band "
        f"noise ({p['noise_s']:.0f} s) and espeak-ng speech ({p['speech_s']:.0f} s). Noise and SNR as in the main set "
        "(band-limited 300–3000 Hz, tone power over in-band noise power); 5 ms ramps on every pulse."
    )
    out.append("")
    out.append(
        "- **EchoStream, pulsed definitions**: `echostream detect FILE.wav... --config compare-tones-pulsed.json`, "
        "one `pulsed` definition per cadence (its tone ±1 %, its `on_ms`/`off_ms` with the default ±50 ms, "
        "`min_pulses` 6)."
    )
    out.append(
        "- **EchoStream, tone finder**: `echostream detect FILE.wav...` with no config: the finder "
        "reports pairs, long tones, hi-low warbles (six alternating tones of 128 ms to 1 s) and pulsed tones "
        "(six pulses in a steady cadence, pulses and pauses of 128 ms to 1 s)."
    )
    out.append(
        "- **icad_tone_detection**: `tone_detect(path, detect_mdc=False)`, its defaults: pulsed tones of at "
        "least 6 on/off cycles (on 120–900 ms, off 25–350 ms, one centre frequency per file), warbles of 6 "
        "alternations. A report counts when its kind is right, it overlaps the pattern, and its frequencies are "
        f"within {MATCH_PCT} % of those sent."
    )
    out.append("")
    out.append(f"- Command: `{meta['command']}`")
    out.append(f"- Date: {meta['date']}")
    out.append(f"- Machine: `nproc` = {meta['nproc']}, CPU \"{meta['cpu']}\", {meta['kernel']}")
    out.append("- Versions: " + "; ".join(meta["versions"]))
    out.append("")

    names = [n for n in (ES_DEFS, ES_FINDER, ICAD) if n in tools]
    short = {ES_DEFS: "ES def.", ES_FINDER: "ES finder", ICAD: "icad"}
    pulsed = {n: found(tools[n], manifest, "pulsed", "pulsed") for n in names}
    out.append("### Pulsed alerts by SNR and cadence")
    out.append("")
    out.append(f"Bursts found of {BURSTS_PER_FILE} sent per cell, by SNR (dB).")
    out.append("")
    header = ["alert", "tool"] + [f"{snr:+d}" if snr else "0" for snr in SNR_POINTS_DB]
    rows = []
    for a in alerts:
        for n in names:
            row = [f"{a['hz']:g} Hz, {a['on_ms']}/{a['off_ms']} ms", short[n]]
            for snr in SNR_POINTS_DB:
                c = pulsed[n].get((snr, a["id"]))
                row.append(f"{c.found}/{c.sent}" if c else "—")
            rows.append(row)
    out.append(_table(header, rows).replace("|---|---:|", "|---|---|", 1))
    out.append("")
    notes = []
    for n in names:
        on = [x for c in pulsed[n].values() for x in c.on_err_ms]
        off = [x for c in pulsed[n].values() for x in c.off_err_ms]
        if on:
            notes.append(
                f"- {short[n]}: reported pulse length off by a median {_median(on)} ms (max {max(on):.0f}), "
                f"pause length by {_median(off)} ms (max {max(off):.0f})."
            )
    out += notes
    out.append("")

    out.append("### Hi-low warbles found without a definition")
    out.append("")
    out.append(f"Warbles found of {WARBLES_PER_FILE} sent per SNR point (both tones within {MATCH_PCT} %).")
    out.append("")
    finders = [n for n in (ES_FINDER, ICAD) if n in tools]
    warble = {n: found(tools[n], manifest, "hi_low", "warble") for n in finders}
    rows = []
    for snr in SNR_POINTS_DB:
        row = [f"{snr:+d}" if snr else "0"]
        for n in finders:
            c = warble[n].get((snr, "warble"))
            row.append(f"{c.found}/{c.sent}" if c else "—")
        rows.append(row)
    out.append(_table(["SNR (dB)"] + [short[n] for n in finders], rows))
    out.append("")
    steps = [x for c in warble.get(ES_FINDER, {}).values() for x in c.step_err_ms]
    if steps:
        out.append(f"EchoStream's reported step (`tone_ms`) is off by a median {_median(steps)} ms (max {max(steps):.0f}).")
        out.append("")

    out.append("### Stray hi-low and pulsed reports")
    out.append("")
    out.append(
        "Hi-low and pulsed reports that match nothing sent, per kind of file (in the pulsed and warble "
        "files: beside every sent pattern; all SNR points together). For the finder, all its reports on "
        "the tone-free files are counted too (pairs and long tones as well)."
    )
    out.append("")
    strays = {n: stray(tools[n], manifest, ("hi_low", "pulsed")) for n in names}
    everything = stray(tools[ES_FINDER], manifest, ("two_tone", "long", "hi_low", "pulsed")) if ES_FINDER in tools else {}
    labels = list(next(iter(strays.values())).keys()) if strays else []
    header = ["files"] + [short[n] for n in names] + (["ES finder, every kind"] if everything else [])
    rows = []
    for label in labels:
        secs = sum(f["duration_s"] for f in manifest["files"] if (f["what"] if f["kind"] == "none" else f"{f['kind']} files") == label)
        row = [f"{label} ({secs:,.0f} s)"] + [str(strays[n].get(label, 0)) for n in names]
        if everything:
            row.append(str(everything.get(label, 0)) if label in (f["what"] for f in manifest["files"] if f["kind"] == "none") else "—")
        rows.append(row)
    out.append(_table(header, rows))
    out.append("")

    out.append("### Speed on this set")
    out.append("")
    if meta.get("passes", 1) > 1:
        out.append(
            f"Each tool made {meta['passes']} passes over every file, interleaved; the detections above are "
            "the first pass's (later passes must match for EchoStream), the CPU per file the median over "
            "the passes, summed."
        )
        out.append("")
    rows = []
    for n in names:
        audio = sum(f["duration_s"] for f in manifest["files"] if f["abspath"] in tools[n].files)
        cpu = sum(fr.cpu_s for fr in tools[n].files.values())
        rows.append([n, f"{audio / cpu:,.0f}" if cpu > 0 else "n/a", f"{cpu:.1f}"])
    out.append(_table(["tool", "audio s per CPU s (per-file CPU)", "CPU s"], rows))
    out.append("")
    return "\n".join(_wrap(b) for b in out).rstrip() + "\n"
