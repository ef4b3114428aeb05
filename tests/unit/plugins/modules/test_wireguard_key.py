# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

import base64
import json
import os
import shutil
import stat
from pathlib import Path

import pytest
from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.testing import patch_module_args

from ansible_collections.inferno.runners.plugins.module_utils import wireguard
from ansible_collections.inferno.runners.plugins.modules import wireguard_key

FIXTURES = Path(__file__).resolve().parents[2] / 'fixtures' / 'wireguard'
# Pairs printed by `wg genkey | tee /dev/stderr | wg pubkey` (wireguard-tools v1.0.20210914).
SERVER_PRIVATE, SERVER_PUBLIC = '8E+c5VE9VouhR4g6y1RFbSXo2kXYm0t+Qnv0lAHnNEk=', '18PSPuN+LdvP0rxd9/QUtfhw9iH0eyV1YUTsjdEm4iw='
CLIENT_PRIVATE, CLIENT_PUBLIC = 'UDACVCEv8TpzHvSdEu1ZHuLyTRQJYtd0fHW+Y6Hmc2Q=', '6FZQjUNpr8PmLT7xI1dHSDpT/e24+wZ9/nIhPplwiXw='
REAL_WG = shutil.which('wg') or next((p for p in ('/usr/bin/wg', '/usr/sbin/wg') if os.path.exists(p)), None)


@pytest.fixture
def no_wg(monkeypatch):
    """A host without wg, so backend=auto falls back to cryptography."""
    # get_bin_path also looks in /sbin, /usr/sbin and /usr/local/sbin whatever PATH says, so hide wg there.
    original = AnsibleModule.get_bin_path

    def get_bin_path(self, arg, required=False, opt_dirs=None):
        return None if arg == 'wg' else original(self, arg, required, opt_dirs)

    monkeypatch.setattr(AnsibleModule, 'get_bin_path', get_bin_path)


@pytest.fixture
def wg_log(tmp_path, monkeypatch):
    """The real wg behind a wrapper that records each command line."""
    if REAL_WG is None:
        pytest.skip('wg (wireguard-tools) is not installed')
    bin_dir = tmp_path / 'bin'
    bin_dir.mkdir()
    log = tmp_path / 'wg-argv.log'
    wrapper = bin_dir / 'wg'
    wrapper.write_text('#!/bin/sh\necho "$*" >> "%s"\nexec "%s" "$@"\n' % (log, REAL_WG))
    wrapper.chmod(0o755)
    monkeypatch.setenv('PATH', str(bin_dir))
    return log


def _run(capsys, **args):
    with patch_module_args(args):
        with pytest.raises(SystemExit) as info:
            wireguard_key.main()
    out = capsys.readouterr().out
    result = json.loads(out)
    assert (info.value.code != 0) == bool(result.get('failed'))
    result['_stdout'] = out
    return result


def _public_from_private(private):
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
    key = X25519PrivateKey.from_private_bytes(base64.b64decode(private))
    return base64.b64encode(key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)).decode()


def _mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.mark.skipif(not wireguard.HAS_CRYPTOGRAPHY, reason='needs the cryptography library')
def test_generates_with_cryptography_when_wg_is_missing(capsys, tmp_path, no_wg):
    path = tmp_path / 'etc' / 'wireguard' / 'wg0.key'

    result = _run(capsys, path=str(path))

    private = path.read_text()
    assert result['changed'] is True and result['generated'] is True and result['backend'] == 'cryptography'
    assert private.endswith('\n') and len(private.strip()) == 44
    raw = base64.b64decode(private)
    assert raw[0] & 7 == 0 and raw[31] & 0xC0 == 0x40, 'clamped like wg genkey'
    assert result['public_key'] == _public_from_private(private.strip())
    assert private.strip() not in result['_stdout']
    assert _mode(path) == 0o600 and _mode(path.parent) == 0o700 and _mode(path.parent.parent) == 0o700


def test_generates_with_wg_passing_the_private_key_on_stdin(capsys, tmp_path, wg_log):
    path = tmp_path / 'wg0.key'

    result = _run(capsys, path=str(path))

    private = path.read_text().strip()
    assert result['backend'] == 'wg' and result['generated'] is True
    assert wg_log.read_text().split('\n')[:2] == ['genkey', 'pubkey']
    assert private not in wg_log.read_text() and private not in result['_stdout']
    if wireguard.HAS_CRYPTOGRAPHY:
        assert result['public_key'] == _public_from_private(private)


@pytest.mark.parametrize('backend', ['wg', 'cryptography'])
def test_existing_key_is_kept_and_its_public_key_derived(capsys, tmp_path, backend):
    if backend == 'wg' and REAL_WG is None:
        pytest.skip('wg (wireguard-tools) is not installed')
    if backend == 'cryptography' and not wireguard.HAS_CRYPTOGRAPHY:
        pytest.skip('needs the cryptography library')
    path = tmp_path / 'wg0.key'
    path.write_text(SERVER_PRIVATE + '\n')
    path.chmod(0o600)
    mtime = path.stat().st_mtime_ns

    result = _run(capsys, path=str(path), backend=backend)

    assert result['changed'] is False and result['generated'] is False
    assert result['public_key'] == SERVER_PUBLIC and result['backend'] == backend
    assert path.read_text() == SERVER_PRIVATE + '\n' and path.stat().st_mtime_ns == mtime
    assert SERVER_PRIVATE not in result['_stdout']


def test_check_mode_reports_a_key_to_create_and_returns_none(capsys, tmp_path):
    path = tmp_path / 'wireguard' / 'wg0.key'

    result = _run(capsys, path=str(path), _ansible_check_mode=True, _ansible_diff=True)

    assert result['changed'] is True and result['generated'] is True
    assert 'public_key' not in result and result['backend'] is None
    assert result['diff'][0]['before'] == {'state': 'absent'}
    assert result['diff'][0]['after'] == {'state': 'file', 'mode': '0600', 'private_key': '<redacted>'}
    assert not path.parent.exists()


def test_check_mode_with_an_existing_key_returns_its_public_key(capsys, tmp_path):
    path = tmp_path / 'wg0.key'
    path.write_text(CLIENT_PRIVATE + '\n')
    path.chmod(0o600)

    result = _run(capsys, path=str(path), _ansible_check_mode=True)

    assert result['changed'] is False and result['public_key'] == CLIENT_PUBLIC


@pytest.mark.parametrize('content', ['', 'not a key\n', CLIENT_PRIVATE[:-4] + '\n', '-----BEGIN PRIVATE KEY-----\nMC4CAQA=\n'])
def test_bad_existing_key_file_fails_and_is_left_alone(capsys, tmp_path, content):
    path = tmp_path / 'wg0.key'
    path.write_text(content)

    result = _run(capsys, path=str(path))

    assert result['failed'] is True
    assert result['msg'].startswith('path: %s exists but does not hold a WireGuard private key' % path)
    assert path.read_text() == content


def test_a_directory_at_path_fails(capsys, tmp_path):
    result = _run(capsys, path=str(tmp_path))

    assert result['failed'] is True and result['msg'] == 'path: %s exists but is not a regular file' % tmp_path


@pytest.mark.parametrize('check_mode', [False, True])
def test_a_key_file_others_can_read_is_set_to_0600(capsys, tmp_path, check_mode):
    path = tmp_path / 'wg0.key'
    path.write_text(SERVER_PRIVATE + '\n')
    path.chmod(0o644)

    result = _run(capsys, path=str(path), _ansible_check_mode=check_mode, _ansible_diff=True)

    assert result['changed'] is True and result['generated'] is False and result['public_key'] == SERVER_PUBLIC
    assert result['diff'] == [{'before_header': str(path), 'after_header': str(path),
                               'before': {'mode': '0644'}, 'after': {'mode': '0600'}}]
    assert _mode(path) == (0o644 if check_mode else 0o600)


def test_config_gets_the_key_in_its_interface_section(capsys, tmp_path):
    key = tmp_path / 'wg0.key'
    key.write_text(SERVER_PRIVATE + '\n')
    key.chmod(0o600)
    config = tmp_path / 'wg0.conf'
    config.write_bytes((FIXTURES / 'postup_key.conf').read_bytes())
    config.chmod(0o640)
    before = config.read_text()

    result = _run(capsys, path=str(key), config=str(config), _ansible_diff=True)
    again = _run(capsys, path=str(key), config=str(config))

    assert result['changed'] is True and result['config_changed'] is True and result['generated'] is False
    assert config.read_text() == before.replace('[Interface]\n', '[Interface]\nPrivateKey = %s\n' % SERVER_PRIVATE)
    assert _mode(config) == 0o640
    assert SERVER_PRIVATE not in result['_stdout']
    assert 'PrivateKey = <redacted>' in result['diff'][0]['after'] and 'PrivateKey' not in result['diff'][0]['before']
    assert again['changed'] is False and again['config_changed'] is False


@pytest.mark.skipif(not wireguard.HAS_CRYPTOGRAPHY, reason='needs the cryptography library')
def test_new_config_and_key_are_made_together(capsys, tmp_path, no_wg):
    key = tmp_path / 'wg0.key'
    config = tmp_path / 'wg0.conf'

    result = _run(capsys, path=str(key), config=str(config))

    private = key.read_text().strip()
    assert result['generated'] is True and result['config_changed'] is True
    assert config.read_text() == '[Interface]\nPrivateKey = %s\n' % private
    assert _mode(config) == 0o600 and _mode(key) == 0o600
    assert result['public_key'] == _public_from_private(private)


def test_config_without_interface_section_gets_one_above_the_peers(capsys, tmp_path):
    key = tmp_path / 'wg0.key'
    key.write_text(CLIENT_PRIVATE + '\n')
    key.chmod(0o600)
    config = tmp_path / 'wg0.conf'
    config.write_text('# peers only\n[Peer]\nPublicKey = %s\n' % SERVER_PUBLIC)

    _run(capsys, path=str(key), config=str(config))

    # The comment directly above [Peer] describes that peer, so it stays with it.
    assert config.read_text() == '[Interface]\nPrivateKey = %s\n\n# peers only\n[Peer]\nPublicKey = %s\n' % (
        CLIENT_PRIVATE, SERVER_PUBLIC)


def test_key_in_the_config_is_adopted_instead_of_generating_one(capsys, tmp_path):
    key = tmp_path / 'keys' / 'wg0.key'
    config = tmp_path / 'client.conf'
    config.write_bytes((FIXTURES / 'client.conf').read_bytes())
    before = config.read_bytes()

    result = _run(capsys, path=str(key), config=str(config))

    assert result['changed'] is True and result['generated'] is False and result['config_changed'] is False
    assert result['public_key'] == CLIENT_PUBLIC
    assert key.read_text() == CLIENT_PRIVATE + '\n' and _mode(key) == 0o600
    assert config.read_bytes() == before


def test_different_keys_in_file_and_config_fail(capsys, tmp_path):
    key = tmp_path / 'wg0.key'
    key.write_text(SERVER_PRIVATE + '\n')
    config = tmp_path / 'wg0.conf'
    config.write_bytes((FIXTURES / 'client.conf').read_bytes())

    result = _run(capsys, path=str(key), config=str(config))

    assert result['failed'] is True and result['msg'].startswith('config: the PrivateKey in %s differs' % config)
    assert SERVER_PRIVATE not in result['_stdout'] and CLIENT_PRIVATE not in result['_stdout']
    assert key.read_text() == SERVER_PRIVATE + '\n'


def test_bad_private_key_in_config_fails(capsys, tmp_path):
    config = tmp_path / 'wg0.conf'
    config.write_text('[Interface]\nPrivateKey = abc\n')

    result = _run(capsys, path=str(tmp_path / 'wg0.key'), config=str(config))

    assert result['failed'] is True and result['msg'].startswith('config: the PrivateKey in [Interface] of')
    assert not (tmp_path / 'wg0.key').exists()


def test_missing_wg_and_cryptography_fails_with_the_missing_library_message(capsys, tmp_path, no_wg, monkeypatch):
    monkeypatch.setattr(wireguard, 'HAS_CRYPTOGRAPHY', False)
    monkeypatch.setattr(wireguard, 'CRYPTOGRAPHY_IMPORT_ERROR', 'ImportError: No module named cryptography')

    result = _run(capsys, path=str(tmp_path / 'wg0.key'))

    assert result['failed'] is True
    assert result['msg'].startswith('backend: Failed to import the required Python library (cryptography)')
    assert not (tmp_path / 'wg0.key').exists()


def test_backend_wg_without_wg_fails(capsys, tmp_path, no_wg):
    result = _run(capsys, path=str(tmp_path / 'wg0.key'), backend='wg')

    assert result['failed'] is True and result['msg'].startswith('backend: backend=wg but wg')
