"""ops/activations.py: elementwise units, their piece counts from SPEC §2's table or from the
literal greedy segmentation of the function written out here."""
from __future__ import annotations

import numpy as np
import pytest
from onnx import helper, numpy_helper

import onnxlayer
from builders import model, value
from op_models import one, units
from spec_chords import spec_pieces


@pytest.mark.parametrize("op,attrs,pieces", [  # SPEC §2: exact PWL counts and the reference table
    ("Relu", {}, 2), ("LeakyRelu", {}, 2), ("Abs", {}, 2), ("HardSigmoid", {}, 3), ("Sigmoid", {}, 9), ("Tanh", {}, 13),
    ("Softplus", {}, 11), ("Elu", {"alpha": 1.0}, 8), ("HardSwish", {}, 15), ("Mish", {}, 12),
])
def test_elementwise_piece_counts(op, attrs, pieces):
    leaf = one(op, [(1, 7)], (1, 7), opset=18, **attrs)
    assert units(leaf) == [(7, pieces)]


def test_gelu_forms():
    assert units(one("Gelu", [(1, 5)], (1, 5), opset=20)) == [(5, 11)]  # SPEC table: Gelu (erf form)
    tanh_form = spec_pieces(lambda x: 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x**3))), -8, 8)
    assert units(one("Gelu", [(1, 5)], (1, 5), opset=20, approximate="tanh")) == [(5, tanh_form)]


def test_parametric_activations_use_their_attributes_and_schema_defaults():
    elu = spec_pieces(lambda x: np.where(x > 0, x, 0.5 * np.expm1(np.minimum(x, 0))), -8, 8)
    assert units(one("Elu", [(1, 3)], (1, 3), alpha=0.5)) == [(3, elu)]
    # Selu's defaults as the ONNX operator documentation states them (float32 values)
    alpha, gamma = 1.67326319217681884765625, 1.05070102214813232421875
    selu = spec_pieces(lambda x: gamma * np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0))), -8, 8)
    assert units(one("Selu", [(1, 3)], (1, 3))) == [(3, selu)]
    swish = spec_pieces(lambda x: x / (1 + np.exp(-2.0 * x)), -8, 8)
    assert units(one("Swish", [(1, 3)], (1, 3), opset=24, alpha=2.0)) == [(3, swish)]
    assert units(one("Swish", [(1, 3)], (1, 3), opset=24)) == [(3, 13)]  # SPEC table: SiLU


def test_atan_is_fitted_on_the_symmetric_domain():
    assert units(one("Atan", [(1, 6)], (1, 6))) == [(6, spec_pieces(np.arctan, -8, 8))]


@pytest.mark.parametrize("op,f,lo,hi", [  # the domains docs/metrics.md states, at B = 8
    ("Sinh", np.sinh, -8, 8), ("Cosh", np.cosh, -8, 8), ("Asinh", np.arcsinh, -8, 8),
    ("Asin", np.arcsin, -1, 1), ("Acos", np.arccos, -1, 1),  # their whole domain
    ("Acosh", np.arccosh, 1, 9),  # from the branch point 1 over a length B
    ("Atanh", np.arctanh, -np.tanh(8), np.tanh(8)),  # poles: where |f| ≤ B
    ("Tan", np.tan, -np.arctan(8), np.arctan(8)),
])
def test_trigonometric_and_hyperbolic_functions_on_their_domains(op, f, lo, hi):
    assert units(one(op, [(1, 6)], (1, 6), opset=22)) == [(6, spec_pieces(f, lo, hi))]


def test_inverse_functions_keep_their_domain_when_b_changes():
    """asin is fitted on [-1, 1] whatever B; atanh follows B through tanh B."""
    m = model([helper.make_node("Asin", ["x"], ["a"], name="/asin"), helper.make_node("Atanh", ["a"], ["y"], name="/atanh")],
              [value("x", 1, 4)], [value("y", 1, 4)], opset=22)
    asin, atanh = onnxlayer.analyze(m, domain=2.0, fuse=False).leaves
    assert units(asin) == [(4, spec_pieces(np.arcsin, -1, 1))]
    assert units(atanh) == [(4, spec_pieces(np.arctanh, -np.tanh(2), np.tanh(2)))]


def test_contrib_quick_gelu_default_comes_from_its_entry():
    """QuickGelu (onnxruntime, no ONNX schema) is x·σ(1.702x) unless alpha says otherwise."""
    default = spec_pieces(lambda x: x / (1 + np.exp(-1.702 * x)), -8, 8)
    assert units(one("QuickGelu", [(1, 4)], (1, 4), domain="com.microsoft")) == [(4, default)]
    assert units(one("QuickGelu", [(1, 4)], (1, 4), domain="com.microsoft", alpha=1.0)) == [(4, 13)]  # SiLU


@pytest.mark.parametrize("exponent,pieces", [
    (2.0, 81),  # SPEC table: x² on [-8, 8]
    (0.5, spec_pieces(np.sqrt, 0, 8)),  # fractional powers on [0, B]
    (-1.0, 25),  # SPEC table: 1/x on [1/8, 8]
])
def test_pow_with_a_static_exponent(exponent, pieces):
    e = numpy_helper.from_array(np.array(exponent, np.float32), "e")
    assert units(one("Pow", [(1, 6)], (1, 6), [e])) == [(6, pieces)]


@pytest.mark.parametrize("bounds,pieces", [((0.0, 6.0), 3), ((0.0, None), 2)])
def test_clip_bounds(bounds, pieces):
    lo, hi = bounds
    inits = [numpy_helper.from_array(np.array(lo, np.float32), "lo")]
    names = ["x0", "lo"] + (["hi"] if hi is not None else [])
    if hi is not None:
        inits.append(numpy_helper.from_array(np.array(hi, np.float32), "hi"))
    node = helper.make_node("Clip", names, ["y"], name="/Clip")
    r = onnxlayer.analyze(model([node], [value("x0", 1, 5)], [value("y", 1, 5)], inits))
    assert units(r.leaves[0]) == [(5, pieces)]


def test_clip_without_bounds_is_linear():
    leaf = one("Clip", [(1, 5)], (1, 5))
    assert leaf.kind == "linear" and leaf.exact and units(leaf) == []


def test_schema_function_ops_without_rule_are_expanded(monkeypatch):
    """An op with an ONNX function body and no rule is inlined (here: a registry without Celu)."""
    from onnxlayer.registry import REGISTRY

    monkeypatch.delitem(REGISTRY._entries, ("", "Celu"))
    (leaf,) = onnxlayer.analyze(model([helper.make_node("Celu", ["x0"], ["y"], name="/celu")],
                                      [value("x0", 1, 4)], [value("y", 1, 4)])).leaves
    # Celu's body (Div, Elu, Mul) fuses back into one unary unit: with α = 1 it is Elu(α=1),
    # 8 pieces by SPEC's table
    assert leaf.fused == ("Div", "Elu", "Mul")
    assert units(leaf) == [(4, 8)]
