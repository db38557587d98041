"""Quantized models (ops/quantized.py, quantization.py): the integer and QLinear ops expand into
the float op between Dequantize/QuantizeLinear, Q→DQ pairs read as the identity or a folded ReLU
(SPEC §4 d), and a quantized weight counts its elements, its scales and zero points nothing.

Each op is checked against the block written in float ops (equal C, P, P̄, D0, W, MACs) and, where
onnxruntime has a CPU kernel, for computing what the op computes (to a few quantization steps).
"""
from __future__ import annotations

import math

import numpy as np
import pytest
from onnx import TensorProto

import onnxlayer
import onnxlayer.ops  # noqa: F401  (registers the entries)
from builders import region_bits, value
from expansions import (MS, RNG, computes_the_same, expanded, ms_model, node, op_types, random, run, same_numbers, summary,
                        tensor)
from onnxlayer.registry import REGISTRY

U8, I8, I32 = np.uint8, np.int8, np.int32
IMAGE = (1, 3, 8, 8)
CONV = dict(kernel_shape=[3, 3], pads=[1, 1, 1, 1])

QUANTIZED_OPS = [(MS, op) for op in """MatMulNBits MatMulIntegerToFloat DynamicQuantizeMatMul QGemm QLinearConv
QLinearAdd QLinearMul QLinearSigmoid QLinearLeakyRelu QLinearAveragePool QLinearGlobalAveragePool QLinearConcat QLinearSoftmax
QuantizeLinear DequantizeLinear QAttention QEmbedLayerNormalization GatherBlockQuantized""".split()] + [
    ("", op) for op in "MatMulInteger ConvInteger DynamicQuantizeLinear QLinearConv QLinearMatMul".split()]


@pytest.mark.parametrize("domain,op", QUANTIZED_OPS)
def test_every_quantized_op_of_the_issue_has_an_entry(domain, op):
    entry = REGISTRY.lookup(op, domain, 21 if domain == "" else 1)
    assert entry is not None and entry.expand is not None and entry.summary and (entry.pattern or entry.no_pattern)


def scales(**values):
    """Scalar scales (float) and zero points (their integer type) named by keyword."""
    out = []
    for name, (v, dtype) in values.items():
        out.append(tensor(name, v, dtype))
    return out


def int_weight(name, *shape, dtype=I8):
    return tensor(name, RNG.integers(-20, 20, shape), dtype)


def image_feed() -> dict:
    return {"x": RNG.uniform(-1, 1, IMAGE).astype(np.float32)}


# ----------------------------------------------------------------------------- Q→DQ pairs


def qdq(x: str, out: str, scale: str = "s", zero_point: str = "z"):
    return [node("QuantizeLinear", [x, scale, zero_point], [f"{out}_q"]), node("DequantizeLinear", [f"{out}_q", scale, zero_point], [out])]


def test_pairs_inside_an_elementwise_chain_leave_it_one_unit():
    """Gelu with a Q→DQ pair after every op (a QDQ-quantized model) is the Gelu chain (SPEC §4 a)."""
    inits = scales(s=(0.05, np.float32), z=(0, I8), r2=(math.sqrt(2), np.float32), one=(1.0, np.float32), half=(0.5, np.float32))
    chain = (qdq("x", "xq") + [node("Div", ["xq", "r2"], ["d"])] + qdq("d", "dq") + [node("Erf", ["dq"], ["e"])] + qdq("e", "eq")
             + [node("Add", ["eq", "one"], ["a"])] + qdq("a", "aq") + [node("Mul", ["xq", "aq"], ["m"])] + qdq("m", "mq")
             + [node("Mul", ["mq", "half"], ["y"])])
    plain = [node("Div", ["x", "r2"], ["d"]), node("Erf", ["d"], ["e"]), node("Add", ["e", "one"], ["a"]), node("Mul", ["x", "a"], ["m"]),
             node("Mul", ["m", "half"], ["y"])]
    shape = [value("x", 1, 16)], [value("y", 1, 16)]
    got = same_numbers(ms_model(chain, *shape, inits), ms_model(plain, *shape, inits))
    assert got["complexity_bits"] == pytest.approx(16 * math.log2(11))  # SPEC table: Gelu (erf) 11 pieces


def test_pairs_with_the_bottom_zero_point_after_relu_and_pooling_clamp_nothing():
    """Quantized ResNet stem: conv, its ReLU folded into the uint8 range, max pool, whose pair sits on
    non-negative data (one ReLU, as in the float export)."""
    inits = [random("w", 4, 3, 3, 3)] + scales(s=(0.05, np.float32), z=(0, U8))
    quantized = ([node("Conv", ["x", "w"], ["c"], **CONV)] + qdq("c", "cr") + [node("MaxPool", ["cr"], ["p"], kernel_shape=[2, 2], strides=[2, 2])]
                 + qdq("p", "y"))
    plain = [node("Conv", ["x", "w"], ["c"], **CONV), node("Relu", ["c"], ["cr"]), node("MaxPool", ["cr"], ["y"], kernel_shape=[2, 2], strides=[2, 2])]
    shape = [value("x", *IMAGE)], [value("y", 1, 4, 4, 4)]
    got = same_numbers(ms_model(quantized, *shape, inits), ms_model(plain, *shape, inits[:1]))
    assert got["complexity_bits"] == pytest.approx(region_bits(256, 2, 192) + 64 * 2)  # as SPEC §5 example 2


def test_scales_and_zero_points_are_not_weights():
    inits = [int_weight("wq", 4, 3, 3, 3)] + scales(s=(0.05, np.float32), z=(0, I8), ws=(0.01, np.float32), wz=(0, I8))
    quantized = qdq("x", "xq") + [node("DequantizeLinear", ["wq", "ws", "wz"], ["w"]), node("Conv", ["xq", "w"], ["y"], **CONV)]
    s = summary(ms_model(quantized, [value("x", *IMAGE)], [value("y", 1, 4, 8, 8)], inits))
    assert s["params"] == 4 * 27 and s["macs"] == 4 * 64 * 27


def test_repeated_dequantize_nodes_are_one_lookup_and_one_source():
    """onnxruntime gives each reader its own DequantizeLinear; the embedding lookup stays one source."""
    table = int_weight("table", 10, 4, dtype=U8)
    inits = [table] + scales(s=(0.1, np.float32), z=(128, U8))
    nodes = [node("Gather", ["table", "ids"], ["rows"]), node("DequantizeLinear", ["rows", "s", "z"], ["e1"]),
             node("DequantizeLinear", ["rows", "s", "z"], ["e2"]), node("Add", ["e1", "e2"], ["y"])]
    s = summary(ms_model(nodes, [value("ids", 1, 3, elem=TensorProto.INT64)], [value("y", 1, 3, 4)], inits))
    assert s["input_dim"] == 12 and s["params"] == 40


# ----------------------------------------------------------------------------- integer ops (quantize_dynamic)


def dynamic_matmul(k: int, n: int):
    """What quantize_dynamic writes for x·W + b: DynamicQuantizeLinear, MatMulInteger, the rescale."""
    inits = [int_weight("wq", k, n)] + scales(ws=(0.02, np.float32), wz=(0, I8)) + [random("b", n)]
    nodes = [node("DynamicQuantizeLinear", ["x"], ["xq", "xs", "xz"]), node("MatMulInteger", ["xq", "wq", "xz", "wz"], ["acc"]),
             node("Cast", ["acc"], ["accf"], to=TensorProto.FLOAT), node("Mul", ["xs", "ws"], ["scale"]),
             node("Mul", ["accf", "scale"], ["mm"]), node("Add", ["mm", "b"], ["y"])]
    return nodes, inits


def test_dynamic_quantization_is_the_float_matmul():
    """The rescale multiplies by quantization metadata, not by data: no product units."""
    nodes, inits = dynamic_matmul(8, 6)
    quantized = ms_model(nodes, [value("x", 1, 5, 8)], [value("y", 1, 5, 6)], inits)
    plain = ms_model([node("MatMul", ["x", "w"], ["mm"]), node("Add", ["mm", "b"], ["y"])], [value("x", 1, 5, 8)], [value("y", 1, 5, 6)],
                     [random("w", 8, 6), random("b", 6)])
    got = same_numbers(quantized, plain)
    assert got["complexity_bits"] == 0 and got["params"] == 8 * 6 + 6 and got["macs"] == 5 * 8 * 6
    computes_the_same(quantized, {"x": RNG.uniform(-1, 1, (1, 5, 8)).astype(np.float32)}, atol=0.05)


def test_conv_integer_is_the_float_conv():
    inits = [int_weight("wq", 4, 3, 3, 3)] + scales(ws=(0.02, np.float32), wz=(0, I8))
    nodes = [node("DynamicQuantizeLinear", ["x"], ["xq", "xs", "xz"]), node("ConvInteger", ["xq", "wq", "xz", "wz"], ["acc"], **CONV),
             node("Cast", ["acc"], ["accf"], to=TensorProto.FLOAT), node("Mul", ["xs", "ws"], ["scale"]), node("Mul", ["accf", "scale"], ["c"]),
             node("Relu", ["c"], ["y"])]
    quantized = ms_model(nodes, [value("x", *IMAGE)], [value("y", 1, 4, 8, 8)], inits)
    plain = ms_model([node("Conv", ["x", "w"], ["c"], **CONV), node("Relu", ["c"], ["y"])], [value("x", *IMAGE)], [value("y", 1, 4, 8, 8)],
                     [random("w", 4, 3, 3, 3)])
    same_numbers(quantized, plain)
    computes_the_same(quantized, image_feed(), atol=0.05)


def test_per_channel_dynamic_quantization_counts_no_scale():
    """quantize_dynamic(per_channel=True): the weight's scales, one per output column, multiply
    into the input's scale, which rescales the integer product: quantization parameters, not
    weights (SPEC §3), so W is the float layer's k·n + n, not k·n + 2n."""
    k, n = 8, 6
    inits = [int_weight("wq", k, n), tensor("ws", RNG.uniform(0.01, 0.03, n), np.float32), tensor("wz", np.zeros(n), I8),
             random("b", n)]
    nodes = [node("DynamicQuantizeLinear", ["x"], ["xq", "xs", "xz"]), node("MatMulInteger", ["xq", "wq", "xz", "wz"], ["acc"]),
             node("Cast", ["acc"], ["accf"], to=TensorProto.FLOAT), node("Mul", ["xs", "ws"], ["scale"]),
             node("Mul", ["accf", "scale"], ["mm"]), node("Add", ["mm", "b"], ["y"])]
    quantized = ms_model(nodes, [value("x", 1, 5, k)], [value("y", 1, 5, n)], inits)
    plain = ms_model([node("MatMul", ["x", "w"], ["mm"]), node("Add", ["mm", "b"], ["y"])], [value("x", 1, 5, k)], [value("y", 1, 5, n)],
                     [random("w", k, n), random("b", n)])
    got = same_numbers(quantized, plain)
    assert got["params"] == k * n + n and got["macs"] == 5 * k * n
    computes_the_same(quantized, {"x": RNG.uniform(-1, 1, (1, 5, k)).astype(np.float32)}, atol=0.05)


def test_per_channel_conv_integer_counts_no_scale():
    """The per-channel scales of a ConvInteger's weight, reshaped to (channels, 1, 1) to rescale its
    output: W is the float Conv's 4·3·3·3."""
    inits = [int_weight("wq", 4, 3, 3, 3), tensor("ws", RNG.uniform(0.01, 0.03, 4), np.float32), tensor("wz", 0, I8),
             tensor("shape", [4, 1, 1], np.int64)]
    nodes = [node("DynamicQuantizeLinear", ["x"], ["xq", "xs", "xz"]), node("ConvInteger", ["xq", "wq", "xz", "wz"], ["acc"], **CONV),
             node("Cast", ["acc"], ["accf"], to=TensorProto.FLOAT), node("Mul", ["xs", "ws"], ["scale"]),
             node("Reshape", ["scale", "shape"], ["scale_c"]), node("Mul", ["accf", "scale_c"], ["c"]), node("Relu", ["c"], ["y"])]
    quantized = ms_model(nodes, [value("x", *IMAGE)], [value("y", 1, 4, 8, 8)], inits)
    plain = ms_model([node("Conv", ["x", "w"], ["c"], **CONV), node("Relu", ["c"], ["y"])], [value("x", *IMAGE)], [value("y", 1, 4, 8, 8)],
                     [random("w", 4, 3, 3, 3)])
    assert same_numbers(quantized, plain)["params"] == 4 * 3 * 3 * 3
    computes_the_same(quantized, image_feed(), atol=0.05)


def test_conv_integer_with_a_zero_point_per_channel_computes_its_definition():
    """ONNX lets ConvInteger's weight zero point be one per output channel; onnxruntime runs only one
    for all, so the expansion (a per-axis DequantizeLinear with unit scales of the zero point's
    shape) is run against the op's definition in numpy: Conv(x − x_zp, w − w_zp[c]), in integers."""
    x = RNG.integers(0, 255, IMAGE).astype(U8)
    w = RNG.integers(-20, 20, (4, 3, 3, 3)).astype(I8)
    w_zp = np.array([0, 3, -5, 7], dtype=I8)
    inits = [tensor("wq", w, I8), tensor("xz", 128, U8), tensor("wz", w_zp, I8)]
    nodes = [node("ConvInteger", ["x", "wq", "xz", "wz"], ["acc"], **CONV), node("Cast", ["acc"], ["y"], to=TensorProto.FLOAT)]
    m = ms_model(nodes, [value("x", *IMAGE, elem=TensorProto.UINT8)], [value("y", 1, 4, 8, 8)], inits)
    padded = np.pad(x.astype(np.int64) - 128, ((0, 0), (0, 0), (1, 1), (1, 1)))
    kernels = w.astype(np.int64) - w_zp.astype(np.int64)[:, None, None, None]
    want = np.array([[[[np.sum(padded[0, :, i:i + 3, j:j + 3] * kernels[c]) for j in range(8)] for i in range(8)]
                      for c in range(4)]], dtype=np.float64)
    (got,) = run(expanded(m), {"x": x})
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("op", ["MatMulIntegerToFloat", "DynamicQuantizeMatMul"])
def test_runtime_fused_integer_matmuls_are_the_float_matmul(op):
    """What a session makes of quantize_dynamic's MatMul (onnxruntime's level-2 fusions)."""
    inits = [int_weight("wq", 8, 6)] + scales(ws=(0.02, np.float32), wz=(0, I8)) + [random("b", 6)]
    if op == "MatMulIntegerToFloat":
        nodes = [node("DynamicQuantizeLinear", ["x"], ["xq", "xs", "xz"]),
                 node(op, ["xq", "wq", "xs", "ws", "xz", "wz", "b"], ["y"], domain=MS)]
    else:
        nodes = [node(op, ["x", "wq", "ws", "wz", "b"], ["y"], domain=MS)]
    quantized = ms_model(nodes, [value("x", 1, 5, 8)], [value("y", 1, 5, 6)], inits)
    plain = ms_model([node("MatMul", ["x", "w"], ["mm"]), node("Add", ["mm", "b"], ["y"])], [value("x", 1, 5, 8)], [value("y", 1, 5, 6)],
                     [random("w", 8, 6), random("b", 6)])
    same_numbers(quantized, plain)
    computes_the_same(quantized, {"x": RNG.uniform(-1, 1, (1, 5, 8)).astype(np.float32)}, atol=0.05)


def test_matmul_nbits_counts_its_k_by_n_weight():
    """A 4-bit K×N weight in blocks of 16 along K: K·N parameters (SPEC §3), not its packed bytes or scales."""
    k, n, block = 32, 6, 16
    blocks = k // block
    inits = [tensor("packed", RNG.integers(0, 255, (n, blocks, block // 2)), U8), random("scales", n, blocks),
             tensor("zp", RNG.integers(0, 255, (n, 1)), U8), random("bias", n)]
    quantized = ms_model([node("MatMulNBits", ["x", "packed", "scales", "zp", "", "bias"], ["y"], domain=MS, K=k, N=n, bits=4,
                               block_size=block)], [value("x", 1, 5, k)], [value("y", 1, 5, n)], inits)
    plain = ms_model([node("MatMul", ["x", "w"], ["mm"]), node("Add", ["mm", "bias"], ["y"])], [value("x", 1, 5, k)], [value("y", 1, 5, n)],
                     [random("w", k, n), random("bias", n)])
    got = same_numbers(quantized, plain)
    assert got["params"] == k * n + n and got["macs"] == 5 * k * n


def test_gather_block_quantized_is_a_lookup_in_its_float_table():
    rows, width = 10, 32
    inits = [tensor("packed", RNG.integers(0, 255, (rows, width // 2)), U8), random("scales", rows, width // 16)]
    quantized = ms_model([node("GatherBlockQuantized", ["packed", "ids", "scales"], ["y"], domain=MS, block_size=16)],
                         [value("ids", 1, 3, elem=TensorProto.INT64)], [value("y", 1, 3, width)], inits)
    s = summary(quantized)
    assert s["input_dim"] == 3 * width and s["params"] == rows * width  # SPEC §1: d = |ids|·E


# ----------------------------------------------------------------------------- QLinear ops (quantize_static, QOperator)


def qlinear_conv(output_zero_point: int, bias: bool = True):
    inits = ([int_weight("wq", 4, 3, 3, 3), tensor("bq", RNG.integers(-100, 100, 4), I32)][:2 if bias else 1]
             + scales(xs=(0.02, np.float32), xz=(0, I8), ws=(0.01, np.float32), wz=(0, I8), ys=(0.05, np.float32), yz=(output_zero_point, I8)))
    nodes = [node("QuantizeLinear", ["x", "xs", "xz"], ["xq"]),
             node("QLinearConv", ["xq", "xs", "xz", "wq", "ws", "wz", "ys", "yz"] + (["bq"] if bias else []), ["yq"], **CONV),
             node("DequantizeLinear", ["yq", "ys", "yz"], ["y"])]
    return ms_model(nodes, [value("x", *IMAGE)], [value("y", 1, 4, 8, 8)], inits)


@pytest.mark.parametrize("output_zero_point,activation", [(0, []), (-128, [node("Relu", ["c"], ["y"])])])
def test_qlinear_conv_is_the_float_conv_and_its_folded_relu(output_zero_point, activation):
    """An int8 output zero point of −128 is the ReLU the quantizer folded into the range (SPEC v1.1 §4 d)."""
    quantized = qlinear_conv(output_zero_point)
    out = "c" if activation else "y"
    plain = ms_model([node("Conv", ["x", "w", "b"], [out], **CONV)] + activation, [value("x", *IMAGE)], [value("y", 1, 4, 8, 8)],
                     [random("w", 4, 3, 3, 3), random("b", 4)])
    got = same_numbers(quantized, plain)
    assert got["params"] == 4 * 27 + 4 and got["macs"] == 4 * 64 * 27
    computes_the_same(quantized, image_feed(), atol=0.2)


def test_qlinear_ops_leave_float_ops_and_no_quantizer_pairs():
    ours = expanded(qlinear_conv(0))
    # the weight, the bias at scale x_scale·w_scale, the conv; the output's pair read as the identity
    assert op_types(ours) == ["DequantizeLinear", "Mul", "DequantizeLinear", "Conv", "Identity"]


def qlinear_unary(op: str, out_zero_point: int = 0, **attrs):
    inits = scales(xs=(0.02, np.float32), xz=(0, I8), ys=(0.01, np.float32), yz=(out_zero_point, I8))
    nodes = [node("QuantizeLinear", ["x", "xs", "xz"], ["xq"]), node(op, ["xq", "xs", "xz", "ys", "yz"], ["yq"], domain=MS, **attrs),
             node("DequantizeLinear", ["yq", "ys", "yz"], ["y"])]
    return nodes, inits


@pytest.mark.parametrize("op,attrs,float_op,out_shape", [
    ("QLinearSigmoid", {}, node("Sigmoid", ["x"], ["y"]), (1, 3, 8, 8)),
    ("QLinearLeakyRelu", {"alpha": 0.1}, node("LeakyRelu", ["x"], ["y"], alpha=0.1), (1, 3, 8, 8)),
    ("QLinearGlobalAveragePool", {}, node("GlobalAveragePool", ["x"], ["y"]), (1, 3, 1, 1)),
    ("QLinearAveragePool", {"kernel_shape": [2, 2], "strides": [2, 2]}, node("AveragePool", ["x"], ["y"], kernel_shape=[2, 2], strides=[2, 2]),
     (1, 3, 4, 4)),
])
def test_qlinear_unary_ops_are_their_float_op(op, attrs, float_op, out_shape):
    nodes, inits = qlinear_unary(op, **attrs)
    quantized = ms_model(nodes, [value("x", *IMAGE)], [value("y", *out_shape)], inits)
    same_numbers(quantized, ms_model([float_op], [value("x", *IMAGE)], [value("y", *out_shape)]))
    computes_the_same(quantized, image_feed(), atol=0.05)


def test_qlinear_softmax_is_softmax():
    inits = scales(xs=(0.05, np.float32), xz=(0, I8), ys=(1 / 256, np.float32), yz=(-128, I8))
    nodes = [node("QuantizeLinear", ["x", "xs", "xz"], ["xq"]),
             node("QLinearSoftmax", ["xq", "xs", "xz", "ys", "yz"], ["yq"], domain=MS, axis=-1, opset=17),
             node("DequantizeLinear", ["yq", "ys", "yz"], ["y"])]
    quantized = ms_model(nodes, [value("x", 1, 4, 6)], [value("y", 1, 4, 6)], inits)
    # the output's bottom zero point sits on a softmax (non-negative): no ReLU
    same_numbers(quantized, ms_model([node("Softmax", ["x"], ["y"], axis=-1)], [value("x", 1, 4, 6)], [value("y", 1, 4, 6)]))
    computes_the_same(quantized, {"x": RNG.uniform(-2, 2, (1, 4, 6)).astype(np.float32)}, atol=0.02)


@pytest.mark.parametrize("op,float_op", [("QLinearAdd", "Add"), ("QLinearMul", "Mul")])
def test_qlinear_binary_ops_on_two_activations(op, float_op):
    inits = scales(s=(0.02, np.float32), z=(0, I8), ys=(0.05, np.float32), yz=(0, I8))
    nodes = [node("QuantizeLinear", ["x", "s", "z"], ["xq"]), node("QuantizeLinear", ["x2", "s", "z"], ["x2q"]),
             node(op, ["xq", "s", "z", "x2q", "s", "z", "ys", "yz"], ["yq"], domain=MS), node("DequantizeLinear", ["yq", "ys", "yz"], ["y"])]
    inputs = [value("x", 1, 16), value("x2", 1, 16)]
    got = same_numbers(ms_model(nodes, inputs, [value("y", 1, 16)], inits),
                       ms_model([node(float_op, ["x", "x2"], ["y"])], inputs, [value("y", 1, 16)]))
    assert (got["complexity_bits"] > 0) == (float_op == "Mul")  # a product of data (SPEC §2), a sum is linear
    computes_the_same(ms_model(nodes, inputs, [value("y", 1, 16)], inits),
                      {"x": RNG.uniform(-1, 1, (1, 16)).astype(np.float32), "x2": RNG.uniform(-1, 1, (1, 16)).astype(np.float32)}, atol=0.1)


def test_qlinear_concat_is_concat():
    inits = scales(s=(0.02, np.float32), z=(0, I8), ys=(0.02, np.float32), yz=(0, I8))
    nodes = [node("QuantizeLinear", ["x", "s", "z"], ["xq"]), node("QuantizeLinear", ["x2", "s", "z"], ["x2q"]),
             node("QLinearConcat", ["ys", "yz", "xq", "s", "z", "x2q", "s", "z"], ["yq"], domain=MS, axis=1),
             node("DequantizeLinear", ["yq", "ys", "yz"], ["y"])]
    inputs = [value("x", 1, 4), value("x2", 1, 4)]
    same_numbers(ms_model(nodes, inputs, [value("y", 1, 8)], inits),
                 ms_model([node("Concat", ["x", "x2"], ["y"], axis=1)], inputs, [value("y", 1, 8)]))


@pytest.mark.parametrize("domain", ["", MS])
def test_qlinear_matmul_and_qgemm_are_the_float_products(domain):
    inits = [int_weight("wq", 8, 6), tensor("cq", RNG.integers(-50, 50, 6), I32)] + scales(
        xs=(0.02, np.float32), xz=(0, I8), ws=(0.01, np.float32), wz=(0, I8), ys=(0.05, np.float32), yz=(0, I8))
    if domain:
        core = node("QGemm", ["xq", "xs", "xz", "wq", "ws", "wz", "cq", "ys", "yz"], ["yq"], domain=MS)
        plain = [node("Gemm", ["x", "w", "b"], ["y"])]
    else:
        core = node("QLinearMatMul", ["xq", "xs", "xz", "wq", "ws", "wz", "ys", "yz"], ["yq"])
        plain = [node("MatMul", ["x", "w"], ["y"])]
    nodes = [node("QuantizeLinear", ["x", "xs", "xz"], ["xq"]), core, node("DequantizeLinear", ["yq", "ys", "yz"], ["y"])]
    quantized = ms_model(nodes, [value("x", 5, 8)], [value("y", 5, 6)], inits)
    got = same_numbers(quantized, ms_model(plain, [value("x", 5, 8)], [value("y", 5, 6)], [random("w", 8, 6), random("b", 6)]))
    assert got["macs"] == 5 * 8 * 6
    computes_the_same(quantized, {"x": RNG.uniform(-1, 1, (5, 8)).astype(np.float32)}, atol=0.1)


def test_qattention_is_attention_on_dequantized_operands():
    h, heads, seq = 8, 2, 4
    inits = [int_weight("wq", h, 3 * h), random("b", 3 * h)] + scales(ws=(0.02, np.float32), wz=(0, I8))
    nodes = [node("DynamicQuantizeLinear", ["x"], ["xq", "xs", "xz"]),
             node("QAttention", ["xq", "wq", "b", "xs", "ws", "", "xz", "wz"], ["y"], domain=MS, num_heads=heads)]
    quantized = ms_model(nodes, [value("x", 1, seq, h)], [value("y", 1, seq, h)], inits)
    plain = ms_model([node("Attention", ["x", "w", "b"], ["y"], domain=MS, num_heads=heads)], [value("x", 1, seq, h)],
                     [value("y", 1, seq, h)], [random("w", h, 3 * h), random("b", 3 * h)])
    same_numbers(quantized, plain)
    computes_the_same(quantized, {"x": RNG.uniform(-1, 1, (1, seq, h)).astype(np.float32)}, atol=0.05)


@pytest.mark.parametrize("op", ["QuantizeLinear", "DequantizeLinear"])
def test_contrib_quantize_linear_is_the_default_domain_s(op):
    inits = scales(s=(0.05, np.float32), z=(0, I8))
    first = node("QuantizeLinear", ["x", "s", "z"], ["q"], domain=MS if op == "QuantizeLinear" else "")
    second = node("DequantizeLinear", ["q", "s", "z"], ["y"], domain=MS if op == "DequantizeLinear" else "")
    m = ms_model([first, second], [value("x", 1, 16)], [value("y", 1, 16)], inits)
    assert op_types(expanded(m)) == ["Identity"] and summary(m)["complexity_bits"] == 0  # mid-range zero point: the identity


def test_dynamic_quantize_linear_read_by_a_dequantize_is_its_input():
    nodes = [node("DynamicQuantizeLinear", ["x"], ["xq", "xs", "xz"]), node("DequantizeLinear", ["xq", "xs", "xz"], ["y"])]
    m = ms_model(nodes, [value("x", 1, 16)], [value("y", 1, 16)])
    s = summary(m)
    assert s["complexity_bits"] == 0 and s["intrinsic_power"] == 0  # the dynamic range covers its data: never a ReLU
    computes_the_same(m, {"x": RNG.uniform(-1, 1, (1, 16)).astype(np.float32)}, atol=0.02)


def test_a_graph_output_read_through_a_pair_keeps_its_name():
    inits = scales(s=(0.05, np.float32), z=(0, I8))
    m = ms_model(qdq("x", "y"), [value("x", 1, 16)], [value("y", 1, 16)], inits)
    assert [n.output[0] for n in expanded(m).graph.node] == ["y"]
    assert onnxlayer.analyze(m).summary.output_dim == 16
