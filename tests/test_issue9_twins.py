"""Issue 9: what keeps the legacy and dynamo exports of one model apart, on models built here.

Identical nodes are one computation (DLA34's legacy export keeps a MaxPool twice, dynamo once):
they merge before the walk, so C, U and P̄ are those of the graph with one copy (SPEC §5 example 2).
"""
from __future__ import annotations

import onnx
import pytest
from onnx import helper

import onnxlayer
from builders import model, region_bits, value, weight
from onnxlayer.dedupe import merge_duplicate_nodes

POOL = dict(kernel_shape=[2, 2], strides=[2, 2])


def twin_pools(copies: int, chain: bool) -> onnx.ModelProto:
    """SPEC §5 example 2 with the ReLU → MaxPool branch written `copies` times and summed:
    `chain` repeats the ReLU too (the second MaxPool then repeats the first only once the ReLUs merge)."""
    nodes = [helper.make_node("Conv", ["x", "c.w", "c.b"], ["c"], name="/conv", kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c"], ["r0"], name="/relu0")]
    pooled = []
    for k in range(copies):
        source = "r0"
        if chain and k:
            nodes.append(helper.make_node("Relu", ["c"], [f"r{k}"], name=f"/relu{k}"))
            source = f"r{k}"
        nodes.append(helper.make_node("MaxPool", [source], [f"p{k}"], name=f"/pool{k}", **POOL))
        pooled.append(f"p{k}")
    total = pooled[0]
    for k, p in enumerate(pooled[1:], 1):
        nodes.append(helper.make_node("Add", [total, p], [f"s{k}"], name=f"/sum{k}"))
        total = f"s{k}"
    nodes += [helper.make_node("Flatten", [total], ["f"], name="/flatten"),
              helper.make_node("Gemm", ["f", "fc.w", "fc.b"], ["y"], name="/fc", transB=1)]
    inits = [weight("c.w", 4, 1, 3, 3), weight("c.b", 4), weight("fc.w", 10, 64), weight("fc.b", 10)]
    return model(nodes, [value("x", 1, 1, 8, 8)], [value("y", 1, 10)], inits)


@pytest.mark.parametrize("copies, chain", [(2, False), (3, False), (2, True), (3, True)])
def test_identical_nodes_are_one_leaf(copies, chain):
    """Conv (κ 64) → ReLU: c(256, 2, 64); one MaxPool of 64 windows of 4 on d 64: c(64, 4, 64) = 128;
    the sums of one pooled tensor are linear. C = 332.141078… (SPEC §5 example 2), U = 256 + 64."""
    r = onnxlayer.analyze(twin_pools(copies, chain))
    expected = region_bits(256, 2, 64) + region_bits(64, 4, 64)
    assert r.summary.complexity_bits == pytest.approx(expected, rel=1e-12)
    assert r.summary.complexity_bits == pytest.approx(332.141078, abs=1e-6)
    assert [leaf.op_type for leaf in r.leaves].count("MaxPool") == 1
    assert r.summary.units == 256 + 64


def test_nodes_that_differ_in_an_attribute_stay_apart():
    """A MaxPool of 3×3 windows (stride 2, padded on top and left: 64 windows of 9, on d 64) beside
    the 2×2 one: two leaves, 128 + 64·log2 9 bits."""
    m = twin_pools(2, chain=False)
    nodes = list(m.graph.node)
    other = next(n for n in nodes if n.name == "/pool1")
    other.ClearField("attribute")
    other.attribute.extend([helper.make_attribute("kernel_shape", [3, 3]), helper.make_attribute("strides", [2, 2]),
                            helper.make_attribute("pads", [1, 1, 0, 0])])
    r = onnxlayer.analyze(m)
    assert [leaf.op_type for leaf in r.leaves].count("MaxPool") == 2
    assert r.summary.complexity_bits == pytest.approx(region_bits(256, 2, 64) + 128 + region_bits(64, 9, 64), rel=1e-12)


def test_merging_keeps_graph_outputs_random_draws_and_constants():
    """A repeated node whose output is a graph output stays (its name is the model's contract); two
    random draws are two values; Constant nodes (no inputs: stored values, counted by W) stay. The
    chain Sigmoid → Tanh written twice merges in one pass."""
    nodes = [helper.make_node("Relu", ["x"], ["a"]), helper.make_node("Relu", ["x"], ["b"]),
             helper.make_node("RandomNormalLike", ["x"], ["n1"]), helper.make_node("RandomNormalLike", ["x"], ["n2"]),
             helper.make_node("Constant", [], ["k1"], value_float=1.0), helper.make_node("Constant", [], ["k2"], value_float=1.0),
             helper.make_node("Sigmoid", ["x"], ["s1"]), helper.make_node("Sigmoid", ["x"], ["s2"]),
             helper.make_node("Tanh", ["s1"], ["t1"]), helper.make_node("Tanh", ["s2"], ["t2"]),
             helper.make_node("Sum", ["t1", "t2", "n1", "n2", "k1", "k2"], ["y"])]
    m = model(nodes, [value("x", 1, 4)], [value(o, 1, 4) for o in ("a", "b", "y")])
    assert merge_duplicate_nodes(m) == 2
    assert [n.output[0] for n in m.graph.node] == ["a", "b", "n1", "n2", "k1", "k2", "s1", "t1", "y"]
    assert list(m.graph.node[-1].input) == ["t1", "t1", "n1", "n2", "k1", "k2"]
