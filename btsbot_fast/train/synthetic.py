"""A small synthetic dataset in the BTSbot public-release layout, for demos and tests.

Nothing here is real ZTF data. Each object is one of:

* label 1, a *bright transient*: a point source offset from the centre of an extended host galaxy in the
  template, peaking brighter than 18.5 mag, young (days), few previous detections;
* label 0, one of: a *nuclear* source (AGN-like: the point source sits on the host's centre, long history),
  a *stellar* variable (a point source already in the template, star-like sgscore, long history), or a
  *dim* transient (looks like label 1 in the images but peaks fainter than 18.5).

Cutouts are 63x63 science / template / difference, each channel divided by its own L2 norm (rounded to
float32) like the real preprocessing. Features follow the 25 btsbot-v1 names (written with the upstream
spellings ``new_drb`` and ``nnondet``) with class-dependent distributions.

    python -m btsbot_fast.train.synthetic OUT_DIR [--objects 300] [--seed 0]
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from ..prep.variant import FEATURE_NAMES, STAMP_SIZE
from .data import split_by_object

TAG = "synthetic"
KINDS = ("bright", "nuclear", "stellar", "dim")
UPSTREAM_NAMES = {"drb": "new_drb", "nnotdet": "nnondet"}

_yy, _xx = np.mgrid[0:STAMP_SIZE, 0:STAMP_SIZE].astype(np.float64)
_C = (STAMP_SIZE - 1) / 2.0


def _psf(x0: float, y0: float, sigma: float) -> np.ndarray:
    return np.exp(-((_xx - x0) ** 2 + (_yy - y0) ** 2) / (2 * sigma**2))


def _galaxy(x0: float, y0: float, scale: float, q: float, theta: float) -> np.ndarray:
    dx, dy = _xx - x0, _yy - y0
    c, s = np.cos(theta), np.sin(theta)
    u, v = c * dx + s * dy, (-s * dx + c * dy) / q
    return np.exp(-np.sqrt(u**2 + v**2) / scale)


def _normalise(ch: np.ndarray) -> np.ndarray:
    ch = np.nan_to_num(ch.astype(np.float32))
    norm = np.float32(np.sqrt(np.sum(ch.astype(np.float64) ** 2)))
    return (ch / norm).astype(np.float32)


def make_triplet(kind: str, flux: float, rng: np.random.Generator, host: dict) -> np.ndarray:
    """One (63, 63, 3) float32 triplet for an alert of ``kind`` with transient flux ``flux``."""
    sigma = rng.uniform(1.2, 2.0)
    noise_t, noise_s = 0.02, 0.05
    if kind == "stellar":
        template = host["star"] * _psf(_C, _C, sigma)
    else:
        template = host["gal"] * _galaxy(_C + host["dx"], _C + host["dy"], host["scale"], host["q"], host["theta"])
    template = template + rng.normal(0, noise_t, template.shape)
    point = flux * _psf(_C + rng.normal(0, 0.3), _C + rng.normal(0, 0.3), sigma)
    science = template + point + rng.normal(0, noise_s, template.shape)
    diff = science - template
    return np.stack([_normalise(science), _normalise(template), _normalise(diff)], axis=-1)


def _object(kind: str, rng: np.random.Generator, oid: str, jd0: float) -> list[dict]:
    """The alerts (feature rows) of one object."""
    star_like = kind == "stellar"
    long_history = kind in ("nuclear", "stellar")
    if kind == "bright":
        peak = rng.uniform(16.0, 18.4)
    elif kind == "dim":
        peak = rng.uniform(18.7, 20.0)
    else:
        peak = rng.uniform(16.5, 19.5)
    n = int(rng.integers(2, 9))
    host = {
        "gal": rng.uniform(0.6, 2.0), "star": rng.uniform(2.0, 6.0), "scale": rng.uniform(2.5, 6.0),
        "q": rng.uniform(0.4, 1.0), "theta": rng.uniform(0, np.pi),
    }
    if kind in ("bright", "dim"):
        r, a = rng.uniform(3.0, 9.0), rng.uniform(0, 2 * np.pi)
        host["dx"], host["dy"] = r * np.cos(a), r * np.sin(a)
    else:
        host["dx"], host["dy"] = rng.normal(0, 0.2, 2)
    ra, dec = rng.uniform(0, 360), rng.uniform(-30, 85)
    first = jd0 - (rng.uniform(200, 1500) if long_history else rng.uniform(0, 3))
    t_peak = rng.uniform(5, 20)
    jds = jd0 + np.sort(rng.uniform(0, 40, n))
    rows, mags = [], []
    ncov = int(rng.integers(300, 1500)) if long_history else int(rng.integers(20, 400))
    ndet0 = int(rng.integers(40, 300)) if long_history else 0
    for i, jd in enumerate(jds):
        t = jd - jd0
        if long_history:
            mag = peak + rng.uniform(0, 0.8)
        else:
            mag = peak + (0.04 * (t - t_peak) ** 2 / 10 if t < t_peak else 0.03 * (t - t_peak))
        mag = float(min(mag + rng.normal(0, 0.03), 21.0))
        mags.append(mag)
        flux = 10 ** (-0.4 * (mag - 21.0)) * 0.15
        peakmag = min(mags)
        peak_jd = float(jds[int(np.argmin(mags))])
        row = {
            "objectId": oid, "jd": float(jd), "kind": kind,
            "sgscore1": rng.uniform(0.8, 1.0) if star_like else rng.uniform(0.0, 0.3),
            "distpsnr1": (rng.uniform(0.0, 0.4) if kind != "bright" and kind != "dim"
                          else float(np.hypot(host["dx"], host["dy"])) * 1.01),
            "sgscore2": rng.uniform(0, 1), "distpsnr2": rng.uniform(5, 30),
            "fwhm": rng.uniform(1.5, 4.0), "magpsf": mag, "sigmapsf": 0.02 + 0.05 * max(mag - 16, 0) / 4,
            "chipsf": rng.uniform(0.5, 3.0), "ra": ra, "dec": dec, "diffmaglim": rng.uniform(19.8, 20.8),
            "ndethist": ndet0 + i + 1, "nmtchps": int(rng.integers(1, 20)),
            "age": float(jd - first), "days_since_peak": float(jd - peak_jd),
            "days_to_peak": float(peak_jd - first), "peakmag_so_far": peakmag,
            "drb": rng.uniform(0.85, 1.0), "ncovhist": ncov + i, "nnotdet": ncov + i - (ndet0 + i + 1),
            "chinr": rng.uniform(0.3, 3.0), "sharpnr": rng.uniform(-0.1, 0.2), "scorr": rng.uniform(8, 60),
            "sky": rng.normal(0, 1.0), "maxmag_so_far": max(mags),
            "_flux": flux, "_host": host,
        }
        rows.append(row)
    return rows


def make_dataset(n_objects: int = 300, seed: int = 0, positive_fraction: float = 0.4,
                 fractions=(0.81, 0.09, 0.10)):
    """``(triplets (N,63,63,3) float32, rows list[dict], split dict -> row indices)``."""
    rng = np.random.default_rng(seed)
    rows: list[dict] = []
    for k in range(n_objects):
        kind = "bright" if rng.random() < positive_fraction else str(rng.choice(KINDS[1:], p=[0.35, 0.4, 0.25]))
        oid = f"ZTF99syn{k:05d}"
        rows.extend(_object(kind, rng, oid, 2459000.5 + rng.uniform(0, 900)))
    trip = np.empty((len(rows), STAMP_SIZE, STAMP_SIZE, 3), dtype=np.float32)
    for i, r in enumerate(rows):
        trip[i] = make_triplet(r["kind"], r.pop("_flux"), rng, r.pop("_host"))
        r["label"] = 1 if r["kind"] == "bright" else 0
        r["candid"] = 2000000000000000000 + i
    labels = np.array([r["label"] for r in rows])
    splits = split_by_object(np.array([r["objectId"] for r in rows], dtype=object), labels, fractions, seed)
    return trip, rows, splits


def write_dataset(out_dir: str | Path, n_objects: int = 300, seed: int = 0, positive_fraction: float = 0.4,
                  fractions=(0.81, 0.09, 0.10)) -> dict[str, int]:
    """Write ``{split}_triplets_synthetic.npy`` / ``{split}_cand_synthetic.csv`` and ``ref_times.csv``
    (objectId,jd: a made-up human "save" time for each bright transient). Returns alerts per split."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    trip, rows, splits = make_dataset(n_objects, seed, positive_fraction, fractions)
    cols = ["objectId", "candid", "jd", "label", "kind"] + [UPSTREAM_NAMES.get(f, f) for f in FEATURE_NAMES]
    counts = {}
    for split, idx in splits.items():
        if not len(idx):
            continue
        np.save(out / f"{split}_triplets_{TAG}.npy", trip[idx])
        with open(out / f"{split}_cand_{TAG}.csv", "w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh)
            w.writerow(cols)
            for i in idx:
                r = rows[i]
                w.writerow([r["objectId"], r["candid"], repr(r["jd"]), r["label"], r["kind"]]
                           + [repr(float(r[f])) for f in FEATURE_NAMES])
        counts[split] = int(len(idx))
    # reference identification times: ~1-3 days after the object first got brighter than 18.5 mag
    rng = np.random.default_rng(seed + 1)
    first_bright: dict[str, float] = {}
    for r in rows:
        if r["label"] == 1 and r["magpsf"] < 18.5 and r["objectId"] not in first_bright:
            first_bright[r["objectId"]] = r["jd"]
    with open(out / "ref_times.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["objectId", "jd"])
        for o, jd in sorted(first_bright.items()):
            w.writerow([o, repr(jd + float(rng.uniform(1.0, 3.0)))])
    return counts


def main(argv=None) -> None:
    import click

    @click.command(help="Write a small synthetic BTSbot-layout dataset (train/val/test npy + csv) to OUT_DIR.")
    @click.argument("out_dir", type=click.Path(file_okay=False))
    @click.option("--objects", default=300, show_default=True, help="number of objects (sources)")
    @click.option("--seed", default=0, show_default=True)
    @click.option("--positive-fraction", default=0.4, show_default=True)
    def cmd(out_dir, objects, seed, positive_fraction):
        counts = write_dataset(out_dir, objects, seed, positive_fraction)
        click.echo(f"wrote {sum(counts.values())} alerts to {out_dir}: "
                   + ", ".join(f"{k} {v}" for k, v in counts.items()))

    cmd.main(args=argv, prog_name="python -m btsbot_fast.train.synthetic", standalone_mode=True)


if __name__ == "__main__":
    main()
