"""SPEC §2's greedy forward chord segmentation written out literally: the tests' oracle for
piece counts and breakpoints, independent of `onnxlayer.transfer` (no slope bounds, no
vectorised extension)."""
from __future__ import annotations

from typing import Callable

import numpy as np

#: SPEC §2: the uniform fitting grid.
GRID_POINTS = 16385


def spec_breaks(f: Callable[[np.ndarray], np.ndarray], lo: float, hi: float, eps: float = 0.01,
                points: int = GRID_POINTS) -> np.ndarray:
    """The interior breakpoints (grid values): from the left point i, extend j one grid point at
    a time while the chord i→j stays within eps of f at every grid point between; close the
    segment at the last j that passed."""
    x = np.linspace(lo, hi, points)
    y = np.asarray(f(x), dtype=np.float64)
    i, breaks = 0, []
    while i < points - 1:
        j = i + 1
        while j + 1 < points:
            k = j + 1
            chord = y[i] + (y[k] - y[i]) * (x[i + 1:k] - x[i]) / (x[k] - x[i])
            if np.all(np.abs(chord - y[i + 1:k]) <= eps):
                j = k
            else:
                break
        if j < points - 1:
            breaks.append(x[j])
        i = j
    return np.array(breaks)


def spec_pieces(f: Callable[[np.ndarray], np.ndarray], lo: float, hi: float, eps: float = 0.01,
                points: int = GRID_POINTS) -> int:
    """The number of segments of SPEC §2's greedy segmentation."""
    return len(spec_breaks(f, lo, hi, eps, points)) + 1
