"""The native Avro reader (csrc/avro/reader.hpp, prep/native_avro.py) against the fastavro path.

Parity rule: for every buffer, the native rows (count, source, index, objectId, candid, record status,
batch status, message, jd/magpsf/fid) equal those of ``batches(records_from_buffer(...))`` with the native
preprocessing core, and triplets/metadata are bitwise equal (same core code). The one allowed difference
is the wording after "corrupt Avro data..." in DECODE_ERROR rows (the native reader names the problem in
its own words). Corrupt inputs must never crash: each ends in one clear DECODE_ERROR row.
"""

from __future__ import annotations

import collections
import io
import json
import re
import struct
from pathlib import Path

import numpy as np
import pytest

from btsbot_fast import _core
from btsbot_fast.io import iter_buffers, records_from_buffer
from btsbot_fast.prep import batches, native_avro
from btsbot_fast.prep import schema_program as sp
from btsbot_fast.prep.native_avro import NativeReader, buffer_batches
from btsbot_fast.status import Status

fastavro = pytest.importorskip("fastavro")

import avro_synth as S  # noqa: E402  (tests/ is on sys.path under pytest)

REPO = Path(__file__).resolve().parents[1]


# ----------------------------------------------------------------------------------------------------
# helpers


class Rows:
    def __init__(self, bs):
        self.records = [r for b in bs for r in b.records]
        self.keys = [(r.source, r.index, r.objectId, r.candid, int(r.status)) for r in self.records]

        def cat(xs, shape, dt):
            return np.concatenate(xs) if xs else np.zeros(shape, dt)

        self.triplets = cat([b.triplets for b in bs], (0, 63, 63, 3), np.float32)
        self.metadata = cat([b.metadata for b in bs], (0, 25), np.float32)
        self.status = cat([b.status for b in bs], (0,), np.uint8)
        self.info = cat([b.info for b in bs], (0, 3), np.float64)
        self.messages = [m for b in bs for m in b.messages]

    def by_source(self):
        d = collections.defaultdict(list)
        for k, st in zip(self.keys, self.status.tolist()):
            d[k[0]].append(k[1:] + (st,))
        return d


def fastavro_rows(bufs, batch_size=64) -> Rows:
    return Rows(list(batches((r for s, d in bufs for r in records_from_buffer(s, d)), batch_size, "native", 1)))


def native_rows(bufs, batch_size=64, threads=2, max_inflight_bytes=None, **limits) -> Rows:
    out = list(buffer_batches(bufs, batch_size, threads, limits or None, max_inflight_bytes))
    assert all(0 < len(b) <= batch_size for b in out)
    for b in out:
        assert len(b.records) == len(b.triplets) == len(b.metadata) == len(b.status) == len(b.messages) == len(b.info)
    return Rows(out)


def fallbacks(bufs) -> list[str]:
    """Sources the native reader handed to the fastavro path."""
    reader = NativeReader()
    reader.add_buffers(bufs)
    for _ in reader.batches(64):
        pass
    return reader.fallback_sources


def same_message(a: str, b: str, status: int) -> bool:
    if a == b:
        return True
    return status == Status.DECODE_ERROR and a.startswith("corrupt Avro data") and b.startswith("corrupt Avro data") \
        and a.split(":")[0] == b.split(":")[0]


def assert_same(ref: Rows, nat: Rows):
    assert len(ref.keys) == len(nat.keys)
    bad = [(a, b) for a, b in zip(ref.keys, nat.keys) if a != b]
    assert not bad, bad[:5]
    assert np.array_equal(ref.status, nat.status)
    assert np.array_equal(ref.triplets.view(np.uint32), nat.triplets.view(np.uint32))
    assert np.array_equal(ref.metadata.view(np.uint32), nat.metadata.view(np.uint32))
    assert np.array_equal(ref.info, nat.info, equal_nan=True)  # jd, magpsf, fid
    bad = [(k, a, b) for k, a, b, st in zip(ref.keys, ref.messages, nat.messages, ref.status)
           if not same_message(a, b, int(st))]
    assert not bad, bad[:5]


def check_invariants(nat: Rows, sources):
    """Rows of any input, however corrupt: per buffer indices 0..k-1, at most one DECODE_ERROR ending
    a buffer (record-level), valid statuses, zeros in failed rows, finite triplets in ok rows."""
    per = nat.by_source()
    for src in sources:
        rows = per.get(src, [])
        assert [r[0] for r in rows] == list(range(len(rows))), (src, rows)
        corrupt = [i for i, r in enumerate(rows) if r[3] == Status.DECODE_ERROR]
        assert corrupt in ([], [len(rows) - 1]), (src, rows)
    assert set(np.unique(nat.status).tolist()) <= {int(s) for s in Status}
    failed = nat.status != Status.OK
    assert not nat.triplets[failed].any() and not nat.metadata[failed].any()
    # ok triplets are finite; features may be NaN/inf where a value in the packet is (the missing-data rule)
    assert np.isfinite(nat.triplets[~failed]).all()


SCHEMA = S.alert_schema()
RECORDS = [S.alert(i, n_prv=i % 6, missing_cutout=(i % 7 == 6)) for i in range(20)]


# ----------------------------------------------------------------------------------------------------
# contract with the C++ side


def test_program_constants_match_header():
    text = (REPO / "csrc" / "avro" / "program.hpp").read_text()
    assert int(re.search(r"kProgramMagic = (0x[0-9a-fA-F]+)", text).group(1), 16) == sp.PROGRAM_MAGIC
    assert int(re.search(r"kProgramVersion = (\d+)", text).group(1)) == sp.PROGRAM_VERSION
    assert _core.AVRO_PROGRAM_MAGIC == sp.PROGRAM_MAGIC and _core.AVRO_PROGRAM_VERSION == sp.PROGRAM_VERSION
    ops = re.search(r"enum Op : std::uint8_t \{(.*?)\};", text, re.S).group(1)
    names = [t.strip().split("=")[0].strip() for t in ops.replace("\n", " ").split(",") if t.strip()]
    py_ops = ["kOpNull", "kOpBoolean", "kOpInt", "kOpLong", "kOpFloat", "kOpDouble", "kOpBytes", "kOpString",
              "kOpFixed", "kOpEnum", "kOpArray", "kOpMap", "kOpUnion", "kOpRecord", "kNumOps"]
    assert names == py_ops
    assert [sp.OP_NULL, sp.OP_RECORD] == [0, 13]
    targets = dict(re.findall(r"(kTgt\w+) = (\d+)", text))
    assert {k: int(v) for k, v in targets.items()} == {
        "kTgtNone": sp.T_NONE, "kTgtObjectId": sp.T_OBJECT_ID, "kTgtCandid": sp.T_CANDID,
        "kTgtCandidate": sp.T_CANDIDATE, "kTgtCandCandid": sp.T_CAND_CANDID, "kTgtPrv": sp.T_PRV,
        "kTgtPrvItem": sp.T_PRV_ITEM, "kTgtPrvJd": sp.T_PRV_JD, "kTgtPrvMag": sp.T_PRV_MAG,
        "kTgtStamp0": sp.T_STAMP0, "kTgtNotRecord": sp.T_NOT_RECORD, "kTgtPrvIsdiffpos": sp.T_PRV_ISDIFFPOS,
        "kTgtPrvFid": sp.T_PRV_FID, "kTgtColumn0": sp.T_COLUMN0}


def test_bad_programs_rejected():
    good = sp.compile_schema(SCHEMA).words
    _core._testing.load_program(good)
    for bad in (good[:3], np.concatenate([[0], good[1:]]), np.where(np.arange(len(good)) == 2, 10**9, good),
                np.concatenate([good, [99, 0, 0, 0]])):
        with pytest.raises(ValueError, match="bad program"):
            _core._testing.load_program(bad.astype(np.int64))
    reader = _core.Reader()
    with pytest.raises(ValueError, match="bad program"):
        reader.set_program(b"{}", good[:3].astype(np.int64), "x")


def _header_end(schema=SCHEMA, codec="null") -> int:
    """Bytes of a container's header (S.container uses this sync marker)."""
    return len(S.ocf(schema, [], codec=codec, sync=b"SYNC-MARKER-0123"))


# ----------------------------------------------------------------------------------------------------
# real data: every dev + broken file, every schema version and codec present


@pytest.fixture(scope="module")
def real_buffers(reference):
    return list(iter_buffers([reference.dev, reference.broken]))


@pytest.fixture(scope="module")
def real_fastavro(real_buffers):
    return fastavro_rows(real_buffers)


@pytest.mark.parametrize("batch_size,threads", [(64, 2), (7, 1), (1000, 4)])
def test_real_files_equal_fastavro_path(reference, real_buffers, real_fastavro, batch_size, threads):
    nat = native_rows(real_buffers, batch_size, threads)
    assert_same(real_fastavro, nat)
    assert len(nat.keys) == len(reference.manifest)


def _codec(data) -> str | None:
    try:
        return fastavro.reader(io.BytesIO(data)).codec
    except Exception:
        return None


def test_real_files_all_read_natively(reference, real_buffers):
    """Every real file fastavro can open is read natively (snappy ones when libsnappy is compiled in);
    only files whose header is broken go to fastavro (for its own wording of the problem)."""
    codecs = collections.Counter(_codec(d) for _, d in real_buffers if not isinstance(d, Exception))
    n_null, n_snappy = (20, 4) if reference.is_sample else (300, 50)
    assert codecs["null"] > n_null and codecs["snappy"] > n_snappy  # IPAC and Spark/Fink files
    handed = set(fallbacks(real_buffers))
    unreadable = {s for s, d in real_buffers if _codec(d) is None}
    snappy = {s for s, d in real_buffers if _codec(d) == "snappy"}
    assert handed == unreadable | (set() if native_avro.snappy_compiled_in() else snappy)
    nat = native_rows(real_buffers)
    names = {m.split("'")[1] for m in nat.messages if m.startswith("schema ")}
    assert names == {"zuds.alert"}  # the foreign schema is recognised natively
    # the corrupt files (twelve in ../shared): one DECODE_ERROR row each
    corrupt = [m for m in nat.messages if m.startswith("corrupt Avro data")]
    assert len(corrupt) == sum(r["note"].startswith(("corrupt", "not real")) for r in reference.manifest) > 0


@pytest.fixture(scope="module")
def one_file_per_schema(real_buffers):
    """(schema, records) of one decodable real file per distinct writer schema."""
    seen = {}
    for _src, data in real_buffers:
        try:
            reader = fastavro.reader(io.BytesIO(data))
            recs = list(reader)
        except Exception:
            continue
        key = json.dumps(reader.writer_schema, sort_keys=True)
        if key not in seen and recs:
            seen[key] = (reader.writer_schema, recs[:3])
    assert len(seen) >= 8  # 8 in the tests/data sample, more in ../shared
    return list(seen.values())


@pytest.mark.parametrize("codec", ["null", "deflate", "snappy"])
@pytest.mark.parametrize("sync_interval", [1000, 10**8])
def test_reencoded_real_files(one_file_per_schema, codec, sync_interval):
    """Real records re-written by fastavro: every schema version x codec, many blocks or one block."""
    bufs = []
    for k, (schema, recs) in enumerate(one_file_per_schema):
        out = io.BytesIO()
        fastavro.writer(out, schema, recs * 3, codec=codec, sync_interval=sync_interval)
        bufs.append((f"re{k}.avro", out.getvalue()))
    nat = native_rows(bufs, batch_size=5, threads=2)
    assert_same(fastavro_rows(bufs), nat)
    if codec != "snappy" or native_avro.snappy_compiled_in():
        assert fallbacks(bufs) == []


# ----------------------------------------------------------------------------------------------------
# synthetic alerts: codecs, block layouts, batching


@pytest.mark.parametrize("codec", ["null", "deflate", "snappy"])
@pytest.mark.parametrize("per_block", [1, 3, 20])
def test_synthetic_codecs_and_layouts(codec, per_block):
    bufs = [(f"{codec}.avro", S.container(SCHEMA, RECORDS, codec, per_block))]
    ref = fastavro_rows(bufs)
    assert collections.Counter(ref.status.tolist()) == {Status.OK: 18, Status.MISSING_CUTOUT: 2}
    for batch_size in (1, 4, 64):
        assert_same(ref, native_rows(bufs, batch_size, threads=2))


def test_kafka_messages_one_alert_each():
    msgs = [(f"<kafka>[{i}]", S.container(SCHEMA, [r])) for i, r in enumerate(RECORDS)]
    msgs.insert(5, ("<kafka>[x]", b""))  # an empty message value
    msgs.insert(9, ("<kafka>[y]", OSError("read failed")))
    assert_same(fastavro_rows(msgs), native_rows(msgs, batch_size=8))


def test_buffer_types_and_threads():
    data = S.container(SCHEMA, RECORDS, "deflate", 4)
    ref = fastavro_rows([("a", data)])
    for buf in (bytearray(data), memoryview(data)):
        assert_same(ref, native_rows([("a", buf)]))
    one, many = native_rows([("a", data)], threads=1), native_rows([("a", data)], threads=8)
    assert_same(one, many)


def test_header_only_container_has_no_rows():
    bufs = [("empty.avro", S.ocf(SCHEMA, []))]
    assert fastavro_rows(bufs).keys == native_rows(bufs).keys == []


def test_foreign_schema_rows():
    schema = S.alert_schema(namespace="zuds")
    bufs = [("zuds.avro", S.container(schema, RECORDS[:4], "null", 2))]
    nat = native_rows(bufs)
    assert_same(fastavro_rows(bufs), nat)
    assert all(r.status == Status.UNSUPPORTED_SCHEMA and "zuds.alert" in r.message for r in nat.records)
    assert [r.candid for r in nat.records] == [r["candid"] for r in RECORDS[:4]]


# ----------------------------------------------------------------------------------------------------
# corrupt input: truncation, bit flips, crafted damage


@pytest.mark.parametrize("codec", ["null", "snappy"])
def test_truncated_at_many_offsets(codec):
    if codec == "snappy" and not native_avro.snappy_compiled_in():
        pytest.skip("libsnappy not compiled in")
    data = S.container(SCHEMA, RECORDS[:6], codec, 2)
    header_end = _header_end(codec=codec)
    cuts = sorted(set(range(0, header_end + 40)) | set(range(header_end, len(data), 97)) | {len(data) - 1})
    bufs = [(f"cut{c}", data[:c]) for c in cuts]
    nat = native_rows(bufs, batch_size=16)
    check_invariants(nat, [s for s, _ in bufs])
    assert_same(fastavro_rows(bufs), nat)


@pytest.mark.parametrize("codec", ["null", "deflate"])
def test_bit_flips_match_fastavro(codec):
    """Seeded single-bit flips anywhere in a container (snappy is covered below: fastavro skips its CRC)."""
    data = S.container(SCHEMA, RECORDS[:4], codec, 2)
    rng = np.random.default_rng(7)
    bufs = []
    for k in range(250):
        b = bytearray(data)
        pos = int(rng.integers(len(b)))
        b[pos] ^= 1 << int(rng.integers(8))
        bufs.append((f"flip{k}@{pos}", bytes(b)))
    nat = native_rows(bufs, batch_size=32)
    check_invariants(nat, [s for s, _ in bufs])
    assert_same(fastavro_rows(bufs), nat)


def test_bit_flips_real_file_and_snappy(real_buffers):
    src, data = next(b for b in real_buffers if _codec(b[1]) == "snappy")  # a Spark/Fink snappy file
    rng = np.random.default_rng(11)
    bufs = []
    for k in range(150):
        b = bytearray(data)
        for _ in range(int(rng.integers(1, 4))):
            b[int(rng.integers(len(b)))] ^= 1 << int(rng.integers(8))
        bufs.append((f"flip{k}", bytes(b)))
    nat = native_rows(bufs, batch_size=64)
    check_invariants(nat, [s for s, _ in bufs])
    if native_avro.snappy_compiled_in():
        n_crc = sum("CRC32 mismatch" in m for m in nat.messages)
        assert n_crc > 50  # the snappy CRC is verified (fastavro does not)


def _single(raw_record: bytes, schema=SCHEMA, **kw) -> list:
    return [("crafted.avro", S.ocf(schema, [(1, raw_record)], **kw))]


def test_crafted_errors():
    raw = S.encode(SCHEMA, RECORDS[0])
    # schemavsn, publisher, objectId are the first three strings
    sv = S.avro_bytes(b"9.99") + S.avro_bytes(b"synthetic")
    assert raw.startswith(sv)
    rest = raw[len(sv):]
    oid_len = len(RECORDS[0]["objectId"])
    after_oid = rest[1 + oid_len:]
    cases = {
        "huge string length": sv + S.varint(1 << 62) + after_oid,
        "negative string length": sv + S.varint(-5) + after_oid,
        "varint overflow": sv + b"\xff" * 11 + after_oid,
        "invalid utf-8": sv + S.avro_bytes(b"ZTF\xff\xfe") + after_oid,
        "truncated record": raw[: len(raw) // 2],
    }
    for name, rec in cases.items():
        bufs = _single(rec)
        nat = native_rows(bufs)
        assert nat.keys == [("crafted.avro", 0, None, None, Status.DECODE_ERROR)], name
        assert nat.messages[0].startswith("corrupt Avro data: "), (name, nat.messages)
    assert native_rows(_single(raw)).status.tolist() == [Status.OK]


def test_crafted_framing_errors():
    raw = S.encode(SCHEMA, RECORDS[0])
    good = S.ocf(SCHEMA, [(1, raw)])
    sync = b"SYNC-MARKER-0123"
    hdr = S.ocf(SCHEMA, [], sync=sync)
    cases = {
        "negative block count": hdr + S.varint(-1) + S.avro_bytes(raw) + sync,
        "huge block count": hdr + S.varint(1 << 40) + S.avro_bytes(raw) + sync,
        "huge block size": hdr + S.varint(1) + S.varint(1 << 60) + raw + sync,
        "negative block size": hdr + S.varint(1) + S.varint(-3) + raw + sync,
        "bad sync": hdr + S.varint(1) + S.avro_bytes(raw) + b"X" * 16,
        "count beyond records": hdr + S.varint(3) + S.avro_bytes(raw) + sync,
        "trailing garbage": S.ocf(SCHEMA, [(1, raw)], sync=sync) + b"\x02\x04ab",
    }
    for name, data in cases.items():
        bufs = [(name, data)]
        nat = native_rows(bufs)
        check_invariants(nat, [name])
        assert nat.status.tolist()[-1] == Status.DECODE_ERROR, name
        assert nat.messages[-1].startswith("corrupt Avro data"), (name, nat.messages)
        if name in ("huge block count",):
            assert "exceeds the limit" in nat.messages[-1]
        if name not in ("huge block count", "negative block count"):  # fastavro: 2**40 reads; 0 records
            assert_same(fastavro_rows(bufs), nat)
    assert native_rows([("ok", good)]).status.tolist() == [Status.OK]


def test_header_problems_fall_back_to_fastavro():
    raw = S.encode(SCHEMA, RECORDS[0])
    cases = {
        "bad magic": b"Obj\x02" + S.ocf(SCHEMA, [(1, raw)])[4:],
        "unknown codec": S.ocf(SCHEMA, [(1, raw)], codec="zstd-x"),
        "schema garbage": S.ocf(SCHEMA, [(1, raw)], raw_schema=b"{not json"),
        "schema unknown type": S.ocf(SCHEMA, [(1, raw)], raw_schema=b'{"type": "record", "name": "a", '
                                                                     b'"fields": [{"name": "x", "type": "nope"}]}'),
        "no schema": b"Obj\x01\x00" + b"S" * 16,
        "truncated header": S.ocf(SCHEMA, [(1, raw)])[:40],
    }
    for name, data in cases.items():
        bufs = [(name, data)]
        ref, nat = fastavro_rows(bufs), native_rows(bufs)
        assert nat.status.tolist() == [Status.DECODE_ERROR], name
        assert nat.messages == ref.messages and nat.keys == ref.keys, name
        assert fallbacks(bufs) == [name], name


def test_gzip_bomb_stamp_is_bounded():
    import gzip

    rec = dict(RECORDS[1])
    rec["cutoutTemplate"] = {"fileName": "bomb", "stampData": gzip.compress(b"\0" * (20 << 20))}
    bufs = [("bomb.avro", S.container(SCHEMA, [rec]))]
    nat = native_rows(bufs)
    assert nat.status.tolist() == [Status.BAD_CUTOUT]
    assert "decompressed stamp too large" in nat.messages[0] and nat.messages[0].startswith("cutoutTemplate")
    assert_same(fastavro_rows(bufs), nat)


def test_block_bombs_are_bounded():
    raw = S.encode(SCHEMA, RECORDS[0])
    big = raw + b"\0" * (3 << 20)  # block bytes after the records are ignored (as fastavro does)
    for codec, block in (("deflate", S.deflate_block(big)), ("snappy", S.snappy_block(big))):
        if codec == "snappy" and not native_avro.snappy_compiled_in():
            continue
        bufs = [(codec, S.ocf(SCHEMA, [(1, block)], codec=codec))]
        assert native_rows(bufs).status.tolist() == [Status.OK]
        nat = native_rows(bufs, max_block_bytes=1 << 20)
        assert nat.status.tolist() == [Status.DECODE_ERROR]
        assert "too large" in nat.messages[0], nat.messages


def test_snappy_crc_is_verified():
    if not native_avro.snappy_compiled_in():
        pytest.skip("libsnappy not compiled in")
    raw = S.encode(SCHEMA, RECORDS[0])
    block = bytearray(S.snappy_block(raw))
    block[-1] ^= 1
    nat = native_rows([("crc", S.ocf(SCHEMA, [(1, bytes(block))], codec="snappy"))])
    assert nat.status.tolist() == [Status.DECODE_ERROR] and "CRC32 mismatch" in nat.messages[0]


def test_deep_and_wide_values_are_bounded():
    """Recursive schemas nested past the depth limit, and huge counts of zero-byte items, fail fast."""
    schema = {"type": "record", "name": "alert", "namespace": "ztf", "fields": [
        {"name": "objectId", "type": "string"},
        {"name": "chain", "type": ["null", {"type": "record", "name": "link", "fields": [
            {"name": "next", "type": ["null", "link"]}]}]},
        {"name": "nulls", "type": {"type": "array", "items": "null"}},
    ]}
    deep = S.avro_bytes(b"ZTF1") + b"\x02" * 200 + b"\x00" + S.varint(0)
    nat = native_rows([("deep", S.ocf(schema, [(1, deep)]))])
    assert nat.status.tolist() == [Status.DECODE_ERROR] and "nested deeper" in nat.messages[0]
    shallow = S.avro_bytes(b"ZTF1") + b"\x02" * 10 + b"\x00" + S.varint(3) + S.varint(0)
    nat = native_rows([("shallow", S.ocf(schema, [(1, shallow)]))])
    assert nat.keys == [("shallow", 0, "ZTF1", None, Status.OK)]
    assert nat.status.tolist() == [Status.MISSING_FIELD] and nat.messages == ["missing field: candidate"]
    bad_branch = S.avro_bytes(b"ZTF1") + b"\x04" + S.varint(0)
    bufs = [("branch", S.ocf(schema, [(1, bad_branch)]))]
    nat = native_rows(bufs)
    assert_same(fastavro_rows(bufs), nat)
    assert nat.status.tolist() == [Status.DECODE_ERROR] and "union branch index 2" in nat.messages[0]
    wide = S.avro_bytes(b"ZTF1") + b"\x00" + S.varint(1 << 60) + S.varint(0)
    nat = native_rows([("wide", S.ocf(schema, [(1, wide)]))])  # stops at the item limit, not after 2**60
    assert nat.status.tolist() == [Status.DECODE_ERROR] and "array/map items" in nat.messages[0]


# ----------------------------------------------------------------------------------------------------
# schema_program: hand-written schemas, checked by a small Python interpreter of the program (so the
# compiler is tested on its own), and through the native decoder against the fastavro path


class _Reader:
    def __init__(self, data: bytes):
        self.d, self.p = data, 0

    def long(self) -> int:
        shift = n = 0
        while True:
            b = self.d[self.p]
            self.p += 1
            n |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                return (n >> 1) ^ -(n & 1)

    def take(self, n: int) -> bytes:
        out = self.d[self.p:self.p + n]
        assert len(out) == n
        self.p += n
        return out


def interpret(words: np.ndarray, data: bytes) -> dict:
    """What the program extracts from one record (a Python model of csrc/avro/program.cpp)."""
    w = [int(x) for x in words]
    assert w[0] == sp.PROGRAM_MAGIC and w[1] == sp.PROGRAM_VERSION
    r = _Reader(data)
    out: dict = {"columns": {}, "hist": [], "stamps": {}, "candidate": False, "not_record": False}
    item: list = []

    def node(off):
        op, tgt, arg, nk = w[off:off + 4]
        kids = w[off + 4:off + 4 + nk]
        if tgt == sp.T_NOT_RECORD:
            out["not_record"] = True
        val = None
        if op == sp.OP_NULL:
            return
        if op == sp.OP_BOOLEAN:
            val = float(r.take(1)[0] != 0)
        elif op in (sp.OP_INT, sp.OP_LONG):
            val = r.long()
        elif op == sp.OP_FLOAT:
            val = float(struct.unpack("<f", r.take(4))[0])
        elif op == sp.OP_DOUBLE:
            val = struct.unpack("<d", r.take(8))[0]
        elif op in (sp.OP_BYTES, sp.OP_STRING):
            val = r.take(r.long())
        elif op == sp.OP_FIXED:
            r.take(arg)
        elif op == sp.OP_ENUM:
            assert 0 <= r.long() < arg
        elif op in (sp.OP_ARRAY, sp.OP_MAP):
            while (count := r.long()) != 0:
                if count < 0:
                    count = -count
                    r.long()
                for _ in range(count):
                    if op == sp.OP_MAP:
                        r.take(r.long())
                    node(kids[0])
        elif op == sp.OP_UNION:
            node(kids[r.long()])
        elif op == sp.OP_RECORD:
            if tgt == sp.T_CANDIDATE:
                out["candidate"] = True
            if tgt == sp.T_PRV_ITEM:
                item.append({})
            for k in kids:
                node(k)
            if tgt == sp.T_PRV_ITEM:
                it = item.pop()
                if "mag" in it:
                    out["hist"].append((it.get("jd", "null"), it["mag"]))
        if tgt == sp.T_OBJECT_ID:
            out["objectId"] = val.decode()
        elif tgt == sp.T_CANDID:
            out["candid"] = val
        elif tgt == sp.T_CAND_CANDID:
            out["cand_candid"] = val
        elif tgt == sp.T_PRV_JD:
            item[-1]["jd"] = float(val)
        elif tgt == sp.T_PRV_MAG:
            item[-1]["mag"] = float(val)
        elif sp.T_STAMP0 <= tgt < sp.T_STAMP0 + 3:
            out["stamps"][tgt - sp.T_STAMP0] = val
        elif tgt >= sp.T_COLUMN0:
            out["columns"][tgt - sp.T_COLUMN0] = float(val)

    node(w[2])
    assert r.p == len(data), "the program must consume exactly one record"
    return out


def expected(record: dict) -> dict:
    """The same, from a fastavro-decoded record (the fastavro path's gathering rules)."""
    from btsbot_fast.prep.variant import CANDIDATE_COLUMNS, CUTOUT_FIELDS

    out: dict = {"columns": {}, "hist": [], "stamps": {}, "candidate": False, "not_record": False}
    if record.get("objectId") is not None:
        out["objectId"] = record["objectId"]
    if record.get("candid") is not None:
        out["candid"] = record["candid"]
    cand = record.get("candidate")
    if isinstance(cand, dict):
        out["candidate"] = True
        if cand.get("candid") is not None:
            out["cand_candid"] = cand["candid"]
        out["columns"] = {j: float(cand[c]) for j, c in enumerate(CANDIDATE_COLUMNS) if cand.get(c) is not None}
    for p in record.get("prv_candidates") or ():
        if p is not None and p.get("magpsf") is not None:
            out["hist"].append(("null" if p.get("jd") is None else float(p["jd"]), float(p["magpsf"])))
    for c, name in enumerate(CUTOUT_FIELDS):
        cut = record.get(name)
        if isinstance(cut, dict) and cut.get("stampData") is not None:
            out["stamps"][c] = cut["stampData"]
    return out


HAND_SCHEMAS = {
    # nested records, unions with null first and second, a named type used twice, enums, fixed, maps
    "nested": ({
        "type": "record", "name": "alert", "namespace": "ztf", "fields": [
            {"name": "meta", "type": {"type": "record", "name": "meta_t", "fields": [
                {"name": "tags", "type": {"type": "map", "values": {"type": "array", "items": "string"}}},
                {"name": "kind", "type": {"type": "enum", "name": "kind_t", "symbols": ["a", "b"]}},
                {"name": "id", "type": {"type": "fixed", "name": "id_t", "size": 5}}]}},
            {"name": "candidate", "type": ["null", {"type": "record", "name": "cand_t", "fields": [
                {"name": "jd", "type": ["double", "null"]},
                {"name": "magpsf", "type": ["null", "float"]},
                {"name": "ndethist", "type": "int"},
                {"name": "rb", "type": "boolean"},
                {"name": "candid", "type": ["null", "long"]},
                {"name": "inner", "type": "ztf.meta_t"}]}]},
            {"name": "objectId", "type": ["null", "string"]},
            {"name": "prv_candidates", "type": {"type": "array", "items": ["null", {
                "type": "record", "name": "prv_t", "fields": [
                    {"name": "magpsf", "type": ["null", "double"]}, {"name": "jd", "type": ["int", "null"]},
                    {"name": "more", "type": ["null", "cand_t"]}]}]}},
            {"name": "cutoutDifference", "type": {"type": "record", "name": "cut_t", "fields": [
                {"name": "stampData", "type": ["bytes", "null"]}, {"name": "fileName", "type": "string"}]}},
        ]}, [
        {"meta": {"tags": {"x": ["1", "2"], "y": []}, "kind": "b", "id": b"12345"},
         "candidate": {"jd": 2.5, "magpsf": None, "ndethist": 3, "rb": True, "candid": 77,
                       "inner": {"tags": {}, "kind": "a", "id": b"abcde"}},
         "objectId": "ZTFa",
         "prv_candidates": [None, {"magpsf": 18.0, "jd": 5, "more": None}, {"magpsf": None, "jd": 6, "more": None},
                            {"magpsf": 17.5, "jd": None, "more": None}],
         "cutoutDifference": {"stampData": b"\x1f\x8bxx", "fileName": "f"}},
        {"meta": {"tags": {}, "kind": "a", "id": b"00000"}, "candidate": None, "objectId": None,
         "prv_candidates": [], "cutoutDifference": {"stampData": None, "fileName": ""}},
    ]),
    # a top-level union of named types (ZTF's published schema files), the alert last
    "union_root": ([
        {"type": "record", "name": "candidate", "namespace": "ztf.alert", "fields": [
            {"name": "jd", "type": "double"}, {"name": "candid", "type": "long"}]},
        {"type": "record", "name": "alert", "namespace": "ztf", "fields": [
            {"name": "objectId", "type": "string"}, {"name": "candid", "type": "long"},
            {"name": "candidate", "type": "ztf.alert.candidate"}]},
    ], [
        {"objectId": "ZTFb", "candid": 5, "candidate": {"jd": 1.0, "candid": 5}},
    ]),
    # Spark style: no top-level candid (candidate.candid used), field order differs, recursion elsewhere
    "spark": ({
        "type": "record", "name": "topLevelRecord", "fields": [
            {"name": "candidate", "type": {"type": "record", "name": "candidate", "namespace": "topLevelRecord",
                                           "fields": [{"name": "candid", "type": "long"},
                                                      {"name": "sky", "type": ["float", "null"]}]}},
            {"name": "tree", "type": {"type": "record", "name": "node", "fields": [
                {"name": "kids", "type": {"type": "array", "items": "node"}}]}},
            {"name": "objectId", "type": "string"},
        ]}, [
        {"candidate": {"candid": 9, "sky": 1.5}, "tree": {"kids": [{"kids": []}, {"kids": [{"kids": []}]}]},
         "objectId": "ZTFc"},
    ]),
}


@pytest.mark.parametrize("name", sorted(HAND_SCHEMAS))
def test_schema_program_interpreted(name):
    schema, records = HAND_SCHEMAS[name]
    prog = sp.compile_schema(json.dumps(schema))
    assert not prog.foreign
    parsed = fastavro.parse_schema(schema)
    for rec in records:
        data = S.encode(schema, rec)
        decoded = fastavro.schemaless_reader(io.BytesIO(data), parsed)
        assert interpret(prog.words, data) == expected(decoded)


@pytest.mark.parametrize("name", sorted(HAND_SCHEMAS))
def test_schema_program_native_equals_fastavro(name):
    schema, records = HAND_SCHEMAS[name]
    # null prv_candidates items included: the decoder's null-item branch against the fastavro path's
    bufs = [(name, S.ocf(schema, [(len(records), b"".join(S.encode(schema, r) for r in records))]))]
    nat = native_rows(bufs)
    assert_same(fastavro_rows(bufs), nat)


def test_schema_program_names_and_errors():
    from btsbot_fast.io.records import schema_name

    assert schema_name({"type": "record", "name": "alert", "namespace": "ztf", "fields": []}) == "ztf.alert"
    assert schema_name({"type": "record", "name": "a.b", "namespace": "zzz", "fields": []}) == "a.b"
    assert schema_name([{"type": "record", "name": "x", "fields": []},
                           {"type": "record", "name": "alert", "namespace": "zuds", "fields": []}]) == "zuds.alert"
    assert sp.compile_schema(S.alert_schema(namespace="lsst")).foreign
    rec = {"type": "record", "name": "alert", "fields": []}
    bad = {
        "unknown name": {**rec, "fields": [{"name": "x", "type": "nope"}]},
        "redefined": {**rec, "fields": [{"name": "x", "type": {"type": "fixed", "name": "f", "size": 1}},
                                        {"name": "y", "type": {"type": "fixed", "name": "f", "size": 2}}]},
        "jd as string": {**rec, "fields": [{"name": "candidate", "type": {
            "type": "record", "name": "c", "fields": [{"name": "jd", "type": "string"}]}}]},
        "objectId as long": {**rec, "fields": [{"name": "objectId", "type": "long"}]},
        "candidate as map": {**rec, "fields": [{"name": "candidate", "type": {"type": "map", "values": "double"}}]},
        "duplicate fields": {**rec, "fields": [{"name": "candid", "type": "long"}, {"name": "candid", "type": "long"}]},
        "top-level array": {"type": "array", "items": "long"},
        "nested union": {**rec, "fields": [{"name": "x", "type": ["null", ["int"]]}]},
        "not json": "{",
    }
    for _name, schema in bad.items():
        with pytest.raises(sp.SchemaCompileError):
            sp.compile_schema(schema if isinstance(schema, str) else json.dumps(schema))
    cache = sp.ProgramCache(maxsize=2)
    a = cache.get(json.dumps(SCHEMA).encode())
    assert cache.get(json.dumps(SCHEMA).encode()) is a
    assert isinstance(cache.get(b"{"), sp.SchemaCompileError)
    cache.get(b'"string"')
    assert len(cache) == 2


def test_program_is_compact():
    words = sp.compile_schema(SCHEMA).words
    # leaves and unions are shared (738 words with the 40 candidate columns the features and BTS filter read)
    assert words.dtype == np.int64 and len(words) < 800
