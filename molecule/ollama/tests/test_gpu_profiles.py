"""The GPU profile the role chooses with its default registry and profiles, from replayed captures.

gpu_profiles.yml runs the role's gpu.yml (inferno.runners.gpu_facts, then the choice) on hosts that
are the controller itself, one per case, each with an nvidia-smi stand-in answering from a real
capture (tests/doubles/nvidia-smi/captures) or a copy with another memory size. No container takes
part, so every case costs one local module run.
"""
from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path

import pytest
import yaml

from conftest import playbook

DOUBLES = Path(os.environ["MOLECULE_PROJECT_DIRECTORY"]) / "tests" / "doubles" / "nvidia-smi"
CAPTURES = DOUBLES / "captures"
A100_MIG_UUIDS = [f"MIG-a1000000-0000-5000-8000-00000000000{n}" for n in (3, 4, 5, 6)]


def without_mig(product: str, memory_mib: int) -> str:
    """The A100 capture as a GPU of another size with MIG off, as such a card reports itself."""
    xml = (CAPTURES / "a100-sxm4-80gb-mig.xml").read_text()
    xml = xml.replace("<product_name>NVIDIA A100-SXM4-80GB</product_name>", f"<product_name>{product}</product_name>")
    xml = re.sub(r"<(current|pending)_mig>Enabled<", r"<\1_mig>Disabled<", xml)
    xml = re.sub(r"<mig_devices>.*</mig_devices>", "<mig_devices>None</mig_devices>", xml, flags=re.S)
    assert xml.count("<total>81920 MiB</total>") == 1
    return xml.replace("<total>81920 MiB</total>", f"<total>{memory_mib} MiB</total>")


# case: (nvidia-smi -q -x answer or None for a host without nvidia-smi, role variables, expected)
CASES = {
    # 15 GiB is 62% of a10-24gb's 24: too far below the 90% margin.
    "t4-16gb": ((CAPTURES / "tesla-t4-1gpu.xml").read_text(), {},
                {"profile": "cpu-only", "memory_mib": 15360, "devices": ["GPU-d37e67a5-91dd-3774-a5cb-99096249601a"]}),
    # An A10 "24 GB" reports 23028 MiB, 94% of 24 GiB.
    "a10-24gb": (without_mig("NVIDIA A10", 23028), {},
                 {"profile": "a10-24gb", "memory_mib": 23028, "devices": ["GPU-513536b6-7d19-9063-b049-1e69664bb298"]}),
    "a100-40gb": (without_mig("NVIDIA A100-PCIE-40GB", 40536), {},
                  {"profile": "a100-40gb", "memory_mib": 40536, "devices": ["GPU-513536b6-7d19-9063-b049-1e69664bb298"]}),
    # An H100 "80 GB" reports 81559 MiB, 99.6% of 80 GiB.
    "h100-80gb": (without_mig("NVIDIA H100 80GB HBM3", 81559), {},
                  {"profile": "h100-80gb", "memory_mib": 81559, "devices": ["GPU-513536b6-7d19-9063-b049-1e69664bb298"]}),
    # An 80 GB A100 split into four 20 GB MIG slices: models must fit one slice.
    "a100-80gb-mig": ((CAPTURES / "a100-sxm4-80gb-mig.xml").read_text(), {},
                      {"profile": "cpu-only", "memory_mib": 19968, "devices": A100_MIG_UUIDS}),
    # The profile follows the devices Ollama is given, not every device of the host.
    "a100-mig-given-two-slices": ((CAPTURES / "a100-sxm4-80gb-mig.xml").read_text(),
                              {"ollama_cuda_visible_devices": A100_MIG_UUIDS[:2]},
                              {"profile": "cpu-only", "memory_mib": 19968, "devices": A100_MIG_UUIDS[:2]}),
    "no-gpu": (None, {}, {"profile": "cpu-only", "memory_mib": 0, "devices": []}),
    "profile-named": ((CAPTURES / "tesla-t4-1gpu.xml").read_text(), {"ollama_gpu_profile": "a100-40gb"},
                      {"profile": "a100-40gb", "memory_mib": 15360, "devices": ["GPU-d37e67a5-91dd-3774-a5cb-99096249601a"]}),
}
# Profiles without a 0 GiB one leave a host without GPU nothing to choose.
NO_FIT = {"ollama_gpu_profiles": {"h100-80gb": {"min_memory_gib": 80, "models": [{"name": "llama3.3-70b"}]}}}


@pytest.fixture(scope="module")
def choices(tmp_path_factory):
    work = tmp_path_factory.mktemp("gpu-profiles")
    hosts = {}
    for case, (xml, role_vars, _expected) in {**CASES, "no-fit": (None, NO_FIT, None)}.items():
        host_vars = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable,
                     "ollama_test_output": str(work), **role_vars}
        if xml is not None:
            (work / f"{case}.xml").write_text(xml)
            wrapper = work / f"{case}-nvidia-smi"
            wrapper.write_text(
                "#!/bin/sh\n"
                f"export NVIDIA_SMI_DOUBLE_XML={work / (case + '.xml')}\n"
                f"export NVIDIA_SMI_DOUBLE_LIST={CAPTURES / 'a100-sxm4-80gb-mig-L.txt'}\n"
                f"exec {sys.executable} {DOUBLES / 'nvidia_smi.py'} \"$@\"\n")
            wrapper.chmod(0o755)
            host_vars["ollama_nvidia_smi_path"] = str(wrapper)
        hosts[case] = host_vars
    inventory = work / "inventory.yml"
    inventory.write_text(yaml.safe_dump({"all": {"hosts": hosts}}))
    run = playbook("gpu_profiles.yml", inventory=str(inventory))
    found = {path.stem: json.loads(path.read_text()) for path in work.glob("*.json")}
    return run, found


@pytest.mark.parametrize("case", CASES)
def test_profile_is_chosen_from_the_device_memory(choices, case):
    run, found = choices
    assert case in found, run
    expected = CASES[case][2]
    assert found[case]["profile"] == expected["profile"]
    assert found[case]["memory_mib"] == expected["memory_mib"]
    assert found[case]["environment"].get("CUDA_VISIBLE_DEVICES", "") == ",".join(expected["devices"])
    assert found[case]["gpu_host"] == bool(expected["devices"])


def test_each_profile_brings_its_models(choices):
    _run, found = choices
    assert found["h100-80gb"]["models"] == ["llama3.3:70b-instruct-q4_K_M", "qwen2.5:32b-instruct-q8_0",
                                            "nomic-embed-text:v1.5"]
    assert found["a10-24gb"]["models"] == ["llama3.1:8b-instruct-q8_0", "llama3.2:3b-instruct-q4_K_M",
                                           "nomic-embed-text:v1.5"]
    assert found["no-gpu"]["models"] == ["qwen2.5:0.5b-instruct-q4_K_M", "llama3.2:1b-instruct-q8_0",
                                         "nomic-embed-text:v1.5"]


def test_a_host_no_profile_fits_stops_the_play(choices):
    run, found = choices
    assert "no-fit" not in found
    assert "No profile of ollama_gpu_profiles fits this host (smallest CUDA device: 0 MiB)" in run.failures("no-fit")
