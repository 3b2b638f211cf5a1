"""The btsbot-fast CLI end to end, on real alert files."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys

import numpy as np
import pytest
from click.testing import CliRunner

from btsbot_fast.cli import main


@pytest.fixture(scope="module")
def sample(reference):
    """Files with big int64 candids, a multi-record snappy file, a corrupt file and a JPEG packet."""
    dev = reference.dev
    return [dev / "kowalski", dev / "fink-client" / "datatest_avro_multi_alerts.avro",
            dev / "Ampel-ZTF" / "ztf_public_20180601", reference.broken / "_prototype_2017_jpeg_stamps"]


@pytest.fixture(scope="module")
def expected(reference, sample):
    """Manifest rows for the sample paths: {(relpath, index): candid string}."""
    import os

    prefixes = [os.path.relpath(p, reference.dev) for p in sample]
    return [row for row in reference.manifest if any(row["path"].startswith(p) for p in prefixes)]


def _home_env(official_model):
    return {"BTSBOT_FAST_HOME": str(official_model.onnx_path.parent.parent)}


def test_score_csv_to_stdout(official_model, sample, expected):
    res = CliRunner().invoke(main, ["score", *map(str, sample)], env=_home_env(official_model))
    assert res.exit_code == 0, res.output
    rows = list(csv.DictReader(io.StringIO(res.stdout)))
    assert len(rows) == len(expected)
    ok = [r for r in rows if r["status"] == "ok"]
    assert ok and all(0.0 <= float(r["score"]) <= 1.0 for r in ok)
    failed = [r for r in rows if r["status"] != "ok"]
    assert failed and all(r["error"] and r["score"] == "" for r in failed)
    # candids survive as exact integers (they do not fit a float64)
    want = sorted(int(r["candid"]) for r in expected if r["candid"])
    got = sorted(int(r["candid"]) for r in rows if r["candid"])
    assert got == want
    assert all(r["model"] == "btsbot-v1.0.1" and r["model_version"] == "1.0.1" for r in rows)
    assert "scored" in res.stderr and "alerts/s" in res.stderr


def test_score_jsonl_and_parquet(official_model, sample, tmp_path):
    pq = pytest.importorskip("pyarrow.parquet")
    env = _home_env(official_model)
    runner = CliRunner()
    for out in (tmp_path / "s.jsonl", tmp_path / "s.parquet"):
        res = runner.invoke(main, ["score", str(sample[0]), "-o", str(out), "--batch-size", "7"], env=env)
        assert res.exit_code == 0, res.output
    lines = [json.loads(x) for x in (tmp_path / "s.jsonl").read_text().splitlines()]
    table = pq.read_table(tmp_path / "s.parquet")
    assert str(table.schema.field("candid").type) == "int64"
    assert table.column("candid").to_pylist() == [d["candid"] for d in lines]
    assert np.allclose(table.column("score").to_pylist(), [d["score"] for d in lines], atol=1e-7)
    assert len(lines) == 36  # the kowalski sample files, one alert each


def test_engines_give_same_scores(official_model, sample):
    env = _home_env(official_model)
    outs = []
    for engine in ("native", "python"):
        res = CliRunner().invoke(main, ["score", str(sample[0]), "--engine", engine], env=env)
        assert res.exit_code == 0, res.output
        outs.append({r["candid"]: float(r["score"]) for r in csv.DictReader(io.StringIO(res.stdout))})
    assert outs[0].keys() == outs[1].keys()
    assert max(abs(outs[0][k] - outs[1][k]) for k in outs[0]) <= 2e-6


def test_missing_model_says_how_to_import(sample, tmp_path):
    res = CliRunner().invoke(main, ["score", str(sample[0])], env={"BTSBOT_FAST_HOME": str(tmp_path)})
    assert res.exit_code != 0
    assert "models import" in res.output


def test_unusable_arguments(official_model, sample, tmp_path):
    env = _home_env(official_model)
    runner = CliRunner()
    res = runner.invoke(main, ["score", str(sample[0]), "-o", str(tmp_path / "x.xlsx")], env=env)
    assert res.exit_code == 2 and "output format" in res.output
    res = runner.invoke(main, ["score", str(tmp_path / "does-not-exist.avro")], env=env)
    assert res.exit_code == 2
    res = runner.invoke(main, ["score", str(sample[0]), "--batch-size", "0"], env=env)
    assert res.exit_code == 2


def test_existing_output_kept_when_run_fails(official_model, sample, tmp_path, monkeypatch):
    out = tmp_path / "scores.csv"
    out.write_text("precious\n")
    from btsbot_fast import scorer as scorer_mod

    def boom(self, batch):
        raise KeyboardInterrupt  # the run dies mid-way

    monkeypatch.setattr(scorer_mod.Scorer, "score_batch", boom)
    res = CliRunner().invoke(main, ["score", str(sample[0]), "-o", str(out)], env=_home_env(official_model))
    assert res.exit_code != 0
    assert out.read_text() == "precious\n"


def test_preprocess_npz(sample, expected, tmp_path):
    out = tmp_path / "batch.npz"
    res = CliRunner().invoke(main, ["preprocess", *map(str, sample), "-o", str(out)])
    assert res.exit_code == 0, res.output
    with np.load(out) as z:
        n = len(expected)
        assert z["triplets"].shape == (n, 63, 63, 3) and z["triplets"].dtype == np.float32
        assert z["metadata"].shape == (n, 25) and z["metadata"].dtype == np.float32
        assert z["candid"].dtype == np.int64
        assert len(z["objectId"]) == len(z["status"]) == n
        assert set(z["status_label"]) >= {"ok", "decode_error", "bad_cutout"}


def test_console_script_runs():
    res = subprocess.run([sys.executable, "-m", "btsbot_fast", "--help"], capture_output=True, text=True)
    assert res.returncode == 0 and "score" in res.stdout


def test_python_engine_without_astropy_is_a_clear_error(official_model, sample, monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_astropy(name, *args, **kwargs):
        if name.startswith("astropy"):
            raise ImportError("No module named 'astropy'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_astropy)
    for cmd in (["score", str(sample[0]), "--engine", "python"],
                ["preprocess", str(sample[0]), "--engine", "python", "-o", "x.npz"]):
        res = CliRunner().invoke(main, cmd, env=_home_env(official_model))
        assert res.exit_code == 1 and "btsbot-fast[reference]" in res.output, res.output
