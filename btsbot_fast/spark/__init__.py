"""Score alert DataFrames on Spark (the optional ``[spark]`` extra: pyspark with its Arrow support).

    from btsbot_fast.spark import with_btsbot_score
    scored = with_btsbot_score(df, model="btsbot-v1.0.1", batch_size=64)

``df`` holds the ZTF/Fink alert columns (``objectId``, ``candid``, ``candidate`` struct, ``prv_candidates``
array, ``cutoutScience/Template/Difference`` with ``stampData``), as brokers keep their archives. The
result is ``df`` with six columns appended, one value per row, rows in the same order:
``btsbot_score`` (double, null unless the status is ``ok``), ``btsbot_precision`` (``fp32`` or ``int8``:
the model the score came from, see ``precision``; null without a score), ``btsbot_status`` (the CLI's
status labels), ``btsbot_error`` (why a row was not scored; '' when ok), ``btsbot_bts_candidate``
(boolean: the BTS candidate filter's verdict, null when unknown) and ``btsbot_bts_reject`` (its failed
criteria, or ``missing:<field>``). Scores and statuses are those
``btsbot-fast score`` gives for the same alerts.

How: ``DataFrame.mapInArrow`` hands every task's rows to a Python worker as Arrow record batches
(:mod:`.worker`); there the same :class:`~btsbot_fast.Scorer` as everywhere scores them, built once per
worker process. The model is resolved here, on the driver, and broadcast: executors need the package,
not the model. Whether the DataFrame is an alert table is decided here too, once, by the Parquet
reader's rule (:mod:`.columns`). Modules: :mod:`.columns` (what goes to the workers), :mod:`.worker`
(executor side), :mod:`.job` (the spark-submit job).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from functools import partial
from typing import Any

from ..messages import install_hint

try:
    import pyarrow  # noqa: F401
    import pyspark  # noqa: F401
except ImportError as exc:  # pragma: no cover - exercised by a test with pyspark hidden
    raise ImportError("btsbot_fast.spark needs pyspark and pyarrow: " + install_hint("spark")) from exc

from .. import registry
from ..precision import check_precision
from ..precision import decision_thresholds as decision_thresholds_of
from ..rows import SPARK_ID_COLUMNS, SPARK_SCORE_COLUMNS
from ..scorer import DEFAULT_BATCH_SIZE, DEFAULT_MODEL
from .columns import pruned_alert_columns, schema_problem
from .worker import (
    ALERT_PREFIX,
    BTS_CANDIDATE_COLUMN,
    BTS_REJECT_COLUMN,
    ERROR_COLUMN,
    OUTPUT_COLUMNS,
    PRECISION_COLUMN,
    RESULT_ID_COLUMNS,
    SCORE_COLUMN,
    STATUS_COLUMN,
    ScoringJob,
    score_partition,
)

__all__ = ["BTS_CANDIDATE_COLUMN", "BTS_REJECT_COLUMN", "ERROR_COLUMN", "OUTPUT_COLUMNS", "PRECISION_COLUMN",
           "SCORE_COLUMN", "STATUS_COLUMN", "output_schema", "with_btsbot_score"]


def with_btsbot_score(df: Any, model: str | os.PathLike[str] | registry.ResolvedModel = DEFAULT_MODEL,
                      batch_size: int = DEFAULT_BATCH_SIZE, *, threads: int | None = None,
                      model_threads: int | None = None, home: str | os.PathLike[str] | None = None,
                      keep: Sequence[str] | None = None, result_ids: bool = False, precision: str = "exact",
                      decision_thresholds: Sequence[float] | None = None) -> Any:
    """Score an alert DataFrame: ``df`` with the score columns appended. Lazy, like any transformation.

    Appends ``btsbot_score``, ``btsbot_precision``, ``btsbot_status``, ``btsbot_error`` and the
    ``btsbot_bts_*`` columns, one value per row, rows in the same order (columns of those names already
    there are replaced: re-scoring a scored table). Scores and statuses are those ``btsbot-fast score``
    gives for the same alerts.

    Parameters
    ----------
    df : pyspark.sql.DataFrame
        A ZTF/Fink alert table (``objectId``, ``candid``, ``candidate``, ``prv_candidates``, the three
        cutouts with ``stampData``). A DataFrame that is not one gets ``unsupported_schema`` rows.
    model : str or path-like or ResolvedModel, default ``"btsbot-v1.0.1"``
        A registry name, ``.onnx`` file or model directory, resolved on the driver (``home``: the model
        cache, default ``$BTSBOT_FAST_HOME``) and broadcast to the executors.
    batch_size : int, default 64
        Alerts per model call.
    threads, model_threads : int or None, default None
        Native preprocessing / ONNX Runtime intra-op threads per task; None: ``spark.task.cpus``, which
        keeps each Python worker to the cores Spark gave its task.
    home : str or path-like or None, default None
        The driver's model cache.
    keep : sequence of str or None, default None
        The columns of ``df`` returned beside the scores (default: all). Every row goes to a Python
        worker and, by default, comes back whole: leaving out the cutouts and the history (e.g.
        ``keep=["objectId", "candid"]``) saves sending them back.
    result_ids : bool, default False
        Also return ``objectId, candid, jd, ra, dec, magpsf, fid`` (``RESULT_ID_COLUMNS``) as scoring read
        them (the CLI's columns: candid from the top-level integer column, else the candidate's), before the
        score columns; needs ``keep`` without those names.
    precision, decision_thresholds
        As for :class:`~btsbot_fast.Scorer` (``fast``: int8 scores, exact ones near the thresholds; the
        int8 model is broadcast beside the fp32 one).

    Returns
    -------
    pyspark.sql.DataFrame
        ``df`` (or its ``keep`` columns) with the score columns.

    Raises
    ------
    ValueError
        Unusable options (``batch_size < 1``, a ``keep`` column that is not there ...).

    Examples
    --------
    >>> from btsbot_fast.spark import with_btsbot_score
    >>> scored = with_btsbot_score(spark.read.parquet("/archive/ztf/2024/"),  # doctest: +SKIP
    ...                            keep=["objectId", "candid"])
    >>> scored.where("btsbot_score > 0.5").show()  # doctest: +SKIP
    """
    if batch_size < 1:
        raise ValueError("batch_size must be >= 1")
    for name, value in (("threads", threads), ("model_threads", model_threads)):
        if value is not None and value < 0:
            raise ValueError(f"{name} must be >= 0 (0 = all cores) or None (spark.task.cpus)")
    check_precision(precision)
    thresholds = None
    if precision == "fast":
        thresholds = decision_thresholds_of(decision_thresholds)
    resolved = registry.resolve(model, home=home)
    data = resolved.onnx_path.read_bytes()
    int8_bytes = None
    if precision == "fast":  # checked here, on the driver: a missing int8 model fails before any task
        if resolved.int8 is None:
            raise registry.ModelCardError(f"model {resolved.name} has no int8 screening model for precision "
                                          f"'fast'; derive one: btsbot-fast models quantize {resolved.name}")
        int8_bytes = df.sparkSession.sparkContext.broadcast(resolved.int8.checked_path().read_bytes())
    inputs = df.drop(*[c for c in OUTPUT_COLUMNS if c in df.columns])
    problem = schema_problem(inputs.schema)
    prefix = ""
    if keep is not None:
        keep = tuple(keep)
        unknown = [c for c in keep if c not in inputs.columns]
        if unknown:
            raise ValueError(f"keep: no column(s) {', '.join(unknown)} in the DataFrame")
        clash = [c for c in keep if result_ids and c in RESULT_ID_COLUMNS]
        if clash:
            raise ValueError(f"keep: {', '.join(clash)} would come back twice with result_ids")
        # the alert columns are not coming back: send only the fields scoring reads (for a table that is
        # not an alert table, only its ids, for the rows that say so)
        prefix = ALERT_PREFIX
        ids_only = [inputs[c].alias(ALERT_PREFIX + c) for c in ("objectId", "candid") if c in inputs.columns]
        inputs = inputs.select(*keep, *(ids_only if problem else pruned_alert_columns(inputs)))
    elif result_ids:
        raise ValueError("result_ids needs keep (the input's own objectId/candid columns would clash)")
    job = ScoringJob(model=resolved, model_sha256=hashlib.sha256(data).hexdigest(),
                     model_bytes=df.sparkSession.sparkContext.broadcast(data), batch_size=batch_size,
                     threads=threads, model_threads=model_threads, keep=keep, alert_prefix=prefix, problem=problem,
                     result_ids=result_ids, precision=precision, decision_thresholds=thresholds,
                     int8_bytes=int8_bytes)
    return inputs.mapInArrow(partial(score_partition, job=job), output_schema(inputs.schema, keep, result_ids))


def output_schema(schema: Any, keep: Sequence[str] | None = None, result_ids: bool = False) -> Any:
    """The Spark schema of the scored DataFrame: the fields of ``schema`` (those named in ``keep``, in that
    order, when given), the result ids with ``result_ids``, then the score columns (OUTPUT_COLUMNS)."""
    from pyspark.sql.types import StructField, StructType

    fields = schema.fields if keep is None else [schema[name] for name in keep]
    columns = [*(SPARK_ID_COLUMNS if result_ids else ()), *SPARK_SCORE_COLUMNS]
    return StructType([*fields, *(StructField(c.name, c.spark_type(), True) for c in columns)])
