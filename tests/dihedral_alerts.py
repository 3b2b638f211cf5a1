"""Real ZTF alert packets with their cutouts flipped and turned (the 8 dihedral transforms), so that the
fast mode's "no decision changes" is tested through ``score`` and the stream on inputs it was not tuned on.

The three stamps of an alert are transformed alike, on the FITS pixel array (rows x columns as stored),
which is the same transform of the model-ready triplet (normalising is invariant under it). Stamps that
are not square (cut by a CCD edge) would change shape under a quarter turn: such an alert is kept as it
came (tests/test_precision.py covers its transforms on model-ready triplets).
"""

from __future__ import annotations

import gzip
import io
from pathlib import Path

import fastavro
import numpy as np

CUTOUTS = ("cutoutScience", "cutoutTemplate", "cutoutDifference")


def _header_end(raw: bytes) -> int:
    for block in range(0, len(raw), 2880):
        for card in range(block, block + 2880, 80):
            end = raw[card:card + 8] == b"END     "
            if end or raw[card:card + 3] == b"END" and raw[card + 3:card + 80].strip() == b"":
                return block + 2880
    raise ValueError("no END card")


def _card(raw: bytes, key: bytes, end: int) -> int:
    for card in range(0, end, 80):
        if raw[card:card + 8].rstrip() == key:
            return int(raw[card + 10:card + 80].split(b"/")[0])
    raise KeyError(key)


def transform_stamp(stamp: bytes, flip: bool, k: int) -> bytes | None:
    """The gzip-compressed FITS ``stamp`` with its pixels flipped left-right (``flip``) then turned ``k``
    quarter turns (as :func:`btsbot_fast.registry.stress.dihedral` on the triplet); None when not square."""
    raw = gzip.decompress(stamp)
    end = _header_end(raw)
    w, h = _card(raw, b"NAXIS1", end), _card(raw, b"NAXIS2", end)
    if w != h:
        return None
    pix = np.frombuffer(raw[end:end + 4 * w * h], dtype=">f4").reshape(h, w)
    pix = pix[:, ::-1] if flip else pix
    out = raw[:end] + np.ascontiguousarray(np.rot90(pix, k)).astype(">f4").tobytes() + raw[end + 4 * w * h:]
    return gzip.compress(out, mtime=0)


def transform_packet(data: bytes, flip: bool, k: int) -> bytes:
    """An Avro alert packet (one or more records) with every record's cutouts transformed alike."""
    reader = fastavro.reader(io.BytesIO(data))
    schema, records = reader.writer_schema, list(reader)
    for rec in records:
        stamps = {}
        for field in CUTOUTS:
            cut = rec.get(field)
            if not cut or not cut.get("stampData"):
                stamps = None
                break
            try:
                new = transform_stamp(cut["stampData"], flip, k)
            except (OSError, ValueError, KeyError, EOFError):  # a damaged stamp: leave the alert as it came
                new = None
            if new is None:
                stamps = None
                break
            stamps[field] = new
        for field, new in (stamps or {}).items():
            rec[field] = {**rec[field], "stampData": new}
    buf = io.BytesIO()
    fastavro.writer(buf, schema, records, codec=reader.codec)
    return buf.getvalue()


def write_transformed(files: list[Path], out_dir: Path, transforms) -> list[Path]:
    """Each Avro file under each (flip, k) of ``transforms``, as ``out_dir/<flip><k>/<i>-<name>``."""
    written = []
    for flip, k in transforms:
        d = out_dir / f"{'f' if flip else 'r'}{k}"
        d.mkdir(parents=True, exist_ok=True)
        for i, f in enumerate(files):
            p = d / f"{i:04d}-{f.name}"
            p.write_bytes(transform_packet(f.read_bytes(), flip, k))
            written.append(p)
    return written
