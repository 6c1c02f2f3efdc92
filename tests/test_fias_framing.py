"""The STX/ETX framer: any chunking, several records per read, noise, oversize, broken frames."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocols.fias import FiasEncodeError, Framer, FramingError, frame

LS = b"LS|DA001015|TI123045|"
LA = b"LA|DA001015|TI123047|"
PA = b"PA|RN2781|ASOK|P#1732|DA000915|TI124254|"


def feed_all(framer: Framer, chunks: list[bytes]) -> list[bytes | FramingError]:
    return [item for chunk in chunks for item in framer.feed(chunk)]


def test_several_records_in_one_read_come_out_in_order() -> None:
    data = frame(LS) + frame(LA) + frame(PA)
    assert Framer().feed(data) == [LS, LA, PA]


def test_a_record_split_across_reads_waits_for_its_etx() -> None:
    framer = Framer()
    assert framer.feed(b"\x02LS|DA0010") == []
    assert framer.buffered == len(b"LS|DA0010")
    assert framer.feed(b"15|TI123045|\x03\x02LA") == [LS]
    assert framer.feed(b"|DA001015|TI123047|\x03") == [LA]
    assert framer.buffered == 0


def test_noise_between_frames_is_skipped_silently() -> None:
    """Bytes outside frames (line noise, a serial LRC after ETX, CR/LF) are not records."""
    data = b"\r\n\x00junk" + frame(LS) + b"|" + b"\x06\x15" + frame(LA) + b"\xff\r\n"
    assert Framer().feed(data) == [LS, LA]


def test_empty_fields_and_missing_trailing_separator_pass_through() -> None:
    """The framer does not look inside payloads: WC|RN2781|DA|TI| and a record without its
    trailing | are delivered as they are."""
    assert Framer().feed(b"\x02WC|RN2781|DA|TI|\x03\x02GI|G#123|RN101\x03") == [
        b"WC|RN2781|DA|TI|",
        b"GI|G#123|RN101",
    ]


def test_oversize_record_is_one_error_and_the_stream_goes_on() -> None:
    """A payload over 2000 bytes is reported once (with its first 2001 bytes); its remaining
    bytes are dropped up to its ETX; the next frame is delivered."""
    big = b"XL|MT" + b"x" * 2500 + b"|"
    out = Framer().feed(frame(big) + frame(LS))
    assert out == [FramingError("record longer than 2000 bytes", big[:2001]), LS]


def test_a_record_of_exactly_the_limit_is_delivered() -> None:
    payload = b"XL|MT" + b"x" * (2000 - 6) + b"|"
    assert len(payload) == 2000
    assert Framer().feed(frame(payload)) == [payload]


def test_the_limit_is_configurable() -> None:
    framer = Framer(max_length=10)
    assert framer.feed(frame(b"LA|") + frame(LS) + frame(b"LE|")) == [
        b"LA|",
        FramingError("record longer than 10 bytes", LS[:11]),
        b"LE|",
    ]
    with pytest.raises(ValueError):
        Framer(max_length=0)


def test_oversize_without_etx_is_reported_before_the_etx_arrives() -> None:
    """An endless frame must not grow the buffer: the error comes as soon as the limit is
    passed, and later bytes are dropped until the next STX."""
    framer = Framer(max_length=8)
    assert framer.feed(b"\x02LS|DA0010") == [
        FramingError("record longer than 8 bytes", b"LS|DA0010")
    ]
    assert framer.buffered == 0
    assert framer.feed(b"15" * 1000) == []
    assert framer.feed(b"\x03garbage\x02LA|\x03") == [b"LA|"]


def test_etx_without_stx_is_an_error_with_the_bytes_before_it() -> None:
    """Joining a stream mid-frame: the tail of a frame whose STX we never saw."""
    assert Framer().feed(b"TI123045|\x03" + frame(LA)) == [
        FramingError("ETX without STX", b"TI123045|"),
        LA,
    ]


def test_stx_inside_a_frame_reports_the_cut_frame_and_keeps_the_new_one() -> None:
    assert Framer().feed(b"\x02LS|DA0010\x02LA|\x03") == [
        FramingError("STX inside a frame (the frame before it has no ETX)", b"LS|DA0010"),
        b"LA|",
    ]


def test_empty_frame_is_an_error() -> None:
    assert Framer().feed(b"\x02\x03" + frame(LA)) == [FramingError("empty frame", b""), LA]


def test_flush_reports_an_unfinished_frame() -> None:
    framer = Framer()
    framer.feed(b"\x02LS|DA")
    assert framer.flush() == [FramingError("frame has no ETX", b"LS|DA")]
    assert framer.flush() == []
    assert framer.feed(frame(LA)) == [LA]


def test_frame_refuses_a_payload_that_would_break_the_stream() -> None:
    assert frame(LS) == b"\x02" + LS + b"\x03"
    with pytest.raises(FiasEncodeError) as caught:
        frame(b"LS|DA\x03|")
    assert str(caught.value) == "LS: payload holds STX or ETX, which would break the framing"


# A stream of good frames, oversize frames, broken pieces and noise.
_payload = st.binary(max_size=40).map(lambda b: b.replace(b"\x02", b"").replace(b"\x03", b""))
_piece = st.one_of(
    _payload.filter(bool).map(frame),
    st.binary(min_size=50, max_size=80).map(
        lambda b: frame(b.replace(b"\x02", b"x").replace(b"\x03", b"x"))
    ),
    st.sampled_from([b"\x02", b"\x03", b"\x02\x03", b"\r\n", b"\x06"]),
    _payload,
)


@settings(max_examples=150, deadline=None)
@given(pieces=st.lists(_piece, max_size=8), cuts=st.lists(st.integers(0, 400), max_size=10))
def test_output_does_not_depend_on_how_the_stream_is_cut(
    pieces: list[bytes], cuts: list[int]
) -> None:
    """Whatever the bytes and wherever the reads split them, the framer returns the same
    payloads and errors as for one read of the whole stream."""
    stream = b"".join(pieces)
    whole = Framer(max_length=48)
    expected = whole.feed(stream) + whole.flush()
    points = sorted({min(c, len(stream)) for c in cuts} | {0, len(stream)})
    split = Framer(max_length=48)
    chunks = [stream[a:b] for a, b in zip(points, points[1:], strict=False)]
    got = feed_all(split, chunks) + split.flush()
    assert got == expected
    for item in got:
        if isinstance(item, bytes):
            assert 0 < len(item) <= 48 and b"\x02" not in item and b"\x03" not in item
        else:
            assert len(item.raw) <= 49
