#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

DOCUMENTATION = r"""
module: github_runner_info
short_description: List the self-hosted runners of a GitHub repository, organization or enterprise, or find one
version_added: 0.1.0
author: inferno.runners developers (@inferno-runners)
description:
  - Lists every self-hosted runner of the scope, following GitHub's pagination (100 runners a page) to the last page.
  - With O(name) or O(runner_id), looks up one runner and returns it as RV(runner), null when it does not exist.
  - A pagination link that leaves O(api_url) makes the module fail rather than return a partial list.
  - Read-only companion of M(inferno.runners.github_runner_token) and M(inferno.runners.github_runner).
extends_documentation_fragment:
  - inferno.runners.attributes
  - inferno.runners.attributes.INFO_MODULE
  - inferno.runners.github
options:
  name:
    description:
      - Return only the runner with this name. Names are compared without regard to case, as GitHub does.
      - Mutually exclusive with O(runner_id).
    type: str
  runner_id:
    description:
      - Return only the runner with this ID.
    type: int
seealso:
  - module: inferno.runners.github_runner
  - module: inferno.runners.github_runner_token
"""

EXAMPLES = r"""
- name: List the runners of the organization
  inferno.runners.github_runner_info:
    organization: octo-org
    token: "{{ github_admin_token }}"
  delegate_to: localhost
  register: org_runners

- name: Find this host's runner
  inferno.runners.github_runner_info:
    repository: octo-org/octo-repo
    name: "{{ inventory_hostname }}"
    token: "{{ github_admin_token }}"
  delegate_to: localhost
  register: this_runner

- name: Show whether it is online
  ansible.builtin.debug:
    msg: "{{ this_runner.runner.status if this_runner.runner else 'not registered' }}"
"""

RETURN = r"""
runners:
  description:
    - The runners found, as GitHub describes them. All of the scope's runners without O(name) and O(runner_id).
  returned: success
  type: list
  elements: dict
  sample:
    - id: 23
      name: gpu-01
      os: linux
      status: online
      busy: false
      runner_group_id: 1
      labels:
        - {id: 5, name: self-hosted, type: read-only}
        - {id: 7, name: X64, type: read-only}
        - {id: 21, name: gpu, type: custom}
runner:
  description:
    - The runner matching O(name) or O(runner_id); null when there is none or neither option was given.
  returned: success
  type: dict
  sample:
    id: 23
    name: gpu-01
    os: linux
    status: online
    busy: false
    runner_group_id: 1
    labels:
      - {id: 5, name: self-hosted, type: read-only}
total_count:
  description:
    - Number of runners in RV(runners).
  returned: success
  type: int
  sample: 250
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.inferno.runners.plugins.module_utils.github_runners import (
    RunnerInfoModule,
    runner_info_module_kwargs,
)


def main():
    module = AnsibleModule(**runner_info_module_kwargs())
    RunnerInfoModule(module).execute()


if __name__ == "__main__":
    main()
