# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""GitHub REST client shared by the inferno.runners GitHub modules.

It owns everything that is about talking to GitHub rather than about runners: the
connection and authentication options, the scope (repository, organization,
enterprise), GitHub App JWTs and installation tokens, retries, rate limits,
redirects and pagination. The runner operations live in ``github_runners.py``.
"""
from __future__ import annotations

import base64
import contextlib
import datetime
import email.utils
import fcntl
import hashlib
import http.client
import json
import os
import random
import re
import ssl
import stat
import tempfile
import time
import traceback
import urllib.error
import urllib.parse

from ansible.module_utils.ansible_release import __version__ as ANSIBLE_CORE_VERSION
from ansible.module_utils.basic import missing_required_lib
from ansible.module_utils.urls import SSLValidationError, open_url

try:
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding, rsa
except ImportError:
    HAS_CRYPTOGRAPHY = False
    CRYPTOGRAPHY_IMPORT_ERROR = traceback.format_exc()
else:
    HAS_CRYPTOGRAPHY = True
    CRYPTOGRAPHY_IMPORT_ERROR = None


DEFAULT_API_URL = "https://api.github.com"
API_VERSION = "2022-11-28"
USER_AGENT = "inferno.runners (+https://github.com/inferno-runners/inferno.runners) ansible-core/%s" % ANSIBLE_CORE_VERSION

# GitHub caps per_page at 100; asking for the cap keeps a 250-runner org at 3 requests.
PER_PAGE = 100
# A runner list never needs this many pages; a loop this long means a broken Link chain.
MAX_PAGES = 500
MAX_REDIRECTS = 5

RETRY_BASE_DELAY = 1.0
RETRY_MAX_DELAY = 16.0
RETRYABLE_STATUSES = (500, 502, 503, 504)
# Secondary rate limits without retry-after: GitHub says wait at least a minute, then back off.
SECONDARY_RATE_LIMIT_WAIT = 60.0
# x-ratelimit-reset has one-second resolution; waiting a second past it avoids arriving early.
RATE_LIMIT_RESET_MARGIN = 1.0

# JWT lifetime: iat is back-dated 60 s against clock drift, as GitHub recommends. exp stays 60 s
# under GitHub's 10-minute ceiling so a controller clock running up to a minute fast still passes.
JWT_BACKDATE = 60
JWT_LIFETIME = 540
# A cached installation token is reused only while it has this long left, so a module that waits
# out a rate limit does not find its token expired half-way.
TOKEN_EXPIRY_MARGIN = 300

PERMISSION_HINTS = {
    "repository": (
        'repository runners need the "Administration" repository permission (read and write) '
        'for a fine-grained token or GitHub App, or the "repo" scope for a classic token'
    ),
    "organization": (
        'organization runners need the "Self-hosted runners" organization permission (read and write) '
        'for a fine-grained token or GitHub App, or the "admin:org" scope for a classic token'
    ),
    "enterprise": 'enterprise runners need a classic token with the "manage_runners:enterprise" scope',
}

_OWNER_RE = re.compile(r"^[A-Za-z0-9_-]+$")
_REPO_RE = re.compile(r"^[A-Za-z0-9._-]+$")


def github_argument_spec():
    """Connection, authentication and scope options shared by every GitHub module."""
    return dict(
        api_url=dict(type="str", default=DEFAULT_API_URL),
        token=dict(type="str", no_log=True),
        app_id=dict(type="str"),
        app_installation_id=dict(type="int"),
        app_private_key=dict(type="str", no_log=True),
        app_private_key_path=dict(type="path", no_log=False),
        app_token_cache=dict(type="bool", default=True, no_log=False),
        app_token_cache_dir=dict(type="path", no_log=False),
        repository=dict(type="str", aliases=["repo"]),
        organization=dict(type="str", aliases=["org"]),
        enterprise=dict(type="str"),
        timeout=dict(type="int", default=30),
        retry_max_time=dict(type="int", default=60),
        rate_limit_max_wait=dict(type="int", default=300),
        validate_certs=dict(type="bool", default=True),
        ca_path=dict(type="path"),
        use_proxy=dict(type="bool", default=True),
    )


GITHUB_MUTUALLY_EXCLUSIVE = [
    ("token", "app_id"),
    ("app_private_key", "app_private_key_path"),
    ("repository", "organization", "enterprise"),
]
GITHUB_REQUIRED_ONE_OF = [
    ("token", "app_id"),
    ("repository", "organization", "enterprise"),
]
GITHUB_REQUIRED_BY = {
    "app_id": ("app_installation_id",),
    "app_installation_id": ("app_id",),
    "app_private_key": ("app_id",),
    "app_private_key_path": ("app_id",),
}


def github_module_kwargs(argument_spec, **extra):
    """AnsibleModule keyword arguments: the shared spec and constraints merged with a module's own."""
    spec = github_argument_spec()
    spec.update(argument_spec)
    kwargs = dict(
        argument_spec=spec,
        mutually_exclusive=list(GITHUB_MUTUALLY_EXCLUSIVE) + list(extra.pop("mutually_exclusive", [])),
        required_one_of=list(GITHUB_REQUIRED_ONE_OF) + list(extra.pop("required_one_of", [])),
        required_by=dict(GITHUB_REQUIRED_BY, **extra.pop("required_by", {})),
        supports_check_mode=True,
    )
    kwargs.update(extra)
    return kwargs


class GitHubError(Exception):
    """A failure to report through ``fail_json``; ``msg`` is written for the person running the play."""

    def __init__(self, msg, status=None, request_id=None):
        super().__init__(msg)
        self.msg = msg
        self.status = status
        self.request_id = request_id

    def to_result(self):
        result = dict(msg=self.msg)
        if self.status is not None:
            result["status"] = self.status
        if self.request_id:
            result["github_request_id"] = self.request_id
        return result


class GitHubInputError(GitHubError):
    """A bad option value; the message names the option."""


class GitHubHTTPError(GitHubError):
    """GitHub answered with a status the caller did not expect."""

    def __init__(self, response, method, url):
        self.response = response
        self.method = method
        self.url = url
        super().__init__(
            "GitHub answered %s to %s %s: %s" % (response.status, method, safe_url(url), response.message()),
            status=response.status,
            request_id=response.headers.get("x-github-request-id"),
        )


class Scope:
    """Where runners are registered: a repository, an organization or an enterprise."""

    def __init__(self, kind, name):
        self.kind = kind
        self.name = name

    @classmethod
    def from_params(cls, params):
        if params.get("repository") is not None:
            value = params["repository"].strip()
            owner, sep, repo = value.partition("/")
            if not sep or not _OWNER_RE.match(owner) or not _REPO_RE.match(repo) or repo in (".", ".."):
                raise GitHubInputError(
                    "repository must be OWNER/REPO (for example octo-org/octo-repo), got %r; "
                    "use organization or enterprise for other scopes" % value
                )
            return cls("repository", value)
        for kind in ("organization", "enterprise"):
            value = params.get(kind)
            if value is not None:
                value = value.strip()
                if not _OWNER_RE.match(value):
                    raise GitHubInputError(
                        "%s must be a bare %s name (letters, digits, '-' and '_'), got %r"
                        % (kind, "organization" if kind == "organization" else "enterprise slug", value)
                    )
                return cls(kind, value)
        raise GitHubInputError("one of repository, organization or enterprise is required")

    @property
    def path(self):
        if self.kind == "repository":
            owner, repo = self.name.split("/", 1)
            return "/repos/%s/%s" % (_quote(owner), _quote(repo))
        if self.kind == "organization":
            return "/orgs/%s" % _quote(self.name)
        return "/enterprises/%s" % _quote(self.name)

    @property
    def label(self):
        return "%s %s" % (self.kind, self.name)

    @property
    def permission_hint(self):
        return PERMISSION_HINTS[self.kind]

    @property
    def has_runner_groups(self):
        return self.kind != "repository"


def _quote(segment):
    return urllib.parse.quote(segment, safe="")


def safe_url(url):
    """A URL for messages: no userinfo, no query string."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = "%s:%s" % (host, parts.port)
    return urllib.parse.urlunsplit((parts.scheme, host, parts.path, "", ""))


def _origin(parts):
    default_port = {"http": 80, "https": 443}.get(parts.scheme)
    return parts.scheme.lower(), (parts.hostname or "").lower(), parts.port or default_port


class ApiBase:
    """The configured API base URL; the only place credentials are ever sent."""

    def __init__(self, url):
        parts = urllib.parse.urlsplit((url or "").strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise GitHubInputError(
                "api_url must be an http(s) URL such as https://api.github.com or https://HOST/api/v3, got %r" % url
            )
        if parts.username or parts.password or parts.query or parts.fragment:
            raise GitHubInputError("api_url must not contain credentials, a query or a fragment, got %r" % safe_url(url))
        try:
            parts.port
        except ValueError:
            raise GitHubInputError("api_url has an invalid port: %r" % url)
        self.parts = parts
        self.prefix = parts.path.rstrip("/")
        self.url = urllib.parse.urlunsplit((parts.scheme, parts.netloc, self.prefix, "", ""))

    @property
    def is_cleartext_remote(self):
        return self.parts.scheme == "http" and self.parts.hostname not in ("localhost", "127.0.0.1", "::1")

    def contains(self, url):
        """True when url has the same scheme, host and port as api_url and lies under its path."""
        parts = urllib.parse.urlsplit(url)
        if _origin(parts) != _origin(self.parts):
            return False
        if not self.prefix:
            return True
        return parts.path == self.prefix or parts.path.startswith(self.prefix + "/")

    def join(self, path, query=None):
        url = self.url + path
        if query:
            url += "?" + urllib.parse.urlencode(query)
        return url


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body or b""

    def json(self):
        if not self.body:
            return None
        try:
            return json.loads(self.body.decode("utf-8"))
        except ValueError:
            raise GitHubError(
                "GitHub answered %s with a body that is not JSON: %r" % (self.status, self.body[:200]),
                status=self.status,
            )

    def message(self):
        """GitHub's own error text: message plus the details of any validation errors."""
        try:
            data = json.loads(self.body.decode("utf-8"))
        except (ValueError, UnicodeDecodeError):
            text = self.body[:200].decode("utf-8", "replace").strip()
            return text or http.client.responses.get(self.status, "no message")
        if not isinstance(data, dict):
            return str(data)[:200]
        message = str(data.get("message") or http.client.responses.get(self.status, "no message"))
        details = []
        for error in data.get("errors") or []:
            if isinstance(error, dict):
                details.append(error.get("message") or ", ".join("%s=%s" % item for item in sorted(error.items())))
            else:
                details.append(str(error))
        if details:
            message += " (%s)" % "; ".join(details)
        return message


def parse_link_header(value):
    """Map rel -> URL from an RFC 8288 Link header as GitHub writes it."""
    links = {}
    for part in (value or "").split(","):
        match = re.match(r'\s*<([^>]*)>\s*;(.*)$', part)
        if not match:
            continue
        for param in match.group(2).split(";"):
            pieces = param.strip().partition("=")
            if pieces[0].strip().lower() == "rel":
                for rel in pieces[2].strip().strip('"').split():
                    links[rel.lower()] = match.group(1)
    return links


def parse_retry_after(value, now):
    """Seconds to wait from a retry-after header: delta-seconds or an HTTP date."""
    value = (value or "").strip()
    if not value:
        return None
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=datetime.timezone.utc)
    return max(0.0, when.timestamp() - now)


def parse_github_time(value):
    """Epoch seconds from GitHub's ISO 8601 timestamps (2016-07-11T22:14:10Z), or None."""
    if not isinstance(value, str) or not value:
        return None
    try:
        when = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=datetime.timezone.utc)
    return when.timestamp()


def _b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def load_app_private_key(pem, option="app_private_key"):
    if not HAS_CRYPTOGRAPHY:
        raise GitHubInputError(missing_required_lib("cryptography", reason="to sign GitHub App JWTs"))
    data = pem.encode("utf-8") if isinstance(pem, str) else pem
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise GitHubInputError(
            "%s is not an unencrypted PEM private key (GitHub App keys start with "
            "'-----BEGIN RSA PRIVATE KEY-----'): %s" % (option, exc)
        )
    except Exception as exc:  # cryptography raises UnsupportedAlgorithm for exotic keys
        raise GitHubInputError("%s could not be loaded: %s" % (option, exc))
    if not isinstance(key, rsa.RSAPrivateKey):
        raise GitHubInputError("%s must be an RSA key: GitHub App JWTs are signed with RS256" % option)
    return key


def make_app_jwt(app_id, private_key, now):
    """An RS256 JWT identifying the GitHub App, as GitHub specifies for app authentication."""
    issued = int(now)
    # GitHub accepts the numeric app id or the client id (a string such as Iv23li...) as issuer.
    issuer = int(app_id) if str(app_id).isdigit() else str(app_id)
    header = {"alg": "RS256", "typ": "JWT"}
    claims = {"iat": issued - JWT_BACKDATE, "exp": issued + JWT_LIFETIME, "iss": issuer}
    signing_input = "%s.%s" % (
        _b64url(json.dumps(header, separators=(",", ":")).encode()),
        _b64url(json.dumps(claims, separators=(",", ":")).encode()),
    )
    signature = private_key.sign(signing_input.encode("ascii"), padding.PKCS1v15(), hashes.SHA256())
    return "%s.%s" % (signing_input, _b64url(signature))


def default_token_cache_dir():
    # XDG_RUNTIME_DIR is a per-user tmpfs removed at logout: the best home for a short-lived secret.
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime and os.path.isdir(runtime):
        return os.path.join(runtime, "inferno.runners")
    return os.path.join(os.path.expanduser("~"), ".cache", "inferno.runners")


class TokenCacheError(Exception):
    pass


class InstallationTokenCache:
    """Installation tokens kept between tasks, in 0600 files inside a 0700 directory of the user.

    Modules run as separate processes, one per task and host, so reusing a token "within the run"
    needs somewhere outside the process. A flock around look-up-and-mint makes parallel forks
    wait for the first one instead of each minting its own token.
    """

    def __init__(self, directory):
        self.directory = directory

    def _ensure_directory(self):
        try:
            os.makedirs(self.directory, mode=0o700, exist_ok=True)
            info = os.lstat(self.directory)
        except OSError as exc:
            raise TokenCacheError("cannot create %s: %s" % (self.directory, exc))
        if not stat.S_ISDIR(info.st_mode):
            raise TokenCacheError("%s is not a directory" % self.directory)
        if info.st_uid != os.geteuid():
            raise TokenCacheError("%s belongs to another user" % self.directory)
        if info.st_mode & 0o077:
            raise TokenCacheError("%s is accessible to other users (mode %o)" % (self.directory, stat.S_IMODE(info.st_mode)))

    def _path(self, key):
        return os.path.join(self.directory, "github-app-%s.json" % key)

    @contextlib.contextmanager
    def locked(self, key):
        self._ensure_directory()
        try:
            fd = os.open(self._path(key) + ".lock", os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
        except OSError as exc:
            raise TokenCacheError("cannot open lock file: %s" % exc)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def get(self, key, now):
        try:
            fd = os.open(self._path(key), os.O_RDONLY | os.O_NOFOLLOW)
        except OSError:
            return None
        with os.fdopen(fd, "rb") as handle:
            info = os.fstat(handle.fileno())
            if info.st_uid != os.geteuid() or info.st_mode & 0o077:
                return None
            try:
                data = json.loads(handle.read().decode("utf-8"))
            except ValueError:
                return None
        if not isinstance(data, dict) or not isinstance(data.get("token"), str):
            return None
        expires = data.get("expires_at_epoch")
        if not isinstance(expires, (int, float)) or expires - TOKEN_EXPIRY_MARGIN <= now:
            return None
        return data

    def put(self, key, token, expires_at, expires_at_epoch):
        # mkstemp creates the file 0600; the rename makes readers see either nothing or all of it.
        fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=".github-app-")
        try:
            with os.fdopen(fd, "w") as handle:
                json.dump(dict(token=token, expires_at=expires_at, expires_at_epoch=expires_at_epoch), handle)
            os.replace(tmp, self._path(key))
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise

    def forget(self, key):
        with contextlib.suppress(OSError):
            os.unlink(self._path(key))


class TokenAuth:
    """A personal access token, fine-grained token or an installation token given by the caller."""

    def __init__(self, token):
        self._token = token

    def authorization(self, client):
        return "Bearer " + self._token

    def refresh(self, client):
        return False


class AppAuth:
    """GitHub App authentication: a JWT buys an installation token, which every request then uses."""

    def __init__(self, app_id, installation_id, private_key, api_base, cache=None, warn=None):
        self.app_id = app_id
        self.installation_id = installation_id
        self._key = private_key
        self._cache = cache
        self._warn = warn or (lambda msg: None)
        self._token = None
        self._refreshed = False
        self._force_mint = False
        self._from_cache = False
        public = private_key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        # The key fingerprint is part of the cache key so a rotated or mistyped key is noticed at
        # once instead of being hidden behind a token minted with the old one.
        material = json.dumps([api_base.url, str(app_id), int(installation_id), hashlib.sha256(public).hexdigest()])
        self._cache_key = hashlib.sha256(material.encode()).hexdigest()[:40]

    def authorization(self, client):
        if self._token is None:
            self._token = self._obtain(client)
        return "Bearer " + self._token

    def refresh(self, client):
        """After a 401: replace a token taken from the cache (it may have been revoked), once.

        A token this process minted itself and GitHub still refuses is a real failure, not staleness.
        """
        if self._refreshed or not self._from_cache:
            return False
        self._refreshed = True
        self._token = None
        self._force_mint = True
        return True

    def _obtain(self, client):
        force, self._force_mint = self._force_mint, False
        self._from_cache = False
        if self._cache is None:
            return self._mint(client)["token"]
        try:
            with self._cache.locked(self._cache_key):
                cached = None if force else self._cache.get(self._cache_key, client.now())
                if cached:
                    self._from_cache = True
                    return cached["token"]
                minted = self._mint(client)
                try:
                    if minted["expires_at_epoch"] is None:
                        self._cache.forget(self._cache_key)
                    else:
                        self._cache.put(self._cache_key, minted["token"], minted["expires_at"],
                                        minted["expires_at_epoch"])
                except OSError as exc:
                    self._warn("could not store the GitHub App installation token in %s: %s"
                               % (self._cache.directory, exc))
                return minted["token"]
        except TokenCacheError as exc:
            self._warn("GitHub App token cache disabled for this task (%s); minting a token for this task only" % exc)
            self._cache = None
            return self._mint(client)["token"]

    def _mint(self, client):
        jwt = make_app_jwt(self.app_id, self._key, client.now())
        path = "/app/installations/%s/access_tokens" % int(self.installation_id)
        try:
            response = client.request("POST", path, authorization="Bearer " + jwt, expected=(201,))
        except GitHubHTTPError as exc:
            status = exc.response.status
            if status == 401:
                hint = "check app_id and app_private_key, and that this machine's clock is right (JWTs are time-bound)"
            elif status == 404:
                hint = "app_installation_id %s is not an installation of app_id %s" % (self.installation_id, self.app_id)
            elif status == 403:
                hint = "the installation may be suspended or the App lacks the permission"
            else:
                hint = "GitHub refused to mint an installation token"
            raise GitHubError(
                "GitHub App authentication failed (%s %s): %s" % (status, exc.response.message(), hint),
                status=status,
                request_id=exc.request_id,
            )
        data = response.json() or {}
        token = data.get("token")
        if not isinstance(token, str) or not token:
            raise GitHubError("GitHub's installation token answer has no token", status=response.status)
        return dict(token=token, expires_at=data.get("expires_at"), expires_at_epoch=parse_github_time(data.get("expires_at")))


class _Transient(Exception):
    """A connection-level failure worth retrying."""


class GitHubClient:
    """GitHub REST requests with GitHub's headers, bounded retries, rate-limit waits and host pinning.

    ``clock``, ``now``, ``sleep`` and ``rng`` are injectable so tests can check timings without
    waiting them out.
    """

    def __init__(self, api_base, auth, timeout=30, retry_max_time=60, rate_limit_max_wait=300,
                 validate_certs=True, ca_path=None, use_proxy=True,
                 clock=None, now=None, sleep=None, rng=None, opener=None):
        self.api = api_base
        self.auth = auth
        self.timeout = timeout
        self.retry_max_time = retry_max_time
        self.rate_limit_max_wait = rate_limit_max_wait
        self.validate_certs = validate_certs
        self.ca_path = ca_path
        self.use_proxy = use_proxy
        self.clock = clock or time.monotonic
        self.now = now or time.time
        self.sleep = sleep or time.sleep
        self.rng = rng or random.random
        self.opener = opener or open_url
        self.rate_limit_waited = 0.0
        self.retries = 0

    def url(self, path, query=None):
        return self.api.join(path, query)

    def request(self, method, path_or_url, body=None, query=None, expected=(200,), authorization=None):
        """Send one logical request, retrying and following same-host redirects; return a Response.

        A status outside ``expected`` raises GitHubHTTPError carrying the response, so callers can
        explain it in their own terms.
        """
        url = path_or_url if "://" in path_or_url else self.url(path_or_url, query)
        if not self.api.contains(url):
            raise GitHubError(
                "refusing to send a request to %s: it is outside api_url %s, and credentials go only there"
                % (safe_url(url), self.api.url)
            )
        data = json.dumps(body).encode("utf-8") if body is not None else None
        started = self.clock()
        failures = 0
        secondary_waits = 0
        redirects = 0
        refreshed = False
        while True:
            try:
                response = self._send(method, url, data, authorization)
            except _Transient as exc:
                delay = self._backoff(failures)
                if self.clock() - started + delay > self.retry_max_time:
                    raise GitHubError(
                        "cannot reach GitHub at %s for %s %s after %d attempt(s) in %.1f s (retry_max_time=%s): %s"
                        % (self.api.url, method, safe_url(url), failures + 1, self.clock() - started,
                           self.retry_max_time, exc)
                    )
                failures += 1
                self.retries += 1
                self.sleep(delay)
                continue

            status = response.status
            if 300 <= status < 400 and status != 304:
                redirects += 1
                url, method, data = self._redirect(response, method, url, data, redirects)
                continue

            wait = self._rate_limit_wait(response, secondary_waits)
            if wait is not None:
                seconds, reason, secondary = wait
                if secondary:
                    secondary_waits += 1
                if self.rate_limit_waited + seconds > self.rate_limit_max_wait:
                    resource = response.headers.get("x-ratelimit-resource")
                    raise GitHubError(
                        "GitHub rate limit hit on %s %s (%s%s): waiting %.0f s more would exceed "
                        "rate_limit_max_wait=%s s (already waited %.0f s); retry later or raise rate_limit_max_wait"
                        % (method, safe_url(url), reason, ", resource %s" % resource if resource else "",
                           seconds, self.rate_limit_max_wait, self.rate_limit_waited),
                        status=status,
                        request_id=response.headers.get("x-github-request-id"),
                    )
                self.rate_limit_waited += seconds
                self.sleep(seconds)
                continue

            if status in RETRYABLE_STATUSES:
                delay = self._backoff(failures)
                retry_after = parse_retry_after(response.headers.get("retry-after"), self.now())
                if retry_after is not None:
                    delay = max(delay, retry_after)
                if self.clock() - started + delay <= self.retry_max_time:
                    failures += 1
                    self.retries += 1
                    self.sleep(delay)
                    continue

            if status == 401 and authorization is None and not refreshed and self.auth.refresh(self):
                refreshed = True
                continue

            if status not in expected:
                raise GitHubHTTPError(response, method, url)
            return response

    def paginate(self, path, item_key, query=None):
        """Every item of a list endpoint, following Link rel="next" only while it stays under api_url."""
        params = dict(query or {})
        params.setdefault("per_page", PER_PAGE)
        url = self.url(path, params)
        items = []
        seen = set()
        while url:
            if url in seen or len(seen) >= MAX_PAGES:
                raise GitHubError("GitHub's pagination for %s loops or exceeds %d pages; stopped" % (path, MAX_PAGES))
            seen.add(url)
            response = self.request("GET", url)
            data = response.json()
            page = data.get(item_key) if isinstance(data, dict) else None
            if not isinstance(page, list):
                raise GitHubError("GitHub's answer to GET %s has no %r list" % (safe_url(url), item_key), status=response.status)
            items.extend(page)
            following = parse_link_header(response.headers.get("link")).get("next")
            if following:
                following = urllib.parse.urljoin(url, following)
                if not self.api.contains(following):
                    # A partial list would make callers decide on wrong data (a runner "missing"
                    # that is on page 2), so stop with an error instead of returning what we have.
                    raise GitHubError(
                        "GitHub's pagination link for %s points to %s, outside api_url %s; refusing to follow it "
                        "(credentials are only sent to api_url). Check that api_url matches the server's "
                        "configured hostname." % (path, safe_url(following), self.api.url)
                    )
            url = following
        return items

    def _redirect(self, response, method, url, data, count):
        location = response.headers.get("location")
        if not location:
            raise GitHubError("GitHub answered %s to %s %s without a Location" % (response.status, method, safe_url(url)),
                              status=response.status)
        target = urllib.parse.urljoin(url, location)
        if not self.api.contains(target):
            raise GitHubError(
                "refusing to follow a %s redirect from %s to %s: it leaves api_url %s, and credentials go only there"
                % (response.status, safe_url(url), safe_url(target), self.api.url),
                status=response.status,
            )
        if count > MAX_REDIRECTS:
            raise GitHubError("more than %d redirects starting at %s %s" % (MAX_REDIRECTS, method, safe_url(url)))
        if response.status in (307, 308):
            return target, method, data
        if method in ("GET", "HEAD"):
            return target, method, None
        # 301/302/303 turn a POST into a GET in browsers; for an API call that silently drops the
        # request, so it is reported instead.
        raise GitHubError(
            "GitHub redirected %s %s to %s with %s; not re-sending it as GET"
            % (method, safe_url(url), safe_url(target), response.status),
            status=response.status,
        )

    def _backoff(self, failures):
        # Equal jitter: never shorter than half the exponential step, so retries stay spread out.
        step = min(RETRY_MAX_DELAY, RETRY_BASE_DELAY * (2 ** failures))
        return step / 2 + self.rng() * step / 2

    def _rate_limit_wait(self, response, secondary_waits):
        """(seconds, reason, secondary) when the response is a rate-limit refusal, following GitHub's rules."""
        if response.status not in (403, 429):
            return None
        headers = response.headers
        retry_after = parse_retry_after(headers.get("retry-after"), self.now())
        if retry_after is not None:
            # A floor of one second keeps "retry-after: 0" from spinning without ever reaching
            # rate_limit_max_wait.
            return max(1.0, retry_after), "retry-after: %s" % headers.get("retry-after"), False
        reset = headers.get("x-ratelimit-reset", "").strip()
        if headers.get("x-ratelimit-remaining", "").strip() == "0" and reset.isdigit():
            seconds = max(0.0, int(reset) - self.now()) + RATE_LIMIT_RESET_MARGIN
            return seconds, "x-ratelimit-remaining is 0, x-ratelimit-reset %s" % reset, False
        if response.status == 429 or "rate limit" in response.message().lower():
            return (SECONDARY_RATE_LIMIT_WAIT * (2 ** secondary_waits),
                    "secondary rate limit without retry-after or x-ratelimit-reset", True)
        return None

    def _send(self, method, url, data, authorization):
        if not self.api.contains(url):  # every caller checked already; this is the last line of defence
            raise GitHubError("refusing to send credentials to %s outside api_url %s" % (safe_url(url), self.api.url))
        headers = {
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": API_VERSION,
            "Authorization": authorization or self.auth.authorization(self),
        }
        if data is not None:
            headers["Content-Type"] = "application/json"
        try:
            # open_url rather than fetch_url: fetch_url reads follow_redirects from module params
            # and calls fail_json on some errors, and both would take retries out of our hands.
            # .netrc is ignored so no other credential is ever attached.
            handle = self.opener(
                url, data=data, headers=headers, method=method, timeout=self.timeout,
                validate_certs=self.validate_certs, ca_path=self.ca_path, use_proxy=self.use_proxy,
                http_agent=USER_AGENT, follow_redirects="none", use_netrc=False,
                unredirected_headers=["Authorization"],
            )
            try:
                return Response(handle.getcode(), _lower_headers(handle.headers), handle.read())
            finally:
                handle.close()
        except urllib.error.HTTPError as exc:
            try:
                body = exc.read() if exc.fp is not None else b""
            except (OSError, http.client.HTTPException):
                body = b""
            return Response(exc.code, _lower_headers(exc.headers), body)
        except urllib.error.URLError as exc:
            reason = exc.reason
            if isinstance(reason, (ssl.SSLCertVerificationError, ssl.CertificateError)):
                raise GitHubError(
                    "TLS certificate of %s could not be verified (%s); set ca_path to your CA bundle" % (self.api.url, reason)
                )
            raise _Transient(str(reason))
        except SSLValidationError as exc:
            raise GitHubError("TLS validation failed for %s: %s" % (self.api.url, exc))
        except ValueError as exc:
            raise GitHubError("invalid request URL %s: %s" % (safe_url(url), exc))
        except (OSError, http.client.HTTPException) as exc:
            raise _Transient("%s: %s" % (type(exc).__name__, exc))


def _lower_headers(headers):
    result = {}
    for name, value in (headers.items() if headers is not None else []):
        name = name.lower()
        result[name] = "%s, %s" % (result[name], value) if name in result else value
    return result


def _check_positive(params, name, minimum):
    value = params.get(name)
    if value is not None and value < minimum:
        raise GitHubInputError("%s must be at least %d, got %s" % (name, minimum, value))


def client_from_params(params, warn=None, **overrides):
    """Build the client and scope from the shared options; raise GitHubInputError naming the option."""
    warn = warn or (lambda msg: None)
    api = ApiBase(params.get("api_url") or DEFAULT_API_URL)
    if api.is_cleartext_remote:
        warn("api_url %s is plain http to a remote host: the token travels unencrypted" % api.url)
    scope = Scope.from_params(params)
    _check_positive(params, "timeout", 1)
    _check_positive(params, "retry_max_time", 0)
    _check_positive(params, "rate_limit_max_wait", 0)

    if params.get("token") is not None:
        if not params["token"].strip():
            raise GitHubInputError("token is empty")
        auth = TokenAuth(params["token"].strip())
    elif params.get("app_id") is not None:
        if params.get("app_installation_id") is None:
            raise GitHubInputError("app_installation_id is required with app_id")
        if params.get("app_private_key") is not None:
            key = load_app_private_key(params["app_private_key"], "app_private_key")
        elif params.get("app_private_key_path") is not None:
            path = params["app_private_key_path"]
            try:
                with open(path, "rb") as handle:
                    pem = handle.read()
            except OSError as exc:
                raise GitHubInputError("app_private_key_path %s cannot be read: %s" % (path, exc.strerror or exc))
            key = load_app_private_key(pem, "app_private_key_path")
        else:
            raise GitHubInputError("app_id needs app_private_key or app_private_key_path")
        cache = None
        if params.get("app_token_cache", True):
            cache = InstallationTokenCache(params.get("app_token_cache_dir") or default_token_cache_dir())
        auth = AppAuth(params["app_id"], params["app_installation_id"], key, api, cache=cache, warn=warn)
    else:
        raise GitHubInputError("one of token or app_id is required")

    client = GitHubClient(
        api, auth,
        timeout=params.get("timeout") or 30,
        retry_max_time=params.get("retry_max_time", 60),
        rate_limit_max_wait=params.get("rate_limit_max_wait", 300),
        validate_certs=params.get("validate_certs", True),
        ca_path=params.get("ca_path"),
        use_proxy=params.get("use_proxy", True),
        **overrides
    )
    return client, scope


def explain_http_error(exc, scope, action):
    """Turn an unexpected GitHub status into a message that says what to fix."""
    response = exc.response
    status = response.status
    said = response.message()
    if status == 401:
        msg = ("GitHub rejected the credentials while %s (401 %s): the token is invalid, expired or revoked"
               % (action, said))
    elif status == 403:
        msg = "GitHub refused %s on %s (403 %s): the credential lacks permission; %s" % (
            action, scope.label, said, scope.permission_hint)
        accepted = response.headers.get("x-accepted-github-permissions")
        if accepted:
            msg += " (GitHub asks for: %s)" % accepted
    elif status == 404:
        msg = ("%s was not found while %s (404 %s): it does not exist or this credential cannot see it "
               "(GitHub answers 404 rather than 403 for what a credential may not see); check the name and "
               "that the token or App installation covers it" % (scope.label, action, said))
    elif status == 422:
        msg = "GitHub rejected %s on %s (422): %s" % (action, scope.label, said)
    elif status == 409:
        msg = "GitHub reported a conflict while %s on %s (409): %s" % (action, scope.label, said)
    else:
        msg = "GitHub answered %s while %s on %s: %s" % (status, action, scope.label, said)
    return GitHubError(msg, status=status, request_id=exc.request_id)
