"""Reading only part of a SOAP answer (adapters/soap_channel.py ``read_reply(only=...)``).

The balance read-back after a journey needs the result and the folio's balance, not every line
of the folio; zeep reads just those elements, each through its own XSD type, from the tree the
hardened parser made. What these tests protect: the same values as reading the whole answer, a
missing element read as None, and an answer for another operation refused, not misread.
"""

from __future__ import annotations

import datetime as dt

import pytest
from soap_test_pms import ANSWER_STAMP, NOW, property_config
from twisted.internet import task

from adapters.soap_channel import HttpAnswer, make_soap_channel
from protocols.htng import opera_htng as oh
from protocols.htng.money import Money
from protocols.soap import Credentials


@pytest.fixture
def opera():
    return make_soap_channel(
        property_config("opera-htng", "http://127.0.0.1:9/pms"),
        reactor=task.Clock(),
        credentials=Credentials("u", "p"),
        now=lambda: NOW,
        on_posting_written=lambda *args: None,
        on_frame=lambda *args, **kw: None,
    )


def folio_answer(lines: int, balance: int | None = None) -> HttpAnswer:
    folio = oh.Folio(
        "123456",
        tuple(
            oh.FolioLine(
                n,
                1,
                oh.LineKind.CHARGE,
                "SPA_DEPOSIT",
                Money(100, "GBP", 2),
                dt.date(2026, 11, 27),
                f"evt_{n}/0",
                "Massage",
            )
            for n in range(lines)
        ),
        Money(100 * lines if balance is None else balance, "GBP", 2),
    )
    body = oh.build_fetch_folio_response(
        oh.FetchFolioResponse(oh.Result.success(), folio), relates_to=None, stamp=ANSWER_STAMP
    )
    return HttpAnswer(200, {"Content-Type": "text/xml; charset=utf-8"}, body)


def test_the_result_and_the_balance_read_alone_equal_the_whole_answers(opera):
    answer = folio_answer(lines=25)
    whole = opera.read_reply("FetchFolio", answer).result
    part = opera.read_reply("FetchFolio", answer, only=("Result", "Folio/Balance")).result
    assert part.Result.resultStatusFlag == whole.Result.resultStatusFlag == "SUCCESS"
    assert (part.Folio.Balance._value_1, part.Folio.Balance.currencyCode) == (2500, "GBP")
    assert part.Folio.Balance == whole.Folio.Balance
    assert not hasattr(part.Folio, "Line")  # the lines were not read


def test_a_missing_element_reads_as_none(opera):
    body = oh.build_fetch_folio_response(
        oh.FetchFolioResponse(oh.Result.fail("RESERVATION_NOT_FOUND", "no reservation 9")),
        relates_to=None,
        stamp=ANSWER_STAMP,
    )
    answer = HttpAnswer(200, {"Content-Type": "text/xml"}, body)
    part = opera.read_reply("FetchFolio", answer, only=("Result", "Folio/Balance")).result
    assert part.Folio is None
    assert (part.Result.resultStatusFlag, part.Result.Text) == ("FAIL", "no reservation 9")


def test_an_answer_of_another_operation_is_refused(opera):
    body = oh.build_post_charge_response(
        oh.PostChargeResponse(oh.Result.success(), 42), relates_to=None, stamp=ANSWER_STAMP
    )
    reply = opera.read_reply(
        "FetchFolio", HttpAnswer(200, {}, body), only=("Result", "Folio/Balance")
    )
    assert reply.result is None
    assert reply.problem == (
        "the FetchFolio answer cannot be read: the answer holds PostChargeResponse, "
        "not FetchFolioResponse"
    )
