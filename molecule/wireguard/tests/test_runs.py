"""Playbook runs against the converged hosts, in this order: check mode; an external peer added
live to wg-mesh-a while it pings wg-mesh-b; a rerun with --limit that keeps every peer (and removes
the external one again); a host outside --limit brought back from a fact cache; bad input that must
stop the play before anything changes; the allowlist entry checked against the hardening role."""
from __future__ import annotations

import os
import re
import subprocess
import time
from pathlib import Path

import pytest

from conftest import (CI, HOSTS, ansible, ansible_playbook, fact_cache_env, out, peers, recap, sh, state_of_all_hosts,
                      transfer, underlay, wg_show)
from molecule_check_mode import assert_check_mode_reports_no_change

HUB = "wg-mesh-a"
PING_INTERVAL = 0.05


@pytest.fixture(scope="module")
def snapshot():
    """Peers and configuration checksums of every host as converge left them."""
    return state_of_all_hosts()


@pytest.fixture(scope="module")
def ci_peer(public_keys):
    """wg-ci as a CI machine outside the inventory: its own key and a wg-quick interface that knows
    the hub, which does not know it yet. Its second address stands for a network behind it."""
    # A fresh interface each time, so that verify can run again on the same instances.
    sh(CI, "wg-quick down wgci 2>/dev/null; umask 077 && wg genkey > /etc/wireguard/wgci.key")
    psk = out(CI, "wg genpsk")
    sh(CI, f"""umask 077 && {{
      printf '[Interface]\\nPrivateKey = %s\\n' "$(cat /etc/wireguard/wgci.key)"
      printf 'Address = 10.99.0.50/24, 10.98.50.1/24\\nListenPort = 51820\\n\\n'
      printf '[Peer]\\nPublicKey = {public_keys[HUB]}\\nPresharedKey = {psk}\\nAllowedIPs = 10.99.0.1/32\\n'
      printf 'Endpoint = {underlay(HUB)}:51820\\n'
    }} > /etc/wireguard/wgci.conf && wg-quick up wgci""")
    return {
        "name": "ci-runner",
        "public_key": out(CI, "wg pubkey < /etc/wireguard/wgci.key"),
        "preshared_key": psk,
        "allowed_ips": ["10.99.0.50/32", "10.98.50.0/24"],
        "endpoint": f"{underlay(CI)}:51820",
    }


def test_check_mode_reports_no_change():
    assert_check_mode_reports_no_change()


def test_live_external_peer_add_loses_no_packets(snapshot, ci_peer, public_keys, tmp_path):
    peer_b = public_keys["wg-mesh-b"]
    assert sh(HUB, "ping -c 1 -W 5 10.99.0.2", check=False).returncode == 0, "wg-mesh-b must answer before the change"
    wireguard_go = out(HUB, "pidof wireguard-go")
    transfer_before = transfer(HUB)[peer_b]

    # -O reports every echo without an answer, -D stamps each line with the time (the containers
    # share this machine's clock); the sequence numbers tell which echoes were lost.
    sh(HUB, f"rm -f /tmp/ping.log && (setsid ping -D -O -i {PING_INTERVAL} -w 600 10.99.0.2 "
            "> /tmp/ping.log 2>&1 < /dev/null & echo $! > /tmp/ping.pid)")
    time.sleep(1)
    playbook_started = time.time()
    result = ansible_playbook("--limit", HUB, "--diff", "-v", host_vars={HUB: {"wireguard_external_peers": [ci_peer]}},
                              tmp_path=tmp_path)
    playbook_ended = time.time()
    time.sleep(1)
    sh(HUB, "kill -INT $(cat /tmp/ping.pid); while kill -0 $(cat /tmp/ping.pid) 2>/dev/null; do sleep 0.1; done")
    log = out(HUB, "cat /tmp/ping.log")
    replies = [(float(stamp), int(seq)) for stamp, seq in re.findall(r"^\[([0-9.]+)\] .*icmp_seq=(\d+) ttl=", log, re.M)]
    answered = {seq for _, seq in replies}
    last = max(answered)
    # An echo in flight when ping was stopped is not lost; every earlier one must have an answer.
    lost = sorted(set(range(1, last + 1)) - answered)
    print(f"\nREPORT live add of external peer ci-runner on {HUB} (playbook --limit {HUB}, {result.seconds:.1f} s): "
          f"ping {HUB} -> wg-mesh-b every {PING_INTERVAL} s: {last} echoes sent, {len(lost)} lost")

    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    # Two changes: the peer, and the route to the network behind it.
    assert recap(result) == {HUB: {"changed": 2, "unreachable": 0, "failed": 0}}, result.stdout[-4000:]
    # Live through wg syncconf: no handler restarted the interface, wireguard-go kept running and
    # the session's counters to wg-mesh-b went on growing instead of starting again from zero.
    assert "RUNNING HANDLER" not in result.stdout
    assert replies[0][0] < playbook_started and replies[-1][0] > playbook_ended, \
        "the pings did not span the playbook run; their loss proves nothing"
    assert lost == [], log
    assert out(HUB, "pidof wireguard-go") == wireguard_go
    assert all(after >= before for after, before in zip(transfer(HUB)[peer_b], transfer_before))
    # The hub holds its old peers plus the new one; the hosts outside --limit are untouched.
    assert peers(HUB) == snapshot[HUB][0] | {ci_peer["public_key"]}
    assert {name: state for name, state in state_of_all_hosts().items() if name != HUB} == \
        {name: state for name, state in snapshot.items() if name != HUB}
    # The new peer works, including the network behind it, which needed a route added live.
    assert "10.98.50.0/24" in out(HUB, "ip route show dev wg0")
    for address in ("10.99.0.50", "10.98.50.1"):
        reply = sh(HUB, f"ping -c 3 -i 0.2 -W 3 {address}", check=False)
        assert reply.returncode == 0, reply.stdout
    assert out(CI, "wg show wgci latest-handshakes").split()[1] != "0"
    # The preshared key is in force on both ends and in no output, nor is the private key.
    assert dict(row for row in wg_show(HUB, "preshared-keys"))[ci_peer["public_key"]] == ci_peer["preshared_key"]
    for secret in (ci_peer["preshared_key"], out(HUB, "cat /etc/wireguard/wg0.key")):
        assert secret not in result.stdout + result.stderr


def test_limit_rerun_keeps_every_peer(snapshot, ci_peer):
    # The hub alone, with the inventory as converge has it: its inventory peers are all outside the
    # play and must stay, and the external peer the inventory no longer names must go, live.
    result = ansible_playbook("--limit", HUB, "--diff", "-v")
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    # The diff of the configuration is shown, its private key is not.
    assert "-# Name = ci-runner" in result.stdout
    assert out(HUB, "cat /etc/wireguard/wg0.key") not in result.stdout + result.stderr
    # Two changes: the peer removed, and the route to the network behind it.
    assert recap(result) == {HUB: {"changed": 2, "unreachable": 0, "failed": 0}}, result.stdout[-4000:]
    assert "RUNNING HANDLER" not in result.stdout
    assert state_of_all_hosts() == snapshot
    assert ci_peer["public_key"] not in peers(HUB)
    assert "10.98.50.0/24" not in out(HUB, "ip route show dev wg0")
    assert sh(HUB, "ping -c 2 -i 0.2 -W 1 10.99.0.50", check=False).returncode != 0


def test_host_outside_the_limit_is_restored_from_the_fact_cache(snapshot, public_keys, tmp_path):
    # wg-mesh-b loses its section for wg-mesh-c (as if c had just joined the inventory). A run
    # limited to b cannot learn c's key without a fact cache, so it leaves c out and says so; with
    # a cache that holds c's local facts, the same run adds c back.
    cache = fact_cache_env(tmp_path / "facts")
    ansible("wg-mesh-c", "ansible.builtin.setup", {"filter": ["ansible_local"]}, env=cache)
    ansible("wg-mesh-b", "inferno.runners.wireguard_peer", {"public_key": public_keys["wg-mesh-c"], "state": "absent"})
    assert peers("wg-mesh-b") == {public_keys["wg-mesh-a"]}

    without_cache = ansible_playbook("--limit", "wg-mesh-b")
    assert without_cache.returncode == 0, without_cache.stdout[-4000:] + without_cache.stderr[-4000:]
    assert "Left out of wg0: wg-mesh-c." in " ".join(without_cache.stdout.split())
    assert peers("wg-mesh-b") == {public_keys["wg-mesh-a"]}

    with_cache = ansible_playbook("--limit", "wg-mesh-b", env=cache)
    assert with_cache.returncode == 0, with_cache.stdout[-4000:] + with_cache.stderr[-4000:]
    assert recap(with_cache) == {"wg-mesh-b": {"changed": 1, "unreachable": 0, "failed": 0}}, with_cache.stdout[-4000:]
    assert state_of_all_hosts() == snapshot
    assert sh("wg-mesh-b", "ping -c 2 -i 0.2 -W 3 10.99.0.3", check=False).returncode == 0


def test_bad_input_stops_every_host_before_anything_changes(snapshot, tmp_path):
    # One mistake per host, in one run: each is named with its variable, and since one host's bad
    # variable stops them all (any_errors_fatal), no host changes anything.
    overrides = {
        "wg-mesh-c": {"wireguard_address": ["10.99.0.3/33", "fd99::3/64"]},
        "wg-mesh-b": {"wireguard_listen_port": 70000},
        HUB: {"wireguard_external_peers": [{"name": "ci", "public_key": "x" * 43 + "=", "allowed_ips": ["10.99.0.50/24"]}]},
        # The spoke takes wg-mesh-b's address: a clash across the mesh and the hub-and-spoke group.
        "wg-spoke-d": {"wireguard_address": ["10.99.0.2/24", "fd99::4/64"]},
    }
    result = ansible_playbook(host_vars=overrides, tmp_path=tmp_path)
    assert result.returncode != 0
    # YAML output folds long lines and doubles quotes inside quoted strings.
    shown = " ".join((result.stdout + result.stderr).replace("''", "'").split())
    for message in (
        "wireguard_address[0]: '10.99.0.3/33' is not an IPv4 or IPv6 address with its prefix length (CIDR)",
        "wireguard_listen_port: 70000 is outside 1-65535",
        "wireguard_external_peers[0].allowed_ips[0]: '10.99.0.50/24' has host bits set; the network is 10.99.0.0/24",
        "wireguard_address[0]: 10.99.0.2 is also an address of wg-mesh-b",
        "wireguard_address[0]: 10.99.0.2 is also an address of wg-spoke-d",
    ):
        assert message in shown, message + "\n" + result.stdout[-6000:]
    counts = recap(result)
    assert set(counts) == set(HOSTS)
    assert all(host["changed"] == 0 for host in counts.values()), result.stdout[-4000:]
    assert "TASK [inferno.runners.wireguard : Install" not in result.stdout
    assert state_of_all_hosts() == snapshot


def test_firewall_entry_fits_the_hardening_allowlist():
    # allowlist.yml validates the published fact with security_hardening's own argument spec.
    playbook = Path(os.environ["MOLECULE_SCENARIO_DIRECTORY"]) / "allowlist.yml"
    result = subprocess.run(["ansible-playbook", "-i", os.environ["MOLECULE_INVENTORY_FILE"], str(playbook),
                             "--tags", "allowlist"], capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    counts = recap(result)
    assert set(counts) == set(HOSTS) and all(host["changed"] == 0 for host in counts.values()), result.stdout[-4000:]
    # Both checks ran (tags selected them) and passed.
    assert "TASK [Check the entry against the hardening role's argument spec]" in result.stdout
    assert "TASK [Check the entry opens the listen port to everyone over UDP]" in result.stdout
