"""Mutation fuzz of the command line, each case in a forked child with time and memory limits.

Seed models (test_fuzz's, plus Loop, Scan and If models) are mutated — op types, attributes,
dims, dtypes, edges, opsets, constants, control-flow bodies and trip counts, raw bytes — and
`onnxlayer analyze` runs on each in a child of tests/child_runner.py. No child may die of a
signal, run past its alarm or its address space, print more than one stderr line, or report an
internal error (an exception outside the project's error types). The default run tries a few
hundred cases; the long run (`-m slow`, ONNXLAYER_HOSTILE_CASES, default 20,000) prints a
closing tally and saves each failing case, and the tally every 500 cases, under
ONNXLAYER_HOSTILE_SAVE if set.
"""
from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import numpy as np
import onnx
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from onnx import TensorProto, helper, numpy_helper

from builders import model, value, weight
from child_runner import Outcome, Runner
from test_fuzz import MUTATIONS, SEEDS, insert_node, set_attribute, set_dim, set_elem_type, set_op_type
from test_fuzz import annotate, dangle_input, drop_node, duplicate_output, swap_nodes
from test_hostile import loop_body, nested_loops, relu_loop

#: Cases of the default run, and of the long run.
QUICK = int(os.environ.get("ONNXLAYER_HOSTILE_QUICK", "150"))
LONG = int(os.environ.get("ONNXLAYER_HOSTILE_CASES", "20000"))
#: Per case: the alarm (a run past it is a hang) and the address space beyond the worker's.
TIMEOUT, MEMORY = 20.0, 2 << 30


def scan_seed() -> onnx.ModelProto:
    """h' = Relu(h + x_t)·W over 3 steps, with the states stacked."""
    body = helper.make_graph(
        [helper.make_node("Add", ["h_in", "x_t"], ["s"]), helper.make_node("MatMul", ["s", "W"], ["m"]),
         helper.make_node("Relu", ["m"], ["h_out"]), helper.make_node("Identity", ["h_out"], ["o_t"])],
        "body", [value("h_in", 1, 4), value("x_t", 1, 4)], [value("h_out", 1, 4), value("o_t", 1, 4)])
    scan = helper.make_node("Scan", ["h0", "xs"], ["h", "os"], name="scan", body=body, num_scan_inputs=1)
    return model([scan], [value("h0", 1, 4), value("xs", 3, 1, 4)], [value("h", 1, 4), value("os", 3, 1, 4)], [weight("W", 4, 4)])


def data_if_seed() -> onnx.ModelProto:
    """An If on a data condition: both branches count."""
    then = helper.make_graph([helper.make_node("Relu", ["x"], ["t"])], "then", [], [value("t", 1, 4)])
    other = helper.make_graph([helper.make_node("Tanh", ["x"], ["e"])], "else", [], [value("e", 1, 4)])
    nodes = [helper.make_node("ReduceSum", ["x"], ["s"], keepdims=0),
             helper.make_node("Greater", ["s", "zero"], ["c"]),
             helper.make_node("If", ["c"], ["y"], name="if", then_branch=then, else_branch=other)]
    return model(nodes, [value("x", 1, 4)], [value("y", 1, 4)], [numpy_helper.from_array(np.array(0.0, np.float32), "zero")])


def data_trip_seed() -> onnx.ModelProto:
    """A Loop whose trip count comes from the data: left rolled."""
    body = loop_body([helper.make_node("Relu", ["h"], ["ho"])])
    nodes = [helper.make_node("ReduceSum", ["x"], ["s"], keepdims=0), helper.make_node("Cast", ["s"], ["M"], to=TensorProto.INT64),
             helper.make_node("Loop", ["M", "", "x"], ["y"], name="loop", body=body)]
    return model(nodes, [value("x", 1, 4)], [value("y", 1, 4)])


SEED_MODELS = {**SEEDS, "loop": relu_loop(3, scanned=True), "nested_loops": nested_loops(2, 3), "scan": scan_seed(),
               "data_if": data_if_seed(), "data_trip": data_trip_seed()}


# -------------------------------------------------------------------- control-flow mutations


def _graphs(g: onnx.GraphProto) -> list[onnx.GraphProto]:
    """`g` and every subgraph inside it."""
    found = [g]
    for node in g.node:
        for a in node.attribute:
            for sub in ([a.g] if a.type == onnx.AttributeProto.GRAPH else list(a.graphs)):
                found.extend(_graphs(sub))
    return found


class _Scope:
    """A subgraph dressed as a model, so that test_fuzz's mutations edit it."""

    def __init__(self, m: onnx.ModelProto, graph: onnx.GraphProto) -> None:
        self.graph, self.opset_import, self.functions, self.ir_version = graph, m.opset_import, m.functions, m.ir_version


BODY_MUTATIONS = [drop_node, dangle_input, swap_nodes, set_attribute, set_dim, set_op_type, set_elem_type, duplicate_output,
                  insert_node, annotate]


def mutate_body(m, draw):
    """One of test_fuzz's graph mutations, inside a subgraph."""
    subs = _graphs(m.graph)[1:]
    if subs:
        draw(st.sampled_from(BODY_MUTATIONS))(_Scope(m, draw(st.sampled_from(subs))), draw)


#: Trip counts: small ones, ones far past the node budget, and (long run only) ones that make
#: graphs of thousands of nodes, which take seconds each: the default run must stay quick.
TRIPS = [0, -1, 1, 2, 7, 10**6, 2**31, 2**62, 2**63 - 1]
MIDDLING_TRIPS = [1000, 3000, 10**4]
_middling = [False]  # set during the long run


def trips() -> list[int]:
    return TRIPS + MIDDLING_TRIPS if _middling[0] else TRIPS
TRIP_TYPES = [np.int64, np.int64, np.int32, np.float32, np.complex64, np.bool_, np.uint8]


def set_trip_count(m, draw):
    """Overwrite a Loop's trip count (initializer or Constant) with odd values, types and shapes."""
    names = {n.input[0] for g in _graphs(m.graph) for n in g.node if n.op_type == "Loop" and n.input and n.input[0]}
    holders = [t for g in _graphs(m.graph) for t in g.initializer if t.name in names]
    holders += [a.t for g in _graphs(m.graph) for n in g.node if n.op_type == "Constant" and n.output and n.output[0] in names
                for a in n.attribute if a.name == "value"]
    if not holders:
        return
    target = draw(st.sampled_from(holders))
    dtype = draw(st.sampled_from(TRIP_TYPES))
    count = draw(st.sampled_from(trips()))
    shape = draw(st.sampled_from([(), (), (1,), (2,), (0,)]))
    with np.errstate(all="ignore"):
        array = np.full(shape, count).astype(dtype) if dtype is not np.bool_ else np.full(shape, bool(count))
    target.CopyFrom(numpy_helper.from_array(array, target.name))


def set_control_attribute(m, draw):
    """Scan's counts, axes and directions; a Loop's or If's subgraph swapped for an empty one."""
    nodes = [n for g in _graphs(m.graph) for n in g.node if n.op_type in ("Loop", "Scan", "If")]
    if not nodes:
        return
    node = draw(st.sampled_from(nodes))
    name = draw(st.sampled_from(["num_scan_inputs", "scan_input_axes", "scan_output_axes", "scan_input_directions",
                                 "body", "then_branch", "else_branch"]))
    kept = [a for a in node.attribute if a.name != name]
    del node.attribute[:]
    node.attribute.extend(kept)
    if name in ("body", "then_branch", "else_branch"):
        node.attribute.append(helper.make_attribute(name, helper.make_graph([], "empty", [], [])))
    elif name == "num_scan_inputs":
        node.attribute.append(helper.make_attribute(name, draw(st.sampled_from([-1, 0, 1, 2, 9]))))
    else:
        node.attribute.append(helper.make_attribute(name, draw(st.lists(st.integers(-4, 4), max_size=3)),
                                                    attr_type=onnx.AttributeProto.INTS))


def wrap_in_loop(m, draw):
    """Move a node into the body of a new Loop that runs it `trip` times and stacks its first output."""
    g = m.graph
    if not g.node:
        return
    k = draw(st.integers(0, len(g.node) - 1))
    inner = onnx.NodeProto()
    inner.CopyFrom(g.node[k])
    if not inner.output or not inner.output[0]:
        return
    out = inner.output[0]
    inner.output[0] = "wrapped"
    body = helper.make_graph([helper.make_node("Identity", ["c"], ["co"]), inner], "wrap",
                             [value("i", elem=TensorProto.INT64), value("c", elem=TensorProto.BOOL)],
                             [value("co", elem=TensorProto.BOOL), onnx.ValueInfoProto(name="wrapped")])
    trip = f"trip{k}"
    g.initializer.append(numpy_helper.from_array(np.array(draw(st.sampled_from(trips())), np.int64), trip))
    loop = helper.make_node("Loop", [trip, ""], [out], name=f"wrap{k}", body=body)
    g.node[k].CopyFrom(loop)


def nest_loops(m, draw):
    """Put the model's first Loop inside the body of another, `trip` times."""
    g = m.graph
    loops = [k for k, n in enumerate(g.node) if n.op_type == "Loop" and len(n.input) >= 3]
    if not loops:
        return
    k = loops[0]
    inner = onnx.NodeProto()
    inner.CopyFrom(g.node[k])
    carried_in, result = inner.input[2], inner.output[0]
    inner.input[2], inner.output[0] = "h", "ho"
    del inner.output[1:]
    trip = f"outer_trip{k}"
    g.initializer.append(numpy_helper.from_array(np.array(draw(st.sampled_from(trips())), np.int64), trip))
    outer = helper.make_node("Loop", [trip, "", carried_in], [result], name=f"outer{k}", body=loop_body([inner]))
    g.node[k].CopyFrom(outer)


CONTROL_MUTATIONS = [mutate_body, set_trip_count, set_control_attribute, wrap_in_loop, nest_loops]


# -------------------------------------------------------------------- cases


def hostile_case(draw) -> tuple[bytes, str]:
    """Serialized bytes of a mutated seed, and what was done (for the record)."""
    name = draw(st.sampled_from(sorted(SEED_MODELS)), label="seed")
    m = onnx.ModelProto()
    m.CopyFrom(SEED_MODELS[name])
    done = [name]
    for _ in range(draw(st.integers(1, 3), label="mutations")):
        mutation = draw(st.sampled_from(MUTATIONS + CONTROL_MUTATIONS * 2), label="mutation")
        try:
            mutation(m, draw)
        except (ValueError, TypeError, IndexError, KeyError):  # the mutation met a model it cannot edit
            continue
        done.append(mutation.__name__)
    raw = bytearray(m.SerializeToString())
    mode = draw(st.sampled_from(["none", "none", "none", "truncate", "flip"]), label="bytes")
    if mode == "truncate":
        raw = raw[: draw(st.integers(0, len(raw)))]
    elif mode == "flip" and raw:
        for _ in range(draw(st.integers(1, 8))):
            raw[draw(st.integers(0, len(raw) - 1))] ^= draw(st.integers(1, 255))
    if mode != "none":
        done.append(mode)
    return bytes(raw), "+".join(done)


def kind(outcome: Outcome) -> str:
    """The tally's column for an outcome."""
    problems = outcome.problems()
    if not problems:
        return "result" if outcome.code == 0 else "error"
    return problems[0].split()[0] if problems[0].startswith(("timeout", "memory", "internal")) else (
        "crash" if outcome.signal else "noise")


def fuzz(run: Runner, workdir: Path, cases: int, record: bool) -> tuple[Counter, list[str]]:
    """Run `cases` hypothesis cases; tally how each ended and describe each failure. `record`
    (the long run): keep going past failures, and draw middling trip counts too."""
    _middling[0] = record
    tally: Counter = Counter()
    failures: list[str] = []
    save = Path(os.environ["ONNXLAYER_HOSTILE_SAVE"]) if os.environ.get("ONNXLAYER_HOSTILE_SAVE") else None
    path = workdir / "case.onnx"

    @settings(max_examples=cases, deadline=None, derandomize=True, database=None,
              phases=[Phase.generate] if record else [Phase.generate, Phase.shrink],
              suppress_health_check=list(HealthCheck))
    @given(data=st.data())
    def one(data):
        raw, done = hostile_case(data.draw)
        path.write_bytes(raw)
        outcome = run(["analyze", path, "--format", "json"], timeout=TIMEOUT, memory=MEMORY)
        column = kind(outcome)
        tally[column] += 1
        if save is not None and sum(tally.values()) % 500 == 0:
            save.mkdir(parents=True, exist_ok=True)
            (save / "tally.txt").write_text(f"{sum(tally.values())} cases: {dict(tally)}\n")
        if column in ("result", "error"):
            return
        failures.append(f"{done}: {column}: {outcome.signal or outcome.code}: {outcome.stderr.strip()[:300]}")
        if save is not None:
            save.mkdir(parents=True, exist_ok=True)
            (save / f"case{sum(tally.values())}_{column}.onnx").write_bytes(raw)
        assert record, failures[-1]

    one()
    return tally, failures


@pytest.fixture(scope="module")
def run():
    with Runner() as runner:
        yield runner


def test_seeds_analyse(run, tmp_path):
    for name, m in SEED_MODELS.items():
        path = tmp_path / f"{name}.onnx"
        path.write_bytes(m.SerializeToString())
        outcome = run(["analyze", path])
        assert (outcome.code, outcome.stderr) == (0, ""), (name, outcome.stderr)


def test_hostile_mutations(run, tmp_path):
    tally, failures = fuzz(run, tmp_path, QUICK, record=False)
    assert not failures and sum(tally.values()) == QUICK, (tally, failures)


@pytest.mark.slow
def test_hostile_mutations_long_run(run, tmp_path):
    tally, failures = fuzz(run, tmp_path, LONG, record=True)
    total = sum(tally.values())
    print(f"\nhostile fuzz: {total} cases: {tally['result']} results, {tally['error']} one-line errors, "
          f"{tally['crash']} crashes, {tally['timeout']} hangs, {tally['internal']} internal errors, "
          f"{tally['memory']} out of memory, {tally['noise']} with extra stderr lines")
    for failure in failures[:50]:
        print("  " + failure)
    assert not failures
