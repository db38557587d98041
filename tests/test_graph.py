"""Graph view: symbolic dims, shape folding, data/static roles."""
from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

import onnxlayer
from builders import model, value, weight


def reshape_by_arithmetic():
    """x[batch, 8] → Reshape to [batch, 2, N] with N = Cast(Div(Shape(x)[1], 2)); a Relu after.

    The value_info declares the output with the symbol 'batch', as exporters do.
    """
    c = lambda name, v: numpy_helper.from_array(np.array(v, dtype=np.int64), name)  # noqa: E731
    nodes = [
        helper.make_node("Shape", ["x"], ["s"]),
        helper.make_node("Gather", ["s", "i1"], ["n"], axis=0),
        helper.make_node("Div", ["n", "two"], ["h"]),
        helper.make_node("Cast", ["h"], ["hf"], to=TensorProto.FLOAT),
        helper.make_node("Cast", ["hf"], ["hi"], to=TensorProto.INT64),
        helper.make_node("Unsqueeze", ["hi", "ax0"], ["hu"]),
        helper.make_node("Concat", ["minus1", "two1", "hu"], ["shape"], axis=0),
        helper.make_node("Reshape", ["x", "shape"], ["r"], name="/reshape"),
        helper.make_node("Relu", ["r"], ["y"], name="/relu"),
    ]
    inits = [c("i1", 1), c("two", 2), c("ax0", [0]), c("minus1", [-1]), c("two1", [2])]
    m = model(nodes, [value("x", "batch", 8)], [value("y", "batch", 2, "n")], inits)
    m.graph.value_info.append(helper.make_tensor_value_info("r", TensorProto.FLOAT, ["batch", 2, "n"]))
    return m


def test_shape_arithmetic_is_folded_and_batch_symbol_fixed():
    r = onnxlayer.analyze(reshape_by_arithmetic())
    relu = r.leaf("/relu")
    assert relu.groups[0].units == 8 and relu.d_in == 8


def test_symbolic_non_batch_dim_needs_input_shape():
    m = model([helper.make_node("Relu", ["x"], ["y"], name="/relu")], [value("x", "batch", "seq")], [value("y", "batch", "seq")])
    with pytest.raises(onnxlayer.ShapeError, match="seq"):
        onnxlayer.analyze(m)
    r = onnxlayer.analyze(m, {"x": (1, 5)})
    assert r.summary.input_dim == 5


def test_input_shape_symbol_propagates_to_value_info():
    m = model([helper.make_node("Relu", ["x"], ["y"], name="/relu")], [value("x", "batch", "seq")], [value("y", "batch", "seq")])
    m.graph.value_info.append(helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", "seq"]))
    assert onnxlayer.analyze(m, {"x": (1, 7)}).summary.units == 7


def test_static_subgraph_is_not_data():
    """A weight transposed by a node stays static; its elements count as parameters."""
    nodes = [helper.make_node("Transpose", ["w"], ["wt"], perm=[1, 0]), helper.make_node("MatMul", ["x", "wt"], ["y"], name="/mm")]
    r = onnxlayer.analyze(model(nodes, [value("x", 1, 3)], [value("y", 1, 5)], [weight("w", 5, 3)]))
    assert [l.op_type for l in r.leaves] == ["MatMul"]
    assert r.summary.params == 15 and r.leaves[0].rank_cap == 3


def test_overriding_a_concrete_input_dim_recomputes_declared_shapes():
    """A model declaring [1, 4, 8, 8] outputs, analysed at 4x4: the declared output is stale."""
    conv = helper.make_node("Conv", ["x", "w"], ["y"], name="/conv", kernel_shape=[3, 3], pads=[1, 1, 1, 1])
    m = model([conv], [value("x", 1, 2, 8, 8)], [value("y", 1, 4, 8, 8)], [weight("w", 4, 2, 3, 3)])
    r = onnxlayer.analyze(m, {"x": (1, 2, 4, 4)})
    assert r.summary.input_dim == 32 and r.summary.output_dim == 4 * 16
