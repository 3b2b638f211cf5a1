"""Export a trained Keras model to ONNX, check parity, and write the registry model card.

The ONNX graph always has the two inputs ``triplet`` [N, 63, 63, 3] and ``metadata`` [N, F] and the one
output ``fc_out`` [N, 1] (dynamic batch), so every exported model scores through the same ``Scorer``. For
the single-branch variants the input the network does not use is still declared (image-only models take
one metadata column, ``magpsf``, and ignore it; metadata-only models ignore the triplet); the model card
lists it under ``ignored_inputs``.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from ..prep.variant import VARIANT
from .models import OUTPUT_NAME, STAMP

ONNX_FILE = "model.onnx"
CARD_FILE = "model_card.json"
KERAS_FILE = "model.keras"
OPSET = 17
#: the metadata column an image-only model declares (and ignores) so it keeps the two standard inputs
IMAGE_ONLY_PLACEHOLDER_FEATURE = "magpsf"


class ParityError(RuntimeError):
    """The ONNX export does not reproduce the Keras model within tolerance."""


def exported_feature_names(cfg: dict[str, Any]) -> list[str]:
    return list(cfg["features"]) if cfg["inputs"] != "image" else [IMAGE_ONLY_PLACEHOLDER_FEATURE]


def export_onnx(model, cfg: dict[str, Any], path: str | Path, opset: int = OPSET) -> Path:
    """Convert ``model`` with tf2onnx (``from_function``; inputs and output named explicitly)."""
    import tensorflow as tf
    import tf2onnx

    nfeat = len(exported_feature_names(cfg))
    sig = (tf.TensorSpec([None, STAMP, STAMP, 3], tf.float32, name="triplet"),
           tf.TensorSpec([None, nfeat], tf.float32, name="metadata"))
    kind = cfg["inputs"]

    @tf.function(input_signature=sig)
    def serve(triplet, metadata):
        if kind == "both":
            y = model({"triplet": triplet, "metadata": metadata}, training=False)
        elif kind == "image":
            y = model({"triplet": triplet}, training=False)
        else:
            y = model({"metadata": metadata}, training=False)
        return {OUTPUT_NAME: tf.identity(y, name=OUTPUT_NAME)}

    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    tf2onnx.convert.from_function(serve, input_signature=sig, opset=opset, output_path=str(tmp))
    _rename_io(tmp)
    os.replace(tmp, path)
    return path


def _rename_io(path: Path) -> None:
    """Make sure the graph's inputs are called ``triplet``/``metadata`` and its output ``fc_out``."""
    import onnx

    m = onnx.load(str(path))
    g = m.graph
    renames = {}
    for i in g.input:
        base = i.name.split(":")[0]
        if base != i.name and base in ("triplet", "metadata"):
            renames[i.name] = base
    if len(g.output) == 1 and g.output[0].name != OUTPUT_NAME:
        renames[g.output[0].name] = OUTPUT_NAME
    if not renames:
        return
    for node in g.node:
        node.input[:] = [renames.get(n, n) for n in node.input]
        node.output[:] = [renames.get(n, n) for n in node.output]
    for v in list(g.input) + list(g.output):
        v.name = renames.get(v.name, v.name)
    onnx.save(m, str(path))


def onnx_io(path: str | Path) -> dict[str, Any]:
    import onnx

    m = onnx.load(str(path))

    def dims(v):
        return [d.dim_value if d.HasField("dim_value") else None for d in v.type.tensor_type.shape.dim]

    return {"inputs": {i.name: dims(i) for i in m.graph.input}, "outputs": {o.name: dims(o) for o in m.graph.output}}


def keras_predict(model, cfg: dict[str, Any], triplets: np.ndarray, metadata: np.ndarray,
                  batch_size: int = 256) -> np.ndarray:
    """Keras scores (N,) for inputs in the exported form (metadata with ``exported_feature_names``)."""
    out = np.empty(len(triplets), dtype=np.float32)
    for s in range(0, len(triplets), batch_size):
        t, m = triplets[s:s + batch_size], metadata[s:s + batch_size]
        feed = {"both": {"triplet": t, "metadata": m}, "image": {"triplet": t}, "metadata": {"metadata": m}}
        out[s:s + batch_size] = np.asarray(model(feed[cfg["inputs"]], training=False)).reshape(-1)
    return out


def parity(onnx_path: Path, reference: np.ndarray, triplets: np.ndarray, metadata: np.ndarray,
           spec: dict[str, Any]) -> float:
    """max |ONNX - reference| over the given inputs, scoring the ONNX file through ``Scorer``."""
    from ..scorer import Scorer

    scorer = Scorer(model=_SpecModel(onnx_path, spec).resolve())
    got = scorer.score_arrays(triplets, metadata)
    return float(np.max(np.abs(got.astype(np.float64) - reference.astype(np.float64)))) if len(got) else 0.0


class _SpecModel:
    """A resolved model for an ONNX file before its card is written."""

    def __init__(self, onnx_path: Path, spec: dict[str, Any]):
        self.onnx_path, self.spec = onnx_path, spec

    def resolve(self):
        from .. import registry

        return registry.resolve(str(self.onnx_path), spec=self.spec)


def sha256_file(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def card_spec(cfg: dict[str, Any]) -> dict[str, Any]:
    """The I/O part of the model card (enough for ``registry.resolve(..., spec=...)``)."""
    feats = exported_feature_names(cfg)
    inputs = {
        "triplet": {"name": "triplet", "dtype": "float32", "shape": [None, STAMP, STAMP, 3], "layout": "NHWC",
                    "channels": ["science", "template", "difference"]},
        "metadata": {"name": "metadata", "dtype": "float32", "shape": [None, len(feats)]},
    }
    ignored = []
    if cfg["inputs"] == "image":
        ignored = ["metadata"]
        inputs["metadata"]["description"] = "ignored by this image-only model (declared so all models share inputs)"
    elif cfg["inputs"] == "metadata":
        ignored = ["triplet"]
        inputs["triplet"]["description"] = "ignored by this metadata-only model (declared so all models share inputs)"
    spec = {
        "name": cfg["name"], "version": str(cfg["version"]), "variant": VARIANT, "feature_names": feats,
        "inputs": inputs, "input_layout": "NHWC",
        "output": {"name": OUTPUT_NAME, "dtype": "float32", "shape": [None, 1],
                   "semantics": "sigmoid probability of a bright transient"},
    }
    if ignored:
        spec["ignored_inputs"] = ignored
    return spec


def write_card(run_dir: Path, cfg: dict[str, Any], *, max_abs_diff: float, n_parity: int,
               training: dict[str, Any], params: int) -> dict[str, Any]:
    card = card_spec(cfg)
    card.update({
        "onnx": ONNX_FILE,
        "onnx_sha256": sha256_file(run_dir / ONNX_FILE),
        "keras": KERAS_FILE,
        "architecture": {"name": cfg["arch"], "inputs": cfg["inputs"], "parameters": int(params)},
        "parity": {"max_abs_diff": max_abs_diff, "reference": "keras", "inputs": "validation",
                   "n": int(n_parity), "tolerance": float(cfg["training"]["parity_tolerance"])},
        "conversion": {"converter": "tf2onnx (from_function)", "opset": OPSET},
        "training": training,
        "created": _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat(),
        "licence": cfg["licence"],
    })
    tmp = run_dir / (CARD_FILE + ".tmp")
    tmp.write_text(json.dumps(card, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, run_dir / CARD_FILE)
    return card
