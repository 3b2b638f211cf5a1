"""Inference backends. ``OnnxBackend`` (ONNX Runtime) is imported lazily: it pulls in onnxruntime."""

from __future__ import annotations

__all__ = ["OnnxBackend"]


def __getattr__(name: str):
    if name == "OnnxBackend":
        from .onnx import OnnxBackend

        return OnnxBackend
    raise AttributeError(name)
