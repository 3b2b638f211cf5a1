"""BTSbot's own example inputs (39; the first 6 in the tests/data sample) through ONNX Runtime reproduce
upstream's expected scores."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from btsbot_fast.prep.variant import FEATURE_NAMES

#: our feature name -> the column upstream's usage_candidates.csv uses for it
UPSTREAM_COLUMN = {"drb": "new_drb", "nnotdet": "nnotdet"}


@pytest.fixture(scope="module")
def golden(data_root: Path):
    d = data_root / "golden"
    triplets = np.load(d / "usage_triplets.npy")
    with open(d / "usage_candidates.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    cols = [UPSTREAM_COLUMN.get(n, n) for n in FEATURE_NAMES]
    missing = [c for c in cols + ["expected_scores"] if c not in rows[0]]
    assert not missing, f"golden CSV lacks columns {missing}"
    metadata = np.array([[float(r[c]) for c in cols] for r in rows], dtype=np.float64)
    expected = np.array([float(r["expected_scores"]) for r in rows])
    return triplets, metadata, expected


def test_golden_scores(official_model, golden):
    triplets, metadata, expected = golden
    n = len(expected)
    assert n >= 6 and triplets.shape == (n, 63, 63, 3) and metadata.shape == (n, 25)
    backend = official_model.backend()
    scores = backend.run(triplets.astype(np.float32), metadata.astype(np.float32))
    assert scores.shape == (n,) and scores.dtype == np.float32
    diff = np.abs(scores.astype(np.float64) - expected)
    assert diff.max() <= 1e-6, f"max |diff| {diff.max():.3g} at row {diff.argmax()}"
    assert np.array_equal(scores > 0.5, expected > 0.5)


def test_golden_scores_batch_size_invariant(official_model, golden):
    triplets, metadata, _ = golden
    b = official_model.backend(intra_op_threads=1)
    t, m = triplets.astype(np.float32), metadata.astype(np.float32)
    full = b.run(t, m)
    singles = np.concatenate([b.run(t[i:i + 1], m[i:i + 1]) for i in range(len(t))])
    assert np.max(np.abs(full - singles)) <= 1e-6


def test_golden_scores_through_scorer_score_arrays(official_model, golden):
    """The public API: Scorer.score_arrays, in batches smaller than the input (e.g. 6 -> 3 + 3)."""
    from btsbot_fast import Scorer

    triplets, metadata, expected = golden
    scorer = Scorer(official_model.onnx_path.parent, batch_size=3)
    scores = scorer.score_arrays(triplets, metadata)
    assert scores.shape == (len(expected),) and scores.dtype == np.float32
    assert np.abs(scores.astype(np.float64) - expected).max() <= 1e-6
    with pytest.raises(ValueError, match="metadata must have shape"):
        scorer.score_arrays(triplets, metadata[:, :14])
