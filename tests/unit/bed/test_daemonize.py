"""The test bed's daemonize helper: a daemon it starts must not hold the test run's pipes.

CI once hung for 90 minutes: dockerd, started during the setup stage, inherited the pipe that tees
the stage's log, so tee never saw its end and run-tests.sh waited for tee forever.
"""

import os
import signal
import subprocess
import time
from pathlib import Path

COMMON = Path(__file__).resolve().parents[2] / "bed" / "common.sh"

# A stage as run-tests.sh runs it: a child shell starts the daemon while its output goes through a
# process substitution, then the stage waits for tee (the process substitution) to end.
# The stage runs a function, as do_setup is: for a plain command bash would open the process
# substitution in the command's own child and $! would not name it.
STAGE = 'stage() { "$@" > >(cat > /dev/null) 2>&1; wait "$!"; }; setup() { bash "$1"; }; stage setup "$1"'


def run_stage(tmp_path, launch):
    pidfile = tmp_path / "daemon.pid"
    launcher = tmp_path / "launcher.sh"
    launcher.write_text(f'source "{COMMON}"\n{launch}\necho "$!" > "{pidfile}"\n')
    began = time.monotonic()
    subprocess.run(["bash", "-c", STAGE, "stage", str(launcher)], check=True, timeout=60)
    return time.monotonic() - began, int(pidfile.read_text())


def test_stage_ends_while_its_daemon_runs_on(tmp_path):
    log = tmp_path / "daemon.log"
    elapsed, pid = run_stage(tmp_path, f"daemonize '{log}' bash -c 'echo started; exec sleep 30'")
    try:
        assert elapsed < 10, f"the stage waited {elapsed:.1f} s for its daemon"
        # Its first line says it runs: until then $! may name the child that is still closing
        # descriptors and calling setsid.
        for _attempt in range(50):
            if log.read_text():
                break
            time.sleep(0.1)
        assert log.read_text() == "started\n"
        os.kill(pid, 0)  # still running after the stage ended
        assert os.getsid(pid) == pid, "the daemon is not the leader of its own session"
        fds = sorted(int(fd) for fd in os.listdir(f"/proc/{pid}/fd"))
        assert fds == [0, 1, 2], f"the daemon inherited descriptors {fds}"
        assert os.readlink(f"/proc/{pid}/fd/1") == str(log)
    finally:
        os.kill(pid, signal.SIGKILL)


def test_plain_background_start_holds_the_stage(tmp_path):
    """The control: without daemonize the same stage waits for the daemon (why the helper exists)."""
    elapsed, pid = run_stage(tmp_path, f"setsid nohup sleep 3 > '{tmp_path}/plain.log' 2>&1 < /dev/null &")
    assert elapsed >= 2.5, f"the stage ended after {elapsed:.1f} s: the control no longer shows the hazard"
