"""Cells of a score table, typed: one parser per column type, for CSV text, JSON values and Parquet
values alike. An empty, unreadable or (for numbers) non-finite cell is None."""

from __future__ import annotations

import math
from typing import Any

import numpy as np


def cell_float(value: Any) -> float | None:
    """A float cell: None when empty, unreadable or not finite."""
    if value is None or value == "":
        return None
    try:
        f = float(value)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def cell_int(value: Any) -> int | None:
    """An integer cell (exact for int64 candids written as text; a float cell only when it is integral)."""
    if value is None or value == "":
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        f = cell_float(value)
        return int(f) if f is not None and f.is_integer() else None


def parse_verdict(value: Any) -> bool | None:
    """A boolean cell such as ``bts_candidate``, as the score tables write it: true / false (bool,
    ``true``/``false`` in any case, 1/0), or None for unknown (None, empty, NaN, anything else)."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, str):
        return {"true": True, "false": False, "1": True, "0": False}.get(value.strip().lower())
    if isinstance(value, (int, np.integer)) and value in (0, 1):
        return bool(value)
    if isinstance(value, (float, np.floating)) and value in (0.0, 1.0):
        return bool(value)
    return None


def cell_str(value: Any) -> str | None:
    """A text cell: None when empty."""
    return None if value is None or value == "" else str(value)


#: the parser of each column type (btsbot_fast.rows.columns.TYPES)
PARSERS = {"string": cell_str, "long": cell_int, "int": cell_int, "double": cell_float, "float": cell_float,
           "boolean": parse_verdict}

__all__ = ["PARSERS", "cell_float", "cell_int", "cell_str", "parse_verdict"]
