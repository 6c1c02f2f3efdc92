"""Fault knob settings: validation with every error named, merging, and counters that run down."""

import pytest

from simulators.faults import FaultKnobs, Faults, FaultsError, parse_faults


def test_parse_merges_onto_the_base_and_keeps_other_knobs():
    base = Faults(delay_ms=100)
    assert parse_faults({"drop_answers": 2}, base) == Faults(delay_ms=100, drop_answers=2)


def test_parse_lists_every_invalid_knob():
    with pytest.raises(FaultsError) as exc:
        parse_faults(
            {
                "split_writes": True,
                "garbage": "a\x02b",
                "hold_night_audit": "yes",
                "reject_count": 2,
            }
        )
    assert exc.value.errors == [
        "split_writes: must be a whole number >= 0, got True",
        "garbage: must not hold STX or ETX (they would frame it)",
        "hold_night_audit: must be true or false",
        "reject_count: needs reject_status (RY, NA or UR)",
    ]


def test_non_latin1_garbage_and_non_mapping_are_refused():
    with pytest.raises(FaultsError, match="garbage: only latin-1 characters"):
        parse_faults({"garbage": "€"})
    with pytest.raises(FaultsError, match="faults must be an object"):
        parse_faults([1])


def test_drop_reject_and_close_counters_run_down_then_stop():
    knobs = FaultKnobs(
        Faults(drop_answers=1, reject_status="NA", reject_count=2, close_after_records=2)
    )
    assert [knobs.take_drop(), knobs.take_drop()] == [True, False]
    assert [knobs.take_reject(), knobs.take_reject(), knobs.take_reject()] == ["NA", "NA", None]
    assert [knobs.take_record(), knobs.take_record(), knobs.take_record()] == [False, True, False]
    assert knobs.current == Faults(reject_status="NA")


def test_update_validates_before_changing_anything():
    knobs = FaultKnobs()
    with pytest.raises(FaultsError):
        knobs.update({"delay_ms": 5, "drop_answers": "x"})
    assert knobs.current == Faults()
    assert knobs.update({"delay_ms": 5}).to_json()["delay_ms"] == 5
