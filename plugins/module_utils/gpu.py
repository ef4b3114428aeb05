# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""GPU facts, read from nvidia-smi, rocm-smi, the loaded kernel modules and sysfs.

Used by the ``inferno.runners.gpu_facts`` module. Names starting with ``_`` are private to this
collection and may change in any release; the parsers, the naming helpers and ``GpuFacts`` are the
supported surface.

This file runs on the managed host: it must stay compatible with Python 3.8 and the standard library.
"""
from __future__ import annotations

import csv
import io
import json
import os
import re
import subprocess
import xml.etree.ElementTree as ET
from collections import namedtuple

ARGUMENT_SPEC = dict(
    nvidia_smi_path=dict(type='path'),
    rocm_smi_path=dict(type='path'),
    timeout=dict(type='int', default=60),
    fail_on_error=dict(type='bool', default=False),
)

STATE_OK = 'ok'
STATE_NOT_INSTALLED = 'not_installed'
STATE_NO_NVIDIA_SMI = 'no_nvidia_smi'
STATE_NO_ROCM_SMI = 'no_rocm_smi'
STATE_NOT_LOADED = 'not_loaded'
STATE_VERSION_MISMATCH = 'version_mismatch'
STATE_UNRESPONSIVE = 'unresponsive'
STATE_ERROR = 'error'

# The vendor's tool is installed but cannot describe the GPUs: what fail_on_error turns into a failure.
FAILED_STATES = frozenset((STATE_NOT_LOADED, STATE_VERSION_MISMATCH, STATE_UNRESPONSIVE, STATE_ERROR))

VENDOR_NVIDIA = 'nvidia'
VENDOR_AMD = 'amd'
VENDOR_NONE = 'none'

_SYSFS_PCI_DEVICES = '/sys/bus/pci/devices'
_PROC_DRIVER_VERSION = '/proc/driver/nvidia/version'
_SYSFS_AMDGPU_MODULE = '/sys/module/amdgpu'
# ROCm installs rocm-smi under /opt/rocm/bin and only some packagings link it into PATH.
_ROCM_BIN_DIRS = ('/opt/rocm/bin',)

_NVIDIA_PCI_VENDOR = 0x10de
# 0x1002 is ATI, AMD's graphics vendor id; 0x1022 (AMD's CPU, chipset and XDNA NPU functions) is not a GPU.
_AMD_PCI_VENDOR = 0x1002
_PCI_CLASS_DISPLAY = 0x03
# Instinct MI200/MI300 boards enumerate as "Processing accelerators" (0x12), not as display controllers.
_PCI_CLASS_PROCESSING_ACCELERATOR = 0x12
# NVSwitch chips enumerate as "Bridge: Other" (0x0680); their presence is what makes
# nvidia-fabricmanager mandatory.
_PCI_SUBCLASS_BRIDGE_OTHER = 0x0680

# nvidia-smi exit codes are NVML return codes.
_RC_DRIVER_NOT_LOADED = 9
_RC_LIB_RM_VERSION_MISMATCH = 18

# nvidia-smi prints "N/A" for unsupported values, brackets them in CSV, and older drivers
# print "Not Found" or "Unknown Error" where newer ones have a value.
_MISSING_VALUES = frozenset((
    '', 'N/A', '[N/A]', 'Not Found', '[Not Found]', 'Not Supported', '[Not Supported]',
    'Unknown Error', '[Unknown Error]', 'Insufficient Permissions', '[Insufficient Permissions]',
))
# rocm-smi writes these where a card cannot report a value.
_ROCM_MISSING_VALUES = frozenset(('unknown', 'unsupported', 'not supported'))

_MEMORY_UNITS_MIB = {'KiB': 1.0 / 1024, 'MiB': 1, 'GiB': 1024}

_LIST_GPU_RE = re.compile(r'^GPU (?P<index>\d+): (?P<name>.+?) \(UUID: (?P<uuid>[^()\s]+)\)\s*$')
# R470+ prints "MIG 1g.10gb Device 0: (UUID: MIG-<uuid>)"; R450-R465 printed
# "MIG-GPU-<gpu uuid>/<gi>/<ci>" as the UUID. Both are accepted by CUDA_VISIBLE_DEVICES.
_LIST_MIG_RE = re.compile(
    r'^\s+MIG (?P<profile>\S+)\s+Device\s+(?P<index>\d+): \(UUID: (?P<uuid>[^()\s]+)\)\s*$')
_KERNEL_MODULE_RE = re.compile(
    r'^NVRM version:\s*(?P<kind>.*?Kernel Module)(?:\s+for\s+\S+)?\s+(?P<version>\d+(?:\.\d+)+)',
    re.MULTILINE)
_CSV_UNIT_RE = re.compile(r'\s*\[[^\]]*\]$')
_ROCM_CARD_RE = re.compile(r'^card:?(\d+)$')
_COMPUTE_CAPABILITY_RE = re.compile(r'^(\d+)\.(\d+)$')
_CUDA_VERSION_RE = re.compile(r'^(\d+)\.(\d+)')

# Words of a product name that name the vendor or the product line, not the model.
_SLUG_NOISE = frozenset((
    'nvidia', 'tesla', 'geforce', 'quadro', 'amd', 'ati', 'instinct', 'radeon', 'graphics', 'generation',
))
# Words after the model number that make it another model ("RTX 4070 Ti", "RTX 6000 Ada").
# Any other word there names a package, memory size or power envelope of the same model
# (SXM4, PCIe, NVL, 80GB, HBM3, OAM, Max-Q...) and ends the slug.
_SLUG_QUALIFIERS = frozenset(('ti', 'super', 'xt', 'xtx', 'gre', 'sff', 'ada', 'blackwell'))
_SLUG_MEMORY_SIZE_RE = re.compile(r'^\d+[gmt]b?$')

# Model slug -> (architecture, compute capability) for products whose chip fixes both, from
# NVIDIA's published compute capability table. None where the capability differs within the
# family: nvidia-smi is then asked. First match wins, so the exact Quadro RTX names (Turing) come
# before the "RTX 40x0" pattern that would otherwise claim "rtx4000".
_NVIDIA_PRODUCTS = tuple((re.compile(pattern), architecture, capability) for pattern, architecture, capability in (
    (r'g?b(100|200)', 'Blackwell', '10.0'),
    (r'g?b300', 'Blackwell', '10.3'),
    (r'gb10', 'Blackwell', '12.1'),
    (r'rtx50[5-9]0[a-z]*', 'Blackwell', '12.0'),
    (r'rtxpro\d+blackwell', 'Blackwell', '12.0'),
    (r'g?h(100|200|800|20)', 'Hopper', '9.0'),
    (r'rtx(3000|4000|5000|6000|8000)', 'Turing', '7.5'),
    (r'l(4|20|40|40s|40g)', 'Ada Lovelace', '8.9'),
    (r'rtx40[5-9]0[a-z]*', 'Ada Lovelace', '8.9'),
    (r'rtx\d+(sff)?ada', 'Ada Lovelace', '8.9'),
    (r'a(100|800|30)', 'Ampere', '8.0'),
    (r'a(2|10|10g|10m|16|40)', 'Ampere', '8.6'),
    (r'a\d{4}', 'Ampere', '8.6'),
    (r'rtx30[5-9]0[a-z]*', 'Ampere', '8.6'),
    (r't(4|400|600|1000|1200)', 'Turing', '7.5'),
    (r'rtx20[5-8]0[a-z]*|gtx16[5-6]0[a-z]*|titanrtx', 'Turing', '7.5'),
    (r'g?v100[a-z]*|titanv', 'Volta', '7.0'),
    (r'g?p100', 'Pascal', '6.0'),
    (r'p(4|6|40)|p\d{3,4}|gtx10[5-8]0[a-z]*|gt1030|titanx?p', 'Pascal', '6.1'),
    (r'm(4|6|10|40|60)|m\d{3,4}|gtx9[5-8]0[a-z]*|gtx750[a-z]*', 'Maxwell', None),
    (r'k\d+[a-z]*', 'Kepler', None),
))
# Compute capability major -> architecture; majors 7 and 8 hold two architectures each.
_ARCHITECTURE_BY_MAJOR = {
    3: 'Kepler', 5: 'Maxwell', 6: 'Pascal', 9: 'Hopper',
    # 11.x is Jetson Thor, renumbered from 10.1 in CUDA 13.
    10: 'Blackwell', 11: 'Blackwell', 12: 'Blackwell',
}

# Memory sizes in GB that GPUs are sold with, smallest first. A driver reports a little less than
# the board carries (ECC, reserved memory): a 16 GB T4 reports 15 GiB, a 48 GB L40S 45 GiB.
_MEMORY_CLASSES_GB = (1, 2, 3, 4, 5, 6, 8, 10, 11, 12, 16, 20, 24, 32, 40, 48, 64, 80, 94, 96, 128, 141, 144,
                      180, 186, 192, 256, 288)
# A total this far below a class still belongs to it; a little above (1%) tolerates GiB/GB rounding.
_MEMORY_CLASS_SHORTFALL = 0.90
_MEMORY_CLASS_EXCESS = 1.01

# A GPU bound to one of these is reserved for a virtual machine: this host cannot run jobs on it.
_PASSTHROUGH_DRIVERS = frozenset(('vfio-pci', 'pci-stub'))

# Characters GitHub accepts in a self-hosted runner label, and its length limit.
_RUNNER_LABEL_RE = re.compile(r'^[A-Za-z0-9._:-]{1,256}$')

_CommandResult = namedtuple('_CommandResult', ['rc', 'stdout', 'stderr', 'timed_out'])


class GpuFactsError(Exception):
    """nvidia-smi or rocm-smi answered with something this module cannot read."""


def _value(text):
    if text is None:
        return None
    text = text.strip()
    return None if text in _MISSING_VALUES else text


def _child_text(element, path):
    found = element.find(path)
    return None if found is None else _value(found.text)


def _memory_mib(text):
    """'81920 MiB' -> 81920; anything unreadable -> None."""
    text = _value(text)
    if text is None:
        return None
    match = re.match(r'^(\d+(?:\.\d+)?)\s*([KMG]iB)$', text)
    if not match:
        return None
    return int(float(match.group(1)) * _MEMORY_UNITS_MIB[match.group(2)])


def _enabled(text):
    """'Enabled' -> True, 'Disabled' -> False, 'N/A' or absent -> None."""
    text = _value(text)
    if text is None:
        return None
    return text.lower() == 'enabled'


def _int(text):
    text = _value(text)
    if text is None:
        return None
    try:
        # Decimal unless prefixed: sysfs writes "0x10de", nvidia-smi writes "3".
        return int(text, 16) if text.lower().startswith('0x') else int(text, 10)
    except ValueError:
        return None


def _unique(values):
    """Values in first-seen order, without repeats or None."""
    seen = []
    for value in values:
        if value is not None and value not in seen:
            seen.append(value)
    return seen


# ---------------------------------------------------------------- naming helpers

def model_slug(name):
    """Short lowercase model name for labels: "NVIDIA A100-SXM4-80GB" -> "a100".

    Vendor and product-line words are dropped, and so is whatever follows the model number unless
    it makes another model ("ti", "super", "xtx", "ada"...). A model number made of digits keeps
    the series letters before it ("GeForce RTX 4090" -> "rtx4090"); one that carries its letters
    stands alone ("Radeon PRO W7900" -> "w7900"). rocm-smi's "Codename [Marketing name]" form is
    read from the brackets, and of "MI250X/MI250" only the first name is kept.
    """
    if not name:
        return None
    text = name
    bracket = re.search(r'\[([^\]]+)\]', text)
    if bracket:
        text = bracket.group(1)
    text = re.sub(r'\([^)]*\)', ' ', text).split('/')[0]
    words = [word for word in re.split(r'[^a-z0-9]+', text.lower()) if word and word not in _SLUG_NOISE]
    model_at = None
    for position, word in enumerate(words):
        if any(char.isdigit() for char in word) and not _SLUG_MEMORY_SIZE_RE.match(word):
            model_at = position
            break
    if model_at is None:
        # No model number ("TITAN V", "TITAN RTX"): the remaining words are the model.
        slug = ''.join(words)
    else:
        model = words[model_at]
        parts = words[:model_at] if model[0].isdigit() else []
        parts.append(model)
        for word in words[model_at + 1:]:
            if word not in _SLUG_QUALIFIERS:
                break
            parts.append(word)
        slug = ''.join(parts)
    return slug[:64] or None


def nvidia_product(slug):
    """``(architecture, compute capability)`` of an NVIDIA model slug; ``(None, None)`` when unknown."""
    if slug:
        for pattern, architecture, capability in _NVIDIA_PRODUCTS:
            if pattern.fullmatch(slug):
                return architecture, capability
    return None, None


def architecture_from_compute_capability(capability):
    """NVIDIA architecture of a compute capability ("8.9" -> "Ada Lovelace"); None when unknown."""
    match = _COMPUTE_CAPABILITY_RE.match(capability or '')
    if not match:
        return None
    major, minor = int(match.group(1)), int(match.group(2))
    if major == 7:
        # 7.0 and 7.2 (Jetson Xavier) are Volta, 7.5 is Turing.
        return 'Turing' if minor >= 5 else 'Volta'
    if major == 8:
        # 8.0, 8.6 and 8.7 (Jetson Orin) are Ampere, 8.9 is Ada Lovelace.
        return 'Ada Lovelace' if minor == 9 else 'Ampere'
    return _ARCHITECTURE_BY_MAJOR.get(major)


def memory_class_gb(memory_mib):
    """Marketing size of a GPU's memory, in GB, from the total its driver reports.

    The total (in GiB) is rounded up to the smallest size in ``_MEMORY_CLASSES_GB`` that it does
    not exceed by more than 1%, provided it is at most 10% short of that size; otherwise it is
    rounded to the nearest GiB. 15360 MiB (T4) -> 16, 81559 MiB (H100) -> 80, 143771 MiB (H200) -> 141.
    """
    if not memory_mib or memory_mib <= 0:
        return None
    gib = memory_mib / 1024.0
    for size in _MEMORY_CLASSES_GB:
        if gib <= size * _MEMORY_CLASS_EXCESS:
            if gib >= size * _MEMORY_CLASS_SHORTFALL:
                return size
            break
    return max(1, int(round(gib)))


def _major_minor(version):
    match = _CUDA_VERSION_RE.match(version or '')
    return '%s.%s' % (int(match.group(1)), int(match.group(2))) if match else None


def runner_labels(vendor, count, gpus, cuda_version=None):
    """GitHub runner labels describing ``count`` GPUs of ``vendor``; [] without a GPU.

    ``gpus`` are the vendor's described GPUs (``model_slug`` and ``memory_total_mib`` are read):
    one ``gpu:<slug>`` and one ``gpu-mem:<class>`` label per model and memory class present, in
    device order. Labels GitHub would refuse are dropped rather than failing registration.
    """
    if vendor == VENDOR_NONE or not count:
        return []
    labels = ['gpu', 'gpu:%s' % vendor]
    labels.extend('gpu:%s' % slug for slug in _unique(gpu.get('model_slug') for gpu in gpus))
    labels.append('gpu-count:%d' % count)
    labels.extend('gpu-mem:%dgb' % size
                  for size in _unique(memory_class_gb(gpu.get('memory_total_mib')) for gpu in gpus))
    cuda = _major_minor(cuda_version) if vendor == VENDOR_NVIDIA else None
    if cuda:
        labels.append('cuda:%s' % cuda)
    return [label for label in _unique(labels) if _RUNNER_LABEL_RE.match(label)]


def _usable_gpu_count(facts):
    """GPUs the vendor's tool described or, when it described none (no driver yet), the GPUs on
    the PCI bus that are not passed through to a virtual machine."""
    return facts['gpu_count'] or sum(1 for device in facts['pci_devices']
                                     if device.get('kernel_driver') not in _PASSTHROUGH_DRIVERS)


def summarize(nvidia, amd):
    """The vendor-neutral facts: ``gpu_vendor``, ``gpu_count`` and ``gpu_runner_labels``.

    With both vendors present the one with more GPUs wins and NVIDIA wins a tie: an AMD APU's
    integrated graphics is an AMD GPU on the PCI bus, and a workstation with it and one NVIDIA card
    is an NVIDIA host.
    """
    counts = dict((name, _usable_gpu_count(facts)) for name, facts in ((VENDOR_NVIDIA, nvidia), (VENDOR_AMD, amd)))
    if not any(counts.values()):
        return dict(gpu_vendor=VENDOR_NONE, gpu_count=0, gpu_runner_labels=[])
    vendor = VENDOR_NVIDIA if counts[VENDOR_NVIDIA] >= counts[VENDOR_AMD] else VENDOR_AMD
    chosen = nvidia if vendor == VENDOR_NVIDIA else amd
    return dict(
        gpu_vendor=vendor,
        gpu_count=counts[vendor],
        gpu_runner_labels=runner_labels(vendor, counts[vendor], chosen['gpus'],
                                        chosen['driver'].get('cuda_version')),
    )


# ---------------------------------------------------------------- nvidia-smi

def _architecture(text):
    text = _value(text)
    return None if text is None or text.lower() == 'unknown' else text


def parse_query_xml(text):
    """Read ``nvidia-smi -q -x``.

    Returns ``{'driver_version', 'cuda_version', 'gpus': [...]}``. The ``<gpu>`` elements are
    trusted over ``<attached_gpus>``, which counts GPUs the caller may not be allowed to see.
    The XML does not carry the compute capability; it is filled in from the product name when the
    model fixes it (see ``nvidia_product``), and so is the architecture on drivers that do not
    print ``<product_architecture>``.
    """
    try:
        # ElementTree never fetches the DTD named by nvidia-smi's DOCTYPE and refuses external
        # entities, so parsing stays offline.
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        raise GpuFactsError('nvidia-smi -q -x printed XML that cannot be parsed: %s' % exc)
    if root.tag != 'nvidia_smi_log':
        raise GpuFactsError('nvidia-smi -q -x printed <%s>, expected <nvidia_smi_log>' % root.tag)

    gpus = []
    for index, gpu in enumerate(root.findall('gpu')):
        current_mig = _enabled(_child_text(gpu, 'mig_mode/current_mig'))
        pending_mig = _enabled(_child_text(gpu, 'mig_mode/pending_mig'))
        mig_devices = []
        for mig in gpu.findall('mig_devices/mig_device'):
            mig_devices.append(dict(
                index=_int(_child_text(mig, 'index')),
                uuid=None,
                profile=None,
                gpu_instance_id=_int(_child_text(mig, 'gpu_instance_id')),
                compute_instance_id=_int(_child_text(mig, 'compute_instance_id')),
                memory_total_mib=_memory_mib(_child_text(mig, 'fb_memory_usage/total')),
            ))
        name = _child_text(gpu, 'product_name')
        slug = model_slug(name)
        product_architecture, product_capability = nvidia_product(slug)
        gpus.append(dict(
            index=index,
            name=name,
            model_slug=slug,
            uuid=_child_text(gpu, 'uuid'),
            pci_bus_id=_child_text(gpu, 'pci/pci_bus_id') or _value(gpu.get('id')),
            minor_number=_int(_child_text(gpu, 'minor_number')),
            architecture=_architecture(_child_text(gpu, 'product_architecture')) or product_architecture,
            compute_capability=product_capability,
            memory_total_mib=_memory_mib(_child_text(gpu, 'fb_memory_usage/total')),
            persistence_mode=_enabled(_child_text(gpu, 'persistence_mode')),
            mig_supported=current_mig is not None,
            mig_enabled=bool(current_mig),
            mig_enabled_pending=bool(pending_mig),
            mig_devices=mig_devices,
        ))
    return dict(
        driver_version=_child_text(root, 'driver_version'),
        cuda_version=_child_text(root, 'cuda_version'),
        gpus=gpus,
    )


def parse_gpu_list(text):
    """Read ``nvidia-smi -L``: the only place nvidia-smi names MIG device UUIDs and profiles."""
    gpus = []
    for line in text.splitlines():
        match = _LIST_GPU_RE.match(line)
        if match:
            gpus.append(dict(index=int(match.group('index')), name=match.group('name'),
                             uuid=match.group('uuid'), mig_devices=[]))
            continue
        match = _LIST_MIG_RE.match(line)
        if match and gpus:
            gpus[-1]['mig_devices'].append(dict(index=int(match.group('index')),
                                                profile=match.group('profile'),
                                                uuid=match.group('uuid')))
    return gpus


def parse_query_csv(text):
    """Read ``nvidia-smi --query-gpu=... --format=csv``.

    Keys are the header names without their unit suffix ("memory.total [MiB]" -> "memory.total");
    values keep their units, as nvidia-smi prints them unless told ``nounits``.
    """
    rows = [row for row in csv.reader(io.StringIO(text), skipinitialspace=True) if row]
    if not rows:
        return []
    header = [_CSV_UNIT_RE.sub('', name.strip()) for name in rows[0]]
    records = []
    for number, row in enumerate(rows[1:], start=2):
        if len(row) != len(header):
            raise GpuFactsError('nvidia-smi CSV line %d has %d fields, the header has %d'
                                % (number, len(row), len(header)))
        records.append(dict((name, _value(value)) for name, value in zip(header, row)))
    return records


def parse_kernel_module_version(text):
    """Read /proc/driver/nvidia/version: ``(flavour, version)`` of the loaded kernel module.

    The flavour ("open" or "proprietary") matters because Grace Hopper and Blackwell need the open
    modules and pre-Turing GPUs cannot use them.
    """
    match = _KERNEL_MODULE_RE.search(text or '')
    if not match:
        return None, None
    flavour = 'open' if 'Open Kernel Module' in match.group('kind') else 'proprietary'
    return flavour, match.group('version')


def classify_failure(rc, output):
    """Name the driver state behind a failed nvidia-smi call."""
    lowered = (output or '').lower()
    if rc == _RC_LIB_RM_VERSION_MISMATCH or 'version mismatch' in lowered:
        return STATE_VERSION_MISMATCH
    if rc == _RC_DRIVER_NOT_LOADED or "couldn't communicate with the nvidia driver" in lowered:
        return STATE_NOT_LOADED
    return STATE_ERROR


# ---------------------------------------------------------------- rocm-smi

def _rocm_value(card, key):
    """A rocm-smi field, whatever its case: "Card series" became "Card Series" in later releases."""
    wanted = key.lower()
    for name, value in card.items():
        if name.lower() == wanted and isinstance(value, str):
            value = _value(value)
            return None if value is None or value.lower() in _ROCM_MISSING_VALUES else value
    return None


def _bytes_mib(text):
    try:
        return int(text) // (1024 * 1024) if text is not None else None
    except ValueError:
        return None


def parse_rocm_smi_json(text):
    """Read ``rocm-smi --showproductname --showmeminfo vram --showbus --showdriverversion --json``.

    Returns ``{'driver_version', 'gpus': [...]}`` with one GPU per ``cardN`` key, in card order.
    rocm-smi may print warnings before its JSON, so reading starts at the first ``{``.
    """
    start = (text or '').find('{')
    if start < 0:
        raise GpuFactsError('rocm-smi printed no JSON')
    try:
        data, _end = json.JSONDecoder().raw_decode(text[start:])
    except ValueError as exc:
        raise GpuFactsError('rocm-smi printed JSON that cannot be parsed: %s' % exc)
    cards = []
    for key, card in data.items():
        match = _ROCM_CARD_RE.match(key)
        if match and isinstance(card, dict):
            cards.append((int(match.group(1)), card))
    gpus = []
    for index, card in sorted(cards, key=lambda item: item[0]):
        name = _rocm_value(card, 'Card series')
        gpus.append(dict(
            index=index,
            name=name,
            model_slug=model_slug(name),
            card_model=_rocm_value(card, 'Card model'),
            sku=_rocm_value(card, 'Card SKU'),
            pci_bus_id=_rocm_value(card, 'PCI Bus'),
            memory_total_mib=_bytes_mib(_rocm_value(card, 'VRAM Total Memory (B)')),
            gfx_version=_rocm_value(card, 'GFX Version'),
        ))
    system = data.get('system')
    return dict(
        driver_version=_rocm_value(system, 'Driver version') if isinstance(system, dict) else None,
        gpus=gpus,
    )


def classify_rocm_failure(output):
    """Name the driver state behind rocm-smi output that holds no JSON.

    rocm-smi exits 0 even when amdgpu is not loaded, so only its words tell the states apart.
    """
    lowered = (output or '').lower()
    if 'driver not initialized' in lowered or 'amdgpu not found' in lowered:
        return STATE_NOT_LOADED
    return STATE_ERROR


# ---------------------------------------------------------------- sysfs

def _read_sysfs(path):
    try:
        with open(path) as handle:
            return handle.read().strip()
    except (IOError, OSError):
        return None


def _pci_functions(root):
    """GPU vendors' PCI functions in sysfs: ``(address, vendor, class, device, kernel driver)``."""
    functions = []
    try:
        addresses = sorted(os.listdir(root))
    except (IOError, OSError):
        return functions
    for address in addresses:
        device_dir = os.path.join(root, address)
        vendor = _int(_read_sysfs(os.path.join(device_dir, 'vendor')))
        if vendor not in (_NVIDIA_PCI_VENDOR, _AMD_PCI_VENDOR):
            continue
        pci_class = _int(_read_sysfs(os.path.join(device_dir, 'class')))
        if pci_class is None:
            continue
        driver_link = os.path.join(device_dir, 'driver')
        kernel_driver = None
        if os.path.islink(driver_link):
            kernel_driver = os.path.basename(os.readlink(driver_link))
        functions.append((address, vendor, pci_class, _int(_read_sysfs(os.path.join(device_dir, 'device'))),
                          kernel_driver))
    return functions


def _pci_entry(address, vendor, device_id, kernel_driver):
    return dict(
        address=address,
        pci_id='%04x:%04x' % (vendor, device_id) if device_id is not None else None,
        kernel_driver=kernel_driver,
    )


def _nvidia_pci(functions):
    gpus = []
    nvswitch_count = 0
    for address, vendor, pci_class, device_id, kernel_driver in functions:
        if vendor != _NVIDIA_PCI_VENDOR:
            continue
        if pci_class >> 8 == _PCI_SUBCLASS_BRIDGE_OTHER:
            nvswitch_count += 1
            continue
        # NVIDIA boards also expose HDMI audio and USB-C functions; only display controllers
        # (VGA 0x0300, 3D 0x0302) are GPUs.
        if pci_class >> 16 != _PCI_CLASS_DISPLAY:
            continue
        gpus.append(_pci_entry(address, vendor, device_id, kernel_driver))
    return gpus, nvswitch_count


def _amd_pci(functions):
    gpus = []
    for address, vendor, pci_class, device_id, kernel_driver in functions:
        # Radeon boards also expose HDMI audio (0x0403); GPUs are display controllers or, for
        # Instinct, processing accelerators.
        if vendor == _AMD_PCI_VENDOR and pci_class >> 16 in (_PCI_CLASS_DISPLAY, _PCI_CLASS_PROCESSING_ACCELERATOR):
            gpus.append(_pci_entry(address, vendor, device_id, kernel_driver))
    return gpus


def scan_pci_devices(root):
    """NVIDIA display controllers and NVSwitch bridges on the PCI bus, driver or not."""
    return _nvidia_pci(_pci_functions(root))


def scan_amd_pci_devices(root):
    """AMD GPUs on the PCI bus (vendor 0x1002, display or accelerator class), driver or not."""
    return _amd_pci(_pci_functions(root))


# ---------------------------------------------------------------- commands

def _decode(data):
    return data.decode('utf-8', errors='replace') if data else ''


def _run(argv, timeout):
    """Run a command with a deadline.

    AnsibleModule.run_command has no timeout, and nvidia-smi blocks forever on a GPU that fell off
    the bus; a facts module that hangs stalls the whole play.
    """
    env = dict(os.environ, LC_ALL='C')
    try:
        # Not a context manager: its exit waits for the child, which is what must not happen when
        # nvidia-smi is stuck in the driver.
        proc = subprocess.Popen(  # pylint: disable=consider-using-with
            argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            env=env, close_fds=True)
    except (IOError, OSError) as exc:
        return _CommandResult(None, '', str(exc), False)
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        try:
            proc.communicate(timeout=5)
        except subprocess.TimeoutExpired:
            # Stuck in uninterruptible sleep inside the driver: SIGKILL lands when the kernel lets go.
            pass
        return _CommandResult(None, '', '', True)
    return _CommandResult(proc.returncode, _decode(stdout), _decode(stderr), False)


def _output(result):
    return ' '.join(part.strip() for part in (result.stdout, result.stderr) if part.strip())


class GpuFacts:
    """Gather ``ansible_facts.nvidia``, ``ansible_facts.amd`` and the vendor-neutral summary."""

    def __init__(self, module, runner=None, sysfs_pci_devices=None, proc_driver_version=None,
                 sysfs_amdgpu_module=None, rocm_bin_dirs=None):
        self.module = module
        self.timeout = module.params['timeout']
        self._runner = runner or _run
        self._sysfs_pci_devices = sysfs_pci_devices or _SYSFS_PCI_DEVICES
        self._proc_driver_version = proc_driver_version or _PROC_DRIVER_VERSION
        self._sysfs_amdgpu_module = sysfs_amdgpu_module or _SYSFS_AMDGPU_MODULE
        self._rocm_bin_dirs = list(_ROCM_BIN_DIRS if rocm_bin_dirs is None else rocm_bin_dirs)

    def run(self):
        if self.timeout is None or self.timeout < 1:
            self.module.fail_json(msg='timeout must be at least 1 second, got %s' % self.timeout)
        facts = self.collect()
        problems = []
        for vendor, tool, path_key in ((VENDOR_NVIDIA, 'nvidia-smi', 'nvidia_smi'), (VENDOR_AMD, 'rocm-smi', 'rocm_smi')):
            driver = facts[vendor]['driver']
            if driver['state'] in FAILED_STATES:
                problems.append('%s at %s could not describe the GPUs (driver state %s): %s' % (
                    tool, driver[path_key], driver['state'], driver['error']))
        if problems and self.module.params['fail_on_error']:
            self.module.fail_json(msg='; '.join(problems), ansible_facts=facts)
        for problem in problems:
            self.module.warn(problem)
        self.module.exit_json(changed=False, ansible_facts=facts)

    def collect(self):
        """Read every source; nothing here changes the host, so check mode reads the same."""
        functions = _pci_functions(self._sysfs_pci_devices)
        facts = dict(nvidia=self._collect_nvidia(functions), amd=self._collect_amd(functions))
        facts.update(summarize(facts['nvidia'], facts['amd']))
        return facts

    # ------------------------------------------------------------ NVIDIA

    def _collect_nvidia(self, functions):
        pci_gpus, nvswitch_count = _nvidia_pci(functions)
        flavour, module_version = parse_kernel_module_version(_read_sysfs(self._proc_driver_version))
        nvidia_smi = self._find_tool('nvidia-smi', self.module.params['nvidia_smi_path'], 'nvidia_smi_path')
        driver = dict(
            state=STATE_OK,
            version=None,
            cuda_version=None,
            kernel_module=flavour,
            kernel_module_version=module_version,
            nvidia_smi=nvidia_smi,
            error=None,
        )
        gpus = []
        if nvidia_smi is None:
            driver['state'] = STATE_NO_NVIDIA_SMI if module_version else STATE_NOT_INSTALLED
        else:
            query = self._query(nvidia_smi, driver)
            if query is not None:
                driver['version'] = query['driver_version']
                driver['cuda_version'] = query['cuda_version']
                gpus = query['gpus']
                self._add_gpu_list(nvidia_smi, gpus)
                self._add_compute_capability(nvidia_smi, gpus)
        return dict(
            present=bool(pci_gpus or gpus),
            pci_devices=pci_gpus,
            nvswitch_count=nvswitch_count,
            driver=driver,
            gpu_count=len(gpus),
            memory_total_mib=sum(gpu['memory_total_mib'] or 0 for gpu in gpus),
            cuda_devices=_cuda_devices(gpus),
            gpus=gpus,
        )

    def _find_tool(self, name, path, option, opt_dirs=None):
        if path is None:
            return self.module.get_bin_path(name, opt_dirs=opt_dirs or [])
        if not os.path.isfile(path):
            self.module.fail_json(msg='%s %s does not exist or is not a file' % (option, path))
        if not os.access(path, os.X_OK):
            self.module.fail_json(msg='%s %s is not executable' % (option, path))
        return path

    def _query(self, nvidia_smi, driver):
        result = self._runner([nvidia_smi, '-q', '-x'], self.timeout)
        if result.timed_out:
            driver['state'] = STATE_UNRESPONSIVE
            driver['error'] = ('nvidia-smi -q -x did not answer within %d s; a GPU may have fallen off '
                               'the bus (look for Xid errors in the kernel log)' % self.timeout)
            return None
        if result.rc != 0:
            driver['state'] = classify_failure(result.rc, _output(result))
            driver['error'] = _output(result) or 'nvidia-smi -q -x exited with %s' % result.rc
            return None
        try:
            return parse_query_xml(result.stdout)
        except GpuFactsError as exc:
            driver['state'] = STATE_ERROR
            driver['error'] = str(exc)
            return None

    def _add_gpu_list(self, nvidia_smi, gpus):
        # The XML describes MIG devices but names neither their UUIDs nor their profiles; without
        # MIG devices there is nothing -L would add, and one process fewer per run.
        if not any(gpu['mig_devices'] for gpu in gpus):
            return
        result = self._runner([nvidia_smi, '-L'], self.timeout)
        if result.timed_out or result.rc != 0:
            self.module.warn('nvidia-smi -L failed, MIG device UUIDs and profiles are unknown: %s'
                             % (_output(result) or 'no answer within %d s' % self.timeout))
            return
        listed = dict((gpu['uuid'], gpu) for gpu in parse_gpu_list(result.stdout))
        for gpu in gpus:
            entry = listed.get(gpu['uuid'])
            if entry is None:
                continue
            by_index = dict((mig['index'], mig) for mig in entry['mig_devices'])
            for mig in gpu['mig_devices']:
                match = by_index.get(mig['index'])
                if match is not None:
                    mig['uuid'] = match['uuid']
                    mig['profile'] = match['profile']

    def _add_compute_capability(self, nvidia_smi, gpus):
        # The XML never prints the compute capability; the product table supplies it for known
        # models, so the query only runs for a model the table does not know.
        if all(gpu['compute_capability'] for gpu in gpus):
            return
        result = self._runner([nvidia_smi, '--query-gpu=uuid,compute_cap', '--format=csv'], self.timeout)
        if not result.timed_out and 'not a valid field' in _output(result):
            # Drivers before R510 cannot report it; null says "unknown", which is the truth.
            return
        if result.timed_out or result.rc != 0:
            self.module.warn('nvidia-smi --query-gpu=compute_cap failed, compute capability is unknown: %s'
                             % (_output(result) or 'no answer within %d s' % self.timeout))
            return
        try:
            records = parse_query_csv(result.stdout)
        except GpuFactsError as exc:
            self.module.warn(str(exc))
            return
        by_uuid = dict((record.get('uuid'), record.get('compute_cap')) for record in records)
        for gpu in gpus:
            # What the driver measured wins over the table.
            gpu['compute_capability'] = by_uuid.get(gpu['uuid']) or gpu['compute_capability']
            if gpu['architecture'] is None:
                gpu['architecture'] = architecture_from_compute_capability(gpu['compute_capability'])

    # ------------------------------------------------------------ AMD

    def _collect_amd(self, functions):
        pci_gpus = _amd_pci(functions)
        # /sys/module/amdgpu exists while the module is loaded; "version" only for builds that
        # declare one, such as ROCm's amdgpu-dkms.
        module_loaded = os.path.isdir(self._sysfs_amdgpu_module)
        rocm_smi = self._find_tool('rocm-smi', self.module.params['rocm_smi_path'], 'rocm_smi_path',
                                   opt_dirs=self._rocm_bin_dirs)
        driver = dict(
            state=STATE_OK,
            version=None,
            kernel_module='amdgpu' if module_loaded else None,
            kernel_module_version=(_read_sysfs(os.path.join(self._sysfs_amdgpu_module, 'version'))
                                   if module_loaded else None),
            rocm_smi=rocm_smi,
            error=None,
        )
        gpus = []
        if rocm_smi is None:
            driver['state'] = STATE_NO_ROCM_SMI if module_loaded else STATE_NOT_INSTALLED
        else:
            query = self._query_rocm(rocm_smi, driver)
            if query is not None:
                driver['version'] = query['driver_version']
                gpus = query['gpus']
        return dict(
            present=bool(pci_gpus or gpus),
            pci_devices=pci_gpus,
            driver=driver,
            gpu_count=len(gpus),
            memory_total_mib=sum(gpu['memory_total_mib'] or 0 for gpu in gpus),
            gpus=gpus,
        )

    def _query_rocm(self, rocm_smi, driver):
        result = self._runner([rocm_smi, '--showproductname', '--showmeminfo', 'vram', '--showbus',
                               '--showdriverversion', '--json'], self.timeout)
        if result.timed_out:
            driver['state'] = STATE_UNRESPONSIVE
            driver['error'] = 'rocm-smi did not answer within %d s' % self.timeout
            return None
        try:
            # rocm-smi's exit code is 0 when the driver is missing and 1 when one value of one card
            # could not be read: the output decides, not the exit code.
            return parse_rocm_smi_json(result.stdout)
        except GpuFactsError as exc:
            output = _output(result)
            driver['state'] = classify_rocm_failure(output)
            driver['error'] = output or '%s (exit code %s)' % (exc, result.rc)
            return None


def _cuda_devices(gpus):
    """What CUDA_VISIBLE_DEVICES should list to reach every usable device.

    UUIDs rather than indexes because CUDA orders devices fastest first, not as nvidia-smi does. A GPU
    in MIG mode runs CUDA work only through its MIG devices, so those replace it; one with MIG mode on
    but no MIG device configured offers nothing.
    """
    devices = []
    for gpu in gpus:
        if gpu['mig_enabled']:
            devices.extend(mig['uuid'] for mig in gpu['mig_devices'] if mig['uuid'])
        elif gpu['uuid']:
            devices.append(gpu['uuid'])
    return devices
