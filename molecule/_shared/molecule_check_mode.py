"""Check mode on a converged host must report 0 changed: shared by every scenario's verifier.

Molecule's own `check` step only runs the play; this asserts on its recap instead.
"""
from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path


def assert_check_mode_reports_no_change(playbook: str = "converge.yml") -> None:
    scenario = Path(os.environ["MOLECULE_SCENARIO_DIRECTORY"])
    inventory = os.environ["MOLECULE_INVENTORY_FILE"]
    cmd = ["ansible-playbook", "-i", inventory, "--check", str(scenario / playbook)]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=900, check=False)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    recap = re.findall(r"^(\S+)\s+: ok=\d+\s+changed=(\d+)", result.stdout, re.M)
    assert recap, result.stdout[-4000:]
    changed = {host: int(n) for host, n in recap}
    assert all(n == 0 for n in changed.values()), f"check mode changed something: {changed}\n{result.stdout[-4000:]}"
