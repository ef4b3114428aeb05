"""What a converged container_engine host must show: a running dockerd that uses the merged config."""
from __future__ import annotations

import json

from molecule_check_mode import assert_check_mode_reports_no_change


def test_dockerd_runs_and_answers(host):
    assert host.service("docker").is_running
    assert host.service("docker").is_enabled
    assert host.run("docker info --format '{{.ServerVersion}}'").rc == 0


def test_daemon_json_keeps_operator_keys_and_adds_managed_ones(host):
    config = json.loads(host.file("/etc/docker/daemon.json").content_string)
    assert config["labels"] == ["inferno-operator-key=kept"]
    # Managed log options are merged into the operator's log-opts, not swapped for them.
    assert config["log-opts"] == {"labels": "team", "max-size": "100m", "max-file": "5"}
    assert config["log-driver"] == "json-file"
    assert config["storage-driver"] == "vfs"
    assert host.file("/etc/docker/daemon.json").mode == 0o644


def test_docker_info_shows_configured_driver_and_labels(host):
    info = json.loads(host.check_output("docker info --format '{{json .}}'"))
    assert info["LoggingDriver"] == "json-file"
    assert info["Driver"] == "vfs"
    assert "inferno-operator-key=kept" in info["Labels"]
    assert "runc" in info["Runtimes"]


def test_docker_runs_a_container(host):
    # No registry here: import a one-binary image from the host's own files.
    host.check_output(
        "tar -C / -ch usr/bin/echo lib/x86_64-linux-gnu/libc.so.6 lib64/ld-linux-x86-64.so.2"
        " | docker import - inferno-smoke:latest"
    )
    out = host.check_output("docker run --rm --network none inferno-smoke:latest /usr/bin/echo hello-from-dind")
    assert out == "hello-from-dind"


def test_ci_user_is_in_docker_group(host):
    assert "docker" in host.user("ci").groups


def test_check_mode_reports_no_change():
    assert_check_mode_reports_no_change()
