"""``foliogate fias decode``: text, escaped and hex frames, stdin, and bad frames."""

from __future__ import annotations

import io

import pytest

from adapters.cli import main

LS_LISTING = (
    "LS Link Start (both ways)\n  DA  Date  001015  (2000-10-15)\n  TI  Time  123045  (12:30:45)\n"
)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["fias", "decode", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_plain_text_frame(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "LS|DA001015|TI123045|") == (0, LS_LISTING, "")


@pytest.mark.parametrize(
    "frame",
    [
        "\\x02LS|DA001015|TI123045|\\x03",
        "<STX>LS|DA001015|TI123045|<ETX>",
        "<stx>LS|DA001015|TI123045|<etx>\\r\\n",
        "02 4c 53 7c 44 41 30 30 31 30 31 35 7c 54 49 31 32 33 30 34 35 7c 03",
        "024c537c4441303031303135 7c5449313233303435 7c03",
        "4c537c4441303031303135 7c5449313233303435 7c",
    ],
)
def test_escaped_and_hex_frames(capsys: pytest.CaptureFixture[str], frame: str) -> None:
    assert run(capsys, frame) == (0, LS_LISTING, "")


def test_several_frames_in_one_argument_and_several_arguments(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, err = run(capsys, "<STX>LA|<ETX>noise<STX>LE|<ETX>", "PA|ASRY|")
    assert (code, err) == (0, "")
    assert out == (
        "LA Link Alive (both ways)\n"
        "\n"
        "LE Link End (both ways)\n"
        "\n"
        "PA Posting Answer (PMS to vendor)\n"
        "  AS  Answer status  RY  (Retry; retryable)\n"
    )


def test_frames_from_stdin_one_per_line(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("LS|DA001015|TI123045|\r\n\n   \nLA|\n"))
    code, out, err = run(capsys)
    assert (code, err) == (0, "")
    assert out == LS_LISTING + "\nLA Link Alive (both ways)\n"


def test_a_bad_frame_prints_its_error_and_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "PR|P#1|WS1|PMROOM|TA10.50|", "LA|")
    assert code == 1
    assert out == "LA Link Alive (both ways)\n"
    assert err == (
        "foliogate fias decode: PR field TA at offset 18: 'TA10.50' has a decimal point; amounts "
        "sent to the PMS are whole minor units (M): raw b'PR|P#1|WS1|PMROOM|TA10.50|'\n"
    )


def test_typed_errors_count_as_bad_frames(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "GI|RN1|GSX|")
    assert (code, out) == (1, "")
    assert err == (
        "foliogate fias decode: GI field GS at offset 7: 'GSX' is not Y or N: raw b'GI|RN1|GSX|'\n"
    )


def test_framing_errors_are_bad_frames(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "\\x02LS|DA001015")
    assert (code, out) == (1, "")
    assert err == "foliogate fias decode: framing error: frame has no ETX: raw b'LS|DA001015'\n"


def test_the_encoding_option(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--encoding", "utf-8", "GI|RN1|GNMüller|")
    assert code == 0 and "GN  Guest name   Müller" in out
    code, out, err = run(capsys, "--encoding", "cp1252", "GI|RN1|GNŁukasz|")
    assert (code, out) == (1, "")
    assert err == "foliogate fias decode: the input holds 'Ł', which cp1252 cannot encode\n"
    assert run(capsys, "--encoding", "utf-16", "LA|")[0] == 2
