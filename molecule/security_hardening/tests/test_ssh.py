"""sshd after hardening: keys only, the groups it admits, modern algorithms only."""
from __future__ import annotations

import pytest
from hardening_scenario import ALLOWED_ADDRESS, INSTANCE, SSH_OPTIONS

testinfra_hosts = [INSTANCE]

DROPIN = "/etc/ssh/sshd_config.d/00-inferno-hardening.conf"


@pytest.fixture(scope="module")
def sshd_effective(host):
    """The configuration sshd runs with, drop-ins and defaults resolved (`sshd -T`)."""
    lines = host.check_output("sshd -T").splitlines()
    return dict(line.split(" ", 1) for line in lines if " " in line)


def test_effective_settings(sshd_effective):
    assert sshd_effective["passwordauthentication"] == "no"
    assert sshd_effective["kbdinteractiveauthentication"] == "no"
    assert sshd_effective["permitrootlogin"] == "without-password"  # how sshd -T spells prohibit-password
    assert sshd_effective["maxauthtries"] == "3"
    assert sshd_effective["loglevel"] == "VERBOSE"
    assert sshd_effective["allowgroups"] == "sshusers"
    assert sshd_effective["allowtcpforwarding"] == "no"
    assert sshd_effective["x11forwarding"] == "no"


def test_only_modern_algorithms_are_offered(sshd_effective):
    assert sshd_effective["kexalgorithms"] == (
        "sntrup761x25519-sha512@openssh.com,curve25519-sha256,curve25519-sha256@libssh.org,"
        "diffie-hellman-group16-sha512,diffie-hellman-group18-sha512"
    )
    assert "ecdsa" not in sshd_effective["hostkeyalgorithms"]
    assert all(mac.endswith("-etm@openssh.com") for mac in sshd_effective["macs"].split(","))
    assert not any(c.endswith("-cbc") for c in sshd_effective["ciphers"].split(","))


def test_dropin_is_private_to_root(host):
    dropin = host.file(DROPIN)
    assert dropin.user == "root"
    assert dropin.mode == 0o600


def test_small_dh_moduli_are_gone(host):
    sizes = {int(line.split()[4]) for line in host.file("/etc/ssh/moduli").content_string.splitlines()
             if line and not line.startswith("#")}
    assert sizes, "/etc/ssh/moduli lost every modulus"
    assert min(sizes) >= 3071


def test_password_login_is_refused(client_allowed):
    result = client_allowed.run(
        f"ssh {SSH_OPTIONS} -o PubkeyAuthentication=no -o PreferredAuthentications=password,keyboard-interactive"
        f" operator@{ALLOWED_ADDRESS} true"
    )
    assert result.rc == 255
    assert "Permission denied (publickey)" in result.stderr


def test_root_logs_in_with_a_key(client_allowed):
    assert client_allowed.check_output(f"ssh {SSH_OPTIONS} root@{ALLOWED_ADDRESS} id -un") == "root"


def test_a_user_outside_allow_groups_is_refused_despite_a_valid_key(client_allowed):
    result = client_allowed.run(f"ssh {SSH_OPTIONS} outsider@{ALLOWED_ADDRESS} true")
    assert result.rc == 255
    assert "Permission denied" in result.stderr
