#!/usr/bin/env bash
# Shared helpers of the local test bed. Sourced, never run.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VENV="${INFERNO_VENV:-$REPO_ROOT/.venv}"
CACHE_DIR="${INFERNO_CACHE_DIR:-$REPO_ROOT/.cache}"
OUTPUT_DIR="$REPO_ROOT/tests/output"
export REPO_ROOT VENV CACHE_DIR OUTPUT_DIR

say() { printf '\033[1m[bed]\033[0m %s\n' "$*" >&2; }
die() { printf '[bed] ERROR: %s\n' "$*" >&2; exit 1; }

is_root() { [ "$(id -u)" -eq 0 ]; }

is_debian_like() {
  [ -r /etc/os-release ] && grep -Eq '^(ID|ID_LIKE)=.*(debian|ubuntu)' /etc/os-release
}

# Installs Debian packages that are missing; one apt-get update per process at most.
_APT_UPDATED=0
apt_ensure() {
  local missing=()
  local pkg
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
  done
  [ "${#missing[@]}" -eq 0 ] && return 0
  is_root || die "missing packages: ${missing[*]}; install them (sudo apt-get install ${missing[*]}) or run as root"
  is_debian_like || die "missing packages: ${missing[*]}; this test bed installs them only on Debian/Ubuntu"
  if [ "$_APT_UPDATED" -eq 0 ]; then
    say "apt-get update"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
    _APT_UPDATED=1
  fi
  say "installing ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# The first Debian mirror this machine's apt is configured with (deb822 or one-line format).
debian_mirror() {
  if [ -n "${INFERNO_DEBIAN_MIRROR:-}" ]; then echo "$INFERNO_DEBIAN_MIRROR"; return; fi
  local uri
  uri=$(grep -hsE '^(URIs:|deb )' /etc/apt/sources.list.d/*.sources /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null \
    | grep -vE 'security|nodesource|cloud|docker' \
    | sed -E 's/^URIs:[[:space:]]*//; s/^deb[[:space:]]+(\[[^]]*\][[:space:]]+)?//; s/[[:space:]].*$//' \
    | grep -E '/debian/?$' | head -n1)
  [ -n "$uri" ] || die "no Debian mirror found in /etc/apt/sources.list*; set INFERNO_DEBIAN_MIRROR=http://your-mirror/debian"
  echo "${uri%/}"
}

docker_ok() { docker info >/dev/null 2>&1; }

# Starts "$@" as a daemon in its own session, output to $1, and leaves its PID in $!.
# Only stdin/stdout/stderr reach it: a daemon that inherits one of the test run's pipes (the
# process substitution that tees a stage's log) holds it open, and the run waits for its end forever.
daemonize() {
  local log="$1"; shift
  (
    for fd in /proc/"$BASHPID"/fd/*; do
      fd=${fd##*/}
      [ "$fd" -gt 2 ] && eval "exec ${fd}>&-"
    done
    exec setsid nohup "$@" > "$log" 2>&1 < /dev/null
  ) &
}
