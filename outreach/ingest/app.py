"""``outreach ingest``: the FastStream app that turns agency feeds into stored events and cases."""

# One batch subscriber reads the agency topics in one consumer group (``OUTREACH_INGEST_GROUP_ID``);
# each batch goes through :class:`~outreach.ingest.pipeline.BatchProcessor` (validate, store,
# dead-letter, deliver to cases). More ingest processes in the same group share the partitions.
# Topics are created at start, idempotently, with ``OUTREACH_KAFKA_PARTITIONS`` partitions, so the
# partition count is known rather than the broker's auto-create default. :func:`asyncapi_document`
# describes the topics (checked in as ``docs/asyncapi.json``; ``outreach ingest --asyncapi``).

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from typing import Annotated, Any, Final, TypeVar, Union

import asyncpg
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError, for_code
from faststream import FastStream
from faststream.kafka import KafkaBroker, Topic
from faststream.kafka.annotations import KafkaMessage as KafkaMessageParam
from faststream.message import StreamMessage
from faststream.middlewares import AckPolicy
from faststream.specification import AsyncAPI
from pydantic import Field, TypeAdapter, WithJsonSchema

from outreach.events.registry import REGISTRY
from outreach.events.topics import (
    DEADLETTER_TOPIC,
    ERROR_HEADER,
    INBOUND_TOPICS,
    SOURCE_TOPIC_HEADER,
)
from outreach.infra.heap import settle_heap
from outreach.infra.log import get_logger
from outreach.infra.settings import Settings, load_settings
from outreach.infra.temporal import TASK_QUEUE, connect
from outreach.ingest.case_signals import CaseSignaller
from outreach.ingest.deadletter import DeadLetterPublisher, RawRecord
from outreach.ingest.pipeline import (
    Backoff,
    BatchProcessor,
    BatchReport,
    CaseSink,
    IngestStore,
)
from outreach.ingest.storage import EventStoreIngest
from outreach.store.database import open_pool
from outreach.store.event_store import EventStore
from outreach.store.personal_data import load_keyring

__all__ = ["IngestApp", "IngestStats", "asyncapi_document", "build_ingest", "ensure_topics"]

log = get_logger(__name__)
_FASTSTREAM_LOG: Final = logging.getLogger("outreach.ingest.faststream")

_POSTGRES_DOWN: Final = (
    OSError,
    asyncio.TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
    asyncpg.InterfaceError,
)
T = TypeVar("T")

_HEADER_ROOM: Final = 64 * 1024
"""Bytes a dead letter's headers and record framing may add to the original message."""
_DOC_SERVERS: Final = "kafka-bootstrap:9092"
"""Server shown in the checked-in AsyncAPI document (the real one comes from settings)."""


@dataclass
class IngestStats:
    """Running totals of this process (logged, and read by tests and the benchmark)."""

    batches: int = 0
    records: int = 0
    stored: int = 0
    duplicates: int = 0
    deadlettered: int = 0
    delivered: int = 0
    no_open_case: int = 0
    failed_batches: int = 0
    first_batch_at: float | None = None
    """``time.perf_counter()`` when the first batch reached the handler (benchmark timing)."""
    positions: dict[tuple[str, int], int] = field(default_factory=dict)
    """Next offset to read per (topic, partition), after the last fully processed batch."""

    def add(self, report: BatchReport) -> None:
        self.batches += 1
        self.records += report.records
        self.stored += report.stored
        self.duplicates += report.duplicates
        self.deadlettered += report.deadlettered
        self.delivered += report.delivered
        self.no_open_case += report.no_open_case


@dataclass
class IngestApp:
    """The FastStream app plus handles tests, the benchmark and ``outreach serve`` use."""

    app: FastStream
    broker: KafkaBroker
    stats: IngestStats
    topics: tuple[str, ...]
    deadletter_topic: str

    async def start(self) -> None:
        """Open resources, create topics, join the group and start consuming."""
        await self.app.start()

    async def stop(self) -> None:
        """Stop consuming (the batch in hand finishes or is left uncommitted), then close."""
        await self.app.stop()

    async def __aenter__(self) -> IngestApp:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


class _Consumer:
    """One ingest process's parts: what ``build_ingest`` was given, what start opened, the stats.

    Commit strategy (at-least-once delivery, exactly-once effect): :meth:`ingest` is subscribed
    with ``AckPolicy.NACK_ON_ERROR``. FastStream's consume loop handles one batch at a time; after
    the handler returns, ``ack`` commits the consumer's positions, which are exactly the ends of
    this batch (nothing else was polled meanwhile). If the handler raises (a step still failing
    after its retry window), ``nack`` seeks every partition of the batch back to its first
    record, so the next poll reads the batch again; nothing past it is committed. A crash at any
    point leaves the offsets at the last fully processed batch, and a repeat is harmless because
    every step is idempotent. (FastStream rather than raw aiokafka: its batch subscriber with
    manual acknowledgement gives exactly this, plus the AsyncAPI document.)
    """

    def __init__(
        self,
        settings: Settings,
        *,
        store: IngestStore | None,
        cases: CaseSink | None,
        topics: tuple[str, ...],
        deadletter_topic: str,
        deadletters: DeadLetterPublisher,
        topic_prefix: str,
        task_queue: str,
        backoff: Backoff,
    ) -> None:
        self.settings = settings
        self.store = store
        self.cases = cases
        self.topics = topics
        self.deadletter_topic = deadletter_topic
        self.deadletters = deadletters
        self.topic_prefix = topic_prefix
        self.task_queue = task_queue
        self.backoff = backoff
        self.stats = IngestStats()
        self.processor: BatchProcessor | None = None
        """Opened by :meth:`open`: the handler refuses to run without it."""
        self.closers: list[Callable[[], Awaitable[None]]] = []

    async def ingest(self, body: _InboundBatch, message: KafkaMessageParam) -> None:
        """The subscriber: process one batch; raising rewinds it (``NACK_ON_ERROR``)."""
        processor = self.processor
        assert processor is not None, "ingest started without its resources"
        stats = self.stats
        if stats.first_batch_at is None:
            stats.first_batch_at = time.perf_counter()
        records = [_raw_record(r) for r in message.raw_message]
        try:
            report = await processor.process(records)
        except Exception:
            stats.failed_batches += 1
            raise  # NACK_ON_ERROR: rewind the batch; it is read again
        stats.add(report)
        for r in records:
            stats.positions[(r.topic, r.partition)] = r.offset + 1
        log.debug("batch processed", **_report_fields(report))

    async def open(self) -> None:
        """Create the topics and open what was not injected (waiting for Postgres and Temporal)."""
        settings = self.settings
        await ensure_topics(
            settings.kafka_servers,
            [*self.topics, self.deadletter_topic],
            settings.kafka_partitions,
        )
        ingest_store, case_sink = self.store, self.cases
        if ingest_store is None:
            pool = await _retry_startup(
                "postgres", lambda: open_pool(settings, max_size=8), _POSTGRES_DOWN
            )
            self.closers.append(pool.close)
            # notify=False: ingest appends in batches and wakes subscribers itself
            ingest_store = EventStoreIngest(EventStore(pool, load_keyring(settings), notify=False))
        if case_sink is None:
            # temporalio reports an unreachable server as a RuntimeError
            client = await _retry_startup(
                "temporal", lambda: connect(settings), (RuntimeError, OSError)
            )
            case_sink = CaseSignaller(
                client, task_queue=self.task_queue, concurrency=settings.ingest_signal_concurrency
            )
        self.processor = BatchProcessor(
            ingest_store,
            case_sink,
            self.deadletters,
            backoff=self.backoff,
            topic_prefix=self.topic_prefix,
            max_message_bytes=settings.ingest_max_message_bytes,
        )
        settle_heap()
        log.info(
            "ingest starting",
            topics=list(self.topics),
            group=settings.ingest_group_id,
            batch_size=settings.ingest_batch_size,
        )

    async def close(self) -> None:
        """Close what :meth:`open` opened (after the broker stopped)."""
        for close in self.closers:
            await close()
        self.closers.clear()
        stats = {k: v for k, v in vars(self.stats).items() if k != "positions"}
        log.info("ingest stopped", **stats)


def build_ingest(
    settings: Settings,
    *,
    store: IngestStore | None = None,
    cases: CaseSink | None = None,
    topic_prefix: str = "",
    task_queue: str = TASK_QUEUE,
    backoff: Backoff | None = None,
) -> IngestApp:
    """The ingest app for ``settings``; nothing connects until :meth:`IngestApp.start`.

    ``store`` and ``cases`` replace the event store and Temporal (tests inject failures);
    ``topic_prefix`` puts every topic (inbound and dead-letter) under a prefix so tests and the
    benchmark can run side by side on one broker; the contract's topic is the name without it.
    ``task_queue`` is where started cases run (tests use their own with a stand-in workflow).
    """
    topics = tuple(topic_prefix + t for t in INBOUND_TOPICS)
    deadletter_topic = topic_prefix + DEADLETTER_TOPIC
    broker = KafkaBroker(
        settings.kafka_servers,
        client_id="outreach-ingest",
        acks="all",
        # a dead letter carries the original bytes: fit the largest message ingest reads
        max_request_size=settings.ingest_max_message_bytes + _HEADER_ROOM,
        logger=_FASTSTREAM_LOG,
        log_level=logging.DEBUG,  # per-batch "received/processed" lines
        specification_url=_DOC_SERVERS,
        description="The city's Kafka cluster (KAFKA_BOOTSTRAP_SERVERS).",
    )
    deadletters = broker.publisher(
        deadletter_topic,
        title="outreach.deadletter",
        description=_DEADLETTER_DOC,
        schema=bytes,
    )
    consumer = _Consumer(
        settings,
        store=store,
        cases=cases,
        topics=topics,
        deadletter_topic=deadletter_topic,
        deadletters=_DeadLetterTopic(deadletters),
        topic_prefix=topic_prefix,
        task_queue=task_queue,
        backoff=backoff or Backoff(window=settings.ingest_retry_window),
    )
    broker.subscriber(
        *(Topic(t, declare=False) for t in topics),
        batch=True,
        group_id=settings.ingest_group_id,
        max_records=settings.ingest_batch_size,
        batch_timeout_ms=settings.ingest_batch_timeout_ms,
        auto_offset_reset="earliest",
        ack_policy=AckPolicy.NACK_ON_ERROR,
        session_timeout_ms=settings.kafka_session_timeout_ms,
        heartbeat_interval_ms=settings.kafka_heartbeat_interval_ms,
        fetch_max_wait_ms=settings.kafka_fetch_max_wait_ms,
        decoder=_raw_values,
        title="ingest",
        description=_INBOUND_DOC,
    )(consumer.ingest)
    app = FastStream(
        broker,
        logger=_FASTSTREAM_LOG,
        on_startup=[consumer.open],
        after_shutdown=[consumer.close],
        specification=AsyncAPI(
            broker,
            title="outreach ingest",
            version=outreach_version(),
            description=_APP_DOC,
        ),
    )
    return IngestApp(app, broker, consumer.stats, topics, deadletter_topic)


class _DeadLetterTopic:
    """The dead-letter publisher as the pipeline calls it (:class:`DeadLetterPublisher`)."""

    def __init__(self, publisher: Any) -> None:
        self._publisher = publisher

    async def __call__(self, value: bytes, key: bytes | None, headers: Mapping[str, str]) -> None:
        await self._publisher.publish(value, key=key, headers=dict(headers))


def outreach_version() -> str:
    try:
        return version("outreach")
    except PackageNotFoundError:  # pragma: no cover (running from a bare checkout)
        return "0"


async def ensure_topics(servers: str, topics: Sequence[str], partitions: int) -> None:
    """Create ``topics`` with ``partitions`` partitions unless they exist (idempotent)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=servers, client_id="outreach-ingest-admin")
    await admin.start()
    try:
        response = await admin.create_topics(
            [NewTopic(t, num_partitions=partitions, replication_factor=1) for t in topics]
        )
        for topic, code, *rest in response.topic_errors:
            if code and not isinstance(for_code(code)(), TopicAlreadyExistsError):
                message = rest[0] if rest else ""
                raise RuntimeError(f"cannot create topic {topic}: error {code} {message}")
    finally:
        await admin.close()


async def _retry_startup(
    what: str, open_it: Callable[[], Awaitable[T]], transient: tuple[type[BaseException], ...]
) -> T:
    """A dependency that is down at start is waited for (a service may start before it);
    anything else (a bad migration, a bad address) fails at once."""
    next_delay = Backoff(window=120.0).delays()
    while True:
        try:
            return await open_it()
        except transient as exc:
            delay = next_delay()
            if delay is None:
                raise
            log.warning(f"{what} not reachable at start; retrying", error=repr(exc)[:300])
            await asyncio.sleep(delay)


def _raw_record(record: Any) -> RawRecord:
    return RawRecord(
        topic=record.topic,
        partition=record.partition,
        offset=record.offset,
        timestamp=record.timestamp,
        key=record.key,
        value=record.value,
    )


async def _raw_values(message: StreamMessage[Any]) -> list[bytes]:
    """The batch's message values untouched: validation is ours (and dead-letters)."""
    return [r.value or b"" for r in message.raw_message]


def _report_fields(report: BatchReport) -> dict[str, int]:
    return {
        "records": report.records,
        "stored": report.stored,
        "duplicates": report.duplicates,
        "deadlettered": report.deadlettered,
        "delivered": report.delivered,
        "no_open_case": report.no_open_case,
    }


# -- AsyncAPI ---------------------------------------------------------------------------------


def _inbound_schema() -> dict[str, Any]:
    """JSON schema of one inbound message: any of the registered CloudEvent types.

    Self-contained (references inlined) because FastStream files a hand-given schema as is.
    """
    models = tuple(spec.model for spec in REGISTRY.values())
    union = Annotated[Union[models], Field(discriminator="type")]  # type: ignore[valid-type]  # noqa: UP007
    schema = TypeAdapter(union).json_schema()
    defs = schema.pop("$defs", {})
    return _inline(schema, defs, ())  # type: ignore[no-any-return]


def _inline(node: Any, defs: Mapping[str, Any], stack: tuple[str, ...]) -> Any:
    if isinstance(node, list):
        return [_inline(item, defs, stack) for item in node]
    if not isinstance(node, dict):
        return node
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/"):
        name = ref.removeprefix("#/$defs/")
        if name in stack:  # recursive (JsonValue): any JSON value
            return {"description": "any JSON value"}
        rest = {k: v for k, v in node.items() if k != "$ref"}
        return {**_inline(defs[name], defs, (*stack, name)), **_inline(rest, defs, stack)}
    return {
        k: (
            {t: n.removeprefix("#/$defs/") for t, n in v.items()}
            if k == "mapping" and isinstance(v, dict)
            else _inline(v, defs, stack)
        )
        for k, v in node.items()
    }


_InboundBatch = Annotated[list[bytes], WithJsonSchema(_inbound_schema())]
"""The handler's body: the raw values (no validation by FastStream); documented per message."""

_APP_DOC: Final = (
    "Agency feeds in, dead letters out (CONTRACT.md). Every inbound message is a CloudEvents 1.0 "
    "event in structured JSON mode; (source, id) is its idempotency key. Valid events are "
    "stored in the event store and start or join the household's case; invalid ones go to "
    "outreach.deadletter."
)
_INBOUND_DOC: Final = (
    "Read in batches by the consumer group `outreach-ingest` (configurable), earliest offset "
    "first. Offsets are committed only after a batch is stored and its cases have accepted it. "
    "Message keys are optional and carry no meaning; unknown extra fields are kept. Each topic "
    "carries the types CONTRACT.md assigns it: agency.disability.certificates "
    "(disability.certificate.issued, disability.certificate.expiring), "
    "agency.medical.settlements (medical.settlement.recorded), agency.rural.monitoring "
    "(monitoring.household.listed), agency.household.facts (facts.household.reported)."
)
_DEADLETTER_DOC: Final = (
    "Inbound messages that are not valid JSON, not a known type, fail their schema or carry an "
    "invalid ID number. Value: the original bytes; key: the original key. Headers: "
    f"`{ERROR_HEADER}` (a readable reason, UTF-8), `{SOURCE_TOPIC_HEADER}`, `source-partition`, "
    "`source-offset`, `source-timestamp`, `error-kind` (json, unknown_type, topic, id_number, "
    "schema; size: larger than OUTREACH_INGEST_MAX_MESSAGE_BYTES; unstorable: valid, but the "
    "database refused it) and, when the message got that far, `event-type`, `event-source`, "
    "`event-id`. At least once: a message may appear twice after a crash. A dead letter the "
    "broker refuses (too large for it) is counted and recorded, not published."
)


def asyncapi_document() -> dict[str, Any]:
    """The AsyncAPI 3.0 document of ingest's topics (independent of the environment)."""
    settings = load_settings(KAFKA_BOOTSTRAP_SERVERS=_DOC_SERVERS)
    ingest = build_ingest(settings)
    schema = ingest.app.schema.to_specification().to_jsonable()
    assert isinstance(schema, dict)
    return schema


def asyncapi_json() -> str:
    return json.dumps(asyncapi_document(), indent=2, ensure_ascii=False, sort_keys=False) + "\n"
