# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Every kind of request the GitHub modules send, checked by Prism against GitHub's description.

Prism (tests/doubles/github/prism.py) answers 422 with ``sl-violations`` for a request that breaks
npm ``@octokit/openapi``'s description, so each test asserts the statuses the modules received.
The transport is wrapped to record every URL the modules open: Prism's example ``Link`` headers
point at api.github.com, and nothing may ever be sent anywhere but the loopback Prism.
"""
from __future__ import annotations

import json
import urllib.error

import pytest
from ansible.module_utils.testing import patch_module_args
from ansible.module_utils.urls import open_url

from ansible_collections.inferno.runners.plugins.module_utils import github
from ansible_collections.inferno.runners.plugins.modules import github_runner, github_runner_info, github_runner_token

pytestmark = pytest.mark.integration

MODULES = {
    "github_runner_token": github_runner_token,
    "github_runner_info": github_runner_info,
    "github_runner": github_runner,
}


@pytest.fixture
def sent(monkeypatch):
    """Every request the modules open: method, URL, status and Prism's violations header."""
    log = []

    def recording_open_url(url, **kwargs):
        entry = dict(method=kwargs.get("method"), url=url,
                     authorization=(kwargs.get("headers") or {}).get("Authorization", "").split(" ")[0])
        log.append(entry)
        try:
            response = open_url(url, **kwargs)
        except urllib.error.HTTPError as exc:
            entry.update(status=exc.code, violations=exc.headers.get("sl-violations"))
            raise
        entry.update(status=response.getcode(), violations=response.headers.get("sl-violations"))
        return response

    monkeypatch.setattr(github, "open_url", recording_open_url)
    return log


def run(capsys, server, module, check_mode=False, **args):
    args.setdefault("api_url", server.url)
    if "app_id" not in args:
        args.setdefault("token", "ghp_" + "p" * 36)
    args.update(_ansible_check_mode=check_mode, _ansible_no_log=True, retry_max_time=0, rate_limit_max_wait=0)
    with patch_module_args(args):
        with pytest.raises(SystemExit):
            MODULES[module].main()
    return json.loads(capsys.readouterr().out)


def assert_valid(sent, server, *expected):
    """The requests were (METHOD, path, status) as expected, all accepted by Prism, all on loopback."""
    seen = [(e["method"], e["url"][len(server.url):].split("?")[0], e["status"]) for e in sent]
    assert seen == list(expected)
    for entry in sent:
        assert entry["url"].startswith(server.url + "/"), entry
        assert entry["status"] != 422 and not entry["violations"], entry


@pytest.mark.parametrize("scope, path", [
    ({"repository": "octo-org/octo-repo"}, "/repos/octo-org/octo-repo"),
    ({"organization": "octo-org"}, "/orgs/octo-org"),
])
@pytest.mark.parametrize("kind", ["registration", "remove"])
def test_tokens(capsys, prism, sent, scope, path, kind):
    result = run(capsys, prism, "github_runner_token", kind=kind, **scope)
    assert result["token"] and not result.get("failed"), result
    assert_valid(sent, prism, ("POST", path + "/actions/runners/%s-token" % kind, 201))


def test_jit_config_with_a_runner_group_resolved_by_name(capsys, prism, sent):
    # "octo-runner-group" is a group in the description's example list.
    result = run(capsys, prism, "github_runner_token", organization="octo-org", kind="jit", name="gpu-01",
                 labels=["gpu", "h100"], runner_group="octo-runner-group", work_folder="_work")
    assert result["encoded_jit_config"] and result["runner_group_id"] == 2, result
    assert_valid(sent, prism, ("GET", "/orgs/octo-org/actions/runner-groups", 200),
                 ("POST", "/orgs/octo-org/actions/runners/generate-jitconfig", 201))


def test_jit_config_for_a_repository(capsys, prism, sent):
    result = run(capsys, prism, "github_runner_token", repository="octo-org/octo-repo", kind="jit", name="gpu-01",
                 labels=["gpu"])
    assert result["encoded_jit_config"], result
    assert_valid(sent, prism, ("POST", "/repos/octo-org/octo-repo/actions/runners/generate-jitconfig", 201))


def test_get_runner(capsys, prism, sent):
    result = run(capsys, prism, "github_runner_info", repository="octo-org/octo-repo", runner_id=23)
    assert result["runner"]["id"] == 23
    assert_valid(sent, prism, ("GET", "/repos/octo-org/octo-repo/actions/runners/23", 200))


def test_set_labels(capsys, prism, sent):
    result = run(capsys, prism, "github_runner", organization="octo-org", runner_id=23, labels=["gpu", "h100"])
    assert result["changed"], result
    assert_valid(sent, prism, ("GET", "/orgs/octo-org/actions/runners/23", 200),
                 ("PUT", "/orgs/octo-org/actions/runners/23/labels", 200))


def test_clear_labels_with_an_empty_set(capsys, prism, sent):
    result = run(capsys, prism, "github_runner", repository="octo-org/octo-repo", runner_id=23, labels=[])
    assert result["changed"], result
    assert_valid(sent, prism, ("GET", "/repos/octo-org/octo-repo/actions/runners/23", 200),
                 ("PUT", "/repos/octo-org/octo-repo/actions/runners/23/labels", 200))


def test_add_labels(capsys, prism, sent):
    result = run(capsys, prism, "github_runner", repository="octo-org/octo-repo", runner_id=23, labels=["gpu"],
                 append_labels=True)
    assert result["changed"], result
    assert_valid(sent, prism, ("GET", "/repos/octo-org/octo-repo/actions/runners/23", 200),
                 ("POST", "/repos/octo-org/octo-repo/actions/runners/23/labels", 200))


def test_delete_runner(capsys, prism, sent):
    result = run(capsys, prism, "github_runner", organization="octo-org", runner_id=23, state="absent")
    assert result["changed"] and not result.get("failed"), result
    assert_valid(sent, prism, ("GET", "/orgs/octo-org/actions/runners/23", 200),
                 ("DELETE", "/orgs/octo-org/actions/runners/23", 204))


def test_check_mode_probe(capsys, prism, sent):
    result = run(capsys, prism, "github_runner_token", organization="octo-org", check_mode=True)
    assert result["token"] is None and not result.get("failed"), result
    assert_valid(sent, prism, ("GET", "/orgs/octo-org/actions/runners", 200))
    assert "per_page=1" in sent[0]["url"]


def test_list_runners_does_not_follow_prisms_link_to_api_github_com(capsys, prism, sent):
    result = run(capsys, prism, "github_runner_info", organization="octo-org")
    assert result["failed"]
    assert "points to https://api.github.com/resource, outside api_url %s; refusing to follow it" % prism.url \
        in result["msg"]
    assert_valid(sent, prism, ("GET", "/orgs/octo-org/actions/runners", 200))


def test_find_by_name_fails_the_same_way_rather_than_trusting_page_one(capsys, prism, sent):
    result = run(capsys, prism, "github_runner", repository="octo-org/octo-repo", name="MBP", state="absent")
    assert result["failed"] and "refusing to follow it" in result["msg"]
    assert_valid(sent, prism, ("GET", "/repos/octo-org/octo-repo/actions/runners", 200))
    assert "name=MBP" in sent[0]["url"]


def test_app_installation_token(capsys, prism, sent, tmp_path):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption())
    result = run(capsys, prism, "github_runner_token", organization="octo-org", app_id="1", app_installation_id=42,
                 app_private_key=key.decode(), app_token_cache=False)
    assert result["token"], result
    assert_valid(sent, prism, ("POST", "/app/installations/42/access_tokens", 201),
                 ("POST", "/orgs/octo-org/actions/runners/registration-token", 201))
    assert [e["authorization"] for e in sent] == ["Bearer", "Bearer"]


# Enterprise runners are described only in ghec.json, so they get a Prism of their own.

def _without_external_refs(node):
    """ghec.json refers to server-statistics-*.yaml files the npm package does not ship, which
    stops Prism from loading it; those few statistics schemas become plain objects."""
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and not ref.startswith("#"):
            return {"type": "object"}
        return {key: _without_external_refs(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_without_external_refs(value) for value in node]
    return node


@pytest.fixture(scope="module")
def prism_ghec(tmp_path_factory):
    from tests.doubles.github.fixtures import require_test_tools
    from tests.doubles.github.openapi import GHEC
    from tests.doubles.github.prism import PRISM_BIN, Prism

    require_test_tools(PRISM_BIN, GHEC)
    spec = tmp_path_factory.mktemp("ghec") / "ghec-without-external-refs.json"
    spec.write_text(json.dumps(_without_external_refs(json.loads(GHEC.read_text(encoding="utf-8")))), encoding="utf-8")
    server = Prism(spec, lifetime=900.0).start()
    try:
        yield server
    finally:
        server.stop()


def test_enterprise_requests(capsys, prism_ghec, sent):
    for kind in ("registration", "remove"):
        assert run(capsys, prism_ghec, "github_runner_token", enterprise="octo-enterprise", kind=kind)["token"]
    jit = run(capsys, prism_ghec, "github_runner_token", enterprise="octo-enterprise", kind="jit", name="gpu-01",
              labels=["gpu"], runner_group="octo-runner-group")
    assert jit["encoded_jit_config"] and jit["runner_group_id"] == 2, jit
    assert run(capsys, prism_ghec, "github_runner_info", enterprise="octo-enterprise", runner_id=23)["runner"]
    labels = run(capsys, prism_ghec, "github_runner", enterprise="octo-enterprise", runner_id=23, labels=["gpu"])
    assert labels["changed"], labels
    gone = run(capsys, prism_ghec, "github_runner", enterprise="octo-enterprise", runner_id=23, state="absent")
    assert gone["changed"], gone
    base = "/enterprises/octo-enterprise/actions/runners"
    assert_valid(sent, prism_ghec,
                 ("POST", base + "/registration-token", 201), ("POST", base + "/remove-token", 201),
                 ("GET", "/enterprises/octo-enterprise/actions/runner-groups", 200),
                 ("POST", base + "/generate-jitconfig", 201), ("GET", base + "/23", 200),
                 ("GET", base + "/23", 200), ("PUT", base + "/23/labels", 200),
                 ("GET", base + "/23", 200), ("DELETE", base + "/23", 204))
