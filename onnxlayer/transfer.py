"""The local transfer approximation (LTA) record and piecewise-linear fitting (SPEC §2)."""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Callable

from .deferred import numpy as np
from .fitcache import function_fingerprint, remembered

#: SPEC §2 kinds of leaves.
KINDS = ("structural", "linear", "pwl", "smooth", "product", "normalization", "quantizer", "opaque")
#: Kinds whose LTA is exact; every other kind is an approximation.
EXACT_KINDS = frozenset({"structural", "linear", "pwl"})

GRID_POINTS = 16385
DEFAULT_TOLERANCE = 0.01
DEFAULT_DOMAIN = 8.0


@dataclass(frozen=True)
class UnitGroup:
    """`units` scalar nonlinear units, each with at most `pieces` linear pieces."""

    units: int
    pieces: int


@dataclass(frozen=True)
class LTA:
    """Local transfer approximation of one leaf."""

    kind: str
    groups: tuple[UnitGroup, ...]
    rank_cap: int
    exact: bool
    macs: int = 0
    note: str = ""

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown LTA kind {self.kind!r}; kinds are {', '.join(KINDS)}")

    @property
    def units(self) -> int:
        return sum(g.units for g in self.groups)


@dataclass(frozen=True)
class Settings:
    """User-settable PWL fitting parameters: tolerance ε and domain bound B."""

    tolerance: float = DEFAULT_TOLERANCE
    domain: float = DEFAULT_DOMAIN

    def __post_init__(self) -> None:
        from .errors import SettingsError

        if not (math.isfinite(self.tolerance) and self.tolerance > 0):
            raise SettingsError(f"--tolerance must be a positive finite number, got {self.tolerance}")
        if not (math.isfinite(self.domain) and self.domain > 0):
            raise SettingsError(f"--domain must be a positive finite number, got {self.domain}")


def chord_breaks(values: np.ndarray, grid: np.ndarray, tolerance: float) -> np.ndarray:
    """Grid indices of the interior breakpoints of greedy forward chord segmentation (SPEC §2).

    From left point i, the right point j extends while the chord i→j stays within `tolerance`
    of the samples strictly between them. Stated as slopes: the chord slope s_j must lie in
    [max_k (f_k − f_i − ε)/(x_k − x_i), min_k (f_k − f_i + ε)/(x_k − x_i)] over i < k < j, so
    running extrema over a window of right points find the first failing j. A segment is scanned
    window by window (each twice the last segment's length), carrying those extrema across
    windows: about one pass over the grid in all, the Python loop running per window, never per
    grid point. Maxima and minima are exact, so the windows never change a breakpoint.
    """
    f = np.asarray(values, dtype=np.float64)
    x = np.asarray(grid, dtype=np.float64)
    n = len(f)
    breaks: list[int] = []
    i, width = 0, _FIRST_WINDOW
    while i < n - 1:
        start, lo, hi = i + 1, -np.inf, np.inf  # right points before `start` passed; their slope bounds
        while True:
            stop = min(start + width, n)
            dx = x[start:stop] - x[i]
            df = f[start:stop] - f[i]
            slope = df / dx
            lower = (df - tolerance) / dx
            upper = (df + tolerance) / dx
            # bounds from the points strictly between i and j: the running extrema shifted by one
            below = np.maximum.accumulate(lower)
            above = np.minimum.accumulate(upper)
            np.maximum(below, lo, out=below)
            np.minimum(above, hi, out=above)
            bad = ~((slope[1:] >= below[:-1]) & (slope[1:] <= above[:-1]))  # NaN fails
            first = int(bad.argmax()) + 1 if bad.any() else stop - start
            if not (lo <= slope[0] <= hi):  # the window's first point, against the carried bounds
                first = 0
            if first < stop - start or stop == n:
                break
            start, lo, hi = stop, below[-1], above[-1]
            width *= 2
        end = max(start + first - 1, i + 1)  # the last right point that passed (a NaN fails them all: move on)
        width = max(_MIN_WINDOW, 2 * (end - i))
        i = end
        if i < n - 1:
            breaks.append(i)
    return np.asarray(breaks, dtype=np.int64)


#: window widths of chord segmentation (speed only: breakpoints do not depend on them)
_FIRST_WINDOW, _MIN_WINDOW = 64, 16


def segment_count(values: np.ndarray, grid: np.ndarray, tolerance: float) -> int:
    """Number of segments of the greedy forward chord segmentation (SPEC §2)."""
    if not np.all(np.isfinite(np.asarray(values, dtype=np.float64))):
        raise ValueError("function is not finite on the fitting domain")
    return len(chord_breaks(values, grid, tolerance)) + 1


def pieces(fn: Callable[[np.ndarray], np.ndarray], lo: float, hi: float, tolerance: float) -> int:
    """Number of linear pieces of `fn` on [lo, hi] at tolerance ε (SPEC §2)."""
    grid = np.linspace(lo, hi, GRID_POINTS)
    with np.errstate(all="ignore"):
        values = np.asarray(fn(grid), dtype=np.float64)
    return segment_count(np.broadcast_to(values, grid.shape), grid, tolerance)


def is_exact(kind: str) -> bool:
    """Exactness follows from the kind (SPEC §2): PWL, linear and structural LTAs are exact,
    the rest are approximations. A nominal kind such as "linear|product" is exact only if every part is."""
    return all(k in EXACT_KINDS for k in kind.split("|"))


def symmetric(bound: float, *params: object) -> tuple[float, float]:
    """The default fitting domain [-B, B]."""
    return (-bound, bound)


def positive(bound: float, *params: object) -> tuple[float, float]:
    """[1/B, B], for functions with a pole or a singular derivative at 0."""
    return (1.0 / bound, bound)


@dataclass(frozen=True, eq=False)
class ScalarFunction:
    """A scalar map `fn(x, *params)` and the domain it is fitted on, `domain(B, *params)` (SPEC §2).

    Compared by identity, so each function is defined once and cached under itself."""

    name: str
    fn: Callable[..., np.ndarray]
    domain: Callable[..., tuple[float, float]] = symmetric
    #: strictly increasing in x: the probes may read a piece from the output instead of the input
    increasing: bool = False


def erf(x: np.ndarray) -> np.ndarray:
    """The error function elementwise (numpy has none; math.erf per element)."""
    from math import erf as scalar_erf

    return np.vectorize(scalar_erf, otypes=[np.float64])(x)


@lru_cache(maxsize=4096)
def function_pieces(function: ScalarFunction, params: tuple, tolerance: float, domain: float) -> int:
    """Piece count of `function` with `params` on its domain at (ε, B), fitted once (`fitcache`)."""
    lo, hi = function.domain(domain, *params)
    key = ("function", function.name, function_fingerprint(function.fn), tuple(params), float(tolerance), float(lo),
           float(hi), GRID_POINTS)
    return remembered(key, lambda: pieces(lambda x: function.fn(x, *params), lo, hi, tolerance))
