"""A check run of the converge play on the hardened host must change nothing."""
from __future__ import annotations

from molecule_check_mode import assert_check_mode_reports_no_change


def test_check_mode_reports_no_change():
    assert_check_mode_reports_no_change()
