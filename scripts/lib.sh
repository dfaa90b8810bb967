# Shared by the set-up scripts: installs what EchoStream needs on Debian.
# Sourced, not run.

# Debian packages the build and the tests need, one place for all of them.
#   libasound2-dev pkg-config  ALSA for the audio threads (alsa-sys)
#   cmake                      builds the bundled libopus (opusic-sys)
#   build-essential            the C compiler for the -sys crates
#   espeak-ng                  synthesizes the speech the tone detectors must ignore
#   opus-tools                 opusinfo/opusdec check the Ogg Opus recordings the tests write
#   libssl-dev                 OpenSSL for HTTPS to S3 stores and webhooks (attohttpc's native TLS)
DEBIAN_PACKAGES=(build-essential pkg-config cmake libasound2-dev espeak-ng opus-tools libssl-dev)

# What only the tests need, beside DEBIAN_PACKAGES.
#   mosquitto                  the MQTT broker the event tests publish to (started per test)
#   systemd                    systemd-analyze verify checks the package's unit
#   chromium                   renders the node's status page in the status endpoint test
TEST_DEBIAN_PACKAGES=(mosquitto systemd chromium)

# What scripts/package needs beside a build (the arm64 package also needs
# AARCH64_DEBIAN_PACKAGES below).
#   dpkg-dev                   dpkg-shlibdeps (the Depends line), dpkg-parsechangelog
#   binutils                   strip and readelf for the amd64 binaries
PACKAGE_DEBIAN_PACKAGES=(dpkg-dev binutils)

# The S3-compatible server the upload tests use: it checks SigV4 header
# and presigned-URL signatures (0.15 and later need a newer Rust).
S3S_FS_VERSION=0.14.1

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

# Installs s3s-fs $S3S_FS_VERSION with cargo unless that version is
# already on PATH or in ~/.cargo/bin (the tests look in both).
install_s3s_fs() {
    local bin
    for bin in "$(command -v s3s-fs || true)" "$HOME/.cargo/bin/s3s-fs"; do
        if [ -n "$bin" ] && [ -x "$bin" ] && "$bin" --version 2>/dev/null | grep -q " $S3S_FS_VERSION\$"; then
            log "s3s-fs $S3S_FS_VERSION present: $bin"
            return 0
        fi
    done
    log "installing s3s-fs $S3S_FS_VERSION (the S3 test server; a few minutes, once)"
    cargo install s3s-fs --version "$S3S_FS_VERSION" --features binary --locked --quiet \
        || die "cargo install s3s-fs failed: see cargo's message above"
}

require_cargo() {
    if ! command -v cargo >/dev/null; then
        [ -x "$HOME/.cargo/bin/cargo" ] && export PATH="$HOME/.cargo/bin:$PATH"
    fi
    command -v cargo >/dev/null \
        || die "cargo not found: install Rust 1.88 or newer (rustup, or Debian's cargo), then run this again"
}

# The Raspberry Pi's target: a cross compiler, the arm64 ALSA library
# and OpenSSL libraries (multiarch) and qemu to run what was built. libopus is built from the
# bundled source by opusic-sys with cmake and the cross compiler.
AARCH64_TARGET=aarch64-unknown-linux-gnu
AARCH64_DEBIAN_PACKAGES=(gcc-aarch64-linux-gnu libc6-dev-arm64-cross libasound2-dev:arm64 libssl-dev:arm64 qemu-user-static)

install_aarch64_toolchain() {
    if ! dpkg --print-foreign-architectures | grep -qx arm64; then
        log "adding the arm64 architecture to dpkg (for libasound2-dev:arm64)"
        as_root dpkg --add-architecture arm64
        # The new architecture's package lists are needed before the install.
        as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq \
            || die "apt-get update failed: check the network and the apt sources, then run this again"
    fi
    install_debian_packages "${AARCH64_DEBIAN_PACKAGES[@]}"
    if ! rustup target list --installed 2>/dev/null | grep -qx "$AARCH64_TARGET"; then
        log "adding the Rust target $AARCH64_TARGET"
        rustup target add "$AARCH64_TARGET" \
            || die "rustup target add $AARCH64_TARGET failed: see rustup's message above"
    fi
}

# Exports what cargo, the cc crate, cmake and pkg-config need to build for
# the Pi, and how cargo runs the test binaries it built (under qemu).
#
# What was built runs on the arm64 libraries of the multiarch packages
# (libc6:arm64 comes with libasound2:arm64), so qemu takes its loader and
# libraries from / : the loader and libc.so.6 are then from one build.
# The cross sysroot /usr/aarch64-linux-gnu is for linking only. As qemu's
# prefix it mixed two builds of glibc 2.36: its loader, and the multiarch
# libc.so.6 that qemu fell through to (the sysroot keeps libc in lib/,
# not lib/aarch64-linux-gnu/), and the first pthread_create spun forever.
aarch64_env() {
    export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc
    export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER="qemu-aarch64-static -L /"
    export CC_aarch64_unknown_linux_gnu=aarch64-linux-gnu-gcc
    export CXX_aarch64_unknown_linux_gnu=aarch64-linux-gnu-g++
    export AR_aarch64_unknown_linux_gnu=aarch64-linux-gnu-ar
    export PKG_CONFIG_ALLOW_CROSS=1
    export PKG_CONFIG_SYSROOT_DIR=/
    export PKG_CONFIG_LIBDIR=/usr/lib/aarch64-linux-gnu/pkgconfig:/usr/share/pkgconfig
    export QEMU_LD_PREFIX=/
}
