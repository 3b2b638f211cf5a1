"""How many threads each part uses: decided here, and nowhere else.

``cores`` = the CPUs this process may run on (its scheduler affinity, so containers and ``taskset`` are
respected). The rule keeps the defaults from ever running more busy threads than cores:

- native preprocessing (the C++ thread pool, created once per process and reused): ``--threads``, else
  ``cores``;
- ONNX Runtime intra-op threads: ``--model-threads``, else ``cores`` on the CPU, 1 with a GPU provider;
- scoring with the model on the CPU: preprocessing and the model take turns (no prefetch thread), each
  with all cores: both are compute-bound, and preprocessing is ~4% of the model's work, so overlapping
  them could only make the two fight over the same cores;
- scoring with a GPU provider: a prefetch thread preprocesses up to 2 batches ahead on all cores while
  the GPU scores the current one.

Explicit ``threads``, ``model_threads`` and ``prefetch`` values always win.
"""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

#: batches preprocessed ahead while a GPU scores
GPU_PREFETCH = 2


def available_cores() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


@dataclass(frozen=True)
class ThreadPlan:
    native: int  # threads of one native preprocessing call
    model: int  # ONNX Runtime intra-op threads (0: no model)
    prefetch: int  # batches preprocessed ahead on a background thread (0: none)


def plan(*, threads: int = 0, model_threads: int = 0, prefetch: int | None = None, scoring: bool = False,
         model_on_cpu: bool = True) -> ThreadPlan:
    """The thread counts for a run (module docstring); 0 / None mean "decide"."""
    cores = available_cores()
    native = native_threads(threads)
    if not scoring:
        return ThreadPlan(native, 0, 0)
    model = model_threads if model_threads > 0 else (cores if model_on_cpu else 1)
    if prefetch is None:
        prefetch = 0 if model_on_cpu else GPU_PREFETCH
    return ThreadPlan(native, model, max(0, prefetch))


def native_threads(threads: int = 0) -> int:
    """Threads of a native preprocessing call: ``threads`` when positive, else every core."""
    return threads if threads > 0 else available_cores()


_DONE = object()


def prefetched(items: Iterator[Any], depth: int) -> Iterator[Any]:
    """Run ``items`` in a background thread, keeping at most ``depth`` finished batches in memory."""
    q: queue.Queue[Any] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item: Any) -> bool:
        while not stop.is_set():
            try:
                q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put(item):
                    return
            put(_DONE)
        except BaseException as exc:  # re-raised in the consumer
            put(exc)

    worker = threading.Thread(target=produce, name="btsbot-fast-prep", daemon=True)
    worker.start()
    try:
        while True:
            item = q.get()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        worker.join(timeout=5)


__all__ = ["GPU_PREFETCH", "ThreadPlan", "available_cores", "native_threads", "plan", "prefetched"]
