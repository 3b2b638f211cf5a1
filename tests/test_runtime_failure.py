"""A broken runtime stops a run, it does not become rows: ONNX Runtime failing on a batch (here a real
model whose graph fails inside ONNX Runtime for some batches, see broken_model.py) stops the Python API,
`score` (exit 1, output not completed) and `stream` (exit 1, that batch's offsets not committed). Only a
non-finite score for one alert stays a `model_error` row."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
from broken_model import failing_model
from click.testing import CliRunner
from kafka_mock import STREAM_TEST_OPTIONS, kafka  # noqa: F401  (the fixture)

from btsbot_fast import Scorer
from btsbot_fast.backends import ModelRunError
from btsbot_fast.cli import main
from btsbot_fast.prep import path_batches
from btsbot_fast.status import Status

#: the feature the broken models look at (the candidate's right ascension: a different value per alert)
FEATURE = "ra"


@pytest.fixture(scope="module")
def alerts(reference) -> list[Path]:
    files = sorted((reference.dev / "kowalski").glob("*.avro"))
    assert len(files) >= 4
    return files


def _feature_values(paths, scorer: Scorer) -> np.ndarray:
    """The FEATURE of every scoreable alert under ``paths``, as the model sees it (float32)."""
    col = scorer.feature_names.index(FEATURE)
    out = []
    for batch in path_batches(paths, 64):
        ok = batch.status == Status.OK
        out.append(batch.metadata[ok][:, scorer.resolved.feature_indices][:, col])
    return np.concatenate(out)


@pytest.fixture(scope="module")
def scorer_probe(official_model):
    return Scorer(official_model.onnx_path.parent)


def _model(tmp_path: Path, scorer: Scorer, **kw) -> Path:
    kw.setdefault("column", scorer.feature_names.index(FEATURE))
    return failing_model(tmp_path / "broken" / "model.onnx", **kw)


def test_an_onnx_runtime_failure_raises_and_yields_no_rows(alerts, scorer_probe, tmp_path):
    scorer = Scorer(_model(tmp_path, scorer_probe), batch_size=4)  # every batch fails
    results = []
    with pytest.raises(ModelRunError, match="INVALID_ARGUMENT") as info:
        results.extend(scorer.score_files(alerts))
    assert results == []  # not a row of model_error: nothing
    assert isinstance(info.value.__cause__, ort.capi.onnxruntime_pybind11_state.InvalidArgument)
    assert "ONNX Runtime failed on a batch of 4 alerts (CPUExecutionProvider" in str(info.value)


def test_a_non_finite_score_for_one_alert_stays_a_model_error_row(alerts, scorer_probe, tmp_path):
    values = _feature_values(alerts, scorer_probe)
    top = float(values.max())
    below = float(values[values < top].max())  # NaN for the alert(s) with the largest FEATURE only
    col = scorer_probe.feature_names.index(FEATURE)
    scorer = Scorer(_model(tmp_path, scorer_probe, threshold=math.inf, nan_column=col, nan_above=below),
                    batch_size=4)
    results = list(scorer.score_files(alerts))
    assert len(results) >= len(values)
    bad = [r for r in results if r.status == "model_error"]
    assert 1 <= len(bad) == int((values == top).sum())
    assert all(r.score is None and "non-finite score" in r.error for r in bad)
    ok = [r for r in results if r.status == "ok"]
    assert len(ok) == len(values) - len(bad) and all(0 <= r.score <= 1 for r in ok)


def test_score_stops_with_exit_1_and_does_not_complete_the_output(alerts, scorer_probe, tmp_path):
    values = _feature_values(alerts, scorer_probe)
    # the batch holding the alert with the largest FEATURE fails, the others score
    model = _model(tmp_path, scorer_probe, threshold=float(values[values < values.max()].max()))
    out = tmp_path / "scores.csv"
    res = CliRunner().invoke(main, ["score", *map(str, alerts), "--model", str(model), "--batch-size", "2",
                                    "-o", str(out), "--no-progress"])
    assert res.exit_code == 1, res.output
    assert "scoring stopped: ONNX Runtime failed on a batch" in res.output and "INVALID_ARGUMENT" in res.output
    assert not out.exists()  # never finalised as complete
    partial = out.with_name(out.name + ".partial")
    if partial.exists():  # the rows before the failed batch, all scored: none is a model_error row
        rows = partial.read_text().splitlines()[1:]
        assert rows and all(",ok," in row for row in rows)
    # the same run with a model that does not fail completes (the failure above is the runtime's)
    fine = failing_model(tmp_path / "fine" / "model.onnx", threshold=math.inf)
    res = CliRunner().invoke(main, ["score", *map(str, alerts), "--model", str(fine), "-o", str(out),
                                    "--no-progress"])
    assert res.exit_code == 0, res.output
    assert len(out.read_text().splitlines()) == len(alerts) + 1


def test_stream_stops_with_exit_1_and_commits_nothing_of_the_failed_batch(kafka, alerts, scorer_probe,  # noqa: F811
                                                                          tmp_path):
    values = _feature_values(alerts, scorer_probe)
    model = _model(tmp_path, scorer_probe, threshold=float(values[values < values.max()].max()))
    # the alert that breaks the runtime goes last: the messages before it may be scored and committed
    order = sorted(alerts, key=lambda p: float(_feature_values([p], scorer_probe).max()))
    topic, group = kafka.name("ztf_broken_runtime"), kafka.name("btsbot")
    placed = kafka.produce(topic, [p.read_bytes() for p in order], partitions=1)
    out = tmp_path / "scores.jsonl"
    cmd = [sys.executable, "-m", "btsbot_fast", "stream", "--bootstrap-servers", kafka.bootstrap, "--topic", topic,
           "--group-id", group, *STREAM_TEST_OPTIONS, "--model", str(model), "-o", str(out), "--batch-size", "2",
           "--from-beginning", "--idle-timeout", "3"]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=240, env=dict(os.environ), check=False,
                         cwd=tmp_path)  # not the checkout: `-m` would import its bare sources
    assert res.returncode == 1, res.stderr[-3000:]
    assert "scoring stopped: ONNX Runtime failed on a batch" in res.stderr
    assert "offsets were not committed" in res.stderr
    last_partition, last_offset = placed[-1]
    committed = kafka.committed(group, topic)
    assert committed.get(last_partition, 0) <= last_offset  # the failed batch comes again on restart
    rows = [json.loads(line) for line in out.read_text().splitlines()] if out.exists() else []
    assert all(r["status"] == "ok" for r in rows)  # no model_error rows
    assert (last_partition, last_offset) not in {(r["partition"], r["offset"]) for r in rows}
    assert len(rows) >= committed.get(last_partition, 0)  # what was committed had been written


def test_autoscan_on_alerts_stops_with_exit_1_and_decides_nothing_on_the_failed_batch(alerts, scorer_probe,
                                                                                        tmp_path):
    import sqlite3

    model = _model(tmp_path, scorer_probe)  # every batch fails
    state = tmp_path / "autoscan.sqlite"
    res = CliRunner().invoke(main, ["autoscan", *map(str, alerts), "--policy", "gt1", "--candidates", "all",
                                    "--state", str(state), "--model", str(model)])
    assert res.exit_code == 1, res.output
    assert "scoring stopped: ONNX Runtime failed on a batch" in res.output
    with sqlite3.connect(state) as db:
        assert db.execute("SELECT count(*) FROM alerts").fetchone() == (0,)
        assert db.execute("SELECT count(*) FROM decisions").fetchone() == (0,)
