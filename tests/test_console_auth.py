"""The operator console's login, sessions and read endpoints (adapters/console, adapters/api)
over real HTTP on loopback, with a real SQLite journal and the real configuration loader.

The API's clock is a ``task.Clock`` so session expiry is exact; requests are made with
http.client in a thread while the server runs in the test's reactor.
"""

from __future__ import annotations

import datetime as dt
import http.client
import json
import re
from dataclasses import dataclass
from http.cookies import SimpleCookie
from importlib import resources
from pathlib import Path
from types import SimpleNamespace

import pytest
import pytest_twisted
from twisted.internet import defer, task, threads

from adapters.api import MissingSecret, listen, make_site, sign, wire_text
from adapters.cli import main
from adapters.config import ConfigInvalid, config_from_toml
from adapters.console import SESSION_COOKIE, OperatorSessions
from adapters.domain import Booking, EventType, PaymentEvent, PlannedLeg
from adapters.journal import Journal

NOW = 1_800_000_000
TOKEN = "console-token-for-tests-0123456789"
TOKEN_ENV = "FOLIOGATE_CONSOLE_TOKEN"
SECRET = "whsec_test_payments"
SECRET_ENV = "FOLIOGATE_SECRET_PAYMENTS"
T0 = dt.datetime(2026, 11, 21, 10, 4, 5, tzinfo=dt.UTC)

CONFIG = (Path(__file__).resolve().parents[1] / "examples" / "gateway.toml").read_text()
CONSOLE_TABLE = (
    '\n[console]\ntoken_env = "FOLIOGATE_CONSOLE_TOKEN"\nsession_minutes = 60\nidle_minutes = 20\n'
)


def console_config(tmp_path: Path, extra: str = CONSOLE_TABLE):
    return config_from_toml(CONFIG + extra, base_dir=tmp_path)


@dataclass
class Answer:
    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        values = [v for k, v in self.headers if k.lower() == name.lower()]
        return values[-1] if values else None

    def json(self):
        return json.loads(self.body)

    @property
    def reasons(self) -> list[tuple[str, str]]:
        return [(e["path"], e["reason"]) for e in self.json()["errors"]]


class Client:
    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port

    def request(self, method: str, path: str, body=None, headers=None, cookie=None):
        headers = dict(headers or {})
        data = b""
        if body is not None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            headers.setdefault("Content-Type", "application/json")
        if cookie is not None:
            headers["Cookie"] = f"{SESSION_COOKIE}={cookie}"

        def call() -> Answer:
            conn = http.client.HTTPConnection(self.host, self.port, timeout=10)
            try:
                conn.request(method, path, body=data, headers=headers)
                response = conn.getresponse()
                return Answer(response.status, response.getheaders(), response.read())
            finally:
                conn.close()

        return threads.deferToThread(call)

    async def login(self, operator="Alice Operator", token=TOKEN) -> tuple[Answer, str | None]:
        body = {"operator": operator, "token": token}
        answer = await self.request("POST", "/console/login", body)
        raw = answer.header("Set-Cookie")
        if raw is None:
            return answer, None
        cookie: SimpleCookie = SimpleCookie()
        cookie.load(raw)
        return answer, cookie[SESSION_COOKIE].value


@dataclass
class Running:
    client: Client
    clock: task.Clock
    journal: Journal
    woken: list[str]


def record(journal: Journal, event_id: str, conf: str = "123456") -> int:
    """An event with one deposit leg, sent and rejected (leg id returned), with two frames."""
    event = PaymentEvent(
        event_id, EventType.PAYMENT_SUCCEEDED, "GRAND-LONDON", T0, booking=Booking(conf)
    )
    body = json.dumps({"event_id": event_id, "booking": {"confirmation_number": conf}}).encode()
    (leg,) = journal.record_event(
        event, body, [PlannedLeg(0, "SPA_DEPOSIT", "ONEJOURNEY", 5000, "GBP")]
    ).legs
    journal.mark_sent(leg.leg_id, 7)
    journal.log_wire("out", "fias", b"\x02PR|P#7|TA5000|RN101|\x03", leg_id=leg.leg_id)
    journal.log_wire("in", "fias", b"\x02PA|P#7|ASUR|CTNo <b>post</b>|\x03", leg_id=leg.leg_id)
    journal.mark_rejected(leg.leg_id, "UR", "Unprocessable request")
    return leg.leg_id


@pytest.fixture
def running(tmp_path):
    from twisted.internet import reactor

    journal = Journal(str(tmp_path / "journal.sqlite"), reactor=reactor, now=lambda: T0)
    clock = task.Clock()
    clock.advance(NOW)
    woken: list[str] = []
    site = make_site(
        journal,
        console_config(tmp_path),
        clock,
        woken.append,
        environ={TOKEN_ENV: TOKEN, SECRET_ENV: SECRET},
    )
    port = pytest_twisted.blockon(listen(reactor, site, "tcp:port=0"))
    yield Running(Client("127.0.0.1", port.getHost().port), clock, journal, woken)
    pytest_twisted.blockon(defer.maybeDeferred(port.stopListening))
    journal.close()


# -- login ------------------------------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_a_wrong_token_is_401_and_sets_no_cookie(running):
    answer, cookie = await running.client.login(token="not-the-console-token")
    assert (answer.status, cookie) == (401, None)
    assert answer.reasons == [("token", "wrong console token")]
    missing, _ = await running.client.login(token=None)
    assert missing.status == 401


@pytest_twisted.ensureDeferred
async def test_login_sets_an_httponly_samesite_strict_cookie_with_a_random_id_and_expiry(
    running,
):
    answer, first = await running.client.login()
    assert answer.status == 200
    assert answer.json() == {"operator": "Alice Operator", "expires_at": "2027-01-15T09:00:00Z"}
    attributes = [part.strip() for part in answer.header("Set-Cookie").split(";")]
    assert attributes[0] == f"{SESSION_COOKIE}={first}"
    assert sorted(attributes[1:]) == ["HttpOnly", "Max-Age=3600", "Path=/", "SameSite=Strict"]
    _, second = await running.client.login()
    assert first != second
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", first)  # 256 random bits
    assert TOKEN not in answer.body.decode()


@pytest_twisted.ensureDeferred
async def test_an_operator_name_is_required_and_printable(running):
    blank, _ = await running.client.login(operator="  ")
    control, _ = await running.client.login(operator="Eve\x1b[31m")
    assert (blank.status, control.status) == (400, 400)
    assert blank.reasons[0][0] == "operator"


@pytest_twisted.ensureDeferred
async def test_a_session_expires_after_session_minutes(running):
    _, cookie = await running.client.login()
    assert (await running.client.request("GET", "/console/session", cookie=cookie)).status == 200
    for _ in range(3):  # used every 19:59 minutes: never idle, until the hour is up
        running.clock.advance(1199)
        assert (await running.client.request("GET", "/v1/exceptions", cookie=cookie)).status == 200
    running.clock.advance(3600 - 3 * 1199 - 1)
    assert (await running.client.request("GET", "/v1/exceptions", cookie=cookie)).status == 200
    running.clock.advance(1)
    expired = await running.client.request("GET", "/v1/exceptions", cookie=cookie)
    assert expired.status == 401
    assert expired.reasons == [("cookie", "console session expired or unknown; log in again")]
    assert (await running.client.request("GET", "/console/session", cookie=cookie)).status == 401


@pytest_twisted.ensureDeferred
async def test_a_session_unused_for_idle_minutes_ends_before_its_lifetime(running):
    """An unattended console: 20 minutes without a request end the session (idle_minutes),
    well before the 60 minutes a login lasts; each request restarts the idle clock."""
    _, cookie = await running.client.login()
    running.clock.advance(1199)
    assert (await running.client.request("GET", "/v1/exceptions", cookie=cookie)).status == 200
    running.clock.advance(1199)  # 39:58 since login, 19:59 since the last request
    assert (await running.client.request("GET", "/console/session", cookie=cookie)).status == 200
    running.clock.advance(1200)
    idle = await running.client.request("GET", "/v1/exceptions", cookie=cookie)
    assert idle.status == 401
    assert idle.reasons == [("cookie", "console session expired or unknown; log in again")]


@pytest_twisted.ensureDeferred
async def test_the_pages_own_refreshes_do_not_keep_an_unattended_session_alive(running):
    """The console page polls every few seconds and marks those requests
    (Foliogate-Background: 1): they are answered, but only an operator's own requests
    restart the idle clock, so an open but unattended console still ends."""
    _, cookie = await running.client.login()
    polling = {"Foliogate-Background": "1"}
    for _ in range(3):
        running.clock.advance(399)
        polled = await running.client.request(
            "GET", "/v1/exceptions", cookie=cookie, headers=polling
        )
        assert polled.status == 200
    running.clock.advance(1200 - 3 * 399)  # 20 minutes since the login, the last real use
    ended = await running.client.request("GET", "/v1/exceptions", cookie=cookie, headers=polling)
    assert ended.status == 401


@pytest_twisted.ensureDeferred
async def test_logout_ends_the_session_and_expires_the_cookie(running):
    _, cookie = await running.client.login()
    answer = await running.client.request("POST", "/console/logout", cookie=cookie)
    assert answer.status == 200
    assert answer.header("Set-Cookie").startswith(f"{SESSION_COOKIE}=; Path=/; Max-Age=0;")
    assert (await running.client.request("GET", "/v1/exceptions", cookie=cookie)).status == 401


@pytest_twisted.ensureDeferred
async def test_too_many_failed_logins_from_one_address_are_429_for_a_minute(running):
    for _ in range(10):
        assert (await running.client.login(token="wrong-token-xxxxxxxx"))[0].status == 401
    limited, cookie = await running.client.login()  # even the right token waits
    assert (limited.status, cookie, limited.header("Retry-After")) == (429, None, "60")
    running.clock.advance(60)
    assert (await running.client.login())[0].status == 200


# -- the session on /v1 -------------------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_a_session_replaces_the_signature_on_v1_but_never_on_ingest(running):
    _, cookie = await running.client.login()
    unsigned = await running.client.request("GET", "/v1/exceptions")
    assert unsigned.status == 401
    forged = await running.client.request("GET", "/v1/exceptions", cookie="forged-session-id")
    assert forged.status == 401
    assert (await running.client.request("GET", "/v1/exceptions", cookie=cookie)).status == 200
    ingest = await running.client.request("POST", "/v1/events", {"event_id": "x"}, cookie=cookie)
    assert ingest.status == 401
    assert ingest.reasons == [("header:Foliogate-Signature", "missing Foliogate-Signature header")]


@pytest_twisted.ensureDeferred
async def test_the_signature_still_works_beside_the_console(running):
    t = NOW
    answer = await running.client.request(
        "GET", "/v1/exceptions", headers={"Foliogate-Signature": sign(SECRET.encode(), b"", t)}
    )
    assert answer.status == 200


@pytest_twisted.ensureDeferred
async def test_the_console_token_works_as_a_bearer_token(running):
    ok = await running.client.request(
        "GET", "/v1/exceptions", headers={"Authorization": f"Bearer {TOKEN}"}
    )
    wrong = await running.client.request(
        "GET", "/v1/exceptions", headers={"Authorization": "Bearer console-token-for-tests-x"}
    )
    assert (ok.status, wrong.status) == (200, 401)
    assert wrong.reasons == [("header:Authorization", "wrong console token")]


@pytest_twisted.ensureDeferred
async def test_the_logged_in_operator_is_recorded_whatever_the_body_says(running):
    leg_id = record(running.journal, "evt_r")
    _, cookie = await running.client.login(operator="Alice Operator")
    answer = await running.client.request(
        "POST",
        f"/v1/legs/{leg_id}/retry",
        {"operator": "somebody else", "note": "guest was in the wrong room"},
        cookie=cookie,
    )
    assert (answer.status, answer.json()["state"]) == (200, "planned")
    last = running.journal.history(leg_id=leg_id)[-1]
    assert (last.actor, last.action, last.note) == (
        "Alice Operator",
        "retry",
        "guest was in the wrong room",
    )
    assert running.woken == ["evt_r"]


@pytest_twisted.ensureDeferred
async def test_a_cross_origin_action_with_the_cookie_is_403(running):
    leg_id = record(running.journal, "evt_r")
    _, cookie = await running.client.login()
    answer = await running.client.request(
        "POST",
        f"/v1/legs/{leg_id}/resolve",
        {"note": "x"},
        headers={"Origin": "http://evil.example"},
        cookie=cookie,
    )
    assert answer.status == 403
    assert running.journal.leg(leg_id).state.value == "rejected"


# -- read endpoints the console uses ----------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_exceptions_list_the_actions_an_operator_may_take(running):
    record(running.journal, "evt_r")
    _, cookie = await running.client.login()
    queue = (await running.client.request("GET", "/v1/exceptions", cookie=cookie)).json()
    assert [(leg["reference"], leg["actions"]) for leg in queue["legs"]] == [
        ("evt_r/0", ["retry", "resolve"])
    ]


@pytest_twisted.ensureDeferred
async def test_by_hand_legs_and_unplanned_events_offer_only_what_can_be_done(running):
    event = PaymentEvent(
        "evt_refund", EventType.PAYMENT_REFUNDED, "GRAND-LONDON", T0, booking=Booking("123456")
    )
    by_hand = PlannedLeg(0, "SPA_DEPOSIT", None, -5000, "GBP", "post by hand")
    plan = SimpleNamespace(outcome="exception", reason="refunds are posted by hand", legs=(),
                           by_hand=(by_hand,), target="reservation")  # fmt: skip
    running.journal.record_event(event, b'{"event_id": "evt_refund"}', plan)
    unplanned = PaymentEvent(
        "evt_blank", EventType.PAYMENT_SUCCEEDED, "GRAND-LONDON", T0, booking=Booking("")
    )
    running.journal.record_event(
        unplanned,
        b'{"event_id": "evt_blank"}',
        SimpleNamespace(outcome="exception", reason="no record", legs=(), by_hand=()),
    )
    _, cookie = await running.client.login()
    queue = (await running.client.request("GET", "/v1/exceptions", cookie=cookie)).json()
    assert [(leg["reference"], leg["by_hand"], leg["actions"]) for leg in queue["legs"]] == [
        ("evt_refund/0", True, ["resolve"])
    ]
    # "assign" appears once the matching work serves POST /v1/events/{id}/assign.
    probe = await running.client.request("POST", "/v1/events/evt_blank/assign", {})
    assign = [] if probe.reasons == [("", "no such endpoint")] else ["assign"]
    # The refund is listed once, by its leg to post by hand (resolving it resolves the event).
    assert {e["event_id"]: e["actions"] for e in queue["events"]} == {
        "evt_blank": assign + ["resolve"],
    }


@pytest_twisted.ensureDeferred
async def test_a_reservation_lists_its_events_and_a_leg_its_wire_log_and_history(running):
    leg_id = record(running.journal, "evt_a", conf="123456")
    record(running.journal, "evt_other", conf="200101")
    _, cookie = await running.client.login()
    reservation = await running.client.request("GET", "/v1/reservations/123456", cookie=cookie)
    assert reservation.status == 200
    assert [e["event_id"] for e in reservation.json()["events"]] == ["evt_a"]
    assert reservation.json()["events"][0]["legs"][0]["state"] == "rejected"
    nothing = await running.client.request("GET", "/v1/reservations/999", cookie=cookie)
    assert nothing.status == 404

    wire = (await running.client.request("GET", f"/v1/legs/{leg_id}/wire", cookie=cookie)).json()
    assert [(f["direction"], f["protocol"], f["text"]) for f in wire["frames"]] == [
        ("out", "fias", "<STX>PR|P#7|TA5000|RN101|<ETX>"),
        ("in", "fias", "<STX>PA|P#7|ASUR|CTNo <b>post</b>|<ETX>"),
    ]
    history = await running.client.request("GET", f"/v1/legs/{leg_id}/history", cookie=cookie)
    assert [(a["from_state"], a["to_state"]) for a in history.json()["history"]][-2:] == [
        ("planned", "sent"),
        ("sent", "rejected"),
    ]


@pytest_twisted.ensureDeferred
async def test_links_list_every_configured_property(running):
    _, cookie = await running.client.login()
    links = (await running.client.request("GET", "/v1/links", cookie=cookie)).json()
    assert links == {
        "links": [
            {
                "property": "GRAND-LONDON",
                "profile": "fias",
                "state": "not running",
                "resync": False,
                "night_audit": False,
                "can_post": False,
            }
        ]
    }


def test_wire_text_names_control_characters_and_decodes_cp1252():
    assert wire_text(b"\x02LS|DA261127|\x03") == "<STX>LS|DA261127|<ETX>"
    assert wire_text(b"\x02GI|GNM\xfcller|\x03") == "<STX>GI|GNMüller|<ETX>"
    assert wire_text(b"<a>\xe2\x82\xac\x00</a>\n") == "<a>€<00></a>\n"


# -- the page -----------------------------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_the_page_is_served_with_a_strict_content_security_policy(running):
    page = await running.client.request("GET", "/console/")
    assert page.status == 200
    assert page.header("Content-Type") == "text/html; charset=utf-8"
    assert "script-src 'self'" in page.header("Content-Security-Policy")
    assert page.header("X-Frame-Options") == "DENY"
    assert b'<script src="console.js" defer></script>' in page.body
    script = await running.client.request("GET", "/console/console.js")
    assert script.header("Content-Type") == "text/javascript; charset=utf-8"
    bare = await running.client.request("GET", "/console")
    assert (bare.status, bare.header("Location")) == (301, "/console/")
    assert (await running.client.request("GET", "/console/nope")).status == 404


@pytest_twisted.ensureDeferred
async def test_without_a_console_table_the_console_is_404_and_bearer_tokens_mean_nothing(
    tmp_path,
):
    from twisted.internet import reactor

    journal = Journal(str(tmp_path / "j.sqlite"), reactor=reactor)
    site = make_site(
        journal, console_config(tmp_path, ""), task.Clock(), None, environ={SECRET_ENV: SECRET}
    )
    port = await listen(reactor, site, "tcp:port=0")
    try:
        client = Client("127.0.0.1", port.getHost().port)
        page = await client.request("GET", "/console/")
        assert (page.status, page.reasons) == (
            404,
            [("", "the console is off: configure [console]")],
        )
        bearer = await client.request(
            "GET", "/v1/exceptions", headers={"Authorization": f"Bearer {TOKEN}"}
        )
        assert bearer.status == 401
    finally:
        await port.stopListening()
        journal.close()


def test_the_page_needs_nothing_from_another_origin_and_never_writes_html():
    files = resources.files("adapters.console")
    for name in ("index.html", "console.js", "console.css"):
        text = files.joinpath(name).read_text()
        assert not re.search(r"(https?:)?//[a-z0-9.-]+\.[a-z]{2,}/", text, re.I), name
        assert not re.search(r"\.(inner|outer)HTML|insertAdjacentHTML|document\.write", text), name
    assert "<script>" not in files.joinpath("index.html").read_text()  # no inline script


# -- configuration ------------------------------------------------------------------------------


def test_the_console_is_off_without_a_console_table(tmp_path):
    assert console_config(tmp_path, "").console is None
    config = console_config(tmp_path)
    assert (config.console.token_env, config.console.session_minutes) == (TOKEN_ENV, 60)
    assert config.console.idle_minutes == 20
    defaults = console_config(tmp_path, '\n[console]\ntoken_env = "FOLIOGATE_CONSOLE_TOKEN"\n')
    assert (defaults.console.session_minutes, defaults.console.idle_minutes) == (480, 30)


def test_console_table_errors_name_their_toml_path(tmp_path):
    with pytest.raises(ConfigInvalid) as caught:
        console_config(
            tmp_path,
            '\n[console]\ntoken_env = "1BAD"\nsession_minutes = 0\nidle_minutes = "5"\nx = 1\n',
        )
    assert caught.value.errors == [
        "console.x: unknown key",
        "console.token_env: must be an environment variable name (letters, digits, _)",
        "console.session_minutes: must be from 1 to 10080",
        "console.idle_minutes: must be an integer, not a string",
    ]


def test_check_config_reports_an_unset_or_short_console_token(tmp_path, capsys, monkeypatch):
    path = tmp_path / "gateway.toml"
    path.write_text(CONFIG + CONSOLE_TABLE)
    monkeypatch.setenv(SECRET_ENV, SECRET)
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    assert main(["check-config", str(path)]) == 1
    assert (
        f"{path}: console.token_env: environment variable {TOKEN_ENV} is not set"
        in capsys.readouterr().out
    )
    monkeypatch.setenv(TOKEN_ENV, "short")
    assert main(["check-config", str(path)]) == 1
    assert (
        f"{path}: console.token_env: environment variable {TOKEN_ENV} is shorter than 16 "
        "characters" in capsys.readouterr().out
    )
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    assert main(["check-config", str(path)]) == 0


def test_a_missing_or_short_token_stops_the_site_from_starting(tmp_path):
    config = console_config(tmp_path)
    with pytest.raises(MissingSecret, match="FOLIOGATE_CONSOLE_TOKEN \\(console\\)"):
        make_site(None, config, task.Clock(), None, environ={SECRET_ENV: SECRET})
    with pytest.raises(MissingSecret, match="at least 16 characters"):
        make_site(None, config, task.Clock(), None, environ={SECRET_ENV: SECRET, TOKEN_ENV: "x"})


def test_the_token_comparison_is_by_digest_in_constant_time():
    sessions = OperatorSessions(TOKEN, task.Clock(), lifetime_seconds=60)
    assert sessions.token_matches(TOKEN)
    assert not sessions.token_matches(TOKEN[:-1])
    assert not sessions.token_matches(TOKEN + "x")
    assert not sessions.token_matches("")
