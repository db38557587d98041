"""Graph view: nodes in topological order, tensors with shapes, and data/static roles (SPEC §1).

The records (`Tensor`, `Node`, `GraphView`), how a view is built from a model and ordered,
and which tensors are data. Getting a model into a view whose shapes are all known is
preparation's job (`prepare.py`).
"""
from __future__ import annotations

import math
import struct
import sys
from array import array
from collections import deque
from dataclasses import dataclass, field
from functools import lru_cache, partial
from typing import Any, Callable, Mapping, Sequence
from warnings import catch_warnings, simplefilter

from . import onnxapi
from .budget import Budget, FoldBudget
from .deferred import numpy as np
from .errors import GraphError, ShapeError
from .loading import SMALL_CONSTANT, default_opset

FLOAT_TYPES = frozenset(
    t
    for t in (
        onnxapi.TensorProto.FLOAT,
        onnxapi.TensorProto.DOUBLE,
        onnxapi.TensorProto.FLOAT16,
        onnxapi.TensorProto.BFLOAT16,
        getattr(onnxapi.TensorProto, "FLOAT8E4M3FN", -1),
        getattr(onnxapi.TensorProto, "FLOAT8E4M3FNUZ", -1),
        getattr(onnxapi.TensorProto, "FLOAT8E5M2", -1),
        getattr(onnxapi.TensorProto, "FLOAT8E5M2FNUZ", -1),
    )
    if t >= 0
)
#: Ops whose outputs depend on their inputs' shapes only: always static (SPEC §1).
SHAPE_ONLY_OPS = frozenset({"Shape", "Size", "EyeLike", "RandomNormalLike", "RandomUniformLike"})
#: Static tensors up to this many elements are evaluated on demand when a rule asks
#: (as large as the initializers loading keeps the values of).
FOLD_LIMIT = SMALL_CONSTANT
#: Ops folding never evaluates: a Constant's value is read from the model, not computed (its
#: payload may be external or sparse); control flow is unrolled instead (a static Loop could
#: spin forever); the rest have reference kernels that loop in Python over windows or steps.
NOT_FOLDED = frozenset({
    "Constant", "If", "Loop", "Scan", "Conv", "ConvTranspose", "ConvInteger", "QLinearConv", "DeformConv",
    "AveragePool", "MaxPool", "LpPool", "MaxRoiPool", "MaxUnpool", "RoiAlign", "Col2Im", "GridSample",
    "LSTM", "GRU", "RNN", "NonMaxSuppression",
})
_GRAPH, _GRAPHS = onnxapi.AttributeProto.GRAPH, onnxapi.AttributeProto.GRAPHS
_OPAQUE_ATTRIBUTES = frozenset({onnxapi.AttributeProto.GRAPH, onnxapi.AttributeProto.GRAPHS, onnxapi.AttributeProto.SPARSE_TENSOR,
                                onnxapi.AttributeProto.SPARSE_TENSORS})

DATA, STATIC, DISCRETE = "data", "static", "discrete"


@dataclass(slots=True)
class Tensor:
    """One named value of the graph (slots: one per tensor)."""

    name: str
    elem_type: int = 0
    shape: tuple | None = None
    producer: int | None = None
    consumers: tuple[int, ...] = ()  # the nodes reading it, by index (once per input it is)
    role: str = STATIC
    source: bool = False
    initializer: bool = False
    #: a source computed from integer graph inputs other than by an embedding lookup: those inputs
    #: (its d is bounded by their element count, SPEC §1 v1.1)
    derived_from: tuple[str, ...] = ()
    #: the element count `size` computed last, and of which shape object (fields: slots, no tuple)
    _size: int = field(default=0, init=False, repr=False, compare=False)
    _size_of: tuple | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def is_data(self) -> bool:
        return self.role == DATA

    @property
    def is_float(self) -> bool:
        return self.elem_type in FLOAT_TYPES

    @property
    def size(self) -> int:
        """Element count (exact Python int). Raises ShapeError if a dim is unresolved."""
        if self._size_of is not None and self._size_of is self.shape:
            return self._size
        if self.shape is None:
            raise ShapeError(f"tensor {self.name!r} has no known shape")
        self._size = math.prod(self._int_dims())
        self._size_of = self.shape
        return self._size

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


@dataclass(slots=True)
class Node:
    """One ONNX node, with a unique name and its outer-scope references (control flow; slots: one per node)."""

    index: int
    name: str
    op_type: str
    domain: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    #: the graph's repeated field of nodes, which holds this one at `index` (`proto`): one
    #: reference shared by the graph's nodes instead of a protobuf wrapper kept for each
    graph_nodes: Any = field(repr=False, compare=False)
    implicit_inputs: tuple[str, ...] = ()
    #: given inputs, then the names its subgraphs read from the enclosing scope (the view's checks,
    #: order and roles read it several times; a field, so that no instance dict is made)
    all_inputs: tuple[str, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        given = self.inputs if all(self.inputs) else tuple([i for i in self.inputs if i])  # mostly the same tuple
        self.all_inputs = given + self.implicit_inputs if self.implicit_inputs else given

    @property
    def proto(self) -> onnxapi.NodeProto:
        return self.graph_nodes[self.index]

    def attr(self, name: str, default: Any = None) -> Any:
        """The attribute's value (strings decoded), or `default` if the node does not set it."""
        for a in self.proto.attribute:
            if a.name == name:
                value = onnxapi.attribute_value(a)
                return value.decode() if isinstance(value, bytes) else value
        return default


@dataclass(frozen=True, slots=True)
class RawValues:
    """A stored tensor's values as the model holds them (little-endian `raw_data` of one of the
    `RAW_FORMATS` types), read without numpy: what W's copy detection and a fused chain's
    signature need of most weights, without decoding them."""

    data_type: int
    shape: tuple[int, ...]
    raw: bytes | memoryview

    @staticmethod
    def of(data_type: int, dims: Sequence[int], raw: bytes | memoryview) -> RawValues | None:
        """The record, or None for another element type or a payload that does not fit its dims."""
        spec = RAW_FORMATS.get(data_type)
        shape = tuple(dims)
        if spec is None or not raw or len(raw) != math.prod(shape) * spec[1] or sys.byteorder != "little":
            return None
        return RawValues(data_type, shape, raw)

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    @property
    def dtype_str(self) -> str:
        """numpy's `dtype.str` of the values ('<f4', '|u1', ...)."""
        return RAW_FORMATS[self.data_type][2]

    def item(self, k: int) -> float | int:
        """Element k (negative: from the end) as a Python number: its exact value."""
        fmt, width, _ = RAW_FORMATS[self.data_type]
        start = (k % self.size) * width
        return struct.unpack_from("<" + fmt, self.raw, start)[0]

    def end_bytes(self) -> tuple[bytes, bytes]:
        """The bytes of the first and of the last element."""
        width = RAW_FORMATS[self.data_type][1]
        return bytes(self.raw[:width]), bytes(self.raw[len(self.raw) - width:])

    def one_value(self) -> bool | None:
        """Whether every element equals the first (as numbers: -0.0 equals 0.0, NaN nothing), or
        None where only numpy can tell (equal first and last, but bits that differ somewhere)."""
        if not self.item(0) == self.item(-1):
            return False
        first = self.end_bytes()[0]
        if self.raw == first * self.size:
            return True
        return False if self.data_type not in FLOAT_TYPES else None

    def float64_bytes(self) -> bytes | None:
        """The values as float64, in order (numpy's `asarray(values, float64).tobytes()`), for
        FLOAT and DOUBLE tensors; None for the others."""
        if self.data_type == onnxapi.TensorProto.DOUBLE:
            return bytes(self.raw)
        if self.data_type == onnxapi.TensorProto.FLOAT:
            return array("d", array("f", bytes(self.raw))).tobytes()
        return None


#: Element types read straight from `raw_data` (`RawValues`, and W reading a weight with numpy):
#: struct format, bytes per element, numpy's dtype.str (ONNX stores raw data little-endian).
RAW_FORMATS = {onnxapi.TensorProto.FLOAT: ("f", 4, "<f4"), onnxapi.TensorProto.FLOAT16: ("e", 2, "<f2"),
               onnxapi.TensorProto.DOUBLE: ("d", 8, "<f8"), onnxapi.TensorProto.INT8: ("b", 1, "|i1"),
               onnxapi.TensorProto.UINT8: ("B", 1, "|u1")}


class Constants(dict):
    """The values of the small static tensors known so far, by name (numpy arrays).

    A stored initializer's value and a Constant node's are decoded on their first read (`in`,
    `[]`, `get`), so an analysis that reads none computes nothing with numpy (and never imports
    it). A value that does not decode is absent, as when every value was decoded up front; one
    set (`[]=`, `update`) replaces any still to decode. Iteration sees the values decoded so far."""

    def __init__(self) -> None:
        super().__init__()
        self.pending: dict[str, Callable[[], Any]] = {}  # name -> its decoder (which gives None for no value)
        self.initializers: dict[str, onnxapi.TensorProto] = {}  # the pending ones that are initializers

    def defer(self, name: str, decode: Callable[[], Any]) -> None:
        """Decode `name`'s value on its first read; a value deferred before stands in when this one
        does not decode (an initializer behind a Constant node of the same name)."""
        earlier = self.pending.get(name)
        self.pending[name] = decode if earlier is None else partial(_first_decoded, decode, earlier)
        self.initializers.pop(name, None)

    def defer_initializer(self, init: onnxapi.TensorProto) -> None:
        self.defer(init.name, partial(_initializer_value, init))
        self.initializers[init.name] = init

    def rebind(self, initializers: Sequence[onnxapi.TensorProto]) -> None:
        """Read the initializers still to decode from `initializers` (those of a copy of the
        model): a part of a protobuf message keeps the whole message alive, and the model they
        were taken from is to be let go."""
        for init in initializers:
            if init.name in self.initializers:
                self.initializers[init.name] = init
                self.pending[init.name] = partial(_initializer_value, init)

    def holds(self, name: str) -> bool:
        """Whether `name` is one of these constants, decoded or not (nothing is decoded here)."""
        return name in self.pending or dict.__contains__(self, name)

    def raw(self, name: str) -> RawValues | None:
        """The values of initializer `name` as stored, if not decoded yet (`RawValues.of`)."""
        init = self.initializers.get(name) if name in self.pending else None
        return None if init is None else RawValues.of(init.data_type, init.dims, init.raw_data)

    def _decode(self, name: str) -> bool:
        decode = self.pending.pop(name, None)
        self.initializers.pop(name, None)
        if decode is None:
            return False
        value = decode()
        if value is None:
            return False
        dict.__setitem__(self, name, value)
        return True

    def __contains__(self, name: object) -> bool:
        return dict.__contains__(self, name) or self._decode(name)

    def __getitem__(self, name: str) -> Any:
        if not dict.__contains__(self, name):
            self._decode(name)
        return dict.__getitem__(self, name)

    def get(self, name: str, default: Any = None) -> Any:
        return self[name] if name in self else default

    def __setitem__(self, name: str, value: Any) -> None:
        self.pending.pop(name, None)
        self.initializers.pop(name, None)
        dict.__setitem__(self, name, value)

    def update(self, values: Mapping[str, Any]) -> None:  # type: ignore[override]
        for name, value in values.items():
            self[name] = value


@dataclass
class GraphView:
    """The prepared model: nodes in topological order and every tensor's shape and role."""

    model: onnxapi.ModelProto
    nodes: list[Node]
    tensors: dict[str, Tensor]
    inputs: list[str]
    outputs: list[str]
    opsets: dict[str, int]
    warnings: list[str]
    constants: Constants = field(default_factory=Constants)
    fold_budget: FoldBudget = field(default_factory=lambda: FoldBudget(Budget()))
    unfoldable: set[str] = field(default_factory=set)  # static tensors whose value is out of reach
    #: the loaded model's initializers with their payload (the view's own model keeps small ones
    #: only): what parameter counting reads to recognise a tensor stored twice
    stored: Mapping[str, onnxapi.TensorProto] = field(default_factory=dict)
    #: the payloads loading left in the model file, by initializer name (`loading.load_for_analysis`)
    payloads: Mapping[str, memoryview] = field(default_factory=dict)

    @property
    def opset(self) -> int:
        return self.opsets.get("", 1)

    @property
    def sources(self) -> list[Tensor]:
        return [t for t in self.tensors.values() if t.source]

    def value(self, name: str) -> np.ndarray | None:
        """Value of a small static tensor (initializer, Constant, or folded), else None.

        Folds the static nodes it depends on, deepest first, without recursion (static chains
        can be thousands of nodes long); a tensor found out of reach is remembered as such.
        """
        if not name:
            return None
        constants, unfoldable = self.constants, self.unfoldable
        pending = [name]
        while pending:
            top = pending[-1]
            if top in constants or top in unfoldable:
                pending.pop()
                continue
            node = self._foldable_producer(top)
            if node is None:
                unfoldable.add(top)
                pending.pop()
                continue
            if node.op_type in ("Shape", "Size") and node.domain == "":
                if _shape_value(self, node) is None:
                    unfoldable.add(top)
                pending.pop()
                continue
            needed = [i for i in node.inputs if i and i not in constants and i not in unfoldable]
            if needed:
                pending.extend(needed)
                continue
            pending.pop()
            values = [constants.get(i) if i else None for i in node.inputs]
            folded = {} if any(v is None for i, v in zip(node.inputs, values) if i) else _fold(self, node, values)
            constants.update(folded)
            unfoldable.update(o for o in node.outputs if o and o not in folded)
        return constants.get(name)

    def _foldable_producer(self, name: str) -> Node | None:
        """The static node computing tensor `name`, if folding may evaluate it."""
        t = self.tensors.get(name)
        if t is None or t.role != STATIC or t.producer is None:
            return None
        node = self.nodes_by_index[t.producer]
        if node.op_type in ("Shape", "Size") and node.domain == "":
            return node
        if t.resolved and t.size > FOLD_LIMIT:
            return None
        if (node.domain == "" and node.op_type in NOT_FOLDED) or any(_opaque_attribute(a) for a in node.proto.attribute):
            return None
        return node

    def producer(self, name: str) -> Node | None:
        """The node that outputs tensor `name` (None for inputs and initializers)."""
        t = self.tensors.get(name)
        return None if t is None or t.producer is None else self.nodes_by_index[t.producer]

    @property
    def positions(self) -> Sequence[int]:
        """Node index → position in topological order (computed once per view; node indices are
        0 … n − 1, so an array: 8 bytes a node)."""
        cache = self.__dict__.get("_positions")
        if cache is None:
            cache = array("q", bytes(8 * len(self.nodes)))
            for k, n in enumerate(self.nodes):
                cache[n.index] = k
            self.__dict__["_positions"] = cache
        return cache

    @property
    def nodes_by_index(self) -> Sequence[Node]:
        """Node index (file order) → node."""
        cache = self.__dict__.get("_by_index")
        if cache is None:
            cache = sorted(self.nodes, key=lambda n: n.index)
            self.__dict__["_by_index"] = cache
        return cache


# --------------------------------------------------------------------------- the view


def shape_of(ttype: onnxapi.TypeProto) -> tuple[int, tuple | None]:
    """(element type, dims) of a tensor type: ints, symbol names, None where unknown; no shape: None."""
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


def axis_in_range(axis: int, rank: int) -> bool:
    """Whether `axis` names a dim of a shape of `rank` dims (negative ones count from the end)."""
    return -rank <= axis < rank


def axis_index(axis: int, rank: int, node: str) -> int:
    """An axis (negative ones count from the end, as ONNX allows) as an index into a shape of
    `rank` dims; a GraphError naming `node` for one outside [−rank, rank): wrapping it would
    measure another axis than the model names."""
    if not axis_in_range(axis, rank):
        allowed = f"from {-rank} to {rank - 1}" if rank else "none: the input is a scalar"
        raise GraphError(f"{node} has axis {axis}, outside its rank-{rank} input (axes allowed: {allowed})")
    return axis % rank


def subgraphs(proto: onnxapi.NodeProto) -> list[onnxapi.GraphProto]:
    """The graphs a node holds in its attributes (If branches, Loop and Scan bodies)."""
    found = []
    for a in proto.attribute:
        if a.type == _GRAPH:
            found.append(a.g)
        elif a.type == _GRAPHS:
            found.extend(a.graphs)
    return found


def _outer_refs(graph: onnxapi.GraphProto) -> set[str]:
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


def build_view(model: onnxapi.ModelProto, warnings: list[str] | None = None, fold_budget: FoldBudget | None = None) -> GraphView:
    """Index tensors and nodes, check references, and order nodes topologically.

    `fold_budget`: what constant folding may still compute (shared by the views of one preparation).
    """
    nodes, tensors, inputs, outputs, opsets = _index(model)
    constants = Constants()
    for init in model.graph.initializer:
        if init.data_location != onnxapi.TensorProto.EXTERNAL and tensors[init.name].size <= FOLD_LIMIT:
            constants.defer_initializer(init)
    for node in nodes:
        if node.op_type == "Constant" and node.domain == "" and node.outputs:
            constants.defer(node.outputs[0], partial(_constant_value, node))
    ordered = _topological(nodes, tensors)
    return GraphView(model, ordered, tensors, inputs, outputs, opsets, list(warnings or []), constants,
                     fold_budget or FoldBudget(Budget()))


def check_graph(model: onnxapi.ModelProto) -> None:
    """The view's checks alone: schemas, single producers and references (subgraphs' outer ones
    included). Preparation runs them before native code (shape inference, the inliner, the
    version converter) reads a model that could crash it."""
    _check_references(model.graph, _nodes(model.graph, _opsets(model)))


def _opsets(model: onnxapi.ModelProto) -> dict[str, int]:
    opsets = {(e.domain if e.domain != "ai.onnx" else ""): int(e.version) for e in model.opset_import}
    opsets.setdefault("", default_opset(model))
    return opsets


def _nodes(g: onnxapi.GraphProto, opsets: Mapping[str, int], names: dict[str, str] | None = None) -> list[Node]:
    """The graph's nodes in file order, with unique names and outer-scope reads; GraphError for
    one that does not fit its schema. Tensor names go through `names`: one string per name
    (protobuf hands out a new one at each read), less memory and identity-fast dict lookups."""
    nodes: list[Node] = []
    used_names: set[str] = set()
    intern = (names if names is not None else {}).setdefault
    graph_nodes = g.node
    for k, proto in enumerate(graph_nodes):
        name = proto.name or f"{proto.op_type}_{k}"
        if name in used_names:
            name = f"{name}_{k}"
        used_names.add(name)
        inputs = tuple([intern(i, i) for i in proto.input])
        subs = subgraphs(proto) if proto.attribute else ()
        implicit = tuple(sorted(set().union(*map(_outer_refs, subs)) - set(inputs))) if subs else ()
        op_type, domain = proto.op_type, proto.domain
        node = Node(k, name, intern(op_type, op_type), intern(domain, domain), inputs, tuple([intern(o, o) for o in proto.output]),
                    graph_nodes, implicit)
        _check_schema(node, opsets)
        nodes.append(node)
    return nodes


def _check_references(g: onnxapi.GraphProto, nodes: Sequence[Node]) -> None:
    """GraphError for a tensor produced twice (or produced and given) and for a tensor read,
    or named a graph output, that nothing gives."""
    available = {i.name for i in g.input} | {i.name for i in g.initializer}
    for node in nodes:
        for out in node.outputs:
            if not out:
                continue
            if out in available:
                raise GraphError(f"tensor {out!r} is produced twice (node {node.name!r})")
            available.add(out)
    for node in nodes:
        for name in node.all_inputs:
            if name not in available:
                raise GraphError(f"node {node.name!r} ({node.op_type}) reads tensor {name!r}, which nothing produces")
    for o in g.output:
        if o.name not in available:
            raise GraphError(f"graph output {o.name!r} is not produced by any node")


def _index(model: onnxapi.ModelProto) -> tuple[list[Node], dict[str, Tensor], list[str], list[str], dict[str, int]]:
    """Nodes (in file order), tensors, graph inputs and outputs, and opsets, checked
    (`check_graph`)."""
    g = model.graph
    opsets = _opsets(model)
    names: dict[str, str] = {}
    intern = names.setdefault
    types: dict[bytes, tuple[int, tuple | None]] = {}  # a type's encoding → (element type, dims): read once
    nodes = _nodes(g, opsets, names)
    _check_references(g, nodes)
    tensors: dict[str, Tensor] = {}
    for init in g.initializer:
        name = intern(init.name, init.name)
        tensors[name] = Tensor(name, init.data_type, tuple(int(d) for d in init.dims), initializer=True)
    for vi in list(g.input) + list(g.value_info) + list(g.output):
        ttype = vi.type
        encoded = ttype.SerializeToString()
        known = types.get(encoded)
        if known is None:  # the same shape comes back as the same tuple
            known = types[encoded] = shape_of(ttype)
        elem, shape = known
        name = intern(vi.name, vi.name)
        t = tensors.get(name)
        if t is None:
            tensors[name] = Tensor(name, elem, shape)
        elif not t.initializer:
            t.elem_type = t.elem_type or elem
            t.shape = shape if shape is not None else t.shape
    inputs = [i.name for i in g.input if not tensors[i.name].initializer]
    for node in nodes:
        for out in node.outputs:
            if out:
                t = tensors.get(out)
                if t is None:
                    t = tensors[out] = Tensor(out)
                t.producer = node.index
    readers: dict[str, list[int]] = {}
    for node in nodes:
        for name in node.all_inputs:
            readers.setdefault(name, []).append(node.index)
    for name, indices in readers.items():  # a tuple: 48 bytes for one reader, where a list takes 88
        tensors[name].consumers = tuple(indices)
    return nodes, tensors, inputs, [o.name for o in g.output], opsets


def _check_schema(node: Node, opsets: Mapping[str, int]) -> None:
    """Input/output counts and attribute types must fit the op's ONNX schema, so rules and
    fusions can rely on them.

    Shape inference runs non-strict and lets such nodes through; ops without a schema
    (custom domains, unknown types) are left alone: they become opaque leaves.
    """
    domain = "" if node.domain == "ai.onnx" else node.domain
    problem = schema_problem(node.proto, opsets.get(domain, 1))
    if problem:
        raise GraphError(f"node {node.name!r} ({node.op_type}) {problem}")


def schema_problem(proto: onnxapi.NodeProto, version: int) -> str | None:
    """What the node breaks in its ONNX schema at opset `version` of its domain (input and output
    counts, required inputs and attributes, attribute types), or None."""
    domain = "" if proto.domain == "ai.onnx" else proto.domain
    given = proto.attribute
    attributes = tuple([(a.name, a.type, bool(a.ref_attr_name)) for a in given]) if given else ()
    return _schema_problem(proto.op_type, domain, version, tuple([bool(i) for i in proto.input]), len(proto.output), attributes)


@lru_cache(maxsize=4096)
def _schema_problem(op_type: str, domain: str, version: int, inputs: tuple[bool, ...], outputs: int,
                    attributes: tuple[tuple[str, int, bool], ...]) -> str | None:
    """What a node of this signature (which inputs are given, output count, attribute names and
    types) breaks in its schema, or None; models repeat a few signatures many times."""
    try:
        schema = onnxapi.defs.get_schema(op_type, version, domain)
    except onnxapi.defs.SchemaError:
        return None
    opset = f"opset {version}" + (f" of {domain}" if domain else "")
    for what, count, low, high in (
        ("inputs", len(inputs), schema.min_input, schema.max_input),
        ("outputs", outputs, schema.min_output, schema.max_output),
    ):
        if not low <= count <= high:
            allowed = str(low) if low == high else f"{low} to {high}" if high < 1 << 30 else f"at least {low}"
            return f"has {count} {what}; {opset} allows {allowed}"
    for k, present in enumerate(inputs):
        formal = schema.inputs[min(k, len(schema.inputs) - 1)]
        if not present and formal.option == onnxapi.defs.OpSchema.FormalParameterOption.Single:
            return f"leaves its required input {k} ({formal.name}) empty"
    given = {name: (kind, ref) for name, kind, ref in attributes}
    for name, spec in schema.attributes.items():
        if name not in given:
            if spec.required:
                return f"lacks its required attribute {name!r}"
            continue
        kind, ref = given[name]
        if not ref and kind != int(spec.type):
            got = onnxapi.AttributeProto.AttributeType.Name(kind) if kind in onnxapi.AttributeProto.AttributeType.values() else kind
            return f"has attribute {name!r} of type {got}; {opset} expects {spec.type.name}"
    return None


def _first_decoded(*decoders: Callable[[], Any]) -> Any:
    return next((value for value in (decode() for decode in decoders) if value is not None), None)


def _initializer_value(init: onnxapi.TensorProto) -> np.ndarray | None:
    try:
        return onnxapi.to_array(init)
    except Exception:
        return None


def _constant_value(node: Node) -> np.ndarray | None:
    for a in node.proto.attribute:
        try:
            if a.name == "value":
                if a.t.data_location == onnxapi.TensorProto.EXTERNAL:
                    return None
                return onnxapi.to_array(a.t)
            if a.name in ("value_float", "value_int"):
                return np.array(onnxapi.attribute_value(a))
            if a.name in ("value_floats", "value_ints"):
                return np.array(list(onnxapi.attribute_value(a)))
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
    """Mark each tensor data, static or discrete, and find the sources (SPEC §1).

    The first float tensors computed from integer inputs are sources: an embedding lookup (a
    Gather of rows of a static table, or a one-hot times a static table) carries |ids|·E; any
    other (a cast attention mask) carries at most the elements of the integer inputs behind it,
    which it records (`derived_from`). A one-hot stays discrete until it meets its table.
    """
    origins: dict[str, frozenset[str]] = {}  # discrete tensor -> the integer graph inputs it is computed from
    one_hots: set[str] = set()
    for name in view.inputs:
        t = view.tensors[name]
        if t.elem_type in FLOAT_TYPES:
            t.role, t.source = DATA, True
        elif t.elem_type != 0 and t.shape is not None:
            t.role = DISCRETE
        else:
            t.role = DATA if t.elem_type == 0 else DISCRETE
        if t.role == DISCRETE:
            origins[name] = frozenset({name})
    for node in view.nodes:
        roles = {view.tensors[i].role for i in node.all_inputs}
        origin: frozenset[str] = frozenset()
        if node.op_type in SHAPE_ONLY_OPS and node.domain == "":
            out_role, discrete_seed = STATIC, False
        elif DATA in roles:
            out_role, discrete_seed = DATA, False
        elif DISCRETE in roles:
            out_role, discrete_seed = DISCRETE, True
            origin = frozenset().union(*(origins.get(i, frozenset()) for i in node.all_inputs))
        else:
            out_role, discrete_seed = STATIC, False
        one_hot = discrete_seed and node.domain == "" and (
            node.op_type == "OneHot" or (node.op_type in ("Cast", "Identity") and node.inputs[0] in one_hots))
        for out in node.outputs:
            if not out:
                continue
            t = view.tensors[out]
            if one_hot:
                one_hots.add(out)
            if discrete_seed and t.elem_type in FLOAT_TYPES and not one_hot:
                t.role, t.source = DATA, True  # first float tensor computed from token ids
                if not _embedding_lookup(view, node, one_hots):
                    t.derived_from = tuple(sorted(origin))
            else:
                t.role = out_role
                if out_role == DISCRETE:
                    origins[out] = origin
    if not view.sources:
        held = [(vi.name, describe_type(vi.type)) for vi in view.model.graph.input
                if vi.name in view.inputs and vi.type.WhichOneof("value") != "tensor_type" and holds_float(vi.type)]
        if held:
            name, kind = held[0]
            raise GraphError(f"the model has no float tensor input: its float data comes in {name!r}, {kind}; onnxlayer "
                             "measures tensors, and a sequence's length (an optional's presence) is not part of its type")
        raise GraphError("the model has no float data input (nothing flows from a float input or an embedding)")


def _embedding_lookup(view: GraphView, node: Node, one_hots: set[str]) -> bool:
    """Whether `node` looks rows of a static float table up by integer ids: a Gather on axis 0,
    or a MatMul/Gemm of a one-hot with the table (SPEC §1: its output carries |ids|·E)."""
    def static_float(name: str) -> bool:
        t = view.tensors[name]
        return t.role == STATIC and t.is_float
    if node.domain != "" or not node.inputs:
        return False
    if node.op_type == "Gather":
        return int(node.attr("axis", 0)) == 0 and static_float(node.inputs[0])
    if node.op_type in ("MatMul", "Gemm") and len(node.inputs) >= 2:
        a, b = node.inputs[:2]
        return (a in one_hots and static_float(b)) or (b in one_hots and static_float(a))
    return False


def describe_type(ttype: onnxapi.TypeProto) -> str:
    """A value's type in words, for messages: 'a float tensor', 'a sequence of float tensors', ..."""
    kind = ttype.WhichOneof("value")
    if kind in ("tensor_type", "sparse_tensor_type"):
        elem = getattr(ttype, kind).elem_type
        name = onnxapi.TensorProto.DataType.Name(elem).lower() if elem in onnxapi.TensorProto.DataType.values() else "untyped"
        text = f"{'sparse ' if kind == 'sparse_tensor_type' else ''}{name} tensor"
        return ("an " if text[0] in "aeiou" else "a ") + text
    if kind == "sequence_type":
        return "a sequence of " + describe_type(ttype.sequence_type.elem_type).split(" ", 1)[1] + "s"
    if kind == "optional_type":
        return "an optional " + describe_type(ttype.optional_type.elem_type).split(" ", 1)[1]
    return "a map" if kind == "map_type" else "a value of no declared type"


def holds_float(ttype: onnxapi.TypeProto) -> bool:
    """Whether a value of this type holds float tensors (directly, or in a sequence, optional or map)."""
    kind = ttype.WhichOneof("value")
    if kind in ("tensor_type", "sparse_tensor_type"):
        return getattr(ttype, kind).elem_type in FLOAT_TYPES
    if kind == "sequence_type":
        return holds_float(ttype.sequence_type.elem_type)
    if kind == "optional_type":
        return holds_float(ttype.optional_type.elem_type)
    return kind == "map_type" and holds_float(ttype.map_type.value_type)


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


def _opaque_attribute(a: onnxapi.AttributeProto) -> bool:
    """Whether evaluating a node would run a subgraph or read a tensor stored outside the model."""
    if a.type in _OPAQUE_ATTRIBUTES:
        return True
    tensors = [a.t] if a.type == onnxapi.AttributeProto.TENSOR else a.tensors
    return any(t.data_location == onnxapi.TensorProto.EXTERNAL for t in tensors)


def _fold(view: GraphView, node: Node, values: list[np.ndarray | None]) -> dict[str, np.ndarray]:
    """Evaluate one static node with onnx's reference evaluator, its outputs' size charged to the
    fold budget first (an output too large or of unknown size is not computed)."""
    feeds = {n: v for n, v in zip(node.inputs, values) if n}
    sizes = _output_sizes(view, node, feeds)
    if sizes is None or any(n > FOLD_LIMIT for n in sizes):
        return {}
    view.fold_budget.charge(sum(sizes), f"{node.op_type} node {node.name!r}")
    results = evaluate_node(view, node, feeds)
    return {} if results is None else {o: r for o, r in zip(node.outputs, results) if o}


def evaluate_node(view: GraphView, node: Node, feeds: Mapping[str, np.ndarray]) -> list[np.ndarray] | None:
    """`node` run by onnx's reference evaluator on `feeds` (None if it fails): ONNX's own
    semantics, numpy's warnings silenced (static inf/nan, a mutated scale, 0·inf, must print
    nothing on stderr)."""
    try:
        from onnx.reference import ReferenceEvaluator

        ev = ReferenceEvaluator(node.proto, opsets=dict(view.opsets))
        with np.errstate(all="ignore"), catch_warnings():
            simplefilter("ignore")
            return [np.asarray(r) for r in ev.run(None, dict(feeds))]
    except Exception:
        return None


def single_node_model(view: GraphView, node: Node) -> onnxapi.ModelProto:
    """`node` alone in a model, for ONNX to infer: its inputs with a value (static, folded) as
    initializers, the others declared with the types and shapes the view knows."""
    inputs, inits = [], []
    for name in dict.fromkeys(i for i in node.inputs if i):
        t, value = view.tensors[name], view.value(name)
        if value is not None:
            inits.append(onnxapi.numpy_helper.from_array(np.asarray(value), name))
        else:
            inputs.append(onnxapi.helper.make_tensor_value_info(name, t.elem_type, list(t.shape) if t.shape is not None else None))
    graph = onnxapi.helper.make_graph([node.proto], "node", inputs, [onnxapi.ValueInfoProto(name=o) for o in node.outputs if o], inits)
    single = onnxapi.helper.make_model(graph, opset_imports=[onnxapi.helper.make_opsetid(d, v) for d, v in view.opsets.items()])
    single.ir_version = max(view.model.ir_version, 4)  # its initializers are not graph inputs
    return single


def _output_sizes(view: GraphView, node: Node, feeds: Mapping[str, np.ndarray]) -> list[int] | None:
    """Element counts of the node's outputs: inferred, or else inferred by ONNX for this node
    alone with its input values (None if ONNX cannot tell either)."""
    outs = [view.tensors[o] for o in node.outputs if o]
    if all(t.resolved for t in outs):
        return [t.size for t in outs]
    if node.op_type == "Range" and node.domain == "" and len(feeds) == 3:
        # ONNX infers nothing when a bound is a 1-element vector, as in its own AffineGrid function
        start, limit, delta = (np.asarray(feeds[i]).reshape(-1) for i in node.inputs)
        if start.size == limit.size == delta.size == 1 and delta[0] != 0 and np.all(np.isfinite([start[0], limit[0], delta[0]])):
            return [max(math.ceil((float(limit[0]) - float(start[0])) / float(delta[0])), 0)]
    try:
        inferred = onnxapi.infer_shapes(single_node_model(view, node), data_prop=True)
    except Exception:
        return None
    sizes = []
    for vi in inferred.graph.output:
        _, shape = shape_of(vi.type)
        if shape is None or not all(isinstance(d, int) for d in shape):
            return None
        sizes.append(math.prod(shape))
    return sizes
