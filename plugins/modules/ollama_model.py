#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

DOCUMENTATION = r"""
---
module: ollama_model
short_description: Pull, update or remove a model on an Ollama server
version_added: 0.1.0
author: inferno.runners developers (@inferno-runners)
description:
  - Makes sure one model is present on, up to date on, or absent from an Ollama server, through
    the server's HTTP API (C(/api/tags), C(/api/pull), C(/api/delete)).
  - Names are compared the way Ollama compares them, so V(llama3.2) and V(llama3.2:latest) are the
    same model, C(registry.ollama.ai/library/) is implied and case does not matter.
  - Pulls stream the server's progress; a pull succeeds only when the stream ends with Ollama's
    C(success) status. An error the server states as final (the registry has no such model or tag,
    the name is invalid, access is denied) fails at once; network failures, interrupted streams and
    server errors are retried O(retries) times with exponential backoff (2, 4, 8 ... 30 seconds).
  - The module talks to the server only; it runs on the host that can reach O(host), usually the
    Ollama host itself.
extends_documentation_fragment:
  - inferno.runners.attributes
attributes:
  check_mode:
    support: partial
    details:
      - Never pulls or deletes. With O(state=latest) only a pull can tell whether the registry moved
        the tag, so check mode reports a change only when the model is missing.
  diff_mode:
    support: full
    details:
      - The diff shows the model's name and digest before and after; a digest of V(null) after means
        the digest is known only once the model is pulled.
options:
  name:
    description:
      - The model, as C(ollama pull) takes it, for example V(llama3.2:3b-instruct-q4_K_M),
        V(nomic-embed-text) or V(hf.co/bartowski/Llama-3.2-1B-Instruct-GGUF:Q4_K_M).
      - Without a tag, V(latest) is meant.
    type: str
    required: true
  state:
    description:
      - V(present) pulls the model only when the server does not list it.
      - V(latest) always pulls, which fetches a newer revision of the tag when the registry has one;
        the task reports a change only when the model's digest changed.
      - V(absent) deletes the model when the server lists it.
    type: str
    choices: [present, absent, latest]
    default: present
  host:
    description:
      - Address of the Ollama server, read like E(OLLAMA_HOST) is by the C(ollama) client.
      - Without a scheme the port defaults to V(11434); with V(http://) or V(https://) to 80 or 443.
      - Requests to loopback addresses never go through E(HTTP_PROXY).
    type: str
    default: http://127.0.0.1:11434
  timeout:
    description:
      - Seconds to wait for an answer to each API request.
      - During a pull, the longest silence tolerated between two progress lines. Ollama is silent
        while it verifies the digest of a large model, so raise this for models of tens of gigabytes
        on slow disks.
    type: int
    default: 60
  pull_timeout:
    description:
      - Seconds one pull may take in all, retries and their backoff included.
      - Checked between progress lines, so a pull can outrun it by up to O(timeout).
    type: int
    default: 3600
  retries:
    description:
      - How many times to retry a pull that failed for a transient reason (connection refused or
        reset, an interrupted stream, a timeout, an HTTP 5xx, an in-stream error such as
        C(max retries exceeded)). Connection failures of the other API calls are retried as well.
      - "Permanent errors are never retried, for example C(pull model manifest: file does not exist),
        the answer for a name or tag the registry does not have."
    type: int
    default: 3
  insecure:
    description:
      - Let the Ollama server pull from a registry over plain HTTP or with an unverified
        certificate (the C(insecure) field of C(/api/pull)).
    type: bool
    default: false
notes:
  - The model is pulled by the Ollama server, so the server (not the Ansible controller) needs access
    to the registry and room under E(OLLAMA_MODELS).
seealso:
  - name: Ollama API
    description: The API this module uses.
    link: https://github.com/ollama/ollama/blob/main/docs/api.md
"""

EXAMPLES = r"""
- name: Make sure the embedding model is pulled
  inferno.runners.ollama_model:
    name: nomic-embed-text

- name: Keep the chat model at the newest revision of its tag
  inferno.runners.ollama_model:
    name: llama3.2:3b-instruct-q4_K_M
    state: latest
    pull_timeout: 7200
    retries: 5

- name: Pull from a server that listens on another address
  inferno.runners.ollama_model:
    name: qwen2.5:0.5b
    host: 10.8.0.12:11434

- name: Remove a model nobody uses any more
  inferno.runners.ollama_model:
    name: llama3.2:1b
    state: absent
"""

RETURN = r"""
model:
  description:
    - The model as C(/api/tags) lists it after the task; empty when it is absent or, in check mode,
      not pulled yet.
  returned: always
  type: dict
  contains:
    name:
      description: The name the server lists.
      type: str
      sample: llama3.2:3b-instruct-q4_K_M
    digest:
      description: SHA-256 of the model's manifest, as C(/api/tags) reports it (hex, no prefix).
      type: str
      sample: a80c4f17acd55265feec403c7aef86be0c25983ab279d83f3bcd3abbcb5b8b72
    size:
      description: Bytes the model takes on disk.
      type: int
      sample: 2019393189
    details:
      description: The C(details) object of C(/api/tags).
      type: dict
      sample:
        format: gguf
        family: llama
        families: [llama]
        parameter_size: 3.2B
        quantization_level: Q4_K_M
  sample:
    name: llama3.2:3b-instruct-q4_K_M
    digest: a80c4f17acd55265feec403c7aef86be0c25983ab279d83f3bcd3abbcb5b8b72
    size: 2019393189
    details:
      format: gguf
      family: llama
      families: [llama]
      parameter_size: 3.2B
      quantization_level: Q4_K_M
digest_before:
  description: Digest of the model before the task; V(null) when it was not on the server.
  returned: always
  type: str
  sample: a80c4f17acd55265feec403c7aef86be0c25983ab279d83f3bcd3abbcb5b8b72
digest_after:
  description:
    - Digest of the model after the task; V(null) when it is absent or, in check mode, not pulled yet.
  returned: always
  type: str
  sample: a80c4f17acd55265feec403c7aef86be0c25983ab279d83f3bcd3abbcb5b8b72
pulled:
  description: Whether a pull ran and ended with C(success).
  returned: always
  type: bool
  sample: true
progress:
  description:
    - What the C(/api/pull) stream of the last attempt reported, condensed; empty when no pull ran.
    - Also returned by a failed task, to show how far the pull got.
  returned: always
  type: dict
  contains:
    statuses:
      description: The distinct status lines of the stream, in order.
      type: list
      elements: str
      sample: [pulling manifest, pulling dde5aa3fc5ff, verifying sha256 digest, writing manifest, success]
    layers:
      description: Each blob the stream named, with its size and the bytes received.
      type: list
      elements: dict
      sample:
        - digest: sha256:dde5aa3fc5ffc17176b5e8bdc82f587b24b2678c6c66101bf7da77af9f7ccdff
          total: 2019377376
          completed: 2019377376
    total:
      description: Sum of the sizes of the blobs the stream named, in bytes.
      type: int
      sample: 2019393189
    completed:
      description: Bytes received for those blobs (blobs already on the server count as complete).
      type: int
      sample: 2019393189
    attempts:
      description: How many pulls were started.
      type: int
      sample: 2
    errors:
      description: The error of each failed attempt, oldest first.
      type: list
      elements: str
      sample: ["max retries exceeded: unexpected EOF"]
  sample:
    statuses: [pulling manifest, pulling dde5aa3fc5ff, verifying sha256 digest, writing manifest, success]
    layers:
      - digest: sha256:dde5aa3fc5ffc17176b5e8bdc82f587b24b2678c6c66101bf7da77af9f7ccdff
        total: 2019377376
        completed: 2019377376
    total: 2019377376
    completed: 2019377376
    attempts: 1
    errors: []
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.inferno.runners.plugins.module_utils.ollama import ARGUMENT_SPEC, OllamaModel


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    OllamaModel(module).run()


if __name__ == '__main__':
    main()
