#!/usr/bin/env python
"""Spark local mode vs the CLI on the same Parquet files, in one run: alerts/s/core and Spark's cost per row.

    python benchmarks/bench_spark.py [--alerts 3000] [--cores 2] [--batch-size 64] [--json out.json]

Input: the two Fink "datatest" alert tables of ../shared/data/parquet (124 alerts, every one scorable)
repeated to --alerts rows, written as 2 x --cores Parquet part files (so that every core gets tasks).
Then, each on the same files with the same number of cores:

1. ``btsbot-fast score DIR -o cli.parquet`` (a subprocess, process start included; --threads and
   --model-threads = --cores);
2. the Spark job (``btsbot_fast.spark.job.scored_table`` -> Parquet) on ``local[--cores]``, one task per
   core (spark.task.cpus = 1, so 1 native + 1 ONNX Runtime thread per task);
3. Spark pass-through: the same job with ``with_btsbot_score`` replaced by a mapInArrow that appends
   empty score columns (same columns read, sent through the Python workers, written): Spark's own cost
   per row.

Spark session start-up is reported apart (it is paid once per application). Scores of 1 and 2 are
compared (max |difference|). Wall-clock figures on a shared machine are noisy: repeat on a quiet one.
"""

from __future__ import annotations

import argparse
import json
import os
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


def passthrough(df, *args, **kwargs):
    """``with_btsbot_score`` without scoring: the same rows through the Python workers, empty score columns."""
    from btsbot_fast.spark import output_schema

    return df.mapInArrow(_append_empty, output_schema(df.schema))


def _append_empty(batches):
    for b in batches:
        n = b.num_rows
        yield pa.RecordBatch.from_arrays(
            [*b.columns, pa.nulls(n, pa.float64()), pa.array(["ok"] * n), pa.array([""] * n)],
            names=[*b.schema.names, "btsbot_score", "btsbot_status", "btsbot_error"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--alerts", type=int, default=3000)
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-spark-") as tmp:
        tmp = Path(tmp)
        inp = make_input(tmp, args.alerts, 2 * args.cores)
        n = args.alerts
        res: dict = {"alerts": n, "cores": args.cores, "batch_size": args.batch_size}

        t_cli = run_cli(inp, tmp / "cli.parquet", args.cores, args.batch_size)

        os.chdir(tmp)  # Spark's Python workers start in the JVM's folder: keep a source tree off their path
        t = time.perf_counter()
        from pyspark.sql import SparkSession

        from btsbot_fast.spark import job

        spark = (SparkSession.builder.master(f"local[{args.cores}]").appName("bench_spark")
                 .config("spark.ui.enabled", "false").config("spark.pyspark.python", sys.executable).getOrCreate())
        spark.sparkContext.setLogLevel("ERROR")
        res["spark_session_start_s"] = round(time.perf_counter() - t, 2)

        def timed(label, make):
            out = str(tmp / label)
            t0 = time.perf_counter()
            make().write.parquet(out)
            return time.perf_counter() - t0, out

        # warm-up: start the Python workers and their sessions on a small slice, as a long job amortises them
        timed("warmup", lambda: job.scored_table(spark, str(inp / "part-00000.parquet"), "btsbot-v1.0.1",
                                                 args.batch_size).limit(4 * args.cores))
        t_spark, spark_out = timed("spark", lambda: job.scored_table(spark, str(inp), "btsbot-v1.0.1", args.batch_size))
        import btsbot_fast.spark

        btsbot_fast.spark.with_btsbot_score = passthrough  # the job's own pipeline, scoring left out
        t_pass, _ = timed("pass", lambda: job.scored_table(spark, str(inp), "btsbot-v1.0.1", args.batch_size))
        spark.stop()

        cli = pq.read_table(tmp / "cli.parquet", columns=["candid", "score"]).to_pylist()
        ours = pq.read_table(spark_out, columns=["candid", "btsbot_score"]).to_pylist()
        assert len(cli) == len(ours) == n
        diff = max(abs(a["score"] - b["btsbot_score"]) for a, b in zip(sorted(cli, key=lambda r: r["candid"]),
                                                                     sorted(ours, key=lambda r: r["candid"])))

    def rate(seconds: float) -> dict:
        return {"seconds": round(seconds, 2), "alerts_per_s": round(n / seconds, 1),
                "alerts_per_s_per_core": round(n / seconds / args.cores, 1)}

    res["cli"] = rate(t_cli)
    res["spark"] = rate(t_spark)
    res["spark_passthrough"] = {**rate(t_pass), "core_us_per_row": round(t_pass * args.cores / n * 1e6)}
    res["spark_minus_cli_core_us_per_row"] = round((t_spark - t_cli) * args.cores / n * 1e6)
    res["spark_vs_cli"] = round(t_cli / t_spark, 3)
    res["max_abs_score_diff_cli_vs_spark"] = diff
    print(json.dumps(res, indent=2))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(res, indent=2) + "\n")


if __name__ == "__main__":
    main()
