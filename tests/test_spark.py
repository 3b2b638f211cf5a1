"""btsbot_fast.spark on a real Spark (local[2], one session for the module): the same rows, statuses and
scores as ``btsbot-fast score`` on the same Parquet files, and the Parquet reference's scores within 2e-6.

Needs the [spark] extra (pyspark, pyarrow) and a Java runtime (.ci/run installs Debian's
openjdk-17-jre-headless); skips without them.
"""

from __future__ import annotations

import collections
import copy
import gzip
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pyspark = pytest.importorskip("pyspark")
pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")

from test_parquet import SCORE_ATOL, ParquetReference  # noqa: E402

if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
    pytest.skip("Spark needs a Java runtime (Debian: openjdk-17-jre-headless)", allow_module_level=True)

RESULT_COLUMNS = ["objectId", "btsbot_score", "btsbot_status", "btsbot_error", "btsbot_bts_candidate",
                  "btsbot_bts_reject"]


@pytest.fixture(scope="module")
def spark(tmp_path_factory):
    from pyspark.sql import SparkSession

    # Start the JVM from a scratch folder: Spark's Python workers run in the JVM's folder and `python -m`
    # puts it first on sys.path, so from the repository root they would import the source tree's
    # btsbot_fast (no compiled extension) instead of the installed package.
    here = os.getcwd()
    os.chdir(tmp_path_factory.mktemp("spark"))
    try:
        session = (SparkSession.builder.master("local[2]").appName("btsbot-fast tests")
                   .config("spark.ui.enabled", "false")
                   .config("spark.sql.shuffle.partitions", "2")
                   .config("spark.pyspark.python", sys.executable)
                   .getOrCreate())
    finally:
        os.chdir(here)
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


@pytest.fixture(scope="module")
def pref(data_root):
    return ParquetReference(data_root)


@pytest.fixture(scope="module")
def model_home(official_model):
    return str(official_model.onnx_path.parent.parent)


def cli_scores(paths, out, model_home, *args):
    """``btsbot-fast score PATHS -o out.parquet``: rows grouped by source, in record order."""
    from click.testing import CliRunner

    from btsbot_fast.cli import main

    res = CliRunner().invoke(main, ["score", *map(str, paths), "-o", str(out), *args],
                             env={"BTSBOT_FAST_HOME": model_home})
    assert res.exit_code == 0, res.output
    by_source = collections.defaultdict(list)
    for row in pq.read_table(out).to_pylist():
        by_source[row["source"]].append(row)
    for rows in by_source.values():
        assert [r["record_index"] for r in rows] == list(range(len(rows)))
    return by_source


@pytest.fixture(scope="module")
def cli(pref, model_home, tmp_path_factory):
    return cli_scores(pref.files, tmp_path_factory.mktemp("cli") / "scores.parquet", model_home)


def spark_scores(spark, path, **kw):
    from btsbot_fast.spark import with_btsbot_score

    scored = with_btsbot_score(spark.read.parquet(str(path)), **kw)
    return [r.asDict() for r in scored.select(*RESULT_COLUMNS).collect()]


def assert_same_as_cli(ours, theirs):
    assert len(ours) == len(theirs)
    for s, c in zip(ours, theirs):
        assert s["objectId"] == c["objectId"]
        assert (s["btsbot_status"], s["btsbot_error"]) == (c["status"], c["error"]), (s, c)
        assert (s["btsbot_bts_candidate"], s["btsbot_bts_reject"]) == (c["bts_candidate"], c["bts_reject"]), (s, c)
        if c["status"] == "ok":
            assert abs(s["btsbot_score"] - c["score"]) <= SCORE_ATOL, (s, c)
        else:
            assert s["btsbot_score"] is None


def test_every_file_scores_as_the_cli_and_the_reference(spark, pref, cli):
    """Every Fink test set (nine in ../shared; the sample's rows of them in a bare clone), each read by
    Spark as its own DataFrame: per row the CLI's status and error, its score within 2e-6, and the
    reference's TensorFlow score within 2e-6."""
    by_key = {}
    for path in pref.files:
        ours = spark_scores(spark, path)
        assert_same_as_cli(ours, cli[str(path)])
        for i, row in enumerate(ours):
            by_key[pref.key(str(path), i)] = row
    worst = 0.0
    pairs = [((row["source_file"], int(row["row_index"])), row) for row in pref.rows] + list(pref.copies.items())
    assert len(pairs) == (13 + 2 if pref.is_sample else 264 + 57)
    for key, ref in pairs:
        row = by_key.pop(key)
        assert row["btsbot_status"] == "ok" and row["objectId"] == ref["objectId"], (key, row)
        worst = max(worst, abs(row["btsbot_score"] - float(ref["score_tf"])))
    assert worst <= SCORE_ATOL
    # every other row is a skipped (non-alert table) row, with the CLI's status
    assert {(r["source_file"], int(r["row_index"])) for r in pref.skipped} == set(by_key)
    assert all(r["btsbot_status"] == "unsupported_schema" and r["btsbot_score"] is None for r in by_key.values())


def test_order_and_count_kept_across_partitions_and_slices(spark, pref, cli):
    """Two files (two partitions), Arrow batches of 10 rows cut into model batches of 7: every row keeps
    its place and gets its own score; the same rows shuffled into 3 partitions score the same; scoring a
    scored table replaces the three columns; ``keep`` returns only the columns asked for."""
    from pyspark.sql.functions import input_file_name

    from btsbot_fast.spark import OUTPUT_COLUMNS, with_btsbot_score

    paths = [str(p) for p in pref.files if "datatest_part" in p.name]
    key = "spark.sql.execution.arrow.maxRecordsPerBatch"
    old = spark.conf.get(key)
    spark.conf.set(key, "10")
    try:
        df = spark.read.parquet(*paths)
        assert df.rdd.getNumPartitions() == 2
        scored = with_btsbot_score(df, batch_size=7).cache()
        rows = [r.asDict() for r in scored.select(*RESULT_COLUMNS, "candidate.candid",
                                                  input_file_name().alias("file")).collect()]
        # Spark packs files into partitions largest first: the files' order is Spark's, each file's rows
        # keep theirs
        files = list(dict.fromkeys(r["file"] for r in rows))
        assert sorted(Path(f.removeprefix("file://")).name for f in files) == sorted(Path(p).name for p in paths)
        want = [r for f in files for r in cli[next(p for p in paths if p.endswith(Path(f).name))]]
        assert [r["candid"] for r in rows] == [r["candid"] for r in want]
        assert_same_as_cli(rows, want)
        assert scored.columns == df.columns + list(OUTPUT_COLUMNS)

        again = with_btsbot_score(scored.drop("btsbot_error"), batch_size=64)
        assert again.columns == df.columns + list(OUTPUT_COLUMNS)
        lean = with_btsbot_score(df, keep=["candid", "objectId"])  # the cutouts do not come back
        assert lean.columns == ["candid", "objectId", *OUTPUT_COLUMNS]
        assert [r.asDict() for r in lean.select(*RESULT_COLUMNS).collect()] == \
            [{k: r[k] for k in RESULT_COLUMNS} for r in rows]
        shuffled = with_btsbot_score(df.repartition(3), batch_size=5).select(*RESULT_COLUMNS, "candidate.candid")
        got = {r["candid"]: r.asDict() for r in shuffled.collect()}
        assert len(got) == len(want)
        assert_same_as_cli([got[r["candid"]] for r in want], want)
        scored.unpersist()
    finally:
        spark.conf.set(key, old)


def _damaged_table(path, out):
    """The first 11 rows of an alert table, damaged the ways archives are: cutouts missing, truncated, not
    gzip, not FITS; the candidate or one of its feature fields null; no history, a null history item, a
    history detection without jd; one row with a history detection added."""
    table = pq.read_table(path, columns=["objectId", "candid", "candidate", "prv_candidates", "cutoutScience",
                                         "cutoutTemplate", "cutoutDifference"]).slice(0, 11)
    rows = table.to_pylist()
    # a bare clone's sample table holds fewer rows: its rows are used again, in turn
    rows = [copy.deepcopy(rows[i % len(rows)]) for i in range(11)]
    stamp = rows[1]["cutoutScience"]["stampData"]
    rows[0]["cutoutScience"] = None
    rows[1]["cutoutScience"]["stampData"] = stamp[: len(stamp) // 2]
    rows[2]["cutoutTemplate"]["stampData"] = b"\xff\xd8\xff\xe0 a JPEG, not gzip"
    rows[3]["cutoutDifference"]["stampData"] = gzip.compress(b"SIMPLE  = F" + b" " * 2869)
    rows[4]["candidate"] = None
    rows[5]["candidate"]["magpsf"] = None
    rows[6]["prv_candidates"] = None
    rows[7]["cutoutDifference"]["stampData"] = None
    rows[8]["prv_candidates"][0] = None
    rows[9]["prv_candidates"][0].update(magpsf=18.5, jd=None)  # (these rows' history holds upper limits only)
    rows[10]["prv_candidates"][1].update(magpsf=18.5)  # a detection: its jd and magpsf enter the features
    pq.write_table(pa.Table.from_pylist(rows, schema=_nullable(table.schema)), out)


def _nullable(schema):
    """``schema`` with every field, nested ones too, nullable (the damage above needs nulls)."""
    def field(f):
        t = f.type
        if pa.types.is_struct(t):
            t = pa.struct([field(c) for c in t])
        elif pa.types.is_list(t):
            t = pa.list_(field(t.value_field))
        return pa.field(f.name, t, nullable=True, metadata=f.metadata)

    return pa.schema([field(f) for f in schema], metadata=schema.metadata)


def test_bad_rows_get_the_cli_status(spark, pref, model_home, tmp_path):
    """Damaged rows, and tables that are not alert tables: the CLI's status and error per row, whether the
    alert columns come back whole or only the fields scoring reads are sent (``keep``)."""
    src = next(f for f in pref.files if f.name == "fink_science_data_alerts_alerts.parquet")
    path = tmp_path / "damaged.parquet"
    _damaged_table(src, path)
    want = cli_scores([path], tmp_path / "cli.parquet", model_home)[str(path)]
    assert {"bad_cutout", "missing_cutout", "missing_field"} <= {r["status"] for r in want}
    assert [r["status"] == "ok" for r in want[6:]] == [True, False, True, False, True]
    assert_same_as_cli(spark_scores(spark, path, batch_size=4), want)
    assert_same_as_cli(spark_scores(spark, path, batch_size=4, keep=["objectId"]), want)
    others = cli_scores([f for f in pref.files if "agn" in f.name or "image" in f.name], tmp_path / "o.parquet",
                        model_home)
    assert len(others) == 3
    for source, rows in others.items():
        assert {r["status"] for r in rows} == {"unsupported_schema"}
        assert_same_as_cli(spark_scores(spark, source, keep=["objectId"]), rows)


def test_model_session_built_once_per_worker_process(spark, pref, official_model):
    """Six tasks on two cores: each Python worker process serves several of them with the one Scorer it
    built for the job (Spark reuses workers from task to task)."""
    import hashlib

    from btsbot_fast.spark import output_schema, worker

    data = official_model.onnx_path.read_bytes()
    job = worker.ScoringJob(official_model, hashlib.sha256(data).hexdigest(), spark.sparkContext.broadcast(data), 64)

    def probe(batches):
        for out in worker.score_partition(batches, job):
            cpus, _ = worker._task()
            n = out.num_rows
            yield out.append_column("pid", pa.array([os.getpid()] * n, pa.int64())).append_column(
                "scorer", pa.array([id(worker.scorer_for(job, cpus))] * n, pa.int64()))

    from pyspark.sql.types import LongType, StructField

    df = spark.read.parquet(str(next(f for f in pref.files if "superluminous" in f.name)))
    while df.count() < 24:  # the bare clone's sample: at least four rows per task
        df = df.union(df)
    n = df.count()
    df = df.repartition(6)
    schema = output_schema(df.schema)
    schema = schema.add(StructField("pid", LongType())).add(StructField("scorer", LongType()))
    rows = df.mapInArrow(probe, schema).select("pid", "scorer", "btsbot_status").collect()
    assert len(rows) == n and all(r["btsbot_status"] == "ok" for r in rows)
    scorers = collections.defaultdict(set)
    for r in rows:
        scorers[r["pid"]].add(r["scorer"])
    assert all(len(s) == 1 for s in scorers.values()), scorers
    assert len(scorers) < 6  # fewer worker processes than tasks: workers (and their sessions) were reused


def test_fast_precision_changes_no_decision(spark, pref, official_model):
    """``precision="fast"`` on Spark: per row the exact run's status; rows marked fp32 carry the exact
    run's score bit for bit, int8 rows are within 0.1 of it and farther than the margin from every decision
    threshold; no score changes side of any threshold."""
    from btsbot_fast.spark import with_btsbot_score

    thresholds = (0.3, 0.5, 0.7, 0.85)
    paths = [str(p) for p in pref.files if "alerts_alerts" in p.name or "datatest_part" in p.name]
    df = spark.read.parquet(*paths)
    columns = ["candid", "btsbot_score", "btsbot_precision", "btsbot_status"]
    exact = [r.asDict() for r in with_btsbot_score(df, keep=["candid"]).select(*columns).collect()]
    fast = [r.asDict() for r in with_btsbot_score(df, keep=["candid"], precision="fast",
                                                  decision_thresholds=thresholds).select(*columns).collect()]
    assert [(r["candid"], r["btsbot_status"]) for r in exact] == [(r["candid"], r["btsbot_status"]) for r in fast]
    margin = official_model.int8.margin
    for e, f in zip(exact, fast):
        if e["btsbot_status"] != "ok":
            assert e["btsbot_precision"] is f["btsbot_precision"] is f["btsbot_score"] is None
            continue
        assert e["btsbot_precision"] == "fp32"
        assert all((e["btsbot_score"] > t) == (f["btsbot_score"] > t) for t in thresholds), (e, f)
        if f["btsbot_precision"] == "fp32":
            assert f["btsbot_score"] == e["btsbot_score"]
        else:
            assert f["btsbot_precision"] == "int8" and abs(f["btsbot_score"] - e["btsbot_score"]) <= 0.1
            assert min(abs(f["btsbot_score"] - t) for t in thresholds) > margin
    assert "int8" in {r["btsbot_precision"] for r in fast}
    with pytest.raises(ValueError, match="precision"):
        with_btsbot_score(df, precision="half")


def test_driver_errors_up_front(spark, pref):
    from btsbot_fast import registry
    from btsbot_fast.spark import with_btsbot_score

    df = spark.read.parquet(str(pref.files[0]))
    with pytest.raises(registry.ModelNotFoundError):
        with_btsbot_score(df, model="btsbot-v9.9.9")
    with pytest.raises(ValueError, match="batch_size"):
        with_btsbot_score(df, batch_size=0)
    with pytest.raises(ValueError, match="keep: no column.s. nope"):
        with_btsbot_score(df, keep=["objectId", "nope"])


def test_import_without_pyspark_says_how_to_install(monkeypatch):
    for name in [m for m in sys.modules if m == "btsbot_fast.spark" or m.startswith("btsbot_fast.spark.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "pyspark", None)
    with pytest.raises(ImportError, match=r'pip install "btsbot-fast\[spark\]"'):
        import btsbot_fast.spark  # noqa: F401


def test_job_in_process_modes_and_all_columns(spark, pref, tmp_path):
    """The job's command on the running session: --all-columns keeps the input columns; an existing
    OUTPUT is refused (and left as it was) unless --mode overwrite."""
    from btsbot_fast.spark import job

    small = "datatest_part-00002" if pref.is_sample else "hostless"
    path = next(f for f in pref.files if small in f.name)
    out = tmp_path / "all"
    job.main.main([str(path), str(out), "--all-columns", "--batch-size", "32"], standalone_mode=False)
    table = pq.read_table(out)
    assert {"cutoutScience", "candidate", "btsbot_score", "model", "source"} <= set(table.column_names)
    assert table.num_rows == pq.ParquetFile(path).metadata.num_rows
    before = sorted(p.name for p in out.iterdir())
    import click

    with pytest.raises(click.ClickException, match="already exists; use --mode overwrite"):
        job.main.main([str(path), str(out)], standalone_mode=False)
    assert sorted(p.name for p in out.iterdir()) == before
    # the compact rows, scored in the fast mode: the precision column after the score
    job.main.main([str(path), str(out), "--mode", "overwrite", "--precision", "fast", "--decision-thresholds",
                   "0.5,0.7"], standalone_mode=False)
    compact = pq.read_table(out)
    names = compact.column_names
    assert "cutoutScience" not in names and names[names.index("btsbot_score") + 1] == "btsbot_precision"
    assert {r["btsbot_precision"] for r in compact.to_pylist() if r["btsbot_status"] == "ok"} <= {"int8", "fp32"}
    with pytest.raises(click.UsageError, match="--precision fast"):
        job.main.main([str(path), str(out), "--decision-thresholds", "0.5"], standalone_mode=False)


def test_job_takes_the_ids_from_the_workers_results(spark, pref, model_home, tmp_path):
    """objectId, candid, jd, magpsf, fid of the compact output are what scoring read, as the CLI's rows:
    also where a driver-side expression would differ (a string top-level candid; NaN in a double candid,
    which Spark's ANSI casts refuse)."""
    import pyarrow.compute as pc

    from btsbot_fast.spark import job

    src = next(f for f in pref.files if "datatest_part-00002" in f.name)
    table = pq.read_table(src)
    i = table.schema.get_field_index("candid")
    as_double = [float(c) for c in table["candid"].to_pylist()]
    as_double[0] = float("nan")
    variants = {"string": table.set_column(i, "candid", pc.cast(table["candid"], pa.string())),
                "nan": table.set_column(i, "candid", pa.array(as_double, pa.float64()))}
    for name, t in variants.items():
        # (Spark's own copy of the old schema in the footer would override the new column type)
        t = t.replace_schema_metadata({k: v for k, v in (t.schema.metadata or {}).items() if b"spark" not in k})
        path = tmp_path / f"{name}.parquet"
        pq.write_table(t, path, coerce_timestamps="us", allow_truncated_timestamps=True)  # what Spark reads
        want = cli_scores([path], tmp_path / f"{name}-cli.parquet", model_home)[str(path)]
        out = tmp_path / f"{name}-out"
        job.main.main([str(path), str(out)], standalone_mode=False)
        got = sorted(pq.read_table(out).to_pylist(), key=lambda r: r["candid"])
        assert len(got) == len(want) and want[0]["candid"] > 2**53
        for g, w in zip(got, sorted(want, key=lambda r: r["candid"])):
            assert (g["objectId"], g["candid"], g["jd"], g["magpsf"], g["fid"], g["btsbot_status"]) == \
                (w["objectId"], w["candid"], w["jd"], w["magpsf"], w["fid"], w["status"]), name


@pytest.mark.slow
def test_spark_submit_job_writes_the_cli_rows(pref, cli, model_home, tmp_path):
    """The job as users run it: spark-submit (local[2]) of the installed job file, Parquet in, Parquet out;
    the rows are the CLI's (candid above 2**53 intact, jd/magpsf/fid, score, status)."""
    spark_submit = shutil.which("spark-submit") or os.path.join(os.path.dirname(pyspark.__file__), "bin",
                                                                "spark-submit")
    from btsbot_fast.spark import job

    path = next(f for f in pref.files if "datatest_part-00002" in f.name)
    out = tmp_path / "scores"
    env = {**os.environ, "BTSBOT_FAST_HOME": model_home, "PYSPARK_PYTHON": sys.executable}
    proc = subprocess.run([spark_submit, "--master", "local[2]", "--conf", "spark.ui.enabled=false", job.__file__,
                           str(path), str(out), "--batch-size", "16"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    # spark-submit passes the job's stderr on to its stdout
    want = cli[str(path)]
    n = 2 if pref.is_sample else 67
    assert f"{n} alerts scored" in proc.stdout + proc.stderr and f"(ok {n})" in proc.stdout + proc.stderr
    assert (out / "_SUCCESS").is_file()
    got = pq.read_table(out).to_pylist()
    assert len(got) == len(want) == n
    for g, w in zip(got, want):
        assert (g["objectId"], g["candid"], g["jd"], g["magpsf"], g["fid"]) == \
            (w["objectId"], w["candid"], w["jd"], w["magpsf"], w["fid"])
        assert g["btsbot_status"] == w["status"] == "ok" and abs(g["btsbot_score"] - w["score"]) <= SCORE_ATOL
        assert (g["model"], g["model_version"]) == (w["model"], w["model_version"])
        assert g["source"].endswith(path.name)
    assert max(g["candid"] for g in got) > 2**53
