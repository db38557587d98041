"""onnxapi: the part of onnx the analysis uses, without the package's Python layer.

Each function is checked against the onnx function it stands for (helper.get_attribute_value,
numpy_helper.to_array, shape_inference.infer_shapes, OpSchema.function_body and
Attribute.default_value, defs.onnx_opset_version), and the light load against the package: the
command's analysis never imports onnx's `__init__`, and onnx imported afterwards works and hands
out the same classes.
"""
from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import helper, numpy_helper

from onnxlayer import onnxapi
from test_imports import loaded_after, model_path  # noqa: F401  (the fixture)

A = onnx.AttributeProto


def test_the_classes_are_onnx_s():
    for name in onnxapi.PROTOS:
        assert getattr(onnxapi, name) is getattr(onnx, name)
    assert onnxapi.helper is helper


ATTRIBUTES = [
    helper.make_attribute("f", 0.25), helper.make_attribute("i", -3), helper.make_attribute("s", "text"),
    helper.make_attribute("t", numpy_helper.from_array(np.arange(3, dtype=np.float32))),
    helper.make_attribute("g", helper.make_graph([], "g", [], [])),
    helper.make_attribute("tp", helper.make_tensor_type_proto(onnx.TensorProto.FLOAT, [2])),
    helper.make_attribute("fs", [1.5, 2.5]), helper.make_attribute("is", [1, 2, 3]), helper.make_attribute("ss", ["a", "b"]),
    helper.make_attribute("ts", [numpy_helper.from_array(np.ones(2, dtype=np.int64))]),
    helper.make_attribute("gs", [helper.make_graph([], "h", [], [])]),
    helper.make_attribute("tps", [helper.make_tensor_type_proto(onnx.TensorProto.INT64, [])]),
    helper.make_attribute("sp", helper.make_sparse_tensor(numpy_helper.from_array(np.ones(1, np.float32)),
                                                          numpy_helper.from_array(np.zeros(1, np.int64)), [3])),
    A(name="u", type=A.UNDEFINED),
]


@pytest.mark.parametrize("attr", ATTRIBUTES, ids=lambda a: A.AttributeType.Name(a.type))
def test_attribute_value_is_helpers(attr):
    assert onnxapi.attribute_value(attr) == helper.get_attribute_value(attr)
    assert type(onnxapi.attribute_value(attr)) is type(helper.get_attribute_value(attr))


@pytest.mark.parametrize("attr", [A(name="r", type=A.INT, ref_attr_name="outer")])
def test_attribute_value_refuses_what_helper_refuses(attr):
    with pytest.raises(ValueError):
        helper.get_attribute_value(attr)
    with pytest.raises(ValueError):
        onnxapi.attribute_value(attr)


def _tensors():
    """Every element type, held in raw_data and in its typed field, and scalars."""
    rng = np.random.default_rng(0)
    for dtype in (np.float32, np.float64, np.int64, np.int32, np.int8, np.uint8, np.uint32, np.uint64, np.float16,
                  np.int16, np.uint16, np.bool_, np.complex64):
        values = (rng.standard_normal((2, 3)) * 50).astype(dtype)
        raw = numpy_helper.from_array(values, "raw")
        yield f"{np.dtype(dtype).name}-raw", raw
        typed = helper.make_tensor("typed", raw.data_type, values.shape, values.flatten().tolist()
                                   if dtype != np.complex64 else values.flatten())
        yield f"{np.dtype(dtype).name}-typed", typed
        yield f"{np.dtype(dtype).name}-scalar", numpy_helper.from_array(values[0, 0].reshape(()), "scalar")
    yield "string", numpy_helper.from_array(np.array(["a", "bc"], dtype=object), "s")
    yield "uint4", helper.make_tensor("q", onnx.TensorProto.UINT4, [3], [1, 7, 15])


@pytest.mark.parametrize("name, tensor", list(_tensors()), ids=lambda v: v if isinstance(v, str) else "")
def test_to_array_is_numpy_helpers(name, tensor):
    expected, got = numpy_helper.to_array(tensor), onnxapi.to_array(tensor)
    assert got.dtype == expected.dtype and got.shape == expected.shape
    if expected.dtype == object:  # strings: the bytes of an object array are pointers
        assert got.tolist() == expected.tolist()
    else:
        assert got.tobytes() == expected.tobytes()


def test_infer_shapes_is_onnxs():
    graph = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["y"]), helper.make_node("Relu", ["y"], ["z"])], "g",
                              [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, ["N", 4])],
                              [helper.make_tensor_value_info("z", onnx.TensorProto.FLOAT, None)],
                              [numpy_helper.from_array(np.ones((4, 5), np.float32), "w")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    for options in ({}, {"data_prop": True}, {"check_type": True, "strict_mode": True}):
        assert onnxapi.infer_shapes(model, **options) == onnx.shape_inference.infer_shapes(model, **options)
    assert onnxapi.infer_shapes(model.SerializeToString()) == onnx.shape_inference.infer_shapes(model)


def test_schema_fields_are_onnxs():
    for op_type, version in (("Swish", 24), ("LayerNormalization", 17), ("Celu", 12), ("Conv", 11), ("Relu", 14)):
        try:
            schema = onnx.defs.get_schema(op_type, version)
        except onnx.defs.SchemaError:
            continue
        assert onnxapi.function_body(schema) == schema.function_body
        for name, spec in schema.attributes.items():
            assert onnxapi.default_value(spec) == spec.default_value, (op_type, name)
    assert onnxapi.defs.onnx_opset_version() == onnx.defs.onnx_opset_version()
    assert onnxapi.defs.onnx_ml_opset_version() == onnx.defs.onnx_ml_opset_version()
    assert onnxapi.version() == onnx.__version__
    assert onnxapi._load_by_files() is False  # onnx is imported here: nothing to load by file


def test_the_command_analyses_without_onnx_s_python_layer(model_path):  # noqa: F811
    """What `entry_point` does: the light load, then the command. onnx's generated classes and
    extension are there; its package, helpers and numpy_helper are not."""
    modules = loaded_after("import contextlib, io\nfrom onnxlayer import onnxapi\nonnxapi.load_lightly()\n"
                           "from onnxlayer.cli import main\n"
                           "with contextlib.redirect_stdout(io.StringIO()):\n"
                           f"    assert main(['analyze', {model_path!r}, '--format', 'json']) == 0")
    assert {"onnx.onnx_ml_pb2", "onnx.onnx_cpp2py_export", "onnxlayer.fusion"} <= modules
    assert not {"onnx", "onnx.helper", "onnx.numpy_helper", "onnx.reference"} & modules


def test_onnx_imported_after_the_light_load_is_whole():
    loaded_after("from onnxlayer import onnxapi\nonnxapi.load_lightly()\nclasses = onnxapi.ModelProto, onnxapi.TensorProto\n"
                 "import onnx, onnx.numpy_helper, onnx.reference\n"
                 "assert (onnx.ModelProto, onnx.TensorProto) == classes\n"
                 "assert onnx.onnx_ml_pb2.ModelProto is classes[0] and onnx.onnx_cpp2py_export.ONNX_ML\n"
                 "assert onnx.onnx_pb.TensorProto is classes[1]\n"
                 "node = onnx.helper.make_node('Relu', ['x'], ['y'])\n"
                 "graph = onnx.helper.make_graph([node], 'g', [onnx.helper.make_tensor_value_info('x', 1, [2])],"
                 " [onnx.helper.make_tensor_value_info('y', 1, [2])])\n"
                 "model = onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid('', 17)])\n"
                 "onnx.checker.check_model(model)\n"
                 "assert onnx.shape_inference.infer_shapes(model).graph.output[0].type.tensor_type.shape.dim[0].dim_value == 2\n"
                 "assert onnx.defs.get_schema('Relu').function_body is not None\n"
                 "import numpy as np\n"
                 "out = onnx.reference.ReferenceEvaluator(model).run(None, {'x': np.array([-1.0, 2.0], np.float32)})\n"
                 "assert out[0].tolist() == [0.0, 2.0]\n"
                 "assert onnxapi._load_by_files() is False")


def test_the_operator_table_needs_neither_onnx_nor_numpy():
    """`onnxlayer ops` after the command's light load: the registry reads schemas from the
    extension and defines its functions without computing with arrays."""
    modules = loaded_after("import contextlib, io\nfrom onnxlayer import onnxapi\nonnxapi.load_lightly()\n"
                           "from onnxlayer.cli import main\n"
                           "with contextlib.redirect_stdout(io.StringIO()):\n    assert main(['ops']) == 0")
    assert "onnxlayer.registry" in modules
    assert not {"onnx", "numpy"} & modules


def test_the_light_load_waits_for_the_first_use():
    """`onnxlayer --version` after the light load: no part of onnx or protobuf is loaded."""
    modules = loaded_after("from onnxlayer import onnxapi\nonnxapi.load_lightly()\nfrom onnxlayer.cli import main\n"
                           "import contextlib, io\n"
                           "with contextlib.redirect_stdout(io.StringIO()):\n"
                           "    try:\n        main(['--version'])\n    except SystemExit:\n        pass")
    assert not [m for m in modules if m == "onnx" or m.startswith(("onnx.", "google"))]
