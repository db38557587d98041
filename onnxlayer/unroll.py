"""Control flow made plain: `If`, `Loop` and `Scan` rewritten into the ops they run.

So the walk analyses their subgraphs like any other leaves:
- `If` with a static condition becomes the branch it takes; with a data condition both branches
  are inlined and each output is merged by `Where(cond, then, else)` (regions of either branch
  are counted: an upper bound);
- `Loop` with a static trip count is unrolled (a data-dependent exit condition can only stop it
  earlier: the unrolled count is an upper bound), scan outputs concatenated on a new axis 0;
- `Scan` is unrolled over its (static) sequence length, honouring axes and directions; a
  Scan-8 (batch axis first, optional `sequence_lens`) once per batch element.
Initializers of a body are added once (weights shared by every iteration count once in W).
A node that cannot be rewritten (unknown trip count or sequence length) stays, and is reported
opaque. `unrolled_size` counts the nodes unrolling will make, nesting multiplied out, so that
preparation can hold them to its budget before any is made.
"""
from __future__ import annotations

import math
from typing import Callable

from . import onnxapi
from .deferred import numpy as np
from .errors import GraphError
from .graph import axis_in_range, axis_index, schema_problem, subgraphs
from .loading import default_opset

CONTROL_FLOW = frozenset({"If", "Loop", "Scan"})


class FreshNames:
    """Fresh, unique tensor and node names with a common prefix."""

    def __init__(self, used: set[str]) -> None:
        self.used = used
        self.next_suffix: dict[str, int] = {}  # per base: suffixes below it are taken

    def fresh(self, base: str) -> str:
        name, k = base, self.next_suffix.get(base, 0)
        if k:
            name = f"{base}_{k}"
        while name in self.used:
            k += 1
            name = f"{base}_{k}"
        self.next_suffix[base] = k + 1
        self.used.add(name)
        return name


def unroll_control_flow(model: onnxapi.ModelProto, value: Callable[[str], np.ndarray | None],
                        dims: Callable[[str], tuple | None]) -> tuple[int, list[str]]:
    """Rewrite control-flow nodes of the main graph in place; return (rewrites, notes)."""
    g = model.graph
    if not has_control_flow(g):
        return 0, []
    opset = default_opset(model)
    used = {n for node in g.node for n in list(node.input) + list(node.output)}
    used |= {i.name for i in g.initializer} | {i.name for i in g.input}
    names = FreshNames(used)
    notes: list[str] = []
    rewrites = 0
    out_nodes: list[onnxapi.NodeProto] = []
    for node in g.node:
        rewrite = None
        check_signature(node, opset)
        if node.domain in ("", "ai.onnx"):
            if node.op_type == "If":
                rewrite = _if(node, value, names, g)
            elif node.op_type == "Loop":
                rewrite = _loop(node, value, names, opset, g, notes)
            elif node.op_type == "Scan" and opset >= 9:
                rewrite = _scan(node, dims, names, opset, g, notes)
            elif node.op_type == "Scan":
                rewrite = _scan8(node, value, dims, names, opset, g, notes)
        if rewrite is None:
            out_nodes.append(node)
        else:
            out_nodes.extend(rewrite)
            rewrites += 1
            notes.append(f"{node.op_type} {node.name or node.output[0]!r}: " + _DONE[node.op_type])
    del g.node[:]
    g.node.extend(out_nodes)
    if rewrites and model.ir_version < 4:
        model.ir_version = 4  # before IR 4 an initializer had to be a graph input too; the new ones are not
    return rewrites, notes


_DONE = {"If": "subgraph inlined", "Loop": "unrolled", "Scan": "unrolled"}


def has_control_flow(graph: onnxapi.GraphProto) -> bool:
    """Whether `graph` itself (not its subgraphs) holds an If, Loop or Scan node."""
    return any(n.op_type in CONTROL_FLOW and n.domain in ("", "ai.onnx") for n in graph.node)


def node_attribute(node: onnxapi.NodeProto, name: str, default=None):
    """The value of the node's attribute `name`, else `default`."""
    for a in node.attribute:
        if a.name == name:
            return onnxapi.attribute_value(a)
    return default


def _inline(body: onnxapi.GraphProto, inputs: dict[str, str], prefix: str, names: FreshNames, main: onnxapi.GraphProto,
            shared_inits: dict[str, str]) -> tuple[list[onnxapi.NodeProto], list[str]]:
    """Copy `body`'s nodes with fresh names; formals bound by `inputs`; returns (nodes, output names)."""
    rename = dict(inputs)
    for init in body.initializer:  # weights: once per control-flow node, not per iteration
        if init.name not in shared_inits:
            copy = onnxapi.TensorProto()
            copy.CopyFrom(init)
            copy.name = names.fresh(prefix.split("#")[0] + init.name)
            main.initializer.append(copy)
            shared_inits[init.name] = copy.name
        rename[init.name] = shared_inits[init.name]
    nodes = []
    for inner in body.node:
        copy = onnxapi.NodeProto()
        copy.CopyFrom(inner)
        copy.name = names.fresh(prefix + (inner.name or inner.op_type))
        for k, name in enumerate(copy.input):
            if name in rename:
                copy.input[k] = rename[name]
        for k, name in enumerate(copy.output):
            if name:
                rename[name] = copy.output[k] = names.fresh(prefix + name)
        for sub in subgraphs(copy):  # nested subgraphs may read names of this body
            rename_outer_refs(sub, rename)
        nodes.append(copy)
    results = [rename.get(o.name, o.name) for o in body.output]
    return nodes, results


def rename_outer_refs(graph: onnxapi.GraphProto, rename: dict[str, str]) -> None:
    """Rename, in place, the names `graph` (and its nested subgraphs) reads from the enclosing scope."""
    local = {i.name for i in graph.input} | {i.name for i in graph.initializer}
    for n in graph.node:
        for k, name in enumerate(n.input):
            if name in rename and name not in local:
                n.input[k] = rename[name]
        local.update(n.output)
        for sub in subgraphs(n):
            rename_outer_refs(sub, {k: v for k, v in rename.items() if k not in local})


def add_constant(main: onnxapi.GraphProto, names: FreshNames, base: str, array: np.ndarray) -> str:
    """A new initializer of `main` holding `array`, under a fresh name from `base`."""
    name = names.fresh(base)
    main.initializer.append(onnxapi.numpy_helper.from_array(np.asarray(array), name))
    return name


def unsqueeze_node(x: str, out: str, main, names: FreshNames, opset: int, axis: int) -> onnxapi.NodeProto:
    """Unsqueeze `x` at `axis` into `out` (axes an input from opset 13, an attribute before)."""
    if opset >= 13:
        axes = add_constant(main, names, f"{out}/axes", np.array([axis], dtype=np.int64))
        return onnxapi.helper.make_node("Unsqueeze", [x, axes], [out], name=names.fresh(out + "/Unsqueeze"))
    return onnxapi.helper.make_node("Unsqueeze", [x], [out], name=names.fresh(out + "/Unsqueeze"), axes=[axis])


def _if(node, value, names: FreshNames, main) -> list[onnxapi.NodeProto] | None:
    then_g, else_g = node_attribute(node, "then_branch"), node_attribute(node, "else_branch")
    if then_g is None or else_g is None:
        return None
    base = (node.name or node.output[0]) + "/"
    cond = _condition(node, value)
    inits: dict[str, str] = {}
    if cond is not None:
        branch = then_g if cond else else_g
        nodes, results = _inline(branch, {}, base, names, main, inits)
        nodes += [onnxapi.helper.make_node("Identity", [r], [o], name=names.fresh(base + "Identity")) for r, o in zip(results, node.output) if o]
        return nodes
    then_nodes, then_out = _inline(then_g, {}, base + "then/", names, main, inits)
    else_nodes, else_out = _inline(else_g, {}, base + "else/", names, main, {})
    merges = [onnxapi.helper.make_node("Where", [node.input[0], t, e], [o], name=names.fresh(base + "Where"))
              for t, e, o in zip(then_out, else_out, node.output) if o]
    return then_nodes + else_nodes + merges


def _loop(node, value, names: FreshNames, opset: int, main, notes: list[str]) -> list[onnxapi.NodeProto] | None:
    body = node_attribute(node, "body")
    steps = _trip_count(node, value)
    if body is None or steps is None:
        return None
    carried = list(node.input[2:])
    n_carried = len(carried)
    n_scan = len(body.output) - 1 - n_carried
    if steps <= 0:
        notes.append(f"Loop {node.name!r}: not unrolled ({steps} iterations of {len(body.node)} nodes)")
        return None
    base = (node.name or node.output[0]) + "/"
    cond = node.input[1] if len(node.input) > 1 and node.input[1] else add_constant(main, names, base + "cond", np.array(True))
    nodes: list[onnxapi.NodeProto] = []
    scans: list[list[str]] = [[] for _ in range(n_scan)]
    inits: dict[str, str] = {}
    for i in range(steps):
        it = add_constant(main, names, f"{base}iter{i}", np.array(i, dtype=np.int64))
        formal = [b.name for b in body.input]
        bind = dict(zip(formal, [it, cond] + carried))
        inlined, results = _inline(body, bind, f"{base}#{i}/", names, main, inits)
        nodes += inlined
        cond, carried = results[0], results[1 : 1 + n_carried]
        for k, r in enumerate(results[1 + n_carried :]):
            scans[k].append(r)
    return nodes + _assemble_outputs(node, carried, scans, [0] * n_scan, main, names, opset, base)


def _scan(node, dims, names: FreshNames, opset: int, main, notes: list[str]) -> list[onnxapi.NodeProto] | None:
    body = node_attribute(node, "body")
    n_scan_in = node_attribute(node, "num_scan_inputs")
    if body is None or n_scan_in is None:
        return None
    n_state = len(node.input) - n_scan_in
    scan_inputs = list(node.input[n_state:])
    in_axes = list(node_attribute(node, "scan_input_axes") or [0] * n_scan_in)
    in_dirs = list(node_attribute(node, "scan_input_directions") or [0] * n_scan_in)
    n_scan_out = len(body.output) - n_state
    out_axes = list(node_attribute(node, "scan_output_axes") or [0] * n_scan_out)
    out_dirs = list(node_attribute(node, "scan_output_directions") or [0] * n_scan_out)
    length = _scan_length(node, dims)
    if length is None:
        return None
    shape = dims(scan_inputs[0])
    if length <= 0:
        notes.append(f"Scan {node.name!r}: not unrolled ({length} steps of {len(body.node)} nodes)")
        return None
    base = (node.name or node.output[0]) + "/"
    axes = [axis_index(int(in_axes[j]), len(dims(x) or shape), _label(node)) for j, x in enumerate(scan_inputs)]
    nodes, states, scans = _scan_steps(body, list(node.input[:n_state]), scan_inputs, axes, in_dirs, length, base, names,
                                       main, {})
    ordered = [parts[::-1] if out_dirs[k] else parts for k, parts in enumerate(scans)]
    return nodes + _assemble_outputs(node, states, ordered, out_axes, main, names, opset, base)


def _scan_steps(body: onnxapi.GraphProto, states: list[str], scan_inputs: list[str], axes: list[int], dirs: list[int],
                length: int, base: str, names: FreshNames, main: onnxapi.GraphProto, inits: dict[str, str]
                ) -> tuple[list[onnxapi.NodeProto], list[str], list[list[str]]]:
    """A Scan body unrolled over `length` steps, each scan input sliced along its axis in its
    direction; returns (nodes, final states, each scan output's per-step values in step order)."""
    nodes: list[onnxapi.NodeProto] = []
    scans: list[list[str]] = [[] for _ in range(len(body.output) - len(states))]
    for t in range(length):
        slices = []
        for j, x in enumerate(scan_inputs):
            index = length - 1 - t if dirs[j] else t
            idx = add_constant(main, names, f"{base}t{t}_{j}", np.array(index, dtype=np.int64))
            s = names.fresh(f"{base}#{t}/{x}/slice")
            nodes.append(onnxapi.helper.make_node("Gather", [x, idx], [s], name=names.fresh(s + "/Gather"), axis=axes[j]))
            slices.append(s)
        bind = dict(zip([b.name for b in body.input], states + slices))
        inlined, results = _inline(body, bind, f"{base}#{t}/", names, main, inits)
        nodes += inlined
        states = results[:len(states)]
        for k, r in enumerate(results[len(states):]):
            scans[k].append(r)
    return nodes, states, scans


def _scan8(node, value, dims, names: FreshNames, opset: int, main, notes: list[str]) -> list[onnxapi.NodeProto] | None:
    """Scan-8: inputs and outputs carry a batch axis first, the sequence axis second; each
    batch element is scanned on its own (its slices gathered first), then the results stacked.
    `sequence_lens`, when given, must be static and the full length for every element."""
    body = node_attribute(node, "body")
    n_scan_in = node_attribute(node, "num_scan_inputs")
    if body is None or n_scan_in is None:
        return None
    n_state = len(node.input) - 1 - n_scan_in
    scan_inputs = list(node.input[1 + n_state:])
    dirs = list(node_attribute(node, "directions") or [0] * n_scan_in)
    shape = dims(scan_inputs[0])
    if not shape or len(shape) < 2 or not all(isinstance(d, int) for d in shape[:2]):
        return None
    batch, length = shape[0], shape[1]
    label = node.name or node.output[0]
    if node.input[0]:
        lens = value(node.input[0])
        if lens is None or np.asarray(lens).size != batch or np.any(np.asarray(lens) != length):
            notes.append(f"Scan {label!r}: not unrolled (its sequence_lens are not static or not all {length})")
            return None
    if batch <= 0 or length <= 0:
        notes.append(f"Scan {label!r}: not unrolled ({batch}×{length} steps of {len(body.node)} nodes)")
        return None
    base = label + "/"
    nodes: list[onnxapi.NodeProto] = []
    inits: dict[str, str] = {}
    finals: list[list[str]] = [[] for _ in range(n_state)]
    scans: list[list[str]] = [[] for _ in range(len(body.output) - n_state)]
    for b in range(batch):
        element = f"{base}b{b}/"
        idx = add_constant(main, names, f"{element}index", np.array(b, dtype=np.int64))
        sliced = []
        for x in node.input[1:]:
            s = names.fresh(f"{element}{x}")
            nodes.append(onnxapi.helper.make_node("Gather", [x, idx], [s], name=names.fresh(s + "/Gather"), axis=0))
            sliced.append(s)
        steps, states, per_step = _scan_steps(body, sliced[:n_state], sliced[n_state:], [0] * n_scan_in, dirs, length,
                                              element, names, main, inits)
        nodes += steps
        for k, r in enumerate(states):
            finals[k].append(r)
        for k, parts in enumerate(per_step):
            stacked = names.fresh(f"{element}scan_output_{k}")
            nodes += _stack(parts, stacked, 0, main, names, opset, element)
            scans[k].append(stacked)
    for parts, out in zip(finals + scans, node.output):
        if out:
            nodes += _stack(parts, out, 0, main, names, opset, base)
    return nodes


# --------------------------------------------------------------------------- what unrolling reads, checked


def _label(node: onnxapi.NodeProto) -> str:
    return f"{node.op_type} node {node.name or (node.output[0] if node.output else '')!r}"


def _condition(node: onnxapi.NodeProto, value: Callable[[str], np.ndarray | None]) -> bool | None:
    """An If's condition, if static; it must be one boolean."""
    cond = value(node.input[0]) if node.input and node.input[0] else None
    if cond is None:
        return None
    cond = np.asarray(cond)
    if cond.size != 1 or cond.dtype != np.bool_:
        raise GraphError(f"{_label(node)} has a condition of {cond.size} {cond.dtype} element(s); ONNX requires one bool")
    return bool(cond.reshape(-1)[0])


def _trip_count(node: onnxapi.NodeProto, value: Callable[[str], np.ndarray | None]) -> int | None:
    """A Loop's trip count, if static (None without one: the exit condition alone decides)."""
    trip = value(node.input[0]) if node.input and node.input[0] else None
    if trip is None:
        return None
    trip = np.asarray(trip)
    if trip.size != 1 or not np.issubdtype(trip.dtype, np.integer):
        raise GraphError(f"{_label(node)} has a trip count of {trip.size} {trip.dtype} element(s); ONNX requires one int64")
    return int(trip.reshape(-1)[0])


def _scan_length(node: onnxapi.NodeProto, dims: Callable[[str], tuple | None]) -> int | None:
    """A Scan's sequence length, if its first scan input's shape is known."""
    n_scan_in = node_attribute(node, "num_scan_inputs")
    in_axes = list(node_attribute(node, "scan_input_axes") or [0] * n_scan_in)
    shape = dims(node.input[len(node.input) - n_scan_in])
    if not shape or not all(isinstance(d, int) for d in shape):
        return None
    axis = in_axes[0]
    if not axis_in_range(axis, len(shape)):
        raise GraphError(f"{_label(node)} scans axis {axis} of a rank-{len(shape)} input")
    return shape[axis]


def check_signature(node: onnxapi.NodeProto, opset: int) -> None:
    """A control-flow node's subgraphs must fit its inputs and outputs (ONNX's own checker would
    refuse them; unrolling would index past their ends). Before opset 9, Scan's first input is
    `sequence_lens`, which its body does not see."""
    if node.domain not in ("", "ai.onnx") or node.op_type not in CONTROL_FLOW:
        return
    problem = schema_problem(node, opset)  # nodes in subgraphs have not met the view's schema check yet
    if problem:
        raise GraphError(f"{_label(node)} {problem}")
    outs = len(node.output)
    if node.op_type == "If":
        for key in ("then_branch", "else_branch"):
            branch = node_attribute(node, key)
            if branch is not None and len(branch.output) != outs:
                raise GraphError(f"{_label(node)} has {outs} outputs but its {key} has {len(branch.output)}")
        return
    body = node_attribute(node, "body")
    if body is None:
        return
    if node.op_type == "Loop":
        carried = max(len(node.input) - 2, 0)
        if len(body.input) != 2 + carried or len(body.output) < 1 + carried or outs > len(body.output) - 1:
            raise GraphError(f"{_label(node)} carries {carried} value(s) and has {outs} outputs, so its body needs "
                             f"{2 + carried} inputs and at least {max(outs, carried) + 1} outputs; it has "
                             f"{len(body.input)} and {len(body.output)}")
        return
    n_scan_in = node_attribute(node, "num_scan_inputs")
    if n_scan_in is None:
        return
    lens = 1 if opset < 9 else 0
    seen = len(node.input) - lens  # the inputs the body sees
    n_state = seen - n_scan_in
    n_scan_out = len(body.output) - n_state
    if not 1 <= n_scan_in <= seen or len(body.input) != seen or n_scan_out < 0 or outs > len(body.output):
        raise GraphError(f"{_label(node)} has {len(node.input)} inputs ({n_scan_in} scanned) and {outs} outputs, "
                         f"which its body's {len(body.input)} inputs and {len(body.output)} outputs do not match")
    counted = ((("directions", n_scan_in),) if lens else
               (("scan_input_axes", n_scan_in), ("scan_input_directions", n_scan_in),
                ("scan_output_axes", n_scan_out), ("scan_output_directions", n_scan_out)))
    for key, count in counted:
        given = node_attribute(node, key)
        if given is not None and len(given) != count:
            raise GraphError(f"{_label(node)} gives {len(given)} {key} for {count} tensors")


# --------------------------------------------------------------------------- the size unrolling will make


def unrolled_size(graph: onnxapi.GraphProto, value: Callable[[str], np.ndarray | None],
                  dims: Callable[[str], tuple | None], opset: int) -> tuple[int, str]:
    """Nodes `graph` will hold once its control flow is unrolled, nested control flow multiplied
    out as far as its trip counts are static (a node left rolled counts with the nodes its
    subgraphs hold); and the control-flow node that makes the most of them.

    `value` and `dims` read the main graph; subgraphs are read from their own Constant nodes,
    initializers and declared shapes, falling back on the enclosing graph's.
    """
    culprit = [0, ""]
    total = _graph_size(graph, value, dims, culprit, opset)
    return total, culprit[1]


def _graph_size(graph: onnxapi.GraphProto, value, dims, culprit: list, opset: int) -> int:
    total = 0
    for node in graph.node:
        size = _node_size(node, value, dims, culprit, opset)
        if node.op_type in CONTROL_FLOW and size > culprit[0]:
            culprit[:] = [size, _label(node)]
        total += size
    return total


def _node_size(node: onnxapi.NodeProto, value, dims, culprit: list, opset: int) -> int:
    rolled = 1
    for sub in subgraphs(node):
        rolled += _graph_size(sub, *_scope(sub, value, dims), culprit, opset)
    if node.domain not in ("", "ai.onnx") or node.op_type not in CONTROL_FLOW:
        return rolled
    check_signature(node, opset)
    outs = len(node.output)
    if node.op_type == "If":
        branches = [node_attribute(node, "then_branch"), node_attribute(node, "else_branch")]
        if None in branches:
            return rolled
        cond = _condition(node, value)
        sizes = [_graph_size(b, *_scope(b, value, dims), culprit, opset) for b in branches]
        return outs + (sum(sizes) if cond is None else sizes[0] if cond else sizes[1])
    body = node_attribute(node, "body")
    if body is None:
        return rolled
    inner = _graph_size(body, *_scope(body, value, dims), culprit, opset)
    if node.op_type == "Loop":
        steps = _trip_count(node, value)
        per_step, scanned = 0, outs - max(len(node.input) - 2, 0)
    elif opset < 9:
        # Scan-8, per batch element: a Gather per input, the steps, a stack per scan output; then a stack per output
        shape = dims(node.input[-1]) if node_attribute(node, "num_scan_inputs") is not None else None
        if not shape or len(shape) < 2 or not all(isinstance(d, int) and d > 0 for d in shape[:2]):
            return rolled
        n_scan_in = node_attribute(node, "num_scan_inputs")
        scanned = len(body.output) - (len(node.input) - 1 - n_scan_in)
        per_element = len(node.input) + shape[1] * (inner + n_scan_in + scanned) + 2 * scanned + 1
        return max(rolled, shape[0] * (per_element + outs) + 2 * outs)
    else:
        steps = None if node_attribute(node, "num_scan_inputs") is None else _scan_length(node, dims)
        scanned = outs - (len(node.input) - node_attribute(node, "num_scan_inputs", 0))
        per_step = node_attribute(node, "num_scan_inputs", 0)  # a Gather per scanned input
    if steps is None or steps <= 0:
        return rolled
    # per step: the body (and the Gathers); then an Unsqueeze per scanned output, a Concat or
    # an Identity per output
    return max(rolled, steps * (inner + per_step + scanned) + outs)


def _scope(graph: onnxapi.GraphProto, value, dims):
    """`value` and `dims` inside `graph`: its Constant nodes, initializers and declared shapes first."""
    local_values = {i.name: i for i in graph.initializer}
    local_values.update({n.output[0]: n for n in graph.node if n.op_type == "Constant" and n.domain in ("", "ai.onnx") and n.output})
    local = {o for n in graph.node for o in n.output} | {i.name for i in graph.input}
    declared = {v.name: v.type for v in list(graph.input) + list(graph.value_info) + list(graph.output)}

    def inner_value(name: str) -> np.ndarray | None:
        found = local_values.get(name)
        if found is None:
            return None if name in local else value(name)
        tensor = found if isinstance(found, onnxapi.TensorProto) else next(
            (a.t for a in found.attribute if a.name == "value" and a.type == onnxapi.AttributeProto.TENSOR), None)
        if tensor is None or tensor.data_location == onnxapi.TensorProto.EXTERNAL or math.prod(tensor.dims) > 1:
            return None
        try:
            return onnxapi.to_array(tensor)
        except Exception:
            return None

    def inner_dims(name: str) -> tuple | None:
        ttype = declared.get(name)
        if ttype is None:
            return None if name in local or name in local_values else dims(name)
        if not ttype.HasField("tensor_type") or not ttype.tensor_type.HasField("shape"):
            return None
        return tuple(d.dim_value if d.HasField("dim_value") else None for d in ttype.tensor_type.shape.dim)

    return inner_value, inner_dims


def _assemble_outputs(node, finals: list[str], scans: list[list[str]], axes: list[int], main, names: FreshNames,
                      opset: int, base: str) -> list[onnxapi.NodeProto]:
    """The node's outputs from an unrolled body: final states by Identity, then each scan
    output's per-step values stacked along its axis (Unsqueeze + Concat)."""
    outs = list(node.output)
    nodes = [onnxapi.helper.make_node("Identity", [r], [o], name=names.fresh(base + "Identity"))
             for r, o in zip(finals, outs[: len(finals)]) if o]
    for k, o in enumerate(outs[len(finals):]):
        if o:
            nodes += _stack(scans[k], o, axes[k], main, names, opset, base)
    return nodes


def _stack(parts: list[str], out: str, axis: int, main, names: FreshNames, opset: int, base: str) -> list[onnxapi.NodeProto]:
    """`out` = the `parts` stacked along a new `axis` (Unsqueeze each, Concat)."""
    nodes, unsqueezed = [], []
    for r in parts:
        u = names.fresh(r + "/unsqueezed")
        nodes.append(unsqueeze_node(r, u, main, names, opset, axis))
        unsqueezed.append(u)
    nodes.append(onnxapi.helper.make_node("Concat", unsqueezed, [out], name=names.fresh(base + "Concat"), axis=axis))
    return nodes
