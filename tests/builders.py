"""Tiny ONNX graphs built in tests (SPEC §5 examples and friends), and SPEC §3's region bound."""
from __future__ import annotations

import itertools
import math

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

RNG = np.random.default_rng(0)


def region_bits(units: int, pieces: int, dim: int) -> float:
    """log2 Σ_{j=0}^{min(d,u)} C(u, j)·(p−1)^j (SPEC §3), summed exactly with big integers.

    Term j is term j−1 times (u−j+1)·(p−1)/j, exact at every step.
    """
    terms = itertools.accumulate(range(1, min(dim, units) + 1), lambda t, j: t * (units - j + 1) * (pieces - 1) // j, initial=1)
    return math.log2(sum(terms))


def weight(name: str, *shape: int) -> onnx.TensorProto:
    return numpy_helper.from_array(RNG.standard_normal(shape).astype(np.float32), name)


def model(nodes, inputs, outputs, inits=(), opset: int = 17, name: str = "g") -> onnx.ModelProto:
    graph = helper.make_graph(list(nodes), name, list(inputs), list(outputs), list(inits))
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 8
    return m


def value(name: str, *shape, elem=TensorProto.FLOAT) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, elem, list(shape) if shape else None)


def gemm(x: str, y: str, k: int, n: int, tag: str):
    """Gemm with weight [n, k] (transB=1) and bias, like torch.nn.Linear."""
    node = helper.make_node("Gemm", [x, f"{tag}.w", f"{tag}.b"], [y], name=f"/{tag}/Gemm", transB=1)
    return node, [weight(f"{tag}.w", n, k), weight(f"{tag}.b", n)]


def mlp(sizes=(4, 8, 8, 3), activation: str = "Relu") -> onnx.ModelProto:
    """SPEC §5 example 1: [1,4] → Gemm 4×8 → Relu → Gemm 8×8 → Relu → Gemm 8×3."""
    nodes, inits, x = [], [], "x"
    for i, (k, n) in enumerate(zip(sizes[:-1], sizes[1:])):
        node, w = gemm(x, f"h{i}", k, n, f"fc{i}")
        nodes.append(node)
        inits += w
        x = f"h{i}"
        if i < len(sizes) - 2:
            nodes.append(helper.make_node(activation, [x], [f"a{i}"], name=f"/act{i}/{activation}"))
            x = f"a{i}"
    return model(nodes, [value("x", 1, sizes[0])], [value(x, 1, sizes[-1])], inits)


def cnn() -> onnx.ModelProto:
    """SPEC §5 example 2."""
    nodes = [
        helper.make_node("Conv", ["x", "c.w", "c.b"], ["c"], name="/conv/Conv", kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c"], ["r"], name="/relu/Relu"),
        helper.make_node("MaxPool", ["r"], ["p"], name="/pool/MaxPool", kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Flatten", ["p"], ["f"], name="/flatten/Flatten"),
        helper.make_node("Gemm", ["f", "fc.w", "fc.b"], ["y"], name="/fc/Gemm", transB=1),
    ]
    inits = [weight("c.w", 4, 1, 3, 3), weight("c.b", 4), weight("fc.w", 10, 64), weight("fc.b", 10)]
    return model(nodes, [value("x", 1, 1, 8, 8)], [value("y", 1, 10)], inits)


def residual(skip: bool = True) -> onnx.ModelProto:
    """SPEC §5 example 3: [1,16] → Gemm 16×4 → Relu → Gemm 4×16 → Add(input, ·) → Relu."""
    n1, w1 = gemm("x", "h", 16, 4, "fc1")
    n2, w2 = gemm("r", "g", 4, 16, "fc2")
    nodes = [n1, helper.make_node("Relu", ["h"], ["r"], name="/relu1/Relu"), n2]
    last = "g"
    if skip:
        nodes.append(helper.make_node("Add", ["x", "g"], ["s"], name="/add/Add"))
        last = "s"
    nodes.append(helper.make_node("Relu", [last], ["y"], name="/relu2/Relu"))
    return model(nodes, [value("x", 1, 16)], [value("y", 1, 16)], w1 + w2)
