"""Linear regions along lines x(t) = x0 + t·v, t ∈ [−T, T].

The activation pattern (patterns.py) is evaluated at M evenly spaced points of each line.
Between two points with the same pattern there is no transition: by induction over the
leaves in topological order, a leaf's input is affine in t on the interval while all
upstream patterns are constant, and a ReLU sign, a max of affine functions, a Clip piece
cannot leave and come back on an interval where an affine function starts and ends on the
same piece. (This holds exactly for PWL networks; for fitted smooth units it is the
usual assumption.) Intervals whose end patterns differ are bisected until they are shorter
than the resolution; each such interval is one transition of every leaf whose pattern
changed in it. When the refinement budget runs out, an interval left open counts, per
leaf, the units whose piece changed between its ends (an estimate, reported as such).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from .engine import Engine, Progress
from ..pattern import LeafPattern
from .stats import ActivationStats


@dataclass
class Event:
    """Where the pattern changes on a line: t in (lo, hi]; per leaf, how many transitions."""

    line: int
    lo: float
    hi: float
    changed: dict[int, int]
    resolved: bool


@dataclass
class _Open:
    line: int
    lo: float
    hi: float
    codes_lo: list[np.ndarray]
    codes_hi: list[np.ndarray]


@dataclass
class LineWalk:
    """Everything measured on the lines."""

    events: list[list[Event]]
    evaluations: int
    coarse_evaluations: int
    unresolved: int
    span: float
    resolution: float
    budget: int


def leaf_codes(patterns: Sequence[LeafPattern], fetched: dict[str, np.ndarray],
               stats: ActivationStats | None = None) -> list[np.ndarray]:
    """One (B, units) code array per leaf pattern (its groups side by side)."""
    out = []
    for p in patterns:
        groups = p.codes(fetched)
        if stats is not None:
            stats.update(p.index, groups)
        if len(groups) == 1:
            out.append(groups[0])
        else:
            dtype = np.result_type(*[g.dtype for g in groups])
            out.append(np.concatenate([g.astype(dtype, copy=False) for g in groups], axis=1))
    return out


def _diff(a: Sequence[np.ndarray], b: Sequence[np.ndarray]) -> dict[int, int]:
    """Per leaf position, the number of units whose piece differs (only leaves that changed)."""
    out = {}
    for k, (x, y) in enumerate(zip(a, b)):
        n = int(np.count_nonzero(x != y))
        if n:
            out[k] = n
    return out


def walk_lines(
    engine: Engine,
    patterns: Sequence[LeafPattern],
    origins: np.ndarray,
    directions: np.ndarray,
    span: float,
    points: int,
    resolution: float,
    budget: int,
    stats: ActivationStats | None = None,
    progress: Progress | None = None,
    memory: float = float("inf"),
) -> LineWalk:
    """Count pattern transitions along each line (see the module docstring).

    `budget`: bisection evaluations per line; `memory`: bytes for the patterns kept at the
    ends of intervals awaiting bisection (fewer intervals are kept open when it is short).
    """
    n_lines = origins.shape[0]
    ts = np.linspace(-span, span, points)
    events: list[list[Event]] = [[] for _ in range(n_lines)]
    opened: list[_Open] = []
    kept = [0] * n_lines  # intervals kept open for refinement, per line
    # kept patterns: at most (intervals kept + evaluations) rows per line; both follow the budget
    per_point = max(sum(g.units * (1 if g.pieces <= 256 else 2 if g.pieces <= 65536 else 8)
                        for p in patterns for g in p.groups), 1)
    budget = int(min(budget, memory // (2 * per_point * n_lines))) if math.isfinite(memory) else budget
    keep = budget

    # float32 like the model: the resolution (1e-6·T by default) is well above its rounding
    origins32, directions32 = origins.astype(np.float32), directions.astype(np.float32)

    def point_rows(line_idx: np.ndarray, t: np.ndarray) -> np.ndarray:
        rows = directions32[line_idx] * t.astype(np.float32)[:, None]
        rows += origins32[line_idx]
        return rows

    # coarse pass: consecutive points of a line, in batches across lines
    lines_of = np.repeat(np.arange(n_lines), points)
    t_of = np.tile(ts, n_lines)
    previous: tuple[int, float, list[np.ndarray], bool] | None = None
    total = lines_of.size
    batch = engine.batch_size
    for start in range(0, total, batch):
        li, tt = lines_of[start : start + batch], t_of[start : start + batch]
        got = engine.run(point_rows(li, tt))
        codes = leaf_codes(patterns, got, stats)
        del got
        if progress is not None:
            progress.update(len(li))
        for r in range(len(li)):
            row = [c[r] for c in codes]
            stored = False  # whether `row` is already a kept copy (shared by neighbouring intervals)
            if previous is not None and previous[0] == li[r]:
                line, t_prev, prev_row, prev_stored = previous
                changed = _diff(prev_row, row)
                if changed:
                    if kept[line] < keep:
                        kept[line] += 1
                        lo_codes = prev_row if prev_stored else [c.copy() for c in prev_row]
                        row, stored = [c.copy() for c in row], True
                        opened.append(_Open(line, t_prev, float(tt[r]), lo_codes, row))
                    else:
                        events[line].append(Event(line, t_prev, float(tt[r]), changed, False))
            previous = (int(li[r]), float(tt[r]), row, stored)
        # keep only the last row alive across batches (the views pin the whole batch otherwise)
        if previous is not None and not previous[3]:
            previous = (previous[0], previous[1], [c.copy() for c in previous[2]], True)

    evaluations = total
    spent = [0] * n_lines
    while opened:
        chosen, waiting = [], []
        for item in opened:
            if spent[item.line] < budget:
                spent[item.line] += 1
                chosen.append(item)
            else:
                waiting.append(item)
        for item in waiting:  # out of budget: estimate from the end patterns
            events[item.line].append(Event(item.line, item.lo, item.hi, _diff(item.codes_lo, item.codes_hi), False))
        if not chosen:
            break
        if progress is not None:
            progress.add_total(len(chosen))
        opened = []
        for start in range(0, len(chosen), batch):
            part = chosen[start : start + batch]
            li = np.array([c.line for c in part])
            mids = np.array([(c.lo + c.hi) / 2.0 for c in part])
            got = engine.run(point_rows(li, mids))
            codes = leaf_codes(patterns, got)
            del got
            evaluations += len(part)
            if progress is not None:
                progress.update(len(part))
            for r, item in enumerate(part):
                mid_row = [c[r].copy() for c in codes]
                m = float(mids[r])
                for lo, hi, a, b in ((item.lo, m, item.codes_lo, mid_row), (m, item.hi, mid_row, item.codes_hi)):
                    changed = _diff(a, b)
                    if not changed:
                        continue
                    if hi - lo < resolution or not (lo < (lo + hi) / 2.0 < hi):
                        events[item.line].append(Event(item.line, lo, hi, {k: 1 for k in changed}, True))
                    else:
                        opened.append(_Open(item.line, lo, hi, a, b))
    for line_events in events:
        line_events.sort(key=lambda e: e.lo)
    unresolved = sum(1 for es in events for e in es if not e.resolved)
    return LineWalk(events, evaluations, total, unresolved, span, resolution, budget)


# ----------------------------------------------------------------------------- counting


def leaf_transitions(walk: LineWalk, position: int) -> tuple[int, int]:
    """(transitions, of which estimated) of the leaf at `position` over all lines."""
    total = estimated = 0
    for es in walk.events:
        for e in es:
            n = e.changed.get(position, 0)
            total += n
            if not e.resolved:
                estimated += n
    return total, estimated


def line_regions(walk: LineWalk, positions: set[int]) -> list[int]:
    """Linear regions crossed by each line: 1 + transitions of the leaves at `positions`.

    A resolved event is one transition however many leaves change in it; an open interval
    counts the changed units of every leaf (the estimate of the module docstring).
    """
    out = []
    for es in walk.events:
        n = 1
        for e in es:
            hits = [c for k, c in e.changed.items() if k in positions]
            if hits:
                n += 1 if e.resolved else sum(hits)
        out.append(n)
    return out


def local_regions(walk: LineWalk, position: int, ancestors: set[int]) -> int:
    """Most pieces the leaf cuts one line segment into while its ancestors' patterns hold.

    On such a segment the leaf's input is affine in t, so u units of p pieces cut it into at
    most 1 + u(p−1) = 2^c(u, p, 1) pieces ≤ 2^c(n): the per-leaf bound the probe checks.
    """
    best = 1
    for es in walk.events:
        run = 1
        for e in es:
            if any(k in ancestors for k in e.changed):
                best = max(best, run)
                run = 1
            elif position in e.changed:
                run += e.changed[position]
        best = max(best, run)
    return best


def log2_count(n: int) -> float:
    return math.log2(n) if n > 0 else 0.0
