"""The decomposer: series/parallel/DAG blocks that give the walk's numbers (SPEC §3), named by
scope and folded into repeats."""
from __future__ import annotations

import math

import pytest
from onnx import helper

import builders
from builders import gemm, model, value
from onnxlayer.algebra import DagBlock, MultiOutputLeaf, Parallel, Select, Series
from onnxlayer.api import layer_expression
from onnxlayer.expression import LayerExpression
from onnxlayer.models_access import zoo_input_shapes, zoo_model

RELU_163 = math.log2(163)  # SPEC §5 example 1: c(8, 2, 4) = log2 Σ_{j≤4} C(8, j)


def check_against_walk(expr: LayerExpression) -> None:
    """Every block: d_in = walk's d at its entry, d_out = walk's d at its exit, C = Σ walk c."""
    merges = {id(t.merge): t for t in expr.terms() if t.merge is not None}
    for term in expr.terms():
        v = term.value
        assert v.complexity == pytest.approx(sum(expr.walked[k].complexity for k in term.leaves), rel=1e-12, abs=1e-9), term
        if id(term) in merges:
            if term.leaves:  # a merge leaf sees the merged dimension, which is its walk d_in
                w = expr.walked[term.leaves[0]]
                assert (v.d_in, v.d_out) == (w.d_in, w.d_out), term.name
            continue
        assert v.d_in == expr.d_at(term.entry), (term.kind, term.name)
        assert v.d_out == expr.d_at(term.exit), (term.kind, term.name)
    assert expr.root.value.complexity == pytest.approx(expr.result.summary.complexity_bits, rel=1e-12)
    # the root block alone, evaluated at D0, is the algebra's whole answer
    total = expr.root.block.evaluate(expr.result.summary.input_dim)
    assert total.complexity == pytest.approx(expr.result.summary.complexity_bits, rel=1e-12)


def kinds(expr: LayerExpression) -> list[str]:
    return [t.kind for t in expr.terms()]


def n(op, ins, outs, **kw):
    return helper.make_node(op, ins, outs, name=kw.pop("name", f"/{outs[0]}/{op}"), **kw)


# ---------------------------------------------------------------- SPEC §5 examples


def test_mlp_is_a_series_of_its_leaves():
    expr = layer_expression(builders.mlp())
    check_against_walk(expr)
    assert [c.kind for c in expr.root.children] == ["leaf"] * 5
    assert expr.root.value.complexity == pytest.approx(2 * RELU_163, rel=1e-12)
    assert [c.value.d_out for c in expr.root.children] == [4, 4, 4, 4, 3]
    assert expr.formula() == "Gemm∘Relu∘Gemm∘Relu∘Gemm"


def test_cnn_series():
    expr = layer_expression(builders.cnn())
    check_against_walk(expr)
    assert expr.root.value.complexity == pytest.approx(332.141078, abs=1e-6)
    assert (expr.root.value.d_in, expr.root.value.d_out) == (64, 10)


def test_residual_is_parallel_with_identity_and_add():
    expr = layer_expression(builders.residual(skip=True))
    check_against_walk(expr)
    par = next(t for t in expr.terms() if t.kind == "parallel")
    assert par.merge.label == "Add"
    assert sorted(len(b.leaves) for b in par.children) == [0, 3]  # identity ⊕ Gemm∘Relu∘Gemm
    branch = next(b for b in par.children if b.leaves)
    assert [c.value.d_out for c in branch.children] == [4, 4, 4]  # d = 4 inside the branch ...
    assert par.value.d_out == 16  # ... and 16 after the Add
    assert expr.root.value.complexity == pytest.approx(20.0, abs=1e-12)
    assert expr.formula() == "(Gemm∘Relu∘Gemm ⊕ id)→Add∘Relu" or expr.formula() == "(id ⊕ Gemm∘Relu∘Gemm)→Add∘Relu"


def test_residual_without_skip_is_a_series():
    expr = layer_expression(builders.residual(skip=False))
    check_against_walk(expr)
    assert "parallel" not in kinds(expr)
    assert expr.root.value.d_out == 4


# ---------------------------------------------------------------- shapes the SP rules must handle


def test_two_branch_concat_parallel_numbers():
    """x[8] → (Gemm 8→2 ∘ Relu) ⊕ (Gemm 8→3 ∘ Relu) → Concat: d = min(2 + 3, 5, 8)."""
    n1, w1 = gemm("x", "a", 8, 2, "fa")
    n2, w2 = gemm("x", "b", 8, 3, "fb")
    nodes = [n1, n("Relu", ["a"], ["ra"]), n2, n("Relu", ["b"], ["rb"]), n("Concat", ["ra", "rb"], ["y"], axis=1)]
    m = model(nodes, [value("x", 1, 8)], [value("y", 1, 5)], w1 + w2)
    expr = layer_expression(m)
    check_against_walk(expr)
    par = expr.root.children[0]
    assert isinstance(par.block, Parallel) and par.merge.label == "Concat"
    assert par.value.d_out == 5
    # c(2 units, 2 pieces, d=2) + c(3, 2, 3) = 2 + 3 bits
    assert par.value.complexity == pytest.approx(5.0)


def test_dense_connectivity_is_a_dag_block():
    """DenseNet-like: c1 = Concat(x, f(x)), c2 = Concat(x, f(x), g(c1)) is not series-parallel."""
    g1, w1 = gemm("x", "h1", 6, 2, "g1")
    g2, w2 = gemm("c1", "h2", 8, 2, "g2")
    nodes = [
        g1, n("Relu", ["h1"], ["r1"]),
        n("Concat", ["x", "r1"], ["c1"], axis=1),
        g2, n("Relu", ["h2"], ["r2"]),
        n("Concat", ["x", "r1", "r2"], ["c2"], axis=1),
        n("Relu", ["c2"], ["y"]),
    ]
    m = model(nodes, [value("x", 1, 6)], [value("y", 1, 10)], w1 + w2)
    expr = layer_expression(m)
    check_against_walk(expr)
    dag = next(t for t in expr.terms() if t.kind == "dag")
    assert isinstance(dag.block, DagBlock)
    assert len(dag.leaves) == 6  # everything up to the last Concat
    assert "2 Concat" in dag.label
    assert expr.root.children[-1].label == "Relu"


def test_split_branches_use_projections():
    """ShuffleNet-like: Split → (s0 ⊕ s1 ∘ Gemm ∘ Relu) → Concat."""
    g, w = gemm("s1", "h", 4, 4, "g")
    nodes = [n("Split", ["x"], ["s0", "s1"], axis=1, num_outputs=2), g, n("Relu", ["h"], ["r"]),
             n("Concat", ["s0", "r"], ["y"], axis=1)]
    m = model(nodes, [value("x", 1, 8)], [value("y", 1, 8)], w, opset=18)
    expr = layer_expression(m)
    check_against_walk(expr)
    split = expr.root.children[0]
    assert isinstance(split.block, MultiOutputLeaf)
    par = expr.root.children[1]
    assert par.kind == "parallel"
    selects = [t for t in par.iter() if t.kind == "select"]
    assert sorted(t.label for t in selects) == ["π0", "π1"]
    assert all(isinstance(t.block, Select) for t in selects)


def test_two_sources_merge_from_the_virtual_source():
    nodes = [n("Add", ["x", "z"], ["s"]), n("Relu", ["s"], ["y"])]
    m = model(nodes, [value("x", 1, 4), value("z", 1, 4)], [value("y", 1, 4)])
    expr = layer_expression(m)
    check_against_walk(expr)
    par = expr.root.children[0]
    assert par.kind == "parallel" and [c.kind for c in par.children] == ["select", "select"]
    assert par.value.d_in == 8 and par.value.d_out == 4


def test_two_outputs_merge_into_the_virtual_sink():
    g, w = gemm("a", "b", 4, 2, "g")
    nodes = [n("Relu", ["x"], ["a"]), g]
    m = model(nodes, [value("x", 1, 4)], [value("a", 1, 4), value("b", 1, 2)], w)
    expr = layer_expression(m)
    check_against_walk(expr)
    last = expr.root.children[-1]
    assert last.kind == "parallel" and last.merge.label == "outputs"
    assert last.value.d_out == 4  # min(4 + 2, d of the fork)


def test_repeats_fold_and_named_by_scope():
    """Three identical residual blocks under scopes stage/block{i} fold into one 3× line."""
    nodes, inits, x = [], [], "x"
    for i in range(3):
        g1, w1 = gemm(x, f"h{i}", 8, 8, f"stage/block{i}/fc1")
        g2, w2 = gemm(f"r{i}", f"g{i}", 8, 8, f"stage/block{i}/fc2")
        g1.name, g2.name = f"/stage/block{i}/fc1/Gemm", f"/stage/block{i}/fc2/Gemm"
        nodes += [g1, n("Relu", [f"h{i}"], [f"r{i}"], name=f"/stage/block{i}/relu/Relu"), g2,
                  n("Add", [x, f"g{i}"], [f"s{i}"], name=f"/stage/block{i}/Add")]
        inits += w1 + w2
        x = f"s{i}"
    m = model(nodes, [value("x", 1, 8)], [value(x, 1, 8)], inits)
    expr = layer_expression(m)
    check_against_walk(expr)
    stage = expr.root.children[0]
    assert stage.name == "stage" and [c.kind for c in stage.children] == ["repeat"]
    repeat = stage.children[0]
    assert [c.name for c in repeat.children] == ["block0", "block1", "block2"]
    assert repeat.value.complexity == pytest.approx(3 * 8.0)  # 8 ReLUs at d = 8: 8 bits each
    assert expr.formula(stage) == "3×[(id ⊕ Gemm∘Relu∘Gemm)→Add]"


# ---------------------------------------------------------------- the zoo


@pytest.mark.parametrize("name", ["resnet18", "resnet50", "mobilenet_v2", "densenet121"])
def test_zoo_blocks_equal_the_walk(name):
    expr = layer_expression(zoo_model(name), zoo_input_shapes(name))
    check_against_walk(expr)
    if name == "densenet121":
        assert kinds(expr).count("dag") == 4  # one per dense block
    else:
        assert "dag" not in kinds(expr)


def test_resnet50_repeats_are_named_by_scope():
    expr = layer_expression(zoo_model("resnet50"), path="zoo:resnet50")
    check_against_walk(expr)
    repeats = [t for t in expr.terms() if t.kind == "repeat"]
    assert sorted(len(t.children) for t in repeats) == [2, 2, 3, 5]  # torchvision: 3, 4, 6, 3 blocks per stage
    assert {t.name for t in repeats} == {"layer1.1 … layer1.2", "layer2.1 … layer2.3", "layer3.1 … layer3.5",
                                         "layer4.1 … layer4.2"}


def test_series_of_blocks_is_the_algebra():
    """The Series/Parallel classes the tree is made of, on SPEC §5 example 3 by hand."""
    expr = layer_expression(builders.residual(skip=True))
    par = expr.root.children[0]
    assert isinstance(expr.root.block, Series)
    value = Series((par.block, expr.root.children[1].block)).evaluate(16)
    assert (value.complexity, value.d_out) == (pytest.approx(20.0), 16)
