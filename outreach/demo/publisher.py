"""Publish a city's month of feeds to the agency topics, one simulated day at a time."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from itertools import groupby

from aiokafka import AIOKafkaProducer

from outreach.demo.city import City
from outreach.events.topics import DEADLETTER_TOPIC, INBOUND_TOPICS
from outreach.infra.log import get_logger
from outreach.ingest.app import ensure_topics

__all__ = ["publish_city"]

log = get_logger(__name__)


async def publish_city(
    city: City,
    servers: str,
    *,
    day_seconds: float,
    partitions: int,
    topic_prefix: str = "",
    stop: asyncio.Event | None = None,
    on_day: Callable[[int, int], None] | None = None,
) -> Counter[str]:
    """Publish every message of ``city`` in order, pausing ``day_seconds`` between days.

    Keys are the household ids (one household's messages stay in order on one partition).
    Returns the messages published per kind; stops early (between days) when ``stop`` is set.
    ``on_day(day, messages)`` is called after each day's messages are acknowledged.
    """
    await ensure_topics(
        servers, [topic_prefix + t for t in (*INBOUND_TOPICS, DEADLETTER_TOPIC)], partitions
    )
    published: Counter[str] = Counter()
    producer = AIOKafkaProducer(bootstrap_servers=servers, acks="all", client_id="outreach-demo")
    await producer.start()
    try:
        by_day = {day: list(group) for day, group in groupby(city.messages, key=lambda m: m.day)}
        for day in range(city.days):
            if stop is not None and stop.is_set():
                break
            messages = by_day.get(day, [])
            sent = [
                await producer.send(
                    topic_prefix + m.topic,
                    m.value,
                    key=m.household_id.encode() if m.household_id else None,
                )
                for m in messages
            ]
            await asyncio.gather(*sent)
            published.update(m.kind for m in messages)
            log.debug("demo day published", day=day, messages=len(messages))
            if on_day is not None:
                on_day(day, len(messages))
            if day_seconds > 0 and day < city.days - 1:
                await asyncio.sleep(day_seconds)  # the simulated day passes
    finally:
        await producer.stop()
    return published
