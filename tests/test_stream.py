"""btsbot-fast stream against a real Kafka protocol endpoint (librdkafka's mock cluster), real alerts and
the real model: at-least-once under kill -9, bad messages, graceful stop, clear errors, no leaked secrets."""

from __future__ import annotations

import io
import json
import os
import random
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import fastavro
import pytest
from kafka_mock import STREAM_TEST_OPTIONS, kafka  # noqa: F401  (the fixture)

from conftest import shared_root

SECRET = "s3cr3t-Pa55w0rd-never-logged"
#: score parity with `btsbot-fast score` on the same files (same native path, same model)
SCORE_TOL = 1e-6


# --- data ---------------------------------------------------------------------------------------------
def stream_sample(reference, n: int = 250) -> list[Path]:
    """``n`` real dev alert files, the smallest first (~10 MB: under 4 MB per partition of the mock
    broker), plus one file holding three records (a message with several alerts). The committed sample of
    a bare clone has fewer files: they are produced again, in turn, up to ``n`` messages."""
    multi = reference.dev / "fink-client" / "datatest_avro_multi_alerts_other.avro"
    files = [f for f in sorted(reference.dev.rglob("*.avro"), key=lambda p: (p.stat().st_size, str(p)))
             if f != multi]
    return [files[i % len(files)] for i in range(n)] + [multi]


def _env(official_model) -> dict[str, str]:
    return {**os.environ, "BTSBOT_FAST_HOME": str(official_model.onnx_path.parent.parent)}


def _stream_cmd(kafka, topic: str, group: str, *extra: str) -> list[str]:
    return [sys.executable, "-m", "btsbot_fast", "stream", "--bootstrap-servers", kafka.bootstrap, "--topic", topic,
            "--group-id", group, *STREAM_TEST_OPTIONS, *extra]


@pytest.fixture(scope="module")
def sample(reference) -> list[Path]:
    return stream_sample(reference)


@pytest.fixture(scope="module")
def file_scores(sample, official_model, tmp_path_factory) -> dict[tuple[str, int], dict]:
    """What `btsbot-fast score` gives on the same files: {(path, record_index): row}."""
    out = tmp_path_factory.mktemp("score") / "scores.jsonl"
    res = subprocess.run([sys.executable, "-m", "btsbot_fast", "score", *map(str, dict.fromkeys(sample)),
                          "-o", str(out)],
                         env=_env(official_model), cwd=out.parent, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    return {(r["source"], r["record_index"]): r for r in rows}


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def _wait_for_lines(path: Path, n: int, proc: subprocess.Popen, timeout: float = 180.0) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"stream exited early with {proc.returncode}")
        if path.exists():
            lines = path.read_bytes().count(b"\n")
            if lines >= n:
                return lines
        time.sleep(0.02)
    raise AssertionError(f"fewer than {n} rows in {path} after {timeout} s")


def _check_against_files(rows, placed_files, file_scores):
    """Every record of every produced message is in ``rows`` with `btsbot-fast score`'s status and score."""
    expected = {}
    for (partition, offset), path in placed_files.items():
        for (source, index), row in file_scores.items():
            if source == str(path):
                expected[(partition, offset, index)] = row
    got: dict[tuple[int, int, int], dict] = {}
    for r in rows:
        got.setdefault((r["partition"], r["offset"], r["record_index"]), r)
    missing, extra = sorted(set(expected) - set(got))[:5], sorted(set(got) - set(expected))[:5]
    assert set(got) == set(expected), f"missing {missing}, extra {extra}"
    worst = 0.0
    for key, want in expected.items():
        row = got[key]
        ids = ("candid", "objectId", "status")
        assert tuple(row[k] for k in ids) == tuple(want[k] for k in ids), key
        if want["status"] == "ok":
            worst = max(worst, abs(row["score"] - want["score"]))
        else:
            assert row["score"] is None
    assert worst <= SCORE_TOL, worst
    return worst


# --- at least once under kill -9 --------------------------------------------------------------------------
def test_kill9_mid_run_then_restart_loses_nothing(kafka, sample, file_scores, official_model, tmp_path):
    topic, group, scores_topic = kafka.name("ztf_kill9"), kafka.name("btsbot"), kafka.name("scores")
    placed = kafka.produce(topic, [p.read_bytes() for p in sample])
    placed_files = dict(zip(placed, sample))
    out = tmp_path / "scores.jsonl"
    batch = 16
    cmd = _stream_cmd(kafka, topic, group, "--output-topic", scores_topic, "-o", str(out), "--from-beginning",
                      "--batch-size", str(batch), "--idle-timeout", "4", "--stats-interval", "1")
    env = _env(official_model)
    with open(tmp_path / "run1.err", "wb") as err:
        first = subprocess.Popen(cmd, env=env, stderr=err, cwd=tmp_path)
        try:
            _wait_for_lines(out, 48, first)
            time.sleep(random.uniform(0, 0.3))  # any moment: scoring, writing, flushing or committing
            at_kill = out.read_bytes().count(b"\n")
        finally:
            first.kill()  # SIGKILL: no flush, no commit, no goodbye
            first.wait(30)
    assert first.returncode == -signal.SIGKILL
    lines_at_kill = out.read_bytes().count(b"\n")
    assert lines_at_kill < len(sample), "the run ended before the kill; nothing was tested"
    with open(tmp_path / "run2.err", "wb") as err:
        second = subprocess.run(cmd, env=env, stderr=err, cwd=tmp_path, timeout=240)
    stderr2 = (tmp_path / "run2.err").read_text()
    assert second.returncode == 0, stderr2
    assert "idle for 4 s" in stderr2

    rows = _jsonl(out)  # every line parses: a torn last line was cut on reopen
    worst = _check_against_files(rows, placed_files, file_scores)
    per_message = Counter((r["partition"], r["offset"]) for r in rows if r["record_index"] == 0)
    duplicates = sum(n - 1 for n in per_message.values())
    print(f"\nkill -9 after {at_kill} rows ({lines_at_kill} complete lines): {len(rows)} rows, "
          f"{duplicates} duplicated messages in the file (bound: one batch = {batch}); "
          f"largest score difference from `btsbot-fast score`: {worst:.3g}")
    assert duplicates <= batch
    assert kafka.committed(group, topic) == {p: max(o for q, o in placed if q == p) + 1 for p in range(4)}

    published = kafka.consume_all(scores_topic, expected=len(rows) - duplicates)
    values = [json.loads(m.value()) for m in published]
    assert all(m.key().decode() == v["objectId"] for m, v in zip(published, values) if v["objectId"])
    _check_against_files(values, placed_files, file_scores)
    topic_dups = sum(n - 1 for n in Counter((v["partition"], v["offset"]) for v in values
                                            if v["record_index"] == 0).values())
    print(f"output topic: {len(values)} messages, {topic_dups} duplicated")
    assert topic_dups <= batch


_HOOKED_RUN = """
import json, sys, time
from pathlib import Path
from btsbot_fast.stream import run_stream

bootstrap, topic, group, out, marker = sys.argv[1:6]
seen = []

def hook(rows):  # the third batch is durable in the file; hold it here, before its commit, to be killed
    seen.append(rows)
    if len(seen) == 3:
        Path(marker).write_text(json.dumps(sorted({(r["partition"], r["offset"]) for r in rows})))
        time.sleep(120)

run_stream(bootstrap_servers=bootstrap, group_id=group, topics=[topic], batch_size=8, output_file=out,
           on_batch=hook, from_beginning=True, kafka_config={"session.timeout.ms": "6000"}, stats_stream=None)
"""


def test_kill9_between_durable_and_commit_duplicates_exactly_that_batch(kafka, sample, official_model, tmp_path):
    """The worst moment to die: a batch written and fsynced, its offsets not committed. The restart scores
    that batch again (the duplicates: one batch, at most --batch-size messages) and loses nothing."""
    topic, group = kafka.name("ztf_window"), kafka.name("btsbot")
    placed = kafka.produce(topic, [p.read_bytes() for p in sample[:60]])
    out, marker = tmp_path / "scores.jsonl", tmp_path / "in-hook.json"
    env = _env(official_model)
    proc = subprocess.Popen([sys.executable, "-c", _HOOKED_RUN, kafka.bootstrap, topic, group, str(out), str(marker)],
                            env=env, cwd=tmp_path, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while not marker.exists() and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.02)
        assert marker.exists(), proc.communicate(timeout=5)[1][-2000:] if proc.poll() is not None else "no marker"
    finally:
        proc.kill()
        proc.wait(30)
    in_flight = {tuple(x) for x in json.loads(marker.read_text())}
    assert 1 <= len(in_flight) <= 8
    # the same command line as the first run: partitions it never committed start from the beginning too
    res = subprocess.run(_stream_cmd(kafka, topic, group, "-o", str(out), "--batch-size", "8", "--from-beginning",
                                     "--idle-timeout", "3"),
                         env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr[-2000:]
    seen = Counter((r["partition"], r["offset"]) for r in _jsonl(out))
    assert set(seen) == set(placed), res.stderr  # nothing lost
    duplicated = {k for k, n in seen.items() if n > 1}
    assert duplicated == in_flight and all(seen[k] == 2 for k in duplicated)


# --- precision fast ------------------------------------------------------------------------------------------
def test_fast_precision_changes_no_decision(kafka, sample, file_scores, official_model, tmp_path):
    """A stream scored with ``precision="fast"``: every record's row has `btsbot-fast score`'s (exact)
    status; rows marked fp32 carry its score bit for bit, int8 rows are within 0.1 of it and farther than
    the margin from every decision threshold; no score is on another side of a threshold."""
    from btsbot_fast import Scorer
    from btsbot_fast.stream import OUTPUT_FIELDS, run_stream

    thresholds = (0.3, 0.5, 0.7, 0.85)
    files = list(dict.fromkeys(sample[:60] + sample[-1:]))  # (the last one: a message of three alerts)
    topic, group = kafka.name("ztf_fast"), kafka.name("btsbot")
    placed = dict(zip(kafka.produce(topic, [f.read_bytes() for f in files]), files))
    scorer = Scorer("btsbot-v1.0.1", batch_size=16, home=official_model.onnx_path.parent.parent, precision="fast",
                    decision_thresholds=thresholds)
    out = tmp_path / "scores.jsonl"
    summary = run_stream(bootstrap_servers=kafka.bootstrap, group_id=group, topics=[topic], scorer=scorer,
                         max_alerts=len(files), output_file=out, from_beginning=True, stats_stream=None,
                         kafka_config={"session.timeout.ms": "6000"})
    assert summary.messages == len(files)
    rows = _jsonl(out)
    assert all(tuple(r) == OUTPUT_FIELDS for r in rows)
    expected = {(pl, i): want for pl, path in placed.items() for (source, i), want in file_scores.items()
                if source == str(path)}
    got = {((r["partition"], r["offset"]), r["record_index"]): r for r in rows}
    assert set(got) == set(expected)
    margin = official_model.int8.margin
    for key, want in expected.items():
        row = got[key]
        assert (row["candid"], row["status"]) == (want["candid"], want["status"])
        if want["status"] != "ok":
            assert row["precision"] is row["score"] is None
            continue
        assert want["precision"] == "fp32"
        assert all((row["score"] > t) == (want["score"] > t) for t in thresholds), (row, want)
        if row["precision"] == "fp32":
            assert row["score"] == want["score"]
        else:
            assert row["precision"] == "int8" and abs(row["score"] - want["score"]) <= 0.1
            assert min(abs(row["score"] - t) for t in thresholds) > margin
    assert "int8" in {r["precision"] for r in rows}


def test_fast_precision_flips_nothing_on_transformed_alerts(kafka, sample, official_model, tmp_path):
    """The stream in fast mode on real alert packets whose cutouts were flipped and turned (three of the 8
    dihedral transforms, tests/dihedral_alerts.py): every decision at 0.3, 0.5, 0.7 and 0.85 is the exact
    model's on the same packets, and rows marked fp32 carry the exact score."""
    if shared_root() is None:
        pytest.skip("needs the full ../shared (or $BTSBOT_FAST_SHARED): the bare-clone sample's largest packets "
                    "include damaged copies, which cannot be transformed")
    from dihedral_alerts import transform_packet

    from btsbot_fast import Scorer
    from btsbot_fast.stream import run_stream

    thresholds = (0.3, 0.5, 0.7, 0.85)
    files = list(dict.fromkeys(sample[:-1]))[-40:]  # the largest: alerts with all three cutouts
    values = [transform_packet(f.read_bytes(), flip, k)
              for flip, k in ((False, 1), (True, 0), (True, 3)) for f in files]
    topic, group = kafka.name("ztf_fast_dihedral"), kafka.name("btsbot")
    placed = dict(zip(kafka.produce(topic, values), values))
    home = official_model.onnx_path.parent.parent
    exact = {}
    for pl, data in placed.items():
        for r in Scorer("btsbot-v1.0.1", home=home).score_buffers([data]):
            exact[(pl, r.record_index)] = r
    scorer = Scorer("btsbot-v1.0.1", batch_size=16, home=home, precision="fast", decision_thresholds=thresholds)
    out = tmp_path / "scores.jsonl"
    run_stream(bootstrap_servers=kafka.bootstrap, group_id=group, topics=[topic], scorer=scorer,
               max_alerts=len(values), output_file=out, from_beginning=True, stats_stream=None,
               kafka_config={"session.timeout.ms": "6000"})
    got = {((r["partition"], r["offset"]), r["record_index"]): r for r in _jsonl(out)}
    assert set(got) == set(exact)
    for key, want in exact.items():
        row = got[key]
        assert row["status"] == want.status
        if want.status != "ok":
            continue
        assert all((row["score"] > t) == (want.score > t) for t in thresholds), (row, want)
        if row["precision"] == "fp32":
            assert row["score"] == want.score
        else:
            assert min(abs(row["score"] - t) for t in thresholds) > official_model.int8.margin
    assert {r["precision"] for r in got.values()} >= {"int8"}


# --- bad messages, the Python entry point, the hook, Avro output --------------------------------------------
@pytest.fixture(scope="module")
def scorer(official_model):
    from btsbot_fast import Scorer

    return Scorer("btsbot-v1.0.1", batch_size=8, home=official_model.onnx_path.parent.parent)


def _zero_record_ocf() -> bytes:
    buf = io.BytesIO()
    fastavro.writer(buf, fastavro.parse_schema({"type": "record", "name": "alert", "namespace": "ztf",
                                                 "fields": [{"name": "objectId", "type": "string"}]}), [])
    return buf.getvalue()


def test_bad_messages_each_get_one_error_row_and_their_offsets_committed(kafka, reference, scorer, tmp_path):
    from btsbot_fast.stream import HOOK_FIELDS, OUTPUT_FIELDS, output_schema, run_stream  # noqa: F401

    good = sorted((reference.dev / "kowalski").glob("*.avro"))[:3]
    zuds = sorted((reference.dev / "Ampel-ZTF" / "zuds_20200106").glob("*.avro"))[0]
    real = good[0].read_bytes()
    messages = [
        ("good", real),
        ("garbage", b"this is not an Avro container"),
        ("truncated", real[: len(real) // 2]),
        ("zuds", zuds.read_bytes()),
        ("empty", b""),
        ("null", None),
        ("no records", _zero_record_ocf()),
        ("good2", good[1].read_bytes()),
        ("good3", good[2].read_bytes()),
    ]
    topic, group, scores_topic = kafka.name("ztf_bad"), kafka.name("btsbot"), kafka.name("scores_avro")
    placed = kafka.produce(topic, [v for _, v in messages])
    what = {pl: name for pl, (name, _) in zip(placed, messages)}
    hooked: list[list[dict]] = []
    summary = run_stream(bootstrap_servers=kafka.bootstrap, group_id=group, topic_pattern=f"^{re.escape(topic)}$",
                         scorer=scorer, max_alerts=len(messages), output_topic=scores_topic, output_format="avro",
                         output_file=tmp_path / "scores.csv", on_batch=hooked.append, from_beginning=True,
                         kafka_config={"session.timeout.ms": "6000"}, stats_json=tmp_path / "stats.jsonl",
                         stats_interval=0.5, stats_stream=None)
    assert summary.messages == len(messages) and summary.stopped_by == f"max-alerts {len(messages)}"

    rows = [r for batch in hooked for r in batch]
    assert all(set(r) == set(HOOK_FIELDS) for r in rows)
    by_name = {what[(r["partition"], r["offset"])]: r for r in rows}
    assert len(rows) == len(messages) == len(by_name)  # exactly one row per message, none dropped
    expected_status = {"good": "ok", "good2": "ok", "good3": "ok", "garbage": "decode_error",
                       "truncated": "decode_error", "zuds": "unsupported_schema", "empty": "decode_error",
                       "null": "decode_error", "no records": "decode_error"}
    assert {n: r["status"] for n, r in by_name.items()} == expected_status
    assert by_name["null"]["error"] == "message has no value (null)"
    assert by_name["empty"]["error"] == "message value is empty"
    assert by_name["no records"]["error"] == "Avro container holds no alert records"
    assert "bad magic" in by_name["garbage"]["error"]
    for name, path in (("good", good[0]), ("good2", good[1]), ("good3", good[2])):
        want = next(scorer.score_files([path]))
        row = by_name[name]
        assert (row["candid"], row["objectId"], row["fid"]) == (want.candid, want.objectId, want.fid)
        assert (row["bts_candidate"], row["bts_reject"]) == (want.bts_candidate, want.bts_reject)  # Kafka route
        assert row["score"] == pytest.approx(want.score, abs=SCORE_TOL) and row["magpsf"] == want.magpsf
        assert isinstance(row["candid"], int) and row["scored_at"].endswith("Z")
    assert all(r["score"] is None for n, r in by_name.items() if not n.startswith("good"))
    assert all((r["bts_candidate"], r["bts_reject"]) == (None, "missing:candidate")
               for n, r in by_name.items() if not n.startswith("good"))

    # every offset committed, the file and the topic hold the same rows
    assert kafka.committed(group, topic) == {p: max(o for q, o in placed if q == p) + 1 for p in range(4)}
    import csv

    with open(tmp_path / "scores.csv", newline="") as fh:
        file_rows = list(csv.DictReader(fh))
    assert tuple(file_rows[0]) == OUTPUT_FIELDS and len(file_rows) == len(rows)
    published = kafka.consume_all(scores_topic, expected=len(rows))
    assert len(published) == len(rows)
    decoded = []
    for msg in published:
        reader = fastavro.reader(io.BytesIO(msg.value()))
        assert reader.writer_schema["name"] == output_schema()["name"]
        (record,) = list(reader)
        decoded.append(record)
    assert {(d["partition"], d["offset"]): d["status"] for d in decoded} == \
           {(r["partition"], r["offset"]): r["status"] for r in rows}
    stats = [json.loads(line) for line in (tmp_path / "stats.jsonl").read_text().splitlines()]
    assert stats[-1]["alerts"] == len(messages) and stats[-1]["status"]["ok"] == 3 and stats[-1]["errors"] == 6


def test_hook_failure_stops_without_committing(kafka, reference, scorer, tmp_path):
    from btsbot_fast.stream import StreamHookError, run_stream

    topic, group = kafka.name("ztf_hook"), kafka.name("btsbot")
    placed = kafka.produce(topic, [p.read_bytes() for p in sorted((reference.dev / "boom").glob("*.avro"))[:4]])

    def hook(rows):
        raise RuntimeError("the database is down")

    with pytest.raises(StreamHookError, match="the database is down"):
        run_stream(bootstrap_servers=kafka.bootstrap, group_id=group, topics=[topic], scorer=scorer,
                   output_file=tmp_path / "scores.jsonl", on_batch=hook, from_beginning=True, idle_timeout=3,
                   kafka_config={"session.timeout.ms": "6000"}, stats_stream=None)
    assert kafka.committed(group, topic) == {}  # the batch comes again on restart
    written = _jsonl(tmp_path / "scores.jsonl")  # the outputs were durable before the hook ran
    assert written and {(r["partition"], r["offset"]) for r in written} <= set(placed)


# --- graceful stop, stats, secrets -----------------------------------------------------------------------
def _secret_config(tmp_path: Path, **extra: str) -> Path:
    path = tmp_path / "kafka.properties"
    lines = ["# credentials live here, never on the command line", "sasl.username=btsbot",
             f"sasl.password={SECRET}", *(f"{k}={v}" for k, v in extra.items())]
    path.write_text("\n".join(lines) + "\n")
    path.chmod(0o600)  # a credentials file others can read is refused
    return path


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_finishes_the_batch_commits_and_exits_0(kafka, sample, official_model, tmp_path, signum):
    topic, group = kafka.name("ztf_term"), kafka.name("btsbot")
    placed = kafka.produce(topic, [p.read_bytes() for p in sample[:120]])
    out, stats = tmp_path / "scores.jsonl", tmp_path / "stats.jsonl"
    cmd = _stream_cmd(kafka, topic, group, "-o", str(out), "--from-beginning", "--batch-size", "4",
                      "--batch-timeout", "0.05", "--stats-interval", "0.2", "--stats-json", str(stats),
                      "--kafka-config", str(_secret_config(tmp_path)), "-X", "debug=conf", "-v",
                      "--metrics-port", str(port := _closed_port()))
    proc = subprocess.Popen(cmd, env=_env(official_model), cwd=tmp_path, stderr=subprocess.PIPE, text=True)
    try:
        _wait_for_lines(out, 4, proc)
        import urllib.request  # the metrics server of the running command

        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=10) as res:
            assert res.status == 200 and res.read() == b"ok\n"
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as res:
            assert b"btsbot_fast_batches_total" in res.read()
        proc.send_signal(signum)
        _, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, stderr[-3000:]
    assert f"stopped (signal {signal.Signals(signum).name})" in stderr
    rows = _jsonl(out)
    assert 4 <= len(rows) < len(placed), "SIGTERM should have stopped the run part-way"
    done: dict[int, int] = {}
    for r in rows:
        done[r["partition"]] = max(done.get(r["partition"], -1), r["offset"])
    # exactly what was written is committed: nothing lost, nothing claimed that was not written
    assert kafka.committed(group, topic) == {p: o + 1 for p, o in done.items()}
    for p, last in done.items():
        assert sorted(r["offset"] for r in rows if r["partition"] == p) == list(range(last + 1))
    reports = [json.loads(line) for line in stats.read_text().splitlines()]
    assert reports[-1]["final"] and reports[-1]["alerts"] == len(rows)
    assert {"alerts_per_s", "lag", "status", "errors"} <= set(reports[0])
    assert any(r["lag"] for r in reports), "no report saw the partitions' lag"
    assert SECRET not in stderr and SECRET not in stats.read_text()


def _closed_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_brokers_fail_clearly_without_leaking_the_password(official_model, tmp_path):
    pytest.importorskip("confluent_kafka", reason="the [kafka] extra (confluent-kafka) is not installed")
    config = _secret_config(tmp_path, **{"security.protocol": "SASL_PLAINTEXT", "sasl.mechanisms": "PLAIN"})
    cmd = [sys.executable, "-m", "btsbot_fast", "stream", "--bootstrap-servers", f"127.0.0.1:{_closed_port()}",
           "--topic", "ztf_20240501_programid1", "--group-id", "btsbot", "-o", str(tmp_path / "s.jsonl"),
           "--kafka-config", str(config), "--connect-timeout", "2", "-v", "-X", "debug=broker,security,conf",
           "--stats-json", str(tmp_path / "stats.jsonl")]
    res = subprocess.run(cmd, env=_env(official_model), cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert res.returncode == 1
    assert "cannot reach the Kafka brokers at 127.0.0.1:" in res.stderr
    assert SECRET not in res.stderr + res.stdout
    # nothing was consumed: the error alone, no empty "stream: 0 alerts, ..." stats line above it
    assert not re.search(r"^stream: \d+ alerts?, ", res.stderr, re.M), res.stderr[-2000:]
    final = [json.loads(x) for x in (tmp_path / "stats.jsonl").read_text().splitlines()]
    assert len(final) == 1 and final[0]["final"] and final[0]["alerts"] == 0  # the JSON record still ends the run


def test_unknown_topic_fails_clearly(kafka, official_model, tmp_path):
    cmd = _stream_cmd(kafka, "ztf_19990101_programid1", kafka.name("btsbot"), "-o", str(tmp_path / "s.jsonl"))
    res = subprocess.run(cmd, env=_env(official_model), cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert res.returncode == 1
    assert "unknown topic(s)" in res.stderr and "ztf_19990101_programid1" in res.stderr


def test_secrets_are_refused_on_the_command_line():
    from click.testing import CliRunner

    from btsbot_fast.cli import main

    res = CliRunner().invoke(main, ["stream", "--bootstrap-servers", "127.0.0.1:9", "--topic", "t", "--group-id", "g",
                                    "-o", "x.jsonl", "-X", f"sasl.password={SECRET}"])
    assert res.exit_code == 2
    assert "--kafka-config" in res.output and SECRET not in res.output
    res = CliRunner().invoke(main, ["stream", "--bootstrap-servers", "127.0.0.1:9", "--topic", "t", "--group-id", "g",
                                    "-o", "x.jsonl", "-X", "enable.auto.commit=true"])
    assert res.exit_code == 2 and "enable.auto.commit must stay false" in res.output


# --- sinks and settings, on real files (no broker) --------------------------------------------------------
def _row(i: int, **over) -> dict:
    from btsbot_fast.stream import HOOK_FIELDS

    row = dict.fromkeys(HOOK_FIELDS)  # columns not set here are null
    row |= {"objectId": f"ZTF24aa{i:05d}", "candid": 2_475_433_850_015_015_000 + i, "jd": 2460000.5 + i,
            "score": 0.25 + i / 1000, "precision": "fp32", "status": "ok", "error": "",
            "bts_candidate": (True, False, None)[i % 3], "bts_reject": ("", "bright", "missing:drb")[i % 3],
            "model": "btsbot-v1.0.1", "model_version": "1.0.1",
            "topic": "ztf_20240501_programid1", "partition": i % 4, "offset": i, "record_index": 0,
            "scored_at": "2024-05-01T03:04:05.678Z", "magpsf": 18.5, "fid": 1}
    row.update(over)
    return row


@pytest.mark.parametrize("suffix", [".jsonl", ".csv"])
def test_file_sink_appends_and_cuts_a_torn_last_line(tmp_path, suffix):
    from btsbot_fast.stream.sinks import open_file_sink

    path = tmp_path / f"scores{suffix}"
    sink = open_file_sink(path)
    sink.write([_row(0), _row(1, status="bad_cutout", score=None, error="gzip:\nbroken")])
    assert sink.sync()
    sink.close()
    whole = path.read_bytes()
    with open(path, "ab") as fh:  # what kill -9 in the middle of a write leaves
        fh.write(b'{"objectId": "ZTF24aa0000' if suffix == ".jsonl" else b"ZTF24aa00002,24754338")
    again = open_file_sink(path)
    assert again.repaired_bytes > 0 and path.read_bytes() == whole  # rows already written are untouched
    again.write([_row(2)])
    again.close()
    if suffix == ".jsonl":
        rows = _jsonl(path)
        assert [r["candid"] for r in rows] == [_row(i)["candid"] for i in range(3)]
        assert rows[1]["score"] is None and rows[1]["error"] == "gzip:\nbroken" and "magpsf" not in rows[0]
        assert [(r["bts_candidate"], r["bts_reject"]) for r in rows] == [(True, ""), (False, "bright"),
                                                                        (None, "missing:drb")]
    else:
        import csv

        from btsbot_fast.stream import OUTPUT_FIELDS

        with open(path, newline="") as fh:
            rows = list(csv.DictReader(fh))
        assert tuple(rows[0]) == OUTPUT_FIELDS and len(rows) == 3
        assert rows[1]["score"] == "" and rows[1]["error"] == "gzip: broken" and rows[0]["score"] == "0.25"
        assert [r["bts_candidate"] for r in rows] == ["true", "false", ""]


def test_csv_sink_refuses_a_file_with_other_columns(tmp_path):
    from btsbot_fast.stream.sinks import SinkError, open_file_sink

    path = tmp_path / "scores.csv"
    path.write_text("objectId,candid,score\nZTF1,1,0.5\n")
    with pytest.raises(SinkError, match="other columns"):
        open_file_sink(path)
    assert path.read_text() == "objectId,candid,score\nZTF1,1,0.5\n"


def test_parquet_sink_writes_parts_only_when_they_roll(tmp_path):
    pq = pytest.importorskip("pyarrow.parquet")
    from btsbot_fast.stream import OUTPUT_FIELDS
    from btsbot_fast.stream.sinks import ParquetDatasetSink

    sink = ParquetDatasetSink(tmp_path / "scores.parquet", roll_rows=3, roll_seconds=3600)
    sink.write([_row(0), _row(1)])
    assert sink.sync() is False and not list((tmp_path / "scores.parquet").glob("*.parquet"))
    sink.write([_row(2, score=None, status="decode_error")])
    assert sink.sync() is True
    sink.write([_row(3)])
    sink.close()  # shutdown writes what is left
    table = pq.read_table(tmp_path / "scores.parquet")
    assert tuple(table.column_names) == OUTPUT_FIELDS and table.num_rows == 4
    assert str(table.schema.field("candid").type) == "int64" and str(table.schema.field("score").type) == "float"
    assert str(table.schema.field("bts_candidate").type) == "bool"
    assert sorted(table.column("offset").to_pylist()) == [0, 1, 2, 3]


def test_kafka_settings_parse_and_redact(tmp_path):
    from btsbot_fast.stream import KafkaConfigError, merged, parse_overrides, read_properties
    from btsbot_fast.stream.config import Redactor

    props = read_properties(_secret_config(tmp_path, **{"security.protocol": "SASL_SSL"}))
    assert props == {"sasl.username": "btsbot", "sasl.password": SECRET, "security.protocol": "SASL_SSL"}
    conf = merged(props, parse_overrides(["session.timeout.ms=6000", "enable.auto.offset.store=false"]))
    assert conf["session.timeout.ms"] == "6000" and "enable.auto.offset.store" not in conf
    for secret in ("sasl.password", "ssl.key.password", "sasl.oauthbearer.client.secret", "ssl.key.pem"):
        with pytest.raises(KafkaConfigError, match="--kafka-config"):
            parse_overrides([f"{secret}=x"])
    bad = tmp_path / "bad.properties"
    bad.write_text(f"sasl.password {SECRET}\n")
    with pytest.raises(KafkaConfigError) as info:
        read_properties(bad)
    assert SECRET not in str(info.value)
    assert Redactor(props)(f"auth failed for btsbot/{SECRET}") == "auth failed for btsbot/***"


def test_output_rows_encode_as_json_and_self_describing_avro(reference, scorer):
    from btsbot_fast.stream import OUTPUT_FIELDS
    from btsbot_fast.stream.rows import encode_avro, encode_json, result_row

    path = sorted((reference.dev / "kowalski").glob("*.avro"))[0]
    (result,) = list(scorer.score_named_buffers([("ztf_x[2]@7", path.read_bytes())]))
    assert result.source == "ztf_x[2]@7"
    row = result_row(result, "ztf_x", 2, 7, "2024-05-01T03:04:05.678Z")
    value = json.loads(encode_json(row))
    assert tuple(value) == OUTPUT_FIELDS
    assert (value["topic"], value["partition"], value["offset"]) == ("ztf_x", 2, 7)
    assert value["candid"] == result.candid and value["score"] == result.score
    (record,) = list(fastavro.reader(io.BytesIO(encode_avro(row))))
    assert record["candid"] == result.candid and record["score"] == pytest.approx(result.score, rel=1e-7)
