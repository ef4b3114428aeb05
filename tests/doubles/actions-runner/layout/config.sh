#!/bin/bash
# Stands in for config.sh of actions/runner v2.33x (src/Misc/layoutroot/config.sh): refuses root, snapshots the environment with env.sh, hands over to bin/Runner.Listener.
# The upstream script also checks the .NET dependencies with ldd; the stand-in is Python and has none.

if [ "$(id -u)" -eq 0 ] && [ -z "$RUNNER_ALLOW_RUNASROOT" ]; then
    echo "Must not run with sudo"
    exit 1
fi

# The root is where this script really is (a symlinked config.sh still configures its own root).
source_path="${BASH_SOURCE[0]}"
while [ -h "$source_path" ]; do
    dir="$(cd -P "$(dirname "$source_path")" && pwd)"
    source_path="$(readlink "$source_path")"
    [[ $source_path != /* ]] && source_path="$dir/$source_path"
done
DIR="$(cd -P "$(dirname "$source_path")" && pwd)"
cd "$DIR" || exit 1

source ./env.sh

shopt -s nocasematch
if [[ "$1" == "remove" ]]; then
    ./bin/Runner.Listener "$@"
else
    ./bin/Runner.Listener configure "$@"
fi
