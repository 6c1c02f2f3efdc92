"""The FIAS link client (adapters/fias_link.py): handshake, holds, guests and postings.

Unit tests drive a real ``ClientService`` through an in-memory endpoint (``StringTransport``)
and a ``task.Clock``; the PMS side is literal bytes. One test runs over a real loopback socket.
"""

from __future__ import annotations

import datetime as dt
import itertools

import pytest
import pytest_twisted
from twisted.internet import defer, protocol, task
from twisted.internet.error import ConnectionRefusedError
from twisted.internet.testing import StringTransportWithDisconnection
from twisted.logger import LogLevel, globalLogPublisher

from adapters.fias_link import (
    FiasLink,
    GuestEventKind,
    LinkPosting,
    LinkState,
    LinkStatus,
    PostingResult,
)
from protocols.fias import Framer

NOW = dt.datetime(2026, 11, 21, 10, 4, 5)
STAMP = b"DA261121|TI100405|"

DESCRIPTION = [
    b"LD|DA261121|TI100405|V#0.1.0|IFPO|",
    b"LR|RIPR|FLP#WSPMPIRNG#GNSOTADATIIDCT|",
    b"LR|RIPL|FLP#WSRNG#GNBAGAGDSOIDDATI|",
    b"LR|RIPA|FLP#WSASCTRNG#GNSOIDDATI|",
    b"LR|RIGI|FLRNG#GSGNSFDATI|",
    b"LR|RIGO|FLRNG#GSSFDATI|",
    b"LR|RIGC|FLRNG#GSROGNDATI|",
    b"LR|RINS|FLDATI|",
    b"LR|RINE|FLDATI|",
    b"LA|" + STAMP,
]


@pytest.fixture(autouse=True)
def no_logged_errors():
    """Fail a test that makes Twisted log an error (e.g. ClientService's NoTransition when a
    connection closes while prepareConnection is pending, or a hook that raised)."""
    errors: list = []

    def observe(event):
        if event.get("log_level") in (LogLevel.error, LogLevel.critical) or event.get("isError"):
            errors.append(event)

    globalLogPublisher.addObserver(observe)
    yield errors
    globalLogPublisher.removeObserver(observe)
    assert errors == []


class FakeEndpoint:
    """A client endpoint whose connections are StringTransports (or refusals, on request)."""

    def __init__(self) -> None:
        self.connections: list[tuple[protocol.Protocol, StringTransportWithDisconnection]] = []
        self.refuse = 0

    def connect(self, factory):
        if self.refuse:
            self.refuse -= 1
            return defer.fail(ConnectionRefusedError())
        proto = factory.buildProtocol(None)
        transport = StringTransportWithDisconnection()
        transport.protocol = proto
        proto.makeConnection(transport)
        self.connections.append((proto, transport))
        return defer.succeed(proto)


class Pms:
    """The PMS end of the current fake connection: literal bytes in and out."""

    def __init__(self, endpoint: FakeEndpoint) -> None:
        self.endpoint = endpoint
        self._seen = 0

    @property
    def transport(self) -> StringTransportWithDisconnection:
        return self.endpoint.connections[-1][1]

    def send(self, *payloads: bytes) -> None:
        proto = self.endpoint.connections[-1][0]
        for payload in payloads:
            proto.dataReceived(b"\x02" + payload + b"\x03")

    def received(self) -> list[bytes]:
        """Frames the link wrote on this connection since the last call."""
        frames = Framer().feed(self.transport.value())
        new, self._seen = frames[self._seen :], len(frames)
        return new

    def drop(self) -> None:
        self.transport.loseConnection()


class Rig:
    def __init__(self, **options) -> None:
        self.clock = task.Clock()
        self.endpoint = FakeEndpoint()
        self.pms = Pms(self.endpoint)
        self.statuses: list[LinkStatus] = []
        self.guest_events: list[tuple[GuestEventKind, int, str]] = []
        self.frames: list[tuple[str, bytes, str | None]] = []
        self.written: list[tuple[str, int]] = []
        self.late: list[tuple[str, int, str]] = []
        self.numbers = itertools.count(1001)
        settings = dict(
            workstation="FOLIOGATE",
            next_posting_number=lambda: next(self.numbers),
            clock=self.clock,
            now=lambda: NOW,
            vendor_version="0.1.0",
            jitter=lambda: 0.0,
            on_state_change=self.statuses.append,
            on_guest_event=lambda *event: self.guest_events.append(event),
            on_frame=lambda *frame: self.frames.append(frame),
            on_posting_written=lambda ref, number: self.written.append((ref, number)),
            on_late_answer=lambda ref, num, pa: self.late.append((ref, num, pa.answer_status)),
        )
        settings.update(options)
        self.link = FiasLink(self.endpoint, **settings)

    def start_alive(self) -> None:
        """Connect, let the PMS start the link, and answer the description."""
        self.link.start()
        self.pms.send(b"LS|" + STAMP)
        assert self.pms.received() == DESCRIPTION
        self.pms.send(b"LA|" + STAMP)
        assert self.link.state is LinkState.ALIVE

    def check_in(self, room: bytes, number: int, shared: bool = False) -> None:
        share = b"Y" if shared else b"N"
        number_bytes = str(number).encode()
        self.pms.send(b"GI|RN" + room + b"|G#" + number_bytes + b"|GS" + share + b"|GNGuest|")


def posting(**overrides) -> LinkPosting:
    values = dict(
        leg_reference="evt_1/0",
        reservation_number=12345,
        payment_method="OJ",
        total_amount=5000,
        sales_outlet=20,
    )
    values.update(overrides)
    return LinkPosting(**values)


def fired(d: defer.Deferred) -> list:
    """A list that receives ``d``'s result when it fires."""
    results: list = []
    d.addBoth(results.append)
    return results


def result_of(d: defer.Deferred):
    results: list = []
    d.addBoth(results.append)
    return results[0] if results else None


INQUIRY = b"PR|SO20|WSFOLIOGATE|PI2781|" + STAMP + b"P#1001|PMROOM|"
POSTING = b"PR|SO20|WSFOLIOGATE|RN2781|G#12345|GNGuest, Mr.|TA5000|" + STAMP + b"P#1002|PMOJ|"
PL_ONE = b"PL|P#1001|WSFOLIOGATE|RN2781|G#12345|GNGuest, Mr.|"


# -- handshake -------------------------------------------------------------------------------


def test_link_describes_itself_when_the_pms_sends_ls_and_is_alive_on_la():
    rig = Rig()
    rig.link.start()
    assert rig.link.state is LinkState.CONNECTING
    rig.pms.send(b"LS|" + STAMP)
    assert rig.pms.received() == DESCRIPTION
    assert rig.link.state is LinkState.DESCRIBING
    rig.pms.send(b"LA|" + STAMP)
    assert rig.link.state is LinkState.ALIVE
    assert [s.state for s in rig.statuses] == [
        LinkState.CONNECTING,
        LinkState.DESCRIBING,
        LinkState.ALIVE,
    ]
    assert rig.link.status.can_post


def test_link_sends_ls_itself_after_three_seconds_of_silence():
    rig = Rig()
    rig.link.start()
    rig.clock.advance(2.9)
    assert rig.pms.received() == []
    rig.clock.advance(0.1)
    assert rig.pms.received() == [b"LS|" + STAMP]
    assert rig.link.state is LinkState.CONNECTING
    rig.pms.send(b"LS|" + STAMP)  # the PMS never knew us: it answers LS, we describe
    assert rig.pms.received() == DESCRIPTION
    rig.pms.send(b"LA|" + STAMP)
    assert rig.link.state is LinkState.ALIVE


def test_link_describes_when_the_pms_answers_its_ls_with_la():
    rig = Rig()
    rig.link.start()
    rig.clock.advance(3)
    assert rig.pms.received() == [b"LS|" + STAMP]
    rig.pms.send(b"LA|" + STAMP)
    assert rig.pms.received() == DESCRIPTION
    rig.pms.send(b"LA|" + STAMP)
    assert rig.link.state is LinkState.ALIVE


def test_link_redescribes_on_every_ls_from_the_pms():
    rig = Rig()
    rig.start_alive()
    rig.pms.send(b"LS|" + STAMP)
    assert rig.pms.received() == DESCRIPTION
    assert rig.link.state is LinkState.DESCRIBING
    rig.pms.send(b"LA|" + STAMP)
    assert rig.link.state is LinkState.ALIVE


def test_handshake_without_la_drops_the_connection_and_reconnects_with_growing_backoff():
    rig = Rig(answer_timeout=30.0, initial_delay=1.0, factor=2.0, max_delay=60.0)
    rig.link.start()
    rig.pms.send(b"LS|" + STAMP)
    rig.clock.advance(30)
    assert not rig.pms.transport.connected
    assert rig.link.state is LinkState.DOWN
    # attempt 1 + 1 failed handshake -> 1 * 2**2 = 4 s (jitter 0)
    rig.clock.advance(3.9)
    assert len(rig.endpoint.connections) == 1
    rig.clock.advance(0.1)
    assert len(rig.endpoint.connections) == 2
    assert rig.link.state is LinkState.CONNECTING


def test_refused_connections_back_off_with_the_injected_jitter():
    rig = Rig(initial_delay=1.0, factor=2.0, max_delay=60.0, jitter=lambda: 0.5)
    rig.endpoint.refuse = 2
    rig.link.start()
    assert rig.endpoint.connections == []
    rig.clock.advance(2.4)  # attempt 1: 1 * 2 + 0.5
    assert rig.endpoint.connections == []
    rig.clock.advance(0.1)
    assert rig.endpoint.connections == []  # refused again
    rig.clock.advance(4.5)  # attempt 2: 1 * 4 + 0.5
    assert len(rig.endpoint.connections) == 1


def test_alive_check_sends_ls_every_interval_and_drops_the_link_without_la():
    rig = Rig(alive_interval=300.0, answer_timeout=30.0)
    rig.start_alive()
    rig.clock.advance(299)
    assert rig.pms.received() == []
    rig.clock.advance(1)
    assert rig.pms.received() == [b"LS|" + STAMP]
    rig.pms.send(b"LA|" + STAMP)
    assert rig.link.state is LinkState.ALIVE
    rig.clock.advance(300)
    assert rig.pms.received() == [b"LS|" + STAMP]
    rig.clock.advance(29)
    assert rig.link.state is LinkState.ALIVE
    rig.clock.advance(1)
    assert not rig.pms.transport.connected
    assert rig.link.state is LinkState.DOWN
    rig.clock.advance(1.5)  # attempt 1 after a link that was alive: 1 * 1.5
    assert len(rig.endpoint.connections) == 2


def test_stop_sends_le_waits_for_the_pms_le_then_closes():
    rig = Rig()
    rig.start_alive()
    stopped = fired(rig.link.stop())
    assert rig.pms.received() == [b"LE|" + STAMP]
    assert stopped == []
    assert rig.pms.transport.connected
    rig.pms.send(b"LE|" + STAMP)
    assert stopped == [None]
    assert not rig.pms.transport.connected
    assert rig.link.state is LinkState.DOWN
    rig.clock.advance(3600)
    assert len(rig.endpoint.connections) == 1  # no reconnect after stop


def test_stop_closes_after_two_seconds_without_le():
    rig = Rig()
    rig.start_alive()
    stopped = fired(rig.link.stop())
    rig.clock.advance(1.9)
    assert stopped == []
    rig.clock.advance(0.1)
    assert stopped == [None]
    assert rig.link.state is LinkState.DOWN
    rig.clock.advance(3600)
    assert len(rig.endpoint.connections) == 1


def test_stop_during_the_handshake_closes_without_le():
    rig = Rig()
    rig.link.start()
    stopped = fired(rig.link.stop())
    assert stopped == [None]
    assert rig.pms.received() == []
    assert rig.link.state is LinkState.DOWN
    rig.clock.advance(3600)
    assert len(rig.endpoint.connections) == 1


def test_stop_lets_the_posting_in_flight_finish_before_le():
    rig = Rig()
    rig.start_alive()
    d = rig.link.post(posting(room="2781"))
    rig.pms.send(PL_ONE)
    rig.pms.received()
    queued = rig.link.post(posting(room="2781", leg_reference="evt_2/0"))
    stopped = fired(rig.link.stop())
    assert result_of(queued).result is PostingResult.NOT_SENT  # queued, never started
    assert rig.pms.received() == []  # no LE while the PA is outstanding
    rig.pms.send(b"PA|P#1002|WSFOLIOGATE|ASOK|RN2781|" + STAMP)
    assert result_of(d).result is PostingResult.POSTED
    assert rig.pms.received() == [b"LE|" + STAMP]
    rig.pms.send(b"LE|" + STAMP)
    assert stopped == [None]
    assert result_of(rig.link.post(posting(room="2781"))).result is PostingResult.NOT_SENT


def test_undecodable_frames_reach_the_wire_log_and_the_link_stays_alive():
    rig = Rig()
    rig.start_alive()
    rig.pms.send(b"GI|G#12x|RN101|")  # G# is numeric
    assert rig.frames[-1] == ("in", b"GI|G#12x|RN101|", None)
    assert rig.link.state is LinkState.ALIVE and dict(rig.link.in_house) == {}


def test_le_from_the_pms_is_answered_and_the_link_reconnects():
    rig = Rig()
    rig.start_alive()
    rig.pms.send(b"LE|" + STAMP)
    assert rig.pms.received() == [b"LE|" + STAMP]
    assert rig.link.state is LinkState.DOWN
    rig.clock.advance(1.5)
    assert len(rig.endpoint.connections) == 2


def test_resync_request_waits_for_the_link_and_is_sent_once():
    rig = Rig()
    rig.link.request_resync()
    rig.start_alive()
    assert rig.pms.received() == [b"DR|" + STAMP]
    rig.pms.send(b"LS|" + STAMP)
    rig.pms.send(b"LA|" + STAMP)
    assert rig.pms.received() == DESCRIPTION


# -- guests ----------------------------------------------------------------------------------


def test_guests_in_house_follow_gi_go_gc_with_sharers_and_room_moves():
    rig = Rig()
    rig.start_alive()
    rig.pms.send(
        b"GI|RN2781|G#12345|GNGuest, Mr.|GSN|",
        b"GI|RN2781|G#12381|GNSharer, Dr.|GSY|",
    )
    assert dict(rig.link.in_house) == {12345: "2781", 12381: "2781"}
    assert rig.link.guests_in("2781") == (12345, 12381)
    rig.pms.send(b"GC|RN9327|GSN|G#12345|GNGuest, Mr.|RO2781|GSY|")  # room move, GS twice
    assert dict(rig.link.in_house) == {12345: "9327", 12381: "2781"}
    rig.pms.send(b"GC|RN2781|G#12381|GNSharer, Prof.|GSN|")  # name change, no move
    rig.pms.send(b"GO|RN9327|G#12345|GSN|")
    assert dict(rig.link.in_house) == {12381: "2781"}
    assert rig.guest_events == [
        (GuestEventKind.CHECK_IN, 12345, "2781"),
        (GuestEventKind.CHECK_IN, 12381, "2781"),
        (GuestEventKind.ROOM_MOVE, 12345, "9327"),
        (GuestEventKind.CHANGE, 12381, "2781"),
        (GuestEventKind.CHECK_OUT, 12345, "9327"),
    ]


def test_seeded_guests_can_be_posted_to_and_later_gi_go_still_apply():
    rig = Rig()
    rig.link.seed_guests({12345: "2781", 777: "101"})
    assert rig.guest_events == []
    rig.start_alive()
    rig.pms.send(b"GO|RN101|G#777|GSN|")
    assert dict(rig.link.in_house) == {12345: "2781"}
    rig.link.post(posting())
    assert rig.pms.received() == [INQUIRY]


def test_resync_replaces_the_in_house_list_and_holds_postings_until_de():
    rig = Rig()
    rig.start_alive()
    rig.check_in(b"101", 1)
    rig.check_in(b"102", 2)
    rig.check_in(b"103", 3)
    rig.pms.send(b"DS|" + STAMP)
    assert rig.link.resync and not rig.link.status.can_post
    rig.pms.send(
        b"GI|RN101|G#1|GSN|SF|",
        b"GO|RN102|GSN|SF|",  # a resync GO: room only
        b"GI|RN104|GSN|G#4|",  # a real-time GI mixed in
    )
    rig.pms.send(b"DE|" + STAMP)
    assert not rig.link.resync
    assert dict(rig.link.in_house) == {1: "101", 4: "104"}
    assert (GuestEventKind.CHECK_OUT, 2, "102") in rig.guest_events
    assert rig.guest_events[-1] == (GuestEventKind.CHECK_OUT, 3, "103")  # not confirmed by DS..DE
    assert [(s.state, s.resync) for s in rig.statuses[-2:]] == [
        (LinkState.ALIVE, True),
        (LinkState.ALIVE, False),
    ]


# -- postings --------------------------------------------------------------------------------


def test_posting_runs_inquiry_then_posting_then_pa_with_exact_frames():
    rig = Rig()
    rig.start_alive()
    rig.check_in(b"2781", 12345)
    rig.pms.received()
    d = rig.link.post(posting())
    assert rig.pms.received() == [INQUIRY]
    assert rig.written == []
    rig.pms.send(PL_ONE)
    assert rig.written == [("evt_1/0", 1002)]
    assert rig.pms.received() == [POSTING]
    assert not d.called
    pa = b"PA|P#1002|WSFOLIOGATE|ASOK|RN2781|G#12345|GNGuest, Mr.|SO20|" + STAMP
    rig.pms.send(pa)
    outcome = result_of(d)
    assert outcome.result is PostingResult.POSTED
    assert (outcome.posting_number, outcome.inquiry_number) == (1002, 1001)
    assert outcome.answer_status == "OK"
    assert outcome.answer.reservation_number == 12345
    assert outcome.room == "2781" and outcome.guest_name == "Guest, Mr."
    posting_frames = [f for f in rig.frames if f[1].startswith((b"PR", b"PL", b"PA"))]
    assert posting_frames == [
        ("out", INQUIRY, "evt_1/0"),
        ("in", PL_ONE, "evt_1/0"),
        ("out", POSTING, "evt_1/0"),
        ("in", pa, "evt_1/0"),
    ]


def test_on_posting_written_runs_before_the_posting_pr_is_written_and_may_be_deferred():
    marked: list[tuple[str, int, list[bytes], defer.Deferred]] = []

    def mark_sent(reference, number):
        marked.append((reference, number, rig.pms.received(), defer.Deferred()))
        return marked[-1][3]

    rig = Rig(on_posting_written=mark_sent)
    rig.start_alive()
    d = rig.link.post(posting(room="2781"))
    assert rig.pms.received() == [INQUIRY]
    rig.pms.send(PL_ONE)
    assert [m[:3] for m in marked] == [("evt_1/0", 1002, [])]  # nothing written yet
    assert rig.pms.received() == []
    marked[0][3].callback(None)
    assert rig.pms.received() == [POSTING]
    rig.pms.send(b"PA|P#1002|ASOK|RN2781|")
    assert result_of(d).result is PostingResult.POSTED


def test_sharers_the_posting_goes_to_the_guest_whose_g_number_matches():
    rig = Rig()
    rig.start_alive()
    d = rig.link.post(posting(room="2781", reservation_number=12381))
    assert rig.pms.received() == [INQUIRY]
    rig.pms.send(b"PL|P#1001|WSFOLIOGATE|RN2781|G#12345|GNGuest, Mr.|RN2781|G#12381|GNSharer, Mr.|")
    assert rig.pms.received() == [
        b"PR|SO20|WSFOLIOGATE|RN2781|G#12381|GNSharer, Mr.|TA5000|" + STAMP + b"P#1002|PMOJ|"
    ]
    rig.pms.send(b"PA|P#1002|ASOK|RN2781|G#12381|")
    outcome = result_of(d)
    assert outcome.result is PostingResult.POSTED and outcome.guest_name == "Sharer, Mr."


def test_pa_is_matched_by_posting_number_never_by_room():
    rig = Rig()
    rig.start_alive()
    d = rig.link.post(posting(room="2781"))
    rig.pms.send(PL_ONE)
    rig.pms.send(b"PA|P#999|ASOK|RN2781|G#12345|")  # same room and guest, other P#
    rig.pms.send(b"PA|ASOK|RN2781|G#12345|")  # no P# at all
    assert not d.called
    rig.pms.send(b"PA|P#1002|ASRY|RN2781|")
    assert result_of(d).result is PostingResult.RETRYABLE


@pytest.mark.parametrize(
    ("status", "result"),
    [
        (b"RY", PostingResult.RETRYABLE),
        (b"NA", PostingResult.NIGHT_AUDIT),
        (b"UR", PostingResult.REJECTED),
        (b"NP", PostingResult.REJECTED),
        (b"NG", PostingResult.REJECTED),  # the guest vanished between inquiry and posting
    ],
)
def test_posting_answer_statuses_map_to_outcomes_with_the_pms_text(status, result):
    rig = Rig()
    rig.start_alive()
    d = rig.link.post(posting(room="2781"))
    rig.pms.send(PL_ONE)
    rig.pms.send(b"PA|P#1002|AS" + status + b"|CTNot today|RN2781|")
    outcome = result_of(d)
    assert outcome.result is result
    assert (outcome.answer_status, outcome.clear_text) == (status.decode(), "Not today")
    assert outcome.posting_number == 1002


def test_inquiry_answered_ng_is_not_in_house_and_no_posting_is_written():
    rig = Rig()
    rig.start_alive()
    d = rig.link.post(posting(room="5781"))
    rig.pms.received()
    rig.pms.send(b"PA|P#1001|WSFOLIOGATE|ASNG|CTINVALID ROOM|")
    outcome = result_of(d)
    assert outcome.result is PostingResult.NOT_IN_HOUSE
    assert outcome.posting_number is None and outcome.clear_text == "INVALID ROOM"
    assert rig.pms.received() == [] and rig.written == []


def test_pl_without_the_reservation_is_not_in_house_even_if_the_room_matches():
    rig = Rig()
    rig.start_alive()
    d = rig.link.post(posting(room="2781", reservation_number=55555))
    rig.pms.received()
    rig.pms.send(PL_ONE)
    outcome = result_of(d)
    assert outcome.result is PostingResult.NOT_IN_HOUSE and outcome.posting_number is None
    assert rig.pms.received() == []


def test_guest_without_a_known_room_is_not_in_house_without_any_frame():
    rig = Rig()
    rig.start_alive()
    d = rig.link.post(posting())
    assert result_of(d).result is PostingResult.NOT_IN_HOUSE
    assert rig.pms.received() == []


def test_no_pa_within_the_timeout_is_unknown_and_never_resent():
    rig = Rig(posting_timeout=60.0)
    rig.start_alive()
    first = rig.link.post(posting(room="2781"))
    second = rig.link.post(posting(room="2781", leg_reference="evt_2/0"))
    rig.pms.send(PL_ONE)
    assert rig.pms.received() == [INQUIRY, POSTING]
    rig.clock.advance(59.9)
    assert not first.called
    rig.clock.advance(0.1)
    outcome = result_of(first)
    assert outcome.result is PostingResult.UNKNOWN and outcome.posting_number == 1002
    # the next leg runs with new numbers; the unknown one is not sent again
    assert rig.pms.received() == [b"PR|SO20|WSFOLIOGATE|PI2781|" + STAMP + b"P#1003|PMROOM|"]
    rig.pms.send(b"PA|P#1002|ASOK|RN2781|")  # late answer: reported, not acted on
    assert rig.late == [("evt_1/0", 1002, "OK")]
    assert not second.called
    rig.clock.advance(600)
    assert result_of(second).result is PostingResult.NOT_SENT  # inquiry unanswered: nothing posted
    assert all(b"P#1002" not in frame for frame in rig.pms.received())


def test_connection_lost_after_the_posting_pr_is_unknown():
    rig = Rig()
    rig.start_alive()
    d = rig.link.post(posting(room="2781"))
    rig.pms.send(PL_ONE)
    rig.pms.drop()
    outcome = result_of(d)
    assert outcome.result is PostingResult.UNKNOWN and outcome.posting_number == 1002


def test_connection_lost_during_the_inquiry_is_not_sent():
    rig = Rig()
    rig.start_alive()
    d = rig.link.post(posting(room="2781"))
    rig.pms.drop()
    outcome = result_of(d)
    assert outcome.result is PostingResult.NOT_SENT and outcome.posting_number is None


@pytest.mark.parametrize(("start", "end"), [(b"DS", b"DE"), (b"NS", b"NE")])
def test_postings_are_not_sent_during_resync_and_night_audit(start, end):
    rig = Rig()
    rig.start_alive()
    rig.check_in(b"2781", 12345)
    rig.pms.send(start + b"|" + STAMP)
    rig.pms.received()
    d = rig.link.post(posting())
    outcome = result_of(d)
    assert outcome.result is PostingResult.NOT_SENT and outcome.inquiry_number is None
    assert rig.pms.received() == []
    rig.pms.send(b"GI|RN2781|G#12345|GSN|SF|", end + b"|" + STAMP)
    d = rig.link.post(posting())
    assert rig.pms.received() == [INQUIRY]


def test_night_audit_starting_between_pl_and_posting_holds_the_posting():
    rig = Rig()
    rig.start_alive()
    d = rig.link.post(posting(room="2781"))
    rig.pms.send(b"NS|" + STAMP)
    rig.pms.received()
    rig.pms.send(PL_ONE)
    outcome = result_of(d)
    assert outcome.result is PostingResult.NOT_SENT and outcome.posting_number is None
    assert rig.pms.received() == [] and rig.written == []


def test_postings_are_not_sent_while_the_link_is_down_or_describing():
    rig = Rig()
    assert result_of(rig.link.post(posting(room="2781"))).result is PostingResult.NOT_SENT
    rig.link.start()
    rig.pms.send(b"LS|" + STAMP)
    assert result_of(rig.link.post(posting(room="2781"))).result is PostingResult.NOT_SENT


def test_calls_are_queued_and_run_one_at_a_time_in_order():
    rig = Rig()
    rig.start_alive()
    first = rig.link.post(posting(room="2781"))
    second = rig.link.post(posting(room="2781", leg_reference="evt_2/0", total_amount=-700))
    assert rig.pms.received() == [INQUIRY]
    rig.pms.send(PL_ONE)
    assert rig.pms.received() == [POSTING]
    rig.pms.send(b"PA|P#1002|ASOK|RN2781|")
    assert result_of(first).result is PostingResult.POSTED
    assert rig.pms.received() == [b"PR|SO20|WSFOLIOGATE|PI2781|" + STAMP + b"P#1003|PMROOM|"]
    rig.pms.send(b"PL|P#1003|RN2781|G#12345|GNGuest, Mr.|")
    assert rig.pms.received() == [
        b"PR|SO20|WSFOLIOGATE|RN2781|G#12345|GNGuest, Mr.|TA-700|" + STAMP + b"P#1004|PMOJ|"
    ]
    rig.pms.send(b"PA|P#1004|ASOK|RN2781|")
    assert result_of(second).posting_number == 1004


def test_inquire_balance_returns_the_pl_balance_for_the_guest():
    rig = Rig()
    rig.start_alive()
    rig.check_in(b"2781", 12345)
    rig.pms.received()
    d = rig.link.inquire_balance(12345)
    assert rig.pms.received() == [b"PR|WSFOLIOGATE|PI2781|" + STAMP + b"P#1001|PMROOM|"]
    rig.pms.send(b"PL|P#1001|RN2781|G#12345|GNGuest, Mr.|BA-2500|")
    assert result_of(d) == -2500


def test_unencodable_posting_is_refused_before_anything_is_queued():
    rig = Rig()
    rig.start_alive()
    with pytest.raises(ValueError):
        rig.link.post(posting(room="2781", payment_method="TOOLONGPM"))
    assert rig.pms.received() == []


# -- over a real socket ----------------------------------------------------------------------


class LiteralPms(protocol.Protocol):
    """A tiny PMS that speaks literal bytes: LS on connect, LA to the description, a PL to the
    inquiry, ASOK to the posting, LE to LE."""

    def connectionMade(self):
        self.factory.received = []
        self.buffer = b""
        self.transport.write(b"\x02LS|DA261121|TI100000|\x03")

    def dataReceived(self, data):
        self.buffer += data
        while b"\x03" in self.buffer:
            frame, self.buffer = self.buffer.split(b"\x03", 1)
            payload = frame[frame.index(b"\x02") + 1 :]
            self.factory.received.append(payload)
            answer = self.answer(payload)
            if answer:
                self.transport.write(b"\x02" + answer + b"\x03")

    def answer(self, payload):
        if payload.startswith(b"LA|"):
            return b"LA|DA261121|TI100001|"
        if payload.startswith(b"PR|") and b"|P#1001|" in payload:
            return b"PL|P#1001|WSFOLIOGATE|RN2781|G#12345|GNGuest, Mr.|"
        if payload.startswith(b"PR|") and b"|P#1002|" in payload:
            return b"PA|P#1002|WSFOLIOGATE|ASOK|RN2781|G#12345|DA261121|TI100002|"
        if payload.startswith(b"LE|"):
            return b"LE|DA261121|TI100003|"
        return None


@pytest_twisted.ensureDeferred
async def test_posting_over_a_real_loopback_socket_against_literal_bytes():
    from twisted.internet import reactor
    from twisted.internet.endpoints import TCP4ClientEndpoint

    factory = protocol.Factory.forProtocol(LiteralPms)
    port = reactor.listenTCP(0, factory, interface="127.0.0.1")
    alive = defer.Deferred()
    numbers = itertools.count(1001)

    def on_state(status):
        if status.state is LinkState.ALIVE and not alive.called:
            alive.callback(None)

    link = FiasLink(
        TCP4ClientEndpoint(reactor, "127.0.0.1", port.getHost().port),
        workstation="FOLIOGATE",
        next_posting_number=lambda: next(numbers),
        clock=reactor,
        now=lambda: NOW,
        vendor_version="0.1.0",
        on_state_change=on_state,
    )
    try:
        link.start()
        await alive
        outcome = await link.post(posting(room="2781"))
        assert outcome.result is PostingResult.POSTED and outcome.posting_number == 1002
        await link.stop()
        assert factory.received == DESCRIPTION + [INQUIRY, POSTING, b"LE|" + STAMP]
        assert link.state is LinkState.DOWN
    finally:
        if link.running:
            await link.stop()
        await port.stopListening()


@pytest_twisted.ensureDeferred
async def test_link_against_the_simulator_posts_to_the_right_sharer_and_sees_check_ins():
    """End to end over loopback against ``simulators.fias`` in the test reactor: handshake,
    resync of the in-house list, a posting to one of two sharers, the balance after it, a
    check-in broadcast, and LE on stop."""
    from twisted.internet import reactor
    from twisted.internet.endpoints import TCP4ClientEndpoint

    from simulators.faults import FaultKnobs
    from simulators.fias import FiasPmsFactory
    from simulators.ledger import DEMO_HOTEL, Hotel

    sim_now = dt.datetime(2026, 11, 27, 10, 4, 5)
    hotel = Hotel.from_file(DEMO_HOTEL, now=lambda: sim_now)
    factory = FiasPmsFactory(hotel, FaultKnobs(), reactor, now=lambda: sim_now)
    port = reactor.listenTCP(0, factory, interface="127.0.0.1")
    numbers = itertools.count(1)
    waiters: dict[str, defer.Deferred] = {"alive": defer.Deferred(), "resynced": defer.Deferred()}
    events: list = []

    def on_state(status):
        if status.state is LinkState.ALIVE and not waiters["alive"].called:
            waiters["alive"].callback(None)
        if status.resync:
            waiters["resync started"] = True
        elif waiters.get("resync started") and not waiters["resynced"].called:
            waiters["resynced"].callback(None)

    def on_guest(kind, number, room):
        events.append((kind, number, room))
        if "check-in" in waiters and kind is GuestEventKind.CHECK_IN and number == 400001:
            waiters["check-in"].callback(None)

    link = FiasLink(
        TCP4ClientEndpoint(reactor, "127.0.0.1", port.getHost().port),
        workstation="FOLIOGATE",
        next_posting_number=lambda: next(numbers),
        clock=reactor,
        now=lambda: sim_now,
        on_state_change=on_state,
        on_guest_event=on_guest,
    )
    try:
        link.request_resync()
        link.start()
        await waiters["alive"]
        await waiters["resynced"]
        assert dict(link.in_house) == {123456: "101", 200101: "201", 200102: "201", 300001: "301"}

        outcome = await link.post(
            LinkPosting(
                leg_reference="evt_spa/0",
                reservation_number=200102,
                payment_method="OJ",
                total_amount=5000,
                sales_outlet=210,
            )
        )
        assert outcome.result is PostingResult.POSTED, outcome
        assert (outcome.room, outcome.guest_name) == ("201", "Gandhi, Mrs.")
        assert [line.amount for line in hotel.folio(200102)] == [5000, -5000]
        assert hotel.folio(200101) == ()  # the sharer in the same room is untouched
        assert await link.inquire_balance(200102) == hotel.balance(200102)

        waiters["check-in"] = defer.Deferred()
        hotel.check_in(400001)
        await waiters["check-in"]
        assert link.in_house[400001] == "102"

        await link.stop()
        assert link.state is LinkState.DOWN
    finally:
        if link.running:
            await link.stop()
        factory.stop()
        await port.stopListening()
