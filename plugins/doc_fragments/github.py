# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations


class ModuleDocFragment:
    """Connection, authentication and scope options of the GitHub modules (plugins/module_utils/github.py)."""

    DOCUMENTATION = r"""
options:
  api_url:
    description:
      - Base URL of the GitHub REST API.
      - Use V(https://api.github.com) for github.com and V(https://HOST/api/v3) for GitHub Enterprise Server.
      - Credentials are sent only to this scheme, host, port and path prefix. Redirects and pagination
        links that lead elsewhere are refused rather than followed.
    type: str
    default: https://api.github.com
  token:
    description:
      - A personal access token (classic or fine-grained), or a GitHub App installation token obtained elsewhere.
      - Mutually exclusive with O(app_id); one of the two is required.
      - Repository runners need the C(Administration) repository permission (read and write) or the classic C(repo)
        scope; organization runners need the C(Self-hosted runners) organization permission (read and write) or the
        classic C(admin:org) scope; enterprise runners need a classic token with the C(manage_runners:enterprise) scope.
    type: str
  app_id:
    description:
      - Authenticate as a GitHub App with this app ID (or client ID), used as the JWT issuer.
      - Requires O(app_installation_id) and one of O(app_private_key) or O(app_private_key_path).
      - The module signs an RS256 JWT (issued 60 seconds in the past, valid 9 minutes) and exchanges it for an
        installation token; this needs the Python C(cryptography) library where the module runs.
    type: str
  app_installation_id:
    description:
      - ID of the GitHub App installation on the account that owns the runners.
    type: int
  app_private_key:
    description:
      - The GitHub App private key, PEM encoded, as text.
      - Mutually exclusive with O(app_private_key_path).
    type: str
  app_private_key_path:
    description:
      - Path to the GitHub App private key (PEM) on the machine where the module runs.
      - Mutually exclusive with O(app_private_key).
    type: path
  app_token_cache:
    description:
      - Reuse the installation token across tasks and hosts instead of minting one per task.
      - Tokens are kept, with their expiry, in C(0600) files inside a C(0700) directory owned by the user running
        the module (see O(app_token_cache_dir)), and reused until 5 minutes before they expire. A file lock makes
        parallel forks wait for one token instead of minting one each.
      - "Run the GitHub tasks with C(delegate_to: localhost) so that every host shares the controller's cache."
      - A cached token GitHub refuses with 401 is replaced once by a freshly minted one.
    type: bool
    default: true
  app_token_cache_dir:
    description:
      - Directory for O(app_token_cache). It is created with mode C(0700) and is not used (with a warning) if
        it belongs to another user or is readable by others.
      - Defaults to C($XDG_RUNTIME_DIR/inferno.runners) when C(XDG_RUNTIME_DIR) is set, else C(~/.cache/inferno.runners).
    type: path
  repository:
    description:
      - Work on the runners of this repository, written C(OWNER/REPO).
      - Exactly one of O(repository), O(organization) and O(enterprise) is required.
    type: str
    aliases: [repo]
  organization:
    description:
      - Work on the runners of this organization.
    type: str
    aliases: [org]
  enterprise:
    description:
      - Work on the runners of this enterprise (its slug).
    type: str
  timeout:
    description:
      - Seconds to wait for each HTTP response.
    type: int
    default: 30
  retry_max_time:
    description:
      - Connection errors and 5xx answers are retried with exponential backoff (1, 2, 4 ... 16 seconds, with
        jitter) for at most this many seconds per request; then the module fails naming the last error.
      - V(0) disables retries.
    type: int
    default: 60
  rate_limit_max_wait:
    description:
      - Longest total time, in seconds, the module waits out GitHub rate limits before failing.
      - It honours C(retry-after); else, when C(x-ratelimit-remaining) is 0, it waits until C(x-ratelimit-reset);
        else it waits a minute and doubles the wait each time, as GitHub asks.
      - A wait that would exceed this budget fails at once with the reason, rather than sleeping in vain.
    type: int
    default: 300
  validate_certs:
    description:
      - Verify the TLS certificate of O(api_url). Only turn this off for a test server.
    type: bool
    default: true
  ca_path:
    description:
      - PEM bundle of certificate authorities to trust for O(api_url), for GitHub Enterprise Server with a private CA.
    type: path
  use_proxy:
    description:
      - Use the proxy set in the environment (C(https_proxy), C(no_proxy)) of the machine running the module.
    type: bool
    default: true
notes:
  - "Requests carry C(Accept: application/vnd.github+json), C(X-GitHub-Api-Version: 2022-11-28),
    C(Authorization: Bearer <token>) and a User-Agent naming this collection."
  - A 401, 403, 404 or 422 answer fails with a message naming the likely cause (bad credentials, the permission the
    scope needs, a scope that does not exist or is not visible to the credential, or GitHub's own validation message).
requirements:
  - cryptography (only for GitHub App authentication)
"""
