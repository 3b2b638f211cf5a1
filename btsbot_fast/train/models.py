"""Keras builders for the BTSbot architectures, driven by a training config (see ``config.py``).

``mm_cnn`` (BTSbot v1) and ``mi_cnn`` (ICML-2023) share one shape: two conv blocks of two same-padded
ReLU convolutions, each followed by max-pooling and dropout, flattened in HWC order; a metadata branch
(optional BatchNormalization on the raw features, then dense layers); concatenation; a dense head; one
sigmoid unit named ``fc_out``. Inputs are named ``triplet`` ([N, 63, 63, 3]) and ``metadata`` ([N, F]).
``inputs: image`` drops the metadata branch, ``inputs: metadata`` the convolutional one.
"""

from __future__ import annotations

from typing import Any

STAMP = 63
OUTPUT_NAME = "fc_out"


def build_model(cfg: dict[str, Any]):
    """Build (uncompiled) the Keras model the config describes."""
    import keras
    from keras import layers

    m = cfg["model"]
    kind = cfg["inputs"]
    inputs, branches = [], []

    if kind in ("both", "image"):
        triplet = keras.Input(shape=(STAMP, STAMP, 3), name="triplet", dtype="float32")
        inputs.append(triplet)
        x = triplet
        k = int(m["conv_kernel"])
        n = 0
        for block, (filters, pool, drop) in enumerate(
            zip(m["conv_filters"], m["pool_sizes"], m["conv_dropouts"]), start=1
        ):
            for _ in range(2):
                n += 1
                x = layers.Conv2D(int(filters), (k, k), padding="same", activation="relu", name=f"conv{n}")(x)
            x = layers.MaxPooling2D(pool_size=(int(pool), int(pool)), name=f"pool{block}")(x)
            if drop:
                x = layers.Dropout(float(drop), name=f"conv_dropout{block}")(x)
        branches.append(layers.Flatten(name="flatten")(x))

    if kind in ("both", "metadata"):
        nfeat = len(cfg["features"])
        metadata = keras.Input(shape=(nfeat,), name="metadata", dtype="float32")
        inputs.append(metadata)
        y = metadata
        if m["metadata_batchnorm"]:
            y = layers.BatchNormalization(epsilon=float(m["batchnorm_epsilon"]),
                                          momentum=float(m.get("batchnorm_momentum", 0.99)), name="meta_bn")(y)
        for i, (units, drop) in enumerate(zip(m["meta_dense"], m["meta_dropouts"]), start=1):
            y = layers.Dense(int(units), activation="relu", name=f"meta_fc{i}")(y)
            if drop:
                y = layers.Dropout(float(drop), name=f"meta_dropout{i}")(y)
        branches.append(y)

    z = layers.Concatenate(axis=1, name="concat")(branches) if len(branches) > 1 else branches[0]
    for i, (units, drop) in enumerate(zip(m["head_dense"], m["head_dropouts"]), start=1):
        z = layers.Dense(int(units), activation="relu", name=f"comb_fc{i}")(z)
        if drop:
            z = layers.Dropout(float(drop), name=f"comb_dropout{i}")(z)
    out = layers.Dense(1, activation="sigmoid", name=OUTPUT_NAME)(z)
    name = cfg["arch"] if kind == "both" else f"{cfg['arch']}_{kind}"
    return keras.Model(inputs=inputs, outputs=out, name=name)


def model_inputs(model, triplets, metadata):
    """The ``model(...)``/``fit`` input structure for this model: a dict keyed by input name."""
    names = [t.name.split(":")[0] for t in model.inputs]
    feed = {}
    for n in names:
        if n.startswith("triplet"):
            feed["triplet"] = triplets
        elif n.startswith("metadata"):
            feed["metadata"] = metadata
    return feed
