"""Graph view: nodes in topological order, tensors with shapes, and data/static roles (SPEC §1).

The records (`Tensor`, `Node`, `GraphView`), how a view is built from a model and ordered,
and which tensors are data. Getting a model into a view whose shapes are all known is
preparation's job (`prepare.py`).
"""
from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np
import onnx
from onnx import helper, numpy_helper

from .errors import GraphError, ShapeError
from .loading import SMALL_CONSTANT, default_opset

FLOAT_TYPES = frozenset(
    t
    for t in (
        onnx.TensorProto.FLOAT,
        onnx.TensorProto.DOUBLE,
        onnx.TensorProto.FLOAT16,
        onnx.TensorProto.BFLOAT16,
        getattr(onnx.TensorProto, "FLOAT8E4M3FN", -1),
        getattr(onnx.TensorProto, "FLOAT8E4M3FNUZ", -1),
        getattr(onnx.TensorProto, "FLOAT8E5M2", -1),
        getattr(onnx.TensorProto, "FLOAT8E5M2FNUZ", -1),
    )
    if t >= 0
)
#: Ops whose outputs depend on their inputs' shapes only: always static (SPEC §1).
SHAPE_ONLY_OPS = frozenset({"Shape", "Size", "EyeLike", "RandomNormalLike", "RandomUniformLike"})
#: Static tensors up to this many elements are evaluated on demand when a rule asks
#: (as large as the initializers loading keeps the values of).
FOLD_LIMIT = SMALL_CONSTANT

DATA, STATIC, DISCRETE = "data", "static", "discrete"


@dataclass
class Tensor:
    """One named value of the graph."""

    name: str
    elem_type: int = 0
    shape: tuple | None = None
    producer: int | None = None
    consumers: list[int] = field(default_factory=list)
    role: str = STATIC
    source: bool = False
    initializer: bool = False

    @property
    def is_data(self) -> bool:
        return self.role == DATA

    @property
    def is_float(self) -> bool:
        return self.elem_type in FLOAT_TYPES

    @property
    def size(self) -> int:
        """Element count (exact Python int). Raises ShapeError if a dim is unresolved."""
        cached = self.__dict__.get("_size")
        if cached is not None and cached[0] is self.shape:
            return cached[1]
        if self.shape is None:
            raise ShapeError(f"tensor {self.name!r} has no known shape")
        size = math.prod(self._int_dims())
        self.__dict__["_size"] = (self.shape, size)
        return size

    @property
    def resolved(self) -> bool:
        """Whether the shape is known and every dim a concrete integer."""
        return self.shape is not None and all(isinstance(d, int) for d in self.shape)

    def _int_dims(self) -> list[int]:
        dims = []
        for axis, d in enumerate(self.shape or ()):
            if not isinstance(d, int):
                raise ShapeError(f"tensor {self.name!r} has an unresolved dim {axis} ({d!r})")
            dims.append(d)
        return dims

    @property
    def dims(self) -> tuple[int, ...]:
        return tuple(self._int_dims())


@dataclass
class Node:
    """One ONNX node, with a unique name and its outer-scope references (control flow)."""

    index: int
    name: str
    op_type: str
    domain: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    proto: onnx.NodeProto
    implicit_inputs: tuple[str, ...] = ()

    @property
    def all_inputs(self) -> tuple[str, ...]:
        return tuple(i for i in self.inputs if i) + self.implicit_inputs

    def attr(self, name: str, default: Any = None) -> Any:
        """The attribute's value (strings decoded), or `default` if the node does not set it."""
        for a in self.proto.attribute:
            if a.name == name:
                value = helper.get_attribute_value(a)
                return value.decode() if isinstance(value, bytes) else value
        return default


@dataclass
class GraphView:
    """The prepared model: nodes in topological order and every tensor's shape and role."""

    model: onnx.ModelProto
    nodes: list[Node]
    tensors: dict[str, Tensor]
    inputs: list[str]
    outputs: list[str]
    opsets: dict[str, int]
    warnings: list[str]
    constants: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def opset(self) -> int:
        return self.opsets.get("", 1)

    @property
    def sources(self) -> list[Tensor]:
        return [t for t in self.tensors.values() if t.source]

    def value(self, name: str) -> np.ndarray | None:
        """Value of a small static tensor (initializer, Constant, or folded), else None."""
        if not name:
            return None
        if name in self.constants:
            return self.constants[name]
        t = self.tensors.get(name)
        if t is None or t.role != STATIC or t.producer is None:
            return None
        node = self.nodes_by_index[t.producer]
        if node.op_type in ("Shape", "Size") and node.domain == "":
            return _shape_value(self, node)
        if t.resolved and t.size > FOLD_LIMIT:
            return None
        folded = _fold(self, self.nodes_by_index[t.producer])
        self.constants.update(folded)
        return self.constants.get(name)

    def producer(self, name: str) -> Node | None:
        """The node that outputs tensor `name` (None for inputs and initializers)."""
        t = self.tensors.get(name)
        return None if t is None or t.producer is None else self.nodes_by_index[t.producer]

    @property
    def positions(self) -> dict[int, int]:
        """Node index → position in topological order (computed once per view)."""
        cache = self.__dict__.get("_positions")
        if cache is None:
            cache = {n.index: k for k, n in enumerate(self.nodes)}
            self.__dict__["_positions"] = cache
        return cache

    @property
    def nodes_by_index(self) -> dict[int, Node]:
        cache = self.__dict__.get("_by_index")
        if cache is None:
            cache = {n.index: n for n in self.nodes}
            self.__dict__["_by_index"] = cache
        return cache


# --------------------------------------------------------------------------- the view


def _shape_of(ttype: onnx.TypeProto) -> tuple[int, tuple | None]:
    if not ttype.HasField("tensor_type"):
        return 0, None
    tt = ttype.tensor_type
    if not tt.HasField("shape"):
        return tt.elem_type, None
    dims: list = []
    for d in tt.shape.dim:
        if d.HasField("dim_value") and d.dim_value >= 0:
            dims.append(int(d.dim_value))
        elif d.HasField("dim_param"):
            dims.append(d.dim_param)
        else:
            dims.append(None)
    return tt.elem_type, tuple(dims)


def subgraphs(proto: onnx.NodeProto) -> list[onnx.GraphProto]:
    """The graphs a node holds in its attributes (If branches, Loop and Scan bodies)."""
    return [sub for a in proto.attribute for sub in ([a.g] if a.type == onnx.AttributeProto.GRAPH else a.graphs)]


def _outer_refs(graph: onnx.GraphProto) -> set[str]:
    """Names a subgraph reads from the enclosing scope."""
    defined = {i.name for i in graph.input} | {i.name for i in graph.initializer}
    refs: set[str] = set()
    for n in graph.node:
        for i in n.input:
            if i and i not in defined:
                refs.add(i)
        for sub in subgraphs(n):
            refs |= {r for r in _outer_refs(sub) if r not in defined}
        defined.update(o for o in n.output if o)
    return refs


def build_view(model: onnx.ModelProto, warnings: list[str] | None = None) -> GraphView:
    """Index tensors and nodes, check references, and order nodes topologically."""
    g = model.graph
    tensors: dict[str, Tensor] = {}
    constants: dict[str, np.ndarray] = {}
    for init in g.initializer:
        t = tensors[init.name] = Tensor(init.name, init.data_type, tuple(int(d) for d in init.dims), initializer=True)
        if init.data_location != onnx.TensorProto.EXTERNAL and t.size <= FOLD_LIMIT:
            try:
                constants[init.name] = numpy_helper.to_array(init)
            except Exception:
                pass
    for vi in list(g.input) + list(g.value_info) + list(g.output):
        elem, shape = _shape_of(vi.type)
        t = tensors.get(vi.name)
        if t is None:
            tensors[vi.name] = Tensor(vi.name, elem, shape)
        elif not t.initializer:
            t.elem_type = t.elem_type or elem
            t.shape = shape if shape is not None else t.shape
    inputs = [i.name for i in g.input if not tensors[i.name].initializer]

    opsets = {(e.domain if e.domain != "ai.onnx" else ""): int(e.version) for e in model.opset_import}
    opsets.setdefault("", default_opset(model))

    nodes: list[Node] = []
    used_names: set[str] = set()
    for k, proto in enumerate(g.node):
        name = proto.name or f"{proto.op_type}_{k}"
        if name in used_names:
            name = f"{name}_{k}"
        used_names.add(name)
        refs = set().union(*(_outer_refs(sub) for sub in subgraphs(proto)))
        implicit = tuple(sorted(refs - set(proto.input)))
        nodes.append(Node(k, name, proto.op_type, proto.domain or "", tuple(proto.input), tuple(proto.output), proto, implicit))
        _check_schema(nodes[-1], opsets)

    for node in nodes:
        for out in node.outputs:
            if not out:
                continue
            t = tensors.setdefault(out, Tensor(out))
            if t.producer is not None or t.initializer or out in inputs:
                raise GraphError(f"tensor {out!r} is produced twice (node {node.name!r})")
            t.producer = node.index
        if node.op_type == "Constant" and node.domain == "":
            value = _constant_value(node)
            if value is not None and node.outputs:
                constants[node.outputs[0]] = value
    for node in nodes:
        for name in node.all_inputs:
            t = tensors.get(name)
            if t is None or (t.producer is None and not t.initializer and name not in inputs):
                raise GraphError(f"node {node.name!r} ({node.op_type}) reads tensor {name!r}, which nothing produces")
            t.consumers.append(node.index)
    outputs = [o.name for o in g.output]
    for name in outputs:
        t = tensors.get(name)
        if t is None or (t.producer is None and not t.initializer and name not in inputs):
            raise GraphError(f"graph output {name!r} is not produced by any node")

    ordered = _topological(nodes, tensors)
    return GraphView(model, ordered, tensors, inputs, outputs, opsets, list(warnings or []), constants)


def _check_schema(node: Node, opsets: Mapping[str, int]) -> None:
    """Input/output counts and attribute types must fit the op's ONNX schema, so rules and
    fusions can rely on them.

    Shape inference runs non-strict and lets such nodes through; ops without a schema
    (custom domains, unknown types) are left alone: they become opaque leaves.
    """
    domain = "" if node.domain == "ai.onnx" else node.domain
    try:
        schema = onnx.defs.get_schema(node.op_type, opsets.get(domain, 1), domain)
    except onnx.defs.SchemaError:
        return
    opset = f"opset {opsets.get(domain, 1)}" + (f" of {domain}" if domain else "")
    for what, names, low, high in (
        ("inputs", node.inputs, schema.min_input, schema.max_input),
        ("outputs", node.outputs, schema.min_output, schema.max_output),
    ):
        if not low <= len(names) <= high:
            allowed = str(low) if low == high else f"{low} to {high}" if high < 1 << 30 else f"at least {low}"
            raise GraphError(f"node {node.name!r} ({node.op_type}) has {len(names)} {what}; {opset} allows {allowed}")
    for k, name in enumerate(node.inputs):
        formal = schema.inputs[min(k, len(schema.inputs) - 1)]
        if not name and formal.option == onnx.defs.OpSchema.FormalParameterOption.Single:
            raise GraphError(f"node {node.name!r} ({node.op_type}) leaves its required input {k} ({formal.name}) empty")
    given = {a.name: a for a in node.proto.attribute}
    for name, spec in schema.attributes.items():
        a = given.get(name)
        if a is None:
            if spec.required:
                raise GraphError(f"node {node.name!r} ({node.op_type}) lacks its required attribute {name!r}")
        elif not a.ref_attr_name and a.type != int(spec.type):
            got = onnx.AttributeProto.AttributeType.Name(a.type) if a.type in onnx.AttributeProto.AttributeType.values() else a.type
            raise GraphError(
                f"node {node.name!r} ({node.op_type}) has attribute {name!r} of type {got}; {opset} expects {spec.type.name}"
            )


def _constant_value(node: Node) -> np.ndarray | None:
    for a in node.proto.attribute:
        try:
            if a.name == "value":
                if a.t.data_location == onnx.TensorProto.EXTERNAL:
                    return None
                return numpy_helper.to_array(a.t)
            if a.name in ("value_float", "value_int"):
                return np.array(helper.get_attribute_value(a))
            if a.name in ("value_floats", "value_ints"):
                return np.array(list(helper.get_attribute_value(a)))
        except Exception:
            return None
    return None


def _topological(nodes: list[Node], tensors: dict[str, Tensor]) -> list[Node]:
    """Kahn's algorithm, stable in file order; a cycle is reported with its nodes."""
    by_index = {n.index: n for n in nodes}
    indegree = {n.index: 0 for n in nodes}
    for n in nodes:
        for name in set(n.all_inputs):
            if tensors[name].producer is not None:
                indegree[n.index] += 1
    ready = deque(n.index for n in nodes if indegree[n.index] == 0)
    ordered: list[Node] = []
    while ready:
        k = ready.popleft()
        node = by_index[k]
        ordered.append(node)
        for out in node.outputs:
            if not out:
                continue
            for c in dict.fromkeys(tensors[out].consumers):
                indegree[c] -= 1
                if indegree[c] == 0:
                    ready.append(c)
    if len(ordered) != len(nodes):
        import networkx as nx

        rest = [n for n in nodes if indegree[n.index] > 0]
        dg = nx.DiGraph()
        for n in rest:
            for name in n.all_inputs:
                p = tensors[name].producer
                if p is not None and indegree[p] > 0:
                    dg.add_edge(by_index[p].name, n.name)
        try:
            cycle = [u for u, _ in nx.find_cycle(dg)]
        except nx.NetworkXNoCycle:
            cycle = [n.name for n in rest[:5]]
        shown = " -> ".join(cycle[:6]) + (" -> ..." if len(cycle) > 6 else "")
        raise GraphError(f"the graph has a cycle: {shown}")
    return ordered


# --------------------------------------------------------------------------- roles (SPEC §1)


def classify(view: GraphView) -> None:
    """Mark each tensor data, static or discrete, and find the sources."""
    for name in view.inputs:
        t = view.tensors[name]
        if t.elem_type in FLOAT_TYPES:
            t.role, t.source = DATA, True
        elif t.elem_type != 0 and t.shape is not None:
            t.role = DISCRETE
        else:
            t.role = DATA if t.elem_type == 0 else DISCRETE
    for node in view.nodes:
        roles = {view.tensors[i].role for i in node.all_inputs}
        if node.op_type in SHAPE_ONLY_OPS and node.domain == "":
            out_role, discrete_seed = STATIC, False
        elif DATA in roles:
            out_role, discrete_seed = DATA, False
        elif DISCRETE in roles:
            out_role, discrete_seed = DISCRETE, True
        else:
            out_role, discrete_seed = STATIC, False
        for out in node.outputs:
            if not out:
                continue
            t = view.tensors[out]
            if discrete_seed and t.elem_type in FLOAT_TYPES:
                t.role, t.source = DATA, True  # first float tensor computed from token ids
            else:
                t.role = out_role
    if not view.sources:
        raise GraphError("the model has no float data input (nothing flows from a float input or an embedding)")


# --------------------------------------------------------------------------- constant folding


def _shape_value(view: GraphView, node: Node) -> np.ndarray | None:
    """Value of Shape/Size from the input's known dims (the input itself may be data)."""
    src = view.tensors.get(node.inputs[0]) if node.inputs else None
    if src is None or not src.resolved:
        return None
    dims = list(src.shape)
    if node.op_type == "Size":
        value = np.array(math.prod(dims), dtype=np.int64)
    else:
        start, end = node.attr("start", 0), node.attr("end", None)
        value = np.array(dims[start:end], dtype=np.int64)
    view.constants[node.outputs[0]] = value
    return value


def _fold(view: GraphView, node: Node) -> dict[str, np.ndarray]:
    """Evaluate one static node with onnx's reference evaluator, if its inputs are known."""
    values = []
    for name in node.inputs:
        if not name:
            values.append(None)
            continue
        v = view.value(name)
        if v is None:
            return {}
        values.append(v)
    try:
        from onnx.reference import ReferenceEvaluator

        opsets = {d: v for d, v in view.opsets.items()}
        ev = ReferenceEvaluator(node.proto, opsets=opsets)
        feeds = {n: v for n, v in zip(node.inputs, values) if n}
        # static inf/nan (a mutated scale, 0·inf) must not print numpy warnings on stderr
        with np.errstate(all="ignore"):
            results = ev.run(None, feeds)
    except Exception:
        return {}
    return {o: np.asarray(r) for o, r in zip(node.outputs, results) if o}
