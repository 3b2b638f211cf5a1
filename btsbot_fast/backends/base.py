"""What every backend shares: the devices a model can run on and the errors of loading it there."""

from __future__ import annotations

#: where a model can run (``Scorer(device=...)``, ``btsbot-fast score --device``)
DEVICES = ("cpu", "cuda", "tensorrt")


class DeviceUnavailableError(RuntimeError):
    """The requested device cannot run the model here. Never replaced by a silent CPU run."""


class ModelLoadError(ValueError):
    """ONNX Runtime cannot load the file, or the model's inputs/outputs are not a BTSbot model's."""


class ModelRunError(RuntimeError):
    """ONNX Runtime failed while running a batch (a CUDA failure, a broken execution provider or kernel):
    the runtime is broken, not the alerts, so the run stops rather than turning them into error rows."""


__all__ = ["DEVICES", "DeviceUnavailableError", "ModelLoadError", "ModelRunError"]
