"""SPEC §2 piece counts: the reference table must hold exactly, for the registry's functions."""
from __future__ import annotations

import numpy as np
import pytest

from onnxlayer.ops.activations import ELU, GELU, HARDSWISH, MISH, RECIPROCAL, SIGMOID, SOFTPLUS, SWISH, TANH
from onnxlayer.ops.normalization import EXP_SHIFTED, RSQRT
from onnxlayer.registry import SQUARE
from onnxlayer.transfer import function_pieces, is_exact, pieces, segment_count
from spec_chords import spec_pieces

TABLE = [  # SPEC §2 reference counts at ε = 0.01, B = 8
    (SIGMOID, (), 9), (TANH, (), 13), (SOFTPLUS, (), 11), (ELU, (1.0,), 8), (GELU, (), 11), (SWISH, (1.0,), 13),
    (HARDSWISH, (), 15), (MISH, (), 12), (SQUARE, (), 81), (EXP_SHIFTED, (), 8), (RECIPROCAL, (), 25), (RSQRT, (), 14),
]


@pytest.mark.parametrize("function,params,expected", TABLE, ids=[f.name for f, _, _ in TABLE])
def test_reference_table(function, params, expected):
    assert function_pieces(function, params, 0.01, 8.0) == expected


def test_relu():
    assert pieces(lambda x: np.maximum(x, 0), -8, 8, 0.01) == 2


@pytest.mark.parametrize("fn", [np.tanh, np.sin, lambda x: x**3 / 50, lambda x: np.abs(x - 0.3)])
def test_fast_segmentation_matches_literal_greedy(fn):
    n = 801
    x = np.linspace(-4, 4, n)
    assert segment_count(fn(x), x, 0.01) == spec_pieces(fn, -4, 4, 0.01, n)


def test_tolerance_and_domain_change_counts():
    assert function_pieces(TANH, (), 0.001, 8.0) == spec_pieces(np.tanh, -8, 8, 0.001) > 13
    assert function_pieces(SQUARE, (), 0.01, 4.0) == spec_pieces(np.square, -4, 4, 0.01) < 81


def test_exactness_follows_the_kind():
    """SPEC §2: PWL ops are exact; smooth, product, normalization and opaque LTAs approximate."""
    assert [k for k in ("structural", "linear", "pwl", "smooth", "product", "normalization", "quantizer", "opaque")
            if is_exact(k)] == ["structural", "linear", "pwl"]
    assert not is_exact("linear|product") and is_exact("pwl|linear")
