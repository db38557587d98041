"""Fusion into canonical leaves (SPEC §4) — plain leaves for now."""
from __future__ import annotations

from typing import Sequence

from .graph import DATA, SHAPE_ONLY_OPS, GraphView, Node
from .registry import Leaf
from .transfer import Settings


def node_scope(node: Node) -> str:
    for prop in node.proto.metadata_props:
        if prop.key == "pkg.torch.onnx.name_scopes":
            try:
                import ast

                parts = [p for p in ast.literal_eval(prop.value) if p]
                return "/".join(parts[:-1]) if len(parts) > 1 else ""
            except Exception:
                break
    name = node.name.strip("/")
    return name.rpartition("/")[0]


def plain_leaf(node: Node) -> Leaf:
    return Leaf(node.name, node.op_type, node.domain, node.inputs, node.outputs, (node,), {}, node_scope(node))


def data_nodes(view: GraphView) -> list[Node]:
    """Nodes with a data input (SPEC §1 leaves), except shape-only ops."""
    out = []
    for node in view.nodes:
        if node.op_type in SHAPE_ONLY_OPS and node.domain == "":
            continue
        if any(view.tensors[i].role == DATA for i in node.all_inputs):
            out.append(node)
    return out


def build_leaves(view: GraphView, settings: Settings, fusions: Sequence[str] | None = None) -> list[Leaf]:
    return [plain_leaf(n) for n in data_nodes(view)]
