#!/bin/bash
# Stands in for run.sh of actions/runner v2.33x (src/Misc/layoutroot/run.sh): relaunches run-helper.sh while it asks for a restart (exit 2); with RUNNER_MANUALLY_TRAP_SIG set, forwards SIGINT/SIGTERM to it and exits with its code.

source_path="${BASH_SOURCE[0]}"
while [ -h "$source_path" ]; do
    dir="$(cd -P "$(dirname "$source_path")" && pwd)"
    source_path="$(readlink "$source_path")"
    [[ $source_path != /* ]] && source_path="$dir/$source_path"
done
DIR="$(cd -P "$(dirname "$source_path")" && pwd)"

plain() {
    while :; do
        cp -f "$DIR"/run-helper.sh.template "$DIR"/run-helper.sh
        "$DIR"/run-helper.sh "$@"
        code=$?
        if [ "$code" -eq 2 ]; then
            echo "Restarting runner..."
        else
            echo "Exiting runner..."
            exit 0
        fi
    done
}

trapped() {
    # Job control puts the helper in its own process group, which gets the forwarded signal.
    set -m
    signalled=0
    forward() {
        signalled=1
        kill -INT -"$helper" 2>/dev/null
    }
    trap forward INT TERM
    while :; do
        cp -f "$DIR"/run-helper.sh.template "$DIR"/run-helper.sh
        "$DIR"/run-helper.sh "$@" &
        helper=$!
        wait "$helper"
        code=$?
        if [ "$signalled" -eq 1 ]; then
            # The first wait returned on the signal; the second one gets the helper's own code.
            wait "$helper"
            code=$?
        fi
        if [ "$code" -eq 2 ] && [ "$signalled" -eq 0 ]; then
            echo "Restarting runner..."
        else
            echo "Exiting runner..."
            trap - INT TERM
            exit "$code"
        fi
    done
}

if [ -z "$RUNNER_MANUALLY_TRAP_SIG" ]; then
    plain "$@"
else
    trapped "$@"
fi
