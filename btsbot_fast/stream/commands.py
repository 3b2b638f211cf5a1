"""``btsbot-fast stream``: the click command over :func:`btsbot_fast.stream.run_stream`."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import click

from ..scorer import DEFAULT_BATCH_SIZE, DEFAULT_MODEL


class _StderrHandler(logging.Handler):
    """Log lines on stderr (stats lines are printed by the reporter itself)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            click.echo(f"stream: {record.levelname.lower()}: {self.format(record)}", err=True)
        except Exception:  # never let logging end the run
            self.handleError(record)


@click.command()
@click.option("--bootstrap-servers", required=True, metavar="HOST:PORT[,HOST:PORT]",
              help="Kafka brokers to connect to.")
@click.option("--topic", "topics", multiple=True, metavar="TOPIC",
              help="Topic to consume (repeatable), e.g. ztf_20240501_programid1.")
@click.option("--topic-pattern", metavar="REGEX", help="Consume every topic matching this regex, e.g. '^ztf_.*_programid1$'.")
@click.option("--group-id", required=True, help="Consumer group: a restart with the same group resumes where it committed.")
@click.option("--output-topic", metavar="TOPIC", help="Publish one message per alert record (key = objectId).")
@click.option("-o", "--output", type=click.Path(dir_okay=True, path_type=Path), default=None,
              help="Also (or instead) append rows to a .jsonl or .csv file, or a .parquet dataset directory.")
@click.option("--output-format", type=click.Choice(["json", "avro"]), default="json", show_default=True,
              help="Value encoding of --output-topic messages (avro: a self-describing Avro container).")
@click.option("--from-beginning", is_flag=True,
              help="Start at the oldest message where the group has no committed offset (default: the newest).")
@click.option("--idle-timeout", type=click.FloatRange(min=0, min_open=True), default=None, metavar="SECONDS",
              help="Stop after this many seconds without a message (e.g. at the end of a night).")
@click.option("--max-alerts", type=click.IntRange(min=1), default=None, metavar="N", help="Stop after N messages.")
@click.option("-X", "overrides", multiple=True, metavar="KEY=VALUE",
              help="A librdkafka property for the consumer and producer (repeatable); no secrets here.")
@click.option("--kafka-config", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="librdkafka properties file (key=value lines): security settings and credentials.")
@click.option("--model", default=DEFAULT_MODEL, show_default=True,
              help="Registry name, .onnx file, or a training run directory.")
@click.option("--batch-size", type=click.IntRange(min=1), default=DEFAULT_BATCH_SIZE, show_default=True,
              help="Most messages scored (and committed) together.")
@click.option("--batch-timeout", type=click.FloatRange(min=0.001), default=0.1, show_default=True, metavar="SECONDS",
              help="Longest wait to fill a batch before scoring what has arrived.")
@click.option("--stats-interval", type=click.FloatRange(min=0), default=10.0, show_default=True, metavar="SECONDS",
              help="Stats line on stderr (and --stats-json) this often; 0 = only at the end.")
@click.option("--stats-json", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Append one JSON stats object per interval to this file.")
@click.option("--connect-timeout", type=click.FloatRange(min=0.1), default=15.0, show_default=True, metavar="SECONDS",
              help="Give up when the brokers do not answer within this time at start.")
@click.option("-v", "--verbose", is_flag=True, help="Also log per-batch timings and librdkafka's debug messages.")
def stream(bootstrap_servers, topics, topic_pattern, group_id, output_topic, output, output_format, from_beginning,
           idle_timeout, max_alerts, overrides, kafka_config, model, batch_size, batch_timeout, stats_interval,
           stats_json, connect_timeout, verbose) -> None:
    """Score ZTF alerts from Kafka topics and publish one result per alert, at least once.

    Offsets are committed only after the results are durable, so a killed run restarted with the same
    --group-id loses nothing. SIGINT/SIGTERM finish the current batch, flush, commit and exit 0.
    """
    from .. import registry
    from ..scorer import Scorer
    from . import KafkaConfigError, StreamError, merged, parse_overrides, read_properties, run_stream
    from .sinks import file_format

    if bool(topics) == bool(topic_pattern):
        raise click.UsageError("give --topic (one or more) or --topic-pattern")
    if output_topic is None and output is None:
        raise click.UsageError("give --output-topic and/or -o FILE")
    if output is not None:
        try:
            file_format(output)
        except ValueError as exc:
            raise click.UsageError(str(exc)) from None
    try:
        props = merged(read_properties(kafka_config) if kafka_config else {}, parse_overrides(overrides))
    except KafkaConfigError as exc:
        raise click.UsageError(str(exc)) from None

    handler = _StderrHandler()
    logger = logging.getLogger("btsbot_fast.stream")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG if verbose else logging.INFO)
    logging.getLogger("btsbot_fast.stream.librdkafka").setLevel(logging.DEBUG if verbose else logging.WARNING)
    try:
        scorer = Scorer(model, batch_size=batch_size)
    except registry.ModelNotFoundError as exc:
        raise click.ClickException(str(exc)) from None
    except (registry.ModelCardError, ValueError, OSError, ImportError) as exc:
        raise click.ClickException(f"cannot load model {model!r}: {exc}") from None
    try:
        summary = run_stream(bootstrap_servers=bootstrap_servers, group_id=group_id, topics=topics,
                             topic_pattern=topic_pattern, scorer=scorer, idle_timeout=idle_timeout,
                             max_alerts=max_alerts, output_topic=output_topic, output_file=output,
                             output_format=output_format, kafka_config=props, from_beginning=from_beginning,
                             batch_timeout=batch_timeout, stats_interval=stats_interval, stats_json=stats_json,
                             stats_stream=sys.stderr, connect_timeout=connect_timeout)
    except ImportError as exc:
        raise click.ClickException(str(exc)) from None
    except StreamError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        logger.removeHandler(handler)
    failed = sum(n for s, n in summary.status.items() if s != "ok")
    click.echo(f"stream: stopped ({summary.stopped_by}): {summary.messages} alerts, {summary.rows} rows "
               f"({failed} failed), {summary.commits} commits, {summary.alerts_per_second:,.1f} alerts/s "
               f"with {scorer.model_name}", err=True)
