"""In-memory fakes of each adapter interface, so handler tests run without servers."""

import dataclasses
import datetime as dt

from services.attendance.domain import Attendee, Presence
from services.certificates.domain import Certificate
from services.enrollment.domain import RosterEntry
from shared.contract.events import CloudEvent
from shared.contract.participant import Participant


class _Participants:
    """The roster copy both services keep: the higher rank wins (shared/contract/ordering.py)."""

    def __init__(self):
        self.rows: dict[tuple[str, str], tuple[Participant, str]] = {}
        self.received: dict[str, dt.datetime] = {}

    async def save(self, participant: Participant, rank: str) -> bool:
        key = (participant.program_id, participant.nip)
        if key in self.rows and self.rows[key][1] > rank:
            return False
        self.rows[key] = (participant, rank)
        return True

    async def first_receipt(self, participant, event, now):
        return self.received.setdefault(event, now)

    def participant(self, program_id: str, nip: str) -> Participant | None:
        row = self.rows.get((program_id, nip))
        return row[0] if row else None


class FakeRoster(_Participants):
    """The enrollment roster (services/enrollment/repository.Roster): the earliest withdrawal
    stands, even one recorded before the enrollment it ends."""

    def __init__(self):
        super().__init__()
        self.withdrawals: dict[tuple[str, str], tuple[dt.datetime, str]] = {}

    async def lookup(self, program_id: str, nip: str) -> RosterEntry:
        at, reason = self.withdrawals.get((program_id, nip), (None, None))
        return RosterEntry(self.participant(program_id, nip), at, reason)

    async def withdraw(self, program_id: str, nip: str, reason: str, at: dt.datetime) -> None:
        earlier = self.withdrawals.get((program_id, nip))
        if earlier is None or at < earlier[0]:
            self.withdrawals[(program_id, nip)] = (at, reason)

    async def count(self, program_id: str) -> int:
        return len(await self.entries(program_id, 10**9, 0))

    async def entries(self, program_id: str, limit: int, offset: int) -> list[RosterEntry]:
        keys = sorted({k for k in (*self.rows, *self.withdrawals) if k[0] == program_id})
        return [await self.lookup(*k) for k in keys[offset : offset + limit]]


class FakeAttendanceBook(_Participants):
    def __init__(self):
        super().__init__()
        self.presences: dict[tuple[str, str, int], Presence] = {}
        self.completed: dict[tuple[str, str], CloudEvent] = {}
        self.eligible: set[tuple[str, str]] = set()
        self.activity: dict[tuple[str, str], dt.datetime] = {}
        self.withdrawn: set[tuple[str, str]] = set()
        self.withdrawn_before_end: set[tuple[str, str]] = set()

    async def save_participant(self, participant, rank):
        return await self.save(participant, rank)

    async def attendee(self, program_id, nip):
        counted = frozenset(s for (p, n, s), pr in self.presences.items() if (p, n) == (program_id, nip) and pr.counts)
        key = (program_id, nip)
        return Attendee(program_id, nip, self.participant(program_id, nip), counted, key in self.completed,
                        key in self.eligible, key in self.withdrawn, key in self.withdrawn_before_end)  # fmt: skip

    async def record(self, presence: Presence, now):
        key = (presence.program_id, presence.nip, presence.session)
        old = self.presences.get(key)
        if old is None or presence.counts > old.counts:
            self.presences[key] = presence
        self.activity[key[:2]] = now
        return await self.attendee(presence.program_id, presence.nip)

    async def record_many(self, presences, now):
        for presence in presences:
            await self.record(presence, now)
        return {f"{p.program_id}:{p.nip}": await self.attendee(p.program_id, p.nip) for p in presences}

    async def set_eligible(self, program_id, nip, eligible):
        if eligible and ((program_id, nip) in self.completed or (program_id, nip) in self.withdrawn_before_end):
            return
        (self.eligible.add if eligible else self.eligible.discard)((program_id, nip))

    async def settled_candidates(self, program_id, quiet_since, limit):
        due = [
            n for (p, n) in self.eligible if p == program_id and self.activity.get((p, n), quiet_since) <= quiet_since
        ]
        return due[:limit]

    async def withdraw(self, program_id, nip, at, before_end):
        self.withdrawn.add((program_id, nip))
        if before_end:
            self.withdrawn_before_end.add((program_id, nip))
            self.eligible.discard((program_id, nip))

    async def mark_completed(self, program_id, nip, event, *, despite_withdrawal=False):
        key = (program_id, nip)
        if key in self.completed or (key in self.withdrawn_before_end and not despite_withdrawal):
            return False
        self.completed[(program_id, nip)] = event
        self.eligible.discard((program_id, nip))
        return True


class FakeCertificates:
    def __init__(self):
        self.by_id: dict[str, Certificate] = {}
        self.events: list[CloudEvent] = []
        self.credentials: dict[str, str] = {}

    async def add_or_get(self, draft, history=None):
        for c in self.by_id.values():
            if (c.program_id, c.nip, c.revision) == (draft.program_id, draft.nip, draft.revision):
                return c
        self.by_id[draft.certificate_id] = draft
        return draft

    async def add_numbered(self, draft, program):
        return await self.assign_number(await self.add_or_get(draft), program)

    async def assign_number(self, cert, program):
        current = self.by_id[cert.certificate_id]
        if current.seq is None:
            seqs = [c.seq for c in self.by_id.values() if c.program_id == cert.program_id and c.seq]
            current = self.by_id[cert.certificate_id] = current.numbered(program, max(seqs, default=0) + 1)
        return current

    async def mark_issued(self, cert, sha256, object_key, event, credential=None):
        current = self.by_id[cert.certificate_id]
        if current.sha256 is None:
            current = dataclasses.replace(cert, sha256=sha256, object_key=object_key, status="valid")
            self.by_id[cert.certificate_id] = current
            self.events.append(event)
            if credential is not None:
                self.credentials[cert.certificate_id] = credential
        return current

    async def credential(self, certificate_id):
        return self.credentials.get(certificate_id)

    async def by_code(self, code):
        return next((c for c in self.by_id.values() if c.code == code), None)


class FakeStore:
    def __init__(self):
        self.objects: dict[str, bytes] = {}

    async def put(self, key, data, content_type="application/pdf"):
        self.objects[key] = data

    async def get(self, key):
        return self.objects[key]

    async def ping(self):
        return True


class FakeRenderer:
    """Bytes that depend on every input, like a real render."""

    async def render(self, template, content, timestamp):
        return repr((template, sorted(content.items()), timestamp)).encode()

    async def render_with_credential(self, template, content, timestamp, claims, keys):
        jwt = content["credential"] = keys.sign(claims)
        return await self.render(template, content, timestamp), jwt
