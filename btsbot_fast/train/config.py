"""Training configuration: a plain JSON document, with the published hyperparameters as defaults.

A config has four sections (every key optional; missing keys take the architecture's published value)::

    {
      "arch": "mm_cnn",                 # mm_cnn (BTSbot v1) | mi_cnn (ICML-2023, v0.3)
      "inputs": "both",                 # both | image | metadata (image-only / metadata-only variants)
      "features": [...],                # metadata columns, a subset of the 25 btsbot-v1 features, in input order
      "name": "...", "version": "...", "licence": "...",
      "model":    {conv_filters, conv_kernel, pool_sizes, conv_dropouts, metadata_batchnorm,
                   batchnorm_epsilon, batchnorm_momentum, meta_dense, meta_dropouts, head_dense, head_dropouts},
      "training": {epochs, batch_size, learning_rate, beta_1, beta_2, early_stopping_patience,
                   reduce_lr {patience, factor, min_lr}, class_weights, augment {flip_h, flip_v, rot90},
                   n_max, seed, deterministic, parity_tolerance, parity_samples},
      "data":     {split [train, val, test], split_seed, labels}
    }

``configs/mm_cnn.json`` and ``configs/mi_cnn.json`` (package data) spell the published values out.
"""

from __future__ import annotations

import copy
import json
from importlib import resources
from pathlib import Path
from typing import Any

from ..prep.variant import FEATURE_NAMES

ARCHS = ("mm_cnn", "mi_cnn")
INPUT_KINDS = ("both", "image", "metadata")

#: the 14 features of the ICML-2023 model (v0.3), in its input order
MI_CNN_FEATURES = (
    "sgscore1", "distpsnr1", "sgscore2", "distpsnr2", "fwhm", "magpsf", "sigmapsf", "ra", "dec",
    "diffmaglim", "ndethist", "nmtchps", "age", "peakmag_so_far",
)

_COMMON_TRAINING = {
    "class_weights": True,
    "augment": {"flip_h": True, "flip_v": True, "rot90": True},
    "seed": 2,
    "deterministic": False,
    "parity_tolerance": 1e-5,
    "parity_samples": 2048,
}

_COMMON_DATA = {
    "split": [0.81, 0.09, 0.10],
    "split_seed": 2,
    "labels": "labels.csv",
}

#: published hyperparameters (spec btsbot-v1 sections 1 and 6)
PUBLISHED: dict[str, dict[str, Any]] = {
    "mm_cnn": {
        "arch": "mm_cnn",
        "inputs": "both",
        "features": list(FEATURE_NAMES),
        "name": "mm_cnn-custom",
        "version": "0.1.0",
        "licence": "unspecified",
        "model": {
            "conv_filters": [32, 64],
            "conv_kernel": 5,
            "pool_sizes": [2, 4],
            "conv_dropouts": [0.5, 0.55],
            "metadata_batchnorm": True,
            "batchnorm_epsilon": 1e-3,
            "batchnorm_momentum": 0.99,
            "meta_dense": [128, 128],
            "meta_dropouts": [0.25, 0.0],
            "head_dense": [8],
            "head_dropouts": [0.2],
        },
        "training": {
            "epochs": 1000,
            "batch_size": 64,
            "learning_rate": 1e-4,
            "beta_1": 0.99,
            "beta_2": 0.99,
            "early_stopping_patience": 75,
            "reduce_lr": {"patience": 20, "factor": 0.4, "min_lr": 5e-10},
            "n_max": 100,
            **copy.deepcopy(_COMMON_TRAINING),
        },
        "data": copy.deepcopy(_COMMON_DATA),
    },
    "mi_cnn": {
        "arch": "mi_cnn",
        "inputs": "both",
        "features": list(MI_CNN_FEATURES),
        "name": "mi_cnn-custom",
        "version": "0.1.0",
        "licence": "unspecified",
        "model": {
            "conv_filters": [16, 32],
            "conv_kernel": 3,
            "pool_sizes": [2, 4],
            "conv_dropouts": [0.2, 0.35],
            "metadata_batchnorm": False,
            "batchnorm_epsilon": 1e-3,
            "batchnorm_momentum": 0.99,
            "meta_dense": [16, 32],
            "meta_dropouts": [0.0, 0.0],
            "head_dense": [16],
            "head_dropouts": [0.45],
        },
        "training": {
            "epochs": 1000,
            "batch_size": 16,
            "learning_rate": 7.7e-5,
            "beta_1": 0.99,
            "beta_2": 0.999,
            "early_stopping_patience": 150,
            # the ICML-2023 model used no learning-rate schedule; null disables ReduceLROnPlateau
            "reduce_lr": None,
            "n_max": 60,
            **copy.deepcopy(_COMMON_TRAINING),
        },
        "data": copy.deepcopy(_COMMON_DATA),
    },
}


class ConfigError(ValueError):
    """A training config that cannot be used (unknown key, bad value)."""


def _merge(base: dict, over: dict, where: str) -> dict:
    out = copy.deepcopy(base)
    for key, value in over.items():
        if key.startswith("_") or key == "comment":
            continue  # free-form comments
        if key not in base:
            raise ConfigError(f"unknown config key {where}{key!r}")
        if isinstance(base[key], dict) and isinstance(value, dict) and key != "reduce_lr":
            out[key] = _merge(base[key], value, f"{where}{key}.")
        elif key == "reduce_lr" and isinstance(value, dict):
            default = base[key] or PUBLISHED["mm_cnn"]["training"]["reduce_lr"]
            out[key] = _merge(default, value, f"{where}{key}.")
        else:
            out[key] = copy.deepcopy(value)
    return out


def published(arch: str) -> dict[str, Any]:
    """The published configuration of ``arch`` (a fresh copy)."""
    if arch not in PUBLISHED:
        raise ConfigError(f"unknown arch {arch!r}; expected one of {', '.join(ARCHS)}")
    return copy.deepcopy(PUBLISHED[arch])


def make_config(overrides: dict[str, Any] | None = None, arch: str | None = None) -> dict[str, Any]:
    """A complete, validated config: the published values of the arch, with ``overrides`` applied."""
    overrides = dict(overrides or {})
    arch = overrides.get("arch") or arch or "mm_cnn"
    cfg = _merge(published(arch), overrides, "")
    validate(cfg)
    return cfg


def load_config(path: str | Path, arch: str | None = None) -> dict[str, Any]:
    """Read a JSON config file; missing keys take the published values of its ``arch``."""
    with open(path, encoding="utf-8") as fh:
        try:
            doc = json.load(fh)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{path}: not valid JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise ConfigError(f"{path}: a config is a JSON object")
    return make_config(doc, arch=arch)


def shipped_configs() -> list[str]:
    """Names of the example configs shipped with the package (``btsbot_fast/train/configs``)."""
    root = resources.files(__package__).joinpath("configs")
    return sorted(p.name for p in root.iterdir() if p.name.endswith(".json"))


def shipped_config_path(name: str) -> Path:
    root = resources.files(__package__).joinpath("configs")
    if not name.endswith(".json"):
        name += ".json"
    return Path(str(root.joinpath(name)))


def validate(cfg: dict[str, Any]) -> None:
    if cfg["arch"] not in ARCHS:
        raise ConfigError(f"unknown arch {cfg['arch']!r}; expected one of {', '.join(ARCHS)}")
    if cfg["inputs"] not in INPUT_KINDS:
        raise ConfigError(f"inputs must be one of {', '.join(INPUT_KINDS)}, not {cfg['inputs']!r}")
    feats = cfg["features"]
    if cfg["inputs"] == "image":
        cfg["features"] = feats = []
    else:
        if not feats:
            raise ConfigError("a model with a metadata input needs a non-empty feature list")
        unknown = [f for f in feats if f not in FEATURE_NAMES]
        if unknown:
            raise ConfigError(f"unknown features {unknown}; choose from the 25 btsbot-v1 features")
        if len(set(feats)) != len(feats):
            raise ConfigError("duplicate names in features")
    m = cfg["model"]
    if len(m["conv_filters"]) != len(m["pool_sizes"]) or len(m["conv_filters"]) != len(m["conv_dropouts"]):
        raise ConfigError("model.conv_filters, pool_sizes and conv_dropouts need the same length")
    if len(m["meta_dense"]) != len(m["meta_dropouts"]):
        raise ConfigError("model.meta_dense and meta_dropouts need the same length")
    if len(m["head_dense"]) != len(m["head_dropouts"]):
        raise ConfigError("model.head_dense and head_dropouts need the same length")
    t = cfg["training"]
    for key in ("epochs", "batch_size"):
        if int(t[key]) < 1:
            raise ConfigError(f"training.{key} must be >= 1")
    if t["n_max"] is not None and int(t["n_max"]) < 1:
        raise ConfigError("training.n_max must be >= 1 or null")
    split = cfg["data"]["split"]
    if len(split) != 3 or any(float(s) < 0 for s in split) or sum(split) <= 0:
        raise ConfigError("data.split is three non-negative fractions [train, val, test]")


def dump_config(cfg: dict[str, Any], path: str | Path) -> None:
    Path(path).write_text(json.dumps(cfg, indent=2) + "\n", encoding="utf-8")
