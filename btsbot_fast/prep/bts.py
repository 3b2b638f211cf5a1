"""The Bright Transient Survey's candidate filter: the verdict codes both engines give, their meaning, and
the pure-Python twin (``--engine python``) of the native filter (csrc/bts_filter.cpp).

BTS considers only alerts that pass its filter (Fremling et al. 2020, Perley et al. 2020): bright, off the
Galactic plane, a positive subtraction, no star underneath, real, not near a bright star, seen before, not
an asteroid, not a known variable. This is the version in operation since 2020-07-10 (published as
dperley/ztf-bts-filters ``rcf2020.py``), restated from the facts in ../shared/spec/bts-filter.md.

A verdict is a uint16 code: 0 = a candidate; bit k = criterion ``CRITERIA[k]`` failed; with
:data:`UNKNOWN` set the low byte indexes :data:`FIELDS`, the first field the filter reads that is null or
absent (the published code raises there; ours says the verdict is unknown). ``describe`` turns codes into
the result fields ``bts_candidate`` (True / False / None) and ``bts_reject`` (``"bright,stationary"``,
``""`` when it passes, ``"missing:drb"`` when unknown). A row without a readable candidate (no candidate
record, a record that could not be decoded, a packet that is not a ZTF alert: ``unsupported_schema``, e.g.
ZUDS, whose record is not read) carries ``missing:candidate``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from .variant import POSITIVE_ISDIFFPOS

#: criteria in the spec's order (bit k of a code: CRITERIA[k] failed)
CRITERIA = ("latitude", "bright", "pointunderneath", "stationary", "real", "positivesubtraction", "brightstar",
            "rock", "variablesource")
#: criteria that hold for a candidate (the others are reject flags: pointunderneath, brightstar, rock,
#: variablesource, which must be false)
MUST_HOLD = ("latitude", "bright", "stationary", "real", "positivesubtraction")
#: the candidate fields the filter reads, in the order it checks them (the published code's reading
#: order, so an unknown verdict names the field it raised on)
CANDIDATE_FIELDS = (
    "magpsf", "jd", "fid", "isdiffpos", "rb", "sgscore1", "sgscore2", "sgscore3", "srmag1", "srmag2", "srmag3",
    "sgmag1", "simag1", "szmag1", "distpsnr1", "distpsnr2", "distpsnr3", "magnr", "distnr", "neargaia",
    "maggaia", "neargaiabright", "maggaiabright", "ssdistnr", "ssmagnr", "jdstarthist", "ra", "dec", "drb",
)
#: the prv_candidates item fields it reads: a non-null item without the field (its schema lacks it), or a
#: positive detection with a null jd, makes the verdict unknown
PRV_FIELDS = ("isdiffpos", "jd", "magpsf", "fid")
#: what an unknown verdict can name (index = the low byte of the code)
FIELDS = ("candidate", *CANDIDATE_FIELDS, *(f"prv_candidates.{f}" for f in PRV_FIELDS))
UNKNOWN = 0x8000
NO_CANDIDATE = UNKNOWN  # FIELDS[0]

#: the BTS latitude cut: candidates lie outside -7 < b < 7 (degrees)
LATITUDE_CUT = 7.0


def unknown(field: str) -> int:
    return UNKNOWN | FIELDS.index(field)


def describe(code: int) -> tuple[bool | None, str]:
    """(bts_candidate, bts_reject) of one verdict code."""
    if code & UNKNOWN:
        return None, f"missing:{FIELDS[code & 0xFF]}"
    if code == 0:
        return True, ""
    return False, ",".join(name for k, name in enumerate(CRITERIA) if code & (1 << k))


_DESCRIBED: dict[int, tuple[bool | None, str]] = {}


def describe_all(codes: np.ndarray) -> list[tuple[bool | None, str]]:
    """``describe`` of every code of a batch (memoised: a night has a few dozen distinct codes)."""
    out = []
    for c in codes.tolist():
        d = _DESCRIBED.get(c)
        if d is None:
            d = _DESCRIBED[c] = describe(c)
        out.append(d)
    return out


def criteria_values(reject: str) -> dict[str, bool]:
    """Each criterion's value for a known verdict's ``bts_reject`` (as the published code reports them:
    True for a criterion that holds, and True for a reject flag that is raised)."""
    failed = set(reject.split(",")) if reject else set()
    return {name: (name not in failed) if name in MUST_HOLD else (name in failed) for name in CRITERIA}


# ------------------------------------------------------------------------------------------------
# the Python twin


def galactic_latitude(ra: float, dec: float) -> float:
    """Galactic latitude (degrees) of ICRS (ra, dec) with astropy (the reference run's computation); NaN
    when (ra, dec) is no position (non-finite, |dec| > 90; astropy would raise): never inside the band."""
    if not (math.isfinite(ra) and -90.0 <= dec <= 90.0):
        return math.nan
    import astropy.units as u
    from astropy.coordinates import SkyCoord

    return float(SkyCoord(ra=ra * u.deg, dec=dec * u.deg, frame="icrs").galactic.b.deg)


def verdict(record: dict[str, Any] | None) -> int:
    """The verdict code of one decoded alert record (fastavro / Parquet row dicts)."""
    cand = record.get("candidate") if isinstance(record, dict) else None
    if not isinstance(cand, dict):
        return NO_CANDIDATE
    for name in CANDIDATE_FIELDS:
        if cand.get(name) is None:
            return unknown(name)
    items = [p for p in (record.get("prv_candidates") or ()) if isinstance(p, dict)]
    for name in PRV_FIELDS:
        if any(name not in p for p in items):
            return unknown(f"prv_candidates.{name}")
    c = {name: cand[name] if name == "isdiffpos" else float(cand[name]) for name in CANDIDATE_FIELDS}
    positive = [p for p in items if p["isdiffpos"] in POSITIVE_ISDIFFPOS and p["magpsf"] is not None]
    if any(p["jd"] is None for p in positive):
        return unknown("prv_candidates.jd")
    return _evaluate(c, [(float(p["jd"]), float(p["magpsf"]), math.nan if p["fid"] is None else float(p["fid"]))
                         for p in positive])


def _evaluate(c: dict[str, Any], positive: Sequence[tuple[float, float, float]]) -> int:
    """The criteria (spec ../shared/spec/bts-filter.md) of a candidate whose fields are all there;
    ``positive``: (jd, magpsf, fid) of its positive previous detections."""
    for name in ("distpsnr1", "distpsnr2", "distpsnr3", "distnr"):
        if c[name] < 0:  # no match
            c[name] = 99.0
    magpsf, jd, fid = c["magpsf"], c["jd"], c["fid"]
    age = jd - c["jdstarthist"]
    sg1, d1, sr1, si1, sz1 = c["sgscore1"], c["distpsnr1"], c["srmag1"], c["simag1"], c["szmag1"]
    rb, drb, neargaia, maggaia = c["rb"], c["drb"], c["neargaia"], c["maggaia"]
    magnr, distnr = c["magnr"], c["distnr"]

    dts = [(jd - pjd, pmag, pfid) for pjd, pmag, pfid in positive]
    same_band = [pmag for dt, pmag, pfid in dts if dt != 0 and pmag < 99 and pfid == fid]
    prevpasscount = sum(1 for pmag in same_band if pmag < 19.0)
    peakmag = min(same_band, default=99.0)

    ps1mag = sr1
    for m in (si1, c["sgmag1"], sz1):
        if ps1mag <= 0 or ps1mag > 30:
            ps1mag = m
    if ps1mag <= 0:
        ps1mag = 99.0
    ps1maxmag = sr1
    for m in (si1, c["sgmag1"], sz1):
        if 0 < m < ps1maxmag:  # from r: a missing r (-999) stays, and becomes 99 (the published code's)
            ps1maxmag = m
    if ps1maxmag <= 0:
        ps1maxmag = 99.0

    b = galactic_latitude(c["ra"], c["dec"])
    ok = {
        "latitude": not (-LATITUDE_CUT < b < LATITUDE_CUT),
        "bright": magpsf < 19.0 or any(-0.75 < dt < 0.75 and pmag < 19.0 for dt, pmag, _ in dts),
        "stationary": any(dt > 0.02 and pmag < 99 for dt, pmag, _ in dts),
        "positivesubtraction": c["isdiffpos"] in POSITIVE_ISDIFFPOS,
    }
    pointunderneath = (sg1 > 0.76 and d1 < 2) or (
        sg1 > 0.2 and d1 < 1 and ((sr1 > 0 and sz1 > 0 and sr1 - sz1 > 3) or (sr1 > 0 and si1 > 0 and sr1 - si1 > 3)))
    real = rb > 0.2
    if rb < 0.35 and ((0 < neargaia < 1.0 and 0 < maggaia < 17.0) or (
            d1 < 1.0 and sg1 > 0.49 and (0 < sr1 < 17.0 or 0 < si1 < 17.0 or 0 < sz1 < 16.5))):
        real = False
    if rb < 0.45 and ((0 < neargaia < 1.5 and 0 < maggaia < 15.5) or (
            d1 < 1.5 and sg1 > 0.49 and (0 < sr1 < 15.5 or 0 < si1 < 15.5 or 0 < sz1 < 15.0))):
        real = False
    if drb < 0.1:
        real = False
    if drb < 0.5 and age > 90 and ((d1 < 3.0 and ps1mag < 16) or (d1 < 1.1 and ps1mag < 18)):
        real = False
    if drb < 0.8 and age > 90 and ((d1 < 1.5 and ps1mag < 15.5) or (d1 < 0.8 and ps1mag < 17.5)):
        real = False
    ok["real"] = real
    brightstar = (0 < c["neargaiabright"] < 20 and 0 < c["maggaiabright"] < 12) or any(
        c[f"sgscore{k}"] > 0.9 and c[f"distpsnr{k}"] < 20 and 0 < c[f"srmag{k}"] < 14 for k in (1, 2, 3)) or (
        sg1 > 0.9 and d1 < 20 and 0 < si1 < 14) or (sg1 > 0.9 and d1 < 10 and 0 < sz1 < 14)
    rock = 0 <= c["ssdistnr"] < 12 and c["ssmagnr"] < 20
    atmax = magpsf <= peakmag
    variable = (
        (age > 90 and prevpasscount >= 3 - (age > 90) - (age > 360) and not (atmax and magpsf < 18.5)
         and magnr > 0 and ((distnr < 0.4 and magnr < 19.5) or (distnr < 0.8 and magnr < 17.5)
                            or (distnr < 1.2 and magnr < 15.5)))
        or (maggaia > 0 and neargaia > 0 and (
            (neargaia < 0.35 and maggaia < 17.0 and age > 30)
            or (neargaia < 0.35 and maggaia < 19.0 and age > 300 and magpsf > 18.5)
            or (neargaia < 0.2 and maggaia < 18.0 and age > 90)))
        or (sg1 > 0.25 and d1 < 3 and age > 90 and ps1maxmag < 16)
        or (sg1 == 0.5 and d1 < 0.5 and age > 90 and ps1maxmag < 17)
        or (0 < magnr < magpsf - 1 and age > 90 and distnr < 0.5 and not atmax)
    )
    raised = {"pointunderneath": pointunderneath, "brightstar": brightstar, "rock": rock, "variablesource": variable}
    code = 0
    for k, name in enumerate(CRITERIA):
        if (not ok[name]) if name in ok else raised[name]:
            code |= 1 << k
    return code


__all__ = ["CRITERIA", "FIELDS", "MUST_HOLD", "NO_CANDIDATE", "UNKNOWN", "criteria_values", "describe",
           "describe_all", "galactic_latitude", "verdict"]
