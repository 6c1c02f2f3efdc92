"""SoapHttp, the SOAP posters' HTTP client, against a recording server on loopback: the request
line and headers it writes (one Host, the URL encoded once), answers with and without a body,
the size limit, and the failure classes (the channels' tests cover the deadline, a dropped
connection and a refused one through a whole posting)."""

from typing import Any

import pytest
import pytest_twisted
from twisted.internet import defer, reactor
from twisted.web import server
from twisted.web.resource import Resource

from adapters.soap_channel import AnswerUnknown, RequestNotSent, SoapHttp

SOAP11 = {"Content-Type": "text/xml; charset=utf-8", "SOAPAction": '"urn:x#A"'}


class Recorder(Resource):
    """Records each request's URI, raw headers and body; answers ``answers`` in turn."""

    isLeaf = True

    def __init__(self, *answers: tuple[int, bytes]) -> None:
        super().__init__()
        self.answers = list(answers)
        self.requests: list[tuple[bytes, dict[bytes, list[bytes]], bytes]] = []

    def render_POST(self, request: Any) -> bytes:  # noqa: N802
        headers = {k.lower(): list(v) for k, v in request.requestHeaders.getAllRawHeaders()}
        self.requests.append((request.uri, headers, request.content.read()))
        status, body = self.answers.pop(0) if self.answers else (200, b"<ok/>")
        request.setResponseCode(status)
        request.setHeader(b"Content-Type", b"text/xml; charset=utf-8")
        request.setHeader(b"X-Answer", b"yes")
        return body


@pytest.fixture(params=["direct", "agent.request"])
def serve(request):
    """A recording server and a SoapHttp posting to it; every test runs twice: through the
    direct path (``Agent._requestWithEndpoint`` with the URI parsed once) and through the
    public ``Agent.request`` the client falls back to when Twisted's internals differ."""
    made: list[Any] = []

    @defer.inlineCallbacks
    def start(resource: Recorder, path: str = "/pms", **options: Any) -> Any:
        site = server.Site(resource)
        site.noisy = False
        port = yield defer.maybeDeferred(reactor.listenTCP, 0, site, interface="127.0.0.1")
        http = SoapHttp(reactor, f"http://127.0.0.1:{port.getHost().port}{path}",
                        timeout=5.0, **options)  # fmt: skip
        if request.param == "agent.request":
            http._send_direct = None
        made.append((port, http))
        return port.getHost().port, http

    yield start
    for port, http in made:
        pytest_twisted.blockon(http.close())
        pytest_twisted.blockon(defer.maybeDeferred(port.stopListening))


@pytest_twisted.inlineCallbacks
def test_a_post_writes_the_body_the_given_headers_and_one_host_header(serve):
    """Every request carries the caller's headers and exactly one Host (the agent's value);
    a header set used again (the same SOAP action) goes out the same, and another set does
    not carry the first one's headers."""
    pms = Recorder()
    port, http = yield serve(pms)
    yield http.post(b"<one/>", SOAP11)
    yield http.post(b"<two/>", SOAP11)
    yield http.post(b"<three/>", {"Content-Type": 'application/soap+xml; action="urn:x#B"'})
    assert [body for _, _, body in pms.requests] == [b"<one/>", b"<two/>", b"<three/>"]
    for _, headers, body in pms.requests:
        assert headers[b"host"] == [f"127.0.0.1:{port}".encode()]
        assert headers[b"content-length"] == [str(len(body)).encode()]
    for _, headers, _ in pms.requests[:2]:
        assert headers[b"content-type"] == [b"text/xml; charset=utf-8"]
        assert headers[b"soapaction"] == [b'"urn:x#A"']
    last = pms.requests[2][1]
    assert last[b"content-type"] == [b'application/soap+xml; action="urn:x#B"']
    assert b"soapaction" not in last


@pytest_twisted.inlineCallbacks
def test_the_url_is_sent_encoded_as_treq_encodes_it(serve):
    """The path and query go out percent-encoded (what treq's ``to_uri`` made of the URL on
    every request, now made once)."""
    pms = Recorder()
    _, http = yield serve(pms, path="/soap service/é?site=a b")
    yield http.post(b"<x/>", SOAP11)
    assert pms.requests[0][0] == b"/soap%20service/%C3%A9?site=a%20b"


@pytest_twisted.inlineCallbacks
def test_the_answer_keeps_status_headers_and_body_and_an_empty_body_reads_empty(serve):
    pms = Recorder((500, b"<fault/>"), (202, b""))
    _, http = yield serve(pms)
    answer = yield http.post(b"<x/>", SOAP11)
    assert (answer.status_code, answer.content) == (500, b"<fault/>")
    assert answer.headers["X-Answer"] == "yes"
    assert answer.headers["Content-Type"] == "text/xml; charset=utf-8"
    empty = yield http.post(b"<x/>", SOAP11)
    assert (empty.status_code, empty.content) == (202, b"")


@pytest_twisted.inlineCallbacks
def test_an_answer_larger_than_the_limit_is_unknown_and_not_read(serve):
    pms = Recorder((200, b"<big>" + b"x" * 5000 + b"</big>"))
    _, http = yield serve(pms, max_bytes=1000)
    with pytest.raises(AnswerUnknown, match="larger than 1000 bytes"):
        yield http.post(b"<x/>", SOAP11)


@pytest_twisted.inlineCallbacks
def test_a_refused_connection_is_not_sent():
    from twisted.internet.endpoints import TCP4ServerEndpoint

    # A port that was listening a moment ago and is closed now: connecting is refused.
    port = yield TCP4ServerEndpoint(reactor, 0, interface="127.0.0.1").listen(server.Site(
        Recorder()))  # fmt: skip
    number = port.getHost().port
    yield port.stopListening()
    http = SoapHttp(reactor, f"http://127.0.0.1:{number}/pms", timeout=5.0)
    with pytest.raises(RequestNotSent, match="ConnectionRefusedError"):
        yield http.post(b"<x/>", SOAP11)
    yield http.close()


def test_the_installed_twisted_has_the_direct_path():
    """The fallback is correct but slower: a Twisted whose Agent internals changed fails
    here, so someone looks, instead of the gateway silently spending more per exchange."""
    http = SoapHttp(reactor, "http://127.0.0.1:9/pms", timeout=1.0)
    assert http._send_direct is not None
    assert http._path == b"/pms"
    assert http._key == (b"http", b"127.0.0.1", 9)


def test_an_agent_without_the_known_internals_goes_through_agent_request():
    from adapters.soap_channel import _direct_request

    class Other:
        def _requestWithEndpoint(self, key, endpoint, method, uri, headers):  # noqa: N802
            raise AssertionError("not called")

    assert _direct_request(Other()) is None
    assert _direct_request(object()) is None
