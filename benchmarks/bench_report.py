#!/usr/bin/env python
"""The night page: how long ``btsbot-fast report`` takes for a night of real alerts.

    python benchmarks/bench_report.py [--alerts 700] [--jobs 2] [--out DIR] [--json results/report.json]

Real packets (``../shared/data/ztf/dev``, then ``../shared/data/parquet/dev`` until --alerts rows) are
scored once with ``btsbot-fast score``; the first --alerts rows of that table are the night. Then
:func:`btsbot_fast.show.night_report` is timed end to end: reading the packets again, preprocessing and
scoring each source's best alert for its pictures, drawing one ``show`` figure and one thumbnail per
source in --jobs processes, writing index.html. Prints wall seconds, CPU seconds (this process and the
drawing processes), sources and pictures.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("BTSBOT_FAST_SHARED", REPO.parent / "shared"))


def _cpu_seconds() -> float:
    """User + system CPU time of this process and its finished children (the drawing processes): the
    cost on a machine shared with other work, where wall time says little."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    ap.add_argument("--alerts", type=int, default=700)
    ap.add_argument("--jobs", type=int, default=len(os.sched_getaffinity(0)))
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()

    from btsbot_fast import Scorer
    from btsbot_fast.show import night_report

    inputs = [SHARED / "data/ztf/dev", SHARED / "data/parquet/dev"]
    work = Path(tempfile.mkdtemp(prefix="bench_report_"))
    table = work / "scores.csv"
    subprocess.run([sys.executable, "-m", "btsbot_fast", "score", *map(str, inputs), "-o", str(table)], check=True)
    with table.open(newline="") as fh:
        rows = list(csv.DictReader(fh))[: args.alerts]
    out = args.out or work / "page"
    cpu0 = _cpu_seconds()
    t0 = time.perf_counter()
    page = night_report(rows, out, alerts=inputs, scorer=Scorer, jobs=args.jobs)
    elapsed = time.perf_counter() - t0
    cpu = _cpu_seconds() - cpu0
    sources = len({r["objectId"] for r in rows if r["objectId"]})
    pictures = len(list((out / "alerts").glob("*.png")))
    model = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")),
                 "?")
    result = {"alerts": len(rows), "sources": sources, "pictures": pictures, "jobs": args.jobs,
              "seconds": round(elapsed, 2), "cpu_seconds": round(cpu, 1), "cores": len(os.sched_getaffinity(0)),
              "cpu": model, "python": platform.python_version(), "page": str(page)}
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
