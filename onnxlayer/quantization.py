"""Quantized tensors read as the float tensors they stand for (SPEC §4 d), in preparation.

A QuantizeLinear whose output only DequantizeLinear nodes read is the identity on its input
(rounding aside), or a ReLU when its zero point sits at the bottom of the integer range:
quantizers fold a ReLU into the range that way. The pair's readers are rewired to the input
itself, or to one Relu node, so that elementwise chains, sums and dominators see one tensor as
in the float export. A bottom zero point on a tensor that is non-negative already (a Softmax, a
max-pooled ReLU output) clamps nothing, and that pair stays the identity.

Two more canonical forms: DequantizeLinear nodes that repeat one another (the runtime makes one
per consumer) are merged, and the dequantized lookup in a quantized table becomes the lookup in
the dequantized table, so that the embedding lookup is the source in either form (SPEC §1).
"""
from __future__ import annotations

from typing import Iterable

from . import onnxapi
from .deferred import numpy as np
from .expansion import QUANTIZED_RANGES
from .graph import subgraphs

#: Ops whose output is non-negative whatever their input.
NONNEGATIVE_OUTPUT = frozenset({"Relu", "Sigmoid", "Softmax", "Exp", "Abs", "Sqrt", "Softplus", "HardSigmoid"})
#: Ops whose output is non-negative when their first input is (the others are shapes, indices or
#: axes): moves, selections, maxima and averages.
SIGN_OF_FIRST_INPUT = frozenset({
    "Identity", "Dropout", "Cast", "Reshape", "Flatten", "Transpose", "Squeeze", "Unsqueeze", "Split", "Slice",
    "Gather", "Expand", "Tile", "DepthToSpace", "SpaceToDepth", "Resize", "Upsample", "MaxPool", "AveragePool",
    "GlobalAveragePool", "GlobalMaxPool", "ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin",
})
#: Ops whose output is non-negative when every operand is: sums, products, concatenations, extrema.
SIGN_OF_ALL_INPUTS = frozenset({"Concat", "Add", "Mul", "Max", "Min", "Sum", "Mean"})


def fold_quantization(model: onnxapi.ModelProto) -> bool:
    """Rewrite `model` in place into the canonical forms above; whether anything changed."""
    if not any(n.op_type in ("QuantizeLinear", "DequantizeLinear") for n in model.graph.node):
        return False  # each form starts at one of these nodes: a float model costs one scan
    changed = _merge_repeated_dequantize(model)
    changed |= _dequantize_before_lookup(model)
    changed |= _fold_pairs(model)
    return changed


def _is_default(node: onnxapi.NodeProto) -> bool:
    return node.domain in ("", "ai.onnx")


def _rename_reads(model: onnxapi.ModelProto, rename: dict[str, str]) -> None:
    """Every node (and subgraph node) reading a renamed tensor reads its new name."""
    def visit(graph: onnxapi.GraphProto) -> None:
        for node in graph.node:
            for k, name in enumerate(node.input):
                if name in rename:
                    node.input[k] = rename[name]
            for sub in subgraphs(node):
                visit(sub)

    visit(model.graph)


def _merge_repeated_dequantize(model: onnxapi.ModelProto) -> bool:
    """One DequantizeLinear per (input, scale, zero point, attributes): the others' readers read it."""
    first: dict[tuple, str] = {}
    rename: dict[str, str] = {}
    outputs = {o.name for o in model.graph.output}
    kept = []
    for node in model.graph.node:
        if node.op_type == "DequantizeLinear" and _is_default(node) and node.output[0] not in outputs:
            key = (tuple(rename.get(i, i) for i in node.input), tuple(a.SerializeToString() for a in node.attribute))
            if key in first:
                rename[node.output[0]] = first[key]
                continue
            first[key] = node.output[0]
        kept.append(node)
    if not rename:
        return False
    _rename_reads(model, rename)
    del model.graph.node[:]
    model.graph.node.extend(kept)
    return True


def _dequantize_before_lookup(model: onnxapi.ModelProto) -> bool:
    """DequantizeLinear(Gather(table, ids)) with a per-tensor scale → Gather(DequantizeLinear(table), ids)."""
    g = model.graph
    stored = {t.name: t for t in g.initializer}
    producers = {o: n for n in g.node for o in n.output if o}
    readers = _readers(g.node)
    outputs = {o.name for o in g.output}
    swapped: dict[int, list[onnxapi.NodeProto]] = {}
    gone: set[int] = set()
    for node in g.node:
        if node.op_type != "DequantizeLinear" or not _is_default(node):
            continue
        lookup = producers.get(node.input[0])
        if (lookup is None or lookup.op_type != "Gather" or not _is_default(lookup) or lookup.input[0] not in stored
                or _size(stored.get(node.input[1])) != 1):
            continue
        table = f"{lookup.input[0]}__dequantized"
        dq = onnxapi.helper.make_node("DequantizeLinear", [lookup.input[0], *node.input[1:]], [table], name=f"{node.name}/table")
        gather = onnxapi.helper.make_node("Gather", [table, lookup.input[1]], list(node.output), name=node.name, axis=_axis(lookup))
        swapped[id(node)] = [dq, gather]
        if all(r is node for r in readers.get(lookup.output[0], ())) and lookup.output[0] not in outputs:
            gone.add(id(lookup))
    if not swapped:
        return False
    nodes = []
    for node in g.node:
        if id(node) not in gone:
            nodes.extend(swapped.get(id(node), [node]))
    del g.node[:]
    g.node.extend(nodes)
    return True


def _axis(node: onnxapi.NodeProto) -> int:
    return next((a.i for a in node.attribute if a.name == "axis"), 0)


def _size(tensor: onnxapi.TensorProto | None) -> int | None:
    return None if tensor is None else int(np.prod(tensor.dims, dtype=np.int64))


def _readers(nodes: Iterable[onnxapi.NodeProto]) -> dict[str, list[onnxapi.NodeProto]]:
    found: dict[str, list[onnxapi.NodeProto]] = {}
    for n in nodes:
        for i in dict.fromkeys(n.input):
            if i:
                found.setdefault(i, []).append(n)
    return found


def _fold_pairs(model: onnxapi.ModelProto) -> bool:
    """Q→DQ pairs on data: readers rewired to the input (identity) or to a Relu (bottom zero point)."""
    g = model.graph
    constants = _constants(model)
    types = {t.name: t.data_type for t in g.initializer}
    types.update({n.output[0]: v.dtype for n in g.node if n.op_type == "Constant" and (v := constants.get(n.output[0])) is not None})
    readers = _readers(g.node)
    outputs = {o.name for o in g.output} | _subgraph_reads(g)  # a subgraph's read is not rewired here
    data = _data_tensors(model)
    nonnegative: set[str] = set()
    rename: dict[str, str] = {}
    replace: dict[int, onnxapi.NodeProto | None] = {}  # node id -> its replacement (None: dropped)
    for node in g.node:
        if not _is_default(node):
            continue
        if node.op_type == "QuantizeLinear" and node.input[0] in data:
            q = node.output[0]
            dqs = readers.get(q, [])
            if q in outputs or not dqs or any(r.op_type != "DequantizeLinear" or not _is_default(r) for r in dqs):
                continue
            x = rename.get(node.input[0], node.input[0])
            relu = _bottom_zero_point(node, constants, _value_type(node, types)) and x not in nonnegative
            replace[id(node)] = None
            for dq in dqs:
                y = dq.output[0]
                if relu or y in outputs:
                    replace[id(dq)] = onnxapi.helper.make_node("Relu" if relu else "Identity", [x], [y], name=dq.name)
                    nonnegative.update([y] if relu or x in nonnegative else [])
                else:
                    replace[id(dq)] = None
                    rename[y] = x
            continue
        if id(node) not in replace:
            _propagate_sign(node, nonnegative, constants, rename)
    if not replace:
        return False
    _rename_reads(model, rename)
    nodes = [replace.get(id(n), n) for n in g.node]
    del g.node[:]
    g.node.extend(n for n in nodes if n is not None)
    return True


def _subgraph_reads(graph: onnxapi.GraphProto) -> set[str]:
    """Names the nodes inside the graph's subgraphs (If branches, Loop bodies) read."""
    found: set[str] = set()
    for node in graph.node:
        for sub in subgraphs(node):
            found.update(i for n in sub.node for i in n.input if i)
            found |= _subgraph_reads(sub)
    return found


def _propagate_sign(node: onnxapi.NodeProto, nonnegative: set[str], constants: dict[str, np.ndarray],
                    rename: dict[str, str] | None = None) -> None:
    """Mark the node's outputs non-negative when its op guarantees it (the set grows in file order)."""
    rename = rename or {}
    inputs = [rename.get(i, i) for i in node.input if i]

    def sure(name: str) -> bool:
        value = constants.get(name)
        return name in nonnegative or (value is not None and bool(np.all(value >= 0)))

    if node.op_type == "Clip":  # a lower bound ≥ 0 is enough
        ok = len(inputs) > 1 and node.input[1] != "" and sure(inputs[1]) or bool(inputs) and sure(inputs[0])
    elif node.op_type in NONNEGATIVE_OUTPUT:
        ok = True
    elif node.op_type in SIGN_OF_FIRST_INPUT:
        ok = bool(inputs) and sure(inputs[0])
    elif node.op_type in SIGN_OF_ALL_INPUTS:
        ok = bool(inputs) and all(sure(i) for i in inputs)
    else:
        ok = False
    if ok:
        nonnegative.update(o for o in node.output if o)


def _bottom_zero_point(q: onnxapi.NodeProto, constants: dict[str, np.ndarray], elem_type: int) -> bool:
    """Whether the QuantizeLinear's zero point is the bottom of its integer range (no zero point: uint8 0)."""
    low = QUANTIZED_RANGES.get(elem_type, (None,))[0]
    if len(q.input) < 3 or not q.input[2]:
        return low == 0
    zp = constants.get(q.input[2])
    return zp is not None and low is not None and zp.size > 0 and bool(np.all(zp == low))


def _value_type(q: onnxapi.NodeProto, types: dict[str, int | np.dtype]) -> int:
    """The integer type a QuantizeLinear writes: its zero point's, its output_dtype, else uint8."""
    if len(q.input) >= 3 and q.input[2]:
        t = types.get(q.input[2], 0)
        return onnxapi.helper.np_dtype_to_tensor_dtype(t) if isinstance(t, np.dtype) else t
    return next((a.i for a in q.attribute if a.name == "output_dtype" and a.i), onnxapi.TensorProto.UINT8)


def _constants(model: onnxapi.ModelProto) -> dict[str, np.ndarray]:
    """Values of the small stored tensors and Constant nodes."""
    values = {}
    for t in model.graph.initializer:
        if t.data_location != onnxapi.TensorProto.EXTERNAL:
            try:
                values[t.name] = onnxapi.to_array(t)
            except Exception:
                pass
    for n in model.graph.node:
        if n.op_type == "Constant" and _is_default(n):
            for a in n.attribute:
                if a.name == "value" and a.t.data_location != onnxapi.TensorProto.EXTERNAL:
                    values[n.output[0]] = onnxapi.to_array(a.t)
    return values


def _data_tensors(model: onnxapi.ModelProto) -> set[str]:
    """Tensors that depend on a graph input (the file's order need not be topological)."""
    g = model.graph
    stored = {t.name for t in g.initializer}
    data = {i.name for i in g.input if i.name not in stored}
    changed = True
    while changed:
        changed = False
        for n in g.node:
            if any(i in data for i in n.input) and not all(o in data for o in n.output if o):
                data.update(o for o in n.output if o)
                changed = True
    return data
