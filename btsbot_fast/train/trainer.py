"""The training loop: data -> Keras fit (Adam, BCE, early stopping, LR plateau, best checkpoint) ->
``model.keras`` + parity-checked ``model.onnx`` + ``model_card.json`` in the run directory.

Run directory contents::

    config.json         the full config used (published defaults filled in)
    history.csv/.jsonl  one row per epoch: loss, accuracy, auc, val_*, learning rate, seconds
    best.weights.h5     best-val-loss checkpoint (weights)
    model.keras         the final model (best weights)
    model.onnx          ONNX export: inputs triplet / metadata, output fc_out, dynamic batch
    model_card.json     registry model card (btsbot-fast score --model RUN_DIR)
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from .config import dump_config
from .data import AlertSet, DataError, augment_batch, class_weights, load_dataset, thin_per_object
from .export import (
    CARD_FILE,
    KERAS_FILE,
    ONNX_FILE,
    ParityError,
    card_spec,
    export_onnx,
    exported_feature_names,
    keras_predict,
    parity,
    write_card,
)


@dataclass
class TrainResult:
    run_dir: Path
    card: dict[str, Any]
    history: list[dict[str, Any]]
    best_epoch: int
    best_val_loss: float
    max_abs_diff: float


def configure_tf(threads: int | None = None, seed: int | None = None, deterministic: bool = False) -> None:
    """Quiet TF's C++ logging, cap its thread pools (``threads``; 0/None = TF default), seed everything."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras
    import tensorflow as tf

    if threads:
        try:
            tf.config.threading.set_intra_op_parallelism_threads(int(threads))
            tf.config.threading.set_inter_op_parallelism_threads(min(2, int(threads)))
        except RuntimeError:
            pass  # already initialised in this process; keep what it has
    if seed is not None:
        keras.utils.set_random_seed(int(seed))
    if deterministic:
        tf.config.experimental.enable_op_determinism()


def _sequence_class():
    import keras

    class AlertSequence(keras.utils.PyDataset):
        """Batches of (inputs dict, labels, sample weights) from an AlertSet; shuffled and augmented per
        epoch for training, fixed order for validation. Randomness is a function of (seed, epoch, batch)."""

        def __init__(self, data: AlertSet, cfg: dict[str, Any], batch_size: int, *, train: bool,
                     weights: dict[int, float] | None = None, seed: int = 0, max_batches: int | None = None):
            super().__init__()
            self.data, self.cfg, self.bs, self.train = data, cfg, int(batch_size), train
            self.kind = cfg["inputs"]
            self.features = list(cfg["features"])
            self.meta = data.features(self.features) if self.features else None
            self.labels = data.labels.astype(np.float32)
            self.sw = (np.array([weights[int(c)] for c in data.labels], dtype=np.float32)
                       if weights else np.ones(len(data), dtype=np.float32))
            self.seed, self.epoch = int(seed), 0
            self.max_batches = max_batches
            self.aug = dict(cfg["training"]["augment"]) if train else None
            self.order = np.arange(len(data))
            self._shuffle()

        def _shuffle(self):
            if self.train:
                self.order = np.random.default_rng([self.seed, self.epoch]).permutation(len(self.data))

        def __len__(self):
            n = math.ceil(len(self.data) / self.bs)
            return min(n, self.max_batches) if self.max_batches else n

        def __getitem__(self, i):
            rows = self.order[i * self.bs:(i + 1) * self.bs]
            feed = {}
            if self.kind in ("both", "image"):
                t = self.data.triplet_rows(rows)
                if self.aug and any(self.aug.values()):
                    rng = np.random.default_rng([self.seed, self.epoch, i, 1])
                    t = augment_batch(t, rng, **{k: bool(v) for k, v in self.aug.items()})
                feed["triplet"] = t
            if self.kind in ("both", "metadata"):
                feed["metadata"] = self.meta[rows]
            if self.train:
                return feed, self.labels[rows], self.sw[rows]
            return feed, self.labels[rows]

        def on_epoch_end(self):
            self.epoch += 1
            self._shuffle()

    return AlertSequence


def _history_callback(run_dir: Path, rows: list[dict[str, Any]]):
    import keras

    class HistoryWriter(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self._t0 = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            row = {"epoch": epoch + 1}
            row.update({k: float(v) for k, v in (logs or {}).items()})
            try:
                row["learning_rate"] = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))
            except Exception:  # pragma: no cover - exotic optimizers
                pass
            row["seconds"] = round(time.perf_counter() - self._t0, 3)
            rows.append(row)
            with open(run_dir / "history.jsonl", "a", encoding="utf-8") as fh:
                fh.write(json.dumps(row) + "\n")
            keys = list(rows[0].keys())
            for r in rows:
                keys += [k for k in r if k not in keys]
            with open(run_dir / "history.csv", "w", encoding="utf-8") as fh:
                fh.write(",".join(keys) + "\n")
                for r in rows:
                    fh.write(",".join("" if r.get(k) is None else repr(r[k]) for k in keys) + "\n")

    return HistoryWriter()


def _versions() -> dict[str, str]:
    out = {}
    for mod in ("tensorflow", "keras", "tf2onnx", "onnx", "onnxruntime", "numpy"):
        try:
            out[mod] = __import__(mod).__version__
        except Exception:  # pragma: no cover
            pass
    from .._version import __version__

    out["btsbot_fast"] = __version__
    return out


def train(cfg: dict[str, Any], data_dir: str | Path, run_dir: str | Path, *, tag: str | None = None,
          labels: str | Path | None = None, engine: str = "native", threads: int | None = None,
          max_batches: int | None = None, verbose: int | None = None, overwrite: bool = False,
          echo: Callable[[str], None] = print) -> TrainResult:
    """Train the model ``cfg`` describes on ``data_dir`` and write a scoreable run directory."""
    run_dir = Path(run_dir)
    if run_dir.exists() and any((run_dir / f).exists() for f in (CARD_FILE, ONNX_FILE, KERAS_FILE, "history.jsonl")):
        if not overwrite:
            raise FileExistsError(f"{run_dir} already holds a training run; choose a new --out (or --overwrite)")
        for f in (CARD_FILE, ONNX_FILE, KERAS_FILE, "history.jsonl", "history.csv", "best.weights.h5"):
            (run_dir / f).unlink(missing_ok=True)
    run_dir.mkdir(parents=True, exist_ok=True)
    t_start = time.perf_counter()
    tcfg, dcfg = cfg["training"], cfg["data"]
    seed = int(tcfg["seed"])
    configure_tf(threads, seed, bool(tcfg["deterministic"]))
    import keras

    # ---- data ------------------------------------------------------------------------------------
    if labels is None and dcfg.get("labels"):
        labels = Path(data_dir) / dcfg["labels"]  # a config's labels path is relative to the data directory
    splits, kind = load_dataset(data_dir, tag=tag, labels=labels,
                                fractions=dcfg["split"], seed=int(dcfg["split_seed"]), engine=engine,
                                threads=threads or 0)
    for need in ("train", "val"):
        if need not in splits or len(splits[need]) == 0:
            raise DataError(f"{data_dir}: the {need} split is empty")
    train_set = splits["train"]
    if cfg["features"]:
        for s in splits.values():
            s.features(cfg["features"])  # fail early on a missing column
    keep = thin_per_object(train_set.objectId, tcfg["n_max"], seed)
    train_set = train_set.subset(keep) if len(keep) != len(train_set) else train_set
    weights = class_weights(train_set.labels) if tcfg["class_weights"] else None
    val_set = splits["val"]
    data_info = {
        "path": str(Path(data_dir).resolve()), "layout": kind, "tag": tag,
        "splits": {s: v.summary() for s, v in splits.items()},
        "train_after_n_max": train_set.summary(), "n_max": tcfg["n_max"],
        "class_weights": weights, "split_fractions": list(dcfg["split"]), "split_seed": int(dcfg["split_seed"]),
    }
    if splits["train"].extra.get("dropped"):
        data_info["dropped"] = splits["train"].extra["dropped"]
    echo(f"data ({kind}): " + ", ".join(f"{s} {v.summary()['alerts']} alerts / {v.summary()['objects']} objects"
                                       for s, v in splits.items())
         + f"; train after N_max={tcfg['n_max']}: {len(train_set)}; class weights {weights}")

    # ---- model -----------------------------------------------------------------------------------
    from .models import build_model

    dump_config(cfg, run_dir / "config.json")
    model = build_model(cfg)
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=float(tcfg["learning_rate"]), beta_1=float(tcfg["beta_1"]),
                                        beta_2=float(tcfg["beta_2"])),
        loss="binary_crossentropy",
        metrics=[keras.metrics.BinaryAccuracy(name="accuracy"), keras.metrics.AUC(name="auc")],
    )
    Seq = _sequence_class()
    bs = int(tcfg["batch_size"])
    train_seq = Seq(train_set, cfg, bs, train=True, weights=weights, seed=seed, max_batches=max_batches)
    val_seq = Seq(val_set, cfg, max(bs, 256), train=False)

    history: list[dict[str, Any]] = []
    ckpt = run_dir / "best.weights.h5"
    callbacks = [
        keras.callbacks.ModelCheckpoint(str(ckpt), monitor="val_loss", save_best_only=True, save_weights_only=True),
        keras.callbacks.EarlyStopping(monitor="val_loss", patience=int(tcfg["early_stopping_patience"])),
        _history_callback(run_dir, history),
    ]
    if tcfg["reduce_lr"]:
        r = tcfg["reduce_lr"]
        callbacks.append(keras.callbacks.ReduceLROnPlateau(monitor="val_loss", patience=int(r["patience"]),
                                                           factor=float(r["factor"]), min_lr=float(r["min_lr"])))
    if verbose is None:
        verbose = 1 if sys.stdout.isatty() else 2
    echo(f"training {model.name} ({model.count_params():,} parameters) for up to {tcfg['epochs']} epochs, "
         f"batch {bs}, {len(train_seq)} batches/epoch -> {run_dir}")
    model.fit(train_seq, validation_data=val_seq, epochs=int(tcfg["epochs"]), callbacks=callbacks, verbose=verbose)

    best = min(range(len(history)), key=lambda i: history[i].get("val_loss", math.inf))
    best_epoch, best_val_loss = best + 1, float(history[best].get("val_loss", math.nan))
    if ckpt.exists():
        model.load_weights(str(ckpt))
    model.save(run_dir / KERAS_FILE)

    # ---- export + parity ---------------------------------------------------------------------------
    export_onnx(model, cfg, run_dir / ONNX_FILE)
    n_par = min(len(val_set), int(tcfg["parity_samples"]))
    rows = np.arange(n_par)
    trip = val_set.triplet_rows(rows)
    meta = val_set.features(exported_feature_names(cfg), rows)
    ref = keras_predict(model, cfg, trip, meta)
    diff = parity(run_dir / ONNX_FILE, ref, trip, meta, card_spec(cfg))
    tol = float(tcfg["parity_tolerance"])
    if not diff <= tol:
        raise ParityError(f"ONNX export differs from Keras by {diff:.3g} (> {tol:g}) on {n_par} validation "
                          f"alerts; {run_dir / ONNX_FILE} is not usable")
    training_info = {
        "config": cfg, "data": data_info, "epochs_run": len(history), "best_epoch": best_epoch,
        "best_val_loss": best_val_loss, "seeds": {"seed": seed, "split_seed": int(dcfg["split_seed"])},
        "max_batches_per_epoch": max_batches, "wall_seconds": round(time.perf_counter() - t_start, 1),
        "versions": _versions(),
    }
    card = write_card(run_dir, cfg, max_abs_diff=diff, n_parity=n_par, training=training_info,
                      params=model.count_params())
    echo(f"best epoch {best_epoch} (val loss {best_val_loss:.4f}); ONNX parity max|Δ| {diff:.2g} on {n_par} "
         f"validation alerts; wrote {run_dir}")
    return TrainResult(run_dir, card, history, best_epoch, best_val_loss, diff)
