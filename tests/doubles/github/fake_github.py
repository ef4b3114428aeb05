"""Stateful fake of the GitHub REST API for self-hosted runners, GitHub Apps and rate limits.

Upstream contract honoured: GitHub REST API version 2022-11-28 as described by
github/rest-api-description, npm ``@octokit/openapi`` ``generated/api.github.com.json`` (and
``generated/ghec.json`` for ``/enterprises/{enterprise}/...``, which only GitHub Enterprise Cloud
describes). With ``strict`` on (the default) every response to a GitHub path is checked against
that description before it leaves: status allowed for the operation, body against the schema with
no undocumented properties, declared headers. A mismatch is answered 500 with the reason and kept
in ``violations`` so the test fails loudly instead of the fake drifting.

What actions/runner's ``config.sh``/``run.sh`` do against GitHub's private Actions service
(register with a registration token, hold a session, remove with a remove token) is modelled by a
control API under ``/_fake/``. That API is NOT GitHub, is never validated, and exists for tests and
for the runner stand-in. Requests under ``/api/v3/`` are served like GitHub Enterprise Server's
base URL; ``Link`` headers and URLs in bodies are built from the request's own base URL.

Run as a process (Molecule): ``python tests/doubles/github/fake_github.py --bind 127.0.0.1
--port 0 --port-file F --lifetime 3600 [--state F.json] [--seed F.yml]``. The state file holds
every secret the fake handed out, by design: keep it outside paths a leak check scans.
"""
from __future__ import annotations

import argparse
import base64
import copy
import ipaddress
import json
import os
import re
import secrets
import signal
import string
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable
from urllib.parse import parse_qs, unquote, urlencode, urlsplit

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
    from tests.doubles.github.app_jwt import b64url_decode  # noqa: E402
    from tests.doubles.github.openapi import GitHubContract, Operation, github_contract  # noqa: E402
else:
    from .app_jwt import b64url_decode
    from .openapi import GitHubContract, Operation, github_contract

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

API_VERSION = "2022-11-28"
DOCS = "https://docs.github.com/rest"
TOKEN_LIFETIME = 3600
MAX_JWT_AHEAD = 600
MAX_CALLS_KEPT = 20000
MAX_FAULT_DELAY = 120.0
RUNNER_VERSION = "2.330.0"

# A world most tests can start from. Tokens are generated per instance (never literals in the
# repository), so a leak check grepping disks cannot match this source file.
STANDARD_SEED: dict[str, Any] = {
    "enterprises": ["octo-enterprise"],
    "orgs": ["octo-org"],
    "repos": ["octo-org/octo-repo", "octo-org/other-repo"],
    "runner_groups": [
        {"scope": "orgs/octo-org", "id": 2, "name": "gpu", "visibility": "all"},
        {"scope": "enterprises/octo-enterprise", "id": 3, "name": "fleet", "visibility": "all"},
    ],
    "credentials": [
        {"name": "admin", "kind": "pat", "grants": {"*": "admin"}},
        {
            "name": "reader",
            "kind": "pat",
            "grants": {"orgs/octo-org": "read", "repos/octo-org/*": "read", "enterprises/octo-enterprise": "read"},
        },
        {"name": "outsider", "kind": "pat", "grants": {}},
    ],
}

_SCOPE = r"(?P<scope>repos/[^/]+/[^/]+|orgs/[^/]+|enterprises/[^/]+)"
_GROUP_SCOPE = r"(?P<scope>orgs/[^/]+|enterprises/[^/]+)"
_LEVELS = {"read": 1, "write": 2, "admin": 2}
_OS_LABEL = {"linux": "Linux", "windows": "Windows", "macos": "macOS", "osx": "macOS"}
_ARCH_LABEL = {"x64": "X64", "arm64": "ARM64", "arm": "ARM", "x86": "X86"}
_DEFAULT_MESSAGES = {
    400: "Bad Request",
    401: "Bad credentials",
    403: "Forbidden",
    404: "Not Found",
    409: "Conflict",
    422: "Validation Failed",
    429: "Too Many Requests",
    500: "Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
}


class FakeError(Exception):
    """An error answer: raised by handlers, also by the Python API for the same conditions."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(f"{status} {message}")
        self.status = status
        self.message = message
        self.headers = headers or {}


@dataclass
class Reply:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    checked: bool = True


@dataclass
class Call:
    method: str
    path: str
    raw_path: str
    query: dict[str, str]
    headers: Any
    raw_body: bytes
    base_url: str
    web_url: str
    client: str
    operation: Operation | None = None
    credential: dict | None = None
    credential_kind: str = "none"
    credential_name: str | None = None
    api_version: str = API_VERSION
    _body: Any = None
    _parsed: bool = False

    def body(self) -> Any:
        if not self._parsed:
            self._parsed = True
            if self.raw_body.strip():
                try:
                    self._body = json.loads(self.raw_body)
                except ValueError as exc:
                    raise FakeError(400, "Problems parsing JSON") from exc
        return self._body


def _iso(epoch: float, zulu: bool = False) -> str:
    moment = datetime.fromtimestamp(epoch, tz=timezone.utc)
    if zulu:
        return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
    return moment.isoformat(timespec="milliseconds")


def _random(alphabet: str, length: int) -> str:
    return "".join(secrets.choice(alphabet) for _position in range(length))


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def normalise_scope(scope: str) -> str:
    """``repos/Owner/Repo`` -> ``repos/owner/repo``: GitHub's owner and names are case-insensitive."""
    parts = [p for p in scope.strip("/").split("/") if p]
    kinds = {"repos": 3, "orgs": 2, "enterprises": 2}
    if not parts or parts[0] not in kinds or len(parts) != kinds[parts[0]]:
        raise FakeError(422, f"not a scope: {scope!r} (want repos/OWNER/REPO, orgs/ORG or enterprises/SLUG)")
    return "/".join(parts).lower()


def scope_from_url(url: str) -> str:
    """The scope of a config.sh ``--url`` (``https://host/owner/repo``, ``.../org``, ``.../enterprises/e``)."""
    parts = [p for p in urlsplit(url).path.split("/") if p]
    if len(parts) == 2 and parts[0] == "enterprises":
        return f"enterprises/{parts[1]}".lower()
    if len(parts) == 2:
        return f"repos/{parts[0]}/{parts[1]}".lower()
    if len(parts) == 1:
        return f"orgs/{parts[0]}".lower()
    raise FakeError(422, f"cannot tell a repository, organization or enterprise from {url!r}")


def _rsa_params() -> dict[str, str]:
    """A fresh key serialised like actions/runner's ``.credentials_rsaparams`` (RSAParameters)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    numbers = key.private_numbers()

    def be(value: int) -> str:
        return _b64(value.to_bytes((value.bit_length() + 7) // 8, "big"))

    public = numbers.public_numbers
    return {
        "d": be(numbers.d),
        "dp": be(numbers.dmp1),
        "dq": be(numbers.dmq1),
        "exponent": be(public.e),
        "inverseQ": be(numbers.iqmp),
        "modulus": be(public.n),
        "p": be(numbers.p),
        "q": be(numbers.q),
    }


class FakeGitHub:
    """The fake server. ``start()`` serves it from a daemon thread; ``stop()`` or ``lifetime`` ends it."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        lifetime: float = 900.0,
        strict: bool = True,
        seed: dict | None = None,
        state_file: str | Path | None = None,
        heartbeat_ttl: float = 60.0,
        api_versions: tuple[str, ...] = (API_VERSION,),
        rate_limit: int = 5000,
        anonymous_rate_limit: int = 60,
        rate_limit_status: int = 403,
        single_use_registration_tokens: bool = False,
        runner_version: str = RUNNER_VERSION,
        runner_download_base: str = "https://github.com/actions/runner/releases/download",
        contract: GitHubContract | None = None,
        log: Callable[[str], None] | None = None,
    ) -> None:
        _check_bind_address(host)
        self.host = host
        self._requested_port = port
        self.lifetime = lifetime
        self.strict = strict
        self.heartbeat_ttl = heartbeat_ttl
        self.api_versions = tuple(api_versions)
        self.rate_limit = rate_limit
        self.anonymous_rate_limit = anonymous_rate_limit
        self.rate_limit_status = rate_limit_status
        self.single_use_registration_tokens = single_use_registration_tokens
        self.runner_version = runner_version
        self.runner_download_base = runner_download_base.rstrip("/")
        self.contract = contract or github_contract()
        self.state_file = Path(state_file) if state_file else None
        self._log = log
        self._lock = threading.RLock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._timer: threading.Timer | None = None
        self._stopped = threading.Event()
        self._calls: list[dict] = []
        self._violations: list[dict] = []
        self._faults: list[dict] = []
        self._seq = 0
        self._fault_seq = 0
        self._initial_seed = copy.deepcopy(seed) if seed else None
        self._s = self._empty_state()
        if self.state_file and self.state_file.is_file():
            self._s = self._load_state(self.state_file.read_text(encoding="utf-8"))
        elif seed:
            self.seed(seed)
        self._routes = self._build_routes()

    # ----------------------------------------------------------------- lifecycle

    def start(self) -> "FakeGitHub":
        server = ThreadingHTTPServer((self.host, self._requested_port), _Handler)
        server.daemon_threads = True
        server.fake = self  # type: ignore[attr-defined]
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-github", daemon=True
        )
        self._thread.start()
        # The fake must end even when whoever started it dies without stopping it.
        self._timer = threading.Timer(self.lifetime, self.stop)
        self._timer.daemon = True
        self._timer.start()
        return self

    def stop(self) -> None:
        if self._stopped.is_set():
            return
        self._stopped.set()
        if self._timer is not None:
            self._timer.cancel()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=10)

    def wait(self, timeout: float | None = None) -> bool:
        """Block until stopped (by ``stop()`` or the lifetime); True if it stopped."""
        return self._stopped.wait(timeout)

    def __enter__(self) -> "FakeGitHub":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("not started")
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """API base URL, the ``api.github.com`` stand-in (e.g. ``http://127.0.0.1:40123``)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def ghes_url(self) -> str:
        """The same API at a GitHub Enterprise Server style base URL (``.../api/v3``)."""
        return self.url + "/api/v3"

    # --------------------------------------------------------------- Python API

    @property
    def calls(self) -> list[dict]:
        with self._lock:
            return copy.deepcopy(self._calls)

    def github_calls(self, method: str | None = None, path: str | None = None) -> list[dict]:
        """Calls to GitHub paths, optionally filtered by method and a path regex (``re.search``)."""
        return [
            c
            for c in self.calls
            if c["api"] == "github"
            and (method is None or c["method"] == method.upper())
            and (path is None or re.search(path, c["path"]))
        ]

    @property
    def violations(self) -> list[dict]:
        with self._lock:
            return copy.deepcopy(self._violations)

    def clear_violations(self) -> None:
        with self._lock:
            self._violations.clear()

    def tokens(self, kind: str | None = None) -> list[dict]:
        """Every secret handed out or seeded (``kind``: pat, installation, registration, remove,
        jit_config, runner_secret), for leak checks."""
        with self._lock:
            self._refresh()
            return [copy.deepcopy(t) for t in self._s["tokens"] if kind is None or t["kind"] == kind]

    def credential(self, name: str) -> str:
        """The token of a seeded credential, by name (``STANDARD_SEED``: admin, reader, outsider)."""
        with self._lock:
            for token, cred in self._s["credentials"].items():
                if cred["name"] == name:
                    return token
        raise KeyError(name)

    def state(self) -> dict:
        """A JSON view of the world without secrets (what ``GET /_fake/state`` answers)."""
        with self._lock:
            self._refresh()
            runners = [
                dict(self._runner_json(r), scope=r["scope"], pinned=r["pinned"], work_folder=r["work_folder"],
                     jit=r["jit"], registered_at=r["registered_at"], last_seen=r["last_seen"])
                for r in sorted(self._s["runners"].values(), key=lambda r: r["id"])
            ]
            return {
                "now": self.now(),
                "heartbeat_ttl": self.heartbeat_ttl,
                "strict": self.strict,
                "scopes": sorted(self._s["scopes"].values(), key=lambda s: s["key"]),
                "runner_groups": sorted(self._s["groups"].values(), key=lambda g: (g["scope"], g["id"])),
                "runners": runners,
                "apps": [dict(a) for a in self._s["apps"].values()],
                "installations": list(self._s["installations"].values()),
                "credentials": [
                    {"name": c["name"], "kind": c["kind"], "grants": c["grants"], "expires_at": c.get("expires_at")}
                    for c in self._s["credentials"].values()
                ],
                "rate_limits": copy.deepcopy(self._s["rate"]),
                "faults": copy.deepcopy(self._faults),
                "violations": len(self._violations),
            }

    def runners(self, scope: str | None = None) -> list[dict]:
        """Runners as the API shows them, plus ``scope``."""
        key = normalise_scope(scope) if scope else None
        return [r for r in self.state()["runners"] if key is None or r["scope"] == key]

    def now(self) -> float:
        """The fake's clock: real time plus whatever ``advance_clock`` added."""
        return time.time() + self._s["clock_offset"]

    def advance_clock(self, seconds: float) -> float:
        """Move the fake's clock forward (expire tokens, miss heartbeats) without sleeping."""
        with self._lock:
            self._s["clock_offset"] += float(seconds)
            self._save()
            return self.now()

    def reset(self, seed: dict | None = None) -> dict:
        """Forget everything (state, calls, faults, violations), then apply ``seed`` if given."""
        with self._lock:
            self._s = self._empty_state()
            self._calls.clear()
            self._violations.clear()
            self._faults.clear()
            result = self.seed(seed) if seed else {}
            self._save()
            return result

    def inject_fault(
        self,
        path: str = ".*",
        *,
        method: str = "*",
        status: int | None = None,
        count: int | None = 1,
        message: str | None = None,
        headers: dict[str, str] | None = None,
        body: Any = None,
        delay: float = 0.0,
        close: bool = False,
    ) -> int:
        """The next ``count`` GitHub-path requests (None: all until cleared) whose method matches
        and whose path matches the regex ``path`` (``re.search`` on the path as sent, without the
        query) are delayed by ``delay`` seconds, then have their connection closed (``close``) or
        are answered ``status`` with GitHub's error body (or ``body``) and ``headers`` (e.g.
        ``retry-after``, ``x-ratelimit-remaining``). With neither, only the delay applies and the
        request is then served normally. Returns the fault id."""
        if status is None and not close and delay <= 0:
            raise ValueError("a fault needs a status, close=True or a delay")
        re.compile(path)
        with self._lock:
            self._fault_seq += 1
            self._faults.append(
                {
                    "id": self._fault_seq,
                    "method": method.upper(),
                    "path": path,
                    "status": status,
                    "remaining": count,
                    "message": message,
                    "headers": dict(headers or {}),
                    "body": body,
                    "delay": min(float(delay), MAX_FAULT_DELAY),
                    "close": bool(close),
                    "hits": 0,
                }
            )
            return self._fault_seq

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def set_rate_limit(
        self,
        *,
        limit: int | None = None,
        remaining: int | None = None,
        reset_in: float | None = None,
        status: int | None = None,
    ) -> None:
        """Change the primary rate limit for every credential: ``limit`` for windows opened from
        now on, ``remaining``/``reset_in`` for open windows too (``remaining=0`` exhausts them),
        ``status`` 403 or 429 for over-limit answers."""
        with self._lock:
            if status is not None:
                if status not in (403, 429):
                    raise ValueError("GitHub answers 403 or 429 over the rate limit")
                self.rate_limit_status = status
            if limit is not None:
                self.rate_limit = limit
            now = self.now()
            # Windows opened before the override ends (a client's first call after exhausting the
            # limit, say) start in the same state; later ones are fresh again.
            self._s["rate_override"] = {
                "remaining": remaining,
                "reset": int(now + (reset_in if reset_in is not None else TOKEN_LIFETIME)),
            }
            for bucket in self._s["rate"].values():
                if limit is not None:
                    bucket["limit"] = limit
                if remaining is not None:
                    bucket["used"] = max(0, bucket["limit"] - remaining)
                if reset_in is not None:
                    bucket["reset"] = int(now + reset_in)

    # ------------------------------------------------------------------- seeding

    def seed(self, doc: dict) -> dict:
        """Add enterprises, orgs, repos, runner groups, credentials, apps, installations, runners.

        Returns ``{"credentials": {name: token}, "runners": {name: id}, "runner_groups": {name: id}}``.
        See ``STANDARD_SEED`` and the README for the shape.
        """
        out: dict[str, dict] = {"credentials": {}, "runners": {}, "runner_groups": {}}
        with self._lock:
            for kind, key in (("enterprises", "enterprises"), ("orgs", "orgs"), ("repos", "repos")):
                for entry in doc.get(key, []):
                    name = entry if isinstance(entry, str) else entry.get("name") or entry.get("login")
                    self._add_scope(f"{kind}/{name}", entry if isinstance(entry, dict) else {})
            for group in doc.get("runner_groups", []):
                scope = normalise_scope(group["scope"])
                self._require_scope(scope)
                if scope.startswith("repos/"):
                    raise FakeError(422, "runner groups belong to organizations and enterprises")
                gid = int(group.get("id") or self._next("group"))
                self._s["next"]["group"] = max(self._s["next"]["group"], gid + 1)
                self._s["groups"][f"{scope}#{gid}"] = self._group(scope, gid, group["name"], group)
                out["runner_groups"][group["name"]] = gid
            for app in doc.get("apps", []):
                serialization.load_pem_public_key(app["public_key_pem"].encode("ascii"))
                app_id = int(app["id"])
                self._s["apps"][str(app_id)] = {
                    "id": app_id,
                    "slug": app.get("slug", f"app-{app_id}"),
                    "client_id": app.get("client_id", f"Iv23li{_random(string.ascii_letters + string.digits, 10)}"),
                    "public_key_pem": app["public_key_pem"],
                }
            for inst in doc.get("installations", []):
                if str(int(inst["app_id"])) not in self._s["apps"]:
                    raise FakeError(422, f"installation {inst.get('id')} names unknown app {inst['app_id']}")
                account = inst["account"].strip("/").lower()
                if not re.fullmatch(r"(orgs|users)/[^/]+", account):
                    raise FakeError(422, "installation account must be orgs/NAME or users/NAME")
                if account.startswith("orgs/"):
                    self._require_scope(account)
                iid = int(inst.get("id") or self._next("installation"))
                self._s["installations"][str(iid)] = {
                    "id": iid,
                    "app_id": int(inst["app_id"]),
                    "account": account,
                    "account_id": self._s["scopes"].get(account, {}).get("id", 5000 + iid),
                    "permissions": dict(inst.get("permissions", {"organization_self_hosted_runners": "write", "administration": "write"})),
                    "repository_selection": inst.get("repository_selection", "all"),
                    "repositories": [r.lower() for r in inst.get("repositories", [])],
                    "created_at": _iso(self.now(), zulu=True),
                }
            for cred in doc.get("credentials", []):
                kind = cred.get("kind", "pat")
                if kind not in ("pat", "installation"):
                    raise FakeError(422, "credential kind must be pat or installation")
                token = cred.get("token") or ("ghp_" + _random(string.ascii_letters + string.digits, 36))
                self._s["credentials"][token] = {
                    "name": cred["name"],
                    "kind": kind,
                    "grants": {k.lower(): v for k, v in cred.get("grants", {}).items()},
                    "expires_at": cred.get("expires_at"),
                    "rate_bucket": f"{kind}:{cred['name']}",
                }
                self._remember_token(kind, token, scope=None, expires_at=cred.get("expires_at"), name=cred["name"])
                out["credentials"][cred["name"]] = token
            for runner in doc.get("runners", []):
                created = self._create_runner(
                    scope=normalise_scope(runner["scope"]),
                    name=runner["name"],
                    labels=runner.get("labels", []),
                    group_id=int(runner.get("runner_group_id", 1)),
                    ephemeral=bool(runner.get("ephemeral", False)),
                    os_name=runner.get("os", "linux"),
                    arch=runner.get("arch", "x64"),
                    no_default_labels=bool(runner.get("no_default_labels", False)),
                    runner_id=runner.get("id"),
                    version=runner.get("version", self.runner_version),
                )
                created["online"] = runner.get("status", "online") == "online"
                created["busy"] = bool(runner.get("busy", False)) and created["online"]
                # Seeded runners keep their status: nothing would heartbeat for them.
                created["pinned"] = bool(runner.get("pinned", True))
                created["last_seen"] = self.now()
                out["runners"][runner["name"]] = created["id"]
            if "runner_releases" in doc:
                self._s["runner_releases"] = dict(doc["runner_releases"])
            self._save()
        return out

    # ------------------------------------------------------- runner-side model

    def register_runner(
        self,
        *,
        registration_token: str,
        name: str,
        scope: str | None = None,
        url: str | None = None,
        labels: list[str] | str | None = None,
        runner_group: str | int | None = None,
        ephemeral: bool = False,
        replace: bool = False,
        no_default_labels: bool = False,
        os: str = "linux",
        arch: str = "x64",
        version: str | None = None,
        work_folder: str = "_work",
        base_url: str | None = None,
    ) -> dict:
        """What ``config.sh --unattended`` achieves: a runner registered with a registration token.

        Registration tokens are reusable until they expire, as on GitHub (set
        ``single_use_registration_tokens`` to refuse reuse). A taken name answers 409 ("A runner
        exists with the same name") unless ``replace``: then, like actions/runner's ReplaceAgent,
        the runner keeps its id, gets the new labels/ephemeral flag and new credentials (the old
        instance's secret stops working), and starts offline and idle.
        """
        if scope is None and url is None:
            raise FakeError(422, "scope or url is required")
        key = normalise_scope(scope) if scope else scope_from_url(url or "")
        with self._lock:
            self._refresh()
            entry = self._s["token_index"].get(registration_token)
            if entry is None or entry["kind"] != "registration":
                raise FakeError(401, "registration token unknown")
            if entry["scope"] != key:
                raise FakeError(401, f"registration token was issued for {entry['scope']}, not {key}")
            if entry["expires_at"] is not None and entry["expires_at"] <= self.now():
                raise FakeError(401, "registration token expired")
            if self.single_use_registration_tokens and entry["used_by"]:
                raise FakeError(401, "registration token already used")
            self._require_scope(key)
            group_id = self._resolve_group(key, runner_group)
            if isinstance(labels, str):
                labels = [part.strip() for part in labels.split(",") if part.strip()]
            existing = self._find_runner_by_name(key, name)
            replaced = False
            if existing is not None:
                if not replace:
                    raise FakeError(409, f"A runner exists with the same name {name}.")
                runner = existing
                runner.update(
                    runner_group_id=group_id,
                    ephemeral=bool(ephemeral),
                    custom_labels=self._clean_labels(labels or []),
                    system_labels=[] if no_default_labels else self._system_labels(os, arch),
                    os=os.lower(),
                    online=False,
                    busy=False,
                    pinned=False,
                    secret=self._new_runner_secret(key, name),
                    work_folder=work_folder,
                    version=version or self.runner_version,
                )
                replaced = True
            else:
                runner = self._create_runner(
                    scope=key, name=name, labels=labels or [], group_id=group_id, ephemeral=ephemeral,
                    os_name=os, arch=arch, no_default_labels=no_default_labels,
                    version=version or self.runner_version, work_folder=work_folder,
                )
                runner["secret"] = self._new_runner_secret(key, name)
            runner["registered_with"] = "registration_token"
            entry["used_by"].append(runner["id"])
            self._save()
            base = base_url or (self.url if self._server else "")
            return self._registration_answer(runner, replaced, base)

    def runner_session(
        self,
        runner_id: int,
        secret: str,
        *,
        status: str = "online",
        busy: bool = False,
        version: str | None = None,
        os: str | None = None,
    ) -> dict:
        """A runner's heartbeat: marks it online/offline and busy/idle for ``heartbeat_ttl`` seconds.

        An ephemeral runner that goes from busy to idle has run its one job: it is deleted, as GitHub
        does, and the answer says ``deleted: true``.
        """
        if status not in ("online", "offline"):
            raise FakeError(422, "status must be online or offline")
        with self._lock:
            runner = self._s["runners"].get(str(runner_id))
            if runner is None:
                raise FakeError(404, "runner not found: its registration was deleted")
            if not runner.get("secret") or not secrets.compare_digest(runner["secret"], secret):
                raise FakeError(401, "runner credentials rejected (replaced or never issued)")
            was_busy = runner["busy"] and self._is_online(runner)
            runner["online"] = status == "online"
            runner["busy"] = bool(busy) and runner["online"]
            runner["last_seen"] = self.now()
            runner["pinned"] = False
            if version:
                runner["version"] = version
            if os:
                runner["os"] = os.lower()
            deleted = False
            if runner["ephemeral"] and was_busy and not runner["busy"]:
                del self._s["runners"][str(runner_id)]
                deleted = True
            self._save()
            return {
                "id": int(runner_id),
                "status": "offline" if deleted else self._status(runner),
                "busy": False if deleted else runner["busy"],
                "deleted": deleted,
                "heartbeat_ttl": self.heartbeat_ttl,
            }

    def remove_runner(self, *, remove_token: str, runner_id: int) -> dict:
        """What ``config.sh remove --token`` achieves: the runner deleted with a remove token."""
        with self._lock:
            entry = self._s["token_index"].get(remove_token)
            if entry is None or entry["kind"] != "remove":
                raise FakeError(401, "remove token unknown")
            if entry["expires_at"] is not None and entry["expires_at"] <= self.now():
                raise FakeError(401, "remove token expired")
            runner = self._s["runners"].get(str(runner_id))
            if runner is None:
                raise FakeError(404, "runner does not exist")
            if runner["scope"] != entry["scope"]:
                raise FakeError(401, f"remove token was issued for {entry['scope']}, not {runner['scope']}")
            if runner["busy"] and self._is_online(runner):
                raise FakeError(422, f"Runner {runner['name']} is still running a job")
            del self._s["runners"][str(runner_id)]
            entry["used_by"].append(int(runner_id))
            self._save()
            return {"id": int(runner_id), "removed": True}

    # =========================================================== internal state

    def _empty_state(self) -> dict:
        return {
            "next": {"runner": 1, "label": 1, "group": 2, "scope": 1000, "installation": 1},
            "scopes": {},
            "groups": {},
            "runners": {},
            "labels": {},
            "credentials": {},
            "apps": {},
            "installations": {},
            "tokens": [],
            "token_index": {},
            "rate": {},
            "rate_override": {},
            "clock_offset": 0.0,
            "runner_releases": {},
        }

    def _next(self, kind: str) -> int:
        value = self._s["next"][kind]
        self._s["next"][kind] = value + 1
        return value

    def _load_state(self, text: str) -> dict:
        state = self._empty_state()
        state.update(json.loads(text))
        state["token_index"] = {entry["token"]: entry for entry in state["tokens"]}
        return state

    def _save(self) -> None:
        if self.state_file is None:
            return
        data = {k: v for k, v in self._s.items() if k != "token_index"}
        tmp = self.state_file.with_name(self.state_file.name + ".tmp")
        tmp.write_text(json.dumps(data, indent=1, sort_keys=True), encoding="utf-8")
        os.chmod(tmp, 0o600)
        tmp.replace(self.state_file)

    def _add_scope(self, raw: str, extra: dict) -> None:
        key = normalise_scope(raw)
        if key in self._s["scopes"]:
            return
        parts = raw.strip("/").split("/")
        self._s["scopes"][key] = {
            "key": key,
            "kind": parts[0],
            "name": "/".join(parts[1:]),
            "id": int(extra.get("id") or self._next("scope")),
            "private": bool(extra.get("private", True)),
        }
        if key.startswith(("orgs/", "enterprises/")):
            self._s["groups"][f"{key}#1"] = self._group(key, 1, "Default", {"visibility": "all", "default": True})

    def _require_scope(self, key: str) -> dict:
        scope = self._s["scopes"].get(key)
        if scope is None:
            raise FakeError(404, "Not Found")
        return scope

    @staticmethod
    def _group(scope: str, gid: int, name: str, spec: dict) -> dict:
        return {
            "id": gid,
            "scope": scope,
            "name": name,
            "visibility": spec.get("visibility", "all"),
            "default": bool(spec.get("default", False)),
            "selected": [s.lower() for s in spec.get("selected", [])],
            "allows_public_repositories": bool(spec.get("allows_public_repositories", False)),
            "restricted_to_workflows": bool(spec.get("restricted_to_workflows", False)),
            "selected_workflows": list(spec.get("selected_workflows", [])),
        }

    def _groups_of(self, key: str) -> list[dict]:
        return sorted((g for g in self._s["groups"].values() if g["scope"] == key), key=lambda g: g["id"])

    def _resolve_group(self, key: str, wanted: str | int | None) -> int:
        """Group id for a registration: by id or case-insensitive name, as config.sh matches it."""
        if key.startswith("repos/"):
            if wanted in (None, "", 1, "1") or str(wanted).lower() == "default":
                return 1
            raise FakeError(404, f'Could not find any self-hosted runner group named "{wanted}".')
        if wanted in (None, ""):
            return 1
        for group in self._groups_of(key):
            if str(group["id"]) == str(wanted) or group["name"].lower() == str(wanted).lower():
                return group["id"]
        raise FakeError(404, f'Could not find any self-hosted runner group named "{wanted}".')

    def _label_id(self, name: str) -> int:
        lowered = name.lower()
        if lowered not in self._s["labels"]:
            self._s["labels"][lowered] = self._next("label")
        return self._s["labels"][lowered]

    @staticmethod
    def _system_labels(os_name: str, arch: str) -> list[str]:
        return [
            "self-hosted",
            _OS_LABEL.get(os_name.lower(), os_name),
            _ARCH_LABEL.get(arch.lower(), arch.upper()),
        ]

    @staticmethod
    def _clean_labels(labels: list[str]) -> list[str]:
        seen: dict[str, str] = {}
        for label in labels:
            if not isinstance(label, str) or not label.strip() or "," in label:
                raise FakeError(422, f"Invalid label name {label!r}")
            seen.setdefault(label.strip().lower(), label.strip())
        return list(seen.values())

    def _create_runner(
        self,
        *,
        scope: str,
        name: str,
        labels: list[str],
        group_id: int,
        ephemeral: bool,
        os_name: str,
        arch: str,
        no_default_labels: bool,
        version: str | None,
        runner_id: int | None = None,
        work_folder: str = "_work",
        jit: bool = False,
    ) -> dict:
        self._require_scope(scope)
        if not name or len(name) > 64:
            raise FakeError(422, "runner name must be 1-64 characters")
        if self._find_runner_by_name(scope, name) is not None:
            raise FakeError(409, f"A runner exists with the same name {name}.")
        if runner_id is None:
            runner_id = self._next("runner")
        else:
            runner_id = int(runner_id)
            self._s["next"]["runner"] = max(self._s["next"]["runner"], runner_id + 1)
        runner = {
            "id": runner_id,
            "name": name,
            "scope": scope,
            "os": os_name.lower(),
            "runner_group_id": group_id,
            "system_labels": [] if no_default_labels else self._system_labels(os_name, arch),
            "custom_labels": self._clean_labels(labels),
            "ephemeral": bool(ephemeral),
            "online": False,
            "busy": False,
            "pinned": False,
            "last_seen": None,
            "version": version,
            "secret": None,
            "work_folder": work_folder,
            "jit": jit,
            "registered_at": self.now(),
            "registered_with": "seed",
        }
        self._s["runners"][str(runner_id)] = runner
        return runner

    def _find_runner_by_name(self, scope: str, name: str) -> dict | None:
        for runner in self._s["runners"].values():
            if runner["scope"] == scope and runner["name"].lower() == name.lower():
                return runner
        return None

    def _new_runner_secret(self, scope: str, name: str) -> str:
        secret = secrets.token_urlsafe(32)
        self._remember_token("runner_secret", secret, scope=scope, expires_at=None, name=name)
        return secret

    def _is_online(self, runner: dict) -> bool:
        if not runner["online"]:
            return False
        if runner["pinned"]:
            return True
        return runner["last_seen"] is not None and self.now() - runner["last_seen"] <= self.heartbeat_ttl

    def _status(self, runner: dict) -> str:
        return "online" if self._is_online(runner) else "offline"

    def _refresh(self) -> None:
        """Runners that stopped heartbeating are offline and idle, like a lost GitHub session."""
        for runner in self._s["runners"].values():
            if runner["online"] and not self._is_online(runner):
                runner["online"] = False
                runner["busy"] = False

    def _runner_json(self, runner: dict) -> dict:
        online = self._is_online(runner)
        body = {
            "id": runner["id"],
            "name": runner["name"],
            "os": runner["os"],
            "status": "online" if online else "offline",
            "busy": bool(runner["busy"] and online),
            "ephemeral": runner["ephemeral"],
            "runner_group_id": runner["runner_group_id"],
            "labels": self._labels_json(runner),
        }
        if runner.get("version") and runner.get("last_seen") is not None:
            body["version"] = runner["version"]
        return body

    def _labels_json(self, runner: dict, read_only_only: bool = False) -> list[dict]:
        labels = [{"id": self._label_id(n), "name": n, "type": "read-only"} for n in runner["system_labels"]]
        if not read_only_only:
            labels += [{"id": self._label_id(n), "name": n, "type": "custom"} for n in runner["custom_labels"]]
        return labels

    def _remember_token(
        self, kind: str, token: str, *, scope: str | None, expires_at: float | None, name: str | None = None
    ) -> dict:
        entry = {
            "kind": kind,
            "token": token,
            "scope": scope,
            "name": name,
            "issued_at": self.now(),
            "expires_at": expires_at,
            "used_by": [],
        }
        self._s["tokens"].append(entry)
        self._s["token_index"][token] = entry
        return entry

    def _registration_answer(self, runner: dict, replaced: bool, base: str) -> dict:
        group = self._s["groups"].get(f"{runner['scope']}#{runner['runner_group_id']}")
        return {
            "id": runner["id"],
            "name": runner["name"],
            "scope": runner["scope"],
            "runner_group_id": runner["runner_group_id"],
            "runner_group_name": group["name"] if group else "Default",
            "labels": self._labels_json(runner),
            "ephemeral": runner["ephemeral"],
            "replaced": replaced,
            "credentials": {
                "scheme": "OAuth",
                "client_id": str(uuid.uuid4()),
                "authorization_url": f"{base}/_fake/runner/{runner['id']}/session",
                "runner_secret": runner["secret"],
            },
            "session_url": f"{base}/_fake/runner/{runner['id']}/session",
            "heartbeat_ttl": self.heartbeat_ttl,
        }

    # ============================================================ HTTP plumbing

    def _build_routes(self) -> list[tuple[str, re.Pattern, Callable, str]]:
        runners = "/" + _SCOPE + "/actions/runners"
        one = runners + r"/(?P<runner_id>[^/]+)"
        table = [
            ("POST", runners + "/registration-token", self._op_registration_token, "scope"),
            ("POST", runners + "/remove-token", self._op_remove_token, "scope"),
            ("POST", runners + "/generate-jitconfig", self._op_generate_jitconfig, "scope"),
            ("GET", runners + "/downloads", self._op_downloads, "scope"),
            ("GET", runners, self._op_list_runners, "scope"),
            ("GET", one, self._op_get_runner, "scope"),
            ("DELETE", one, self._op_delete_runner, "scope"),
            ("GET", one + "/labels", self._op_get_labels, "scope"),
            ("POST", one + "/labels", self._op_add_labels, "scope"),
            ("PUT", one + "/labels", self._op_set_labels, "scope"),
            ("DELETE", one + "/labels", self._op_remove_all_labels, "scope"),
            ("DELETE", one + r"/labels/(?P<label>[^/]+)", self._op_remove_label, "scope"),
            ("GET", "/" + _GROUP_SCOPE + "/actions/runner-groups", self._op_list_groups, "scope"),
            ("GET", "/" + _GROUP_SCOPE + r"/actions/runner-groups/(?P<group_id>[^/]+)", self._op_get_group, "scope"),
            ("POST", r"/app/installations/(?P<installation_id>[^/]+)/access_tokens", self._op_access_token, "jwt"),
            ("GET", r"/app/installations/(?P<installation_id>[^/]+)", self._op_get_installation, "jwt"),
            ("GET", r"/orgs/(?P<org>[^/]+)/installation", self._op_org_installation, "jwt"),
            ("GET", r"/repos/(?P<owner>[^/]+)/(?P<repo>[^/]+)/installation", self._op_repo_installation, "jwt"),
            ("GET", r"/rate_limit", self._op_rate_limit, "any"),
        ]
        return [(m, re.compile(p), f, auth) for m, p, f, auth in table]

    def handle(self, h: "_Handler") -> None:
        started = time.monotonic()
        method = h.command.upper()
        split = urlsplit(h.path)
        raw_path = split.path or "/"
        query = {k: v[-1] for k, v in parse_qs(split.query, keep_blank_values=True).items()}
        length = int(h.headers.get("Content-Length") or 0)
        raw_body = h.rfile.read(length) if length > 0 else b""
        host = h.headers.get("Host") or f"{self.host}:{self.port}"
        prefix = "/api/v3" if raw_path == "/api/v3" or raw_path.startswith("/api/v3/") else ""
        path = raw_path[len(prefix):] or "/"
        call = Call(
            method=method,
            path=path,
            raw_path=raw_path,
            query=query,
            headers=h.headers,
            raw_body=raw_body,
            base_url=f"http://{host}{prefix}",
            web_url=f"http://{host}",
            client=h.client_address[0],
        )
        # Every call is in the log before its answer leaves: a client that has its answer finds it there.
        if path == "/_fake" or path.startswith("/_fake/"):
            reply = self._control(call)
            if not re.fullmatch(r"/_fake/(calls|state|tokens|violations|health|faults)", path) or method != "GET":
                self._record(call, reply, "fake", started)
            self._send(h, reply)
            return

        fault = self._take_fault(method, raw_path)
        if fault is not None:
            if fault["delay"]:
                time.sleep(fault["delay"])
            if fault["close"]:
                h.close_connection = True
                self._record(call, Reply(0), "github", started, fault=fault["id"])
                return
            if fault["status"] is not None:
                reply = self._fault_reply(call, fault)
                self._record(call, reply, "github", started, fault=fault["id"])
                self._send(h, reply)
                return
        reply = self._github(call)
        self._record(call, reply, "github", started)
        self._send(h, reply)

    def _take_fault(self, method: str, path: str) -> dict | None:
        with self._lock:
            for fault in self._faults:
                if fault["method"] in ("*", method) and re.search(fault["path"], path):
                    fault["hits"] += 1
                    if fault["remaining"] is not None:
                        fault["remaining"] -= 1
                        if fault["remaining"] <= 0:
                            self._faults.remove(fault)
                    return dict(fault)
        return None

    def _fault_reply(self, call: Call, fault: dict) -> Reply:
        status = int(fault["status"])
        with self._lock:
            headers = self._base_headers(call)
            try:
                self._authenticate(call)
            except FakeError:
                pass
            bucket = self._rate_bucket(call, consume=False)
            headers.update(self._rate_headers(bucket))
        headers.update({k.lower(): str(v) for k, v in fault["headers"].items()})
        body = fault["body"]
        if body is None:
            body = {"message": fault["message"] or _DEFAULT_MESSAGES.get(status, "Error"), "documentation_url": DOCS}
            if status != 422:
                body["status"] = str(status)
        return Reply(status, body, headers, checked=False)

    def _base_headers(self, call: Call) -> dict[str, str]:
        return {
            "content-type": "application/json; charset=utf-8",
            "x-github-api-version-selected": call.api_version,
            "x-github-media-type": "github.v3; format=json",
            "x-github-request-id": uuid.uuid4().hex[:20].upper(),
        }

    def _github(self, call: Call) -> Reply:
        call.operation = self.contract.operation(call.method, call.path)
        with self._lock:
            self._refresh()
            requested = call.headers.get("X-GitHub-Api-Version")
            if requested is not None:
                call.api_version = requested
            auth_error = None
            try:
                self._authenticate(call)
            except FakeError as err:
                auth_error = err
            # Rejected credentials are counted like anonymous calls, and still get the headers.
            # GET /rate_limit neither counts against the limit nor is refused by it.
            metered = call.path != "/rate_limit"
            bucket = self._rate_bucket(call, consume=metered)
            rate_headers = self._rate_headers(bucket)
            try:
                if auth_error is not None:
                    raise auth_error
                if metered and bucket["used"] > bucket["limit"]:
                    who = call.credential_name or call.client
                    raise FakeError(self.rate_limit_status, f"API rate limit exceeded for {who}.")
                if requested is not None and requested not in self.api_versions:
                    call.api_version = API_VERSION
                    raise FakeError(400, f"API version {requested} is not supported.")
                reply = self._dispatch(call)
                reply.headers = {**self._base_headers(call), **rate_headers, **reply.headers}
            except FakeError as err:
                err.headers = {**rate_headers, **err.headers}
                reply = self._error_reply(call, err)
            if self.strict and reply.checked and call.operation is not None:
                body = reply.body
                problems = call.operation.check_response(reply.status, reply.headers, body)
                if problems:
                    violation = {
                        "method": call.method,
                        "path": call.raw_path,
                        "operation": call.operation.operation_id,
                        "status": reply.status,
                        "problems": problems,
                        "body": body,
                    }
                    self._violations.append(violation)
                    if self._log:
                        self._log(f"fake_github contract violation: {violation}")
                    reply = Reply(
                        500,
                        {"message": "fake_github contract violation: " + "; ".join(problems), "violation": True},
                        {"content-type": "application/json; charset=utf-8"},
                        checked=False,
                    )
            if call.method != "GET":
                self._save()
            return reply

    def _error_reply(self, call: Call, err: FakeError) -> Reply:
        doc = DOCS
        if call.operation is not None:
            doc = call.operation.raw.get("externalDocs", {}).get("url", DOCS)
        body = {"message": err.message, "documentation_url": doc}
        if err.status not in (422,):
            body["status"] = str(err.status)
        headers = {**self._base_headers(call), **err.headers}
        return Reply(err.status, body, headers, checked=err.status != 501)

    def _dispatch(self, call: Call) -> Reply:
        for method, pattern, handler, auth in self._routes:
            if method != call.method:
                continue
            match = pattern.fullmatch(call.path)
            if match is None:
                continue
            params = {k: unquote(v) for k, v in match.groupdict().items()}
            if auth == "jwt":
                app = self._require_app(call)
                self._check_body(call)
                return handler(call, params, app)
            if auth == "scope":
                params["scope"] = self._authorise_scope(call, params["scope"])
            self._check_body(call)
            return handler(call, params)
        if call.operation is not None:
            raise FakeError(501, f"fake_github does not implement {call.operation.operation_id}")
        raise FakeError(404, "Not Found")

    def _check_body(self, call: Call) -> None:
        body = call.body()
        if call.operation is None:
            return
        problems = call.operation.check_request_body(body)
        if problems:
            details = []
            for problem in problems:
                found = re.search(r"'([^']+)' is a required property", problem)
                details.append(f'"{found.group(1)}" wasn\'t supplied.' if found else problem)
            raise FakeError(422, "Invalid request.\n\n" + "\n".join(details))

    # ---------------------------------------------------------- authentication

    def _authenticate(self, call: Call) -> None:
        header = call.headers.get("Authorization")
        if header is None:
            call.credential_kind = "none"
            return
        scheme, _space, token = header.strip().partition(" ")
        token = token.strip()
        scheme = scheme.lower()
        if scheme not in ("bearer", "token") or not token:
            call.credential_kind = "invalid"
            raise FakeError(401, "Bad credentials")
        if token.count(".") == 2 and token.startswith("ey"):
            call.credential_kind = "jwt"
            call.credential = {"jwt": token, "scheme": scheme}
            return
        cred = self._s["credentials"].get(token)
        if cred is None or (cred.get("expires_at") is not None and cred["expires_at"] <= self.now()):
            call.credential_kind = "invalid"
            raise FakeError(401, "Bad credentials")
        call.credential = cred
        call.credential_kind = cred["kind"]
        call.credential_name = cred["name"]

    def _access(self, cred: dict, key: str) -> int:
        grants = cred["grants"]
        candidates = [key, "*"]
        if key.startswith("repos/"):
            candidates.append("repos/" + key.split("/")[1] + "/*")
        return max((_LEVELS.get(grants[c], 0) for c in candidates if c in grants), default=0)

    def _authorise_scope(self, call: Call, raw_scope: str) -> str:
        key = normalise_scope(raw_scope)
        if call.credential_kind == "none":
            raise FakeError(401, "Requires authentication")
        if call.credential_kind == "jwt":
            raise FakeError(401, "Bad credentials")
        if key not in self._s["scopes"]:
            raise FakeError(404, "Not Found")
        level = self._access(call.credential, key)
        if level == 0 and key.startswith("repos/") and self._s["scopes"][key]["private"]:
            # GitHub hides private repositories from credentials that cannot see them.
            raise FakeError(404, "Not Found")
        if level < _LEVELS["admin"]:
            if call.credential_kind == "installation":
                needed = "organization_self_hosted_runners" if key.startswith("orgs/") else "administration"
                raise FakeError(
                    403,
                    "Resource not accessible by integration",
                    {"x-accepted-github-permissions": f"{needed}=write"},
                )
            what = {"repos": "Repository", "orgs": "Organization", "enterprises": "Enterprise"}[key.split("/", 1)[0]]
            raise FakeError(403, f"Must have admin rights to {what}.")
        return key

    def _require_app(self, call: Call) -> dict:
        if call.credential_kind != "jwt":
            if call.credential_kind == "none":
                raise FakeError(401, "Requires authentication")
            raise FakeError(401, "A JSON web token could not be decoded")
        return self._verify_jwt(call.credential["jwt"], call.credential["scheme"])

    def _verify_jwt(self, token: str, scheme: str) -> dict:
        undecodable = FakeError(401, "A JSON web token could not be decoded")
        if scheme != "bearer":
            raise undecodable
        head_b64, payload_b64, sig_b64 = token.split(".")
        try:
            header = json.loads(b64url_decode(head_b64))
            payload = json.loads(b64url_decode(payload_b64))
            signature = b64url_decode(sig_b64)
        except ValueError as exc:
            raise undecodable from exc
        if not isinstance(header, dict) or not isinstance(payload, dict) or header.get("alg") != "RS256":
            raise undecodable
        iss = payload.get("iss")
        app = None
        for candidate in self._s["apps"].values():
            if str(iss) == str(candidate["id"]) or iss == candidate["client_id"]:
                app = candidate
        if app is None:
            raise FakeError(401, "'Issuer' claim ('iss') must be an Integer" if not str(iss).isdigit() else "Integration not found")
        key = serialization.load_pem_public_key(app["public_key_pem"].encode("ascii"))
        try:
            key.verify(signature, f"{head_b64}.{payload_b64}".encode("ascii"), padding.PKCS1v15(), hashes.SHA256())
        except InvalidSignature as exc:
            raise undecodable from exc
        now = self.now()
        iat, exp = payload.get("iat"), payload.get("exp")
        if not isinstance(iat, int) or isinstance(iat, bool) or iat > now:
            raise FakeError(
                401, "'Issued at' claim ('iat') must be an Integer representing the time that the assertion was issued"
            )
        if not isinstance(exp, int) or isinstance(exp, bool) or exp <= now or exp <= iat:
            raise FakeError(
                401,
                "'Expiration time' claim ('exp') must be a numeric value representing the future time at which "
                "the assertion expires",
            )
        if exp > now + MAX_JWT_AHEAD:
            raise FakeError(401, "'Expiration time' claim ('exp') is too far in the future")
        return app

    # ---------------------------------------------------------- rate limiting

    def _rate_bucket(self, call: Call, consume: bool) -> dict:
        if call.credential_kind == "jwt":
            key, limit = "app", self.rate_limit
        elif call.credential is not None and "rate_bucket" in call.credential:
            key, limit = call.credential["rate_bucket"], self.rate_limit
        else:
            key, limit = f"anonymous:{call.client}", self.anonymous_rate_limit
        now = self.now()
        bucket = self._s["rate"].get(key)
        if bucket is None or bucket["reset"] <= now:
            override = self._s.get("rate_override") or {}
            bucket = {"limit": limit, "used": 0, "reset": int(now + TOKEN_LIFETIME)}
            if override and override["reset"] > now:
                bucket["reset"] = override["reset"]
                if override.get("remaining") is not None:
                    bucket["used"] = max(0, limit - override["remaining"])
            self._s["rate"][key] = bucket
        if consume:
            bucket["used"] += 1
        return bucket

    @staticmethod
    def _rate_headers(bucket: dict) -> dict[str, str]:
        used = min(bucket["used"], bucket["limit"])
        return {
            "x-ratelimit-limit": str(bucket["limit"]),
            "x-ratelimit-remaining": str(max(0, bucket["limit"] - bucket["used"])),
            "x-ratelimit-used": str(used),
            "x-ratelimit-reset": str(bucket["reset"]),
            "x-ratelimit-resource": "core",
        }

    # ------------------------------------------------------------- operations

    def _runner_in(self, key: str, raw_id: str) -> dict:
        runner = self._s["runners"].get(raw_id) if raw_id.isdigit() else None
        if runner is None or runner["scope"] != key:
            raise FakeError(404, "Not Found")
        return runner

    def _issue(self, kind: str, key: str) -> Reply:
        token = "A" + _random(string.ascii_uppercase + string.digits, 28)
        expires = self.now() + TOKEN_LIFETIME
        self._remember_token(kind, token, scope=key, expires_at=expires)
        return Reply(201, {"token": token, "expires_at": _iso(expires)})

    def _op_registration_token(self, call: Call, p: dict) -> Reply:
        return self._issue("registration", p["scope"])

    def _op_remove_token(self, call: Call, p: dict) -> Reply:
        return self._issue("remove", p["scope"])

    def _page(self, call: Call, items: list) -> tuple[list, dict[str, str]]:
        """GitHub's pagination: per_page (default 30, at most 100), page, and a Link header whose
        URLs keep the request's own base URL so a client never leaves the configured host."""
        try:
            per_page = min(100, max(1, int(call.query.get("per_page", 30))))
        except ValueError:
            per_page = 30
        try:
            page = max(1, int(call.query.get("page", 1)))
        except ValueError:
            page = 1
        last = max(1, -(-len(items) // per_page))
        chunk = items[(page - 1) * per_page: page * per_page]
        if last == 1:
            return chunk, {}

        def link(n: int) -> str:
            query = dict(call.query, per_page=str(per_page), page=str(n))
            return f"<{call.base_url}{call.path}?{urlencode(query)}>"

        rels = []
        if page > 1:
            rels += [f'{link(page - 1)}; rel="prev"', f'{link(1)}; rel="first"']
        if page < last:
            rels += [f'{link(page + 1)}; rel="next"', f'{link(last)}; rel="last"']
        return chunk, ({"link": ", ".join(rels)} if rels else {})

    def _op_list_runners(self, call: Call, p: dict) -> Reply:
        runners = sorted((r for r in self._s["runners"].values() if r["scope"] == p["scope"]), key=lambda r: r["id"])
        name = call.query.get("name")
        if name:
            runners = [r for r in runners if r["name"].lower() == name.lower()]
        chunk, headers = self._page(call, runners)
        return Reply(200, {"total_count": len(runners), "runners": [self._runner_json(r) for r in chunk]}, headers)

    def _op_get_runner(self, call: Call, p: dict) -> Reply:
        return Reply(200, self._runner_json(self._runner_in(p["scope"], p["runner_id"])))

    def _op_delete_runner(self, call: Call, p: dict) -> Reply:
        runner = self._runner_in(p["scope"], p["runner_id"])
        if runner["busy"] and self._is_online(runner):
            raise FakeError(422, f'Bad request - Runner "{runner["name"]}" is still running a job')
        del self._s["runners"][str(runner["id"])]
        return Reply(204)

    def _labels_reply(self, runner: dict, read_only_only: bool = False) -> Reply:
        labels = self._labels_json(runner, read_only_only)
        return Reply(200, {"total_count": len(labels), "labels": labels})

    def _op_get_labels(self, call: Call, p: dict) -> Reply:
        return self._labels_reply(self._runner_in(p["scope"], p["runner_id"]))

    def _op_add_labels(self, call: Call, p: dict) -> Reply:
        runner = self._runner_in(p["scope"], p["runner_id"])
        taken = {n.lower() for n in runner["custom_labels"] + runner["system_labels"]}
        for label in self._clean_labels(call.body()["labels"]):
            if label.lower() not in taken:
                runner["custom_labels"].append(label)
                taken.add(label.lower())
        return self._labels_reply(runner)

    def _op_set_labels(self, call: Call, p: dict) -> Reply:
        runner = self._runner_in(p["scope"], p["runner_id"])
        system = {n.lower() for n in runner["system_labels"]}
        runner["custom_labels"] = [n for n in self._clean_labels(call.body()["labels"]) if n.lower() not in system]
        return self._labels_reply(runner)

    def _op_remove_all_labels(self, call: Call, p: dict) -> Reply:
        runner = self._runner_in(p["scope"], p["runner_id"])
        runner["custom_labels"] = []
        return self._labels_reply(runner, read_only_only=True)

    def _op_remove_label(self, call: Call, p: dict) -> Reply:
        runner = self._runner_in(p["scope"], p["runner_id"])
        name = p["label"].lower()
        if name in (n.lower() for n in runner["system_labels"]):
            raise FakeError(422, f"Cannot remove read-only label {p['label']}")
        kept = [n for n in runner["custom_labels"] if n.lower() != name]
        if len(kept) == len(runner["custom_labels"]):
            raise FakeError(404, "Not Found")
        runner["custom_labels"] = kept
        return self._labels_reply(runner)

    def _op_generate_jitconfig(self, call: Call, p: dict) -> Reply:
        body = call.body()
        key = p["scope"]
        group_id = body["runner_group_id"]
        if key.startswith("repos/"):
            if group_id != 1:
                raise FakeError(404, "Not Found")
        elif f"{key}#{group_id}" not in self._s["groups"]:
            raise FakeError(404, "Not Found")
        if self._find_runner_by_name(key, body["name"]) is not None:
            raise FakeError(409, f"Already exists - A runner with the name {body['name']} already exists.")
        runner = self._create_runner(
            scope=key, name=body["name"], labels=body["labels"], group_id=group_id, ephemeral=True,
            os_name="unknown", arch="x64", no_default_labels=False, version=self.runner_version,
            work_folder=body.get("work_folder", "_work"), jit=True,
        )
        # A JIT runner reports its OS only once it connects, but its read-only labels exist already.
        runner["system_labels"] = self._system_labels("linux", "x64")
        runner["secret"] = self._new_runner_secret(key, runner["name"])
        runner["registered_with"] = "jitconfig"
        encoded = self._jit_config(call, runner)
        self._remember_token("jit_config", encoded, scope=key, expires_at=None, name=runner["name"])
        return Reply(201, {"runner": self._runner_json(runner), "encoded_jit_config": encoded})

    def _jit_config(self, call: Call, runner: dict) -> str:
        """actions/runner's format: base64 of a JSON map from file name to base64 file content."""
        group = self._s["groups"].get(f"{runner['scope']}#{runner['runner_group_id']}")
        kind, _slash, name = runner["scope"].partition("/")
        web = f"{call.web_url}/enterprises/{name}" if kind == "enterprises" else f"{call.web_url}/{name}"
        session = f"{call.web_url}/_fake/runner/{runner['id']}/session"
        files = {
            ".runner": {
                "agentId": runner["id"],
                "agentName": runner["name"],
                "poolId": runner["runner_group_id"],
                "poolName": group["name"] if group else "Default",
                "serverUrl": f"{call.web_url}/_fake/runner",
                "gitHubUrl": web,
                "workFolder": runner["work_folder"],
                "ephemeral": True,
            },
            ".credentials": {
                "scheme": "OAuth",
                "data": {
                    "clientId": str(uuid.uuid4()),
                    "authorizationUrl": session,
                    "requireFipsCryptography": "False",
                    # Not in upstream's file: the fake's session endpoint takes this instead of an
                    # OAuth exchange signed with the RSA key.
                    "fakeRunnerSecret": runner["secret"],
                },
            },
            ".credentials_rsaparams": _rsa_params(),
        }
        encoded = {name: _b64(json.dumps(content).encode()) for name, content in files.items()}
        return _b64(json.dumps(encoded).encode())

    def _op_downloads(self, call: Call, p: dict) -> Reply:
        releases = self._s.get("runner_releases") or {}
        version = releases.get("version", self.runner_version)
        base = releases.get("base_url", self.runner_download_base).rstrip("/")
        sums = releases.get("sha256", {})
        items = []
        for os_name, arch, ext in (
            ("linux", "x64", "tar.gz"), ("linux", "arm64", "tar.gz"), ("linux", "arm", "tar.gz"),
            ("osx", "x64", "tar.gz"), ("osx", "arm64", "tar.gz"), ("win", "x64", "zip"), ("win", "arm64", "zip"),
        ):
            filename = f"actions-runner-{os_name}-{arch}-{version}.{ext}"
            item = {
                "os": os_name,
                "architecture": arch,
                "download_url": f"{base}/v{version}/{filename}",
                "filename": filename,
            }
            if f"{os_name}-{arch}" in sums:
                item["sha256_checksum"] = sums[f"{os_name}-{arch}"]
            items.append(item)
        return Reply(200, items)

    def _group_json(self, call: Call, group: dict) -> dict:
        kind, _slash, name = group["scope"].partition("/")
        base = f"{call.base_url}/{kind}/{name}/actions/runner-groups/{group['id']}"
        body = {
            "id": group["id"],
            "name": group["name"],
            "visibility": group["visibility"],
            "default": group["default"],
            "runners_url": base + "/runners",
            "allows_public_repositories": group["allows_public_repositories"],
            "restricted_to_workflows": group["restricted_to_workflows"],
            "selected_workflows": group["selected_workflows"],
            "workflow_restrictions_read_only": False,
        }
        if kind == "orgs":
            body["inherited"] = False
            if group["visibility"] == "selected":
                body["selected_repositories_url"] = base + "/repositories"
        elif group["visibility"] == "selected":
            body["selected_organizations_url"] = base + "/organizations"
        return body

    def _op_list_groups(self, call: Call, p: dict) -> Reply:
        groups = self._groups_of(p["scope"])
        visible_to = call.query.get("visible_to_repository") or call.query.get("visible_to_organization")
        if visible_to:
            groups = [g for g in groups if g["visibility"] != "selected" or visible_to.lower() in g["selected"]]
        chunk, headers = self._page(call, groups)
        return Reply(
            200,
            {"total_count": len(groups), "runner_groups": [self._group_json(call, g) for g in chunk]},
            headers,
        )

    def _op_get_group(self, call: Call, p: dict) -> Reply:
        group = self._s["groups"].get(f"{p['scope']}#{p['group_id']}")
        if group is None:
            raise FakeError(404, "Not Found")
        return Reply(200, self._group_json(call, group))

    # ---------------------------------------------------------- GitHub Apps

    def _installation(self, app: dict, raw_id: str) -> dict:
        inst = self._s["installations"].get(raw_id) if raw_id.isdigit() else None
        if inst is None or inst["app_id"] != app["id"]:
            raise FakeError(404, "Not Found")
        return inst

    def _op_access_token(self, call: Call, p: dict, app: dict) -> Reply:
        inst = self._installation(app, p["installation_id"])
        body = call.body() or {}
        permissions = dict(inst["permissions"])
        wanted = body.get("permissions")
        if wanted:
            for perm, level in wanted.items():
                if _LEVELS.get(level, 9) > _LEVELS.get(permissions.get(perm, ""), 0):
                    raise FakeError(422, "The permissions requested are not granted to this installation.")
            permissions = dict(wanted)
        selection = inst["repository_selection"]
        owner = inst["account"].split("/", 1)[1]
        repos = [r.lower() for r in body.get("repositories", [])]
        if body.get("repository_ids"):
            by_id = {s["id"]: s["name"].split("/", 1)[1] for s in self._s["scopes"].values() if s["kind"] == "repos"}
            repos += [by_id.get(i, f"#{i}") for i in body["repository_ids"]]
        if repos:
            allowed = inst["repositories"] if selection == "selected" else [
                s["name"].split("/", 1)[1].lower() for s in self._s["scopes"].values()
                if s["kind"] == "repos" and s["name"].split("/", 1)[0].lower() == owner
            ]
            if any(r not in allowed for r in repos):
                raise FakeError(
                    422,
                    "There is at least one repository that does not exist or is not accessible to the parent installation.",
                )
            selection = "selected"
        elif selection == "selected":
            repos = inst["repositories"]
        grants: dict[str, str] = {}
        runners_level = permissions.get("organization_self_hosted_runners")
        if runners_level and inst["account"].startswith("orgs/"):
            grants[inst["account"]] = "admin" if runners_level == "write" else "read"
        admin_level = permissions.get("administration")
        if admin_level:
            level = "admin" if admin_level == "write" else "read"
            for target in ([f"repos/{owner}/{r}" for r in repos] if selection == "selected" else [f"repos/{owner}/*"]):
                grants[target] = level
        token = "ghs_" + _random(string.ascii_letters + string.digits, 36)
        expires = self.now() + TOKEN_LIFETIME
        self._s["credentials"][token] = {
            "name": f"installation-{inst['id']}",
            "kind": "installation",
            "grants": grants,
            "expires_at": expires,
            "rate_bucket": f"installation:{inst['id']}",
        }
        self._remember_token("installation", token, scope=inst["account"], expires_at=expires, name=f"installation-{inst['id']}")
        return Reply(
            201,
            {"token": token, "expires_at": _iso(expires, zulu=True), "permissions": permissions, "repository_selection": selection},
        )

    def _installation_json(self, call: Call, inst: dict, app: dict) -> dict:
        kind, _slash, login = inst["account"].partition("/")
        web = call.web_url
        api = call.base_url
        account = {
            "login": login,
            "id": inst["account_id"],
            "node_id": _b64(f"04:{'Organization' if kind == 'orgs' else 'User'}{inst['account_id']}".encode()),
            "avatar_url": f"{web}/avatars/{login}",
            "gravatar_id": "",
            "url": f"{api}/users/{login}",
            "html_url": f"{web}/{login}",
            "followers_url": f"{api}/users/{login}/followers",
            "following_url": f"{api}/users/{login}/following{{/other_user}}",
            "gists_url": f"{api}/users/{login}/gists{{/gist_id}}",
            "starred_url": f"{api}/users/{login}/starred{{/owner}}{{/repo}}",
            "subscriptions_url": f"{api}/users/{login}/subscriptions",
            "organizations_url": f"{api}/users/{login}/orgs",
            "repos_url": f"{api}/users/{login}/repos",
            "events_url": f"{api}/users/{login}/events{{/privacy}}",
            "received_events_url": f"{api}/users/{login}/received_events",
            "type": "Organization" if kind == "orgs" else "User",
            "site_admin": False,
        }
        return {
            "id": inst["id"],
            "account": account,
            "repository_selection": inst["repository_selection"],
            "access_tokens_url": f"{api}/app/installations/{inst['id']}/access_tokens",
            "repositories_url": f"{api}/installation/repositories",
            "html_url": f"{web}/organizations/{login}/settings/installations/{inst['id']}",
            "app_id": app["id"],
            "client_id": app["client_id"],
            "app_slug": app["slug"],
            "target_id": inst["account_id"],
            "target_type": account["type"],
            "permissions": inst["permissions"],
            "events": [],
            "created_at": inst["created_at"],
            "updated_at": inst["created_at"],
            "single_file_name": None,
            "suspended_by": None,
            "suspended_at": None,
        }

    def _op_get_installation(self, call: Call, p: dict, app: dict) -> Reply:
        return Reply(200, self._installation_json(call, self._installation(app, p["installation_id"]), app))

    def _op_org_installation(self, call: Call, p: dict, app: dict) -> Reply:
        for inst in self._s["installations"].values():
            if inst["app_id"] == app["id"] and inst["account"] == f"orgs/{p['org'].lower()}":
                return Reply(200, self._installation_json(call, inst, app))
        raise FakeError(404, "Not Found")

    def _op_repo_installation(self, call: Call, p: dict, app: dict) -> Reply:
        owner, repo = p["owner"].lower(), p["repo"].lower()
        for inst in self._s["installations"].values():
            if inst["app_id"] != app["id"] or inst["account"].split("/", 1)[1] != owner:
                continue
            if f"repos/{owner}/{repo}" not in self._s["scopes"]:
                continue
            if inst["repository_selection"] == "all" or repo in inst["repositories"]:
                return Reply(200, self._installation_json(call, inst, app))
        raise FakeError(404, "Not Found")

    def _op_rate_limit(self, call: Call, p: dict) -> Reply:
        bucket = self._rate_bucket(call, consume=False)
        core = {
            "limit": bucket["limit"],
            "remaining": max(0, bucket["limit"] - bucket["used"]),
            "reset": bucket["reset"],
            "used": min(bucket["used"], bucket["limit"]),
        }
        search = {"limit": 30, "remaining": 30, "reset": int(self.now() + 60), "used": 0}
        return Reply(
            200,
            {"resources": {"core": core, "search": search, "actions_runner_registration": dict(core)}, "rate": core},
        )

    # ============================================================ control API

    def _control(self, call: Call) -> Reply:
        """The ``/_fake/`` API. Not GitHub: plain JSON, ``{"message": ...}`` on errors."""
        try:
            body = call.body() or {}
            path, method = call.path, call.method
            if path == "/_fake/health" and method == "GET":
                return Reply(200, {"ok": True, "api_version": API_VERSION, "description": self.contract.version})
            if path == "/_fake/calls" and method == "GET":
                since = int(call.query.get("since", 0))
                return Reply(200, [c for c in self.calls if c["seq"] > since])
            if path == "/_fake/state" and method == "GET":
                return Reply(200, self.state())
            if path == "/_fake/tokens" and method == "GET":
                return Reply(200, self.tokens(call.query.get("kind")))
            if path == "/_fake/violations" and method == "GET":
                return Reply(200, self.violations)
            if path == "/_fake/reset" and method == "POST":
                return Reply(200, self.reset(body or None))
            if path == "/_fake/seed" and method == "POST":
                return Reply(200, self.seed(body))
            if path == "/_fake/faults":
                if method == "GET":
                    with self._lock:
                        return Reply(200, copy.deepcopy(self._faults))
                if method == "DELETE":
                    self.clear_faults()
                    return Reply(204)
                if method == "POST":
                    allowed = {"path", "method", "status", "count", "message", "headers", "body", "delay", "close"}
                    unknown = set(body) - allowed
                    if unknown:
                        raise FakeError(422, f"unknown fault fields: {sorted(unknown)}")
                    try:
                        return Reply(201, {"id": self.inject_fault(**body)})
                    except (ValueError, re.error) as exc:
                        raise FakeError(422, str(exc)) from exc
            if path == "/_fake/rate-limit" and method == "POST":
                try:
                    self.set_rate_limit(**{k: body[k] for k in ("limit", "remaining", "reset_in", "status") if k in body})
                except ValueError as exc:
                    raise FakeError(422, str(exc)) from exc
                return Reply(200, self.state()["rate_limits"])
            if path == "/_fake/clock" and method == "POST":
                return Reply(200, {"now": self.advance_clock(float(body.get("advance", 0)))})
            if path == "/_fake/runner/register" and method == "POST":
                args = {k: body[k] for k in (
                    "registration_token", "name", "scope", "url", "labels", "runner_group", "ephemeral", "replace",
                    "no_default_labels", "os", "arch", "version", "work_folder",
                ) if k in body}
                for needed in ("registration_token", "name"):
                    if needed not in args:
                        raise FakeError(422, f"{needed} is required")
                return Reply(201, self.register_runner(**args, base_url=call.web_url))
            if path == "/_fake/runner/remove" and method == "POST":
                if "remove_token" not in body or "id" not in body:
                    raise FakeError(422, "remove_token and id are required")
                return Reply(200, self.remove_runner(remove_token=body["remove_token"], runner_id=int(body["id"])))
            match = re.fullmatch(r"/_fake/runner/(\d+)/session", path)
            if match and method == "POST":
                scheme, _space, secret = (call.headers.get("Authorization") or "").partition(" ")
                if scheme.lower() != "bearer" or not secret:
                    raise FakeError(401, "session needs Authorization: Bearer <runner secret>")
                call.credential_kind = "runner"
                return Reply(200, self.runner_session(
                    int(match.group(1)), secret.strip(),
                    status=body.get("status", "online"), busy=bool(body.get("busy", False)),
                    version=body.get("version"), os=body.get("os"),
                ))
            raise FakeError(404, f"no such control endpoint: {method} {path}")
        except FakeError as err:
            return Reply(err.status, {"message": err.message}, checked=False)
        except (KeyError, TypeError, ValueError) as exc:
            return Reply(422, {"message": f"bad control request: {exc!r}"}, checked=False)

    # ================================================================== output

    def _send(self, h: "_Handler", reply: Reply) -> None:
        payload = b"" if reply.body is None else json.dumps(reply.body).encode("utf-8")
        h.send_response(reply.status)
        headers = {"content-type": "application/json; charset=utf-8", **reply.headers}
        if reply.body is None:
            headers.pop("content-type", None)
        for name, value in headers.items():
            h.send_header(name, value)
        h.send_header("Content-Length", str(len(payload)))
        h.end_headers()
        if payload and h.command != "HEAD":
            h.wfile.write(payload)

    def _record(self, call: Call, reply: Reply, api: str, started: float, fault: int | None = None) -> None:
        interesting = ("accept", "content-type", "user-agent", "x-github-api-version")
        body: Any = None
        if api == "github":
            try:
                body = call.body()
            except FakeError:
                body = "<invalid json>"
        scheme = (call.headers.get("Authorization") or "").partition(" ")[0]
        entry = {
            "time": time.time(),
            "api": api,
            "method": call.method,
            "path": call.raw_path,
            "query": dict(call.query),
            "status": reply.status,
            "operation": call.operation.operation_id if call.operation else None,
            "credential": {"kind": call.credential_kind, "name": call.credential_name, "scheme": scheme or None},
            "headers": {k: call.headers.get(k) for k in interesting if call.headers.get(k) is not None},
            "body": body,
            "fault": fault,
            "duration_ms": round((time.monotonic() - started) * 1000, 2),
        }
        with self._lock:
            self._seq += 1
            entry["seq"] = self._seq
            self._calls.append(entry)
            del self._calls[:-MAX_CALLS_KEPT]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body leave in two writes; with Nagle on, a keep-alive client waits ~40 ms each.
    disable_nagle_algorithm = True
    server_version = "fake-github"
    sys_version = ""

    def _serve(self) -> None:
        fake: FakeGitHub = self.server.fake  # type: ignore[attr-defined]
        try:
            fake.handle(self)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except Exception as exc:  # a bug in the fake must fail the test, not hang the client
            reason = f"fake_github internal error: {type(exc).__name__}: {str(exc)[:500]}"
            with fake._lock:
                fake._violations.append({"method": self.command, "path": self.path, "problems": [reason]})
            if fake._log:
                fake._log(reason)
            try:
                fake._send(self, Reply(500, {"message": reason}, checked=False))
            except OSError:
                pass
            self.close_connection = True

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - BaseHTTPRequestHandler's name
        fake: FakeGitHub = self.server.fake  # type: ignore[attr-defined]
        if fake._log:
            fake._log(format % args)


def _check_bind_address(host: str) -> None:
    """Refuse wildcard addresses: the fake may listen on loopback or one named bridge address."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError as exc:
        raise ValueError(f"bind to an IP address, not {host!r}") from exc
    if address.is_unspecified:
        raise ValueError("refusing to listen on all interfaces; name loopback or a bridge address")


def _load_seed(path: str) -> dict:
    text = Path(path).read_text(encoding="utf-8")
    try:
        import yaml
    except ImportError:  # JSON is YAML; without PyYAML only JSON seeds work
        return json.loads(text)
    return yaml.safe_load(text) or {}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bind", default="127.0.0.1", help="loopback or a docker bridge address")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port (see --port-file)")
    parser.add_argument("--port-file", help="written with the port once listening")
    parser.add_argument("--lifetime", type=float, default=3600.0, help="seconds before the fake stops by itself")
    parser.add_argument("--state", help="JSON file persisting the state across restarts (holds secrets)")
    parser.add_argument("--seed", help="YAML/JSON seed applied when there is no state yet")
    parser.add_argument("--standard-seed", action="store_true", help="apply STANDARD_SEED when there is no state yet")
    parser.add_argument("--heartbeat-ttl", type=float, default=60.0)
    parser.add_argument("--no-strict", action="store_true", help="do not validate responses")
    parser.add_argument("--rate-limit", type=int, default=5000)
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args(argv)

    seed: dict = {}
    if args.standard_seed:
        seed = copy.deepcopy(STANDARD_SEED)
    if args.seed:
        extra = _load_seed(args.seed)
        for key, value in extra.items():
            seed[key] = (seed.get(key) or []) + value if isinstance(value, list) else value

    def log(message: str) -> None:
        print(f"fake_github: {message}", file=sys.stderr, flush=True)

    fake = FakeGitHub(
        args.bind,
        args.port,
        lifetime=args.lifetime,
        strict=not args.no_strict,
        seed=seed or None,
        state_file=args.state,
        heartbeat_ttl=args.heartbeat_ttl,
        rate_limit=args.rate_limit,
        log=log if args.verbose else None,
    ).start()
    if args.port_file:
        tmp = Path(args.port_file + ".tmp")
        tmp.write_text(f"{fake.port}\n", encoding="utf-8")
        tmp.replace(args.port_file)
    log(f"serving {fake.url} for {args.lifetime:.0f}s")
    signal.signal(signal.SIGTERM, lambda *_: fake.stop())
    signal.signal(signal.SIGINT, lambda *_: fake.stop())
    while not fake.wait(timeout=1.0):
        pass
    return 1 if fake.violations else 0


if __name__ == "__main__":
    sys.exit(main())
