"""Fixtures for tests of and against the GitHub doubles (tests/doubles/github).

``fake_github`` (function scope): a fresh strict fake GitHub in a thread, seeded with
``STANDARD_SEED``; ``github_app``: an app with a real RSA key installed on ``orgs/octo-org``;
``prism`` (session scope): Prism mocking api.github.com from GitHub's official description.
"""
from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from tests.doubles.github.fixtures import fake_github, github_app, prism  # noqa: E402

__all__ = ["fake_github", "github_app", "prism"]
