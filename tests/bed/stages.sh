#!/usr/bin/env bash
# The stage machinery of run-tests.sh (sourced, after common.sh): stage runs one timed stage with
# its output on the console and in tests/output/logs; lane_start / lane_join run one in the
# background beside the stages that follow; summary prints the table and returns non-zero when
# a stage failed. Stages keep going after a failure, so one run shows every problem.

declare -a SUMMARY=()
declare -a FAILED_LOGS=()
FAILED=0

run_stage_command() { "$@"; }

# A stage's line in the summary: name, ok or FAILED, seconds from its start to its end (now if
# not given).
record_stage() {
  local name="$1" rc="$2" start="$3" log="$4" end="${5:-$(date +%s.%N)}" secs
  secs=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.1f", b - a }')
  if [ "$rc" -eq 0 ]; then
    SUMMARY+=("$(printf '%-28s %-6s %8ss' "$name" ok "$secs")")
  else
    SUMMARY+=("$(printf '%-28s %-6s %8ss' "$name" FAILED "$secs")")
    FAILED_LOGS+=("$name|$log")
    FAILED=1
  fi
}

stage() {
  local name="$1"; shift
  local start rc
  say "── $name ──"
  local log="$OUTPUT_DIR/logs/stage-${name//[^a-zA-Z0-9_.-]/_}.log"
  start=$(date +%s.%N)
  # Process substitution, not a pipe: a stage function may export variables for the next stages.
  # Through a function: bash sets $! to tee's pid only when the redirected command is a function or
  # a builtin; after an external command $! would still name an earlier job, a background stage's.
  local before="${!:-}"
  run_stage_command "$@" > >(tee "$log") 2>&1
  rc=$?
  # Let tee finish writing before the log is read. tee ends when the last writer closes the pipe;
  # should something the stage left running still hold it, stop waiting after 10 s rather than never.
  local tee_pid="${!:-}"
  if [ -n "$tee_pid" ] && [ "$tee_pid" != "$before" ]; then
    for _ in $(seq 1 100); do kill -0 "$tee_pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$tee_pid" 2>/dev/null; then
      echo "[bed] $name left a process holding its output open; its log may stop early" >&2
      kill "$tee_pid" 2>/dev/null
    fi
    wait "$tee_pid" 2>/dev/null || true
  fi
  record_stage "$name" "$rc" "$start" "$log"
  return "$rc"
}

# A stage that runs in the background beside the ones that follow: the sandbox spends most of
# its twelve minutes waiting on containers, so the Molecule scenarios use the CPU meanwhile. Its
# output goes to its log only; lane_join prints the end of it and adds its line to the summary.
declare -A LANE_PID=() LANE_START=()
lane_start() {
  local name="$1"; shift
  local log="$OUTPUT_DIR/logs/stage-${name//[^a-zA-Z0-9_.-]/_}.log"
  say "── $name (in the background beside the stages below; log: $log) ──"
  LANE_START[$name]=$(date +%s.%N)
  # Its own end time: lane_join comes only after the stages beside it.
  rm -f "$log.end"
  ( "$@"; rc=$?; date +%s.%N > "$log.end"; exit "$rc" ) > "$log" 2>&1 < /dev/null &
  LANE_PID[$name]=$!
}

lane_join() {
  local name="$1" rc
  local log="$OUTPUT_DIR/logs/stage-${name//[^a-zA-Z0-9_.-]/_}.log"
  say "── $name (waiting for the background stage) ──"
  wait "${LANE_PID[$name]}"
  rc=$?
  tail -n 40 "$log"
  record_stage "$name" "$rc" "${LANE_START[$name]}" "$log" "$(cat "$log.end" 2>/dev/null || date +%s.%N)"
  rm -f "$log.end"
}

summary() {
  # CI shows the end of the output: repeat why each failed stage failed right above the table.
  local entry
  for entry in "${FAILED_LOGS[@]}"; do
    echo
    echo "════ ${entry%%|*} failed: last lines of ${entry#*|} ════"
    tail -n 60 "${entry#*|}"
  done
  echo
  echo "════ inferno.runners test summary ════"
  printf '%s\n' "${SUMMARY[@]}"
  if [ "$FAILED" -eq 0 ]; then echo "RESULT: all stages passed"; else echo "RESULT: FAILED"; fi
  return "$FAILED"
}
