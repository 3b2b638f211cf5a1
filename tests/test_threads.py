"""The thread plan (btsbot_fast/threads.py) and the priority of preprocessing that yields the cores to a
model on the CPU: the background thread and the native helpers working for it run at niceness 19,
measured from /proc, in fresh processes (the native pool is per process)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from btsbot_fast import threads
from conftest import SAMPLE

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread niceness is Linux's")


def test_plan_cpu_and_gpu():
    cpu = threads.plan(scoring=True, model_on_cpu=True)
    assert (cpu.prefetch, cpu.prefetch_nice) == (threads.CPU_PREFETCH, threads.YIELDING_NICE) and cpu.prefetch > 0
    assert cpu.model == threads.available_cores() and not cpu.model_may_spin
    gpu = threads.plan(scoring=True, model_on_cpu=False)
    assert (gpu.prefetch, gpu.prefetch_nice, gpu.model) == (threads.GPU_PREFETCH, 0, 1)
    alone = threads.plan(scoring=True, prefetch=0)
    assert alone.prefetch == 0 and alone.model_may_spin
    assert gpu.model_may_spin
    p = threads.plan(scoring=True, prefetch=3, threads=1, model_threads=2)
    assert (p.native, p.model, p.prefetch) == (1, 2, 3)
    assert threads.plan().prefetch == 0  # preprocessing alone: no model to yield to


def _run(code: str, cwd) -> str:
    # a fresh process: the native pool's threads are created there, and nothing else changed priorities;
    # run outside the checkout, whose bare sources (no built extension) `python -c` would import first
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=300,
                          cwd=cwd)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


NICE_OF_THREADS = """
    import os, threading
    def nices():
        out = {}
        for tid in os.listdir("/proc/self/task"):
            with open(f"/proc/self/task/{tid}/stat") as f:
                out[int(tid)] = int(f.read().rsplit(")", 1)[1].split()[16])
        return out
"""


@linux_only
def test_native_helpers_take_on_a_yielding_callers_priority(tmp_path):
    """Helpers created by a normal-priority call run at 0; when a niceness-19 thread calls with helpers,
    those helpers lower themselves to 19 while working for it, and stay there (raising needs privilege)."""
    out = _run(NICE_OF_THREADS + f"""
    import threading
    from btsbot_fast import threads
    from btsbot_fast._core import _testing as testing
    from btsbot_fast.prep import path_batches
    def work():
        for _ in path_batches([{str(SAMPLE / "ztf")!r}], 16, "native", 2):
            pass
    work()  # main thread, niceness 0: the pool's helper starts at 0
    assert testing.pool_threads() >= 1
    before = nices()
    def yielding():
        assert threads.lower_thread_priority(threads.YIELDING_NICE)
        work()
    t = threading.Thread(target=yielding)
    t.start(); t.join()
    after = nices()
    helpers = [tid for tid in before if tid != threading.get_native_id()]
    import json
    print(json.dumps({{"before": [before[h] for h in helpers], "after": [after[h] for h in helpers if h in after],
                      "main": after[threading.get_native_id()]}}))
    """, tmp_path)
    got = json.loads(out)
    assert got["main"] == 0, got  # the caller's own thread is untouched
    assert got["before"] and 19 not in got["before"], got  # helpers started at normal priority
    assert 19 in got["after"], got  # the helper that worked for the yielding thread took its priority


@linux_only
def test_scoring_on_the_cpu_preprocesses_at_the_lowest_priority(tmp_path):
    """A Scorer on the CPU runs its preprocessing thread (and so the native helpers it calls) at niceness 19
    while the main thread, which runs the model, stays at 0; the scores are those of prefetch=0."""
    out = _run(NICE_OF_THREADS + f"""
    import threading
    from btsbot_fast import Scorer, threads
    seen = set()
    paths = [{str(SAMPLE / "ztf")!r}]
    s = Scorer(batch_size=8)
    assert s.prefetch == threads.CPU_PREFETCH and s.plan.prefetch_nice == 19
    rows = []
    for r in s.score_files(paths):
        seen.update(v for tid, v in nices().items() if tid != threading.get_native_id())
        rows.append((r.candid, r.status, r.score))
    base = [(r.candid, r.status, r.score) for r in Scorer(batch_size=8, prefetch=0).score_files(paths)]
    import json
    print(json.dumps({{"seen": sorted(seen), "main": nices()[threading.get_native_id()], "same": rows == base,
                      "n": len(rows)}}))
    """, tmp_path)
    got = json.loads(out)
    assert 19 in got["seen"] and got["main"] == 0 and got["same"] and got["n"] > 8, got
