"""pytest fixtures for the GitHub doubles; a conftest imports them to make them available.

``from tests.doubles.github.fixtures import fake_github, github_app, prism  # noqa: F401``

Both doubles need the npm test tools (the fake validates against the description they install):
without them a test is skipped with the command to run, or fails when ``CI=true``.
"""
from __future__ import annotations

import copy
import os
from dataclasses import dataclass
from typing import Iterator

import pytest

from .app_jwt import generate_app_key, sign_app_jwt
from .fake_github import STANDARD_SEED, FakeGitHub
from .openapi import API_GITHUB_COM
from .prism import PRISM_BIN, Prism


def require_test_tools(*paths) -> None:
    missing = [str(p) for p in paths or (API_GITHUB_COM,) if not os.path.exists(p)]
    if not missing:
        return
    message = f"needs the npm test tools, run `npm ci --prefix tests/tools` (missing: {', '.join(missing)})"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


@pytest.fixture
def fake_github() -> Iterator[FakeGitHub]:
    """A fresh, strict fake seeded with ``STANDARD_SEED`` on a free loopback port.

    Credentials by name with ``fake_github.credential("admin" | "reader" | "outsider")``. The test
    fails at teardown if any response broke GitHub's description (``fake_github.violations``).
    """
    require_test_tools(API_GITHUB_COM)
    fake = FakeGitHub(seed=copy.deepcopy(STANDARD_SEED), lifetime=600.0).start()
    try:
        yield fake
    finally:
        fake.stop()
    if fake.violations:
        pytest.fail(f"fake GitHub answered outside GitHub's description: {fake.violations}", pytrace=False)


@dataclass
class GitHubApp:
    """A GitHub App seeded into the fake, installed on ``orgs/octo-org`` with runner permissions."""

    app_id: int
    client_id: str
    installation_id: int
    private_key_pem: str
    public_key_pem: str

    def jwt(self, **kwargs) -> str:
        """A JWT as GitHub documents it; keyword arguments as ``app_jwt.sign_app_jwt``."""
        return sign_app_jwt(self.private_key_pem, self.app_id, **kwargs)


@pytest.fixture
def github_app(fake_github: FakeGitHub) -> GitHubApp:
    private_pem, public_pem = generate_app_key()
    app = GitHubApp(4242, "Iv23liInfernoTest01", 777, private_pem, public_pem)
    fake_github.seed(
        {
            "apps": [{"id": app.app_id, "slug": "inferno-runners", "client_id": app.client_id, "public_key_pem": public_pem}],
            "installations": [
                {
                    "id": app.installation_id,
                    "app_id": app.app_id,
                    "account": "orgs/octo-org",
                    "permissions": {"organization_self_hosted_runners": "write", "administration": "write", "metadata": "read"},
                    "repository_selection": "all",
                }
            ],
        }
    )
    return app


@pytest.fixture(scope="session")
def prism() -> Iterator[Prism]:
    """One Prism mock of api.github.com for the session (about 7-20 s to start, 0.3-0.45 GB)."""
    require_test_tools(PRISM_BIN, API_GITHUB_COM)
    server = Prism(lifetime=1800.0).start()
    try:
        yield server
    finally:
        server.stop()
