"""Helpers of the ollama scenario's verifier.

The hosts run the Ollama stand-in (tests/doubles/ollama), which logs every request as one JSON
line in /usr/share/ollama/standin-requests.log and describes the running server (pid, uid, the
environment it received) in /usr/share/ollama/standin-server.json.
"""
from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
import testinfra
import yaml

CPU_HOST = "instance-ollama"
GPU_HOST = "instance-ollama-gpu"
STANDIN_LOG = "/usr/share/ollama/standin-requests.log"
STANDIN_SERVER = "/usr/share/ollama/standin-server.json"
# converge.yml copies the request log here once, at the end of the first converge.
FIRST_CONVERGE_LOG = "/root/standin-requests.first-converge.log"
# test_lifecycle.py pulls this by hand on the GPU host (no host's list has it); only its pulls do
# not come from the role.
HAND_PULLED_MODEL = "llama3.2:latest"


def get_host(name: str):
    return testinfra.get_host(f"ansible://{name}?ansible_inventory={os.environ['MOLECULE_INVENTORY_FILE']}")


@pytest.fixture(scope="session")
def cpu_host():
    return get_host(CPU_HOST)


@pytest.fixture(scope="session")
def gpu_host():
    return get_host(GPU_HOST)


class Run:
    """One ansible-playbook run, read through the json callback: no parsing of wrapped text."""

    def __init__(self, process: subprocess.CompletedProcess):
        self.returncode = process.returncode
        self.stdout = process.stdout
        self.stderr = process.stderr
        try:
            self.doc = json.loads(process.stdout[process.stdout.index("{"):])
        except ValueError:
            self.doc = {"plays": [], "stats": {}}

    def stats(self, host: str) -> dict[str, int]:
        return self.doc["stats"].get(host, {})

    def failures(self, host: str) -> str:
        """The messages of the failed task (and its failed loop items) on ``host``."""
        messages = []
        for play in self.doc["plays"]:
            for task in play["tasks"]:
                result = task["hosts"].get(host, {})
                if not result.get("failed"):
                    continue
                # A loop fails as a whole; its failed items say why.
                for item in [result] + [item for item in result.get("results", []) if item.get("failed")]:
                    messages.append(" ".join([str(item.get("msg", ""))] + list(item.get("argument_errors", []))))
        return " | ".join(messages)

    def __str__(self) -> str:
        return self.stdout[-6000:] + self.stderr[-3000:]


def playbook(name: str, *args: str, limit: str | None = None, extra_vars: dict | None = None,
             inventory: str | None = None) -> Run:
    """Run one of the scenario's playbooks, by default on Molecule's inventory."""
    scenario = Path(os.environ["MOLECULE_SCENARIO_DIRECTORY"])
    cmd = ["ansible-playbook", "-i", inventory or os.environ["MOLECULE_INVENTORY_FILE"], *args, str(scenario / name)]
    if limit:
        cmd += ["--limit", limit]
    if extra_vars:
        cmd += ["--extra-vars", json.dumps(extra_vars)]
    env = dict(os.environ, ANSIBLE_STDOUT_CALLBACK="ansible.posix.json")
    return Run(subprocess.run(cmd, capture_output=True, text=True, timeout=900, check=False, env=env))


def converge_as_aliases(host: str, cases: dict[str, dict]) -> Run:
    """Run converge.yml once for several aliases of ``host``, each with its own variables.

    Every alias reaches the same container and has ``host``'s inventory variables with its case's
    on top, so one play checks every case instead of one ansible-playbook run each.
    """
    molecule_vars = Path(os.environ["MOLECULE_INVENTORY_FILE"]).parent / "host_vars" / host
    base = yaml.safe_load(molecule_vars.read_text()) or {}
    aliases = {alias: {**base, **case, "ansible_host": host, "ansible_connection": "community.docker.docker"}
               for alias, case in cases.items()}
    inventory = Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]) / "alias-inventory.yml"
    inventory.write_text(yaml.safe_dump({"ollama_aliases": {"hosts": aliases}}))
    return converge("-i", str(inventory), limit="ollama_aliases")


def converge(*args: str, limit: str | None = None, extra_vars: dict | None = None) -> Run:
    """Run the scenario's converge.yml as Molecule does, with more arguments."""
    return playbook("converge.yml", *args, limit=limit, extra_vars=extra_vars)


def requests(host, path: str | None = None, method: str | None = None, log: str = STANDIN_LOG) -> list[dict]:
    entries = [json.loads(line) for line in host.file(log).content_string.splitlines() if line.strip()]
    return [entry for entry in entries
            if (path is None or entry["path"] == path) and (method is None or entry["method"] == method)]


def server(host) -> dict:
    return json.loads(host.file(STANDIN_SERVER).content_string)


def local_facts(host) -> dict:
    return json.loads(host.file("/etc/ansible/facts.d/ollama.fact").content_string)


def api(host, path: str) -> dict:
    return json.loads(host.check_output("curl -sf --max-time 10 %s%s", local_facts(host)["api_url"], path))


def wait_for_api(host, timeout: int = 30) -> dict:
    """The server's /api/version once it answers (curl retries connection refusals)."""
    url = local_facts(host)["api_url"]
    return json.loads(host.check_output(
        "curl -sf --retry %s --retry-delay 1 --retry-connrefused --max-time %s %s/api/version",
        str(timeout), str(timeout + 5), url))


def host_state(host) -> dict:
    """What a failed run must leave as it was: the running server, the release, the files."""
    return {
        "server": server(host),
        "release": host.file("/usr/local/lib/ollama/.inferno-ollama-version").content_string,
        "files": host.check_output(
            "sha256sum /etc/ollama/ollama.env /etc/systemd/system/ollama.service /etc/ansible/facts.d/ollama.fact"
            " /usr/local/bin/ollama"),
        "models": sorted(model["name"] for model in api(host, "/api/tags")["models"]),
        "downloads": host.check_output("ls -A /var/cache/inferno-ollama"),
    }
