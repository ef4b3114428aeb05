"""What converged WireGuard hosts must show: wireguard-go interfaces, keys kept on the host, the
peers the topology asks for, and a handshake and pings (IPv4 and IPv6) on every peered pair."""
from __future__ import annotations

import re

import pytest

from conftest import HOSTS, PAIRS, PEERS, TUNNEL, out, peers, sh, wg_show, handshakes, local_facts

testinfra_hosts = [f"docker://{name}" for name in HOSTS]


def _name(host) -> str:
    return host.backend.get_hostname()


def test_interface_runs_on_wireguard_go(host):
    # The host kernel has no WireGuard: the probe must have chosen user space, and wg-quick must
    # have started wireguard-go (a tun device), not failed on `ip link add type wireguard`.
    assert host.package("wireguard-go").is_installed
    drop_in = host.file("/etc/systemd/system/wg-quick@.service.d/inferno-userspace.conf")
    assert "Environment=WG_QUICK_USERSPACE_IMPLEMENTATION=wireguard-go" in drop_in.content_string
    assert host.service("wg-quick@wg0").is_enabled
    assert host.check_output("systemctl is-active wg-quick@wg0") == "active"
    # wg talks to wireguard-go through its socket; a kernel interface would have none.
    assert host.file("/run/wireguard/wg0.sock").is_socket
    assert "tun" in host.check_output("ip -d link show wg0")
    assert host.run("pidof wireguard-go").rc == 0
    assert local_facts(_name(host))["implementation"] == "userspace"


def test_local_facts_keep_the_allowlist_entry_for_plays_without_the_role(host):
    assert local_facts(_name(host))["firewall_allow"] == [
        {"service": "wireguard-wg0", "port": 51820, "proto": "udp", "sources": ["0.0.0.0/0", "::/0"]}]


def test_private_key_stays_on_the_host_for_root_only(host):
    key = host.file("/etc/wireguard/wg0.key")
    config = host.file("/etc/wireguard/wg0.conf")
    for path in (key, config):
        assert (path.user, path.group, path.mode) == ("root", "root", 0o600), path.path
    private = key.content_string.strip()
    # wg-quick reads the key from the configuration, where `wg-quick strip` keeps it.
    assert f"PrivateKey = {private}" in config.content_string
    assert host.check_output("wg show wg0 private-key") == private
    public = host.check_output("wg pubkey < /etc/wireguard/wg0.key")
    assert local_facts(_name(host))["public_key"] == public
    assert host.check_output("wg show wg0 public-key") == public


def test_interface_settings_come_from_the_inventory(host):
    name = _name(host)
    v4, v6 = TUNNEL[name]
    config = host.file("/etc/wireguard/wg0.conf").content_string
    assert f"Address = {v4}/24, {v6}/64" in config
    assert "ListenPort = 51820" in config
    assert "MTU = 1380" in config
    assert host.check_output("wg show wg0 listen-port") == "51820"
    addresses = host.check_output("ip -o addr show dev wg0")
    assert f"inet {v4}/24" in addresses and f"inet6 {v6}/64" in addresses
    assert "mtu 1380" in host.check_output("ip link show wg0")


def test_peers_follow_the_topology(host, public_keys):
    name = _name(host)
    expected = {public_keys[peer]: peer for peer in PEERS[name]}
    assert peers(name) == set(expected)
    config = host.file("/etc/wireguard/wg0.conf").content_string
    for key, peer in expected.items():
        # Each section carries the inventory name, which is how a later --limit run finds it.
        assert re.search(rf"\[Peer\]\n# Name = {peer}\nPublicKey = {re.escape(key)}\n", config), config
    allowed = {row[0]: set(row[1].split()) for row in wg_show(name, "allowed-ips")}
    for key, peer in expected.items():
        assert allowed[key] == {f"{TUNNEL[peer][0]}/32", f"{TUNNEL[peer][1]}/128"}


def test_nat_spoke_keeps_its_path_open_and_publishes_no_endpoint(public_keys):
    # wg-spoke-d has no endpoint: the hub writes none for it and learns it from the spoke's packets.
    assert wg_show("wg-spoke-d", "persistent-keepalive") == [[public_keys["wg-mesh-a"], "25"]]
    hub_config = out("wg-mesh-a", "cat /etc/wireguard/wg0.conf")
    section = hub_config.split("# Name = wg-spoke-d", 1)[1].split("[Peer]", 1)[0]
    assert "Endpoint" not in section and "PersistentKeepalive" not in section
    assert dict(wg_show("wg-mesh-a", "persistent-keepalive"))[public_keys["wg-spoke-d"]] == "off"


def test_spoke_dns_goes_through_resolvconf():
    assert "DNS = 127.0.0.11" in out("wg-spoke-d", "cat /etc/wireguard/wg0.conf")
    # wg-quick registered the interface's resolver with resolvconf (openresolv, installed by the role).
    assert "127.0.0.11" in out("wg-spoke-d", "resolvconf -l wg0")


@pytest.mark.parametrize("pair", PAIRS, ids=["-".join(pair) for pair in PAIRS])
def test_every_peered_pair_handshakes_and_pings(pair, public_keys):
    first, second = pair
    already = handshakes(first).get(public_keys[second], 0) > 0
    # The first echo waits for the handshake, so its round trip is the handshake plus one echo.
    reply = sh(first, f"ping -c 1 -W 5 {TUNNEL[second][0]}", check=False)
    assert reply.returncode == 0, reply.stdout
    first_rtt = re.search(r"time=([0-9.]+) ms", reply.stdout).group(1)
    for source, target in ((first, second), (second, first)):
        for address in TUNNEL[target]:
            result = sh(source, f"ping -c 3 -i 0.2 -W 2 {address}", check=False)
            assert result.returncode == 0 and " 0% packet loss" in result.stdout, result.stdout
    assert handshakes(first)[public_keys[second]] > 0
    assert handshakes(second)[public_keys[first]] > 0
    print(f"\nREPORT handshake {first} -> {second}: "
          + ("handshake already made by earlier traffic or keepalive; " if already else "")
          + f"first echo incl. handshake {first_rtt} ms; IPv4 and IPv6 pings both ways: 0% loss")
