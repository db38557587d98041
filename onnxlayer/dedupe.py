"""Common-subexpression elimination before the walk: two nodes that apply the same op, with the
same attributes, to the same inputs compute one tensor, so they are one leaf (SPEC §4: one
architecture, one answer; the legacy torch exporter keeps DLA's MaxPool twice, dynamo once)."""
from __future__ import annotations

from . import onnxapi
from .graph import subgraphs
from .unroll import rename_outer_refs

#: Domains whose ops are functions of their inputs and attributes (a custom op may keep state).
PURE_DOMAINS = frozenset({"", "ai.onnx", "ai.onnx.ml"})
#: Ops that draw random values (Dropout in training mode): two nodes are two draws, not one value.
RANDOM_OPS = frozenset({"RandomNormal", "RandomUniform", "RandomNormalLike", "RandomUniformLike", "Multinomial",
                        "Bernoulli", "Dropout"})


def merge_duplicate_nodes(model: onnxapi.ModelProto) -> int:
    """Merge, in place, every node that repeats an earlier one (op, domain, attributes, inputs and
    which outputs it writes) into it: readers of its outputs read the earlier node's. One pass in
    topological order merges chains of duplicates too. The number of nodes removed."""
    graph = model.graph
    graph_outputs = {o.name for o in graph.output}
    first: dict[tuple, onnxapi.NodeProto] = {}
    rename: dict[str, str] = {}
    kept = []
    for node in graph.node:
        for k, name in enumerate(node.input):
            if name in rename:
                node.input[k] = rename[name]
        for sub in subgraphs(node):
            rename_outer_refs(sub, rename)
        key = _key(node)
        original = first.setdefault(key, node) if key is not None else node
        if original is node or any(o in graph_outputs for o in node.output):
            kept.append(node)
            continue
        rename.update((o, p) for o, p in zip(node.output, original.output) if o)
    if not rename:
        return 0
    removed = len(graph.node) - len(kept)
    graph.ClearField("node")
    graph.node.extend(kept)
    infos = [v for v in graph.value_info if v.name not in rename]
    graph.ClearField("value_info")
    graph.value_info.extend(infos)
    return removed


def _key(node: onnxapi.NodeProto) -> tuple | None:
    """What makes two nodes one computation, or None for a node never merged: no input (a stored
    constant), random, of a custom domain, or holding subgraphs."""
    if (node.domain not in PURE_DOMAINS or not any(node.input) or node.op_type in RANDOM_OPS
            or any(a.type in (onnxapi.AttributeProto.GRAPH, onnxapi.AttributeProto.GRAPHS) for a in node.attribute)):
        return None
    attributes = tuple(sorted((a.name, a.SerializeToString()) for a in node.attribute))
    return node.domain or "ai.onnx", node.op_type, attributes, tuple(node.input), tuple(bool(o) for o in node.output)
