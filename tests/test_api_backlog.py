"""A burst of new connections to the ingest API is queued by the kernel, not dropped.

Payment platforms deliver webhooks over many connections at once. With Twisted's default
accept queue (50), connections beyond it while the reactor was busy had their SYNs dropped and
waited a second for the retransmission (bench: 96 connections at once, p99 of the 202 1,011 ms).
The gateway's listening sockets get a queue of :data:`adapters.api.DEFAULT_BACKLOG` unless
the endpoint string names one.
"""

from __future__ import annotations

import doctest
import select
import socket
import time

import e2e_helpers
import pytest_twisted

import adapters.api
from adapters.api import DEFAULT_BACKLOG

BURST = 300  # well over Twisted's default of 50, well under ours


def test_endpoint_strings_get_the_default_backlog_unless_they_name_one():
    finder = doctest.DocTestFinder()
    runner = doctest.DocTestRunner()
    for name in ("with_default_backlog", "loopback_by_default"):
        for test in finder.find(getattr(adapters.api, name), name):
            runner.run(test)
    assert runner.tries >= 6 and runner.failures == 0
    assert DEFAULT_BACKLOG > BURST


@pytest_twisted.inlineCallbacks
def test_a_burst_of_new_connections_completes_while_the_reactor_is_busy(tmp_path):
    """BURST connections opened while the gateway's reactor cannot accept (this test holds
    it) all complete their handshake: the kernel's accept queue holds them."""
    stack = yield e2e_helpers.start_fias_stack(tmp_path, "GRAND-LONDON", lambda config: config)
    sockets: list[socket.socket] = []
    try:
        port = stack.gateway.api_port.getHost().port
        for _ in range(BURST):
            sock = socket.socket()
            sock.setblocking(False)
            sock.connect_ex(("127.0.0.1", port))
            sockets.append(sock)
        pending = set(sockets)
        deadline = time.monotonic() + 3.0  # a dropped SYN is retried after 1 s, then 3 s
        while pending and time.monotonic() < deadline:
            _, writable, _ = select.select([], list(pending), [], 0.05)
            for sock in writable:
                assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0
                pending.discard(sock)
        assert len(pending) == 0, f"{len(pending)} of {BURST} connections not established"
    finally:
        for sock in sockets:
            sock.close()
        yield stack.stop()
