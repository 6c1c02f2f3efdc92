"""The operator console: a static page at ``/console/`` and the operator sessions behind it.

The page (``index.html``, ``console.js``, ``console.css`` beside this file, shipped as package
data; no build step, no external resources) calls the gateway's signed ``/v1/`` API. An
operator logs in with the console token (read from the environment variable that
``[console] token_env`` names) and their name; the gateway answers with a session cookie
(random id, ``HttpOnly``, ``SameSite=Strict``, ``Path=/``, ``Max-Age``; ``Secure`` over TLS)
that ``/v1/`` requests may carry instead of a ``Foliogate-Signature``. The operator's name
from the login is what the journal records for retry/resolve/assign/approve. Scripts may send
``Authorization: Bearer <console token>`` instead (they name the operator in the body).

Routes under ``/console``:

``GET /console/`` (and its three static files)
    The page. Answered with a strict Content-Security-Policy (``'self'`` only).
``POST /console/login``
    ``{"operator": "Alice", "token": "..."}`` -> 200 ``{"operator", "expires_at"}`` and the
    cookie; 401 for a wrong token; 400 for a missing/invalid name; 429 after too many failures
    from one address in a minute.
``GET /console/session``
    200 ``{"operator", "expires_at"}`` for a live session, else 401.
``POST /console/logout``
    Ends the session and expires the cookie.

Sessions live in memory: a gateway restart logs everyone out, which is the safe direction.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from http.cookies import CookieError, SimpleCookie
from importlib import resources
from typing import Any

from twisted.logger import Logger
from twisted.web import server

from adapters.config import CONSOLE_MIN_TOKEN_LENGTH as MIN_TOKEN_LENGTH

log = Logger(namespace="foliogate.console")

SESSION_COOKIE = "foliogate_console"
#: Failed logins one client address may make per minute before it is answered 429.
MAX_LOGIN_FAILURES_PER_MINUTE = 10
#: Live sessions kept at most; the oldest is dropped beyond this.
MAX_SESSIONS = 1000
MAX_OPERATOR_NAME = 64

#: Only our own files: no inline script or style, nothing from another origin.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)

_STATIC = {
    "": ("index.html", b"text/html; charset=utf-8"),
    "console.js": ("console.js", b"text/javascript; charset=utf-8"),
    "console.css": ("console.css", b"text/css; charset=utf-8"),
}


class ConsoleTokenInvalid(ValueError):
    """The console token in the environment is missing or too short."""


#: The console page sends this header (value 1) on its periodic refreshes: they do not count as
#: use of the session, so an open but unattended console still ends after ``idle_minutes``.
BACKGROUND_HEADER = b"Foliogate-Background"


@dataclass(frozen=True)
class OperatorSession:
    """A logged-in operator; ``expires`` is in the clock's seconds."""

    session_id: str
    operator: str
    expires: float


class LoginRefused(Exception):
    """A login attempt failed; ``code`` is the HTTP status, ``reason`` says why."""

    def __init__(self, code: int, path: str, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.path = path
        self.reason = reason


def check_operator_name(value: Any) -> str:
    """The operator's name as the journal records it; raises :class:`LoginRefused` (400)."""
    if not isinstance(value, str) or not value.strip():
        raise LoginRefused(400, "operator", "required: your name, as the journal records it")
    name = " ".join(value.split())
    if len(name) > MAX_OPERATOR_NAME or not name.isprintable():
        raise LoginRefused(400, "operator", f"at most {MAX_OPERATOR_NAME} printable characters")
    return name


class OperatorSessions:
    """Console logins: the token check, the sessions and their expiry, failed-login limits.

    ``clock`` provides ``seconds()`` (the reactor, or ``task.Clock`` in tests); ``new_id``
    makes session ids (default: 256 random bits).
    """

    def __init__(
        self,
        token: str,
        clock: Any,
        *,
        lifetime_seconds: float,
        idle_seconds: float | None = None,
        new_id: Callable[[], str] = lambda: secrets.token_urlsafe(32),
    ) -> None:
        if len(token) < MIN_TOKEN_LENGTH:
            raise ConsoleTokenInvalid(
                f"the console token must be at least {MIN_TOKEN_LENGTH} characters"
            )
        # Compare digests, so the comparison takes the same time whatever the lengths.
        self._token_digest = hashlib.sha256(token.encode("utf-8")).digest()
        self._clock = clock
        self.lifetime_seconds = float(lifetime_seconds)
        #: A session not used for this long ends before its lifetime (None: never idles out).
        self.idle_seconds = None if idle_seconds is None else float(idle_seconds)
        self._new_id = new_id
        self._sessions: dict[str, OperatorSession] = {}
        self._last_used: dict[str, float] = {}
        self._failures: dict[str, list[float]] = {}

    def token_matches(self, candidate: str) -> bool:
        """True if ``candidate`` is the console token (constant-time comparison)."""
        digest = hashlib.sha256(candidate.encode("utf-8", "replace")).digest()
        return hmac.compare_digest(self._token_digest, digest)

    def login(self, operator: Any, token: Any, peer: str) -> OperatorSession:
        """A new session for ``operator``; raises :class:`LoginRefused`."""
        now = self._clock.seconds()
        recent = [t for t in self._failures.get(peer, []) if now - t < 60]
        if len(recent) >= MAX_LOGIN_FAILURES_PER_MINUTE:
            self._failures[peer] = recent
            raise LoginRefused(429, "", "too many failed logins; wait a minute")
        name = check_operator_name(operator)
        if not isinstance(token, str) or not self.token_matches(token):
            recent.append(now)
            self._failures[peer] = recent
            if len(self._failures) > MAX_SESSIONS:  # bound the memory an attacker can use
                self._failures.pop(next(iter(self._failures)))
            raise LoginRefused(401, "token", "wrong console token")
        self._failures.pop(peer, None)
        self._expire(now)
        while len(self._sessions) >= MAX_SESSIONS:
            self._sessions.pop(next(iter(self._sessions)))
        session = OperatorSession(self._new_id(), name, now + self.lifetime_seconds)
        self._sessions[session.session_id] = session
        self._last_used[session.session_id] = now
        return session

    def get(self, session_id: str | None, *, touch: bool = True) -> OperatorSession | None:
        """The live session with this id, or None (unknown, expired or idle). ``touch``: the
        request counts as use (the page's own periodic refreshes do not: an open but
        unattended console still idles out)."""
        if not session_id:
            return None
        session = self._sessions.get(session_id)
        if session is None:
            return None
        now = self._clock.seconds()
        if now >= session.expires or self._idle(session_id, now):
            self.logout(session_id)
            return None
        if touch:
            self._last_used[session_id] = now
        return session

    def logout(self, session_id: str | None) -> None:
        if session_id:
            self._sessions.pop(session_id, None)
            self._last_used.pop(session_id, None)

    def _idle(self, session_id: str, now: float) -> bool:
        if self.idle_seconds is None:
            return False
        return now - self._last_used.get(session_id, now) >= self.idle_seconds

    def _expire(self, now: float) -> None:
        for sid in [
            sid for sid, s in self._sessions.items() if now >= s.expires or self._idle(sid, now)
        ]:
            self.logout(sid)


def session_id_of(request: server.Request) -> str | None:
    """The console session id the request's ``Cookie`` header carries, if any."""
    raw = request.getHeader(b"Cookie")
    if not raw:
        return None
    cookies: SimpleCookie = SimpleCookie()
    try:
        cookies.load(raw.decode("latin-1"))
    except CookieError:
        return None
    morsel = cookies.get(SESSION_COOKIE)
    return morsel.value if morsel is not None else None


def bearer_token_of(request: server.Request) -> str | None:
    raw = request.getHeader(b"Authorization")
    if not raw:
        return None
    scheme, _, value = raw.decode("latin-1").strip().partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def same_origin(request: server.Request) -> bool:
    """False when a browser says the request comes from another origin (``Origin``)."""
    origin = request.getHeader(b"Origin")
    if origin is None:
        return True
    host = request.getHeader(b"Host") or b""
    scheme = b"https" if request.isSecure() else b"http"
    return origin == scheme + b"://" + host


def _load_static() -> dict[str, tuple[bytes, bytes]]:
    package = resources.files(__name__)
    return {
        route: (package.joinpath(name).read_bytes(), content_type)
        for route, (name, content_type) in _STATIC.items()
    }


class Console:
    """Serves ``/console/...``: the page and the login/logout/session endpoints."""

    def __init__(self, sessions: OperatorSessions) -> None:
        self.sessions = sessions
        self._static = _load_static()

    # -- what the API asks ---------------------------------------------------------------------

    def operator_of(self, request: server.Request) -> tuple[str | None, str | None]:
        """(how the request authenticates, the operator's name) for a ``/v1/`` request.

        ``("session", name)`` for a live session cookie, ``("bearer", None)`` for the console
        token as a bearer token, ``(None, None)`` when it carries neither; raises
        :class:`LoginRefused` (401) for a stale session or a wrong bearer token.
        """
        bearer = bearer_token_of(request)
        if bearer is not None:
            if not self.sessions.token_matches(bearer):
                raise LoginRefused(401, "header:Authorization", "wrong console token")
            return "bearer", None
        sid = session_id_of(request)
        if sid is None:
            return None, None
        # The page marks its periodic refreshes: they keep nothing alive (see idle_minutes).
        background = request.getHeader(BACKGROUND_HEADER) == b"1"
        session = self.sessions.get(sid, touch=not background)
        if session is None:
            raise LoginRefused(401, "cookie", "console session expired or unknown; log in again")
        return "session", session.operator

    # -- /console/... --------------------------------------------------------------------------

    def render(self, request: server.Request, method: str, path: list[str]) -> bytes:
        _security_headers(request)
        route = "/".join(path)
        if route == "" and not request.path.endswith(b"/"):
            # /console without the slash: the page's relative URLs need it.
            request.setResponseCode(301)
            request.setHeader(b"Location", b"/console/")
            return b""
        if route in self._static:
            if method != "GET":
                return self._json(request, 405, _errors(("", f"{method} is not allowed here")))
            body, content_type = self._static[route]
            request.setHeader(b"Content-Type", content_type)
            return body
        if route == "login" and method == "POST":
            return self._login(request)
        if route == "logout" and method == "POST":
            return self._logout(request)
        if route == "session" and method == "GET":
            session = self.sessions.get(session_id_of(request))
            if session is None:
                return self._json(request, 401, _errors(("", "not logged in")))
            return self._json(request, 200, self._session_json(session))
        if route in ("login", "logout", "session"):
            return self._json(request, 405, _errors(("", f"{method} is not allowed here")))
        return self._json(request, 404, _errors(("", "no such console page")))

    def _login(self, request: server.Request) -> bytes:
        if not same_origin(request):
            return self._json(request, 403, _errors(("header:Origin", "cross-origin login")))
        try:
            raw = request.content.read() if request.content is not None else b""
            obj = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            obj = None
        if not isinstance(obj, dict):
            return self._json(request, 400, _errors(("", 'send {"operator": ..., "token": ...}')))
        peer = getattr(request.getClientAddress(), "host", "") or ""
        try:
            session = self.sessions.login(obj.get("operator"), obj.get("token"), peer)
        except LoginRefused as refused:
            if refused.code != 400:
                log.warn(
                    "console login refused from {peer}: {reason}", peer=peer, reason=refused.reason
                )
            headers = {b"Retry-After": b"60"} if refused.code == 429 else {}
            for name, value in headers.items():
                request.setHeader(name, value)
            return self._json(request, refused.code, _errors((refused.path, refused.reason)))
        log.info("console login: {operator} from {peer}", operator=session.operator, peer=peer)
        request.setHeader(b"Set-Cookie", self._cookie(request, session.session_id))
        return self._json(request, 200, self._session_json(session))

    def _logout(self, request: server.Request) -> bytes:
        if not same_origin(request):
            return self._json(request, 403, _errors(("header:Origin", "cross-origin logout")))
        sid = session_id_of(request)
        session = self.sessions.get(sid)
        self.sessions.logout(sid)
        if session is not None:
            log.info("console logout: {operator}", operator=session.operator)
        request.setHeader(b"Set-Cookie", self._cookie(request, "", max_age=0))
        return self._json(request, 200, {"status": "logged out"})

    def _cookie(self, request: server.Request, value: str, max_age: int | None = None) -> bytes:
        age = int(self.sessions.lifetime_seconds) if max_age is None else max_age
        parts = [f"{SESSION_COOKIE}={value}", "Path=/", f"Max-Age={age}", "HttpOnly",
                 "SameSite=Strict"]  # fmt: skip
        if request.isSecure():
            parts.append("Secure")
        return "; ".join(parts).encode("ascii")

    def _session_json(self, session: OperatorSession) -> dict[str, Any]:
        expires = dt.datetime.fromtimestamp(session.expires, dt.UTC)
        return {
            "operator": session.operator,
            "expires_at": expires.isoformat(timespec="seconds").replace("+00:00", "Z"),
        }

    @staticmethod
    def _json(request: server.Request, code: int, body: dict[str, Any]) -> bytes:
        request.setResponseCode(code)
        request.setHeader(b"Content-Type", b"application/json; charset=utf-8")
        return json.dumps(body, ensure_ascii=False).encode() + b"\n"


def _security_headers(request: server.Request) -> None:
    request.setHeader(b"Content-Security-Policy", CONTENT_SECURITY_POLICY.encode())
    request.setHeader(b"X-Content-Type-Options", b"nosniff")
    request.setHeader(b"X-Frame-Options", b"DENY")
    request.setHeader(b"Referrer-Policy", b"no-referrer")
    request.setHeader(b"Cache-Control", b"no-store")


def _errors(*pairs: tuple[str, str]) -> dict[str, Any]:
    return {"errors": [{"path": path, "reason": reason} for path, reason in pairs]}


def make_console(config: Any, clock: Any, environ: Any) -> Console | None:
    """The console for ``config`` (None when it has no ``[console]`` table).

    Raises :class:`ConsoleTokenInvalid` when the token's variable is unset or too short.
    """
    settings = getattr(config, "console", None)
    if settings is None:
        return None
    token = environ.get(settings.token_env, "")
    if not token:
        raise ConsoleTokenInvalid(
            f"secret not set in the environment: {settings.token_env} (console)"
        )
    try:
        sessions = OperatorSessions(
            token,
            clock,
            lifetime_seconds=settings.session_minutes * 60,
            idle_seconds=settings.idle_minutes * 60,
        )
    except ConsoleTokenInvalid as exc:
        raise ConsoleTokenInvalid(f"{settings.token_env}: {exc}") from None
    return Console(sessions)
