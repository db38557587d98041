"""Region and VC-dimension bounds, computed in log space (SPEC §3).

The region bound of `u` units with `p` pieces each in a `d`-dimensional input space is
the hyperplane-arrangement count generalised to `p − 1` breakpoints per unit
(Montúfar et al. 2014; Serra, Tjandraatmadja & Ramalingam 2018; Hanin & Rolnick 2019):
`Σ_{j=0}^{min(d,u)} C(u, j)·(p−1)^j`. We report its log2 ("bits").
"""
from __future__ import annotations

import math

from .deferred import numpy as np

#: Below this many terms the sum is done exactly with Python integers.
EXACT_TERMS = 4096
#: Most terms summed one by one in log space; wider windows are integrated (see region_bits).
MAX_TERMS = 1 << 16
# Terms further than this below the largest (in natural log) cannot move the sum at 1e-12.
_LOG_WINDOW = 60.0


def log2_int(n: int) -> float:
    """log2 of a positive Python int of any size, to double precision."""
    if n <= 0:
        raise ValueError("log2 of a non-positive integer")
    shift = max(n.bit_length() - 64, 0)
    return shift + math.log2(n >> shift)


def region_count(units: int, pieces: int, dim: int) -> int:
    """The exact region bound as a big integer (use only for small sums)."""
    m = min(dim, units)
    b = pieces - 1
    total, term = 0, 1
    for j in range(m + 1):
        if j:
            term = term * (units - j + 1) * b // j
        total += term
    return total


def region_bits(units: int, pieces: int, dim: int) -> float:
    """log2 Σ_{j=0}^{min(d,u)} C(u,j)(p−1)^j, exact for small sums, log space otherwise."""
    if units < 0 or pieces < 1 or dim < 0:
        raise ValueError(f"invalid region bound arguments u={units} p={pieces} d={dim}")
    if units == 0 or pieces == 1 or dim == 0:
        return 0.0
    m = min(dim, units)
    if m >= units:
        return units * math.log2(pieces)  # binomial theorem: the sum is p^u
    if m <= EXACT_TERMS:
        return log2_int(region_count(units, pieces, dim))
    # log C(u,j) + j log(p−1) is concave in j; its peak over [0, m] bounds the window.
    log_b = math.log(pieces - 1)
    mode = (units * (pieces - 1) - 1) / pieces  # where consecutive terms stop growing
    peak = int(min(m, max(0, math.floor(mode) + 1)))
    lg_u = math.lgamma(units + 1)

    width = 1024
    peak_log = lg_u - math.lgamma(peak + 1) - math.lgamma(units - peak + 1) + peak * log_b
    # widen the window leftwards (and rightwards when the peak is interior) until terms vanish
    lo = peak
    while lo > 0:
        nxt = max(0, lo - width)
        t = lg_u - math.lgamma(nxt + 1) - math.lgamma(units - nxt + 1) + nxt * log_b
        lo = nxt
        if peak_log - t > _LOG_WINDOW:
            break
        width *= 2
    hi, width = peak, 1024
    while hi < m:
        nxt = min(m, hi + width)
        t = lg_u - math.lgamma(nxt + 1) - math.lgamma(units - nxt + 1) + nxt * log_b
        hi = nxt
        if peak_log - t > _LOG_WINDOW:
            break
        width *= 2
    if hi - lo < MAX_TERMS:
        js = np.arange(lo, hi + 1, dtype=np.float64)
        logs = lg_u - _lgamma(js + 1) - _lgamma(units - js + 1) + js * log_b
        top = logs.max()
        return float((top + math.log(np.exp(logs - top).sum())) / math.log(2))
    # A window this wide (about 22 standard deviations of a binomial with u·q(1−q) > 1e7)
    # holds a smooth bell: Euler–Maclaurin, Σ_{lo..hi} f ≈ ∫ f + (f(lo) + f(hi))/2, with the
    # integral by trapezoids on MAX_TERMS points. Summing every term instead took minutes
    # and gigabytes for dims near 2**40 (found by tests/test_fuzz.py).
    js = np.unique(np.append(np.linspace(float(lo), float(hi), MAX_TERMS).round(), [float(lo), float(hi)]))
    logs = lg_u - _lgamma(js + 1) - _lgamma(units - js + 1) + js * log_b
    top = logs.max()
    w = np.exp(logs - top)
    total = float(np.sum((w[1:] + w[:-1]) * np.diff(js)) / 2 + (w[0] + w[-1]) / 2)
    # lgamma near 2**62 carries rounding of ~1e4 nats: keep below the m = u value p^u
    return min(float((top + math.log(total)) / math.log(2)), units * math.log2(pieces))


def _lgamma(x: np.ndarray) -> np.ndarray:
    """math.lgamma of each element (the same values as np.vectorize gives, in 2/3 of its time)."""
    return np.fromiter(map(math.lgamma, x.tolist()), np.float64, len(x))


def vc_bound(
    depth: int,
    params: int,
    max_breakpoints: int,
    units_by_depth: dict[int, int],
    params_by_depth: dict[int, int],
) -> float:
    """Bartlett, Harvey, Liaw & Mehrabian (JMLR 2019), Theorem 7, degree-1 pieces.

    `L' + L̄·W·log2(4·e·p·R·log2(2·e·p·R))` with `L' = L + 1` (the linear output layer),
    `p` the largest number of breakpoints of a unit, `R = Σ_i i·k_i` and
    `L̄ = (1/W) Σ_{i=1}^{L'} W_i`, `W_i` the parameters feeding units at depth ≤ i.
    `params_by_depth[i]` holds the parameters whose leaves feed depth i exactly.
    """
    layers = depth + 1
    if params <= 0:
        return float(layers)
    r = sum(i * k for i, k in units_by_depth.items())
    p = max(max_breakpoints, 1)
    cumulative, running = 0, 0
    for i in range(1, layers + 1):
        running += params_by_depth.get(i, 0)
        cumulative += running
    mean_depth = cumulative / params
    if r == 0:
        return float(layers)
    inner = 4 * math.e * p * r * math.log2(2 * math.e * p * r)
    return layers + mean_depth * params * math.log2(inner)
