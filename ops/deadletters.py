"""Dead letters for operators: see what was set aside and why; re-publish chosen ones after a fix.

    python -m ops.deadletters list                       # every dead-letter queue, with reasons
    python -m ops.deadletters replay QUEUE ID [ID ...]   # re-publish to humas.events, then remove
    python -m ops.deadletters replay QUEUE --all

QUEUE is a consumer queue (e.g. `attendance.attended`); ID is the event id `list` shows.
Uses AMQP_URL (the operator's login). Bodies are not printed unless --show-body (they hold personal data).

A replay is published as the operator (AMQP user_id), which the certificate service trusts like the
attendance service; so nothing is replayed that could launder a forgery: a message set aside as from
an untrusted publisher, a body whose type is not its queue's, a copy not written by the queue's own
service, or a `completed` its producer did not publish. The routing key is the queue's own, never a
header (a message RabbitMQ dead-lettered keeps every header its publisher chose).
"""

import argparse
import asyncio
import json
import logging
import os
from dataclasses import dataclass

import aio_pika

from shared import contract
from shared.contract.events import event_identity
from shared.platform.messaging import BROKER_DEATH_HEADERS, amqp_user, dead_letter_queue_name

log = logging.getLogger(__name__)
CONSUMER_QUEUES = tuple(f"{service}.{key}" for service, keys in contract.CONSUMES.items() for key in keys)
# Bookkeeping of the dead-lettering itself (ours and RabbitMQ's), not of the event: dropped on replay.
_DEAD_LETTER_HEADERS = (*BROKER_DEATH_HEADERS, "x-rejection-", "x-rejected-", "x-original-")


@dataclass
class DeadLetter:
    queue: str
    id: str
    reason: str
    routing_key: str
    rejected_at: str
    message: aio_pika.abc.AbstractIncomingMessage
    by_broker: bool  # RabbitMQ dead-lettered it (delivery limit, expiry); else a consumer set it aside
    original_user: str | None  # the login that published the event, as the broker vouched for it

    @classmethod
    def of(cls, queue: str, message: aio_pika.abc.AbstractIncomingMessage) -> "DeadLetter":
        """Headers are believed only where our consumer wrote them: a message the broker
        dead-lettered keeps every header its publisher chose, reason and routing key included."""
        headers = message.headers or {}
        deaths = headers.get("x-death")
        if deaths:
            reason = f"broker: {deaths[0].get('reason', 'unknown')}"
            rejected_at, original_user = str(deaths[0].get("time") or ""), message.user_id
        else:  # shared.platform.messaging.DeadLetters wrote these headers over whatever the publisher sent
            reason = str(headers.get(contract.REASON_HEADER) or "unknown")
            rejected_at, original_user = str(headers.get("x-rejected-at") or ""), headers.get("x-original-user-id")
        # The consumer queue's own key, never a header: a publisher could name any key there.
        routing_key = queue.split(".", 1)[1]
        return cls(queue, event_identity(message.body), reason, routing_key, rejected_at, message,
                   by_broker=bool(deaths), original_user=str(original_user) if original_user else None)  # fmt: skip


def replay_refusal(letter: DeadLetter, operator_login: str) -> str | None:
    """Why this dead letter must not be re-published as the operator (whose login consumers trust),
    or None. Logins are named `<prefix>-<role>` (ops/rabbitmq_users.py); the prefix is the operator's."""
    if letter.reason.startswith(contract.UNTRUSTED_PUBLISHER):
        return "it was set aside as from an untrusted publisher"
    if _event_type(letter.message.body) != contract.TYPE_BY_ROUTING_KEY[letter.routing_key]:
        return f"its type is not {contract.TYPE_BY_ROUTING_KEY[letter.routing_key]}, the only one its queue takes"
    prefix = operator_login.removesuffix("-operator") if operator_login.endswith("-operator") else None
    service = letter.queue.split(".", 1)[0]
    if not letter.by_broker and prefix is not None and letter.message.user_id != f"{prefix}-{service}":
        return f"it was not set aside by the {service} service"
    producers = contract.PRODUCERS[letter.routing_key]
    if contract.UPSTREAM not in producers:  # e.g. completed: only its producer, or an earlier replay
        trusted = {operator_login} | ({f"{prefix}-{role}" for role in producers} if prefix else set())
        if letter.original_user not in trusted:
            return f"it was not published by the {' or '.join(producers)} service"
    return None


def _event_type(body: bytes) -> str | None:
    try:
        value = json.loads(body).get("type")
    except (ValueError, AttributeError):
        return None
    return value if isinstance(value, str) else None


async def _take_all(channel, queue: str) -> list[DeadLetter]:
    """Every message of a dead-letter queue, held unacked (so nobody else sees them meanwhile)."""
    dlq = await channel.declare_queue(dead_letter_queue_name(queue), passive=True)
    taken = []
    while (message := await dlq.get(fail=False, no_ack=False)) is not None:
        taken.append(DeadLetter.of(queue, message))
    return taken


async def list_dead_letters(amqp_url: str, queues=CONSUMER_QUEUES) -> list[DeadLetter]:
    connection = await aio_pika.connect_robust(amqp_url)
    try:
        channel = await connection.channel()
        found = []
        for queue in queues:
            try:
                letters = await _take_all(channel, queue)
            except aio_pika.exceptions.ChannelClosed:  # the service never declared it here
                channel = await connection.channel()
                continue
            found.extend(letters)
            for letter in letters:
                await letter.message.nack(requeue=True)
        return found
    finally:
        await connection.close()


async def replay(amqp_url: str, queue: str, ids: set[str] | None) -> list[str]:
    """Re-publish the chosen dead letters (all when ids is None) as they were, but as the operator;
    then remove them. Those set aside as from an untrusted publisher stay where they are."""
    connection = await aio_pika.connect_robust(amqp_url)
    try:
        channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
        exchange = await channel.get_exchange(contract.EXCHANGE, ensure=True)  # passively: no configure right
        replayed = []
        for letter in await _take_all(channel, queue):
            if ids is not None and letter.id not in ids:
                await letter.message.nack(requeue=True)
                continue
            if refusal := replay_refusal(letter, amqp_user(amqp_url)):
                # Replaying would launder it: consumers trust the operator's user_id.
                log.warning("not replaying %s: %s", letter.id, refusal)
                await letter.message.nack(requeue=True)
                continue
            original = letter.message
            headers = {k: v for k, v in (original.headers or {}).items() if not k.startswith(_DEAD_LETTER_HEADERS)}
            await exchange.publish(
                aio_pika.Message(
                    original.body,
                    content_type=original.content_type or contract.CONTENT_TYPE,
                    message_id=original.message_id,
                    type=original.type,
                    timestamp=original.timestamp,
                    delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                    user_id=amqp_user(amqp_url),
                    headers={**headers, "x-replayed-from": dead_letter_queue_name(queue)},
                ),
                routing_key=letter.routing_key,
            )
            await original.ack()  # only after the broker confirmed the re-publish (and a queue took it)
            replayed.append(letter.id)
        return replayed
    finally:
        await connection.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    listing = commands.add_parser("list")
    listing.add_argument("--show-body", action="store_true")
    again = commands.add_parser("replay")
    again.add_argument("queue", choices=CONSUMER_QUEUES)
    again.add_argument("ids", nargs="*")
    again.add_argument("--all", action="store_true")
    args = parser.parse_args()
    amqp_url = os.environ.get("AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
    if args.command == "list":
        letters = asyncio.run(list_dead_letters(amqp_url))
        for d in letters:
            print(f"{d.queue:24} {d.id:40} {d.rejected_at[:19]:19}  {d.routing_key:10} {d.reason}")
            if args.show_body:
                print(f"{'':24} {d.message.body[:300]!r}")
        print(f"{len(letters)} dead letter(s)")
    else:
        if not args.ids and not args.all:
            parser.error("name the ids to replay, or --all")
        done = asyncio.run(replay(amqp_url, args.queue, None if args.all else set(args.ids)))
        print(f"replayed {len(done)}: {', '.join(done)}")


if __name__ == "__main__":
    main()
