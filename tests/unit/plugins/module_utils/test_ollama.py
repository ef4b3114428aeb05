# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

import http.client
import io
import json
import socket
import urllib.error

import pytest

from ansible_collections.inferno.runners.plugins.module_utils.ollama import (
    OllamaClient,
    OllamaError,
    OllamaModel,
    PullProgress,
    PullTimeoutError,
    RetryPolicy,
    is_permanent_error,
    model_key,
    normalise_model_name,
    parse_host,
    read_pull_stream,
    same_model,
)

DIGEST_A = "a" * 64
DIGEST_B = "b" * 64
LAYER = "sha256:" + "c" * 64


def ndjson(*events):
    return b"".join(json.dumps(event).encode() + b"\n" for event in events)


def pull_events(error=None, success=True):
    events = [
        {"status": "pulling manifest"},
        {"status": "pulling cccccccccccc", "digest": LAYER, "total": 300},
        {"status": "pulling cccccccccccc", "digest": LAYER, "total": 300, "completed": 100},
        {"status": "pulling cccccccccccc", "digest": LAYER, "total": 300, "completed": 300},
    ]
    if error:
        events.append({"error": error})
        return events
    events += [{"status": "verifying sha256 digest"}, {"status": "writing manifest"}]
    if success:
        events.append({"status": "success"})
    return events


def tags_entry(name, digest):
    return {"name": name, "model": name, "modified_at": "2026-11-23T10:00:00Z", "size": 300, "digest": digest,
            "details": {"format": "gguf", "family": "llama", "families": ["llama"],
                        "parameter_size": "1.2B", "quantization_level": "Q8_0"}}


class Response(io.BytesIO):
    """An HTTP response as ``read_pull_stream`` uses it; raises ``fail`` once the data runs out."""

    def __init__(self, data=b"", fail=None):
        super().__init__(data)
        self.fail = fail

    def readline(self, *args):
        line = super().readline(*args)
        if not line and self.fail is not None:
            raise self.fail
        return line


# --------------------------------------------------------------------------- names


@pytest.mark.parametrize("given, expected", [
    ("llama3.2", "llama3.2:latest"),
    ("llama3.2:latest", "llama3.2:latest"),
    ("  qwen2.5:0.5b ", "qwen2.5:0.5b"),
    ("llama3.2:3b-instruct-q4_K_M", "llama3.2:3b-instruct-q4_K_M"),
    ("library/llama3.2", "llama3.2:latest"),
    ("registry.ollama.ai/library/llama3.2:1b", "llama3.2:1b"),
    ("registry.ollama.ai/jmorgan/tiny", "jmorgan/tiny:latest"),
    ("hf.co/bartowski/Llama-3.2-1B-Instruct-GGUF:Q4_K_M", "hf.co/bartowski/Llama-3.2-1B-Instruct-GGUF:Q4_K_M"),
    ("localhost:5000/team/model", "localhost:5000/team/model:latest"),
])
def test_normalise_model_name(given, expected):
    assert normalise_model_name(given) == expected


@pytest.mark.parametrize("given", ["", "   ", "llama 3", "llama3.2:", ":latest", "-model", "a/b/", "model@sha256:abc",
                                   "x" * 81])
def test_invalid_model_names_are_rejected(given):
    with pytest.raises(ValueError):
        normalise_model_name(given)


def test_names_compare_like_ollama():
    assert model_key("Llama3.2") == model_key("registry.ollama.ai/library/llama3.2:LATEST")
    assert same_model("nomic-embed-text", "nomic-embed-text:latest")
    assert not same_model("llama3.2:1b", "llama3.2:latest")
    assert not same_model("not a name", "not a name")


@pytest.mark.parametrize("given, expected", [
    ("http://127.0.0.1:11434", "http://127.0.0.1:11434"),
    ("127.0.0.1:11434", "http://127.0.0.1:11434"),
    ("10.8.0.12", "http://10.8.0.12:11434"),
    ("0.0.0.0:8080", "http://0.0.0.0:8080"),
    ("http://ollama.internal", "http://ollama.internal"),
    ("https://ollama.example.com/", "https://ollama.example.com"),
    ("[::1]:11434", "http://[::1]:11434"),
])
def test_parse_host_reads_like_ollama_host(given, expected):
    assert parse_host(given) == expected


@pytest.mark.parametrize("given", ["ftp://host", "http://", "host:99999", "http://host:port"])
def test_parse_host_rejects_unusable_addresses(given):
    with pytest.raises(ValueError):
        parse_host(given)


# --------------------------------------------------------------------------- the pull stream


def test_stream_success_is_condensed():
    progress = read_pull_stream(Response(ndjson(*pull_events())), PullProgress())
    assert progress.succeeded
    summary = progress.as_dict(attempts=1)
    assert summary["statuses"] == ["pulling manifest", "pulling cccccccccccc", "verifying sha256 digest",
                                   "writing manifest", "success"]
    assert summary["layers"] == [{"digest": LAYER, "total": 300, "completed": 300}]
    assert (summary["total"], summary["completed"], summary["attempts"], summary["errors"]) == (300, 300, 1, [])


def test_stream_error_mid_stream_is_raised_with_the_server_text():
    progress = PullProgress()
    with pytest.raises(OllamaError) as caught:
        read_pull_stream(Response(ndjson(*pull_events(error="max retries exceeded: unexpected EOF"))), progress)
    assert str(caught.value) == "max retries exceeded: unexpected EOF"
    assert not caught.value.permanent
    assert progress.as_dict()["completed"] == 300


def test_unknown_model_error_is_permanent():
    stream = ndjson({"status": "pulling manifest"}, {"error": "pull model manifest: file does not exist"})
    with pytest.raises(OllamaError) as caught:
        read_pull_stream(Response(stream), PullProgress())
    assert caught.value.permanent


def test_stream_without_success_line_fails():
    with pytest.raises(OllamaError) as caught:
        read_pull_stream(Response(ndjson(*pull_events(success=False))), PullProgress())
    assert "without a \"success\" status (last status: writing manifest)" in str(caught.value)
    assert not caught.value.permanent


def test_empty_stream_fails():
    with pytest.raises(OllamaError, match="last status: none"):
        read_pull_stream(Response(b""), PullProgress())


def test_line_cut_off_by_a_dropped_connection_is_transient():
    with pytest.raises(OllamaError, match="cut off mid-line") as caught:
        read_pull_stream(Response(ndjson({"status": "pulling manifest"}) + b'{"status": "pulli'), PullProgress())
    assert not caught.value.permanent


def test_answer_that_is_not_ndjson_is_permanent():
    with pytest.raises(OllamaError, match="not Ollama NDJSON") as caught:
        read_pull_stream(Response(b"<html>proxy error</html>\n"), PullProgress())
    assert caught.value.permanent


@pytest.mark.parametrize("failure, message", [
    (socket.timeout("timed out"), "no progress for longer than the request timeout"),
    (http.client.IncompleteRead(b""), "interrupted"),
    (ConnectionResetError(104, "Connection reset by peer"), "interrupted: [Errno 104] Connection reset by peer"),
])
def test_read_failures_are_transient(failure, message):
    with pytest.raises(OllamaError) as caught:
        read_pull_stream(Response(ndjson({"status": "pulling manifest"}), fail=failure), PullProgress())
    assert message in str(caught.value)
    assert not caught.value.permanent


def test_stream_outrunning_the_deadline_stops():
    ticks = iter(range(100))
    with pytest.raises(PullTimeoutError, match="pull_timeout"):
        read_pull_stream(Response(ndjson(*pull_events())), PullProgress(), deadline=2, clock=lambda: next(ticks))


@pytest.mark.parametrize("text, permanent", [
    ("pull model manifest: file does not exist", True),
    ("model 'nope' not found", True),
    ("invalid model name", True),
    ("pull model manifest: 401: unauthorized", True),
    ("pull model manifest: 412: The model you are attempting to pull requires a newer version of Ollama.", True),
    ("max retries exceeded: unexpected EOF", False),
    ("digest mismatch, file must be downloaded again", False),
    ("Get \"https://registry.ollama.ai/v2/library/x/manifests/latest\": dial tcp: i/o timeout", False),
    ("", False),
])
def test_permanent_and_transient_errors_are_told_apart(text, permanent):
    assert is_permanent_error(text) is permanent


def test_retry_policy_backs_off_exponentially_and_is_bounded():
    policy = RetryPolicy(retries=6)
    assert [policy.delay(attempt) for attempt in range(1, 7)] == [2, 4, 8, 16, 30, 30]
    transient, permanent = OllamaError("reset"), OllamaError("gone", permanent=True)
    assert policy.should_retry(transient, 6) and not policy.should_retry(transient, 7)
    assert not policy.should_retry(permanent, 1)


# --------------------------------------------------------------------------- the client


class Opener:
    """Replaces ``open_url``: records calls and answers from a queue."""

    def __init__(self, *answers):
        self.answers = list(answers)
        self.calls = []

    def __call__(self, url, **kwargs):
        self.calls.append(dict(kwargs, url=url, body=json.loads(kwargs["data"]) if kwargs.get("data") else None))
        answer = self.answers.pop(0)
        if isinstance(answer, BaseException):
            raise answer
        return answer


def http_error(code, body):
    return urllib.error.HTTPError("http://x", code, "status", {}, io.BytesIO(body))


def test_client_lists_models_without_proxy_on_loopback():
    opener = Opener(Response(json.dumps({"models": [tags_entry("qwen2.5:0.5b", DIGEST_A)]}).encode()))
    models = OllamaClient("http://127.0.0.1:11434", 5, opener).list_models()
    assert models[0]["digest"] == DIGEST_A
    call = opener.calls[0]
    assert (call["url"], call["method"], call["timeout"], call["use_proxy"]) == (
        "http://127.0.0.1:11434/api/tags", "GET", 5, False)


def test_client_uses_proxy_settings_for_remote_servers():
    opener = Opener(Response(b'{"models": []}'))
    OllamaClient("http://10.8.0.12:11434", 5, opener).list_models()
    assert opener.calls[0]["use_proxy"] is True


def test_client_pull_sends_model_stream_and_insecure():
    opener = Opener(Response(b""))
    OllamaClient("http://127.0.0.1:11434", 5, opener).pull("llama3.2:1b", insecure=True)
    call = opener.calls[0]
    assert call["url"].endswith("/api/pull") and call["method"] == "POST"
    assert call["body"] == {"model": "llama3.2:1b", "name": "llama3.2:1b", "stream": True, "insecure": True}


def test_client_delete_of_a_missing_model_is_not_an_error():
    opener = Opener(http_error(404, b'{"error":"model \'x:latest\' not found"}'))
    assert OllamaClient("http://127.0.0.1:11434", 5, opener).delete("x:latest") is False
    assert opener.calls[0]["method"] == "DELETE" and opener.calls[0]["body"]["model"] == "x:latest"


@pytest.mark.parametrize("failure, permanent, message", [
    (http_error(400, b'{"error":"invalid model name"}'), True, "HTTP 400: invalid model name"),
    (http_error(500, b'{"error":"something broke"}'), False, "HTTP 500: something broke"),
    (http_error(429, b"slow down"), False, "HTTP 429: slow down"),
    (urllib.error.URLError(ConnectionRefusedError(111, "Connection refused")), False,
     "cannot reach the Ollama server at http://127.0.0.1:11434 (option host)"),
    (socket.timeout("timed out"), False, "within 5 seconds (option timeout)"),
])
def test_client_errors_are_classified(failure, permanent, message):
    with pytest.raises(OllamaError) as caught:
        OllamaClient("http://127.0.0.1:11434", 5, Opener(failure)).list_models()
    assert message in str(caught.value)
    assert caught.value.permanent is permanent


# --------------------------------------------------------------------------- the module's work


class Exit(Exception):
    def __init__(self, failed, result):
        super().__init__(result.get("msg"))
        self.failed = failed
        self.result = result


class FakeModule:
    def __init__(self, check_mode=False, diff=False, **params):
        self.params = dict(name="llama3.2:1b", state="present", host="http://127.0.0.1:11434", timeout=60,
                           pull_timeout=3600, retries=3, insecure=False)
        self.params.update(params)
        self.check_mode = check_mode
        self._diff = diff

    def exit_json(self, **result):
        raise Exit(False, result)

    def fail_json(self, **result):
        raise Exit(True, result)


class FakeServer:
    """An Ollama server in memory: ``pulls`` is a list of stream bodies or exceptions, one per pull."""

    def __init__(self, models=None, pulls=(), after_pull=None):
        self.models = list(models or [])
        self.pulls = list(pulls)
        self.after_pull = after_pull
        self.calls = []

    def list_models(self):
        self.calls.append("tags")
        return list(self.models)

    def pull(self, name, insecure=False):
        self.calls.append("pull")
        answer = self.pulls.pop(0)
        if isinstance(answer, BaseException):
            raise answer
        if self.after_pull is not None and answer.endswith(ndjson({"status": "success"})):
            self.models = [model for model in self.models if model["name"] != self.after_pull["name"]]
            self.models.append(self.after_pull)
        return Response(answer)

    def delete(self, name):
        self.calls.append("delete " + name)
        before = len(self.models)
        self.models = [model for model in self.models if model["name"] != name]
        return len(self.models) != before


@pytest.fixture
def sleeps(monkeypatch):
    recorded = []
    monkeypatch.setattr(OllamaModel, "sleep", staticmethod(recorded.append))
    return recorded


def run(server, **kwargs):
    module = FakeModule(**kwargs)
    with pytest.raises(Exit) as caught:
        OllamaModel(module, client=server).run()
    return caught.value


SUCCESS = ndjson(*pull_events())


def test_present_model_is_not_pulled():
    server = FakeServer(models=[tags_entry("llama3.2:1b", DIGEST_A)])
    outcome = run(server)
    assert not outcome.failed and outcome.result["changed"] is False
    assert server.calls == ["tags"]
    assert outcome.result["model"]["digest"] == DIGEST_A
    assert outcome.result["digest_before"] == outcome.result["digest_after"] == DIGEST_A
    assert outcome.result["pulled"] is False and outcome.result["progress"] == {}


def test_present_matches_the_implicit_latest_tag():
    server = FakeServer(models=[tags_entry("nomic-embed-text:latest", DIGEST_A)])
    assert run(server, name="Nomic-Embed-Text").result["changed"] is False
    assert server.calls == ["tags"]


def test_missing_model_is_pulled_once():
    server = FakeServer(pulls=[SUCCESS], after_pull=tags_entry("llama3.2:1b", DIGEST_A))
    outcome = run(server, diff=True)
    result = outcome.result
    assert result["changed"] is True and result["pulled"] is True
    assert server.calls == ["tags", "pull", "tags"]
    assert result["digest_before"] is None and result["digest_after"] == DIGEST_A
    assert result["progress"]["statuses"][-1] == "success" and result["progress"]["attempts"] == 1
    assert result["diff"] == {"before": {}, "after": {"name": "llama3.2:1b", "digest": DIGEST_A}}


def test_check_mode_never_pulls():
    server = FakeServer()
    result = run(server, check_mode=True, diff=True).result
    assert result["changed"] is True and result["pulled"] is False
    assert server.calls == ["tags"]
    assert result["diff"] == {"before": {}, "after": {"name": "llama3.2:1b", "digest": None}}


def test_latest_with_unchanged_digest_is_not_a_change():
    entry = tags_entry("llama3.2:1b", DIGEST_A)
    server = FakeServer(models=[entry], pulls=[SUCCESS], after_pull=entry)
    result = run(server, state="latest").result
    assert server.calls == ["tags", "pull", "tags"]
    assert result["changed"] is False and result["pulled"] is True
    assert result["digest_before"] == result["digest_after"] == DIGEST_A


def test_latest_with_a_new_digest_is_a_change():
    server = FakeServer(models=[tags_entry("llama3.2:1b", DIGEST_A)], pulls=[SUCCESS],
                        after_pull=tags_entry("llama3.2:1b", DIGEST_B))
    result = run(server, state="latest", diff=True).result
    assert result["changed"] is True
    assert (result["digest_before"], result["digest_after"]) == (DIGEST_A, DIGEST_B)
    assert result["diff"]["before"]["digest"] == DIGEST_A and result["diff"]["after"]["digest"] == DIGEST_B


@pytest.mark.parametrize("listed, changed", [(True, False), (False, True)])
def test_latest_in_check_mode_only_reports_a_missing_model(listed, changed):
    server = FakeServer(models=[tags_entry("llama3.2:1b", DIGEST_A)] if listed else [])
    assert run(server, state="latest", check_mode=True).result["changed"] is changed
    assert server.calls == ["tags"]


def test_absent_deletes_the_listed_name():
    server = FakeServer(models=[tags_entry("llama3.2:latest", DIGEST_A)])
    result = run(server, name="llama3.2", state="absent", diff=True).result
    assert result["changed"] is True
    assert server.calls == ["tags", "delete llama3.2:latest"]
    assert result["digest_before"] == DIGEST_A and result["digest_after"] is None and result["model"] == {}
    assert result["diff"] == {"before": {"name": "llama3.2:latest", "digest": DIGEST_A}, "after": {}}


def test_absent_when_missing_or_in_check_mode_deletes_nothing():
    server = FakeServer()
    assert run(server, state="absent").result["changed"] is False
    server = FakeServer(models=[tags_entry("llama3.2:1b", DIGEST_A)])
    assert run(server, state="absent", check_mode=True).result["changed"] is True
    assert server.calls == ["tags"]


def test_absent_losing_a_race_with_another_delete_is_not_a_change():
    server = FakeServer(models=[tags_entry("llama3.2:1b", DIGEST_A)])
    server.delete = lambda name: False
    assert run(server, state="absent").result["changed"] is False


def test_transient_failures_are_retried_with_backoff(sleeps):
    server = FakeServer(pulls=[
        ndjson(*pull_events(error="max retries exceeded: unexpected EOF")),
        OllamaError("cannot reach the Ollama server"),
        SUCCESS,
    ], after_pull=tags_entry("llama3.2:1b", DIGEST_A))
    result = run(server).result
    assert result["changed"] is True and result["pulled"] is True
    assert server.calls.count("pull") == 3 and sleeps == [2, 4]
    assert result["progress"]["attempts"] == 3
    assert result["progress"]["errors"] == ["max retries exceeded: unexpected EOF", "cannot reach the Ollama server"]


def test_permanent_failure_is_not_retried(sleeps):
    server = FakeServer(pulls=[ndjson({"status": "pulling manifest"}, {"error": "pull model manifest: file does not exist"})])
    outcome = run(server, name="nope:1b")
    assert outcome.failed and sleeps == [] and server.calls.count("pull") == 1
    assert outcome.result["msg"] == ("Ollama cannot pull model 'nope:1b': pull model manifest: file does not exist "
                                     "(a permanent error: not retried)")
    assert outcome.result["changed"] is False and outcome.result["pulled"] is False
    assert outcome.result["progress"]["statuses"] == ["pulling manifest"]


def test_retries_are_bounded(sleeps):
    server = FakeServer(pulls=[ndjson(*pull_events(success=False))] * 3)
    outcome = run(server, retries=2)
    assert outcome.failed and server.calls.count("pull") == 3 and sleeps == [2, 4]
    assert outcome.result["msg"].startswith("Pulling model 'llama3.2:1b' failed after 3 attempt(s) (option retries=2):")
    assert len(outcome.result["progress"]["errors"]) == 3


def test_no_retry_when_pull_timeout_leaves_no_room(sleeps, monkeypatch):
    monkeypatch.setattr(OllamaModel, "clock", staticmethod(lambda: 100.0))
    server = FakeServer(pulls=[ndjson(*pull_events(success=False))])
    outcome = run(server, pull_timeout=1)
    assert outcome.failed and sleeps == []
    assert "pull_timeout=1 s leaves no time to retry" in outcome.result["msg"]


def test_pull_outrunning_pull_timeout_fails_without_retry(sleeps, monkeypatch):
    ticks = iter(range(0, 1000, 10))
    monkeypatch.setattr(OllamaModel, "clock", staticmethod(lambda: next(ticks)))
    server = FakeServer(pulls=[SUCCESS])
    outcome = run(server, pull_timeout=15)
    assert outcome.failed and sleeps == [] and server.calls.count("pull") == 1
    assert "did not finish within pull_timeout=15 s" in outcome.result["msg"]


def test_connection_failure_listing_models_is_retried(sleeps):
    server = FakeServer(models=[tags_entry("llama3.2:1b", DIGEST_A)])
    answers = [OllamaError("cannot reach the Ollama server at http://127.0.0.1:11434 (option host): refused")]
    original = server.list_models

    def flaky():
        if answers:
            raise answers.pop()
        return original()

    server.list_models = flaky
    assert run(server).result["changed"] is False and sleeps == [2]


def test_server_that_stays_down_fails_naming_the_host(sleeps):
    def refused():
        raise OllamaError("cannot reach the Ollama server at X (option host)")

    server = FakeServer()
    server.list_models = refused
    outcome = run(server, retries=1)
    assert outcome.failed and outcome.result["msg"] == "cannot reach the Ollama server at X (option host) (after 2 attempts)"


def test_success_not_listed_afterwards_fails():
    server = FakeServer(pulls=[SUCCESS])
    outcome = run(server)
    assert outcome.failed and "reported success but /api/tags does not list it" in outcome.result["msg"]


@pytest.mark.parametrize("params, message", [
    (dict(name="llama 3"), "name 'llama 3' is not a valid Ollama model name"),
    (dict(host="ftp://x"), "host 'ftp://x' is not a usable Ollama address"),
    (dict(timeout=0), "timeout must be at least 1"),
    (dict(pull_timeout=0), "pull_timeout must be at least 1"),
    (dict(retries=-1), "retries must be at least 0"),
])
def test_bad_options_fail_naming_the_option(params, message):
    with pytest.raises(Exit) as caught:
        OllamaModel(FakeModule(**params), client=FakeServer())
    assert caught.value.failed and caught.value.result["msg"].startswith(message)
