"""``foliogate post FILE``: send a JSON-lines file of payment events to the ingest API, signed.

Each non-blank line is one event (DESIGN section 2). Lines that are not JSON objects are
reported and not sent. Each event is signed like a payment platform's webhook
(``Foliogate-Signature``, see :mod:`adapters.api`) with the secret from the environment
variable ``--secret-env`` names. Sending again is always safe: a repeat of an event the
gateway already has is answered 200 and counted as a duplicate, so a run that was cut short
can simply be started again.

Progress goes to stderr (a bar on a terminal, else a line every ``--progress-every``
events); the summary goes to stdout: accepted, duplicate, rejected with the reason per line
number. The exit code is 1 if any line was rejected or could not be sent.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import IO, Any
from urllib.parse import urlsplit

from adapters.api import sign
from adapters.cli import UsageError

DEFAULT_URL = "http://127.0.0.1:8600"  # adapters.config's default listen port
DEFAULT_SECRET_ENV = "FOLIOGATE_SECRET_PAYMENTS"  # noqa: S105 (a variable name, not a secret)
EVENTS_PATH = "/v1/events"
#: Waits between attempts when the gateway cannot be reached or answers 5xx.
BACKOFF_SECONDS = (0.5, 1.0, 2.0, 4.0)

# Replaced in tests so retries do not wait.
_sleep: Callable[[float], None] = time.sleep
_time: Callable[[], float] = time.time


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "post",
        help="send a JSON-lines file of payment events to the gateway's API",
        description=__doc__.split("\n\n")[0] if __doc__ else None,
    )
    parser.add_argument("file", metavar="FILE", help="JSON-lines file of events ('-' for stdin)")
    parser.add_argument(
        "--url",
        default=os.environ.get("FOLIOGATE_URL", DEFAULT_URL),
        help=f"the gateway's API (default $FOLIOGATE_URL or {DEFAULT_URL})",
    )
    parser.add_argument(
        "--source",
        help="the source name to send in Foliogate-Source (needed when the gateway has several)",
    )
    parser.add_argument(
        "--secret-env",
        default=DEFAULT_SECRET_ENV,
        metavar="VAR",
        help=f"environment variable holding the source's secret (default {DEFAULT_SECRET_ENV})",
    )
    parser.add_argument(
        "--progress-every",
        type=int,
        default=100,
        metavar="N",
        help="when stderr is not a terminal, report progress every N events (default 100)",
    )
    parser.add_argument(
        "--timeout", type=float, default=30.0, help="seconds to wait for each answer"
    )
    parser.add_argument(
        "--retries",
        type=int,
        default=len(BACKOFF_SECONDS),
        help="attempts again when the gateway is unreachable or answers 5xx (default 4)",
    )
    parser.set_defaults(func=run)


# ---------------------------------------------------------------------------------------------


class Unreachable(Exception):
    """The gateway could not be reached (or kept failing) after every retry."""


@dataclass
class Summary:
    accepted: int = 0
    duplicate: int = 0
    rejected: list[tuple[int, str]] = field(default_factory=list)  # (line number, reason)
    not_sent: list[int] = field(default_factory=list)  # line numbers, after the gateway failed

    @property
    def done(self) -> int:
        return self.accepted + self.duplicate + len(self.rejected)

    def counts(self) -> str:
        return (
            f"accepted {self.accepted}, duplicate {self.duplicate}, rejected {len(self.rejected)}"
        )


class Poster:
    """Posts signed bodies over one kept-alive HTTP connection, reconnecting as needed."""

    def __init__(
        self,
        url: str,
        secret: bytes,
        source: str | None,
        timeout: float,
        retries: int,
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise UsageError(f"--url must be an http:// or https:// URL, not {url!r}")
        self._scheme = parts.scheme
        self._host = parts.hostname
        self._port = parts.port
        path = parts.path.rstrip("/")
        self._path = path if path.endswith(EVENTS_PATH) else path + EVENTS_PATH
        self._secret = secret
        self._source = source
        self._timeout = timeout
        self._retries = retries
        self._conn: http.client.HTTPConnection | None = None

    def _connection(self) -> http.client.HTTPConnection:
        if self._conn is None:
            cls = (
                http.client.HTTPSConnection
                if self._scheme == "https"
                else http.client.HTTPConnection
            )
            self._conn = cls(self._host, self._port, timeout=self._timeout)
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def post(self, body: bytes) -> tuple[int, Any]:
        """(status, decoded JSON answer) for one event; retries what is safe to retry."""
        problem = ""
        for attempt in range(self._retries + 1):
            if attempt:
                _sleep(BACKOFF_SECONDS[min(attempt - 1, len(BACKOFF_SECONDS) - 1)])
            headers = {
                "Content-Type": "application/json",
                "Foliogate-Signature": sign(self._secret, body, int(_time())),
                "User-Agent": "foliogate-post",
            }
            if self._source:
                headers["Foliogate-Source"] = self._source
            try:
                conn = self._connection()
                conn.request("POST", self._path, body=body, headers=headers)
                response = conn.getresponse()
                raw = response.read()
            except (OSError, http.client.HTTPException) as exc:
                # Resending is safe: the gateway answers a repeat of a committed event 200.
                self.close()
                problem = f"cannot reach {self._host}:{self._port}: {exc}"
                continue
            if response.getheader("Connection", "").lower() == "close":
                self.close()
            try:
                answer = json.loads(raw) if raw else None
            except ValueError:
                answer = raw.decode("utf-8", "replace")[:200]
            if response.status >= 500:
                problem = f"gateway answered {response.status}: {_reasons(answer)}"
                continue
            return response.status, answer
        raise Unreachable(problem)


def _reasons(answer: Any) -> str:
    if isinstance(answer, dict) and isinstance(answer.get("errors"), list):
        parts = []
        for error in answer["errors"]:
            if isinstance(error, dict):
                path = error.get("path") or "(event)"
                parts.append(f"{path}: {error.get('reason')}")
        if parts:
            return "; ".join(parts)
    return str(answer)


def _lines(stream: IO[bytes]) -> Iterator[tuple[int, bytes]]:
    for number, line in enumerate(stream, start=1):
        body = line.strip()
        if body:
            yield number, body


class Progress:
    """A bar on a terminal, else a line every ``every`` events; always on stderr."""

    def __init__(self, stream: IO[str], total: int | None, every: int) -> None:
        self._stream = stream
        self._total = total
        self._every = max(1, every)
        self._tty = bool(getattr(stream, "isatty", lambda: False)())
        self._last_draw = 0.0
        self._last_reported = 0

    def update(self, summary: Summary, final: bool = False) -> None:
        done = summary.done
        if self._tty:
            now = time.monotonic()
            if not final and now - self._last_draw < 0.1:
                return
            self._last_draw = now
            if self._total:
                filled = int(30 * min(done, self._total) / self._total)
                bar = f"[{'#' * filled}{'.' * (30 - filled)}] {done}/{self._total}"
            else:
                bar = f"{done} sent"
            self._stream.write(f"\r{bar}  {summary.counts()}")
            if final:
                self._stream.write("\n")
            self._stream.flush()
        elif done != self._last_reported and (final or done % self._every == 0):
            self._last_reported = done
            of = f"/{self._total}" if self._total else ""
            self._stream.write(f"post: {done}{of} events ({summary.counts()})\n")
            self._stream.flush()


def _count_events(path: str) -> int | None:
    if path == "-":
        return None
    with open(path, "rb") as stream:
        return sum(1 for line in stream if line.strip())


def run(args: argparse.Namespace) -> int:
    secret = os.environ.get(args.secret_env, "")
    if not secret:
        raise UsageError(f"environment variable {args.secret_env} (the source's secret) is not set")
    try:
        total = _count_events(args.file)
        stream: IO[bytes] = sys.stdin.buffer if args.file == "-" else open(args.file, "rb")
    except OSError as exc:
        raise UsageError(f"cannot read {args.file}: {exc.strerror or exc}") from exc

    poster = Poster(args.url, secret.encode("utf-8"), args.source, args.timeout, args.retries)
    progress = Progress(sys.stderr, total, args.progress_every)
    summary = Summary()
    failure: str | None = None
    try:
        for number, body in _lines(stream):
            if failure is not None:
                summary.not_sent.append(number)
                continue
            try:
                event = json.loads(body)
            except ValueError as exc:
                summary.rejected.append((number, f"malformed JSON, not sent: {exc}"))
                progress.update(summary)
                continue
            if not isinstance(event, dict):
                summary.rejected.append((number, "not a JSON object, not sent"))
                progress.update(summary)
                continue
            try:
                status, answer = poster.post(body)
            except Unreachable as exc:
                failure = str(exc)
                summary.not_sent.append(number)
                continue
            if status == 202:
                summary.accepted += 1
            elif status == 200:
                summary.duplicate += 1
            else:
                summary.rejected.append((number, f"{status} {_reasons(answer)}"))
            progress.update(summary)
    finally:
        poster.close()
        if stream is not sys.stdin.buffer:
            stream.close()
    progress.update(summary, final=True)

    out = sys.stdout
    out.write(
        f"accepted: {summary.accepted}\nduplicate: {summary.duplicate}\n"
        f"rejected: {len(summary.rejected)}\n"
    )
    for number, reason in summary.rejected:
        out.write(f"line {number}: {reason}\n")
    if failure is not None:
        first, last = summary.not_sent[0], summary.not_sent[-1]
        out.write(
            f"stopped: {failure}; lines {first}-{last} ({len(summary.not_sent)} events) "
            "not sent (sending the file again is safe)\n"
        )
    return 1 if summary.rejected or summary.not_sent else 0
