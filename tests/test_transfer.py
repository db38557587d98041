"""SPEC §2 piece counts: the reference table must hold exactly, for the registry's functions."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from onnxlayer.ops.activations import ELU, GELU, HARDSWISH, MISH, RECIPROCAL, SIGMOID, SOFTPLUS, SWISH, TANH
from onnxlayer.ops.normalization import EXP_SHIFTED, RSQRT
from onnxlayer.registry import SQUARE
from onnxlayer.transfer import chord_breaks, function_pieces, is_exact, pieces
from spec_chords import spec_breaks, spec_pieces

TABLE = [  # SPEC §2 reference counts at ε = 0.01, B = 8
    (SIGMOID, (), 9), (TANH, (), 13), (SOFTPLUS, (), 11), (ELU, (1.0,), 8), (GELU, (), 11), (SWISH, (1.0,), 13),
    (HARDSWISH, (), 15), (MISH, (), 12), (SQUARE, (), 81), (EXP_SHIFTED, (), 8), (RECIPROCAL, (), 25), (RSQRT, (), 14),
]


@pytest.mark.parametrize("function,params,expected", TABLE, ids=[f.name for f, _, _ in TABLE])
def test_reference_table(function, params, expected):
    assert function_pieces(function, params, 0.01, 8.0) == expected


def test_relu():
    assert pieces(lambda x: np.maximum(x, 0), -8, 8, 0.01) == 2


#: functions the literal greedy of SPEC §2 checks the segmentation on: smooth, kinked, steep,
#: stepped and oscillating, with segments from a few grid points to the whole grid
LITERAL = {
    "tanh": np.tanh, "square": np.square, "sin3x": lambda x: np.sin(3 * x), "exp": np.exp,
    "swish": lambda x: x / (1 + np.exp(-x)), "cube": lambda x: x**3 / 50, "abs": lambda x: np.abs(x - 0.3),
    "relu": lambda x: np.maximum(x, 0), "softplus": lambda x: np.log1p(np.exp(x)), "gauss": lambda x: np.exp(-x * x),
    "bump": lambda x: 1 / (x * x + 0.5), "stairs": lambda x: np.floor(x) * 0.1, "linear": lambda x: 3 * x - 1,
}


@pytest.mark.parametrize("name", ["tanh", "square", "exp", "relu"])
def test_breaks_match_the_literal_greedy_on_the_full_grid(name):
    """SPEC §2 at its own grid (16385 points on [-8, 8], ε = 0.01): the same breakpoints."""
    fn = LITERAL[name]
    x = np.linspace(-8, 8, 16385)
    assert np.array_equal(x[chord_breaks(fn(x), x, 0.01)], spec_breaks(fn, -8, 8, 0.01))


@pytest.mark.parametrize("name", sorted(LITERAL))
@pytest.mark.parametrize("lo,hi,eps,points", [(-8, 8, 0.01, 2049), (-3, 5, 0.001, 4097), (-1, 1, 1e-4, 1025)])
def test_breaks_match_the_literal_greedy(name, lo, hi, eps, points):
    fn = LITERAL[name]
    x = np.linspace(lo, hi, points)
    assert np.array_equal(x[chord_breaks(fn(x), x, eps)], spec_breaks(fn, lo, hi, eps, points))


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), points=st.integers(2, 700), eps=st.sampled_from([1e-3, 0.01, 0.1, 1.0]),
       roughness=st.sampled_from([0.0, 0.01, 0.3]))
def test_breaks_match_the_literal_greedy_on_random_functions(seed, points, eps, roughness):
    """Random smooth curves plus noise: many short segments, long ones, and ties between them."""
    rng = np.random.default_rng(seed)
    coeffs = rng.normal(size=4)
    noise = rng.normal(size=points) * roughness
    x = np.linspace(-2, 2, points)
    values = np.polyval(coeffs, x) + np.sin(rng.uniform(0, 8) * x) + noise
    fn = lambda grid: values  # noqa: E731  (spec_breaks evaluates on the same grid)
    assert np.array_equal(x[chord_breaks(values, x, eps)], spec_breaks(fn, -2, 2, eps, points))


def test_a_nan_never_stalls_the_segmentation():
    x = np.linspace(-1, 1, 101)
    values = np.where(np.arange(101) == 40, np.nan, x * x)
    assert len(chord_breaks(values, x, 0.01)) < 101


def test_tolerance_and_domain_change_counts():
    assert function_pieces(TANH, (), 0.001, 8.0) == spec_pieces(np.tanh, -8, 8, 0.001) > 13
    assert function_pieces(SQUARE, (), 0.01, 4.0) == spec_pieces(np.square, -4, 4, 0.01) < 81


def test_exactness_follows_the_kind():
    """SPEC §2: PWL ops are exact; smooth, product, normalization and opaque LTAs approximate."""
    assert [k for k in ("structural", "linear", "pwl", "smooth", "product", "normalization", "quantizer", "opaque")
            if is_exact(k)] == ["structural", "linear", "pwl"]
    assert not is_exact("linear|product") and is_exact("pwl|linear")
