"""SPEC §5 worked examples, to 1e-9 relative."""
from __future__ import annotations

import math

import pytest

import onnxlayer
from builders import cnn, mlp, residual

REL = 1e-9


def test_example1_mlp():
    r = onnxlayer.analyze(mlp())
    s = r.summary
    assert s.input_dim == 4
    gemms = [l for l in r.leaves if l.op_type == "Gemm"]
    assert [g.d_out for g in gemms] == [4, 4, 3]
    relus = [l for l in r.leaves if l.op_type == "Relu"]
    assert [l.complexity_bits for l in relus] == [pytest.approx(math.log2(163), rel=REL)] * 2
    assert math.log2(163) == pytest.approx(7.348728, abs=1e-6)
    assert s.complexity_bits == pytest.approx(14.697456, rel=1e-7)
    assert s.complexity_bits == pytest.approx(2 * math.log2(163), rel=REL)
    assert s.intrinsic_power == pytest.approx(math.log2(3 / 4), rel=REL)
    assert s.depth == 2 and s.units == 16
    assert s.params == 4 * 8 + 8 + 8 * 8 + 8 + 8 * 3 + 3
    assert s.macs == 4 * 8 + 8 * 8 + 8 * 3
    assert s.bottleneck.dim == 3


def test_example2_cnn():
    r = onnxlayer.analyze(cnn())
    s = r.summary
    assert s.input_dim == 64
    conv = r.leaf("/conv/Conv")
    assert conv.rank_cap == 64 and conv.d_out == 64
    relu = r.leaf("/relu/Relu")
    assert relu.complexity_bits == pytest.approx(204.141078, rel=1e-8)
    pool = r.leaf("/pool/MaxPool")
    assert pool.complexity_bits == pytest.approx(128.0, rel=REL)
    assert [(g.units, g.pieces) for g in pool.groups] == [(64, 4)]
    assert s.complexity_bits == pytest.approx(332.141078, rel=1e-8)
    assert r.leaves[-1].d_out == 10
    assert s.intrinsic_power == pytest.approx(math.log2(10 / 64), rel=REL)
    assert s.intrinsic_power == pytest.approx(-2.678071, abs=1e-6)


def test_example3_residual():
    r = onnxlayer.analyze(residual())
    s = r.summary
    assert s.complexity_bits == pytest.approx(20.0, rel=REL)
    assert r.leaf("/fc1/Gemm").d_out == 4
    assert r.leaf("/add/Add").d_out == 16
    assert s.intrinsic_power == 0.0


def test_example3_without_skip():
    r = onnxlayer.analyze(residual(skip=False))
    assert r.leaves[-1].d_out == 4
    assert r.summary.intrinsic_power == pytest.approx(-2.0, rel=REL)


def test_mean_power_and_profile():
    r = onnxlayer.analyze(residual())
    # Relu sees d=4 (of 16) at depth 1, the final Relu sees 16 at depth 2
    assert r.summary.intrinsic_power_mean == pytest.approx((math.log2(4 / 16) + 0.0) / 2, rel=REL)
    assert r.summary.profile == ((1, 2.0), (2, 4.0))


def test_vc_bound_example1():
    """Bartlett et al. 2019 Thm 7 for example 1, computed by hand here."""
    s = onnxlayer.analyze(mlp()).summary
    w1, w2, w3 = 4 * 8 + 8, 8 * 8 + 8, 8 * 3 + 3
    total = w1 + w2 + w3
    mean_depth = ((w1) + (w1 + w2) + (w1 + w2 + w3)) / total
    r = 1 * 8 + 2 * 8
    p = 1
    expected = 3 + mean_depth * total * math.log2(4 * math.e * p * r * math.log2(2 * math.e * p * r))
    assert s.vc_bound == pytest.approx(expected, rel=REL)


def test_vc_bound_is_null_for_smooth_networks():
    s = onnxlayer.analyze(mlp(activation="Tanh")).summary
    assert s.vc_bound is None and "smooth" in s.vc_bound_reason


def test_leaf_ratios():
    r = onnxlayer.analyze(mlp())
    last = r.leaves[-1]  # Gemm 8 → 3 with d_in 4
    assert last.intrinsic_power == pytest.approx(math.log2(3 / 4), rel=REL)
    assert last.ambient_ratio == pytest.approx(math.log2(3 / 8), rel=REL)
    assert last.redundancy == pytest.approx(0.0)
