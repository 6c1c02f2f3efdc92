"""foliogate's SOAP posting profiles: our own WSDL/XSD and message codecs, one package each.

No single public standard exists for posting charges and payments to a folio over SOAP, so
foliogate speaks *profiles*, each modelled on public descriptions and authored in its own
namespace ``urn:foliogate:<profile>:1`` (a real vendor WSDL can replace ours at deployment):

=================  =============================  ====  =========  ==========================
profile            package                        SOAP  WS-Addr.   auth / results
=================  =============================  ====  =========  ==========================
``opera-htng``     :mod:`protocols.htng.opera_htng`  1.1   2004/08   UsernameToken; Result flag
``rezlynx``        :mod:`protocols.htng.rezlynx`     1.1   none      LogIn session; ExceptionCode
``htng-async``     :mod:`protocols.htng.htng_async`  1.2   2005/08   UsernameToken; async result
=================  =============================  ====  =========  ==========================

Every profile package offers the same shape: ``wsdl_path()``, ``xsd_path()``,
``xsd_validator()`` (an :class:`protocols.soap.XsdValidator`), an ``Operation`` enum (actions,
element names), frozen dataclasses per request and response, ``build_<op>_request``,
``parse_<op>_request``, ``build_<op>_response``, ``parse_<op>_response``, ``parse_request``
(simulator dispatch), and ``RESULT_CODES``, the in-band result-code table as data
(:class:`protocols.htng.codes.ResultCode` with a :class:`~protocols.htng.codes.Disposition`).
Money is :mod:`protocols.htng.money` (integer minor units, never floats).

The simulators build and read messages with these functions; the gateway's posters load the
same WSDL into zeep (in ``adapters/``) and may parse answers with ``parse_<op>_response``.
"""

from protocols.htng.codes import Disposition, ResultCode
from protocols.htng.money import Money

#: Profile name -> package name.
PROFILES = {
    "opera-htng": "protocols.htng.opera_htng",
    "rezlynx": "protocols.htng.rezlynx",
    "htng-async": "protocols.htng.htng_async",
}

__all__ = ["PROFILES", "Disposition", "Money", "ResultCode"]
