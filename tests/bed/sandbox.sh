#!/usr/bin/env bash
# The README's main command: the Avernus hosts as local systemd containers, site.yml converged
# on them, and a short report. `sandbox.sh down` removes the containers and their network.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
cd "$REPO_ROOT"

NETWORK=inferno-sandbox
HOSTS=(inferno-host-master inferno-host-compute-1 inferno-host-exper-1)

down() {
  local h
  for h in "${HOSTS[@]}"; do docker rm -f "$h" >/dev/null 2>&1 || true; done
  docker network rm "$NETWORK" >/dev/null 2>&1 || true
  say "sandbox removed"
}

up() {
  bash tests/bed/setup.sh all
  bash tests/bed/link-collection.sh
  local image
  image=$(bash tests/bed/image.sh debian12)
  mkdir -p "${INFERNO_APT_CACHE:-/var/cache/inferno-apt}"
  docker network inspect "$NETWORK" >/dev/null 2>&1 || docker network create "$NETWORK" >/dev/null
  local h
  for h in "${HOSTS[@]}"; do
    if [ "$(docker inspect -f '{{.State.Running}}' "$h" 2>/dev/null)" != "true" ]; then
      docker rm -f "$h" >/dev/null 2>&1 || true
      say "starting $h"
      docker run -d --name "$h" --hostname "$h" --network "$NETWORK" \
        --cap-add SYS_ADMIN --cap-add NET_ADMIN \
        --security-opt seccomp=unconfined --security-opt apparmor=unconfined \
        --cgroupns=host -v /sys/fs/cgroup:/sys/fs/cgroup:rw \
        -v "${INFERNO_APT_CACHE:-/var/cache/inferno-apt}:/var/cache/apt/archives:rw" \
        --tmpfs /run --tmpfs /run/lock --tmpfs /tmp \
        --stop-signal SIGRTMIN+3 --label inferno.sandbox=1 \
        "$image" /sbin/init >/dev/null
    fi
  done
  export PATH="$VENV/bin:$PATH"
  export ANSIBLE_COLLECTIONS_PATH="$OUTPUT_DIR/collections:$VENV/lib/python3.11/site-packages"
  say "converging site.yml on the sandbox (progress below)"
  ansible-playbook -i inventories/sandbox site.yml
  report
}

report() {
  echo
  printf '%-26s %-8s %-18s\n' HOST CLASS DOCKER
  local h class docker_version
  for h in "${HOSTS[@]}"; do
    class=$(ANSIBLE_COLLECTIONS_PATH="$OUTPUT_DIR/collections:$VENV/lib/python3.11/site-packages" \
      "$VENV/bin/ansible-inventory" -i inventories/sandbox --host "$h" >/dev/null 2>&1 && \
      awk -v h="$h" '/^    [a-z]+:$/ {g=$1} $1==h":" {sub(":","",g); print g}' inventories/sandbox/hosts.yml)
    docker_version=$(docker exec "$h" docker version --format '{{.Server.Version}}' 2>/dev/null || echo "-")
    printf '%-26s %-8s %-18s\n' "$h" "${class:-?}" "$docker_version"
  done
}

case "${1:-up}" in
  up) up ;;
  down) down ;;
  report) report ;;
  *) die "usage: sandbox.sh up|down|report" ;;
esac
