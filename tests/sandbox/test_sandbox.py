"""What `make sandbox` must have brought up: checked against the fleet report's data
(fleet-report/report.json, written by playbooks/fleet_report.yml) and the converge summaries
tests/bed/sandbox.sh keeps. Run by `make sandbox-test` (and the sandbox stage of `make test`),
which brings the sandbox up twice first."""
from __future__ import annotations

import json
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
REPORT = json.loads((REPO / "fleet-report" / "report.json").read_text())
CONVERGES = [json.loads(line) for line in (REPO / "tests" / "output" / "sandbox" / "converges.jsonl").read_text().splitlines()]
HOSTS = {host["name"]: host for host in REPORT["hosts"]}
CLASSES = {"inferno-host-master": "limbo", "inferno-host-compute-1": "lust", "inferno-host-exper-1": "heresy"}


def runners_of(host: str) -> list[dict]:
    return [r for r in REPORT["runners"] if r["name"].startswith(host + "-")]


def labels(runner: dict) -> set[str]:
    return {label["name"] for label in runner["labels"]}


def test_three_hosts_in_their_classes():
    assert {name: host["node_class"] for name, host in HOSTS.items()} == CLASSES


def test_every_runner_is_online_with_host_and_gpu_labels():
    for name, node_class in CLASSES.items():
        runners = runners_of(name)
        assert runners, f"{name} has no runner on GitHub"
        for runner in runners:
            assert runner["status"] == "online", runner
            assert {"avernus", f"node-class:{node_class}"} <= labels(runner), runner
    assert all({"gpu", "gpu:nvidia", "gpu:a100", "gpu-count:1"} <= labels(r) for r in runners_of("inferno-host-compute-1"))
    assert all({"gpu", "gpu:nvidia", "gpu:t4", "experimental"} <= labels(r) for r in runners_of("inferno-host-exper-1"))
    assert not any("gpu" in labels(r) for r in runners_of("inferno-host-master"))
    # The class files: 4 CPU runners, 2 persistent + 1 just-in-time on the GPU host, 1 experimental.
    assert [len(runners_of(name)) for name in CLASSES] == [4, 3, 1]


def test_tunnels_from_the_hub_to_each_spoke_have_recent_handshakes():
    keys = {host["wireguard_key"]: name for name, host in HOSTS.items()}
    assert all(keys), keys
    now = time.time()
    hub = {keys[key]: int(epoch) for key, epoch in HOSTS["inferno-host-master"]["handshakes"].items()}
    assert set(hub) == {"inferno-host-compute-1", "inferno-host-exper-1"}
    for peer, epoch in hub.items():
        assert now - epoch < 300, f"no handshake with {peer} in the last 5 minutes"


def test_ollama_serves_the_model_on_the_gpu_hosts():
    for name in ("inferno-host-compute-1", "inferno-host-exper-1"):
        assert "qwen2.5:0.5b" in HOSTS[name]["models"], HOSTS[name]
    assert HOSTS["inferno-host-master"]["models"] is None, "limbo runs no Ollama"


def test_lynis_hardening_index_is_at_least_80():
    for name, host in HOSTS.items():
        assert host["lynis"] and int(host["lynis"]) >= 80, (name, host["lynis"])


def test_second_converge_changed_nothing():
    assert len(CONVERGES) >= 2, "bring the sandbox up twice (make sandbox-test does)"
    assert CONVERGES[-1]["rc"] == 0 and CONVERGES[-1]["changed"] == 0, CONVERGES
