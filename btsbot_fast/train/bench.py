"""Time training steps of an architecture on random data of the real shape, to estimate epoch cost.

    python -m btsbot_fast.train.bench [--arch mm_cnn] [--batch-size 64] [--batches 25] [--threads 0]
                                      [--train-alerts 327000] [--val-alerts 37000]

It runs ``batches`` real training steps (the same input pipeline as ``btsbot-fast train``: batch
gathering, flips/rotations, class-weighted BCE, Adam) after two warm-up steps, times a validation-style
forward pass, and extrapolates to one epoch of ``train_alerts`` (+ a validation pass over ``val_alerts``).
"""

from __future__ import annotations

import json
import time

import numpy as np


def time_training(arch: str = "mm_cnn", batch_size: int = 64, batches: int = 25, threads: int | None = None,
                  train_alerts: int = 327_000, val_alerts: int = 37_000, seed: int = 0) -> dict:
    from ..prep.variant import FEATURE_NAMES
    from .config import make_config
    from .data import AlertSet
    from .models import build_model
    from .trainer import _sequence_class, configure_tf

    configure_tf(threads, seed)
    import keras

    cfg = make_config(arch=arch)
    rng = np.random.default_rng(seed)
    n = batch_size * (batches + 2)
    trip = rng.normal(size=(n, 63, 63, 3)).astype(np.float32)
    trip /= np.sqrt((trip.astype(np.float64) ** 2).sum(axis=(1, 2), keepdims=True)).astype(np.float32)
    meta = rng.normal(size=(n, len(FEATURE_NAMES))).astype(np.float32)
    labels = (rng.random(n) < 0.3).astype(np.int8)
    data = AlertSet(trip, meta, labels, np.array([f"o{i // 5}" for i in range(n)], dtype=object),
                    np.arange(n, dtype=np.int64), np.arange(n, dtype=float), np.full(n, 18.0))
    model = build_model(cfg)
    t = cfg["training"]
    model.compile(optimizer=keras.optimizers.Adam(t["learning_rate"], beta_1=t["beta_1"], beta_2=t["beta_2"]),
                  loss="binary_crossentropy",
                  metrics=[keras.metrics.BinaryAccuracy(name="accuracy"), keras.metrics.AUC(name="auc")])
    seq = _sequence_class()(data, cfg, batch_size, train=True, weights={0: 0.4, 1: 1.0}, seed=seed)
    stamps: list[float] = []

    class Clock(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            stamps.append(time.perf_counter())

    model.fit(seq, epochs=1, verbose=0, callbacks=[Clock()])
    steady = np.diff(stamps[1:])  # drop the first step (tracing) and time the rest
    s_per_batch = float(np.median(steady))
    vb = min(256, n)
    feed = {"triplet": trip[:vb], "metadata": meta[:vb][:, :len(cfg["features"])]}
    model.predict(feed, batch_size=vb, verbose=0)
    t0 = time.perf_counter()
    model.predict(feed, batch_size=vb, verbose=0)
    s_per_val_alert = (time.perf_counter() - t0) / vb
    train_s = s_per_batch * np.ceil(train_alerts / batch_size)
    val_s = s_per_val_alert * val_alerts
    return {
        "arch": arch, "batch_size": batch_size, "timed_batches": int(len(steady)),
        "threads": threads or "default", "s_per_batch_median": round(s_per_batch, 4),
        "s_per_batch_mean": round(float(np.mean(steady)), 4), "s_per_val_alert": round(s_per_val_alert, 6),
        "train_alerts": train_alerts, "val_alerts": val_alerts,
        "epoch_train_minutes": round(train_s / 60, 1), "epoch_val_minutes": round(val_s / 60, 1),
        "epoch_total_hours": round((train_s + val_s) / 3600, 2),
    }


def main(argv=None) -> None:
    import click

    @click.command(help=__doc__.split("\n\n")[0])
    @click.option("--arch", default="mm_cnn", show_default=True)
    @click.option("--batch-size", default=64, show_default=True)
    @click.option("--batches", default=25, show_default=True)
    @click.option("--threads", default=0, show_default=True, help="TF threads (0 = TF default)")
    @click.option("--train-alerts", default=327_000, show_default=True)
    @click.option("--val-alerts", default=37_000, show_default=True)
    def cmd(arch, batch_size, batches, threads, train_alerts, val_alerts):
        click.echo(json.dumps(time_training(arch, batch_size, batches, threads or None, train_alerts, val_alerts),
                              indent=2))

    cmd.main(args=argv, prog_name="python -m btsbot_fast.train.bench", standalone_mode=True)


if __name__ == "__main__":
    main()
