"""The operator registry: op type, domain, opset → one entry holding all the tool knows of the op.

An entry (`OpEntry`) is declared once, in its family module under `onnxlayer/ops/`, with
`@register(...)` naming the op types, the domain and the opset from which it applies (as
tf2onnx's handlers do). It holds the op's LTA rule (SPEC §2, one signature
`rule(ctx: LeafContext) -> LTA`), its kind (exactness follows from it), its scalar map where
it is elementwise (fitted by the rule, evaluated on the grid by fusion, segmented by the
probes), how it joins SPEC §4 (a) elementwise fusion, and its probe pattern or the reason
it has none; for an op that stands for a float subgraph (a runtime-fused or quantized op, SPEC
§4 e), its expansion into that subgraph, which preparation applies. Transfer fitting, fusion,
preparation and the probes all read this one registry.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Callable, Iterable, Literal, Mapping, Sequence

from . import onnxapi
from .deferred import numpy as np
from .expansion import Expander, Expansion
from .graph import GraphView, Node, Tensor, axis_index
from .transfer import KINDS, LTA, ScalarFunction, Settings, UnitGroup, function_pieces, is_exact


@dataclass(slots=True)
class Leaf:
    """One leaf of the analysis: an ONNX node, or a fused group of nodes (SPEC §4; slots: one per node)."""

    name: str
    op_type: str
    domain: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    members: tuple[Any, ...]  # graph.Node objects merged into this leaf
    attrs: Mapping[str, Any]  # what a fusion found (read-only)
    scope: str = ""
    fused: str = ""  # which SPEC §4 fusion made this leaf, if any

    @property
    def node(self):
        return self.members[-1]


Rule = Callable[["LeafContext"], LTA]
#: An attribute reader: the node's value, else the schema's (or the entry's) default, else None.
Attr = Callable[[str], Any]
#: The op's scalar map for one node: the function and its parameters read from the attributes.
FunctionOf = Callable[[Attr], "tuple[ScalarFunction, tuple]"]
#: Numpy semantics of an elementwise op: (attributes, input arrays or None) -> output array.
Evaluate = Callable[[Attr, Sequence["np.ndarray | None"]], "np.ndarray"]
#: A probe pattern: (pattern.PatternContext) -> pattern.LeafPattern. Typed loosely here: the
#: pattern records sit above the registry (they read its entries).
PatternRule = Callable[[Any], Any]
#: How an op joins elementwise fusion: `map` a (nonlinear or PWL) elementwise map; `affine` affine
#: in its data input (Add, Sub, Neg); `pass_through` the identity on values (Identity, Cast);
#: `scaling` linear when one operand is static, a product otherwise (Mul, Div); `layout` only
#: as a no-op moving size-1 axes (Transpose, Reshape, ...).
Role = Literal["map", "affine", "pass_through", "scaling", "layout"]


@dataclass(frozen=True)
class Elementwise:
    """How an op takes part in SPEC §4 (a) fusion: its role and numpy semantics (None: the
    entry's scalar function applied to the data input)."""

    role: Role = "map"
    evaluate: Evaluate | None = field(default=None, compare=False)

    @property
    def affine(self) -> bool:
        """Affine in the data input: adds no nonlinearity to a fused chain."""
        return self.role in ("affine", "pass_through")


@dataclass(frozen=True)
class OpEntry:
    """Everything the tool knows of one op type from one opset on: see the module docstring."""

    op_type: str
    domain: str  # "" is ai.onnx
    since: int
    kind: str  # nominal kind, e.g. "pwl" or "linear|product"; a rule may return another for degenerate cases
    rule: Rule = field(compare=False)
    summary: str = ""
    function: FunctionOf | None = field(default=None, compare=False)
    elementwise: Elementwise | None = None
    pattern: PatternRule | None = field(default=None, compare=False)
    no_pattern: str = ""  # why a nonlinear op has no probe pattern
    #: attribute defaults of ops without an ONNX schema (contrib or custom domains)
    defaults: Mapping[str, Any] = field(default_factory=dict, compare=False)
    #: rewrites the node into the float ops it stands for (SPEC §4 e), in preparation; False keeps it
    expand: Callable[[Expansion], bool] | None = field(default=None, compare=False)

    @property
    def exact(self) -> bool:
        return is_exact(self.kind)

    def evaluate(self, attr: Attr, args: Sequence[np.ndarray | None]) -> np.ndarray:
        """The op on arrays (fusion's grid evaluation): its elementwise semantics."""
        if self.elementwise.evaluate is not None:
            return self.elementwise.evaluate(attr, args)
        function, params = self.function(attr)
        return function.fn(args[0], *params)


class Registry:
    """(domain, op type) → entries by `since`, with opset-aware lookup and helpful misses."""

    def __init__(self) -> None:
        self._entries: dict[tuple[str, str], list[OpEntry]] = {}
        self._found: dict[tuple[str, str, int], OpEntry | None] = {}  # lookups, forgotten at each registration

    def register(self, *op_types: str, domain: str = "", since: int = 1, kind: str, function: FunctionOf | None = None,
                 elementwise: Elementwise | None = None, pattern: PatternRule | None = None, no_pattern: str = "",
                 defaults: Mapping[str, Any] | None = None,
                 expand: Callable[[Expansion], bool] | None = None) -> Callable[[Rule], Rule]:
        """Decorator: declare `op_types` (from opset `since` of `domain`) with the decorated rule.
        Its summary is the first line of the rule's docstring."""
        for k in kind.split("|"):
            if k not in KINDS:
                raise ValueError(f"unknown kind {k!r} for {', '.join(op_types)}; kinds are {', '.join(KINDS)}")
        if pattern is not None and no_pattern:
            raise ValueError(f"{', '.join(op_types)}: give a pattern or a reason for none, not both")
        if elementwise is not None and elementwise.evaluate is None and function is None:
            raise ValueError(f"{', '.join(op_types)}: an elementwise op needs its semantics or a scalar function")

        def decorate(rule: Rule) -> Rule:
            summary = (rule.__doc__ or "").strip().splitlines()[0] if rule.__doc__ else ""
            for op in op_types:
                entry = OpEntry(op, _norm(domain), since, kind, rule, summary, function, elementwise, pattern, no_pattern,
                                dict(defaults or {}), expand)
                entries = self._entries.setdefault((entry.domain, op), [])
                if any(e.since == since for e in entries):
                    raise ValueError(f"{op} (domain {domain or 'ai.onnx'}) is registered twice from opset {since}")
                entries.append(entry)
                entries.sort(key=lambda e: e.since)
            self._found.clear()
            return rule

        return decorate

    def expands(self, *op_types: str, domain: str = "", since: int = 1, kind: str,
                defaults: Mapping[str, Any] | None = None) -> Callable[[Callable[[Expansion], bool]], Callable[[Expansion], bool]]:
        """Decorator: declare `op_types` as ops preparation always rewrites into the float ops
        they stand for, with the decorated expansion (its docstring's first line is the summary).
        `kind` is the nominal kind of that subgraph; its leaves are the ones fitted and probed."""

        def decorate(expand: Callable[[Expansion], bool]) -> Callable[[Expansion], bool]:
            def rule(ctx: LeafContext) -> LTA:
                return LTA("opaque", (), ctx.data_out_size, False, note=f"{ctx.leaf.op_type} was not expanded")

            rule.__doc__ = expand.__doc__
            self.register(*op_types, domain=domain, since=since, kind=kind, defaults=defaults, expand=expand,
                          no_pattern="expanded in preparation: the probes read the leaves of its float ops")(rule)
            return expand

        return decorate

    def expansion(self, op_type: str, domain: str, opset: int) -> Expander | None:
        """The expansion that applies to the op at `opset`, with the op's attribute defaults (for preparation)."""
        entry = self.lookup(op_type, domain, opset)
        if entry is None or entry.expand is None:
            return None
        return Expander(entry.expand, lambda name: default_attr(op_type, domain, opset, name, entry.defaults))

    def lookup(self, op_type: str, domain: str, opset: int) -> OpEntry | None:
        """The entry that applies at `opset`: the one with the largest `since` ≤ opset, else None
        (also when the model's opset is older than every entry: see `missing`). Remembered: the
        walk, fusion and preparation ask for every node, and models repeat a few op types."""
        key = (op_type, domain, opset)
        found = self._found.get(key, _UNSET)
        if found is not _UNSET:
            return found
        chosen = None
        for e in self._entries.get((_norm(domain), op_type), ()):
            if e.since <= opset:
                chosen = e
        self._found[key] = chosen
        return chosen

    def has_rule(self, op_type: str, domain: str, opset: int) -> bool:
        return self.lookup(op_type, domain, opset) is not None

    def missing(self, op_type: str, domain: str, opset: int) -> str:
        """Why `lookup` found nothing, naming what exists: the first supported opset, the
        domains that hold the op, close op names, or the known domains."""
        dom = _norm(domain)
        where = f" (domain {dom})" if dom else ""
        entries = self._entries.get((dom, op_type))
        if entries:
            return (f"no registry rule for {op_type}{where} at opset {opset}: "
                    f"its rules start at opset {entries[0].since}")
        text = f"no registry rule for {op_type}{where}"
        elsewhere = sorted({d or "ai.onnx" for d, op in self._entries if op == op_type})
        names = sorted({op for d, op in self._entries if d == dom})
        import difflib

        close = difflib.get_close_matches(op_type, names, n=3)
        if elsewhere:
            return f"{text}; {op_type} is registered in {', '.join(elsewhere)}"
        if close:
            return f"{text}; close: {', '.join(close)}"
        if not names:
            return f"{text}; known domains: {', '.join(sorted({d or 'ai.onnx' for d, _ in self._entries}))}"
        return text

    def entries(self) -> list[OpEntry]:
        return [e for key in sorted(self._entries) for e in self._entries[key]]


def _norm(domain: str) -> str:
    return "" if domain in ("", "ai.onnx") else domain


REGISTRY = Registry()
register = REGISTRY.register
expands = REGISTRY.expands


# ------------------------------------------------------------------ attributes


@lru_cache(maxsize=None)
def schema_defaults(op_type: str, domain: str, opset: int) -> dict[str, Any]:
    """Attribute defaults from the ONNX op schema (one source of truth)."""
    try:
        schema = onnxapi.defs.get_schema(op_type, opset, domain)
    except Exception:
        return {}
    out = {}
    for name, attr in schema.attributes.items():
        default = onnxapi.default_value(attr)
        if default.type != 0:
            out[name] = onnxapi.attribute_value(default)
    return out


_UNSET = object()


def default_attr(op_type: str, domain: str, opset: int, name: str, declared: Mapping[str, Any] | None = None) -> Any:
    """The ONNX schema's default of an attribute, else the entry's `declared` one (ops without
    an ONNX schema), else None."""
    value = schema_defaults(op_type, _norm(domain), opset).get(name, _UNSET)
    if value is _UNSET:
        value = (declared or {}).get(name)
    return value.decode() if isinstance(value, bytes) else value


def node_attr(node: Node, opset: int, entry: OpEntry | None = None) -> Attr:
    """An attribute reader for a graph node (of `entry`'s op): its own value, else the default."""
    declared = entry.defaults if entry is not None else None

    def attr(name: str) -> Any:
        value = node.attr(name, _UNSET)
        return default_attr(node.op_type, node.domain, opset, name, declared) if value is _UNSET else value

    return attr


def leaf_opset(leaf: Leaf, view: GraphView) -> int:
    """The opset of the leaf's domain in the model (the default domain's for fused leaves)."""
    return view.opsets.get(leaf.domain, view.opset)


# ------------------------------------------------------------------ the rule's view of a leaf


class LeafContext:
    """What a rule sees of its leaf: attributes with defaults, shapes, roles, constants."""

    def __init__(self, leaf: Leaf, view: GraphView, settings: Settings, entry: OpEntry | None = None) -> None:
        self.leaf = leaf
        self.view = view
        self.settings = settings
        self.entry = entry
        self.opset = leaf_opset(leaf, view)

    # attributes ------------------------------------------------------------
    def attr(self, name: str) -> Any:
        """The leaf's attribute, else the node's, else the default (schema, or the entry's), else None."""
        if name in self.leaf.attrs:
            return self.leaf.attrs[name]
        value = self.leaf.node.attr(name, _UNSET)
        if value is not _UNSET:
            return value
        return default_attr(self.leaf.op_type, self.leaf.domain, self.opset, name, self.entry and self.entry.defaults)

    # tensors ---------------------------------------------------------------
    def input(self, i: int) -> Tensor | None:
        names = self.leaf.inputs
        if i >= len(names) or not names[i]:
            return None
        return self.view.tensors[names[i]]

    def output(self, i: int = 0) -> Tensor:
        return self.view.tensors[self.leaf.outputs[i]]

    def has_input(self, i: int) -> bool:
        return self.input(i) is not None

    def is_data(self, i: int) -> bool:
        t = self.input(i)
        return t is not None and t.is_data

    def axis(self, value: Any, rank: int) -> int:
        """An axis of the leaf (attribute or input value) as an index into a rank-`rank` input
        (`graph.axis_index`: a GraphError outside [−rank, rank))."""
        return axis_index(int(value), rank, f"node {self.leaf.name!r} ({self.leaf.op_type})")

    def in_dims(self, i: int = 0) -> tuple[int, ...]:
        t = self.input(i)
        if t is None:
            raise IndexError(f"{self.leaf.op_type} {self.leaf.name!r} has no input {i}")
        return t.dims

    def out_dims(self, i: int = 0) -> tuple[int, ...]:
        return self.output(i).dims

    def in_size(self, i: int = 0) -> int:
        return math.prod(self.in_dims(i))

    def out_size(self, i: int = 0) -> int:
        return math.prod(self.out_dims(i))

    @property
    def data_inputs(self) -> list[int]:
        """Positions of the leaf's data inputs."""
        return [i for i, name in enumerate(self.leaf.inputs) if name and self.view.tensors[name].is_data]

    @property
    def data_in_size(self) -> int:
        seen = dict.fromkeys(self.leaf.inputs[i] for i in self.data_inputs)
        return sum(self.view.tensors[n].size for n in seen)

    @property
    def data_out_size(self) -> int:
        return sum(self.view.tensors[o].size for o in self.leaf.outputs if o and self.view.tensors[o].is_data)

    def value(self, i: int) -> np.ndarray | None:
        names = self.leaf.inputs
        if i >= len(names) or not names[i]:
            return None
        return self.view.value(names[i])

    def scalar(self, i: int) -> float | None:
        v = self.value(i)
        if v is None or v.size != 1:
            return None
        return float(v.reshape(()))

    # pieces and the LTA ------------------------------------------------------
    def pieces(self, function: ScalarFunction, *params: Any) -> int:
        """Pieces of `function` with `params` at the settings' (ε, B) (SPEC §2)."""
        return function_pieces(function, tuple(params), self.settings.tolerance, self.settings.domain)

    def function(self) -> tuple[ScalarFunction, tuple]:
        """The entry's scalar function for this leaf and its parameters (from the attributes)."""
        return self.entry.function(self.attr)

    def lta(self, unit_groups: tuple[UnitGroup, ...], rank_cap: int, *, kind: str | None = None, macs: int = 0,
            note: str = "") -> LTA:
        """The leaf's LTA, of the entry's kind unless a degenerate case names another; exactness follows."""
        kind = kind or self.entry.kind
        if "|" in kind:
            raise ValueError(f"the rule for {self.leaf.op_type} must name one of its kinds {kind!r}")
        key = (kind, unit_groups, rank_cap, macs, note)
        found = _LTAS.get(key)
        if found is None:
            if len(_LTAS) >= 1 << 16:
                _LTAS.clear()
            found = _LTAS[key] = LTA(kind, unit_groups, rank_cap, is_exact(kind), macs=macs, note=note)
        return found


#: LTAs shared between leaves that have the same one (repeated layers): memory per leaf stays small.
_LTAS: dict[tuple, LTA] = {}


# ------------------------------------------------------------------ helpers for rules


def groups(*pairs: tuple[int, int]) -> tuple[UnitGroup, ...]:
    """Unit groups, dropping empty ones and trivial one-piece units."""
    return tuple(UnitGroup(int(u), int(p)) for u, p in pairs if u > 0 and p > 1)


def fixed(function: ScalarFunction) -> FunctionOf:
    """An op whose scalar map has no parameters."""
    return lambda attr: (function, ())


def with_attrs(function: ScalarFunction, *names: str) -> FunctionOf:
    """An op whose scalar map takes the named float attributes as parameters, in order."""
    return lambda attr: (function, tuple(float(attr(n)) for n in names))


#: The role of most elementwise ops in fusion: a map evaluated through its scalar function.
MAP = Elementwise()

#: x², the unit of SPEC §2's product approximation.
SQUARE = ScalarFunction("square", lambda x: x * x)


def products(count: int, ctx: LeafContext) -> tuple[int, int]:
    """`count` scalar products of data: two square units each (xy = ((x+y)² − (x−y)²)/4)."""
    return (2 * count, ctx.pieces(SQUARE))


def iter_ops(entries: Iterable[OpEntry]) -> Iterable[tuple[str, str, int, str, bool, str]]:
    for e in entries:
        yield e.op_type, e.domain or "ai.onnx", e.since, e.kind, e.exact, e.summary
