"""GitHub's official REST API description, loaded once, used to check requests and responses.

Upstream contract: github/rest-api-description as published on npm as ``@octokit/openapi``
(``generated/api.github.com.json``; enterprise-scope runner operations exist only in
``generated/ghec.json``, so those are looked up there). Installed by ``npm ci --prefix tests/tools``.

The description is OpenAPI 3.0 (``nullable``, ``example``...), which plain JSON Schema validators
misread, so schemas are checked with openapi-schema-validator's OAS 3.0 read/write validators over a
``referencing`` registry holding the whole document: ``$ref`` are followed lazily, nothing is
dereferenced up front, and a check costs about 0.1 ms.
"""
from __future__ import annotations

import functools
import json
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping
from urllib.parse import quote, unquote

from openapi_schema_validator import OAS30ReadValidator, OAS30WriteValidator, oas30_format_checker
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

TOOLS_DIR = Path(__file__).resolve().parents[2] / "tools"
GENERATED_DIR = TOOLS_DIR / "node_modules" / "@octokit" / "openapi" / "generated"
API_GITHUB_COM = GENERATED_DIR / "api.github.com.json"
GHEC = GENERATED_DIR / "ghec.json"

# GitHub answers these on any operation (bad version header, authentication, permissions, hidden
# resources, rate limits, outages) although most operations do not list them. They are accepted
# for every operation, but their body must still be GitHub's basic-error object.
UNIVERSAL_ERROR_STATUSES = frozenset({400, 401, 403, 404, 429, 500, 502, 503})

_METHODS = ("get", "put", "post", "delete", "patch", "head", "options")
_BASE_URI = "urn:github-rest-description"


class DescriptionMissing(RuntimeError):
    """The npm package holding the description is not installed."""


def _pointer(*parts: str) -> str:
    return "".join("/" + quote(p.replace("~", "~0").replace("/", "~1"), safe="") for p in parts)


@dataclass
class Operation:
    """One method on one path template of a description."""

    description: "Description"
    method: str
    template: str
    operation_id: str
    _validators: dict = field(default_factory=dict, repr=False)

    @property
    def raw(self) -> dict:
        return self.description.document["paths"][self.template][self.method]

    def _response(self, status: int) -> tuple[str, dict] | None:
        """(JSON pointer, object) of the response declared for ``status``, references followed."""
        responses = self.raw["responses"]
        for key in (str(status), f"{str(status)[0]}XX", "default"):
            if key in responses:
                pointer = _pointer("paths", self.template, self.method, "responses", key)
                return self.description.follow(responses[key], pointer)
        return None

    def declared_statuses(self) -> list[str]:
        return list(self.raw["responses"])

    def _validator(self, key: tuple, pointer: str, write: bool):
        with self.description.lock:
            validator = self._validators.get(key)
            if validator is None:
                cls = OAS30WriteValidator if write else OAS30ReadValidator
                validator = cls(
                    {"$ref": _BASE_URI + "#" + pointer},
                    registry=self.description.registry,
                    format_checker=oas30_format_checker,
                )
                self._validators[key] = validator
            return validator

    def check_response(self, status: int, headers: Mapping[str, str], body: Any) -> list[str]:
        """Violations of the description by a response (empty list when it conforms).

        ``body`` is the decoded JSON (``None`` for an empty body).
        """
        found = self._response(status)
        if found is None:
            if status not in UNIVERSAL_ERROR_STATUSES:
                return [
                    f"status {status} is not a response of {self.operation_id} "
                    f"(declared: {', '.join(self.declared_statuses())})"
                ]
            pointer = _pointer("components", "schemas", "basic-error")
            return self._schema_errors(("universal",), pointer, body, write=False, where="body")
        response_pointer, response = found
        problems: list[str] = []
        lowered = {k.lower(): v for k, v in headers.items()}
        for name, header in response.get("headers", {}).items():
            header = self.description.resolve(header)
            value = lowered.get(name.lower())
            if value is None:
                if header.get("required"):
                    problems.append(f"required header {name} missing")
                continue
            if header.get("schema", {}).get("type") == "integer" and not re.fullmatch(r"-?\d+", value):
                problems.append(f"header {name}: {value!r} is not an integer")
        content = response.get("content")
        if not content:
            if body not in (None, b"", ""):
                problems.append(f"status {status} of {self.operation_id} has no body, one was sent")
            return problems
        if body is None:
            return problems + [f"status {status} of {self.operation_id} needs a body, none sent"]
        media = "application/json" if "application/json" in content else next(iter(content))
        if "schema" not in content[media]:
            return problems
        pointer = response_pointer + _pointer("content", media, "schema")
        return problems + self._schema_errors(("response", status), pointer, body, False, "body")

    def check_request_body(self, body: Any) -> list[str]:
        """Violations of the request body schema (what GitHub would answer 422 for)."""
        request_body = self.raw.get("requestBody")
        if request_body is None:
            return []
        pointer, request_body = self.description.follow(
            request_body, _pointer("paths", self.template, self.method, "requestBody")
        )
        if body is None:
            return ["a request body is required"] if request_body.get("required") else []
        content = request_body.get("content", {})
        if "application/json" not in content or "schema" not in content["application/json"]:
            return []
        pointer += _pointer("content", "application/json", "schema")
        return self._schema_errors(("request",), pointer, body, write=True, where="body")

    def _schema_errors(self, key: tuple, pointer: str, body: Any, write: bool, where: str) -> list[str]:
        validator = self._validator(key, pointer, write)
        errors = [
            f"{where}{''.join(f'[{p!r}]' for p in error.absolute_path)}: {error.message}"
            for error in validator.iter_errors(body)
        ]
        if not errors and not write:
            schema = {"$ref": "#" + pointer}
            errors = [f"{where}{p}: {m}" for p, m in self.description.undocumented(body, schema)]
        return errors


class Description:
    """One OpenAPI document with a path-template index and schema checks."""

    def __init__(self, document: dict, source: str) -> None:
        self.document = document
        self.source = source
        self.lock = threading.Lock()
        self.registry = Registry().with_resource(
            _BASE_URI, Resource.from_contents(document, default_specification=DRAFT4)
        )
        # Templates by segment count: a request path is only compared with templates of its length,
        # and literal segments beat parameters (``/runners/downloads`` over ``/runners/{runner_id}``).
        self._index: dict[int, list[tuple[int, re.Pattern, str]]] = {}
        for template in document["paths"]:
            segments = template.strip("/").split("/")
            pattern = "/".join(
                "[^/]+" if s.startswith("{") and s.endswith("}") else re.escape(s) for s in segments
            )
            literals = sum(1 for s in segments if not s.startswith("{"))
            self._index.setdefault(len(segments), []).append(
                (literals, re.compile("/" + pattern), template)
            )
        for entries in self._index.values():
            entries.sort(key=lambda entry: -entry[0])
        self._operations: dict[tuple[str, str], Operation] = {}

    @property
    def version(self) -> str:
        return str(self.document.get("info", {}).get("version", ""))

    def resolve(self, node: Any) -> Any:
        return self.follow(node, "")[1]

    def follow(self, node: Any, pointer: str) -> tuple[str, Any]:
        """Follow ``$ref`` from ``node`` (found at ``pointer``): (pointer of the target, target)."""
        for _depth in range(32):
            if not (isinstance(node, dict) and "$ref" in node):
                return pointer, node
            pointer = node["$ref"][1:]
            node = self.lookup(node["$ref"])
        raise ValueError("reference cycle")

    def lookup(self, ref: str) -> Any:
        if not ref.startswith("#/"):
            raise ValueError(f"only local references are expected in GitHub's description: {ref}")
        node: Any = self.document
        for part in ref[2:].split("/"):
            node = node[unquote(part).replace("~1", "/").replace("~0", "~")]
        return node

    def template_for(self, path: str) -> str | None:
        path = "/" + path.strip("/")
        for _literals, pattern, template in self._index.get(len(path.strip("/").split("/")), []):
            if pattern.fullmatch(path):
                return template
        return None

    def operation(self, method: str, path: str) -> Operation | None:
        """The operation answering ``method path`` (a concrete path, no query), or None."""
        template = self.template_for(path)
        if template is None:
            return None
        return self.operation_for_template(method, template)

    def operation_for_template(self, method: str, template: str) -> Operation | None:
        method = method.lower()
        item = self.document["paths"].get(template)
        if item is None or method not in item or method not in _METHODS:
            return None
        key = (method, template)
        with self.lock:
            op = self._operations.get(key)
            if op is None:
                op = Operation(self, method, template, item[method].get("operationId", ""))
                self._operations[key] = op
            return op

    def undocumented(self, instance: Any, schema: Any, path: str = "") -> list[tuple[str, str]]:
        """Object properties the description does not name.

        GitHub's schemas rarely forbid extra properties, so a fake inventing fields would still
        validate; this walk reports every property absent from the ``properties`` of the schema (or
        of all ``allOf`` branches) unless the schema allows additional properties explicitly.
        """
        schema = self.resolve(schema)
        if not isinstance(schema, dict) or instance is None:
            return []
        for keyword in ("anyOf", "oneOf"):
            if keyword in schema:
                results = [self.undocumented(instance, branch, path) for branch in schema[keyword]]
                return [] if any(not r for r in results) else min(results, key=len)
        branches = [schema] + [self.resolve(b) for b in schema.get("allOf", [])]
        problems: list[tuple[str, str]] = []
        if isinstance(instance, list):
            items = schema.get("items")
            if items is not None:
                for i, item in enumerate(instance):
                    problems += self.undocumented(item, items, f"{path}[{i}]")
            return problems
        if not isinstance(instance, dict):
            return problems
        properties: dict = {}
        declares = False
        extra_schema: Any = None
        for branch in branches:
            if "properties" in branch:
                declares = True
                properties.update(branch["properties"])
            extra = branch.get("additionalProperties")
            if extra is not None:
                extra_schema = extra
        for name, value in instance.items():
            if name in properties:
                problems += self.undocumented(value, properties[name], f"{path}[{name!r}]")
            elif isinstance(extra_schema, dict):
                problems += self.undocumented(value, extra_schema, f"{path}[{name!r}]")
            elif declares and extra_schema is None:
                problems.append((f"{path}[{name!r}]", "property not in the description"))
        return problems


@functools.lru_cache(maxsize=4)
def load_description(path: str | Path = API_GITHUB_COM) -> Description:
    """Parse a description file once per process (13 MB, about 0.2 s)."""
    path = Path(path)
    if not path.is_file():
        raise DescriptionMissing(
            f"{path} is missing: install the test tools with `npm ci --prefix tests/tools`"
        )
    with path.open(encoding="utf-8") as handle:
        return Description(json.load(handle), str(path))


class GitHubContract:
    """api.github.com's description, with ghec.json for the operations it lacks (enterprise scope)."""

    def __init__(self, primary: str | Path = API_GITHUB_COM, fallback: str | Path | None = GHEC) -> None:
        self.primary = load_description(primary)
        self._fallback_path = fallback

    @functools.cached_property
    def fallback(self) -> Description | None:
        if self._fallback_path is None or not Path(self._fallback_path).is_file():
            return None
        return load_description(self._fallback_path)

    @property
    def version(self) -> str:
        return self.primary.version

    def operation(self, method: str, path: str) -> Operation | None:
        op = self.primary.operation(method, path)
        if op is None and self.fallback is not None:
            op = self.fallback.operation(method, path)
        return op

    def descriptions(self) -> Iterable[Description]:
        yield self.primary
        if self.fallback is not None:
            yield self.fallback


@functools.lru_cache(maxsize=2)
def github_contract(primary: str = str(API_GITHUB_COM), fallback: str | None = str(GHEC)) -> GitHubContract:
    return GitHubContract(primary, fallback)
