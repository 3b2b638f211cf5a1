"""One rule for missing data (btsbot_fast/prep/variant.py), applied the same way by every engine and reader.

Each case puts null, NaN, +inf or -inf into one feature input (every candidate column the features read,
and the jd/magpsf of a history item), or a null history item, and reads the alert four ways:
the native Avro reader (C++ decoding), fastavro + the native core, fastavro + the NumPy twin, and the
Arrow columnar route (the Parquet/Spark path). Statuses, messages and features (NaN-aware) must be
equal, and so must the scores and statuses the model gives each engine's batch.
"""

from __future__ import annotations

import copy
import math

import avro_synth as S  # tests/ is on sys.path under pytest
import numpy as np
import pytest

from btsbot_fast.io import records_from_buffer
from btsbot_fast.prep import batches
from btsbot_fast.prep.native_avro import buffer_batches
from btsbot_fast.prep.variant import CANDIDATE_COLUMNS, FEATURE_NAMES, INFO_ONLY_COLUMNS
from btsbot_fast.status import Status

pa = pytest.importorskip("pyarrow")
pytest.importorskip("astropy")

VALUES = {"null": None, "nan": math.nan, "+inf": math.inf, "-inf": -math.inf}
FEATURE_INPUTS = [c for c in CANDIDATE_COLUMNS if c not in INFO_ONLY_COLUMNS]
#: columns the ZTF schema declares int/long: null is their only non-number (an Avro int cannot be NaN)
INTEGER_COLUMNS = {"ndethist", "nmtchps", "ncovhist", "fid"}


def nullable_schema() -> dict:
    """The synthetic alert schema with every feature input and history jd/magpsf a nullable double, and
    nullable history items."""
    schema = S.alert_schema()
    fields = {f["name"]: f for f in schema["fields"]}
    for f in fields["candidate"]["type"]["fields"]:
        if f["name"] in CANDIDATE_COLUMNS and f["name"] != "isdiffpos":  # (a string)
            f["type"] = ["null", "long" if f["name"] in INTEGER_COLUMNS else "double"]
    array = fields["prv_candidates"]["type"][1]
    for f in array["items"]["fields"]:
        if f["name"] in ("jd", "magpsf"):
            f["type"] = ["null", "double"]
    array["items"] = ["null", array["items"]]  # an item may itself be null
    return schema


SCHEMA = nullable_schema()
BASE = S.alert(1, n_prv=4)  # prv item 0 is a detection, item 1 one too, item 2 is not


def _cases() -> dict[str, dict]:
    cases = {"plain": BASE}
    for col in FEATURE_INPUTS:
        for label, value in VALUES.items():
            if col in INTEGER_COLUMNS and value is not None:
                continue
            rec = copy.deepcopy(BASE)
            rec["candidate"][col] = value
            cases[f"candidate.{col}={label}"] = rec
    for field in ("jd", "magpsf"):
        for label, value in VALUES.items():
            for item in (0, 2):  # a detection, and a non-detection whose magpsf may become a value
                rec = copy.deepcopy(BASE)
                rec["prv_candidates"][item][field] = value
                cases[f"prv[{item}].{field}={label}"] = rec
    rec = copy.deepcopy(BASE)
    rec["prv_candidates"][0] = None
    cases["prv[0]=null item"] = rec
    rec = copy.deepcopy(BASE)
    rec["candidate"]["drb"] = None
    rec["candidate"]["rb"] = math.nan
    cases["drb=null, rb=nan"] = rec
    return cases


CASES = _cases()
NAMES = list(CASES)


@pytest.fixture(scope="module")
def engines():
    """name -> Batch of every case, in NAMES order, for each of the four ways of reading an alert."""
    bufs = [(name, S.container(SCHEMA, [CASES[name]])) for name in NAMES]
    records = [r for s, d in bufs for r in records_from_buffer(s, d)]
    assert all(r.ok for r in records)

    def one(bs):
        bs = list(bs)
        assert len(bs) == 1
        return bs[0]

    table = pa.Table.from_pylist([r.record for r in records])
    from btsbot_fast.prep.arrow import preprocess_arrow

    return {
        "native-avro": one(buffer_batches(bufs, len(bufs), 2)),
        "fastavro+core": one(batches(records, len(records), "native", 2)),
        "fastavro+twin": one(batches(records, len(records), "python")),
        "arrow": preprocess_arrow(table, 2),
    }


def test_engines_agree_on_status_message_and_features(engines):
    ref = engines["fastavro+twin"]
    for name, batch in engines.items():
        assert len(batch) == len(NAMES)
        for i, case in enumerate(NAMES):
            assert int(batch.status[i]) == int(ref.status[i]), (name, case, batch.messages[i], ref.messages[i])
            assert batch.messages[i] == ref.messages[i], (name, case)
            np.testing.assert_array_equal(batch.metadata[i], ref.metadata[i], err_msg=f"{name}: {case}")
        np.testing.assert_array_equal(batch.triplets, ref.triplets) if name != "fastavro+twin" else None
        np.testing.assert_array_equal(batch.info, ref.info, err_msg=name)


def test_the_rule(engines):
    """What the rule says, case by case (variant.py): null is missing, NaN and inf are values."""
    batch = engines["native-avro"]
    got = {case: (Status(int(batch.status[i])), batch.messages[i], batch.metadata[i]) for i, case in enumerate(NAMES)}
    plain = got["plain"][2]
    assert got["plain"][0] == Status.OK
    for col in FEATURE_INPUTS:
        st, msg, feats = got[f"candidate.{col}=null"]
        if col in ("drb", "rb"):
            assert st == Status.OK  # drb falls back to rb; rb is only read when drb is null
        else:
            assert (st, msg) == (Status.MISSING_FIELD, f"missing field: candidate.{col}")
        for label in ("nan", "+inf", "-inf"):
            if col in INTEGER_COLUMNS:
                continue
            st, msg, feats = got[f"candidate.{col}={label}"]
            assert st == Status.OK, (col, label, msg)  # a value, not a missing field
            if col in FEATURE_NAMES:
                k = FEATURE_NAMES.index(col)
                value = VALUES[label]
                assert (np.isnan(feats[k]) if math.isnan(value) else feats[k] == value), (col, label)
    # history: a null magpsf is a non-detection (no change); NaN magpsf is a detection that never wins a
    # comparison; a detection's null jd is missing; NaN jd never lowers first_alert_jd
    assert np.array_equal(got["prv[0].magpsf=null"][2], _without_item(0), equal_nan=True)
    assert np.array_equal(got["prv[0]=null item"][2], _without_item(0), equal_nan=True)
    assert got["prv[0].jd=null"][:2] == (Status.MISSING_FIELD, "missing field: prv_candidates.jd (entry 0)")
    assert got["prv[2].jd=null"][0] == Status.OK  # item 2 is not a detection: its jd is never read
    assert got["prv[2].magpsf=nan"][0] == Status.OK
    age = FEATURE_NAMES.index("age")
    assert got["prv[0].jd=nan"][2][age] <= plain[age] or np.isnan(got["prv[0].jd=nan"][2][age])
    assert got["drb=null, rb=nan"][0] == Status.OK and np.isnan(got["drb=null, rb=nan"][2][FEATURE_NAMES.index("drb")])


def _without_item(k: int) -> np.ndarray:
    from btsbot_fast.prep import reference

    rec = copy.deepcopy(BASE)
    del rec["prv_candidates"][k]
    return reference.features(rec["candidate"], rec["prv_candidates"])


def test_scores_agree(engines, official_model):
    from btsbot_fast import Scorer

    scorer = Scorer(official_model.onnx_path.parent)
    results = {name: scorer.score_batch(batch) for name, batch in engines.items()}
    ref = results["fastavro+twin"]
    for name, rows in results.items():
        for case, a, b in zip(NAMES, rows, ref):
            assert (a.status, a.error) == (b.status, b.error), (name, case)
            assert (a.score is None) == (b.score is None), (name, case)
            if a.score is not None:
                assert math.isfinite(a.score) and abs(a.score - b.score) <= 2e-6, (name, case)
    statuses = {r.status for r in ref}
    assert {"ok", "missing_field"} <= statuses
