"""The contract's envelope and data rules, as `decode` enforces them."""

import datetime as dt
import json

import pytest

from devstack.upstream import cloud_event
from shared import contract
from shared.contract.events import DATA_BY_TYPE, InvalidEvent, decode
from shared.contract.programs import Programs
from shared.platform.settings import REPO_ROOT
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
    _, data = decode(
        body(contract.ATTENDED, {k: v for k, v in ATTENDED.items() if k != "minutes"}), DATA_BY_TYPE, PROGRAMS
    )
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
        "withdrawn": "humas.withdrawn.v1",  # our addition (docs/contract.md allows additions)
    }
    assert set(DATA_BY_TYPE) == set(contract.TYPE_BY_ROUTING_KEY.values())


def test_field_names_on_the_wire_are_the_contracts():
    fields = {t: set(m.model_fields) for t, m in DATA_BY_TYPE.items()}
    assert fields["humas.enrolled.v1"] == {"program_id", "nip", "name", "jenjang", "unit_kerja", "email"}
    assert fields["humas.attended.v1"] == {"program_id", "session", "nip", "minutes"}
    assert fields["humas.completed.v1"] == {"program_id", "nip", "name", "jenjang", "unit_kerja", "sessions", "jp",
                                            "completed_at"}  # fmt: skip
    assert fields["humas.certificate.issued.v1"] == {
        "program_id",
        "nip",
        "certificate_id",
        "number",
        "revision",
        "url",
        "verify_url",
        "sha256",
        "issued_at",
        "credential_url",
    }  # fmt: skip  (credential_url: an addition, issue 15)
    assert fields["humas.certificate.revoked.v1"] == {"program_id", "nip", "certificate_id", "reason", "revoked_at"}


NOW = dt.datetime(2026, 11, 28, 8, tzinfo=dt.UTC)
WITHDRAWN = {"program_id": "humas-level-up-2026", "nip": "198503122010011004", "reason": "mutasi",
             "withdrawn_at": "2026-05-01T08:00:00+07:00"}  # fmt: skip


@pytest.mark.parametrize("routing_key", [contract.ENROLLED, contract.ATTENDED, contract.WITHDRAWN])
def test_an_event_dated_in_the_future_beyond_the_clock_skew_is_refused_whatever_its_type(routing_key):
    data = {contract.ENROLLED: ENROLLED, contract.ATTENDED: ATTENDED, contract.WITHDRAWN: WITHDRAWN}[routing_key]
    ahead = (NOW + dt.timedelta(minutes=6)).isoformat()
    with pytest.raises(
        InvalidEvent, match=r"^time: 2026-11-28T08:06:00\+00:00 is in the future \(more than 300 s ahead"
    ):
        decode(body(routing_key, data, time=ahead), DATA_BY_TYPE, PROGRAMS, now=NOW)
    within = (NOW + dt.timedelta(minutes=4)).isoformat()  # clocks differ a little
    assert decode(body(routing_key, data, time=within), DATA_BY_TYPE, PROGRAMS, now=NOW)
    with pytest.raises(InvalidEvent, match="in the future"):
        decode(body(routing_key, data, time=within), DATA_BY_TYPE, PROGRAMS, now=NOW, max_skew=dt.timedelta(minutes=1))


def test_an_event_without_time_is_accepted_and_a_future_withdrawal_date_is_refused():
    undated = {k: v for k, v in cloud_event(contract.ENROLLED, ENROLLED).items() if k != "time"}
    envelope, _ = decode(json.dumps(undated).encode(), DATA_BY_TYPE, PROGRAMS, now=NOW)
    assert envelope.time is None
    later = {**WITHDRAWN, "withdrawn_at": "2026-12-01T00:00:00+07:00"}  # the time that orders a withdrawal
    with pytest.raises(InvalidEvent, match=r"^data.withdrawn_at: 2026-12-01T00:00:00\+07:00 is in the future"):
        decode(body(contract.WITHDRAWN, later, time=NOW.isoformat()), DATA_BY_TYPE, PROGRAMS, now=NOW)
