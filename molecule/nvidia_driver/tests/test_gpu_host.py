"""A host whose PCI bus shows an NVIDIA A100: Debian's user-space driver, installed for real."""
from __future__ import annotations

testinfra_hosts = ["nvidia-driver-gpu"]

DEBIAN_DRIVER_PACKAGES = ["nvidia-smi", "libcuda1", "libnvidia-cfg1", "nvidia-persistenced"]


def test_debian_nonfree_driver_packages_are_installed_on_the_branch(host):
    for name in DEBIAN_DRIVER_PACKAGES:
        assert host.package(name).is_installed, name
    assert host.package("nvidia-smi").version.startswith("535.")
    assert host.package("libcuda1").version == host.package("nvidia-smi").version
    # They came from Debian's archive, not from a repository the role added.
    policy = host.check_output("apt-cache policy nvidia-smi")
    assert "deb.debian.org/debian" in policy or "/debian-security" in policy


def test_kernel_module_is_left_out_in_a_container(host):
    for name in ["nvidia-kernel-dkms", "nvidia-open-kernel-dkms", "dkms"]:
        assert not host.package(name).is_installed, name


def test_nonfree_components_are_added_to_every_debian_entry(host):
    sources = host.file("/etc/apt/sources.list.d/debian.sources").content_string
    components = [line for line in sources.splitlines() if line.startswith("Components:")]
    assert components == ["Components: main contrib non-free non-free-firmware"] * 2
    # The entries were edited in place: no second source for the same archive.
    assert host.check_output("ls /etc/apt/sources.list.d") == "debian.sources"


def test_nouveau_is_blacklisted(host):
    conf = host.file("/etc/modprobe.d/blacklist-nouveau.conf")
    assert conf.mode == 0o644
    lines = [line for line in conf.content_string.splitlines() if line and not line.startswith("#")]
    assert lines == ["blacklist nouveau", "options nouveau modeset=0"]


def test_initramfs_was_rebuilt_once(host):
    # Converge wrote the blacklist and rebuilt the initramfs; the idempotence run changed nothing
    # and so must not have rebuilt it again.
    calls = host.file("/var/log/inferno-update-initramfs.calls").content_string.splitlines()
    assert calls == ["-u"]


def test_persistence_daemon_is_enabled_but_not_running_without_a_driver(host):
    service = host.service("nvidia-persistenced")
    assert service.is_enabled
    assert not service.is_running


def test_pending_reboot_is_flagged(host):
    # The driver is installed but cannot answer: no kernel module is loaded.
    assert host.run("nvidia-smi").rc != 0
    assert host.file("/run/reboot-required").content_string == "*** System restart required ***\n"
    assert "nvidia-smi" in host.file("/run/reboot-required.pkgs").content_string.splitlines()
