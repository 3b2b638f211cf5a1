#!/usr/bin/env python
"""Spark local mode vs the CLI on the same Parquet files, in one run: alerts/s/core and Spark's cost per row.

    python benchmarks/bench_spark.py [--alerts 3000] [--cores 2] [--batch-size 64] [--repeat 3] [--json out.json]

Input: the two Fink "datatest" alert tables of ../shared/data/parquet (124 alerts, every one scorable)
repeated to --alerts rows, written as 2 x --cores Parquet part files (so that every core gets tasks).
Then, each on the same files with the same number of cores:

1. ``btsbot-fast score DIR -o cli.parquet`` (a subprocess, process start included; --threads and
   --model-threads = --cores), and the same with one thread of each (one core's worth, as a Spark task);
2. the Spark job (``btsbot_fast.spark.job.scored_table`` -> Parquet) on ``local[--cores]``, one task per
   core (spark.task.cpus = 1, so 1 native + 1 ONNX Runtime thread per task);
3. Spark pass-through: the same job with ``with_btsbot_score`` replaced by a mapInArrow that appends
   empty score columns (the same columns read, sent to and back from the Python workers, written):
   Spark's own cost per row.

These run interleaved --repeat times after a warm-up job; the fastest run of each counts (medians
and every run are reported too). Spark session start-up is reported apart (it is paid once per
application). Scores of 1 and 2 are compared (max |difference|). Last, the peak RSS of a Python worker
scoring the rows with all their columns (``with_btsbot_score``'s default) on Spark's default Arrow
batches (one per partition here). Wall-clock figures on a shared machine are noisy: repeat on a quiet one.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("BTSBOT_FAST_SHARED", REPO.parent / "shared"))
SOURCE_GLOB = "fink_science_data_alerts_datatest_part-*.parquet"
COLUMNS = ["objectId", "candid", "candidate", "prv_candidates", "cutoutScience", "cutoutTemplate", "cutoutDifference"]


def make_input(folder: Path, alerts: int, parts: int) -> Path:
    files = sorted((SHARED / "data" / "parquet" / "dev" / "fink-science").glob(SOURCE_GLOB))
    if not files:
        sys.exit(f"no {SOURCE_GLOB} under {SHARED}/data/parquet/dev/fink-science")
    base = pa.concat_tables([pq.read_table(f, columns=COLUMNS) for f in files]).combine_chunks()
    table = pa.concat_tables([base] * (alerts // base.num_rows + 1)).slice(0, alerts).combine_chunks()
    out = folder / "alerts"
    out.mkdir()
    step = -(-alerts // parts)
    for k in range(parts):
        pq.write_table(table.slice(k * step, step), out / f"part-{k:05d}.parquet", row_group_size=256)
    return out


def run_cli(inp: Path, out: Path, cores: int, batch_size: int) -> float:
    cmd = ["btsbot-fast", "score", str(inp), "-o", str(out), "--batch-size", str(batch_size),
           "--threads", str(cores), "--model-threads", str(cores)]
    t = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True)
    return time.perf_counter() - t


def passthrough(df, model, batch_size, *, keep=None, **options):
    """``with_btsbot_score`` without scoring: the same columns to and from the Python workers (with
    ``keep``: the kept columns and the pruned alert columns), empty score columns appended."""
    from functools import partial

    from btsbot_fast.spark import output_schema
    from btsbot_fast.spark.columns import pruned_alert_columns

    if keep is not None:
        df = df.select(*keep, *pruned_alert_columns(df))
    return df.mapInArrow(partial(_append_empty, keep=keep), output_schema(df.schema, keep))


def _append_empty(batches, keep):
    for b in batches:
        n = b.num_rows
        names = keep if keep is not None else b.schema.names
        yield pa.RecordBatch.from_arrays(
            [*(b.column(c) for c in names), pa.nulls(n, pa.float64()), pa.array(["ok"] * n), pa.array([""] * n)],
            names=[*names, "btsbot_score", "btsbot_status", "btsbot_error"])


def worker_rss(spark, inp: str, batch_size: int) -> int:
    """Peak RSS (MB) of the Python workers scoring ``inp`` with all its columns (with_btsbot_score's
    default): the ONNX Runtime session, the Arrow batch in and out, the tensors of a model batch."""
    import hashlib

    from pyspark.sql.types import LongType, StructField, StructType

    from btsbot_fast import registry
    from btsbot_fast.spark import worker

    resolved = registry.resolve("btsbot-v1.0.1")
    data = resolved.onnx_path.read_bytes()
    job = worker.ScoringJob(resolved, hashlib.sha256(data).hexdigest(), spark.sparkContext.broadcast(data), batch_size)

    def scored_rss(batches):
        import resource

        for out in worker.score_partition(batches, job):
            rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
            yield pa.RecordBatch.from_arrays([pa.array([rss] * out.num_rows, pa.int64())], names=["rss_mb"])

    schema = StructType([StructField("rss_mb", LongType())])
    return max(r["rss_mb"] for r in spark.read.parquet(inp).mapInArrow(scored_rss, schema).collect())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--alerts", type=int, default=3000)
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--repeat", type=int, default=3, help="interleaved runs of each; the fastest counts")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    if args.json:
        args.json = args.json.resolve()  # (the run changes folder)

    with tempfile.TemporaryDirectory(prefix="bench-spark-") as tmp:
        tmp = Path(tmp)
        inp = make_input(tmp, args.alerts, 2 * args.cores)
        n = args.alerts
        res: dict = {"alerts": n, "cores": args.cores, "batch_size": args.batch_size, "repeat": args.repeat}

        here = os.getcwd()
        os.chdir(tmp)  # Spark's Python workers start in the JVM's folder: keep a source tree off their path
        t = time.perf_counter()
        from pyspark.sql import SparkSession

        import btsbot_fast.spark
        from btsbot_fast.spark import job

        spark = (SparkSession.builder.master(f"local[{args.cores}]").appName("bench_spark")
                 .config("spark.ui.enabled", "false").config("spark.pyspark.python", sys.executable).getOrCreate())
        spark.sparkContext.setLogLevel("ERROR")
        res["spark_session_start_s"] = round(time.perf_counter() - t, 2)
        scoring = btsbot_fast.spark.with_btsbot_score

        def timed(label, score):
            btsbot_fast.spark.with_btsbot_score = score
            out = str(tmp / label)
            t0 = time.perf_counter()
            job.scored_table(spark, str(inp), "btsbot-v1.0.1", args.batch_size).write.parquet(out)
            return time.perf_counter() - t0

        timed("warmup", scoring)  # the Python workers and their sessions started, as in a long job
        times: dict[str, list[float]] = {"cli": [], "cli_1": [], "spark": [], "pass": []}
        for r in range(args.repeat):  # interleaved, so that a busy spell on a shared machine hits all
            times["cli"].append(run_cli(inp, tmp / f"cli{r}.parquet", args.cores, args.batch_size))
            times["cli_1"].append(run_cli(inp, tmp / f"cli1_{r}.parquet", 1, args.batch_size))
            times["spark"].append(timed(f"spark{r}", scoring))
            times["pass"].append(timed(f"pass{r}", passthrough))  # the job's own pipeline, scoring left out
        btsbot_fast.spark.with_btsbot_score = scoring
        res["python_worker_peak_rss_mb"] = worker_rss(spark, str(inp), args.batch_size)
        spark.stop()
        os.chdir(here)

        cli = pq.read_table(tmp / "cli0.parquet", columns=["candid", "score"]).to_pylist()
        ours = pq.read_table(tmp / "spark0", columns=["candid", "btsbot_score"]).to_pylist()
        assert len(cli) == len(ours) == n
        diff = max(abs(a["score"] - b["btsbot_score"]) for a, b in zip(sorted(cli, key=lambda r: r["candid"]),
                                                                     sorted(ours, key=lambda r: r["candid"])))

    def rate(samples: list[float]) -> dict:
        best = min(samples)
        return {"seconds_min": round(best, 2), "seconds_median": round(statistics.median(samples), 2),
                "seconds": [round(x, 2) for x in samples],
                "alerts_per_s": round(n / best, 1), "alerts_per_s_per_core": round(n / best / args.cores, 1)}

    t_cli, t_spark, t_pass = (min(times[k]) for k in ("cli", "spark", "pass"))
    res["cli"] = rate(times["cli"])
    res["cli_one_thread"] = {**rate(times["cli_1"]), "alerts_per_s_per_core": round(n / min(times["cli_1"]), 1)}
    res["spark"] = rate(times["spark"])
    res["spark_passthrough"] = {**rate(times["pass"]), "core_us_per_row": round(t_pass * args.cores / n * 1e6)}
    res["spark_minus_cli_core_us_per_row"] = round((t_spark - t_cli) * args.cores / n * 1e6)
    res["spark_vs_cli"] = round(t_cli / t_spark, 3)
    res["max_abs_score_diff_cli_vs_spark"] = diff
    print(json.dumps(res, indent=2))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(res, indent=2) + "\n")


if __name__ == "__main__":
    main()
