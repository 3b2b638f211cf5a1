"""The BTS candidate filter (btsbot_fast/prep/bts.py, csrc/bts_filter.cpp): exactly the published filter.

The reference run of the published code (``<data root>/ztf/reference/dev_bts_filter.csv``: every dev
record, or the 26-row cut in tests/data) gives the verdict and each criterion per record; both engines
must reproduce it. Edge cases at each criterion's boundary run through both engines (the native core on
the columns the readers hand it, and the Python twin on the record dicts) and must agree with each other
and with the spec (../shared/spec/bts-filter.md).
"""

from __future__ import annotations

import copy
import csv
import io
import sys
from pathlib import Path

import numpy as np
import pytest

from btsbot_fast import _core
from btsbot_fast.io.records import AlertRecord
from btsbot_fast.prep import bts, buffer_batches, path_batches
from btsbot_fast.prep.batch import empty_arrays
from btsbot_fast.prep.gather import columns_from_records
from btsbot_fast.status import Status

sys.path.insert(0, str(Path(__file__).parent))
import avro_synth as S  # noqa: E402

# ------------------------------------------------------------------------------------------------
# the reference run


def reference_rows(data_root: Path) -> dict[tuple[str, int], dict]:
    with open(data_root / "ztf" / "reference" / "dev_bts_filter.csv", newline="") as fh:
        return {(r["file"], int(r["record_index"])): r for r in csv.DictReader(fh)}


@pytest.fixture(scope="module")
def verdicts(data_root):
    """Per engine: (file relative to ztf/dev, record index) -> (status, verdict code)."""
    ref = reference_rows(data_root)
    dev = data_root / "ztf" / "dev"
    files = sorted({dev / f for f, _ in ref})
    out = {}
    for engine in ("native", "python"):
        got = {}
        for b in path_batches(files, 64, engine):
            for rec, st, code in zip(b.records, b.status.tolist(), b.bts.tolist()):
                got[(str(Path(rec.source).relative_to(dev)), rec.index)] = (st, code)
        out[engine] = got
    return ref, out


@pytest.mark.parametrize("engine", ["native", "python"])
def test_reference_verdicts_and_criteria(verdicts, engine):
    ref, got = verdicts
    assert set(got[engine]) == set(ref)
    evaluated = 0
    for key, row in ref.items():
        status, code = got[engine][key]
        candidate, reject = bts.describe(code)
        if row["error"]:
            continue
        evaluated += 1
        assert candidate is (row["bts_candidate"] == "True"), (key, reject)
        assert bts.criteria_values(reject) == {c: row[c] == "True" for c in bts.CRITERIA}, (key, reject)
    assert evaluated == sum(not r["error"] for r in ref.values()) > 0


@pytest.mark.parametrize("engine", ["native", "python"])
def test_where_the_published_code_raised_the_verdict_is_unknown(verdicts, engine):
    ref, got = verdicts
    for key, row in ref.items():
        if not row["error"]:
            continue
        status, code = got[engine][key]
        candidate, reject = bts.describe(code)
        assert candidate is None and reject.startswith("missing:"), (key, reject)
        field = row["error"].split("'")[1]  # "KeyError: 'drb'"
        if status == Status.UNSUPPORTED_SCHEMA:  # not a ZTF alert (ZUDS): the record is not read at all
            assert reject == "missing:candidate", (key, reject)
        else:
            assert reject.removeprefix("missing:").split(".")[-1] == field, (key, reject, row["error"])


def test_engines_agree_on_every_row(verdicts):
    _, got = verdicts
    assert got["native"] == got["python"]


# ------------------------------------------------------------------------------------------------
# edge cases, through both engines

JD = 2459500.5


def base_record() -> dict:
    """An alert that passes every criterion (a BTS candidate), near the north Galactic pole."""
    cand = {
        "magpsf": 18.0, "jd": JD, "jdstarthist": JD - 10.0, "fid": 1, "isdiffpos": "t", "rb": 0.9, "drb": 0.99,
        "sgscore1": 0.1, "sgscore2": 0.1, "sgscore3": 0.1, "srmag1": 20.0, "srmag2": 20.0, "srmag3": 20.0,
        "sgmag1": 20.5, "simag1": 19.8, "szmag1": 19.5, "distpsnr1": 5.0, "distpsnr2": 8.0, "distpsnr3": 10.0,
        "magnr": -999.0, "distnr": -999.0, "neargaia": 10.0, "maggaia": 19.0, "neargaiabright": -999.0,
        "maggaiabright": -999.0, "ssdistnr": -999.0, "ssmagnr": -999.0, "ra": 192.85948, "dec": 27.12825,
    }
    prv = [prv_item(JD - 1.0, 18.5)]
    return {"candidate": cand, "prv_candidates": prv}


def prv_item(jd, magpsf, isdiffpos="t", fid=1) -> dict:
    return {"jd": jd, "magpsf": magpsf, "isdiffpos": isdiffpos, "fid": fid}


def native_codes(records: list[dict]) -> list[int]:
    """The native core's verdicts on the columns gather hands it (stamps absent: the status fails, the
    verdict does not need them)."""
    recs = [AlertRecord("<edge>", i, None, None, r) for i, r in enumerate(records)]
    cols = columns_from_records(recs)
    trip, meta, _, _, codes = empty_arrays(len(records))
    _core.preprocess(*cols.core_args(), trip, meta, codes, 1)
    return codes.tolist()


def verdict_of(record: dict) -> str:
    """bts_reject (or "pass") by both engines, which must agree."""
    native, twin = native_codes([record])[0], bts.verdict(record)
    assert native == twin, (bts.describe(native), bts.describe(twin))
    candidate, reject = bts.describe(native)
    assert (candidate is True) == (reject == "")
    return reject or "pass"


def with_cand(**over) -> dict:
    rec = base_record()
    rec["candidate"].update(over)
    return rec


def with_prv(*items) -> dict:
    rec = base_record()
    rec["prv_candidates"] = list(items)
    return rec


def galactic_to_icrs(l_deg: float, b_deg: float) -> tuple[float, float]:
    import astropy.units as u
    from astropy.coordinates import SkyCoord

    c = SkyCoord(l=l_deg * u.deg, b=b_deg * u.deg, frame="galactic").icrs
    return float(c.ra.deg), float(c.dec.deg)


@pytest.mark.parametrize("record, expected", [
    (base_record(), "pass"),
    # bright: magpsf < 19.0 (strict), or a positive previous detection within +-0.75 d brighter than 19
    (with_cand(magpsf=19.0), "bright"),
    (with_cand(magpsf=18.999), "pass"),
    (with_prv(prv_item(JD - 0.5, 18.9), prv_item(JD - 1.0, 19.5)), "pass"),
    (with_cand(magpsf=19.5), "bright"),
    (dict(with_cand(magpsf=19.5), prv_candidates=[prv_item(JD - 0.5, 18.9)]), "pass"),
    (dict(with_cand(magpsf=19.5), prv_candidates=[prv_item(JD + 0.5, 18.9), prv_item(JD - 1, 19.5)]), "pass"),
    (dict(with_cand(magpsf=19.5), prv_candidates=[prv_item(JD - 0.75, 18.9)]), "bright"),
    (dict(with_cand(magpsf=19.5), prv_candidates=[prv_item(JD - 0.5, 19.0)]), "bright"),
    (dict(with_cand(magpsf=19.5), prv_candidates=[prv_item(JD - 0.5, 18.9, "f")]), "bright,stationary"),
    # stationary: a positive previous detection more than 0.02 d earlier, magpsf < 99
    (with_prv(prv_item(JD - 0.0201, 18.5)), "pass"),
    (with_prv(prv_item(JD - 0.0199, 18.5)), "stationary"),
    (with_prv(prv_item(JD - 1.0, 99.0)), "stationary"),
    (with_prv(), "stationary"),
    (dict(base_record(), prv_candidates=None), "stationary"),
    # non-detections and negative or null isdiffpos are no positive detections
    (with_prv(prv_item(JD - 1.0, None, None)), "stationary"),
    (with_prv(prv_item(JD - 1.0, None, "t")), "stationary"),
    (with_prv(prv_item(JD - 1.0, 18.5, None)), "stationary"),
    (with_prv(prv_item(JD - 1.0, 18.5, "0")), "stationary"),
    (with_prv(prv_item(JD - 1.0, 18.5, "1")), "pass"),
    (with_prv(None, prv_item(JD - 1.0, None, None), prv_item(JD - 2.0, 18.5)), "pass"),
    # positivesubtraction
    (with_cand(isdiffpos="f"), "positivesubtraction"),
    (with_cand(isdiffpos="1"), "pass"),
    (with_cand(isdiffpos="0"), "positivesubtraction"),
    # pointunderneath (a reject flag): sgscore1 > 0.76 and distpsnr1 < 2, or a red PS1 source close by
    (with_cand(sgscore1=0.77, distpsnr1=1.99), "pointunderneath"),
    (with_cand(sgscore1=0.76, distpsnr1=1.99), "pass"),
    (with_cand(sgscore1=0.77, distpsnr1=2.0), "pass"),
    (with_cand(sgscore1=0.3, distpsnr1=0.9, srmag1=20.0, szmag1=16.9), "pointunderneath"),
    (with_cand(sgscore1=0.3, distpsnr1=0.9, srmag1=20.0, szmag1=17.0), "pass"),
    (with_cand(sgscore1=0.3, distpsnr1=0.9, srmag1=20.0, simag1=16.9), "pointunderneath"),
    # negative distances (no match) count as 99
    (with_cand(sgscore1=0.99, distpsnr1=-999.0), "pass"),
    (with_cand(sgscore1=0.99, distpsnr1=-999.0, srmag1=12.0), "pass"),
    (with_cand(sgscore1=0.99, distpsnr1=15.0, srmag1=12.0), "brightstar"),
    (with_cand(sgscore2=0.95, distpsnr2=-1.0, srmag2=12.0), "pass"),
    (with_cand(sgscore2=0.95, distpsnr2=19.9, srmag2=12.0), "brightstar"),
    (with_cand(sgscore3=0.95, distpsnr3=19.9, srmag3=13.9), "brightstar"),
    (with_cand(sgscore3=0.95, distpsnr3=19.9, srmag3=14.0), "pass"),
    (with_cand(sgscore3=0.9, distpsnr3=19.9, srmag3=13.0), "pass"),
    # brightstar via Gaia and PS1 i/z
    (with_cand(neargaiabright=19.9, maggaiabright=11.9), "brightstar"),
    (with_cand(neargaiabright=19.9, maggaiabright=12.0), "pass"),
    (with_cand(neargaiabright=20.0, maggaiabright=11.0), "pass"),
    (with_cand(sgscore1=0.95, distpsnr1=9.9, szmag1=13.9), "brightstar"),
    (with_cand(sgscore1=0.95, distpsnr1=10.0, szmag1=13.9), "pass"),
    (with_cand(sgscore1=0.95, distpsnr1=19.9, simag1=13.9), "brightstar"),
    # real: rb > 0.2 (strict), drb < 0.1 rejects (strict), the star-near rescues
    (with_cand(rb=0.2), "real"),
    (with_cand(rb=0.2001), "pass"),
    (with_cand(drb=0.0999), "real"),
    (with_cand(drb=0.1), "pass"),
    (with_cand(rb=0.34, neargaia=0.9, maggaia=16.9), "real"),
    (with_cand(rb=0.44, neargaia=1.4, maggaia=15.4), "real"),
    (with_cand(rb=0.45, neargaia=1.4, maggaia=15.4), "pass"),
    (with_cand(drb=0.49, jdstarthist=JD - 91, distpsnr1=2.9, srmag1=15.9), "real"),
    (with_cand(drb=0.49, jdstarthist=JD - 90, distpsnr1=2.9, srmag1=15.9), "pass"),
    # rock: 0 <= ssdistnr < 12 and ssmagnr < 20
    (with_cand(ssdistnr=0.0, ssmagnr=19.9), "rock"),
    (with_cand(ssdistnr=11.9, ssmagnr=20.0), "pass"),
    (with_cand(ssdistnr=12.0, ssmagnr=15.0), "pass"),
    # variablesource
    (with_cand(neargaia=0.34, maggaia=16.9, jdstarthist=JD - 30.5), "variablesource"),
    (with_cand(neargaia=0.34, maggaia=16.9, jdstarthist=JD - 30.0), "pass"),
    (with_cand(neargaia=0.19, maggaia=17.9, jdstarthist=JD - 91), "variablesource"),
    (with_cand(sgscore1=0.3, distpsnr1=2.9, srmag1=15.9, jdstarthist=JD - 91), "variablesource"),
    # ps1maxmag starts from srmag1: a missing r magnitude (-999) stays, and is 99 (the published code's)
    (with_cand(sgscore1=0.3, distpsnr1=2.9, srmag1=-999.0, simag1=12.0, jdstarthist=JD - 91), "pass"),
    (with_cand(sgscore1=0.5, distpsnr1=0.4, srmag1=16.9, jdstarthist=JD - 91), "variablesource"),
    (with_cand(magnr=16.0, distnr=0.4, magpsf=18.6, jdstarthist=JD - 91), "variablesource"),
    (with_cand(magnr=16.0, distnr=0.4, magpsf=18.0, jdstarthist=JD - 91), "pass"),  # at its peak (18.5 before)
    (with_cand(magnr=16.0, distnr=-999.0, magpsf=18.0, jdstarthist=JD - 91), "pass"),
    # 1: a known source underneath, detected before in the same band, not at its peak now
    (dict(with_cand(magpsf=18.9, magnr=19.0, distnr=0.3, jdstarthist=JD - 100),
          prv_candidates=[prv_item(JD - 1, 18.6), prv_item(JD - 2, 18.7)]), "variablesource"),
    (dict(with_cand(magpsf=18.9, magnr=19.0, distnr=0.3, jdstarthist=JD - 100),
          prv_candidates=[prv_item(JD - 1, 18.6, fid=2), prv_item(JD - 2, 18.7, fid=2)]), "pass"),
    (dict(with_cand(magpsf=18.9, magnr=19.0, distnr=0.3, jdstarthist=JD - 100),
          prv_candidates=[prv_item(JD - 1, 18.6)]), "pass"),
    (dict(with_cand(magpsf=18.9, magnr=19.0, distnr=0.3, jdstarthist=JD - 400),
          prv_candidates=[prv_item(JD - 1, 18.6)]), "variablesource"),
])
def test_criterion_boundaries(record, expected):
    assert verdict_of(record) == expected


@pytest.mark.parametrize("b, rejected", [(7.001, False), (6.999, True), (0.0, True), (-6.999, True),
                                         (-7.001, False), (-30.0, False)])
def test_galactic_latitude_cut(b, rejected):
    ra, dec = galactic_to_icrs(123.4, b)
    assert verdict_of(with_cand(ra=ra, dec=dec)) == ("latitude" if rejected else "pass")


def test_native_galactic_latitude_matches_astropy():
    import astropy.units as u
    from astropy.coordinates import SkyCoord

    rng = np.random.default_rng(7)
    ra, dec = rng.uniform(0, 360, 2000), np.degrees(np.arcsin(rng.uniform(-1, 1, 2000)))
    want = SkyCoord(ra=ra * u.deg, dec=dec * u.deg, frame="icrs").galactic.b.deg
    got = np.array([_core._testing.galactic_latitude(r, d) for r, d in zip(ra, dec)])
    assert np.abs(got - want).max() < 1e-8  # degrees: far inside what the +-7 deg cut needs
    assert np.isnan(_core._testing.galactic_latitude(10.0, 95.0))
    assert np.isnan(_core._testing.galactic_latitude(float("nan"), 10.0))


@pytest.mark.parametrize("record, expected", [
    (with_cand(drb=None), "missing:drb"),
    (with_cand(neargaia=None, drb=None), "missing:neargaia"),
    (with_cand(magpsf=None, sgscore1=None), "missing:magpsf"),
    ({"candidate": None, "prv_candidates": None}, "missing:candidate"),
    ({}, "missing:candidate"),
    (with_prv({"jd": JD - 1, "magpsf": 18.5, "fid": 1}), "missing:prv_candidates.isdiffpos"),
    (with_prv({"jd": JD - 1, "isdiffpos": None, "fid": 1}), "missing:prv_candidates.magpsf"),
    (with_prv(prv_item(None, 18.5)), "missing:prv_candidates.jd"),
    (with_prv(prv_item(None, 18.5, "f")), "stationary"),  # only a positive detection's jd is read
])
def test_missing_fields_make_the_verdict_unknown(record, expected):
    if "candidate" in record and isinstance(record["candidate"], dict):
        record = copy.deepcopy(record)
        for k in [k for k, v in record["candidate"].items() if v is None and k in ("neargaia",)]:
            del record["candidate"][k]  # absent from the schema, as in schema 3.1 (no neargaia)
    assert verdict_of(record) == expected


# ------------------------------------------------------------------------------------------------
# through the Avro readers (schema programs), old schemas


def _ocf(schema: dict, records: list[dict]) -> bytes:
    import fastavro

    buf = io.BytesIO()
    fastavro.writer(buf, fastavro.parse_schema(schema), records)
    return buf.getvalue()


def _drop_fields(schema: dict, candidate: tuple[str, ...] = (), prv: tuple[str, ...] = ()) -> dict:
    schema = copy.deepcopy(schema)
    fields = {f["name"]: f for f in schema["fields"]}
    cand = fields["candidate"]["type"]
    cand["fields"] = [f for f in cand["fields"] if f["name"] not in candidate]
    items = fields["prv_candidates"]["type"][1]["items"]
    items["fields"] = [f for f in items["fields"] if f["name"] not in prv]
    return schema


@pytest.mark.parametrize("drop, prv_drop, expected", [
    ((), (), None),
    (("drb",), (), "missing:drb"),
    (("neargaia", "maggaia", "neargaiabright", "maggaiabright"), (), "missing:neargaia"),
    ((), ("isdiffpos",), "missing:prv_candidates.isdiffpos"),
])
def test_avro_schemas_without_fields(drop, prv_drop, expected):
    """Schema versions without drb / neargaia / history isdiffpos: the native reader's schema program and
    the fastavro + twin path give the same verdicts (unknown, naming the field)."""
    schema = _drop_fields(S.alert_schema(), drop, prv_drop)
    recs = []
    for i in range(4):
        a = S.alert(i, n_prv=4)
        for name in drop:
            a["candidate"].pop(name)
        if "drb" not in drop:
            a["candidate"]["drb"] = 0.9
        for p in a["prv_candidates"]:
            for name in prv_drop:
                p.pop(name)
        recs.append(a)
    data = _ocf(schema, recs)
    got = {e: [bts.describe(c) for b in buffer_batches([("x.avro", data)], 64, e) for c in b.bts.tolist()]
           for e in ("native", "python")}
    assert got["native"] == got["python"]
    assert len(got["native"]) == 4
    if expected is None:
        assert all(c is not None for c, _ in got["native"])
    else:
        assert all(r == expected for c, r in got["native"])


def test_score_result_fields(official_model, data_root):
    """ScoreResult carries the verdict right after error; rows without a candidate say missing:candidate."""
    from dataclasses import fields

    from btsbot_fast import Scorer
    from btsbot_fast.scorer import ScoreResult

    names = [f.name for f in fields(ScoreResult)]
    assert names[names.index("error") + 1:names.index("error") + 3] == ["bts_candidate", "bts_reject"]
    scorer = Scorer(official_model.onnx_path.parent, batch_size=8)
    broken = sorted((data_root / "ztf" / "broken").rglob("*.avro"))
    results = list(scorer.score_files(broken))
    assert results
    for r in results:
        if r.jd is None:  # no readable candidate
            assert (r.bts_candidate, r.bts_reject) == (None, "missing:candidate")
        assert isinstance(r.bts_reject, str) and r.bts_candidate in (True, False, None)


def test_native_names_match_python():
    from btsbot_fast.prep.variant import CANDIDATE_COLUMNS

    assert _core.CANDIDATE_COLUMNS == CANDIDATE_COLUMNS
    assert _core.BTS_CRITERIA == bts.CRITERIA
    assert _core.BTS_FIELDS == bts.FIELDS
    assert _core.BTS_UNKNOWN == bts.UNKNOWN


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_score_tables_write_the_verdict(tmp_path, fmt):
    """CSV true/false/empty, JSONL true/false/null, Parquet a nullable boolean, right after `error`."""
    import json

    from btsbot_fast.output import COLUMNS, ResultWriter

    assert COLUMNS[COLUMNS.index("error") + 1:COLUMNS.index("error") + 3] == ("bts_candidate", "bts_reject")
    base = {c: None for c in COLUMNS}
    rows = [dict(base, status="ok", error="", bts_candidate=v, bts_reject=r, model="m", model_version="1",
                 source="s", record_index=i)
            for i, (v, r) in enumerate([(True, ""), (False, "bright,stationary"), (None, "missing:drb")])]
    path = tmp_path / f"out.{fmt}"
    with ResultWriter(path) as w:
        for r in rows:
            w.write(r)
    if fmt == "csv":
        got = [(r["bts_candidate"], r["bts_reject"]) for r in csv.DictReader(open(path, newline=""))]
        assert got == [("true", ""), ("false", "bright,stationary"), ("", "missing:drb")]
    elif fmt == "jsonl":
        got = [json.loads(line) for line in path.read_text().splitlines()]
        assert [(r["bts_candidate"], r["bts_reject"]) for r in got] == [(True, ""), (False, "bright,stationary"),
                                                                        (None, "missing:drb")]
    else:
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pq.read_table(path)
        assert table.schema.field("bts_candidate").type == pa.bool_()
        assert table.column("bts_candidate").to_pylist() == [True, False, None]
        assert table.column("bts_reject").to_pylist() == ["", "bright,stationary", "missing:drb"]
