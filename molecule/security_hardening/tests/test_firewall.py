"""The allowlist as clients meet it: ufw for the host's own ports, DOCKER-USER for published ones."""
from __future__ import annotations

import time

import pytest
from hardening_scenario import ALLOWED_ADDRESS, DENIED_ADDRESS, IMPORT_BUSYBOX_IMAGE, INSTANCE, SSH_OPTIONS

testinfra_hosts = [INSTANCE]

WEB = "inferno-web"


def wait_for(check, what, seconds=30):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(1)
    raise AssertionError(f"{what} within {seconds} s")


@pytest.fixture(scope="module")
def published_web(host):
    """A web server in an inner container, published on 8080 (allowlisted) and 8081 (not)."""
    host.check_output(IMPORT_BUSYBOX_IMAGE)
    host.run(f"docker rm -f {WEB}")
    host.check_output(
        f"docker run -d --name {WEB} --restart unless-stopped -p 8080:80 -p 8081:80 inferno-busybox:latest"
        " /bin/busybox sh -c '/bin/busybox mkdir -p /www && echo inferno-ok > /www/index.html"
        " && exec /bin/busybox httpd -f -p 80 -h /www'"
    )
    wait_for(lambda: host.run("curl -sf -m 2 http://127.0.0.1:8080/").stdout.strip() == "inferno-ok",
             "the published web server answers on the host")
    yield
    host.run(f"docker rm -f {WEB}")


def test_ufw_denies_inbound_by_default_and_admits_the_allowlist(host):
    status = host.check_output("ufw status verbose")
    assert "Status: active" in status
    assert "Default: deny (incoming), allow (outgoing), deny (routed)" in status
    rules = [" ".join(line.split()) for line in status.splitlines()]
    assert "22/tcp ALLOW IN 172.30.61.0/24 # inferno:ssh" in rules
    assert "8080/tcp ALLOW IN 172.30.61.0/24 # inferno:api" in rules
    # security_hardening_firewall_allow_extra, where the WireGuard role adds its port.
    assert "51820/udp ALLOW IN 172.30.61.0/24 # inferno:wireguard" in rules


def test_ufw_drops_its_own_retired_rule_and_keeps_the_operators(host):
    status = host.check_output("ufw status")
    assert "9999/tcp" not in status
    assert "9998/tcp" in status


def test_published_port_answers_an_allowed_client(client_allowed, published_web):
    assert client_allowed.check_output(f"curl -sf -m 5 http://{ALLOWED_ADDRESS}:8080/") == "inferno-ok"


def test_published_port_ignores_a_denied_client(client_denied, published_web):
    # The host is reachable from there; only the port is not.
    assert client_denied.run(f"ping -c 1 -W 2 {DENIED_ADDRESS}").rc == 0
    result = client_denied.run(f"curl -sf -m 3 http://{DENIED_ADDRESS}:8080/")
    assert result.rc == 28, f"expected a timeout (28), got rc={result.rc}: {result.stdout}{result.stderr}"


def test_published_port_off_the_allowlist_is_closed_even_to_an_allowed_client(client_allowed, published_web):
    assert client_allowed.run(f"curl -sf -m 3 http://{ALLOWED_ADDRESS}:8081/").rc == 28


def test_published_ports_stay_open_to_the_host_itself(host, published_web):
    assert host.check_output("curl -sf -m 5 http://127.0.0.1:8081/") == "inferno-ok"


def test_ssh_admits_a_key_from_the_allowed_network(client_allowed):
    assert client_allowed.check_output(f"ssh {SSH_OPTIONS} operator@{ALLOWED_ADDRESS} id -un") == "operator"


def test_ssh_is_unreachable_from_the_denied_network(client_denied):
    assert client_denied.run(f"ping -c 1 -W 2 {DENIED_ADDRESS}").rc == 0
    result = client_denied.run(f"timeout 4 bash -c '</dev/tcp/{DENIED_ADDRESS}/22'")
    assert result.rc != 0, "port 22 answered a client outside the allowlist"


def test_allowlist_comes_back_when_docker_restarts(host, client_allowed, client_denied, published_web):
    # Lose every rule, as a reboot would, then let Docker start again: the unit must re-apply them.
    host.check_output("iptables -F DOCKER-USER && iptables -F INFERNO-DOCKER-USER")
    host.check_output("systemctl restart docker")
    # systemctl returns once Docker is up; the unit, ordered after it, runs a moment later.
    wait_for(lambda: host.run("iptables -C DOCKER-USER -j INFERNO-DOCKER-USER").rc == 0,
             "DOCKER-USER jumps to INFERNO-DOCKER-USER again")
    chain = host.check_output("iptables -S INFERNO-DOCKER-USER")
    assert '-s 172.30.61.0/24 -p tcp -m conntrack --ctorigdstport 8080 -m comment --comment "inferno:api" -j RETURN' in chain
    wait_for(lambda: client_allowed.run(f"curl -sf -m 2 http://{ALLOWED_ADDRESS}:8080/").rc == 0,
             "the restarted web server answers the allowed client")
    assert client_denied.run(f"curl -sf -m 3 http://{DENIED_ADDRESS}:8080/").rc == 28
    assert host.service("inferno-docker-user").is_enabled
