"""Every numeric field of every event is bounded: nothing past 64 bits (or past sense) gets in.

The attendance rows (minutes, session) are in tests/bad_inputs.py, which also goes through the
real broker; the events the attendance service does not consume are checked here."""

import json

import pytest

from devstack.upstream import cloud_event
from shared import contract
from shared.contract.events import DATA_BY_TYPE, MAX_JP, MAX_MINUTES, MAX_REVISION, MAX_SESSIONS, InvalidEvent, decode
from tests.bad_inputs import ATTENDED, NIP, P

COMPLETED = {"program_id": P, "nip": NIP, "name": "Siti", "jenjang": "ahli_pertama", "unit_kerja": "Biro Humas",
             "sessions": list(range(1, 13)), "jp": 24, "completed_at": "2026-10-10T09:00:00+07:00"}  # fmt: skip
ISSUED = {"program_id": P, "nip": NIP, "certificate_id": "c", "number": "0001/BH/HUMAS-LU/2026", "revision": 1,
          "url": "https://x/c.pdf", "verify_url": "https://x/v", "sha256": "0" * 64,
          "issued_at": "2026-10-10T09:00:00+07:00"}  # fmt: skip
HUGE = 2**70


def _decode(routing_key, data):
    type_ = contract.TYPE_BY_ROUTING_KEY[routing_key]
    return decode(json.dumps(cloud_event(routing_key, data)).encode(), {type_: DATA_BY_TYPE[type_]})


@pytest.mark.parametrize(
    ("routing_key", "data", "field"),
    [
        (contract.ATTENDED, {**ATTENDED, "minutes": MAX_MINUTES + 1}, "minutes"),
        (contract.ATTENDED, {**ATTENDED, "session": MAX_SESSIONS + 1}, "session"),  # no program known
        (contract.COMPLETED, {**COMPLETED, "sessions": [1, HUGE]}, "sessions"),
        (contract.COMPLETED, {**COMPLETED, "sessions": [0]}, "sessions"),
        (contract.COMPLETED, {**COMPLETED, "sessions": [1] * (MAX_SESSIONS + 1)}, "sessions"),
        (contract.COMPLETED, {**COMPLETED, "jp": HUGE}, "jp"),
        (contract.COMPLETED, {**COMPLETED, "jp": 1e30}, "jp"),  # a whole float would become a huge int
        (contract.COMPLETED, {**COMPLETED, "jp": MAX_JP + 1}, "jp"),
        (contract.CERTIFICATE_ISSUED, {**ISSUED, "revision": HUGE}, "revision"),
        (contract.CERTIFICATE_ISSUED, {**ISSUED, "revision": MAX_REVISION + 1}, "revision"),
    ],
)
def test_numbers_out_of_bounds_are_refused_with_the_field_named(routing_key, data, field):
    with pytest.raises(InvalidEvent, match=field):
        _decode(routing_key, data)


def test_numbers_at_their_bounds_are_accepted():
    _decode(contract.ATTENDED, {**ATTENDED, "minutes": MAX_MINUTES})
    _decode(contract.COMPLETED, {**COMPLETED, "sessions": list(range(1, 17)), "jp": MAX_JP})
    _decode(contract.CERTIFICATE_ISSUED, {**ISSUED, "revision": MAX_REVISION})


def test_every_integer_field_of_every_event_has_an_upper_bound():
    """A new numeric field must come with its bound (the reason is at the top of shared/contract/events.py)."""
    for type_, model in DATA_BY_TYPE.items():
        schema = model.model_json_schema()
        for name, prop in schema["properties"].items():
            for option in [prop, *prop.get("anyOf", []), prop.get("items", {})]:
                if option.get("type") == "integer":
                    assert "maximum" in option or name == "session", f"{type_} {name} has no upper bound"
