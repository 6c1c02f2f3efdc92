"""The IFC-like FIAS server, driven with literal frames over StringTransport and a Clock."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import pytest
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport

from simulators.faults import FaultKnobs
from simulators.fias import FiasPmsFactory, LinkState
from simulators.ledger import DEMO_HOTEL, Hotel, UnqueriedPosting, load_hotel_config

NOW = dt.datetime(2026, 11, 27, 10, 4, 5)
STAMP = "DA261127|TI100405|"
JANE, GARIBALDI, GANDHI, NOPOST, EARLY, GONE = 123456, 200101, 200102, 300001, 400001, 500001

LINK_RECORDS = (
    "LR|RIGI|FLRNG#GSGNGAGDSF|",
    "LR|RIGO|FLRNG#GS|",
    "LR|RIGC|FLRNG#GSGNRO|",
    "LR|RIPR|FLP#WSPMPIRNG#GNTASOIDDATI|",
    "LR|RIPL|FLP#WSRNG#GNBA|",
    "LR|RIPA|FLP#WSASCTRNG#GNSODATI|",
    "LR|RIPS|FLRNPTTASOP#DATI|",
)


def frame(text: str) -> bytes:
    return b"\x02" + text.encode("cp1252") + b"\x03"


class RecordingTransport(StringTransport):
    """A StringTransport that also keeps each write() separately (for split_writes)."""

    def __init__(self):
        super().__init__()
        self.writes = []

    def write(self, data):
        self.writes.append(data)
        super().write(data)


class Link:
    """One client connection to the factory under test."""

    def __init__(self, factory):
        self.factory = factory
        self.transport = RecordingTransport()
        self.protocol = factory.buildProtocol(None)
        self.protocol.makeConnection(self.transport)

    def send(self, *texts: str) -> None:
        self.protocol.dataReceived(b"".join(frame(t) for t in texts))

    def send_bytes(self, data: bytes) -> None:
        self.protocol.dataReceived(data)

    def received(self) -> list[str]:
        """Records written since the last call, as text (STX/ETX removed)."""
        data = self.transport.value()
        self.transport.clear()
        self.transport.writes.clear()
        assert data == b"" or (data.startswith(b"\x02") and data.endswith(b"\x03")), data
        return [chunk.lstrip(b"\x02").decode("cp1252") for chunk in data.split(b"\x03") if chunk]

    def up(self, *link_records: str) -> Link:
        """Answer LS with LD, LRs, LA; the server's LS and LA are consumed."""
        assert self.received() == ["LS|" + STAMP]
        self.send("LD|" + STAMP + "V#1.0|IFWW|", *(link_records or LINK_RECORDS), "LA|" + STAMP)
        assert self.received() == ["LA|" + STAMP]
        return self


@pytest.fixture
def hotel():
    return Hotel.from_file(DEMO_HOTEL, now=lambda: NOW)


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def factory(hotel, clock):
    return FiasPmsFactory(hotel, FaultKnobs(hotel.config.faults), clock=clock, now=lambda: NOW)


@pytest.fixture
def link(factory):
    return Link(factory).up()


def folio(hotel, conf):
    return [(line.code, line.amount) for line in hotel.folio(conf)]


# -- link lifecycle ---------------------------------------------------------------------------


def test_server_sends_ls_on_accept(factory):
    client = Link(factory)
    assert client.received() == ["LS|DA261127|TI100405|"]
    assert client.protocol.state is LinkState.STARTING


def test_ld_lr_la_handshake_makes_the_link_alive_and_keeps_the_field_lists(factory):
    client = Link(factory)
    client.received()
    client.send("LD|DA261127|TI100400|V#1.0|IFWW|", "LR|RIGI|FLRNG#GS|", "LR|RIPA|FLASP#|")
    assert client.received() == []  # nothing until the description ends with LA
    client.send("LA|DA261127|TI100400|")
    assert client.received() == ["LA|DA261127|TI100405|"]
    assert client.protocol.state is LinkState.ALIVE
    assert client.protocol.link_records == {"GI": ("RN", "G#", "GS"), "PA": ("AS", "P#")}


def test_data_records_before_the_link_is_alive_are_ignored(factory, hotel):
    client = Link(factory)
    client.received()
    client.send("DR|" + STAMP, "PR|P#1|WSPOS1|PMOJ|SO210|TA5000|G#123456|")
    assert client.received() == []
    assert hotel.folio(JANE) == ()


def test_vendor_ls_before_alive_is_answered_ls_and_while_alive_la(factory):
    client = Link(factory)
    client.received()
    client.send("LS|" + STAMP)
    assert client.received() == ["LS|" + STAMP]
    client.send("LD|" + STAMP + "V#1.0|IFWW|", "LA|" + STAMP)
    client.received()
    client.send("LS|DA261127|TI110000|")
    assert client.received() == ["LA|" + STAMP]


def test_vendor_la_while_alive_gets_no_answer(link):
    link.send("LA|" + STAMP)
    assert link.received() == []


def test_redescription_while_alive_is_answered_la_and_replaces_the_field_lists(link):
    link.send("LD|" + STAMP + "V#1.1|IFWW|", "LR|RIGO|FLRNG#|", "LA|" + STAMP)
    assert link.received() == ["LA|" + STAMP]
    assert link.protocol.link_records == {"GO": ("RN", "G#")}


def test_ld_with_request_type_is_answered_with_link_configuration(factory):
    client = Link(factory)
    client.received()
    client.send("LD|" + STAMP + "V#1.0|IFPO|RT5|")
    assert client.received() == ["LC|RPROOM|A1foliogate-sim|PH1|"]


def test_le_is_answered_le_and_the_connection_closes(link, factory):
    link.send("LE|" + STAMP)
    assert link.received() == ["LE|" + STAMP]
    assert link.transport.disconnecting
    link.protocol.connectionLost(None)
    assert factory.current is None
    assert factory.link_status() == {"state": "down", "connections": 1}


def test_new_connection_replaces_the_old_one(factory, hotel):
    first = Link(factory).up()
    second = Link(factory)
    assert first.transport.disconnected  # aborted
    assert factory.current is second.protocol
    second.up()  # starts with the server's LS
    first.protocol.connectionLost(None)  # the old link going away must not unset the new one
    assert factory.current is second.protocol
    hotel.check_out(JANE)
    assert first.received() == []
    assert second.received() == ["GO|RN101|G#123456|GSN|"]


def test_second_connection_is_refused_when_the_hotel_says_so(hotel, clock):
    config = load_hotel_config()
    config = replace(config, fias=replace(config.fias, replace_connections=False))
    hotel = Hotel(config, now=lambda: NOW)
    factory = FiasPmsFactory(hotel, FaultKnobs(), clock=clock, now=lambda: NOW)
    first = Link(factory).up()
    second = Link(factory)
    assert second.received() == []
    assert second.transport.disconnecting
    assert not first.transport.disconnecting
    assert factory.current is first.protocol


def test_noise_and_undecodable_records_are_skipped_and_the_link_goes_on(link):
    link.send_bytes(b"\r\nnoise" + frame("LS|" + STAMP) + b"\xff\xfe")
    assert link.received() == ["LA|" + STAMP]
    link.send("PR|P#x1|WSPOS1|PMROOM|PI201|")  # P# must be numeric
    assert link.received() == []
    link.send("LS|" + STAMP)
    assert link.received() == ["LA|" + STAMP]


def test_link_status_reports_the_live_link(link, factory):
    status = factory.link_status()
    assert status == {
        "state": "alive",
        "peer": "192.168.1.1:54321",
        "connections": 1,
        "records_received": 9,
        "records_sent": 2,
        "link_records": ["GC", "GI", "GO", "PA", "PL", "PR", "PS"],
    }


# -- resync and broadcasts --------------------------------------------------------------------


def test_dr_resync_sends_ds_one_gi_with_sf_per_in_house_guest_and_de(link):
    link.send("DR|" + STAMP)
    assert link.received() == [
        "DS|" + STAMP,
        "GI|RN101|G#123456|GSN|GNDoe, Jane|GA261127|GD261129|SF|",
        "GI|RN201|G#200101|GSY|GNGaribaldi, Mr.|GA261126|GD261130|SF|",
        "GI|RN201|G#200102|GSY|GNGandhi, Mrs.|GA261126|GD261130|SF|",
        "GI|RN301|G#300001|GSN|GNNopost, Nina|GA261125|GD261128|SF|",
        "DE|" + STAMP,
    ]


def test_resync_gi_keeps_sf_even_if_the_lr_omits_it(factory):
    client = Link(factory).up("LR|RIGI|FLRNG#|")
    client.send("DR|" + STAMP)
    assert client.received()[1:3] == ["GI|RN101|G#123456|SF|", "GI|RN201|G#200101|SF|"]


def test_check_in_out_and_move_are_broadcast_with_only_the_lr_fields(link, hotel):
    hotel.check_in(EARLY)
    assert link.received() == ["GI|RN102|G#400001|GSN|GNEarly, Eric|GA261128|GD261201|"]
    hotel.move(GARIBALDI, "102")
    assert link.received() == ["GC|RN102|GSY|G#200101|GNGaribaldi, Mr.|RO201|GSY|"]
    hotel.check_out(GANDHI)
    assert link.received() == ["GO|RN201|G#200102|GSN|"]


def test_guest_records_without_an_lr_are_not_sent(factory, hotel):
    client = Link(factory).up("LR|RIGI|FLRNG#GS|")
    hotel.check_out(JANE)
    hotel.move(GARIBALDI, "202")
    assert client.received() == []
    hotel.check_in(EARLY, "101")
    assert client.received() == ["GI|RN101|G#400001|GSN|"]


def test_broadcast_lists_fields_the_lr_asks_for_including_no_post_and_stamp(factory, hotel):
    client = Link(factory).up("LR|RIGI|FLRNG#NPDATI|")
    hotel.check_in(EARLY, "201")
    assert client.received() == ["GI|RN201|G#400001|NPN|DA261127|TI100405|"]


def test_night_audit_is_bracketed_by_ns_and_ne_and_postings_meanwhile_get_na(link, hotel):
    hotel.start_night_audit()
    assert link.received() == ["NS|" + STAMP]
    link.send("PR|P#5|WSPOS1|PMOJ|SO210|TA5000|G#123456|")
    assert link.received() == [
        "PA|SO210|WSPOS1|G#123456|ASNA|CTnight audit in progress; post after it ends|"
        + STAMP
        + "P#5|"
    ]
    hotel.end_night_audit()
    assert link.received() == ["NE|" + STAMP]
    assert hotel.business_date == dt.date(2026, 11, 28)


def test_link_coming_up_during_a_night_audit_gets_ns(factory, hotel):
    hotel.start_night_audit()
    client = Link(factory)
    assert client.received() == ["LS|" + STAMP]
    client.send("LD|" + STAMP + "V#1.0|IFWW|", "LA|" + STAMP)
    assert client.received() == ["LA|" + STAMP, "NS|" + STAMP]


# -- inquiries --------------------------------------------------------------------------------


def test_inquiry_by_room_lists_both_sharers_with_balances(link, hotel):
    link.send("PR|P#1734|WSPOS1|SO200|IDELI|PMROOM|PI201|" + STAMP)
    assert link.received() == [
        "PL|SO200|WSPOS1|IDELI|RN201|G#200101|GNGaribaldi, Mr.|BA0|"
        "RN201|G#200102|GNGandhi, Mrs.|BA0|P#1734|"
    ]
    assert link.protocol.inquired == {GARIBALDI, GANDHI}


def test_inquiry_by_name_prefix_honours_max_matches(link):
    link.send("PR|P#1736|WSPOS1|PMROOM|PIga|MX1|")
    assert link.received() == ["PL|WSPOS1|RN201|G#200101|GNGaribaldi, Mr.|BA0|P#1736|"]


def test_inquiry_balance_is_the_guests_folio_balance(link, hotel):
    link.send("PR|P#1|WSPOS1|PMROOM|PI101|")
    link.send("PR|P#2|WSPOS1|PMROOM|RN101|G#123456|TA2500|SO200|")
    link.received()
    link.send("PR|P#3|WSPOS1|PMROOM|PIDoe|")
    assert link.received() == ["PL|WSPOS1|RN101|G#123456|GNDoe, Jane|BA2500|P#3|"]


@pytest.mark.parametrize(
    ("request_text", "answer"),
    [
        (
            "PR|P#1735|WSPOS1|IDJOSH|PMROOM|PI5781|" + STAMP,
            "PA|WSPOS1|IDJOSH|ASNG|CTno guest in house matches PI 5781|" + STAMP + "P#1735|",
        ),
        (
            "PR|P#7|WSPOS1|PMROOM|PIGone|",
            "PA|WSPOS1|ASNG|CTno guest in house matches PI Gone|" + STAMP + "P#7|",
        ),
        (
            "PR|P#8|WSPOS1|PMOJ|PI101|",
            "PA|WSPOS1|ASUR|CTPM OJ: no room PM, no A/R account 101|" + STAMP + "P#8|",
        ),
        (
            "PR|P#9|WSPOS1|PMXX|PI101|",
            "PA|WSPOS1|ASUR|CTunknown payment method PM 'XX'|" + STAMP + "P#9|",
        ),
    ],
)
def test_failed_inquiries_are_answered_pa_with_the_cause(link, request_text, answer):
    link.send(request_text)
    assert link.received() == [answer]
    assert link.protocol.inquired == set()


# -- postings ---------------------------------------------------------------------------------


def test_room_posting_after_inquiry_is_answered_ok_with_the_echoes(link, hotel):
    link.send("PR|P#11|WSPOS1|PMROOM|PI201|")
    link.received()
    link.send(
        "PR|P#12|WSPOS1|IDJOSH|PMROOM|RN201|G#200102|GNGandhi, Mrs.|TA2500|S12000|T1500|SO200|"
        + STAMP
    )
    assert link.received() == [
        "PA|SO200|WSPOS1|IDJOSH|RN201|G#200102|GNGandhi, Mrs.|ASOK|" + STAMP + "P#12|"
    ]
    assert folio(hotel, GANDHI) == [("FOOD_AND_BEVERAGE", 2500)]
    assert hotel.folio(GANDHI)[0].source == "FIAS PR P#12 WSPOS1"


def test_room_posting_without_prior_inquiry_is_rejected_ur(link, hotel):
    link.send("PR|P#12|WSPOS1|PMROOM|RN101|G#123456|TA2500|SO200|")
    assert link.received() == [
        "PA|SO200|WSPOS1|RN101|G#123456|ASUR|CTno inquiry returned G#123456; inquire first|"
        + STAMP
        + "P#12|"
    ]
    link.send("PR|P#13|WSPOS1|PMROOM|RN101|TA2500|SO200|")
    assert link.received() == [
        "PA|SO200|WSPOS1|RN101|ASUR|CTroom posting needs the G# an inquiry returned|"
        + STAMP
        + "P#13|"
    ]
    assert hotel.folio(JANE) == ()


def test_room_posting_without_inquiry_is_ignored_when_the_hotel_follows_the_spec(clock):
    config = load_hotel_config()
    config = replace(config, fias=replace(config.fias, unqueried_posting=UnqueriedPosting.IGNORE))
    hotel = Hotel(config, now=lambda: NOW)
    client = Link(FiasPmsFactory(hotel, FaultKnobs(), clock=clock, now=lambda: NOW)).up()
    client.send("PR|P#12|WSPOS1|PMROOM|RN101|G#123456|TA2500|SO200|")
    assert client.received() == []
    assert hotel.folio(JANE) == ()


def test_inquiry_on_another_connection_does_not_count(factory, hotel):
    first = Link(factory).up()
    first.send("PR|P#1|WSPOS1|PMROOM|PI101|")
    second = Link(factory).up()
    second.send("PR|P#2|WSPOS1|PMROOM|RN101|G#123456|TA100|SO100|")
    assert second.received()[0].startswith("PA|SO100|WSPOS1|RN101|G#123456|ASUR|")


def test_deposit_and_redemption_tenders_need_no_inquiry(link, hotel):
    link.send("PR|P#21|WSPOS1|PMOJ|SO210|TA5000|RN101|G#123456|CTevt_7f3a9c|" + STAMP)
    assert link.received() == ["PA|SO210|WSPOS1|RN101|G#123456|ASOK|" + STAMP + "P#21|"]
    link.send("PR|P#22|WSPOS1|PMDR|SO220|TA5000|G#123456|")
    assert link.received() == ["PA|RN101|SO220|WSPOS1|G#123456|ASOK|" + STAMP + "P#22|"]
    assert folio(hotel, JANE) == [
        ("SPA_DEPOSIT", 5000),
        ("ONEJOURNEY", -5000),
        ("SPA_TREATMENT", 5000),
        ("DEPOSIT_REDEMPTION", -5000),
    ]
    assert hotel.folio(JANE)[0].reference == "evt_7f3a9c"


def test_tender_without_guest_books_on_the_house_account(link, hotel):
    link.send("PR|P#1742|SO200|WS456|IDJOSH|PMVI|TA10575|S18000|T12575|C#1234|" + STAMP)
    assert link.received() == ["PA|SO200|WS456|IDJOSH|ASOK|" + STAMP + "P#1742|"]
    assert hotel.trial_balance().codes == {"FOOD_AND_BEVERAGE": 10575}


@pytest.mark.parametrize(
    ("request_text", "status", "text"),
    [
        (
            "PR|P#31|WSPOS1|PMOJ|SO210|TA5000|S15000|T1500|G#123456|",
            "DM",
            "subtotals add up to 5500, not TA 5000",
        ),
        ("PR|P#31|WSPOS1|PMOJ|SO210|TA5000|G#300001|", "NP", "no-post flag set for G#300001"),
        ("PR|P#31|WSPOS1|PMOJ|SO210|TA5000|G#500001|", "NG", "guest G#500001 has checked out"),
        ("PR|P#31|WSPOS1|PMOJ|SO210|TA5000|G#999|", "NG", "no reservation G#999"),
        ("PR|P#31|WSPOS1|PMOJ|SO999|TA5000|G#123456|", "UR", "unknown sales outlet SO 999"),
        ("PR|P#31|WSPOS1|PMXX|SO210|TA5000|G#123456|", "UR", "unknown payment method PM 'XX'"),
        (
            "PR|P#31|WSPOS1|PMOJ|SO210|TA-5000|G#123456|",
            "UR",
            "negative amount TA-5000 is not allowed here",
        ),
    ],
)
def test_rejected_postings_carry_the_status_and_a_ct_naming_the_cause(
    link, hotel, request_text, status, text
):
    link.send(request_text)
    [answer] = link.received()
    assert f"|AS{status}|CT{text}|" in answer
    assert answer.startswith("PA|")
    assert answer.endswith("|P#31|")
    assert hotel.trial_balance(None).net == 0
    assert all(hotel.folio(r.confirmation_number) == () for r in hotel.reservations())


def test_split_check_with_the_full_check_subtotals_is_answered_dm(link, hotel):
    """Reference 7.6: a split part that repeats the whole check's S/T/D values."""
    link.send("PR|P#1|WSPOS1|PMROOM|PI201|")
    link.received()
    link.send(
        "PR|SO200|WSPOS1|IDELI|RN201|G#200101|GNGaribaldi, Mr.|TA11075|S18000|S26000|S34000|"
        "T12575|T21525|T31050|D1-1000|TP500|SC200|C#1234|ST4|P#1740|PMROOM|"
    )
    [answer] = link.received()
    assert "|ASDM|CTsubtotals add up to 22850, not TA 11075|" in answer


def test_ps_charge_is_answered_with_room_status_and_p_number(link, hotel):
    link.send("PS|RN101|PTC|SO100|TA1450|DA000915|TI124254|P#1732|")
    assert link.received() == ["PA|RN101|ASOK|P#1732|DA000915|TI124254|"]
    assert folio(hotel, JANE) == [("ROOM_CHARGE", 1450)]


def test_ps_other_than_direct_charge_is_refused(link):
    link.send("PS|RN101|PTM|MA1450|M#2|" + STAMP + "P#1733|")
    assert link.received() == [
        "PA|RN101|ASUR|P#1733|" + STAMP + "CTPTM not supported; send PTC with TA|"
    ]


def test_ps_to_an_empty_room_is_ng(link):
    link.send("PS|RN202|PTC|SO100|TA1450|" + STAMP + "P#1|")
    assert link.received() == ["PA|RN202|ASNG|P#1|" + STAMP + "CTno guest in house in room 202|"]


def test_only_one_ps_may_be_outstanding(link, factory, clock, hotel):
    factory.knobs.update({"delay_ms": 500})
    link.send("PS|RN101|PTC|SO100|TA100|" + STAMP + "P#1|")
    link.send("PS|RN101|PTC|SO100|TA200|" + STAMP + "P#2|")
    assert link.received() == []
    clock.advance(0.5)
    assert link.received() == [
        "PA|RN101|ASOK|P#1|" + STAMP,
        "PA|RN101|ASRY|P#2|" + STAMP + "CTPS P#1 still outstanding; wait for its PA|",
    ]
    assert folio(hotel, JANE) == [("ROOM_CHARGE", 100)]
    link.send("PS|RN101|PTC|SO100|TA300|" + STAMP + "P#3|")
    clock.advance(0.5)
    assert link.received() == ["PA|RN101|ASOK|P#3|" + STAMP]


# -- faults -----------------------------------------------------------------------------------


def test_delay_fault_books_at_once_and_answers_late(link, factory, clock, hotel):
    factory.knobs.update({"delay_ms": 250})
    link.send("PR|P#1|WSPOS1|PMOJ|SO210|TA5000|G#123456|")
    assert link.received() == []
    assert folio(hotel, JANE) == [("SPA_DEPOSIT", 5000), ("ONEJOURNEY", -5000)]
    clock.advance(0.249)
    assert link.received() == []
    clock.advance(0.001)
    assert link.received() == ["PA|RN101|SO210|WSPOS1|G#123456|ASOK|" + STAMP + "P#1|"]


def test_delayed_answer_is_not_sent_after_the_link_is_gone(link, factory, clock):
    factory.knobs.update({"delay_ms": 250})
    link.send("PR|P#1|WSPOS1|PMOJ|SO210|TA5000|G#123456|")
    link.protocol.connectionLost(None)
    assert clock.getDelayedCalls() == []


def test_drop_fault_books_the_posting_but_sends_no_answer(link, factory, hotel):
    factory.knobs.update({"drop_answers": 1})
    link.send("PR|P#1|WSPOS1|PMOJ|SO210|TA5000|G#123456|")
    assert link.received() == []
    assert folio(hotel, JANE) == [("SPA_DEPOSIT", 5000), ("ONEJOURNEY", -5000)]
    link.send("PR|P#2|WSPOS1|PMCA|TA100|G#123456|")
    assert link.received() == ["PA|RN101|WSPOS1|G#123456|ASOK|" + STAMP + "P#2|"]


@pytest.mark.parametrize("status", ["RY", "NA", "UR"])
def test_reject_fault_answers_the_next_n_postings_and_books_nothing(link, factory, hotel, status):
    factory.knobs.update({"reject_status": status, "reject_count": 2})
    link.send("PR|P#1|WSPOS1|PMROOM|PI101|")  # inquiries are not postings
    assert link.received()[0].startswith("PL|")
    link.send("PR|P#2|WSPOS1|PMOJ|SO210|TA5000|G#123456|")
    link.send("PS|RN101|PTC|SO100|TA100|" + STAMP + "P#3|")
    link.send("PR|P#4|WSPOS1|PMCA|TA100|G#123456|")
    assert link.received() == [
        f"PA|SO210|WSPOS1|G#123456|AS{status}|CTfault injection: answering {status}|"
        + STAMP
        + "P#2|",
        f"PA|RN101|AS{status}|P#3|" + STAMP + f"CTfault injection: answering {status}|",
        "PA|RN101|WSPOS1|G#123456|ASOK|" + STAMP + "P#4|",
    ]
    assert folio(hotel, JANE) == [("CASH", -100)]


def test_close_fault_drops_the_link_on_the_nth_record_without_handling_it(link, factory, hotel):
    factory.knobs.update({"close_after_records": 2})
    link.send("LS|" + STAMP)
    assert link.received() == ["LA|" + STAMP]
    link.send("PR|P#1|WSPOS1|PMOJ|SO210|TA5000|G#123456|", "LS|" + STAMP)
    assert link.received() == []
    assert link.transport.disconnected
    assert hotel.folio(JANE) == ()


def test_split_fault_writes_each_frame_in_small_pieces(link, factory):
    factory.knobs.update({"split_writes": 4})
    link.send("LS|" + STAMP)
    assert [len(w) for w in link.transport.writes] == [4, 4, 4, 4, 4, 3]
    assert b"".join(link.transport.writes) == frame("LA|" + STAMP)


def test_garbage_fault_writes_noise_before_every_frame(link, factory):
    factory.knobs.update({"garbage": "\x00junk\r\n"})
    link.send("DR|" + STAMP)
    data = link.transport.value()
    assert data.startswith(b"\x00junk\r\n" + frame("DS|" + STAMP) + b"\x00junk\r\n\x02GI|")
    assert data.count(b"\x00junk\r\n") == 6


def test_reset_forgets_the_inquiries_of_the_link(link, hotel):
    link.send("PR|P#1|WSPOS1|PMROOM|PI101|")
    hotel.reset()
    assert link.protocol.inquired == set()


def test_reset_during_a_night_audit_sends_ne(link, hotel):
    hotel.start_night_audit()
    hotel.reset()
    assert link.received() == ["NS|" + STAMP, "NE|" + STAMP]
    hotel.reset()
    assert link.received() == []


def test_ps_without_p_number_still_counts_as_outstanding(link, factory, clock):
    factory.knobs.update({"delay_ms": 100})
    link.send("PS|RN101|PTC|SO100|TA100|" + STAMP, "PS|RN101|PTC|SO100|TA100|" + STAMP)
    clock.advance(0.1)
    assert link.received() == [
        "PA|RN101|ASOK|" + STAMP,
        "PA|RN101|ASRY|" + STAMP + "CTPS P#(none) still outstanding; wait for its PA|",
    ]


def test_records_per_turn_answers_one_request_per_reactor_turn_in_order(hotel, clock):
    """foliogate sim answers one record per reactor turn (records_per_turn=1): the answer to
    the first inquiry of a read goes out before the second is handled, as an IFC answers
    each request as it goes; the order of the answers is the order of the requests."""
    factory = FiasPmsFactory(
        hotel, FaultKnobs(hotel.config.faults), clock=clock, now=lambda: NOW, records_per_turn=1
    )
    client = Link(factory)
    assert client.received() == ["LS|" + STAMP]
    client.send("LD|" + STAMP + "V#1.0|IFWW|", *LINK_RECORDS, "LA|" + STAMP)
    while client.protocol._later is not None:
        clock.advance(0)
    assert client.received()[-1] == "LA|" + STAMP
    client.send("PR|P#1|WSPOS1|PI101|PMROOM|", "PR|P#2|WSPOS1|PI201|PMROOM|")
    first = client.received()
    assert [r.split("|P#")[1].split("|")[0] for r in first] == ["1"]  # the second waits
    clock.advance(0)
    second = client.received()
    assert len(second) == 1 and "|P#2|" in second[0] and second[0].startswith("PL|")


def test_a_connection_lost_with_requests_unanswered_answers_nothing_more(hotel, clock):
    factory = FiasPmsFactory(
        hotel, FaultKnobs(hotel.config.faults), clock=clock, now=lambda: NOW, records_per_turn=1
    )
    client = Link(factory)
    client.received()
    client.send("LD|" + STAMP + "V#1.0|IFWW|", *LINK_RECORDS, "LA|" + STAMP)
    while client.protocol._later is not None:
        clock.advance(0)
    client.received()
    client.send("PR|P#1|WSPOS1|PI101|PMROOM|", "PR|P#2|WSPOS1|PI201|PMROOM|")
    assert len(client.received()) == 1
    client.protocol.connectionLost(None)
    clock.advance(0)
    assert client.received() == []
