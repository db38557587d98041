"""Probes (onnxlayer.probe): regions along lines, local rank, activation statistics, engine."""
from __future__ import annotations

import argparse
import io
import json
import math
import sys

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

pytest.importorskip("onnxruntime")

from onnxlayer.models_access import zoo_model  # noqa: E402
from onnxlayer.cli import probe as probe_cli  # noqa: E402
from onnxlayer.present.probe import render as render_probe  # noqa: E402
from onnxlayer.probe import engine as probe_engine  # noqa: E402
from onnxlayer.probe.patterns import named_segmentation  # noqa: E402
from onnxlayer.probe.run import probe, setup_probe  # noqa: E402
from onnxlayer.transfer import FUNCTIONS, Settings, function_pieces  # noqa: E402

from builders import cnn  # noqa: E402


def tensor(name: str, array) -> onnx.TensorProto:
    return numpy_helper.from_array(np.asarray(array, dtype=np.float32), name)


def graph_model(nodes, inputs, outputs, inits=(), opset: int = 17) -> onnx.ModelProto:
    m = helper.make_model(helper.make_graph(nodes, "g", inputs, outputs, list(inits)),
                          opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 8
    return m


def relu_mlp(sizes, seed: int, activation: str = "Relu"):
    """Gemm/activation MLP with weights [out, in] (transB=1); returns the model and its layers."""
    rng = np.random.default_rng(seed)
    nodes, inits, layers, x = [], [], [], "x"
    for i, (k, n) in enumerate(zip(sizes[:-1], sizes[1:])):
        w, b = rng.standard_normal((n, k)), rng.standard_normal(n)
        layers.append((w, b))
        inits += [tensor(f"w{i}", w), tensor(f"b{i}", b)]
        nodes.append(helper.make_node("Gemm", [x, f"w{i}", f"b{i}"], [f"h{i}"], name=f"/fc{i}/Gemm", transB=1))
        x = f"h{i}"
        if i < len(sizes) - 2:
            nodes.append(helper.make_node(activation, [x], [f"a{i}"], name=f"/act{i}/{activation}"))
            x = f"a{i}"
    model = graph_model(nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", sizes[0]])],
                        [helper.make_tensor_value_info(x, TensorProto.FLOAT, ["N", sizes[-1]])], inits)
    return model, layers


def exact_breakpoints(layers, span: float) -> list[list[float]]:
    """Breakpoints in (−T, T) of each ReLU layer of a 1-input MLP, by exact enumeration:
    on each piece of the layers below, the next pre-activation is affine in t."""
    pieces = [(-span, span, np.ones(1), np.zeros(1))]  # (a, b, slope, offset) of the layer input
    found = []
    for w, b in layers[:-1]:
        layer, nxt = [], []
        for a, c, slope, offset in pieces:
            zs, zo = w @ slope, w @ offset + b  # pre-activation = zs·t + zo on (a, c)
            with np.errstate(divide="ignore", invalid="ignore"):
                roots = np.where(zs != 0, -zo / zs, np.nan)
            cuts = sorted(r for r in roots if a < r < c)
            layer += cuts
            edges = [a] + cuts + [c]
            for lo, hi in zip(edges[:-1], edges[1:]):
                active = (zs * (lo + hi) / 2 + zo) > 0
                nxt.append((lo, hi, np.where(active, zs, 0.0), np.where(active, zo, 0.0)))
        found.append(sorted(layer))
        pieces = nxt
    return found


# --------------------------------------------------------------------------- regions along lines


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_relu_mlp_1d_regions_equal_exact_enumeration(seed):
    model, layers = relu_mlp((1, 16, 16, 1), seed)
    span = 3.0
    r = probe(model, lines=1, points=64, origin="zeros", span=span, directions=0, progress=False)
    relu1, relu2 = exact_breakpoints(layers, span)
    distinct = sorted(set(relu1) | set(relu2))
    assert min(np.diff(distinct)) > 1e-4  # far above the resolution: the count is well defined
    s = r.summary
    assert s.unresolved_intervals == 0 and s.exact
    assert s.resolution == pytest.approx(1e-6 * span) and s.resolution_relative == 1e-6
    assert s.regions_per_line == len(distinct) + 1
    assert r.leaf("/act0/Relu").transitions == len(relu1)
    assert r.leaf("/act1/Relu").transitions == len(relu2)
    # per leaf: at most 1 + u(p−1) pieces while the upstream pattern holds (here u = 16)
    assert r.leaf("/act1/Relu").local_regions <= 17


def test_chord_breakpoints_reproduce_spec_piece_counts():
    settings = Settings()
    for name, pieces in (("sigmoid", 9), ("tanh", 13), ("softplus", 11), ("gelu", 11), ("square", 81), ("rsqrt", 14)):
        f = FUNCTIONS[name]
        lo, hi = f.domain(settings.domain)
        seg = named_segmentation(name, settings)
        assert seg.pieces == pieces == function_pieces(name, settings.tolerance, settings.domain)
        # piece index: 0 below the first breakpoint, pieces − 1 beyond the domain
        pts = seg.points()
        z = np.array([[lo - 5.0, (lo + pts[0]) / 2, (pts[0] + pts[1]) / 2, hi + 5.0]])
        assert seg.index(z).tolist() == [[0, 0, 1, pieces - 1]]


def test_smooth_unary_transitions_match_breakpoint_crossings():
    model, layers = relu_mlp((1, 8, 1), 3, activation="Tanh")
    span = 4.0
    r = probe(model, lines=1, points=32, origin="zeros", span=span, directions=0, progress=False)
    w, b = layers[0]
    breaks = named_segmentation("tanh", Settings()).points()
    # unit i's input w_i·t + b_i sweeps [b_i − |w_i|T, b_i + |w_i|T] once: it crosses every breakpoint inside
    expected = sum(int(np.count_nonzero((breaks > bi - abs(wi) * span) & (breaks < bi + abs(wi) * span)))
                   for wi, bi in zip(w[:, 0], b))
    assert r.leaf("/act0/Tanh").transitions == expected


@pytest.mark.parametrize("name", ["mlp", "lenet5", "cnn", "mobilenet_v2"])
def test_region_counts_within_static_bounds(name):
    if name == "cnn":
        model, shapes = cnn(), None
    else:
        model = zoo_model(name, weights=True)
        shapes = {"input": (1, 3, 32, 32)} if name == "mobilenet_v2" else None
    r = probe(model, shapes, lines=2, points=32, directions=0, refine=512, progress=False)
    s = r.summary
    assert s.region_bits_max <= s.region_bound_bits
    assert s.regions_max >= s.regions_per_line >= 1
    probed = [leaf for leaf in r.leaves if leaf.probed]
    assert probed and s.unprobed_leaves == 0
    for leaf in probed:
        assert leaf.local_region_bits <= leaf.complexity_bits + 1e-9, leaf.name
        assert leaf.transitions >= 0


def test_maxpool_pattern_is_the_window_argmax():
    rng = np.random.default_rng(5)
    nodes = [helper.make_node("MaxPool", ["x"], ["y"], name="pool", kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])]
    model = graph_model(nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 2, 7, 7])],
                        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    setup = setup_probe(model, provider="cpu")
    (pattern,) = setup.patterns
    x = rng.standard_normal((3, 2 * 7 * 7))
    codes = pattern.codes(setup.engine.run(x))[0]
    padded = np.pad(x.reshape(3, 2, 7, 7), [(0, 0), (0, 0), (1, 1), (1, 1)], constant_values=-np.inf)
    windows = np.stack([padded[:, :, i:i + 7:2, j:j + 7:2] for i in range(3) for j in range(3)], axis=-1)
    assert codes.tolist() == np.argmax(windows, axis=-1).reshape(3, -1).tolist()


# --------------------------------------------------------------------------- local rank


@pytest.mark.parametrize("name, k", [("mlp", 300), ("lenet5", 420), ("cnn", 80)])
def test_local_rank_never_exceeds_effective_dimension(name, k):
    model = cnn() if name == "cnn" else zoo_model(name, weights=True)
    r = probe(model, lines=1, points=8, refine=0, directions=k, progress=False)
    assert r.summary.rank_tolerance == 1e-3
    for leaf in r.leaves:
        assert leaf.rank is not None and leaf.rank <= leaf.effective_dim, leaf.name
    first = r.leaves[0]  # a full-rank linear first layer: the probe sees all of d when K ≥ d
    if first.effective_dim <= k:
        assert first.rank == first.effective_dim


# --------------------------------------------------------------------------- statistics


def test_activation_statistics_from_user_samples(tmp_path):
    w = np.eye(4)
    b = np.array([0.0, 0.0, -100.0, -100.0])  # units 2 and 3 can never be active
    nodes = [helper.make_node("Gemm", ["x", "w", "b"], ["h"], name="fc", transB=1),
             helper.make_node("Relu", ["h"], ["y"], name="relu")]
    model = graph_model(nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4])],
                        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], [tensor("w", w), tensor("b", b)])
    samples = np.random.default_rng(0).standard_normal((50, 4)).astype(np.float32)
    path = tmp_path / "samples.npz"
    np.savez(path, x=samples)
    r = probe(model, lines=1, points=8, inputs=str(path), directions=0, progress=False)
    relu = r.leaf("relu")
    expected = (np.count_nonzero(samples[:, :2] <= 0) + 2 * 50) / (4 * 50)
    assert relu.inactive_fraction == pytest.approx(expected)
    assert relu.dead_units == 2
    assert r.summary.samples == 50 and r.summary.samples_source == "inputs"
    with pytest.raises(Exception, match="keys must be the input names"):
        probe(model, inputs={"y": samples}, progress=False)


def test_other_leaf_kinds_are_probed():
    """Clip, LeakyRelu, Max of two data tensors, fused SiLU, a data product, LayerNorm, Softmax."""
    rng = np.random.default_rng(1)
    c = [helper.make_node("Constant", [], [n], value=tensor(n, v)) for n, v in (("lo", 0.0), ("hi", 6.0))]
    nodes = c + [
        *(helper.make_node("MatMul", ["x", f"w{i}"], [f"h{i}"], name=f"fc{i}") for i in range(3)),
        helper.make_node("Clip", ["h0", "lo", "hi"], ["c"], name="clip"),
        helper.make_node("LeakyRelu", ["h1"], ["l"], name="leaky", alpha=0.1),
        helper.make_node("Max", ["c", "l"], ["m"], name="max"),
        helper.make_node("Sigmoid", ["h2"], ["s"], name="sig"),
        helper.make_node("Mul", ["h2", "s"], ["silu"], name="silu"),
        helper.make_node("Mul", ["m", "silu"], ["p"], name="product"),
        helper.make_node("LayerNormalization", ["p", "g", "be"], ["n"], name="norm", axis=-1),
        helper.make_node("Softmax", ["n"], ["y"], name="softmax", axis=-1),
    ]
    inits = [tensor(f"w{i}", rng.standard_normal((6, 8))) for i in range(3)] + [tensor("g", np.ones(8)), tensor("be", np.zeros(8))]
    model = graph_model(nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 6])],
                        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], inits)
    r = probe(model, lines=2, points=32, directions=8, progress=False)
    assert r.summary.unprobed_leaves == 0
    ops = {leaf.op_type for leaf in r.leaves if leaf.probed}
    assert {"Clip", "LeakyRelu", "Max", "FusedUnary", "Mul", "LayerNormalization", "Softmax"} <= ops
    assert all(leaf.transitions is not None for leaf in r.leaves if leaf.units)
    assert r.leaf("clip").inactive_fraction is not None and r.leaf("max").inactive_fraction is None
    assert r.summary.region_bits_max <= r.summary.region_bound_bits


def test_embedding_sources_are_fed_directly():
    table = np.random.default_rng(2).standard_normal((10, 4))
    nodes = [helper.make_node("Gather", ["table", "ids"], ["e"], name="embed", axis=0),
             helper.make_node("Relu", ["e"], ["y"], name="relu")]
    model = graph_model(nodes, [helper.make_tensor_value_info("ids", TensorProto.INT64, ["N", 3])],
                        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], [tensor("table", table)])
    r = probe(model, lines=2, points=16, directions=4, progress=False)
    assert r.summary.input_dim == 12
    assert r.leaf("relu").transitions <= 2 * 12  # each unit is affine along a line: one sign change at most


# --------------------------------------------------------------------------- engine, weights, output


def test_random_weights_for_graph_only_models_and_determinism():
    graph_only = zoo_model("lenet5", weights=False)
    with pytest.raises(probe_engine.ProbeError, match="--random-weights"):
        probe(graph_only, progress=False)
    runs = [probe(graph_only, lines=1, points=16, refine=16, directions=4, random_weights="missing", seed=7,
                  progress=False).to_dict() for _ in range(2)]
    for run in runs:
        run["summary"].pop("seconds")
    assert runs[0] == runs[1]
    assert runs[0]["summary"]["weights_drawn"] > 0
    other = probe(graph_only, lines=1, points=16, refine=16, directions=4, random_weights="missing", seed=8,
                  progress=False).to_dict()
    assert other["summary"]["transitions"] != runs[0]["summary"]["transitions"]
    # "all" replaces the weights a model has; its own weights give other counts
    own = probe(cnn(), lines=1, points=16, directions=0, progress=False)
    drawn = probe(cnn(), lines=1, points=16, directions=0, random_weights="all", progress=False)
    assert own.summary.weights_drawn == 0 and drawn.summary.weights_drawn == 4
    assert own.summary.transitions != drawn.summary.transitions


def test_json_fields_are_stable():
    r = probe(cnn(), lines=1, points=16, directions=4, progress=False)
    d = json.loads(r.to_json())
    for key in ("lines", "points", "span", "regions_per_line", "region_bound_bits", "provider", "seed"):
        assert key in d["summary"]
    assert d["summary"]["provider"] == "cpu"
    for leaf in d["leaves"]:
        for key in ("name", "op_type", "transitions", "effective_dim", "rank", "inactive_fraction", "dead_units"):
            assert key in leaf
    header = render_probe(r, "csv").splitlines()[0].split(",")
    assert header[:2] == ["name", "op_type"] and "transitions" in header


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


def test_cli_probe_writes_json(tmp_path):
    path = tmp_path / "cnn.onnx"
    onnx.save(cnn(), path)
    parser = argparse.ArgumentParser()
    probe_cli.add_parser(parser.add_subparsers(dest="command"))
    out = tmp_path / "probe.json"
    args = parser.parse_args(["probe", str(path), "--lines", "1", "--points", "16", "--directions", "4",
                              "--provider", "cpu", "--format", "json", "-o", str(out)])
    assert probe_cli.run(args) == 0
    data = json.loads(out.read_text())
    assert data["summary"]["lines"] == 1 and data["summary"]["points"] == 16
    assert math.isfinite(data["summary"]["regions_per_line"])
    args = parser.parse_args(["probe", "--zoo", "mlp", "--lines", "1", "--points", "8", "--directions", "0",
                              "--format", "csv", "-o", str(tmp_path / "mlp.csv")])
    assert probe_cli.run(args) == 0
    assert (tmp_path / "mlp.csv").read_text().startswith("name,op_type")
    with pytest.raises(Exception, match="exactly one"):
        probe_cli.run(parser.parse_args(["probe"]))
