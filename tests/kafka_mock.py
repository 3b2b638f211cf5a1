"""A real Kafka protocol endpoint for the tests: librdkafka's built-in mock cluster.

Creating any client with ``test.mock.num.brokers`` starts a broker inside this process that serves other
processes over TCP on 127.0.0.1 (producers, consumer groups, offset commits). It lives as long as that
client object, so the fixture keeps it. Facts the tests rely on: auto-created topics get 4 partitions
and each partition keeps only its newest ~5 MB; the broker does not act on LeaveGroup, so a restarted
consumer gets its partitions after the old member's ``session.timeout.ms`` (tests pass 6000); its
CreateTopics does not answer (no controller), so topics are created by producing to them.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

SESSION_TIMEOUT_MS = 6000
#: -X options every stream run in the tests gets
STREAM_TEST_OPTIONS = ["-X", f"session.timeout.ms={SESSION_TIMEOUT_MS}", "-X", "heartbeat.interval.ms=500"]


@dataclass
class MockKafka:
    admin: Any  # the client that owns the mock cluster: keep it alive
    bootstrap: str
    _names: Iterator[int] = field(default_factory=itertools.count)

    def name(self, what: str) -> str:
        """A topic or group name no other test uses."""
        return f"{what}-{next(self._names)}-{uuid.uuid4().hex[:6]}"

    def produce(self, topic: str, values: Iterable[bytes | None], partitions: int = 4,
                keys: Iterable[bytes | None] | None = None) -> list[tuple[int, int]]:
        """Produce values round-robin over ``partitions``; return each one's (partition, offset)."""
        from confluent_kafka import Producer

        producer = Producer({"bootstrap.servers": self.bootstrap, "linger.ms": 5})
        values = list(values)
        keys = list(keys) if keys is not None else [None] * len(values)
        placed: list[tuple[int, int] | None] = [None] * len(values)
        errors: list[str] = []

        def delivered(i):
            def cb(err, msg):
                if err is not None:
                    errors.append(str(err))
                else:
                    placed[i] = (msg.partition(), msg.offset())
            return cb

        for i, (key, value) in enumerate(zip(keys, values)):
            producer.produce(topic, value=value, key=key, partition=i % partitions, on_delivery=delivered(i))
            producer.poll(0)
        assert producer.flush(30) == 0, "mock broker did not acknowledge every message"
        assert not errors, errors
        return placed  # type: ignore[return-value]

    def consume_all(self, topic: str, expected: int, timeout: float = 30.0) -> list[Any]:
        """Every message of ``topic`` from the beginning (a fresh group), until ``expected`` arrived."""
        import time

        from confluent_kafka import Consumer

        consumer = Consumer({"bootstrap.servers": self.bootstrap, "group.id": self.name("reader"),
                             "auto.offset.reset": "earliest", "enable.auto.commit": False})
        consumer.subscribe([topic])
        out: list[Any] = []
        deadline = time.monotonic() + timeout
        try:
            while len(out) < expected and time.monotonic() < deadline:
                for msg in consumer.consume(500, timeout=0.5):
                    if msg.error() is None:
                        out.append(msg)
        finally:
            consumer.close()
        return out

    def committed(self, group: str, topic: str, partitions: int = 4) -> dict[int, int]:
        """The group's committed offset per partition (absent when none)."""
        from confluent_kafka import Consumer, TopicPartition

        consumer = Consumer({"bootstrap.servers": self.bootstrap, "group.id": group, "enable.auto.commit": False})
        try:
            got = consumer.committed([TopicPartition(topic, p) for p in range(partitions)], timeout=10)
        finally:
            consumer.close()
        return {tp.partition: tp.offset for tp in got if tp.offset >= 0}


@pytest.fixture(scope="session")
def kafka() -> Iterator[MockKafka]:
    pytest.importorskip("confluent_kafka", reason="the [kafka] extra (confluent-kafka) is not installed")
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({"test.mock.num.brokers": "1", "log_level": "3"})
    brokers = admin.list_topics(timeout=10).brokers
    broker = next(iter(brokers.values()))
    yield MockKafka(admin, f"{broker.host}:{broker.port}")
    del admin
