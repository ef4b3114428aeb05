"""A converged hardware host: node class facts, hostname, tuning files, scratch filesystem, units."""
from __future__ import annotations

import json

from molecule_check_mode import assert_check_mode_reports_no_change


def test_local_facts_record_the_node_class(host):
    facts = json.loads(host.file("/etc/ansible/facts.d/inferno.fact").content_string)
    assert facts == {"site": "avernus", "node_class": "lust", "circle": 2}


def test_ansible_reads_the_local_facts(host):
    local = host.ansible("setup", "filter=ansible_local")["ansible_facts"]["ansible_local"]
    assert local["inferno"]["node_class"] == "lust"


def test_hostname_follows_the_taxonomy(host):
    assert host.check_output("hostname") == "inferno-host-compute-1"
    assert host.file("/etc/hostname").content_string.strip() == "inferno-host-compute-1"
    assert "127.0.1.1 inferno-host-compute-1" in host.file("/etc/hosts").content_string


def test_sysctl_and_limits_files(host):
    sysctl = host.file("/etc/sysctl.d/60-inferno-hardware.conf").content_string
    assert "vm.max_map_count = 262144" in sysctl
    assert "fs.inotify.max_user_watches = 524288" in sysctl
    limits = host.file("/etc/security/limits.d/60-inferno-hardware.conf").content_string
    assert "* - memlock unlimited" in limits
    assert "* - nofile 1048576" in limits


def test_scratch_volume_has_a_filesystem_and_an_fstab_entry(host):
    assert host.check_output("blkid -o value -s TYPE /var/lib/inferno-scratch.img") == "ext4"
    fstab = host.file("/etc/fstab").content_string
    assert "/var/lib/inferno-scratch.img /scratch ext4 defaults,noatime 0 0" in fstab
    assert host.file("/scratch").is_directory
    assert host.file("/scratch").mode == 0o775


def test_cpu_governor_unit_is_enabled_and_skipped_without_cpufreq(host):
    assert host.service("inferno-cpu-governor").is_enabled
    unit = host.file("/etc/systemd/system/inferno-cpu-governor.service").content_string
    assert "echo performance >" in unit
    # No cpufreq in a container: the condition skips the unit instead of failing it.
    assert host.run("systemctl is-failed inferno-cpu-governor").stdout.strip() != "failed"


def test_chrony_uses_the_configured_servers(host):
    assert host.package("chrony").is_installed
    sources = host.file("/etc/chrony/sources.d/inferno.sources").content_string
    assert "server ntp.avernus.invalid iburst" in sources
    assert host.service("chrony").is_enabled


def test_check_mode_reports_no_change():
    assert_check_mode_reports_no_change()
