# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Unit tests of plugins/module_utils/github.py: the GitHub REST client.

HTTP is real: ``StubServer`` is a small loopback server that answers from a routing table and records
every request, so headers, redirects and pagination go through ansible's ``open_url`` as in
production. Time is fake: ``FakeTime`` advances only when the client sleeps, so retry and
rate-limit schedules are asserted exactly and instantly. The module tests import both helpers.
"""
from __future__ import annotations

import base64
import json
import os
import stat
import threading
import urllib.error
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from ansible.module_utils.urls import open_url

from ansible_collections.inferno.runners.plugins.module_utils import github
from ansible_collections.inferno.runners.plugins.module_utils.github import (
    ApiBase,
    AppAuth,
    GitHubClient,
    GitHubError,
    GitHubHTTPError,
    GitHubInputError,
    InstallationTokenCache,
    Scope,
    TokenAuth,
    client_from_params,
    explain_http_error,
    make_app_jwt,
    parse_link_header,
    parse_retry_after,
)

NOW = 1_800_000_000.0
IN_AN_HOUR = "2027-01-15T09:00:00Z"  # NOW + 3600 s, as GitHub writes expires_at


class StubServer:
    """A loopback HTTP server answering from ``routes`` and recording every request.

    A route maps (METHOD, path) to a response ``(status, headers, body)``, a list of them (served
    in turn, the last one repeating) or a callable taking the recorded request.
    """

    def __init__(self):
        self.routes = {}
        self.requests = []
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _handle(self):
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                parts = urllib.parse.urlsplit(self.path)
                request = dict(
                    method=self.command,
                    path=parts.path,
                    query=dict(urllib.parse.parse_qsl(parts.query)),
                    headers={k.lower(): v for k, v in self.headers.items()},
                    body=json.loads(raw) if raw else None,
                )
                stub.requests.append(request)
                status, headers, body = stub.answer(request)
                data = body if isinstance(body, bytes) else json.dumps(body).encode() if body is not None else b""
                self.send_response(status)
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = "http://127.0.0.1:%d" % self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
        self.thread.start()

    def answer(self, request):
        route = self.routes.get((request["method"], request["path"]))
        if route is None:
            return 404, {"Content-Type": "application/json"}, {"message": "Not Found"}
        if callable(route):
            return route(request)
        if isinstance(route, list):
            return route.pop(0) if len(route) > 1 else route[0]
        return route

    def calls(self, method=None, path=None):
        return [r for r in self.requests if (method is None or r["method"] == method) and (path is None or r["path"] == path)]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class FakeTime:
    """Stands in for the ``time`` module inside github.py: sleeping is the only way time passes."""

    def __init__(self, now=NOW):
        self.wall = now
        self.mono = 1000.0
        self.sleeps = []

    def monotonic(self):
        return self.mono

    def time(self):
        return self.wall

    def sleep(self, seconds):
        self.sleeps.append(round(seconds, 3))
        self.mono += seconds
        self.wall += seconds


def json_response(status, body, **headers):
    headers.setdefault("Content-Type", "application/json")
    return status, headers, body


@pytest.fixture
def stub():
    server = StubServer()
    yield server
    server.close()


@pytest.fixture
def foreign():
    """A second server standing for another host; tests assert it is never contacted."""
    server = StubServer()
    server.routes[("GET", "/resource")] = json_response(200, {"runners": [], "total_count": 0})
    yield server
    server.close()


@pytest.fixture
def fake_time(monkeypatch):
    clock = FakeTime()
    monkeypatch.setattr(github, "time", clock)
    return clock


def make_client(server, fake_time, token="ghp_test", rng=0.0, **kwargs):
    return GitHubClient(ApiBase(server.url), TokenAuth(token), rng=lambda: rng, **kwargs)


def generate_key():
    """An RSA key and its PKCS#1 PEM, the form GitHub hands out for App keys."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                            serialization.NoEncryption()).decode()
    return key, pem


@pytest.fixture(scope="module")
def app_key():
    return generate_key()


def b64url_decode(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def verify_jwt(jwt, public_key):
    """Claims of ``jwt`` after checking its RS256 signature with ``public_key`` (raises if bad)."""
    head, payload, signature = jwt.split(".")
    public_key.verify(b64url_decode(signature), ("%s.%s" % (head, payload)).encode(), padding.PKCS1v15(), hashes.SHA256())
    return json.loads(b64url_decode(head)), json.loads(b64url_decode(payload))


# JWT ------------------------------------------------------------------------------------------

def test_fake_clock_matches_the_expiry_used_in_app_tests():
    assert github.parse_github_time(IN_AN_HOUR) == NOW + 3600


def test_app_jwt_claims_and_signature_verify_with_public_key(app_key):
    key, pem = app_key
    loaded = github.load_app_private_key(pem)

    header, claims = verify_jwt(make_app_jwt("123456", loaded, NOW), key.public_key())

    assert header == {"alg": "RS256", "typ": "JWT"}
    assert claims["iss"] == 123456
    assert claims["iat"] == NOW - 60
    assert claims["exp"] - NOW <= 600 and claims["exp"] > NOW
    assert claims["exp"] - claims["iat"] <= 600


def test_app_jwt_accepts_a_client_id_as_issuer(app_key):
    key, pem = app_key
    claims = verify_jwt(make_app_jwt("Iv23liABC", github.load_app_private_key(pem), NOW), key.public_key())[1]
    assert claims["iss"] == "Iv23liABC"


def test_app_jwt_signature_fails_with_another_key(app_key):
    pem = app_key[1]
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwt = make_app_jwt("1", github.load_app_private_key(pem), NOW)
    with pytest.raises(Exception):
        verify_jwt(jwt, other.public_key())


def test_private_key_errors_name_the_option():
    with pytest.raises(GitHubInputError, match="app_private_key_path is not an unencrypted PEM"):
        github.load_app_private_key("not a key", "app_private_key_path")


# Scope and api_url ----------------------------------------------------------------------------

@pytest.mark.parametrize("params, path", [
    ({"repository": "octo-org/octo-repo"}, "/repos/octo-org/octo-repo"),
    ({"organization": "octo-org"}, "/orgs/octo-org"),
    ({"enterprise": "octo-ent"}, "/enterprises/octo-ent"),
])
def test_scope_paths(params, path):
    assert Scope.from_params(params).path == path


@pytest.mark.parametrize("params, option", [
    ({"repository": "octo-org"}, "repository must be OWNER/REPO"),
    ({"repository": "https://github.com/octo-org/octo-repo"}, "repository must be OWNER/REPO"),
    ({"repository": "a/b/c"}, "repository must be OWNER/REPO"),
    ({"repository": "octo/.."}, "repository must be OWNER/REPO"),
    ({"organization": "octo/org"}, "organization must be a bare organization name"),
    ({"enterprise": "https://github.com/enterprises/x"}, "enterprise must be a bare enterprise slug"),
])
def test_unknown_scope_forms_name_the_option(params, option):
    with pytest.raises(GitHubInputError, match=option):
        Scope.from_params(params)


@pytest.mark.parametrize("url", ["api.github.com", "ftp://x/", "https://user:pw@ghe/api/v3", "https://ghe/api?x=1"])
def test_bad_api_url_names_the_option(url):
    with pytest.raises(GitHubInputError, match="api_url"):
        ApiBase(url)


@pytest.mark.parametrize("url, inside", [
    ("https://ghe.example.com/api/v3/repos/a/b", True),
    ("https://ghe.example.com:443/api/v3/orgs/a", True),
    ("https://GHE.example.com/api/v3", True),
    ("https://ghe.example.com/api/v30/orgs/a", False),
    ("https://ghe.example.com/orgs/a", False),
    ("http://ghe.example.com/api/v3/orgs/a", False),
    ("https://ghe.example.com:8443/api/v3/orgs/a", False),
    ("https://api.github.com/api/v3/orgs/a", False),
    ("https://ghe.example.com.evil.net/api/v3/orgs/a", False),
])
def test_api_base_pins_scheme_host_port_and_path_prefix(url, inside):
    assert ApiBase("https://ghe.example.com/api/v3/").contains(url) is inside


# Headers ----------------------------------------------------------------------------------------

def test_requests_carry_githubs_headers(stub, fake_time):
    stub.routes[("POST", "/repos/o/r/actions/runners/registration-token")] = json_response(201, {"token": "T"})
    client = make_client(stub, fake_time, token="ghp_secret")

    client.request("POST", "/repos/o/r/actions/runners/registration-token", body={"a": 1}, expected=(201,))

    headers = stub.requests[0]["headers"]
    assert headers["accept"] == "application/vnd.github+json"
    assert headers["x-github-api-version"] == "2022-11-28"
    assert headers["authorization"] == "Bearer ghp_secret"
    assert headers["user-agent"].startswith("inferno.runners")
    assert headers["content-type"] == "application/json"
    assert stub.requests[0]["body"] == {"a": 1}


# Pagination -----------------------------------------------------------------------------------

def paged_runners(server, count, per_page_cap=100):
    runners = [{"id": i + 1, "name": "runner-%03d" % (i + 1), "labels": []} for i in range(count)]

    def answer(request):
        per_page = min(int(request["query"].get("per_page", 30)), per_page_cap)
        page = int(request["query"].get("page", 1))
        chunk = runners[(page - 1) * per_page:page * per_page]
        pages = max(1, -(-count // per_page))
        links = []
        if page < pages:
            links.append('<%s%s?per_page=%d&page=%d>; rel="next"' % (server.url, request["path"], per_page, page + 1))
            links.append('<%s%s?per_page=%d&page=%d>; rel="last"' % (server.url, request["path"], per_page, pages))
        headers = {"Link": ", ".join(links)} if links else {}
        return json_response(200, {"total_count": count, "runners": chunk}, **headers)

    return runners, answer


def test_paginate_follows_next_until_the_last_page(stub, fake_time):
    runners, answer = paged_runners(stub, 250)
    stub.routes[("GET", "/orgs/o/actions/runners")] = answer

    items = make_client(stub, fake_time).paginate("/orgs/o/actions/runners", "runners")

    assert [r["id"] for r in items] == [r["id"] for r in runners]
    assert [r["query"] for r in stub.requests] == [
        {"per_page": "100"}, {"per_page": "100", "page": "2"}, {"per_page": "100", "page": "3"}]


def test_paginate_refuses_a_next_link_to_another_host(stub, foreign, fake_time):
    stub.routes[("GET", "/orgs/o/actions/runners")] = json_response(
        200, {"total_count": 2, "runners": [{"id": 1}]},
        Link='<%s/resource?page=2>; rel="next"' % foreign.url)

    with pytest.raises(GitHubError, match="outside api_url .*refusing to follow it") as caught:
        make_client(stub, fake_time, token="ghp_must_not_leak").paginate("/orgs/o/actions/runners", "runners")

    assert foreign.requests == []
    assert "ghp_must_not_leak" not in caught.value.msg


def test_paginate_refuses_githubs_own_host_when_api_url_is_elsewhere(stub, fake_time):
    # Prism's examples carry exactly this header.
    stub.routes[("GET", "/orgs/o/actions/runners")] = json_response(
        200, {"total_count": 2, "runners": [{"id": 1}]},
        Link='<https://api.github.com/resource?page=2>; rel="next", <https://api.github.com/resource?page=5>; rel="last"')
    sent = []

    def recording_opener(url, **kwargs):
        sent.append(url)
        return open_url(url, **kwargs)

    with pytest.raises(GitHubError, match="https://api.github.com/resource"):
        GitHubClient(ApiBase(stub.url), TokenAuth("t"), opener=recording_opener).paginate("/orgs/o/actions/runners", "runners")
    assert all(url.startswith(stub.url) for url in sent) and len(sent) == 1


def test_paginate_accepts_relative_next_links_and_detects_loops(stub, fake_time):
    stub.routes[("GET", "/orgs/o/actions/runners")] = json_response(
        200, {"runners": [{"id": 1}]}, Link='</orgs/o/actions/runners?per_page=100>; rel="next"')
    with pytest.raises(GitHubError, match="loops"):
        make_client(stub, fake_time).paginate("/orgs/o/actions/runners", "runners")
    assert len(stub.requests) == 1


def test_parse_link_header():
    links = parse_link_header('<https://a/x?page=2>; rel="next", <https://a/x?page=5>; rel="last"')
    assert links == {"next": "https://a/x?page=2", "last": "https://a/x?page=5"}
    assert parse_link_header(None) == {}


# Redirects -------------------------------------------------------------------------------------

def test_redirect_to_another_host_is_refused_without_sending_the_token(stub, foreign, fake_time):
    stub.routes[("GET", "/repos/o/r/actions/runners")] = (302, {"Location": foreign.url + "/resource"}, b"")

    with pytest.raises(GitHubError, match="refusing to follow a 302 redirect"):
        make_client(stub, fake_time).request("GET", "/repos/o/r/actions/runners")

    assert foreign.requests == []


def test_same_host_get_redirect_is_followed_with_the_token(stub, fake_time):
    stub.routes[("GET", "/repos/old/r/actions/runners")] = (301, {"Location": "/repositories/42/actions/runners"}, b"")
    stub.routes[("GET", "/repositories/42/actions/runners")] = json_response(200, {"runners": []})

    response = make_client(stub, fake_time, token="tok").request("GET", "/repos/old/r/actions/runners")

    assert response.status == 200
    assert stub.requests[1]["headers"]["authorization"] == "Bearer tok"


def test_307_repeats_the_post_and_302_on_post_is_reported(stub, fake_time):
    stub.routes[("POST", "/a")] = (307, {"Location": "/b"}, b"")
    stub.routes[("POST", "/b")] = json_response(201, {"token": "x"})
    stub.routes[("POST", "/c")] = (302, {"Location": "/b"}, b"")
    client = make_client(stub, fake_time)

    assert client.request("POST", "/a", body={"k": 1}, expected=(201,)).json() == {"token": "x"}
    assert stub.requests[1]["body"] == {"k": 1}
    with pytest.raises(GitHubError, match="not re-sending it as GET"):
        client.request("POST", "/c", body={"k": 1}, expected=(201,))


def test_a_url_outside_api_url_is_never_requested(stub, foreign, fake_time):
    with pytest.raises(GitHubError, match="outside api_url"):
        make_client(stub, fake_time).request("GET", foreign.url + "/resource")
    assert foreign.requests == []


# Retries ---------------------------------------------------------------------------------------

def test_5xx_is_retried_with_exponential_backoff_and_jitter(stub, fake_time):
    stub.routes[("GET", "/x")] = [json_response(500, {}), json_response(502, {}), json_response(503, {}),
                                  json_response(200, {"ok": True})]

    assert make_client(stub, fake_time, rng=0.0).request("GET", "/x").json() == {"ok": True}
    assert fake_time.sleeps == [0.5, 1.0, 2.0]


def test_backoff_jitter_stays_within_the_step(stub, fake_time):
    stub.routes[("GET", "/x")] = [json_response(500, {}), json_response(500, {}), json_response(200, {})]
    make_client(stub, fake_time, rng=0.999).request("GET", "/x")
    assert fake_time.sleeps == [pytest.approx(0.9995, abs=1e-3), pytest.approx(1.999, abs=1e-3)]


def test_retries_stop_at_retry_max_time_with_a_clear_failure(stub, fake_time):
    stub.routes[("GET", "/x")] = json_response(502, {"message": "Bad Gateway"})

    with pytest.raises(GitHubHTTPError) as caught:
        make_client(stub, fake_time, rng=0.0, retry_max_time=10).request("GET", "/x")

    # 0.5 + 1 + 2 + 4 = 7.5 s; the next step (8 s) would pass 10 s, so the 5th answer is final.
    assert fake_time.sleeps == [0.5, 1.0, 2.0, 4.0]
    assert caught.value.status == 502 and len(stub.requests) == 5


def test_retry_max_time_zero_disables_retries(stub, fake_time):
    stub.routes[("GET", "/x")] = json_response(500, {})
    with pytest.raises(GitHubHTTPError):
        make_client(stub, fake_time, retry_max_time=0).request("GET", "/x")
    assert len(stub.requests) == 1 and fake_time.sleeps == []


def test_connection_errors_are_retried_then_reported(stub, fake_time):
    failures = [urllib.error.URLError(ConnectionRefusedError(111, "Connection refused")),
                ConnectionResetError(104, "Connection reset by peer")]
    stub.routes[("GET", "/x")] = json_response(200, {"ok": 1})

    def flaky_opener(url, **kwargs):
        if failures:
            raise failures.pop(0)
        return open_url(url, **kwargs)

    client = GitHubClient(ApiBase(stub.url), TokenAuth("t"), opener=flaky_opener, rng=lambda: 0.0)
    assert client.request("GET", "/x").json() == {"ok": 1}
    assert fake_time.sleeps == [0.5, 1.0]

    def dead_opener(url, **kwargs):
        raise urllib.error.URLError(ConnectionRefusedError(111, "Connection refused"))

    client = GitHubClient(ApiBase(stub.url), TokenAuth("t"), opener=dead_opener, rng=lambda: 0.0, retry_max_time=3)
    with pytest.raises(GitHubError, match=r"cannot reach GitHub .* after 3 attempt\(s\).*retry_max_time=3.*Connection refused"):
        client.request("GET", "/x")


def test_tls_verification_failure_is_not_retried(stub, fake_time):
    import ssl

    def opener(url, **kwargs):
        raise urllib.error.URLError(ssl.SSLCertVerificationError("certificate verify failed"))

    with pytest.raises(GitHubError, match="set ca_path"):
        GitHubClient(ApiBase("https://ghe.example.com/api/v3"), TokenAuth("t"), opener=opener).request("GET", "/x")
    assert fake_time.sleeps == []


# Rate limits ----------------------------------------------------------------------------------

def test_retry_after_is_honoured(stub, fake_time):
    stub.routes[("GET", "/x")] = [json_response(429, {"message": "slow down"}, **{"Retry-After": "7"}),
                                  json_response(200, {})]
    client = make_client(stub, fake_time)
    client.request("GET", "/x")
    assert fake_time.sleeps == [7.0] and client.rate_limit_waited == 7.0


def test_retry_after_as_http_date():
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", 1445412470.0) == 10.0
    assert parse_retry_after("garbage", 0) is None


def test_exhausted_primary_limit_waits_until_reset(stub, fake_time):
    reset = int(NOW) + 30
    stub.routes[("GET", "/x")] = [
        json_response(403, {"message": "API rate limit exceeded"},
                      **{"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(reset)}),
        json_response(200, {})]
    make_client(stub, fake_time).request("GET", "/x")
    assert fake_time.sleeps == [31.0]  # until reset, plus one second for the header's resolution


def test_secondary_limit_without_headers_waits_a_minute_then_doubles(stub, fake_time):
    limited = json_response(403, {"message": "You have exceeded a secondary rate limit."})
    stub.routes[("GET", "/x")] = [limited, limited, json_response(200, {})]
    make_client(stub, fake_time, rate_limit_max_wait=600).request("GET", "/x")
    assert fake_time.sleeps == [60.0, 120.0]


def test_rate_limit_wait_beyond_the_budget_fails_at_once(stub, fake_time):
    stub.routes[("GET", "/x")] = json_response(
        403, {"message": "API rate limit exceeded"},
        **{"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(int(NOW) + 3600), "x-ratelimit-resource": "core"})

    with pytest.raises(GitHubError, match=r"rate limit hit .*x-ratelimit-reset.*resource core.*"
                                          r"waiting 3601 s more would exceed rate_limit_max_wait=300") as caught:
        make_client(stub, fake_time, rate_limit_max_wait=300).request("GET", "/x")
    assert fake_time.sleeps == [] and caught.value.status == 403


def test_rate_limit_budget_counts_across_requests(stub, fake_time):
    limited = json_response(429, {}, **{"Retry-After": "40"})
    stub.routes[("GET", "/x")] = [limited, json_response(200, {}), limited]
    client = make_client(stub, fake_time, rate_limit_max_wait=60)
    client.request("GET", "/x")
    with pytest.raises(GitHubError, match="already waited 40 s"):
        client.request("GET", "/x")


def test_a_plain_403_is_not_mistaken_for_a_rate_limit(stub, fake_time):
    stub.routes[("GET", "/x")] = json_response(
        403, {"message": "Resource not accessible by integration"},
        **{"x-ratelimit-remaining": "4999", "x-accepted-github-permissions": "organization_self_hosted_runners=read"})
    with pytest.raises(GitHubHTTPError) as caught:
        make_client(stub, fake_time).request("GET", "/x")
    assert fake_time.sleeps == []
    msg = explain_http_error(caught.value, Scope("organization", "o"), "listing runners").msg
    assert '"Self-hosted runners" organization permission' in msg
    assert "organization_self_hosted_runners=read" in msg
    assert "Resource not accessible by integration" in msg


# Error explanations ---------------------------------------------------------------------------

@pytest.mark.parametrize("status, body, kind, expected", [
    (401, {"message": "Bad credentials"}, "repository", "rejected the credentials .*401 Bad credentials.*invalid, expired or revoked"),
    (403, {"message": "Must have admin rights"}, "repository", '"Administration" repository permission'),
    (403, {"message": "Forbidden"}, "enterprise", "manage_runners:enterprise"),
    (404, {"message": "Not Found"}, "organization", "organization o was not found .*not visible|cannot see"),
    (422, {"message": "Validation Failed", "errors": ["labels is too long"]}, "repository",
     r"\(422\): Validation Failed \(labels is too long\)"),
])
def test_http_errors_are_explained(stub, fake_time, status, body, kind, expected):
    stub.routes[("GET", "/x")] = json_response(status, body)
    with pytest.raises(GitHubHTTPError) as caught:
        make_client(stub, fake_time).request("GET", "/x")
    name = "o/r" if kind == "repository" else "o"
    assert caught.value.status == status
    import re
    assert re.search(expected, explain_http_error(caught.value, Scope(kind, name), "listing runners").msg)


# GitHub App installation tokens ------------------------------------------------------------------

def app_routes(server, key, app_id="42", installation_id=7, expires_at=IN_AN_HOUR):
    minted = []

    def mint(request):
        claims = verify_jwt(request["headers"]["authorization"].split(" ", 1)[1], key.public_key())[1]
        assert str(claims["iss"]) == str(app_id)
        minted.append(claims)
        return json_response(201, {"token": "ghs_installation_%d" % len(minted), "expires_at": expires_at})

    server.routes[("POST", "/app/installations/%d/access_tokens" % installation_id)] = mint
    server.routes[("GET", "/orgs/o/actions/runners")] = lambda r: json_response(
        200, {"total_count": 0, "runners": []}) if r["headers"]["authorization"].startswith("Bearer ghs_") else \
        json_response(401, {"message": "Bad credentials"})
    return minted


def app_params(server, pem, cache_dir, **extra):
    params = dict(api_url=server.url, app_id="42", app_installation_id=7, app_private_key=pem,
                  app_token_cache=True, app_token_cache_dir=str(cache_dir), organization="o")
    params.update(extra)
    return params


def test_installation_token_is_minted_once_and_shared_through_the_cache(stub, fake_time, app_key, tmp_path):
    key, pem = app_key
    minted = app_routes(stub, key)
    cache_dir = tmp_path / "cache"

    for task in range(3):  # three tasks: three processes in real life, three clients here
        client, scope = client_from_params(app_params(stub, pem, cache_dir))
        client.request("GET", scope.path + "/actions/runners")

    assert len(minted) == 1
    assert [r["headers"]["authorization"] for r in stub.calls("GET")] == ["Bearer ghs_installation_1"] * 3
    assert stat.S_IMODE(os.stat(cache_dir).st_mode) == 0o700
    files = [f for f in os.listdir(cache_dir) if f.endswith(".json")]
    assert len(files) == 1 and stat.S_IMODE(os.stat(cache_dir / files[0]).st_mode) == 0o600


def test_without_cache_each_task_mints_but_reuses_within_the_task(stub, fake_time, app_key, tmp_path):
    key, pem = app_key
    minted = app_routes(stub, key)
    for task in range(2):
        client, scope = client_from_params(app_params(stub, pem, tmp_path, app_token_cache=False))
        client.request("GET", scope.path + "/actions/runners")
        client.request("GET", scope.path + "/actions/runners")
    assert len(minted) == 2
    assert not os.listdir(tmp_path)


def test_cached_token_near_expiry_is_replaced(stub, fake_time, app_key, tmp_path):
    key, pem = app_key
    minted = app_routes(stub, key)
    expiry = github.parse_github_time(IN_AN_HOUR)
    client, scope = client_from_params(app_params(stub, pem, tmp_path))
    client.request("GET", scope.path + "/actions/runners")
    fake_time.wall = expiry - 200  # inside the 5-minute margin
    client, scope = client_from_params(app_params(stub, pem, tmp_path))
    client.request("GET", scope.path + "/actions/runners")
    assert len(minted) == 2


def test_a_revoked_cached_token_is_replaced_once_on_401(stub, fake_time, app_key, tmp_path):
    key, pem = app_key
    minted = app_routes(stub, key)
    cache = InstallationTokenCache(str(tmp_path))
    api = ApiBase(stub.url)
    auth = AppAuth("42", 7, github.load_app_private_key(pem), api, cache=cache)
    with cache.locked(auth._cache_key):
        cache.put(auth._cache_key, "ghp_revoked", "x", NOW + 3000)

    client = GitHubClient(api, auth)
    client.request("GET", "/orgs/o/actions/runners")

    assert len(minted) == 1
    assert [r["headers"]["authorization"] for r in stub.calls("GET")] == ["Bearer ghp_revoked", "Bearer ghs_installation_1"]
    assert cache.get(auth._cache_key, NOW)["token"] == "ghs_installation_1"


def test_a_fresh_token_refused_with_401_is_not_retried(stub, fake_time, app_key, tmp_path):
    key, pem = app_key
    minted = app_routes(stub, key)
    stub.routes[("GET", "/orgs/o/actions/runners")] = json_response(401, {"message": "Bad credentials"})
    client, scope = client_from_params(app_params(stub, pem, tmp_path))
    with pytest.raises(GitHubHTTPError):
        client.request("GET", scope.path + "/actions/runners")
    assert len(minted) == 1 and len(stub.calls("GET")) == 1


def test_an_unsafe_cache_directory_is_not_used(stub, fake_time, app_key, tmp_path):
    key, pem = app_key
    minted = app_routes(stub, key)
    cache_dir = tmp_path / "shared"
    cache_dir.mkdir(mode=0o755)
    os.chmod(cache_dir, 0o755)
    warnings = []
    for task in range(2):
        client, scope = client_from_params(app_params(stub, pem, cache_dir), warn=warnings.append)
        client.request("GET", scope.path + "/actions/runners")
    assert len(minted) == 2 and os.listdir(cache_dir) == []
    assert "accessible to other users" in warnings[0]


@pytest.mark.parametrize("status, expected", [
    (401, "check app_id and app_private_key"),
    (404, "app_installation_id 7 is not an installation of app_id 42"),
])
def test_app_authentication_failures_are_explained(stub, fake_time, app_key, tmp_path, status, expected):
    pem = app_key[1]
    stub.routes[("POST", "/app/installations/7/access_tokens")] = json_response(status, {"message": "nope"})
    client, scope = client_from_params(app_params(stub, pem, tmp_path))
    with pytest.raises(GitHubError, match=expected):
        client.request("GET", scope.path + "/actions/runners")


# Options -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("params, expected", [
    (dict(app_id="1", app_installation_id=2), "app_id needs app_private_key or app_private_key_path"),
    (dict(app_id="1"), "app_installation_id is required with app_id"),
    (dict(app_id="1", app_installation_id=2, app_private_key_path="/nonexistent.pem"),
     "app_private_key_path /nonexistent.pem cannot be read"),
    (dict(token="t", timeout=0), "timeout must be at least 1"),
    (dict(token="t", rate_limit_max_wait=-1), "rate_limit_max_wait must be at least 0"),
    (dict(token="  "), "token is empty"),
    (dict(), "one of token or app_id is required"),
])
def test_bad_options_name_the_option(params, expected):
    params = dict(dict(repository="o/r"), **params)
    with pytest.raises(GitHubInputError, match=expected):
        client_from_params(params)


def test_cleartext_remote_api_url_warns():
    warnings = []
    client_from_params(dict(token="t", organization="o", api_url="http://ghe.example.com/api/v3"), warn=warnings.append)
    assert "unencrypted" in warnings[0]
