# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

import importlib.util
import json
import os
import socket
import sys
import time
from pathlib import Path

import pytest

from ansible_collections.inferno.runners.plugins.module_utils.gpu import (
    GpuFacts,
    GpuFactsError,
    classify_failure,
    classify_rocm_failure,
    parse_gpu_list,
    parse_kernel_module_version,
    parse_query_csv,
    parse_query_xml,
    parse_rocm_smi_json,
    scan_amd_pci_devices,
    scan_pci_devices,
)

DOUBLES = Path(__file__).resolve().parents[3] / 'doubles'
DOUBLE = DOUBLES / 'nvidia-smi'
CAPTURES = DOUBLE / 'captures'
ROCM_DOUBLE = DOUBLES / 'rocm-smi'
ROCM_CAPTURES = ROCM_DOUBLE / 'captures'
ROCM_ARGV = ['--showproductname', '--showmeminfo', 'vram', '--showbus', '--showdriverversion', '--json']
T4_UUID = 'GPU-d37e67a5-91dd-3774-a5cb-99096249601a'

PROPRIETARY = 'NVRM version: NVIDIA UNIX x86_64 Kernel Module  535.54.03  Tue Jun  6 22:20:39 UTC 2023\n' \
              'GCC version:  gcc version 12.2.0 (Debian 12.2.0-14)\n'
OPEN_X86 = 'NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  580.82.09  Release Build  ' \
           '(dvs-builder@U16-I3-B03-4-3)  Wed Oct  8 00:02:31 UTC 2025\n'
OPEN_ARM = 'NVRM version: NVIDIA UNIX Open Kernel Module for aarch64  580.173.02  Release Build\n'


def _capture(name):
    return (CAPTURES / name).read_text()


def _rocm_capture(name):
    return (ROCM_CAPTURES / name).read_text()


def _nvidia_smi_double():
    """The stand-in as a module, for its replicate_gpus (also what the benchmark parses)."""
    spec = importlib.util.spec_from_file_location('nvidia_smi_double', str(DOUBLE / 'nvidia_smi.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# ---------------------------------------------------------------- nvidia-smi -q -x

def test_tesla_t4_capture_gives_its_published_facts():
    facts = parse_query_xml(_capture('tesla-t4-1gpu.xml'))

    assert facts['driver_version'] == '515.105.01'
    assert facts['cuda_version'] == '11.7'
    assert facts['gpus'] == [dict(
        index=0,
        name='Tesla T4',
        model_slug='t4',
        uuid=T4_UUID,
        pci_bus_id='00000000:00:1E.0',
        minor_number=0,
        architecture='Turing',
        compute_capability='7.5',  # the XML has none: NVIDIA's published value for the T4
        memory_total_mib=15360,
        persistence_mode=False,
        mig_supported=False,
        mig_enabled=False,
        mig_enabled_pending=False,
        mig_devices=[],
    )]


def test_a100_capture_trusts_gpu_elements_over_attached_gpus():
    facts = parse_query_xml(_capture('a100-sxm4-80gb-mig.xml'))

    assert '<attached_gpus>4</attached_gpus>' in _capture('a100-sxm4-80gb-mig.xml')
    assert len(facts['gpus']) == 1
    a100 = facts['gpus'][0]
    assert (facts['driver_version'], facts['cuda_version']) == ('535.54.03', '12.2')
    assert a100['name'] == 'NVIDIA A100-SXM4-80GB'
    assert (a100['model_slug'], a100['architecture'], a100['compute_capability']) == ('a100', 'Ampere', '8.0')
    assert a100['memory_total_mib'] == 81920
    assert a100['uuid'] == 'GPU-513536b6-7d19-9063-b049-1e69664bb298'
    assert a100['pci_bus_id'] == '00000000:01:00.0'
    assert (a100['mig_supported'], a100['mig_enabled'], a100['mig_enabled_pending']) == (True, True, True)
    assert [(m['index'], m['gpu_instance_id'], m['compute_instance_id'], m['memory_total_mib'])
            for m in a100['mig_devices']] == [(0, 3, 0, 19968), (1, 4, 0, 19968), (2, 5, 0, 19968), (3, 6, 0, 19968)]
    # The XML names neither: they come from nvidia-smi -L.
    assert all(m['uuid'] is None and m['profile'] is None for m in a100['mig_devices'])


def test_tab_indented_output_parses_like_the_space_indented_capture():
    spaces = _capture('a100-sxm4-80gb-mig.xml')
    tabs = '\n'.join(line.replace('    ', '\t') for line in spaces.splitlines())

    assert '\t<gpu id=' in tabs
    assert parse_query_xml(tabs) == parse_query_xml(spaces)


def test_doctype_is_never_fetched(monkeypatch):
    def no_network(*args, **kwargs):
        raise AssertionError('the parser tried to open a socket')

    monkeypatch.setattr(socket, 'socket', no_network)
    monkeypatch.setattr(socket, 'create_connection', no_network)
    xml = _capture('tesla-t4-1gpu.xml').replace(
        'SYSTEM "nvsmi_device_v11.dtd"', 'SYSTEM "http://127.0.0.1:9/nvsmi_device_v11.dtd"')

    assert parse_query_xml(xml)['gpus'][0]['name'] == 'Tesla T4'


def test_external_entities_are_refused_not_expanded(tmp_path):
    secret = tmp_path / 'secret'
    secret.write_text('do-not-leak')
    xml = ('<?xml version="1.0"?>\n<!DOCTYPE nvidia_smi_log [<!ENTITY leak SYSTEM "file://%s">]>\n'
           '<nvidia_smi_log><driver_version>&leak;</driver_version></nvidia_smi_log>' % secret)

    with pytest.raises(GpuFactsError) as error:
        parse_query_xml(xml)
    assert 'cannot be parsed' in str(error.value)
    assert 'do-not-leak' not in str(error.value)


def _old_driver_xml(product_name, architecture_element=''):
    return ('<nvidia_smi_log><driver_version>418.226.00</driver_version><cuda_version>Not Found</cuda_version>'
            '<gpu id="00000000:0B:00.0"><product_name>%s</product_name>%s'
            '<persistence_mode>N/A</persistence_mode><uuid>GPU-aaaa</uuid>'
            '<fb_memory_usage><total>N/A</total></fb_memory_usage></gpu></nvidia_smi_log>'
            % (product_name, architecture_element))


def test_old_driver_without_newer_elements_gives_nulls_not_errors():
    facts = parse_query_xml(_old_driver_xml('NVIDIA Prototype Board'))
    gpu0 = facts['gpus'][0]

    assert facts['cuda_version'] is None
    assert gpu0['pci_bus_id'] == '00000000:0B:00.0'  # from the id attribute when <pci> is absent
    assert (gpu0['architecture'], gpu0['compute_capability'], gpu0['memory_total_mib'],
            gpu0['persistence_mode'], gpu0['minor_number']) == (None, None, None, None, None)
    assert (gpu0['mig_supported'], gpu0['mig_enabled'], gpu0['mig_devices']) == (False, False, [])


@pytest.mark.parametrize('product_name, architecture, capability', [
    ('Tesla P100-PCIE-16GB', 'Pascal', '6.0'),
    ('Tesla V100-SXM2-32GB', 'Volta', '7.0'),
    ('Tesla T4', 'Turing', '7.5'),
    ('Tesla K80', 'Kepler', None),
])
def test_old_driver_without_product_architecture_names_it_from_the_product(product_name, architecture, capability):
    gpu0 = parse_query_xml(_old_driver_xml(product_name))['gpus'][0]

    assert (gpu0['architecture'], gpu0['compute_capability']) == (architecture, capability)


@pytest.mark.parametrize('element', ['<product_architecture>Unknown</product_architecture>',
                                     '<product_architecture>N/A</product_architecture>'])
def test_architecture_the_driver_cannot_name_comes_from_the_product(element):
    gpu0 = parse_query_xml(_old_driver_xml('NVIDIA H100 80GB HBM3', element))['gpus'][0]

    assert gpu0['architecture'] == 'Hopper'


def test_architecture_printed_by_the_driver_wins_over_the_product_table():
    gpu0 = parse_query_xml(_old_driver_xml('Tesla T4', '<product_architecture>Ampere</product_architecture>'))['gpus'][0]

    assert gpu0['architecture'] == 'Ampere'


def test_replicated_capture_is_an_eight_gpu_host_with_distinct_identities():
    xml = _nvidia_smi_double().replicate_gpus(_capture('a100-sxm4-80gb-mig.xml'), 8)

    gpus = parse_query_xml(xml)['gpus']

    assert '<attached_gpus>8</attached_gpus>' in xml
    assert [gpu['index'] for gpu in gpus] == list(range(8))
    assert [gpu['minor_number'] for gpu in gpus] == list(range(8))
    assert len({gpu['uuid'] for gpu in gpus}) == 8 and len({gpu['pci_bus_id'] for gpu in gpus}) == 8
    assert gpus[7]['pci_bus_id'] == '00000000:08:00.0'
    assert {gpu['name'] for gpu in gpus} == {'NVIDIA A100-SXM4-80GB'}
    assert [len(gpu['mig_devices']) for gpu in gpus] == [4] * 8


@pytest.mark.parametrize('text, fragment', [
    ('NVIDIA-SMI has failed', 'cannot be parsed'),
    ('<html><body>no</body></html>', 'expected <nvidia_smi_log>'),
    ('', 'cannot be parsed'),
])
def test_output_that_is_not_nvidia_smi_xml_is_an_error(text, fragment):
    with pytest.raises(GpuFactsError) as error:
        parse_query_xml(text)
    assert fragment in str(error.value)


# ---------------------------------------------------------------- nvidia-smi -L

def test_gpu_list_names_mig_profiles_and_uuids():
    listed = parse_gpu_list(_capture('h100-80gb-hbm3-mig-1gpu-L.txt'))

    assert [(g['index'], g['name'], g['uuid']) for g in listed] == [
        (0, 'NVIDIA H100 80GB HBM3', 'GPU-00000000-0000-0000-0000-000000000000')]
    assert [(m['index'], m['profile']) for m in listed[0]['mig_devices']] == [
        (0, '3g.40gb'), (1, '2g.20gb'), (2, '1g.10gb'), (3, '1g.10gb')]
    assert listed[0]['mig_devices'][1]['uuid'] == 'MIG-00000001-0000-0000-0000-000000000001'


def test_eight_gpu_list_gives_fifty_six_distinct_mig_devices():
    listed = parse_gpu_list(_capture('h100-80gb-hbm3-8gpu-mig-L.txt'))
    migs = [m for g in listed for m in g['mig_devices']]

    assert [g['index'] for g in listed] == list(range(8))
    assert {g['name'] for g in listed} == {'NVIDIA H100 80GB HBM3'}
    assert [len(g['mig_devices']) for g in listed] == [7] * 8
    assert len({m['uuid'] for m in migs}) == 56
    assert {m['profile'] for m in migs} == {'1g.10gb'}
    assert all(m['uuid'].startswith('MIG-') for m in migs)


def test_gpu_list_reads_the_r450_mig_uuid_form_and_skips_noise():
    text = ('No devices were found in a previous line\n'
            'GPU 0: A100-SXM4-40GB (UUID: GPU-e91edf3b-b297-37c1-a2a7-7601c3238fa2)\n'
            '  MIG 1g.5gb Device 0: (UUID: MIG-GPU-e91edf3b-b297-37c1-a2a7-7601c3238fa2/7/0)\n')

    listed = parse_gpu_list(text)

    assert listed[0]['name'] == 'A100-SXM4-40GB'
    assert listed[0]['mig_devices'] == [
        dict(index=0, profile='1g.5gb', uuid='MIG-GPU-e91edf3b-b297-37c1-a2a7-7601c3238fa2/7/0')]


# ---------------------------------------------------------------- nvidia-smi --query-gpu

def test_full_query_capture_keeps_all_212_fields_with_units_stripped_from_names():
    records = parse_query_csv(_capture('h100-80gb-hbm3-1gpu-query-full.csv'))

    assert len(records) == 1
    h100 = records[0]
    assert len(h100) == 212
    assert h100['name'] == 'NVIDIA H100 80GB HBM3'
    assert h100['memory.total'] == '81559 MiB'
    assert h100['pci.bus_id'] == '00000000:00:09.0'
    assert h100['compute_cap'] == '9.0'
    assert (h100['mig.mode.current'], h100['mig.mode.pending']) == ('Disabled', 'Disabled')
    assert h100['platform.chassis_serial_number'] is None  # the one empty field
    raw = [value.strip() for value in _capture('h100-80gb-hbm3-1gpu-query-full.csv').splitlines()[1].split(',')]
    assert (raw.count('[N/A]'), raw.count('N/A'), raw.count('')) == (61, 6, 1)
    assert sum(1 for value in h100.values() if value is None) == 61 + 6 + 1


def test_mig_query_capture_reports_na_utilization_as_null():
    h100 = parse_query_csv(_capture('h100-80gb-hbm3-mig-1gpu-query-full.csv'))[0]

    assert (h100['mig.mode.current'], h100['mig.mode.pending']) == ('Enabled', 'Enabled')
    assert h100['memory.used'] == '59 MiB'
    assert h100['utilization.gpu'] is None


def test_query_row_with_a_missing_field_is_an_error():
    with pytest.raises(GpuFactsError) as error:
        parse_query_csv('uuid, compute_cap\nGPU-1\n')
    assert 'line 2 has 1 fields, the header has 2' in str(error.value)


# ---------------------------------------------------------------- kernel module, PCI, failures

@pytest.mark.parametrize('text, expected', [
    (PROPRIETARY, ('proprietary', '535.54.03')),
    (OPEN_X86, ('open', '580.82.09')),
    (OPEN_ARM, ('open', '580.173.02')),
    ('NVRM version: NVIDIA UNIX Kernel Module for aarch64  535.129.03  Release Build\n', ('proprietary', '535.129.03')),
    ('', (None, None)),
    (None, (None, None)),
    ('something else entirely\n', (None, None)),
])
def test_kernel_module_flavour_and_version(text, expected):
    assert parse_kernel_module_version(text) == expected


@pytest.mark.parametrize('rc, output, state', [
    (9, "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver.", 'not_loaded'),
    (255, "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver.", 'not_loaded'),
    (18, 'Failed to initialize NVML: Driver/library version mismatch', 'version_mismatch'),
    (255, 'Failed to initialize NVML: Driver/library version mismatch', 'version_mismatch'),
    (15, 'Unable to determine the device handle for GPU 0000:01:00.0: GPU is lost.', 'error'),
    (12, 'NVML Shared Library Not Found', 'error'),
])
def test_failures_are_named_by_exit_code_or_message(rc, output, state):
    assert classify_failure(rc, output) == state


def _pci_device(root, address, vendor, pci_class, device, driver=None):
    path = root / address
    path.mkdir(parents=True)
    (path / 'vendor').write_text(vendor + '\n')
    (path / 'class').write_text(pci_class + '\n')
    (path / 'device').write_text(device + '\n')
    if driver:
        os.symlink('../../../../bus/pci/drivers/%s' % driver, str(path / 'driver'))


def _fake_sysfs(tmp_path, nvidia=True, amd=False):
    root = tmp_path / 'sys' / 'bus' / 'pci' / 'devices'
    root.mkdir(parents=True, exist_ok=True)
    _pci_device(root, '0000:00:02.0', '0x8086', '0x030000', '0x46a6', 'i915')       # Intel iGPU
    if nvidia:
        _pci_device(root, '0000:01:00.0', '0x10de', '0x030200', '0x20b2', 'nvidia')    # A100, 3D controller
        _pci_device(root, '0000:02:00.0', '0x10de', '0x030000', '0x2204', 'nouveau')   # RTX 3090, VGA
        _pci_device(root, '0000:02:00.1', '0x10de', '0x040300', '0x1aef', 'snd_hda_intel')  # its HDMI audio
        _pci_device(root, '0000:03:00.0', '0x10de', '0x030200', '0x2330')               # H100, no driver
        _pci_device(root, '0000:04:00.0', '0x10de', '0x068000', '0x22a3')               # NVSwitch
        _pci_device(root, '0000:05:00.0', '0x10de', '0x068000', '0x22a3')               # NVSwitch
    if amd:
        _pci_device(root, '0000:0c:00.0', '0x1002', '0x120000', '0x74a1', 'amdgpu')    # MI300X, accelerator
        _pci_device(root, '0000:0d:00.0', '0x1002', '0x030000', '0x744c', 'amdgpu')    # RX 7900 XTX, VGA
        _pci_device(root, '0000:0d:00.1', '0x1002', '0x040300', '0xab30', 'snd_hda_intel')  # its HDMI audio
        _pci_device(root, '0000:0e:00.0', '0x1002', '0x038000', '0x740f', 'vfio-pci')  # MI210, passed through
        _pci_device(root, '0000:c1:00.0', '0x1022', '0x118000', '0x1502', 'amdxdna')   # Ryzen AI NPU: AMD, not ATI
        _pci_device(root, '0000:c2:00.0', '0x1022', '0x130000', '0x14e9')               # AMD CPU function
    return root


def test_pci_scan_finds_nvidia_gpus_with_their_kernel_driver_and_counts_nvswitches(tmp_path):
    gpus, nvswitches = scan_pci_devices(str(_fake_sysfs(tmp_path, amd=True)))

    assert gpus == [
        dict(address='0000:01:00.0', pci_id='10de:20b2', kernel_driver='nvidia'),
        dict(address='0000:02:00.0', pci_id='10de:2204', kernel_driver='nouveau'),
        dict(address='0000:03:00.0', pci_id='10de:2330', kernel_driver=None),
    ]
    assert nvswitches == 2


def test_pci_scan_finds_amd_gpus_and_instinct_accelerators_but_not_audio_npu_or_cpu_functions(tmp_path):
    gpus = scan_amd_pci_devices(str(_fake_sysfs(tmp_path, amd=True)))

    assert gpus == [
        dict(address='0000:0c:00.0', pci_id='1002:74a1', kernel_driver='amdgpu'),
        dict(address='0000:0d:00.0', pci_id='1002:744c', kernel_driver='amdgpu'),
        dict(address='0000:0e:00.0', pci_id='1002:740f', kernel_driver='vfio-pci'),
    ]


def test_pci_scan_without_sysfs_finds_nothing(tmp_path):
    assert scan_pci_devices(str(tmp_path / 'absent')) == ([], 0)
    assert scan_amd_pci_devices(str(tmp_path / 'absent')) == []


# ---------------------------------------------------------------- rocm-smi --json

def test_mi300x_answer_gives_eight_gpus_with_vram_in_mib():
    facts = parse_rocm_smi_json(_rocm_capture('mi300x-8gpu.json'))
    gpus = facts['gpus']

    assert facts['driver_version'] == '6.7.0'
    assert [gpu['index'] for gpu in gpus] == list(range(8))
    assert gpus[0] == dict(
        index=0,
        name='AMD Instinct MI300X',
        model_slug='mi300x',
        card_model='0x74a1',
        sku='M3000100',
        pci_bus_id='0000:05:00.0',
        memory_total_mib=196288,  # 205822885888 B
        gfx_version=None,
    )
    assert gpus[7]['pci_bus_id'] == '0000:E5:00.0'


def test_later_rocm_smi_key_spelling_reads_the_same_and_adds_the_gfx_version():
    gpu0 = parse_rocm_smi_json(_rocm_capture('rx7900xtx-1gpu.json'))['gpus'][0]

    assert (gpu0['name'], gpu0['model_slug'], gpu0['card_model']) == ('AMD Radeon RX 7900 XTX', 'rx7900xtx', '0x744c')
    assert (gpu0['memory_total_mib'], gpu0['gfx_version'], gpu0['pci_bus_id']) == (24560, 'gfx1100', '0000:03:00.0')


def test_warning_lines_before_the_json_are_skipped():
    text = ('WARNING: AMD GPU device(s) is/are in a low-power state. Check power control/runtime_status\n\n'
            + json.dumps({'card1': {'Card series': 'Aqua Vanjaram [Instinct MI300X]'},
                          'card0': {'Card series': 'AMD Instinct MI210'}}) + '\n')

    gpus = parse_rocm_smi_json(text)['gpus']

    assert [(gpu['index'], gpu['model_slug']) for gpu in gpus] == [(0, 'mi210'), (1, 'mi300x')]


def test_values_a_card_cannot_report_are_null():
    text = json.dumps({'card:0': {'Card series': 'N/A', 'Card SKU': 'Unsupported', 'VRAM Total Memory (B)': 'N/A'},
                       'system': {'Driver version': 'N/A'}})

    facts = parse_rocm_smi_json(text)

    assert facts['driver_version'] is None
    assert facts['gpus'] == [dict(index=0, name=None, model_slug=None, card_model=None, sku=None, pci_bus_id=None,
                                  memory_total_mib=None, gfx_version=None)]


@pytest.mark.parametrize('text, fragment', [
    ('', 'printed no JSON'),
    ('ERROR:root:Driver not initialized (amdgpu not found in modules)\n', 'printed no JSON'),
    ('{"card0": {"Card series": ', 'cannot be parsed'),
    ('["card0"]', 'printed no JSON'),
])
def test_output_that_is_not_rocm_smi_json_is_an_error(text, fragment):
    with pytest.raises(GpuFactsError) as error:
        parse_rocm_smi_json(text)
    assert fragment in str(error.value)


@pytest.mark.parametrize('output, state', [
    ('ERROR:root:Driver not initialized (amdgpu not found in modules)', 'not_loaded'),
    ('rocm-smi: error: unrecognized arguments: --showdriverversion', 'error'),
    ('', 'error'),
])
def test_rocm_smi_failures_are_named_by_its_words(output, state):
    assert classify_rocm_failure(output) == state


# ---------------------------------------------------------------- GpuFacts against the doubles

class _Exit(Exception):
    def __init__(self, result):
        super().__init__(result)
        self.result = result


class _Module:
    """The part of AnsibleModule that GpuFacts uses."""

    def __init__(self, path_dirs, **params):
        self.params = dict(nvidia_smi_path=None, rocm_smi_path=None, timeout=60, fail_on_error=False)
        self.params.update(params)
        self.warnings = []
        self._path_dirs = path_dirs

    def get_bin_path(self, name, opt_dirs=None):
        # As AnsibleModule.get_bin_path: opt_dirs first, then PATH.
        for directory in list(opt_dirs or []) + self._path_dirs:
            candidate = os.path.join(directory, name)
            if os.access(candidate, os.X_OK):
                return candidate
        return None

    def warn(self, message):
        self.warnings.append(message)

    def fail_json(self, **result):
        result['failed'] = True
        raise _Exit(result)

    def exit_json(self, **result):
        raise _Exit(result)


def _wrapper(directory, name, script):
    directory.mkdir(exist_ok=True)
    wrapper = directory / name
    wrapper.write_text('#!/bin/sh\nexec "%s" "%s" "$@"\n' % (sys.executable, script))
    wrapper.chmod(0o755)
    return wrapper


def _log(path):
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.fixture
def host(tmp_path, monkeypatch):
    """A host with the nvidia-smi double on its PATH, an empty PCI bus and no kernel module.

    ``serve_amd`` adds the rocm-smi double under a stand-in for /opt/rocm/bin, where ROCm puts it.
    """
    bin_dir = tmp_path / 'bin'
    _wrapper(bin_dir, 'nvidia-smi', DOUBLE / 'nvidia_smi.py')
    rocm_bin = tmp_path / 'opt-rocm-bin'
    _wrapper(rocm_bin, 'rocm-smi', ROCM_DOUBLE / 'rocm_smi.py')
    log = tmp_path / 'calls.jsonl'
    rocm_log = tmp_path / 'rocm-calls.jsonl'
    monkeypatch.setenv('NVIDIA_SMI_DOUBLE_LOG', str(log))
    monkeypatch.setenv('ROCM_SMI_DOUBLE_LOG', str(rocm_log))
    for variable in ('NVIDIA_SMI_DOUBLE_XML', 'NVIDIA_SMI_DOUBLE_LIST', 'NVIDIA_SMI_DOUBLE_CSV',
                     'NVIDIA_SMI_DOUBLE_FAILURE', 'NVIDIA_SMI_DOUBLE_REPLICATE', 'ROCM_SMI_DOUBLE_JSON',
                     'ROCM_SMI_DOUBLE_FAILURE'):
        monkeypatch.delenv(variable, raising=False)

    class Host:
        sysfs = tmp_path / 'sys-empty'
        proc_version = tmp_path / 'proc-driver-nvidia-version'
        amdgpu_module = tmp_path / 'sys-module-amdgpu'
        path_dirs = [str(bin_dir)]
        rocm_bin_dirs = []

        @staticmethod
        def serve(prefix, replicate=None):
            monkeypatch.setenv('NVIDIA_SMI_DOUBLE_XML', str(CAPTURES / (prefix + '.xml')))
            monkeypatch.setenv('NVIDIA_SMI_DOUBLE_LIST', str(CAPTURES / (prefix + '-L.txt')))
            monkeypatch.setenv('NVIDIA_SMI_DOUBLE_CSV', str(CAPTURES / (prefix + '-query.csv')))
            if replicate:
                monkeypatch.setenv('NVIDIA_SMI_DOUBLE_REPLICATE', str(replicate))

        def serve_amd(self, name):
            monkeypatch.setenv('ROCM_SMI_DOUBLE_JSON', str(ROCM_CAPTURES / (name + '.json')))
            self.rocm_bin_dirs = [str(rocm_bin)]

        def load_amdgpu(self, version=None):
            self.amdgpu_module.mkdir()
            if version:
                (self.amdgpu_module / 'version').write_text(version + '\n')

        @staticmethod
        def fail(failure):
            monkeypatch.setenv('NVIDIA_SMI_DOUBLE_FAILURE', failure)

        @staticmethod
        def fail_amd(failure):
            monkeypatch.setenv('ROCM_SMI_DOUBLE_FAILURE', failure)

        @staticmethod
        def calls():
            return _log(log)

        @staticmethod
        def rocm_calls():
            return _log(rocm_log)

        def gather(self, **params):
            module = _Module(self.path_dirs, **params)
            facts = GpuFacts(module, sysfs_pci_devices=str(self.sysfs), proc_driver_version=str(self.proc_version),
                             sysfs_amdgpu_module=str(self.amdgpu_module), rocm_bin_dirs=self.rocm_bin_dirs)
            with pytest.raises(_Exit) as done:
                facts.run()
            return done.value.result, module.warnings

    return Host()


def test_t4_host_is_described_by_exactly_one_nvidia_smi_process(host):
    host.serve('tesla-t4-1gpu')

    result, warnings = host.gather()
    facts = result['ansible_facts']
    nvidia = facts['nvidia']

    assert warnings == [] and 'failed' not in result and result['changed'] is False
    # The XML holds everything but the compute capability, which the T4's model fixes: no -L
    # (no MIG device to name) and no --query-gpu.
    assert host.calls() == [['-q', '-x']]
    assert nvidia['driver']['state'] == 'ok'
    assert nvidia['driver']['version'] == '515.105.01'
    assert nvidia['gpu_count'] == 1 and nvidia['memory_total_mib'] == 15360
    assert (nvidia['gpus'][0]['compute_capability'], nvidia['gpus'][0]['architecture']) == ('7.5', 'Turing')
    assert nvidia['cuda_devices'] == [T4_UUID]
    assert nvidia['present'] is True and nvidia['pci_devices'] == []
    assert (facts['gpu_vendor'], facts['gpu_count']) == ('nvidia', 1)
    assert facts['gpu_runner_labels'] == ['gpu', 'gpu:nvidia', 'gpu:t4', 'gpu-count:1', 'gpu-mem:16gb', 'cuda:11.7']
    assert facts['amd']['present'] is False and facts['amd']['driver']['state'] == 'not_installed'
    assert host.rocm_calls() == []


def test_eight_gpu_host_is_still_one_nvidia_smi_process(host):
    host.serve('tesla-t4-1gpu', replicate=8)

    result, warnings = host.gather()
    facts = result['ansible_facts']

    assert warnings == [] and host.calls() == [['-q', '-x']]
    assert facts['nvidia']['gpu_count'] == 8 and len(set(facts['nvidia']['cuda_devices'])) == 8
    assert facts['gpu_runner_labels'] == ['gpu', 'gpu:nvidia', 'gpu:t4', 'gpu-count:8', 'gpu-mem:16gb', 'cuda:11.7']


def test_mig_host_exposes_mig_devices_not_the_gpu_to_cuda(host):
    host.serve('a100-sxm4-80gb-mig')

    result, warnings = host.gather()
    nvidia = result['ansible_facts']['nvidia']
    migs = nvidia['gpus'][0]['mig_devices']

    assert warnings == []
    # -L is the only source of MIG UUIDs; the compute capability still needs no query.
    assert host.calls() == [['-q', '-x'], ['-L']]
    assert [m['profile'] for m in migs] == ['1g.20gb'] * 4
    assert [m['uuid'] for m in migs] == ['MIG-a1000000-0000-5000-8000-00000000000%d' % i for i in (3, 4, 5, 6)]
    assert nvidia['cuda_devices'] == [m['uuid'] for m in migs]
    assert 'GPU-513536b6-7d19-9063-b049-1e69664bb298' not in nvidia['cuda_devices']
    assert nvidia['gpus'][0]['compute_capability'] == '8.0'
    assert result['ansible_facts']['gpu_runner_labels'] == [
        'gpu', 'gpu:nvidia', 'gpu:a100', 'gpu-count:1', 'gpu-mem:80gb', 'cuda:12.2']


def _unknown_model(tmp_path, monkeypatch, capability_csv):
    """The T4 capture renamed to a model the product table does not know, on a driver that
    does not print the architecture."""
    xml = _capture('tesla-t4-1gpu.xml').replace('<product_name>Tesla T4</product_name>',
                                                '<product_name>NVIDIA Future GPU</product_name>')
    xml = xml.replace('<product_architecture>Turing</product_architecture>', '')
    (tmp_path / 'future.xml').write_text(xml)
    (tmp_path / 'future.csv').write_text(capability_csv)
    monkeypatch.setenv('NVIDIA_SMI_DOUBLE_XML', str(tmp_path / 'future.xml'))
    monkeypatch.setenv('NVIDIA_SMI_DOUBLE_CSV', str(tmp_path / 'future.csv'))


def test_unknown_model_asks_the_driver_for_its_compute_capability_and_names_the_architecture(
        host, tmp_path, monkeypatch):
    _unknown_model(tmp_path, monkeypatch, 'name, uuid, compute_cap\nNVIDIA Future GPU, %s, 10.0\n' % T4_UUID)

    result, warnings = host.gather()
    gpu0 = result['ansible_facts']['nvidia']['gpus'][0]

    assert warnings == []
    assert host.calls() == [['-q', '-x'], ['--query-gpu=uuid,compute_cap', '--format=csv']]
    assert (gpu0['compute_capability'], gpu0['architecture'], gpu0['model_slug']) == ('10.0', 'Blackwell', 'futuregpu')
    assert 'gpu:futuregpu' in result['ansible_facts']['gpu_runner_labels']


def test_driver_without_compute_cap_field_gives_null_without_warning(host, tmp_path, monkeypatch):
    _unknown_model(tmp_path, monkeypatch, 'name, uuid\nNVIDIA Future GPU, %s\n' % T4_UUID)

    result, warnings = host.gather()
    gpu0 = result['ansible_facts']['nvidia']['gpus'][0]

    assert warnings == []
    assert (gpu0['compute_capability'], gpu0['architecture']) == (None, None)
    assert result['ansible_facts']['nvidia']['driver']['state'] == 'ok'


def test_failed_compute_capability_query_warns_and_leaves_it_unknown(host, tmp_path, monkeypatch):
    _unknown_model(tmp_path, monkeypatch, 'name, uuid, compute_cap\n')
    monkeypatch.delenv('NVIDIA_SMI_DOUBLE_CSV')

    result, warnings = host.gather()

    assert len(warnings) == 1 and 'compute capability is unknown' in warnings[0]
    assert result['ansible_facts']['nvidia']['gpus'][0]['compute_capability'] is None


def test_failed_gpu_list_leaves_mig_uuids_unknown_with_a_warning(host, monkeypatch):
    host.serve('a100-sxm4-80gb-mig')
    monkeypatch.delenv('NVIDIA_SMI_DOUBLE_LIST')

    result, warnings = host.gather()
    nvidia = result['ansible_facts']['nvidia']

    assert len(warnings) == 1 and 'nvidia-smi -L failed' in warnings[0]
    assert [m['uuid'] for m in nvidia['gpus'][0]['mig_devices']] == [None] * 4
    assert nvidia['cuda_devices'] == []
    assert nvidia['driver']['state'] == 'ok'


def test_unloaded_driver_is_reported_with_a_warning_by_default(host):
    host.fail('driver-not-loaded')

    result, warnings = host.gather()
    driver = result['ansible_facts']['nvidia']['driver']

    assert 'failed' not in result
    assert driver['state'] == 'not_loaded'
    assert "couldn't communicate with the NVIDIA driver" in driver['error']
    assert len(warnings) == 1 and 'driver state not_loaded' in warnings[0]
    assert len(host.calls()) == 1  # nothing else is asked of a driver that is not there


def test_unloaded_driver_fails_when_asked_to(host):
    host.fail('driver-not-loaded')

    result, _warnings = host.gather(fail_on_error=True)

    assert result['failed'] is True
    assert 'driver state not_loaded' in result['msg']
    assert result['ansible_facts']['nvidia']['driver']['state'] == 'not_loaded'


def test_upgrade_without_reboot_is_a_version_mismatch_with_the_running_module_named(host):
    host.fail('version-mismatch')
    host.proc_version.write_text(OPEN_X86)

    result, _warnings = host.gather()
    driver = result['ansible_facts']['nvidia']['driver']

    assert driver['state'] == 'version_mismatch'
    assert (driver['kernel_module'], driver['kernel_module_version']) == ('open', '580.82.09')
    assert driver['version'] is None


def test_lost_gpu_is_an_error_carrying_nvidia_smi_words(host):
    host.fail('gpu-lost')

    result, _warnings = host.gather()

    assert result['ansible_facts']['nvidia']['driver']['state'] == 'error'
    assert 'GPU is lost' in result['ansible_facts']['nvidia']['driver']['error']


def test_hung_nvidia_smi_is_abandoned_after_the_timeout(host):
    host.fail('hang')

    started = time.monotonic()
    result, warnings = host.gather(timeout=1)
    elapsed = time.monotonic() - started

    driver = result['ansible_facts']['nvidia']['driver']
    assert driver['state'] == 'unresponsive'
    assert 'did not answer within 1 s' in driver['error']
    assert len(warnings) == 1
    assert 1.0 <= elapsed < 4.0, elapsed


def test_module_loaded_without_nvidia_smi_is_reported_as_such(host, tmp_path):
    host.path_dirs = [str(tmp_path / 'nowhere')]
    host.proc_version.write_text(PROPRIETARY)

    result, warnings = host.gather()
    driver = result['ansible_facts']['nvidia']['driver']

    assert driver['state'] == 'no_nvidia_smi' and driver['nvidia_smi'] is None
    assert (driver['kernel_module'], driver['kernel_module_version']) == ('proprietary', '535.54.03')
    assert warnings == [] and 'failed' not in result


def test_bare_server_reports_its_gpus_from_the_pci_bus_before_any_driver(host, tmp_path):
    host.path_dirs = [str(tmp_path / 'nowhere')]
    host.sysfs = _fake_sysfs(tmp_path)

    result, warnings = host.gather(fail_on_error=True)
    facts = result['ansible_facts']
    nvidia = facts['nvidia']

    assert 'failed' not in result and warnings == []
    assert nvidia['driver']['state'] == 'not_installed'
    assert nvidia['present'] is True and nvidia['gpu_count'] == 0
    assert [d['kernel_driver'] for d in nvidia['pci_devices']] == ['nvidia', 'nouveau', None]
    assert nvidia['nvswitch_count'] == 2
    assert nvidia['cuda_devices'] == [] and nvidia['memory_total_mib'] == 0
    assert host.calls() == []
    # Without nvidia-smi only the PCI bus speaks: no model, memory or CUDA label.
    assert (facts['gpu_vendor'], facts['gpu_count']) == ('nvidia', 3)
    assert facts['gpu_runner_labels'] == ['gpu', 'gpu:nvidia', 'gpu-count:3']


def test_host_without_any_gpu_is_vendor_none_and_never_a_failure(host, tmp_path):
    host.path_dirs = [str(tmp_path / 'nowhere')]
    host.sysfs = _fake_sysfs(tmp_path, nvidia=False)

    result, warnings = host.gather(fail_on_error=True)
    facts = result['ansible_facts']

    assert 'failed' not in result and warnings == []
    assert (facts['gpu_vendor'], facts['gpu_count'], facts['gpu_runner_labels']) == ('none', 0, [])
    assert facts['nvidia']['present'] is False and facts['amd']['present'] is False


@pytest.mark.parametrize('timeout', [0, -5, None])
def test_timeout_below_one_second_is_refused_naming_the_option(host, timeout):
    result, _warnings = host.gather(timeout=timeout)

    assert result['failed'] is True and result['msg'] == 'timeout must be at least 1 second, got %s' % timeout
    assert host.calls() == []


def test_decimal_ids_with_leading_zeros_are_read_as_decimal():
    xml = ('<nvidia_smi_log><gpu><uuid>GPU-1</uuid><minor_number>08</minor_number><mig_mode>'
           '<current_mig>Enabled</current_mig></mig_mode><mig_devices><mig_device><index>0</index>'
           '<gpu_instance_id>09</gpu_instance_id><compute_instance_id>0</compute_instance_id>'
           '</mig_device></mig_devices></gpu></nvidia_smi_log>')

    gpu0 = parse_query_xml(xml)['gpus'][0]

    assert gpu0['minor_number'] == 8
    assert gpu0['mig_devices'][0]['gpu_instance_id'] == 9


# ---------------------------------------------------------------- AMD hosts

def test_mi300x_host_is_described_by_one_rocm_smi_process(host, tmp_path):
    host.path_dirs = [str(tmp_path / 'nowhere')]
    host.sysfs = _fake_sysfs(tmp_path, nvidia=False, amd=True)
    host.serve_amd('mi300x-8gpu')
    host.load_amdgpu('6.7.0')

    result, warnings = host.gather()
    facts = result['ansible_facts']
    amd = facts['amd']

    assert warnings == [] and 'failed' not in result
    assert host.rocm_calls() == [ROCM_ARGV]
    assert amd['driver'] == dict(state='ok', version='6.7.0', kernel_module='amdgpu', kernel_module_version='6.7.0',
                                 rocm_smi=str(tmp_path / 'opt-rocm-bin' / 'rocm-smi'), error=None)
    assert amd['present'] is True and amd['gpu_count'] == 8
    assert amd['memory_total_mib'] == 8 * 196288
    assert [gpu['pci_bus_id'] for gpu in amd['gpus']][:2] == ['0000:05:00.0', '0000:26:00.0']
    assert [d['pci_id'] for d in amd['pci_devices']] == ['1002:74a1', '1002:744c', '1002:740f']
    assert (facts['gpu_vendor'], facts['gpu_count']) == ('amd', 8)
    assert facts['gpu_runner_labels'] == ['gpu', 'gpu:amd', 'gpu:mi300x', 'gpu-count:8', 'gpu-mem:192gb']
    assert facts['nvidia']['driver']['state'] == 'not_installed'


def test_amdgpu_not_loaded_is_reported_from_rocm_smi_words_although_it_exits_0(host, tmp_path):
    host.path_dirs = [str(tmp_path / 'nowhere')]
    host.serve_amd('mi300x-8gpu')
    host.fail_amd('driver-not-loaded')

    result, warnings = host.gather()
    driver = result['ansible_facts']['amd']['driver']

    assert 'failed' not in result
    assert (driver['state'], driver['kernel_module']) == ('not_loaded', None)
    assert 'amdgpu not found in modules' in driver['error']
    assert len(warnings) == 1 and warnings[0].startswith('rocm-smi at ') and 'driver state not_loaded' in warnings[0]
    assert result['ansible_facts']['gpu_vendor'] == 'none'


def test_amdgpu_not_loaded_fails_when_asked_to(host, tmp_path):
    host.path_dirs = [str(tmp_path / 'nowhere')]
    host.serve_amd('mi300x-8gpu')
    host.fail_amd('driver-not-loaded')

    result, _warnings = host.gather(fail_on_error=True)

    assert result['failed'] is True and 'rocm-smi at ' in result['msg']
    assert result['ansible_facts']['amd']['driver']['state'] == 'not_loaded'


def test_hung_rocm_smi_is_abandoned_after_the_timeout(host, tmp_path):
    host.path_dirs = [str(tmp_path / 'nowhere')]
    host.serve_amd('mi300x-8gpu')
    host.fail_amd('hang')

    started = time.monotonic()
    result, warnings = host.gather(timeout=1)

    assert time.monotonic() - started < 4.0
    assert result['ansible_facts']['amd']['driver']['state'] == 'unresponsive'
    assert len(warnings) == 1


def test_rocm_smi_refusing_the_command_line_is_an_error_with_its_words(host, tmp_path):
    host.path_dirs = [str(tmp_path / 'nowhere')]
    host.serve_amd('mi300x-8gpu')
    broken = _wrapper(tmp_path / 'old-rocm', 'rocm-smi', ROCM_DOUBLE / 'rocm_smi.py')
    broken.write_text('#!/bin/sh\necho "rocm-smi: error: unrecognized arguments: --showdriverversion" >&2\nexit 2\n')
    host.rocm_bin_dirs = [str(broken.parent)]

    result, _warnings = host.gather()
    driver = result['ansible_facts']['amd']['driver']

    assert driver['state'] == 'error' and 'unrecognized arguments' in driver['error']


def test_amdgpu_without_rocm_smi_is_described_by_the_pci_bus(host, tmp_path):
    host.path_dirs = [str(tmp_path / 'nowhere')]
    host.sysfs = _fake_sysfs(tmp_path, nvidia=False, amd=True)
    host.load_amdgpu()

    result, warnings = host.gather(fail_on_error=True)
    facts = result['ansible_facts']

    assert 'failed' not in result and warnings == []
    assert facts['amd']['driver']['state'] == 'no_rocm_smi'
    assert (facts['amd']['driver']['kernel_module'], facts['amd']['driver']['kernel_module_version']) == ('amdgpu', None)
    assert facts['amd']['present'] is True and facts['amd']['gpu_count'] == 0
    # The MI210 bound to vfio-pci belongs to a virtual machine: two GPUs are this host's.
    assert facts['gpu_runner_labels'] == ['gpu', 'gpu:amd', 'gpu-count:2']


def test_equal_counts_of_both_vendors_make_an_nvidia_host_labelled_for_nvidia_only(host):
    host.serve('tesla-t4-1gpu')
    host.serve_amd('rx7900xtx-1gpu')

    result, warnings = host.gather()
    facts = result['ansible_facts']

    assert warnings == []
    assert (facts['nvidia']['gpu_count'], facts['amd']['gpu_count']) == (1, 1)
    assert (facts['gpu_vendor'], facts['gpu_count']) == ('nvidia', 1)
    assert facts['gpu_runner_labels'] == ['gpu', 'gpu:nvidia', 'gpu:t4', 'gpu-count:1', 'gpu-mem:16gb', 'cuda:11.7']


def test_more_amd_gpus_than_nvidia_gpus_make_an_amd_host(host):
    host.serve('tesla-t4-1gpu')
    host.serve_amd('mi300x-8gpu')

    result, _warnings = host.gather()

    assert (result['ansible_facts']['gpu_vendor'], result['ansible_facts']['gpu_count']) == ('amd', 8)
    assert 'cuda:11.7' not in result['ansible_facts']['gpu_runner_labels']
