"""SPEC §2 piece counts: the reference table must hold exactly."""
from __future__ import annotations


import numpy as np
import pytest

from onnxlayer.transfer import function_pieces, parametric_pieces, pieces, segment_count

TABLE = {
    "sigmoid": 9, "tanh": 13, "softplus": 11, "gelu": 11, "silu": 13, "hardswish": 15,
    "mish": 12, "square": 81, "exp_shifted": 8, "reciprocal": 25, "rsqrt": 14,
}


@pytest.mark.parametrize("name,expected", sorted(TABLE.items()))
def test_reference_table(name, expected):
    assert function_pieces(name, 0.01, 8.0) == expected


def test_elu_and_relu():
    assert parametric_pieces("elu", (1.0,), 0.01, 8.0) == 8
    assert pieces(lambda x: np.maximum(x, 0), -8, 8, 0.01) == 2


def naive_segments(f, lo, hi, eps, n):
    """Literal SPEC §2 greedy: extend j one point at a time, check every point between."""
    x = np.linspace(lo, hi, n)
    y = f(x)
    i, count = 0, 0
    while i < n - 1:
        j = i + 1
        while j + 1 < n:
            jj = j + 1
            chord = y[i] + (y[jj] - y[i]) * (x[i + 1:jj] - x[i]) / (x[jj] - x[i])
            if np.all(np.abs(chord - y[i + 1:jj]) <= eps):
                j = jj
            else:
                break
        count += 1
        i = j
    return count


@pytest.mark.parametrize("fn", [np.tanh, np.sin, lambda x: x**3 / 50, lambda x: np.abs(x - 0.3)])
def test_fast_segmentation_matches_literal_greedy(fn):
    n = 801
    x = np.linspace(-4, 4, n)
    assert segment_count(fn(x), x, 0.01) == naive_segments(fn, -4, 4, 0.01, n)


def test_tolerance_and_domain_change_counts():
    assert function_pieces("tanh", 0.001, 8.0) > 13
    assert function_pieces("square", 0.01, 4.0) < 81
