"""`onnxlayer audit` against a real MLflow Model Registry on SQLite (no server), started by
the test: three registered models × two versions logged with `mlflow.onnx`."""
from __future__ import annotations

import json
import math
from pathlib import Path

import mlflow
import mlflow.onnx
import pytest

from test_audit import counts_line, mlp, mlp_params, region_bits, run_cli

pytestmark = pytest.mark.audit

#: name → (v1, v2) as (hidden width, activation, weight seed)
VERSIONS = {
    "retrained": ((8, "Relu", 1), (8, "Relu", 2)),   # new weights, same architecture
    "widened": ((8, "Relu", 3), (16, "Relu", 4)),    # W and C grow
    "reactivated": ((8, "Relu", 5), (8, "Tanh", 6)),  # Relu → Tanh
}


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A SQLite-backed tracking and registry store with the models of VERSIONS registered."""
    root = tmp_path_factory.mktemp("mlflow")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    client = mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)
    experiment = client.create_experiment("audit", artifact_location=(root / "artifacts").as_uri())
    previous = mlflow.get_tracking_uri(), mlflow.get_registry_uri()
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    try:
        for name, versions in VERSIONS.items():
            for hidden, activation, seed in versions:
                with mlflow.start_run(experiment_id=experiment):
                    mlflow.onnx.log_model(mlp(hidden, activation, seed), name="model", registered_model_name=name,
                                          pip_requirements=["onnx"])  # no requirement inference: fast
        # an MLflow model of another flavour: listed, skipped (not an ONNX model)
        other = root / "other"
        other.mkdir()
        mlflow.models.Model(flavors={"python_function": {"loader_module": "elsewhere"}}).save(other / "MLmodel")
        with mlflow.start_run(experiment_id=experiment) as run:
            mlflow.log_artifacts(str(other), "model")
        client.create_registered_model("not-onnx")
        client.create_model_version("not-onnx", f"runs:/{run.info.run_id}/model", run.info.run_id)
    finally:
        mlflow.set_tracking_uri(previous[0])
        mlflow.set_registry_uri(previous[1])
    return uri


def test_registry_audit_finds_every_version_writes_tags_and_reports_changes(registry: str, tmp_path: Path) -> None:
    store = str(tmp_path / "audit.db")
    policy = tmp_path / "policy.toml"
    policy.write_text(f'version = 1\n[[limit]]\nname = "budget"\nmetric = "params"\nmax = {mlp_params(8)}\n'
                      'severity = "warning"\n')
    out = run_cli("mlflow-registry:", "--registry-uri", registry, "--store", store, "--write-back", "--jobs", "2",
                  "--policy", str(policy), "--format", "json", "--quiet")
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    entries = {(e["name"], e["version"]): e for e in report["entries"]}
    assert sorted(entries) == sorted([(n, v) for n in VERSIONS for v in ("1", "2")] + [("not-onnx", "1")])
    assert entries[("not-onnx", "1")]["status"] == "skipped"
    assert counts_line(out.stderr) == "onnxlayer audit: 0 cached, 6 analysed, 0 failed, 1 skipped"

    relu8, relu16 = region_bits(8, 2, 4), region_bits(16, 2, 4)
    for name in VERSIONS:
        first, second = entries[(name, "1")], entries[(name, "2")]
        assert first["status"] == second["status"] == "ok"
        assert first["location"] == f"models:/{name}/1"
        assert first["change"] is None
        assert second["change"]["previous"] == "1"
    assert entries[("retrained", "2")]["change"]["verdict"] == "no architectural change"
    assert entries[("retrained", "1")]["sha256"] != entries[("retrained", "2")]["sha256"]
    widened = entries[("widened", "2")]["change"]
    assert widened["verdict"] == "architectural change"
    assert widened["deltas"]["params"] == mlp_params(16) - mlp_params(8)
    assert widened["deltas"]["complexity_bits"] == pytest.approx(relu16 - relu8, rel=1e-9)
    assert widened["deltas"]["macs"] == 4 * 16 + 16 * 3 - (4 * 8 + 8 * 3)
    reactivated = entries[("reactivated", "2")]["change"]
    assert reactivated["architectural_change"]
    assert reactivated["added_op_types"] == ["Tanh"] and reactivated["removed_op_types"] == ["Relu"]
    # SPEC §2: Tanh has 13 pieces at the defaults; 8 units in 4 dimensions
    assert entries[("reactivated", "2")]["summary"]["complexity_bits"] == pytest.approx(region_bits(8, 13, 4))

    client = mlflow.MlflowClient(tracking_uri=registry, registry_uri=registry)
    for name, versions in VERSIONS.items():
        for number, (hidden, activation, _) in zip(("1", "2"), versions):
            tags = client.get_model_version(name, number).tags
            pieces = 2 if activation == "Relu" else 13
            assert float(tags["onnxlayer.complexity_bits"]) == pytest.approx(region_bits(hidden, pieces, 4), rel=1e-12)
            assert float(tags["onnxlayer.intrinsic_power"]) == pytest.approx(math.log2(3 / 4), rel=1e-12)
            assert int(tags["onnxlayer.params"]) == mlp_params(hidden)
            assert int(tags["onnxlayer.macs"]) == 4 * hidden + hidden * 3
            assert tags["onnxlayer.opaque_leaves"] == "0"
            assert tags["onnxlayer.version"] == report["tool"]["version"]
            assert tags["onnxlayer.check"] == ("warn" if hidden > 8 else "pass")  # a warning rule: exit 0
    assert not any(k.startswith("onnxlayer.") for k in client.get_model_version("not-onnx", "1").tags)

    # a second run analyses nothing (and downloads nothing: the versions' fingerprints match)
    again = run_cli("mlflow-registry:", "--registry-uri", registry, "--store", store, "--format", "json", "--quiet")
    assert again.returncode == 0, again.stderr
    assert counts_line(again.stderr) == "onnxlayer audit: 6 cached, 0 analysed, 0 failed, 1 skipped"
    assert [e["change"] for e in json.loads(again.stdout)["entries"]] == [e["change"] for e in report["entries"]]


def test_one_version_is_compared_with_the_stored_previous_one(registry: str, tmp_path: Path) -> None:
    store = str(tmp_path / "audit.db")
    first = run_cli("models:/widened/1", "--registry-uri", registry, "--store", store, "--format", "json", "--quiet")
    assert first.returncode == 0, first.stderr
    out = run_cli("models:/widened/2", "--registry-uri", registry, "--store", store, "--format", "json", "--quiet")
    assert out.returncode == 0, out.stderr
    (entry,) = json.loads(out.stdout)["entries"]
    assert entry["change"]["previous"] == "1"
    assert entry["change"]["deltas"]["params"] == mlp_params(16) - mlp_params(8)


def test_unknown_model_is_a_bad_argument(registry: str, tmp_path: Path) -> None:
    out = run_cli("models:/no-such-model", "--registry-uri", registry, "--store", str(tmp_path / "s.db"))
    assert out.returncode == 2
    assert out.stderr.startswith("onnxlayer: error: models:/no-such-model:")
    assert len(out.stderr.strip().splitlines()) == 1
