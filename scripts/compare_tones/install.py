"""Installs what the comparison needs, idempotently, and says so on
stderr: Debian packages (multimon-ng, sox, ffmpeg, espeak-ng), a Python
virtualenv under target/ with icad_tone_detection, and the echostream
release binary. Standard library only: it runs before the virtualenv."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path


class SetupError(Exception):
    """Something could not be installed; the message says what to do."""


def log(msg: str) -> None:
    print(f"==> {msg}", file=sys.stderr, flush=True)


# Debian packages: (package, why, required)
DEBIAN_PACKAGES = (
    ("multimon-ng", "the DTMF peer", True),
    ("sox", "converts the WAV files to multimon-ng's 22050 Hz raw input", True),
    ("ffmpeg", "icad_tone_detection decodes every input with it", True),
    ("espeak-ng", "synthesizes the speech for the false-alert file", False),
)

PYTHON_PACKAGES = ("numpy", "scipy", "icad_tone_detection")


def _installed(pkg: str) -> bool:
    out = subprocess.run(
        ["dpkg-query", "-W", "-f=${Status}", pkg], capture_output=True, text=True
    )
    return "install ok installed" in out.stdout


def _as_root(cmd: list[str]) -> list[str]:
    if os.geteuid() == 0:
        return cmd
    if shutil.which("sudo"):
        return ["sudo", *cmd]
    raise SetupError(f"need root to run `{' '.join(cmd)}`: run this script as root or install sudo")


def debian_packages(only: tuple[str, ...] | None = None) -> list[str]:
    """Installs the missing packages (of `only`, when given); returns notes
    on optional ones that could not be installed."""
    wanted = [d for d in DEBIAN_PACKAGES if only is None or d[0] in only]
    if not shutil.which("dpkg-query"):
        missing = [p for p, _, _ in wanted if not shutil.which(p)]
        if missing:
            raise SetupError(f"not a Debian system: install {', '.join(missing)} by hand, then run this again")
        return []
    missing = [(p, why, req) for p, why, req in wanted if not _installed(p)]
    if not missing:
        log("system packages present: " + " ".join(p for p, _, _ in wanted))
        return []
    names = [p for p, _, _ in missing]
    for p, why, _ in missing:
        log(f"installing {p} ({why})")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    up = subprocess.run(_as_root(["apt-get", "update", "-qq"]), env=env)
    if up.returncode != 0:
        raise SetupError("apt-get update failed: check the network and the apt sources, then run this again")
    inst = subprocess.run(
        _as_root(["apt-get", "install", "-y", "-qq", "--no-install-recommends", *names]),
        env=env,
        stdout=subprocess.DEVNULL,
    )
    notes = []
    if inst.returncode != 0:
        # Retry one by one so an optional package cannot sink the rest.
        for p, why, req in missing:
            one = subprocess.run(
                _as_root(["apt-get", "install", "-y", "-qq", "--no-install-recommends", p]),
                env=env,
                stdout=subprocess.DEVNULL,
            )
            if one.returncode != 0:
                if req:
                    raise SetupError(f"apt-get install {p} failed (needed for {why}): see apt's message above")
                notes.append(f"{p} could not be installed ({why}); continuing without it")
                log(f"warning: {notes[-1]}")
    return notes


def venv_python(venv: Path) -> Path:
    return venv / "bin" / "python"


def python_env(venv: Path, upgrade: bool) -> None:
    """Creates venv (if missing) and installs numpy, scipy and
    icad_tone_detection into it (if missing, or upgrade)."""
    py = venv_python(venv)
    if not py.exists():
        log(f"creating a Python virtualenv in {venv}")
        made = subprocess.run([sys.executable, "-m", "venv", str(venv)])
        if (made.returncode != 0 or not py.exists()) and shutil.which("dpkg-query"):
            # Debian's own Python keeps venv (and ensurepip) in a package.
            log("installing python3-venv (Debian splits it from Python)")
            shutil.rmtree(venv, ignore_errors=True)
            env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
            subprocess.run(_as_root(["apt-get", "update", "-qq"]), env=env)
            subprocess.run(_as_root(["apt-get", "install", "-y", "-qq", "python3-venv"]), env=env, stdout=subprocess.DEVNULL)
            made = subprocess.run([sys.executable, "-m", "venv", str(venv)])
        if made.returncode != 0 or not py.exists():
            raise SetupError(
                f"could not create a virtualenv in {venv}: install Python's venv module "
                "(Debian: python3-venv), then run this again"
            )
    probe = subprocess.run(
        [str(py), "-c", "import " + ", ".join(PYTHON_PACKAGES)], capture_output=True
    )
    if probe.returncode == 0 and not upgrade:
        log(f"python packages present in {venv}: {' '.join(PYTHON_PACKAGES)}")
        return
    verb = "upgrading" if upgrade else "installing"
    log(f"{verb} python packages into {venv} with pip: {' '.join(PYTHON_PACKAGES)}")
    cmd = [str(py), "-m", "pip", "install", "--disable-pip-version-check", "-q"]
    if upgrade:
        cmd.append("--upgrade")
    inst = subprocess.run(cmd + list(PYTHON_PACKAGES))
    if inst.returncode != 0:
        raise SetupError(
            "pip install failed: check the network (pip needs the Python package index), "
            "then run this again"
        )


def cargo() -> str:
    found = shutil.which("cargo")
    if found:
        return found
    home = Path.home() / ".cargo" / "bin" / "cargo"
    if home.exists():
        return str(home)
    raise SetupError("cargo not found: install Rust (rustup), then run this again")


def echostream_binary(root: Path) -> Path:
    """Builds the echostream release binary (cargo rebuilds only what is
    stale) and returns its path: under $CARGO_TARGET_DIR when that is set,
    as cargo puts it there, else under target/."""
    target = Path(os.environ.get("CARGO_TARGET_DIR") or root / "target")
    if not target.is_absolute():
        target = root / target
    log(f"building echostream (cargo build --release -p echostream, into {target}; a no-op when up to date)")
    built = subprocess.run([cargo(), "build", "--release", "-p", "echostream"], cwd=root)
    if built.returncode != 0:
        raise SetupError(
            "echostream detect not available: `cargo build --release -p echostream` failed "
            "(see cargo's message above); fix the build, then run this again"
        )
    return target / "release" / "echostream"


def check_detect(binary: Path) -> None:
    """Fails unless `binary detect --help` works."""
    if not binary.exists():
        raise SetupError(f"echostream detect not available: {binary} does not exist")
    try:
        out = subprocess.run([str(binary), "detect", "--help"], capture_output=True, text=True, timeout=60)
    except OSError as err:
        raise SetupError(f"echostream detect not available: cannot run {binary}: {err}") from err
    if out.returncode != 0:
        first = (out.stderr or out.stdout).strip().splitlines()
        why = first[0] if first else f"exit status {out.returncode}"
        raise SetupError(
            f"echostream detect not available: `{binary} detect --help` failed ({why}); "
            "the `detect` command is not in this build yet: run this again once it is"
        )
