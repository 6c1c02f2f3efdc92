"""STX/ETX framing of FIAS records over a byte stream (no I/O: bytes in, payloads out).

On TCP a record is ``STX`` + payload + ``ETX`` with no LRC and no ACK/NAK (reference section 1.1).
The :class:`Framer` takes whatever chunks the transport delivers and returns complete payloads.
A broken frame becomes a :class:`FramingError` *value* in the output, never an exception, and the
stream carries on at the next ``STX``; so one bad frame never costs the link.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from .errors import FiasEncodeError
from .spec import MAX_RECORD_LENGTH

STX = b"\x02"
ETX = b"\x03"


@dataclass(frozen=True, slots=True)
class FramingError:
    """A frame the framer could not deliver: why, and the bytes concerned (bounded in size)."""

    reason: str
    raw: bytes


class _State(Enum):
    BETWEEN = 0  # looking for STX; anything else is noise
    IN_FRAME = 1  # collecting a payload until ETX
    SKIPPING = 2  # after an oversize frame: dropping bytes until STX or ETX


class Framer:
    """Incremental STX/ETX framer.

    ``feed(chunk)`` returns the payloads (bytes between STX and ETX) completed by this chunk, in
    order, interleaved with :class:`FramingError` values for:

    - a payload longer than ``max_length`` bytes (reported once; its bytes up to ETX are dropped);
    - an ``ETX`` with no ``STX`` before it (e.g. joining a stream mid-frame);
    - an ``STX`` inside a frame (the frame before it lost its ``ETX``);
    - an empty frame (``STX ETX``).

    Bytes between frames (noise, a serial LRC) are skipped silently. The output does not depend
    on how the stream is cut into chunks.
    """

    __slots__ = ("max_length", "_state", "_frame", "_noise")

    def __init__(self, max_length: int = MAX_RECORD_LENGTH) -> None:
        if max_length < 1:
            raise ValueError("max_length must be at least 1")
        self.max_length = max_length
        self._state = _State.BETWEEN
        self._frame = bytearray()
        self._noise = bytearray()

    @property
    def buffered(self) -> int:
        """Bytes of an unfinished frame held back until its ETX arrives."""
        return len(self._frame)

    def feed(self, data: bytes) -> list[bytes | FramingError]:
        if (
            self._state is _State.BETWEEN
            and data.__class__ is bytes
            and data[:1] == STX
            and data[-1:] == ETX
        ):
            # The usual chunk: whole frames back to back. Split at C speed; anything else
            # (an empty or oversize frame, a stray STX/ETX, noise) takes the loop below.
            payloads = data[1:-1].split(b"\x03\x02")
            count = len(payloads)
            if (
                data.count(STX) == count
                and data.count(ETX) == count
                and min(map(len, payloads)) > 0
                and max(map(len, payloads)) <= self.max_length
            ):
                self._noise.clear()
                return payloads  # type: ignore[return-value]  # list is invariant
        out: list[bytes | FramingError] = []
        pos = 0
        end = len(data)
        frame = self._frame
        while pos < end:
            stx = data.find(STX, pos)
            etx = data.find(ETX, pos)
            if etx != -1 and (stx == -1 or etx < stx):
                stop = etx
            elif stx != -1:
                stop = stx
            else:
                stop = end
            state = self._state
            if state is _State.IN_FRAME:
                room = self.max_length - len(frame)
                if stop - pos > room:
                    frame += data[pos : pos + room + 1]
                    out.append(
                        FramingError(f"record longer than {self.max_length} bytes", bytes(frame))
                    )
                    frame.clear()
                    self._state = _State.SKIPPING
                    pos += room + 1
                    continue
                frame += data[pos:stop]
                if stop == end:
                    break
                payload = bytes(frame)
                frame.clear()
                if stop == etx:
                    out.append(payload if payload else FramingError("empty frame", b""))
                    self._state = _State.BETWEEN
                else:
                    out.append(
                        FramingError("STX inside a frame (the frame before it has no ETX)", payload)
                    )
                pos = stop + 1
            elif state is _State.SKIPPING:
                if stop == end:
                    break
                self._state = _State.BETWEEN if stop == etx else _State.IN_FRAME
                pos = stop + 1
            else:
                noise = self._noise
                noise += data[pos:stop]
                if len(noise) > self.max_length:
                    del noise[: -self.max_length]
                if stop == end:
                    break
                if stop == etx:
                    out.append(FramingError("ETX without STX", bytes(noise)))
                else:
                    self._state = _State.IN_FRAME
                noise.clear()
                pos = stop + 1
        return out

    def flush(self) -> list[FramingError]:
        """End of stream: report an unfinished frame (if any) and start afresh."""
        out: list[FramingError] = []
        if self._state is _State.IN_FRAME:
            out.append(FramingError("frame has no ETX", bytes(self._frame)))
        self._frame.clear()
        self._noise.clear()
        self._state = _State.BETWEEN
        return out


def frame(payload: bytes) -> bytes:
    """``STX`` + payload + ``ETX``. A payload holding STX or ETX would break the stream."""
    if STX in payload or ETX in payload:
        raise FiasEncodeError(
            "payload holds STX or ETX, which would break the framing",
            record_type=payload[:2].decode("latin-1"),
        )
    return STX + payload + ETX


def lrc(payload: bytes) -> int:
    """The serial-line LRC: XOR of every payload byte and the ETX (reference section 1.1).

    TCP links carry no LRC; this is for serial captures and the reference's test vectors.
    """
    value = 0x03
    for byte in payload:
        value ^= byte
    return value
