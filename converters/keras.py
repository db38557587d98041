"""Keras / TensorFlow front-end: Keras models, .keras/.h5 files, SavedModels and tf.functions via tf2onnx.

Every source is reduced to a frozen TensorFlow GraphDef and then converted by
one pipeline (:func:`graph_def_to_onnx`) that fixes what tf2onnx 1.17 leaves
broken on Keras 3:

* XLA-compiled calls. Keras 3 runs grouped convolutions (``Conv2D(groups>1)``,
  ConvNeXt's depthwise 7x7) through ``tf.function(jit_compile=True)``; such a
  function is marked ``_noinline``/``_XlaMustCompile``, survives freezing as a
  ``StatefulPartitionedCall`` and tf2onnx passes it through unconverted. We drop
  those marks from the frozen graph and let Grappler inline the bodies.
* ``Erfc`` (Keras' exact Gelu) has no tf2onnx handler: we register one,
  erfc(x) = 1 - erf(x), unless tf2onnx ever ships its own.
* Memory. Stock ``tf2onnx.convert.from_keras`` passes 10 GB on VGG16: its
  default freeze copies the weights many times over (7 GB), Grappler's
  constant folding more (9 GB), and its optimizer deep-copies the whole graph,
  weights included, before each pass, the copies sitting in reference cycles
  until a full GC. We freeze with tf2onnx's large-model path (weights written
  once, no Grappler folding), keep large constants out of the GraphDef while TF
  handles it, and run the optimizer loop with copies that share the constant
  tensors (passes replace a constant's attribute, never edit it in place) and
  leave the weights out of the node protos they copy, collecting garbage after
  each pass. VGG16: stock > 10 GB (killed), here 5.5 GB peak RSS.

The result is checked: a graph that still holds TensorFlow ops or fails
``onnx.checker`` raises :class:`IncompleteConversionError` instead of being returned.
"""

from __future__ import annotations

import contextlib
import copy
import gc
import logging
import os
import re
from collections import Counter
from typing import TYPE_CHECKING, Any, Iterator, Sequence

if TYPE_CHECKING:  # onnx is imported where used: the package import stays cheap
    import onnx

from . import BATCH_DIM, DEFAULT_OPSET, ConverterError, IncompleteConversionError, check_complete, require

__all__ = [
    "convert_tf",
    "from_keras",
    "from_keras_file",
    "from_saved_model",
    "from_tf_function",
    "graph_def_to_onnx",
]

_log = logging.getLogger(__name__)

# Call ops that hold a function body; after freezing none may remain.
_CALL_OPS = ("StatefulPartitionedCall", "PartitionedCall")
# Function attributes that stop Grappler from inlining a body.
_NO_INLINE_ATTRS = ("_noinline", "_XlaMustCompile", "_XlaCompile")


def _tf() -> Any:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    tf = require("tensorflow")
    require("tf2onnx")
    return tf


# ---------------------------------------------------------------------------
# Public entry points
# ---------------------------------------------------------------------------


def convert_tf(obj: Any, *, opset: int = DEFAULT_OPSET, input_signature: Sequence[Any] | None = None,
               **options: Any) -> onnx.ModelProto:
    """Convert a Keras model or a ``tf.function`` (dispatch for :func:`onnxlayer.converters.convert`)."""
    if options:
        raise TypeError(f"unexpected options for the TensorFlow front-end: {sorted(options)}")
    _tf()
    keras = require("keras")
    if isinstance(obj, keras.Model):
        return from_keras(obj, input_signature=input_signature, opset=opset)
    if hasattr(obj, "get_concrete_function"):
        return from_tf_function(obj, input_signature, opset=opset)
    raise ConverterError(f"cannot convert {type(obj).__qualname__} with the TensorFlow front-end")


def from_keras(model: Any, *, input_signature: Sequence[Any] | None = None,
               opset: int = DEFAULT_OPSET) -> onnx.ModelProto:
    """Convert an in-memory Keras model (Keras 3 or tf.keras) in inference mode.

    ``input_signature`` (a list of ``tf.TensorSpec``) is needed only for
    subclassed models that were never built on concrete inputs.
    """
    tf = _tf()
    if input_signature is None:
        inputs = getattr(model, "inputs", None)
        if not inputs:
            raise ConverterError(
                f"Keras model {model.name!r} has no defined inputs (a subclassed model that was never "
                "called); pass input_signature=[tf.TensorSpec(shape, dtype), ...]"
            )
        input_signature = [
            tf.TensorSpec(tensor.shape, tensor.dtype, name=_tensor_name(getattr(tensor, "name", None), i))
            for i, tensor in enumerate(inputs)
        ]
    input_signature = list(input_signature)
    single = len(input_signature) == 1

    @tf.function(input_signature=input_signature, autograph=False)
    def serve(*args: Any) -> Any:
        return model(args[0] if single else list(args), training=False)

    model_proto = _convert_concrete(serve.get_concrete_function(), name=model.name, opset=opset)
    _name_batch_dim(model_proto)
    return model_proto


def _name_batch_dim(model: onnx.ModelProto) -> None:
    """Call the symbolic dim 0 of a Keras model's inputs and outputs ``batch``, as the torch front-end does.

    tf2onnx names every unknown dimension ``unk__<n>``, a fresh name per tensor;
    Keras models are batch-major by contract, so these dim-0 names are one batch.
    """
    renamed = set()
    for value in [*model.graph.input, *model.graph.output]:
        dims = value.type.tensor_type.shape.dim
        if dims and dims[0].dim_param.startswith("unk__"):
            renamed.add(dims[0].dim_param)
            dims[0].dim_param = BATCH_DIM
    if not renamed:
        return
    for value in model.graph.value_info:
        for dim in value.type.tensor_type.shape.dim:
            if dim.dim_param in renamed:
                dim.dim_param = BATCH_DIM


def from_tf_function(function: Any, input_signature: Sequence[Any] | None = None, *,
                     opset: int = DEFAULT_OPSET) -> onnx.ModelProto:
    """Convert a ``tf.function``; ``input_signature`` is needed unless the function declares one."""
    _tf()
    if input_signature is not None:
        concrete = function.get_concrete_function(*input_signature)
    elif getattr(function, "input_signature", None) is not None:
        concrete = function.get_concrete_function()
    else:
        raise ConverterError("this tf.function has no input_signature; pass input_signature=[tf.TensorSpec(...)]")
    name = getattr(function, "__name__", None) or getattr(function, "name", None) or "tf_function"
    return _convert_concrete(concrete, name=name, opset=opset)


def from_keras_file(path: str | os.PathLike, *, opset: int = DEFAULT_OPSET,
                    input_signature: Sequence[Any] | None = None) -> onnx.ModelProto:
    """Load a ``.keras`` or ``.h5`` file with ``safe_mode=True`` (no deserialised Python code) and convert it."""
    _tf()
    keras = require("keras")
    path = os.fspath(path)
    try:
        model = keras.saving.load_model(path, compile=False, safe_mode=True)
    except ValueError as exc:
        if "safe_mode" in str(exc) or "Lambda" in str(exc):
            raise ConverterError(
                f"{path} holds Python code (a Lambda layer or similar) that Keras only loads with "
                f"safe_mode=False; onnxlayer does not run code from model files. Convert it in the "
                f"environment that trusts it: onnxlayer.converters.keras.from_keras(model). ({exc})"
            ) from exc
        raise
    return from_keras(model, input_signature=input_signature, opset=opset)


def from_saved_model(path: str | os.PathLike, *, opset: int = DEFAULT_OPSET,
                     signature: str | None = None, tag: str | None = None) -> onnx.ModelProto:
    """Convert one signature (default: ``serving_default`` or the only one) of a TF2 SavedModel directory."""
    _tf()
    from tf2onnx import tf_loader

    path = os.fspath(path)
    signatures = [signature] if signature else None
    with _quiet_tf2onnx():
        (graph_def, input_names, output_names, initialized_tables,
         tensors_to_rename) = tf_loader.from_saved_model(
            path, None, None, tag=tag, signatures=signatures, large_model=True,
            return_initialized_tables=True, return_tensors_to_rename=True)
    name = os.path.basename(os.path.normpath(path))
    frozen = [graph_def]
    del graph_def
    return _convert_frozen(frozen, input_names, output_names, name=name, opset=opset,
                           tensors_to_rename=tensors_to_rename, initialized_tables=initialized_tables)


# ---------------------------------------------------------------------------
# The shared pipeline
# ---------------------------------------------------------------------------


def _tensor_name(name: str | None, index: int) -> str:
    cleaned = re.sub(r"[^A-Za-z0-9_.]", "_", name or "")
    return cleaned if cleaned and cleaned[0].isalpha() else f"input_{index}"


def _convert_concrete(concrete: Any, *, name: str, opset: int) -> onnx.ModelProto:
    """Freeze a concrete function (variables become constants) and convert it."""
    tf = _tf()
    from tf2onnx import tf_loader
    from tf2onnx.convert import tensor_names_from_structed

    # Captured tensors (variables, closed-over constants) become constants when
    # frozen; only the signature's own arguments are model inputs.
    captured = {internal.name for _, internal in concrete.graph.captures}
    input_names = [t.name for t in concrete.inputs
                   if t.dtype != tf.dtypes.resource and t.name not in captured]
    output_names = [t.name for t in concrete.outputs if t.dtype != tf.dtypes.resource]
    tensors_to_rename = tensor_names_from_structed(concrete, input_names, output_names)
    with tf.device("/cpu:0"), _quiet_tf2onnx():
        # The large-model freeze writes each weight once and runs no Grappler pass;
        # the default freeze peaks near 9 GB on VGG16 (see graph_def_to_onnx).
        frozen = [tf_loader.from_function(concrete, input_names, output_names, large_model=True)]
    return _convert_frozen(frozen, input_names, output_names, name=name, opset=opset,
                           tensors_to_rename=tensors_to_rename)


def graph_def_to_onnx(graph_def: Any, input_names: list[str], output_names: list[str], *, name: str,
                      opset: int = DEFAULT_OPSET, tensors_to_rename: dict[str, str] | None = None,
                      initialized_tables: dict | None = None) -> onnx.ModelProto:
    """Convert a frozen GraphDef to a checked ``onnx.ModelProto`` (tf2onnx's ``_convert_common``, repaired).

    The GraphDef's large constants are moved out of it (it is left without them).
    """
    return _convert_frozen([graph_def], input_names, output_names, name=name, opset=opset,
                           tensors_to_rename=tensors_to_rename, initialized_tables=initialized_tables)


def _convert_frozen(frozen: list[Any], input_names: list[str], output_names: list[str], *, name: str,
                    opset: int, tensors_to_rename: dict[str, str] | None = None,
                    initialized_tables: dict | None = None) -> onnx.ModelProto:
    """graph_def_to_onnx on ``frozen.pop()``: taking the only reference lets the weight-laden proto be freed."""
    tf = _tf()
    from tf2onnx.tf_utils import compress_graph_def
    from tf2onnx.tfonnx import process_tf_graph

    _register_tf2onnx_handlers()
    # Large constants leave the GraphDef before any TF pass (tf2onnx's large-model
    # path): TF then holds no second copy of the weights. We run no Grappler
    # constant folding either: on VGG16 it alone peaks near 9 GB, and it deletes
    # zero-initialised biases (an untrained model loses its BiasAdds). tf2onnx
    # folds constant subgraphs itself, with the values put back.
    graph_def = frozen.pop()
    const_values = compress_graph_def(graph_def)
    # Emptied fields keep their memory until the message dies: rebuild it light.
    light = type(graph_def)()
    light.CopyFrom(graph_def)
    graph_def = light
    del light
    gc.collect()
    graph_def = _inline_xla_calls(graph_def, input_names, output_names)
    _require_no_calls(graph_def, "after inlining XLA-compiled functions")
    with tf.device("/cpu:0"), tf.Graph().as_default() as tf_graph, _quiet_tf2onnx():
        tf.import_graph_def(graph_def, name="")
        del graph_def
        onnx_graph = process_tf_graph(
            tf_graph, continue_on_error=True, opset=opset, input_names=input_names,
            output_names=output_names, const_node_values=const_values,
            tensors_to_rename=tensors_to_rename, initialized_tables=initialized_tables)
    del const_values, tf_graph
    gc.collect()
    onnx_graph = _optimize_graph(onnx_graph)
    model = onnx_graph.make_model(f"converted from {name} by onnxlayer (tf2onnx)")
    del onnx_graph
    gc.collect()
    _drop_unused_opsets(model)
    check_complete(model)
    return model


def _drop_unused_opsets(model: Any) -> None:
    """tf2onnx always imports ai.onnx.ml; keep only the default domain and domains some node uses."""
    used = {node.domain for node in model.graph.node} | {""}
    kept = [opset for opset in model.opset_import if opset.domain in used]
    del model.opset_import[:]
    model.opset_import.extend(kept)


def _function_calls(graph_def: Any) -> Iterator[Any]:
    yield from (node for node in graph_def.node if node.op in _CALL_OPS)
    for function in graph_def.library.function:
        yield from (node for node in function.node_def if node.op in _CALL_OPS)


def _inline_xla_calls(graph_def: Any, input_names: list[str], output_names: list[str]) -> Any:
    """Let Grappler inline function bodies that were kept out of line for XLA.

    Freezing inlines every plain function; what remains is a call to a function
    marked for XLA (Keras' grouped-conv workaround, any ``jit_compile=True``). On
    CPU inference the mark only chooses a compiler, so dropping it keeps the maths.
    """
    if not any(True for _ in _function_calls(graph_def)):
        return graph_def
    for _ in range(8):  # nested jit functions need one round per level
        for function in graph_def.library.function:
            for attr in _NO_INLINE_ATTRS:
                if attr in function.attr:
                    del function.attr[attr]
        for node in _function_calls(graph_def):
            for attr in _NO_INLINE_ATTRS:
                if attr in node.attr:
                    del node.attr[attr]
        graph_def = _grappler(graph_def, input_names + output_names, ["function"])
        if not any(True for _ in _function_calls(graph_def)):
            break
    return graph_def


def _grappler(graph_def: Any, fetch: list[str], optimizers: list[str]) -> Any:
    """Run only the named Grappler optimizers, keeping ``fetch`` tensors (tf2onnx's tf_optimize_grappler, narrowed)."""
    tf = _tf()
    from tensorflow.core.protobuf import config_pb2, meta_graph_pb2
    from tensorflow.python.grappler import tf_optimizer

    config = config_pb2.ConfigProto()
    config.graph_options.rewrite_options.optimizers[:] = optimizers
    config.graph_options.rewrite_options.min_graph_nodes = -1  # also optimise tiny graphs
    with tf.Graph().as_default():
        meta_graph = tf.compat.v1.train.export_meta_graph(graph_def=graph_def)
    keep = meta_graph_pb2.CollectionDef()
    keep.node_list.value.extend(fetch)
    meta_graph.collection_def["train_op"].CopyFrom(keep)
    return tf_optimizer.OptimizeGraph(config, meta_graph)


def _require_no_calls(graph_def: Any, when: str) -> None:
    left = Counter(node.op for node in graph_def.node if node.op in _CALL_OPS)
    if left:
        raise IncompleteConversionError(
            f"TensorFlow function calls remain {when}: {dict(left)}; tf2onnx cannot convert them"
        )


def _optimize_graph(graph: Any) -> Any:
    """tf2onnx's ``optimizer.optimize_graph`` with catch-errors semantics but bounded memory.

    Like tf2onnx, each pass runs on a copy so a failing pass is skipped with the
    graph untouched. Unlike it, the copies share the constant tensors, and
    garbage is collected after each pass (Node <-> Graph references form cycles
    that plain reference counting never frees).
    """
    from tf2onnx import optimizer

    passes = optimizer._get_optimizers()  # pylint: disable=protected-access
    before = graph.dump_node_statistics()
    iteration, changed = 0, True
    # A full collection walks every object TensorFlow created (half the time on
    # ResNet50); frozen objects are skipped, so each collection sees only what
    # the passes made.
    gc.collect()
    gc.freeze()
    try:
        while changed:
            changed = False
            for pass_name, factory in passes.items():
                _strip_constant_protos(graph)
                shared = {id(attr): attr for attr in _constant_attrs(graph)}
                working = copy.deepcopy(graph, shared)
                del shared
                try:
                    opt = factory()
                    graph = opt.optimize(working, iteration) or graph
                    changed = changed or opt.graph_been_opt
                except Exception:  # noqa: BLE001 - tf2onnx's own policy: skip a failing pass
                    _log.warning("tf2onnx optimizer pass %s failed; skipped", pass_name, exc_info=True)
                del working
                gc.collect()
            iteration += 1
    finally:
        gc.unfreeze()
    try:
        graph.topological_sort(graph.get_nodes())
    except Exception:  # noqa: BLE001
        _log.warning("tf2onnx topological sort failed", exc_info=True)
    _log.debug("optimizer: %s -> %s", dict(before), dict(graph.dump_node_statistics()))
    return graph


def _strip_constant_protos(graph: Any) -> None:
    """Give constant nodes a NodeProto without attributes.

    Each pass ends with ``update_proto``, which copies every attribute, tensor
    included, into the node's NodeProto; deep-copying that proto would copy the
    weights again. The proto is rebuilt from the node's attributes at the next
    ``update_proto``, and nothing in tf2onnx reads a node's attributes from it.
    """
    for node in _nodes(graph):
        proto = node._op  # pylint: disable=protected-access
        if node.is_const() and len(proto.attribute):
            node._op = type(proto)(name=proto.name, op_type=proto.op_type, domain=proto.domain,
                                   input=proto.input, output=proto.output, doc_string=proto.doc_string)


def _nodes(graph: Any) -> Iterator[Any]:
    for node in graph.get_nodes():
        yield node
        for body in (node.get_body_graphs() or {}).values():
            yield from _nodes(body)


def _constant_attrs(graph: Any) -> Iterator[Any]:
    for node in _nodes(graph):
        if node.is_const() and "value" in node.attr:
            yield node.attr["value"]


_HANDLERS_REGISTERED = False


def _register_tf2onnx_handlers() -> None:
    """Register handlers for TF ops tf2onnx 1.17 lacks (only those it still lacks)."""
    global _HANDLERS_REGISTERED
    if _HANDLERS_REGISTERED:
        return
    import numpy as np
    from tf2onnx import utils
    from tf2onnx.handler import tf_op

    known = {op for opset in tf_op.get_opsets().get("", []) for op in opset}
    if "Erfc" not in known:

        @tf_op("Erfc")
        class Erfc:  # noqa: F841 - registered by the decorator
            """erfc(x) = 1 - erf(x); Keras' exact Gelu emits it."""

            @classmethod
            def version_9(cls, ctx: Any, node: Any, **kwargs: Any) -> None:
                dtype = utils.map_onnx_to_numpy_type(ctx.get_dtype(node.input[0]))
                one = ctx.make_const(utils.make_name(f"{node.name}_one"), np.array(1, dtype=dtype))
                node.type = "Erf"
                sub = ctx.insert_new_node_on_output("Sub", node.output[0], name=utils.make_name(node.name))
                ctx.replace_inputs(sub, [one.output[0], node.output[0]])

    _HANDLERS_REGISTERED = True


@contextlib.contextmanager
def _quiet_tf2onnx() -> Iterator[None]:
    """tf2onnx logs every unsupported op at ERROR; we report them ourselves (check_complete)."""
    logger = logging.getLogger("tf2onnx")
    level = logger.level
    logger.setLevel(max(level, logging.CRITICAL) if _log.getEffectiveLevel() > logging.DEBUG else level)
    try:
        yield
    finally:
        logger.setLevel(level)
