"""probe/engine.py: the runnable model, providers, batches from the memory budget, progress."""
from __future__ import annotations

import io
import sys

import numpy as np
import pytest
from onnx import TensorProto, helper

pytest.importorskip("onnxruntime")

from onnxlayer.probe import engine as probe_engine  # noqa: E402
from onnxlayer.probe.run import probe, setup_probe  # noqa: E402

from builders import cnn  # noqa: E402
from probe_builders import graph_model, tensor  # noqa: E402


def test_embedding_sources_are_fed_directly():
    table = np.random.default_rng(2).standard_normal((10, 4))
    nodes = [helper.make_node("Gather", ["table", "ids"], ["e"], name="embed", axis=0),
             helper.make_node("Relu", ["e"], ["y"], name="relu")]
    model = graph_model(nodes, [helper.make_tensor_value_info("ids", TensorProto.INT64, ["N", 3])],
                        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], [tensor("table", table)])
    r = probe(model, lines=2, points=16, directions=4, progress=False)
    assert r.summary.input_dim == 12
    assert r.leaf("relu").transitions <= 2 * 12  # each unit is affine along a line: one sign change at most


def test_provider_selection(monkeypatch):
    ort = probe_engine.import_onnxruntime()
    monkeypatch.setattr(ort, "get_available_providers", lambda: ["CUDAExecutionProvider", "CPUExecutionProvider"])
    assert probe_engine.select_providers("auto") == ["CUDAExecutionProvider", "CPUExecutionProvider"]
    assert probe_engine.select_providers("cuda")[0] == "CUDAExecutionProvider"
    assert probe_engine.select_providers("cpu") == ["CPUExecutionProvider"]
    monkeypatch.setattr(ort, "get_available_providers", lambda: ["CPUExecutionProvider"])
    assert probe_engine.select_providers("auto") == ["CPUExecutionProvider"]
    with pytest.raises(probe_engine.ProbeError, match="onnxruntime-gpu"):
        probe_engine.select_providers("cuda")
    with pytest.raises(probe_engine.ProbeError, match="CUDAExecutionProvider"):
        probe(cnn(), provider="cuda", progress=False)


def test_missing_onnxruntime_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    with pytest.raises(probe_engine.DependencyError, match=r'pip install "onnxlayer\[probe\]"'):
        probe(cnn(), progress=False)


def test_memory_budget_sets_the_batch():
    big = setup_probe(cnn(), provider="cpu", max_memory=2.0).engine
    small = setup_probe(cnn(), provider="cpu", max_memory=2e-5).engine
    assert big.batchable and small.batch_size < big.batch_size
    # Relu output (float32), MaxPool indices (int64), the input row (float64)
    assert big.bytes_per_sample == 256 * 4 + 64 * 8 + 64 * 8
    with pytest.raises(Exception, match="max-memory"):
        setup_probe(cnn(), provider="cpu", max_memory=1e-9)


def weighted_mlp(n: int = 256):
    """x (1×n) → MatMul w1 (n×n, stored raw) → Relu → MatMul w2 (n×4, stored as float_data): 65 KB of weights."""
    rng = np.random.default_rng(3)
    w1, w2 = rng.standard_normal((n, n)).astype(np.float32), rng.standard_normal((n, 4)).astype(np.float32)
    typed = helper.make_tensor("w2", TensorProto.FLOAT, w2.shape, w2.ravel().tolist())
    nodes = [helper.make_node("MatMul", ["x", "w1"], ["h"], name="fc1"), helper.make_node("Relu", ["h"], ["r"], name="relu"),
             helper.make_node("MatMul", ["r", "w2"], ["y"], name="fc2")]
    m = graph_model(nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", n])],
                    [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], [tensor("w1", w1), typed])
    return m, w1, w2


def test_the_weights_are_written_once_for_onnxruntime_and_removed():
    m, w1, w2 = weighted_mlp()
    with setup_probe(m, provider="cpu") as setup:
        weights = setup.weights
        assert weights.nbytes == w1.nbytes + w2.nbytes
        stored = {t.name: {e.key: e.value for e in t.external_data} for t in weights.tensors}
        assert stored["w1"]["offset"] == "0" and int(stored["w1"]["length"]) == w1.nbytes
        assert int(stored["w2"]["offset"]) % 4096 == 0 and int(stored["w2"]["length"]) == w2.nbytes
        assert (weights.directory / "weights.bin").stat().st_size == int(stored["w2"]["offset"]) + w2.nbytes
        x = np.random.default_rng(4).standard_normal((5, 256))
        relu = np.maximum(x.astype(np.float32) @ w1, 0)
        assert np.allclose(setup.engine.run(x)["r"].reshape(5, -1), relu, rtol=1e-4, atol=1e-4)
        assert np.array_equal(weights.value("w2"), w2) and np.allclose(relu @ w2, relu @ weights.value("w2"))
    assert not weights.directory.exists()


def test_the_batch_budget_is_what_the_weights_leave():
    """--max-memory holds onnxruntime's weights (65 KB here) and the batches: MEMORY_FACTOR × the
    bytes a sample fetches (the Relu's output, 256 float32, and its input row, 256 float64)."""
    m, w1, w2 = weighted_mlp()
    per_sample = 3 * (256 * 4 + 256 * 8)
    weights = w1.nbytes + w2.nbytes
    for samples in (1, 7):
        with setup_probe(m, provider="cpu", max_memory=(weights + samples * per_sample) / 2**30) as setup:
            assert setup.engine.batch_size == samples
    with pytest.raises(Exception, match=r"max-memory .* beside the model's weights onnxruntime holds \(0\.00 GB\)"):
        setup_probe(m, provider="cpu", max_memory=(weights + per_sample - 1) / 2**30)


def test_progress_only_on_a_terminal():
    class Stream(io.StringIO):
        def __init__(self, tty):
            super().__init__()
            self.tty = tty

        def isatty(self):
            return self.tty

    quiet, loud = Stream(False), Stream(True)
    for stream in (quiet, loud):
        bar = probe_engine.Progress("probe", 10, stream=stream, delay=0.0)
        bar.update(5)
        bar.close()
    assert quiet.getvalue() == "" and "5/10" in loud.getvalue()
