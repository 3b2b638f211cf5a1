"""Evaluation metrics and source-level policies on small hand-built cases whose answers are known exactly,
plus `btsbot-fast evaluate` end to end with a hand-made ONNX model (no TensorFlow needed)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from btsbot_fast.evaluate.metrics import alert_metrics, bin_index, confusion, predict, rates, roc_auc, roc_curve
from btsbot_fast.evaluate.sources import critical_scores, evaluate_sources, group_objects, threshold_scan
from btsbot_fast.policies import DEFAULT_POLICIES, STRICT, Policy, above

# ---------------------------------------------------------------------------------------------- alert level

def test_roc_auc_known_values():
    assert roc_auc([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9]) == 1.0
    assert roc_auc([0, 0, 1, 1], [0.9, 0.8, 0.2, 0.1]) == 0.0
    # 3 of the 4 positive/negative pairs are ordered correctly
    assert roc_auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == 0.75
    # all tied -> 1/2; one tie among four pairs -> (3 + 0.5) / 4
    assert roc_auc([0, 1, 0, 1], [0.5, 0.5, 0.5, 0.5]) == 0.5
    assert roc_auc([0, 0, 1, 1], [0.1, 0.5, 0.5, 0.9]) == 0.875
    assert np.isnan(roc_auc([1, 1], [0.2, 0.3]))


def test_roc_auc_matches_pairwise_count():
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 200)
    s = np.round(rng.random(200), 1)  # many ties
    pos, neg = s[y == 1], s[y == 0]
    pairs = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
    assert roc_auc(y, s) == pytest.approx(pairs / (len(pos) * len(neg)), abs=1e-12)
    fpr, tpr, _ = roc_curve(y, s)
    assert np.trapezoid(tpr, fpr) == pytest.approx(roc_auc(y, s), abs=1e-12)


def test_roc_curve_points():
    fpr, tpr, thr = roc_curve([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    assert thr.tolist() == [np.inf, 0.8, 0.4, 0.35, 0.1]
    assert tpr.tolist() == [0, 0.5, 0.5, 1, 1]
    assert fpr.tolist() == [0, 0, 0.5, 0.5, 1]


def test_confusion_rates_and_threshold_comparison():
    labels = np.array([1, 1, 1, 0, 0, 0, 0])
    scores = np.array([0.9, 0.5, 0.2, 0.7, 0.5, 0.1, 0.0])
    c = confusion(labels, predict(scores, 0.5, strict=False))
    assert c == {"tp": 2, "fp": 2, "tn": 2, "fn": 1}
    r = rates(c)
    assert r["accuracy"] == 4 / 7 and r["precision"] == 0.5 and r["recall"] == 2 / 3
    assert r["balanced_accuracy"] == pytest.approx((2 / 3 + 0.5) / 2)
    # upstream's `score > 0.5` (the default) differs exactly on the ties
    assert confusion(labels, predict(scores, 0.5)) == {"tp": 1, "fp": 1, "tn": 3, "fn": 2}
    assert confusion(labels, predict(scores, 0.5, strict=True)) == confusion(labels, predict(scores, 0.5))
    assert np.isnan(rates({"tp": 0, "fp": 0, "tn": 3, "fn": 0})["precision"])


def test_alert_metrics_by_magpsf_bins():
    labels = [1, 1, 0, 0, 1]
    scores = [0.9, 0.1, 0.8, 0.2, 0.6]
    mags = [16.2, 16.4, 16.3, 19.9, 21.5]
    m = alert_metrics(labels, scores, mags, edges=(15.0, 16.0, 17.0, 20.0, 21.0))
    assert (m["tp"], m["fp"], m["tn"], m["fn"]) == (2, 1, 1, 1)
    bins = {(b["lo"], b["hi"]): b for b in m["by_magpsf"]}
    b = bins[(16.0, 17.0)]
    assert (b["n"], b["tp"], b["fp"], b["fn"], b["tn"]) == (3, 1, 1, 1, 0)
    assert bins[(17.0, 20.0)]["tn"] == 1 and bins[(21.0, None)]["tp"] == 1 and bins[(None, 15.0)]["n"] == 0
    assert sum(b["n"] for b in m["by_magpsf"]) == 5


def test_bin_index_closed_last_bin():
    edges = (17.0, 17.25, 17.5, 17.75, 18.0, 18.25, 18.5)
    idx = bin_index([16.9, 17.0, 17.3, 18.5, 18.49, 18.51, np.nan], edges, open_ends=False)
    assert idx.tolist() == [-1, 0, 1, 5, 5, -1, -1]


# ---------------------------------------------------------------------------------------------- policies

def _objects():
    """Four objects, rows deliberately not in jd order. Expected outcomes are worked out by hand below."""
    rows = [
        # objectId, jd, magpsf, label, score
        ("A", 3.0, 18.2, 1, 0.7),
        ("A", 1.0, 19.5, 1, 0.6),
        ("A", 2.0, 18.8, 1, 0.4),
        ("B", 1.5, 18.0, 1, 0.55),
        ("B", 2.5, 17.9, 1, 0.9),
        ("C", 1.0, 17.1, 0, 0.95),
        ("C", 2.0, 17.2, 0, 0.2),
        ("D", 1.0, 18.9, 0, 0.5),
        ("D", 4.0, 18.7, 0, 0.51),
        ("E", 1.0, 18.3, 1, 0.1),
    ]
    oid, jd, mag, lab, sc = (np.array(c) for c in zip(*rows))
    return oid.astype(object), jd.astype(float), mag.astype(float), lab.astype(int), sc.astype(float)


def test_group_objects_sorts_by_jd_and_keeps_first_appearance_order():
    oid, jd, *_ = _objects()
    groups = group_objects(oid, jd)
    assert [oid[g[0]] for g in groups] == ["A", "B", "C", "D", "E"]
    assert [jd[i] for i in groups[0]] == [1.0, 2.0, 3.0]


def test_policies_by_hand():
    oid, jd, mag, lab, sc = _objects()
    pols = [Policy.parse(p) for p in DEFAULT_POLICIES]
    # worked out with >= (the papers' wording); the strict default differs only on D's 0.5 (below)
    m, objs = evaluate_sources(oid, jd, mag, lab, sc, pols, strict=False, ref_times={"A": 0.5, "B": 2.0, "C": 1.0})
    by = {o["objectId"]: o for o in objs}
    # A (jd order: .6@19.5, .4@18.8, .7@18.2): gt1 at jd 1, gt2 at jd 3, gt3 never;
    # bts_p1 needs 2 alerts >= .5 with mag < 19: only jd 3 qualifies -> never
    assert by["A"]["gt1_trigger_jd"] == 1.0 and by["A"]["gt2_trigger_jd"] == 3.0 and by["A"]["gt3_pred"] == 0
    assert by["A"]["bts_p1_pred"] == 0 and by["A"]["prod_p1_pred"] == 0  # .7 < .85
    # B: both alerts >= .5 and < 19 -> gt2/bts_p1/bts_p2 trigger at jd 2.5, gt1 at 1.5; prod_p1 (0.9) at 2.5
    assert by["B"]["gt1_trigger_jd"] == 1.5 and by["B"]["bts_p1_trigger_jd"] == 2.5
    assert by["B"]["bts_p2_trigger_jd"] == 2.5 and by["B"]["prod_p2_trigger_jd"] == 2.5
    assert by["B"]["gt1_trigger_mag"] == 18.0
    # C (label 0): one high score -> gt1 and prod_p1/p2 false positives, nothing needing 2
    assert by["C"]["gt1_pred"] == 1 and by["C"]["prod_p2_pred"] == 1 and by["C"]["gt2_pred"] == 0
    # D (label 0): .5 and .51 -> gt2 and bts_p1 (both < 19); peak 18.7 > 18.5 so bts_p2 never
    assert by["D"]["gt2_trigger_jd"] == 4.0 and by["D"]["bts_p1_pred"] == 1 and by["D"]["bts_p2_pred"] == 0
    # E (label 1): never selected
    assert all(by["E"][f"{p}_pred"] == 0 for p in DEFAULT_POLICIES)

    def cp(name):
        return m[name]["completeness"], m[name]["purity"]

    # positives A, B, E; negatives C, D
    assert cp("gt1") == (2 / 3, 2 / 4)  # A, B, C, D selected
    assert cp("gt2") == (2 / 3, 2 / 3)  # A, B, D
    assert m["gt3"]["completeness"] == 0.0 and np.isnan(m["gt3"]["purity"])  # nothing selected: 0/0
    assert cp("bts_p1") == (1 / 3, 1 / 2)  # B, D
    assert cp("bts_p2") == (1 / 3, 1.0)  # B
    assert cp("prod_p1") == (1 / 3, 1 / 2)  # B, C
    # peak-magnitude bins: A peaks at 18.2 -> [18.0, 18.25); B 17.9 -> [17.75, 18.0); C 17.1; D 18.7 outside
    gt1_bins = {(b["lo"], b["hi"]): b for b in m["gt1"]["by_peakmag"]}
    assert gt1_bins[(18.0, 18.25)]["tp"] == 1 and gt1_bins[(18.25, 18.5)]["fn"] == 1  # E peaks at 18.3
    assert gt1_bins[(17.0, 17.25)]["fp"] == 1 and sum(b["n"] for b in gt1_bins.values()) == 4
    # delays: gt1 A 1.0-0.5 = 0.5, B 1.5-2.0 = -0.5, C 1.0-1.0 = 0 -> median 0; positives only: median 0
    assert m["gt1"]["delay"]["n"] == 3 and m["gt1"]["delay"]["median_days"] == 0.0
    assert m["gt1"]["delay"]["median_days_positive"] == 0.0
    assert sorted(m["gt1"]["delay"]["values"]) == [-0.5, 0.0, 0.5]
    assert m["bts_p1"]["delay"]["values"] == [0.5]  # B: 2.5 - 2.0


def test_strict_comparison_is_the_default_and_changes_only_ties():
    assert STRICT is True
    assert above([0.5, 0.50001, 0.4], 0.5).tolist() == [False, True, False]
    assert above([0.5, 0.50001, 0.4], 0.5, strict=False).tolist() == [True, True, False]
    oid, jd, mag, lab, sc = _objects()
    loose, lobj = evaluate_sources(oid, jd, mag, lab, sc, [Policy.parse("gt2"), Policy.parse("bts_p1")], strict=False)
    strict, sobj = evaluate_sources(oid, jd, mag, lab, sc, [Policy.parse("gt2"), Policy.parse("bts_p1")])
    explicit, _ = evaluate_sources(oid, jd, mag, lab, sc, [Policy.parse("gt2"), Policy.parse("bts_p1")], strict=True)
    assert all(strict[p][k] == explicit[p][k] for p in strict for k in ("tp", "fp", "fn", "tn"))
    assert loose["gt2"]["fp"] == 1 and strict["gt2"]["fp"] == 0  # D's 0.5 no longer counts
    assert loose["bts_p1"]["fp"] == 1 and strict["bts_p1"]["fp"] == 0
    # nothing else moves: the other objects' triggers are the same
    for a, b in zip(lobj, sobj):
        if a["objectId"] != "D":
            assert a == b


def test_policy_parse():
    assert Policy.parse("gt3") == Policy("gt3", 3, 0.5)
    assert Policy.parse("gt1@0.3").threshold == 0.3
    assert Policy.parse("bts_p2") == Policy("bts_p2", 2, 0.5, 19.0, 18.5)
    assert Policy.parse("prod_p1") == Policy("prod_p1", 1, 0.85, 19.0, None)
    assert Policy.parse("gt1", threshold=0.7) == Policy("gt1@0.7", 1, 0.7)
    assert Policy.parse("prod_p1", threshold=0.7).threshold == 0.85  # --threshold does not move prod_*
    with pytest.raises(ValueError):
        Policy.parse("gt0")
    with pytest.raises(ValueError, match="within"):
        Policy.parse("gt1@1.5")
    with pytest.raises(ValueError):
        Policy.parse("best")


def test_threshold_scan_agrees_with_walk():
    rng = np.random.default_rng(0)
    n = 400
    oid = np.array([f"o{k}" for k in rng.integers(0, 60, n)], dtype=object)
    jd = rng.random(n) * 30
    mag = rng.uniform(16.5, 20, n)
    lab = np.array([int(o[1:]) % 3 == 0 for o in oid], dtype=int)
    sc = np.round(rng.random(n), 2)
    for name in ("gt1", "gt2", "bts_p1", "bts_p2", "prod_p2"):
        p = Policy.parse(name)
        scan = threshold_scan(oid, jd, mag, lab, sc, p, [0.0, 0.3, 0.5, 0.77, 1.0])
        for row in scan:
            q = Policy(p.name, p.min_count, row["threshold"], p.mag_limit, p.peak_limit)
            m, _ = evaluate_sources(oid, jd, mag, lab, sc, [q])
            assert (row["tp"], row["fp"], row["fn"]) == (m[q.name]["tp"], m[q.name]["fp"], m[q.name]["fn"])
        crit, _ = critical_scores(oid, jd, mag, p, sc)
        assert np.all((crit == -np.inf) | ((crit >= 0) & (crit <= 1)))


# ---------------------------------------------------------------------------------------------- end to end

def _magpsf_model(path):
    """An ONNX model scoring sigmoid(3 * (18.5 - magpsf)) from the 25-feature metadata; triplet unused."""
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    nodes = [
        helper.make_node("Gather", ["metadata", "idx"], ["mag"], axis=1),
        helper.make_node("Sub", ["limit", "mag"], ["d"]),
        helper.make_node("Mul", ["d", "gain"], ["z"]),
        helper.make_node("Sigmoid", ["z"], ["fc_out"]),
    ]
    graph = helper.make_graph(
        nodes, "magpsf_model",
        [helper.make_tensor_value_info("triplet", TensorProto.FLOAT, [None, 63, 63, 3]),
         helper.make_tensor_value_info("metadata", TensorProto.FLOAT, [None, 25])],
        [helper.make_tensor_value_info("fc_out", TensorProto.FLOAT, [None, 1])],
        initializer=[helper.make_tensor("idx", TensorProto.INT64, [1], [5]),
                     helper.make_tensor("limit", TensorProto.FLOAT, [], [18.5]),
                     helper.make_tensor("gain", TensorProto.FLOAT, [], [3.0])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def test_evaluate_command_end_to_end(tmp_path):
    pytest.importorskip("matplotlib")
    from click.testing import CliRunner

    from btsbot_fast.evaluate.commands import evaluate
    from btsbot_fast.train.synthetic import write_dataset

    data = tmp_path / "data"
    write_dataset(data, n_objects=40, seed=5)
    model = _magpsf_model(tmp_path / "magpsf.onnx")
    out = tmp_path / "eval"
    res = CliRunner().invoke(evaluate, ["--model", str(model), "--data", str(data), "--out", str(out),
                                        "--ref-times", str(data / "ref_times.csv"), "--policy", "gt1",
                                        "--policy", "bts_p1", "--policy", "gt2@0.3"])
    assert res.exit_code == 0, res.output
    m = json.loads((out / "metrics.json").read_text())
    assert set(m["source"]) == {"gt1", "bts_p1", "gt2@0.3"}
    assert 0.0 <= m["alert"]["roc_auc"] <= 1.0 and 0.0 <= m["alert"]["accuracy"] <= 1.0
    for name in m["source"]:
        assert {"completeness", "purity", "by_peakmag"} <= set(m["source"][name])
    assert "delay" in m["source"]["gt1"]
    # the scores in scores.csv are what the model computes from magpsf
    import csv

    rows = list(csv.DictReader(open(out / "scores.csv")))
    mags = np.array([float(r["magpsf"]) for r in rows], dtype=np.float32)
    want = 1 / (1 + np.exp(-3.0 * (np.float32(18.5) - mags)))
    assert np.allclose([float(r["score"]) for r in rows], want, atol=1e-6)
    for fig in m["figures"]:
        assert (out / fig).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    figures = {"alert_roc.png", "alert_magpsf_bins.png", "source_peakmag_bins.png", "source_delays.png"}
    assert figures <= set(m["figures"])
    # this model separates the synthetic classes: the gallery of confident mistakes is empty, and says so
    assert m["gallery"]["fp"] == [] and m["gallery"]["fn"] == [] and (out / "gallery.html").is_file()


# ---------------------------------------------------------------------------------------------- BTS candidates

def test_sources_on_bts_candidates_by_hand():
    # A: counted at jd 1, a candidate from jd 3 -> selected at jd 3; B: never a candidate -> removed;
    # C: a candidate at jd 1 (unknown verdict at jd 2 does not undo it) -> selected at its first counted alert
    oid = np.array(["A", "A", "A", "B", "B", "C", "C"], dtype=object)
    jd = np.array([1.0, 2.0, 3.0, 1.0, 2.0, 1.0, 2.0])
    mag = np.full(7, 18.0)
    lab = np.array([1, 1, 1, 0, 0, 1, 1])
    sc = np.array([0.9, 0.1, 0.2, 0.9, 0.9, 0.1, 0.7])
    verdicts = np.array([False, False, True, False, False, True, False])
    gt1 = Policy.parse("gt1")
    m, objects = evaluate_sources(oid, jd, mag, lab, sc, [gt1], verdicts=verdicts)
    rows = {o["objectId"]: o for o in objects}
    assert {k: (rows[k]["gt1_pred"], rows[k]["gt1_trigger_jd"], rows[k]["bts_candidate"]) for k in rows} == {
        "A": (1, 3.0, 1), "B": (0, None, 0), "C": (1, 2.0, 1)}
    assert (m["gt1"]["tp"], m["gt1"]["fp"], m["gt1"]["selected_without_filter"], m["gt1"]["removed_by_filter"]) == (
        2, 0, 3, 1)
    plain, _ = evaluate_sources(oid, jd, mag, lab, sc, [gt1])
    assert plain["gt1"]["fp"] == 1 and "removed_by_filter" not in plain["gt1"]
    # the threshold scan's after-last-alert prediction agrees with the walk, with the filter too
    for row in threshold_scan(oid, jd, mag, lab, sc, gt1, [0.0, 0.5, 0.8], verdicts=verdicts):
        q = Policy("gt1", 1, row["threshold"])
        mq, _ = evaluate_sources(oid, jd, mag, lab, sc, [q], verdicts=verdicts)
        assert (row["tp"], row["fp"], row["fn"]) == (mq["gt1"]["tp"], mq["gt1"]["fp"], mq["gt1"]["fn"])


def test_evaluate_command_on_bts_candidates(tmp_path):
    pytest.importorskip("matplotlib")
    import csv

    from click.testing import CliRunner

    from btsbot_fast.evaluate.commands import evaluate
    from btsbot_fast.train.synthetic import write_dataset

    data = tmp_path / "data"
    write_dataset(data, n_objects=30, seed=5)
    model = _magpsf_model(tmp_path / "magpsf.onnx")
    out = tmp_path / "eval"

    def run(*extra, expect=0):
        res = CliRunner().invoke(evaluate, ["--model", str(model), "--data", str(data), "--out", str(out),
                                            "--split", "all", "--policy", "gt1", "--policy", "gt2", *extra])
        assert res.exit_code == expect, res.output
        return res, (json.loads((out / "metrics.json").read_text()) if expect == 0 else None)

    # data without verdicts: every object (the default), and a clear error when bts is asked for
    res, m = run()
    assert m["candidates"] == {"mode": "all"} and "no BTS candidate filter" in res.output
    res, _ = run("--candidates", "bts", expect=1)
    assert "no BTS candidate verdicts" in res.output
    everything = m["source"]["gt1"]["tp"] + m["source"]["gt1"]["fp"]
    # a verdict column: objects whose name ends in an even digit pass at their last alert only
    rows = []
    for split_csv in sorted(data.glob("*_cand_synthetic.csv")):
        part = list(csv.DictReader(open(split_csv)))
        rows += part
        last = {r["objectId"]: r["candid"] for r in sorted(part, key=lambda r: float(r["jd"]))}
        with open(split_csv, "w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=[*part[0], "bts_candidate"])
            w.writeheader()
            for r in part:
                even = int(r["objectId"][-1]) % 2 == 0
                w.writerow({**r, "bts_candidate": "true" if even and last[r["objectId"]] == r["candid"] else
                            "" if r["candid"].endswith("7") else "false"})
    res, m = run()
    objs = {r["objectId"] for r in rows}
    n_cand = sum(int(o[-1]) % 2 == 0 for o in objs)
    assert {k: m["candidates"][k] for k in ("mode", "n_objects", "candidate_objects", "removed_objects")} == {
        "mode": "bts", "n_objects": len(objs), "candidate_objects": n_cand, "removed_objects": len(objs) - n_cand}
    gt1 = m["source"]["gt1"]
    assert gt1["selected_without_filter"] == everything
    assert gt1["tp"] + gt1["fp"] == everything - gt1["removed_by_filter"] < everything
    assert f"the filter removed {len(objs) - n_cand}" in res.output and "gt1 " in res.output
    sources = list(csv.DictReader(open(out / "sources.csv")))
    assert all(s["gt1_pred"] == "0" for s in sources if s["bts_candidate"] == "0")
    _, m_all = run("--candidates", "all")
    assert m_all["source"]["gt1"]["tp"] + m_all["source"]["gt1"]["fp"] == everything


def test_evaluate_on_alert_packets_decides_on_bts_candidates(reference, tmp_path):
    # labelled alert packets carry the verdict preprocessing computes: the default is bts, and the
    # candidate objects are those the published filter passed (its reference run on the dev alerts)
    import csv

    from btsbot_fast.evaluate import evaluate

    path = reference.root / "ztf" / "reference" / "dev_bts_filter.csv"
    if not path.exists():
        pytest.skip(f"no reference verdicts {path}")
    with open(path, newline="") as fh:
        passed = {(r["file"], r["candid"]) for r in csv.DictReader(fh) if r["bts_candidate"] == "True"}
    objects = sorted({r["objectId"] for r in reference.manifest if r["objectId"]})
    labels = tmp_path / "labels.csv"
    labels.write_text("objectId,label\n" + "".join(f"{o},{i % 2}\n" for i, o in enumerate(objects)))
    model = _magpsf_model(tmp_path / "magpsf.onnx")
    pytest.importorskip("matplotlib")
    m = evaluate(model, reference.dev, tmp_path / "eval", split="all", policies=("gt1",), labels=labels,
                 echo=lambda s: None)
    cand = m["candidates"]
    want = {r["objectId"] for r in reference.rows if (r["source_file"], r["candid"]) in passed}
    assert cand["mode"] == "bts" and cand["candidate_objects"] == len(want) >= 1
    assert cand["removed_objects"] == cand["n_objects"] - len(want)
    rows = list(csv.DictReader(open(tmp_path / "eval" / "sources.csv")))
    assert {r["objectId"] for r in rows if r["bts_candidate"] == "1"} == want
    assert {r["objectId"] for r in rows if r["gt1_pred"] == "1"} <= want
    m_all = evaluate(model, reference.dev, tmp_path / "eval_all", split="all", policies=("gt1",), labels=labels,
                     candidates="all", echo=lambda s: None)
    assert m_all["candidates"] == {"mode": "all"}
    assert m["source"]["gt1"]["selected_without_filter"] == m_all["source"]["gt1"]["tp"] + m_all["source"]["gt1"]["fp"]


# ---------------------------------------------------------------------------------------------- gallery

def test_evaluate_gallery_of_confident_mistakes_on_real_packets(tmp_path, data_root):
    """Labelled real packets, labels chosen so that the official model makes mistakes: the gallery holds the
    most confident ones, drawn from their packets with the show code."""
    pytest.importorskip("matplotlib")
    pytest.importorskip("astropy")
    import csv
    import shutil

    from click.testing import CliRunner

    from btsbot_fast.evaluate.commands import evaluate

    data = tmp_path / "packets"
    data.mkdir()
    files = ["kowalski/data_ztf_alerts_20200202_1127495406315015005.avro",  # ZTF20aajcdad, score ~1
             "kowalski/data_ztf_alerts_20200202_1127536316315015004.avro",  # ZTF20aajcdad, score ~1
             "boom/data_ztf_alerts_2475433850315015012.avro",  # ZTF23abjjnda, ~0.81
             "Ampel-ZTF/recent_alerts_20180615/522193343315015001.avro",  # ZTF18aaxmirj, ~0.0025
             "alertbase/testdata_alertfiles_1311156250015010003.avro"]  # ZTF18aaylcqb, ~0.085
    for i, f in enumerate(files):
        shutil.copy(data_root / "ztf/dev" / f, data / f"{i}.avro")
    labels = {"ZTF20aajcdad": 0, "ZTF23abjjnda": 0, "ZTF18aaxmirj": 1, "ZTF18aaylcqb": 1}
    with open(data / "labels.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["objectId", "label", "split"])
        w.writerows([o, lab, "test"] for o, lab in labels.items())
    out = tmp_path / "eval"
    res = CliRunner().invoke(evaluate, ["--model", "btsbot-v1.0.1", "--data", str(data), "--out", str(out),
                                        "--split", "test", "--policy", "gt1"])
    assert res.exit_code == 0, res.output
    g = json.loads((out / "metrics.json").read_text())["gallery"]
    assert [x["objectId"] for x in g["fp"]] == ["ZTF20aajcdad", "ZTF20aajcdad", "ZTF23abjjnda"]
    assert [x["objectId"] for x in g["fn"]] == ["ZTF18aaxmirj", "ZTF18aaylcqb"]
    assert [x["score"] for x in g["fp"]] == sorted((x["score"] for x in g["fp"]), reverse=True)
    page = (out / "gallery.html").read_text()
    import matplotlib.image as mpimg

    for x in g["fp"] + g["fn"]:
        assert x["figure"] in page
        img = mpimg.imread(out / x["figure"])
        assert img.shape[1] >= 800 and img.shape[0] >= 500 and img[..., :3].std() > 0.02
    assert mpimg.imread(out / "gallery.png")[..., :3].std() > 0.02


def test_gallery_from_a_data_release_draws_the_model_inputs(tmp_path):
    """The public-release layout has no packets: the gallery's show figures come from the triplets and
    features it holds (two splits together, as ``--split all`` scores them)."""
    pytest.importorskip("matplotlib")
    import matplotlib.image as mpimg

    from btsbot_fast import Scorer
    from btsbot_fast.evaluate.gallery import write_gallery
    from btsbot_fast.train.data import load_dataset
    from btsbot_fast.train.synthetic import write_dataset

    write_dataset(tmp_path / "data", n_objects=12, seed=3)
    splits, kind = load_dataset(tmp_path / "data")
    assert kind == "release"
    parts = [splits["train"], splits["test"]]
    labels = np.concatenate([p.labels for p in parts])
    scores = np.where(labels == 1, 0.2, 0.9).astype(np.float32)  # every alert a mistake
    scores[-1] = 0.95 if labels[-1] == 0 else 0.05  # the last one (in the second split) the most confident
    scorer = Scorer(_magpsf_model(tmp_path / "m.onnx"))
    g = write_gallery(tmp_path / "eval", scorer, parts, scores, 0.5, k=3)
    kind_of_last = "fp" if labels[-1] == 0 else "fn"
    first = g[kind_of_last][0]
    assert first["candid"] == int(parts[1].candid[-1]) and first["score"] == pytest.approx(float(scores[-1]))
    assert len(g["fp"]) == min(3, int((labels == 0).sum())) and len(g["fn"]) == min(3, int((labels == 1).sum()))
    img = mpimg.imread(tmp_path / "eval" / first["figure"])
    assert img.shape[1] >= 800 and img[..., :3].std() > 0.02
