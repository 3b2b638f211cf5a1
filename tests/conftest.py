"""Shared test fixtures.

Real data: the full reference folder ``../shared`` beside the repository root (or ``$BTSBOT_FAST_SHARED``)
when it is there, else the small real sample committed in ``tests/data/`` (same layout as
``../shared/data``; see tests/data/PROVENANCE.md). So a bare clone runs the real-data tests on the sample
and a checkout beside ``../shared`` runs them on everything:

* ``data_root``: ``../shared/data`` or ``tests/data`` (``ztf/dev``, ``ztf/broken``, ``ztf/reference``,
  ``ztf/dev_manifest.csv``, ``golden``);
* ``reference``: the loader for ``data_root/ztf`` (``.dev``, ``.broken``, ``.rows``, ``.triplets``,
  ``.features``, ``.manifest``; ``.is_sample`` says which set it is);
* ``shared``: the full ``../shared`` only; ``official_tarball``: the official weights in it. Tests that
  need them skip, saying so, when they are absent.

The official model is the ONNX copy shipped with the package (``registry.resolve_shipped``), so no
TensorFlow and no import step are needed.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "tests" / "data"
OFFICIAL_MODEL = "btsbot-v1.0.1"


def shared_root() -> Path | None:
    env = os.environ.get("BTSBOT_FAST_SHARED")
    root = Path(env) if env else REPO.parent / "shared"
    return root if (root / "data").is_dir() else None


def data_root_path() -> Path:
    """``../shared/data`` when present, else the committed sample ``tests/data``."""
    root = shared_root()
    return root / "data" if root is not None else SAMPLE


@pytest.fixture(scope="session")
def shared() -> Path:
    root = shared_root()
    if root is None:
        pytest.skip("needs the full ../shared (or $BTSBOT_FAST_SHARED), not in a bare clone; "
                    "tests/data covers the real-data tests")
    return root


@pytest.fixture(scope="session")
def official_tarball() -> Path:
    """The official weights (TF SavedModel tarball, 3 MB): only in ../shared, never in the repository."""
    root = shared_root()
    if root is None or not (root / "models" / "btsbot-v1.0.1.tar").is_file():
        pytest.skip("needs the official weights ../shared/models/btsbot-v1.0.1.tar (not in the repository)")
    return root / "models" / "btsbot-v1.0.1.tar"


@pytest.fixture(scope="session")
def data_root() -> Path:
    return data_root_path()


@pytest.fixture(scope="session")
def official_model():
    """The official BTSbot v1.0.1 model: the ONNX copy shipped with the package (sha256-checked)."""
    from btsbot_fast import registry

    return registry.resolve_shipped(OFFICIAL_MODEL)


class Reference:
    """The upstream production outputs for the dev alerts (``<data root>/ztf/reference``)."""

    def __init__(self, data_root: Path):
        import csv

        import numpy as np

        ztf = data_root / "ztf"
        self.root = data_root
        self.is_sample = data_root.resolve() == SAMPLE.resolve()
        self.dev = ztf / "dev"
        self.broken = ztf / "broken"
        ref = ztf / "reference"
        with open(ref / "dev_reference_scores.csv", newline="") as fh:
            self.rows = list(csv.DictReader(fh))
        with np.load(ref / "dev_reference_triplets.npz") as t:
            self.triplets = {k: t[k] for k in t.files}
        with np.load(ref / "dev_reference_features.npz") as f:
            self.feature_candids = [str(c) for c in f["candid"]]
            self.features = dict(zip(self.feature_candids, f["features_f32"]))
            self.feature_names = [str(n) for n in f["feature_names"]]
        with open(ztf / "dev_manifest.csv", newline="") as fh:
            self.manifest = list(csv.DictReader(fh))

    def relpath(self, source: str) -> str:
        """A result's source as the manifest writes it (relative to data/ztf/dev)."""
        return os.path.relpath(source, self.dev)


@pytest.fixture(scope="session")
def reference(data_root: Path) -> Reference:
    return Reference(data_root)
