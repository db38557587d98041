"""The global summary of a walk (SPEC §3): complexity, powers, depth, units, params W, MACs,
the bottleneck and the VC-dimension bound, with the parameter-counting convention of SPEC §3."""
from __future__ import annotations

import itertools
import math
from collections import Counter
from dataclasses import dataclass
from typing import Iterator, Mapping, Sequence

from . import onnxapi
from .algebra import Dominators, LeafWalk, log2_ratio
from .bounds import vc_bound
from .deferred import numpy as np
from .expansion import QUANTIZATION_PARAMETER
from .graph import DATA, FLOAT_TYPES, RAW_FORMATS, STATIC, GraphView, Node, RawValues
from .registry import Leaf
from .result import Bottleneck, LeafResult, Summary

LOG10_2 = math.log10(2.0)
#: Inputs of these ops that hold statistics rather than learned weights (not counted in W).
STATISTICS_INPUTS = {("", "BatchNormalization"): (3, 4)}
#: Inputs that set how an op reshapes or fills (pads and their fill value, resize scales and
#: sizes), not weights: exporters write a fill value per node or share one.
SETTING_INPUTS = {("", "Pad"): (1, 2, 3), ("", "Resize"): (1, 2, 3), ("", "Upsample"): (1,)}
#: The initial states of recurrent ops: where the recurrence starts (zeros in torch, which learns
#: none), not weights; the legacy exporter stores them, dynamo makes them.
STATE_INPUTS = {("", "LSTM"): (5, 6), ("", "GRU"): (5,), ("", "RNN"): (5,)}
#: Normalizations whose affine inputs (1: scale, 2: bias) torch fills with ones and zeros when the
#: layer learns none (InstanceNorm2d's default; GroupNorm exported as InstanceNormalization + affine).
IDENTITY_AFFINE = frozenset({"InstanceNormalization"})
#: Float types in which a learned tensor's values repeat only by chance (16-bit ones repeat often).
WIDE_FLOATS = ("float32", "float64")
#: Quantization parameters (scale, zero point: inputs 1 and 2) are not weights; the quantized tensor is.
QUANTIZERS = frozenset({"QuantizeLinear", "DequantizeLinear"})
#: Elementwise arithmetic: a one-element static operand (a Gelu constant, an attention scale, a
#: mask fill value, a Clip bound) is part of the op's definition, not a weight.
ARITHMETIC = frozenset({"Add", "Sub", "Mul", "Div", "Pow", "Where", "Max", "Min", "Clip"})
#: Kinds whose leaves are piecewise linear: the VC bound of Bartlett et al. applies when every live leaf has one.
PWL_KINDS = frozenset({"pwl", "linear", "structural"})


def summarize(
    view: GraphView,
    walked: Sequence[LeafWalk],
    results: Sequence[LeafResult],
    d: Mapping[str, int],
    d0: int,
    warnings: list[str],
    dominators: Dominators,
    weights: WeightCount,
) -> Summary:
    """The SPEC §3 global metrics over the leaves that reach an output (W over every leaf, as
    `count_weights` counted it for the leaf results)."""
    live = [(w, r) for w, r in zip(walked, results) if w.reaches_output]
    nonlinear = [(w, r) for w, r in live if r.nonlinear]
    complexity = sum(r.complexity_bits for _, r in live)
    float_outputs = [o for o in view.outputs if view.tensors[o].role == DATA and view.tensors[o].elem_type in FLOAT_TYPES]
    out_d = sum(d.get(o, 0) for o in float_outputs)
    output_dim = sum(view.tensors[o].size for o in float_outputs)
    power = log2_ratio(min(d0, out_d), d0)
    if power is None:
        warnings.append("no float data output has a positive effective dimension; intrinsic power undefined")
    mean_terms = [log2_ratio(r.d_in, d0) for _, r in nonlinear]
    mean_terms = [t for t in mean_terms if t is not None]
    mean_power = sum(mean_terms) / len(mean_terms) if mean_terms else None
    depth = max((r.depth for _, r in nonlinear), default=0)
    units = sum(r.units for _, r in live)
    macs = sum(r.macs for _, r in live)
    params = sum(r.params for r in results) + weights.lookups
    warnings.extend(weights.notes)
    profile = tuple((r.depth, math.log2(r.d_in)) for _, r in nonlinear if r.d_in > 0)

    vc, reason = vc_bound_of([r for _, r in live], depth)
    return Summary(
        complexity_bits=complexity,
        complexity_log10_regions=complexity * LOG10_2,
        intrinsic_power=power,
        intrinsic_power_mean=mean_power,
        input_dim=d0,
        output_dim=output_dim,
        depth=depth,
        units=units,
        params=params,
        macs=macs,
        bottleneck=bottleneck(view, walked, d, dominators),
        vc_bound=vc,
        vc_bound_reason=reason,
        opaque_leaves=sum(1 for r in results if r.kind == "opaque"),
        leaves=len(results),
        nonlinear_leaves=len(nonlinear),
        profile=profile,
    )


def bottleneck(view: GraphView, walked: Sequence[LeafWalk], d: Mapping[str, int], dominators: Dominators) -> Bottleneck | None:
    """The data tensor of smallest d among those every source-to-output path passes through (first on ties)."""
    found = None
    for tensor, k in dominators.chain([o for o in view.outputs if view.tensors[o].role == DATA]):
        dim = d.get(tensor, 0)
        if found is None or dim < found.dim:
            found = Bottleneck(dim, None if k is None else walked[k].leaf.name, tensor)
    return found


def vc_bound_of(live: Sequence[LeafResult], depth: int) -> tuple[float | None, str]:
    """Bartlett et al.'s VC bound over the live leaves, or None with the reason when one is not PWL."""
    not_pwl = next((r for r in live if r.kind not in PWL_KINDS), None)
    if not_pwl is not None:
        return None, f"not piecewise linear: {not_pwl.op_type} {not_pwl.name!r} is {not_pwl.kind}"
    units_by_depth: dict[int, int] = {}
    params_by_depth: dict[int, int] = {}
    for r in live:
        if r.nonlinear:
            units_by_depth[r.depth] = units_by_depth.get(r.depth, 0) + r.units
        params_by_depth[r.depth] = params_by_depth.get(r.depth, 0) + r.params
    max_breaks = max((g.pieces - 1 for r in live for g in r.groups), default=1)
    return vc_bound(depth, sum(params_by_depth.values()), max_breaks, units_by_depth, params_by_depth), ""


def leaf_params(view: GraphView, leaves: Sequence[Leaf]) -> list[int]:
    """Elements of the distinct weight tensors feeding each leaf (first leaf wins; see `count_weights`)."""
    return list(count_weights(view, leaves).per_leaf)


def source_params(view: GraphView, leaves: Sequence[Leaf]) -> int:
    """Elements of the embedding tables feeding the lookups that produce sources, not already
    counted at a leaf (a tied LM head)."""
    return count_weights(view, leaves).lookups


@dataclass(frozen=True)
class WeightCount:
    """W's parts: per leaf, at the lookups that start the flow from token ids, and notes."""

    per_leaf: tuple[int, ...]
    lookups: int
    notes: tuple[str, ...]


def count_weights(view: GraphView, leaves: Sequence[Leaf]) -> WeightCount:
    """Parameters W (SPEC §3 v1.1): the distinct weight tensors that enter data leaves, and the
    embedding tables of the lookups that start the flow from token ids (learned weights, as
    frameworks count them, though those lookups are no leaves).

    A weight is followed back through value-preserving static nodes (`LAYOUT_OPS`, the
    dequantization of a quantized tensor, and a static Gather or GatherND: the rows of a position
    table are the table's) to the stored tensor it comes from: an initializer or a Constant node's
    value; such a gather folded at export counts the table too (its distinct values, `_Ledger.count`).
    A static tensor computed otherwise (ConstantOfShape, a rotary table computed from constants)
    counts as it enters: exporters fold such computations into stored constants or not, and
    counting what enters keeps W the same for both. Each tensor counts once, and so do copies of
    one tensor (equal up to transpose and reshape) where the values are in the model.
    """
    ledger = _Ledger(view)
    per_leaf = []
    for leaf in leaves:
        total = 0
        for node in leaf.members:
            # constants absorbed into a fused elementwise chain define its function (a PRelu's slope is learned)
            if leaf.fused == "unary" and node.op_type != "PRelu":
                continue
            total += sum(ledger.count(name, quantized, table=table) for name, quantized, table in _weight_inputs(view, node))
        per_leaf.append(total)
    lookups = 0
    for t in view.sources:
        node = view.producer(t.name)
        if node is not None:
            lookups += sum(ledger.count(name, quantized, lookup=True, table=table)
                           for name, quantized, table in _weight_inputs(view, node))
    return WeightCount(tuple(per_leaf), lookups, ledger.notes())


class _Ledger:
    """The weight tensors counted so far: by origin, and by value for copies."""

    def __init__(self, view: GraphView) -> None:
        self.view = view
        self.counted: set[str] = set()
        self.by_ends: dict[tuple, list[str]] = {}  # counted origins with values, by size, dtype, first and last value
        self.valueless: dict[int, list[str]] = {}  # counted origins without values, by element count
        self.tables: list[str] = []  # embedding tables without values (a tied head may copy one)
        self.from_weights: dict[str, bool] = {}  # static tensor -> computed from a stored float tensor
        self.sizes: Counter[int] | None = None  # static tensors by element count, counted at the first weight

    def count(self, name: str, quantized: bool, lookup: bool = False, table: bool = False) -> int:
        """Elements of the weight behind `name` if not counted yet (0 for a copy or a non-weight);
        `lookup`: an embedding table; `table`: an operand of elementwise arithmetic spanning two or
        more axes, which counts its distinct values where they repeat (a gathered table, folded) or
        where it is read by a gather that repeats entries (the same table, unfolded: both forms then
        agree even where two of its values are equal by chance)."""
        view = self.view
        name, quantized, repeated = _origin(view, name, quantized)
        if name in self.counted:
            return 0
        self.counted.add(name)
        t = view.tensors.get(name)
        if t is None or t.role != STATIC or not t.resolved or not (t.is_float or quantized):
            return 0
        producer = view.producer(name)
        if producer is not None and producer.op_type != "Constant" and not self._from_weights(name):
            return 0  # computed from integer or bool constants and scalars only: a mask or a pattern
        # a Constant node's value, or one tensor several layers read: zeros there stand for an absent bias
        placeholder = producer is not None or len(set(t.consumers)) > 1
        if not table and not placeholder and self._size_is_unique(t.size):
            return t.size  # no other static tensor has its size: none can be its copy, its values are not read
        raw = _raw_values(view, name)
        if raw is not None:
            counted = self._count_raw(name, raw, t.size, placeholder, table)
            if counted is not None:
                return counted
        values = _stored_values(view, name)
        if values is None:
            self.valueless.setdefault(t.size, []).append(name)
            if lookup:
                self.tables.append(name)
        elif values.size > 1 and _one_value(values):  # a constant tensor may be a parameter at its initial value
            if placeholder and not values.flat[0]:
                return 0  # zeros an exporter wrote for a bias the layer does not have
        elif values.size > 1:
            # a transposed or reshaped copy starts and ends with the same values: only those are compared in full
            flat = values.reshape(-1)
            peers = self.by_ends.setdefault((values.size, values.dtype.str, flat[:1].tobytes(), flat[-1:].tobytes()), [])
            with np.errstate(all="ignore"):  # inf and nan weights compare unequal, without a warning
                if any(_same_up_to_layout(values, _stored_values(view, other)) for other in peers):
                    return 0
            peers.append(name)
            if table and not quantized and values.dtype in WIDE_FLOATS:
                distinct = np.unique(values).size
                if repeated or 2 * distinct <= values.size:
                    return distinct
        return t.size

    def _count_raw(self, name: str, raw: RawValues, size: int, placeholder: bool, table: bool) -> int | None:
        """`count`'s reading of the values, on the stored bytes (no numpy): the same answer, or
        None where it takes numpy (a copy to compare in full, a table's distinct values, equal
        ends whose bits differ)."""
        if raw.size <= 1:
            return size
        one = raw.one_value()
        if one is None:
            return None
        if one:  # a constant tensor: zeros an exporter wrote for an absent bias, or a parameter at its initial value
            return 0 if placeholder and not raw.item(0) else size
        if table:
            return None
        ends = (raw.size, raw.dtype_str, *raw.end_bytes())
        if self.by_ends.get(ends):  # a tensor with the same ends: compared in full
            return None
        self.by_ends[ends] = [name]
        return size

    def _from_weights(self, name: str) -> bool:
        """Whether static tensor `name` is computed from a stored float (or quantized) tensor of more
        than one element, or one ConstantOfShape makes (an attention mask made by Where from a bool
        tensor and two scalars is not)."""
        view, known = self.view, self.from_weights
        stack, order = [name], []
        while stack:  # the static producers behind `name`, without recursion
            top = stack.pop()
            if top in known:
                continue
            known[top] = False
            order.append(top)
            node = view.producer(top)
            if node is not None and node.op_type not in ("Constant", "ConstantOfShape"):
                stack.extend(i for i in node.all_inputs if i and view.tensors[i].role == STATIC)
        for top in reversed(order):  # inputs before the tensors computed from them
            t, node = view.tensors[top], view.producer(top)
            if node is None or node.op_type in ("Constant", "ConstantOfShape"):  # stored, or made from a stored value
                readers = view.nodes_by_index
                quantized = any(readers[k].op_type == "DequantizeLinear" and readers[k].inputs[0] == top for k in t.consumers)
                known[top] = (t.is_float or quantized) and t.resolved and t.size > 1
            else:
                known[top] = any(known.get(i, False) for i in node.all_inputs if i)
        return known[name]

    def _size_is_unique(self, size: int) -> bool:
        if self.sizes is None:
            self.sizes = Counter(t.size for t in self.view.tensors.values() if t.role == STATIC and t.resolved)
        return self.sizes[size] <= 1

    def notes(self) -> tuple[str, ...]:
        """What W could not check: an embedding table and a weight of its size, both without values
        (an LM head tied to the table and stored again), may be one tensor counted twice."""
        tensors = self.view.tensors
        pairs = [(table, other) for table in self.tables for other in self.valueless[tensors[table].size]
                 if other != table and sorted(tensors[other].dims) == sorted(tensors[table].dims)]
        if not pairs:
            return ()
        table, other = pairs[0]
        return (f"W counts the embedding table {table!r} and {other!r}, of its size, in full: without their values in the "
                "model an LM head tied to the table and stored again cannot be told from a weight of its own",)


#: Static ops that move or re-type the values of their first input without computing new ones:
#: the weight behind them is the tensor they read.
LAYOUT_OPS = frozenset({"Transpose", "Reshape", "Flatten", "Squeeze", "Unsqueeze", "Identity", "Cast", "CastLike"})


def _origin(view: GraphView, name: str, quantized: bool) -> tuple[str, bool, bool]:
    """The stored (or computed) tensor behind static tensor `name` through value-preserving static
    nodes (a static Gather or GatherND reads entries of its table: the table is the weight),
    whether it is a quantized tensor (counted whatever its element type), and whether a gather on
    the way reads some entry more than once (a relative-position index)."""
    repeated = False
    while True:
        t = view.tensors.get(name)
        node = view.producer(name)
        if t is None or t.role != STATIC or node is None or node.domain not in ("", "ai.onnx") or not node.inputs:
            return name, quantized, repeated
        if node.op_type == "DequantizeLinear":
            quantized = True
        elif node.op_type in ("Gather", "GatherND"):
            repeated = repeated or _repeats_entries(view, node)
        elif node.op_type not in LAYOUT_OPS:
            return name, quantized, repeated
        name = node.inputs[0]


def _repeats_entries(view: GraphView, gather: Node) -> bool:
    """Whether a static Gather or GatherND reads some entry of its table more than once (its
    indices known and repeating; negative and positive forms of one index are not told apart)."""
    if len(gather.inputs) < 2:
        return False
    index = _stored_values(view, gather.inputs[1])
    if index is None or index.size == 0:
        return False
    entries = index.reshape(-1, index.shape[-1]) if gather.op_type == "GatherND" and index.ndim > 1 else index.reshape(-1, 1)
    return len(np.unique(entries, axis=0)) < len(entries)


def _raw_values(view: GraphView, name: str) -> RawValues | None:
    """What `_stored_values` reads, as stored bytes, where it would read them from an
    initializer's raw data (a small one not decoded yet, or a large one); else None."""
    if view.constants.holds(name):  # a decoded one is read as an array
        return view.constants.raw(name)
    stored = view.stored.get(name)
    if stored is None:
        return None
    left = view.payloads.get(name)
    return RawValues.of(stored.data_type, stored.dims, left if left is not None else stored.raw_data)


def _stored_values(view: GraphView, name: str) -> np.ndarray | None:
    """The values of a stored or small computed static tensor, if the model holds them."""
    value = view.constants.get(name)
    if value is not None:
        return np.asarray(value)
    stored = view.stored.get(name)
    if stored is None:
        return view.value(name)
    left = view.payloads.get(name)  # left in the model file by loading
    if stored.data_type in RAW_FORMATS and (raw := left if left is not None else stored.raw_data):  # a read copies: once
        dtype = np.dtype(RAW_FORMATS[stored.data_type][2])  # ONNX's raw data is little-endian
        if len(raw) != math.prod(stored.dims) * dtype.itemsize:
            return None  # a payload that does not fit its dims holds no values to compare
        return np.frombuffer(raw, dtype=dtype).reshape(tuple(stored.dims))
    if left is not None:
        stored = onnxapi.TensorProto(name=stored.name, data_type=stored.data_type, dims=stored.dims, raw_data=left.tobytes())
    try:
        return onnxapi.to_array(stored)
    except Exception:
        return None


def _one_value(values: np.ndarray) -> bool:
    """Whether every element equals the first (the last is looked at first: most weights differ there)."""
    flat = values.reshape(-1)
    with np.errstate(all="ignore"):
        return bool(flat[0] == flat[-1]) and bool(np.all(flat == flat[0]))


def _same_up_to_layout(a: np.ndarray, b: np.ndarray | None) -> bool:
    """Whether `b` holds the values of `a` with its axes permuted and reshaped (a transposed copy)."""
    if b is None or a.size != b.size or a.dtype != b.dtype:
        return False
    a, b = np.squeeze(a), np.squeeze(b)
    flat = b.reshape(-1)
    if a.ndim > 4:  # 120 orders and more: the stored order only
        return np.array_equal(a.reshape(-1), flat)
    return any(np.array_equal(np.transpose(a, order).reshape(-1), flat) for order in itertools.permutations(range(a.ndim)))


def _weight_inputs(view: GraphView, node: Node) -> Iterator[tuple[str, bool, bool]]:
    """The inputs of `node` that can hold weights, each with whether it is a quantized tensor
    (counted whatever its type) and whether it is a table (a static operand of elementwise
    arithmetic spanning two or more axes): not statistics, settings (pads, fill values, scales),
    initial states, quantization parameters (also a dynamic quantization's scale times a weight's
    per-channel scales), an identity affine, an arithmetic op's one-element constant, or a mask (at
    most two values over a matrix: a folded Where of a bool pattern)."""
    key = (node.domain, node.op_type)
    skip = STATISTICS_INPUTS.get(key, ()) + SETTING_INPUTS.get(key, ()) + STATE_INPUTS.get(key, ())
    default = node.domain in ("", "ai.onnx")
    for i, name in enumerate(node.inputs):
        if not name or i in skip or (default and node.op_type in QUANTIZERS and i > 0):
            continue
        t = view.tensors.get(name)
        static = t is not None and t.role == STATIC and t.resolved
        if default and node.op_type in IDENTITY_AFFINE and i in (1, 2) and static and _all_equal_to(
                view, name, 1.0 if i == 1 else 0.0):
            continue
        table = default and node.op_type in ARITHMETIC and static and sum(d > 1 for d in t.dims) >= 2
        if default and node.op_type in ARITHMETIC and static and (
                t.size == 1 or (table and _mask(view, name)) or _rescales_by_quantization(view, name)):
            continue
        yield name, default and node.op_type == "DequantizeLinear" and i == 0, table


def _rescales_by_quantization(view: GraphView, name: str) -> bool:
    """Whether static tensor `name` is a product (or quotient), through layout ops, of a
    quantization parameter an expansion made (`QUANTIZATION_PARAMETER`): a dynamically quantized
    layer multiplies its integer op's output by the input's scale times the weight's scales, one
    per channel when quantized per channel."""
    node = view.producer(name)
    while node is not None and node.op_type in LAYOUT_OPS and node.inputs:
        node = view.producer(node.inputs[0])
    if node is None or node.op_type not in ("Mul", "Div"):
        return False
    producers = [view.producer(i) for i in node.inputs]
    return any(p is not None and p.op_type == "Constant" and any(
        (entry.key, entry.value) == QUANTIZATION_PARAMETER for entry in p.proto.metadata_props) for p in producers)


def _mask(view: GraphView, name: str) -> bool:
    """Whether static tensor `name` (two or more axes) holds at most two values: a bool pattern
    with its two fill values (a mask the exporter folded; made by Where in the graph, it is no
    weight either), or one value broadcast, also where it enters through layout ops. A bias or a
    scale, one axis, may sit at its initial value and stays a weight."""
    values = _stored_values(view, _origin(view, name, False)[0])
    if values is None:
        return False
    first = values.flat[0]
    rest = values[values != first]
    return rest.size == 0 or bool(np.all(rest == rest.flat[0]))


def _all_equal_to(view: GraphView, name: str, target: float) -> bool:
    """Whether static tensor `name` holds `target` in every element (an identity scale or bias)."""
    values = _stored_values(view, name)
    return values is not None and values.size > 0 and bool(np.all(values == target))
