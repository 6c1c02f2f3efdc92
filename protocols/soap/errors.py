"""Errors raised while reading an envelope or a payload (each says where and what)."""

from __future__ import annotations

from protocols.soap.fault import FaultCode


class EnvelopeError(ValueError):
    """The document is XML but not a SOAP envelope we accept.

    ``fault_code`` is the fault a server answers with: ``VERSION_MISMATCH`` for an envelope in
    an unknown namespace, ``SENDER`` for everything else.
    """

    def __init__(self, message: str, *, fault_code: FaultCode = FaultCode.SENDER) -> None:
        super().__init__(message)
        self.fault_code = fault_code


class MessageError(ValueError):
    """A payload lacks something its parser needs; ``path`` names the element or attribute.

    ``str()`` is ``"<path>: <problem>"``, e.g. ``"/PostChargeRequest/Amount: missing"``.
    """

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = path
        self.problem = problem
