#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

DOCUMENTATION = r"""
---
module: wireguard_key
short_description: Make sure a host has a WireGuard key pair and return its public key
version_added: 0.1.0
author: inferno.runners developers (@inferno-runners)
description:
  - Generates a WireGuard private key on the managed host when O(path) does not exist, and
    returns the public key that belongs to it. The private key never leaves the host; it is not
    returned, logged or shown in diffs.
  - An existing key is kept; the task then only derives the public key and reports no change.
    A file at O(path) that does not hold a key fails the task and is left untouched.
  - The key file holds the key on one line, as C(wg genkey) writes it. A new file gets mode
    C(0600) and belongs to the user the module runs as; missing directories are created with mode
    C(0700). An existing key file that group or others can read is set to C(0600).
  - Keys are generated and derived with C(wg genkey) and C(wg pubkey) (wireguard-tools) when C(wg)
    is installed, else with the Python C(cryptography) library (X25519, clamped like C(wg genkey)
    clamps it). See O(backend).
  - With O(config), the module also writes the key as C(PrivateKey) into the C([Interface]) section
    of the C(wg-quick) configuration, so C(wg-quick up), C(wg-quick strip) and C(wg syncconf) all
    see it; a key that only a C(PostUp) hook loads is lost by C(wg syncconf <(wg-quick strip wg0)).
extends_documentation_fragment:
  - inferno.runners.attributes
attributes:
  check_mode:
    support: full
    details:
      - Reports whether a key would be created and writes nothing. When a key would be generated,
        RV(public_key) is not returned, since the key does not exist yet.
  diff_mode:
    support: full
    details:
      - Shows the key file appearing or its mode changing, and the configuration before and after
        with every C(PrivateKey) and C(PresharedKey) value replaced by C(<redacted>).
options:
  path:
    description:
      - The private key file. A symbolic link is followed.
    type: path
    default: /etc/wireguard/wg0.key
  config:
    description:
      - A C(wg-quick) configuration (such as C(/etc/wireguard/wg0.conf)) whose C([Interface]) section
        should carry the key as C(PrivateKey).
      - A missing file is created (mode C(0600)); a missing C([Interface]) section is added above
        the first section; everything else in the file stays as it was.
      - When O(path) does not exist but the configuration already has a C(PrivateKey), that key is
        written to O(path) instead of generating a new one, so a host keeps its identity.
      - When both hold a key and the keys differ, the task fails rather than cut the host off its
        peers.
    type: path
  backend:
    description:
      - How keys are generated and public keys derived.
      - V(auto) uses C(wg) when it is on the host, else C(cryptography).
      - V(wg) uses C(wg genkey) and C(wg pubkey); the private key goes to C(wg pubkey) on standard
        input, never on the command line.
      - V(cryptography) uses the Python library, which must be installed for the Python running the
        module.
    type: str
    choices: [auto, wg, cryptography]
    default: auto
requirements:
  - C(wg) from wireguard-tools, or the Python library C(cryptography).
notes:
  - To rotate a key, move the key file away (and remove C(PrivateKey) from O(config)), then run the
    task again.
seealso:
  - module: inferno.runners.wireguard_peer
  - name: wg(8)
    description: C(wg genkey) and C(wg pubkey).
    link: https://git.zx2c4.com/wireguard-tools/about/src/man/wg.8
"""

EXAMPLES = r"""
- name: Make sure the host has a WireGuard key
  inferno.runners.wireguard_key:
  register: wireguard_key

- name: Keep the key in wg0.conf as well, where wg-quick and wg syncconf read it
  inferno.runners.wireguard_key:
    path: /etc/wireguard/wg0.key
    config: /etc/wireguard/wg0.conf
  register: wireguard_key

- name: Publish the public key for the other members of the mesh
  ansible.builtin.set_fact:
    wireguard_public_key: "{{ wireguard_key.public_key }}"

- name: Generate with the Python library on a host without wireguard-tools
  inferno.runners.wireguard_key:
    path: /etc/wireguard/mesh.key
    backend: cryptography
"""

RETURN = r"""
public_key:
  description: The public key of the host, base64 as C(wg pubkey) prints it.
  returned: always, except in check mode when a key would be generated
  type: str
  sample: xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=
path:
  description: The key file, with symbolic links resolved.
  returned: always
  type: str
  sample: /etc/wireguard/wg0.key
generated:
  description: Whether a new key was (or, in check mode, would be) generated.
  returned: always
  type: bool
  sample: false
config_changed:
  description: Whether O(config) was (or, in check mode, would be) changed.
  returned: always
  type: bool
  sample: false
backend:
  description:
    - The backend that generated or derived the key; V(null) in check mode when a key would be
      generated.
  returned: always
  type: str
  sample: wg
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.inferno.runners.plugins.module_utils.wireguard import (
    KEY_ARGUMENT_SPEC,
    WireGuardKey,
)


def main():
    module = AnsibleModule(argument_spec=KEY_ARGUMENT_SPEC, supports_check_mode=True)
    WireGuardKey(module).run()


if __name__ == '__main__':
    main()
