"""The series/parallel rules equal the walk on series-parallel graphs (SPEC §3)."""
from __future__ import annotations

import pytest
from onnx import helper

import onnxlayer
from onnxlayer.algebra import LeafBlock, identity, parallel, series, walk
from onnxlayer.fusion import build_leaves
from onnxlayer.prepare import prepare
from onnxlayer.registry import REGISTRY
from onnxlayer.transfer import Settings
from builders import gemm, model, residual, value, mlp


def walked(m):
    view = prepare(m, None, REGISTRY.has_rule)
    settings = Settings()
    leaves = build_leaves(view, settings)
    results, d, d0 = walk(view, leaves, settings)
    return {w.leaf.name: w for w in results}, d, d0


def block(w):
    return LeafBlock(w.lta, w.out_size)


def test_series_equals_walk_on_mlp():
    ws, d, d0 = walked(mlp((6, 5, 9, 4, 3)))
    chain = series(*(block(w) for w in ws.values()))
    value_ = chain.evaluate(d0)
    assert value_.complexity == pytest.approx(sum(w.complexity for w in ws.values()), rel=1e-12)
    assert value_.d_out == list(ws.values())[-1].d_out


def test_parallel_equals_walk_on_residual():
    ws, d, d0 = walked(residual())
    branch = series(block(ws["/fc1/Gemm"]), block(ws["/relu1/Relu"]), block(ws["/fc2/Gemm"]))
    res = parallel(block(ws["/add/Add"]), 16, identity(), branch)
    net = series(res, block(ws["/relu2/Relu"]))
    v = net.evaluate(d0)
    assert v.complexity == pytest.approx(sum(w.complexity for w in ws.values()), rel=1e-12)
    assert v.d_out == ws["/relu2/Relu"].d_out


def compressed_residual():
    """x[16] → Gemm 16×6 → (branch: Gemm 6×6 → Relu → Gemm 6×6) + skip → Relu: fork at d=6 < D0."""
    n0, w0 = gemm("x", "h", 16, 6, "fc0")
    n1, w1 = gemm("h", "a", 6, 6, "fc1")
    n2, w2 = gemm("r", "b", 6, 6, "fc2")
    nodes = [n0, n1, helper.make_node("Relu", ["a"], ["r"], name="/relu1/Relu"), n2,
             helper.make_node("Add", ["h", "b"], ["s"], name="/add/Add"), helper.make_node("Relu", ["s"], ["y"], name="/relu2/Relu")]
    return model(nodes, [value("x", 1, 16)], [value("y", 1, 6)], w0 + w1 + w2)


def test_parallel_rule_caps_by_fork_dimension():
    """d_out of a parallel block is min(Σ d_out, out size, d_in): the walk agrees when d_in < D0."""
    ws, d, d0 = walked(compressed_residual())
    assert ws["/add/Add"].d_in == 6  # not min(D0=16, 6 + 6) = 12
    branch = series(block(ws["/fc1/Gemm"]), block(ws["/relu1/Relu"]), block(ws["/fc2/Gemm"]))
    net = series(block(ws["/fc0/Gemm"]), parallel(block(ws["/add/Add"]), 6, identity(), branch), block(ws["/relu2/Relu"]))
    v = net.evaluate(d0)
    assert v.complexity == pytest.approx(sum(w.complexity for w in ws.values()), rel=1e-12)
    assert v.d_out == ws["/relu2/Relu"].d_out == 6
    assert v.power == pytest.approx(onnxlayer.analyze(compressed_residual()).summary.intrinsic_power)


def test_nested_parallel_branches():
    """Two residual blocks in series, each a parallel block."""
    n0, w0 = gemm("x", "a0", 8, 8, "f0")
    n1, w1 = gemm("x1", "a1", 8, 8, "f1")
    nodes = [n0, helper.make_node("Relu", ["a0"], ["r0"], name="/r0/Relu"), helper.make_node("Add", ["x", "r0"], ["x1"], name="/add0/Add"),
             n1, helper.make_node("Relu", ["a1"], ["r1"], name="/r1/Relu"), helper.make_node("Add", ["x1", "r1"], ["y"], name="/add1/Add")]
    m = model(nodes, [value("x", 1, 8)], [value("y", 1, 8)], w0 + w1)
    ws, d, d0 = walked(m)
    b0 = parallel(block(ws["/add0/Add"]), 8, identity(), series(block(ws["/f0/Gemm"]), block(ws["/r0/Relu"])))
    b1 = parallel(block(ws["/add1/Add"]), 8, identity(), series(block(ws["/f1/Gemm"]), block(ws["/r1/Relu"])))
    v = series(b0, b1).evaluate(d0)
    assert v.complexity == pytest.approx(sum(w.complexity for w in ws.values()), rel=1e-12)
    assert v.d_out == ws["/add1/Add"].d_out
