"""The registry of local transfer approximations: op type, domain, opset → rule (SPEC §2).

Every rule has one signature, `rule(ctx: LeafContext) -> LTA`. Op families live in
`onnxlayer/ops/` and register themselves with `@register(...)`, naming the op types,
the domain and the opset from which the rule applies (as tf2onnx's handlers do).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Callable, Iterable

import numpy as np
import onnx
from onnx import helper

from .graph import GraphView, Tensor
from .transfer import LTA, Settings, UnitGroup, function_pieces, parametric_pieces


@dataclass
class Leaf:
    """One leaf of the analysis: an ONNX node, or a fused group of nodes (SPEC §4)."""

    name: str
    op_type: str
    domain: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    members: tuple[Any, ...]  # graph.Node objects merged into this leaf
    attrs: dict[str, Any]
    scope: str = ""
    fused: str = ""  # which SPEC §4 fusion made this leaf, if any

    @property
    def node(self):
        return self.members[-1]


Rule = Callable[["LeafContext"], LTA]


@dataclass(frozen=True)
class RuleEntry:
    op_type: str
    domain: str
    since: int
    kind: str  # nominal kind(s) for listings, e.g. "linear|product"
    exact: bool
    rule: Rule
    summary: str = ""


class Registry:
    """Op type → rule, with opset-aware lookup and helpful errors."""

    def __init__(self) -> None:
        self._rules: dict[tuple[str, str], list[RuleEntry]] = {}

    def register(self, *op_types: str, domain: str = "", since: int = 1, kind: str, exact: bool = True) -> Callable[[Rule], Rule]:
        def decorate(rule: Rule) -> Rule:
            summary = (rule.__doc__ or "").strip().splitlines()[0] if rule.__doc__ else ""
            for op in op_types:
                entries = self._rules.setdefault((domain, op), [])
                entries.append(RuleEntry(op, domain, since, kind, exact, rule, summary))
                entries.sort(key=lambda e: e.since)
            return rule

        return decorate

    def lookup(self, op_type: str, domain: str, opset: int) -> RuleEntry | None:
        entries = self._rules.get((_norm(domain), op_type))
        if not entries:
            return None
        chosen = None
        for e in entries:
            if e.since <= opset:
                chosen = e
        return chosen or entries[0]

    def has_rule(self, op_type: str, domain: str, opset: int) -> bool:
        return (_norm(domain), op_type) in self._rules

    def entries(self) -> list[RuleEntry]:
        return [e for key in sorted(self._rules) for e in self._rules[key]]


def _norm(domain: str) -> str:
    return "" if domain in ("", "ai.onnx") else domain


REGISTRY = Registry()
register = REGISTRY.register


@lru_cache(maxsize=None)
def schema_defaults(op_type: str, domain: str, opset: int) -> dict[str, Any]:
    """Attribute defaults from the ONNX op schema (one source of truth)."""
    try:
        schema = onnx.defs.get_schema(op_type, opset, domain)
    except Exception:
        return {}
    out = {}
    for name, attr in schema.attributes.items():
        if attr.default_value is not None and attr.default_value.type != 0:
            out[name] = helper.get_attribute_value(attr.default_value)
    return out


_UNSET = object()


class LeafContext:
    """What a rule sees of its leaf: attributes with defaults, shapes, roles, constants."""

    def __init__(self, leaf: Leaf, view: GraphView, settings: Settings) -> None:
        self.leaf = leaf
        self.view = view
        self.settings = settings
        self.opset = view.opsets.get(leaf.domain, view.opset)

    # attributes ------------------------------------------------------------
    def attr(self, name: str, default: Any = None) -> Any:
        if name in self.leaf.attrs:
            return self.leaf.attrs[name]
        value = self.leaf.node.attr(name, _UNSET)
        if value is not _UNSET:
            return value
        value = schema_defaults(self.leaf.op_type, self.leaf.domain, self.opset).get(name, default)
        return value.decode() if isinstance(value, bytes) else value

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

    # pieces ------------------------------------------------------------------
    def pieces(self, function: str) -> int:
        return function_pieces(function, self.settings.tolerance, self.settings.domain)

    def parametric(self, function: str, *params: float) -> int:
        return parametric_pieces(function, tuple(float(p) for p in params), self.settings.tolerance, self.settings.domain)


# ------------------------------------------------------------------ LTA constructors


def structural(rank_cap: int, note: str = "") -> LTA:
    return LTA("structural", (), rank_cap, True, note=note)


def linear(rank_cap: int, macs: int = 0, note: str = "") -> LTA:
    return LTA("linear", (), rank_cap, True, macs=macs, note=note)


def groups(*pairs: tuple[int, int]) -> tuple[UnitGroup, ...]:
    """Unit groups, dropping empty ones and trivial one-piece units."""
    return tuple(UnitGroup(int(u), int(p)) for u, p in pairs if u > 0 and p > 1)


def products(count: int, ctx: LeafContext) -> tuple[int, int]:
    """`count` scalar products of data: two square units each (xy = ((x+y)² − (x−y)²)/4)."""
    return (2 * count, ctx.pieces("square"))


def iter_ops(entries: Iterable[RuleEntry]) -> Iterable[tuple[str, str, int, str, bool, str]]:
    for e in entries:
        yield e.op_type, e.domain or "ai.onnx", e.since, e.kind, e.exact, e.summary
