"""Kernel parameters, auditd, unattended upgrades, login defaults and services after hardening."""
from __future__ import annotations

from hardening_scenario import IMPORT_BUSYBOX_IMAGE, INSTANCE

testinfra_hosts = [INSTANCE]


def test_kernel_parameters_file_keeps_forwarding_for_docker(host):
    content = host.file("/etc/sysctl.d/60-inferno-hardening.conf").content_string
    assert "kernel.kptr_restrict = 2" in content
    assert "net.ipv4.conf.all.accept_redirects = 0" in content
    # Docker is installed: forwarding must not be switched off, now or at the next boot.
    assert "ip_forward" not in content
    assert "forwarding" not in content.replace("Forwarding is left alone", "")
    assert host.file("/proc/sys/net/ipv4/ip_forward").content_string.strip() == "1"


def test_docker_still_runs_containers(host):
    assert host.service("docker").is_running
    host.check_output(IMPORT_BUSYBOX_IMAGE)
    assert host.check_output("docker run --rm --network none inferno-busybox:latest /bin/busybox echo alive") == "alive"


def test_audit_rules_watch_runner_docker_sudo_and_sshd(host):
    rules = host.file("/etc/audit/rules.d/60-inferno-hardening.rules").content_string.splitlines()
    assert "-w /etc/sudoers -p wa -k inferno-sudoers" in rules
    assert "-w /etc/ssh/sshd_config.d -p wa -k inferno-sshd" in rules
    assert "-w /run/docker.sock -p rwxa -k inferno-docker" in rules
    assert "-w /opt/actions-runner -p wa -k inferno-runner" in rules
    # Its parent does not exist: one refused watch would stop the rules after it from loading.
    assert not any("/srv/not-yet-installed" in rule for rule in rules)
    assert host.package("auditd").is_installed
    assert host.service("auditd").is_enabled


def test_unattended_upgrades_take_security_updates_only(host):
    config = host.check_output("apt-config dump Unattended-Upgrade::Origins-Pattern")
    patterns = [line for line in config.splitlines() if line.startswith("Unattended-Upgrade::Origins-Pattern:: ")]
    assert patterns, config
    assert all("Debian-Security" in line for line in patterns), config
    periodic = host.check_output("apt-config dump APT::Periodic")
    assert 'APT::Periodic::Unattended-Upgrade "1";' in periodic
    assert host.package("unattended-upgrades").is_installed


def test_login_sessions_get_umask_timeout_and_no_core_dumps(host):
    # A real login session through PAM (su -), as an operator would get.
    out = host.check_output("su - operator -c 'umask; echo $TMOUT; ulimit -c'").splitlines()
    assert out[0] == "0027"
    assert out[1] == "900"
    assert out[2] == "0"
    assert host.run("su - operator -c 'TMOUT=0'").rc != 0, "TMOUT must be read-only"


def test_login_defs_for_new_accounts(host):
    settings = dict(
        line.split(None, 1) for line in host.file("/etc/login.defs").content_string.splitlines()
        if line.strip() and not line.startswith("#") and len(line.split(None, 1)) == 2
    )
    assert settings["UMASK"] == "027"
    assert settings["PASS_MAX_DAYS"] == "365"
    assert settings["PASS_MIN_DAYS"] == "1"
    assert settings["SHA_CRYPT_MIN_ROUNDS"] == "65536"


def test_systemd_coredump_keeps_nothing(host):
    config = host.check_output("systemd-analyze cat-config systemd/coredump.conf")
    assert "Storage=none" in config
    assert "ProcessSizeMax=0" in config


def test_unneeded_kernel_modules_are_blocked(host):
    content = host.file("/etc/modprobe.d/inferno-hardening.conf").content_string.splitlines()
    assert "install usb-storage /bin/false" in content
    assert "blacklist dccp" in content


def test_legal_banner(host):
    for path in ("/etc/issue", "/etc/issue.net"):
        assert host.file(path).content_string.startswith("Authorized access only.")


def test_unneeded_service_is_stopped_and_masked(host):
    legacy = host.service("inferno-legacy-daemon")
    assert not legacy.is_running
    assert host.run("systemctl is-enabled inferno-legacy-daemon").stdout.strip() == "masked"


def test_fail2ban_watches_sshd(host):
    assert host.service("fail2ban").is_running
    assert "Journal matches" in host.check_output("fail2ban-client status sshd")
