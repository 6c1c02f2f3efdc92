"""How the gateway wires a SOAP property: credentials from the environment, the htng-async
callback URL (``callback_base_url`` or the API's own address), the channel as a link status,
and ``GET /v1/links`` listing SOAP properties."""

import json

import pytest
import pytest_twisted
import treq
from soap_test_pms import property_config
from twisted.internet import reactor, task

from adapters.api import sign
from adapters.cli.stack import EXAMPLE_SOAP_CONFIG, Stack
from adapters.config import SecretMissing
from adapters.fias_link import LinkState
from adapters.soap_channel import gateway_channel

ENVIRON = {"PMS_USER": "u", "PMS_PASSWORD": "p"}


class FakeDispatcher:
    def __init__(self):
        self.woken = 0

    def wake(self):
        self.woken += 1


def channel_for(prop, environ=ENVIRON):
    dispatcher = FakeDispatcher()
    return gateway_channel(
        prop, journal=None, reactor=reactor, now=None, environ=environ,
        dispatcher=lambda: dispatcher, api_url=lambda: "http://127.0.0.1:8600",
    ), dispatcher  # fmt: skip


def test_htng_async_results_come_back_to_the_api_unless_a_base_url_is_configured():
    plain = property_config("htng-async", "http://127.0.0.1:9/pms")
    channel, _ = channel_for(plain)
    assert channel.callback_url() == "http://127.0.0.1:8600/v1/callbacks/htng-async/PMS-htng-async"
    proxied = property_config(
        "htng-async", "http://127.0.0.1:9/pms",
        extra_soap='callback_base_url = "https://gw.example.com/foliogate/"',
    )  # fmt: skip
    channel, _ = channel_for(proxied)
    assert channel.callback_url() == (
        "https://gw.example.com/foliogate/v1/callbacks/htng-async/PMS-htng-async"
    )


def test_credentials_come_from_the_environment_and_a_missing_one_stops_the_start():
    prop = property_config("opera-htng", "http://127.0.0.1:9/pms")
    channel, _ = channel_for(prop)
    assert (channel.credentials.username, channel.credentials.password) == ("u", "p")
    with pytest.raises(SecretMissing, match="PMS_PASSWORD"):
        channel_for(prop, {"PMS_USER": "u"})


@pytest_twisted.inlineCallbacks
def test_the_channel_is_a_link_alive_until_the_endpoint_is_known_down_then_wakes_its_dispatcher():
    prop = property_config("rezlynx", "http://127.0.0.1:9/pms")
    channel, dispatcher = channel_for(prop)
    channel.endpoint_retry_seconds = 0.05
    assert channel.status.state is LinkState.ALIVE and channel.status.can_post
    channel.mark_down("ConnectionRefusedError")
    assert channel.status.state is LinkState.DOWN
    assert channel.hold_reason().startswith("PMS endpoint http://127.0.0.1:9/pms unreachable")
    yield task.deferLater(reactor, 0.1, lambda: None)
    assert channel.status.state is LinkState.ALIVE and dispatcher.woken == 1
    yield channel.stopService()
    assert channel.status.state is LinkState.DOWN and channel.running is False


@pytest_twisted.inlineCallbacks
def test_get_links_lists_the_soap_properties(tmp_path):
    stack = Stack(reactor, tmp_path, config_path=EXAMPLE_SOAP_CONFIG, soap_profiles=["rezlynx"])
    yield stack.start()
    try:
        raw = b""
        response = yield treq.get(
            stack.gateway.api_url + "/v1/links",
            headers={"Foliogate-Signature": [sign(stack.secret, raw, int(reactor.seconds()))],
                     "Foliogate-Source": [stack.source]},
        )  # fmt: skip
        links = json.loads((yield response.content()))["links"]
        assert {(link["property"], link["profile"], link["state"]) for link in links} == {
            ("DEMO-OPERA", "opera-htng", "alive"),
            ("DEMO-REZLYNX", "rezlynx", "alive"),
            ("DEMO-HOTEL-PERFECT", "htng-async", "alive"),
        }
    finally:
        yield stack.stop()
