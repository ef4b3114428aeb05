"""The fake GitHub's own tests: behaviour per endpoint and state, and conformance of every answer.

Each GitHub-path response is checked twice against GitHub's description: by the fake in strict
mode before sending, and here on the bytes received (``_conforms``), so a bug in how the fake
serialises cannot hide behind its own check.
"""
from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests

from tests.doubles.github.fake_github import STANDARD_SEED, FakeError, FakeGitHub
from tests.doubles.github.fixtures import require_test_tools
from tests.doubles.github.openapi import UNIVERSAL_ERROR_STATUSES, github_contract

pytestmark = pytest.mark.integration


@pytest.fixture(autouse=True)
def _description_installed() -> None:
    require_test_tools()


SCOPES = ["repos/octo-org/octo-repo", "orgs/octo-org", "enterprises/octo-enterprise"]
FAKE_SCRIPT = Path(__file__).resolve().parents[2] / "doubles" / "github" / "fake_github.py"


def _conforms(response: requests.Response) -> requests.Response:
    """Assert a response received from the fake matches GitHub's description; return it."""
    split = urlsplit(response.request.url)
    path = split.path[len("/api/v3"):] if split.path.startswith("/api/v3/") else split.path
    operation = github_contract().operation(response.request.method, path)
    assert operation is not None, f"{response.request.method} {path} is not a GitHub operation"
    body = response.json() if response.content else None
    problems = operation.check_response(response.status_code, response.headers, body)
    assert problems == [], problems
    assert response.headers["x-github-api-version-selected"] == "2022-11-28"
    for header in ("x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-used", "x-ratelimit-reset"):
        assert response.headers[header].isdigit(), header
    return response


class Client:
    """Just enough of a GitHub client to drive the fake the way the collection's modules will."""

    def __init__(self, base: str, token: str | None) -> None:
        self.base = base
        self.session = requests.Session()
        self.session.headers.update({"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28"})
        if token:
            self.session.headers["Authorization"] = f"Bearer {token}"

    def __call__(self, method: str, path: str, **kwargs) -> requests.Response:
        return _conforms(self.session.request(method, self.base + path, timeout=10, **kwargs))


@pytest.fixture
def admin(fake_github: FakeGitHub) -> Client:
    return Client(fake_github.url, fake_github.credential("admin"))


def _register(fake: FakeGitHub, client: Client, scope: str, name: str, **kwargs) -> dict:
    token = client("POST", f"/{scope}/actions/runners/registration-token").json()["token"]
    answer = requests.post(
        fake.url + "/_fake/runner/register",
        json={"scope": scope, "registration_token": token, "name": name, **kwargs},
        timeout=10,
    )
    assert answer.status_code == 201, answer.text
    return answer.json()


def _session(fake: FakeGitHub, runner: dict, **body) -> requests.Response:
    return requests.post(
        f"{fake.url}/_fake/runner/{runner['id']}/session",
        json=body,
        headers={"Authorization": f"Bearer {runner['credentials']['runner_secret']}"},
        timeout=10,
    )


# ------------------------------------------------------------------ tokens


@pytest.mark.parametrize("scope", SCOPES)
@pytest.mark.parametrize("kind", ["registration-token", "remove-token"])
def test_runner_tokens_are_random_expire_in_an_hour_and_are_remembered(fake_github, admin, scope, kind):
    first = admin("POST", f"/{scope}/actions/runners/{kind}")
    second = admin("POST", f"/{scope}/actions/runners/{kind}")

    assert first.status_code == second.status_code == 201
    assert first.json()["token"] != second.json()["token"]
    expires = time.mktime(time.strptime(first.json()["expires_at"][:19], "%Y-%m-%dT%H:%M:%S")) - time.timezone
    assert 3590 <= expires - time.time() <= 3610
    remembered = fake_github.tokens(kind.split("-")[0])
    assert {t["token"] for t in remembered} >= {first.json()["token"], second.json()["token"]}
    assert all(t["scope"] == scope for t in remembered)


# ------------------------------------------------------------------ listing


@pytest.mark.parametrize("scope", SCOPES)
def test_list_runners_pages_with_links_on_the_requests_own_base_url(fake_github, admin, scope):
    for i in range(5):
        _register(fake_github, admin, scope, f"gpu-{i}")
    ghes = Client(fake_github.ghes_url, fake_github.credential("admin"))

    first = ghes("GET", f"/{scope}/actions/runners", params={"per_page": 2})
    links = requests.utils.parse_header_links(first.headers["link"])
    by_rel = {link["rel"]: link["url"] for link in links}

    assert first.json()["total_count"] == 5
    assert [r["name"] for r in first.json()["runners"]] == ["gpu-0", "gpu-1"]
    assert set(by_rel) == {"next", "last"}
    assert by_rel["next"].startswith(fake_github.ghes_url + f"/{scope}/actions/runners?")
    assert "page=3" in by_rel["last"]
    last = ghes.session.get(by_rel["last"], timeout=10)
    assert [r["name"] for r in _conforms(last).json()["runners"]] == ["gpu-4"]
    assert {link["rel"] for link in requests.utils.parse_header_links(last.headers["link"])} == {"prev", "first"}


def test_list_runners_without_more_pages_has_no_link_and_empty_scope_lists_nothing(admin):
    answer = admin("GET", "/repos/octo-org/octo-repo/actions/runners")
    assert answer.json() == {"total_count": 0, "runners": []}
    assert "link" not in answer.headers


def test_list_runners_caps_per_page_at_100_and_filters_by_name(fake_github, admin):
    for i in range(101):
        fake_github.seed({"runners": [{"scope": "orgs/octo-org", "name": f"r{i:03d}"}]})

    page = admin("GET", "/orgs/octo-org/actions/runners", params={"per_page": 500})
    named = admin("GET", "/orgs/octo-org/actions/runners", params={"name": "R042"})

    assert len(page.json()["runners"]) == 100
    assert page.json()["total_count"] == 101
    assert [r["name"] for r in named.json()["runners"]] == ["r042"]
    assert named.json()["total_count"] == 1


@pytest.mark.parametrize("scope", SCOPES)
def test_runner_objects_carry_the_described_fields_and_states(fake_github, admin, scope):
    fake_github.seed(
        {"runners": [
            {"scope": scope, "name": "busy-one", "status": "online", "busy": True, "labels": ["gpu"]},
            {"scope": scope, "name": "idle-one", "status": "offline", "labels": ["cpu"], "ephemeral": True},
        ]}
    )

    runners = {r["name"]: r for r in admin("GET", f"/{scope}/actions/runners").json()["runners"]}

    assert runners["busy-one"]["status"] == "online" and runners["busy-one"]["busy"] is True
    assert runners["idle-one"]["status"] == "offline" and runners["idle-one"]["busy"] is False
    assert runners["idle-one"]["ephemeral"] is True
    assert runners["busy-one"]["runner_group_id"] == 1
    assert [(l["name"], l["type"]) for l in runners["busy-one"]["labels"]] == [
        ("self-hosted", "read-only"), ("Linux", "read-only"), ("X64", "read-only"), ("gpu", "custom"),
    ]
    assert runners["busy-one"]["labels"][0]["id"] == runners["idle-one"]["labels"][0]["id"]


# ---------------------------------------------------------- get and delete


@pytest.mark.parametrize("scope", SCOPES)
def test_get_and_delete_a_runner(fake_github, admin, scope):
    runner_id = fake_github.seed({"runners": [{"scope": scope, "name": "gone-soon", "status": "offline"}]})["runners"]["gone-soon"]

    assert admin("GET", f"/{scope}/actions/runners/{runner_id}").json()["name"] == "gone-soon"
    assert admin("DELETE", f"/{scope}/actions/runners/{runner_id}").status_code == 204
    assert admin("GET", f"/{scope}/actions/runners/{runner_id}").status_code == 404
    assert admin("DELETE", f"/{scope}/actions/runners/{runner_id}").status_code == 404


def test_a_busy_runner_cannot_be_deleted(fake_github, admin):
    runner_id = fake_github.seed(
        {"runners": [{"scope": "orgs/octo-org", "name": "working", "status": "online", "busy": True}]}
    )["runners"]["working"]

    answer = admin("DELETE", f"/orgs/octo-org/actions/runners/{runner_id}")

    assert answer.status_code == 422
    assert "still running a job" in answer.json()["message"]
    assert admin("GET", f"/orgs/octo-org/actions/runners/{runner_id}").status_code == 200


def test_a_runner_is_only_found_in_its_own_scope(fake_github, admin):
    runner_id = fake_github.seed({"runners": [{"scope": "orgs/octo-org", "name": "org-runner"}]})["runners"]["org-runner"]

    assert admin("GET", f"/repos/octo-org/octo-repo/actions/runners/{runner_id}").status_code == 404
    assert admin("GET", "/orgs/octo-org/actions/runners/not-a-number").status_code == 404


# ------------------------------------------------------------------ labels


@pytest.mark.parametrize("scope", SCOPES)
def test_label_endpoints_add_set_and_remove_custom_labels_only(fake_github, admin, scope):
    runner_id = fake_github.seed({"runners": [{"scope": scope, "name": "lab", "labels": ["gpu"]}]})["runners"]["lab"]
    labels = f"/{scope}/actions/runners/{runner_id}/labels"

    def custom(answer):
        return [l["name"] for l in answer.json()["labels"] if l["type"] == "custom"]

    assert custom(admin("GET", labels)) == ["gpu"]
    assert custom(admin("POST", labels, json={"labels": ["a100", "GPU"]})) == ["gpu", "a100"]
    assert custom(admin("PUT", labels, json={"labels": ["h100", "cuda-12"]})) == ["h100", "cuda-12"]
    assert custom(admin("DELETE", f"{labels}/h100")) == ["cuda-12"]
    assert admin("DELETE", f"{labels}/h100").status_code == 404
    assert admin("DELETE", f"{labels}/Linux").status_code == 422
    emptied = admin("DELETE", labels)
    assert custom(emptied) == [] and emptied.json()["total_count"] == 3
    assert custom(admin("PUT", labels, json={"labels": []})) == []


def test_label_bodies_are_validated_like_github(admin, fake_github):
    runner_id = fake_github.seed({"runners": [{"scope": "orgs/octo-org", "name": "lab"}]})["runners"]["lab"]
    labels = f"/orgs/octo-org/actions/runners/{runner_id}/labels"

    assert admin("POST", labels, json={"labels": []}).status_code == 422
    assert admin("POST", labels, json={}).status_code == 422
    assert admin("PUT", labels, json={"labels": [f"l{i}" for i in range(101)]}).status_code == 422
    assert admin("POST", labels, data="{not json").status_code == 400
    assert admin("GET", "/orgs/octo-org/actions/runners/999/labels").status_code == 404


# ------------------------------------------------------------- JIT runners


def _decode_jit(encoded: str) -> dict:
    files = json.loads(base64.b64decode(encoded))
    return {name: json.loads(base64.b64decode(content)) for name, content in files.items()}


@pytest.mark.parametrize("scope,group", [("repos/octo-org/octo-repo", 1), ("orgs/octo-org", 2), ("enterprises/octo-enterprise", 3)])
def test_generate_jitconfig_creates_an_ephemeral_runner_with_a_runner_config(fake_github, admin, scope, group):
    answer = admin(
        "POST", f"/{scope}/actions/runners/generate-jitconfig",
        json={"name": "jit-1", "runner_group_id": group, "labels": ["gpu"], "work_folder": "_w"},
    )

    assert answer.status_code == 201
    runner = answer.json()["runner"]
    assert runner["ephemeral"] is True and runner["status"] == "offline" and runner["runner_group_id"] == group
    files = _decode_jit(answer.json()["encoded_jit_config"])
    assert set(files) == {".runner", ".credentials", ".credentials_rsaparams"}
    assert files[".runner"]["agentId"] == runner["id"] and files[".runner"]["workFolder"] == "_w"
    assert files[".credentials"]["scheme"] == "OAuth"
    assert {"modulus", "exponent", "d", "p", "q"} <= set(files[".credentials_rsaparams"])
    assert answer.json()["encoded_jit_config"] in {t["token"] for t in fake_github.tokens("jit_config")}
    # The runner stand-in brings it online with the secret carried in .credentials.
    online = requests.post(
        files[".credentials"]["data"]["authorizationUrl"],
        json={"status": "online"},
        headers={"Authorization": "Bearer " + files[".credentials"]["data"]["fakeRunnerSecret"]},
        timeout=10,
    )
    assert online.status_code == 200
    assert admin("GET", f"/{scope}/actions/runners/{runner['id']}").json()["status"] == "online"


@pytest.mark.parametrize(
    "body,status",
    [
        ({"name": "j", "runner_group_id": 2}, 422),
        ({"name": "j", "runner_group_id": 2, "labels": []}, 422),
        ({"name": "j", "runner_group_id": 2, "labels": [f"l{i}" for i in range(101)]}, 422),
        ({"runner_group_id": 2, "labels": ["gpu"]}, 422),
        ({"name": "j", "runner_group_id": "2", "labels": ["gpu"]}, 422),
        ({"name": "j", "runner_group_id": 99, "labels": ["gpu"]}, 404),
    ],
)
def test_generate_jitconfig_rejects_what_github_rejects(admin, body, status):
    answer = admin("POST", "/orgs/octo-org/actions/runners/generate-jitconfig", json=body)
    assert answer.status_code == status
    assert answer.json()["documentation_url"].startswith("https://docs.github.com/")


def test_generate_jitconfig_for_a_taken_name_is_a_conflict(fake_github, admin):
    fake_github.seed({"runners": [{"scope": "orgs/octo-org", "name": "Taken"}]})
    answer = admin(
        "POST", "/orgs/octo-org/actions/runners/generate-jitconfig",
        json={"name": "taken", "runner_group_id": 1, "labels": ["x"]},
    )
    assert answer.status_code == 409


# --------------------------------------------------------- groups, downloads


@pytest.mark.parametrize("scope,names", [("orgs/octo-org", ["Default", "gpu"]), ("enterprises/octo-enterprise", ["Default", "fleet"])])
def test_runner_groups_start_with_the_default_group(admin, scope, names):
    groups = admin("GET", f"/{scope}/actions/runner-groups").json()

    assert [g["name"] for g in groups["runner_groups"]] == names
    assert groups["runner_groups"][0]["id"] == 1 and groups["runner_groups"][0]["default"] is True
    assert admin("GET", f"/{scope}/actions/runner-groups/1").json()["name"] == "Default"
    assert admin("GET", f"/{scope}/actions/runner-groups/404").status_code == 404


def test_runner_groups_visible_to_a_repository(fake_github, admin):
    fake_github.seed({"runner_groups": [
        {"scope": "orgs/octo-org", "name": "private", "visibility": "selected", "selected": ["octo-org/other-repo"]},
    ]})
    visible = admin("GET", "/orgs/octo-org/actions/runner-groups", params={"visible_to_repository": "octo-repo"})
    assert "private" not in [g["name"] for g in visible.json()["runner_groups"]]


def test_runner_downloads_list_every_platform(fake_github, admin):
    fake_github.seed({"runner_releases": {"version": "2.331.0", "base_url": "http://127.0.0.1:1/dl", "sha256": {"linux-x64": "ab" * 32}}})
    items = admin("GET", "/repos/octo-org/octo-repo/actions/runners/downloads").json()
    linux = next(i for i in items if (i["os"], i["architecture"]) == ("linux", "x64"))
    assert linux["download_url"] == "http://127.0.0.1:1/dl/v2.331.0/actions-runner-linux-x64-2.331.0.tar.gz"
    assert linux["sha256_checksum"] == "ab" * 32
    assert {(i["os"], i["architecture"]) for i in items} >= {("linux", "arm64"), ("linux", "arm")}


# -------------------------------------------------------------- credentials


@pytest.mark.parametrize("scope", SCOPES)
def test_authentication_and_permissions(fake_github, scope):
    path = f"/{scope}/actions/runners"
    anonymous = Client(fake_github.url, None)("GET", path)
    bad = Client(fake_github.url, "ghp_" + "0" * 36)("GET", path)
    reader = Client(fake_github.url, fake_github.credential("reader"))("POST", path + "/registration-token")
    outsider = Client(fake_github.url, fake_github.credential("outsider"))("GET", path)

    assert (anonymous.status_code, anonymous.json()["message"]) == (401, "Requires authentication")
    assert (bad.status_code, bad.json()["message"]) == (401, "Bad credentials")
    assert bad.json()["documentation_url"].startswith("https://docs.github.com/")
    assert reader.status_code == 403
    # A private repository is hidden from who cannot see it; organizations are not.
    assert outsider.status_code == (404 if scope.startswith("repos/") else 403)


def test_token_scheme_works_like_bearer_and_unknown_scopes_are_404(fake_github):
    client = Client(fake_github.url, None)
    client.session.headers["Authorization"] = "token " + fake_github.credential("admin")
    assert client("GET", "/orgs/octo-org/actions/runners").status_code == 200
    assert client("GET", "/orgs/no-such-org/actions/runners").status_code == 404
    assert client("GET", "/repos/octo-org/no-such-repo/actions/runners").status_code == 404


def test_every_github_answer_carries_version_and_rate_limit_headers(fake_github, admin):
    ok = admin("GET", "/orgs/octo-org/actions/runners")
    denied = Client(fake_github.url, "nope")("GET", "/orgs/octo-org/actions/runners")
    for answer in (ok, denied):
        assert answer.headers["x-github-api-version-selected"] == "2022-11-28"
        assert answer.headers["x-ratelimit-resource"] == "core"
    assert int(ok.headers["x-ratelimit-remaining"]) == int(ok.headers["x-ratelimit-limit"]) - int(ok.headers["x-ratelimit-used"])


def test_an_unsupported_api_version_is_refused_and_a_missing_one_recorded(fake_github, admin):
    refused = admin("GET", "/orgs/octo-org/actions/runners", headers={"X-GitHub-Api-Version": "1999-01-01"})
    plain = requests.get(
        fake_github.url + "/orgs/octo-org/actions/runners",
        headers={"Authorization": "Bearer " + fake_github.credential("admin")},
        timeout=10,
    )
    assert refused.status_code == 400
    assert _conforms(plain).status_code == 200
    recorded = fake_github.github_calls("GET", "/orgs/octo-org/actions/runners$")
    assert "x-github-api-version" not in recorded[-1]["headers"]
    assert recorded[0]["headers"]["accept"] == "application/vnd.github+json"


# ---------------------------------------------------------------- GitHub App


def test_an_app_jwt_buys_an_installation_token_that_manages_org_runners(fake_github, github_app):
    app = Client(fake_github.url, github_app.jwt())
    answer = app("POST", f"/app/installations/{github_app.installation_id}/access_tokens")

    assert answer.status_code == 201
    body = answer.json()
    assert body["token"].startswith("ghs_") and body["repository_selection"] == "all"
    assert body["permissions"]["organization_self_hosted_runners"] == "write"
    installation = Client(fake_github.url, body["token"])
    assert installation("POST", "/orgs/octo-org/actions/runners/registration-token").status_code == 201
    assert installation("GET", "/repos/octo-org/octo-repo/actions/runners").status_code == 200
    assert installation("GET", "/enterprises/octo-enterprise/actions/runners").status_code == 403
    assert fake_github.github_calls(path="registration-token$")[-1]["credential"]["kind"] == "installation"
    fake_github.advance_clock(3601)
    assert installation("GET", "/orgs/octo-org/actions/runners").status_code == 401


def test_installation_lookups_need_the_apps_jwt(fake_github, github_app):
    app = Client(fake_github.url, github_app.jwt())

    by_id = app("GET", f"/app/installations/{github_app.installation_id}")
    by_org = app("GET", "/orgs/octo-org/installation")
    by_repo = app("GET", "/repos/octo-org/octo-repo/installation")

    assert by_id.json()["id"] == by_org.json()["id"] == by_repo.json()["id"] == github_app.installation_id
    assert by_id.json()["account"]["login"] == "octo-org"
    assert by_id.json()["access_tokens_url"].startswith(fake_github.url)
    assert app("GET", "/app/installations/1").status_code == 404
    assert app("GET", "/orgs/no-such-org/installation").status_code == 404
    pat = Client(fake_github.url, fake_github.credential("admin"))
    assert pat("GET", f"/app/installations/{github_app.installation_id}").status_code == 401


@pytest.mark.parametrize(
    "jwt_kwargs,message",
    [
        ({"lifetime": 900}, "too far in the future"),
        ({"iat_offset": -700, "lifetime": -60}, "'exp'"),
        ({"iat_offset": 120, "lifetime": 300}, "'iat'"),
        ({"claims": {"iat": "yesterday"}}, "'iat'"),
        ({"claims": {"iss": "999"}}, "Integration not found"),
        ({"header": {"alg": "HS256"}}, "could not be decoded"),
    ],
)
def test_bad_app_jwts_are_refused(fake_github, github_app, jwt_kwargs, message):
    app = Client(fake_github.url, github_app.jwt(**jwt_kwargs))
    answer = app("POST", f"/app/installations/{github_app.installation_id}/access_tokens")
    assert answer.status_code == 401
    assert message in answer.json()["message"]


def test_a_jwt_signed_by_another_key_or_sent_with_the_token_scheme_is_refused(fake_github, github_app):
    from tests.doubles.github.app_jwt import generate_app_key, sign_app_jwt

    other_key, _public = generate_app_key()
    forged = Client(fake_github.url, sign_app_jwt(other_key, github_app.app_id))
    token_scheme = Client(fake_github.url, None)
    token_scheme.session.headers["Authorization"] = "token " + github_app.jwt()
    path = f"/app/installations/{github_app.installation_id}/access_tokens"

    assert forged("POST", path).status_code == 401
    assert token_scheme("POST", path).status_code == 401
    assert Client(fake_github.url, github_app.jwt(claims={"iss": github_app.client_id}))("POST", path).status_code == 201


def test_installation_tokens_can_be_narrowed_but_not_widened(fake_github, github_app):
    app = Client(fake_github.url, github_app.jwt())
    path = f"/app/installations/{github_app.installation_id}/access_tokens"

    widened = app("POST", path, json={"permissions": {"contents": "write"}})
    unknown_repo = app("POST", path, json={"repositories": ["nope"]})
    narrowed = app("POST", path, json={"repositories": ["octo-repo"], "permissions": {"administration": "write"}})

    assert widened.status_code == 422
    assert unknown_repo.status_code == 422
    assert narrowed.status_code == 201 and narrowed.json()["repository_selection"] == "selected"
    token = Client(fake_github.url, narrowed.json()["token"])
    assert token("GET", "/repos/octo-org/octo-repo/actions/runners").status_code == 200
    # Outside the token's repositories a private repository does not exist for it.
    assert token("GET", "/repos/octo-org/other-repo/actions/runners").status_code == 404
    refused = token("GET", "/orgs/octo-org/actions/runners")
    assert refused.status_code == 403
    assert refused.headers["x-accepted-github-permissions"] == "organization_self_hosted_runners=write"


# ------------------------------------------------------- runner-side model


def test_registration_replace_and_removal_follow_actions_runner(fake_github, admin):
    scope = "orgs/octo-org"
    first = _register(fake_github, admin, scope, "gpu-01", labels="gpu,cuda", runner_group="GPU")
    token = fake_github.tokens("registration")[-1]["token"]

    clash = requests.post(fake_github.url + "/_fake/runner/register",
                          json={"scope": scope, "registration_token": token, "name": "GPU-01"}, timeout=10)
    replaced = _register(fake_github, admin, scope, "gpu-01", labels=["a100"], replace=True, ephemeral=True)

    assert first["runner_group_id"] == 2 and first["runner_group_name"] == "gpu"
    assert clash.status_code == 409 and "same name" in clash.json()["message"]
    assert replaced["id"] == first["id"] and replaced["replaced"] is True
    assert [l["name"] for l in replaced["labels"] if l["type"] == "custom"] == ["a100"]
    assert _session(fake_github, first).status_code == 401
    assert _session(fake_github, replaced).status_code == 200
    remove_token = admin("POST", f"/{scope}/actions/runners/remove-token").json()["token"]
    removed = requests.post(fake_github.url + "/_fake/runner/remove",
                            json={"remove_token": remove_token, "id": first["id"]}, timeout=10)
    assert removed.status_code == 200
    assert admin("GET", f"/{scope}/actions/runners").json()["total_count"] == 0
    assert first["id"] in next(t for t in fake_github.tokens("registration") if t["token"] == token)["used_by"]


def test_registration_tokens_are_checked_for_scope_kind_and_expiry(fake_github, admin):
    repo_token = admin("POST", "/repos/octo-org/octo-repo/actions/runners/registration-token").json()["token"]
    remove_token = admin("POST", "/repos/octo-org/octo-repo/actions/runners/remove-token").json()["token"]

    def register(token, **extra):
        body = {"url": "https://github.com/octo-org/octo-repo", "registration_token": token, "name": "r", **extra}
        return requests.post(fake_github.url + "/_fake/runner/register", json=body, timeout=10)

    assert register(remove_token).status_code == 401
    assert register(repo_token, url="https://github.com/octo-org").status_code == 401
    assert register(repo_token, runner_group="gpu").status_code == 404
    fake_github.advance_clock(3601)
    assert register(repo_token).status_code == 401
    assert fake_github.runners() == []


def test_heartbeats_make_a_runner_online_and_silence_makes_it_offline(fake_github, admin):
    runner = _register(fake_github, admin, "repos/octo-org/octo-repo", "beat")
    path = f"/repos/octo-org/octo-repo/actions/runners/{runner['id']}"

    assert admin("GET", path).json()["status"] == "offline"
    assert _session(fake_github, runner, status="online", busy=True).json()["busy"] is True
    assert (admin("GET", path).json()["status"], admin("GET", path).json()["busy"]) == ("online", True)
    fake_github.advance_clock(fake_github.heartbeat_ttl + 1)
    assert (admin("GET", path).json()["status"], admin("GET", path).json()["busy"]) == ("offline", False)


def test_an_ephemeral_runner_is_deleted_after_its_one_job(fake_github, admin):
    runner = _register(fake_github, admin, "orgs/octo-org", "once", ephemeral=True)

    _session(fake_github, runner, status="online", busy=True)
    done = _session(fake_github, runner, status="online", busy=False)

    assert done.json()["deleted"] is True
    assert admin("GET", f"/orgs/octo-org/actions/runners/{runner['id']}").status_code == 404
    assert _session(fake_github, runner).status_code == 404


def test_the_python_api_mirrors_the_control_api(fake_github):
    token = fake_github._issue("registration", "orgs/octo-org").body["token"]
    runner = fake_github.register_runner(registration_token=token, scope="orgs/octo-org", name="py")
    with pytest.raises(FakeError) as refused:
        fake_github.register_runner(registration_token=token, scope="orgs/octo-org", name="py")
    assert refused.value.status == 409
    assert fake_github.runner_session(runner["id"], runner["credentials"]["runner_secret"])["status"] == "online"
    assert fake_github.runners("orgs/octo-org")[0]["status"] == "online"


# ----------------------------------------------------------- faults, limits


def test_faults_answer_the_next_matching_requests_then_stop(fake_github, admin):
    fake_github.inject_fault(r"/actions/runners$", method="GET", status=503, count=2, headers={"Retry-After": "7"})

    answers = [admin("GET", "/orgs/octo-org/actions/runners") for _attempt in range(3)]
    other = admin("POST", "/orgs/octo-org/actions/runners/registration-token")

    assert [a.status_code for a in answers] == [503, 503, 200]
    assert answers[0].headers["retry-after"] == "7"
    assert "x-ratelimit-remaining" in answers[0].headers
    assert other.status_code == 201
    assert [c["fault"] for c in fake_github.github_calls()][:2] == [1, 1]


def test_faults_can_close_the_connection_delay_or_fake_a_secondary_rate_limit(fake_github, admin):
    response = requests.post(fake_github.url + "/_fake/faults", json={"path": "runners$", "close": True}, timeout=10)
    assert response.status_code == 201
    with pytest.raises(requests.ConnectionError):
        admin.session.get(fake_github.url + "/orgs/octo-org/actions/runners", timeout=10)

    fake_github.inject_fault("runners$", delay=0.5)
    started = time.monotonic()
    assert admin("GET", "/orgs/octo-org/actions/runners").status_code == 200
    assert time.monotonic() - started >= 0.5

    fake_github.inject_fault("runners$", status=403, message="You have exceeded a secondary rate limit.",
                             headers={"retry-after": "60", "x-ratelimit-remaining": "0"})
    limited = admin.session.get(fake_github.url + "/orgs/octo-org/actions/runners", timeout=10)
    assert limited.status_code == 403 and limited.headers["x-ratelimit-remaining"] == "0"
    assert "secondary rate limit" in limited.json()["message"]


@pytest.mark.parametrize("status", [403, 429])
def test_the_primary_rate_limit_runs_out_and_resets(fake_github, admin, status):
    fake_github.set_rate_limit(remaining=1, reset_in=30, status=status)

    last_allowed = admin("GET", "/orgs/octo-org/actions/runners")
    refused = admin("GET", "/orgs/octo-org/actions/runners")

    assert last_allowed.status_code == 200 and last_allowed.headers["x-ratelimit-remaining"] == "0"
    assert refused.status_code == status
    assert refused.headers["x-ratelimit-remaining"] == "0"
    assert "rate limit exceeded" in refused.json()["message"]
    assert int(refused.headers["x-ratelimit-reset"]) - fake_github.now() <= 31
    rate = admin("GET", "/rate_limit").json()
    assert rate["resources"]["core"]["remaining"] == 0
    fake_github.advance_clock(31)
    assert admin("GET", "/orgs/octo-org/actions/runners").status_code == 200


# ------------------------------------------------------- strictness, state


def test_strict_mode_turns_an_off_description_answer_into_a_loud_500(fake_github, admin, monkeypatch):
    original = FakeGitHub._runner_json
    monkeypatch.setattr(FakeGitHub, "_runner_json", lambda self, r: dict(original(self, r), shoe_size=44))
    fake_github.seed({"runners": [{"scope": "orgs/octo-org", "name": "drift"}]})

    answer = admin.session.get(fake_github.url + "/orgs/octo-org/actions/runners", timeout=10)

    assert answer.status_code == 500
    assert "shoe_size" in answer.json()["message"]
    assert fake_github.violations[0]["operation"] == "actions/list-self-hosted-runners-for-org"
    fake_github.clear_violations()


def test_the_call_log_records_requests_but_never_secrets(fake_github, admin, github_app):
    admin("GET", "/orgs/octo-org/actions/runners", params={"per_page": 5})
    Client(fake_github.url, github_app.jwt())("POST", f"/app/installations/{github_app.installation_id}/access_tokens")
    _register(fake_github, admin, "orgs/octo-org", "logged")

    calls = requests.get(fake_github.url + "/_fake/calls", timeout=10).json()
    listing = next(c for c in calls if c["path"] == "/orgs/octo-org/actions/runners")
    dumped = json.dumps(calls)

    assert listing["query"] == {"per_page": "5"} and listing["status"] == 200
    assert listing["credential"] == {"kind": "pat", "name": "admin", "scheme": "Bearer"}
    assert any(c["credential"]["kind"] == "jwt" for c in calls)
    assert any(c["api"] == "fake" and c["path"] == "/_fake/runner/register" for c in calls)
    for token in fake_github.tokens():
        assert token["token"] not in dumped
    assert github_app.jwt()[:40] not in dumped


def test_the_control_api_seeds_resets_and_reports_state(fake_github):
    seeded = requests.post(fake_github.url + "/_fake/seed", json={
        "orgs": ["acme"], "credentials": [{"name": "acme-admin", "grants": {"orgs/acme": "admin"}}],
        "runners": [{"scope": "orgs/acme", "name": "old", "status": "online", "busy": True}],
    }, timeout=10).json()
    client = Client(fake_github.url, seeded["credentials"]["acme-admin"])

    assert client("GET", "/orgs/acme/actions/runners").json()["runners"][0]["busy"] is True
    assert client("GET", "/orgs/octo-org/actions/runners").status_code == 403
    state = requests.get(fake_github.url + "/_fake/state", timeout=10).json()
    assert {"orgs/acme", "orgs/octo-org"} <= {s["key"] for s in state["scopes"]}
    assert seeded["credentials"]["acme-admin"] not in json.dumps(state)
    assert requests.post(fake_github.url + "/_fake/reset", timeout=10).status_code == 200
    assert client("GET", "/orgs/acme/actions/runners").status_code == 401
    assert [c["path"] for c in fake_github.calls] == ["/_fake/reset", "/orgs/acme/actions/runners"]


def test_state_survives_a_restart_through_the_state_file(tmp_path):
    state = tmp_path / "fake-github.json"
    with FakeGitHub(seed=STANDARD_SEED, state_file=state, lifetime=60) as first:
        admin = Client(first.url, first.credential("admin"))
        runner = _register(first, admin, "orgs/octo-org", "persisted")
        token = first.credential("admin")
    assert oct(state.stat().st_mode & 0o777) == "0o600"
    with FakeGitHub(state_file=state, lifetime=60) as second:
        admin = Client(second.url, token)
        assert admin("GET", f"/orgs/octo-org/actions/runners/{runner['id']}").json()["name"] == "persisted"
        assert _session(second, runner).status_code == 200
        assert second.violations == []


def test_every_route_of_the_fake_is_an_operation_of_the_description(fake_github):
    samples = {
        "scope": "orgs/o", "runner_id": "1", "label": "gpu", "group_id": "1",
        "installation_id": "1", "org": "o", "owner": "o", "repo": "r",
    }
    for method, pattern, _handler, _auth in fake_github._routes:
        path = pattern.pattern
        for name, value in samples.items():
            path = path.replace(f"(?P<{name}>repos/[^/]+/[^/]+|orgs/[^/]+|enterprises/[^/]+)", value)
            path = path.replace(f"(?P<{name}>orgs/[^/]+|enterprises/[^/]+)", value)
            path = path.replace(f"(?P<{name}>[^/]+)", value)
        assert github_contract().operation(method, path) is not None, (method, path)


def test_universal_error_statuses_are_the_ones_github_sends_anywhere():
    assert {401, 403, 404, 429, 500, 502, 503} <= UNIVERSAL_ERROR_STATUSES
    assert 422 not in UNIVERSAL_ERROR_STATUSES and 409 not in UNIVERSAL_ERROR_STATUSES


def test_the_fake_refuses_to_listen_on_every_interface():
    with pytest.raises(ValueError):
        FakeGitHub("0.0.0.0")


def test_the_fake_runs_as_a_process_and_stops_by_itself(tmp_path):
    port_file = tmp_path / "port"
    seed = tmp_path / "seed.yml"
    seed.write_text("orgs: [acme]\ncredentials:\n  - {name: ci, token: ghp_seededtoken, grants: {'*': admin}}\n")
    started = time.monotonic()
    process = subprocess.Popen(
        [sys.executable, str(FAKE_SCRIPT), "--bind", "127.0.0.1", "--port", "0", "--port-file", str(port_file),
         "--lifetime", "5", "--seed", str(seed), "--state", str(tmp_path / "state.json")],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=dict(os.environ, PYTHONDONTWRITEBYTECODE="1"),
    )
    try:
        deadline = time.monotonic() + 30
        while not port_file.exists() and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.1)
        assert port_file.exists(), process.communicate(timeout=5)[0]
        url = f"http://127.0.0.1:{port_file.read_text().strip()}"
        assert Client(url, "ghp_seededtoken")("GET", "/orgs/acme/actions/runners").status_code == 200
        assert process.wait(timeout=30) == 0
        assert time.monotonic() - started < 30
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
