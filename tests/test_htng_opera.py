"""opera-htng profile: parse errors name the path, the XSD names the offending element, the
simulator's dispatch finds the operation, faults surface as SoapFault, and the ErrorCode
table classifies every answer."""

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st
from lxml import etree

from protocols.htng import opera_htng as oh
from protocols.htng.codes import Disposition
from protocols.htng.money import Money
from protocols.soap import (
    Caller,
    Credentials,
    Fault,
    FaultCode,
    MessageError,
    SoapFault,
    SoapVersion,
    Stamp,
    build_fault_envelope,
    parse_envelope,
    parse_xml,
)

NS = oh.NAMESPACE
STAMP = Stamp("urn:uuid:1", dt.datetime(2026, 11, 21, 10, 4, 5, tzinfo=dt.UTC))
CALLER = Caller(to="http://pms/", credentials=Credentials("u", "p"))


def _payload(xml: str):
    return etree.fromstring(f'<PostChargeRequest xmlns="{NS}">{xml}</PostChargeRequest>')


VALID = (
    "<ReservationID>1</ReservationID><TransactionCode>SPA</TransactionCode>"
    '<Amount currencyCode="GBP" decimals="2">5000</Amount><Reference>r</Reference>'
)


def test_folio_window_defaults_to_one_when_absent():
    assert oh.parse_post_charge_request(_payload(VALID)) == oh.PostChargeRequest(
        "1", "SPA", Money(5000, "GBP", 2), "r"
    )


@pytest.mark.parametrize(
    ("xml", "message"),
    [
        (VALID.replace("<Reference>r</Reference>", ""), "/PostChargeRequest/Reference: missing"),
        (
            VALID.replace("5000", "50.00"),
            "/PostChargeRequest/Amount: '50.00' is not an integer of minor units",
        ),
        (
            VALID.replace('decimals="2"', 'decimals="two"'),
            "/PostChargeRequest/Amount/@decimals: 'two' is not an integer",
        ),
        (
            VALID.replace('currencyCode="GBP"', 'currencyCode="gbp"'),
            "/PostChargeRequest/Amount: currency 'gbp' is not an ISO 4217 code",
        ),
        (
            VALID.replace('currencyCode="GBP" ', ""),
            "/PostChargeRequest/Amount/@currencyCode: missing",
        ),
        (
            VALID + "<BusinessDate>21/11/2026</BusinessDate>",
            "/PostChargeRequest/BusinessDate: '21/11/2026' is not an xs:date",
        ),
        (
            VALID + "<Reference>again</Reference>",
            "/PostChargeRequest/Reference: appears 2 times; once expected",
        ),
        (
            VALID.replace("<ReservationID>1</ReservationID>", "<ReservationID> </ReservationID>"),
            "/PostChargeRequest/ReservationID: empty",
        ),
    ],
)
def test_parse_errors_name_the_path_and_the_problem(xml, message):
    with pytest.raises(MessageError) as caught:
        oh.parse_post_charge_request(_payload(xml))
    assert str(caught.value) == message


def test_parsing_the_wrong_payload_says_what_was_expected():
    with pytest.raises(MessageError) as caught:
        oh.parse_post_payment_request(_payload(VALID))
    assert str(caught.value) == (
        "/PostChargeRequest: expected {urn:foliogate:opera-htng:1}PostPaymentRequest, "
        "got {urn:foliogate:opera-htng:1}PostChargeRequest"
    )


def test_xsd_errors_carry_readable_paths():
    payload = _payload(
        "<ReservationID>1</ReservationID><FolioWindow>9</FolioWindow>"
        "<TransactionCode>SPA</TransactionCode>"
        '<Amount currencyCode="gbp" decimals="2">50.00</Amount>'
        "<Reference>r</Reference><Bogus/>"
    )
    assert oh.xsd_validator().validate_body(payload) == [
        "/PostChargeRequest/FolioWindow: [facet 'maxInclusive'] The value '9' is greater than "
        "the maximum value allowed ('8').",
        "/PostChargeRequest/Amount/@currencyCode: [facet 'pattern'] The value 'gbp' is not "
        "accepted by the pattern '[A-Z]{3}'.",
        "/PostChargeRequest/Amount: '50.00' is not a valid value of the atomic type 'xs:long'.",
        "/PostChargeRequest/Bogus: This element is not expected. Expected is one of "
        "( BusinessDate, Description ).",
    ]


def test_xsd_error_in_a_repeated_element_gets_its_index():
    folio = oh.build_fetch_folio_response(
        oh.FetchFolioResponse(
            oh.Result.success(),
            oh.Folio(
                "1",
                tuple(
                    oh.FolioLine(
                        n, 1, oh.LineKind.CHARGE, "SPA", Money(1, "GBP", 2), dt.date(2026, 1, 1)
                    )
                    for n in (1, 2)
                ),
                Money(2, "GBP", 2),
            ),
        ),
        relates_to=None,
        stamp=STAMP,
    )
    payload = parse_envelope(parse_xml(folio)).payload
    payload.findall(f".//{{{NS}}}Kind")[1].text = "REFUND"
    assert oh.xsd_validator().validate_body(payload) == [
        "/FetchFolioResponse/Folio/Line[2]/Kind: [facet 'enumeration'] The value 'REFUND' is "
        "not an element of the set {'CHARGE', 'PAYMENT'}."
    ]


def test_parse_request_dispatches_on_the_payload():
    request = oh.FetchFolioRequest("123456", 2)
    root = parse_xml(oh.build_fetch_folio_request(request, caller=CALLER, stamp=STAMP))
    parsed = oh.parse_request(root)
    assert parsed == request
    assert oh.operation_of(parsed) is oh.Operation.FETCH_FOLIO


def test_parse_request_refuses_a_foreign_payload():
    with pytest.raises(MessageError) as caught:
        oh.parse_request(etree.fromstring("<PostToRoom xmlns='urn:foliogate:rezlynx:1'/>"))
    assert str(caught.value) == (
        "/PostToRoom: not a request of the opera-htng profile: {urn:foliogate:rezlynx:1}PostToRoom"
    )


def test_a_fault_answer_raises_soap_fault():
    data = build_fault_envelope(Fault(FaultCode.SENDER, "bad password"), SoapVersion.SOAP11)
    with pytest.raises(SoapFault) as caught:
        oh.parse_post_charge_response(parse_xml(data))
    assert caught.value.fault == Fault(FaultCode.SENDER, "bad password")


def test_operations_are_found_by_their_soap_action():
    for operation in oh.Operation:
        assert oh.Operation.from_action(operation.action) is operation
    assert oh.Operation.from_action(None) is None
    assert oh.Operation.from_action("urn:foliogate:rezlynx:1/PostToRoom") is None


def test_actions_and_elements_per_operation():
    assert oh.Operation.POST_CHARGE.action == "urn:foliogate:opera-htng:1#PostCharge"
    assert oh.Operation.POST_CHARGE.response_action == (
        "urn:foliogate:opera-htng:1#PostChargeResponse"
    )
    assert [op.request_element for op in oh.Operation] == [
        "PostChargeRequest",
        "PostPaymentRequest",
        "FetchFolioRequest",
        "SearchReservationsRequest",
        "PostAccountPaymentRequest",
    ]


def test_every_error_code_is_in_the_table_with_a_disposition():
    assert set(oh.RESULT_CODES) == {code.value for code in oh.ErrorCode}
    assert oh.Result.success().disposition is Disposition.POSTED
    assert oh.Result.fail("RESV_NOT_IN_HOUSE", "x").disposition is Disposition.DEFERRED
    assert oh.Result.fail("NIGHT_AUDIT_IN_PROGRESS", "x").disposition is Disposition.RETRYABLE
    assert oh.Result.fail("INVALID_TRX_CODE", "x").disposition is Disposition.TERMINAL
    assert oh.Result.fail("SOMETHING_NEW", "x").disposition is Disposition.TERMINAL


def test_contract_files_ship_in_the_package():
    assert oh.wsdl_path().name == "opera_htng.wsdl"
    assert oh.xsd_path().read_text().count('targetNamespace="urn:foliogate:opera-htng:1"') == 1
    assert oh.xsd_validator() is oh.xsd_validator()


codes = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ_0123456789", min_size=1, max_size=20)
texts = (
    st.text(
        alphabet=st.characters(blacklist_categories=("Cs", "Cc", "Cn")), min_size=1, max_size=60
    )
    .map(str.strip)
    .filter(bool)
)


@given(
    reservation_id=st.from_regex(r"[A-Za-z0-9-]{1,40}", fullmatch=True),
    code=codes,
    amount=st.integers(min_value=-(2**62), max_value=2**62),
    currency=st.sampled_from(["GBP", "EUR", "JPY", "BHD"]),
    reference=texts,
    window=st.integers(min_value=1, max_value=8),
    business_date=st.none() | st.dates(),
    description=st.none() | texts,
)
def test_any_valid_charge_round_trips_and_validates(
    reservation_id, code, amount, currency, reference, window, business_date, description
):
    request = oh.PostChargeRequest(
        reservation_id,
        code,
        Money.of(amount, currency),
        reference,
        window,
        business_date,
        description,
    )
    root = parse_xml(oh.build_post_charge_request(request, caller=CALLER, stamp=STAMP))
    assert oh.xsd_validator().validate_body(parse_envelope(root).payload) == []
    assert oh.parse_post_charge_request(root) == request
