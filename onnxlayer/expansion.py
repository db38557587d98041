"""Expansion of runtime-fused and quantized ops into the float ops they stand for (SPEC §4 e).

onnxruntime's contrib ops (`com.microsoft` Attention, SkipLayerNormalization, MatMulNBits, the
QLinear ops, ...) and the integer ops of quantized models have no ONNX shape function, and their
float meaning is a subgraph, not one leaf. Preparation rewrites each such node into that subgraph
with the expansion its registry entry declares: ONNX then infers the shapes, and the float ops'
rules and fusions give the numbers of the float export. An expansion reads shapes, types,
attributes and small constants only; a weight stored in another form (packed 4-bit blocks)
becomes a placeholder of its float shape that holds no data.
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Sequence

from . import onnxapi
from .budget import Budget
from .deferred import numpy as np
from .errors import GraphError, OnnxLayerError
from .loading import default_opset

#: The external-data location that marks a placeholder: a tensor of known shape and no value.
PLACEHOLDER_LOCATION = "onnxlayer-placeholder"
#: The metadata entry (key, value) of a Constant an expansion made for a quantization parameter:
#: a DynamicQuantizeLinear's scale or zero point, computed from the data but only rescaling it.
#: Parameter counting (SPEC §3) takes nothing computed from one for a weight.
QUANTIZATION_PARAMETER = ("onnxlayer.role", "quantization parameter")
#: Bottom of each integer range: a zero point there means the quantizer folded a ReLU (SPEC §4 d).
QUANTIZED_RANGES = {
    onnxapi.TensorProto.UINT8: (0, 255), onnxapi.TensorProto.INT8: (-128, 127),
    onnxapi.TensorProto.UINT16: (0, 65535), onnxapi.TensorProto.INT16: (-32768, 32767),
    getattr(onnxapi.TensorProto, "UINT4", -1): (0, 15), getattr(onnxapi.TensorProto, "INT4", -2): (-8, 7),
}


class Deferred(Exception):
    """An expansion needs a shape that shape inference has not given yet: try again next round."""


@dataclass(frozen=True)
class Expander:
    """An op's expansion (from its registry entry) with the op's attribute defaults."""

    expand: Callable[["Expansion"], bool]  # False: the node stays as it is
    default: Callable[[str], Any]


ExpanderOf = Callable[[str, str, int], "Expander | None"]


class _Round:
    """What every expansion of one round reads (the model as it was when the round began) and
    shares (fresh names, new initializers, tensors built once per model such as a mask)."""

    def __init__(self, model: onnxapi.ModelProto) -> None:
        g = model.graph
        self.opset = default_opset(model)
        self.producers = {o: n for n in g.node for o in n.output if o}
        self.types: dict[str, onnxapi.TypeProto] = {}
        for vi in list(g.input) + list(g.value_info) + list(g.output):
            self.types[vi.name] = vi.type
        self.initializers = {t.name: t for t in g.initializer}
        self.names = set(self.initializers) | set(self.producers) | {i.name for i in g.input}
        self.read = {i for n in g.node for i in n.input if i} | {o.name for o in g.output}
        self.new_initializers: list[onnxapi.TensorProto] = []
        self.constants: dict[str, onnxapi.TensorProto] = {}  # the Constant nodes expansions write, by output
        self._count = itertools.count()

    def store(self, tensor: onnxapi.TensorProto) -> None:
        """A new initializer, readable by the expansions that follow."""
        self.new_initializers.append(tensor)
        self.initializers[tensor.name] = tensor

    def known(self, name: str) -> onnxapi.TensorProto | None:
        """The stored tensor or the value of a Constant written this round, by name."""
        return self.initializers.get(name) or self.constants.get(name)

    def fresh(self, hint: str) -> str:
        while True:
            name = f"{hint}__{next(self._count)}"
            if name not in self.names:
                self.names.add(name)
                return name


class Expansion:
    """What an expansion sees of its node and how it writes the float subgraph in its place.

    Reads: `attr` (the node's value, else the op's default), `input`/`output` names, `dims`,
    `rank`, `elem_type`, `value` (small constants), `producer`. Writes: `op` (a node of the
    model's default domain unless told), `constant`, `placeholder`, and opset-aware builders
    for the ops whose signature changed between opsets.
    """

    def __init__(self, node: onnxapi.NodeProto, state: _Round, default: Callable[[str], Any]) -> None:
        self.node = node
        self._state = state
        self._default = default
        self.opset = state.opset
        self.nodes: list[onnxapi.NodeProto] = []
        self.shared_names: set[str] = set()
        self._base = node.name or f"{node.op_type}_{node.output[0]}"

    # ---------------------------------------------------------------- reading the node
    @property
    def name(self) -> str:
        return self._base

    def attr(self, name: str) -> Any:
        for a in self.node.attribute:
            if a.name == name:
                value = onnxapi.attribute_value(a)
                return value.decode() if isinstance(value, bytes) else value
        value = self._default(name)
        return value.decode() if isinstance(value, bytes) else value

    def input(self, i: int) -> str:
        """The name of input `i`, '' when absent."""
        return self.node.input[i] if i < len(self.node.input) else ""

    def output(self, i: int = 0) -> str:
        return self.node.output[i] if i < len(self.node.output) else ""

    def unsupported(self, what: str) -> GraphError:
        """The error for a feature of this node the expansion does not read (raise it)."""
        return GraphError(f"node {self.node.name!r} ({self.node.domain + '::' if self.node.domain else ''}"
                          f"{self.node.op_type}): {what} is not supported")

    def dims(self, name: str) -> tuple | None:
        """The tensor's dims as known (ints, or symbols/None where open), None if its rank is unknown."""
        known = self._state.known(name)
        if known is not None:
            return tuple(int(d) for d in known.dims)
        t = self._state.types.get(name)
        if t is None or not t.HasField("tensor_type") or not t.tensor_type.HasField("shape"):
            return None
        return tuple(d.dim_value if d.HasField("dim_value") else (d.dim_param or None) for d in t.tensor_type.shape.dim)

    def rank(self, name: str) -> int:
        """The tensor's rank; waits for shape inference when it is not known yet."""
        dims = self.dims(name)
        if dims is None:
            raise Deferred(name)
        return len(dims)

    def static_dims(self, name: str) -> tuple[int, ...]:
        """The dims of a stored tensor (a weight): they are what the expansion builds on."""
        dims = self.dims(name)
        if self._state.known(name) is None and (dims is None or not all(isinstance(d, int) for d in dims)):
            raise self.unsupported(f"a non-constant {name!r} where a stored weight is expected")
        return dims

    def elem_type(self, name: str) -> int:
        known = self._state.known(name)
        if known is not None:
            return known.data_type
        t = self._state.types.get(name)
        if t is not None and t.HasField("tensor_type"):
            return t.tensor_type.elem_type
        p = self.producer(name)
        if p is not None and p.op_type == "Constant" and p.domain in ("", "ai.onnx"):
            value = _constant_value(p)
            if value is not None:
                return onnxapi.helper.np_dtype_to_tensor_dtype(value.dtype)
        return 0

    def value(self, name: str) -> np.ndarray | None:
        """A small constant's value (initializer with data or Constant node), else None."""
        init = self._state.known(name)
        if init is not None:
            if init.data_location == onnxapi.TensorProto.EXTERNAL:
                return None
            try:
                return onnxapi.to_array(init)
            except Exception:
                return None
        p = self.producer(name)
        if p is not None and p.op_type == "Constant" and p.domain in ("", "ai.onnx"):
            return _constant_value(p)
        return None

    def is_stored(self, name: str) -> bool:
        """Whether tensor `name` is an initializer (a weight, not an activation)."""
        return name in self._state.initializers

    def dynamic_source(self, q: str) -> str:
        """The float input of the DynamicQuantizeLinear that wrote `q`, else ''."""
        p = self.producer(q)
        dynamic = p is not None and p.op_type == "DynamicQuantizeLinear" and p.domain in ("", "ai.onnx") and p.output[0] == q
        return p.input[0] if dynamic else ""

    def is_read(self, name: str) -> bool:
        """Whether a node or the graph's outputs read tensor `name`."""
        return bool(name) and name in self._state.read

    def require_unread(self, *outputs: int) -> None:
        """The optional outputs the expansion does not compute (statistics, caches) must be unread."""
        for i in outputs:
            if self.is_read(self.output(i)):
                raise self.unsupported(f"reading output {i} ({self.output(i)!r})")

    def float_type(self, name: str) -> np.dtype:
        """The numpy type of a float tensor (float32 where not known yet): constants beside it match it."""
        t = self.elem_type(name)
        dtype = onnxapi.helper.tensor_dtype_to_np_dtype(t) if t else np.dtype(np.float32)
        return dtype if dtype.kind == "f" else np.dtype(np.float32)

    def producer(self, name: str) -> onnxapi.NodeProto | None:
        """The node computing tensor `name` in the model as the round began."""
        return self._state.producers.get(name)

    # ---------------------------------------------------------------- writing the subgraph
    def fresh(self, hint: str) -> str:
        """A tensor name no other tensor has."""
        return self._state.fresh(f"{self._base}/{hint}")

    def op(self, op_type: str, inputs: Sequence[str], outputs: int | str | Sequence[str] = 1, *, domain: str = "",
           **attrs: Any) -> Any:
        """Emit a node; returns its output's name (`outputs` 1 or a name), or the list of them
        (a count or a list of names). Outputs not named get fresh names."""
        k = len(self.nodes)
        if isinstance(outputs, str):
            names = [outputs]
        elif isinstance(outputs, int):
            names = [self._state.fresh(f"{self._base}/{op_type}_{k}_out{j}") for j in range(outputs)]
        else:
            names = list(outputs)
        # named beside the node it expands (same scope prefix: diff aligns by scope)
        node = onnxapi.helper.make_node(op_type, list(inputs), names, name=f"{self._base}_{op_type}_{k}", domain=domain,
                                **{a: v for a, v in attrs.items() if v is not None})
        node.metadata_props.extend(self.node.metadata_props)
        self.nodes.append(node)
        return names[0] if outputs == 1 or isinstance(outputs, str) else names

    def constant(self, value: Any, dtype: Any = "float32", hint: str = "const", name: str | None = None) -> str:
        """A small constant (a scale, an axis list, a shape) as a Constant node: part of the
        subgraph, not a stored tensor the model's file would hold; `name`: one of the node's outputs."""
        name = name or self._state.fresh(f"{self._base}/{hint}")
        tensor = onnxapi.numpy_helper.from_array(np.asarray(value, dtype=dtype), name)
        self.op("Constant", [], name, value=tensor)
        self._state.constants[name] = tensor
        return name

    def quantization_parameter(self, value: Any, dtype: Any, name: str) -> str:
        """`constant`, marked as a quantization parameter (`QUANTIZATION_PARAMETER`)."""
        self.constant(value, dtype, name=name)
        entry = self.nodes[-1].metadata_props.add()
        entry.key, entry.value = QUANTIZATION_PARAMETER
        return name

    def placeholder(self, dims: Sequence[int], elem_type: int = onnxapi.TensorProto.FLOAT, hint: str = "weight") -> str:
        """A stored tensor of `dims` without data: the float form of a weight stored otherwise."""
        name = self._state.fresh(f"{self._base}/{hint}")
        t = onnxapi.TensorProto(name=name, data_type=elem_type, dims=[int(d) for d in dims])
        t.data_location = onnxapi.TensorProto.EXTERNAL
        entry = t.external_data.add()
        entry.key, entry.value = "location", PLACEHOLDER_LOCATION
        self._state.store(t)
        return name

    def shared(self, name: str, build: Callable[[str], Any]) -> str:
        """Tensor `name`, made by `build(name)` once per model (a mask made from one mask tensor
        for every layer, in whichever round each layer expands): a float tensor built twice from
        one integer input would be two sources."""
        if name not in self._state.names and name not in self.shared_names:
            build(name)
            self.shared_names.add(name)  # the model's once the expansion is kept
        return name

    # ---------------------------------------------------------------- builders across opsets
    def ints(self, values: Iterable[int]) -> str:
        return self.constant(list(values), np.int64, "ints")

    def unsqueeze(self, x: str, axes: Sequence[int], output: str | None = None) -> str:
        out = output or 1
        if self.opset >= 13:
            return self.op("Unsqueeze", [x, self.ints(axes)], out)
        return self.op("Unsqueeze", [x], out, axes=list(axes))

    def squeeze(self, x: str, axes: Sequence[int], output: str | None = None) -> str:
        out = output or 1
        if self.opset >= 13:
            return self.op("Squeeze", [x, self.ints(axes)], out)
        return self.op("Squeeze", [x], out, axes=list(axes))

    def split(self, x: str, sizes: Sequence[int], axis: int) -> list[str]:
        if len(sizes) == 1:
            return [x]
        if self.opset >= 13:
            return self.op("Split", [x, self.ints(sizes)], len(sizes), axis=axis)
        return self.op("Split", [x], len(sizes), axis=axis, split=list(sizes))

    def slice(self, x: str, starts: Sequence[int], ends: Sequence[int], axes: Sequence[int]) -> str:
        return self.op("Slice", [x, self.ints(starts), self.ints(ends), self.ints(axes)])

    def reduce(self, op_type: str, x: str, axes: Sequence[int], keepdims: int = 1) -> str:
        """A reduction over `axes` (an input from opset 13 for ReduceSum, 18 for the others)."""
        if self.opset >= (13 if op_type == "ReduceSum" else 18):
            return self.op(op_type, [x, self.ints(axes)], keepdims=keepdims)
        return self.op(op_type, [x], axes=list(axes), keepdims=keepdims)

    def dim(self, x: str, axis: int) -> str:
        """Dimension `axis` of `x` as a 1-element int64 tensor (static: computed from the shape)."""
        return self.op("Gather", [self.op("Shape", [x]), self.ints([axis])], axis=0)

    def clip(self, x: str, low: float | None, high: float | None, output: str | None = None) -> str:
        out = output or 1
        if self.opset >= 11:
            bounds = [self.constant(v) if v is not None else "" for v in (low, high)]
            while bounds and not bounds[-1]:
                bounds.pop()
            return self.op("Clip", [x, *bounds], out)
        return self.op("Clip", [x], out, min=low, max=high)

    def layer_norm(self, x: str, gamma: str, beta: str, epsilon: float, output: str | None = None) -> str:
        """LayerNormalization over the last axis; before opset 17, its decomposition (SPEC §4 c)."""
        out = output or 1
        if self.opset >= 17:
            return self.op("LayerNormalization", [x, gamma, beta] if beta else [x, gamma], out, axis=-1, epsilon=epsilon)
        centred = self.op("Sub", [x, self.reduce("ReduceMean", x, [-1])])
        scaled = self._rms_divide(centred, epsilon)
        affine = self.op("Mul", [scaled, gamma])
        return self.op("Add", [affine, beta], out) if beta else self.op("Identity", [affine], out)

    def rms_norm(self, x: str, scale: str, epsilon: float, output: str | None = None) -> str:
        """x / rms(x) · scale over the last axis: RMSNormalization from opset 23, else its decomposition."""
        out = output or 1
        if self.opset >= 23:
            return self.op("RMSNormalization", [x, scale], out, axis=-1, epsilon=epsilon)
        return self.op("Mul", [self._rms_divide(x, epsilon), scale], out)

    def _rms_divide(self, x: str, epsilon: float) -> str:
        square = self.op("Pow", [x, self.constant(2.0)])
        spread = self.op("Add", [self.reduce("ReduceMean", square, [-1]), self.constant(epsilon)])
        return self.op("Div", [x, self.op("Sqrt", [spread])])

    def gelu(self, x: str, approximate: str = "none", output: str | None = None) -> str:
        """x·Φ(x) (erf form) or its tanh approximation: the Gelu op from opset 20, else the
        elementwise chain exporters write (fused back into one unit by SPEC §4 a)."""
        out = output or 1
        if self.opset >= 20:
            return self.op("Gelu", [x], out, approximate=approximate if approximate != "none" else None)
        if approximate == "tanh":
            cube = self.op("Mul", [self.op("Pow", [x, self.constant(3.0)]), self.constant(0.044715)])
            inner = self.op("Mul", [self.op("Add", [x, cube]), self.constant(math.sqrt(2 / math.pi))])
            gate = self.op("Add", [self.op("Tanh", [inner]), self.constant(1.0)])
        else:
            gate = self.op("Add", [self.op("Erf", [self.op("Div", [x, self.constant(math.sqrt(2.0))])]), self.constant(1.0)])
        return self.op("Mul", [self.op("Mul", [x, gate]), self.constant(0.5)], out)

    def softmax(self, x: str, axis: int = -1, output: str | None = None) -> str:
        """Softmax over one axis (the last one: the same before and after opset 13)."""
        out = output or 1
        if axis != -1 and self.opset < 13:
            moved = self.op("Transpose", [x], perm=_swap_last(self.rank(x), axis))
            return self.op("Transpose", [self.op("Softmax", [moved], axis=-1)], out, perm=_swap_last(self.rank(x), axis))
        return self.op("Softmax", [x], out, axis=axis)

    def dequantize(self, q: str, scale: str, zero_point: str = "", axis: int | None = None) -> str:
        """The float tensor a quantized one stands for: DequantizeLinear, or, for the output of
        DynamicQuantizeLinear (whose range always covers its input), that input itself."""
        source = self.dynamic_source(q)
        if source:
            return source
        return self.op("DequantizeLinear", [q, scale, zero_point] if zero_point else [q, scale],
                       axis=axis if axis not in (None, 1) else None)

    def quantize(self, x: str, scale: str, zero_point: str, output: str) -> str:
        """QuantizeLinear into the node's quantized output (a zero point at the bottom of its
        range reads as a ReLU in preparation's Q→DQ pass)."""
        return self.op("QuantizeLinear", [x, scale, zero_point] if zero_point else [x, scale], output)


def _swap_last(rank: int, axis: int) -> list[int]:
    perm = list(range(rank))
    axis %= rank
    perm[axis], perm[-1] = perm[-1], perm[axis]
    return perm


def _constant_value(node: onnxapi.NodeProto) -> np.ndarray | None:
    for a in node.attribute:
        if a.name == "value" and a.t.data_location != onnxapi.TensorProto.EXTERNAL:
            return onnxapi.to_array(a.t)
        if a.name in ("value_float", "value_int", "value_floats", "value_ints"):
            return np.asarray(onnxapi.attribute_value(a))
    return None


def expand_ops(model: onnxapi.ModelProto, expander_of: ExpanderOf, budget: Budget = Budget()) -> bool:
    """One round: every node whose registry entry expands it is replaced, in place, by the float
    subgraph it stands for. Returns whether the model changed; a node whose expansion needs a
    shape not inferred yet waits for the next round (after shape inference)."""
    opsets = {("" if e.domain == "ai.onnx" else e.domain): int(e.version) for e in model.opset_import}
    opsets.setdefault("", default_opset(model))
    expanders = {}  # per op signature: most models have none, and then the round's tables are never built
    for node in model.graph.node:
        key = (node.op_type, "" if node.domain == "ai.onnx" else node.domain)
        if key not in expanders:
            expanders[key] = expander_of(key[0], key[1], opsets.get(key[1], 1))
    if not any(expanders.values()):
        return False
    state = _Round(model)
    new_nodes: list[onnxapi.NodeProto] = []
    created: set[int] = set()  # ids of nodes made by expansions
    replaced: list[onnxapi.NodeProto] = []
    for node in model.graph.node:
        expander = expanders[node.op_type, "" if node.domain == "ai.onnx" else node.domain]
        expansion = Expansion(node, state, expander.default) if expander is not None else None
        try:
            expanded = expansion is not None and expander.expand(expansion)
        except Deferred:
            expanded = False
        except OnnxLayerError:
            raise
        except Exception as exc:  # a node that does not fit its op's specification (a missing attribute or input)
            raise GraphError(f"node {node.name!r} ({node.domain + '::' if node.domain else ''}{node.op_type}) cannot be "
                             f"read as the ops it stands for: {type(exc).__name__}: {exc}") from None
        if not expanded:
            new_nodes.append(node)
            continue
        replaced.append(node)
        state.names.update(expansion.shared_names)
        new_nodes.extend(expansion.nodes)
        created.update(id(n) for n in expansion.nodes)
    if not replaced:
        return False
    new_nodes = _drop_unread(new_nodes, created, {o.name for o in model.graph.output})
    budget.check_nodes(len(new_nodes), "expanding runtime-fused and quantized ops makes")
    # what the file declared of the replaced outputs was written for the op ONNX does not know
    stale = {o for n in replaced for o in n.output}
    kept = [vi for vi in model.graph.value_info if vi.name not in stale]
    del model.graph.value_info[:]
    model.graph.value_info.extend(kept)
    del model.graph.node[:]
    model.graph.node.extend(new_nodes)
    model.graph.initializer.extend(state.new_initializers)
    return True


def _drop_unread(nodes: list[onnxapi.NodeProto], created: set[int], outputs: set[str]) -> list[onnxapi.NodeProto]:
    """Drop the nodes expansions made whose outputs nothing reads (an output of the original op
    that the model never used), repeatedly; the model's own nodes all stay."""
    while True:
        read = {i for n in nodes for i in n.input if i} | outputs
        unread = [n for n in nodes if id(n) in created and not any(o in read for o in n.output if o)]
        if not unread:
            return nodes
        gone = {id(n) for n in unread}
        nodes = [n for n in nodes if id(n) not in gone]
