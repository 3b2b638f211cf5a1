#!/usr/bin/env python
"""Throughput benchmark: per-stage cost, preprocessing as users run it against a plain fastavro + astropy
script, Python-held (GIL) time, thread scaling, inflaters, end-to-end vs model-only, memory and start-up,
in one run.

    python benchmarks/bench_throughput.py [--alerts 3000] [--night 7000] [--json out.json] [--shared ../shared]
    python benchmarks/bench_throughput.py --only-precision [--night 7000] [--json out.json]

``--precision fast`` against the exact mode (``--only-precision`` runs this part alone): ``btsbot-fast score``
on the same --night alerts as one ``.tar`` (the runs interleaved, best of --precision-repeat each), the
model alone (fp32 session, int8 session, and the fast mode's int8 screen with its fp32 re-scoring, on the
same preprocessed batches), the fraction of alerts re-scored, the decisions flipped (must be 0) and the
largest |fast - exact| score difference, with the CPU's model and the flags that decide int8 speed; then
the same on a threshold-heavy night (as many alerts, a quarter of them dev alerts whose exact score lies
within 0.1 of 0.5 or 0.85), and ``score``'s exact alerts/s against the fp32 model alone.

Corpus: the scorable real alerts of ../shared/data/ztf/dev (single-record files), repeated. Everything is
measured side by side on the same alerts in the same run (these machines are shared and noisy: read the
ratios). Prints Markdown tables and writes JSON. No assertions: targets are judged by people reading the
numbers (../shared/perf/README.md).

"As users run it": a night of --night one-alert ``.avro`` files in a directory (how IPAC's nightly archives
hold them) and the same night as one ``.tar.gz``; ``btsbot-fast preprocess`` (a whole process, writing the
.npz) against benchmarks/baseline_fastavro_astropy.py doing the same work, each timed as a child process.

GIL time: the preprocessing is run in this process on the main thread alone (no prefetch thread), and the
main thread's user-mode CPU time outside the GIL-free native calls is counted (``_core.native_cpu_seconds``:
each native call adds the user and system CPU time its calling thread spent inside it, with the GIL
released; ``getrusage(RUSAGE_THREAD)`` gives the thread's totals). Native worker threads never run Python,
so this is the CPU time spent running Python code (which needs the GIL). Kernel time outside native calls
is reported beside it: mostly write(2) of the .npz, which CPython makes with the GIL released. Reported
with and without writing the .npz.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import zlib
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
BASELINE = REPO / "benchmarks" / "baseline_fastavro_astropy.py"


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


# ---- per stage -------------------------------------------------------------------------------------------


def stage_costs(buffers: list[bytes], twin_alerts: int) -> dict:
    """µs/alert per stage for the native path and the Python twin (1 thread unless said)."""
    from btsbot_fast import _core
    from btsbot_fast.io import records_from_buffer
    from btsbot_fast.prep import reference
    from btsbot_fast.prep.gather import columns_from_records
    from btsbot_fast.prep.native_avro import buffer_batches
    from btsbot_fast.prep.variant import CUTOUT_FIELDS, FEATURE_NAMES

    n = len(buffers)
    records = []
    t_decode_py = _timeit(lambda: records.__setitem__(slice(None), [r for b in buffers for r in
                                                                   records_from_buffer("b", b)]), 1)
    cols = columns_from_records(records)
    trip = np.empty((n, 63, 63, 3), np.float32)
    meta = np.empty((n, len(FEATURE_NAMES)), np.float32)
    nat: dict = {}
    for threads in (1, 2):
        def cutouts(threads=threads):
            _core._testing.prepare_triplets(*cols.stamps, trip, threads)
        nat[f"cutouts_us_{threads}t"] = 1e6 * _timeit(cutouts) / n
    feature_args = (cols.candidate, cols.present, cols.hist_offsets, cols.hist_jd, cols.hist_magpsf, cols.hist_fid,
                    cols.hist_flags, meta)
    nat["features_us_1t"] = 1e6 * _timeit(lambda: _core._testing.compute_features(*feature_args)) / n
    for threads in (1, 2):
        def run(threads=threads):
            for _ in buffer_batches((("b", b) for b in buffers), 512, threads):
                pass
        nat[f"preprocess_us_{threads}t"] = 1e6 * _timeit(run, 2) / n  # read + inflate + decode + cutouts + features
    nat["decode_us"] = max(nat["preprocess_us_1t"] - nat["cutouts_us_1t"] - nat["features_us_1t"], 0.0)

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
    py = {"decode_us": 1e6 * t_decode_py / n, "cutouts_us": 1e6 * t_cut_py / m, "features_us": 1e6 * t_feat_py / m,
          "alerts": m}
    py["preprocess_us"] = py["decode_us"] + py["cutouts_us"] + py["features_us"]
    return {"native": nat, "python": py,
            "ratio_python_over_native_preprocess": py["preprocess_us"] / nat["preprocess_us_1t"]}


def inflaters(buffers: list[bytes], night_gz: Path | None) -> dict:
    """µs per stamp for the inflaters a build could use, on the same stamps; the .tar.gz stream too."""
    from btsbot_fast import _core
    from btsbot_fast.io import records_from_buffer
    from btsbot_fast.prep.variant import CUTOUT_FIELDS

    stamps = [r.record[f]["stampData"] for b in buffers[:1000] for r in records_from_buffer("b", b)
              for f in CUTOUT_FIELDS]
    out: dict = {"stamps": len(stamps)}

    def per_stamp(fn) -> float:
        return 1e6 * _timeit(lambda: [fn(s) for s in stamps], 3) / len(stamps)

    out["libdeflate_vendored_us"] = per_stamp(_core._testing.gunzip)
    out["zlib_us"] = per_stamp(lambda s: zlib.decompress(s, 31))
    for name, module, attr in (("isal_us", "isal.isal_zlib", "decompress"),
                               ("zlib_ng_us", "zlib_ng.zlib_ng", "decompress")):
        try:
            decompress = getattr(__import__(module, fromlist=[attr]), attr)
            out[name] = per_stamp(lambda s, f=decompress: f(s, 31))
        except ImportError:
            out[name] = None
    if night_gz is not None:
        data = night_gz.read_bytes()

        def stream(decompressobj):
            d = decompressobj(31)
            for i in range(0, len(data), 1 << 20):
                d.decompress(data[i:i + (1 << 20)])

        out["tar_gz_stream_zlib_s"] = _timeit(lambda: stream(zlib.decompressobj), 1)
        out["tar_gz_mb"] = len(data) / 1e6
    return out


# ---- preprocessing a night, as users run it -------------------------------------------------------------


def write_night_dir(buffers: list[bytes], d: Path) -> Path:
    d.mkdir(parents=True, exist_ok=True)
    for i, data in enumerate(buffers):
        (d / f"{i:07d}.avro").write_bytes(data)
    return d


def write_night_tar(buffers: list[bytes], path: Path) -> Path:
    with tarfile.open(path, "w:gz" if path.name.endswith(".gz") else "w") as tar:
        for i, data in enumerate(buffers):
            info = tarfile.TarInfo(f"night/{i:07d}.avro")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def _child(cmd: list[str], env: dict, cwd: Path) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=cwd)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stderr[-3000:]}")
    return wall


def night_comparison(night_dir: Path, night_gz: Path, out_dir: Path, repeat: int) -> dict:
    """Wall time of whole processes: ``btsbot-fast preprocess`` vs the baseline script, dir and .tar.gz."""
    env = dict(os.environ)
    cli = shutil.which("btsbot-fast", path=os.path.dirname(sys.executable)) or "btsbot-fast"
    res: dict = {}
    for label, path in (("dir", night_dir), ("tar_gz", night_gz)):
        ours = []
        for k in range(repeat):
            target = out_dir / f"ours-{label}-{k}.npz"
            ours.append(_child([cli, "preprocess", str(path), "-o", str(target)], env, out_dir))
            target.unlink()
        base_out = out_dir / f"base-{label}.npz"
        base = _child([sys.executable, str(BASELINE), str(path), "-o", str(base_out)], env, out_dir)
        base_out.unlink()
        res[label] = {"btsbot_fast_s": min(ours), "baseline_s": base, "ratio": base / min(ours)}
    return res


def gil_time(night_dir: Path, out: Path, threads: int) -> dict:
    """Main-thread CPU outside GIL-free native calls, per alert (module docstring)."""
    from btsbot_fast import _core
    from btsbot_fast.prep import path_batches
    from btsbot_fast.prep.npz import write_npz

    res = {}
    for label, write in (("read_preprocess", False), ("read_preprocess_write_npz", True)):
        best = None
        for _ in range(3):
            out.unlink(missing_ok=True)
            (nu0, ns0), r0 = _core.native_cpu_seconds(), resource.getrusage(resource.RUSAGE_THREAD)
            batches = path_batches([night_dir], 1024, "native", threads, recycle=2)
            if write:
                rows, _ = write_npz(batches, out)
            else:
                rows = sum(len(b) for b in batches)
            (nu1, ns1), r1 = _core.native_cpu_seconds(), resource.getrusage(resource.RUSAGE_THREAD)
            user = (r1.ru_utime - r0.ru_utime) - (nu1 - nu0)
            kernel = (r1.ru_stime - r0.ru_stime) - (ns1 - ns0)
            if best is None or user < best[0]:
                best = (user, kernel, rows)
        user, kernel, rows = best
        res[label] = {"us_per_alert": 1e6 * user / rows, "kernel_us_per_alert": 1e6 * kernel / rows, "alerts": rows}
    out.unlink(missing_ok=True)
    return res


def thread_scaling(night_dir: Path) -> dict:
    """Native preprocessing of the night (read + inflate + decode + cutouts + features), by --threads."""
    from btsbot_fast.prep import path_batches
    from btsbot_fast.threads import available_cores

    cores = available_cores()
    res = {}
    for threads in sorted({1, 2, cores}):
        def run(threads=threads):
            for _ in path_batches([night_dir], 1024, "native", threads, recycle=2):
                pass
        t = _timeit(run, 2)
        n = sum(1 for _ in night_dir.iterdir())
        res[str(threads)] = {"alerts_per_s": n / t, "us_per_alert": 1e6 * t / n}
    return res


# ---- the model ---------------------------------------------------------------------------------------------


def model_alone(resolved, onnx_path=None):
    """The model as fast as it runs by itself: a session of its own, on every core, its threads spinning
    between runs (the Scorer turns spinning off when preprocessing shares the cores: btsbot_fast/threads.py),
    so that "end to end / model-only" compares against the model's best, not the Scorer's own session."""
    from dataclasses import replace

    m = resolved if onnx_path is None else replace(resolved, onnx_path=onnx_path)
    return m.backend(spinning=True)


def model_only(scorer, buffers: list[bytes], batch_size: int) -> dict:
    """Model-only alerts/s: the model alone (:func:`model_alone`) on the same preprocessed batches."""
    from btsbot_fast.io import records_from_buffer
    from btsbot_fast.prep import preprocess_records

    batch = preprocess_records([r for b in buffers for r in records_from_buffer("b", b)], "native")
    trip, meta = batch.triplets, batch.metadata[:, scorer._features]
    alone = model_alone(scorer.resolved)
    alone.run(trip[:batch_size], meta[:batch_size])  # warm-up

    def run():
        for s in range(0, len(trip), batch_size):
            alone.run(trip[s:s + batch_size], meta[s:s + batch_size])

    t = _timeit(run, 2)
    return {"alerts_per_s": len(trip) / t, "us_per_alert": 1e6 * t / len(trip)}


def end_to_end_inprocess(scorer, buffers: list[bytes]) -> dict:
    def run():
        for _ in scorer.score_buffers(buffers):
            pass

    t = _timeit(run, 2)
    return {"alerts_per_s": len(buffers) / t}


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


def precision_comparison(buffers: list[bytes], night_tar: Path, model: str, batch_size: int, model_alerts: int,
                         env: dict, repeat: int) -> dict:
    """``--precision fast`` vs exact, side by side on the same alerts (see the module docstring)."""
    from btsbot_fast import Scorer
    from btsbot_fast.io import records_from_buffer
    from btsbot_fast.prep import preprocess_records
    from btsbot_fast.registry.quantize import cpu_description

    exact = Scorer(model, batch_size=batch_size)
    fast = Scorer(model, batch_size=batch_size, precision="fast")
    screen = fast.screening
    batch = preprocess_records([r for b in buffers[:model_alerts] for r in records_from_buffer("b", b)], "native")
    trip, meta = batch.triplets, batch.metadata[:, exact._features]
    # fp32 and int8 alone: each model by itself at its best (spinning sessions of their own); the fast
    # mode's screen and re-scoring as the fast Scorer runs them
    runners = {"fp32": model_alone(exact.resolved).run,
               "int8": model_alone(exact.resolved, exact.resolved.int8.checked_path()).run,
               "fast_screen_plus_rescoring": screen.run}
    best = {k: float("inf") for k in runners}
    for run in runners.values():
        run(trip[:batch_size], meta[:batch_size])  # warm-up
    for _ in range(repeat):  # interleaved: the machine's noise falls on all three alike
        for k, run in runners.items():
            t = time.perf_counter()
            for s in range(0, len(trip), batch_size):
                run(trip[s:s + batch_size], meta[s:s + batch_size])
            best[k] = min(best[k], time.perf_counter() - t)
    model_only = {k: {"alerts_per_s": len(trip) / v} for k, v in best.items()}

    # the night in-process: decisions and scores of both modes, the fraction re-scored
    night = buffers
    e_rows = list(exact.score_buffers(night))
    screen.screened = screen.rescored = 0
    f_rows = list(fast.score_buffers(night))
    ok = [(e.score, f.score, f.precision) for e, f in zip(e_rows, f_rows) if e.status == "ok"]
    thresholds = fast.decision_thresholds
    flips = {f"{t:g}": sum((e > t) != (f > t) for e, f, _ in ok) for t in thresholds}
    rescored = sum(p == "fp32" for _, _, p in ok)

    # the threshold-heavy night: the same number of alerts, a quarter of them from the dev alerts whose exact
    # score lies within 0.1 of 0.5 or 0.85, the rest from the others
    def distance(r):
        return min(abs(r.score - 0.5), abs(r.score - 0.85))
    near = [b for b, r in zip(night, e_rows) if r.status == "ok" and distance(r) <= 0.1]
    far = [b for b, r in zip(night, e_rows) if r.status == "ok" and distance(r) > 0.1]
    heavy = [near[(i // 4) % len(near)] if i % 4 == 0 else far[(i - i // 4 - 1) % len(far)] for i in range(len(night))]
    heavy_tar = write_night_tar(heavy, night_tar.with_name("threshold-heavy.tar"))
    screen.screened = screen.rescored = 0
    list(fast.score_buffers(heavy))
    heavy_rescored = screen.fraction_rescored

    nights = {"night": night_tar, "threshold_heavy": heavy_tar}
    runs: dict[str, list[dict]] = {f"{n}_{mode}": [] for n in nights for mode in ("exact", "fast")}
    for _ in range(repeat):
        for key in runs:
            n, mode = key.rsplit("_", 1)
            runs[key].append(cli_run([str(nights[n]), "--model", model, "--batch-size", str(batch_size),
                                      "--precision", mode], env))
    allcli = {key: max(rs, key=lambda r: r["alerts_per_s"]) for key, rs in runs.items()}
    for key, rs in runs.items():
        allcli[key]["alerts_per_s_runs"] = [r["alerts_per_s"] for r in rs]
    cli = {mode: allcli[f"night_{mode}"] for mode in ("exact", "fast")}
    cli_heavy = {mode: allcli[f"threshold_heavy_{mode}"] for mode in ("exact", "fast")}
    return {
        "threshold_heavy": {"alerts": len(heavy),
                            "near_thresholds_fraction": sum(i % 4 == 0 for i in range(len(heavy))) / len(heavy),
                            "fraction_rescored": heavy_rescored, "cli": cli_heavy,
                            "ratio_cli_fast_over_exact": (cli_heavy["fast"]["alerts_per_s"]
                                                          / cli_heavy["exact"]["alerts_per_s"])},
        "ratio_cli_exact_over_model_only_fp32": cli["exact"]["alerts_per_s"] / model_only["fp32"]["alerts_per_s"],
        "cpu": cpu_description(), "night_alerts": len(night), "model_alerts": len(trip),
        "margin": screen.margin, "decision_thresholds": list(thresholds),
        "model_only": model_only,
        "ratio_model_only_int8_over_fp32": model_only["int8"]["alerts_per_s"] / model_only["fp32"]["alerts_per_s"],
        "ratio_model_only_fast_over_fp32": (model_only["fast_screen_plus_rescoring"]["alerts_per_s"]
                                            / model_only["fp32"]["alerts_per_s"]),
        "cli": cli, "ratio_cli_fast_over_exact": cli["fast"]["alerts_per_s"] / cli["exact"]["alerts_per_s"],
        "fraction_rescored": rescored / len(ok), "scored": len(ok), "flips": flips,
        "max_abs_score_difference": max(abs(e - f) for e, f, _ in ok),
    }


def lscpu() -> str:
    """``lscpu``'s output (the CPU model and flags the int8 kernels depend on), or why there is none."""
    try:
        return subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError) as exc:
        return f"lscpu unavailable: {exc}"


def cli_run(args: list[str], env: dict) -> dict:
    """Run ``btsbot-fast score`` as a child: wall time, time to first score row, its peak RSS."""
    cmd = [sys.executable, "-c", _CLI_WITH_PEAK_RSS, "score", *args]
    t0 = time.perf_counter()
    # cwd: a folder without a btsbot_fast/ source tree, so that the child imports the installed package
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                            cwd=os.path.dirname(args[0]))
    first = None
    rows = 0
    for _line in proc.stdout:
        rows += 1
        if rows == 2 and first is None:  # the header, then the first scored row
            first = time.perf_counter() - t0
    err = proc.stderr.read().decode()
    status = proc.wait()
    wall = time.perf_counter() - t0
    if status != 0:
        raise SystemExit(f"btsbot-fast score {' '.join(args)} failed:\n{err}")
    peak = next(int(line.split("=")[1]) for line in err.splitlines() if line.startswith("peak_rss_kb="))
    summary = next(line for line in err.splitlines() if line.startswith("scored "))
    return {"wall_s": wall, "rows": rows - 1, "first_score_s": first, "peak_rss_mb": peak / 1024,
            "alerts_per_s": (rows - 1) / wall, "summary": summary}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--alerts", type=int, default=3000, help="alerts for the per-stage and scoring figures")
    ap.add_argument("--night", type=int, default=7000, help="one-alert files in the preprocessing night (0: skip)")
    ap.add_argument("--night-repeat", type=int, default=3, help="runs of btsbot-fast preprocess (best is kept)")
    ap.add_argument("--rss-alerts", type=int, nargs=2, default=(1000, 10000), metavar=("SMALL", "LARGE"))
    ap.add_argument("--twin-alerts", type=int, default=500, help="alerts for the (slow) Python twin stages")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--model", default="btsbot-v1.0.1")
    ap.add_argument("--no-model", action="store_true", help="preprocessing figures only")
    ap.add_argument("--shared", type=Path, default=Path(os.environ.get("BTSBOT_FAST_SHARED", REPO.parent / "shared")))
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--only-precision", action="store_true", help="only --precision fast vs exact")
    ap.add_argument("--precision-repeat", type=int, default=3, help="interleaved runs of each mode (best is kept)")
    args = ap.parse_args()

    from btsbot_fast import _core
    from btsbot_fast.threads import available_cores

    buffers = load_corpus(args.shared, max(args.alerts, args.night))
    if args.only_precision:
        with tempfile.TemporaryDirectory() as tmp:
            night = buffers[:args.night or args.alerts]
            tar = write_night_tar(night, Path(tmp) / "night.tar")
            load_before = os.getloadavg()
            result = {"machine": {"cpu": platform.processor() or platform.machine(), "cores": available_cores(),
                                  "lscpu": lscpu()},
                      "batch_size": args.batch_size,
                      "precision": precision_comparison(night, tar, args.model, args.batch_size, args.alerts,
                                                        dict(os.environ), args.precision_repeat)}
            result["machine"]["load_average_1_5_15"] = {"before": load_before, "after": os.getloadavg()}
        print(result["machine"]["lscpu"])
        after = result['machine']['load_average_1_5_15']['after']
        print(f"load average (1, 5, 15 min) before: {load_before}, after: {after}\n")
        print(render_precision(result["precision"]))
        if args.json:
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(json.dumps(result, indent=2))
        return
    result: dict = {
        "machine": {"cpu": platform.processor() or platform.machine(), "cores": available_cores(),
                    "python": platform.python_version(), "inflater": _core.inflater},
        "alerts": args.alerts,
        "batch_size": args.batch_size,
        "stages": stage_costs(buffers[:args.alerts], args.twin_alerts),
    }
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        night_gz = None
        if args.night:
            night = buffers[:args.night]
            night_dir = write_night_dir(night, tmp_path / "night")
            night_gz = write_night_tar(night, tmp_path / "night.tar.gz")
            result["night"] = {"alerts": len(night),
                               "as_users_run_it": night_comparison(night_dir, night_gz, tmp_path, args.night_repeat),
                               "gil": gil_time(night_dir, tmp_path / "gil.npz", 0),
                               "threads": thread_scaling(night_dir)}
        result["inflaters"] = inflaters(buffers, night_gz)
        if not args.no_model:
            from btsbot_fast import Scorer

            scorer = Scorer(args.model, batch_size=args.batch_size)
            result["model_only"] = model_only(scorer, buffers[:args.alerts], args.batch_size)
            result["end_to_end_inprocess"] = end_to_end_inprocess(scorer, buffers[:args.alerts])
            env = dict(os.environ)
            tar = write_night_tar(buffers[:args.alerts], tmp_path / "score.tar")
            # best of three whole-process runs, like the other timings (one run on a shared machine is noise)
            runs = [cli_run([str(tar), "--model", args.model, "--batch-size", str(args.batch_size)], env)
                    for _ in range(3)]
            result["end_to_end_cli"] = max(runs, key=lambda r: r["alerts_per_s"])
            result["end_to_end_cli"]["alerts_per_s_runs"] = [r["alerts_per_s"] for r in runs]
            rss = {}
            for n in args.rss_alerts:
                night_n = write_night_tar([buffers[i % len(buffers)] for i in range(n)], tmp_path / f"n{n}.tar")
                rss[str(n)] = cli_run([str(night_n), "--model", args.model], env)["peak_rss_mb"]
                night_n.unlink()
            result["peak_rss_mb_by_alerts"] = rss
            mo = result["model_only"]["alerts_per_s"]
            result["ratio_end_to_end_over_model_only"] = result["end_to_end_inprocess"]["alerts_per_s"] / mo
            result["ratio_cli_over_model_only"] = result["end_to_end_cli"]["alerts_per_s"] / mo
            night = buffers[:args.night or args.alerts]
            night_tar = write_night_tar(night, tmp_path / "precision-night.tar")
            result["precision"] = precision_comparison(night, night_tar, args.model, args.batch_size, args.alerts, env,
                                                       args.precision_repeat)
    print(render_table(result))
    if "precision" in result:
        print("\n" + render_precision(result["precision"]))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2))


def render_table(r: dict) -> str:
    s, nat, py = r["stages"], r["stages"]["native"], r["stages"]["python"]
    cores = r["machine"]["cores"]
    lines = [
        f"{cores} cores, inflater {r['machine']['inflater']}; per-stage figures on {r['alerts']} alerts",
        "",
        "| stage, µs/alert (1 thread) | native | python twin | twin / native |",
        "|---|---:|---:|---:|",
        f"| Avro decode (native / fastavro) | {nat['decode_us']:.0f} | {py['decode_us']:.0f} | "
        f"{py['decode_us'] / max(nat['decode_us'], 1e-9):.0f}× |",
        f"| cutouts (gzip + FITS + normalise) | {nat['cutouts_us_1t']:.0f} | {py['cutouts_us']:.0f} | "
        f"{py['cutouts_us'] / nat['cutouts_us_1t']:.0f}× |",
        f"| features | {nat['features_us_1t']:.2f} | {py['features_us']:.1f} | "
        f"{py['features_us'] / nat['features_us_1t']:.0f}× |",
        f"| **preprocessing total** | **{nat['preprocess_us_1t']:.0f}** | **{py['preprocess_us']:.0f}** | "
        f"**{s['ratio_python_over_native_preprocess']:.1f}×** |",
    ]
    if "night" in r:
        ni = r["night"]
        users = ni["as_users_run_it"]
        lines += [
            "",
            f"| a night of {ni['alerts']} one-alert files, whole process writing the .npz | btsbot-fast preprocess | "
            "fastavro + astropy script | ratio |",
            "|---|---:|---:|---:|",
        ]
        for label, name in (("dir", "directory of .avro files"), ("tar_gz", "the same night as one .tar.gz")):
            u = users[label]
            lines.append(f"| {name} | {u['btsbot_fast_s']:.2f} s | {u['baseline_s']:.1f} s | **{u['ratio']:.1f}×** |")
        g = ni["gil"]
        lines += ["", "Python-held (GIL) time, µs/alert: "
                  f"{g['read_preprocess']['us_per_alert']:.1f} reading + preprocessing, "
                  f"{g['read_preprocess_write_npz']['us_per_alert']:.1f} with the .npz written "
                  f"(kernel time outside native calls: {g['read_preprocess_write_npz']['kernel_us_per_alert']:.1f})",
                  "", "| --threads | alerts/s | µs/alert |", "|---:|---:|---:|"]
        for t, v in ni["threads"].items():
            lines.append(f"| {t} | {v['alerts_per_s']:,.0f} | {v['us_per_alert']:.0f} |")
    inf = r["inflaters"]
    lines += ["", "| inflater (one stamp) | µs |", "|---|---:|"]
    for key, name in (("libdeflate_vendored_us", "libdeflate (vendored, the build's)"), ("zlib_us", "zlib"),
                      ("isal_us", "ISA-L (PyPI isal)"), ("zlib_ng_us", "zlib-ng (PyPI zlib-ng)")):
        if inf.get(key) is not None:
            lines.append(f"| {name} | {inf[key]:.1f} |")
    if "model_only" in r:
        mo = r["model_only"]
        lines += [
            "",
            "| throughput | alerts/s | alerts/s/core | vs model-only |",
            "|---|---:|---:|---:|",
            f"| native preprocessing alone, {min(cores, 2)} threads | {1e6 / nat['preprocess_us_2t']:.0f} | "
            f"{1e6 / nat['preprocess_us_2t'] / min(cores, 2):.0f} | |",
            f"| model only (its own spinning session, same batches) | {mo['alerts_per_s']:.0f} | "
            f"{mo['alerts_per_s'] / cores:.0f} | 1.00 |",
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


def render_precision(p: dict) -> str:
    mo, cli = p["model_only"], p["cli"]
    cpu = p["cpu"]
    return "\n".join([
        f"--precision fast vs exact on {cpu['model']} ({cpu['cores']} cores; int8 flags: "
        f"{', '.join(cpu['flags']) or 'none'}); margin {p['margin']:g} around {p['decision_thresholds']}",
        "",
        "| on the same alerts | exact (fp32) alerts/s | fast alerts/s | fast / exact |",
        "|---|---:|---:|---:|",
        f"| `btsbot-fast score night.tar`, {p['night_alerts']:,} alerts (process start included, best of "
        f"{len(cli['exact']['alerts_per_s_runs'])}) | {cli['exact']['alerts_per_s']:.0f} | "
        f"{cli['fast']['alerts_per_s']:.0f} | **{p['ratio_cli_fast_over_exact']:.2f}×** |",
        f"| model only, {p['model_alerts']:,} alerts: fp32 vs int8 + fp32 re-scoring | "
        f"{mo['fp32']['alerts_per_s']:.0f} | {mo['fast_screen_plus_rescoring']['alerts_per_s']:.0f} | "
        f"{p['ratio_model_only_fast_over_fp32']:.2f}× |",
        f"| model only: fp32 vs int8 alone | {mo['fp32']['alerts_per_s']:.0f} | {mo['int8']['alerts_per_s']:.0f} | "
        f"{p['ratio_model_only_int8_over_fp32']:.2f}× |",
        "",
        f"| `btsbot-fast score threshold-heavy.tar`, {p['threshold_heavy']['alerts']:,} alerts, a quarter within 0.1 "
        f"of 0.5 or 0.85 (re-scored: {100 * p['threshold_heavy']['fraction_rescored']:.1f}%) | "
        f"{p['threshold_heavy']['cli']['exact']['alerts_per_s']:.0f} | "
        f"{p['threshold_heavy']['cli']['fast']['alerts_per_s']:.0f} | "
        f"**{p['threshold_heavy']['ratio_cli_fast_over_exact']:.2f}×** |",
        "",
        f"`score` exact / model-only fp32: {p['ratio_cli_exact_over_model_only_fp32']:.2f}×",
        "",
        f"re-scored in fp32: {100 * p['fraction_rescored']:.1f}% of {p['scored']:,} scored alerts; decisions flipped: "
        + ", ".join(f"{k}: {v}" for k, v in p["flips"].items())
        + f"; max |fast - exact| {p['max_abs_score_difference']:.3g}",
    ])


if __name__ == "__main__":
    main()
