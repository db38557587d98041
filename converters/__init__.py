"""Framework front-ends: Keras/TensorFlow and PyTorch models in, ``onnx.ModelProto`` out.

Installed as ``onnxlayer.converters``. Importing this package imports neither
TensorFlow nor PyTorch: each front-end imports its framework when first called,
so the analyzer core stays light and a missing framework is reported with the
pip extra that installs it.

    from onnxlayer.converters import convert, detect_format
    proto = convert("model.keras")                    # .keras/.h5/SavedModel/.pt2/.onnx
    proto = convert(torch_module, example_inputs=(x,))
"""

from __future__ import annotations

import importlib
import os
from collections import Counter
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # onnx is imported where used: the package import stays cheap
    import onnx

DEFAULT_OPSET = 18
"""Opset for both front-ends: the newest tf2onnx 1.17 emits, and the dynamo exporter's own."""

BATCH_DIM = "batch"
"""Name both front-ends give a symbolic batch dimension (dim 0 of inputs and outputs)."""

__all__ = [
    "DEFAULT_OPSET",
    "BATCH_DIM",
    "ConverterError",
    "MissingFrameworkError",
    "PickleRefusedError",
    "UnsupportedFormatError",
    "IncompleteConversionError",
    "FORMATS",
    "detect_format",
    "convert",
    "require",
    "check_complete",
]


from onnxlayer.errors import ModelLoadError, OnnxLayerError


class ConverterError(OnnxLayerError):
    """Base class for every converter failure: the CLI reports it in one line, exit code 2."""


class MissingFrameworkError(ConverterError, ImportError):
    """The framework a model needs is not installed; the message names the pip extra."""


class PickleRefusedError(ConverterError, ModelLoadError):
    """A pickled checkpoint (.pt/.pth/.pkl) was refused: unpickling runs arbitrary code."""


class UnsupportedFormatError(ConverterError, ModelLoadError):
    """The path is not a model format onnxlayer can read."""


class IncompleteConversionError(ConverterError):
    """The exporter left framework ops or an invalid graph behind."""


# What to install per framework. torch first from a pinned version: a local CPU
# wheel exists for it on our machines, while any other spelling makes pip resolve
# the CUDA build (gigabytes).
_EXTRAS: dict[str, tuple[str, str]] = {
    "tensorflow": ("tensorflow", 'pip install "onnxlayer[tensorflow]"'),
    "tf2onnx": ("tensorflow", 'pip install "onnxlayer[tensorflow]"'),
    "keras": ("tensorflow", 'pip install "onnxlayer[tensorflow]"'),
    "torch": ("torch", 'pip install torch==2.13.0 && pip install "onnxlayer[torch]"'),
    "onnxscript": ("torch", 'pip install "onnxlayer[torch]"'),
}


def require(module: str) -> Any:
    """Import ``module`` or raise MissingFrameworkError naming the extra that provides it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        top = module.split(".")[0]
        extra, command = _EXTRAS.get(top, (top, f"pip install {top}"))
        raise MissingFrameworkError(
            f"converting this model needs {top!r}, which is not installed ({exc}); "
            f"install the '{extra}' extra: {command}"
        ) from exc


def check_complete(model: onnx.ModelProto) -> None:
    """Raise IncompleteConversionError unless every node is a registered ONNX op and the checker passes."""
    import onnx

    local_functions = {(f.domain, f.name) for f in model.functions}
    unknown: Counter = Counter()
    stack = [model.graph, *model.functions]
    while stack:
        graph = stack.pop()
        for node in graph.node:
            if (node.domain, node.op_type) in local_functions:
                continue
            if not onnx.defs.has(node.op_type, node.domain):
                unknown[(node.domain or "ai.onnx", node.op_type)] += 1
            for attr in node.attribute:
                if attr.type == onnx.AttributeProto.GRAPH:
                    stack.append(attr.g)
                stack.extend(attr.graphs)
    if unknown:
        listed = ", ".join(f"{op} ({domain}) x{n}" for (domain, op), n in sorted(unknown.items()))
        raise IncompleteConversionError(f"conversion left ops that are not ONNX: {listed}")
    # The checker works on a serialised copy: past a size, check the graph with
    # large weights declared as typed inputs instead (no copy of the weights;
    # only the data-length check of those initialisers is lost).
    checked = model if model.ByteSize() < _CHECK_IN_FULL_BELOW else _skeleton(model)
    try:
        onnx.checker.check_model(checked)
    except onnx.checker.ValidationError as exc:
        raise IncompleteConversionError(f"converted model fails onnx.checker: {exc}") from exc


_CHECK_IN_FULL_BELOW = 256 << 20
_LARGE_TENSOR_BYTES = 1 << 16


def _skeleton(model: onnx.ModelProto) -> onnx.ModelProto:
    """``model`` with initialisers over 64 KiB turned into graph inputs of the same type and shape."""
    import onnx

    skeleton = onnx.ModelProto(ir_version=model.ir_version, producer_name=model.producer_name,
                               opset_import=model.opset_import, functions=model.functions)
    graph = skeleton.graph
    graph.name = model.graph.name
    graph.node.extend(model.graph.node)
    graph.input.extend(model.graph.input)
    graph.output.extend(model.graph.output)
    graph.value_info.extend(model.graph.value_info)
    declared = {value.name for value in model.graph.input}
    for tensor in model.graph.initializer:
        if tensor.ByteSize() <= _LARGE_TENSOR_BYTES:
            graph.initializer.append(tensor)
        elif tensor.name not in declared:
            graph.input.append(onnx.helper.make_tensor_value_info(tensor.name, tensor.data_type, tensor.dims))
    return skeleton


# ---------------------------------------------------------------------------
# Format detection
# ---------------------------------------------------------------------------

FORMATS = ("onnx", "keras", "h5", "savedmodel", "pt2", "pickle")

_HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
_ZIP_MAGIC = b"PK\x03\x04"
_PICKLE_EXTENSIONS = (".pt", ".pth", ".pkl", ".pickle", ".bin", ".ckpt")


def _zip_names(fd: int) -> list[str]:
    """The member names of the zip archive open on `fd` (none if it is not a readable archive)."""
    import zipfile

    try:
        with os.fdopen(os.dup(fd), "rb") as handle, zipfile.ZipFile(handle) as archive:
            return archive.namelist()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        return []


def _looks_like_onnx(head: bytes) -> bool:
    # A ModelProto starts with field 1 (ir_version, varint: tag 0x08) in every
    # exporter we know of; onnx.save writes fields in number order.
    return len(head) > 2 and head[0] == 0x08 and 0 < head[1] < 0x20


def detect_format(path: str | os.PathLike) -> str:
    """Name the model format at ``path``: one of FORMATS. Reads content, falls back on the extension.

    Never unpickles anything: a pickle is recognised by its bytes, not by loading it. Only
    regular files are opened (`onnxlayer.loading.open_regular`): a FIFO or a device is refused,
    an unreadable file is a ModelLoadError naming it.
    """
    from onnxlayer.loading import open_regular

    path = os.fspath(path)
    if os.path.isdir(path):
        if any(os.path.exists(os.path.join(path, name)) for name in ("saved_model.pb", "saved_model.pbtxt")):
            return "savedmodel"
        raise UnsupportedFormatError(f"{path} is a directory without saved_model.pb; not a TensorFlow SavedModel")
    try:
        os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        raise UnsupportedFormatError(f"{path} does not exist") from None
    except OSError:
        pass  # there but unreadable (a directory above it, a loop): open_regular names why
    ext = os.path.splitext(path)[1].lower()
    with open_regular(path) as (fd, _):
        head = os.read(fd, 16)
        names = _zip_names(fd) if head.startswith(_ZIP_MAGIC) else []

    if head.startswith(_HDF5_MAGIC):
        return "h5"
    if head.startswith(_ZIP_MAGIC):
        base = {name.rsplit("/", 1)[-1] for name in names}
        if "config.json" in names and any(n.endswith(".weights.h5") or n.endswith(".h5") for n in names):
            return "keras"
        # torch.export.save writes an archive_format record reading "pt2" and a
        # serialized program; a plain torch.save zip has data.pkl and no program.
        if "archive_format" in base or any("serialized_exported_program" in n for n in names):
            return "pt2"
        if "data.pkl" in base:
            return "pickle"
        if ext == ".keras":
            return "keras"
        if ext == ".pt2":
            return "pt2"
        raise UnsupportedFormatError(f"{path} is a zip archive of no known model format")
    if head[:1] == b"\x80" and len(head) > 1 and 2 <= head[1] <= 5:
        return "pickle"  # pickle protocol 2..5 (legacy torch.save, joblib, pickle.dump)
    if ext == ".onnx" or _looks_like_onnx(head):
        return "onnx"
    if ext in _PICKLE_EXTENSIONS:
        return "pickle"
    if ext == ".pb":
        raise UnsupportedFormatError(
            f"{path} is a bare .pb file; pass the SavedModel directory that holds it instead"
        )
    raise UnsupportedFormatError(
        f"cannot tell the format of {path}; known formats: {', '.join(FORMATS)} "
        "(.onnx, .keras, .h5, SavedModel directory, .pt2)"
    )


def pickle_refusal_message(path: str) -> str:
    """Why a pickle is refused, and how to produce a format onnxlayer reads without trusting it."""
    return (
        f"{path} is a pickle (torch.save / pickle.dump): loading it would run arbitrary code, so onnxlayer "
        "does not unpickle it. Export the model where you trust it instead, e.g. "
        "torch.export.save(torch.export.export(model.eval(), (x,)), 'model.pt2') or "
        "torch.onnx.export(model.eval(), (x,), 'model.onnx'), and analyse that file "
        "(or pass --trust-pickle with --example-shape if you trust this file and it holds a whole nn.Module)"
    )


def convert(
    source: Any,
    example_inputs: Any = None,
    *,
    opset: int = DEFAULT_OPSET,
    trust_pickle: bool = False,
    **options: Any,
) -> onnx.ModelProto:
    """Convert a path or an in-memory model to an ``onnx.ModelProto``.

    ``source`` may be a path (see :func:`detect_format`), a Keras model, a
    ``tf.function``, a ``torch.nn.Module`` (needs ``example_inputs``) or a
    ``torch.export.ExportedProgram``. ``options`` go to the front-end
    (e.g. ``exporter="legacy"`` for torch, ``input_signature=...`` for TF).
    """
    if isinstance(source, (str, os.PathLike)):
        path = os.fspath(source)
        kind = detect_format(path)
        if kind == "onnx":
            from onnxlayer.loading import load_model

            return load_model(path)
        if kind in ("keras", "h5"):
            from . import keras as keras_frontend

            return keras_frontend.from_keras_file(path, opset=opset, **options)
        if kind == "savedmodel":
            from . import keras as keras_frontend

            return keras_frontend.from_saved_model(path, opset=opset, **options)
        if kind == "pt2":
            from . import torch as torch_frontend

            return torch_frontend.from_pt2(path, opset=opset, **options)
        if kind == "pickle":
            if not trust_pickle:
                raise PickleRefusedError(pickle_refusal_message(path))
            from . import torch as torch_frontend

            return torch_frontend.from_trusted_pickle(path, example_inputs, opset=opset, **options)
        raise UnsupportedFormatError(f"no front-end for format {kind!r}")  # pragma: no cover

    module_name = type(source).__module__ or ""
    top = module_name.split(".")[0]
    if top in ("torch", "torchvision") or _is_torch_object(source):
        from . import torch as torch_frontend

        return torch_frontend.convert_torch(source, example_inputs, opset=opset, **options)
    if top in ("keras", "tensorflow", "tf_keras") or _is_tf_object(source):
        from . import keras as keras_frontend

        return keras_frontend.convert_tf(source, opset=opset, **options)
    raise UnsupportedFormatError(
        f"cannot convert an object of type {type(source).__qualname__}; expected a path, a Keras model, "
        "a tf.function, a torch.nn.Module or a torch.export.ExportedProgram"
    )


def _is_torch_object(obj: Any) -> bool:
    # Only look at torch if it is already imported: a user model subclasses
    # nn.Module from its own package, so its __module__ says nothing.
    import sys

    torch = sys.modules.get("torch")
    if torch is None:
        return False
    return isinstance(obj, (torch.nn.Module, torch.export.ExportedProgram))


def _is_tf_object(obj: Any) -> bool:
    import sys

    keras = sys.modules.get("keras")
    if keras is not None and isinstance(obj, keras.Model):
        return True
    tf = sys.modules.get("tensorflow")
    if tf is None:
        return False
    return isinstance(obj, (tf.Module,)) or hasattr(obj, "get_concrete_function")
