# Honours the rocm-smi 6.x command line: `--showproductname`, `--showmeminfo vram`, `--showbus`, `--showdriverversion` with `--json`; exit 0 and empty stdout when amdgpu is not loaded.
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A stand-in for rocm-smi that answers from hand-written JSON files.

Run it as ``python rocm_smi.py ARGS`` (tests wrap it in a two-line shell script named
``rocm-smi``). What it answers comes from the environment:

``ROCM_SMI_DOUBLE_JSON``     a JSON file holding every field of every card (see captures/); only
                             the sections asked for on the command line are printed, as rocm-smi
                             prints only those
``ROCM_SMI_DOUBLE_FAILURE``  ``driver-not-loaded``: rocm-smi's answer on a host without amdgpu
                             (its error on stderr, nothing on stdout, exit code 0); ``hang``: no
                             answer for ``ROCM_SMI_DOUBLE_HANG_SECONDS`` (30 by default)
``ROCM_SMI_DOUBLE_LOG``      append each argv as one JSON line, to count and inspect calls

Options the double does not know fail as rocm-smi's argument parser fails them (exit code 2), and
it answers only ``--json``, so a caller relying on the text output is caught.
"""
from __future__ import annotations

import json
import os
import sys
import time

# Keys each --show option contributes to a card, in lower case: rocm-smi changed their case
# between releases and the files keep whichever spelling they stand for.
_SECTIONS = {
    '--showproductname': frozenset((
        'card series', 'card model', 'card vendor', 'card sku', 'subsystem id', 'device rev', 'node id',
        'guid', 'gfx version')),
    '--showbus': frozenset(('pci bus',)),
}
_MEMORY_TYPES = ('vram', 'vis_vram', 'gtt', 'all')
_NOT_LOADED = 'ERROR:root:Driver not initialized (amdgpu not found in modules)\n'


def _usage_error(message):
    sys.stderr.write('usage: rocm-smi [-h] [-d DEVICE [DEVICE ...]] ...\nrocm-smi: error: %s\n' % message)
    return 2


def _parse(argv):
    """The requested card keys, whether the driver version was asked for, and an error exit code."""
    keys = set()
    driver_version = False
    as_json = False
    position = 0
    while position < len(argv):
        arg = argv[position]
        position += 1
        if arg == '--json':
            as_json = True
        elif arg == '--showdriverversion':
            driver_version = True
        elif arg in _SECTIONS:
            keys |= _SECTIONS[arg]
        elif arg == '--showmeminfo':
            types = []
            while position < len(argv) and not argv[position].startswith('-'):
                types.append(argv[position])
                position += 1
            if not types:
                return None, None, _usage_error('argument --showmeminfo: expected at least one argument')
            for memory_type in types:
                if memory_type not in _MEMORY_TYPES:
                    return None, None, _usage_error("argument --showmeminfo: invalid choice: '%s'" % memory_type)
                names = [memory_type] if memory_type != 'all' else ['vram', 'vis_vram', 'gtt']
                for name in names:
                    keys.add('%s total memory (b)' % name)
                    keys.add('%s total used memory (b)' % name)
        else:
            return None, None, _usage_error('unrecognized arguments: %s' % arg)
    if not as_json:
        sys.stderr.write('rocm-smi double: only --json output is served\n')
        return None, None, 2
    return keys, driver_version, None


def main(argv):
    log = os.environ.get('ROCM_SMI_DOUBLE_LOG')
    if log:
        with open(log, 'a') as handle:
            handle.write(json.dumps(argv) + '\n')

    failure = os.environ.get('ROCM_SMI_DOUBLE_FAILURE')
    if failure == 'hang':
        time.sleep(float(os.environ.get('ROCM_SMI_DOUBLE_HANG_SECONDS', '30')))
        sys.stderr.write('rocm-smi double: the hang ended without the caller giving up\n')
        return 1
    if failure == 'driver-not-loaded':
        sys.stderr.write(_NOT_LOADED)
        return 0

    keys, driver_version, error = _parse(argv)
    if error is not None:
        return error
    path = os.environ.get('ROCM_SMI_DOUBLE_JSON')
    if not path:
        sys.stderr.write('rocm-smi double: ROCM_SMI_DOUBLE_JSON is not set\n')
        return 1
    with open(path) as handle:
        data = json.load(handle)
    answer = {}
    for card, fields in data.items():
        if card == 'system':
            if driver_version and 'Driver version' in fields:
                answer['system'] = {'Driver version': fields['Driver version']}
            continue
        answer[card] = dict((name, value) for name, value in fields.items() if name.lower() in keys)
    # rocm-smi prints its JSON on a single line.
    sys.stdout.write(json.dumps(answer) + '\n')
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
