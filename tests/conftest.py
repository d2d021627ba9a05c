"""Fixtures for the whole suite. The helpers live in tests/support/ (see tests/README.md)."""

from __future__ import annotations

import pytest

from tests.support.pki import Pki, make_pki
from tests.support.servers import BACKENDS


@pytest.fixture(params=BACKENDS)
def http(request: pytest.FixtureRequest) -> str:
    """Run the test once per HTTP parser."""
    return str(request.param)


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    """A CA, a server and a client certificate as files: made once for the whole run."""
    return make_pki(tmp_path_factory.mktemp("pki"))
