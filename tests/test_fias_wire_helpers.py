"""The shortcuts on the FIAS wire path give exactly what the plain code gives.

Each helper here caches something for the second it is in (a timestamp's text, the local
offset, a record's DA/TI): these tests compare them with the plain computation on many
values, in order and out of order, across second, day and DST boundaries.
"""

from __future__ import annotations

import datetime as dt
import random
import time
from collections.abc import Iterator

import pytest

from adapters.fias_link import LocalClock
from adapters.fias_postings import _fias_time
from adapters.journal import _ts
from protocols.fias import PostingRequest, encode
from protocols.fias.codec import encode_reference

UTC = dt.UTC


def _stamps(start: dt.datetime, count: int, spread_us: int, seed: int) -> list[dt.datetime]:
    """``count`` times within ``spread_us`` microseconds of ``start``: sorted runs (as a clock
    gives them), then the same shuffled."""
    rng = random.Random(seed)
    values = sorted(
        start + dt.timedelta(microseconds=rng.randrange(spread_us)) for _ in range(count)
    )
    shuffled = values[:]
    rng.shuffle(shuffled)
    return values + shuffled + [start, start, start + dt.timedelta(microseconds=999_999)]


def test_journal_timestamp_text_is_isoformat_in_utc_to_the_microsecond() -> None:
    """_ts caches the text of the current second: it must equal isoformat for every value,
    including the first and last microsecond of a second and values from other seconds."""
    for start in (
        dt.datetime(2026, 11, 21, 23, 59, 58, tzinfo=UTC),
        dt.datetime(1, 1, 1, tzinfo=UTC),
        dt.datetime(9999, 12, 31, 23, 59, 57, tzinfo=UTC),
    ):
        for value in _stamps(start, 3000, 3_000_000, seed=start.year):
            assert _ts(value) == value.isoformat(timespec="microseconds")


def test_journal_timestamp_of_other_zones_is_converted_and_naive_refused() -> None:
    """Aware times of other zones are stored in UTC as before; naive ones are refused even
    right after a UTC time of the same wall second was cached."""
    utc = dt.datetime(2026, 6, 1, 12, 0, 0, 5, tzinfo=UTC)
    assert _ts(utc) == "2026-06-01T12:00:00.000005+00:00"
    paris = dt.datetime(2026, 6, 1, 14, 0, 0, 7, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    assert _ts(paris) == "2026-06-01T12:00:00.000007+00:00"
    assert _ts(utc.replace(microsecond=0)) == "2026-06-01T12:00:00.000000+00:00"
    with pytest.raises(ValueError, match="timezone-aware"):
        _ts(utc.replace(tzinfo=None))


def _replay(values: list[dt.datetime]) -> LocalClock:
    it: Iterator[dt.datetime] = iter(values)
    return LocalClock(lambda: next(it))


@pytest.mark.parametrize("zone", ["Europe/London", "Australia/Lord_Howe", "America/St_Johns"])
def test_local_clock_equals_astimezone_across_dst_changes(
    zone: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """LocalClock reuses the local offset within one UTC second: the result must equal
    ``astimezone().replace(tzinfo=None)`` (fold included) around the zone's DST changes of
    2026 (Lord Howe's is half an hour), in order and out of order."""
    if not hasattr(time, "tzset"):
        pytest.skip("no time.tzset on this platform")
    monkeypatch.setenv("TZ", zone)
    time.tzset()
    try:
        hours = [dt.datetime(2026, 1, 1, tzinfo=UTC) + dt.timedelta(hours=h) for h in range(8760)]
        changes = [
            later
            for earlier, later in zip(hours, hours[1:], strict=False)
            if earlier.astimezone().utcoffset() != later.astimezone().utcoffset()
        ]
        assert len(changes) == 2  # the zone has DST in 2026
        values: list[dt.datetime] = []
        for n, start in enumerate(changes + hours[::500]):
            values += _stamps(start - dt.timedelta(seconds=2), 400, 4_000_000, seed=n)
        clock = _replay(values)
        for value in values:
            got, expected = clock(), value.astimezone().replace(tzinfo=None)
            assert (got, got.fold, got.tzinfo) == (expected, expected.fold, None), value
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()


def test_local_clock_converts_non_utc_values_as_before() -> None:
    """A clock that answers in another zone (or naive local time) is converted each time."""
    plus2 = dt.timezone(dt.timedelta(hours=2))
    values = [
        dt.datetime(2026, 1, 1, 12, 0, 0, 1, tzinfo=UTC),
        dt.datetime(2026, 1, 1, 14, 0, 0, 2, tzinfo=plus2),
        dt.datetime(2026, 1, 1, 12, 0, 0, 3),
        dt.datetime(2026, 1, 1, 12, 0, 0, 4, tzinfo=UTC),
    ]
    clock = _replay(values)
    for value in values:
        assert clock() == value.astimezone().replace(tzinfo=None)


def test_posting_stamp_gives_the_date_and_second_of_each_now() -> None:
    """PostingQueue._stamp returns DA/TI of now() (cached per second): equal to the date and
    the time without microseconds, also when now() jumps back, changes day or zone."""
    from twisted.internet.task import Clock

    from adapters.fias_postings import PostingQueue

    plus1 = dt.timezone(dt.timedelta(hours=1))
    values = _stamps(dt.datetime(2026, 11, 21, 23, 59, 58), 2000, 4_000_000, seed=7)
    values += [v.replace(tzinfo=plus1) for v in values[:50]] + [
        v.replace(fold=1) for v in values[:50]
    ]
    it = iter(values)
    queue = PostingQueue(
        object(),  # type: ignore[arg-type]  # _stamp needs no channel
        clock=Clock(),
        now=lambda: next(it),
        next_posting_number=lambda: 1,
        workstation="WS",
    )
    for value in values:
        date, tm = queue._stamp()
        assert (date, tm) == (value.date(), _fias_time(value))
        assert tm.fold == value.fold and tm.tzinfo is None


def test_encoder_date_and_time_text_follow_each_value() -> None:
    """The codec formats the DA/TI objects it saw last only once: records stamped with the
    same objects, then with others, encode as the reference encoder does."""
    stamps = [(dt.date(2026, 11, 21), dt.time(10, 4, 5)), (dt.date(2027, 1, 2), dt.time(0, 0, 0))]
    for date, tm in stamps + stamps[::-1] + stamps:
        message = PostingRequest(
            posting_number=7, workstation="WS1", payment_method="ROOM", inquiry="101",
            date=date, time=tm,
        )  # fmt: skip
        assert encode(message) == encode_reference(message)
    # A date out of the FIAS range still takes the reference path (and its error).
    with pytest.raises(ValueError):
        encode(PostingRequest(posting_number=7, workstation="W", payment_method="R",
                              date=dt.date(1949, 1, 1)))  # fmt: skip
