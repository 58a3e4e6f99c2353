"""``run_parts``: the parts of ``outreach serve`` stop together, and a failure names its part."""

from __future__ import annotations

import asyncio

import pytest

from outreach.infra.serve import Part, ServeError, run_parts


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
