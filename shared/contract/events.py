"""CloudEvents 1.0 envelope and the data of each event type, with every rule of docs/contract.md.

`decode` is the single door through which a message body becomes an event: anything it
rejects raises `InvalidEvent` with a reason fit for a dead-letter header.
"""

import datetime as dt
import uuid
from typing import Annotated, Any, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    ValidationInfo,
    field_validator,
)

from .. import contract
from .nip import InvalidNip, validate_nip
from .ordering import MAX_CLOCK_SKEW, ahead_of_clock
from .programs import Programs

MAX_BODY_BYTES = 64 * 1024

# Every number of every event is bounded: an integer past 64 bits passes an unbounded `int` and
# then fails the database write of every report that shares its batch (BSON has no such type).
# A session lasts a day at most, so a presence is at most a day's minutes; beyond that it is a
# unit mistake (seconds) or hostile.
MAX_MINUTES = 24 * 60
# Far above any real program (16 sessions): daily sessions for almost three years.
MAX_SESSIONS = 1000
# A JP (jam pelajaran) is 45 minutes of learning: a day-long session earns at most 32.
MAX_JP = MAX_SESSIONS * MAX_MINUTES // 45
# A revision is an operator's correction of the holder's data: a thousand of one certificate is no real case.
MAX_REVISION = 1000

Text200 = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
SessionNumber = Annotated[int, Field(ge=1, le=MAX_SESSIONS)]
Jenjang = Literal[contract.JENJANG]  # type: ignore[valid-type]


class InvalidEvent(ValueError):
    """A message that must never be acted on; its text is the dead-letter reason."""


def _program_of(program_id: str, info: ValidationInfo):
    programs: Programs | None = (info.context or {}).get("programs")
    if programs is not None and program_id not in programs:
        raise ValueError(f"unknown program {program_id!r}")
    return programs.get(program_id) if programs is not None else None


class _Data(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)


class _ProgramNip(_Data):
    program_id: str = Field(min_length=1, max_length=100)
    nip: str

    @field_validator("program_id")
    @classmethod
    def _known_program(cls, v: str, info: ValidationInfo) -> str:
        _program_of(v, info)
        return v

    @field_validator("nip")
    @classmethod
    def _nip(cls, v: str) -> str:
        try:
            return validate_nip(v)
        except InvalidNip as e:
            raise ValueError(str(e)) from None


class EnrolledData(_ProgramNip):
    name: Text200
    jenjang: Jenjang
    unit_kerja: Text200
    email: str | None = None


class AttendedData(_ProgramNip):
    session: int = Field(strict=True)
    minutes: int | None = Field(default=None, strict=True, ge=0, le=MAX_MINUTES)

    @field_validator("session")
    @classmethod
    def _session_in_program(cls, v: int, info: ValidationInfo) -> int:
        program = _program_of(info.data["program_id"], info) if "program_id" in info.data else None
        upper = program.session_count if program is not None else MAX_SESSIONS
        if not 1 <= v <= upper:
            raise ValueError(f"session must be between 1 and {upper}")
        return v


class CompletedData(_ProgramNip):
    name: Text200
    jenjang: Jenjang
    unit_kerja: Text200
    sessions: list[SessionNumber] = Field(max_length=MAX_SESSIONS)
    jp: int = Field(ge=0, le=MAX_JP)
    completed_at: AwareDatetime


class CertificateIssuedData(_ProgramNip):
    certificate_id: str
    number: str
    revision: int = Field(ge=1, le=MAX_REVISION)
    url: str
    verify_url: str
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    issued_at: AwareDatetime
    # Addition (issue 15): the Open Badges 3.0 credential (VC-JWT); absent where none was issued.
    credential_url: str | None = Field(default=None, exclude_if=lambda v: v is None)


class CertificateRevokedData(_ProgramNip):
    certificate_id: str
    reason: str
    revoked_at: AwareDatetime


class WithdrawnData(_ProgramNip):
    """Our addition to the contract: the participant left the program at `withdrawn_at`."""

    reason: Text200
    withdrawn_at: AwareDatetime


DATA_BY_TYPE: dict[str, type[_Data]] = {
    "humas.enrolled.v1": EnrolledData,
    "humas.attended.v1": AttendedData,
    "humas.completed.v1": CompletedData,
    "humas.certificate.issued.v1": CertificateIssuedData,
    "humas.certificate.revoked.v1": CertificateRevokedData,
    "humas.withdrawn.v1": WithdrawnData,
}


class CloudEvent(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)
    specversion: Literal["1.0"]
    id: str = Field(min_length=1, max_length=200)
    source: str = Field(min_length=1, max_length=500)
    type: str
    time: AwareDatetime | None = None
    datacontenttype: str | None = None
    data: Any

    def to_json(self) -> bytes:
        return self.model_dump_json(exclude_none=True).encode()


def typed_envelope(routing_key: str) -> type[CloudEvent]:
    """The envelope with its `data` typed, for documentation (AsyncAPI)."""
    from pydantic import create_model

    type_ = contract.TYPE_BY_ROUTING_KEY[routing_key]
    data_model = DATA_BY_TYPE[type_]
    name = data_model.__name__.removesuffix("Data") + "Event"
    return create_model(name, __base__=CloudEvent, type=(Literal[type_], ...), data=(data_model, ...))  # type: ignore[call-overload]


def new_event(
    routing_key: str, source: str, data: _Data, *, id: str | None = None, time: dt.datetime | None = None
) -> CloudEvent:
    return CloudEvent(
        specversion=contract.SPECVERSION,
        id=id or str(uuid.uuid4()),
        source=source,
        type=contract.TYPE_BY_ROUTING_KEY[routing_key],
        time=time or dt.datetime.now(dt.UTC),
        datacontenttype="application/json",
        data=data.model_dump(mode="json"),
    )


def _reason(error: ValidationError, prefix: str) -> str:
    parts = []
    for e in error.errors(include_url=False)[:5]:
        where = ".".join(str(p) for p in e["loc"]) or "body"
        parts.append(f"{where}: {e['msg']}")
    return f"{prefix}{'; '.join(parts)}"


def decode(body: bytes, accepted: dict[str, type[_Data]], programs: Programs | None = None, *,
           now: dt.datetime | None = None, max_skew: dt.timedelta = MAX_CLOCK_SKEW):  # fmt: skip
    """Body bytes → (envelope, typed data), or InvalidEvent with the reason.

    A fact dated ahead of our clock (beyond `max_skew`) is refused, whatever its type: its date is
    wrong, and as the latest `time` it could never be corrected (shared/contract/ordering.py)."""
    if len(body) > MAX_BODY_BYTES:
        raise InvalidEvent(f"body of {len(body)} bytes exceeds the limit of {MAX_BODY_BYTES}")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidEvent("body is not UTF-8") from None
    try:
        envelope = CloudEvent.model_validate_json(text)
    except ValidationError as e:
        if any(err["type"] == "json_invalid" for err in e.errors()):
            raise InvalidEvent("body is not JSON") from None
        raise InvalidEvent(_reason(e, "not a CloudEvent 1.0: ")) from None
    model = accepted.get(envelope.type)
    if model is None:
        raise InvalidEvent(f"unexpected event type {envelope.type!r}")
    try:
        data = model.model_validate(envelope.data, context={"programs": programs})
    except ValidationError as e:
        raise InvalidEvent(_reason(e, f"invalid {envelope.type} data: ")) from None
    now = now or dt.datetime.now(dt.UTC)
    dated = [("time", envelope.time)]
    if isinstance(data, WithdrawnData):  # the time that orders a withdrawal
        dated.append(("data.withdrawn_at", data.withdrawn_at))
    for where, time in dated:
        if time is not None and ahead_of_clock(time, now, max_skew):
            raise InvalidEvent(f"{where}: {time.isoformat()} is in the future (more than "
                               f"{max_skew.total_seconds():.0f} s ahead of the receiving service's clock)")  # fmt: skip
    return envelope, data


def event_identity(body: bytes) -> str:
    """The event id of a body if it has one, else a digest of the bytes (for logs, dead letters)."""
    import hashlib
    import json

    try:
        value = json.loads(body).get("id")
        if isinstance(value, str) and value:
            return value[:200]
    except (ValueError, AttributeError):
        pass
    return "sha256:" + hashlib.sha256(body).hexdigest()[:16]


def completed_event_id(program_id: str, nip: str, generation: int = 0) -> str:
    """docs/contract.md: a repeated completion carries the same id, derived from program_id and nip."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"humas:completed:{program_id}:{nip}:{generation}"))
