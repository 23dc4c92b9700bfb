"""The contract's envelope and data rules, as `decode` enforces them."""

import json

import pytest

from devstack.upstream import cloud_event
from shared import contract
from shared.events import DATA_BY_TYPE, InvalidEvent, decode
from shared.programs import Programs
from shared.settings import REPO_ROOT
from tests.bad_inputs import MESSAGES

PROGRAMS = Programs.load(REPO_ROOT / "deploy" / "programs")
ENROLLED = {"program_id": "humas-level-up-2026", "nip": "198503122010011004", "name": "Siti Aminah, S.Sos.",
            "jenjang": "ahli_pertama", "unit_kerja": "Biro Humas"}  # fmt: skip
ATTENDED = {"program_id": "humas-level-up-2026", "nip": "198503122010011004", "session": 3, "minutes": 90}


def body(routing_key, data, **envelope) -> bytes:
    return json.dumps({**cloud_event(routing_key, data), **envelope}).encode()


def test_a_valid_enrolled_event_decodes_to_typed_data():
    envelope, data = decode(body(contract.ENROLLED, ENROLLED), DATA_BY_TYPE, PROGRAMS)
    assert envelope.type == "humas.enrolled.v1" and data.jenjang == "ahli_pertama"


def test_names_are_trimmed_and_extra_fields_are_tolerated():
    _, data = decode(body(contract.ENROLLED, {**ENROLLED, "name": "  Ahmad  ", "golongan": "III/a"}), DATA_BY_TYPE)
    assert data.name == "Ahmad"


def test_attended_without_minutes_is_valid():
    _, data = decode(body(contract.ATTENDED, {k: v for k, v in ATTENDED.items() if k != "minutes"}), DATA_BY_TYPE, PROGRAMS)
    assert data.minutes is None


@pytest.mark.parametrize(("case", "routing_key", "raw", "reason"), MESSAGES, ids=[m[0] for m in MESSAGES])
def test_bad_input_is_refused_with_a_reason(case, routing_key, raw, reason):
    type_ = contract.TYPE_BY_ROUTING_KEY[routing_key]  # a service accepts the type of its queue only
    with pytest.raises(InvalidEvent, match=reason):
        decode(raw, {type_: DATA_BY_TYPE[type_]}, PROGRAMS)


def test_the_bad_input_table_is_large_enough():
    assert len(MESSAGES) >= 40 and len({m[0] for m in MESSAGES}) == len(MESSAGES)


def test_a_service_refuses_types_it_does_not_consume():
    completed_only = {"humas.completed.v1": DATA_BY_TYPE["humas.completed.v1"]}
    with pytest.raises(InvalidEvent, match="unexpected event type 'humas.enrolled.v1'"):
        decode(body(contract.ENROLLED, ENROLLED), completed_only, PROGRAMS)


def test_routing_keys_and_types_are_exactly_the_contracts():
    assert contract.EXCHANGE == "humas.events"
    assert contract.TYPE_BY_ROUTING_KEY == {
        "enrolled": "humas.enrolled.v1",
        "attended": "humas.attended.v1",
        "completed": "humas.completed.v1",
        "certificate.issued": "humas.certificate.issued.v1",
        "certificate.revoked": "humas.certificate.revoked.v1",
        "withdrawn": "humas.withdrawn.v1",  # our addition (CONTRACT.md allows additions)
    }
    assert set(DATA_BY_TYPE) == set(contract.TYPE_BY_ROUTING_KEY.values())


def test_field_names_on_the_wire_are_the_contracts():
    fields = {t: set(m.model_fields) for t, m in DATA_BY_TYPE.items()}
    assert fields["humas.enrolled.v1"] == {"program_id", "nip", "name", "jenjang", "unit_kerja", "email"}
    assert fields["humas.attended.v1"] == {"program_id", "session", "nip", "minutes"}
    assert fields["humas.completed.v1"] == {"program_id", "nip", "name", "jenjang", "unit_kerja", "sessions", "jp",
                                            "completed_at"}  # fmt: skip
    assert fields["humas.certificate.issued.v1"] == {"program_id", "nip", "certificate_id", "number", "revision", "url",
                                                     "verify_url", "sha256", "issued_at"}  # fmt: skip
    assert fields["humas.certificate.revoked.v1"] == {"program_id", "nip", "certificate_id", "reason", "revoked_at"}
