"""onnxlayer over the onnx package's own test models (issue 9 acceptance).

The corpus (tests/onnx_corpus.py): 1,884 node tests regenerated from
``onnx.backend.test.case.node`` for onnx 1.23, and the 149 models the wheel ships (9 light
model-zoo models, pytorch-converted, pytorch-operator, simple). The whole run takes ~15 s, so
it is part of the default run. An acceptance assertion that fails today is marked
``xfail(strict=True)`` with the measured counts: the fix that makes it pass must drop the mark.
"""
from __future__ import annotations

import warnings

import onnx
import pytest
from onnx import TensorProto, helper

import builders
import onnx_corpus
from onnx_corpus import CorpusModel, Runner


@pytest.fixture(scope="module")
def outcomes() -> list[onnx_corpus.Outcome]:
    with warnings.catch_warnings():  # the case modules' reference outputs overflow on purpose
        warnings.simplefilter("ignore")
        models = onnx_corpus.corpus()
    return onnx_corpus.run_corpus(models)


def _listing(items: list[onnx_corpus.Outcome], limit: int = 12) -> str:
    shown = "; ".join(f"{o.name}: {o.error_type} {o.message[:120]} {o.where}".strip() for o in items[:limit])
    return shown + (f"; ... {len(items) - limit} more" if len(items) > limit else "")


# ---------------------------------------------------------------------------- the corpus itself


def test_corpus_holds_every_node_test_and_shipped_model(outcomes):
    by_source = {s: sum(o.source == s for o in outcomes) for s in ("node", *onnx_corpus.DATA_SOURCES)}
    shipped = {s: len(list((onnx_corpus.DATA_DIR / s).glob("*/model.onnx")) + list((onnx_corpus.DATA_DIR / s).glob("*.onnx")))
               for s in onnx_corpus.DATA_SOURCES}
    assert by_source["node"] >= 1800  # onnx 1.23 regenerates 1,884
    assert {s: by_source[s] for s in shipped} == shipped
    assert by_source["light"] == 9  # the 9 model-zoo models the 'real' tests point at
    assert len({(o.source, o.name) for o in outcomes}) == len(outcomes)


# ---------------------------------------------------------------------------- acceptance (issue 9)


def test_no_internal_error(outcomes):
    broken = [o for o in outcomes if o.status in ("internal", "timeout")]
    assert not broken, _listing(broken)


def test_no_wrongful_refusal(outcomes):
    wrongful = [o for o in outcomes if o.wrongful]
    assert not wrongful, _listing(wrongful)


def test_at_most_three_opaque_op_types(outcomes):
    types = sorted({op for o in outcomes for op in o.opaque_ops})
    assert len(types) <= onnx_corpus.MAX_OPAQUE_OP_TYPES, types


def test_rules_cover_95_percent_of_ai_onnx():
    coverage = onnx_corpus.rule_coverage("")
    assert len(coverage.covered) + len(coverage.missing) > 150  # the installed onnx's op set
    assert coverage.fraction >= onnx_corpus.MIN_RULE_COVERAGE, coverage.missing


def test_rules_cover_ai_onnx_ml():
    coverage = onnx_corpus.rule_coverage("ai.onnx.ml")
    assert len(coverage.covered) + len(coverage.missing) >= 17
    assert not coverage.missing, coverage.missing


# ---------------------------------------------------------------------------- the check's own parts


def _single_input_model(value: onnx.ValueInfoProto) -> onnx.ModelProto:
    return builders.model([helper.make_node("Identity", [value.name], ["y"])], [value],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])


@pytest.mark.parametrize("value, float_data, fixed", [
    (helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 4]), True, True),
    (helper.make_tensor_value_info("x", TensorProto.FLOAT16, ["batch", 3]), True, True),  # dim 0: the batch
    (helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, "seq"]), True, False),
    (helper.make_tensor_value_info("x", TensorProto.FLOAT, None), True, False),  # no shape at all
    (helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 0, 4]), False, True),  # zero elements
    (helper.make_tensor_value_info("x", TensorProto.INT64, [1, 8]), False, True),
    (helper.make_tensor_sequence_value_info("x", TensorProto.FLOAT, [2, 3]), False, False),
])
def test_input_profile_reads_the_declared_inputs(value, float_data, fixed):
    profile = onnx_corpus.input_profile(_single_input_model(value))
    assert (profile.float_data, profile.fixed_shapes) == (float_data, fixed)


@pytest.mark.parametrize("target_from, decides", [("input", True), ("shape", False), ("if_branch", True)])
def test_values_decide_shapes_follows_input_values_to_shape_operands(target_from, decides):
    """A Reshape target read from an integer input's values decides a shape; one computed from
    the input's shape (Shape cuts the chain) does not; a subgraph reading the input counts too."""
    x, n = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 6]), helper.make_tensor_value_info("n", TensorProto.INT64, [2])
    if target_from == "input":
        nodes = [helper.make_node("Reshape", ["x", "n"], ["y"])]
    elif target_from == "shape":
        nodes = [helper.make_node("Shape", ["n"], ["s"]), helper.make_node("Reshape", ["x", "s"], ["y"])]
    else:
        branch = helper.make_graph([helper.make_node("Identity", ["n"], ["t"])], "b", [],
                                   [helper.make_tensor_value_info("t", TensorProto.INT64, [2])])
        nodes = [helper.make_node("If", ["c"], ["s"], then_branch=branch, else_branch=branch),
                 helper.make_node("Reshape", ["x", "s"], ["y"])]
    m = builders.model(nodes, [x, n, helper.make_tensor_value_info("c", TensorProto.BOOL, [])],
                       [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    assert onnx_corpus.values_decide_shapes(m) is decides


def test_input_profile_skips_inputs_backed_by_initializers():
    m = builders.mlp()
    m.graph.input.extend(helper.make_tensor_value_info(t.name, t.data_type, ["n"] * len(t.dims))
                         for t in m.graph.initializer)
    assert onnx_corpus.input_profile(m) == onnx_corpus.InputProfile(True, True, False)


def _item(name: str, model: onnx.ModelProto) -> CorpusModel:
    return CorpusModel("built", name, model.SerializeToString())


def test_runner_classifies_ok_refused_and_opaque():
    integer_only = builders.model([helper.make_node("Add", ["a", "a"], ["b"])],
                                  [helper.make_tensor_value_info("a", TensorProto.INT64, [1, 4])],
                                  [helper.make_tensor_value_info("b", TensorProto.INT64, [1, 4])])
    symbolic = builders.model([helper.make_node("Relu", ["x"], ["y"])],
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, "n"])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, "n"])])
    custom = builders.model([helper.make_node("Foo", ["x"], ["h"], domain="test.custom"), helper.make_node("Relu", ["h"], ["y"])],
                            [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
                            [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])])
    custom.opset_import.append(helper.make_opsetid("test.custom", 1))
    custom.graph.value_info.append(helper.make_tensor_value_info("h", TensorProto.FLOAT, [1, 4]))
    with Runner(timeout=60) as runner:
        mlp = runner.run(_item("mlp", builders.mlp()))
        unknown = runner.run(_item("custom", custom))
        no_float = runner.run(_item("int", integer_only))
        unfixed = runner.run(_item("symbolic", symbolic))
    assert (mlp.status, mlp.opaque_leaves, mlp.opaque_ops, mlp.wrongful) == ("ok", 0, (), False)
    assert (unknown.status, unknown.opaque_leaves, unknown.opaque_ops) == ("ok", 1, ("test.custom:Foo",))
    assert (no_float.status, no_float.float_data, no_float.wrongful) == ("refused", False, False)
    assert no_float.error_type and no_float.message
    assert (unfixed.status, unfixed.error_type, unfixed.wrongful) == ("refused", "ShapeError", False)


def test_runner_stops_a_model_past_the_time_limit_and_goes_on():
    big = builders.mlp(sizes=(16,) * 601)  # 1,200 leaves: well over 5 ms to analyse
    with Runner(timeout=0.005) as runner:
        late = runner.run(_item("big", big))
        runner.timeout = 60
        after = runner.run(_item("mlp", builders.mlp()))
    assert late.status == "timeout" and late.seconds >= 0.005
    assert after.status == "ok"


def test_internal_error_names_the_frame_inside_onnxlayer():
    try:
        from onnxlayer.bounds import region_bits

        region_bits("u", 2, 3)  # a wrong type deep inside: a TypeError, not an OnnxLayerError
    except Exception as exc:  # noqa: BLE001
        where = onnx_corpus._where(exc)
    assert where.startswith("onnxlayer/bounds.py:")
