"""Framework front-ends (onnxlayer.converters).

Unmarked tests need only onnx: format detection, pickle refusal, missing-extra
messages, the completeness check. Tests marked ``tensorflow`` / ``torch`` convert
small models built here (run them with ``pytest -m tensorflow`` / ``-m torch``).
"""

from __future__ import annotations

import builtins
import pathlib
import pickle
import re
import subprocess
import sys
import zipfile

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from onnxlayer import converters
from onnxlayer.converters import (
    ConverterError,
    IncompleteConversionError,
    MissingFrameworkError,
    PickleRefusedError,
    UnsupportedFormatError,
    check_complete,
    convert,
    detect_format,
)

TF_LEFTOVERS = {"StatefulPartitionedCall", "PartitionedCall", "Erfc"}


def _relu_model() -> onnx.ModelProto:
    graph = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["y"])], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])


def _zip(path: pathlib.Path, names: list[str]) -> pathlib.Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name in names:
            archive.writestr(name, b"x")
    return path


class _TouchOnLoad:
    """Unpickling this creates a file: proof of whether anything was unpickled."""

    def __init__(self, sentinel: str) -> None:
        self.sentinel = sentinel

    def __reduce__(self):  # noqa: D105
        return (pathlib.Path.touch, (pathlib.Path(self.sentinel),))


# ---------------------------------------------------------------------------
# Fast tests: no framework needed
# ---------------------------------------------------------------------------


def test_detect_onnx_by_content_and_extension(tmp_path):
    onnx.save(_relu_model(), tmp_path / "m.onnx")
    (tmp_path / "m.onnx").rename(tmp_path / "m.bin.model")
    assert detect_format(tmp_path / "m.bin.model") == "onnx"
    onnx.save(_relu_model(), tmp_path / "n.onnx")
    assert detect_format(tmp_path / "n.onnx") == "onnx"


def test_detect_keras_h5_pt2_pickle(tmp_path):
    assert detect_format(_zip(tmp_path / "m.keras", ["metadata.json", "config.json", "model.weights.h5"])) == "keras"
    # Content wins over a misleading extension.
    assert detect_format(_zip(tmp_path / "m.zip", ["config.json", "model.weights.h5"])) == "keras"
    (tmp_path / "w.h5").write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 32)
    assert detect_format(tmp_path / "w.h5") == "h5"
    assert detect_format(_zip(tmp_path / "m.pt2", ["m/archive_format", "m/models/m.json"])) == "pt2"
    assert detect_format(_zip(tmp_path / "m.pt", ["archive/data.pkl", "archive/version"])) == "pickle"
    (tmp_path / "legacy.pth").write_bytes(pickle.dumps({"w": [1, 2]}, protocol=2))
    assert detect_format(tmp_path / "legacy.pth") == "pickle"


def test_detect_saved_model_directory(tmp_path):
    (tmp_path / "saved_model.pb").write_bytes(b"")
    assert detect_format(tmp_path) == "savedmodel"
    with pytest.raises(UnsupportedFormatError, match="saved_model.pb"):
        detect_format(tmp_path / "..")


def test_detect_unknown_lists_known_formats(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(UnsupportedFormatError, match="savedmodel"):
        detect_format(tmp_path / "notes.txt")
    with pytest.raises(UnsupportedFormatError, match="does not exist"):
        detect_format(tmp_path / "missing.onnx")


def test_detect_opens_regular_files_only(tmp_path):
    """A FIFO would block the sniffing read, a device never ends: both are refused without reading."""
    import os

    from onnxlayer.errors import ModelLoadError

    os.mkfifo(tmp_path / "model")
    with pytest.raises(ModelLoadError, match="model: is a FIFO, not a regular file"):
        detect_format(tmp_path / "model")
    (tmp_path / "null.keras").symlink_to("/dev/null")
    with pytest.raises(ModelLoadError, match="null.keras: is a character device"):
        detect_format(tmp_path / "null.keras")
    (tmp_path / "dangling.h5").symlink_to(tmp_path / "gone")
    with pytest.raises(UnsupportedFormatError, match="does not exist"):
        detect_format(tmp_path / "dangling.h5")


def test_convert_reads_onnx_through_loading(tmp_path):
    """An .onnx path converts through onnxlayer's loading: its checks, one-line errors."""
    from onnxlayer.errors import ModelLoadError

    onnx.save(_relu_model(), tmp_path / "m.onnx")
    assert converters.convert(tmp_path / "m.onnx") == _relu_model()
    (tmp_path / "bad.onnx").write_bytes(b"\x08\x07garbage")
    with pytest.raises(ModelLoadError, match="bad.onnx: not an ONNX model"):
        converters.convert(tmp_path / "bad.onnx")


def test_pickle_is_refused_without_unpickling(tmp_path):
    sentinel = tmp_path / "unpickled"
    path = tmp_path / "model.pt"
    path.write_bytes(pickle.dumps(_TouchOnLoad(str(sentinel))))
    with pytest.raises(PickleRefusedError) as info:
        convert(path)
    message = str(info.value)
    assert "torch.export.save" in message and "torch.onnx.export" in message
    assert re.search(r"trust[-_]pickle", message)  # the API's trust_pickle or the CLI's --trust-pickle
    assert not sentinel.exists()
    # The zip flavour of torch.save is refused the same way.
    with pytest.raises(PickleRefusedError):
        convert(_zip(tmp_path / "zipped.pth", ["archive/data.pkl"]))


def test_convert_onnx_path_is_a_plain_load(tmp_path):
    onnx.save(_relu_model(), tmp_path / "m.onnx")
    assert [n.op_type for n in convert(tmp_path / "m.onnx").graph.node] == ["Relu"]


def _hide_module(monkeypatch, name: str) -> None:
    for loaded in [m for m in sys.modules if m == name or m.startswith(name + ".")]:
        monkeypatch.delitem(sys.modules, loaded)
    real_import = builtins.__import__

    def fake_import(module, *args, **kwargs):
        if module == name or module.startswith(name + "."):
            raise ModuleNotFoundError(f"No module named {module!r}", name=module)
        return real_import(module, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)
    monkeypatch.setitem(sys.modules, name, None)  # importlib.import_module raises ImportError on None


def test_missing_tensorflow_names_the_extra(tmp_path, monkeypatch):
    _hide_module(monkeypatch, "tensorflow")
    path = _zip(tmp_path / "m.keras", ["config.json", "model.weights.h5"])
    with pytest.raises(MissingFrameworkError) as info:
        convert(path)
    assert 'pip install "onnxlayer[tensorflow]"' in str(info.value)
    assert isinstance(info.value, ConverterError) and isinstance(info.value, ImportError)


def test_missing_torch_names_the_extra_and_the_wheel(tmp_path, monkeypatch):
    _hide_module(monkeypatch, "torch")
    path = _zip(tmp_path / "m.pt2", ["m/archive_format"])
    with pytest.raises(MissingFrameworkError) as info:
        convert(path)
    assert 'pip install "onnxlayer[torch]"' in str(info.value)
    assert "torch==2.13.0" in str(info.value)


def test_importing_converters_loads_no_framework():
    code = ("import sys, onnxlayer.converters, onnxlayer.converters.keras, onnxlayer.converters.torch; "
            "print(sorted(m for m in ('torch', 'tensorflow', 'keras', 'tf2onnx') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_check_complete_rejects_framework_ops():
    check_complete(_relu_model())
    model = _relu_model()
    model.graph.node.append(helper.make_node("StatefulPartitionedCall", ["y"], ["z"]))
    with pytest.raises(IncompleteConversionError, match="StatefulPartitionedCall"):
        check_complete(model)


def test_check_complete_on_large_models_checks_a_skeleton(monkeypatch):
    monkeypatch.setattr(converters, "_CHECK_IN_FULL_BELOW", 0)
    monkeypatch.setattr(converters, "_LARGE_TENSOR_BYTES", 16)
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"])], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 8])],
        [onnx.numpy_helper.from_array(np.ones((8, 8), np.float32), "w")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    check_complete(model)
    model.graph.node[0].input[1] = "missing"
    with pytest.raises(IncompleteConversionError, match="onnx.checker"):
        check_complete(model)


def test_convert_rejects_unknown_objects():
    with pytest.raises(UnsupportedFormatError, match="nn.Module"):
        convert(object())


def test_error_hierarchy():
    for error in (MissingFrameworkError, PickleRefusedError, UnsupportedFormatError, IncompleteConversionError):
        assert issubclass(error, converters.ConverterError)


# ---------------------------------------------------------------------------
# Helpers for the framework tests
# ---------------------------------------------------------------------------


def _op_types(model: onnx.ModelProto) -> set[str]:
    return {node.op_type for node in model.graph.node}


def _run_onnx(model: onnx.ModelProto, *inputs: np.ndarray) -> np.ndarray:
    ort = pytest.importorskip("onnxruntime")
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    feeds = {i.name: x for i, x in zip(session.get_inputs(), inputs, strict=True)}
    return session.run(None, feeds)[0]


# ---------------------------------------------------------------------------
# Keras / TensorFlow
# ---------------------------------------------------------------------------


def _keras_model(with_lambda: bool = False):
    keras = pytest.importorskip("keras")
    inputs = keras.Input((12, 12, 8), name="image")
    x = keras.layers.Conv2D(8, 3, groups=4, padding="same", name="grouped")(inputs)  # XLA path in Keras 3
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.Activation(lambda t: keras.activations.gelu(t, approximate=False))(x) if with_lambda \
        else keras.layers.Activation("gelu")(x)  # Keras' gelu defaults to exact: TF op Erfc
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(3)(x)
    return keras.Model(inputs, outputs, name="tiny")


@pytest.mark.tensorflow
def test_keras_grouped_conv_and_exact_gelu_convert():
    from onnxlayer.converters import keras as frontend

    model = _keras_model()
    proto = frontend.from_keras(model)
    ops = _op_types(proto)
    assert not ops & TF_LEFTOVERS
    assert {"Conv", "Erf"} <= ops
    conv = next(n for n in proto.graph.node if n.op_type == "Conv")
    assert helper.get_attribute_value(next(a for a in conv.attribute if a.name == "group")) == 4
    x = np.random.default_rng(0).normal(size=(2, 12, 12, 8)).astype(np.float32)
    np.testing.assert_allclose(_run_onnx(proto, x), model(x).numpy(), rtol=1e-4, atol=1e-5)
    # The batch dimension stays symbolic, named as the torch front-end names it.
    assert proto.graph.input[0].type.tensor_type.shape.dim[0].dim_param == converters.BATCH_DIM
    assert proto.graph.output[0].type.tensor_type.shape.dim[0].dim_param == converters.BATCH_DIM


@pytest.mark.tensorflow
@pytest.mark.parametrize("suffix", [".keras", ".h5"])
def test_keras_files(tmp_path, suffix):
    model = _keras_model()
    path = tmp_path / f"m{suffix}"
    model.save(path)
    assert detect_format(path) == ("keras" if suffix == ".keras" else "h5")
    proto = convert(path)
    assert not _op_types(proto) & TF_LEFTOVERS
    x = np.ones((1, 12, 12, 8), np.float32)
    np.testing.assert_allclose(_run_onnx(proto, x), model(x).numpy(), rtol=1e-4, atol=1e-5)


@pytest.mark.tensorflow
def test_keras_file_with_code_is_refused(tmp_path):
    keras = pytest.importorskip("keras")
    inputs = keras.Input((4,))
    model = keras.Model(inputs, keras.layers.Lambda(lambda t: t * 2)(inputs))
    model.save(tmp_path / "lambda.keras")
    with pytest.raises(ConverterError, match="safe_mode"):
        convert(tmp_path / "lambda.keras")


@pytest.mark.tensorflow
def test_saved_model_directory(tmp_path):
    model = _keras_model()
    model.export(str(tmp_path / "sm"), verbose=False)
    assert detect_format(tmp_path / "sm") == "savedmodel"
    proto = convert(tmp_path / "sm")
    assert not _op_types(proto) & TF_LEFTOVERS
    x = np.ones((1, 12, 12, 8), np.float32)
    np.testing.assert_allclose(_run_onnx(proto, x), model(x).numpy(), rtol=1e-4, atol=1e-5)


@pytest.mark.tensorflow
def test_saved_model_of_a_plain_tf_module(tmp_path):
    tf = pytest.importorskip("tensorflow")

    class Affine(tf.Module):
        def __init__(self) -> None:
            super().__init__()
            self.kernel = tf.Variable(np.arange(12, dtype=np.float32).reshape(4, 3))

        @tf.function(input_signature=[tf.TensorSpec([None, 4], tf.float32)])
        def __call__(self, x):
            return tf.nn.relu(tf.matmul(x, self.kernel) - 10.0)

    module = Affine()
    tf.saved_model.save(module, str(tmp_path / "affine"))
    proto = convert(tmp_path / "affine")
    assert {"MatMul", "Relu"} <= _op_types(proto)
    x = np.ones((2, 4), np.float32)
    np.testing.assert_allclose(_run_onnx(proto, x), module(x).numpy())


@pytest.mark.tensorflow
def test_tf_function_with_signature():
    tf = pytest.importorskip("tensorflow")
    kernel = tf.constant(np.arange(12, dtype=np.float32).reshape(4, 3))

    @tf.function(input_signature=[tf.TensorSpec([None, 4], tf.float32)])
    def affine(x):
        return tf.nn.relu(tf.matmul(x, kernel) - 10.0)

    proto = convert(affine, opset=17)
    assert {"MatMul", "Relu"} <= _op_types(proto)
    assert [(o.domain, o.version) for o in proto.opset_import] == [("", 17)]
    x = np.ones((2, 4), np.float32)
    np.testing.assert_allclose(_run_onnx(proto, x), affine(x).numpy())


@pytest.mark.tensorflow
def test_optimizer_copies_share_weights():
    """Each tf2onnx pass works on a copy; the copies must not duplicate weight tensors."""
    import copy

    from onnxlayer.converters import keras as frontend

    tf = pytest.importorskip("tensorflow")
    from tf2onnx.tfonnx import process_tf_graph

    with tf.Graph().as_default() as graph:
        x = tf.compat.v1.placeholder(tf.float32, [None, 64], name="x")
        tf.identity(tf.matmul(x, tf.constant(np.ones((64, 64), np.float32))), name="y")
    onnx_graph = process_tf_graph(graph, opset=18, input_names=["x:0"], output_names=["y:0"])
    attrs = list(frontend._constant_attrs(onnx_graph))
    assert attrs
    shared = {id(a): a for a in attrs}
    copied = copy.deepcopy(onnx_graph, shared)
    assert {id(a) for a in frontend._constant_attrs(copied)} == {id(a) for a in attrs}


# ---------------------------------------------------------------------------
# PyTorch
# ---------------------------------------------------------------------------


def _torch_cnn():
    torch = pytest.importorskip("torch")
    return torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.BatchNorm2d(8), torch.nn.ReLU(),
        torch.nn.Conv2d(8, 8, 3, padding=1, groups=8), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(),
        torch.nn.Linear(8, 5)).eval()


def _norm_then_conv():
    """ConvNeXt's downsampling (LayerNorm over a channels-last permute, then Conv2d): torch.export
    with a dynamic batch and a batch-1 example fails on it with "Invalid ranges [2:1]"."""
    torch = pytest.importorskip("torch")

    class ChannelsLastNorm(torch.nn.LayerNorm):
        def forward(self, x):
            return super().forward(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)

    return torch.nn.Sequential(ChannelsLastNorm(8), torch.nn.Conv2d(8, 16, 2, stride=2)).eval()


def _tiny_vit():
    torch = pytest.importorskip("torch")

    class TinyViT(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embed = torch.nn.Conv2d(3, 16, 4, stride=4)
            layer = torch.nn.TransformerEncoderLayer(16, 2, 32, dropout=0.0, batch_first=True)
            self.encoder = torch.nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
            self.head = torch.nn.Linear(16, 3)

        def forward(self, x):
            tokens = self.embed(x).flatten(2).transpose(1, 2)
            return self.head(self.encoder(tokens).mean(1))

    return TinyViT().eval()


def _attention_block():
    """nn.MultiheadAttention as torchvision's ViT uses it: fused kernel in eval under no_grad."""
    torch = pytest.importorskip("torch")

    class Block(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.norm = torch.nn.LayerNorm(16)
            self.attention = torch.nn.MultiheadAttention(16, 2, batch_first=True)

        def forward(self, x):
            y = self.norm(x)
            return x + self.attention(y, y, y, need_weights=False)[0]

    return Block().eval()


@pytest.mark.torch
@pytest.mark.parametrize("exporter", ["dynamo", "legacy"])
def test_torch_module_both_exporters_batch_one_stays_symbolic(exporter):
    import torch

    from onnxlayer.converters import torch as frontend

    model = _torch_cnn()
    proto = frontend.from_module(model, (torch.randn(1, 3, 8, 8),), exporter=exporter)
    assert {"Conv", "Relu", "Gemm"} & _op_types(proto)
    dim0 = proto.graph.input[0].type.tensor_type.shape.dim[0]
    assert dim0.dim_param == frontend.BATCH_DIM
    x = torch.randn(3, 3, 8, 8)
    with torch.no_grad():
        expected = model(x).numpy()
    np.testing.assert_allclose(_run_onnx(proto, x.numpy()), expected, rtol=1e-4, atol=1e-5)


@pytest.mark.torch
def test_dynamo_dynamic_batch_from_batch_one_example():
    import torch

    from onnxlayer.converters import torch as frontend

    model = _norm_then_conv()
    proto = frontend.from_module(model, torch.randn(1, 8, 8, 8), exporter="dynamo")
    assert proto.graph.input[0].type.tensor_type.shape.dim[0].dim_param == frontend.BATCH_DIM
    x = torch.randn(3, 8, 8, 8)
    with torch.no_grad():
        expected = model(x).numpy()
    np.testing.assert_allclose(_run_onnx(proto, x.numpy()), expected, rtol=1e-4, atol=1e-5)


@pytest.mark.torch
def test_torch_static_batch_option():
    import torch

    from onnxlayer.converters import torch as frontend

    proto = frontend.from_module(_torch_cnn(), torch.randn(1, 3, 8, 8), dynamic_batch=False)
    assert proto.graph.input[0].type.tensor_type.shape.dim[0].dim_value == 1


@pytest.mark.torch
@pytest.mark.parametrize("build, shape", [(_tiny_vit, (1, 3, 8, 8)), (_attention_block, (1, 5, 16))])
def test_legacy_exporter_on_attention_turns_fast_path_off(build, shape):
    """Without the fast path off, torch.onnx.export(dynamo=False) under no_grad fails on
    aten::_native_multi_head_attention / aten::_transformer_encoder_layer_fwd."""
    import torch

    from onnxlayer.converters import torch as frontend

    model = build()
    before = torch.backends.mha.get_fastpath_enabled()
    x = torch.randn(*shape)
    with torch.no_grad():
        proto = frontend.from_module(model, (x,), exporter="legacy")
        expected = model(x).numpy()
    assert torch.backends.mha.get_fastpath_enabled() == before
    np.testing.assert_allclose(_run_onnx(proto, x.numpy()), expected, rtol=1e-4, atol=1e-5)


@pytest.mark.torch
def test_exported_program_and_pt2_file(tmp_path):
    import torch

    model = _torch_cnn()
    x = torch.randn(2, 3, 8, 8)
    program = torch.export.export(model, (x,))
    proto = convert(program)
    assert "Conv" in _op_types(proto)
    torch.export.save(program, tmp_path / "m.pt2")
    assert detect_format(tmp_path / "m.pt2") == "pt2"
    from_file = convert(tmp_path / "m.pt2")
    with torch.no_grad():
        expected = model(x).numpy()
    np.testing.assert_allclose(_run_onnx(from_file, x.numpy()), expected, rtol=1e-4, atol=1e-5)


@pytest.mark.torch
def test_torch_save_pickles(tmp_path):
    import torch

    model = _torch_cnn()
    torch.save(model, tmp_path / "whole.pt")
    torch.save(model.state_dict(), tmp_path / "weights.pth")
    assert detect_format(tmp_path / "whole.pt") == "pickle"
    with pytest.raises(PickleRefusedError):
        convert(tmp_path / "whole.pt")
    proto = convert(tmp_path / "whole.pt", example_inputs=(torch.randn(1, 3, 8, 8),), trust_pickle=True)
    assert "Conv" in _op_types(proto)
    with pytest.raises(ConverterError, match="state_dict"):
        convert(tmp_path / "weights.pth", trust_pickle=True)


@pytest.mark.torch
def test_auto_exporter_falls_back_on_legacy(monkeypatch):
    import torch

    from onnxlayer.converters import torch as frontend

    def broken_dynamo(*args, **kwargs):
        raise RuntimeError("dynamo cannot trace this")

    monkeypatch.setattr(frontend, "_export_dynamo", broken_dynamo)
    proto = frontend.from_module(_torch_cnn(), (torch.randn(1, 3, 8, 8),), exporter="auto")
    assert "Conv" in _op_types(proto)
    with pytest.raises(ConverterError, match="dynamo cannot trace this"):
        frontend.from_module(_torch_cnn(), (torch.randn(1, 3, 8, 8),), exporter="dynamo")


@pytest.mark.torch
def test_nn_module_needs_example_inputs():
    with pytest.raises(ConverterError, match="example inputs"):
        convert(_torch_cnn())


@pytest.mark.torch
def test_unknown_exporter_is_refused():
    import torch

    with pytest.raises(ConverterError, match="auto"):
        convert(_torch_cnn(), (torch.randn(1, 3, 8, 8),), exporter="fx")

