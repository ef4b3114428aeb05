# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""How long gpu_facts takes to turn an 8-GPU ``nvidia-smi -q -x`` answer into facts.

A benchmark, not a test: it prints the median of ``--runs`` runs (50 by default) against a target
of 50 ms and always exits 0, because a timing depends on the machine that runs it.

The input is the real A100 capture with its one <gpu> repeated eight times, each copy with its own
UUIDs, bus id and minor number (``replicate_gpus`` of the nvidia-smi stand-in, which serves the same
host to the unit tests). One run is what the module does between nvidia-smi answering and the facts
being returned: parse the XML, name the models, and build the runner labels.

    .venv/bin/python tests/bench/bench_gpu_facts.py [--runs 50]
"""
from __future__ import annotations

import argparse
import importlib.util
import statistics
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
TARGET_MS = 50.0


def _load(name, path):
    spec = importlib.util.spec_from_file_location(name, str(path))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--runs', type=int, default=50, help='timed runs (default 50)')
    parser.add_argument('--gpus', type=int, default=8, help='GPUs in the capture (default 8)')
    args = parser.parse_args()

    # gpu.py runs on managed hosts with the standard library only, so it loads on its own, as there.
    gpu = _load('gpu', REPO / 'plugins' / 'module_utils' / 'gpu.py')
    double = _load('nvidia_smi_double', REPO / 'tests' / 'doubles' / 'nvidia-smi' / 'nvidia_smi.py')
    capture = (REPO / 'tests' / 'doubles' / 'nvidia-smi' / 'captures' / 'a100-sxm4-80gb-mig.xml').read_text()
    xml = double.replicate_gpus(capture, args.gpus)

    def once():
        query = gpu.parse_query_xml(xml)
        return gpu.runner_labels('nvidia', len(query['gpus']), query['gpus'], query['cuda_version'])

    labels = once()  # warm-up, and a check that the input is what it claims to be
    assert 'gpu-count:%d' % args.gpus in labels, labels

    timings_ms = []
    for _run in range(args.runs):
        started = time.perf_counter()
        once()
        timings_ms.append((time.perf_counter() - started) * 1000.0)

    median = statistics.median(timings_ms)
    print('gpu_facts: %d-GPU nvidia-smi -q -x capture (%d KiB), %d runs' % (args.gpus, len(xml) // 1024, args.runs))
    print('  median %.2f ms, min %.2f ms, max %.2f ms' % (median, min(timings_ms), max(timings_ms)))
    print('  target %.0f ms: %s' % (TARGET_MS, 'met' if median < TARGET_MS else 'MISSED'))
    print('  labels: %s' % ', '.join(labels))


if __name__ == '__main__':
    main()
