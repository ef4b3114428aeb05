"""Lynis and ssh-audit, before hardening (prepare.yml) and now: the independent measure of the role."""
from __future__ import annotations

import json
import re
import shlex

import pytest
from hardening_scenario import INSTANCE

testinfra_hosts = [INSTANCE]

LYNIS_TARGET = 80
SCORES_FILE = "/root/hardening-scores.json"


def lynis_index(output: str) -> int:
    match = re.search(r"Hardening index : (\d+)", output)
    assert match, f"no hardening index in Lynis' output:\n{output[-2000:]}"
    return int(match.group(1))


def ssh_audit_failures(output: str) -> list[str]:
    assert "# algorithm recommendations" in output or "(kex)" in output, f"not ssh-audit output:\n{output[-2000:]}"
    return [line.strip() for line in output.splitlines() if "[fail]" in line]


@pytest.fixture(scope="module")
def scores(host):
    lynis_after = host.run("lynis audit system --quick --no-colors")
    assert lynis_after.rc == 0, lynis_after.stderr
    ssh_audit_after = host.run("ssh-audit -n localhost")
    result = {
        "lynis_hardening_index": {
            "before": lynis_index(host.file("/root/baseline-lynis.txt").content_string),
            "after": lynis_index(lynis_after.stdout),
        },
        "ssh_audit_fail": {
            "before": len(ssh_audit_failures(host.file("/root/baseline-ssh-audit.txt").content_string)),
            "after": len(ssh_audit_failures(ssh_audit_after.stdout)),
        },
        "ssh_audit_fail_lines_after": ssh_audit_failures(ssh_audit_after.stdout),
    }
    text = json.dumps(result, indent=2)
    host.check_output(f"printf '%s\\n' {shlex.quote(text)} > {SCORES_FILE}")
    print(f"\nsecurity_hardening scores ({SCORES_FILE}):\n{text}")
    return result


def test_baseline_was_measured_on_the_unhardened_host(scores):
    # Proves the parsers see failures and low scores when there are some.
    assert scores["ssh_audit_fail"]["before"] > 0
    assert scores["lynis_hardening_index"]["before"] < LYNIS_TARGET


def test_lynis_hardening_index_reaches_target(scores):
    assert scores["lynis_hardening_index"]["after"] >= LYNIS_TARGET, scores


def test_ssh_audit_reports_no_failure(scores):
    assert scores["ssh_audit_fail"]["after"] == 0, scores["ssh_audit_fail_lines_after"]
