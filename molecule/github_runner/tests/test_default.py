"""The github_runner role end to end against the stateful fake GitHub and the runner stand-in.

The tests run in file order and share one fleet: the converged hosts first, then the lifecycle
(kill -9, health check, label change, a converge killed midway, arm64, the reaper, bad input and
removal), each driving ansible-playbook against the scenario's inventory.
"""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest
from conftest import HOSTS, PROJECT, SCENARIO, STATE, playbook, recap, sh, wait_for

from molecule_check_mode import assert_check_mode_reports_no_change

ROOTS = "/opt/actions-runner/runners"
SHARED = "/opt/actions-runner/2.330.0"
A100_LABELS = {"gpu", "gpu:nvidia", "gpu:a100", "gpu-count:1", "gpu-mem:80gb", "cuda:12.2"}
DEFAULT_X64 = {"self-hosted", "Linux", "X64"}
EXPECTED = {
    "inferno-host-ghr-cpu-1": ("repos/octo-org/octo-repo", 1, {"inferno", "node-class:limbo"}),
    "inferno-host-ghr-cpu-2": ("repos/octo-org/octo-repo", 1, {"inferno", "node-class:limbo"}),
    "inferno-host-ghr-cpu-3": ("repos/octo-org/octo-repo", 1, {"inferno", "node-class:limbo"}),
    "inferno-host-ghr-gpu-1": ("repos/octo-org/octo-repo", 1, {"inferno", "node-class:lust", "nightly"} | A100_LABELS),
    # The org's "gpu" runner group has id 2 in the fake's standard seed.
    "inferno-host-ghr-gpu-2": ("orgs/octo-org", 2, {"inferno", "node-class:lust"} | A100_LABELS),
    "inferno-host-ghr-gpu-3": ("repos/octo-org/octo-repo", 1, {"inferno", "node-class:lust", "one-shot"} | A100_LABELS),
}


def custom(runner):
    return {label["name"] for label in runner["labels"] if label["type"] == "custom"}


def read_only(runner):
    return {label["name"] for label in runner["labels"] if label["type"] == "read-only"}


def listener_pid(container, name):
    out = sh(container, f"pgrep -f '^python3 {ROOTS}/{name}/bin/Runner.Listener run' || true").stdout.split()
    return int(out[0]) if out else None


def sessions_since(fake, seq, runner_id):
    """Successful session heartbeats of a runner after seq, with the listener pid from the user agent."""
    found = []
    for call in fake.calls(seq):
        if call["path"] == f"/_fake/runner/{runner_id}/session" and call["status"] == 200:
            pid = re.search(r"Pid/(\d+)", call["headers"].get("user-agent", ""))
            found.append((call["time"], int(pid.group(1)) if pid else None))
    return found


# ─── the converged fleet ─────────────────────────────────────────────────────────────────────────


def test_runners_registered_with_the_expected_labels(fake):
    runners = fake.ours()
    assert set(runners) == set(EXPECTED), sorted(runners)
    for name, (scope, group, labels) in EXPECTED.items():
        runner = runners[name]
        assert runner["scope"] == scope, runner
        assert runner["runner_group_id"] == group, runner
        assert runner["status"] == "online", runner
        assert custom(runner) == labels, (name, custom(runner))
        assert read_only(runner) == DEFAULT_X64, runner
    assert runners["inferno-host-ghr-gpu-3"]["ephemeral"] and runners["inferno-host-ghr-gpu-3"]["jit"]
    assert fake.violations() == []


def test_converges_minted_one_registration_token_per_scope(fake):
    # Two scopes (the repository and the organization): converge and idempotence together minted
    # exactly two, so the no-change rerun minted none.
    assert len(fake.tokens("registration")) == 2
    # The GitHub API calls of the converge and of the idempotence run (each starts with the
    # runner group lookup), kept for the report in tests/output/logs.
    runs, current = [], None
    for call in (c for c in fake.calls() if c["api"] == "github"):
        if call["path"].endswith("/runner-groups"):
            current = []
            runs.append(current)
        current.append(f"{call['method']} {call['path']} {call['status']}")
    assert len(runs) == 2, runs
    assert not [c for c in runs[1] if c.startswith("POST")], f"the no-change rerun changed GitHub: {runs[1]}"
    logs = PROJECT / "tests" / "output" / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    (logs / "molecule-github_runner-api-calls.json").write_text(json.dumps(
        {"first_converge": runs[0], "no_change_rerun": runs[1]}, indent=2))
    minted = [c for c in fake.calls() if c["api"] == "github" and c["method"] == "POST"
              and c["path"].endswith("/registration-token")]
    assert len(minted) == 2, minted


def test_runner_units_run_as_the_unprivileged_user(host):
    config = json.loads(host.file("/etc/github-runner/runners.json").content_string)
    assert len(config["runners"]) == 3
    for runner in config["runners"]:
        service = host.service(runner["unit"].removesuffix(".service"))
        assert service.is_running and service.is_enabled, runner["unit"]
        props = host.run(f"systemctl show {runner['unit']} -p User -p KillMode -p Restart -p RestartPreventExitStatus").stdout
        assert "User=github-runner" in props and "KillMode=mixed" in props, props
        assert ("Restart=always" if runner["mode"] == "persistent" else "Restart=on-failure") in props, props
        assert "RestartPreventExitStatus=7" in props, props
        listener = host.run(f"pgrep -u github-runner -f '{runner['root']}/bin/Runner.Listener'")
        assert listener.rc == 0, f"no listener of {runner['name']} runs as github-runner"
    assert host.service("github-runner-health.timer").is_running
    assert host.user("github-runner").shell == "/bin/bash"


def test_runner_roots_share_the_version_files(host):
    shared = host.file(f"{SHARED}/bin/Runner.Listener")
    assert shared.user == "root" and shared.mode == 0o755
    config = json.loads(host.file("/etc/github-runner/runners.json").content_string)
    for runner in config["runners"]:
        root = runner["root"]
        inode = host.run(f"stat -c %i {root}/bin/Runner.Listener {SHARED}/bin/Runner.Listener").stdout.split()
        assert inode[0] == inode[1], f"{root}/bin is not hard-linked to the shared version"
        assert host.file(f"{root}/externals").linked_to == f"{SHARED}/externals"
        assert host.file(root).user == "github-runner" and host.file(root).mode == 0o750
        assert host.file(f"{root}/bin").user == "root", "the runner user must not own the shared files"
        for secret in (".credentials", ".credentials_rsaparams"):
            assert host.file(f"{root}/{secret}").mode == 0o600
            assert host.file(f"{root}/{secret}").user == "github-runner"
        settings = json.loads(host.file(f"{root}/.runner").content_string)
        assert settings["agentName"] == runner["name"]
        # A just-in-time runner's .runner comes from GitHub's configuration, not from config.sh.
        assert runner["mode"] == "ephemeral" or settings["disableUpdate"] is True
        assert host.file(f"{root}/_diag").is_directory
        assert "Listening for Jobs" in host.run(f"cat {root}/_diag/Runner_*.log").stdout
    # The just-in-time configuration reached its unit through /run and is gone.
    assert host.run("ls -A /run/github-runner 2>/dev/null").stdout.strip() == ""


def _secrets(fake):
    tokens = fake.tokens()
    shared = {t["token"] for t in tokens if t["kind"] in ("pat", "registration", "remove", "jit_config", "installation")}
    own = {t["token"] for t in tokens if t["kind"] == "runner_secret"}
    return shared, own


def _grep_container(container, needles):
    """Files of the whole container filesystem holding any needle (pseudo filesystems excluded)."""
    patterns = "\n".join(sorted(needles))
    script = ("cat > /tmp/.needles && grep -rlF --binary-files=text -f /tmp/.needles / "
              "--exclude-dir=proc --exclude-dir=sys --exclude-dir=dev 2>/dev/null | grep -v '^/tmp/.needles$'; "
              "rm -f /tmp/.needles; true")
    result = subprocess.run(["docker", "exec", "-i", container, "bash", "-c", script], input=patterns,
                            capture_output=True, text=True, timeout=300, check=True)
    return [line for line in result.stdout.splitlines() if line]


def test_no_token_on_any_disk_outside_the_runners_credentials(fake):
    shared, own = _secrets(fake)
    assert len(shared) >= 3, "expected the PAT, two registration tokens and a JIT configuration"
    for container in HOSTS[:2]:
        assert _grep_container(container, shared) == [], f"{container} holds a token or the PAT"
        holders = _grep_container(container, own)
        assert holders, "the runners' own secrets should be in their .credentials"
        assert all(path.startswith(ROOTS) and path.endswith("/.credentials") for path in holders), holders


def test_check_mode_reports_no_change():
    assert_check_mode_reports_no_change()


# ─── lifecycle ───────────────────────────────────────────────────────────────────────────────────


def test_kill_9_of_a_listener_is_back_online_within_10_seconds(fake):
    name, container = "inferno-host-ghr-cpu-1", "inferno-host-ghr-cpu"
    runner_id = fake.runner(name)["id"]
    old = listener_pid(container, name)
    assert old
    seq = fake.last_seq()
    sh(container, f"kill -9 {old}")
    killed = time.time()
    back = wait_for(lambda: [s for s in sessions_since(fake, seq, runner_id) if s[1] not in (None, old)],
                    timeout=20, what=f"a new session of {name}")
    delay = back[0][0] - killed
    logs = PROJECT / "tests" / "output" / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    (logs / "molecule-github_runner-kill9.txt").write_text(f"kill -9 of {name}: new session after {delay:.1f} s\n")
    assert delay <= 10, f"{name} took {delay:.1f} s to come back"
    assert fake.runner(name)["status"] == "online"


def test_health_check_restarts_a_listener_that_does_not_listen(fake):
    name, container = "inferno-host-ghr-cpu-2", "inferno-host-ghr-cpu"
    runner_id = fake.runner(name)["id"]
    # Stand-in hook: the next listener stays alive but never connects nor logs "Listening for Jobs".
    sh(container, f"install -d -o github-runner {ROOTS}/{name}/.standin-hooks && "
                  f"touch {ROOTS}/{name}/.standin-hooks/no-listen && systemctl restart github-runner-{name}")
    silent = wait_for(lambda: listener_pid(container, name), timeout=20, what="the silent listener")
    seq = fake.last_seq()
    # Timer every 30 s, grace 8 s: the check restarts it within about 40 s.
    wait_for(lambda: [s for s in sessions_since(fake, seq, runner_id) if s[1] not in (None, silent)],
             timeout=75, interval=2, what=f"the health check to restart {name}")
    journal = sh(container, "journalctl -u github-runner-health --no-pager -o cat").stdout
    assert f"{name}: restarting: listener alive for" in journal, journal[-2000:]


def test_exit_code_7_is_reported_and_not_restarted(fake):
    name, container = "inferno-host-ghr-cpu-3", "inferno-host-ghr-cpu"
    sh(container, f"install -d -o github-runner {ROOTS}/{name}/.standin-hooks && "
                  f"echo 7 > {ROOTS}/{name}/.standin-hooks/exit-code && systemctl restart github-runner-{name}")
    wait_for(lambda: sh(container, f"systemctl is-failed github-runner-{name}", check=False).stdout.strip() == "failed",
             timeout=30, what=f"{name} to stop with exit code 7")
    journal = wait_for(lambda: (lambda j: j if "version deprecated" in j else "")(
        sh(container, "journalctl -u github-runner-health --no-pager -o cat").stdout), timeout=45, interval=3,
        what="the health check to report exit code 7")
    assert f"{name}: not restarted: GitHub refuses runner version 2.330.0 (run.sh exit code 7" in journal
    assert "ExecMainStatus=7" in sh(container, f"systemctl show github-runner-{name} -p ExecMainStatus").stdout
    # Back in service by hand, as an operator would after upgrading.
    sh(container, f"systemctl restart github-runner-{name}")
    wait_for(lambda: fake.runner(name)["status"] == "online", timeout=20, what=f"{name} online again")


def test_label_change_keeps_runner_ids_and_a_new_runner_leaks_no_token(fake, tmp_path):
    before = {name: runner["id"] for name, runner in fake.ours().items()}
    extra = tmp_path / "vars.json"
    extra.write_text(json.dumps({"github_runner_labels": ["inferno", "relabelled"], "github_runner_count": 4}))
    result = playbook(str(SCENARIO / "converge.yml"), "--limit", "inferno-host-ghr-cpu", "-e", f"@{extra}", "-vvv")
    assert result.returncode == 0, result.stdout[-4000:]
    after = fake.ours()
    for index in (1, 2, 3):
        name = f"inferno-host-ghr-cpu-{index}"
        assert after[name]["id"] == before[name], f"{name} was registered again instead of relabelled"
        assert custom(after[name]) == {"inferno", "relabelled", "node-class:limbo"}
    assert after["inferno-host-ghr-cpu-4"]["status"] == "online"
    # This run minted a registration token for the new runner: neither it nor any other token, nor
    # the PAT, appears in the -vvv output.
    shared, own = _secrets(fake)
    output = result.stdout + result.stderr
    leaked = [kind for kind, token in ((t["kind"], t["token"]) for t in fake.tokens()) if token in output]
    assert leaked == [], f"-vvv output holds {leaked}"
    assert len(fake.tokens("registration")) == 3


def test_converge_killed_midway_and_rerun_leaves_exactly_the_intended_runners(fake, tmp_path):
    extra = tmp_path / "vars.json"
    extra.write_text(json.dumps({"github_runner_labels": ["inferno", "relabelled"], "github_runner_count": 5}))
    cmd = ["ansible-playbook", "-i", os.environ["MOLECULE_INVENTORY_FILE"], str(SCENARIO / "converge.yml"),
           "--limit", "inferno-host-ghr-cpu", "-e", f"@{extra}"]
    process = subprocess.Popen(cmd, cwd=PROJECT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               start_new_session=True)
    try:
        # Killed as soon as GitHub knows the new runner: registered, not yet started.
        first = wait_for(lambda: fake.runner("inferno-host-ghr-cpu-5"), timeout=300, interval=0.2,
                         what="the registration of inferno-host-ghr-cpu-5")
        os.killpg(process.pid, signal.SIGKILL)
    finally:
        process.wait(timeout=60)
    result = playbook(str(SCENARIO / "converge.yml"), "--limit", "inferno-host-ghr-cpu", "-e", f"@{extra}")
    assert result.returncode == 0, result.stdout[-4000:]
    names = [r["name"] for r in fake.runners()]
    assert len(names) == len(set(n.lower() for n in names)), f"duplicate runners: {names}"
    cpu = sorted(n for n in names if n.startswith("inferno-host-ghr-cpu-"))
    assert cpu == [f"inferno-host-ghr-cpu-{i}" for i in range(1, 6)]
    assert fake.runner("inferno-host-ghr-cpu-5")["id"] == first["id"]
    assert all(fake.runner(n)["status"] == "online" for n in cpu)
    units = sh("inferno-host-ghr-cpu", "systemctl list-units --no-legend --state=running 'github-runner-*.service' | wc -l")
    assert int(units.stdout) == 5


def _skip_or_fail(reason: str) -> None:
    # CI builds the arm64 image in its images stage: there a missing piece is a failure.
    if os.environ.get("CI") == "true":
        pytest.fail(reason)
    pytest.skip(reason)


def start_extra_host(name: str, image: str) -> None:
    """A host outside the scenario's platforms, with the container settings of .config/molecule/config.yml."""
    apt_cache = os.environ.get("INFERNO_APT_CACHE", "/var/cache/inferno-apt")
    subprocess.run(["docker", "rm", "-f", name], capture_output=True, check=False)
    subprocess.run(["docker", "run", "-d", "--name", name, "--hostname", name, "--network", "inferno-ghr",
                    "--cap-add", "SYS_ADMIN", "--cap-add", "NET_ADMIN", "--security-opt", "seccomp=unconfined",
                    "--security-opt", "apparmor=unconfined", "--cgroupns=host", "-v", "/sys/fs/cgroup:/sys/fs/cgroup:rw",
                    "-v", f"{apt_cache}:/var/cache/apt/archives:rw", "--tmpfs", "/run", "--tmpfs", "/run/lock",
                    "--tmpfs", "/tmp", "--stop-signal", "SIGRTMIN+3", "--label", "inferno.molecule=github_runner",
                    "--pull", "never", image, "/sbin/init"], capture_output=True, text=True, check=True)
    wait_for(lambda: sh(name, "systemctl is-system-running --wait", check=False).returncode in (0, 1),
             timeout=120, what=f"systemd in {name}")


def converge_extra_host(name: str, count: int, tmp_path: Path, *extra: str) -> subprocess.CompletedProcess:
    inventory = tmp_path / f"{name}.yml"
    inventory.write_text(json.dumps({"all": {"hosts": {name: {
        "ansible_connection": "community.docker.docker", "github_runner_count": count}}}}))
    return subprocess.run(["ansible-playbook", "-i", os.environ["MOLECULE_INVENTORY_FILE"], "-i", str(inventory),
                           str(SCENARIO / "converge.yml"), "--limit", name, *extra],
                          capture_output=True, text=True, timeout=1500, check=False, cwd=PROJECT)


@pytest.mark.parametrize("count", [1, 6])
def test_converge_wall_time_of_a_fresh_host_with_1_and_6_runners(fake, tmp_path, count):
    """Not a speed limit (that depends on the machine): the figures go to tests/output/logs."""
    name = f"inferno-host-ghr-bench{count}"
    start_extra_host(name, os.environ.get("INFERNO_IMAGE_DEBIAN12", "inferno/debian12-systemd:amd64"))
    try:
        if count == 1:
            # --check on a host the role never saw: it goes through, and neither the host nor GitHub changes.
            tokens = len(fake.tokens())
            checked = converge_extra_host(name, count, tmp_path, "--check")
            assert checked.returncode == 0, checked.stdout[-4000:]
            assert fake.runner(f"{name}-1") is None and len(fake.tokens()) == tokens
            assert sh(name, f"test -e {ROOTS}", check=False).returncode != 0
        started = time.monotonic()
        result = converge_extra_host(name, count, tmp_path)
        took = time.monotonic() - started
        assert result.returncode == 0, result.stdout[-4000:]
        runners = [fake.runner(f"{name}-{index}") for index in range(1, count + 1)]
        assert all(r and r["status"] == "online" for r in runners), runners
        logs = PROJECT / "tests" / "output" / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        with (logs / "molecule-github_runner-converge-times.txt").open("w" if count == 1 else "a") as report:
            report.write(f"fresh host, {count} runner(s): converge {took:.1f} s\n")
    finally:
        # Gone without deregistering: the reaper below removes its runners as orphans.
        subprocess.run(["docker", "rm", "-f", name], capture_output=True, check=False)


def test_arm64_host_gets_the_arm64_archive(fake, tmp_path):
    binfmt = Path("/proc/sys/fs/binfmt_misc/qemu-aarch64")
    if not binfmt.exists() or "enabled" not in binfmt.read_text():
        _skip_or_fail("arm64: this machine has no enabled qemu-aarch64 handler in /proc/sys/fs/binfmt_misc "
                    "(install qemu-user-static and binfmt-support, then: update-binfmts --enable qemu-aarch64)")
    image = os.environ.get("INFERNO_IMAGE_DEBIAN12_ARM64", "inferno/debian12-systemd:arm64")
    if subprocess.run(["docker", "image", "inspect", image], capture_output=True, check=False).returncode != 0:
        _skip_or_fail(f"arm64: no image {image}; build it with: bash tests/bed/image.sh debian12 arm64")
    name = "inferno-host-ghr-arm"
    start_extra_host(name, image)
    try:
        assert sh(name, "uname -m").stdout.strip() == "aarch64"
        result = converge_extra_host(name, 1, tmp_path)
        assert result.returncode == 0, result.stdout[-4000:]
        listener = sh(name, f"grep -m1 '^RUNNER_ARCH' {SHARED}/bin/Runner.Listener").stdout.strip()
        assert listener == 'RUNNER_ARCH = "arm64"', listener
        runner = fake.runner("inferno-host-ghr-arm-1")
        assert runner["status"] == "online" and read_only(runner) == {"self-hosted", "Linux", "ARM64"}
    finally:
        # Gone without deregistering, like a host taken out of the inventory: the reaper's orphan.
        subprocess.run(["docker", "rm", "-f", name], capture_output=True, check=False)


def test_reaper_removes_an_idle_runner_and_an_orphan(fake):
    spare = fake.runner("inferno-host-ghr-gpu-spare")
    assert spare and fake.runner("inferno-host-retired-1") and fake.runner("ci-shared-1")
    api = fake.api
    state = STATE / "reap-state.json"
    # An earlier reaper run saw the spare runner idle an hour ago.
    state.write_text(json.dumps({f"{api} repo/octo-org/octo-repo {spare['id']}":
                                 {"name": spare["name"], "condition": "idle", "since": int(time.time()) - 3600}}))
    extra = {"github_runner_reap_scopes": [{"repo": "octo-org/octo-repo"}, {"org": "octo-org"}],
             "github_runner_reap_idle_minutes": 30, "github_runner_reap_offline_minutes": 60,
             "github_runner_reap_state_file": str(state)}
    result = playbook(str(PROJECT / "playbooks" / "reap_runners.yml"), "-e", json.dumps(extra))
    assert result.returncode == 0, result.stdout[-4000:]
    names = {r["name"] for r in fake.runners()}
    assert "inferno-host-retired-1" not in names, "the orphan of a retired host survived"
    assert "inferno-host-ghr-gpu-spare" not in names, "the runner idle for an hour survived"
    assert "ci-shared-1" in names, "a runner that is not ours was reaped"
    # Our live runners are idle too, but only since this run: kept, and remembered for the next.
    assert {f"inferno-host-ghr-cpu-{i}" for i in range(1, 6)} <= names
    remembered = json.loads(state.read_text())
    assert any(entry["name"] == "inferno-host-ghr-cpu-1" and entry["condition"] == "idle" for entry in remembered.values())


def test_bad_input_fails_naming_the_variable_before_any_change(fake):
    subprocess.run(["bash", str(PROJECT / "tests/doubles/actions-runner/build-archive.sh"),
                    str(STATE / "archives"), "2.330.1"], capture_output=True, check=True)
    tokens = len(fake.tokens())
    result = playbook(str(SCENARIO / "bad_input.yml"))
    output = result.stdout
    assert result.returncode == 0, output[-6000:]
    for case in ("invalid label characters", "unknown scope", "runner group that does not exist",
                 "checksum mismatch", "duplicate runner names on one host"):
        assert f"BAD-INPUT {case}:" in output, f"{case} did not stop the role\n{output[-4000:]}"
    assert recap(output)["inferno-host-ghr-cpu"]["changed"] == 0, output[-4000:]
    assert len(fake.tokens()) == tokens, "bad input minted a token"


def test_removal_leaves_no_runner_on_github(fake):
    result = playbook(str(SCENARIO / "remove_all.yml"))
    assert result.returncode == 0, result.stdout[-4000:]
    # arm-1 (when the arm64 test ran) left with its host and was reaped as an orphan above.
    assert fake.ours() == {}, sorted(fake.ours())
    for container in HOSTS[:2]:
        assert sh(container, f"ls -A {ROOTS}").stdout.strip() == ""
        assert sh(container, "ls /etc/systemd/system/ | grep -c '^github-runner-inferno' || true").stdout.strip() == "0"
        assert sh(container, "pgrep -f '[R]unner.Listener' || true").stdout.strip() == ""
    removed = [c for c in fake.calls() if c["path"] == "/_fake/runner/remove" and c["status"] == 200]
    assert len(removed) >= 8, "runners should leave through config.sh remove with a remove token"
