"""``btsbot-fast models quantize``: derive a model's int8 screening model (``--precision fast``) and its
margin by one deterministic procedure, and (``--check``) re-measure a shipped one on a user's own alerts.

The procedure (docs/fast-mode.md):

1. Calibration set: the real alerts in ``calibration`` under the 8 dihedral transforms of their triplets,
   plus each stress perturbation of them (btsbot_fast/registry/stress.py). ONNX Runtime's static
   quantization (``quantize_static``, QDQ) of the layers in ``layers`` (default: mm_cnn's convolutions
   2-4 with their ReLUs, and both max-poolings; everything else stays fp32): int8 weights per output
   channel, int8 activations with MinMax ranges over the calibration set. The same model, alerts and
   library versions give the same bytes.

   Why the ReLUs and poolings: quantizing a convolution alone puts its int8 range on the pre-ReLU output,
   half of it negative values the ReLU then zeroes; quantized with its ReLU the range covers [0, max] (twice
   the resolution where it matters). Max-pooling commutes with a monotone quantizer, so pooling in int8 is
   exact and keeps conv2 -> pool1 -> conv3 -> conv4 -> pool2 one int8 chain with no fp32 round trips.
   Measured on the validation set below: the largest error fell from 0.1006 (convolutions alone) to 0.0421;
   conv1 in int8 too raised it to 0.276 (its input, the normalised stamps, has a long-tailed range).
2. Validation set, separate: the real alerts in ``validation`` whose candids are not among the
   calibration alerts, under the 8 transforms, and each stress perturbation of them under the 8
   transforms. The int8-vs-fp32 score error is measured on every input: max, p99.9, p99, per part.
3. Margin = ``safety_factor`` (>= 2) x the largest validation error, rounded up to 1e-4; the rule every
   shipped model keeps is *largest validation error <= margin / 2*. A model whose margin would exceed
   ``max_margin`` is refused (the fast mode would re-score nearly everything). ``check_model`` applies
   the same rule to a shipped int8 model on other alerts and reports a break.

The sets, the error distribution, the margin and the model-only speed go into the model card's ``int8``
section (btsbot_fast/registry/cache.py reads ``file``, ``onnx_sha256`` and ``margin``).

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
from .stress import SEED, STRESS, all_dihedral, stressed, validation_sets

#: mm_cnn's layers quantized by default (the Keras layer names inside the ONNX node names): convolutions
#: 2-4 (each with its ReLU) and both max-poolings, one int8 chain (see the module docstring)
DEFAULT_LAYERS = ("conv2", "conv3", "conv4", "pool1", "pool2")
#: the ONNX operators of a named layer that are quantized (a Keras Conv2D with activation="relu" is a Conv
#: and a Relu node of the same layer name)
QUANTIZED_OPS = ("Conv", "MatMul", "Gemm", "Relu", "MaxPool")
DEFAULT_SAFETY_FACTOR = 2.0
#: a margin wider than this re-scores nearly every alert: such an int8 model is refused
DEFAULT_MAX_MARGIN = 0.3
#: 7-bit weights (reduce_range) would keep AVX2's 16-bit vpmaddubsw pair sums from saturating on CPUs
#: without VNNI; measured on the validation set they raised the largest error (0.129 against 0.12) for no
#: speed, so the weights use the full 8 bits and the margin holds for the CPU kind it was measured on
#: (docs/fast-mode.md; `models quantize --check` re-measures on another)
REDUCE_RANGE = False
#: the stress perturbations of the calibration alerts use another seed than the validation ones
CALIBRATION_SEED = SEED + 1
#: the thresholds the card's flip counts (int8 alone, before any re-scoring) are reported at
REPORT_THRESHOLDS = (0.3, 0.5, 0.7, 0.85)


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
        hits = [n.name for n in graph.node if n.op_type in QUANTIZED_OPS and layer in n.name.split("/")]
        if not hits:
            raise ModelImportError(f"{onnx_path}: no {'/'.join(QUANTIZED_OPS)} node of layer {layer!r}")
        nodes += hits
    return nodes


def _set_summary(approx: np.ndarray, exact: np.ndarray) -> dict[str, Any]:
    d = np.abs(approx.astype(np.float64) - exact.astype(np.float64))
    return {"n_inputs": len(d), "max": float(d.max()), "p99.9": float(np.quantile(d, 0.999)),
            "p99": float(np.quantile(d, 0.99)), "p50": float(np.quantile(d, 0.5)),
            "flips_without_rescoring": {f"{t:g}": int(((approx > t) != (exact > t)).sum()) for t in REPORT_THRESHOLDS}}


def measure_error(int8_session, fp32_session, model: ResolvedModel,
                  sets: dict[str, tuple[np.ndarray, np.ndarray]]) -> dict[str, Any]:
    """The int8-vs-fp32 error on every input of ``sets`` (name -> (triplets, metadata)): over all of them
    (``all``) and per set, each as max, p99.9, p99, p50 and the flips int8 alone would make."""
    per, approx_all, exact_all = {}, [], []
    for name, (t, m) in sets.items():
        approx, exact = _scores(int8_session, model, t, m), _scores(fp32_session, model, t, m)
        per[name] = _set_summary(approx, exact)
        approx_all.append(approx)
        exact_all.append(exact)
    return {"all": _set_summary(np.concatenate(approx_all), np.concatenate(exact_all)), "sets": per}


def margin_for(largest: float, safety_factor: float) -> float:
    """``safety_factor`` x ``largest``, rounded up to 1e-4."""
    return math.ceil(safety_factor * largest * 1e4 - 1e-9) / 1e4


def keeps_rule(largest: float, margin: float) -> bool:
    """The rule a shipped int8 model keeps: the largest error measured is at most half its margin."""
    return largest <= margin / 2


def _calibration_inputs(t: np.ndarray, m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The calibration alerts under the 8 transforms, then each stress perturbation (untransformed)."""
    dt, dm = all_dihedral(t, m)
    parts_t, parts_m = [dt], [dm]
    for st, sm in stressed(t, m, seed=CALIBRATION_SEED).values():
        parts_t.append(st)
        parts_m.append(sm)
    return np.concatenate(parts_t), np.concatenate(parts_m)


def quantize_model(name: str | os.PathLike[str], calibration: Sequence[str | os.PathLike[str]],
                   validation: Sequence[str | os.PathLike[str]], *, output_dir: str | os.PathLike[str] | None = None,
                   home: str | os.PathLike[str] | None = None, layers: Sequence[str] = DEFAULT_LAYERS,
                   safety_factor: float = DEFAULT_SAFETY_FACTOR, max_margin: float = DEFAULT_MAX_MARGIN,
                   stress: bool = True, measure_speed: bool = True) -> ResolvedModel:
    """Derive ``name``'s int8 model by the procedure above, measure it and write it with its card section;
    the model resolved from ``output_dir``. ``stress=False`` validates on the transforms alone (quicker;
    the card says so).

    ``output_dir``: where ``model.int8.onnx`` and the card go (default: the model's own directory when it
    was imported or is a run directory, else ``<model cache>/<name>``). A directory other than the model's
    own gets a copy of ``model.onnx`` and its card, so it is a complete model directory (in the cache, it
    takes precedence over the shipped copy)."""
    _require_onnx()
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )

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
    val_t, val_m, val_ids = real_alert_inputs(model, validation, exclude=set(cal_ids))
    calib_t, calib_m = _calibration_inputs(cal_t, cal_m)

    class _Reader(CalibrationDataReader):
        def __init__(self, batch: int = 64):
            self._it = iter([{model.triplet_input: calib_t[i:i + batch], model.metadata_input: calib_m[i:i + batch]}
                             for i in range(0, len(calib_t), batch)])

        def get_next(self):
            return next(self._it, None)

    nodes = _nodes_for(model.onnx_path, layers)
    int8_path = out / INT8_FILE
    with tempfile.TemporaryDirectory(dir=out, prefix=".quantize-") as tmp:
        tmp_path = Path(tmp) / INT8_FILE
        quantize_static(str(model.onnx_path), str(tmp_path), _Reader(), quant_format=QuantFormat.QDQ,
                        per_channel=True, reduce_range=REDUCE_RANGE, activation_type=QuantType.QInt8,
                        weight_type=QuantType.QInt8, calibrate_method=CalibrationMethod.MinMax,
                        nodes_to_quantize=nodes)
        fp32, int8 = _session(model.onnx_path), _session(tmp_path)
        errors = measure_error(int8, fp32, model, validation_sets(val_t, val_m, stress=stress))
        largest = errors["all"]["max"]
        margin = margin_for(largest, safety_factor)
        if not (0 < margin <= max_margin and keeps_rule(largest, margin)):
            raise ModelImportError(
                f"the int8 model differs from the fp32 one by up to {largest:.3g} on the validation set: its "
                f"margin would be {margin:g} (> {max_margin:g}), so the fast mode would re-score nearly "
                f"every alert; quantize fewer layers (--layers)")
        os.replace(tmp_path, int8_path)
    int8 = _session(int8_path)
    versions = {pkg: _md.version(pkg) for pkg in ("onnxruntime", "onnx", "numpy")}
    card["int8"] = {
        "file": INT8_FILE,
        "onnx_sha256": sha256_file(int8_path),
        "onnx_size": int8_path.stat().st_size,
        "margin": margin,
        "safety_factor": safety_factor,
        "largest_error_seen": largest,
        "rule": "largest validation error <= margin / 2; margin = safety_factor x largest validation error, "
                "rounded up to 1e-4",
        "method": {
            "tool": "onnxruntime.quantization.quantize_static", "format": "QDQ",
            "weights": "int8, symmetric, per output channel" + (", 7-bit range (reduce_range)" if REDUCE_RANGE else ""),
            "activations": "int8, asymmetric, per tensor", "calibration_method": "MinMax",
            "layers_int8": list(layers), "nodes_int8": nodes,
            "layers_fp32": "all others (metadata branch, dense layers, output"
                           + (", first convolution)" if "conv1" not in layers else ")"),
        },
        "calibration": {"paths": [str(p) for p in calibration], "n_alerts": len(cal_ids), "n_inputs": len(calib_t),
                        "inputs": "real alerts that preprocess ok, each candid once, in the reader's order; each "
                                  "under the 8 dihedral transforms of its triplet, and each stress perturbation "
                                  f"of it (seed {CALIBRATION_SEED})"},
        "validation": {"paths": [str(p) for p in validation], "n_alerts": len(val_ids),
                       "n_inputs": errors["all"]["n_inputs"],
                       "inputs": "real alerts that preprocess ok, none of the calibration candids; each under the "
                                 "8 dihedral transforms of its triplet"
                                 + (", and each stress perturbation of it (" + ", ".join(STRESS) + f"; seed {SEED}) "
                                    "under the 8 transforms" if stress else " (no stress perturbations)")},
        "error_vs_fp32": errors,
        "versions": versions,
        "derived_with": f"btsbot-fast models quantize {model.name}",
    }
    if measure_speed:
        card["int8"]["speed_model_only"] = _speed({"fp32": model.onnx_path, "int8": int8_path}, model, val_t, val_m)
    (out / CARD_FILE).write_text(json.dumps(card, indent=2) + "\n", encoding="utf-8")
    return resolve(out)


def check_model(name: str | os.PathLike[str], paths: Sequence[str | os.PathLike[str]], *,
                home: str | os.PathLike[str] | None = None, stress: bool = False) -> dict[str, Any]:
    """Re-measure ``name``'s int8 model on the real alerts in ``paths`` (each under the 8 transforms, and
    the stress perturbations with ``stress``) against its margin: the error summary, the margin, and
    ``ok``: whether the largest error is at most half the margin (the rule the model was shipped with)."""
    model = resolve(name, home=home)
    if model.int8 is None:
        raise ModelImportError(f"model {model.name} has no int8 screening model to check (btsbot-fast models quantize)")
    t, m, ids = real_alert_inputs(model, paths)
    errors = measure_error(_session(model.int8.checked_path()), _session(model.onnx_path), model,
                           validation_sets(t, m, stress=stress))
    largest = errors["all"]["max"]
    return {"model": model.name, "int8_file": str(model.int8.onnx_path), "n_alerts": len(ids),
            "margin": model.int8.margin, "largest_error": largest, "ok": keeps_rule(largest, model.int8.margin),
            "error_vs_fp32": errors}


__all__ = ["DEFAULT_LAYERS", "DEFAULT_MAX_MARGIN", "DEFAULT_SAFETY_FACTOR", "QUANTIZED_OPS", "check_model",
           "cpu_description", "keeps_rule", "margin_for", "measure_error", "quantize_model", "real_alert_inputs"]
