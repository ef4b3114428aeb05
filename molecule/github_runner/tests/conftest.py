"""Helpers of the github_runner verifier: the fake GitHub prepare.yml started, the hosts, ansible-playbook."""
from __future__ import annotations

import json
import os
import re
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

SCENARIO = Path(os.environ["MOLECULE_SCENARIO_DIRECTORY"])
PROJECT = Path(os.environ["MOLECULE_PROJECT_DIRECTORY"])
STATE = Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]) / "github"
HOSTS = ("inferno-host-ghr-cpu", "inferno-host-ghr-gpu", "inferno-host-ghr-arm")


class Fake:
    """The fake GitHub's control API (tests/doubles/github/fake_github.py, /_fake/...)."""

    def __init__(self) -> None:
        self.api = (STATE / "api_url").read_text().strip()
        self.base = self.api[: -len("/api/v3")]

    def get(self, path: str):
        with urllib.request.urlopen(self.base + path, timeout=30) as response:
            return json.load(response)

    def runners(self) -> list[dict]:
        return self.get("/_fake/state")["runners"]

    def runner(self, name: str) -> dict | None:
        found = [r for r in self.runners() if r["name"] == name]
        assert len(found) <= 1, f"{len(found)} runners named {name}: {found}"
        return found[0] if found else None

    def ours(self) -> dict[str, dict]:
        """The runners the scenario's hosts registered (not those seeded for the reaper)."""
        return {r["name"]: r for r in self.runners() if re.fullmatch(r"inferno-host-ghr-(cpu|gpu|arm)-\d+", r["name"])}

    def calls(self, since: int = 0) -> list[dict]:
        return self.get(f"/_fake/calls?since={since}")

    def last_seq(self) -> int:
        return max((c["seq"] for c in self.calls()), default=0)

    def tokens(self, kind: str | None = None) -> list[dict]:
        return self.get("/_fake/tokens" + (f"?kind={kind}" if kind else ""))

    def violations(self) -> list[dict]:
        return self.get("/_fake/violations")


@pytest.fixture(scope="session")
def fake() -> Fake:
    return Fake()


def sh(container: str, script: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess:
    result = subprocess.run(["docker", "exec", container, "bash", "-c", script],
                            capture_output=True, text=True, timeout=timeout, check=False)
    if check:
        assert result.returncode == 0, f"{container}: {script}\n{result.stdout}\n{result.stderr}"
    return result


def playbook(*args: str, timeout: float = 900) -> subprocess.CompletedProcess:
    cmd = ["ansible-playbook", "-i", os.environ["MOLECULE_INVENTORY_FILE"], *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False, cwd=PROJECT)


def recap(output: str) -> dict[str, dict[str, int]]:
    lines = [line for line in output.splitlines() if " : ok=" in line]
    result = {}
    for line in lines:
        host, _, counts = line.partition(" : ")
        result[host.strip()] = {k: int(v) for k, v in (pair.split("=") for pair in counts.split())}
    return result


def wait_for(predicate, timeout: float, interval: float = 0.5, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)
