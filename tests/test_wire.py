"""Loading a model file without parsing its large payloads (onnxlayer.wire, loading.load_for_analysis).

A file is analysed from its mapping with the payloads of large initializers cut out; the same
model given as bytes is parsed whole. Both must give the same result, W's detection of stored
copies included, and the same errors on damaged files.
"""
from __future__ import annotations

import numpy as np
import onnx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from onnx import TensorProto, helper, numpy_helper

import onnxlayer
from builders import model, value
from onnxlayer.errors import OnnxLayerError
from onnxlayer.loading import SMALL_CONSTANT, load_for_analysis
from onnxlayer.wire import strip_payloads

RNG = np.random.default_rng(7)
K, N = 400, 200  # 80,000 elements: past SMALL_CONSTANT (65,536)


def heavy() -> onnx.ModelProto:
    """x[1,K] · W[K,N] → Relu → · Wt[N,K] (W stored again transposed: a tied copy) → + b16 (float16,
    cast) → Relu → · V[K,4]. W = K·N (once) + K (bias) + 4K."""
    w = RNG.standard_normal((K, N)).astype(np.float32)
    inits = [numpy_helper.from_array(w, "W"), numpy_helper.from_array(np.ascontiguousarray(w.T), "Wt"),
             numpy_helper.from_array(RNG.standard_normal(K).astype(np.float16), "b16"),
             numpy_helper.from_array(RNG.standard_normal((K, 4)).astype(np.float32), "V")]
    nodes = [helper.make_node("MatMul", ["x", "W"], ["h"]), helper.make_node("Relu", ["h"], ["r"]),
             helper.make_node("MatMul", ["r", "Wt"], ["g"]), helper.make_node("Cast", ["b16"], ["b"], to=TensorProto.FLOAT),
             helper.make_node("Add", ["g", "b"], ["s"]), helper.make_node("Relu", ["s"], ["q"]),
             helper.make_node("MatMul", ["q", "V"], ["y"])]
    return model(nodes, [value("x", 1, K)], [value("y", 1, 4)], inits)


def test_the_payloads_of_large_initializers_are_cut_and_found_again():
    m = heavy()
    raw = m.SerializeToString()
    data, where = strip_payloads(memoryview(raw), SMALL_CONSTANT)
    assert set(where) == {"W", "Wt"}  # V (1,600) and b16 (400) are small: parsed with the model
    stripped = onnx.ModelProto()
    stripped.ParseFromString(data)
    for init, original in zip(stripped.graph.initializer, m.graph.initializer):
        assert (init.name, list(init.dims), init.data_type) == (original.name, list(original.dims), original.data_type)
        if init.name in where:
            offset, length = where[init.name]
            assert not init.raw_data and raw[offset:offset + length] == original.raw_data
        else:
            assert init.raw_data == original.raw_data
    assert stripped.graph.node == m.graph.node and len(data) < len(raw) - 2 * K * N * 4


def test_a_file_and_its_bytes_give_the_same_analysis(tmp_path):
    path = tmp_path / "heavy.onnx"
    path.write_bytes(heavy().SerializeToString())
    _, _, payloads = load_for_analysis(path)
    assert set(payloads) == {"W", "Wt"}
    from_file, from_bytes = onnxlayer.analyze(path).to_dict(), onnxlayer.analyze(path.read_bytes()).to_dict()
    assert from_file["summary"]["params"] == K * N + K + 4 * K  # the transposed copy counted once
    from_file["model"].pop("path"), from_bytes["model"].pop("path")
    assert from_file == from_bytes


def test_nothing_to_cut_is_parsed_whole(tmp_path):
    small = model([helper.make_node("Relu", ["x"], ["y"])], [value("x", 1, 4)], [value("y", 1, 4)])
    assert strip_payloads(memoryview(small.SerializeToString()), SMALL_CONSTANT) is None
    path = tmp_path / "small.onnx"
    path.write_bytes(small.SerializeToString())
    assert load_for_analysis(path)[2] == {}


def outcome(source) -> object:
    try:
        r = onnxlayer.analyze(source).to_dict()
    except OnnxLayerError as exc:
        return type(exc).__name__, str(exc).replace("bytes", "<source>")
    r["model"].pop("path")
    return r


HEAVY = heavy().SerializeToString()


@settings(max_examples=60, deadline=None, derandomize=True, database=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_damaged_files_end_as_their_bytes_do(tmp_path_factory, data):
    """Truncated or bit-flipped files: the cut path and the whole parse agree on result or error."""
    raw = bytearray(HEAVY)
    if data.draw(st.booleans(), label="truncate"):
        raw = raw[: data.draw(st.integers(1, len(raw)), label="cut")]
    for _ in range(data.draw(st.integers(0, 6), label="flips")):
        at = data.draw(st.integers(0, min(len(raw) - 1, 400)) | st.integers(0, len(raw) - 1), label="at")
        raw[at] ^= data.draw(st.integers(1, 255), label="xor")
    path = tmp_path_factory.mktemp("damaged") / "model.onnx"
    path.write_bytes(bytes(raw))
    from_file, from_bytes = outcome(path), outcome(bytes(raw))
    if isinstance(from_file, tuple):  # the file's errors name its path where the bytes' say "bytes"
        from_file = (from_file[0], from_file[1].replace(str(path), "<source>"))
    assert from_file == from_bytes


def _large_model(seed: int) -> onnx.ModelProto:
    """x · W with W of 1.2M floats (4.8 MB: past `Digest.THREADED`, hashed on its own thread)."""
    w = np.random.default_rng(seed).standard_normal((1200, 1000)).astype(np.float32)
    return model([helper.make_node("MatMul", ["x", "W"], ["y"])], [value("x", 1, 1200)], [value("y", 1, 1000)],
                 [numpy_helper.from_array(w, "W")])


def test_a_file_begun_early_is_the_file_analysed(tmp_path):
    """`begin_reading` (the command, before its imports) maps the file and starts its hash; the
    analysis then reads that mapping: the same result as from the file's bytes, the digest the
    file's SHA-256 (hashlib on the bytes read here)."""
    import hashlib

    from onnxlayer import loading

    path = tmp_path / "large.onnx"
    path.write_bytes(_large_model(0).SerializeToString())
    loading.begin_reading(path)
    assert str(path) in loading._begun
    begun = onnxlayer.analyze(path).to_dict()
    assert not loading._begun
    assert begun["model"]["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    from_bytes = onnxlayer.analyze(path.read_bytes()).to_dict()
    begun["model"].pop("path"), from_bytes["model"].pop("path")
    assert begun == from_bytes and begun["summary"]["params"] == 1200 * 1000


def test_a_file_replaced_after_it_was_begun_is_read_again(tmp_path):
    import hashlib
    import os

    from onnxlayer import loading

    path = tmp_path / "large.onnx"
    path.write_bytes(_large_model(0).SerializeToString())
    loading.begin_reading(path)
    replacement = tmp_path / "other.onnx"
    replacement.write_bytes(_large_model(1).SerializeToString())
    os.replace(replacement, path)  # another file under the same name
    assert onnxlayer.analyze(path).model.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert not loading._begun


def test_beginning_what_loading_refuses_begins_nothing(tmp_path):
    from onnxlayer import loading

    for path in (tmp_path / "missing.onnx", tmp_path):
        loading.begin_reading(path)
    (tmp_path / "small.onnx").write_bytes(b"\x08\x07")  # below the threaded hash: nothing worth beginning
    loading.begin_reading(tmp_path / "small.onnx")
    assert not loading._begun
