# Stands in for bin/Runner.Listener of actions/runner v2.33x (src/Runner.Listener: Program.cs, CommandSettings.cs, Runner.cs,
# Configuration/ConfigurationManager.cs; the exit codes run-helper.sh.template of src/Misc/layoutroot maps).
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A Python 3 (stdlib only) stand-in for the runner's listener, packed by build-archive.sh.

How it finds GitHub. The real listener derives everything from the ``--url`` given to config.sh:
``https://github.com/OWNER/REPO`` means api.github.com, and any other host is GitHub Enterprise
Server, reached at ``SCHEME://HOST[:PORT]/api/v3``. The stand-in keeps that rule and supports only
the second case: it talks to the fake GitHub (tests/doubles/github/fake_github.py) that serves a
GHES-style base, so the role under test passes ``--url http://FAKE:PORT/OWNER/REPO`` exactly as it
would for a GHES host. A github.com URL fails with a clear message, since nothing here may reach
it. What the real listener does against GitHub's private Actions service (register with the
token, hold a session, remove) goes to the fake's ``/_fake/runner/...`` control API instead:

    POST /_fake/runner/register   registration token, name, labels, group, replace, ephemeral ...
    POST /_fake/runner/ID/session Authorization: Bearer <runner secret>; heartbeats online/offline, busy
    POST /_fake/runner/remove     remove token and runner id (config.sh remove)

Contract kept from upstream:
- commands configure, remove, run, warmup; flags and args of CommandSettings.cs (plus
  ``--no-default-labels``); every arg and flag also from ``ACTIONS_RUNNER_INPUT_<NAME>``, removed
  from the environment once read; secrets (token, pat, jitconfig) never printed or logged.
  Stricter than upstream: unknown input is refused with upstream's message and exit code 1
  (upstream prints the message and carries on), so a typo in a caller fails its test.
- ``remove`` accepts only ``--token``, ``--pat`` and ``--local``, and fails while ``.service``
  exists; ``configure`` refuses an already configured root.
- the root is the parent of the directory this file really lives in (realpath, as the .NET
  apphost resolves its own path), so a symlinked ``bin/`` writes its config next to the shared copy.
- files: ``.runner`` (JSON settings), ``.credentials`` (OAuth data), ``.credentials_rsaparams``
  (0600); ``run --jitconfig`` writes the three files from the JIT configuration, as upstream does.
- ``run`` logs to ``_diag/Runner_<yyyyMMdd-HHmmss>-utc.log`` and prints ``Listening for Jobs``
  once connected; SIGINT/SIGTERM end the session (reported offline) and exit 0.
- exit codes: 0 success, 1 terminated error, 2 retryable, 3/4 updating, 5 session conflict,
  6 configuration refreshed, 7 version deprecated.

Stand-in only (never in upstream): hook files in ``ROOT/.standin-hooks/`` that tests write as root,
each consumed (deleted) by the ``run`` that reads it:
    exit-code   an integer: exit with it right after connecting (7: "version deprecated")
    no-listen   connect nothing and log nothing, stay alive (a hung listener for health checks)
    job         seconds: report one busy job for that long (an ephemeral runner then ends, as upstream)
The RSA parameters in ``.credentials_rsaparams`` after ``configure`` are random bytes: the fake
authenticates sessions with the secret kept in ``.credentials``, and signs nothing.
"""
from __future__ import annotations

import base64
import json
import os
import platform
import secrets
import signal
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from datetime import datetime, timezone
from urllib.parse import urlsplit

# Replaced by build-archive.sh, as upstream bakes them into BuildConstants.
RUNNER_VERSION = "0.0.0"
RUNNER_ARCH = "x64"

SUCCESS, TERMINATED, RETRYABLE, UPDATE, EPHEMERAL_UPDATE, SESSION_CONFLICT, REFRESHED, DEPRECATED = range(8)

COMMANDS = {"configure", "remove", "run", "warmup"}
FLAGS = {
    "check", "commit", "disableupdate", "ephemeral", "help", "once", "replace", "runasservice",
    "unattended", "version", "no-default-labels", "local",
}
ARGS = {
    "auth", "labels", "monitorsocketaddress", "name", "pat", "runnergroup", "startuptype", "token",
    "url", "username", "windowslogonaccount", "windowslogonpassword", "work", "jitconfig",
}
SECRET_ARGS = {"token", "pat", "jitconfig", "windowslogonpassword"}
REMOVE_INPUTS = {"token", "pat", "local"}
HOSTED = ("github.com", "www.github.com")
MACHINES = {"x86_64": "x64", "amd64": "x64", "aarch64": "arm64", "arm64": "arm64", "armv7l": "arm", "armv8l": "arm"}
CONFIG_FILES = (".runner", ".credentials", ".credentials_rsaparams")
USAGE = "For usage refer to: .\\config.cmd --help or ./config.sh --help"

ROOT = os.path.dirname(os.path.dirname(os.path.realpath(__file__)))


class Stop(Exception):
    """Ends the command with an exit code after the message was shown."""

    def __init__(self, code: int, message: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class Trace:
    """Upstream's _diag trace file plus the terminal, with secrets masked in both."""

    def __init__(self, prefix: str) -> None:
        self.secrets: set[str] = set()
        self.path = None
        self.prefix = prefix

    def open_diag(self) -> None:
        diag = os.path.join(ROOT, "_diag")
        os.makedirs(diag, exist_ok=True)
        stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
        self.path = os.path.join(diag, f"{self.prefix}_{stamp}-utc.log")

    def mask(self, text: str) -> str:
        for value in sorted(self.secrets, key=len, reverse=True):
            if value:
                text = text.replace(value, "***")
        return text

    def info(self, text: str) -> None:
        if self.path:
            stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%SZ")
            with open(self.path, "a", encoding="utf-8") as handle:
                handle.write(f"[{stamp} INFO {self.prefix}] {self.mask(text)}\n")

    def term(self, text: str = "", error: bool = False) -> None:
        text = self.mask(text)
        print(text, file=sys.stderr if error else sys.stdout, flush=True)
        self.info(("Term(error): " if error else "Term: ") + text)


TRACE = Trace("Runner")


class Command:
    """CommandSettings: commands, flags and args from argv, then ACTIONS_RUNNER_INPUT_* (consumed)."""

    def __init__(self, argv: list[str]) -> None:
        self.commands: list[str] = []
        self.flags: set[str] = set()
        self.args: dict[str, str] = {}
        self.raw_unknown: list[str] = []
        i = 0
        while i < len(argv):
            token = argv[i]
            if token.startswith("--"):
                name, eq, value = token[2:].partition("=")
                key = name.lower()
                if eq:
                    self.args[key] = value
                elif key in ARGS and i + 1 < len(argv) and not argv[i + 1].startswith("--"):
                    self.args[key] = argv[i + 1]
                    i += 1
                elif key not in FLAGS and key not in ARGS and i + 1 < len(argv) and not argv[i + 1].startswith("--"):
                    # Upstream's parser also takes "--unknown value" as an argument pair.
                    self.args[key] = argv[i + 1]
                    i += 1
                else:
                    self.flags.add(key)
            else:
                self.commands.append(token.lower())
            i += 1
        self.env: dict[str, str] = {}
        for key in list(os.environ):
            if key.upper().startswith("ACTIONS_RUNNER_INPUT_"):
                value = os.environ.pop(key).strip()
                name = key[len("ACTIONS_RUNNER_INPUT_"):].lower()
                # A dash cannot be written in a shell variable name.
                name = "no-default-labels" if name == "no_default_labels" else name
                if value:
                    self.env[name] = value
        for name, value in list(self.args.items()) + list(self.env.items()):
            if name in SECRET_ARGS:
                TRACE.secrets.add(value)

    @property
    def name(self) -> str:
        return self.commands[0] if self.commands else ""

    def unknown(self) -> list[str]:
        bad = [c for c in self.commands if c not in COMMANDS]
        bad += [f for f in sorted(self.flags) if f not in FLAGS]
        bad += [a for a in self.args if a not in ARGS]
        if self.name == "remove":
            bad += [f for f in sorted(self.flags) if f in FLAGS and f not in REMOVE_INPUTS]
            bad += [a for a in self.args if a in ARGS and a not in REMOVE_INPUTS]
        elif "local" in self.flags:
            bad.append("local")
        return bad

    def arg(self, name: str) -> str | None:
        return self.args.get(name) or self.env.get(name)

    def flag(self, name: str) -> bool:
        if name in self.flags:
            return True
        return str(self.env.get(name, "")).lower() == "true"

    def required(self, name: str) -> str:
        value = self.arg(name)
        if not value:
            # PromptManager's words in unattended mode; the stand-in never prompts.
            raise Stop(TERMINATED, f"Invalid configuration provided for {name}. Terminating unattended configuration.")
        return value


def _http(method: str, url: str, body: dict | None = None, bearer: str | None = None, timeout: float = 15.0):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    request.add_header("Accept", "application/json")
    request.add_header("User-Agent", f"GitHubActionsRunner-linux-{RUNNER_ARCH}/{RUNNER_VERSION} Pid/{os.getpid()}")
    if bearer:
        request.add_header("Authorization", f"Bearer {bearer}")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            text = response.read().decode() or "null"
            return response.status, json.loads(text)
    except urllib.error.HTTPError as exc:
        text = exc.read().decode(errors="replace")
        try:
            return exc.code, json.loads(text)
        except ValueError:
            return exc.code, {"message": text}


def _server(url: str) -> tuple[str, str]:
    """(base of the fake, scope path) for a config.sh --url, following upstream's hosted/GHES rule."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise Stop(TERMINATED, f"Invalid configuration provided for url. Terminating unattended configuration. ({url!r} is not a URL)")
    if parts.hostname in HOSTED or (parts.hostname or "").endswith(".ghe.com"):
        raise Stop(TERMINATED, "The runner stand-in only talks to a fake GitHub at a GHES-style URL "
                               f"(http://HOST:PORT/OWNER/REPO); {url} would need api.github.com.")
    path = [p for p in parts.path.split("/") if p]
    if len(path) == 2 and path[0].lower() == "enterprises":
        scope = f"enterprises/{path[1]}"
    elif len(path) == 2:
        scope = f"repos/{path[0]}/{path[1]}"
    elif len(path) == 1:
        scope = f"orgs/{path[0]}"
    else:
        raise Stop(TERMINATED, f"'{url}' should point to an org or repository.")
    return f"{parts.scheme}://{parts.netloc}", scope


def _token_from_pat(base: str, scope: str, pat: str, kind: str) -> str:
    # Upstream sends Basic github:PAT; the fake only accepts Bearer, which GitHub takes as well.
    status, body = _http("POST", f"{base}/api/v3/{scope}/actions/runners/{kind}-token", {}, bearer=pat)
    if status != 201:
        raise Stop(TERMINATED, f"Http response code: {status} from 'POST {base}/api/v3/{scope}/actions/runners/{kind}-token'\n{json.dumps(body)}")
    TRACE.secrets.add(body["token"])
    return body["token"]


def _path(name: str) -> str:
    return os.path.join(ROOT, name)


def _configured() -> bool:
    return os.path.isfile(_path(".runner"))


def _write(name: str, content: bytes, private: bool) -> None:
    path = _path(name)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if private else 0o644)
    with os.fdopen(fd, "wb") as handle:
        handle.write(content)
    if private:
        os.chmod(path, 0o600)


def _delete_local_config() -> None:
    for name in CONFIG_FILES:
        try:
            os.unlink(_path(name))
        except FileNotFoundError:
            pass


def configure(cmd: Command) -> int:
    TRACE.term("--------------------------------------------------------------------------------")
    TRACE.term("|                       Self-hosted runner registration                        |")
    TRACE.term("--------------------------------------------------------------------------------")
    if _configured():
        raise Stop(TERMINATED, "Cannot configure the runner because it is already configured. To reconfigure the runner, "
                               "run 'config.cmd remove' or './config.sh remove' first.")
    TRACE.term("# Authentication")
    url = cmd.required("url")
    base, scope = _server(url)
    pat = cmd.arg("pat")
    token = _token_from_pat(base, scope, pat, "registration") if pat else cmd.required("token")
    TRACE.term("√ Connected to GitHub")
    TRACE.term("# Runner Registration")
    name = cmd.arg("name") or platform.node() or "myrunner"
    labels = [label for label in (cmd.arg("labels") or "").split(",") if label]
    work = cmd.arg("work") or "_work"
    ephemeral = cmd.flag("ephemeral")
    body = {
        "registration_token": token,
        "name": name,
        "url": url,
        "labels": labels,
        "runner_group": cmd.arg("runnergroup"),
        "ephemeral": ephemeral,
        "replace": cmd.flag("replace"),
        "no_default_labels": cmd.flag("no-default-labels"),
        "os": "linux",
        "arch": RUNNER_ARCH,
        "version": RUNNER_VERSION,
        "work_folder": work,
    }
    status, answer = _http("POST", f"{base}/_fake/runner/register", body)
    message = (answer or {}).get("message", "") if isinstance(answer, dict) else ""
    if status == 409:
        TRACE.term("A runner exists with the same name")
        raise Stop(TERMINATED, f"A runner exists with the same name {name}.")
    if status == 404 and "runner group" in message:
        raise Stop(TERMINATED, message)
    if status != 201:
        raise Stop(TERMINATED, f"Http response code: {status} from 'POST {base}/_fake/runner/register'\n{message}")
    TRACE.secrets.add(answer["credentials"]["runner_secret"])
    TRACE.term("√ Successfully replaced the runner" if answer.get("replaced") else "√ Runner successfully added")
    credentials = {
        "scheme": "OAuth",
        "data": {
            "clientId": answer["credentials"]["client_id"],
            "authorizationUrl": answer["credentials"]["authorization_url"],
            "requireFipsCryptography": "False",
            "fakeRunnerSecret": answer["credentials"]["runner_secret"],
        },
    }
    rsa = {key: base64.b64encode(secrets.token_bytes(size)).decode() for key, size in (
        ("d", 256), ("dp", 128), ("dq", 128), ("exponent", 3), ("inverseQ", 128), ("modulus", 256), ("p", 128), ("q", 128))}
    settings = {
        "agentId": answer["id"],
        "agentName": answer["name"],
        "poolId": answer["runner_group_id"],
        "poolName": answer["runner_group_name"],
        "disableUpdate": cmd.flag("disableupdate"),
        "ephemeral": ephemeral,
        "serverUrl": f"{base}/_fake/runner",
        "gitHubUrl": url,
        "workFolder": work,
    }
    _write(".credentials", json.dumps(credentials, indent=2).encode(), private=True)
    _write(".credentials_rsaparams", json.dumps(rsa).encode(), private=True)
    TRACE.term("√ Runner connection is good")
    TRACE.term("# Runner settings")
    _write(".runner", json.dumps(settings, indent=2).encode(), private=False)
    TRACE.term("√ Settings Saved.")
    _write_svc_sh(answer["name"], scope)
    return SUCCESS


def _write_svc_sh(name: str, scope: str) -> None:
    """Upstream's configure generates svc.sh from bin/systemd.svc.sh.template."""
    template = os.path.join(ROOT, "bin", "systemd.svc.sh.template")
    if not os.path.isfile(template):
        return
    owner = scope.split("/", 1)[1].replace("/", "-")
    with open(template, encoding="utf-8") as handle:
        text = handle.read()
    text = text.replace("{{SvcNameVar}}", f"actions.runner.{owner}.{name}.service")
    text = text.replace("{{SvcDescription}}", f"GitHub Actions Runner ({owner}.{name})")
    path = _path("svc.sh")
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.chmod(path, 0o755)


def remove(cmd: Command) -> int:
    TRACE.term("# Runner removal")
    if cmd.flag("local"):
        _delete_local_config()
        return SUCCESS
    if os.path.exists(_path(".service")):
        TRACE.term("Removing service")
        TRACE.term("Failed: Removing service", error=True)
        raise Stop(TERMINATED, "Unconfigure service first")
    if _configured() and os.path.isfile(_path(".credentials")):
        with open(_path(".runner"), encoding="utf-8-sig") as handle:
            settings = json.load(handle)
        base, scope = _server(settings["gitHubUrl"])
        pat = cmd.arg("pat")
        token = _token_from_pat(base, scope, pat, "remove") if pat else cmd.required("token")
        status, answer = _http("POST", f"{base}/_fake/runner/remove", {"remove_token": token, "id": settings["agentId"]})
        if status == 404:
            TRACE.term("Does not exist. Skipping Removing runner from the server")
        elif status != 200:
            TRACE.term("Failed: Removing runner from the server", error=True)
            raise Stop(TERMINATED, f"Http response code: {status} from 'POST {base}/_fake/runner/remove'\n{(answer or {}).get('message', '')}")
        else:
            TRACE.term("√ Runner removed successfully")
    else:
        TRACE.term("Cannot connect to server, because config files are missing. Skipping removing runner from the server.")
    for name, what in ((".credentials", "Removed .credentials"), (".runner", "Removed .runner")):
        if os.path.exists(_path(name)):
            if name == ".credentials":
                for extra in (".credentials", ".credentials_rsaparams"):
                    if os.path.exists(_path(extra)):
                        os.unlink(_path(extra))
            else:
                os.unlink(_path(name))
            TRACE.term(f"√ {what}")
        else:
            TRACE.term(f"Does not exist. Skipping Removing {name}")
    return SUCCESS


def _hook(name: str) -> str | None:
    path = os.path.join(ROOT, ".standin-hooks", name)
    try:
        with open(path, encoding="utf-8") as handle:
            value = handle.read().strip()
        os.unlink(path)
        return value
    except FileNotFoundError:
        return None


class Session:
    """The listener's session: heartbeats online/idle (or busy) until told to stop."""

    def __init__(self, settings: dict, credentials: dict) -> None:
        self.url = credentials["data"]["authorizationUrl"]
        self.secret = credentials["data"]["fakeRunnerSecret"]
        TRACE.secrets.add(self.secret)
        self.settings = settings
        self.stop = threading.Event()
        self.busy = False
        self.interval = 5.0

    def beat(self, status: str = "online") -> tuple[int, dict]:
        body = {"status": status, "busy": self.busy, "version": RUNNER_VERSION, "os": "linux"}
        return _http("POST", self.url, body, bearer=self.secret, timeout=10.0)


def run(cmd: Command) -> int:
    TRACE.open_diag()
    TRACE.info(f"Runner is built for Linux ({RUNNER_ARCH}) - actions-runner-linux-{RUNNER_ARCH}-{RUNNER_VERSION}.")
    TRACE.info(f"Version: {RUNNER_VERSION}")
    jit = cmd.arg("jitconfig")
    if jit:
        try:
            files = json.loads(base64.b64decode(jit).decode())
            for name, content in files.items():
                _write(name, base64.b64decode(content), private=name != ".runner")
                TRACE.info(f"Saved {len(base64.b64decode(content))} bytes to '{_path(name)}'.")
        except (ValueError, TypeError, AttributeError) as exc:
            raise Stop(TERMINATED, f"Invalid jitconfig: {type(exc).__name__}") from exc
    if not _configured():
        raise Stop(TERMINATED, "Runner is not configured.")
    with open(_path(".runner"), encoding="utf-8-sig") as handle:
        settings = json.load(handle)
    with open(_path(".credentials"), encoding="utf-8-sig") as handle:
        credentials = json.load(handle)
    session = Session(settings, credentials)
    ended = threading.Event()

    def _signal(signum, _frame):
        TRACE.info(f"Received {signal.Signals(signum).name}")
        ended.set()

    signal.signal(signal.SIGTERM, _signal)
    signal.signal(signal.SIGINT, _signal)

    if _hook("no-listen") is not None:
        TRACE.info("stand-in hook no-listen: staying silent")
        while not ended.wait(1.0):
            pass
        return SUCCESS

    delay = 1.0
    while True:
        try:
            status, answer = session.beat()
        except (OSError, urllib.error.URLError) as exc:
            status, answer = 0, {"message": str(exc)}
        if status == 200:
            break
        if status in (401, 404):
            raise Stop(TERMINATED, "Failed to create session. Runner registration has been deleted from the server, please re-configure. "
                                   "Runner registrations are automatically deleted for runners that have not connected to the service recently.")
        TRACE.term(f"{_now()}: GitHub Actions is currently unavailable, retrying ({status} {answer.get('message', '')})", error=True)
        if ended.wait(delay):
            return SUCCESS
        delay = min(delay * 2, 30.0)
    session.interval = max(0.5, float(answer.get("heartbeat_ttl") or 60.0) / 4)
    TRACE.term("√ Connected to GitHub")
    TRACE.term(f"Current runner version: '{RUNNER_VERSION}'")

    code = _hook("exit-code")
    if code is not None:
        if int(code) == DEPRECATED:
            TRACE.term(f"Runner version v{RUNNER_VERSION} is deprecated and cannot receive messages.", error=True)
        session.beat("offline")
        return int(code)

    TRACE.term(f"{_now()}: Listening for Jobs")
    job = _hook("job")
    job_ends = time.monotonic() + float(job) if job else None
    if job_ends is not None:
        session.busy = True
        session.beat()
        TRACE.term(f"{_now()}: Running job: stand-in job")
    while not ended.wait(session.interval):
        if job_ends is not None and time.monotonic() >= job_ends:
            session.busy = False
            job_ends = None
            TRACE.term(f"{_now()}: Job stand-in job completed with result: Succeeded")
            status, answer = session.beat()
            if settings.get("ephemeral"):
                # Upstream deletes an ephemeral runner's local configuration after its one job.
                _delete_local_config()
                TRACE.term("Ephemeral runner is done: exiting")
                return SUCCESS
            continue
        try:
            status, answer = session.beat()
        except (OSError, urllib.error.URLError) as exc:
            TRACE.info(f"heartbeat failed: {exc}")
            continue
        if status in (401, 404):
            TRACE.term("Runner registration was replaced or deleted on the server.", error=True)
            return SESSION_CONFLICT if status == 401 else TERMINATED
    try:
        session.beat("offline")
    except (OSError, urllib.error.URLError):
        pass
    TRACE.term("Exiting...")
    return SUCCESS


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%SZ")


def main(argv: list[str]) -> int:
    machine = MACHINES.get(platform.machine().lower(), platform.machine())
    if machine != RUNNER_ARCH:
        # The real listener is a native binary: on another architecture it does not even start.
        print(f"{sys.argv[0]}: cannot execute binary file: Exec format error ({RUNNER_ARCH} build on {machine})", file=sys.stderr)
        return 126
    cmd = Command(argv)
    try:
        unknown = cmd.unknown()
        if unknown:
            where = f"for command {cmd.name}" if cmd.name else ""
            if where:
                raise Stop(TERMINATED, f"Unrecognized command-line input arguments {where}: '{', '.join(unknown)}'. {USAGE}")
            raise Stop(TERMINATED, f"This command does not recognize the command-line input arguments: '{', '.join(unknown)}'. {USAGE}")
        if cmd.flag("version"):
            print(RUNNER_VERSION)
            return SUCCESS
        if cmd.flag("help"):
            print("Commands: ./config.sh [--unattended --url URL --token TOKEN ...] | ./config.sh remove --token TOKEN | ./run.sh [--jitconfig B64]")
            return SUCCESS
        if cmd.name == "configure":
            TRACE.open_diag()
            return configure(cmd)
        if cmd.name == "remove":
            return remove(cmd)
        if cmd.name == "warmup":
            return SUCCESS
        return run(cmd)
    except Stop as stop:
        if stop.message:
            TRACE.term(stop.message, error=True)
        return stop.code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
