"""The shortcuts on the FIAS wire path give exactly what the plain code gives.

Each helper here caches something for the second it is in (a timestamp's text, the local
offset, a record's DA/TI): these tests compare them with the plain computation on many
values, in order and out of order, across second, day and DST boundaries.
"""

from __future__ import annotations

import datetime as dt
import functools
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
    from test_fias_link import Rig

    plus1 = dt.timezone(dt.timedelta(hours=1))
    values = _stamps(dt.datetime(2026, 11, 21, 23, 59, 58), 2000, 4_000_000, seed=7)
    values += [v.replace(tzinfo=plus1) for v in values[:50]] + [
        v.replace(fold=1) for v in values[:50]
    ]
    it = iter(values)
    queue = Rig(now=lambda: next(it)).link._postings
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


def test_each_exchange_times_out_exactly_answer_timeout_after_it_was_written() -> None:
    """The posting queue waits for all answer timeouts with one DelayedCall: every inquiry
    and posting must still time out exactly ``posting_timeout`` seconds after it went out
    (not a moment earlier or later, at clock times that are not binary fractions), in the
    order they went out, and an answered one never; once nothing waits, no timer is left."""
    from test_fias_link import Rig, posting, result_of

    from adapters.fias_link import PostingResult

    rig = Rig(pipeline=4, posting_timeout=60.0)
    rig.start_alive()
    for room, guest in ((b"2781", 12345), (b"2782", 12346), (b"2783", 12347)):
        rig.pms.send(b"GI|RN" + room + b"|G#%d|GNGuest, Mr.|" % guest)
    timers_alive = len(rig.clock.getDelayedCalls())  # the link's own (the alive check)
    ended: list[str] = []

    def post(ref: str, guest: int):  # type: ignore[no-untyped-def]
        d = rig.link.post(posting(leg_reference=ref, reservation_number=guest, room=None))
        d.addCallback(lambda outcome: ended.append(f"{ref} {outcome.result.value}") or outcome)
        return d, rig.clock.seconds() + 60.0

    rig.clock.advance(0.1)
    a, a_inquiry_deadline = post("a", 12345)  # P#1001
    rig.clock.advance(0.2)
    b, b_deadline = post("b", 12346)  # P#1002
    rig.clock.advance(0.7)
    c, c_deadline = post("c", 12347)  # P#1003
    rig.clock.advance(0.3)
    rig.pms.send(b"PL|P#1001|WSFOLIOGATE|RN2781|G#12345|GNGuest, Mr.|")  # a posts: P#1004
    a_deadline = rig.clock.seconds() + 60.0
    assert a_inquiry_deadline < b_deadline < c_deadline < a_deadline

    def advance_to(moment: float) -> None:
        rig.clock.advance(moment - 0.0005 - rig.clock.seconds())
        rig.clock.advance(moment - rig.clock.seconds())  # lands exactly: the two are close
        assert rig.clock.seconds() == moment

    advance_to(a_inquiry_deadline)  # a's inquiry was answered: nothing times out
    assert ended == []
    advance_to(b_deadline - 1e-9)
    assert ended == []
    advance_to(b_deadline)
    assert ended == ["b not_sent"]
    rig.pms.send(b"PL|P#1003|WSFOLIOGATE|RN2783|G#12347|GNGuest, Mr.|")  # c waits for the lane
    advance_to(c_deadline)
    assert ended == ["b not_sent"]
    advance_to(a_deadline - 1e-9)
    assert ended == ["b not_sent"]
    advance_to(a_deadline)
    # a's posting is unknown; c's posting (P#1005) goes out now with its own 60 s
    assert ended == ["b not_sent", "a unknown"]
    c_deadline = rig.clock.seconds() + 60.0
    rig.pms.send(b"PA|P#1005|ASOK|RN2783|")
    assert ended == ["b not_sent", "a unknown", "c posted"]
    assert result_of(c).posting_number == 1005
    assert len(rig.clock.getDelayedCalls()) == timers_alive  # no timeout left waiting
    advance_to(c_deadline)
    assert ended == ["b not_sent", "a unknown", "c posted"]
    assert result_of(a).result is PostingResult.UNKNOWN
    assert result_of(b).result is PostingResult.NOT_SENT


def test_many_exchanges_answered_keep_the_timeout_table_small() -> None:
    """Answered exchanges leave stale deadline entries; the table is compacted, so a long
    stream of answered postings (with one call always in flight) does not grow it."""
    from test_fias_link import Rig, posting, result_of

    rig = Rig(pipeline=2, posting_timeout=60.0)
    rig.start_alive()
    rig.pms.send(b"GI|RN2781|G#12345|GNGuest, Mr.|", b"GI|RN2782|G#12346|GNGuest, Mr.|")
    keep = rig.link.inquire_balance(12346)  # never answered: one exchange always waits
    rig.pms.received()
    for n in range(500):
        d = rig.link.post(posting(leg_reference=f"e{n}", room=None))
        (inquiry,) = rig.pms.received()
        number = int(inquiry.split(b"P#")[1].split(b"|")[0])
        rig.pms.send(b"PL|P#%d|WSFOLIOGATE|RN2781|G#12345|GNGuest, Mr.|" % number)
        rig.pms.send(b"PA|P#%d|ASOK|RN2781|" % (number + 1))
        assert result_of(d).posting_number == number + 1
        rig.pms.received()
        rig.clock.advance(0.01)
    assert len(rig.link._postings._deadlines) < 100
    rig.clock.advance(60)
    assert result_of(keep) is None


_POSTING_ATTRS = (
    "posting_number", "room", "reservation_number", "guest_name", "sales_outlet",
    "payment_method", "total_amount", "date", "time", "workstation", "user_id", "clear_text",
)  # fmt: skip
#: Per attribute: a usual value first, then values the codec refuses or the fast path declines.
_POSTING_VALUES: dict[str, list[object]] = {
    "posting_number": [1738, 99999999, 0, 100000000, -1, None, "5", True, 1.0],
    "room": ["2781", "", "A" * 11, "Zi|mmer", "Zimmer\x02", "Zä", "中", None, 5],
    "reservation_number": [12345, 0, -5, 10**9, None, True],
    "guest_name": ["Guest, Mr.", "Ünal", "x" * 60, "a\x7fb", "中", None, ""],
    "sales_outlet": [20, None, 0, 99999, 100000, -1],
    "payment_method": ["ROOM", "OJ", None, "", "x" * 30],
    "total_amount": [5000, -5000, 0, 10**12, None, 5.0],
    "date": [
        dt.date(2026, 11, 21),
        dt.date(1949, 1, 1),
        dt.date(2100, 1, 1),
        None,
        dt.datetime(2026, 1, 1),
    ],  # fmt: skip
    "time": [dt.time(10, 4, 5), dt.time(0, 0), None, dt.time(1, 2, 3, 4)],
    "workstation": ["FOLIOGATE", "x" * 17, None, "W S"],
    "user_id": ["ELI", None, "é", ""],
    "clear_text": ["INV 1", None, "x" * 50, "a|b", "tab\tx"],
}


def _result(call):  # type: ignore[no-untyped-def]
    try:
        return ("frame", call())
    except Exception as exc:  # the same exception type and text
        return (type(exc).__name__, str(exc))


@pytest.mark.parametrize("encoding", ["cp1252", "utf-8", "latin-1", "shift_jis", "no-such"])
def test_message_encoder_gives_the_frame_or_error_encode_gives(encoding: str) -> None:
    """message_encoder(PostingRequest, attrs) called with values returns what encode() of the
    PostingRequest with those values returns, or raises the same error, for usual values and
    for every kind of value the codec refuses (length, format, framing characters, code
    page), and for code pages FIAS cannot use."""
    from protocols.fias import message_encoder

    encoder = message_encoder(PostingRequest, _POSTING_ATTRS, encoding)
    rng = random.Random(encoding)
    frames = errors = 0
    for _ in range(2000):
        values = {
            attr: rng.choice(choices) if rng.random() < 0.2 else choices[0]
            for attr, choices in _POSTING_VALUES.items()
        }
        message = functools.partial(PostingRequest, **values)
        expected = _result(lambda: encode(message(), encoding))  # noqa: B023
        got = _result(functools.partial(encoder, *(values[attr] for attr in _POSTING_ATTRS)))
        assert got == expected, values
        frames, errors = frames + (got[0] == "frame"), errors + (got[0] != "frame")
    if encoding in ("cp1252", "utf-8", "latin-1"):
        assert frames > 200 and errors > 200


def test_message_encoder_refuses_unknown_or_sent_default_attributes() -> None:
    """Only attributes of the class, each once; the ones left out must default to nothing."""
    from protocols.fias import LinkRecord, Record, message_encoder

    with pytest.raises(ValueError, match="not distinct attributes"):
        message_encoder(PostingRequest, ("posting_number", "no_such"))
    with pytest.raises(ValueError, match="not distinct attributes"):
        message_encoder(PostingRequest, ("posting_number", "posting_number"))
    with pytest.raises(TypeError):
        message_encoder(Record, ("fields",))  # type: ignore[arg-type]
    # LinkRecord's attributes have no silent defaults: all must be given.
    encoder = message_encoder(LinkRecord, ("record_id", "field_ids"))
    assert encoder("PR", ("P#", "WS")) == encode(LinkRecord(record_id="PR", field_ids=("P#", "WS")))
    # A mandatory field left out: every call builds the message, which fails as it would.
    missing = message_encoder(PostingRequest, ("posting_number", "workstation"))
    with pytest.raises(TypeError, match="payment_method"):
        missing(1, "WS")


def _frames_of(framer_output: list) -> list:  # type: ignore[type-arg]
    return [(type(item).__name__, getattr(item, "reason", None), bytes(getattr(item, "raw", item)))
            for item in framer_output]  # fmt: skip


def test_framer_whole_frames_chunk_gives_what_byte_by_byte_feeding_gives() -> None:
    """Framer.feed splits a chunk of whole frames at C speed: for random streams of frames,
    empty and oversize frames, stray STX/ETX and noise, cut at random places (often exactly
    between frames), the payloads and errors equal those of feeding one byte at a time."""
    from protocols.fias import Framer

    rng = random.Random(11)
    pieces = [b"\x02PA|P#%d|ASOK|\x03", b"\x02PL|P#%d|RN1|G#2|GNx|\x03", b"\x02\x03", b"\x03",
              b"\x02", b"noise%d", b"\x02" + b"x" * 40 + b"\x03", b"\x02LS|\x03\x17"]  # fmt: skip
    for _ in range(400):
        stream = b"".join(
            (piece % rng.randrange(99) if b"%d" in piece else piece)
            for piece in rng.choices(
                pieces, weights=[8, 8, 1, 1, 1, 1, 1, 1], k=rng.randrange(1, 12)
            )
        )
        one_by_one = Framer(max_length=30)
        expected = [item for i in range(len(stream)) for item in one_by_one.feed(stream[i : i + 1])]
        chunked = Framer(max_length=30)
        got, start = [], 0
        while start < len(stream):
            end = min(len(stream), start + rng.choice([1, 5, 17, 40, 200]))
            if rng.random() < 0.5:  # cut right after an ETX when there is one
                etx = stream.find(b"\x03", start, end)
                end = etx + 1 if etx != -1 else end
            got += chunked.feed(stream[start:end])
            start = end
        assert _frames_of(got) == _frames_of(expected), stream
        assert _frames_of(chunked.flush()) == _frames_of(one_by_one.flush())


def test_posting_list_guests_decode_as_their_class_builds_them() -> None:
    """The PL fast path builds its guests without PostingListGuest.__init__: they must equal
    (and compare, hash-free, repr and vars alike) those the reference decoder builds."""
    from protocols.fias import decode
    from protocols.fias.codec import decode_reference

    for payload in (
        b"PL|P#1001|WSFOLIOGATE|RN2781|G#12345|GNGuest, Mr.|",
        b"PL|P#1001|RN2781|G#12345|GNGuest, Mr.|BA-700|",
        b"PL|P#7|BA100|RN1|G#1|GNa|GA261121|GD261122|RN1|G#2|GNb|BA5|",
    ):
        fast, reference = decode(payload), decode_reference(payload)
        assert fast == reference and repr(fast) == repr(reference)
        for mine, theirs in zip(fast.guests, reference.guests, strict=True):  # type: ignore[union-attr]
            assert list(vars(mine).items()) == list(vars(theirs).items())
