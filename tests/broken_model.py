"""ONNX models that break inside ONNX Runtime, for the tests that a broken runtime stops a run.

:func:`failing_model` writes a small model with BTSbot's inputs (``triplet`` (N, 63, 63, 3), ``metadata``
(N, 25)) and one score per alert. Its graph holds a ``Gather`` whose index is 0 for an ordinary batch and
out of range when any alert of the batch has ``metadata[:, column] > threshold``: ONNX Runtime then fails
that batch's run with its own error (INVALID_ARGUMENT), as a broken kernel or provider does. With
``threshold=-inf`` every batch fails; with ``nan_column`` the score of an alert whose feature there is
above ``nan_above`` is NaN (a non-finite score, the one model failure that stays a row).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np


def failing_model(path: Path, *, column: int = 0, threshold: float = -math.inf,
                  nan_column: int | None = None, nan_above: float = math.inf) -> Path:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    def const(name: str, value) -> onnx.NodeProto:
        return helper.make_node("Constant", [], [name], value=numpy_helper.from_array(np.asarray(value), name))

    nodes = [
        const("col", np.array([column], dtype=np.int64)),
        const("threshold", np.array(threshold, dtype=np.float32)),
        const("seven", np.array(7, dtype=np.int64)),
        const("one_zero", np.array([0.0], dtype=np.float32)),
        # the trigger: max over the batch of metadata[:, column] > threshold -> index 7 into a 1-element table
        helper.make_node("Gather", ["metadata", "col"], ["picked"], axis=1),
        helper.make_node("ReduceMax", ["picked"], ["batch_max"], keepdims=0),
        helper.make_node("Greater", ["batch_max", "threshold"], ["bad"]),
        helper.make_node("Cast", ["bad"], ["bad_i"], to=TensorProto.INT64),
        helper.make_node("Mul", ["bad_i", "seven"], ["index"]),
        helper.make_node("Gather", ["one_zero", "index"], ["zero"], axis=0),  # fails at run time when index 7
        # a score in (0, 1) from both inputs
        helper.make_node("ReduceMean", ["metadata"], ["m_mean"], axes=[1], keepdims=0),
        helper.make_node("ReduceMean", ["triplet"], ["t_mean"], axes=[1, 2, 3], keepdims=0),
        helper.make_node("Add", ["m_mean", "t_mean"], ["logit"]),
        helper.make_node("Sigmoid", ["logit"], ["sig"]),
        helper.make_node("Add", ["sig", "zero"], ["clean"]),
    ]
    out = "clean"
    if nan_column is not None:  # NaN where metadata[:, nan_column] > nan_above, else + 0
        nodes += [
            const("nan_col", np.array([nan_column], dtype=np.int64)),
            const("nan_above", np.array(nan_above, dtype=np.float32)),
            const("nan", np.array(math.nan, dtype=np.float32)),
            const("zero_f", np.array(0.0, dtype=np.float32)),
            helper.make_node("Gather", ["metadata", "nan_col"], ["nan_picked"], axis=1),
            helper.make_node("Flatten", ["nan_picked"], ["nan_flat2"], axis=0),
            helper.make_node("Squeeze", ["nan_flat2"], ["nan_values"]),
            helper.make_node("Greater", ["nan_values", "nan_above"], ["is_nan"]),
            helper.make_node("Where", ["is_nan", "nan", "zero_f"], ["nan_add"]),
            helper.make_node("Add", ["clean", "nan_add"], ["score"]),
        ]
        out = "score"
    graph = helper.make_graph(
        nodes, "broken_btsbot",
        [helper.make_tensor_value_info("triplet", TensorProto.FLOAT, ["N", 63, 63, 3]),
         helper.make_tensor_value_info("metadata", TensorProto.FLOAT, ["N", 25])],
        [helper.make_tensor_value_info(out, TensorProto.FLOAT, ["N"])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, path)
    return path
