# Shared helpers for epurse scripts (sourced, not run).
# shellcheck shell=bash

EPURSE_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export EPURSE_ROOT

say()  { printf '\033[1;34m==>\033[0m %s\n' "$*"; }
warn() { printf '\033[1;33mwarning:\033[0m %s\n' "$*" >&2; }
die()  { printf '\033[1;31merror:\033[0m %s\n' "$*" >&2; exit 1; }

have() { command -v "$1" >/dev/null 2>&1; }

APT_UPDATED=0
apt_install() {
    # Install Debian packages that are missing; needs root (CI and the dev machines are root).
    local missing=()
    for pkg in "$@"; do
        dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    have apt-get || die "apt-get not found; install by hand: ${missing[*]}"
    [ "$(id -u)" -eq 0 ] || die "need root to install ${missing[*]} (run: sudo apt-get install ${missing[*]})"
    if [ "$APT_UPDATED" -eq 0 ]; then
        say "apt-get update"
        apt-get update -qq || die "apt-get update failed; check the network or the Debian mirror"
        APT_UPDATED=1
    fi
    say "apt-get install ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null \
        || die "apt-get install ${missing[*]} failed"
}

pip_install() {
    # pip_install MODULE PACKAGE: install PACKAGE when python cannot import MODULE.
    python3 -c "import $1" >/dev/null 2>&1 && return 0
    say "pip install $2"
    python3 -m pip install -q "$2" || die "pip install $2 failed"
}
