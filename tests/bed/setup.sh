#!/usr/bin/env bash
# Prepares everything the tests need, reusing what an earlier run set up:
#   venv    project virtualenv with the pinned Python dependencies (tests/requirements.txt)
#   npm     project-local npm tools (tests/tools/node_modules)
#   system  host packages the integration tests drive (wireguard-go, debootstrap, qemu...)
#   docker  a Docker engine: reuse one that answers, else install docker.io and start dockerd
#   all     all of the above
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

setup_venv() {
  local req="$REPO_ROOT/tests/requirements.txt" stamp="$VENV/.inferno-requirements.sha256"
  local want
  want=$(sha256sum "$req" | cut -d' ' -f1)
  if [ -x "$VENV/bin/python" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
    say "virtualenv up to date ($VENV)"
    return 0
  fi
  local py="${PYTHON:-python3}"
  command -v "$py" >/dev/null || die "no python3 found; install Python 3.11+ (apt-get install python3 python3-venv)"
  "$py" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
    || die "Python 3.11+ is needed for ansible-core 2.19 (found $("$py" -V 2>&1)); set PYTHON=/path/to/python3.11"
  if ! "$py" -m venv --help >/dev/null 2>&1; then
    apt_ensure python3-venv
  fi
  say "creating virtualenv $VENV"
  "$py" -m venv "$VENV"
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check -r "$req" 2> >(grep -v 'is ignored: it is neither' >&2)
  echo "$want" > "$stamp"
}

setup_npm() {
  local dir="$REPO_ROOT/tests/tools"
  [ -f "$dir/package.json" ] || { say "no npm tools declared"; return 0; }
  if ! command -v npm >/dev/null; then
    apt_ensure nodejs npm
  fi
  local stamp="$dir/node_modules/.inferno-lock.sha256" want
  want=$(sha256sum "$dir/package-lock.json" | cut -d' ' -f1)
  if [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
    say "npm tools up to date"
    return 0
  fi
  say "installing npm tools into tests/tools/node_modules"
  # --ignore-scripts: no install hook of a dependency runs (Prism's would phone home).
  (cd "$dir" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null)
  echo "$want" > "$stamp"
}

setup_system() {
  if ! is_debian_like; then
    say "not Debian/Ubuntu: install debootstrap, wireguard-go, wireguard-tools, iproute2, iputils-ping, zstd yourself"
    return 0
  fi
  apt_ensure debootstrap wireguard-go wireguard-tools iproute2 iputils-ping zstd ca-certificates git rsync shellcheck
}

setup_docker() {
  if docker_ok; then
    say "Docker engine answers: reusing it"
    return 0
  fi
  is_root || die "no Docker engine answers and this is not root: start Docker (or install docker.io) and retry"
  is_debian_like || die "no Docker engine answers: install Docker for your OS and start it"
  command -v dockerd >/dev/null || apt_ensure docker.io
  command -v docker >/dev/null || apt_ensure docker.io
  mkdir -p /var/log
  say "starting dockerd (log: /var/log/inferno-dockerd.log)"
  # Its own session: the daemon must outlive this script and the test run that started it.
  daemonize /var/log/inferno-dockerd.log dockerd
  local i
  for i in $(seq 1 60); do
    docker_ok && { say "dockerd is up"; return 0; }
    sleep 1
  done
  tail -n 20 /var/log/inferno-dockerd.log >&2 || true
  die "dockerd did not answer within 60 s (see /var/log/inferno-dockerd.log)"
}

main() {
  local what="${1:-all}"
  case "$what" in
    venv) setup_venv ;;
    npm) setup_npm ;;
    system) setup_system ;;
    docker) setup_docker ;;
    all) setup_system; setup_venv; setup_npm; setup_docker ;;
    *) die "usage: setup.sh [venv|npm|system|docker|all]" ;;
  esac
}

main "$@"
