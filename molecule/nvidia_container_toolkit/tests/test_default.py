"""What a converged nvidia_container_toolkit host must show, against a signed mirror of NVIDIA's repository."""
from __future__ import annotations

import json
import os
import re
import subprocess
import time
from pathlib import Path

import pytest

from molecule_check_mode import assert_check_mode_reports_no_change

PINNED = "1.17.8-1"
PACKAGES = ["nvidia-container-toolkit", "nvidia-container-toolkit-base", "libnvidia-container-tools", "libnvidia-container1"]
T4 = {"driver": "515.105.01", "uuid": "GPU-d37e67a5-91dd-3774-a5cb-99096249601a", "capture": "tesla-t4-1gpu"}
A100 = {"driver": "535.54.03", "uuid": "GPU-513536b6-7d19-9063-b049-1e69664bb298", "capture": "a100-sxm4-80gb-mig"}


def run_converge(*args: str) -> subprocess.CompletedProcess[str]:
    scenario = Path(os.environ["MOLECULE_SCENARIO_DIRECTORY"])
    cmd = ["ansible-playbook", "-i", os.environ["MOLECULE_INVENTORY_FILE"], str(scenario / "converge.yml"), *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=900, check=False)


def changed_count(result: subprocess.CompletedProcess[str]) -> int:
    recap = re.findall(r"^\S+\s+: ok=\d+\s+changed=(\d+)", result.stdout, re.M)
    assert len(recap) == 1, result.stdout[-4000:] + result.stderr[-4000:]
    return int(recap[0])


def answer_nvidia_smi_from(host, gpu: dict[str, str], failure: str = "") -> None:
    captures = "/opt/inferno/tests/doubles/nvidia-smi/captures/" + gpu["capture"]
    settings = (
        f"NVIDIA_SMI_DOUBLE_XML={captures}.xml\n"
        f"NVIDIA_SMI_DOUBLE_LIST={captures}-L.txt\n"
        f"NVIDIA_SMI_DOUBLE_CSV={captures}-query.csv\n"
        f"NVIDIA_SMI_DOUBLE_FAILURE={failure}\n"
    )
    host.check_output("printf '%%s' %s > /etc/default/inferno-nvidia-smi-double", settings)


def test_repository_is_a_deb822_source_signed_by_the_mirror_key(host):
    source = host.file("/etc/apt/sources.list.d/nvidia-container-toolkit.sources").content_string
    assert "URIs: http://127.0.0.1:8089/libnvidia-container/stable/deb/$(ARCH)" in source.splitlines()
    assert "Suites: /" in source.splitlines()
    assert "Signed-By: /etc/apt/keyrings/nvidia-container-toolkit.asc" in source.splitlines()
    fingerprint = "gpg --show-keys --with-colons {} | awk -F: '$1 == \"fpr\" {{print $10; exit}}'"
    installed = host.check_output(fingerprint.format("/etc/apt/keyrings/nvidia-container-toolkit.asc"))
    served = host.check_output(fingerprint.format("/srv/nvidia-mirror/libnvidia-container/gpgkey"))
    assert installed and installed == served


def test_the_four_packages_are_pinned_below_the_mirrors_newest(host):
    for name in PACKAGES:
        assert host.package(name).version == PINNED, name
    # The pin is what holds them: apt on its own would take the newer release the mirror offers.
    assert "Candidate: 1.18.0-1" in host.check_output("apt-cache policy nvidia-container-toolkit")


def test_daemon_json_gets_the_runtime_and_keeps_every_other_key(host):
    config = json.loads(host.file("/etc/docker/daemon.json").content_string)
    assert config["runtimes"] == {"nvidia": {"path": "nvidia-container-runtime", "args": []}}
    assert config["labels"] == ["inferno-operator-key=kept"]
    assert config["log-opts"] == {"max-size": "100m", "max-file": "5"}
    assert config["storage-driver"] == "vfs"
    assert "default-runtime" not in config


def test_docker_info_shows_the_nvidia_runtime(host):
    info = json.loads(host.check_output("docker info --format '{{json .}}'"))
    assert info["Runtimes"]["nvidia"]["path"] == "nvidia-container-runtime"
    assert info["DefaultRuntime"] == "runc"


def test_docker_runs_a_container_through_the_nvidia_runtime(host):
    host.check_output(
        "tar -C / -ch usr/bin/echo lib/x86_64-linux-gnu/libc.so.6 lib64/ld-linux-x86-64.so.2"
        " | docker import - inferno-smoke:latest"
    )
    out = host.check_output("docker run --rm --runtime=nvidia --network none inferno-smoke:latest /usr/bin/echo via-nvidia")
    assert out == "via-nvidia"
    calls = host.file("/var/log/nvidia-container-runtime.calls").content_string
    assert re.search(r"(^| )create( |$)", calls, re.M), calls


def test_default_runtime_can_be_turned_on_and_off_again(host):
    def converge_docker(default: bool) -> subprocess.CompletedProcess[str]:
        extra = json.dumps({"nvidia_container_toolkit_default_runtime": default, "nvidia_container_toolkit_runtimes": ["docker"]})
        result = run_converge("--tags", "nvidia_container_toolkit_runtimes", "-e", extra)
        assert result.returncode == 0, result.stdout[-4000:]
        return result

    def default_runtime_becomes(expected: str) -> None:
        # systemctl reload only sends SIGHUP; dockerd applies it a moment later.
        for _ in range(40):
            if host.check_output("docker info --format '{{.DefaultRuntime}}'") == expected:
                return
            time.sleep(0.25)
        raise AssertionError(f"docker info never showed the default runtime {expected}")

    dockerd = host.check_output("systemctl show -p MainPID --value docker")
    try:
        turned_on = converge_docker(True)
        assert changed_count(turned_on) == 2  # daemon.json and the reload
        assert json.loads(host.file("/etc/docker/daemon.json").content_string)["default-runtime"] == "nvidia"
        default_runtime_becomes("nvidia")
        reloaded_dockerd = host.check_output("systemctl show -p MainPID --value docker")
    finally:
        turned_off = converge_docker(False)
    assert changed_count(turned_off) == 2
    config = json.loads(host.file("/etc/docker/daemon.json").content_string)
    assert "default-runtime" not in config and "nvidia" in config["runtimes"]
    default_runtime_becomes("runc")
    # Made the default by a reload: the same dockerd, running containers never stopped. Dropping
    # the key needs a restart (a reload keeps the old default).
    assert reloaded_dockerd == dockerd
    assert host.check_output("systemctl show -p MainPID --value docker") != dockerd


def test_containerd_gets_the_runtime_and_was_restarted_for_it(host):
    dump = host.check_output("containerd config dump")
    table = dump.split('[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.nvidia]', 1)
    assert len(table) == 2, dump
    assert 'BinaryName = "/usr/bin/nvidia-container-runtime"' in table[1].split("[plugins", 2)[1]
    # The running containerd started after nvidia-ctk wrote its configuration.
    started = host.check_output("date -d \"$(systemctl show -p ActiveEnterTimestamp --value containerd)\" +%s")
    written = host.check_output("stat -c %Y /etc/containerd/config.toml")
    assert host.service("containerd").is_running
    assert int(started) >= int(written)


def test_cdi_spec_is_generated_for_the_driver_that_answers(host):
    spec = host.file("/etc/cdi/nvidia.yaml")
    assert spec.mode == 0o644
    assert "kind: nvidia.com/gpu" in spec.content_string
    assert f"libcuda.so.{T4['driver']}" in spec.content_string
    assert host.file("/etc/cdi/nvidia.yaml.driver-version").content_string == T4["driver"] + "\n"
    devices = host.check_output("nvidia-ctk cdi list").splitlines()
    assert devices == ["nvidia.com/gpu=0", f"nvidia.com/gpu={T4['uuid']}", "nvidia.com/gpu=all"]


def test_cdi_spec_follows_a_driver_change(host):
    answer_nvidia_smi_from(host, A100)
    try:
        upgraded = run_converge("--tags", "nvidia_container_toolkit_cdi")
        assert upgraded.returncode == 0, upgraded.stdout[-4000:]
        assert changed_count(upgraded) == 2  # spec and marker
        spec = host.file("/etc/cdi/nvidia.yaml").content_string
        assert A100["uuid"] in spec and f"libcuda.so.{A100['driver']}" in spec
        assert T4["uuid"] not in spec
        assert host.file("/etc/cdi/nvidia.yaml.driver-version").content_string == A100["driver"] + "\n"
    finally:
        # Back to the driver the host converged with, so the tests after this one see it; that the
        # spec stays put while the driver does not change is what the idempotence step showed.
        answer_nvidia_smi_from(host, T4)
        restored = run_converge("--tags", "nvidia_container_toolkit_cdi")
    assert restored.returncode == 0 and changed_count(restored) == 2, restored.stdout[-4000:]
    assert T4["uuid"] in host.file("/etc/cdi/nvidia.yaml").content_string


def test_cdi_spec_waits_while_no_driver_answers(host):
    spec_before = host.file("/etc/cdi/nvidia.yaml").content_string
    answer_nvidia_smi_from(host, T4, failure="driver-not-loaded")
    try:
        result = run_converge("--tags", "nvidia_container_toolkit_cdi")
    finally:
        answer_nvidia_smi_from(host, T4)
    output = " ".join(result.stdout.split())
    assert result.returncode == 0, result.stdout[-4000:]
    assert "No NVIDIA driver answers on instance-nvidia_container_toolkit (driver state not_loaded" in output
    assert changed_count(result) == 0
    assert host.file("/etc/cdi/nvidia.yaml").content_string == spec_before


def test_check_mode_reports_no_change():
    assert_check_mode_reports_no_change()


@pytest.mark.parametrize(
    ("assignment", "message"),
    [
        ('{"nvidia_container_toolkit_version": "1.17"}', "nvidia_container_toolkit_version must be a package version"),
        ('{"nvidia_container_toolkit_runtimes": ["docker", "podman"]}', "value of nvidia_container_toolkit_runtimes must be one or more of"),
    ],
)
def test_bad_input_stops_the_role_before_any_change(assignment, message):
    # The container engine is converged already; only this role's tasks matter here.
    result = run_converge("--tags", "nvidia_container_toolkit", "-e", assignment)
    output = " ".join((result.stdout + result.stderr).split())
    assert result.returncode != 0, output[-4000:]
    # The failure's own message names the variable, not the argument spec it echoes.
    failure = output[output.index("fatal:"):]
    assert message in failure.split("argument_spec_data")[0], output[-4000:]
    assert changed_count(result) == 0
