"""The FIAS link with ``pipeline > 1`` (adapters/fias_postings.py): inquiries overlap, postings
never do.

Same fake PMS as tests/test_fias_link.py (a ``StringTransport``, literal bytes, a ``Clock``).
What these tests protect:

- several calls converse at once: their inquiry ``PR``s go out together and every ``PL``/``PA``
  is matched by ``P#``, in whatever order the PMS answers;
- postings go out strictly one at a time: the next posting ``PR`` only after the previous
  posting's ``PA`` (or its end), and its ``on_posting_written`` is called before the answered
  posting's outcome is delivered (so the journal can commit both together);
- a lost connection ends every inquiring or waiting call as NOT_SENT (nothing of theirs was
  posted) and the posting on the wire as UNKNOWN;
- with ``posting_lanes=N`` (config ``postings_in_flight``) up to N postings await their PA at
  once, each PA matched by P# in any order; the next posting waits for a free lane; a lost
  connection makes every posting in a lane UNKNOWN.
"""

from __future__ import annotations

from test_fias_link import STAMP, Rig, posting, result_of

from adapters.fias_link import PostingResult


def inquiry(room: bytes, number: int) -> bytes:
    return b"PR|SO20|WSFOLIOGATE|PI" + room + b"|" + STAMP + b"P#%d|PMROOM|" % number


def posting_pr(room: bytes, guest: bytes, amount: int, number: int) -> bytes:
    return (
        b"PR|SO20|WSFOLIOGATE|RN" + room + b"|G#" + guest + b"|GNGuest, Mr.|TA%d|" % amount
        + STAMP + b"P#%d|PMOJ|" % number
    )  # fmt: skip


def pl(number: int, room: bytes, guest: bytes) -> bytes:
    return b"PL|P#%d|WSFOLIOGATE|RN" % number + room + b"|G#" + guest + b"|GNGuest, Mr.|"


def two_guests(**options) -> Rig:
    rig = Rig(pipeline=3, **options)
    rig.start_alive()
    rig.check_in(b"2781", 12345)
    rig.check_in(b"2782", 12346)
    rig.pms.received()
    return rig


def test_inquiries_overlap_postings_go_one_at_a_time_and_answers_match_by_p_number():
    rig = two_guests()
    first = rig.link.post(posting(leg_reference="evt_1/0"))
    second = rig.link.post(posting(leg_reference="evt_2/0", reservation_number=12346,
                                   total_amount=700))  # fmt: skip
    assert rig.pms.received() == [inquiry(b"2781", 1001), inquiry(b"2782", 1002)]

    rig.pms.send(pl(1002, b"2782", b"12346"))  # the second inquiry is answered first
    assert rig.pms.received() == [posting_pr(b"2782", b"12346", 700, 1003)]
    rig.pms.send(pl(1001, b"2781", b"12345"))
    assert rig.pms.received() == []  # the lane is taken: P#1003 has no PA yet

    rig.pms.send(b"PA|P#1003|ASOK|RN2782|")
    assert result_of(second).result is PostingResult.POSTED
    assert rig.pms.received() == [posting_pr(b"2781", b"12345", 5000, 1004)]
    assert not first.called
    rig.pms.send(b"PA|P#1004|ASOK|RN2781|")
    outcome = result_of(first)
    assert (outcome.result, outcome.posting_number) == (PostingResult.POSTED, 1004)
    assert rig.written == [("evt_2/0", 1003), ("evt_1/0", 1004)]


def test_the_next_posting_is_journaled_before_the_answered_ones_outcome_is_delivered():
    steps: list[str] = []
    rig = two_guests(on_posting_written=lambda ref, number: steps.append(f"sent {ref}"))
    first = rig.link.post(posting(leg_reference="evt_1/0"))
    rig.link.post(posting(leg_reference="evt_2/0", reservation_number=12346))
    first.addCallback(lambda outcome: steps.append(f"outcome {outcome.leg_reference}"))
    rig.pms.send(pl(1001, b"2781", b"12345"), pl(1002, b"2782", b"12346"))
    rig.pms.send(b"PA|P#1003|ASOK|RN2781|")
    assert steps == ["sent evt_1/0", "sent evt_2/0", "outcome evt_1/0"]


def test_a_balance_inquiry_overlaps_a_posting_on_the_wire():
    rig = two_guests()
    rig.link.post(posting(leg_reference="evt_1/0"))
    rig.pms.send(pl(1001, b"2781", b"12345"))
    assert rig.pms.received() == [inquiry(b"2781", 1001), posting_pr(b"2781", b"12345", 5000,
                                                                      1002)]  # fmt: skip
    balance = rig.link.inquire_balance(12346)
    assert rig.pms.received() == [b"PR|WSFOLIOGATE|PI2782|" + STAMP + b"P#1003|PMROOM|"]
    rig.pms.send(b"PL|P#1003|WSFOLIOGATE|RN2782|G#12346|GNGuest, Mr.|BA-700|")
    assert result_of(balance) == -700


def test_a_lost_connection_ends_waiting_calls_not_sent_and_the_posting_unknown():
    rig = Rig(pipeline=3)
    rig.start_alive()
    for room, guest in ((b"2781", 12345), (b"2782", 12346), (b"2783", 12347)):
        rig.check_in(room, guest)
    on_wire = rig.link.post(posting(leg_reference="evt_1/0"))
    ready = rig.link.post(posting(leg_reference="evt_2/0", reservation_number=12346))
    asking = rig.link.post(posting(leg_reference="evt_3/0", reservation_number=12347))
    rig.pms.send(pl(1001, b"2781", b"12345"), pl(1002, b"2782", b"12346"))
    rig.pms.drop()
    assert result_of(on_wire).result is PostingResult.UNKNOWN
    waited = result_of(ready)
    assert (waited.result, waited.posting_number) == (PostingResult.NOT_SENT, None)
    assert result_of(asking).result is PostingResult.NOT_SENT
    assert rig.written == [("evt_1/0", 1004)]


def three_guests(**options) -> Rig:
    rig = Rig(pipeline=4, **options)
    rig.start_alive()
    for room, guest in ((b"2781", 12345), (b"2782", 12346), (b"2783", 12347)):
        rig.check_in(room, guest)
    rig.pms.received()
    return rig


def test_two_posting_lanes_have_two_postings_out_and_match_their_answers_by_p_number():
    rig = three_guests(posting_lanes=2)
    calls = [
        rig.link.post(posting(leg_reference=f"evt_{n}/0", reservation_number=guest))
        for n, guest in ((1, 12345), (2, 12346), (3, 12347))
    ]
    rig.pms.received()
    rig.pms.send(pl(1001, b"2781", b"12345"), pl(1002, b"2782", b"12346"),
                 pl(1003, b"2783", b"12347"))  # fmt: skip
    # Two lanes: two postings go out before any PA; the third waits for a free lane.
    assert rig.pms.received() == [
        posting_pr(b"2781", b"12345", 5000, 1004),
        posting_pr(b"2782", b"12346", 5000, 1005),
    ]
    rig.pms.send(b"PA|P#1005|ASOK|RN2782|")  # answered out of order
    assert calls[1].called and not calls[0].called
    assert rig.pms.received() == [posting_pr(b"2783", b"12347", 5000, 1006)]
    rig.pms.send(b"PA|P#1004|ASOK|RN2781|", b"PA|P#1006|ASOK|RN2783|")
    outcomes = [result_of(c) for c in calls]
    assert [(o.result, o.posting_number) for o in outcomes] == [
        (PostingResult.POSTED, 1004),
        (PostingResult.POSTED, 1005),
        (PostingResult.POSTED, 1006),
    ]
    assert rig.written == [("evt_1/0", 1004), ("evt_2/0", 1005), ("evt_3/0", 1006)]


def test_a_lost_connection_makes_every_posting_in_a_lane_unknown():
    rig = three_guests(posting_lanes=2)
    calls = [
        rig.link.post(posting(leg_reference=f"evt_{n}/0", reservation_number=guest))
        for n, guest in ((1, 12345), (2, 12346), (3, 12347))
    ]
    rig.pms.send(pl(1001, b"2781", b"12345"), pl(1002, b"2782", b"12346"),
                 pl(1003, b"2783", b"12347"))  # fmt: skip
    rig.pms.drop()
    results = [result_of(c).result for c in calls]
    assert results == [PostingResult.UNKNOWN, PostingResult.UNKNOWN, PostingResult.NOT_SENT]


def test_the_link_reports_each_read_once_every_frame_in_it_was_handled():
    """on_read_done (the gateway commits the marks a read queued, in one transaction) comes
    once per read from the socket, after all of its frames, not once per frame."""
    reads: list[int] = []
    rig = three_guests(posting_lanes=2, on_read_done=lambda: reads.append(len(rig.written)))
    for n, guest in ((1, 12345), (2, 12346)):
        rig.link.post(posting(leg_reference=f"evt_{n}/0", reservation_number=guest))
    reads.clear()
    proto = rig.endpoint.connections[-1][0]
    both = b"".join(
        b"\x02" + frame + b"\x03"
        for frame in (pl(1001, b"2781", b"12345"), pl(1002, b"2782", b"12346"))
    )
    proto.dataReceived(both)
    assert reads == [2]  # one call, after both PLs had freed both postings
