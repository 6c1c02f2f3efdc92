"""The spec as data: field table, record table, answer statuses, and the pretty-printer."""

from __future__ import annotations

import doctest
import importlib

import pytest

from protocols.fias import (
    ANSWER_STATUSES,
    FIELDS,
    MESSAGE_TYPES,
    RECORD_TYPES,
    Direction,
    Format,
    PostingAnswer,
    Record,
    RetryClass,
    answer_status,
    pretty,
)
from protocols.fias.records import PLANS

# Every Appendix A field id that the 18 record types use (reference fias.md, Appendix A and
# sections 2.2, 3.3-3.6, 5.1), written out by hand from the reference.
APPENDIX_A_IDS = (
    set(
        "$2 +0 AS BA C# CG CL CO CS CT CV DA DD DU EN EP ES EO EI ET FL G# G+ GA GD GF GN GT GG GL "
        "GV GS ID IF M# MA MP MR MX NP P# PC PH PI PM PT PX RI RL RN RO RP RT SC SF SO ST T# TA TI "
        "TP TV V# VR WS X1".split()
    )
    | {f"{p}{n}" for p in "STD" for n in range(1, 10)}
    | {f"A{n}" for n in range(10)}
)


def test_the_field_table_holds_exactly_the_ids_our_records_use() -> None:
    used = {fid for spec in RECORD_TYPES.values() for fid in spec.fields}
    assert set(FIELDS) == APPENDIX_A_IDS == used


def test_the_record_table_has_the_eighteen_record_types() -> None:
    assert sorted(RECORD_TYPES) == sorted(
        "LS LD LR LA LE LC DR DS DE NS NE GI GO GC PS PR PL PA".split()
    )
    for spec in RECORD_TYPES.values():
        assert len(set(spec.fields)) == len(spec.fields), spec.record_type


def test_field_entries_have_name_format_and_length() -> None:
    assert FIELDS["TA"].format is Format.M and FIELDS["TA"].max_length == 15
    assert FIELDS["P#"].format is Format.N and FIELDS["P#"].max_length == 8
    assert FIELDS["DA"].format is Format.D and FIELDS["TI"].format is Format.T
    assert FIELDS["GN"].format is Format.ANS and FIELDS["GN"].max_length == 200
    assert FIELDS["WS"].name == "Workstation ID"


def test_disagreements_are_read_leniently() -> None:
    """Reference section 9.10: BA may carry a decimal point from the PMS (M, not N); G+ is AN 10
    (not N 10); $2 is AN 40 (not N 19). CT's per-record limits are not enforced."""
    assert (FIELDS["BA"].format, FIELDS["BA"].max_length) == (Format.M, 20)
    assert (FIELDS["G+"].format, FIELDS["G+"].max_length) == (Format.AN, 10)
    assert (FIELDS["$2"].format, FIELDS["$2"].max_length) == (Format.AN, 40)
    assert FIELDS["CT"].max_length is None
    assert RECORD_TYPES["PL"].direction is Direction.FROM_PMS  # so BA/CL may hold '.'


def test_mandatory_fields() -> None:
    """Records we send: the spec's mandatory fields. Records from the PMS: what is needed to
    act on them (the spec's own examples omit the rest)."""
    mandatory = {rt: spec.mandatory for rt, spec in RECORD_TYPES.items() if spec.mandatory}
    assert mandatory == {
        "LD": ("IF", "V#"),
        "LR": ("RI", "FL"),
        "GI": ("RN",),
        "GO": ("RN",),
        "GC": ("RN",),
        "PS": ("RN", "PT", "DA", "TI"),
        "PR": ("P#", "WS", "PM"),
        "PL": ("P#",),
        "PA": ("AS",),
    }


def test_each_typed_class_maps_every_field_of_its_record_type() -> None:
    """Nothing the record table lists for a type ends up in extra_fields."""
    for rt, plan in PLANS.items():
        assert plan.mapped_ids == set(RECORD_TYPES[rt].fields), rt
        assert MESSAGE_TYPES[rt] is plan.cls


def test_answer_status_retry_classes() -> None:
    codes = "OK UR RY NA NG NP CO DM IA FX DN BM CD NF NM BY NR DE AA AN".split()
    assert set(codes) <= set(ANSWER_STATUSES)
    assert answer_status("OK").retry_class is RetryClass.POSTED
    assert answer_status("RY").retry_class is RetryClass.RETRYABLE
    assert answer_status("NA").retry_class is RetryClass.WAIT_NIGHT_AUDIT
    for code in set(codes) - {"OK", "RY", "NA"}:
        assert answer_status(code).retry_class is RetryClass.TERMINAL, code
    assert answer_status("NG").meaning == "Guest not found"


def test_busy_is_terminal_for_postings() -> None:
    """BY is defined for wakeup/key services only; re-sending a posting on it risks a double
    charge, so it goes to an operator (see spec.py)."""
    assert answer_status("BY").retry_class is RetryClass.TERMINAL


def test_unknown_answer_status_is_terminal() -> None:
    status = answer_status("ZZ")
    assert (status.code, status.meaning, status.retry_class) == (
        "ZZ",
        "unknown answer status",
        RetryClass.TERMINAL,
    )


# --- pretty ----------------------------------------------------------------------------


def test_pretty_lists_fields_with_names_and_readings() -> None:
    text = pretty(b"\x02PA|SO123|WS456|ASNG|CTINVALID ROOM|CT|P#1735|DA000915|\x03")
    assert text == (
        "PA Posting Answer (PMS to vendor)\n"
        "  SO  Sales outlet             123\n"
        "  WS  Workstation ID           456\n"
        "  AS  Answer status            NG  (Guest not found; terminal)\n"
        "  CT  Clear text               INVALID ROOM\n"
        "  CT  Clear text               (empty)\n"
        "  P#  Posting sequence number  1735\n"
        "  DA  Date                     000915  (2000-09-15)"
    )


def test_pretty_uses_record_specific_names_and_shows_hidden_characters() -> None:
    assert pretty(Record("LC", (("A1", "6.20"), ("ZZ", " x\r")))) == (
        "LC Link Configuration (PMS to vendor)\n"
        "  A1  PMS version    6.20\n"
        "  ZZ  unknown field  ' x\\r'"
    )
    assert pretty(Record("XL", (("RN", "1"),))) == (
        "XL (record type not in the spec table)\n  RN  Room number  1"
    )


def test_pretty_of_a_typed_message() -> None:
    assert pretty(PostingAnswer("OK", posting_number=7)) == (
        "PA Posting Answer (PMS to vendor)\n"
        "  AS  Answer status            OK  (Command/request completed successfully; posted)\n"
        "  P#  Posting sequence number  7"
    )


def test_pretty_docstring_example() -> None:
    module = importlib.import_module("protocols.fias.pretty")  # the name is also the function
    assert doctest.testmod(module).failed == 0


@pytest.mark.parametrize("record_type", sorted(RECORD_TYPES))
def test_every_record_type_has_a_name(record_type: str) -> None:
    assert RECORD_TYPES[record_type].name
    assert pretty(Record(record_type)).startswith(f"{record_type} {RECORD_TYPES[record_type].name}")
