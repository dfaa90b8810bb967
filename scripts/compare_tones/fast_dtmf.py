"""The fast-DTMF test set: sequences as radio encoders (siren controllers,
paging encoders) send them, 40 ms tones with 20 ms gaps, repeated digits
included; EchoStream at its defaults and at its radio setting against the
peers. Its own files, configs and table (the subsection SUBHEADING of the
comparison's section), so that `scripts/compare-tones --only dtmf-fast`
runs it alone in seconds."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import peers, score, testset
from .peers import ToolResult

SUBHEADING = "### DTMF: fast sequences (40 ms on / 20 ms off)"
ON_S = 0.040
OFF_S = 0.020
# Between two texts: longer than any setting's off-time, so a text's first
# digit is never a repeat of the previous text's last.
BREAK_S = 0.5
# Repeated digits ("1122", "5555") are what a 20 ms gap must separate.
TEXTS = ("1122", "5555", "1234567890", "9#9#00*D", "11223344556677889900", "*0#D*0#DAABBCCDD")
ROUNDS = 3  # every text this many times per case, each with its own phases and noise
GENERATOR_VERSION = 1

# (label, low tone off %, high tone off %, low gain dB, high gain dB)
CASES = (
    ("nominal", 0.0, 0.0, 0.0, 0.0),
    ("both tones -1.5 %", -1.5, -1.5, 0.0, 0.0),
    ("both tones +1.5 %", 1.5, 1.5, 0.0, 0.0),
    ("low tone 8 dB louder", 0.0, 0.0, 0.0, -8.0),
    ("high tone 8 dB louder", 0.0, 0.0, -8.0, 0.0),
    ("-1.5 %, low tone 8 dB louder", -1.5, -1.5, 0.0, -8.0),
    ("+1.5 %, high tone 8 dB louder", 1.5, 1.5, -8.0, 0.0),
)

# EchoStream's DTMF settings: the product defaults; the radio setting for
# fast encoders (docs/raspberry-pi.md, "Audio"): 8 dB of twist either way
# and a 20 ms gap separating repeats, tones still validated over 30 ms (no
# talk-off); and fast timing, where one 25 ms window validates a digit and
# a 15 ms gap separates repeats.
RADIO_DTMF = {"enabled": True, "twist_normal_db": 8, "twist_reverse_db": 8, "min_on_ms": 40, "min_off_ms": 20}
FAST_DTMF = {**RADIO_DTMF, "min_on_ms": 20, "min_off_ms": 15}
# Fast timing with twist limits 2 dB wider: what the misses at exactly 8 dB
# of twist are (the twist measured in the noise, over the limit).
FAST_DTMF_WIDE_TWIST = {**FAST_DTMF, "twist_normal_db": 10, "twist_reverse_db": 10}
SETTINGS = (
    ("EchoStream, defaults", peers.ECHOSTREAM_DTMF),
    ("EchoStream, radio setting", RADIO_DTMF),
    ("EchoStream, fast timing", FAST_DTMF),
    ("EchoStream, fast timing, twist 10/10", FAST_DTMF_WIDE_TWIST),
)


@dataclass(frozen=True)
class Case:
    label: str
    path: str
    sent: str


def _file(rng: np.random.Generator, low_dev_pct, high_dev_pct, low_gain_db, high_gain_db) -> tuple[np.ndarray, str]:
    on = round(ON_S * testset.SAMPLE_RATE_HZ)
    off = round(OFF_S * testset.SAMPLE_RATE_HZ)
    brk = round(BREAK_S * testset.SAMPLE_RATE_HZ)
    texts = [t for _ in range(ROUNDS) for t in TEXTS]
    n = brk + sum(len(t) * (on + off) + brk for t in texts)
    noise_power = 2 * (testset.DTMF_AMPLITUDE**2 / 2) / 10.0 ** (testset.DTMF_SNR_DB / 10.0)
    x = testset.band_noise(rng, n) * np.sqrt(noise_power)
    t = np.arange(on) / testset.SAMPLE_RATE_HZ
    env = testset.ramp_envelope(on)
    a_low = testset.DTMF_AMPLITUDE * 10.0 ** (low_gain_db / 20.0)
    a_high = testset.DTMF_AMPLITUDE * 10.0 ** (high_gain_db / 20.0)
    at = brk
    for text in texts:
        for key in text:
            lo, hi = testset.dtmf_key_freqs(key)
            lo *= 1.0 + low_dev_pct / 100.0
            hi *= 1.0 + high_dev_pct / 100.0
            p_lo, p_hi = rng.uniform(0, 2 * np.pi, 2)
            x[at : at + on] += env * (a_low * np.sin(2 * np.pi * lo * t + p_lo) + a_high * np.sin(2 * np.pi * hi * t + p_hi))
            at += on + off
        at += brk
    return x, "".join(texts)


def build(root: Path, seed: int) -> list[Case]:
    """Writes the set under root/fast-dtmf-<seed>-v<version>/ (or reuses
    it): one file per case."""
    folder = root / f"fast-dtmf-{seed}-v{GENERATOR_VERSION}"
    manifest = folder / "manifest.json"
    if manifest.exists():
        cases = [Case(**c) for c in json.loads(manifest.read_text())]
        if all(Path(c.path).exists() for c in cases):
            return cases
    folder.mkdir(parents=True, exist_ok=True)
    cases = []
    for i, (label, *shape) in enumerate(CASES):
        rng = np.random.default_rng([seed, 7, i])
        x, sent = _file(rng, *shape)
        path = folder / f"dtmf-fast-{i:02d}.wav"
        testset.write_wav(path, x)
        cases.append(Case(label, str(path), sent))
    manifest.write_text(json.dumps([c.__dict__ for c in cases], indent=1))
    return cases


def echostream_config(dtmf: dict, path: Path) -> None:
    """One channel, DTMF only, with `dtmf` settings."""
    config = {
        "node_id": "compare-tones",
        "relay": "embedded",
        "audio": {"sample_rate_hz": testset.SAMPLE_RATE_HZ},
        "channels": [{"id": "bench", "input_device": "null", "cor": "always", "dtmf": dict(dtmf)}],
    }
    path.write_text(json.dumps(config, indent=2) + "\n")


def run(root: Path, seed: int, binary: Path, work: Path) -> tuple[list[Case], dict[str, ToolResult]]:
    """Every tool on the set: EchoStream at each of SETTINGS, multimon-ng
    and icad_tone_detection (its defaults)."""
    cases = build(root, seed)
    files = [c.path for c in cases]
    tools: dict[str, ToolResult] = {}
    for name, dtmf in SETTINGS:
        slug = "".join(ch if ch.isalnum() else "-" for ch in name.removeprefix("EchoStream, "))
        config = Path(files[0]).parent / f"{slug}.json"
        echostream_config(dtmf, config)
        peers.check_config(binary, config)
        tools[name] = peers.run_echostream(files, binary, config)
    tools["multimon-ng"] = peers.run_multimon(files)
    tools["icad_tone_detection"] = peers.run_icad(files, work, peers.ICAD_DEFAULTS)
    return cases, tools


def _settings_text(dtmf: dict) -> str:
    return (
        f"`min_on_ms` {dtmf['min_on_ms']}, `min_off_ms` {dtmf['min_off_ms']}, "
        f"`twist_normal_db` {dtmf['twist_normal_db']}, `twist_reverse_db` {dtmf['twist_reverse_db']}"
    )


def subsection(cases: list[Case], tools: dict[str, ToolResult], command: str) -> str:
    """The table: per case and tool, digits decoded in order (longest
    common subsequence with what was sent) and digits that were not sent."""
    per_case = len(cases[0].sent)
    repeats = sum(1 for t in TEXTS for a, b in zip(t, t[1:]) if a == b) * ROUNDS
    from .report import _wrap

    out = [
        SUBHEADING,
        "",
        f"Radio encoders' fast DTMF: 40 ms tones, 20 ms gaps, {per_case} digits per case "
        f"({', '.join(TEXTS)}, each {ROUNDS}×, {BREAK_S * 1000:.0f} ms between texts), "
        f"{repeats} of them a repeat of the digit before; noise +{testset.DTMF_SNR_DB:.0f} dB under the "
        "untwisted pair, as in the sweeps above. Cells: digits decoded in order of "
        f"{per_case} sent (\"+n\": n digits that were not sent). EchoStream runs with the product "
        f"defaults ({_settings_text(peers.ECHOSTREAM_DTMF)}), with the radio setting "
        f"({_settings_text(RADIO_DTMF)}), with fast timing ({_settings_text(FAST_DTMF)}: one 25 ms "
        "window decides a digit, at the price of some talk-off), and with fast timing's twist "
        "limits at 10 dB. At the defaults the misses are repeats counted once (a 20 ms gap is "
        "under their 30 ms decision point; the tones' 5 ms ramps make some gaps look long "
        "enough), in the twisted cases also digits over the twist limit (with the high tone 8 dB "
        "louder every digit: the reverse twist limit is 4 dB). At the radio setting and with "
        "fast timing the misses in the twisted cases are windows whose twist, measured in the "
        "noise (the weaker tone is 9 dB above it), comes out over the 8 dB limit; the radio "
        "setting needs two such windows of a 40 ms tone where fast timing needs one, so it "
        "misses more of these digits, which sit exactly at its twist limit; with 10 dB limits "
        "fast timing misses none. "
        "icad_tone_detection's DTMF needs tones of 100 ms or more (its default).",
        "",
        f"- Command: `{command}`",
        "",
    ]
    out[2] = _wrap(out[2])
    names = list(tools)
    header = ["case", *names]
    rows = []
    for c in cases:
        row = [c.label]
        for name in names:
            tool = tools[name]
            res = tool.files.get(c.path)
            if tool.failed or res is None or res.error:
                row.append("failed")
                continue
            got = score.decoded_digits(tool, c.path)
            ok = score.lcs(c.sent, got)
            extra = len(got) - ok
            row.append(f"{ok}/{len(c.sent)}" + (f" +{extra}" if extra else ""))
        rows.append(row)
    out.append("| " + " | ".join(header) + " |")
    out.append("|---" + "|---:" * len(names) + "|")
    out.extend("| " + " | ".join(r) + " |" for r in rows)
    out.append("")
    return "\n".join(out)


def replace_subsection(path: Path, heading: str, body: str) -> None:
    """Replaces the `heading` subsection of the comparison's section (up to
    the next `##`/`###` heading) with `body`, or adds it at the end of the
    section; every other byte of the file stays as it was."""
    from .report import HEADING

    lines = path.read_text().splitlines(keepends=True)
    section = next(i for i, ln in enumerate(lines) if ln.rstrip("\n") == HEADING)
    section_end = next((j for j in range(section + 1, len(lines)) if lines[j].startswith("## ")), len(lines))
    start = next((i for i in range(section, section_end) if lines[i].rstrip("\n") == heading), None)
    if start is None:
        # New: after the twist table, before the subsection that follows it.
        twist = next(i for i in range(section, section_end) if lines[i].rstrip("\n") == "### DTMF: twist")
        start = end = next((j for j in range(twist + 1, section_end) if lines[j].startswith("### ")), section_end)
    else:
        end = next(
            (j for j in range(start + 1, len(lines)) if lines[j].startswith("## ") or lines[j].startswith("### ")),
            len(lines),
        )
    block = body if body.endswith("\n") else body + "\n"
    if end < len(lines):
        block += "\n"
    new = "".join(lines[:start]) + block + "".join(lines[end:])
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(new)
    tmp.replace(path)
