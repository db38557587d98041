"""Quantization: QuantizeLinear/DequantizeLinear, and the integer and QLinear ops of quantized
models, each expanded in preparation into the float ops it stands for (SPEC §4 e).

A QLinear op is `Q(op(DQ(a), DQ(b)), y)`: its quantized inputs and output become
Dequantize/QuantizeLinear around the float op, and preparation's Q→DQ pass then reads each pair
as the identity or a folded ReLU (SPEC §4 d). The integer ops (MatMulInteger, ConvInteger) are
the float op on dequantized operands; a DynamicQuantizeLinear's output is its input for them (its
range always covers the data), and its scale and zero point are quantization metadata, not data.
A weight counts its elements however it is stored (SPEC §3): a 4-bit `MatMulNBits` weight is a
K×N placeholder.
"""
from __future__ import annotations

import math

from ..deferred import numpy as np
from ..expansion import Expansion
from ..graph import axis_index
from ..onnxapi import TensorProto
from ..registry import LeafContext, expands, register
from ..transfer import LTA
from .contrib import MS, attention_from_projection, conv_attributes, embed_layer_norm


# ----------------------------------------------------------------------------- QuantizeLinear, DequantizeLinear


def quantize(ctx: LeafContext) -> LTA:
    """scale/round/shift; rounding treated as the identity for rank, no units"""
    return ctx.lta((), ctx.out_size(), kind="linear" if ctx.leaf.op_type == "DequantizeLinear" else None)


register("QuantizeLinear", kind="quantizer", no_pattern="no units: rounding is treated as the identity")(quantize)


def _dequantize_dynamic(x: Expansion) -> bool:
    """Keeps the node unless it reads a DynamicQuantizeLinear's output, which is its input again."""
    source = x.dynamic_source(x.input(0))
    if source:
        x.op("Identity", [source], x.output(0))
    return bool(source)


register("DequantizeLinear", kind="quantizer", no_pattern="no units: rounding is treated as the identity",
         expand=_dequantize_dynamic)(quantize)


@expands("QuantizeLinear", "DequantizeLinear", domain=MS, kind="quantizer", defaults={"axis": 1})
def contrib_quantize(x: Expansion) -> bool:
    """the default domain's QuantizeLinear/DequantizeLinear (16- and 4-bit types)"""
    axis = int(x.attr("axis"))
    x.op(x.node.op_type, list(x.node.input), x.output(0), axis=axis if axis != 1 else None)
    return True


def _dynamic_metadata(x: Expansion) -> bool:
    """The scale and zero point it computes become constants (placeholders of their type) marked
    as quantization parameters: they depend on the data, but only rescale it, and a weight's
    per-channel scales multiplied into the scale are no weights either. The quantized output stays
    the node's, so that its readers still find what it quantized."""
    if not (x.is_read(x.output(1)) or x.is_read(x.output(2))):
        return False
    x.op("DynamicQuantizeLinear", [x.input(0)], [x.output(0), x.fresh("unread_scale"), x.fresh("unread_zero_point")])
    x.quantization_parameter(1.0, np.float32, x.output(1))
    x.quantization_parameter(0, np.uint8, x.output(2))
    return True


register("DynamicQuantizeLinear", kind="quantizer", expand=_dynamic_metadata,
         no_pattern="no units: quantization over the input's own range is the identity on values")(quantize)


# ----------------------------------------------------------------------------- helpers


def _one(x: Expansion, zero_point: str = "") -> str:
    """Scale 1: the integer ops' products are rescaled by a separate Mul. One per channel where
    the weight's `zero_point` is one per channel (a per-axis DequantizeLinear takes a scale of the
    zero point's shape)."""
    dims = x.static_dims(zero_point) if zero_point else ()
    return x.constant(np.ones(dims) if math.prod(dims) > 1 else 1.0, np.float32, "unit_scale")


def _weight(x: Expansion, q: str, scale: str, zero_point: str, channel_axis: int) -> str:
    """A dequantized weight: per-channel scales (or zero points) along `channel_axis`, else one."""
    per_channel = any(math.prod(x.static_dims(t)) > 1 for t in (scale, zero_point) if t)
    return x.dequantize(q, scale, zero_point, channel_axis if per_channel else None)


def _bias(x: Expansion, bias: str, a_scale: str, w_scale: str, channel_axis: int = 0) -> str:
    """An int32 bias at scale a_scale·w_scale, dequantized."""
    if not bias:
        return ""
    scale = x.op("Mul", [a_scale, w_scale])
    per_channel = math.prod(x.static_dims(w_scale) or ()) > 1
    return x.dequantize(bias, scale, "", channel_axis if per_channel else None)


def _integer_output(x: Expansion, y: str) -> None:
    """The integer op's int32 accumulator, now computed in float."""
    x.op("Cast", [y], x.output(0), to=TensorProto.INT32)


def _channels_first(x: Expansion, t: str) -> str:
    rank = x.rank(t)
    return x.op("Transpose", [t], perm=[0, rank - 1] + list(range(1, rank - 1)))


def _channels_last(x: Expansion, t: str, rank: int) -> str:
    return x.op("Transpose", [t], perm=[0] + list(range(2, rank)) + [1])


def _qlinear_unary(x: Expansion, op_type: str, **attrs) -> bool:
    """Q(op(DQ(X)), Y) for ops of signature (X, X_scale, X_zero_point?, Y_scale, Y_zero_point?)."""
    y = x.op(op_type, [x.dequantize(x.input(0), x.input(1), x.input(2))], **attrs)
    x.quantize(y, x.input(3), x.input(4), x.output(0))
    return True


# ----------------------------------------------------------------------------- integer ops


@expands("MatMulInteger", kind="linear|product")
def matmul_integer(x: Expansion) -> bool:
    """(A − a_zp)·(B − b_zp): a MatMul of the dequantized operands (the scales multiply after it)"""
    a = x.dequantize(x.input(0), _one(x), x.input(2))
    b = _weight(x, x.input(1), _one(x, x.input(3)), x.input(3), x.rank(x.input(1)) - 1)  # a zero point per column of B, or one
    _integer_output(x, x.op("MatMul", [a, b]))
    return True


@expands("ConvInteger", kind="linear")
def conv_integer(x: Expansion) -> bool:
    """Conv(x − x_zp, w − w_zp): a Conv of the dequantized operands"""
    data = x.dequantize(x.input(0), _one(x), x.input(2))
    weight = _weight(x, x.input(1), _one(x, x.input(3)), x.input(3), 0)
    _integer_output(x, x.op("Conv", [data, weight], **conv_attributes(x)))
    return True


@expands("MatMulIntegerToFloat", domain=MS, kind="linear|product")
def matmul_integer_to_float(x: Expansion) -> bool:
    """DQ(A)·DQ(B) + bias"""
    a = x.dequantize(x.input(0), x.input(2), x.input(4))
    b = _weight(x, x.input(1), x.input(3), x.input(5), 1)
    y = x.op("MatMul", [a, b])
    x.op("Add", [y, x.input(6)], x.output(0)) if x.input(6) else x.op("Identity", [y], x.output(0))
    return True


@expands("DynamicQuantizeMatMul", domain=MS, kind="linear")
def dynamic_quantize_matmul(x: Expansion) -> bool:
    """A·DQ(B) + bias (A quantized on the fly, which is the identity on its values)"""
    y = x.op("MatMul", [x.input(0), _weight(x, x.input(1), x.input(2), x.input(3), 1)])
    x.op("Add", [y, x.input(4)], x.output(0)) if x.input(4) else x.op("Identity", [y], x.output(0))
    return True


@expands("MatMulNBits", domain=MS, kind="linear", defaults={"bits": 4, "accuracy_level": 0})
def matmul_nbits(x: Expansion) -> bool:
    """A·W + bias with a block-quantized K×N weight W (counted as K·N parameters)"""
    k, n = int(x.attr("K")), int(x.attr("N"))
    weight = x.placeholder([k, n], x.elem_type(x.input(2)) or TensorProto.FLOAT, "dequantized_weight")
    y = x.op("MatMul", [x.input(0), weight])
    x.op("Add", [y, x.input(5)], x.output(0)) if x.input(5) else x.op("Identity", [y], x.output(0))
    return True


@expands("GatherBlockQuantized", domain=MS, kind="structural",
         defaults={"bits": 4, "block_size": 128, "gather_axis": 0, "quantize_axis": 1})
def gather_block_quantized(x: Expansion) -> bool:
    """a lookup in a block-quantized table: the lookup in its float table (a source, SPEC §1)"""
    dims = list(x.static_dims(x.input(0)))
    if x.elem_type(x.input(0)) == TensorProto.UINT8:  # sub-byte values packed along the quantized axis
        axis = axis_index(int(x.attr("quantize_axis")), len(dims), f"node {x.node.name!r} (GatherBlockQuantized)")
        dims[axis] *= 8 // int(x.attr("bits"))
    table = x.placeholder(dims, x.elem_type(x.input(2)) or TensorProto.FLOAT, "dequantized_table")
    x.op("Gather", [table, x.input(1)], x.output(0), axis=int(x.attr("gather_axis")))
    return True


# ----------------------------------------------------------------------------- QLinear ops


def _qlinear_matmul(x: Expansion) -> bool:
    """Q(DQ(a)·DQ(b), y): linear with a stored b, a product of two activations"""
    a = x.dequantize(x.input(0), x.input(1), x.input(2))
    stored = x.is_stored(x.input(3))  # a weight, maybe per output column; else an activation (a product)
    b = _weight(x, x.input(3), x.input(4), x.input(5), 1) if stored else x.dequantize(x.input(3), x.input(4), x.input(5))
    x.quantize(x.op("MatMul", [a, b]), x.input(6), x.input(7), x.output(0))
    return True


expands("QLinearMatMul", kind="linear|product")(_qlinear_matmul)


def _qlinear_conv(x: Expansion) -> bool:
    """Q(Conv(DQ(x), DQ(w), DQ(B)), y) (channels_last: NHWC in and out)"""
    rank = len(x.static_dims(x.input(3)))
    channels_last = bool(x.attr("channels_last")) if x.node.domain == MS else False
    data = x.dequantize(x.input(0), x.input(1), x.input(2))
    data = _channels_first(x, data) if channels_last else data
    weight = _weight(x, x.input(3), x.input(4), x.input(5), 0)
    bias = _bias(x, x.input(8), x.input(1), x.input(4))
    y = x.op("Conv", [data, weight] + ([bias] if bias else []), **conv_attributes(x))
    x.quantize(_channels_last(x, y, rank) if channels_last else y, x.input(6), x.input(7), x.output(0))
    return True


expands("QLinearConv", kind="linear")(_qlinear_conv)
expands("QLinearConv", domain=MS, kind="linear", defaults={"channels_last": 0, "group": 1})(_qlinear_conv)


@expands("QGemm", domain=MS, kind="linear|product", defaults={"alpha": 1.0, "transA": 0, "transB": 0})
def qgemm(x: Expansion) -> bool:
    """α·DQ(A)·DQ(B) + DQ(C), quantized to y when y_scale is given"""
    trans_b = int(x.attr("transB"))
    a = x.dequantize(x.input(0), x.input(1), x.input(2))
    b = _weight(x, x.input(3), x.input(4), x.input(5), 0 if trans_b else 1)
    c = _bias(x, x.input(6), x.input(1), x.input(4))
    y = x.op("Gemm", [a, b] + ([c] if c else []), alpha=float(x.attr("alpha")), transA=int(x.attr("transA")) or None,
             transB=trans_b or None)
    if x.input(7):
        x.quantize(y, x.input(7), x.input(8), x.output(0))
    else:
        x.op("Identity", [y], x.output(0))
    return True


def _qlinear_binary(op_type: str):
    def expand(x: Expansion) -> bool:
        a = x.dequantize(x.input(0), x.input(1), x.input(2))
        b = x.dequantize(x.input(3), x.input(4), x.input(5))
        x.quantize(x.op(op_type, [a, b]), x.input(6), x.input(7), x.output(0))
        return True

    expand.__doc__ = f"Q({op_type}(DQ(A), DQ(B)), C)"
    return expand


expands("QLinearAdd", domain=MS, kind="linear")(_qlinear_binary("Add"))
expands("QLinearMul", domain=MS, kind="linear|product")(_qlinear_binary("Mul"))


@expands("QLinearSigmoid", domain=MS, kind="smooth")
def qlinear_sigmoid(x: Expansion) -> bool:
    """Q(Sigmoid(DQ(X)), Y)"""
    return _qlinear_unary(x, "Sigmoid")


@expands("QLinearLeakyRelu", domain=MS, kind="pwl", defaults={"alpha": 0.01})
def qlinear_leaky_relu(x: Expansion) -> bool:
    """Q(LeakyRelu(DQ(X)), Y)"""
    return _qlinear_unary(x, "LeakyRelu", alpha=float(x.attr("alpha")))


POOL_ATTRIBUTES = ("auto_pad", "ceil_mode", "count_include_pad", "kernel_shape", "pads", "strides")


@expands("QLinearAveragePool", domain=MS, kind="linear", defaults={"channels_last": 0})
def qlinear_average_pool(x: Expansion) -> bool:
    """Q(AveragePool(DQ(X)), Y) (channels_last: NHWC)"""
    attrs = {n: x.attr(n) for n in POOL_ATTRIBUTES if any(a.name == n for a in x.node.attribute)}
    return _qlinear_pool(x, "AveragePool", attrs)


@expands("QLinearGlobalAveragePool", domain=MS, kind="linear", defaults={"channels_last": 0})
def qlinear_global_average_pool(x: Expansion) -> bool:
    """Q(GlobalAveragePool(DQ(X)), Y) (channels_last: NHWC)"""
    return _qlinear_pool(x, "GlobalAveragePool", {})


def _qlinear_pool(x: Expansion, op_type: str, attrs: dict) -> bool:
    data = x.dequantize(x.input(0), x.input(1), x.input(2))
    if not x.attr("channels_last"):
        x.quantize(x.op(op_type, [data], **attrs), x.input(3), x.input(4), x.output(0))
        return True
    rank = x.rank(x.input(0))
    pooled = x.op(op_type, [_channels_first(x, data)], **attrs)
    x.quantize(_channels_last(x, pooled, rank), x.input(3), x.input(4), x.output(0))
    return True


@expands("QLinearConcat", domain=MS, kind="structural")
def qlinear_concat(x: Expansion) -> bool:
    """Q(Concat(DQ(X_i)...), Y)"""
    parts = [x.dequantize(*x.node.input[k:k + 3]) for k in range(2, len(x.node.input), 3)]
    x.quantize(x.op("Concat", parts, axis=int(x.attr("axis"))), x.input(0), x.input(1), x.output(0))
    return True


@expands("QLinearSoftmax", domain=MS, kind="smooth", defaults={"axis": -1})
def qlinear_softmax(x: Expansion) -> bool:
    """Q(Softmax(DQ(X)), Y) with the semantics of the opset it names (before 13: over [axis, rank) flattened)"""
    data = x.dequantize(x.input(0), x.input(1), x.input(2))
    axis = int(x.attr("axis"))
    if int(x.attr("opset")) < 13 and axis != -1 and axis != x.rank(x.input(0)) - 1:
        flat = x.op("Softmax", [x.op("Flatten", [data], axis=axis)], axis=-1)
        y = x.op("Reshape", [flat, x.op("Shape", [data])])
    else:
        y = x.softmax(data, axis)
    x.quantize(y, x.input(3), x.input(4), x.output(0))
    return True


# ----------------------------------------------------------------------------- quantized transformer ops


@expands("QAttention", domain=MS, kind="product")
def qattention(x: Expansion) -> bool:
    """Attention on the dequantized input and weights"""
    if x.input(8):
        raise x.unsupported("a past state")
    x.require_unread(1)
    hidden = x.dequantize(x.input(0), x.input(3), x.input(6))
    weights = _weight(x, x.input(1), x.input(4), x.input(7), 1)
    attention_from_projection(x, hidden, weights, x.static_dims(x.input(1))[-1], x.input(2), x.input(5), "", x.output(0),
                              x.input(0))
    return True


@expands("QEmbedLayerNormalization", domain=MS, kind="normalization", defaults={"epsilon": 1e-12})
def qembed_layer_normalization(x: Expansion) -> bool:
    """EmbedLayerNormalization on the dequantized tables, gamma and beta"""
    def table(k: int, scale: int, zero_point: int) -> str:
        return x.dequantize(x.input(k), x.input(scale), x.input(zero_point)) if x.input(k) else ""

    embed_layer_norm(x, x.input(0), x.input(1), table(2, 8, 13), table(3, 9, 14), table(4, 10, 15), table(5, 11, 16),
                     table(6, 12, 17), x.input(7), "")
    return True

