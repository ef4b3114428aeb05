#!/usr/bin/env bash
# The README's main command: the three Avernus hosts as local systemd containers, the fake GitHub
# and the stand-in release archives on this machine, site.yml converged on them with the demo
# vault password, then the fleet report (playbooks/fleet_report.yml).
#   sandbox.sh up       bring it up (again: a second run changes nothing) and print the report
#   sandbox.sh report   the report only
#   sandbox.sh down     remove the containers, their network, the fake GitHub and its state
#   sandbox.sh test     down, up, up again, check the report (tests/sandbox), down
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
cd "$REPO_ROOT"

NETWORK=inferno-sandbox
HOSTS=(inferno-host-master inferno-host-compute-1 inferno-host-exper-1)
STATE="$OUTPUT_DIR/sandbox"
VAULT=(--vault-id sandbox@tests/bed/sandbox.vault-password)
export PATH="$VENV/bin:$PATH"
export ANSIBLE_COLLECTIONS_PATH="$OUTPUT_DIR/collections:$VENV/lib/python3.11/site-packages"
export ANSIBLE_FORCE_COLOR="${ANSIBLE_FORCE_COLOR:-0}"
# The version the ollama role installs, so the stand-in archive carries the same one.
OLLAMA_VERSION=$(sed -n 's/^ollama_version: "\(.*\)"$/\1/p' roles/ollama/defaults/main.yml)

step() { say "[$(date +%H:%M:%S)] $*"; }

fake_running() {
  [ -f "$STATE/github/fake.pid" ] && kill -0 "$(cat "$STATE/github/fake.pid")" 2>/dev/null
}

stop_fake() {
  if fake_running; then kill "$(cat "$STATE/github/fake.pid")" 2>/dev/null || true; fi
}

down() {
  local h
  for h in "${HOSTS[@]}"; do docker rm -f "$h" >/dev/null 2>&1 || true; done
  docker network rm "$NETWORK" >/dev/null 2>&1 || true
  stop_fake
  rm -rf "$STATE" "$REPO_ROOT/fleet-report"
  say "sandbox removed (containers, network, fake GitHub and its state, fleet-report/)"
}

start_hosts() {
  local image="$1" h
  docker network inspect "$NETWORK" >/dev/null 2>&1 || docker network create "$NETWORK" >/dev/null
  for h in "${HOSTS[@]}"; do
    [ "$(docker inspect -f '{{.State.Running}}' "$h" 2>/dev/null)" = "true" ] && continue
    docker rm -f "$h" >/dev/null 2>&1 || true
    # An apt archive cache per host: the three converge at once, and apt holds the cache's lock
    # while it downloads (a shared one fails with "Could not get lock /var/cache/apt/archives/lock").
    mkdir -p "${INFERNO_APT_CACHE:-/var/cache/inferno-apt}/sandbox/$h/partial"
    # Packages the Molecule scenarios already fetched into the shared cache, as hard links: apt
    # takes a .deb it finds in its archive folder instead of downloading it again.
    find "${INFERNO_APT_CACHE:-/var/cache/inferno-apt}" -maxdepth 1 -name '*.deb' \
      -exec cp -ln -t "${INFERNO_APT_CACHE:-/var/cache/inferno-apt}/sandbox/$h" {} + 2>/dev/null || true
    step "starting $h"
    # The settings of .config/molecule/config.yml, plus a TUN device for wireguard-go.
    docker run -d --pull never --name "$h" --hostname "$h" --network "$NETWORK" \
      --cap-add SYS_ADMIN --cap-add NET_ADMIN --device /dev/net/tun:/dev/net/tun \
      --sysctl net.ipv6.conf.all.disable_ipv6=0 --sysctl net.ipv6.conf.default.disable_ipv6=0 \
      --security-opt seccomp=unconfined --security-opt apparmor=unconfined \
      --cgroupns=host -v /sys/fs/cgroup:/sys/fs/cgroup:rw \
      -v "${INFERNO_APT_CACHE:-/var/cache/inferno-apt}/sandbox/$h:/var/cache/apt/archives:rw" \
      --tmpfs /run --tmpfs /run/lock --tmpfs /tmp \
      --stop-signal SIGRTMIN+3 --label inferno.sandbox=1 \
      "$image" /sbin/init >/dev/null
  done
  for h in "${HOSTS[@]}"; do
    docker exec "$h" systemctl is-system-running --wait >/dev/null 2>&1 || true
  done
}

# What stands in for what a real site gets from outside: the release archives (a "file on the
# controller" for both roles) and GitHub itself.
prepare_controller() {
  mkdir -p "$STATE/github" "$STATE/runner" "$STATE/ollama"
  if [ ! -f "$STATE/runner/checksums.json" ]; then
    step "packing the Actions runner stand-in (x64, arm64, arm)"
    bash tests/doubles/actions-runner/build-archive.sh "$STATE/runner" \
      | python3 -c 'import json, re, sys; print(json.dumps({re.sub(r"^actions-runner-linux-([a-z0-9]+)-.*$", r"\1", f.split("/")[-1]): s for s, f in (l.split() for l in sys.stdin)}))' \
      > "$STATE/runner/checksums.json"
  fi
  if [ ! -f "$STATE/ollama/$OLLAMA_VERSION/sha256sum.txt" ]; then
    step "packing the Ollama stand-in $OLLAMA_VERSION"
    bash tests/doubles/ollama/build-archive.sh "$STATE/ollama/$OLLAMA_VERSION" "$OLLAMA_VERSION" >/dev/null
  fi
  if ! fake_running; then
    local gateway pat port
    gateway=$(docker network inspect -f '{{(index .IPAM.Config 0).Gateway}}' "$NETWORK")
    pat=$(ansible-vault view "${VAULT[@]}" inventories/sandbox/group_vars/inferno/vault.yml \
      | sed -n 's/^vault_github_token: *//p')
    # The organization and runner group of inventories/avernus; the PAT of the sandbox's vault.
    printf '{"orgs": ["avernus-labs"], "runner_groups": [{"scope": "orgs/avernus-labs", "id": 2, "name": "inferno", "visibility": "all"}], "credentials": [{"name": "sandbox", "kind": "pat", "token": "%s", "grants": {"*": "admin"}}]}\n' \
      "$pat" > "$STATE/github/seed.json"
    chmod 600 "$STATE/github/seed.json"
    # The same port as before, so the runners' registrations (their URL) stay valid.
    port=$(sed -n 's|^http://[^:]*:\([0-9]*\)/api/v3$|\1|p' "$STATE/github/api_url" 2>/dev/null || true)
    rm -f "$STATE/github/fake.port"
    step "starting the fake GitHub on $gateway (state kept in $STATE/github/state.json)"
    daemonize "$STATE/github/fake.log" "$VENV/bin/python" tests/doubles/github/fake_github.py \
      --bind "$gateway" --port "${port:-0}" --port-file "$STATE/github/fake.port" --lifetime 604800 \
      --seed "$STATE/github/seed.json" --state "$STATE/github/state.json" --heartbeat-ttl 30
    echo $! > "$STATE/github/fake.pid"
    local i
    for i in $(seq 1 50); do [ -s "$STATE/github/fake.port" ] && break; sleep 0.2; done
    [ -s "$STATE/github/fake.port" ] || die "the fake GitHub did not start: $(tail -n 5 "$STATE/github/fake.log")"
    echo "http://$gateway:$(cat "$STATE/github/fake.port")/api/v3" > "$STATE/github/api_url"
  fi
}

# What a GPU host's driver would answer: the nvidia-smi stand-in replaying real captures, and
# Lynis for the report's hardening index.
prepare_hosts() {
  local h capture
  for h in "${HOSTS[@]}"; do
    case "$h" in
      inferno-host-compute-1) capture=a100-sxm4-80gb-mig ;;
      inferno-host-exper-1) capture=tesla-t4-1gpu ;;
      *) capture="" ;;
    esac
    if [ -n "$capture" ] && ! docker exec "$h" test -x /usr/local/bin/nvidia-smi; then
      step "$h: nvidia-smi stand-in answering from the $capture capture"
      docker exec "$h" mkdir -p /opt/nvidia-smi-double
      docker cp tests/doubles/nvidia-smi/nvidia_smi.py "$h:/opt/nvidia-smi-double/" >/dev/null
      docker cp "tests/doubles/nvidia-smi/captures/$capture.xml" "$h:/opt/nvidia-smi-double/" >/dev/null
      docker cp "tests/doubles/nvidia-smi/captures/$capture-L.txt" "$h:/opt/nvidia-smi-double/" >/dev/null
      docker cp "tests/doubles/nvidia-smi/captures/$capture-query.csv" "$h:/opt/nvidia-smi-double/" >/dev/null
      docker exec -i "$h" sh -c 'cat > /usr/local/bin/nvidia-smi && chmod 755 /usr/local/bin/nvidia-smi' <<EOF
#!/bin/sh
# tests/doubles/nvidia-smi: this sandbox host's nvidia-smi, replayed from the $capture capture.
export NVIDIA_SMI_DOUBLE_XML=/opt/nvidia-smi-double/$capture.xml
export NVIDIA_SMI_DOUBLE_LIST=/opt/nvidia-smi-double/$capture-L.txt
export NVIDIA_SMI_DOUBLE_CSV=/opt/nvidia-smi-double/$capture-query.csv
exec python3 /opt/nvidia-smi-double/nvidia_smi.py "\$@"
EOF
    fi
    if ! docker exec "$h" test -x /usr/sbin/lynis; then
      step "$h: installing Lynis for the report"
      docker exec "$h" sh -c 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq lynis >/dev/null' \
        || die "$h: could not install lynis"
    fi
  done
}

converge() {
  local log="$STATE/converge-$(date +%Y%m%d-%H%M%S).log" start rc
  step "converging site.yml on the sandbox (log: $log)"
  start=$(date +%s)
  # Task names as progress; the whole output goes to the log.
  set +e
  ansible-playbook -i inventories/sandbox site.yml "${VAULT[@]}" 2>&1 | tee "$log" \
    | grep --line-buffered -E '^(PLAY|TASK) \[|^fatal|^failed' | sed -u 's/ \*\+$//'
  rc=${PIPESTATUS[0]}
  set -e
  echo
  sed -n '/^PLAY RECAP/,$p' "$log"
  local changed
  changed=$(sed -n '/^PLAY RECAP/,$p' "$log" | grep -oE 'changed=[0-9]+' | awk -F= '{ n += $2 } END { print n + 0 }')
  step "site.yml: exit code $rc, ${changed:-?} changed, $(( $(date +%s) - start )) s"
  printf '{"rc": %d, "changed": %d, "seconds": %d, "log": "%s"}\n' "$rc" "${changed:-0}" "$(( $(date +%s) - start ))" "$log" \
    >> "$STATE/converges.jsonl"
  [ "$rc" -eq 0 ] || die "site.yml failed; see $log"
}

report() {
  step "fleet report (playbooks/fleet_report.yml; Lynis takes a minute)"
  ansible-playbook -i inventories/sandbox playbooks/fleet_report.yml "${VAULT[@]}" \
    -e "fleet_report_dir=$REPO_ROOT/fleet-report" > "$STATE/report.log" 2>&1 \
    || die "the fleet report failed; see $STATE/report.log"
  echo
  cat "$REPO_ROOT/fleet-report/table.txt"
  echo
  say "the same as a page: $REPO_ROOT/fleet-report/index.md"
}

up() {
  local start image
  start=$(date +%s)
  step "setting up the test bed (venv, npm tools, Docker)"
  bash tests/bed/setup.sh all
  bash tests/bed/link-collection.sh
  step "base image"
  image=$(bash tests/bed/image.sh debian12)
  mkdir -p "${INFERNO_APT_CACHE:-/var/cache/inferno-apt}"
  start_hosts "$image"
  prepare_controller
  prepare_hosts
  converge
  report
  step "sandbox up in $(( $(date +%s) - start )) s; remove it with: make sandbox-down"
}

# What `make sandbox-test` runs: a fresh sandbox, converged twice, its report checked, removed.
sandbox_test() {
  if docker ps -q --filter label=inferno.sandbox=1 2>/dev/null | grep -q .; then
    say "a sandbox is up: the test replaces it with a fresh one and removes that at the end"
  fi
  down
  up
  up
  local rc=0
  "$VENV/bin/pytest" -q -p no:cacheprovider tests/sandbox || rc=$?
  [ "$rc" -eq 0 ] && [ "${INFERNO_SANDBOX_KEEP:-0}" != 1 ] && down
  return "$rc"
}

case "${1:-up}" in
  up) up ;;
  test) sandbox_test ;;
  down) down ;;
  report) report ;;
  *) die "usage: sandbox.sh up|down|report|test" ;;
esac
