"""Elementwise chains on the fitting grid (SPEC §4 a): each member evaluated by the numpy
semantics of its registry entry, per distinct column of the chain's constants.

Fusion measures a fused chain's pieces with it; the fused leaf's probe pattern segments it.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, Callable, Hashable, Mapping, Sequence

from .deferred import numpy as np
from .errors import ShapeError
from .graph import Node, RawValues
from .registry import REGISTRY, OpEntry, node_attr
from .transfer import GRID_POINTS


def elementwise_entry(node: Node, opset: int) -> OpEntry | None:
    """The node's registry entry if its op joins elementwise fusion (default domain only)."""
    if node.domain:
        return None
    entry = REGISTRY.lookup(node.op_type, "", opset)
    return entry if entry is not None and entry.elementwise is not None else None


def chain_constants(members: Sequence[Node], is_data: Callable[[str], bool],
                    value: Callable[[str], np.ndarray | None], opset: int,
                    stored: Callable[[str], RawValues | None] | None = None) -> dict[str, Any] | None:
    """The static operands of a fused chain as float64 arrays (None if one is unknown); a layout
    op's static inputs (target shape, axes) are parameters, not operands. `stored`: the stored
    values of an operand not decoded yet (`Constants.raw`), kept as a `StoredOperand` when it is a
    FLOAT or DOUBLE tensor (`as_arrays` decodes them)."""
    constants: dict[str, Any] = {}
    for node in members:
        layout = elementwise_entry(node, opset).elementwise.role == "layout"
        operands = node.inputs[:1] if layout else node.inputs
        for i in operands:
            if i and not is_data(i) and i not in constants:
                raw = stored(i) if stored is not None else None
                values = raw.float64_bytes() if raw is not None else None
                if values is not None:
                    constants[i] = StoredOperand(raw.shape, values)
                    continue
                v = value(i)
                if v is None:
                    return None
                constants[i] = np.asarray(v, dtype=np.float64)
    return constants


@dataclass(frozen=True)
class StoredOperand:
    """A chain's constant read from its initializer's stored bytes (FLOAT or DOUBLE raw data), as
    its float64 values in order: with its shape, they make the chain's signature without numpy;
    `array()` is what `chain_constants` gives for a decoded one."""

    shape: tuple[int, ...]
    float64: bytes

    @property
    def size(self) -> int:
        return len(self.float64) // 8

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def digest(self) -> str:
        return hashlib.sha256(self.float64).hexdigest()

    def array(self) -> np.ndarray:
        return np.frombuffer(self.float64, dtype=np.float64).reshape(self.shape)


def as_arrays(constants: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """A chain's constants (`chain_constants`) as float64 arrays."""
    return {name: v.array() if isinstance(v, StoredOperand) else v for name, v in constants.items()}


def chain_signature(members: Sequence[Node], x: str, y: str, constants: Mapping[str, np.ndarray], dims: Sequence[int],
                    opset: int) -> Hashable | None:
    """What `evaluate_chain` reads, without the tensor names: each member's op, attributes and
    wiring, the constants' values, and x's dims where a constant is not a scalar. Equal chains
    (the same Swish in every block) have equal signatures, so their pieces are fitted once.
    None if a member reads a tensor the chain does not define. Fusion asks it first: a constant
    that does not broadcast to `dims` is a ShapeError here (`check_operands`)."""
    check_operands(members, constants, dims)
    refs: dict[str, tuple] = {x: ("x",)}
    refs.update((name, ("c", k)) for k, name in enumerate(constants))
    steps = []
    for k, node in enumerate(members):
        wiring = []
        for name in node.inputs:
            ref = refs.get(name) if name else ()
            if ref is None and name and elementwise_entry(node, opset).elementwise.role != "layout":
                return None
            wiring.append(ref)  # a layout op's parameters are not read on the grid
        attributes = tuple(sorted((a.name, a.SerializeToString()) for a in node.proto.attribute))
        steps.append((node.op_type, node.domain, attributes, tuple(wiring)))
        refs.update((name, ("m", k, j)) for j, name in enumerate(node.outputs) if name)
    if y not in refs:
        return None
    values = tuple(("<f8", v.shape, v.digest()) if isinstance(v, StoredOperand)
                   else (v.dtype.str, v.shape, hashlib.sha256(np.ascontiguousarray(v).tobytes()).hexdigest())
                   for v in constants.values())
    scalar = all(v.size == 1 and v.ndim <= len(dims) for v in constants.values())
    return ("chain", opset, tuple(steps), refs[y], values, None if scalar else tuple(dims))


def evaluate_chain(members: Sequence[Node], x: str, y: str, constants: Mapping[str, np.ndarray],
                   dims: Sequence[int], domain: float, opset: int, max_columns: int | None = None
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Evaluate the chain x ↦ y on the fitting grid once per distinct column of its constants
    (per channel where they differ), each member by its registry entry's semantics. Returns
    (grid, values G × columns, column of each element of x, or None when there is one column
    or `max_columns` cut the columns). A ShapeError if a constant does not broadcast to `dims`."""
    check_operands(members, constants, dims)
    columns, column, count = chain_columns(constants, dims, max_columns)
    grid, values = evaluate_columns(members, x, y, columns, domain, opset)
    return grid, np.broadcast_to(values, (GRID_POINTS, count)), column


def check_operands(members: Sequence[Node], constants: Mapping[str, np.ndarray], dims: Sequence[int]) -> None:
    """Every constant of a chain broadcasts to x's `dims` (ONNX's unidirectional broadcasting, as
    a PRelu slope must): a chain keeps x's shape. Else a ShapeError naming the member reading it."""
    for name, v in constants.items():
        if not broadcasts_to(v.shape, dims):
            node = next(m for m in members if name in m.inputs)
            raise broadcast_error(node, name, v.shape, dims)


def broadcasts_to(shape: Sequence[int], dims: Sequence[int]) -> bool:
    """Whether `shape` broadcasts to `dims` one way (ONNX's unidirectional broadcasting)."""
    return len(shape) <= len(dims) and all(a in (1, b) for a, b in zip(reversed(shape), reversed(dims)))


def broadcast_error(node: Node, name: str, shape: Sequence[int], dims: Sequence[int]) -> ShapeError:
    """The error for input `name` of `node` that does not broadcast to the data's `dims`."""
    return ShapeError(f"{node.op_type} node {node.name!r}: its input {name!r} of shape {_dims_text(shape)} does "
                      f"not broadcast to {_dims_text(dims)}, the shape of the data it applies to", tensor=name)


def _dims_text(dims: Sequence[int]) -> str:
    return "x".join(str(d) for d in dims) or "scalar"


def chain_columns(constants: Mapping[str, np.ndarray], dims: Sequence[int], max_columns: int | None = None
                  ) -> tuple[dict[str, np.ndarray], np.ndarray | None, int]:
    """The distinct columns of a chain's constants (the value sets that occur together at some
    element of x): each constant's values by column, the column of each element of x (None when
    there is one column or `max_columns` cut them), and the number of columns kept."""
    rank = len(dims)
    shaped = [v.reshape((1,) * (rank - v.ndim) + v.shape) if v.ndim <= rank else v for v in constants.values()]
    if not shaped:
        return {}, None, 1
    # broadcast over the constants' own shape, not the tensor's: the same distinct columns,
    # without sorting one row per element (scalar Gelu constants over ViT's 197×3072 took 0.25 s)
    try:
        target = tuple(np.broadcast_shapes(*(v.shape for v in shaped)))
        if tuple(np.broadcast_shapes(target, tuple(dims))) != tuple(dims):
            target = tuple(dims)
    except ValueError:
        target = tuple(dims)
    table = np.stack([np.broadcast_to(v, target).reshape(-1) for v in shaped], axis=1)
    _, first, inverse = np.unique(table, axis=0, return_index=True, return_inverse=True)
    column = None
    if 1 < len(first) and (max_columns is None or len(first) <= max_columns):
        column = np.broadcast_to(inverse.reshape(target), tuple(dims)).reshape(-1)
    first = first[:max_columns] if max_columns else first
    columns = {name: v.reshape(-1)[first] for name, v in zip(constants, (np.broadcast_to(v, target) for v in shaped))}
    return columns, column, len(first)


def evaluate_columns(members: Sequence[Node], x: str, y: str, columns: Mapping[str, np.ndarray], domain: float,
                     opset: int) -> tuple[np.ndarray, np.ndarray]:
    """The chain x ↦ y on the fitting grid for the given columns of its constants: (grid, values
    G × columns, or G × 1 when every column gives the same). Computed a row per column, so each
    column's values are contiguous (the transpose of that is returned, without a copy)."""
    grid = np.linspace(-domain, domain, GRID_POINTS)
    values: dict[str, np.ndarray] = {x: grid[None, :]}
    values.update({k: v[:, None] for k, v in columns.items()})
    last_read = {i: k for k, node in enumerate(members) for i in node.inputs if i}
    with np.errstate(all="ignore"):
        for k, node in enumerate(members):
            args = [values.get(i) if i else None for i in node.inputs]
            entry = elementwise_entry(node, opset)
            values[node.outputs[0]] = np.asarray(entry.evaluate(node_attr(node, opset, entry), args), dtype=np.float64)
            for i in node.inputs:  # a value no later member reads goes (a 24k-op chain would hold 3 GB of them)
                if i and i != y and last_read[i] == k:
                    values.pop(i, None)
    out = np.broadcast_to(values[y], np.broadcast_shapes(np.shape(values[y]), (1, GRID_POINTS)))
    return grid, out.reshape(-1, GRID_POINTS).T
