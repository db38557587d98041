"""Activation-pattern records: for a nonlinear leaf, which linear piece every unit is on.

An op's probe pattern (declared in its registry entry, beside its LTA rule) maps the leaf to
the tensors it needs and a function from their values (each (B, *per-sample dims)) to integer
codes, one array (B, units) per unit group of the leaf's LTA (SPEC §2): Relu its sign,
MaxPool the argmax position in the window, a smooth unary leaf the index of the fitted chord
segment its input falls on (SPEC §2's greedy segmentation; values outside the domain count in
the end pieces). Two inputs have the same pattern for a leaf exactly when every unit of the
leaf is on the same piece. The records and the builders op families share live here, below
the probes, so `onnxlayer.ops` needs neither the probes nor onnxruntime.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Mapping, Sequence

from .deferred import numpy as np
from .graph import DATA, GraphView
from .registry import Leaf, LeafContext, OpEntry
from .transfer import GRID_POINTS, LTA, ScalarFunction, Settings, chord_breaks

Codes = Callable[[Mapping[str, "np.ndarray"]], "list[np.ndarray]"]
#: Elements per chunk of the piece lookups (fits in cache).
CHUNK = 1 << 16


class NotProbed(Exception):
    """The leaf has units but no pattern applies (the reason is reported)."""


@dataclass(frozen=True)
class ExtraOutput:
    """An optional node output the probes need (e.g. MaxPool's Indices), added under `tensor`."""

    node_index: int  # graph.Node.index: the node's position in the prepared model
    slot: int
    tensor: str
    elem_type: int


@dataclass(frozen=True)
class GroupPattern:
    """One unit group as the probe sees it: `pieces` codes 0..pieces−1, `off` the zero-slope ones."""

    units: int
    pieces: int
    off: tuple[int, ...] = ()
    label: str = ""


@dataclass
class LeafPattern:
    index: int
    leaf: Leaf
    groups: tuple[GroupPattern, ...]
    tensors: tuple[str, ...]
    codes: Codes
    extras: tuple[ExtraOutput, ...] = ()
    note: str = ""

    @property
    def units(self) -> int:
        return sum(g.units for g in self.groups)


# ----------------------------------------------------------------------------- chord segmentation


@dataclass(frozen=True)
class Segmentation:
    """A fitted scalar map's pieces on the uniform grid over [lo, hi]: breakpoint grid indices
    per distinct constant column (`column[u]` for unit u; None: one column for all units)."""

    lo: float
    hi: float
    breaks: tuple[np.ndarray, ...]
    column: np.ndarray | None = None
    tables: list = field(default_factory=list, compare=False, repr=False)

    @property
    def pieces(self) -> int:
        return max(len(b) for b in self.breaks) + 1

    def points(self, c: int = 0) -> np.ndarray:
        """The breakpoints as values."""
        return self.lo + (self.hi - self.lo) * self.breaks[c] / (GRID_POINTS - 1)

    def _table(self) -> np.ndarray:
        """(columns, GRID_POINTS + 1): the piece of a value in grid cell g − 1 (cell −1: below lo)."""
        if not self.tables:
            dtype = np.uint8 if self.pieces <= 256 else np.uint16
            t = np.zeros((len(self.breaks), GRID_POINTS + 1), dtype=dtype)
            for c, b in enumerate(self.breaks):
                marks = np.zeros(GRID_POINTS + 1, dtype=np.int64)
                np.add.at(marks, b + 1, 1)  # values at or past break point b are beyond it
                t[c] = np.cumsum(marks)
            self.tables.append(t)
        return self.tables[0]

    def index(self, z: np.ndarray) -> np.ndarray:
        """Piece index of each value of z (B, units); outside the domain: the end pieces.

        A lookup on the fitting grid (the breakpoints are grid points), in float32: the
        cell of a value is off by at most ~0.002 of a grid step (2e-6 at B = 8). Rows go
        in cache-sized chunks (twice as fast as whole-array passes)."""
        table = self._table()
        step = (GRID_POINTS - 1) / (self.hi - self.lo)
        scale, shift = np.float32(step), np.float32(1.0 - self.lo * step)
        z = np.asarray(z)
        out = np.empty(z.shape, dtype=table.dtype)
        rows = max(1, CHUNK // max(z.shape[1], 1))
        cell = np.empty((min(rows, z.shape[0]), z.shape[1]), dtype=np.float32)
        for start in range(0, z.shape[0], rows):
            part = z[start : start + rows]
            c = cell[: part.shape[0]]
            # grid cell + 1 of each value, clipped to [0, GRID_POINTS] (0: below lo)
            np.multiply(part, scale, out=c, casting="unsafe")
            c += shift
            np.clip(c, 0.0, float(GRID_POINTS), out=c)
            g = c.astype(np.intp)  # truncation is floor for non-negative values
            if self.column is None:
                np.take(table[0], g, out=out[start : start + rows])
            else:
                out[start : start + rows] = table[self.column[None, :], g]
        return out


def segmentation(function: ScalarFunction, params: tuple, settings: Settings) -> Segmentation:
    """The chord segmentation of `function` with `params` on its fitting domain (the LTA's pieces)."""
    lo, hi = function.domain(settings.domain, *params)
    grid = np.linspace(lo, hi, GRID_POINTS)
    with np.errstate(all="ignore"):
        values = np.broadcast_to(np.asarray(function.fn(grid, *params), dtype=np.float64), grid.shape)
    return Segmentation(lo, hi, (chord_breaks(values, grid, settings.tolerance),))


# ----------------------------------------------------------------------------- context


class PatternContext(LeafContext):
    """A pattern's view of its leaf: attributes, shapes, static values of the runnable model."""

    def __init__(self, index: int, leaf: Leaf, view: GraphView, settings: Settings, lta: LTA,
                 statics: Mapping[str, np.ndarray], entry: OpEntry) -> None:
        super().__init__(leaf, view, settings, entry)
        self.index = index
        self.lta = lta
        self.statics = statics

    def dims_of(self, name: str) -> tuple[int, ...]:
        return self.view.tensors[name].dims

    def data_names(self) -> list[str]:
        return [n for n in dict.fromkeys(self.leaf.inputs) if n and self.view.tensors[n].role == DATA]

    def static(self, name: str) -> np.ndarray | None:
        if not name:
            return None
        if name in self.statics:
            return np.asarray(self.statics[name])
        v = self.view.value(name)
        return None if v is None else np.asarray(v)

    def out_name(self) -> str:
        return self.leaf.outputs[0]

    def make(self, groups: Sequence[GroupPattern], tensors: Sequence[str], codes: Codes,
             extras: Sequence[ExtraOutput] = (), note: str = "") -> LeafPattern:
        want = sum(g.units for g in self.lta.groups)
        got = sum(g.units for g in groups)
        if want and got != want and not note:
            note = f"probes {got} units where the LTA counts {want}"
        return LeafPattern(self.index, self.leaf, tuple(groups), tuple(dict.fromkeys(tensors)), codes, tuple(extras), note)


# ----------------------------------------------------------------------------- shared builders


def compact(codes: np.ndarray, pieces: int) -> np.ndarray:
    """Smallest unsigned dtype holding the codes (patterns are stored for bisection)."""
    if codes.dtype == np.bool_:
        return codes.view(np.uint8)
    if pieces <= 256:
        return codes.astype(np.uint8)
    if pieces <= 65536:
        return codes.astype(np.uint16)
    return codes.astype(np.int64)


def flat(a: np.ndarray) -> np.ndarray:
    return a.reshape(a.shape[0], -1)


def sign_pattern(ctx: PatternContext, name: str, threshold: float = 0.0, label: str = "", off: tuple[int, ...] = (0,)) -> LeafPattern:
    """Two pieces split at `threshold`; code 1 above it. `off`: the zero-slope piece, if any."""
    units = math.prod(ctx.dims_of(name))
    return ctx.make([GroupPattern(units, 2, off, label or ctx.leaf.op_type)], (name,),
                    lambda f: [compact(flat(f[name]) > threshold, 2)])


def unary_pattern(ctx: PatternContext, x: str, seg: Segmentation, label: str) -> LeafPattern:
    """One unit per element of `x`, on the piece of `seg` its value falls in."""
    units = math.prod(ctx.dims_of(x))
    pieces = seg.pieces
    return ctx.make([GroupPattern(units, pieces, (), label)], (x,), lambda f: [compact(seg.index(flat(f[x])), pieces)])


def argmax_pattern(ctx: PatternContext, x: str, axes: Sequence[int], label: str, arg=None) -> LeafPattern:
    """One unit per vector over `axes` of `x`, on the piece of its arg-extremum (`arg`: np.argmax unless given)."""
    arg = np.argmax if arg is None else arg
    dims = ctx.dims_of(x)
    rank = len(dims)
    axes = sorted({int(a) % rank for a in axes})
    keep = [a for a in range(rank) if a not in axes]
    n = math.prod(dims[a] for a in axes)
    groups_count = math.prod(dims[a] for a in keep)

    def codes(f):
        v = f[x]
        b = v.shape[0]
        moved = np.transpose(v, [0] + [a + 1 for a in keep] + [a + 1 for a in axes]).reshape(b, groups_count, n)
        return [compact(arg(moved, axis=-1), n)]

    return ctx.make([GroupPattern(groups_count, n, (), label)], (x,), codes)
