# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Unit tests of the github_runner module, run through main() against a loopback stub."""
from __future__ import annotations

import json

import pytest
from ansible.module_utils.testing import patch_module_args

from ansible_collections.inferno.runners.plugins.module_utils import github
from ansible_collections.inferno.runners.plugins.modules import github_runner
from ansible_collections.inferno.runners.tests.unit.plugins.module_utils.test_github import (
    FakeTime,
    StubServer,
    json_response,
)

READ_ONLY = [{"id": 1, "name": "self-hosted", "type": "read-only"}, {"id": 2, "name": "Linux", "type": "read-only"},
             {"id": 3, "name": "X64", "type": "read-only"}]


class Runners:
    """A repository's runners with GitHub's label semantics, installed into a StubServer."""

    def __init__(self, server, base="/repos/o/r"):
        self.runners = {23: {"id": 23, "name": "gpu-01", "os": "linux", "status": "online", "busy": False,
                             "labels": READ_ONLY + [{"id": 21, "name": "gpu", "type": "custom"}]}}
        self.base = base
        server.routes[("GET", base + "/actions/runners")] = self.list
        for runner_id in (23, 99):
            server.routes[("GET", "%s/actions/runners/%d" % (base, runner_id))] = self.get
            server.routes[("DELETE", "%s/actions/runners/%d" % (base, runner_id))] = self.delete
            server.routes[("PUT", "%s/actions/runners/%d/labels" % (base, runner_id))] = self.set_labels
            server.routes[("POST", "%s/actions/runners/%d/labels" % (base, runner_id))] = self.add_labels

    def _id(self, request):
        return int(request["path"].split("/actions/runners/")[1].split("/")[0])

    def list(self, request):
        found = [r for r in self.runners.values() if request["query"].get("name") in (None, r["name"])]
        return json_response(200, {"total_count": len(found), "runners": found})

    def get(self, request):
        runner = self.runners.get(self._id(request))
        return json_response(200, runner) if runner else json_response(404, {"message": "Not Found"})

    def delete(self, request):
        if self.runners.pop(self._id(request), None) is None:
            return json_response(404, {"message": "Not Found"})
        return 204, {}, None

    def _labels(self, runner, names):
        runner["labels"] = [l for l in runner["labels"] if l["type"] == "read-only"] + [
            {"id": 100 + i, "name": n, "type": "custom"} for i, n in enumerate(names)]
        return json_response(200, {"total_count": len(runner["labels"]), "labels": runner["labels"]})

    def set_labels(self, request):
        return self._labels(self.runners[self._id(request)], request["body"]["labels"])

    def add_labels(self, request):
        runner = self.runners[self._id(request)]
        current = [l["name"] for l in runner["labels"] if l["type"] == "custom"]
        return self._labels(runner, current + request["body"]["labels"])

    def custom(self, runner_id=23):
        return [l["name"] for l in self.runners[runner_id]["labels"] if l["type"] == "custom"]


@pytest.fixture
def stub(monkeypatch):
    monkeypatch.setattr(github, "time", FakeTime())
    server = StubServer()
    yield server
    server.close()


def run(capsys, server, check_mode=False, diff=False, **args):
    args.setdefault("api_url", server.url)
    args.setdefault("token", "ghp_test")
    args.setdefault("repository", "o/r")
    args.update(_ansible_check_mode=check_mode, _ansible_diff=diff)
    with patch_module_args(args):
        with pytest.raises(SystemExit):
            github_runner.main()
    return json.loads(capsys.readouterr().out)


def writes(server):
    return [(r["method"], r["path"]) for r in server.requests if r["method"] != "GET"]


def test_label_sync_sets_custom_labels_and_keeps_the_runner_id(capsys, stub):
    runners = Runners(stub)

    result = run(capsys, stub, name="gpu-01", labels=["gpu", "h100", "self-hosted"], diff=True)

    assert result["changed"] is True and runners.custom() == ["gpu", "h100"]
    assert result["runner"]["id"] == 23 and 23 in runners.runners
    assert stub.calls("PUT")[0]["body"] == {"labels": ["gpu", "h100"]}
    assert result["diff"] == {"before": {"state": "present", "id": 23, "name": "gpu-01", "labels": ["gpu"]},
                              "after": {"state": "present", "id": 23, "name": "gpu-01", "labels": ["gpu", "h100"]}}

    again = run(capsys, stub, name="gpu-01", labels=["H100", "gpu"])
    assert again["changed"] is False and len(stub.calls("PUT")) == 1


def test_append_labels_only_adds_the_missing_ones(capsys, stub):
    runners = Runners(stub)
    result = run(capsys, stub, runner_id=23, labels=["gpu", "cuda12"], append_labels=True)
    assert result["changed"] and stub.calls("POST")[0]["body"] == {"labels": ["cuda12"]}
    assert runners.custom() == ["gpu", "cuda12"]
    assert run(capsys, stub, runner_id=23, labels=["cuda12"], append_labels=True)["changed"] is False


def test_empty_labels_clear_custom_labels(capsys, stub):
    runners = Runners(stub)
    assert run(capsys, stub, name="gpu-01", labels=[])["changed"] is True
    assert runners.custom() == [] and stub.calls("PUT")[0]["body"] == {"labels": []}


def test_label_sync_in_check_mode_changes_nothing(capsys, stub):
    runners = Runners(stub)
    result = run(capsys, stub, name="gpu-01", labels=["h100"], check_mode=True, diff=True)
    assert result["changed"] is True and "would have custom labels set to [h100]" in result["msg"]
    assert result["diff"]["after"]["labels"] == ["h100"]
    assert writes(stub) == [] and runners.custom() == ["gpu"]


def test_present_without_labels_only_checks_existence(capsys, stub):
    Runners(stub)
    assert run(capsys, stub, name="gpu-01")["changed"] is False
    result = run(capsys, stub, name="gpu-02")
    assert result["failed"] and "runner 'gpu-02' is not registered in repository o/r" in result["msg"]
    assert writes(stub) == []


def test_absent_deletes_and_is_idempotent(capsys, stub):
    runners = Runners(stub)
    check = run(capsys, stub, name="gpu-01", state="absent", check_mode=True)
    assert check["changed"] is True and writes(stub) == [] and 23 in runners.runners

    result = run(capsys, stub, name="gpu-01", state="absent", diff=True)
    assert result["changed"] is True and writes(stub) == [("DELETE", "/repos/o/r/actions/runners/23")]
    assert result["diff"]["after"] == {"state": "absent"} and runners.runners == {}

    assert run(capsys, stub, name="gpu-01", state="absent")["changed"] is False
    assert run(capsys, stub, runner_id=99, state="absent")["changed"] is False


def test_delete_of_a_busy_runner_reports_githubs_message(capsys, stub):
    Runners(stub)
    stub.routes[("DELETE", "/repos/o/r/actions/runners/23")] = json_response(
        422, {"message": "Bad request - Runner \"gpu-01\" is still running a job\""})
    result = run(capsys, stub, name="gpu-01", state="absent")
    assert result["failed"] and result["status"] == 422 and "still running a job" in result["msg"]


def test_label_permission_error_names_the_permission(capsys, stub):
    Runners(stub)
    stub.routes[("PUT", "/repos/o/r/actions/runners/23/labels")] = json_response(403, {"message": "Must have admin rights"})
    result = run(capsys, stub, name="gpu-01", labels=["x"])
    assert result["failed"] and '"Administration" repository permission' in result["msg"]
    assert "setting the labels of runner 23 (gpu-01)" in result["msg"]


@pytest.mark.parametrize("args, expected", [
    (dict(), "one of the following is required: name, runner_id"),
    (dict(name="a", runner_id=1), "mutually exclusive: name|runner_id"),
    (dict(name="  "), "name must not be empty"),
    (dict(name="a", labels=[""]), "labels must not contain empty labels"),
    (dict(name="a", state="gone"), "value of state must be one of"),
    (dict(name="a", state="absent", labels=["x"]), "labels only applies to state=present"),
])
def test_bad_input_names_the_option(capsys, stub, args, expected):
    Runners(stub)
    result = run(capsys, stub, **args)
    assert result["failed"] and expected in result["msg"]
    assert stub.requests == []
