"""The btsbot-fast CLI end to end, on real alert files."""

from __future__ import annotations

import csv
import io
import json
import os
import pty
import re
import stat
import subprocess
import sys
import tarfile

import numpy as np
import pytest
from click.testing import CliRunner

from btsbot_fast.cli import main


@pytest.fixture(scope="module")
def sample(reference):
    """Files with big int64 candids, a multi-record file, corrupt files and JPEG packets."""
    dev = reference.dev
    return [dev / "kowalski", dev / "fink-client" / "datatest_avro_multi_alerts_other.avro",
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


def test_score_jsonl_and_parquet(official_model, sample, reference, tmp_path):
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
    assert len(lines) == sum(row["path"].startswith("kowalski/") for row in reference.manifest) > 0


def test_engines_give_same_scores(official_model, sample):
    env = _home_env(official_model)
    outs = []
    for engine in ("native", "python"):
        res = CliRunner().invoke(main, ["score", str(sample[0]), "--engine", engine], env=env)
        assert res.exit_code == 0, res.output
        outs.append({r["candid"]: float(r["score"]) for r in csv.DictReader(io.StringIO(res.stdout))})
    assert outs[0].keys() == outs[1].keys()
    assert max(abs(outs[0][k] - outs[1][k]) for k in outs[0]) <= 2e-6


def test_empty_model_home_scores_with_the_shipped_model(sample, expected, tmp_path):
    res = CliRunner().invoke(main, ["score", *map(str, sample)], env={"BTSBOT_FAST_HOME": str(tmp_path)})
    assert res.exit_code == 0, res.output
    rows = list(csv.DictReader(io.StringIO(res.stdout)))
    assert len(rows) == len(expected) and {r["model"] for r in rows} == {"btsbot-v1.0.1"}
    assert not any(tmp_path.iterdir())  # nothing imported, nothing downloaded


def test_missing_model_says_how_to_import(sample, tmp_path):
    res = CliRunner().invoke(main, ["score", str(sample[0]), "--model", "not-a-model"],
                             env={"BTSBOT_FAST_HOME": str(tmp_path)})
    assert res.exit_code == 1
    assert "models import" in res.output


def test_unusable_arguments(official_model, sample, tmp_path):
    env = _home_env(official_model)
    runner = CliRunner()
    res = runner.invoke(main, ["score", str(sample[0]), "-o", str(tmp_path / "x.xlsx")], env=env)
    assert res.exit_code == 2 and "output format" in res.output
    res = runner.invoke(main, ["score", str(tmp_path / "does-not-exist.avro")], env=env)
    assert res.exit_code == 1
    assert res.output == f"Error: no such file or directory: {tmp_path / 'does-not-exist.avro'}\n"
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


# ------------------------------------------------------------------------------------------ CLI edges
def test_paths_without_alerts_exit_1_in_one_line(official_model, sample, tmp_path):
    env = _home_env(official_model)
    runner = CliRunner()
    empty = tmp_path / "empty"
    (empty / "sub").mkdir(parents=True)
    (empty / "sub" / "notes.txt").write_text("no alerts here")
    no_alerts = tmp_path / "night.tar.gz"
    with tarfile.open(no_alerts, "w:gz") as tar:
        tar.add(empty / "sub" / "notes.txt", arcname="notes.txt")
    for path in (empty, no_alerts):
        out = tmp_path / "scores.csv"
        res = runner.invoke(main, ["score", str(path), "-o", str(out)], env=env)
        assert res.exit_code == 1, res.output
        assert res.stderr == f"Error: no alert files found in {path}\n"
        assert not out.exists()  # no header-only file left behind
    # alerts found in one PATH, none in another: the rows are written, the run still says so and fails
    out = tmp_path / "mixed.csv"
    res = runner.invoke(main, ["score", str(sample[0]), str(empty), "-o", str(out)], env=env)
    assert res.exit_code == 1 and f"no alert files found in {empty} " in res.stderr
    assert len(out.read_text().splitlines()) > 1
    # the same PATH twice, and a PATH inside another: every PATH held alerts
    res = runner.invoke(main, ["score", str(sample[0]), str(sample[2]), str(sample[0]), "-o", str(out)], env=env)
    assert res.exit_code == 0, res.output
    inner = next(sample[0].glob("*.avro"))
    res = runner.invoke(main, ["score", str(sample[0].parent), str(inner), "-o", str(out)], env=env)
    assert res.exit_code == 0, res.output


def test_alerts_that_all_fail_still_exit_0(official_model, reference):
    res = CliRunner().invoke(main, ["score", str(reference.broken)], env=_home_env(official_model))
    assert res.exit_code == 0, res.output
    rows = list(csv.DictReader(io.StringIO(res.stdout)))
    assert rows and all(r["status"] != "ok" and r["error"] for r in rows)


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".parquet"])
def test_output_files_respect_the_umask(official_model, sample, tmp_path, umask, mode, suffix):
    if suffix == ".parquet":
        pytest.importorskip("pyarrow")
    out = tmp_path / f"scores{suffix}"
    old = os.umask(umask)
    try:
        res = CliRunner().invoke(main, ["score", str(sample[0]), "-o", str(out)], env=_home_env(official_model))
    finally:
        os.umask(old)
    assert res.exit_code == 0, res.output
    assert stat.S_IMODE(out.stat().st_mode) == mode


def _score_with_terminal(paths, stdout_is_terminal: bool, cwd):
    """Run ``btsbot-fast score`` with stderr on a pseudo-terminal (stdout a pipe or the same terminal)."""
    master, slave = pty.openpty()
    try:  # (run outside the checkout, so that the installed package is imported, not the source tree)
        proc = subprocess.run([sys.executable, "-m", "btsbot_fast", "score", *map(str, paths), "--batch-size", "1"],
                              stdin=subprocess.DEVNULL, stderr=slave, cwd=cwd,
                              stdout=slave if stdout_is_terminal else subprocess.PIPE, timeout=300)
    finally:
        os.close(slave)
    chunks = []
    while True:
        try:
            b = os.read(master, 65536)
        except OSError:  # EIO: the terminal is closed and drained
            break
        if not b:
            break
        chunks.append(b)
    os.close(master)
    return proc, b"".join(chunks).decode()


def test_progress_only_on_a_terminal_and_never_between_rows(sample, tmp_path):
    proc, terminal = _score_with_terminal(sample[:1], stdout_is_terminal=False, cwd=tmp_path)
    assert proc.returncode == 0
    assert re.search(r"\r\d+ alerts \(0 failed\), [\d,]+ alerts/s", terminal) and "scored" in terminal
    assert proc.stdout.decode().startswith("objectId,candid") and "\r" not in proc.stdout.decode()
    # rows on the same terminal: the summary line, no redrawn progress line between the rows
    proc, terminal = _score_with_terminal(sample[:1], stdout_is_terminal=True, cwd=tmp_path)
    assert proc.returncode == 0 and "objectId,candid" in terminal and "scored" in terminal
    assert not any(line.startswith("\r") or "alerts (" in line for line in terminal.splitlines())
    # stderr not a terminal (CliRunner): no progress line at all
    res = CliRunner().invoke(main, ["score", str(sample[0]), "--progress"])
    assert res.exit_code == 0 and "\r" not in res.stderr and "alerts (" not in res.stderr


def test_internal_errors_are_not_reworded(official_model, sample, monkeypatch):
    """A bug is a traceback, not a one-line 'expected' error: only the known errors become messages."""
    from btsbot_fast import registry
    from btsbot_fast import scorer as scorer_mod

    env = _home_env(official_model)

    def broken_batch(self, batch):
        raise ValueError("a bug in scoring")

    monkeypatch.setattr(scorer_mod.Scorer, "score_batch", broken_batch)
    res = CliRunner().invoke(main, ["score", str(sample[0]), "-o", "-"], env=env)
    assert isinstance(res.exception, ValueError) and "a bug in scoring" in str(res.exception)
    monkeypatch.undo()

    def broken_resolve(*args, **kwargs):
        raise RuntimeError("a bug in resolve")

    monkeypatch.setattr(registry, "resolve", broken_resolve)
    res = CliRunner().invoke(main, ["score", str(sample[0])], env=env)
    assert isinstance(res.exception, RuntimeError) and "cannot load model" not in res.output


def test_scoring_never_imports_tensorflow(sample, tmp_path):
    """The CLI and the Python API score without TensorFlow, tf2onnx or onnx (the [tf] extra)."""
    code = (
        "import sys\n"
        "from btsbot_fast.cli import main\n"
        "from btsbot_fast import Scorer\n"
        f"main(['score', {str(sample[0])!r}, '-o', {str(tmp_path / 's.csv')!r}], standalone_mode=False)\n"
        f"results = list(Scorer().score_files([{str(sample[0])!r}]))\n"
        "assert results and all(r.status == 'ok' for r in results)\n"
        "print(sorted(m for m in ('tensorflow', 'tf2onnx', 'onnx', 'keras') if m in sys.modules))\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=tmp_path,
                          env={**os.environ, "BTSBOT_FAST_HOME": str(tmp_path / "home")})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "[]"
    assert (tmp_path / "s.csv").is_file()


def test_score_example_scores_the_shipped_sample_like_production(official_model, reference):
    """`score --example`: the sample inside the installed package, searched recursively, scored as the
    production code scored the same real packets; every file a byte copy of one in the reference set."""
    from btsbot_fast.cli import EXAMPLE_ALERTS

    files = sorted(p for p in EXAMPLE_ALERTS.rglob("*") if p.is_file())
    assert len(files) == 8 and sum(p.stat().st_size for p in files) < 1_000_000
    for p in files:  # the same relative path in the reference set, the same bytes
        assert p.read_bytes() == (reference.dev / p.relative_to(EXAMPLE_ALERTS)).read_bytes(), p
    assert (EXAMPLE_ALERTS.parent / "PROVENANCE.md").is_file()

    res = CliRunner().invoke(main, ["score", "--example"], env=_home_env(official_model))
    assert res.exit_code == 0, res.output
    rows = list(csv.DictReader(io.StringIO(res.stdout)))
    assert len(rows) == 8
    # sub-directories two levels down are read (Ampel-ZTF/ipac_2017/)
    assert {os.path.relpath(r["source"], EXAMPLE_ALERTS).split(os.sep)[0] for r in rows} == {
        "Ampel-ZTF", "boom", "fink-alert-schemas", "kowalski", "pittgoogle-client", "ztf-avro-alert"}
    want = {row["source_file"]: float(row["score_tf"]) for row in reference.rows}
    ok = [r for r in rows if r["status"] == "ok"]
    assert len(ok) == 7
    for r in ok:
        assert abs(float(r["score"]) - want[os.path.relpath(r["source"], EXAMPLE_ALERTS)]) < 2e-6, r
    (bad,) = [r for r in rows if r["status"] != "ok"]
    assert bad["status"] == "bad_cutout" and "JPEG" in bad["error"]
    assert "scored 7, failed 1, 8 alerts" in res.stderr


def test_score_needs_paths_or_example(official_model, tmp_path):
    runner = CliRunner()
    res = runner.invoke(main, ["score"], env=_home_env(official_model))
    assert res.exit_code == 2 and "Missing argument 'PATHS...' (or --example" in res.output
    res = runner.invoke(main, ["score", "--example", str(tmp_path)], env=_home_env(official_model))
    assert res.exit_code == 2 and "give PATHs or --example, not both" in res.output
