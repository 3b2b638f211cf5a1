"""``verify_shipped``: prove that the ONNX file shipped with the package is the official model.

The official tarball is imported again into a throw-away cache (sha256 checked against the registry entry,
converted with tf2onnx, gated against TensorFlow on the built-in probe), then the shipped ONNX, the fresh
conversion and TensorFlow itself score the same inputs: the seeded probe batch, BTSbot's own golden
example inputs and the preprocessed inputs of real reference alerts. The shipped file passes when it
agrees with the fresh conversion and with TensorFlow within the tolerance on every input.

Needs the ``[tf]`` extra. The golden and reference inputs are read from directories laid out like
``../shared/data``: ``golden/usage_{triplets.npy,candidates.csv}`` and
``ztf/reference/dev_reference_{triplets.npz,features.npz,scores.csv}``.
"""

from __future__ import annotations

import csv
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .cache import ResolvedModel, resolve_shipped, sha256_file
from .entries import get_entry
from .errors import ModelImportError

DEFAULT_TOLERANCE = 1e-6
GOLDEN_FILES = ("usage_triplets.npy", "usage_candidates.csv")
REFERENCE_FILES = ("dev_reference_triplets.npz", "dev_reference_features.npz", "dev_reference_scores.csv")
#: our feature name -> upstream's (BTSbot's usage_candidates.csv and the reference files use it)
UPSTREAM_NAMES = {"drb": "new_drb"}


@dataclass
class InputSet:
    """One set of inputs and the largest score differences on it."""

    name: str
    source: str
    n: int
    reconverted_vs_shipped: float
    shipped_vs_tensorflow: float
    #: against the scores recorded upstream with the inputs (golden expected_scores, reference score_tf)
    shipped_vs_recorded: float | None = None


@dataclass
class VerifyReport:
    name: str
    tarball: str
    shipped_path: str
    shipped_sha256: str
    reconverted_sha256: str
    tolerance: float
    sets: list[InputSet] = field(default_factory=list)

    @property
    def identical(self) -> bool:
        """Byte-identical files: the same converter versions reproduce the shipped file exactly."""
        return self.shipped_sha256 == self.reconverted_sha256

    @property
    def ok(self) -> bool:
        return bool(self.sets) and all(s.reconverted_vs_shipped <= self.tolerance
                                       and s.shipped_vs_tensorflow <= self.tolerance for s in self.sets)

    def lines(self) -> list[str]:
        out = [f"{self.name}: shipped {self.shipped_path}",
               f"  shipped sha256     {self.shipped_sha256}",
               f"  reconverted sha256 {self.reconverted_sha256} "
               + ("(byte-identical)" if self.identical else "(bytes differ: other converter versions?)")]
        for s in self.sets:
            rec = "" if s.shipped_vs_recorded is None else f", vs recorded scores {s.shipped_vs_recorded:.3g}"
            out.append(f"  {s.name} ({s.n} inputs, {s.source}): max |diff| reconverted vs shipped "
                       f"{s.reconverted_vs_shipped:.3g}, shipped vs TensorFlow {s.shipped_vs_tensorflow:.3g}{rec}")
        verdict = "OK" if self.ok else "FAILED"
        out.append(f"{verdict}: tolerance {self.tolerance:g} on reconverted vs shipped and shipped vs TensorFlow")
        return out


def default_data_roots() -> list[Path]:
    """Where golden/reference inputs are looked for when not given: ``$BTSBOT_FAST_SHARED/data``, then
    ``../shared/data`` and ``tests/data`` from the current directory (a checkout's layout)."""
    roots = []
    env = os.environ.get("BTSBOT_FAST_SHARED")
    if env:
        roots.append(Path(env) / "data")
    cwd = Path.cwd()
    roots += [cwd.parent / "shared" / "data", cwd / "tests" / "data"]
    return roots


def _find(sub: str, files: tuple[str, ...]) -> Path | None:
    for root in default_data_roots():
        d = root / sub
        if all((d / f).is_file() for f in files):
            return d
    return None


def _require(d: Path, files: tuple[str, ...], what: str) -> Path:
    missing = [f for f in files if not (d / f).is_file()]
    if missing:
        raise ModelImportError(f"{what} directory {d} lacks {', '.join(missing)}")
    return d


def load_golden(d: Path, feature_names) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """BTSbot's example inputs: triplets (float32), features in ``feature_names`` order, expected scores."""
    triplets = np.load(d / "usage_triplets.npy").astype(np.float32)
    with open(d / "usage_candidates.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    cols = [UPSTREAM_NAMES.get(n, n) for n in feature_names]
    missing = [c for c in cols + ["expected_scores"] if rows and c not in rows[0]]
    if missing or len(rows) != len(triplets):
        raise ModelImportError(f"golden inputs in {d}: {len(rows)} rows for {len(triplets)} triplets"
                               + (f", columns {missing} missing" if missing else ""))
    metadata = np.array([[float(r[c]) for c in cols] for r in rows], dtype=np.float32)
    return triplets, metadata, np.array([float(r["expected_scores"]) for r in rows])


def load_reference(d: Path, feature_names) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The preprocessed inputs of real reference alerts and their TensorFlow scores, by candid."""
    with np.load(d / "dev_reference_features.npz") as f:
        candids = [str(c) for c in f["candid"]]
        names = [str(n) for n in f["feature_names"]]
        feats = f["features_f32"].astype(np.float32)
    try:
        cols = [names.index(UPSTREAM_NAMES.get(n, n) if n not in names else n) for n in feature_names]
    except ValueError as exc:
        raise ModelImportError(f"reference features in {d} lack a model feature: {exc}") from None
    with np.load(d / "dev_reference_triplets.npz") as t:
        triplets = np.stack([t[c] for c in candids]).astype(np.float32)
    with open(d / "dev_reference_scores.csv", newline="") as fh:
        recorded = {row["candid"]: float(row["score_tf"]) for row in csv.DictReader(fh)}
    return triplets, feats[:, cols], np.array([recorded[c] for c in candids])


def input_dirs(golden: str | os.PathLike | None, reference: str | os.PathLike | None,
               what: str) -> tuple[Path, Path]:
    """The golden and reference input directories: the ones given, else found under
    :func:`default_data_roots`; ``what`` names the command for the error when they are not found."""
    golden_dir = _require(Path(golden), GOLDEN_FILES, "golden") if golden else _find("golden", GOLDEN_FILES)
    ref_dir = (_require(Path(reference), REFERENCE_FILES, "reference") if reference
               else _find(os.path.join("ztf", "reference"), REFERENCE_FILES))
    if golden_dir is None or ref_dir is None:
        raise ModelImportError(
            f"{what} needs BTSbot's golden inputs and the real reference alerts' inputs; none found under "
            + ", ".join(str(r) for r in default_data_roots()) + ": pass --golden DIR and --reference DIR")
    return golden_dir, ref_dir


def recorded_parity(backend, feature_names, golden_dir: Path, ref_dir: Path) -> dict[str, float]:
    """Largest |score difference| between ``backend`` and the production scores recorded with BTSbot's
    golden inputs (``expected_scores``) and the real reference alerts (``score_tf``), per input set."""
    from .convert import max_abs_diff

    out = {}
    for set_name, (t, m, recorded) in (("golden", load_golden(golden_dir, feature_names)),
                                       ("reference alerts", load_reference(ref_dir, feature_names))):
        out[set_name] = max_abs_diff(backend.run(t, m), recorded)
    return out


def verify_shipped(name: str, tarball: str | os.PathLike, golden: str | os.PathLike | None = None,
                   reference: str | os.PathLike | None = None, tolerance: float | None = None) -> VerifyReport:
    """Compare the shipped ONNX of registry model ``name`` with a fresh conversion of ``tarball``."""
    from . import convert

    entry = get_entry(name)
    shipped = resolve_shipped(entry)
    tol = DEFAULT_TOLERANCE if tolerance is None else float(tolerance)
    golden_dir, ref_dir = input_dirs(golden, reference, "verify")
    features = shipped.feature_names
    trip, meta = convert.probe_inputs(features)
    inputs = [("probe", "built-in seeded batch", trip, meta, None),
              ("golden", str(golden_dir), *load_golden(golden_dir, features)),
              ("reference alerts", str(ref_dir), *load_reference(ref_dir, features))]

    with tempfile.TemporaryDirectory(prefix="btsbot-verify-") as tmp_s:
        tmp = Path(tmp_s)
        reconverted: ResolvedModel = convert.import_model(tarball, name=entry.name, home=tmp / "home",
                                                          replace_shipped=True, golden=golden_dir,
                                                          reference=ref_dir)
        convert.safe_extract(Path(tarball), tmp / "extracted")
        tf, _loaded, fn, _, _ = convert._tf_signature(convert.find_savedmodel(tmp / "extracted"), entry.signature)
        ours, fresh = shipped.backend(), reconverted.backend()
        # (resolve_shipped checked the shipped file's sha256 against the entry)
        report = VerifyReport(entry.name, str(tarball), str(shipped.onnx_path), entry.shipped_sha256,
                              sha256_file(reconverted.onnx_path), tol)
        for set_name, source, t, m, recorded in inputs:
            s_ours, s_fresh = ours.run(t, m), fresh.run(t, m)
            s_tf = fn(**{shipped.triplet_input: tf.constant(t), shipped.metadata_input: tf.constant(m)})
            s_tf = s_tf[shipped.output_name].numpy().reshape(-1)
            report.sets.append(InputSet(
                set_name, source, len(t), convert.max_abs_diff(s_fresh, s_ours), convert.max_abs_diff(s_ours, s_tf),
                None if recorded is None else convert.max_abs_diff(s_ours, recorded)))
    return report
