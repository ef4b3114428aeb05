# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from ansible.module_utils.testing import patch_module_args

from ansible_collections.inferno.runners.plugins.module_utils import gpu
from ansible_collections.inferno.runners.plugins.modules import gpu_facts

REPO = Path(__file__).resolve().parents[4]
DOUBLE = REPO / 'tests' / 'doubles' / 'nvidia-smi'
CAPTURES = DOUBLE / 'captures'
ROCM_DOUBLE = REPO / 'tests' / 'doubles' / 'rocm-smi'
A100_MIG_UUIDS = ['MIG-a1000000-0000-5000-8000-00000000000%d' % i for i in (3, 4, 5, 6)]
A100_LABELS = ['gpu', 'gpu:nvidia', 'gpu:a100', 'gpu-count:1', 'gpu-mem:80gb', 'cuda:12.2']


def _wrapper(directory, name, script):
    directory.mkdir(exist_ok=True)
    wrapper = directory / name
    wrapper.write_text('#!/bin/sh\nexec "%s" "%s" "$@"\n' % (sys.executable, script))
    wrapper.chmod(0o755)
    return str(wrapper)


@pytest.fixture
def nvidia_smi(tmp_path, monkeypatch):
    """Path of an nvidia-smi double; the host has no other GPU tool, PCI device or kernel module."""
    wrapper = _wrapper(tmp_path / 'bin', 'nvidia-smi', DOUBLE / 'nvidia_smi.py')
    monkeypatch.setattr(gpu, '_SYSFS_PCI_DEVICES', str(tmp_path / 'no-sysfs'))
    monkeypatch.setattr(gpu, '_PROC_DRIVER_VERSION', str(tmp_path / 'no-proc-version'))
    monkeypatch.setattr(gpu, '_SYSFS_AMDGPU_MODULE', str(tmp_path / 'no-amdgpu'))
    monkeypatch.setattr(gpu, '_ROCM_BIN_DIRS', (str(tmp_path / 'no-opt-rocm'),))
    monkeypatch.setenv('PATH', str(tmp_path / 'empty-path'))
    for variable in ('NVIDIA_SMI_DOUBLE_FAILURE', 'NVIDIA_SMI_DOUBLE_LOG', 'NVIDIA_SMI_DOUBLE_REPLICATE',
                     'ROCM_SMI_DOUBLE_FAILURE', 'ROCM_SMI_DOUBLE_LOG'):
        monkeypatch.delenv(variable, raising=False)
    return wrapper


def _serve(monkeypatch, prefix):
    monkeypatch.setenv('NVIDIA_SMI_DOUBLE_XML', str(CAPTURES / (prefix + '.xml')))
    monkeypatch.setenv('NVIDIA_SMI_DOUBLE_LIST', str(CAPTURES / (prefix + '-L.txt')))
    monkeypatch.setenv('NVIDIA_SMI_DOUBLE_CSV', str(CAPTURES / (prefix + '-query.csv')))


def _run(capsys, **args):
    with patch_module_args(args):
        with pytest.raises(SystemExit):
            gpu_facts.main()
    return json.loads(capsys.readouterr().out)


def test_gathers_a100_facts(capsys, monkeypatch, nvidia_smi):
    _serve(monkeypatch, 'a100-sxm4-80gb-mig')

    result = _run(capsys, nvidia_smi_path=nvidia_smi)
    nvidia = result['ansible_facts']['nvidia']

    assert result['changed'] is False and not result.get('failed')
    assert nvidia['driver']['state'] == 'ok' and nvidia['driver']['nvidia_smi'] == nvidia_smi
    assert nvidia['gpus'][0]['name'] == 'NVIDIA A100-SXM4-80GB'
    assert nvidia['cuda_devices'] == A100_MIG_UUIDS
    assert result['ansible_facts']['gpu_vendor'] == 'nvidia'
    assert result['ansible_facts']['gpu_runner_labels'] == A100_LABELS
    assert result['ansible_facts']['amd']['driver']['state'] == 'not_installed'


def test_check_mode_reads_the_same_facts(capsys, monkeypatch, nvidia_smi):
    _serve(monkeypatch, 'tesla-t4-1gpu')

    normal = _run(capsys, nvidia_smi_path=nvidia_smi)
    checked = _run(capsys, nvidia_smi_path=nvidia_smi, _ansible_check_mode=True)

    assert checked['changed'] is False
    assert checked['ansible_facts'] == normal['ansible_facts']
    assert checked['ansible_facts']['nvidia']['gpus'][0]['uuid'] == 'GPU-d37e67a5-91dd-3774-a5cb-99096249601a'


def test_nvidia_smi_is_found_on_path(capsys, monkeypatch, nvidia_smi):
    _serve(monkeypatch, 'tesla-t4-1gpu')
    monkeypatch.setenv('PATH', os.path.dirname(nvidia_smi))

    result = _run(capsys)

    assert result['ansible_facts']['nvidia']['driver']['nvidia_smi'] == nvidia_smi
    assert result['ansible_facts']['nvidia']['gpu_count'] == 1


def test_missing_nvidia_smi_on_path_is_not_an_error(capsys, nvidia_smi):
    result = _run(capsys, fail_on_error=True)

    assert not result.get('failed')
    assert result['ansible_facts']['nvidia']['driver']['state'] == 'not_installed'
    assert result['ansible_facts']['nvidia']['present'] is False
    assert (result['ansible_facts']['gpu_vendor'], result['ansible_facts']['gpu_count']) == ('none', 0)
    assert result['ansible_facts']['gpu_runner_labels'] == []


def test_rocm_smi_is_found_under_opt_rocm_without_being_on_path(capsys, tmp_path, monkeypatch, nvidia_smi):
    opt_rocm_bin = tmp_path / 'opt-rocm-bin'
    rocm_smi = _wrapper(opt_rocm_bin, 'rocm-smi', ROCM_DOUBLE / 'rocm_smi.py')
    monkeypatch.setattr(gpu, '_ROCM_BIN_DIRS', (str(opt_rocm_bin),))
    monkeypatch.setenv('ROCM_SMI_DOUBLE_JSON', str(ROCM_DOUBLE / 'captures' / 'mi300x-8gpu.json'))

    result = _run(capsys)
    facts = result['ansible_facts']

    assert not result.get('failed')
    assert facts['amd']['driver']['rocm_smi'] == rocm_smi and facts['amd']['driver']['state'] == 'ok'
    assert (facts['gpu_vendor'], facts['gpu_count']) == ('amd', 8)
    assert facts['gpu_runner_labels'] == ['gpu', 'gpu:amd', 'gpu:mi300x', 'gpu-count:8', 'gpu-mem:192gb']


def test_missing_rocm_smi_path_fails_naming_the_option(capsys, tmp_path, nvidia_smi):
    result = _run(capsys, rocm_smi_path=str(tmp_path / 'nope' / 'rocm-smi'))

    assert result['failed'] is True
    assert result['msg'].startswith('rocm_smi_path ') and 'does not exist' in result['msg']


def test_missing_nvidia_smi_path_fails_naming_the_option(capsys, tmp_path, nvidia_smi):
    result = _run(capsys, nvidia_smi_path=str(tmp_path / 'nope' / 'nvidia-smi'))

    assert result['failed'] is True
    assert result['msg'].startswith('nvidia_smi_path ') and 'does not exist' in result['msg']


def test_non_executable_nvidia_smi_path_fails_naming_the_option(capsys, tmp_path, nvidia_smi):
    plain = tmp_path / 'nvidia-smi.txt'
    plain.write_text('not a program')
    plain.chmod(0o644)

    result = _run(capsys, nvidia_smi_path=str(plain))

    assert result['failed'] is True
    assert result['msg'] == 'nvidia_smi_path %s is not executable' % plain


def test_zero_timeout_fails_naming_the_option(capsys, nvidia_smi):
    result = _run(capsys, nvidia_smi_path=nvidia_smi, timeout=0)

    assert result['failed'] is True and result['msg'].startswith('timeout ')


def test_broken_driver_warns_by_default_and_fails_on_request(capsys, monkeypatch, nvidia_smi):
    monkeypatch.setenv('NVIDIA_SMI_DOUBLE_FAILURE', 'version-mismatch')

    lenient = _run(capsys, nvidia_smi_path=nvidia_smi)
    strict = _run(capsys, nvidia_smi_path=nvidia_smi, fail_on_error=True)

    assert not lenient.get('failed')
    assert lenient['ansible_facts']['nvidia']['driver']['state'] == 'version_mismatch'
    assert any('driver state version_mismatch' in str(warning) for warning in lenient['warnings'])
    assert strict['failed'] is True
    assert 'Driver/library version mismatch' in strict['msg']


def test_module_runs_through_ansible_on_localhost(tmp_path, nvidia_smi):
    """Packs the module and its module_utils the way a play does, and runs them in a fresh Python."""
    ansible = Path(sys.executable).parent / 'ansible'
    if not ansible.exists():
        pytest.skip('ansible CLI not installed next to %s' % sys.executable)
    env = dict(
        os.environ,
        PATH=os.path.dirname(sys.executable) + os.pathsep + '/usr/bin:/bin',
        ANSIBLE_COLLECTIONS_PATH=str(REPO / 'tests' / 'output' / 'collections'),
        ANSIBLE_LOCAL_TEMP=str(tmp_path / 'local-tmp'),
        ANSIBLE_REMOTE_TEMP=str(tmp_path / 'remote-tmp'),
        ANSIBLE_PYTHON_INTERPRETER=sys.executable,
        ANSIBLE_LOAD_CALLBACK_PLUGINS='1',
        ANSIBLE_STDOUT_CALLBACK='ansible.builtin.json',
        NVIDIA_SMI_DOUBLE_XML=str(CAPTURES / 'a100-sxm4-80gb-mig.xml'),
        NVIDIA_SMI_DOUBLE_LIST=str(CAPTURES / 'a100-sxm4-80gb-mig-L.txt'),
        NVIDIA_SMI_DOUBLE_CSV=str(CAPTURES / 'a100-sxm4-80gb-mig-query.csv'),
    )
    completed = subprocess.run(
        [str(ansible), 'localhost', '-c', 'local', '-m', 'inferno.runners.gpu_facts',
         '-a', 'nvidia_smi_path=%s' % nvidia_smi],
        env=env, capture_output=True, text=True, timeout=120, check=False)

    assert completed.returncode == 0, completed.stdout + completed.stderr
    task = json.loads(completed.stdout)['plays'][0]['tasks'][0]['hosts']['localhost']
    nvidia = task['ansible_facts']['nvidia']
    assert nvidia['driver']['version'] == '535.54.03'
    assert nvidia['cuda_devices'] == A100_MIG_UUIDS
    assert [m['profile'] for m in nvidia['gpus'][0]['mig_devices']] == ['1g.20gb'] * 4
    assert task['ansible_facts']['gpu_runner_labels'] == A100_LABELS
