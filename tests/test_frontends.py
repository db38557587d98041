"""Entry points for framework models: analyze(obj), `onnxlayer analyze FILE`, `onnxlayer convert`."""
from __future__ import annotations

import json
import os
import pickle

import pytest

import onnxlayer
from onnxlayer.cli import main

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
MLP_BITS = 14.697456308462154  # SPEC §5 example 1


def test_pickles_are_refused_with_a_way_out(tmp_path, capsys):
    path = tmp_path / "weights.pth"
    path.write_bytes(pickle.dumps({"w": [1, 2, 3]}))
    assert main(["analyze", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "pickle" in err and "torch.export" in err and "--trust-pickle" in err
    with pytest.raises(onnxlayer.ModelLoadError):
        onnxlayer.analyze(path)


def test_missing_framework_names_the_extra(tmp_path, capsys, monkeypatch):
    import onnxlayer.converters as converters

    path = tmp_path / "m.keras"
    import zipfile

    with zipfile.ZipFile(path, "w") as z:
        z.writestr("config.json", "{}")
        z.writestr("model.weights.h5", b"")

    real = converters.importlib.import_module

    def no_tensorflow(name, *a, **k):
        if name.split(".")[0] in ("tensorflow", "tf2onnx", "keras"):
            raise ModuleNotFoundError(f"No module named {name!r}")
        return real(name, *a, **k)

    monkeypatch.setattr(converters.importlib, "import_module", no_tensorflow)
    assert main(["analyze", str(path)]) == 2
    err = capsys.readouterr().err
    assert 'onnxlayer[tensorflow]' in err and err.count("\n") == 1


def test_saved_model_dir_without_pb_is_a_clear_error(tmp_path, capsys):
    assert main(["analyze", str(tmp_path)]) == 2
    assert "saved_model.pb" in capsys.readouterr().err


@pytest.mark.tensorflow
def test_keras_object_file_and_convert(tmp_path, capsys):
    keras = pytest.importorskip("keras")
    x = keras.Input((4,))
    model = keras.Model(x, keras.layers.Dense(3)(keras.layers.Dense(8, activation="relu")(keras.layers.Dense(8, activation="relu")(x))))
    assert onnxlayer.analyze(model).summary.complexity_bits == pytest.approx(MLP_BITS, rel=1e-12)
    path = tmp_path / "mlp.keras"
    model.save(path)
    assert main(["analyze", str(path), "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["summary"]["complexity_bits"] == pytest.approx(MLP_BITS, rel=1e-12)
    assert data["model"]["path"] == str(path) and len(data["model"]["sha256"]) == 64
    out = tmp_path / "mlp.onnx"
    assert main(["convert", str(path), "-o", str(out)]) == 0
    assert onnxlayer.analyze(out).summary.complexity_bits == pytest.approx(MLP_BITS, rel=1e-12)


@pytest.mark.torch
def test_torch_module_exported_program_and_pt2(tmp_path, capsys):
    torch = pytest.importorskip("torch")
    nn = torch.nn
    module = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 3))
    example = torch.randn(1, 4)
    assert onnxlayer.analyze(module, example_inputs=example).summary.complexity_bits == pytest.approx(MLP_BITS, rel=1e-12)
    legacy = onnxlayer.analyze(module, example_inputs=example, exporter="legacy").summary
    assert legacy.complexity_bits == pytest.approx(MLP_BITS, rel=1e-12)
    program = torch.export.export(module.eval(), (example,))
    assert onnxlayer.analyze(program).summary.complexity_bits == pytest.approx(MLP_BITS, rel=1e-12)
    path = tmp_path / "mlp.pt2"
    torch.export.save(program, path)
    assert main(["analyze", str(path), "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["summary"]["complexity_bits"] == pytest.approx(MLP_BITS, rel=1e-12)
