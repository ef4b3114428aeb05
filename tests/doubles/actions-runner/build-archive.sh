#!/usr/bin/env bash
# Packs the runner stand-in as actions/runner publishes its release assets (releases/download/v<ver>/):
#   actions-runner-linux-{x64,arm64,arm}-<ver>.tar.gz
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Archive layout, as upstream's (entries at the top level, no leading directory):
#   config.sh env.sh run.sh run-helper.sh.template safe_sleep.sh
#   bin/Runner.Listener (runner_listener.py with a python3 shebang, version and architecture baked
#   in as upstream bakes BuildConstants) and bin/systemd.svc.sh.template
#   externals/ (a placeholder; upstream ships the Node.js runtimes there)
# svc.sh is not in the archive: config.sh generates it, as upstream does.
#
# Reproducible: sorted entries, fixed mtime (SOURCE_DATE_EPOCH), owner 0:0, gzip without name or
# timestamp; the same inputs give the same bytes. Prints "<sha256>  <file>" per archive on stdout
# (sha256sum's format) and writes the same lines to OUTDIR/sha256sums.txt.
#
# Usage: build-archive.sh OUTDIR [VERSION]   (VERSION defaults to 2.330.0)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
out=${1:?usage: build-archive.sh OUTDIR [VERSION]}
version=${2:-2.330.0}
epoch=${SOURCE_DATE_EPOCH:-1704067200}

if ! [[ $version =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]]; then
    echo "build-archive.sh: VERSION must look like 2.330.0, got '$version'" >&2
    exit 2
fi
if ! tar --version 2>/dev/null | grep -q 'GNU tar'; then
    echo "build-archive.sh: GNU tar is required for reproducible archives" >&2
    exit 1
fi

mkdir -p "$out"
out=$(cd "$out" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
: > "$work/sums"

for arch in x64 arm64 arm; do
    stage="$work/$arch"
    mkdir -p "$stage"
    cp -R "$here/layout/." "$stage/"
    {
        echo '#!/usr/bin/env python3'
        sed -e "s/^RUNNER_VERSION = .*/RUNNER_VERSION = \"$version\"/" \
            -e "s/^RUNNER_ARCH = .*/RUNNER_ARCH = \"$arch\"/" \
            "$here/runner_listener.py"
    } > "$stage/bin/Runner.Listener"
    find "$stage" -type d -exec chmod 0755 {} +
    find "$stage" -type f -exec chmod 0644 {} +
    chmod 0755 "$stage"/*.sh "$stage/run-helper.sh.template" "$stage/bin/Runner.Listener" "$stage/bin/systemd.svc.sh.template"
    name="actions-runner-linux-$arch-$version.tar.gz"
    tar --sort=name --mtime="@$epoch" --owner=0 --group=0 --numeric-owner --format=gnu \
        -C "$stage" -cf - . | gzip -9 -n > "$out/$name"
    (cd "$out" && sha256sum "$name") >> "$work/sums"
done

cp "$work/sums" "$out/sha256sums.txt"
cat "$work/sums"
