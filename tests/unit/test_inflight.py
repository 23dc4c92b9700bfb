"""What is in hand, per replica, and when every input message is known handled (shared/platform/inflight.py)."""

from shared.platform.inflight import Heartbeat, InFlight, Watermark


def test_the_oldest_handler_still_in_flight_is_reported():
    in_flight = InFlight()
    assert in_flight.oldest() is None
    first, second, third = in_flight.enter(), in_flight.enter(), in_flight.enter()
    started = in_flight.oldest()
    in_flight.leave(second)
    assert in_flight.oldest() == started
    in_flight.leave(first)
    assert in_flight.oldest() is not None and in_flight.oldest() >= started and len(in_flight) == 1
    in_flight.leave(third)
    assert in_flight.oldest() is None


NOW = 1_000_000.0


def watermark(*quiet: float) -> Watermark:
    mark = Watermark(silence_s=15, expiry_s=180, margin_s=1)
    for t in quiet:
        mark.observe(t, 0)
    return mark


def test_nothing_in_hand_anywhere_makes_an_earlier_quiet_check_the_watermark():
    beats = [Heartbeat("a", NOW), Heartbeat("b", NOW - 2)]
    assert watermark(NOW - 6, NOW - 4, NOW - 0.1).handled_before(beats, NOW) == NOW - 4
    assert watermark(NOW - 0.5).handled_before(beats, NOW) is None, "too recent: a delivery may not be in a handler yet"


def test_a_handler_in_flight_since_before_every_quiet_check_holds_everything_up():
    beats = [Heartbeat("a", NOW), Heartbeat("b", NOW - 1, oldest=NOW - 10)]
    assert watermark(NOW - 8, NOW - 4).handled_before(beats, NOW) is None
    # Once it is done, the handlers that came after it do not hold anything older up.
    beats = [Heartbeat("a", NOW), Heartbeat("b", NOW - 1, oldest=NOW - 3)]
    assert watermark(NOW - 8, NOW - 4).handled_before(beats, NOW) == NOW - 4


def test_messages_waiting_forget_every_earlier_quiet_check():
    mark = watermark(NOW - 8, NOW - 6)
    mark.observe(NOW - 5, 3)
    mark.observe(NOW - 3, 0)
    assert mark.handled_before([Heartbeat("a", NOW)], NOW) == NOW - 3


def test_a_silent_replica_holds_everything_up_until_it_expires():
    silent = Heartbeat("b", NOW - 20)  # past the silence, before the expiry: maybe slow, holding reports
    assert watermark(NOW - 10, NOW - 4).handled_before([Heartbeat("a", NOW), silent], NOW) is None
    dead = Heartbeat("b", NOW - 181, oldest=NOW - 200)  # its connection is gone: what it held is requeued
    assert watermark(NOW - 10, NOW - 4).handled_before([Heartbeat("a", NOW), dead], NOW) == NOW - 4


def test_quiet_checks_older_than_the_silence_do_not_count():
    assert watermark(NOW - 16).handled_before([Heartbeat("a", NOW)], NOW) is None


def test_without_any_heartbeat_nothing_is_known():
    assert watermark(NOW - 4).handled_before([], NOW) is None


def test_a_replica_that_stops_or_expires_voids_the_quiet_checks_made_while_it_held_reports():
    mark = watermark(NOW - 10, NOW - 4)
    both = [Heartbeat("a", NOW - 3), Heartbeat("b", NOW - 3, oldest=NOW - 12)]
    assert mark.handled_before(both, NOW - 3) is None  # b holds a report taken before both checks
    # b stops (or expires): a report it held is back in the queue, then in a's hands since after NOW - 4.
    assert mark.handled_before([Heartbeat("a", NOW, oldest=NOW - 2)], NOW) is None
    mark.observe(NOW - 1.5, 0)
    assert mark.handled_before([Heartbeat("a", NOW)], NOW + 1) == NOW - 1.5


def test_a_replica_restarted_in_its_place_replaces_its_heartbeat_and_voids_earlier_quiet_checks():
    mark = watermark(NOW - 10, NOW - 4)
    assert mark.handled_before([Heartbeat("a", NOW), Heartbeat("b", NOW - 1, NOW - 12, "first")], NOW) is None
    # b was killed holding a report; its successor is back at once, and that report is in its hands.
    restarted = Heartbeat("b", NOW + 1, NOW - 2, "second")
    assert mark.handled_before([Heartbeat("a", NOW + 1), restarted], NOW + 1) is None
    mark.observe(NOW + 1.5, 0)
    assert mark.handled_before([Heartbeat("a", NOW + 3), Heartbeat("b", NOW + 3, None, "second")], NOW + 3) == NOW + 1.5
