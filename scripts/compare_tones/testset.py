"""The test set: Quick Call II pages at an SNR sweep, DTMF frequency
deviation and twist sweeps, and tone-free audio (band noise, synthesized
speech), with the ground truth in a JSON manifest beside the files.

Everything is derived from one seed, so the same parameters always give
the same files; a set whose manifest matches the parameters is reused.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import wave
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

# Bump when the signals change, so an old set on disk is regenerated.
GENERATOR_VERSION = 2

SAMPLE_RATE_HZ = 8000
"""Radio audio; every tone is under 2.5 kHz. icad_tone_detection converts
any input to 16 kHz itself (ffmpeg) and multimon-ng wants 22050 Hz raw
(sox), so no peer needs a higher file rate."""

# Motorola Quick Call II, groups 1, 2, 3, 4, 5, 6, 10, 11 (80 tones).
QC2_TONES_HZ = (
    330.5, 349.0, 368.5, 389.0, 410.8, 433.7, 457.9, 483.5, 510.5, 539.0,
    569.1, 600.9, 634.5, 669.9, 707.3, 746.8, 788.5, 832.5, 879.0, 928.1,
    288.5, 296.5, 304.7, 313.0, 953.7, 979.9, 1006.9, 1034.7, 1063.2, 1092.4,
    321.7, 339.6, 358.6, 378.6, 399.8, 422.1, 445.7, 470.5, 496.8, 524.6,
    553.9, 584.8, 617.4, 651.9, 688.3, 726.8, 767.4, 810.2, 855.5, 903.2,
    1122.5, 1153.4, 1185.2, 1217.8, 1251.4, 1285.8, 1321.2, 1357.6, 1395.0, 1433.4,
    1472.9, 1513.5, 1555.2, 1598.0, 1642.0, 1687.2, 1733.7, 1781.5, 1830.5, 1881.0,
    1930.2, 1989.0, 2043.8, 2094.5, 2155.6, 2212.2, 2271.7, 2334.6, 2401.0, 2468.2,
)
assert len(set(QC2_TONES_HZ)) == 80

SNR_POINTS_DB = (20, 10, 6, 3, 0, -3, -6, -8, -9, -10, -12)
NOISE_BAND_HZ = (300.0, 3000.0)
TONE_A_S = 1.0
TONE_B_S = 3.0
RAMP_S = 0.005  # raised-cosine on/off ramps, as a real encoder has
PAGES_PER_FILE = 20
PAGE_SPACING_S = (3.0, 5.0)  # noise between pages, uniform
LEAD_S = 2.0
TAIL_S = 3.0
# A department's worth, and what one EchoStream channel listens for at most
# (32 definitions).
STATIONS = 32
# Each station's windows: ±1.2 % of the tone. The table's neighbours are
# 2.42 % apart at the closest (2043.8/2094.5 Hz), so windows never touch.
WINDOW_PCT = 1.2

DTMF_LOW_HZ = (697.0, 770.0, 852.0, 941.0)
DTMF_HIGH_HZ = (1209.0, 1336.0, 1477.0, 1633.0)
DTMF_KEYS = ("123A", "456B", "789C", "*0#D")
DTMF_ON_S = 0.150  # inside every peer's duration limits (icad: >= 100 ms)
DTMF_OFF_S = 0.150
DTMF_AMPLITUDE = 0.2  # each tone, before twist (-17 dBFS per tone)
DTMF_SNR_DB = 20.0  # both tones' power (no twist) over in-band noise
DEVIATION_STEPS_PCT = tuple(round(-4.0 + 0.5 * i, 1) for i in range(17))
TWIST_STEPS_DB = tuple(range(0, 13))

SPEECH_SNR_DB = 25.0
SPEECH_RMS = 0.1  # -20 dBFS while talking


@dataclass(frozen=True)
class Params:
    """What decides the test set; its hash names the set on disk."""

    seed: int
    pages_per_snr: int
    dtmf_rounds: int  # each of the 16 keys this many times per sweep step
    noise_s: float
    speech_s: float

    def digest(self) -> str:
        text = json.dumps({"v": GENERATOR_VERSION, **asdict(self)}, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def dtmf_key_freqs(key: str) -> tuple[float, float]:
    for row, keys in enumerate(DTMF_KEYS):
        col = keys.find(key)
        if col >= 0:
            return DTMF_LOW_HZ[row], DTMF_HIGH_HZ[col]
    raise ValueError(f"not a DTMF key: {key!r}")


def stations(seed: int) -> list[dict]:
    """STATIONS distinct A/B pairs drawn from the table (A != B)."""
    rng = np.random.default_rng([seed, 1])
    pairs: list[tuple[float, float]] = []
    while len(pairs) < STATIONS:
        a, b = rng.choice(len(QC2_TONES_HZ), size=2, replace=False)
        pair = (QC2_TONES_HZ[a], QC2_TONES_HZ[b])
        if pair not in pairs:
            pairs.append(pair)
    return [
        {
            "id": f"station-{i + 1:02d}",
            "a_hz": a,
            "b_hz": b,
            "a_range_hz": round(a * WINDOW_PCT / 100.0, 1),
            "b_range_hz": round(b * WINDOW_PCT / 100.0, 1),
        }
        for i, (a, b) in enumerate(pairs)
    ]


def band_noise(rng: np.random.Generator, n: int) -> np.ndarray:
    """White Gaussian noise limited to NOISE_BAND_HZ (brick wall in the
    frequency domain), scaled to unit power: all of it is in-band."""
    spectrum = np.fft.rfft(rng.standard_normal(n))
    freqs = np.fft.rfftfreq(n, 1.0 / SAMPLE_RATE_HZ)
    spectrum[(freqs < NOISE_BAND_HZ[0]) | (freqs > NOISE_BAND_HZ[1])] = 0.0
    noise = np.fft.irfft(spectrum, n)
    return noise / np.sqrt(np.mean(noise**2))


def ramp_envelope(n: int) -> np.ndarray:
    env = np.ones(n)
    r = min(int(RAMP_S * SAMPLE_RATE_HZ), n // 2)
    if r > 0:
        edge = 0.5 - 0.5 * np.cos(np.pi * np.arange(r) / r)
        env[:r] = edge
        env[n - r :] = edge[::-1]
    return env


def two_tone(a_hz: float, b_hz: float) -> np.ndarray:
    """A for TONE_A_S then B for TONE_B_S, no gap, phase-continuous,
    unit amplitude."""
    na = round(TONE_A_S * SAMPLE_RATE_HZ)
    nb = round(TONE_B_S * SAMPLE_RATE_HZ)
    freq = np.concatenate([np.full(na, a_hz), np.full(nb, b_hz)])
    phase = 2.0 * np.pi * np.cumsum(freq) / SAMPLE_RATE_HZ
    return np.sin(phase) * ramp_envelope(na + nb)


def write_wav(path: Path, x: np.ndarray) -> int:
    """Writes mono 16-bit PCM; returns how many samples were clipped."""
    scaled = np.round(x * 32767.0)
    clipped = int(np.count_nonzero(np.abs(scaled) > 32767))
    pcm = np.clip(scaled, -32768, 32767).astype("<i2")
    tmp = path.with_suffix(".tmp")
    with wave.open(str(tmp), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(SAMPLE_RATE_HZ)
        w.writeframes(pcm.tobytes())
    tmp.replace(path)
    return clipped


def read_wav(path: Path) -> tuple[np.ndarray, int]:
    with wave.open(str(path), "rb") as w:
        if w.getsampwidth() != 2:
            raise ValueError(f"{path}: not 16-bit PCM")
        rate = w.getframerate()
        channels = w.getnchannels()
        data = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
    x = data.astype(np.float64) / 32768.0
    if channels > 1:
        x = x.reshape(-1, channels).mean(axis=1)
    return x, rate


# ---------------------------------------------------------------- pages


def qc_file(rng: np.random.Generator, snr_db: float, schedule: list[dict]) -> tuple[np.ndarray, list[dict]]:
    """Pages at the given stations, LEAD_S of noise first, PAGE_SPACING_S
    between pages, TAIL_S after. SNR = A^2/2 over the in-band noise power."""
    page_n = round((TONE_A_S + TONE_B_S) * SAMPLE_RATE_HZ)
    starts = []
    t = round(LEAD_S * SAMPLE_RATE_HZ)
    for _ in schedule:
        starts.append(t)
        gap = rng.uniform(*PAGE_SPACING_S)
        t += page_n + round(gap * SAMPLE_RATE_HZ)
    n = starts[-1] + page_n + round(TAIL_S * SAMPLE_RATE_HZ)
    noise = band_noise(rng, n)  # unit power
    amplitude = np.sqrt(2.0 * 10.0 ** (snr_db / 10.0))
    x = noise.copy()
    pages = []
    for start, st in zip(starts, schedule):
        x[start : start + page_n] += amplitude * two_tone(st["a_hz"], st["b_hz"])
        pages.append(
            {
                "station": st["id"],
                "a_hz": st["a_hz"],
                "b_hz": st["b_hz"],
                "start_s": start / SAMPLE_RATE_HZ,
                "b_start_s": start / SAMPLE_RATE_HZ + TONE_A_S,
                "end_s": (start + page_n) / SAMPLE_RATE_HZ,
            }
        )
    # Tone peak plus four noise deviations at half scale: nothing clips.
    gain = 0.5 / (amplitude + 4.0)
    return x * gain, pages


def page_schedule(rng: np.random.Generator, station_list: list[dict], count: int) -> list[dict]:
    """Stations paged at random, never the same one twice in a row."""
    out: list[dict] = []
    for _ in range(count):
        while True:
            st = station_list[int(rng.integers(len(station_list)))]
            if not out or out[-1]["id"] != st["id"]:
                break
        out.append(st)
    return out


# ---------------------------------------------------------------- DTMF


def dtmf_sequence(rng: np.random.Generator, rounds: int) -> str:
    keys = [k for row in DTMF_KEYS for k in row] * rounds
    while True:
        order = [keys[i] for i in rng.permutation(len(keys))]
        if all(a != b for a, b in zip(order, order[1:])):
            return "".join(order)


def dtmf_file(
    rng: np.random.Generator,
    digits: str,
    low_dev_pct: float = 0.0,
    high_dev_pct: float = 0.0,
    low_gain_db: float = 0.0,
    high_gain_db: float = 0.0,
) -> tuple[np.ndarray, list[dict]]:
    on = round(DTMF_ON_S * SAMPLE_RATE_HZ)
    off = round(DTMF_OFF_S * SAMPLE_RATE_HZ)
    lead = round(1.0 * SAMPLE_RATE_HZ)
    n = lead + len(digits) * (on + off) + lead
    # Noise fixed by the untwisted pair's power, so twist only weakens a tone.
    noise_power = 2 * (DTMF_AMPLITUDE**2 / 2) / 10.0 ** (DTMF_SNR_DB / 10.0)
    x = band_noise(rng, n) * np.sqrt(noise_power)
    t = np.arange(on) / SAMPLE_RATE_HZ
    env = ramp_envelope(on)
    a_low = DTMF_AMPLITUDE * 10.0 ** (low_gain_db / 20.0)
    a_high = DTMF_AMPLITUDE * 10.0 ** (high_gain_db / 20.0)
    truth = []
    for i, key in enumerate(digits):
        lo, hi = dtmf_key_freqs(key)
        lo *= 1.0 + low_dev_pct / 100.0
        hi *= 1.0 + high_dev_pct / 100.0
        start = lead + i * (on + off)
        p_lo, p_hi = rng.uniform(0, 2 * np.pi, 2)
        x[start : start + on] += env * (
            a_low * np.sin(2 * np.pi * lo * t + p_lo) + a_high * np.sin(2 * np.pi * hi * t + p_hi)
        )
        truth.append(
            {
                "digit": key,
                "low_hz": round(lo, 2),
                "high_hz": round(hi, 2),
                "start_s": start / SAMPLE_RATE_HZ,
                "end_s": (start + on) / SAMPLE_RATE_HZ,
            }
        )
    return x, truth


# ---------------------------------------------------------------- speech

_UNITS = ("Engine", "Medic", "Ladder", "Rescue", "Squad", "Tanker", "Brush", "Battalion", "Ambulance")
_STREETS = ("Main Street", "Oak Avenue", "County Road", "Mill Road", "Highway", "Church Street", "Lake Drive")
_INCIDENTS = (
    "a structure fire", "a motor vehicle accident with injuries", "a fall victim",
    "difficulty breathing", "a fire alarm", "smoke in the building", "a brush fire",
    "chest pain", "a gas leak", "a lift assist", "an unresponsive party", "a carbon monoxide alarm",
)
_VOICES = ("en-us", "en-us+f3", "en-gb", "en-us+m3", "en-gb-scotland", "en-us+f2", "en-029", "en-us+m7")


def _sentence(rng: np.random.Generator) -> str:
    pick = lambda seq: seq[int(rng.integers(len(seq)))]  # noqa: E731
    unit = f"{pick(_UNITS)} {int(rng.integers(1, 40))}"
    addr = f"{int(rng.integers(10, 9999))} {pick(_STREETS)}"
    forms = (
        f"{unit}, respond to {addr} for {pick(_INCIDENTS)}.",
        f"{unit} is on scene, we have {pick(_INCIDENTS)}, command is established.",
        f"Dispatch, {unit}, show us en route, about {int(rng.integers(2, 15))} minutes out.",
        f"{unit} copies, cross street is {pick(_STREETS)}, time out {int(rng.integers(0, 24)):02d}{int(rng.integers(0, 60)):02d}.",
        f"Attention all units, {pick(_INCIDENTS)} reported at {addr}, caller states {int(rng.integers(1, 6))} people inside.",
        f"{unit}, you are clear to return, thank you.",
    )
    return pick(forms)


def speech(rng: np.random.Generator, seconds: float, espeak: str) -> tuple[np.ndarray, list[str]]:
    """Dispatch-style sentences from espeak-ng in several voices and
    speeds, band-limited like radio audio, with a little band noise."""
    from scipy.signal import resample_poly

    pieces: list[np.ndarray] = []
    said: list[str] = []
    total = 0
    target = round(seconds * SAMPLE_RATE_HZ)
    with tempfile.TemporaryDirectory(prefix="compare-tones-speech-") as tmp:
        wav = Path(tmp) / "s.wav"
        while total < target:
            text = _sentence(rng)
            voice = _VOICES[int(rng.integers(len(_VOICES)))]
            speed = int(rng.integers(145, 195))
            pitch = int(rng.integers(30, 70))
            subprocess.run(
                [espeak, "-v", voice, "-s", str(speed), "-p", str(pitch), "-w", str(wav), text],
                check=True,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
            x, rate = read_wav(wav)
            x = resample_poly(x, SAMPLE_RATE_HZ, rate)
            pause = np.zeros(round(rng.uniform(0.3, 1.2) * SAMPLE_RATE_HZ))
            pieces += [x, pause]
            said.append(f"[{voice} {speed} wpm] {text}")
            total += len(x) + len(pause)
    x = np.concatenate(pieces)[:target]
    spectrum = np.fft.rfft(x)
    freqs = np.fft.rfftfreq(len(x), 1.0 / SAMPLE_RATE_HZ)
    spectrum[(freqs < NOISE_BAND_HZ[0]) | (freqs > NOISE_BAND_HZ[1])] = 0.0
    x = np.fft.irfft(spectrum, len(x))
    loud = np.abs(x) > 0.01 * np.max(np.abs(x))
    x *= SPEECH_RMS / np.sqrt(np.mean(x[loud] ** 2))
    noise_rms = SPEECH_RMS / 10.0 ** (SPEECH_SNR_DB / 20.0)
    x += band_noise(rng, len(x)) * noise_rms
    return x, said


# ---------------------------------------------------------------- the set


def log(msg: str) -> None:
    print(f"==> {msg}", file=sys.stderr, flush=True)


def _remove_stale_sets(root: Path) -> None:
    """Deletes sets an older generator made (they are never reused)."""
    for old in root.glob("set-*"):
        try:
            version = json.loads((old / "manifest.json").read_text())["generator_version"]
        except (OSError, ValueError, KeyError):
            version = None
        if version != GENERATOR_VERSION:
            log(f"test set: removing {old} (made by another generator version)")
            shutil.rmtree(old, ignore_errors=True)


def build(root: Path, params: Params) -> dict:
    """Generates the set under root/<digest>/ (or reuses it) and returns
    the manifest."""
    folder = root / f"set-{params.digest()}"
    manifest_path = folder / "manifest.json"
    if manifest_path.exists():
        manifest = json.loads(manifest_path.read_text())
        if all((folder / f["path"]).exists() for f in manifest["files"]):
            log(f"test set: reusing {folder} ({len(manifest['files'])} files)")
            manifest["dir"] = str(folder)
            return manifest
    if folder.exists():
        shutil.rmtree(folder)
    _remove_stale_sets(root)
    folder.mkdir(parents=True)
    log(f"test set: generating into {folder}")

    station_list = stations(params.seed)
    files: list[dict] = []
    clipped_total = 0

    def add(name: str, x: np.ndarray, **info) -> None:
        nonlocal clipped_total
        clipped_total += write_wav(folder / name, x)
        files.append({"path": name, "duration_s": len(x) / SAMPLE_RATE_HZ, **info})

    # Two-tone pages: the same schedule at every SNR point, so the
    # points differ only in noise.
    files_per_snr = -(-params.pages_per_snr // PAGES_PER_FILE)
    sched_rng = np.random.default_rng([params.seed, 2])
    schedules = []
    left = params.pages_per_snr
    for _ in range(files_per_snr):
        schedules.append(page_schedule(sched_rng, station_list, min(PAGES_PER_FILE, left)))
        left -= PAGES_PER_FILE
    for si, snr in enumerate(SNR_POINTS_DB):
        for fi, schedule in enumerate(schedules):
            rng = np.random.default_rng([params.seed, 3, si, fi])
            x, pages = qc_file(rng, snr, schedule)
            add(f"qc-snr{snr:+03d}-{fi + 1:02d}.wav", x, kind="qc", snr_db=snr, pages=pages)
        log(f"test set: {snr:+d} dB: {params.pages_per_snr} pages in {files_per_snr} files")

    # DTMF sweeps.
    dtmf_index = 0

    def add_dtmf(name: str, sweep: str, value: float, **shape) -> None:
        nonlocal dtmf_index
        rng = np.random.default_rng([params.seed, 4, dtmf_index])
        dtmf_index += 1
        digits = dtmf_sequence(rng, params.dtmf_rounds)
        x, truth = dtmf_file(rng, digits, **shape)
        add(name, x, kind="dtmf", sweep=sweep, value=value, digits=truth)

    for dev in DEVIATION_STEPS_PCT:
        add_dtmf(f"dtmf-lowdev{dev:+.1f}.wav", "low_deviation_pct", dev, low_dev_pct=dev)
        add_dtmf(f"dtmf-highdev{dev:+.1f}.wav", "high_deviation_pct", dev, high_dev_pct=dev)
    for tw in TWIST_STEPS_DB:
        # "high_louder": the low (row) tone is tw dB under the high one.
        add_dtmf(f"dtmf-twist-high{tw:02d}.wav", "twist_high_louder_db", tw, low_gain_db=-tw)
        if tw:
            add_dtmf(f"dtmf-twist-low{tw:02d}.wav", "twist_low_louder_db", tw, high_gain_db=-tw)
    log(f"test set: DTMF: {dtmf_index} sweep files, {16 * params.dtmf_rounds} digits each")

    # Tone-free audio.
    rng = np.random.default_rng([params.seed, 5])
    x = band_noise(rng, round(params.noise_s * SAMPLE_RATE_HZ)) * 0.1
    add("none-noise.wav", x, kind="none", what="band noise")
    espeak = shutil.which("espeak-ng")
    speech_note = None
    if espeak:
        rng = np.random.default_rng([params.seed, 6])
        x, said = speech(rng, params.speech_s, espeak)
        add("none-speech.wav", x, kind="none", what="speech (espeak-ng)", sentences=len(said))
        (folder / "speech.txt").write_text("\n".join(said) + "\n")
    else:
        speech_note = "espeak-ng not found: no speech file"
        log(f"warning: {speech_note}")
    log(f"test set: tone-free: {params.noise_s:.0f} s noise" + ("" if speech_note else f", {params.speech_s:.0f} s speech"))

    manifest = {
        "generator_version": GENERATOR_VERSION,
        "params": asdict(params),
        "sample_rate_hz": SAMPLE_RATE_HZ,
        "snr_points_db": list(SNR_POINTS_DB),
        "stations": station_list,
        "clipped_samples": clipped_total,
        "speech_note": speech_note,
        "files": files,
    }
    tmp = manifest_path.with_suffix(".tmp")
    tmp.write_text(json.dumps(manifest, indent=1))
    os.replace(tmp, manifest_path)
    manifest["dir"] = str(folder)
    return manifest
