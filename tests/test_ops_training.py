"""ops/training.py: Gradient adds no units; the optimizers' updates count SPEC §2 units per
element (x²: 81 pieces, 1/x: 25, √x on [0, B] from the literal segmentation)."""
from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import onnx_corpus
import onnxlayer
from builders import value
from op_models import units
from spec_chords import spec_pieces

TRAINING = "ai.onnx.preview.training"


def _optimizer(op, blocks, r_is_data=True, **attrs):
    """One `op` node over X [1,3] and its state tensors `blocks` (G, V, H, ...), R and T first."""
    names = ["X", *blocks]
    inputs = [value(n, 1, 3) for n in names] + [helper.make_tensor_value_info("T", TensorProto.INT64, [])]
    inits = []
    if r_is_data:
        inputs.append(helper.make_tensor_value_info("R", TensorProto.FLOAT, []))
    else:
        inits.append(numpy_helper.from_array(np.array(0.1, np.float32), "R"))
    updated = ["X"] + [b for b in blocks if b != "G"]
    outputs = [value(f"{n}_new", 1, 3) for n in updated]
    node = helper.make_node(op, ["R", "T", *names], [o.name for o in outputs], name=f"/{op}", domain=TRAINING, **attrs)
    graph = helper.make_graph([node], "g", inputs, outputs, inits)
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid(TRAINING, 1)])
    (leaf,) = onnxlayer.analyze(m).leaves
    return leaf


@pytest.mark.parametrize("op, blocks", [("Adagrad", ["G", "H"]), ("Adam", ["G", "V", "H"])])
def test_adaptive_optimizers_square_root_and_divide_each_element(op, blocks):
    """3 elements: G′² (x²), √H′, 1/(√H′ + ε), then G′ (or V′) times it and R times that: 2 products."""
    leaf = _optimizer(op, blocks)
    assert units(leaf) == [(3, 81), (3, spec_pieces(np.sqrt, 0, 8)), (3, 25), (2 * 6, 81)]
    assert leaf.rank_cap == 3 * (len(blocks))  # X and the state tensors it updates
    assert units(_optimizer(op, blocks, r_is_data=False))[-1] == (2 * 3, 81)  # a stored R scales linearly


def test_momentum_multiplies_by_a_data_learning_rate():
    assert units(_optimizer("Momentum", ["G", "V"], alpha=0.9, beta=0.1, mode="standard", norm_coefficient=0.0)) == \
        [(2 * 3, 81)]
    fixed = _optimizer("Momentum", ["G", "V"], r_is_data=False, alpha=0.9, beta=0.1, mode="nesterov", norm_coefficient=0.0)
    assert fixed.kind == "linear" and units(fixed) == []


def test_gradient_adds_no_units():
    """onnx's shipped test_gradient_of_add_and_mul: d = (a + b)·a and its gradient d(d)/d(a, b)."""
    m = onnx.load(onnx_corpus.DATA_DIR / "simple" / "test_gradient_of_add_and_mul" / "model.onnx")
    r = onnxlayer.analyze(m)
    (grad,) = [leaf for leaf in r.leaves if leaf.op_type == "Gradient"]
    assert (grad.kind, units(grad), grad.rank_cap) == ("structural", [], 2)
    assert r.summary.opaque_leaves == 0
