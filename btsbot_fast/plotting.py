"""The one gate to matplotlib: every figure of the package (``show``, ``report``, ``evaluate``, autoscan's
decisions figure) reaches matplotlib through here, on the Agg backend (files only, no display), and a
missing matplotlib (or astropy, for the scanner's stretch) fails with the extra to install.

matplotlib is imported on first use only: importing this module costs nothing.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType
from typing import Any

from .messages import install_hint

#: how to get what the figures need
REPORT_HINT = install_hint("report")


def require(what: str, *, astropy: bool = False) -> None:
    """For a command to check before its run that it can draw: an ImportError naming ``what`` and the extra
    to install when matplotlib (and, with ``astropy``, astropy) is missing."""
    missing = []
    for module in ("matplotlib", "astropy.visualization") if astropy else ("matplotlib",):
        try:
            importlib.import_module(module)
        except ImportError:
            missing.append(module.split(".")[0])
    if missing:
        needs = ("matplotlib and astropy (" + " and ".join(missing) + (" is" if len(missing) == 1 else " are")
                 + " missing)") if astropy else "matplotlib"
        raise ImportError(f"{what} needs {needs}: {REPORT_HINT}")


def matplotlib() -> ModuleType:
    """matplotlib itself, on the Agg backend."""
    import matplotlib as mpl

    if mpl.get_backend().lower() != "agg":
        mpl.use("Agg", force=True)
    return mpl


def part(name: str) -> ModuleType:
    """A submodule of matplotlib (``part("figure").Figure``), after :func:`matplotlib` chose the backend."""
    matplotlib()
    return importlib.import_module(f"matplotlib.{name}")


def pyplot() -> Any:
    """matplotlib's pyplot on the Agg backend."""
    return part("pyplot")


def save(plt: Any, fig: Any, path: Path, dpi: int = 110) -> Path:
    """Lay out, write and close a pyplot figure (closing frees it: a run makes several)."""
    fig.tight_layout()
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    return path


__all__ = ["REPORT_HINT", "matplotlib", "part", "pyplot", "require", "save"]
