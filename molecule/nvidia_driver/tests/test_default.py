"""Plays run against the converged hosts: check mode, and bad input that must stop the role."""
from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from molecule_check_mode import assert_check_mode_reports_no_change


def run_converge(*extra_vars: str) -> subprocess.CompletedProcess[str]:
    scenario = Path(os.environ["MOLECULE_SCENARIO_DIRECTORY"])
    cmd = ["ansible-playbook", "-i", os.environ["MOLECULE_INVENTORY_FILE"], str(scenario / "converge.yml")]
    for assignment in extra_vars:
        cmd += ["-e", assignment]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=900, check=False)


def test_check_mode_reports_no_change():
    assert_check_mode_reports_no_change()


@pytest.mark.parametrize(
    ("assignment", "message"),
    [
        # tasks/validate.yml, before anything is looked up or changed
        ("nvidia_driver_branch=55O", 'nvidia_driver_branch must be a driver branch of three digits'),
        # meta/argument_specs.yml, before the role's first task
        ("nvidia_driver_kernel_module_type=closed", "value of nvidia_driver_kernel_module_type must be one of"),
    ],
)
def test_bad_input_stops_the_role_before_any_change(assignment, message):
    result = run_converge(assignment)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output[-4000:]
    # The failure's own words, not the argument spec the failure echoes, which names every variable.
    assert message in " ".join(output.split()), output[-4000:]
    recap = re.findall(r"^(\S+)\s+: ok=\d+\s+changed=(\d+)\s+unreachable=\d+\s+failed=(\d+)", result.stdout, re.M)
    assert {host for host, _, _ in recap} == {"nvidia-driver-gpu", "nvidia-driver-nogpu"}, output[-4000:]
    # Both hosts stop, the one without a GPU too: bad input is refused wherever the role runs.
    assert all(changed == "0" and failed == "1" for _, changed, failed in recap), output[-4000:]


def test_branch_debian_does_not_offer_stops_before_download():
    result = run_converge("nvidia_driver_branch=550")
    output = " ".join((result.stdout + result.stderr).split())
    assert result.returncode != 0, output[-4000:]
    assert "nvidia_driver_branch=550, but Debian 12's archive offers nvidia-smi 535." in output, output[-4000:]
    recap = {host: (changed, failed) for host, changed, failed in re.findall(
        r"(nvidia-driver-\S+) : ok=\d+ changed=(\d+) unreachable=\d+ failed=(\d+)", output)}
    # Only the GPU host gets as far as asking Debian's archive, and it stops before installing.
    assert recap == {"nvidia-driver-gpu": ("0", "1"), "nvidia-driver-nogpu": ("0", "0")}, output[-4000:]
