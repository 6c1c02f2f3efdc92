"""The ingest path's shortcuts store and answer exactly what the plain way did.

The group commit (``Journal.flush``) builds the legs it answers with from what it inserted
instead of reading them back, and takes each event's and leg's ``arrival`` from the previous
one of the same transaction instead of asking the tables; the card-data check of a stored
body finds its words in one pass. These tests compare each shortcut with the plain way:
a batch written by one group commit against the same events recorded one at a time
(``record_event``: a transaction each, arrivals read from the tables), table by table, and
the legs each answer carries against the legs read back from the file.

Real SQLite files in ``tmp_path``; the flush runs on a ``task.Clock``.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.internet import task
from twisted.internet.address import IPv4Address
from twisted.internet.error import ConnectionDone
from twisted.internet.testing import StringTransport
from twisted.logger import globalLogPublisher
from twisted.python.failure import Failure
from twisted.web import http, server

from adapters.api import (
    _FOLLOWS_TWISTED_PROCESS,
    _JSON,
    _LEG_KEYS,
    _http_date,
    _IngestAnswer,
    make_site,
    sign,
)
from adapters.domain import (
    Booking,
    EventType,
    LegState,
    Payment,
    PaymentEvent,
    PaymentKind,
    PlannedLeg,
)
from adapters.events import (
    EventInvalid,
    Problem,
    _DuplicateKey,
    _parse_datetime,
    canonical_body,
    decode_event_json,
    parse_valid_event,
    validate_event,
)
from adapters.journal import (
    _CARD_WORDS,
    _HISTORY_ROWS_PER_INSERT,
    IngestStatus,
    Journal,
    _surely_clean,
)

T0 = dt.datetime(2026, 11, 21, 10, 4, 5, 123456, tzinfo=dt.UTC)


@dataclass(frozen=True)
class Plan:
    """An IntakePlan-like plan (the journal reads plans by attribute)."""

    outcome: str
    legs: tuple[Any, ...] = ()
    reason: str = ""
    target: str = "reservation"
    by_hand: tuple[Any, ...] = ()
    hold: str | None = None
    hold_reason: str | None = None


class AmountInt(int):
    """An int subclass: SQLite hands back a plain int, so the answer must too."""


def event(
    n: int, *, amount: int = 5000, transaction: str | None = None
) -> tuple[PaymentEvent, bytes]:
    body = {"event_id": f"evt_{n}", "n": n, "amount": amount}
    return (
        PaymentEvent(
            event_id=f"evt_{n}",
            type=EventType.PAYMENT_SUCCEEDED,
            property="GRAND-LONDON",
            occurred_at=T0,
            payment=Payment(
                PaymentKind.BALANCE, amount, "GBP", transaction or f"pi_{n}", "onejourney", "paid"
            ),
            booking=Booking(str(100000 + n)),
        ),
        json.dumps(body, sort_keys=True, separators=(",", ":")).encode(),
    )


def leg(index: int, amount: int = 5000, **kw: Any) -> PlannedLeg:
    return PlannedLeg(index, kw.pop("code", None), "ONEJOURNEY", amount, "GBP", **kw)


def submissions() -> list[tuple[PaymentEvent, bytes, Any]]:
    """A batch with every kind of plan: one leg, legs planned out of index order, held for
    approval, an exception with legs to post by hand, not posted, a repeat, a conflict, a
    second payment of one transaction (flagged and held for review), a plan that fails
    (legs without a confirmation number), and one of unusual value types."""
    no_booking = PaymentEvent("evt_bad", EventType.PAYMENT_SUCCEEDED, "GRAND-LONDON", T0)
    repeat, conflict = event(1), event(1, amount=1)
    return [
        (*event(1), [leg(0)]),
        (*event(2), [leg(2, 300, code="SPA"), leg(0, 100), leg(1, 200, description="x")]),
        (*event(3), Plan("post", (leg(0),), hold="approval", hold_reason="held for approval")),
        (no_booking, b'{"bad":1}', [leg(0)]),
        (*event(4), Plan("exception", reason="post by hand", by_hand=(leg(0, -5000),))),
        (*event(5), Plan("not_posted", reason="pending")),
        (*repeat, [leg(0)]),
        (*conflict, [leg(0)]),
        (*event(6, transaction="pi_1"), [leg(0)]),
        (*event(7, transaction="pi_1", amount=7), [leg(0, 7)]),
        (*event(8), [leg(0, AmountInt(5000), needs_in_house=1)]),  # type: ignore[arg-type]
        (*event(9), []),
        (*event(10), [leg(0)]),
    ]


TABLES = {
    "events": "SELECT * FROM events ORDER BY arrival",
    "legs": "SELECT * FROM legs ORDER BY leg_id",
    "history": "SELECT * FROM history ORDER BY id",
    "flags": "SELECT * FROM flags ORDER BY id",
}


def dump(path: str) -> dict[str, list[tuple[Any, ...]]]:
    conn = sqlite3.connect(path)
    try:
        return {name: conn.execute(sql).fetchall() for name, sql in TABLES.items()}
    finally:
        conn.close()


def record_one_by_one(path: str) -> list[Any]:
    journal = Journal(path, reactor=task.Clock(), now=lambda: T0)
    outcomes: list[Any] = []
    for ev, body, plan in submissions():
        try:
            outcomes.append(journal.record_event(ev, body, plan))
        except ValueError as exc:
            outcomes.append(type(exc))
    journal.close()
    return outcomes


def group_commit(path: str, prefill: int = 0) -> tuple[list[Any], Journal]:
    clock = task.Clock()
    journal = Journal(path, reactor=clock, now=lambda: T0)
    for n in range(prefill):  # events and legs already in the file before the batch
        journal.record_event(*event(1000 + n), [leg(0), leg(1)])
    outcomes: list[Any] = []
    for ev, body, plan in submissions():
        journal.submit_event(ev, body, plan).addCallbacks(
            outcomes.append, lambda f: outcomes.append(f.type)
        )
    assert journal.flush() == len(submissions())  # one transaction for the whole batch
    return outcomes, journal


def test_a_group_commit_stores_the_same_rows_as_recording_each_event_alone(tmp_path):
    alone, grouped = str(tmp_path / "alone.sqlite"), str(tmp_path / "grouped.sqlite")
    expected = record_one_by_one(alone)
    outcomes, journal = group_commit(grouped)
    journal.close()

    assert dump(grouped) == dump(alone)
    assert outcomes == expected
    assert [o if isinstance(o, type) else o.status for o in outcomes] == [
        IngestStatus.ACCEPTED, IngestStatus.ACCEPTED, IngestStatus.ACCEPTED, ValueError,
        IngestStatus.ACCEPTED, IngestStatus.ACCEPTED, IngestStatus.DUPLICATE,
        IngestStatus.CONFLICT, IngestStatus.ACCEPTED, IngestStatus.ACCEPTED,
        IngestStatus.ACCEPTED, IngestStatus.ACCEPTED, IngestStatus.ACCEPTED,
    ]  # fmt: skip


def test_arrivals_continue_from_the_file_and_leave_no_gap_for_a_failed_submission(tmp_path):
    path = str(tmp_path / "journal.sqlite")
    _, journal = group_commit(path, prefill=2)
    journal.close()
    tables = dump(path)
    conn = sqlite3.connect(path)
    event_arrivals = [row[0] for row in conn.execute("SELECT arrival FROM events ORDER BY rowid")]
    leg_arrivals = [row[0] for row in conn.execute("SELECT arrival FROM legs ORDER BY leg_id")]
    conn.close()
    assert event_arrivals == list(range(1, len(event_arrivals) + 1))
    assert leg_arrivals == list(range(1, len(leg_arrivals) + 1))
    assert len(tables["events"]) == 2 + 10  # the prefill and the batch's new events


def test_the_legs_an_ingest_answers_with_are_the_legs_read_back(tmp_path):
    outcomes, journal = group_commit(str(tmp_path / "journal.sqlite"), prefill=1)
    try:
        answered = [o for o in outcomes if not isinstance(o, type)]
        assert any(len(o.legs) == 3 for o in answered)
        for outcome in answered:
            if outcome.status is IngestStatus.CONFLICT:
                assert outcome.legs == ()
                continue
            record = journal.event(outcome.event_id)
            assert record is not None
            assert outcome.legs == record.legs
            for built, read in zip(outcome.legs, record.legs, strict=True):
                # Same values and the same types (an int subclass answers as a plain int).
                assert [type(v) for v in vars(built.plan).values()] == [
                    type(v) for v in vars(read.plan).values()
                ]
                assert type(built.created_at) is type(read.created_at)
                assert built.created_at.tzinfo == read.created_at.tzinfo  # type: ignore[union-attr]
    finally:
        journal.close()


def _any_card_word(squashed: bytes) -> bool:
    return any(word in squashed for word in _CARD_WORDS)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.one_of(st.sampled_from([w.decode() for w in _CARD_WORDS]), st.text("abcdnrptu4l ")),
        max_size=8,
    )
)
def test_the_card_word_check_finds_what_looking_for_each_word_finds(parts):
    body = json.dumps({"k": "".join(parts), "".join(reversed(parts)): 1}).encode()
    squashed = body.lower().translate(None, bytes(b for b in range(256) if not chr(b).isalnum()
                                                  or not chr(b).isascii()))  # fmt: skip
    assert _surely_clean(body) == (not _any_card_word(squashed))


@pytest.mark.parametrize("word", [w.decode() for w in _CARD_WORDS])
def test_every_card_word_makes_a_body_worth_a_proper_look(word):
    assert not _surely_clean(json.dumps({"note": f"my {word.upper()} here"}).encode())
    assert _surely_clean(b'{"note":"nothing here"}')


# -- decoding, the canonical body, parsing -----------------------------------------------------


def _plain_decode(body: bytes) -> Any:
    """decode_event_json as it was written first: json.loads with the hooks on every call."""

    def pairs_hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for key, value in pairs:
            if key in result:
                raise _DuplicateKey(key)
            result[key] = value
        return result

    def constant(name: str) -> None:
        raise ValueError(f"{name} is not a JSON number")

    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise EventInvalid([Problem("", f"not UTF-8 text (byte {exc.start})")]) from None
    try:
        return json.loads(text, object_pairs_hook=pairs_hook, parse_constant=constant)
    except _DuplicateKey as exc:
        raise EventInvalid([Problem("", f"key {exc.key} appears twice in one object")]) from None
    except ValueError as exc:
        raise EventInvalid([Problem("", f"not valid JSON: {exc}")]) from None


def _outcome(decode: Any, body: bytes) -> Any:
    try:
        return ("ok", decode(body))
    except EventInvalid as exc:
        return ("invalid", [str(p) for p in exc.problems])


@pytest.mark.parametrize(
    "body",
    [
        b'{"a": 1}',
        "\ufeff{}".encode(),
        b'{"a": 1, "b": 2, "a": 3, "b": 4}',
        b'{"x": {"k": 1, "k": 1}, "y": [{"z": 1}, {"z": 2, "z": 3}]}',
        b'{"4242424242424242": 1, "4242424242424242": 2}',
        b'{"a": NaN}',
        b'{"a": -Infinity}',
        b"\xff{}",
        b'{"a": }',
        b"[1, 2]",
        b'"text"',
        b"",
        b'{"a": 1} x',
    ],
)
def test_decoding_answers_as_json_loads_with_the_hooks_did(body):
    assert _outcome(decode_event_json, body) == _outcome(_plain_decode, body)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(st.characters(blacklist_categories=("Cs",))),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=5), children, max_size=4),
    max_leaves=12,
)


@settings(max_examples=200, deadline=None)
@given(json_values)
def test_the_canonical_body_is_what_json_dumps_made_and_decodes_the_same(value):
    expected = json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")
    assert canonical_body(value) == expected
    assert _outcome(decode_event_json, expected) == _outcome(_plain_decode, expected)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from("abc"), st.integers(0, 9)), max_size=6))
def test_a_repeated_key_is_named_as_before_wherever_it_repeats(pairs):
    body = ("{" + ", ".join(f'"{k}": {v}' for k, v in pairs) + "}").encode()
    assert _outcome(decode_event_json, body) == _outcome(_plain_decode, body)


def test_parsing_after_validating_gives_the_event_parsing_alone_gives():
    obj = {
        "event_id": "evt_1", "type": "payment.succeeded", "property": "GRAND-LONDON",
        "occurred_at": "2026-11-21T10:04:05.5+01:30",
        "payment": {"kind": "deposit", "amount": 5000, "currency": "GBP",
                    "transaction_id": "pi_1", "method": "onejourney", "status": "paid",
                    "card_type": "VISA", "card_last4": "4242"},
        "booking": {"confirmation_number": "123456", "guest_name": None,
                    "arrival": "2026-11-27", "departure": "2026-11-29"},
        "items": [{"code": "SPA", "amount": 5000}],
    }  # fmt: skip
    _parse_datetime.cache_clear()
    alone = parse_valid_event(obj)
    assert validate_event(obj) == []
    assert parse_valid_event(obj) == alone
    assert alone.occurred_at == dt.datetime(
        2026, 11, 21, 10, 4, 5, 500000, tzinfo=dt.timezone(dt.timedelta(hours=1, minutes=30))
    )
    assert alone.type is EventType.PAYMENT_SUCCEEDED
    assert alone.payment is not None and alone.payment.kind is PaymentKind.DEPOSIT
    assert alone.items[0].description == ""
    assert parse_valid_event({**obj, "items": []}).items == ()
    assert _parse_datetime.cache_info().hits >= 1
    with pytest.raises(ValueError):
        _parse_datetime("2026-11-21T10:04:05+24:00")


# -- the HTTP side: the ingest answer's text, the Date header, a caller gone -------------------


answer_text = st.one_of(st.none(), st.text(st.characters(blacklist_categories=("Cs",))))
answer_int = st.one_of(st.none(), st.integers(-(2**70), 2**70))


@st.composite
def ingest_answers(draw: Any) -> _IngestAnswer:
    def leg() -> dict[str, Any]:
        values = {key: draw(answer_text) for key in _LEG_KEYS}
        for key in ("leg_id", "leg_index", "amount", "attempts", "posting_number"):
            values[key] = draw(answer_int)
        values["needs_in_house"] = draw(st.booleans())
        values["notes"] = draw(st.lists(st.text(), max_size=3))
        return values

    return _IngestAnswer(
        event_id=draw(answer_text), status=draw(answer_text),
        event_status=draw(answer_text), outcome=draw(answer_text),
        legs=[leg() for _ in range(draw(st.integers(0, 3)))],
    )  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(ingest_answers())
def test_the_ingest_answer_is_written_as_the_json_encoder_writes_it(answer):
    assert answer.text() == _JSON.encode(answer)


@pytest.mark.parametrize(
    "change",
    [
        lambda a: a.update(extra=1),  # a key the template does not know
        lambda a: a.update(status=LegState.PLANNED),  # a str subclass
        lambda a: a["legs"][0].update(amount=1.5),  # a float
        lambda a: a["legs"][0].update(notes=("a",)),  # a tuple
        lambda a: a["legs"].append({"leg_id": 1}),  # another leg shape
    ],
)
def test_an_ingest_answer_the_template_does_not_fit_is_left_to_the_encoder(change):
    leg = dict.fromkeys(_LEG_KEYS)
    leg["notes"] = []
    answer = _IngestAnswer(event_id="e", status="accepted", event_status=None, outcome=None,
                           legs=[leg])  # fmt: skip
    assert answer.text() == _JSON.encode(answer)
    change(answer)
    assert answer.text() is None


def test_the_date_header_is_the_one_twisted_writes_for_this_second():
    assert _FOLLOWS_TWISTED_PROCESS  # else Twisted's Request.process changed: look again
    before = http.datetimeToString()
    made = _http_date()
    after = http.datetimeToString()
    assert made in (before, after)


SIGNING_SECRET = b"whsec_fastpaths"


def _site(tmp_path):
    from adapters.config import load_config

    text = (Path(__file__).resolve().parents[1] / "examples" / "gateway.toml").read_text()
    text = text.replace('journal = "../var/foliogate.sqlite"',
                        f'journal = "{tmp_path / "journal.sqlite"}"')  # fmt: skip
    (tmp_path / "gateway.toml").write_text(text)
    config = load_config(tmp_path / "gateway.toml")
    clock = task.Clock()
    clock.advance(1_800_000_000)
    journal = Journal(str(tmp_path / "journal.sqlite"), reactor=clock, now=lambda: T0)
    site = make_site(journal, config, clock, None,
                     environ={"FOLIOGATE_SECRET_PAYMENTS": SIGNING_SECRET.decode()})  # fmt: skip
    return clock, journal, site


def _post(event_id: str) -> bytes:
    body = json.dumps({
        "event_id": event_id, "type": "payment.succeeded", "property": "GRAND-LONDON",
        "occurred_at": "2026-11-27T10:04:05Z",
        "payment": {"kind": "balance", "amount": 100, "currency": "GBP",
                    "transaction_id": f"pi_{event_id}", "method": "onejourney",
                    "status": "Payment Success"},
        "booking": {"confirmation_number": "123456"},
    }).encode()  # fmt: skip
    return (
        b"POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Foliogate-Signature: " + sign(SIGNING_SECRET, body, 1_800_000_000).encode()
        + b"\r\nContent-Length: %d\r\n\r\n" % len(body) + body
    )


def _channel(site):
    channel = site.buildProtocol(IPv4Address("TCP", "127.0.0.1", 40000))
    transport = StringTransport()
    channel.makeConnection(transport)
    return channel, transport


def test_an_event_is_answered_202_with_twisteds_headers_after_its_commit(tmp_path):
    clock, journal, site = _site(tmp_path)
    try:
        channel, transport = _channel(site)
        channel.dataReceived(_post("evt_http"))
        assert transport.value() == b""  # nothing before the commit
        clock.advance(0)
        head, _, body = transport.value().partition(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        assert lines[0] == b"HTTP/1.1 202 Accepted"
        headers = dict(line.split(b": ", 1) for line in lines[1:])
        assert headers[b"Server"] == server.version
        assert headers[b"Date"] in (http.datetimeToString(), _http_date())
        assert headers[b"Content-Type"] == b"application/json; charset=utf-8"
        assert headers[b"Cache-Control"] == b"no-store"
        record = journal.event("evt_http")
        assert record is not None
        # One plain body of the length announced (not chunked), as a synchronous answer.
        assert b"Transfer-Encoding" not in headers
        assert int(headers[b"Content-Length"]) == len(body)
        answer = json.loads(body)
        assert answer["status"] == "accepted"
        assert [leg["leg_id"] for leg in answer["legs"]] == [leg.leg_id for leg in record.legs]
    finally:
        journal.close()


def test_a_caller_gone_before_the_commit_is_not_answered_and_the_event_is_kept(tmp_path):
    clock, journal, site = _site(tmp_path)
    failures: list[Any] = []
    observer = failures.append
    globalLogPublisher.addObserver(observer)
    try:
        channel, transport = _channel(site)
        channel.dataReceived(_post("evt_gone"))
        channel.connectionLost(Failure(ConnectionDone()))
        clock.advance(0)
        assert transport.value() == b""
        assert journal.event("evt_gone") is not None
        assert not [e for e in failures if e.get("log_failure") is not None]
    finally:
        globalLogPublisher.removeObserver(observer)
        journal.close()


def test_an_event_with_more_history_lines_than_one_insert_takes_keeps_them_in_order(tmp_path):
    journal = Journal(str(tmp_path / "journal.sqlite"), reactor=task.Clock(), now=lambda: T0)
    try:
        count = _HISTORY_ROWS_PER_INSERT + 30
        result = journal.record_event(*event(1), [leg(i, 10) for i in range(count)])
        lines = journal._db.execute(
            "SELECT leg_id, to_state, action FROM history ORDER BY id"
        ).fetchall()
    finally:
        journal.close()
    assert lines[0] == (None, None, "event accepted")
    assert lines[1:] == [(leg.leg_id, "planned", "planned") for leg in result.legs]
    assert [leg.leg_id for leg in result.legs] == sorted(leg.leg_id for leg in result.legs)
