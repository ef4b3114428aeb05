"""Prism serving GitHub's description: request validation, and agreement with the fake GitHub.

Prism validates with its own implementation of OpenAPI (JavaScript), so where it and the fake
agree on what is a valid request, the fake's validation is not merely agreeing with itself.
"""
from __future__ import annotations

import json

import pytest
import requests

pytestmark = pytest.mark.integration

HEADERS = {
    "Accept": "application/vnd.github+json",
    "X-GitHub-Api-Version": "2022-11-28",
    "Authorization": "Bearer not-checked-by-prism",
}
JITCONFIG = "/orgs/octo-org/actions/runners/generate-jitconfig"
VALID = {"name": "jit-1", "runner_group_id": 1, "labels": ["gpu"]}


def test_prism_rejects_a_jitconfig_request_without_labels_and_accepts_a_valid_one(prism):
    invalid = requests.post(prism.url + JITCONFIG, json={"name": "jit-1", "runner_group_id": 1}, headers=HEADERS, timeout=30)
    valid = requests.post(prism.url + JITCONFIG, json=VALID, headers=HEADERS, timeout=30)

    assert invalid.status_code == 422
    violations = json.loads(invalid.headers["sl-violations"])
    assert any("labels" in v["message"] and v["location"] == ["request", "body"] for v in violations)
    assert valid.status_code == 201
    assert "sl-violations" not in valid.headers
    assert set(valid.json()) == {"runner", "encoded_jit_config"}


def test_prism_answers_json_to_githubs_recommended_accept_header(prism):
    answer = requests.get(prism.url + "/orgs/octo-org/actions/runners", headers=HEADERS, timeout=30)

    assert answer.status_code == 200
    assert {"total_count", "runners"} <= set(answer.json())
    # The description's example Link points at api.github.com: clients must not follow it off-host.
    assert "https://api.github.com/" in answer.headers["link"]


@pytest.mark.parametrize(
    "body",
    [
        {"name": "jit-1", "runner_group_id": 1},
        {"name": "jit-1", "runner_group_id": 1, "labels": []},
        {"name": "jit-1", "runner_group_id": 1, "labels": [f"l{i}" for i in range(101)]},
        {"runner_group_id": 1, "labels": ["gpu"]},
        {"name": "jit-1", "runner_group_id": "one", "labels": ["gpu"]},
        {"name": "jit-1", "runner_group_id": 1, "labels": ["gpu"], "work_folder": 7},
        VALID,
    ],
)
def test_prism_and_the_fake_agree_on_which_jitconfig_requests_are_valid(prism, fake_github, body):
    from_prism = requests.post(prism.url + JITCONFIG, json=body, headers=HEADERS, timeout=30)
    headers = dict(HEADERS, Authorization="Bearer " + fake_github.credential("admin"))
    from_fake = requests.post(fake_github.url + JITCONFIG, json=body, headers=headers, timeout=30)

    assert (from_prism.status_code, from_fake.status_code) in ((422, 422), (201, 201))
