"""Preparation: from a loaded model to a graph view whose data tensors all have concrete shapes.

Check the model before any copy or native code reads it (size against the budget, references,
producers, schemas), strip large payloads, upgrade old opsets, inline local functions, fix the
input shapes the user gives, infer shapes, expand runtime-fused and quantized ops into the float
ops they stand for (their registry entries' expansions, `expansion.py`) and read Q→DQ pairs
(`quantization.py`), expand ops that have no rule but an ONNX function body, unroll control
flow (`unroll.py`), and fold static inputs where ONNX's shape inference
gives up (SPEC §1), and give the row-wise ai.onnx.ml ops the rows it leaves open.
"""
from __future__ import annotations

import faulthandler
import math
import os
import signal
from typing import Callable, Iterable, Mapping, Sequence

from . import onnxapi
from .budget import Budget, FoldBudget
from .dedupe import merge_duplicate_nodes
from .deferred import numpy as np
from .errors import GraphError, ModelLoadError, SettingsError, ShapeError, input_shape_hint
from .expansion import ExpanderOf, expand_ops
from .graph import (DATA, FLOAT_TYPES, FOLD_LIMIT, STATIC, GraphView, Node, Tensor, build_view, check_graph, classify, describe_type,
                    evaluate_node, shape_of, single_node_model, subgraphs)
from .loading import copy_model, default_opset, is_large, skeleton, stub, upgrade_if_old, version_warnings
from .quantization import fold_quantization
from .sequences import flatten_sequences, has_sequence_ops
from .unroll import CONTROL_FLOW, has_control_flow, rename_outer_refs, unroll_control_flow, unrolled_size

#: Largest dimension ONNX can store (int64); no tensor can hold more elements either.
MAX_DIM = (1 << 63) - 1
#: Dims from here up leave ONNX's int64 shape arithmetic (sums of pads, products) no headroom.
OVERFLOW_DIM = 1 << 62
UNROLL_ROUNDS = 4  # nested control flow unrolls one level per round
#: Expansions nest (QAttention → Attention) or wait for a shape an earlier one gives (a layer's input,
#: once the layer before is expanded): a round each while some node expands, shape inference between.
EXPANSION_ROUNDS = 256
#: ai.onnx.ml ops that read no tensor of rows (a map) or make no tensor (ZipMap's sequence of maps):
#: the rest are row-wise, one output row per row of their X (`_resolve_ml_rows`).
ML_NOT_ROW_WISE = frozenset({"ZipMap", "DictVectorizer", "CastMap"})
#: Ops whose shape inference (onnx 1.23) reads an input type without checking it exists: an
#: input of unknown type crashes the process. tests/test_hostile.py rescans every schema.
INFERENCE_HAZARDS = frozenset({("", "RegexFullMatch"), ("", "EyeLike"), ("ai.onnx.ml", "DictVectorizer"),
                               ("ai.onnx.ml", "LabelEncoder"), ("ai.onnx.ml", "TreeEnsemble")})


def prepare(
    model: onnxapi.ModelProto,
    input_shapes: Mapping[str, Sequence[int]] | None = None,
    has_rule: Callable[[str, str, int], bool] | None = None,
    budget: Budget = Budget(),
    expansion: ExpanderOf | None = None,
    owned: bool = False,
) -> GraphView:
    """Check, strip, upgrade, inline, fix input shapes, infer shapes and build the graph view.

    `has_rule(op_type, domain, opset)` says which ops the registry knows: those are kept whole
    rather than expanded into their function bodies. `budget` bounds the nodes unrolling and
    inlining may make and what folding may compute, checked before the work. `expansion(op_type,
    domain, opset)` gives the registry's expansion of an op that stands for float ops (SPEC §4 e).
    `owned`: the caller hands over its only reference to `model`, which preparation then strips
    in place instead of copying, and lets go after shape inference (the initializers parameter
    counting reads are copied out of it): a large graph is not held twice.
    """
    warnings = version_warnings(model)
    hazards = _precheck(model, budget)
    fold_budget = FoldBudget(budget)
    # what the skeleton leaves out and parameter counting may read (smaller ones: view.constants)
    large = [init for init in model.graph.initializer if init.data_location != onnxapi.TensorProto.EXTERNAL and is_large(init)]
    stored = {init.name: _detached(init) if owned else init for init in large}
    # stripped in place only when no stored initializer is a part of the model (its payload would go)
    model = skeleton(model, in_place=owned and all(stored[init.name] is not init for init in large))
    model, note = upgrade_if_old(model)
    if note:
        warnings.append(note)
    has_rule = has_rule or (lambda op, domain, opset: False)
    model = _inline_local_functions(model, has_rule)
    overrides = dict(input_shapes or {})
    _fix_input_shapes(model, overrides)
    _check_element_counts(model, overrides)
    model = _infer(model, hazards, budget)
    for _ in range(EXPANSION_ROUNDS if expansion is not None else 0):
        if not expand_ops(model, expansion, budget):
            break
        model = _infer(model, hazards, budget)
    if fold_quantization(model):
        model = _infer(model, hazards, budget)
    if _expand_schema_functions(model, has_rule, budget):
        model = _infer(model, hazards, budget)
    view = _view(model, warnings, fold_budget)
    for _ in range(UNROLL_ROUNDS):
        if not has_control_flow(model.graph):
            break
        dims = _dims_of(view)
        count, culprit = unrolled_size(model.graph, view.value, dims, view.opset)
        budget.check_nodes(count, f"unrolling {culprit} makes")
        rewrites, notes = unroll_control_flow(model, view.value, dims)
        warnings.extend(notes)
        if not rewrites:
            view.warnings.extend(notes)  # no new view will copy them
            break
        budget.check_subgraphs(_subgraph_holders([model.graph]), len(model.graph.node), f"unrolling {culprit} leaves")
        model = _infer(model, hazards, budget)
        view = _view(model, warnings, fold_budget)
    if has_sequence_ops(model.graph) and flatten_sequences(model, view.value, _dims_of(view)):
        model = _infer(model, hazards, budget)
        view = _view(model, warnings, fold_budget)
    if any(not t.resolved for t in view.tensors.values()):  # static ones too: the weights W counts
        _resolve_shapes(view)
        _drop_unread_open_outputs(view)
    check_data_shapes(view)
    _forget_inferred_types(view)
    view.stored = stored
    return view


#: Typed tensors from which a view's model is kept without its types (`_forget_inferred_types`).
FORGOTTEN_TYPES = 10_000


def _forget_inferred_types(view: GraphView) -> None:
    """Keep the view's model without the types shape inference wrote for every tensor: the view
    holds its tensors' shapes, and nothing reads those types again. On a large graph they are
    about half of the inferred model (its nodes, copied here, are the other half); with fewer than
    `FORGOTTEN_TYPES`, the copy (initializers included) would cost more than it frees."""
    if len(view.model.graph.value_info) < FORGOTTEN_TYPES:
        return
    view.model = copy_model(view.model, skip_graph=("value_info",))
    graph_nodes = view.model.graph.node
    for node in view.nodes:
        node.graph_nodes = graph_nodes
    view.constants.rebind(view.model.graph.initializer)


#: An initializer this small (in serialized bytes) holds no payload: its dims, type and name.
DETACHED_BYTES = 4096


def _detached(init: onnxapi.TensorProto) -> onnxapi.TensorProto:
    """An initializer whose payload loading left in the file, copied into a message of its own
    (a part of a protobuf message keeps the whole message alive: the loaded graph could not be let
    go); one that holds its payload, itself (a copy would hold the payload twice)."""
    if init.ByteSize() > DETACHED_BYTES:
        return init
    copy = onnxapi.TensorProto()
    copy.CopyFrom(init)
    return copy


def _dims_of(view: GraphView) -> Callable[[str], tuple | None]:
    """The dims the view knows of a tensor (None for a name it does not hold)."""
    return lambda name: view.tensors[name].shape if name in view.tensors else None


def _view(model: onnxapi.ModelProto, warnings: list[str], fold_budget: FoldBudget) -> GraphView:
    """The view of `model` with data/static roles assigned."""
    merge_duplicate_nodes(model)  # identical nodes are one computation, one leaf
    view = build_view(model, warnings, fold_budget)
    classify(view)
    return view


# --------------------------------------------------------------------------- checks before anything reads the model


def _precheck(model: onnxapi.ModelProto, budget: Budget) -> tuple[str, ...]:
    """Before any copy and before native code reads the model: its nodes (local functions
    inlined) within the budget, its stored sizes within int64, its references, producers and
    schemas sound. Returns the `INFERENCE_HAZARDS` ops it holds (shape inference then runs
    isolated)."""
    count, hazards = _inlined_size(model)
    budget.check_nodes(count, "with its local functions inlined, the model holds" if model.functions else "the model holds")
    budget.check_subgraphs(_subgraph_holders([model.graph, *model.functions]), count, "the model holds")
    for init in model.graph.initializer:
        _check_stored(init, "initializer")
    check_graph(model)
    return hazards


def _subgraph_holders(graphs: Iterable[onnxapi.GraphProto | onnxapi.FunctionProto]) -> int:
    """Nodes holding subgraphs in `graphs` and in the subgraphs inside them."""
    count, pending = 0, list(graphs)
    while pending:
        for node in pending.pop().node:
            subs = subgraphs(node)
            count += bool(subs)
            pending.extend(subs)
    return count


def _inlined_size(model: onnxapi.ModelProto) -> tuple[int, tuple[str, ...]]:
    """Nodes of the model, subgraphs included, once every call of a local function is inlined;
    and the `INFERENCE_HAZARDS` op types among them."""
    functions = {(f.domain, f.name): f for f in model.functions}
    sizes: dict[tuple[str, str], int] = {}
    calling: list[tuple[str, str]] = []
    hazards: set[str] = set()

    def count(nodes: Iterable[onnxapi.NodeProto]) -> int:
        total = 0
        for node in nodes:
            key = (node.domain, node.op_type)
            if key in functions:
                if key not in sizes:
                    if key in calling:
                        cycle = " -> ".join(f"{d}::{n}" for d, n in calling[calling.index(key):] + [key])
                        raise GraphError(f"local function {key[0]}::{key[1]} calls itself ({cycle})")
                    calling.append(key)
                    sizes[key] = count(functions[key].node)
                    calling.pop()
                total += sizes[key]
                continue
            if ("" if node.domain == "ai.onnx" else node.domain, node.op_type) in INFERENCE_HAZARDS:
                hazards.add(node.op_type)
            total += 1
            for sub in subgraphs(node):
                total += count(sub.node)
        return total

    total = count(model.graph.node)
    for key in functions.keys() - sizes.keys():  # never called: inlining drops them, but inference reads them
        count(functions[key].node)
    return total, tuple(sorted(hazards))


def _check_stored(tensor: onnxapi.TensorProto, what: str) -> None:
    """A stored tensor's dims must be sizes, its element count one int64 can hold."""
    dims = list(tensor.dims)
    if dims and min(dims) < 0:
        raise GraphError(f"{what} {tensor.name!r} has a negative dim ({dims})")
    count = math.prod(dims)
    if count > MAX_DIM:
        raise ShapeError(f"{what} {tensor.name!r} claims {count} elements ({_dims_text(dims)}), "
                         "more than the int64 sizes of ONNX can count", tensor=tensor.name)


def _check_element_counts(model: onnxapi.ModelProto, overrides: Mapping[str, Sequence[int]]) -> None:
    """Every graph input, its shape now fixed, must count its elements within int64."""
    for inp in model.graph.input:
        if not inp.type.tensor_type.HasField("shape"):
            continue
        dims = [d.dim_value for d in inp.type.tensor_type.shape.dim]
        count = math.prod(dims)
        if count <= MAX_DIM:
            continue
        message = f"{count} elements ({_dims_text(dims)}), more than the int64 sizes of ONNX can count"
        if inp.name in overrides:
            raise SettingsError(f"{inp.name}: {message}", setting="input_shapes", tensor=inp.name)
        raise ShapeError(f"input {inp.name!r} has {message}", tensor=inp.name)


def _dims_text(dims: Iterable[int]) -> str:
    return "x".join(str(d) for d in dims) or "scalar"


# --------------------------------------------------------------------------- local functions


def _inline_local_functions(model: onnxapi.ModelProto, has_rule: Callable[[str, str, int], bool]) -> onnxapi.ModelProto:
    """Inline the model's local functions, except those the registry has a rule for."""
    if not model.functions:
        return model
    opset = default_opset(model)
    keep = [(f.domain, f.name) for f in model.functions if has_rule(f.name, f.domain, opset)]
    inline = [(f.domain, f.name) for f in model.functions if (f.domain, f.name) not in keep]
    if not inline:
        return model
    _bind_function_defaults(model, inline)
    from onnx import inliner

    try:
        return inliner.inline_selected_functions(model, inline, exclude=False)
    except Exception as exc:
        raise ModelLoadError(f"could not inline the model's local functions: {exc}") from None


def _bind_function_defaults(model: onnxapi.ModelProto, inline: Sequence[tuple[str, str]]) -> None:
    """Give each call of a function about to be inlined the attribute defaults the function
    declares (`attribute_proto`) where the call sets none: onnx's inliner drops a reference to an
    attribute the call omits, so the inner op's schema default (or none: Cast's `to`) would stand
    in for the function's own."""
    defaults = {(f.domain, f.name): f.attribute_proto for f in model.functions if (f.domain, f.name) in inline}
    pending: list[onnxapi.GraphProto | onnxapi.FunctionProto] = [model.graph, *model.functions]
    while pending:
        for node in pending.pop().node:
            declared = defaults.get((node.domain, node.op_type))
            if declared:
                given = {a.name for a in node.attribute}
                node.attribute.extend(a for a in declared if a.name not in given)
            pending.extend(subgraphs(node))


# --------------------------------------------------------------------------- input shapes


def _fix_input_shapes(model: onnxapi.ModelProto, overrides: dict[str, Sequence[int]]) -> None:
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
            hint = input_shape_hint(inp.name, _example_dims(ttype.shape))
            if dim.HasField("dim_value"):  # a stored 0 or negative size: some exporters wrote these for "dynamic"
                raise ShapeError(f"input {inp.name!r} dim {axis} has size {dim.dim_value}: an empty tensor carries no data "
                                 "to measure, and some exporters write such sizes for a dynamic dim",
                                 hint=hint + " with N ≥ 1", tensor=inp.name, axis=axis)
            label = dim.dim_param or "unknown"
            raise ShapeError(f"input {inp.name!r} dim {axis} ({label}) is not fixed", hint=hint, tensor=inp.name, axis=axis)
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


def _update_declared_shapes(model: onnxapi.ModelProto, symbols: Mapping[str, int], resized: bool) -> None:
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


def _example_dims(shape: onnxapi.TensorShapeProto) -> str:
    """The input's dims as the hint shows them: known sizes, 1 for the batch, symbols or N for the rest."""
    parts = []
    for axis, d in enumerate(shape.dim):
        if d.HasField("dim_value") and d.dim_value > 0:
            parts.append(str(d.dim_value))
        else:
            parts.append("1" if axis == 0 else (d.dim_param or "N"))
    return "x".join(parts)


# --------------------------------------------------------------------------- shape inference


#: Ops whose inferred output shapes never depend on the values of their float inputs (the inputs'
#: shapes only): float weights read only by these reach shape inference as dims and type.
SHAPE_BLIND = frozenset({"Conv", "ConvTranspose", "Gemm", "MatMul", "Add", "Sub", "Mul", "Div", "Sum", "Max", "Min",
                         "Mean", "PRelu", "BatchNormalization", "InstanceNormalization", "LayerNormalization",
                         "GroupNormalization", "Gather", "Where"})
#: Elements (1 MB of float32) below which a model goes to shape inference as it is: leaving out
#: less is not worth copying the graph around them.
BLIND_ELEMENTS = 1 << 18


def _infer(model: onnxapi.ModelProto, hazards: Sequence[str] = (), budget: Budget = Budget()) -> onnxapi.ModelProto:
    """ONNX shape inference (with data propagation); in a child process when the model holds
    `hazards` (ops whose inference can crash), so that a crash is an error, not the end.

    Shape inference serialises the model, parses it in C++ and back: the float weights no shape
    depends on (`_shape_blind_weights`) go as dims and type, and what comes back is `model` with
    the types inference wrote (value_info, the graph's inputs and outputs): inference adds types
    and changes nothing else, and such a graph holds no subgraph whose types it would write too.
    The weights are not copied back into the inferred model."""
    blind = _shape_blind_weights(model)
    sent = copy_model(model, skip_graph=("initializer",)) if blind else model
    if blind:
        sent.graph.initializer.extend([stub(init) if init.name in blind else init for init in model.graph.initializer])
    if hazards and hasattr(os, "fork"):
        inferred = _infer_in_child(sent, hazards, budget)
    else:
        try:
            inferred = onnxapi.infer_shapes(sent, check_type=False, strict_mode=False, data_prop=True)
        except Exception as exc:
            raise ShapeError(f"ONNX shape inference failed: {_first_line(exc)}") from None
    if blind:
        for name in ("value_info", "input", "output"):
            field = getattr(model.graph, name)
            del field[:]
            field.extend(getattr(inferred.graph, name))
        return model
    return inferred


def _shape_blind_weights(model: onnxapi.ModelProto) -> set[str]:
    """Names of the float initializers of more than 64 elements that only `SHAPE_BLIND` ops of the
    main graph read (no subgraph, no graph output): nothing shape inference computes depends
    on their values. Empty when they hold fewer than `BLIND_ELEMENTS`."""
    g = model.graph
    candidates = {init.name: init for init in g.initializer
                  if init.data_type in FLOAT_TYPES and init.data_location != onnxapi.TensorProto.EXTERNAL
                  and math.prod(init.dims) > 64}
    if not candidates:
        return set()
    for node in g.node:
        if node.attribute and subgraphs(node):
            return set()  # subgraphs read outer names without listing them: keep every value
        if node.domain not in ("", "ai.onnx") or node.op_type not in SHAPE_BLIND:
            for name in node.input:
                candidates.pop(name, None)
    for o in g.output:
        candidates.pop(o.name, None)
    if sum(math.prod(init.dims) for init in candidates.values()) < BLIND_ELEMENTS:
        return set()
    return set(candidates)


def _infer_in_child(model: onnxapi.ModelProto, hazards: Sequence[str], budget: Budget) -> onnxapi.ModelProto:
    """`_infer` in a forked child bounded by the memory budget; the inferred model comes back
    serialized through a pipe."""
    import resource

    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: whatever happens, it only ever leaves through os._exit
        code = 1
        try:
            os.close(read_end)
            faulthandler.disable()  # a crash report (-X faulthandler, pytest) would be more stderr lines
            os.dup2(os.open(os.devnull, os.O_WRONLY), 2)
            with open("/proc/self/statm") as f:  # pages of address space already mapped
                mapped = int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
            _, hard = resource.getrlimit(resource.RLIMIT_AS)  # a limit set on this process already stays
            limit = mapped + budget.max_memory if hard == resource.RLIM_INFINITY else min(mapped + budget.max_memory, hard)
            resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
            try:
                reply = b"+" + _infer(model).SerializeToString()
            except ShapeError as exc:
                reply = b"-" + exc.message.encode()
            with os.fdopen(write_end, "wb") as pipe:
                pipe.write(reply)
            code = 0
        finally:
            os._exit(code)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        reply = pipe.read()
    _, status = os.waitpid(pid, 0)
    if reply[:1] == b"+":
        return onnxapi.ModelProto.FromString(reply[1:])
    if reply[:1] == b"-":
        raise ShapeError(reply[1:].decode())
    if os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGSEGV:
        ops = " or ".join(hazards)
        raise ShapeError(f"ONNX shape inference crashed (SIGSEGV) on this model: onnx cannot infer a {ops} node "
                         "whose input has no known type", hint=f"declare the types of the {ops} nodes' inputs in the model's value_info")
    how = f"signal {signal.Signals(os.WTERMSIG(status)).name}" if os.WIFSIGNALED(status) else f"exit status {os.WEXITSTATUS(status)}"
    raise ShapeError(f"ONNX shape inference failed in its child process ({how}), within the memory limit of "
                     f"{budget.max_memory / (1 << 30):.3g} GB")


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


# --------------------------------------------------------------------------- ops expanded into their ONNX function bodies


def _expand_schema_functions(model: onnxapi.ModelProto, has_rule: Callable[[str, str, int], bool],
                             budget: Budget = Budget()) -> bool:
    """Replace nodes that have no registry rule but an ONNX function body by that body."""
    opsets = {e.domain or "": e.version for e in model.opset_import}
    types: dict[str, onnxapi.TypeProto] | None = None  # the value types, read at the first node without a rule
    bodies: list[onnxapi.FunctionProto | None] = []
    versions: list[int] = []
    for node in model.graph.node:
        domain = node.domain or ""
        version = opsets.get("ai.onnx" if domain == "" and "" not in opsets else domain, 1)
        versions.append(version)
        if has_rule(node.op_type, domain, version):
            bodies.append(None)
            continue
        types = _value_types(model) if types is None else types
        bodies.append(_function_body(node, version, types))
    if not any(bodies):
        return False
    budget.check_nodes(sum(len(b.node) if b else 1 for b in bodies), "expanding ops into their ONNX function bodies makes")
    new_nodes: list[onnxapi.NodeProto] = []
    changed = False
    for k, (node, body, version) in enumerate(zip(model.graph.node, bodies, versions)):
        if body is None:
            new_nodes.append(node)
            continue
        changed = True
        new_nodes.extend(_instantiate(node, body, f"{node.name or node.op_type}_{k}/", _schema_defaults(node, version)))
        for entry in body.opset_import:
            if entry.domain not in opsets:
                model.opset_import.append(entry)
                opsets[entry.domain] = entry.version
    if changed:
        del model.graph.node[:]
        model.graph.node.extend(new_nodes)
    return changed


def _value_types(model: onnxapi.ModelProto) -> dict[str, onnxapi.TypeProto]:
    g = model.graph
    types = {v.name: v.type for v in list(g.input) + list(g.value_info) + list(g.output)}
    for init in g.initializer:
        t = onnxapi.TypeProto()
        t.tensor_type.elem_type = init.data_type
        for d in init.dims:
            t.tensor_type.shape.dim.add().dim_value = d
        types[init.name] = t
    return types


def _function_body(node: onnxapi.NodeProto, version: int, types: dict[str, onnxapi.TypeProto]) -> onnxapi.FunctionProto | None:
    try:
        schema = onnxapi.defs.get_schema(node.op_type, version, node.domain or "")
    except Exception:
        return None
    try:
        if schema.has_function:
            return onnxapi.function_body(schema)
        if schema.has_context_dependent_function:
            arg_types = [types[i].SerializeToString() if i in types else onnxapi.TypeProto().SerializeToString() for i in node.input]
            raw = schema.get_context_dependent_function(node.SerializeToString(), arg_types)
            body = onnxapi.FunctionProto()
            body.ParseFromString(raw)
            return body if body.node else None
    except Exception:
        return None
    return None


def _instantiate(node: onnxapi.NodeProto, body: onnxapi.FunctionProto, prefix: str,
                 defaults: Mapping[str, onnxapi.AttributeProto]) -> list[onnxapi.NodeProto]:
    """Copy a function body in place of `node`: rename formals (an optional formal the node does
    not give becomes empty) and the body's own tensors, also where subgraphs of the body read them
    from the enclosing scope; bind attribute references, to the schema's `defaults` where the node
    sets none."""
    rename = {formal: (node.input[k] if k < len(node.input) else "") for k, formal in enumerate(body.input)}
    rename.update({formal: actual for formal, actual in zip(body.output, node.output)})
    for inner in body.node:
        for name in inner.output:
            if name:
                rename.setdefault(name, prefix + name)
    attrs = {**defaults, **{a.name: a for a in node.attribute}}
    out = []
    for inner in body.node:
        copy = onnxapi.NodeProto()
        copy.CopyFrom(inner)
        copy.name = prefix + (inner.name or inner.op_type)
        for seq in (copy.input, copy.output):
            for i, name in enumerate(seq):
                if name:
                    seq[i] = rename.setdefault(name, prefix + name)
        _bind_attribute_refs(copy, attrs)
        for sub in subgraphs(copy):
            rename_outer_refs(sub, rename)
        out.append(copy)
    return out


def _bind_attribute_refs(node: onnxapi.NodeProto, attrs: Mapping[str, onnxapi.AttributeProto]) -> None:
    """Replace `node`'s attribute references (`ref_attr_name`) by the values in `attrs`, in its
    subgraphs too; a reference with no value is dropped (the inner op's own default applies)."""
    kept = []
    for a in node.attribute:
        if a.ref_attr_name:
            if a.ref_attr_name in attrs:
                bound = onnxapi.AttributeProto()
                bound.CopyFrom(attrs[a.ref_attr_name])
                bound.name = a.name
                kept.append(bound)
        else:
            kept.append(a)
    del node.attribute[:]
    node.attribute.extend(kept)
    for sub in subgraphs(node):
        for inner in sub.node:
            _bind_attribute_refs(inner, attrs)


def _schema_defaults(node: onnxapi.NodeProto, version: int) -> dict[str, onnxapi.AttributeProto]:
    """The default values the op's schema gives its attributes (what a reference to an attribute
    the node leaves unset stands for)."""
    try:
        schema = onnxapi.defs.get_schema(node.op_type, version, node.domain or "")
    except onnxapi.defs.SchemaError:
        return {}
    defaults = {name: onnxapi.default_value(spec) for name, spec in schema.attributes.items()}
    return {name: value for name, value in defaults.items() if value.type}


# --------------------------------------------------------------------------- folding static inputs


def _resolve_shapes(view: GraphView) -> None:
    """Resolve the shapes ONNX's whole-model inference left open (its data propagation stops at
    shape arithmetic through Div, Cast, ...) in one pass in topological order: each node with an
    open output is inferred alone, its static inputs folded to values and its inputs' shapes as
    resolved so far. One pass reaches the fixed point: no rounds, linear in the graph."""
    for node in view.nodes:
        outs = [view.tensors[o] for o in node.outputs if o]
        # static outputs count too: a static Expand of a weight can set a data Concat's shape
        if all(t.resolved for t in outs):
            continue
        if (node.domain, node.op_type) not in INFERENCE_HAZARDS:  # (a hazard's inference, in this process, could crash it)
            _infer_alone(view, node)
        if node.domain == "ai.onnx.ml" and node.op_type not in ML_NOT_ROW_WISE and not all(t.resolved for t in outs):
            _resolve_ml_rows(view, node)


def _infer_alone(view: GraphView, node: Node) -> None:
    """The node's open output shapes as ONNX infers them for the node alone."""
    try:
        inferred = onnxapi.infer_shapes(single_node_model(view, node), check_type=False,
                                                     strict_mode=False, data_prop=True)
    except Exception:
        return
    for vi in inferred.graph.output:
        t = view.tensors[vi.name]
        if t.resolved or not vi.type.HasField("tensor_type"):
            continue
        elem, shape = shape_of(vi.type)
        if shape is not None and all(isinstance(d, int) for d in shape):
            t.shape = shape
            t.elem_type = t.elem_type or elem


def _resolve_ml_rows(view: GraphView, node: Node) -> None:
    """The output shapes ONNX leaves open for a row-wise ai.onnx.ml op (a model, scaler, encoder):
    one output row per row of X [N, ...], so dim 0 is N, where ONNX's inference makes up a new
    symbol (or, for ops with no shape function, gives no shape: the shape of one output row is
    then what ONNX's reference implementation makes of one row of zeros). X of rank 1 is one
    row: the outputs are what the reference implementation makes of it."""
    x = view.tensors[node.inputs[0]] if node.inputs and node.inputs[0] else None
    if x is None or not x.resolved or not x.shape:
        return
    outs = [view.tensors[o] for o in node.outputs if o]
    batched = len(x.shape) >= 2
    rows = x.shape[0] if batched else 1
    if batched:  # a new symbol at dim 0 only: the batch
        for t in outs:
            if t.shape and not t.resolved and all(isinstance(d, int) for d in t.shape[1:]):
                t.shape = (rows, *t.shape[1:])
    if all(t.resolved for t in outs):
        return
    feeds = {}
    for name in dict.fromkeys(i for i in node.inputs if i):
        value, t = view.value(name), view.tensors[name]
        if value is None:  # a data input: one row of zeros
            if not t.resolved or not t.elem_type or not t.shape:
                return
            one_row = (1, *t.shape[1:]) if batched else t.shape
            if math.prod(one_row) > FOLD_LIMIT:
                return
            value = np.zeros(one_row, onnxapi.helper.tensor_dtype_to_np_dtype(t.elem_type))
        feeds[name] = value
    results = evaluate_node(view, node, feeds)
    if results is None:
        return
    for name, result in zip(node.outputs, results):
        t = view.tensors[name] if name else None
        if t is None or t.resolved or result.dtype == object:
            continue
        if batched and (result.ndim == 0 or result.shape[0] != 1):
            continue  # not one row out for the row in: leave it to the check's message
        t.shape = (rows, *result.shape[1:]) if batched else tuple(result.shape)
        t.elem_type = t.elem_type or onnxapi.helper.np_dtype_to_tensor_dtype(result.dtype)


def _drop_unread_open_outputs(view: GraphView) -> None:
    """An optional output that nothing reads and whose shape ONNX cannot tell (opset 7's Dropout
    mask) is as if the node had not asked for it."""
    for node in view.nodes:
        dropped = False
        for k, name in enumerate(node.outputs):
            t = view.tensors.get(name) if name else None
            if t is None or t.resolved or t.consumers or name in view.outputs or not _optional_output(node, k, view.opsets):
                continue
            node.proto.output[k] = ""
            del view.tensors[name]
            dropped = True
        if dropped:
            node.outputs = tuple(node.proto.output)


def _optional_output(node: Node, k: int, opsets: Mapping[str, int]) -> bool:
    """Whether output `k` of `node` is optional in its ONNX schema."""
    try:
        schema = onnxapi.defs.get_schema(node.op_type, opsets.get(node.domain, 1), node.domain)
    except onnxapi.defs.SchemaError:
        return False
    formal = schema.outputs[min(k, len(schema.outputs) - 1)] if schema.outputs else None
    return formal is not None and formal.option == onnxapi.defs.OpSchema.FormalParameterOption.Optional


# --------------------------------------------------------------------------- the result: every data shape concrete


def check_data_shapes(view: GraphView) -> None:
    """Every data tensor must have a fully resolved shape whose element count int64 can hold;
    name the first that does not, and why."""
    for name in view.inputs:
        _require_shape(view, view.tensors[name])
    for node in view.nodes:
        for out in node.outputs:
            if out and view.tensors[out].role == DATA:
                _require_shape(view, view.tensors[out], node)


def _require_shape(view: GraphView, t: Tensor, node: Node | None = None) -> None:
    if t.role != DATA or (node is not None and t.resolved and t.size <= MAX_DIM):
        return  # the common case, without spelling out where the tensor is
    where = f" (output of {node.op_type} node {node.name!r})" if node else " (graph input)"
    declared = next((vi.type for vi in view.model.graph.input if vi.name == t.name), None) if node is None else None
    if declared is not None and declared.WhichOneof("value") != "tensor_type":
        # the shapes inside are declared; what is missing is not a shape --input-shape could give
        raise ShapeError(f"input {t.name!r} is {describe_type(declared)}: onnxlayer measures tensors, and a sequence's "
                         "length (an optional's presence) is not part of its type", tensor=t.name)
    if t.shape is None:
        if node is not None and not onnxapi.defs.has(node.op_type, node.domain):
            # inputs' shapes cannot help: ONNX has no shape function for an op it does not know
            op = f"{node.domain}::{node.op_type}" if node.domain else node.op_type
            raise ShapeError(f"tensor {t.name!r}{where} has no known shape: ONNX cannot infer the outputs of {op}",
                             hint=f"declare {t.name!r} with its shape in the model's value_info", tensor=t.name)
        raise ShapeError(f"tensor {t.name!r}{where} has no inferable shape: {_why_unresolved(view, node)}", tensor=t.name)
    for axis, d in enumerate(t.shape):
        if isinstance(d, int):
            continue
        label = f" ({d})" if isinstance(d, str) and d else ""
        raise ShapeError(f"tensor {t.name!r}{where} has an unresolved dim {axis}{label}: {_why_unresolved(view, node)}",
                         tensor=t.name, axis=axis)
    if t.size > MAX_DIM:
        raise ShapeError(f"tensor {t.name!r}{where} has {t.size} elements ({_dims_text(t.shape)}), more than the "
                         "int64 sizes of ONNX can count", tensor=t.name)


def _why_unresolved(view: GraphView, node: Node | None) -> str:
    """Why ONNX could not compute a shape, in terms of what would fix it."""
    if node is None:
        return "the graph input has no fixed shape"
    label = f"{node.op_type} node {node.name!r}"
    if node.op_type in CONTROL_FLOW and node.domain == "":
        what = {"Loop": "its trip count is not a static value", "Scan": "its sequence length is not known",
                "If": "its branches do not give the same shape"}[node.op_type]
        return f"{label} could not be unrolled ({what})"
    inputs = [view.tensors[i] for i in node.inputs if i]
    # an integer operand (a shape, repeats, indices) whose value ONNX would need
    valueless = [i for i in inputs if not i.is_float and view.value(i.name) is None]
    if valueless:
        t = valueless[0]
        if t.role == STATIC:
            return f"the static input {t.name!r} of {label} has no known value"
        return f"{label} reads {t.name!r}, whose value depends on the values of the model's inputs, not their shapes"
    if any(isinstance(d, int) and d >= OVERFLOW_DIM for i in inputs for d in (i.shape or ())):
        return f"the dims of {label}'s inputs are too large for ONNX's int64 shape arithmetic"
    shapes = ", ".join(_dims_text(i.shape) if i.resolved else "?" for i in inputs)
    reason = _node_inference_error(view, node)
    return f"ONNX cannot compute the output of {label} from inputs of shape {shapes}" + (f" ({reason})" if reason else "")


def _node_inference_error(view: GraphView, node: Node) -> str | None:
    """What ONNX's strict shape inference says about `node` alone, its inputs as the view knows
    them: its error, or the negative size it computes (a window larger than its input)."""
    try:
        inferred = onnxapi.infer_shapes(single_node_model(view, node), check_type=False, strict_mode=True,
                                                     data_prop=True)
    except Exception as exc:
        return _first_line(exc).replace("[ShapeInferenceError] ", "").replace("[TypeInferenceError] ", "")
    for vi in inferred.graph.output:
        dims = [d.dim_value for d in vi.type.tensor_type.shape.dim if d.HasField("dim_value")]
        if any(d < 0 for d in dims):
            return f"it computes {vi.name!r} as {_dims_text(dims)}: the node's attributes do not fit those shapes"
    return None
