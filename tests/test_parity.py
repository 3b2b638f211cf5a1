"""Parity on real data: native core, Python twin and the upstream production outputs agree.

Tolerances (../shared/spec/btsbot-v1.md): triplets <= 2e-7 absolute per pixel, channels the reference
zeroed by float32 overflow exactly zero; features equal the reference float32 values; scores within 2e-6
of TensorFlow's and on the same side of 0.5. Native and twin: identical statuses, features equal,
triplets within 2e-7.
"""

from __future__ import annotations

import numpy as np
import pytest

from btsbot_fast.prep import preprocess_paths
from btsbot_fast.status import Status

TRIPLET_ATOL = 2e-7
SCORE_ATOL = 2e-6


@pytest.fixture(scope="module", params=["native", "python"])
def engine(request):
    return request.param


_cache: dict[str, object] = {}


def _preprocessed(reference, engine):
    if engine not in _cache:
        _cache[engine] = preprocess_paths([reference.dev, reference.broken], engine=engine)
    return _cache[engine]


def _reference_rows(reference, pre):
    """(our row index, reference row) for each reference alert, matched by source file and candid."""
    index = {(reference.relpath(s), int(c)): i for i, (s, c) in enumerate(zip(pre.source, pre.candid))}
    return [(index[(row["source_file"], int(row["candid"]))], row) for row in reference.rows]


def test_every_reference_alert_is_ok_and_matches(reference, engine):
    pre = _preprocessed(reference, engine)
    pairs = _reference_rows(reference, pre)
    assert len(pairs) == len(reference.rows) > 0
    worst = 0.0
    zeroed = 0
    for i, row in pairs:
        assert pre.status[i] == Status.OK, (row["source_file"], pre.message[i])
        ref = reference.triplets[row["candid"]]
        ours = pre.triplets[i]
        worst = max(worst, float(np.abs(ours - ref).max()))
        for c in range(3):
            if not ref[:, :, c].any():
                zeroed += 1
                assert not ours[:, :, c].any(), f"{row['candid']} channel {c} must be exactly zero"
        np.testing.assert_array_equal(pre.metadata[i], reference.features[row["candid"]],
                                      err_msg=f"features of {row['candid']}")
    assert worst <= TRIPLET_ATOL
    assert zeroed > 0  # overflowed template channels are among the reference alerts


def test_manifest_outcomes(reference, engine):
    """Every record the manifest calls usable scores; every other record is an error row with a reason."""
    pre = _preprocessed(reference, engine)
    by_key = {}
    for i, s in enumerate(pre.source):
        by_key.setdefault(reference.relpath(s), []).append(i)
    for row in reference.manifest:
        rows = by_key[row["path"]]
        i = rows[int(row["record_index"])] if row["record_index"] else rows[-1]
        # in_reference marks the candid; a copy of it noted e.g. "cutout missing" must still fail
        if row["in_reference"] == "yes" and not row["note"]:
            assert pre.status[i] == Status.OK, (row, pre.message[i])
        else:
            assert pre.status[i] != Status.OK, row
            assert pre.message[i], row


def test_native_and_twin_agree(reference):
    native = _preprocessed(reference, "native")
    twin = _preprocessed(reference, "python")
    np.testing.assert_array_equal(native.status, twin.status)
    for i, (a, b) in enumerate(zip(native.message, twin.message)):
        if native.status[i] == Status.DECODE_ERROR:  # the Avro decoders word damage in their own terms
            assert a.split(":")[0] == b.split(":")[0], (a, b)
        else:
            assert a == b, (native.source[i], a, b)
    np.testing.assert_array_equal(native.candid, twin.candid)
    np.testing.assert_array_equal(native.metadata, twin.metadata)
    assert float(np.abs(native.triplets - twin.triplets).max()) <= TRIPLET_ATOL
    np.testing.assert_array_equal(native.bts, twin.bts)  # the BTS filter's verdicts, every row


def test_scores_match_tensorflow(reference, official_model, engine):
    from btsbot_fast import Scorer

    scorer = Scorer(official_model.onnx_path.parent, engine=engine)
    results = list(scorer.score_files([reference.dev, reference.broken]))
    by_key = {(reference.relpath(r.source), r.candid): r for r in results}
    worst = 0.0
    for row in reference.rows:
        r = by_key[(row["source_file"], int(row["candid"]))]
        assert r.status == "ok", r
        tf_score = float(row["score_tf"])
        worst = max(worst, abs(r.score - tf_score))
        assert (r.score >= 0.5) == (tf_score >= 0.5), (row["candid"], r.score, tf_score)
    assert worst <= SCORE_ATOL
    assert len(results) == len(reference.manifest)


def test_null_history_items_are_not_detections(reference):
    """A null item in prv_candidates (possible where the item type is a union with null) is skipped by
    both engines, like a non-detection."""
    import copy

    from btsbot_fast.io import read_alerts
    from btsbot_fast.prep import preprocess_records

    rec = next(r for r in read_alerts([reference.dev / "kowalski"]) if r.ok and r.record.get("prv_candidates"))
    odd = copy.deepcopy(rec)
    odd.record["prv_candidates"] = [None] + list(odd.record["prv_candidates"]) + [None]
    for engine in ("native", "python"):
        plain, with_nulls = preprocess_records([rec, odd], engine).metadata
        np.testing.assert_array_equal(plain, with_nulls)
