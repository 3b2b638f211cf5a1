"""The Spark job: score a Parquet alert table, write the scores as Parquet.

    spark-submit [spark options] "$(python -c 'import btsbot_fast.spark.job as j; print(j.__file__)')" \\
        INPUT OUTPUT [--model btsbot-v1.0.1] [--batch-size 64] [--precision fast]
    python -m btsbot_fast.spark.job INPUT OUTPUT ...        # the same, with pyspark's local launcher

INPUT: anything ``spark.read.parquet`` reads (a file, a directory of part files, a glob) holding one
alert table. OUTPUT: a Parquet directory (Spark's part files and ``_SUCCESS``), one row per input row:
``objectId, candid, jd, magpsf, fid, btsbot_score, btsbot_precision, btsbot_status, btsbot_error,
btsbot_bts_candidate, btsbot_bts_reject, model, model_version, source`` (``source``: the input file of the
row), the columns of ``btsbot-fast score`` under the names
``with_btsbot_score`` gives the scores. ``--all-columns`` keeps every input column instead (cutouts
included). An existing OUTPUT is an error unless ``--mode overwrite`` or ``--mode append``.
"""

from __future__ import annotations

import click

# absolute imports: spark-submit runs this file as a script, outside its package
from btsbot_fast import registry
from btsbot_fast.precision import PRECISIONS, parse_thresholds
from btsbot_fast.scorer import DEFAULT_BATCH_SIZE, DEFAULT_MODEL

MODES = ("error", "overwrite", "append")


def scored_table(spark, input_path: str, model: str, batch_size: int, *, threads: int | None = None,
                 model_threads: int | None = None, all_columns: bool = False, precision: str = "exact",
                 decision_thresholds=None):
    """The DataFrame the job writes (lazy)."""
    from pyspark.sql import functions as F

    from btsbot_fast.spark import OUTPUT_COLUMNS, with_btsbot_score
    from btsbot_fast.spark.worker import RESULT_ID_COLUMNS, SCORING_COLUMNS

    df = spark.read.parquet(input_path)
    resolved = registry.resolve(model)
    model_columns = [F.lit(resolved.name).alias("model"), F.lit(resolved.version).alias("model_version")]
    source = F.col("_metadata.file_path")
    if all_columns:
        if "source" not in df.columns:
            df = df.select("*", source.alias("source"))
        scored = with_btsbot_score(df, resolved, batch_size, threads=threads, model_threads=model_threads,
                                   precision=precision, decision_thresholds=decision_thresholds)
        return scored.select("*", *model_columns)
    # the ids and candidate values (RESULT_ID_COLUMNS) come back from the workers as scoring read them (the
    # CLI's values, one definition); the alert columns go to the workers and are not sent back
    hidden_source = "__btsbot_source"
    df = df.select(*[c for c in SCORING_COLUMNS if c in df.columns], source.alias(hidden_source))
    scored = with_btsbot_score(df, resolved, batch_size, threads=threads, model_threads=model_threads,
                               keep=[hidden_source], result_ids=True, precision=precision,
                               decision_thresholds=decision_thresholds)
    return scored.select(*RESULT_ID_COLUMNS, *OUTPUT_COLUMNS, *model_columns, F.col(hidden_source).alias("source"))


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("input_path", metavar="INPUT")
@click.argument("output_path", metavar="OUTPUT")
@click.option("--model", default=DEFAULT_MODEL, show_default=True,
              help="Registry name, .onnx file or model directory, resolved on the driver and broadcast.")
@click.option("--batch-size", type=click.IntRange(min=1), default=DEFAULT_BATCH_SIZE, show_default=True,
              help="Alerts per model call.")
@click.option("--threads", type=click.IntRange(min=0), default=None,
              help="Native preprocessing threads per task [default: spark.task.cpus].")
@click.option("--model-threads", type=click.IntRange(min=0), default=None,
              help="ONNX Runtime intra-op threads per task [default: spark.task.cpus].")
@click.option("--all-columns", is_flag=True, help="Keep every input column (cutouts too) beside the scores.")
@click.option("--mode", type=click.Choice(MODES), default="error", show_default=True,
              help="When OUTPUT exists: fail, replace it, or add part files to it.")
@click.option("--precision", type=click.Choice(PRECISIONS), default="exact", show_default=True,
              help="exact: fp32 scores. fast: int8 scores, re-scored in fp32 near every decision threshold.")
@click.option("--decision-thresholds", default=None, metavar="T[,T...]",
              help="With --precision fast: the score thresholds decisions are taken at [default: 0.5,0.85].")
def main(input_path, output_path, model, batch_size, threads, model_threads, all_columns, mode, precision,
         decision_thresholds) -> None:
    """Score the ZTF alerts of a Parquet table (INPUT) with BTSbot; write one row per alert to OUTPUT."""
    from pyspark.errors import AnalysisException
    from pyspark.sql import SparkSession

    thresholds = None
    if decision_thresholds is not None:
        if precision != "fast":
            raise click.UsageError("--decision-thresholds applies to --precision fast")
        try:
            thresholds = parse_thresholds(decision_thresholds)
        except ValueError as exc:
            raise click.UsageError(str(exc)) from None
    spark = SparkSession.builder.appName("btsbot-fast score").getOrCreate()
    try:
        table = scored_table(spark, input_path, model, batch_size, threads=threads, model_threads=model_threads,
                             all_columns=all_columns, precision=precision, decision_thresholds=thresholds)
    except (registry.ModelNotFoundError, registry.ModelCardError) as exc:
        raise click.ClickException(str(exc)) from None
    try:
        table.write.mode("errorifexists" if mode == "error" else mode).parquet(output_path)
    except AnalysisException as exc:  # e.g. OUTPUT exists: say so without a JVM stack trace
        if exc.getCondition() != "PATH_ALREADY_EXISTS":
            raise
        raise click.ClickException(f"{output_path} already exists; use --mode overwrite or --mode append") from None
    counts = dict(spark.read.parquet(output_path).groupBy("btsbot_status").count().collect())
    total = sum(counts.values())
    summary = ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
    click.echo(f"btsbot-fast: {total} alerts scored into {output_path} ({summary})", err=True)


if __name__ == "__main__":
    main()
