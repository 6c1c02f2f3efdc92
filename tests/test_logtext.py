"""The gateway's text log lines are Twisted's classic lines, character for character."""

from __future__ import annotations

import io
import time
from types import SimpleNamespace

import pytest
from twisted.logger import Logger, LogLevel, formatEventAsClassicLogText
from twisted.python.failure import Failure

from adapters.logtext import _ClassicText, text_observer

NOW = 1_795_000_000.25


def event(fmt: object, **fields: object) -> dict[str, object]:
    return {
        "log_format": fmt, "log_time": NOW, "log_level": LogLevel.info,
        "log_namespace": "foliogate.dispatcher", "log_source": None, **fields,
    }  # fmt: skip


def _failure() -> Failure:
    try:
        raise ValueError("boom")
    except ValueError:
        return Failure()


CASES = {
    "plain": event("leg {leg} of {event_id}: {state}", leg="a/0", event_id="a", state="posted"),
    "repr and attribute": event("{who!r} at {where.room}", who="O'Neil",
                                where=SimpleNamespace(room="101")),
    "several lines": event("first\nsecond {n}", n=2),
    "a key missing": event("leg {leg} of {event_id}", leg="a/0"),
    "no level": {**event("x {n}", n=1), "log_level": None},
    "no namespace": {k: v for k, v in event("x {n}", n=1).items() if k != "log_namespace"},
    "a call in the format": event("{f()}", f=lambda: "called"),
    "a failure": event("it failed: {why}", why="boom", log_failure=_failure()),
    "a system": event("x", log_system="GatewaySite,0,127.0.0.1"),
    "no format": {**event(None), "message": ("legacy",), "log_legacy": True},
    "empty": event(""),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_each_line_reads_as_twisteds_classic_text(name):
    assert _ClassicText()(CASES[name]) == formatEventAsClassicLogText(CASES[name])


def test_the_time_prefix_follows_the_clock_across_seconds():
    fmt = _ClassicText()
    for when in (NOW, NOW + 0.5, NOW + 1.0, NOW + 3600.0, NOW + 0.9):
        line = event("n {n}", n=1) | {"log_time": when}
        assert fmt(line) == formatEventAsClassicLogText(line)


def test_the_observer_writes_what_the_gateway_logs():
    stream = io.StringIO()
    log = Logger(namespace="foliogate.api", observer=text_observer(stream))
    before = time.time()
    log.info("event {event_id} for {property}: {status}", event_id="e1", property="P",
             status="accepted")  # fmt: skip
    line = stream.getvalue()
    assert line.endswith(" [foliogate.api#info] event e1 for P: accepted\n")
    assert line[:4] == time.strftime("%Y", time.localtime(before))
