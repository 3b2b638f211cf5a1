#!/usr/bin/env bash
# GPU check for a CUDA machine, in under 5 minutes: model-only and end-to-end alerts/s per device
# (cpu, cuda, tensorrt, tensorrt --fp16) and batch size, and the scores' parity with the CPU.
#
#   bash benchmarks/gpu_check.sh [ALERTS_DIR]      (default: ../shared/data/ztf/dev, else tests/data/ztf/dev)
#
# Needs btsbot-fast installed with onnxruntime-gpu as the only ONNX Runtime (docs/gpu.md).
# Exit status: 0 when CUDA ran and matched the CPU (max |diff| <= 1e-5, no flip across 0.5), 1 when a
# device that is present disagrees, 2 when CUDA is not usable here (the CPU figures are still printed).
# TensorRT fp16 is judged like the int8 fast mode (docs/fast-mode.md): its error against the CPU's fp32
# scores is measured on every alert under the 8 dihedral transforms of its triplet (max, p99.9, p99), the
# margin the rule would need (2 x the largest error) is printed, and a decision flipped at 0.3, 0.5, 0.7
# or 0.85 on those inputs fails the check (status 1).
set -uo pipefail
cd "$(dirname "$0")/.."
ALERTS="${1:-}"
if [ -z "$ALERTS" ]; then
  if [ -d ../shared/data/ztf/dev ]; then ALERTS=../shared/data/ztf/dev; else ALERTS=tests/data/ztf/dev; fi
fi
ALERTS="$(cd "$ALERTS" && pwd)"
command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
export BTSBOT_FAST_HOME="${BTSBOT_FAST_HOME:-$(mktemp -d)}"  # the TensorRT engine cache lands here
cd "$(mktemp -d)"  # import the installed package, not the source tree
exec timeout 290 python - "$ALERTS" <<'PY'
import sys, time
from importlib import metadata

import numpy as np
import onnxruntime as ort

from btsbot_fast import Scorer, registry
from btsbot_fast.backends import DeviceUnavailableError
from btsbot_fast.backends.onnx import installed_ort_distributions
from btsbot_fast.prep import preprocess_paths
from btsbot_fast.registry.stress import all_dihedral

alerts = sys.argv[1]
BATCHES = (1, 16, 64, 256)
TRT_BATCHES = (64, 256)  # each batch size is its own TensorRT engine build: keep the check under 5 minutes
E2E_BATCHES = (64, 256)
SECONDS = 2.0  # per model-only configuration
model = registry.resolve("btsbot-v1.0.1")
print(f"btsbot-fast {metadata.version('btsbot-fast')}, onnxruntime {ort.__version__} "
      f"({', '.join(installed_ort_distributions())}), providers {ort.get_available_providers()}")
print(f"model {model.name} ({model.origin}: {model.onnx_path}); alerts {alerts}")

pre = preprocess_paths([alerts])
ok = pre.status == 0
trip, meta = pre.triplets[ok], pre.metadata[ok][:, list(model.feature_indices)]
print(f"{len(pre)} records, {ok.sum()} scoreable\n")
val_t, val_m = all_dihedral(trip, meta)  # fp16 is validated on the 8 transforms, as the int8 model is
THRESHOLDS = (0.3, 0.5, 0.7, 0.85)
cpu_val = None
reps = -(-2048 // len(trip))  # a pool of >= 2048 inputs for the model-only timings
pool_t, pool_m = np.tile(trip, (reps, 1, 1, 1))[:2048], np.tile(meta, (reps, 1))[:2048]

configs = [("cpu", False), ("cuda", False), ("tensorrt", False), ("tensorrt", True)]
cpu_scores, status, unusable = None, 0, set()
print(f"{'device':<14}{'batch':>6}{'model-only alerts/s':>22}{'end-to-end alerts/s':>22}{'max |diff| vs cpu':>20}{'flips':>7}")
for device, fp16 in configs:
    label = device + (" fp16" if fp16 else "")
    for b in TRT_BATCHES if device == "tensorrt" else BATCHES:
        try:
            t0 = time.perf_counter()
            scorer = Scorer(model, device=device, fp16=fp16, batch_size=b)
            startup = time.perf_counter() - t0
        except DeviceUnavailableError as exc:
            print(f"{label:<14} unavailable: {exc}")
            unusable.add(device)
            break
        scorer.score_arrays(pool_t[:b], pool_m[:b])  # warm-up (TensorRT builds or loads its engine here)
        n, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < SECONDS and n < len(pool_t):
            scorer.score_arrays(pool_t[n:n + b], pool_m[n:n + b])
            n += b
        model_rate = n / (time.perf_counter() - t0)
        e2e = ""
        if b in E2E_BATCHES:
            t0 = time.perf_counter()
            results = list(scorer.score_files([alerts]))
            e2e = f"{len(results) / (time.perf_counter() - t0):,.0f}"
        scores = scorer.score_arrays(trip, meta)
        if cpu_scores is None:
            cpu_scores = scores
        diff = float(np.max(np.abs(scores.astype(np.float64) - cpu_scores)))
        flips = int(np.sum((scores >= 0.5) != (cpu_scores >= 0.5)))
        print(f"{label:<14}{b:>6}{model_rate:>22,.0f}{e2e:>22}{diff:>20.3g}{flips:>7}"
              + (f"   (session start {startup:.1f} s)" if device != "cpu" else ""))
        if device != "cpu" and not fp16 and (diff > 1e-5 or flips):
            status = 1
        if device == "cpu" and cpu_val is None:
            cpu_val = scorer.score_arrays(val_t, val_m).astype(np.float64)
        if fp16 and b == TRT_BATCHES[-1]:
            v = scorer.score_arrays(val_t, val_m).astype(np.float64)
            err = np.abs(v - cpu_val)
            vflips = {t: int(np.sum((v > t) != (cpu_val > t))) for t in THRESHOLDS}
            print(f"{'':<14}fp16 vs fp32 on {len(v):,} inputs (8 transforms): max {err.max():.4g}, p99.9 "
                  f"{np.quantile(err, 0.999):.4g}, p99 {np.quantile(err, 0.99):.4g}; margin by the rule "
                  f"(2 x max): {2 * err.max():.4g}; flips {vflips}")
            if any(vflips.values()):
                status = 1
if "cuda" in unusable:
    print("\nCUDA is not usable here: this check needs a CUDA machine with onnxruntime-gpu (docs/gpu.md).")
    status = max(status, 2)
sys.exit(status)
PY
