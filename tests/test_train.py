"""The training wrapper: architectures, configs, datasets, a short learning run on synthetic data
(exported model scored through Scorer), and a few steps on labelled real alert packets.

Sized for 2 CPU cores: the whole file takes about a minute.
"""

from __future__ import annotations

import csv
import json
import os

import numpy as np
import pytest

from btsbot_fast.prep.variant import FEATURE_NAMES
from btsbot_fast.train import config as tconfig
from btsbot_fast.train.data import (
    augment_batch,
    class_weights,
    load_dataset,
    load_release,
    split_by_object,
    thin_per_object,
)
from btsbot_fast.train.synthetic import write_dataset

THREADS = 2

# Keras 3.15 + NumPy 2 warn inside model.fit (EagerTensor.__array__ has no copy keyword); not ours
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword")


@pytest.fixture(scope="module")
def tf():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    tf = pytest.importorskip("tensorflow")
    pytest.importorskip("tf2onnx")
    from btsbot_fast.train.trainer import configure_tf

    configure_tf(THREADS)
    return tf


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    d = tmp_path_factory.mktemp("synthetic")
    write_dataset(d, n_objects=200, seed=11)
    return d


# ---------------------------------------------------------------------------------------------- architectures

@pytest.mark.tf
def test_published_parameter_counts(tf):
    import keras

    from btsbot_fast.train.models import build_model

    mm = build_model(tconfig.make_config(arch="mm_cnn"))
    assert mm.count_params() == 227_861
    assert [i.name for i in mm.inputs] == ["triplet", "metadata"]
    assert mm.inputs[1].shape == (None, 25) and mm.layers[-1].name == "fc_out"
    assert mm.layers[-1].activation.__name__ == "sigmoid"
    assert any(isinstance(layer, keras.layers.BatchNormalization) for layer in mm.layers)

    mi = build_model(tconfig.make_config(arch="mi_cnn"))
    assert mi.inputs[1].shape == (None, 14)
    assert not any(isinstance(layer, keras.layers.BatchNormalization) for layer in mi.layers)
    # The layer table in the spec gives 43,073 weights; the published 129,219 counts them together with
    # Adam's two moment slots per weight (Keras 2's total for a compiled, saved model): 3 x 43,073.
    assert mi.count_params() == 43_073
    mi.compile(optimizer=keras.optimizers.Adam(), loss="binary_crossentropy")
    mi.optimizer.build(mi.trainable_variables)
    slots = sum(int(np.prod(v.shape)) for v in mi.optimizer.variables if len(v.shape) > 0)
    assert mi.count_params() + slots == 129_219


@pytest.mark.tf
def test_single_branch_variants(tf):
    from btsbot_fast.train.models import build_model

    img = build_model(tconfig.load_config(tconfig.shipped_config_path("mm_cnn_image_only")))
    meta = build_model(tconfig.load_config(tconfig.shipped_config_path("mm_cnn_metadata_only")))
    assert [i.name for i in img.inputs] == ["triplet"] and [i.name for i in meta.inputs] == ["metadata"]
    assert img.count_params() == 227_861 - (100 + 3_328 + 16_512 + 128 * 8)
    assert meta.count_params() == 100 + 3_328 + 16_512 + 128 * 8 + 8 + 9


def test_configs():
    names = tconfig.shipped_configs()
    assert {"mm_cnn.json", "mi_cnn.json", "synthetic_small.json"} <= set(names)
    for arch in tconfig.ARCHS:  # the shipped example reproduces the published values
        shipped = tconfig.load_config(tconfig.shipped_config_path(arch))
        pub = tconfig.published(arch)
        assert {k: shipped[k] for k in ("model", "training", "data", "features")} == \
            {k: pub[k] for k in ("model", "training", "data", "features")}
    mm = tconfig.published("mm_cnn")["training"]
    assert (mm["learning_rate"], mm["beta_1"], mm["beta_2"], mm["batch_size"], mm["n_max"]) == \
        (1e-4, 0.99, 0.99, 64, 100)
    assert mm["reduce_lr"] == {"patience": 20, "factor": 0.4, "min_lr": 5e-10} and mm["early_stopping_patience"] == 75
    mi = tconfig.published("mi_cnn")
    assert (mi["training"]["learning_rate"], mi["training"]["batch_size"], mi["training"]["n_max"]) == (7.7e-5, 16, 60)
    assert mi["features"] == list(tconfig.MI_CNN_FEATURES) and len(mi["features"]) == 14
    with pytest.raises(tconfig.ConfigError, match="unknown config key"):
        tconfig.make_config({"training": {"learnig_rate": 1}})
    with pytest.raises(tconfig.ConfigError, match="unknown features"):
        tconfig.make_config({"features": ["magpsf", "colour"]})
    cfg = tconfig.make_config({"model": {"conv_filters": [4, 8]}, "features": ["magpsf", "drb"]}, arch="mi_cnn")
    assert cfg["model"]["conv_kernel"] == 3 and cfg["features"] == ["magpsf", "drb"]


# ---------------------------------------------------------------------------------------------- data

def test_release_layout_reader(synthetic):
    splits = load_release(synthetic)
    assert set(splits) == {"train", "val", "test"}
    tr = splits["train"]
    assert tr.available == FEATURE_NAMES  # new_drb -> drb, nnondet -> nnotdet
    with open(synthetic / "train_cand_synthetic.csv") as fh:
        first = next(csv.DictReader(fh))
    assert tr.features(["drb", "nnotdet"])[0].tolist() == pytest.approx(
        [float(first["new_drb"]), float(first["nnondet"])], rel=1e-6)
    assert tr.triplet_rows(np.array([2, 0])).shape == (2, 63, 63, 3)
    # each channel has unit L2 norm, like the real preprocessing
    norms = np.sqrt((tr.triplet_rows(np.arange(5)).astype(np.float64) ** 2).sum(axis=(1, 2)))
    assert np.allclose(norms, 1.0, atol=1e-5)
    objs = [set(s.objectId) for s in splits.values()]
    assert not (objs[0] & objs[1]) and not (objs[0] & objs[2]) and not (objs[1] & objs[2])


def test_split_by_object_grouped_seeded_stratified():
    rng = np.random.default_rng(0)
    oids = np.array([f"ZTF{k:04d}" for k in rng.integers(0, 500, 5000)], dtype=object)
    labels = np.array([int(o[-1]) % 4 == 0 for o in oids], dtype=int)
    a = split_by_object(oids, labels, seed=1)
    b = split_by_object(oids, labels, seed=1)
    c = split_by_object(oids, labels, seed=2)
    assert all(np.array_equal(a[k], b[k]) for k in a) and not np.array_equal(a["test"], c["test"])
    assert sorted(np.concatenate(list(a.values())).tolist()) == list(range(5000))
    sets = {k: set(oids[v]) for k, v in a.items()}
    assert not (sets["train"] & sets["val"]) and not (sets["train"] & sets["test"]) and not (sets["val"] & sets["test"])
    n_obj = len(set(oids))
    assert abs(len(sets["train"]) / n_obj - 0.81) < 0.02 and abs(len(sets["test"]) / n_obj - 0.10) < 0.02
    for k in a:  # both classes in every split
        assert set(labels[a[k]]) == {0, 1}


def test_thinning_and_class_weights():
    oids = np.array(["a"] * 7 + ["b"] * 2 + ["c"] * 5, dtype=object)
    keep = thin_per_object(oids, 3, seed=0)
    kept = oids[keep]
    assert (kept == "a").sum() == 3 and (kept == "b").sum() == 2 and (kept == "c").sum() == 3
    assert np.all(np.diff(keep) > 0)
    assert np.array_equal(thin_per_object(oids, 3, seed=0), keep)
    assert thin_per_object(oids, None).tolist() == list(range(14))
    assert class_weights(np.array([0] * 30 + [1] * 10)) == {0: pytest.approx(1 / 3), 1: 1.0}
    assert class_weights(np.array([0] * 5 + [1] * 20)) == {0: 1.0, 1: 0.25}


def test_augmentation_is_a_dihedral_transform():
    rng = np.random.default_rng(0)
    x = rng.random((64, 63, 63, 3)).astype(np.float32)
    y = augment_batch(x, np.random.default_rng(1))
    assert y.shape == x.shape and not np.shares_memory(x, y)
    seen = set()
    for i in range(len(x)):
        matches = [(k, f) for k in range(4) for f in (False, True)
                   if np.array_equal(y[i], np.rot90(x[i][:, ::-1] if f else x[i], k, axes=(0, 1)))]
        assert matches, "each output is a rotation/flip of its input"
        seen.add(matches[0])
    assert len(seen) >= 6  # the 8 dihedral transforms all occur in practice
    assert np.array_equal(augment_batch(x, np.random.default_rng(1), False, False, False), x)


# ---------------------------------------------------------------------------------------------- learning

@pytest.fixture(scope="module")
def trained(tf, synthetic, tmp_path_factory):
    from btsbot_fast.train.trainer import train

    cfg = tconfig.load_config(tconfig.shipped_config_path("synthetic_small"))
    cfg["training"]["epochs"] = 6
    run = tmp_path_factory.mktemp("run") / "run"
    result = train(cfg, synthetic, run, threads=THREADS, verbose=0, echo=lambda s: None)
    return result


@pytest.mark.tf
def test_short_run_learns_and_export_scores_identically(trained, synthetic):
    import keras

    from btsbot_fast import Scorer, registry
    from btsbot_fast.evaluate.metrics import roc_auc

    run = trained.run_dir
    for f in ("model.keras", "model.onnx", "model_card.json", "config.json", "history.csv", "history.jsonl"):
        assert (run / f).is_file(), f
    hist = [json.loads(line) for line in (run / "history.jsonl").read_text().splitlines()]
    assert len(hist) == trained.card["training"]["epochs_run"] and {"loss", "val_loss", "val_auc"} <= set(hist[0])

    test = load_release(synthetic)["test"]
    trip = test.all_triplets()
    scorer = Scorer(model=str(run))
    names = list(scorer.feature_names)
    assert names == list(FEATURE_NAMES)
    scores = scorer.score_arrays(trip, test.features(names))
    auc = roc_auc(test.labels, scores)
    assert auc >= 0.95, f"synthetic test ROC AUC {auc:.3f}"

    model = keras.models.load_model(run / "model.keras")
    ref = np.asarray(model({"triplet": trip, "metadata": test.features(names)}, training=False)).reshape(-1)
    assert np.max(np.abs(ref - scores)) <= 1e-5

    # the card is what the registry and `score --model RUN_DIR` read
    card = trained.card
    assert card["variant"] == "btsbot-v1" and card["feature_names"] == list(FEATURE_NAMES)
    assert card["inputs"]["metadata"]["shape"] == [None, 25] and card["output"]["name"] == "fc_out"
    assert card["parity"]["max_abs_diff"] <= 1e-5 and card["parity"]["reference"] == "keras"
    assert card["training"]["best_epoch"] >= 1 and card["training"]["seeds"]["seed"] == 2
    resolved = registry.resolve(run)
    assert resolved.name == "mm_cnn-synthetic-demo" and resolved.onnx_path.name == "model.onnx"


@pytest.mark.tf
def test_evaluate_trained_run(trained, synthetic, tmp_path):
    from btsbot_fast.evaluate.run import evaluate

    m = evaluate(trained.run_dir, synthetic, tmp_path / "eval", ref_times=synthetic / "ref_times.csv",
                 echo=lambda s: None)
    assert m["alert"]["roc_auc"] >= 0.95
    assert m["source"]["gt1"]["completeness"] >= 0.8
    saved = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert {"gt1", "gt2", "gt3", "bts_p1", "bts_p2", "prod_p1", "prod_p2"} <= set(saved["source"])


@pytest.mark.tf
def test_image_only_model_learns_and_scores_through_scorer(tf, synthetic, tmp_path):
    """The convolutional branch alone learns the synthetic classes; the single-branch export still has
    both standard inputs and loads in Scorer (the declared metadata column is ignored)."""
    from btsbot_fast import Scorer
    from btsbot_fast.evaluate.metrics import roc_auc
    from btsbot_fast.train.trainer import train

    cfg = tconfig.load_config(tconfig.shipped_config_path("synthetic_small"))
    cfg.update(inputs="image", name="img-small")
    cfg["training"]["epochs"] = 8
    res = train(tconfig.make_config(cfg), synthetic, tmp_path / "run", threads=THREADS, verbose=0,
                echo=lambda s: None)
    assert res.card["feature_names"] == ["magpsf"] and res.card["ignored_inputs"] == ["metadata"]
    test = load_release(synthetic)["test"]
    s = Scorer(model=str(tmp_path / "run"))
    trip = test.all_triplets()
    a = s.score_arrays(trip, test.features(["magpsf"]))
    assert roc_auc(test.labels, a) >= 0.9
    b = s.score_arrays(trip, np.zeros((len(trip), 1), np.float32))
    assert np.array_equal(a, b)


# ---------------------------------------------------------------------------------------------- alert packets

@pytest.mark.tf
def test_train_few_steps_on_labelled_packets(tf, shared, tmp_path):
    """Labelled packets from the dev alerts (arbitrary labels), preprocessed by the project's own code."""
    from click.testing import CliRunner

    from btsbot_fast.train.commands import train

    dev = shared / "data" / "ztf" / "dev"
    with open(shared / "data" / "ztf" / "dev_manifest.csv") as fh:
        objects = sorted({r["objectId"] for r in csv.DictReader(fh) if r["objectId"]})
    labels = tmp_path / "labels.csv"
    with open(labels, "w") as fh:
        fh.write("objectId,label\n")
        for o in objects:
            fh.write(f"{o},{sum(map(ord, o)) % 2}\n")
    splits, kind = load_dataset(dev, labels=labels, engine="native")
    assert kind == "packets" and len(splits["train"]) > 50 and {"val", "test"} <= set(splits)
    assert splits["train"].triplets.dtype == np.float32 and splits["train"].metadata.shape[1] == 25

    config = tmp_path / "tiny.json"
    config.write_text(json.dumps({"arch": "mm_cnn", "name": "packets-tiny", "model": {"conv_filters": [4, 8]},
                                  "training": {"epochs": 1}}))
    out = tmp_path / "run"
    res = CliRunner().invoke(train, ["--config", str(config), "--data", str(dev), "--labels", str(labels),
                                     "--out", str(out), "--batch-size", "16", "--max-batches", "3",
                                     "--threads", str(THREADS)])
    assert res.exit_code == 0, res.output
    card = json.loads((out / "model_card.json").read_text())
    assert card["training"]["data"]["layout"] == "packets" and card["parity"]["max_abs_diff"] <= 1e-5
    assert card["training"]["data"]["dropped"]["failed"] > 0  # broken / stamp-less dev packets are skipped
