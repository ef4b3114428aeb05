# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Real WireGuard tunnels between three network namespaces, configured by the collection's modules.

Keys come from inferno.runners.wireguard_key, peers from inferno.runners.wireguard_peer run through
the ansible CLI inside each namespace, so the live path (wg show, stripped config, wg syncconf) runs
against real wireguard-go interfaces. Nothing leaves the namespaces: every address is in 10.99.0.0/16
or fd99::/64 on veths joined by a bridge in a namespace of its own.
"""
from __future__ import annotations

import re
import subprocess
import time

import pytest

from wg_lab import Lab, missing_prerequisites, parse_ping

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(missing_prerequisites() is not None, reason=str(missing_prerequisites())),
]

# The tests print their figures (handshake time, packets sent and lost); run pytest with -s to see them.
PING_INTERVAL = 0.05
PING_COUNT = 200  # 10 seconds of pings: room for a module run of several seconds in the middle


def _wait(predicate, timeout, step=0.02):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    return predicate()


@pytest.fixture(scope='module')
def lab(tmp_path_factory):
    """A and B up and peered (A names B by its IPv6 underlay address, B names A by its IPv4 one); C up and knowing A, unknown to A."""
    lab = Lab(tmp_path_factory.mktemp('wg-lab'))
    try:
        lab.build()
        for node in lab.nodes.values():
            lab.bring_up(node)
        a, b, c = lab['a'], lab['b'], lab['c']
        psk = subprocess.run(['wg', 'genpsk'], capture_output=True, text=True, check=True, timeout=10).stdout.strip()
        psk_file = c.dir / 'a.psk'
        psk_file.write_text(psk + '\n')
        psk_file.chmod(0o600)
        lab.psk = psk

        result, dummy = a.module('wireguard_peer', {
            'path': str(a.config), 'public_key': b.public_key, 'allowed_ips': [b.tunnel + '/32'],
            'endpoint': '[%s]:51820' % b.underlay6, 'name': 'lab-b'})
        assert result['changed'] is True and result['applied'] is True, result
        result, dummy = b.module('wireguard_peer', {
            'path': str(b.config), 'exclusive': True,
            'peers': [{'public_key': a.public_key, 'allowed_ips': [a.tunnel + '/32'], 'endpoint': '%s:51820' % a.underlay}]})
        assert result['changed'] is True and result['applied'] is True, result
        result, dummy = c.module('wireguard_peer', {
            'path': str(c.config), 'public_key': a.public_key, 'allowed_ips': [a.tunnel + '/32'],
            'endpoint': '%s:51820' % a.underlay, 'preshared_key_file': str(psk_file), 'persistent_keepalive': 0})
        assert result['changed'] is True and result['applied'] is True, result
        yield lab
    finally:
        lab.destroy()


def test_handshake_and_ping_cross_the_tunnel(lab):
    a, b = lab['a'], lab['b']
    assert b.handshakes() == {a.public_key: 0}, 'B has peer A and no handshake yet'

    started = time.monotonic()
    first_ping = a.popen('ping', '-c', '1', '-W', '5', b.tunnel)
    seen = _wait(lambda: a.handshakes().get(b.public_key), timeout=10)
    handshake_seconds = time.monotonic() - started
    output = first_ping.communicate(timeout=10)[0]
    sent, received = parse_ping(a.run('ping', '-c', '5', '-i', '0.2', '-W', '2', b.tunnel, timeout=20).stdout)

    rtt = re.search(r'time=([0-9.]+ ms)', output)
    print('\nhandshake A->B seen %.0f ms after the first packet (IPv6 underlay endpoint); first ping RTT %s; '
          'then %d/%d replies' % (handshake_seconds * 1000, rtt.group(1) if rtt else 'none', received, sent))
    assert seen, 'no handshake between A and B within 10 s'
    assert b.handshakes()[a.public_key] > 0
    assert first_ping.returncode == 0, output
    assert (sent, received) == (5, 5)
    # A wrote to B's IPv6 endpoint, so B roamed from the IPv4 endpoint its file names to A's IPv6 address.
    assert b.wg_show('endpoints').split() == [a.public_key, '[%s]:51820' % a.underlay6]


def test_live_add_of_a_peer_keeps_the_running_session(lab):
    a, b, c = lab['a'], lab['b'], lab['c']
    reply = a.run('ping', '-c', '1', '-W', '5', b.tunnel, timeout=10, check=False)
    assert reply.returncode == 0, 'B must answer before the live change: ' + reply.stdout
    handshake_before = a.handshakes()[b.public_key]
    transfer_before = a.transfer()[b.public_key]
    port_before = a.wg_show('listen-port').strip()

    pinging = a.popen('ping', '-i', str(PING_INTERVAL), '-c', str(PING_COUNT), '-W', '1', b.tunnel)
    ping_started = time.monotonic()
    time.sleep(1)
    result, output = a.module('wireguard_peer', {
        'path': str(a.config), 'peers': [{'public_key': c.public_key, 'allowed_ips': [c.tunnel + '/32'],
                                          'endpoint': '%s:51820' % c.underlay, 'preshared_key': lab.psk, 'name': 'lab-c'}]},
        diff=True)
    module_done = time.monotonic() - ping_started
    c_sent, c_received = parse_ping(a.run('ping', '-c', '5', '-i', '0.2', '-W', '2', c.tunnel, timeout=20, check=False).stdout)
    b_output = pinging.communicate(timeout=PING_COUNT * PING_INTERVAL + 30)[0]
    sent, received = parse_ping(b_output)

    print('\nlive add of C on A: module took %.2f s (ansible CLI), ended %.2f s into a %.0f s ping window; '
          'ping A->B: %d sent, %d lost; ping A->C after: %d/%d replies'
          % (result['_seconds'], module_done, PING_COUNT * PING_INTERVAL, sent, sent - received, c_received, c_sent))
    assert result['changed'] is True and result['applied'] is True and result['added'] == [c.public_key], result
    assert module_done < PING_COUNT * PING_INTERVAL - 1, 'the module ran past the ping window; the loss figure proves nothing'
    assert (sent, received) == (PING_COUNT, PING_COUNT), b_output
    assert c_received == c_sent == 5
    # The session to B was not torn down: same handshake (unless the 2-minute rekey came due), counters kept.
    if time.time() - handshake_before < 100:
        assert a.handshakes()[b.public_key] == handshake_before
    assert all(after >= before for after, before in zip(a.transfer()[b.public_key], transfer_before))
    assert a.wg_show('listen-port').strip() == port_before == '51820'
    # Live state carries the preshared key, the file does too, and no output shows it.
    assert c.public_key + '\t' + lab.psk in a.wg_show('preshared-keys')
    assert 'PresharedKey = %s' % lab.psk in a.config.read_text()
    assert '+PresharedKey = <redacted>' in output, output
    assert lab.psk not in output and a.key.read_text().strip() not in output


def test_live_remove_of_a_peer(lab):
    a, c = lab['a'], lab['c']
    a.module('wireguard_peer', {'path': str(a.config), 'public_key': c.public_key, 'allowed_ips': [c.tunnel + '/32'],
                                'endpoint': '%s:51820' % c.underlay, 'preshared_key': lab.psk})

    result, dummy = a.module('wireguard_peer', {'path': str(a.config), 'public_key': c.public_key, 'state': 'absent'})
    again, dummy = a.module('wireguard_peer', {'path': str(a.config), 'public_key': c.public_key, 'state': 'absent'})
    reply = a.run('ping', '-c', '2', '-i', '0.2', '-W', '1', c.tunnel, timeout=10, check=False)

    assert result['changed'] is True and result['applied'] is True and result['removed'] == [c.public_key]
    assert again['changed'] is False and again['applied'] is False
    assert c.public_key not in a.wg_show('peers') and c.public_key not in a.config.read_text()
    assert reply.returncode != 0, 'C still answers through A after its removal'
    assert a.run('ping', '-c', '1', '-W', '2', lab['b'].tunnel, timeout=10, check=False).returncode == 0
