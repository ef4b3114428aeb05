#!/usr/bin/env bash
# The test command behind `make test` / `make fast`: runs each stage, times it, keeps going after
# a failure so one run shows every problem, prints a summary and exits non-zero if any stage failed.
#   run-tests.sh all|fast|lint|sanity|unit|integration|molecule|build
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
source "$(dirname "${BASH_SOURCE[0]}")/stages.sh"
set +e
cd "$REPO_ROOT"
export PATH="$VENV/bin:$PATH"
export ANSIBLE_COLLECTIONS_PATH="$OUTPUT_DIR/collections:$VENV/lib/python3.11/site-packages"
export INFERNO_APT_CACHE="${INFERNO_APT_CACHE:-/var/cache/inferno-apt}"
export PYTHONDONTWRITEBYTECODE=1
mkdir -p "$OUTPUT_DIR/logs"

do_setup() {
  bash tests/bed/setup.sh all && bash tests/bed/link-collection.sh
}

do_images() {
  local image
  image=$(bash tests/bed/image.sh debian12) || return 1
  export INFERNO_IMAGE_DEBIAN12="$image"
  # The github_runner scenario converges an arm64 host (qemu-user) to check it gets the arm64 archive.
  image=$(bash tests/bed/image.sh debian12 arm64) || return 1
  export INFERNO_IMAGE_DEBIAN12_ARM64="$image"
  mkdir -p "$INFERNO_APT_CACHE"
}

do_lint() {
  ansible-lint --profile production --offline --nocolor
}

do_sanity() {
  local tree="$OUTPUT_DIR/sanity-tree" pip_version cache
  # ansible-test bootstraps pip in its venvs with a script from a host we cannot reach.
  pip_version=$(grep -Eo "pip='[0-9.]+'" "$VENV"/lib/python3.11/site-packages/ansible_test/_internal/python_requirements.py | head -n1 | grep -Eo '[0-9.]+')
  cache="$HOME/.ansible/test/cache/get_pip_${pip_version//./_}.py"
  mkdir -p "$(dirname "$cache")"
  cmp -s tests/bed/get_pip_offline.py "$cache" || cp tests/bed/get_pip_offline.py "$cache"
  rm -rf "$tree"
  mkdir -p "$tree/ansible_collections/inferno"
  # ansible-test wants the collection at ansible_collections/<ns>/<name>, as files git knows.
  git ls-files -z --cached --others --exclude-standard \
    | rsync -a --from0 --files-from=- ./ "$tree/ansible_collections/inferno/runners/"
  # Test doubles and the bed are not collection content; ansible-test refuses excludes that match nothing.
  local excludes=() path
  for path in tests/doubles/ tests/bed/ molecule/; do
    [ -e "$tree/ansible_collections/inferno/runners/$path" ] && excludes+=(--exclude "$path")
  done
  (cd "$tree/ansible_collections/inferno/runners" \
    && git init -q && git add -A >/dev/null \
    && ansible-test sanity --python 3.11 --requirements --color no "${excludes[@]}" 2>&1 \
    | grep -v 'is ignored: it is neither' )
  return "${PIPESTATUS[0]}"
}

pytest_run() {
  local dir="$1"
  [ -d "$dir" ] || { echo "no tests in $dir yet"; return 0; }
  pytest "$@"
  local rc=$?
  # 5 = nothing collected: a stage with no tests yet is not a failure of the stage.
  [ "$rc" -eq 5 ] && return 0
  return "$rc"
}

do_unit() {
  pytest_run tests/unit -q -p no:cacheprovider
}

do_integration() {
  pytest_run tests/integration -q -p no:cacheprovider -m integration
}

# What made a scenario fail, not the destroy that follows it: failed tasks and test errors first.
molecule_failure() {
  local log="$1"
  echo "-- failed tasks and test errors in $log --"
  # Molecule colours and frames its output ("  │ "): strip both before looking.
  sed -e 's/\x1b\[[0-9;]*m//g' -e 's/^  │ //' "$log" \
    | grep -n -E -A8 '^(fatal|failed): |^E  |^FAILED |^CRITICAL' | head -n 45
  echo "-- end of $log --"
  tail -n 15 "$log"
}
export -f molecule_failure

do_molecule() {
  local scenario rc=0
  for scenario in ${SCENARIOS:-$(ls molecule/*/molecule.yml 2>/dev/null | cut -d/ -f2)}; do
    stage "molecule:$scenario" bash -c "molecule test -s '$scenario' > '$OUTPUT_DIR/logs/molecule-$scenario.log' 2>&1 \
      || { molecule_failure '$OUTPUT_DIR/logs/molecule-$scenario.log'; exit 1; }" || rc=1
  done
  return "$rc"
}

# The sandbox end to end (tests/bed/sandbox.sh test): site.yml on the three Avernus containers,
# converged twice (the second changes nothing), the fleet report checked by tests/sandbox, removed.
do_sandbox() {
  bash tests/bed/sandbox.sh test
}

do_build() {
  local dist="$OUTPUT_DIR/dist" installed="$OUTPUT_DIR/installed"
  rm -rf "$dist" "$installed"
  ansible-galaxy collection build --output-path "$dist" --force . || return 1
  ANSIBLE_COLLECTIONS_PATH="$installed" ansible-galaxy collection install --force --offline --no-deps \
    -p "$installed" "$dist"/inferno-runners-*.tar.gz || return 1
  local listing
  listing=$(ANSIBLE_COLLECTIONS_PATH="$installed:$VENV/lib/python3.11/site-packages" ansible-doc -l inferno.runners) || return 1
  echo "$listing"
  [ -n "$listing" ] || { echo "ansible-doc -l listed no module of the installed collection"; return 1; }
}

what="${1:-all}"
case "$what" in
  all)
    stage setup do_setup || { summary; exit 1; }
    stage images do_images || { summary; exit 1; }
    lane_start sandbox do_sandbox
    stage lint do_lint
    stage sanity do_sanity
    stage unit do_unit
    stage integration do_integration
    do_molecule
    lane_join sandbox
    stage build do_build
    ;;
  fast)
    stage setup bash -c 'bash tests/bed/setup.sh venv && bash tests/bed/setup.sh system && bash tests/bed/link-collection.sh' \
      || { summary; exit 1; }
    stage lint do_lint
    stage sanity do_sanity
    stage unit do_unit
    ;;
  lint|sanity|unit|integration|build)
    stage setup bash -c 'bash tests/bed/setup.sh all && bash tests/bed/link-collection.sh' || { summary; exit 1; }
    stage "$what" "do_$what"
    ;;
  molecule)
    stage setup do_setup || { summary; exit 1; }
    stage images do_images || { summary; exit 1; }
    do_molecule
    ;;
  *) die "usage: run-tests.sh all|fast|lint|sanity|unit|integration|molecule|build" ;;
esac
summary
