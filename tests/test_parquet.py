"""Fink/Spark Parquet alert tables read like Avro alerts: same rows, same tensors, same scores.

Reference: ../shared/data/parquet/reference (the production outputs for the ZTF rows of the Fink Parquet
test sets, computed after converting each row to the Avro alert structure); without ../shared, the
sample in tests/data/parquet (a few rows of three of those tables, re-indexed, and small whole files). Tolerances as in
test_parity.py: triplets <= 2e-7 per pixel (channels the reference has all-zero exactly zero), features
equal to the reference float32 values, scores within 2e-6 of TensorFlow's and on the same side of 0.5.
"""

from __future__ import annotations

import collections
import csv
import io
import os
import sys
from pathlib import Path

import numpy as np
import pytest

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")

from btsbot_fast.io import iter_buffers, read_alerts, records_from_parquet  # noqa: E402
from btsbot_fast.prep import preprocess_paths, preprocess_records  # noqa: E402
from btsbot_fast.status import Status  # noqa: E402

TRIPLET_ATOL = 2e-7
SCORE_ATOL = 2e-6


class ParquetReference:
    def __init__(self, data_root):
        root = data_root / "parquet"
        self.is_sample = data_root.resolve() == (Path(__file__).parent / "data").resolve()
        self.dev = root / "dev"
        ref = root / "reference"
        if not (ref / "dev_parquet_reference_scores.csv").is_file():
            pytest.skip("Parquet reference data not available")
        with open(ref / "dev_parquet_reference_scores.csv", newline="") as fh:
            self.rows = list(csv.DictReader(fh))
        with open(ref / "dev_parquet_skipped.csv", newline="") as fh:
            self.skipped = list(csv.DictReader(fh))
        with np.load(ref / "dev_parquet_reference_triplets.npz") as t:
            self.triplets = {k: t[k] for k in t.files}
        with np.load(ref / "dev_parquet_reference_features.npz") as f:
            self.features = dict(zip((str(c) for c in f["candid"]), f["features_f32"]))
        # the alert test sets (the catalogs/ subfolder holds cross-match tables, not alerts)
        self.files = sorted((self.dev / "fink-science").glob("*.parquet"))
        # rows that are byte-identical copies of a reference row in another file: (file, index) -> row
        self.copies = {}
        for row in self.rows:
            for copy in filter(None, row["duplicate_copies"].split(";")):
                path, index = copy.rsplit("#", 1)
                self.copies[(path, int(index))] = row

    def key(self, source: str, index: int) -> tuple[str, int]:
        return os.path.relpath(source, self.dev), int(index)


@pytest.fixture(scope="module")
def pref(data_root):
    return ParquetReference(data_root)


@pytest.fixture(scope="module", params=["native", "python"])
def engine(request):
    return request.param


_cache: dict[str, object] = {}


def _pre(pref, engine):
    if engine not in _cache:
        _cache[engine] = preprocess_paths(pref.files, engine=engine)
    return _cache[engine]


def _index(pref, pre):
    return {pref.key(s, i): n for n, (s, i) in enumerate(_indices(pre))}


def _indices(pre):
    """(source, row index) per output row (Preprocessed has no index: rows of a file are in order)."""
    seen: collections.Counter = collections.Counter()
    for s in pre.source:
        yield s, seen[s]
        seen[s] += 1


def _check_row(pref, pre, i, row):
    """Asserts one output row against its reference row; returns the triplet's largest |difference|."""
    assert pre.status[i] == Status.OK, (row["source_file"], row["row_index"], pre.message[i])
    assert pre.candid[i] == int(row["candid"]) and pre.objectId[i] == row["objectId"]
    ref, ours = pref.triplets[row["candid"]], pre.triplets[i]
    for c in range(3):
        if not ref[:, :, c].any():
            assert not ours[:, :, c].any(), f"{row['candid']} channel {c} must be exactly zero"
    np.testing.assert_array_equal(pre.metadata[i], pref.features[row["candid"]], err_msg=f"features of {row['candid']}")
    return float(np.abs(ours - ref).max())


def test_every_reference_row_matches(pref, engine):
    pre = _pre(pref, engine)
    index = _index(pref, pre)
    assert len(pref.rows) == (13 if pref.is_sample else 264)
    worst = 0.0
    for row in pref.rows:
        worst = max(worst, _check_row(pref, pre, index[(row["source_file"], int(row["row_index"]))], row))
    # copies of reference rows in other files (float32 columns widened to double there) match too
    assert len(pref.copies) == (2 if pref.is_sample else 57)
    for key, row in pref.copies.items():
        worst = max(worst, _check_row(pref, pre, index[key], row))
    assert worst <= TRIPLET_ATOL
    assert any(not t[:, :, c].any() for t in pref.triplets.values() for c in range(3))


def test_every_row_accounted_for(pref):
    """One row per table row, in order; ok exactly for reference rows and their copies; the rest are
    error rows with a reason."""
    recs = list(read_alerts(pref.files))
    per_file = collections.defaultdict(list)
    for r in recs:
        per_file[r.source].append(r.index)
    for f in pref.files:
        assert per_file[str(f)] == list(range(pq.ParquetFile(f).metadata.num_rows)), f
    by_key = {pref.key(r.source, r.index): r for r in recs}
    ok = {k for k, r in by_key.items() if r.ok}
    want = {(row["source_file"], int(row["row_index"])) for row in pref.rows} | set(pref.copies)
    assert ok == want
    skipped = {(row["source_file"], int(row["row_index"])): row for row in pref.skipped}
    assert set(by_key) == ok | set(skipped)
    for key, row in skipped.items():
        r = by_key[key]
        assert r.status == Status.UNSUPPORTED_SCHEMA and "not a ZTF alert table" in r.message, r
        assert r.record is None and r.objectId == row["objectId"]
        assert r.candid == (int(row["candid"]) if row["candid"] else None)
    image = [r for r in recs if "image_classification" in r.source]
    assert "no candidate, prv_candidates, cutoutTemplate, cutoutDifference" in image[0].message


def test_engines_agree(pref):
    native, twin = _pre(pref, "native"), _pre(pref, "python")
    np.testing.assert_array_equal(native.status, twin.status)
    assert native.message == twin.message
    np.testing.assert_array_equal(native.candid, twin.candid)
    np.testing.assert_array_equal(native.metadata, twin.metadata)
    assert float(np.abs(native.triplets - twin.triplets).max()) <= TRIPLET_ATOL
    np.testing.assert_array_equal(native.bts, twin.bts)  # the BTS filter's verdicts, every row


def test_scores_match_tensorflow(pref, official_model, engine):
    from btsbot_fast import Scorer

    results = list(Scorer(official_model.onnx_path.parent, engine=engine).score_files(pref.files))
    assert len(results) == sum(pq.ParquetFile(f).metadata.num_rows for f in pref.files)
    by_key = {pref.key(r.source, r.record_index): r for r in results}
    worst = 0.0
    pairs = [((row["source_file"], int(row["row_index"])), row) for row in pref.rows] + list(pref.copies.items())
    for key, row in pairs:
        r = by_key[key]
        assert r.status == "ok" and r.candid == int(row["candid"]), r
        tf_score = float(row["score_tf"])
        worst = max(worst, abs(r.score - tf_score))
        assert (r.score >= 0.5) == (tf_score >= 0.5), (row["candid"], r.score, tf_score)
    assert worst <= SCORE_ATOL
    assert sum(r.status == "unsupported_schema" for r in results) == len(pref.skipped)


def test_types_brought_back_to_avro(pref):
    """superluminous_test_alerts stores float fields as double and prv_candidates ints (candid, nbad,
    nneg, tblid) as double with NaN for null: the records hold what fastavro would give."""
    path = next(f for f in pref.files if "superluminous" in f.name)
    cand_type = pq.read_schema(path).field("candidate").type
    assert str(cand_type.field("magpsf").type) == "double"
    recs = [r for r in records_from_parquet(path) if r.ok]
    assert len(recs) == (4 if pref.is_sample else 74)
    for r in recs:
        assert isinstance(r.candid, int) and r.record["candid"] == r.candid == r.record["candidate"]["candid"]
        cand = r.record["candidate"]
        assert float(np.float32(cand["magpsf"])) == cand["magpsf"]
        for p in r.record["prv_candidates"] or ():
            for name in ("candid", "nbad", "nneg", "tblid", "fid"):
                assert p[name] is None or type(p[name]) is int, (name, p[name])
            assert p["magpsf"] is None or float(np.float32(p["magpsf"])) == p["magpsf"]


def _widened_copy(path, out):
    """alerts.parquet rows re-typed the way pandas/Spark round trips do: float32 -> double (sgscore1 off
    by 1e-12, which float32 rounds back), nbad and prv_candidates' candid -> double with NaN for null,
    and the top-level candid a (rounded) double beside the candidate's int64 one."""
    import pyarrow.compute as pc

    table = pq.read_table(path, columns=["objectId", "candid", "candidate", "prv_candidates",
                                         "cutoutScience", "cutoutTemplate", "cutoutDifference"]).slice(0, 6)
    table = table.combine_chunks()

    def widen(arr, ints):
        fields, children = [], []
        for k, f in enumerate(arr.type):
            child = arr.field(k)
            if pa.types.is_float32(f.type) or f.name in ints:
                child = child.cast(pa.float64(), safe=False)
                if f.name in ints:
                    child = pc.fill_null(child, float("nan"))
                if f.name == "sgscore1":
                    child = pc.add(child, 1e-12)
                f = pa.field(f.name, pa.float64())
            fields.append(f)
            children.append(child)
        return pa.StructArray.from_arrays(children, fields=fields, mask=arr.is_null())

    cand = widen(table.column("candidate").chunk(0), ("nbad",))
    prv = table.column("prv_candidates").chunk(0)
    prv = pa.ListArray.from_arrays(prv.offsets, widen(prv.values, ("candid", "nbad")), mask=prv.is_null())
    table = (table.set_column(1, "candid", table.column("candid").cast(pa.float64(), safe=False))
             .set_column(2, "candidate", cand).set_column(3, "prv_candidates", prv))
    assert pc.any(pc.is_nan(pc.struct_field(prv.flatten(), "candid"))).as_py()
    pq.write_table(table, out)


def test_widened_types_give_the_same_features(pref, tmp_path):
    path = next(f for f in pref.files if f.name == "fink_science_data_alerts_alerts.parquet")
    _widened_copy(path, tmp_path / "w.parquet")
    orig = list(records_from_parquet(path))[:6]
    wide = list(records_from_parquet(tmp_path / "w.parquet"))
    assert [r.candid for r in wide] == [r.candid for r in orig]  # from candidate.candid, not the double
    for a, b in zip(orig, wide):
        assert a.record["candidate"] == b.record["candidate"]
        assert a.record["prv_candidates"] == b.record["prv_candidates"]
    for engine in ("native", "python"):
        x, y = preprocess_records(orig, engine), preprocess_records(wide, engine)
        np.testing.assert_array_equal(x.status, y.status)
        np.testing.assert_array_equal(x.metadata, y.metadata)
        np.testing.assert_array_equal(x.triplets, y.triplets)


def test_corrupt_empty_and_missing_files(pref, tmp_path):
    data = pref.files[0].read_bytes()
    truncated = tmp_path / "t.parquet"
    truncated.write_bytes(data[: len(data) // 2])
    garbage = tmp_path / "g.parquet"
    garbage.write_bytes(b"PAR1" + b"\0" * 100)
    empty = tmp_path / "e.parquet"
    empty.write_bytes(b"")
    recs = list(read_alerts([truncated, garbage, empty, tmp_path / "nope.parquet"]))
    assert [r.source for r in recs] == [str(truncated), str(garbage), str(empty), str(tmp_path / "nope.parquet")]
    assert all(r.status == Status.DECODE_ERROR and r.record is None for r in recs)
    assert "corrupt Parquet file" in recs[0].message and "corrupt Parquet file" in recs[1].message
    assert recs[2].message == "empty file" and "cannot read file" in recs[3].message


def test_corrupt_page_mid_file(pref, tmp_path):
    """Damage inside a column chunk: rows read before it stay; then one DECODE_ERROR row."""
    src = next(f for f in pref.files if f.name == "fink_science_data_alerts_alerts.parquet")
    table = pq.read_table(src)
    path = tmp_path / "multi.parquet"
    pq.write_table(table, path, row_group_size=2, compression="snappy")
    meta = pq.ParquetFile(path).metadata
    col = meta.row_group(3).column(meta.schema.names.index("stampData"))
    data = bytearray(path.read_bytes())
    start = col.data_page_offset
    data[start + 20: start + 400] = b"\xff" * 380
    path.write_bytes(bytes(data))
    recs = list(records_from_parquet(path))
    assert recs[-1].status == Status.DECODE_ERROR and "corrupt Parquet data" in recs[-1].message
    assert all(r.ok for r in recs[:-1]) and [r.index for r in recs] == list(range(len(recs)))


def test_without_pyarrow_each_parquet_file_gets_a_row_saying_how_to_install(pref, monkeypatch):
    """The plain install does not read Parquet (the [parquet] extra): one decode_error row per file, naming
    the extra, so a mixed directory is still scored."""
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    recs = list(read_alerts([pref.files[0]]))
    assert len(recs) == 1 and recs[0].status == Status.DECODE_ERROR
    assert 'pip install "btsbot-fast[parquet]"' in recs[0].message


def test_directory_walk(pref, reference):
    """Walks pick up Parquet tables with alert columns and pass over catalogues and light-curve tables;
    iter_buffers (Avro buffers only) never yields a Parquet file."""
    sources = {r.source for r in read_alerts([pref.dev])}
    names = {os.path.basename(s) for s in sources}
    assert names == {f.name for f in pref.files if "agn_example" not in f.name}
    assert not [s for s, _ in iter_buffers([pref.dev, *pref.files])]
    # the dev Avro tree holds only non-alert Parquet tables: its walk is unchanged
    assert not [s for s in {r.source for r in read_alerts([reference.dev])} if s.endswith(".parquet")]


def test_cli_scores_parquet_to_csv(pref, official_model):
    from click.testing import CliRunner

    from btsbot_fast.cli import main

    path = next(f for f in pref.files if "datatest_part-00002" in f.name)
    env = {"BTSBOT_FAST_HOME": str(official_model.onnx_path.parent.parent)}
    res = CliRunner().invoke(main, ["score", str(path), "--batch-size", "16"], env=env)
    assert res.exit_code == 0, res.output
    rows = list(csv.DictReader(io.StringIO(res.stdout)))
    want = {int(r["row_index"]): r for r in pref.rows if r["source_file"].endswith(path.name)}
    assert len(rows) == len(want) == pq.ParquetFile(path).metadata.num_rows
    for r in rows:
        ref = want[int(r["record_index"])]
        assert r["status"] == "ok" and r["source"] == str(path)
        assert int(r["candid"]) == int(ref["candid"])  # int64 intact (> 2**53)
        assert abs(float(r["score"]) - float(ref["score_tf"])) <= SCORE_ATOL
    assert max(int(r["candid"]) for r in rows) > 2**53
