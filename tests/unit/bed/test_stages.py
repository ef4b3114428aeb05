"""run-tests.sh's stage machinery (tests/bed/stages.sh), driven through its real functions.

The sandbox runs as a background stage beside the Molecule stages. A foreground stage finds the
tee of its log through $!; after an external command $! still named the background stage, so the
foreground stage waited for it and reaped it, and the background stage was reported failed.
"""

import re
import subprocess
from pathlib import Path

BED = Path(__file__).resolve().parents[2] / "bed"


def run_bed(tmp_path, script):
    """Run script after common.sh and stages.sh, with the stage logs under tmp_path."""
    prologue = f'source "{BED}/common.sh"; source "{BED}/stages.sh"; set +e; OUTPUT_DIR="{tmp_path}"; mkdir -p "{tmp_path}/logs"\n'
    return subprocess.run(["bash", "-c", prologue + script], capture_output=True, text=True, timeout=60, check=False)


def seconds(summary_line):
    return float(re.search(r"([0-9.]+)s$", summary_line).group(1))


def test_a_background_stage_survives_the_foreground_stages_beside_it(tmp_path):
    marker = tmp_path / "lane-finished"
    done = run_bed(
        tmp_path,
        f"""
        lane_start slow bash -c 'sleep 3; echo finished > "{marker}"'
        stage quick bash -c 'echo from the quick stage'
        stage quicker true
        lane_join slow
        summary
        """,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    lines = {line.split()[0]: line for line in done.stdout.splitlines() if re.match(r"^(slow|quick|quicker) ", line)}
    assert lines["slow"].split()[1] == "ok", done.stdout
    assert seconds(lines["slow"]) >= 3
    assert marker.read_text() == "finished\n"
    # The quick stages did not wait for the background one.
    assert seconds(lines["quick"]) < 2, done.stdout
    assert (tmp_path / "logs" / "stage-quick.log").read_text() == "from the quick stage\n"


def test_a_background_stage_is_timed_to_its_own_end(tmp_path):
    done = run_bed(
        tmp_path,
        """
        lane_start short sleep 1
        stage long sleep 3
        lane_join short
        summary
        """,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    line = next(line for line in done.stdout.splitlines() if line.startswith("short "))
    assert 1 <= seconds(line) < 2.5, line


def test_a_failed_background_stage_fails_the_run_and_shows_its_log(tmp_path):
    done = run_bed(
        tmp_path,
        """
        lane_start broken bash -c 'echo the reason it broke; exit 3'
        stage fine true
        lane_join broken
        summary
        """,
    )
    assert done.returncode == 1
    assert re.search(r"^broken\s+FAILED", done.stdout, re.M), done.stdout
    assert "the reason it broke" in done.stdout
    assert "RESULT: FAILED" in done.stdout


def test_a_stage_function_still_exports_to_the_stages_after_it(tmp_path):
    done = run_bed(
        tmp_path,
        """
        pick_image() { export PICKED_IMAGE=inferno/debian12-systemd:test; }
        stage images pick_image
        echo "picked=${PICKED_IMAGE:-none}"
        """,
    )
    assert "picked=inferno/debian12-systemd:test" in done.stdout, done.stdout + done.stderr
