"""The role's input check (roles/wireguard/files/validate.py) on its own: every rule it has, fed
the JSON that tasks/validate.yml sends. The scenario's playbook runs prove the wiring for a few."""
from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[3] / "roles" / "wireguard" / "files" / "validate.py"
KEY = "xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg="
VALID = {
    "host": "hub",
    "interface": "wg0",
    "address": ["10.99.0.1/24", "fd99::1/64"],
    "listen_port": 51820,
    "endpoint": "hub.example.net",
    "endpoint_port": 51820,
    "persistent_keepalive": 0,
    "mtu": 1380,
    "dns": ["10.99.0.1", "avernus.internal"],
    "firewall_sources": ["0.0.0.0/0", "::/0", "192.0.2.7"],
    "network": {"runner": ["10.99.0.2/24", "fd99::2/64"], "gpu": ["10.99.0.3/24"]},
    "peers": ["runner", "gpu"],
    "external_peers": [{"name": "ci", "public_key": KEY, "allowed_ips": ["10.99.0.50/32", "10.98.50.0/24"],
                        "endpoint": "[2001:db8::50]:51820", "persistent_keepalive": 25, "preshared_key_valid": True}],
}


def errors(data: dict) -> list[str]:
    result = subprocess.run([sys.executable, "-c", SCRIPT.read_text()], input=json.dumps(data),
                            capture_output=True, text=True, timeout=30, check=True)
    return json.loads(result.stdout)["errors"]


def test_valid_input_passes():
    assert errors(VALID) == []


def _set(path: str, value):
    def change(data):
        *parents, last = path.split(".")
        target = data
        for part in parents:
            target = target[int(part)] if part.isdigit() else target[part]
        target[int(last) if last.isdigit() else last] = value
    return change


CASES = [
    ("address", _set("address", []), "wireguard_address: needs at least one address"),
    ("address-no-prefix", _set("address.0", "10.99.0.1"), "wireguard_address[0]: '10.99.0.1' is not an IPv4 or IPv6 address with its prefix length"),
    ("address-bad-ipv6", _set("address.1", "fd99::g/64"), "wireguard_address[1]: 'fd99::g/64' is not"),
    ("address-network", _set("address.0", "10.99.0.0/24"), "wireguard_address[0]: '10.99.0.0/24' is the network or broadcast address"),
    ("address-twice", _set("address.1", "10.99.0.1/16"), "wireguard_address[1]: 10.99.0.1 is already wireguard_address[0]"),
    ("peer-without-address", _set("network.gpu", []), "wireguard_address of gpu: not set"),
    ("clash-between-others", _set("network.gpu", ["10.99.0.2/24"]), "wireguard_address of gpu and runner: 10.99.0.2 is an address of both"),
    ("interface", _set("interface", "wireguard-interface0"), "wireguard_interface: 'wireguard-interface0' is not an interface name"),
    ("port-zero", _set("listen_port", 0), "wireguard_listen_port: 0 is outside 1-65535"),
    ("endpoint-port", _set("endpoint_port", 65536), "wireguard_endpoint_port: 65536 is outside 1-65535"),
    ("keepalive", _set("persistent_keepalive", 70000), "wireguard_persistent_keepalive: 70000 is outside 0-65535 seconds"),
    ("mtu-ipv6", _set("mtu", 1200), "wireguard_mtu: 1200 is outside 1280-65535 (IPv6 needs at least 1280)"),
    ("dns", _set("dns.1", "not a domain"), "wireguard_dns[1]: 'not a domain' is neither an IP address nor a search domain"),
    ("endpoint-brackets", _set("endpoint", "[2001:db8::1]"), "wireguard_endpoint: '[2001:db8::1]' is not an address or host name"),
    ("firewall-source", _set("firewall_sources.2", "192.0.2.7/24"), "wireguard_firewall_sources[2]: '192.0.2.7/24' has host bits set"),
    ("external-name", _set("external_peers.0.name", "runner"), "wireguard_external_peers[0].name: 'runner' is an inventory host"),
    ("external-key", _set("external_peers.0.public_key", "not-a-key"), "wireguard_external_peers[0].public_key: 'not-a-key' is not a WireGuard key"),
    ("external-cidr", _set("external_peers.0.allowed_ips.1", "10.98.50.300/24"), "wireguard_external_peers[0].allowed_ips[1]: '10.98.50.300/24' is not an IPv4 or IPv6 network"),
    ("external-routes-a-member", _set("external_peers.0.allowed_ips.0", "10.99.0.2/32"), "wireguard_external_peers[0].allowed_ips[0]: 10.99.0.2/32 is already routed to peer runner"),
    ("external-routes-self", _set("external_peers.0.allowed_ips.0", "fd99::1/128"), "wireguard_external_peers[0].allowed_ips[0]: fd99::1/128 is an address of this host"),
    ("external-endpoint", _set("external_peers.0.endpoint", "2001:db8::50:51820"), "wireguard_external_peers[0].endpoint: '2001:db8::50:51820' is not host:port"),
    ("external-endpoint-port", _set("external_peers.0.endpoint", "ci.example.net:0"), "wireguard_external_peers[0].endpoint port: 0 is outside 1-65535"),
    ("external-psk", _set("external_peers.0.preshared_key_valid", False), "wireguard_external_peers[0].preshared_key: is not a WireGuard key"),
]


@pytest.mark.parametrize(("change", "message"), [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_each_rule_names_the_variable(change, message):
    data = copy.deepcopy(VALID)
    change(data)
    found = errors(data)
    assert any(error.startswith(message) for error in found), found


def test_external_peers_must_differ():
    data = copy.deepcopy(VALID)
    twin = dict(data["external_peers"][0], allowed_ips=["10.97.0.0/16"])
    data["external_peers"].append(twin)
    assert errors(data) == ["wireguard_external_peers[1].name: 'ci' is already the name of wireguard_external_peers[0]",
                            "wireguard_external_peers[1].public_key: is already the key of wireguard_external_peers[0]"]
