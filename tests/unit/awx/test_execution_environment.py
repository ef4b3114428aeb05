"""`ansible-builder create` turns execution-environment.yml into a build context with our needs in it."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
BUILDER = Path(sys.executable).parent / "ansible-builder"


@pytest.mark.skipif(not BUILDER.exists() and not shutil.which("ansible-builder"), reason="ansible-builder is not installed")
def test_ansible_builder_create_succeeds(tmp_path):
    builder = str(BUILDER) if BUILDER.exists() else shutil.which("ansible-builder")
    result = subprocess.run(
        [builder, "create", "-f", "execution-environment.yml", "-c", str(tmp_path / "context")],
        cwd=REPO, capture_output=True, text=True, timeout=120, check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    context = tmp_path / "context"
    recipe = next(p for p in (context / "Containerfile", context / "Dockerfile") if p.exists())
    text = recipe.read_text()
    assert "quay.io/centos/centos:stream9" in text
    assert "ansible-core==2.19.14" in text
    assert "cryptography" in (context / "_build" / "requirements.txt").read_text()
    galaxy = (context / "_build" / "requirements.yml").read_text()
    for collection in ("community.docker", "community.general", "ansible.posix", "awx.awx", "inferno.runners"):
        assert collection in galaxy
    assert "openssh-client" in (context / "_build" / "bindep.txt").read_text()
