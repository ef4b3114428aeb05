"""A converged Ollama host: release, sandboxed service, environment, user, models, no repeated pulls.

Read-only: test_lifecycle.py, which runs after this file, changes the hosts.
"""
from __future__ import annotations

import json
import re

from conftest import CPU_HOST, FIRST_CONVERGE_LOG, GPU_HOST, HAND_PULLED_MODEL, api, local_facts, requests, server
from molecule_check_mode import assert_check_mode_reports_no_change

MIG_UUID_RE = re.compile(r"\(UUID: (MIG-[^)]+)\)")

EXPECTED = {
    CPU_HOST: {
        "env": {
            "OLLAMA_HOST": "127.0.0.1:11500",
            "OLLAMA_MODELS": "/srv/ollama/models",
            "OLLAMA_KEEP_ALIVE": "10m",
            "OLLAMA_NUM_PARALLEL": "2",
            "OLLAMA_MAX_LOADED_MODELS": "1",
            "OLLAMA_MAX_QUEUE": "64",
            "OLLAMA_FLASH_ATTENTION": "1",
            "OLLAMA_KV_CACHE_TYPE": "q8_0",
        },
        "models": {"llama3.2:1b", "qwen2.5:0.5b"},
        # ollama_models is set: no profile.
        "profile": "",
    },
    GPU_HOST: {
        # Settings left at their defaults are not written, so Ollama keeps its own.
        "env": {
            "OLLAMA_HOST": "0.0.0.0:11434",
            "OLLAMA_MODELS": "/usr/share/ollama/.ollama/models",
            "OLLAMA_KEEP_ALIVE": "5m",
            "OLLAMA_MAX_QUEUE": "512",
        },
        "models": {"llama3.2:3b-instruct-q4_K_M", "nomic-embed-text:latest"},
        # Four 1g.20gb MIG devices of 19968 MiB: 20 GiB fits within the 10% margin, 24 does not.
        "profile": "a100-mig-20gb",
    },
}


def expected(host):
    return EXPECTED[host.backend.get_hostname()]


def test_service_runs_and_answers(host):
    service = host.service("ollama")
    assert service.is_running
    assert service.is_enabled
    assert api(host, "/api/version") == {"version": "0.12.6"}


def test_release_is_unpacked_in_upstream_layout(host):
    assert host.file("/usr/local/bin/ollama").mode == 0o755
    assert host.file("/usr/local/lib/ollama/standin-catalogue.json").is_file
    assert host.file("/usr/local/lib/ollama/.inferno-ollama-version").content_string == "0.12.6\n"
    # The archive is removed once unpacked.
    assert host.check_output("ls -A /var/cache/inferno-ollama") == ""
    assert server(host)["version"] == "0.12.6"


def test_unit_runs_ollama_serve_with_restart(host):
    show = host.check_output("systemctl show ollama -p ExecStart -p Restart -p RestartUSec -p User -p EnvironmentFiles")
    assert "argv[]=/usr/local/bin/ollama serve ;" in show
    assert "Restart=always" in show
    assert "RestartUSec=3s" in show
    assert "User=ollama" in show
    assert "EnvironmentFiles=/etc/ollama/ollama.env " in show


def test_unit_is_ordered_after_the_gpu_persistence_daemon(host):
    after = host.check_output("systemctl show ollama -p After --value").split()
    wants = host.check_output("systemctl show ollama -p Wants --value").split()
    assert "nvidia-persistenced.service" in after
    # Pulled in only where gpu_facts found an NVIDIA GPU.
    assert ("nvidia-persistenced.service" in wants) == (host.backend.get_hostname() == GPU_HOST)


def test_unit_is_sandboxed_but_reaches_gpu_devices(host):
    show = dict(line.split("=", 1) for line in host.check_output(
        "systemctl show ollama -p ProtectSystem -p ProtectHome -p PrivateTmp -p NoNewPrivileges"
        " -p PrivateDevices -p DevicePolicy -p ReadWritePaths -p CapabilityBoundingSet").splitlines())
    assert show["ProtectSystem"] == "strict"
    assert show["ProtectHome"] == "yes"
    assert show["PrivateTmp"] == "yes"
    assert show["NoNewPrivileges"] == "yes"
    # A private /dev would hold no GPU node: the device policy limits the service instead.
    assert show["PrivateDevices"] == "no"
    assert show["DevicePolicy"] == "closed"
    assert show["CapabilityBoundingSet"] == ""
    assert show["ReadWritePaths"].split() == ["/usr/share/ollama", expected(host)["env"]["OLLAMA_MODELS"]]
    allowed = host.check_output("systemctl show ollama -p DeviceAllow --value")
    for device in ("char-nvidia* rw", "char-drm rw", "char-kfd rw"):
        assert device in allowed


def test_sandbox_is_in_force_for_the_running_server(host):
    pid = host.check_output("systemctl show ollama -p MainPID --value")
    status = host.file(f"/proc/{pid}/status").content_string
    assert re.search(r"^NoNewPrivs:\s+1$", status, re.M)
    assert re.search(r"^CapEff:\s+0+$", status, re.M)
    mounts = {fields[4]: fields[5] for fields in (line.split() for line in host.file(f"/proc/{pid}/mountinfo").content_string.splitlines())}

    def options(path):
        # The innermost mount holding the path decides.
        return mounts[max((point for point in mounts if path == point or path.startswith(point.rstrip("/") + "/")), key=len)]

    assert options("/usr/local/bin/ollama").startswith("ro,")
    assert options("/etc/ollama/ollama.env").startswith("ro,")
    assert options("/usr/share/ollama").startswith("rw,")
    assert options(expected(host)["env"]["OLLAMA_MODELS"] + "/manifests").startswith("rw,")
    # systemd's own measure of the unit: 0 is fully confined, 10 not at all.
    exposure = host.check_output("systemd-analyze security ollama.service --no-pager | tail -n 1")
    assert float(re.search(r"level for ollama\.service: ([0-9.]+)", exposure).group(1)) <= 3.5, exposure


def test_environment_reached_the_server(host):
    state = server(host)
    want = dict(expected(host)["env"])
    if host.backend.get_hostname() == GPU_HOST:
        # Every MIG device nvidia-smi lists, by UUID; the GPU itself is in MIG mode and unusable.
        want["CUDA_VISIBLE_DEVICES"] = ",".join(MIG_UUID_RE.findall(host.check_output("nvidia-smi -L")))
        assert want["CUDA_VISIBLE_DEVICES"].count("MIG-") == 4
    assert state["env"] == want
    assert state["listen"] == want["OLLAMA_HOST"]
    assert state["models"] == want["OLLAMA_MODELS"]
    assert state["uid"] == host.user("ollama").uid
    assert state["gid"] == host.group("ollama").gid
    assert host.file("/etc/ollama/ollama.env").mode == 0o600


def test_ollama_is_a_system_user_in_the_gpu_groups(host):
    user = host.user("ollama")
    assert user.uid < 1000
    assert user.home == "/usr/share/ollama"
    assert user.shell == "/bin/false"
    assert {"render", "video"} <= set(user.groups)
    assert host.group("render").gid < 1000
    assert host.file("/usr/share/ollama").user == "ollama"
    assert host.file(expected(host)["env"]["OLLAMA_MODELS"]).user == "ollama"


def test_models_are_listed_and_stored_intact(host):
    models_dir = expected(host)["env"]["OLLAMA_MODELS"]
    assert {model["name"] for model in api(host, "/api/tags")["models"]} == expected(host)["models"]
    # Every blob the manifests name is on disk and hashes to its name.
    blobs = dict(reversed(line.split()) for line in host.check_output(f"cd {models_dir}/blobs && sha256sum sha256-*").splitlines())
    assert all(name == "sha256-" + digest for name, digest in blobs.items())
    for model in expected(host)["models"]:
        name, tag = model.split(":")
        manifest = host.file(f"{models_dir}/manifests/registry.ollama.ai/library/{name}/{tag}")
        assert manifest.user == "ollama"
        content = json.loads(manifest.content_string)
        for layer in [content["config"], *content["layers"]]:
            assert layer["digest"].replace(":", "-") in blobs


def test_each_model_was_pulled_once_and_never_again(host):
    first = requests(host, "/api/pull", log=FIRST_CONVERGE_LOG)
    assert sorted(entry["model"] for entry in first) == sorted(expected(host)["models"])
    assert all(entry["status"] == 200 for entry in first)
    # The idempotence run and every run of the verifier pulled nothing...
    assert [entry for entry in requests(host, "/api/pull") if entry["model"] != HAND_PULLED_MODEL] == first
    # ...although they did ask the server which models it has: the log is still being written.
    assert len(requests(host, "/api/tags")) > len(requests(host, "/api/tags", log=FIRST_CONVERGE_LOG))


def test_local_facts_say_what_the_host_serves(host):
    facts = local_facts(host)
    assert facts["version"] == "0.12.6"
    assert facts["gpu_profile"] == expected(host)["profile"]
    assert set(facts["models"]) == expected(host)["models"]


def test_check_mode_reports_no_change():
    assert_check_mode_reports_no_change()
