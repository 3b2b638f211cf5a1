"""Shared test fixtures.

Real data comes from ``../shared`` beside the repository root (or ``$BTSBOT_FAST_SHARED``); tests that
need it skip cleanly when it is absent. The official model is looked up in the model cache
(``$BTSBOT_FAST_HOME``, which ``.ci/run`` fills by importing ``../shared/models/btsbot-v1.0.1.tar``);
when it is not there and TensorFlow is installed, it is imported once per session into a temporary cache.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
OFFICIAL_MODEL = "btsbot-v1.0.1"


def shared_root() -> Path | None:
    env = os.environ.get("BTSBOT_FAST_SHARED")
    root = Path(env) if env else REPO.parent / "shared"
    return root if (root / "data").is_dir() else None


@pytest.fixture(scope="session")
def shared() -> Path:
    root = shared_root()
    if root is None:
        pytest.skip("../shared (or $BTSBOT_FAST_SHARED) is not available")
    return root


@pytest.fixture(scope="session")
def official_model(shared: Path, tmp_path_factory: pytest.TempPathFactory):
    """The official BTSbot v1.0.1 model, resolved through the registry (btsbot_fast.registry.resolve)."""
    from btsbot_fast import registry

    try:
        return registry.resolve(OFFICIAL_MODEL)
    except registry.ModelNotFoundError:
        pass
    tarball = shared / "models" / "btsbot-v1.0.1.tar"
    pytest.importorskip("tensorflow", reason="official model not imported and TensorFlow is absent")
    pytest.importorskip("tf2onnx")
    home = tmp_path_factory.mktemp("model-home")
    os.environ["BTSBOT_FAST_HOME"] = str(home)
    registry.import_model(tarball, home=home)
    return registry.resolve(OFFICIAL_MODEL, home=home)


class Reference:
    """The upstream production outputs for the dev alerts (../shared/data/ztf/reference)."""

    def __init__(self, root: Path):
        import csv

        import numpy as np

        ztf = root / "data" / "ztf"
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
def reference(shared: Path) -> Reference:
    return Reference(shared)
