"""``run_parts``: the parts of ``outreach serve`` stop together, and a failure names its part;
``watch``: a part fails only after it has gone the recovery timeout without recovering."""

from __future__ import annotations

import asyncio

import pytest

from outreach.cli.supervisor import Part, ServeError, ingest_progress, run_parts, watch
from outreach.ingest.app import IngestStats


def _until_stopped(log: list[str], name: str) -> Part:
    async def run(stop: asyncio.Event) -> None:
        await stop.wait()
        log.append(f"{name} stopped")

    return Part(name, run)


async def test_stop_ends_every_part_cleanly() -> None:
    log: list[str] = []
    stop = asyncio.Event()
    running = asyncio.create_task(
        run_parts([_until_stopped(log, "a"), _until_stopped(log, "b")], stop)
    )
    await asyncio.sleep(0)
    assert not running.done()
    stop.set()
    await asyncio.wait_for(running, 5)
    assert sorted(log) == ["a stopped", "b stopped"]


async def test_a_failing_part_stops_the_others_and_is_named() -> None:
    log: list[str] = []

    async def broken(stop: asyncio.Event) -> None:
        raise ConnectionRefusedError("broker down")

    stop = asyncio.Event()
    with pytest.raises(ServeError) as caught:
        await asyncio.wait_for(
            run_parts([_until_stopped(log, "worker"), Part("ingest", broken)], stop), 5
        )
    assert [f.name for f in caught.value.failures] == ["ingest"]
    assert "ConnectionRefusedError: broker down" in str(caught.value)
    assert log == ["worker stopped"] and stop.is_set()


async def test_a_part_that_returns_early_is_a_failure() -> None:
    async def quits(stop: asyncio.Event) -> None:
        return None

    with pytest.raises(ServeError, match="relay: ended unexpectedly"):
        await asyncio.wait_for(run_parts([Part("relay", quits)], asyncio.Event()), 5)


async def test_a_part_failing_while_stopping_is_reported() -> None:
    async def fails_on_stop(stop: asyncio.Event) -> None:
        await stop.wait()
        raise RuntimeError("could not flush")

    stop = asyncio.Event()
    stop.set()
    with pytest.raises(ServeError, match="api: could not flush"):
        await asyncio.wait_for(run_parts([Part("api", fails_on_stop)], stop), 5)


async def test_watch_gives_up_only_after_the_timeout_without_recovery() -> None:
    answers = iter([False, False, True, False, False, False, False, False])
    looks = 0

    async def check() -> None:
        nonlocal looks
        looks += 1
        if not next(answers):
            raise ConnectionRefusedError("down")

    with pytest.raises(RuntimeError, match=r"db down: not recovered within 0\.03 s") as caught:
        await asyncio.wait_for(
            watch(asyncio.Event(), check, give_up_after=0.03, what="db down", interval=0.01), 5
        )
    assert looks >= 4  # not before the success in between, which restarted the clock
    assert isinstance(caught.value.__cause__, ConnectionRefusedError)


async def test_watch_returns_when_stopped() -> None:
    stop = asyncio.Event()
    stop.set()

    async def never() -> None:
        raise AssertionError("not called once stopped")

    await asyncio.wait_for(watch(stop, never, give_up_after=0, what="x", interval=0.01), 5)


async def test_ingest_fails_while_batches_fail_and_none_is_processed() -> None:
    stats = IngestStats()
    check = ingest_progress(stats)
    await check()  # no input at all: healthy
    stats.failed_batches += 1
    with pytest.raises(RuntimeError, match="batches keep failing"):
        await check()
    with pytest.raises(RuntimeError):  # still failing, though no new failure since
        await check()
    stats.batches += 1
    await check()  # one processed batch: recovered
