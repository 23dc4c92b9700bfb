"""The certificate repository's batched writes on the real MongoDB-wire server: first issues inserted
together keep numbers unique and gapless whatever else happens in the batch (redeliveries, numbers
another process took, a second process doing the same), and batched "issued" marks still tell each
caller whether its own write is the stored one."""

import asyncio
import dataclasses
import datetime as dt

import pytest
from pymongo import AsyncMongoClient

from services.certificates import domain
from services.certificates.repository import MongoCertificates
from shared.contract.events import CompletedData, new_event
from shared.contract.programs import Programs
from shared.platform.settings import REPO_ROOT
from tests.support import unique

pytestmark = pytest.mark.integration
PROGRAM = Programs.load(REPO_ROOT / "deploy" / "programs").get("humas-level-up-2026")
NOW = dt.datetime(2026, 9, 25, 20, 30, tzinfo=dt.UTC)


def draft(i: int) -> domain.Certificate:
    data = CompletedData(program_id=PROGRAM.id, nip=f"19850312201001{1 + i % 2}{i:03d}", name=f"Peserta {i}",
                         jenjang="ahli_muda", unit_kerja="Biro Humas", sessions=list(range(1, 17)), jp=32,
                         completed_at=NOW)  # fmt: skip
    return domain.draft(data, NOW)


@pytest.fixture
async def db(mongodb_url):
    client = AsyncMongoClient(mongodb_url, tz_aware=True)
    yield client[unique("certificates")]
    await client.close()


async def test_a_burst_of_first_issues_is_numbered_without_gaps(db):
    repo = MongoCertificates(db)
    await repo.ensure_indexes()
    # Another process took number 4 (its hint not written yet), and 3 holders' completions come twice.
    await repo.collection.insert_one({"_id": "other", "holder_key": "other", "code": "other",
                                      "seq_key": f"{PROGRAM.id}:4", "seq": 4, "program_id": PROGRAM.id})  # fmt: skip
    drafts = [draft(i) for i in range(40)]
    again = [dataclasses.replace(draft(i), certificate_id=f"again-{i}") for i in (2, 17, 39)]
    issued = await asyncio.gather(*(repo.add_numbered(d, PROGRAM) for d in drafts + again))

    by_holder = {}
    for cert in issued:
        by_holder.setdefault(cert.nip, set()).add(cert.certificate_id)
    assert all(len(ids) == 1 for ids in by_holder.values()), "a redelivery gets the holder's certificate"
    stored = await repo.collection.find({}, {"seq": 1, "holder_key": 1}).to_list()
    assert sorted(d["seq"] for d in stored) == list(range(1, 42)), "unique and gapless, around the other's 4"
    assert len(stored) == 41 and {c.seq for c in issued} == set(range(1, 42)) - {4}
    assert all(c.number == domain.format_number(PROGRAM, c.seq) for c in issued)


async def test_two_processes_inserting_bursts_at_once_stay_gapless(db):
    one, two = MongoCertificates(db), MongoCertificates(db)
    await one.ensure_indexes()
    drafts = [draft(i) for i in range(60)]
    # Both processes get every completion (as after a redelivery to the other replica), interleaved.
    await asyncio.gather(*(repo.add_numbered(d, PROGRAM) for d in drafts for repo in (one, two)))
    stored = await one.collection.find({}, {"seq": 1, "nip": 1}).to_list()
    assert len(stored) == 60 and len({d["nip"] for d in stored}) == 60
    assert sorted(d["seq"] for d in stored) == list(range(1, 61))


async def test_batched_issued_marks_tell_each_caller_whose_write_is_stored(db):
    repo, other = MongoCertificates(db), MongoCertificates(db)
    await repo.ensure_indexes()
    certs = await asyncio.gather(*(repo.add_numbered(draft(i), PROGRAM) for i in range(10)))

    def mark(r, cert, sha256):
        data = domain.issued_data(domain.replace(cert, sha256=sha256), domain.Links("http://service"), None)
        event = new_event("certificate.issued", "/services/certificates", data, id=domain.issued_event_id(cert),
                          time=cert.issued_at)  # fmt: skip
        return r.mark_issued(cert, sha256, cert.object_key_for(sha256), event)

    # Another process issues number 3 first; then this one marks all ten at once.
    await mark(other, certs[3], "b" * 64)
    marked = await asyncio.gather(*(mark(repo, cert, "a" * 64) for cert in certs))
    assert [m.sha256 for m in marked] == ["a" * 64] * 3 + ["b" * 64] + ["a" * 64] * 6
    assert all(m.status == "valid" for m in marked)
    stored = {d["_id"]: d async for d in repo.collection.find({})}
    assert [stored[c.certificate_id]["sha256"] for c in certs] == [m.sha256 for m in marked]
    assert all(d["outbox_pending"] == 1 for d in stored.values()), "one outbox entry each, the winner's"
