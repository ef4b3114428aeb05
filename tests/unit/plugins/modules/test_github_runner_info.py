# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Unit tests of the github_runner_info module, run through main() against a loopback stub."""
from __future__ import annotations

import json

import pytest
from ansible.module_utils.testing import patch_module_args

from ansible_collections.inferno.runners.plugins.module_utils import github
from ansible_collections.inferno.runners.plugins.modules import github_runner_info
from ansible_collections.inferno.runners.tests.unit.plugins.module_utils.test_github import (
    FakeTime,
    StubServer,
    json_response,
    paged_runners,
)


@pytest.fixture
def stub(monkeypatch):
    monkeypatch.setattr(github, "time", FakeTime())
    server = StubServer()
    yield server
    server.close()


def run(capsys, server, check_mode=False, **args):
    args.setdefault("api_url", server.url)
    args.setdefault("token", "ghp_test")
    args["_ansible_check_mode"] = check_mode
    with patch_module_args(args):
        with pytest.raises(SystemExit):
            github_runner_info.main()
    return json.loads(capsys.readouterr().out)


def test_lists_every_runner_across_pages(capsys, stub):
    runners, answer = paged_runners(stub, 250)
    stub.routes[("GET", "/orgs/o/actions/runners")] = answer

    result = run(capsys, stub, organization="o")

    assert result["changed"] is False and result["total_count"] == 250 and result["runner"] is None
    assert [r["id"] for r in result["runners"]] == list(range(1, 251))
    assert len(stub.requests) == 3


def test_works_in_check_mode(capsys, stub):
    runners, answer = paged_runners(stub, 3)
    stub.routes[("GET", "/enterprises/e/actions/runners")] = answer
    assert run(capsys, stub, enterprise="e", check_mode=True)["total_count"] == 3


def test_finds_a_runner_by_exact_name(capsys, stub):
    def answer(request):
        # A server that ignores the name filter still yields only the exact match.
        assert request["query"]["name"] == "gpu-01"
        return json_response(200, {"total_count": 2, "runners": [{"id": 1, "name": "gpu-01"}, {"id": 2, "name": "gpu-010"}]})

    stub.routes[("GET", "/repos/o/r/actions/runners")] = answer
    result = run(capsys, stub, repository="o/r", name="gpu-01")
    assert result["runner"] == {"id": 1, "name": "gpu-01"} and result["total_count"] == 1


def test_missing_name_gives_null_runner(capsys, stub):
    stub.routes[("GET", "/repos/o/r/actions/runners")] = json_response(200, {"total_count": 0, "runners": []})
    result = run(capsys, stub, repository="o/r", name="gone")
    assert result["runner"] is None and result["runners"] == [] and not result.get("failed")


def test_runner_id_lookup_and_a_missing_id(capsys, stub):
    stub.routes[("GET", "/orgs/o/actions/runners/5")] = json_response(200, {"id": 5, "name": "a"})
    stub.routes[("GET", "/orgs/o/actions/runners")] = json_response(200, {"total_count": 0, "runners": []})
    assert run(capsys, stub, organization="o", runner_id=5)["runner"]["name"] == "a"

    result = run(capsys, stub, organization="o", runner_id=6)
    assert result["runner"] is None and not result.get("failed")


def test_a_missing_scope_is_not_reported_as_a_missing_runner(capsys, stub):
    result = run(capsys, stub, organization="ghost", runner_id=6)
    assert result["failed"] and "organization ghost was not found" in result["msg"]


def test_name_and_runner_id_are_exclusive(capsys, stub):
    result = run(capsys, stub, organization="o", runner_id=6, name="x")
    assert result["failed"] and "mutually exclusive: name|runner_id" in result["msg"]


def test_names_match_without_regard_to_case_as_on_github(capsys, stub):
    stub.routes[("GET", "/repos/o/r/actions/runners")] = json_response(
        200, {"total_count": 1, "runners": [{"id": 7, "name": "GPU-01"}]})
    assert run(capsys, stub, repository="o/r", name="gpu-01")["runner"]["id"] == 7
