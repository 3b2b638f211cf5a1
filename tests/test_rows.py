"""The score row is defined once (btsbot_fast.rows): every writer and reader derives from that definition.

Each output is written for real (score files, the stream's sinks and encodings, the Spark worker's record
batches and DataFrame schema) and its columns, order and types compared with the definition; rows read
back by the score-table reader give the ScoreResult written.
"""

from __future__ import annotations

import csv
import io
import json
import typing
from dataclasses import fields

import pytest

from btsbot_fast import Status
from btsbot_fast.rows import (
    CANDIDATE_FIELDS,
    HOOK_FIELDS,
    SCORE_COLUMNS,
    SPARK_ID_COLUMNS,
    SPARK_SCORE_COLUMNS,
    STREAM_COLUMNS,
    ScoreResult,
    names,
    stream_avro_schema,
)

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")

_PYTHON = {"string": str, "long": int, "int": int, "double": float, "float": float, "boolean": bool}


def _results() -> list[ScoreResult]:
    base = dict(model="btsbot-v1.0.1", model_version="1.0.1", source="night.tar.gz:x.avro")
    example = {"string": "ZTF24aaaaaaa", "long": 2_475_433_850_015_015_001, "int": 2, "double": 2460000.123456789,
               "float": 0.5, "boolean": True}
    values = {c.name: example[c.type] for c in SCORE_COLUMNS}
    return [ScoreResult(**dict(values, status="ok", error="", bts_reject="", precision="fp32", record_index=1, **base)),
            ScoreResult.unscored(Status.BAD_CUTOUT, "gzip: broken", record_index=3, candid=7, **base)]


def test_the_dataclass_is_the_definition():
    """Names and order are ScoreResult's fields; the annotations agree with each column's type and
    nullability; the candidate columns are those prep computes (ROW_INFO)."""
    from btsbot_fast.prep.variant import ROW_INFO

    hints = typing.get_type_hints(ScoreResult)
    assert names(SCORE_COLUMNS) == tuple(f.name for f in fields(ScoreResult))
    for c in SCORE_COLUMNS:
        args = set(typing.get_args(hints[c.name])) or {hints[c.name]}
        assert args == ({_PYTHON[c.type], type(None)} if c.nullable else {_PYTHON[c.type]}), c.name
    assert set(CANDIDATE_FIELDS) == set(ROW_INFO)
    assert names(SCORE_COLUMNS)[:2] == ("objectId", "candid")


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_score_files_write_the_definition_and_read_back(tmp_path, fmt):
    from btsbot_fast.autoscan.inputs import read_score_table
    from btsbot_fast.output import ResultWriter

    results = _results()
    path = tmp_path / f"scores.{fmt}"
    with ResultWriter(path) as w:
        for r in results:
            w.write(r.as_dict())
    if fmt == "csv":
        with open(path, newline="") as fh:
            assert tuple(next(csv.reader(fh))) == names(SCORE_COLUMNS)
    elif fmt == "jsonl":
        assert all(tuple(json.loads(line)) == names(SCORE_COLUMNS) for line in path.read_text().splitlines())
    else:
        schema = pq.read_schema(path)
        assert [(f.name, f.type) for f in schema] == [(c.name, c.arrow_type()) for c in SCORE_COLUMNS]
    # (autoscan's reader of a Parquet table reads only the columns it needs)
    cells = pq.read_table(path).to_pylist() if fmt == "parquet" else read_score_table(path, candidates="all")
    assert [ScoreResult.from_cells(r) for r in cells] == results


def test_stream_records_sinks_and_avro_schema_are_the_definition(tmp_path):
    import fastavro

    from btsbot_fast.stream import OUTPUT_FIELDS, output_schema
    from btsbot_fast.stream.rows import encode_avro, encode_json, result_row
    from btsbot_fast.stream.sinks import open_file_sink

    assert OUTPUT_FIELDS == names(STREAM_COLUMNS)
    assert [f["name"] for f in stream_avro_schema()["fields"]] == list(OUTPUT_FIELDS)
    for f, c in zip(stream_avro_schema()["fields"], STREAM_COLUMNS):
        assert f["type"] == (["null", c.type] if c.nullable else c.type)
    # the stream's record says where the message came from instead of `source`
    assert "source" not in OUTPUT_FIELDS and {"topic", "partition", "offset", "scored_at"} <= set(OUTPUT_FIELDS)
    rows = [result_row(r, "ztf_x", 1, 40 + i, "2024-05-01T03:04:05.678Z") for i, r in enumerate(_results())]
    assert all(tuple(sorted(r)) == tuple(sorted(HOOK_FIELDS)) for r in rows)
    assert [tuple(json.loads(encode_json(r))) for r in rows] == [OUTPUT_FIELDS] * 2
    for r in rows:
        (record,) = fastavro.reader(io.BytesIO(encode_avro(r)), reader_schema=output_schema())
        assert tuple(record) == OUTPUT_FIELDS and record["offset"] == r["offset"]
    for name in ("scores.csv", "scores.jsonl", "scores.parquet"):
        sink = open_file_sink(tmp_path / name)
        sink.write(rows)
        sink.close()
    with open(tmp_path / "scores.csv", newline="") as fh:
        assert tuple(next(csv.reader(fh))) == OUTPUT_FIELDS
    table = pq.read_table(tmp_path / "scores.parquet")
    assert [(f.name, f.type) for f in table.schema] == [(c.name, c.arrow_type()) for c in STREAM_COLUMNS]


def test_spark_columns_are_the_definition():
    pytest.importorskip("pyspark")
    from pyspark.sql.types import StringType, StructField, StructType

    from btsbot_fast.spark import OUTPUT_COLUMNS, output_schema
    from btsbot_fast.spark.worker import RESULT_ID_COLUMNS

    assert OUTPUT_COLUMNS == tuple("btsbot_" + c.name for c in SCORE_COLUMNS if c.role == "result")
    assert RESULT_ID_COLUMNS == names(SPARK_ID_COLUMNS)
    schema = output_schema(StructType([StructField("keep_me", StringType())]), ["keep_me"], result_ids=True)
    assert schema.fieldNames() == ["keep_me", *RESULT_ID_COLUMNS, *OUTPUT_COLUMNS]
    columns = (*SPARK_ID_COLUMNS, *SPARK_SCORE_COLUMNS)
    assert [f.dataType for f in schema.fields[1:]] == [c.spark_type() for c in columns]


def test_spark_worker_batches_are_the_definition(official_model, data_root):
    """The worker's Arrow record batch (outside Spark) has the DataFrame schema's columns and types, and
    the values of the scorer's results."""
    from btsbot_fast import Scorer
    from btsbot_fast.spark.worker import RESULT_ID_COLUMNS, with_score_columns

    files = sorted((data_root / "parquet" / "dev" / "fink-science").glob("*.parquet"))
    table = next((t for t in (pq.read_table(p) for p in files) if "candidate" in t.column_names), None)
    if table is None:
        pytest.skip("no Parquet alert table in the data")
    batch = table.slice(0, 5).to_batches()[0]
    scorer = Scorer(official_model.onnx_path.parent, batch_size=8)
    out = with_score_columns(batch, scorer, keep=[], result_ids=True)
    columns = (*SPARK_ID_COLUMNS, *SPARK_SCORE_COLUMNS)
    assert [(f.name, f.type) for f in out.schema] == [(c.name, c.arrow_type(widened=True)) for c in columns]
    from btsbot_fast.spark.worker import score_record_batch

    results = score_record_batch(batch, scorer)
    for name in RESULT_ID_COLUMNS:
        assert out.column(name).to_pylist() == pytest.approx([getattr(r, name) for r in results]), name
    assert out.column("btsbot_status").to_pylist() == [r.status for r in results]


@pytest.mark.parametrize("engine", ["native", "python"])
def test_ra_dec_are_the_candidates(official_model, data_root, engine):
    """ra and dec of every row are the candidate's, as fastavro decodes the packet (None without one)."""
    import fastavro

    from btsbot_fast import Scorer

    files = sorted((data_root / "ztf").rglob("*.avro"))[:40]
    assert files
    scorer = Scorer(official_model.onnx_path.parent, batch_size=16, engine=engine)
    checked = 0
    for r in scorer.score_files(files):
        try:
            with open(r.source, "rb") as fh:
                record = list(fastavro.reader(fh))[r.record_index]
        except Exception:  # a damaged file: no candidate was read
            assert r.ra is None and r.dec is None
            continue
        if r.status == "unsupported_schema":  # not a ZTF alert (e.g. ZUDS): its candidate is never read
            assert r.ra is None and r.dec is None
            continue
        cand = record.get("candidate") or {}
        assert (r.ra, r.dec) == (cand.get("ra"), cand.get("dec")), r.source
        checked += r.ra is not None
    assert checked >= 10


def test_ra_dec_from_arrow_tables(official_model, data_root):
    """The Parquet/Arrow path (Spark's too) reads the same ra/dec as the table holds."""
    from btsbot_fast import Scorer

    files = sorted((data_root / "parquet" / "dev" / "fink-science").glob("*.parquet"))
    path = next((p for p in files if "candidate" in pq.read_schema(p).names), None)
    if path is None:
        pytest.skip("no Parquet alert table in the data")
    scorer = Scorer(official_model.onnx_path.parent, batch_size=16)
    results = list(scorer.score_files([path]))
    cands = pq.read_table(path, columns=["candidate"]).column("candidate").to_pylist()
    assert [(r.ra, r.dec) for r in results] == [(c["ra"], c["dec"]) if c else (None, None) for c in cands]
    assert any(r.ra is not None for r in results)
