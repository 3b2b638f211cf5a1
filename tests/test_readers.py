"""Readers: every record of every dev file is accounted for, in the manifest's terms."""

from __future__ import annotations

import collections
import gzip
import io
import tarfile

import fastavro
import pytest

from btsbot_fast.io import read_alerts, records_from_buffer
from btsbot_fast.status import Status


@pytest.fixture(scope="module")
def dev_records(reference):
    return list(read_alerts([reference.dev, reference.broken]))


def test_one_row_per_manifest_record(reference, dev_records):
    ours = collections.Counter(reference.relpath(r.source) for r in dev_records)
    theirs = collections.Counter(row["path"] for row in reference.manifest)
    assert ours == theirs


def test_candids_are_int64_and_match_manifest(reference, dev_records):
    by_key = {(reference.relpath(r.source), r.index): r for r in dev_records}
    checked = 0
    for row in reference.manifest:
        if row["record_index"] == "" or row["candid"] == "":
            continue
        rec = by_key[(row["path"], int(row["record_index"]))]
        assert rec.candid == int(row["candid"])
        assert rec.objectId == (row["objectId"] or None)
        checked += 1
    assert checked > 0.85 * len(reference.manifest)


def test_corrupt_files_give_one_error_row_each(reference, dev_records):
    corrupt = {row["path"] for row in reference.manifest if row["note"].startswith(("corrupt", "not real"))}
    rows = [r for r in dev_records if reference.relpath(r.source) in corrupt]
    assert corrupt and len(rows) == len(corrupt)
    for r in rows:
        assert r.status == Status.DECODE_ERROR and "corrupt Avro data" in r.message


def test_zuds_is_unsupported_schema(reference, dev_records):
    zuds = [r for r in dev_records if "zuds" in r.source]
    assert zuds and len(zuds) == sum(row["schema_name"] == "zuds.alert" for row in reference.manifest)
    assert all(r.status == Status.UNSUPPORTED_SCHEMA and "zuds.alert" in r.message for r in zuds)


def test_codecs_and_schema_variants_present(reference):
    seen = collections.Counter((row["schema_name"], row["codec"]) for row in reference.manifest
                               if row["in_reference"] == "yes")
    assert ("topLevelRecord", "snappy") in seen  # Spark/Fink multi-record, snappy blocks
    assert ("ztf.alert", "null") in seen


def _alert_bytes(reference, codec="null"):
    path = next(p for p in sorted(reference.dev.rglob("*.avro")) if "kowalski" in str(p))
    with open(path, "rb") as fh:
        reader = fastavro.reader(fh)
        schema, records = reader.writer_schema, list(reader)
    buf = io.BytesIO()
    fastavro.writer(buf, schema, records * 3, codec=codec)
    return buf.getvalue(), records[0]["candid"]


@pytest.mark.parametrize("codec", ["null", "deflate", "snappy"])
def test_codecs_multi_record(reference, codec):
    data, candid = _alert_bytes(reference, codec)
    recs = list(records_from_buffer("x.avro", data))
    assert [r.index for r in recs] == [0, 1, 2]
    assert all(r.ok and r.candid == candid for r in recs)


def test_tar_gz_archive_streamed_with_directory_walk(reference, tmp_path):
    data, candid = _alert_bytes(reference)
    night = tmp_path / "nights" / "ztf_public_20990101.tar.gz"
    night.parent.mkdir()
    with tarfile.open(night, "w:gz") as tar:
        for name, payload in [("a/1.avro", data), ("b/readme.txt", b"hello"), ("2.avro", b"garbage")]:
            info = tarfile.TarInfo(name)
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))
    recs = list(read_alerts([tmp_path]))
    assert [r.source.split("::")[1] for r in recs] == ["a/1.avro"] * 3 + ["2.avro"]
    assert all(r.ok for r in recs[:3]) and recs[3].status == Status.DECODE_ERROR
    assert "bad magic" in recs[3].message


def test_truncated_and_corrupt_archives(reference, tmp_path):
    data, _ = _alert_bytes(reference)
    bad = tmp_path / "bad.tar.gz"
    bad.write_bytes(gzip.compress(b"not a tar at all" * 100)[:50])
    truncated = tmp_path / "t.avro"
    truncated.write_bytes(data[: len(data) // 2])
    recs = list(read_alerts([bad, truncated]))
    assert recs[0].status == Status.DECODE_ERROR and str(bad) == recs[0].source
    assert "corrupt archive" in recs[0].message
    # complete, sync-verified blocks before the cut still count; then exactly one error row
    assert all(r.ok for r in recs[1:-1])
    assert recs[-1].status == Status.DECODE_ERROR and recs[-1].source == str(truncated)
    assert "corrupt Avro data after" in recs[-1].message


def test_empty_and_missing_files(tmp_path):
    empty = tmp_path / "empty.avro"
    empty.write_bytes(b"")
    recs = list(read_alerts([empty, tmp_path / "nope.avro"]))
    assert [r.status for r in recs] == [Status.DECODE_ERROR] * 2
    assert recs[0].message == "empty file" and "cannot read file" in recs[1].message
