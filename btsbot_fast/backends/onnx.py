"""ONNX Runtime backend: one session, inputs addressed by name, float32 scores out."""

from __future__ import annotations

import os
import warnings
from typing import Sequence

import numpy as np
import onnxruntime as ort

#: short provider names accepted in ``providers=``
PROVIDER_ALIASES = {
    "cpu": "CPUExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "gpu": "CUDAExecutionProvider",
    "tensorrt": "TensorrtExecutionProvider",
    "trt": "TensorrtExecutionProvider",
}


def _provider_name(p) -> str:
    return p[0] if isinstance(p, tuple) else p


def normalise_providers(providers) -> list:
    """Expand aliases (``cpu``, ``cuda``, ``tensorrt``); keep ``(name, options)`` tuples as they are."""
    if providers is None:
        return ["CPUExecutionProvider"]
    if isinstance(providers, str):
        providers = [p for p in providers.split(",") if p.strip()]
    out = []
    for p in providers:
        if isinstance(p, tuple):
            out.append((PROVIDER_ALIASES.get(p[0].lower(), p[0]), dict(p[1])))
        else:
            out.append(PROVIDER_ALIASES.get(p.strip().lower(), p.strip()))
    if "CPUExecutionProvider" not in [_provider_name(p) for p in out]:
        out.append("CPUExecutionProvider")  # the fallback ORT would use anyway; make it explicit
    return out


class OnnxBackend:
    """Scores batches with an ONNX Runtime session created once.

    ``run(triplets (N,63,63,3) float32, metadata (N,F) float32) -> (N,) float32``. Inputs are found by name
    (``triplet``/``metadata`` unless told otherwise; failing that, by rank: 4-D is the triplet), never by
    position: tf2onnx emits ``metadata`` first.
    """

    def __init__(self, onnx_path: str | os.PathLike, intra_op_threads: int = 0, inter_op_threads: int = 1,
                 providers: Sequence | str | None = None, *, triplet_input: str = "triplet",
                 metadata_input: str = "metadata", output_name: str | None = None):
        self.onnx_path = os.fspath(onnx_path)
        so = ort.SessionOptions()
        so.intra_op_num_threads = int(intra_op_threads)
        so.inter_op_num_threads = int(inter_op_threads)
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        so.log_severity_level = 3  # our own warning below replaces ORT's provider-fallback log line
        requested = normalise_providers(providers)
        self.requested_providers = [_provider_name(p) for p in requested]
        available = ort.get_available_providers()
        usable = [p for p in requested if _provider_name(p) in available]
        self.session = ort.InferenceSession(self.onnx_path, sess_options=so, providers=usable)
        active = self.session.get_providers()
        missing = [p for p in self.requested_providers if p not in active]
        if missing:
            why = [f"{p} ({'not in this onnxruntime build' if p not in available else 'failed to initialise'})"
                   for p in missing]
            warnings.warn(
                f"ONNX Runtime is not using {', '.join(why)}; running on {', '.join(active)}. "
                "For GPU inference install onnxruntime-gpu instead of onnxruntime (they cannot be installed "
                "side by side) and check the CUDA/cuDNN libraries are found.",
                RuntimeWarning, stacklevel=2)

        inputs = {i.name: i for i in self.session.get_inputs()}
        if len(inputs) != 2:
            raise ValueError(f"{self.onnx_path}: expected 2 inputs (triplet, metadata), found {list(inputs)}")
        if triplet_input in inputs and metadata_input in inputs:
            t, m = inputs[triplet_input], inputs[metadata_input]
        else:
            by_rank = {len(i.shape): i for i in inputs.values()}
            if set(by_rank) != {2, 4}:
                raise ValueError(f"{self.onnx_path}: inputs {list(inputs)} are not named "
                                 f"{triplet_input!r}/{metadata_input!r} and not one 4-D plus one 2-D input")
            t, m = by_rank[4], by_rank[2]
        for i in (t, m):
            if i.type != "tensor(float)":
                raise ValueError(f"{self.onnx_path}: input {i.name!r} is {i.type}, expected tensor(float)")
        self.triplet_input, self.metadata_input = t.name, m.name
        self._triplet_shape = tuple(d if isinstance(d, int) else None for d in t.shape)
        self._metadata_shape = tuple(d if isinstance(d, int) else None for d in m.shape)
        outputs = [o.name for o in self.session.get_outputs()]
        if output_name is not None and output_name in outputs:
            self.output_name = output_name
        elif len(outputs) == 1:
            self.output_name = outputs[0]
        else:
            raise ValueError(f"{self.onnx_path}: output {output_name!r} not among {outputs}")

    @property
    def providers(self) -> list[str]:
        """The execution providers the session actually uses (in priority order)."""
        return list(self.session.get_providers())

    @property
    def n_features(self) -> int | None:
        return self._metadata_shape[1]

    def _check(self, name: str, a, shape: tuple) -> np.ndarray:
        if not isinstance(a, np.ndarray):
            raise TypeError(f"{name} must be a numpy array, not {type(a).__name__}")
        if a.dtype != np.float32:
            raise TypeError(f"{name} must be float32, got {a.dtype} (cast explicitly)")
        if a.ndim != len(shape) or any(s is not None and s != d for s, d in zip(shape[1:], a.shape[1:])):
            want = "x".join("N" if s is None else str(s) for s in shape)
            raise ValueError(f"{name} must have shape ({want}), got {a.shape}")
        return np.ascontiguousarray(a)

    def run(self, triplets: np.ndarray, metadata: np.ndarray) -> np.ndarray:
        """Scores (N,) float32 for N triplets (N,63,63,3) and metadata rows (N,F), both float32."""
        triplets = self._check("triplets", triplets, self._triplet_shape)
        metadata = self._check("metadata", metadata, self._metadata_shape)
        if triplets.shape[0] != metadata.shape[0]:
            raise ValueError(f"batch sizes differ: {triplets.shape[0]} triplets, {metadata.shape[0]} metadata rows")
        if triplets.shape[0] == 0:
            return np.empty(0, dtype=np.float32)
        (out,) = self.session.run([self.output_name], {self.triplet_input: triplets, self.metadata_input: metadata})
        return np.asarray(out, dtype=np.float32).reshape(triplets.shape[0])

    __call__ = run

    def __repr__(self) -> str:
        return f"OnnxBackend({self.onnx_path!r}, providers={self.providers})"
