"""The simulated hotel ledger: posting semantics of DESIGN section 3, invariants, front desk."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import pytest

from simulators.faults import Faults
from simulators.ledger import (
    DEMO_HOTEL,
    HOUSE_ACCOUNT,
    CodeGroup,
    CodeKind,
    DuplicateReservation,
    FolioLine,
    FolioPosting,
    GroupTotals,
    GuestCheckedIn,
    GuestCheckedOut,
    GuestMoved,
    Hotel,
    HotelConfigError,
    HotelReset,
    InvalidRequest,
    InvalidState,
    Invariant,
    NightAuditEnded,
    NightAuditStarted,
    ReservationState,
    Status,
    UnknownReservation,
    UnknownRoom,
    load_hotel_config,
    parse_hotel_config,
)

NOW = dt.datetime(2026, 11, 27, 10, 4, 5)
BUSINESS_DATE = dt.date(2026, 11, 27)
JANE = 123456  # in house, room 101
GARIBALDI, GANDHI = 200101, 200102  # sharers, room 201
NOPOST = 300001  # in house, room 301, no-post
EARLY = 400001  # reserved, room 102 pre-assigned
GONE = 500001  # checked out


@pytest.fixture
def hotel() -> Hotel:
    return Hotel.from_file(DEMO_HOTEL, now=lambda: NOW)


def line(code, amount, payment_type=None, posting_id=1, reference="", source=""):
    return FolioLine(code, amount, payment_type, reference, BUSINESS_DATE, NOW, source, posting_id)


# -- the hotel file ---------------------------------------------------------------------------


def test_demo_hotel_loads_rooms_codes_maps_and_reservations():
    config = load_hotel_config()
    assert config.name == "Foliogate Demo Hotel"
    assert config.currency == "GBP"
    assert config.business_date == BUSINESS_DATE
    assert config.allow_negative_amounts is False
    assert config.rooms == ("101", "102", "103", "201", "202", "301")
    assert config.codes["SPA_DEPOSIT"].group is CodeGroup.DEPOSIT
    assert config.codes["SPA_DEPOSIT"].kind is CodeKind.CHARGE
    assert config.codes["DEPOSIT_REDEMPTION"].group is CodeGroup.DEPOSIT
    assert config.codes["DEPOSIT_REDEMPTION"].kind is CodeKind.PAYMENT_TYPE
    assert config.codes["ONEJOURNEY"].group is CodeGroup.PAYMENT
    assert config.codes["SPA_TREATMENT"].group is CodeGroup.REVENUE
    assert config.fias.sales_outlets == {
        100: "ROOM_CHARGE",
        200: "FOOD_AND_BEVERAGE",
        210: "SPA_DEPOSIT",
        220: "SPA_TREATMENT",
    }
    assert config.fias.payment_methods == {
        "ROOM": "ROOM",
        "OJ": "ONEJOURNEY",
        "DR": "DEPOSIT_REDEMPTION",
        "CA": "CASH",
        "VI": "VISA",
    }
    assert config.fias.room_payment_methods == ("ROOM",)
    assert config.faults == Faults()
    assert [r.confirmation_number for r in config.reservations] == [
        JANE,
        GARIBALDI,
        GANDHI,
        NOPOST,
        EARLY,
        GONE,
    ]


def test_invalid_hotel_file_lists_every_error(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text(
        """
[hotel]
currency = "pounds"
business_date = "tomorrow"
rooms = ["101"]

[codes.SPA]
group = "spa"

[codes.CASH]
group = "payment"
kind = "payment_type"

[fias.sales_outlets]
210 = "NOPE"
12a = "CASH"
[fias.payment_methods]
CA = "CASH"

[faults]
drop_answers = -1

[[reservations]]
confirmation_number = 1
guest_name = "X"
arrival = 2026-11-27
departure = 2026-11-26
state = "in_house"
room = "999"
"""
    )
    with pytest.raises(HotelConfigError) as exc:
        load_hotel_config(path)
    assert exc.value.errors == [
        "hotel.currency: 'pounds' is not an ISO 4217 code like 'GBP'",
        "hotel.business_date: must be a date like 2026-11-27, got 'tomorrow'",
        "codes.SPA.group: 'spa' is not one of revenue, payment, deposit",
        "fias.sales_outlets.210: 'NOPE' is not a code in [codes]",
        "fias.sales_outlets.12a: a sales outlet is a number of at most 5 digits",
        'fias.payment_methods: at least one PM must map to "ROOM"',
        "reservations[0]: departure 2026-11-26 is before arrival 2026-11-27",
        "reservations[0].room: '999' is not in hotel.rooms",
        "faults.drop_answers: must be a whole number >= 0, got -1",
    ]
    assert str(exc.value).startswith(f"{path}: 9 error(s):\n  - hotel.currency")


def test_missing_hotel_file_is_one_clear_error(tmp_path):
    with pytest.raises(HotelConfigError) as exc:
        load_hotel_config(tmp_path / "missing.toml")
    assert exc.value.errors == ["cannot read the file: No such file or directory"]


def test_sales_outlet_must_map_to_a_charge_and_pm_to_a_payment_type():
    data = {
        "hotel": {"business_date": "2026-11-27", "rooms": ["1"]},
        "codes": {
            "ROOM_CHARGE": {"group": "revenue"},
            "CASH": {"group": "payment", "kind": "payment_type"},
        },
        "fias": {
            "sales_outlets": {"1": "CASH"},
            "payment_methods": {"ROOM": "ROOM", "CA": "ROOM_CHARGE", "TOOLONG": "CASH"},
        },
    }
    with pytest.raises(HotelConfigError) as exc:
        parse_hotel_config(data)
    assert exc.value.errors == [
        "fias.sales_outlets.1: 'CASH' is a payment type; a sales outlet needs a charge code",
        "fias.payment_methods.CA: 'ROOM_CHARGE' is a charge code; a PM needs a payment type",
        "fias.payment_methods.TOOLONG: a payment method is 1 to 5 characters",
    ]


# -- posting semantics (DESIGN section 3) -----------------------------------------------------


def test_deposit_posting_books_the_deposit_code_and_the_settling_payment_type(hotel):
    outcome = hotel.post(
        FolioPosting(
            "OJ",
            5000,
            sales_outlet=210,
            confirmation_number=JANE,
            reference="evt_1",
            source="FIAS PR P#7",
        )
    )
    assert outcome.status is Status.OK
    assert outcome.text == "posted to G#123456"
    expected = (
        line("SPA_DEPOSIT", 5000, reference="evt_1", source="FIAS PR P#7"),
        line("ONEJOURNEY", -5000, "ONEJOURNEY", reference="evt_1", source="FIAS PR P#7"),
    )
    assert outcome.lines == expected
    assert hotel.folio(JANE) == expected
    assert hotel.balance(JANE) == 0
    assert hotel.totals(JANE) == GroupTotals(revenue=0, deposit=5000, payment=-5000)
    assert hotel.payment_type_totals(JANE) == {"ONEJOURNEY": -5000}


def test_redemption_books_revenue_and_deposit_redemption_so_the_deposit_group_nets_zero(hotel):
    hotel.post(FolioPosting("OJ", 5000, sales_outlet=210, confirmation_number=JANE))
    outcome = hotel.post(FolioPosting("DR", 5000, sales_outlet=220, confirmation_number=JANE))
    assert outcome.lines == (
        line("SPA_TREATMENT", 5000, posting_id=2),
        line("DEPOSIT_REDEMPTION", -5000, "DEPOSIT_REDEMPTION", posting_id=2),
    )
    assert hotel.totals(JANE) == GroupTotals(revenue=5000, deposit=0, payment=-5000)
    hotel.check_out(JANE)
    assert hotel.invariants(JANE) == {
        "balance_zero_after_departure": Invariant(True, "balance 0"),
        "deposit_group_nets_zero": Invariant(True, "deposit group nets 0"),
        "revenue_equals_redeemed_items": Invariant(True, "revenue 5000, deposit redeemed 5000"),
    }


def test_negative_posting_journey_also_satisfies_the_invariants():
    """The SOAP profiles clear the deposit with a negative sale on the deposit code."""
    config = replace(load_hotel_config(), allow_negative_amounts=True)
    hotel = Hotel(config, now=lambda: NOW)
    hotel.post(FolioPosting("OJ", 5000, sales_outlet=210, confirmation_number=JANE))
    hotel.post(FolioPosting("ROOM", 5000, sales_outlet=220, confirmation_number=JANE))
    outcome = hotel.post(FolioPosting("ROOM", -5000, sales_outlet=210, confirmation_number=JANE))
    assert outcome.lines == (line("SPA_DEPOSIT", -5000, posting_id=3),)
    hotel.check_out(JANE)
    assert all(inv.holds for inv in hotel.invariants(JANE).values())
    assert hotel.invariants(JANE)["revenue_equals_redeemed_items"].detail == (
        "revenue 5000, deposit redeemed 5000"
    )


def test_room_payment_method_adds_exactly_one_charge_line(hotel):
    outcome = hotel.post(FolioPosting("ROOM", 2500, sales_outlet=200, confirmation_number=JANE))
    assert outcome.lines == (line("FOOD_AND_BEVERAGE", 2500),)
    assert hotel.balance(JANE) == 2500


def test_tender_without_sales_outlet_is_a_payment_line_only(hotel):
    hotel.post(FolioPosting("ROOM", 2500, sales_outlet=200, confirmation_number=JANE))
    outcome = hotel.post(FolioPosting("VI", 2500, confirmation_number=JANE))
    assert outcome.lines == (line("VISA", -2500, "VISA", posting_id=2),)
    assert hotel.balance(JANE) == 0


def test_tender_without_guest_or_room_books_on_the_house_account(hotel):
    outcome = hotel.post(FolioPosting("CA", 1075, sales_outlet=200))
    assert outcome.status is Status.OK
    assert outcome.text == "posted to the house account"
    assert outcome.reservation is None
    assert hotel.folio(HOUSE_ACCOUNT) == (
        line("FOOD_AND_BEVERAGE", 1075),
        line("CASH", -1075, "CASH"),
    )
    assert hotel.trial_balance().codes == {"FOOD_AND_BEVERAGE": 1075}


def test_room_only_posting_goes_to_the_rooms_first_guest(hotel):
    """PS is room-based: with sharers, the guest checked in first carries the charge."""
    outcome = hotel.post(FolioPosting("ROOM", 300, sales_outlet=100, room="201"))
    assert outcome.reservation.confirmation_number == GARIBALDI
    assert hotel.balance(GARIBALDI) == 300
    assert hotel.balance(GANDHI) == 0


def test_subtotals_that_add_up_are_accepted(hotel):
    outcome = hotel.post(
        FolioPosting(
            "ROOM",
            22850,
            sales_outlet=100,
            confirmation_number=JANE,
            components=(8000, 6000, 4000, 2575, 1525, 1050, -1000, 500, 200),
        )
    )
    assert outcome.status is Status.OK


@pytest.mark.parametrize(
    ("posting", "status", "text"),
    [
        (FolioPosting("XX", 100, 100, JANE), Status.UR, "unknown payment method PM 'XX'"),
        (FolioPosting("ROOM", 100, 999, JANE), Status.UR, "unknown sales outlet SO 999"),
        (
            FolioPosting("ROOM", 100, None, JANE),
            Status.UR,
            "a room posting (PM ROOM) needs a sales outlet SO",
        ),
        (
            FolioPosting("ROOM", -100, 100, JANE),
            Status.UR,
            "negative amount TA-100 is not allowed here",
        ),
        (
            FolioPosting("ROOM", 11075, 100, JANE, components=(8000, 2575, 1000)),
            Status.DM,
            "subtotals add up to 11575, not TA 11075",
        ),
        (FolioPosting("ROOM", 100, 100, 999999), Status.NG, "no reservation G#999999"),
        (FolioPosting("ROOM", 100, 100, GONE), Status.NG, "guest G#500001 has checked out"),
        (FolioPosting("OJ", 100, 210, EARLY), Status.NG, "guest G#400001 is not checked in"),
        (
            FolioPosting("ROOM", 100, 100, JANE, room="201"),
            Status.NG,
            "guest G#123456 is not in room 201",
        ),
        (FolioPosting("ROOM", 100, 100, room="202"), Status.NG, "no guest in house in room 202"),
        (FolioPosting("ROOM", 100, 100, room="999"), Status.NG, "no room 999"),
        (
            FolioPosting("ROOM", 100, 100),
            Status.NG,
            "no guest given: a room posting needs RN or G#",
        ),
        (FolioPosting("ROOM", 100, 100, NOPOST), Status.NP, "no-post flag set for G#300001"),
        (FolioPosting("OJ", 100, 210, NOPOST), Status.NP, "no-post flag set for G#300001"),
    ],
)
def test_rejected_postings_say_why_and_book_nothing(hotel, posting, status, text):
    outcome = hotel.post(posting)
    assert (outcome.status, outcome.text, outcome.lines) == (status, text, ())
    assert hotel.trial_balance().net == 0
    assert all(hotel.folio(r.confirmation_number) == () for r in hotel.reservations())


def test_negative_amount_is_booked_when_the_hotel_allows_it():
    hotel = Hotel(replace(load_hotel_config(), allow_negative_amounts=True), now=lambda: NOW)
    outcome = hotel.post(FolioPosting("ROOM", -100, 100, JANE))
    assert outcome.lines == (line("ROOM_CHARGE", -100),)


def test_postings_during_night_audit_are_answered_na(hotel):
    hotel.start_night_audit()
    outcome = hotel.post(FolioPosting("ROOM", 100, 100, JANE))
    assert (outcome.status, outcome.text) == (
        Status.NA,
        "night audit in progress; post after it ends",
    )
    assert hotel.folio(JANE) == ()


# -- invariants -------------------------------------------------------------------------------


def test_invariants_hold_vacuously_before_departure_and_show_current_figures(hotel):
    hotel.post(FolioPosting("OJ", 5000, sales_outlet=210, confirmation_number=JANE))
    assert hotel.invariants(JANE) == {
        "balance_zero_after_departure": Invariant(
            True, "applies after departure (reservation is in_house); now balance 0"
        ),
        "deposit_group_nets_zero": Invariant(
            True, "applies after departure (reservation is in_house); now deposit group nets 5000"
        ),
        "revenue_equals_redeemed_items": Invariant(
            True,
            "applies after departure (reservation is in_house); now revenue 0, deposit redeemed 0",
        ),
    }


def test_invariants_fail_when_a_guest_departs_with_an_unredeemed_deposit_and_open_charges(hotel):
    hotel.post(FolioPosting("OJ", 5000, sales_outlet=210, confirmation_number=JANE))
    hotel.post(FolioPosting("ROOM", 5000, sales_outlet=220, confirmation_number=JANE))
    hotel.check_out(JANE)
    assert hotel.invariants(JANE) == {
        "balance_zero_after_departure": Invariant(False, "balance 5000"),
        "deposit_group_nets_zero": Invariant(False, "deposit group nets 5000"),
        "revenue_equals_redeemed_items": Invariant(False, "revenue 5000, deposit redeemed 0"),
    }


def test_refunded_deposit_counts_as_nothing_redeemed():
    hotel = Hotel(replace(load_hotel_config(), allow_negative_amounts=True), now=lambda: NOW)
    hotel.post(FolioPosting("OJ", 5000, sales_outlet=210, confirmation_number=JANE))
    hotel.post(FolioPosting("OJ", -5000, sales_outlet=210, confirmation_number=JANE))
    hotel.check_out(JANE)
    assert all(inv.holds for inv in hotel.invariants(JANE).values())
    assert hotel.invariants(JANE)["revenue_equals_redeemed_items"].detail == (
        "revenue 0, deposit redeemed 0"
    )


def test_folio_without_deposit_reports_revenue_invariant_as_not_applicable(hotel):
    hotel.post(FolioPosting("ROOM", 700, sales_outlet=200, confirmation_number=JANE))
    hotel.post(FolioPosting("CA", 700, confirmation_number=JANE))
    hotel.check_out(JANE)
    assert hotel.invariants(JANE)["revenue_equals_redeemed_items"] == Invariant(
        True, "no deposit on this folio; revenue 700"
    )
    assert hotel.invariants(JANE)["balance_zero_after_departure"] == Invariant(True, "balance 0")


# -- trial balance and business date ----------------------------------------------------------


def test_trial_balance_totals_per_code_and_payment_type_per_business_date(hotel):
    hotel.post(FolioPosting("OJ", 5000, sales_outlet=210, confirmation_number=JANE))
    hotel.start_night_audit()
    assert hotel.end_night_audit() == dt.date(2026, 11, 28)
    hotel.post(FolioPosting("DR", 5000, sales_outlet=220, confirmation_number=JANE))
    hotel.post(FolioPosting("ROOM", 1200, sales_outlet=200, confirmation_number=GANDHI))
    assert [ln.business_date for ln in hotel.folio(JANE)] == [BUSINESS_DATE] * 2 + [
        dt.date(2026, 11, 28)
    ] * 2
    day1 = hotel.trial_balance(BUSINESS_DATE)
    assert (day1.codes, day1.payment_types, day1.net) == (
        {"SPA_DEPOSIT": 5000},
        {"ONEJOURNEY": -5000},
        0,
    )
    day2 = hotel.trial_balance(dt.date(2026, 11, 28))
    assert day2.codes == {"FOOD_AND_BEVERAGE": 1200, "SPA_TREATMENT": 5000}
    assert day2.payment_types == {"DEPOSIT_REDEMPTION": -5000}
    assert day2.groups == GroupTotals(revenue=6200, deposit=-5000, payment=0)
    assert day2.net == 1200
    everything = hotel.trial_balance()
    assert everything.business_date is None
    assert everything.groups == GroupTotals(revenue=6200, deposit=0, payment=-5000)


def test_night_audit_events_and_state_errors(hotel):
    events = []
    hotel.subscribe(events.append)
    with pytest.raises(InvalidState, match="no night audit is running"):
        hotel.end_night_audit()
    hotel.start_night_audit()
    assert hotel.night_audit_running
    with pytest.raises(InvalidState, match="a night audit is running already"):
        hotel.start_night_audit()
    hotel.end_night_audit()
    assert events == [NightAuditStarted(BUSINESS_DATE), NightAuditEnded(dt.date(2026, 11, 28))]
    assert hotel.business_date == dt.date(2026, 11, 28)


# -- inquiries --------------------------------------------------------------------------------


def test_inquiry_by_room_returns_both_sharers_in_check_in_order(hotel):
    assert [r.confirmation_number for r in hotel.inquire("201")] == [GARIBALDI, GANDHI]


def test_inquiry_by_name_prefix_ignores_case_and_guests_not_in_house(hotel):
    assert [r.confirmation_number for r in hotel.inquire("ga")] == [GARIBALDI, GANDHI]
    assert hotel.inquire("Gone") == []  # checked out
    assert hotel.inquire("Early") == []  # not arrived
    assert hotel.inquire("102") == []  # room with no guest in house


def test_inquiry_respects_max_matches(hotel):
    assert [r.confirmation_number for r in hotel.inquire("G", max_matches=1)] == [GARIBALDI]


# -- front desk -------------------------------------------------------------------------------


def test_check_in_out_and_move_emit_events_with_share_flags(hotel):
    events = []
    hotel.subscribe(events.append)
    early = hotel.check_in(EARLY, "201")  # joins the sharers
    assert (early.state, early.room) == (ReservationState.IN_HOUSE, "201")
    moved = hotel.move(GARIBALDI, "202")
    gone = hotel.check_out(GANDHI)
    assert events == [
        GuestCheckedIn(early, shared=True),
        GuestMoved(moved, old_room="201", shared=False, old_room_shared=True),
        GuestCheckedOut(gone, shared=True),  # EARLY is still in 201
    ]
    assert [r.confirmation_number for r in hotel.guests_in_room("201")] == [EARLY]
    assert hotel.sharers(EARLY) == []


def test_check_in_uses_the_pre_assigned_room(hotel):
    assert hotel.check_in(EARLY).room == "102"


def test_front_desk_refusals_say_why(hotel):
    with pytest.raises(InvalidState, match="reservation 123456 is in_house, not reserved"):
        hotel.check_in(JANE, "102")
    with pytest.raises(InvalidState, match="reservation 500001 is checked_out, not in_house"):
        hotel.check_out(GONE)
    with pytest.raises(UnknownRoom, match="no room '999' in this hotel"):
        hotel.check_in(EARLY, "999")
    with pytest.raises(UnknownReservation, match="no reservation 42"):
        hotel.check_out(42)
    with pytest.raises(InvalidRequest, match="is in room 101 already"):
        hotel.move(JANE, "101")
    hotel.add_reservation(777, "New, Guest", BUSINESS_DATE, BUSINESS_DATE)
    with pytest.raises(InvalidRequest, match="reservation 777 has no room: give one"):
        hotel.check_in(777)


def test_add_reservation_validates_and_refuses_duplicates(hotel):
    added = hotel.add_reservation(
        654321, "Roe, Richard", BUSINESS_DATE, dt.date(2026, 11, 30), room="202", no_post=True
    )
    assert added.state is ReservationState.RESERVED
    assert hotel.reservation(654321) == added
    assert hotel.folio(654321) == ()
    with pytest.raises(DuplicateReservation, match="reservation 654321 exists already"):
        hotel.add_reservation(654321, "X", BUSINESS_DATE, BUSINESS_DATE)
    with pytest.raises(InvalidRequest, match="departure 2026-11-26 is before arrival 2026-11-27"):
        hotel.add_reservation(1, "X", BUSINESS_DATE, dt.date(2026, 11, 26))
    with pytest.raises(InvalidRequest, match="1 to 10 digits"):
        hotel.add_reservation(10**10, "X", BUSINESS_DATE, BUSINESS_DATE)
    with pytest.raises(UnknownRoom):
        hotel.add_reservation(2, "X", BUSINESS_DATE, BUSINESS_DATE, room="999")


def test_reset_restores_the_hotel_file_state(hotel):
    events = []
    hotel.subscribe(events.append)
    hotel.post(FolioPosting("ROOM", 100, 100, JANE))
    hotel.check_out(JANE)
    hotel.start_night_audit()
    hotel.end_night_audit()
    hotel.add_reservation(1, "X", BUSINESS_DATE, BUSINESS_DATE)
    hotel.reset()
    assert events[-1] == HotelReset()
    assert hotel.business_date == BUSINESS_DATE
    assert hotel.reservation(JANE).state is ReservationState.IN_HOUSE
    assert hotel.folio(JANE) == ()
    with pytest.raises(UnknownReservation):
        hotel.reservation(1)


def test_unsubscribe_stops_events(hotel):
    events = []
    unsubscribe = hotel.subscribe(events.append)
    unsubscribe()
    hotel.start_night_audit()
    assert events == []
