"""The benchmark's stages wait with a deadline: a lost certificate fails the run, saying how far it got."""

import pytest

from bench.run import probe_timeout, until


async def test_a_stage_that_never_finishes_fails_with_its_progress():
    issued: set[str] = {"a"}
    with pytest.raises(TimeoutError, match="1 of 2 certificates issued after 0 s"):
        await until(lambda: len(issued) >= 2, 0.2, lambda: f"{len(issued)} of 2 certificates issued")


async def test_a_stage_that_finishes_returns():
    polls = iter([False, False, True])
    await until(lambda: next(polls), 5, lambda: "never")
    assert next(polls, None) is None


def test_the_probe_deadline_grows_with_the_probe():
    assert probe_timeout(600) > probe_timeout(200) >= 60
