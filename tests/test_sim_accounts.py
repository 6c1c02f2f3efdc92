"""The simulated hotel's A/R accounts: allocation to invoices, the FIAS A/R inquiry and posting
(RN = account, G#0), the hotel file's [[accounts]] and the control API's GET /accounts."""

from __future__ import annotations

import datetime as dt

import pytest
import pytest_twisted
from twisted.internet.task import Clock
from twisted.web.server import Site

from simulators.accounts import Account, AccountsLedger, Allocation, Invoice, allocate
from simulators.control import ControlResource
from simulators.faults import FaultKnobs
from simulators.fias import FiasPmsFactory
from simulators.ledger import (
    DEMO_HOTEL,
    FolioPosting,
    Hotel,
    HotelConfigError,
    Status,
    load_hotel_config,
    parse_hotel_config,
)

NOW = dt.datetime(2026, 11, 27, 10, 4, 5)
A1 = Invoice("A1", dt.date(2026, 9, 30), 30000)
A2 = Invoice("A2", dt.date(2026, 10, 31), 20000)
A3 = Invoice("A3", dt.date(2026, 11, 15), 15000)


# -- allocation (pure) ------------------------------------------------------------------------


def test_without_named_invoices_a_payment_pays_the_oldest_first_and_the_rest_is_prepaid():
    invoices = [(A3, 15000), (A1, 30000), (A2, 20000)]  # order in the file does not matter
    assert allocate(invoices, 70000) == (
        (Allocation("A1", 30000), Allocation("A2", 20000), Allocation("A3", 15000)),
        (),
        5000,
    )


def test_a_payment_smaller_than_the_oldest_invoice_pays_part_of_it_only():
    assert allocate([(A1, 30000), (A2, 20000)], 12345) == ((Allocation("A1", 12345),), (), 0)


def test_named_invoices_are_paid_in_the_order_named_and_only_they():
    """The payer's choice wins over age; what the named invoices do not take is prepaid, not
    spread over other invoices (that would be a guess)."""
    allocations, unmatched, prepaid = allocate(
        [(A1, 30000), (A2, 20000), (A3, 15000)], 40000, named=["A3", "A2"]
    )
    assert allocations == (Allocation("A3", 15000), Allocation("A2", 20000))
    assert (unmatched, prepaid) == ((), 5000)


def test_named_ids_that_are_not_open_invoices_are_reported_and_paid_nothing():
    allocations, unmatched, prepaid = allocate([(A1, 0), (A2, 20000)], 5000, named=["A1", "Z9"])
    assert (allocations, unmatched, prepaid) == ((), ("A1", "Z9"), 5000)


def test_partly_paid_invoices_take_only_what_they_still_owe():
    assert allocate([(A1, 100), (A2, 20000)], 300) == (
        (Allocation("A1", 100), Allocation("A2", 200)),
        (),
        0,
    )


@pytest.mark.parametrize("amount", [0, -1])
def test_an_a_r_payment_must_be_positive(amount):
    with pytest.raises(ValueError, match="positive"):
        allocate([(A1, 30000)], amount)


def test_the_ledger_keeps_each_invoice_s_remaining_amount_across_payments():
    ledger = AccountsLedger([Account("AR1", "ACME", (A1, A2, A3))])
    ledger.pay("AR1", 40000, "ONEJOURNEY", business_date=NOW.date(), now=NOW)
    second = ledger.pay("AR1", 10000, "ONEJOURNEY", named=["A3"], business_date=NOW.date(), now=NOW)
    assert second.allocations == (Allocation("A3", 10000),)
    assert ledger.remaining("AR1") == {"A1": 0, "A2": 10000, "A3": 5000}
    assert (ledger.prepaid("AR1"), ledger.balance("AR1")) == (0, 15000)


# -- the hotel file ---------------------------------------------------------------------------


def test_the_demo_hotel_has_two_accounts_with_open_invoices():
    config = load_hotel_config(DEMO_HOTEL)
    assert [(a.number, a.name, len(a.invoices)) for a in config.accounts] == [
        ("AR1001", "ACME Travel Ltd", 3),
        ("AR2002", "Globex Events", 1),
    ]
    assert config.accounts[0].invoices == (A1, A2, A3)


def test_bad_accounts_in_the_hotel_file_are_all_reported():
    import tomllib

    data = tomllib.loads(DEMO_HOTEL.read_text(encoding="utf-8"))
    data["accounts"] = [
        {"number": "AR 1", "name": "",
         "invoices": [{"id": "X", "date": "2026-13-01", "amount": 0}]},
        {"number": "AR2", "name": "Two", "colour": "red", "invoices": [
            {"id": "Y", "date": "2026-10-01", "amount": 5}, {"id": "Y", "date": "2026-10-02",
                                                           "amount": 6}]},
    ]  # fmt: skip
    with pytest.raises(HotelConfigError) as caught:
        parse_hotel_config(data)
    assert caught.value.errors == [
        "accounts[0].number: must be a string of 1 to 10 characters without spaces or | "
        "(FIAS RN, inquired by PI)",
        "accounts[0].name: must be a non-empty string",
        "accounts[0].invoices[0].date: must be a date like 2026-10-01",
        "accounts[0].invoices[0].amount: must be a positive integer of minor units",
        "accounts[1]: unknown key(s) colour",
        "accounts[1].invoices[1].id: invoice Y repeats in the account",
    ]


# -- postings through the hotel ---------------------------------------------------------------


@pytest.fixture
def hotel():
    return Hotel.from_file(DEMO_HOTEL, now=lambda: NOW)


def test_an_a_r_posting_pays_the_named_invoices_and_counts_in_the_trial_balance(hotel):
    outcome = hotel.post(
        FolioPosting("OJ", 25000, account="AR1001", invoices=("A2",), reference="A2",
                     source="FIAS PR P#5")
    )  # fmt: skip
    assert (outcome.status, outcome.text) == (
        Status.OK,
        "posted to A/R account AR1001: paid A2 20000; prepaid 5000",
    )
    assert hotel.accounts.remaining("AR1001") == {"A1": 30000, "A2": 0, "A3": 15000}
    assert hotel.accounts.prepaid("AR1001") == 5000
    assert hotel.trial_balance().payment_types == {"ONEJOURNEY": -25000}


@pytest.mark.parametrize(
    ("posting", "status", "text"),
    [
        (FolioPosting("OJ", 100, account="AR9"), Status.NG, "no A/R account AR9"),
        (FolioPosting("ROOM", 100, sales_outlet=100, account="AR1001"), Status.UR,
         "A/R account AR1001 takes payments only: a payment-type PM, no SO"),
        (FolioPosting("OJ", 100, sales_outlet=210, account="AR1001"), Status.UR,
         "A/R account AR1001 takes payments only: a payment-type PM, no SO"),
    ],
    ids=["unknown account", "room PM", "charge"],
)  # fmt: skip
def test_a_r_postings_the_hotel_refuses(hotel, posting, status, text):
    outcome = hotel.post(posting)
    assert (outcome.status, outcome.text) == (status, text)
    assert hotel.accounts.payments("AR1001") == ()


def test_a_r_payments_must_be_positive_even_where_negative_amounts_are_allowed(hotel):
    outcome = hotel.post_to_account("AR1001", -500, "ONEJOURNEY")
    assert (outcome.status, outcome.text) == (
        Status.UR,
        "A/R payments must be positive, not -500; a correction is a reversal",
    )


def test_reset_forgets_a_r_payments(hotel):
    hotel.post_to_account("AR1001", 500, "ONEJOURNEY")
    hotel.reset()
    assert hotel.accounts.payments("AR1001") == ()
    assert hotel.accounts.remaining("AR1001")["A1"] == 30000


# -- over FIAS --------------------------------------------------------------------------------


def frame(text: str) -> bytes:
    return b"\x02" + text.encode("cp1252") + b"\x03"


class Link:
    def __init__(self, factory, pl_fields="P#WSRNG#GNBA"):
        from twisted.internet.testing import StringTransport

        self.transport = StringTransport()
        self.protocol = factory.buildProtocol(None)
        self.protocol.makeConnection(self.transport)
        self.send("LD|DA261127|TI100405|V#1.0|IFPO|", f"LR|RIPL|FL{pl_fields}|", "LA|")
        self.received()

    def send(self, *texts: str) -> None:
        self.protocol.dataReceived(b"".join(frame(t) for t in texts))

    def received(self) -> list[str]:
        data = self.transport.value()
        self.transport.clear()
        return [p.decode("cp1252") for p in data.strip(b"\x02\x03").split(b"\x03\x02") if p]


@pytest.fixture
def factory(hotel):
    return FiasPmsFactory(hotel, FaultKnobs(hotel.config.faults), Clock(), now=lambda: NOW)


def test_fias_a_r_inquiry_lists_the_account_as_rn_with_g0_and_what_it_owes(factory):
    link = Link(factory)
    link.send("PR|P#1|WSFOLIOGATE|PMOJ|PIAR1001|")
    assert link.received() == ["PL|WSFOLIOGATE|RNAR1001|G#0|GNACME Travel Ltd|BA65000|P#1|"]


def test_fias_a_r_posting_after_the_inquiry_allocates_the_invoices_named_in_ct(factory, hotel):
    link = Link(factory)
    link.send("PR|P#1|WSFOLIOGATE|PMOJ|PIAR1001|")
    link.received()
    link.send("PR|P#2|WSFOLIOGATE|RNAR1001|G#0|GNACME Travel Ltd|TA18000|CTA3,A1|PMOJ|")
    (answer,) = link.received()
    assert answer.startswith("PA|WSFOLIOGATE|RNAR1001|G#0|GNACME Travel Ltd|ASOK|")
    assert hotel.accounts.remaining("AR1001") == {"A1": 27000, "A2": 20000, "A3": 0}


def test_fias_a_r_posting_without_an_inquiry_is_refused_like_a_room_posting(factory, hotel):
    link = Link(factory)
    link.send("PR|P#2|WSFOLIOGATE|RNAR1001|G#0|GNACME Travel Ltd|TA18000|PMOJ|")
    (answer,) = link.received()
    assert "|ASUR|CTA/R account AR1001 not inquired; inquire first|" in answer
    assert hotel.accounts.payments("AR1001") == ()


def test_fias_name_inquiry_sends_stay_dates_when_the_client_asked_for_them(factory):
    link = Link(factory, pl_fields="P#WSRNG#GNBAGAGD")
    link.send("PR|P#3|WSPOS1|PMROOM|PIDoe|")
    assert link.received() == ["PL|WSPOS1|RN101|G#123456|GNDoe, Jane|BA0|GA261127|GD261129|P#3|"]


# -- the control API --------------------------------------------------------------------------


@pytest_twisted.inlineCallbacks
def test_control_api_shows_each_invoice_s_remaining_amount_and_the_prepaid_rest(hotel):
    import json

    import treq
    from twisted.internet import reactor

    hotel.post_to_account("AR1001", 70000, "ONEJOURNEY", reference="", source="test")
    resource = ControlResource(hotel, FaultKnobs(hotel.config.faults))
    port = reactor.listenTCP(0, Site(resource), interface="127.0.0.1")
    try:
        base = f"http://127.0.0.1:{port.getHost().port}"
        response = yield treq.get(base + "/accounts/AR1001")
        body = json.loads((yield response.content()))
        assert response.code == 200
        assert {k: body[k] for k in ("number", "name", "currency", "balance", "prepaid")} == {
            "number": "AR1001",
            "name": "ACME Travel Ltd",
            "currency": "GBP",
            "balance": -5000,
            "prepaid": 5000,
        }
        assert [(i["id"], i["amount"], i["paid"], i["remaining"]) for i in body["invoices"]] == [
            ("A1", 30000, 30000, 0),
            ("A2", 20000, 20000, 0),
            ("A3", 15000, 15000, 0),
        ]
        (payment,) = body["payments"]
        assert payment["allocations"] == [
            {"invoice": "A1", "amount": 30000},
            {"invoice": "A2", "amount": 20000},
            {"invoice": "A3", "amount": 15000},
        ]
        missing = yield treq.get(base + "/accounts/NOPE")
        assert (missing.code, json.loads((yield missing.content()))) == (
            404,
            {"error": "no A/R account 'NOPE'"},
        )
        listing = json.loads((yield (yield treq.get(base + "/accounts")).content()))
        assert [a["number"] for a in listing["accounts"]] == ["AR1001", "AR2002"]
    finally:
        yield port.stopListening()
