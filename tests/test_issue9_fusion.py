"""Issue 9, defects 7 and 9: a decomposed normalization does not swallow the nonlinearity after
it, and a fused chain is segmented once per shape of its constant columns, not once per column.

Numbers are derived here from SPEC §2–3: LayerNorm over groups of 8 has one 1/√x unit of 14
pieces per group and κ = size − 2G; a Relu of u units on d dimensions has c(u, 2, d) bits; a
chord segmentation is invariant under adding a linear function of x.
"""
from __future__ import annotations

import math

import numpy as np
import onnx
import pytest
from onnx import helper, numpy_helper

import onnxlayer
import onnxlayer.fusion as fusion_module
from builders import model, region_bits, value, weight
from onnxlayer import fitcache
from onnxlayer.transfer import pieces

GROUPS, WIDTH = 4, 8  # x [1, 4, 8]: 4 vectors normalised over their 8 features


def layernorm_then_relu(form: str, from_input: bool) -> onnx.ModelProto:
    """LayerNorm over the last axis as exporters write it (ReduceMean, Sub, Mul(x, x) or Pow,
    ReduceMean, Add ε, Sqrt, Div, affine Mul/Add), or the fused op; then a Relu. `from_input`:
    the normalised tensor is the graph input itself, else the output of an Identity-like Add."""
    c = lambda name, v: numpy_helper.from_array(np.array(v, np.float32), name)  # noqa: E731
    inits = [weight("g", WIDTH), weight("b", WIDTH), c("eps", 1e-5), c("two", 2.0), c("zero", 0.0),
             numpy_helper.from_array(np.array([-1], np.int64), "axes")]
    nodes = [] if from_input else [helper.make_node("Add", ["x", "zero"], ["x0"], name="/shift")]
    x = "x" if from_input else "x0"
    if form == "fused":
        nodes.append(helper.make_node("LayerNormalization", [x, "g", "b"], ["y0"], name="/ln", axis=-1))
    else:
        square = (helper.make_node("Mul", ["xc", "xc"], ["sq"]) if form == "mul"
                  else helper.make_node("Pow", ["xc", "two"], ["sq"]))
        nodes += [helper.make_node("ReduceMean", [x, "axes"], ["mu"], keepdims=1), helper.make_node("Sub", [x, "mu"], ["xc"]),
                  square, helper.make_node("ReduceMean", ["sq", "axes"], ["var"], keepdims=1),
                  helper.make_node("Add", ["var", "eps"], ["ve"]), helper.make_node("Sqrt", ["ve"], ["sd"]),
                  helper.make_node("Div", ["xc", "sd"], ["n"]), helper.make_node("Mul", ["n", "g"], ["ng"]),
                  helper.make_node("Add", ["ng", "b"], ["y0"])]
    nodes.append(helper.make_node("Relu", ["y0"], ["y"], name="/relu"))
    return model(nodes, [value("x", 1, GROUPS, WIDTH)], [value("y", 1, GROUPS, WIDTH)], inits, opset=18)


@pytest.mark.parametrize("from_input", [True, False])
@pytest.mark.parametrize("form", ["mul", "pow", "fused"])
def test_a_decomposed_layernorm_stops_before_the_relu_after_it(form, from_input):
    """One normalization leaf (4 units of 14 pieces, d 32 → 32 − 2·4 = 24), then the Relu as a
    leaf of its own: 32 units on d = 24. ReduceMean and Sub belong to the normalization."""
    r = onnxlayer.analyze(layernorm_then_relu(form, from_input))
    nonlinear = [leaf for leaf in r.leaves if leaf.groups]
    assert [leaf.op_type for leaf in nonlinear] == ["LayerNormalization", "Relu"]
    norm, relu = nonlinear
    assert [(g.units, g.pieces) for g in norm.groups] == [(GROUPS, 14)]  # SPEC §2: 1/√x on [1/8, 8]
    assert (norm.d_in, norm.d_out) == (32, 32 - 2 * GROUPS)
    assert relu.name == "/relu" and (relu.units, relu.d_in) == (32, 24)
    assert "ReduceMean" not in {leaf.op_type for leaf in r.leaves} and "Sub" not in {leaf.op_type for leaf in r.leaves}
    assert r.summary.complexity_bits == pytest.approx(GROUPS * math.log2(14) + region_bits(32, 2, 24), rel=1e-12)


# --------------------------------------------------------------------------- columns segmented once per shape


@pytest.fixture
def count_segmentations(monkeypatch):
    """Counts the chord segmentations fusion runs (the real ones); no remembered counts."""
    monkeypatch.setenv(fitcache.NO_CACHE_ENV, "1")
    monkeypatch.setattr(fitcache, "_memory", {})
    calls = []
    real = fusion_module.segment_count

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(fusion_module, "segment_count", counting)
    return calls


def exp_minus_scaled(c: np.ndarray) -> onnx.ModelProto:
    """Exp(x) − x·c with a per-element constant c over x [1, n]."""
    nodes = [helper.make_node("Exp", ["x"], ["e"]), helper.make_node("Mul", ["x", "c"], ["xc"]),
             helper.make_node("Sub", ["e", "xc"], ["y"], name="/sub")]
    n = c.shape[-1]
    return model(nodes, [value("x", 1, n)], [value("y", 1, n)], [numpy_helper.from_array(c.astype(np.float32), "c")])


def test_columns_that_differ_by_a_linear_function_are_segmented_once(count_segmentations):
    """4096 distinct c: exp(x) − c·x differs from exp(x) by a line, so every column has exp's
    pieces on [−8, 8] (ε = 0.01), found by one segmentation (it took 4096, 183 s)."""
    c = np.random.default_rng(9).standard_normal((1, 4096))
    r = onnxlayer.analyze(exp_minus_scaled(c))
    (leaf,) = r.leaves
    assert leaf.op_type == "FusedUnary" and leaf.units == 4096
    assert leaf.groups[0].pieces == pieces(np.exp, -8.0, 8.0, 0.01)
    assert len(count_segmentations) == 1


def test_columns_of_different_shapes_are_each_segmented(count_segmentations):
    """x·σ(c·x) with c ∈ {1, 2} over 2048 elements each: two shapes, two segmentations, the
    larger piece count of x·σ(x) and x·σ(2x)."""
    c = np.repeat(np.array([[1.0, 2.0]]), 2048, axis=1)
    nodes = [helper.make_node("Mul", ["x", "c"], ["xc"]), helper.make_node("Sigmoid", ["xc"], ["s"]),
             helper.make_node("Mul", ["x", "s"], ["y"], name="/swish")]
    m = model(nodes, [value("x", 1, 4096)], [value("y", 1, 4096)], [numpy_helper.from_array(c.astype(np.float32), "c")])
    (leaf,) = onnxlayer.analyze(m).leaves
    expected = max(pieces(lambda t, k=k: t / (1 + np.exp(-k * t)), -8.0, 8.0, 0.01) for k in (1.0, 2.0))
    assert leaf.op_type == "FusedUnary" and leaf.groups[0].pieces == expected
    assert len(count_segmentations) == 2
