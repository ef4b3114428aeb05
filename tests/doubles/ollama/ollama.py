# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Stand-in for the ``ollama`` binary, for tests that cannot download the real one.

Run it as ``python3 ollama.py serve``; build-archive.sh ships it as ``bin/ollama`` with a
``#!/usr/bin/env python3`` shebang in upstream's release layout.

Upstream contract honoured (ollama/ollama: cmd/cmd.go, server/routes.go, envconfig/config.go,
types/model/name.go, server/images.go):

* ``ollama serve`` reads ``OLLAMA_HOST`` (default ``127.0.0.1:11434``, same parsing as upstream) and
  ``OLLAMA_MODELS`` (default ``~/.ollama/models``) and logs its configuration to stderr;
* ``ollama -v`` / ``--version`` prints ``ollama version is X`` (plus upstream's warnings when no
  server answers); ``ollama list``, ``ollama pull``, ``ollama rm``, ``ollama ps`` talk to the server
  at ``OLLAMA_HOST`` like the upstream client;
* HTTP API: ``GET|HEAD /``, ``GET /api/version``, ``GET /api/tags``, ``POST /api/show``,
  ``POST /api/pull`` (NDJSON stream, errors in-band as ``{"error": ...}``), ``DELETE /api/delete``,
  ``GET /api/ps``, with upstream field names;
* pulled models persist under ``OLLAMA_MODELS`` in upstream's layout: JSON manifests under
  ``manifests/<host>/<namespace>/<model>/<tag>`` and ``blobs/sha256-<hex>`` whose content really
  hashes to the digest the manifest names.

What exists "in the registry" comes from a JSON catalogue (see ``catalogue.json``); faults for tests
are declared there or in ``INFERNO_OLLAMA_STANDIN_FAULTS``. Every request is logged as one JSON line.
Standard library only: it runs on Debian 12's python3 inside test containers.
"""

import datetime
import hashlib
import http.client
import http.server
import json
import os
import re
import signal
import socket
import socketserver
import struct
import sys
import threading
import time
import urllib.parse

# build-archive.sh rewrites these two lines when it stamps a release.
STANDIN_VERSION = "0.12.6"
STANDIN_ARCH = "source"

DEFAULT_REGISTRY = "registry.ollama.ai"
DEFAULT_NAMESPACE = "library"
DEFAULT_TAG = "latest"

MEDIA_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
MEDIA_CONFIG = "application/vnd.docker.container.image.v1+json"
MEDIA_MODEL = "application/vnd.ollama.image.model"
MEDIA_TEMPLATE = "application/vnd.ollama.image.template"
MEDIA_LICENSE = "application/vnd.ollama.image.license"
MEDIA_PARAMS = "application/vnd.ollama.image.params"

ERR_INVALID_NAME = "invalid model name"
ERR_NO_MANIFEST = "pull model manifest: file does not exist"

# The environment upstream prints in its "server config" line (envconfig.AsMap), with the defaults
# it reports when a variable is unset.
SERVER_CONFIG_DEFAULTS = {
    "CUDA_VISIBLE_DEVICES": "",
    "GPU_DEVICE_ORDINAL": "",
    "HIP_VISIBLE_DEVICES": "",
    "HSA_OVERRIDE_GFX_VERSION": "",
    "HTTPS_PROXY": "",
    "HTTP_PROXY": "",
    "NO_PROXY": "",
    "OLLAMA_CONTEXT_LENGTH": "4096",
    "OLLAMA_DEBUG": "INFO",
    "OLLAMA_FLASH_ATTENTION": "false",
    "OLLAMA_GPU_OVERHEAD": "0",
    "OLLAMA_HOST": "",
    "OLLAMA_KEEP_ALIVE": "5m0s",
    "OLLAMA_KV_CACHE_TYPE": "",
    "OLLAMA_LLM_LIBRARY": "",
    "OLLAMA_LOAD_TIMEOUT": "5m0s",
    "OLLAMA_MAX_LOADED_MODELS": "0",
    "OLLAMA_MAX_QUEUE": "512",
    "OLLAMA_MODELS": "",
    "OLLAMA_MULTIUSER_CACHE": "false",
    "OLLAMA_NOHISTORY": "false",
    "OLLAMA_NOPRUNE": "false",
    "OLLAMA_NUM_PARALLEL": "1",
    "OLLAMA_ORIGINS": "",
    "OLLAMA_SCHED_SPREAD": "false",
    "ROCR_VISIBLE_DEVICES": "",
}

_NAME_PART_RES = {
    "host": re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,349}$"),
    "namespace": re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,79}$"),
    "model": re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,79}$"),
    "tag": re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,79}$"),
}

CHUNK_BYTES = 64 * 1024


# --------------------------------------------------------------------------- names and config


class ModelName:
    """An Ollama model reference, completed with upstream's defaults (types/model/name.go)."""

    def __init__(self, host, namespace, model, tag):
        self.host = host
        self.namespace = namespace
        self.model = model
        self.tag = tag

    @classmethod
    def parse(cls, text):
        """Return the completed name, or None when upstream would call it invalid."""
        text = (text or "").strip()
        if not text:
            return None
        tag = DEFAULT_TAG
        colon, slash = text.rfind(":"), text.rfind("/")
        if colon > slash:
            text, tag = text[:colon], text[colon + 1:]
        parts = text.split("/")
        if len(parts) == 1:
            host, namespace, model = DEFAULT_REGISTRY, DEFAULT_NAMESPACE, parts[0]
        elif len(parts) == 2:
            host, (namespace, model) = DEFAULT_REGISTRY, parts
        else:
            host, namespace, model = "/".join(parts[:-2]), parts[-2], parts[-1]
        name = cls(host, namespace, model, tag)
        for part in ("host", "namespace", "model", "tag"):
            if not _NAME_PART_RES[part].match(getattr(name, part)):
                return None
        return name

    @property
    def display(self):
        if self.host == DEFAULT_REGISTRY and self.namespace == DEFAULT_NAMESPACE:
            return "%s:%s" % (self.model, self.tag)
        if self.host == DEFAULT_REGISTRY:
            return "%s/%s:%s" % (self.namespace, self.model, self.tag)
        return "%s/%s/%s:%s" % (self.host, self.namespace, self.model, self.tag)

    @property
    def key(self):
        # Upstream matches names case-insensitively.
        return "%s/%s/%s:%s" % (self.host, self.namespace, self.model, self.tag)

    @property
    def manifest_parts(self):
        return (self.host, self.namespace, self.model, self.tag)

    def __eq__(self, other):
        return isinstance(other, ModelName) and self.key.lower() == other.key.lower()

    def __hash__(self):
        return hash(self.key.lower())


def parse_ollama_host(value):
    """Return (scheme, host, port) like upstream envconfig.Host()."""
    value = (value or "").strip()
    default_port = 11434
    scheme, sep, hostport = value.partition("://")
    if not sep:
        scheme, hostport = "http", value
    elif scheme == "http":
        default_port = 80
    elif scheme == "https":
        default_port = 443
    hostport = hostport.split("/", 1)[0]
    host, port = None, None
    match = re.match(r"^\[(?P<v6>[^\]]*)\]:(?P<port>[^:]*)$|^(?P<h>[^:]*):(?P<p>[^:]*)$", hostport)
    if match:
        host = match.group("v6") if match.group("v6") is not None else match.group("h")
        port = match.group("port") if match.group("port") is not None else match.group("p")
    else:
        host, port = "127.0.0.1", str(default_port)
        if hostport:
            host = hostport.strip("[]")
    try:
        port_number = int(port)
    except ValueError:
        return scheme, "127.0.0.1", default_port
    if not 0 <= port_number <= 65535:
        return scheme, "127.0.0.1", default_port
    return scheme, host, port_number


def format_hostport(host, port):
    return "[%s]:%d" % (host, port) if ":" in host else "%s:%d" % (host, port)


def models_dir():
    configured = os.environ.get("OLLAMA_MODELS", "").strip()
    if configured:
        return os.path.abspath(configured)
    return os.path.join(os.path.expanduser("~"), ".ollama", "models")


def request_log_path(models):
    return os.environ.get("INFERNO_OLLAMA_STANDIN_LOG") or os.path.join(
        os.path.dirname(models.rstrip("/")), "standin-requests.log")


def catalogue_path():
    configured = os.environ.get("INFERNO_OLLAMA_STANDIN_CATALOGUE")
    if configured:
        return configured
    here = os.path.dirname(os.path.realpath(__file__))
    # Source tree first, then the release layout made by build-archive.sh (bin/ + lib/ollama/).
    for candidate in (os.path.join(here, "catalogue.json"),
                      os.path.join(here, os.pardir, "lib", "ollama", "standin-catalogue.json")):
        if os.path.exists(candidate):
            return os.path.normpath(candidate)
    return os.path.join(here, "catalogue.json")


def version():
    return os.environ.get("INFERNO_OLLAMA_STANDIN_VERSION") or STANDIN_VERSION


def now_rfc3339(timestamp=None):
    moment = datetime.datetime.fromtimestamp(time.time() if timestamp is None else timestamp)
    return moment.astimezone().isoformat()


def log(level, msg, **fields):
    """Write one slog-style line to stderr, as the upstream server does."""
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    extra = "".join(" %s=%s" % (key, _slog_value(value)) for key, value in fields.items())
    sys.stderr.write("time=%s level=%s source=standin msg=%s%s\n" % (stamp, level, _slog_value(msg), extra))
    sys.stderr.flush()


def _slog_value(value):
    text = str(value)
    if text and re.match(r"^[A-Za-z0-9_./:@+-]+$", text):
        return text
    return json.dumps(text)


# --------------------------------------------------------------------------- the registry


class Catalogue:
    """The models the fake registry serves; re-read whenever the file changes so tests can
    publish a new revision of a tag without restarting the server."""

    def __init__(self, path):
        self.path = path
        self._mtime = None
        self._entries = {}
        self._lock = threading.Lock()

    def entries(self):
        with self._lock:
            try:
                stat = os.stat(self.path)
            except OSError:
                return {}
            mtime = (stat.st_mtime_ns, stat.st_size)
            if mtime != self._mtime:
                with open(self.path, encoding="utf-8") as handle:
                    raw = json.load(handle)
                entries = {}
                for display, spec in raw.get("models", {}).items():
                    name = ModelName.parse(display)
                    if name is None:
                        raise ValueError("catalogue %s: invalid model name %r" % (self.path, display))
                    entries[name] = dict(spec, name=name)
                self._entries, self._mtime = entries, mtime
            return self._entries

    def lookup(self, name):
        return self.entries().get(name)


def _pseudo_random(seed, length):
    out = bytearray()
    counter = 0
    while len(out) < length:
        out += hashlib.sha256(b"%s/%d" % (seed, counter)).digest()
        counter += 1
    return bytes(out[:length])


def build_image(entry):
    """Return (manifest_bytes, {digest: blob_bytes}, blobs_to_pull) for a catalogue entry.

    Content is derived from the entry's seed and revision only, so a tag always has the same
    digest until the catalogue bumps its revision, and tags sharing a seed share their blobs like
    upstream aliases (llama3.2:latest and llama3.2:3b) do.
    """
    name = entry["name"]
    seed = ("%s#%s" % (entry.get("seed", name.display), entry.get("revision", 0))).encode()
    family = entry.get("family", "llama")
    model_bytes = int(entry.get("model_bytes", 3 * CHUNK_BYTES))
    # A GGUF header (magic, version 3, tensor and metadata counts) so `file`-style checks see a model.
    gguf = b"GGUF" + struct.pack("<IQQ", 3, 0, 0)
    layer_contents = [(MEDIA_MODEL, gguf + _pseudo_random(seed, max(model_bytes - len(gguf), 0)))]
    if entry.get("template"):
        layer_contents.append((MEDIA_TEMPLATE, entry["template"].encode()))
    if entry.get("license"):
        layer_contents.append((MEDIA_LICENSE, entry["license"].encode()))
    if entry.get("params"):
        layer_contents.append((MEDIA_PARAMS, json.dumps(entry["params"], sort_keys=True).encode()))
    blobs = {}
    layers = []
    for media_type, content in layer_contents:
        digest = "sha256:" + hashlib.sha256(content).hexdigest()
        blobs[digest] = content
        layers.append({"mediaType": media_type, "digest": digest, "size": len(content)})
    config = json.dumps({
        "model_format": entry.get("format", "gguf"),
        "model_family": family,
        "model_families": entry.get("families", [family]),
        "model_type": entry.get("parameter_size", ""),
        "file_type": entry.get("quantization_level", ""),
        "architecture": "amd64",
        "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": [layer["digest"] for layer in layers]},
    }, sort_keys=True).encode()
    config_digest = "sha256:" + hashlib.sha256(config).hexdigest()
    blobs[config_digest] = config
    manifest = json.dumps({
        "schemaVersion": 2,
        "mediaType": MEDIA_MANIFEST,
        "config": {"mediaType": MEDIA_CONFIG, "digest": config_digest, "size": len(config)},
        "layers": layers,
    }).encode()
    # Upstream downloads the layers, then the config blob, each with its own progress lines.
    return manifest, blobs, layers + [{"mediaType": MEDIA_CONFIG, "digest": config_digest, "size": len(config)}]


# --------------------------------------------------------------------------- the model store


class Store:
    """Models on disk under OLLAMA_MODELS, in upstream's layout."""

    def __init__(self, root):
        self.root = root
        self.blobs = os.path.join(root, "blobs")
        self.manifests = os.path.join(root, "manifests")
        self.lock = threading.RLock()

    def ensure(self):
        for path in (self.blobs, self.manifests):
            os.makedirs(path, mode=0o755, exist_ok=True)

    def blob_path(self, digest):
        return os.path.join(self.blobs, digest.replace(":", "-"))

    def manifest_path(self, name):
        return os.path.join(self.manifests, *name.manifest_parts)

    def has_blob(self, digest):
        return os.path.isfile(self.blob_path(digest))

    def write_atomic(self, path, content):
        os.makedirs(os.path.dirname(path), mode=0o755, exist_ok=True)
        partial = path + "-partial"
        with open(partial, "wb") as handle:
            handle.write(content)
        os.replace(partial, path)

    def installed(self):
        """Return {ModelName: manifest_path} for every manifest on disk."""
        found = {}
        for directory, _subdirs, files in os.walk(self.manifests):
            for tag in files:
                path = os.path.join(directory, tag)
                parts = os.path.relpath(path, self.manifests).split(os.sep)
                if len(parts) < 4:
                    continue
                name = ModelName.parse("%s/%s/%s:%s" % ("/".join(parts[:-3]), parts[-3], parts[-2], parts[-1]))
                if name is not None:
                    found[name] = path
        return found

    def find(self, name):
        for installed, path in self.installed().items():
            if installed == name:
                return installed, path
        return None, None

    def describe(self, name, path):
        with open(path, "rb") as handle:
            raw = handle.read()
        manifest = json.loads(raw)
        with open(self.blob_path(manifest["config"]["digest"]), "rb") as handle:
            config = json.loads(handle.read())
        size = manifest["config"]["size"] + sum(layer["size"] for layer in manifest["layers"])
        return {
            "name": name.display,
            "model": name.display,
            "modified_at": now_rfc3339(os.stat(path).st_mtime),
            "size": size,
            "digest": hashlib.sha256(raw).hexdigest(),
            "details": {
                "parent_model": "",
                "format": config.get("model_format", "gguf"),
                "family": config.get("model_family", ""),
                "families": config.get("model_families"),
                "parameter_size": config.get("model_type", ""),
                "quantization_level": config.get("file_type", ""),
            },
        }, manifest

    def read_layer(self, manifest, media_type):
        for layer in manifest["layers"]:
            if layer["mediaType"] == media_type:
                with open(self.blob_path(layer["digest"]), "rb") as handle:
                    return handle.read().decode("utf-8", "replace")
        return ""

    def delete(self, name):
        path = self.manifest_path(name)
        os.unlink(path)
        # Upstream removes the now empty directories of the manifest path.
        directory = os.path.dirname(path)
        while directory != self.manifests:
            try:
                os.rmdir(directory)
            except OSError:
                break
            directory = os.path.dirname(directory)

    def prune(self):
        """Remove blobs no manifest references (and leftovers of interrupted pulls)."""
        referenced = set()
        for path in self.installed().values():
            try:
                with open(path, "rb") as handle:
                    manifest = json.loads(handle.read())
            except (OSError, ValueError):
                continue
            referenced.add(manifest["config"]["digest"].replace(":", "-"))
            referenced.update(layer["digest"].replace(":", "-") for layer in manifest["layers"])
        removed = 0
        for blob in os.listdir(self.blobs):
            if blob not in referenced:
                os.unlink(os.path.join(self.blobs, blob))
                removed += 1
        return removed


# --------------------------------------------------------------------------- the server


class Faults:
    """Failures a test asks for, per model, counted per server process."""

    def __init__(self):
        self._used = {}
        self._lock = threading.Lock()
        try:
            raw = json.loads(os.environ.get("INFERNO_OLLAMA_STANDIN_FAULTS") or "{}")
        except ValueError as exc:
            raise SystemExit("Error: INFERNO_OLLAMA_STANDIN_FAULTS is not JSON: %s" % exc)
        self._env = {}
        for display, fault in raw.items():
            name = ModelName.parse(display)
            if name is None:
                raise SystemExit("Error: INFERNO_OLLAMA_STANDIN_FAULTS names an invalid model %r" % display)
            self._env[name] = fault

    def take(self, name, entry):
        """Return the fault to apply to this pull of `name`, or None."""
        fault = self._env.get(name) or (entry or {}).get("fault")
        if not fault:
            return None
        with self._lock:
            used = self._used.get(name, 0)
            times = fault.get("times")
            if times is not None and used >= int(times):
                return None
            self._used[name] = used + 1
        return fault


class Abort(Exception):
    """Drop the connection without finishing the response, like a crashed server."""


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "ollama-standin/" + STANDIN_VERSION
    sys_version = ""

    def log_message(self, format, *args):  # pylint: disable=redefined-builtin
        """The gin access line replaces http.server's own log."""

    # -- plumbing

    def _body(self):
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if not raw.strip():
            return {}
        try:
            body = json.loads(raw)
        except ValueError:
            return None
        return body if isinstance(body, dict) else None

    def _send(self, status, body=None, content_type="application/json; charset=utf-8"):
        if body is None:
            payload = b""
        elif isinstance(body, (bytes, str)):
            payload = body.encode() if isinstance(body, str) else body
        else:
            payload = json.dumps(body).encode()
        self.send_response(status)
        if body is not None:
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)
        self._status = status

    def _start_stream(self):
        self.send_response(200)
        self.send_header("Content-Type", "application/x-ndjson")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self._status = 200

    def _stream(self, obj):
        data = json.dumps(obj).encode() + b"\n"
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def _end_stream(self):
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def _dispatch(self):
        self._status = 0
        self._model = None
        started = time.time()
        path = urllib.parse.urlsplit(self.path).path
        try:
            route = {
                ("GET", "/"): self.root, ("HEAD", "/"): self.root,
                ("GET", "/api/version"): self.api_version, ("HEAD", "/api/version"): self.api_version,
                ("GET", "/api/tags"): self.api_tags, ("HEAD", "/api/tags"): self.api_tags,
                ("GET", "/api/ps"): self.api_ps,
                ("POST", "/api/show"): self.api_show,
                ("POST", "/api/pull"): self.api_pull,
                ("DELETE", "/api/delete"): self.api_delete,
            }.get((self.command, path))
            if route is None:
                self._send(404, "404 page not found", "text/plain")
            else:
                route()
        except Abort:
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        finally:
            self.server.record(self, path, started)

    do_GET = do_HEAD = do_POST = do_DELETE = do_PUT = _dispatch

    def _model_name(self, body):
        """Return the ModelName named by a request body (`model`, or the older `name`)."""
        if body is None:
            self._send(400, {"error": "invalid request body"})
            return None
        text = body.get("model") or body.get("name") or ""
        self._model = text or None
        if not text:
            self._send(400, {"error": "model is required"})
            return None
        name = ModelName.parse(text)
        if name is None:
            self._send(400, {"error": ERR_INVALID_NAME})
        return name

    # -- routes

    def root(self):
        self._send(200, "Ollama is running", "text/plain; charset=utf-8")

    def api_version(self):
        self._send(200, {"version": version()})

    def api_ps(self):
        self._send(200, {"models": []})

    def api_tags(self):
        store = self.server.store
        models = []
        with store.lock:
            for name, path in store.installed().items():
                try:
                    models.append(store.describe(name, path)[0])
                except (OSError, ValueError, KeyError):
                    continue  # upstream skips manifests it cannot read
        models.sort(key=lambda model: model["modified_at"], reverse=True)
        self._send(200, {"models": models})

    def api_show(self):
        name = self._model_name(self._body())
        if name is None:
            return
        store = self.server.store
        with store.lock:
            installed, path = store.find(name)
            if installed is None:
                self._send(404, {"error": "model '%s' not found" % name.display})
                return
            listed, manifest = store.describe(installed, path)
            template = store.read_layer(manifest, MEDIA_TEMPLATE)
            license_text = store.read_layer(manifest, MEDIA_LICENSE)
            params = store.read_layer(manifest, MEDIA_PARAMS)
        entry = self.server.catalogue.lookup(installed) or {}
        parameters = []
        for key, values in sorted(json.loads(params or "{}").items()):
            for value in values if isinstance(values, list) else [values]:
                parameters.append("%-30s %s" % (key, json.dumps(value) if isinstance(value, str) else value))
        family = listed["details"]["family"]
        self._send(200, {
            "license": license_text,
            "modelfile": "# Modelfile generated by \"ollama show\"\nFROM %s\n" % store.blob_path(manifest["layers"][0]["digest"]),
            "parameters": "\n".join(parameters),
            "template": template,
            "details": listed["details"],
            "model_info": {
                "general.architecture": family,
                "general.parameter_count": entry.get("parameter_count", 0),
                "%s.context_length" % family: entry.get("context_length", 4096),
            },
            "capabilities": entry.get("capabilities", ["completion"]),
            "modified_at": listed["modified_at"],
        })

    def api_delete(self):
        name = self._model_name(self._body())
        if name is None:
            return
        store = self.server.store
        with store.lock:
            installed, _path = store.find(name)
            if installed is None:
                self._send(404, {"error": "model '%s' not found" % name.display})
                return
            store.delete(installed)
            if not self.server.noprune:
                store.prune()
        self._send(200)

    def api_pull(self):
        body = self._body()
        name = self._model_name(body)
        if name is None:
            return
        stream = body.get("stream", True) is not False
        try:
            entry = self.server.catalogue.lookup(name)
        except (OSError, ValueError) as exc:
            self._send(500, {"error": "stand-in catalogue: %s" % exc})
            return
        fault = self.server.faults.take(name, entry)
        if fault and fault.get("kind") == "http-error":
            self._send(int(fault.get("status", 500)), {"error": fault.get("message", "internal error")})
            return
        if stream:
            self._start_stream()
            emit = self._stream
        else:
            emit = [].append
        outcome = self._pull(name, entry, fault, emit)
        if stream:
            self._end_stream()
        elif outcome:
            self._send(500, {"error": outcome})
        else:
            self._send(200, {"status": "success"})

    def _pull(self, name, entry, fault, emit):
        """Run one pull, emitting upstream's progress objects; return the error text or None."""
        delay = self.server.delay
        emit({"status": "pulling manifest"})
        time.sleep(delay)
        if entry is None:
            emit({"error": ERR_NO_MANIFEST})
            return ERR_NO_MANIFEST
        manifest, blobs, layers = build_image(entry)
        store = self.server.store
        kind = (fault or {}).get("kind")
        for index, layer in enumerate(layers):
            digest, total = layer["digest"], layer["size"]
            status = "pulling %s" % digest[7:19]
            if store.has_blob(digest):
                emit({"status": status, "digest": digest, "total": total, "completed": total})
                time.sleep(delay)
                continue
            emit({"status": status, "digest": digest, "total": total})
            completed = 0
            while completed < total:
                completed = min(total, completed + CHUNK_BYTES)
                emit({"status": status, "digest": digest, "total": total, "completed": completed})
                time.sleep(delay)
                # Faults strike after the first progress line of the model blob, before it is stored.
                if index == 0 and kind == "stream-error":
                    message = fault.get("message", "max retries exceeded: unexpected EOF")
                    emit({"error": message})
                    return message
                if index == 0 and kind == "truncate":
                    return "stream ended early"
                if index == 0 and kind == "disconnect":
                    raise Abort()
                if index == 0 and kind == "stall":
                    time.sleep(float(fault.get("seconds", 5)))
                    kind = None
            with store.lock:
                store.write_atomic(store.blob_path(digest), blobs[digest])
        emit({"status": "verifying sha256 digest"})
        time.sleep(delay)
        with store.lock:
            for digest, content in blobs.items():
                if not store.has_blob(digest):
                    store.write_atomic(store.blob_path(digest), content)
            emit({"status": "writing manifest"})
            store.write_atomic(store.manifest_path(entry["name"]), manifest)
            if not self.server.noprune:
                store.prune()
        time.sleep(delay)
        emit({"status": "success"})
        return None


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address, family, store, catalogue, faults, log_path):
        self.address_family = family
        self.store = store
        self.catalogue = catalogue
        self.faults = faults
        self.log_path = log_path
        self.log_lock = threading.Lock()
        self.delay = float(os.environ.get("INFERNO_OLLAMA_STANDIN_DELAY", "0.01"))
        self.noprune = _truthy(os.environ.get("OLLAMA_NOPRUNE"))
        super().__init__(address, Handler)

    def record(self, handler, path, started):
        elapsed = time.time() - started
        entry = {
            "time": datetime.datetime.fromtimestamp(started, datetime.timezone.utc).isoformat(),
            "method": handler.command,
            "path": path,
            "status": handler._status,
            "model": handler._model,
            "remote": handler.client_address[0],
            "duration_ms": round(elapsed * 1000, 1),
        }
        with self.log_lock:
            with open(self.log_path, "a", encoding="utf-8") as handle:
                handle.write(json.dumps(entry) + "\n")
            sys.stderr.write('[GIN] %s | %3d | %12s | %15s | %-7s "%s"\n' % (
                time.strftime("%Y/%m/%d - %H:%M:%S"), handler._status, "%.3fms" % (elapsed * 1000),
                handler.client_address[0], handler.command, path))
            sys.stderr.flush()


def _truthy(value):
    return (value or "").strip().lower() in ("1", "true", "yes", "on")


def serve():
    scheme, host, port = parse_ollama_host(os.environ.get("OLLAMA_HOST"))
    models = models_dir()
    config = dict(SERVER_CONFIG_DEFAULTS)
    received = {key: value for key, value in os.environ.items()
                if key.startswith("OLLAMA_") or key in SERVER_CONFIG_DEFAULTS}
    config.update(received)
    config["OLLAMA_HOST"] = "%s://%s" % (scheme, format_hostport(host, port))
    config["OLLAMA_MODELS"] = models
    log("INFO", "server config", env="map[%s]" % " ".join("%s:%s" % item for item in sorted(config.items())))

    store = Store(models)
    try:
        store.ensure()
    except OSError as exc:
        sys.stderr.write("Error: mkdir %s: %s\n" % (exc.filename or models, exc.strerror))
        return 1
    log_path = request_log_path(models)
    try:
        with open(log_path, "a", encoding="utf-8"):
            pass
    except OSError as exc:
        # Fail loudly: a test counting requests in a log that is never written would pass wrongly.
        sys.stderr.write("Error: stand-in request log %s: %s (set INFERNO_OLLAMA_STANDIN_LOG)\n" % (log_path, exc.strerror))
        return 1
    log("INFO", "total blobs: %d" % len(os.listdir(store.blobs)))
    if not _truthy(os.environ.get("OLLAMA_NOPRUNE")):
        log("INFO", "total unused blobs removed: %d" % store.prune())

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        server = Server((host, port), family, store, Catalogue(catalogue_path()), Faults(), log_path)
    except OSError as exc:
        sys.stderr.write("Error: listen tcp %s: bind: %s\n" % (format_hostport(host, port), exc.strerror))
        return 1
    bound_host, bound_port = server.server_address[:2]
    listening = format_hostport(bound_host, bound_port)
    state = {
        "pid": os.getpid(),
        "version": version(),
        "arch": STANDIN_ARCH,
        "listen": listening,
        "models": models,
        "uid": os.getuid(),
        "gid": os.getgid(),
        "catalogue": server.catalogue.path,
        "request_log": log_path,
        "env": received,
        "started_at": now_rfc3339(),
    }
    try:
        with open(os.path.join(os.path.dirname(log_path), "standin-server.json"), "w", encoding="utf-8") as handle:
            json.dump(state, handle, indent=2, sort_keys=True)
    except OSError as exc:
        log("WARN", "cannot write standin-server.json", error=exc)
    log("INFO", "Listening on %s (version %s)" % (listening, version()))
    log("INFO", "inference compute", id="cpu", library="cpu", variant="standin-" + STANDIN_ARCH)

    def stop(signum, _frame):
        log("INFO", "received %s, shutting down" % signal.Signals(signum).name)
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    server.serve_forever(poll_interval=0.1)
    server.server_close()
    return 0


# --------------------------------------------------------------------------- the client


class ClientError(Exception):
    pass


def _client_request(method, path, body=None, timeout=30):
    scheme, host, port = parse_ollama_host(os.environ.get("OLLAMA_HOST"))
    if host in ("", "0.0.0.0", "::"):
        host = "127.0.0.1" if host != "::" else "::1"
    connection_class = http.client.HTTPSConnection if scheme == "https" else http.client.HTTPConnection
    connection = connection_class(host, port, timeout=timeout)
    payload = json.dumps(body).encode() if body is not None else None
    try:
        connection.request(method, path, body=payload, headers={"Content-Type": "application/json"})
        return connection.getresponse()
    except OSError:
        raise ClientError("could not connect to ollama app, is it running?")


def _client_json(method, path, body=None):
    response = _client_request(method, path, body)
    raw = response.read()
    data = json.loads(raw) if raw.strip() else {}
    if response.status >= 400:
        raise ClientError(data.get("error") or "%d %s" % (response.status, response.reason))
    return data


def human_bytes(size):
    for unit, scale in (("GB", 1000 ** 3), ("MB", 1000 ** 2), ("KB", 1000)):
        if size >= scale:
            value = size / float(scale)
            return ("%.1f %s" if value < 10 else "%d %s") % (value, unit)
    return "%d B" % size


def human_since(moment):
    seconds = max(0, time.time() - datetime.datetime.fromisoformat(moment).timestamp())
    if seconds < 1:
        return "Less than a second ago"
    for unit, scale in (("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1)):
        if seconds >= scale:
            count = int(seconds // scale)
            if count == 1:
                return "About a %s ago" % unit if unit != "hour" else "About an hour ago"
            return "%d %ss ago" % (count, unit)
    return "Less than a second ago"


def cmd_version():
    try:
        server_version = _client_json("GET", "/api/version").get("version", "")
    except (ClientError, ValueError):
        server_version = ""
        print("Warning: could not connect to a running Ollama instance")
    if server_version:
        print("ollama version is %s" % server_version)
    if server_version != version():
        print("Warning: client version is %s" % version())
    return 0


def cmd_list():
    models = _client_json("GET", "/api/tags").get("models", [])
    rows = [("NAME", "ID", "SIZE", "MODIFIED")]
    for model in models:
        rows.append((model["name"], model["digest"][:12], human_bytes(model["size"]), human_since(model["modified_at"])))
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    for row in rows:
        print("    ".join(cell.ljust(widths[i]) for i, cell in enumerate(row[:3])) + "    " + row[3])
    return 0


def cmd_ps():
    _client_json("GET", "/api/ps")
    print("NAME    ID    SIZE    PROCESSOR    CONTEXT    UNTIL")
    return 0


def cmd_pull(names):
    if len(names) != 1:
        raise ClientError('accepts 1 arg(s), received %d' % len(names))
    response = _client_request("POST", "/api/pull", {"model": names[0], "stream": True}, timeout=300)
    if response.status >= 400:
        raw = response.read()
        raise ClientError((json.loads(raw) if raw.strip() else {}).get("error") or response.reason)
    last = None
    success = False
    while True:
        line = response.readline()
        if not line:
            break
        if not line.strip():
            continue
        event = json.loads(line)
        if "error" in event:
            raise ClientError(event["error"])
        status = event.get("status", "")
        # Upstream draws its progress bars on stderr; stdout stays empty.
        if event.get("digest") and event.get("completed") == event.get("total"):
            sys.stderr.write("%s: 100%% %s\n" % (status, human_bytes(event.get("total", 0))))
        elif not event.get("digest") and status != last:
            sys.stderr.write(status + "\n")
        success = success or status == "success"
        last = status
    if not success:
        raise ClientError("unexpected end of response")
    return 0


def cmd_rm(names):
    if not names:
        raise ClientError("requires at least 1 arg(s), only received 0")
    for name in names:
        _client_json("DELETE", "/api/delete", {"model": name})
        print("deleted '%s'" % name)
    return 0


USAGE = """Large language model runner (inferno.runners stand-in)

Usage:
  ollama [flags]
  ollama [command]

Available Commands:
  serve       Start ollama
  pull        Pull a model from a registry
  list        List models
  ps          List running models
  rm          Remove a model

Flags:
  -h, --help      help for ollama
  -v, --version   Show version information
"""


def main(argv):
    if not argv or argv[0] in ("-h", "--help", "help"):
        sys.stdout.write(USAGE)
        return 0
    command, args = argv[0], argv[1:]
    try:
        if command in ("-v", "--version", "version"):
            return cmd_version()
        if command in ("serve", "start"):
            return serve()
        if command in ("list", "ls"):
            return cmd_list()
        if command == "ps":
            return cmd_ps()
        if command == "pull":
            return cmd_pull(args)
        if command in ("rm", "delete"):
            return cmd_rm(args)
    except ClientError as exc:
        sys.stderr.write("Error: %s\n" % exc)
        return 1
    sys.stderr.write('Error: unknown command "%s" for "ollama"\n' % command)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
