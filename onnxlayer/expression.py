"""The layer-algebra expression of a network: its series (∘) / parallel (⊕) decomposition.

The leaves of the data graph are split, recursively, at the tensors (and multi-output
leaves) that every path between two points passes through: those give series parts. A
part that ends in a leaf with several data inputs is a parallel block when the inputs'
branches share no leaf (they fork at the part's entry and merge at that leaf); otherwise
it is a DAG block (DenseNet's concatenations), evaluated by the walk's own rule on the
region. Every block is an `algebra.Block`, so its numbers come from the SPEC §3 rules, and
the tests check them against the walk. Presentation then names blocks by their common
name scope (``layer1.0``) and folds consecutive identical blocks (``2× layer1.1 … layer1.2``).
"""
from __future__ import annotations

import argparse
import json
from dataclasses import dataclass, field
from typing import Any, Iterator, Mapping, Sequence

from . import __version__
from .algebra import (SOURCE, Block, BlockValue, Dominators, LeafBlock, LeafWalk, Parallel, Series, leaf_complexity,
                      log2_ratio)
from .errors import GraphError, SettingsError
from .graph import DATA, GraphView
from .loading import ModelSource
from .result import SCHEMA_VERSION, AnalysisResult
from .transfer import LTA, Settings

SINK = ("sink",)  # the virtual node fed by every data output of the graph
#: Short names for long op types in formulas (display only).
OP_ABBREVIATIONS = {
    "BatchNormalization": "BN",
    "LayerNormalization": "LN",
    "GroupNormalization": "GN",
    "InstanceNormalization": "IN",
    "GlobalAveragePool": "GAP",
    "GlobalMaxPool": "GMP",
    "AveragePool": "AvgPool",
    "QuantizeDequantize": "QDQ",
}
FORMULA_WIDTH = 72


# ------------------------------------------------------------------ blocks the algebra lacks


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


# ------------------------------------------------------------------ the expression tree


@dataclass
class Term:
    """A node of the expression: a leaf, a projection, a series, a parallel, a DAG or a repeat.

    `entry`/`exit` are nodes of the tensor/leaf graph (a tensor name, ("leaf", k), SOURCE or
    SINK); `value` is `block` evaluated at the walk's d of `entry`.
    """

    kind: str  # leaf | select | series | parallel | dag | repeat
    block: Block
    leaves: tuple[int, ...]
    entry: object
    exit: object
    children: tuple["Term", ...] = ()  # series parts, parallel branches, repeat members
    merge: "Term | None" = None
    name: str = ""
    label: str = ""  # op label of a leaf, or what a projection selects
    scope: tuple[str, ...] = ()
    value: BlockValue | None = None
    signature: Any = None

    @property
    def power(self) -> float | None:
        return None if self.value is None else log2_ratio(self.value.d_out, self.value.d_in)

    def iter(self) -> Iterator["Term"]:
        """This term and every term below it."""
        yield self
        for c in self.children:
            yield from c.iter()
        if self.merge is not None:
            yield from self.merge.iter()


def _common_prefix(scopes: Sequence[Sequence[str]]) -> tuple[str, ...]:
    if not scopes:
        return ()
    first = scopes[0]
    n = len(first)
    for s in scopes[1:]:
        n = min(n, len(s))
        for i in range(n):
            if s[i] != first[i]:
                n = i
                break
    return tuple(first[:n])


class _Decomposer:
    """Series/parallel/DAG decomposition over the walk's dominator tree."""

    def __init__(self, view: GraphView, walked: Sequence[LeafWalk], d: Mapping[str, int], d0: int, dom: Dominators):
        self.view, self.walked, self.d, self.d0, self.dom = view, walked, d, d0, dom
        tensors = view.tensors
        self.inputs: list[tuple[str, ...]] = []
        self.outputs: list[tuple[str, ...]] = []
        self.producer: dict[str, int] = {}
        for k, w in enumerate(walked):
            leaf = w.leaf
            names = leaf.inputs + leaf.node.implicit_inputs
            self.inputs.append(tuple(dict.fromkeys(n for n in names if n and tensors[n].role == DATA)))  # as the walk
            outs = tuple(o for o in leaf.outputs if o and tensors[o].role == DATA)
            self.outputs.append(outs)
            for o in outs:
                self.producer[o] = k
        self.sources = [t.name for t in view.sources]
        self.sink_inputs = tuple(dict.fromkeys(o for o in view.outputs if o in dom.order and tensors[o].role == DATA))
        if not self.sink_inputs:
            raise GraphError("the graph has no data output reachable from its inputs: nothing to decompose")
        dom.add(SINK, self.sink_inputs)
        self.scopes = [tuple(p for p in w.leaf.scope.split("/") if p) for w in walked]

    # -------------------------------------------------------------- walk values

    def d_at(self, node: object) -> int:
        """The walk's effective dimension at a node of the tensor/leaf graph."""
        if node == SOURCE:
            return self.d0
        if node == SINK:
            return min(sum(self.d[o] for o in self.sink_inputs), self.d_at(self.dom.idom[SINK]))
        if isinstance(node, tuple):
            return self.walked[node[1]].d_out
        return self.d[node]

    def size(self, tensor: str) -> int:
        return self.view.tensors[tensor].size

    # -------------------------------------------------------------- regions

    def region(self, entry: object, node: object) -> set[int]:
        """Leaves on the paths from `entry` (exclusive) to `node` (inclusive)."""
        leaves: set[int] = set()
        seen: set[str] = set()
        stack: list[object] = [node]
        while stack:
            n = stack.pop()
            if n == entry:
                continue
            if n == SINK:
                stack.extend(self.sink_inputs)
            elif isinstance(n, tuple):
                k = n[1]
                if k not in leaves:
                    leaves.add(k)
                    stack.extend(self.inputs[k])
            elif n not in seen:
                seen.add(n)
                k = self.producer.get(n)
                if k is not None:
                    stack.append(("leaf", k))
        return leaves

    # -------------------------------------------------------------- terms

    def decompose(self, entry: object, node: object) -> list[Term]:
        """Series parts from `entry` (which dominates `node`) to `node`."""
        chain = []
        n = node
        while n != entry:
            if n == SOURCE:
                raise GraphError(f"internal: {entry!r} does not dominate {node!r}")
            chain.append(n)
            n = self.dom.idom[n]
        chain.reverse()
        parts: list[Term] = []
        prev = entry
        for n in chain:
            if n == SINK:
                if self.sink_inputs != (prev,):
                    parts.append(self.merge_term(prev, SINK, self.sink_inputs))
            elif isinstance(n, tuple):
                k = n[1]
                if self.inputs[k] == (prev,):
                    parts.append(self.leaf_term(k, prev))
                else:
                    parts.append(self.merge_term(prev, n, self.inputs[k]))
            elif prev == SOURCE:
                if len(self.sources) > 1:
                    parts.append(Term("select", Select(self.size(n), self.size(n)), (), SOURCE, n, label=f"π({n})"))
            elif len(self.outputs[prev[1]]) > 1:
                k = prev[1]
                parts.append(Term("select", Select(self.walked[k].lta.rank_cap, self.size(n)), (), prev, n,
                                  label=f"π{self.outputs[k].index(n)}"))
            prev = n
        return parts

    def series_term(self, entry: object, node: object, parts: list[Term]) -> Term:
        if len(parts) == 1:
            return parts[0]
        leaves = tuple(k for p in parts for k in p.leaves)
        return Term("series", Series(tuple(p.block for p in parts)), leaves, entry, node, tuple(parts))

    def leaf_term(self, k: int, entry: object) -> Term:
        w = self.walked[k]
        outs = self.outputs[k]
        block: Block = (LeafBlock(w.lta, w.out_size) if len(outs) == 1
                        else MultiOutputLeaf(w.lta, tuple(self.size(o) for o in outs)))
        op = w.leaf.op_type
        if op == "FusedUnary":
            label = "⟨" + "·".join(m.op_type for m in w.leaf.members) + "⟩"
        else:
            label = OP_ABBREVIATIONS.get(op, op)
        return Term("leaf", block, (k,), entry, ("leaf", k), label=label)

    def sink_term(self, entry: object) -> Term:
        size = sum(self.size(o) for o in self.sink_inputs)
        return Term("leaf", LeafBlock(LTA("structural", (), size, True), size), (), entry, SINK, label="outputs")

    def merge_term(self, entry: object, node: object, inputs: Sequence[str]) -> Term:
        regions = [self.region(entry, i) for i in inputs]
        union: set[int] = set()
        disjoint = True
        for r in regions:
            if union & r:
                disjoint = False
            union |= r
        merge_leaf = None if node == SINK else node[1]
        if disjoint:
            branches = tuple(self.series_term(entry, i, self.decompose(entry, i)) for i in inputs)
            merge = self.sink_term(entry) if merge_leaf is None else self.leaf_term(merge_leaf, entry)
            merged_size = sum(self.size(i) for i in inputs)  # never binding: the merge leaf caps by its own size
            block = Parallel(tuple(b.block for b in branches), merge.block, merged_size)
            leaves = tuple(k for b in branches for k in b.leaves) + merge.leaves
            return Term("parallel", block, leaves, entry, node, branches, merge)
        return self.dag_term(entry, node, union | ({merge_leaf} if merge_leaf is not None else set()))

    def dag_term(self, entry: object, node: object, region: set[int]) -> Term:
        if entry == SOURCE:
            feed = tuple((s, self.size(s)) for s in self.sources)
        elif isinstance(entry, tuple):
            cap = self.walked[entry[1]].lta.rank_cap
            feed = tuple((o, min(cap, self.size(o))) for o in self.outputs[entry[1]])
        else:
            feed = ((entry, self.size(entry)),)
        order = sorted(region)
        steps = [DagStep(self.walked[k].lta, self.inputs[k], tuple((o, self.size(o)) for o in self.outputs[k]))
                 for k in order]
        if node == SINK:
            size = sum(self.size(o) for o in self.sink_inputs)
            steps.append(DagStep(LTA("structural", (), size, True), self.sink_inputs, (("<outputs>", size),)))
        merges = [self.walked[k].leaf.op_type for k in order if len(self.inputs[k]) > 1]
        kinds = sorted(set(merges))
        counts = ", ".join(f"{merges.count(m)} {OP_ABBREVIATIONS.get(m, m)}" for m in kinds)
        label = f"DAG[{len(order)} leaves; {counts}]"
        return Term("dag", DagBlock(feed, tuple(steps)), tuple(order), entry, node, label=label)


# ------------------------------------------------------------------ naming and folding


def _leaf_signature(w: LeafWalk) -> tuple:
    return ("L", w.leaf.op_type, tuple((g.units, g.pieces) for g in w.lta.groups), w.lta.rank_cap, w.in_size, w.out_size)


def _signature(term: Term, walked: Sequence[LeafWalk]) -> Any:
    """Structure without names: op types, unit groups, caps, tensor sizes and wiring."""
    if term.signature is not None:
        return term.signature
    if term.kind == "leaf":
        sig: Any = _leaf_signature(walked[term.leaves[0]]) + (term.label,) if term.leaves else ("sink",)
    elif term.kind == "select":
        sig = ("S", term.block.rank_cap, term.block.size)
    elif term.kind == "dag":
        # each step's inputs as (producing step, output position); the block input is step -1
        where = {name: (-1, i) for i, (name, _) in enumerate(term.block.entry)}
        wiring = []
        for k, step in enumerate(term.block.steps):
            wiring.append(tuple(where[i] for i in step.inputs))
            where.update({name: (k, i) for i, (name, _) in enumerate(step.outputs)})
        sig = ("D", tuple(_leaf_signature(walked[k]) for k in term.leaves), tuple(wiring))
    elif term.kind == "parallel":
        sig = ("P", tuple(_signature(c, walked) for c in term.children), _signature(term.merge, walked))
    elif term.kind == "repeat":
        sig = ("R", len(term.children), _signature(term.children[0], walked))
    else:
        sig = ("Q", tuple(_signature(c, walked) for c in term.children))
    term.signature = sig
    return sig


class _Presenter:
    """Names blocks by their common scope and folds consecutive identical blocks."""

    def __init__(self, dec: _Decomposer):
        self.dec = dec

    def scope_of(self, term: Term) -> tuple[str, ...]:
        return _common_prefix([self.dec.scopes[k] for k in term.leaves]) if term.leaves else ()

    def shape(self, term: Term, prefix: tuple[str, ...]) -> Term:
        """Name and fold `term` and everything below it, relative to scope `prefix`."""
        term.scope = self.scope_of(term)
        if term.kind == "leaf" and term.leaves and not term.name:
            scope = term.scope[len(prefix):] if term.scope[:len(prefix)] == prefix else term.scope
            term.name = "/".join(scope) or self.dec.walked[term.leaves[0]].leaf.name.rsplit("/", 1)[-1]
        if term.kind == "series":
            term.children = self.fold(self.group(list(term.children), prefix))
            if len(term.children) == 1 and not term.name and term.entry != SOURCE:
                only = term.children[0]  # a branch holding one named block is that block
                only.entry, only.exit = term.entry, term.exit
                return only
        elif term.kind == "parallel":
            inner = term.scope if term.scope[:len(prefix)] == prefix else prefix
            term.children = tuple(self.shape(c, inner) for c in term.children)
            term.merge = self.shape(term.merge, inner)
        return term

    def group(self, parts: list[Term], prefix: tuple[str, ...]) -> list[Term]:
        """Runs of consecutive parts under the same next scope component become named groups."""
        for p in parts:
            p.scope = self.scope_of(p)
        out: list[Term] = []
        i = 0
        while i < len(parts):
            key = self._key(parts[i], prefix)
            j = i + 1
            while key is not None and j < len(parts) and self._key(parts[j], prefix) == key:
                j += 1
            run = parts[i:j]
            if key is None:
                out.append(self.shape(run[0], prefix))
            elif len(run) == 1:
                term = run[0]
                if term.kind != "leaf":
                    term.name = key
                out.append(self.shape(term, prefix + (key,)) if term.kind != "leaf" else self.shape(term, prefix))
            else:
                children = self.group(run, prefix + (key,))
                if len(children) == 1 and children[0].kind in ("series", "parallel", "dag", "repeat") and children[0].name:
                    only = children[0]
                    only.name = f"{key}/{only.name}"
                    out.append(only)
                else:
                    leaves = tuple(k for c in children for k in c.leaves)
                    g = Term("series", Series(tuple(c.block for c in children)), leaves, run[0].entry, run[-1].exit,
                             tuple(self.fold(children)), name=key, scope=prefix + (key,))
                    out.append(g)
            i = j
        return out

    @staticmethod
    def _key(term: Term, prefix: tuple[str, ...]) -> str | None:
        s = term.scope
        if len(s) > len(prefix) and s[:len(prefix)] == prefix:
            return s[len(prefix)]
        return None

    def fold(self, parts: Sequence[Term]) -> tuple[Term, ...]:
        """Consecutive blocks (not single leaves) with one signature → an n× repeat."""
        walked = self.dec.walked
        out: list[Term] = []
        i = 0
        while i < len(parts):
            j = i + 1
            if parts[i].kind not in ("leaf", "select"):
                sig = _signature(parts[i], walked)
                while j < len(parts) and parts[j].kind not in ("leaf", "select") and _signature(parts[j], walked) == sig:
                    j += 1
            run = parts[i:j]
            if len(run) == 1:
                out.append(run[0])
            else:
                leaves = tuple(k for c in run for k in c.leaves)
                name = f"{run[0].name} … {run[-1].name}" if run[0].name and run[-1].name else ""
                out.append(Term("repeat", Series(tuple(c.block for c in run)), leaves, run[0].entry, run[-1].exit, tuple(run),
                                name=name, scope=_common_prefix([c.scope for c in run])))
            i = j
        return tuple(out)


# ------------------------------------------------------------------ the result


@dataclass
class LayerExpression:
    """A network's layer-algebra expression, with every block's numbers (see `Term`)."""

    root: Term
    result: AnalysisResult
    walked: Sequence[LeafWalk] = field(repr=False)
    d_at: Any = field(repr=False)  # node -> the walk's d there

    def terms(self) -> Iterator[Term]:
        return self.root.iter()

    def formula(self, term: Term | None = None, width: int | None = None) -> str:
        text = _formula(term or self.root)
        return text if width is None or len(text) <= width else text[: width - 1] + "…"

    def to_dict(self) -> dict[str, Any]:
        r = self.result
        return {
            "schema_version": SCHEMA_VERSION,
            "tool": {"name": "onnxlayer", "version": r.tool_version or __version__},
            "settings": dict(r.settings),
            "model": {"path": r.model.path, "opset": r.model.opset, "producer": r.model.producer},
            "summary": {
                "complexity_bits": r.summary.complexity_bits,
                "intrinsic_power": r.summary.intrinsic_power,
                "input_dim": r.summary.input_dim,
                "output_dim": r.summary.output_dim,
            },
            "tree": self._node(self.root),
            "warnings": list(r.warnings),
        }

    def _node(self, t: Term) -> dict[str, Any]:
        v = t.value
        out: dict[str, Any] = {
            "kind": t.kind,
            "name": t.name or None,
            "scope": "/".join(t.scope),
            "formula": _formula(t),
            "complexity_bits": v.complexity if v else None,
            "intrinsic_power": t.power,
            "d_in": v.d_in if v else None,
            "d_out": v.d_out if v else None,
            "leaf_count": len(t.leaves),
        }
        if t.kind == "leaf" and t.leaves:
            w = self.walked[t.leaves[0]]
            out.update(leaf=w.leaf.name, op_type=w.leaf.op_type)
        elif t.kind == "select":
            out["selects"] = t.label
        elif t.kind == "dag":
            out["leaves"] = [self.walked[k].leaf.name for k in t.leaves]
        elif t.kind == "parallel":
            out["branches"] = [self._node(c) for c in t.children]
            out["merge"] = self._node(t.merge)
        elif t.kind == "repeat":
            out["count"] = len(t.children)
            out["members"] = [self._node(c) for c in t.children]
        else:
            out["parts"] = [self._node(c) for c in t.children]
        return out

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, ensure_ascii=False, allow_nan=False)

    def render(self, width: int = FORMULA_WIDTH) -> str:
        return _render_text(self, width)


def layer_expression(
    model: ModelSource,
    input_shapes: Mapping[str, Sequence[int]] | None = None,
    *,
    tolerance: float = Settings.tolerance,
    domain: float = Settings.domain,
    strict: bool = False,
    fuse: bool = True,
    path: str | None = None,
) -> LayerExpression:
    """Analyse `model` and decompose it into series/parallel/DAG blocks with their metrics."""
    from .analysis import _gc_paused, run_analysis

    settings = Settings(float(tolerance), float(domain))
    with _gc_paused():  # the decomposition below builds many small objects too
        a = run_analysis(model, input_shapes, settings, strict=strict, fuse=fuse, path=path)
        proto, view, walked, d, d0, dom, result = a.proto, a.view, a.walked, a.d, a.d0, a.dominators, a.result
        label = result.model.path
        dec = _Decomposer(view, walked, d, d0, dom)
        root = dec.series_term(SOURCE, SINK, dec.decompose(SOURCE, SINK))
        if root.kind != "series":  # keep a series at the top, so naming applies to its parts
            root = Term("series", Series((root.block,)), root.leaves, SOURCE, SINK, (root,))
        _Presenter(dec).shape(root, ())
        root.name = label or proto.graph.name or "model"
        _evaluate(root, d0)
    return LayerExpression(root, result, walked, dec.d_at)


def _evaluate(term: Term, d_in: int) -> None:
    """Give every term its value from its algebra block, top-down: a part sees the d that
    the algebra hands it (series: the previous part's d_out; parallel merge: the merged d)."""
    term.value = term.block.evaluate(d_in)
    if term.kind in ("series", "repeat"):
        d = d_in
        for c in term.children:
            _evaluate(c, d)
            d = c.value.d_out
    elif term.kind == "parallel":
        for c in term.children:
            _evaluate(c, d_in)
        merged = min(sum(c.value.d_out for c in term.children), term.block.merged_size, d_in)
        _evaluate(term.merge, merged)


# ------------------------------------------------------------------ text


def _formula(t: Term) -> str:
    if t.kind == "leaf":
        return t.label
    if t.kind == "select":
        return t.label
    if t.kind == "dag":
        return t.label
    if t.kind == "parallel":
        return "(" + " ⊕ ".join(_formula(c) or "id" for c in t.children) + ")→" + _formula(t.merge)
    if t.kind == "repeat":
        inner = _formula(t.children[0])
        return f"{len(t.children)}×[{inner}]"
    return "∘".join(_formula(c) for c in t.children) or "id"


def _is_identity(t: Term) -> bool:
    return t.kind == "series" and not t.children


def _fmt_bits(x: float) -> str:
    return f"{x:,.0f}" if abs(x) < 1e12 else f"{x:.4e}"


def _fmt_dim(n: int) -> str:
    return f"{n:,}"


def _render_text(expr: LayerExpression, width: int) -> str:
    s = expr.result.summary
    root = expr.root
    head = [
        f"{root.name}: C = {_fmt_bits(s.complexity_bits)} bits, "
        f"P = {'-' if s.intrinsic_power is None else f'{s.intrinsic_power:.3f}'}, "
        f"D0 = {_fmt_dim(s.input_dim)}, {len(expr.walked)} leaves "
        f"(tolerance ε = {expr.result.settings['tolerance']:g}, domain B = {expr.result.settings['domain']:g})",
        "∘ series, data flowing left to right; (A ⊕ B)→M parallel branches merged by M; n× identical consecutive blocks;",
        "DAG a region that is not series-parallel (numbers by the walk); C bits and P = log2(d_out/d_in) per block",
        "",
    ]
    rows: list[tuple[str, str, str, str]] = []

    def line(value: BlockValue, text: str) -> None:
        p = log2_ratio(value.d_out, value.d_in)
        dims = f"{_fmt_dim(value.d_in)} → {_fmt_dim(value.d_out)}"
        rows.append((_fmt_bits(value.complexity), "-" if p is None else f"{p:.3f}", dims, text))

    def clip(text: str) -> str:
        return text if len(text) <= width else text[: width - 1] + "…"

    def emit(t: Term, indent: str, mark: str) -> None:
        formula = _formula(t)
        name = t.name
        if t.kind == "repeat":
            name = f"{len(t.children)}×" + (f" {t.name}" if t.name else "")
        if name == formula:
            name = ""  # a leaf named after its op type
        if t.kind == "repeat":
            formula = _formula(t.children[0])  # the count is in the name
        expandable = t.kind in ("series", "parallel", "repeat") and len(formula) > width
        if not expandable:
            line(t.value, f"{indent}{mark}{name + '  ' if name else ''}{clip(formula)}")
            return
        if t.kind == "series":
            line(t.value, f"{indent}{mark}{name or clip(formula)}")
            children(t.children, indent + "  ")
        elif t.kind == "repeat":
            line(t.value, f"{indent}{mark}{name}  (each alike; the first:)")
            first = t.children[0]
            if first.kind == "series":
                children(first.children, indent + "  ")
            else:
                emit(first, indent + "  ", "∘ ")
        else:  # parallel: one line per branch (identities stay in the header), the merge if it has units
            merge = _formula(t.merge)
            shown = " ⊕ ".join("id" if _is_identity(c) else "…" for c in t.children)
            line(t.value, f"{indent}{mark}{name + '  ' if name else ''}({shown})→{merge}")
            for c in t.children:
                if not _is_identity(c):
                    emit(c, indent + "  ", "⊕ ")
            if t.merge.value.complexity:
                line(t.merge.value, f"{indent}  → {merge}")

    def children(parts: Sequence[Term], indent: str) -> None:
        i = 0
        while i < len(parts):
            t = parts[i]
            if t.kind in ("leaf", "select"):
                # pack consecutive single leaves on one line while the formula fits
                j, text = i + 1, _formula(t)
                while (j < len(parts) and parts[j].kind in ("leaf", "select")
                       and len(text) + 1 + len(_formula(parts[j])) <= width):
                    text += "∘" + _formula(parts[j])
                    j += 1
                if j - i == 1:
                    emit(t, indent, "∘ ")
                else:
                    run = parts[i:j]
                    value = Series(tuple(c.block for c in run)).evaluate(run[0].value.d_in)
                    names = f"{run[0].name} … {run[-1].name}" if run[0].name and run[-1].name else ""
                    line(value, f"{indent}∘ {names + '  ' if names else ''}{text}")
                i = j
            else:
                emit(t, indent, "∘ ")
                i += 1

    line(root.value, root.name)
    children(root.children, "  ")
    wc = max(len("C bits"), *(len(r[0]) for r in rows))
    wp = max(len("P"), *(len(r[1]) for r in rows))
    wd = max(len("d_in → d_out"), *(len(r[2]) for r in rows))
    header = f"{'C bits'.rjust(wc)}  {'P'.rjust(wp)}  {'d_in → d_out'.ljust(wd)}  block"
    body = [f"{c.rjust(wc)}  {p.rjust(wp)}  {dd.ljust(wd)}  {text}".rstrip() for c, p, dd, text in rows]
    return "\n".join(head + [header] + body) + "\n"


# ------------------------------------------------------------------ CLI


def add_algebra_parser(subparsers) -> argparse.ArgumentParser:
    from .cli import _add_settings

    p = subparsers.add_parser("algebra", help="print the network as a series/parallel layer-algebra expression")
    p.add_argument("model", nargs="?", help="path to an ONNX model")
    p.add_argument("--zoo", metavar="NAME", help="a built-in zoo model instead of a file")
    _add_settings(p)
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.add_argument("--width", type=int, default=FORMULA_WIDTH, help=f"longest formula on one line (default {FORMULA_WIDTH})")
    p.add_argument("-o", "--output", metavar="FILE", help="write the expression to FILE")
    return p


def run_algebra(args: argparse.Namespace) -> int:
    from .cli import _write
    from .compare import zoo_input_shapes
    from .graph import parse_input_shape

    if bool(args.model) == bool(args.zoo):
        raise SettingsError("give exactly one of MODEL or --zoo NAME")
    if args.width < 20:
        raise SettingsError(f"--width {args.width}: give at least 20")
    shapes = dict(parse_input_shape(s) for s in args.input_shape)
    if args.zoo:
        from .models_access import zoo_model

        source: Any = zoo_model(args.zoo)
        shapes = {**zoo_input_shapes(args.zoo), **shapes}
        label = f"zoo:{args.zoo}"
    else:
        source, label = args.model, None
    expr = layer_expression(source, shapes, tolerance=args.tolerance, domain=args.domain, strict=args.strict,
                            fuse=not args.no_fuse, path=label)
    _write(expr.to_json() + "\n" if args.format == "json" else expr.render(args.width), args.output)
    return 0
