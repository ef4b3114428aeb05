# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""inferno.runners.ollama_model run by ansible-playbook (AnsiballZ, check and diff mode flags from
the command line) against the Ollama stand-in."""
from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[3]
DOUBLES = REPO / "tests" / "doubles" / "ollama"
PLAYBOOK = Path(__file__).resolve().parent / "playbook.yml"

_spec = importlib.util.spec_from_file_location("ollama_standin_harness", DOUBLES / "harness.py")
harness = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(harness)


def ansible_playbook(server, *args):
    env = dict(os.environ)
    env.update(
        ANSIBLE_COLLECTIONS_PATH=str(REPO / "tests" / "output" / "collections"),
        ANSIBLE_LOCALHOST_WARNING="false",
        ANSIBLE_INVENTORY_UNPARSED_WARNING="false",
        ANSIBLE_NOCOLOR="true",
    )
    command = [str(Path(sys.executable).parent / "ansible-playbook"), str(PLAYBOOK), "-i", "localhost,",
               "-c", "local", "-e", "ansible_python_interpreter=" + sys.executable,
               "-e", "ollama_host=" + server.url, *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=300, check=False)


def test_playbook_converges_and_is_idempotent(tmp_path):
    with harness.StandIn(tmp_path / "ollama") as server:
        checked = ansible_playbook(server, "--check", "--diff", "--tags", "converge")
        assert checked.returncode == 0, checked.stdout + checked.stderr
        assert "changed=2" in checked.stdout and server.requests(path="/api/pull") == []
        assert '+    "name": "qwen2.5:0.5b"' in checked.stdout

        # Two models, plus one request for the tag the registry does not have (never retried).
        first = ansible_playbook(server)
        assert first.returncode == 0, first.stdout + first.stderr
        assert "changed=2" in first.stdout
        assert len(server.wait_for_requests(3, path="/api/pull")) == 3

        second = ansible_playbook(server, "--tags", "converge")
        assert second.returncode == 0, second.stdout + second.stderr
        assert "changed=0" in second.stdout
        assert len(server.requests(path="/api/pull")) == 3
