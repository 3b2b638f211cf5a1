"""Scorer: alert files -> batches -> ONNX Runtime -> one result per alert record, in input order."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import replace

import numpy as np

from . import registry
from . import threads as thread_rule
from .io import AlertRecord
from .precision import FP32, INT8, Screening, check_precision
from .prep import Batch, batches, buffer_batches, path_batches, require_engine
from .prep.bts import describe_all
from .prep.variant import STAMP_SIZE, VARIANT
from .rows import ScoreResult, candidate_values
from .status import Status
from .threads import prefetched

DEFAULT_MODEL = "btsbot-v1.0.1"
# batch 64 scores as fast as 256 on CPU (ONNX Runtime is compute-bound per alert) with a third of the
# memory and a faster first score (benchmarks/bench_throughput.py; 2-core Zen 3)
DEFAULT_BATCH_SIZE = 64


class Scorer:
    """Score ZTF alerts with a BTSbot model.

    The ONNX Runtime session is created once, when the scorer is; every ``score_*`` method then reads,
    preprocesses and scores in batches of ``batch_size``. One scorer serves ``score``, ``stream``,
    ``autoscan`` and Spark alike.

    Parameters
    ----------
    model : str or path-like, default ``"btsbot-v1.0.1"``
        A registry name (``btsbot-v1.0.1``, or the family alias ``btsbot``), an ``.onnx`` file (with a
        ``model_card.json`` beside it) or a training run directory. The official model ships with the
        package.
    engine : {"native", "python"}, default ``"native"``
        Preprocessing in the C++ core, or the pure-Python twin (needs astropy, the ``[reference]``
        extra).
    batch_size : int, default 64
        Alerts per model call.
    threads : int, default 0
        Native preprocessing threads; 0 decides (every core the process may run on; btsbot_fast/threads.py).
    intra_op_threads : int, default 0
        ONNX Runtime intra-op threads; 0 decides (every core, 1 with a GPU provider).
    prefetch : int or None, default None
        Batches preprocessed ahead on a background thread; None decides (2; on the CPU that thread runs
        at the lowest priority, so that it only uses the cycles the model leaves idle: threads.py).
    home : str or path-like or None, default None
        The model cache (default ``$BTSBOT_FAST_HOME``, else the user cache directory).
    device : {"cpu", "cuda", "tensorrt"}, default ``"cpu"``
        Where the model runs. ``device_id`` picks the GPU; ``fp16`` lets TensorRT use half precision
        (its engines are cached under ``<model home>/tensorrt``).
    device_id : int, default 0
        The GPU, for ``cuda`` and ``tensorrt``.
    fp16 : bool, default False
        Let TensorRT use half precision.
    max_inflight_bytes : int or None, default None
        A cap on the bytes the native reader holds at once in any one call (default 256 MiB;
        btsbot_fast/prep/native_avro.py).
    precision : {"exact", "fast"}, default ``"exact"``
        ``exact``: every score from the fp32 model. ``fast``: scores from the model's int8 screening
        model, except those within its margin of any of ``decision_thresholds``, which are re-scored with
        the fp32 model (btsbot_fast/precision.py). ``fast`` runs on the CPU and needs a model with an
        int8 section (the shipped official model has one; others: ``btsbot-fast models quantize``).
    decision_thresholds : iterable of float or None, default None
        The thresholds ``fast`` keeps every decision at (default 0.5 and 0.85).

    Raises
    ------
    btsbot_fast.backends.DeviceUnavailableError
        The device cannot be used; a scorer never falls back to the CPU silently.
    btsbot_fast.registry.ModelCardError
        ``precision="fast"`` with a model that has no int8 screening model.
    ValueError
        Options that cannot go together (``precision="fast"`` on a GPU, ``batch_size < 1``, a model for
        another preprocessing variant).

    Examples
    --------
    >>> from btsbot_fast import Scorer
    >>> scorer = Scorer("btsbot-v1.0.1", batch_size=64)
    >>> for r in scorer.score_files(["night.tar.gz", "alerts/"]):  # doctest: +SKIP
    ...     print(r.objectId, r.candid, r.score, r.status, r.error)
    """

    def __init__(self, model: str | os.PathLike[str] = DEFAULT_MODEL, *, engine: str = "native",
                 batch_size: int = DEFAULT_BATCH_SIZE, threads: int = 0, intra_op_threads: int = 0,
                 prefetch: int | None = None, home: str | os.PathLike[str] | None = None, device: str = "cpu",
                 device_id: int = 0, fp16: bool = False, max_inflight_bytes: int | None = None,
                 precision: str = "exact", decision_thresholds: Iterable[float] | None = None):
        require_engine(engine)
        check_precision(precision)
        if precision == "fast" and device != "cpu":
            raise ValueError(f"precision 'fast' runs the int8 model on the CPU; it cannot be combined with "
                             f"device {device!r}")
        if batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        self.resolved = registry.resolve(model, home=home)
        if self.resolved.variant != VARIANT:
            raise ValueError(f"model {self.resolved.name} needs preprocessing variant {self.resolved.variant!r}; "
                             f"this scorer implements {VARIANT!r}")
        self.engine = engine
        self.batch_size = batch_size
        self.max_inflight_bytes = max_inflight_bytes
        self._features = np.asarray(self.resolved.feature_indices, dtype=np.intp)
        self.device = device
        # the device decides whether preprocessing and the model share the cores (threads.py)
        self.plan = thread_rule.plan(threads=threads, model_threads=intra_op_threads, prefetch=prefetch,
                                     scoring=True, model_on_cpu=device == "cpu")
        self.threads = self.plan.native
        self.prefetch = self.plan.prefetch
        engine_cache = registry.model_home(home) / "tensorrt" if device == "tensorrt" else None
        # ONNX Runtime's threads spinning after a run would hold cores others need: in fast mode the other
        # session's (model-only ~1.3x slower with spinning on; benchmarks/bench_throughput.py
        # --only-precision), on the CPU the yielding preprocessing thread's (threads.py)
        spinning = precision != "fast" and self.plan.model_may_spin
        self.backend = self.resolved.backend(intra_op_threads=self.plan.model, device=device, device_id=device_id,
                                             fp16=fp16, engine_cache=engine_cache, max_batch=batch_size,
                                             spinning=spinning)
        self.precision = precision
        #: the int8 screen with exact re-scoring near the thresholds (``precision="fast"``), else None
        self.screening: Screening | None = None
        if precision == "fast":
            self.screening = self._screening(decision_thresholds)

    def _screening(self, thresholds: Iterable[float] | None) -> Screening:
        int8 = self.resolved.int8
        if int8 is None:
            raise registry.ModelCardError(f"model {self.resolved.name} has no int8 screening model for precision "
                                          f"'fast'; derive one: btsbot-fast models quantize {self.resolved.name}")
        screen = replace(self.resolved, onnx_path=int8.checked_path()).backend(intra_op_threads=self.plan.model,
                                                                               spinning=False)
        return Screening(screen, self.backend, int8.margin, thresholds)

    @property
    def decision_thresholds(self) -> tuple[float, ...] | None:
        """The thresholds near which ``fast`` re-scores exactly (None in the exact mode)."""
        return None if self.screening is None else tuple(self.screening.thresholds.tolist())

    def _run(self, triplets: np.ndarray, metadata: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """Scores of one model call's inputs, and which are the exact model's (None: all of them)."""
        if self.screening is None:
            return self.backend.run(triplets, metadata), None
        return self.screening.run(triplets, metadata)

    @property
    def model_name(self) -> str:
        """The model's name (``btsbot-v1.0.1``), as every result records it."""
        return self.resolved.name

    @property
    def model_version(self) -> str:
        """The model's version (``1.0.1``)."""
        return self.resolved.version

    @property
    def feature_names(self) -> tuple[str, ...]:
        """The metadata features this model takes, in its input order (``score_arrays``' columns)."""
        return self.resolved.feature_names

    # --- already-preprocessed inputs -------------------------------------------------------------
    def score_arrays(self, triplets: np.ndarray, metadata: np.ndarray) -> np.ndarray:
        """Scores for inputs already preprocessed.

        Parameters
        ----------
        triplets : numpy.ndarray
            (N, 63, 63, 3) float32: science, template and difference cutouts as the model sees them.
        metadata : numpy.ndarray
            (N, F) float32: this model's own features (``feature_names``), in that order.

        Returns
        -------
        numpy.ndarray
            (N,) float32 scores. With ``precision="fast"``, the fast mode's scores (int8, exact near the
            decision thresholds).

        Raises
        ------
        ValueError
            An array of the wrong shape.
        """
        triplets = np.ascontiguousarray(triplets, dtype=np.float32)
        metadata = np.ascontiguousarray(metadata, dtype=np.float32)
        if triplets.ndim != 4 or triplets.shape[1:] != (STAMP_SIZE, STAMP_SIZE, 3):
            raise ValueError(f"triplets must have shape (N, 63, 63, 3), got {triplets.shape}")
        if metadata.ndim != 2 or metadata.shape != (len(triplets), len(self._features)):
            raise ValueError(f"metadata must have shape (N, {len(self._features)}) "
                             f"({', '.join(self.feature_names)}), got {metadata.shape}")
        out = np.empty(len(triplets), dtype=np.float32)
        for start in range(0, len(triplets), self.batch_size):
            stop = start + self.batch_size
            out[start:stop] = self._run(triplets[start:stop], metadata[start:stop])[0]
        return out

    # --- alert records ---------------------------------------------------------------------------
    def score_batch(self, batch: Batch) -> list[ScoreResult]:
        """Score one preprocessed batch (a :class:`btsbot_fast.prep.Batch`).

        Returns
        -------
        list of ScoreResult
            One per record of the batch, in its order; failed rows get their status and no score.

        Raises
        ------
        btsbot_fast.backends.ModelRunError
            ONNX Runtime failed on the batch (a broken provider, a CUDA failure): nothing of it is a row.
        """
        scores: dict[int, float] = {}
        exact: np.ndarray | None = None
        status = batch.status.copy()
        messages = list(batch.messages)
        ok = np.flatnonzero(status == Status.OK)
        if len(ok):
            # ONNX Runtime failing on the batch (ModelRunError: a broken runtime, not bad alerts) stops the run
            values, exact = self._run(batch.triplets[ok], batch.metadata[ok][:, self._features])
            scores = dict(zip(ok.tolist(), values.tolist()))
            for i in ok[~np.isfinite(values)]:  # e.g. an inf feature: never report NaN as a score
                del scores[int(i)]
                status[i] = Status.MODEL_ERROR
                messages[i] = "model returned a non-finite score (non-finite input values?)"
        precision = {i: FP32 for i in scores}
        if exact is not None:
            precision.update((int(i), INT8) for i in ok[~exact] if int(i) in scores)
        info = np.where(np.isnan(batch.info), None, batch.info).tolist()  # NaN -> None, floats as Python floats
        verdicts = describe_all(batch.bts)
        return [
            ScoreResult(objectId=rec.objectId, candid=rec.candid, **candidate_values(values), score=scores.get(i),
                        precision=precision.get(i), status=Status(int(status[i])).label, error=messages[i],
                        bts_candidate=candidate, bts_reject=reject, model=self.model_name,
                        model_version=self.model_version, source=rec.source, record_index=rec.index)
            for i, (rec, values, (candidate, reject)) in enumerate(zip(batch.records, info, verdicts))
        ]

    def _pipelined(self, items: Iterator[Batch]) -> Iterator[Batch]:
        return prefetched(items, self.prefetch, self.plan.prefetch_nice) if self.prefetch else items

    def _score_batches(self, items: Iterator[Batch]) -> Iterator[ScoreResult]:
        for batch in self._pipelined(items):
            yield from self.score_batch(batch)

    def score_records(self, records: Iterable[AlertRecord]) -> Iterator[ScoreResult]:
        """Score records already decoded.

        Parameters
        ----------
        records : iterable of btsbot_fast.io.AlertRecord
            E.g. from ``btsbot_fast.io.read_alerts``.

        Returns
        -------
        iterator of ScoreResult
            One per record, in input order.
        """
        return self._score_batches(batches(records, self.batch_size, self.engine, self.threads))

    def score_files(self, paths: Iterable[str | os.PathLike[str]]) -> Iterator[ScoreResult]:
        """Score alert files: what ``btsbot-fast score PATH...`` does.

        Parameters
        ----------
        paths : iterable of str or path-like
            ``.avro`` files (one or many records), directories (searched recursively), ``.tar`` /
            ``.tar.gz`` nights (streamed, never extracted) and Parquet alert tables (the ``[parquet]``
            extra).

        Returns
        -------
        iterator of ScoreResult
            One per alert record, in input order, also for records that fail (a corrupt file is one
            ``decode_error`` result naming it). With the native engine, Avro bytes are decoded in C++.
        """
        return self._score_batches(path_batches(paths, self.batch_size, self.engine, self.threads,
                                                max_inflight_bytes=self.max_inflight_bytes))

    def score_buffers(self, buffers: Iterable[bytes], source: str = "<buffer>") -> Iterator[ScoreResult]:
        """Score Avro container byte strings, e.g. Kafka message values (one alert each).

        Parameters
        ----------
        buffers : iterable of bytes
            Avro object container files in memory.
        source : str, default ``"<buffer>"``
            Each result's ``source`` is ``source[i]``, ``i`` the buffer's index.

        Returns
        -------
        iterator of ScoreResult
            One per alert record, in input order.
        """
        return self.score_named_buffers((f"{source}[{i}]", data) for i, data in enumerate(buffers))

    def score_named_buffers(self, buffers: Iterable[tuple[str, bytes]]) -> Iterator[ScoreResult]:
        """Score Avro container buffers under names of the caller's choosing.

        Parameters
        ----------
        buffers : iterable of (str, bytes)
            ``(source, bytes)`` pairs; the stream names them ``topic[partition]@offset``.

        Returns
        -------
        iterator of ScoreResult
            One per alert record, in input order; each result's ``source`` is its buffer's name.
        """
        return self._score_batches(buffer_batches(buffers, self.batch_size, self.engine, self.threads,
                                                  max_inflight_bytes=self.max_inflight_bytes))


__all__ = ["DEFAULT_MODEL", "ScoreResult", "Scorer"]
