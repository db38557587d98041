"""Preparation: from a loaded model to a graph view whose data tensors all have concrete shapes.

Strip large payloads, upgrade old opsets, inline local functions, fix the input shapes the user
gives, infer shapes, expand ops that have no rule but an ONNX function body, unroll control flow
(`unroll.py`), and fold static inputs where ONNX's shape inference gives up (SPEC §1).
"""
from __future__ import annotations

from typing import Callable, Iterable, Mapping, Sequence

import numpy as np
import onnx
from onnx import numpy_helper

from .errors import ModelLoadError, SettingsError, ShapeError, input_shape_hint
from .graph import DATA, STATIC, GraphView, Node, Tensor, build_view, classify
from .loading import default_opset, skeleton, upgrade_if_old
from .unroll import unroll_control_flow

#: Largest dimension ONNX can store (int64).
MAX_DIM = (1 << 63) - 1
UNROLL_ROUNDS = 4  # nested control flow unrolls one level per round
FOLD_ROUNDS = 32  # each round can unlock shapes that the next depends on (Swin legacy: ~1 per block)


def prepare(
    model: onnx.ModelProto,
    input_shapes: Mapping[str, Sequence[int]] | None = None,
    has_rule: Callable[[str, str, int], bool] | None = None,
) -> GraphView:
    """Strip, upgrade, inline, fix input shapes, infer shapes and build the graph view.

    `has_rule(op_type, domain, opset)` says which ops the registry knows: those are kept whole
    rather than expanded into their function bodies.
    """
    warnings: list[str] = []
    model = skeleton(model)
    model, note = upgrade_if_old(model)
    if note:
        warnings.append(note)
    has_rule = has_rule or (lambda op, domain, opset: False)
    model = _inline_local_functions(model, has_rule)
    _fix_input_shapes(model, dict(input_shapes or {}))
    model = _infer(model)
    if _expand_schema_functions(model, has_rule):
        model = _infer(model)
    view = _view(model, warnings)
    for _ in range(UNROLL_ROUNDS):
        rewrites, notes = unroll_control_flow(model, view.value, lambda n: view.tensors[n].shape if n in view.tensors else None)
        warnings.extend(notes)
        if not rewrites:
            break
        model = _infer(model)
        view = _view(model, warnings)
    for _ in range(FOLD_ROUNDS):
        if not _unresolved_data(view) or not _fold_static_inputs(model, view):
            break
        model = _infer(model)
        view = _view(model, warnings)
    check_data_shapes(view)
    return view


def _view(model: onnx.ModelProto, warnings: list[str]) -> GraphView:
    """The view of `model` with data/static roles assigned."""
    view = build_view(model, warnings)
    classify(view)
    return view


# --------------------------------------------------------------------------- local functions


def _inline_local_functions(model: onnx.ModelProto, has_rule: Callable[[str, str, int], bool]) -> onnx.ModelProto:
    """Inline the model's local functions, except those the registry has a rule for."""
    if not model.functions:
        return model
    opset = default_opset(model)
    keep = [(f.domain, f.name) for f in model.functions if has_rule(f.name, f.domain, opset)]
    inline = [(f.domain, f.name) for f in model.functions if (f.domain, f.name) not in keep]
    if not inline:
        return model
    from onnx import inliner

    try:
        return inliner.inline_selected_functions(model, inline, exclude=False)
    except Exception as exc:
        raise ModelLoadError(f"could not inline the model's local functions: {exc}") from None


# --------------------------------------------------------------------------- input shapes


def _fix_input_shapes(model: onnx.ModelProto, overrides: dict[str, Sequence[int]]) -> None:
    """Make every graph input's dims concrete in place: the overrides, 1 for a symbolic batch
    dim, a symbol's value where an override fixed it; any other open dim is an error."""
    inits = {i.name for i in model.graph.initializer}
    graph_inputs = [i for i in model.graph.input if i.name not in inits]
    names = [i.name for i in graph_inputs]
    _check_overrides(overrides, names)
    symbols: dict[str, int] = {}  # symbolic dim name -> the value it was fixed to
    resized = False  # an override changed a concrete dim: recorded shapes downstream are stale
    for inp in graph_inputs:
        ttype = inp.type.tensor_type
        if not inp.type.HasField("tensor_type"):
            continue  # sequences/maps/optional: left to inference, reported if they carry data
        if inp.name in overrides:
            dims = list(overrides[inp.name])
            if ttype.HasField("shape") and len(ttype.shape.dim) != len(dims):
                raise SettingsError(f"{inp.name}: rank {len(dims)} given but the input has rank {len(ttype.shape.dim)}",
                                    setting="input_shapes", tensor=inp.name)
            if ttype.HasField("shape"):
                for old, new in zip(ttype.shape.dim, dims):
                    if old.dim_param:
                        symbols.setdefault(old.dim_param, int(new))
                    elif old.HasField("dim_value") and old.dim_value > 0 and old.dim_value != int(new):
                        resized = True
            ttype.ClearField("shape")
            for d in dims:
                ttype.shape.dim.add().dim_value = int(d)
            continue
        if not ttype.HasField("shape"):
            raise ShapeError(f"input {inp.name!r} has no declared shape", hint=input_shape_hint(inp.name), tensor=inp.name)
        for axis, dim in enumerate(ttype.shape.dim):
            if dim.HasField("dim_value") and dim.dim_value > 0:
                continue
            if axis == 0:
                if dim.dim_param:
                    symbols.setdefault(dim.dim_param, 1)
                dim.Clear()
                dim.dim_value = 1  # a symbolic batch dimension counts as 1 (per sample)
                continue
            if dim.dim_param in symbols:
                value = symbols[dim.dim_param]
                dim.Clear()
                dim.dim_value = value
                continue
            # a stored 0 or negative size: some exporters wrote these for "dynamic"
            label = dim.dim_param or (f"size {dim.dim_value}" if dim.HasField("dim_value") else "unknown")
            raise ShapeError(f"input {inp.name!r} dim {axis} ({label}) is not fixed",
                             hint=input_shape_hint(inp.name, _example_dims(ttype.shape)), tensor=inp.name, axis=axis)
    _update_declared_shapes(model, symbols, resized)


def _check_overrides(overrides: Mapping[str, object], names: Sequence[str]) -> None:
    """Each override must name a graph input and give positive int64 dims."""
    for name, dims in overrides.items():
        if name not in names:
            raise SettingsError(f"names {name!r}, which is not a graph input", hint=f"inputs are: {', '.join(names) or '(none)'}",
                                setting="input_shapes", tensor=name)
        if isinstance(dims, (str, bytes)) or not isinstance(dims, Iterable):
            raise SettingsError(f"{name}: expected a sequence of dims, got {dims!r}", setting="input_shapes", tensor=name)
        for d in dims:
            if not isinstance(d, (int, np.integer)) or isinstance(d, bool) or d < 1:
                raise SettingsError(f"{name}: dims must be positive integers, got {list(dims)}", setting="input_shapes", tensor=name)
            if d > MAX_DIM:
                raise SettingsError(f"{name}: dim {d} exceeds the int64 limit of ONNX", setting="input_shapes", tensor=name)


def _update_declared_shapes(model: onnx.ModelProto, symbols: Mapping[str, int], resized: bool) -> None:
    """Bring the shapes the model declares downstream in line with the fixed input shapes."""
    if resized:
        for vi in list(model.graph.value_info) + list(model.graph.output):
            if vi.type.HasField("tensor_type"):
                vi.type.tensor_type.ClearField("shape")
    # exporters record intermediate shapes with the same symbols: fix them everywhere
    if symbols:
        for vi in list(model.graph.value_info) + list(model.graph.output):
            if vi.type.HasField("tensor_type") and vi.type.tensor_type.HasField("shape"):
                for dim in vi.type.tensor_type.shape.dim:
                    if dim.dim_param in symbols:
                        value = symbols[dim.dim_param]
                        dim.Clear()
                        dim.dim_value = value


def _example_dims(shape: onnx.TensorShapeProto) -> str:
    """The input's dims as the hint shows them: known sizes, 1 for the batch, symbols or N for the rest."""
    parts = []
    for axis, d in enumerate(shape.dim):
        if d.HasField("dim_value") and d.dim_value > 0:
            parts.append(str(d.dim_value))
        else:
            parts.append("1" if axis == 0 else (d.dim_param or "N"))
    return "x".join(parts)


# --------------------------------------------------------------------------- shape inference


def _infer(model: onnx.ModelProto) -> onnx.ModelProto:
    try:
        return onnx.shape_inference.infer_shapes(model, check_type=False, strict_mode=False, data_prop=True)
    except Exception as exc:
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ShapeError(f"ONNX shape inference failed: {msg}") from None


# --------------------------------------------------------------------------- ops expanded into their ONNX function bodies


def _expand_schema_functions(model: onnx.ModelProto, has_rule: Callable[[str, str, int], bool]) -> bool:
    """Replace nodes that have no registry rule but an ONNX function body by that body."""
    opsets = {e.domain or "": e.version for e in model.opset_import}
    types = _value_types(model)
    new_nodes: list[onnx.NodeProto] = []
    changed = False
    for k, node in enumerate(model.graph.node):
        domain = node.domain or ""
        version = opsets.get("ai.onnx" if domain == "" and "" not in opsets else domain, 1)
        body = None
        if not has_rule(node.op_type, domain, version):
            body = _function_body(node, version, types)
        if body is None:
            new_nodes.append(node)
            continue
        changed = True
        new_nodes.extend(_instantiate(node, body, prefix=f"{node.name or node.op_type}_{k}/"))
        for entry in body.opset_import:
            if entry.domain not in opsets:
                model.opset_import.append(entry)
                opsets[entry.domain] = entry.version
    if changed:
        del model.graph.node[:]
        model.graph.node.extend(new_nodes)
    return changed


def _value_types(model: onnx.ModelProto) -> dict[str, onnx.TypeProto]:
    g = model.graph
    types = {v.name: v.type for v in list(g.input) + list(g.value_info) + list(g.output)}
    for init in g.initializer:
        t = onnx.TypeProto()
        t.tensor_type.elem_type = init.data_type
        for d in init.dims:
            t.tensor_type.shape.dim.add().dim_value = d
        types[init.name] = t
    return types


def _function_body(node: onnx.NodeProto, version: int, types: dict[str, onnx.TypeProto]) -> onnx.FunctionProto | None:
    try:
        schema = onnx.defs.get_schema(node.op_type, version, node.domain or "")
    except Exception:
        return None
    try:
        if schema.has_function:
            return schema.function_body
        if schema.has_context_dependent_function:
            arg_types = [types[i].SerializeToString() if i in types else onnx.TypeProto().SerializeToString() for i in node.input]
            raw = schema.get_context_dependent_function(node.SerializeToString(), arg_types)
            body = onnx.FunctionProto()
            body.ParseFromString(raw)
            return body if body.node else None
    except Exception:
        return None
    return None


def _instantiate(node: onnx.NodeProto, body: onnx.FunctionProto, prefix: str) -> list[onnx.NodeProto]:
    """Copy a function body in place of `node`: rename formals, bind attribute references."""
    rename = {formal: actual for formal, actual in zip(body.input, node.input)}
    rename.update({formal: actual for formal, actual in zip(body.output, node.output)})
    attrs = {a.name: a for a in node.attribute}
    out = []
    for inner in body.node:
        copy = onnx.NodeProto()
        copy.CopyFrom(inner)
        copy.name = prefix + (inner.name or inner.op_type)
        for seq in (copy.input, copy.output):
            for i, name in enumerate(seq):
                if name:
                    seq[i] = rename.setdefault(name, prefix + name)
        kept = []
        for a in copy.attribute:
            if a.ref_attr_name:
                if a.ref_attr_name in attrs:
                    bound = onnx.AttributeProto()
                    bound.CopyFrom(attrs[a.ref_attr_name])
                    bound.name = a.name
                    kept.append(bound)
            else:
                kept.append(a)
        del copy.attribute[:]
        copy.attribute.extend(kept)
        out.append(copy)
    return out


# --------------------------------------------------------------------------- folding static inputs


def _unresolved_data(view: GraphView) -> bool:
    return any(t.role == DATA and not t.resolved for t in view.tensors.values())


def _fold_static_inputs(model: onnx.ModelProto, view: GraphView) -> bool:
    """Where ONNX's data propagation gave up (shape arithmetic through Div, Cast, ...), fold
    the static inputs of nodes whose data outputs lack a shape into constants, so that shape
    inference can run again."""
    changed = False
    added: set[str] = set()
    for node in view.nodes:
        outs = [view.tensors[o] for o in node.outputs if o]
        # static outputs count too: a static Expand of a weight can set a data Concat's shape
        if all(t.resolved for t in outs):
            continue
        for k, name in enumerate(node.inputs):
            t = view.tensors.get(name) if name else None
            if t is None or t.role != STATIC or t.initializer:
                continue
            value = view.value(name)
            if value is None:
                continue
            folded = f"{name}__onnxlayer_folded"
            if folded not in view.tensors and folded not in added:
                model.graph.initializer.append(numpy_helper.from_array(np.asarray(value), folded))
                added.add(folded)
            node.proto.input[k] = folded
            changed = True
    return changed


# --------------------------------------------------------------------------- the result: every data shape concrete


def check_data_shapes(view: GraphView) -> None:
    """Every data tensor must have a fully resolved shape; name the first that does not."""
    for name in view.inputs:
        _require_shape(view.tensors[name])
    for node in view.nodes:
        for out in node.outputs:
            if out and view.tensors[out].role == DATA:
                _require_shape(view.tensors[out], node)


def _require_shape(t: Tensor, node: Node | None = None) -> None:
    where = f" (output of {node.op_type} node {node.name!r})" if node else " (graph input)"
    if t.role != DATA:
        return
    if t.shape is None:
        if node is not None and not onnx.defs.has(node.op_type, node.domain):
            # inputs' shapes cannot help: ONNX has no shape function for an op it does not know
            op = f"{node.domain}::{node.op_type}" if node.domain else node.op_type
            raise ShapeError(f"tensor {t.name!r}{where} has no known shape: ONNX cannot infer the outputs of {op}",
                             hint=f"declare {t.name!r} with its shape in the model's value_info", tensor=t.name)
        raise ShapeError(f"tensor {t.name!r}{where} has no inferable shape", hint=input_shape_hint(), tensor=t.name)
    for axis, d in enumerate(t.shape):
        if not isinstance(d, int):
            label = d if d is not None else "unknown"
            raise ShapeError(f"tensor {t.name!r}{where} has an unresolved dim {axis} ({label})", hint=input_shape_hint(),
                             tensor=t.name, axis=axis)
