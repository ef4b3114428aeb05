# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from ansible_collections.inferno.runners.plugins.module_utils import wireguard
from ansible_collections.inferno.runners.plugins.module_utils.wireguard import (
    WgConfig,
    WireGuardOptionError,
    canonical_allowed_ips,
    canonical_key,
    interface_name,
    parse_endpoint,
    redact,
)

FIXTURES = Path(__file__).resolve().parents[2] / 'fixtures' / 'wireguard'
CONFIGS = sorted(path.name for path in FIXTURES.glob('*.conf'))
SERVER_PRIVATE = '8E+c5VE9VouhR4g6y1RFbSXo2kXYm0t+Qnv0lAHnNEk='
PSK = 'Oh4Qf1c05yH28lrPU0Ik9bO12JLapAgePRNfY2tDifQ='
ALICE = '6FZQjUNpr8PmLT7xI1dHSDpT/e24+wZ9/nIhPplwiXw='
COMPUTE_1 = 'cfNRIclYh7K7jY88s2uav72vME1cDHjLC0i0qHqoVng='
OFFICE = 'A76g11yLFAj69hTQJ/K4sYn7SCgi8g8jOoFDaLuIIX4='


def _text(name):
    return (FIXTURES / name).read_bytes().decode('utf-8', 'surrogateescape')


def _peer(config, key):
    return next(section for section in config.peers() if section.public_key() == key)


@pytest.mark.parametrize('name', CONFIGS)
def test_parse_render_round_trip_is_byte_identical(name):
    text = _text(name)

    assert WgConfig.parse(text).render() == text


def test_round_trip_keeps_bytes_that_are_not_utf8():
    text = b'[Interface]\n# caf\xe9 in latin-1\nListenPort = 51820\n'.decode('utf-8', 'surrogateescape')

    assert WgConfig.parse(text).render().encode('utf-8', 'surrogateescape') == \
        b'[Interface]\n# caf\xe9 in latin-1\nListenPort = 51820\n'


def test_parser_reads_peers_like_wg():
    server = WgConfig.parse(_text('server.conf'))
    mesh = WgConfig.parse(_text('mesh.conf'))

    assert [peer.public_key() for peer in server.peers()] == [ALICE, COMPUTE_1, OFFICE]
    assert _peer(server, ALICE).allowed_ips() == ['10.99.0.2/32', 'fd99::2/128']
    assert _peer(server, COMPUTE_1).allowed_ips() == ['10.99.0.11/32', 'fd99::11/128', '192.168.50.0/24']
    assert _peer(server, COMPUTE_1).name() == 'inferno-host-compute-1'
    assert _peer(server, COMPUTE_1).last('endpoint') == '[2001:db8:10::11]:51820'
    assert _peer(server, OFFICE).last('endpoint') == 'office.example.net:51820'
    assert [peer.allowed_ips() for peer in mesh.peers()] == [['10.99.1.1/32'], ['10.99.1.2/32']]
    assert mesh.interface().last('listenport') == '51821'


def test_comment_above_a_peer_belongs_to_it_and_a_commented_out_peer_to_nobody():
    server = WgConfig.parse(_text('server.conf'))

    server.remove(_peer(server, OFFICE))
    rendered = server.render()

    assert '# office router' not in rendered and OFFICE not in rendered
    assert rendered.endswith('Endpoint = [2001:db8:10::11]:51820\nPersistentKeepalive = 25\n\n'
                             '# disabled until the new switch arrives:\n#[Peer]\n'
                             '#PublicKey = bKDdyHCZlSGMxKwCJRD/wrzh9O0xZIuq5ZcZT0UUiUk=\n#AllowedIPs = 10.99.0.30/32\n')


def test_removing_a_peer_leaves_one_blank_line_between_sections():
    text = _text('server.conf')
    server = WgConfig.parse(text)

    server.remove(_peer(server, ALICE))

    alice = ("# alice's laptop (added 2024-03-02)\n[Peer]\nPublicKey = %s\nPresharedKey = %s\n"
             "AllowedIPs = 10.99.0.2/32\nAllowedIPs = fd99::2/128\n\n" % (ALICE, PSK))
    assert server.render() == text.replace(alice, '')
    assert '\n\n\n' not in server.render()


def test_removing_the_first_section_leaves_no_leading_blank_line():
    config = WgConfig.parse('[Peer]\nPublicKey = %s\n\n[Peer]\nPublicKey = %s\n' % (ALICE, OFFICE))

    config.remove(config.peers()[0])

    assert config.render() == '[Peer]\nPublicKey = %s\n' % OFFICE


def test_removing_the_last_peer_takes_its_separator():
    text = _text('client.conf')
    client = WgConfig.parse(text)

    client.remove(client.peers()[0])

    assert client.render() == text.split('\n[Peer]')[0]
    assert client.render().endswith('FwMark = 0xca6c\n')


def test_appending_to_a_file_without_final_newline_terminates_the_last_line_first():
    text = _text('mesh.conf')
    mesh = WgConfig.parse(text)
    section = wireguard._Section('[Peer]\n', ['PublicKey = %s\n' % ALICE])

    mesh.append(section)

    assert mesh.render() == text + '\n\n[Peer]\nPublicKey = %s\n' % ALICE


def test_crlf_files_get_crlf_lines():
    config = WgConfig.parse(_text('windows.conf'))
    peer = config.peers()[0]

    peer.set('PersistentKeepalive', '25', config.newline)
    peer.set_name('office', config.newline)

    assert config.newline == '\r\n'
    assert config.render().endswith(
        '[Peer]\r\n# Name = office\r\nPublicKey = zkJNS6TugQMcB2FBc6KHTg28BUjM4XMe9dAKgZwqrlk=\r\n'
        'AllowedIPs = 10.99.2.0/24\r\nEndpoint = 198.51.100.7:51820\r\nPersistentKeepalive = 25\r\n')


def test_replacing_a_value_keeps_indent_key_case_and_inline_comment():
    config = WgConfig.parse(_text('mesh.conf'))
    node2 = config.peers()[1]
    server = WgConfig.parse(_text('server.conf'))

    node2.set('PublicKey', COMPUTE_1, '\n')
    _peer(server, OFFICE).set('Endpoint', 'office2.example.net:51820', '\n')

    assert '  PUBLICKEY  =  %s  # node 2\n' % COMPUTE_1 in config.render()
    assert 'Endpoint = office2.example.net:51820 # dynamic DNS\n' in server.render()


def test_several_allowed_ips_lines_merge_into_the_first():
    server = WgConfig.parse(_text('server.conf'))
    compute = _peer(server, COMPUTE_1)

    compute.set_allowed_ips(['10.99.0.11/32', '192.168.50.0/24'], '\n')

    assert ''.join(compute.body) == (
        '# Name = inferno-host-compute-1\nPublicKey = %s\nAllowedIPs = 10.99.0.11/32, 192.168.50.0/24\n'
        '# the lab behind compute-1\nEndpoint = [2001:db8:10::11]:51820\nPersistentKeepalive = 25\n' % COMPUTE_1)


def test_strip_drops_wg_quick_keys_of_the_interface_only():
    stripped = WgConfig.parse(_text('client.conf')).stripped()

    assert stripped == (
        '[Interface]\nPrivateKey = UDACVCEv8TpzHvSdEu1ZHuLyTRQJYtd0fHW+Y6Hmc2Q=\nFwMark = 0xca6c\n\n'
        '[Peer]\nPublicKey = 18PSPuN+LdvP0rxd9/QUtfhw9iH0eyV1YUTsjdEm4iw=\nPresharedKey = %s\n'
        'AllowedIPs = 0.0.0.0/0, ::/0\nEndpoint = [2001:db8::1]:51820\nPersistentKeepalive = 25\n' % PSK)


@pytest.mark.skipif(shutil.which('wg-quick') is None or os.geteuid() != 0,
                    reason='needs wg-quick (wireguard-tools) and root, since wg-quick re-runs itself with sudo')
@pytest.mark.parametrize('name', CONFIGS)
def test_strip_matches_wg_quick_strip(name, tmp_path):
    # wg-quick reads lines with `read -r`, which trims them, and echo adds a final newline.
    path = tmp_path / name
    path.write_bytes((FIXTURES / name).read_bytes())
    path.chmod(0o600)
    theirs = subprocess.run(['wg-quick', 'strip', str(path)], check=True, capture_output=True, text=True).stdout

    ours = WgConfig.parse(_text(name)).stripped()

    def lines(text):
        return [line.strip() for line in text.rstrip('\n').split('\n')]

    assert lines(ours) == lines(theirs)


def test_strip_carries_over_the_running_key_only_where_the_file_has_none():
    live = {'PrivateKey': SERVER_PRIVATE, 'ListenPort': '40000', 'FwMark': '0x1'}

    hook = WgConfig.parse(_text('postup_key.conf')).stripped(live)
    client = WgConfig.parse(_text('client.conf')).stripped(live)
    peers_only = WgConfig.parse('[Peer]\nPublicKey = %s\n' % ALICE).stripped({'PrivateKey': SERVER_PRIVATE})

    assert hook.splitlines()[1:5] == ['[Interface]', 'FwMark = 0x1', 'PrivateKey = %s' % SERVER_PRIVATE, 'ListenPort = 51822']
    assert 'PostUp' not in hook and 'Address' not in hook
    assert client.count('PrivateKey') == 1 and 'ListenPort = 40000' in client and 'FwMark = 0x1' not in client
    assert peers_only == '[Interface]\nPrivateKey = %s\n[Peer]\nPublicKey = %s\n' % (SERVER_PRIVATE, ALICE)


@pytest.mark.parametrize('name', CONFIGS)
def test_redact_hides_every_secret_and_keeps_every_other_line(name):
    text = _text(name)
    secrets = [line.split('=', 1)[1].split('#')[0].strip() for line in text.splitlines()
               if line.strip().lower().startswith(('privatekey', 'presharedkey'))]

    redacted = redact(text)

    assert all(secret not in redacted for secret in secrets)
    assert len(redacted.splitlines()) == len(text.splitlines())
    changed = [(a, b) for a, b in zip(text.splitlines(True), redacted.splitlines(True)) if a != b]
    assert len(changed) == len(secrets)
    assert all('<redacted>' in b for dummy, b in changed)


def test_redact_mixed_case_key():
    assert redact('privatekey=%s\n' % SERVER_PRIVATE) == 'privatekey= <redacted>\n'


@pytest.mark.parametrize('value', [ALICE, ' %s\n' % ALICE])
def test_canonical_key_accepts_wg_keys(value):
    assert canonical_key(value, 'public_key') == ALICE


@pytest.mark.parametrize('value', [
    ALICE[:-1],                                   # 43 characters
    'A' * 43 + '=' + 'A',                         # too long
    ALICE.replace('6', '!'),                      # not base64
    'QUJD',                                       # 3 bytes
    '',
])
def test_canonical_key_rejects_and_names_the_option(value):
    with pytest.raises(WireGuardOptionError) as info:
        canonical_key(value, 'peers[2].public_key')

    assert str(info.value).startswith('peers[2].public_key: ')
    assert '32 bytes' in str(info.value)


def test_canonical_key_never_echoes_a_secret():
    with pytest.raises(WireGuardOptionError) as info:
        canonical_key(PSK[:-2] + '=', 'preshared_key', secret=True)

    assert PSK[:20] not in str(info.value)


def test_allowed_ips_are_canonical_and_deduplicated():
    values = ['10.99.0.2', 'FD99::2/128', '10.99.0.0/24, fd99::/64', '10.99.0.2/32']

    assert canonical_allowed_ips(values, 'allowed_ips') == ['10.99.0.2/32', 'fd99::2/128', '10.99.0.0/24', 'fd99::/64']


@pytest.mark.parametrize('value, problem', [
    ('10.99.0.1/24', 'host bits set; the network is 10.99.0.0/24'),
    ('10.99.0.0/33', 'not an IPv4 or IPv6 network'),
    ('10.99.0.256/32', 'not an IPv4 or IPv6 network'),
    ('fd99::1/129', 'not an IPv4 or IPv6 network'),
    ('compute-1', 'not an IPv4 or IPv6 network'),
    ('fe80::1%eth0/128', 'scope id'),
    ('10.99.0.1/32,', 'empty entry'),
])
def test_allowed_ips_errors_name_the_option(value, problem):
    with pytest.raises(WireGuardOptionError) as info:
        canonical_allowed_ips([value], 'allowed_ips')

    assert str(info.value).startswith('allowed_ips: ')
    assert problem in str(info.value)


@pytest.mark.parametrize('value, expected', [
    ('198.51.100.7:51820', ('198.51.100.7', 51820)),
    ('[2001:DB8::0:1]:1', ('2001:db8::1', 1)),
    ('Office.Example.net:65535', ('office.example.net', 65535)),
    ('compute-1:51820', ('compute-1', 51820)),
])
def test_endpoints(value, expected):
    assert parse_endpoint(value, 'endpoint') == expected


@pytest.mark.parametrize('value, problem', [
    ('198.51.100.7', 'not host:port'),
    ('198.51.100.7:0', 'port'),
    ('198.51.100.7:65536', 'port'),
    ('198.51.100.7:http', 'port'),
    ('2001:db8::1:51820', 'write it in brackets'),
    ('[2001:db8::1]51820', 'not [IPv6 address]:port'),
    ('[2001:db8::g]:51820', 'not an IPv6 address'),
    ('300.1.1.1:51820', 'not an IPv4 address or a host name'),
    ('bad_host!:51820', 'not an IPv4 address or a host name'),
    (':51820', 'not host:port'),
])
def test_endpoint_errors_name_the_option(value, problem):
    with pytest.raises(WireGuardOptionError) as info:
        parse_endpoint(value, 'peers[0].endpoint')

    assert str(info.value).startswith('peers[0].endpoint: ')
    assert problem in str(info.value)


def test_interface_name():
    assert interface_name('/etc/wireguard/wg0.conf', None) == 'wg0'
    assert interface_name('/srv/mesh-a.conf', None) == 'mesh-a'
    assert interface_name('/etc/wireguard/wg0.conf', 'wg7') == 'wg7'
    for path, interface in (('/etc/wireguard/wg0', None), ('/etc/a-name-far-too-long.conf', None), ('/x/wg0.conf', 'bad name')):
        with pytest.raises(WireGuardOptionError) as info:
            interface_name(path, interface)
        assert str(info.value).startswith('interface: ')
