"""Hostile files cannot hurt (issue 10): every case measured there, rebuilt here.

Each command runs in a forked child (tests/child_runner.py) with a wall-clock alarm and an
address-space cap, as a user would run it: it must end in under 10 s of CPU and 1 GB of peak
memory, exit 0 (a result) or 2 (one line naming what is wrong), with at most one stderr line
and never an internal error. Numbers asserted are derived here, from SPEC §3.
"""
from __future__ import annotations

import faulthandler
import json
import os
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

import networkx as nx
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import onnxlayer
from builders import mlp, model, value, weight
from child_runner import Outcome, Runner
from onnxlayer.algebra import SOURCE, Dominators
from onnxlayer.budget import Budget
from onnxlayer.loading import load_model
from onnxlayer.prepare import INFERENCE_HAZARDS, prepare

CPU_SECONDS = 10.0
PEAK_BYTES = 1 << 30


@pytest.fixture(scope="module")
def run():
    with Runner() as runner:
        yield runner


def save(tmp_path: Path, m: onnx.ModelProto | bytes, name: str = "model.onnx") -> Path:
    path = tmp_path / name
    path.write_bytes(m if isinstance(m, bytes) else m.SerializeToString())
    return path


def contract(outcome: Outcome, code: int, *names: str) -> Outcome:
    """Exit `code`, within time and memory, at most one stderr line naming `names`."""
    assert outcome.problems() == [], outcome
    assert outcome.code == code, outcome.stderr
    assert outcome.cpu < CPU_SECONDS and outcome.max_rss < PEAK_BYTES, outcome
    if code == 2:
        assert len(outcome.lines) == 1 and outcome.lines[0].startswith("onnxlayer: "), outcome.stderr
        for name in names:
            assert name in outcome.lines[0], outcome.lines[0]
    else:
        assert outcome.stderr == ""
    return outcome


def int64(name: str, v: int) -> onnx.TensorProto:
    return numpy_helper.from_array(np.array(v, np.int64), name)


def loop_body(inner: list[onnx.NodeProto], scanned: bool = False) -> onnx.GraphProto:
    """(iteration, cond, h) → (cond, h'), plus h' stacked as a scan output when `scanned`."""
    outputs = [value("co", elem=TensorProto.BOOL), value("ho")] + ([value("so")] if scanned else [])
    extra = [helper.make_node("Identity", ["ho"], ["so"])] if scanned else []
    return helper.make_graph([helper.make_node("Identity", ["c"], ["co"])] + inner + extra, "body",
                             [value("i", elem=TensorProto.INT64), value("c", elem=TensorProto.BOOL), value("h")], outputs)


def relu_loop(trip: int, *, scanned: bool = False) -> onnx.ModelProto:
    body = loop_body([helper.make_node("Relu", ["h"], ["ho"])], scanned)
    outs = ["y"] + (["ys"] if scanned else [])
    node = helper.make_node("Loop", ["M", "", "x"], outs, name="loop", body=body)
    return model([node], [value("x", 1, 4)], [value(o) for o in outs], [int64("M", trip)])


def nested_loops(depth: int, trip: int) -> onnx.ModelProto:
    """Loop(trip){Loop(trip){...{Relu}}}: inner trip counts are Constant nodes of their bodies."""
    body = loop_body([helper.make_node("Relu", ["h"], ["ho"])])
    for level in range(depth - 1, 0, -1):
        count = helper.make_node("Constant", [], [f"M{level}"], value=int64(f"M{level}", trip))
        inner = helper.make_node("Loop", [f"M{level}", "", "h"], ["ho"], name=f"loop{level}", body=body)
        body = loop_body([count, inner])
    outer = helper.make_node("Loop", ["M", "", "x"], ["y"], name="loop0", body=body)
    return model([outer], [value("x", 1, 4)], [value("y", 1, 4)], [int64("M", trip)])


def nested_loops3(outer: int, inner: int) -> onnx.ModelProto:
    """Loop(outer){Loop(inner){Loop(inner){Relu}}}."""
    m = nested_loops(3, inner)
    m.graph.initializer[0].CopyFrom(int64("M", outer))
    return m


def fan_in(blocks: int) -> onnx.ModelProto:
    """A Relu chain whose every output a Concat gathers (the form unrolled stacked outputs take)."""
    nodes, parts, x = [], [], "x"
    for k in range(blocks):
        nodes += [helper.make_node("Relu", [x], [f"h{k}"], name=f"relu{k}"),
                  helper.make_node("Unsqueeze", [f"h{k}", "axis"], [f"u{k}"], name=f"unsqueeze{k}")]
        parts.append(f"u{k}")
        x = f"h{k}"
    nodes.append(helper.make_node("Concat", parts, ["y"], name="concat", axis=0))
    return model(nodes, [value("x", 1, 4)], [value("y", blocks, 1, 4)], [numpy_helper.from_array(np.array([0], np.int64), "axis")])


def one_node(op: str, x_shape, y_shape=None, inits=(), opset: int = 17, **attrs) -> onnx.ModelProto:
    inputs = ["x"] + [i.name for i in inits]
    return model([helper.make_node(op, inputs, ["y"], name="node", **attrs)], [value("x", *x_shape)],
                 [value("y", *(y_shape or ()))], inits, opset=opset)


# ------------------------------------------------------------------ 1. segfaults


def test_regex_on_an_undefined_tensor_is_a_dangling_reference(run, tmp_path):
    m = helper.make_model(helper.make_graph([helper.make_node("RegexFullMatch", ["a"], ["b"], pattern="x")], "g", [],
                                            [value("b", elem=TensorProto.BOOL)]), opset_imports=[helper.make_opsetid("", 20)])
    path = save(tmp_path, m)
    assert path.stat().st_size < 100
    contract(run(["analyze", path]), 2, "'a'", "nothing produces")


def test_regex_on_a_tensor_of_unknown_type_crashes_only_a_child(run, tmp_path):
    """onnx's RegexFullMatch inference dereferences a missing input type: it runs in a child."""
    nodes = [helper.make_node("Relu", ["x"], ["r"]), helper.make_node("Frob", ["r"], ["a"], domain="com.example"),
             helper.make_node("RegexFullMatch", ["a"], ["b"], pattern="x")]
    m = model(nodes, [value("x", 1, 4)], [value("r", 1, 4), value("b", elem=TensorProto.BOOL)], opset=20)
    m.opset_import.append(helper.make_opsetid("com.example", 1))
    contract(run(["analyze", save(tmp_path, m)]), 2, "RegexFullMatch", "value_info")


def test_three_nested_loops_of_a_thousand_are_refused_before_unrolling(run, tmp_path):
    path = save(tmp_path, nested_loops(3, 1000))
    assert path.stat().st_size < 1000
    # innermost body: Identity + Relu; a Loop of T steps over a body of b nodes makes T·b + 1
    # (an Identity for its output); each outer body adds an Identity and the trip Constant
    inner = 1000 * 2 + 1
    middle = 1000 * (2 + inner) + 1
    outer = 1000 * (2 + middle) + 1
    contract(run(["analyze", path]), 2, f"makes {outer:,} graph nodes", "--max-nodes")


# ------------------------------------------------------------------ 2. tiny files, unbounded cost


@pytest.mark.parametrize("build, culprit, count", [
    (lambda: relu_loop(99_999), "Loop node 'loop'", 99_999 * 2 + 1),
    (lambda: nested_loops(2, 1000), "Loop node 'loop0'", 1000 * (2 + 1000 * 2 + 1) + 1),
    # a stacked output adds an Identity and an Unsqueeze per step, and a Concat
    (lambda: relu_loop(47_363, scanned=True), "Loop node 'loop'", 47_363 * 4 + 2),
], ids=["loop 99,999", "two nested loops of 1,000", "loop 47,363 with a stacked output"])
def test_unrolling_past_the_node_budget_is_refused(run, tmp_path, build, culprit, count):
    contract(run(["analyze", save(tmp_path, build())]), 2, f"unrolling {culprit} makes {count:,} graph nodes", "--max-nodes")


def test_scan_of_99999_steps_is_refused(run, tmp_path):
    body = helper.make_graph([helper.make_node("Add", ["s", "xt"], ["so"])], "body", [value("s", 4), value("xt", 4)], [value("so", 4)])
    scan = helper.make_node("Scan", ["s0", "xs"], ["sN"], name="scan", num_scan_inputs=1, body=body)
    m = model([scan], [value("s0", 4), value("xs", 99_999, 4)], [value("sN", 4)])
    contract(run(["analyze", save(tmp_path, m)]), 2, "Scan node 'scan'", "--max-nodes")


def test_rolled_loops_copied_by_an_outer_loop_are_refused_before_inference(run, tmp_path):
    """Loop(10,000){Loop(M){Relu}} with M from the data: 10,000 inner Loops stay rolled, and ONNX's
    inference copies the graph's names for each (the fuzzer's 26 CPU-seconds case)."""
    inner = helper.make_node("Loop", ["M", "", "h"], ["ho"], name="inner", body=loop_body([helper.make_node("Relu", ["h"], ["ho"])]))
    nodes = [helper.make_node("ReduceSum", ["x"], ["s"], keepdims=0), helper.make_node("Cast", ["s"], ["M"], to=TensorProto.INT64),
             helper.make_node("Loop", ["T", "", "x"], ["y"], name="outer", body=loop_body([inner]))]
    m = model(nodes, [value("x", 1, 4)], [value("y", 1, 4)], [int64("T", 10_000)])
    # the outer body is the inner Loop and the cond Identity: 2 nodes per step, an Identity out
    nodes_left = 2 + 10_000 * 2 + 1
    contract(run(["analyze", save(tmp_path, m)]), 2,
             f"Loop node 'outer' leaves 10,000 nodes holding subgraphs (Loops or Scans left rolled) in a graph of {nodes_left:,}",
             f"{10_000 * nodes_left:,} copies", "--max-nodes")


def test_loops_nested_three_deep_unroll_round_by_round(run, tmp_path):
    """Loop(300){Loop(3){Loop(3){Relu}}}: after the first round 600 Loops wait for the next
    rounds, in a graph small enough that inferring them costs little."""
    contract(run(["analyze", save(tmp_path, nested_loops3(300, 3))]), 0)


def test_local_functions_calling_each_other_twice_are_refused_before_inlining(run, tmp_path):
    """F_k calls F_{k−1} twice: 2**39 nodes once inlined."""
    opsets = [helper.make_opsetid("", 17), helper.make_opsetid("local", 1)]
    functions = [helper.make_function("local", "F0", ["a"], ["b"], [helper.make_node("Relu", ["a"], ["b"])], opsets[:1])]
    for k in range(1, 40):
        calls = [helper.make_node(f"F{k - 1}", ["a"], ["m"], domain="local"), helper.make_node(f"F{k - 1}", ["m"], ["b"], domain="local")]
        functions.append(helper.make_function("local", f"F{k}", ["a"], ["b"], calls, opsets))
    graph = helper.make_graph([helper.make_node("F39", ["x"], ["y"], domain="local")], "g", [value("x", 1, 4)], [value("y", 1, 4)])
    m = helper.make_model(graph, opset_imports=opsets, functions=functions)
    contract(run(["analyze", save(tmp_path, m)]), 2, f"{2**39:,}", "--max-nodes")


def test_the_node_budget_can_be_raised(run, tmp_path):
    path = save(tmp_path, relu_loop(300))
    contract(run(["analyze", path, "--max-nodes", "500"]), 2, "--max-nodes")
    contract(run(["analyze", path, "--max-nodes", "700", "--format", "json"]), 0)


def test_the_budget_reaches_the_api():
    with pytest.raises(onnxlayer.BudgetError, match="more than the limit of 100") as info:
        onnxlayer.analyze(relu_loop(300), budget=Budget(max_nodes=100))
    assert info.value.limit == "max_nodes"
    result = onnxlayer.analyze(relu_loop(30), budget=Budget(max_nodes=100))
    assert result.summary.complexity_bits == 4.0  # Relu∘…∘Relu = Relu: 4 units of 2 pieces in d = 4


# ------------------------------------------------------------------ 3. quadratic walk


@pytest.mark.parametrize("blocks", [10_000, 20_000])
def test_wide_fan_in_analyses_in_seconds(run, tmp_path, blocks):
    """The table report (a JSON one lists all 40k leaves: rendering it is not the walk's cost)."""
    contract(run(["analyze", save(tmp_path, fan_in(blocks)), "-o", tmp_path / "report.txt"]), 0)


def test_wide_fan_in_numbers():
    blocks = 1000
    summary = onnxlayer.analyze(fan_in(blocks)).summary
    # every Relu sees the 4 inputs: 4 units of 2 pieces in d = 4, 4 bits each
    assert summary.complexity_bits == pytest.approx(4.0 * blocks)
    assert (summary.input_dim, summary.output_dim, summary.intrinsic_power) == (4, 4 * blocks, 0.0)


def test_a_long_unrolled_chain_analyses_in_seconds(run, tmp_path):
    """12,000 iterations of Relu: 24,001 nodes, within the budget; the Relus fuse into one leaf."""
    contract(run(["analyze", save(tmp_path, relu_loop(12_000))], timeout=CPU_SECONDS), 0)


def brute_force_idom(n: int, preds: list[list[int]]) -> dict[int, object]:
    g = nx.DiGraph()
    g.add_node(SOURCE)
    for v in range(n):
        g.add_edges_from([(p, v) for p in preds[v]] or [(SOURCE, v)])
    return nx.immediate_dominators(g, SOURCE)


def test_dominators_agree_with_networkx_on_random_dags():
    rng = random.Random(10)
    for _ in range(200):
        n = rng.randint(1, 80)
        preds = [rng.sample(range(v), rng.randint(0, min(v, 4))) for v in range(n)]
        dom = Dominators()
        for v in range(n):
            dom.add(v, preds[v])
        expected = brute_force_idom(n, preds)
        assert {v: dom.idom[v] for v in range(n)} == {v: expected[v] for v in range(n)}


def test_dominators_of_a_200k_fan_in_take_seconds():
    dom, last = Dominators(), None
    start = time.process_time()
    for k in range(100_000):
        dom.add(("chain", k), [last] if last else [])
        dom.add(("part", k), [("chain", k)])
        last = ("chain", k)
    assert dom.add("concat", [("part", k) for k in range(100_000)]) == ("chain", 0)
    assert time.process_time() - start < 10


# ------------------------------------------------------------------ 4. reads outside the model


def external_constant(location: str) -> onnx.ModelProto:
    """y = x + c, c a Constant node whose 4 floats are external data at `location`."""
    tensor = onnx.TensorProto(name="c", data_type=TensorProto.FLOAT, dims=[4], data_location=TensorProto.EXTERNAL)
    for key, val in (("location", location), ("offset", "0"), ("length", "16")):
        entry = tensor.external_data.add()
        entry.key, entry.value = key, val
    nodes = [helper.make_node("Constant", [], ["c"], value=tensor), helper.make_node("Add", ["x", "c"], ["s"]),
             helper.make_node("Relu", ["s"], ["y"])]
    return model(nodes, [value("x", 1, 4)], [value("y", 1, 4)])


@pytest.mark.parametrize("location", ["weights.bin", "/dev/zero", "../weights.bin"])
def test_external_constants_are_never_read(run, tmp_path, location):
    """The location is a FIFO where it resolves: opening it would block until the alarm."""
    here, there = tmp_path / "here", tmp_path / "there"
    here.mkdir()
    there.mkdir()
    if not location.startswith("/"):
        os.mkfifo(here / location)
    path = save(there, external_constant(location))
    first = contract(run(["analyze", path, "--format", "json"], cwd=here), 0)
    second = contract(run(["analyze", path, "--format", "json"], cwd=there), 0)
    assert first.stdout == second.stdout
    assert json.loads(first.stdout)["summary"]["complexity_bits"] == 4.0  # 4 Relu units in d = 4


def test_external_constants_are_static_tensors_of_known_shape():
    view = prepare(external_constant("weights.bin"))
    assert view.tensors["c"].shape == (4,) and view.tensors["c"].role == "static"
    assert view.value("c") is None


def test_analysis_opens_no_file_but_the_model(tmp_path, monkeypatch):
    """An audit hook sees every open(): external initializers and Constant data are never opened."""
    m = external_constant("weights.bin")
    for init in mlp().graph.initializer:
        stub = onnx.TensorProto(name=init.name, data_type=init.data_type, dims=init.dims, data_location=TensorProto.EXTERNAL)
        entry = stub.external_data.add()
        entry.key, entry.value = "location", "weights.bin"
        m.graph.initializer.append(stub)
    path = save(tmp_path, m)
    (tmp_path / "weights.bin").write_bytes(bytes(1 << 12))
    monkeypatch.chdir(tmp_path)
    opened: list[str] = []
    active = [True]

    def hook(event: str, args: tuple) -> None:
        if active[0] and event == "open" and isinstance(args[0], (str, bytes, os.PathLike)):
            opened.append(os.fsdecode(args[0]))

    sys.addaudithook(hook)  # hooks cannot be removed: this one is switched off below
    try:
        onnxlayer.analyze(path)
    finally:
        active[0] = False
    assert not [p for p in opened if "weights" in p], opened


# ------------------------------------------------------------------ 5. special files


def test_a_symlink_to_dev_zero_is_refused(run, tmp_path):
    link = tmp_path / "zero.onnx"
    link.symlink_to("/dev/zero")
    contract(run(["analyze", link]), 2, "zero.onnx", "character device")


@pytest.mark.parametrize("command", [["analyze"], ["probe"], ["compare"]])
def test_a_fifo_is_refused_without_blocking(run, tmp_path, command):
    fifo = tmp_path / "model.onnx"
    os.mkfifo(fifo)
    outcome = run([*command, fifo], wall=10)
    contract(outcome, 2, "model.onnx", "FIFO")


def test_a_fifo_without_the_onnx_suffix_is_refused(run, tmp_path):
    fifo = tmp_path / "model"
    os.mkfifo(fifo)
    contract(run(["analyze", fifo], wall=5), 2, "FIFO")


def test_a_directory_is_refused(run, tmp_path):
    (tmp_path / "dir.onnx").mkdir()
    contract(run(["analyze", tmp_path / "dir.onnx"]), 2, "directory")


needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="drops to an unprivileged user, which needs root")
NOBODY = 65534


@pytest.fixture
def public_dir():
    """A directory an unprivileged user can reach (pytest's tmp_path lives under a root-only one)."""
    path = Path(tempfile.mkdtemp(prefix="onnxlayer-hostile-", dir="/tmp"))
    path.chmod(0o755)
    yield path
    for sub in [path, *path.rglob("*")]:
        sub.chmod(0o755 if sub.is_dir() else 0o644)
    shutil.rmtree(path)


@needs_root
@pytest.mark.parametrize("name", ["model.onnx", "locked/model.onnx", "locked"])
def test_unreadable_files_and_directories_are_one_line(run, public_dir, name):
    (public_dir / "locked").mkdir()
    save(public_dir, mlp(), "model.onnx").chmod(0)
    save(public_dir / "locked", mlp(), "model.onnx")
    (public_dir / "locked").chmod(0)
    contract(run(["analyze", public_dir / name], user=NOBODY), 2)


@needs_root
def test_a_path_under_an_unreadable_directory_is_one_line(run, public_dir):
    (public_dir / "locked").mkdir()
    (public_dir / "locked").chmod(0)
    contract(run(["analyze", public_dir / "locked" / "model"], user=NOBODY), 2)


@needs_root
def test_an_unreadable_keras_file_is_one_line(run, public_dir):
    save(public_dir, b"PK\x03\x04 not really a zip", "model.keras").chmod(0)
    contract(run(["analyze", public_dir / "model.keras"], user=NOBODY), 2, "model.keras")


# ------------------------------------------------------------------ 6. internal errors and noise


def test_an_empty_loop_body_is_a_graph_error(run, tmp_path):
    loop = helper.make_node("Loop", ["M", "", "x"], ["y"], name="loop", body=helper.make_graph([], "body", [], []))
    m = model([loop], [value("x", 1, 4)], [value("y", 1, 4)], [int64("M", 3)])
    contract(run(["analyze", save(tmp_path, m)]), 2, "Loop node 'loop'", "body needs 3 inputs")


def test_a_control_flow_attribute_of_the_wrong_type_inside_a_body_is_a_graph_error(run, tmp_path):
    """An If inside a Loop's body whose else_branch is an INT (the long fuzz found it: unrolling
    read it as a graph)."""
    then = helper.make_graph([helper.make_node("Relu", ["h"], ["t"])], "then", [], [value("t")])
    branch = helper.make_node("If", ["c"], ["ho"], name="if", then_branch=then, else_branch=3)
    m = relu_loop(3)
    m.graph.node[0].attribute[0].g.CopyFrom(loop_body([branch]))
    contract(run(["analyze", save(tmp_path, m)]), 2, "If node 'if'", "else_branch", "INT")


def test_a_complex_trip_count_is_a_graph_error_without_numpy_warnings(run, tmp_path):
    m = relu_loop(3)
    m.graph.initializer[0].CopyFrom(numpy_helper.from_array(np.array(3 + 1j, np.complex64), "M"))
    outcome = contract(run(["analyze", save(tmp_path, m)]), 2, "trip count", "complex64", "int64")
    assert "Warning" not in outcome.stderr


@pytest.mark.parametrize("dim", [2**62, 2**63 - 1])
def test_dims_beyond_int64_counts_are_one_line_without_input_shape_advice(run, tmp_path, dim):
    m = one_node("Relu", (1, dim, dim), (1, dim, dim))
    outcome = contract(run(["analyze", save(tmp_path, m)]), 2, "'x'", str(dim * dim), "int64")
    assert "--input-shape" not in outcome.stderr


@pytest.mark.parametrize("command", [["analyze"], ["probe"], ["algebra"]])
def test_commands_on_dims_of_2_62_are_one_line(run, tmp_path, command):
    m = one_node("Relu", (1, 2**62, 4), (1, 2**62, 4))
    contract(run([*command, save(tmp_path, m)]), 2, "int64")


def test_compare_reports_a_hostile_model_on_one_line(run, tmp_path):
    hostile, fine = save(tmp_path, relu_loop(99_999), "hostile.onnx"), save(tmp_path, mlp(), "fine.onnx")
    outcome = contract(run(["compare", hostile, fine, "--format", "json"]), 2, "hostile.onnx", "--max-nodes")
    rows = json.loads(outcome.stdout)["rows"]
    assert [r["error"] is None for r in rows] == [False, True]


def test_compare_names_a_model_that_cannot_be_read_once(run, tmp_path):
    fifo, fine = tmp_path / "pipe.onnx", save(tmp_path, mlp(), "fine.onnx")
    os.mkfifo(fifo)
    outcome = contract(run(["compare", fifo, fine, "--format", "json"]), 2, "FIFO")
    assert outcome.lines[0].count("pipe.onnx") == 1, outcome.lines[0]
    assert json.loads(outcome.stdout)["rows"][0]["error"] == "is a FIFO, not a regular file; only model files are read"


@pytest.mark.parametrize("command, limit", [(["analyze"], "8 GB"), (["compare"], "8 GB"), (["algebra"], "8 GB"),
                                            (["probe"], "2 GB")])
def test_running_out_of_memory_within_the_budget_names_max_memory(run, tmp_path, command, limit):
    """A 300 MB file (sparse: no disk) read by a process allowed 128 MB: a real MemoryError, within
    the default budget; it names --max-memory, which refuses the read up front when set lower
    (the analysis budget's; the probe's bounds what it uses beyond the analysis)."""
    path = tmp_path / "large.onnx"
    with open(path, "wb") as f:
        f.truncate(300 << 20)
    contract(run([*command, path], memory=128 << 20), 2, "ran out of memory", f"limit of {limit}", "--max-memory")
    if command != ["probe"]:
        contract(run([*command, path, "--max-memory", "0.1"], memory=128 << 20), 2, "314,572,800 bytes", "--max-memory")


@pytest.mark.parametrize("edit, warned", [
    (lambda m: setattr(m.opset_import[0], "version", 999), "opset 999 of ai.onnx is newer than the installed onnx"),
    (lambda m: setattr(m, "ir_version", 99), "IR version 99 is newer than the installed onnx"),
])
def test_versions_newer_than_onnx_knows_warn(run, tmp_path, edit, warned):
    m = mlp()
    edit(m)
    report = json.loads(contract(run(["analyze", save(tmp_path, m), "--format", "json"]), 0).stdout)
    assert any(warned in w for w in report["warnings"]), report["warnings"]
    assert report["summary"]["complexity_bits"] == pytest.approx(14.697456, abs=1e-6)  # SPEC §5 example 1


def test_a_loop_without_a_static_trip_count_is_not_an_input_shape_problem(run, tmp_path):
    body = loop_body([helper.make_node("Relu", ["h"], ["ho"])], scanned=True)
    nodes = [helper.make_node("ReduceSum", ["x"], ["s"], keepdims=0), helper.make_node("Cast", ["s"], ["M"], to=TensorProto.INT64),
             helper.make_node("Loop", ["M", "", "x"], ["y", "ys"], name="loop", body=body),
             helper.make_node("Relu", ["ys"], ["z"])]
    m = model(nodes, [value("x", 1, 4)], [value("y", 1, 4), value("z")])
    outcome = contract(run(["analyze", save(tmp_path, m)]), 2, "Loop node 'loop'", "trip count is not a static value")
    assert "--input-shape" not in outcome.stderr


def test_a_kernel_larger_than_its_input_is_not_an_input_shape_problem(run, tmp_path):
    m = one_node("Conv", (1, 1, 3, 3), None, [numpy_helper.from_array(np.ones((1, 1, 5, 5), np.float32), "w")], kernel_shape=[5, 5])
    outcome = contract(run(["analyze", save(tmp_path, m)]), 2, "Conv node 'node'", "1x1x3x3", "do not fit")
    assert "--input-shape" not in outcome.stderr


def prelu_chain() -> onnx.ModelProto:
    """Sigmoid then PRelu whose slope (3) does not broadcast to the data (1×4)."""
    nodes = [helper.make_node("Sigmoid", ["x"], ["s"], name="sigmoid"), helper.make_node("PRelu", ["s", "a"], ["y"], name="prelu")]
    return model(nodes, [value("x", 1, 4)], [value("y", 1, 4)], [numpy_helper.from_array(np.ones(3, np.float32), "a")])


@pytest.mark.parametrize("fused", [True, False])
def test_a_prelu_slope_that_does_not_broadcast_is_one_line(run, tmp_path, fused):
    """In a fused chain, and alone (its own leaf: ONNX's shape inference lets it through)."""
    m = prelu_chain()
    if not fused:
        del m.graph.node[0]
        m.graph.node[0].input[0] = "x"
    contract(run(["analyze", save(tmp_path, m)]), 2, "PRelu node 'prelu'", "'a' of shape 3", "1x4")


# ------------------------------------------------------------------ folding reads and computes within bounds


def static_fans(count: int, elements: int) -> onnx.ModelProto:
    """y = x + Σ_k ReduceSum(ConstantOfShape([elements])_k): static tensors of `elements` each."""
    nodes, inits, acc = [], [], "x"
    for k in range(count):
        inits.append(numpy_helper.from_array(np.array([elements], np.int64), f"shape{k}"))
        nodes += [helper.make_node("ConstantOfShape", [f"shape{k}"], [f"c{k}"]),
                  helper.make_node("ReduceSum", [f"c{k}"], [f"r{k}"], keepdims=1),
                  helper.make_node("Add", [acc, f"r{k}"], [f"a{k}"])]
        acc = f"a{k}"
    nodes.append(helper.make_node("Relu", [acc], ["y"]))
    return model(nodes, [value("x", 1, 4)], [value("y", 1, 4)], inits)


def test_folding_is_charged_to_the_budget_before_it_computes():
    view = prepare(static_fans(3, 60_000), budget=Budget(max_folded_elements=100_000))
    assert view.value("c0").shape == (60_000,)
    with pytest.raises(onnxlayer.BudgetError, match="--max-folded-elements"):
        view.value("c1")


def test_static_tensors_beyond_the_fold_limit_are_never_computed():
    view = prepare(static_fans(1, 10**12))  # 8 TB if it were evaluated
    assert view.value("c0") is None and view.value("r0") is None


# ------------------------------------------------------------------ native code: what can crash is known


def _null_type_crashes(schemas: list) -> set[tuple[str, str]]:
    """(domain, op) of the schemas whose inference crashes on inputs of unknown type, with their
    required attributes only and with every attribute set: one child runs them in turn and
    reports progress; a crash restarts after the case that caused it."""
    cases = [(schema, every) for schema in schemas for every in (False, True)]
    crashed: set[tuple[str, str]] = set()
    start = 0
    while start < len(cases):
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:  # child
            os.close(read_end)
            faulthandler.disable()
            os.dup2(os.open(os.devnull, os.O_WRONLY), 2)
            for k in range(start, len(cases)):
                os.write(write_end, f"{k}\n".encode())
                try:
                    onnx.shape_inference.infer_shapes(_untyped_model(*cases[k]), strict_mode=False)
                except Exception:  # noqa: BLE001 - only crashes matter here
                    pass
            os._exit(0)
        os.close(write_end)
        with os.fdopen(read_end) as pipe:
            reached = [int(line) for line in pipe]
        _, status = os.waitpid(pid, 0)
        if not os.WIFSIGNALED(status):
            break
        crashed.add((cases[reached[-1]][0].domain, cases[reached[-1]][0].name))
        start = reached[-1] + 1
    return crashed


def _untyped_model(schema, every_attribute: bool) -> onnx.ModelProto:
    """One node of `schema` (its required attributes set, or all of them) reading tensors a
    custom op gives untyped."""
    graph_attr = helper.make_graph([], "g", [], [])
    defaults = {onnx.AttributeProto.FLOAT: 1.0, onnx.AttributeProto.INT: 1, onnx.AttributeProto.STRING: b"x",
                onnx.AttributeProto.TENSOR: helper.make_tensor("t", TensorProto.FLOAT, [1], [1.0]),
                onnx.AttributeProto.GRAPH: graph_attr, onnx.AttributeProto.FLOATS: [1.0], onnx.AttributeProto.INTS: [1],
                onnx.AttributeProto.STRINGS: [b"x"], onnx.AttributeProto.GRAPHS: [graph_attr]}
    inputs = [f"t{k}" for k in range(schema.min_input)]
    attrs = {name: defaults[a.type] for name, a in schema.attributes.items()
             if (a.required or every_attribute) and a.type in defaults}
    nodes = ([helper.make_node("Source", [], inputs, domain="com.example")] if inputs else []) + [
        helper.make_node(schema.name, inputs, ["out"], domain=schema.domain, **attrs)]
    opsets = [helper.make_opsetid(schema.domain, schema.since_version), helper.make_opsetid("com.example", 1)]
    if schema.domain:
        opsets.append(helper.make_opsetid("", onnx.defs.onnx_opset_version()))
    m = helper.make_model(helper.make_graph(nodes, "g", [], [onnx.ValueInfoProto(name="out")]), opset_imports=opsets)
    m.ir_version = onnx.IR_VERSION
    return m


def test_inference_hazards_list_every_op_that_crashes_on_unknown_types():
    """The installed onnx's schemas, every version: those that crash are exactly the ones
    preparation isolates (another onnx may crash on others, or no longer: update the list)."""
    schemas = [s for s in onnx.defs.get_all_schemas_with_history() if not s.deprecated]
    assert _null_type_crashes(schemas) == INFERENCE_HAZARDS


# ------------------------------------------------------------------ 7. probe memory on inline weights


def test_probe_memory_is_bounded_by_max_memory_on_inline_weights(run, tmp_path):
    """A 64 MB model of inline weights: the probe may use --max-memory beyond what reading it takes."""
    rng = np.random.default_rng(0)
    n = 4096
    nodes = [helper.make_node("MatMul", ["x", "w1"], ["h"]), helper.make_node("Relu", ["h"], ["r"]),
             helper.make_node("MatMul", ["r", "w2"], ["y"])]
    inits = [numpy_helper.from_array(rng.standard_normal((n, n), dtype=np.float32), "w1"),
             numpy_helper.from_array(rng.standard_normal((n, 8), dtype=np.float32), "w2")]
    path = save(tmp_path, model(nodes, [value("x", 1, n)], [value("y", 1, 8)], inits))
    read = contract(run(["analyze", path]), 0).max_rss
    budget = 0.25
    probed = contract(run(["probe", path, "--max-memory", str(budget), "--lines", "1", "--points", "16",
                           "--directions", "2", "--no-progress"], timeout=120), 0)
    assert probed.max_rss <= read + budget * (1 << 30)


def test_loading_never_copies_a_tensor_payload_out_of_the_model(tmp_path):
    """Validation reads text fields only: loading a file of one 16 MB initializer holds the file's
    bytes (Python's) and the parsed message (protobuf's), not a third copy of the payload."""
    import tracemalloc

    payload = np.zeros((2048, 2048), np.float32)
    path = save(tmp_path, model([helper.make_node("MatMul", ["x", "w"], ["y"])], [value("x", 1, 2048)],
                                [value("y", 1, 2048)], [numpy_helper.from_array(payload, "w")]))
    tracemalloc.start()
    try:
        load_model(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert payload.nbytes <= peak < 1.5 * payload.nbytes


def test_control_characters_in_names_stay_on_one_line(run, tmp_path):
    """An unknown op type holding a group separator (the fuzz found one: str.splitlines breaks at
    it): its warning is one line, the character escaped."""
    outcome = run(["analyze", save(tmp_path, one_node("Ge\x1dm", (1, 4), (1, 4))), "--format", "json"])
    assert (outcome.problems(), outcome.code) == ([], 0), outcome
    assert "Ge\\x1dm" in outcome.stderr and len(outcome.stderr.splitlines()) == 1


@pytest.mark.parametrize("command", [["analyze"], ["compare"]])
def test_a_newline_in_a_name_stays_on_one_line(run, tmp_path, command):
    dangling = model([helper.make_node("Add", ["x", "no\nsuch"], ["y"])], [value("x", 1, 4)], [value("y", 1, 4)])
    outcome = contract(run([*command, save(tmp_path, dangling), "--format", "json"]), 2)
    assert "no\\nsuch" in outcome.stderr
