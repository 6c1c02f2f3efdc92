"""Fixtures the test modules share."""

from __future__ import annotations

import pytest


@pytest.fixture
def http():
    """An HTTP client for a test against the SOAP simulators (test_sim_soap_common.Http)."""
    from test_sim_soap_common import Http
    from twisted.internet import reactor

    return Http(reactor)
