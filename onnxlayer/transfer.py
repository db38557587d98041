"""The local transfer approximation (LTA) record and piecewise-linear fitting (SPEC §2)."""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Callable

import numpy as np

#: SPEC §2 kinds of leaves.
KINDS = ("structural", "linear", "pwl", "smooth", "product", "normalization", "quantizer", "opaque")

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

    @property
    def max_pieces(self) -> int:
        return max((g.pieces for g in self.groups), default=1)


@dataclass(frozen=True)
class Settings:
    """User-settable PWL fitting parameters: tolerance ε and domain bound B."""

    tolerance: float = DEFAULT_TOLERANCE
    domain: float = DEFAULT_DOMAIN

    def __post_init__(self) -> None:
        from .errors import SettingsError

        if not (np.isfinite(self.tolerance) and self.tolerance > 0):
            raise SettingsError(f"--tolerance must be a positive finite number, got {self.tolerance}")
        if not (np.isfinite(self.domain) and self.domain > 0):
            raise SettingsError(f"--domain must be a positive finite number, got {self.domain}")


def chord_breaks(values: np.ndarray, grid: np.ndarray, tolerance: float) -> np.ndarray:
    """Grid indices of the interior breakpoints of greedy forward chord segmentation (SPEC §2).

    From left point i, the right point j extends while the chord i→j stays within
    `tolerance` of the samples strictly between them. Stated as slopes: the chord
    slope s_j must lie in [max_k (f_k − f_i − ε)/(x_k − x_i), min_k (f_k − f_i + ε)/(x_k − x_i)]
    over i < k < j, so one cumulative max/min per segment finds the first failing j.
    """
    f = np.asarray(values, dtype=np.float64)
    x = np.asarray(grid, dtype=np.float64)
    n = len(f)
    breaks: list[int] = []
    i = 0
    while i < n - 1:
        dx = x[i + 1 :] - x[i]
        df = f[i + 1 :] - f[i]
        slope = df / dx
        lower = (df - tolerance) / dx
        upper = (df + tolerance) / dx
        # bounds from points strictly between i and j: shift the cumulative extrema by one
        lo = np.empty_like(lower)
        hi = np.empty_like(upper)
        lo[0], hi[0] = -np.inf, np.inf
        lo[1:] = np.maximum.accumulate(lower[:-1])
        hi[1:] = np.minimum.accumulate(upper[:-1])
        ok = (slope >= lo) & (slope <= hi)
        failing = np.flatnonzero(~ok)
        last = (failing[0] - 1) if failing.size else len(ok) - 1
        i = i + 1 + last
        if i < n - 1:
            breaks.append(i)
    return np.asarray(breaks, dtype=np.int64)


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


@dataclass(frozen=True)
class ScalarFunction:
    """A named smooth scalar function with the domain it is fitted on (in units of B)."""

    name: str
    fn: Callable[[np.ndarray], np.ndarray] = field(compare=False)
    domain: Callable[[float], tuple[float, float]] = field(compare=False)


def _erf(x: np.ndarray) -> np.ndarray:
    from math import erf

    return np.vectorize(erf, otypes=[np.float64])(x)


def _softplus(x: np.ndarray) -> np.ndarray:
    return np.logaddexp(0.0, x)


def _sym(b: float) -> tuple[float, float]:
    return (-b, b)


def _pos(b: float) -> tuple[float, float]:
    return (1.0 / b, b)


#: The smooth functions of the registry. One source of truth for their domains.
FUNCTIONS: dict[str, ScalarFunction] = {
    f.name: f
    for f in (
        ScalarFunction("sigmoid", lambda x: 1.0 / (1.0 + np.exp(-x)), _sym),
        ScalarFunction("tanh", np.tanh, _sym),
        ScalarFunction("softplus", _softplus, _sym),
        ScalarFunction("softsign", lambda x: x / (1.0 + np.abs(x)), _sym),
        ScalarFunction("gelu", lambda x: 0.5 * x * (1.0 + _erf(x / np.sqrt(2.0))), _sym),
        ScalarFunction(
            "gelu_tanh",
            lambda x: 0.5 * x * (1.0 + np.tanh(np.sqrt(2.0 / np.pi) * (x + 0.044715 * x**3))),
            _sym,
        ),
        ScalarFunction("silu", lambda x: x / (1.0 + np.exp(-x)), _sym),
        ScalarFunction("hardswish", lambda x: x * np.clip(x / 6.0 + 0.5, 0.0, 1.0), _sym),
        ScalarFunction("mish", lambda x: x * np.tanh(_softplus(x)), _sym),
        ScalarFunction("erf", _erf, _sym),
        ScalarFunction("square", lambda x: x * x, _sym),
        ScalarFunction("exp", np.exp, _sym),
        # Softmax's exponentials act on max-subtracted inputs, so on [-B, 0].
        ScalarFunction("exp_shifted", np.exp, lambda b: (-b, 0.0)),
        ScalarFunction("reciprocal", lambda x: 1.0 / x, _pos),
        ScalarFunction("rsqrt", lambda x: 1.0 / np.sqrt(x), _pos),
        ScalarFunction("log", np.log, _pos),
        ScalarFunction("sqrt", np.sqrt, lambda b: (0.0, b)),
        ScalarFunction("sin", np.sin, _sym),
        ScalarFunction("cos", np.cos, _sym),
    )
}


@lru_cache(maxsize=4096)
def function_pieces(name: str, tolerance: float, domain: float) -> int:
    """Cached piece count of a registered scalar function at (ε, B)."""
    f = FUNCTIONS[name]
    lo, hi = f.domain(domain)
    return pieces(f.fn, lo, hi, tolerance)


@lru_cache(maxsize=4096)
def parametric_pieces(name: str, params: tuple[float, ...], tolerance: float, domain: float) -> int:
    """Cached piece count of a parametrised activation (Elu α, Selu, Celu, Pow exponent...)."""
    lo, hi = -domain, domain
    if name == "elu":
        (alpha,) = params
        fn = lambda x: np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0)))  # noqa: E731
    elif name == "selu":
        alpha, gamma = params
        fn = lambda x: gamma * np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0)))  # noqa: E731
    elif name == "celu":
        (alpha,) = params
        fn = lambda x: np.maximum(0, x) + np.minimum(0, alpha * np.expm1(x / alpha))  # noqa: E731
    elif name == "swish":
        (alpha,) = params
        fn = lambda x: x / (1.0 + np.exp(-alpha * x))  # noqa: E731
    elif name == "pow":
        (exponent,) = params
        if float(exponent).is_integer() and exponent >= 0:
            fn = lambda x: x ** int(exponent)  # noqa: E731
        else:
            # fractional or negative powers live on the positive half-line
            lo, hi = (1.0 / domain, domain) if exponent < 0 else (0.0, domain)
            fn = lambda x: np.power(x, exponent)  # noqa: E731
    else:
        raise KeyError(f"no parametric function {name!r}")
    return pieces(fn, lo, hi, tolerance)
