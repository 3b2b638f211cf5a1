"""Operating score, stream and Spark for a season (issue 16): every message gets a row the sinks can write, failures
that are not the alert's fault stop the run loudly, commit failures are capped, metrics are served,
outputs have one writer, secrets stay out of command lines, clear-text HTTP and open files.

Real Kafka protocol (librdkafka's mock cluster), real alerts, the real model, real HTTP scrapes."""

from __future__ import annotations

import copy
import csv
import io
import json
import subprocess
import sys
import urllib.request

import fastavro
import pytest
from kafka_mock import kafka  # noqa: F401  (the fixture)
from test_stream import SECRET, _env, _secret_config, _stream_cmd

SESSION = {"session.timeout.ms": "6000", "heartbeat.interval.ms": "500"}


@pytest.fixture(scope="module")
def scorer(official_model):
    from btsbot_fast import Scorer

    return Scorer("btsbot-v1.0.1", batch_size=4, home=official_model.onnx_path.parent.parent)


@pytest.fixture(scope="module")
def alert(reference):
    path = sorted((reference.dev / "kowalski").glob("*.avro"))[0]
    reader = fastavro.reader(io.BytesIO(path.read_bytes()))
    return path, reader.writer_schema, next(iter(reader))


def _rewritten(alert, field: str, avro_type, value, inside_candidate: bool = False) -> bytes:
    """The real alert with one field retyped in its writer schema and given ``value``."""
    _, schema, record = alert
    schema, record = copy.deepcopy(schema), copy.deepcopy(record)
    fields = schema["fields"]
    if inside_candidate:
        cand = next(f for f in fields if f["name"] == "candidate")
        fields = cand["type"]["fields"] if isinstance(cand["type"], dict) else next(
            t for t in cand["type"] if isinstance(t, dict))["fields"]
        record["candidate"][field] = value
    else:
        record[field] = value
    next(f for f in fields if f["name"] == field)["type"] = avro_type
    buf = io.BytesIO()
    fastavro.writer(buf, fastavro.parse_schema(schema), [record])
    return buf.getvalue()


def _scrape(port: int, path: str = "/metrics") -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as res:
            return res.status, res.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def _sample(text: str, name: str, **labels: str) -> float | None:
    from prometheus_client.parser import text_string_to_metric_families

    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                return s.value
    return None


@pytest.mark.parametrize("fmt,suffix", [("json", ".jsonl"), ("avro", ".csv")])
def test_messages_of_unexpected_types_each_get_a_row_and_the_stream_commits(kafka, alert, scorer, tmp_path,
                                                                            fmt, suffix):
    from btsbot_fast.stream import StreamScorer
    from btsbot_fast.stream.metrics import StreamMetrics

    path, _, record = alert
    good = path.read_bytes()
    messages = {
        "good": good,
        "numeric objectId": _rewritten(alert, "objectId", "long", 12345),
        "double candid": _rewritten(alert, "candid", "double", 1.5),
        "string candid": _rewritten(alert, "candid", "string", "not-a-number"),
        "inf jd": _rewritten(alert, "jd", "double", float("inf"), inside_candidate=True),
        "oversize": _rewritten(alert, "objectId", "string", "ZTF" + "x" * 150_000),
        "good again": good,
    }
    topic, group, out_topic = kafka.name("ztf_types"), kafka.name("btsbot"), kafka.name("scores")
    placed = kafka.produce(topic, list(messages.values()))
    what = dict(zip(placed, messages))
    metrics = StreamMetrics()
    port = metrics.serve(0)
    scrapes: list[str] = []
    hooked: list[dict] = []

    def hook(rows):  # scrape while the run is going: the counts of the batches before this one
        hooked.extend(rows)
        scrapes.append(_scrape(port)[1])

    # message.max.bytes 200 kB: an output message may carry 100 kB, less than the oversize objectId
    stream = StreamScorer(scorer, bootstrap_servers=kafka.bootstrap, group_id=group, topics=[topic],
                          output_topic=out_topic, output_format=fmt, output_file=tmp_path / f"scores{suffix}",
                          kafka_config={**SESSION, "message.max.bytes": "200000"}, from_beginning=True,
                          on_batch=hook, stats_stream=None, metrics=metrics)
    try:
        summary = stream.run(max_alerts=len(messages))
        status, healthz = _scrape(port, "/healthz")
        final = _scrape(port)[1]
    finally:
        metrics.close()
    assert summary.messages == len(messages)
    by_name = {what[(r["partition"], r["offset"])]: r for r in hooked}
    assert len(hooked) == len(by_name) == len(messages)  # one row each, none dropped
    assert {n: r["status"] for n, r in by_name.items()} == {
        "good": "ok", "good again": "ok", "numeric objectId": "unsupported_schema",
        "double candid": "unsupported_schema", "string candid": "unsupported_schema",
        "inf jd": "unsupported_schema", "oversize": "unsupported_schema"}
    assert "objectId is int 12345, expected a string" in by_name["numeric objectId"]["error"]
    assert "candid is float 1.5" in by_name["double candid"]["error"]
    assert "candid is str 'not-a-number'" in by_name["string candid"]["error"]
    assert "cannot write this alert's row" in by_name["inf jd"]["error"]
    assert "an output message may carry" in by_name["oversize"]["error"]
    assert by_name["numeric objectId"]["candid"] == record["candid"]  # what could be read is kept
    assert by_name["oversize"]["objectId"] is None and by_name["inf jd"]["jd"] is None

    # the stream went on and committed everything; both sinks hold every row
    assert kafka.committed(group, topic) == {p: max(o for q, o in placed if q == p) + 1 for p in range(4)}
    published = kafka.consume_all(out_topic, expected=len(messages))
    assert len(published) == len(messages)
    if fmt == "avro":
        statuses = [next(fastavro.reader(io.BytesIO(m.value())))["status"] for m in published]
        with open(tmp_path / "scores.csv", newline="") as fh:
            file_rows = list(csv.DictReader(fh))
    else:
        statuses = [json.loads(m.value())["status"] for m in published]
        file_rows = [json.loads(line) for line in (tmp_path / "scores.jsonl").read_text().splitlines()]
    assert sorted(statuses) == sorted(r["status"] for r in hooked)
    assert len(file_rows) == len(messages)

    # metrics: scraped during the run (each scrape sees the batches before its own) and at the end
    # (a batch is counted once scored; the hook runs after that, before the commit)
    assert [_sample(s, "btsbot_fast_batches_total") for s in scrapes] == list(range(1, stream.stats.batches + 1))
    assert [_sample(s, "btsbot_fast_commits_total") for s in scrapes] == list(range(stream.stats.batches))
    assert _sample(final, "btsbot_fast_alerts_total", status="ok") == 2
    assert _sample(final, "btsbot_fast_alerts_total", status="unsupported_schema") == 5
    assert _sample(final, "btsbot_fast_commits_total") == summary.commits
    assert _sample(final, "btsbot_fast_commit_failures_total") == 0
    assert _sample(final, "btsbot_fast_batch_seconds_count") == stream.stats.batches >= 2
    lags = {p: _sample(scrapes[1], "btsbot_fast_consumer_lag", topic=topic, partition=str(p)) for p in range(4)}
    assert any(v is not None and v >= 0 for v in lags.values()), "the scrape after the first commit saw no lag"
    assert status == 200 and healthz == "ok\n"


def test_consecutive_commit_failures_stop_the_stream(kafka, reference, scorer, tmp_path, monkeypatch):
    """The brokers refusing every commit (a real KafkaException from the client library) stops the run
    after --max-commit-failures, instead of scoring all night with nothing committed."""
    import confluent_kafka

    from btsbot_fast.stream import StreamError, run_stream

    class RefusingCommits(confluent_kafka.Consumer):
        def commit(self, *args, **kwargs):
            raise confluent_kafka.KafkaException(
                confluent_kafka.KafkaError(confluent_kafka.KafkaError.REBALANCE_IN_PROGRESS))

    monkeypatch.setattr(confluent_kafka, "Consumer", RefusingCommits)
    topic, group = kafka.name("ztf_commits"), kafka.name("btsbot")
    kafka.produce(topic, [p.read_bytes() for p in sorted((reference.dev / "kowalski").glob("*.avro"))[:4]] * 3)
    with pytest.raises(StreamError, match="3 offset commits in a row failed .*rebalance"):
        run_stream(bootstrap_servers=kafka.bootstrap, group_id=group, topics=[topic], scorer=scorer,
                   output_file=tmp_path / "s.jsonl", from_beginning=True, idle_timeout=10, kafka_config=SESSION,
                   stats_stream=None, max_commit_failures=3)
    monkeypatch.undo()
    assert kafka.committed(group, topic) == {}


def test_a_broken_install_stops_the_stream_without_committing(kafka, alert, official_model, tmp_path):
    """An ImportError is not the alert's fault: the stream exits non-zero and commits nothing (a message
    that needs the fastavro reader meets a fastavro that cannot be imported)."""
    broken = tmp_path / "broken" / "fastavro"
    broken.mkdir(parents=True)
    (broken / "__init__.py").write_text('raise ImportError("fastavro is broken in this environment")\n')
    topic, group = kafka.name("ztf_broken"), kafka.name("btsbot")
    kafka.produce(topic, [_rewritten(alert, "objectId", "long", 1)], partitions=1)
    env = {**_env(official_model), "PYTHONPATH": str(broken.parent)}
    res = subprocess.run(_stream_cmd(kafka, topic, group, "-o", str(tmp_path / "s.jsonl"), "--from-beginning",
                                     "--idle-timeout", "5"),
                         env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert res.returncode != 0 and "fastavro is broken" in res.stderr
    assert kafka.committed(group, topic, partitions=1) == {}


def test_score_without_pyarrow_writes_a_row_per_parquet_file(data_root, official_model, tmp_path):
    """The plain install meets a Parquet file: a row naming the [parquet] extra, the Avro beside it scored,
    exit 0 (an optional input format, not a broken install: a missing module of our own stops the run,
    test_a_broken_install_stops_the_stream_without_committing)."""
    hidden = tmp_path / "hidden" / "pyarrow"
    hidden.mkdir(parents=True)
    (hidden / "__init__.py").write_text('raise ImportError("pyarrow is hidden in this test")\n')
    src = sorted((data_root / "parquet").rglob("*.parquet"))[0]
    avro = sorted((data_root / "ztf" / "dev" / "kowalski").rglob("*.avro"))[0]
    out = tmp_path / "scores.jsonl"
    res = subprocess.run([sys.executable, "-m", "btsbot_fast", "score", str(src), str(avro), "-o", str(out)],
                         env={**_env(official_model), "PYTHONPATH": str(hidden.parent)}, cwd=tmp_path,
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr[-2000:]
    rows = {r["source"]: r for r in map(json.loads, out.read_text().splitlines())}
    assert rows[str(src)]["status"] == "decode_error"
    assert 'pip install "btsbot-fast[parquet]"' in rows[str(src)]["error"]
    assert rows[str(avro)]["status"] == "ok"


def test_spark_worker_raises_when_the_native_path_cannot_be_imported(data_root, scorer, monkeypatch):
    """The 156-of-156 decode_error job: a worker that cannot import the native path must fail its task."""
    pytest.importorskip("pyarrow")
    from btsbot_fast.io.parquet import read_parquet
    from btsbot_fast.spark.worker import score_record_batch

    part = next(p for f in sorted((data_root / "parquet").rglob("*.parquet")) for p in read_parquet(f)
                if p.alerts is not None)
    assert score_record_batch(part.alerts, scorer)[0].status == "ok"
    monkeypatch.setitem(sys.modules, "btsbot_fast.prep.arrow", None)  # the import system's "cannot import"
    with pytest.raises(ImportError):
        score_record_batch(part.alerts, scorer)


# --- one writer per output ------------------------------------------------------------------------------
def test_a_second_writer_of_an_output_gets_a_clear_error(reference, official_model, tmp_path):
    from click.testing import CliRunner

    from btsbot_fast.cli import main
    from btsbot_fast.stream.sinks import SinkError, open_file_sink

    out = tmp_path / "scores.jsonl"
    holder = subprocess.Popen([sys.executable, "-c", "import sys; from btsbot_fast.stream.sinks import open_file_sink; "
                               f"s = open_file_sink({str(out)!r}); print('open', flush=True); "
                               "sys.stdin.read(); s.close()"],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=_env(official_model))
    try:
        assert holder.stdout.readline().strip() == "open"
        with pytest.raises(SinkError, match="being written by another process"):
            open_file_sink(out)
        files = sorted((reference.dev / "kowalski").glob("*.avro"))[:2]
        res = CliRunner().invoke(main, ["score", *map(str, files), "-o", str(out)],
                                 env={"BTSBOT_FAST_HOME": str(official_model.onnx_path.parent.parent)})
        assert res.exit_code == 1 and "being written by another process" in res.output
    finally:
        holder.communicate("", timeout=30)
    sink = open_file_sink(out)  # the first writer is gone: the lock went with it
    sink.close()


# --- secrets ---------------------------------------------------------------------------------------------
def test_secrets_stay_off_command_lines_clear_text_and_open_files(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from btsbot_fast.autoscan.config import ConfigError, SkyPortalConfig, load_config
    from btsbot_fast.cli import main

    runner = CliRunner()
    scores = tmp_path / "scores.jsonl"
    scores.write_text("")
    res = runner.invoke(main, ["autoscan", str(scores), "--policy", "bts_p1",
                               "--state", f"postgresql://btsbot:{SECRET}@127.0.0.1:5432/btsbot"])
    assert res.exit_code == 2 and "PGPASSWORD" in res.output and SECRET not in res.output
    res = runner.invoke(main, ["autoscan", str(scores), "--policy", "bts_p1",
                               "--state", f"postgresql://btsbot@127.0.0.1/btsbot?password={SECRET}"])
    assert res.exit_code == 2 and SECRET not in res.output
    res = runner.invoke(main, ["autoscan", str(scores), "--policy", "bts_p1",
                               "--state", f"host=127.0.0.1 dbname=btsbot password={SECRET}"])
    assert res.exit_code == 2 and SECRET not in res.output and not any(tmp_path.glob("host=*"))
    # the TOML config may hold it (a file the operator keeps private)
    (tmp_path / "autoscan.toml").write_text(f'policy = "bts_p1"\nstate = "postgresql://btsbot:{SECRET}@db/btsbot"\n')
    (tmp_path / "autoscan.toml").chmod(0o600)  # readable by others, it is refused (test_autoscan_secrets.py)
    assert load_config(tmp_path / "autoscan.toml").state.endswith("@db/btsbot")

    with pytest.raises(ConfigError, match="clear text"):
        SkyPortalConfig(url="http://fritz.science", group_ids=(1,))
    for url in ("https://fritz.science", "http://127.0.0.1:5000", "http://localhost:5000", "http://[::1]:5000"):
        SkyPortalConfig(url=url, group_ids=(1,))

    token = tmp_path / "token"
    token.write_text(SECRET)
    token.chmod(0o644)
    with pytest.raises(ConfigError, match="chmod 600") as err:
        SkyPortalConfig(url="https://fritz.science", group_ids=(1,), token_file=token).token()
    assert SECRET not in str(err.value)
    token.chmod(0o600)
    assert SkyPortalConfig(url="https://fritz.science", group_ids=(1,), token_file=token).token() == SECRET

    props = _secret_config(tmp_path)
    props.chmod(0o640)
    res = runner.invoke(main, ["stream", "--bootstrap-servers", "127.0.0.1:9", "--topic", "t", "--group-id", "g",
                               "-o", str(tmp_path / "x.jsonl"), "--kafka-config", str(props)])
    assert res.exit_code == 2 and "chmod 600" in res.output and SECRET not in res.output


@pytest.fixture(params=["sqlite", "postgresql"])
def state_location(request, tmp_path):
    if request.param == "sqlite":
        yield str(tmp_path / "state.sqlite")
        return
    pytest.importorskip("psycopg")
    from pg_cluster import PostgresCluster

    cluster = PostgresCluster()
    why = cluster.unavailable()
    if why:
        pytest.skip(why)
    cluster.start()
    try:
        yield cluster.url("postgres")
    finally:
        cluster.stop()


def test_metrics_serve_autoscan_counts_from_the_state(state_location):
    """The autoscan collector reads the state at scrape time (whatever process wrote it), SQLite or
    PostgreSQL, on a connection of its own."""
    from btsbot_fast.autoscan.state import DecisionRow, open_store
    from btsbot_fast.stream.metrics import StreamMetrics

    store = open_store(state_location)
    with store.transaction():
        store.insert_action("ZTF1", "bts_p1", "save", "save", {"group_ids": [1]}, 1.0)
        store.insert_action("ZTF2", "bts_p1", "save", "save", {"group_ids": [1]}, 1.0)
        store.insert_decision(DecisionRow("ZTF1", "bts_p1", 1, 2.0, 0.9, 18.0, 1.0, True))
    metrics = StreamMetrics(autoscan_state=state_location)
    port = metrics.serve(0)
    try:
        _, text = _scrape(port)
        (action,) = [a for a in store.open_actions() if a.object_id == "ZTF1"]
        store.finish(action, "done", 1, 200, {}, None, 2.0)
        store.set_meta("skyportal_token_refused_at", "2024-05-01T03:04:05Z")  # what the sender notes on a 401
        _, after = _scrape(port)
    finally:
        metrics.close()
        store.close()
    assert _sample(text, "btsbot_fast_autoscan_decisions_total", policy="bts_p1") == 1
    assert _sample(text, "btsbot_fast_autoscan_actions_total", kind="save", state="pending") == 2
    assert _sample(text, "btsbot_fast_autoscan_pending_actions") == 2
    assert _sample(after, "btsbot_fast_autoscan_actions_total", kind="save", state="done") == 1
    assert _sample(after, "btsbot_fast_autoscan_pending_actions") == 1
    assert _sample(text, "btsbot_fast_autoscan_token_refused") == 0
    assert _sample(after, "btsbot_fast_autoscan_token_refused") == 1
