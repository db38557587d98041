"""SPEC §4: fused-op and decomposed exports of the same block agree."""
from __future__ import annotations

import numpy as np
import pytest
from onnx import helper, numpy_helper

import onnxlayer
from builders import model, value
from spec_chords import spec_pieces


def const(name, v, dtype=np.float32):
    return numpy_helper.from_array(np.array(v, dtype=dtype), name)


def block(nodes, inits=(), shape=(1, 16), opset=20, xin="x", yout="y"):
    return model(nodes, [value(xin, *shape)], [value(yout, *shape)], list(inits), opset=opset)


def n(op, ins, outs, **kw):
    return helper.make_node(op, ins, outs, **kw)


def units(result):
    return [(leaf.op_type, [(g.units, g.pieces) for g in leaf.groups]) for leaf in result.leaves if leaf.groups]


def same(a, b):
    ra, rb = onnxlayer.analyze(a), onnxlayer.analyze(b)
    assert ra.summary.complexity_bits == pytest.approx(rb.summary.complexity_bits, rel=1e-12)
    assert ra.summary.intrinsic_power == pytest.approx(rb.summary.intrinsic_power, abs=1e-12)
    return ra, rb


def test_silu_decomposed_equals_swish_op():
    dec = block([n("Sigmoid", ["x"], ["s"]), n("Mul", ["x", "s"], ["y"])])
    op = block([n("Swish", ["x"], ["y"])], opset=24)
    ra, _ = same(dec, op)
    assert units(ra) == [("FusedUnary", [(16, 13)])]  # SPEC table: x·Sigmoid(x) = 13


def test_gelu_erf_decomposed_equals_gelu_op():
    dec = block(
        [n("Div", ["x", "r2"], ["a"]), n("Erf", ["a"], ["b"]), n("Add", ["b", "one"], ["c"]),
         n("Mul", ["x", "c"], ["d"]), n("Mul", ["d", "half"], ["y"])],
        [const("r2", np.sqrt(2.0)), const("one", 1.0), const("half", 0.5)],
    )
    ra, _ = same(dec, block([n("Gelu", ["x"], ["y"])]))
    assert units(ra) == [("FusedUnary", [(16, 11)])]  # SPEC table: Gelu (erf) = 11


def test_gelu_tanh_decomposed_equals_gelu_tanh_op():
    c = np.sqrt(2.0 / np.pi)
    dec = block(
        [n("Mul", ["x", "half"], ["h"]), n("Pow", ["x", "three"], ["p"]), n("Mul", ["p", "k"], ["q"]),
         n("Add", ["x", "q"], ["s"]), n("Mul", ["s", "c"], ["t"]), n("Tanh", ["t"], ["u"]),
         n("Add", ["u", "one"], ["v"]), n("Mul", ["h", "v"], ["y"])],
        [const("half", 0.5), const("three", 3.0), const("k", 0.044715), const("c", c), const("one", 1.0)],
    )
    same(dec, block([n("Gelu", ["x"], ["y"], approximate="tanh")]))


def test_hardswish_decomposed_equals_op():
    dec = block(
        [n("Add", ["x", "three"], ["a"]), n("Clip", ["a", "zero", "six"], ["c"]),
         n("Mul", ["x", "c"], ["d"]), n("Div", ["d", "six"], ["y"])],
        [const("three", 3.0), const("zero", 0.0), const("six", 6.0)],
    )
    ra, _ = same(dec, block([n("HardSwish", ["x"], ["y"])]))
    assert units(ra) == [("FusedUnary", [(16, 15)])]


def test_mish_decomposed_equals_op():
    dec = block([n("Softplus", ["x"], ["s"]), n("Tanh", ["s"], ["t"]), n("Mul", ["x", "t"], ["y"])])
    ra, _ = same(dec, block([n("Mish", ["x"], ["y"])]))
    assert units(ra) == [("FusedUnary", [(16, 12)])]


def test_softplus_chain_equals_op():
    dec = block([n("Exp", ["x"], ["e"]), n("Add", ["e", "one"], ["a"]), n("Log", ["a"], ["y"])], [const("one", 1.0)])
    same(dec, block([n("Softplus", ["x"], ["y"])]))


@pytest.mark.parametrize("max_subtraction", [True, False])
@pytest.mark.parametrize("reciprocal", [True, False])
def test_softmax_decomposed_equals_op(max_subtraction, reciprocal):
    shape = (1, 4, 8)
    nodes, x = [], "x"
    if max_subtraction:
        nodes += [n("ReduceMax", ["x"], ["m"], axes=[2], keepdims=1), n("Sub", ["x", "m"], ["z"])]
        x = "z"
    nodes += [n("Exp", [x], ["e"]), n("ReduceSum", ["e", "axes"], ["s"], keepdims=1)]
    if reciprocal:
        nodes += [n("Reciprocal", ["s"], ["r"]), n("Mul", ["e", "r"], ["y"])]
    else:
        nodes += [n("Div", ["e", "s"], ["y"])]
    dec = block(nodes, [const("axes", [2], np.int64)], shape=shape, opset=17)
    ra, _ = same(dec, block([n("Softmax", ["x"], ["y"], axis=2)], shape=shape, opset=17))
    # SPEC §2: G=4 max units with p=n=8, G·n=32 exp units with p=8
    assert units(ra) == [("Softmax", [(4, 8), (32, 8)])]
    assert ra.leaves[-1].rank_cap == 4 * 7


@pytest.mark.parametrize("square", ["Pow", "Mul"])
@pytest.mark.parametrize("divide", ["Div", "ReciprocalMul"])
@pytest.mark.parametrize("affine", [True, False])
def test_layernorm_decomposed_equals_op(square, divide, affine):
    shape = (1, 6, 32)
    nodes = [n("ReduceMean", ["x"], ["mu"], axes=[-1], keepdims=1), n("Sub", ["x", "mu"], ["d"])]
    nodes.append(n("Pow", ["d", "two"], ["sq"]) if square == "Pow" else n("Mul", ["d", "d"], ["sq"]))
    nodes += [n("ReduceMean", ["sq"], ["var"], axes=[-1], keepdims=1), n("Add", ["var", "eps"], ["ve"]), n("Sqrt", ["ve"], ["sd"])]
    out = "y" if not affine else "nrm"
    if divide == "Div":
        nodes.append(n("Div", ["d", "sd"], [out]))
    else:
        nodes += [n("Reciprocal", ["sd"], ["inv"]), n("Mul", ["d", "inv"], [out])]
    inits = [const("two", 2.0), const("eps", 1e-5)]
    if affine:
        nodes += [n("Mul", ["nrm", "gamma"], ["g"]), n("Add", ["g", "beta"], ["y"])]
        inits += [const("gamma", np.ones(32)), const("beta", np.zeros(32))]
    dec = block(nodes, inits, shape=shape, opset=17)
    op_inits = [const("gamma", np.ones(32)), const("beta", np.zeros(32))]
    op = block([n("LayerNormalization", ["x", "gamma", "beta"], ["y"], axis=-1)], op_inits, shape=shape, opset=17)
    ra, _ = same(dec, op)
    assert units(ra) == [("LayerNormalization", [(6, 14)])]  # G=6 units of 1/√x (14 pieces)
    assert ra.leaves[-1].rank_cap == 6 * 32 - 2 * 6


def test_qdq_pair_is_identity():
    """An int8 zero point of 0 sits mid-range: the pair is the identity, its reader reads x itself."""
    inits = [const("s", 0.1), const("z", 0, np.int8)]
    dec = block([n("QuantizeLinear", ["x", "s", "z"], ["q"]), n("DequantizeLinear", ["q", "s", "z"], ["dq"]), n("Relu", ["dq"], ["y"])], inits)
    plain = block([n("Relu", ["x"], ["y"])])
    ra, _ = same(dec, plain)
    assert [(leaf.op_type, leaf.d_in) for leaf in ra.leaves] == [("Relu", 16)]


@pytest.mark.parametrize("dtype,zero_point", [(np.uint8, 0), (np.int8, -128)])
def test_qdq_pair_with_the_bottom_zero_point_is_a_relu(dtype, zero_point):
    """SPEC v1.1 §4 (d): quantizers fold a ReLU into the range's bottom; the pair stands for it."""
    inits = [const("s", 0.1), const("z", zero_point, dtype)]
    dec = block([n("QuantizeLinear", ["x", "s", "z"], ["q"]), n("DequantizeLinear", ["q", "s", "z"], ["y"])], inits)
    ra, _ = same(dec, block([n("Relu", ["x"], ["y"])]))
    assert units(ra) == [("Relu", [(16, 2)])]


def test_qdq_pair_on_non_negative_data_clamps_nothing():
    """After a Relu (and a max pool of it) the bottom zero point folds no second ReLU."""
    inits = [const("s", 0.1), const("z", -128, np.int8)]
    dec = block([n("Relu", ["x"], ["r"]), n("QuantizeLinear", ["r", "s", "z"], ["q"]),
                 n("DequantizeLinear", ["q", "s", "z"], ["y"])], inits)
    ra, _ = same(dec, block([n("Relu", ["x"], ["y"])]))
    assert units(ra) == [("Relu", [(16, 2)])]


def test_single_activation_after_affine_is_not_fused():
    """Relu(x + b) keeps the Relu rule: its pieces must not depend on bias values."""
    m = block([n("Add", ["x", "b"], ["a"]), n("Relu", ["a"], ["y"])], [const("b", np.full(16, 20.0))])
    r = onnxlayer.analyze(m)
    assert units(r) == [("Relu", [(16, 2)])]


def test_fusion_can_be_disabled():
    dec = block([n("Sigmoid", ["x"], ["s"]), n("Mul", ["x", "s"], ["y"])])
    r = onnxlayer.analyze(dec, fuse=False)
    # Sigmoid units (9 pieces) and a product of two data tensors (two squares per element)
    assert units(r) == [("Sigmoid", [(16, 9)]), ("Mul", [(32, 81)])]


def test_per_channel_constants_take_the_maximum():
    """PReLU-like chain with per-channel slopes: fused pieces are the max over channels."""
    slopes = np.array([0.0, 0.1, 0.5, 1.0], dtype=np.float32).reshape(4, 1)
    shape = (1, 4, 8)
    dec = block([n("Sigmoid", ["x"], ["s"]), n("Mul", ["x", "s"], ["t"]), n("PRelu", ["t", "slope"], ["y"])],
                [numpy_helper.from_array(slopes, "slope")], shape=shape)
    r = onnxlayer.analyze(dec)
    (leaf,) = [l for l in r.leaves if l.groups]
    expected = max(spec_pieces(lambda x, a=a: np.where(x / (1 + np.exp(-x)) >= 0, 1, a) * x / (1 + np.exp(-x)), -8, 8)
                   for a in slopes.ravel())
    assert leaf.groups[0].pieces == expected


@pytest.mark.parametrize("layout", [None, "Transpose", "Reshape"])
def test_normalization_through_layout_noops_on_statistics(layout):
    """tf2onnx leaves Transposes of size-1 axes on NHWC means (Keras ConvNeXt); they are no-ops."""
    shape = (1, 4, 3, 3)
    nodes = [n("ReduceMean", ["x", "axes"], ["mu"], keepdims=1)]
    inits = [const("axes", [1], np.int64), const("eps", 1e-5)]
    mean = "mu"
    if layout == "Transpose":
        nodes.append(n("Transpose", ["mu"], ["mt"], perm=[1, 0, 2, 3]))
        mean = "mt"
    elif layout == "Reshape":
        nodes.append(n("Reshape", ["mu", "shp"], ["mt"]))
        inits.append(const("shp", [1, 1, 3, 3], np.int64))
        mean = "mt"
    nodes += [n("Sub", ["x", mean], ["d"]), n("Mul", ["d", "d"], ["sq"]), n("ReduceMean", ["sq", "axes"], ["var"], keepdims=1),
              n("Add", ["var", "eps"], ["ve"]), n("Sqrt", ["ve"], ["sd"]), n("Div", ["d", "sd"], ["y"])]
    r = onnxlayer.analyze(block(nodes, inits, shape=shape, opset=18))
    assert units(r) == [("LayerNormalization", [(9, 14)])]  # 3×3 positions normalised over 4 channels


def test_layout_op_moving_real_axes_is_not_fused():
    shape = (1, 4, 3, 3)
    nodes = [n("Sigmoid", ["x"], ["s"]), n("Transpose", ["s"], ["st"], perm=[0, 1, 3, 2]), n("Mul", ["x", "st"], ["y"])]
    r = onnxlayer.analyze(block(nodes, shape=shape))
    assert [l.op_type for l in r.leaves if l.groups] == ["Sigmoid", "Mul"]


def test_unary_region_through_a_reshape_keeps_its_target_shape_out_of_the_constants():
    """x·σ(Reshape(x)) with a no-op Reshape: the shape tensor [1, 8, 1, 1] is no operand."""
    shape = (1, 8, 1, 1)
    nodes = [n("Sigmoid", ["x"], ["s"]), n("Reshape", ["s", "shp"], ["sr"]), n("Mul", ["x", "sr"], ["y"])]
    r = onnxlayer.analyze(block(nodes, [const("shp", [1, 8, 1, 1], np.int64)], shape=shape))
    assert units(r) == [("FusedUnary", [(8, 13)])]
