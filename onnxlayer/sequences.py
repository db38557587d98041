"""Sequences and optionals built inside the graph made plain tensors.

A sequence whose elements and positions are static is a list of tensor names: `SequenceEmpty`,
`SequenceConstruct`, `SequenceInsert`, `SequenceErase` and `SplitToSequence` (a `Split`) build
the list; `SequenceAt` becomes an `Identity` of the element, `SequenceLength` a constant,
`ConcatFromSequence` a `Concat` (of `Unsqueeze`d elements with `new_axis`). An `Optional`
holding a tensor is that tensor: `OptionalGetElement` becomes an `Identity`,
`OptionalHasElement` a constant; a graph output that is such a list becomes its elements. The
builders nothing reads any more are removed; a sequence that something else reads
(`SequenceMap`, a `Loop`, a position known only at run time) stays as it is. So the walk sees the tensors the sequence ops move, as it sees unrolled loops.
"""
from __future__ import annotations

from typing import Callable

from . import onnxapi
from .deferred import numpy as np
from .loading import default_opset
from .unroll import FreshNames, add_constant, node_attribute, unsqueeze_node

#: Ops that build a sequence or an optional from tensors (removed once nothing reads them).
BUILDERS = frozenset({"SequenceEmpty", "SequenceConstruct", "SequenceInsert", "SequenceErase", "SplitToSequence", "Optional"})
#: Ops that read one (rewritten into tensor ops where the sequence is a static list).
READERS = frozenset({"SequenceAt", "SequenceLength", "ConcatFromSequence", "OptionalGetElement", "OptionalHasElement"})


def has_sequence_ops(graph: onnxapi.GraphProto) -> bool:
    """Whether `graph` itself builds or reads a sequence or an optional."""
    return any(n.op_type in BUILDERS | READERS and n.domain in ("", "ai.onnx") for n in graph.node)


def flatten_sequences(model: onnxapi.ModelProto, value: Callable[[str], np.ndarray | None],
                      dims: Callable[[str], tuple | None]) -> int:
    """Rewrite, in place, the readers of sequences (and optionals) that are static lists of
    tensors; remove the builders no longer read. Returns the number of readers rewritten."""
    g = model.graph
    opset = default_opset(model)
    names = FreshNames({n for node in g.node for n in list(node.input) + list(node.output)}
                       | {i.name for i in g.initializer} | {i.name for i in g.input})
    lists: dict[str, list[str]] = {}  # sequence or optional name -> its elements
    out_nodes: list[onnxapi.NodeProto] = []
    rewrites = 0
    for node in g.node:
        if node.domain not in ("", "ai.onnx"):
            out_nodes.append(node)
            continue
        made = _build(node, lists, value, dims, names, opset, g)
        if made is not None:
            out_nodes += [node, *made]
            continue
        rewritten = _read(node, lists, value, names, opset, g)
        if rewritten is None:
            out_nodes.append(node)
        else:
            out_nodes += rewritten
            rewrites += 1
    rewrites += _flatten_outputs(g, lists)
    if rewrites:
        del g.node[:]
        g.node.extend(_without_unread_builders(out_nodes, {o.name for o in g.output}))
    return rewrites


def _flatten_outputs(g: onnxapi.GraphProto, lists: dict[str, list[str]]) -> int:
    """A graph output that is a static list becomes its elements (the tensors it hands out)."""
    outputs, flattened = [], 0
    for vi in g.output:
        kind = vi.type.WhichOneof("value")
        if vi.name not in lists or kind not in ("sequence_type", "optional_type"):
            outputs.append(vi)
            continue
        inner = vi.type.sequence_type.elem_type if kind == "sequence_type" else vi.type.optional_type.elem_type
        elem = inner.tensor_type.elem_type if inner.HasField("tensor_type") else onnxapi.TensorProto.UNDEFINED
        outputs += [onnxapi.helper.make_tensor_value_info(name, elem, None) for name in lists[vi.name]]
        flattened += 1
    if flattened:
        del g.output[:]
        g.output.extend({vi.name: vi for vi in outputs}.values())
    return flattened


# --------------------------------------------------------------------------- builders


def _build(node: onnxapi.NodeProto, lists: dict[str, list[str]], value, dims, names: FreshNames, opset: int,
           main: onnxapi.GraphProto) -> list[onnxapi.NodeProto] | None:
    """Record the list a builder makes (None if `node` is not one or its list is not static);
    returns the nodes it needs besides itself (SplitToSequence's Split)."""
    op, inputs = node.op_type, list(node.input)
    out = node.output[0] if node.output else ""
    if not out or op not in BUILDERS:
        return None
    if op == "SequenceEmpty":
        lists[out] = []
    elif op == "SequenceConstruct":
        lists[out] = inputs
    elif op == "Optional":
        lists[out] = inputs[:1] if inputs and inputs[0] else []
    elif op in ("SequenceInsert", "SequenceErase"):
        if inputs[0] not in lists:
            return None
        items = lists[inputs[0]]
        given = len(inputs) > (2 if op == "SequenceInsert" else 1) and inputs[-1]
        pos = _position(value, inputs[-1]) if given else (len(items) if op == "SequenceInsert" else len(items) - 1)
        high = len(items) if op == "SequenceInsert" else len(items) - 1
        if pos is None or not -len(items) <= pos <= high:
            return None
        pos %= max(len(items) + (op == "SequenceInsert"), 1)
        lists[out] = items[:pos] + [inputs[1]] + items[pos:] if op == "SequenceInsert" else items[:pos] + items[pos + 1:]
    else:  # SplitToSequence
        return _split_to_sequence(node, lists, value, dims, names, opset, main)
    return []


def _split_to_sequence(node: onnxapi.NodeProto, lists: dict[str, list[str]], value, dims, names: FreshNames, opset: int,
                       main: onnxapi.GraphProto) -> list[onnxapi.NodeProto] | None:
    """SplitToSequence as a Split (and a Squeeze per part when keepdims=0 splits into units)."""
    shape = dims(node.input[0])
    if not shape or not all(isinstance(d, int) for d in shape):
        return None
    axis = node_attribute(node, "axis", 0)
    if not -len(shape) <= axis < len(shape):
        return None
    axis %= len(shape)
    length = shape[axis]
    split = value(node.input[1]) if len(node.input) > 1 and node.input[1] else None
    if len(node.input) > 1 and node.input[1] and split is None:
        return None
    squeeze = split is None and not node_attribute(node, "keepdims", 1)
    if split is None:
        sizes = [1] * length
    elif np.ndim(split) == 0:
        step = int(split)
        if step <= 0:
            return None
        sizes = [step] * (length // step) + ([length % step] if length % step else [])
    else:
        sizes = [int(s) for s in np.asarray(split).reshape(-1)]
    if not sizes or sum(sizes) != length or min(sizes) < 0:
        return None
    base = (node.name or node.output[0]) + "/"
    parts = [names.fresh(f"{base}part{k}") for k in range(len(sizes))]
    made = [_split(node.input[0], parts, sizes, axis, names, opset, main, base)]
    if squeeze:
        squeezed = [names.fresh(p + "/squeezed") for p in parts]
        made += [_squeeze(p, s, axis, names, opset, main) for p, s in zip(parts, squeezed)]
        parts = squeezed
    lists[node.output[0]] = parts
    return made


# --------------------------------------------------------------------------- readers


def _read(node: onnxapi.NodeProto, lists: dict[str, list[str]], value, names: FreshNames, opset: int,
          main: onnxapi.GraphProto) -> list[onnxapi.NodeProto] | None:
    """The tensor ops a reader of a static list becomes, or None."""
    op = node.op_type
    if op not in READERS or not node.input or node.input[0] not in lists or not node.output or not node.output[0]:
        return None
    items, out = lists[node.input[0]], node.output[0]
    label = names.fresh(node.name or f"{op}_{out}")
    if op in ("SequenceAt", "OptionalGetElement"):
        pos = 0 if op == "OptionalGetElement" else _position(value, node.input[1] if len(node.input) > 1 else "")
        if pos is None or not -len(items) <= pos < len(items):
            return None
        return [onnxapi.helper.make_node("Identity", [items[pos]], [out], name=label)]
    if op in ("SequenceLength", "OptionalHasElement"):
        result = np.array(len(items), np.int64) if op == "SequenceLength" else np.array(bool(items))
        return [onnxapi.helper.make_node("Constant", [], [out], name=label, value=onnxapi.numpy_helper.from_array(result, out))]
    # ConcatFromSequence
    if not items:
        return None
    axis = node_attribute(node, "axis", 0)
    parts = list(items)
    made: list[onnxapi.NodeProto] = []
    if node_attribute(node, "new_axis", 0):
        parts = [names.fresh(f"{label}/{p}/unsqueezed") for p in items]
        made = [unsqueeze_node(p, u, main, names, opset, axis) for p, u in zip(items, parts)]
    return made + [onnxapi.helper.make_node("Concat", parts, [out], name=label, axis=axis)]


def _without_unread_builders(nodes: list[onnxapi.NodeProto], outputs: set[str]) -> list[onnxapi.NodeProto]:
    """Drop the sequence builders whose result nothing reads (walking back from the readers)."""
    needed = set(outputs)
    kept: list[onnxapi.NodeProto] = []
    for node in reversed(nodes):
        builder = node.op_type in BUILDERS and node.domain in ("", "ai.onnx")
        if builder and not any(o in needed for o in node.output if o):
            continue
        needed.update(node.input)
        for sub in (a.g for a in node.attribute if a.type == onnxapi.AttributeProto.GRAPH):
            needed.update(i for n in sub.node for i in n.input)
        kept.append(node)
    return kept[::-1]


# --------------------------------------------------------------------------- small pieces


def _position(value, name: str) -> int | None:
    """A static position (one integer), else None."""
    found = value(name) if name else None
    if found is None or np.asarray(found).size != 1 or not np.issubdtype(np.asarray(found).dtype, np.integer):
        return None
    return int(np.asarray(found).reshape(-1)[0])


def _split(x: str, parts: list[str], sizes: list[int], axis: int, names: FreshNames, opset: int, main, base: str) -> onnxapi.NodeProto:
    """Split `x` along `axis` into `parts` of `sizes` (sizes an input from opset 13, an attribute before)."""
    if opset >= 13:
        split = add_constant(main, names, f"{base}split", np.array(sizes, np.int64))
        return onnxapi.helper.make_node("Split", [x, split], parts, name=names.fresh(base + "Split"), axis=axis)
    return onnxapi.helper.make_node("Split", [x], parts, name=names.fresh(base + "Split"), axis=axis, split=sizes)


def _squeeze(x: str, out: str, axis: int, names: FreshNames, opset: int, main) -> onnxapi.NodeProto:
    if opset >= 13:
        axes = add_constant(main, names, f"{out}/axes", np.array([axis], np.int64))
        return onnxapi.helper.make_node("Squeeze", [x, axes], [out], name=names.fresh(out + "/Squeeze"))
    return onnxapi.helper.make_node("Squeeze", [x], [out], name=names.fresh(out + "/Squeeze"), axes=[axis])
