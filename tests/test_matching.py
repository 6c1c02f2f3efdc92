"""Matching (adapters.matching): the name prefixes searched, and the documented scoring and
ranking of the PMS records a search returns."""

from __future__ import annotations

import datetime as dt

import pytest

from adapters.matching import (
    MAX_CANDIDATES,
    PmsGuest,
    name_tokens,
    rank_candidates,
    score_candidate,
    search_terms,
)

PAID = dt.date(2026, 11, 27)
JANE = PmsGuest("123456", "Doe, Jane", "101", dt.date(2026, 11, 27), dt.date(2026, 11, 29), 0)


def score(guest: PmsGuest, **facts) -> int:
    args = {"guest_name": "Jane Doe", "amount": 5000, "currency": "GBP", "paid_on": PAID}
    args.update(facts)
    return score_candidate(guest, **args)[0]


@pytest.mark.parametrize(
    ("name", "terms"),
    [
        ("Jane Doe", ("Doe", "Jane")),
        ("Doe, Jane", ("Doe", "Jane")),
        ("Mr. John Smith-Jones", ("Smith-Jone", "John")),
        ("Garibaldi, Mr.", ("Garibaldi",)),
        ("Cher", ("Cher",)),
        ("J Doe", ("Doe",)),  # a one-letter word would list half the hotel
        ("Ōtani|Shohei", ("ŌtaniShohe",)),  # no FIAS separator in PI
        (None, ()),
    ],
)
def test_search_terms_are_the_surname_then_the_first_word_cut_to_fias_pi(name, terms):
    assert search_terms(name) == terms


def test_names_fold_case_accents_punctuation_and_titles():
    assert name_tokens("DOE, Mrs. JANE") == ("doe", "jane")
    assert name_tokens("Müller-Lüdenscheidt, Herr") == ("muller", "ludenscheidt")


def test_the_right_guest_with_the_stay_and_the_balance_scores_100():
    guest = PmsGuest("123456", "Doe, Jane", "101", dt.date(2026, 11, 27), dt.date(2026, 11, 29),
                     5000)  # fmt: skip
    points, reasons = score_candidate(
        guest, guest_name="Jane Doe", amount=5000, currency="GBP", paid_on=PAID
    )
    assert points == 100
    assert reasons == (
        "name 'Doe, Jane' vs 'Jane Doe': 100% alike (60/60)",
        "paid 2026-11-27, within the stay 2026-11-27..2026-11-29 (25/25)",
        "open balance 50.00 GBP equals the payment (15/15)",
    )


def test_stay_points_fall_by_five_a_day_outside_the_stay():
    """A deposit paid two days before arrival still scores 15 of 25 for the stay."""
    assert score(JANE, paid_on=dt.date(2026, 11, 25)) == 60 + 15
    assert score(JANE, paid_on=dt.date(2026, 11, 30)) == 60 + 20
    assert score(JANE, paid_on=dt.date(2026, 12, 10)) == 60


def test_the_booking_s_own_dates_can_vouch_for_the_stay():
    far = dt.date(2026, 10, 1)
    assert score(JANE, paid_on=far) == 60
    assert score(JANE, paid_on=far, arrival=JANE.arrival, departure=JANE.departure) == 85
    assert score(JANE, paid_on=far, arrival=JANE.arrival) == 60 + 12


def test_no_stay_dates_and_no_balance_score_nothing_for_them():
    bare = PmsGuest("123456", "Doe, Jane")
    points, reasons = score_candidate(
        bare, guest_name="Jane Doe", amount=5000, currency="GBP", paid_on=PAID
    )
    assert points == 60
    assert reasons[1:] == ("the PMS gave no stay dates (0/25)", "no balance to compare (0/15)")


def test_ranking_is_by_score_then_confirmation_number():
    found = [
        PmsGuest("200101", "Garibaldi, Mr.", "201", dt.date(2026, 11, 26), dt.date(2026, 11, 30)),
        PmsGuest("300002", "Doe, John", "302", dt.date(2026, 11, 26), dt.date(2026, 11, 28)),
        JANE,
        PmsGuest("300001", "Doe, John", "301", dt.date(2026, 11, 26), dt.date(2026, 11, 28)),
        JANE,  # found again by the second search term: listed once
    ]
    ranked = rank_candidates(
        found, guest_name="Jane Doe", amount=5000, currency="GBP", paid_on=PAID
    )
    assert [(c.rank, c.confirmation_number, c.score) for c in ranked] == [
        (1, "123456", 85),
        (2, "300001", 70),  # "doe john" vs "doe jane": 75% alike, 45 + 25 for the stay
        (3, "300002", 70),
        (4, "200101", 32),
    ]
    assert ranked[0].room == "101" and ranked[0].balance == 0


def test_at_most_ten_candidates_are_kept():
    found = [PmsGuest(str(100000 + n), f"Doe, Person{n}") for n in range(15)]
    ranked = rank_candidates(found, guest_name="Jane Doe", amount=None, currency="GBP",
                             paid_on=None)  # fmt: skip
    assert len(ranked) == MAX_CANDIDATES
    assert [c.rank for c in ranked] == list(range(1, 11))


# -- the finder (run by the dispatcher) ------------------------------------------------------------


def finder_setup(tmp_path, search):
    from types import SimpleNamespace

    from twisted.internet import task

    from adapters.domain import Booking, EventType, Payment, PaymentEvent, PaymentKind
    from adapters.journal import Journal
    from adapters.matching import CandidateFinder

    now = dt.datetime(2026, 11, 27, 12, 0, tzinfo=dt.UTC)
    journal = Journal(str(tmp_path / "j.sqlite"), reactor=task.Clock(), now=lambda: now)
    event = PaymentEvent(
        "evt_blank", EventType.PAYMENT_SUCCEEDED, "GRAND-LONDON",
        dt.datetime(2026, 11, 27, 10, 4, 5, tzinfo=dt.UTC),
        payment=Payment(PaymentKind.BALANCE, 5000, "GBP", "pi_1", "onejourney", "succeeded"),
        booking=Booking("", "Jane Doe"),
    )  # fmt: skip
    body = (
        b'{"booking":{"confirmation_number":"","guest_name":"Jane Doe"},"event_id":"evt_blank",'
        b'"occurred_at":"2026-11-27T10:04:05Z","payment":{"amount":5000,"currency":"GBP"}}'
    )
    plan = SimpleNamespace(outcome="exception", reason="no number", legs=(), by_hand=(),
                           target="reservation", match_reason="no confirmation number")  # fmt: skip
    journal.record_event(event, body, plan)
    prop = SimpleNamespace(name="GRAND-LONDON", currency="GBP", profile="fias")
    return journal, CandidateFinder(journal, prop, search)


def test_the_finder_searches_each_term_ranks_and_journals_once(tmp_path):
    from twisted.internet import defer

    asked = []

    def search(term):
        asked.append(term)
        return defer.succeed([JANE] if term == "Doe" else [])

    journal, finder = finder_setup(tmp_path, search)
    assert finder.has_work()
    finder.run()
    assert asked == ["Doe", "Jane"] and not finder.has_work()
    match = journal.match("evt_blank")
    assert [(c.confirmation_number, c.score) for c in match.candidates] == [("123456", 85)]
    journal.close()


def test_a_search_the_pms_cannot_answer_now_stays_pending(tmp_path):
    from twisted.internet import defer

    journal, finder = finder_setup(tmp_path, lambda term: defer.succeed(None))
    finder.run()
    assert finder.has_work()
    journal.close()


def test_a_search_that_fails_is_journaled_and_never_blocks_the_queue(tmp_path):
    """A name the link cannot encode (or any error) ends the search with a note; the match is
    no longer pending, so the dispatcher's next pass goes on to the postings."""
    from twisted.internet import defer

    journal, finder = finder_setup(tmp_path, lambda term: defer.fail(ValueError("PI: cp1252")))
    finder.run()
    assert not finder.has_work()
    assert journal.match("evt_blank").search_note == (
        "the PMS search by 'Doe' failed (PI: cp1252); assign the record by hand"
    )
    journal.close()


def test_an_idle_finder_asks_the_journal_again_only_after_a_new_match_is_requested(tmp_path):
    """has_work() runs on every dispatcher pass: once the journal had nothing due, it is not
    queried again until a match is requested (or a leg rejected); then the new one is found."""
    from twisted.internet import defer

    journal, finder = finder_setup(tmp_path, lambda term: defer.succeed([JANE]))
    finder.run()
    queries = []
    journal._db.set_trace_callback(queries.append)
    assert not finder.has_work()
    assert any("FROM matches" in q for q in queries)
    queries.clear()
    assert not finder.has_work() and not finder.has_work()
    assert queries == []  # nothing due, nothing asked

    journal.request_match("evt_blank", "AS NG: the PMS does not know 123456")
    assert finder.has_work()  # asked again, and the new request is due
    journal._db.set_trace_callback(None)
    journal.close()
