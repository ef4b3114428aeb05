"""The preflight play stops a run before any host is touched: wrong node classes, missing or
placeholder secrets, a vault password that does not decrypt. Every host here is only ever reached
through `delegate_to: localhost`, so nothing leaves this machine."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
PLAYBOOK = REPO / "playbooks" / "preflight.yml"
AVERNUS = REPO / "inventories" / "avernus"
EXAMPLE_VAULT_PASSWORD = "avernus-example"

pytestmark = pytest.mark.integration


def _run(inventory: Path, tmp_path: Path, password: str | None = EXAMPLE_VAULT_PASSWORD,
         extra_vars: dict | None = None) -> subprocess.CompletedProcess:
    cmd = [str(Path(sys.executable).parent / "ansible-playbook"), "-i", str(inventory), str(PLAYBOOK)]
    if extra_vars:
        # As AWX passes a credential's injected extra vars: a file, not the command line.
        extra_file = tmp_path / "extra-vars.json"
        extra_file.write_text(json.dumps(extra_vars))
        cmd += ["-e", f"@{extra_file}"]
    if password is not None:
        pass_file = tmp_path / "vault-pass"
        pass_file.write_text(password + "\n")
        cmd += ["--vault-id", f"avernus@{pass_file}"]
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_HOST_KEY_CHECKING="False")
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env, check=False)


def _inventory_copy(tmp_path: Path) -> Path:
    inventory = tmp_path / "avernus"
    shutil.copytree(AVERNUS, inventory)
    return inventory


def test_example_vault_decrypts_and_placeholders_stop_the_run(tmp_path):
    result = _run(AVERNUS, tmp_path)
    assert result.returncode != 0
    out = result.stdout + result.stderr
    assert "lacks secrets (missing, empty or still CHANGE-ME)" in out
    assert "vault_github_app_private_key" in out
    # Nothing ran against a host: the only task results are the preflight's, on localhost.
    assert "Gathering Facts" not in out


def test_wrong_vault_password_is_one_clear_message(tmp_path):
    result = _run(AVERNUS, tmp_path, password="not-the-password")
    assert result.returncode != 0
    assert "Decryption failed" in result.stdout + result.stderr


def test_host_in_no_class_and_host_in_two_classes(tmp_path):
    inventory = _inventory_copy(tmp_path)
    hosts = inventory / "hosts.yml"
    text = hosts.read_text()
    # inferno-host-exper-1 leaves heresy; inferno-host-master joins lust as well.
    exper = "        inferno-host-exper-1:\n          ansible_host: 10.66.6.11\n          wireguard_address: [10.99.0.16/24]\n"
    text = text.replace("    heresy:\n      hosts:\n" + exper, "    heresy:\n      hosts: {}\n")
    text = text.replace("    lust:\n      hosts:\n", "    lust:\n      hosts:\n        inferno-host-master:\n")
    hosts.write_text(text)
    result = _run(inventory, tmp_path)
    out = result.stdout + result.stderr
    assert result.returncode != 0
    assert "Hosts in no node class (limbo, lust, heresy): inferno-host-exper-1" in out
    assert "Hosts claimed by more than one class: inferno-host-master" in out


def test_complete_secrets_pass_the_preflight(tmp_path):
    inventory = _inventory_copy(tmp_path)
    vault = inventory / "group_vars" / "inferno" / "vault.yml"
    vault.write_text("vault_github_app_id: '4242'\nvault_github_app_installation_id: '777'\n"
                     "vault_github_app_private_key: not-a-real-key\n")
    result = _run(inventory, tmp_path, password=None)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]


# What the GitHub credential of playbooks/awx_configure.yml injects (credential_type_injectors.json).
AWX_INJECTED = {
    "inferno_github_app_id": "4242",
    "inferno_github_app_installation_id": "777",
    "inferno_github_app_private_key": "not-a-real-key",
}


def test_awx_injected_credential_stands_in_for_the_vault_values(tmp_path):
    """The vault still holds its placeholders; the injected extra vars are enough."""
    result = _run(AVERNUS, tmp_path, extra_vars=AWX_INJECTED)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]


def test_a_secret_neither_in_the_vault_nor_injected_is_named(tmp_path):
    injected = {k: v for k, v in AWX_INJECTED.items() if k != "inferno_github_app_private_key"}
    result = _run(AVERNUS, tmp_path, extra_vars=injected)
    out = result.stdout + result.stderr
    assert result.returncode != 0
    assert "vault_github_app_private_key or inferno_github_app_private_key" in out
    assert "vault_github_app_id" not in out
