"""Bad input never shows a traceback: one `onnxlayer: error:` line, exit 2, naming the culprit.

The files live in tests/corpus/ (regenerate them with tests/corpus/make_corpus.py). Each
case runs the CLI in-process and the Python API; a few also run `python -m onnxlayer` in a
subprocess, as a user would.
"""
from __future__ import annotations

import json
import math
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

import onnxlayer
from onnxlayer.cli import main
from onnxlayer.cli.shared import parse_input_shape

CORPUS = Path(__file__).resolve().parent / "corpus"
sys.path.insert(0, str(CORPUS))
import make_corpus  # noqa: E402

HUGE = make_corpus.HUGE
LARGE = make_corpus.LARGE


@dataclass(frozen=True)
class Case:
    id: str
    file: str
    exit: int  # 0 fine (maybe with warnings), 1 --strict failure, 2 bad input
    names: tuple[str, ...]  # what the message must name (error line, or a warning on exit 0)
    api_error: type | None = None  # the OnnxLayerError subclass the API raises
    shapes: tuple[str, ...] = ()  # --input-shape values
    strict: bool = False


CASES = [
    Case("missing file", "missing.onnx", 2, ("missing.onnx", "no such file"), onnxlayer.ModelLoadError),
    Case("directory", "a_directory.onnx", 2, ("a_directory.onnx", "directory"), onnxlayer.ModelLoadError),
    Case("empty file", "empty.onnx", 2, ("empty.onnx", "empty"), onnxlayer.ModelLoadError),
    Case("random bytes", "random_bytes.onnx", 2, ("random_bytes.onnx", "not an ONNX model"), onnxlayer.ModelLoadError),
    Case("truncated protobuf", "truncated.onnx", 2, ("truncated.onnx", "not an ONNX model"), onnxlayer.ModelLoadError),
    Case("TensorProto", "tensor_proto.onnx", 2, ("tensor_proto.onnx", "not an ONNX model"), onnxlayer.ModelLoadError),
    Case("GraphProto", "graph_proto.onnx", 2, ("graph_proto.onnx", "not an ONNX model"), onnxlayer.ModelLoadError),
    Case("no graph", "no_graph.onnx", 2, ("no_graph.onnx", "no graph"), onnxlayer.ModelLoadError),
    Case("dangling tensor", "dangling.onnx", 2, ("'ghost'", "/y/Add"), onnxlayer.GraphError),
    Case("cycle", "cycle.onnx", 2, ("cycle", "/s/Add", "/a/Relu", "/b/Tanh"), onnxlayer.GraphError),
    Case("two producers", "duplicate_producer.onnx", 2, ("'h'", "produced twice", "/h/Sigmoid"), onnxlayer.GraphError),
    Case("orphan output", "orphan_output.onnx", 2, ("'nowhere'", "not produced"), onnxlayer.GraphError),
    Case("symbolic dim", "symbolic_dim.onnx", 2, ("'x'", "dim 1", "features", "--input-shape"), onnxlayer.ShapeError),
    Case("zero-sized dim", "zero_dim.onnx", 2, ("'x'", "dim 1", "size 0"), onnxlayer.ShapeError),
    Case("unknown op without shape", "unknown_op_no_shape.onnx", 2, ("'b'", "com.example::FrobnicateWarp", "value_info"),
         onnxlayer.ShapeError),
    # --input-shape garbage on the symbolic model
    Case("negative dim", "symbolic_dim.onnx", 2, ("x", "positive", "-3"), onnxlayer.SettingsError, ("x=1x-3",)),
    Case("zero dim given", "symbolic_dim.onnx", 2, ("x", "positive", "0"), onnxlayer.SettingsError, ("x=1x0",)),
    Case("not a number", "symbolic_dim.onnx", 2, ("x=1xabc", "integers"), onnxlayer.SettingsError, ("x=1xabc",)),
    Case("float dim", "symbolic_dim.onnx", 2, ("x=1x4.5", "integers"), onnxlayer.SettingsError, ("x=1x4.5",)),
    Case("no dims", "symbolic_dim.onnx", 2, ("'x='", "NAME=D1xD2"), onnxlayer.SettingsError, ("x=",)),
    Case("no name", "symbolic_dim.onnx", 2, ("'=1x4'", "NAME=D1xD2"), onnxlayer.SettingsError, ("=1x4",)),
    Case("wrong input", "symbolic_dim.onnx", 2, ("'y'", "not a graph input", "inputs are: x"), onnxlayer.SettingsError,
         ("y=1x4",)),
    Case("wrong rank", "symbolic_dim.onnx", 2, ("x", "rank 3", "rank 2"), onnxlayer.SettingsError, ("x=1x4x4",)),
    Case("beyond int64", "symbolic_dim.onnx", 2, ("x", "99999999999999999999999", "int64"), onnxlayer.SettingsError,
         ("x=1x99999999999999999999999",)),
    # fine, or fine with a warning
    Case("symbolic dim given", "symbolic_dim.onnx", 0, (), None, ("x=1x4",)),
    Case("huge dim given", "symbolic_dim.onnx", 0, (), None, (f"x=1x{HUGE}",)),
    Case("huge dims", "huge_dims.onnx", 2, ("'x'", str(HUGE * HUGE), "int64"), onnxlayer.ShapeError),
    Case("huge dims given", "symbolic_dim.onnx", 2, ("x", str(HUGE * HUGE), "int64"), onnxlayer.SettingsError,
         (f"x={HUGE}x{HUGE}",)),
    Case("large dims", "large_dims.onnx", 0, ()),
    Case("huge conv", "huge_conv.onnx", 0, ()),
    Case("unknown op", "unknown_op.onnx", 0, ("com.example::FrobnicateWarp",)),
    Case("unknown op strict", "unknown_op.onnx", 1, ("--strict", "com.example::FrobnicateWarp"), onnxlayer.OpaqueLeafError,
         strict=True),
    Case("missing external weights", "external_missing.onnx", 0, ()),
    Case("odd extension", "valid_cnn.txt", 0, ()),
]
BY_ID = {c.id: c for c in CASES}


def argv(case: Case) -> list[str]:
    args = ["analyze", str(CORPUS / case.file), "--format", "json"]
    args += [f"--input-shape={s}" for s in case.shapes]
    return args + (["--strict"] if case.strict else [])


def no_nan(text: str) -> dict:
    def refuse(constant: str):
        raise AssertionError(f"non-finite number {constant} in the JSON")

    return json.loads(text, parse_constant=refuse)


def check_streams(case: Case, code: int, out: str, err: str) -> dict | None:
    """Assert the CLI contract on exit code and streams; return the JSON report on success."""
    assert "Traceback" not in out + err
    assert code == case.exit, err
    if case.exit == 0:
        # the JSON report is on stdout; stderr repeats only the warnings of ops without a rule (issue 9)
        assert all(line.startswith("onnxlayer: warning: ") and "opaque" in line for line in err.splitlines()), err
        report = no_nan(out)
        warnings = " ".join(report["warnings"])
        assert all(name in warnings and name in err for name in case.names), warnings
        return report
    lines = err.splitlines()
    assert len(lines) == 1, err
    # --strict failures (exit 1) are reported as "onnxlayer: --strict: ...", not as errors
    assert lines[0].startswith("onnxlayer: error: " if case.exit == 2 else "onnxlayer: ")
    assert "internal error" not in lines[0]
    for name in case.names:
        assert name in lines[0], f"{name!r} not named in: {lines[0]}"
    assert out == ""
    return None


def test_corpus_is_generated_by_the_script():
    made = set(make_corpus.files())
    on_disk = {str(p.relative_to(CORPUS)) for p in CORPUS.rglob("*")
               if p.is_file() and p.suffix not in (".py", ".pyc") and "__pycache__" not in p.parts}
    assert made == on_disk
    assert all((CORPUS / name).stat().st_size < 20_000 for name in made)
    assert not (CORPUS / "missing.onnx").exists()


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_cli(case, capsys):
    code = main(argv(case))
    out, err = capsys.readouterr()
    check_streams(case, code, out, err)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_api(case):
    path = CORPUS / case.file
    if case.api_error is None:
        result = onnxlayer.analyze(path, dict(parse_input_shape(s) for s in case.shapes), strict=case.strict)
        no_nan(result.to_json())
        return
    with pytest.raises(case.api_error) as info:
        onnxlayer.analyze(path, dict(parse_input_shape(s) for s in case.shapes), strict=case.strict)
    assert isinstance(info.value, onnxlayer.OnnxLayerError)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("case_id", ["random bytes", "dangling tensor", "wrong input", "unknown op strict", "large dims"])
def test_subprocess(case_id):
    case = BY_ID[case_id]
    proc = subprocess.run([sys.executable, "-m", "onnxlayer", *argv(case)], capture_output=True, text=True, timeout=120)
    check_streams(case, proc.returncode, proc.stdout, proc.stderr)


# ------------------------------------------------------------------ numbers that must stay exact


def test_large_dims_stay_exact_integers():
    result = onnxlayer.analyze(CORPUS / "large_dims.onnx")
    s = result.summary
    size = 3 * LARGE  # 3·(2**61 − 1): 63 significant bits, no float holds it exactly
    assert int(float(size)) != size  # the point of the file
    assert s.input_dim == size and isinstance(s.input_dim, int)
    assert s.output_dim == 3  # ReduceMax over the last axis
    relu = result.leaves[0]
    assert relu.groups[0].units == size and relu.complexity_bits == float(size)  # d ≥ u: u·log2 2 bits
    assert s.intrinsic_power == pytest.approx(math.log2(3 / size), rel=1e-15)


def test_huge_conv_counts_exactly():
    result = onnxlayer.analyze(CORPUS / "huge_conv.onnx")
    width = HUGE - 3  # input HUGE − 1, kernel 3, no padding
    assert result.summary.macs == 2 * width * 2 * 3  # C_out · W_out · C_in · k
    assert result.summary.input_dim == 2 * (HUGE - 1)
    assert result.summary.params == 12


def test_missing_external_weights_are_not_needed():
    result = onnxlayer.analyze(CORPUS / "external_missing.onnx")
    assert result.summary.params == 4 * 8 + 8 + 8 * 8 + 8 + 8 * 3 + 3  # from dims alone


def test_unknown_op_warns_once_and_strict_refuses():
    result = onnxlayer.analyze(CORPUS / "unknown_op.onnx")
    assert [w for w in result.warnings if "FrobnicateWarp" in w] and result.summary.opaque_leaves == 1
    with pytest.raises(onnxlayer.OpaqueLeafError, match="FrobnicateWarp"):
        onnxlayer.analyze(CORPUS / "unknown_op.onnx", strict=True)


@pytest.mark.parametrize("shapes", [{"x": None}, {"x": 5}, {"x": (1, 2.5)}, {"x": (1, "4")}, {"x": (1, True)}])
def test_api_input_shapes_of_the_wrong_kind(shapes):
    with pytest.raises(onnxlayer.SettingsError, match="x"):
        onnxlayer.analyze(CORPUS / "symbolic_dim.onnx", shapes)


def test_api_source_of_the_wrong_kind():
    with pytest.raises(onnxlayer.ModelLoadError, match="int"):
        onnxlayer.analyze(42)
