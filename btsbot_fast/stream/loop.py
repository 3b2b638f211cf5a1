"""The stream loop: consume a batch of alert messages, score it with :class:`~btsbot_fast.scorer.Scorer`,
write one row per alert record to the sinks, make them durable, run the per-batch hook, commit.

At-least-once: offsets are stored nowhere but in explicit commits (``enable.auto.commit=false``,
``enable.auto.offset.store=false``), and a batch's offsets are committed only after every sink has made
its rows durable (producer deliveries acknowledged, file fsynced) and the hook has returned. A process
killed at any moment therefore loses nothing; on restart it scores again what it had written but not
yet committed: at most one batch (``batch_size`` messages), or with a Parquet sink the rows of the part
not yet written (up to its roll size). A hook exception, or ONNX Runtime failing on a batch, stops the
run without committing that batch.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TextIO

from ..backends import ModelRunError
from ..messages import install_hint, plural
from ..scorer import DEFAULT_BATCH_SIZE, DEFAULT_MODEL, Scorer
from .config import RedactingFilter, Redactor
from .kafka_logs import RepeatFolder
from .rows import MESSAGE_OVERHEAD_BYTES, empty_message_row, encoder, result_row, row_problem, unwritable_row, utc_now
from .sinks import KafkaTopicSink, Sink, SinkError, open_file_sink
from .stats import StatsReporter, StreamStats

log = logging.getLogger("btsbot_fast.stream")
#: librdkafka's own log lines arrive here (redacted) instead of going straight to stderr
kafka_log = logging.getLogger("btsbot_fast.stream.librdkafka")

BatchHook = Callable[[list[dict[str, Any]]], None]
#: commits that may fail in a row (a rebalance, a coordinator moving) before the stream gives up: past
#: that, every restart would replay more of the night
DEFAULT_MAX_COMMIT_FAILURES = 10


def default_client_id() -> str:
    """``btsbot-fast-<host>``: how the brokers' logs and quotas name this process."""
    return f"btsbot-fast-{socket.gethostname()}"


class _ScopeNoiseFilter(logging.Filter):
    """Drop librdkafka's notes that a consumer property is ignored by the producer (and the reverse):
    one set of properties configures both clients on purpose."""

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        return not ("property and will be ignored by this" in text and "CONFWARN" in text)


class StreamError(RuntimeError):
    """The stream cannot start or go on (unreachable brokers, unknown topic, a sink failure...)."""


class StreamHookError(StreamError):
    """The per-batch hook raised: the run stopped and that batch's offsets were not committed."""


@dataclass
class StreamSummary:
    messages: int
    rows: int
    status: dict[str, int]
    commits: int
    #: seconds from the first message received to the last batch made durable
    busy_seconds: float
    stopped_by: str
    committed: dict[str, int] = field(default_factory=dict)

    @property
    def alerts_per_second(self) -> float:
        return self.messages / self.busy_seconds if self.busy_seconds > 0 else 0.0


def _require_kafka():
    try:
        import confluent_kafka
    except ImportError:
        raise ImportError("streaming needs confluent-kafka: " + install_hint("kafka")) from None
    return confluent_kafka


def _source(topic: str, partition: int, offset: int) -> str:
    return f"{topic}[{partition}]@{offset}"


class StreamScorer:
    """Score alerts from Kafka topics, at least once.

    ``kafka_config`` holds extra librdkafka properties for both the consumer and the producer (security
    settings, ``session.timeout.ms``...; see :mod:`btsbot_fast.stream.config`). ``on_batch`` is called
    with each batch's rows (:data:`~btsbot_fast.stream.rows.HOOK_FIELDS`) after they are durable and
    before their offsets are committed; after a crash the batch is delivered again, so the hook must be
    idempotent, and an exception from it stops the run (:class:`StreamHookError`) without committing.
    """

    def __init__(self, scorer: Scorer, *, bootstrap_servers: str, group_id: str, topics: Sequence[str] = (),
                 topic_pattern: str | None = None, output_topic: str | None = None,
                 output_file: str | os.PathLike[str] | None = None, output_format: str = "json",
                 kafka_config: Mapping[str, str] | None = None, from_beginning: bool = False,
                 batch_timeout: float = 0.1, on_batch: BatchHook | None = None, stats_interval: float = 10.0,
                 stats_json: str | os.PathLike[str] | None = None, stats_stream: TextIO | None = sys.stderr,
                 connect_timeout: float = 15.0, max_commit_failures: int = DEFAULT_MAX_COMMIT_FAILURES,
                 metrics: Any = None):
        if bool(topics) == bool(topic_pattern):
            raise ValueError("give topics or a topic_pattern (one of the two)")
        if output_topic is None and output_file is None and on_batch is None:
            raise ValueError("nowhere to put the scores: give an output topic, an output file or on_batch")
        self.scorer = scorer
        self.bootstrap_servers = bootstrap_servers
        self.group_id = group_id
        self.topics = list(topics)
        self.topic_pattern = topic_pattern
        self.output_topic = output_topic
        self.output_file = output_file
        self.encode = encoder(output_format)
        self.kafka_config = dict(kafka_config or {})
        self.from_beginning = from_beginning
        self.batch_timeout = batch_timeout
        self.on_batch = on_batch
        self.connect_timeout = connect_timeout
        if max_commit_failures < 1:
            raise ValueError("max_commit_failures must be >= 1")
        self.max_commit_failures = max_commit_failures
        #: a btsbot_fast.stream.metrics.StreamMetrics to feed (its server is the caller's)
        self.metrics = metrics
        self._failed_commits = 0  # in a row
        self.redact = Redactor(self.kafka_config)
        #: the largest row the output topic takes (the producer's message.max.bytes, less room for the rest)
        limit = int(self.kafka_config.get("message.max.bytes", 1_000_000))
        self.max_row_bytes = max(limit // 2, limit - MESSAGE_OVERHEAD_BYTES)
        self._stats_args = (stats_interval, stats_stream, stats_json)
        self._stop = threading.Event()
        self._stop_reason = ""
        self._consumer: Any = None
        self._sinks: list[Sink] = []
        self._pending: list[tuple[list[dict[str, Any]], dict[tuple[str, int], int]]] = []
        self._assigned_at: float | None = None
        self._closing = False
        self._committed: dict[tuple[str, int], int] = {}
        self.stats = StreamStats()
        #: librdkafka's repeated lines (an unreachable broker: many a second) folded into a count
        self._repeats = RepeatFolder(kafka_log)

    # --- control ---------------------------------------------------------------------------------
    def stop(self, reason: str = "stop requested") -> None:
        """Ask the loop to stop after the current batch (thread- and signal-safe)."""
        if not self._stop.is_set():
            self._stop_reason = reason
            self._stop.set()

    # --- setup -----------------------------------------------------------------------------------
    def _client_config(self, **own: Any) -> dict[str, Any]:
        conf: dict[str, Any] = {"bootstrap.servers": self.bootstrap_servers, "client.id": default_client_id(),
                                **self.kafka_config, **own}
        conf["logger"] = kafka_log
        return conf

    def _consumer_config(self) -> dict[str, Any]:
        # where a partition starts when the group has no committed offset for it (a commit always wins)
        reset = "earliest" if self.from_beginning else self.kafka_config.get("auto.offset.reset", "latest")
        return self._client_config(**{"group.id": self.group_id, "auto.offset.reset": reset,
                                      "enable.auto.commit": False, "enable.auto.offset.store": False})

    def _producer_config(self) -> dict[str, Any]:
        # idempotence: a produce retried after a lost acknowledgement is not written twice
        return self._client_config(**{"acks": "all", "enable.idempotence": True})

    def _open(self) -> None:
        ck = _require_kafka()
        # every line of the stream's loggers passes the redactor (a filter acts on its own logger's records)
        for logger in (log, kafka_log):
            for f in [f for f in logger.filters if isinstance(f, (RedactingFilter, _ScopeNoiseFilter, RepeatFolder))]:
                logger.removeFilter(f)
        kafka_log.addFilter(_ScopeNoiseFilter())
        for logger in (log, kafka_log):
            logger.addFilter(RedactingFilter(self.redact))
        kafka_log.addFilter(self._repeats)
        try:
            consumer = ck.Consumer(self._consumer_config())
        except ck.KafkaException as exc:
            raise StreamError(self.redact(f"invalid Kafka consumer settings: {exc.args[0]}")) from None
        self._consumer = consumer
        try:
            metadata = consumer.list_topics(timeout=self.connect_timeout)
        except ck.KafkaException as exc:
            raise StreamError(self.redact(
                f"cannot reach the Kafka brokers at {self.bootstrap_servers} within {self.connect_timeout:g} s "
                f"({exc.args[0].str()}); check --bootstrap-servers and the security settings")) from None
        missing = [t for t in self.topics if t not in metadata.topics or metadata.topics[t].error is not None]
        if missing:
            raise StreamError(f"unknown topic(s) on {self.bootstrap_servers}: {', '.join(missing)} "
                              f"(the brokers list {plural(len(metadata.topics), 'topic')}; use --topic-pattern to wait "
                              "for topics that do not exist yet)")
        if self.topic_pattern:
            import re
            pattern = re.compile(self.topic_pattern)
            if not any(pattern.search(t) for t in metadata.topics):
                log.warning("no topic matches %r yet; waiting for one", self.topic_pattern)
        if self.output_file is not None:
            self._sinks.append(open_file_sink(self.output_file))
        if self.output_topic is not None:
            try:
                producer = ck.Producer(self._producer_config())
            except ck.KafkaException as exc:
                raise StreamError(self.redact(f"invalid Kafka producer settings: {exc.args[0]}")) from None
            self._sinks.append(KafkaTopicSink(producer, self.output_topic, self.encode, self.redact))
        subscription = self.topics or [self.topic_pattern if self.topic_pattern.startswith("^")
                                       else "^" + self.topic_pattern]
        consumer.subscribe(subscription, on_assign=self._on_assign, on_revoke=self._on_revoke,
                           on_lost=self._on_lost)

    # --- rebalance callbacks (run inside consume()) --------------------------------------------------
    def _on_assign(self, consumer: Any, partitions: list[Any]) -> None:
        self._assigned_at = time.monotonic()  # the idle clock restarts: new partitions may bring messages
        log.info("assigned %s", ", ".join(f"{p.topic}[{p.partition}]" for p in partitions) or "no partitions")

    def _on_revoke(self, consumer: Any, partitions: list[Any]) -> None:
        # the partitions go to another member: leave nothing written but uncommitted behind (not while
        # closing: then whatever is still pending did not become durable and must not be committed)
        if not self._closing:
            self._settle(force=True)

    def _on_lost(self, consumer: Any, partitions: list[Any]) -> None:
        # the group moved on without us: our pending commits would be refused; their rows are written, and
        # the new owner scores those messages again (duplicates, never losses)
        lost = {(p.topic, p.partition) for p in partitions}
        for _, offsets in self._pending:
            for tp in lost:
                offsets.pop(tp, None)
        log.warning("lost %s to a rebalance; their uncommitted messages will be scored again",
                    plural(len(lost), "partition"))

    # --- the loop --------------------------------------------------------------------------------
    def run(self, *, idle_timeout: float | None = None, max_alerts: int | None = None) -> StreamSummary:
        """Consume until stopped (:meth:`stop`, a signal through :func:`run_stream`), ``max_alerts``
        messages, or ``idle_timeout`` seconds without a message (counted from the last message or
        partition assignment; not before the first assignment). Returns what was done; raises
        :class:`StreamError` when the run cannot go on."""
        reporter = StatsReporter(*self._stats_args)
        self.stats = StreamStats(metrics=self.metrics)
        self._failed_commits = 0
        self._closing = False
        stopped_by = ""
        final_lag: dict[str, int] = {}
        ended = False  # the loop came to its end (not an exception)
        try:
            self._open()
            last_message = None
            while not self._stop.is_set():
                if self.metrics is not None:
                    self.metrics.beat()
                want = self.scorer.batch_size
                if max_alerts is not None:
                    want = min(want, max_alerts - self.stats.messages)
                    if want <= 0:
                        stopped_by = f"max-alerts {max_alerts}"
                        break
                waited_from = time.monotonic()
                messages = self._consumer.consume(num_messages=want, timeout=self.batch_timeout)
                alerts = [m for m in messages if self._usable(m)]
                now = time.monotonic()
                if alerts:
                    last_message = now
                    self._process(alerts, started=now)
                    scored = time.monotonic()
                    self._settle(force=False)
                    log.debug("batch of %d: waited %.0f ms, scored in %.0f ms, durable+committed in %.0f ms",
                              len(alerts), (now - waited_from) * 1000, (scored - now) * 1000,
                              (time.monotonic() - scored) * 1000)
                else:
                    self._settle(force=False)  # a Parquet part may be due by age
                    marks = [t for t in (last_message, self._assigned_at) if t is not None]
                    if idle_timeout is not None and marks and now - max(marks) >= idle_timeout:
                        stopped_by = f"idle for {idle_timeout:g} s"
                        break
                # the lag moves when commits do; asked here, never inside a rebalance callback
                if self.metrics is not None and self._committed and self.metrics.lag_due():
                    self.metrics.set_lag(self._lag())
                if reporter.due():
                    reporter.report(self.stats.snapshot(_lag_text(self._lag())))
            stopped_by = stopped_by or self._stop_reason
            self._settle(force=True)
            final_lag = _lag_text(self._lag())
            ended = True
        except SinkError as exc:
            raise StreamError(str(exc)) from None
        except ModelRunError as exc:  # a broken runtime, not bad alerts: no rows, no commit for the batch
            raise StreamError(f"scoring stopped: {exc}; this batch's offsets were not committed") from None
        finally:
            self._close()
            self._repeats.flush()  # the count of a repeated line comes before the stream's own error
            # a run that fails before its first message prints its error alone, not an empty stats line
            # above it (the --stats-json file still gets its final object)
            reporter.report(self.stats.snapshot(final_lag), final=True, line=ended or self.stats.messages > 0)
            reporter.close()
        return StreamSummary(self.stats.messages, self.stats.rows, dict(self.stats.status), self.stats.commits,
                             self.stats.busy_seconds, stopped_by,
                             {f"{t}[{p}]": o for (t, p), o in sorted(self._committed.items())})

    def _usable(self, msg: Any) -> bool:
        err = msg.error()
        if err is None:
            return True
        ck = _require_kafka()
        if err.code() == ck.KafkaError._PARTITION_EOF:
            return False
        if err.fatal():
            raise StreamError(self.redact(f"fatal Kafka error: {err.str()}"))
        if err.code() in (ck.KafkaError.UNKNOWN_TOPIC_OR_PART, ck.KafkaError._UNKNOWN_TOPIC) and self.topics:
            raise StreamError(self.redact(f"topic unavailable: {err.str()}"))
        log.warning("%s", self.redact(f"Kafka: {err.str()}"))
        return False

    def _process(self, messages: list[Any], started: float) -> None:
        """Score one batch of messages and hand its rows to the sinks (not yet durable)."""
        model, version = self.scorer.model_name, self.scorer.model_version
        where = [(m.topic(), m.partition(), m.offset()) for m in messages]
        values = [m.value() for m in messages]
        named = [(_source(*w), v) for w, v in zip(where, values) if v]
        by_source: dict[str, list[Any]] = {}
        for result in self.scorer.score_named_buffers(named):
            by_source.setdefault(result.source, []).append(result)
        scored_at = utc_now()
        rows: list[dict[str, Any]] = []
        offsets: dict[tuple[str, int], int] = {}
        for (topic, partition, offset), value in zip(where, values):
            results = by_source.get(_source(topic, partition, offset))
            if results:
                rows.extend(result_row(r, topic, partition, offset, scored_at) for r in results)
            else:  # every offset gets an answer, even a message with nothing to score
                reason = ("message has no value (null)" if value is None else "message value is empty" if not value
                          else "Avro container holds no alert records")
                rows.append(empty_message_row(model, version, topic, partition, offset, scored_at, reason))
            offsets[(topic, partition)] = max(offset, offsets.get((topic, partition), -1))
        for i, row in enumerate(rows):  # a row no sink can write must not stop the partition for good
            if problem := row_problem(row, self.max_row_bytes):
                rows[i] = unwritable_row(row, problem)
        for sink in self._sinks:
            sink.write(rows)
        self._pending.append((rows, offsets))
        self.stats.count_batch(len(messages), rows, time.monotonic() - started)

    def _settle(self, force: bool) -> None:
        """When every sink says its rows are durable: run the hook on each pending batch, then commit."""
        if not self._pending:
            return
        durable = [sink.sync(force) for sink in self._sinks]  # every sink syncs, none short-circuited
        if not all(durable):
            return
        self.stats.last_durable = time.monotonic()
        pending, self._pending = self._pending, []
        commit: dict[tuple[str, int], int] = {}
        for rows, offsets in pending:
            if self.on_batch is not None:
                try:
                    self.on_batch(rows)
                except Exception as exc:
                    raise StreamHookError(f"on_batch hook failed ({type(exc).__name__}: {exc}); "
                                          "this batch's offsets were not committed") from exc
            for tp, offset in offsets.items():
                commit[tp] = max(offset, commit.get(tp, -1))
        self._commit(commit)

    def _commit(self, offsets: dict[tuple[str, int], int]) -> None:
        if not offsets:
            return
        ck = _require_kafka()
        tps = [ck.TopicPartition(t, p, o + 1) for (t, p), o in offsets.items()]
        try:
            done = self._consumer.commit(offsets=tps, asynchronous=False) or []
            failed = [f"{tp.topic}[{tp.partition}]: {tp.error.str()}" for tp in done if tp.error is not None]
        except ck.KafkaException as exc:
            failed = [exc.args[0].str()]
        if failed:  # e.g. the partitions moved during a rebalance: duplicates, not losses
            self._failed_commits += 1
            self.stats.count_commit(ok=False)
            text = self.redact("; ".join(failed))
            if self._failed_commits >= self.max_commit_failures:
                raise StreamError(f"{self._failed_commits} offset commits in a row failed (last: {text}); "
                                  "stopping: a restart would score everything since the last commit again")
            log.warning("offset commit failed (%s); those messages will be scored again unless a later commit "
                        "succeeds (%d failed in a row; the stream stops at %d)", text, self._failed_commits,
                        self.max_commit_failures)
            return
        self._failed_commits = 0
        self.stats.count_commit(ok=True)
        for (t, p), o in offsets.items():
            self._committed[(t, p)] = o + 1

    def _lag(self) -> dict[tuple[str, int], int]:
        """Messages not yet committed per assigned partition: high watermark - committed offset, both
        asked of the brokers (what a restart would have to score again, not where the fetcher is)."""
        ck = _require_kafka()
        lag: dict[tuple[str, int], int] = {}
        try:
            assignment = self._consumer.assignment()
            if not assignment:
                return lag
            for tp in self._consumer.committed(assignment, timeout=5.0):
                if tp.offset < 0:  # nothing committed yet: the lag is not known
                    continue
                _, high = self._consumer.get_watermark_offsets(tp, timeout=5.0, cached=False)
                if high >= 0:
                    lag[(tp.topic, tp.partition)] = max(0, high - tp.offset)
        except ck.KafkaException as exc:  # lag is a report, never a reason to stop
            log.debug("%s", self.redact(f"lag unavailable: {exc.args[0].str()}"))
        return lag

    def _close(self) -> None:
        self._closing = True
        self._pending = []  # never committed: only a completed _settle commits
        for sink in self._sinks:
            try:
                sink.close()
            except Exception as exc:
                log.warning("%s", self.redact(f"closing an output failed: {exc}"))
        self._sinks = []
        if self._consumer is not None:
            try:
                self._consumer.close()
            except (_require_kafka().KafkaException, RuntimeError) as exc:  # a broker error, or closed already
                log.debug("consumer close: %s", exc)
            self._consumer = None


def _lag_text(lag: dict[tuple[str, int], int]) -> dict[str, int]:
    return {f"{t}[{p}]": n for (t, p), n in sorted(lag.items())}


@contextmanager
def _stop_on_signals(stream: StreamScorer):
    """SIGINT/SIGTERM ask the loop to stop after its batch; a second signal acts as usual."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}

    def handler(signum: int, frame: Any) -> None:
        stream.stop(f"signal {signal.Signals(signum).name}")
        for s, h in previous.items():
            signal.signal(s, h)

    for s in previous:
        signal.signal(s, handler)
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


def run_stream(*, bootstrap_servers: str, group_id: str, topics: Iterable[str] = (), topic_pattern: str | None = None,
               model: str | os.PathLike[str] = DEFAULT_MODEL, batch_size: int = DEFAULT_BATCH_SIZE,
               idle_timeout: float | None = None, max_alerts: int | None = None, scorer: Scorer | None = None,
               **options: Any) -> StreamSummary:
    """Score a Kafka stream until it stops: what ``btsbot-fast stream`` does.

    Builds a :class:`~btsbot_fast.Scorer` (unless one is given) and a :class:`StreamScorer`, and runs
    it; SIGINT/SIGTERM stop it gracefully (the current batch finished, flushed and committed) when called
    from the main thread. Offsets are committed only once a batch's rows are durable: at least once.

    Parameters
    ----------
    bootstrap_servers : str
        ``HOST:PORT[,HOST:PORT...]`` of the Kafka brokers.
    group_id : str
        The consumer group; a restart with the same group goes on where the last commit left off.
    topics : iterable of str, optional
        Topics to consume; or ``topic_pattern``, a regular expression (``^ztf_\\d{8}_programid1$``).
    topic_pattern : str or None, optional
        Consume every topic that matches, also those created later.
    model, batch_size
        As for :class:`~btsbot_fast.Scorer`; ignored when ``scorer`` is given.
    idle_timeout : float or None, optional
        Stop after this many seconds without a message.
    max_alerts : int or None, optional
        Stop after this many messages.
    scorer : Scorer or None, optional
        A scorer to use instead of building one.
    **options
        :class:`StreamScorer`'s keyword arguments (``output_topic``, ``output_file``, ``on_batch``,
        ``kafka_config``, ``from_beginning`` ...).

    Returns
    -------
    StreamSummary
        Counts of the run: messages, rows per status, alerts per second, commits.

    Raises
    ------
    StreamError
        The brokers cannot be reached, a topic does not exist or an output cannot be written.
    StreamHookError
        ``on_batch`` raised; that batch's offsets are not committed.
    """
    scorer = scorer or Scorer(model, batch_size=batch_size)
    stream = StreamScorer(scorer, bootstrap_servers=bootstrap_servers, group_id=group_id, topics=list(topics),
                          topic_pattern=topic_pattern, **options)
    with _stop_on_signals(stream):
        return stream.run(idle_timeout=idle_timeout, max_alerts=max_alerts)
