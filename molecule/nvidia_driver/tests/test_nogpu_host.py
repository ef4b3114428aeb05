"""A host without an NVIDIA device on its PCI bus: the role leaves it alone."""
from __future__ import annotations

testinfra_hosts = ["nvidia-driver-nogpu"]


def test_no_nvidia_package_is_installed(host):
    installed = host.run("dpkg-query -W -f '${Package} ${db:Status-Status}\\n' '*nvidia*' 'libcuda*'")
    assert [line for line in installed.stdout.splitlines() if line.endswith(" installed")] == []


def test_debian_sources_are_untouched(host):
    sources = host.file("/etc/apt/sources.list.d/debian.sources").content_string
    components = [line for line in sources.splitlines() if line.startswith("Components:")]
    assert components == ["Components: main"] * 2


def test_nouveau_is_not_blacklisted_and_no_reboot_is_flagged(host):
    assert not host.file("/etc/modprobe.d/blacklist-nouveau.conf").exists
    assert not host.file("/run/reboot-required").exists
