"""Stored values read without numpy: `RawValues` against numpy's reading of the same bytes, the
view's constants decoded on first read, and an analysis of a small CNN that never imports numpy
(its W as SPEC §3 counts it)."""
from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import helper, numpy_helper

from onnxlayer.graph import RAW_FORMATS, Constants, RawValues
from onnxlayer.summary import _one_value
from test_imports import loaded_after

T = onnx.TensorProto
DTYPES = {T.FLOAT: np.float32, T.FLOAT16: np.float16, T.DOUBLE: np.float64, T.INT8: np.int8, T.UINT8: np.uint8}


def _cases():
    rng = np.random.default_rng(1)
    for data_type, dtype in DTYPES.items():
        floats = np.issubdtype(dtype, np.floating)
        yield data_type, (rng.standard_normal((3, 4)) * 20).astype(dtype)
        yield data_type, np.zeros((2, 5), dtype)
        yield data_type, np.full(7, 3, dtype)
        yield data_type, np.array([1, 2, 1], dtype)  # equal ends, not one value
        if floats:
            yield data_type, np.array([0.0, -0.0, 0.0], dtype)  # one value as numbers, not as bits
            yield data_type, np.array([np.nan, 1.0, np.nan], dtype)
            yield data_type, np.array([-0.0, -0.0], dtype)
            yield data_type, np.array([np.inf, np.inf, np.inf], dtype)


@pytest.mark.parametrize("data_type, values", list(_cases()))
def test_raw_values_read_as_numpy_does(data_type, values):
    raw = RawValues.of(data_type, values.shape, values.tobytes())
    flat = values.reshape(-1)
    assert raw.size == values.size and raw.shape == values.shape and raw.dtype_str == values.dtype.str
    assert raw.end_bytes() == (flat[:1].tobytes(), flat[-1:].tobytes())
    assert raw.item(0) == flat[0] or (np.isnan(raw.item(0)) and np.isnan(flat[0]))
    assert bool(not raw.item(0)) == bool(not flat[0])
    one = raw.one_value()
    assert one is None or one == _one_value(values)
    if data_type in (T.FLOAT, T.DOUBLE):
        assert raw.float64_bytes() == np.asarray(values, dtype=np.float64).tobytes()
    else:
        assert raw.float64_bytes() is None


def test_raw_values_undecided_only_where_the_bits_differ():
    assert RawValues.of(T.FLOAT, (3,), np.array([0.0, -0.0, 0.0], np.float32).tobytes()).one_value() is None
    assert RawValues.of(T.INT8, (3,), np.array([1, 2, 1], np.int8).tobytes()).one_value() is False


def test_raw_values_refuse_what_does_not_fit():
    assert RawValues.of(T.FLOAT, (2, 2), b"\0" * 12) is None  # 3 floats for 4 elements
    assert RawValues.of(T.INT64, (1,), b"\0" * 8) is None  # not a type it reads
    assert RawValues.of(T.FLOAT, (0,), b"") is None
    assert set(RAW_FORMATS) == set(DTYPES)


def test_constants_decode_on_first_read():
    good = numpy_helper.from_array(np.arange(4, dtype=np.float32), "good")
    bad = onnx.TensorProto(name="bad", data_type=T.FLOAT, dims=[4], raw_data=b"\0" * 3)  # does not decode
    constants = Constants()
    constants.defer_initializer(good)
    constants.defer_initializer(bad)
    assert dict.__len__(constants) == 0 and set(constants.pending) == {"good", "bad"}
    assert constants.raw("good").shape == (4,) and constants.raw("bad") is None
    assert "good" in constants and constants["good"].tolist() == [0, 1, 2, 3]
    assert constants.raw("good") is None  # decoded: read as an array from now on
    assert "bad" not in constants and constants.get("bad") is None and "bad" not in constants.pending
    with pytest.raises(KeyError):
        constants["bad"]


def test_a_constant_node_stands_before_its_initializer_and_a_set_value_before_both():
    init = numpy_helper.from_array(np.ones(2, np.float32), "c")
    constants = Constants()
    constants.defer_initializer(init)
    constants.defer("c", lambda: np.zeros(2))
    assert constants.raw("c") is None  # not the initializer's values any more
    assert constants["c"].tolist() == [0, 0]
    fallback = Constants()
    fallback.defer_initializer(init)
    fallback.defer("c", lambda: None)  # a Constant node whose value does not decode
    assert fallback["c"].tolist() == [1, 1]
    overridden = Constants()
    overridden.defer_initializer(init)
    overridden.update({"c": np.full(2, 5.0)})
    assert overridden["c"].tolist() == [5, 5] and not overridden.pending


@pytest.fixture(scope="module")
def small_cnn(tmp_path_factory) -> str:
    """Conv → c·σ(a·c + b) (per-channel a, b) → Conv → Relu, with zero biases: the weights of two
    convolutions have sizes of their own, the biases share one (their values are read)."""
    rng = np.random.default_rng(2)
    inits = [numpy_helper.from_array(rng.standard_normal((8, 3, 3, 3)).astype(np.float32), "w1"),
             numpy_helper.from_array(np.zeros(8, np.float32), "b1"),
             numpy_helper.from_array(rng.standard_normal((1, 8, 1, 1)).astype(np.float32), "scale"),
             numpy_helper.from_array(rng.standard_normal((1, 8, 1, 1)).astype(np.float32), "shift"),
             numpy_helper.from_array(rng.standard_normal((8, 8, 3, 3)).astype(np.float32), "w2"),
             numpy_helper.from_array(np.zeros(8, np.float32), "b2")]
    nodes = [helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1]),
             helper.make_node("Mul", ["c1", "scale"], ["m"]), helper.make_node("Add", ["m", "shift"], ["a"]),
             helper.make_node("Sigmoid", ["a"], ["s"]), helper.make_node("Mul", ["c1", "s"], ["r1"]),
             helper.make_node("Conv", ["r1", "w2", "b2"], ["c2"], strides=[2, 2]), helper.make_node("Relu", ["c2"], ["y"])]
    graph = helper.make_graph(nodes, "cnn", [helper.make_tensor_value_info("x", T.FLOAT, [1, 3, 16, 16])],
                              [helper.make_tensor_value_info("y", T.FLOAT, None)], inits)
    path = tmp_path_factory.mktemp("raw") / "cnn.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    return str(path)


def test_a_cnn_is_analysed_without_numpy(small_cnn, tmp_path):
    """As the command runs it (onnx's Python layer and numpy left out), twice: the second run
    reads its fits from the cache, and imports neither. W: both kernels and both zero biases
    (SPEC §3: a bias read by one layer counts, zero or not); the per-channel scale and shift
    define the fused unary chain's function (fitted once per channel) and are not counted."""
    code = ("import contextlib, io, json, os, sys\n"
            f"os.environ['ONNXLAYER_CACHE_DIR'] = {str(tmp_path)!r}\n"
            "from onnxlayer import onnxapi\nonnxapi.load_lightly()\nfrom onnxlayer.cli import main\n"
            "out = io.StringIO()\n"
            f"with contextlib.redirect_stdout(out):\n    assert main(['analyze', {small_cnn!r}, '--format', 'json']) == 0\n"
            "summary = json.loads(out.getvalue())['summary']\n"
            "assert summary['params'] == 8 * 27 + 8 + 8 * 72 + 8, summary['params']\n"
            "assert [leaf['op_type'] for leaf in json.loads(out.getvalue())['leaves']] == ['Conv', 'FusedUnary', 'Conv', 'Relu']\n")
    loaded_after(code)  # the first run fills the fit cache
    assert "numpy" not in loaded_after(code)


def test_a_view_that_lets_its_inferred_types_go_reads_its_constants_from_the_copy(monkeypatch):
    """A large graph's view keeps its model without the inferred types (a copy: prepare's
    `_forget_inferred_types`); the constants not decoded yet then read the copy's initializers,
    not the model that is let go (whose every part they would keep alive)."""
    from onnxlayer import prepare as prepare_module

    monkeypatch.setattr(prepare_module, "FORGOTTEN_TYPES", 1)
    nodes = [helper.make_node("Mul", ["x", "a"], ["m"]), helper.make_node("Add", ["m", "b"], ["y"])]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", T.FLOAT, [2, 3])],
                              [helper.make_tensor_value_info("y", T.FLOAT, None)],
                              [numpy_helper.from_array(np.full(3, 2, np.float32), "a"),
                               numpy_helper.from_array(np.full(3, 5, np.float32), "b")])
    view = prepare_module.prepare(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]))
    assert not view.model.graph.value_info and set(view.constants.pending) >= {"a", "b"}
    copy = next(init for init in view.model.graph.initializer if init.name == "a")
    copy.raw_data = np.full(3, 7, np.float32).tobytes()  # a change to the copy is what the constants read
    assert view.constants["a"].tolist() == [7, 7, 7] and view.constants["b"].tolist() == [5, 5, 5]
