# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Three WireGuard hosts in network namespaces, for the tunnel integration test.

Layout: a hub namespace holds a bridge; each node namespace has an ``eth0`` veth on it
(10.99.0.N/24 and fd99::N/64, nothing routed anywhere else) and a ``wg0`` served by wireguard-go,
brought up by ``wg-quick`` (10.99.1.N/24 inside the tunnel).

wireguard-go listens on ``/run/wireguard/wg0.sock``, a path every namespace shares, so every command
of a node runs in a private mount namespace where the node's own directory is bound over
``/run/wireguard``: three ``wg0`` coexist and ``wg show wg0`` in a node sees that node's interface.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
COLLECTIONS = REPO / 'tests' / 'output' / 'collections'
ANSIBLE = Path(sys.executable).parent / 'ansible'
TOOLS = ('ip', 'wg', 'wg-quick', 'wireguard-go', 'ping', 'unshare', 'mount')
# Where a private /run/wireguard is bound: the shared path wireguard-go and wg agree on.
SOCKET_DIR = '/run/wireguard'
_PRIVATE_RUN = 'mount --bind "$1" %s && shift && exec "$@"' % SOCKET_DIR
_STATUS_RE = re.compile(r'^localhost \| (CHANGED|SUCCESS|FAILED!|UNREACHABLE!) => ', re.MULTILINE)


def missing_prerequisites():
    """Why the lab cannot run here, or None."""
    if os.geteuid() != 0:
        return 'needs root for network namespaces and /dev/net/tun'
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    if missing:
        return 'missing tools: %s (apt-get install wireguard-go wireguard-tools iproute2 iputils-ping)' % ', '.join(missing)
    if not os.path.exists('/dev/net/tun'):
        return '/dev/net/tun is missing, so wireguard-go cannot create interfaces'
    if not ANSIBLE.exists():
        return 'ansible is not installed next to %s' % sys.executable
    return None


def run(argv, timeout=30, check=True, **kwargs):
    # check=False here: a failure is raised below with the command's output, which CalledProcessError hides.
    result = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False, **kwargs)
    if check and result.returncode != 0:
        raise AssertionError('%s failed (rc %d): %s%s' % (' '.join(argv), result.returncode, result.stdout, result.stderr))
    return result


class Node(object):
    def __init__(self, lab, name, number):
        self.lab = lab
        self.name = name
        self.number = number
        self.netns = '%s-%s' % (lab.tag, name)
        self.dir = lab.root / name
        self.run_dir = self.dir / 'run'
        self.config = self.dir / 'wg0.conf'
        self.key = self.dir / 'wg0.key'
        self.underlay = '10.99.0.%d' % number
        self.underlay6 = 'fd99::%d' % number
        self.tunnel = '10.99.1.%d' % number
        self.public_key = None

    def argv(self, *argv):
        """A command line that runs ``argv`` inside this node (network and /run/wireguard)."""
        return ['ip', 'netns', 'exec', self.netns, 'unshare', '--mount', '--propagation', 'private', '--',
                'sh', '-c', _PRIVATE_RUN, 'sh', str(self.run_dir)] + [str(arg) for arg in argv]

    def run(self, *argv, **kwargs):
        return run(self.argv(*argv), **kwargs)

    def popen(self, *argv):
        return subprocess.Popen(self.argv(*argv), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    def module(self, module, args, diff=False, timeout=120):
        """Run a module of the collection on this node through the ansible CLI; return (result, output)."""
        env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(COLLECTIONS), ANSIBLE_LOCALHOST_WARNING='False',
                   ANSIBLE_INVENTORY_UNPARSED_WARNING='False', ANSIBLE_NOCOLOR='1', ANSIBLE_DEPRECATION_WARNINGS='False',
                   ANSIBLE_STDOUT_CALLBACK='ansible.builtin.minimal', ANSIBLE_LOAD_CALLBACK_PLUGINS='1')
        argv = [ANSIBLE, 'localhost', '-i', 'localhost,', '-c', 'local', '-e', 'ansible_python_interpreter=%s' % sys.executable,
                '-m', 'inferno.runners.%s' % module, '-a', json.dumps(args)] + (['--diff'] if diff else [])
        started = time.monotonic()
        result = run(self.argv(*argv), timeout=timeout, check=False, env=env)
        output = result.stdout + result.stderr
        match = _STATUS_RE.search(output)
        if not match:
            raise AssertionError('no module result in the ansible output:\n' + output)
        parsed = json.JSONDecoder().raw_decode(output[match.end():])[0]
        parsed['_seconds'] = time.monotonic() - started
        return parsed, output

    def wg_show(self, field):
        return self.run('wg', 'show', 'wg0', field, timeout=10).stdout

    def handshakes(self):
        """{public key: latest handshake (epoch seconds, 0 for none)}."""
        return {line.split('\t')[0]: int(line.split('\t')[1]) for line in self.wg_show('latest-handshakes').splitlines() if line}

    def transfer(self):
        """{public key: (received bytes, sent bytes)}."""
        return {line.split('\t')[0]: (int(line.split('\t')[1]), int(line.split('\t')[2]))
                for line in self.wg_show('transfer').splitlines() if line}


def parse_ping(output):
    """(transmitted, received) from iputils ping's summary line."""
    match = re.search(r'(\d+) packets transmitted, (\d+) received', output)
    if not match:
        raise AssertionError('no ping summary in:\n' + output)
    return int(match.group(1)), int(match.group(2))


class Lab(object):
    def __init__(self, root, names=('a', 'b', 'c')):
        self.root = Path(root)
        # Short and unique, since it ends up in interface names (15 characters at most).
        self.tag = 'wgt%d' % (os.getpid() % 100000)
        self.hub = '%s-hub' % self.tag
        self.nodes = dict((name, Node(self, name, number)) for number, name in enumerate(names, start=1))
        self.namespaces = []

    def __getitem__(self, name):
        return self.nodes[name]

    def build(self):
        """Namespaces, bridge and veths; the tunnel is left to the test, which drives the modules."""
        os.makedirs(SOCKET_DIR, mode=0o755, exist_ok=True)
        self._add_netns(self.hub)
        run(['ip', '-n', self.hub, 'link', 'add', 'br0', 'type', 'bridge'])
        run(['ip', '-n', self.hub, 'link', 'set', 'br0', 'up'])
        for node in self.nodes.values():
            node.run_dir.mkdir(parents=True)
            node.dir.chmod(0o700)
            self._add_netns(node.netns)
            port = 'v%s%s' % (self.tag[3:], node.name)
            run(['ip', '-n', self.hub, 'link', 'add', port, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', node.netns])
            run(['ip', '-n', self.hub, 'link', 'set', port, 'master', 'br0', 'up'])
            run(['ip', '-n', node.netns, 'link', 'set', 'lo', 'up'])
            run(['ip', '-n', node.netns, 'addr', 'add', node.underlay + '/24', 'dev', 'eth0'])
            run(['ip', '-n', node.netns, 'addr', 'add', node.underlay6 + '/64', 'dev', 'eth0', 'nodad'])
            run(['ip', '-n', node.netns, 'link', 'set', 'eth0', 'up'])

    def _add_netns(self, name):
        run(['ip', 'netns', 'add', name])
        self.namespaces.append(name)

    def bring_up(self, node):
        """Write the [Interface] part, let wireguard_key put the key in it, then wg-quick up."""
        node.config.write_text('[Interface]\nAddress = %s/24\nListenPort = 51820\n' % node.tunnel)
        node.config.chmod(0o600)
        result, dummy = node.module('wireguard_key', {'path': str(node.key), 'config': str(node.config)})
        if result.get('failed') or not result.get('public_key'):
            raise AssertionError('wireguard_key failed on %s: %s' % (node.name, result))
        node.public_key = result['public_key']
        node.run('wg-quick', 'up', node.config, timeout=30)
        return result

    def destroy(self):
        """Stop every process left in the lab's namespaces (all started by the lab) and delete them."""
        pids = []
        for name in self.namespaces:
            pids.extend(int(pid) for pid in run(['ip', 'netns', 'pids', name], check=False, timeout=10).stdout.split())
        # wireguard-go takes a second or two to close after SIGTERM; signal them all, then wait once.
        for pid in pids:
            _signal(pid, signal.SIGTERM)
        deadline = time.monotonic() + 5
        while pids and time.monotonic() < deadline:
            pids = [pid for pid in pids if os.path.exists('/proc/%d' % pid)]
            time.sleep(0.05)
        for pid in pids:
            _signal(pid, signal.SIGKILL)
        for name in reversed(self.namespaces):
            run(['ip', 'netns', 'delete', name], check=False, timeout=10)
        self.namespaces = []


def _signal(pid, signum):
    try:
        os.kill(pid, signum)
    except ProcessLookupError:
        pass
