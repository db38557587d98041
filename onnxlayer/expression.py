"""The layer-algebra expression of a network (record): a tree of series (∘), parallel (⊕),
DAG and repeated blocks over the leaves, each with its SPEC §3 numbers, and its JSON form.

`onnxlayer.decompose` builds the tree from a walk, `onnxlayer.api.layer_expression` runs both,
`onnxlayer.present.expression` writes it as text.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Sequence

from .algebra import Block, BlockValue, LeafWalk, log2_ratio
from .result import SCHEMA_VERSION, AnalysisResult, json_text
from .version import __version__


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


@dataclass
class LayerExpression:
    """A network's layer-algebra expression, with every block's numbers (see `Term`)."""

    root: Term
    result: AnalysisResult
    walked: Sequence[LeafWalk] = field(repr=False)
    d_at: Callable[[object], int] = field(repr=False)  # node -> the walk's d there

    def terms(self) -> Iterator[Term]:
        return self.root.iter()

    def formula(self, term: Term | None = None, width: int | None = None) -> str:
        """The formula of `term` (default: the whole network), cut to `width` characters if given."""
        text = formula(term or self.root)
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
            "formula": formula(t),
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
        return json_text(self.to_dict(), indent)


def formula(t: Term) -> str:
    """The term as an algebra formula: ∘ series, (A ⊕ B)→M parallel, n×[…] repeats, DAG[…] regions."""
    if t.kind in ("leaf", "select", "dag"):
        return t.label
    if t.kind == "parallel":
        return "(" + " ⊕ ".join(formula(c) or "id" for c in t.children) + ")→" + formula(t.merge)
    if t.kind == "repeat":
        inner = formula(t.children[0])
        return f"{len(t.children)}×[{inner}]"
    return "∘".join(formula(c) for c in t.children) or "id"
