"""Runs icad_tone_detection over a list of files in one Python process
and writes its raw results with per-file CPU time.

    python -m compare_tones.icad_worker FILES.json OUT.json [KWARGS.json]

FILES.json is a list of paths; KWARGS.json, tone_detect's keyword
arguments (default: ICAD_KWARGS). CPU per file = this process's CPU time
(time.process_time) plus its children's (ffmpeg, which icad decodes every
input with, and icad's own icad_decode binary for DTMF), from
resource.getrusage(RUSAGE_CHILDREN) deltas. Imports and interpreter start
are outside the per-file figures (the parent measures those too).

icad's settings (ICAD_KWARGS): its own defaults (tone_detect's keyword
defaults) for every tolerance and timing, with one change:
detect_mdc=False, because EchoStream has no MDC1200 decoder and icad's MDC
pass runs an external decoder over the whole file.
"""

from __future__ import annotations

import dataclasses
import json
import resource
import sys
import time
from importlib import metadata

ICAD_KWARGS = {"detect_mdc": False}


def _children_cpu_s() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def main() -> int:
    files_json, out_json = sys.argv[1], sys.argv[2]
    kwargs = json.loads(open(sys.argv[3]).read()) if len(sys.argv) > 3 else ICAD_KWARGS
    from icad_tone_detection import tone_detect

    files = json.loads(open(files_json).read())
    results = {}
    started = time.monotonic()
    for i, path in enumerate(files):
        self0, kids0 = time.process_time(), _children_cpu_s()
        try:
            res = tone_detect(path, **kwargs)
            entry = {"result": dataclasses.asdict(res), "error": None}
        except Exception as err:  # noqa: BLE001 - reported per file, run goes on
            entry = {"result": None, "error": f"{type(err).__name__}: {err}"}
        entry["cpu_self_s"] = time.process_time() - self0
        entry["cpu_children_s"] = _children_cpu_s() - kids0
        results[path] = entry
        if entry["error"]:
            print(f"    icad: {path}: {entry['error']}", file=sys.stderr, flush=True)
        done = i + 1
        if done % 10 == 0 or done == len(files):
            elapsed = time.monotonic() - started
            eta = elapsed / done * (len(files) - done)
            print(
                f"    icad: {done}/{len(files)} files, {elapsed:.0f} s elapsed, ~{eta:.0f} s left",
                file=sys.stderr,
                flush=True,
            )
    out = {
        "version": metadata.version("icad_tone_detection"),
        "kwargs": kwargs,
        "files": results,
    }
    with open(out_json, "w") as f:
        json.dump(out, f)
    return 0


if __name__ == "__main__":
    sys.exit(main())
