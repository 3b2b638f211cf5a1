"""The executor side of :mod:`btsbot_fast.spark`: Arrow record batches in, the same batches with the
score columns (OUTPUT_COLUMNS) appended out.

Runs in Spark's Python workers, one process per running task, reused from task to task
(``spark.python.worker.reuse``, on by default). The :class:`~btsbot_fast.Scorer` (the ONNX Runtime session)
is built once per worker process and job options and kept for the next tasks. The model comes from the
driver as bytes (a broadcast) and is written once per worker process to a file named by its sha256, so
executors need neither a model cache nor the driver's paths.

Each record batch Spark hands over (``spark.sql.execution.arrow.maxRecordsPerBatch`` rows) is brought back
to the Avro schema's types once (the Parquet reader's ``conform``) and cut into slices of ``batch_size``
rows; the native core preprocesses each slice straight from its Arrow columns (``prep.arrow``: stamps as
zero-copy views, no Python loop over rows) and the Scorer scores it. Rows keep their order and count:
output row i is input row i with its score, status and error.

Only pyarrow and the Scorer are needed here; pyspark is imported lazily (TaskContext, SparkFiles), so the
function also runs outside Spark, on plain record batches.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ..io.parquet import ALERT_COLUMNS, conform, read_errors, schema_problem, unsupported_records
from ..io.records import exception_detail
from ..registry import ResolvedModel
from ..rows import SPARK_ID_COLUMNS, SPARK_PREFIX, SPARK_SCORE_COLUMNS, ScoreResult, names
from ..scorer import Scorer
from ..status import Status

#: the columns appended to every row (btsbot_fast.rows.SPARK_SCORE_COLUMNS): score (null unless ok), the
#: model it came from (fp32 / int8, null without a score), status label, error message ('' when ok), the
#: BTS filter's verdict (boolean, null when unknown) and failed criteria (ScoreResult's bts_* fields)
OUTPUT_COLUMNS = names(SPARK_SCORE_COLUMNS)
SCORE_COLUMN, PRECISION_COLUMN, STATUS_COLUMN, ERROR_COLUMN, BTS_CANDIDATE_COLUMN, BTS_REJECT_COLUMN = (
    SPARK_PREFIX + name for name in ("score", "precision", "status", "error", "bts_candidate", "bts_reject"))
#: the name prefix of the (pruned) alert columns sent beside ``keep`` columns (see .columns)
ALERT_PREFIX = "__btsbot_alert_"
#: the columns scoring reads: the Parquet reader's alert columns and the ids it carries
SCORING_COLUMNS = ("objectId", "candid", *ALERT_COLUMNS)
#: with ``result_ids``: the alert's ids and candidate values as scoring read them (the CLI's columns;
#: btsbot_fast.rows.SPARK_ID_COLUMNS)
RESULT_ID_COLUMNS = names(SPARK_ID_COLUMNS)


@dataclass(frozen=True)
class ScoringJob:
    """What the driver sends to every task: the model (its card, and its bytes through ``model_bytes``, a
    Spark broadcast or anything with a ``.value``; with ``precision="fast"`` its int8 screening model's
    too, ``int8_bytes``), the scoring options and the columns to return.
    ``threads`` (native preprocessing) and ``model_threads`` (ONNX Runtime intra-op): None = the task's
    CPUs (``spark.task.cpus``), so that concurrent tasks do not oversubscribe the executor's cores."""

    model: ResolvedModel
    model_sha256: str
    model_bytes: Any
    batch_size: int
    threads: int | None = None
    model_threads: int | None = None
    #: the input columns returned beside the scores (None: all)
    keep: tuple[str, ...] | None = None
    #: the alert columns are those named ALERT_PREFIX + name ('': the columns themselves)
    alert_prefix: str = ""
    #: why the DataFrame is not an alert table, decided on the driver ('' : it is one)
    problem: str = ""
    #: also return RESULT_ID_COLUMNS, from the scorer's results
    result_ids: bool = False
    #: the Scorer's precision, and the decision thresholds of ``fast`` (None: the defaults)
    precision: str = "exact"
    decision_thresholds: tuple[float, ...] | None = None
    #: the int8 model's bytes (``fast`` only)
    int8_bytes: Any = None

    def key(self, cpus: int) -> tuple:
        """What identifies a Scorer in a worker process (everything but the bytes' carrier)."""
        return (self.model_sha256, self.model.name, self.batch_size, self._threads(self.threads, cpus),
                self._threads(self.model_threads, cpus), self.precision, self.decision_thresholds)

    @staticmethod
    def _threads(value: int | None, cpus: int) -> int:
        return cpus if value is None else value


_SCORERS: dict[tuple, Scorer] = {}
_LOCK = threading.Lock()


def scorer_for(job: ScoringJob, cpus: int = 1) -> Scorer:
    """This process's Scorer for ``job`` (built on first use, then reused by every later task)."""
    key = job.key(cpus)
    with _LOCK:
        scorer = _SCORERS.get(key)
        if scorer is None:
            model = replace(job.model, onnx_path=_model_file(job.model_sha256, job.model_bytes, job.model.name))
            if job.precision == "fast":  # the int8 file too, under the name its card gives it
                int8 = job.model.int8
                model = replace(model, int8=replace(int8, onnx_path=_model_file(
                    int8.sha256, job.int8_bytes, f"{job.model.name} (int8)", int8.onnx_path.name)))
            _, _, batch_size, threads, model_threads, precision, thresholds = key
            # prefetch=0: the worker preprocesses and scores its batches itself (score_batch), so nothing
            # shares the model's cores and its session may spin (btsbot_fast/threads.py)
            scorer = Scorer(model, batch_size=batch_size, threads=threads, intra_op_threads=model_threads,
                            prefetch=0, precision=precision, decision_thresholds=thresholds)
            _SCORERS[key] = scorer
        return scorer


def _model_file(sha256: str, broadcast: Any, what: str, name: str = "model.onnx") -> Path:
    """A broadcast model written once to a local file in a folder named by its sha256 (atomically: several
    worker processes of one executor may write it at the same time)."""
    folder = Path(_scratch_dir()) / f"btsbot-fast-model-{sha256[:16]}"
    path = folder / name
    if path.is_file() and path.stat().st_size > 0:
        return path
    data = broadcast.value
    if hashlib.sha256(data).hexdigest() != sha256:
        raise RuntimeError(f"model {what}: the bytes received differ from the driver's (sha256)")
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, suffix=".part")
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.replace(tmp, path)
    return path


def _scratch_dir() -> str:
    """Spark's per-application files folder on this executor (removed with the application), else the
    system temporary folder."""
    try:
        from pyspark import SparkFiles

        root = SparkFiles.getRootDirectory()
        if root and os.path.isdir(root):
            return root
    except Exception:  # outside Spark, or a worker without the files root set
        pass
    return tempfile.gettempdir()


def _task() -> tuple[int, str]:
    """(CPUs of this task, a source name for its rows)."""
    try:
        from pyspark import TaskContext

        ctx = TaskContext.get()
    except ImportError:
        ctx = None
    if ctx is None:
        return 1, "<arrow>"
    return max(1, int(ctx.cpus())), f"spark:partition-{ctx.partitionId()}"


def score_partition(batches: Iterable[Any], job: ScoringJob) -> Iterator[Any]:
    """The ``mapInArrow`` function: every record batch of a partition, with the score columns appended."""
    cpus, source = _task()
    scorer = scorer_for(job, cpus)
    first = 0
    for batch in batches:
        yield with_score_columns(batch, scorer, keep=job.keep, alert_prefix=job.alert_prefix, problem=job.problem,
                                 source=source, first_index=first, result_ids=job.result_ids)
        first += batch.num_rows


def with_score_columns(batch: Any, scorer: Scorer, *, keep: Sequence[str] | None = None, alert_prefix: str = "",
                       problem: str | None = None, source: str = "<arrow>", first_index: int = 0,
                       result_ids: bool = False) -> Any:
    """The columns ``keep`` of ``batch`` (a pyarrow RecordBatch of alert rows; default: all but the score
    columns) followed by the score columns (OUTPUT_COLUMNS: ``btsbot_score``, ``btsbot_precision``,
    ``btsbot_status``, ``btsbot_error``, ``btsbot_bts_candidate``, ``btsbot_bts_reject``), one value per row.
    The alerts are read from the columns named ``alert_prefix + name`` (default: the columns themselves).
    A table that is not an alert table (``problem``, by default :func:`~btsbot_fast.io.parquet.schema_problem`
    of the alert columns) gives ``unsupported_schema`` rows saying what is missing, as the CLI does for such
    a Parquet file. ``result_ids``: :data:`RESULT_ID_COLUMNS` come before the score columns, as scoring
    read them (what the CLI's rows hold)."""
    import pyarrow as pa

    alerts = batch
    if alert_prefix:  # (with a problem, only the ids may have been sent)
        names = [n for n in batch.schema.names if n.startswith(alert_prefix)]
        alerts = pa.RecordBatch.from_arrays([batch.column(n) for n in names],
                                            names=[n[len(alert_prefix):] for n in names])
    if problem is None:
        problem = schema_problem(alerts.schema)
    if problem:
        results = _unsupported(alerts, batch.num_rows, problem, source, first_index, scorer)
    else:
        results = score_record_batch(alerts, scorer, source=source, first_index=first_index)
    if keep is None:
        keep = [name for name in batch.schema.names if name not in OUTPUT_COLUMNS]
    columns = [*(SPARK_ID_COLUMNS if result_ids else ()), *SPARK_SCORE_COLUMNS]
    arrays = [batch.column(name) for name in keep] + [
        pa.array([getattr(r, c.name.removeprefix(SPARK_PREFIX) if c.role == "result" else c.name) for r in results],
                 type=c.arrow_type(widened=True)) for c in columns]
    return pa.RecordBatch.from_arrays(arrays, names=[*keep, *(RESULT_ID_COLUMNS if result_ids else ()),
                                                     *OUTPUT_COLUMNS])


def score_record_batch(batch: Any, scorer: Scorer, *, source: str = "<arrow>",
                       first_index: int = 0) -> list[ScoreResult]:
    """One :class:`ScoreResult` per row of ``batch`` (an alert table's), in order, scored in slices of
    ``scorer.batch_size``; rows whose columns cannot be read give ``decode_error`` rows."""
    # Only the data's errors make rows; an ImportError (a worker importing the source tree instead of the
    # installed package), a MemoryError or a bug fails the task, as Spark should report it
    from ..prep.arrow import preprocess_arrow

    data_errors = read_errors()
    try:  # the whole batch at once: slices of nested columns cannot be re-typed
        alerts = _conform(batch)
    except data_errors as exc:  # unreadable column values: these rows fail, the task goes on
        return _unreadable(batch.num_rows, exc, source, first_index, scorer)
    out: list[ScoreResult] = []
    for start in range(0, batch.num_rows, scorer.batch_size):
        part = alerts.slice(start, scorer.batch_size)
        try:
            pre = preprocess_arrow(part, scorer.threads, source=source, first_index=first_index + start,
                                   conformed=True)
        except data_errors as exc:
            out.extend(_unreadable(part.num_rows, exc, source, first_index + start, scorer))
            continue
        out.extend(scorer.score_batch(pre))
    return out


def _unsupported(alerts: Any, n: int, problem: str, source: str, first_index: int,
                 scorer: Scorer) -> list[ScoreResult]:
    """The ``n`` rows of a table that is not an alert table, with their objectId/candid as the CLI gives them."""
    names = [c for c in ("objectId", "candid") if c in alerts.schema.names]
    rows = alerts.select(names).to_pylist() if names else [{}] * n
    return [_failed(r.source, r.index, r.status, r.message, scorer, r.objectId, r.candid)
            for r in unsupported_records(source, first_index, rows, problem)]


def _unreadable(n: int, exc: Exception, source: str, first_index: int, scorer: Scorer) -> list[ScoreResult]:
    detail = f"cannot read the alert columns: {exception_detail(exc)}"
    return [_failed(source, first_index + i, Status.DECODE_ERROR, detail, scorer) for i in range(n)]


def _failed(source: str, index: int, status: Status, message: str, scorer: Scorer, object_id: str | None = None,
            candid: int | None = None) -> ScoreResult:
    """The row of a record that was never scored: no candidate was read, so no score and no verdict."""
    return ScoreResult.unscored(status, message, model=scorer.model_name, model_version=scorer.model_version,
                                source=source, record_index=index, objectId=object_id, candid=candid)


def _conform(batch: Any) -> Any:
    """The columns scoring reads, brought back to the ZTF Avro schema's types (the Parquet reader's rules)."""
    return conform(batch.select([c for c in SCORING_COLUMNS if c in batch.schema.names]))

