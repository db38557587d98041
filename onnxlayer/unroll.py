"""Control flow made plain: `If`, `Loop` and `Scan` rewritten into the ops they run.

So the walk analyses their subgraphs like any other leaves:
- `If` with a static condition becomes the branch it takes; with a data condition both branches
  are inlined and each output is merged by `Where(cond, then, else)` (regions of either branch
  are counted: an upper bound);
- `Loop` with a static trip count is unrolled (a data-dependent exit condition can only stop it
  earlier: the unrolled count is an upper bound), scan outputs concatenated on a new axis 0;
- `Scan` is unrolled over its (static) sequence length, honouring axes and directions.
Initializers of a body are added once (weights shared by every iteration count once in W).
A node that cannot be rewritten (unknown trip count, too large) stays, and is reported opaque.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import onnx
from onnx import helper, numpy_helper

from .graph import subgraphs
from .loading import default_opset

#: Unrolling stops past this many new nodes per control-flow node.
MAX_UNROLLED_NODES = 200_000
CONTROL_FLOW = frozenset({"If", "Loop", "Scan"})


class _Names:
    """Fresh, unique tensor and node names with a common prefix."""

    def __init__(self, used: set[str]) -> None:
        self.used = used

    def fresh(self, base: str) -> str:
        name, k = base, 0
        while name in self.used:
            k += 1
            name = f"{base}_{k}"
        self.used.add(name)
        return name


def unroll_control_flow(model: onnx.ModelProto, value: Callable[[str], np.ndarray | None],
                        dims: Callable[[str], tuple | None]) -> tuple[int, list[str]]:
    """Rewrite control-flow nodes of the main graph in place; return (rewrites, notes)."""
    g = model.graph
    if not any(n.op_type in CONTROL_FLOW and n.domain in ("", "ai.onnx") for n in g.node):
        return 0, []
    opset = default_opset(model)
    used = {n for node in g.node for n in list(node.input) + list(node.output)}
    used |= {i.name for i in g.initializer} | {i.name for i in g.input}
    names = _Names(used)
    notes: list[str] = []
    rewrites = 0
    out_nodes: list[onnx.NodeProto] = []
    for node in g.node:
        rewrite = None
        if node.domain in ("", "ai.onnx"):
            if node.op_type == "If":
                rewrite = _if(node, value, names, g)
            elif node.op_type == "Loop":
                rewrite = _loop(node, value, names, opset, g, notes)
            elif node.op_type == "Scan" and opset >= 9:
                rewrite = _scan(node, dims, names, opset, g, notes)
        if rewrite is None:
            out_nodes.append(node)
        else:
            out_nodes.extend(rewrite)
            rewrites += 1
            notes.append(f"{node.op_type} {node.name or node.output[0]!r}: " + _DONE[node.op_type])
    del g.node[:]
    g.node.extend(out_nodes)
    return rewrites, notes


_DONE = {"If": "subgraph inlined", "Loop": "unrolled", "Scan": "unrolled"}


def _attr(node: onnx.NodeProto, name: str, default=None):
    for a in node.attribute:
        if a.name == name:
            return helper.get_attribute_value(a)
    return default


def _inline(body: onnx.GraphProto, inputs: dict[str, str], prefix: str, names: _Names, main: onnx.GraphProto,
            shared_inits: dict[str, str]) -> tuple[list[onnx.NodeProto], list[str]]:
    """Copy `body`'s nodes with fresh names; formals bound by `inputs`; returns (nodes, output names)."""
    rename = dict(inputs)
    for init in body.initializer:  # weights: once per control-flow node, not per iteration
        if init.name not in shared_inits:
            copy = onnx.TensorProto()
            copy.CopyFrom(init)
            copy.name = names.fresh(prefix.split("#")[0] + init.name)
            main.initializer.append(copy)
            shared_inits[init.name] = copy.name
        rename[init.name] = shared_inits[init.name]
    nodes = []
    for inner in body.node:
        copy = onnx.NodeProto()
        copy.CopyFrom(inner)
        copy.name = names.fresh(prefix + (inner.name or inner.op_type))
        for k, name in enumerate(copy.input):
            if name in rename:
                copy.input[k] = rename[name]
        for k, name in enumerate(copy.output):
            if name:
                rename[name] = copy.output[k] = names.fresh(prefix + name)
        for sub in subgraphs(copy):  # nested subgraphs may read names of this body
            _rename_refs(sub, rename)
        nodes.append(copy)
    results = [rename.get(o.name, o.name) for o in body.output]
    return nodes, results


def _rename_refs(graph: onnx.GraphProto, rename: dict[str, str]) -> None:
    local = {i.name for i in graph.input} | {i.name for i in graph.initializer}
    for n in graph.node:
        for k, name in enumerate(n.input):
            if name in rename and name not in local:
                n.input[k] = rename[name]
        local.update(n.output)
        for sub in subgraphs(n):
            _rename_refs(sub, {k: v for k, v in rename.items() if k not in local})


def _const(main: onnx.GraphProto, names: _Names, base: str, array: np.ndarray) -> str:
    name = names.fresh(base)
    main.initializer.append(numpy_helper.from_array(np.asarray(array), name))
    return name


def _unsqueeze(x: str, out: str, main, names: _Names, opset: int, axis: int) -> onnx.NodeProto:
    """Unsqueeze `x` at `axis` into `out` (axes an input from opset 13, an attribute before)."""
    if opset >= 13:
        axes = _const(main, names, f"{out}/axes", np.array([axis], dtype=np.int64))
        return helper.make_node("Unsqueeze", [x, axes], [out], name=names.fresh(out + "/Unsqueeze"))
    return helper.make_node("Unsqueeze", [x], [out], name=names.fresh(out + "/Unsqueeze"), axes=[axis])


def _if(node, value, names: _Names, main) -> list[onnx.NodeProto] | None:
    then_g, else_g = _attr(node, "then_branch"), _attr(node, "else_branch")
    if then_g is None or else_g is None:
        return None
    base = (node.name or node.output[0]) + "/"
    cond = value(node.input[0])
    inits: dict[str, str] = {}
    if cond is not None:
        branch = then_g if bool(np.asarray(cond).reshape(-1)[0]) else else_g
        nodes, results = _inline(branch, {}, base, names, main, inits)
        nodes += [helper.make_node("Identity", [r], [o], name=names.fresh(base + "Identity")) for r, o in zip(results, node.output) if o]
        return nodes
    then_nodes, then_out = _inline(then_g, {}, base + "then/", names, main, inits)
    else_nodes, else_out = _inline(else_g, {}, base + "else/", names, main, {})
    merges = [helper.make_node("Where", [node.input[0], t, e], [o], name=names.fresh(base + "Where"))
              for t, e, o in zip(then_out, else_out, node.output) if o]
    return then_nodes + else_nodes + merges


def _loop(node, value, names: _Names, opset: int, main, notes: list[str]) -> list[onnx.NodeProto] | None:
    body = _attr(node, "body")
    trip = value(node.input[0]) if len(node.input) > 0 and node.input[0] else None
    if body is None or trip is None:
        return None
    steps = int(np.asarray(trip).reshape(-1)[0])
    carried = list(node.input[2:])
    n_carried = len(carried)
    n_scan = len(body.output) - 1 - n_carried
    if steps <= 0 or steps * max(len(body.node), 1) > MAX_UNROLLED_NODES:
        notes.append(f"Loop {node.name!r}: not unrolled ({steps} iterations of {len(body.node)} nodes)")
        return None
    base = (node.name or node.output[0]) + "/"
    cond = node.input[1] if len(node.input) > 1 and node.input[1] else _const(main, names, base + "cond", np.array(True))
    nodes: list[onnx.NodeProto] = []
    scans: list[list[str]] = [[] for _ in range(n_scan)]
    inits: dict[str, str] = {}
    for i in range(steps):
        it = _const(main, names, f"{base}iter{i}", np.array(i, dtype=np.int64))
        formal = [b.name for b in body.input]
        bind = dict(zip(formal, [it, cond] + carried))
        inlined, results = _inline(body, bind, f"{base}#{i}/", names, main, inits)
        nodes += inlined
        cond, carried = results[0], results[1 : 1 + n_carried]
        for k, r in enumerate(results[1 + n_carried :]):
            scans[k].append(r)
    return nodes + _assemble_outputs(node, carried, scans, [0] * n_scan, main, names, opset, base)


def _scan(node, dims, names: _Names, opset: int, main, notes: list[str]) -> list[onnx.NodeProto] | None:
    body = _attr(node, "body")
    n_scan_in = _attr(node, "num_scan_inputs")
    if body is None or n_scan_in is None:
        return None
    n_state = len(node.input) - n_scan_in
    scan_inputs = list(node.input[n_state:])
    in_axes = list(_attr(node, "scan_input_axes") or [0] * n_scan_in)
    in_dirs = list(_attr(node, "scan_input_directions") or [0] * n_scan_in)
    n_scan_out = len(body.output) - n_state
    out_axes = list(_attr(node, "scan_output_axes") or [0] * n_scan_out)
    out_dirs = list(_attr(node, "scan_output_directions") or [0] * n_scan_out)
    shape = dims(scan_inputs[0]) if scan_inputs else None
    if not shape or not all(isinstance(d, int) for d in shape):
        return None
    length = shape[in_axes[0] % len(shape)]
    if length <= 0 or length * max(len(body.node), 1) > MAX_UNROLLED_NODES:
        notes.append(f"Scan {node.name!r}: not unrolled ({length} steps of {len(body.node)} nodes)")
        return None
    base = (node.name or node.output[0]) + "/"
    states = list(node.input[:n_state])
    nodes: list[onnx.NodeProto] = []
    scans: list[list[str]] = [[] for _ in range(n_scan_out)]
    inits: dict[str, str] = {}
    for t in range(length):
        slices = []
        for j, x in enumerate(scan_inputs):
            rank = len(dims(x) or shape)
            index = length - 1 - t if in_dirs[j] else t
            idx = _const(main, names, f"{base}t{t}_{j}", np.array(index, dtype=np.int64))
            s = names.fresh(f"{base}#{t}/{x}/slice")
            nodes.append(helper.make_node("Gather", [x, idx], [s], name=names.fresh(s + "/Gather"), axis=in_axes[j] % rank))
            slices.append(s)
        bind = dict(zip([b.name for b in body.input], states + slices))
        inlined, results = _inline(body, bind, f"{base}#{t}/", names, main, inits)
        nodes += inlined
        states = results[:n_state]
        for k, r in enumerate(results[n_state:]):
            scans[k].append(r)
    ordered = [parts[::-1] if out_dirs[k] else parts for k, parts in enumerate(scans)]
    return nodes + _assemble_outputs(node, states, ordered, out_axes, main, names, opset, base)


def _assemble_outputs(node, finals: list[str], scans: list[list[str]], axes: list[int], main, names: _Names,
                      opset: int, base: str) -> list[onnx.NodeProto]:
    """The node's outputs from an unrolled body: final states by Identity, then each scan
    output's per-step values stacked along its axis (Unsqueeze + Concat)."""
    outs = list(node.output)
    nodes = [helper.make_node("Identity", [r], [o], name=names.fresh(base + "Identity"))
             for r, o in zip(finals, outs[: len(finals)]) if o]
    for k, o in enumerate(outs[len(finals):]):
        if not o:
            continue
        parts = []
        for r in scans[k]:
            u = names.fresh(r + "/unsqueezed")
            nodes.append(_unsqueeze(r, u, main, names, opset, axes[k]))
            parts.append(u)
        nodes.append(helper.make_node("Concat", parts, [o], name=names.fresh(base + "Concat"), axis=axes[k]))
    return nodes
