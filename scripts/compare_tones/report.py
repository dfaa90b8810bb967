"""The BENCHMARKS.md section: tables from the scores, and replacing the
section in the file without touching any other."""

from __future__ import annotations

import statistics
import textwrap
from pathlib import Path

from . import score, testset
from .peers import ToolResult

HEADING = "## Tone detection: EchoStream vs icad_tone_detection and multimon-ng"
ICAD_GATE_OFF = "icad_tone_detection, gate 0 dB"


def _table(header: list[str], rows: list[list[str]], align: str | None = None) -> str:
    align = align or ("l" + "r" * (len(header) - 1))
    sep = ["---" if a == "l" else "---:" for a in align]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(sep) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def _rate(audio_s: float, cpu_s: float) -> str:
    return f"{audio_s / cpu_s:,.0f}" if cpu_s > 0 else "n/a"


def _short(name: str) -> str:
    return {
        "EchoStream": "EchoStream",
        "icad_tone_detection": "icad",
        ICAD_GATE_OFF: "icad, gate 0 dB",
        "multimon-ng": "multimon-ng",
    }[name]


def _plural(n: int, what: str) -> str:
    return f"{n} {what}" + ("" if n == 1 else "s")


def _snr(snr: float) -> str:
    return f"{snr:+d}" if snr else "0"


def _page_table(manifest: dict, names: list[str], scores: dict) -> str:
    header = ["SNR (dB)", "pages"]
    for t in names:
        s = _short(t)
        header += [f"{s} detected", f"{s} missed", f"{s} wrong", f"{s} false"]
    rows = []
    for snr in manifest["snr_points_db"]:
        row = [_snr(snr), str(scores[names[0]][snr].pages)]
        for t in names:
            c = scores[t][snr]
            row += [str(c.detected), str(c.missed), str(c.wrong), str(c.false)]
        rows.append(row)
    return _table(header, rows)


def section(manifest: dict, tools: dict[str, ToolResult], meta: dict) -> str:
    p = manifest["params"]
    qc = [f for f in manifest["files"] if f["kind"] == "qc"]
    dtmf = [f for f in manifest["files"] if f["kind"] == "dtmf"]
    none = [f for f in manifest["files"] if f["kind"] == "none"]
    stations = manifest["stations"]
    close = [s for s in stations if abs(s["a_hz"] - s["b_hz"]) < 40.0]
    total_audio = sum(f["duration_s"] for f in manifest["files"])
    out: list[str] = [HEADING, ""]

    out.append(
        "One generated test set (seed {seed}, mono 16-bit WAV at {rate} Hz), every tool on the same files "
        "in the same run. Two-tone: {pages} Quick Call II pages per SNR point ({nfiles} of up to "
        "{ppf} pages each, {gap0:.0f}–{gap1:.0f} s of noise between pages), A {a:.0f} s then B {b:.0f} s with no "
        "gap, {nst} stations (as many as one EchoStream channel takes; random distinct A/B pairs from the "
        "80-tone table, paged at random; {nclose} "
        "of them have A and B under 40 Hz apart). Noise: white, band-limited to {lo:.0f}–{hi:.0f} Hz; "
        "SNR = tone power (A²/2) over in-band noise power. DTMF: 150 ms on, 150 ms off, each of the 16 "
        "keys {rounds}× per sweep step in random order, noise {dsnr:+.0f} dB under the untwisted pair; "
        "one file per step. Tone-free: {noise:.0f} s of band noise and {speech} of espeak-ng speech "
        "(dispatch-style sentences, several voices, band-limited, {ssnr:.0f} dB SNR). {total:,.0f} s "
        "of audio in all. The files are 8 kHz because every tone is under 2.5 kHz and no peer needs "
        "more: icad_tone_detection converts any input to 16 kHz with ffmpeg itself, and multimon-ng "
        "needs 22050 Hz raw whatever the file rate.".format(
            seed=p["seed"],
            rate=manifest["sample_rate_hz"],
            pages=p["pages_per_snr"],
            nfiles=_plural(-(-p["pages_per_snr"] // testset.PAGES_PER_FILE), "file"),
            ppf=testset.PAGES_PER_FILE,
            gap0=testset.PAGE_SPACING_S[0],
            gap1=testset.PAGE_SPACING_S[1],
            a=testset.TONE_A_S,
            b=testset.TONE_B_S,
            nst=len(stations),
            nclose=len(close),
            lo=testset.NOISE_BAND_HZ[0],
            hi=testset.NOISE_BAND_HZ[1],
            rounds=p["dtmf_rounds"],
            dsnr=testset.DTMF_SNR_DB,
            noise=p["noise_s"],
            speech=f"{p['speech_s']:.0f} s" if not manifest.get("speech_note") else "no (espeak-ng missing)",
            ssnr=testset.SPEECH_SNR_DB,
            total=total_audio,
        )
    )
    out.append("")
    out.append("How each tool is run:")
    out.append("")
    out.append(
        "- **EchoStream**: `echostream detect FILE.wav... --config compare-tones.json`, every file in "
        "one process (as icad), each file with a fresh detector; its per-file CPU is what the process "
        "reports for each file (CLOCK_PROCESS_CPUTIME_ID around reading the file, detecting and "
        "printing its events). The config (written by the script, checked with `echostream check-config`) has one "
        "definition per station, windows ±1.2 % of each tone (under half the 2.42 % closest "
        "spacing of the table), timing matched to icad's defaults (A ≥ 850 ms, B ≥ 2600 ms, gap ≤ "
        "350 ms), `ignore_after_ms` 5000, and DTMF on with the product defaults (the low tone may be up "
        "to 8 dB louder than the high one, `twist_normal_db`; the high tone up to 4 dB louder, "
        "`twist_reverse_db`; ≥ 40 ms on and off)."
    )
    out.append(
        "- **icad_tone_detection**: `tone_detect(path, detect_mdc=False)` for every file in one Python "
        "process: its own defaults for every tolerance and timing (A ≥ 0.85 s, B ≥ 2.6 s, gap ≤ 0.35 s, "
        "2.5 % frame grouping, A and B at least 40 Hz apart, DTMF ≥ 100 ms); MDC1200 off because "
        "EchoStream has none. It reports frequencies, not stations: each two-tone hit is mapped to the "
        f"nearest station within {score.ICAD_TOLERANCE_PCT} % (its grouping tolerance) on both tones. "
        "Its CPU includes the ffmpeg decode and the icad_decode (DTMF) child it runs for every file."
    )
    out.append(
        "- **multimon-ng**: DTMF only. It reads 16-bit raw at 22050 Hz (`-t wav` merely pipes the file "
        "through sox), so each file is converted with `sox -D IN.wav -t raw -e signed-integer -b 16 -c 1 "
        "-r 22050 OUT.raw` (timed apart) and decoded with `multimon-ng -c -a DTMF -t raw OUT.raw`."
    )
    out.append("")
    out.append(f"- Command: `{meta['command']}`")
    out.append(f"- Date: {meta['date']}")
    out.append(f"- Machine: `nproc` = {meta['nproc']}, CPU \"{meta['cpu']}\" (`/proc/cpuinfo` model name), {meta['kernel']}")
    out.append("- Versions: " + "; ".join(meta["versions"]))
    out.append("")

    # --- two-tone
    two_tone_tools = [t for t in ("EchoStream", "icad_tone_detection") if t in tools]
    scores = {t: score.score_pages(tools[t], manifest) for t in two_tone_tools}
    out.append("### Two-tone pages by SNR")
    out.append("")
    out.append(
        "Per tool: pages detected (the right station), missed, wrong station, and false alerts "
        "(any alert outside every page) in the page files."
    )
    out.append("")
    out.append(_page_table(manifest, two_tone_tools, scores))
    out.append("")
    notes = []
    top = max(manifest["snr_points_db"])
    for t in two_tone_tools:
        extra = sum(c.extra for c in scores[t].values())
        unmatched = sum(c.unmatched for c in scores[t].values())
        found, sent = score.close_pair_pages(tools[t], manifest, top)
        bits = [f"at {top:+d} dB it found {found} of the {sent} pages to the {len(close)} stations whose A and B are under 40 Hz apart"]
        if extra:
            bits.append(f"{extra} extra alerts on pages already alerted")
        if unmatched:
            bits.append(f"{unmatched} two-tone hits matched no station (counted as missed)")
        for key, what in (("duplicates_suppressed", "repeats suppressed by `ignore_after_ms` (all files)"), ("events_dropped", "events dropped (all files)")):
            if key in tools[t].counters:
                bits.append(f"{tools[t].counters[key]} {what}")
        lat = [x for c in scores[t].values() for x in c.latencies_ms]
        if lat:
            lat.sort()
            bits.append(
                "reported alert latency median {:.0f} ms, 95th percentile {:.0f} ms, max {:.0f} ms".format(
                    statistics.median(lat), lat[min(len(lat) - 1, int(0.95 * len(lat)))], lat[-1]
                )
            )
        notes.append(f"- {_short(t)}: " + "; ".join(bits) + ".")
    out += notes
    out.append("")
    if ICAD_GATE_OFF in tools:
        gate = {ICAD_GATE_OFF: score.score_pages(tools[ICAD_GATE_OFF], manifest)}
        found, sent = score.close_pair_pages(tools[ICAD_GATE_OFF], manifest, top)
        out.append(
            "icad's SNR limit is its frame gate: a frame counts as a tone only when its spectral peak "
            "is `fe_snr_above_noise_db` (6 dB by default) over the file's noise floor, and one gated "
            "frame splits B under its 2.6 s minimum. The same pages with that one knob at 0 "
            "(`tone_detect(path, detect_mdc=False, detect_dtmf=False, fe_snr_above_noise_db=0.0)`, "
            "not its default; tone-free results in the next tables):"
        )
        out.append("")
        out.append(_page_table(manifest, [ICAD_GATE_OFF], gate))
        out.append("")

    # --- DTMF
    dtmf_tools = [t for t in ("multimon-ng", "icad_tone_detection", "EchoStream") if t in tools]
    dscores = {t: score.score_dtmf(tools[t], manifest) for t in dtmf_tools}

    def cell(t: str, key: tuple[str, float]) -> str:
        c = dscores[t].get(key)
        if c is None:
            return "—"
        return f"{c.correct}/{c.sent}" + (f" +{c.extra}" if c.extra else "")

    per_step = 16 * p["dtmf_rounds"]
    out.append("### DTMF: frequency deviation")
    out.append("")
    out.append(
        f"Digits decoded correctly of {per_step} sent per step (\"+n\": n further digits that were not "
        "sent); one tone off by the step, the other on frequency, no twist. The product spec: accept "
        "±1.5 %, reject ±3.5 %."
    )
    out.append("")
    header = ["deviation"] + [f"low tone off: {_short(t)}" for t in dtmf_tools] + [f"high tone off: {_short(t)}" for t in dtmf_tools]
    rows = []
    for dev in testset.DEVIATION_STEPS_PCT:
        row = [f"{dev:+.1f} %"]
        row += [cell(t, ("low_deviation_pct", dev)) for t in dtmf_tools]
        row += [cell(t, ("high_deviation_pct", dev)) for t in dtmf_tools]
        rows.append(row)
    out.append(_table(header, rows))
    out.append("")
    out.append("### DTMF: twist")
    out.append("")
    out.append(
        f"Digits decoded correctly of {per_step} sent per step; the weaker tone is the step under the "
        "stronger one (which stays at −17 dBFS), noise fixed. EchoStream runs with its defaults: "
        "low tone louder by up to 8 dB (normal twist), high tone louder by up to 4 dB (reverse twist)."
    )
    out.append("")
    header = ["twist (dB)"] + [f"high tone louder: {_short(t)}" for t in dtmf_tools] + [f"low tone louder: {_short(t)}" for t in dtmf_tools]
    rows = []
    for tw in testset.TWIST_STEPS_DB:
        row = [str(tw)]
        row += [cell(t, ("twist_high_louder_db", tw)) for t in dtmf_tools]
        row += [cell(t, ("twist_low_louder_db", tw)) if tw else cell(t, ("twist_high_louder_db", tw)) for t in dtmf_tools]
        rows.append(row)
    out.append(_table(header, rows))
    out.append("")

    # --- false alerts
    out.append("### False alerts on tone-free audio")
    out.append("")
    out.append("Tone alerts (two-tone, long, hi-low, pulsed) and DTMF digits reported where none was sent.")
    out.append("")
    fa = {t: score.false_alerts(tools[t], manifest) for t in tools}
    order = [t for t in ("EchoStream", "icad_tone_detection", ICAD_GATE_OFF, "multimon-ng") if t in tools]
    keys = [f["what"] for f in none] + ["two-tone page files (DTMF talk-off)"]
    header = ["audio"]
    for t in order:
        header += [f"{_short(t)} tone alerts", f"{_short(t)} DTMF digits"]
    rows = []
    for k in keys:
        secs = next(iter(fa.values()))[k][2] if fa else 0.0
        row = [f"{k} ({secs:,.0f} s)"]
        for t in order:
            alerts, digits, _ = fa[t].get(k, (0, 0, 0.0))
            tone_cell = "—" if t == "multimon-ng" or k.startswith("two-tone page") else str(alerts)
            digit_cell = "—" if t == ICAD_GATE_OFF else str(digits)
            row += [tone_cell, digit_cell]
        rows.append(row)
    out.append(_table(header, rows))
    out.append("")

    # --- speed
    out.append("### Speed")
    out.append("")
    out.append(
        "Audio seconds processed per CPU second (user + system), file generation excluded. Per-file "
        "CPU summed: for EchoStream and icad, which run every file in one process, as each measures "
        "it around each file from inside; for multimon-ng and sox, `getrusage(RUSAGE_CHILDREN)` deltas "
        "around their per-file processes. The \"all, with start-up\" column is the whole runs' CPU "
        "from `getrusage(RUSAGE_CHILDREN)`, so it also counts process start (for icad: the "
        "interpreter and its imports; for EchoStream: the binary and its config, once per batch of "
        "files)."
        + (
            f" Each tool made {meta['passes']} passes over every file, interleaved (EchoStream, icad, "
            "multimon-ng, then again), and every CPU figure is the median over them, per file; the "
            "detections above are the first pass's. icad with its gate off ran once."
            if meta.get("passes", 1) > 1
            else ""
        )
    )
    out.append("")
    header = ["tool", "page files", "DTMF files", "tone-free files", "all files", "all, with start-up", "CPU s (all)"]
    rows = []
    all_kinds = ("qc", "dtmf", "none")
    labels = {"multimon-ng": " (DTMF only)", ICAD_GATE_OFF: " (no DTMF; page and tone-free files only)"}
    for t in ("EchoStream", "icad_tone_detection", ICAD_GATE_OFF, "multimon-ng"):
        if t not in tools:
            continue
        tool = tools[t]
        row = [_short(t) + labels.get(t, "")]
        for kinds in (("qc",), ("dtmf",), ("none",), all_kinds):
            n, audio, cpu = score.speed(tool, manifest, kinds)
            partial = t == ICAD_GATE_OFF and kinds == all_kinds
            row.append(_rate(audio, cpu) if n and not partial else "—")
        _, audio, cpu = score.speed(tool, manifest, all_kinds)
        _, _, conv_cpu = score.speed(tool, manifest, all_kinds, conversion=True)
        if t == ICAD_GATE_OFF:
            row += ["—", f"{cpu:.1f} (its files)"]
        else:
            row += [_rate(audio, tool.total_cpu_s - conv_cpu), f"{cpu:.1f}"]
        rows.append(row)
        if t == "multimon-ng":
            conv = ["sox → 22050 Hz raw (for multimon-ng)"]
            for kinds in (("qc",), ("dtmf",), ("none",), all_kinds):
                _, audio, ccpu = score.speed(tool, manifest, kinds, conversion=True)
                conv.append(_rate(audio, ccpu))
            _, audio, ccpu = score.speed(tool, manifest, all_kinds, conversion=True)
            conv += ["", f"{ccpu:.1f}"]
            rows.append(conv)
    out.append(_table(header, rows))
    out.append("")
    if "EchoStream" in tools and "icad_tone_detection" in tools:
        _, a1, c1 = score.speed(tools["EchoStream"], manifest, all_kinds)
        _, a2, c2 = score.speed(tools["icad_tone_detection"], manifest, all_kinds)
        if c1 > 0 and c2 > 0:
            out.append(
                f"EchoStream processes {(a1 / c1) / (a2 / c2):.1f}× the audio per CPU second that "
                "icad_tone_detection does on the same files (all files, per-file CPU)."
            )
            out.append("")
    spread = [
        f"{_short(t)} " + " / ".join(f"{c:.2f}" for c in tools[t].pass_cpu_s)
        for t in ("EchoStream", "icad_tone_detection", "multimon-ng")
        if t in tools and len(tools[t].pass_cpu_s) > 1
    ]
    if spread:
        out.append(
            "Per-file CPU summed, each pass in turn (s): " + "; ".join(spread) + ". How far a tool's "
            "passes differ is how much the machine's speed wandered during the run (on a shared "
            "virtual machine, 20 % between runs minutes apart is common): the ratios above are as "
            "steady as these totals, and the per-kind columns, over fewer files, less so."
        )
        out.append("")
    differing = [f"{_short(t)} on {len(tool.differing)} file(s)" for t, tool in tools.items() if tool.differing]
    if differing:
        out.append("Later passes reported other detections than the first: " + "; ".join(differing) + ".")
        out.append("")
    icad = tools.get("icad_tone_detection")
    if icad and icad.cpu_parts:
        parts = ", ".join(f"{k} {v:.1f} s" for k, v in icad.cpu_parts.items())
        out.append(f"icad's per-file CPU: {parts} (ffmpeg decodes and resamples every input to 16 kHz).")
        out.append("")
    return "\n".join(_wrap(block) for block in out).rstrip() + "\n"


def _wrap(block: str) -> str:
    """Prose wrapped at 76 columns like the rest of BENCHMARKS.md; tables
    and headings as they are."""
    if not block or block.startswith(("|", "#")):
        return block
    indent = "  " if block.startswith("- ") else ""
    return textwrap.fill(block, width=76, subsequent_indent=indent, break_long_words=False, break_on_hyphens=False)


def replace_section(path: Path, body: str, heading: str = HEADING, after: str | None = None) -> None:
    """Replaces the `heading` section (up to the next `## ` heading) or
    adds it: right after the `after` section when there is one, else at
    the end; every other byte of the file stays as it was."""
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    lines = text.splitlines(keepends=True)
    start = next((i for i, ln in enumerate(lines) if ln.rstrip("\n") == heading), None)
    prev = next((i for i, ln in enumerate(lines) if after and ln.rstrip("\n") == after), None)
    if start is None and prev is not None:
        end = next((j for j in range(prev + 1, len(lines)) if lines[j].startswith("## ")), len(lines))
        head = "".join(lines[:end])
        head = head if head.endswith("\n\n") else head.rstrip("\n") + "\n\n"
        tail = "".join(lines[end:])
        new = head + body + ("\n" + tail if tail else "")
    elif start is None:
        new = text if text.endswith("\n") else text + "\n"
        new += "\n" + body
    else:
        end = next((j for j in range(start + 1, len(lines)) if lines[j].startswith("## ")), len(lines))
        tail = "".join(lines[end:])
        new = "".join(lines[:start]) + body + ("\n" + tail if tail else "")
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(new)
    tmp.replace(path)
