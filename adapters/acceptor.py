"""Acceptor processes: ``POST /v1/events`` served by processes of their own.

Per leg the gateway spends CPU twice: accepting the event that planned it (HTTP, signature,
JSON, validation, journey, journal) and posting it (the PMS exchange). In one process both
share one Python thread, so while events arrive the postings wait behind them. With
``[gateway] acceptors = N`` (and ``ingest_listen``), ``foliogate run`` starts N acceptor
processes that do the first part on a port of their own; the gateway's process keeps posting,
and everything else (the rest of the API, the console, SOAP callbacks, metrics).

How the pieces fit (docs/design-note-ingest-process.md has the reasoning):

- The gateway binds the ingest socket itself (so the port is open, and its backlog fills,
  before any acceptor runs) and hands the same listening socket to every acceptor as file
  descriptor 3; the kernel gives each connection to one of them.
- An acceptor opens the same SQLite journal (WAL: one writer at a time, the busy timeout
  covers the wait) without crash recovery, and answers exactly as the gateway's own
  ``POST /v1/events`` does: 202 only after the COMMIT, 200 for a repeat, 409, 400, 401, 404,
  413, 415. It serves ``GET /healthz`` too; every other path answers 404 naming the port
  that has it.
- After each commit it tells the gateway on its standard output, one JSON line per event:
  ``{"accepted": "<event_id>", "match": true|false}`` (the dispatchers wake; ``match``: the
  event asks for a candidate search) and ``{"count": ["<type>", "<result>"]}`` for every answer
  (``foliogate_events_total`` stays the gateway's). The gateway's 5-second rescan of the
  journal is the safety net for a line that never came.
- Its standard input is a pipe from the gateway: when it closes (the gateway stopped, or
  died), the acceptor stops listening, commits what is queued and exits. SIGTERM does the
  same. An acceptor that dies is started again after :data:`RESTART_SECONDS`.

Nothing acknowledged is lost when an acceptor dies: a 202 leaves only after its COMMIT, and
the payment platform retries what got no 202 (the repeat is then answered 200 or 202).
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
import socket
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from twisted.internet import protocol
from twisted.internet.defer import Deferred
from twisted.logger import Logger

log = Logger(namespace="foliogate.acceptor")

#: The file descriptor the ingest socket has in an acceptor process.
INGEST_FD = 3
#: Seconds before an acceptor that died is started again.
RESTART_SECONDS = 1.0
#: Seconds an acceptor has to exit after its standard input closed, before SIGKILL.
STOP_SECONDS = 10.0
#: Longest line an acceptor may write to the gateway (an event id is at most a few hundred).
MAX_LINE = 4096


def ingest_socket(description: str) -> socket.socket:
    """A listening TCP socket for a ``tcp:``/``tcp6:`` server endpoint string (``port``,
    ``interface``, ``backlog``; checked by :mod:`adapters.config`). Port 0 picks a free port."""
    from adapters.config import parse_endpoint

    kind, args, params = parse_endpoint(description)
    names = ("port", "interface", "backlog") if kind == "tcp" else ("port", "backlog", "interface")
    params = {**dict(zip(names, args, strict=False)), **params}
    family = socket.AF_INET6 if kind == "tcp6" else socket.AF_INET
    interface = params.get("interface", "::" if kind == "tcp6" else "")
    if interface:
        family = (
            socket.AF_INET6 if ipaddress.ip_address(interface).version == 6 else socket.AF_INET
        )
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((interface, int(params.get("port", "0"))))
        sock.listen(int(params.get("backlog", "50")))
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


class _AcceptorProcess(protocol.ProcessProtocol):
    """The gateway's end of one acceptor: reads its JSON lines, notices its end."""

    def __init__(self, pool: AcceptorPool, index: int) -> None:
        self.pool = pool
        self.index = index
        self.buffer = b""
        self.ended: Deferred[None] = Deferred()
        self.pid: int | None = None

    def connectionMade(self) -> None:  # noqa: N802 - Twisted's interface
        self.pid = self.transport.pid if self.transport is not None else None

    def outReceived(self, data: bytes) -> None:  # noqa: N802
        self.buffer += data
        *lines, self.buffer = self.buffer.split(b"\n")
        if len(self.buffer) > MAX_LINE:
            log.error("acceptor {index}: a line longer than {limit} bytes; dropped",
                      index=self.index, limit=MAX_LINE)  # fmt: skip
            self.buffer = b""
        for line in lines:
            if line.strip():
                self.pool.line(self.index, line)

    def processEnded(self, reason: Any) -> None:  # noqa: N802
        self.pool.ended(self, reason)
        self.ended.callback(None)


class AcceptorPool:
    """The gateway's acceptor processes: started, kept up, told to stop.

    ``argv(index)`` is the command line of acceptor ``index`` (the interpreter first);
    ``on_accepted(event_id, match)`` and ``on_count(event_type, result)`` receive its lines.
    """

    def __init__(
        self,
        reactor: Any,
        sock: socket.socket,
        count: int,
        argv: Callable[[int], Sequence[str]],
        *,
        env: Mapping[str, str],
        on_accepted: Callable[[str, bool], object],
        on_count: Callable[[str | None, str], object],
    ) -> None:
        self.reactor = reactor
        self.sock = sock
        self.count = count
        self._argv = argv
        self._env = dict(env)
        self._on_accepted = on_accepted
        self._on_count = on_count
        self.processes: dict[int, _AcceptorProcess] = {}
        self._restarts: dict[int, Any] = {}
        self._stopping = False
        #: How many acceptors have been started in all (restarts included).
        self.started = 0

    @property
    def port(self) -> int:
        return int(self.sock.getsockname()[1])

    @property
    def host(self) -> str:
        return str(self.sock.getsockname()[0])

    def start(self) -> None:
        for index in range(self.count):
            self._spawn(index)

    def _spawn(self, index: int) -> None:
        self._restarts.pop(index, None)
        if self._stopping:
            return
        process = _AcceptorProcess(self, index)
        argv = list(self._argv(index))
        self.reactor.spawnProcess(
            process, argv[0], argv, env=self._env,
            childFDs={0: "w", 1: "r", 2: 2, INGEST_FD: self.sock.fileno()},
        )  # fmt: skip
        self.processes[index] = process
        self.started += 1
        log.info("acceptor {index} started (pid {pid}) on {host}:{port}",
                 index=index, pid=process.pid, host=self.host, port=self.port)  # fmt: skip

    def line(self, index: int, raw: bytes) -> None:
        try:
            message = json.loads(raw)
        except ValueError:
            log.error("acceptor {index}: unreadable line {line!r}", index=index, line=raw[:200])
            return
        if not isinstance(message, dict):
            return
        if isinstance(message.get("accepted"), str):
            self._on_accepted(message["accepted"], bool(message.get("match")))
        count = message.get("count")
        if isinstance(count, list) and len(count) == 2 and isinstance(count[1], str):
            self._on_count(count[0] if isinstance(count[0], str) else None, count[1])

    def ended(self, process: _AcceptorProcess, reason: Any) -> None:
        if self.processes.get(process.index) is process:
            del self.processes[process.index]
        if self._stopping:
            return
        log.error("acceptor {index} (pid {pid}) ended: {reason}; starting it again in {s} s",
                  index=process.index, pid=process.pid, reason=reason.getErrorMessage(),
                  s=RESTART_SECONDS)  # fmt: skip
        self._restarts[process.index] = self.reactor.callLater(
            RESTART_SECONDS, self._spawn, process.index
        )

    def stop(self) -> Deferred[None]:
        """Close every acceptor's standard input (it finishes what it accepted and exits);
        SIGKILL one still running after :data:`STOP_SECONDS`. Fires when all have ended."""
        from twisted.internet.defer import DeferredList

        self._stopping = True
        for call in self._restarts.values():
            if call.active():
                call.cancel()
        self._restarts.clear()
        waits = []
        for process in list(self.processes.values()):
            waits.append(process.ended)
            transport = process.transport
            if transport is None:
                continue
            transport.closeStdin()
            kill = self.reactor.callLater(STOP_SECONDS, _kill, transport)
            process.ended.addBoth(lambda result, kill=kill: _cancel(kill, result))
        done: Deferred[Any] = DeferredList(waits)

        def closed(_: Any) -> None:
            self.sock.close()

        done.addCallback(closed)
        return done


def _kill(transport: Any) -> None:
    try:
        transport.signalProcess("KILL")
    except Exception:  # noqa: S110 - it ended meanwhile
        pass


def _cancel(call: Any, result: Any) -> Any:
    if call.active():
        call.cancel()
    return result


def acceptor_argv(config_path: str, journal: str, log_format: str) -> list[str]:
    """The command line of an acceptor process (this interpreter, this module): the gateway's
    configuration file, and the journal the gateway opened (the same file, whatever the
    configuration says)."""
    return [sys.executable, "-m", "adapters.acceptor", "--config", config_path,
            "--journal", journal, "--log-format", log_format]  # fmt: skip


# ---------------------------------------------------------------------------------------------
# The acceptor process
# ---------------------------------------------------------------------------------------------


class _Parent(protocol.Protocol):
    """The acceptor's standard input: the gateway holds the other end; EOF means stop."""

    def __init__(self, on_closed: Callable[[], object]) -> None:
        self._on_closed = on_closed

    def dataReceived(self, data: bytes) -> None:  # noqa: N802
        pass

    def connectionLost(self, reason: Any = None) -> None:  # noqa: N802
        self._on_closed()


class _Report:
    """What the acceptor tells the gateway (JSON lines on standard output)."""

    def __init__(self, write: Callable[[bytes], object], journal: Any) -> None:
        self._write = write
        self._journal = journal
        self._generation = journal.match_generation

    def accepted(self, event_id: str) -> None:
        generation = self._journal.match_generation
        match, self._generation = generation != self._generation, generation
        self._send({"accepted": event_id, "match": match})

    def event_result(self, event_type: str | None, result: str) -> None:
        self._send({"count": [event_type, result]})

    def _send(self, message: dict[str, Any]) -> None:
        self._write(json.dumps(message, separators=(",", ":")).encode() + b"\n")


def serve(
    config_path: str, *, reactor: Any, journal_path: str | None = None, fd: int = INGEST_FD,
    out: Any = None,
) -> Any:  # fmt: skip
    """Accept events in ``reactor`` on the listening socket ``fd`` (which it takes over).

    Stops with the reactor: a "before shutdown" trigger stops listening, then commits what is
    queued and closes the journal. Returns the listening port."""
    from twisted.internet.defer import maybeDeferred

    from adapters.api import make_site
    from adapters.config import load_config
    from adapters.journal import Journal

    config = load_config(config_path)
    path = journal_path or str(config.gateway.journal)
    journal = Journal(path, reactor=reactor, recover=False)
    stream = out if out is not None else sys.stdout.buffer

    def write(data: bytes) -> None:
        stream.write(data)
        stream.flush()

    report = _Report(write, journal)
    site = make_site(journal, config, reactor, report.accepted, ingest_only=True)
    site.resource.metrics = report  # the counts go to the gateway's /metrics
    with socket.socket(fileno=os.dup(fd)) as probe:
        family = probe.family
    port = reactor.adoptStreamPort(fd, family, site)
    os.close(fd)  # the port holds its own copy

    def stop() -> Deferred[Any]:
        log.info("acceptor {pid}: stopping", pid=os.getpid())
        d: Deferred[Any] = maybeDeferred(port.stopListening)
        d.addBoth(lambda _: journal.close())
        return d

    reactor.addSystemEventTrigger("before", "shutdown", stop)
    log.info("acceptor {pid}: accepting events for {properties}", pid=os.getpid(),
             properties=", ".join(config.properties))  # fmt: skip
    return port


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m adapters.acceptor",
                                     description="a foliogate acceptor process (run by the "
                                     "gateway; not for direct use)")  # fmt: skip
    parser.add_argument("--config", required=True)
    parser.add_argument("--journal", help="the journal file (default: the configuration's)")
    parser.add_argument("--log-format", choices=("text", "json"), default="text")
    args = parser.parse_args(argv)
    from twisted.logger import globalLogBeginner, jsonFileLogObserver, textFileLogObserver

    observer = (
        jsonFileLogObserver(sys.stderr) if args.log_format == "json"
        else textFileLogObserver(sys.stderr)
    )  # fmt: skip
    globalLogBeginner.beginLoggingTo([observer], redirectStandardIO=False)
    from twisted.internet import reactor, stdio

    failed: list[Any] = []

    def start() -> None:
        try:
            serve(args.config, reactor=reactor, journal_path=args.journal)
        except Exception as exc:
            failed.append(exc)
            print(f"foliogate acceptor: could not start: {exc}", file=sys.stderr)
            reactor.stop()  # type: ignore[attr-defined]
            return
        # The gateway holds the other end of standard input: its end means stop.
        stdio.StandardIO(_Parent(reactor.stop), reactor=reactor)  # type: ignore[attr-defined]

    reactor.callWhenRunning(start)  # type: ignore[attr-defined]
    reactor.run()  # type: ignore[attr-defined]
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
