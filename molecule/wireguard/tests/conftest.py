"""Helpers of the wireguard scenario: commands in its containers, playbook runs, WireGuard state.

Commands go through `docker exec` (the scenario's driver), which is fast enough to watch a
handshake; playbooks run with the Molecule inventory that verify is given.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

HOSTS = ["wg-mesh-a", "wg-mesh-b", "wg-mesh-c", "wg-spoke-d"]
CI = "wg-ci"
TUNNEL = {
    "wg-mesh-a": ("10.99.0.1", "fd99::1"),
    "wg-mesh-b": ("10.99.0.2", "fd99::2"),
    "wg-mesh-c": ("10.99.0.3", "fd99::3"),
    "wg-spoke-d": ("10.99.0.4", "fd99::4"),
}
# The mesh (a, b, c) plus hub a with spoke d: who must be whose peer.
PEERS = {
    "wg-mesh-a": {"wg-mesh-b", "wg-mesh-c", "wg-spoke-d"},
    "wg-mesh-b": {"wg-mesh-a", "wg-mesh-c"},
    "wg-mesh-c": {"wg-mesh-a", "wg-mesh-b"},
    "wg-spoke-d": {"wg-mesh-a"},
}
PAIRS = sorted({tuple(sorted((host, peer))) for host, peers in PEERS.items() for peer in peers})
RECAP = re.compile(r"^(\S+)\s+: ok=\d+\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)


def sh(name: str, command: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess:
    # check=False: a failure is raised below with the command's output, which CalledProcessError hides.
    result = subprocess.run(["docker", "exec", name, "sh", "-c", command],
                            capture_output=True, text=True, timeout=timeout, check=False)
    if check and result.returncode != 0:
        raise AssertionError(f"{name}: {command} failed (rc {result.returncode}): {result.stdout}{result.stderr}")
    return result


def out(name: str, command: str) -> str:
    return sh(name, command).stdout.strip()


def wg_show(name: str, field: str, interface: str = "wg0") -> list[list[str]]:
    return [line.split("\t") for line in out(name, f"wg show {interface} {field}").splitlines() if line]


def peers(name: str) -> set[str]:
    return {row[0] for row in wg_show(name, "peers")}


def handshakes(name: str) -> dict[str, int]:
    return {key: int(stamp) for key, stamp in wg_show(name, "latest-handshakes")}


def transfer(name: str) -> dict[str, tuple[int, int]]:
    return {key: (int(rx), int(tx)) for key, rx, tx in wg_show(name, "transfer")}


def local_facts(name: str) -> dict:
    return json.loads(out(name, "cat /etc/ansible/facts.d/wireguard_wg0.fact"))


def underlay(name: str) -> str:
    """The container's address on the scenario's Docker network (what the role uses as endpoint)."""
    return out(name, "ip -4 -o addr show eth0 | awk '{print $4}' | cut -d/ -f1")


def state_of_all_hosts() -> dict[str, tuple[frozenset, str]]:
    """Every host's live peers and the checksum of its configuration."""
    return {name: (frozenset(peers(name)), out(name, "sha256sum /etc/wireguard/wg0.conf")) for name in HOSTS}


def fact_cache_env(directory: Path) -> dict[str, str]:
    """A jsonfile fact cache, as AWX's fact storage or an operator's ansible.cfg would give."""
    return dict(os.environ, ANSIBLE_CACHE_PLUGIN="ansible.builtin.jsonfile",
                ANSIBLE_CACHE_PLUGIN_CONNECTION=str(directory))


def ansible(host: str, module: str, args: dict, env: dict | None = None) -> subprocess.CompletedProcess:
    """One module on one host of the Molecule inventory (ad hoc)."""
    cmd = ["ansible", "-i", os.environ["MOLECULE_INVENTORY_FILE"], host, "-m", module, "-a", json.dumps(args)]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env, check=False)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    return result


def ansible_playbook(*args: str, host_vars: dict | None = None, tmp_path: Path | None = None,
                     env: dict | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    """Run converge.yml against the Molecule inventory, with host variables overridden, and time it."""
    playbook = Path(os.environ["MOLECULE_SCENARIO_DIRECTORY"]) / "converge.yml"
    if host_vars:
        # host_vars next to the playbook outrank the inventory's own host_vars (where Molecule puts
        # the scenario's): a copy of converge.yml with its own host_vars changes just those values.
        (tmp_path / "host_vars").mkdir(exist_ok=True)
        for name, values in host_vars.items():
            (tmp_path / "host_vars" / f"{name}.yml").write_text(json.dumps(values))
        playbook = Path(shutil.copy(playbook, tmp_path / "converge.yml"))
    cmd = ["ansible-playbook", "-i", os.environ["MOLECULE_INVENTORY_FILE"], str(playbook), *args]
    started = time.monotonic()
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env, check=False)
    result.seconds = time.monotonic() - started
    return result


def recap(result: subprocess.CompletedProcess) -> dict[str, dict[str, int]]:
    found = {host: {"changed": int(changed), "unreachable": int(unreachable), "failed": int(failed)}
             for host, changed, unreachable, failed in RECAP.findall(result.stdout)}
    assert found, result.stdout[-4000:] + result.stderr[-4000:]
    return found


@pytest.fixture(scope="session")
def public_keys() -> dict[str, str]:
    return {name: local_facts(name)["public_key"] for name in HOSTS}
