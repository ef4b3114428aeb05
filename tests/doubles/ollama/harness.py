# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Start and inspect the Ollama stand-in (``tests/doubles/ollama/ollama``) from Python tests.

The server is asked for port 0 and reports the port it got in upstream's
``Listening on HOST:PORT (version X)`` line, so parallel test runs never race for a port.
"""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
EXECUTABLE = HERE / "ollama.py"
CATALOGUE = HERE / "catalogue.json"

_LISTENING_RE = re.compile(r"Listening on (?P<host>\S+):(?P<port>\d+) \(version")


class StandIn:
    """One ``ollama serve`` process of the stand-in, with its models under ``root/models``.

    ``catalogue=None`` uses the shipped catalogue, ``False`` lets the stand-in find its own (as an
    installed ``bin/ollama`` does); ``python=None`` executes ``executable`` through its shebang.
    """

    def __init__(self, root, catalogue=None, env=None, executable=None, python=sys.executable):
        self.root = Path(root)
        self.models = self.root / "models"
        self.request_log = self.root / "standin-requests.log"
        self.catalogue = CATALOGUE if catalogue is None else catalogue
        self.extra_env = dict(env or {})
        self.executable = Path(executable) if executable else EXECUTABLE
        self.python = python
        self.process = None
        self.port = None
        self.stderr_lines = []

    @property
    def host(self):
        return "127.0.0.1:%d" % self.port

    @property
    def url(self):
        return "http://%s" % self.host

    def environ(self):
        env = {key: value for key, value in os.environ.items()
               if not key.startswith(("OLLAMA_", "INFERNO_OLLAMA_"))}
        env.update({
            "OLLAMA_HOST": "127.0.0.1:0",
            "OLLAMA_MODELS": str(self.models),
            "INFERNO_OLLAMA_STANDIN_DELAY": "0.002",
        })
        if self.catalogue is not False:
            env["INFERNO_OLLAMA_STANDIN_CATALOGUE"] = str(self.catalogue)
        env.update(self.extra_env)
        return env

    def start(self, timeout=10.0):
        self.root.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(  # pylint: disable=consider-using-with
            ([self.python] if self.python else []) + [str(self.executable), "serve"], env=self.environ(),
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        found = threading.Event()

        def pump():
            for line in self.process.stderr:
                self.stderr_lines.append(line.rstrip("\n"))
                match = _LISTENING_RE.search(line)
                if match and not found.is_set():
                    self.port = int(match.group("port"))
                    found.set()
            found.set()

        threading.Thread(target=pump, daemon=True).start()
        if not found.wait(timeout) or self.port is None:
            self.stop()
            raise RuntimeError("stand-in did not start:\n" + "\n".join(self.stderr_lines))
        return self

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode if self.process else None

    def restart(self):
        self.stop()
        self.stderr_lines = []
        self.port = None
        return self.start()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def requests(self, path=None, method=None):
        """Every request the server logged, oldest first, optionally filtered."""
        if not self.request_log.exists():
            return []
        entries = [json.loads(line) for line in self.request_log.read_text().splitlines() if line.strip()]
        return [entry for entry in entries
                if (path is None or entry["path"] == path) and (method is None or entry["method"] == method)]

    def wait_for_requests(self, count, path=None, timeout=2.0):
        """The log line is written once the answer is complete; wait for lagging ones."""
        deadline = time.monotonic() + timeout
        while len(self.requests(path)) < count and time.monotonic() < deadline:
            time.sleep(0.01)
        return self.requests(path)


def write_catalogue(path, models):
    """Write a catalogue holding ``models`` (tag -> entry) and return its path."""
    path = Path(path)
    path.write_text(json.dumps({"models": models}, indent=2))
    return path


def default_models():
    """The entries of the shipped catalogue, to copy into a test's own catalogue."""
    return json.loads(CATALOGUE.read_text())["models"]
