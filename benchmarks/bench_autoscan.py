#!/usr/bin/env python
"""Autoscan state throughput: how much a night of result rows costs on top of scoring them.

    python benchmarks/bench_autoscan.py [--alerts 100000] [--policy bts_p1] [--postgres postgresql://...]

A synthetic night (--alerts rows over alerts/3 sources, scores ~ Beta(0.4, 1.2), magpsf 16.5-20.5) goes
through ``Autoscan.process`` in batches of 1000 rows (what ``btsbot-fast autoscan`` does), without
SkyPortal: it measures the state (insert, lock, history, decide) alone. Then the same night again (a
replay: every row already seen). With --postgres, the same on a PostgreSQL database (it must be empty or
hold only earlier runs of this benchmark: tables are dropped first). Prints rows/s and µs per row; compare
with the scoring cost per alert (benchmarks/bench_throughput.py).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from btsbot_fast.autoscan import Autoscan, AutoscanConfig

BATCH = 1000


def night(n: int, seed: int = 0) -> list[dict]:
    rng = np.random.default_rng(seed)
    oid = rng.integers(0, max(n // 3, 1), n)
    jd = 2460512.65 + np.sort(rng.random(n)) * 0.35
    score = rng.beta(0.4, 1.2, n)
    mag = rng.uniform(16.5, 20.5, n)
    return [{"objectId": f"ZTF24{o:07d}", "candid": 2_700_000_000_000_000_000 + i, "jd": float(jd[i]),
             "magpsf": float(mag[i]), "fid": 1 + i % 2, "score": float(score[i]), "status": "ok"}
            for i, o in enumerate(oid)]


def run(state: str, rows: list[dict], policy: str) -> dict:
    out = {}
    for label in ("first pass", "replay"):
        with Autoscan(AutoscanConfig(policy=policy, state=state)) as scan:
            t = time.perf_counter()
            for s in range(0, len(rows), BATCH):
                scan.process(rows[s:s + BATCH])
            dt = time.perf_counter() - t
            out[label] = {"seconds": round(dt, 3), "rows_per_s": round(len(rows) / dt),
                          "us_per_row": round(dt / len(rows) * 1e6, 1), "decisions": sum(scan.stats.decisions.values())}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--alerts", type=int, default=100_000)
    ap.add_argument("--policy", default="bts_p1")
    ap.add_argument("--postgres", default=None, help="postgresql:// URL of a scratch database")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    rows = night(args.alerts)
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        results["sqlite"] = run(str(Path(tmp) / "state.sqlite"), rows, args.policy)
    if args.postgres:
        import psycopg

        with psycopg.connect(args.postgres, autocommit=True) as db:
            for table in ("dead_letters", "actions", "decisions", "alerts", "sources", "meta"):
                db.execute(f"DROP TABLE IF EXISTS {table}")
        results["postgres"] = run(args.postgres, rows, args.policy)
    print(f"autoscan state, {args.alerts} rows, policy {args.policy}, batches of {BATCH}")
    print("| state | pass | s | rows/s | µs/row | decisions |\n|---|---|---|---|---|---|")
    for store, passes in results.items():
        for label, r in passes.items():
            print(f"| {store} | {label} | {r['seconds']} | {r['rows_per_s']:,} | {r['us_per_row']} "
                  f"| {r['decisions']} |")
    if args.json:
        args.json.write_text(json.dumps({"alerts": args.alerts, "policy": args.policy, "results": results}, indent=2))


if __name__ == "__main__":
    main()
