"""Region bounds in log space against exact big-integer sums (SPEC §3)."""
from __future__ import annotations

import math

import pytest

import onnxlayer.bounds as bounds
from onnxlayer.bounds import log2_int, region_bits, region_count


@pytest.mark.parametrize("u,p,d", [(8, 2, 4), (256, 2, 64), (64, 4, 64), (5000, 2, 3000), (20000, 3, 9000),
                                   (30000, 81, 200), (12000, 14, 11000), (7000, 13, 6999)])
def test_log_space_matches_big_integers(u, p, d, monkeypatch):
    exact = log2_int(region_count(u, p, d))
    assert region_bits(u, p, d) == pytest.approx(exact, rel=1e-12)
    monkeypatch.setattr(bounds, "EXACT_TERMS", 0)  # force the log-space path
    assert region_bits(u, p, d) == pytest.approx(exact, rel=1e-9)


def test_full_dimension_is_u_log2_p():
    assert region_bits(10**9, 13, 10**9) == pytest.approx(10**9 * math.log2(13), rel=1e-15)


def test_millions_of_units_are_fast_and_finite():
    v = region_bits(3 * 10**6, 81, 10**6)
    assert math.isfinite(v) and 0 < v < 3 * 10**6 * math.log2(81)


def test_trivial_cases():
    assert region_bits(0, 5, 5) == 0.0
    assert region_bits(5, 1, 5) == 0.0
    assert region_bits(5, 2, 0) == 0.0
    assert region_bits(1, 2, 1) == 1.0
    with pytest.raises(ValueError):
        region_bits(-1, 2, 2)


def test_log2_int_huge():
    n = 3 ** 100000
    assert log2_int(n) == pytest.approx(100000 * math.log2(3), rel=1e-14)
