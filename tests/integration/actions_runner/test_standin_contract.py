# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The actions/runner stand-in (tests/doubles/actions-runner) keeps the runner's contract.

Each test unpacks the x64 archive build-archive.sh makes, as the github_runner role does, and
drives config.sh / run.sh against a fresh fake GitHub (tests/doubles/github) at a GHES-style URL.
"""
from __future__ import annotations

import base64
import json
import os
import platform
import signal
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from tests.doubles.github.fixtures import fake_github  # noqa: E402,F401  # pylint: disable=unused-import

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(platform.machine() not in ("x86_64", "AMD64"), reason="the tests unpack the x64 archive"),
]

BUILD = REPO / "tests" / "doubles" / "actions-runner" / "build-archive.sh"
VERSION = "2.330.0"


@pytest.fixture(scope="module")
def archives(tmp_path_factory):
    out = tmp_path_factory.mktemp("archives")
    subprocess.run(["bash", str(BUILD), str(out)], check=True, capture_output=True, text=True)
    return out


@pytest.fixture
def root(archives, tmp_path):
    target = tmp_path / "runner"
    target.mkdir()
    with tarfile.open(archives / f"actions-runner-linux-x64-{VERSION}.tar.gz") as archive:
        archive.extractall(target, filter="tar")
    return target


def env(**extra):
    base = {k: v for k, v in os.environ.items() if not k.startswith(("ACTIONS_RUNNER_INPUT_", "RUNNER_"))}
    base["RUNNER_ALLOW_RUNASROOT"] = "1"
    base.update(extra)
    return base


def config(root, *args, **extra):
    return subprocess.run(["./config.sh", *args], cwd=root, env=env(**extra), capture_output=True, text=True, timeout=60,
                          check=False)


def url(fake, scope="octo-org/octo-repo"):
    return f"{fake.url}/{scope}"


def registration_token(fake, scope="repos/octo-org/octo-repo", kind="registration"):
    import requests

    response = requests.post(f"{fake.url}/{scope}/actions/runners/{kind}-token",
                             headers={"Authorization": "Bearer " + fake.credential("admin")}, timeout=10)
    assert response.status_code == 201, response.text
    return response.json()["token"]


def configured(fake, root, name="r1", *extra):
    token = registration_token(fake)
    result = config(root, "--unattended", "--url", url(fake), "--name", name, *extra, ACTIONS_RUNNER_INPUT_TOKEN=token)
    assert result.returncode == 0, result.stdout + result.stderr
    return token, result


def test_build_is_reproducible_and_has_the_release_layout(archives, tmp_path):
    again = tmp_path / "again"
    printed = subprocess.run(["bash", str(BUILD), str(again)], check=True, capture_output=True, text=True).stdout
    assert printed == (archives / "sha256sums.txt").read_text()
    names = sorted(line.split()[1] for line in printed.splitlines())
    assert names == sorted(f"actions-runner-linux-{arch}-{VERSION}.tar.gz" for arch in ("x64", "arm64", "arm"))
    with tarfile.open(archives / f"actions-runner-linux-arm64-{VERSION}.tar.gz") as archive:
        members = {m.name.removeprefix("./"): m for m in archive.getmembers()}
        listener = archive.extractfile(members["bin/Runner.Listener"]).read().decode()
    for path in ("config.sh", "run.sh", "env.sh", "run-helper.sh.template", "safe_sleep.sh", "bin/Runner.Listener",
                 "externals"):
        assert path in members, path
    assert all(m.uid == 0 and m.gid == 0 for m in members.values())
    assert members["run.sh"].mode == 0o755 and members["run-helper.sh.template"].mode == 0o755
    assert listener.startswith("#!/usr/bin/env python3\n# Stands in for bin/Runner.Listener of actions/runner")
    assert f'RUNNER_VERSION = "{VERSION}"' in listener and 'RUNNER_ARCH = "arm64"' in listener


def test_config_refuses_root_without_runner_allow_runasroot(fake_github, root):
    if os.geteuid() != 0:
        pytest.skip("needs root to see the refusal")
    result = subprocess.run(["./config.sh", "--unattended"], cwd=root, env={"PATH": os.environ["PATH"]},
                            capture_output=True, text=True, timeout=30, check=False)
    assert result.returncode == 1 and "Must not run with sudo" in result.stdout
    assert not (root / ".runner").exists()


def test_unknown_flags_are_refused_in_the_runners_words(fake_github, root):
    result = config(root, "--unattended", "--url", url(fake_github), "--token", "x", "--labelz", "gpu")
    assert result.returncode == 1
    assert ("Unrecognized command-line input arguments for command configure: 'labelz'. "
            "For usage refer to: .\\config.cmd --help or ./config.sh --help") in result.stderr
    assert fake_github.runners() == []


def test_configure_from_the_environment_writes_the_runner_files(fake_github, root):
    token, result = configured(fake_github, root, "r1", "--labels", "gpu,cuda:12.2", "--work", "/scratch/r1",
                               "--replace", "--disableupdate", "--runnergroup", "Default")
    settings = json.loads((root / ".runner").read_text())
    runner = fake_github.runners("repos/octo-org/octo-repo")[0]
    assert settings["agentId"] == runner["id"] and settings["agentName"] == "r1"
    assert settings["gitHubUrl"] == url(fake_github) and settings["workFolder"] == "/scratch/r1"
    assert settings["poolId"] == 1 and settings["disableUpdate"] is True
    assert [label["name"] for label in runner["labels"]] == ["self-hosted", "Linux", "X64", "gpu", "cuda:12.2"]
    for name in (".credentials", ".credentials_rsaparams"):
        assert (root / name).stat().st_mode & 0o777 == 0o600
    assert (root / "svc.sh").exists()
    # The token is masked everywhere the runner writes.
    everything = "".join(p.read_text(errors="replace") for p in root.rglob("*") if p.is_file())
    assert token not in everything + result.stdout + result.stderr


def test_an_already_configured_root_is_refused(fake_github, root):
    configured(fake_github, root)
    again = config(root, "--unattended", "--url", url(fake_github), "--name", "r2",
                   ACTIONS_RUNNER_INPUT_TOKEN=registration_token(fake_github))
    assert again.returncode == 1
    assert "Cannot configure the runner because it is already configured" in again.stderr


def test_replace_keeps_the_id_and_the_runner_group(fake_github, root, tmp_path):
    token = registration_token(fake_github, "orgs/octo-org")
    first = config(root, "--unattended", "--url", url(fake_github, "octo-org"), "--name", "g1", "--runnergroup", "gpu",
                   ACTIONS_RUNNER_INPUT_TOKEN=token)
    assert first.returncode == 0, first.stderr
    before = fake_github.runners("orgs/octo-org")[0]
    other = tmp_path / "other"
    other.mkdir()
    for entry in root.iterdir():
        if not entry.name.startswith(".") and entry.name != "_diag":
            subprocess.run(["cp", "-a", str(entry), str(other)], check=True)
    refused = config(other, "--unattended", "--url", url(fake_github, "octo-org"), "--name", "g1", "--runnergroup", "gpu",
                     ACTIONS_RUNNER_INPUT_TOKEN=token)
    assert refused.returncode == 1 and "A runner exists with the same name g1." in refused.stderr
    replaced = config(other, "--unattended", "--url", url(fake_github, "octo-org"), "--name", "g1", "--runnergroup", "gpu",
                      "--replace", ACTIONS_RUNNER_INPUT_TOKEN=token)
    assert replaced.returncode == 0 and "Successfully replaced the runner" in replaced.stdout
    after = fake_github.runners("orgs/octo-org")[0]
    assert after["id"] == before["id"] and after["runner_group_id"] == 2


def test_a_missing_runner_group_fails_clearly(fake_github, root):
    result = config(root, "--unattended", "--url", url(fake_github, "octo-org"), "--name", "g1", "--runnergroup", "nope",
                    ACTIONS_RUNNER_INPUT_TOKEN=registration_token(fake_github, "orgs/octo-org"))
    assert result.returncode == 1 and 'Could not find any self-hosted runner group named "nope".' in result.stderr


def start(root, **extra):
    return subprocess.Popen(["./run.sh"], cwd=root, env=env(RUNNER_MANUALLY_TRAP_SIG="1",
                                                            ACTIONS_RUNNER_RETURN_VERSION_DEPRECATED_EXIT_CODE="1", **extra),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)


def wait_until(predicate, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


def test_run_holds_a_session_logs_listening_and_goes_offline_on_sigterm(fake_github, root):
    configured(fake_github, root)
    process = start(root)
    try:
        assert wait_until(lambda: fake_github.runners()[0]["status"] == "online")
        assert wait_until(lambda: any("Listening for Jobs" in p.read_text() for p in (root / "_diag").glob("Runner_*.log")))
        process.send_signal(signal.SIGTERM)
        output = process.communicate(timeout=20)[0]
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    assert process.returncode == 0, output
    assert fake_github.runners()[0]["status"] == "offline"
    assert "Exiting..." in output


def test_exit_code_7_passes_through_run_sh(fake_github, root):
    configured(fake_github, root)
    (root / ".standin-hooks").mkdir()
    (root / ".standin-hooks" / "exit-code").write_text("7")
    process = start(root)
    output = process.communicate(timeout=30)[0]
    assert process.returncode == 7, output
    assert "deprecated" in output
    assert not (root / ".standin-hooks" / "exit-code").exists(), "a hook is consumed by the run that reads it"


def test_remove_needs_the_service_uninstalled_and_takes_only_its_inputs(fake_github, root):
    configured(fake_github, root)
    (root / ".service").write_text("actions.runner.octo-org-octo-repo.r1.service\n")
    blocked = config(root, "remove", ACTIONS_RUNNER_INPUT_TOKEN=registration_token(fake_github, kind="remove"))
    assert blocked.returncode == 1 and "Unconfigure service first" in blocked.stderr
    (root / ".service").unlink()
    extra = config(root, "remove", "--name", "r1", "--token", "x")
    assert extra.returncode == 1 and "for command remove: 'name'" in extra.stderr
    removed = config(root, "remove", ACTIONS_RUNNER_INPUT_TOKEN=registration_token(fake_github, kind="remove"))
    assert removed.returncode == 0, removed.stderr
    assert fake_github.runners() == []
    assert not any((root / name).exists() for name in (".runner", ".credentials", ".credentials_rsaparams"))


def test_jitconfig_from_the_environment_writes_the_files_and_one_job_ends_it(fake_github, root):
    import requests

    response = requests.post(f"{fake_github.url}/repos/octo-org/octo-repo/actions/runners/generate-jitconfig",
                             headers={"Authorization": "Bearer " + fake_github.credential("admin")},
                             json={"name": "jit-1", "runner_group_id": 1, "labels": ["one-shot"]}, timeout=10)
    assert response.status_code == 201, response.text
    encoded = response.json()["encoded_jit_config"]
    (root / ".standin-hooks").mkdir()
    (root / ".standin-hooks" / "job").write_text("1")
    process = start(root, ACTIONS_RUNNER_INPUT_JITCONFIG=encoded)
    output = process.communicate(timeout=60)[0]
    assert process.returncode == 0, output
    assert "Listening for Jobs" in output and "Ephemeral runner is done" in output
    # GitHub deletes an ephemeral runner after its job; the runner deletes its own files.
    assert fake_github.runners() == []
    assert not (root / ".runner").exists()
    assert encoded not in "".join(p.read_text(errors="replace") for p in root.rglob("*") if p.is_file())
    assert json.loads(base64.b64decode(encoded))  # what was handed over was a real JIT configuration


def test_the_wrong_architecture_does_not_start(archives, tmp_path):
    target = tmp_path / "arm"
    target.mkdir()
    with tarfile.open(archives / f"actions-runner-linux-arm64-{VERSION}.tar.gz") as archive:
        archive.extractall(target, filter="tar")
    result = subprocess.run([str(target / "bin" / "Runner.Listener"), "--version"], capture_output=True, text=True,
                            timeout=30, check=False)
    assert result.returncode == 126 and "Exec format error" in result.stderr


def test_flags_come_from_the_environment_too(fake_github, root):
    token = registration_token(fake_github)
    result = config(root, "--unattended", ACTIONS_RUNNER_INPUT_URL=url(fake_github), ACTIONS_RUNNER_INPUT_NAME="env-1",
                    ACTIONS_RUNNER_INPUT_TOKEN=token, ACTIONS_RUNNER_INPUT_LABELS="x64",
                    ACTIONS_RUNNER_INPUT_NO_DEFAULT_LABELS="true", ACTIONS_RUNNER_INPUT_EPHEMERAL="true")
    assert result.returncode == 0, result.stderr
    runner = fake_github.runners()[0]
    assert runner["name"] == "env-1" and runner["ephemeral"] is True
    assert [(label["name"], label["type"]) for label in runner["labels"]] == [("x64", "custom")]
