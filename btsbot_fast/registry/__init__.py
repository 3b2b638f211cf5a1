"""Model registry: entries (``models/*.json``), import/convert (TF SavedModel -> ONNX), the model cache.

Light to import: numpy and the standard library only; TensorFlow is imported inside ``import_model``.
"""

from __future__ import annotations

from .cache import ResolvedModel, cached_models, model_home, resolve, resolve_shipped
from .entries import VARIANTS, ModelEntry, get_entry, list_entries
from .errors import ModelCardError, ModelImportError, ModelNotFoundError

__all__ = [
    "ModelCardError", "ModelEntry", "ModelImportError", "ModelNotFoundError", "ResolvedModel", "VARIANTS",
    "cached_models", "get_entry", "import_model", "list_entries", "model_home", "pull", "resolve",
    "resolve_shipped", "verify",
]


def import_model(path, name=None, home=None, opset=None, spec=None, tolerance=None, **options) -> ResolvedModel:
    """Import a TF SavedModel (tarball or directory) into the cache as verified ONNX; a model the package
    ships is kept unless ``replace_shipped=True`` (``options``: see :func:`.convert.import_model`)."""
    from . import convert

    return convert.import_model(path, name=name, home=home, opset=opset, spec=spec, tolerance=tolerance, **options)


def pull(name, home=None, url=None, timeout=60.0) -> ResolvedModel:
    """Download a registry model, verify its sha256 and import it; see :mod:`.download`."""
    from .download import pull as _pull

    return _pull(name, home=home, url=url, timeout=timeout)


def verify(name, tarball, golden=None, reference=None, tolerance=None):
    """Convert the official tarball again and compare it with the shipped ONNX; see :mod:`.verify_shipped`."""
    from .verify_shipped import verify_shipped

    return verify_shipped(name, tarball, golden=golden, reference=reference, tolerance=tolerance)
