"""The pure decomposer: a walked graph → its series (∘) / parallel (⊕) / DAG expression tree.

The leaves of the data graph are split, recursively, at the tensors (and multi-output
leaves) that every path between two points passes through: those give series parts. A
part that ends in a leaf with several data inputs is a parallel block when the inputs'
branches share no leaf (they fork at the part's entry and merge at that leaf); otherwise
it is a DAG block (DenseNet's concatenations), evaluated by the walk's own rule on the
region. Every block is an `algebra.Block`, so its numbers come from the SPEC §3 rules.
Blocks are then named by their common name scope (``layer1.0``) and consecutive identical
blocks folded (``2× layer1.1 … layer1.2``).
"""
from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

from .algebra import (INTEGER_INPUT, SOURCE, Block, DagBlock, DagStep, Dominators, LeafBlock, LeafWalk, MultiOutputLeaf,
                      Parallel, Select, Series)
from .errors import GraphError
from .expression import Term
from .graph import DATA, GraphView
from .transfer import LTA

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
}


def decompose(view: GraphView, walked: Sequence[LeafWalk], d: Mapping[str, int], d0: int, dominators: Dominators,
              name: str) -> tuple[Term, Callable[[object], int]]:
    """The expression tree of a walk (root named `name`, every term evaluated from D0), and the
    walk's d at any node of the tensor/leaf graph (a tensor name, ("leaf", k), SOURCE or SINK)."""
    dec = _Decomposer(view, walked, d, d0, dominators)
    root = dec.series_term(SOURCE, SINK, dec.decompose(SOURCE, SINK))
    if root.kind != "series":  # keep a series at the top, so naming applies to its parts
        root = Term("series", Series((root.block,)), root.leaves, SOURCE, SINK, (root,))
    _ScopeNaming(dec).shape(root, ())
    root.name = name
    _evaluate(root, d0)
    return root, dec.d_at


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
        if _integer_input(node):
            return self.size(node[1])
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
            elif _integer_input(n):  # the integer input behind derived sources: its elements
                parts.append(Term("select", Select(self.size(n[1]), self.size(n[1])), (), prev, n, label=f"π({n[1]})"))
            elif isinstance(n, tuple):
                k = n[1]
                if self.inputs[k] == (prev,):
                    parts.append(self.leaf_term(k, prev))
                else:
                    parts.append(self.merge_term(prev, n, self.inputs[k]))
            elif prev == SOURCE or _integer_input(prev):
                if len(self.sources) > 1 or _integer_input(prev):
                    parts.append(Term("select", Select(self.d[n], self.size(n)), (), prev, n, label=f"π({n})"))
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
            feed = tuple((s, self.d[s]) for s in self.sources)
        elif _integer_input(entry):
            feed = tuple((s, self.d[s]) for s in self.sources if self.dom.idom[s] == entry)
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


def _integer_input(node: object) -> bool:
    """Whether `node` is the walk's virtual node of an integer graph input (SPEC §1 v1.1)."""
    return isinstance(node, tuple) and len(node) == 2 and node[0] == INTEGER_INPUT


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


class _ScopeNaming:
    """Names blocks by their common scope and folds consecutive identical blocks."""

    def __init__(self, dec: _Decomposer) -> None:
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
