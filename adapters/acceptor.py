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
- An acceptor does the HTTP work of ``POST /v1/events``: reading the request (size limit,
  content type), the signature, the JSON and the validation, the property. Each request it
  refuses gets the gateway's own answer at once (400 with every problem, 401, 404, 413, 415).
- An event that passes goes to the gateway's process as one JSON line on the acceptor's
  standard output, ``{"submit": n, "source": "<source>", "event": {...}}``. The gateway plans
  and journals it as if it had come to its own port (:meth:`adapters.api.GatewayAPI.ingest`:
  group commit, duplicates and conflicts, the log line, the count, the dispatchers woken),
  and after the COMMIT writes the answer to the acceptor's standard input,
  ``{"reply": n, "answer": [status, body, headers]}``: 202, 200 for a repeat, 409, or 503
  if the journal failed. So the journal keeps ONE writer: two processes committing to one
  SQLite file wait for each other's write lock (measured: the postings slowed to half).
- The acceptor serves ``GET /healthz`` too; every other path answers 404 naming the port
  that has it. Its own refusals are counted in the gateway's ``foliogate_events_total``
  through ``{"count": ["<type>", "<result>"]}`` lines.
- When its standard input closes (the gateway stopped, or died), the acceptor answers 503 to
  what is still waiting, stops listening and exits. An acceptor that dies is started again
  after :data:`RESTART_SECONDS`, doubled for each quick death in a row (at most a minute).

Nothing acknowledged is lost when an acceptor dies: a 202 leaves only after the gateway's
COMMIT, and the payment platform retries what got no 202 (the repeat is then answered 200).
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
from twisted.internet.defer import Deferred, succeed
from twisted.logger import Logger

from adapters.api import DEFAULT_BACKLOG

log = Logger(namespace="foliogate.acceptor")

#: The file descriptor the ingest socket has in an acceptor process.
INGEST_FD = 3
#: Seconds before an acceptor that died is started again; doubled for each death that
#: follows a short life (one that cannot start is not started 3,600 times an hour), up to
#: :data:`RESTART_MAX_SECONDS`, and back to this after a life of :data:`STEADY_SECONDS`.
RESTART_SECONDS = 1.0
RESTART_MAX_SECONDS = 60.0
STEADY_SECONDS = 30.0
#: Seconds an acceptor has to exit after its standard input closed, before SIGKILL.
STOP_SECONDS = 10.0
#: The answer when taking an event failed in a way nobody foresaw (logged).
_INTERNAL_ERROR = (500, {"errors": [{"path": "", "reason": "internal error; see the gateway log"}]},
                   {})  # fmt: skip
#: What the gateway writes to an acceptor to stop it: stop listening, wait for the answers
#: to the events already handed over, exit.
STOP_LINE = b'{"stop":true}'
#: Longest line an acceptor may write to the gateway (an event id is at most a few hundred).
MAX_LINE = 4096


def ingest_socket(description: str) -> socket.socket:
    """A listening TCP socket for a ``tcp:``/``tcp6:`` server endpoint string (``port``,
    ``interface``, ``backlog``; checked by :mod:`adapters.config`). Port 0 picks a free port."""
    from adapters.config import server_endpoint_params

    kind, params = server_endpoint_params(description)
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
        sock.listen(int(params.get("backlog", DEFAULT_BACKLOG)))
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
        self.started_at = pool.reactor.seconds()

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

    ``argv(index)`` is the command line of acceptor ``index`` (the interpreter first).
    ``on_submit(event, source)`` journals an event an acceptor checked and fires with the
    answer (status, body, headers), which goes back to that acceptor;
    ``on_count(event_type, result)`` takes the acceptors' own refusals.
    """

    def __init__(
        self,
        reactor: Any,
        sock: socket.socket,
        count: int,
        argv: Callable[[int], Sequence[str]],
        *,
        env: Mapping[str, str],
        on_submit: Callable[[dict[str, Any], str], Deferred[Any]],
        on_count: Callable[[str | None, str], object],
    ) -> None:
        self.reactor = reactor
        self.sock = sock
        self.count = count
        self._argv = argv
        self._env = dict(env)
        self._on_submit = on_submit
        self._on_count = on_count
        self.processes: dict[int, _AcceptorProcess] = {}
        self._restarts: dict[int, Any] = {}
        #: index -> seconds the next restart of that acceptor waits.
        self._restart_delay: dict[int, float] = {}
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
        number, event, source = message.get("submit"), message.get("event"), message.get("source")
        if isinstance(number, int) and isinstance(event, dict) and isinstance(source, str):
            self._submit(index, number, event, source)
        count = message.get("count")
        if isinstance(count, list) and len(count) == 2 and isinstance(count[1], str):
            self._on_count(count[0] if isinstance(count[0], str) else None, count[1])

    def _submit(self, index: int, number: int, event: dict[str, Any], source: str) -> None:
        process = self.processes.get(index)
        try:
            d = self._on_submit(event, source)
        except Exception:
            log.failure("acceptor {index}: the event could not be taken", index=index)
            d = succeed(_INTERNAL_ERROR)

        def reply(answer: Any) -> None:
            code, body, headers = answer
            if process is None or self.processes.get(index) is not process:
                return  # that acceptor has gone; its caller got no answer and retries
            line = json.dumps({"reply": number, "answer": [code, body, dict(headers)]},
                              separators=(",", ":"), ensure_ascii=False)  # fmt: skip
            process.transport.write(line.encode() + b"\n")

        d.addCallback(reply).addErrback(
            lambda f: log.failure("acceptor {index}: answering failed", f, index=index)
        )

    def ended(self, process: _AcceptorProcess, reason: Any) -> None:
        if self.processes.get(process.index) is process:
            del self.processes[process.index]
        if self._stopping:
            return
        lived = self.reactor.seconds() - process.started_at
        delay = self._restart_delay.get(process.index, RESTART_SECONDS)
        if lived >= STEADY_SECONDS:
            delay = RESTART_SECONDS
        self._restart_delay[process.index] = min(delay * 2, RESTART_MAX_SECONDS)
        log.error("acceptor {index} (pid {pid}) ended after {lived:.0f} s: {reason}; starting "
                  "it again in {s:g} s", index=process.index, pid=process.pid, lived=lived,
                  reason=reason.getErrorMessage(), s=delay)  # fmt: skip
        self._restarts[process.index] = self.reactor.callLater(
            delay, self._spawn, process.index
        )

    def stop(self) -> Deferred[None]:
        """Tell every acceptor to stop (:data:`STOP_LINE`: it stops listening, waits for the
        answers to the events it handed over, and exits; the gateway goes on answering them
        meanwhile); SIGKILL one still running after :data:`STOP_SECONDS`. Fires when all
        have ended, and closes the ingest socket."""
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
            transport.write(STOP_LINE + b"\n")
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


class _Gateway(protocol.Protocol):
    """The acceptor's end of its pipes to the gateway (standard input and output): events
    go out as ``submit`` lines, answers come back as ``reply`` lines. Their end means stop."""

    def __init__(
        self, on_closed: Callable[[], object], on_stop: Callable[[], object] = lambda: None
    ) -> None:
        self._on_closed = on_closed
        self._on_stop = on_stop
        self._stopping = False
        self._closed = False
        self._buffer = b""
        self._next = 0
        self._waiting: dict[int, Deferred[Any]] = {}

    def forward(self, event: dict[str, Any], source: str) -> Deferred[Any]:
        self._next += 1
        d: Deferred[Any] = Deferred()
        if self.transport is None or self._stopping:
            d.callback(_GONE)  # the platform retries it later (at the gateway's next start)
            return d
        self._waiting[self._next] = d
        self._send({"submit": self._next, "source": source, "event": event})
        return d

    def event_result(self, event_type: str | None, result: str) -> None:
        """The acceptor's own refusals, counted in the gateway's /metrics."""
        self._send({"count": [event_type, result]})

    def _send(self, message: dict[str, Any]) -> None:
        if self.transport is not None:
            data = json.dumps(message, separators=(",", ":"), ensure_ascii=False).encode()
            self.transport.write(data + b"\n")

    def dataReceived(self, data: bytes) -> None:  # noqa: N802 - Twisted's interface
        self._buffer += data
        *lines, self._buffer = self._buffer.split(b"\n")
        for line in lines:
            if line == STOP_LINE:
                self._stopping = True
                self._on_stop()
                continue
            try:
                message = json.loads(line)
                number, (code, body, headers) = message["reply"], message["answer"]
            except (ValueError, KeyError, TypeError):
                log.error("acceptor: unreadable line from the gateway {line!r}", line=line[:200])
                continue
            d = self._waiting.pop(number, None)
            if d is not None:
                d.callback((int(code), body, headers))
        if self._stopping and not self._waiting:
            self._close()  # every event handed over has its answer

    def connectionLost(self, reason: Any = None) -> None:  # noqa: N802
        waiting, self._waiting = self._waiting, {}
        for d in waiting.values():
            d.callback(_GONE)
        self._close()

    def _close(self) -> None:
        if not self._closed:
            self._closed = True
            self._on_closed()


#: The answer to an event the gateway can no longer take (it stopped): retry later.
_GONE = (
    503,
    {"errors": [{"path": "", "reason": "the gateway is stopping; retry"}]},
    {"Retry-After": "1"},
)


def serve(
    config_path: str, *, reactor: Any, gateway: _Gateway, journal_path: str | None = None,
    fd: int = INGEST_FD,
) -> Any:  # fmt: skip
    """Accept events in ``reactor`` on the listening socket ``fd`` (which it takes over),
    handing them to the gateway through ``gateway`` (connected to the pipes).

    Stops with the reactor: a "before shutdown" trigger stops listening and closes the
    journal (opened for ``/healthz``; the acceptor never writes to it). Returns the port."""
    from twisted.internet.defer import maybeDeferred

    from adapters.api import make_site
    from adapters.config import load_config
    from adapters.journal import Journal

    config = load_config(config_path)
    path = journal_path or str(config.gateway.journal)
    journal = Journal(path, reactor=reactor, recover=False)
    site = make_site(journal, config, reactor, None, ingest_only=True)
    site.resource.forward = gateway.forward
    site.resource.metrics = gateway  # its refusals are counted in the gateway's /metrics
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
    from twisted.logger import globalLogBeginner, jsonFileLogObserver

    from adapters.logtext import text_observer

    observer = (
        jsonFileLogObserver(sys.stderr) if args.log_format == "json"
        else text_observer(sys.stderr)
    )  # fmt: skip
    globalLogBeginner.beginLoggingTo([observer], redirectStandardIO=False)
    from twisted.internet import reactor, stdio

    failed: list[Any] = []

    def start() -> None:
        # The gateway holds the other ends of standard input and output; their end means stop.
        port: list[Any] = []
        gateway = _Gateway(
            reactor.stop,  # type: ignore[attr-defined]
            on_stop=lambda: port and port[0].stopListening(),
        )
        stdio.StandardIO(gateway, reactor=reactor)
        try:
            port.append(serve(args.config, reactor=reactor, journal_path=args.journal,
                              gateway=gateway))  # fmt: skip
        except Exception as exc:
            failed.append(exc)
            print(f"foliogate acceptor: could not start: {exc}", file=sys.stderr)
            reactor.stop()  # type: ignore[attr-defined]

    reactor.callWhenRunning(start)  # type: ignore[attr-defined]
    reactor.run()  # type: ignore[attr-defined]
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
