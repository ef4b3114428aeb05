"""The two clients of the security_hardening scenario, reached with docker exec."""
from __future__ import annotations

import pytest
import testinfra


@pytest.fixture(scope="session")
def client_allowed():
    return testinfra.get_host("docker://client-allowed-security_hardening")


@pytest.fixture(scope="session")
def client_denied():
    return testinfra.get_host("docker://client-denied-security_hardening")
