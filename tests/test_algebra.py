"""The series/parallel rules equal the walk on series-parallel graphs (SPEC §3).

Each test derives the expected complexity and dimensions by hand from SPEC §2–3 (rank caps,
d_out = min(d_in, κ, out size), the parallel fork cap) and counts the regions of SPEC §3's
formula with exact big integers; both the walk and the algebra are held to those numbers.
"""
from __future__ import annotations

import math

import pytest
from onnx import helper

from onnxlayer.algebra import LeafBlock, identity, parallel, series, walk
from onnxlayer.fusion import build_leaves
from onnxlayer.prepare import prepare
from onnxlayer.registry import REGISTRY
from onnxlayer.transfer import Settings
from builders import gemm, model, mlp, region_bits, residual, value


def walked(m):
    view = prepare(m, None, REGISTRY.has_rule)
    settings = Settings()
    leaves = build_leaves(view, settings)
    results, d, d0 = walk(view, leaves, settings)
    return {w.leaf.name: w for w in results}, d, d0


def block(w):
    return LeafBlock(w.lta, w.out_size)


def total(ws) -> float:
    return sum(w.complexity for w in ws.values())


def test_series_equals_walk_on_mlp():
    """[1,6] → Gemm 6×5 → Relu → Gemm 5×9 → Relu → Gemm 9×4 → Relu → Gemm 4×3.

    d after each Gemm: min(6, 5) = 5, min(5, κ 5) = 5, 4, 3. The first Relu's 5 units see
    d = 5 (c = 5 bits); the second's 9 units see d = 5: c = log2 Σ_{j≤5} C(9, j) = log2 382;
    the third's 4 units see d = 4 (c = 4 bits).
    """
    expected = 5 + region_bits(9, 2, 5) + 4
    assert expected == pytest.approx(9 + math.log2(382), rel=1e-15)
    ws, d, d0 = walked(mlp((6, 5, 9, 4, 3)))
    assert d0 == 6
    assert [w.d_out for w in ws.values()] == [5, 5, 5, 5, 4, 4, 3]
    assert total(ws) == pytest.approx(expected, rel=1e-12)
    chain = series(*(block(w) for w in ws.values())).evaluate(d0)
    assert chain.complexity == pytest.approx(expected, rel=1e-12)
    assert chain.d_out == 3
    assert chain.power == pytest.approx(math.log2(3 / 6), rel=1e-15)


def test_parallel_equals_walk_on_residual():
    """SPEC §5 example 3: c = 4 + 16 = 20 bits, d = 4 inside the branch, 16 after the Add."""
    ws, d, d0 = walked(residual())
    assert d0 == 16 and ws["/fc2/Gemm"].d_out == 4 and ws["/add/Add"].d_out == 16
    assert total(ws) == pytest.approx(20.0, rel=1e-12)
    branch = series(block(ws["/fc1/Gemm"]), block(ws["/relu1/Relu"]), block(ws["/fc2/Gemm"]))
    res = parallel(block(ws["/add/Add"]), 16, identity(), branch)
    v = series(res, block(ws["/relu2/Relu"])).evaluate(d0)
    assert v.complexity == pytest.approx(20.0, rel=1e-12)
    assert v.d_out == 16 and v.power == 0.0


def compressed_residual():
    """x[16] → Gemm 16×6 → (branch: Gemm 6×6 → Relu → Gemm 6×6) + skip → Relu: fork at d=6 < D0."""
    n0, w0 = gemm("x", "h", 16, 6, "fc0")
    n1, w1 = gemm("h", "a", 6, 6, "fc1")
    n2, w2 = gemm("r", "b", 6, 6, "fc2")
    nodes = [n0, n1, helper.make_node("Relu", ["a"], ["r"], name="/relu1/Relu"), n2,
             helper.make_node("Add", ["h", "b"], ["s"], name="/add/Add"), helper.make_node("Relu", ["s"], ["y"], name="/relu2/Relu")]
    return model(nodes, [value("x", 1, 16)], [value("y", 1, 6)], w0 + w1 + w2)


def test_parallel_rule_caps_by_fork_dimension():
    """d_out of a parallel block is min(Σ d_out, out size, d_in): the walk agrees when d_in < D0.

    The fork `h` has d = min(16, 6) = 6, so the Add sees min(D0 16, 6 + 6, d(h) 6) = 6, not 12;
    each Relu's 6 units see d = 6: c = 6 + 6 = 12 bits; P = log2(6/16).
    """
    ws, d, d0 = walked(compressed_residual())
    assert ws["/add/Add"].d_in == 6
    assert total(ws) == pytest.approx(12.0, rel=1e-12)
    branch = series(block(ws["/fc1/Gemm"]), block(ws["/relu1/Relu"]), block(ws["/fc2/Gemm"]))
    net = series(block(ws["/fc0/Gemm"]), parallel(block(ws["/add/Add"]), 6, identity(), branch), block(ws["/relu2/Relu"]))
    v = net.evaluate(d0)
    assert v.complexity == pytest.approx(12.0, rel=1e-12)
    assert v.d_out == ws["/relu2/Relu"].d_out == 6
    assert v.power == pytest.approx(math.log2(6 / 16), rel=1e-15)


def test_nested_parallel_branches():
    """Two residual blocks in series, each a parallel block: every Relu's 8 units see d = 8, C = 16."""
    n0, w0 = gemm("x", "a0", 8, 8, "f0")
    n1, w1 = gemm("x1", "a1", 8, 8, "f1")
    nodes = [n0, helper.make_node("Relu", ["a0"], ["r0"], name="/r0/Relu"), helper.make_node("Add", ["x", "r0"], ["x1"], name="/add0/Add"),
             n1, helper.make_node("Relu", ["a1"], ["r1"], name="/r1/Relu"), helper.make_node("Add", ["x1", "r1"], ["y"], name="/add1/Add")]
    m = model(nodes, [value("x", 1, 8)], [value("y", 1, 8)], w0 + w1)
    ws, d, d0 = walked(m)
    assert total(ws) == pytest.approx(16.0, rel=1e-12)
    b0 = parallel(block(ws["/add0/Add"]), 8, identity(), series(block(ws["/f0/Gemm"]), block(ws["/r0/Relu"])))
    b1 = parallel(block(ws["/add1/Add"]), 8, identity(), series(block(ws["/f1/Gemm"]), block(ws["/r1/Relu"])))
    v = series(b0, b1).evaluate(d0)
    assert v.complexity == pytest.approx(16.0, rel=1e-12)
    assert v.d_out == ws["/add1/Add"].d_out == 8


def test_parallel_merge_of_compressed_branches():
    """Two branches that each compress 8 → 2 before an Add: the merge sees min(2 + 2, 8, 8) = 4,
    so a Relu after it has 8 units in a 4-dimensional space: c = log2 Σ_{j≤4} C(8, j) = log2 163."""
    na, wa = gemm("x", "a", 8, 2, "fa")
    nb, wb = gemm("x", "b", 8, 2, "fb")
    ua, wua = gemm("a", "ua", 2, 8, "ua")
    ub, wub = gemm("b", "ub", 2, 8, "ub")
    nodes = [na, nb, ua, ub, helper.make_node("Add", ["ua", "ub"], ["s"], name="/add/Add"),
             helper.make_node("Relu", ["s"], ["y"], name="/relu/Relu")]
    m = model(nodes, [value("x", 1, 8)], [value("y", 1, 8)], wa + wb + wua + wub)
    ws, d, d0 = walked(m)
    expected = region_bits(8, 2, 4)
    assert expected == pytest.approx(math.log2(163), rel=1e-15)
    assert ws["/relu/Relu"].d_in == 4
    assert total(ws) == pytest.approx(expected, rel=1e-12)
    left = series(block(ws["/fa/Gemm"]), block(ws["/ua/Gemm"]))
    right = series(block(ws["/fb/Gemm"]), block(ws["/ub/Gemm"]))
    v = series(parallel(block(ws["/add/Add"]), 8, left, right), block(ws["/relu/Relu"])).evaluate(d0)
    assert v.complexity == pytest.approx(expected, rel=1e-12)
    assert v.d_out == 4
