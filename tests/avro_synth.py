"""Synthetic ZTF-like alerts and hand-made Avro Object Container Files for the native-Avro tests and the
fuzz corpus (tests/fuzz/make_corpus.py). Everything here is generated; nothing is copied from real data.

``alert_schema()`` is a small alert schema that exercises what the native reader must handle: the
candidate columns in several numeric types (some nullable, null first or second), an extra nested record,
an enum, a fixed, a map, strings, prv_candidates with detections and non-detections, and nullable
cutouts. ``ocf()`` writes a container by hand so tests can choose codecs, block layout and corruption.
"""

from __future__ import annotations

import gzip
import io
import struct
import zlib

import numpy as np

from btsbot_fast.prep.variant import CANDIDATE_COLUMNS

CUTOUTS = ("cutoutScience", "cutoutTemplate", "cutoutDifference")

# candidate column -> writer type (varied on purpose; unions put null first or second)
_COLUMN_TYPES = {
    "jd": "double", "jdstarthist": ["null", "double"], "sgscore1": ["float", "null"], "distpsnr1": ["null", "float"],
    "sgscore2": ["null", "float"], "distpsnr2": ["null", "float"], "fwhm": ["null", "float"], "magpsf": "float",
    "sigmapsf": "float", "chipsf": ["null", "float"], "ra": "double", "dec": "double", "diffmaglim": ["null", "float"],
    "ndethist": "int", "nmtchps": "int", "drb": ["null", "float"], "rb": ["null", "float"], "ncovhist": "int",
    "chinr": ["null", "float"], "sharpnr": ["null", "float"], "scorr": ["null", "double"], "sky": ["null", "float"],
    "fid": "int", "isdiffpos": "string", "sgscore3": ["null", "float"], "distpsnr3": ["null", "float"],
    "srmag1": ["null", "float"], "srmag2": ["null", "float"], "srmag3": "float", "sgmag1": ["null", "float"],
    "simag1": ["null", "float"], "szmag1": ["null", "float"], "magnr": ["null", "float"],
    "distnr": ["null", "float"], "neargaia": ["null", "float"], "maggaia": ["null", "float"],
    "neargaiabright": ["null", "float"], "maggaiabright": ["null", "float"], "ssdistnr": ["null", "float"],
    "ssmagnr": ["null", "float"],
}
assert set(_COLUMN_TYPES) == set(CANDIDATE_COLUMNS)
#: the candidate's numeric columns (isdiffpos, a string, has its own place in the schema)
NUMERIC_COLUMNS = tuple(c for c in CANDIDATE_COLUMNS if c != "isdiffpos")


def alert_schema(namespace: str = "ztf", name: str = "alert") -> dict:
    cand_fields = [{"name": "candid", "type": "long"}]
    for col in NUMERIC_COLUMNS[:10]:
        cand_fields.append({"name": col, "type": _COLUMN_TYPES[col]})
    cand_fields += [
        {"name": "isdiffpos", "type": "string"},
        {"name": "programpi", "type": ["null", "string"], "default": None},
        {"name": "flags", "type": {"type": "fixed", "name": "flags16", "size": 16}},
        {"name": "band", "type": {"type": "enum", "name": "band_t", "symbols": ["g", "r", "i"]}},
        {"name": "extra", "type": {"type": "map", "values": ["null", "long"]}},
        {"name": "sub", "type": {"type": "record", "name": "sub_t", "fields": [
            {"name": "a", "type": "int"}, {"name": "b", "type": {"type": "array", "items": "double"}}]}},
    ]
    for col in NUMERIC_COLUMNS[10:]:
        cand_fields.append({"name": col, "type": _COLUMN_TYPES[col]})
    prv = {"type": "record", "name": "prv_candidate", "fields": [
        {"name": "jd", "type": "double"},
        {"name": "fid", "type": "int"},
        {"name": "magpsf", "type": ["null", "float"]},
        {"name": "isdiffpos", "type": ["null", "string"]},
        {"name": "sigmapsf", "type": ["null", "float"]},
        {"name": "note", "type": ["null", "string"]},
        {"name": "sub", "type": ["null", "sub_t"]},
    ]}
    cutout = {"type": "record", "name": "cutout", "fields": [
        {"name": "fileName", "type": "string"}, {"name": "stampData", "type": ["null", "bytes"]}]}
    return {
        "type": "record", "name": name, "namespace": namespace, "version": "9.99",
        "fields": [
            {"name": "schemavsn", "type": "string"},
            {"name": "publisher", "type": "string"},
            {"name": "objectId", "type": "string"},
            {"name": "candid", "type": "long"},
            {"name": "candidate", "type": {"type": "record", "name": "candidate", "fields": cand_fields}},
            {"name": "prv_candidates", "type": ["null", {"type": "array", "items": prv}]},
            {"name": "cutoutScience", "type": ["null", cutout]},
            {"name": "cutoutTemplate", "type": ["null", "cutout"]},
            {"name": "cutoutDifference", "type": ["null", "cutout"]},
        ],
    }


def fits_bytes(img: np.ndarray) -> bytes:
    cards = ["SIMPLE  =                    T", "BITPIX  =                  -32", "NAXIS   =                    2",
             f"NAXIS1  = {img.shape[1]:>20d}", f"NAXIS2  = {img.shape[0]:>20d}", "END"]
    header = "".join(c.ljust(80) for c in cards).encode("ascii")
    header += b" " * (-len(header) % 2880)
    payload = img.astype(">f4").tobytes()
    return header + payload + b"\0" * (-len(payload) % 2880)


def stamp(seed: int, size: int = 63) -> bytes:
    rng = np.random.default_rng(seed)
    img = rng.normal(100.0, 15.0, size=(size, size)).astype(np.float32)
    return gzip.compress(fits_bytes(img), mtime=0)


def alert(i: int, n_prv: int = 5, stamp_size: int = 63, missing_cutout: bool = False) -> dict:
    rng = np.random.default_rng(1000 + i)
    jd = 2459000.5 + i
    cand = {col: float(np.float32(rng.uniform(0.1, 1.0))) for col in NUMERIC_COLUMNS}
    cand.update(jd=jd, jdstarthist=jd - 10.0, ra=float(rng.uniform(0, 360)), dec=float(rng.uniform(-30, 80)),
                ndethist=int(rng.integers(1, 20)), nmtchps=int(rng.integers(0, 9)), ncovhist=int(rng.integers(20, 90)),
                magpsf=float(np.float32(rng.uniform(15, 21))), scorr=float(rng.uniform(5, 30)), fid=1 + i % 3)
    if i % 3 == 0:
        cand["drb"] = None  # rb used instead
    cand.update(candid=1_000_000_000_000_000_000 + i, isdiffpos="t", programpi=None if i % 2 else "Kulkarni",
                flags=bytes(range(16)), band="gri"[i % 3], extra={"k": i, "z": None},
                sub={"a": i, "b": [1.0, 2.0]})
    prv = []
    for k in range(n_prv):
        det = (k + i) % 3 != 0
        prv.append({"jd": jd - 1.0 - k, "fid": 1 + k % 2, "magpsf": float(np.float32(18 + 0.1 * k)) if det else None,
                    "isdiffpos": ("t", "1", "f")[k % 3] if det else None, "sigmapsf": 0.1 if det else None,
                    "note": None if k % 2 else "ü-note",
                    "sub": {"a": k, "b": []} if k % 2 else None})

    def cut(c):
        if missing_cutout and c == 1:
            return None
        return {"fileName": f"stamp_{i}_{c}.fits.gz", "stampData": stamp(10 * i + c, stamp_size)}

    return {
        "schemavsn": "9.99", "publisher": "synthetic", "objectId": f"ZTF99syn{i:04d}", "candid": cand["candid"],
        "candidate": cand, "prv_candidates": prv if n_prv >= 0 else None,
        "cutoutScience": cut(0), "cutoutTemplate": cut(1), "cutoutDifference": cut(2),
    }


def encode(schema, record) -> bytes:
    """One record's binary encoding (fastavro's schemaless writer)."""
    import fastavro

    buf = io.BytesIO()
    fastavro.schemaless_writer(buf, fastavro.parse_schema(schema), record)
    return buf.getvalue()


def varint(n: int) -> bytes:
    z = (n << 1) ^ (n >> 63)
    z &= (1 << 64) - 1
    out = bytearray()
    while True:
        b = z & 0x7F
        z >>= 7
        if z:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def avro_bytes(b: bytes) -> bytes:
    return varint(len(b)) + b


def snappy_block(raw: bytes) -> bytes:
    import cramjam

    return bytes(cramjam.snappy.compress_raw(raw)) + struct.pack(">I", zlib.crc32(raw) & 0xFFFFFFFF)


def deflate_block(raw: bytes) -> bytes:
    c = zlib.compressobj(6, zlib.DEFLATED, -15)
    return c.compress(raw) + c.flush()


def ocf(schema, blocks: list[tuple[int, bytes]], codec: str | None = "null", sync: bytes | None = None,
        meta: dict[str, bytes] | None = None, raw_schema: bytes | None = None) -> bytes:
    """A container with the given (count, stored block bytes) blocks, written by hand."""
    import json

    sync = sync if sync is not None else bytes(range(16))
    md: dict[str, bytes] = {"avro.schema": raw_schema if raw_schema is not None else json.dumps(schema).encode()}
    if codec is not None:
        md["avro.codec"] = codec.encode()
    md.update(meta or {})
    out = bytearray(b"Obj\x01")
    out += varint(len(md))
    for k, v in md.items():
        out += avro_bytes(k.encode()) + avro_bytes(v)
    out += varint(0) + sync
    for count, data in blocks:
        out += varint(count) + varint(len(data)) + data + sync
    return bytes(out)


def container(schema, records: list[dict], codec: str = "null", per_block: int = 1) -> bytes:
    """A well-formed container: `per_block` records per block, codec null/deflate/snappy."""
    enc = [encode(schema, r) for r in records]
    blocks = []
    for s in range(0, len(enc), per_block):
        raw = b"".join(enc[s:s + per_block])
        data = {"null": lambda x: x, "deflate": deflate_block, "snappy": snappy_block}[codec](raw)
        blocks.append((len(enc[s:s + per_block]), data))
    return ocf(schema, blocks, codec=codec, sync=b"SYNC-MARKER-0123")
