"""The benchmarks' own arithmetic and HTTP reading (bench/harness.py): the figures the README
reports come from here, so a wrong parse or rate would misreport them."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

from harness import LoadError, best_segment_rate, parse_response  # noqa: E402

CHUNKED = (
    b"HTTP/1.1 202 Accepted\r\nTransfer-Encoding: chunked\r\nContent-Type: application/json\r\n"
    b"\r\n5\r\n{\"a\":\r\n3\r\n 1}\r\n0\r\n\r\n"
)


def test_a_chunked_answer_is_read_whole_however_the_bytes_arrive():
    for cut in range(len(CHUNKED)):
        assert parse_response(CHUNKED[:cut], eof=False) is None, cut
    assert parse_response(CHUNKED, eof=False) == (202, b'{"a": 1}', True, len(CHUNKED))


def test_content_length_keep_alive_and_what_follows_on_the_connection():
    first = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
    second = b"HTTP/1.1 409 Conflict\r\nConnection: close\r\nContent-Length: 1\r\n\r\nx"
    assert parse_response(first + second, eof=False) == (200, b"ok", True, len(first))
    assert parse_response(second, eof=False) == (409, b"x", False, len(second))
    interim = b"HTTP/1.1 100 Continue\r\n\r\n"
    assert parse_response(interim + first, eof=False) == (200, b"ok", True, len(interim + first))


def test_a_connection_that_ends_mid_answer_is_an_error_not_a_short_body():
    with pytest.raises(LoadError, match="closed in a response"):
        parse_response(b"HTTP/1.1 202 Accepted\r\nContent-Length: 10\r\n\r\nabc", eof=True)
    with pytest.raises(LoadError, match="not an HTTP/1.x status line"):
        parse_response(b"SSH-2.0-OpenSSH\r\n\r\n", eof=False)
    to_close = b"HTTP/1.0 200 OK\r\n\r\nall of it"  # no length: the body ends with the connection
    assert parse_response(to_close, eof=False) is None
    assert parse_response(to_close, eof=True) == (200, b"all of it", False, len(to_close))


def test_the_bare_rate_is_the_fastest_third():
    # 30 items: the first ten take 1 s, the next ten 0.5 s, the last ten 2 s.
    marks = [0.0]
    for step in [0.1] * 10 + [0.05] * 10 + [0.2] * 10:
        marks.append(marks[-1] + step)
    assert best_segment_rate(marks, 30) == pytest.approx(20.0)
    assert best_segment_rate(marks[:3], 2) == pytest.approx(10.0)  # fewer items than thirds
