"""Bad input stops the role before it changes anything, with a message naming the variable.

Each case runs bad_input.yml against the converged host with extra variables. The lockout cases log
in over SSH from the controller, through the allowed network, so the role meets a real
SSH_CONNECTION, login user and group list; a control run over the same login shows the checks
let good input through.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest
from hardening_scenario import ALLOWED_ADDRESS, CONTROLLER_ADDRESS, INSTANCE

testinfra_hosts = [INSTANCE]

# What a run that got past the checks would rewrite.
GUARDED_FILES = [
    "/etc/ssh/sshd_config.d/00-inferno-hardening.conf",
    "/etc/ufw/user.rules",
    "/etc/inferno/docker-user.rules",
    "/etc/sysctl.d/60-inferno-hardening.conf",
    "/etc/audit/rules.d/60-inferno-hardening.rules",
]

ALLOWED_NET = ["172.30.61.0/24"]


def over_ssh(user: str) -> dict:
    key = Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]) / "operator_ed25519"
    return {
        "ansible_connection": "ssh",
        "ansible_host": ALLOWED_ADDRESS,
        "ansible_user": user,
        "ansible_ssh_private_key_file": str(key),
        "ansible_ssh_common_args": "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o IdentitiesOnly=yes",
        "ansible_become": user != "root",
    }


CASES = [
    pytest.param(
        {
            "security_hardening_firewall_allow": [
                {"service": "ssh", "port": 22, "proto": "tcp", "sources": ["10.0.0.300/8"]},
                {"service": "api", "port": 70000, "proto": "tcp", "sources": ALLOWED_NET},
                {"service": "ollama", "port": 0, "proto": "tcp", "sources": ALLOWED_NET},
            ],
            "security_hardening_firewall_allow_extra": [
                {"service": "wireguard", "port": 51820, "proto": "udp", "sources": ["172.30.61.7/24"]},
            ],
        },
        None,
        [
            "security_hardening_firewall_allow[0].sources[0]: 10.0.0.300/8 is not an IPv4/IPv6 address or CIDR network",
            "security_hardening_firewall_allow[1].port: 70000 is not a port number (1-65535)",
            "security_hardening_firewall_allow[2].port: 0 is not a port number (1-65535)",
            "security_hardening_firewall_allow_extra[0].sources[0]: 172.30.61.7/24 has host bits set;"
            " the network is 172.30.61.0/24",
        ],
        id="malformed-cidr-and-ports",
    ),
    pytest.param(
        {"security_hardening_firewall_allow": [{"service": "ssh", "port": 22, "proto": "icmp", "sources": ALLOWED_NET}]},
        None,
        ["value of proto must be one of: tcp, udp, got: icmp found in security_hardening_firewall_allow"],
        id="unknown-protocol-stops-at-argument-validation",
    ),
    pytest.param(
        # The checks report every problem at once: one run shows both.
        {
            "security_hardening_firewall_allow": [{"service": "ssh", "port": 22, "proto": "tcp", "sources": ["10.0.0.0/8"]}],
            "security_hardening_ssh_allow_groups": ["admins"],
        },
        "operator",
        [
            f"security_hardening_firewall_allow: no entry (here or in security_hardening_firewall_allow_extra) allows"
            f" {CONTROLLER_ADDRESS} to port 22/tcp, the connection Ansible is using",
            "security_hardening_ssh_allow_groups: operator, the user Ansible logs in as, is in none of admins",
        ],
        id="allowlist-and-allow-groups-that-exclude-the-ansible-connection",
    ),
    pytest.param(
        {"security_hardening_ssh_permit_root_login": "no"},
        "root",
        ["security_hardening_ssh_permit_root_login: PermitRootLogin no would lock out Ansible, which logs in as root"],
        id="root-login-off-while-ansible-logs-in-as-root",
    ),
]


def fingerprint(host) -> str:
    return host.check_output("sha256sum " + " ".join(GUARDED_FILES))


def run_role(tmp_path: Path, extra_vars: dict, ssh_user: str | None, *options: str) -> tuple[subprocess.CompletedProcess, str]:
    variables = dict(extra_vars, **(over_ssh(ssh_user) if ssh_user else {}))
    vars_file = tmp_path / "vars.json"
    vars_file.write_text(json.dumps(variables))
    playbook = Path(os.environ["MOLECULE_SCENARIO_DIRECTORY"]) / "bad_input.yml"
    result = subprocess.run(
        ["ansible-playbook", "-i", os.environ["MOLECULE_INVENTORY_FILE"], "--limit", INSTANCE,
         "-e", f"@{vars_file}", *options, str(playbook)],
        capture_output=True, text=True, timeout=300, check=False,
    )
    return result, result.stdout + result.stderr


def recap(output: str) -> tuple[str, ...]:
    """changed, unreachable and failed of the instance's recap line."""
    found = re.search(rf"^{re.escape(INSTANCE)}\s+: ok=\d+\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", output, re.M)
    assert found, output[-4000:]
    return found.groups()


@pytest.mark.parametrize(("extra_vars", "ssh_user", "messages"), CASES)
def test_bad_input_stops_before_any_change(host, tmp_path, extra_vars, ssh_user, messages):
    before = fingerprint(host)
    result, output = run_role(tmp_path, extra_vars, ssh_user)
    assert result.returncode != 0, output[-4000:]
    # Line-wrapped by the callback: compare with whitespace folded.
    flat = " ".join(output.split())
    for message in messages:
        assert message in flat, f"missing {message!r} in:\n{output[-4000:]}"
    assert recap(output) == ("0", "0", "1"), f"expected changed=0 unreachable=0 failed=1:\n{output[-4000:]}"
    assert fingerprint(host) == before


def test_the_checks_admit_the_connection_they_protect(host, tmp_path):
    """The control for the lockout cases: the scenario's own input, over the same SSH login, passes.

    Limited to one cheap feature by tag; the checks run under every tag of the role.
    """
    before = fingerprint(host)
    result, output = run_role(tmp_path, {}, "operator", "--tags", "security_hardening_banner")
    assert result.returncode == 0, output[-4000:]
    assert "Check the input and that this Ansible connection stays open" in " ".join(output.split())
    assert recap(output) == ("0", "0", "0"), output[-4000:]
    assert fingerprint(host) == before
