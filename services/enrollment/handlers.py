from shared.events import CloudEvent, EnrolledData
from shared.roster import Participant, event_time

from .repository import Roster


async def enrol(envelope: CloudEvent, data: EnrolledData, roster: Roster) -> bool:
    """Record a participant or an update of one; a stale update changes nothing."""
    return await roster.save(Participant.from_event(data), event_time(envelope.time))
