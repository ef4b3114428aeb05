# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The ollama_model module run in-process against the Ollama stand-in (tests/doubles/ollama).

Each test starts its own stand-in on a free loopback port with an empty OLLAMA_MODELS and counts
the requests the module made in the stand-in's request log.
"""
from __future__ import annotations

import hashlib
import importlib.util
import json
import socket
from pathlib import Path

import pytest

from ansible.module_utils.testing import patch_module_args

from ansible_collections.inferno.runners.plugins.module_utils.ollama import OllamaModel
from ansible_collections.inferno.runners.plugins.modules import ollama_model

_HARNESS_PATH = Path(__file__).resolve().parents[3] / "doubles" / "ollama" / "harness.py"
_spec = importlib.util.spec_from_file_location("ollama_standin_harness", _HARNESS_PATH)
harness = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(harness)


@pytest.fixture
def catalogue(tmp_path):
    """A private copy of the shipped catalogue that a test may edit while the server runs."""
    return harness.write_catalogue(tmp_path / "catalogue.json", harness.default_models())


@pytest.fixture
def standin(tmp_path, catalogue):
    with harness.StandIn(tmp_path / "ollama", catalogue=catalogue) as server:
        yield server


@pytest.fixture
def sleeps(monkeypatch):
    recorded = []
    monkeypatch.setattr(OllamaModel, "sleep", staticmethod(recorded.append))
    return recorded


def run_module(capsys, server, check_mode=False, diff=False, **args):
    args.setdefault("host", server.url if server else "http://127.0.0.1:9")
    args.update(_ansible_check_mode=check_mode, _ansible_diff=diff)
    with patch_module_args(args):
        with pytest.raises(SystemExit) as caught:
            ollama_model.main()
    result = json.loads(capsys.readouterr().out)
    assert bool(caught.value.code) == bool(result.get("failed")), result
    return result


def pulls(server, expected):
    """The /api/pull requests logged, once at least ``expected`` are in."""
    return server.wait_for_requests(expected, path="/api/pull")


def test_present_pulls_once_then_never_again(capsys, standin):
    first = run_module(capsys, standin, name="qwen2.5:0.5b")
    assert first["changed"] is True and first["pulled"] is True
    assert first["model"]["name"] == "qwen2.5:0.5b"
    assert first["model"]["details"]["family"] == "qwen2"
    assert first["progress"]["statuses"][0] == "pulling manifest" and first["progress"]["statuses"][-1] == "success"
    assert first["progress"]["total"] == first["progress"]["completed"] > 0
    assert len(pulls(standin, 1)) == 1

    second = run_module(capsys, standin, name="qwen2.5:0.5b")
    assert second["changed"] is False and second["pulled"] is False
    assert second["digest_before"] == second["digest_after"] == first["digest_after"]
    assert len(pulls(standin, 1)) == 1


def test_pulled_model_is_on_disk_in_upstream_layout_and_survives_a_restart(capsys, standin):
    result = run_module(capsys, standin, name="llama3.2")
    manifest_path = standin.models / "manifests" / "registry.ollama.ai" / "library" / "llama3.2" / "latest"
    raw = manifest_path.read_bytes()
    assert hashlib.sha256(raw).hexdigest() == result["digest_after"]
    manifest = json.loads(raw)
    for blob in [manifest["config"]] + manifest["layers"]:
        content = (standin.models / "blobs" / blob["digest"].replace(":", "-")).read_bytes()
        assert "sha256:" + hashlib.sha256(content).hexdigest() == blob["digest"]
        assert len(content) == blob["size"]

    standin.restart()
    again = run_module(capsys, standin, name="llama3.2:latest")
    assert again["changed"] is False and again["digest_after"] == result["digest_after"]
    assert len(pulls(standin, 1)) == 1


def test_check_mode_makes_no_pull(capsys, standin):
    result = run_module(capsys, standin, check_mode=True, diff=True, name="llama3.2:1b")
    assert result["changed"] is True and result["pulled"] is False
    assert result["diff"] == {"before": {}, "after": {"name": "llama3.2:1b", "digest": None}}
    assert standin.requests(path="/api/pull") == []
    assert not (standin.models / "manifests" / "registry.ollama.ai").exists()


def test_absent_removes_then_does_nothing(capsys, standin):
    run_module(capsys, standin, name="nomic-embed-text")
    removed = run_module(capsys, standin, name="nomic-embed-text:latest", state="absent", diff=True)
    assert removed["changed"] is True and removed["digest_after"] is None
    assert removed["diff"]["after"] == {} and removed["diff"]["before"]["digest"] == removed["digest_before"]
    assert list((standin.models / "blobs").iterdir()) == []

    again = run_module(capsys, standin, name="nomic-embed-text", state="absent")
    assert again["changed"] is False
    assert len(standin.wait_for_requests(1, path="/api/delete")) == 1


def test_latest_is_idempotent_by_digest(capsys, standin, catalogue):
    first = run_module(capsys, standin, name="llama3.2:1b", state="latest")
    assert first["changed"] is True and first["digest_before"] is None

    same = run_module(capsys, standin, name="llama3.2:1b", state="latest")
    assert same["changed"] is False and same["pulled"] is True
    assert same["digest_before"] == same["digest_after"] == first["digest_after"]
    assert len(pulls(standin, 2)) == 2

    models = harness.default_models()
    models["llama3.2:1b"]["revision"] = 1
    harness.write_catalogue(catalogue, models)
    moved = run_module(capsys, standin, name="llama3.2:1b", state="latest", diff=True)
    assert moved["changed"] is True
    assert moved["digest_before"] == first["digest_after"] != moved["digest_after"]
    assert moved["diff"]["before"]["digest"] == moved["digest_before"]


def test_unknown_tag_fails_naming_the_model_without_retrying(capsys, standin, sleeps):
    result = run_module(capsys, standin, name="llama3.2:70b-nonexistent", retries=3)
    assert result["failed"] is True
    assert result["msg"] == ("Ollama cannot pull model 'llama3.2:70b-nonexistent': pull model manifest: file does "
                             "not exist (a permanent error: not retried)")
    assert sleeps == [] and len(pulls(standin, 1)) == 1


def test_transient_failures_are_recovered_by_retries(capsys, standin, sleeps):
    result = run_module(capsys, standin, name="inferno-faults/flaky", retries=3)
    assert result["changed"] is True and result["pulled"] is True
    assert result["progress"]["attempts"] == 3 and sleeps == [2, 4]
    assert result["progress"]["errors"] == ["max retries exceeded: unexpected EOF"] * 2
    assert len(pulls(standin, 3)) == 3


def test_retries_run_out_on_a_tag_that_always_fails(capsys, standin, sleeps):
    result = run_module(capsys, standin, name="inferno-faults/broken", retries=1)
    assert result["failed"] is True and sleeps == [2]
    assert result["msg"] == ("Pulling model 'inferno-faults/broken:latest' failed after 2 attempt(s) (option retries=1): "
                             "max retries exceeded: unexpected EOF")
    assert len(pulls(standin, 2)) == 2


@pytest.mark.parametrize("fault", [
    {"kind": "truncate", "times": 1},
    {"kind": "disconnect", "times": 1},
    {"kind": "http-error", "status": 503, "message": "server busy", "times": 1},
])
def test_interrupted_pulls_are_retried(capsys, tmp_path, sleeps, fault):
    models = harness.default_models()
    models["qwen2.5:0.5b"]["fault"] = fault
    catalogue = harness.write_catalogue(tmp_path / "faulty.json", models)
    with harness.StandIn(tmp_path / "ollama", catalogue=catalogue) as server:
        result = run_module(capsys, server, name="qwen2.5:0.5b")
        assert result["changed"] is True and result["progress"]["attempts"] == 2 and sleeps == [2]
        assert len(pulls(server, 2)) == 2


def test_silent_stream_trips_the_request_timeout(capsys, tmp_path, sleeps):
    with harness.StandIn(tmp_path / "ollama", env={
            "INFERNO_OLLAMA_STANDIN_FAULTS": json.dumps({"qwen2.5:0.5b": {"kind": "stall", "seconds": 1.5, "times": 1}})}) as server:
        result = run_module(capsys, server, name="qwen2.5:0.5b", timeout=1)
        assert result["changed"] is True and result["progress"]["attempts"] == 2
        assert "no progress for longer than the request timeout" in result["progress"]["errors"][0]


def test_unreachable_server_fails_naming_the_host(capsys, sleeps):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = run_module(capsys, None, name="qwen2.5:0.5b", host="127.0.0.1:%d" % port, retries=1)
    assert result["failed"] is True and sleeps == [2]
    assert result["msg"].startswith("cannot reach the Ollama server at http://127.0.0.1:%d (option host):" % port)
    assert result["msg"].endswith("(after 2 attempts)")


def test_invalid_name_fails_before_any_request(capsys, standin):
    result = run_module(capsys, standin, name="llama3.2:")
    assert result["failed"] is True
    assert result["msg"].startswith("name 'llama3.2:' is not a valid Ollama model name")
    assert standin.requests() == []
