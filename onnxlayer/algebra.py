"""The layer algebra: a topological walk computing d, c and P per leaf (SPEC §3).

The walk is the algebra on any DAG. `series` and `parallel` state the algebra's rules
for series-parallel blocks; tests check they give the walk's numbers.
"""
from __future__ import annotations

import math
from array import array
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Sequence

from .bounds import region_bits
from .errors import GraphError, ShapeError
from .fitcache import remembered
from .graph import DATA, GraphView
from .registry import REGISTRY, Leaf, LeafContext
from .transfer import LTA, Settings

SOURCE = -1  # the virtual node feeding every source tensor
INTEGER_INPUT = "integer input"  # tags the virtual node of an integer graph input (key: (tag, name))


@dataclass(slots=True)
class LeafWalk:
    """The walk's numbers for one leaf (before they become an immutable result; slots: one per leaf)."""

    leaf: Leaf
    lta: LTA
    d_in: int
    d_out: int
    in_size: int
    out_size: int
    complexity: float
    depth: int  # nonlinear depth of the leaf's units (1 for the first nonlinear layer)
    reaches_output: bool = True
    opaque_reason: str = ""


def leaf_complexity(lta: LTA, d_in: int) -> float:
    return sum(_region_bits(g.units, g.pieces, d_in) for g in lta.groups)


#: Region bounds summing more terms than this are kept in the fit cache: a long sum costs 0.1–20 ms
#: (a wide CNN asks for dozens), a read from the cache about 30 µs.
CACHED_TERMS = 128


def _bounded_regions(units: int, pieces: int, dim: int) -> float:
    terms = min(units, dim)
    if terms >= units or terms <= CACHED_TERMS or pieces <= 1:  # no sum (p^u, or 1), or a short one
        return region_bits(units, pieces, dim)
    return remembered(("region_bits", units, pieces, dim), lambda: region_bits(units, pieces, dim))


# region_bits is a pure function of three ints; repeated layers (and the block algebra
# re-evaluating sub-blocks) ask for the same triples
_region_bits = lru_cache(maxsize=1 << 16)(_bounded_regions)


def log2_ratio(num: int, den: int) -> float | None:
    """log2(num/den) for exact ints; None where undefined (a zero)."""
    if num <= 0 or den <= 0:
        return None if num != den else 0.0
    return math.log2(num) - math.log2(den) if num != den else 0.0


def transfer_of(leaf: Leaf, view: GraphView, settings: Settings) -> tuple[LTA, str]:
    """Look up and apply the leaf's registry rule; opaque (with the reason) if none applies."""
    ctx = LeafContext(leaf, view, settings)
    opset = ctx.opset
    entry = ctx.entry = REGISTRY.lookup(leaf.op_type, leaf.domain, opset)
    if entry is None:  # unknown, or the model's opset is older than the op's first rule
        reason = REGISTRY.missing(leaf.op_type, leaf.domain, opset)
    else:
        try:
            return entry.rule(ctx), ""
        except (ShapeError, GraphError):  # the model's shapes or attributes, not the rule: an error
            raise
        except Exception as exc:  # a rule meeting attributes it cannot read: report, don't guess
            reason = f"rule for {leaf.op_type} failed on {leaf.name!r}: {type(exc).__name__}: {exc}"
    return LTA("opaque", (), ctx.data_out_size, False, note=reason), reason


class Dominators:
    """Immediate dominators over the tensor/leaf DAG from a virtual source, built in
    topological order (a DAG's idom is the nearest common dominator of its predecessors).

    Common dominators are lowest common ancestors in the dominator tree, found through
    depth-indexed jump pointers (Myers 1983): O(log n) each, so a Concat gathering every
    output of a long chain costs n log n, not n². Each node gets an id (the order it came in);
    the tree lives in arrays indexed by id, one dict maps nodes to ids: about 100 bytes a node."""

    def __init__(self) -> None:
        self.order: dict[object, int] = {SOURCE: 0}  # node -> its id
        self.producer: dict[str, int | None] = {}
        self._nodes: list[object] = [SOURCE]  # id -> node
        self._idom = array("q", [0])  # id -> id of its immediate dominator
        self._depth = array("q", [0])
        self._jump = array("q", [0])

    @property
    def idom(self) -> Mapping[object, object]:
        """Node → its immediate dominator (SOURCE's is SOURCE)."""
        return _Immediate(self)

    def add(self, node: object, preds: Sequence[object]) -> object:
        order = self.order
        dom = order[preds[0]] if preds else 0
        for p in preds[1:]:
            dom = self._common(dom, order[p])
        order[node] = len(self._nodes)
        self._nodes.append(node)
        depth, jump = self._depth, self._jump
        self._idom.append(dom)
        depth.append(depth[dom] + 1)
        # skew-binary jumps: equal spans twice in a row merge into one of twice the span
        up = jump[dom]
        jump.append(jump[up] if depth[dom] - depth[up] == depth[up] - depth[jump[up]] else dom)
        return self._nodes[dom]

    def intersect(self, a: object, b: object) -> object:
        """The nearest common dominator of `a` and `b`."""
        return self._nodes[self._common(self.order[a], self.order[b])]

    def _common(self, a: int, b: int) -> int:
        """`intersect` on ids."""
        depth, jump, idom = self._depth, self._jump, self._idom
        if depth[a] < depth[b]:
            a, b = b, a
        level = depth[b]
        while depth[a] > level:
            a = jump[a] if depth[jump[a]] >= level else idom[a]
        while a != b:  # same depth: jump pointers land at the same depth too
            if jump[a] != jump[b]:
                a, b = jump[a], jump[b]
            else:
                a, b = idom[a], idom[b]
        return a

    def chain(self, sinks: Sequence[str]) -> list[tuple[str, int | None]]:
        """Tensors on every source-to-sink path, first to last, with their producing leaf."""
        ids = [self.order[s] for s in sinks if s in self.order]
        if not ids:
            return []
        node = ids[0]
        for other in ids[1:]:
            node = self._common(node, other)
        chain: list[tuple[str, int | None]] = []
        while node != 0:
            key = self._nodes[node]
            if isinstance(key, str):
                chain.append((key, self.producer.get(key)))
            node = self._idom[node]
        chain.reverse()
        return chain


class _Immediate(Mapping):
    """The immediate dominator of each node of a `Dominators`, read through its arrays."""

    def __init__(self, dominators: Dominators) -> None:
        self._of = dominators

    def __getitem__(self, node: object) -> object:
        of = self._of
        return of._nodes[of._idom[of.order[node]]]

    def __iter__(self) -> Iterator[object]:
        return iter(self._of.order)

    def __len__(self) -> int:
        return len(self._of.order)


def walk(
    view: GraphView, leaves: Sequence[Leaf], settings: Settings, dominators: Dominators | None = None
) -> tuple[list[LeafWalk], dict[str, int], int]:
    """Walk leaves in topological order; return per-leaf numbers, d per tensor and D0.

    d_in(n) = min(D0, Σ d(i), d(idom(n))): besides SPEC §3's sum, a leaf's input can carry no
    more dimensions than the tensor (or leaf) that dominates all its inputs. On series-parallel
    graphs this is exactly the parallel rule's min(Σ d_out, out size, d_in).
    """
    tensors = view.tensors
    dom = dominators if dominators is not None else Dominators()
    d: dict[str, int] = {}
    depth_of: dict[str, int] = {}
    bound: dict[object, int] = {}  # d of the dominator tree's other nodes (leaves, roots): a tensor's is its d
    # sources derived from integer inputs share those inputs' elements (SPEC §1 v1.1): each integer
    # input is a virtual root of its element count, counted once in D0, above the sources made from it
    roots = {name: tensors[name].size for t in view.sources for name in t.derived_from}
    d0 = sum(roots.values()) + sum(t.size for t in view.sources if not t.derived_from)
    bound[SOURCE] = d0
    for name, size in roots.items():
        dom.add((INTEGER_INPUT, name), ())
        bound[(INTEGER_INPUT, name)] = size
    for t in view.sources:
        keys = [(INTEGER_INPUT, name) for name in t.derived_from]
        fork = dom.add(t.name, keys)
        dom.producer[t.name] = None
        d[t.name] = min(t.size, sum(roots[name] for name in t.derived_from), bound[fork]) if keys else t.size
        depth_of[t.name] = 0

    reaching = _reaching_outputs(view, leaves)
    results: list[LeafWalk] = []
    for k, leaf in enumerate(leaves):
        data_inputs = list(dict.fromkeys(n for n in leaf.inputs + leaf.node.implicit_inputs if n and tensors[n].role == DATA))
        lta, reason = transfer_of(leaf, view, settings)
        key = ("leaf", k)
        fork = dom.add(key, data_inputs)
        d_in = min(d0, sum(d.get(n, 0) for n in data_inputs), d[fork] if isinstance(fork, str) else bound[fork])
        depth_in = max((depth_of.get(n, 0) for n in data_inputs), default=0)
        nonlinear = bool(lta.groups)
        depth = depth_in + 1 if nonlinear else depth_in
        outs = [o for o in leaf.outputs if o and tensors[o].role == DATA]
        d_out_total = 0
        for o in outs:
            d[o] = min(d_in, lta.rank_cap, tensors[o].size)
            depth_of[o] = depth
            dom.add(o, (key,))
            dom.producer[o] = k
            d_out_total += d[o]
        d_out = min(d_in, d_out_total)
        bound[key] = d_out
        in_size = sum(tensors[n].size for n in data_inputs)
        out_size = sum(tensors[o].size for o in outs)
        results.append(
            LeafWalk(leaf, lta, d_in, d_out, in_size, out_size, leaf_complexity(lta, d_in),
                     depth if nonlinear else depth_in + 1, k in reaching, reason)
        )
    return results, d, d0


def _reaching_outputs(view: GraphView, leaves: Sequence[Leaf]) -> set[int]:
    """Indices of leaves from which some graph output can be reached."""
    producer = {o: k for k, leaf in enumerate(leaves) for o in leaf.outputs if o}
    seen: set[int] = set()
    stack = list(view.outputs)
    visited: set[str] = set()
    while stack:
        name = stack.pop()
        if name in visited:
            continue
        visited.add(name)
        k = producer.get(name)
        if k is not None:
            if k not in seen:
                seen.add(k)
                leaf = leaves[k]
                stack.extend(n for n in leaf.inputs + leaf.node.implicit_inputs if n)
        elif (node := view.producer(name)) is not None:
            stack.extend(node.all_inputs)
    return seen


# ------------------------------------------------------------------ algebra on blocks


@dataclass(frozen=True)
class BlockValue:
    complexity: float
    d_in: int
    d_out: int

    @property
    def power(self) -> float:
        return log2_ratio(self.d_out, self.d_in) or 0.0


class Block:
    """A block of the algebra: a function of its input's effective dimension."""

    def evaluate(self, d_in: int) -> BlockValue:  # pragma: no cover - interface
        raise NotImplementedError


@dataclass(frozen=True)
class LeafBlock(Block):
    lta: LTA
    out_size: int

    def evaluate(self, d_in: int) -> BlockValue:
        return BlockValue(leaf_complexity(self.lta, d_in), d_in, min(d_in, self.lta.rank_cap, self.out_size))


@dataclass(frozen=True)
class Series(Block):
    """A∘B: C = C(A) + C(B | d_out(A)), P = P(A) + P(B)."""

    parts: tuple[Block, ...]

    def evaluate(self, d_in: int) -> BlockValue:
        total, d = 0.0, d_in
        for part in self.parts:
            v = part.evaluate(d)
            total += v.complexity
            d = v.d_out
        return BlockValue(total, d_in, d)


@dataclass(frozen=True)
class Parallel(Block):
    """Branches on one input merged by Add/Sum/Concat: C = ΣC, d_out = min(Σd_out, out size, d_in)."""

    branches: tuple[Block, ...]
    merge: Block  # the merge leaf (its own units, if any, see the merged dimension)
    merged_size: int

    def evaluate(self, d_in: int) -> BlockValue:
        values = [b.evaluate(d_in) for b in self.branches]
        merged = min(sum(v.d_out for v in values), self.merged_size, d_in)
        m = self.merge.evaluate(merged)
        return BlockValue(sum(v.complexity for v in values) + m.complexity, d_in, m.d_out)


def series(*parts: Block) -> Series:
    return Series(tuple(parts))


def parallel(merge: Block, merged_size: int, *branches: Block) -> Parallel:
    return Parallel(tuple(branches), merge, merged_size)


def identity() -> Block:
    return Series(())


@dataclass(frozen=True)
class Select(Block):
    """One output of a multi-output leaf (or one graph source): d = min(d, κ, size), no units."""

    rank_cap: int
    size: int

    def evaluate(self, d_in: int) -> BlockValue:
        return BlockValue(0.0, d_in, min(d_in, self.rank_cap, self.size))


@dataclass(frozen=True)
class MultiOutputLeaf(Block):
    """A leaf with several data outputs: each output gets min(d_in, κ, size), the leaf their sum."""

    lta: LTA
    out_sizes: tuple[int, ...]

    def evaluate(self, d_in: int) -> BlockValue:
        d_out = min(d_in, sum(min(d_in, self.lta.rank_cap, s) for s in self.out_sizes))
        return BlockValue(leaf_complexity(self.lta, d_in), d_in, d_out)


@dataclass(frozen=True)
class DagStep:
    """One leaf of a DAG block: its LTA, the tensors it reads and the tensors (with sizes) it writes."""

    lta: LTA
    inputs: tuple[str, ...]
    outputs: tuple[tuple[str, int], ...]  # (tensor, size)


@dataclass(frozen=True)
class DagBlock(Block):
    """A region that is not series-parallel, evaluated with the walk's rule (SPEC §3):
    d_in(n) = min(Σ d(inputs), d(idom(n))), d(out) = min(d_in, κ, size); the block input
    plays the role of D0, which it bounds for every tensor of the region."""

    entry: tuple[tuple[str, int], ...]  # tensors fed by the block input, with their caps
    steps: tuple[DagStep, ...]

    def evaluate(self, d_in: int) -> BlockValue:
        dom = Dominators()
        d: dict[str, int] = {}
        bound: dict[object, int] = {SOURCE: d_in}
        for name, cap in self.entry:
            d[name] = min(d_in, cap)
            dom.add(name, ())
            bound[name] = d[name]
        total = 0.0
        key: object = SOURCE
        for k, step in enumerate(self.steps):
            key = ("leaf", k)
            fork = dom.add(key, step.inputs)
            leaf_in = min(d_in, sum(d[i] for i in step.inputs), bound[fork])
            total += leaf_complexity(step.lta, leaf_in)
            out_total = 0
            for name, size in step.outputs:
                d[name] = min(leaf_in, step.lta.rank_cap, size)
                dom.add(name, (key,))
                bound[name] = d[name]
                out_total += d[name]
            bound[key] = min(leaf_in, out_total)
        return BlockValue(total, d_in, bound[key])
