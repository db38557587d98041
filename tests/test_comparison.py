"""`onnxlayer.compare` and its record: one row of global metrics per model, failures reported per row."""
from __future__ import annotations

import json

import onnx
import pytest

import builders
import onnxlayer
from onnxlayer.api import compare
from onnxlayer.comparison import COLUMNS, CompareRow, Comparison, column
from onnxlayer.errors import SettingsError
from onnxlayer.models_access import zoo_input_shapes, zoo_module


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("cmp")
    paths = {}
    for name, m in [("mlp", builders.mlp()), ("cnn", builders.cnn()), ("res", builders.residual())]:
        paths[name] = str(d / f"{name}.onnx")
        onnx.save(m, paths[name])
    bad = d / "bad.onnx"
    bad.write_bytes(b"not a model")
    paths["bad"] = str(bad)
    return paths


def test_rows_equal_analyze(files):
    cmp = compare([files["mlp"], files["cnn"], files["res"]])
    assert [r.model for r in cmp.rows] == [files["mlp"], files["cnn"], files["res"]]
    for row, path in zip(cmp.rows, (files["mlp"], files["cnn"], files["res"])):
        assert row.ok
        assert row.summary == onnxlayer.analyze(path).summary
    assert cmp.rows[0].summary.complexity_bits == pytest.approx(14.697456, abs=1e-6)  # SPEC §5 example 1
    assert cmp.rows[1].summary.input_dim == 64
    assert cmp.rows[2].summary.intrinsic_power == 0.0


def test_a_failing_model_does_not_stop_the_others(files):
    cmp = compare([files["bad"], files["mlp"], "missing.onnx", b"\x00garbage"])
    assert [r.ok for r in cmp.rows] == [False, True, False, False]
    assert "not an ONNX model" in cmp.rows[0].error
    assert "no such file" in cmp.rows[2].error
    assert len(cmp.failed) == 3
    data = cmp.to_dict()
    assert data["rows"][0]["ok"] is False and data["rows"][0]["complexity_bits"] is None


def test_sorting_puts_failures_last(files):
    cmp = compare([files["bad"], files["mlp"], files["cnn"], files["res"]])
    by_c = cmp.sorted("C", descending=True)
    assert [r.model for r in by_c.rows] == [files["cnn"], files["res"], files["mlp"], files["bad"]]
    asc = cmp.sorted("complexity_bits")
    assert [r.model for r in asc.rows][:3] == [files["mlp"], files["res"], files["cnn"]]
    assert asc.rows[-1].model == files["bad"]
    assert [r.model for r in cmp.sorted("model").rows][-1] == files["bad"]
    with pytest.raises(SettingsError, match="unknown column"):
        cmp.sorted("nope")


def test_column_aliases():
    assert column("P̄").key == "intrinsic_power_mean"
    assert column("pbar").key == "intrinsic_power_mean"
    assert column("W").key == "params"
    assert column("D0").key == "input_dim"
    assert {c.key for c in COLUMNS} >= {"complexity_bits", "complexity_log10_regions", "intrinsic_power",
                                        "intrinsic_power_mean", "input_dim", "output_dim", "depth", "units",
                                        "params", "macs", "bottleneck_dim", "bottleneck_leaf", "vc_bound"}


def test_input_shapes_apply_only_where_the_input_exists(files):
    proto = builders.mlp()
    proto.graph.input[0].name = "features"
    proto.graph.node[0].input[0] = "features"
    proto.graph.input[0].type.tensor_type.shape.dim[1].dim_param = "n"  # symbolic feature dim
    cmp = compare([("sym", proto), ("cnn", files["cnn"])], {"features": (1, 4)})
    assert all(r.ok for r in cmp.rows), [r.error for r in cmp.rows]  # the CNN has no input "features"
    assert cmp.rows[0].summary.input_dim == 4
    missing = compare([("sym", proto)])
    assert not missing.rows[0].ok and "features" in missing.rows[0].error


def test_unused_input_shape_is_a_warning(files):
    cmp = compare([files["mlp"]], {"tokens": (1, 8)})
    assert cmp.rows[0].ok and "tokens" in cmp.warnings[0]


def test_zoo_defaults():
    assert zoo_input_shapes("bert_base") == {"input_ids": (1, 128), "token_type_ids": (1, 128)}
    assert zoo_input_shapes("resnet18") == {}
    assert zoo_input_shapes("bert_base", {"input_ids": (1, 16)})["input_ids"] == (1, 16)  # the user's win


def test_zoo_models_compare():
    cmp = compare(["zoo:mlp", "zoo:bert_base"])
    assert all(r.ok for r in cmp.rows), [r.error for r in cmp.rows]
    assert cmp.rows[1].summary.input_dim == 2 * 128 * 768


def test_row_is_typed():
    row = CompareRow("m", None, "boom")
    assert not row.ok and row.to_dict()["error"] == "boom"
    data = json.loads(Comparison((row,), {"tolerance": 0.01, "domain": 8.0}).to_json())
    assert data["schema_version"] == 1 and data["rows"][0]["complexity_bits"] is None


def test_json_rows_carry_every_column(files):
    data = json.loads(compare([("mlp", files["mlp"]), ("bad", files["bad"])]).to_json())
    assert data["settings"] == {"tolerance": 0.01, "domain": 8.0}
    good, bad = data["rows"]
    assert {c.key for c in COLUMNS[1:]} <= set(good) and good["ok"] and bad["ok"] is False
    assert good["input_dim"] == 4 and good["macs"] == 4 * 8 + 8 * 8 + 8 * 3  # SPEC §5 example 1
    assert good["bottleneck_dim"] == 3 and good["opaque_leaves"] == 0


@pytest.mark.slow
def test_whole_zoo_runs_in_under_a_minute():
    import time

    start = time.perf_counter()
    cmp = compare(["zoo:" + n for n in zoo_module().names()])
    assert time.perf_counter() - start < 60
    assert not cmp.failed, [(r.model, r.error) for r in cmp.failed]
