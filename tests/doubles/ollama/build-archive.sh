#!/usr/bin/env bash
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Package the Ollama stand-in the way upstream publishes ollama (release assets of ollama/ollama,
# unpacked by scripts/install.sh under /usr/local):
#
#   ollama-linux-{amd64,arm64}.tgz        older releases
#   ollama-linux-{amd64,arm64}.tar.zst    current releases
#   sha256sum.txt                         "<sha256>  <file name>" per asset
#
# Each archive holds ./bin/ollama (ollama.py with a python3 shebang) and ./lib/ollama/.
# Upstream's lib/ollama carries the inference libraries (libggml-base.so, the libggml-cpu-*.so variants, and cuda_v12/ and cuda_v13/ with
# libggml-cuda.so plus the CUDA runtime and cuBLAS); the stand-in's holds only its model catalogue
# and a README, which is all `ollama serve` of the stand-in reads from there.
#
# Output is reproducible: fixed mtimes (SOURCE_DATE_EPOCH), root ownership, sorted entries, gzip
# without name or timestamp, single-threaded zstd; the same inputs give the same checksums.
#
# Usage: build-archive.sh OUTDIR [VERSION]
#   VERSION defaults to the stand-in's STANDIN_VERSION; it is what `ollama -v` and /api/version
#   report, so a test can build two versions to exercise upgrades.
# Needs: bash, GNU tar, gzip, zstd, sha256sum (coreutils).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
out=${1:?usage: build-archive.sh OUTDIR [VERSION]}
version=${2:-$(sed -n 's/^STANDIN_VERSION = "\(.*\)"$/\1/p' "$here/ollama.py")}
epoch=${SOURCE_DATE_EPOCH:-1704067200}

if ! [[ $version =~ ^[0-9]+\.[0-9]+\.[0-9]+(-[A-Za-z0-9.]+)?$ ]]; then
    echo "build-archive.sh: VERSION must look like 0.12.6 or 0.13.0-rc1, got '$version'" >&2
    exit 2
fi
for tool in zstd gzip sha256sum; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "build-archive.sh: $tool not found (Debian/Ubuntu: apt-get install ${tool/sha256sum/coreutils})" >&2
        exit 1
    fi
done
if ! tar --version 2>/dev/null | grep -q 'GNU tar'; then
    echo "build-archive.sh: GNU tar is required for reproducible archives" >&2
    exit 1
fi

mkdir -p "$out"
out=$(cd "$out" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

for arch in amd64 arm64; do
    stage="$work/$arch"
    mkdir -p "$stage/bin" "$stage/lib/ollama"
    # The source carries no shebang (ansible-test's sanity allowlist has no python3 one); the
    # shipped command needs python3 because Debian and Ubuntu have no `python`.
    {
        echo '#!/usr/bin/env python3'
        sed -e "s/^STANDIN_VERSION = .*/STANDIN_VERSION = \"$version\"/" \
            -e "s/^STANDIN_ARCH = .*/STANDIN_ARCH = \"$arch\"/" \
            "$here/ollama.py"
    } > "$stage/bin/ollama"
    grep -qx "STANDIN_VERSION = \"$version\"" "$stage/bin/ollama"
    cp "$here/catalogue.json" "$stage/lib/ollama/standin-catalogue.json"
    cat > "$stage/lib/ollama/README.standin" <<EOF
inferno.runners Ollama stand-in $version ($arch), built by tests/doubles/ollama/build-archive.sh.
bin/ollama is a Python 3 script honouring the upstream CLI and HTTP API; it needs python3.
The real lib/ollama holds libggml-base.so, libggml-cpu-*.so and cuda_v12/ and cuda_v13/.
EOF
    find "$stage" -type d -exec chmod 0755 {} +
    find "$stage" -type f -exec chmod 0644 {} +
    chmod 0755 "$stage/bin/ollama"
    find "$stage" -exec touch -h -d "@$epoch" {} +

    tar --sort=name --mtime="@$epoch" --owner=0 --group=0 --numeric-owner --format=gnu \
        -C "$stage" -cf "$work/ollama-linux-$arch.tar" .
    gzip -n -9 -c "$work/ollama-linux-$arch.tar" > "$out/ollama-linux-$arch.tgz"
    zstd -q -19 -T1 --no-progress -f -o "$out/ollama-linux-$arch.tar.zst" "$work/ollama-linux-$arch.tar"
    touch -d "@$epoch" "$out/ollama-linux-$arch.tgz" "$out/ollama-linux-$arch.tar.zst"
done

(
    cd "$out"
    sha256sum ollama-linux-amd64.tar.zst ollama-linux-amd64.tgz \
        ollama-linux-arm64.tar.zst ollama-linux-arm64.tgz > sha256sum.txt
)
echo "$out: ollama $version stand-in archives"
cat "$out/sha256sum.txt"
