"""btsbot-fast stream against a real Kafka protocol endpoint (librdkafka's mock cluster), real alerts and
the real model: at-least-once under kill -9, bad messages, graceful stop, clear errors, no leaked secrets."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import fastavro
import pytest

from kafka_mock import STREAM_TEST_OPTIONS, kafka  # noqa: F401  (the fixture)

SECRET = "s3cr3t-Pa55w0rd-never-logged"
#: score parity with `btsbot-fast score` on the same files (same native path, same model)
SCORE_TOL = 1e-6


# --- data ---------------------------------------------------------------------------------------------
def stream_sample(reference, n: int = 250) -> list[Path]:
    """The ``n`` smallest real dev alert files (~10 MB: under 4 MB per partition of the mock broker) plus
    one file holding three records (a message with several alerts)."""
    files = sorted(reference.dev.rglob("*.avro"), key=lambda p: (p.stat().st_size, str(p)))
    multi = reference.dev / "fink-client" / "datatest_avro_multi_alerts_other.avro"
    return [f for f in files if f != multi][:n] + [multi]


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
    res = subprocess.run([sys.executable, "-m", "btsbot_fast", "score", *map(str, sample), "-o", str(out)],
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
    assert set(got) == set(expected), f"missing {sorted(set(expected) - set(got))[:5]}, extra {sorted(set(got) - set(expected))[:5]}"
    worst = 0.0
    for key, want in expected.items():
        row = got[key]
        assert (row["candid"], row["objectId"], row["status"]) == (want["candid"], want["objectId"], want["status"]), key
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
            at_kill = _wait_for_lines(out, 80, first)
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
    _check_against_files(rows, placed_files, file_scores)
    per_message = Counter((r["partition"], r["offset"]) for r in rows if r["record_index"] == 0)
    duplicates = sum(n - 1 for n in per_message.values())
    print(f"\nkill -9 after {at_kill} rows ({lines_at_kill} complete lines): {len(rows)} rows, "
          f"{duplicates} duplicated messages in the file (bound: one batch = {batch})")
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
