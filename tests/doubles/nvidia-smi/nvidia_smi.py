# Honours the nvidia-smi command line of NVIDIA drivers R470-R590: `-q -x`, `-L`, `--query-gpu=F,... --format=csv[,noheader][,nounits]`, NVML exit codes.
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A stand-in for nvidia-smi that answers from real captures.

Run it as ``python nvidia_smi.py ARGS`` (tests wrap it in a two-line shell script named
``nvidia-smi``). What it answers comes from the environment:

``NVIDIA_SMI_DOUBLE_XML``      file served for ``-q -x``
``NVIDIA_SMI_DOUBLE_LIST``     file served for ``-L``
``NVIDIA_SMI_DOUBLE_CSV``      a full ``--query-gpu --format=csv`` capture (header included); the
                               fields asked for are cut out of it, unknown ones are refused as
                               nvidia-smi refuses them
``NVIDIA_SMI_DOUBLE_FAILURE``  ``driver-not-loaded``, ``version-mismatch``, ``gpu-lost`` or
                               ``hang``: every call fails the way the real tool does (``hang``
                               lasts ``NVIDIA_SMI_DOUBLE_HANG_SECONDS``, 30 by default)
``NVIDIA_SMI_DOUBLE_LOG``      append each argv as one JSON line, to count and inspect calls
``NVIDIA_SMI_DOUBLE_REPLICATE`` N: serve a host with N copies of the (single) GPU of each capture,
                               each with its own bus id, minor number and UUIDs (see
                               ``replicate_gpus``), so one real capture stands for an 8-GPU server

A command line the real tool would not accept, or one with no capture configured, fails with exit
code 2 or 255, so a caller relying on something the double does not know is caught.
"""
from __future__ import annotations

import csv
import io
import json
import os
import re
import sys
import time

_FAILURES = {
    # (exit code, stdout): exit codes are NVML return codes; messages as printed by the drivers.
    'driver-not-loaded': (9, "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. "
                             "Make sure that the latest NVIDIA driver is installed and running.\n"),
    'version-mismatch': (18, 'Failed to initialize NVML: Driver/library version mismatch\n'
                             'NVML library version: 580.173\n'),
    'gpu-lost': (15, 'Unable to determine the device handle for GPU 0000:01:00.0: GPU is lost.  '
                     'Reboot the system to recover this GPU\n'),
}
_INVALID_ARGS = "Invalid combination of input arguments. Please run 'nvidia-smi -h' for help.\n"
_UNIT_RE = re.compile(r'\s*\[([^\]]*)\]$')


_UUID_RE = re.compile(r'\b(GPU|MIG)-[0-9a-fA-F]{2}')
_GPU_BLOCK_RE = re.compile(r'^[ \t]*<gpu id="[^"]*">.*?</gpu>[ \t]*\n?', re.MULTILINE | re.DOTALL)
_BUS_ID_RE = re.compile(r'([0-9A-Fa-f]{8}):([0-9A-Fa-f]{2})(:[0-9A-Fa-f]{2}\.[0-7])')


def _renumber_uuids(text, copy):
    """Give copy N of a GPU its own UUIDs: the first byte of each GPU-/MIG- UUID becomes N.

    The same rule applies to the XML, -L and CSV answers, so they keep agreeing on every copy.
    """
    return _UUID_RE.sub(lambda match: '%s-%02x' % (match.group(1), copy), text)


def replicate_gpus(xml, count):
    """An ``nvidia-smi -q -x`` answer with ``count`` copies of the capture's first <gpu>.

    Copy N sits N buses after the original, has minor number N and UUIDs renumbered by
    ``_renumber_uuids``; <attached_gpus> says ``count``.
    """
    block = _GPU_BLOCK_RE.search(xml)
    if block is None:
        raise ValueError('the capture holds no <gpu> element')
    copies = []
    for copy in range(count):
        text = _renumber_uuids(block.group(0), copy)
        text = _BUS_ID_RE.sub(lambda match: '%s:%02X%s' % (
            match.group(1), (int(match.group(2), 16) + copy) % 256, match.group(3)), text)
        text = re.sub(r'<pci_bus>([0-9A-Fa-f]{2})</pci_bus>',
                      lambda match: '<pci_bus>%02X</pci_bus>' % ((int(match.group(1), 16) + copy) % 256), text)
        text = re.sub(r'<minor_number>\d+</minor_number>', '<minor_number>%d</minor_number>' % copy, text)
        copies.append(text)
    xml = xml[:block.start()] + ''.join(copies) + xml[block.end():]
    return re.sub(r'<attached_gpus>\d+</attached_gpus>', '<attached_gpus>%d</attached_gpus>' % count, xml)


def _replicate_list(text, count):
    """``nvidia-smi -L`` for ``count`` copies of a 1-GPU capture's GPU and its MIG devices."""
    copies = []
    for copy in range(count):
        copies.append(re.sub(r'^GPU \d+:', 'GPU %d:' % copy, _renumber_uuids(text.rstrip('\n'), copy),
                             flags=re.MULTILINE))
    return '\n'.join(copies) + '\n'


def _replicate_csv(text, count):
    """A --query-gpu capture with its data rows repeated for ``count`` copies."""
    lines = text.rstrip('\n').split('\n')
    rows = [_renumber_uuids(row, copy) for copy in range(count) for row in lines[1:]]
    return '\n'.join([lines[0]] + rows) + '\n'


def _replicas():
    return int(os.environ.get('NVIDIA_SMI_DOUBLE_REPLICATE') or 0)


def _read(variable):
    path = os.environ.get(variable)
    if not path:
        sys.stderr.write('nvidia-smi double: %s is not set\n' % variable)
        return None
    with open(path) as handle:
        return handle.read()


def _serve(variable, replicate):
    text = _read(variable)
    if text is None:
        return 255
    sys.stdout.write(replicate(text, _replicas()) if _replicas() else text)
    return 0


def _query_gpu(fields, options):
    text = _read('NVIDIA_SMI_DOUBLE_CSV')
    if text is None:
        return 255
    if not options or options[0] != 'csv' or set(options[1:]) - {'noheader', 'nounits'}:
        sys.stdout.write(_INVALID_ARGS)
        return 2
    if _replicas():
        text = _replicate_csv(text, _replicas())
    rows = [row for row in csv.reader(io.StringIO(text), skipinitialspace=True) if row]
    header = rows[0]
    names = [_UNIT_RE.sub('', name) for name in header]
    for field in fields:
        if field not in names:
            sys.stdout.write('Field "%s" is not a valid field to query.\n\n' % field)
            return 2
    columns = [names.index(field) for field in fields]
    out = io.StringIO()
    if 'noheader' not in options:
        if 'nounits' in options:
            out.write(', '.join(names[c] for c in columns) + '\n')
        else:
            out.write(', '.join(header[c] for c in columns) + '\n')
    for row in rows[1:]:
        values = []
        for column in columns:
            value = row[column]
            unit = _UNIT_RE.search(header[column])
            if 'nounits' in options and unit and value.endswith(' ' + unit.group(1)):
                value = value[:-len(unit.group(1)) - 1]
            values.append(value)
        out.write(', '.join(values) + '\n')
    sys.stdout.write(out.getvalue())
    return 0


def main(argv):
    log = os.environ.get('NVIDIA_SMI_DOUBLE_LOG')
    if log:
        with open(log, 'a') as handle:
            handle.write(json.dumps(argv) + '\n')

    failure = os.environ.get('NVIDIA_SMI_DOUBLE_FAILURE')
    if failure == 'hang':
        # A GPU fallen off the bus leaves nvidia-smi blocked in the driver. The double gives up after
        # NVIDIA_SMI_DOUBLE_HANG_SECONDS so that a caller without a deadline fails its test, not hangs it.
        time.sleep(float(os.environ.get('NVIDIA_SMI_DOUBLE_HANG_SECONDS', '30')))
        sys.stderr.write('nvidia-smi double: the hang ended without the caller giving up\n')
        return 255
    if failure:
        rc, message = _FAILURES[failure]
        sys.stdout.write(message)
        return rc

    flags = set(argv)
    if flags in ({'-q', '-x'}, {'--query', '--xml-format'}):
        return _serve('NVIDIA_SMI_DOUBLE_XML', replicate_gpus)
    if flags in ({'-L'}, {'--list-gpus'}):
        return _serve('NVIDIA_SMI_DOUBLE_LIST', _replicate_list)
    query = [arg for arg in argv if arg.startswith('--query-gpu=')]
    formats = [arg for arg in argv if arg.startswith('--format=')]
    if len(query) == 1 and len(formats) == 1 and len(argv) == 2:
        return _query_gpu(query[0].split('=', 1)[1].split(','), formats[0].split('=', 1)[1].split(','))
    sys.stdout.write(_INVALID_ARGS)
    return 2


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
