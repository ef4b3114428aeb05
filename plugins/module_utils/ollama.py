# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Ollama models through the server's HTTP API (``/api/tags``, ``/api/pull``, ``/api/delete``).

Used by the ``inferno.runners.ollama_model`` module. Names starting with ``_`` are private to this
collection and may change in any release; ``ARGUMENT_SPEC``, the name helpers, ``PullProgress``,
``read_pull_stream``, ``RetryPolicy``, ``OllamaClient`` and ``OllamaModel`` are the supported surface.

This file runs on the managed host: it must stay compatible with Python 3.8 and the standard library.
"""
from __future__ import annotations

import http.client
import json
import re
import socket
import time
import urllib.error
from urllib.parse import urlsplit

from ansible.module_utils.common.text.converters import to_native, to_text
from ansible.module_utils.urls import ConnectionError as UrlsConnectionError
from ansible.module_utils.urls import open_url

ARGUMENT_SPEC = dict(
    name=dict(type='str', required=True),
    state=dict(type='str', default='present', choices=['present', 'absent', 'latest']),
    host=dict(type='str', default='http://127.0.0.1:11434'),
    timeout=dict(type='int', default=60),
    pull_timeout=dict(type='int', default=3600),
    retries=dict(type='int', default=3),
    insecure=dict(type='bool', default=False),
)

DEFAULT_REGISTRY = 'registry.ollama.ai'
DEFAULT_NAMESPACE = 'library'
DEFAULT_TAG = 'latest'

# The character rules of upstream types/model/name.go; checking them here turns a typo into a
# message naming the option instead of a server-side "invalid model name".
_NAME_PART_RES = (
    ('host', re.compile(r'^[A-Za-z0-9][A-Za-z0-9_.:-]{0,349}$')),
    ('namespace', re.compile(r'^[A-Za-z0-9][A-Za-z0-9_.-]{0,79}$')),
    ('model', re.compile(r'^[A-Za-z0-9][A-Za-z0-9_.-]{0,79}$')),
    ('tag', re.compile(r'^[A-Za-z0-9_][A-Za-z0-9_.-]{0,79}$')),
)

# Errors the server states as final. The registry answered that the name or tag does not exist,
# the name is malformed, access is refused, or this server is too old for the model: asking again
# gets the same answer, so these are never retried. Everything else (network failures, truncated
# streams, "max retries exceeded", digest mismatches, 5xx) is treated as transient.
PERMANENT_PULL_ERRORS = (
    'file does not exist',
    'manifest unknown',
    'not found',
    'invalid model name',
    'invalid reference format',
    'unauthorized',
    'authentication required',
    'access denied',
    'requires a newer version of ollama',
)

# HTTP answers that say "try later" rather than "no".
_TRANSIENT_HTTP_STATUSES = frozenset((408, 425, 429))

_USER_AGENT = 'ansible-inferno.runners-ollama_model'


class OllamaError(Exception):
    """A failed exchange with the Ollama server.

    ``permanent`` is True when the server gave a final answer that a retry cannot change.
    """

    def __init__(self, message, permanent=False, status=None):
        super(OllamaError, self).__init__(message)
        self.permanent = permanent
        self.status = status


class PullTimeoutError(OllamaError):
    """The pull outran ``pull_timeout``; final for this task, whatever the server would do next."""

    def __init__(self, message):
        super(PullTimeoutError, self).__init__(message, permanent=True)


# --------------------------------------------------------------------------- model names


def split_model_name(text):
    """Return ``(host, namespace, model, tag)`` with upstream's defaults filled in.

    Raises ``ValueError`` for a name the Ollama server would reject.
    """
    text = (text or '').strip()
    if not text:
        raise ValueError('the name is empty')
    tag = DEFAULT_TAG
    colon, slash = text.rfind(':'), text.rfind('/')
    if colon > slash:
        text, tag = text[:colon], text[colon + 1:]
    parts = text.split('/')
    if len(parts) == 1:
        host, namespace, model = DEFAULT_REGISTRY, DEFAULT_NAMESPACE, parts[0]
    elif len(parts) == 2:
        host, namespace, model = DEFAULT_REGISTRY, parts[0], parts[1]
    else:
        host, namespace, model = '/'.join(parts[:-2]), parts[-2], parts[-1]
    values = dict(host=host, namespace=namespace, model=model, tag=tag)
    for part, pattern in _NAME_PART_RES:
        if not pattern.match(values[part]):
            raise ValueError('its %s part %r is not valid' % (part, values[part]))
    return host, namespace, model, tag


def normalise_model_name(text):
    """Return the name as ``/api/tags`` lists it: ``llama3.2`` becomes ``llama3.2:latest`` and
    ``registry.ollama.ai/library/`` is dropped."""
    host, namespace, model, tag = split_model_name(text)
    if host == DEFAULT_REGISTRY and namespace == DEFAULT_NAMESPACE:
        return '%s:%s' % (model, tag)
    if host == DEFAULT_REGISTRY:
        return '%s/%s:%s' % (namespace, model, tag)
    return '%s/%s/%s:%s' % (host, namespace, model, tag)


def model_key(text):
    """Return the comparison key of a name; upstream compares names case-insensitively."""
    return normalise_model_name(text).lower()


def same_model(left, right):
    try:
        return model_key(left) == model_key(right)
    except ValueError:
        return False


# --------------------------------------------------------------------------- the pull stream


def is_permanent_error(text):
    lowered = (text or '').lower()
    return any(marker in lowered for marker in PERMANENT_PULL_ERRORS)


class PullProgress:
    """What one ``/api/pull`` NDJSON stream reported, condensed for the task result."""

    def __init__(self):
        self.statuses = []
        self.layers = {}
        self.succeeded = False

    def feed(self, raw):
        """Record one line of the stream; raise ``OllamaError`` for an ``{"error": ...}`` line."""
        text = to_text(raw, errors='surrogate_or_replace').strip()
        if not text:
            return
        try:
            event = json.loads(text)
        except ValueError:
            event = None
        if not isinstance(event, dict):
            if not raw.endswith(b'\n'):
                # The connection dropped in the middle of a line.
                raise OllamaError('the /api/pull stream was cut off mid-line')
            raise OllamaError('the /api/pull answer is not Ollama NDJSON: %r' % text[:200], permanent=True)
        if event.get('error'):
            message = to_text(event['error'])
            raise OllamaError(message, permanent=is_permanent_error(message))
        status = to_text(event.get('status', ''))
        if status and status not in self.statuses:
            self.statuses.append(status)
        digest = event.get('digest')
        if digest:
            layer = self.layers.setdefault(digest, {'digest': digest, 'total': 0, 'completed': 0})
            layer['total'] = max(layer['total'], int(event.get('total') or 0))
            layer['completed'] = max(layer['completed'], int(event.get('completed') or 0))
        if status == 'success':
            self.succeeded = True

    @property
    def last_status(self):
        return self.statuses[-1] if self.statuses else None

    def as_dict(self, attempts=1, errors=None):
        layers = list(self.layers.values())
        return {
            'statuses': list(self.statuses),
            'layers': layers,
            'total': sum(layer['total'] for layer in layers),
            'completed': sum(layer['completed'] for layer in layers),
            'attempts': attempts,
            'errors': list(errors or []),
        }


def read_pull_stream(response, progress, deadline=None, clock=time.monotonic):
    """Feed every line of a streamed ``/api/pull`` answer into ``progress``.

    Succeeds only when the stream reported ``success``: upstream sends it last, so a stream that
    ends without it was interrupted even if every layer looked complete.
    """
    while True:
        try:
            line = response.readline()
        except socket.timeout:
            raise OllamaError('the server sent no progress for longer than the request timeout (option timeout)')
        except (OSError, http.client.HTTPException) as exc:
            raise OllamaError('the /api/pull stream was interrupted: %s' % (to_native(exc) or type(exc).__name__))
        if not line:
            break
        progress.feed(line)
        if progress.succeeded:
            return progress
        if deadline is not None and clock() > deadline:
            raise PullTimeoutError('the stream was still running when pull_timeout ran out (last status: %s)'
                                   % progress.last_status)
    raise OllamaError('the /api/pull stream ended without a "success" status (last status: %s)'
                      % (progress.last_status or 'none'))


class RetryPolicy:
    """Exponential backoff for transient failures: 2, 4, 8, ... seconds, at most 30."""

    def __init__(self, retries, base_delay=2.0, max_delay=30.0):
        self.retries = retries
        self.base_delay = base_delay
        self.max_delay = max_delay

    def delay(self, attempt):
        """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
        return min(self.max_delay, self.base_delay * (2 ** (attempt - 1)))

    def should_retry(self, error, attempt):
        return not error.permanent and attempt <= self.retries


# --------------------------------------------------------------------------- the HTTP client


def parse_host(value):
    """Return the base URL for ``host``, read like upstream's ``OLLAMA_HOST``: without a scheme
    the port defaults to 11434, with ``http://``/``https://`` to 80/443."""
    value = (value or '').strip()
    if '://' not in value:
        value = 'http://' + value
        default_port = 11434
    else:
        default_port = None
    parts = urlsplit(value)
    if parts.scheme not in ('http', 'https'):
        raise ValueError('the scheme must be http or https, not %r' % parts.scheme)
    if not parts.hostname:
        raise ValueError('it names no host')
    try:
        port = parts.port
    except ValueError:
        raise ValueError('its port is not a number between 0 and 65535')
    netloc = parts.netloc.rsplit('@', 1)[-1]
    if port is None and default_port:
        netloc = '%s:%d' % (netloc, default_port)
    return '%s://%s%s' % (parts.scheme, netloc, parts.path.rstrip('/'))


def _is_loopback(base_url):
    host = (urlsplit(base_url).hostname or '').lower()
    return host == 'localhost' or host == '::1' or host.startswith('127.')


def _error_text(exc):
    try:
        raw = exc.read()
    except Exception:  # pylint: disable=broad-exception-caught
        raw = b''
    text = to_text(raw or b'', errors='surrogate_or_replace').strip()
    try:
        data = json.loads(text)
        if isinstance(data, dict) and data.get('error'):
            return to_text(data['error'])
    except ValueError:
        pass
    return text[:300] or to_native(getattr(exc, 'reason', '') or exc)


class OllamaClient:
    """The few calls of the Ollama API this collection needs."""

    def __init__(self, base_url, timeout, opener=open_url):
        self.base_url = base_url
        self.timeout = timeout
        self._open = opener
        # Like upstream's Go client, which never sends loopback traffic to HTTP(S)_PROXY.
        self._use_proxy = not _is_loopback(base_url)

    def _request(self, method, path, body=None):
        data = json.dumps(body).encode('utf-8') if body is not None else None
        headers = {'Accept': 'application/json'}
        if data is not None:
            headers['Content-Type'] = 'application/json'
        try:
            return self._open(self.base_url + path, data=data, method=method, headers=headers,
                              timeout=self.timeout, use_proxy=self._use_proxy, http_agent=_USER_AGENT,
                              follow_redirects='none')
        except urllib.error.HTTPError as exc:
            text = _error_text(exc)
            permanent = 400 <= exc.code < 500 and exc.code not in _TRANSIENT_HTTP_STATUSES
            raise OllamaError('%s %s answered HTTP %d: %s' % (method, path, exc.code, text),
                              permanent=permanent or is_permanent_error(text), status=exc.code)
        except socket.timeout:
            raise OllamaError('%s %s got no answer within %d seconds (option timeout)' % (method, path, self.timeout))
        except (urllib.error.URLError, UrlsConnectionError, OSError, http.client.HTTPException) as exc:
            reason = getattr(exc, 'reason', None) or exc
            raise OllamaError('cannot reach the Ollama server at %s (option host): %s'
                              % (self.base_url, to_native(reason) or type(exc).__name__))

    def _json(self, method, path, body=None):
        response = self._request(method, path, body)
        try:
            raw = response.read()
        except (OSError, http.client.HTTPException) as exc:
            raise OllamaError('%s %s: reading the answer failed: %s' % (method, path, to_native(exc)))
        finally:
            response.close()
        if not raw.strip():
            return {}
        try:
            return json.loads(to_text(raw, errors='surrogate_or_replace'))
        except ValueError:
            raise OllamaError('%s %s answered something that is not JSON: %r' % (method, path, raw[:200]), permanent=True)

    def list_models(self):
        models = self._json('GET', '/api/tags').get('models')
        return models if isinstance(models, list) else []

    def delete(self, name):
        """Delete a model; return False when the server does not have it."""
        try:
            self._json('DELETE', '/api/delete', {'model': name, 'name': name})
        except OllamaError as exc:
            if exc.status == 404:
                return False
            raise
        return True

    def pull(self, name, insecure=False):
        """Start a streamed pull and return the open response, to be read with ``read_pull_stream``."""
        # Older servers read only `name`; current ones read `model` and fall back to `name`.
        return self._request('POST', '/api/pull', {'model': name, 'name': name, 'stream': True, 'insecure': insecure})


# --------------------------------------------------------------------------- the module's work


def summarise_model(entry):
    """The part of an ``/api/tags`` entry the module returns."""
    if not entry:
        return {}
    return {
        'name': entry.get('name') or entry.get('model'),
        'digest': entry.get('digest'),
        'size': entry.get('size'),
        'details': entry.get('details') or {},
    }


class OllamaModel:
    """Bring one model on an Ollama server to ``present``, ``latest`` or ``absent``."""

    # Class attributes so tests can replace the clock and the backoff sleep.
    sleep = staticmethod(time.sleep)
    clock = staticmethod(time.monotonic)

    def __init__(self, module, client=None):
        self.module = module
        self.params = module.params
        self.check_mode = module.check_mode
        for option, minimum in (('timeout', 1), ('pull_timeout', 1), ('retries', 0)):
            if self.params[option] < minimum:
                module.fail_json(msg='%s must be at least %d, got %d' % (option, minimum, self.params[option]))
        try:
            self.name = normalise_model_name(self.params['name'])
        except ValueError as exc:
            module.fail_json(msg='name %r is not a valid Ollama model name: %s' % (self.params['name'], exc))
        try:
            self.base_url = parse_host(self.params['host'])
        except ValueError as exc:
            module.fail_json(msg='host %r is not a usable Ollama address: %s' % (self.params['host'], exc))
        self.client = client or OllamaClient(self.base_url, self.params['timeout'])
        self.policy = RetryPolicy(self.params['retries'])
        self.result = dict(changed=False, model={}, digest_before=None, digest_after=None, pulled=False, progress={})
        self.diff = dict(before={}, after={})

    def run(self):
        try:
            handler = {'present': self.ensure_present, 'latest': self.ensure_latest, 'absent': self.ensure_absent}
            handler[self.params['state']]()
        except OllamaError as exc:
            self.module.fail_json(msg=to_native(exc), **self.result)
        if self.module._diff:
            self.result['diff'] = self.diff
        self.module.exit_json(**self.result)

    # -- states

    def ensure_present(self):
        before = self._listed()
        self._record_before(before)
        if before:
            self._record_after(before)
            return
        self.diff['after'] = {'name': self.name, 'digest': None}
        if not self.check_mode:
            # Set only once the pull succeeded: a failed task must not claim it changed the host.
            self._record_after(self._pull())
        self.result['changed'] = True

    def ensure_latest(self):
        before = self._listed()
        self._record_before(before)
        if self.check_mode:
            # Only a pull can tell whether the registry moved the tag, so check mode reports the
            # change it can know about: a missing model.
            self.result['changed'] = before is None
            if before:
                self._record_after(before)
            else:
                self.diff['after'] = {'name': self.name, 'digest': None}
            return
        after = self._pull()
        self._record_after(after)
        self.result['changed'] = before is None or before.get('digest') != after.get('digest')

    def ensure_absent(self):
        before = self._listed()
        self._record_before(before)
        if not before:
            return
        if self.check_mode:
            self.result['changed'] = True
            return
        # Delete the name exactly as the server lists it.
        listed_name = before.get('name') or before.get('model')
        self.result['changed'] = self._with_retries(self.client.delete, listed_name)

    # -- helpers

    def _record_before(self, entry):
        if entry:
            self.result['digest_before'] = entry.get('digest')
            self.diff['before'] = {'name': self.name, 'digest': entry.get('digest')}

    def _record_after(self, entry):
        self.result['model'] = summarise_model(entry)
        self.result['digest_after'] = entry.get('digest')
        self.diff['after'] = {'name': self.name, 'digest': entry.get('digest')}

    def _listed(self):
        """Return the ``/api/tags`` entry of the model, or None."""
        for entry in self._with_retries(self.client.list_models):
            if not isinstance(entry, dict):
                continue
            if same_model(entry.get('name') or '', self.name) or same_model(entry.get('model') or '', self.name):
                return entry
        return None

    def _with_retries(self, call, *args):
        """Run an API call, retrying connection failures (a server still starting, say)."""
        attempt = 0
        while True:
            attempt += 1
            try:
                return call(*args)
            except OllamaError as exc:
                if not self.policy.should_retry(exc, attempt):
                    if attempt > 1:
                        raise OllamaError('%s (after %d attempts)' % (exc, attempt), exc.permanent, exc.status)
                    raise
                self.sleep(self.policy.delay(attempt))

    def _pull(self):
        """Pull the model, retrying transient failures; return its ``/api/tags`` entry."""
        pull_timeout = self.params['pull_timeout']
        deadline = self.clock() + pull_timeout
        errors = []
        attempt = 0
        while True:
            attempt += 1
            progress = PullProgress()
            try:
                response = self.client.pull(self.name, self.params['insecure'])
                try:
                    read_pull_stream(response, progress, deadline, self.clock)
                finally:
                    response.close()
                break
            except OllamaError as exc:
                self.result['progress'] = progress.as_dict(attempt, errors + [to_native(exc)])
                if isinstance(exc, PullTimeoutError):
                    raise OllamaError("Pulling model '%s' did not finish within pull_timeout=%d s (attempt %d): %s"
                                      % (self.name, pull_timeout, attempt, exc), permanent=True)
                if exc.permanent:
                    raise OllamaError("Ollama cannot pull model '%s': %s (a permanent error: not retried)"
                                      % (self.name, exc), permanent=True)
                if not self.policy.should_retry(exc, attempt):
                    raise OllamaError("Pulling model '%s' failed after %d attempt(s) (option retries=%d): %s"
                                      % (self.name, attempt, self.policy.retries, exc))
                delay = self.policy.delay(attempt)
                if self.clock() + delay > deadline:
                    raise OllamaError("Pulling model '%s' failed and pull_timeout=%d s leaves no time to retry "
                                      "after %d attempt(s): %s" % (self.name, pull_timeout, attempt, exc))
                errors.append(to_native(exc))
                self.sleep(delay)
        self.result['pulled'] = True
        self.result['progress'] = progress.as_dict(attempt, errors)
        after = self._listed()
        if after is None:
            raise OllamaError("The pull of model '%s' reported success but /api/tags does not list it" % self.name)
        return after
