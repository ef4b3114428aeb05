# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Unit tests of the github_runner_token module, run through main() against a loopback stub."""
from __future__ import annotations

import json

import pytest
from ansible.module_utils.testing import patch_module_args

from ansible_collections.inferno.runners.plugins.module_utils import github
from ansible_collections.inferno.runners.plugins.modules import github_runner_token
from ansible_collections.inferno.runners.tests.unit.plugins.module_utils.test_github import (
    FakeTime,
    StubServer,
    app_routes,
    generate_key,
    json_response,
)


@pytest.fixture
def stub(monkeypatch):
    monkeypatch.setattr(github, "time", FakeTime())
    server = StubServer()
    yield server
    server.close()


def run(capsys, server, check_mode=False, no_log=True, **args):
    args.setdefault("api_url", server.url)
    if "app_id" not in args:
        args.setdefault("token", "ghp_test")
    args.update(_ansible_check_mode=check_mode, _ansible_no_log=no_log)
    with patch_module_args(args):
        with pytest.raises(SystemExit):
            github_runner_token.main()
    return json.loads(capsys.readouterr().out)


TOKEN = {"token": "AABF3JGZDX3P5PMEXLND6TS6FCWO6", "expires_at": "2027-01-15T09:00:00Z"}


@pytest.mark.parametrize("scope, path", [
    ({"repository": "octo-org/octo-repo"}, "/repos/octo-org/octo-repo"),
    ({"organization": "octo-org"}, "/orgs/octo-org"),
    ({"enterprise": "octo-ent"}, "/enterprises/octo-ent"),
])
@pytest.mark.parametrize("kind", ["registration", "remove"])
def test_tokens_for_every_scope(capsys, stub, scope, path, kind):
    stub.routes[("POST", path + "/actions/runners/%s-token" % kind)] = json_response(201, TOKEN)

    result = run(capsys, stub, kind=kind, **scope)

    assert result["token"] == TOKEN["token"] and result["expires_at"] == TOKEN["expires_at"]
    assert result["changed"] is False and not result.get("failed")
    assert "warnings" not in result  # the task is no_log, so no nagging
    assert [(r["method"], r["path"]) for r in stub.requests] == [("POST", path + "/actions/runners/%s-token" % kind)]


def test_returned_token_is_not_masked_and_a_task_without_no_log_is_warned(capsys, stub):
    stub.routes[("POST", "/repos/o/r/actions/runners/registration-token")] = json_response(201, TOKEN)

    result = run(capsys, stub, repository="o/r", no_log=False)

    assert result["token"] == TOKEN["token"]
    assert "returns a registration token: set no_log: true" in json.dumps(result["warnings"])
    assert result["invocation"]["module_args"]["token"] == "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"


def test_check_mode_mints_nothing_and_probes_read_only(capsys, stub):
    stub.routes[("GET", "/orgs/o/actions/runners")] = json_response(200, {"total_count": 0, "runners": []})

    result = run(capsys, stub, organization="o", kind="remove", check_mode=True)

    assert result["token"] is None and result["changed"] is False
    assert "would mint a remove token" in result["msg"]
    assert [r["method"] for r in stub.requests] == ["GET"]


def test_check_mode_still_reports_a_bad_credential(capsys, stub):
    stub.routes[("GET", "/orgs/o/actions/runners")] = json_response(401, {"message": "Bad credentials"})
    result = run(capsys, stub, organization="o", check_mode=True)
    assert result["failed"] and "401 Bad credentials" in result["msg"]


def groups_route(server, org="o"):
    server.routes[("GET", "/orgs/%s/actions/runner-groups" % org)] = json_response(200, {
        "total_count": 2,
        "runner_groups": [{"id": 1, "name": "Default", "default": True}, {"id": 4, "name": "gpu", "default": False}],
    })


def test_jit_resolves_the_runner_group_by_name(capsys, stub):
    groups_route(stub)

    def jit(request):
        assert request["body"] == {"name": "gpu-01", "runner_group_id": 4, "labels": ["gpu", "h100"], "work_folder": "w"}
        return json_response(201, {"runner": {"id": 99, "name": "gpu-01", "runner_group_id": 4},
                                   "encoded_jit_config": "eyJ4IjoxfQ=="})

    stub.routes[("POST", "/orgs/o/actions/runners/generate-jitconfig")] = jit

    result = run(capsys, stub, organization="o", kind="jit", name="gpu-01", labels=["gpu", "h100", "GPU"],
                 runner_group="gpu", work_folder="w")

    assert result["changed"] is True and result["encoded_jit_config"] == "eyJ4IjoxfQ=="
    assert result["runner"]["id"] == 99 and result["runner_group_id"] == 4


def test_jit_unknown_runner_group_fails_listing_the_groups(capsys, stub):
    groups_route(stub)
    result = run(capsys, stub, organization="o", kind="jit", name="n", labels=["x"], runner_group="tpu")
    assert result["failed"]
    assert result["msg"] == "runner_group 'tpu' does not exist in organization o (its runner groups: Default, gpu)"
    assert not stub.calls("POST")


def test_jit_defaults_to_the_default_group_and_repository_groups_are_refused(capsys, stub):
    stub.routes[("POST", "/repos/o/r/actions/runners/generate-jitconfig")] = lambda r: json_response(
        201, {"runner": {"id": 1}, "encoded_jit_config": "e30=", "echo": r["body"]})
    result = run(capsys, stub, repository="o/r", kind="jit", name="n", labels=["x"])
    assert result["runner_group_id"] == 1 and stub.requests[0]["body"]["runner_group_id"] == 1

    result = run(capsys, stub, repository="o/r", kind="jit", name="n", labels=["x"], runner_group="gpu")
    assert result["failed"] and "runner groups belong to organizations and enterprises" in result["msg"]


def test_jit_check_mode_creates_nothing(capsys, stub):
    groups_route(stub)
    stub.routes[("GET", "/orgs/o/actions/runners")] = json_response(200, {"total_count": 0, "runners": []})

    result = run(capsys, stub, organization="o", kind="jit", name="gpu-01", labels=["gpu"], runner_group="gpu",
                 check_mode=True)

    assert result["changed"] is True and result["encoded_jit_config"] is None and result["runner_group_id"] == 4
    assert not stub.calls("POST")
    assert stub.calls("GET", "/orgs/o/actions/runners")[0]["query"]["name"] == "gpu-01"


def test_jit_name_conflict_is_explained(capsys, stub):
    stub.routes[("POST", "/orgs/o/actions/runners/generate-jitconfig")] = json_response(
        409, {"message": "Already exists - A runner with the name gpu-01 already exists."})
    result = run(capsys, stub, organization="o", kind="jit", name="gpu-01", labels=["gpu"])
    assert result["failed"] and result["status"] == 409
    assert "a runner named 'gpu-01' already exists in organization o" in result["msg"]
    assert "state=absent" in result["msg"]


@pytest.mark.parametrize("scope, status, body, expected", [
    ({"repository": "o/r"}, 401, {"message": "Bad credentials"}, "rejected the credentials"),
    ({"repository": "o/r"}, 403, {"message": "Resource not accessible by personal access token"},
     '"Administration" repository permission'),
    ({"organization": "o"}, 403, {"message": "Forbidden"}, '"Self-hosted runners" organization permission'),
    ({"enterprise": "e"}, 403, {"message": "Forbidden"}, "manage_runners:enterprise"),
    ({"organization": "ghost"}, 404, {"message": "Not Found"}, "organization ghost was not found"),
    ({"repository": "o/r"}, 422, {"message": "Validation Failed", "errors": ["bad"]}, "Validation Failed (bad)"),
])
def test_http_failures_name_the_cause(capsys, stub, scope, status, body, expected):
    path = scope_path(scope) + "/actions/runners/registration-token"
    stub.routes[("POST", path)] = json_response(status, body, **{"x-github-request-id": "ABCD:1234"})
    result = run(capsys, stub, **scope)
    assert result["failed"] and result["status"] == status and expected in result["msg"]
    assert result["github_request_id"] == "ABCD:1234"
    assert "ghp_test" not in json.dumps(result)


def scope_path(scope):
    return github.Scope.from_params(scope).path


@pytest.mark.parametrize("args, expected", [
    (dict(repository="octo-org"), "repository must be OWNER/REPO"),
    (dict(repository="o/r", organization="o"), "parameters are mutually exclusive: repository|organization|enterprise"),
    (dict(repository="o/r", token="ghp_conflicting", app_id="1", app_installation_id=2, app_private_key="not-a-pem-key"),
     "parameters are mutually exclusive: token|app_id"),
    (dict(repository="o/r", app_id="1", app_private_key="not-a-pem-key"), "app_installation_id"),
    (dict(repository="o/r", token="ghp_other", app_installation_id=2), "missing parameter(s) required by 'app_installation_id': app_id"),
    (dict(repository="o/r", kind="jit", labels=["x"]), "kind is jit but all of the following are missing: name"),
    (dict(repository="o/r", labels=["x"]), "labels only applies to kind=jit"),
    (dict(repository="o/r", kind="jit", name="n", labels=[]), "labels needs at least one label"),
    (dict(repository="o/r", kind="jit", name="n", labels=["a,b"]), "labels entries are single labels"),
    (dict(repository="o/r", kind="jit", name="n", labels=["l%d" % i for i in range(101)]),
     "labels has 101 labels"),
    (dict(repository="o/r", api_url="github.com"), "api_url must be an http(s) URL"),
    (dict(repository="o/r", kind="token"), "value of kind must be one of"),
])
def test_bad_input_names_the_option(capsys, stub, args, expected):
    result = run(capsys, stub, **args)
    assert result["failed"] and expected in result["msg"]
    assert stub.requests == []


def test_app_authentication_through_the_module_mints_once(capsys, stub, tmp_path):
    key, pem = generate_key()
    minted = app_routes(stub, key)
    stub.routes[("POST", "/orgs/o/actions/runners/registration-token")] = json_response(201, TOKEN)
    key_file = tmp_path / "app.pem"
    key_file.write_text(pem)
    for task in range(3):
        result = run(capsys, stub, organization="o", app_id="42", app_installation_id=7,
                     app_private_key_path=str(key_file), app_token_cache_dir=str(tmp_path / "cache"))
        assert result["token"] == TOKEN["token"]
    assert len(minted) == 1
    assert {r["headers"]["authorization"] for r in stub.calls("POST", "/orgs/o/actions/runners/registration-token")} == {
        "Bearer ghs_installation_1"}
