"""Scores every tool against the manifest's ground truth.

Two-tone, per SNR point (each page counted once):
- detected: an alert overlapping the page names the page's station;
- wrong: alerts overlap the page but name only other stations;
- missed: no alert overlapping the page names any station (an alert whose
  frequencies match no station counts here, and in `unmatched`);
- false: an alert (two-tone, long, hi-low or pulsed) overlapping no page;
- extra: further alerts on a page that already had one.

An alert overlaps a page when [start, end] meets [page start - 0.5 s,
page end + 1.5 s]. Tools that report frequencies rather than a station
(icad_tone_detection) are mapped to the nearest station: the one with the
smallest max(|fa - A|/A, |fb - B|/B), accepted within ICAD_TOLERANCE_PCT.

DTMF, per sweep step: the digits a tool reported in a file, in order,
against those sent; correct = longest common subsequence, extra =
reported - correct.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from .peers import ToolResult

# icad groups frames whose frequency stays within its matching_threshold
# (2.5 % by default); the same tolerance maps its reports to stations.
ICAD_TOLERANCE_PCT = 2.5
PAGE_SLACK_BEFORE_S = 0.5
PAGE_SLACK_AFTER_S = 1.5


def nearest_station(a_hz, b_hz, stations: list[dict], tol_pct: float) -> str | None:
    if a_hz is None or b_hz is None:
        return None
    best, best_err = None, None
    for st in stations:
        err = max(abs(a_hz - st["a_hz"]) / st["a_hz"], abs(b_hz - st["b_hz"]) / st["b_hz"])
        if best_err is None or err < best_err:
            best, best_err = st["id"], err
    return best if best_err is not None and best_err * 100.0 <= tol_pct else None


@dataclass
class PageCounts:
    pages: int = 0
    detected: int = 0
    missed: int = 0
    wrong: int = 0
    false: int = 0
    extra: int = 0
    unmatched: int = 0
    latencies_ms: list[float] = field(default_factory=list)


def _station_of(alert: dict, stations: list[dict]) -> str | None:
    if alert.get("station"):
        return alert["station"]
    return nearest_station(alert.get("a_hz"), alert.get("b_hz"), stations, ICAD_TOLERANCE_PCT)


def score_pages(tool: ToolResult, manifest: dict) -> dict[float, PageCounts]:
    stations = manifest["stations"]
    out: dict[float, PageCounts] = defaultdict(PageCounts)
    for f in manifest["files"]:
        if f["kind"] != "qc":
            continue
        res = tool.files.get(f["abspath"])
        counts = out[f["snr_db"]]
        pages = f["pages"]
        counts.pages += len(pages)
        hits: list[list[dict]] = [[] for _ in pages]
        for alert in res.alerts if res else []:
            best, best_overlap = None, 0.0
            for i, p in enumerate(pages):
                lo = max(alert["start_s"], p["start_s"] - PAGE_SLACK_BEFORE_S)
                hi = min(alert["end_s"], p["end_s"] + PAGE_SLACK_AFTER_S)
                if hi >= lo and (best is None or hi - lo > best_overlap):
                    best, best_overlap = i, hi - lo
            if best is None:
                counts.false += 1
            elif alert["kind"] == "two_tone":
                hits[best].append(alert)
        for p, alerts in zip(pages, hits):
            named = [_station_of(a, stations) for a in alerts]
            counts.unmatched += sum(1 for n in named if n is None)
            counts.extra += max(0, len(alerts) - 1)
            if p["station"] in named:
                counts.detected += 1
                lat = alerts[named.index(p["station"])].get("latency_ms")
                if lat is not None:
                    counts.latencies_ms.append(float(lat))
            elif any(n is not None for n in named):
                counts.wrong += 1
            else:
                counts.missed += 1
    return dict(out)


def close_pair_pages(tool: ToolResult, manifest: dict, snr_db: float, sep_hz: float = 40.0) -> tuple[int, int]:
    """(detected, sent) over pages whose A and B are under sep_hz apart."""
    stations = manifest["stations"]
    close = {s["id"] for s in stations if abs(s["a_hz"] - s["b_hz"]) < sep_hz}
    sent = found = 0
    for f in manifest["files"]:
        if f["kind"] != "qc" or f["snr_db"] != snr_db:
            continue
        res = tool.files.get(f["abspath"])
        for p in f["pages"]:
            if p["station"] not in close:
                continue
            sent += 1
            for a in res.alerts if res else []:
                if (
                    a["kind"] == "two_tone"
                    and a["end_s"] >= p["start_s"] - PAGE_SLACK_BEFORE_S
                    and a["start_s"] <= p["end_s"] + PAGE_SLACK_AFTER_S
                    and _station_of(a, stations) == p["station"]
                ):
                    found += 1
                    break
    return found, sent


def lcs(a: str, b: str) -> int:
    prev = [0] * (len(b) + 1)
    for ca in a:
        cur = [0]
        for j, cb in enumerate(b):
            cur.append(prev[j] + 1 if ca == cb else max(prev[j + 1], cur[j]))
        prev = cur
    return prev[-1]


@dataclass
class DigitCounts:
    sent: int = 0
    correct: int = 0
    extra: int = 0


def decoded_digits(tool: ToolResult, path: str) -> str:
    res = tool.files.get(path)
    if not res:
        return ""
    items = list(res.dtmf)
    if all(t is not None for _, t in items):
        items.sort(key=lambda it: it[1])
    return "".join(d for d, _ in items)


def score_dtmf(tool: ToolResult, manifest: dict) -> dict[tuple[str, float], DigitCounts]:
    out: dict[tuple[str, float], DigitCounts] = {}
    for f in manifest["files"]:
        if f["kind"] != "dtmf":
            continue
        sent = "".join(d["digit"] for d in f["digits"])
        got = decoded_digits(tool, f["abspath"])
        ok = lcs(sent, got)
        out[(f["sweep"], f["value"])] = DigitCounts(len(sent), ok, len(got) - ok)
    return out


def false_alerts(tool: ToolResult, manifest: dict) -> dict[str, tuple[int, int, float]]:
    """Per tone-free file and for the page files together: (tone alerts,
    DTMF digits, audio seconds). On page files only DTMF is counted here
    (their tone alerts are scored in score_pages)."""
    out: dict[str, tuple[int, int, float]] = {}
    qc_digits, qc_s = 0, 0.0
    for f in manifest["files"]:
        res = tool.files.get(f["abspath"])
        digits = len(decoded_digits(tool, f["abspath"])) if res else 0
        if f["kind"] == "none":
            out[f["what"]] = (len(res.alerts) if res else 0, digits, f["duration_s"])
        elif f["kind"] == "qc":
            qc_digits += digits
            qc_s += f["duration_s"]
    out["two-tone page files (DTMF talk-off)"] = (0, qc_digits, qc_s)
    return out


def speed(tool: ToolResult, manifest: dict, kinds: tuple[str, ...], conversion: bool = False) -> tuple[int, float, float]:
    """(files, audio seconds, CPU seconds) over the files of these kinds."""
    n, audio, cpu = 0, 0.0, 0.0
    for f in manifest["files"]:
        if f["kind"] not in kinds or f["abspath"] not in tool.files:
            continue
        n += 1
        audio += f["duration_s"]
        cpu += tool.conversion_cpu_s.get(f["abspath"], 0.0) if conversion else tool.files[f["abspath"]].cpu_s
    return n, audio, cpu
