#!/usr/bin/env python3
"""Write the fuzz seed corpus (tests/fuzz/corpus/) from synthetic alerts. Deterministic; no real data.

Two kinds of seeds (see run_fuzz.py):
- whole Avro containers (start with ``Obj\\x01``): synthetic alerts in every codec, several block
  layouts, hand-written schemas (nested records, unions, maps, enums, fixed, recursion, a top-level
  union, a foreign ``zuds.alert`` schema), tiny 8x8 stamps to keep the seeds small;
- record payloads (``mode byte + record bytes``): the fuzzer wraps them into a well-formed container
  with the synthetic schema, so mutations reach the record decoder past the block framing.

Usage: python tests/fuzz/make_corpus.py [--out DIR]
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # tests/ (avro_synth)

import avro_synth as S  # noqa: E402


def seeds() -> dict[str, bytes]:
    schema = S.alert_schema()
    recs = [S.alert(i, n_prv=i % 4, stamp_size=8, missing_cutout=(i == 2)) for i in range(4)]
    out: dict[str, bytes] = {}
    for codec in ("null", "deflate", "snappy"):
        out[f"synthetic_{codec}_1x4"] = S.container(schema, recs, codec, per_block=1)
        out[f"synthetic_{codec}_2x2"] = S.container(schema, recs[:2], codec, per_block=2)
    out["synthetic_kafka_single"] = S.container(schema, recs[:1])
    out["synthetic_no_prv"] = S.container(schema, [S.alert(9, n_prv=-1, stamp_size=8)])
    out["synthetic_header_only"] = S.ocf(schema, [])
    out["foreign_zuds"] = S.container(S.alert_schema(namespace="zuds"), recs[:2], "null", 2)
    hand = {
        "nested": {"type": "record", "name": "alert", "namespace": "ztf", "fields": [
            {"name": "m", "type": {"type": "map", "values": {"type": "array", "items": "string"}}},
            {"name": "e", "type": {"type": "enum", "name": "e_t", "symbols": ["a", "b"]}},
            {"name": "f", "type": {"type": "fixed", "name": "f_t", "size": 3}},
            {"name": "objectId", "type": ["null", "string"]},
            {"name": "candidate", "type": ["null", {"type": "record", "name": "c_t", "fields": [
                {"name": "jd", "type": ["double", "null"]}, {"name": "candid", "type": "long"}]}]},
            {"name": "prv_candidates", "type": {"type": "array", "items": ["null", {
                "type": "record", "name": "p_t", "fields": [{"name": "magpsf", "type": ["null", "float"]},
                                                            {"name": "jd", "type": "double"}]}]}},
            {"name": "tree", "type": {"type": "record", "name": "node", "fields": [
                {"name": "kids", "type": {"type": "array", "items": "node"}}]}},
        ]},
    }
    rec = {"m": {"x": ["1"]}, "e": "b", "f": b"abc", "objectId": "ZTFh", "candidate": {"jd": 1.5, "candid": 3},
           "prv_candidates": [None, {"magpsf": 18.0, "jd": 1.0}], "tree": {"kids": [{"kids": []}]}}
    out["hand_nested"] = S.ocf(hand["nested"], [(2, S.encode(hand["nested"], rec) * 2)])
    union_root = [
        {"type": "record", "name": "candidate", "namespace": "ztf.alert", "fields": [{"name": "jd", "type": "double"}]},
        {"type": "record", "name": "alert", "namespace": "ztf", "fields": [
            {"name": "objectId", "type": "string"}, {"name": "candidate", "type": "ztf.alert.candidate"}]},
        "string",
    ]
    out["hand_union_root"] = S.ocf(union_root, [(2, b"\x02" + S.avro_bytes(b"ZTFu") + S.encode("double", 2.0)
                                                 + b"\x04" + S.avro_bytes(b"not a record"))])
    # record payloads for the wrapping modes (0 null, 1 deflate, 2 snappy)
    for mode in range(3):
        out[f"payload_mode{mode}"] = bytes([mode]) + S.encode(schema, recs[1])
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=HERE / "corpus")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for name, data in sorted(seeds().items()):
        digest = hashlib.sha1(data).hexdigest()[:10]
        (args.out / f"{name}-{digest}.bin").write_bytes(data)
    total = sum(p.stat().st_size for p in args.out.iterdir())
    print(f"{len(list(args.out.iterdir()))} seeds, {total} bytes in {args.out}")


if __name__ == "__main__":
    main()
