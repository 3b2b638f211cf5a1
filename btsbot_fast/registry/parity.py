"""The parity inputs and measures a model conversion is checked with: the built-in seeded probe batch,
BTSbot's golden example inputs and the preprocessed inputs of real reference alerts (directories laid out
like ``../shared/data``), the largest score difference, and TensorFlow's view of a SavedModel. Used by
``import_model`` (convert.py) and ``verify_shipped``.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

import numpy as np

from ..messages import install_hint
from .errors import ModelImportError

PROBE_SEED = 20240917
GOLDEN_FILES = ("usage_triplets.npy", "usage_candidates.csv")
REFERENCE_FILES = ("dev_reference_triplets.npz", "dev_reference_features.npz", "dev_reference_scores.csv")
#: our feature name -> upstream's (BTSbot's usage_candidates.csv and the reference files use it)
UPSTREAM_NAMES = {"drb": "new_drb"}

#: plausible ranges for the probe metadata (uniform draws; rounded where the feature is a count)
_PROBE_RANGES: dict[str, tuple[float, float]] = {
    "sgscore1": (0.0, 1.0), "distpsnr1": (0.0, 15.0), "sgscore2": (0.0, 1.0), "distpsnr2": (0.0, 30.0),
    "fwhm": (1.5, 5.0), "magpsf": (15.0, 21.0), "sigmapsf": (0.02, 0.25), "chipsf": (0.5, 10.0),
    "ra": (0.0, 360.0), "dec": (-30.0, 90.0), "diffmaglim": (19.0, 21.5), "ndethist": (1, 200),
    "nmtchps": (0, 30), "age": (0.0, 100.0), "days_since_peak": (0.0, 50.0), "days_to_peak": (0.0, 50.0),
    "peakmag_so_far": (15.0, 21.0), "drb": (0.0, 1.0), "ncovhist": (1, 2000), "nnotdet": (0, 1500),
    "chinr": (0.0, 10.0), "sharpnr": (-0.5, 0.5), "scorr": (5.0, 100.0), "sky": (-2.0, 2.0),
    "maxmag_so_far": (15.0, 21.0),
}
_COUNTS = {"ndethist", "nmtchps", "ncovhist", "nnotdet"}
PROBE_DESCRIPTION = (
    "seeded synthetic batch: noise + Gaussian-PSF science/template/difference channels, each divided by its "
    "float32-rounded L2 norm; metadata drawn uniformly from plausible ranges, some sgscore2/distpsnr2 = -999; "
    "edge cases: a stamp padded with 1e-9 at the bottom, a zeroed template channel, an all-1e-9 triplet with "
    "zero metadata; compared as one batch and again one alert at a time"
)


def _l2_normalise(x: np.ndarray) -> np.ndarray:
    x = x.astype(np.float32)
    norm = np.float32(np.sqrt(np.sum(x.astype(np.float64) ** 2)))
    return x / norm


def probe_inputs(feature_names, n: int = 40, seed: int = PROBE_SEED) -> tuple[np.ndarray, np.ndarray]:
    """The built-in parity probe: ``n`` triplets (n,63,63,3) and metadata (n,F), float32, seeded."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:63, :63].astype(np.float64)
    trip = np.empty((n, 63, 63, 3), np.float32)
    for i in range(n):
        cy, cx = 31 + rng.normal(0, 1.5, 2)
        sig = rng.uniform(0.8, 3.0)
        psf = np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * sig**2))
        bkg = rng.uniform(50, 500)
        host = rng.uniform(0, 3) * np.exp(-((xx - cx - rng.normal(0, 3)) ** 2 + (yy - cy) ** 2) / (2 * 6.0**2))
        amp = rng.uniform(20, 3000)
        ref = bkg * (1 + host) + rng.normal(0, np.sqrt(bkg), (63, 63)) * 0.5
        sci = bkg * (1 + host) + amp * psf + rng.normal(0, np.sqrt(bkg), (63, 63))
        diff = amp * rng.choice([1.0, -1.0], p=[0.85, 0.15]) * psf + rng.normal(0, np.sqrt(bkg), (63, 63))
        for c, ch in enumerate((sci, ref, diff)):
            trip[i, :, :, c] = _l2_normalise(ch)
    meta = np.empty((n, len(feature_names)), np.float32)
    for j, f in enumerate(feature_names):
        lo, hi = _PROBE_RANGES.get(f, (0.0, 1.0))
        col = rng.uniform(lo, hi, n)
        meta[:, j] = np.round(col) if f in _COUNTS else col
    names = list(feature_names)
    for f in ("sgscore2", "distpsnr2"):  # no second PS1 match
        if f in names:
            meta[::5, names.index(f)] = -999.0
    if n >= 4:
        k = n - 3  # a stamp cut by the CCD edge: 12 rows short, padded bottom with 1e-9 after normalising
        for c in range(3):
            trip[k, :, :, c] = np.vstack([_l2_normalise(trip[k, :51, :, c]), np.full((12, 63), 1e-9, np.float32)])
        trip[n - 2, :, :, 1] = 0.0  # template overflowed -> all zeros (production behaviour)
        trip[n - 1] = np.float32(1e-9)  # all-zero-ish edge case
        meta[n - 1] = 0.0
    return trip, meta


def max_abs_diff(a: np.ndarray, b: np.ndarray) -> float:
    """The largest |a - b| of two score arrays, in float64 (0 for empty arrays)."""
    return float(np.max(np.abs(a.astype(np.float64) - b.astype(np.float64)))) if len(a) else 0.0


def tf_signature(saved_model: Path, signature: str):
    """TensorFlow, the loaded SavedModel, its ``signature`` function and that function's inputs and outputs."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        import tensorflow as tf
    except ImportError:
        raise ModelImportError("importing a TensorFlow model needs TensorFlow and tf2onnx: "
                               + install_hint("tf")) from None
    try:
        loaded = tf.saved_model.load(str(saved_model))
    except Exception as exc:  # noqa: BLE001 - TF raises many kinds
        raise ModelImportError(f"TensorFlow could not load the SavedModel {saved_model}: {exc}") from None
    if signature not in loaded.signatures:
        raise ModelImportError(f"SavedModel {saved_model} has no signature {signature!r} "
                               f"(it has: {', '.join(loaded.signatures)})")
    fn = loaded.signatures[signature]
    inputs = {k: (tuple(v.shape.as_list()), v.dtype.name) for k, v in fn.structured_input_signature[1].items()}
    outputs = list(fn.structured_outputs)
    return tf, loaded, fn, inputs, outputs


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
    out = {}
    for set_name, (t, m, recorded) in (("golden", load_golden(golden_dir, feature_names)),
                                       ("reference alerts", load_reference(ref_dir, feature_names))):
        out[set_name] = max_abs_diff(backend.run(t, m), recorded)
    return out
