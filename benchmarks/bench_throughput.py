#!/usr/bin/env python
"""Throughput benchmark: per-stage cost, end-to-end vs model-only, memory and start-up, in one run.

    python benchmarks/bench_throughput.py [--alerts 3000] [--json out.json] [--shared ../shared]

Corpus: the scorable real alerts of ../shared/data/ztf/dev (single-record files), repeated to --alerts.
Everything is measured side by side on the same alerts in the same process (these machines are shared
and noisy: read the ratios). Prints a Markdown table and writes JSON. No assertions: targets are judged
by people reading the numbers (../shared/perf/README.md).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def _timeit(fn, repeat: int = 3) -> float:
    """Best wall time of ``repeat`` runs, in seconds."""
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def load_corpus(shared: Path, n: int) -> list[bytes]:
    """Single-record alert files that preprocess OK, repeated to ``n`` buffers."""
    from btsbot_fast.io import iter_buffers, records_from_buffer
    from btsbot_fast.prep import preprocess_records

    good: list[bytes] = []
    for source, data in iter_buffers([shared / "data" / "ztf" / "dev"]):
        if isinstance(data, Exception):
            continue
        recs = list(records_from_buffer(source, data))
        if len(recs) == 1 and recs[0].ok and preprocess_records(recs, "native").ok.all():
            good.append(data)
    if not good:
        raise SystemExit("no scorable alerts found under " + str(shared))
    return [good[i % len(good)] for i in range(n)]


def stage_costs(buffers: list[bytes], twin_alerts: int) -> dict:
    """µs/alert per stage for the native path and the Python twin (1 thread each)."""
    from btsbot_fast import _core
    from btsbot_fast.io import records_from_buffer
    from btsbot_fast.prep import _gather_native_inputs, reference
    from btsbot_fast.prep.variant import CUTOUT_FIELDS, FEATURE_NAMES

    n = len(buffers)
    out: dict = {"native": {}, "python": {}}

    records = []
    t_decode_py = _timeit(lambda: records.__setitem__(slice(None), [r for b in buffers for r in
                                                                   records_from_buffer("b", b)]), 1)
    active = np.ones(n, dtype=bool)
    stamps, cand, offs, hjd, hmag = _gather_native_inputs(records, active)
    trip = np.empty((n, 63, 63, 3), np.float32)
    meta = np.empty((n, len(FEATURE_NAMES)), np.float32)
    for threads in (1, 2):
        out["native"][f"cutouts_us_{threads}t"] = 1e6 * _timeit(lambda: _core.prepare_triplets(*stamps, trip, threads)) / n
    out["native"]["features_us_1t"] = 1e6 * _timeit(lambda: _core.compute_features(cand, offs, hjd, hmag, meta)) / n
    out["native"]["gather_us"] = 1e6 * _timeit(lambda: _gather_native_inputs(records, active)) / n
    out["native"]["decode_us"] = 1e6 * t_decode_py / n  # fastavro, unless the native reader is built
    out["native"]["decode_impl"] = "fastavro"
    native_decode = _native_decode_cost(buffers)
    if native_decode is not None:
        out["native"].update(native_decode)

    m = min(twin_alerts, n)
    recs = records[:m]
    t0 = time.perf_counter()
    for r in recs:
        reference.triplet([r.record[f]["stampData"] for f in CUTOUT_FIELDS])
    t_cut_py = time.perf_counter() - t0
    t0 = time.perf_counter()
    for r in recs:
        reference.features(r.record["candidate"], r.record.get("prv_candidates"))
    t_feat_py = time.perf_counter() - t0
    out["python"] = {"decode_us": 1e6 * t_decode_py / n, "decode_impl": "fastavro",
                     "cutouts_us": 1e6 * t_cut_py / m, "features_us": 1e6 * t_feat_py / m, "alerts": m}
    nat = out["native"]
    if nat["decode_impl"] == "native":
        # the native reader decodes and preprocesses in one call; its decode share is what remains
        nat["preprocess_us_1t"] = nat["decode_preprocess_us_1t"]
        nat["preprocess_us_2t"] = nat["decode_preprocess_us_2t"]
        nat["decode_us"] = max(nat["preprocess_us_1t"] - nat["cutouts_us_1t"] - nat["features_us_1t"], 0.0)
    else:
        nat["preprocess_us_1t"] = nat["decode_us"] + nat["gather_us"] + nat["cutouts_us_1t"] + nat["features_us_1t"]
    py = out["python"]
    py["preprocess_us"] = py["decode_us"] + py["cutouts_us"] + py["features_us"]
    out["ratio_python_over_native_preprocess"] = py["preprocess_us"] / nat["preprocess_us_1t"]
    return out


def _native_decode_cost(buffers: list[bytes]) -> dict | None:
    """Native Avro scan + decode + preprocess (csrc/avro), if the build has it."""
    from btsbot_fast.prep import native_avro

    if not native_avro.native_available():
        return None
    res = {}
    for threads in (1, 2):
        def run():
            for _ in native_avro.native_batches((("b", b) for b in buffers), 512, threads):
                pass
        res[f"decode_preprocess_us_{threads}t"] = 1e6 * _timeit(run, 2) / len(buffers)
    res["decode_impl"] = "native"
    return res


def model_only(scorer, buffers: list[bytes], batch_size: int) -> dict:
    """Model-only alerts/s: the same ONNX session on the same preprocessed batches."""
    from btsbot_fast.io import records_from_buffer
    from btsbot_fast.prep import preprocess_records

    batch = preprocess_records([r for b in buffers for r in records_from_buffer("b", b)], "native")
    trip, meta = batch.triplets, batch.metadata[:, scorer._features]
    scorer.backend.run(trip[:batch_size], meta[:batch_size])  # warm-up

    def run():
        for s in range(0, len(trip), batch_size):
            scorer.backend.run(trip[s:s + batch_size], meta[s:s + batch_size])

    t = _timeit(run, 2)
    return {"alerts_per_s": len(trip) / t, "us_per_alert": 1e6 * t / len(trip)}


def end_to_end_inprocess(scorer, buffers: list[bytes]) -> dict:
    def run():
        for _ in scorer.score_buffers(buffers):
            pass

    t = _timeit(run, 2)
    return {"alerts_per_s": len(buffers) / t}


def write_night(buffers: list[bytes], path: Path) -> Path:
    with tarfile.open(path, "w") as tar:
        for i, data in enumerate(buffers):
            info = tarfile.TarInfo(f"{i:07d}.avro")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


# Runs the CLI and reports the process's own peak RSS (VmHWM) at exit. Measured inside the child: the
# rusage of a forked child also counts the parent's pages from before its exec.
_CLI_WITH_PEAK_RSS = """
import atexit, sys
def _peak():
    with open("/proc/self/status") as fh:
        kb = next(int(l.split()[1]) for l in fh if l.startswith("VmHWM:"))
    print(f"peak_rss_kb={kb}", file=sys.stderr)
atexit.register(_peak)
from btsbot_fast.cli import main
main(args=sys.argv[1:], prog_name="btsbot-fast")
"""


def cli_run(args: list[str], env: dict) -> dict:
    """Run ``btsbot-fast score`` as a child: wall time, time to first score row, its peak RSS."""
    cmd = [sys.executable, "-c", _CLI_WITH_PEAK_RSS, "score", *args]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    first = None
    rows = 0
    for line in proc.stdout:
        rows += 1
        if rows == 2 and first is None:  # the header, then the first scored row
            first = time.perf_counter() - t0
    err = proc.stderr.read().decode()
    status = proc.wait()
    wall = time.perf_counter() - t0
    if status != 0:
        raise SystemExit(f"btsbot-fast score {' '.join(args)} failed:\n{err}")
    peak = next(int(l.split("=")[1]) for l in err.splitlines() if l.startswith("peak_rss_kb="))
    summary = next(l for l in err.splitlines() if l.startswith("scored "))
    return {"wall_s": wall, "rows": rows - 1, "first_score_s": first, "peak_rss_mb": peak / 1024,
            "alerts_per_s": (rows - 1) / wall, "summary": summary}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--alerts", type=int, default=3000)
    ap.add_argument("--rss-alerts", type=int, nargs=2, default=(1000, 10000), metavar=("SMALL", "LARGE"))
    ap.add_argument("--twin-alerts", type=int, default=500, help="alerts for the (slow) Python twin stages")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--model", default="btsbot-v1.0.1")
    ap.add_argument("--shared", type=Path, default=Path(os.environ.get("BTSBOT_FAST_SHARED", REPO.parent / "shared")))
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()

    from btsbot_fast import Scorer, _core

    buffers = load_corpus(args.shared, args.alerts)
    scorer = Scorer(args.model, batch_size=args.batch_size)
    result = {
        "machine": {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
                    "python": platform.python_version(), "inflater": _core.inflater},
        "alerts": len(buffers),
        "batch_size": args.batch_size,
        "stages": stage_costs(buffers, args.twin_alerts),
        "model_only": model_only(scorer, buffers, args.batch_size),
        "end_to_end_inprocess": end_to_end_inprocess(scorer, buffers),
    }
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ)
        night = write_night(buffers, Path(tmp) / "night.tar")
        result["end_to_end_cli"] = cli_run([str(night), "--model", args.model,
                                            "--batch-size", str(args.batch_size)], env)
        rss = {}
        for n in args.rss_alerts:
            night_n = write_night([buffers[i % len(buffers)] for i in range(n)], Path(tmp) / f"n{n}.tar")
            rss[str(n)] = cli_run([str(night_n), "--model", args.model], env)["peak_rss_mb"]
            night_n.unlink()
        result["peak_rss_mb_by_alerts"] = rss
    mo = result["model_only"]["alerts_per_s"]
    result["ratio_end_to_end_over_model_only"] = result["end_to_end_inprocess"]["alerts_per_s"] / mo
    result["ratio_cli_over_model_only"] = result["end_to_end_cli"]["alerts_per_s"] / mo
    print(render_table(result))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2))


def render_table(r: dict) -> str:
    s, nat, py = r["stages"], r["stages"]["native"], r["stages"]["python"]
    cores = r["machine"]["cores"]
    mo = r["model_only"]
    lines = [
        f"alerts: {r['alerts']}, batch {r['batch_size']}, {cores} cores, inflater {r['machine']['inflater']}, "
        f"native decoder: {nat['decode_impl']}",
        "",
        "| stage, µs/alert (1 thread) | native | python twin | twin / native |",
        "|---|---:|---:|---:|",
        f"| Avro decode ({nat['decode_impl']} / fastavro) | {nat['decode_us']:.0f} | {py['decode_us']:.0f} | "
        f"{py['decode_us'] / max(nat['decode_us'], 1e-9):.0f}× |",
        f"| cutouts (gzip + FITS + normalise) | {nat['cutouts_us_1t']:.0f} | {py['cutouts_us']:.0f} | "
        f"{py['cutouts_us'] / nat['cutouts_us_1t']:.0f}× |",
        f"| features | {nat['features_us_1t']:.2f} | {py['features_us']:.1f} | "
        f"{py['features_us'] / nat['features_us_1t']:.0f}× |",
        f"| **preprocessing total** | **{nat['preprocess_us_1t']:.0f}** | **{py['preprocess_us']:.0f}** | "
        f"**{s['ratio_python_over_native_preprocess']:.1f}×** |",
        f"| model (ONNX Runtime, {cores} threads, batch {r['batch_size']}), core-µs per alert | "
        f"{mo['us_per_alert'] * cores:.0f} | | |",
        "",
        "| throughput | alerts/s | alerts/s/core | vs model-only |",
        "|---|---:|---:|---:|",
        f"| native preprocessing alone, {cores} threads | {1e6 / nat.get('preprocess_us_2t', nat['preprocess_us_1t']):.0f} | "
        f"{1e6 / nat.get('preprocess_us_2t', nat['preprocess_us_1t']) / cores:.0f} | |",
        f"| model only (same session, same batches) | {mo['alerts_per_s']:.0f} | {mo['alerts_per_s'] / cores:.0f} | 1.00 |",
        f"| end to end, `Scorer.score_buffers` | {r['end_to_end_inprocess']['alerts_per_s']:.0f} | "
        f"{r['end_to_end_inprocess']['alerts_per_s'] / cores:.0f} | {r['ratio_end_to_end_over_model_only']:.2f} |",
        f"| end to end, `btsbot-fast score night.tar` (process start included) | "
        f"{r['end_to_end_cli']['alerts_per_s']:.0f} | {r['end_to_end_cli']['alerts_per_s'] / cores:.0f} | "
        f"{r['ratio_cli_over_model_only']:.2f} |",
        "",
        f"time to first score (CLI, cold process): {r['end_to_end_cli']['first_score_s']:.2f} s; "
        "peak RSS of `btsbot-fast score` by alerts: "
        + ", ".join(f"{k}: {v:.0f} MB" for k, v in r["peak_rss_mb_by_alerts"].items()),
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
