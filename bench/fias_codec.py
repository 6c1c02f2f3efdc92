"""Benchmark the FIAS codec on the 23-field PR posting of reference section 7.6.

Prints records per second (one core; Python runs the loop in one thread) for:

- typed, validated decode (``decode``: payload -> ``PostingRequest``),
- typed, validated encode (``encode``: ``PostingRequest`` -> STX...ETX frame),
- the same two without the fast paths (the reference path),
- a bare ``payload.split(b"|")`` into (id, value) pairs over the same frames,

and the ratios of decode and encode to the bare split. Goal (issue 2): typed decode and encode
each >= 100,000 records/s and >= 40 % of the bare-split rate.

Two frame sets: the spec's record itself, repeated; and 4,096 variants of it with a different
P#, TA (S1 adjusted so the sums still add up) and TI each, as a live link would carry.

    .venv/bin/python bench/fias_codec.py [--seconds 0.5]
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

from protocols.fias import PostingRequest, decode, encode
from protocols.fias.codec import decode_reference, encode_reference

POSTING = (
    b"PR|SO123|WS456|IDELI|RN2781|G#12345|GNGast, Hr.|TA22850|S18000|S26000|S34000|T12575"
    b"|T21525|T31050|D1-1000|TP500|SC200|C#1234|ST4|DA000915|TI124254|P#1738|PMROOM|"
)


def variants(count: int) -> list[bytes]:
    frames = []
    for i in range(count):
        seconds = 8 * 3600 + i * 7
        tick = f"{seconds // 3600:02d}{seconds // 60 % 60:02d}{seconds % 60:02d}"
        frames.append(
            POSTING.replace(b"TA22850", b"TA%d" % (22850 + i))
            .replace(b"S18000", b"S1%d" % (8000 + i))
            .replace(b"TI124254", b"TI" + tick.encode())
            .replace(b"P#1738", b"P#%d" % (100000 + i))
        )
    return frames


def split_pairs(payload: bytes) -> list[tuple[bytes, bytes]]:
    return [(field[:2], field[2:]) for field in payload.split(b"|")]


def rate(operation: Callable[[Any], object], items: Sequence[Any], seconds: float) -> float:
    """Best records/s over repeated passes for about ``seconds``."""
    best = 0.0
    deadline = time.perf_counter() + seconds
    while True:
        start = time.perf_counter()
        for item in items:
            operation(item)
        elapsed = time.perf_counter() - start
        best = max(best, len(items) / elapsed)
        if time.perf_counter() > deadline:
            return best


def check(frames: Sequence[bytes]) -> list[PostingRequest]:
    """The benchmark measures real work: every frame decodes to a posting that adds up and
    encodes back to the same bytes."""
    messages = []
    for payload in frames:
        message = decode(payload)
        assert isinstance(message, PostingRequest)
        parts = (*message.subtotals, *message.taxes, *message.discounts)
        parts += (message.tip, message.service_charge)
        assert sum(p for p in parts if p is not None) == message.total_amount
        assert encode(message) == b"\x02" + payload + b"\x03"
        assert message == decode_reference(payload)
        messages.append(message)
    return messages


def report(title: str, frames: list[bytes], seconds: float) -> dict[str, float]:
    messages = check(frames)
    reference_frames = frames[:256]
    rates = {
        "bare split(b'|') into pairs": rate(split_pairs, frames, seconds),
        "typed decode (validated)": rate(decode, frames, seconds),
        "typed encode (validated)": rate(encode, messages, seconds),
        "typed decode, reference path": rate(decode_reference, reference_frames, seconds / 2),
        "typed encode, reference path": rate(encode_reference, messages[:256], seconds / 2),
    }
    split = rates["bare split(b'|') into pairs"]
    print(f"\n{title} ({len(frames)} frames, {len(POSTING)} bytes, 22 fields + type)")
    for name, value in rates.items():
        ratio = "" if name.startswith("bare") else f"  {value / split:6.1%} of bare split"
        print(f"  {name:<30} {value:>12,.0f} records/s{ratio}")
    return rates


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=0.5, help="time per measurement")
    args = parser.parse_args(argv)
    print(f"Python {platform.python_version()} on {platform.machine()} ({platform.system()})")
    same = report("The spec's PR posting, repeated", [POSTING] * 4096, args.seconds)
    varied = report("Varied PR postings (P#, TA, S1, TI differ)", variants(4096), args.seconds)
    worst: dict[str, float] = {k: min(same[k], varied[k]) for k in same}
    split = worst["bare split(b'|') into pairs"]
    print("\nGoal: typed decode and encode >= 100,000 records/s and >= 40 % of the bare split")
    met = True
    for name in ("typed decode (validated)", "typed encode (validated)"):
        value = worst[name]
        ok = value >= 100_000 and value >= 0.4 * split
        met &= ok
        verdict = "met" if ok else "NOT met"
        print(f"  {name:<30} {value:>12,.0f} records/s  {value / split:6.1%}  {verdict}")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
