"""What every backend shares: the devices a model can run on and the errors of loading it there."""

from __future__ import annotations

#: where a model can run (``Scorer(device=...)``, ``btsbot-fast score --device``)
DEVICES = ("cpu", "cuda", "tensorrt")


class DeviceUnavailableError(RuntimeError):
    """The requested device cannot run the model here. Never replaced by a silent CPU run."""


class ModelLoadError(ValueError):
    """ONNX Runtime cannot load the file, or the model's inputs/outputs are not a BTSbot model's."""


__all__ = ["DEVICES", "DeviceUnavailableError", "ModelLoadError"]
