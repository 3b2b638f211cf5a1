"""Words the messages share: how to install an extra, and a count with its noun.

One form for every hint, the README's: ``pip install "btsbot-fast[EXTRA]"`` (double quotes work in
every common shell, Windows' included). No imports: any module may use these.
"""

from __future__ import annotations


def install_hint(extra: str) -> str:
    """The command that installs an extra, e.g. ``pip install "btsbot-fast[report]"``."""
    return f'pip install "btsbot-fast[{extra}]"'


def plural(n: int, noun: str, nouns: str | None = None) -> str:
    """``1 alert``, ``2 alerts``, ``0 alerts`` (``nouns``: an irregular plural)."""
    return f"{n} {noun if n == 1 else nouns or noun + 's'}"


__all__ = ["install_hint", "plural"]
