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
