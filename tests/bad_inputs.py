"""The bad-input table: malformed messages, each with the routing key it arrives on and the
reason it must be refused with. Used by the unit test of `decode` and by the integration
test that sends every one of them through the real broker to a running service."""

import json

from devstack.upstream import cloud_event
from shared import contract
from shared.contract.events import MAX_BODY_BYTES

P = "humas-level-up-2026"
NIP = "198503122010011004"
ENROLLED = {
    "program_id": P,
    "nip": NIP,
    "name": "Siti Aminah, S.Sos.",
    "jenjang": "ahli_pertama",
    "unit_kerja": "Biro Humas",
}
ATTENDED = {"program_id": P, "nip": NIP, "session": 3, "minutes": 90}
WITHDRAWN = {"program_id": P, "nip": NIP, "reason": "mutasi", "withdrawn_at": "2026-05-01T08:00:00+07:00"}


def body(routing_key: str, data, **envelope) -> bytes:
    return json.dumps({**cloud_event(routing_key, data), **envelope}).encode()


def without(data: dict, key: str) -> dict:
    return {k: v for k, v in data.items() if k != key}


E, A, W = contract.ENROLLED, contract.ATTENDED, contract.WITHDRAWN

# (case id, routing key, raw body, reason the service gives)
MESSAGES: list[tuple[str, str, bytes, str]] = [
    ("broken json", E, b"not json{", "not JSON"),
    ("truncated json", E, body(E, ENROLLED)[:-7], "not JSON"),
    ("empty body", A, b"", "not JSON"),
    ("non-utf8", E, b"\xff\xfe\x00garbage", "not UTF-8"),
    ("latin-1 name", E, body(E, {**ENROLLED, "name": "Jos\u00e9"}).replace(b"\\u00e9", b"\xe9"), "not UTF-8"),
    ("json array", E, b"[1, 2, 3]", "not a CloudEvent"),
    ("json string", A, b'"attended"', "not a CloudEvent"),
    ("json null", A, b"null", "not a CloudEvent"),
    ("specversion 0.3", E, body(E, ENROLLED, specversion="0.3"), "specversion"),
    ("specversion number", E, body(E, ENROLLED, specversion=1.0), "specversion"),
    (
        "no id",
        E,
        json.dumps({"specversion": "1.0", "source": "/x", "type": "humas.enrolled.v1", "data": ENROLLED}).encode(),
        "id",
    ),
    ("empty id", E, body(E, ENROLLED, id=""), "id"),
    ("id too long", E, body(E, ENROLLED, id="x" * 201), "id"),
    ("no source", A, json.dumps(without(json.loads(body(A, ATTENDED)), "source")).encode(), "source"),
    ("no data", A, json.dumps(without(json.loads(body(A, ATTENDED)), "data")).encode(), "data"),
    ("unknown type", E, body(E, ENROLLED, type="humas.unknown.v1"), "unexpected event type"),
    ("type of another queue", A, body(E, ENROLLED), "unexpected event type 'humas.enrolled.v1'"),
    ("time not a date", E, body(E, ENROLLED, time="yesterday"), "time"),
    ("time without zone", E, body(E, ENROLLED, time="2026-02-13T14:00:00"), "time"),
    ("data is a list", A, body(A, [ATTENDED]), "data"),
    ("nip too short", E, body(E, {**ENROLLED, "nip": "123"}), "18 digits"),
    ("nip with letters", E, body(E, {**ENROLLED, "nip": "19850312201001100X"}), "18 digits"),
    ("nip as number", E, body(E, {**ENROLLED, "nip": 198503122010011004}), "nip"),
    ("nip arabic-indic digits", E, body(E, {**ENROLLED, "nip": "١٩٨٥٠٣١٢٢٠١٠٠١١٠٠٤"}), "18 digits"),
    ("nip impossible birth date", E, body(E, {**ENROLLED, "nip": "198502302010011004"}), "birth date"),
    ("nip appointment month 13", E, body(E, {**ENROLLED, "nip": "198503122010131004"}), "appointment"),
    ("nip sex digit 3", E, body(E, {**ENROLLED, "nip": "198503122010013004"}), "digit 15"),
    ("unknown jenjang", E, body(E, {**ENROLLED, "jenjang": "ahli_super"}), "jenjang"),
    ("blank name", E, body(E, {**ENROLLED, "name": "   "}), "name"),
    ("name of 201 characters", E, body(E, {**ENROLLED, "name": "x" * 201}), "name"),
    ("name not a string", E, body(E, {**ENROLLED, "name": ["Siti"]}), "name"),
    ("no unit_kerja", E, body(E, without(ENROLLED, "unit_kerja")), "unit_kerja"),
    ("unknown program", E, body(E, {**ENROLLED, "program_id": "other-program"}), "unknown program"),
    ("attended unknown program", A, body(A, {**ATTENDED, "program_id": "x"}), "unknown program"),
    ("session 17 of 16", A, body(A, {**ATTENDED, "session": 17}), "between 1 and 16"),
    ("session 0", A, body(A, {**ATTENDED, "session": 0}), "between 1 and 16"),
    ("session as string", A, body(A, {**ATTENDED, "session": "3"}), "session"),
    ("session as boolean", A, body(A, {**ATTENDED, "session": True}), "session"),
    ("session as float", A, body(A, {**ATTENDED, "session": 3.5}), "session"),
    ("no session", A, body(A, without(ATTENDED, "session")), "session"),
    ("negative minutes", A, body(A, {**ATTENDED, "minutes": -5}), "minutes"),
    ("minutes above a day", A, body(A, {**ATTENDED, "minutes": 24 * 60 + 1}), "minutes"),
    ("minutes beyond 64 bits", A, body(A, {**ATTENDED, "minutes": 2**70}), "minutes"),
    ("minutes as a huge float", A, body(A, {**ATTENDED, "minutes": 1e30}), "minutes"),
    ("session beyond 64 bits", A, body(A, {**ATTENDED, "session": 2**70}), "session"),
    ("oversized payload", E, b'{"specversion": "1.0", "pad": "' + b"x" * MAX_BODY_BYTES + b'"}', "exceeds the limit"),
    ("withdrawn without reason", W, body(W, without(WITHDRAWN, "reason")), "reason"),
    ("withdrawn bad time", W, body(W, {**WITHDRAWN, "withdrawn_at": "soon"}), "withdrawn_at"),
]
