"""btsbot-fast: fast, exact scoring of ZTF alert packets with BTSbot.

The public API, imported on first use (``import btsbot_fast`` stays cheap: onnxruntime, pyarrow, pyspark
and matplotlib load only with the names that need them):

- scoring: :class:`Scorer`, :class:`ScoreResult` (one row per alert record), :class:`Status`,
  ``DEFAULT_MODEL``; the model registry: :func:`resolve_model`, :func:`list_models`
- preprocessing: :func:`preprocess_paths`, :func:`preprocess_records`; reading alerts: :func:`read_alerts`
- live scoring from Kafka: :func:`run_stream`
- acting on SkyPortal: :class:`Autoscan`, :func:`load_autoscan_config`
- Spark: :func:`with_btsbot_score`
- pictures: :func:`show_alert`, :func:`night_report`
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._version import __version__
from .status import Status

#: public name -> (module, name in that module)
_LAZY = {
    "Scorer": ("scorer", "Scorer"),
    "DEFAULT_MODEL": ("scorer", "DEFAULT_MODEL"),
    "ScoreResult": ("rows", "ScoreResult"),
    "resolve_model": ("registry", "resolve"),
    "list_models": ("registry", "list_entries"),
    "preprocess_paths": ("prep", "preprocess_paths"),
    "preprocess_records": ("prep", "preprocess_records"),
    "read_alerts": ("io", "read_alerts"),
    "run_stream": ("stream", "run_stream"),
    "Autoscan": ("autoscan", "Autoscan"),
    "load_autoscan_config": ("autoscan", "load_config"),
    "with_btsbot_score": ("spark", "with_btsbot_score"),
    "show_alert": ("show", "show_alert"),
    "night_report": ("show", "night_report"),
}

__all__ = ["Autoscan", "DEFAULT_MODEL", "ScoreResult", "Scorer", "Status", "__version__", "list_models",
           "load_autoscan_config", "night_report", "preprocess_paths", "preprocess_records", "read_alerts",
           "resolve_model", "run_stream", "show_alert", "with_btsbot_score"]

if TYPE_CHECKING:  # for type checkers and IDEs; at run time the names load on first use
    from .autoscan import Autoscan
    from .autoscan import load_config as load_autoscan_config
    from .io import read_alerts
    from .prep import preprocess_paths, preprocess_records
    from .registry import list_entries as list_models
    from .registry import resolve as resolve_model
    from .rows import ScoreResult
    from .scorer import DEFAULT_MODEL, Scorer
    from .show import night_report, show_alert
    from .spark import with_btsbot_score
    from .stream import run_stream


def __getattr__(name: str) -> Any:
    try:
        module, attr = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'btsbot_fast' has no attribute {name!r}") from None
    value = getattr(importlib.import_module(f".{module}", __name__), attr)
    globals()[name] = value  # once loaded, an ordinary attribute
    return value


def __dir__() -> list[str]:
    return list(__all__)
