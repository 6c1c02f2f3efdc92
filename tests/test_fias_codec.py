"""The codec: generic records, the field table's checks, encodings, and exact error messages."""

from __future__ import annotations

import datetime as dt

import pytest

from protocols.fias import (
    FiasDecodeError,
    FiasEncodeError,
    GuestChange,
    GuestCheckIn,
    LinkRecord,
    LinkStart,
    PostingList,
    PostingRequest,
    Record,
    check_encoding,
    decode,
    decode_record,
    encode,
    encode_record,
)

POSTING = (
    b"PR|SO123|WS456|IDELI|RN2781|G#12345|GNGast, Hr.|TA22850|S18000|S26000|S34000|T12575"
    b"|T21525|T31050|D1-1000|TP500|SC200|C#1234|ST4|DA000915|TI124254|P#1738|PMROOM|"
)


def decode_error(payload: bytes, encoding: str = "cp1252") -> FiasDecodeError:
    with pytest.raises(FiasDecodeError) as caught:
        decode(payload, encoding)
    return caught.value


def encode_error(message: object, encoding: str = "cp1252", **kwargs: int) -> str:
    with pytest.raises(FiasEncodeError) as caught:
        encode(message, encoding, **kwargs)  # type: ignore[arg-type]
    return str(caught.value)


# --- generic records ---------------------------------------------------------------------


def test_record_keeps_repeated_fields_in_wire_order() -> None:
    record = decode_record(b"PL|P#1|RN2781|G#12345|GNGuest|RN2781|G#12381|GNSharer|")
    assert record.record_type == "PL"
    assert record.field_ids == ("P#", "RN", "G#", "GN", "RN", "G#", "GN")
    assert record.get("RN") == "2781"
    assert record.get_all("G#") == ["12345", "12381"]
    assert record.get("BA") is None and record.get("BA", "0") == "0"
    assert "GN" in record and "BA" not in record


def test_unknown_field_ids_are_kept_unchecked() -> None:
    record = decode_record(b"PA|ASOK|ZZ anything \x07 goes|")
    assert record.fields == (("AS", "OK"), ("ZZ", " anything \x07 goes"))


def test_record_types_outside_the_table_are_not_checked() -> None:
    """RT means 'request type' (AN 2) in KR; the LD reading (N 4) must not apply there."""
    assert decode_record(b"KR|RTAB|RN12|") == Record("KR", (("RT", "AB"), ("RN", "12")))


def test_amounts_from_the_pms_may_carry_a_decimal_point() -> None:
    """BA/CL in PL: a '.' is read with two decimals (minor units)."""
    cases = {"12.5": 1250, "-3.05": -305, "12.": 1200, ".5": 50, "12.340": 1234, "7": 7}
    for text, minor_units in cases.items():
        listing = decode(f"PL|P#1|BA{text}|CL{text}|".encode())
        assert isinstance(listing, PostingList)
        assert (listing.balance, listing.credit_limit) == (minor_units, minor_units), text


def test_encode_record_writes_the_trailing_separator_and_frames() -> None:
    assert encode_record(Record("LS", (("DA", "001015"), ("TI", "123045")))) == (
        b"\x02LS|DA001015|TI123045|\x03"
    )
    assert encode_record(Record("LA")) == b"\x02LA|\x03"
    assert encode_record(Record("PL", (("P#", "1"), ("BA", "12.50")))) == b"\x02PL|P#1|BA12.50|\x03"


def test_the_23_field_posting_round_trips_byte_for_byte() -> None:
    assert encode(decode(POSTING)) == b"\x02" + POSTING + b"\x03"
    assert encode_record(decode_record(POSTING)) == b"\x02" + POSTING + b"\x03"


# --- decode errors: record type, field, offset and raw frame, asserted exactly ------------


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (
            b"PR|SO123|WS456|IDELI|RN2781|TA12x5|P#1|PMROOM|",
            "PR field TA at offset 28: 'TA12x5' is not monetary (M): "
            "raw b'PR|SO123|WS456|IDELI|RN2781|TA12x5|P#1|PMROOM|'",
        ),
        (
            b"PR|P#17x|WS1|PMROOM|",
            "PR field P# at offset 3: 'P#17x' is not numeric (N): raw b'PR|P#17x|WS1|PMROOM|'",
        ),
        (
            b"PR|P#123456789|WS1|PMROOM|",
            "PR field P# at offset 3: 'P#123456789' is longer than 8 characters (N max 8): "
            "raw b'PR|P#123456789|WS1|PMROOM|'",
        ),
        (
            b"PR|P#1|WS1|PMROOM|TA10.50|",
            "PR field TA at offset 18: 'TA10.50' has a decimal point; amounts sent to the PMS are "
            "whole minor units (M): raw b'PR|P#1|WS1|PMROOM|TA10.50|'",
        ),
        (
            b"LS|DA001301|TI123045|",
            "LS field DA at offset 3: 'DA001301' is not a date (D, YYMMDD): "
            "raw b'LS|DA001301|TI123045|'",
        ),
        (
            b"LS|DA001015|TI126000|",
            "LS field TI at offset 12: 'TI126000' is not a time (T, HHMMSS): "
            "raw b'LS|DA001015|TI126000|'",
        ),
        (
            "GI|RN1|GGÄ1|".encode("cp1252"),
            "GI field GG at offset 7: 'GGÄ1' is not printable ASCII (AN): raw b'GI|RN1|GG\\xc41|'",
        ),
        (
            b"GI|RN1|GNa\x07b|",
            "GI field GN at offset 7: 'GNa\\x07b' holds the control character 0x07 (ANS): "
            "raw b'GI|RN1|GNa\\x07b|'",
        ),
        (
            b"PR|SO1|WS1|PMROOM|",
            "PR field P# at offset 18: mandatory field is missing: raw b'PR|SO1|WS1|PMROOM|'",
        ),
        (b"PA|RN1|", "PA field AS at offset 7: mandatory field is missing: raw b'PA|RN1|'"),
        (
            b"GI|RN1|GNM\x81ller|",
            "GI field GN at offset 10: byte 0x81 is not cp1252: raw b'GI|RN1|GNM\\x81ller|'",
        ),
        (b"PR|SO1||", "PR at offset 7: empty field (two '|' in a row): raw b'PR|SO1||'"),
        (b"PR|S|", "PR at offset 3: 'S' is too short for a 2-character field id: raw b'PR|S|'"),
        (b"", "record at offset 0: the record is empty: raw b''"),
        (
            b"12345",
            "record at offset 0: the record does not start with a 2-character record type and "
            "'|': raw b'12345'",
        ),
        # typed checks
        (
            b"PA|ASOK|ASNG|",
            "PA field AS at offset 8: 'ASNG' repeats AS, which PA allows once: "
            "raw b'PA|ASOK|ASNG|'",
        ),
        (b"GI|RN1|GSX|", "GI field GS at offset 7: 'GSX' is not Y or N: raw b'GI|RN1|GSX|'"),
        (
            b"PL|P#1|RN1|GNA|",
            "PL field G# at offset 7: the guest that starts here has no G# (a PL guest needs RN, "
            "a G# number and GN): raw b'PL|P#1|RN1|GNA|'",
        ),
        (
            b"PL|P#1|BA1.234|",
            "PL field BA at offset 7: 'BA1.234' has more than 2 decimal places: "
            "raw b'PL|P#1|BA1.234|'",
        ),
        (
            b"PS|RN1|PTM|DA000915|TI124254|M#2|M#3|MA10|",
            "PS field M# at offset 33: 'M#3' follows another M# with no MA between them: "
            "raw b'PS|RN1|PTM|DA000915|TI124254|M#2|M#3|MA10|'",
        ),
        (
            b"PS|RN1|PTM|DA000915|TI124254|MA10|M#2|M#3|",
            "PS field M# at offset 38: M# has no MA to count: "
            "raw b'PS|RN1|PTM|DA000915|TI124254|MA10|M#2|M#3|'",
        ),
        (
            b"LR|RIGI|FLRNG#G|",
            "LR field FL at offset 8: 'FLRNG#G' has an odd length; a field list is 2-character "
            "ids: raw b'LR|RIGI|FLRNG#G|'",
        ),
        (
            b"GC|RN1|GSY|GSN|",
            "GC field GS at offset 11: 'GSN' repeats GS, which GC (after each room) allows once: "
            "raw b'GC|RN1|GSY|GSN|'",
        ),
    ],
)
def test_decode_errors_name_record_field_offset_and_raw(payload: bytes, message: str) -> None:
    error = decode_error(payload)
    assert str(error) == message
    assert error.raw == payload


def test_decode_error_attributes() -> None:
    error = decode_error(b"PR|SO123|WS456|IDELI|RN2781|TA12x5|P#1|PMROOM|")
    assert (error.record_type, error.field_id, error.offset) == ("PR", "TA", 28)
    assert error.problem == "'TA12x5' is not monetary (M)"
    assert isinstance(error, ValueError)


def test_generic_decode_finds_the_same_field_errors() -> None:
    with pytest.raises(FiasDecodeError) as caught:
        decode_record(b"PR|P#1|WS1|PMROOM|TA1x|")
    assert str(caught.value) == (
        "PR field TA at offset 18: 'TA1x' is not monetary (M): raw b'PR|P#1|WS1|PMROOM|TA1x|'"
    )


def test_offsets_count_bytes_not_characters() -> None:
    """In UTF-8 'é' is two bytes: the offset of the field after it moves by two."""
    error = decode_error("PR|GNé|P#x|WS1|PMROOM|".encode(), "utf-8")
    assert (error.field_id, error.offset) == ("P#", 8)


def test_from_record_checks_the_same_way() -> None:
    with pytest.raises(FiasDecodeError) as caught:
        GuestCheckIn.from_record(Record("GI", (("RN", "1"), ("GS", "X"))))
    assert str(caught.value) == "GI field GS at offset 7: 'GSX' is not Y or N: raw b'GI|RN1|GSX|'"
    with pytest.raises(FiasDecodeError) as caught:
        LinkStart.from_record(Record("LA"))
    assert str(caught.value) == "LA at offset 0: 'LA' is not a LS record: raw b'LA|'"


# --- encode errors ----------------------------------------------------------------------


def test_a_value_can_never_hold_the_framing_characters() -> None:
    for character, shown in (("|", "'|'"), ("\x02", "'\\x02'"), ("\x03", "'\\x03'")):
        record = Record("PA", (("AS", "OK"), ("CT", f"a{character}b")))
        with pytest.raises(FiasEncodeError) as caught:
            encode_record(record)
        expected = (
            f"PA field CT: {'CTa' + character + 'b'!r} holds {shown}, which would break the record"
        )
        assert str(caught.value) == expected
    assert encode_error(PostingRequest(1, "456", "ROOM", clear_text="50|50")) == (
        "PR field CT: 'CT50|50' holds '|', which would break the record"
    )
    assert encode_error(Record("XL", (("MT", "\x03"),))) == (
        "XL field MT: 'MT\\x03' holds '\\x03', which would break the record"
    )


def test_characters_the_code_page_cannot_hold_are_an_error_never_replaced() -> None:
    guest = GuestCheckIn("101", 1, guest_name="Łukasz")
    assert encode_error(guest) == "GI field GN: 'GNŁukasz' holds 'Ł', which cp1252 cannot encode"
    assert encode(guest, "utf-8") == "\x02GI|RN101|G#1|GNŁukasz|\x03".encode()
    assert encode(GuestCheckIn("101", 1, guest_name="Müller"), "latin-1") == (
        b"\x02GI|RN101|G#1|GNM\xfcller|\x03"
    )
    assert encode(GuestCheckIn("101", 1, guest_name="Müller"), "cp850") == (
        b"\x02GI|RN101|G#1|GNM\x81ller|\x03"
    )


def test_amounts_to_the_pms_never_carry_a_decimal_point() -> None:
    record = Record("PR", (("P#", "1"), ("WS", "1"), ("PM", "ROOM"), ("TA", "10.50")))
    assert encode_error(record) == (
        "PR field TA: 'TA10.50' has a decimal point; amounts sent to the PMS are whole minor "
        "units (M)"
    )
    posting = PostingRequest(1, "456", "ROOM", total_amount=10.5)  # type: ignore[arg-type]
    assert encode_error(posting) == (
        "PR field TA (total_amount): 10.5 is not an int (amounts are minor units)"
    )


def test_encode_checks_the_field_table_and_mandatory_fields() -> None:
    assert encode_error(PostingRequest(123456789, "456", "ROOM")) == (
        "PR field P#: 'P#123456789' is longer than 8 characters (N max 8)"
    )
    assert encode_error(PostingRequest(None, "456", "ROOM")) == (
        "PR field P#: mandatory field is missing"
    )
    assert encode_error(Record("PR", (("P#", "1"), ("PM", "ROOM")))) == (
        "PR field WS: mandatory field is missing"
    )
    assert encode_error(GuestCheckIn("1", share_flag="Y")) == (  # type: ignore[arg-type]
        "GI field GS (share_flag): 'Y' is not a bool (Y/N)"
    )
    assert encode_error(LinkStart(dt.date(2070, 1, 1))) == (
        "LS field DA (date): datetime.date(2070, 1, 1) has a year outside 1969-2068 (D, YYMMDD)"
    )
    assert encode_error(LinkRecord("GI", ("RN", "G#x"))) == (
        "LR field FL (field_ids): ('RN', 'G#x') is not a sequence of 2-character field ids"
    )


def test_encode_refuses_what_decode_could_not_read_back() -> None:
    assert encode_error(GuestChange("9327", old_share_flag=True)) == (
        "GC field GS (old_share_flag): old_share_flag needs old_room: a GS belongs to the room "
        "field before it"
    )
    assert encode_error(GuestCheckIn("1", extra_fields=(("GN", "x"),))) == (
        "GI field GN (extra_fields): 'GNx' belongs in an attribute of GuestCheckIn, not in "
        "extra_fields"
    )
    assert encode_error(Record("P", ())) == "P: 'P' is not a 2-character record type"
    assert encode_error(Record("PA", (("AS", "OK"), ("C", "x")))) == (
        "PA: 'C' is not a 2-character field id"
    )


def test_records_longer_than_the_limit_are_refused() -> None:
    record = Record("PA", (("AS", "OK"), ("CT", "x" * 2000)))
    assert encode_error(record) == "PA: the record is 2011 bytes, over the 2000-byte limit"
    assert encode_error(Record("PA", (("AS", "OK"),)), max_length=5) == (
        "PA: the record is 8 bytes, over the 5-byte limit"
    )
    assert len(encode(record, max_length=2011)) == 2013


def test_times_are_whole_seconds() -> None:
    """FIAS has no sub-second field: microseconds are dropped, not an error."""
    frame = encode(LinkStart(dt.date(2026, 11, 21), dt.time(10, 4, 5, 999999)))
    assert frame == b"\x02LS|DA261121|TI100405|\x03"


def test_encodings_that_cannot_carry_fias_are_refused() -> None:
    for name in ("utf-16", "shift_jis", "cp037"):
        with pytest.raises(ValueError, match="cannot carry FIAS"):
            check_encoding(name)
    with pytest.raises(LookupError):
        decode(b"LA|", "no-such-codec")
    for name in ("cp1252", "latin-1", "cp850", "utf-8", "ascii"):
        check_encoding(name)
