#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

DOCUMENTATION = r"""
module: github_runner
short_description: Remove a GitHub self-hosted runner or keep its custom labels in sync
version_added: 0.1.0
author: inferno.runners developers (@inferno-runners)
description:
  - Manages a runner that is already registered in a repository, organization or enterprise, found by O(name) or
    O(runner_id).
  - O(state=absent) deletes the runner from GitHub; a runner that is not there is fine.
  - O(state=present) with O(labels) makes the runner's custom labels match O(labels) (or, with
    O(append_labels=true), adds the missing ones). The runner keeps its ID. O(state=present) fails when the runner
    does not exist, because runners are created by C(config.sh) with a token from
    M(inferno.runners.github_runner_token), or as JIT runners by that module.
extends_documentation_fragment:
  - inferno.runners.attributes
  - inferno.runners.github
attributes:
  check_mode:
    support: full
    details:
      - Nothing is deleted or relabelled in check mode; the module reports what it would change.
  diff_mode:
    support: full
    details:
      - The diff shows the runner's state and sorted custom labels before and after.
options:
  name:
    description:
      - Name of the runner. One of O(name) and O(runner_id) is required.
    type: str
  runner_id:
    description:
      - ID of the runner.
    type: int
  state:
    description:
      - V(absent) deletes the runner. V(present) requires it to exist and applies O(labels).
    type: str
    choices: [present, absent]
    default: present
  labels:
    description:
      - Custom labels the runner should have. Labels differing only in case are the same label, as on GitHub.
      - The default labels GitHub gives every runner (C(self-hosted), the OS and the architecture) are read-only;
        listing them here is allowed and changes nothing.
      - An empty list removes every custom label (unless O(append_labels=true)). Omit O(labels) to leave them alone.
    type: list
    elements: str
  append_labels:
    description:
      - Only add the labels in O(labels) that the runner lacks; keep the others.
    type: bool
    default: false
seealso:
  - module: inferno.runners.github_runner_info
  - module: inferno.runners.github_runner_token
"""

EXAMPLES = r"""
- name: Keep the runner's custom labels as the inventory says
  inferno.runners.github_runner:
    repository: octo-org/octo-repo
    name: "{{ inventory_hostname }}"
    labels: "{{ runner_labels }}"
    token: "{{ github_admin_token }}"
  delegate_to: localhost

- name: Add the h100 label without touching the others
  inferno.runners.github_runner:
    organization: octo-org
    name: gpu-01
    labels: [h100]
    append_labels: true
    app_id: "123456"
    app_installation_id: 7890123
    app_private_key_path: /etc/ansible/github-app.pem
  delegate_to: localhost

- name: Delete a runner whose host is gone
  inferno.runners.github_runner:
    organization: octo-org
    name: gpu-07
    state: absent
    token: "{{ github_admin_token }}"
  delegate_to: localhost
"""

RETURN = r"""
runner:
  description:
    - The runner after the change (predicted in check mode). For O(state=absent), the runner as it was before
      deletion, or null when it was not registered.
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
      - {id: 21, name: gpu, type: custom}
msg:
  description:
    - What the module did, or would do in check mode.
  returned: success
  type: str
  sample: custom labels set to [gpu, h100] on runner 23 (gpu-01)
diff:
  description:
    - Runner state and sorted custom labels before and after, when run with C(--diff) and something changes.
  returned: changed and diff mode
  type: dict
  sample:
    before: {state: present, id: 23, name: gpu-01, labels: [gpu]}
    after: {state: present, id: 23, name: gpu-01, labels: [gpu, h100]}
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.inferno.runners.plugins.module_utils.github_runners import (
    RunnerModule,
    runner_module_kwargs,
)


def main():
    module = AnsibleModule(**runner_module_kwargs())
    RunnerModule(module).execute()


if __name__ == "__main__":
    main()
