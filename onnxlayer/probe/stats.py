"""Activation statistics per nonlinear leaf: the share of units on each piece, dead and frozen units.

"Inactive" means on a zero-slope piece (ReLU's negative side, a saturated Clip); a unit is
dead when it never left its zero-slope pieces over all probed samples, frozen when it never
changed piece at all (then the leaf is linear on it for every sample seen).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from ..pattern import LeafPattern
from .result import GroupStats

#: Piece fractions are tallied for groups with at most this many pieces.
MAX_TALLIED_PIECES = 1 << 16


class _Tally:
    def __init__(self, units: int, pieces: int, off: tuple[int, ...]) -> None:
        self.pieces, self.off = pieces, off
        self.counts = np.zeros(pieces, dtype=np.int64) if pieces <= MAX_TALLIED_PIECES else None
        self.ever_on = np.zeros(units, dtype=bool) if off else None
        self.low: np.ndarray | None = None  # per unit, the smallest and largest code seen
        self.high: np.ndarray | None = None
        self.samples = 0

    def update(self, codes: np.ndarray) -> None:
        if codes.shape[0] == 0:
            return
        # min/max reductions over the sample axis are fast on small unsigned codes
        low, high = np.minimum.reduce(codes, axis=0), np.maximum.reduce(codes, axis=0)
        self.low = low if self.low is None else np.minimum(self.low, low)
        self.high = high if self.high is None else np.maximum(self.high, high)
        if self.counts is not None:
            self._count(codes)
        if self.ever_on is not None:
            if self.off == (0,):
                self.ever_on |= high > 0
            else:
                on = codes != self.off[0]
                for o in self.off[1:]:
                    on &= codes != o
                self.ever_on |= np.logical_or.reduce(on, axis=0)
        self.samples += codes.shape[0]

    @property
    def frozen(self) -> int:
        """Units that never changed piece."""
        return 0 if self.low is None else int(np.count_nonzero(self.low == self.high))

    def _count(self, codes: np.ndarray) -> None:
        # few pieces: one comparison pass per piece beats bincount's cast to int64
        if self.pieces <= 8 and codes.dtype.itemsize == 1:
            n = codes.size
            if self.pieces == 2:
                on = int(np.count_nonzero(codes))
                self.counts += (n - on, on)
                return
            for k in range(self.pieces):
                self.counts[k] += int(np.count_nonzero(codes == k))
            return
        flat = codes.reshape(-1)
        if flat.dtype.itemsize == 1 and self.pieces <= 32:
            # "at least k" counts: one fast comparison pass per piece on one-byte codes
            at_least = [flat.size] + [int(np.count_nonzero(flat >= k)) for k in range(1, self.pieces)] + [0]
            self.counts += np.diff(-np.asarray(at_least, dtype=np.int64))
            return
        if flat.dtype.kind == "i" and flat.size and (flat.min() < 0 or flat.max() >= self.pieces):
            self.counts = None  # raw codes (an unknown index convention): no fractions
            return
        self.counts += np.bincount(flat, minlength=self.pieces)[: self.pieces]


class ActivationStats:
    """Running tallies over the samples passed to `update`, per leaf pattern and unit group."""

    def __init__(self, patterns: Sequence[LeafPattern]) -> None:
        self.tallies = {p.index: [_Tally(g.units, g.pieces, g.off) for g in p.groups] for p in patterns}
        self.patterns = {p.index: p for p in patterns}

    def update(self, index: int, group_codes: Sequence[np.ndarray]) -> None:
        for tally, codes in zip(self.tallies[index], group_codes):
            tally.update(codes)

    def samples(self) -> int:
        return max((t.samples for ts in self.tallies.values() for t in ts), default=0)

    def report(self, index: int) -> tuple[GroupStats, ...]:
        out = []
        for g, t in zip(self.patterns[index].groups, self.tallies[index]):
            total = int(t.counts.sum()) if t.counts is not None else 0
            fractions = tuple(float(c) / total for c in t.counts) if t.counts is not None and total else None
            inactive = None
            if g.off and fractions is not None:
                inactive = float(sum(fractions[o] for o in g.off if o < len(fractions)))
            dead = int((~t.ever_on).sum()) if t.ever_on is not None and t.samples else None
            out.append(GroupStats(g.label, g.units, g.pieces, fractions, inactive, dead, t.frozen))
        return tuple(out)
