#!/usr/bin/env bash
# Exposes this checkout as ansible_collections/inferno/runners so Ansible, pytest and Molecule
# resolve inferno.runners.* to the working tree (tests/conftest.py does the same for pytest).
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
link="$OUTPUT_DIR/collections/ansible_collections/inferno/runners"
mkdir -p "$(dirname "$link")"
[ -L "$link" ] || ln -s "$REPO_ROOT" "$link"
