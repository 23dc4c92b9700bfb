"""docs/contract.md is what integrators read: its names and fields must be the code's.

The tables are read from the document itself, so a rename in either place fails here.
"""

import re
from pathlib import Path

import pytest

from shared import contract
from shared.contract.events import DATA_BY_TYPE, CloudEvent

REPO = Path(__file__).resolve().parents[2]
DOC = (REPO / "docs" / "contract.md").read_text(encoding="utf-8")


def _section(title: str) -> str:
    start = DOC.index(title)
    following = re.search(r"^#{2,3} ", DOC[start + len(title) :], re.MULTILINE)
    return DOC[start : start + len(title) + (following.start() if following else len(DOC))]


def _table_first_column(section: str) -> list[str]:
    """The backquoted names in the first column of the section's table rows."""
    names = []
    for line in section.splitlines():
        if line.startswith("| `"):
            names.extend(re.findall(r"`([^`]+)`", line.split("|")[1]))
    return names


def test_routing_keys_and_types_are_the_codes():
    rows = {}
    for line in _section("## 3. Events").splitlines():
        if m := re.match(r"\| `([a-z.]+)` \| `(humas\.[a-z.]+\.v\d)`", line):
            rows[m.group(1)] = m.group(2)
    assert rows == contract.TYPE_BY_ROUTING_KEY


def test_envelope_attributes_are_the_codes():
    documented = set(_table_first_column(_section("## 2. Envelope")))
    assert documented == set(CloudEvent.model_fields)


@pytest.mark.parametrize(
    "title, event_type",
    [
        ("### `humas.enrolled.v1` data", "humas.enrolled.v1"),
        ("### `humas.attended.v1` data", "humas.attended.v1"),
        ("### `humas.certificate.issued.v1` data", "humas.certificate.issued.v1"),
    ],
)
def test_field_tables_are_the_models(title, event_type):
    documented = set(_table_first_column(_section(title)))
    assert documented == set(DATA_BY_TYPE[event_type].model_fields)


@pytest.mark.parametrize(
    "title, event_type",
    [
        ("### `humas.completed.v1` data", "humas.completed.v1"),
        ("### `humas.certificate.revoked.v1` data", "humas.certificate.revoked.v1"),
        ("### `humas.withdrawn.v1` data", "humas.withdrawn.v1"),
    ],
)
def test_field_lists_are_the_models(title, event_type):
    section = _section(title)
    first_paragraph = section.split("\n\n")[1]
    # The fields are listed before the first full stop of the paragraph.
    documented = set(re.findall(r"`([a-z_]+)`", first_paragraph.split(". ")[0]))
    assert documented == set(DATA_BY_TYPE[event_type].model_fields)


def test_exchanges_and_reason_header_are_the_codes():
    for name in (contract.EXCHANGE, contract.DEAD_LETTER_EXCHANGE, contract.REASON_HEADER):
        assert f"`{name}`" in DOC


def test_no_file_points_outside_the_repository_for_its_contract():
    """The contract a clone needs is inside the clone."""
    offenders = []
    for path in REPO.rglob("*"):
        if any(part in {".git", ".venv", ".tools", ".data", "node_modules", "artefacts"} for part in path.parts):
            continue
        if path == Path(__file__):
            continue
        if path.is_file() and path.suffix in {".py", ".md", ".json", ".toml", ".yaml", ".yml", ".html", ".typ"}:
            text = path.read_text(encoding="utf-8", errors="replace")
            if "shared/CONTRACT.md" in text.replace("`shared/CONTRACT.md` in the owner", ""):
                offenders.append(str(path.relative_to(REPO)))
    assert offenders == []
