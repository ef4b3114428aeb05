#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

DOCUMENTATION = r"""
---
module: wireguard_peer
short_description: Manage the peers of a wg-quick WireGuard configuration and apply them live
version_added: 0.1.0
author: inferno.runners developers (@inferno-runners)
description:
  - Adds, updates or removes C([Peer]) sections of a C(wg-quick) configuration file such as
    C(/etc/wireguard/wg0.conf). Peers are identified by their public key.
  - Only the peers this task names are touched. The C([Interface]) section, other peers, comments,
    blank lines, the case of keys and the hooks (C(PostUp) and the like) stay byte for byte as they
    were. A changed peer keeps its lines and comments; several C(AllowedIPs) lines of one peer are
    merged into the first of them only when its allowed IPs change.
  - A setting left out of the task is left as the file has it. An empty value removes it
    (V(endpoint=""), V(preshared_key=""), V(name=""), V(allowed_ips=[]); V(persistent_keepalive=0)
    removes the C(PersistentKeepalive) line, which means the same as C(0) or C(off)).
  - New peers are appended at the end of the file, separated by a blank line, in the order
    C(# Name), C(PublicKey), C(PresharedKey), C(AllowedIPs), C(Endpoint), C(PersistentKeepalive).
  - The file is replaced atomically and keeps its mode and owner. A file the module creates gets
    mode C(0600) and belongs to the user the module runs as. A missing file is created holding only
    peers; its directory must exist.
  - When the interface is up, the change is applied live with C(wg syncconf) (see O(apply)), which
    adds, changes and removes peers without disturbing the sessions of the others.
extends_documentation_fragment:
  - inferno.runners.attributes
attributes:
  check_mode:
    support: full
    details:
      - Writes nothing and applies nothing to the interface. C(wg show) may still run to find out
        whether the interface is up.
  diff_mode:
    support: full
    details:
      - The diff shows the whole file before and after, with the value of every C(PrivateKey) and
        C(PresharedKey) line replaced by C(<redacted>). A change of only a preshared key therefore
        shows no changed line; RV(updated) names it.
options:
  path:
    description:
      - The C(wg-quick) configuration file. A symbolic link is followed and its target edited.
    type: path
    default: /etc/wireguard/wg0.conf
  interface:
    description:
      - The WireGuard interface the file configures, used to apply changes live.
      - Defaults to the file name without C(.conf), as C(wg-quick) derives it (V(wg0) for
        C(/etc/wireguard/wg0.conf)).
    type: str
  state:
    description:
      - V(present) adds the peers or brings them in line with the task; V(absent) removes them.
    type: str
    choices: [present, absent]
    default: present
  public_key:
    description:
      - Public key of the one peer this task manages (base64 of 32 bytes, as C(wg pubkey) prints).
      - Exactly one of O(public_key) and O(peers) is required.
    type: str
  allowed_ips:
    description:
      - Networks routed to the peer, IPv4 or IPv6 in CIDR notation (V(10.99.0.2/32),
        V(fd99::/64)). An address without a prefix length means one host.
      - Host bits must be zero (V(10.99.0.1/24) is refused; the network is V(10.99.0.0/24)).
      - The order does not matter; the same networks in another order are no change.
    type: list
    elements: str
  endpoint:
    description:
      - Where the peer is reached, as V(host:port); an IPv6 address goes in brackets, as
        V([2001:db8::1]:51820). The port is from 1 to 65535.
    type: str
  persistent_keepalive:
    description:
      - Seconds between keepalive packets, from 0 to 65535; V(0) turns them off.
    type: int
  preshared_key:
    description:
      - Preshared key shared with this peer only (as C(wg genpsk) prints), for post-quantum
        resistance. Never logged, returned or shown in diffs.
      - Mutually exclusive with O(preshared_key_file).
    type: str
  preshared_key_file:
    description:
      - A file on the managed host holding the preshared key.
      - C(wg-quick) accepts only a value for C(PresharedKey), so the module reads the file on the
        host and writes its value into the configuration; the key never travels to the
        controller. The file must hold one key (base64 of 32 bytes).
    type: path
  name:
    description:
      - A description of the peer, kept as a comment line C(# Name = <name>) directly under its
        C([Peer]) header, where C(wg) ignores it and a reader of the file finds it. A peer's name
        comment is recognised anywhere in its section.
    type: str
  peers:
    description:
      - Several peers in one task, each with the suboptions of the single-peer form. The file is
        written once and applied live once.
      - Use this form with O(exclusive=true) to make the file hold exactly these peers; a role for
        a mesh builds the list from the inventory and calls the module once per host.
      - Mutually exclusive with O(public_key) and the per-peer options at the top level.
    type: list
    elements: dict
    suboptions:
      public_key:
        description: Public key of the peer.
        type: str
        required: true
      allowed_ips:
        description: As O(allowed_ips).
        type: list
        elements: str
      endpoint:
        description: As O(endpoint).
        type: str
      persistent_keepalive:
        description: As O(persistent_keepalive).
        type: int
      preshared_key:
        description: As O(preshared_key).
        type: str
      preshared_key_file:
        description: As O(preshared_key_file).
        type: path
      name:
        description: As O(name).
        type: str
  exclusive:
    description:
      - Remove every peer of the file that O(peers) does not list, including sections without a
        valid public key.
      - Needs O(peers). With O(public_key), every iteration of a loop would remove the peers the
        other iterations added, so that combination is refused.
      - Build O(peers) from inventory data (group members and their public keys), not from the
        hosts of the play; otherwise running with C(--limit) removes the peers of the hosts left
        out.
    type: bool
    default: false
  apply:
    description:
      - Whether to apply a changed file to the running interface with C(wg syncconf).
      - V(auto) applies it when the interface is up (C(wg show <interface>) succeeds) and only
        writes the file otherwise; C(wg-quick up) reads it later.
      - V(always) fails when the interface is not up (or C(wg) is missing), even when the file
        needs no change, so a play learns that the change is not live.
      - V(never) only writes the file.
      - The file is applied the way C(wg syncconf <interface> <(wg-quick strip <interface>)) does,
        with the configuration stripped of the C(wg-quick)-only keys (C(Address), C(DNS), C(MTU),
        C(Table), C(PreUp), C(PostUp), C(PreDown), C(PostDown), C(SaveConfig)) by the module
        itself, through a C(0600) temporary file removed afterwards. When the file's
        C([Interface]) does not set C(PrivateKey), C(ListenPort) or C(FwMark), the running
        interface's values are carried over, so a key loaded by a C(PostUp) hook is not wiped and
        the port does not move.
      - The interface is changed before the file is replaced, so a failed C(wg syncconf) leaves the
        file unchanged and the next run tries again.
    type: str
    choices: [auto, always, never]
    default: auto
notes:
  - WireGuard keys must be base64 of exactly 32 bytes and are compared by the bytes they encode.
    Setting names and section headers in the file (C(PublicKey), C(allowedips), C([peer])) are
    matched regardless of case, as C(wg) and C(wg-quick) read them.
  - When the file repeats a peer, its first section is kept and updated and the others are removed.
  - With C(SaveConfig = true), C(wg-quick down) writes the running configuration over the file; the
    module warns when a change was written with O(apply=never) while the interface is up.
  - Requires C(wg) (wireguard-tools) on the host only to apply changes live.
seealso:
  - module: inferno.runners.wireguard_key
  - name: wg(8)
    description: C(wg syncconf) and the configuration file format.
    link: https://git.zx2c4.com/wireguard-tools/about/src/man/wg.8
  - name: wg-quick(8)
    description: The keys C(wg-quick) adds to the format.
    link: https://git.zx2c4.com/wireguard-tools/about/src/man/wg-quick.8
"""

EXAMPLES = r"""
- name: Add the compute node as a peer and apply it to the running wg0
  inferno.runners.wireguard_peer:
    public_key: xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=
    allowed_ips:
      - 10.99.0.11/32
      - fd99::11/128
    endpoint: compute-1.example.net:51820
    persistent_keepalive: 25
    name: inferno-host-compute-1

- name: Reach a peer over IPv6 with a preshared key kept on the host
  inferno.runners.wireguard_peer:
    path: /etc/wireguard/mesh.conf
    public_key: TrMvSoP4jYQlY6RIzBgbssQqY3vxI2Pi+y71lOWWXX0=
    allowed_ips: [10.99.0.12/32]
    endpoint: "[2001:db8::12]:51820"
    preshared_key_file: /etc/wireguard/psk/compute-2.psk

- name: Make wg0 hold exactly the other members of the mesh, in one write and one live apply
  inferno.runners.wireguard_peer:
    exclusive: true
    peers: >-
      {{ groups['wireguard_mesh'] | difference([inventory_hostname])
         | map('extract', hostvars)
         | map(attribute='wireguard_peer_entry') | list }}

- name: Remove a retired host
  inferno.runners.wireguard_peer:
    public_key: HIgo9xNzJMWLKASShiTqIybxZ0U3wGLiUeJ1PKf8ykw=
    state: absent

- name: Change only the file; the interface picks it up at the next wg-quick up
  inferno.runners.wireguard_peer:
    public_key: xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=
    allowed_ips: [10.99.0.11/32]
    apply: never
"""

RETURN = r"""
path:
  description: The file edited, with symbolic links resolved.
  returned: always
  type: str
  sample: /etc/wireguard/wg0.conf
interface:
  description: The interface the file configures.
  returned: always
  type: str
  sample: wg0
applied:
  description:
    - Whether the change was applied to the running interface with C(wg syncconf).
    - V(false) when nothing changed, in check mode, with O(apply=never) and when the interface is
      not up.
  returned: always
  type: bool
  sample: true
added:
  description: Public keys of the peers added.
  returned: always
  type: list
  elements: str
  sample: [xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=]
updated:
  description: The peers changed, each with the settings that changed.
  returned: always
  type: list
  elements: dict
  contains:
    public_key:
      description: Public key of the peer.
      type: str
      sample: xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=
    changed:
      description:
        - Names of the options that changed; V(duplicates) when repeated sections of the peer were
          removed.
      type: list
      elements: str
      sample: [allowed_ips, endpoint]
  sample:
    - public_key: xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=
      changed: [allowed_ips, endpoint]
removed:
  description: Public keys of the peers removed.
  returned: always
  type: list
  elements: str
  sample: [HIgo9xNzJMWLKASShiTqIybxZ0U3wGLiUeJ1PKf8ykw=]
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.inferno.runners.plugins.module_utils.wireguard import (
    PEER_ARGUMENT_SPEC,
    PEER_MUTUALLY_EXCLUSIVE,
    PEER_REQUIRED_ONE_OF,
    WireGuardPeers,
)


def main():
    module = AnsibleModule(
        argument_spec=PEER_ARGUMENT_SPEC,
        mutually_exclusive=PEER_MUTUALLY_EXCLUSIVE,
        required_one_of=PEER_REQUIRED_ONE_OF,
        supports_check_mode=True,
    )
    WireGuardPeers(module).run()


if __name__ == '__main__':
    main()
