"""Region bounds in log space against exact big-integer sums (SPEC §3)."""
from __future__ import annotations

import math

import pytest

import onnxlayer.bounds as bounds
from builders import region_bits as exact_bits
from onnxlayer.bounds import log2_int, region_bits, region_count


@pytest.mark.parametrize("u,p,d", [(8, 2, 4), (256, 2, 64), (64, 4, 64), (5000, 2, 3000), (20000, 3, 9000),
                                   (30000, 81, 200), (12000, 14, 11000), (7000, 13, 6999)])
def test_log_space_matches_big_integers(u, p, d, monkeypatch):
    exact = exact_bits(u, p, d)
    assert region_bits(u, p, d) == pytest.approx(exact, rel=1e-12)
    monkeypatch.setattr(bounds, "EXACT_TERMS", 0)  # force the log-space path
    assert region_bits(u, p, d) == pytest.approx(exact, rel=1e-9)


@pytest.mark.parametrize("u,p,d", [(8, 2, 4), (256, 2, 64), (64, 4, 64), (30, 13, 7), (12, 81, 12), (9, 2, 0)])
def test_region_count_is_the_binomial_sum(u, p, d):
    assert region_count(u, p, d) == sum(math.comb(u, j) * (p - 1) ** j for j in range(min(d, u) + 1))


def test_spec_worked_examples():
    """SPEC §5: a Relu of 8 units in d = 4 cuts 163 regions; 256 units in d = 64 give 204.141078… bits."""
    assert region_count(8, 2, 4) == 163
    assert region_bits(8, 2, 4) == pytest.approx(7.348728, abs=1e-6)
    assert region_bits(256, 2, 64) == pytest.approx(204.141078, abs=1e-6)
    assert region_bits(64, 4, 64) == 128.0


def test_full_dimension_is_u_log2_p():
    assert region_bits(10**9, 13, 10**9) == pytest.approx(10**9 * math.log2(13), rel=1e-15)


def test_millions_of_units_within_the_last_term_bounds():
    """u = 3·10⁶ units of 81 pieces in d = 10⁶: term j is term j−1 times (u−j+1)·80/j, still
    ≥ r = (u−d+1)·80/d ≈ 160 at j = d, so the sum lies between its last term t_d and t_d/(1 − 1/r).
    SPEC §3 asks a relative error below 1e-9 for millions of units."""
    u, p, d = 3 * 10**6, 81, 10**6
    last = (math.lgamma(u + 1) - math.lgamma(d + 1) - math.lgamma(u - d + 1)) / math.log(2) + d * math.log2(p - 1)
    ratio = (u - d + 1) * (p - 1) / d
    v = region_bits(u, p, d)
    assert last * (1 - 1e-9) <= v <= (last - math.log2(1 - 1 / ratio)) * (1 + 1e-9)


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
