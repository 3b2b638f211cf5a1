"""Datasets for training and evaluation: one in-memory form, two sources.

* the BTSbot public data release layout: per split ``{split}_triplets_<tag>.npy`` (N, 63, 63, 3) and
  ``{split}_cand_<tag>.csv`` (one row per triplet: objectId, candid, jd, magpsf, label and the feature
  columns by name; upstream spells slot 17 ``new_drb`` and slot 19 ``nnondet``, both accepted);
* labelled alert packets: alert files (anything ``btsbot_fast.io`` reads) under a directory with a CSV
  ``objectId,label[,split]`` (``labels.csv``), preprocessed by the project's own preprocessing, so
  training and serving see identical inputs.

Both become a dict ``split -> AlertSet``. Splits are by source (no object in two splits), N_max thinning
applies to the training split only, class weights are ∝ 1/count with the largest weight 1.
"""

from __future__ import annotations

import csv
import logging
import math
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from ..messages import plural
from ..policies import parse_verdict
from ..prep.bts import UNKNOWN
from ..prep.variant import FEATURE_NAMES, STAMP_SIZE

log = logging.getLogger(__name__)

SPLITS = ("train", "val", "test")
#: upstream column spellings -> ours
COLUMN_ALIASES = {"new_drb": "drb", "nnondet": "nnotdet"}
_FEATURE_INDEX = {n: i for i, n in enumerate(FEATURE_NAMES)}
_RELEASE_RE = re.compile(r"^(train|val|test)_(triplets|cand)_(.+)\.(npy|csv)$")


class DataError(ValueError):
    """A dataset that cannot be read or used."""


@dataclass
class AlertSet:
    """Alerts of one split. ``metadata`` holds all 25 btsbot-v1 features in model order; a feature the
    source did not provide is NaN and absent from ``available``. ``triplets`` may be a read-only memmap."""

    triplets: np.ndarray  # (N, 63, 63, 3) float32
    metadata: np.ndarray  # (N, 25) float32
    labels: np.ndarray  # (N,) int8 (0/1)
    objectId: np.ndarray  # (N,) object (str)
    candid: np.ndarray  # (N,) int64 (-1 unknown)
    jd: np.ndarray  # (N,) float64
    magpsf: np.ndarray  # (N,) float64
    available: tuple[str, ...] = FEATURE_NAMES
    index: np.ndarray | None = None  # rows of ``triplets`` this set uses (None = all, in order)
    extra: dict[str, Any] = field(default_factory=dict)
    #: (N,) int8 BTS candidate filter verdict: 1 passed, 0 failed, -1 unknown; None: the data have none
    bts_candidate: np.ndarray | None = None

    def __post_init__(self) -> None:
        n = len(self.labels)
        for name in ("metadata", "objectId", "candid", "jd", "magpsf"):
            if len(getattr(self, name)) != n:
                raise DataError(f"column {name} has {len(getattr(self, name))} rows, labels {n}")
        if self.index is None and len(self.triplets) != n:
            raise DataError(f"{len(self.triplets)} triplets but {n} table rows")
        if self.bts_candidate is not None and len(self.bts_candidate) != n:
            raise DataError(f"column bts_candidate has {len(self.bts_candidate)} rows, labels {n}")

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def n_objects(self) -> int:
        return len(np.unique(self.objectId)) if len(self) else 0

    def class_counts(self) -> dict[int, int]:
        return {c: int(np.sum(self.labels == c)) for c in (0, 1)}

    def triplet_rows(self, rows: np.ndarray) -> np.ndarray:
        """float32 triplets for ``rows`` (positions in this set), read in storage order (memmap friendly)."""
        rows = np.asarray(rows, dtype=np.int64)
        src = rows if self.index is None else self.index[rows]
        order = np.argsort(src, kind="stable")
        out = np.empty((len(rows), STAMP_SIZE, STAMP_SIZE, 3), dtype=np.float32)
        out[order] = self.triplets[src[order]]
        return out

    def all_triplets(self) -> np.ndarray:
        if self.index is None:
            return np.asarray(self.triplets, dtype=np.float32)
        return self.triplet_rows(np.arange(len(self)))

    def features(self, names: Sequence[str], rows: np.ndarray | None = None) -> np.ndarray:
        """(N, F) float32 matrix of the named features, in the given order."""
        missing = [n for n in names if n not in self.available]
        if missing:
            raise DataError(f"the data have no column(s) {missing} (available: {' '.join(self.available)})")
        cols = [_FEATURE_INDEX[n] for n in names]
        m = self.metadata if rows is None else self.metadata[np.asarray(rows)]
        return np.ascontiguousarray(m[:, cols], dtype=np.float32)

    def subset(self, rows: np.ndarray) -> "AlertSet":
        rows = np.asarray(rows, dtype=np.int64)
        base = np.arange(len(self.triplets)) if self.index is None else self.index
        return AlertSet(
            triplets=self.triplets, metadata=self.metadata[rows], labels=self.labels[rows],
            objectId=self.objectId[rows], candid=self.candid[rows], jd=self.jd[rows], magpsf=self.magpsf[rows],
            available=self.available, index=base[rows], extra=dict(self.extra),
            bts_candidate=None if self.bts_candidate is None else self.bts_candidate[rows],
        )

    def summary(self) -> dict[str, Any]:
        c = self.class_counts()
        return {"alerts": len(self), "objects": self.n_objects, "positive": c[1], "negative": c[0]}


# --------------------------------------------------------------------------------------------------
# reading
# --------------------------------------------------------------------------------------------------

def _float(s: str) -> float:
    s = s.strip()
    if s == "" or s.lower() in ("nan", "null", "none"):
        return math.nan
    if s.lower() in ("true", "false"):
        return 1.0 if s.lower() == "true" else 0.0
    return float(s)


def _read_table(path: Path) -> tuple[dict[str, list[str]], list[str]]:
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.reader(fh)
        try:
            header = next(reader)
        except StopIteration:
            raise DataError(f"{path}: empty CSV") from None
        header = [h.strip() for h in header]
        cols: dict[str, list[str]] = {h: [] for h in header}
        for row in reader:
            if not row:
                continue
            for h, v in zip(header, row):
                cols[h].append(v)
    return cols, header


def release_tags(directory: str | Path) -> dict[str, dict[str, dict[str, Path]]]:
    """``tag -> split -> {"triplets": path, "cand": path}`` for the release-layout files in a directory."""
    out: dict[str, dict[str, dict[str, Path]]] = {}
    for p in sorted(Path(directory).iterdir()):
        m = _RELEASE_RE.match(p.name)
        if not m:
            continue
        split, kind, tag, ext = m.groups()
        if (kind == "triplets") != (ext == "npy"):
            continue
        out.setdefault(tag, {}).setdefault(split, {})[kind] = p
    return out


def is_release_dir(directory: str | Path) -> bool:
    d = Path(directory)
    return d.is_dir() and bool(release_tags(d))


def _labels_of(values: list[str], where: str) -> np.ndarray:
    try:
        lab = np.array([_float(v) for v in values], dtype=np.float64)
    except ValueError as exc:
        raise DataError(f"{where}: label column: {exc}") from None
    if np.any(~np.isin(lab, (0.0, 1.0))):
        raise DataError(f"{where}: labels must be 0 or 1")
    return lab.astype(np.int8)


def read_release_split(triplets_path: Path, cand_path: Path, mmap: bool = True) -> AlertSet:
    """One split of the public-release layout."""
    trip = np.load(triplets_path, mmap_mode="r" if mmap else None)
    if trip.ndim != 4 or trip.shape[1:] != (STAMP_SIZE, STAMP_SIZE, 3):
        raise DataError(f"{triplets_path}: triplets must be (N, 63, 63, 3), got {trip.shape}")
    if trip.dtype != np.float32:
        raise DataError(f"{triplets_path}: triplets must be float32, got {trip.dtype}")
    cols, header = _read_table(cand_path)
    for alias, name in COLUMN_ALIASES.items():
        if alias in cols and name not in cols:
            cols[name] = cols[alias]
    n = len(next(iter(cols.values()))) if cols else 0
    if n != len(trip):
        raise DataError(f"{cand_path} has {n} rows but {triplets_path} holds {len(trip)} triplets")
    for need in ("objectId", "label"):
        if need not in cols:
            raise DataError(f"{cand_path}: no {need!r} column")
    meta = np.full((n, len(FEATURE_NAMES)), np.nan, dtype=np.float32)
    available = []
    for i, name in enumerate(FEATURE_NAMES):
        if name in cols:
            meta[:, i] = np.array([_float(v) for v in cols[name]], dtype=np.float64)
            available.append(name)
    if "magpsf" in cols:
        magpsf = np.array([_float(v) for v in cols["magpsf"]], dtype=np.float64)
    else:
        magpsf = np.full(n, np.nan)
    jd = np.array([_float(v) for v in cols["jd"]], dtype=np.float64) if "jd" in cols else np.arange(n, dtype=float)
    candid = (np.array([int(float(v)) if v.strip() else -1 for v in cols["candid"]], dtype=np.int64)
              if "candid" in cols else np.full(n, -1, dtype=np.int64))
    return AlertSet(
        triplets=trip, metadata=meta, labels=_labels_of(cols["label"], str(cand_path)),
        objectId=np.array([s.strip() for s in cols["objectId"]], dtype=object), candid=candid, jd=jd,
        magpsf=magpsf, available=tuple(available), extra={"source": str(cand_path)},
        bts_candidate=verdicts_from_values(cols["bts_candidate"]) if "bts_candidate" in cols else None,
    )


def verdicts_from_codes(codes: np.ndarray) -> np.ndarray:
    """The preprocessing's BTS filter verdict codes (prep/bts.py) as 1 passed / 0 failed / -1 unknown."""
    codes = np.asarray(codes, dtype=np.uint16)
    return np.where(codes & UNKNOWN, -1, np.where(codes == 0, 1, 0)).astype(np.int8)


def verdicts_from_values(values: Iterable[Any]) -> np.ndarray:
    """BTS filter verdicts (as :func:`~btsbot_fast.policies.parse_verdict` reads them) as int8 codes:
    1 passed, 0 failed, -1 unknown."""
    return np.array([{True: 1, False: 0, None: -1}[parse_verdict(v)] for v in values], dtype=np.int8)


def load_release(directory: str | Path, tag: str | None = None,
                 splits: Iterable[str] = SPLITS, mmap: bool = True) -> dict[str, AlertSet]:
    """The splits of a public-release-layout directory (``tag`` picks one file set when there are several)."""
    tags = release_tags(directory)
    if not tags:
        raise DataError(f"{directory}: no {{train,val,test}}_triplets_*.npy / _cand_*.csv files")
    if tag is None:
        if len(tags) > 1:
            raise DataError(f"{directory}: several file sets ({', '.join(tags)}); choose one with --tag")
        tag = next(iter(tags))
    if tag not in tags:
        raise DataError(f"{directory}: no file set {tag!r} (found: {', '.join(tags)})")
    out: dict[str, AlertSet] = {}
    for split in splits:
        files = tags[tag].get(split, {})
        if not files:
            continue
        if set(files) != {"triplets", "cand"}:
            raise DataError(f"{directory}: split {split!r} of {tag!r} lacks its "
                            f"{'cand CSV' if 'cand' not in files else 'triplets .npy'}")
        out[split] = read_release_split(files["triplets"], files["cand"], mmap=mmap)
    return out


def read_labels(path: str | Path) -> tuple[dict[str, int], dict[str, str]]:
    """``objectId -> label`` and (when there is a ``split`` column) ``objectId -> split``."""
    cols, _ = _read_table(Path(path))
    if "objectId" not in cols or "label" not in cols:
        raise DataError(f"{path}: a labels CSV needs the columns objectId,label (optionally split)")
    labels = _labels_of(cols["label"], str(path))
    lab = {}
    for o, v in zip(cols["objectId"], labels):
        o = o.strip()
        if o in lab and lab[o] != int(v):
            raise DataError(f"{path}: object {o} has two labels")
        lab[o] = int(v)
    splits = {}
    if "split" in cols:
        for o, s in zip(cols["objectId"], cols["split"]):
            s = s.strip().lower()
            if s not in SPLITS:
                raise DataError(f"{path}: split must be one of {', '.join(SPLITS)}, got {s!r}")
            splits[o.strip()] = s
    return lab, splits


def _preprocess(paths: list[Path], engine: str, threads: int):
    from ..prep import preprocess_paths

    if engine == "native":
        try:
            from .. import _core  # noqa: F401
        except ImportError:
            warnings.warn("the native preprocessing core is not built; using the NumPy twin (same results, slower)",
                          RuntimeWarning, stacklevel=3)
            engine = "python"
    return preprocess_paths(paths, engine=engine, threads=threads)


def load_packets(directory: str | Path, labels: str | Path | None = None, *, fractions=(0.81, 0.09, 0.10),
                 seed: int = 2, engine: str = "native", threads: int = 0) -> dict[str, AlertSet]:
    """Labelled alert packets: every alert file under ``directory`` plus a labels CSV (default
    ``directory/labels.csv``). Failed alerts and alerts of unlabelled objects are dropped (logged)."""
    directory = Path(directory)
    labels_path = Path(labels) if labels else directory / "labels.csv"
    if not labels_path.is_absolute() and not labels_path.exists():
        labels_path = directory / labels_path
    if not labels_path.is_file():
        raise DataError(f"no labels CSV {labels_path} (objectId,label[,split])")
    lab, obj_split = read_labels(labels_path)
    pre = _preprocess([directory], engine, threads)
    ok = pre.status == 0
    labelled = np.array([o in lab for o in pre.objectId], dtype=bool)
    keep = np.flatnonzero(ok & labelled)
    dropped = {"failed": int(np.sum(~ok)), "unlabelled": int(np.sum(ok & ~labelled))}
    log.info("packets: %d alert records, %d usable, dropped %s", len(pre), len(keep), dropped)
    if len(keep) == 0:
        raise DataError(f"{directory}: no usable labelled alerts ({len(pre)} records, dropped {dropped})")
    meta = np.ascontiguousarray(pre.metadata[keep], dtype=np.float32)
    objs = np.array([str(o) for o in pre.objectId[keep]], dtype=object)
    full = AlertSet(
        triplets=np.ascontiguousarray(pre.triplets[keep]), metadata=meta,
        labels=np.array([lab[o] for o in objs], dtype=np.int8), objectId=objs,
        candid=np.asarray(pre.candid[keep], dtype=np.int64), jd=np.asarray(pre.jd[keep], dtype=np.float64),
        magpsf=meta[:, _FEATURE_INDEX["magpsf"]].astype(np.float64), available=FEATURE_NAMES,
        extra={"source": str(directory), "dropped": dropped}, bts_candidate=verdicts_from_codes(pre.bts[keep]),
    )
    if obj_split:
        missing = sorted({o for o in objs if o not in obj_split})
        if missing:
            raise DataError(f"{labels_path}: the split column is empty for {plural(len(missing), 'object')}, "
                            f"e.g. {missing[0]}")
        assign = {s: np.flatnonzero(np.array([obj_split[o] == s for o in objs])) for s in SPLITS}
    else:
        assign = split_by_object(full.objectId, full.labels, fractions, seed)
    return {s: full.subset(rows) for s, rows in assign.items() if len(rows)}


def load_dataset(path: str | Path, *, tag: str | None = None, labels: str | Path | None = None,
                 fractions=(0.81, 0.09, 0.10), seed: int = 2, engine: str = "native",
                 threads: int = 0) -> tuple[dict[str, AlertSet], str]:
    """Either layout, detected from the directory: returns ``(splits, kind)`` with kind ``release``
    or ``packets``."""
    p = Path(path)
    if not p.is_dir():
        raise DataError(f"--data must be a directory, got {path}")
    if is_release_dir(p):
        return load_release(p, tag=tag), "release"
    return load_packets(p, labels, fractions=fractions, seed=seed, engine=engine, threads=threads), "packets"


# --------------------------------------------------------------------------------------------------
# splitting, thinning, weighting, augmentation
# --------------------------------------------------------------------------------------------------

def split_by_object(object_ids: np.ndarray, labels: np.ndarray | None = None,
                    fractions: Sequence[float] = (0.81, 0.09, 0.10), seed: int = 2) -> dict[str, np.ndarray]:
    """Row indices per split, grouped by object (no object in two splits) and stratified by the object's
    label, seeded. Each class's objects are shuffled and cut by ``fractions`` (normalised)."""
    object_ids = np.asarray(object_ids, dtype=object)
    f = np.asarray(fractions, dtype=float)
    f = f / f.sum()
    uniq, inv = np.unique(object_ids.astype(str), return_inverse=True)
    if labels is None:
        obj_label = np.zeros(len(uniq), dtype=np.int64)
    else:
        obj_label = np.zeros(len(uniq), dtype=np.int64)
        np.maximum.at(obj_label, inv, np.asarray(labels, dtype=np.int64))
    rng = np.random.default_rng(seed)
    obj_split = np.zeros(len(uniq), dtype=np.int64)
    for c in np.unique(obj_label):
        members = np.flatnonzero(obj_label == c)
        members = members[rng.permutation(len(members))]
        n = len(members)
        cuts = np.round(np.cumsum(f) * n).astype(int)
        # every split with a non-zero fraction gets an object when there are enough of them
        counts = np.diff(np.concatenate([[0], cuts]))
        for s in range(3):
            if f[s] > 0 and counts[s] == 0 and n >= np.count_nonzero(f):
                donor = int(np.argmax(counts))
                if counts[donor] > 1:
                    counts[donor] -= 1
                    counts[s] += 1
        bounds = np.concatenate([[0], np.cumsum(counts)])
        for s in range(3):
            obj_split[members[bounds[s]:bounds[s + 1]]] = s
    row_split = obj_split[inv]
    return {name: np.flatnonzero(row_split == s) for s, name in enumerate(SPLITS)}


def thin_per_object(object_ids: np.ndarray, n_max: int | None, seed: int = 2) -> np.ndarray:
    """Rows to keep so that no object has more than ``n_max`` alerts (a seeded random choice per object;
    the kept rows stay in their original order)."""
    object_ids = np.asarray(object_ids, dtype=object)
    n = len(object_ids)
    if n_max is None or n == 0:
        return np.arange(n)
    rng = np.random.default_rng(seed)
    _, inv, counts = np.unique(object_ids.astype(str), return_inverse=True, return_counts=True)
    if counts.max() <= n_max:
        return np.arange(n)
    keep = np.ones(n, dtype=bool)
    order = np.argsort(inv, kind="stable")
    starts = np.concatenate([[0], np.cumsum(counts)])
    for g in np.flatnonzero(counts > n_max):
        rows = order[starts[g]:starts[g + 1]]
        drop = rng.choice(rows, size=len(rows) - n_max, replace=False)
        keep[drop] = False
    return np.flatnonzero(keep)


def class_weights(labels: np.ndarray) -> dict[int, float]:
    """Weights ∝ 1/(alerts in class), scaled so the largest is 1 (classes absent from ``labels`` get 1)."""
    labels = np.asarray(labels)
    counts = {c: int(np.sum(labels == c)) for c in (0, 1)}
    present = [n for n in counts.values() if n > 0]
    if not present:
        return {0: 1.0, 1: 1.0}
    smallest = min(present)
    return {c: (smallest / n if n else 1.0) for c, n in counts.items()}


def augment_batch(x: np.ndarray, rng: np.random.Generator, flip_h: bool = True, flip_v: bool = True,
                  rot90: bool = True) -> np.ndarray:
    """Random horizontal/vertical flips (p = 0.5 each) and rotations by k·90° (k uniform in 0..3), drawn
    independently per image; ``x`` is (B, H, W, C) and is not modified."""
    out = np.array(x, dtype=np.float32, copy=True)
    b = len(out)
    if flip_h:
        m = rng.random(b) < 0.5
        out[m] = out[m][:, :, ::-1, :]
    if flip_v:
        m = rng.random(b) < 0.5
        out[m] = out[m][:, ::-1, :, :]
    if rot90:
        k = rng.integers(0, 4, size=b)
        for kk in (1, 2, 3):
            m = k == kk
            if m.any():
                out[m] = np.rot90(out[m], kk, axes=(1, 2))
    return out
