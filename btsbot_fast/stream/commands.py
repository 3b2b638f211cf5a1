"""``btsbot-fast stream``: the click command over :func:`btsbot_fast.stream.run_stream`."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import click

from ..messages import plural
from ..scorer_options import ScorerOptions, scorer_options


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
@click.option("--topic-pattern", metavar="REGEX",
              help="Consume every topic matching this regex, e.g. '^ztf_.*_programid1$'.")
@click.option("--group-id", required=True,
              help="Consumer group: a restart with the same group resumes where it committed.")
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
@scorer_options
@click.option("--batch-timeout", type=click.FloatRange(min=0.001), default=0.1, show_default=True, metavar="SECONDS",
              help="Longest wait to fill a batch before scoring what has arrived.")
@click.option("--stats-interval", type=click.FloatRange(min=0), default=10.0, show_default=True, metavar="SECONDS",
              help="Stats line on stderr (and --stats-json) this often; 0 = only at the end.")
@click.option("--stats-json", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Append one JSON stats object per interval to this file.")
@click.option("--connect-timeout", type=click.FloatRange(min=0.1), default=15.0, show_default=True, metavar="SECONDS",
              help="Give up when the brokers do not answer within this time at start.")
@click.option("--autoscan", "autoscan_config", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              default=None, metavar="CONFIG.toml",
              help="Also decide and act per source, live (autoscan TOML: policy, state, SkyPortal, follow-up).")
@click.option("--autoscan-report", type=click.Path(file_okay=False, path_type=Path), default=None, metavar="DIR",
              help="With --autoscan: write the run's summary.json and decisions.png here when it stops.")
@click.option("--max-commit-failures", type=click.IntRange(min=1), default=10, show_default=True, metavar="N",
              help="Stop (exit 1) after N offset commits in a row have failed.")
@click.option("--metrics-port", type=click.IntRange(0, 65535), default=None, metavar="PORT",
              help="Serve Prometheus metrics on http://HOST:PORT/metrics and a health check on /healthz "
                   "(the [metrics] extra).")
@click.option("--metrics-host", default="127.0.0.1", show_default=True, metavar="ADDRESS",
              help="Address the metrics server binds (0.0.0.0: every interface).")
@click.option("-v", "--verbose", is_flag=True, help="Also log per-batch timings and librdkafka's debug messages.")
def stream(bootstrap_servers, topics, topic_pattern, group_id, output_topic, output, output_format, from_beginning,
           idle_timeout, max_alerts, overrides, kafka_config, scorer_options: ScorerOptions, batch_timeout,
           stats_interval, stats_json, connect_timeout, autoscan_config, autoscan_report, max_commit_failures,
           metrics_port, metrics_host, verbose) -> None:
    """Score ZTF alerts from Kafka topics and publish one result per alert, at least once.

    Offsets are committed only after the results are durable, so a killed run restarted with the same
    --group-id loses nothing. SIGINT/SIGTERM finish the current batch, flush, commit and exit 0.
    --batch-size is also the most messages committed together.
    """
    from ..output import format_for
    from ..secrets import SecretError, require_private_file
    from . import KafkaConfigError, StreamError, merged, parse_overrides, read_properties, run_stream

    if bool(topics) == bool(topic_pattern):
        raise click.UsageError("give --topic (one or more) or --topic-pattern")
    if output_topic is None and output is None and autoscan_config is None:
        raise click.UsageError("give --output-topic, -o FILE and/or --autoscan CONFIG.toml")
    if autoscan_report is not None and autoscan_config is None:
        raise click.UsageError("--autoscan-report needs --autoscan")
    if output is not None:
        try:
            format_for(output)
        except ValueError as exc:
            raise click.UsageError(str(exc)) from None
    try:
        if kafka_config is not None:
            require_private_file(kafka_config, "the Kafka properties file")
        props = merged(read_properties(kafka_config) if kafka_config else {}, parse_overrides(overrides))
    except (KafkaConfigError, SecretError) as exc:
        raise click.UsageError(str(exc)) from None

    handler = _StderrHandler()
    logger = logging.getLogger("btsbot_fast.stream")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG if verbose else logging.INFO)
    logging.getLogger("btsbot_fast.stream.librdkafka").setLevel(logging.DEBUG if verbose else logging.WARNING)
    # autoscan runs as the stream's on_batch hook: after a batch's rows are durable, before its offsets
    # are committed, it records the batch's decisions and action intents (its state makes a re-delivered
    # batch harmless); a background sender sends the actions, so scoring never waits for SkyPortal
    # (btsbot_fast.autoscan.runner, .sender)
    scan = _open_autoscan(autoscan_config, autoscan_report) if autoscan_config is not None else None
    metrics = None
    try:  # the extras this run needs, named with their install hint before anything starts
        from .loop import _require_kafka

        _require_kafka()
        if metrics_port is not None:
            from .metrics import require_prometheus

            require_prometheus()
    except ImportError as exc:
        if scan is not None:
            scan.close()
        raise click.ClickException(str(exc)) from None
    try:  # --precision fast re-scores exactly near the autoscan policy's threshold too
        scorer = scorer_options.open(extra_thresholds=(scan.policy.threshold,) if scan is not None else ())
    except BaseException:
        if scan is not None:
            scan.close()
        raise
    try:
        if metrics_port is not None:
            from .metrics import StreamMetrics

            metrics = StreamMetrics(autoscan_state=scan.config.state if scan is not None else None)
            metrics.serve(metrics_port, metrics_host)
        summary = run_stream(bootstrap_servers=bootstrap_servers, group_id=group_id, topics=topics,
                             topic_pattern=topic_pattern, scorer=scorer, idle_timeout=idle_timeout,
                             max_alerts=max_alerts, output_topic=output_topic, output_file=output,
                             output_format=output_format, kafka_config=props, from_beginning=from_beginning,
                             batch_timeout=batch_timeout, stats_interval=stats_interval, stats_json=stats_json,
                             stats_stream=sys.stderr, connect_timeout=connect_timeout,
                             on_batch=scan.process if scan is not None else None,
                             max_commit_failures=max_commit_failures, metrics=metrics)
    except (StreamError, OSError) as exc:  # (OSError: the metrics port is taken)
        raise click.ClickException(str(exc)) from None
    finally:
        if metrics is not None:
            metrics.close()
        logger.removeHandler(handler)
        if scan is not None:
            _close_autoscan(scan, autoscan_report)
    failed = sum(n for s, n in summary.status.items() if s != "ok")
    click.echo(f"stream: stopped ({summary.stopped_by}): {plural(summary.messages, 'alert')}, "
               f"{plural(summary.rows, 'row')} ({failed} failed), {plural(summary.commits, 'commit')}, "
               f"{summary.alerts_per_second:,.1f} alerts/s "
               f"with {scorer.model_name}", err=True)


def _open_autoscan(config_path: Path, report_dir: Path | None):
    from ..autoscan import Autoscan
    from ..autoscan.config import ConfigError
    from ..autoscan.report import require_matplotlib
    from ..autoscan.state import StateError

    try:
        if report_dir is not None:
            require_matplotlib("--autoscan-report")
        scan = Autoscan.from_toml(config_path, live=True)
        scan.start_sender()  # first sends what earlier runs left open
        return scan
    except (ConfigError, StateError) as exc:
        raise click.ClickException(f"autoscan: {exc}") from None
    except ImportError as exc:  # the [report] / [autoscan] / [postgres] extras
        raise click.ClickException(str(exc)) from None


def autoscan_line(policy: str, on_candidates: bool, sources: int, candidates: int, new_alerts: int, decisions: int,
                  done: int, failed: int) -> str:
    """The live autoscan's closing line; the dead letters and their remedy only when there are some."""
    dead = " (dead-lettered; rerun autoscan with --retry-failed once the cause is fixed)" if failed else ""
    return (f"autoscan {policy} on {'BTS candidates' if on_candidates else 'all sources'}: "
            f"{plural(sources, 'source')} ({plural(candidates, 'BTS candidate')}), {plural(new_alerts, 'new alert')}, "
            f"{plural(decisions, 'new decision')}, {plural(done, 'action')} done, {failed} failed{dead}")


def _close_autoscan(scan, report_dir: Path | None) -> None:
    from ..autoscan.state import safe_url

    try:
        still_open = scan.stop_sender()  # after the request in flight; the rest stays queued in the state
        if report_dir is not None:
            from ..autoscan.report import write_report

            write_report(scan, report_dir)
        st = scan.stats
        click.echo(autoscan_line(scan.policy.name, scan.candidates == "bts", len(st.sources),
                                 len(st.candidate_sources), st.new_alerts, sum(st.decisions.values()),
                                 st.actions_in("done"), st.actions_in("failed")), err=True)
        if st.auth_refused:
            click.echo(f"autoscan: SKYPORTAL REFUSED THE TOKEN: {st.auth_refused}; nothing more was sent", err=True)
        if still_open:
            click.echo(f"autoscan: {plural(still_open, 'action')} not sent yet stay queued in the state: the next run "
                       f"sends them, or `btsbot-fast autoscan --send-pending {safe_url(scan.config.state)} "
                       "--skyportal-url URL`", err=True)
    finally:
        scan.close()
