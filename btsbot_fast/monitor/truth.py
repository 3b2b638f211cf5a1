"""What the sources turned out to be: truth tables (``monitor --truth FILE``).

Two layouts, told apart by the header:

* the BTS Sample Explorer's CSV (``ZTFID, IAUID, RA, Dec, peakt, peakfilt, peakmag, peakabs, duration, rise,
  fade, type, redshift, b, A_V``): one row per BTS source, ``type`` its spectroscopic class;
* a plain table ``objectId,type[,peakmag][,saved_at]``, with or without that header; ``saved_at`` (with a
  header only) is when the scanners saved the source, as an ISO time (UTC) or a Julian date.

A row whose ``type`` is empty is an unclassified source (pending, not false). A row that cannot be read (too
few cells, no object id, a magnitude or time that is not one) stops the run with :class:`TruthError` naming
the file and line: a truth table is a person's file, and guessing at it would change the figures.
"""

from __future__ import annotations

import csv
import datetime as dt
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path

from ..messages import plural

#: the BTS Sample Explorer's columns (its CSV export)
BTS_COLUMNS = ("ZTFID", "IAUID", "RA", "Dec", "peakt", "peakfilt", "peakmag", "peakabs", "duration", "rise",
               "fade", "type", "redshift", "b", "A_V")
PLAIN_COLUMNS = ("objectId", "type", "peakmag", "saved_at")
#: SkyPortal's object ids: letters, digits and _ - ; : + .
_OBJECT_ID = re.compile(r"^[A-Za-z0-9_\-;:+.]+$")
#: cells the Sample Explorer writes for a missing number
_MISSING = {"", "-", "--", "nan", "NaN", "None", "null"}
#: Julian date of the Unix epoch
UNIX_EPOCH_JD = 2440587.5


class TruthError(ValueError):
    """A truth table that cannot be read; the message names the file and line."""


@dataclass(frozen=True)
class Truth:
    """What one source is, as far as is known. ``type`` None: not classified (yet)."""

    object_id: str
    type: str | None = None
    peakmag: float | None = None
    saved_jd: float | None = None  # when the scanners saved it (Julian date)
    tns_name: str | None = None
    origin: str = ""  # the file (and line), or the SkyPortal URL, it came from


def unix_to_jd(t: float) -> float:
    return t / 86400.0 + UNIX_EPOCH_JD


def jd_to_unix(jd: float) -> float:
    return (jd - UNIX_EPOCH_JD) * 86400.0


def parse_time_jd(text: str) -> float:
    """A Julian date from a JD number or an ISO time (naive = UTC, as SkyPortal writes them)."""
    text = text.strip()
    try:
        value = float(text)
    except ValueError:
        t = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
        if t.tzinfo is None:
            t = t.replace(tzinfo=dt.timezone.utc)
        return unix_to_jd(t.timestamp())
    if not 2.4e6 < value < 2.6e6:
        raise ValueError(f"{text!r} is neither an ISO time nor a Julian date")
    return value


def _mag(text: str | None) -> float | None:
    if text is None or text.strip() in _MISSING:
        return None
    value = float(text)
    if not math.isfinite(value):
        return None
    return value


def read_truth(path: str | os.PathLike[str]) -> dict[str, Truth]:
    """``object_id -> Truth`` from one table (:class:`TruthError` on a bad row, naming its line)."""
    path = Path(path)
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            lines = list(csv.reader(fh))
    except OSError as exc:
        raise TruthError(f"cannot read the truth table {path}: {exc.strerror}") from None
    except (UnicodeDecodeError, csv.Error) as exc:
        raise TruthError(f"{path}: not a CSV table: {exc}") from None
    rows = [(n, cells) for n, cells in enumerate(lines, start=1) if any(c.strip() for c in cells)]
    if not rows:
        return {}
    header = [c.strip() for c in rows[0][1]]
    if "ZTFID" in header:
        missing = [c for c in ("ZTFID", "type") if c not in header]
        if missing:
            raise TruthError(f"{path}:{rows[0][0]}: a BTS Sample Explorer table needs the column(s) "
                             f"{', '.join(missing)}")
        columns = {"objectId": header.index("ZTFID"), "type": header.index("type")}
        for name, key in (("peakmag", "peakmag"), ("IAUID", "tns_name")):
            if name in header:
                columns[key] = header.index(name)
        body = rows[1:]
    elif header and header[0].lower() in ("objectid", "object_id", "ztfid"):
        lower = [h.lower() for h in header]
        unknown = [h for h in header if h.lower() not in {c.lower() for c in PLAIN_COLUMNS} | {"object_id", "ztfid"}]
        if unknown or "type" not in lower:
            raise TruthError(f"{path}:{rows[0][0]}: a plain truth table has the columns "
                             f"{', '.join(PLAIN_COLUMNS)} (objectId and type required); got {', '.join(header)}")
        columns = {"objectId": 0, **{c: lower.index(c.lower()) for c in PLAIN_COLUMNS[1:] if c.lower() in lower}}
        body = rows[1:]
    else:  # no header: objectId,type[,peakmag]
        columns = {"objectId": 0, "type": 1, "peakmag": 2}
        body = rows
    need = max(columns[k] for k in ("objectId", "type")) + 1
    out: dict[str, Truth] = {}
    for n, cells in body:
        where = f"{path}:{n}"
        if len(cells) < need:
            raise TruthError(f"{where}: {plural(len(cells), 'cell')}, the table needs at least {need} "
                             f"({', '.join(k for k in columns if columns[k] < need)})")

        def cell(key: str, cells: list[str] = cells) -> str | None:
            i = columns.get(key)
            return cells[i].strip() if i is not None and i < len(cells) else None

        oid = cell("objectId") or ""
        if not _OBJECT_ID.match(oid):
            raise TruthError(f"{where}: {oid!r} is not an object id (letters, digits and _ - ; : + . only)")
        try:
            peakmag = _mag(cell("peakmag"))
        except ValueError:
            raise TruthError(f"{where}: peakmag {cell('peakmag')!r} is not a magnitude") from None
        saved = cell("saved_at")
        try:
            saved_jd = parse_time_jd(saved) if saved else None
        except ValueError:
            raise TruthError(f"{where}: saved_at {saved!r} is neither an ISO time nor a Julian date") from None
        tns = cell("tns_name")
        truth = Truth(oid, cell("type") or None, peakmag, saved_jd, tns if tns not in _MISSING else None, where)
        if oid in out and out[oid].type != truth.type:
            raise TruthError(f"{where}: {oid} is {truth.type or 'unclassified'} here but "
                             f"{out[oid].type or 'unclassified'} at line {out[oid].origin.rsplit(':', 1)[1]}")
        out[oid] = truth
    return out


def merge_truth(*tables: dict[str, Truth]) -> dict[str, Truth]:
    """Several tables as one: a later table's class, peak magnitude and save time replace an earlier one's
    where the later one has them (a file given later is the correction)."""
    out: dict[str, Truth] = {}
    for table in tables:
        for oid, t in table.items():
            old = out.get(oid)
            if old is None:
                out[oid] = t
                continue
            out[oid] = Truth(oid, t.type or old.type, t.peakmag if t.peakmag is not None else old.peakmag,
                             t.saved_jd if t.saved_jd is not None else old.saved_jd, t.tns_name or old.tns_name,
                             t.origin if t.type else old.origin)
    return out


__all__ = ["BTS_COLUMNS", "Truth", "TruthError", "jd_to_unix", "merge_truth", "parse_time_jd", "read_truth",
           "unix_to_jd"]
