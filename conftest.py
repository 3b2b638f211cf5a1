"""Tests import the installed btsbot_fast (with its compiled ``_core``), never the bare source tree beside
this file: ``python -m pytest`` puts the current folder first on ``sys.path`` and pytest puts the folder
of this conftest there too, so from the repository root the source tree (no ``_core``) would shadow the
installed package. An editable install still runs these very sources (its finder maps them)."""

from __future__ import annotations

import importlib.util
import os
import sys

_ROOT = os.path.dirname(os.path.abspath(__file__))


def _is_root(entry: str) -> bool:
    return os.path.abspath(entry or os.curdir) == _ROOT


_removed = [p for p in sys.path if _is_root(p)]
sys.path[:] = [p for p in sys.path if not _is_root(p)]
if importlib.util.find_spec("btsbot_fast") is None:  # nothing installed: the source tree is all there is
    sys.path[:0] = _removed
