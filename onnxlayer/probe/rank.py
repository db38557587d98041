"""Local rank: the numerical rank of each data tensor's Jacobian w.r.t. the input, at points.

At a point x the probe takes K random unit directions v_k and forward differences
(f(x + h·v_k) − f(x)) / h, which are exact Jacobian-vector products for a PWL network as
long as x and x + h·v_k have the same activation pattern (checked; h shrinks 4× up to
`RETRIES` times where it does not). The rank of the K columns (≤ min(rank J, K)) is the
number of singular values above `rtol` times the largest. Tensors longer than
`sketch_rows(K)` are first compressed by a seeded CountSketch, a linear map, so the
measured rank can only drop, never exceed the Jacobian's.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from .engine import Engine, Progress
from .lines import leaf_codes
from ..pattern import LeafPattern

DEFAULT_RTOL = 1e-3
DEFAULT_STEP = 1e-3  # h relative to |x| (or to the input scale · √D0 at the origin)
RETRIES = 3


def sketch_rows(k: int) -> int:
    return max(8 * k, 4096)


@dataclass(frozen=True)
class RankReport:
    ranks: dict[str, list[int]]  # tensor → rank at each point
    directions: int
    points: int
    rtol: float
    step: float  # relative step
    inexact_columns: int  # columns whose pattern still differed after the retries
    evaluations: int


class _Sketch:
    """CountSketch of one tensor's columns (identity for short tensors)."""

    def __init__(self, size: int, rows: int, rng: np.random.Generator) -> None:
        self.size = size
        if size <= rows:
            self.bucket = None
            self.rows = size
        else:
            self.rows = rows
            self.bucket = rng.integers(0, rows, size)
            self.sign = rng.choice(np.array([-1.0, 1.0]), size)

    def apply(self, col: np.ndarray) -> np.ndarray:
        if self.bucket is None:
            return col
        return np.bincount(self.bucket, weights=self.sign * col, minlength=self.rows)


def numerical_rank(columns: np.ndarray, rtol: float) -> int:
    """Singular values above rtol·σ_max, from the K×K Gram matrix (σ² = its eigenvalues;
    float64 keeps σ²/σ²_max accurate far below rtol² for the rtol values that make sense, ≥ 1e-6)."""
    if columns.size == 0:
        return 0
    gram = columns.T @ columns
    if not np.all(np.isfinite(gram)):
        return 0
    lam = np.linalg.eigvalsh(gram)[::-1]
    if not lam.size or lam[0] <= 0:
        return 0
    return int(np.count_nonzero(lam > (rtol * rtol) * lam[0]))


def local_rank(
    engine: Engine,
    patterns: Sequence[LeafPattern],
    tensors: Sequence[str],
    points: np.ndarray,
    directions: int,
    scale: float,
    rng: np.random.Generator,
    rtol: float = DEFAULT_RTOL,
    step: float = DEFAULT_STEP,
    progress: Progress | None = None,
) -> RankReport:
    d0 = engine.input_dim
    ranks: dict[str, list[int]] = {t: [] for t in tensors}
    inexact = 0
    evaluations = 0
    for x in points:
        base = engine.run(x[None, :])
        evaluations += 1
        base_codes = [c[0] for c in leaf_codes(patterns, base)]
        f0 = {t: base[t].reshape(-1).astype(np.float64) for t in tensors}
        del base
        v = rng.standard_normal((directions, d0))
        v /= np.linalg.norm(v, axis=1, keepdims=True)
        norm = float(np.linalg.norm(x))
        h0 = step * (norm if norm > 0 else scale)
        h = np.full(directions, h0)
        sketches = {t: _Sketch(f0[t].size, sketch_rows(directions), rng) for t in tensors}
        cols = {t: np.zeros((sketches[t].rows, directions)) for t in tensors}
        pending = np.arange(directions)
        for attempt in range(RETRIES + 1):
            failed: list[int] = []
            for start in range(0, pending.size, engine.batch_size):
                ks = pending[start : start + engine.batch_size]
                got = engine.run(x[None, :] + h[ks, None] * v[ks])
                evaluations += len(ks)
                if progress is not None:
                    progress.update(len(ks))
                codes = leaf_codes(patterns, got)
                for r, k in enumerate(ks):
                    if not all(np.array_equal(c[r], b) for c, b in zip(codes, base_codes)):
                        failed.append(int(k))
                    for t in tensors:
                        diff = (got[t][r].reshape(-1).astype(np.float64) - f0[t]) / h[k]
                        cols[t][:, k] = sketches[t].apply(diff)
                del got
            # a smaller step helps where some columns kept their pattern; where none did
            # (pattern changes denser than any affordable step) retrying only costs time
            if failed and (attempt == RETRIES or len(failed) == pending.size):
                inexact += len(failed)
                break
            if not failed:
                break
            pending = np.array(failed, dtype=np.int64)
            h[pending] /= 4.0
            if progress is not None:
                progress.add_total(pending.size)
        for t in tensors:
            ranks[t].append(numerical_rank(cols[t], rtol))
    return RankReport(ranks, directions, len(points), rtol, step, inexact, evaluations)
