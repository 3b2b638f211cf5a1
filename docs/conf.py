"""Sphinx configuration of the btsbot-fast documentation (MyST Markdown pages, API from the docstrings).

Build: ``pip install ".[docs]"`` then ``python -m sphinx -W --keep-going -b html docs build/docs``. The API
pages import the installed package (with its compiled core), so build it in the environment you score in.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from importlib import metadata

# autodoc imports the installed btsbot_fast (with its compiled core), never the bare source tree:
# `python -m sphinx` from the repository root puts the root first on sys.path, where the sources (no
# compiled core) would shadow the installed package. An editable install still maps these sources.
_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_removed = [p for p in sys.path if os.path.abspath(p or os.curdir) == _ROOT]
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _ROOT]
if importlib.util.find_spec("btsbot_fast") is None:  # nothing installed: the source tree is all there is
    sys.path[:0] = _removed

project = "btsbot-fast"
author = "btsbot-fast developers"
copyright = "btsbot-fast developers"
release = metadata.version("btsbot-fast")
version = release

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
]

source_suffix = {".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build"]

# MyST: ``{option}`` cross references aside, the pages are plain Markdown; heading anchors let pages link
# to a section (``page.md#section``)
myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3

# numpydoc-style sections (Parameters, Returns, Raises, Examples) in the public API's docstrings
napoleon_google_docstring = False
napoleon_numpy_docstring = True
napoleon_use_rtype = False
# Attributes sections as fields of their class (not separate entries, which dataclass fields would duplicate)
napoleon_use_ivar = True
autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_default_options = {"members": True}

html_theme = "furo"
html_title = f"btsbot-fast {release}"
