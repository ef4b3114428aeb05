"""What happens to a converged host next: a restart, bad input, an upgrade, a model outside the list.

Runs after test_default.py (which only reads) and leaves both hosts converged again.
"""
from __future__ import annotations

import pytest

from conftest import CPU_HOST, GPU_HOST, HAND_PULLED_MODEL, api, converge, converge_as_aliases, host_state, requests, server, wait_for_api


def test_the_service_comes_back_after_a_restart(cpu_host):
    before = server(cpu_host)["pid"]
    cpu_host.check_output("systemctl restart ollama")
    assert wait_for_api(cpu_host) == {"version": "0.12.6"}
    assert server(cpu_host)["pid"] != before
    assert cpu_host.service("ollama").is_running


# Each must stop the play before anything is downloaded or changed, naming the variable to fix.
BAD_INPUT = {
    "unknown-gpu-profile": (
        {"ollama_gpu_profile": "b200-192gb"},
        ["ollama_gpu_profile 'b200-192gb' is not auto nor a profile of ollama_gpu_profiles",
         "(known: a10-24gb, a100-mig-20gb, cpu-only)"]),
    "unknown-quantization": (
        {"ollama_models": [{"name": "llama3.2", "quantization": "q2_K"}]},
        ["ollama_models[0]", "asks for quantization q2_K of llama3.2, which "
         "ollama_model_registry[llama3.2].quantizations does not list (known: q4_K_M)"]),
    "profile-model-not-in-registry": (
        {"ollama_gpu_profiles": {"cpu-only": {"min_memory_gib": 0, "models": [{"name": "mistral"}]}}},
        ["ollama_gpu_profiles['cpu-only'].models", "names mistral, which ollama_model_registry does not define"]),
    "registry-tag-ollama-refuses": (
        {"ollama_model_registry": {"llama3.2": {"quantizations": {"q4_K_M": "llama3.2:3b instruct"},
                                                "default_quantization": "q4_K_M"}}},
        ['ollama_model_registry[\'llama3.2\']: quantizations lists "llama3.2:3b instruct", not a valid Ollama tag']),
    "profile-too-small-for-its-model": (
        {"ollama_gpu_profiles": {"a10-24gb": {"min_memory_gib": 2, "models": [{"name": "llama3.2"}]}}},
        ["ollama_gpu_profiles['a10-24gb'].models", "needs 4 GiB of GPU memory"]),
    "kv-cache-type-outside-choices": (
        {"ollama_kv_cache_type": "q5_1"},
        ["ollama_kv_cache_type", "q5_1"]),
    "models-dir-the-sandbox-hides": (
        {"ollama_models_dir": "/home/ollama/models"},
        ["ollama_models_dir ('/home/ollama/models')", "ProtectHome"]),
    # A new release whose archive does not match: refused on the controller, before the copy.
    "wrong-checksum": (
        {"ollama_version": "0.13.0", "ollama_checksum": "sha256:" + "0" * 64},
        ["ollama_archive_src", "ollama-archives/0.13.0/ollama-linux-amd64.tar.zst has sha256",
         "but ollama_checksum says " + "0" * 64]),
}


@pytest.fixture(scope="module")
def bad_input_run(cpu_host):
    """Every case at once, as aliases of the CPU host, and the host before and after."""
    before = host_state(cpu_host)
    run = converge_as_aliases(CPU_HOST, {case: extra for case, (extra, _messages) in BAD_INPUT.items()})
    return before, run, host_state(cpu_host)


@pytest.mark.parametrize("case", BAD_INPUT)
def test_bad_input_stops_the_play_naming_the_variable(bad_input_run, case):
    _before, run, _after = bad_input_run
    assert run.returncode != 0, run
    failures = run.failures(case)
    for message in BAD_INPUT[case][1]:
        assert message in failures, run
    assert run.stats(case)["changed"] == 0, run


def test_bad_input_changed_nothing_on_the_host(bad_input_run):
    before, _run, after = bad_input_run
    assert after == before


@pytest.fixture(scope="module")
def upgrade_cycle(gpu_host):
    """The GPU host upgraded to 0.13.0 from the mirror, then back to the inventory's 0.12.6.

    A model pulled by hand first stands for one dropped from the list: it must survive the upgrade
    run, which leaves ollama_models_remove_unlisted at its default, and go with the run that sets it.
    """
    gpu_host.check_output("OLLAMA_HOST=127.0.0.1:11434 /usr/local/bin/ollama pull %s", HAND_PULLED_MODEL)
    seen = {"before": {"server": server(gpu_host), "models": api(gpu_host, "/api/tags")["models"],
                       "pulls": len(requests(gpu_host, "/api/pull")), "deletes": len(requests(gpu_host, "/api/delete"))}}
    run = converge(limit=GPU_HOST, extra_vars={"ollama_version": "0.13.0"})
    seen["upgrade"] = {"run": run, "server": server(gpu_host), "version": api(gpu_host, "/api/version"),
                       "models": api(gpu_host, "/api/tags")["models"], "pulls": len(requests(gpu_host, "/api/pull")),
                       "marker": gpu_host.file("/usr/local/lib/ollama/.inferno-ollama-version").content_string,
                       "readme": gpu_host.file("/usr/local/lib/ollama/README.standin").content_string,
                       "downloads": gpu_host.check_output("ls -A /var/cache/inferno-ollama")}
    run = converge(limit=GPU_HOST, extra_vars={"ollama_models_remove_unlisted": True})
    seen["back"] = {"run": run, "version": api(gpu_host, "/api/version"),
                    "models": {model["name"] for model in api(gpu_host, "/api/tags")["models"]},
                    "pulls": len(requests(gpu_host, "/api/pull")), "deleted": requests(gpu_host, "/api/delete")[seen["before"]["deletes"]:]}
    return seen


def test_a_new_version_replaces_the_release(upgrade_cycle):
    upgrade = upgrade_cycle["upgrade"]
    assert upgrade["run"].returncode == 0, upgrade["run"]
    assert upgrade["run"].stats(GPU_HOST)["changed"] > 0
    assert upgrade["version"] == {"version": "0.13.0"}
    assert upgrade["server"]["version"] == "0.13.0"
    assert upgrade["server"]["pid"] != upgrade_cycle["before"]["server"]["pid"]
    assert upgrade["marker"] == "0.13.0\n"
    assert "stand-in 0.13.0" in upgrade["readme"]
    assert upgrade["downloads"] == ""


def test_an_upgrade_keeps_the_models_and_pulls_nothing(upgrade_cycle):
    upgrade = upgrade_cycle["upgrade"]
    # The hand-pulled model included: nothing is removed unless asked.
    assert upgrade["models"] == upgrade_cycle["before"]["models"]
    assert HAND_PULLED_MODEL in {model["name"] for model in upgrade["models"]}
    assert upgrade["pulls"] == upgrade_cycle["before"]["pulls"]


def test_going_back_to_the_inventory_release(upgrade_cycle):
    back = upgrade_cycle["back"]
    assert back["run"].returncode == 0, back["run"]
    assert back["version"] == {"version": "0.12.6"}
    assert back["pulls"] == upgrade_cycle["before"]["pulls"]


def test_unlisted_models_are_removed_when_asked(upgrade_cycle):
    back = upgrade_cycle["back"]
    assert back["models"] == {"llama3.2:3b-instruct-q4_K_M", "nomic-embed-text:latest"}
    assert [entry["model"] for entry in back["deleted"]] == [HAND_PULLED_MODEL]
