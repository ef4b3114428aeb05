"""Prism (``@stoplight/prism-cli``) serving GitHub's official OpenAPI description on loopback.

Upstream contract: Prism 5 ``prism mock`` in static mode (answers from the description's examples)
with ``--errors``, so a request breaking the description is answered 422 and the violations are
listed in the ``sl-violations`` response header. The description is npm ``@octokit/openapi``
``generated/api.github.com.json``, read from disk: Prism fetches nothing at run time (checked in a
network namespace with only loopback).

Measured on this test bed (2 cores): ready 7 s after launch when idle (8-20 s under parallel load),
0.29 GB RSS (0.44 GB with the derived copy below), so the whole description is served; no cut-down
copy is needed.

Prism serves a derived copy written under ``tests/output/prism/`` (never committed):

- GitHub answers JSON to ``Accept: application/vnd.github+json`` (the header its documentation tells
  clients to send), but Prism only negotiates media types the description lists, and it lists only
  ``application/json``, so Prism would answer 406. The copy adds ``application/vnd.github+json`` as
  an alias of every ``application/json`` response (same schema, same examples).
- ``ghec.json`` (the only file describing enterprise runner operations) refers to three
  ``server-statistics-*.yaml`` files the npm package does not ship; Prism would try to resolve them
  and fail. The copy replaces such external references with an unconstrained schema.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

from .openapi import API_GITHUB_COM, TOOLS_DIR

REPO = TOOLS_DIR.parent.parent
PRISM_BIN = TOOLS_DIR / "node_modules" / ".bin" / "prism"
OUTPUT_DIR = REPO / "tests" / "output" / "prism"
VENDOR_MEDIA_TYPE = "application/vnd.github+json"
_DERIVED_MARK = "x-inferno-derived-from"
# Part of the copy's file name, so copies made by an older derivation are never reused.
_DERIVATION = "prism-2"


class PrismError(RuntimeError):
    """Prism could not be started or did not become ready."""


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _local_refs_only(node):
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and not ref.startswith("#"):
            return {"description": f"external reference {ref} is not shipped with @octokit/openapi"}
        return {key: _local_refs_only(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_local_refs_only(value) for value in node]
    return node


def with_vendor_media_type(spec_path: Path, out_dir: Path = OUTPUT_DIR) -> Path:
    """The description with ``application/vnd.github+json`` aliasing ``application/json`` responses
    and external references (which the package does not ship) replaced by an unconstrained schema.

    Rewritten only when the source is newer than the copy (the source is 13 MB; this takes ~1 s).
    """
    spec_path = Path(spec_path)
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / f"{spec_path.stem}.{_DERIVATION}.json"
    if target.is_file() and target.stat().st_mtime >= spec_path.stat().st_mtime:
        return target
    with spec_path.open(encoding="utf-8") as handle:
        document = _local_refs_only(json.load(handle))
    responses = document.get("components", {}).get("responses", {}).values()
    operations = (
        op
        for item in document["paths"].values()
        for method, op in item.items()
        if method in ("get", "put", "post", "delete", "patch")
    )
    for container in list(responses) + [r for op in operations for r in op.get("responses", {}).values()]:
        content = container.get("content") if isinstance(container, dict) else None
        if content and "application/json" in content and VENDOR_MEDIA_TYPE not in content:
            content[VENDOR_MEDIA_TYPE] = content["application/json"]
    document.setdefault("info", {})[_DERIVED_MARK] = str(spec_path)
    tmp = target.with_suffix(".tmp")
    with tmp.open("w", encoding="utf-8") as handle:
        json.dump(document, handle)
    tmp.replace(target)
    return target


class Prism:
    """One ``prism mock`` process. Use as a context manager, or ``start()``/``stop()``."""

    def __init__(
        self,
        spec_path: str | Path = API_GITHUB_COM,
        port: int = 0,
        *,
        host: str = "127.0.0.1",
        lifetime: float = 900.0,
        startup_timeout: float = 120.0,
        vendor_media_type: bool = True,
        log_dir: Path = OUTPUT_DIR,
    ) -> None:
        if host not in ("127.0.0.1", "::1", "localhost"):
            raise ValueError("Prism is only started on loopback")
        self.source_spec = Path(spec_path)
        self.host = host
        self.port = port
        self.lifetime = lifetime
        self.startup_timeout = startup_timeout
        self.vendor_media_type = vendor_media_type
        self.log_dir = log_dir
        self.process: subprocess.Popen | None = None
        self.startup_seconds: float | None = None
        self.log_path: Path | None = None
        self.spec: Path | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> "Prism":
        if not PRISM_BIN.exists():
            raise PrismError(f"{PRISM_BIN} is missing: run `npm ci --prefix tests/tools`")
        if not self.source_spec.is_file():
            raise PrismError(f"{self.source_spec} is missing: run `npm ci --prefix tests/tools`")
        self.spec = with_vendor_media_type(self.source_spec) if self.vendor_media_type else self.source_spec
        self.log_dir.mkdir(parents=True, exist_ok=True)
        # A port picked here can be taken before Prism binds it; a few tries settle that race.
        last_error: Exception | None = None
        for _attempt in range(3):
            port = self.port or free_port(self.host)
            try:
                self._launch(port)
                return self
            except PrismError as exc:
                last_error = exc
                self.stop()
                if self.port:
                    break
        raise PrismError(str(last_error))

    def _launch(self, port: int) -> None:
        self.port = port
        self.log_path = self.log_dir / f"prism-{port}.log"
        command = [
            str(PRISM_BIN), "mock", str(self.spec),
            "--host", self.host, "--port", str(port),
            "--errors", "--dynamic=false", "--cors=false", "--verboseLevel", "warn",
        ]
        timeout = shutil.which("timeout")
        if timeout:
            # coreutils timeout ends Prism after its lifetime even if this Python process is killed.
            command = [timeout, "--kill-after=10", str(int(self.lifetime))] + command
        env = dict(os.environ, SCARF_ANALYTICS="false", DO_NOT_TRACK="1", NO_UPDATE_NOTIFIER="1")
        started = time.monotonic()
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                env=env, cwd=str(TOOLS_DIR), start_new_session=True,
            )
        if not timeout:
            deadline_killer = _DeadlineKiller(self.process, self.lifetime)
            deadline_killer.start()
        deadline = started + self.startup_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise PrismError(f"prism exited with {self.process.returncode}: {self._log_tail()}")
            if self._answers():
                self.startup_seconds = time.monotonic() - started
                return
            time.sleep(0.25)
        raise PrismError(f"prism not ready after {self.startup_timeout:.0f}s: {self._log_tail()}")

    def _answers(self) -> bool:
        request = urllib.request.Request(self.url + "/rate_limit", headers={"Accept": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=2):
                return True
        except urllib.error.HTTPError:
            return True
        except (urllib.error.URLError, OSError):
            return False

    def _log_tail(self, size: int = 2000) -> str:
        if self.log_path is None or not self.log_path.is_file():
            return ""
        return self.log_path.read_text(encoding="utf-8", errors="replace")[-size:]

    def rss_kib(self) -> int | None:
        """Resident memory of Prism's node process (the one under ``timeout``), in KiB."""
        if self.process is None:
            return None
        pids = [self.process.pid]
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        if children.is_file():
            pids += [int(p) for p in children.read_text().split()]
        best = 0
        for pid in pids:
            try:
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        best = max(best, int(line.split()[1]))
            except OSError:
                continue
        return best or None

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        try:
            os.killpg(process.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)

    def __enter__(self) -> "Prism":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class _DeadlineKiller:
    """Lifetime bound when coreutils ``timeout`` is absent (it only works while Python lives)."""

    def __init__(self, process: subprocess.Popen, lifetime: float) -> None:
        import threading

        self._timer = threading.Timer(lifetime, self._kill, args=(process,))
        self._timer.daemon = True

    def start(self) -> None:
        self._timer.start()

    @staticmethod
    def _kill(process: subprocess.Popen) -> None:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)


_RUNNING: dict[str, Prism] = {}


def start_prism(spec_path: str | Path = API_GITHUB_COM, port: int = 0, **options) -> str:
    """Start Prism on loopback and return its URL; ``stop_prism(url)`` ends it (so does its lifetime)."""
    prism = Prism(spec_path, port, **options).start()
    _RUNNING[prism.url] = prism
    return prism.url


def stop_prism(url: str) -> None:
    prism = _RUNNING.pop(url, None)
    if prism is not None:
        prism.stop()
