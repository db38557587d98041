"""Registry rules on single-op models: unit groups and rank caps from SPEC §2."""
from __future__ import annotations

import numpy as np
import pytest
from onnx import helper, numpy_helper

import onnxlayer
from onnxlayer.ops.conv import covered
from builders import model, value, weight


def one(op, in_shapes, out_shape, inits=(), opset=17, **attrs):
    names = [f"x{i}" for i in range(len(in_shapes))]
    init_names = [i.name for i in inits]
    node = helper.make_node(op, names + init_names, ["y"], name=f"/{op}", **attrs)
    m = model([node], [value(n, *s) for n, s in zip(names, in_shapes)], [value("y", *out_shape)], list(inits), opset=opset)
    r = onnxlayer.analyze(m)
    (leaf,) = r.leaves
    return leaf


def g(leaf):
    return [(x.units, x.pieces) for x in leaf.groups]


def test_conv_strides_larger_than_kernel_leave_inputs_unused():
    # 1x1 kernel, stride 2 on 8x8: 16 of 64 positions used; C_in=3, C_out=8
    leaf = one("Conv", [(1, 3, 8, 8)], (1, 8, 4, 4), [weight("w", 8, 3, 1, 1)], kernel_shape=[1, 1], strides=[2, 2])
    assert leaf.rank_cap == min(8 * 16, 3 * 16)
    assert leaf.macs == 8 * 16 * 3


def test_grouped_conv_rank_cap():
    # depthwise 3x3 pad 1 on 4 channels of 5x5: per group min(1·25, 1·25)
    leaf = one("Conv", [(1, 4, 5, 5)], (1, 4, 5, 5), [weight("w", 4, 1, 3, 3)], kernel_shape=[3, 3], pads=[1, 1, 1, 1], group=4)
    assert leaf.rank_cap == 4 * 25
    assert leaf.macs == 4 * 25 * 1 * 9


def test_covered_positions():
    assert covered(8, 4, 1, 2, 1, 0) == 4
    assert covered(8, 8, 3, 1, 1, 1) == 8
    assert covered(7, 3, 2, 3, 1, 0) == 5  # windows {0,1}, {3,4}, {6}
    assert covered(9, 3, 3, 3, 2, 0) == 8  # dilation 2: {0,2,4}, {3,5,7}, {6,8,(10)}


def test_maxpool_window_pieces_and_cap():
    leaf = one("MaxPool", [(1, 2, 6, 6)], (1, 2, 2, 2), kernel_shape=[3, 3], strides=[3, 3])
    assert g(leaf) == [(8, 9)]
    assert leaf.rank_cap == 8


def test_gemm_and_matmul_rank_caps():
    leaf = one("Gemm", [(1, 10)], (1, 3), [weight("w", 3, 10)], transB=1)
    assert leaf.rank_cap == 3 and leaf.macs == 30
    leaf = one("MatMul", [(1, 5, 10)], (1, 5, 4), [weight("w", 10, 4)])
    assert leaf.rank_cap == 5 * 4 and leaf.macs == 5 * 10 * 4


def test_matmul_of_two_data_tensors_is_a_product():
    leaf = one("MatMul", [(1, 3, 4), (1, 4, 5)], (1, 3, 5))
    # each of 15 outputs holds K=4 products, each two square units of 81 pieces
    assert g(leaf) == [(2 * 15 * 4, 81)] and leaf.kind == "product"


def test_div_by_data_uses_reciprocal_units():
    leaf = one("Div", [(1, 6), (1, 6)], (1, 6))
    assert g(leaf) == [(6, 25), (12, 81)]


def test_softmax_units_and_rank():
    leaf = one("Softmax", [(1, 3, 5)], (1, 3, 5), axis=-1)
    assert g(leaf) == [(3, 5), (15, 8)] and leaf.rank_cap == 3 * 4


def test_layernorm_and_groupnorm():
    leaf = one("LayerNormalization", [(1, 4, 10)], (1, 4, 10), [weight("s", 10), weight("b", 10)], axis=-1)
    assert g(leaf) == [(4, 14)] and leaf.rank_cap == 40 - 8
    leaf = one("GroupNormalization", [(1, 6, 4, 4)], (1, 6, 4, 4), [weight("s", 6), weight("b", 6)], opset=21, num_groups=3)
    assert g(leaf) == [(3, 14)] and leaf.rank_cap == 96 - 6


@pytest.mark.parametrize("op,attrs,pieces", [
    ("Relu", {}, 2), ("LeakyRelu", {}, 2), ("Abs", {}, 2), ("HardSigmoid", {}, 3), ("Sigmoid", {}, 9), ("Tanh", {}, 13),
    ("Softplus", {}, 11), ("Elu", {"alpha": 1.0}, 8), ("HardSwish", {}, 15), ("Mish", {}, 12),
])
def test_elementwise_piece_counts(op, attrs, pieces):
    leaf = one(op, [(1, 7)], (1, 7), opset=18, **attrs)
    assert g(leaf) == [(7, pieces)]


@pytest.mark.parametrize("bounds,pieces", [((0.0, 6.0), 3), ((0.0, None), 2)])
def test_clip_bounds(bounds, pieces):
    lo, hi = bounds
    inits = [numpy_helper.from_array(np.array(lo, np.float32), "lo")]
    names = ["x0", "lo"] + (["hi"] if hi is not None else [])
    if hi is not None:
        inits.append(numpy_helper.from_array(np.array(hi, np.float32), "hi"))
    node = helper.make_node("Clip", names, ["y"], name="/Clip")
    r = onnxlayer.analyze(model([node], [value("x0", 1, 5)], [value("y", 1, 5)], inits))
    assert g(r.leaves[0]) == [(5, pieces)]


def test_max_of_two_data_tensors():
    leaf = one("Max", [(1, 4), (1, 4)], (1, 4))
    assert g(leaf) == [(4, 2)]


def test_reductions():
    leaf = one("ReduceMax", [(1, 4, 6)], (1, 4, 1), axes=[2], keepdims=1)
    assert g(leaf) == [(4, 6)]
    leaf = one("ReduceMean", [(1, 4, 6)], (1, 4, 1), axes=[2], keepdims=1)
    assert leaf.kind == "linear" and leaf.rank_cap == 4


def test_pad_expand_tile_cap_is_input_size():
    pads = numpy_helper.from_array(np.array([0, 2, 0, 2], np.int64), "pads")
    leaf = one("Pad", [(1, 4)], (1, 8), [pads])
    assert leaf.rank_cap == 4 and leaf.d_out == 4


def test_integer_inputs_start_at_embedding_outputs():
    table = weight("emb", 100, 8)
    nodes = [helper.make_node("Gather", ["emb", "ids"], ["e"], name="/emb/Gather"),
             helper.make_node("Relu", ["e"], ["y"], name="/relu/Relu")]
    from onnx import TensorProto
    m = model(nodes, [value("ids", 1, 5, elem=TensorProto.INT64)], [value("y", 1, 5, 8)], [table])
    r = onnxlayer.analyze(m)
    assert r.summary.input_dim == 40  # the Gather output is the source
    assert [l.op_type for l in r.leaves] == ["Relu"]
    assert r.summary.params == 100 * 8  # embedding tables are learned weights (counted like frameworks do)


def test_batch_norm_statistics_not_counted():
    inits = [weight("s", 3), weight("b", 3), weight("m", 3), weight("v", 3)]
    leaf = one("BatchNormalization", [(1, 3, 2, 2)], (1, 3, 2, 2), inits)
    assert leaf.params == 6 and leaf.kind == "linear"


def test_unknown_op_is_opaque_with_warning():
    node = helper.make_node("Frobnicate", ["x0"], ["y"], name="/frob", domain="com.example")
    m = model([node], [value("x0", 1, 4)], [value("y", 1, 4)])
    m.opset_import.append(helper.make_opsetid("com.example", 1))
    r = onnxlayer.analyze(m)
    assert r.summary.opaque_leaves == 1 and r.leaves[0].kind == "opaque"
    assert any("Frobnicate" in w for w in r.warnings)
    with pytest.raises(onnxlayer.OpaqueLeafError):
        onnxlayer.analyze(m, strict=True)


def test_schema_function_ops_without_rule_are_expanded():
    """An op with an ONNX function body and no rule is inlined (here: a registry without Celu)."""
    from onnxlayer.registry import REGISTRY
    saved = REGISTRY._rules.pop(("", "Celu"))
    try:
        leafs = onnxlayer.analyze(model([helper.make_node("Celu", ["x0"], ["y"], name="/celu")],
                                        [value("x0", 1, 4)], [value("y", 1, 4)])).leaves
        (leaf,) = leafs  # Celu's body (Div, Elu, Mul) then fuses back into one unary unit
        assert leaf.fused == ("Div", "Elu", "Mul")
        from onnxlayer.transfer import parametric_pieces
        assert g(leaf) == [(4, parametric_pieces("celu", (1.0,), 0.01, 8.0))]
    finally:
        REGISTRY._rules[("", "Celu")] = saved
