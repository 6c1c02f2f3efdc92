"""htng-async PMS simulator over real HTTP on loopback: the acknowledgement at once and the
result POSTed to a real callback server, the negative-posting journey of DESIGN §3 by hand with
``protocols.htng.htng_async`` envelopes, all-or-nothing postings with the offending line named,
deduplication by CorrelationID, faults (security, schema, hostile XML, no ReplyTo), and the
duplicate / late / missing callback knobs."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import pytest
import pytest_twisted
from lxml import etree
from test_sim_soap_common import (
    BOMB,
    CREDENTIALS,
    NOW,
    Http,
    demo_config,
    fault_of,
    start,
    with_timeout,
)
from twisted.internet import defer, task
from twisted.web.resource import Resource
from twisted.web.server import Site

from protocols.htng import htng_async as ha
from protocols.htng.money import Money
from protocols.soap import (
    Caller,
    Credentials,
    FaultCode,
    SoapVersion,
    Stamp,
    http_headers,
    parse_envelope,
    parse_xml,
)

CALLBACK_CREDENTIALS = Credentials("pms-callbacks", "callback-demo-secret")


def gbp(amount: int) -> Money:
    return Money(amount, "GBP", 2)


class CallbackReceiver(Resource):
    """The gateway's side, for the test: records every callback and acknowledges it."""

    isLeaf = True

    def __init__(self) -> None:
        super().__init__()
        self.queue: defer.DeferredQueue = defer.DeferredQueue()
        self.bodies: list[bytes] = []

    def render_POST(self, request: Any) -> bytes:
        body = request.content.read()
        self.bodies.append(body)
        envelope = parse_envelope(parse_xml(body))
        result = ha.parse_charge_posting_result_request(envelope.payload)
        self.queue.put((envelope, result, request.getHeader(b"content-type")))
        request.setHeader(b"content-type", b"application/soap+xml; charset=utf-8")
        return ha.build_charge_posting_result_response(
            ha.acknowledge(result, NOW),
            relates_to=envelope.addressing.message_id,
            stamp=Stamp("urn:uuid:gateway-ack", NOW),
        )

    def next(self) -> defer.Deferred:
        return with_timeout(self.queue.get())


class HtngAsync:
    """Sends ChargePostingRQ built by the profile's own builder."""

    def __init__(self, http: Http, url: str, reply_to: str) -> None:
        self.http = http
        self.url = url
        self.caller = Caller(to=url, credentials=CREDENTIALS, reply_to=reply_to)
        self.count = 0

    def request(
        self,
        reservation: str,
        revenue: tuple[tuple[str, int], ...] = (),
        payments: tuple[tuple[str, int], ...] = (),
        correlation_id: str = "corr-1",
        **kw: Any,
    ) -> ha.ChargePostingRequest:
        return ha.ChargePostingRequest(
            echo_token=f"echo-{correlation_id}",
            correlation_id=correlation_id,
            timestamp=NOW,
            hotel_code=kw.pop("hotel_code", "DEMO"),
            reservation_id=reservation,
            revenue_lines=tuple(
                ha.RevenueLine(code, gbp(amount), f"{correlation_id}:r{i}")
                for i, (code, amount) in enumerate(revenue)
            ),
            payment_lines=tuple(
                ha.PaymentLine(code, gbp(amount), f"{correlation_id}:p{i}")
                for i, (code, amount) in enumerate(payments)
            ),
            **kw,
        )

    def envelope(self, request: ha.ChargePostingRequest, caller: Caller | None = None) -> bytes:
        self.count += 1
        return ha.build_charge_posting_request(
            request, caller=caller or self.caller, stamp=Stamp(f"urn:uuid:rq-{self.count}", NOW)
        )

    async def send(self, body: bytes) -> tuple[int, bytes]:
        headers = http_headers(ha.SOAP_VERSION, ha.Operation.CHARGE_POSTING.action)
        return await self.http.post(self.url, body, headers)

    async def submit(self, request: ha.ChargePostingRequest) -> ha.Acknowledgement:
        status, answer = await self.send(self.envelope(request))
        assert status == 200, answer
        return ha.parse_charge_posting_response(parse_xml(answer))


@pytest_twisted.async_yield_fixture
async def receiver():
    from twisted.internet import reactor

    resource = CallbackReceiver()
    root = Resource()
    root.putChild(b"callback", resource)
    port = reactor.listenTCP(0, Site(root), interface="127.0.0.1")
    resource.url = f"http://127.0.0.1:{port.getHost().port}/callback"
    yield resource
    await port.stopListening()


@pytest_twisted.async_yield_fixture
async def sim():
    config = demo_config(
        hotel_code="DEMO",
        callback_username=CALLBACK_CREDENTIALS.username,
        callback_password=CALLBACK_CREDENTIALS.password,
    )
    running = await start(config)
    yield running
    await running.stop()


@pytest.fixture
def client(http, sim, receiver):
    return HtngAsync(http, sim.soap_urls["htng-async"], receiver.url)


def _posted(*pairs: tuple[str, int]) -> tuple[ha.PostedLine, ...]:
    return tuple(ha.PostedLine(ref, number) for ref, number in pairs)


@pytest_twisted.ensureDeferred
async def test_negative_journey_acknowledged_at_once_with_results_by_callback(
    sim, http, client, receiver
):
    deposit = client.request(
        "400001",
        revenue=(("SPA_DEPOSIT", 5000),),
        payments=(("ONEJOURNEY", 5000),),
        correlation_id="evt-1",
    )
    assert await client.submit(deposit) == ha.Acknowledgement("evt-1", NOW, "echo-evt-1")
    envelope, result, content_type = await receiver.next()
    assert result == ha.ChargePostingResultRequest(
        "echo-evt-1", "evt-1", NOW, posted_lines=_posted(("evt-1:r0", 1), ("evt-1:p0", 2))
    )
    assert envelope.version is SoapVersion.SOAP12
    assert envelope.addressing.relates_to == "urn:uuid:rq-1"
    assert envelope.addressing.to == receiver.url
    assert envelope.addressing.action == ha.Operation.CHARGE_POSTING_RESULT.action
    assert envelope.security.matches(CALLBACK_CREDENTIALS)
    assert envelope.security.timestamp_problem(NOW) is None
    assert content_type.startswith(b"application/soap+xml; charset=utf-8; action=")

    await http.control(sim, "POST", "/reservations/400001/check-in")
    redemption = client.request(
        "400001", revenue=(("SPA_TREATMENT", 5000), ("SPA_DEPOSIT", -5000)), correlation_id="evt-2"
    )
    await client.submit(redemption)
    _, result, _ = await receiver.next()
    assert result.posted_lines == _posted(("evt-2:r0", 3), ("evt-2:r1", 4))

    await http.control(sim, "POST", "/reservations/400001/check-out")
    ledger = await http.control(sim, "GET", "/reservations/400001/folio")
    assert [(line["code"], line["amount"]) for line in ledger["lines"]] == [
        ("SPA_DEPOSIT", 5000),
        ("ONEJOURNEY", -5000),
        ("SPA_TREATMENT", 5000),
        ("SPA_DEPOSIT", -5000),
    ]
    assert (ledger["balance"], ledger["totals"]["deposit"]) == (0, 0)
    assert ledger["payment_types"] == {"ONEJOURNEY": -5000}
    assert all(inv["holds"] for inv in ledger["invariants"].values())


@pytest.mark.parametrize(
    ("request_args", "error"),
    [
        (
            dict(revenue=(("SPA_TREATMENT", 5000),), payments=(("PAYPAL", 5000),)),
            ha.PostingError("1004", "unknown payment type 'PAYPAL'", reference="corr-1:p0"),
        ),
        (
            dict(revenue=(("SPA_MASSAGE", 5000),)),
            ha.PostingError(
                "1003", "unknown transaction code 'SPA_MASSAGE'", reference="corr-1:r0"
            ),
        ),
        (
            dict(reservation="999999", revenue=(("SPA_TREATMENT", 5000),)),
            ha.PostingError("1001", "no reservation 999999"),
        ),
        (
            dict(
                reservation="400001",
                payments=(("ONEJOURNEY", 100),),
                revenue=(("SPA_TREATMENT", 100),),
            ),
            ha.PostingError(
                "1002",
                "reservation 400001 is not checked in; revenue code SPA_TREATMENT needs an "
                "in-house guest",
                reference="corr-1:r0",
            ),
        ),
        (
            dict(reservation="500001", payments=(("VISA", 100),)),
            ha.PostingError("1005", "reservation 500001 has checked out; its folio is closed"),
        ),
        (
            dict(revenue=(("SPA_TREATMENT", 0),)),
            ha.PostingError(
                "1006", "amount 0 is not allowed (SPA_TREATMENT)", reference="corr-1:r0"
            ),
        ),
        (
            dict(hotel_code="ELSEWHERE", revenue=(("SPA_TREATMENT", 100),)),
            ha.PostingError("1007", "unknown HotelCode 'ELSEWHERE'; this is DEMO"),
        ),
        (
            dict(reservation="300001", payments=(("VISA", 100),)),
            ha.PostingError("1009", "no-post flag set for reservation 300001"),
        ),
        (
            dict(folio_window=3, payments=(("VISA", 100),)),
            ha.PostingError("1011", "folio window 3 does not exist; this PMS has window 1"),
        ),
    ],
)
@pytest_twisted.ensureDeferred
async def test_refused_postings_book_nothing_and_the_callback_names_code_text_and_line(
    sim, client, receiver, request_args, error
):
    reservation = request_args.pop("reservation", "123456")
    await client.submit(client.request(reservation, **request_args))
    _, result, _ = await receiver.next()
    assert result.errors == (error,)
    assert result.posted_lines == ()
    assert result.disposition == ha.RESULT_CODES[error.code].disposition
    assert sim.hotel.trial_balance(None).net == 0
    assert all(sim.hotel.folio(r.confirmation_number) == () for r in sim.hotel.reservations())


@pytest_twisted.ensureDeferred
async def test_currency_mismatch_names_the_line_and_night_audit_is_a_processing_error(
    sim, http, client, receiver
):
    request = client.request("123456", payments=(("VISA", 100),))
    request = dataclasses.replace(
        request, payment_lines=(ha.PaymentLine("VISA", Money(100, "EUR", 2), "eur-line"),)
    )
    await client.submit(request)
    _, result, _ = await receiver.next()
    assert result.errors == (
        ha.PostingError(
            "1008", "currency EUR is not the property currency GBP", reference="eur-line"
        ),
    )
    await http.control(sim, "POST", "/night-audit/start")
    await client.submit(client.request("123456", payments=(("VISA", 100),), correlation_id="c2"))
    _, result, _ = await receiver.next()
    assert result.errors == (
        ha.PostingError(
            "1010", "night audit in progress; post after it ends", ha.ErrorType.PROCESSING
        ),
    )
    assert result.disposition.value == "retryable"


@pytest_twisted.ensureDeferred
async def test_a_repeated_correlation_id_gets_the_original_result_again_and_books_once(
    sim, client, receiver
):
    request = client.request("123456", revenue=(("SPA_TREATMENT", 5000),), correlation_id="evt-4")
    await client.submit(request)
    _, first, _ = await receiver.next()
    await client.submit(request)
    envelope, again, _ = await receiver.next()
    assert again == first
    assert envelope.addressing.relates_to == "urn:uuid:rq-2"  # answers the retry
    assert len(sim.hotel.folio(123456)) == 1


# Callback knobs -------------------------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_duplicate_callbacks_knob_posts_the_same_callback_twice(sim, http, client, receiver):
    await http.control(sim, "PUT", "/faults", {"duplicate_callbacks": 1})
    await client.submit(client.request("123456", payments=(("VISA", 100),)))
    _, first, _ = await receiver.next()
    _, second, _ = await receiver.next()
    assert first == second and first.success
    assert receiver.bodies[0] == receiver.bodies[1]
    assert len(sim.hotel.folio(123456)) == 1


@pytest_twisted.ensureDeferred
async def test_late_callback_knob_sends_the_result_after_the_delay(sim, http, client, receiver):
    await http.control(sim, "PUT", "/faults", {"callback_delay_ms": 100})
    await client.submit(client.request("123456", payments=(("VISA", 100),)))
    assert receiver.bodies == []  # acknowledged; the result is not sent yet
    assert sim.soap_resources["htng-async"].pending_callbacks == 1
    _, result, _ = await receiver.next()
    assert result.success
    assert [line.code for line in sim.hotel.folio(123456)] == ["VISA"]


@pytest_twisted.ensureDeferred
async def test_missing_callback_knob_books_but_never_calls_back_until_the_retry(
    sim, http, client, receiver
):
    await http.control(sim, "PUT", "/faults", {"drop_callbacks": 1})
    request = client.request("123456", payments=(("VISA", 100),), correlation_id="evt-6")
    await client.submit(request)
    assert sim.soap_resources["htng-async"].pending_callbacks == 0  # nothing will ever come
    assert [line.reference for line in sim.hotel.folio(123456)] == ["evt-6:p0"]
    await client.submit(request)  # the gateway times out and retries the same CorrelationID
    _, result, _ = await receiver.next()
    assert result.posted_lines == _posted(("evt-6:p0", 1))
    assert len(receiver.bodies) == 1
    assert len(sim.hotel.folio(123456)) == 1


@pytest_twisted.ensureDeferred
async def test_dropped_acknowledgement_still_posts_and_calls_back(sim, http, client, receiver):
    from twisted.internet.error import ConnectionDone, ConnectionLost
    from twisted.web._newclient import ResponseNeverReceived

    await http.control(sim, "PUT", "/faults", {"drop_answers": 1})
    with pytest.raises((ResponseNeverReceived, ConnectionDone, ConnectionLost)):
        await client.send(client.envelope(client.request("123456", payments=(("VISA", 100),))))
    _, result, _ = await receiver.next()
    assert result.success


# Faults ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("credentials", "subcode"),
    [(Credentials("foliogate-demo", "nope"), "FailedAuthentication"), (None, "InvalidSecurity")],
)
@pytest_twisted.ensureDeferred
async def test_bad_credentials_are_a_sender_fault_with_http_400_and_nothing_happens(
    sim, client, receiver, credentials, subcode
):
    caller = Caller(to=client.url, credentials=credentials, reply_to=receiver.url)
    body = client.envelope(client.request("123456", payments=(("VISA", 100),)), caller)
    status, answer = await client.send(body)
    fault = fault_of(answer)
    assert (status, fault.code, fault.subcode) == (400, FaultCode.SENDER, subcode)
    assert sim.soap_resources["htng-async"].pending_callbacks == 0
    assert sim.hotel.folio(123456) == ()


@pytest_twisted.ensureDeferred
async def test_schema_error_is_a_fault_naming_the_path(sim, client):
    request = client.request("123456", payments=(("VISA", 100),))
    body = client.envelope(dataclasses.replace(request, hotel_code="NO SPACES ALLOWED"))
    status, answer = await client.send(body)
    fault = fault_of(answer)
    assert (status, fault.subcode) == (400, "SchemaInvalid")
    assert fault.detail[0].startswith("/ChargePostingRQ/Property/@HotelCode: ")
    assert sim.hotel.folio(123456) == ()


@pytest_twisted.ensureDeferred
async def test_xml_bomb_is_refused_with_no_callback_and_the_ledger_untouched(sim, client):
    status, answer = await client.send(BOMB)
    fault = fault_of(answer)
    assert (status, fault.subcode) == (400, "HostileXml")
    assert sim.soap_resources["htng-async"].pending_callbacks == 0
    assert sim.hotel.trial_balance(None).net == 0


@pytest_twisted.ensureDeferred
async def test_a_request_without_a_callback_address_is_refused(sim, client):
    anonymous = "http://www.w3.org/2005/08/addressing/anonymous"
    caller = Caller(to=client.url, credentials=CREDENTIALS, reply_to=anonymous)
    status, answer = await client.send(
        client.envelope(client.request("123456", payments=(("VISA", 100),)), caller)
    )
    fault = fault_of(answer)
    assert (status, fault.subcode, fault.reason) == (
        400,
        "InvalidAddressingHeader",
        "wsa:ReplyTo must be the http(s) URL the result is POSTed to, "
        "got 'http://www.w3.org/2005/08/addressing/anonymous'",
    )
    assert sim.hotel.folio(123456) == ()


@pytest_twisted.ensureDeferred
async def test_a_result_sent_to_the_pms_is_not_a_request_it_handles(sim, client):
    result = ha.ChargePostingResultRequest("e", "c", NOW, posted_lines=_posted(("r", 1)))
    body = ha.build_charge_posting_result_request(
        result, caller=client.caller, stamp=Stamp("urn:uuid:x", NOW)
    )
    headers = http_headers(ha.SOAP_VERSION, ha.Operation.CHARGE_POSTING_RESULT.action)
    status, answer = await client.http.post(client.url, body, headers)
    fault = fault_of(answer)
    assert (status, fault.subcode) == (400, "ActionNotSupported")


@pytest_twisted.ensureDeferred
async def test_wsdl_is_served_with_this_servers_address(sim, http):
    url = sim.soap_urls["htng-async"]
    status, body = await http.get(url + "?wsdl")
    wsdl = etree.fromstring(body)
    assert (status, wsdl.get("targetNamespace")) == (200, ha.WSDL_NAMESPACE)
    ns = {"w": "http://schemas.xmlsoap.org/wsdl/", "s": "http://schemas.xmlsoap.org/wsdl/soap12/"}
    service = wsdl.xpath(
        f"//w:service[@name='{ha.SERVICE_NAME}']//s:address/@location", namespaces=ns
    )
    assert service == [url]


@pytest_twisted.ensureDeferred
async def test_a_callback_address_that_refuses_connections_is_logged_not_fatal(sim, client):
    from twisted.internet import reactor

    probe = reactor.listenTCP(0, Site(Resource()), interface="127.0.0.1")
    dead = f"http://127.0.0.1:{probe.getHost().port}/callback"
    await probe.stopListening()
    caller = Caller(to=client.url, credentials=CREDENTIALS, reply_to=dead)
    status, _ = await client.send(
        client.envelope(client.request("123456", payments=(("VISA", 100),)), caller)
    )
    assert status == 200
    resource = sim.soap_resources["htng-async"]
    for _ in range(500):  # until the failed POST is over (it fails fast: nothing listens)
        if not resource.pending_callbacks:
            break
        await task.deferLater(reactor, 0.01, lambda: None)
    assert resource.pending_callbacks == 0
    assert [line.code for line in sim.hotel.folio(123456)] == ["VISA"]


# A/R account payments (a ChargePostingRQ with an AccountPosting) ------------------------------


def account_request(
    account: str,
    amount: int,
    invoices: tuple[str, ...] = (),
    correlation_id: str = "ar-1",
    payment_type: str = "ONEJOURNEY",
    money: Money | None = None,
    hotel_code: str = "DEMO",
) -> ha.AccountPaymentRequest:
    return ha.AccountPaymentRequest(
        echo_token=f"echo-{correlation_id}",
        correlation_id=correlation_id,
        timestamp=NOW,
        hotel_code=hotel_code,
        account_number=account,
        payment_line=ha.PaymentLine(payment_type, money or gbp(amount), f"{correlation_id}:p0"),
        invoice_ids=invoices,
    )


async def submit_account(client: HtngAsync, request: ha.AccountPaymentRequest) -> None:
    client.count += 1
    body = ha.build_account_payment_request(
        request, caller=client.caller, stamp=Stamp(f"urn:uuid:rq-{client.count}", NOW)
    )
    status, answer = await client.send(body)
    assert status == 200, answer
    ack = ha.parse_charge_posting_response(parse_xml(answer))
    assert ack == ha.Acknowledgement(request.correlation_id, NOW, request.echo_token)


def _remaining(account: dict) -> list[tuple[str, int]]:
    return [(invoice["id"], invoice["remaining"]) for invoice in account["invoices"]]


@pytest_twisted.ensureDeferred
async def test_an_account_payment_naming_invoices_is_allocated_and_answered_by_callback(
    sim, http, client, receiver
):
    """400.00 to AR1001 naming A3 then A1: acknowledged at once; the callback's Success lists
    the posted line, A3 150.00 and A1 250.00, prepaid 0; the hotel's A/R ledger agrees; the
    same CorrelationID again is answered with the same result and books nothing."""
    request = account_request("AR1001", 40000, ("A3", "A1"))
    await submit_account(client, request)
    envelope, result, _ = await receiver.next()
    assert envelope.addressing.relates_to == "urn:uuid:rq-1"
    assert result == ha.ChargePostingResultRequest(
        "echo-ar-1",
        "ar-1",
        NOW,
        posted_lines=_posted(("ar-1:p0", 1)),
        allocation=ha.AccountAllocation(
            "AR1001",
            (ha.InvoiceAllocation("A3", gbp(15000)), ha.InvoiceAllocation("A1", gbp(25000))),
            gbp(0),
        ),
    )
    account = await http.control(sim, "GET", "/accounts/AR1001")
    assert _remaining(account) == [("A1", 5000), ("A2", 20000), ("A3", 0)]

    await submit_account(client, request)
    _, again, _ = await receiver.next()
    assert again == result
    account = await http.control(sim, "GET", "/accounts/AR1001")
    assert len(account["payments"]) == 1


@pytest_twisted.ensureDeferred
async def test_an_account_payment_naming_nothing_pays_the_oldest_first_and_keeps_the_rest(
    sim, http, client, receiver
):
    await submit_account(client, account_request("AR1001", 70000))
    _, result, _ = await receiver.next()
    assert result.allocation == ha.AccountAllocation(
        "AR1001",
        (
            ha.InvoiceAllocation("A1", gbp(30000)),
            ha.InvoiceAllocation("A2", gbp(20000)),
            ha.InvoiceAllocation("A3", gbp(15000)),
        ),
        gbp(5000),
    )
    account = await http.control(sim, "GET", "/accounts/AR1001")
    assert (_remaining(account), account["prepaid"]) == (
        [("A1", 0), ("A2", 0), ("A3", 0)],
        5000,
    )


@pytest.mark.parametrize(
    ("request_args", "error"),
    [
        (
            dict(account="AR9999"),
            ha.PostingError("1012", "no A/R account AR9999", reference="ar-1:p0"),
        ),
        (
            dict(amount=0),
            ha.PostingError(
                "1006",
                "A/R payments must be positive, not 0; a correction is a reversal",
                reference="ar-1:p0",
            ),
        ),
        (
            dict(amount=-100),
            ha.PostingError(
                "1006",
                "A/R payments must be positive, not -100; a correction is a reversal",
                reference="ar-1:p0",
            ),
        ),
        (
            dict(payment_type="PAYPAL"),
            ha.PostingError("1004", "'PAYPAL' is not a payment type", reference="ar-1:p0"),
        ),
        (
            dict(money=Money(100, "EUR", 2)),
            ha.PostingError(
                "1008", "currency EUR is not the property currency GBP", reference="ar-1:p0"
            ),
        ),
        (
            dict(hotel_code="ELSEWHERE"),
            ha.PostingError("1007", "unknown HotelCode 'ELSEWHERE'; this is DEMO"),
        ),
    ],
)
@pytest_twisted.ensureDeferred
async def test_refused_account_payments_book_nothing_and_the_callback_names_code_and_text(
    sim, http, client, receiver, request_args, error
):
    args = {"account": "AR1001", "amount": 100, **request_args}
    await submit_account(client, account_request(args.pop("account"), args.pop("amount"), **args))
    _, result, _ = await receiver.next()
    assert (result.errors, result.allocation, result.posted_lines) == ((error,), None, ())
    assert result.disposition.value == "terminal"
    account = await http.control(sim, "GET", "/accounts/AR1001")
    assert account["payments"] == []
    assert sim.hotel.trial_balance(None).net == 0


@pytest_twisted.ensureDeferred
async def test_an_account_payment_during_the_night_audit_is_a_retryable_processing_error(
    sim, http, client, receiver
):
    await http.control(sim, "POST", "/night-audit/start")
    await submit_account(client, account_request("AR1001", 100))
    _, result, _ = await receiver.next()
    assert result.errors == (
        ha.PostingError(
            "1010",
            "night audit in progress; post after it ends",
            ha.ErrorType.PROCESSING,
            reference="ar-1:p0",
        ),
    )
    assert result.disposition.value == "retryable"


@pytest_twisted.ensureDeferred
async def test_an_account_posting_with_two_payment_lines_is_a_schema_fault(sim, client):
    body = ha.build_account_payment_request(
        account_request("AR1001", 100), caller=client.caller, stamp=Stamp("urn:uuid:x", NOW)
    )
    start = body.index(b"<PaymentLine ")
    end = body.index(b"/>", start) + 2
    doubled = body[:end] + body[start:end] + body[end:]  # the schema allows one
    status, answer = await client.send(doubled)
    fault = fault_of(answer)
    assert (status, fault.subcode) == (400, "SchemaInvalid")
    assert fault.detail[0].startswith("/ChargePostingRQ/AccountPosting/PaymentLine")
    assert sim.soap_resources["htng-async"].pending_callbacks == 0


# The reservation search (synchronous) ---------------------------------------------------------


SEARCH_HEADERS = http_headers(ha.SOAP_VERSION, ha.Operation.RESERVATION_SEARCH.action)


async def search(
    client: HtngAsync, credentials: Credentials | None = CREDENTIALS, **criteria: Any
) -> tuple[int, bytes]:
    request = ha.ReservationSearchRequest(
        echo_token="search-1",
        timestamp=NOW,
        hotel_code=criteria.pop("hotel_code", "DEMO"),
        **criteria,
    )
    caller = Caller(to=client.url, credentials=credentials)
    body = ha.build_reservation_search_request(
        request, caller=caller, stamp=Stamp("urn:uuid:search-1", NOW)
    )
    return await client.http.post(client.url, body, SEARCH_HEADERS)


def _found(answer: bytes) -> ha.ReservationSearchResponse:
    envelope = parse_envelope(parse_xml(answer))
    assert envelope.addressing.relates_to == "urn:uuid:search-1"
    assert envelope.addressing.action == ha.Operation.RESERVATION_SEARCH.response_action
    return ha.parse_reservation_search_response(envelope.payload)


@pytest_twisted.ensureDeferred
async def test_a_search_by_name_prefix_is_answered_in_band_with_status_room_and_balance(
    sim, http, client, receiver
):
    """No callback: the reservations come back on the HTTP answer (EchoToken echoed), each
    with its status, room and folio balance."""
    await client.submit(client.request("123456", revenue=(("SPA_TREATMENT", 12000),)))
    await receiver.next()
    status, answer = await search(client, guest_name="dOE")
    assert status == 200
    assert _found(answer) == ha.ReservationSearchResponse(
        "search-1",
        NOW,
        (
            ha.HotelReservation(
                "123456",
                "Doe, Jane",
                dt.date(2026, 11, 27),
                dt.date(2026, 11, 29),
                ha.ReservationStatus.IN_HOUSE,
                room="101",
                balance=gbp(12000),
            ),
        ),
    )
    assert sim.soap_resources["htng-async"].pending_callbacks == 0
    assert len(receiver.bodies) == 1  # only the posting's result


@pytest_twisted.ensureDeferred
async def test_a_search_matches_every_criterion_given(sim, client):
    status, answer = await search(client, arrival=dt.date(2026, 11, 26))
    assert status == 200
    assert [(r.reservation_id, r.guest_name) for r in _found(answer).reservations] == [
        ("200101", "Garibaldi, Mr."),
        ("200102", "Gandhi, Mrs."),
    ]
    status, answer = await search(client, guest_name="Gan", arrival=dt.date(2026, 11, 26))
    assert [r.reservation_id for r in _found(answer).reservations] == ["200102"]
    status, answer = await search(client, reservation_id="500001")
    (gone,) = _found(answer).reservations
    assert (gone.status, gone.room, gone.balance) == (
        ha.ReservationStatus.CHECKED_OUT,
        "103",
        gbp(0),
    )
    status, answer = await search(client, guest_name="Nobody")
    assert _found(answer) == ha.ReservationSearchResponse("search-1", NOW)


@pytest.mark.parametrize(
    ("criteria", "error"),
    [
        (
            dict(hotel_code="ELSEWHERE", guest_name="Doe"),
            ha.PostingError("1007", "unknown HotelCode 'ELSEWHERE'; this is DEMO"),
        ),
        (
            dict(),
            ha.PostingError(
                "1013",
                "a search needs at least one of GuestName, ArrivalDate, DepartureDate, "
                "ReservationID",
            ),
        ),
    ],
)
@pytest_twisted.ensureDeferred
async def test_a_refused_search_is_answered_in_band_with_the_code_and_text(
    sim, client, criteria, error
):
    status, answer = await search(client, **criteria)
    assert status == 200
    found = _found(answer)
    assert (found.errors, found.reservations) == ((error,), ())
    assert found.disposition.value == "terminal"


@pytest_twisted.ensureDeferred
async def test_a_search_with_bad_credentials_is_a_sender_fault(sim, client):
    status, answer = await search(
        client, credentials=Credentials("foliogate-demo", "nope"), guest_name="Doe"
    )
    fault = fault_of(answer)
    assert (status, fault.code, fault.subcode) == (400, FaultCode.SENDER, "FailedAuthentication")


@pytest_twisted.ensureDeferred
async def test_a_search_whose_action_names_another_operation_is_refused(sim, client):
    request = ha.ReservationSearchRequest("search-1", NOW, "DEMO", guest_name="Doe")
    body = ha.build_reservation_search_request(
        request, caller=Caller(to=client.url, credentials=CREDENTIALS), stamp=Stamp("u:1", NOW)
    )
    body = body.replace(
        ha.Operation.RESERVATION_SEARCH.action.encode(), ha.Operation.CHARGE_POSTING.action.encode()
    )
    status, answer = await client.http.post(client.url, body, SEARCH_HEADERS)
    assert (status, fault_of(answer).subcode) == (400, "ActionMismatch")
