"""Inference backends. Light to import: ``OnnxBackend`` (which pulls in onnxruntime) is loaded on use."""

from __future__ import annotations

from .base import DEVICES, DeviceUnavailableError, ModelLoadError, ModelRunError

__all__ = ["DEVICES", "DeviceUnavailableError", "ModelLoadError", "ModelRunError", "OnnxBackend"]


def __getattr__(name: str):
    if name == "OnnxBackend":
        from .onnx import OnnxBackend

        return OnnxBackend
    raise AttributeError(name)
