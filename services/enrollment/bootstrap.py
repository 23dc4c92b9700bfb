"""The enrollment service's ports, built once in the lifespan (cosmicpython's bootstrap)."""

from dataclasses import dataclass

from shared.platform.messaging import Publisher, retry_transient
from shared.platform.runtime import Runtime

from .repository import MongoRoster, Roster


@dataclass(frozen=True)
class Ports:
    roster: Roster
    # Operator changes go out as events and come back through this service's own consumer (decision 6).
    publisher: Publisher


async def bootstrap(rt: Runtime["Ports"]) -> Ports:
    roster = MongoRoster(await rt.connect_database())
    await retry_transient(roster.ensure_indexes, give_up_after=rt.settings.startup_timeout_s)
    return Ports(roster=roster, publisher=rt.publisher)
