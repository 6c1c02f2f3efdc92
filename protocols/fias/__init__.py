"""FIAS (Fidelio Interface Application Specification): framing, spec tables and codec. No I/O.

The public API (see docs/fias-codec-contract.md) is re-exported here::

    framer = Framer()
    for item in framer.feed(chunk):
        if isinstance(item, FramingError): ...
        else: message = decode(item)        # PostingAnswer(...), GuestCheckIn(...), or a Record
    transport.write(encode(PostingRequest(posting_number=1738, workstation="456", ...)))
"""

from .codec import (
    check_encoding,
    decode,
    decode_record,
    encode,
    encode_record,
    message_encoder,
)
from .errors import FiasDecodeError, FiasEncodeError
from .framing import ETX, STX, Framer, FramingError, frame, lrc
from .pretty import pretty
from .records import (
    MESSAGE_TYPES,
    DatabaseResyncEnd,
    DatabaseResyncRequest,
    DatabaseResyncStart,
    GuestChange,
    GuestCheckIn,
    GuestCheckOut,
    Kind,
    LinkAlive,
    LinkConfiguration,
    LinkDescription,
    LinkEnd,
    LinkRecord,
    LinkStart,
    Message,
    MinibarArticle,
    NightAuditEnd,
    NightAuditStart,
    PostingAnswer,
    PostingList,
    PostingListGuest,
    PostingRequest,
    PostingSimple,
    Record,
)
from .spec import (
    ANSWER_STATUSES,
    FIELDS,
    MAX_RECORD_LENGTH,
    RECORD_TYPES,
    AnswerStatus,
    Direction,
    FieldSpec,
    Format,
    RecordSpec,
    RetryClass,
    answer_status,
)

__all__ = [
    "ANSWER_STATUSES",
    "ETX",
    "FIELDS",
    "MAX_RECORD_LENGTH",
    "MESSAGE_TYPES",
    "RECORD_TYPES",
    "STX",
    "AnswerStatus",
    "DatabaseResyncEnd",
    "DatabaseResyncRequest",
    "DatabaseResyncStart",
    "Direction",
    "FiasDecodeError",
    "FiasEncodeError",
    "FieldSpec",
    "Format",
    "Framer",
    "FramingError",
    "GuestChange",
    "GuestCheckIn",
    "GuestCheckOut",
    "Kind",
    "LinkAlive",
    "LinkConfiguration",
    "LinkDescription",
    "LinkEnd",
    "LinkRecord",
    "LinkStart",
    "Message",
    "MinibarArticle",
    "NightAuditEnd",
    "NightAuditStart",
    "PostingAnswer",
    "PostingList",
    "PostingListGuest",
    "PostingRequest",
    "PostingSimple",
    "Record",
    "RecordSpec",
    "RetryClass",
    "answer_status",
    "check_encoding",
    "decode",
    "decode_record",
    "encode",
    "encode_record",
    "frame",
    "lrc",
    "message_encoder",
    "pretty",
]
