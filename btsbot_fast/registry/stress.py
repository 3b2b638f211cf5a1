"""The inputs an int8 model is calibrated and validated on, beyond the alerts as they came: the 8 dihedral
transforms of the model-ready triplet and stress perturbations of kinds real nights hold.

BTSbot was trained with flips and quarter turns of its triplets (spec: augmentation), so a rotated or
flipped alert is an input of the same kind, and its exact score is close to the original's while its int8
error is not: the transforms expose the int8 error's tail that a few hundred alerts do not show. Every
transform moves the three channels of a triplet together (science, template and difference stay aligned),
after preprocessing, exactly as training augmented them.

The stress perturbations imitate what the alert stream carries and the dev alerts hold few of: extra noise,
saturated cores, masked pixels, stamps cut by a CCD edge (padded bottom/right with 1e-9 after
normalising, spec section 2.4) and templates zeroed by overflowed pixels (spec section 2.3). Each is
applied to a model-ready triplet and the channels re-normalised the way preprocessing does (divided by
their float32-rounded L2 norm). Everything is seeded: the same alerts give the same inputs.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

#: (flip, quarter turns): the 8 symmetries of the square, identity first
DIHEDRAL = tuple((flip, k) for flip in (False, True) for k in range(4))
PAD = np.float32(1e-9)
SEED = 20261207


def dihedral(triplets: np.ndarray, flip: bool, k: int) -> np.ndarray:
    """``triplets`` (N, 63, 63, 3) flipped left-right (when ``flip``) then turned ``k`` quarter turns,
    all channels alike."""
    t = triplets[:, :, ::-1, :] if flip else triplets
    return np.ascontiguousarray(np.rot90(t, k, axes=(1, 2)), dtype=np.float32)


def all_dihedral(triplets: np.ndarray, metadata: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The 8 transforms of every input, transform by transform (the identity first); metadata repeated."""
    return (np.concatenate([dihedral(triplets, f, k) for f, k in DIHEDRAL]),
            np.concatenate([metadata] * len(DIHEDRAL)))


def _renormalise(x: np.ndarray) -> np.ndarray:
    """Each channel of each triplet divided by its float32-rounded L2 norm (an all-zero channel stays 0)."""
    norm = np.sqrt(np.sum(np.square(x, dtype=np.float64), axis=(1, 2), keepdims=True)).astype(np.float32)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(norm > 0, x / np.where(norm > 0, norm, 1), 0).astype(np.float32)


def noise(t: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Gaussian noise of half each channel's own pixel spread added (a worse night's sky)."""
    sigma = t.std(axis=(1, 2), keepdims=True)
    return _renormalise(t + rng.normal(0.0, 1.0, t.shape).astype(np.float32) * 0.5 * sigma)


def saturated(t: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Science and template clipped at 20-60% of their peak (flat saturated cores), the difference left."""
    out = t.copy()
    frac = rng.uniform(0.2, 0.6, (len(t), 1, 1, 1)).astype(np.float32)
    peak = t[..., :2].max(axis=(1, 2), keepdims=True)
    out[..., :2] = np.minimum(t[..., :2], frac * peak)
    return _renormalise(out)


def masked(t: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A 12x12 to 24x24 block of pixels zeroed in every channel (masked pixels are NaN, read as 0)."""
    out = t.copy()
    for i in range(len(t)):
        size = int(rng.integers(12, 25))
        r, c = rng.integers(0, 63 - size, 2)
        out[i, r:r + size, c:c + size, :] = 0.0
    return _renormalise(out)


def ccd_edge(t: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The stamp cut to 32-62 columns or rows (alternately), normalised, padded bottom/right with 1e-9."""
    out = np.empty_like(t)
    for i in range(len(t)):
        keep = int(rng.integers(32, 63))
        part = t[i:i + 1, :, :keep, :] if i % 2 == 0 else t[i:i + 1, :keep, :, :]
        out[i] = PAD
        if i % 2 == 0:
            out[i, :, :keep, :] = _renormalise(part)[0]
        else:
            out[i, :keep, :, :] = _renormalise(part)[0]
    return out


def overflowed_template(t: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The template channel zeroed, as preprocessing leaves a template with overflowed (-3.4e38) pixels."""
    out = t.copy()
    out[..., 1] = 0.0
    return out


STRESS: dict[str, Callable[[np.ndarray, np.random.Generator], np.ndarray]] = {
    "noise": noise, "saturated": saturated, "masked": masked, "ccd_edge": ccd_edge,
    "overflowed_template": overflowed_template,
}


def stressed(triplets: np.ndarray, metadata: np.ndarray, seed: int = SEED) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Each stress perturbation of every input (the metadata unchanged), seeded per kind."""
    return {name: (fn(triplets, np.random.default_rng([seed, i])), metadata)
            for i, (name, fn) in enumerate(STRESS.items())}


def validation_sets(triplets: np.ndarray, metadata: np.ndarray, stress: bool = True
                    ) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The named parts of a validation set: ``dihedral`` (every input under the 8 transforms) and, with
    ``stress``, each perturbation under the 8 transforms."""
    sets = {"dihedral": all_dihedral(triplets, metadata)}
    if stress:
        for name, (t, m) in stressed(triplets, metadata).items():
            sets[name] = all_dihedral(t, m)
    return sets


__all__ = ["DIHEDRAL", "STRESS", "all_dihedral", "dihedral", "stressed", "validation_sets"]
