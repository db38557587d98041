"""Initializers for the runnable model: the model's own, or seeded random ones.

External data is never read. `--random-weights missing` fills only the initializers that
have no data here (external-data stubs, as in graph-only models); `all` also replaces
every learned float weight. Values follow each initializer's role, taken from its first
consumer: He-normal weights (std √(2/fan_in)) for Conv/ConvTranspose/Gemm/MatMul,
torch-style uniform biases (±1/√fan_in), identity BatchNormalization statistics and unit
scales / zero shifts for normalizations, 0.25 PRelu slopes, N(0, 1) embedding tables.
Small constants with no learned role (clip bounds, scalars) keep their values when present.
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import onnx
from onnx import numpy_helper

from ..graph import FLOAT_TYPES, GraphView
from .engine import ProbeError

RANDOM_MODES = ("missing", "all")
#: (op type, input index) → role of a static input.
ROLES = {
    ("Conv", 1): "weight", ("ConvTranspose", 1): "weight", ("Gemm", 1): "weight", ("Gemm", 0): "weight",
    ("MatMul", 1): "weight", ("MatMul", 0): "weight", ("Conv", 2): "bias", ("ConvTranspose", 2): "bias",
    ("Gemm", 2): "bias", ("BatchNormalization", 1): "one", ("BatchNormalization", 2): "zero",
    ("BatchNormalization", 3): "zero", ("BatchNormalization", 4): "one", ("LayerNormalization", 1): "one",
    ("LayerNormalization", 2): "zero", ("InstanceNormalization", 1): "one", ("InstanceNormalization", 2): "zero",
    ("GroupNormalization", 1): "one", ("GroupNormalization", 2): "zero", ("PRelu", 1): "slope",
    ("Gather", 0): "embedding", ("Add", 0): "shift", ("Add", 1): "shift", ("Sub", 1): "shift",
    ("Mul", 0): "scale", ("Mul", 1): "scale",
}
LEARNED = frozenset({"weight", "bias", "one", "zero", "slope", "embedding", "shift"})


def has_data(init: onnx.TensorProto) -> bool:
    return init.data_location != onnx.TensorProto.EXTERNAL


def _role(view: GraphView, name: str) -> tuple[str, object, int]:
    """(role, first consuming node, input index) of a static tensor."""
    t = view.tensors.get(name)
    for k in t.consumers if t is not None else ():
        node = view.nodes_by_index[k]
        for i, inp in enumerate(node.inputs):
            if inp == name:
                return ROLES.get((node.op_type, i), "other"), node, i
    return "other", None, -1


def _fan_in(node, index: int, dims: tuple[int, ...]) -> int:
    if node is None or not dims:
        return max(dims[-1] if dims else 1, 1)
    op = node.op_type
    if op in ("Conv", "ConvTranspose"):
        return max(math.prod(dims[1:]), 1)
    if op == "Gemm":
        trans = int(node.attr("transB" if index == 1 else "transA", 0))
        if index == 1:
            return dims[1] if trans else dims[0]
        return dims[0] if trans else dims[-1]
    if op == "MatMul":
        return dims[-2] if index == 1 and len(dims) >= 2 else dims[-1]
    return max(dims[-1], 1)


def _weight_fan(view: GraphView, node, index: int) -> int | None:
    """fan_in of the weight beside a bias (Conv/Gemm), for torch-style bias bounds."""
    if node is None or node.op_type not in ("Conv", "ConvTranspose", "Gemm") or len(node.inputs) < 2:
        return None
    w = view.tensors.get(node.inputs[1])
    if w is None or w.shape is None:
        return None
    return _fan_in(node, 1, w.dims)


def random_array(view: GraphView, init: onnx.TensorProto, rng: np.random.Generator) -> np.ndarray:
    dims = tuple(int(d) for d in init.dims)
    dtype = onnx.helper.tensor_dtype_to_np_dtype(init.data_type)
    role, node, index = _role(view, init.name)
    if role == "weight":
        arr = rng.standard_normal(dims) * math.sqrt(2.0 / _fan_in(node, index, dims))
    elif role == "bias" or role == "shift":
        fan = _weight_fan(view, node, index) if role == "bias" else None
        bound = 1.0 / math.sqrt(fan) if fan else 0.1
        arr = rng.uniform(-bound, bound, dims)
    elif role == "one" or role == "scale":
        arr = np.ones(dims)
    elif role == "zero":
        arr = np.zeros(dims)
    elif role == "slope":
        arr = np.full(dims, 0.25)
    elif role == "embedding":
        arr = rng.standard_normal(dims)
    else:
        arr = rng.standard_normal(dims) * math.sqrt(2.0 / _fan_in(node, index, dims))
    return np.asarray(arr, dtype=dtype)


def initializers(
    view: GraphView,
    original: onnx.ModelProto,
    random_weights: str | None,
    seed: int,
) -> tuple[list[onnx.TensorProto], int]:
    """The runnable model's initializers and how many were drawn at random."""
    if random_weights not in (None, *RANDOM_MODES):
        raise ProbeError(f"--random-weights {random_weights!r}: choose missing or all")
    own = {i.name: i for i in original.graph.initializer}
    rng = np.random.default_rng([seed, 0x5EED])
    out: list[onnx.TensorProto] = []
    missing: list[str] = []
    drawn = 0
    for stub in view.model.graph.initializer:
        mine = own.get(stub.name)
        present = mine is not None and has_data(mine)
        replace = not present
        if random_weights == "all" and stub.data_type in FLOAT_TYPES:
            role, _, _ = _role(view, stub.name)
            # a scalar added somewhere is a constant of the formula (x + 1), not a learned shift
            replace = replace or (role in LEARNED and (role != "shift" or math.prod(stub.dims) > 1))
        if not replace:
            out.append(mine)
            continue
        if random_weights is None or stub.data_type not in FLOAT_TYPES:
            missing.append(stub.name)
            continue
        out.append(numpy_helper.from_array(random_array(view, stub, rng), stub.name))
        drawn += 1
    if missing:
        shown = ", ".join(repr(m) for m in missing[:3]) + (f" and {len(missing) - 3} more" if len(missing) > 3 else "")
        hint = "pass --random-weights to probe with seeded random weights" if random_weights is None else \
            "only float initializers can be drawn at random"
        raise ProbeError(f"{len(missing)} initializer(s) have no data here (external data is never read): {shown}; {hint}")
    return out, drawn


def check_constants(model: onnx.ModelProto) -> None:
    """Constant nodes with external values cannot run."""
    for node in model.graph.node:
        if node.op_type == "Constant":
            for a in node.attribute:
                if a.name == "value" and a.t.data_location == onnx.TensorProto.EXTERNAL:
                    raise ProbeError(f"Constant node {node.name!r} keeps its value in external data, which is never read")


def initializer_values(inits: Sequence[onnx.TensorProto]) -> dict[str, np.ndarray]:
    """Values of the small initializers (the probes read clip bounds, slopes and fused constants)."""
    out = {}
    for init in inits:
        if math.prod(init.dims) <= 1 << 20:
            out[init.name] = numpy_helper.to_array(init)
    return out
