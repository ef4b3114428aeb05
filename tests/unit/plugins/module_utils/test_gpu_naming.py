# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Model slugs, architectures, memory classes and runner labels: the names roles act on."""
from __future__ import annotations

import re

import pytest

from ansible_collections.inferno.runners.plugins.module_utils import gpu
from ansible_collections.inferno.runners.plugins.module_utils.gpu import (
    architecture_from_compute_capability,
    memory_class_gb,
    model_slug,
    nvidia_product,
    runner_labels,
    summarize,
)

# What GitHub accepts in a self-hosted runner label.
GITHUB_LABEL = re.compile(r'^[A-Za-z0-9._:-]+$')


@pytest.mark.parametrize('name, slug', [
    ('NVIDIA A100-SXM4-80GB', 'a100'),
    ('A100-SXM4-40GB', 'a100'),  # R450 printed no vendor
    ('NVIDIA A100 80GB PCIe', 'a100'),
    ('Tesla T4', 't4'),
    ('NVIDIA H100 80GB HBM3', 'h100'),
    ('NVIDIA H100 PCIe', 'h100'),
    ('NVIDIA H100 NVL', 'h100'),
    ('NVIDIA H200 NVL', 'h200'),
    ('NVIDIA GH200 480GB', 'gh200'),
    ('NVIDIA B200', 'b200'),
    ('NVIDIA L40S', 'l40s'),
    ('NVIDIA A10G', 'a10g'),
    ('NVIDIA GeForce RTX 4090', 'rtx4090'),
    ('NVIDIA GeForce RTX 4070 SUPER', 'rtx4070super'),
    ('NVIDIA GeForce RTX 3080 Ti Laptop GPU', 'rtx3080ti'),
    ('NVIDIA GeForce GTX 1070 Ti', 'gtx1070ti'),
    ('NVIDIA RTX A6000', 'a6000'),
    ('Quadro RTX 6000', 'rtx6000'),
    ('NVIDIA RTX 6000 Ada Generation', 'rtx6000ada'),
    ('NVIDIA RTX 4000 SFF Ada Generation', 'rtx4000sffada'),
    ('NVIDIA RTX PRO 6000 Blackwell Max-Q Workstation Edition', 'rtxpro6000blackwell'),
    ('Tesla V100-SXM2-32GB', 'v100'),
    ('Tesla V100S-PCIE-32GB', 'v100s'),
    ('Tesla P100-PCIE-16GB', 'p100'),
    ('Quadro P2000', 'p2000'),
    ('NVIDIA TITAN V', 'titanv'),
    ('NVIDIA TITAN Xp', 'titanxp'),
    ('AMD Instinct MI300X', 'mi300x'),
    ('AMD Instinct MI300X VF', 'mi300x'),
    ('Aqua Vanjaram [Instinct MI300X]', 'mi300x'),  # pci.ids "codename [marketing name]"
    ('AMD INSTINCT MI250 (MCM) OAM AC MBA', 'mi250'),
    ('AMD Instinct MI250X/MI250', 'mi250x'),
    ('AMD Radeon RX 7900 XTX', 'rx7900xtx'),
    ('Navi 31 [Radeon RX 7900 XT/7900 XTX/7900M]', 'rx7900xt'),
    ('AMD Radeon PRO W7900', 'w7900'),
    ('AMD Radeon Graphics', None),  # an APU that names no model
    ('', None),
    (None, None),
])
def test_model_slug_keeps_the_model_and_drops_vendor_package_and_memory(name, slug):
    assert model_slug(name) == slug


# One product or more for every row of the product table; test_every_product_table_row_is_tested
# keeps it that way.
PRODUCTS = [
    ('NVIDIA B200', 'Blackwell', '10.0'),
    ('NVIDIA GB200', 'Blackwell', '10.0'),
    ('NVIDIA B300', 'Blackwell', '10.3'),
    ('NVIDIA GB300', 'Blackwell', '10.3'),
    ('NVIDIA GB10', 'Blackwell', '12.1'),
    ('NVIDIA GeForce RTX 5090', 'Blackwell', '12.0'),
    ('NVIDIA GeForce RTX 5070 Ti', 'Blackwell', '12.0'),
    ('NVIDIA RTX PRO 6000 Blackwell Server Edition', 'Blackwell', '12.0'),
    ('NVIDIA H100 80GB HBM3', 'Hopper', '9.0'),
    ('NVIDIA H100 NVL', 'Hopper', '9.0'),
    ('NVIDIA H200', 'Hopper', '9.0'),
    ('NVIDIA GH200 480GB', 'Hopper', '9.0'),
    ('NVIDIA H800', 'Hopper', '9.0'),
    ('NVIDIA H20', 'Hopper', '9.0'),
    ('Quadro RTX 6000', 'Turing', '7.5'),
    ('Quadro RTX 4000', 'Turing', '7.5'),
    ('Quadro RTX 8000', 'Turing', '7.5'),
    ('NVIDIA L40S', 'Ada Lovelace', '8.9'),
    ('NVIDIA L40', 'Ada Lovelace', '8.9'),
    ('NVIDIA L4', 'Ada Lovelace', '8.9'),
    ('NVIDIA L20', 'Ada Lovelace', '8.9'),
    ('NVIDIA GeForce RTX 4090', 'Ada Lovelace', '8.9'),
    ('NVIDIA GeForce RTX 4060 Ti', 'Ada Lovelace', '8.9'),
    ('NVIDIA RTX 6000 Ada Generation', 'Ada Lovelace', '8.9'),
    ('NVIDIA RTX 4000 SFF Ada Generation', 'Ada Lovelace', '8.9'),
    ('NVIDIA A100-SXM4-80GB', 'Ampere', '8.0'),
    ('NVIDIA A100 80GB PCIe', 'Ampere', '8.0'),
    ('NVIDIA A800-SXM4-80GB', 'Ampere', '8.0'),
    ('NVIDIA A30', 'Ampere', '8.0'),
    ('NVIDIA A10G', 'Ampere', '8.6'),
    ('NVIDIA A10', 'Ampere', '8.6'),
    ('NVIDIA A40', 'Ampere', '8.6'),
    ('NVIDIA A16', 'Ampere', '8.6'),
    ('NVIDIA A2', 'Ampere', '8.6'),
    ('NVIDIA RTX A6000', 'Ampere', '8.6'),
    ('NVIDIA RTX A4000', 'Ampere', '8.6'),
    ('NVIDIA GeForce RTX 3090', 'Ampere', '8.6'),
    ('NVIDIA GeForce RTX 3080 Ti Laptop GPU', 'Ampere', '8.6'),
    ('Tesla T4', 'Turing', '7.5'),
    ('NVIDIA T1000', 'Turing', '7.5'),
    ('NVIDIA GeForce RTX 2080 Ti', 'Turing', '7.5'),
    ('NVIDIA GeForce GTX 1660 Ti', 'Turing', '7.5'),
    ('NVIDIA TITAN RTX', 'Turing', '7.5'),
    ('Tesla V100-SXM2-32GB', 'Volta', '7.0'),
    ('Tesla V100S-PCIE-32GB', 'Volta', '7.0'),
    ('NVIDIA TITAN V', 'Volta', '7.0'),
    ('Quadro GV100', 'Volta', '7.0'),
    ('Tesla P100-PCIE-16GB', 'Pascal', '6.0'),
    ('Quadro GP100', 'Pascal', '6.0'),
    ('Tesla P40', 'Pascal', '6.1'),
    ('Tesla P4', 'Pascal', '6.1'),
    ('Quadro P2000', 'Pascal', '6.1'),
    ('NVIDIA GeForce GTX 1080 Ti', 'Pascal', '6.1'),
    ('NVIDIA GeForce GT 1030', 'Pascal', '6.1'),
    ('NVIDIA TITAN Xp', 'Pascal', '6.1'),
    ('Tesla M60', 'Maxwell', None),
    ('Quadro M4000', 'Maxwell', None),
    ('NVIDIA GeForce GTX 980 Ti', 'Maxwell', None),
    ('NVIDIA GeForce GTX 750 Ti', 'Maxwell', None),
    ('Tesla K80', 'Kepler', None),
    ('Tesla K40m', 'Kepler', None),
]


@pytest.mark.parametrize('name, architecture, capability', PRODUCTS)
def test_product_name_gives_architecture_and_compute_capability(name, architecture, capability):
    assert nvidia_product(model_slug(name)) == (architecture, capability)


@pytest.mark.parametrize('name', ['NVIDIA Future GPU', 'AMD Instinct MI300X', 'NVIDIA RTX 9999', None])
def test_unknown_product_gives_nothing(name):
    assert nvidia_product(model_slug(name)) == (None, None)


def test_every_product_table_row_is_tested():
    tested = set()
    for name, _architecture, _capability in PRODUCTS:
        slug = model_slug(name)
        tested.add(next(pattern.pattern for pattern, _a, _c in gpu._NVIDIA_PRODUCTS if pattern.fullmatch(slug)))

    assert tested == {pattern.pattern for pattern, _a, _c in gpu._NVIDIA_PRODUCTS}


@pytest.mark.parametrize('name, architecture, capability', [row for row in PRODUCTS if row[2]])
def test_product_table_agrees_with_the_compute_capability_table(name, architecture, capability):
    assert architecture_from_compute_capability(capability) == architecture


@pytest.mark.parametrize('capability, architecture', [
    ('3.5', 'Kepler'), ('3.7', 'Kepler'),
    ('5.0', 'Maxwell'), ('5.2', 'Maxwell'), ('5.3', 'Maxwell'),
    ('6.0', 'Pascal'), ('6.1', 'Pascal'), ('6.2', 'Pascal'),
    ('7.0', 'Volta'), ('7.2', 'Volta'),
    ('7.5', 'Turing'),
    ('8.0', 'Ampere'), ('8.6', 'Ampere'), ('8.7', 'Ampere'),
    ('8.9', 'Ada Lovelace'),
    ('9.0', 'Hopper'),
    ('10.0', 'Blackwell'), ('10.3', 'Blackwell'), ('11.0', 'Blackwell'), ('12.0', 'Blackwell'), ('12.1', 'Blackwell'),
    ('2.1', None), ('13.0', None), ('9', None), ('', None), (None, None), ('N/A', None),
])
def test_compute_capability_gives_the_architecture(capability, architecture):
    assert architecture_from_compute_capability(capability) == architecture


@pytest.mark.parametrize('memory_mib, size, card', [
    (15360, 16, 'Tesla T4 (driver reports 15 GiB)'),
    (16160, 16, 'V100 16GB'),
    (23028, 24, 'A10G'),
    (24564, 24, 'RTX 4090'),
    (32510, 32, 'V100 32GB'),
    (40960, 40, 'A100 40GB'),
    (46068, 48, 'L40S'),
    (65520, 64, 'MI250X, one die'),
    (81559, 80, 'H100 80GB HBM3'),
    (81920, 80, 'A100 80GB'),
    (95830, 94, 'H100 NVL'),
    (97887, 96, 'RTX PRO 6000 Blackwell'),
    (143771, 141, 'H200'),
    (183359, 180, 'B200'),
    (196288, 192, 'MI300X'),
    (5120, 5, 'Quadro P2000'),
    (11264, 11, 'GTX 1080 Ti'),
    (14336, 14, 'no class within 10%: the nearest GiB'),
    (700000, 684, 'beyond every class: the nearest GiB'),
    (0, None, 'unknown'),
    (None, None, 'unknown'),
])
def test_memory_is_named_by_the_class_the_card_is_sold_as(memory_mib, size, card):
    assert memory_class_gb(memory_mib) == size, card


def _gpu(slug, memory_mib):
    return dict(model_slug=slug, memory_total_mib=memory_mib)


def test_labels_name_vendor_model_count_memory_and_cuda():
    labels = runner_labels('nvidia', 8, [_gpu('h100', 81559)] * 8, '12.2')

    assert labels == ['gpu', 'gpu:nvidia', 'gpu:h100', 'gpu-count:8', 'gpu-mem:80gb', 'cuda:12.2']


def test_mixed_models_get_one_label_per_model_and_memory_class_in_device_order():
    labels = runner_labels('nvidia', 3, [_gpu('a100', 81920), _gpu('t4', 15360), _gpu('a100', 81920)], '12.2')

    assert labels == ['gpu', 'gpu:nvidia', 'gpu:a100', 'gpu:t4', 'gpu-count:3', 'gpu-mem:80gb', 'gpu-mem:16gb',
                      'cuda:12.2']


@pytest.mark.parametrize('cuda_version, label', [('12.2', 'cuda:12.2'), ('13.0', 'cuda:13.0'),
                                                 ('12.4.131', 'cuda:12.4'), (None, None), ('N/A', None)])
def test_cuda_label_is_major_dot_minor(cuda_version, label):
    cuda = [item for item in runner_labels('nvidia', 1, [_gpu('t4', 15360)], cuda_version) if item.startswith('cuda:')]

    assert cuda == ([label] if label else [])


def test_amd_hosts_get_no_cuda_label():
    assert runner_labels('amd', 8, [_gpu('mi300x', 196288)] * 8, '12.2') == [
        'gpu', 'gpu:amd', 'gpu:mi300x', 'gpu-count:8', 'gpu-mem:192gb']


@pytest.mark.parametrize('vendor, count', [('none', 0), ('nvidia', 0), ('amd', 0)])
def test_no_gpu_means_no_label(vendor, count):
    assert runner_labels(vendor, count, [], '12.2') == []


@pytest.mark.parametrize('name', [
    'NVIDIA GeForce RTX\u2122 4090',
    'NVIDIA "Quoted" Board, rev. 2',
    'GPU with spaces and / slashes \\ and ; semicolons',
    '\u00c9tonnant GPU 9000 \U0001f680',
    'x' * 1000,
    '9' * 400,
    'NVIDIA A100-SXM4-80GB',
    'AMD Instinct MI300X',
])
def test_labels_from_any_product_name_are_valid_github_labels(name):
    labels = runner_labels('nvidia', 1000000, [_gpu(model_slug(name), 10 ** 9)], '12.2')

    assert labels[:2] == ['gpu', 'gpu:nvidia'] and 'gpu-count:1000000' in labels
    for label in labels:
        assert GITHUB_LABEL.match(label) and len(label) <= 256, label


def _vendor(gpu_count=0, pci=0, gpus=None, passed_through=0):
    devices = [dict(address='x', kernel_driver=None)] * pci + [dict(address='y', kernel_driver='vfio-pci')] * passed_through
    return dict(gpu_count=gpu_count, pci_devices=devices, gpus=gpus or [], driver=dict())


@pytest.mark.parametrize('nvidia, amd, vendor, count', [
    (_vendor(), _vendor(), 'none', 0),
    (_vendor(2, 2), _vendor(), 'nvidia', 2),
    (_vendor(), _vendor(0, 4), 'amd', 4),  # PCI bus only: no driver yet
    (_vendor(1, 1), _vendor(1, 1), 'nvidia', 1),  # a tie goes to NVIDIA
    (_vendor(0, 1), _vendor(0, 2), 'amd', 2),
    (_vendor(1, 2), _vendor(0, 1), 'nvidia', 1),  # what the tool described, not the bus, is counted
    (_vendor(0, 1, passed_through=3), _vendor(0, 2), 'amd', 2),  # GPUs passed through to VMs are not this host's
    (_vendor(0, 0, passed_through=2), _vendor(), 'none', 0),
])
def test_the_vendor_with_more_gpus_is_the_host_vendor(nvidia, amd, vendor, count):
    facts = summarize(nvidia, amd)

    assert (facts['gpu_vendor'], facts['gpu_count']) == (vendor, count)
    assert bool(facts['gpu_runner_labels']) == (vendor != 'none')
