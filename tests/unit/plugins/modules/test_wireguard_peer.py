# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path

import pytest
from ansible.module_utils.testing import patch_module_args

from ansible_collections.inferno.runners.plugins.modules import wireguard_peer

FIXTURES = Path(__file__).resolve().parents[2] / 'fixtures' / 'wireguard'
SERVER_PRIVATE = '8E+c5VE9VouhR4g6y1RFbSXo2kXYm0t+Qnv0lAHnNEk='
CLIENT_PRIVATE = 'UDACVCEv8TpzHvSdEu1ZHuLyTRQJYtd0fHW+Y6Hmc2Q='
LIVE_PRIVATE = 'sFAPm6Nc6c7t6mvG9WRRpfh6ctgeQd0OfwHPlcLfh28='
PSK = 'Oh4Qf1c05yH28lrPU0Ik9bO12JLapAgePRNfY2tDifQ='
NEW_PSK = 'XHbZ2yT8Hw/mNek0rNQNdBtmsgVobjR2p6iYVixis8c='
ALICE = '6FZQjUNpr8PmLT7xI1dHSDpT/e24+wZ9/nIhPplwiXw='
COMPUTE_1 = 'cfNRIclYh7K7jY88s2uav72vME1cDHjLC0i0qHqoVng='
OFFICE = 'A76g11yLFAj69hTQJ/K4sYn7SCgi8g8jOoFDaLuIIX4='
NEW = 'DGHFnMwVtXKco2OjtcVyk16AAgEdQ/b3itaO0/QvkWY='
OTHER = 'rACpx+UZRBPp3yGKhkZheJzrxqNsbbZ1yD6PDINTV04='
HOOK_PEER = 'zxw9GVClAurHLcM0nq+w60NTnf55vQ1j2FJvQPxcjVk='


@pytest.fixture
def wg(tmp_path, monkeypatch):
    """State directory of the wg double (tests/unit/fixtures/wireguard/wg_double.py), which is the only wg on PATH."""
    bin_dir = tmp_path / 'bin'
    state = tmp_path / 'wg-state'
    bin_dir.mkdir()
    state.mkdir()
    wrapper = bin_dir / 'wg'
    wrapper.write_text('#!/bin/sh\nexec "%s" "%s" "$@"\n' % (sys.executable, FIXTURES / 'wg_double.py'))
    wrapper.chmod(0o755)
    monkeypatch.setenv('PATH', str(bin_dir))
    monkeypatch.setenv('WG_DOUBLE_STATE', str(state))
    return state


def _up(state, interface='wg0', **settings):
    (state / (interface + '.json')).write_text(json.dumps(settings))


def _calls(state):
    log = state / 'calls.log'
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def _syncs(state):
    return sorted(state.glob('syncconf-*.conf'))


def _conf(tmp_path, fixture, name='wg0.conf', mode=0o600):
    path = tmp_path / 'etc' / name
    path.parent.mkdir(exist_ok=True)
    path.write_bytes((FIXTURES / fixture).read_bytes())
    path.chmod(mode)
    return path


def _warnings(result):
    # ansible-core 2.19 returns warnings as structured events; older releases as plain strings.
    return [w if isinstance(w, str) else w['event']['msg'] for w in result.get('warnings', [])]


def _run(capsys, tmp_path, **args):
    moduletmp = tmp_path / 'moduletmp'
    moduletmp.mkdir(exist_ok=True)
    args.setdefault('_ansible_tmpdir', str(moduletmp))
    with patch_module_args(args):
        with pytest.raises(SystemExit) as info:
            wireguard_peer.main()
    out = capsys.readouterr().out
    result = json.loads(out)
    assert (info.value.code != 0) == bool(result.get('failed'))
    result['_stdout'] = out
    return result


def test_adds_a_peer_at_the_end_and_keeps_every_other_byte(capsys, tmp_path, wg):
    path = _conf(tmp_path, 'server.conf')
    before = path.read_text()

    result = _run(capsys, tmp_path, path=str(path), public_key=NEW, allowed_ips=['10.99.0.12/32', 'fd99::12'],
                  endpoint='[2001:db8::12]:51820', persistent_keepalive=25, name='inferno-host-compute-2')

    assert result['changed'] is True and result['added'] == [NEW]
    assert result['applied'] is False and result['interface'] == 'wg0'
    assert path.read_text() == before + (
        '\n[Peer]\n# Name = inferno-host-compute-2\nPublicKey = %s\nAllowedIPs = 10.99.0.12/32, fd99::12/128\n'
        'Endpoint = [2001:db8::12]:51820\nPersistentKeepalive = 25\n' % NEW)


def test_second_run_changes_nothing_even_with_networks_reordered(capsys, tmp_path, wg):
    path = _conf(tmp_path, 'server.conf')
    args = dict(path=str(path), public_key=NEW, allowed_ips=['10.99.0.12/32', 'fd99::12/128'], endpoint='Compute-2.example.net:51820')
    _run(capsys, tmp_path, **args)
    after_first = path.read_bytes()
    inode = path.stat().st_ino

    args['allowed_ips'] = ['fd99::12/128', '10.99.0.12']
    args['endpoint'] = 'compute-2.example.net:51820'
    result = _run(capsys, tmp_path, **args)

    assert result['changed'] is False and result['added'] == [] and result['updated'] == []
    assert path.read_bytes() == after_first and path.stat().st_ino == inode


def test_updates_one_peer_in_place_and_merges_its_allowed_ips_lines(capsys, tmp_path, wg):
    path = _conf(tmp_path, 'server.conf')
    before = path.read_text()

    result = _run(capsys, tmp_path, path=str(path), public_key=COMPUTE_1, allowed_ips=['10.99.0.11/32', '192.168.60.0/24'],
                  endpoint='[2001:db8:10::99]:51820', persistent_keepalive=0, name='inferno-host-compute-1b')

    old = ('[Peer]\n# Name = inferno-host-compute-1\nPublicKey = %s\nAllowedIPs = 10.99.0.11/32, fd99::11/128\n'
           '# the lab behind compute-1\nAllowedIPs = 192.168.50.0/24\nEndpoint = [2001:db8:10::11]:51820\n'
           'PersistentKeepalive = 25\n' % COMPUTE_1)
    new = ('[Peer]\n# Name = inferno-host-compute-1b\nPublicKey = %s\nAllowedIPs = 10.99.0.11/32, 192.168.60.0/24\n'
           '# the lab behind compute-1\nEndpoint = [2001:db8:10::99]:51820\n' % COMPUTE_1)
    assert result['changed'] is True
    assert result['updated'] == [{'public_key': COMPUTE_1, 'changed': ['allowed_ips', 'endpoint', 'persistent_keepalive', 'name']}]
    assert path.read_text() == before.replace(old, new)


def test_a_peer_is_found_whatever_the_case_of_keys_and_headers(capsys, tmp_path, wg):
    path = _conf(tmp_path, 'mesh.conf')
    before = path.read_text()

    result = _run(capsys, tmp_path, path=str(path), public_key='JXiw7Wj+yArpYus/oyIgDMLSoePGy/XD6b04VGWgrF0=',
                  allowed_ips=['10.99.1.2/32', '10.99.9.0/24'])

    assert result['added'] == [] and result['updated'][0]['changed'] == ['allowed_ips']
    assert path.read_text() == before.replace('  ALLOWEDIPS  =  10.99.1.2/32', '  ALLOWEDIPS  =  10.99.1.2/32, 10.99.9.0/24')


def test_removes_a_peer_with_its_comment(capsys, tmp_path, wg):
    path = _conf(tmp_path, 'server.conf')
    before = path.read_text()

    result = _run(capsys, tmp_path, path=str(path), public_key=OFFICE, state='absent')
    again = _run(capsys, tmp_path, path=str(path), public_key=OFFICE, state='absent')

    office = ('# office router, reachable by name\n[Peer]\nPublicKey = %s\nAllowedIPs = 10.99.0.20/32, 172.16.0.0/16\n'
              'Endpoint = office.example.net:51820 # dynamic DNS\n\n' % OFFICE)
    assert result['changed'] is True and result['removed'] == [OFFICE]
    assert path.read_text() == before.replace(office, '')
    assert again['changed'] is False and again['removed'] == []


def test_absent_on_a_missing_file_creates_nothing(capsys, tmp_path, wg):
    path = tmp_path / 'wg0.conf'

    result = _run(capsys, tmp_path, path=str(path), public_key=OFFICE, state='absent')

    assert result['changed'] is False and not path.exists()


def test_exclusive_keeps_only_the_listed_peers(capsys, tmp_path, wg):
    path = _conf(tmp_path, 'server.conf')
    before = path.read_text()

    result = _run(capsys, tmp_path, path=str(path), exclusive=True,
                  peers=[{'public_key': COMPUTE_1}, {'public_key': NEW, 'allowed_ips': ['10.99.0.12/32']}])

    assert sorted(result['removed']) == sorted([ALICE, OFFICE]) and result['added'] == [NEW]
    text = path.read_text()
    assert text.startswith(before.split("# alice's")[0])
    assert ALICE not in text and OFFICE not in text and "alice's laptop" not in text
    assert 'PublicKey = %s\nAllowedIPs = 10.99.0.11/32, fd99::11/128\n' % COMPUTE_1 in text
    assert '#[Peer]\n#PublicKey = bKDdyHCZlSGMxKwCJRD/wrzh9O0xZIuq5ZcZT0UUiUk=' in text
    assert text.endswith('\n[Peer]\nPublicKey = %s\nAllowedIPs = 10.99.0.12/32\n' % NEW)


def test_exclusive_with_an_empty_list_removes_every_peer(capsys, tmp_path, wg):
    path = _conf(tmp_path, 'client.conf')

    result = _run(capsys, tmp_path, path=str(path), exclusive=True, peers=[])

    assert result['changed'] is True and result['removed'] == ['18PSPuN+LdvP0rxd9/QUtfhw9iH0eyV1YUTsjdEm4iw=']
    assert path.read_text() == (FIXTURES / 'client.conf').read_text().split('\n[Peer]')[0]


def test_without_exclusive_a_peers_list_leaves_other_peers_alone(capsys, tmp_path, wg):
    path = _conf(tmp_path, 'server.conf')
    before = path.read_text()

    result = _run(capsys, tmp_path, path=str(path), peers=[{'public_key': NEW, 'allowed_ips': ['10.99.0.12/32']},
                                                           {'public_key': OTHER, 'allowed_ips': ['10.99.0.13/32']}])

    assert result['added'] == [NEW, OTHER] and result['removed'] == []
    assert path.read_text().startswith(before)


def test_duplicate_sections_of_one_peer_are_merged_into_the_first(capsys, tmp_path, wg):
    path = tmp_path / 'wg0.conf'
    path.write_text('[Peer]\nPublicKey = %s\nAllowedIPs = 10.0.0.1/32\n\n[Peer]\nPublicKey = %s\nAllowedIPs = 10.0.0.2/32\n'
                    % (ALICE, ALICE))

    result = _run(capsys, tmp_path, path=str(path), public_key=ALICE, allowed_ips=['10.0.0.1/32'])

    assert result['updated'] == [{'public_key': ALICE, 'changed': ['duplicates']}]
    assert path.read_text() == '[Peer]\nPublicKey = %s\nAllowedIPs = 10.0.0.1/32\n' % ALICE


@pytest.mark.parametrize('args, message', [
    (dict(public_key=NEW, allowed_ips=['10.99.0.300/32']), "allowed_ips: '10.99.0.300/32' is not an IPv4 or IPv6 network"),
    (dict(public_key=NEW, allowed_ips=['10.99.0.1/24']), 'allowed_ips: '),
    (dict(public_key=NEW[:-2]), 'public_key: '),
    (dict(public_key=NEW, endpoint='compute-2.example.net'), 'endpoint: '),
    (dict(public_key=NEW, endpoint='compute-2.example.net:0'), "endpoint: port '0' is not a number from 1 to 65535"),
    (dict(public_key=NEW, endpoint='compute-2.example.net:65536'), 'endpoint: port'),
    (dict(public_key=NEW, endpoint='2001:db8::1:51820'), 'endpoint: '),
    (dict(public_key=NEW, persistent_keepalive=65536), 'persistent_keepalive: '),
    (dict(public_key=NEW, preshared_key='bm90IGEga2V5'), 'preshared_key: '),
    (dict(public_key=NEW, name='two\nlines'), 'name: '),
    (dict(public_key=NEW, interface='wg 0'), 'interface: '),
    (dict(public_key=NEW, exclusive=True), 'exclusive: needs the peers list'),
    (dict(peers=[{'public_key': NEW}], exclusive=True, state='absent'), 'exclusive: '),
    (dict(peers=[{'public_key': NEW}, {'public_key': OTHER, 'endpoint': 'x:99999'}]), 'peers[1].endpoint: '),
    (dict(peers=[{'public_key': NEW}, {'public_key': NEW}]), 'peers[1].public_key: peer %s is already listed as peers[0]' % NEW),
])
def test_bad_input_fails_naming_the_option_and_writes_nothing(capsys, tmp_path, wg, args, message):
    path = _conf(tmp_path, 'server.conf')
    before = path.read_bytes()

    result = _run(capsys, tmp_path, path=str(path), **args)

    assert result['failed'] is True
    assert result['msg'].startswith(message)
    assert path.read_bytes() == before


def test_a_path_without_conf_needs_an_interface(capsys, tmp_path, wg):
    result = _run(capsys, tmp_path, path=str(tmp_path / 'wireguard'), public_key=NEW)

    assert result['failed'] is True and result['msg'].startswith('interface: cannot derive')


def test_diff_and_output_never_show_private_or_preshared_keys(capsys, tmp_path, wg):
    path = _conf(tmp_path, 'server.conf')
    psk_file = tmp_path / 'new.psk'
    psk_file.write_text(NEW_PSK + '\n')
    _up(wg, **{'private-key': LIVE_PRIVATE, 'listen-port': '51820'})

    result = _run(capsys, tmp_path, path=str(path), _ansible_diff=True, peers=[
        {'public_key': ALICE, 'preshared_key': NEW_PSK},
        {'public_key': COMPUTE_1, 'preshared_key_file': str(psk_file)},
        {'public_key': NEW, 'preshared_key': PSK, 'allowed_ips': ['10.99.0.12/32']},
    ])

    assert result['changed'] is True and result['applied'] is True
    for secret in (SERVER_PRIVATE, PSK, NEW_PSK, LIVE_PRIVATE):
        assert secret not in result['_stdout']
    diff = result['diff']
    assert 'PrivateKey = <redacted>' in diff['before'] and 'PrivateKey = <redacted>' in diff['after']
    assert diff['after'].count('PresharedKey = <redacted>') == 3
    assert 'PublicKey = %s' % NEW in diff['after'] and NEW not in diff['before']
    assert result['updated'] == [{'public_key': ALICE, 'changed': ['preshared_key']},
                                 {'public_key': COMPUTE_1, 'changed': ['preshared_key']}]
    text = path.read_text()
    assert 'PresharedKey = %s\nAllowedIPs = 10.99.0.2/32' % NEW_PSK in text
    assert 'PublicKey = %s\nPresharedKey = %s\n' % (COMPUTE_1, NEW_PSK) in text


def test_check_mode_writes_nothing_and_applies_nothing(capsys, tmp_path, wg):
    path = _conf(tmp_path, 'server.conf')
    before = path.read_bytes()
    mtime = path.stat().st_mtime_ns
    _up(wg, **{'private-key': LIVE_PRIVATE})

    result = _run(capsys, tmp_path, path=str(path), public_key=NEW, allowed_ips=['10.99.0.12/32'],
                  _ansible_check_mode=True, _ansible_diff=True)

    assert result['changed'] is True and result['added'] == [NEW] and result['applied'] is False
    assert 'PublicKey = %s' % NEW in result['diff']['after']
    assert path.read_bytes() == before and path.stat().st_mtime_ns == mtime
    assert _syncs(wg) == [] and all(call[0] != 'syncconf' for call in _calls(wg))
    assert sorted(os.listdir(path.parent)) == ['wg0.conf']


def test_check_mode_does_not_create_a_missing_file(capsys, tmp_path, wg):
    path = tmp_path / 'wg0.conf'

    result = _run(capsys, tmp_path, path=str(path), public_key=NEW, _ansible_check_mode=True)

    assert result['changed'] is True and not path.exists()


@pytest.mark.parametrize('mode', [0o600, 0o640])
def test_file_is_replaced_atomically_keeping_mode_and_owner(capsys, tmp_path, wg, mode):
    path = _conf(tmp_path, 'server.conf', mode=mode)
    if os.geteuid() == 0:
        os.chown(path, 4321, 4322)
    owner = (path.stat().st_uid, path.stat().st_gid)
    inode = path.stat().st_ino

    _run(capsys, tmp_path, path=str(path), public_key=NEW)

    assert stat.S_IMODE(path.stat().st_mode) == mode
    assert (path.stat().st_uid, path.stat().st_gid) == owner
    assert path.stat().st_ino != inode
    assert sorted(os.listdir(path.parent)) == ['wg0.conf']


def test_new_file_is_0600_from_the_start(capsys, tmp_path, wg):
    path = tmp_path / 'wg0.conf'
    previous = os.umask(0o022)
    try:
        result = _run(capsys, tmp_path, path=str(path), public_key=NEW, preshared_key=PSK, allowed_ips=['10.99.0.12/32'])
        umask_after = os.umask(0o022)
    finally:
        os.umask(previous)

    assert result['changed'] is True and umask_after == 0o022
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and path.stat().st_uid == os.geteuid()
    assert path.read_text() == '[Peer]\nPublicKey = %s\nPresharedKey = %s\nAllowedIPs = 10.99.0.12/32\n' % (NEW, PSK)


def test_a_symlinked_config_is_edited_through_the_link(capsys, tmp_path, wg):
    target = _conf(tmp_path, 'client.conf', name='real.conf')
    link = tmp_path / 'wg0.conf'
    link.symlink_to(target)

    result = _run(capsys, tmp_path, path=str(link), public_key=NEW)

    assert result['interface'] == 'wg0' and result['path'] == str(target)
    assert link.is_symlink() and NEW in target.read_text()


def test_world_readable_file_is_warned_about(capsys, tmp_path, wg):
    path = _conf(tmp_path, 'server.conf', mode=0o644)

    result = _run(capsys, tmp_path, path=str(path), public_key=OFFICE)

    assert any('accessible by other users (mode 0644)' in warning for warning in _warnings(result))


def test_live_apply_syncs_the_stripped_config_and_keeps_a_hook_loaded_key(capsys, tmp_path, wg):
    path = _conf(tmp_path, 'postup_key.conf')
    _up(wg, **{'private-key': LIVE_PRIVATE, 'listen-port': '51822', 'fwmark': 'off'})

    result = _run(capsys, tmp_path, path=str(path), public_key=NEW, allowed_ips=['10.99.3.3/32'])

    assert result['changed'] is True and result['applied'] is True
    synced = _syncs(wg)
    assert len(synced) == 1
    meta = json.loads(synced[0].with_suffix('.json').read_text())
    assert meta['mode'] == 0o600 and not os.path.exists(meta['path'])
    assert synced[0].read_text() == (
        '# The private key lives in a file and is loaded by a hook; wg-quick strip loses it.\n'
        '[Interface]\nPrivateKey = %s\nListenPort = 51822\n\n'
        '[Peer]\nPublicKey = %s\nAllowedIPs = 10.99.3.2/32\n\n'
        '[Peer]\nPublicKey = %s\nAllowedIPs = 10.99.3.3/32\n' % (LIVE_PRIVATE, HOOK_PEER, NEW))
    assert LIVE_PRIVATE not in path.read_text()
    assert ['syncconf', 'wg0', meta['path']] in _calls(wg)


def test_live_apply_uses_the_interface_named_by_the_file(capsys, tmp_path, wg):
    path = _conf(tmp_path, 'client.conf', name='mesh0.conf')
    _up(wg, 'mesh0')

    result = _run(capsys, tmp_path, path=str(path), public_key=NEW)

    assert result['interface'] == 'mesh0' and result['applied'] is True
    assert [call[:2] for call in _calls(wg) if call[0] == 'syncconf'] == [['syncconf', 'mesh0']]
    assert 'PrivateKey = %s' % CLIENT_PRIVATE in _syncs(wg)[0].read_text()


def test_interface_down_writes_the_file_only(capsys, tmp_path, wg):
    path = _conf(tmp_path, 'client.conf')

    result = _run(capsys, tmp_path, path=str(path), public_key=NEW)

    assert result['changed'] is True and result['applied'] is False and NEW in path.read_text()
    assert _calls(wg) == [['show', 'wg0']]


def test_no_change_runs_no_wg(capsys, tmp_path, wg):
    path = _conf(tmp_path, 'client.conf')
    _up(wg)

    result = _run(capsys, tmp_path, path=str(path), public_key='18PSPuN+LdvP0rxd9/QUtfhw9iH0eyV1YUTsjdEm4iw=')

    assert result['changed'] is False and result['applied'] is False and _calls(wg) == []


def test_apply_never_leaves_a_running_interface_alone(capsys, tmp_path, wg):
    path = _conf(tmp_path, 'client.conf')
    _up(wg)

    result = _run(capsys, tmp_path, path=str(path), public_key=NEW, apply='never')

    assert result['changed'] is True and result['applied'] is False and NEW in path.read_text()
    assert _calls(wg) == []


def test_apply_never_warns_when_save_config_would_undo_the_change(capsys, tmp_path, wg):
    path = tmp_path / 'wg0.conf'
    path.write_text('[Interface]\nSaveConfig = true\n')
    _up(wg)

    result = _run(capsys, tmp_path, path=str(path), public_key=NEW, apply='never')

    assert result['applied'] is False and any('SaveConfig' in warning for warning in _warnings(result))
    assert _syncs(wg) == []


def test_apply_always_fails_when_the_interface_is_down(capsys, tmp_path, wg):
    path = _conf(tmp_path, 'client.conf')
    before = path.read_bytes()

    result = _run(capsys, tmp_path, path=str(path), public_key=NEW, apply='always')

    assert result['failed'] is True
    assert result['msg'] == 'apply: apply=always but interface wg0 is not up (Unable to access interface: No such device)'
    assert path.read_bytes() == before


def test_failed_syncconf_leaves_the_file_unchanged(capsys, tmp_path, wg):
    path = _conf(tmp_path, 'client.conf')
    before = path.read_bytes()
    _up(wg)
    (wg / 'syncconf-rc').write_text('1')

    result = _run(capsys, tmp_path, path=str(path), public_key=NEW)

    assert result['failed'] is True and result['msg'].startswith('apply: wg syncconf wg0 failed (rc 1)')
    assert path.read_bytes() == before
    assert sorted(os.listdir(path.parent)) == ['wg0.conf']


def test_preshared_key_file_must_hold_a_key(capsys, tmp_path, wg):
    path = _conf(tmp_path, 'client.conf')
    bad = tmp_path / 'bad.psk'
    bad.write_text('not a key\n')

    missing = _run(capsys, tmp_path, path=str(path), public_key=NEW, preshared_key_file=str(tmp_path / 'nope.psk'))
    wrong = _run(capsys, tmp_path, path=str(path), public_key=NEW, preshared_key_file=str(bad))

    assert missing['msg'].startswith('preshared_key_file: ') and 'does not exist' in missing['msg']
    assert wrong['msg'].startswith('preshared_key_file: value is not a WireGuard key')


def test_empty_values_remove_settings(capsys, tmp_path, wg):
    path = _conf(tmp_path, 'client.conf')

    result = _run(capsys, tmp_path, path=str(path), public_key='18PSPuN+LdvP0rxd9/QUtfhw9iH0eyV1YUTsjdEm4iw=',
                  endpoint='', preshared_key='', persistent_keepalive=0, allowed_ips=[])

    assert result['updated'][0]['changed'] == ['allowed_ips', 'endpoint', 'persistent_keepalive', 'preshared_key']
    assert path.read_text().endswith('\n[Peer]\nPublicKey = 18PSPuN+LdvP0rxd9/QUtfhw9iH0eyV1YUTsjdEm4iw=\n')


def test_crlf_file_stays_crlf(capsys, tmp_path, wg):
    path = _conf(tmp_path, 'windows.conf')
    before = path.read_bytes()

    _run(capsys, tmp_path, path=str(path), public_key=NEW, allowed_ips=['10.99.2.9/32'])

    assert path.read_bytes() == before + b'\r\n[Peer]\r\nPublicKey = ' + NEW.encode() + b'\r\nAllowedIPs = 10.99.2.9/32\r\n'
