#!/usr/bin/env python
"""The comparison point for ``btsbot-fast preprocess``: the same work written the way a broker developer
plainly would, with fastavro + astropy + NumPy (the production broker's own recipe).

    python benchmarks/baseline_fastavro_astropy.py PATH... -o out.npz

PATH: .avro files, directories of them (walked recursively) and .tar/.tar.gz nights (streamed with
tarfile). For every alert record: the btsbot-v1 triplet (gunzip + astropy FITS + nan_to_num + L2 norm
rounded to float32 + 1e-9 padding) and the 25 features, then one ``np.savez`` with the same arrays
``btsbot-fast preprocess`` writes (triplets, metadata, feature_names, candid, objectId, jd, status,
message, source). A failing alert is kept as a row of zeros with its error, like ours. Nothing here is
made slow on purpose; nothing is tuned either.
"""

from __future__ import annotations

import argparse
import gzip
import io
import os
import tarfile
import warnings

import fastavro
import numpy as np
from astropy.io import fits

FEATURES = ("sgscore1", "distpsnr1", "sgscore2", "distpsnr2", "fwhm", "magpsf", "sigmapsf", "chipsf", "ra",
            "dec", "diffmaglim", "ndethist", "nmtchps", "age", "days_since_peak", "days_to_peak",
            "peakmag_so_far", "drb", "ncovhist", "nnotdet", "chinr", "sharpnr", "scorr", "sky", "maxmag_so_far")


def make_triplet(alert):
    triplet = np.zeros((63, 63, 3), dtype=np.float32)
    for i, name in enumerate(("cutoutScience", "cutoutTemplate", "cutoutDifference")):
        with gzip.open(io.BytesIO(alert[name]["stampData"]), "rb") as f:
            with fits.open(io.BytesIO(f.read()), ignore_missing_simple=True) as hdu:
                data = np.nan_to_num(hdu[0].data.astype(np.float32))
        data = data / np.float32(np.sqrt(np.sum(np.square(data, dtype=np.float64))))
        h, w = data.shape
        if (h, w) != (63, 63):
            data = np.pad(data, [(0, 63 - h), (0, 63 - w)], mode="constant", constant_values=1e-9)
        triplet[:, :, i] = data
    return triplet


def make_features(alert):
    cand = alert["candidate"]
    history = [p for p in (alert.get("prv_candidates") or []) if p.get("magpsf") is not None]
    history.append(cand)
    peakmag, peakmag_jd, maxmag = 30.0, cand["jd"], 0.0
    for a in history:
        if a["magpsf"] < peakmag:
            peakmag, peakmag_jd = a["magpsf"], a["jd"]
        if a["magpsf"] > maxmag:
            maxmag = a["magpsf"]
    first_jd = min(cand["jdstarthist"], min(a["jd"] for a in history))
    derived = {
        "age": cand["jd"] - first_jd, "days_since_peak": cand["jd"] - peakmag_jd,
        "days_to_peak": peakmag_jd - first_jd, "peakmag_so_far": peakmag, "maxmag_so_far": maxmag,
        "nnotdet": cand["ncovhist"] - cand["ndethist"],
        "drb": cand["drb"] if cand.get("drb") is not None else cand["rb"],
    }
    return np.array([derived[f] if f in derived else cand[f] for f in FEATURES], dtype=np.float64)


def alert_files(paths):
    """(source, file object) for every .avro file and archive member."""
    for path in paths:
        if os.path.isdir(path):
            for root, dirs, files in os.walk(path):
                dirs.sort()
                for name in sorted(files):
                    full = os.path.join(root, name)
                    if name.endswith(".avro"):
                        with open(full, "rb") as fh:
                            yield full, fh
                    elif name.endswith((".tar", ".tar.gz", ".tgz")):
                        yield from archive_members(full)
        elif path.endswith((".tar", ".tar.gz", ".tgz")):
            yield from archive_members(path)
        else:
            with open(path, "rb") as fh:
                yield path, fh


def archive_members(path):
    with tarfile.open(path, "r|*") as tar:
        for member in tar:
            if member.isfile() and member.name.endswith(".avro"):
                yield f"{path}::{member.name}", tar.extractfile(member)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("paths", nargs="+")
    ap.add_argument("-o", "--output", required=True)
    args = ap.parse_args()
    warnings.simplefilter("ignore")  # ZTF's SIMPLE card is not fixed-format: astropy warns per stamp

    triplets, metadata, candid, object_id, jd, status, message, source = [], [], [], [], [], [], [], []
    for src, fh in alert_files(args.paths):
        try:
            alerts = list(fastavro.reader(fh))
        except Exception as exc:
            alerts, error = [None], f"corrupt Avro data: {exc}"
        for alert in alerts:
            trip, feat, err = np.zeros((63, 63, 3), np.float32), np.zeros(25), ""
            if alert is None:
                err = error
            else:
                try:
                    trip, feat = make_triplet(alert), make_features(alert)
                except Exception as exc:
                    err = f"{type(exc).__name__}: {exc}"
            triplets.append(trip)
            metadata.append(feat)
            candid.append((alert.get("candid") or alert["candidate"]["candid"]) if alert else -1)
            object_id.append(alert["objectId"] if alert else "")
            jd.append(alert["candidate"]["jd"] if alert else np.nan)
            status.append(1 if err else 0)
            message.append(err)
            source.append(src)
    np.savez(args.output, triplets=np.stack(triplets), metadata=np.array(metadata, dtype=np.float32),
             feature_names=np.array(FEATURES), candid=np.array(candid, dtype=np.int64), objectId=np.array(object_id),
             jd=np.array(jd), status=np.array(status, dtype=np.uint8), message=np.array(message),
             source=np.array(source))
    print(f"preprocessed {len(status)} alerts ({status.count(0)} ok) -> {args.output}")


if __name__ == "__main__":
    main()
