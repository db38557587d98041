"""The part of onnx the analysis uses: the protobuf classes, the operator schemas and shape inference.

They come from two modules inside the onnx package: the generated protobuf module
(`onnx.onnx_ml_pb2`) and the C++ extension (`onnx.onnx_cpp2py_export`). In a library process onnx
is imported as usual and these are its own modules. The `onnxlayer` command calls `load_lightly()`
first: unless something imports onnx before the analysis needs them, the two modules are then
loaded from the package's directory under their own names, without running the package's
`__init__` (which imports numpy, the helpers, the reference evaluator, hub and compose: 60-75 ms
of a 0.25 s `analyze` of a CNN). When onnx itself is imported later (a probe, a converter,
`helper` or `numpy_helper` below), it finds the two modules in `sys.modules` and uses them, so the
classes are the same objects either way.

`helper` and `numpy_helper` are onnx's, imported on first use. `attribute_value`,
`function_body` and `default_value` do what onnx's Python layer does (helper.get_attribute_value,
OpSchema.function_body, OpSchema.Attribute.default_value) from the extension's own fields, so the
analysis never needs that layer on its common paths.
"""
from __future__ import annotations

import importlib.util
import os
import sys
from types import ModuleType
from typing import Any

_EXTENSION, _PROTOS = "onnx.onnx_cpp2py_export", "onnx.onnx_ml_pb2"


def _load_by_file(name: str, path: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module


#: Whether the command asked for the light load (`load_lightly`).
_light = False


def load_lightly() -> None:
    """From now on, load onnx's protobuf module and C++ extension by file, without the package's
    `__init__`, when the analysis first needs them (a command that needs neither, `--version`,
    loads nothing); unless onnx is imported by then."""
    global _light
    _light = True


def _load_by_files() -> bool:
    """Load the two modules by file; False (nothing loaded) when onnx is already imported, or
    loads only as a whole (another layout, a build without ONNX-ML)."""
    if "onnx" in sys.modules or _EXTENSION in sys.modules:
        return False
    spec = importlib.util.find_spec("onnx")
    if spec is None or not spec.submodule_search_locations:
        return False
    directory = spec.submodule_search_locations[0]
    extension = [f for f in os.listdir(directory) if f.startswith("onnx_cpp2py_export.") and f.endswith((".so", ".pyd"))]
    protos = os.path.join(directory, "onnx_ml_pb2.py")
    if len(extension) != 1 or not os.path.isfile(protos):
        return False
    module = _load_by_file(_EXTENSION, os.path.join(directory, extension[0]))
    if not getattr(module, "ONNX_ML", False):  # the package would pick another protobuf module
        del sys.modules[_EXTENSION]
        return False
    _load_by_file(_PROTOS, protos)
    sys.meta_path.insert(0, _BindWhenImported())
    return True


class _BindWhenImported:
    """A finder for onnx itself, imported after the light load: the package then finds the two
    modules in `sys.modules`, and this binds them on it as its own import would have
    (`onnx.onnx_ml_pb2`, `onnx.onnx_cpp2py_export`). Once: it gives the usual spec, whose loader
    binds them after running the package's `__init__`, and leaves `sys.meta_path`."""

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> Any:
        if name != "onnx":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec("onnx")
        if spec is None or spec.loader is None:
            return None
        run = spec.loader.exec_module

        def exec_module(module: ModuleType) -> None:
            run(module)
            for full in (_EXTENSION, _PROTOS):
                setattr(module, full.rpartition(".")[2], sys.modules[full])

        spec.loader.exec_module = exec_module
        return spec


def _modules() -> tuple[ModuleType, ModuleType]:
    """onnx's C++ extension and protobuf module, loaded on first use (by file after
    `load_lightly`, else by importing onnx)."""
    if _PROTOS not in sys.modules or _EXTENSION not in sys.modules:
        if not (_light and _load_by_files()):
            import onnx  # noqa: F401  (loads both)
    return sys.modules[_EXTENSION], sys.modules[_PROTOS]


#: The protobuf module's names this module passes on: the classes the analysis reads and builds.
PROTOS = frozenset({"ModelProto", "GraphProto", "NodeProto", "TensorProto", "SparseTensorProto", "AttributeProto",
                    "TypeProto", "TensorShapeProto", "ValueInfoProto", "FunctionProto", "OperatorSetIdProto",
                    "IR_VERSION"})


class _Defs:
    """onnx.defs: the names the analysis uses."""

    def __init__(self, extension: ModuleType) -> None:
        self.get_schema = extension.get_schema
        self.has = extension.has_schema
        self.SchemaError = extension.SchemaError
        self.OpSchema = extension.OpSchema
        self._versions = extension.schema_version_map

    def onnx_opset_version(self) -> int:
        return self._versions()[""][1]

    def onnx_ml_opset_version(self) -> int:
        return self._versions()["ai.onnx.ml"][1]


def infer_shapes(model: Any, check_type: bool = False, strict_mode: bool = False, data_prop: bool = False) -> Any:
    """onnx.shape_inference.infer_shapes: the model with its inferred value_infos (a new ModelProto)."""
    extension, protos = _modules()
    sent = model if isinstance(model, bytes) else model.SerializeToString()
    return protos.ModelProto.FromString(extension.shape_inference.infer_shapes(sent, check_type, strict_mode, data_prop))


def function_body(schema: Any) -> Any:
    """OpSchema.function_body: the function defining the operator (empty when it has none)."""
    return _modules()[1].FunctionProto.FromString(schema._function_body)


def default_value(attribute: Any) -> Any:
    """OpSchema.Attribute.default_value: an AttributeProto (type 0 when there is no default)."""
    return _modules()[1].AttributeProto.FromString(attribute._default_value)


#: An attribute's value by its AttributeProto type (FLOAT 1, INT 2, STRING 3, TENSOR 4, GRAPH 5,
#: FLOATS 6 ... TYPE_PROTOS 14): the field holding it, and whether it is repeated.
_VALUE_FIELDS = {1: ("f", False), 2: ("i", False), 3: ("s", False), 4: ("t", False), 11: ("sparse_tensor", False),
                 5: ("g", False), 13: ("tp", False), 6: ("floats", True), 7: ("ints", True), 8: ("strings", True),
                 9: ("tensors", True), 12: ("sparse_tensors", True), 10: ("graphs", True), 14: ("type_protos", True)}


def attribute_value(attr: Any) -> Any:
    """onnx.helper.get_attribute_value: the value of an attribute (a list for the repeated types,
    None for UNDEFINED); ValueError for a reference attribute or an unknown type."""
    if attr.ref_attr_name:
        raise ValueError(f"Cannot get value of reference attribute: {attr}")
    found = _VALUE_FIELDS.get(attr.type)
    if found is None:
        if attr.type == 0:  # UNDEFINED
            return None
        raise ValueError(f"Unsupported ONNX attribute: {attr}")
    name, repeated = found
    value = getattr(attr, name)
    return list(value) if repeated else value


def version() -> str:
    """The installed onnx's version (onnx.__version__), read from the package's metadata."""
    from importlib.metadata import version as installed

    return installed("onnx")


#: The numeric element types `to_array` reads itself: numpy type, and for data in the typed fields
#: (not raw_data) the field and the numpy type it is stored as.
_NUMERIC = {1: ("float32", "float_data", "float32"), 11: ("float64", "double_data", "float64"),
            7: ("int64", "int64_data", "int64"), 6: ("int32", "int32_data", "int32"), 3: ("int8", "int32_data", "int32"),
            2: ("uint8", "int32_data", "int32"), 12: ("uint32", "uint64_data", "uint64"),
            13: ("uint64", "uint64_data", "uint64")}


def to_array(tensor: Any) -> Any:
    """onnx.numpy_helper.to_array: a tensor's values as a numpy array. The common numeric types
    held in the file are read here (as onnx reads them, on a little-endian machine); the rest
    (strings, 16-, 8-, 4- and 2-bit floats and integers, external data, segments) by onnx."""
    import numpy as np

    found = _NUMERIC.get(tensor.data_type)
    if found is None or sys.byteorder != "little" or tensor.data_location == 1 or tensor.HasField("segment"):
        import onnx.numpy_helper

        return onnx.numpy_helper.to_array(tensor)
    dtype, field, stored = found
    if tensor.HasField("raw_data"):
        return np.frombuffer(tensor.raw_data, dtype=dtype).reshape(tensor.dims)
    return np.asarray(getattr(tensor, field), dtype=stored).astype(dtype).reshape(tensor.dims)


def __getattr__(name: str) -> Any:
    """The protobuf classes and `defs` (from the loaded modules), and the rest of onnx (`helper`,
    `numpy_helper`, ...: the package, imported on first use). Each name is resolved once."""
    if name.startswith("__"):
        raise AttributeError(name)
    if name in PROTOS:
        value = getattr(_modules()[1], name)
    elif name == "defs":
        value = _Defs(_modules()[0].defs)
    else:
        import onnx

        value = getattr(onnx, name)
    globals()[name] = value
    return value
