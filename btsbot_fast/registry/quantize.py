"""``btsbot-fast models quantize``: derive a model's int8 screening model (``--precision fast``).

ONNX Runtime's static quantization (``onnxruntime.quantization.quantize_static``) of the layers named in
``layers`` (default: convolutions 2-4 of mm_cnn; everything else stays fp32), QDQ format, int8 weights
per output channel, int8 activations with MinMax ranges collected on real alerts (``calibration``). The
choice was measured on real alerts (docs/fast-mode.md; models/README.md): the first convolution and the
dense layers in int8 cost accuracy for no speed, per-tensor weights and percentile/entropy ranges were no
better. The same model, alerts and library versions give the same bytes.

Then the int8 model is compared with the fp32 one on held-apart real alerts (``holdout``: their candids
are not among the calibration alerts) and on the calibration alerts; the margin the fast mode re-scores
within is ``safety_factor`` (>= 2) times the largest difference seen. Model-only speed of both is measured
on the held-out alerts. All of it goes into the model card's ``int8`` section (btsbot_fast/registry/cache.py
reads ``file``, ``onnx_sha256`` and ``margin``).

Needs ``onnx`` (the ``[quantize]`` extra) besides ONNX Runtime; scoring with the result needs neither.
"""

from __future__ import annotations

import json
import math
import os
import platform
import shutil
import tempfile
import time
from collections.abc import Sequence
from importlib import metadata as _md
from pathlib import Path
from typing import Any

import numpy as np

from ..messages import install_hint
from .cache import CARD_FILE, INT8_FILE, ONNX_FILE, ResolvedModel, model_home, read_card, resolve, sha256_file
from .errors import ModelImportError

#: mm_cnn's layers quantized by default (the Keras layer names inside the ONNX node names)
DEFAULT_LAYERS = ("conv2", "conv3", "conv4")
DEFAULT_SAFETY_FACTOR = 2.0
#: the thresholds the card's flip counts (int8 alone, before any re-scoring) are reported at
REPORT_THRESHOLDS = (0.5, 0.85)
_QUANTILES = (0.5, 0.9, 0.99, 1.0)


def _require_onnx() -> None:
    try:
        import onnx  # noqa: F401
    except ImportError:
        raise ModelImportError("models quantize needs onnx: " + install_hint("quantize")) from None


def real_alert_inputs(model: ResolvedModel, paths: Sequence[str | os.PathLike[str]],
                      exclude: set[int] = frozenset()) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """(triplets, metadata, candids) of the alerts in ``paths`` that preprocess ok, each candid once (the
    first seen, in the reader's order), leaving out the candids in ``exclude``."""
    from ..prep import path_batches
    from ..status import Status

    features = np.asarray(model.feature_indices, dtype=np.intp)
    triplets, metadata, candids, seen = [], [], [], set(exclude)
    for batch in path_batches(paths, 256, "native", 0):
        for i in np.flatnonzero(batch.status == Status.OK):
            candid = batch.records[i].candid
            if candid in seen:
                continue
            seen.add(candid)
            triplets.append(batch.triplets[i].copy())
            metadata.append(batch.metadata[i][features].astype(np.float32))
            candids.append(candid)
    if not candids:
        raise ModelImportError(f"no scorable alert in {', '.join(map(str, paths))}")
    return np.stack(triplets), np.stack(metadata), candids


def _session(path: Path, threads: int = 0):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.log_severity_level = 3
    return ort.InferenceSession(str(path), sess_options=so, providers=["CPUExecutionProvider"])


def _scores(session, model: ResolvedModel, triplets: np.ndarray, metadata: np.ndarray, batch: int = 64) -> np.ndarray:
    out = [session.run([model.output_name], {model.triplet_input: triplets[i:i + batch],
                                             model.metadata_input: metadata[i:i + batch]})[0].reshape(-1)
           for i in range(0, len(triplets), batch)]
    return np.concatenate(out).astype(np.float32)


def _error_summary(approx: np.ndarray, exact: np.ndarray) -> dict[str, Any]:
    d = np.abs(approx.astype(np.float64) - exact.astype(np.float64))
    return {"n_alerts": int(len(d)),
            **{("max" if q == 1.0 else f"q{q * 100:g}"): float(np.quantile(d, q)) for q in _QUANTILES},
            "flips_without_rescoring": {f"{t:g}": int(((approx > t) != (exact > t)).sum()) for t in REPORT_THRESHOLDS}}


def _speed(paths: dict[str, Path], model: ResolvedModel, triplets: np.ndarray, metadata: np.ndarray,
           n: int = 512, repeat: int = 3) -> dict[str, Any]:
    """Model-only alerts/s of each file, batches of 64, best of ``repeat``, measured in turns."""
    reps = -(-n // len(triplets))
    t, m = np.concatenate([triplets] * reps)[:n], np.concatenate([metadata] * reps)[:n]
    sessions = {k: _session(p) for k, p in paths.items()}
    best = {k: math.inf for k in paths}
    for s in sessions.values():
        _scores(s, model, t[:64], m[:64])
    for _ in range(repeat):
        for k, s in sessions.items():
            t0 = time.perf_counter()
            _scores(s, model, t, m)
            best[k] = min(best[k], time.perf_counter() - t0)
    rates = {f"{k}_alerts_per_s": round(n / best[k], 1) for k in paths}
    return {**rates, "int8_vs_fp32": round(best["fp32"] / best["int8"], 2), "n_alerts": n, "batch_size": 64,
            "threads": "ONNX Runtime default (all cores)", "cpu": cpu_description()}


def cpu_description() -> dict[str, Any]:
    """The CPU model and the flags that decide int8 speed (from /proc/cpuinfo where there is one)."""
    model, flags = platform.processor() or platform.machine(), set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name":
                model = value.strip()
            elif key.strip() == "flags":
                flags = set(value.split())
                break
    except OSError:
        pass
    wanted = ("avx2", "fma", "avx512f", "avx512_vnni", "avx_vnni", "amx_int8")
    return {"model": model, "cores": os.cpu_count(), "flags": [f for f in wanted if f in flags]}


def _nodes_for(onnx_path: Path, layers: Sequence[str]) -> list[str]:
    import onnx

    graph = onnx.load(str(onnx_path)).graph
    nodes = []
    for layer in layers:
        hits = [n.name for n in graph.node if n.op_type in ("Conv", "MatMul", "Gemm") and layer in n.name.split("/")]
        if not hits:
            raise ModelImportError(f"{onnx_path}: no Conv/MatMul/Gemm node of layer {layer!r}")
        nodes += hits
    return nodes


def quantize_model(name: str | os.PathLike[str], calibration: Sequence[str | os.PathLike[str]],
                   holdout: Sequence[str | os.PathLike[str]], *, output_dir: str | os.PathLike[str] | None = None,
                   home: str | os.PathLike[str] | None = None, layers: Sequence[str] = DEFAULT_LAYERS,
                   safety_factor: float = DEFAULT_SAFETY_FACTOR, measure_speed: bool = True) -> ResolvedModel:
    """Derive ``name``'s int8 model, measure it and write it with its card section; the model resolved
    from ``output_dir``.

    ``output_dir``: where ``model.int8.onnx`` and the card go (default: the model's own directory when it
    was imported or is a run directory, else ``<model cache>/<name>``). A directory other than the model's
    own gets a copy of ``model.onnx`` and its card, so it is a complete model directory (in the cache, it
    takes precedence over the shipped copy)."""
    _require_onnx()
    from onnxruntime.quantization import CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType, quantize_static

    if safety_factor < 2:
        raise ValueError("the safety factor must be >= 2")
    model = resolve(name, home=home)
    own_dir = model.onnx_path.parent
    if output_dir is None:
        output_dir = own_dir if model.origin != "shipped" else model_home(home) / model.name
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    if out.resolve() != own_dir.resolve():
        shutil.copyfile(model.onnx_path, out / ONNX_FILE)
    card = read_card(own_dir / CARD_FILE) if (own_dir / CARD_FILE).is_file() else dict(model.card)

    cal_t, cal_m, cal_ids = real_alert_inputs(model, calibration)
    hold_t, hold_m, hold_ids = real_alert_inputs(model, holdout, exclude=set(cal_ids))

    class _Reader(CalibrationDataReader):
        def __init__(self, batch: int = 64):
            self._it = iter([{model.triplet_input: cal_t[i:i + batch], model.metadata_input: cal_m[i:i + batch]}
                             for i in range(0, len(cal_t), batch)])

        def get_next(self):
            return next(self._it, None)

    nodes = _nodes_for(model.onnx_path, layers)
    int8_path = out / INT8_FILE
    with tempfile.TemporaryDirectory(dir=out, prefix=".quantize-") as tmp:
        tmp_path = Path(tmp) / INT8_FILE
        quantize_static(str(model.onnx_path), str(tmp_path), _Reader(), quant_format=QuantFormat.QDQ,
                        per_channel=True, activation_type=QuantType.QInt8, weight_type=QuantType.QInt8,
                        calibrate_method=CalibrationMethod.MinMax, nodes_to_quantize=nodes)
        os.replace(tmp_path, int8_path)

    fp32, int8 = _session(model.onnx_path), _session(int8_path)
    errors = {}
    for key, (t, m) in (("holdout", (hold_t, hold_m)), ("calibration", (cal_t, cal_m))):
        errors[key] = _error_summary(_scores(int8, model, t, m), _scores(fp32, model, t, m))
    largest = max(errors["holdout"]["max"], errors["calibration"]["max"])
    margin = math.ceil(safety_factor * largest * 1e4) / 1e4  # rounded up
    if not 0 < margin < 1:
        raise ModelImportError(f"the int8 model differs from the fp32 one by up to {largest:.3g}: no usable margin")
    versions = {pkg: _md.version(pkg) for pkg in ("onnxruntime", "onnx", "numpy")}
    card["int8"] = {
        "file": INT8_FILE,
        "onnx_sha256": sha256_file(int8_path),
        "onnx_size": int8_path.stat().st_size,
        "margin": margin,
        "safety_factor": safety_factor,
        "largest_error_seen": largest,
        "method": {
            "tool": "onnxruntime.quantization.quantize_static", "format": "QDQ",
            "weights": "int8, symmetric, per output channel", "activations": "int8",
            "calibration_method": "MinMax", "layers_int8": list(layers), "nodes_int8": nodes,
            "layers_fp32": "all others (first convolution, pooling, metadata branch, dense layers, output)",
        },
        "calibration": {"paths": [str(p) for p in calibration], "n_alerts": len(cal_ids),
                        "alerts": "real alerts that preprocess ok, each candid once, in the reader's order"},
        "holdout": {"paths": [str(p) for p in holdout], "n_alerts": len(hold_ids),
                    "alerts": "real alerts that preprocess ok, none of the calibration candids"},
        "error_vs_fp32": errors,
        "versions": versions,
        "derived_with": f"btsbot-fast models quantize {model.name}",
    }
    if measure_speed:
        card["int8"]["speed_model_only"] = _speed({"fp32": model.onnx_path, "int8": int8_path}, model, hold_t, hold_m)
    (out / CARD_FILE).write_text(json.dumps(card, indent=2) + "\n", encoding="utf-8")
    return resolve(out)


__all__ = ["DEFAULT_LAYERS", "DEFAULT_SAFETY_FACTOR", "cpu_description", "quantize_model", "real_alert_inputs"]
