"""Errors raised by the model registry."""

from __future__ import annotations


class ModelNotFoundError(LookupError):
    """A model name or path that resolves to nothing usable (the message says how to get it)."""


class ModelImportError(RuntimeError):
    """Importing, converting, verifying or downloading a model failed (nothing was stored)."""


class ModelCardError(ValueError):
    """A registry entry or model card is malformed or inconsistent with the code (variant, features)."""
