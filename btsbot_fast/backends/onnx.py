"""ONNX Runtime backend: one session on one device, inputs addressed by name, float32 scores out.

Devices: ``cpu`` (CPUExecutionProvider), ``cuda`` (CUDAExecutionProvider) and ``tensorrt``
(TensorrtExecutionProvider, with CUDA then CPU for the nodes TensorRT does not take). Asking for a device
is a promise: when the provider is not in this ONNX Runtime build, or it is there but the session does
not come up on it (no GPU, CUDA/cuDNN libraries not found), :class:`DeviceUnavailableError` is raised.
ONNX Runtime itself would only log and quietly run on the CPU.
"""

from __future__ import annotations

import os
import warnings
from importlib import metadata as _md
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
from onnxruntime.capi import onnxruntime_pybind11_state as _ort_errors

from .base import DEVICES, DeviceUnavailableError, ModelLoadError, ModelRunError

#: the provider that must head the session's active list for each device
PRIMARY_PROVIDER = {
    "cpu": "CPUExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "tensorrt": "TensorrtExecutionProvider",
}

#: the PyPI distributions that install the ``onnxruntime`` module (exactly one may be installed)
ORT_DISTRIBUTIONS = ("onnxruntime", "onnxruntime-gpu")

GPU_INSTALL_HINT = ("for CUDA/TensorRT the only ONNX Runtime installed must be onnxruntime-gpu: "
                    "pip uninstall -y onnxruntime onnxruntime-gpu && pip install onnxruntime-gpu "
                    "(docs/gpu.md)")

# the errors ONNX Runtime raises for a file it cannot load as a model (they derive from Exception only)
_LOAD_ERRORS = tuple(getattr(_ort_errors, n) for n in ("Fail", "InvalidArgument", "NoSuchFile", "InvalidProtobuf",
                                                       "InvalidGraph", "NotImplemented") if hasattr(_ort_errors, n))
_EP_ERRORS = tuple(getattr(_ort_errors, n) for n in ("EPFail",) if hasattr(_ort_errors, n))
#: what a session's run raises when ONNX Runtime fails on a batch (its errors derive from Exception only;
#: RuntimeError: the pybind11 layer's). Raised again as ModelRunError: the run stops.
_RUN_ERRORS = (RuntimeError, *(getattr(_ort_errors, n) for n in ("Fail", "RuntimeException", "InvalidArgument",
                                                                  "EPFail") if hasattr(_ort_errors, n)))


def installed_ort_distributions() -> list[str]:
    """The ONNX Runtime distributions installed in this environment (normally exactly one)."""
    found = []
    for dist in ORT_DISTRIBUTIONS:
        try:
            _md.version(dist)
        except _md.PackageNotFoundError:
            continue
        found.append(dist)
    return found


def execution_providers(device: str = "cpu", *, device_id: int = 0, fp16: bool = False,
                        engine_cache: str | os.PathLike[str] | None = None,
                        profile_shapes: dict[str, tuple[int, ...]] | None = None,
                        max_batch: int | None = None) -> list[tuple[str, dict[str, Any]]]:
    """The ``(provider, options)`` list, in priority order, that runs a session on ``device``.

    * ``cuda``: CUDA on GPU ``device_id``, CPU for any node CUDA lacks.
    * ``tensorrt``: TensorRT on ``device_id`` (``fp16`` lets it use half precision; engines and timing
      data are cached in ``engine_cache`` so only the first session pays for the build), then CUDA, then
      CPU. With ``profile_shapes`` (input name -> shape without the batch axis) and ``max_batch``, one
      optimisation profile covers batches 1..max_batch, so a short last batch does not rebuild the engine.
    """
    if device not in DEVICES:
        raise ValueError(f"unknown device {device!r}; choose one of {', '.join(DEVICES)}")
    if not isinstance(device_id, int) or isinstance(device_id, bool) or device_id < 0:
        raise ValueError(f"device_id must be a non-negative integer, got {device_id!r}")
    if fp16 and device != "tensorrt":
        raise ValueError("fp16 applies to the tensorrt device only (CPU and CUDA run the model in float32)")
    cpu = ("CPUExecutionProvider", {})
    cuda = ("CUDAExecutionProvider", {"device_id": device_id})
    if device == "cpu":
        return [cpu]
    if device == "cuda":
        return [cuda, cpu]
    trt: dict[str, Any] = {"device_id": device_id, "trt_fp16_enable": bool(fp16)}
    if engine_cache is not None:
        cache = os.fspath(engine_cache)
        trt.update(trt_engine_cache_enable=True, trt_engine_cache_path=cache,
                   trt_timing_cache_enable=True, trt_timing_cache_path=cache)
    if profile_shapes and max_batch:
        def shapes(n: int) -> str:
            return ",".join(f"{name}:{'x'.join(str(d) for d in (n, *dims))}" for name, dims in profile_shapes.items())

        trt.update(trt_profile_min_shapes=shapes(1), trt_profile_opt_shapes=shapes(max_batch),
                   trt_profile_max_shapes=shapes(max_batch))
    return [("TensorrtExecutionProvider", trt), cuda, cpu]


def check_active_providers(device: str, active: list[str], available: list[str]) -> None:
    """Raise :class:`DeviceUnavailableError` unless ``device``'s provider heads the session's ``active``
    list (ONNX Runtime falls back to the CPU with nothing more than a log line)."""
    want = PRIMARY_PROVIDER[device]
    if active and active[0] == want:
        return
    raise DeviceUnavailableError(
        f"device {device!r}: the ONNX Runtime session did not start on {want} (active: {', '.join(active) or 'none'}; "
        f"this build offers {', '.join(available)}). Is a GPU visible and are the CUDA/cuDNN"
        + ("/TensorRT" if device == "tensorrt" else "") + " libraries onnxruntime-gpu needs on the library path?")


class OnnxBackend:
    """Scores batches with an ONNX Runtime session created once.

    ``run(triplets (N,63,63,3) float32, metadata (N,F) float32) -> (N,) float32``. Inputs are found by name
    (``triplet``/``metadata`` unless told otherwise; failing that, by rank: 4-D is the triplet), never by
    position: tf2onnx emits ``metadata`` first. See :func:`execution_providers` for the device options.
    """

    def __init__(self, onnx_path: str | os.PathLike, intra_op_threads: int = 0, inter_op_threads: int = 1,
                 device: str = "cpu", *, device_id: int = 0, fp16: bool = False,
                 engine_cache: str | os.PathLike[str] | None = None, max_batch: int | None = None,
                 n_features: int | None = None, triplet_input: str = "triplet", metadata_input: str = "metadata",
                 output_name: str | None = None, spinning: bool = True):
        self.onnx_path = os.fspath(onnx_path)
        self.device = device
        profile = None
        if device == "tensorrt" and n_features:
            profile = {triplet_input: (63, 63, 3), metadata_input: (int(n_features),)}
        requested = execution_providers(device, device_id=device_id, fp16=fp16, engine_cache=engine_cache,
                                        profile_shapes=profile, max_batch=max_batch)
        self.requested_providers = [name for name, _ in requested]
        available = ort.get_available_providers()
        dists = installed_ort_distributions()
        if device != "cpu":
            if len(dists) > 1:
                raise DeviceUnavailableError(
                    f"device {device!r}: both {' and '.join(dists)} are installed; they overwrite each other's "
                    f"files, so which one runs is undefined. {GPU_INSTALL_HINT}")
            if PRIMARY_PROVIDER[device] not in available:
                raise DeviceUnavailableError(
                    f"device {device!r}: this ONNX Runtime ({', '.join(dists) or 'unknown distribution'} "
                    f"{ort.__version__}) has no {PRIMARY_PROVIDER[device]} (it has: {', '.join(available)}); "
                    + GPU_INSTALL_HINT)
            if engine_cache is not None:
                Path(engine_cache).mkdir(parents=True, exist_ok=True)
        elif len(dists) > 1:
            warnings.warn(f"both {' and '.join(dists)} are installed; keep exactly one ({GPU_INSTALL_HINT})",
                          RuntimeWarning, stacklevel=2)
        so = ort.SessionOptions()
        so.intra_op_num_threads = int(intra_op_threads)
        so.inter_op_num_threads = int(inter_op_threads)
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        so.log_severity_level = 3  # errors only; a provider that fails is reported by the check below
        if not spinning:  # others share these cores (another session, preprocessing): idle threads must not spin
            so.add_session_config_entry("session.intra_op.allow_spinning", "0")
        usable = [(name, opts) for name, opts in requested if name in available]
        try:
            self.session = ort.InferenceSession(self.onnx_path, sess_options=so,
                                                providers=[n for n, _ in usable],
                                                provider_options=[o for _, o in usable])
        except _EP_ERRORS as exc:
            raise DeviceUnavailableError(f"device {device!r}: {PRIMARY_PROVIDER[device]} failed: {exc}") from None
        except _LOAD_ERRORS as exc:
            raise ModelLoadError(f"ONNX Runtime cannot load {self.onnx_path}: {exc}") from None
        check_active_providers(device, self.session.get_providers(), available)

        inputs = {i.name: i for i in self.session.get_inputs()}
        if len(inputs) != 2:
            raise ModelLoadError(f"{self.onnx_path}: expected 2 inputs (triplet, metadata), found {list(inputs)}")
        if triplet_input in inputs and metadata_input in inputs:
            t, m = inputs[triplet_input], inputs[metadata_input]
        else:
            by_rank = {len(i.shape): i for i in inputs.values()}
            if set(by_rank) != {2, 4}:
                raise ModelLoadError(f"{self.onnx_path}: inputs {list(inputs)} are not named "
                                     f"{triplet_input!r}/{metadata_input!r} and not one 4-D plus one 2-D input")
            t, m = by_rank[4], by_rank[2]
        for i in (t, m):
            if i.type != "tensor(float)":
                raise ModelLoadError(f"{self.onnx_path}: input {i.name!r} is {i.type}, expected tensor(float)")
        self.triplet_input, self.metadata_input = t.name, m.name
        self._triplet_shape = tuple(d if isinstance(d, int) else None for d in t.shape)
        self._metadata_shape = tuple(d if isinstance(d, int) else None for d in m.shape)
        outputs = [o.name for o in self.session.get_outputs()]
        if output_name is not None and output_name in outputs:
            self.output_name = output_name
        elif len(outputs) == 1:
            self.output_name = outputs[0]
        else:
            raise ModelLoadError(f"{self.onnx_path}: output {output_name!r} not among {outputs}")

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
        try:
            (out,) = self.session.run([self.output_name], {self.triplet_input: triplets,
                                                           self.metadata_input: metadata})
        except _RUN_ERRORS as exc:
            raise ModelRunError(f"ONNX Runtime failed on a batch of {triplets.shape[0]} alerts "
                                f"({', '.join(self.providers)}, {os.path.basename(self.onnx_path)}): "
                                f"{type(exc).__name__}: {exc}") from exc
        return np.asarray(out, dtype=np.float32).reshape(triplets.shape[0])

    __call__ = run

    def __repr__(self) -> str:
        return f"OnnxBackend({self.onnx_path!r}, device={self.device!r}, providers={self.providers})"
