"""How many threads each part uses: decided here, and nowhere else.

``cores`` = the CPUs this process may run on (its scheduler affinity, so containers and ``taskset`` are
respected). The rule keeps the defaults from ever running more busy threads than cores:

- native preprocessing (the C++ thread pool, created once per process and reused): ``--threads``, else
  ``cores``;
- ONNX Runtime intra-op threads: ``--model-threads``, else ``cores`` on the CPU, 1 with a GPU provider;
- scoring with the model on the CPU: a background thread preprocesses up to :data:`CPU_PREFETCH`
  batches ahead at the lowest scheduling priority (niceness :data:`YIELDING_NICE`, Linux; the native
  helpers it calls take the same priority, csrc/pool.cpp), and ONNX Runtime's threads do not spin while
  they wait. Both parts are compute-bound, so preprocessing must not take cores from the model: at the
  lowest priority it runs on the cycles the model leaves idle (its serial steps, its threads waiting for
  each other) and otherwise waits. Measured in-process on 7,000 dev alerts, 2-core Zen 3: 268 alerts/s
  taking turns, 272-285 yielding (benchmarks/bench_throughput.py measures it end to end);
- scoring with a GPU provider: a prefetch thread preprocesses up to :data:`GPU_PREFETCH` batches ahead
  on all cores, at normal priority, while the GPU scores the current one.
Explicit ``threads``, ``model_threads`` and ``prefetch`` values always win.
"""

from __future__ import annotations

import logging
import os
import queue
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

#: batches preprocessed ahead while a GPU scores
GPU_PREFETCH = 2
#: batches preprocessed ahead, at the lowest priority, while the model scores on the CPU
CPU_PREFETCH = 2
#: the niceness of preprocessing that yields the cores to a model on the CPU (19: the lowest priority)
YIELDING_NICE = 19


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
    prefetch_nice: int = 0  # the background thread's niceness (0: unchanged; YIELDING_NICE on the CPU)

    @property
    def model_may_spin(self) -> bool:
        """Whether ONNX Runtime's threads may spin between runs: not while yielding preprocessing runs
        beside them on the same cores (it would get none of the cycles it is meant to use)."""
        return not (self.prefetch and self.prefetch_nice)


def plan(*, threads: int = 0, model_threads: int = 0, prefetch: int | None = None, scoring: bool = False,
         model_on_cpu: bool = True) -> ThreadPlan:
    """The thread counts for a run (module docstring); 0 / None mean "decide"."""
    cores = available_cores()
    native = native_threads(threads)
    if not scoring:
        return ThreadPlan(native, 0, 0)
    model = model_threads if model_threads > 0 else (cores if model_on_cpu else 1)
    if prefetch is None:
        prefetch = CPU_PREFETCH if model_on_cpu else GPU_PREFETCH
    return ThreadPlan(native, model, max(0, prefetch), YIELDING_NICE if model_on_cpu else 0)


def native_threads(threads: int = 0) -> int:
    """Threads of a native preprocessing call: ``threads`` when positive, else every core."""
    return threads if threads > 0 else available_cores()


log = logging.getLogger(__name__)

_DONE = object()


def lower_thread_priority(nice: int) -> bool:
    """Lower the calling thread's scheduling priority to niceness ``nice`` (Linux, where niceness is per
    thread; elsewhere it would apply to the whole process, so nothing is done). Whether it was lowered."""
    if nice <= 0 or not sys.platform.startswith("linux"):
        return False
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), nice)
    except OSError as exc:  # a sandbox may forbid it: then preprocessing runs at normal priority
        log.debug("cannot lower the preprocessing thread's priority: %s", exc)
        return False
    return True


def prefetched(items: Iterator[Any], depth: int, nice: int = 0) -> Iterator[Any]:
    """Run ``items`` in a background thread, keeping at most ``depth`` finished batches in memory; with
    ``nice`` > 0 that thread (and the native helpers it calls) runs at that lower priority."""
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
        lower_thread_priority(nice)
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


__all__ = ["CPU_PREFETCH", "GPU_PREFETCH", "YIELDING_NICE", "ThreadPlan", "available_cores", "lower_thread_priority",
           "native_threads", "plan", "prefetched"]
