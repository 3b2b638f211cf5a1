"""Which classes count as "a real extragalactic transient": an ordered table of patterns, first match wins.

The defaults follow the BTS team's counting: supernovae of every type, tidal disruption events,
superluminous supernovae and other extragalactic transients (LBV and ILRT impostors, FBOTs) are real;
AGN, QSOs, CVs, Galactic novae, variable and other stars, asteroids and bogus detections are not. Patterns
are shell-style (``SN*``) and case-insensitive. A monitor TOML's ``[classes]`` table adds rules in front of
the defaults (``"SN Ia-CSM" = false``, ``"Other" = true``; ``"*" = false`` decides every class the table does
not name). A class no rule names counts as not real and is listed under ``unmapped`` in monitor.json, so
a new label is seen rather than silently counted.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

#: (pattern, real): the spec's defaults, in order
DEFAULT_CLASSES: tuple[tuple[str, bool], ...] = (
    ("SN*", True), ("Supernova*", True), ("SLSN*", True), ("TDE*", True), ("Tidal Disruption Event", True),
    ("LBV", True), ("ILRT", True), ("FBOT", True),
    # Fritz's taxonomy names supernova types without "SN"
    ("Ia*", True), ("Ib*", True), ("Ic*", True), ("II*", True),
    ("AGN*", False), ("QSO*", False), ("Blazar", False), ("CV*", False), ("Cataclysmic*", False), ("nova", False),
    ("Galactic Nova", False), ("star", False), ("varstar", False), ("* star", False), ("*variable*", False),
    ("asteroid", False), ("bogus", False),
)


@dataclass(frozen=True)
class ClassTable:
    rules: tuple[tuple[str, bool], ...] = DEFAULT_CLASSES
    unmapped: set[str] = field(default_factory=set, compare=False)

    @classmethod
    def with_overrides(cls, overrides: Mapping[str, bool] | None) -> ClassTable:
        extra = tuple((str(k), bool(v)) for k, v in (overrides or {}).items())
        return cls(extra + DEFAULT_CLASSES)

    def real(self, klass: str) -> bool:
        """Whether a source of this class is a real extragalactic transient."""
        name = klass.strip().lower()
        for pattern, real in self.rules:
            if fnmatch.fnmatchcase(name, pattern.lower()):
                return real
        self.unmapped.add(klass)
        return False

    def describe(self) -> Sequence[dict[str, object]]:
        return [{"pattern": p, "real": r} for p, r in self.rules]


def parse_overrides(table: object, where: str) -> dict[str, bool]:
    """The ``[classes]`` table of a TOML: ``pattern = true|false``."""
    if not isinstance(table, Mapping) or not all(isinstance(v, bool) for v in table.values()):
        raise ValueError(f"{where}: [classes] maps a class pattern to true (real) or false")
    return {str(k): bool(v) for k, v in table.items()}


__all__ = ["DEFAULT_CLASSES", "ClassTable", "parse_overrides"]
