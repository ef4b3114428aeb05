# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The Ollama stand-in as the ollama role meets it: release archives built by build-archive.sh,
unpacked like upstream's install.sh does, and driven through the ``ollama`` CLI."""
from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

DOUBLES = Path(__file__).resolve().parents[2] / "doubles" / "ollama"
BUILD = DOUBLES / "build-archive.sh"
ASSETS = ("ollama-linux-amd64.tar.zst", "ollama-linux-amd64.tgz", "ollama-linux-arm64.tar.zst", "ollama-linux-arm64.tgz")

_spec = importlib.util.spec_from_file_location("ollama_standin_harness", DOUBLES / "harness.py")
harness = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(harness)

needs_tools = pytest.mark.skipif(not (shutil.which("zstd") and shutil.which("python3")),
                                 reason="zstd and python3 are needed (apt-get install zstd)")


def build(out, *version):
    subprocess.run(["bash", str(BUILD), str(out), *version], check=True, capture_output=True, text=True)
    return out


def unpack(archive, prefix):
    """Unpack like upstream install.sh: straight into the prefix (here a stand-in for /usr/local)."""
    prefix.mkdir(parents=True, exist_ok=True)
    if archive.name.endswith(".tar.zst"):
        data = subprocess.run(["zstd", "-dc", str(archive)], check=True, capture_output=True).stdout
        subprocess.run(["tar", "-xf", "-", "-C", str(prefix)], input=data, check=True)
    else:
        subprocess.run(["tar", "-xzf", str(archive), "-C", str(prefix)], check=True)
    return prefix


def cli(binary, *args, host=None, check=False):
    env = {key: value for key, value in os.environ.items() if not key.startswith("OLLAMA_")}
    if host:
        env["OLLAMA_HOST"] = host
    return subprocess.run([str(binary), *args], env=env, capture_output=True, text=True, check=check, timeout=30)


@needs_tools
def test_archives_are_reproducible_and_checksummed(tmp_path):
    first, second = build(tmp_path / "one"), build(tmp_path / "two")
    listing = (first / "sha256sum.txt").read_text()
    assert listing == (second / "sha256sum.txt").read_text()
    lines = listing.splitlines()
    assert [line.split("  ")[1] for line in lines] == list(ASSETS)
    for line in lines:
        digest, name = re.match(r"^([0-9a-f]{64})  (\S+)$", line).groups()
        assert hashlib.sha256((first / name).read_bytes()).hexdigest() == digest


@needs_tools
@pytest.mark.parametrize("asset", ASSETS)
def test_archive_has_the_upstream_layout(tmp_path, asset):
    prefix = unpack(build(tmp_path / "out") / asset, tmp_path / "usr" / "local")
    binary = prefix / "bin" / "ollama"
    assert os.access(binary, os.X_OK)
    assert binary.read_text().startswith("#!/usr/bin/env python3\n")
    assert (prefix / "lib" / "ollama" / "standin-catalogue.json").is_file()
    arch = "arm64" if "arm64" in asset else "amd64"
    assert 'STANDIN_ARCH = "%s"' % arch in binary.read_text()


@needs_tools
def test_installed_stand_in_serves_the_cli_contract(tmp_path):
    prefix = unpack(build(tmp_path / "out", "0.13.0") / "ollama-linux-amd64.tar.zst", tmp_path / "usr" / "local")
    binary = prefix / "bin" / "ollama"

    offline = cli(binary, "--version", host="127.0.0.1:9")
    assert offline.returncode == 0
    assert offline.stdout == ("Warning: could not connect to a running Ollama instance\n"
                              "Warning: client version is 0.13.0\n")

    # Executed through its shebang, and left to find its catalogue in lib/ollama like an install.
    server = harness.StandIn(tmp_path / "home" / ".ollama", executable=binary, python=None, catalogue=False,
                             env={"OLLAMA_KEEP_ALIVE": "10m", "OLLAMA_NUM_PARALLEL": "2"})
    with server:
        assert cli(binary, "-v", host=server.host).stdout == "ollama version is 0.13.0\n"

        pulled = cli(binary, "pull", "qwen2.5:0.5b", host=server.host)
        assert pulled.returncode == 0, pulled.stderr
        assert pulled.stdout == ""
        assert pulled.stderr.splitlines()[0] == "pulling manifest" and pulled.stderr.splitlines()[-1] == "success"

        listed = cli(binary, "list", host=server.host).stdout.splitlines()
        assert listed[0].split() == ["NAME", "ID", "SIZE", "MODIFIED"]
        assert listed[1].startswith("qwen2.5:0.5b ")

        missing = cli(binary, "pull", "qwen2.5:99b", host=server.host)
        assert missing.returncode == 1
        assert missing.stderr == "pulling manifest\nError: pull model manifest: file does not exist\n"

        assert cli(binary, "rm", "qwen2.5:0.5b", host=server.host).stdout == "deleted 'qwen2.5:0.5b'\n"
        assert cli(binary, "rm", "qwen2.5:0.5b", host=server.host).stderr == "Error: model 'qwen2.5:0.5b' not found\n"

        state = json.loads((server.root / "standin-server.json").read_text())
        assert state["version"] == "0.13.0" and state["arch"] == "amd64"
        assert state["catalogue"] == str(prefix / "lib" / "ollama" / "standin-catalogue.json")
        assert state["env"]["OLLAMA_KEEP_ALIVE"] == "10m" and state["env"]["OLLAMA_NUM_PARALLEL"] == "2"
        paths = [(entry["method"], entry["path"]) for entry in server.wait_for_requests(6)]
        assert len(paths) == 6
        assert paths.count(("POST", "/api/pull")) == 2 and ("GET", "/api/version") in paths
    config_line = next(line for line in server.stderr_lines if 'msg="server config"' in line)
    assert "OLLAMA_KEEP_ALIVE:10m " in config_line and "OLLAMA_MODELS:%s " % server.models in config_line
    assert any("Listening on 127.0.0.1:%d (version 0.13.0)" % server.port in line for line in server.stderr_lines)
    assert server.process.returncode == 0


def test_unwritable_request_log_stops_the_server(tmp_path):
    server = harness.StandIn(tmp_path / "ollama", env={"INFERNO_OLLAMA_STANDIN_LOG": str(tmp_path / "no" / "such" / "dir")})
    with pytest.raises(RuntimeError, match="Error: stand-in request log"):
        server.start()
    assert server.process.returncode == 1


def test_http_contract(tmp_path):
    """Upstream's answers for the non-model routes, byte for byte where clients depend on them."""
    import http.client

    with harness.StandIn(tmp_path / "ollama") as server:
        def call(method, path, body=None):
            connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
            connection.request(method, path, body=json.dumps(body) if body is not None else None)
            response = connection.getresponse()
            data = response.read()
            connection.close()
            return response.status, response.getheader("Content-Type"), data

        assert call("GET", "/") == (200, "text/plain; charset=utf-8", b"Ollama is running")
        assert call("HEAD", "/")[0] == 200
        assert json.loads(call("GET", "/api/version")[2]) == {"version": "0.12.6"}
        assert json.loads(call("GET", "/api/ps")[2]) == {"models": []}
        assert json.loads(call("GET", "/api/tags")[2]) == {"models": []}
        assert call("POST", "/api/pull", {"model": "bad name!"})[:1] == (400,)
        assert json.loads(call("POST", "/api/pull", {})[2]) == {"error": "model is required"}
        assert call("POST", "/api/show", {"model": "qwen2.5:0.5b"})[0] == 404
        assert call("GET", "/api/nothing")[0] == 404

        status, kind, body = call("POST", "/api/pull", {"model": "qwen2.5:0.5b", "stream": False})
        assert (status, json.loads(body)) == (200, {"status": "success"})
        status, kind, body = call("POST", "/api/pull", {"name": "llama3.2:1b"})
        assert status == 200 and kind == "application/x-ndjson"
        events = [json.loads(line) for line in body.splitlines()]
        assert events[0] == {"status": "pulling manifest"} and events[-1] == {"status": "success"}
        layer = next(event for event in events if "completed" in event and event["completed"] < event["total"])
        assert set(layer) == {"status", "digest", "total", "completed"}
        assert layer["status"] == "pulling " + layer["digest"][7:19]

        models = json.loads(call("GET", "/api/tags")[2])["models"]
        assert sorted(model["name"] for model in models) == ["llama3.2:1b", "qwen2.5:0.5b"]
        assert set(models[0]) == {"name", "model", "modified_at", "size", "digest", "details"}
        assert set(models[0]["details"]) == {"parent_model", "format", "family", "families", "parameter_size",
                                             "quantization_level"}
        shown = json.loads(call("POST", "/api/show", {"model": "llama3.2:1b"})[2])
        assert shown["details"]["quantization_level"] == "Q8_0" and "stop" in shown["parameters"]
        assert call("DELETE", "/api/delete", {"model": "llama3.2:1b"})[::2] == (200, b"")
        assert json.loads(call("DELETE", "/api/delete", {"model": "llama3.2:1b"})[2]) == {
            "error": "model 'llama3.2:1b' not found"}
