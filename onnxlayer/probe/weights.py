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
import tempfile
from pathlib import Path
from typing import BinaryIO, Iterable, Iterator, Mapping, Sequence

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
#: Initializers smaller than this stay inside the runnable model; larger ones go to the weights file.
INLINE_BYTES = 1 << 12
#: Offsets in the weights file are multiples of this (the page size: onnxruntime maps aligned tensors).
ALIGNMENT = 1 << 12


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
) -> tuple[Iterator[tuple[onnx.TensorProto, onnx.TensorProto | np.ndarray]], int]:
    """The runnable model's initializers, each as (the view's stub, the model's own tensor or a
    seeded random array), and how many are drawn. Lazy: a random array exists only while it is
    written out (`RuntimeWeights`); missing data is reported before anything is drawn."""
    if random_weights not in (None, *RANDOM_MODES):
        raise ProbeError(f"--random-weights {random_weights!r}: choose missing or all")
    own = {i.name: i for i in original.graph.initializer}
    plan: list[tuple[onnx.TensorProto, onnx.TensorProto | None]] = []
    missing: list[str] = []
    for stub in view.model.graph.initializer:
        mine = own.get(stub.name)
        present = mine is not None and has_data(mine)
        replace = not present
        if random_weights == "all" and stub.data_type in FLOAT_TYPES:
            role, _, _ = _role(view, stub.name)
            # a scalar added somewhere is a constant of the formula (x + 1), not a learned shift
            replace = replace or (role in LEARNED and (role != "shift" or math.prod(stub.dims) > 1))
        if replace and (random_weights is None or stub.data_type not in FLOAT_TYPES):
            missing.append(stub.name)
        plan.append((stub, None if replace else mine))
    if missing:
        shown = ", ".join(repr(m) for m in missing[:3]) + (f" and {len(missing) - 3} more" if len(missing) > 3 else "")
        hint = "pass --random-weights to probe with seeded random weights" if random_weights is None else \
            "only float initializers can be drawn at random"
        raise ProbeError(f"{len(missing)} initializer(s) have no data here (external data is never read): {shown}; {hint}")
    drawn = sum(mine is None for _, mine in plan)
    return _tensors(view, plan, np.random.default_rng([seed, 0x5EED])), drawn


def _tensors(view: GraphView, plan: Sequence[tuple[onnx.TensorProto, onnx.TensorProto | None]],
             rng: np.random.Generator) -> Iterator[tuple[onnx.TensorProto, onnx.TensorProto | np.ndarray]]:
    for stub, mine in plan:  # draws in the model's order: the seed gives the same weights as ever
        yield stub, (mine if mine is not None else random_array(view, stub, rng))


def check_constants(model: onnx.ModelProto) -> None:
    """Constant nodes with external values cannot run."""
    for node in model.graph.node:
        if node.op_type == "Constant":
            for a in node.attribute:
                if a.name == "value" and a.t.data_location == onnx.TensorProto.EXTERNAL:
                    raise ProbeError(f"Constant node {node.name!r} keeps its value in external data, which is never read")


class RuntimeWeights:
    """The runnable model's initializers, written once to a temporary file that onnxruntime maps
    (ONNX external data) instead of copies in this process: every session of a probe shares the
    file, and a tensor is in memory here only while it is written. `close()` removes the file."""

    FILE = "weights.bin"

    def __init__(self, tensors: Iterable[tuple[onnx.TensorProto, onnx.TensorProto | np.ndarray]]) -> None:
        self._dir = tempfile.TemporaryDirectory(prefix="onnxlayer-probe-", ignore_cleanup_errors=True)
        self.directory = Path(self._dir.name)
        self.tensors: list[onnx.TensorProto] = []  # small ones inline, the others external-data references
        self.nbytes = 0  # every initializer's payload: what onnxruntime holds of the weights
        self._where: dict[str, tuple[int, int, np.dtype, tuple[int, ...]]] = {}  # offset, length, dtype, dims
        self._inline: dict[str, onnx.TensorProto] = {}
        self._models = 0
        try:
            with open(self.directory / self.FILE, "wb") as out:
                for stub, tensor in tensors:
                    self._add(out, stub, tensor)
        except OSError as exc:
            self.close()
            raise ProbeError(f"cannot write the model's weights for onnxruntime to {self.directory} "
                             f"({exc.strerror or exc}); free space there or point TMPDIR elsewhere") from None

    def _add(self, out: BinaryIO, stub: onnx.TensorProto, tensor: onnx.TensorProto | np.ndarray) -> None:
        dims = tuple(int(d) for d in stub.dims)
        if isinstance(tensor, onnx.TensorProto) and tensor.data_type == onnx.TensorProto.STRING:
            self._keep(tensor)  # text cannot be external data; it never carries learned weights
            return
        if isinstance(tensor, onnx.TensorProto) and tensor.HasField("raw_data"):
            payload: bytes | memoryview = tensor.raw_data  # stored little-endian, as external data is
            dtype = np.dtype(onnx.helper.tensor_dtype_to_np_dtype(tensor.data_type))
        else:
            array = tensor if isinstance(tensor, np.ndarray) else numpy_helper.to_array(tensor)
            array = np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<")).reshape(-1)
            payload, dtype = memoryview(array.view(np.uint8)), array.dtype
        self.nbytes += len(payload)
        if len(payload) < INLINE_BYTES:
            self._keep(tensor if isinstance(tensor, onnx.TensorProto) else numpy_helper.from_array(array.reshape(dims), stub.name))
            return
        offset = out.seek(-out.tell() % ALIGNMENT, 1)  # aligned: onnxruntime maps what it can
        out.write(payload)
        ref = onnx.TensorProto(name=stub.name, data_type=stub.data_type, dims=dims, data_location=onnx.TensorProto.EXTERNAL)
        for key, text in (("location", self.FILE), ("offset", str(offset)), ("length", str(len(payload)))):
            entry = ref.external_data.add()
            entry.key, entry.value = key, text
        self.tensors.append(ref)
        self._where[stub.name] = (offset, len(payload), dtype, dims)

    def _keep(self, tensor: onnx.TensorProto) -> None:
        self.tensors.append(tensor)
        self._inline[tensor.name] = tensor

    def values(self, limit: int = 1 << 20) -> Mapping[str, np.ndarray]:
        """The initializers of at most `limit` elements by name, each read when asked for (the
        probes read clip bounds, slopes and fused constants, not the weight matrices)."""
        return _Values(self, limit)

    def value(self, name: str) -> np.ndarray:
        """One initializer's array."""
        if name not in self._where:
            return numpy_helper.to_array(self._inline[name])
        offset, length, dtype, dims = self._where[name]
        if length != math.prod(dims) * dtype.itemsize:
            raise ProbeError(f"initializer {name!r} holds {length:,} bytes, not the {math.prod(dims):,} {dtype} "
                             f"elements of its dims {list(dims)}")
        return np.fromfile(self.directory / self.FILE, dtype, math.prod(dims), offset=offset).reshape(dims)

    def save(self, model: onnx.ModelProto) -> str:
        """Write `model` (whose initializers are `tensors`) beside the weights; its path for onnxruntime."""
        self._models += 1
        path = self.directory / f"model{self._models}.onnx"
        try:
            path.write_bytes(model.SerializeToString())
        except OSError as exc:
            raise ProbeError(f"cannot write the runnable model to {path} ({exc.strerror or exc})") from None
        return str(path)

    def close(self) -> None:
        self._dir.cleanup()


class _Values(Mapping[str, np.ndarray]):
    """`RuntimeWeights.values`: small initializers, read on access."""

    def __init__(self, weights: RuntimeWeights, limit: int) -> None:
        self._weights = weights
        self._names = dict.fromkeys(t.name for t in weights.tensors if math.prod(t.dims) <= limit)

    def __getitem__(self, name: str) -> np.ndarray:
        if name not in self._names:
            raise KeyError(name)
        return self._weights.value(name)

    def __contains__(self, name: object) -> bool:
        return name in self._names

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)
