# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The GitHub modules against the stateful fake GitHub (tests/doubles/github/fake_github.py).

Modules run in-process through main() with real HTTP and real time, so retries and rate-limit
waits are measured, not simulated; the App-token test runs ansible-playbook so that every task is
its own process, as in production. Fault timings are written to tests/output/github_faults.md.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from ansible.module_utils.testing import patch_module_args

from ansible_collections.inferno.runners.plugins.modules import github_runner, github_runner_info, github_runner_token

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[3]
FAULTS_REPORT = REPO / "tests" / "output" / "github_faults.md"
MODULES = {
    "github_runner_token": github_runner_token,
    "github_runner_info": github_runner_info,
    "github_runner": github_runner,
}
ACCESS_TOKENS = r"^/app/installations/\d+/access_tokens$"

FAULT_ROWS = []


@pytest.fixture(scope="module", autouse=True)
def fault_report():
    """Collects one row per fault test and writes the table when the module's tests are done."""
    yield
    if not FAULT_ROWS:
        return
    lines = ["# GitHub modules: injected faults against the fake GitHub", "",
             "| Fault | Behaviour | Requests | Time taken |", "| --- | --- | --- | --- |"]
    lines += ["| %s | %s | %d | %.2f s |" % row for row in FAULT_ROWS]
    FAULTS_REPORT.parent.mkdir(parents=True, exist_ok=True)
    FAULTS_REPORT.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n" + "\n".join(lines))


def settled_calls(fake_github, *filters):
    """The fake's GitHub call log once it stops growing.

    The fake records a call after sending its answer, so the log can trail the client by a moment.
    """
    calls = fake_github.github_calls(*filters)
    deadline = time.monotonic() + 2.0
    while time.monotonic() < deadline:
        time.sleep(0.05)
        again = fake_github.github_calls(*filters)
        if len(again) == len(calls):
            return again
        calls = again
    return calls


def run(capsys, module, check_mode=False, **args):
    """Run a module's main() with args; return (result, seconds taken)."""
    args.setdefault("retry_max_time", 30)
    args.setdefault("rate_limit_max_wait", 30)
    args.update(_ansible_check_mode=check_mode, _ansible_no_log=True)
    started = time.monotonic()
    with patch_module_args(args):
        with pytest.raises(SystemExit):
            MODULES[module].main()
    elapsed = time.monotonic() - started
    return json.loads(capsys.readouterr().out), elapsed


@pytest.fixture
def admin(fake_github):
    return dict(api_url=fake_github.url, token=fake_github.credential("admin"))


SCOPES = [
    ({"repository": "octo-org/octo-repo"}, "repos/octo-org/octo-repo"),
    ({"organization": "octo-org"}, "orgs/octo-org"),
    ({"enterprise": "octo-enterprise"}, "enterprises/octo-enterprise"),
]


# Tokens -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("scope, key", SCOPES)
def test_registration_and_remove_tokens_with_a_pat(capsys, fake_github, admin, scope, key):
    for kind in ("registration", "remove"):
        result, _elapsed = run(capsys, "github_runner_token", kind=kind, **dict(admin, **scope))
        assert not result.get("failed"), result
        issued = [t for t in fake_github.tokens(kind) if t["token"] == result["token"]]
        assert len(issued) == 1 and issued[0]["scope"] == key
        assert result["expires_at"] and result["changed"] is False


def test_registration_token_through_the_ghes_base_url(capsys, fake_github):
    result, _elapsed = run(capsys, "github_runner_token", api_url=fake_github.ghes_url,
                           token=fake_github.credential("admin"), organization="octo-org")
    assert not result.get("failed"), result
    assert settled_calls(fake_github, "POST")[0]["path"] == "/api/v3/orgs/octo-org/actions/runners/registration-token"


def test_the_registration_token_registers_a_runner(capsys, fake_github, admin):
    result, _elapsed = run(capsys, "github_runner_token", repository="octo-org/octo-repo", **admin)
    runner = fake_github.register_runner(registration_token=result["token"], scope="repos/octo-org/octo-repo",
                                         name="gpu-01", labels=["gpu"])
    found, _elapsed = run(capsys, "github_runner_info", repository="octo-org/octo-repo", name="gpu-01", **admin)
    assert found["runner"]["id"] == runner["id"]


def test_check_mode_mints_nothing(capsys, fake_github, admin):
    result, _elapsed = run(capsys, "github_runner_token", organization="octo-org", check_mode=True, **admin)
    assert result["token"] is None and fake_github.tokens("registration") == []
    assert [c["method"] for c in settled_calls(fake_github)] == ["GET"]


def test_headers_sent_to_github(capsys, fake_github, admin):
    run(capsys, "github_runner_token", organization="octo-org", **admin)
    call = settled_calls(fake_github, "POST")[0]
    assert call["headers"]["accept"] == "application/vnd.github+json"
    assert call["headers"]["x-github-api-version"] == "2022-11-28"
    assert call["headers"]["user-agent"].startswith("inferno.runners")
    assert call["credential"] == {"kind": "pat", "name": "admin", "scheme": "Bearer"}


# GitHub App ----------------------------------------------------------------------------------------

def app_args(fake_github, github_app, tmp_path):
    key_file = tmp_path / "app.pem"
    key_file.write_text(github_app.private_key_pem)
    key_file.chmod(0o600)
    return dict(api_url=fake_github.url, app_id=str(github_app.app_id), app_installation_id=github_app.installation_id,
                app_private_key_path=str(key_file), app_token_cache_dir=str(tmp_path / "token-cache"))


@pytest.mark.parametrize("scope, key", SCOPES[:2], ids=["repository", "organization"])
def test_app_auth_mints_one_installation_token_for_several_modules(
        capsys, fake_github, github_app, tmp_path, scope, key):
    # The fake models App installations on organizations and users only, so no enterprise case.
    args = dict(app_args(fake_github, github_app, tmp_path), **scope)
    for kind in ("registration", "remove"):
        result, _elapsed = run(capsys, "github_runner_token", kind=kind, **args)
        assert result["token"], result
        assert [t["scope"] for t in fake_github.tokens(kind) if t["token"] == result["token"]] == [key]
    result, _elapsed = run(capsys, "github_runner_info", **args)
    assert result["total_count"] == 0

    assert len(settled_calls(fake_github, "POST", ACCESS_TOKENS)) == 1
    kinds = {c["credential"]["kind"] for c in settled_calls(fake_github) if "/access_tokens" not in c["path"]}
    assert kinds == {"installation"}


def test_app_auth_in_a_playbook_mints_once_across_tasks_hosts_and_forks(fake_github, github_app, tmp_path):
    """Every task on every host is a separate process here, as in production."""
    args = app_args(fake_github, github_app, tmp_path)
    (tmp_path / "inventory.ini").write_text(
        "[runners]\n" + "".join("gpu-%02d ansible_connection=local ansible_python_interpreter=%s\n" % (i, sys.executable)
                                for i in range(1, 5)))
    (tmp_path / "play.yml").write_text(textwrap.dedent("""\
        - name: Mint tokens for every runner host as the GitHub App
          hosts: runners
          gather_facts: false
          tasks:
            - name: Mint a registration token
              inferno.runners.github_runner_token:
                organization: octo-org
                api_url: "%(api_url)s"
                app_id: "%(app_id)s"
                app_installation_id: %(app_installation_id)s
                app_private_key_path: "%(app_private_key_path)s"
                app_token_cache_dir: "%(app_token_cache_dir)s"
              no_log: true
              register: registration

            - name: Look for the host's runner
              inferno.runners.github_runner_info:
                organization: octo-org
                name: "{{ inventory_hostname }}"
                api_url: "%(api_url)s"
                app_id: "%(app_id)s"
                app_installation_id: %(app_installation_id)s
                app_private_key_path: "%(app_private_key_path)s"
                app_token_cache_dir: "%(app_token_cache_dir)s"
              register: found

            - name: Check what came back
              ansible.builtin.assert:
                that:
                  - registration.token | length > 10
                  - found.runner is none
        """ % args))
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(REPO / "tests" / "output" / "collections"),
               ANSIBLE_FORKS="4", ANSIBLE_NOCOLOR="1", ANSIBLE_LOCAL_TEMP=str(tmp_path / "ansible-tmp"),
               ANSIBLE_HOME=str(tmp_path / "ansible-home"))
    playbook = Path(sys.executable).parent / "ansible-playbook"
    started = time.monotonic()
    done = subprocess.run([str(playbook), "-i", str(tmp_path / "inventory.ini"), str(tmp_path / "play.yml")],
                          env=env, capture_output=True, text=True, timeout=300, check=False)
    elapsed = time.monotonic() - started
    assert done.returncode == 0, done.stdout + done.stderr

    assert len(settled_calls(fake_github, "POST", ACCESS_TOKENS)) == 1
    assert len(settled_calls(fake_github, "POST", "/registration-token$")) == 4
    assert len(settled_calls(fake_github, "GET", "/actions/runners$")) == 4
    for token in fake_github.tokens("installation") + fake_github.tokens("registration"):
        assert token["token"] not in done.stdout
    print("playbook with 4 hosts x 2 GitHub tasks: %.1f s, 1 installation token" % elapsed)


def test_a_bad_app_key_fails_clearly(capsys, fake_github, github_app, tmp_path):
    from tests.doubles.github.app_jwt import generate_app_key

    args = app_args(fake_github, github_app, tmp_path)
    (tmp_path / "app.pem").write_text(generate_app_key()[0])
    result, _elapsed = run(capsys, "github_runner_token", organization="octo-org", **args)
    assert result["failed"] and "GitHub App authentication failed (401" in result["msg"]
    assert "check app_id and app_private_key" in result["msg"]


# JIT ---------------------------------------------------------------------------------------------------

def test_jit_config_with_the_runner_group_by_name(capsys, fake_github, admin):
    result, _elapsed = run(capsys, "github_runner_token", organization="octo-org", kind="jit", name="jit-01",
                           labels=["gpu", "h100"], runner_group="gpu", **admin)
    assert result["changed"] is True and result["runner_group_id"] == 2, result
    runner = [r for r in fake_github.runners("orgs/octo-org") if r["name"] == "jit-01"][0]
    assert runner["runner_group_id"] == 2 and runner["jit"] is True
    assert {"gpu", "h100"} <= {label["name"] for label in runner["labels"]}
    assert result["runner"]["id"] == runner["id"] and result["encoded_jit_config"]

    again, _elapsed = run(capsys, "github_runner_token", organization="octo-org", kind="jit", name="jit-01",
                          labels=["gpu"], runner_group="gpu", **admin)
    assert again["failed"] and again["status"] == 409 and "already exists" in again["msg"]


def test_jit_with_an_unknown_group_fails_before_creating(capsys, fake_github, admin):
    result, _elapsed = run(capsys, "github_runner_token", enterprise="octo-enterprise", kind="jit", name="jit-02",
                           labels=["x"], runner_group="nope", **admin)
    assert result["failed"] and "runner_group 'nope' does not exist in enterprise octo-enterprise" in result["msg"]
    assert "fleet" in result["msg"]
    assert fake_github.runners("enterprises/octo-enterprise") == []


def test_jit_in_check_mode_creates_nothing(capsys, fake_github, admin):
    result, _elapsed = run(capsys, "github_runner_token", organization="octo-org", kind="jit", name="jit-03",
                           labels=["x"], runner_group="gpu", check_mode=True, **admin)
    assert result["changed"] is True and result["encoded_jit_config"] is None
    assert fake_github.runners() == [] and settled_calls(fake_github, "POST") == []


# Listing, deleting, labels ---------------------------------------------------------------------------

def seed_runners(fake_github, count, scope="orgs/octo-org", **extra):
    fake_github.seed({"runners": [dict(scope=scope, name="runner-%03d" % i, labels=["gpu"], **extra)
                                  for i in range(1, count + 1)]})


def test_list_250_runners_across_pages(capsys, fake_github, admin):
    seed_runners(fake_github, 250)
    result, elapsed = run(capsys, "github_runner_info", organization="octo-org", **admin)
    assert result["total_count"] == 250
    assert sorted(r["name"] for r in result["runners"]) == ["runner-%03d" % i for i in range(1, 251)]
    calls = settled_calls(fake_github, "GET", "/actions/runners$")
    assert [c["query"].get("page", "1") for c in calls] == ["1", "2", "3"]
    assert {c["query"]["per_page"] for c in calls} == {"100"}
    print("listed 250 runners in 3 pages: %.2f s" % elapsed)


def test_find_by_name_and_by_id(capsys, fake_github, admin):
    seed_runners(fake_github, 3, scope="repos/octo-org/octo-repo")
    wanted = [r for r in fake_github.runners() if r["name"] == "runner-002"][0]
    by_name, _elapsed = run(capsys, "github_runner_info", repository="octo-org/octo-repo", name="runner-002", **admin)
    by_id, _elapsed = run(capsys, "github_runner_info", repository="octo-org/octo-repo", runner_id=wanted["id"], **admin)
    missing, _elapsed = run(capsys, "github_runner_info", repository="octo-org/octo-repo", runner_id=999999, **admin)
    assert by_name["runner"]["id"] == by_id["runner"]["id"] == wanted["id"]
    assert missing["runner"] is None and not missing.get("failed")


def test_delete_a_runner(capsys, fake_github, admin):
    seed_runners(fake_github, 2)
    check, _elapsed = run(capsys, "github_runner", organization="octo-org", name="runner-001", state="absent",
                          check_mode=True, **admin)
    assert check["changed"] and len(fake_github.runners()) == 2
    result, _elapsed = run(capsys, "github_runner", organization="octo-org", name="runner-001", state="absent", **admin)
    assert result["changed"] and [r["name"] for r in fake_github.runners()] == ["runner-002"]
    again, _elapsed = run(capsys, "github_runner", organization="octo-org", name="runner-001", state="absent", **admin)
    assert again["changed"] is False


def test_label_sync_keeps_the_runner_id(capsys, fake_github, admin):
    seed_runners(fake_github, 1, scope="enterprises/octo-enterprise")
    before = fake_github.runners()[0]
    result, _elapsed = run(capsys, "github_runner", enterprise="octo-enterprise", name="runner-001",
                           labels=["h100", "cuda-12"], **admin)
    after = fake_github.runners()[0]
    assert result["changed"] and after["id"] == before["id"] == result["runner"]["id"]
    assert sorted(l["name"] for l in after["labels"] if l["type"] == "custom") == ["cuda-12", "h100"]
    assert {l["name"] for l in after["labels"] if l["type"] == "read-only"} == \
        {l["name"] for l in before["labels"] if l["type"] == "read-only"}

    same, _elapsed = run(capsys, "github_runner", enterprise="octo-enterprise", name="runner-001",
                         labels=["cuda-12", "h100", "self-hosted"], **admin)
    assert same["changed"] is False
    added, _elapsed = run(capsys, "github_runner", enterprise="octo-enterprise", runner_id=before["id"],
                          labels=["a100"], append_labels=True, **admin)
    assert added["changed"] and fake_github.runners()[0]["id"] == before["id"]
    assert sorted(l["name"] for l in fake_github.runners()[0]["labels"] if l["type"] == "custom") == [
        "a100", "cuda-12", "h100"]


# Faults --------------------------------------------------------------------------------------------------

def registration(capsys, fake_github, token=None, **args):
    args.setdefault("organization", "octo-org")
    return run(capsys, "github_runner_token", api_url=fake_github.url,
               token=token or fake_github.credential("admin"), **args)


def record(fault, behaviour, fake_github, elapsed):
    FAULT_ROWS.append((fault, behaviour, len(settled_calls(fake_github)), elapsed))


def test_fault_500_twice_then_ok(capsys, fake_github):
    fake_github.inject_fault(r"/registration-token$", status=500, count=2)
    result, elapsed = registration(capsys, fake_github)
    assert result["token"] and len(settled_calls(fake_github)) == 3
    assert 0.5 + 1.0 <= elapsed < 3.0 + 1.5  # two backoff steps (0.5-1 s, 1-2 s) plus overhead
    record("500, 500, then 201", "retried twice with backoff, token returned", fake_github, elapsed)


def test_fault_connection_reset(capsys, fake_github):
    fake_github.inject_fault(r"/registration-token$", close=True, count=1)
    result, elapsed = registration(capsys, fake_github)
    assert result["token"] and len(settled_calls(fake_github)) == 2
    assert 0.5 <= elapsed < 1.0 + 1.5
    record("connection closed without an answer", "retried after backoff, token returned", fake_github, elapsed)


def test_fault_429_with_retry_after(capsys, fake_github):
    fake_github.inject_fault(r"/registration-token$", status=429, headers={"retry-after": "1"},
                             message="You have exceeded a secondary rate limit.")
    result, elapsed = registration(capsys, fake_github)
    assert result["token"] and len(settled_calls(fake_github)) == 2
    assert 1.0 <= elapsed < 1.0 + 1.5
    record("429 with retry-after: 1", "waited 1 s, token returned", fake_github, elapsed)


def test_fault_primary_rate_limit_exhausted_resets_in_2s(capsys, fake_github):
    fake_github.set_rate_limit(remaining=0, reset_in=2)
    result, elapsed = registration(capsys, fake_github)
    assert result["token"], result
    first = settled_calls(fake_github)[0]
    assert first["status"] == 403
    assert 1.9 <= elapsed < 3.0 + 1.5  # until x-ratelimit-reset (whole seconds) plus a second's margin
    record("403, x-ratelimit-remaining 0, reset in 2 s", "waited until reset + 1 s, token returned",
           fake_github, elapsed)


def test_fault_rate_limit_beyond_rate_limit_max_wait(capsys, fake_github):
    fake_github.set_rate_limit(remaining=0, reset_in=3600)
    result, elapsed = registration(capsys, fake_github, rate_limit_max_wait=10)
    assert result["failed"] and "would exceed rate_limit_max_wait=10" in result["msg"]
    assert elapsed < 1.5 and len(settled_calls(fake_github)) == 1
    record("403, x-ratelimit-remaining 0, reset in 1 h (rate_limit_max_wait 10)",
           "failed at once: wait would exceed rate_limit_max_wait", fake_github, elapsed)


def test_fault_persistent_503_gives_up_at_retry_max_time(capsys, fake_github):
    fake_github.inject_fault(r"/registration-token$", status=503, count=None)
    result, elapsed = registration(capsys, fake_github, retry_max_time=4)
    assert result["failed"] and result["status"] == 503
    assert elapsed < 4 + 1.5
    record("503 on every attempt (retry_max_time 4)", "gave up within retry_max_time, 503 reported",
           fake_github, elapsed)


def test_fault_401_bad_credentials(capsys, fake_github):
    result, elapsed = registration(capsys, fake_github, token="ghp_" + "x" * 36)
    assert result["failed"] and result["status"] == 401
    assert "rejected the credentials" in result["msg"] and len(settled_calls(fake_github)) == 1
    record("401 Bad credentials", "failed at once: credentials invalid, expired or revoked", fake_github, elapsed)


def test_fault_403_missing_permission(capsys, fake_github):
    result, elapsed = registration(capsys, fake_github, token=fake_github.credential("reader"))
    assert result["failed"] and result["status"] == 403
    assert '"Self-hosted runners" organization permission' in result["msg"]
    assert len(settled_calls(fake_github)) == 1
    record("403 without permission (read-only token, org)", "failed at once, names the permission", fake_github, elapsed)


def test_fault_403_installation_permission_header(capsys, fake_github, github_app, tmp_path):
    fake_github.seed({"credentials": [{"name": "weak-installation", "kind": "installation",
                                       "token": "ghs_" + "w" * 36, "grants": {"orgs/octo-org": "read"}}]})
    result, elapsed = registration(capsys, fake_github, token="ghs_" + "w" * 36)
    assert result["failed"] and "organization_self_hosted_runners=write" in result["msg"]
    record("403 for an installation token (x-accepted-github-permissions)",
           "failed at once, names the permission GitHub asks for", fake_github, elapsed)


def test_fault_404_scope(capsys, fake_github):
    result, elapsed = registration(capsys, fake_github, organization="ghost-org")
    assert result["failed"] and result["status"] == 404
    assert "organization ghost-org was not found" in result["msg"]
    record("404 unknown organization", "failed at once: not found or not visible", fake_github, elapsed)


def test_fault_422_busy_runner(capsys, fake_github, admin):
    seed_runners(fake_github, 1, busy=True)
    started = time.monotonic()
    result, _elapsed = run(capsys, "github_runner", organization="octo-org", name="runner-001", state="absent", **admin)
    elapsed = time.monotonic() - started
    assert result["failed"] and result["status"] == 422 and "still running a job" in result["msg"]
    assert len(fake_github.runners()) == 1
    record("422 deleting a busy runner", "failed at once with GitHub's message", fake_github, elapsed)


def test_fault_redirect_to_another_host(capsys, fake_github):
    fake_github.inject_fault(r"/registration-token$", status=307,
                             headers={"location": "http://127.0.0.2:9/orgs/octo-org/actions/runners/registration-token"})
    result, elapsed = registration(capsys, fake_github)
    assert result["failed"] and "refusing to follow a 307 redirect" in result["msg"]
    record("307 redirect to another host", "refused, credentials not sent", fake_github, elapsed)
