import dataclasses
import datetime as dt
import math

import pytest

from services.certificates import domain, handlers
from shared.contract.events import CompletedData
from shared.contract.programs import Programs
from shared.platform.settings import REPO_ROOT

from .fakes import FakeCertificates, FakeRenderer, FakeStore

PROGRAM = Programs.load(REPO_ROOT / "deploy" / "programs").get("humas-level-up-2026")
NOW = dt.datetime(2026, 9, 25, 20, 30, tzinfo=dt.UTC)  # already 26 September in Jakarta
LINKS = domain.Links("https://sertifikat.example.go.id/")


def completed(nip="198503122010011004", name="Dr. Siti Aminah, M.Si.", email=None):
    return CompletedData(program_id=PROGRAM.id, nip=nip, name=name, jenjang="ahli_madya",
                         unit_kerja="Kanwil Kemenag Provinsi Jawa Timur", sessions=[3, 1, 2, *range(4, 15)], jp=28,
                         completed_at=NOW)  # fmt: skip


def test_dates_are_written_in_indonesian_in_jakarta_time():
    assert domain.tanggal(dt.date(2026, 2, 13)) == "13 Februari 2026"
    assert domain.tanggal(NOW) == "26 September 2026"


def test_number_format_comes_from_the_program():
    assert domain.format_number(PROGRAM, 7) == "0007/BH/HUMAS-LU/2026"


def test_the_certificate_says_who_what_and_how_much():
    cert = domain.draft(completed(), NOW).numbered(PROGRAM, 12)
    text = domain.content(PROGRAM, cert, LINKS)
    assert text["name"] == "Dr. Siti Aminah, M.Si."
    assert text["nip"] == "19850312 201001 1 004"
    assert text["jabatan"] == "Pranata Humas Ahli Madya"
    assert text["number"] == "0012/BH/HUMAS-LU/2026"
    assert (text["sessions_attended"], text["session_count"], text["jp"]) == (14, 16, 28)
    assert text["place_date"] == "Jakarta, 26 September 2026"
    assert text["verify_url"] == f"https://sertifikat.example.go.id/verify/{cert.code}"
    assert text["specimen"] is True


def test_codes_are_random_enough_and_urls_keys_hold_no_personal_data():
    certs = [domain.draft(completed(), NOW) for _ in range(200)]
    assert len({c.code for c in certs}) == 200
    assert all(len(c.code) == 22 for c in certs)  # 22 url-safe base64 chars = 132 bits ≥ 128 random
    assert math.log2(64) * 22 >= 128
    cert = certs[0]
    for text in (LINKS.pdf(cert.code), LINKS.verify(cert.code), cert.object_key_for("ab" * 32)):
        assert "198503122010011004" not in text and "Siti" not in text and "19850312" not in text


def test_the_public_view_masks_the_nip_and_never_shows_email():
    cert = dataclasses.replace(domain.draft(completed(), NOW).numbered(PROGRAM, 1), sha256="0" * 64, status="valid")
    view = domain.public_view(PROGRAM, cert, LINKS)
    assert view["nip"] == "19850312******1004"
    assert "198503122010011004" not in str(view) and "email" not in view
    assert {"status", "certificate_id", "number", "program_id", "name", "issued_at", "sha256"} <= set(view)


async def test_issue_certificate_is_idempotent_and_numbers_are_gapless():
    certs, store = FakeCertificates(), FakeStore()
    deps = handlers.Issuing(certs, FakeRenderer(), store, LINKS)
    nips = [f"1985031220100110{i:02d}" for i in range(10)]
    first = [(await handlers.issue_certificate(completed(nip), PROGRAM, deps, NOW))[0] for nip in nips]
    again = [await handlers.issue_certificate(completed(nip), PROGRAM, deps, NOW) for nip in nips]
    assert all(event is None for _, event in again), "a redelivery announces nothing new"
    again = [cert for cert, _ in again]
    assert [c.certificate_id for c in first] == [c.certificate_id for c in again]
    assert sorted(c.seq for c in certs.by_id.values()) == list(range(1, 11))
    assert len(certs.events) == 10 and len(store.objects) == 10
    issued = certs.events[0].data
    assert issued["revision"] == 1 and issued["url"].endswith(".pdf")
    assert issued["sha256"] == first[0].sha256


@pytest.mark.parametrize("jenjang", ["terampil", "mahir", "penyelia", "ahli_pertama", "ahli_muda", "ahli_madya",
                                     "ahli_utama"])  # fmt: skip
def test_every_jenjang_has_its_words(jenjang):
    assert domain.jabatan(jenjang).startswith("Pranata Humas ")


def test_history_entries_are_shaped_once_and_read_oldest_first():
    old = domain.draft(completed(), NOW)
    at = NOW + dt.timedelta(days=3)
    # As stored on the old revision: the entries of its actions, in no particular order.
    stored = {
        "revoked": domain.revoked_entry("2026-10-01T00:00:00+00:00", "ops", "salah data"),
        "superseded": domain.superseded_entry("new-id", 2, at, "console:rina", "perbaikan nama"),
        "issued": domain.issued_entry(NOW, "ab" * 32),
    }
    history = domain.history(stored)
    assert [e["action"] for e in history] == ["issued", "superseded", "revoked"]
    assert history[0] == {"action": "issued", "at": "2026-09-25T20:30:00+00:00", "sha256": "ab" * 32}
    assert history[1] == {
        "action": "superseded",
        "at": at.isoformat(),
        "by": "console:rina",
        "reason": "perbaikan nama",
        "by_revision": 2,
        "superseded_by": "new-id",
    }
    reissued = domain.reissued_entry(old, {"unit_kerja": "x", "name": "y"}, "perbaikan nama", "console:rina", at)
    assert reissued["corrected"] == ["name", "unit_kerja"] and reissued["supersedes"] == old.certificate_id
    assert domain.history(None) == []


def test_history_times_are_utc_text_whatever_zone_they_come_in():
    jakarta = NOW.astimezone(domain.JAKARTA)
    assert domain.revoked_entry(jakarta, "ops", "r")["at"] == "2026-09-25T20:30:00+00:00"


def test_the_stored_document_holds_every_set_field_as_it_is():
    """The repository's shallow document (no deep copy) is what `dataclasses.asdict` gave."""
    from services.certificates.repository import _from_doc, _to_doc

    cert = domain.draft(completed(), NOW).numbered(PROGRAM, 7)
    cert = domain.replace(cert, sha256="ab" * 32, object_key="k.pdf", status="revoked", specimen=True,
                          supersedes="c-0", superseded_by="c-2", revoked_at=NOW)  # fmt: skip
    assert all(getattr(cert, f.name) is not None for f in dataclasses.fields(cert)), "every field set"
    doc = _to_doc(cert)
    expected = {k: v for k, v in dataclasses.asdict(cert).items() if v is not None}
    expected["_id"] = expected.pop("certificate_id")
    assert {k: v for k, v in doc.items() if k not in ("holder_key",)} == {**expected, "sessions": list(cert.sessions)}
    assert _from_doc(doc) == cert
