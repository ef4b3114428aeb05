#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

DOCUMENTATION = r"""
module: github_runner_token
short_description: Mint GitHub Actions runner registration and remove tokens, or JIT runner configurations
version_added: 0.1.0
author: inferno.runners developers (@inferno-runners)
description:
  - Asks GitHub for what a self-hosted runner needs to join or leave a repository, organization or enterprise.
  - V(registration) and V(remove) tokens feed C(config.sh --token) and C(config.sh remove --token); both expire
    after one hour (RV(expires_at)).
  - V(jit) creates a just-in-time runner on GitHub and returns its configuration for C(run.sh --jitconfig);
    the runner takes one job and is removed by GitHub afterwards.
  - The companion modules are M(inferno.runners.github_runner_info), which lists and finds runners, and
    M(inferno.runners.github_runner), which deletes a runner or keeps its labels in sync. See
    C(docs/modules/github.md) for how the three fit together.
  - "The returned token or JIT configuration is a secret. Ansible cannot hide single return values, so the module
    returns them in clear and warns unless the task sets C(no_log: true), which hides the task output while the
    registered variable still holds the value. Masking the value inside the module would hand callers
    C(********) instead of a token."
extends_documentation_fragment:
  - inferno.runners.attributes
  - inferno.runners.github
attributes:
  check_mode:
    support: full
    details:
      - "In check mode no token is minted and no JIT runner is created, because a token is a credential that works
        for an hour. The module proves the scope and the credential with a read-only request instead, resolves
        O(runner_group), checks that O(name) is free for V(jit), and returns RV(token) and RV(encoded_jit_config)
        as null. Put C(check_mode: false) on the task if a later step needs a real token during a check run."
  diff_mode:
    support: none
options:
  kind:
    description:
      - V(registration) mints a registration token, V(remove) a remove token, V(jit) a just-in-time runner configuration.
      - Minting a token changes nothing in GitHub's list of runners, so it reports C(changed=false); V(jit)
        registers a new runner and reports C(changed=true).
    type: str
    choices: [registration, remove, jit]
    default: registration
  name:
    description:
      - Name of the JIT runner. Required with O(kind=jit); GitHub refuses a name already used in the scope.
    type: str
  labels:
    description:
      - Custom labels of the JIT runner (1 to 100). Required with O(kind=jit).
    type: list
    elements: str
  runner_group:
    description:
      - Name of the runner group the JIT runner joins, resolved through the runner groups API of the organization
        or enterprise. The module fails, listing the existing groups, when no group has this name.
      - Repositories have only the C(Default) group.
      - Mutually exclusive with O(runner_group_id). Without either, the runner joins the C(Default) group (id 1).
    type: str
  runner_group_id:
    description:
      - ID of the runner group the JIT runner joins.
    type: int
  work_folder:
    description:
      - Work directory of the JIT runner, relative to the runner directory. GitHub uses C(_work) when omitted.
    type: str
seealso:
  - module: inferno.runners.github_runner_info
  - module: inferno.runners.github_runner
  - name: REST API endpoints for self-hosted runners
    description: GitHub's documentation of the endpoints this module calls.
    link: https://docs.github.com/en/rest/actions/self-hosted-runners
"""

EXAMPLES = r"""
- name: Mint a registration token for the repository
  inferno.runners.github_runner_token:
    repository: octo-org/octo-repo
    token: "{{ github_admin_token }}"
  delegate_to: localhost
  no_log: true
  register: runner_registration

- name: Mint a remove token for an organization runner, authenticated as a GitHub App
  inferno.runners.github_runner_token:
    organization: octo-org
    kind: remove
    app_id: "123456"
    app_installation_id: 7890123
    app_private_key_path: /etc/ansible/github-app.pem
  delegate_to: localhost
  no_log: true
  register: runner_removal

- name: Create a just-in-time runner in the gpu runner group of a GitHub Enterprise Server organization
  inferno.runners.github_runner_token:
    api_url: https://github.example.com/api/v3
    organization: ml-platform
    kind: jit
    name: "{{ inventory_hostname }}-jit"
    labels: [gpu, h100]
    runner_group: gpu
    token: "{{ github_admin_token }}"
  delegate_to: localhost
  no_log: true
  register: jit_runner
"""

RETURN = r"""
token:
  description:
    - The registration or remove token. Null in check mode and for O(kind=jit).
  returned: success
  type: str
  sample: AABF3JGZDX3P5PMEXLND6TS6FCWO6
expires_at:
  description:
    - When the token expires (ISO 8601, one hour after minting). Null in check mode and for O(kind=jit).
  returned: success
  type: str
  sample: "2026-11-23T11:45:10Z"
encoded_jit_config:
  description:
    - Base64 configuration for C(run.sh --jitconfig), or C(ACTIONS_RUNNER_INPUT_JITCONFIG). Null in check mode.
  returned: when O(kind=jit)
  type: str
  sample: eyJhIjoiYiJ9
runner:
  description:
    - The runner GitHub registered for the JIT configuration. Null in check mode.
  returned: when O(kind=jit)
  type: dict
  sample:
    id: 23
    name: gpu-01-jit
    os: unknown
    status: offline
    busy: false
    runner_group_id: 4
    labels:
      - {id: 0, name: gpu, type: custom}
runner_group_id:
  description:
    - The runner group the JIT runner joins, after resolving O(runner_group).
  returned: when O(kind=jit)
  type: int
  sample: 4
msg:
  description:
    - What the module did, or would do in check mode.
  returned: always
  type: str
  sample: minted a registration token for repository octo-org/octo-repo
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.inferno.runners.plugins.module_utils.github_runners import (
    RunnerTokenModule,
    runner_token_module_kwargs,
)


def main():
    module = AnsibleModule(**runner_token_module_kwargs())
    RunnerTokenModule(module).execute()


if __name__ == "__main__":
    main()
