# Shared by the set-up scripts: installs what EchoStream needs on Debian.
# Sourced, not run.

# Debian packages the build and the tests need, one place for all of them.
#   libasound2-dev pkg-config  ALSA for the audio threads (alsa-sys)
#   cmake                      builds the bundled libopus (opusic-sys)
#   build-essential            the C compiler for the -sys crates
#   espeak-ng                  synthesizes the speech the tone detectors must ignore
#   opus-tools                 opusinfo/opusdec check the Ogg Opus recordings the tests write
DEBIAN_PACKAGES=(build-essential pkg-config cmake libasound2-dev espeak-ng opus-tools)

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# Installs the Debian packages that are missing; skips apt entirely when
# none is, so a second run is fast and works offline.
install_debian_packages() {
    local missing=()
    for pkg in "$@"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
    done
    if [ ${#missing[@]} -eq 0 ]; then
        log "system packages present: $*"
        return 0
    fi
    command -v apt-get >/dev/null || die "apt-get not found: install ${missing[*]} by hand, then run this again"
    log "installing system packages: ${missing[*]}"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq \
        || die "apt-get update failed: check the network and the apt sources, then run this again"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
        || die "apt-get install ${missing[*]} failed: see apt's message above"
}

require_cargo() {
    if ! command -v cargo >/dev/null; then
        [ -x "$HOME/.cargo/bin/cargo" ] && export PATH="$HOME/.cargo/bin:$PATH"
    fi
    command -v cargo >/dev/null \
        || die "cargo not found: install Rust 1.88 or newer (rustup, or Debian's cargo), then run this again"
}
